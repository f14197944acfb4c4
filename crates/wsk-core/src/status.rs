//! `NTSTATUS` values and the single translation from host (Linux) errors.
//!
//! Every WSK routine reports its outcome as an `NTSTATUS`, so the provider needs the
//! exact Windows values and exactly one place that decides which status a host socket
//! error becomes; [`NtStatus::from_errno`] and [`NtStatus::from_io_error`] are that place.

use std::fmt;
use std::io;

/// A Windows `NTSTATUS` value (a signed 32-bit integer with the Windows bit layout).
///
/// The two top bits are the severity: `00` success, `01` informational, `10` warning,
/// `11` error. Success and informational values are non-negative, so `NT_SUCCESS` is
/// simply `value >= 0` (see [`NtStatus::is_success`]).
///
/// `Debug` and `Display` both print the Windows name with the hex value, e.g.
/// `STATUS_CANCELLED (0xC0000120)`; values without a known name print as
/// `NTSTATUS 0x12345678`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct NtStatus(pub i32);

/// Declares the named constants and the one `(status, name)` table that backs
/// [`NtStatus::name`], so the two can never drift apart.
macro_rules! statuses {
    ($($(#[$doc:meta])* $name:ident = $value:expr;)*) => {
        impl NtStatus {
            $(
                $(#[$doc])*
                pub const $name: NtStatus = NtStatus::from_u32($value);
            )*
        }

        /// Every named status with its Windows name (`STATUS_` prefix included).
        static NAMES: &[(NtStatus, &str)] = &[
            $((NtStatus::$name, concat!("STATUS_", stringify!($name))),)*
        ];
    };
}

statuses! {
    /// `STATUS_SUCCESS`: the operation completed successfully.
    SUCCESS = 0x0000_0000;
    /// `STATUS_PENDING`: the operation will complete later (the IRP is pending).
    PENDING = 0x0000_0103;
    /// `STATUS_TIMEOUT`: a wait timed out (a success-severity value).
    TIMEOUT = 0x0000_0102;
    /// `STATUS_ALREADY_COMPLETE`: the requested work had already been done.
    ALREADY_COMPLETE = 0x0000_00FF;
    /// `STATUS_EVENT_PENDING`: informational; an event callback is still in progress.
    EVENT_PENDING = 0x4000_0013;
    /// `STATUS_BUFFER_OVERFLOW`: warning; the data did not fit and was truncated.
    BUFFER_OVERFLOW = 0x8000_0005;
    /// `STATUS_UNSUCCESSFUL`: unspecified failure.
    UNSUCCESSFUL = 0xC000_0001;
    /// `STATUS_NOT_IMPLEMENTED`: the requested operation is not implemented.
    NOT_IMPLEMENTED = 0xC000_0002;
    /// `STATUS_INVALID_HANDLE`: an invalid handle was specified.
    INVALID_HANDLE = 0xC000_0008;
    /// `STATUS_INVALID_PARAMETER`: an invalid parameter was passed.
    INVALID_PARAMETER = 0xC000_000D;
    /// `STATUS_INVALID_DEVICE_REQUEST`: the request is not valid for this object.
    INVALID_DEVICE_REQUEST = 0xC000_0010;
    /// `STATUS_MORE_PROCESSING_REQUIRED`: a completion routine keeps ownership of the IRP.
    MORE_PROCESSING_REQUIRED = 0xC000_0016;
    /// `STATUS_NO_MEMORY`: not enough virtual memory.
    NO_MEMORY = 0xC000_0017;
    /// `STATUS_ACCESS_DENIED`: the caller lacks the required access.
    ACCESS_DENIED = 0xC000_0022;
    /// `STATUS_BUFFER_TOO_SMALL`: the buffer is too small to hold the result.
    BUFFER_TOO_SMALL = 0xC000_0023;
    /// `STATUS_OBJECT_TYPE_MISMATCH`: the object is not of the expected type.
    OBJECT_TYPE_MISMATCH = 0xC000_0024;
    /// `STATUS_OBJECT_NAME_COLLISION`: an object of that name already exists.
    OBJECT_NAME_COLLISION = 0xC000_0035;
    /// `STATUS_INSUFFICIENT_RESOURCES`: not enough system resources.
    INSUFFICIENT_RESOURCES = 0xC000_009A;
    /// `STATUS_DEVICE_NOT_READY`: the provider is not ready.
    DEVICE_NOT_READY = 0xC000_00A3;
    /// `STATUS_PIPE_DISCONNECTED`: the connection was shut down for this direction.
    PIPE_DISCONNECTED = 0xC000_00B0;
    /// `STATUS_IO_TIMEOUT`: the operation timed out.
    IO_TIMEOUT = 0xC000_00B5;
    /// `STATUS_FILE_FORCED_CLOSED`: the socket was closed while the request was outstanding.
    FILE_FORCED_CLOSED = 0xC000_00B6;
    /// `STATUS_NOT_SUPPORTED`: the request is not supported.
    NOT_SUPPORTED = 0xC000_00BB;
    /// `STATUS_BAD_NETWORK_PATH`: the network path was not found.
    BAD_NETWORK_PATH = 0xC000_00BE;
    /// `STATUS_NETWORK_BUSY`: the network is busy or down.
    NETWORK_BUSY = 0xC000_00BF;
    /// `STATUS_REQUEST_NOT_ACCEPTED`: the request (e.g. an accepted connection) was refused.
    REQUEST_NOT_ACCEPTED = 0xC000_00D0;
    /// `STATUS_CANT_WAIT`: the operation would block.
    CANT_WAIT = 0xC000_00D8;
    /// `STATUS_INTERNAL_ERROR`: an internal error occurred.
    INTERNAL_ERROR = 0xC000_00E5;
    /// `STATUS_TOO_MANY_OPENED_FILES`: too many open handles.
    TOO_MANY_OPENED_FILES = 0xC000_011F;
    /// `STATUS_CANCELLED`: the request was cancelled.
    CANCELLED = 0xC000_0120;
    /// `STATUS_LOCAL_DISCONNECT`: the connection was disconnected locally.
    LOCAL_DISCONNECT = 0xC000_013B;
    /// `STATUS_REMOTE_DISCONNECT`: the connection was disconnected by the peer.
    REMOTE_DISCONNECT = 0xC000_013C;
    /// `STATUS_INVALID_ADDRESS`: the address is invalid.
    INVALID_ADDRESS = 0xC000_0141;
    /// `STATUS_INVALID_DEVICE_STATE`: the socket is not in a state that allows the request.
    INVALID_DEVICE_STATE = 0xC000_0184;
    /// `STATUS_INVALID_BUFFER_SIZE`: the buffer size is invalid.
    INVALID_BUFFER_SIZE = 0xC000_0206;
    /// `STATUS_INVALID_ADDRESS_COMPONENT`: a component of the address is invalid.
    INVALID_ADDRESS_COMPONENT = 0xC000_0207;
    /// `STATUS_ADDRESS_ALREADY_EXISTS`: the address already exists.
    ADDRESS_ALREADY_EXISTS = 0xC000_020A;
    /// `STATUS_ADDRESS_CLOSED`: the address handle was closed.
    ADDRESS_CLOSED = 0xC000_020B;
    /// `STATUS_CONNECTION_DISCONNECTED`: the connection is not (or no longer) connected.
    CONNECTION_DISCONNECTED = 0xC000_020C;
    /// `STATUS_CONNECTION_RESET`: the connection was reset by the peer.
    CONNECTION_RESET = 0xC000_020D;
    /// `STATUS_TRANSACTION_ABORTED`: the transport aborted a transaction.
    TRANSACTION_ABORTED = 0xC000_020F;
    /// `STATUS_DATA_NOT_ACCEPTED`: the client did not accept indicated data.
    DATA_NOT_ACCEPTED = 0xC000_021B;
    /// `STATUS_RETRY`: the operation should be retried.
    RETRY = 0xC000_022D;
    /// `STATUS_GRACEFUL_DISCONNECT`: the connection was gracefully closed.
    GRACEFUL_DISCONNECT = 0xC000_0237;
    /// `STATUS_CONNECTION_REFUSED`: the remote system refused the connection.
    CONNECTION_REFUSED = 0xC000_0236;
    /// `STATUS_ADDRESS_ALREADY_ASSOCIATED`: the address is already in use.
    ADDRESS_ALREADY_ASSOCIATED = 0xC000_0238;
    /// `STATUS_CONNECTION_INVALID`: the operation is invalid on this connection.
    CONNECTION_INVALID = 0xC000_023A;
    /// `STATUS_CONNECTION_ACTIVE`: the socket is already connected.
    CONNECTION_ACTIVE = 0xC000_023B;
    /// `STATUS_NETWORK_UNREACHABLE`: the network is unreachable.
    NETWORK_UNREACHABLE = 0xC000_023C;
    /// `STATUS_HOST_UNREACHABLE`: the host is unreachable.
    HOST_UNREACHABLE = 0xC000_023D;
    /// `STATUS_PROTOCOL_UNREACHABLE`: the protocol is unreachable on the remote system.
    PROTOCOL_UNREACHABLE = 0xC000_023E;
    /// `STATUS_PORT_UNREACHABLE`: no listener on the remote port.
    PORT_UNREACHABLE = 0xC000_023F;
    /// `STATUS_CONNECTION_ABORTED`: the connection was aborted locally.
    CONNECTION_ABORTED = 0xC000_0241;
    /// `STATUS_NOT_FOUND`: the object was not found.
    NOT_FOUND = 0xC000_0225;
    /// `STATUS_NO_MATCH`: no match (e.g. a host name could not be resolved).
    NO_MATCH = 0xC000_0272;
    /// `STATUS_NOINTERFACE`: the requested interface is not supported.
    NOINTERFACE = 0xC000_02B9;
    /// `STATUS_ACCESS_VIOLATION`: invalid memory access.
    ACCESS_VIOLATION = 0xC000_0005;
}

/// Linux errno values (the asm-generic numbering used by x86-64, aarch64, riscv64, ...),
/// for the places that tell host errors apart. Defined here rather than taken from libc
/// so that `wsk-core` stays dependency-free. Each constant is the errno of its name.
#[allow(missing_docs)]
pub mod errno {
    pub const EPERM: i32 = 1;
    pub const EBADF: i32 = 9;
    /// Also `EWOULDBLOCK`, which has the same value on Linux.
    pub const EAGAIN: i32 = 11;
    pub const ENOMEM: i32 = 12;
    pub const EACCES: i32 = 13;
    pub const EFAULT: i32 = 14;
    pub const EINVAL: i32 = 22;
    pub const ENFILE: i32 = 23;
    pub const EMFILE: i32 = 24;
    pub const EPIPE: i32 = 32;
    pub const EPROTO: i32 = 71;
    pub const ENOTSOCK: i32 = 88;
    pub const EMSGSIZE: i32 = 90;
    pub const EPROTOTYPE: i32 = 91;
    pub const ENOPROTOOPT: i32 = 92;
    pub const EPROTONOSUPPORT: i32 = 93;
    pub const ESOCKTNOSUPPORT: i32 = 94;
    pub const EOPNOTSUPP: i32 = 95;
    pub const EPFNOSUPPORT: i32 = 96;
    pub const EAFNOSUPPORT: i32 = 97;
    pub const EADDRINUSE: i32 = 98;
    pub const EADDRNOTAVAIL: i32 = 99;
    pub const ENETDOWN: i32 = 100;
    pub const ENETUNREACH: i32 = 101;
    pub const ECONNABORTED: i32 = 103;
    pub const ECONNRESET: i32 = 104;
    pub const ENOBUFS: i32 = 105;
    pub const EISCONN: i32 = 106;
    pub const ENOTCONN: i32 = 107;
    pub const ETIMEDOUT: i32 = 110;
    pub const ECONNREFUSED: i32 = 111;
    pub const EHOSTDOWN: i32 = 112;
    pub const EHOSTUNREACH: i32 = 113;
    pub const EALREADY: i32 = 114;
    pub const EINPROGRESS: i32 = 115;
    pub const ECANCELED: i32 = 125;
}
use errno::*;

/// THE host-error table: Linux errno → `NTSTATUS`, with the errno's name.
///
/// Mostly follows Wine's Winsock-error → `NTSTATUS` mapping, applied to the Linux errno
/// that corresponds to each Winsock error. Deliberate choices:
/// - `EPIPE` is what Linux reports where Winsock reports `WSAESHUTDOWN`, so it maps to
///   `STATUS_PIPE_DISCONNECTED` like Wine's `WSAESHUTDOWN`.
/// - `EADDRNOTAVAIL` maps to `STATUS_INVALID_ADDRESS_COMPONENT`. Wine maps
///   `WSAEADDRNOTAVAIL` to `STATUS_INVALID_PARAMETER`; we chose the more specific
///   status because it tells the client that the address itself is at fault.
/// - `EOPNOTSUPP` maps to `STATUS_NOT_IMPLEMENTED` (what Windows is observed to return).
/// - Errnos Wine does not list (`EACCES`, `ENOMEM`, `EMFILE`, `EISCONN`, `ECANCELED`,
///   `EBADF`, ...) map to the obvious Windows equivalents.
static ERRNO_TABLE: &[(i32, NtStatus, &str)] = &[
    (ECONNREFUSED, NtStatus::CONNECTION_REFUSED, "ECONNREFUSED"),
    (ECONNRESET, NtStatus::CONNECTION_RESET, "ECONNRESET"),
    (ECONNABORTED, NtStatus::CONNECTION_ABORTED, "ECONNABORTED"),
    (EPIPE, NtStatus::PIPE_DISCONNECTED, "EPIPE"),
    (ENOTCONN, NtStatus::CONNECTION_DISCONNECTED, "ENOTCONN"),
    (EADDRINUSE, NtStatus::ADDRESS_ALREADY_ASSOCIATED, "EADDRINUSE"),
    (EADDRNOTAVAIL, NtStatus::INVALID_ADDRESS_COMPONENT, "EADDRNOTAVAIL"),
    (ENETUNREACH, NtStatus::NETWORK_UNREACHABLE, "ENETUNREACH"),
    (EHOSTUNREACH, NtStatus::HOST_UNREACHABLE, "EHOSTUNREACH"),
    (ENETDOWN, NtStatus::NETWORK_BUSY, "ENETDOWN"),
    (ETIMEDOUT, NtStatus::IO_TIMEOUT, "ETIMEDOUT"),
    (EINVAL, NtStatus::INVALID_PARAMETER, "EINVAL"),
    (EAGAIN, NtStatus::CANT_WAIT, "EAGAIN"),
    (EINPROGRESS, NtStatus::PENDING, "EINPROGRESS"),
    (EALREADY, NtStatus::NETWORK_BUSY, "EALREADY"),
    (ENOTSOCK, NtStatus::OBJECT_TYPE_MISMATCH, "ENOTSOCK"),
    (EMSGSIZE, NtStatus::BUFFER_OVERFLOW, "EMSGSIZE"),
    (EPROTONOSUPPORT, NtStatus::NOT_SUPPORTED, "EPROTONOSUPPORT"),
    (ESOCKTNOSUPPORT, NtStatus::NOT_SUPPORTED, "ESOCKTNOSUPPORT"),
    (EPFNOSUPPORT, NtStatus::NOT_SUPPORTED, "EPFNOSUPPORT"),
    (EAFNOSUPPORT, NtStatus::NOT_SUPPORTED, "EAFNOSUPPORT"),
    (EPROTOTYPE, NtStatus::NOT_SUPPORTED, "EPROTOTYPE"),
    (ENOPROTOOPT, NtStatus::INVALID_PARAMETER, "ENOPROTOOPT"),
    (EOPNOTSUPP, NtStatus::NOT_IMPLEMENTED, "EOPNOTSUPP"),
    (EACCES, NtStatus::ACCESS_DENIED, "EACCES"),
    (EPERM, NtStatus::ACCESS_DENIED, "EPERM"),
    (ENOMEM, NtStatus::INSUFFICIENT_RESOURCES, "ENOMEM"),
    (ENOBUFS, NtStatus::INSUFFICIENT_RESOURCES, "ENOBUFS"),
    (EMFILE, NtStatus::TOO_MANY_OPENED_FILES, "EMFILE"),
    (ENFILE, NtStatus::TOO_MANY_OPENED_FILES, "ENFILE"),
    (EISCONN, NtStatus::CONNECTION_ACTIVE, "EISCONN"),
    (ECANCELED, NtStatus::CANCELLED, "ECANCELED"),
    (EBADF, NtStatus::INVALID_HANDLE, "EBADF"),
    (EHOSTDOWN, NtStatus::HOST_UNREACHABLE, "EHOSTDOWN"),
];

impl NtStatus {
    /// Reinterprets the bits of a `u32` (as written in Windows headers) as an `NTSTATUS`.
    pub const fn from_u32(value: u32) -> Self {
        NtStatus(value as i32)
    }

    /// Returns the raw bits as a `u32`, e.g. `0xC0000120` for `STATUS_CANCELLED`.
    pub const fn as_u32(self) -> u32 {
        self.0 as u32
    }

    /// `NT_SUCCESS`: true for success and informational severities (value `>= 0`).
    ///
    /// `STATUS_PENDING` and `STATUS_EVENT_PENDING` count as success; warnings such as
    /// `STATUS_BUFFER_OVERFLOW` do not.
    pub const fn is_success(self) -> bool {
        self.0 >= 0
    }

    /// `NT_ERROR`: true iff the severity bits (the top two) are `0b11`.
    ///
    /// Warnings such as `STATUS_BUFFER_OVERFLOW` are neither success nor error.
    pub const fn is_error(self) -> bool {
        self.as_u32() >> 30 == 0b11
    }

    /// The Windows name of this status (e.g. `"STATUS_CANCELLED"`), or `None` if it is
    /// not one of the named constants of this type.
    pub fn name(self) -> Option<&'static str> {
        NAMES.iter().find(|&&(status, _)| status == self).map(|&(_, name)| name)
    }

    /// Translates a Linux `errno` value into the `NTSTATUS` a WSK client should see.
    ///
    /// This is the single host-error table of the project (see the module docs of
    /// [`crate::status`]). `EWOULDBLOCK` is the same number as `EAGAIN` and maps to
    /// `STATUS_CANT_WAIT`; `EADDRNOTAVAIL` deliberately maps to
    /// `STATUS_INVALID_ADDRESS_COMPONENT` (Wine uses `STATUS_INVALID_PARAMETER`).
    /// Any errno not in the table yields `STATUS_UNSUCCESSFUL`.
    pub fn from_errno(errno: i32) -> NtStatus {
        ERRNO_TABLE.iter().find(|&&(e, _, _)| e == errno).map_or(NtStatus::UNSUCCESSFUL, |&(_, status, _)| status)
    }

    /// Translates a [`std::io::Error`] into an `NTSTATUS`.
    ///
    /// An error carrying an OS error code goes through [`NtStatus::from_errno`]. Other
    /// errors are classified by [`io::ErrorKind`] consistently with the errno table
    /// (a kind gets the status of the errnos std classifies as that kind, so
    /// `Unsupported` gives `STATUS_NOT_IMPLEMENTED` like `EOPNOTSUPP`); unlisted kinds
    /// yield `STATUS_UNSUCCESSFUL`.
    pub fn from_io_error(err: &io::Error) -> NtStatus {
        match err.raw_os_error() {
            Some(errno) => NtStatus::from_errno(errno),
            None => from_error_kind(err.kind()),
        }
    }
}

/// The `ErrorKind` fallback for errors without an OS error code.
fn from_error_kind(kind: io::ErrorKind) -> NtStatus {
    use io::ErrorKind as K;
    match kind {
        K::ConnectionRefused => NtStatus::CONNECTION_REFUSED,
        K::ConnectionReset => NtStatus::CONNECTION_RESET,
        K::ConnectionAborted => NtStatus::CONNECTION_ABORTED,
        K::NotConnected => NtStatus::CONNECTION_DISCONNECTED,
        K::AddrInUse => NtStatus::ADDRESS_ALREADY_ASSOCIATED,
        K::AddrNotAvailable => NtStatus::INVALID_ADDRESS_COMPONENT,
        K::BrokenPipe => NtStatus::PIPE_DISCONNECTED,
        K::TimedOut => NtStatus::IO_TIMEOUT,
        K::WouldBlock => NtStatus::CANT_WAIT,
        K::InvalidInput => NtStatus::INVALID_PARAMETER,
        // std classifies EOPNOTSUPP as Unsupported; keep the errno table's choice.
        K::Unsupported => NtStatus::NOT_IMPLEMENTED,
        K::OutOfMemory => NtStatus::INSUFFICIENT_RESOURCES,
        K::PermissionDenied => NtStatus::ACCESS_DENIED,
        K::NetworkUnreachable => NtStatus::NETWORK_UNREACHABLE,
        K::HostUnreachable => NtStatus::HOST_UNREACHABLE,
        K::NetworkDown => NtStatus::NETWORK_BUSY,
        _ => NtStatus::UNSUCCESSFUL,
    }
}

impl From<io::Error> for NtStatus {
    /// Same as [`NtStatus::from_io_error`].
    fn from(err: io::Error) -> Self {
        NtStatus::from_io_error(&err)
    }
}

impl From<&io::Error> for NtStatus {
    /// Same as [`NtStatus::from_io_error`].
    fn from(err: &io::Error) -> Self {
        NtStatus::from_io_error(err)
    }
}

impl fmt::Display for NtStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} (0x{:08X})", self.as_u32()),
            None => write!(f, "NTSTATUS 0x{:08X}", self.as_u32()),
        }
    }
}

impl fmt::Debug for NtStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for NtStatus {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Expected values, typed in independently of the constant definitions.
    const EXPECTED: &[(NtStatus, u32, &str)] = &[
        (NtStatus::SUCCESS, 0x0000_0000, "STATUS_SUCCESS"),
        (NtStatus::PENDING, 0x0000_0103, "STATUS_PENDING"),
        (NtStatus::TIMEOUT, 0x0000_0102, "STATUS_TIMEOUT"),
        (NtStatus::ALREADY_COMPLETE, 0x0000_00FF, "STATUS_ALREADY_COMPLETE"),
        (NtStatus::EVENT_PENDING, 0x4000_0013, "STATUS_EVENT_PENDING"),
        (NtStatus::BUFFER_OVERFLOW, 0x8000_0005, "STATUS_BUFFER_OVERFLOW"),
        (NtStatus::UNSUCCESSFUL, 0xC000_0001, "STATUS_UNSUCCESSFUL"),
        (NtStatus::NOT_IMPLEMENTED, 0xC000_0002, "STATUS_NOT_IMPLEMENTED"),
        (NtStatus::INVALID_HANDLE, 0xC000_0008, "STATUS_INVALID_HANDLE"),
        (NtStatus::INVALID_PARAMETER, 0xC000_000D, "STATUS_INVALID_PARAMETER"),
        (NtStatus::INVALID_DEVICE_REQUEST, 0xC000_0010, "STATUS_INVALID_DEVICE_REQUEST"),
        (NtStatus::MORE_PROCESSING_REQUIRED, 0xC000_0016, "STATUS_MORE_PROCESSING_REQUIRED"),
        (NtStatus::NO_MEMORY, 0xC000_0017, "STATUS_NO_MEMORY"),
        (NtStatus::ACCESS_DENIED, 0xC000_0022, "STATUS_ACCESS_DENIED"),
        (NtStatus::BUFFER_TOO_SMALL, 0xC000_0023, "STATUS_BUFFER_TOO_SMALL"),
        (NtStatus::OBJECT_TYPE_MISMATCH, 0xC000_0024, "STATUS_OBJECT_TYPE_MISMATCH"),
        (NtStatus::INSUFFICIENT_RESOURCES, 0xC000_009A, "STATUS_INSUFFICIENT_RESOURCES"),
        (NtStatus::DEVICE_NOT_READY, 0xC000_00A3, "STATUS_DEVICE_NOT_READY"),
        (NtStatus::PIPE_DISCONNECTED, 0xC000_00B0, "STATUS_PIPE_DISCONNECTED"),
        (NtStatus::IO_TIMEOUT, 0xC000_00B5, "STATUS_IO_TIMEOUT"),
        (NtStatus::FILE_FORCED_CLOSED, 0xC000_00B6, "STATUS_FILE_FORCED_CLOSED"),
        (NtStatus::NOT_SUPPORTED, 0xC000_00BB, "STATUS_NOT_SUPPORTED"),
        (NtStatus::BAD_NETWORK_PATH, 0xC000_00BE, "STATUS_BAD_NETWORK_PATH"),
        (NtStatus::NETWORK_BUSY, 0xC000_00BF, "STATUS_NETWORK_BUSY"),
        (NtStatus::REQUEST_NOT_ACCEPTED, 0xC000_00D0, "STATUS_REQUEST_NOT_ACCEPTED"),
        (NtStatus::CANT_WAIT, 0xC000_00D8, "STATUS_CANT_WAIT"),
        (NtStatus::INTERNAL_ERROR, 0xC000_00E5, "STATUS_INTERNAL_ERROR"),
        (NtStatus::TOO_MANY_OPENED_FILES, 0xC000_011F, "STATUS_TOO_MANY_OPENED_FILES"),
        (NtStatus::CANCELLED, 0xC000_0120, "STATUS_CANCELLED"),
        (NtStatus::LOCAL_DISCONNECT, 0xC000_013B, "STATUS_LOCAL_DISCONNECT"),
        (NtStatus::REMOTE_DISCONNECT, 0xC000_013C, "STATUS_REMOTE_DISCONNECT"),
        (NtStatus::INVALID_ADDRESS, 0xC000_0141, "STATUS_INVALID_ADDRESS"),
        (NtStatus::INVALID_DEVICE_STATE, 0xC000_0184, "STATUS_INVALID_DEVICE_STATE"),
        (NtStatus::INVALID_BUFFER_SIZE, 0xC000_0206, "STATUS_INVALID_BUFFER_SIZE"),
        (NtStatus::INVALID_ADDRESS_COMPONENT, 0xC000_0207, "STATUS_INVALID_ADDRESS_COMPONENT"),
        (NtStatus::ADDRESS_ALREADY_EXISTS, 0xC000_020A, "STATUS_ADDRESS_ALREADY_EXISTS"),
        (NtStatus::ADDRESS_CLOSED, 0xC000_020B, "STATUS_ADDRESS_CLOSED"),
        (NtStatus::CONNECTION_DISCONNECTED, 0xC000_020C, "STATUS_CONNECTION_DISCONNECTED"),
        (NtStatus::CONNECTION_RESET, 0xC000_020D, "STATUS_CONNECTION_RESET"),
        (NtStatus::TRANSACTION_ABORTED, 0xC000_020F, "STATUS_TRANSACTION_ABORTED"),
        (NtStatus::DATA_NOT_ACCEPTED, 0xC000_021B, "STATUS_DATA_NOT_ACCEPTED"),
        (NtStatus::RETRY, 0xC000_022D, "STATUS_RETRY"),
        (NtStatus::GRACEFUL_DISCONNECT, 0xC000_0237, "STATUS_GRACEFUL_DISCONNECT"),
        (NtStatus::CONNECTION_REFUSED, 0xC000_0236, "STATUS_CONNECTION_REFUSED"),
        (NtStatus::ADDRESS_ALREADY_ASSOCIATED, 0xC000_0238, "STATUS_ADDRESS_ALREADY_ASSOCIATED"),
        (NtStatus::CONNECTION_INVALID, 0xC000_023A, "STATUS_CONNECTION_INVALID"),
        (NtStatus::CONNECTION_ACTIVE, 0xC000_023B, "STATUS_CONNECTION_ACTIVE"),
        (NtStatus::NETWORK_UNREACHABLE, 0xC000_023C, "STATUS_NETWORK_UNREACHABLE"),
        (NtStatus::HOST_UNREACHABLE, 0xC000_023D, "STATUS_HOST_UNREACHABLE"),
        (NtStatus::PROTOCOL_UNREACHABLE, 0xC000_023E, "STATUS_PROTOCOL_UNREACHABLE"),
        (NtStatus::PORT_UNREACHABLE, 0xC000_023F, "STATUS_PORT_UNREACHABLE"),
        (NtStatus::CONNECTION_ABORTED, 0xC000_0241, "STATUS_CONNECTION_ABORTED"),
        (NtStatus::NOT_FOUND, 0xC000_0225, "STATUS_NOT_FOUND"),
        (NtStatus::NO_MATCH, 0xC000_0272, "STATUS_NO_MATCH"),
        (NtStatus::NOINTERFACE, 0xC000_02B9, "STATUS_NOINTERFACE"),
        (NtStatus::ACCESS_VIOLATION, 0xC000_0005, "STATUS_ACCESS_VIOLATION"),
        (NtStatus::OBJECT_NAME_COLLISION, 0xC000_0035, "STATUS_OBJECT_NAME_COLLISION"),
    ];

    #[test]
    fn constant_values_and_names() {
        for &(status, value, name) in EXPECTED {
            assert_eq!(status.as_u32(), value, "{name}");
            assert_eq!(status.name(), Some(name));
        }
        // The name table holds exactly the expected constants, once each.
        assert_eq!(NAMES.len(), EXPECTED.len());
        let values: HashSet<u32> = NAMES.iter().map(|(s, _)| s.as_u32()).collect();
        assert_eq!(values.len(), NAMES.len(), "duplicate value in NAMES");
    }

    #[test]
    fn u32_round_trip() {
        assert_eq!(NtStatus::from_u32(0xC000_0120), NtStatus::CANCELLED);
        assert_eq!(NtStatus::CANCELLED.0, 0xC000_0120_u32 as i32);
        assert_eq!(NtStatus::from_u32(0xDEAD_BEEF).as_u32(), 0xDEAD_BEEF);
    }

    #[test]
    fn display_and_debug() {
        assert_eq!(NtStatus::CANCELLED.to_string(), "STATUS_CANCELLED (0xC0000120)");
        assert_eq!(format!("{:?}", NtStatus::CANCELLED), "STATUS_CANCELLED (0xC0000120)");
        assert_eq!(NtStatus::SUCCESS.to_string(), "STATUS_SUCCESS (0x00000000)");
        assert_eq!(NtStatus::from_u32(0xC0DE_0001).to_string(), "NTSTATUS 0xC0DE0001");
        assert_eq!(format!("{:?}", NtStatus(7)), "NTSTATUS 0x00000007");
        assert_eq!(NtStatus(7).name(), None);
        let err: Box<dyn std::error::Error> = Box::new(NtStatus::IO_TIMEOUT);
        assert_eq!(err.to_string(), "STATUS_IO_TIMEOUT (0xC00000B5)");
    }

    #[test]
    fn severity() {
        for s in [NtStatus::SUCCESS, NtStatus::PENDING, NtStatus::TIMEOUT, NtStatus::EVENT_PENDING] {
            assert!(s.is_success(), "{s}");
            assert!(!s.is_error(), "{s}");
        }
        assert!(!NtStatus::BUFFER_OVERFLOW.is_success());
        assert!(!NtStatus::BUFFER_OVERFLOW.is_error());
        for &(s, _, _) in EXPECTED {
            if s.as_u32() >= 0xC000_0000 {
                assert!(!s.is_success(), "{s}");
                assert!(s.is_error(), "{s}");
            }
        }
    }

    #[test]
    fn errno_table_is_consistent() {
        let mut seen = HashSet::new();
        for &(errno, status, name) in ERRNO_TABLE {
            assert!(seen.insert(errno), "duplicate errno {name}");
            assert_eq!(NtStatus::from_errno(errno), status, "{name}");
            assert!(status.name().is_some(), "{name} maps to an unnamed status");
        }
    }

    #[test]
    fn errno_mapping() {
        let cases = [
            (ECONNREFUSED, NtStatus::CONNECTION_REFUSED),
            (ECONNRESET, NtStatus::CONNECTION_RESET),
            (ECONNABORTED, NtStatus::CONNECTION_ABORTED),
            (EPIPE, NtStatus::PIPE_DISCONNECTED),
            (ENOTCONN, NtStatus::CONNECTION_DISCONNECTED),
            (EADDRINUSE, NtStatus::ADDRESS_ALREADY_ASSOCIATED),
            (EADDRNOTAVAIL, NtStatus::INVALID_ADDRESS_COMPONENT),
            (ENETUNREACH, NtStatus::NETWORK_UNREACHABLE),
            (EHOSTUNREACH, NtStatus::HOST_UNREACHABLE),
            (ENETDOWN, NtStatus::NETWORK_BUSY),
            (ETIMEDOUT, NtStatus::IO_TIMEOUT),
            (EINVAL, NtStatus::INVALID_PARAMETER),
            (EAGAIN, NtStatus::CANT_WAIT),
            (EINPROGRESS, NtStatus::PENDING),
            (EALREADY, NtStatus::NETWORK_BUSY),
            (ENOTSOCK, NtStatus::OBJECT_TYPE_MISMATCH),
            (EMSGSIZE, NtStatus::BUFFER_OVERFLOW),
            (EPROTONOSUPPORT, NtStatus::NOT_SUPPORTED),
            (ESOCKTNOSUPPORT, NtStatus::NOT_SUPPORTED),
            (EPFNOSUPPORT, NtStatus::NOT_SUPPORTED),
            (EAFNOSUPPORT, NtStatus::NOT_SUPPORTED),
            (EPROTOTYPE, NtStatus::NOT_SUPPORTED),
            (ENOPROTOOPT, NtStatus::INVALID_PARAMETER),
            (EOPNOTSUPP, NtStatus::NOT_IMPLEMENTED),
            (EACCES, NtStatus::ACCESS_DENIED),
            (EPERM, NtStatus::ACCESS_DENIED),
            (ENOMEM, NtStatus::INSUFFICIENT_RESOURCES),
            (ENOBUFS, NtStatus::INSUFFICIENT_RESOURCES),
            (EMFILE, NtStatus::TOO_MANY_OPENED_FILES),
            (ENFILE, NtStatus::TOO_MANY_OPENED_FILES),
            (EISCONN, NtStatus::CONNECTION_ACTIVE),
            (ECANCELED, NtStatus::CANCELLED),
            (EBADF, NtStatus::INVALID_HANDLE),
            (EHOSTDOWN, NtStatus::HOST_UNREACHABLE),
        ];
        assert_eq!(cases.len(), ERRNO_TABLE.len());
        for (errno, status) in cases {
            assert_eq!(NtStatus::from_errno(errno), status, "errno {errno}");
        }
    }

    #[test]
    fn errno_literal_values() {
        // Spot-check the private constants against the Linux numbers.
        assert_eq!((EAGAIN, EPIPE, EINVAL), (11, 32, 22));
        assert_eq!((ECONNREFUSED, ECONNRESET, ETIMEDOUT), (111, 104, 110));
        let ewouldblock = 11; // Linux EWOULDBLOCK == EAGAIN
        assert_eq!(NtStatus::from_errno(ewouldblock), NtStatus::CANT_WAIT);
    }

    #[test]
    fn unknown_errno_is_unsuccessful() {
        for errno in [0, -1, 2 /* ENOENT */, 4 /* EINTR */, 38 /* ENOSYS */, i32::MAX, i32::MIN] {
            assert_eq!(NtStatus::from_errno(errno), NtStatus::UNSUCCESSFUL, "errno {errno}");
        }
    }

    #[test]
    fn io_error_with_os_code_uses_errno_table() {
        for &(errno, status, name) in ERRNO_TABLE {
            let err = io::Error::from_raw_os_error(errno);
            assert_eq!(NtStatus::from_io_error(&err), status, "{name}");
            assert_eq!(NtStatus::from(&err), status, "{name}");
            assert_eq!(NtStatus::from(err), status, "{name}");
        }
    }

    #[test]
    fn io_error_kinds() {
        use io::ErrorKind as K;
        let cases = [
            (K::ConnectionRefused, NtStatus::CONNECTION_REFUSED),
            (K::ConnectionReset, NtStatus::CONNECTION_RESET),
            (K::ConnectionAborted, NtStatus::CONNECTION_ABORTED),
            (K::NotConnected, NtStatus::CONNECTION_DISCONNECTED),
            (K::AddrInUse, NtStatus::ADDRESS_ALREADY_ASSOCIATED),
            (K::AddrNotAvailable, NtStatus::INVALID_ADDRESS_COMPONENT),
            (K::BrokenPipe, NtStatus::PIPE_DISCONNECTED),
            (K::TimedOut, NtStatus::IO_TIMEOUT),
            (K::WouldBlock, NtStatus::CANT_WAIT),
            (K::InvalidInput, NtStatus::INVALID_PARAMETER),
            (K::Unsupported, NtStatus::NOT_IMPLEMENTED),
            (K::OutOfMemory, NtStatus::INSUFFICIENT_RESOURCES),
            (K::PermissionDenied, NtStatus::ACCESS_DENIED),
            (K::NetworkUnreachable, NtStatus::NETWORK_UNREACHABLE),
            (K::HostUnreachable, NtStatus::HOST_UNREACHABLE),
            (K::NetworkDown, NtStatus::NETWORK_BUSY),
            (K::NotFound, NtStatus::UNSUCCESSFUL),
            (K::Other, NtStatus::UNSUCCESSFUL),
            (K::UnexpectedEof, NtStatus::UNSUCCESSFUL),
        ];
        for (kind, status) in cases {
            assert_eq!(NtStatus::from_io_error(&io::Error::from(kind)), status, "{kind:?}");
            assert_eq!(NtStatus::from(io::Error::new(kind, "synthetic")), status, "{kind:?}");
        }
    }

    /// On Linux, std classifies raw errnos with the real libc constants; where it
    /// assigns a kind, our errno numbers must agree with the kind fallback. This checks
    /// the private errno constants without depending on libc.
    #[cfg(target_os = "linux")]
    #[test]
    fn errno_numbers_agree_with_std_kinds() {
        let mut checked = 0;
        for &(errno, status, name) in ERRNO_TABLE {
            let kind = io::Error::from_raw_os_error(errno).kind();
            let by_kind = from_error_kind(kind);
            if by_kind != NtStatus::UNSUCCESSFUL {
                assert_eq!(by_kind, status, "{name} classified by std as {kind:?}");
                checked += 1;
            }
        }
        assert!(checked >= 15, "only {checked} errnos cross-checked");
        assert_eq!(io::Error::from_raw_os_error(ECONNREFUSED).kind(), io::ErrorKind::ConnectionRefused);
        assert_eq!(io::Error::from_raw_os_error(EAGAIN).kind(), io::ErrorKind::WouldBlock);
    }
}
