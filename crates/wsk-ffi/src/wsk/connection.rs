//! `WSK_PROVIDER_CONNECTION_DISPATCH`: WskConnect, WskGetRemoteAddress, WskSend,
//! WskReceive, WskDisconnect, WskRelease, WskConnectEx, WskSendEx, WskReceiveEx. The
//! stream table shares them: they also act on a stream socket committed to connecting,
//! and WskConnect/WskConnectEx commit one ([`crate::wsk::stream`]).

use crate::abi::{CMSGHDR, IRP, NTSTATUS, SOCKADDR, WSK_BUF, WSK_DATA_INDICATION, WSK_SOCKET};
use crate::guard::guard_status;
use crate::status::{STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED, STATUS_SUCCESS};
use crate::wsk::buffers::{address_arg, write_sockaddr, Regions};
use crate::wsk::handle;
use crate::wsk::irp::Inline;
use crate::wsk::irp::Irp as IrpRef;
use crate::wsk::stream::{as_connection, with_connector};
use crate::wsk::{events, status_of, with_irp};

/// Looks up a connection socket (or a stream socket committed to connecting) for `f`;
/// completes the IRP on failure.
#[inline]
unsafe fn with_connection(
    irp: *mut IRP,
    s: *mut WSK_SOCKET,
    f: impl FnOnce(IrpRef, &wsk_api::ConnectionSocket) -> NTSTATUS,
) -> NTSTATUS {
    // SAFETY: the caller upholds this function's contract (see its docs).
    unsafe {
        with_irp(irp, |irp| {
            let sock = match handle::get(s) {
                Ok(sock) => sock,
                Err(e) => return irp.fail(e),
            };
            match as_connection(&sock.socket) {
                Ok(c) => f(irp, &c),
                Err(e) => irp.fail(e),
            }
        })
    }
}

/// `WskConnect`.
pub unsafe extern "C" fn connect(
    Socket: *mut WSK_SOCKET,
    RemoteAddress: *mut SOCKADDR,
    Flags: u32,
    Irp: *mut IRP,
) -> NTSTATUS {
    // SAFETY: the caller passes WskConnect's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard_status("WskConnect", || unsafe {
        with_connector(Irp, Socket, |irp, c| {
            let addr = match address_arg(Flags, RemoteAddress) {
                Ok(a) => a,
                Err(e) => return irp.fail(e),
            };
            let inline = Inline::new();
            let (call, done) = irp.begin(&inline);
            let canceller = c.connect_then(addr, move |r| done.finish(status_of(&r), 0));
            call.returned(canceller)
        })
    })
}

/// `WskConnectEx`: connects, then sends `Buffer` (at most 65,535 bytes) before completing.
pub unsafe extern "C" fn connect_ex(
    Socket: *mut WSK_SOCKET,
    RemoteAddress: *mut SOCKADDR,
    Buffer: *mut WSK_BUF,
    Flags: u32,
    Irp: *mut IRP,
) -> NTSTATUS {
    // SAFETY: the caller passes WskConnectEx's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard_status("WskConnectEx", || unsafe {
        with_connector(Irp, Socket, |irp, c| {
            let addr = match address_arg(Flags, RemoteAddress) {
                Ok(a) => a,
                Err(e) => return irp.fail(e),
            };
            let first: Option<Box<dyn wsk_api::SendBuffer>> = if Buffer.is_null() {
                None
            } else {
                match Regions::of(Buffer) {
                    Ok(r) => Some(Box::new(r)),
                    Err(e) => return irp.fail(e),
                }
            };
            let inline = Inline::new();
            let (call, done) = irp.begin(&inline);
            let canceller = c.connect_ex_then(addr, first, move |r| done.finish(status_of(&r), 0));
            call.returned(canceller)
        })
    })
}

/// `WskGetRemoteAddress`.
pub unsafe extern "C" fn get_remote_address(
    Socket: *mut WSK_SOCKET,
    RemoteAddress: *mut SOCKADDR,
    Irp: *mut IRP,
) -> NTSTATUS {
    // SAFETY: the caller passes WskGetRemoteAddress's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard_status("WskGetRemoteAddress", || unsafe {
        with_connection(Irp, Socket, |irp, c| {
            if RemoteAddress.is_null() {
                return irp.fail(STATUS_INVALID_PARAMETER);
            }
            match c.remote_addr() {
                Ok(a) => {
                    write_sockaddr(RemoteAddress, &a);
                    irp.complete_now(0, 0)
                }
                Err(e) => irp.fail(e.0),
            }
        })
    })
}

/// `WskSend`: completes when the host took every byte; `Information` = bytes sent.
pub unsafe extern "C" fn send(Socket: *mut WSK_SOCKET, Buffer: *mut WSK_BUF, Flags: u32, Irp: *mut IRP) -> NTSTATUS {
    // SAFETY: the caller passes WskSend's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard_status("WskSend", || unsafe {
        with_connection(Irp, Socket, |irp, c| {
            let data = match Regions::of(Buffer) {
                Ok(r) => r,
                Err(e) => return irp.fail(e),
            };
            let inline = Inline::new();
            let (call, done) = irp.begin(&inline);
            let canceller = c.send_then(Box::new(data), Flags, move |r| match r {
                Ok(n) => done.finish(0, n),
                Err(e) => done.finish(e.0, 0),
            });
            call.returned(canceller)
        })
    })
}

/// `WskReceive`: `Information` = bytes received (0 once the peer closed).
pub unsafe extern "C" fn receive(Socket: *mut WSK_SOCKET, Buffer: *mut WSK_BUF, Flags: u32, Irp: *mut IRP) -> NTSTATUS {
    // SAFETY: the caller passes WskReceive's arguments, checked before use.
    guard_status("WskReceive", || unsafe { receive_into(Socket, Buffer, Flags, std::ptr::null_mut(), Irp) })
}

unsafe fn receive_into(
    s: *mut WSK_SOCKET,
    buffer: *mut WSK_BUF,
    flags: u32,
    control_length: *mut u32,
    irp: *mut IRP,
) -> NTSTATUS {
    // SAFETY: the caller upholds this function's contract (see its docs).

    unsafe {
        with_connection(irp, s, |irp, c| {
            let into = match Regions::of(buffer) {
                Ok(r) => r,
                Err(e) => return irp.fail(e),
            };
            let control_length = control_length as usize;
            let inline = Inline::new();
            let (call, done) = irp.begin(&inline);
            let canceller = c.receive_then(Box::new(into), flags, move |r, _buf| {
                if control_length != 0 {
                    // (In the enclosing unsafe block.) The client keeps *ControlInfoLength valid until completion.
                    *(control_length as *mut u32) = 0;
                }
                match r {
                    Ok(n) => done.finish(0, n),
                    Err(e) => done.finish(e.0, 0),
                }
            });
            call.returned(canceller)
        })
    }
}

/// `WskDisconnect`: graceful (optional final `Buffer`) or abortive (`WSK_FLAG_ABORTIVE`).
pub unsafe extern "C" fn disconnect(
    Socket: *mut WSK_SOCKET,
    Buffer: *mut WSK_BUF,
    Flags: u32,
    Irp: *mut IRP,
) -> NTSTATUS {
    // SAFETY: the caller passes WskDisconnect's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard_status("WskDisconnect", || unsafe {
        with_connection(Irp, Socket, |irp, c| {
            let last: Option<Box<dyn wsk_api::SendBuffer>> = if Buffer.is_null() {
                None
            } else {
                match Regions::of(Buffer) {
                    Ok(r) if r.total() == 0 => None,
                    Ok(r) => Some(Box::new(r)),
                    Err(e) => return irp.fail(e),
                }
            };
            let inline = Inline::new();
            let (call, done) = irp.begin(&inline);
            let canceller = c.disconnect_then(last, Flags, move |r| done.finish(status_of(&r), 0));
            call.returned(canceller)
        })
    })
}

/// `WskRelease` of a data indication list (any element or sub-chain of a retained chain).
pub unsafe extern "C" fn release(Socket: *mut WSK_SOCKET, DataIndication: *mut WSK_DATA_INDICATION) -> NTSTATUS {
    guard_status("WskRelease", || match handle::get(Socket).and_then(|s| as_connection(&s.socket).map(|_| ())) {
        // SAFETY: `release` checks the pointer against the retained set before using it.
        Ok(()) => unsafe { events::release(DataIndication) },
        Err(e) => e,
    })
}

/// `WskSendEx`: `WskSend` with control information (none supported yet: control data
/// gets `STATUS_NOT_SUPPORTED`).
pub unsafe extern "C" fn send_ex(
    Socket: *mut WSK_SOCKET,
    Buffer: *mut WSK_BUF,
    Flags: u32,
    ControlInfoLength: u32,
    ControlInfo: *mut CMSGHDR,
    Irp: *mut IRP,
) -> NTSTATUS {
    if ControlInfoLength != 0 || !ControlInfo.is_null() {
        // TCP on Linux carries no per-send control information (the host ignores IP-level
        // messages on stream sockets): a well-formed message is not supported, a malformed
        // buffer (or a length without one) is invalid, an empty one is no message at all.
        let status = if ControlInfo.is_null() {
            STATUS_INVALID_PARAMETER
        } else {
            // SAFETY: the client vouches for ControlInfoLength readable bytes at ControlInfo.
            let bytes = unsafe { std::slice::from_raw_parts(ControlInfo as *const u8, ControlInfoLength as usize) };
            match wsk_core::cmsg::parse(bytes) {
                Ok(messages) if messages.is_empty() => STATUS_SUCCESS,
                Ok(_) => STATUS_NOT_SUPPORTED,
                Err(e) => e.0,
            }
        };
        if status != STATUS_SUCCESS {
            // SAFETY: the caller passes WskSendEx's arguments, checked before use.
            return guard_status("WskSendEx", || unsafe { with_connection(Irp, Socket, |irp, _| irp.fail(status)) });
        }
    }
    // SAFETY: the same arguments, WskSend's contract.
    unsafe { send(Socket, Buffer, Flags, Irp) }
}

/// `WskReceiveEx`: `WskReceive` that also reports control information (none is ever
/// received on TCP: `*ControlInfoLength` becomes 0). `ControlFlags` is reserved (NULL).
pub unsafe extern "C" fn receive_ex(
    Socket: *mut WSK_SOCKET,
    Buffer: *mut WSK_BUF,
    Flags: u32,
    ControlInfoLength: *mut u32,
    ControlInfo: *mut CMSGHDR,
    ControlFlags: *mut u32,
    Irp: *mut IRP,
) -> NTSTATUS {
    let _ = ControlInfo;
    // SAFETY: the caller passes WskReceiveEx's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard_status("WskReceiveEx", || unsafe {
        if !ControlFlags.is_null() {
            return with_connection(Irp, Socket, |irp, _| irp.fail(STATUS_INVALID_PARAMETER));
        }
        receive_into(Socket, Buffer, Flags, ControlInfoLength, Irp)
    })
}
