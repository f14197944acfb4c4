//! The host backend of wsk: the Linux TCP/IP stack driven through epoll (mio).
//!
//! Sockets are created with `socket2` (so options such as `IPV6_V6ONLY` can be set
//! before bind), switched to non-blocking mode, and registered edge-triggered with one
//! `mio::Poll` owned by the provider's reactor thread. It is the only crate with `unsafe`
//! (until the C ABI arrives): the `ioctl`s and `getsockopt`s that report queue sizes and
//! TCP state, and the `connect(AF_UNSPEC)` that resets a connection in place;
//! `recvmsg`/`sendmsg`/`sendmmsg` with control messages for UDP (`udp.rs`); name
//! resolution through the host resolver (`getaddrinfo` / `getnameinfo`, in `resolve.rs`).
#![deny(unsafe_op_in_unsafe_fn)]

mod interfaces;
mod option;
mod resolve;
mod udp;

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use mio::{Events, Interest, Poll, Registry, Waker};
use socket2::SockRef;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use wsk_core::backend::{self, ListenOptions, Readiness, TcpInfo, Token};
use wsk_core::resolve::{AddrHints, NameInfo, NameInfoFlags, ResolvedAddr};

/// The token reserved for the wake-up handle.
const WAKE_TOKEN: mio::Token = mio::Token(usize::MAX);

/// The Linux backend: one epoll instance.
pub struct HostBackend {
    poll: Mutex<(Poll, Events)>,
    /// One registry shared by every socket: cloning a mio `Registry` duplicates the
    /// epoll descriptor, which would cost a descriptor per socket.
    registry: Arc<Registry>,
    waker: Waker,
}

impl HostBackend {
    /// Creates the epoll instance and its wake-up handle.
    ///
    /// # Errors
    /// Whatever `epoll_create1` or `eventfd` report (for example `EMFILE`).
    pub fn new() -> io::Result<Self> {
        let poll = Poll::new()?;
        let registry = Arc::new(poll.registry().try_clone()?);
        let waker = Waker::new(poll.registry(), WAKE_TOKEN)?;
        Ok(HostBackend { poll: Mutex::new((poll, Events::with_capacity(1024))), registry, waker })
    }
}

fn domain_of(addr: &SocketAddr) -> Domain {
    if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    }
}

impl backend::Backend for HostBackend {
    fn tcp_listen(&self, addr: SocketAddr, options: &ListenOptions) -> io::Result<Box<dyn backend::TcpListener>> {
        backend::Backend::tcp_bind(self, addr, options)?.listen(options.backlog)
    }

    fn tcp_socket(&self, family_of: &SocketAddr) -> io::Result<Box<dyn backend::TcpStream>> {
        let socket = Socket::new(domain_of(family_of), Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP))?;
        if family_of.is_ipv6() {
            // Windows connection sockets of AF_INET6 are IPv6-only unless told otherwise.
            socket.set_only_v6(true)?;
        }
        Ok(Box::new(HostStream::new(socket, Arc::clone(&self.registry))))
    }

    fn udp_socket(&self, family_of: &SocketAddr) -> io::Result<Box<dyn backend::UdpSocket>> {
        Ok(Box::new(udp::HostUdp::new(family_of, Arc::clone(&self.registry))?))
    }

    fn tcp_bind(&self, addr: SocketAddr, options: &ListenOptions) -> io::Result<Box<dyn backend::TcpStream>> {
        let socket = Socket::new(domain_of(&addr), Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP))?;
        if addr.is_ipv6() {
            socket.set_only_v6(options.v6_only)?;
        }
        if options.reuse_address {
            socket.set_reuse_address(true)?;
        }
        for option in &options.options {
            option::set(SockRef::from(&socket), option)?;
        }
        socket.bind(&SockAddr::from(addr))?;
        Ok(Box::new(HostStream::new(socket, Arc::clone(&self.registry))))
    }

    fn poll(&self, out: &mut Vec<(Token, Readiness)>, timeout: Option<Duration>) -> io::Result<()> {
        let mut guard = self.poll.lock().unwrap_or_else(|e| e.into_inner());
        let (poll, events) = &mut *guard;
        match poll.poll(events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            if event.token() == WAKE_TOKEN {
                continue;
            }
            out.push((
                event.token().0,
                Readiness {
                    readable: event.is_readable(),
                    writable: event.is_writable(),
                    read_closed: event.is_read_closed(),
                    write_closed: event.is_write_closed(),
                    error: event.is_error(),
                },
            ));
        }
        Ok(())
    }

    fn wake(&self) {
        // A failed wake-up only delays the reactor until its next event; nothing to report.
        let _ = self.waker.wake();
    }

    fn resolve(&self, node: Option<&str>, service: Option<&str>, hints: &AddrHints) -> io::Result<Vec<ResolvedAddr>> {
        resolve::resolve(node, service, hints)
    }

    fn name_info(&self, addr: SocketAddr, flags: NameInfoFlags) -> io::Result<NameInfo> {
        resolve::name_info(addr, flags)
    }

    fn basic_socket(&self, family_of: &SocketAddr, datagram: bool) -> io::Result<Box<dyn backend::OptionSocket>> {
        let (ty, protocol) = if datagram { (Type::DGRAM, Protocol::UDP) } else { (Type::STREAM, Protocol::TCP) };
        let socket = Socket::new(domain_of(family_of), ty.nonblocking().cloexec(), Some(protocol))?;
        if family_of.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        Ok(Box::new(HostBasic(socket)))
    }

    fn interface_addresses(&self) -> io::Result<Vec<std::net::IpAddr>> {
        interfaces::interface_addresses()
    }

    fn address_watch(&self) -> io::Result<Box<dyn backend::AddressWatch>> {
        Ok(Box::new(interfaces::NetlinkWatch::new(Arc::clone(&self.registry))?))
    }
}

/// A basic socket: a host socket that is never bound, for options only.
struct HostBasic(Socket);

option::option_socket!(HostBasic, 0);

struct HostListener {
    io: mio::net::TcpListener,
    registry: Arc<Registry>,
    registered: OnceLock<()>,
}

impl backend::TcpListener for HostListener {
    fn register(&self, token: Token) -> io::Result<()> {
        let mut source = mio::unix::SourceFd(&self.io.as_raw_fd());
        self.registry.register(&mut source, mio::Token(token), Interest::READABLE)?;
        let _ = self.registered.set(());
        Ok(())
    }

    fn accept(&self) -> io::Result<(Box<dyn backend::TcpStream>, SocketAddr)> {
        let (stream, peer) = self.io.accept()?;
        let socket = Socket::from(std::net::TcpStream::from(stream));
        Ok((Box::new(HostStream::new(socket, Arc::clone(&self.registry))), peer))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }

    fn raw_fd(&self) -> i32 {
        self.io.as_raw_fd()
    }
}

option::option_socket!(HostListener, io);

impl Drop for HostListener {
    fn drop(&mut self) {
        if self.registered.get().is_some() {
            let _ = self.registry.deregister(&mut mio::unix::SourceFd(&self.io.as_raw_fd()));
        }
    }
}

struct HostStream {
    socket: Socket,
    registry: Arc<Registry>,
    registered: OnceLock<()>,
}

impl HostStream {
    fn new(socket: Socket, registry: Arc<Registry>) -> Self {
        HostStream { socket, registry, registered: OnceLock::new() }
    }
}

impl backend::TcpStream for HostStream {
    fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        self.socket.bind(&SockAddr::from(addr))
    }

    fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        match self.socket.connect(&SockAddr::from(addr)) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Err(io::ErrorKind::WouldBlock.into()),
            Err(e) => Err(e),
        }
    }

    fn register(&self, token: Token) -> io::Result<()> {
        let mut source = mio::unix::SourceFd(&self.socket.as_raw_fd());
        let interest = Interest::READABLE | Interest::WRITABLE;
        if self.registered.get().is_some() {
            // Moving to another token (EPOLL_CTL_MOD) re-arms it: a socket already ready
            // reports so at once under its new token.
            return self.registry.reregister(&mut source, mio::Token(token), interest);
        }
        self.registry.register(&mut source, mio::Token(token), interest)?;
        let _ = self.registered.set(());
        Ok(())
    }

    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match (&self.socket).read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        loop {
            match (&self.socket).write_vectored(bufs) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }

    fn shutdown_write(&self) -> io::Result<()> {
        self.socket.shutdown(Shutdown::Write)
    }

    fn abort(&self) -> io::Result<()> {
        // SO_LINGER {on, 0} makes the kernel send a RST; disconnecting the socket with
        // shutdown(RDWR) would send a FIN instead, so the reset goes out through
        // `connect(AF_UNSPEC)`, which aborts an established TCP connection in place.
        self.socket.set_linger(Some(Duration::ZERO))?;
        disconnect_in_place(self.socket.as_raw_fd())
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an inet socket"))
    }

    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.socket
            .peer_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an inet socket"))
    }

    fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.socket.take_error()
    }

    fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.socket.set_nodelay(on)
    }

    fn info(&self) -> io::Result<TcpInfo> {
        let fd = self.socket.as_raw_fd();
        let unacked = ioctl_int(fd, libc::TIOCOUTQ)?;
        let unread = ioctl_int(fd, libc::FIONREAD)?;
        let send_buffer = self.socket.send_buffer_size()?;
        let state = tcp_state(fd)?;
        // TCP states (include/net/tcp_states.h): 5 FIN_WAIT2, 6 TIME_WAIT, 7 CLOSE: our FIN was acknowledged.
        let fin_acked = matches!(state, 5..=7) && unacked == 0;
        Ok(TcpInfo { unacked, unread, send_buffer, fin_acked })
    }

    fn raw_fd(&self) -> i32 {
        self.socket.as_raw_fd()
    }

    fn set_silent(&self) -> io::Result<()> {
        option::set_repair(&self.socket)
    }

    fn listen(&self, backlog: u32) -> io::Result<Box<dyn backend::TcpListener>> {
        // The listener gets its own descriptor of the same socket, so this stream (dropped
        // by the caller once listening) closing its descriptor leaves the socket open
        // (`F_DUPFD_CLOEXEC`: close-on-exec like every descriptor here).
        let socket = self.socket.try_clone()?;
        socket.listen(backlog.min(i32::MAX as u32) as i32)?;
        let listener = mio::net::TcpListener::from_std(std::net::TcpListener::from(socket));
        Ok(Box::new(HostListener { io: listener, registry: Arc::clone(&self.registry), registered: OnceLock::new() }))
    }
}

option::option_socket!(HostStream, socket);

impl Drop for HostStream {
    fn drop(&mut self) {
        if self.registered.get().is_some() {
            let _ = self.registry.deregister(&mut mio::unix::SourceFd(&self.socket.as_raw_fd()));
        }
    }
}

fn ioctl_int(fd: RawFd, request: libc::c_ulong) -> io::Result<usize> {
    let mut value: libc::c_int = 0;
    // SAFETY: TIOCOUTQ/FIONREAD write one c_int through the pointer, which points to a live local.
    let rc = unsafe { libc::ioctl(fd, request, &mut value as *mut libc::c_int) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value.max(0) as usize)
}

fn tcp_state(fd: RawFd) -> io::Result<u8> {
    // SAFETY: tcp_info is plain old data; all-zero is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: the pointer and length describe `info`, a live local of that size.
    let rc = unsafe {
        libc::getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_INFO, &mut info as *mut _ as *mut libc::c_void, &mut len)
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(info.tcpi_state)
}

pub(crate) fn disconnect_in_place(fd: RawFd) -> io::Result<()> {
    // SAFETY: sockaddr with family AF_UNSPEC and the matching length is what connect(2)
    // documents for dissolving an association; the struct is a live local.
    let rc = unsafe {
        let mut addr: libc::sockaddr = std::mem::zeroed();
        addr.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
        libc::connect(fd, &addr, std::mem::size_of::<libc::sockaddr>() as libc::socklen_t)
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
