//! UDP sockets of the host backend: `sendmsg` / `sendmmsg` / `recvmsg` with control
//! messages translated between the provider's typed [`ControlMessage`]s (Windows
//! semantics) and Linux's own cmsgs.
//!
//! Every socket has `IP_PKTINFO` / `IPV6_RECVPKTINFO` on from creation, so the
//! destination address of each datagram is known: Linux does not report whether a
//! datagram was broadcast or multicast (Windows' `MSG_BCAST` / `MSG_MCAST`), so that is
//! derived from it — multicast when the destination is a multicast group; broadcast
//! (IPv4) when the destination differs from the local address the host chose for the
//! reply (`ipi_spec_dst`), which for a local unicast datagram is the destination itself.
//! `SO_RXQ_OVFL` is on too: each datagram carries the host's count of datagrams dropped
//! on the socket because its receive queue was full.
//!
//! Translation on send (Windows message → Linux cmsg):
//! - `IP_PKTINFO {addr, ifindex}` → `IP_PKTINFO {ipi_ifindex, ipi_spec_dst = addr}`
//!   (Linux takes the source address from `ipi_spec_dst`; Windows from `ipi_addr`);
//! - `IPV6_PKTINFO` → `IPV6_PKTINFO` (same fields);
//! - TTL / hop limit → `IP_TTL` / `IPV6_HOPLIMIT`;
//! - `UDP_SEND_MSG_SIZE` (`DWORD`) → `UDP_SEGMENT` (`u16`; larger values are `EINVAL`);
//! - anything else is not sent (the host's numbering is not Windows'; Windows clients
//!   such as WireGuard add an empty `IP_OPTIONS` / `IPV6_RTHDR` message that means nothing).
//!
//! On receive, Linux `IP_PKTINFO` becomes `IN_PKTINFO {ipi_addr = the header's
//! destination, ipi_ifindex}`, `IP_TTL` / `IPV6_HOPLIMIT` the hop limits, `UDP_GRO` the
//! coalesced info; other host cmsgs are not reported.

use std::io::{self, IoSlice};
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, OnceLock};

use mio::{Interest, Registry};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use wsk_core::backend::{self, Datagram, Token};
use wsk_core::cmsg::ControlMessage;

/// Bytes of host control data per datagram: room for every cmsg the socket enables.
const CONTROL_SIZE: usize = 256;
/// The most datagrams one `sendmmsg` takes (`UIO_MAXIOV`).
const MAX_BATCH: usize = 1024;

/// A control buffer aligned for `cmsghdr`.
#[repr(C, align(8))]
struct ControlBuf([u8; CONTROL_SIZE]);

pub(crate) struct HostUdp {
    socket: Socket,
    v6: bool,
    registry: Arc<Registry>,
    registered: OnceLock<()>,
    /// The address given to `bind`, to bind again after `disconnect` (see there).
    bound: Mutex<Option<SocketAddr>>,
}

impl HostUdp {
    pub(crate) fn new(family_of: &SocketAddr, registry: Arc<Registry>) -> io::Result<HostUdp> {
        let v6 = family_of.is_ipv6();
        let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
        let socket = Socket::new(domain, Type::DGRAM.nonblocking().cloexec(), Some(Protocol::UDP))?;
        let fd = socket.as_raw_fd();
        if v6 {
            // Windows datagram sockets of AF_INET6 are IPv6-only unless told otherwise.
            socket.set_only_v6(true)?;
            set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
            // A dual-stack socket also receives IPv4 datagrams: their IPv4 packet information
            // tells a broadcast apart (IPv6 has none, and its mapped form does not say).
            let _ = set_int(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1);
        } else {
            set_int(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
        }
        set_int(fd, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1)?;
        Ok(HostUdp { socket, v6, registry, registered: OnceLock::new(), bound: Mutex::new(None) })
    }

    fn fd(&self) -> i32 {
        self.socket.as_raw_fd()
    }
}

impl backend::UdpSocket for HostUdp {
    fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        self.socket.bind(&SockAddr::from(addr))?;
        *self.bound.lock().unwrap_or_else(|e| e.into_inner()) = Some(addr);
        Ok(())
    }

    fn register(&self, token: Token) -> io::Result<()> {
        // Reads only: writes are watched while a send waits (`watch_writable`).
        let mut source = mio::unix::SourceFd(&self.socket.as_raw_fd());
        self.registry.register(&mut source, mio::Token(token), Interest::READABLE)?;
        let _ = self.registered.set(());
        Ok(())
    }

    fn watch_writable(&self, token: Token, on: bool) -> io::Result<()> {
        let interest = if on { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
        let mut source = mio::unix::SourceFd(&self.socket.as_raw_fd());
        self.registry.reregister(&mut source, mio::Token(token), interest)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an inet socket"))
    }

    fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        self.socket.connect(&SockAddr::from(addr))
    }

    fn disconnect(&self) -> io::Result<()> {
        // Linux dissolves a UDP association with connect(AF_UNSPEC) — and, when the socket
        // was bound to port 0, also gives up the port the host picked (the bind did not
        // lock it). The socket is then unbound again, so it is bound once more to the
        // address it had; datagrams arriving in that instant are lost, as UDP may.
        let before = self.local_addr()?;
        crate::disconnect_in_place(self.fd())?;
        if self.local_addr().is_ok_and(|a| a.port() == 0) {
            let bound = *self.bound.lock().unwrap_or_else(|e| e.into_inner());
            let again = SocketAddr::new(bound.map_or(before.ip(), |b| b.ip()), before.port());
            self.socket.bind(&SockAddr::from(again))?;
        }
        Ok(())
    }

    fn send_to(&self, bufs: &[IoSlice<'_>], to: Option<SocketAddr>, control: &[ControlMessage]) -> io::Result<usize> {
        let addr = to.map(SockAddr::from);
        let mut cbuf = ControlBuf([0; CONTROL_SIZE]);
        let control_len = encode_control(control, self.v6, &mut cbuf)?;
        // SAFETY: msghdr is plain old data; all-zero is a valid (empty) value.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        fill_msghdr(&mut msg, addr.as_ref(), bufs, &mut cbuf, control_len);
        loop {
            // SAFETY: `msg` points at `addr` (or NULL), the caller's slices (IoSlice is
            // ABI-compatible with iovec on Unix) and `cbuf`, all alive for this call; sendmsg
            // only reads them.
            let n = unsafe { libc::sendmsg(self.fd(), &msg, libc::MSG_NOSIGNAL) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    fn send_batch(
        &self,
        datagrams: &[&[IoSlice<'_>]],
        to: Option<SocketAddr>,
        control: &[ControlMessage],
    ) -> io::Result<usize> {
        if datagrams.is_empty() {
            return Ok(0);
        }
        let addr = to.map(SockAddr::from);
        let mut cbuf = ControlBuf([0; CONTROL_SIZE]);
        let control_len = encode_control(control, self.v6, &mut cbuf)?;
        let batch = &datagrams[..datagrams.len().min(MAX_BATCH)];
        let mut msgs: Vec<libc::mmsghdr> = Vec::with_capacity(batch.len());
        for bufs in batch {
            // SAFETY: mmsghdr is plain old data; all-zero is a valid (empty) value.
            let mut m: libc::mmsghdr = unsafe { zeroed() };
            fill_msghdr(&mut m.msg_hdr, addr.as_ref(), bufs, &mut cbuf, control_len);
            msgs.push(m);
        }
        loop {
            // SAFETY: every header points at `addr` (or NULL), that datagram's slices and the
            // shared `cbuf`, all alive for this call; sendmmsg reads them and writes only
            // each header's msg_len.
            let n =
                unsafe { libc::sendmmsg(self.fd(), msgs.as_mut_ptr(), msgs.len() as libc::c_uint, libc::MSG_NOSIGNAL) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    fn recv_from(&self, buf: &mut [u8]) -> io::Result<Datagram> {
        // SAFETY: sockaddr_storage and msghdr are plain old data; all-zero is valid.
        let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        let mut cbuf = ControlBuf([0; CONTROL_SIZE]);
        // SAFETY: as above.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_name = (&mut storage as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.0.as_mut_ptr().cast();
        msg.msg_controllen = CONTROL_SIZE as _;
        let n = loop {
            // SAFETY: `msg` points at `storage`, `iov` (describing `buf`) and `cbuf`, all
            // alive and writable for their stated lengths. MSG_TRUNC makes the host return
            // the datagram's full length even when `buf` is shorter.
            let n = unsafe { libc::recvmsg(self.fd(), &mut msg, libc::MSG_TRUNC) };
            if n >= 0 {
                break n as usize;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        };
        // SAFETY: the host wrote a socket address of `msg_namelen` bytes into `storage`.
        let source = unsafe { SockAddr::new(storage, msg.msg_namelen) }
            .as_socket()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "datagram from a non-inet address"))?;
        let mut datagram = Datagram {
            len: n,
            source,
            truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
            control_truncated: msg.msg_flags & libc::MSG_CTRUNC != 0,
            control: Vec::new(),
            broadcast: false,
            multicast: false,
            host_drops: None,
        };
        for (level, kind, data) in received_control(&msg) {
            decode_control(level, kind, &data, &mut datagram, self.v6);
        }
        Ok(datagram)
    }

    fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.socket.take_error()
    }

    fn raw_fd(&self) -> i32 {
        self.fd()
    }
}

crate::option::option_socket!(HostUdp, socket);

impl Drop for HostUdp {
    fn drop(&mut self) {
        if self.registered.get().is_some() {
            let _ = self.registry.deregister(&mut mio::unix::SourceFd(&self.socket.as_raw_fd()));
        }
    }
}

/// Points `msg` at the address, the data slices and the first `control_len` bytes of `cbuf`.
fn fill_msghdr(
    msg: &mut libc::msghdr,
    addr: Option<&SockAddr>,
    bufs: &[IoSlice<'_>],
    cbuf: &mut ControlBuf,
    control_len: usize,
) {
    if let Some(a) = addr {
        msg.msg_name = a.as_ptr() as *mut libc::c_void;
        msg.msg_namelen = a.len();
    }
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = bufs.len() as _;
    if control_len > 0 {
        msg.msg_control = cbuf.0.as_mut_ptr().cast();
        msg.msg_controllen = control_len as _;
    }
}

fn set_int(fd: i32, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: the pointer and length describe `value`, a live c_int.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The host cmsgs `(level, type, data)` for the typed messages of a send.
fn host_messages(control: &[ControlMessage], v6: bool) -> io::Result<Vec<(libc::c_int, libc::c_int, Vec<u8>)>> {
    let invalid = || io::Error::from_raw_os_error(libc::EINVAL);
    let mut out = Vec::with_capacity(control.len());
    for m in control {
        match *m {
            ControlMessage::PacketInfo { addr: IpAddr::V4(a), interface } if !v6 => {
                // struct in_pktinfo { int ipi_ifindex; in_addr ipi_spec_dst; in_addr ipi_addr; }
                let mut d = Vec::with_capacity(12);
                d.extend_from_slice(&(interface as libc::c_int).to_ne_bytes());
                d.extend_from_slice(&a.octets());
                d.extend_from_slice(&[0; 4]);
                out.push((libc::IPPROTO_IP, libc::IP_PKTINFO, d));
            }
            ControlMessage::PacketInfo { addr: IpAddr::V6(a), interface } if v6 => {
                // struct in6_pktinfo { in6_addr ipi6_addr; unsigned int ipi6_ifindex; }
                let mut d = a.octets().to_vec();
                d.extend_from_slice(&interface.to_ne_bytes());
                out.push((libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, d));
            }
            ControlMessage::PacketInfo { .. } => return Err(invalid()),
            ControlMessage::Ttl(ttl) if !v6 => out.push((libc::IPPROTO_IP, libc::IP_TTL, ttl.to_ne_bytes().to_vec())),
            ControlMessage::HopLimit(hops) if v6 => {
                out.push((libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT, hops.to_ne_bytes().to_vec()))
            }
            ControlMessage::Ttl(_) | ControlMessage::HopLimit(_) => return Err(invalid()),
            ControlMessage::SendMessageSize(size) => {
                let size = u16::try_from(size).map_err(|_| invalid())?;
                out.push((libc::SOL_UDP, libc::UDP_SEGMENT, size.to_ne_bytes().to_vec()));
            }
            // Receive-only, or not the host's to interpret (see the module docs).
            ControlMessage::CoalescedInfo(_) | ControlMessage::Other { .. } => {}
        }
    }
    Ok(out)
}

/// Writes the host cmsgs for `control` into `cbuf`; returns the control length.
fn encode_control(control: &[ControlMessage], v6: bool, cbuf: &mut ControlBuf) -> io::Result<usize> {
    let messages = host_messages(control, v6)?;
    if messages.is_empty() {
        return Ok(0);
    }
    // SAFETY: CMSG_SPACE is arithmetic on its argument.
    let total: usize = messages.iter().map(|(_, _, d)| unsafe { libc::CMSG_SPACE(d.len() as u32) } as usize).sum();
    if total > CONTROL_SIZE {
        return Err(io::Error::from_raw_os_error(libc::ENOBUFS));
    }
    // SAFETY: msghdr is plain old data; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    msg.msg_controllen = total as _;
    // SAFETY: `msg` describes `cbuf` (8-aligned, `total` <= its size bytes), which has room
    // for every header and its data (the sum of their CMSG_SPACE); CMSG_FIRSTHDR/NXTHDR
    // stay within it, and each write covers CMSG_LEN(data) <= CMSG_SPACE(data) bytes.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        for (level, kind, data) in &messages {
            debug_assert!(!cmsg.is_null());
            (*cmsg).cmsg_level = *level;
            (*cmsg).cmsg_type = *kind;
            (*cmsg).cmsg_len = libc::CMSG_LEN(data.len() as u32) as _;
            std::ptr::copy_nonoverlapping(data.as_ptr(), libc::CMSG_DATA(cmsg), data.len());
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok(total)
}

/// The cmsgs the host wrote for a received datagram, as `(level, type, data)`.
fn received_control(msg: &libc::msghdr) -> Vec<(libc::c_int, libc::c_int, Vec<u8>)> {
    let mut out = Vec::new();
    if msg.msg_control.is_null() || msg.msg_controllen == 0 {
        return out;
    }
    let start = msg.msg_control as usize;
    // msg_controllen is a size_t with glibc and a socklen_t with musl.
    #[allow(clippy::unnecessary_cast)]
    let end = start + msg.msg_controllen as usize;
    // SAFETY: recvmsg set msg_controllen to the bytes of cmsgs it wrote into the control
    // buffer; FIRSTHDR/NXTHDR only return headers inside it, and each header's data is
    // read only up to its cmsg_len, checked against the end of the written bytes.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            let data = libc::CMSG_DATA(cmsg);
            let len = ((*cmsg).cmsg_len as usize).saturating_sub(data as usize - cmsg as usize);
            if data as usize + len > end {
                break;
            }
            let bytes = std::slice::from_raw_parts(data, len).to_vec();
            out.push(((*cmsg).cmsg_level, (*cmsg).cmsg_type, bytes));
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    out
}

fn int_of(data: &[u8]) -> Option<i32> {
    Some(i32::from_ne_bytes(data.get(..4)?.try_into().ok()?))
}

/// Applies one host cmsg of a received datagram.
/// Translates one received control message into `d`. On an IPv6 socket an IPv4 datagram
/// (dual stack) may come with both forms of packet information; the IPv4 one wins (it
/// tells broadcasts apart) and is reported as the IPv4-mapped IPv6 address the socket's
/// family calls for.
fn decode_control(level: libc::c_int, kind: libc::c_int, data: &[u8], d: &mut Datagram, v6_socket: bool) {
    let has_packet_info = |d: &Datagram| d.control.iter().any(|c| matches!(c, ControlMessage::PacketInfo { .. }));
    match (level, kind) {
        (libc::IPPROTO_IP, libc::IP_PKTINFO) if data.len() >= 12 => {
            let ifindex = int_of(data).unwrap_or(0);
            let spec_dst = Ipv4Addr::from(<[u8; 4]>::try_from(&data[4..8]).expect("4 bytes"));
            let dst = Ipv4Addr::from(<[u8; 4]>::try_from(&data[8..12]).expect("4 bytes"));
            d.multicast = dst.is_multicast();
            d.broadcast = dst.is_broadcast() || (!d.multicast && dst != spec_dst);
            let addr = if v6_socket { IpAddr::V6(dst.to_ipv6_mapped()) } else { IpAddr::V4(dst) };
            d.control.retain(|c| !matches!(c, ControlMessage::PacketInfo { .. }));
            d.control.push(ControlMessage::PacketInfo { addr, interface: ifindex as u32 });
        }
        (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) if data.len() >= 20 => {
            let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&data[..16]).expect("16 bytes"));
            let ifindex = u32::from_ne_bytes(data[16..20].try_into().expect("4 bytes"));
            match dst.to_ipv4_mapped() {
                // The IPv4 form came first and said more.
                Some(_) if has_packet_info(d) => {}
                Some(v4) => d.multicast = v4.is_multicast(),
                None => d.multicast = dst.is_multicast(),
            }
            if !has_packet_info(d) {
                d.control.push(ControlMessage::PacketInfo { addr: IpAddr::V6(dst), interface: ifindex });
            }
        }
        (libc::IPPROTO_IP, libc::IP_TTL) => {
            if let Some(v) = int_of(data) {
                d.control.push(ControlMessage::Ttl(v));
            }
        }
        (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => {
            if let Some(v) = int_of(data) {
                d.control.push(ControlMessage::HopLimit(v));
            }
        }
        (libc::SOL_UDP, libc::UDP_GRO) => {
            if let Some(v) = int_of(data) {
                d.control.push(ControlMessage::CoalescedInfo(v as u32));
            }
        }
        (libc::SOL_SOCKET, libc::SO_RXQ_OVFL) => {
            d.host_drops = int_of(data).map(|v| v as u32);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_control_is_translated_to_linux_layouts() {
        let msgs = host_messages(
            &[
                ControlMessage::PacketInfo { addr: "127.0.0.2".parse().unwrap(), interface: 1 },
                ControlMessage::SendMessageSize(1200),
                ControlMessage::Other { level: 0, kind: 1, data: vec![] },
            ],
            false,
        )
        .unwrap();
        assert_eq!(msgs.len(), 2, "the unknown message is not sent");
        assert_eq!(msgs[0].0, libc::IPPROTO_IP);
        assert_eq!(msgs[0].2, [1i32.to_ne_bytes().as_slice(), &[127, 0, 0, 2], &[0; 4]].concat());
        assert_eq!(msgs[1], (libc::SOL_UDP, libc::UDP_SEGMENT, 1200u16.to_ne_bytes().to_vec()));
        assert!(host_messages(&[ControlMessage::SendMessageSize(70_000)], false).is_err());
        assert!(
            host_messages(&[ControlMessage::PacketInfo { addr: "::1".parse().unwrap(), interface: 0 }], false).is_err()
        );
        let mut cbuf = ControlBuf([0; CONTROL_SIZE]);
        assert_eq!(encode_control(&[], true, &mut cbuf).unwrap(), 0);
        let v6 =
            [ControlMessage::PacketInfo { addr: "::1".parse().unwrap(), interface: 1 }, ControlMessage::HopLimit(5)];
        // SAFETY: arithmetic only.
        let expected = unsafe { libc::CMSG_SPACE(20) + libc::CMSG_SPACE(4) } as usize;
        assert_eq!(encode_control(&v6, true, &mut cbuf).unwrap(), expected);
    }

    #[test]
    fn received_pktinfo_tells_broadcast_and_multicast() {
        let src: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let fresh = || Datagram {
            len: 0,
            source: src,
            truncated: false,
            control_truncated: false,
            control: vec![],
            broadcast: false,
            multicast: false,
            host_drops: None,
        };
        let pktinfo = |spec: [u8; 4], dst: [u8; 4]| [1i32.to_ne_bytes().as_slice(), &spec, &dst].concat();
        let mut d = fresh();
        decode_control(libc::IPPROTO_IP, libc::IP_PKTINFO, &pktinfo([127, 0, 0, 1], [127, 0, 0, 1]), &mut d, false);
        assert!(!d.broadcast && !d.multicast);
        assert_eq!(d.control, vec![ControlMessage::PacketInfo { addr: "127.0.0.1".parse().unwrap(), interface: 1 }]);
        let mut d = fresh();
        decode_control(
            libc::IPPROTO_IP,
            libc::IP_PKTINFO,
            &pktinfo([127, 0, 0, 1], [127, 255, 255, 255]),
            &mut d,
            false,
        );
        assert!(d.broadcast && !d.multicast);
        let mut d = fresh();
        decode_control(libc::IPPROTO_IP, libc::IP_PKTINFO, &pktinfo([127, 0, 0, 1], [239, 1, 2, 3]), &mut d, false);
        assert!(!d.broadcast && d.multicast);
        let mut d = fresh();
        decode_control(libc::SOL_SOCKET, libc::SO_RXQ_OVFL, &7u32.to_ne_bytes(), &mut d, false);
        assert_eq!(d.host_drops, Some(7));
        // A dual-stack socket: both forms of an IPv4 broadcast's packet information, in
        // either order, make one mapped PacketInfo with the broadcast flag.
        let mapped =
            |a: [u8; 4]| [Ipv4Addr::from(a).to_ipv6_mapped().octets().as_slice(), &1u32.to_ne_bytes()].concat();
        for ip_first in [true, false] {
            let mut d = fresh();
            let v4 = pktinfo([127, 0, 0, 1], [127, 255, 255, 255]);
            let v6 = mapped([127, 255, 255, 255]);
            if ip_first {
                decode_control(libc::IPPROTO_IP, libc::IP_PKTINFO, &v4, &mut d, true);
                decode_control(libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &v6, &mut d, true);
            } else {
                decode_control(libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &v6, &mut d, true);
                decode_control(libc::IPPROTO_IP, libc::IP_PKTINFO, &v4, &mut d, true);
            }
            assert!(d.broadcast, "ip first: {ip_first}");
            let addr = IpAddr::V6(Ipv4Addr::new(127, 255, 255, 255).to_ipv6_mapped());
            assert_eq!(d.control, vec![ControlMessage::PacketInfo { addr, interface: 1 }], "ip first: {ip_first}");
        }
    }
}
