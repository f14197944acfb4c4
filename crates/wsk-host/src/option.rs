//! Standard socket options on Linux sockets: the host side of [`SockOpt`].
//!
//! Windows and Linux name the same options with different numbers (and sometimes
//! different semantics); this is the one place that maps them:
//! - `SO_RCVBUF`/`SO_SNDBUF`: Linux doubles the value it is given and reports the doubled
//!   value; the client reads back what it set (half of what Linux reports).
//! - `IP_PKTINFO`/`IPV6_PKTINFO` as a socket option means "report packet info on receive":
//!   `IP_PKTINFO` / `IPV6_RECVPKTINFO` on Linux.
//! - `TCP_FASTOPEN` on a connecting socket is `TCP_FASTOPEN_CONNECT`; on a listener it is
//!   `TCP_FASTOPEN` with a queue length.
//! - `UDP_SEND_MSG_SIZE` is `UDP_SEGMENT` (GSO); a host without it answers `ENOPROTOOPT`.
//! - `SO_EXCLUSIVEADDRUSE` has no host option: the provider keeps it (see the socket layer).

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use socket2::SockRef;
use wsk_core::option::{Membership, OptName, SockOpt};

fn setsockopt_int(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: the pointer and length describe `value`, a live c_int local.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &value as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn getsockopt_int(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the pointer and length describe `value`, a live c_int local; the kernel
    // writes at most `len` bytes and updates `len`.
    let rc =
        unsafe { libc::getsockopt(fd, level, name, &mut value as *mut libc::c_int as *mut libc::c_void, &mut len) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value)
}

fn is_v6(fd: RawFd) -> io::Result<bool> {
    Ok(getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_DOMAIN)? == libc::AF_INET6)
}

fn is_listening(fd: RawFd) -> io::Result<bool> {
    Ok(getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN)? != 0)
}

/// The Linux `(level, name)` of an integer-valued option on a socket of family `v6`.
fn linux_name(name: OptName, v6: bool, listening: bool) -> io::Result<(libc::c_int, libc::c_int)> {
    use OptName::*;
    Ok(match name {
        ReuseAddress => (libc::SOL_SOCKET, libc::SO_REUSEADDR),
        KeepAlive => (libc::SOL_SOCKET, libc::SO_KEEPALIVE),
        ReceiveBuffer => (libc::SOL_SOCKET, libc::SO_RCVBUF),
        SendBuffer => (libc::SOL_SOCKET, libc::SO_SNDBUF),
        Broadcast => (libc::SOL_SOCKET, libc::SO_BROADCAST),
        V6Only => (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY),
        PacketInfo if v6 => (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO),
        PacketInfo => (libc::IPPROTO_IP, libc::IP_PKTINFO),
        Ttl => (libc::IPPROTO_IP, libc::IP_TTL),
        UnicastHops => (libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS),
        MulticastHops if v6 => (libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS),
        MulticastHops => (libc::IPPROTO_IP, libc::IP_MULTICAST_TTL),
        MulticastLoop if v6 => (libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP),
        MulticastLoop => (libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP),
        NoDelay => (libc::IPPROTO_TCP, libc::TCP_NODELAY),
        KeepIdle => (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE),
        KeepInterval => (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL),
        KeepCount => (libc::IPPROTO_TCP, libc::TCP_KEEPCNT),
        FastOpen if listening => (libc::IPPROTO_TCP, libc::TCP_FASTOPEN),
        FastOpen => (libc::IPPROTO_TCP, libc::TCP_FASTOPEN_CONNECT),
        UdpSendMsgSize => (libc::IPPROTO_UDP, libc::UDP_SEGMENT),
        ExclusiveAddressUse => return Err(io::ErrorKind::Unsupported.into()),
    })
}

/// Implements `OptionSocket` for a host socket type through its field holding the socket
/// (anything `socket2::SockRef` takes).
macro_rules! option_socket {
    ($ty:ty, $field:tt) => {
        impl wsk_core::backend::OptionSocket for $ty {
            fn set_option(&self, option: &wsk_core::option::SockOpt) -> std::io::Result<()> {
                $crate::option::set(socket2::SockRef::from(&self.$field), option)
            }

            fn get_option(&self, name: wsk_core::option::OptName) -> std::io::Result<wsk_core::option::SockOpt> {
                $crate::option::get(socket2::SockRef::from(&self.$field), name)
            }
        }
    };
}
pub(crate) use option_socket;

/// Queue length given to `TCP_FASTOPEN` on a listener when the client turns it on.
const FASTOPEN_QUEUE: libc::c_int = 64;

/// Sets `option` on the host socket `socket`.
pub(crate) fn set(socket: SockRef<'_>, option: &SockOpt) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    match *option {
        SockOpt::AddMembership(m) => membership(socket, m, true),
        SockOpt::DropMembership(m) => membership(socket, m, false),
        other => {
            let name = other.name().expect("not a membership");
            let (level, optname) = linux_name(name, is_v6(fd)?, is_listening(fd)?)?;
            let raw = u32::from_ne_bytes(OptName::encode(other));
            let value = match other {
                SockOpt::FastOpen(true) if optname == libc::TCP_FASTOPEN => FASTOPEN_QUEUE,
                _ => raw.min(i32::MAX as u32) as libc::c_int,
            };
            setsockopt_int(fd, level, optname, value)
        }
    }
}

/// Reads the option `name` of the host socket `socket`.
pub(crate) fn get(socket: SockRef<'_>, name: OptName) -> io::Result<SockOpt> {
    let fd = socket.as_raw_fd();
    let (level, optname) = linux_name(name, is_v6(fd)?, is_listening(fd)?)?;
    let mut value = getsockopt_int(fd, level, optname)?;
    if matches!(name, OptName::ReceiveBuffer | OptName::SendBuffer) {
        // Linux reports twice what was asked (room for its bookkeeping).
        value /= 2;
    }
    Ok(name.with_value(value.max(0) as u32))
}

fn membership(socket: SockRef<'_>, m: Membership, join: bool) -> io::Result<()> {
    match (m, join) {
        (Membership::V4 { group, interface }, true) => socket.join_multicast_v4(&group, &interface),
        (Membership::V4 { group, interface }, false) => socket.leave_multicast_v4(&group, &interface),
        (Membership::V6 { group, interface }, true) => socket.join_multicast_v6(&group, interface),
        (Membership::V6 { group, interface }, false) => socket.leave_multicast_v6(&group, interface),
    }
}

/// `TCP_REPAIR` on: the connection is frozen — nothing is sent any more, and closing the
/// socket sends neither FIN nor RST. Needs `CAP_NET_ADMIN` (`EPERM` otherwise).
pub(crate) fn set_repair(socket: &socket2::Socket) -> io::Result<()> {
    setsockopt_int(socket.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_REPAIR, 1)
}
