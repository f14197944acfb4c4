//! Name resolution (`WskGetAddressInfo`, `WskGetNameInfo`) without I/O: the Windows
//! `AI_*` / `NI_*` / `NS_*` values, the hints and results a backend resolver works
//! with, and the one table from resolver failures (`EAI_*`) to NTSTATUS.
//!
//! Values here are **Windows'** (`ws2def.h`): hints carry Windows `AI_*` bits and the
//! family as an [`AddressFamily`]; a backend translates them to its host's values at its
//! edge (the host backend: `wsk-host`'s `resolve.rs`).
//!
//! | resolver failure | [`ResolveError`] | NTSTATUS |
//! |---|---|---|
//! | no such name, no address of the family asked for (`EAI_NONAME`, `EAI_NODATA`, `EAI_ADDRFAMILY`) | [`ResolveError::NoSuchName`] | `STATUS_NOT_FOUND` (Windows' answer, reference §4.10) |
//! | service unknown for the socket type (`EAI_SERVICE`) | [`ResolveError::NoSuchService`] | `STATUS_NOT_FOUND` |
//! | temporary failure, try again (`EAI_AGAIN`) | [`ResolveError::TryAgain`] | `STATUS_RETRY` |
//! | non-recoverable failure (`EAI_FAIL`) | [`ResolveError::Failed`] | `STATUS_UNSUCCESSFUL` |
//! | family / socket type not supported (`EAI_FAMILY`, `EAI_SOCKTYPE`) | [`ResolveError::NotSupported`] | `STATUS_NOT_SUPPORTED` |
//! | bad flags (`EAI_BADFLAGS`) | [`ResolveError::BadFlags`] | `STATUS_INVALID_PARAMETER` |
//! | out of memory (`EAI_MEMORY`) | [`ResolveError::NoMemory`] | `STATUS_INSUFFICIENT_RESOURCES` |
//! | a result does not fit (`EAI_OVERFLOW`) | [`ResolveError::Overflow`] | `STATUS_BUFFER_OVERFLOW` |
//! | a system error (`EAI_SYSTEM` + errno) | [`ResolveError::System`] | the errno table of [`crate::status`] |

use std::io;
use std::net::SocketAddr;

use crate::addr::{AddressFamily, AF_INET, AF_INET6, AF_UNSPEC};
use crate::status::NtStatus;

/// `AI_*` flags of `ADDRINFOEXW.ai_flags` (Windows values, `ws2def.h`).
pub mod ai {
    /// `AI_PASSIVE`: the address will be bound (a NULL node gives the wildcard).
    pub const AI_PASSIVE: u32 = 0x0000_0001;
    /// `AI_CANONNAME`: return the canonical name in the first result.
    pub const AI_CANONNAME: u32 = 0x0000_0002;
    /// `AI_NUMERICHOST`: the node is a numeric address; never look it up.
    pub const AI_NUMERICHOST: u32 = 0x0000_0004;
    /// `AI_NUMERICSERV`: the service is a port number; never look it up.
    pub const AI_NUMERICSERV: u32 = 0x0000_0008;
    /// `AI_DNS_ONLY`.
    pub const AI_DNS_ONLY: u32 = 0x0000_0010;
    /// `AI_FORCE_CLEAR_TEXT`.
    pub const AI_FORCE_CLEAR_TEXT: u32 = 0x0000_0020;
    /// `AI_BYPASS_DNS_CACHE`.
    pub const AI_BYPASS_DNS_CACHE: u32 = 0x0000_0040;
    /// `AI_RETURN_TTL`.
    pub const AI_RETURN_TTL: u32 = 0x0000_0080;
    /// `AI_ALL`: with `AI_V4MAPPED`, IPv6 and IPv4-mapped addresses.
    pub const AI_ALL: u32 = 0x0000_0100;
    /// `AI_ADDRCONFIG`: only families the host has an address of.
    pub const AI_ADDRCONFIG: u32 = 0x0000_0400;
    /// `AI_V4MAPPED`: IPv4-mapped IPv6 addresses when an IPv6 lookup finds none.
    pub const AI_V4MAPPED: u32 = 0x0000_0800;
    /// `AI_NON_AUTHORITATIVE`.
    pub const AI_NON_AUTHORITATIVE: u32 = 0x0000_4000;
    /// `AI_SECURE`.
    pub const AI_SECURE: u32 = 0x0000_8000;
    /// `AI_RETURN_PREFERRED_NAMES`.
    pub const AI_RETURN_PREFERRED_NAMES: u32 = 0x0001_0000;
    /// `AI_FQDN`: return the fully qualified name in the first result (like `AI_CANONNAME`).
    pub const AI_FQDN: u32 = 0x0002_0000;
    /// `AI_FILESERVER`.
    pub const AI_FILESERVER: u32 = 0x0004_0000;
    /// `AI_DISABLE_IDN_ENCODING`.
    pub const AI_DISABLE_IDN_ENCODING: u32 = 0x0008_0000;

    /// The flags with a host equivalent (translated by the backend).
    pub const MAPPED: u32 =
        AI_PASSIVE | AI_CANONNAME | AI_NUMERICHOST | AI_NUMERICSERV | AI_ALL | AI_ADDRCONFIG | AI_V4MAPPED | AI_FQDN;
    /// Flags accepted and without effect: they steer how Windows' DNS client queries
    /// (cache, transport, IDN encoding, name preference), which the host resolver decides
    /// on its own (`nsswitch.conf`, `resolv.conf`).
    pub const IGNORED: u32 = AI_DNS_ONLY
        | AI_FORCE_CLEAR_TEXT
        | AI_BYPASS_DNS_CACHE
        | AI_NON_AUTHORITATIVE
        | AI_SECURE
        | AI_RETURN_PREFERRED_NAMES
        | AI_FILESERVER
        | AI_DISABLE_IDN_ENCODING;
}

/// `NI_*` flags of `WskGetNameInfo` (Windows values, `ws2def.h`).
pub mod ni {
    /// `NI_NOFQDN`: only the host part of a local host's name.
    pub const NI_NOFQDN: u32 = 0x01;
    /// `NI_NUMERICHOST`: the numeric address, never a name.
    pub const NI_NUMERICHOST: u32 = 0x02;
    /// `NI_NAMEREQD`: fail if the address has no name.
    pub const NI_NAMEREQD: u32 = 0x04;
    /// `NI_NUMERICSERV`: the port number, never a service name.
    pub const NI_NUMERICSERV: u32 = 0x08;
    /// `NI_DGRAM`: the service is a datagram one (UDP service names).
    pub const NI_DGRAM: u32 = 0x10;
    /// Every defined `NI_*` bit.
    pub const ALL: u32 = NI_NOFQDN | NI_NUMERICHOST | NI_NAMEREQD | NI_NUMERICSERV | NI_DGRAM;
    /// `NI_MAXHOST`: the longest host name, with its terminator.
    pub const NI_MAXHOST: usize = 1025;
    /// `NI_MAXSERV`: the longest service name, with its terminator.
    pub const NI_MAXSERV: usize = 32;
}

/// `NS_*` name spaces of `WskGetAddressInfo` (Windows values).
pub mod ns {
    /// `NS_ALL` (also `NS_DEFAULT`): every name space.
    pub const NS_ALL: u32 = 0;
    /// `NS_TCPIP_LOCAL`.
    pub const NS_TCPIP_LOCAL: u32 = 10;
    /// `NS_TCPIP_HOSTS`.
    pub const NS_TCPIP_HOSTS: u32 = 11;
    /// `NS_DNS`.
    pub const NS_DNS: u32 = 12;
}

/// Socket types a lookup may ask for (`SOCK_*`; the same numbers on Windows and Linux).
pub mod socktype {
    /// Any type (one result per address).
    pub const ANY: i32 = 0;
    /// `SOCK_STREAM`.
    pub const SOCK_STREAM: i32 = 1;
    /// `SOCK_DGRAM`.
    pub const SOCK_DGRAM: i32 = 2;
    /// `SOCK_RAW`.
    pub const SOCK_RAW: i32 = 3;
}

/// What a lookup asks for: the `ai_flags`, `ai_family`, `ai_socktype` and `ai_protocol`
/// of the `Hints` `ADDRINFOEXW` (Windows values).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddrHints {
    /// Windows `AI_*` bits ([`ai`]).
    pub flags: u32,
    /// Only this family; `None` is `AF_UNSPEC` (both).
    pub family: Option<AddressFamily>,
    /// `SOCK_STREAM`, `SOCK_DGRAM`, `SOCK_RAW` or 0 ([`socktype`]).
    pub socket_type: i32,
    /// `IPPROTO_*` (the same numbers on both systems), or 0.
    pub protocol: i32,
}

impl AddrHints {
    /// Hints for `family` only (`None`: both), every other member zero.
    pub fn family(family: Option<AddressFamily>) -> AddrHints {
        AddrHints { family, ..AddrHints::default() }
    }

    /// Reads the hint members of an `ADDRINFOEXW` (Windows values).
    ///
    /// # Errors
    /// `STATUS_NOT_SUPPORTED` for a family other than `AF_UNSPEC`, `AF_INET`, `AF_INET6`;
    /// then whatever [`AddrHints::validate`] says.
    pub fn from_windows(flags: i32, family: i32, socket_type: i32, protocol: i32) -> Result<AddrHints, NtStatus> {
        let family = match u16::try_from(family) {
            Ok(AF_UNSPEC) => None,
            Ok(f @ (AF_INET | AF_INET6)) => Some(AddressFamily::from_windows(f)?),
            _ => return Err(NtStatus::NOT_SUPPORTED),
        };
        let hints = AddrHints { flags: flags as u32, family, socket_type, protocol };
        hints.validate()?;
        Ok(hints)
    }

    /// Checks the hints before a lookup starts.
    ///
    /// # Errors
    /// - `STATUS_INVALID_PARAMETER`: an `AI_*` bit that is not defined, or one Windows
    ///   defines for results this provider cannot give (`AI_RETURN_TTL`, `AI_EXTENDED`,
    ///   `AI_RESOLUTION_HANDLE`, secure-DNS and custom-server bits), or `AI_CANONNAME`
    ///   with `AI_FQDN` (Windows refuses the pair too); a negative protocol.
    /// - `STATUS_NOT_SUPPORTED`: a socket type other than 0, `SOCK_STREAM`,
    ///   `SOCK_DGRAM`, `SOCK_RAW`.
    pub fn validate(&self) -> Result<(), NtStatus> {
        if self.flags & !(ai::MAPPED | ai::IGNORED) != 0 {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        if self.flags & ai::AI_CANONNAME != 0 && self.flags & ai::AI_FQDN != 0 {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        if !(0..=socktype::SOCK_RAW).contains(&self.socket_type) {
            return Err(NtStatus::NOT_SUPPORTED);
        }
        if self.protocol < 0 {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        Ok(())
    }

    /// Whether the lookup returns a canonical name (`AI_CANONNAME` or `AI_FQDN`).
    pub fn wants_canonical_name(&self) -> bool {
        self.flags & (ai::AI_CANONNAME | ai::AI_FQDN) != 0
    }
}

/// One result of a lookup: one `ADDRINFOEXW` of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedAddr {
    /// The address, with the service's port.
    pub addr: SocketAddr,
    /// `ai_socktype`: the socket type asked for, or 0 when the hints named none (then
    /// there is one result per address, as Windows gives).
    pub socket_type: i32,
    /// `ai_protocol`: as the host reports it for that type, or 0.
    pub protocol: i32,
    /// The canonical name, in the first result only, when the hints asked for it.
    pub canonical_name: Option<String>,
}

/// Windows `NI_*` flags of a reverse lookup ([`ni`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NameInfoFlags(pub u32);

impl NameInfoFlags {
    /// Checks the bits.
    ///
    /// # Errors
    /// `STATUS_INVALID_PARAMETER` for a bit that is not an `NI_*` flag.
    pub fn validate(self) -> Result<(), NtStatus> {
        if self.0 & !ni::ALL != 0 {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        Ok(())
    }

    /// Whether `flag` (an `NI_*` bit) is set.
    pub fn has(self, flag: u32) -> bool {
        self.0 & flag != 0
    }
}

impl std::ops::BitOr<u32> for NameInfoFlags {
    type Output = NameInfoFlags;
    fn bitor(self, rhs: u32) -> NameInfoFlags {
        NameInfoFlags(self.0 | rhs)
    }
}

/// The host name and service name of an address (`WskGetNameInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameInfo {
    /// The host's name, or its numeric address.
    pub host: String,
    /// The service's name, or the port number.
    pub service: String,
}

/// Why a lookup failed, in the resolver's terms (see the table in the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The name does not exist, or has no address of the family asked for.
    #[error("no such name")]
    NoSuchName,
    /// The service is not known (for that socket type).
    #[error("no such service")]
    NoSuchService,
    /// A temporary failure of the name service: try again later.
    #[error("temporary failure in name resolution")]
    TryAgain,
    /// A non-recoverable failure of the name service.
    #[error("non-recoverable failure in name resolution")]
    Failed,
    /// The family or socket type is not supported.
    #[error("family or socket type not supported")]
    NotSupported,
    /// The flags are invalid (or invalid together with the other arguments).
    #[error("bad flags")]
    BadFlags,
    /// Out of memory.
    #[error("out of memory")]
    NoMemory,
    /// A result is longer than the space for it.
    #[error("result too long")]
    Overflow,
    /// A system error, with its (Linux) errno.
    #[error("system error (errno {0})")]
    System(i32),
}

impl ResolveError {
    /// The NTSTATUS a WSK client sees for this failure.
    pub fn status(self) -> NtStatus {
        match self {
            ResolveError::NoSuchName | ResolveError::NoSuchService => NtStatus::NOT_FOUND,
            ResolveError::TryAgain => NtStatus::RETRY,
            ResolveError::Failed => NtStatus::UNSUCCESSFUL,
            ResolveError::NotSupported => NtStatus::NOT_SUPPORTED,
            ResolveError::BadFlags => NtStatus::INVALID_PARAMETER,
            ResolveError::NoMemory => NtStatus::INSUFFICIENT_RESOURCES,
            ResolveError::Overflow => NtStatus::BUFFER_OVERFLOW,
            ResolveError::System(errno) => NtStatus::from_errno(errno),
        }
    }

    /// Wraps the failure in an `io::Error` (the backend's error type), from which
    /// [`status_of`] gets it back.
    pub fn into_io(self) -> io::Error {
        let kind = match self {
            ResolveError::NoSuchName | ResolveError::NoSuchService => io::ErrorKind::NotFound,
            ResolveError::NotSupported => io::ErrorKind::Unsupported,
            ResolveError::BadFlags => io::ErrorKind::InvalidInput,
            ResolveError::NoMemory => io::ErrorKind::OutOfMemory,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, self)
    }
}

/// The NTSTATUS of a backend's resolver error: a [`ResolveError`] inside it by its
/// table, anything else by [`NtStatus::from_io_error`] (a backend without a resolver
/// answers `Unsupported`: `STATUS_NOT_IMPLEMENTED`).
pub fn status_of(err: &io::Error) -> NtStatus {
    match err.get_ref().and_then(|e| e.downcast_ref::<ResolveError>()) {
        Some(e) => e.status(),
        None => NtStatus::from_io_error(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_from_windows_values() {
        let h = AddrHints::from_windows(ai::AI_CANONNAME as i32, 23, 1, 6).unwrap();
        assert_eq!(h.family, Some(AddressFamily::V6));
        assert!(h.wants_canonical_name());
        assert_eq!(AddrHints::from_windows(0, 0, 0, 0).unwrap().family, None);
        assert_eq!(AddrHints::from_windows(0, 2, 0, 0).unwrap().family, Some(AddressFamily::V4));
        assert_eq!(AddrHints::from_windows(0, 10, 0, 0), Err(NtStatus::NOT_SUPPORTED)); // Linux's AF_INET6
        assert_eq!(AddrHints::from_windows(0, 2, 5, 0), Err(NtStatus::NOT_SUPPORTED));
        assert_eq!(AddrHints::from_windows(0x0400_0000, 2, 0, 0), Err(NtStatus::INVALID_PARAMETER));
        assert_eq!(AddrHints::from_windows(ai::AI_RETURN_TTL as i32, 2, 0, 0), Err(NtStatus::INVALID_PARAMETER));
        let both = (ai::AI_CANONNAME | ai::AI_FQDN) as i32;
        assert_eq!(AddrHints::from_windows(both, 0, 0, 0), Err(NtStatus::INVALID_PARAMETER));
        assert!(AddrHints::from_windows(ai::AI_BYPASS_DNS_CACHE as i32, 0, 0, 0).is_ok());
    }

    #[test]
    fn name_info_flags() {
        assert!(NameInfoFlags(ni::NI_NUMERICHOST | ni::NI_NUMERICSERV).validate().is_ok());
        assert_eq!(NameInfoFlags(0x20).validate(), Err(NtStatus::INVALID_PARAMETER));
        assert!((NameInfoFlags::default() | ni::NI_DGRAM).has(ni::NI_DGRAM));
    }

    #[test]
    fn errors_map_to_statuses_through_io() {
        assert_eq!(status_of(&ResolveError::NoSuchName.into_io()), NtStatus::NOT_FOUND);
        assert_eq!(status_of(&ResolveError::NoSuchService.into_io()), NtStatus::NOT_FOUND);
        assert_eq!(status_of(&ResolveError::TryAgain.into_io()), NtStatus::RETRY);
        assert_eq!(status_of(&ResolveError::BadFlags.into_io()), NtStatus::INVALID_PARAMETER);
        assert_eq!(status_of(&ResolveError::System(12).into_io()), NtStatus::from_errno(12));
        assert_eq!(status_of(&io::Error::from(io::ErrorKind::Unsupported)), NtStatus::NOT_IMPLEMENTED);
    }
}

/// Whether `name` lies in the special-use domain `invalid.` (RFC 6761 §6.4), for which
/// "name resolution APIs and libraries SHOULD ... always return immediate negative
/// responses": such a name is answered "no such name" without asking any resolver.
pub fn is_special_invalid(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    let last = name.rsplit('.').next().unwrap_or(name);
    last.eq_ignore_ascii_case("invalid")
}

#[cfg(test)]
mod special_use_tests {
    use super::is_special_invalid;

    #[test]
    fn invalid_domain() {
        for name in ["invalid", "INVALID.", "nonexistent.invalid", "a.b.Invalid", "x.invalid."] {
            assert!(is_special_invalid(name), "{name}");
        }
        for name in ["localhost", "invalid.example", "invalidx", "127.0.0.1", ""] {
            assert!(!is_special_invalid(name), "{name}");
        }
    }
}
