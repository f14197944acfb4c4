//! MDLs: memory descriptor lists.
//!
//! In a process, "system address" and "virtual address" are the same thing and memory is
//! always resident, so the Mm routines only keep the MDL's bookkeeping right (flags,
//! `MappedSystemVa`) and mapping returns `StartVa + ByteOffset`. The page-frame array after
//! the MDL header is filled with the page numbers of the virtual addresses (`va >> 12`)
//! by `MmBuildMdlForNonPagedPool` and `MmProbeAndLockPages`, so clients that look at it see
//! plausible, distinct values.
//!
//! MDLs from `IoAllocateMdl` are recorded in a registry: `IoFreeMdl` of anything else is
//! logged and ignored; the count of live MDLs is a leak report.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr::null_mut;
use std::sync::LazyLock;

use crate::abi::{
    BOOLEAN, IRP, KPROCESSOR_MODE, MDL, MDL_MAPPED_TO_SYSTEM_VA, MDL_PAGES_LOCKED, MDL_PARTIAL,
    MDL_PARTIAL_HAS_BEEN_MAPPED, MDL_SOURCE_IS_NONPAGED_POOL, MDL_WRITE_OPERATION, PAGE_SIZE, PFN_NUMBER, PVOID, ULONG,
};
use crate::guard::guard;

use super::sync::Registry;

const PAGE_SHIFT: u32 = 12;
const MDL_ALIGN: usize = 16;
/// The largest length `IoAllocateMdl` accepts (Windows 7 and later: 4 GiB - PAGE_SIZE).
const MAX_MDL_LENGTH: u64 = (1u64 << 32) - PAGE_SIZE as u64;

/// MDLs from `IoAllocateMdl` not freed yet: address → allocation size.
static MDLS: LazyLock<Registry<usize>> = LazyLock::new(Registry::new);

/// The number of MDLs from `IoAllocateMdl` not freed yet.
pub fn live_mdls() -> usize {
    MDLS.len()
}

/// `ADDRESS_AND_SIZE_TO_SPAN_PAGES(va, size)`.
pub fn span_pages(va: usize, size: usize) -> usize {
    ((va & (PAGE_SIZE - 1)) + size).div_ceil(PAGE_SIZE)
}

/// `MmGetMdlVirtualAddress(mdl)` = `StartVa + ByteOffset`: the address of the first byte
/// described (for the provider: where to read or write the data).
///
/// # Safety
/// `mdl` points to a live, initialized MDL.
pub unsafe fn mdl_address(mdl: *const MDL) -> *mut u8 {
    // SAFETY: per the caller.
    unsafe { ((*mdl).StartVa as *mut u8).wrapping_add((*mdl).ByteOffset as usize) }
}

/// `MmInitializeMdl`.
///
/// # Safety
/// `mdl` points to a writable MDL header.
unsafe fn initialize(mdl: *mut MDL, va: PVOID, length: usize, size: usize) {
    // SAFETY: per the caller.
    unsafe {
        (*mdl).Next = null_mut();
        (*mdl).Size = size as u16 as i16;
        (*mdl).MdlFlags = 0;
        (*mdl).StartVa = (va as usize & !(PAGE_SIZE - 1)) as PVOID;
        (*mdl).ByteOffset = (va as usize & (PAGE_SIZE - 1)) as ULONG;
        (*mdl).ByteCount = length as ULONG;
    }
}

/// Fills the page-frame array after the header with `va >> 12` of each page, as far as the
/// MDL's `Size` says there is room.
///
/// # Safety
/// `mdl` points to a live MDL whose `Size` bytes are writable.
unsafe fn fill_pfns(mdl: *mut MDL) {
    // SAFETY: per the caller; writes stay within the `Size` bytes.
    unsafe {
        let start = mdl_address(mdl) as usize;
        let pages = span_pages(start, (*mdl).ByteCount as usize);
        let size = (*mdl).Size as u16 as usize;
        let room = size.saturating_sub(std::mem::size_of::<MDL>()) / std::mem::size_of::<PFN_NUMBER>();
        let pfns = (mdl as *mut u8).add(std::mem::size_of::<MDL>()) as *mut PFN_NUMBER;
        let first = (*mdl).StartVa as usize >> PAGE_SHIFT;
        for i in 0..pages.min(room) {
            pfns.add(i).write_unaligned(first + i);
        }
    }
}

/// `MmSizeOfMdl`: bytes for an MDL describing `Length` bytes at `Base`.
#[no_mangle]
pub unsafe extern "C" fn MmSizeOfMdl(Base: PVOID, Length: usize) -> usize {
    guard("MmSizeOfMdl", 0, || {
        std::mem::size_of::<MDL>() + span_pages(Base as usize, Length) * std::mem::size_of::<PFN_NUMBER>()
    })
}

/// `IoAllocateMdl`: an MDL for `Length` bytes at `VirtualAddress`, or NULL (a `Length`
/// above 4 GiB - 4 KiB, or no memory). A zero `Length` gives an MDL describing no bytes.
/// With an `Irp`, `SecondaryBuffer` FALSE makes it `Irp->MdlAddress` (replacing what was
/// there, as Windows does); TRUE appends it to the end of the IRP's MDL chain (or makes it
/// the first when the chain is empty, where Windows would crash).
#[no_mangle]
pub unsafe extern "C" fn IoAllocateMdl(
    VirtualAddress: PVOID,
    Length: ULONG,
    SecondaryBuffer: BOOLEAN,
    ChargeQuota: BOOLEAN,
    Irp: *mut IRP,
) -> *mut MDL {
    let _ = ChargeQuota;
    guard("IoAllocateMdl", null_mut(), || {
        if Length as u64 > MAX_MDL_LENGTH {
            kerror!("IoAllocateMdl: Length {Length:#x} exceeds the maximum (4 GiB - PAGE_SIZE); returning NULL");
            return null_mut();
        }
        let size = std::mem::size_of::<MDL>()
            + span_pages(VirtualAddress as usize, Length as usize) * std::mem::size_of::<PFN_NUMBER>();
        let Ok(layout) = Layout::from_size_align(size, MDL_ALIGN) else { return null_mut() };
        // SAFETY: non-zero size.
        let mdl = unsafe { alloc_zeroed(layout) } as *mut MDL;
        if mdl.is_null() {
            return null_mut();
        }
        // SAFETY: a fresh block of `size` bytes.
        unsafe { initialize(mdl, VirtualAddress, Length as usize, size) };
        MDLS.insert(mdl as usize, size);
        if !Irp.is_null() {
            // SAFETY: the client's live IRP and its MDL chain.
            unsafe {
                if SecondaryBuffer == 0 || (*Irp).MdlAddress.is_null() {
                    (*Irp).MdlAddress = mdl;
                } else {
                    let mut last = (*Irp).MdlAddress;
                    while !(*last).Next.is_null() {
                        last = (*last).Next;
                    }
                    (*last).Next = mdl;
                }
            }
        }
        mdl
    })
}

/// `IoFreeMdl`: frees an MDL from `IoAllocateMdl` (only that MDL, not its `Next`). Anything
/// else is logged and ignored. Freeing an MDL whose pages are still locked is logged (a
/// client bug on Windows) but done.
#[no_mangle]
pub unsafe extern "C" fn IoFreeMdl(Mdl: *mut MDL) {
    guard("IoFreeMdl", (), || {
        if Mdl.is_null() {
            kerror!("IoFreeMdl: Mdl is NULL; ignored");
            return;
        }
        let Some(size) = MDLS.remove(Mdl as usize) else {
            kerror!("IoFreeMdl: {Mdl:p} is not an MDL from IoAllocateMdl, or was already freed (Windows would bug-check); ignored");
            return;
        };
        // SAFETY: it was registered, hence a live MDL allocated by IoAllocateMdl with this
        // layout; unregistered now, so nobody else frees it.
        unsafe {
            if (*Mdl).MdlFlags & MDL_PAGES_LOCKED != 0 && (*Mdl).MdlFlags & MDL_PARTIAL == 0 {
                kwarn!("IoFreeMdl: MDL {Mdl:p} still has its pages locked (call MmUnlockPages first)");
            }
            dealloc(Mdl as *mut u8, Layout::from_size_align_unchecked(size, MDL_ALIGN));
        }
    })
}

/// `IoBuildPartialMdl`: makes `TargetMdl` describe `Length` bytes of `SourceMdl`'s buffer
/// starting at `VirtualAddress` (`Length` 0: up to the end of the source). A range outside
/// the source is logged and the target left unchanged (Windows would bug-check).
#[no_mangle]
pub unsafe extern "C" fn IoBuildPartialMdl(
    SourceMdl: *mut MDL,
    TargetMdl: *mut MDL,
    VirtualAddress: PVOID,
    Length: ULONG,
) {
    guard("IoBuildPartialMdl", (), || {
        if SourceMdl.is_null() || TargetMdl.is_null() {
            kerror!("IoBuildPartialMdl: SourceMdl or TargetMdl is NULL (Windows would crash); ignored");
            return;
        }
        // SAFETY: the client's live MDLs.
        unsafe {
            let base = mdl_address(SourceMdl) as usize;
            let count = (*SourceMdl).ByteCount as usize;
            let va = VirtualAddress as usize;
            if va < base || va - base > count {
                kerror!("IoBuildPartialMdl: {VirtualAddress:p} is outside the source MDL ({base:#x}, {count} bytes); ignored");
                return;
            }
            let offset = va - base;
            let length = if Length == 0 { count - offset } else { Length as usize };
            if offset + length > count {
                kerror!("IoBuildPartialMdl: {length} bytes at offset {offset} exceed the source MDL's {count} bytes; ignored");
                return;
            }
            let size = (*TargetMdl).Size as u16 as usize;
            let needed = std::mem::size_of::<MDL>() + span_pages(va, length) * std::mem::size_of::<PFN_NUMBER>();
            if size < needed {
                kwarn!("IoBuildPartialMdl: target MDL {TargetMdl:p} (Size {size}) is smaller than the {needed} bytes the range needs");
            }
            (*TargetMdl).StartVa = (va & !(PAGE_SIZE - 1)) as PVOID;
            (*TargetMdl).ByteOffset = (va & (PAGE_SIZE - 1)) as ULONG;
            (*TargetMdl).ByteCount = length as ULONG;
            (*TargetMdl).MdlFlags = MDL_PARTIAL | ((*SourceMdl).MdlFlags & MDL_SOURCE_IS_NONPAGED_POOL);
            (*TargetMdl).MappedSystemVa = VirtualAddress;
            (*TargetMdl).Process = (*SourceMdl).Process;
            fill_pfns(TargetMdl);
        }
    })
}

/// `MmBuildMdlForNonPagedPool`: marks the MDL as describing resident memory and sets
/// `MappedSystemVa`.
#[no_mangle]
pub unsafe extern "C" fn MmBuildMdlForNonPagedPool(MemoryDescriptorList: *mut MDL) {
    guard("MmBuildMdlForNonPagedPool", (), || {
        let mdl = MemoryDescriptorList;
        if mdl.is_null() {
            kerror!("MmBuildMdlForNonPagedPool: Mdl is NULL (Windows would crash); ignored");
            return;
        }
        // SAFETY: the client's live MDL.
        unsafe {
            (*mdl).MdlFlags |= MDL_SOURCE_IS_NONPAGED_POOL;
            (*mdl).MappedSystemVa = mdl_address(mdl) as PVOID;
            fill_pfns(mdl);
        }
    })
}

/// `MmProbeAndLockPages`: sets `MDL_PAGES_LOCKED` (and `MDL_WRITE_OPERATION` for
/// IoWriteAccess/IoModifyAccess). Memory is neither probed nor locked: a bad address
/// faults when used, where Windows raises an exception here.
#[no_mangle]
pub unsafe extern "C" fn MmProbeAndLockPages(
    MemoryDescriptorList: *mut MDL,
    AccessMode: KPROCESSOR_MODE,
    Operation: u32,
) {
    let _ = AccessMode;
    guard("MmProbeAndLockPages", (), || {
        let mdl = MemoryDescriptorList;
        if mdl.is_null() {
            kerror!("MmProbeAndLockPages: Mdl is NULL (Windows would crash); ignored");
            return;
        }
        // SAFETY: the client's live MDL.
        unsafe {
            if (*mdl).MdlFlags & MDL_PAGES_LOCKED != 0 {
                kwarn!("MmProbeAndLockPages: MDL {mdl:p} is already locked");
            }
            (*mdl).MdlFlags |= MDL_PAGES_LOCKED;
            if Operation != 0 {
                (*mdl).MdlFlags |= MDL_WRITE_OPERATION;
            }
            fill_pfns(mdl);
        }
    })
}

/// `MmUnlockPages`: clears `MDL_PAGES_LOCKED` (and a system mapping, as Windows does).
#[no_mangle]
pub unsafe extern "C" fn MmUnlockPages(MemoryDescriptorList: *mut MDL) {
    guard("MmUnlockPages", (), || {
        let mdl = MemoryDescriptorList;
        if mdl.is_null() {
            kerror!("MmUnlockPages: Mdl is NULL (Windows would crash); ignored");
            return;
        }
        // SAFETY: the client's live MDL.
        unsafe {
            if (*mdl).MdlFlags & MDL_PAGES_LOCKED == 0 {
                kwarn!("MmUnlockPages: MDL {mdl:p} is not locked");
            }
            (*mdl).MdlFlags &= !(MDL_PAGES_LOCKED | MDL_WRITE_OPERATION | MDL_MAPPED_TO_SYSTEM_VA);
        }
    })
}

/// `MmMapLockedPagesSpecifyCache`: the buffer's address (`StartVa + ByteOffset`); sets
/// `MDL_MAPPED_TO_SYSTEM_VA` and `MappedSystemVa`. NULL only for a NULL MDL.
#[no_mangle]
pub unsafe extern "C" fn MmMapLockedPagesSpecifyCache(
    MemoryDescriptorList: *mut MDL,
    AccessMode: KPROCESSOR_MODE,
    CacheType: u32,
    RequestedAddress: PVOID,
    BugCheckOnFailure: u32,
    Priority: u32,
) -> PVOID {
    let _ = (AccessMode, CacheType, RequestedAddress, BugCheckOnFailure, Priority);
    // SAFETY: same contract.
    guard("MmMapLockedPagesSpecifyCache", null_mut(), || unsafe { map(MemoryDescriptorList) })
}

/// `MmMapLockedPages` (the older form).
#[no_mangle]
pub unsafe extern "C" fn MmMapLockedPages(MemoryDescriptorList: *mut MDL, AccessMode: KPROCESSOR_MODE) -> PVOID {
    let _ = AccessMode;
    // SAFETY: same contract.
    guard("MmMapLockedPages", null_mut(), || unsafe { map(MemoryDescriptorList) })
}

/// # Safety
/// `mdl` NULL or a live MDL.
unsafe fn map(mdl: *mut MDL) -> PVOID {
    if mdl.is_null() {
        kerror!("MmMapLockedPages…: Mdl is NULL; returning NULL");
        return null_mut();
    }
    // SAFETY: the client's live MDL.
    unsafe {
        let va = mdl_address(mdl) as PVOID;
        (*mdl).MdlFlags |= MDL_MAPPED_TO_SYSTEM_VA;
        if (*mdl).MdlFlags & MDL_PARTIAL != 0 {
            (*mdl).MdlFlags |= MDL_PARTIAL_HAS_BEEN_MAPPED;
        }
        (*mdl).MappedSystemVa = va;
        va
    }
}

/// `MmUnmapLockedPages`: clears the mapping flags.
#[no_mangle]
pub unsafe extern "C" fn MmUnmapLockedPages(BaseAddress: PVOID, MemoryDescriptorList: *mut MDL) {
    let _ = BaseAddress;
    guard("MmUnmapLockedPages", (), || {
        let mdl = MemoryDescriptorList;
        if mdl.is_null() {
            kerror!("MmUnmapLockedPages: Mdl is NULL (Windows would crash); ignored");
            return;
        }
        // SAFETY: the client's live MDL.
        unsafe { (*mdl).MdlFlags &= !(MDL_MAPPED_TO_SYSTEM_VA | MDL_PARTIAL_HAS_BEEN_MAPPED) };
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans() {
        assert_eq!(span_pages(0x1000, 0), 0);
        assert_eq!(span_pages(0x1000, 1), 1);
        assert_eq!(span_pages(0x1fff, 2), 2);
        assert_eq!(span_pages(0x1000, 4096), 1);
        assert_eq!(span_pages(0x1001, 4096), 2);
    }
}
