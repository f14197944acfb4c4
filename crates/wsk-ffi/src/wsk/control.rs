//! `WskControlSocket`: socket options and IOCTLs.
//!
//! - `WskSetOption` / `WskGetOption` of the standard options go through
//!   `wsk_core::option` (Windows level/name/value decoded, the reference's rules) to the
//!   host socket; `SO_WSK_EVENT_CALLBACK` enables (no IRP) or disables one event (with an
//!   IRP that completes once a running callback returned, or without: `STATUS_EVENT_PENDING`).
//! - IOCTLs: `SIO_WSK_QUERY_IDEAL_SEND_BACKLOG`, `SIO_WSK_QUERY_RECEIVE_BACKLOG`,
//!   `SIO_ADDRESS_LIST_QUERY`, `SIO_ADDRESS_LIST_CHANGE`, `SIO_WSK_REGISTER_EXTENSION`,
//!   `SIO_WSK_SET_TCP_SILENT_MODE`.
//!
//! Answers for what is not offered (docs/C_ABI.md "Socket control"): an option name
//! Windows does not know is `STATUS_INVALID_PARAMETER` (Winsock's `WSAENOPROTOOPT`), one it
//! knows that the provider does not carry over is `STATUS_NOT_SUPPORTED`, and so is an
//! unknown IOCTL code. A standard option works with or without an IRP (the reference
//! requires one; accepting none costs nothing and cannot lose a completion).

use wsk_core::consts::control::*;
use wsk_core::consts::events::{WSK_EVENT_ACCEPT, WSK_EVENT_DISABLE};
use wsk_core::option::{OptName, SockOpt};

use crate::abi::{IRP, NTSTATUS, PVOID, SIZE_T, SOCKADDR, SOCKET_ADDRESS, WSK_EXTENSION_CONTROL_IN, WSK_SOCKET};
use crate::status::{
    STATUS_BUFFER_OVERFLOW, STATUS_BUFFER_TOO_SMALL, STATUS_INVALID_DEVICE_REQUEST, STATUS_INVALID_PARAMETER,
    STATUS_NOT_SUPPORTED, STATUS_SUCCESS,
};
use crate::wsk::buffers::write_sockaddr;
use crate::wsk::handle::{self, Handle, Socket, CALLBACKS_PENDING};
use crate::wsk::irp::{Inline, Irp as IrpRef};
use crate::wsk::provider::{event_control, finish};
use crate::wsk::status_of;

/// The input buffer as a byte slice (empty when NULL).
///
/// # Safety
/// A non-NULL `buffer` must be readable for `size` bytes.
unsafe fn input<'a>(size: SIZE_T, buffer: PVOID) -> &'a [u8] {
    if buffer.is_null() || size == 0 {
        return &[];
    }
    // SAFETY: the caller vouches for `size` readable bytes at `buffer`.
    unsafe { std::slice::from_raw_parts(buffer as *const u8, size) }
}

/// Where a request writes its answer.
struct Output {
    size: SIZE_T,
    buffer: PVOID,
    returned: *mut SIZE_T,
}

impl Output {
    /// Copies `bytes` out and notes the size; `STATUS_BUFFER_TOO_SMALL` when they do not fit.
    ///
    /// # Safety
    /// A non-NULL `buffer` must be writable for `size` bytes, `returned` NULL or writable.
    unsafe fn write(&self, bytes: &[u8]) -> Result<usize, NTSTATUS> {
        if self.buffer.is_null() || self.size < bytes.len() {
            return Err(STATUS_BUFFER_TOO_SMALL);
        }
        // SAFETY: the caller vouches for the buffers; the length was checked above.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.buffer as *mut u8, bytes.len());
            if !self.returned.is_null() {
                *self.returned = bytes.len();
            }
        }
        Ok(bytes.len())
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
        let out = Output { size: out_size, buffer: out_buf, returned: out_returned };
        match request {
            WSK_SET_OPTION if (level, code) == (SOL_SOCKET, SO_WSK_EVENT_CALLBACK) => {
                event_callback(sock, in_size, in_buf, irp)
            }
            WSK_SET_OPTION | WSK_GET_OPTION if (level, code) == (SOL_SOCKET, SO_WSK_SECURITY) => {
                security_option(sock, request == WSK_SET_OPTION, in_size, in_buf, &out, irp)
            }
            WSK_SET_OPTION => {
                let r = SockOpt::decode(level, code, input(in_size, in_buf))
                    .and_then(|option| sock.socket.control().set_option(option));
                finish(irp, status_of(&r), 0)
            }
            WSK_GET_OPTION => {
                let value = OptName::decode(level, code).and_then(|name| sock.socket.control().get_option(name));
                match value.map_err(|e| e.0).and_then(|v| out.write(&OptName::encode(v))) {
                    Ok(n) => finish(irp, STATUS_SUCCESS, n),
                    Err(e) => finish(irp, e, 0),
                }
            }
            WSK_IOCTL => ioctl(sock, code, in_size, in_buf, &out, irp),
            _ => finish(irp, STATUS_INVALID_PARAMETER, 0),
        }
    }
}

/// `SO_WSK_EVENT_CALLBACK`.
///
/// # Safety
/// `in_buf` must be NULL or readable for `in_size` bytes.
unsafe fn event_callback(sock: Handle, in_size: SIZE_T, in_buf: PVOID, irp: Option<IrpRef>) -> NTSTATUS {
    // SAFETY: the caller vouches for the input buffer.
    let mask = match unsafe { event_control(in_size, in_buf) } {
        Ok(m) => m,
        Err(e) => return finish(irp, e, 0),
    };
    let control = sock.socket.control();
    if mask & WSK_EVENT_DISABLE != 0 {
        let bit = mask & !WSK_EVENT_DISABLE;
        let Some(irp) = irp else {
            return control.disable_event_nowait(bit).0;
        };
        let op = control.disable_event(bit);
        let inline = Inline::new();
        let (call, done) = irp.begin(&inline);
        op.then(move |r| done.finish(status_of(&r), 0));
        return call.returned(None);
    }
    // Listening sockets enable connection events for their accepted sockets, whose
    // callbacks come from WskAcceptEvent: only WSK_EVENT_ACCEPT is checked there.
    let checked = match &sock.socket {
        Socket::Listen(_) => mask & WSK_EVENT_ACCEPT,
        Socket::Stream(s) => crate::wsk::stream::checked_events(s, mask),
        _ => mask,
    };
    let missing = sock.missing_events.load(std::sync::atomic::Ordering::Relaxed);
    if missing != CALLBACKS_PENDING && checked & missing != 0 {
        // The client dispatch table has no callback for this event.
        return finish(irp, STATUS_INVALID_PARAMETER, 0);
    }
    finish(irp, status_of(&control.enable_events(mask)), 0)
}

/// `SO_WSK_SECURITY` (listen, datagram and connection sockets; IRP required): set, before
/// bind, takes a `PSECURITY_DESCRIPTOR` that `WSK_CACHE_SD` returned; get hands the
/// socket's descriptor back (NULL if none) with a reference for `WSK_RELEASE_SD`.
/// Descriptors are kept, not enforced (docs/C_ABI.md).
///
/// # Safety
/// The buffers must be as `WskControlSocket` documents them.
unsafe fn security_option(
    sock: Handle,
    set: bool,
    in_size: SIZE_T,
    in_buf: PVOID,
    out: &Output,
    irp: Option<IrpRef>,
) -> NTSTATUS {
    let Some(irp) = irp else { return STATUS_INVALID_PARAMETER };
    let bound = match &sock.socket {
        Socket::Basic(_) => return irp.fail(STATUS_INVALID_PARAMETER),
        Socket::Listen(l) => l.local_addr().is_ok(),
        Socket::Connection(c) => c.local_addr().is_ok(),
        Socket::Datagram(d) => d.local_addr().is_ok(),
        Socket::Stream(s) => s.local_addr().is_ok(),
    };
    const POINTER: usize = std::mem::size_of::<PVOID>();
    if !set {
        let sd = crate::wsk::security::handed_out(&sock.security);
        // SAFETY: per this function's contract.
        return match unsafe { out.write(&(sd as usize).to_ne_bytes()) } {
            Ok(n) => irp.complete_now(STATUS_SUCCESS, n),
            Err(e) => {
                if !sd.is_null() {
                    let _ = crate::wsk::security::release(sd);
                }
                irp.fail(e)
            }
        };
    }
    if bound {
        return irp.fail(wsk_api::NtStatus::INVALID_DEVICE_STATE.0);
    }
    if in_buf.is_null() || in_size < POINTER {
        return irp.fail(STATUS_INVALID_PARAMETER);
    }
    // SAFETY: at least a pointer's worth of input is readable (checked above).
    let sd = unsafe { std::ptr::read_unaligned(in_buf as *const PVOID) };
    match crate::wsk::security::attach(&sock.security, sd) {
        Ok(()) => irp.complete_now(STATUS_SUCCESS, 0),
        Err(e) => irp.fail(e),
    }
}

/// `WskIoctl`.
///
/// # Safety
/// The buffers must be as `WskControlSocket` documents them.
unsafe fn ioctl(
    sock: Handle,
    code: u32,
    in_size: SIZE_T,
    in_buf: PVOID,
    out: &Output,
    irp: Option<IrpRef>,
) -> NTSTATUS {
    // SAFETY: the caller vouches for the buffers.
    unsafe {
        match code {
            SIO_WSK_QUERY_IDEAL_SEND_BACKLOG | SIO_WSK_QUERY_RECEIVE_BACKLOG => {
                // The reference (3.4): these require an IRP.
                let Some(irp) = irp else { return STATUS_INVALID_PARAMETER };
                let c = match crate::wsk::stream::as_connection(&sock.socket) {
                    Ok(c) => c,
                    Err(STATUS_INVALID_DEVICE_REQUEST) => return irp.fail(STATUS_NOT_SUPPORTED),
                    Err(e) => return irp.fail(e),
                };
                let value =
                    if code == SIO_WSK_QUERY_IDEAL_SEND_BACKLOG { c.ideal_send_backlog() } else { c.receive_backlog() };
                match value.map_err(|e| e.0).and_then(|v| out.write(&v.to_ne_bytes())) {
                    Ok(n) => irp.complete_now(STATUS_SUCCESS, n),
                    Err(e) => irp.fail(e),
                }
            }
            SIO_WSK_SET_TCP_SILENT_MODE => {
                let Some(irp) = irp else { return STATUS_INVALID_PARAMETER };
                let c = match crate::wsk::stream::as_connection(&sock.socket) {
                    Ok(c) => c,
                    Err(STATUS_INVALID_DEVICE_REQUEST) => return irp.fail(STATUS_NOT_SUPPORTED),
                    Err(e) => return irp.fail(e),
                };
                irp.complete_now(status_of(&c.set_silent_mode()), 0)
            }
            SIO_WSK_SET_REMOTE_ADDRESS | SIO_WSK_SET_SENDTO_ADDRESS => {
                crate::wsk::datagram::set_address(&sock, code, input(in_size, in_buf), irp)
            }
            SIO_ADDRESS_LIST_QUERY => address_list_query(&sock, out, irp),
            SIO_ADDRESS_LIST_CHANGE => {
                let Some(irp) = irp else { return STATUS_INVALID_PARAMETER };
                let inline = Inline::new();
                let (call, done) = irp.begin(&inline);
                let op = sock.socket.control().address_list_change();
                let canceller = op.canceller();
                op.then(move |r| done.finish(status_of(&r), 0));
                call.returned(canceller)
            }
            SIO_WSK_REGISTER_EXTENSION => {
                // "Currently no extension interfaces have been defined": every NPI id is unknown.
                if in_buf.is_null() || in_size < std::mem::size_of::<WSK_EXTENSION_CONTROL_IN>() {
                    return finish(irp, STATUS_INVALID_PARAMETER, 0);
                }
                finish(irp, STATUS_NOT_SUPPORTED, 0)
            }
            _ => finish(irp, STATUS_NOT_SUPPORTED, 0),
        }
    }
}

/// `SIO_ADDRESS_LIST_QUERY`: a `SOCKET_ADDRESS_LIST` of the socket's family, its SOCKADDRs
/// after the array, in the output buffer; `STATUS_BUFFER_OVERFLOW` with the size needed in
/// `*OutputSizeReturned` when it is short. `OutputSizeReturned` is required.
///
/// # Safety
/// The output buffer must be writable for its size; `returned` NULL or writable.
unsafe fn address_list_query(sock: &Handle, out: &Output, irp: Option<IrpRef>) -> NTSTATUS {
    if out.returned.is_null() {
        return finish(irp, STATUS_INVALID_PARAMETER, 0);
    }
    let addrs = match sock.socket.control().address_list() {
        Ok(a) => a,
        Err(e) => return finish(irp, e.0, 0),
    };
    // SOCKET_ADDRESS_LIST { INT iAddressCount; SOCKET_ADDRESS Address[]; } with the array
    // at offset 8 (pointer alignment), then each SOCKADDR at an 8-byte boundary.
    let header = std::mem::offset_of!(SocketAddressList, address);
    let array_end = header + addrs.len() * std::mem::size_of::<SOCKET_ADDRESS>();
    let sockaddr_size = |a: &std::net::SocketAddr| wsk_core::addr::AddressFamily::of(a).sockaddr_len();
    let needed = addrs.iter().fold(array_end, |at, a| at.next_multiple_of(8) + sockaddr_size(a));
    // SAFETY: checked non-NULL above.
    unsafe { *out.returned = needed };
    if out.buffer.is_null() || out.size < needed {
        return finish(irp, STATUS_BUFFER_OVERFLOW, 0);
    }
    let base = out.buffer as *mut u8;
    // SAFETY: `needed` bytes of the output buffer are writable (checked above); the
    // buffer may be unaligned, so every store is unaligned.
    unsafe {
        std::ptr::write_unaligned(base as *mut i32, addrs.len() as i32);
        let mut at = array_end;
        for (i, a) in addrs.iter().enumerate() {
            at = at.next_multiple_of(8);
            let sa = base.add(at) as *mut SOCKADDR;
            write_sockaddr(sa, a);
            let entry = SOCKET_ADDRESS { lpSockaddr: sa, iSockaddrLength: sockaddr_size(a) as i32 };
            std::ptr::write_unaligned(base.add(header + i * std::mem::size_of::<SOCKET_ADDRESS>()) as *mut _, entry);
            at += sockaddr_size(a);
        }
    }
    finish(irp, STATUS_SUCCESS, needed)
}

/// The layout of `SOCKET_ADDRESS_LIST`'s head, for the offset of its array.
#[repr(C)]
struct SocketAddressList {
    count: i32,
    address: [SOCKET_ADDRESS; 0],
}
