//! `WSK_PROVIDER_DISPATCH`: WskSocket, WskSocketConnect, WskControlClient, and the name
//! resolution slots.

use std::net::SocketAddr;

use wsk_core::addr::AddressFamily;
use wsk_core::consts::category::*;
use wsk_core::consts::client_control::*;

use crate::abi::{
    ADDRINFOEXW, GUID, IRP, NTSTATUS, PVOID, SIZE_T, SOCKADDR, UNICODE_STRING, WSK_CLIENT_CONNECTION_DISPATCH,
    WSK_CLIENT_LISTEN_DISPATCH, WSK_EVENT_CALLBACK_CONTROL, WSK_TRANSPORT,
};
use crate::guard::{guard, guard_status};
use crate::status::{
    STATUS_BUFFER_OVERFLOW, STATUS_INVALID_PARAMETER, STATUS_NOT_IMPLEMENTED, STATUS_NOT_SUPPORTED, STATUS_SUCCESS,
};
use crate::wsk::buffers::read_sockaddr;
use crate::wsk::events::{CConnectionEvents, CListenEvents};
use crate::wsk::handle::{self, Socket};
use crate::wsk::irp::Inline;
use crate::wsk::irp::Irp as IrpRef;
use crate::wsk::registration::{client, NPI_WSK_INTERFACE_ID};
use crate::wsk::{tables, with_irp};

const SOCK_STREAM: u16 = 1;
const IPPROTO_TCP: u32 = 6;

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
                WSK_FLAG_STREAM_SOCKET => check_tcp(SocketType, Protocol)
                    .and_then(|()| crate::wsk::stream::create(&client, family_of, SocketContext, Dispatch as *const _)),
                // Basic and datagram sockets come with the next provider issue.
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

/// The transports this provider offers (`WSK_TRANSPORT_LIST_QUERY`).
fn transports() -> [WSK_TRANSPORT; 2] {
    let t = |af| WSK_TRANSPORT {
        Version: wsk_core::consts::WSK_PROVIDER_VERSION,
        SocketType: SOCK_STREAM,
        Protocol: IPPROTO_TCP,
        AddressFamily: af,
        ProviderId: GUID::default(),
    };
    [t(crate::abi::AF_INET), t(crate::abi::AF_INET6)]
}

/// `WskControlClient`.
pub unsafe extern "C" fn control_client(
    Client: PVOID,
    ControlCode: u32,
    InputSize: SIZE_T,
    InputBuffer: PVOID,
    OutputSize: SIZE_T,
    OutputBuffer: PVOID,
    OutputSizeReturned: *mut SIZE_T,
    Irp: *mut IRP,
) -> NTSTATUS {
    // SAFETY: the caller passes WskControlClient's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard_status("WskControlClient", || unsafe {
        let irp = match IrpRef::check_optional(Irp) {
            Ok(irp) => irp,
            Err(e) => return e,
        };
        let client = match client(Client).and_then(|c| c.check_ready().map(|()| c)) {
            Ok(c) => c,
            Err(e) => return finish(irp, e, 0),
        };
        match ControlCode {
            WSK_SET_STATIC_EVENT_CALLBACKS => {
                let status = match event_control(InputSize, InputBuffer) {
                    Ok(mask) => match client.with_npi(|npi| npi.set_static_event_callbacks(mask)) {
                        Ok(Ok(())) => STATUS_SUCCESS,
                        Ok(Err(e)) => e.0,
                        Err(e) => e,
                    },
                    Err(e) => e,
                };
                finish(irp, status, 0)
            }
            WSK_TRANSPORT_LIST_QUERY => {
                if OutputSizeReturned.is_null() {
                    return finish(irp, STATUS_INVALID_PARAMETER, 0);
                }
                let list = transports();
                let needed = std::mem::size_of_val(&list);
                *OutputSizeReturned = needed;
                if OutputBuffer.is_null() || OutputSize < needed {
                    return finish(irp, STATUS_BUFFER_OVERFLOW, 0);
                }
                std::ptr::copy_nonoverlapping(list.as_ptr() as *const u8, OutputBuffer as *mut u8, needed);
                finish(irp, STATUS_SUCCESS, needed)
            }
            // Accepted without effect: there is no TDI on Linux.
            WSK_TDI_BEHAVIOR | WSK_TDI_DEVICENAME_MAPPING => {
                let needed = if ControlCode == WSK_TDI_BEHAVIOR {
                    std::mem::size_of::<u32>()
                } else {
                    std::mem::size_of::<crate::abi::WSK_TDI_MAP_INFO>()
                };
                if InputBuffer.is_null() || InputSize < needed {
                    return finish(irp, STATUS_INVALID_PARAMETER, 0);
                }
                finish(irp, STATUS_SUCCESS, 0)
            }
            // WSK_TRANSPORT_LIST_CHANGE, WSK_CACHE_SD, WSK_RELEASE_SD: the next provider issue.
            _ => finish(irp, STATUS_NOT_SUPPORTED, 0),
        }
    })
}

/// `WskGetAddressInfo`: name resolution arrives with the next provider issue.
pub unsafe extern "C" fn get_address_info(
    Client: PVOID,
    NodeName: *mut UNICODE_STRING,
    ServiceName: *mut UNICODE_STRING,
    NameSpace: u32,
    Provider: *mut GUID,
    Hints: *mut ADDRINFOEXW,
    Result: *mut *mut ADDRINFOEXW,
    OwningProcess: PVOID,
    OwningThread: PVOID,
    Irp: *mut IRP,
) -> NTSTATUS {
    let _ = (NodeName, ServiceName, NameSpace, Provider, Hints, OwningProcess, OwningThread);
    // SAFETY: the caller passes WskGetAddressInfo's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard_status("WskGetAddressInfo", || unsafe {
        with_irp(Irp, |irp| {
            if let Err(e) = client(Client).and_then(|c| c.check_ready()) {
                return irp.fail(e);
            }
            if Result.is_null() {
                return irp.fail(STATUS_INVALID_PARAMETER);
            }
            irp.fail(STATUS_NOT_IMPLEMENTED)
        })
    })
}

/// `WskFreeAddressInfo`: nothing is ever allocated by `WskGetAddressInfo` yet.
pub unsafe extern "C" fn free_address_info(Client: PVOID, AddrInfo: *mut ADDRINFOEXW) {
    guard("WskFreeAddressInfo", (), || {
        if !AddrInfo.is_null() {
            tracing::error!("WskFreeAddressInfo of {:p}: not a list WskGetAddressInfo returned", AddrInfo);
        }
        let _ = Client;
    })
}

/// `WskGetNameInfo`: arrives with the next provider issue.
pub unsafe extern "C" fn get_name_info(
    Client: PVOID,
    SockAddr: *mut SOCKADDR,
    SockAddrLength: u32,
    NodeName: *mut UNICODE_STRING,
    ServiceName: *mut UNICODE_STRING,
    Flags: u32,
    OwningProcess: PVOID,
    OwningThread: PVOID,
    Irp: *mut IRP,
) -> NTSTATUS {
    let _ = (NodeName, ServiceName, Flags, OwningProcess, OwningThread);
    // SAFETY: the caller passes WskGetNameInfo's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard_status("WskGetNameInfo", || unsafe {
        with_irp(Irp, |irp| {
            if let Err(e) = client(Client).and_then(|c| c.check_ready()) {
                return irp.fail(e);
            }
            if SockAddr.is_null() {
                return irp.fail(STATUS_INVALID_PARAMETER);
            }
            let family = match AddressFamily::from_windows(std::ptr::read_unaligned(SockAddr as *const u16)) {
                Ok(f) => f,
                Err(_) => return irp.fail(STATUS_NOT_SUPPORTED),
            };
            if (SockAddrLength as usize) < family.sockaddr_len() {
                return irp.fail(STATUS_INVALID_PARAMETER);
            }
            irp.fail(STATUS_NOT_IMPLEMENTED)
        })
    })
}
