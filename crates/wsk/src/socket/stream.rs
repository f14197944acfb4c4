//! Stream sockets (`WSK_PROVIDER_STREAM_DISPATCH`, `WSK_FLAG_STREAM_SOCKET`).
//!
//! A stream socket is created with no role. `WskBind` creates and binds the host socket
//! (so an address in use is reported by the bind itself); `WskListen` then commits it to
//! listening and `WskConnect` to connecting. Committing replaces the socket's state *in
//! place* ([`Kind::Stream`] becomes [`Kind::Listen`] or [`Kind::Connection`] in the same
//! [`SocketShared`]: same token, same handle, same registration count), after which the
//! listening or connection implementation does everything, exactly as for a socket
//! created in that category. Calls of the other role then fail with
//! `STATUS_INVALID_DEVICE_STATE` (the socket is not in a state for them), as do role
//! calls before the commit (a send before `WskConnect`, an accept before `WskListen`).

use std::net::SocketAddr;
use std::sync::Arc;

use wsk_core::backend::{ListenOptions, TcpStream};
use wsk_core::event::{Category, EventState};
use wsk_core::option::{OptName, SockOpt};
use wsk_core::status::NtStatus;

use super::options::{get_or_kept, host_result, OptionContext};
use super::{ConnState, ConnectionSocket, Handle, Kind, ListenSocket, ListenState, SocketShared, SocketState};
use crate::buffer::{ReceiveBuffer, SendBuffer};
use crate::callbacks::{Accepted, ConnectionEvents, ListenEvents};
use crate::op::{Canceller, Op, Result};
use crate::registration::RegInner;
use crate::socket::{InspectAction, InspectId};

/// A stream socket before `WskListen` or `WskConnect`.
pub(crate) struct StreamState {
    family_of: SocketAddr,
    /// `IPV6_V6ONLY` and `SO_REUSEADDR` as set before bind, and the listen backlog.
    options: ListenOptions,
    /// `SO_CONDITIONAL_ACCEPT` as set before bind (used if it comes to listen).
    conditional_accept: bool,
    /// The host socket, once bound.
    io: Option<Box<dyn TcpStream>>,
    local: Option<SocketAddr>,
    /// `WSK_CLIENT_STREAM_DISPATCH.Listen`, for the listening role.
    listen_events: Option<Arc<dyn ListenEvents>>,
    /// `WSK_CLIENT_STREAM_DISPATCH.Connect`, for the connecting role.
    connection_events: Option<Arc<dyn ConnectionEvents>>,
}

impl StreamState {
    pub(crate) fn option_context(&self) -> OptionContext {
        OptionContext { v6: self.family_of.is_ipv6(), bound: self.io.is_some(), tcp: true }
    }

    /// Options before bind are kept for the host socket `WskBind` creates; after, they go to it.
    pub(crate) fn set_option(&mut self, option: SockOpt) -> Result<()> {
        if let Some(io) = &self.io {
            host_result(io.set_option(&option))?;
        }
        // Kept either way: the connection it may become needs to know of TCP_FASTOPEN.
        self.options.set(option);
        Ok(())
    }

    pub(crate) fn get_option(&self, name: OptName) -> Result<SockOpt> {
        get_or_kept(self.io.as_deref(), &self.options, name)
    }

    pub(crate) fn close(&mut self) {
        self.io = None;
        self.listen_events = None;
        self.connection_events = None;
    }
}

/// The role a stream socket has committed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamRole {
    /// Neither `listen` nor `connect` yet (bound or not).
    Uncommitted,
    /// Committed to listening by `WskListen`.
    Listening,
    /// Committed to connecting by `WskConnect` (connecting, connected, or failed).
    Connection,
}

/// A stream socket (`WSK_FLAG_STREAM_SOCKET`): one handle that becomes a listening or a
/// connection-oriented socket.
///
/// It offers the methods of both roles; before the commit, and for the role it did not
/// take, they fail with `STATUS_INVALID_DEVICE_STATE`. [`StreamSocket::listener`] and
/// [`StreamSocket::connection`] give the committed socket as a [`ListenSocket`] or
/// [`ConnectionSocket`] (the same socket: closing either closes it).
///
/// ```
/// # fn main() -> Result<(), wsk::NtStatus> {
/// let registration = wsk::Registration::new()?;
/// let npi = registration.capture(wsk::Wait::Infinite)?;
/// let server = npi.stream_socket("127.0.0.1:0".parse().unwrap(), None, None).wait()?;
/// server.bind("127.0.0.1:0".parse().unwrap()).wait()?;
/// server.listen().wait()?;                                    // now a listener
/// let client = npi.stream_socket("127.0.0.1:0".parse().unwrap(), None, None).wait()?;
/// client.bind("127.0.0.1:0".parse().unwrap()).wait()?;
/// client.connect(server.local_addr()?).wait()?;               // now a connection
/// let accepted = server.accept(None).wait()?;
/// client.send(b"hi".to_vec(), 0).wait()?;
/// assert_eq!(accepted.socket.receive(2, wsk::flags::WSK_FLAG_WAITALL).wait()?, b"hi");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct StreamSocket {
    h: Arc<Handle>,
}

impl std::fmt::Debug for StreamSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSocket").field("token", &self.h.shared.token).finish()
    }
}

super::control::socket_control!(StreamSocket);

impl StreamSocket {
    pub(crate) fn create(
        reg: &Arc<RegInner>,
        family_of: SocketAddr,
        listen_events: Option<Arc<dyn ListenEvents>>,
        connection_events: Option<Arc<dyn ConnectionEvents>>,
    ) -> Result<StreamSocket> {
        let state = StreamState {
            family_of,
            options: ListenOptions::default(),
            conditional_accept: false,
            io: None,
            local: None,
            listen_events,
            connection_events,
        };
        let shared = SocketShared::open(reg, Category::Stream, None, Kind::Stream(state))?;
        Ok(StreamSocket { h: Handle::new(shared) })
    }

    /// Runs `f` on the uncommitted state: `STATUS_INVALID_DEVICE_STATE` once committed,
    /// `STATUS_INVALID_HANDLE` after close.
    fn with_stream<R>(&self, f: impl FnOnce(&mut StreamState) -> Result<R>) -> Result<R> {
        let mut st = self.h.shared.lock();
        if st.common.closed {
            return Err(NtStatus::INVALID_HANDLE);
        }
        match &mut st.kind {
            Kind::Stream(s) => f(s),
            _ => Err(NtStatus::INVALID_DEVICE_STATE),
        }
    }

    /// The role the socket committed to.
    ///
    /// # Errors
    /// `STATUS_INVALID_HANDLE` after close.
    pub fn role(&self) -> Result<StreamRole> {
        let st = self.h.shared.lock();
        if st.common.closed {
            return Err(NtStatus::INVALID_HANDLE);
        }
        Ok(match st.kind {
            Kind::Stream(_) => StreamRole::Uncommitted,
            Kind::Listen(_) => StreamRole::Listening,
            // A stream socket only ever becomes a listening or a connection socket.
            _ => StreamRole::Connection,
        })
    }

    /// The socket as a [`ListenSocket`], once committed to listening.
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` before `listen` or after `connect`;
    /// `STATUS_INVALID_HANDLE` after close.
    pub fn listener(&self) -> Result<ListenSocket> {
        match self.role()? {
            StreamRole::Listening => Ok(ListenSocket { h: Arc::clone(&self.h) }),
            _ => Err(NtStatus::INVALID_DEVICE_STATE),
        }
    }

    /// The socket as a [`ConnectionSocket`], once committed to connecting.
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` before `connect` or after `listen`;
    /// `STATUS_INVALID_HANDLE` after close.
    pub fn connection(&self) -> Result<ConnectionSocket> {
        match self.role()? {
            StreamRole::Connection => Ok(ConnectionSocket { h: Arc::clone(&self.h) }),
            _ => Err(NtStatus::INVALID_DEVICE_STATE),
        }
    }

    /// `IPPROTO_IPV6`/`IPV6_V6ONLY` before bind (default on, as for every AF_INET6 socket).
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` after bind; `STATUS_INVALID_PARAMETER` on an IPv4 socket.
    pub fn set_v6_only(&self, v6_only: bool) -> Result<()> {
        self.h.shared.set_option(SockOpt::V6Only(v6_only))
    }

    /// `SO_REUSEADDR` before bind.
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` after bind.
    pub fn set_reuse_address(&self, on: bool) -> Result<()> {
        self.h.shared.set_option(SockOpt::ReuseAddress(on))
    }

    /// `SO_CONDITIONAL_ACCEPT` before bind: applies if the socket comes to listen
    /// (see [`ListenSocket::set_conditional_accept`]).
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` after bind; `STATUS_INVALID_PARAMETER` to turn it on
    /// for a socket created without listen callbacks.
    pub fn set_conditional_accept(&self, on: bool) -> Result<()> {
        self.with_stream(|s| {
            if s.io.is_some() {
                return Err(NtStatus::INVALID_DEVICE_STATE);
            }
            if on && s.listen_events.is_none() {
                return Err(NtStatus::INVALID_PARAMETER);
            }
            s.conditional_accept = on;
            Ok(())
        })
    }

    /// `SO_CONDITIONAL_ACCEPT` get.
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` once committed to connecting; `STATUS_INVALID_HANDLE` after close.
    pub fn conditional_accept(&self) -> Result<bool> {
        match self.role()? {
            StreamRole::Listening => self.listener()?.conditional_accept(),
            _ => self.with_stream(|s| Ok(s.conditional_accept)),
        }
    }

    /// `WskBind`: creates the host socket with the options set so far and binds it
    /// (wildcard allowed). Required before `listen` and `connect`.
    ///
    /// Fails with `STATUS_INVALID_DEVICE_STATE` when already bound (or committed),
    /// `STATUS_INVALID_PARAMETER` for an address of the other family,
    /// `STATUS_ADDRESS_ALREADY_ASSOCIATED` when the address is in use.
    pub fn bind(&self, addr: SocketAddr) -> Op<()> {
        let backend = &self.h.shared.provider.backend;
        let token = self.h.shared.token;
        Op::ready(self.with_stream(|s| {
            if s.io.is_some() {
                return Err(NtStatus::INVALID_DEVICE_STATE);
            }
            if addr.is_ipv4() != s.family_of.is_ipv4() {
                return Err(NtStatus::INVALID_PARAMETER);
            }
            let io = backend.tcp_bind(addr, &s.options).map_err(|e| NtStatus::from_io_error(&e))?;
            s.local = Some(io.local_addr().map_err(|e| NtStatus::from_io_error(&e))?);
            tracing::debug!(socket = token, local = ?s.local, "stream socket bound");
            s.io = Some(io);
            Ok(())
        }))
    }

    /// `WskListen`: commits the bound socket to listening; from now on it accepts
    /// connections (`accept`, `WskAcceptEvent` of the `listen_events` given at creation).
    ///
    /// Fails with `STATUS_INVALID_DEVICE_STATE` before bind or once committed (listening
    /// already, or connecting), or the host's refusal (e.g. `STATUS_ADDRESS_ALREADY_ASSOCIATED`
    /// when another socket listens on the address), the socket staying uncommitted then.
    pub fn listen(&self) -> Op<()> {
        let shared = &self.h.shared;
        let mut st = shared.lock();
        let SocketState { common, kind } = &mut *st;
        let result = if common.closed {
            Err(NtStatus::INVALID_HANDLE)
        } else {
            match kind {
                Kind::Stream(s) => {
                    let listener = match &s.io {
                        None => Err(NtStatus::INVALID_DEVICE_STATE),
                        Some(io) => io
                            .listen(s.options.backlog)
                            .and_then(|l| {
                                // Fast Open becomes a listener's option now (bind left it).
                                if let Some(fast_open) = s.options.get(OptName::FastOpen) {
                                    l.set_option(&fast_open)?;
                                }
                                l.register(shared.token).map(|()| l)
                            })
                            .map_err(|e| NtStatus::from_io_error(&e)),
                    };
                    listener.map(|listener| {
                        tracing::debug!(socket = shared.token, local = ?s.local, "stream socket listening");
                        ListenState::from_stream(
                            s.family_of,
                            std::mem::take(&mut s.options),
                            listener,
                            s.listen_events.take(),
                            s.conditional_accept,
                        )
                    })
                }
                _ => Err(NtStatus::INVALID_DEVICE_STATE),
            }
        };
        let result = result.map(|state| {
            // The host stream goes with the old state: the listener has its own
            // descriptor of the same socket.
            *kind = Kind::Listen(state);
            common.events = EventState::new(Category::Listen, shared.reg.static_events());
        });
        if result.is_ok() {
            shared.provider.schedule(shared.token);
        }
        drop(st);
        Op::ready(result)
    }

    /// Commits the socket to connecting to `remote` (the first step of `WskConnect`):
    /// the connection-oriented socket it has become, bound and not yet connected.
    /// Committed already, it is returned as it is (its own state decides what a connect
    /// does then).
    fn commit_connect(&self, remote: SocketAddr) -> Result<ConnectionSocket> {
        let shared = &self.h.shared;
        let mut st = shared.lock();
        let SocketState { common, kind } = &mut *st;
        if common.closed {
            return Err(NtStatus::INVALID_HANDLE);
        }
        match kind {
            Kind::Stream(s) => {
                // Per WskConnect: a stream socket must be bound first.
                let Some(io) = s.io.take_if(|_| remote.is_ipv4() == s.family_of.is_ipv4()) else {
                    return Err(if s.io.is_none() {
                        NtStatus::INVALID_DEVICE_STATE
                    } else {
                        NtStatus::INVALID_PARAMETER
                    });
                };
                let mut state = ConnState::from_stream(s.family_of, io, s.local, s.connection_events.take());
                state.fast_open = s.options.get(OptName::FastOpen) == Some(SockOpt::FastOpen(true));
                *kind = Kind::Connection(state);
                common.events = EventState::new(Category::Connection, shared.reg.static_events());
                Ok(ConnectionSocket { h: Arc::clone(&self.h) })
            }
            Kind::Connection(_) => Ok(ConnectionSocket { h: Arc::clone(&self.h) }),
            _ => Err(NtStatus::INVALID_DEVICE_STATE),
        }
    }

    /// `WskConnect`: commits the bound socket to connecting and connects it; its
    /// callbacks are the `connection_events` given at creation.
    ///
    /// Fails with `STATUS_INVALID_DEVICE_STATE` before bind, when listening, or when
    /// connected or connecting already; `STATUS_INVALID_PARAMETER` for an address of the
    /// other family (the socket stays uncommitted); otherwise as
    /// [`ConnectionSocket::connect`].
    pub fn connect(&self, remote: SocketAddr) -> Op<()> {
        match self.commit_connect(remote) {
            Ok(c) => c.connect(remote),
            Err(e) => Op::ready(Err(e)),
        }
    }

    /// `WskConnectEx`: commits the socket to connecting, then
    /// [`ConnectionSocket::connect_ex`] (a first buffer of at most 65,535 bytes sent with
    /// the connect; a larger one is refused before anything is committed).
    pub fn connect_ex(&self, remote: SocketAddr, first: Option<Box<dyn SendBuffer>>) -> Op<()> {
        let (op, done) = Op::new();
        let canceller = self.connect_ex_then(remote, first, done);
        op.with_canceller(canceller)
    }

    /// [`StreamSocket::connect_ex`] with a completion routine.
    pub fn connect_ex_then(
        &self,
        remote: SocketAddr,
        first: Option<Box<dyn SendBuffer>>,
        done: impl FnOnce(Result<()>) + Send + 'static,
    ) -> Option<Canceller> {
        if first.as_ref().is_some_and(|b| b.len() > super::connection::MAX_CONNECT_DATA) {
            done(Err(NtStatus::BUFFER_OVERFLOW));
            return None;
        }
        match self.commit_connect(remote) {
            Ok(c) => c.connect_ex_then(remote, first, done),
            Err(e) => {
                done(Err(e));
                None
            }
        }
    }

    /// [`StreamSocket::connect`] with a completion routine; returns a [`Canceller`] while
    /// the connect is pending.
    pub fn connect_then(
        &self,
        remote: SocketAddr,
        done: impl FnOnce(Result<()>) + Send + 'static,
    ) -> Option<Canceller> {
        match self.commit_connect(remote) {
            Ok(c) => c.connect_then(remote, done),
            Err(e) => {
                done(Err(e));
                None
            }
        }
    }

    /// `WskAccept` (listening role): as [`ListenSocket::accept`].
    pub fn accept(&self, events: Option<Arc<dyn ConnectionEvents>>) -> Op<Accepted> {
        match self.listener() {
            Ok(l) => l.accept(events),
            Err(e) => Op::ready(Err(e)),
        }
    }

    /// [`StreamSocket::accept`] with a completion routine.
    pub fn accept_then(
        &self,
        events: Option<Arc<dyn ConnectionEvents>>,
        done: impl FnOnce(Result<Accepted>) + Send + 'static,
    ) -> Option<Canceller> {
        match self.listener() {
            Ok(l) => l.accept_then(events, done),
            Err(e) => {
                done(Err(e));
                None
            }
        }
    }

    /// `WskInspectComplete` (listening role): as [`ListenSocket::inspect_complete`].
    pub fn inspect_complete(&self, id: InspectId, action: InspectAction) -> Op<()> {
        match self.listener() {
            Ok(l) => l.inspect_complete(id, action),
            Err(e) => Op::ready(Err(e)),
        }
    }

    /// `WskSend` (connection role): as [`ConnectionSocket::send`].
    pub fn send(&self, data: impl SendBuffer, flags: u32) -> Op<usize> {
        match self.connection() {
            Ok(c) => c.send(data, flags),
            Err(e) => Op::ready(Err(e)),
        }
    }

    /// [`StreamSocket::send`] with a completion routine.
    pub fn send_then(
        &self,
        data: Box<dyn SendBuffer>,
        flags: u32,
        done: impl FnOnce(Result<usize>) + Send + 'static,
    ) -> Option<Canceller> {
        match self.connection() {
            Ok(c) => c.send_then(data, flags, done),
            Err(e) => {
                done(Err(e));
                None
            }
        }
    }

    /// `WskReceive` (connection role): as [`ConnectionSocket::receive`].
    pub fn receive(&self, len: usize, flags: u32) -> Op<Vec<u8>> {
        match self.connection() {
            Ok(c) => c.receive(len, flags),
            Err(e) => Op::ready(Err(e)),
        }
    }

    /// [`StreamSocket::receive`] into the caller's buffer, with a completion routine.
    pub fn receive_then(
        &self,
        buf: Box<dyn ReceiveBuffer>,
        flags: u32,
        done: impl FnOnce(Result<usize>, Box<dyn ReceiveBuffer>) + Send + 'static,
    ) -> Option<Canceller> {
        match self.connection() {
            Ok(c) => c.receive_then(buf, flags, done),
            Err(e) => {
                done(Err(e), buf);
                None
            }
        }
    }

    /// `WskDisconnect` (connection role): as [`ConnectionSocket::disconnect`].
    pub fn disconnect(&self, final_data: Option<Box<dyn SendBuffer>>, flags: u32) -> Op<()> {
        match self.connection() {
            Ok(c) => c.disconnect(final_data, flags),
            Err(e) => Op::ready(Err(e)),
        }
    }

    /// [`StreamSocket::disconnect`] with a completion routine.
    pub fn disconnect_then(
        &self,
        final_data: Option<Box<dyn SendBuffer>>,
        flags: u32,
        done: impl FnOnce(Result<()>) + Send + 'static,
    ) -> Option<Canceller> {
        match self.connection() {
            Ok(c) => c.disconnect_then(final_data, flags, done),
            Err(e) => {
                done(Err(e));
                None
            }
        }
    }

    /// `WskGetLocalAddress`: the bound address (whatever the role).
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` before bind; `STATUS_INVALID_HANDLE` after close.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        match self.role()? {
            StreamRole::Uncommitted => self.with_stream(|s| s.local.ok_or(NtStatus::INVALID_DEVICE_STATE)),
            StreamRole::Listening => self.listener()?.local_addr(),
            StreamRole::Connection => self.connection()?.local_addr(),
        }
    }

    /// `WskGetRemoteAddress` (connection role).
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` when not connected (or listening).
    pub fn remote_addr(&self) -> Result<SocketAddr> {
        self.connection()?.remote_addr()
    }

    /// `IPPROTO_TCP`/`TCP_NODELAY` (connection role).
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` before `connect` or when listening.
    pub fn set_nodelay(&self, on: bool) -> Result<()> {
        self.connection()?.set_nodelay(on)
    }

    /// `SO_WSK_EVENT_CALLBACK` enable, once committed: listening events (and inheritable
    /// connection events) after `listen`, connection events after the connect completed.
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` before that; `STATUS_INVALID_PARAMETER` for bits not
    /// valid for the role.
    pub fn enable_events(&self, mask: u32) -> Result<()> {
        self.h.set_events(mask)
    }

    /// `SO_WSK_EVENT_CALLBACK` disable of one event, with an IRP.
    pub fn disable_event(&self, bit: u32) -> Op<()> {
        self.h.disable_event(bit)
    }

    /// The same without an IRP: `STATUS_SUCCESS`, or `STATUS_EVENT_PENDING`.
    pub fn disable_event_nowait(&self, bit: u32) -> NtStatus {
        self.h.disable_event_nowait(bit)
    }

    /// `WskCloseSocket`, whatever the role (pending operations complete with
    /// `STATUS_CANCELLED` first; an uncommitted socket just closes its host socket).
    pub fn close(&self) -> Op<()> {
        self.h.close()
    }

    /// The host descriptor, once bound (for diagnostics and fault injection).
    pub fn raw_fd(&self) -> Option<i32> {
        match self.role().ok()? {
            StreamRole::Uncommitted => self.with_stream(|s| Ok(s.io.as_ref().map(|io| io.raw_fd()))).ok().flatten(),
            StreamRole::Listening => self.listener().ok()?.raw_fd(),
            StreamRole::Connection => self.connection().ok()?.raw_fd(),
        }
    }
}
