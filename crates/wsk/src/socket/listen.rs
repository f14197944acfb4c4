//! Listening sockets (`WSK_PROVIDER_LISTEN_DISPATCH`): bind starts listening;
//! connections are taken by pending `WskAccept` operations first (FIFO), else offered
//! to `WskAcceptEvent`; with neither, they wait in the host's backlog. With conditional
//! accept (`SO_CONDITIONAL_ACCEPT`, [`conditional`]) they are inspected first.

mod conditional;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wsk_core::backend::{ListenOptions, Readiness, TcpListener};
use wsk_core::consts::events::WSK_EVENT_ACCEPT;
use wsk_core::event::{Category, EventState};
use wsk_core::option::{OptName, SockOpt};
use wsk_core::status::{errno, NtStatus};

use super::options::{get_or_kept, host_result, OptionContext};
pub use conditional::{InspectAction, InspectId, InspectRequest};

use super::{Common, ConnectionSocket, Handle, Kind, SocketShared};
use crate::callbacks::{AcceptOutcome, Accepted, ConnectionEvents, ListenEvents};
use crate::op::{Canceller, Done, Op, Result};
use crate::registration::RegInner;
use wsk_core::irp::{OpId, OpQueue};

/// How long a listener waits before accepting again after running out of descriptors or memory.
const RESOURCE_RETRY: Duration = Duration::from_millis(20);

struct PendingAccept {
    events: Option<Arc<dyn ConnectionEvents>>,
    done: Done<Accepted>,
}

pub(crate) struct ListenState {
    family_of: SocketAddr,
    options: ListenOptions,
    io: Option<Box<dyn TcpListener>>,
    local: Option<SocketAddr>,
    handler: Option<Arc<dyn ListenEvents>>,
    accepts: OpQueue<PendingAccept>,
    readable: bool,
    /// Set when the host listener failed for good.
    dead: Option<NtStatus>,
    death_indicated: bool,
    /// An accept failed for want of resources: retry on a timer.
    retry_later: bool,
    /// Conditional accept and the connections it holds.
    conditional: conditional::Conditional,
}

impl ListenState {
    pub(crate) fn is_bound(&self) -> bool {
        self.io.is_some()
    }

    pub(crate) fn readiness(&mut self, r: Readiness) {
        if r.readable || r.error || r.read_closed {
            self.readable = true;
        }
        if r.error || r.read_closed {
            // (Conditional accept: a held connection, registered under this token, changed.)
            self.conditional.check_held = true;
        }
    }

    /// Moves connections to consumers. Returns whether the reactor should look (an
    /// accept event is due but this is not the reactor thread).
    pub(crate) fn drive(&mut self, shared: &Arc<SocketShared>, common: &mut Common, on_reactor: bool) -> bool {
        let wants_reactor = self.accept_connections(shared, common, on_reactor);
        if std::mem::take(&mut self.retry_later) {
            shared.provider.set_timer(shared.token, Instant::now() + RESOURCE_RETRY);
        }
        wants_reactor
    }

    /// The accept timer fired: look at the backlog again.
    pub(crate) fn on_timer(&mut self) {
        self.readable = true;
    }

    fn accept_connections(&mut self, shared: &Arc<SocketShared>, common: &mut Common, on_reactor: bool) -> bool {
        if self.io.is_none() {
            return false;
        }
        let intake_wants_reactor = self.conditional.enabled && self.intake(shared, common, on_reactor);
        while !self.accepts.is_empty() && self.waiting() && self.dead.is_none() {
            let accepted = self.next_connection();
            match accepted {
                Ok((stream, remote, inspect_id)) => {
                    let pending = self.accepts.pop_front().expect("non-empty");
                    let local = stream.local_addr().unwrap_or(self.local.unwrap_or(self.family_of));
                    let statics = shared.reg.static_events();
                    let events = EventState::new(Category::Connection, statics);
                    let result =
                        ConnectionSocket::from_accepted(&shared.reg, stream, local, remote, events, pending.events)
                            .map(|socket| Accepted { socket, local, remote });
                    if let (Ok(a), Some(id)) = (&result, inspect_id) {
                        a.socket.set_inspect_id(id);
                    }
                    common.complete(pending.done, result);
                }
                Err(e) => self.accept_failed(&e),
            }
        }
        if let Some(status) = self.dead {
            while let Some(p) = self.accepts.pop_front() {
                common.complete(p.done, Err(status));
            }
        }
        let Some(handler) = self.handler.clone() else {
            return intake_wants_reactor;
        };
        if !self.accepts.is_empty() || !common.events.is_enabled(WSK_EVENT_ACCEPT) || common.event_in_flight() {
            return intake_wants_reactor;
        }
        let (stream, remote, inspect_id) = loop {
            if self.dead.is_some() {
                if self.death_indicated {
                    return false;
                }
                if !on_reactor {
                    return true;
                }
                // The NULL AcceptSocket: the listener stopped working; said exactly once.
                self.death_indicated = true;
                common.event(WSK_EVENT_ACCEPT, move || {
                    let _ = handler.on_accept(None);
                });
                return false;
            }
            if !self.waiting() {
                return intake_wants_reactor;
            }
            if !on_reactor {
                return true;
            }
            let accepted = self.next_connection();
            match accepted {
                Ok(c) => break c,
                // WouldBlock, a transient failure (try the next connection), or death.
                Err(e) => self.accept_failed(&e),
            }
        };
        let local = stream.local_addr().unwrap_or(self.local.unwrap_or(self.family_of));
        let events = EventState::accepted(&common.events, shared.reg.static_events());
        let socket = match ConnectionSocket::from_accepted(&shared.reg, stream, local, remote, events, None) {
            Ok(s) => s,
            Err(_) => return false, // registration going away: the connection is dropped (reset)
        };
        if let Some(id) = inspect_id {
            socket.set_inspect_id(id);
        }
        common.event(WSK_EVENT_ACCEPT, move || {
            let new_socket = Arc::clone(&socket.h.shared);
            let handle = Arc::clone(&socket.h);
            match handler.on_accept(Some(Accepted { socket, local, remote })) {
                AcceptOutcome::Accept(events) => ConnectionSocket::set_handler(&new_socket, events),
                AcceptOutcome::Reject => {
                    let _ = new_socket.close(None);
                }
            }
            drop(handle);
        });
        false
    }

    fn accept_failed(&mut self, e: &io::Error) {
        match e.raw_os_error() {
            _ if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
            // The peer gave up before we took the connection: try the next one.
            Some(errno::ECONNABORTED) | Some(errno::EPROTO) | Some(errno::EPERM) => {}
            // Out of descriptors or memory: epoll reports nothing new for connections
            // already waiting, so look again after a pause (see `retry_later`).
            Some(errno::EMFILE) | Some(errno::ENFILE) | Some(errno::ENOBUFS) | Some(errno::ENOMEM) => {
                tracing::warn!(local = ?self.local, error = %e, "accept failed for want of resources; retrying");
                self.readable = false;
                self.retry_later = true;
            }
            _ => {
                let status = NtStatus::from_io_error(e);
                tracing::warn!(local = ?self.local, error = %e, %status, "listening socket failed");
                self.dead = Some(status);
            }
        }
    }

    pub(crate) fn option_context(&self) -> OptionContext {
        OptionContext { v6: self.family_of.is_ipv6(), bound: self.io.is_some(), tcp: true }
    }

    pub(crate) fn set_option(&mut self, option: SockOpt) -> Result<()> {
        match &self.io {
            Some(io) => host_result(io.set_option(&option)),
            None => {
                self.options.set(option);
                Ok(())
            }
        }
    }

    pub(crate) fn get_option(&self, name: OptName) -> Result<SockOpt> {
        get_or_kept(self.io.as_deref(), &self.options, name)
    }

    pub(crate) fn cancel(&mut self, common: &mut Common, id: OpId) -> bool {
        match self.accepts.remove(id) {
            Some(p) => {
                common.complete(p.done, Err(NtStatus::CANCELLED));
                true
            }
            None => false,
        }
    }

    /// The state of a stream socket committed to listening by `WskListen`: bound and
    /// listening already (`io`), with the options and callbacks it had before.
    pub(crate) fn from_stream(
        family_of: SocketAddr,
        options: ListenOptions,
        io: Box<dyn TcpListener>,
        handler: Option<Arc<dyn ListenEvents>>,
        conditional_accept: bool,
    ) -> ListenState {
        let local = io.local_addr().ok();
        ListenState {
            family_of,
            options,
            io: Some(io),
            local,
            handler,
            accepts: OpQueue::default(),
            readable: true,
            dead: None,
            death_indicated: false,
            retry_later: false,
            conditional: conditional::Conditional::new(conditional_accept),
        }
    }

    pub(crate) fn close(&mut self, common: &mut Common) {
        while let Some(p) = self.accepts.pop_front() {
            common.complete(p.done, Err(NtStatus::CANCELLED));
        }
        self.conditional.reset_all();
        self.io = None;
        self.handler = None;
    }
}

/// A listening socket (`WSK_FLAG_LISTEN_SOCKET`).
///
/// ```
/// # fn main() -> Result<(), wsk::NtStatus> {
/// let registration = wsk::Registration::new()?;
/// let npi = registration.capture(wsk::Wait::Infinite)?;
/// let listener = npi.listen_socket("127.0.0.1:0".parse().unwrap(), None).wait()?;
/// listener.bind("127.0.0.1:0".parse().unwrap()).wait()?;   // starts listening
/// let addr = listener.local_addr()?;
/// let client = npi.socket_connect("127.0.0.1:0".parse().unwrap(), addr, None);
/// let accepted = listener.accept(None).wait()?;
/// assert_eq!(accepted.remote, client.wait()?.local_addr()?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ListenSocket {
    pub(crate) h: Arc<Handle>,
}

impl std::fmt::Debug for ListenSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenSocket").field("token", &self.h.shared.token).finish()
    }
}

super::control::socket_control!(ListenSocket);

impl ListenSocket {
    pub(crate) fn create(
        reg: &Arc<RegInner>,
        family_of: SocketAddr,
        handler: Option<Arc<dyn ListenEvents>>,
    ) -> Result<ListenSocket> {
        let state = ListenState {
            family_of,
            options: ListenOptions::default(),
            io: None,
            local: None,
            handler,
            accepts: OpQueue::default(),
            readable: false,
            dead: None,
            death_indicated: false,
            retry_later: false,
            conditional: Default::default(),
        };
        let shared = SocketShared::open(reg, Category::Listen, None, Kind::Listen(state))?;
        Ok(ListenSocket { h: Handle::new(shared) })
    }

    fn with_state<R>(&self, f: impl FnOnce(&mut Common, &mut ListenState) -> R) -> Result<R> {
        self.h.with_state(|common, l| Ok(f(common, l)))
    }

    /// `IPPROTO_IPV6`/`IPV6_V6ONLY` before bind: `false` makes an IPv6 listener dual-stack.
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

    /// `WskBind`: binds to `addr` and starts listening.
    ///
    /// Fails with `STATUS_INVALID_DEVICE_STATE` when already bound, `STATUS_INVALID_PARAMETER`
    /// for an address of the other family, `STATUS_ADDRESS_ALREADY_ASSOCIATED` when in use.
    pub fn bind(&self, addr: SocketAddr) -> Op<()> {
        let shared = &self.h.shared;
        let result = self.with_state(|_, l| {
            if l.io.is_some() {
                return Err(NtStatus::INVALID_DEVICE_STATE);
            }
            if addr.is_ipv4() != l.family_of.is_ipv4() {
                return Err(NtStatus::INVALID_PARAMETER);
            }
            let io = shared.provider.backend.tcp_listen(addr, &l.options).map_err(|e| NtStatus::from_io_error(&e))?;
            io.register(shared.token).map_err(|e| NtStatus::from_io_error(&e))?;
            l.local = Some(io.local_addr().map_err(|e| NtStatus::from_io_error(&e))?);
            tracing::debug!(socket = shared.token, local = ?l.local, "listening");
            l.io = Some(io);
            l.readable = true;
            Ok(())
        });
        let result = result.and_then(|r| r);
        if result.is_ok() {
            shared.provider.schedule(shared.token);
        }
        Op::ready(result)
    }

    /// `WskAccept`: completes with the next connection (FIFO among pending accepts),
    /// whose callbacks will be `events` (all disabled until enabled).
    ///
    /// Fails with `STATUS_INVALID_DEVICE_STATE` before bind, and `STATUS_CANCELLED` when
    /// the listener closes first.
    pub fn accept(&self, events: Option<Arc<dyn ConnectionEvents>>) -> Op<Accepted> {
        let (op, done) = Op::new();
        match self.accept_with(events, done) {
            Some(id) => op.cancellable(&self.h.shared, id),
            None => op,
        }
    }

    /// [`ListenSocket::accept`] with a completion routine instead of a future.
    pub fn accept_then(
        &self,
        events: Option<Arc<dyn ConnectionEvents>>,
        done: impl FnOnce(Result<Accepted>) + Send + 'static,
    ) -> Option<Canceller> {
        self.accept_with(events, Box::new(done)).map(|id| Canceller::new(&self.h.shared, id))
    }

    fn accept_with(&self, events: Option<Arc<dyn ConnectionEvents>>, done: Done<Accepted>) -> Option<OpId> {
        let shared = &self.h.shared;
        let mut st = shared.lock();
        let super::SocketState { common, kind } = &mut *st;
        let error = if common.closed {
            Some(NtStatus::INVALID_HANDLE)
        } else {
            match kind {
                Kind::Listen(l) if l.io.is_none() => Some(NtStatus::INVALID_DEVICE_STATE),
                Kind::Listen(l) => match l.dead {
                    Some(status) => Some(status),
                    None => {
                        let id = common.next_id();
                        l.accepts.push(id, PendingAccept { events, done });
                        shared.run(st);
                        return Some(id);
                    }
                },
                _ => Some(NtStatus::INVALID_DEVICE_REQUEST),
            }
        };
        drop(st);
        done(Err(error.expect("set above")));
        None
    }

    /// `WskGetLocalAddress`.
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` before bind; `STATUS_INVALID_HANDLE` after close.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.with_state(|_, l| l.local.ok_or(NtStatus::INVALID_DEVICE_STATE))?
    }

    /// `SO_WSK_EVENT_CALLBACK` enable: turns on the callbacks in `mask` (after bind).
    /// Connection-event bits are inherited by sockets delivered through `WskAcceptEvent`.
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` before bind; `STATUS_INVALID_PARAMETER` for bits
    /// that are not listening or connection events.
    pub fn enable_events(&self, mask: u32) -> Result<()> {
        self.h.set_events(mask)
    }

    /// `SO_WSK_EVENT_CALLBACK` disable of one event, with an IRP: completes once no
    /// callback of that event runs any more.
    pub fn disable_event(&self, bit: u32) -> Op<()> {
        self.h.disable_event(bit)
    }

    /// The same without an IRP: `STATUS_SUCCESS`, or `STATUS_EVENT_PENDING` when that
    /// callback is running now (it is disabled once it returns).
    pub fn disable_event_nowait(&self, bit: u32) -> NtStatus {
        self.h.disable_event_nowait(bit)
    }

    /// `WskCloseSocket`: pending accepts complete with `STATUS_CANCELLED` before the close does.
    pub fn close(&self) -> Op<()> {
        self.h.close()
    }

    /// The host descriptor of the listener (for diagnostics and fault injection), once bound.
    pub fn raw_fd(&self) -> Option<i32> {
        self.with_state(|_, l| l.io.as_ref().map(|io| io.raw_fd())).ok().flatten()
    }
}
