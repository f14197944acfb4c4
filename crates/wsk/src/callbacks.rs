//! Event callbacks: what a client implements to be called by the provider.
//!
//! These are the Rust form of the client dispatch tables
//! (`WSK_CLIENT_CONNECTION_DISPATCH`, `WSK_CLIENT_LISTEN_DISPATCH`). Callbacks run on a
//! provider thread, never concurrently for one socket, and never while the provider
//! holds a lock: a callback may start any WSK operation (send from a receive callback,
//! close from a disconnect callback). It must not *wait* for one to complete.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::datagram_indication::DatagramIndication;
use crate::indication::DataIndication;
use crate::socket::{ConnectionSocket, InspectAction, InspectId, InspectRequest};

/// Flags the provider passes to an event callback (`WSK_FLAG_*` event flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EventFlags(pub u32);

impl EventFlags {
    /// `WSK_FLAG_RELEASE_ASAP`: the provider is short of receive buffers; copy instead of retaining.
    pub fn release_asap(self) -> bool {
        self.0 & wsk_core::consts::event_flags::WSK_FLAG_RELEASE_ASAP != 0
    }

    /// `MSG_BCAST` (`WskReceiveFromEvent`): the datagrams were sent to a broadcast address.
    pub fn broadcast(self) -> bool {
        self.0 & wsk_core::cmsg::msg::MSG_BCAST != 0
    }

    /// `MSG_MCAST` (`WskReceiveFromEvent`): the datagrams were sent to a multicast group.
    pub fn multicast(self) -> bool {
        self.0 & wsk_core::cmsg::msg::MSG_MCAST != 0
    }
}

/// What a `WskReceiveEvent` callback did with the data it was shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiveOutcome {
    /// `STATUS_SUCCESS`, everything consumed.
    Accepted,
    /// `STATUS_SUCCESS` with `*BytesAccepted = n` (< indicated): no more indications
    /// until a receive operation (even zero-length) completes; the rest comes first then.
    Partial(usize),
    /// `STATUS_DATA_NOT_ACCEPTED`: nothing taken; as for `Partial(0)`.
    NotAccepted,
    /// `STATUS_PENDING`: the handler called [`DataIndication::retain`] and keeps the
    /// chain until it drops (releases) it. New data keeps being indicated meanwhile.
    /// Returned without calling `retain`, the data counts as accepted.
    Retained,
}

/// Event callbacks of a connection-oriented socket (`WSK_CLIENT_CONNECTION_DISPATCH`).
///
/// Every method has a default that does nothing, so a handler implements only what it
/// enables. A callback runs only while its event is enabled on the socket.
pub trait ConnectionEvents: Send + Sync + 'static {
    /// `WskReceiveEvent`. `None` means the connection is dead (reset or failed): close the socket.
    fn on_receive(&self, indication: Option<&mut DataIndication>, flags: EventFlags) -> ReceiveOutcome {
        let _ = (indication, flags);
        ReceiveOutcome::Accepted
    }

    /// `WskDisconnectEvent`: the peer closed its side (`abortive == false`, FIN) or reset
    /// the connection (`abortive == true`, `WSK_FLAG_ABORTIVE`).
    fn on_disconnect(&self, abortive: bool) {
        let _ = abortive;
    }

    /// `WskSendBacklogEvent`: the ideal amount of send data to keep outstanding changed.
    fn on_send_backlog(&self, ideal_backlog: usize) {
        let _ = ideal_backlog;
    }
}

/// A connection delivered by `WskAcceptEvent` or `WskAccept`.
#[derive(Debug)]
pub struct Accepted {
    /// The new connection-oriented socket.
    pub socket: ConnectionSocket,
    /// The local address the connection arrived on.
    pub local: SocketAddr,
    /// The peer's address.
    pub remote: SocketAddr,
}

/// The answer of a `WskAcceptEvent` callback.
pub enum AcceptOutcome {
    /// `STATUS_SUCCESS`: the client takes the socket, with these callbacks for it
    /// (`AcceptSocketDispatch`; `None` when it will use no callbacks).
    Accept(Option<Arc<dyn ConnectionEvents>>),
    /// `STATUS_REQUEST_NOT_ACCEPTED`: the provider closes the new socket.
    Reject,
}

/// Event callbacks of a listening socket (`WSK_CLIENT_LISTEN_DISPATCH`).
pub trait ListenEvents: Send + Sync + 'static {
    /// `WskAcceptEvent`. `None` (a NULL `AcceptSocket`) means the listening socket stopped
    /// working; it is delivered exactly once, and the client should close the listener.
    fn on_accept(&self, accepted: Option<Accepted>) -> AcceptOutcome;

    /// `WskInspectEvent`, with conditional accept on (`set_conditional_accept`): an
    /// incoming connection to accept, reject (the peer gets a reset) or pend (decide later
    /// with `inspect_complete`). Called for every incoming connection; cannot be
    /// disabled. `None` (a NULL `InspectID`) means the listening socket stopped working;
    /// it is delivered once. The default accepts.
    fn on_inspect(&self, request: Option<InspectRequest>) -> InspectAction {
        let _ = request;
        InspectAction::Accept
    }

    /// `WskAbortEvent`, with conditional accept on: the peer reset a connection that was
    /// inspected and not yet delivered (pended, or accepted and waiting for a `WskAccept`
    /// or `WskAcceptEvent`). It will never be delivered. Cannot be disabled.
    fn on_abort(&self, id: InspectId) {
        let _ = id;
    }
}

/// What a `WskReceiveFromEvent` callback did with the datagrams it was shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiveFromOutcome {
    /// `STATUS_SUCCESS`: every datagram consumed.
    Accepted,
    /// `STATUS_PENDING`: the handler called [`DatagramIndication::retain`] and keeps the
    /// chain until it drops (releases) it, whole or piece by piece. Returned without
    /// calling `retain`, the datagrams count as accepted.
    Retained,
    /// `STATUS_DATA_NOT_ACCEPTED`: nothing taken. The datagrams stay queued, first in line,
    /// for the next `WskReceiveFrom`. A dynamically enabled `WskReceiveFromEvent` is
    /// disabled until enabled again; a static one stays enabled and is called again
    /// (with the queued datagrams first) once new datagrams arrive.
    NotAccepted,
}

/// Event callbacks of a datagram socket (`WSK_CLIENT_DATAGRAM_DISPATCH`).
pub trait DatagramEvents: Send + Sync + 'static {
    /// `WskReceiveFromEvent`: a chain of datagrams arrived; `flags` carries `MSG_BCAST` /
    /// `MSG_MCAST` (every datagram of one chain shares them) and `WSK_FLAG_RELEASE_ASAP`.
    /// `None` means the socket is no longer functional: close it.
    fn on_receive_from(&self, indication: Option<&mut DatagramIndication>, flags: EventFlags) -> ReceiveFromOutcome;
}
