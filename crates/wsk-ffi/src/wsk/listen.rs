//! `WSK_PROVIDER_LISTEN_DISPATCH`: WskAccept (WskBind, which starts listening, is shared
//! with the connection table: [`crate::wsk::basic::bind`]; WskInspectComplete is in
//! [`crate::wsk::conditional`]). The stream table shares WskAccept: it also takes a stream
//! socket committed to listening.

use crate::abi::{IRP, NTSTATUS, PVOID, SOCKADDR, WSK_CLIENT_CONNECTION_DISPATCH, WSK_SOCKET};
use crate::guard::guard_status;
use crate::status::STATUS_INVALID_PARAMETER;
use crate::wsk::buffers::write_sockaddr;
use crate::wsk::events::CConnectionEvents;
use crate::wsk::handle::{self, Socket};
use crate::wsk::irp::Inline;
use crate::wsk::stream::as_listener;
use crate::wsk::{tables, with_irp};

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
            let sock = match handle::get(ListenSocket) {
                Ok(sock) => sock,
                Err(e) => return irp.fail(e),
            };
            let l = match as_listener(&sock.socket) {
                Ok(l) => l,
                Err(e) => return irp.fail(e),
            };
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
