//! Socket options in host-neutral form, decoded from the Windows values `WskControlSocket`
//! receives (`Level`, `ControlCode`, the input buffer) and encoded back for `WskGetOption`.
//!
//! The provider-level options and IOCTLs of WSK (`SO_WSK_*`, `SIO_WSK_*`,
//! `SO_CONDITIONAL_ACCEPT`) are not here: they change provider state, not the host socket.
//! This module covers the standard options that a host socket carries, with their rules:
//! which categories take them, and which must come before bind.
//!
//! Answers for what is not offered follow Winsock: a name Windows does not know at that
//! level is `WSAENOPROTOOPT`, which WSK reports as `STATUS_INVALID_PARAMETER`; a name
//! Windows knows but this provider does not carry over (e.g. `SO_LINGER`, `IP_HDRINCL`)
//! is `STATUS_NOT_SUPPORTED`.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::consts::control::*;
use crate::event::Category;
use crate::status::NtStatus;

/// A multicast group membership (`IP_MREQ` / `IPV6_MREQ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Membership {
    /// `IP_MREQ`: the group and the address of the local interface (0.0.0.0 = any).
    V4 {
        /// The multicast group.
        group: Ipv4Addr,
        /// The local interface's address.
        interface: Ipv4Addr,
    },
    /// `IPV6_MREQ`: the group and the interface index (0 = any).
    V6 {
        /// The multicast group.
        group: Ipv6Addr,
        /// The interface index.
        interface: u32,
    },
}

/// A socket option with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SockOpt {
    /// `SO_REUSEADDR`.
    ReuseAddress(bool),
    /// `SO_EXCLUSIVEADDRUSE` (no host equivalent: the provider refuses `SO_REUSEADDR` with it).
    ExclusiveAddressUse(bool),
    /// `SO_KEEPALIVE` (inherited by accepted sockets).
    KeepAlive(bool),
    /// `SO_RCVBUF` in bytes, as the client set it (inherited by accepted sockets).
    ReceiveBuffer(u32),
    /// `SO_SNDBUF` in bytes.
    SendBuffer(u32),
    /// `SO_BROADCAST`.
    Broadcast(bool),
    /// `IPV6_V6ONLY`.
    V6Only(bool),
    /// `IP_PKTINFO` / `IPV6_PKTINFO`: receive the destination address and interface of each datagram.
    PacketInfo(bool),
    /// `IP_TTL`.
    Ttl(u32),
    /// `IPV6_UNICAST_HOPS`.
    UnicastHops(u32),
    /// `IP_MULTICAST_TTL` / `IPV6_MULTICAST_HOPS`.
    MulticastHops(u32),
    /// `IP_MULTICAST_LOOP` / `IPV6_MULTICAST_LOOP`.
    MulticastLoop(bool),
    /// `IP_ADD_MEMBERSHIP` / `IPV6_ADD_MEMBERSHIP` (set only).
    AddMembership(Membership),
    /// `IP_DROP_MEMBERSHIP` / `IPV6_DROP_MEMBERSHIP` (set only).
    DropMembership(Membership),
    /// `TCP_NODELAY`.
    NoDelay(bool),
    /// `TCP_KEEPALIVE` (Windows' name for `TCP_KEEPIDLE`), seconds.
    KeepIdle(u32),
    /// `TCP_KEEPINTVL`, seconds.
    KeepInterval(u32),
    /// `TCP_KEEPCNT`.
    KeepCount(u32),
    /// `TCP_FASTOPEN`: data may ride on the SYN of `WskConnectEx`.
    FastOpen(bool),
    /// `UDP_SEND_MSG_SIZE`: segment size for send offload (0 = off); needs host GSO.
    UdpSendMsgSize(u32),
}

/// The name of a [`SockOpt`], for `WskGetOption`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OptName {
    /// `SO_REUSEADDR`.
    ReuseAddress,
    /// `SO_EXCLUSIVEADDRUSE`.
    ExclusiveAddressUse,
    /// `SO_KEEPALIVE`.
    KeepAlive,
    /// `SO_RCVBUF`.
    ReceiveBuffer,
    /// `SO_SNDBUF`.
    SendBuffer,
    /// `SO_BROADCAST`.
    Broadcast,
    /// `IPV6_V6ONLY`.
    V6Only,
    /// `IP_PKTINFO` / `IPV6_PKTINFO`.
    PacketInfo,
    /// `IP_TTL`.
    Ttl,
    /// `IPV6_UNICAST_HOPS`.
    UnicastHops,
    /// `IP_MULTICAST_TTL` / `IPV6_MULTICAST_HOPS`.
    MulticastHops,
    /// `IP_MULTICAST_LOOP` / `IPV6_MULTICAST_LOOP`.
    MulticastLoop,
    /// `TCP_NODELAY`.
    NoDelay,
    /// `TCP_KEEPALIVE`.
    KeepIdle,
    /// `TCP_KEEPINTVL`.
    KeepInterval,
    /// `TCP_KEEPCNT`.
    KeepCount,
    /// `TCP_FASTOPEN`.
    FastOpen,
    /// `UDP_SEND_MSG_SIZE`.
    UdpSendMsgSize,
}

/// How a value is laid out in the client's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A `BOOL`/`DWORD` 0 or not (Winsock also takes a single byte for booleans; WSK
    /// clients pass ULONGs, so four bytes are required).
    Bool,
    /// A `DWORD`.
    U32,
    /// `IP_MREQ` / `IPV6_MREQ`.
    Mreq,
}

/// Windows option names that exist but are not carried over to the host.
const KNOWN_UNSUPPORTED: &[(u32, u32)] = &[
    (SOL_SOCKET, 0x0001),  // SO_DEBUG
    (SOL_SOCKET, 0x0010),  // SO_DONTROUTE
    (SOL_SOCKET, 0x0080),  // SO_LINGER
    (SOL_SOCKET, !0x0080), // SO_DONTLINGER
    (SOL_SOCKET, 0x0100),  // SO_OOBINLINE
    (SOL_SOCKET, 0x1003),  // SO_SNDLOWAT
    (SOL_SOCKET, 0x1004),  // SO_RCVLOWAT
    (SOL_SOCKET, 0x1005),  // SO_SNDTIMEO
    (SOL_SOCKET, 0x1006),  // SO_RCVTIMEO
    (SOL_SOCKET, 0x1007),  // SO_ERROR
    (SOL_SOCKET, 0x1008),  // SO_TYPE
    (SOL_SOCKET, 0x3005),  // SO_RANDOMIZE_PORT
    (SOL_SOCKET, 0x3006),  // SO_PORT_SCALABILITY
    (SOL_SOCKET, 0x3007),  // SO_REUSE_UNICASTPORT
    (IPPROTO_IP, 1),       // IP_OPTIONS
    (IPPROTO_IP, 2),       // IP_HDRINCL
    (IPPROTO_IP, 3),       // IP_TOS
    (IPPROTO_IP, 9),       // IP_MULTICAST_IF
    (IPPROTO_IP, 14),      // IP_DONTFRAGMENT
    (IPPROTO_IP, 31),      // IP_UNICAST_IF
    (IPPROTO_IP, 50),      // IP_ECN
    (IPPROTO_IP, 71),      // IP_MTU_DISCOVER
    (IPPROTO_IP, 75),      // IP_RECVERR
    (IPPROTO_IPV6, 9),     // IPV6_MULTICAST_IF
    (IPPROTO_IPV6, 14),    // IPV6_DONTFRAG
    (IPPROTO_IPV6, 31),    // IPV6_UNICAST_IF
    (IPPROTO_IPV6, 50),    // IPV6_ECN
    (IPPROTO_IPV6, 71),    // IPV6_MTU_DISCOVER
    (IPPROTO_IPV6, 75),    // IPV6_RECVERR
    (IPPROTO_TCP, 4),      // TCP_MAXSEG
    (IPPROTO_TCP, 5),      // TCP_MAXRT
    (IPPROTO_TCP, 12),     // TCP_CONGESTION_ALGORITHM
    (IPPROTO_UDP, 1),      // UDP_NOCHECKSUM
    (IPPROTO_UDP, 3),      // UDP_RECV_MAX_COALESCED_SIZE
];

impl OptName {
    /// Decodes a Windows `(Level, OptionName)` pair.
    ///
    /// # Errors
    /// `STATUS_NOT_SUPPORTED` for a Windows option this provider does not carry over,
    /// `STATUS_INVALID_PARAMETER` for a name Windows does not know at that level.
    pub fn decode(level: u32, name: u32) -> Result<OptName, NtStatus> {
        use OptName::*;
        let opt = match (level, name) {
            (SOL_SOCKET, SO_REUSEADDR) => ReuseAddress,
            (SOL_SOCKET, SO_EXCLUSIVEADDRUSE) => ExclusiveAddressUse,
            (SOL_SOCKET, SO_KEEPALIVE) => KeepAlive,
            (SOL_SOCKET, SO_RCVBUF) => ReceiveBuffer,
            (SOL_SOCKET, SO_SNDBUF) => SendBuffer,
            (SOL_SOCKET, SO_BROADCAST) => Broadcast,
            (IPPROTO_IPV6, IPV6_V6ONLY) => V6Only,
            (IPPROTO_IP, IP_PKTINFO) | (IPPROTO_IPV6, IPV6_PKTINFO) => PacketInfo,
            (IPPROTO_IP, IP_TTL) => Ttl,
            (IPPROTO_IPV6, IPV6_UNICAST_HOPS) => UnicastHops,
            (IPPROTO_IP, IP_MULTICAST_TTL) | (IPPROTO_IPV6, IPV6_MULTICAST_HOPS) => MulticastHops,
            (IPPROTO_IP, IP_MULTICAST_LOOP) | (IPPROTO_IPV6, IPV6_MULTICAST_LOOP) => MulticastLoop,
            (IPPROTO_TCP, TCP_NODELAY) => NoDelay,
            (IPPROTO_TCP, TCP_KEEPALIVE) => KeepIdle,
            (IPPROTO_TCP, TCP_KEEPINTVL) => KeepInterval,
            (IPPROTO_TCP, TCP_KEEPCNT) => KeepCount,
            (IPPROTO_TCP, TCP_FASTOPEN) => FastOpen,
            (IPPROTO_UDP, UDP_SEND_MSG_SIZE) => UdpSendMsgSize,
            // Set-only names are decoded by `SockOpt::decode`; a get of them is invalid.
            (IPPROTO_IP, IP_ADD_MEMBERSHIP | IP_DROP_MEMBERSHIP)
            | (IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP | IPV6_DROP_MEMBERSHIP) => return Err(NtStatus::INVALID_PARAMETER),
            key if KNOWN_UNSUPPORTED.contains(&key) => return Err(NtStatus::NOT_SUPPORTED),
            _ => return Err(NtStatus::INVALID_PARAMETER),
        };
        Ok(opt)
    }

    fn shape(self) -> Shape {
        use OptName::*;
        match self {
            ReuseAddress | ExclusiveAddressUse | KeepAlive | Broadcast | V6Only | PacketInfo | MulticastLoop
            | NoDelay | FastOpen => Shape::Bool,
            ReceiveBuffer | SendBuffer | Ttl | UnicastHops | MulticastHops | KeepIdle | KeepInterval | KeepCount
            | UdpSendMsgSize => Shape::U32,
        }
    }

    /// Whether sockets of `category` take this option (the reference's table; basic
    /// sockets take every option of their transport, since clients probe with them).
    pub fn applies_to(self, category: Category, tcp: bool) -> bool {
        use OptName::*;
        let (listen, datagram, connection) = match self {
            Broadcast | PacketInfo | MulticastHops | MulticastLoop | UdpSendMsgSize => (false, true, false),
            KeepAlive | NoDelay | KeepIdle | KeepInterval | KeepCount | FastOpen => (true, false, true),
            ReuseAddress | ExclusiveAddressUse | ReceiveBuffer | SendBuffer | V6Only | Ttl | UnicastHops => {
                (true, true, true)
            }
        };
        match category {
            Category::Basic => {
                if tcp {
                    listen || connection
                } else {
                    datagram
                }
            }
            Category::Listen => listen,
            Category::Datagram => datagram,
            Category::Connection => connection,
            Category::Stream => listen || connection,
        }
    }

    /// Options that only mean something before the socket is bound.
    pub fn before_bind_only(self) -> bool {
        matches!(self, OptName::ReuseAddress | OptName::ExclusiveAddressUse | OptName::V6Only)
    }

    /// Options of one address family: `Some(true)` IPv6 only, `Some(false)` IPv4 only.
    pub fn family(self) -> Option<bool> {
        match self {
            OptName::V6Only | OptName::UnicastHops => Some(true),
            OptName::Ttl => Some(false),
            _ => None,
        }
    }

    /// Encodes a value as `WskGetOption` returns it (a 4-byte ULONG for every name here).
    pub fn encode(value: SockOpt) -> [u8; 4] {
        use SockOpt::*;
        let v: u32 = match value {
            ReuseAddress(b)
            | ExclusiveAddressUse(b)
            | KeepAlive(b)
            | Broadcast(b)
            | V6Only(b)
            | PacketInfo(b)
            | MulticastLoop(b)
            | NoDelay(b)
            | FastOpen(b) => b as u32,
            ReceiveBuffer(v) | SendBuffer(v) | Ttl(v) | UnicastHops(v) | MulticastHops(v) | KeepIdle(v)
            | KeepInterval(v) | KeepCount(v) | UdpSendMsgSize(v) => v,
            AddMembership(_) | DropMembership(_) => 0,
        };
        v.to_ne_bytes()
    }
}

impl SockOpt {
    /// Decodes a `WskSetOption` request.
    ///
    /// # Errors
    /// As [`OptName::decode`], and `STATUS_INVALID_PARAMETER` for a value buffer too short
    /// for the option (or a membership of the wrong family for its level).
    pub fn decode(level: u32, name: u32, value: &[u8]) -> Result<SockOpt, NtStatus> {
        let membership = match (level, name) {
            (IPPROTO_IP, IP_ADD_MEMBERSHIP | IP_DROP_MEMBERSHIP) => {
                let b: [u8; 8] = value.get(..8).and_then(|b| b.try_into().ok()).ok_or(NtStatus::INVALID_PARAMETER)?;
                let group = Ipv4Addr::new(b[0], b[1], b[2], b[3]);
                let interface = Ipv4Addr::new(b[4], b[5], b[6], b[7]);
                Some(Membership::V4 { group, interface })
            }
            (IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP | IPV6_DROP_MEMBERSHIP) => {
                let b = value.get(..20).ok_or(NtStatus::INVALID_PARAMETER)?;
                let group = Ipv6Addr::from(<[u8; 16]>::try_from(&b[..16]).expect("16 bytes"));
                let interface = u32::from_ne_bytes(b[16..20].try_into().expect("4 bytes"));
                Some(Membership::V6 { group, interface })
            }
            _ => None,
        };
        if let Some(m) = membership {
            let add = name == IP_ADD_MEMBERSHIP; // == IPV6_ADD_MEMBERSHIP (12)
            return Ok(if add { SockOpt::AddMembership(m) } else { SockOpt::DropMembership(m) });
        }
        let opt = OptName::decode(level, name)?;
        let raw: [u8; 4] = value.get(..4).and_then(|b| b.try_into().ok()).ok_or(NtStatus::INVALID_PARAMETER)?;
        let v = u32::from_ne_bytes(raw);
        debug_assert_ne!(opt.shape(), Shape::Mreq);
        Ok(opt.with_value(v))
    }

    /// The name of this option (`None` for the set-only memberships).
    pub fn name(self) -> Option<OptName> {
        use SockOpt::*;
        Some(match self {
            ReuseAddress(_) => OptName::ReuseAddress,
            ExclusiveAddressUse(_) => OptName::ExclusiveAddressUse,
            KeepAlive(_) => OptName::KeepAlive,
            ReceiveBuffer(_) => OptName::ReceiveBuffer,
            SendBuffer(_) => OptName::SendBuffer,
            Broadcast(_) => OptName::Broadcast,
            V6Only(_) => OptName::V6Only,
            PacketInfo(_) => OptName::PacketInfo,
            Ttl(_) => OptName::Ttl,
            UnicastHops(_) => OptName::UnicastHops,
            MulticastHops(_) => OptName::MulticastHops,
            MulticastLoop(_) => OptName::MulticastLoop,
            NoDelay(_) => OptName::NoDelay,
            KeepIdle(_) => OptName::KeepIdle,
            KeepInterval(_) => OptName::KeepInterval,
            KeepCount(_) => OptName::KeepCount,
            FastOpen(_) => OptName::FastOpen,
            UdpSendMsgSize(_) => OptName::UdpSendMsgSize,
            AddMembership(_) | DropMembership(_) => return None,
        })
    }
}

impl OptName {
    /// This option with the raw ULONG value `v` (non-zero = on for booleans).
    pub fn with_value(self, v: u32) -> SockOpt {
        use OptName::*;
        let b = v != 0;
        match self {
            ReuseAddress => SockOpt::ReuseAddress(b),
            ExclusiveAddressUse => SockOpt::ExclusiveAddressUse(b),
            KeepAlive => SockOpt::KeepAlive(b),
            ReceiveBuffer => SockOpt::ReceiveBuffer(v),
            SendBuffer => SockOpt::SendBuffer(v),
            Broadcast => SockOpt::Broadcast(b),
            V6Only => SockOpt::V6Only(b),
            PacketInfo => SockOpt::PacketInfo(b),
            Ttl => SockOpt::Ttl(v),
            UnicastHops => SockOpt::UnicastHops(v),
            MulticastHops => SockOpt::MulticastHops(v),
            MulticastLoop => SockOpt::MulticastLoop(b),
            NoDelay => SockOpt::NoDelay(b),
            KeepIdle => SockOpt::KeepIdle(v),
            KeepInterval => SockOpt::KeepInterval(v),
            KeepCount => SockOpt::KeepCount(v),
            FastOpen => SockOpt::FastOpen(b),
            UdpSendMsgSize => SockOpt::UdpSendMsgSize(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_windows_values() {
        assert_eq!(SockOpt::decode(SOL_SOCKET, 4, &1u32.to_ne_bytes()), Ok(SockOpt::ReuseAddress(true)));
        assert_eq!(SockOpt::decode(SOL_SOCKET, !4, &1u32.to_ne_bytes()), Ok(SockOpt::ExclusiveAddressUse(true)));
        assert_eq!(SockOpt::decode(SOL_SOCKET, 0x1002, &4096u32.to_ne_bytes()), Ok(SockOpt::ReceiveBuffer(4096)));
        assert_eq!(SockOpt::decode(IPPROTO_IPV6, 27, &0u32.to_ne_bytes()), Ok(SockOpt::V6Only(false)));
        assert_eq!(SockOpt::decode(IPPROTO_TCP, 3, &30u32.to_ne_bytes()), Ok(SockOpt::KeepIdle(30)));
        assert_eq!(SockOpt::decode(IPPROTO_UDP, 2, &1200u32.to_ne_bytes()), Ok(SockOpt::UdpSendMsgSize(1200)));
    }

    #[test]
    fn memberships() {
        let mreq = [224, 0, 0, 1, 127, 0, 0, 1];
        let group = Ipv4Addr::new(224, 0, 0, 1);
        let want = SockOpt::AddMembership(Membership::V4 { group, interface: Ipv4Addr::LOCALHOST });
        assert_eq!(SockOpt::decode(IPPROTO_IP, 12, &mreq), Ok(want));
        let mut mreq6 = [0u8; 20];
        mreq6[0] = 0xff;
        mreq6[1] = 0x02;
        mreq6[15] = 1;
        mreq6[16..].copy_from_slice(&3u32.to_ne_bytes());
        match SockOpt::decode(IPPROTO_IPV6, 13, &mreq6) {
            Ok(SockOpt::DropMembership(Membership::V6 { group, interface: 3 })) => {
                assert_eq!(group, "ff02::1".parse::<Ipv6Addr>().unwrap())
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(SockOpt::decode(IPPROTO_IP, 12, &mreq[..7]), Err(NtStatus::INVALID_PARAMETER));
        assert_eq!(OptName::decode(IPPROTO_IP, 12), Err(NtStatus::INVALID_PARAMETER));
    }

    #[test]
    fn unknown_and_unsupported() {
        assert_eq!(OptName::decode(SOL_SOCKET, 0x0080), Err(NtStatus::NOT_SUPPORTED));
        assert_eq!(OptName::decode(IPPROTO_IP, 2), Err(NtStatus::NOT_SUPPORTED));
        assert_eq!(OptName::decode(SOL_SOCKET, 0x7777), Err(NtStatus::INVALID_PARAMETER));
        assert_eq!(OptName::decode(12345, 1), Err(NtStatus::INVALID_PARAMETER));
        assert_eq!(SockOpt::decode(SOL_SOCKET, 4, &[1, 0]), Err(NtStatus::INVALID_PARAMETER));
    }

    #[test]
    fn rules() {
        assert!(OptName::Broadcast.applies_to(Category::Datagram, false));
        assert!(!OptName::Broadcast.applies_to(Category::Connection, true));
        assert!(OptName::KeepAlive.applies_to(Category::Listen, true));
        assert!(!OptName::KeepAlive.applies_to(Category::Datagram, false));
        assert!(OptName::Broadcast.applies_to(Category::Basic, false));
        assert!(!OptName::Broadcast.applies_to(Category::Basic, true));
        assert!(OptName::ReuseAddress.before_bind_only());
        assert_eq!(OptName::encode(SockOpt::ReceiveBuffer(8192)), 8192u32.to_ne_bytes());
        assert_eq!(OptName::encode(SockOpt::NoDelay(true)), 1u32.to_ne_bytes());
    }
}
