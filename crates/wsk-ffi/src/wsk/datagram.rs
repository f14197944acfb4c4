//! `WSK_PROVIDER_DATAGRAM_DISPATCH`. (The stream-only slot, WskListen, is in
//! [`crate::wsk::stream`].)
//!
//! Datagram sockets arrive with the next provider issue: WskSocket refuses that category
//! with `STATUS_NOT_IMPLEMENTED`, so no handle can name one yet. These
//! entries are still real: every slot of every table is filled, checks its arguments like
//! the others, and answers a handle of another category with
//! `STATUS_INVALID_DEVICE_REQUEST`.

use crate::abi::{CMSGHDR, IRP, NTSTATUS, SOCKADDR, WSK_BUF, WSK_BUF_LIST, WSK_DATAGRAM_INDICATION, WSK_SOCKET};
use crate::guard::guard_status;
use crate::status::STATUS_INVALID_DEVICE_REQUEST;
use crate::status::STATUS_INVALID_PARAMETER;
use crate::wsk::handle::{self};
use crate::wsk::with_irp;

/// A socket of another category than datagram: the IRP completes with the answer.
unsafe fn not_this_category(s: *mut WSK_SOCKET, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: the caller upholds this function's contract (see its docs).
    unsafe {
        with_irp(irp, |irp| match handle::get(s) {
            Ok(_) => irp.fail(STATUS_INVALID_DEVICE_REQUEST),
            Err(e) => irp.fail(e),
        })
    }
}

/// `WskBind` of a datagram socket.
pub unsafe extern "C" fn bind(
    Socket: *mut WSK_SOCKET,
    LocalAddress: *mut SOCKADDR,
    Flags: u32,
    Irp: *mut IRP,
) -> NTSTATUS {
    let _ = (LocalAddress, Flags);
    // SAFETY: the caller passes WskBind's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard_status("WskBind", || unsafe { not_this_category(Socket, Irp) })
}

/// `WskSendTo`.
pub unsafe extern "C" fn send_to(
    Socket: *mut WSK_SOCKET,
    Buffer: *mut WSK_BUF,
    Flags: u32,
    RemoteAddress: *mut SOCKADDR,
    ControlInfoLength: u32,
    ControlInfo: *mut CMSGHDR,
    Irp: *mut IRP,
) -> NTSTATUS {
    let _ = (Buffer, Flags, RemoteAddress, ControlInfoLength, ControlInfo);
    // SAFETY: the caller passes WskSendTo's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard_status("WskSendTo", || unsafe { not_this_category(Socket, Irp) })
}

/// `WskReceiveFrom`.
pub unsafe extern "C" fn receive_from(
    Socket: *mut WSK_SOCKET,
    Buffer: *mut WSK_BUF,
    Flags: u32,
    RemoteAddress: *mut SOCKADDR,
    ControlLength: *mut u32,
    ControlInfo: *mut CMSGHDR,
    ControlFlags: *mut u32,
    Irp: *mut IRP,
) -> NTSTATUS {
    let _ = (Buffer, Flags, RemoteAddress, ControlLength, ControlInfo, ControlFlags);
    // SAFETY: the caller passes WskReceiveFrom's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard_status("WskReceiveFrom", || unsafe { not_this_category(Socket, Irp) })
}

/// `WskRelease` of a datagram indication list.
pub unsafe extern "C" fn release(
    Socket: *mut WSK_SOCKET,
    DatagramIndication: *mut WSK_DATAGRAM_INDICATION,
) -> NTSTATUS {
    guard_status("WskRelease", || match handle::get(Socket) {
        Err(e) => e,
        Ok(_) if DatagramIndication.is_null() => STATUS_INVALID_PARAMETER,
        Ok(_) => STATUS_INVALID_DEVICE_REQUEST,
    })
}

/// `WskSendMessages`.
pub unsafe extern "C" fn send_messages(
    Socket: *mut WSK_SOCKET,
    BufferList: *mut WSK_BUF_LIST,
    Flags: u32,
    RemoteAddress: *mut SOCKADDR,
    ControlInfoLength: u32,
    ControlInfo: *mut CMSGHDR,
    Irp: *mut IRP,
) -> NTSTATUS {
    let _ = (BufferList, Flags, RemoteAddress, ControlInfoLength, ControlInfo);
    // SAFETY: the caller passes WskSendMessages's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard_status("WskSendMessages", || unsafe { not_this_category(Socket, Irp) })
}
