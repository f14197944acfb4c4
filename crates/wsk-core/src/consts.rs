//! Numeric constants of the WSK interface, with the values Windows uses.
//!
//! Per-call flags and per-event flags live in separate namespaces on Windows and
//! reuse the same bits (`WSK_FLAG_ABORTIVE` and `WSK_FLAG_OOB` are both `0x1`), so
//! they are grouped here by the call that reads them.

/// `MAKE_WSK_VERSION(major, minor)`.
pub const fn make_wsk_version(major: u8, minor: u8) -> u16 {
    ((major as u16) << 8) | minor as u16
}

/// The version this provider implements: 1.0, the one every surveyed client asks for.
pub const WSK_PROVIDER_VERSION: u16 = make_wsk_version(1, 0);
/// `WSK_NO_WAIT`: `WskCaptureProviderNPI` returns at once.
pub const WSK_NO_WAIT: u32 = 0;
/// `WSK_INFINITE_WAIT`: `WskCaptureProviderNPI` waits until the provider is ready.
pub const WSK_INFINITE_WAIT: u32 = 0xffff_ffff;

/// Socket-category flags of `WskSocket`.
pub mod category {
    /// A basic socket (no flag set).
    pub const WSK_FLAG_BASIC_SOCKET: u32 = 0x0;
    /// A listening socket.
    pub const WSK_FLAG_LISTEN_SOCKET: u32 = 0x1;
    /// A connection-oriented socket.
    pub const WSK_FLAG_CONNECTION_SOCKET: u32 = 0x2;
    /// A datagram socket.
    pub const WSK_FLAG_DATAGRAM_SOCKET: u32 = 0x4;
    /// A stream socket (Windows 10 1703 and later).
    pub const WSK_FLAG_STREAM_SOCKET: u32 = 0x8;
}

/// Flags of `WskSend` / `WskSendEx`.
pub mod send {
    /// `WSK_FLAG_OOB`: only in the headers, undocumented; answered with `STATUS_NOT_SUPPORTED`.
    pub const WSK_FLAG_OOB: u32 = 0x1;
    /// `WSK_FLAG_NODELAY`: send without Nagle delay.
    pub const WSK_FLAG_NODELAY: u32 = 0x2;
}

/// Flags of `WskReceive` / `WskReceiveEx`.
pub mod receive {
    /// `WSK_FLAG_WAITALL`: complete only when the buffer is full (or at disconnect/cancel).
    pub const WSK_FLAG_WAITALL: u32 = 0x2;
    /// `WSK_FLAG_DRAIN`: discard data until disconnect; buffer length must be 0.
    pub const WSK_FLAG_DRAIN: u32 = 0x4;
}

/// Flags of `WskDisconnect` and of `WskDisconnectEvent`.
pub mod disconnect {
    /// `WSK_FLAG_ABORTIVE`: reset instead of a graceful FIN.
    pub const WSK_FLAG_ABORTIVE: u32 = 0x1;
}

/// Flags the provider passes to event callbacks.
pub mod event_flags {
    /// `WSK_FLAG_RELEASE_ASAP`: the provider is short of buffers; do not retain.
    pub const WSK_FLAG_RELEASE_ASAP: u32 = 0x2;
    /// `WSK_FLAG_ENTIRE_MESSAGE`: the TCP PUSH bit was seen (never set here: Linux does not expose it).
    pub const WSK_FLAG_ENTIRE_MESSAGE: u32 = 0x4;
    /// `WSK_FLAG_AT_DISPATCH_LEVEL`: the callback runs at DISPATCH_LEVEL (never set here: no IRQLs in user space).
    pub const WSK_FLAG_AT_DISPATCH_LEVEL: u32 = 0x8;
}

/// Event bits of `WSK_EVENT_CALLBACK_CONTROL.EventMask`.
pub mod events {
    /// `WskSendBacklogEvent`.
    pub const WSK_EVENT_SEND_BACKLOG: u32 = 0x010;
    /// `WskReceiveEvent`.
    pub const WSK_EVENT_RECEIVE: u32 = 0x040;
    /// `WskDisconnectEvent`.
    pub const WSK_EVENT_DISCONNECT: u32 = 0x080;
    /// `WskReceiveFromEvent`.
    pub const WSK_EVENT_RECEIVE_FROM: u32 = 0x100;
    /// `WskAcceptEvent`.
    pub const WSK_EVENT_ACCEPT: u32 = 0x200;
    /// OR-ed with exactly one event bit to disable that event.
    pub const WSK_EVENT_DISABLE: u32 = 0x8000_0000;
    /// The events of a connection-oriented socket (also inheritable from a listener).
    pub const CONNECTION_EVENTS: u32 = WSK_EVENT_SEND_BACKLOG | WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT;
    /// The events a listening socket accepts: its own plus the inheritable connection events.
    pub const LISTEN_EVENTS: u32 = WSK_EVENT_ACCEPT | CONNECTION_EVENTS;
    /// The events of a datagram socket.
    pub const DATAGRAM_EVENTS: u32 = WSK_EVENT_RECEIVE_FROM;
}

/// `WskControlSocket` request types (`WSK_CONTROL_SOCKET_TYPE`).
pub mod control {
    /// `WskSetOption`.
    pub const WSK_SET_OPTION: u32 = 0;
    /// `WskGetOption`.
    pub const WSK_GET_OPTION: u32 = 1;
    /// `WskIoctl`.
    pub const WSK_IOCTL: u32 = 2;

    /// `SOL_SOCKET` on Windows.
    pub const SOL_SOCKET: u32 = 0xffff;
    /// `IPPROTO_IP`.
    pub const IPPROTO_IP: u32 = 0;
    /// `IPPROTO_TCP`.
    pub const IPPROTO_TCP: u32 = 6;
    /// `IPPROTO_UDP`.
    pub const IPPROTO_UDP: u32 = 17;
    /// `IPPROTO_IPV6`.
    pub const IPPROTO_IPV6: u32 = 41;
    /// `IPV6_V6ONLY` (Windows value).
    pub const IPV6_V6ONLY: u32 = 27;
    /// `TCP_NODELAY` (Windows value).
    pub const TCP_NODELAY: u32 = 0x0001;
    /// `SO_REUSEADDR` (Windows value).
    pub const SO_REUSEADDR: u32 = 0x0004;
    /// `SO_KEEPALIVE` (Windows value).
    pub const SO_KEEPALIVE: u32 = 0x0008;
    /// `SO_RCVBUF` (Windows value).
    pub const SO_RCVBUF: u32 = 0x1002;
    /// `SO_SNDBUF` (Windows value).
    pub const SO_SNDBUF: u32 = 0x1001;
    /// `SO_BROADCAST` (Windows value).
    pub const SO_BROADCAST: u32 = 0x0020;
    /// `SO_EXCLUSIVEADDRUSE` (Windows value: `~SO_REUSEADDR`).
    pub const SO_EXCLUSIVEADDRUSE: u32 = !SO_REUSEADDR;
    /// `SO_CONDITIONAL_ACCEPT`.
    pub const SO_CONDITIONAL_ACCEPT: u32 = 0x3002;
    /// `IP_TTL`.
    pub const IP_TTL: u32 = 4;
    /// `IP_MULTICAST_TTL`.
    pub const IP_MULTICAST_TTL: u32 = 10;
    /// `IP_MULTICAST_LOOP`.
    pub const IP_MULTICAST_LOOP: u32 = 11;
    /// `IP_ADD_MEMBERSHIP`.
    pub const IP_ADD_MEMBERSHIP: u32 = 12;
    /// `IP_DROP_MEMBERSHIP`.
    pub const IP_DROP_MEMBERSHIP: u32 = 13;
    /// `IP_PKTINFO`.
    pub const IP_PKTINFO: u32 = 19;
    /// `IPV6_UNICAST_HOPS`.
    pub const IPV6_UNICAST_HOPS: u32 = 4;
    /// `IPV6_MULTICAST_HOPS`.
    pub const IPV6_MULTICAST_HOPS: u32 = 10;
    /// `IPV6_MULTICAST_LOOP`.
    pub const IPV6_MULTICAST_LOOP: u32 = 11;
    /// `IPV6_ADD_MEMBERSHIP` (`IPV6_JOIN_GROUP`).
    pub const IPV6_ADD_MEMBERSHIP: u32 = 12;
    /// `IPV6_DROP_MEMBERSHIP` (`IPV6_LEAVE_GROUP`).
    pub const IPV6_DROP_MEMBERSHIP: u32 = 13;
    /// `IPV6_PKTINFO`.
    pub const IPV6_PKTINFO: u32 = 19;
    /// `TCP_KEEPALIVE` (Windows' `TCP_KEEPIDLE`), seconds.
    pub const TCP_KEEPALIVE: u32 = 3;
    /// `TCP_FASTOPEN`.
    pub const TCP_FASTOPEN: u32 = 15;
    /// `TCP_KEEPCNT`.
    pub const TCP_KEEPCNT: u32 = 16;
    /// `TCP_KEEPINTVL`, seconds.
    pub const TCP_KEEPINTVL: u32 = 17;
    /// `UDP_SEND_MSG_SIZE`.
    pub const UDP_SEND_MSG_SIZE: u32 = 2;
    /// `SO_WSK_SECURITY`.
    pub const SO_WSK_SECURITY: u32 = 0x4001;
    /// `SO_WSK_EVENT_CALLBACK`.
    pub const SO_WSK_EVENT_CALLBACK: u32 = 0x4002;
    /// `SIO_WSK_QUERY_IDEAL_SEND_BACKLOG`.
    pub const SIO_WSK_QUERY_IDEAL_SEND_BACKLOG: u32 = 0x4F00_0003;
    /// `SIO_WSK_QUERY_RECEIVE_BACKLOG`.
    pub const SIO_WSK_QUERY_RECEIVE_BACKLOG: u32 = 0x4F00_0004;
    /// `SIO_WSK_SET_REMOTE_ADDRESS`.
    pub const SIO_WSK_SET_REMOTE_ADDRESS: u32 = 0x8F00_0001;
    /// `SIO_WSK_REGISTER_EXTENSION`.
    pub const SIO_WSK_REGISTER_EXTENSION: u32 = 0xCF00_0002;
    /// `SIO_WSK_QUERY_INSPECT_ID`.
    pub const SIO_WSK_QUERY_INSPECT_ID: u32 = 0x4F00_0005;
    /// `SIO_WSK_SET_SENDTO_ADDRESS`.
    pub const SIO_WSK_SET_SENDTO_ADDRESS: u32 = 0x8F00_0006;
    /// `SIO_WSK_SET_TCP_SILENT_MODE`.
    pub const SIO_WSK_SET_TCP_SILENT_MODE: u32 = 0x2F00_0007;
    /// `SIO_ADDRESS_LIST_QUERY`.
    pub const SIO_ADDRESS_LIST_QUERY: u32 = 0x4800_0016;
    /// `SIO_ADDRESS_LIST_CHANGE`.
    pub const SIO_ADDRESS_LIST_CHANGE: u32 = 0x2800_0017;
    /// `SIO_ADDRESS_LIST_SORT`.
    pub const SIO_ADDRESS_LIST_SORT: u32 = 0xC800_0019;
}

/// `WskControlClient` control codes.
pub mod client_control {
    /// `WSK_TRANSPORT_LIST_QUERY`.
    pub const WSK_TRANSPORT_LIST_QUERY: u32 = 2;
    /// `WSK_TRANSPORT_LIST_CHANGE`.
    pub const WSK_TRANSPORT_LIST_CHANGE: u32 = 3;
    /// `WSK_CACHE_SD`.
    pub const WSK_CACHE_SD: u32 = 4;
    /// `WSK_RELEASE_SD`.
    pub const WSK_RELEASE_SD: u32 = 5;
    /// `WSK_TDI_DEVICENAME_MAPPING`.
    pub const WSK_TDI_DEVICENAME_MAPPING: u32 = 6;
    /// `WSK_SET_STATIC_EVENT_CALLBACKS`.
    pub const WSK_SET_STATIC_EVENT_CALLBACKS: u32 = 7;
    /// `WSK_TDI_BEHAVIOR`.
    pub const WSK_TDI_BEHAVIOR: u32 = 8;
}
