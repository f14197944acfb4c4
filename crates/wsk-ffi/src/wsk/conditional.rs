//! Conditional accept through the C ABI: `SO_CONDITIONAL_ACCEPT` (set and get),
//! `SIO_WSK_QUERY_INSPECT_ID`, `WskInspectComplete`; `WskInspectEvent` and `WskAbortEvent`
//! are called by [`crate::wsk::events::CListenEvents`]. The provider side, and where it
//! differs from Windows, is in the `wsk` crate and docs/CONDITIONAL_ACCEPT.md.
//!
//! Statuses chosen here (the reference names the rules, not every answer):
//! - `SO_CONDITIONAL_ACCEPT` without an IRP: `STATUS_INVALID_PARAMETER` (the IRP is
//!   required), nothing completed; on a socket that is neither listening nor stream:
//!   `STATUS_NOT_SUPPORTED`; after bind: `STATUS_INVALID_DEVICE_STATE`; turning it on when
//!   the client listen dispatch lacks `WskInspectEvent` or `WskAbortEvent` (or is NULL):
//!   `STATUS_INVALID_PARAMETER`, as for any event whose callback is NULL (the inspections
//!   would be lost). Get: a ULONG 0/1, `STATUS_BUFFER_TOO_SMALL` for less than 4 bytes.
//! - `SIO_WSK_QUERY_INSPECT_ID` with an IRP: `STATUS_INVALID_PARAMETER` (it must be NULL;
//!   the IRP is completed with it); NULL `OutputSizeReturned`: `STATUS_INVALID_PARAMETER`;
//!   a socket not accepted on a conditional listener: `STATUS_INVALID_DEVICE_REQUEST`;
//!   an output buffer shorter than `WSK_INSPECT_ID`: `STATUS_BUFFER_TOO_SMALL`.
//! - `WskInspectComplete`: an `Action` other than Accept/Reject, or an id that names no
//!   pended request: `STATUS_INVALID_PARAMETER`; a request the peer reset (after its
//!   `WskAbortEvent`): `STATUS_CONNECTION_RESET`, never delivered.

use wsk_api::{InspectAction, InspectId};
use wsk_core::consts::control::{
    SIO_WSK_QUERY_INSPECT_ID, SOL_SOCKET, SO_CONDITIONAL_ACCEPT, WSK_GET_OPTION, WSK_IOCTL, WSK_SET_OPTION,
};

use crate::abi::{
    WskInspectAccept, WskInspectPend, WskInspectReject, IRP, NTSTATUS, PVOID, SIZE_T, WSK_INSPECT_ID, WSK_SOCKET,
};
use crate::guard::guard_status;
use crate::status::{
    STATUS_BUFFER_TOO_SMALL, STATUS_INVALID_DEVICE_REQUEST, STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED,
    STATUS_SUCCESS,
};
use crate::wsk::handle::{self, Handle, Socket};
use crate::wsk::irp::Irp as IrpRef;
use crate::wsk::stream::as_listener;
use crate::wsk::{status_of, with_irp};

/// A bit of a handle's `missing_events` that is no event: the client listen dispatch
/// lacks `WskInspectEvent` or `WskAbortEvent`, so conditional accept cannot be turned on.
pub const MISSING_INSPECT: u32 = 1 << 30;

/// The `WSK_INSPECT_ID` of an id.
pub fn to_c(id: InspectId) -> WSK_INSPECT_ID {
    WSK_INSPECT_ID { Key: id.key, SerialNumber: id.serial }
}

/// A `WSK_INSPECT_ACTION` as the client wrote it.
pub fn action_of(action: u32) -> Option<InspectAction> {
    [
        (WskInspectReject, InspectAction::Reject),
        (WskInspectAccept, InspectAction::Accept),
        (WskInspectPend, InspectAction::Pend),
    ]
    .into_iter()
    .find_map(|(c, a)| (c == action).then_some(a))
}

/// The WskControlSocket requests of conditional accept, for `control.rs`: `Ok(status)`
/// when this was one of them (answered), `Err(irp)` (the IRP untouched) otherwise.
///
/// # Safety
/// The buffers are WskControlSocket's, as the client passed them.
pub(crate) unsafe fn control(
    sock: &Handle,
    request: u32,
    level: u32,
    code: u32,
    in_size: SIZE_T,
    in_buf: PVOID,
    out_size: SIZE_T,
    out_buf: PVOID,
    out_returned: *mut SIZE_T,
    irp: Option<IrpRef>,
) -> Result<NTSTATUS, Option<IrpRef>> {
    match (request, level, code) {
        (WSK_SET_OPTION | WSK_GET_OPTION, SOL_SOCKET, SO_CONDITIONAL_ACCEPT) => {
            // The IRP is required.
            let Some(irp) = irp else { return Ok(STATUS_INVALID_PARAMETER) };
            if request == WSK_SET_OPTION {
                if in_buf.is_null() || in_size < 4 {
                    return Ok(irp.fail(STATUS_INVALID_PARAMETER));
                }
                // SAFETY: per the caller, in_size (>= 4) readable bytes.
                let on = unsafe { std::ptr::read_unaligned(in_buf as *const u32) } != 0;
                let missing = sock.missing_events.load(std::sync::atomic::Ordering::Relaxed);
                if on && missing & MISSING_INSPECT != 0 && missing != handle::CALLBACKS_PENDING {
                    return Ok(irp.fail(STATUS_INVALID_PARAMETER));
                }
                let r = match &sock.socket {
                    Socket::Listen(l) => l.set_conditional_accept(on),
                    Socket::Stream(s) => s.set_conditional_accept(on),
                    _ => return Ok(irp.fail(STATUS_NOT_SUPPORTED)),
                };
                return Ok(irp.complete_now(status_of(&r), 0));
            }
            let r = match &sock.socket {
                Socket::Listen(l) => l.conditional_accept(),
                Socket::Stream(s) => s.conditional_accept(),
                _ => return Ok(irp.fail(STATUS_NOT_SUPPORTED)),
            };
            let on = match r {
                Ok(on) => on,
                Err(e) => return Ok(irp.fail(e.0)),
            };
            if out_buf.is_null() || out_size < 4 {
                return Ok(irp.fail(STATUS_BUFFER_TOO_SMALL));
            }
            // SAFETY: per the caller, out_size (>= 4) writable bytes; OutputSizeReturned
            // is optional here.
            unsafe {
                std::ptr::write_unaligned(out_buf as *mut u32, on as u32);
                if !out_returned.is_null() {
                    *out_returned = 4;
                }
            }
            Ok(irp.complete_now(STATUS_SUCCESS, 4))
        }
        (WSK_IOCTL, _, SIO_WSK_QUERY_INSPECT_ID) => {
            // The IRP must be NULL.
            if let Some(irp) = irp {
                return Ok(irp.fail(STATUS_INVALID_PARAMETER));
            }
            if out_returned.is_null() {
                return Ok(STATUS_INVALID_PARAMETER);
            }
            let id = match &sock.socket {
                Socket::Connection(c) => c.inspect_id().map_err(|e| e.0),
                _ => Err(STATUS_INVALID_DEVICE_REQUEST),
            };
            let id = match id {
                Ok(id) => to_c(id),
                Err(e) => return Ok(e),
            };
            let size = std::mem::size_of::<WSK_INSPECT_ID>();
            if out_buf.is_null() || out_size < size {
                return Ok(STATUS_BUFFER_TOO_SMALL);
            }
            // SAFETY: per the caller, out_size (>= size) writable bytes and a writable SIZE_T.
            unsafe {
                std::ptr::write_unaligned(out_buf as *mut WSK_INSPECT_ID, id);
                *out_returned = size;
            }
            Ok(STATUS_SUCCESS)
        }
        _ => Err(irp),
    }
}

/// `WskInspectComplete` (listen table): the decision for a pended inspection; completes
/// at once. The listening socket may also be a stream socket committed to listening.
pub unsafe extern "C" fn inspect_complete(
    ListenSocket: *mut WSK_SOCKET,
    InspectID: *mut WSK_INSPECT_ID,
    Action: u32,
    Irp: *mut IRP,
) -> NTSTATUS {
    // SAFETY: the caller passes WskInspectComplete's arguments under the WSK contract; each
    // pointer is checked (NULL, the handle table) before it is used.
    guard_status("WskInspectComplete", || unsafe {
        with_irp(Irp, |irp| {
            let sock = match handle::get(ListenSocket) {
                Ok(s) => s,
                Err(e) => return irp.fail(e),
            };
            let l = match as_listener(&sock.socket) {
                Ok(l) => l,
                Err(e) => return irp.fail(e),
            };
            if InspectID.is_null() {
                return irp.fail(STATUS_INVALID_PARAMETER);
            }
            // The id's contents name the request (the client may pass a copy).
            let id = std::ptr::read_unaligned(InspectID);
            let Some(action) = action_of(Action) else { return irp.fail(STATUS_INVALID_PARAMETER) };
            let r = l.inspect_complete(InspectId { key: id.Key, serial: id.SerialNumber }, action).wait();
            irp.complete_now(status_of(&r), 0)
        })
    })
}
