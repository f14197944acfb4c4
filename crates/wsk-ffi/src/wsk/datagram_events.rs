//! `WSK_CLIENT_DATAGRAM_DISPATCH`: `WskReceiveFromEvent` over the Rust [`DatagramEvents`].
//!
//! Each indicated datagram becomes one `WSK_DATAGRAM_INDICATION` element of a chain
//! (built and tracked by [`crate::wsk::indications`], like the data indications of
//! connections): `Buffer` is one MDL over the datagram's bytes in the provider's buffer,
//! `RemoteAddress` a Windows `SOCKADDR_IN` / `SOCKADDR_IN6` the element holds, and
//! `ControlInfo` / `ControlInfoLength` the control information in the Windows `CMSGHDR`
//! layout (8-byte aligned; NULL / 0 when there is none). `Flags` are the indication's
//! `MSG_BCAST` / `MSG_MCAST` and `WSK_FLAG_RELEASE_ASAP`.
//!
//! What the callback returns:
//!
//! | return | outcome |
//! |---|---|
//! | `STATUS_SUCCESS` | accepted: the buffers go back to the provider |
//! | `STATUS_PENDING` | retained: each element owns its datagram until `WskRelease` of it (any element or sub-chain, any thread, any order) |
//! | `STATUS_DATA_NOT_ACCEPTED` | not accepted: the datagrams are kept for `WskReceiveFrom`; a dynamically enabled event is disabled, a static one is not |
//! | anything else | logged as an error and taken as `STATUS_SUCCESS` (the datagrams are consumed), as on the connection side: a status WSK does not allow cannot mean "keep them" |
//!
//! A NULL indication (`DataIndication` NULL, `Flags` 0) tells the client the socket is no
//! longer functional; it is sent once, and its return value is ignored.

use std::sync::Arc;

use wsk_api::{DatagramEvents, DatagramIndication, EventFlags, IndicatedDatagram, ReceiveFromOutcome};
use wsk_core::consts::events::WSK_EVENT_RECEIVE_FROM;

use crate::abi::{
    CMSGHDR, MDL, NTSTATUS, PVOID, SOCKADDR, SOCKADDR_STORAGE, WSK_BUF, WSK_CLIENT_DATAGRAM_DISPATCH,
    WSK_DATAGRAM_INDICATION,
};
use crate::status::{STATUS_DATA_NOT_ACCEPTED, STATUS_PENDING, STATUS_SUCCESS};
use crate::wsk::events::sockaddr_of;
use crate::wsk::indications::{self, Chain, Kind};

/// One element of an indicated datagram chain: what the client sees, then what it points
/// to, then the datagram the element owns once retained.
#[repr(C)]
struct Element {
    ind: WSK_DATAGRAM_INDICATION,
    mdl: MDL,
    remote: SOCKADDR_STORAGE,
    /// The control information (`CMSGHDR`s), in 8-byte words so that headers are aligned.
    control: Vec<u64>,
    datagram: Option<IndicatedDatagram>,
}

// SAFETY: `#[repr(C)]`, the indication first, its `Next` first.
unsafe impl indications::Element for Element {
    type Ind = WSK_DATAGRAM_INDICATION;
    type Owned = IndicatedDatagram;
    const KIND: Kind = Kind::Datagram;

    fn set_next(&mut self, next: *mut WSK_DATAGRAM_INDICATION) {
        self.ind.Next = next;
    }

    unsafe fn next(ind: *const WSK_DATAGRAM_INDICATION) -> *mut WSK_DATAGRAM_INDICATION {
        // SAFETY: per the trait: a live element.
        unsafe { (*ind).Next }
    }

    fn own(&mut self, owned: IndicatedDatagram) {
        self.datagram = Some(owned);
    }
}

/// The element of one indicated datagram (the bytes stay in the provider's buffer).
fn element_for(d: &IndicatedDatagram) -> Box<Element> {
    let bytes = wsk_api::cmsg::encode(d.control());
    let mut control = vec![0u64; bytes.len().div_ceil(8)];
    for (word, chunk) in control.iter_mut().zip(bytes.chunks(8)) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        *word = u64::from_ne_bytes(w);
    }
    let mut e = Box::new(Element {
        ind: WSK_DATAGRAM_INDICATION {
            Next: std::ptr::null_mut(),
            Buffer: WSK_BUF { Mdl: std::ptr::null_mut(), Offset: 0, Length: d.len() },
            ControlInfo: std::ptr::null_mut(),
            ControlInfoLength: bytes.len() as u32,
            RemoteAddress: std::ptr::null_mut(),
        },
        mdl: indications::mdl_over(d.data()),
        remote: sockaddr_of(&d.remote()),
        control,
        datagram: None,
    });
    e.ind.Buffer.Mdl = &mut e.mdl;
    e.ind.RemoteAddress = &mut e.remote as *mut SOCKADDR_STORAGE as *mut SOCKADDR;
    if !e.control.is_empty() {
        e.ind.ControlInfo = e.control.as_mut_ptr() as *mut CMSGHDR;
    }
    e
}

/// Retained datagram indication elements not yet released (for the leak report).
pub fn retained_count() -> usize {
    indications::retained_count(Kind::Datagram)
}

/// `WskRelease` of a datagram indication list.
///
/// # Safety
/// `list` is NULL or any pointer: it is checked against the retained set before it is
/// dereferenced.
pub unsafe fn release(list: *mut WSK_DATAGRAM_INDICATION) -> NTSTATUS {
    // SAFETY: per the caller; `release` checks the pointer before using it.
    unsafe { indications::release::<Element>(list) }
}

/// `WSK_CLIENT_DATAGRAM_DISPATCH` with its socket context.
pub type CDatagramEvents = crate::wsk::events::CEvents<WSK_CLIENT_DATAGRAM_DISPATCH>;

impl CDatagramEvents {
    /// The event bits an optional adapter has no callback for.
    pub fn missing_of(events: &Option<Arc<Self>>) -> u32 {
        match events {
            Some(e) if e.dispatch.WskReceiveFromEvent.is_some() => 0,
            _ => WSK_EVENT_RECEIVE_FROM,
        }
    }
}

impl DatagramEvents for CDatagramEvents {
    fn on_receive_from(&self, indication: Option<&mut DatagramIndication>, flags: EventFlags) -> ReceiveFromOutcome {
        // No callback (a static WskReceiveFromEvent, WSK_SET_STATIC_EVENT_CALLBACKS, for a
        // table without one): the datagrams wait for a WskReceiveFrom rather than being lost.
        let Some(callback) = self.dispatch.WskReceiveFromEvent else { return ReceiveFromOutcome::NotAccepted };
        let ctx = self.context as PVOID;
        let Some(ind) = indication else {
            // SAFETY: the client's callback, called as WSK documents (NULL = socket dead).
            unsafe { callback(ctx, 0, std::ptr::null_mut()) };
            return ReceiveFromOutcome::Accepted;
        };
        let mut chain = Chain::new(ind.datagrams().iter().map(element_for).collect());
        // SAFETY: the chain, its MDLs, addresses and control bytes are valid for the call;
        // the datagrams stay put.
        let status = unsafe { callback(ctx, flags.0, chain.head()) };
        if status == STATUS_PENDING {
            chain.retain(ind.retain().into_datagrams());
            return ReceiveFromOutcome::Retained;
        }
        chain.returned("WskReceiveFromEvent");
        match status {
            STATUS_DATA_NOT_ACCEPTED => ReceiveFromOutcome::NotAccepted,
            STATUS_SUCCESS => ReceiveFromOutcome::Accepted,
            other => {
                tracing::error!(
                    status = format_args!("{:#010x}", other as u32),
                    "WskReceiveFromEvent returned a status WSK does not allow (SUCCESS, PENDING, DATA_NOT_ACCEPTED); taken as SUCCESS"
                );
                ReceiveFromOutcome::Accepted
            }
        }
    }
}
