//! The host's addresses: `getifaddrs(3)` for `SIO_ADDRESS_LIST_QUERY`, and a routing
//! netlink socket subscribed to address changes for `SIO_ADDRESS_LIST_CHANGE`.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, OnceLock};

use mio::{Interest, Registry};
use wsk_core::backend::{AddressWatch, Token};

/// The addresses of interfaces that are up, IPv4 first, in the host's order; port 0, and
/// IPv6 ones with their scope id (a link-local address means nothing without it).
pub(crate) fn interface_addresses() -> io::Result<Vec<SocketAddr>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head through the pointer to a live local.
    if unsafe { libc::getifaddrs(&mut head) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    let mut cursor = head;
    while !cursor.is_null() {
        // SAFETY: `cursor` is a node of the list getifaddrs returned, alive until freeifaddrs.
        let ifa = unsafe { &*cursor };
        cursor = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_flags & libc::IFF_UP as libc::c_uint == 0 {
            continue;
        }
        // SAFETY: ifa_addr points to a sockaddr whose family says which struct it is.
        match i32::from(unsafe { (*ifa.ifa_addr).sa_family }) {
            libc::AF_INET => {
                // SAFETY: an AF_INET address is a sockaddr_in.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                v4.push(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)), 0)));
            }
            libc::AF_INET6 => {
                // SAFETY: an AF_INET6 address is a sockaddr_in6.
                let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                v6.push(SocketAddr::V6(SocketAddrV6::new(ip, 0, 0, sin6.sin6_scope_id)));
            }
            _ => {}
        }
    }
    // SAFETY: `head` came from getifaddrs and is freed once, after the last use.
    unsafe { libc::freeifaddrs(head) };
    v4.extend(v6);
    Ok(v4)
}

/// A netlink socket subscribed to IPv4 and IPv6 address changes.
pub(crate) struct NetlinkWatch {
    fd: OwnedFd,
    registry: Arc<Registry>,
    registered: OnceLock<()>,
}

impl NetlinkWatch {
    pub(crate) fn new(registry: Arc<Registry>) -> io::Result<Self> {
        // SAFETY: plain socket(2) call; the descriptor is owned at once below.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_nl is plain data; all-zero is valid before the fields are set.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = (libc::RTMGRP_IPV4_IFADDR | libc::RTMGRP_IPV6_IFADDR) as u32;
        // SAFETY: the pointer and length describe `addr`, a live sockaddr_nl.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &addr as *const libc::sockaddr_nl as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(NetlinkWatch { fd, registry, registered: OnceLock::new() })
    }
}

impl AddressWatch for NetlinkWatch {
    fn register(&self, token: Token) -> io::Result<()> {
        let mut source = mio::unix::SourceFd(&self.fd.as_raw_fd());
        self.registry.register(&mut source, mio::Token(token), Interest::READABLE)?;
        let _ = self.registered.set(());
        Ok(())
    }

    fn changed(&self) -> io::Result<bool> {
        let mut buf = [0u8; 8192];
        let mut changed = false;
        loop {
            // SAFETY: the pointer and length describe `buf`, a live local buffer.
            let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
            if n < 0 {
                let e = io::Error::last_os_error();
                return match e.kind() {
                    io::ErrorKind::WouldBlock => Ok(changed),
                    io::ErrorKind::Interrupted => continue,
                    // ENOBUFS: messages were lost, so something changed.
                    _ if e.raw_os_error() == Some(libc::ENOBUFS) => {
                        changed = true;
                        continue;
                    }
                    _ => Err(e),
                };
            }
            changed |= has_address_message(&buf[..n as usize]);
        }
    }
}

/// Whether a netlink datagram holds an RTM_NEWADDR or RTM_DELADDR message.
fn has_address_message(mut data: &[u8]) -> bool {
    const HEADER: usize = std::mem::size_of::<libc::nlmsghdr>();
    while data.len() >= HEADER {
        let len = u32::from_ne_bytes(data[0..4].try_into().expect("4 bytes")) as usize;
        let kind = u16::from_ne_bytes(data[4..6].try_into().expect("2 bytes"));
        if kind == libc::RTM_NEWADDR || kind == libc::RTM_DELADDR {
            return true;
        }
        let step = (len + 3) & !3;
        if len < HEADER || step > data.len() {
            break;
        }
        data = &data[step..];
    }
    false
}

impl Drop for NetlinkWatch {
    fn drop(&mut self) {
        if self.registered.get().is_some() {
            let _ = self.registry.deregister(&mut mio::unix::SourceFd(&self.fd.as_raw_fd()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_listed() {
        let addrs = interface_addresses().unwrap();
        assert!(addrs.contains(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0))), "{addrs:?}");
        let first_v6 = addrs.iter().position(SocketAddr::is_ipv6).unwrap_or(addrs.len());
        assert!(addrs[..first_v6].iter().all(SocketAddr::is_ipv4));
    }

    #[test]
    fn address_messages_are_recognised() {
        let mut msg = [0u8; 16];
        msg[0..4].copy_from_slice(&16u32.to_ne_bytes());
        msg[4..6].copy_from_slice(&libc::RTM_NEWADDR.to_ne_bytes());
        assert!(has_address_message(&msg));
        msg[4..6].copy_from_slice(&libc::RTM_NEWLINK.to_ne_bytes());
        assert!(!has_address_message(&msg));
        assert!(!has_address_message(&msg[..10]));
    }
}
