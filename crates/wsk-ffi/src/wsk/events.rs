//! Client dispatch tables: the Rust event traits, answered by calling C function pointers.
//!
//! `WskReceiveEvent` gets a chain of `WSK_DATA_INDICATION`s, one per provider receive
//! buffer, each with one MDL describing that buffer. The elements are allocated per
//! indication; when the client returns `STATUS_PENDING` it keeps the chain, each element
//! takes ownership of its buffer, and `WskRelease` on any element or sub-chain (from any
//! thread, in any order, after the client re-linked `Next` as it liked) frees exactly
//! the elements reachable from it ([`crate::wsk::indications`], shared with datagram
//! indications).

use std::ffi::c_void;
use std::net::SocketAddr;
use std::sync::Arc;

use wsk_api::{
    AcceptOutcome, Accepted, ConnectionEvents, DataIndication, EventFlags, IndicationBuffer, InspectAction, InspectId,
    InspectRequest, ListenEvents, ReceiveOutcome,
};
use wsk_core::consts::disconnect::WSK_FLAG_ABORTIVE;

use crate::abi::{
    MDL, NTSTATUS, PVOID, SOCKADDR, SOCKADDR_STORAGE, WSK_BUF, WSK_CLIENT_CONNECTION_DISPATCH,
    WSK_CLIENT_LISTEN_DISPATCH, WSK_DATA_INDICATION,
};
use crate::status::{STATUS_DATA_NOT_ACCEPTED, STATUS_PENDING, STATUS_REQUEST_NOT_ACCEPTED, STATUS_SUCCESS};
use crate::wsk::buffers::write_sockaddr;
use crate::wsk::conditional::{action_of, to_c, MISSING_INSPECT};
use crate::wsk::handle::{self, Socket};
use crate::wsk::indications::{self, Chain, Kind};
use crate::wsk::tables;

/// One element of an indicated chain: what the client sees first, then the buffer the
/// element owns once retained.
#[repr(C)]
struct Element {
    ind: WSK_DATA_INDICATION,
    mdl: MDL,
    buffer: Option<IndicationBuffer>,
}

// SAFETY: `#[repr(C)]`, the indication first, its `Next` first.
unsafe impl indications::Element for Element {
    type Ind = WSK_DATA_INDICATION;
    type Owned = IndicationBuffer;
    const KIND: Kind = Kind::Data;

    fn set_next(&mut self, next: *mut WSK_DATA_INDICATION) {
        self.ind.Next = next;
    }

    unsafe fn next(ind: *const WSK_DATA_INDICATION) -> *mut WSK_DATA_INDICATION {
        // SAFETY: per the trait: a live element.
        unsafe { (*ind).Next }
    }

    fn own(&mut self, owned: IndicationBuffer) {
        self.buffer = Some(owned);
    }
}

/// Retained data indication elements not yet released (for the leak report).
pub fn retained_count() -> usize {
    indications::retained_count(Kind::Data)
}

fn element_for(data: &[u8]) -> Box<Element> {
    let mut e = Box::new(Element {
        ind: WSK_DATA_INDICATION {
            Next: std::ptr::null_mut(),
            Buffer: WSK_BUF { Mdl: std::ptr::null_mut(), Offset: 0, Length: data.len() },
        },
        mdl: indications::mdl_over(data),
        buffer: None,
    });
    e.ind.Buffer.Mdl = &mut e.mdl;
    e
}

/// `WskRelease` of a data indication list.
///
/// # Safety
/// `list` is NULL or a pointer the client got from a receive event (checked against the
/// retained set before it is dereferenced).
pub unsafe fn release(list: *mut WSK_DATA_INDICATION) -> NTSTATUS {
    // SAFETY: per the caller; `release` checks the pointer before using it.
    unsafe { indications::release::<Element>(list) }
}

/// A client dispatch table (`WSK_CLIENT_*_DISPATCH`, copied) with its socket context:
/// what the provider calls a socket's event callbacks through.
pub struct CEvents<D> {
    pub(crate) context: usize,
    pub(crate) dispatch: D,
}

/// The client dispatch tables: plain tables of function pointers.
pub trait ClientDispatch: Copy {}
impl ClientDispatch for WSK_CLIENT_CONNECTION_DISPATCH {}
impl ClientDispatch for WSK_CLIENT_LISTEN_DISPATCH {}
impl ClientDispatch for crate::abi::WSK_CLIENT_DATAGRAM_DISPATCH {}

// SAFETY: the context is the client's opaque value; a dispatch table holds only function
// pointers, callable from any thread (callbacks run "in arbitrary thread context").
unsafe impl<D: ClientDispatch> Send for CEvents<D> {}
unsafe impl<D: ClientDispatch> Sync for CEvents<D> {}

impl<D: ClientDispatch> CEvents<D> {
    /// The adapter for a client dispatch table (`None` if the table is NULL).
    ///
    /// # Safety
    /// `dispatch` is NULL or points to a table that stays valid while the socket lives
    /// (it is copied, so later changes by the client are not seen).
    pub unsafe fn new(context: PVOID, dispatch: *const D) -> Option<Arc<Self>> {
        if dispatch.is_null() {
            return None;
        }
        // SAFETY: per the caller: a readable table.
        let dispatch = unsafe { std::ptr::read(dispatch) };
        Some(Arc::new(CEvents { context: context as usize, dispatch }))
    }
}

/// `WSK_CLIENT_CONNECTION_DISPATCH` with its socket context.
pub type CConnectionEvents = CEvents<WSK_CLIENT_CONNECTION_DISPATCH>;

impl CConnectionEvents {
    /// An adapter with no callbacks at all (an accepted socket whose client gave no table).
    pub fn empty() -> Arc<Self> {
        Arc::new(CConnectionEvents {
            context: 0,
            dispatch: WSK_CLIENT_CONNECTION_DISPATCH {
                WskReceiveEvent: None,
                WskDisconnectEvent: None,
                WskSendBacklogEvent: None,
            },
        })
    }

    /// The event bits an optional adapter has no callback for (all of them for `None`).
    pub fn missing_of(events: &Option<Arc<Self>>) -> u32 {
        events.as_ref().map_or(wsk_core::consts::events::CONNECTION_EVENTS, |e| e.missing())
    }

    /// The event bits whose callback the client left NULL.
    pub fn missing(&self) -> u32 {
        use wsk_core::consts::events::*;
        let mut m = 0;
        if self.dispatch.WskReceiveEvent.is_none() {
            m |= WSK_EVENT_RECEIVE;
        }
        if self.dispatch.WskDisconnectEvent.is_none() {
            m |= WSK_EVENT_DISCONNECT;
        }
        if self.dispatch.WskSendBacklogEvent.is_none() {
            m |= WSK_EVENT_SEND_BACKLOG;
        }
        m
    }
}

impl ConnectionEvents for CConnectionEvents {
    fn on_receive(&self, indication: Option<&mut DataIndication>, flags: EventFlags) -> ReceiveOutcome {
        // No callback (receive events inherited by an accepted socket whose table lacks
        // one): the data waits for a WskReceive rather than being lost.
        let Some(callback) = self.dispatch.WskReceiveEvent else { return ReceiveOutcome::NotAccepted };
        let ctx = self.context as PVOID;
        let Some(ind) = indication else {
            let mut accepted = 0usize;
            // SAFETY: the client's callback, called as WSK documents (NULL = connection dead).
            unsafe { callback(ctx, flags.0, std::ptr::null_mut(), 0, &mut accepted) };
            return ReceiveOutcome::Accepted;
        };
        let indicated = ind.bytes_indicated();
        let mut chain = Chain::new(ind.segments().map(element_for).collect());
        let mut accepted = indicated;
        // SAFETY: the chain and its MDLs are valid for the call; the data stays put.
        let status = unsafe { callback(ctx, flags.0, chain.head(), indicated, &mut accepted) };
        if status == STATUS_PENDING {
            chain.retain(ind.retain().into_buffers());
            return ReceiveOutcome::Retained;
        }
        chain.returned("WskReceiveEvent");
        match status {
            STATUS_DATA_NOT_ACCEPTED => ReceiveOutcome::NotAccepted,
            STATUS_SUCCESS if accepted < indicated => ReceiveOutcome::Partial(accepted),
            STATUS_SUCCESS => ReceiveOutcome::Accepted,
            other => {
                tracing::error!(
                    status = format_args!("{:#010x}", other as u32),
                    "WskReceiveEvent returned a status WSK does not allow (SUCCESS, PENDING, DATA_NOT_ACCEPTED); taken as SUCCESS"
                );
                ReceiveOutcome::Accepted
            }
        }
    }

    fn on_disconnect(&self, abortive: bool) {
        if let Some(callback) = self.dispatch.WskDisconnectEvent {
            let flags = if abortive { WSK_FLAG_ABORTIVE } else { 0 };
            // SAFETY: the client's callback.
            unsafe { callback(self.context as PVOID, flags) };
        }
    }

    fn on_send_backlog(&self, ideal_backlog: usize) {
        if let Some(callback) = self.dispatch.WskSendBacklogEvent {
            // SAFETY: the client's callback.
            unsafe { callback(self.context as PVOID, ideal_backlog) };
        }
    }
}

/// `WSK_CLIENT_LISTEN_DISPATCH` with its socket context.
pub type CListenEvents = CEvents<WSK_CLIENT_LISTEN_DISPATCH>;

impl CListenEvents {
    /// The event bits an optional adapter has no callback for, plus
    /// [`MISSING_INSPECT`] without both conditional-accept callbacks.
    pub fn missing_of(events: &Option<Arc<Self>>) -> u32 {
        let Some(e) = events else { return wsk_core::consts::events::WSK_EVENT_ACCEPT | MISSING_INSPECT };
        let mut m = 0;
        if e.dispatch.WskAcceptEvent.is_none() {
            m |= wsk_core::consts::events::WSK_EVENT_ACCEPT;
        }
        if e.dispatch.WskInspectEvent.is_none() || e.dispatch.WskAbortEvent.is_none() {
            m |= MISSING_INSPECT;
        }
        m
    }
}

pub(crate) fn sockaddr_of(addr: &SocketAddr) -> SOCKADDR_STORAGE {
    // SAFETY: SOCKADDR_STORAGE is plain bytes; all zero is valid.
    let mut s: SOCKADDR_STORAGE = unsafe { std::mem::zeroed() };
    // SAFETY: 128 bytes hold any SOCKADDR.
    unsafe { write_sockaddr(&mut s as *mut SOCKADDR_STORAGE as *mut SOCKADDR, addr) };
    s
}

impl ListenEvents for CListenEvents {
    fn on_accept(&self, accepted: Option<Accepted>) -> AcceptOutcome {
        let Some(callback) = self.dispatch.WskAcceptEvent else { return AcceptOutcome::Reject };
        let ctx = self.context as PVOID;
        let mut out_ctx: PVOID = std::ptr::null_mut();
        let mut out_dispatch: *const WSK_CLIENT_CONNECTION_DISPATCH = std::ptr::null();
        let Some(Accepted { socket, local, remote }) = accepted else {
            // SAFETY: the client's callback; NULL AcceptSocket = the listener stopped working.
            unsafe {
                callback(
                    ctx,
                    0,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    &mut out_ctx,
                    &mut out_dispatch,
                )
            };
            return AcceptOutcome::Reject;
        };
        // While the callback runs the client may enable events on the new socket (after
        // setting *AcceptSocketDispatch, as wsk.h allows): the callbacks it will name are
        // not known yet, so nothing is checked until it returns.
        let handle = match handle::insert(Socket::Connection(socket), tables::connection(), handle::CALLBACKS_PENDING) {
            Ok(h) => h,
            Err(_) => return AcceptOutcome::Reject,
        };
        // Held across the callback: the slot cannot be reused under us even if the client
        // closes the socket from inside the callback.
        let Ok(entry) = handle::get(handle) else { return AcceptOutcome::Reject };
        let mut l = sockaddr_of(&local);
        let mut r = sockaddr_of(&remote);
        // SAFETY: the client's callback; the addresses live for the call.
        let status = unsafe {
            callback(
                ctx,
                0,
                &mut l as *mut SOCKADDR_STORAGE as *mut SOCKADDR,
                &mut r as *mut SOCKADDR_STORAGE as *mut SOCKADDR,
                handle,
                &mut out_ctx,
                &mut out_dispatch,
            )
        };
        if status == STATUS_SUCCESS {
            // SAFETY: the client's dispatch table (or NULL: an adapter without callbacks,
            // so inherited receive events keep their data for a WskReceive).
            let events = unsafe { CConnectionEvents::new(out_ctx, out_dispatch) };
            entry.missing_events.store(CConnectionEvents::missing_of(&events), std::sync::atomic::Ordering::Relaxed);
            let events = events.unwrap_or_else(CConnectionEvents::empty);
            AcceptOutcome::Accept(Some(events as Arc<dyn ConnectionEvents>))
        } else {
            if status != STATUS_REQUEST_NOT_ACCEPTED {
                tracing::error!(
                    status = format_args!("{:#010x}", status as u32),
                    "WskAcceptEvent returned a status WSK does not allow (SUCCESS, REQUEST_NOT_ACCEPTED); taken as a rejection"
                );
            }
            // The provider closes the connection; the client never saw a usable handle.
            entry.end();
            AcceptOutcome::Reject
        }
    }

    fn on_inspect(&self, request: Option<InspectRequest>) -> InspectAction {
        // Conditional accept cannot be turned on without this callback.
        let Some(callback) = self.dispatch.WskInspectEvent else { return InspectAction::Accept };
        let ctx = self.context as PVOID;
        let Some(request) = request else {
            // SAFETY: the client's callback; a NULL InspectID (and addresses) = the
            // listener stopped working.
            unsafe { callback(ctx, std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut()) };
            return InspectAction::Reject;
        };
        let mut l = sockaddr_of(&request.local);
        let mut r = sockaddr_of(&request.remote);
        let mut id = to_c(request.id);
        // SAFETY: the client's callback; the addresses and the id live for the call (the
        // client copies what it keeps).
        let action = unsafe {
            callback(
                ctx,
                &mut l as *mut SOCKADDR_STORAGE as *mut SOCKADDR,
                &mut r as *mut SOCKADDR_STORAGE as *mut SOCKADDR,
                &mut id,
            )
        };
        action_of(action).unwrap_or_else(|| {
            tracing::error!(action, "WskInspectEvent returned no WSK_INSPECT_ACTION; taken as WskInspectReject");
            InspectAction::Reject
        })
    }

    fn on_abort(&self, id: InspectId) {
        if let Some(callback) = self.dispatch.WskAbortEvent {
            let mut id = to_c(id);
            // SAFETY: the client's callback; the id lives for the call.
            unsafe { callback(self.context as PVOID, &mut id) };
        }
    }
}

/// The raw pointer type of a client context.
pub type Context = *mut c_void;
