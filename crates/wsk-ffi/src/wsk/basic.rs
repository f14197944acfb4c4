//! `WSK_PROVIDER_BASIC_DISPATCH` (the first two slots of every table) and
//! WskGetLocalAddress, which every category but basic has.

use crate::abi::{IRP, NTSTATUS, PVOID, SIZE_T, SOCKADDR, WSK_SOCKET};
use crate::guard::guard_status;
use crate::status::{STATUS_INVALID_DEVICE_REQUEST, STATUS_INVALID_PARAMETER};
use crate::wsk::buffers::{address_arg, write_sockaddr};
use crate::wsk::handle::{self, Socket};
use crate::wsk::irp::Inline;
use crate::wsk::{status_of, with_irp};

/// `WskControlSocket`.
pub unsafe extern "C" fn control_socket(
    Socket: *mut WSK_SOCKET,
    RequestType: u32,
    ControlCode: u32,
    Level: u32,
    InputSize: SIZE_T,
    InputBuffer: PVOID,
    OutputSize: SIZE_T,
    OutputBuffer: PVOID,
    OutputSizeReturned: *mut SIZE_T,
    Irp: *mut IRP,
) -> NTSTATUS {
    // SAFETY: the caller passes WskControlSocket's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard_status("WskControlSocket", || unsafe {
        crate::wsk::control::control_socket(
            Socket,
            RequestType,
            ControlCode,
            Level,
            InputSize,
            InputBuffer,
            OutputSize,
            OutputBuffer,
            OutputSizeReturned,
            Irp,
        )
    })
}

/// `WskCloseSocket`: cancels and completes every pending IRP of the socket, waits for a
/// running callback, then completes this IRP; the handle is invalid from then on.
pub unsafe extern "C" fn close_socket(Socket: *mut WSK_SOCKET, Irp: *mut IRP) -> NTSTATUS {
    // SAFETY: the caller passes WskCloseSocket's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard_status("WskCloseSocket", || unsafe {
        with_irp(Irp, |irp| {
            let sock = match handle::get(Socket) {
                Ok(s) => s,
                Err(e) => return irp.fail(e),
            };
            let inline = Inline::new();
            let (call, done) = irp.begin(&inline);
            let op = sock.socket.control().close_socket();
            op.then(move |r| {
                sock.end();
                drop(sock);
                done.finish(status_of(&r), 0);
            });
            call.returned(None)
        })
    })
}

/// `WskBind` of a listening socket (binds and starts listening), a connection-oriented
/// one (required before `WskConnect`) or a stream socket (required before `WskListen`
/// and `WskConnect`).
pub unsafe extern "C" fn bind(
    Socket: *mut WSK_SOCKET,
    LocalAddress: *mut SOCKADDR,
    Flags: u32,
    Irp: *mut IRP,
) -> NTSTATUS {
    // SAFETY: the caller passes WskBind's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard_status("WskBind", || unsafe {
        with_irp(Irp, |irp| {
            let sock = match handle::get(Socket) {
                Ok(s) => s,
                Err(e) => return irp.fail(e),
            };
            let addr = match address_arg(Flags, LocalAddress) {
                Ok(a) => a,
                Err(e) => return irp.fail(e),
            };
            let op = match &sock.socket {
                Socket::Listen(l) => l.bind(addr),
                Socket::Connection(c) => c.bind(addr),
                Socket::Datagram(d) => d.bind(addr),
                Socket::Stream(s) => s.bind(addr),
                Socket::Basic(_) => return irp.fail(STATUS_INVALID_DEVICE_REQUEST),
            };
            let inline = Inline::new();
            let (call, done) = irp.begin(&inline);
            op.then(move |r| done.finish(status_of(&r), 0));
            call.returned(None)
        })
    })
}

/// `WskGetLocalAddress` (listen, connection, datagram and stream tables).
pub unsafe extern "C" fn get_local_address(
    Socket: *mut WSK_SOCKET,
    LocalAddress: *mut SOCKADDR,
    Irp: *mut IRP,
) -> NTSTATUS {
    // SAFETY: the caller passes WskGetLocalAddress's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard_status("WskGetLocalAddress", || unsafe {
        with_irp(Irp, |irp| {
            let sock = match handle::get(Socket) {
                Ok(s) => s,
                Err(e) => return irp.fail(e),
            };
            if LocalAddress.is_null() {
                return irp.fail(STATUS_INVALID_PARAMETER);
            }
            let addr = match &sock.socket {
                Socket::Listen(l) => l.local_addr(),
                Socket::Connection(c) => c.local_addr(),
                Socket::Datagram(d) => d.local_addr(),
                Socket::Stream(s) => s.local_addr(),
                Socket::Basic(_) => return irp.fail(STATUS_INVALID_DEVICE_REQUEST),
            };
            match addr {
                Ok(a) => {
                    write_sockaddr(LocalAddress, &a);
                    irp.complete_now(0, 0)
                }
                Err(e) => irp.fail(e.0),
            }
        })
    })
}
