//! `WskControlSocket`: socket options and IOCTLs.
//!
//! Offered now: `SO_WSK_EVENT_CALLBACK` (enable without an IRP; disable one event at a
//! time, with an IRP that completes once a running callback returned, or without one:
//! `STATUS_EVENT_PENDING`), `SIO_WSK_QUERY_IDEAL_SEND_BACKLOG`,
//! `SIO_WSK_QUERY_RECEIVE_BACKLOG`, `IPV6_V6ONLY` and `SO_REUSEADDR` on listening sockets,
//! `TCP_NODELAY` on connection sockets. Everything else of the reference's table comes
//! with the next provider issue and answers `STATUS_NOT_SUPPORTED` until then.

use wsk_core::consts::control::*;
use wsk_core::consts::events::WSK_EVENT_DISABLE;

use crate::abi::{IRP, NTSTATUS, PVOID, SIZE_T, WSK_SOCKET};
use crate::status::{
    STATUS_BUFFER_TOO_SMALL, STATUS_INVALID_DEVICE_REQUEST, STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED,
    STATUS_SUCCESS,
};
use crate::wsk::handle::{self, Socket};
use crate::wsk::irp::{Inline, Irp as IrpRef};
use crate::wsk::provider::{event_control, finish};
use crate::wsk::status_of;

/// Reads a ULONG option value (`STATUS_INVALID_PARAMETER` if missing or short).
unsafe fn read_ulong(size: SIZE_T, buffer: PVOID) -> Result<u32, NTSTATUS> {
    // SAFETY: the caller upholds this function's contract (see its docs).
    unsafe {
        if buffer.is_null() || size < 4 {
            return Err(STATUS_INVALID_PARAMETER);
        }
        Ok(std::ptr::read_unaligned(buffer as *const u32))
    }
}

/// The body of `WskControlSocket` (see the module docs).
#[allow(clippy::too_many_arguments)]
pub unsafe fn control_socket(
    s: *mut WSK_SOCKET,
    request: u32,
    code: u32,
    level: u32,
    in_size: SIZE_T,
    in_buf: PVOID,
    out_size: SIZE_T,
    out_buf: PVOID,
    out_returned: *mut SIZE_T,
    irp: *mut IRP,
) -> NTSTATUS {
    // SAFETY: the caller upholds this function's contract (see its docs).
    unsafe {
        let irp = match IrpRef::check_optional(irp) {
            Ok(irp) => irp,
            Err(e) => return e,
        };
        let sock = match handle::get(s) {
            Ok(s) => s,
            Err(e) => return finish(irp, e, 0),
        };
        if request > WSK_IOCTL {
            return finish(irp, STATUS_INVALID_PARAMETER, 0);
        }
        // Conditional accept: SO_CONDITIONAL_ACCEPT, SIO_WSK_QUERY_INSPECT_ID.
        let irp = match crate::wsk::conditional::control(
            &sock,
            request,
            level,
            code,
            in_size,
            in_buf,
            out_size,
            out_buf,
            out_returned,
            irp,
        ) {
            Ok(status) => return status,
            Err(irp) => irp,
        };
        let ioctl = request == WSK_IOCTL;
        match (request, level, code) {
            (WSK_SET_OPTION, SOL_SOCKET, SO_WSK_EVENT_CALLBACK) => {
                let mask = match event_control(in_size, in_buf) {
                    Ok(m) => m,
                    Err(e) => return finish(irp, e, 0),
                };
                if mask & WSK_EVENT_DISABLE != 0 {
                    let bit = mask & !WSK_EVENT_DISABLE;
                    let Some(irp) = irp else {
                        return match &sock.socket {
                            Socket::Listen(l) => l.disable_event_nowait(bit).0,
                            Socket::Connection(c) => c.disable_event_nowait(bit).0,
                            Socket::Stream(s) => s.disable_event_nowait(bit).0,
                        };
                    };
                    let op = match &sock.socket {
                        Socket::Listen(l) => l.disable_event(bit),
                        Socket::Connection(c) => c.disable_event(bit),
                        Socket::Stream(s) => s.disable_event(bit),
                    };
                    let inline = Inline::new();
                    let (call, done) = irp.begin(&inline);
                    op.then(move |r| done.finish(status_of(&r), 0));
                    call.returned(None)
                } else {
                    // Listening sockets enable connection events for their accepted sockets,
                    // whose callbacks come from WskAcceptEvent: only WSK_EVENT_ACCEPT is checked.
                    let checked = match &sock.socket {
                        Socket::Listen(_) => mask & wsk_core::consts::events::WSK_EVENT_ACCEPT,
                        Socket::Connection(_) => mask,
                        Socket::Stream(s) => crate::wsk::stream::checked_events(s, mask),
                    };
                    let missing = sock.missing_events.load(std::sync::atomic::Ordering::Relaxed);
                    if missing != crate::wsk::handle::CALLBACKS_PENDING && checked & missing != 0 {
                        // The client dispatch table has no callback for this event.
                        return finish(irp, STATUS_INVALID_PARAMETER, 0);
                    }
                    let r = match &sock.socket {
                        Socket::Listen(l) => l.enable_events(mask),
                        Socket::Connection(c) => c.enable_events(mask),
                        Socket::Stream(s) => s.enable_events(mask),
                    };
                    finish(irp, status_of(&r), 0)
                }
            }
            (_, _, SIO_WSK_QUERY_IDEAL_SEND_BACKLOG | SIO_WSK_QUERY_RECEIVE_BACKLOG) if ioctl => {
                let Some(irp) = irp else { return STATUS_INVALID_PARAMETER };
                let c = match crate::wsk::stream::as_connection(&sock.socket) {
                    Ok(c) => c,
                    Err(STATUS_INVALID_DEVICE_REQUEST) => return irp.fail(STATUS_NOT_SUPPORTED),
                    Err(e) => return irp.fail(e),
                };
                if out_buf.is_null() || out_size < std::mem::size_of::<SIZE_T>() {
                    return irp.fail(STATUS_BUFFER_TOO_SMALL);
                }
                let r =
                    if code == SIO_WSK_QUERY_IDEAL_SEND_BACKLOG { c.ideal_send_backlog() } else { c.receive_backlog() };
                match r {
                    Ok(v) => {
                        std::ptr::write_unaligned(out_buf as *mut SIZE_T, v);
                        if !out_returned.is_null() {
                            *out_returned = std::mem::size_of::<SIZE_T>();
                        }
                        irp.complete_now(STATUS_SUCCESS, std::mem::size_of::<SIZE_T>())
                    }
                    Err(e) => irp.fail(e.0),
                }
            }
            (WSK_SET_OPTION, IPPROTO_IPV6, IPV6_V6ONLY) | (WSK_SET_OPTION, SOL_SOCKET, SO_REUSEADDR) => {
                let value = match read_ulong(in_size, in_buf) {
                    Ok(v) => v != 0,
                    Err(e) => return finish(irp, e, 0),
                };
                let r = match (&sock.socket, code) {
                    (Socket::Listen(l), IPV6_V6ONLY) => l.set_v6_only(value),
                    (Socket::Listen(l), _) => l.set_reuse_address(value),
                    (Socket::Connection(_), _) => Err(wsk_api::NtStatus(STATUS_NOT_SUPPORTED)),
                    (Socket::Stream(s), IPV6_V6ONLY) => s.set_v6_only(value),
                    (Socket::Stream(s), _) => s.set_reuse_address(value),
                };
                finish(irp, status_of(&r), 0)
            }
            (WSK_SET_OPTION, IPPROTO_TCP, TCP_NODELAY) => {
                let value = match read_ulong(in_size, in_buf) {
                    Ok(v) => v != 0,
                    Err(e) => return finish(irp, e, 0),
                };
                let r = match &sock.socket {
                    Socket::Connection(c) => c.set_nodelay(value),
                    Socket::Listen(_) => Err(wsk_api::NtStatus(STATUS_NOT_SUPPORTED)),
                    Socket::Stream(s) => s.set_nodelay(value),
                };
                finish(irp, status_of(&r), 0)
            }
            _ => finish(irp, STATUS_NOT_SUPPORTED, 0),
        }
    }
}
