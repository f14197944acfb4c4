//! `WSK_PROVIDER_LISTEN_DISPATCH`: WskAccept, WskInspectComplete (WskBind, which starts
//! listening, is shared with the connection table: [`crate::wsk::basic::bind`]).

use crate::abi::{IRP, NTSTATUS, PVOID, SOCKADDR, WSK_CLIENT_CONNECTION_DISPATCH, WSK_INSPECT_ID, WSK_SOCKET};
use crate::guard::guard_status;
use crate::status::STATUS_INVALID_PARAMETER;
use crate::wsk::buffers::write_sockaddr;
use crate::wsk::events::CConnectionEvents;
use crate::wsk::handle::{self, Category, Socket};
use crate::wsk::irp::Inline;
use crate::wsk::{socket_for, tables, with_irp};

/// `WskAccept`: the next connection (FIFO among pending accepts); `Information` is the
/// new socket; `LocalAddress`/`RemoteAddress` (optional) receive the addresses.
pub unsafe extern "C" fn accept(
    ListenSocket: *mut WSK_SOCKET,
    Flags: u32,
    AcceptSocketContext: PVOID,
    AcceptSocketDispatch: *const WSK_CLIENT_CONNECTION_DISPATCH,
    LocalAddress: *mut SOCKADDR,
    RemoteAddress: *mut SOCKADDR,
    Irp: *mut IRP,
) -> NTSTATUS {
    // SAFETY: the caller passes WskAccept's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard_status("WskAccept", || unsafe {
        with_irp(Irp, |irp| {
            let (irp, sock) = match socket_for(irp, ListenSocket, Category::Listen) {
                Ok(x) => x,
                Err(st) => return st,
            };
            let Socket::Listen(l) = &sock.socket else { unreachable!("category checked") };
            if Flags != 0 {
                return irp.fail(STATUS_INVALID_PARAMETER);
            }
            let events = CConnectionEvents::new(AcceptSocketContext, AcceptSocketDispatch);
            let missing = CConnectionEvents::missing_of(&events);
            let (local_out, remote_out) = (LocalAddress as usize, RemoteAddress as usize);
            let inline = Inline::new();
            let (call, done) = irp.begin(&inline);
            let canceller = l.accept_then(events.map(|e| e as _), move |r| match r {
                Ok(accepted) => {
                    // (In the enclosing unsafe block.) The client keeps its address buffers
                    // valid until completion.
                    write_sockaddr(local_out as *mut SOCKADDR, &accepted.local);
                    write_sockaddr(remote_out as *mut SOCKADDR, &accepted.remote);
                    match handle::insert(Socket::Connection(accepted.socket), tables::connection(), missing) {
                        Ok(h) => done.finish(0, h as usize),
                        Err(e) => done.finish(e, 0),
                    }
                }
                Err(e) => done.finish(e.0, 0),
            });
            call.returned(canceller)
        })
    })
}

/// `WskInspectComplete`. Conditional accept (`SO_CONDITIONAL_ACCEPT`) is not offered yet,
/// so no inspect request is ever pending: every ID is unknown.
pub unsafe extern "C" fn inspect_complete(
    ListenSocket: *mut WSK_SOCKET,
    InspectID: *mut WSK_INSPECT_ID,
    Action: u32,
    Irp: *mut IRP,
) -> NTSTATUS {
    let _ = (InspectID, Action);
    // SAFETY: the caller passes WskInspectComplete's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard_status("WskInspectComplete", || unsafe {
        with_irp(Irp, |irp| {
            let (irp, _sock) = match socket_for(irp, ListenSocket, Category::Listen) {
                Ok(x) => x,
                Err(st) => return st,
            };
            irp.fail(STATUS_INVALID_PARAMETER)
        })
    })
}
