//! Name resolution slots of `WSK_PROVIDER_DISPATCH`: WskGetAddressInfo,
//! WskFreeAddressInfo, WskGetNameInfo — over the Rust provider's resolver
//! ([`wsk_api::ProviderNpi::get_address_info`]), which runs the host's `getaddrinfo` /
//! `getnameinfo` on resolver threads: these calls return `STATUS_PENDING` and complete the
//! IRP from a resolver thread (or inline, for an error found at once).
//!
//! A result list is one provider allocation in Windows layout: the `ADDRINFOEXW`
//! elements, then their SOCKADDRs (Windows family numbers, `AF_INET6` = 23), then the
//! canonical name in UTF-16. libwsk records every list it hands out; WskFreeAddressInfo
//! frees exactly those (by the head pointer it returned), and logs and ignores any other
//! pointer. Lists never freed appear in `wsk run`'s leak report.

use std::collections::HashMap;
use std::mem::{align_of, size_of};
use std::ptr;
use std::sync::{Arc, Mutex};

use wsk_api::{AddrHints, AddrInfo, Canceller, NameInfo, NameInfoFlags, NtStatus};
use wsk_core::addr::{self, AddressFamily};
use wsk_core::resolve::{ni, ns};

use crate::abi::{ADDRINFOEXW, GUID, IRP, NTSTATUS, PVOID, SOCKADDR, UNICODE_STRING, WCHAR};
use crate::guard::{guard, guard_status};
use crate::kernel::sync::lock;
use crate::status::{STATUS_BUFFER_TOO_SMALL, STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED, STATUS_SUCCESS};
use crate::wsk::irp::{Inline, IrpDone};
use crate::wsk::registration::client;
use crate::wsk::with_irp;

/// Result lists handed out and not yet freed: head address → the allocation.
static LISTS: Mutex<Option<HashMap<usize, Box<[u64]>>>> = Mutex::new(None);

/// Result lists WskGetAddressInfo returned that were never freed (for the leak report).
pub fn outstanding_lists() -> usize {
    lock(&LISTS).as_ref().map_or(0, HashMap::len)
}

/// Reads an input `UNICODE_STRING` (NULL: `None`) as UTF-8.
///
/// # Errors
/// `STATUS_INVALID_PARAMETER` for an odd `Length`, a `Length` over `MaximumLength`, a NULL
/// `Buffer` with characters, text that is not UTF-16, or a NUL character inside.
///
/// # Safety
/// `s` is NULL or points to a `UNICODE_STRING` whose `Buffer` holds `Length` bytes.
unsafe fn read_name(s: *const UNICODE_STRING) -> Result<Option<String>, NTSTATUS> {
    if s.is_null() {
        return Ok(None);
    }
    // SAFETY: per the caller.
    let us = unsafe { ptr::read_unaligned(s) };
    let length = us.Length as usize;
    if length & 1 != 0 || length > us.MaximumLength as usize || (length > 0 && us.Buffer.is_null()) {
        return Err(STATUS_INVALID_PARAMETER);
    }
    let units: Vec<u16> = (0..length / 2)
        // SAFETY: per the caller, Buffer holds Length bytes (read unaligned: client memory).
        .map(|i| unsafe { ptr::read_unaligned(us.Buffer.add(i)) })
        .collect();
    let text = String::from_utf16(&units).map_err(|_| STATUS_INVALID_PARAMETER)?;
    if text.contains('\0') {
        return Err(STATUS_INVALID_PARAMETER);
    }
    Ok(Some(text))
}

/// Reads the `Hints` `ADDRINFOEXW`: only `ai_flags`, `ai_family`, `ai_socktype` and
/// `ai_protocol` may be set (as Windows requires); NULL is "no hints".
///
/// # Safety
/// `h` is NULL or points to an `ADDRINFOEXW`.
unsafe fn read_hints(h: *const ADDRINFOEXW) -> Result<AddrHints, NTSTATUS> {
    if h.is_null() {
        return Ok(AddrHints::default());
    }
    // SAFETY: per the caller.
    let h = unsafe { ptr::read_unaligned(h) };
    if h.ai_addrlen != 0
        || !h.ai_canonname.is_null()
        || !h.ai_addr.is_null()
        || !h.ai_blob.is_null()
        || h.ai_bloblen != 0
        || !h.ai_provider.is_null()
        || !h.ai_next.is_null()
    {
        return Err(STATUS_INVALID_PARAMETER);
    }
    AddrHints::from_windows(h.ai_flags, h.ai_family, h.ai_socktype, h.ai_protocol).map_err(|e| e.0)
}

/// The completion side of a started call, shared by the lookup's completion routine and
/// the call itself: the routine is attached before the lookup starts (so the lookup never
/// completes inline on the caller's thread and the call returns `STATUS_PENDING`, as on
/// Windows); if the lookup cannot start, the call completes the IRP.
type DoneSlot = Arc<Mutex<Option<IrpDone>>>;

fn shared(done: IrpDone) -> (DoneSlot, DoneSlot) {
    let slot = Arc::new(Mutex::new(Some(done)));
    (Arc::clone(&slot), slot)
}

/// The canceller of a started lookup; for one that could not start (no captured NPI: the
/// registration is going away), completes the IRP with that status.
fn started_or_fail(started: Result<Option<Canceller>, NTSTATUS>, slot: &DoneSlot) -> Option<Canceller> {
    match started {
        Ok(canceller) => canceller,
        Err(e) => {
            if let Some(done) = lock(slot).take() {
                done.finish(e, 0);
            }
            None
        }
    }
}

/// Rounds `n` up to a multiple of 8.
fn align8(n: usize) -> usize {
    (n + 7) & !7
}

/// Builds the `ADDRINFOEXW` list of `results` in one allocation and records it; returns its head.
fn build_list(results: &[AddrInfo]) -> *mut ADDRINFOEXW {
    const _: () = assert!(align_of::<ADDRINFOEXW>() <= 8);
    let n = results.len();
    let entries = n * size_of::<ADDRINFOEXW>();
    let slot = align8(addr::SOCKADDR_IN6_LEN);
    let canonical: Option<Vec<u16>> =
        results.first().and_then(|r| r.canonical_name.as_ref()).map(|c| c.encode_utf16().chain([0]).collect());
    let total = entries + n * slot + canonical.as_ref().map_or(0, |c| c.len() * 2);
    let mut block = vec![0u64; align8(total) / 8].into_boxed_slice();
    let base = block.as_mut_ptr() as *mut u8;
    let name_at = entries + n * slot;
    // SAFETY: every write below lands inside `block` (offsets computed from `total`), at
    // 8-aligned element offsets for the ADDRINFOEXW entries, byte copies elsewhere.
    unsafe {
        let canonname = match &canonical {
            Some(units) => {
                ptr::copy_nonoverlapping(units.as_ptr() as *const u8, base.add(name_at), units.len() * 2);
                base.add(name_at) as *mut WCHAR
            }
            None => ptr::null_mut(),
        };
        for (i, r) in results.iter().enumerate() {
            let entry = base.add(i * size_of::<ADDRINFOEXW>()) as *mut ADDRINFOEXW;
            let sockaddr = base.add(entries + i * slot);
            let (bytes, len) = addr::to_bytes(&r.addr);
            ptr::copy_nonoverlapping(bytes.as_ptr(), sockaddr, len);
            let next = if i + 1 < n { entry.add(1) } else { ptr::null_mut() };
            entry.write(ADDRINFOEXW {
                ai_flags: 0,
                ai_family: i32::from(AddressFamily::of(&r.addr).to_windows()),
                ai_socktype: r.socket_type,
                ai_protocol: r.protocol,
                ai_addrlen: len,
                ai_canonname: if i == 0 { canonname } else { ptr::null_mut() },
                ai_addr: sockaddr as *mut SOCKADDR,
                ai_blob: ptr::null_mut(),
                ai_bloblen: 0,
                ai_provider: ptr::null_mut(),
                ai_next: next,
            });
        }
    }
    let head = base as *mut ADDRINFOEXW;
    lock(&LISTS).get_or_insert_with(HashMap::new).insert(head as usize, block);
    head
}

/// `WskGetAddressInfo`: `NameSpace` NS_ALL or NS_DNS (both mean the host resolver),
/// `Provider` NULL; on success `*Result` is a list to free with WskFreeAddressInfo and
/// the IRP completes with `STATUS_SUCCESS`, `Information` 0. An unresolvable name
/// completes the IRP with `STATUS_NOT_FOUND` (`*Result` untouched).
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
    let _ = (OwningProcess, OwningThread);
    // SAFETY: the caller passes WskGetAddressInfo's arguments under the WSK contract; each
    // pointer is checked (NULL, the registration table, string and hint rules) before use,
    // and `Result` stays valid until the IRP completes.
    guard_status("WskGetAddressInfo", || unsafe {
        with_irp(Irp, |irp| {
            let client = match client(Client).and_then(|c| c.check_ready().map(|()| c)) {
                Ok(c) => c,
                Err(e) => return irp.fail(e),
            };
            if Result.is_null() {
                return irp.fail(STATUS_INVALID_PARAMETER);
            }
            if NameSpace != ns::NS_ALL && NameSpace != ns::NS_DNS {
                return irp.fail(STATUS_NOT_SUPPORTED);
            }
            if !Provider.is_null() {
                return irp.fail(STATUS_NOT_SUPPORTED);
            }
            let (node, service, hints) = match (read_name(NodeName), read_name(ServiceName), read_hints(Hints)) {
                (Ok(n), Ok(s), Ok(h)) => (n, s, h),
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return irp.fail(e),
            };
            let result = Result as usize;
            let inline = Inline::new();
            let (call, done) = irp.begin(&inline);
            let (slot, routine_slot) = shared(done);
            let started = client.with_npi(|npi| {
                npi.get_address_info_then(node.as_deref(), service.as_deref(), &hints, move |r| {
                    let Some(done) = lock(&routine_slot).take() else { return };
                    match r {
                        Ok(list) => {
                            let head = build_list(&list);
                            // (In the enclosing unsafe block.) The client keeps *Result valid until completion.
                            ptr::write_unaligned(result as *mut *mut ADDRINFOEXW, head);
                            done.finish(STATUS_SUCCESS, 0);
                        }
                        Err(e) => done.finish(e.0, 0),
                    }
                })
            });
            call.returned(started_or_fail(started, &slot))
        })
    })
}

/// `WskFreeAddressInfo`: frees a list WskGetAddressInfo returned (its head). NULL does
/// nothing; any other pointer (an element inside a list, a list freed already, foreign
/// memory) is logged and left alone.
pub unsafe extern "C" fn free_address_info(Client: PVOID, AddrInfo: *mut ADDRINFOEXW) {
    guard("WskFreeAddressInfo", (), || {
        let _ = Client;
        if AddrInfo.is_null() {
            return;
        }
        let freed = lock(&LISTS).as_mut().and_then(|lists| lists.remove(&(AddrInfo as usize)));
        if freed.is_none() {
            tracing::error!("WskFreeAddressInfo of {:p}: not a list WskGetAddressInfo returned; ignored", AddrInfo);
        }
    })
}

/// An output `UNICODE_STRING` of WskGetNameInfo: where the text goes and how much fits.
#[derive(Clone, Copy)]
struct OutString(usize);

impl OutString {
    /// Checks an output string (NULL: not wanted).
    ///
    /// # Safety
    /// `s` is NULL or points to a `UNICODE_STRING` valid until the IRP completes.
    unsafe fn check(s: *mut UNICODE_STRING) -> Result<Option<OutString>, NTSTATUS> {
        if s.is_null() {
            return Ok(None);
        }
        // SAFETY: per the caller.
        let us = unsafe { ptr::read_unaligned(s) };
        if us.Buffer.is_null() && us.MaximumLength > 0 {
            return Err(STATUS_INVALID_PARAMETER);
        }
        Ok(Some(OutString(s as usize)))
    }

    /// Whether `units` UTF-16 units fit (`Length` counts bytes in a `USHORT`).
    ///
    /// # Safety
    /// As for [`OutString::check`], before the IRP completed.
    unsafe fn fits(self, units: &[u16]) -> bool {
        // SAFETY: per the caller.
        let us = unsafe { ptr::read_unaligned(self.0 as *const UNICODE_STRING) };
        units.len() * 2 <= us.MaximumLength as usize
    }

    /// Writes `units` and sets `Length`; a NUL follows when there is room for it.
    ///
    /// # Safety
    /// As for [`OutString::fits`], and the text fits.
    unsafe fn write(self, units: &[u16]) {
        let s = self.0 as *mut UNICODE_STRING;
        // SAFETY: per the caller: Buffer holds MaximumLength bytes, which the text fits.
        unsafe {
            let mut us = ptr::read_unaligned(s);
            if !units.is_empty() {
                ptr::copy_nonoverlapping(units.as_ptr() as *const u8, us.Buffer as *mut u8, units.len() * 2);
            }
            if (units.len() + 1) * 2 <= us.MaximumLength as usize {
                ptr::write_unaligned(us.Buffer.add(units.len()), 0);
            }
            us.Length = (units.len() * 2) as u16;
            ptr::write_unaligned(s, us);
        }
    }
}

/// Fills the output strings of WskGetNameInfo: `STATUS_BUFFER_TOO_SMALL` (nothing written)
/// if either text does not fit.
///
/// # Safety
/// The strings are valid (the IRP has not completed).
unsafe fn fill(node: Option<OutString>, service: Option<OutString>, info: &NameInfo) -> NTSTATUS {
    let host: Vec<u16> = info.host.encode_utf16().collect();
    let serv: Vec<u16> = info.service.encode_utf16().collect();
    // SAFETY: per the caller.
    unsafe {
        if node.is_some_and(|n| !n.fits(&host)) || service.is_some_and(|s| !s.fits(&serv)) {
            return STATUS_BUFFER_TOO_SMALL;
        }
        if let Some(n) = node {
            n.write(&host);
        }
        if let Some(s) = service {
            s.write(&serv);
        }
    }
    STATUS_SUCCESS
}

/// `WskGetNameInfo`: the host and service names of `SockAddr` into the client's
/// `NodeName` / `ServiceName` buffers (UTF-16, `Length` set; at least one of the two).
/// A string not asked for is not looked up (its part is numeric internally). A buffer
/// too small for its text completes the IRP with `STATUS_BUFFER_TOO_SMALL` and nothing
/// written.
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
    let _ = (OwningProcess, OwningThread);
    // SAFETY: the caller passes WskGetNameInfo's arguments under the WSK contract; each
    // pointer is checked before use, and the output strings stay valid until completion.
    guard_status("WskGetNameInfo", || unsafe {
        with_irp(Irp, |irp| {
            let client = match client(Client).and_then(|c| c.check_ready().map(|()| c)) {
                Ok(c) => c,
                Err(e) => return irp.fail(e),
            };
            // The family is read only from a SOCKADDR long enough to have one.
            if SockAddr.is_null() || (SockAddrLength as usize) < std::mem::size_of::<u16>() {
                return irp.fail(STATUS_INVALID_PARAMETER);
            }
            let family = match AddressFamily::from_windows(ptr::read_unaligned(SockAddr as *const u16)) {
                Ok(f) => f,
                Err(_) => return irp.fail(STATUS_NOT_SUPPORTED),
            };
            if (SockAddrLength as usize) < family.sockaddr_len() {
                return irp.fail(STATUS_INVALID_PARAMETER);
            }
            let bytes = std::slice::from_raw_parts(SockAddr as *const u8, family.sockaddr_len());
            let address = match addr::decode(bytes) {
                Ok(a) => a,
                Err(e) => return irp.fail(e.0),
            };
            let mut flags = NameInfoFlags(Flags);
            if let Err(e) = flags.validate() {
                return irp.fail(e.0);
            }
            let (node, service) = match (OutString::check(NodeName), OutString::check(ServiceName)) {
                (Ok(n), Ok(s)) => (n, s),
                (Err(e), _) | (_, Err(e)) => return irp.fail(e),
            };
            if node.is_none() && service.is_none() {
                return irp.fail(STATUS_INVALID_PARAMETER);
            }
            // What is not asked for is not looked up.
            if node.is_none() {
                flags = flags | ni::NI_NUMERICHOST;
            }
            if service.is_none() {
                flags = flags | ni::NI_NUMERICSERV;
            }
            let inline = Inline::new();
            let (call, done) = irp.begin(&inline);
            let (slot, routine_slot) = shared(done);
            let started = client.with_npi(|npi| {
                npi.get_name_info_then(address, flags, move |r: Result<NameInfo, NtStatus>| {
                    let Some(done) = lock(&routine_slot).take() else { return };
                    match r {
                        // (In the enclosing unsafe block.) The strings stay valid until completion.
                        Ok(info) => done.finish(fill(node, service, &info), 0),
                        Err(e) => done.finish(e.0, 0),
                    }
                })
            });
            call.returned(started_or_fail(started, &slot))
        })
    })
}
