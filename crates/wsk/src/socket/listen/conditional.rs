//! Conditional accept (`SO_CONDITIONAL_ACCEPT`): `WskInspectEvent`, `WskAbortEvent`,
//! `WskInspectComplete` and `SIO_WSK_QUERY_INSPECT_ID`.
//!
//! On Windows the inspect callback runs when the SYN arrives, before the handshake. Linux
//! completes the handshake in the kernel and shows user space only established
//! connections, so this is the closest faithful form (docs/CONDITIONAL_ACCEPT.md):
//! - a conditional listener takes every connection off the host's queue at once (up to
//!   its backlog) and *holds* it, undelivered, while the client decides;
//! - `WskInspectEvent` is called for each one, on the reactor, with its addresses and a
//!   fresh [`InspectId`];
//! - Accept moves it to the queue that pending `WskAccept`s and `WskAcceptEvent` take
//!   from (same order rules as without conditional accept); Reject resets it (RST) and no
//!   accept or abort event follows; Pend keeps it held until `WskInspectComplete`;
//! - a held connection (inspected, pended, or accepted but not yet delivered) that the
//!   peer resets is dropped and `WskAbortEvent` names it; it is never delivered, and a
//!   later `WskInspectComplete` for it fails with `STATUS_CONNECTION_RESET`.
//!
//! Held connections are registered with the reactor under the listener's token, so a
//! reset shows up as an error report for the listener, which then looks at each of them
//! (`SO_ERROR`, which reads no data). A peer's FIN alone does not abort: the connection is
//! half-open and is delivered like any other.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use wsk_core::backend::TcpStream;
use wsk_core::status::NtStatus;

use super::{ListenSocket, ListenState};
use crate::op::{Op, Result};
use crate::socket::{Common, ConnectionSocket, Kind, SocketShared, SocketState};

/// The `Work` event value of `WskInspectEvent` callbacks: not an event bit (inspect and
/// abort callbacks have none and cannot be disabled), only a non-zero mark that keeps
/// them on the reactor and serial with the socket's other callbacks.
const INSPECT_EVENT: u32 = 1 << 24;
/// The same for `WskAbortEvent`.
const ABORT_EVENT: u32 = 1 << 25;
/// How many aborted ids a listener remembers for `WskInspectComplete` to fail with
/// `STATUS_CONNECTION_RESET` (older ones become unknown ids).
const ABORTED_REMEMBERED: usize = 1024;

/// `WSK_INSPECT_ID`: names one incoming connection of a conditional-accept listener.
/// Requests are identified by these contents (not by where they are stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InspectId {
    /// `Key`: the listener's (the provider's token of the listening socket).
    pub key: usize,
    /// `SerialNumber`: counts the listener's connections, from 1.
    pub serial: u32,
}

/// `WSK_INSPECT_ACTION`: the answer of `WskInspectEvent`, and the action of
/// `WskInspectComplete` (there only `Accept` or `Reject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InspectAction {
    /// `WskInspectReject`: the connection is reset; no accept or abort event follows.
    Reject,
    /// `WskInspectAccept`: the connection goes to a pending `WskAccept` or `WskAcceptEvent`.
    Accept,
    /// `WskInspectPend`: held until `WskInspectComplete`.
    Pend,
}

/// What `WskInspectEvent` shows of an incoming connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InspectRequest {
    /// Its id (copy it to complete a pended request later).
    pub id: InspectId,
    /// The local address it arrived on.
    pub local: SocketAddr,
    /// The peer's address.
    pub remote: SocketAddr,
}

enum Phase {
    /// The inspect callback is queued or running; `WskInspectComplete` called meanwhile
    /// (from another thread) leaves its action here, applied if the callback pends.
    Inspecting(Option<InspectAction>),
    /// The callback answered `WskInspectPend`.
    Pended,
}

/// A connection taken from the host and not (yet) delivered.
pub(super) struct Held {
    pub(super) id: InspectId,
    pub(super) stream: Box<dyn TcpStream>,
    pub(super) remote: SocketAddr,
    phase: Phase,
}

/// A listener's conditional-accept state.
#[derive(Default)]
pub(crate) struct Conditional {
    /// `SO_CONDITIONAL_ACCEPT` (set before bind).
    pub(crate) enabled: bool,
    next_serial: u32,
    /// Being inspected or pended, in arrival order.
    held: Vec<Held>,
    /// Accepted by the client, waiting for a `WskAccept` or `WskAcceptEvent`, in order.
    pub(super) ready: VecDeque<Held>,
    /// Ids of held connections the peer reset, most recent last.
    aborted: VecDeque<InspectId>,
    /// An error or hang-up report came in: look at the held connections.
    pub(super) check_held: bool,
    /// The NULL `InspectID` (the listener died) was indicated.
    death_indicated: bool,
}

impl Conditional {
    pub(super) fn new(enabled: bool) -> Self {
        Conditional { enabled, ..Default::default() }
    }

    fn count(&self) -> usize {
        self.held.len() + self.ready.len()
    }

    /// Resets every held connection (close of the listener, or its death).
    pub(super) fn reset_all(&mut self) {
        for h in self.held.drain(..).chain(self.ready.drain(..)) {
            let _ = h.stream.abort();
        }
    }

    fn remember_aborted(&mut self, id: InspectId) {
        if self.aborted.len() == ABORTED_REMEMBERED {
            self.aborted.pop_front();
        }
        self.aborted.push_back(id);
    }

    /// Applies the client's decision to the held connection at `pos`.
    fn decide(&mut self, pos: usize, action: InspectAction) {
        match action {
            InspectAction::Accept => {
                let h = self.held.remove(pos);
                self.ready.push_back(h);
            }
            InspectAction::Reject => {
                let h = self.held.remove(pos);
                // The peer sees the reset; the socket closes when `h` drops.
                let _ = h.stream.abort();
            }
            InspectAction::Pend => self.held[pos].phase = Phase::Pended,
        }
    }

    /// `WskInspectComplete`.
    fn complete(&mut self, id: InspectId, action: InspectAction) -> Result<()> {
        if action == InspectAction::Pend {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        if let Some(pos) = self.aborted.iter().position(|a| *a == id) {
            self.aborted.remove(pos);
            return Err(NtStatus::CONNECTION_RESET);
        }
        let pos = self.held.iter().position(|h| h.id == id).ok_or(NtStatus::INVALID_PARAMETER)?;
        match &mut self.held[pos].phase {
            Phase::Inspecting(decided) => *decided = Some(action),
            Phase::Pended => self.decide(pos, action),
        }
        Ok(())
    }
}

/// Whether the host reports the connection dead (reset, or another pending error).
fn peer_gone(stream: &dyn TcpStream) -> bool {
    matches!(stream.take_error(), Ok(Some(_)) | Err(_))
}

impl ListenState {
    /// Whether a connection is waiting for a consumer: held ones accepted by the client
    /// with conditional accept, the host's queue without.
    pub(super) fn waiting(&self) -> bool {
        if self.conditional.enabled {
            !self.conditional.ready.is_empty()
        } else {
            self.readable
        }
    }

    /// The next connection for a consumer, with its inspect id under conditional accept.
    pub(super) fn next_connection(&mut self) -> std::io::Result<(Box<dyn TcpStream>, SocketAddr, Option<InspectId>)> {
        if self.conditional.enabled {
            let h = self.conditional.ready.pop_front().ok_or(std::io::ErrorKind::WouldBlock)?;
            return Ok((h.stream, h.remote, Some(h.id)));
        }
        let (stream, remote) = self.io.as_ref().expect("bound").accept()?;
        Ok((stream, remote, None))
    }

    /// Conditional accept: drops held connections the peer reset (`WskAbortEvent`), then
    /// takes new connections off the host's queue and inspects them (`WskInspectEvent`).
    /// Returns whether the reactor should look (callbacks are queued only there).
    pub(super) fn intake(&mut self, shared: &Arc<SocketShared>, common: &mut Common, on_reactor: bool) -> bool {
        let Some(handler) = self.handler.clone() else { return false };
        if self.conditional.check_held {
            self.conditional.check_held = false;
            let c = &mut self.conditional;
            let mut gone = Vec::new();
            let mut keep = |h: &Held| {
                let dead = peer_gone(&*h.stream);
                if dead {
                    gone.push(h.id);
                }
                !dead
            };
            c.held.retain(&mut keep);
            c.ready.retain(&mut keep);
            for id in gone {
                tracing::debug!(socket = shared.token, ?id, "held connection reset by the peer");
                c.remember_aborted(id);
                let handler = Arc::clone(&handler);
                common.event(ABORT_EVENT, move || handler.on_abort(id));
            }
        }
        let limit = self.options.backlog.max(1) as usize;
        while self.readable && self.dead.is_none() && self.conditional.count() < limit {
            if !on_reactor {
                return true;
            }
            let accepted = self.io.as_ref().expect("bound").accept();
            let (stream, remote) = match accepted {
                Ok(c) => c,
                Err(e) => {
                    self.accept_failed(&e);
                    continue;
                }
            };
            let local = stream.local_addr().unwrap_or(self.local.unwrap_or(self.family_of));
            if stream.register(shared.token).is_err() {
                // Not watched, a reset would go unnoticed: refuse it.
                let _ = stream.abort();
                continue;
            }
            self.conditional.next_serial = self.conditional.next_serial.wrapping_add(1).max(1);
            let id = InspectId { key: shared.token, serial: self.conditional.next_serial };
            self.conditional.held.push(Held { id, stream, remote, phase: Phase::Inspecting(None) });
            let socket = Arc::clone(shared);
            let handler = Arc::clone(&handler);
            common.event(INSPECT_EVENT, move || {
                let action = handler.on_inspect(Some(InspectRequest { id, local, remote }));
                socket.inspect_returned(id, action);
            });
        }
        if self.dead.is_some() && !self.conditional.death_indicated {
            if !on_reactor {
                return true;
            }
            // The NULL InspectID: the listener stopped working; said exactly once. What
            // it held goes with it.
            self.conditional.death_indicated = true;
            self.conditional.reset_all();
            common.event(INSPECT_EVENT, move || {
                let _ = handler.on_inspect(None);
            });
        }
        false
    }
}

impl SocketShared {
    /// Applies a `WskInspectEvent` answer. (Called from the callback's work item: the
    /// outbox drives the socket right after it.)
    fn inspect_returned(&self, id: InspectId, action: InspectAction) {
        let mut st = self.lock();
        let SocketState { common, kind } = &mut *st;
        let Kind::Listen(l) = kind else { return };
        if common.closed {
            return;
        }
        let c = &mut l.conditional;
        // Gone already: reset by the peer meanwhile (the abort event follows).
        let Some(pos) = c.held.iter().position(|h| h.id == id) else { return };
        let action = match (&c.held[pos].phase, action) {
            (Phase::Inspecting(Some(decided)), InspectAction::Pend) => *decided,
            (_, action) => action,
        };
        c.decide(pos, action);
    }
}

impl ListenSocket {
    /// `SO_CONDITIONAL_ACCEPT` (before bind): with it on, every incoming connection is
    /// shown to `ListenEvents::on_inspect` before it can be accepted
    /// (see `docs/CONDITIONAL_ACCEPT.md` for how this differs from Windows).
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` after bind; `STATUS_INVALID_PARAMETER` to turn it on
    /// for a socket created without listen callbacks (inspecting needs them).
    pub fn set_conditional_accept(&self, on: bool) -> Result<()> {
        self.with_state(|_, l| l.set_conditional(on))?
    }

    /// `SO_CONDITIONAL_ACCEPT` get.
    ///
    /// # Errors
    /// `STATUS_INVALID_HANDLE` after close.
    pub fn conditional_accept(&self) -> Result<bool> {
        self.with_state(|_, l| l.conditional.enabled)
    }

    /// `WskInspectComplete`: the decision for a connection whose inspect callback answered
    /// [`InspectAction::Pend`]: `Accept` (it goes to a pending `WskAccept` or to
    /// `WskAcceptEvent`) or `Reject` (the peer gets a reset). Completes at once.
    ///
    /// Fails with `STATUS_INVALID_PARAMETER` for `Pend` or an id that names no pending
    /// request (never issued, already decided, or not pended), `STATUS_CONNECTION_RESET`
    /// for a request the peer reset (after its `WskAbortEvent`; it is never delivered),
    /// `STATUS_INVALID_HANDLE` after close.
    pub fn inspect_complete(&self, id: InspectId, action: InspectAction) -> Op<()> {
        Op::ready(inspect_complete(&self.h.shared, id, action))
    }
}

/// `WskInspectComplete` on a listening socket (also a stream socket committed to listening).
fn inspect_complete(shared: &Arc<SocketShared>, id: InspectId, action: InspectAction) -> Result<()> {
    let mut st = shared.lock();
    let SocketState { common, kind } = &mut *st;
    let result = if common.closed {
        Err(NtStatus::INVALID_HANDLE)
    } else {
        match kind {
            Kind::Listen(l) => l.conditional.complete(id, action),
            _ => Err(NtStatus::INVALID_DEVICE_REQUEST),
        }
    };
    // An accepted connection may now go to a consumer (an accept event: on the reactor).
    shared.run(st);
    result
}

impl ListenState {
    /// `SO_CONDITIONAL_ACCEPT` set (see [`ListenSocket::set_conditional_accept`]).
    pub(crate) fn set_conditional(&mut self, on: bool) -> Result<()> {
        if self.io.is_some() {
            return Err(NtStatus::INVALID_DEVICE_STATE);
        }
        if on && self.handler.is_none() {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        self.conditional.enabled = on;
        Ok(())
    }
}

impl ConnectionSocket {
    /// `SIO_WSK_QUERY_INSPECT_ID`: the id under which this socket's connection was
    /// inspected, for a socket accepted on a conditional-accept listener.
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_REQUEST` for any other socket; `STATUS_INVALID_HANDLE` after close.
    pub fn inspect_id(&self) -> Result<InspectId> {
        let st = self.h.shared.lock();
        if st.common.closed {
            return Err(NtStatus::INVALID_HANDLE);
        }
        match &st.kind {
            Kind::Connection(c) => c.inspect_id.ok_or(NtStatus::INVALID_DEVICE_REQUEST),
            _ => Err(NtStatus::INVALID_DEVICE_REQUEST),
        }
    }
}
