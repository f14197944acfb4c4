//! The seam between the provider and a network: one trait, several worlds.
//!
//! The provider runtime drives sockets only through these traits. The host backend
//! (`wsk-host`) implements them over Linux sockets and epoll; a simulated network can
//! implement them over virtual time. Every I/O call is non-blocking: `WouldBlock`
//! means "wait for the next readiness event of this token".

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::time::Duration;

/// Identifies a registered socket in readiness reports.
pub type Token = usize;

/// What a readiness report says about one socket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Readiness {
    /// Data (or a connection, for a listener) may be waiting.
    pub readable: bool,
    /// The send buffer has room, or a non-blocking connect finished.
    pub writable: bool,
    /// The peer closed its sending side (FIN seen).
    pub read_closed: bool,
    /// The socket can no longer send.
    pub write_closed: bool,
    /// An error is pending on the socket (`take_error` tells which).
    pub error: bool,
}

/// Options applied to a listening socket before it binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenOptions {
    /// `IPV6_V6ONLY` for an IPv6 listener; `false` makes it dual-stack.
    pub v6_only: bool,
    /// `SO_REUSEADDR`.
    pub reuse_address: bool,
    /// The accept backlog handed to `listen(2)`.
    pub backlog: u32,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions { v6_only: true, reuse_address: false, backlog: 1024 }
    }
}

/// A network the provider can open sockets on.
pub trait Backend: Send + Sync + 'static {
    /// Creates, binds and starts a TCP listener.
    fn tcp_listen(&self, addr: SocketAddr, options: &ListenOptions) -> io::Result<Box<dyn TcpListener>>;
    /// Creates an unbound TCP socket of the family of `family_of`.
    fn tcp_socket(&self, family_of: &SocketAddr) -> io::Result<Box<dyn TcpStream>>;
    /// Creates a TCP socket of `addr`'s family with `options` (`IPV6_V6ONLY`,
    /// `SO_REUSEADDR`; not the backlog) and binds it to `addr`: a stream socket's
    /// `WskBind`, which learns at once that an address is in use. The socket then either
    /// listens ([`TcpStream::listen`]) or connects.
    ///
    /// The default creates the socket with [`Backend::tcp_socket`] and binds it, which
    /// honours only the default options (IPv6-only, no address reuse); other options are
    /// `Unsupported` there.
    fn tcp_bind(&self, addr: SocketAddr, options: &ListenOptions) -> io::Result<Box<dyn TcpStream>> {
        if options.reuse_address || (addr.is_ipv6() && !options.v6_only) {
            return Err(io::ErrorKind::Unsupported.into());
        }
        let socket = self.tcp_socket(&addr)?;
        socket.bind(addr)?;
        Ok(socket)
    }
    /// Waits for readiness of registered sockets (or a wake-up) for at most `timeout`,
    /// appending what it saw to `events`. Called by one thread only.
    fn poll(&self, events: &mut Vec<(Token, Readiness)>, timeout: Option<Duration>) -> io::Result<()>;
    /// Makes a `poll` in progress (or the next one) return at once.
    fn wake(&self);
}

/// A listening TCP socket.
pub trait TcpListener: Send + Sync {
    /// Starts readiness reports under `token`.
    fn register(&self, token: Token) -> io::Result<()>;
    /// Accepts one waiting connection (unregistered), with the peer's address.
    fn accept(&self) -> io::Result<(Box<dyn TcpStream>, SocketAddr)>;
    /// The bound address.
    fn local_addr(&self) -> io::Result<SocketAddr>;
    /// The host file descriptor, for diagnostics.
    fn raw_fd(&self) -> i32;
}

/// Host-side state of a TCP connection, as far as the provider needs it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpInfo {
    /// Bytes written but not yet acknowledged by the peer (`SIOCOUTQ`).
    pub unacked: usize,
    /// Bytes received by the host but not yet read (`SIOCINQ`).
    pub unread: usize,
    /// The host's send buffer size (`SO_SNDBUF`).
    pub send_buffer: usize,
    /// Whether our FIN was sent and acknowledged (FIN-WAIT-2, TIME-WAIT, CLOSE or LAST-ACK done).
    pub fin_acked: bool,
}

/// A TCP socket: created unbound, then bound, connected, or accepted.
pub trait TcpStream: Send + Sync {
    /// Binds to a local address.
    fn bind(&self, addr: SocketAddr) -> io::Result<()>;
    /// Starts a non-blocking connect; `Ok` or `WouldBlock` (in progress: wait for writable, then `take_error`).
    fn connect(&self, addr: SocketAddr) -> io::Result<()>;
    /// Starts readiness reports under `token`; a socket already registered moves to `token`
    /// (a connection held under its listener's token until it is delivered).
    fn register(&self, token: Token) -> io::Result<()>;
    /// Reads what is there.
    fn read(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes as much as the host takes.
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    /// Sends a FIN after what was written.
    fn shutdown_write(&self) -> io::Result<()>;
    /// Stops the connection with a reset (the socket stays open but dead).
    fn abort(&self) -> io::Result<()>;
    /// The local address, once bound.
    fn local_addr(&self) -> io::Result<SocketAddr>;
    /// The peer's address, once connected.
    fn peer_addr(&self) -> io::Result<SocketAddr>;
    /// The pending socket error, if any (cleared by reading it).
    fn take_error(&self) -> io::Result<Option<io::Error>>;
    /// `TCP_NODELAY`.
    fn set_nodelay(&self, on: bool) -> io::Result<()>;
    /// Queue and buffer sizes of the host connection.
    fn info(&self) -> io::Result<TcpInfo>;
    /// The host file descriptor, for diagnostics.
    fn raw_fd(&self) -> i32;
    /// Starts listening on this bound socket with an accept queue of `backlog` (a stream
    /// socket's `WskListen`); the returned listener is the socket from now on. On failure
    /// this socket is unchanged. The default is `Unsupported`.
    fn listen(&self, backlog: u32) -> io::Result<Box<dyn TcpListener>> {
        let _ = backlog;
        Err(io::ErrorKind::Unsupported.into())
    }
}
