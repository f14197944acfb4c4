//! The seam between the provider and a network: one trait, several worlds.
//!
//! The provider runtime drives sockets only through these traits. The host backend
//! (`wsk-host`) implements them over Linux sockets and epoll; a simulated network can
//! implement them over virtual time. Every I/O call is non-blocking: `WouldBlock`
//! means "wait for the next readiness event of this token".

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::time::Duration;

use crate::cmsg::ControlMessage;
use crate::option::{OptName, SockOpt};
use crate::resolve::{AddrHints, NameInfo, NameInfoFlags, ResolvedAddr};

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenOptions {
    /// `IPV6_V6ONLY` for an IPv6 listener; `false` makes it dual-stack.
    pub v6_only: bool,
    /// `SO_REUSEADDR`.
    pub reuse_address: bool,
    /// The accept backlog handed to `listen(2)`.
    pub backlog: u32,
    /// Further options the client set before bind, applied in order before `bind(2)`.
    pub options: Vec<SockOpt>,
}

impl ListenOptions {
    /// Keeps `option` for the bind to come (one value per option name, the last wins).
    pub fn set(&mut self, option: SockOpt) {
        match option {
            SockOpt::V6Only(on) => self.v6_only = on,
            SockOpt::ReuseAddress(on) => self.reuse_address = on,
            other => {
                self.options.retain(|o| o.name() != other.name() || o.name().is_none());
                self.options.push(other);
            }
        }
    }

    /// The value kept for `name`, if the client set one (`IPV6_V6ONLY` and `SO_REUSEADDR`
    /// always have one).
    pub fn get(&self, name: OptName) -> Option<SockOpt> {
        match name {
            OptName::V6Only => Some(SockOpt::V6Only(self.v6_only)),
            OptName::ReuseAddress => Some(SockOpt::ReuseAddress(self.reuse_address)),
            _ => self.options.iter().rev().find(|o| o.name() == Some(name)).copied(),
        }
    }
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions { v6_only: true, reuse_address: false, backlog: 1024, options: Vec::new() }
    }
}

/// A network the provider can open sockets on.
pub trait Backend: Send + Sync + 'static {
    /// Creates, binds and starts a TCP listener.
    fn tcp_listen(&self, addr: SocketAddr, options: &ListenOptions) -> io::Result<Box<dyn TcpListener>>;
    /// Creates an unbound TCP socket of the family of `family_of`.
    fn tcp_socket(&self, family_of: &SocketAddr) -> io::Result<Box<dyn TcpStream>>;
    /// Creates an unbound UDP socket of the family of `family_of`. A backend without
    /// datagrams keeps this default, which refuses with `ErrorKind::Unsupported`.
    fn udp_socket(&self, family_of: &SocketAddr) -> io::Result<Box<dyn UdpSocket>> {
        let _ = family_of;
        Err(io::ErrorKind::Unsupported.into())
    }
    /// Creates a TCP socket of `addr`'s family with `options` (`IPV6_V6ONLY`,
    /// `SO_REUSEADDR`, the further options in order; not the backlog) and binds it to `addr`: a stream socket's
    /// `WskBind`, which learns at once that an address is in use. The socket then either
    /// listens ([`TcpStream::listen`]) or connects.
    ///
    /// The default creates the socket with [`Backend::tcp_socket`] and binds it, which
    /// honours only the default options (IPv6-only, no address reuse, nothing else);
    /// other options are `Unsupported` there.
    fn tcp_bind(&self, addr: SocketAddr, options: &ListenOptions) -> io::Result<Box<dyn TcpStream>> {
        if options.reuse_address || (addr.is_ipv6() && !options.v6_only) || !options.options.is_empty() {
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
    /// Resolves `node` and `service` (`WskGetAddressInfo`). The one **blocking** call of
    /// the trait: the runtime calls it on a resolver thread, never on the reactor.
    /// Failures are [`crate::resolve::ResolveError`]s inside the `io::Error`
    /// ([`crate::resolve::status_of`] turns them into NTSTATUS).
    ///
    /// # Errors
    /// `Unsupported` by default: a backend without a resolver.
    fn resolve(&self, node: Option<&str>, service: Option<&str>, hints: &AddrHints) -> io::Result<Vec<ResolvedAddr>> {
        let _ = (node, service, hints);
        Err(io::ErrorKind::Unsupported.into())
    }
    /// The host and service names of `addr` (`WskGetNameInfo`); blocking, like [`Backend::resolve`].
    ///
    /// # Errors
    /// `Unsupported` by default: a backend without a resolver.
    fn name_info(&self, addr: SocketAddr, flags: NameInfoFlags) -> io::Result<NameInfo> {
        let _ = (addr, flags);
        Err(io::ErrorKind::Unsupported.into())
    }
    /// Creates a socket with no role (a WSK basic socket) of the family of `family_of`:
    /// UDP when `datagram`, else TCP. It only carries options.
    fn basic_socket(&self, family_of: &SocketAddr, datagram: bool) -> io::Result<Box<dyn OptionSocket>> {
        let _ = (family_of, datagram);
        Err(io::ErrorKind::Unsupported.into())
    }
    /// The addresses of the host's interfaces that are up (`SIO_ADDRESS_LIST_QUERY`), port
    /// 0, IPv6 ones with their scope (the interface index of a link-local address).
    fn interface_addresses(&self) -> io::Result<Vec<SocketAddr>> {
        Err(io::ErrorKind::Unsupported.into())
    }
    /// Starts watching the host's addresses (`SIO_ADDRESS_LIST_CHANGE`).
    fn address_watch(&self) -> io::Result<Box<dyn AddressWatch>> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// What every host socket carries: standard options. A WSK basic socket is only this;
/// the other socket traits extend it. The defaults refuse with `Unsupported`.
pub trait OptionSocket: Send + Sync {
    /// Sets a standard socket option on the host socket.
    fn set_option(&self, option: &SockOpt) -> io::Result<()> {
        let _ = option;
        Err(io::ErrorKind::Unsupported.into())
    }
    /// Reads a standard socket option of the host socket.
    fn get_option(&self, name: OptName) -> io::Result<SockOpt> {
        let _ = name;
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// Notifications of changes to the host's addresses.
pub trait AddressWatch: Send + Sync {
    /// Starts readiness reports under `token`.
    fn register(&self, token: Token) -> io::Result<()>;
    /// Reads what the host reported; `true` when an address was added or removed.
    fn changed(&self) -> io::Result<bool>;
}

/// A listening TCP socket.
pub trait TcpListener: OptionSocket {
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
pub trait TcpStream: OptionSocket {
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
    /// `SIO_WSK_SET_TCP_SILENT_MODE` on the host: from now on the connection sends nothing,
    /// not even at close (Linux: `TCP_REPAIR`, which needs `CAP_NET_ADMIN`).
    fn set_silent(&self) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
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

/// What the host said about one received datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// The datagram's full length; more than the buffer when it was truncated.
    pub len: usize,
    /// Where it came from.
    pub source: SocketAddr,
    /// The datagram did not fit the buffer (host `MSG_TRUNC`): only the buffer's worth was kept.
    pub truncated: bool,
    /// The host's control buffer was too small (host `MSG_CTRUNC`).
    pub control_truncated: bool,
    /// The control messages the host reported, translated (packet information, hop limit, ...).
    pub control: Vec<ControlMessage>,
    /// The datagram was addressed to a broadcast address.
    pub broadcast: bool,
    /// The datagram was addressed to a multicast group.
    pub multicast: bool,
    /// The host's count of datagrams it dropped on this socket since it was created
    /// (queue full), when it reported one.
    pub host_drops: Option<u32>,
}

/// A UDP socket: created unbound, then bound; optionally connected (a fixed peer).
///
/// Sends take the whole datagram or nothing; a receive takes one datagram.
pub trait UdpSocket: OptionSocket {
    /// Binds to a local address.
    fn bind(&self, addr: SocketAddr) -> io::Result<()>;
    /// Starts readiness reports under `token`.
    fn register(&self, token: Token) -> io::Result<()>;
    /// The local address, once bound.
    fn local_addr(&self) -> io::Result<SocketAddr>;
    /// Fixes the peer: sends without an address go there and only its datagrams are received.
    fn connect(&self, addr: SocketAddr) -> io::Result<()>;
    /// Removes the fixed peer, keeping the bound local address.
    fn disconnect(&self) -> io::Result<()>;
    /// Sends one datagram gathered from `bufs`, to `to` (or the fixed peer), with
    /// `control` translated to the host's control messages; returns the bytes sent.
    fn send_to(&self, bufs: &[IoSlice<'_>], to: Option<SocketAddr>, control: &[ControlMessage]) -> io::Result<usize>;
    /// Sends several datagrams, each gathered from its slices, all to `to` with the same
    /// control messages, in as few system calls as the host allows; returns how many of
    /// the leading datagrams were sent (at least one, or an error).
    fn send_batch(
        &self,
        datagrams: &[&[IoSlice<'_>]],
        to: Option<SocketAddr>,
        control: &[ControlMessage],
    ) -> io::Result<usize>;
    /// Receives one datagram into `buf` (truncated to it).
    fn recv_from(&self, buf: &mut [u8]) -> io::Result<Datagram>;
    /// The pending socket error, if any (cleared by reading it).
    fn take_error(&self) -> io::Result<Option<io::Error>>;
    /// The host file descriptor, for diagnostics.
    fn raw_fd(&self) -> i32;
    /// Asks for writable reports (after a send met a full buffer) or stops them. UDP sends
    /// rarely block, and a writable report after every datagram would wake the reactor
    /// once per send: a socket is registered for reads only, and writes are watched only
    /// while a send waits. The default does nothing (a backend that always reports).
    fn watch_writable(&self, token: Token, on: bool) -> io::Result<()> {
        let _ = (token, on);
        Ok(())
    }
}
