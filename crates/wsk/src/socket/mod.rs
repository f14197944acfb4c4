//! Sockets: one file per category, one shared frame around them.
//!
//! Every socket is a [`SocketShared`] in the provider's table: a mutex over its
//! state and an *outbox* of work (completion routines and event callbacks) that is
//! run, in order, with no lock held. Whoever finds the outbox idle runs it; anyone
//! else only appends. This gives three WSK guarantees at once:
//! - completions of one socket run in the order the provider decided them (FIFO);
//! - callbacks of one socket never overlap, and event callbacks run on the reactor;
//! - client code runs with no provider lock held, so it may call back into WSK,
//!   and a close issued during a callback completes after that callback returned.

mod address_list;
mod basic;
mod connection;
pub(crate) mod control;
mod datagram;
mod listen;
mod options;
mod stream;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use wsk_core::backend::Readiness;
use wsk_core::event::{Category, EventRequest, EventState};
use wsk_core::status::NtStatus;

use crate::indication::Ledger;
use crate::op::{ClientCode, Done, Op, OpId, Result};
use crate::provider::{lock, ProviderInner};
use crate::registration::RegInner;
use wsk_core::irp::{OpIds, OpQueue};

pub(crate) use address_list::{AddressWatchState, ADDRESS_WATCH_TOKEN};
pub use basic::BasicSocket;
pub(crate) use basic::BasicState;
pub(crate) use connection::ConnState;
pub use connection::{ConnectionSocket, ConnectionStats};
pub use control::SocketControl;
pub(crate) use datagram::DgramState;
pub use datagram::{DatagramSocket, DatagramStats, ReceiveFromInfo, ReceivedDatagram};
pub use listen::ListenSocket;
pub(crate) use listen::ListenState;
pub use listen::{InspectAction, InspectId, InspectRequest};
pub(crate) use stream::StreamState;
pub use stream::{StreamRole, StreamSocket};

/// Default receive backlog limit of a connection: receive memory the provider holds
/// for one socket (unconsumed plus retained) before it stops reading the host socket.
pub const DEFAULT_RECEIVE_BACKLOG: usize = 1024 * 1024;

/// How many completion routines a client thread runs inline, in one call, before it
/// hands the rest of the socket's outbox to the reactor.
const INLINE_BUDGET: usize = 16;

/// One unit of deferred client code.
pub(crate) struct Work {
    /// The event bit whose callback this is, or 0 for a completion routine.
    event: u32,
    /// This is the close's own completion.
    close: bool,
    run: Box<dyn FnOnce() + Send>,
}

impl Work {
    fn completion(run: impl FnOnce() + Send + 'static) -> Work {
        Work { event: 0, close: false, run: Box::new(run) }
    }
}

pub(crate) struct Common {
    outbox: VecDeque<Work>,
    delivering: bool,
    pub(crate) closed: bool,
    ids: OpIds,
    pub(crate) events: EventState,
    /// The event callback running now, if any (its bit).
    running_event: u32,
    /// The close's own completion is queued and has not run yet.
    close_queued: bool,
    /// `SO_EXCLUSIVEADDRUSE` as the client set it (the provider enforces it).
    pub(crate) exclusive_address: bool,
    /// `SO_REUSEADDR` as the client set it.
    pub(crate) reuse_address: bool,
    /// Pending `SIO_ADDRESS_LIST_CHANGE` requests.
    pub(crate) address_changes: OpQueue<Done<()>>,
}

impl Common {
    fn new(events: EventState) -> Self {
        Common {
            outbox: VecDeque::new(),
            delivering: false,
            closed: false,
            ids: OpIds::default(),
            events,
            running_event: 0,
            close_queued: false,
            exclusive_address: false,
            reuse_address: false,
            address_changes: OpQueue::default(),
        }
    }

    pub(crate) fn next_id(&mut self) -> OpId {
        self.ids.next_id()
    }

    /// Queues a completion routine with its result.
    pub(crate) fn complete<T: Send + 'static>(&mut self, done: Done<T>, result: Result<T>) {
        self.completion(move || done(result));
    }

    /// Queues a completion routine. Per WskCloseSocket, nothing of a socket completes
    /// after its close: a call that a running callback makes while the socket closes
    /// completes (with its error) before the close's own completion.
    pub(crate) fn completion(&mut self, run: impl FnOnce() + Send + 'static) {
        let work = Work::completion(run);
        let close = if self.close_queued { self.outbox.iter().rposition(|w| w.close) } else { None };
        match close {
            Some(close) => self.outbox.insert(close, work),
            None => self.outbox.push_back(work),
        }
    }

    /// Queues an event callback (run only on the reactor thread).
    pub(crate) fn event(&mut self, bit: u32, run: impl FnOnce() + Send + 'static) {
        self.outbox.push_back(Work { event: bit, close: false, run: Box::new(run) });
    }

    /// Whether an event callback is queued or running.
    pub(crate) fn event_in_flight(&self) -> bool {
        self.running_event != 0 || self.outbox.iter().any(|w| w.event != 0)
    }
}

pub(crate) enum Kind {
    Basic(BasicState),
    Listen(ListenState),
    Connection(ConnState),
    /// A stream socket not yet committed: replaced in place by `Listen` (`WskListen`) or
    /// `Connection` (`WskConnect`), same token, same registration count.
    Stream(StreamState),
    Datagram(DgramState),
}

impl Kind {
    /// Whether the socket is of the IPv6 family.
    pub(crate) fn is_v6(&self) -> bool {
        self.option_context().v6
    }
}

pub(crate) struct SocketState {
    pub(crate) common: Common,
    pub(crate) kind: Kind,
}

/// The provider's side of one socket.
pub(crate) struct SocketShared {
    pub(crate) token: usize,
    pub(crate) category: Category,
    pub(crate) provider: Arc<ProviderInner>,
    pub(crate) reg: Arc<RegInner>,
    pub(crate) ledger: Arc<Ledger>,
    state: Mutex<SocketState>,
}

impl SocketShared {
    /// Adds a socket to the provider's table, counted by its registration.
    pub(crate) fn open(
        reg: &Arc<RegInner>,
        category: Category,
        events: Option<EventState>,
        kind: Kind,
    ) -> Result<Arc<SocketShared>> {
        let statics = reg.socket_opened()?;
        let provider = Arc::clone(&reg.provider.inner);
        let events = events.unwrap_or_else(|| EventState::new(category, statics));
        let socket = provider.clone().insert_socket(|token| {
            Arc::new(SocketShared {
                token,
                category,
                ledger: Ledger::new(Arc::downgrade(&provider), token, DEFAULT_RECEIVE_BACKLOG),
                provider: Arc::clone(&provider),
                reg: Arc::clone(reg),
                state: Mutex::new(SocketState { common: Common::new(events), kind }),
            })
        });
        tracing::debug!(socket = socket.token, ?category, "socket opened");
        Ok(socket)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, SocketState> {
        lock(&self.state)
    }

    /// Lets the socket make progress after a state change, then runs its outbox.
    pub(crate) fn run(self: &Arc<Self>, mut st: MutexGuard<'_, SocketState>) {
        let on_reactor = self.provider.is_reactor_thread();
        self.drive(&mut st, on_reactor);
        drop(st);
        self.deliver(on_reactor);
    }

    fn drive(self: &Arc<Self>, st: &mut SocketState, on_reactor: bool) {
        if st.common.closed {
            return;
        }
        let SocketState { common, kind } = st;
        let wants_reactor = match kind {
            Kind::Basic(_) => false,
            Kind::Listen(l) => l.drive(self, common, on_reactor),
            Kind::Connection(c) => c.drive(self, common, on_reactor),
            Kind::Datagram(d) => d.drive(self, common, on_reactor),
            Kind::Stream(_) => false,
        };
        if wants_reactor && !on_reactor {
            self.provider.schedule(self.token);
        }
    }

    pub(crate) fn on_readiness(self: &Arc<Self>, readiness: Readiness) {
        let mut st = self.lock();
        match &mut st.kind {
            Kind::Basic(_) => {}
            Kind::Listen(l) => l.readiness(readiness),
            Kind::Connection(c) => c.readiness(readiness),
            Kind::Datagram(d) => d.readiness(readiness),
            Kind::Stream(_) => {}
        }
        self.run(st);
    }

    pub(crate) fn on_timer(self: &Arc<Self>) {
        let mut st = self.lock();
        let SocketState { common, kind } = &mut *st;
        match kind {
            Kind::Basic(_) => {}
            Kind::Connection(c) => c.on_timer(self, common),
            Kind::Listen(l) => l.on_timer(),
            Kind::Datagram(_) => {}
            Kind::Stream(_) => {}
        }
        self.run(st);
    }

    /// Runs queued client code, in order, with no lock held.
    pub(crate) fn deliver(self: &Arc<Self>, on_reactor: bool) {
        let mut st = self.lock();
        if st.common.delivering {
            return;
        }
        let mut budget = INLINE_BUDGET;
        while let Some(front) = st.common.outbox.front() {
            if !on_reactor && (front.event != 0 || budget == 0) {
                // Event callbacks belong to the reactor, and a client thread is lent only
                // for a few completions (a routine that starts the next send from each
                // completion would otherwise keep it forever): the reactor takes over.
                self.provider.schedule(self.token);
                break;
            }
            budget = budget.saturating_sub(1);
            let work = st.common.outbox.pop_front().expect("front exists");
            if work.close {
                st.common.close_queued = false;
            }
            st.common.delivering = true;
            st.common.running_event = work.event;
            drop(st);
            // A panic in client code must not take the provider thread (or this
            // socket's outbox) down with it: it is reported and delivery goes on.
            let client_code = ClientCode::enter();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work.run));
            drop(client_code);
            if outcome.is_err() {
                tracing::error!(socket = self.token, "a client callback or completion routine panicked");
            }
            st = self.lock();
            st.common.delivering = false;
            st.common.running_event = 0;
            if work.event != 0 {
                // The callback's outcome may allow more progress (the next indication).
                self.drive(&mut st, on_reactor);
            }
        }
    }

    /// `IoCancelIrp` for operation `id`: completes it with `STATUS_CANCELLED` if still pending.
    pub(crate) fn cancel(self: &Arc<Self>, id: OpId) -> bool {
        let mut st = self.lock();
        let SocketState { common, kind } = &mut *st;
        let found = if let Some(done) = common.address_changes.remove(id) {
            common.complete(done, Err(NtStatus::CANCELLED));
            true
        } else {
            match kind {
                Kind::Basic(_) => false,
                Kind::Listen(l) => l.cancel(common, id),
                Kind::Connection(c) => c.cancel(common, id),
                Kind::Datagram(d) => d.cancel(common, id),
                Kind::Stream(_) => false,
            }
        };
        self.run(st);
        found
    }

    /// `SO_WSK_EVENT_CALLBACK`: enable (no IRP) or disable one event.
    ///
    /// Disabling while that callback runs: with `done`, the completion follows the
    /// callback's return (`STATUS_PENDING`); without, `STATUS_EVENT_PENDING`.
    pub(crate) fn control_events(self: &Arc<Self>, mask: u32, done: Option<Done<()>>) -> NtStatus {
        let mut st = self.lock();
        if st.common.closed {
            return finish_sync(self, st, done, Err(NtStatus::INVALID_HANDLE));
        }
        let request = match EventRequest::parse(mask) {
            Ok(r) => r,
            Err(e) => return finish_sync(self, st, done, Err(e)),
        };
        let ready = match &st.kind {
            Kind::Basic(_) => false,
            Kind::Listen(l) => l.is_bound(),
            Kind::Connection(c) => c.is_connected(),
            Kind::Datagram(d) => d.is_bound(),
            // Events of a stream socket: once committed (then bound and listening, or connected).
            Kind::Stream(_) => false,
        };
        match request {
            EventRequest::Enable(mask) => {
                if !ready {
                    return finish_sync(self, st, done, Err(NtStatus::INVALID_DEVICE_STATE));
                }
                let result = st.common.events.enable(mask);
                if result.is_ok() {
                    if let Kind::Connection(c) = &mut st.kind {
                        c.events_enabled(mask);
                    }
                    if let Kind::Datagram(d) = &mut st.kind {
                        d.events_enabled(mask);
                    }
                }
                finish_sync(self, st, done, result)
            }
            EventRequest::Disable(bit) => {
                if let Err(e) = st.common.events.disable(bit) {
                    return finish_sync(self, st, done, Err(e));
                }
                // A callback of this event that is queued (the reactor delivers it next) is
                // as good as running: it completes a disable only once it returned, and a
                // disable without an IRP answers STATUS_EVENT_PENDING, so SUCCESS always
                // means that no callback of the event comes any more.
                let running = st.common.running_event == bit || st.common.outbox.iter().any(|w| w.event == bit);
                if !running {
                    return finish_sync(self, st, done, Ok(()));
                }
                match done {
                    Some(done) => {
                        // Queued behind the running callback: completes once it returned.
                        st.common.complete(done, Ok(()));
                        self.run(st);
                        NtStatus::PENDING
                    }
                    None => NtStatus::EVENT_PENDING,
                }
            }
        }
    }

    /// `WskCloseSocket`: cancels every pending operation, drops queued callbacks, waits
    /// (without blocking the caller) for a running callback, then completes `done`.
    pub(crate) fn close(self: &Arc<Self>, done: Option<Done<()>>) -> Result<()> {
        let mut st = self.lock();
        if st.common.closed {
            drop(st);
            if let Some(done) = done {
                done(Err(NtStatus::INVALID_HANDLE));
            }
            return Err(NtStatus::INVALID_HANDLE);
        }
        st.common.closed = true;
        tracing::debug!(socket = self.token, "closing");
        // Callbacks not yet started never start; dropping them releases what they carried.
        let dropped: Vec<Work> = {
            let outbox = std::mem::take(&mut st.common.outbox);
            let (events, rest): (Vec<Work>, Vec<Work>) = outbox.into_iter().partition(|w| w.event != 0);
            st.common.outbox = rest.into();
            events
        };
        let SocketState { common, kind } = &mut *st;
        while let Some(done) = common.address_changes.pop_front() {
            common.complete(done, Err(NtStatus::CANCELLED));
        }
        match kind {
            Kind::Basic(_) => {}
            Kind::Listen(l) => l.close(common),
            Kind::Connection(c) => c.close(common),
            Kind::Datagram(d) => d.close(common),
            Kind::Stream(s) => s.close(),
        }
        let reg = Arc::clone(&self.reg);
        let provider = Arc::clone(&self.provider);
        let token = self.token;
        let mut close = Work::completion(move || {
            // The registration counts the socket closed only once the close's completion
            // routine has returned (or unwound): a deregistration waiting for the socket
            // must not return while the client's close routine still runs.
            struct Closed(Arc<RegInner>);
            impl Drop for Closed {
                fn drop(&mut self) {
                    self.0.socket_closed();
                }
            }
            let _closed = Closed(reg);
            provider.remove_socket(token);
            if let Some(done) = done {
                done(Ok(()));
            }
        });
        close.close = true;
        st.common.outbox.push_back(close);
        st.common.close_queued = true;
        drop(st);
        drop(dropped);
        self.deliver(self.provider.is_reactor_thread());
        Ok(())
    }
}

/// Completes a call that finished synchronously: through `done` when given, and as the
/// returned status (the IRP and the return value agree).
fn finish_sync(
    socket: &Arc<SocketShared>,
    mut st: MutexGuard<'_, SocketState>,
    done: Option<Done<()>>,
    result: Result<()>,
) -> NtStatus {
    let status = match result {
        Ok(()) => NtStatus::SUCCESS,
        Err(e) => e,
    };
    if let Some(done) = done {
        st.common.complete(done, result);
    }
    socket.run(st);
    status
}

/// The state of one socket category inside [`Kind`]: lets the typed socket handles share
/// one implementation of "run this on my state" and "start an operation".
pub(crate) trait KindState: Sized {
    fn of(kind: &mut Kind) -> Option<&mut Self>;
}

macro_rules! kind_state {
    ($state:ty, $variant:ident) => {
        impl KindState for $state {
            fn of(kind: &mut Kind) -> Option<&mut Self> {
                match kind {
                    Kind::$variant(s) => Some(s),
                    _ => None,
                }
            }
        }
    };
}
kind_state!(ListenState, Listen);
kind_state!(ConnState, Connection);
kind_state!(DgramState, Datagram);

/// Runs a client's receive callback. If it panics, `returned` still gets the indication
/// (with `fallback` as the outcome, so the socket is not left waiting for it forever),
/// then the panic goes on to [`SocketShared::deliver`], which reports it.
pub(crate) fn run_receive_callback<I, O>(
    indication: I,
    callback: impl FnOnce(&mut I) -> O,
    fallback: O,
    returned: impl FnOnce(O, I),
) {
    let mut indication = indication;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| callback(&mut indication)));
    match outcome {
        Ok(outcome) => returned(outcome, indication),
        Err(panic) => {
            returned(fallback, indication);
            std::panic::resume_unwind(panic);
        }
    }
}

/// What every socket handle holds; dropping the last handle closes the socket.
pub(crate) struct Handle {
    pub(crate) shared: Arc<SocketShared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.shared.close(None);
    }
}

impl Handle {
    pub(crate) fn new(shared: Arc<SocketShared>) -> Arc<Handle> {
        Arc::new(Handle { shared })
    }

    /// Runs `f` on the socket's `S` state: `STATUS_INVALID_HANDLE` after close,
    /// `STATUS_INVALID_DEVICE_REQUEST` when the socket is of another category.
    pub(crate) fn with_state<S: KindState, R>(&self, f: impl FnOnce(&mut Common, &mut S) -> Result<R>) -> Result<R> {
        let mut st = self.shared.lock();
        let SocketState { common, kind } = &mut *st;
        if common.closed {
            return Err(NtStatus::INVALID_HANDLE);
        }
        match S::of(kind) {
            Some(state) => f(common, state),
            None => Err(NtStatus::INVALID_DEVICE_REQUEST),
        }
    }

    /// Starts an operation on the socket's `S` state under its lock: on success the
    /// operation is pending (its id; it may complete during `run`), on error it completes
    /// at once with that status, in order, through the outbox.
    pub(crate) fn start<S: KindState, T: Send + 'static>(
        &self,
        done: Done<T>,
        start: impl FnOnce(&mut Common, &mut S, OpId, Done<T>) -> std::result::Result<(), (NtStatus, Done<T>)>,
    ) -> Option<OpId> {
        let shared = &self.shared;
        let mut st = shared.lock();
        let SocketState { common, kind } = &mut *st;
        let outcome = if common.closed {
            Err((NtStatus::INVALID_HANDLE, done))
        } else {
            match S::of(kind) {
                Some(state) => {
                    let id = common.next_id();
                    start(common, state, id, done).map(|()| id)
                }
                None => Err((NtStatus::INVALID_DEVICE_REQUEST, done)),
            }
        };
        match outcome {
            Ok(id) => {
                shared.run(st);
                Some(id)
            }
            Err((status, done)) => {
                // Synchronous failure: the completion still runs, in order, through the outbox.
                st.common.complete(done, Err(status));
                shared.run(st);
                None
            }
        }
    }

    /// [`Handle::start`] as a cancellable [`Op`].
    pub(crate) fn op<S: KindState, T: Send + 'static>(
        &self,
        start: impl FnOnce(&mut Common, &mut S, OpId, Done<T>) -> std::result::Result<(), (NtStatus, Done<T>)>,
    ) -> Op<T> {
        let (op, done) = Op::new();
        match self.start(done, start) {
            Some(id) => op.cancellable(&self.shared, id),
            None => op,
        }
    }

    /// `WskCloseSocket` as an op.
    pub(crate) fn close(&self) -> Op<()> {
        let (op, done) = Op::new();
        let _ = self.shared.close(Some(done));
        op
    }

    pub(crate) fn set_events(&self, mask: u32) -> Result<()> {
        match self.shared.control_events(mask, None) {
            NtStatus::SUCCESS => Ok(()),
            e => Err(e),
        }
    }

    pub(crate) fn disable_event(&self, bit: u32) -> Op<()> {
        let (op, done) = Op::new();
        self.shared.control_events(bit | wsk_core::consts::events::WSK_EVENT_DISABLE, Some(done));
        op
    }

    pub(crate) fn disable_event_nowait(&self, bit: u32) -> NtStatus {
        self.shared.control_events(bit | wsk_core::consts::events::WSK_EVENT_DISABLE, None)
    }
}
