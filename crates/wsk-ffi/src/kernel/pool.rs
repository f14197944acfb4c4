//! Pool memory: `ExAllocatePool*` / `ExFreePool*`, with per-tag accounting.
//!
//! Blocks come from the process heap, 16-byte aligned (64 for the cache-aligned pool types
//! and `POOL_FLAG_CACHE_ALIGNED`), and every live block is recorded (address → tag, size)
//! in a sharded registry, so that
//!
//! - freeing an unknown pointer, or a block twice, is logged and ignored (Windows
//!   bug-checks: BAD_POOL_CALLER);
//! - `ExFreePoolWithTag` with the wrong tag is logged with both tags, and the block is
//!   freed anyway (Windows bug-checks);
//! - what a driver left allocated is reported per tag after `DriverUnload`.
//!
//! **Contents of uninitialized blocks.** `ExAllocatePoolWithTag` and `ExAllocatePool2` with
//! `POOL_FLAG_UNINITIALIZED` return memory filled with `0xCD`, not whatever the heap had
//! (often zeros): a client that relies on zeroed pool without asking for it misbehaves
//! visibly here instead of only on Windows. `ExAllocatePool2` (without that flag) and
//! `ExAllocatePoolZero` return zeroed memory.
//!
//! A request for 0 bytes returns a valid, distinct block (as Windows does). A failed
//! allocation returns NULL; `POOL_FLAG_RAISE_ON_FAILURE` / `POOL_RAISE_IF_ALLOCATION_FAILURE`
//! cannot raise an exception here and also return NULL.

use std::alloc::{alloc, alloc_zeroed, dealloc, Layout};
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::ptr::null_mut;
use std::sync::LazyLock;

use crate::abi::{POOL_FLAGS, PVOID, SIZE_T, ULONG};
use crate::guard::guard;

use super::leaks::{tag_to_string, PoolTagLeak};
use super::sync::Registry;

/// The byte uninitialized pool blocks are filled with.
pub const UNINITIALIZED_FILL: u8 = 0xCD;
const POOL_ALIGN: usize = 16;
const CACHE_ALIGN: usize = 64;
/// The tag of untagged `ExAllocatePool` blocks: 'enoN' ("None" in memory order).
pub const TAG_NONE: u32 = u32::from_le_bytes(*b"None");
/// `PROTECTED_POOL`: a tag bit ignored when comparing tags.
const PROTECTED_POOL: u32 = 0x8000_0000;

// `POOL_TYPE` bits.
const POOL_TYPE_CACHE_ALIGNED: u32 = 4;

// `POOL_FLAG_*` (ExAllocatePool2).
// (USE_QUOTA 0x1, SESSION 0x4 and RAISE_ON_FAILURE 0x20 are accepted and have no effect.)
const POOL_FLAG_UNINITIALIZED: u64 = 0x2;
const POOL_FLAG_CACHE_ALIGNED: u64 = 0x8;
const POOL_FLAG_NON_PAGED: u64 = 0x40;
const POOL_FLAG_NON_PAGED_EXECUTE: u64 = 0x80;
const POOL_FLAG_PAGED: u64 = 0x100;
/// Required flags Windows knows (bits 0..=10); any other bit of the low 32 is invalid.
const POOL_FLAG_REQUIRED_KNOWN: u64 = 0x7FF;
const POOL_FLAG_REQUIRED_MASK: u64 = 0xFFFF_FFFF;

/// A live block.
#[derive(Debug, Clone, Copy)]
struct Block {
    tag: u32,
    size: usize,
    align: usize,
}

static BLOCKS: LazyLock<Registry<Block>> = LazyLock::new(Registry::new);

/// Allocates a pool block (for libwsk's own use too: it shows up under `tag`).
/// `zeroed` false fills it with [`UNINITIALIZED_FILL`]. NULL when out of memory.
pub fn allocate(size: usize, tag: u32, zeroed: bool, cache_aligned: bool) -> *mut c_void {
    let align = if cache_aligned { CACHE_ALIGN } else { POOL_ALIGN };
    let Ok(layout) = Layout::from_size_align(size.max(1), align) else { return null_mut() };
    // SAFETY: the layout's size is non-zero.
    let p = unsafe {
        if zeroed {
            alloc_zeroed(layout)
        } else {
            alloc(layout)
        }
    };
    if p.is_null() {
        return null_mut();
    }
    if !zeroed {
        // SAFETY: a fresh block of `layout.size()` bytes.
        unsafe { std::ptr::write_bytes(p, UNINITIALIZED_FILL, layout.size()) };
    }
    BLOCKS.insert(p as usize, Block { tag, size: layout.size(), align });
    p as *mut c_void
}

/// What [`free`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freed {
    /// Freed; the block's tag.
    Ok(u32),
    /// Not a live pool block: nothing done.
    Unknown,
}

/// Frees a pool block.
///
/// # Safety
/// If `p` is a live pool block, nothing uses it any more.
pub unsafe fn free(p: *mut c_void) -> Freed {
    match BLOCKS.remove(p as usize) {
        Some(b) => {
            // SAFETY: allocated by `allocate` with exactly this layout.
            unsafe { dealloc(p as *mut u8, Layout::from_size_align_unchecked(b.size, b.align)) };
            Freed::Ok(b.tag)
        }
        None => Freed::Unknown,
    }
}

/// Live blocks per tag, sorted by tag.
pub fn leaks_by_tag() -> Vec<PoolTagLeak> {
    let mut by_tag: BTreeMap<u32, (usize, usize)> = BTreeMap::new();
    BLOCKS.for_each(|_, b| {
        let e = by_tag.entry(b.tag).or_default();
        e.0 += 1;
        e.1 += b.size;
    });
    by_tag.into_iter().map(|(tag, (blocks, bytes))| PoolTagLeak { tag, blocks, bytes }).collect()
}

/// `ExAllocatePoolWithTag`: uninitialized (0xCD-filled) block, 16-aligned (64 for the
/// cache-aligned pool types). Tag 0 is accepted.
#[no_mangle]
pub unsafe extern "C" fn ExAllocatePoolWithTag(PoolType: u32, NumberOfBytes: SIZE_T, Tag: ULONG) -> PVOID {
    guard("ExAllocatePoolWithTag", null_mut(), || {
        allocate(NumberOfBytes, Tag, false, PoolType & POOL_TYPE_CACHE_ALIGNED != 0)
    })
}

/// `ExAllocatePool` (deprecated, untagged: the tag is 'None').
#[no_mangle]
pub unsafe extern "C" fn ExAllocatePool(PoolType: u32, NumberOfBytes: SIZE_T) -> PVOID {
    guard("ExAllocatePool", null_mut(), || {
        allocate(NumberOfBytes, TAG_NONE, false, PoolType & POOL_TYPE_CACHE_ALIGNED != 0)
    })
}

/// `ExAllocatePoolZero`: zeroed block.
#[no_mangle]
pub unsafe extern "C" fn ExAllocatePoolZero(PoolType: u32, NumberOfBytes: SIZE_T, Tag: ULONG) -> PVOID {
    guard("ExAllocatePoolZero", null_mut(), || {
        allocate(NumberOfBytes, Tag, true, PoolType & POOL_TYPE_CACHE_ALIGNED != 0)
    })
}

/// Checks `ExAllocatePool2` flags: exactly one of NON_PAGED, NON_PAGED_EXECUTE, PAGED; no
/// unknown required bit (optional bits, 32 and up, are ignored).
fn pool2_flags_valid(flags: POOL_FLAGS) -> bool {
    let required = flags & POOL_FLAG_REQUIRED_MASK;
    if required & !POOL_FLAG_REQUIRED_KNOWN != 0 {
        return false;
    }
    let kinds = [POOL_FLAG_NON_PAGED, POOL_FLAG_NON_PAGED_EXECUTE, POOL_FLAG_PAGED];
    kinds.iter().filter(|&&k| flags & k != 0).count() == 1
}

/// `ExAllocatePool2`: zeroed unless `POOL_FLAG_UNINITIALIZED`; NULL for invalid flags
/// (none or several of NON_PAGED / NON_PAGED_EXECUTE / PAGED, unknown required bits) and
/// for tag 0.
#[no_mangle]
pub unsafe extern "C" fn ExAllocatePool2(Flags: POOL_FLAGS, NumberOfBytes: SIZE_T, Tag: ULONG) -> PVOID {
    guard("ExAllocatePool2", null_mut(), || {
        if !pool2_flags_valid(Flags) {
            kerror!("ExAllocatePool2: invalid Flags {Flags:#x} (exactly one of POOL_FLAG_NON_PAGED, POOL_FLAG_NON_PAGED_EXECUTE, POOL_FLAG_PAGED is required); returning NULL");
            return null_mut();
        }
        if Tag == 0 {
            kerror!("ExAllocatePool2: Tag 0 is not allowed; returning NULL");
            return null_mut();
        }
        allocate(NumberOfBytes, Tag, Flags & POOL_FLAG_UNINITIALIZED == 0, Flags & POOL_FLAG_CACHE_ALIGNED != 0)
    })
}

/// `ExFreePool`.
#[no_mangle]
pub unsafe extern "C" fn ExFreePool(P: PVOID) {
    // SAFETY: the client's pool block.
    guard("ExFreePool", (), || unsafe { free_checked("ExFreePool", P, None) })
}

/// `ExFreePoolWithTag`: a tag different from the allocation's is logged (naming both) and
/// the block is freed anyway. Tag 0 is not checked; the `PROTECTED_POOL` bit is ignored.
#[no_mangle]
pub unsafe extern "C" fn ExFreePoolWithTag(P: PVOID, Tag: ULONG) {
    // SAFETY: the client's pool block.
    guard("ExFreePoolWithTag", (), || unsafe { free_checked("ExFreePoolWithTag", P, Some(Tag).filter(|&t| t != 0)) })
}

/// # Safety
/// If `p` is a live pool block, nothing uses it any more.
unsafe fn free_checked(name: &str, p: PVOID, tag: Option<u32>) {
    if p.is_null() {
        kerror!("{name}: P is NULL (Windows bug-checks: BAD_POOL_CALLER); ignored");
        return;
    }
    // SAFETY: per the caller.
    match unsafe { free(p) } {
        Freed::Ok(actual) => {
            if let Some(expected) = tag.filter(|&e| (e ^ actual) & !PROTECTED_POOL != 0) {
                kerror!(
                    "{name}: block {p:p} was allocated with tag '{}' ({actual:#010x}) but freed with tag '{}' ({expected:#010x}) (Windows bug-checks: BAD_POOL_CALLER); freed anyway",
                    tag_to_string(actual),
                    tag_to_string(expected)
                );
            }
        }
        Freed::Unknown => kerror!(
            "{name}: {p:p} is not a live pool block (never allocated, or already freed; Windows bug-checks: BAD_POOL_CALLER); ignored"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool2_flags() {
        assert!(pool2_flags_valid(POOL_FLAG_NON_PAGED));
        assert!(pool2_flags_valid(POOL_FLAG_PAGED | POOL_FLAG_UNINITIALIZED));
        assert!(!pool2_flags_valid(0));
        assert!(!pool2_flags_valid(POOL_FLAG_PAGED | POOL_FLAG_NON_PAGED));
        assert!(!pool2_flags_valid(POOL_FLAG_NON_PAGED | 0x1000));
        assert!(pool2_flags_valid(POOL_FLAG_NON_PAGED | 0x1_0000_0000));
    }

    #[test]
    fn alloc_free_and_accounting() {
        let tag = u32::from_le_bytes(*b"Tst1");
        let p = allocate(100, tag, false, false);
        assert!(!p.is_null());
        assert_eq!(p as usize % 16, 0);
        // SAFETY: 100 fresh bytes.
        assert!(unsafe { std::slice::from_raw_parts(p as *const u8, 100) }.iter().all(|&b| b == UNINITIALIZED_FILL));
        assert!(leaks_by_tag().iter().any(|l| l.tag == tag && l.blocks == 1 && l.bytes == 100));
        // SAFETY: a live block, then a freed one.
        unsafe {
            assert_eq!(free(p), Freed::Ok(tag));
            assert_eq!(free(p), Freed::Unknown);
        }
        assert!(!leaks_by_tag().iter().any(|l| l.tag == tag));
    }
}
