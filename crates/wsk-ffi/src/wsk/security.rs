//! Cached security descriptors: `WSK_CACHE_SD` / `WSK_RELEASE_SD` (WskControlClient) and
//! the registry `SO_WSK_SECURITY` checks descriptors against.
//!
//! `WSK_CACHE_SD` copies the client's `SECURITY_DESCRIPTOR` (absolute or self-relative)
//! into a provider-owned **self-relative** copy and returns its address, the "cached"
//! `PSECURITY_DESCRIPTOR`; the client may free its own descriptor afterwards. Caching the
//! same contents again returns the same copy with one more reference, as Windows' cache
//! shares identical descriptors; each reference is released by one `WSK_RELEASE_SD`, and
//! the copy is freed with the last. Closing a socket does not release a descriptor.
//!
//! Descriptors are **not enforced**: Linux sockets have no Windows access checks, so a
//! cached descriptor is kept, validated and handed back, and has no other effect.
//! References never released appear in `wsk run`'s leak report.

use std::collections::HashMap;
use std::ffi::c_void;
use std::ptr;
use std::sync::Mutex;

use crate::abi::NTSTATUS;
use crate::kernel::sync::lock;
use crate::status::STATUS_INVALID_PARAMETER;

/// `SECURITY_DESCRIPTOR_REVISION`.
const REVISION: u8 = 1;
/// `SE_DACL_PRESENT`.
const SE_DACL_PRESENT: u16 = 0x0004;
/// `SE_SACL_PRESENT`.
const SE_SACL_PRESENT: u16 = 0x0010;
/// `SE_SELF_RELATIVE`.
const SE_SELF_RELATIVE: u16 = 0x8000;
/// `sizeof(SECURITY_DESCRIPTOR_RELATIVE)`: Revision, Sbz1, Control, then four ULONG offsets.
const RELATIVE_HEADER: usize = 20;
/// Windows' largest `SubAuthorityCount` (`SID_MAX_SUB_AUTHORITIES`).
const SID_MAX_SUB_AUTHORITIES: u8 = 15;
/// `sizeof(ACL)`.
const ACL_HEADER: usize = 8;

struct Cached {
    /// The self-relative copy (8-aligned storage).
    storage: Box<[u64]>,
    len: usize,
    refs: usize,
}

impl Cached {
    fn bytes(&self) -> &[u8] {
        // SAFETY: `storage` holds at least `len` initialized bytes.
        unsafe { std::slice::from_raw_parts(self.storage.as_ptr() as *const u8, self.len) }
    }
}

/// Cached copies by address.
static CACHE: Mutex<Option<HashMap<usize, Cached>>> = Mutex::new(None);

/// The length of the SID at `p`: 8 + 4 × SubAuthorityCount.
///
/// # Safety
/// `p` points to a SID.
unsafe fn sid_len(p: *const u8) -> Result<usize, NTSTATUS> {
    // SAFETY: per the caller; the first two bytes are Revision and SubAuthorityCount.
    let (revision, count) = unsafe { (p.read(), p.add(1).read()) };
    if revision != 1 || count > SID_MAX_SUB_AUTHORITIES {
        return Err(STATUS_INVALID_PARAMETER);
    }
    Ok(8 + 4 * count as usize)
}

/// The length of the ACL at `p`: its `AclSize`.
///
/// # Safety
/// `p` points to an ACL.
unsafe fn acl_len(p: *const u8) -> Result<usize, NTSTATUS> {
    // SAFETY: per the caller; AclRevision, Sbz1, then the USHORT AclSize.
    let (revision, size) = unsafe { (p.read(), ptr::read_unaligned(p.add(2) as *const u16) as usize) };
    if !(2..=4).contains(&revision) || size < ACL_HEADER {
        return Err(STATUS_INVALID_PARAMETER);
    }
    Ok(size)
}

/// The components of a descriptor: (owner, group, SACL, DACL) as (address, length).
type Parts = [Option<(*const u8, usize)>; 4];

/// Reads a descriptor's components, wherever its format keeps them.
///
/// # Safety
/// `sd` points to a `SECURITY_DESCRIPTOR` (absolute) or `SECURITY_DESCRIPTOR_RELATIVE`
/// whose components are readable.
unsafe fn parts(sd: *const u8) -> Result<(u16, Parts), NTSTATUS> {
    // SAFETY: per the caller: the header, then the components it names.
    unsafe {
        if sd.read() != REVISION {
            return Err(STATUS_INVALID_PARAMETER);
        }
        let control = ptr::read_unaligned(sd.add(2) as *const u16);
        // The component pointers: offsets in a self-relative descriptor (0 = absent),
        // pointers (8-byte aligned at 8) in an absolute one.
        let at = |i: usize| -> *const u8 {
            if control & SE_SELF_RELATIVE != 0 {
                let offset = ptr::read_unaligned(sd.add(4 + 4 * i) as *const u32) as usize;
                if offset == 0 {
                    ptr::null()
                } else {
                    sd.add(offset)
                }
            } else {
                ptr::read_unaligned(sd.add(8 + 8 * i) as *const *const u8)
            }
        };
        let mut out: Parts = [None; 4];
        for (i, slot) in out.iter_mut().enumerate() {
            let p = at(i);
            let present = match i {
                2 => control & SE_SACL_PRESENT != 0,
                3 => control & SE_DACL_PRESENT != 0,
                _ => true,
            };
            if p.is_null() || !present {
                continue;
            }
            let len = if i < 2 { sid_len(p)? } else { acl_len(p)? };
            *slot = Some((p, len));
        }
        Ok((control, out))
    }
}

/// Copies a descriptor into a self-relative one: the header, then owner, group, SACL and
/// DACL, each at a 4-aligned offset.
///
/// # Safety
/// As for [`parts`].
unsafe fn self_relative(sd: *const u8) -> Result<Vec<u8>, NTSTATUS> {
    // SAFETY: per the caller.
    let (control, parts) = unsafe { parts(sd)? };
    let mut out = vec![0u8; RELATIVE_HEADER];
    out[0] = REVISION;
    out[2..4].copy_from_slice(&(control | SE_SELF_RELATIVE).to_ne_bytes());
    for (i, part) in parts.iter().enumerate() {
        let Some((p, len)) = *part else { continue };
        while out.len() & 3 != 0 {
            out.push(0);
        }
        let offset = out.len() as u32;
        out[4 + 4 * i..8 + 4 * i].copy_from_slice(&offset.to_ne_bytes());
        // SAFETY: per the caller, the component holds `len` readable bytes.
        out.extend_from_slice(unsafe { std::slice::from_raw_parts(p, len) });
    }
    Ok(out)
}

/// `WSK_CACHE_SD`: caches a copy of the descriptor at `sd`; returns the cached
/// `PSECURITY_DESCRIPTOR` (one reference).
///
/// # Errors
/// `STATUS_INVALID_PARAMETER` for NULL or a malformed descriptor (revision other than 1,
/// a SID or ACL header out of range).
///
/// # Safety
/// `sd` is NULL or points to a security descriptor whose components are readable.
pub unsafe fn cache(sd: *const c_void) -> Result<*mut c_void, NTSTATUS> {
    if sd.is_null() {
        return Err(STATUS_INVALID_PARAMETER);
    }
    // SAFETY: per the caller.
    let copy = unsafe { self_relative(sd as *const u8)? };
    let mut cache = lock(&CACHE);
    let cache = cache.get_or_insert_with(HashMap::new);
    if let Some((&addr, entry)) = cache.iter_mut().find(|(_, c)| c.bytes() == copy.as_slice()) {
        entry.refs += 1;
        return Ok(addr as *mut c_void);
    }
    let mut storage = vec![0u64; copy.len().div_ceil(8)].into_boxed_slice();
    // SAFETY: `storage` holds at least `copy.len()` bytes.
    unsafe { ptr::copy_nonoverlapping(copy.as_ptr(), storage.as_mut_ptr() as *mut u8, copy.len()) };
    let addr = storage.as_ptr() as usize;
    cache.insert(addr, Cached { storage, len: copy.len(), refs: 1 });
    Ok(addr as *mut c_void)
}

/// Whether `sd` is a cached descriptor (one `WSK_CACHE_SD` returned and not all of whose
/// references were released): what `SO_WSK_SECURITY` accepts.
pub fn is_cached(sd: *const c_void) -> bool {
    lock(&CACHE).as_ref().is_some_and(|c| c.contains_key(&(sd as usize)))
}

/// One more reference to a cached descriptor (`SO_WSK_SECURITY` get hands one out, which
/// the client releases with `WSK_RELEASE_SD`).
///
/// # Errors
/// `STATUS_INVALID_PARAMETER` if `sd` is not a cached descriptor.
pub fn add_ref(sd: *const c_void) -> Result<(), NTSTATUS> {
    let mut cache = lock(&CACHE);
    let entry = cache.as_mut().and_then(|c| c.get_mut(&(sd as usize))).ok_or(STATUS_INVALID_PARAMETER)?;
    entry.refs += 1;
    Ok(())
}

/// `WSK_RELEASE_SD`: releases one reference; the copy is freed with the last.
///
/// # Errors
/// `STATUS_INVALID_PARAMETER` (logged) if `sd` is not a cached descriptor — NULL, the
/// client's own descriptor, or one already released; nothing is freed.
pub fn release(sd: *const c_void) -> Result<(), NTSTATUS> {
    let mut guard = lock(&CACHE);
    let cache = guard.get_or_insert_with(HashMap::new);
    let Some(entry) = cache.get_mut(&(sd as usize)) else {
        drop(guard);
        tracing::error!("WSK_RELEASE_SD of {sd:p}: not a descriptor WSK_CACHE_SD returned (or released already)");
        return Err(STATUS_INVALID_PARAMETER);
    };
    entry.refs -= 1;
    if entry.refs == 0 {
        cache.remove(&(sd as usize));
    }
    Ok(())
}

/// `SO_WSK_SECURITY` set (before bind): the socket takes the cached descriptor `sd`,
/// holding a reference of its own until it closes (or another replaces it).
///
/// # Errors
/// `STATUS_INVALID_PARAMETER` when `sd` is not a cached descriptor.
pub fn attach(slot: &std::sync::Mutex<Option<usize>>, sd: *const c_void) -> Result<(), NTSTATUS> {
    add_ref(sd)?;
    let old = crate::kernel::sync::lock(slot).replace(sd as usize);
    if let Some(old) = old {
        let _ = release(old as *const c_void);
    }
    Ok(())
}

/// `SO_WSK_SECURITY` get: the socket's descriptor (NULL if none) with one more reference
/// for the client, who releases it with `WSK_RELEASE_SD`.
pub fn handed_out(slot: &std::sync::Mutex<Option<usize>>) -> *mut c_void {
    let held = *crate::kernel::sync::lock(slot);
    match held {
        Some(sd) if add_ref(sd as *const c_void).is_ok() => sd as *mut c_void,
        _ => ptr::null_mut(),
    }
}

/// References to cached descriptors not released (for the leak report).
pub fn outstanding() -> usize {
    lock(&CACHE).as_ref().map_or(0, |c| c.values().map(|e| e.refs).sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An absolute descriptor with an owner SID (S-1-5-18) and a DACL of 8 bytes (no ACEs).
    #[repr(C, align(8))]
    struct Absolute {
        revision: u8,
        sbz1: u8,
        control: u16,
        pad: u32,
        owner: *const u8,
        group: *const u8,
        sacl: *const u8,
        dacl: *const u8,
    }

    #[test]
    fn absolute_and_self_relative_copies_share_one_cached_descriptor() {
        let sid: [u8; 12] = [1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0];
        let acl: [u8; 8] = [2, 0, 8, 0, 0, 0, 0, 0];
        let abs = Absolute {
            revision: 1,
            sbz1: 0,
            control: SE_DACL_PRESENT,
            pad: 0,
            owner: sid.as_ptr(),
            group: ptr::null(),
            sacl: ptr::null(),
            dacl: acl.as_ptr(),
        };
        let before = outstanding();
        // SAFETY: a well-formed absolute descriptor, alive for the calls.
        let a = unsafe { cache(&abs as *const Absolute as *const c_void) }.unwrap();
        assert!(is_cached(a));
        // The cached copy is self-relative: header, owner at 20, DACL at 32.
        // SAFETY: the copy holds 40 bytes.
        let copy = unsafe { std::slice::from_raw_parts(a as *const u8, 40) }.to_vec();
        assert_eq!(u16::from_ne_bytes([copy[2], copy[3]]), SE_DACL_PRESENT | SE_SELF_RELATIVE);
        assert_eq!(&copy[20..32], &sid);
        assert_eq!(&copy[32..40], &acl);
        // The same contents, self-relative this time: the same cached descriptor.
        // SAFETY: a well-formed self-relative descriptor.
        let b = unsafe { cache(copy.as_ptr() as *const c_void) }.unwrap();
        assert_eq!(a, b);
        assert_eq!(outstanding(), before + 2);
        release(a).unwrap();
        assert!(is_cached(a));
        release(b).unwrap();
        assert!(!is_cached(a));
        assert_eq!(release(a), Err(STATUS_INVALID_PARAMETER));
        // Malformed: revision 2.
        let bad = [2u8; 40];
        // SAFETY: 40 readable bytes.
        assert_eq!(unsafe { cache(bad.as_ptr() as *const c_void) }, Err(STATUS_INVALID_PARAMETER));
    }
}
