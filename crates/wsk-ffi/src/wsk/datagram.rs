//! `WSK_PROVIDER_DATAGRAM_DISPATCH`: WskSendTo, WskReceiveFrom, WskRelease (datagram
//! indication lists), WskSendMessages (WskBind and WskGetLocalAddress are shared:
//! [`crate::wsk::basic`]).
//!
//! Over [`wsk_api::DatagramSocket`] (docs/DATAGRAM.md); the C side's choices are in
//! docs/C_ABI.md ("Datagram sockets"):
//!
//! - `Flags` of every datagram call are reserved: any bit is `STATUS_INVALID_PARAMETER`.
//! - `ControlInfoLength` bytes at `ControlInfo` are parsed with `cmsg::parse` (a length
//!   with a NULL `ControlInfo`, or a malformed buffer: `STATUS_INVALID_PARAMETER`); a
//!   `ControlInfo` with length 0 is no control information.
//! - `WskReceiveFrom`: `*ControlLength` (read when the call starts) is the control buffer's
//!   size; on success it receives the bytes of control information written, `*ControlFlags`
//!   the `MSG_*` flags. A NULL `ControlLength` means no control information and no flags
//!   (the DDI: `ControlInfo` and `ControlFlags` are then ignored).
//! - Pending sends and receives are cancellable (`IoCancelIrp`); closing the socket
//!   completes them with `STATUS_CANCELLED` before the close completes.

use std::ffi::c_void;
use std::net::SocketAddr;

use wsk_api::{Canceller, ControlMessage, DatagramSocket, SendBuffer};
use wsk_core::consts::control::SIO_WSK_SET_REMOTE_ADDRESS;

use crate::abi::{
    CMSGHDR, IRP, NTSTATUS, PVOID, SOCKADDR, WSK_BUF, WSK_BUF_LIST, WSK_CLIENT_DATAGRAM_DISPATCH,
    WSK_DATAGRAM_INDICATION, WSK_SOCKET,
};
use crate::guard::guard_status;
use crate::status::{STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED};
use crate::wsk::buffers::{read_sockaddr, write_sockaddr, Regions};
use crate::wsk::datagram_events::CDatagramEvents;
use crate::wsk::handle::{self, Category, Handle, Socket};
use crate::wsk::irp::{Inline, Irp as IrpRef};
use crate::wsk::registration::Client;
use crate::wsk::{datagram_events, socket_for, status_of, tables, with_irp};

/// Longest `WSK_BUF_LIST` taken by `WskSendMessages` (a longer one is taken for a cycle).
const MAX_LIST: usize = 1 << 16;

/// Looks up a datagram socket for `f`; completes the IRP on failure.
#[inline]
unsafe fn with_datagram(
    irp: *mut IRP,
    s: *mut WSK_SOCKET,
    f: impl FnOnce(IrpRef, &DatagramSocket) -> NTSTATUS,
) -> NTSTATUS {
    // SAFETY: the caller upholds this function's contract (see its docs).
    unsafe {
        with_irp(irp, |irp| {
            let (irp, sock) = match socket_for(irp, s, Category::Datagram) {
                Ok(x) => x,
                Err(st) => return st,
            };
            let Socket::Datagram(d) = &sock.socket else { unreachable!("category checked") };
            f(irp, d)
        })
    }
}

/// `WskSocket` with `WSK_FLAG_DATAGRAM_SOCKET`: UDP (`SOCK_DGRAM` with `IPPROTO_UDP` or
/// 0; anything else is `STATUS_NOT_SUPPORTED`), `Dispatch` a `WSK_CLIENT_DATAGRAM_DISPATCH`
/// or NULL. Returns the new handle.
///
/// # Safety
/// `dispatch` is NULL or points to a `WSK_CLIENT_DATAGRAM_DISPATCH` that stays valid while
/// the socket lives.
pub(crate) unsafe fn create(
    client: &Client,
    family_of: SocketAddr,
    socket_type: u16,
    protocol: u32,
    context: PVOID,
    dispatch: *const c_void,
) -> Result<*mut WSK_SOCKET, NTSTATUS> {
    const SOCK_DGRAM: u16 = 2;
    const IPPROTO_UDP: u32 = 17;
    if socket_type != SOCK_DGRAM || (protocol != IPPROTO_UDP && protocol != 0) {
        return Err(STATUS_NOT_SUPPORTED);
    }
    // SAFETY: per the caller.
    let events = unsafe { CDatagramEvents::new(context, dispatch as *const WSK_CLIENT_DATAGRAM_DISPATCH) };
    let missing = CDatagramEvents::missing_of(&events);
    let op = client.with_npi(|npi| npi.datagram_socket(family_of, events.map(|e| e as _)))?;
    let socket = op.wait().map_err(|e| e.0)?;
    handle::insert(Socket::Datagram(socket), tables::datagram(), missing)
}

/// `SIO_WSK_SET_REMOTE_ADDRESS` / `SIO_WSK_SET_SENDTO_ADDRESS` (`code`), with the input
/// buffer: a SOCKADDR, or nothing to clear the address. IRP required (NULL:
/// `STATUS_INVALID_PARAMETER`, nothing completed); a socket of another category:
/// `STATUS_NOT_SUPPORTED` (as the other categories' IOCTLs answer); an input shorter than
/// its family's SOCKADDR: `STATUS_INVALID_PARAMETER`; a family other than AF_INET /
/// AF_INET6: `STATUS_NOT_SUPPORTED`; then the Rust API's answer (before bind:
/// `STATUS_INVALID_DEVICE_STATE`; the other family: `STATUS_INVALID_PARAMETER`).
pub(crate) fn set_address(sock: &Handle, code: u32, input: &[u8], irp: Option<IrpRef>) -> NTSTATUS {
    let Some(irp) = irp else { return STATUS_INVALID_PARAMETER };
    let Socket::Datagram(d) = &sock.socket else { return irp.fail(STATUS_NOT_SUPPORTED) };
    let addr = if input.is_empty() {
        None
    } else {
        match wsk_api::addr::decode(input) {
            Ok(a) => Some(a),
            Err(e) => return irp.fail(e.0),
        }
    };
    let op = if code == SIO_WSK_SET_REMOTE_ADDRESS { d.set_remote_address(addr) } else { d.set_sendto_address(addr) };
    let inline = Inline::new();
    let (call, done) = irp.begin(&inline);
    op.then(move |r| done.finish(status_of(&r), 0));
    call.returned(None)
}

/// An optional destination: NULL is `None`, else as [`read_sockaddr`].
///
/// # Safety
/// As for [`read_sockaddr`].
unsafe fn optional_address(p: *const SOCKADDR) -> Result<Option<SocketAddr>, NTSTATUS> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: per the caller.
    unsafe { read_sockaddr(p).map(Some) }
}

/// The control information of a send: `length` bytes at `info` in the Windows `CMSGHDR`
/// layout (none when `length` is 0; a length with a NULL buffer is `STATUS_INVALID_PARAMETER`).
///
/// # Safety
/// A non-NULL `info` is readable for `length` bytes.
unsafe fn control_arg(length: u32, info: *const CMSGHDR) -> Result<Vec<ControlMessage>, NTSTATUS> {
    if length == 0 {
        return Ok(Vec::new());
    }
    if info.is_null() {
        return Err(STATUS_INVALID_PARAMETER);
    }
    // SAFETY: per the caller.
    let bytes = unsafe { std::slice::from_raw_parts(info as *const u8, length as usize) };
    wsk_api::cmsg::parse(bytes).map_err(|e| e.0)
}

/// What `WskSendTo` and `WskSendMessages` take besides their buffers: the reserved
/// `Flags` (any bit: `STATUS_INVALID_PARAMETER`), the optional destination and the control
/// information.
///
/// # Safety
/// As for [`optional_address`] and [`control_arg`].
unsafe fn send_args(
    flags: u32,
    remote: *const SOCKADDR,
    control_length: u32,
    control: *const CMSGHDR,
) -> Result<(Option<SocketAddr>, Vec<ControlMessage>), NTSTATUS> {
    if flags != 0 {
        return Err(STATUS_INVALID_PARAMETER);
    }
    // SAFETY: per the caller.
    unsafe { Ok((optional_address(remote)?, control_arg(control_length, control)?)) }
}

/// The completion routine of a send: `Information` = the bytes sent.
type SendDone = Box<dyn FnOnce(wsk_api::Result<usize>) + Send>;

/// Starts a send on the IRP: `start` begins it with the completion routine and returns its
/// canceller while it is pending.
fn start_send(irp: IrpRef, start: impl FnOnce(SendDone) -> Option<Canceller>) -> NTSTATUS {
    let inline = Inline::new();
    let (call, done) = irp.begin(&inline);
    let canceller = start(Box::new(move |r| match r {
        Ok(n) => done.finish(0, n),
        Err(e) => done.finish(e.0, 0),
    }));
    call.returned(canceller)
}

/// `WskSendTo`: one datagram to `RemoteAddress` (NULL: the `SIO_WSK_SET_SENDTO_ADDRESS` or
/// `SIO_WSK_SET_REMOTE_ADDRESS` address); `Information` = bytes sent.
pub unsafe extern "C" fn send_to(
    Socket: *mut WSK_SOCKET,
    Buffer: *mut WSK_BUF,
    Flags: u32,
    RemoteAddress: *mut SOCKADDR,
    ControlInfoLength: u32,
    ControlInfo: *mut CMSGHDR,
    Irp: *mut IRP,
) -> NTSTATUS {
    // SAFETY: the caller passes WskSendTo's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard_status("WskSendTo", || unsafe {
        with_datagram(Irp, Socket, |irp, d| {
            let args = send_args(Flags, RemoteAddress, ControlInfoLength, ControlInfo)
                .and_then(|(remote, control)| Ok((Regions::of(Buffer)?, remote, control)));
            match args {
                Ok((data, remote, control)) => {
                    start_send(irp, |done| d.send_to_then(Box::new(data), remote, control, done))
                }
                Err(e) => irp.fail(e),
            }
        })
    })
}

/// `WskReceiveFrom`: one datagram into `Buffer` (truncated to it: `MSG_TRUNC`);
/// `Information` = bytes received; `RemoteAddress`, `ControlInfo`, `*ControlLength`,
/// `*ControlFlags` written on success.
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
    // SAFETY: the caller passes WskReceiveFrom's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard_status("WskReceiveFrom", || unsafe {
        with_datagram(Irp, Socket, |irp, d| {
            if Flags != 0 {
                return irp.fail(STATUS_INVALID_PARAMETER);
            }
            let into = match Regions::of(Buffer) {
                Ok(r) => r,
                Err(e) => return irp.fail(e),
            };
            // The DDI: a NULL ControlLength means ControlInfo and ControlFlags are ignored.
            let capacity = if ControlLength.is_null() { 0 } else { *ControlLength as usize };
            if capacity > 0 && ControlInfo.is_null() {
                return irp.fail(STATUS_INVALID_PARAMETER);
            }
            // The client keeps these valid until the IRP completes (the WSK rule).
            let (remote_out, length_out, info_out, flags_out) =
                (RemoteAddress as usize, ControlLength as usize, ControlInfo as usize, ControlFlags as usize);
            let inline = Inline::new();
            let (call, done) = irp.begin(&inline);
            let canceller = d.receive_from_then(Box::new(into), capacity, move |r, buf| {
                drop(buf);
                match r {
                    Ok(info) => {
                        // (In the enclosing unsafe block.) Valid until completion, per the client.
                        write_sockaddr(remote_out as *mut SOCKADDR, &info.remote);
                        if length_out != 0 {
                            let written = if capacity > 0 {
                                let out = std::slice::from_raw_parts_mut(info_out as *mut u8, capacity);
                                wsk_api::cmsg::encode_into(&info.control, out).0
                            } else {
                                0
                            };
                            *(length_out as *mut u32) = written as u32;
                            if flags_out != 0 {
                                *(flags_out as *mut u32) = info.flags;
                            }
                        }
                        done.finish(0, info.bytes)
                    }
                    Err(e) => done.finish(e.0, 0),
                }
            });
            call.returned(canceller)
        })
    })
}

/// `WskRelease` of a datagram indication list (any element or sub-chain of a retained
/// chain, from any thread).
pub unsafe extern "C" fn release(
    Socket: *mut WSK_SOCKET,
    DatagramIndication: *mut WSK_DATAGRAM_INDICATION,
) -> NTSTATUS {
    guard_status("WskRelease", || match handle::get_as(Socket, Category::Datagram) {
        // SAFETY: `release` checks the pointer against the retained set before using it.
        Ok(_) => unsafe { datagram_events::release(DatagramIndication) },
        Err(e) => e,
    })
}

/// The buffers of a `WSK_BUF_LIST`, validated (an empty list, a defective `WSK_BUF` or a
/// list longer than [`MAX_LIST`]: `STATUS_INVALID_PARAMETER`).
///
/// # Safety
/// `list` is NULL or points to a list whose elements and MDLs are valid for the call.
unsafe fn buffer_list(mut list: *const WSK_BUF_LIST) -> Result<Vec<Box<dyn SendBuffer>>, NTSTATUS> {
    if list.is_null() {
        return Err(STATUS_INVALID_PARAMETER);
    }
    let mut out: Vec<Box<dyn SendBuffer>> = Vec::new();
    while !list.is_null() {
        if out.len() == MAX_LIST {
            return Err(STATUS_INVALID_PARAMETER);
        }
        // SAFETY: per the caller.
        unsafe {
            out.push(Box::new(Regions::of(std::ptr::addr_of!((*list).Buffer))?));
            list = (*list).Next;
        }
    }
    Ok(out)
}

/// `WskSendMessages`: each buffer of the list as one datagram, all to one destination with
/// one control buffer; `Information` = total bytes sent.
pub unsafe extern "C" fn send_messages(
    Socket: *mut WSK_SOCKET,
    BufferList: *mut WSK_BUF_LIST,
    Flags: u32,
    RemoteAddress: *mut SOCKADDR,
    ControlInfoLength: u32,
    ControlInfo: *mut CMSGHDR,
    Irp: *mut IRP,
) -> NTSTATUS {
    // SAFETY: the caller passes WskSendMessages's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard_status("WskSendMessages", || unsafe {
        with_datagram(Irp, Socket, |irp, d| {
            let args = send_args(Flags, RemoteAddress, ControlInfoLength, ControlInfo)
                .and_then(|(remote, control)| Ok((buffer_list(BufferList)?, remote, control)));
            match args {
                Ok((list, remote, control)) => {
                    start_send(irp, |done| d.send_messages_then(list, remote, control, done))
                }
                Err(e) => irp.fail(e),
            }
        })
    })
}
