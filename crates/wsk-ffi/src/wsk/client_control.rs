//! `WskControlClient`: the client control codes of the reference §3.5.
//!
//! | code | what libwsk does |
//! |---|---|
//! | `WSK_TRANSPORT_LIST_QUERY` | the four transports (TCP and UDP over AF_INET and AF_INET6) into `OutputBuffer`; `*OutputSizeReturned` = the size needed; a NULL or short buffer: `STATUS_BUFFER_OVERFLOW` with that size |
//! | `WSK_TRANSPORT_LIST_CHANGE` | IRP required (NULL: `STATUS_INVALID_PARAMETER`, nothing completed); pending until `WskDeregister` or `IoCancelIrp` completes it with `STATUS_CANCELLED` — the list never changes |
//! | `WSK_CACHE_SD` | in: a `PSECURITY_DESCRIPTOR` variable; out: a variable that receives the cached copy ([`security`]) |
//! | `WSK_RELEASE_SD` | in: a variable holding a cached descriptor; releases one reference |
//! | `WSK_SET_STATIC_EVENT_CALLBACKS` | `WSK_EVENT_CALLBACK_CONTROL` in; refused (`STATUS_INVALID_DEVICE_STATE`) once the registration created a socket |
//! | `WSK_TDI_DEVICENAME_MAPPING`, `WSK_TDI_BEHAVIOR` | accepted, no effect (no TDI on Linux) |
//!
//! The codes documented with a NULL IRP also accept one, and complete it with their status.

use std::ffi::c_void;
use std::mem::size_of;

use wsk_core::consts::client_control::*;

use crate::abi::{GUID, IRP, NTSTATUS, PVOID, SIZE_T, WSK_TRANSPORT};
use crate::guard::guard_status;
use crate::status::{
    STATUS_BUFFER_OVERFLOW, STATUS_BUFFER_TOO_SMALL, STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED, STATUS_SUCCESS,
};
use crate::wsk::irp::{Inline, Irp as IrpRef};
use crate::wsk::provider::{event_control, finish};
use crate::wsk::registration::client;
use crate::wsk::{security, status_of};

/// The provider's transports (`WSK_TRANSPORT_LIST_QUERY`) as `WSK_TRANSPORT`s, with a zero
/// `ProviderId`.
fn transports(npi: &wsk_api::ProviderNpi) -> Vec<WSK_TRANSPORT> {
    npi.transports()
        .into_iter()
        .map(|t| WSK_TRANSPORT {
            Version: t.version,
            SocketType: t.socket_type,
            Protocol: t.protocol,
            AddressFamily: t.family.to_windows(),
            ProviderId: GUID::default(),
        })
        .collect()
}

/// Reads the `PSECURITY_DESCRIPTOR` variable an input buffer points to.
///
/// # Safety
/// `buffer` is NULL or points to `size` readable bytes.
unsafe fn descriptor_in(size: SIZE_T, buffer: PVOID) -> Result<*mut c_void, NTSTATUS> {
    if buffer.is_null() || size < size_of::<PVOID>() {
        return Err(STATUS_INVALID_PARAMETER);
    }
    // SAFETY: per the caller.
    Ok(unsafe { std::ptr::read_unaligned(buffer as *const PVOID) })
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
    // is checked (NULL, sizes, the registration and descriptor tables) before it is used.
    guard_status("WskControlClient", || unsafe {
        let irp = match IrpRef::check_optional(Irp) {
            Ok(irp) => irp,
            Err(e) => return e,
        };
        if ControlCode == WSK_TRANSPORT_LIST_CHANGE && irp.is_none() {
            // The IRP is required: nothing to complete.
            return STATUS_INVALID_PARAMETER;
        }
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
                let list = match client.with_npi(transports) {
                    Ok(list) => list,
                    Err(e) => return finish(irp, e, 0),
                };
                let needed = std::mem::size_of_val(list.as_slice());
                *OutputSizeReturned = needed;
                if OutputBuffer.is_null() || OutputSize < needed {
                    return finish(irp, STATUS_BUFFER_OVERFLOW, 0);
                }
                std::ptr::copy_nonoverlapping(list.as_ptr() as *const u8, OutputBuffer as *mut u8, needed);
                finish(irp, STATUS_SUCCESS, needed)
            }
            WSK_TRANSPORT_LIST_CHANGE => {
                let Some(irp) = irp else { unreachable!("checked above") };
                let op = match client.with_npi(|npi| npi.transport_list_change()) {
                    Ok(op) => op,
                    Err(e) => return irp.fail(e),
                };
                let inline = Inline::new();
                let (call, done) = irp.begin(&inline);
                let canceller = op.canceller();
                op.then(move |r| done.finish(status_of(&r), 0));
                call.returned(canceller)
            }
            WSK_CACHE_SD => {
                let sd = match descriptor_in(InputSize, InputBuffer) {
                    Ok(sd) => sd,
                    Err(e) => return finish(irp, e, 0),
                };
                if OutputBuffer.is_null() {
                    return finish(irp, STATUS_INVALID_PARAMETER, 0);
                }
                if OutputSize < size_of::<PVOID>() {
                    return finish(irp, STATUS_BUFFER_TOO_SMALL, 0);
                }
                match security::cache(sd) {
                    Ok(cached) => {
                        std::ptr::write_unaligned(OutputBuffer as *mut PVOID, cached);
                        if !OutputSizeReturned.is_null() {
                            *OutputSizeReturned = size_of::<PVOID>();
                        }
                        finish(irp, STATUS_SUCCESS, size_of::<PVOID>())
                    }
                    Err(e) => finish(irp, e, 0),
                }
            }
            WSK_RELEASE_SD => {
                let status = match descriptor_in(InputSize, InputBuffer).and_then(|sd| security::release(sd)) {
                    Ok(()) => STATUS_SUCCESS,
                    Err(e) => e,
                };
                finish(irp, status, 0)
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
            _ => finish(irp, STATUS_NOT_SUPPORTED, 0),
        }
    })
}
