//! `WSK_PROVIDER_DISPATCH`: WskSocket and WskSocketConnect (WskControlClient is in
//! [`crate::wsk::client_control`], the name resolution slots in [`crate::wsk::resolve`]).

use std::net::SocketAddr;

use wsk_core::addr::AddressFamily;
use wsk_core::consts::category::*;

use crate::abi::{
    IRP, NTSTATUS, PVOID, SIZE_T, SOCKADDR, WSK_CLIENT_CONNECTION_DISPATCH, WSK_CLIENT_LISTEN_DISPATCH,
    WSK_EVENT_CALLBACK_CONTROL,
};
use crate::guard::guard_status;
use crate::status::{STATUS_INVALID_PARAMETER, STATUS_NOT_IMPLEMENTED, STATUS_NOT_SUPPORTED, STATUS_SUCCESS};
use crate::wsk::buffers::read_sockaddr;
use crate::wsk::events::{CConnectionEvents, CListenEvents};
use crate::wsk::handle::{self, Socket};
use crate::wsk::irp::Inline;
use crate::wsk::irp::Irp as IrpRef;
use crate::wsk::registration::{client, NPI_WSK_INTERFACE_ID};
use crate::wsk::{tables, with_irp};

const SOCK_STREAM: u16 = 1;
const SOCK_DGRAM: u16 = 2;
const IPPROTO_TCP: u32 = 6;
const IPPROTO_UDP: u32 = 17;

/// The family of a `WskSocket` call (`STATUS_NOT_SUPPORTED` beyond AF_INET/AF_INET6).
fn family(af: u16) -> Result<SocketAddr, NTSTATUS> {
    AddressFamily::from_windows(af).map(|f| f.unspecified(0)).map_err(|_| STATUS_NOT_SUPPORTED)
}

/// TCP: SOCK_STREAM with IPPROTO_TCP or 0 (the type's default protocol).
fn check_tcp(socket_type: u16, protocol: u32) -> Result<(), NTSTATUS> {
    if socket_type == SOCK_STREAM && (protocol == IPPROTO_TCP || protocol == 0) {
        Ok(())
    } else {
        Err(STATUS_NOT_SUPPORTED)
    }
}

/// The transport of a basic socket: `Ok(true)` for UDP, `Ok(false)` for TCP.
fn basic_transport(socket_type: u16, protocol: u32) -> Result<bool, NTSTATUS> {
    match (socket_type, protocol) {
        (SOCK_STREAM, IPPROTO_TCP | 0) => Ok(false),
        (SOCK_DGRAM, IPPROTO_UDP | 0) => Ok(true),
        _ => Err(STATUS_NOT_SUPPORTED),
    }
}

/// `WskSocket`.
pub unsafe extern "C" fn socket(
    Client: PVOID,
    AddressFamily: u16,
    SocketType: u16,
    Protocol: u32,
    Flags: u32,
    SocketContext: PVOID,
    Dispatch: *const std::ffi::c_void,
    OwningProcess: PVOID,
    OwningThread: PVOID,
    SecurityDescriptor: PVOID,
    Irp: *mut IRP,
) -> NTSTATUS {
    let _ = (OwningProcess, OwningThread, SecurityDescriptor);
    // SAFETY: the caller passes WskSocket's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard_status("WskSocket", || unsafe {
        with_irp(Irp, |irp| {
            let client = match client(Client) {
                Ok(c) => c,
                Err(e) => return irp.fail(e),
            };
            let known =
                WSK_FLAG_LISTEN_SOCKET | WSK_FLAG_CONNECTION_SOCKET | WSK_FLAG_DATAGRAM_SOCKET | WSK_FLAG_STREAM_SOCKET;
            if Flags & !known != 0 || Flags.count_ones() > 1 {
                return irp.fail(STATUS_INVALID_PARAMETER);
            }
            let family_of = match family(AddressFamily) {
                Ok(f) => f,
                Err(e) => return irp.fail(e),
            };
            let result = match Flags {
                WSK_FLAG_LISTEN_SOCKET => check_tcp(SocketType, Protocol).and_then(|()| {
                    let events = CListenEvents::new(SocketContext, Dispatch as *const WSK_CLIENT_LISTEN_DISPATCH);
                    let missing = CListenEvents::missing_of(&events);
                    let op = client.with_npi(|npi| npi.listen_socket(family_of, events.map(|e| e as _)))?;
                    let socket = op.wait().map_err(|e| e.0)?;
                    handle::insert(Socket::Listen(socket), tables::listen(), missing)
                }),
                WSK_FLAG_CONNECTION_SOCKET => check_tcp(SocketType, Protocol).and_then(|()| {
                    let events =
                        CConnectionEvents::new(SocketContext, Dispatch as *const WSK_CLIENT_CONNECTION_DISPATCH);
                    let missing = CConnectionEvents::missing_of(&events);
                    let op = client.with_npi(|npi| npi.connection_socket(family_of, events.map(|e| e as _)))?;
                    let socket = op.wait().map_err(|e| e.0)?;
                    handle::insert(Socket::Connection(socket), tables::connection(), missing)
                }),
                WSK_FLAG_BASIC_SOCKET => basic_transport(SocketType, Protocol).and_then(|datagram| {
                    // Basic sockets have no client dispatch table (the reference: pass NULL).
                    if !Dispatch.is_null() {
                        return Err(STATUS_INVALID_PARAMETER);
                    }
                    let op = client.with_npi(|npi| npi.basic_socket(family_of, datagram))?;
                    let socket = op.wait().map_err(|e| e.0)?;
                    handle::insert(Socket::Basic(socket), tables::basic(), 0)
                }),
                WSK_FLAG_DATAGRAM_SOCKET => {
                    crate::wsk::datagram::create(&client, family_of, SocketType, Protocol, SocketContext, Dispatch)
                }
                WSK_FLAG_STREAM_SOCKET => check_tcp(SocketType, Protocol)
                    .and_then(|()| crate::wsk::stream::create(&client, family_of, SocketContext, Dispatch as *const _)),
                // No other value passes the checks above.
                _ => Err(STATUS_NOT_IMPLEMENTED),
            };
            match result {
                Ok(h) => irp.complete_now(STATUS_SUCCESS, h as usize),
                Err(e) => irp.fail(e),
            }
        })
    })
}

/// `WskSocketConnect`: create, bind to `LocalAddress`, connect to `RemoteAddress`.
pub unsafe extern "C" fn socket_connect(
    Client: PVOID,
    SocketType: u16,
    Protocol: u32,
    LocalAddress: *mut SOCKADDR,
    RemoteAddress: *mut SOCKADDR,
    Flags: u32,
    SocketContext: PVOID,
    Dispatch: *const WSK_CLIENT_CONNECTION_DISPATCH,
    OwningProcess: PVOID,
    OwningThread: PVOID,
    SecurityDescriptor: PVOID,
    Irp: *mut IRP,
) -> NTSTATUS {
    let _ = (OwningProcess, OwningThread, SecurityDescriptor);
    // SAFETY: the caller passes WskSocketConnect's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard_status("WskSocketConnect", || unsafe {
        with_irp(Irp, |irp| {
            let client = match client(Client) {
                Ok(c) => c,
                Err(e) => return irp.fail(e),
            };
            if Flags != 0 {
                return irp.fail(STATUS_INVALID_PARAMETER);
            }
            if let Err(e) = check_tcp(SocketType, Protocol) {
                return irp.fail(e);
            }
            let (local, remote) = match (read_sockaddr(LocalAddress), read_sockaddr(RemoteAddress)) {
                (Ok(l), Ok(r)) => (l, r),
                (Err(e), _) | (_, Err(e)) => return irp.fail(e),
            };
            if local.is_ipv4() != remote.is_ipv4() {
                return irp.fail(STATUS_INVALID_PARAMETER);
            }
            let events = CConnectionEvents::new(SocketContext, Dispatch);
            let missing = CConnectionEvents::missing_of(&events);
            let op = match client.with_npi(|npi| npi.socket_connect(local, remote, events.map(|e| e as _))) {
                Ok(op) => op,
                Err(e) => return irp.fail(e),
            };
            let inline = Inline::new();
            let (call, done) = irp.begin(&inline);
            let canceller = op.canceller();
            op.then(move |r| match r {
                Ok(socket) => match handle::insert(Socket::Connection(socket), tables::connection(), missing) {
                    Ok(h) => done.finish(STATUS_SUCCESS, h as usize),
                    Err(e) => done.finish(e, 0),
                },
                Err(e) => done.finish(e.0, 0),
            });
            call.returned(canceller)
        })
    })
}

/// Completes an optional IRP with `status`/`information`; returns `status`.
pub(crate) fn finish(irp: Option<IrpRef>, status: NTSTATUS, information: usize) -> NTSTATUS {
    match irp {
        Some(irp) => irp.complete_now(status, information),
        None => status,
    }
}

/// Reads a `WSK_EVENT_CALLBACK_CONTROL` input buffer: its event mask, once the NPI id
/// is checked (`NPI_WSK_INTERFACE_ID`; extension interfaces are not offered).
pub(crate) unsafe fn event_control(size: SIZE_T, buffer: PVOID) -> Result<u32, NTSTATUS> {
    // SAFETY: the caller upholds this function's contract (see its docs).
    unsafe {
        if buffer.is_null() || size < std::mem::size_of::<WSK_EVENT_CALLBACK_CONTROL>() {
            return Err(STATUS_INVALID_PARAMETER);
        }
        let ctl = std::ptr::read_unaligned(buffer as *const WSK_EVENT_CALLBACK_CONTROL);
        if ctl.NpiId.is_null() {
            return Err(STATUS_INVALID_PARAMETER);
        }
        if std::ptr::read_unaligned(ctl.NpiId) != NPI_WSK_INTERFACE_ID {
            return Err(STATUS_NOT_SUPPORTED);
        }
        Ok(ctl.EventMask)
    }
}
