//! Lookaside lists: `NPAGED_LOOKASIDE_LIST`, `PAGED_LOOKASIDE_LIST`, `LOOKASIDE_LIST_EX`.
//!
//! The client's 128-byte storage holds libwsk's list state: the block size and tag, the
//! allocate/free routines (the client's, or the pool), a cache of freed blocks linked
//! through their first word (up to the list's depth), and a futex lock word. Blocks come
//! from the pool under the list's tag (so leaks show up per tag) or from the client's
//! allocate routine. Blocks are at least 8 bytes (the cache links through them).
//!
//! Depth: the `Depth` argument (Windows ignores it and tunes depths itself) bounds the
//! cache, 32 when 0, at most 256. Lists initialized and never deleted are reported as
//! leaks; deleting frees the cached blocks.

use std::collections::BTreeSet;
use std::ffi::c_void;
use std::ptr::null_mut;
use std::sync::atomic::AtomicU32;
use std::sync::{Mutex, MutexGuard};

use crate::abi::{LOOKASIDE_STORAGE, NTSTATUS, PVOID, SIZE_T, ULONG, USHORT};
use crate::guard::{guard, guard_status};

use super::pool;
use super::sync::{lock_word, unlock_word};
use crate::status::{STATUS_INVALID_PARAMETER, STATUS_SUCCESS};

pub type AllocateFn = extern "C" fn(PoolType: u32, NumberOfBytes: SIZE_T, Tag: ULONG) -> PVOID;
pub type FreeFn = extern "C" fn(Buffer: PVOID);
pub type AllocateExFn = extern "C" fn(PoolType: u32, NumberOfBytes: SIZE_T, Tag: ULONG, Lookaside: PVOID) -> PVOID;
pub type FreeExFn = extern "C" fn(Buffer: PVOID, Lookaside: PVOID);

const MAGIC: u32 = 0x4C6B_4153; // "SAkL"
const DEFAULT_DEPTH: u16 = 32;
const MAX_DEPTH: u16 = 256;

/// `POOL_TYPE`s the three flavours allocate from.
const NON_PAGED_POOL: u32 = 0;
const PAGED_POOL: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
enum Flavour {
    NonPaged = 1,
    Paged = 2,
    Ex = 3,
}

/// The list, inside the client's `LOOKASIDE_STORAGE`.
#[repr(C)]
struct Lookaside {
    magic: u32,
    lock: AtomicU32,
    /// A [`Flavour`] as u16 (read from client memory before it is known to be initialized).
    flavour: u16,
    depth: u16,
    cached: u32,
    head: *mut c_void,
    size: usize,
    tag: u32,
    pool_type: u32,
    /// `AllocateFn` / `AllocateExFn` (by flavour), or 0 for the pool.
    allocate: usize,
    /// `FreeFn` / `FreeExFn`, or 0 for the pool.
    free: usize,
}

const _: () = assert!(std::mem::size_of::<Lookaside>() <= std::mem::size_of::<LOOKASIDE_STORAGE>());

/// Lists initialized and not deleted (by storage address).
static LISTS: Mutex<BTreeSet<usize>> = Mutex::new(BTreeSet::new());

fn lists() -> MutexGuard<'static, BTreeSet<usize>> {
    crate::kernel::sync::lock(&LISTS)
}

/// Lookaside lists initialized and not deleted.
pub fn live_lookaside_lists() -> usize {
    lists().len()
}

/// The body of the `ExInitialize…LookasideList…` routines (`name`); `allocate` and `free`
/// are the client's routines (function pointers of the flavour's types), or None for the pool.
///
/// # Safety
/// `storage` is NULL or the client's writable `LOOKASIDE_STORAGE`; `A` and `F` are function
/// pointer types.
#[allow(clippy::too_many_arguments)]
unsafe fn init<A: Copy, F: Copy>(
    name: &'static str,
    storage: *mut LOOKASIDE_STORAGE,
    flavour: Flavour,
    allocate: Option<A>,
    free: Option<F>,
    pool_type: u32,
    size: usize,
    tag: u32,
    depth: u16,
) -> NTSTATUS {
    guard_status(name, || {
        if storage.is_null() {
            kerror!("{name}: Lookaside is NULL; ignored");
            return STATUS_INVALID_PARAMETER;
        }
        if lists().contains(&(storage as usize)) {
            kwarn!(
                "{name}: lookaside list {storage:p} initialized again without being deleted; its cached blocks leak"
            );
        }
        let depth = if depth == 0 { DEFAULT_DEPTH } else { depth.min(MAX_DEPTH) };
        // SAFETY: per the caller; the state fits in the storage (checked at compile time) and
        // LOOKASIDE_STORAGE is 16-aligned.
        unsafe {
            (storage as *mut Lookaside).write(Lookaside {
                magic: MAGIC,
                lock: AtomicU32::new(0),
                flavour: flavour as u16,
                depth,
                cached: 0,
                head: null_mut(),
                size: size.max(std::mem::size_of::<usize>()),
                tag,
                pool_type,
                allocate: fn_addr(allocate),
                free: fn_addr(free),
            })
        };
        lists().insert(storage as usize);
        STATUS_SUCCESS
    })
}

/// The list in `storage`, if it is an initialized one of `flavour`. Its mutable members
/// are only accessed through the pointer with the list's lock held.
///
/// # Safety
/// `storage` is NULL or the client's `LOOKASIDE_STORAGE`.
unsafe fn list(name: &str, storage: *mut LOOKASIDE_STORAGE, flavour: Flavour) -> Option<*mut Lookaside> {
    if storage.is_null() {
        kerror!("{name}: Lookaside is NULL (Windows would crash)");
        return None;
    }
    let l = storage as *mut Lookaside;
    // SAFETY: per the caller: readable storage; the magic tells whether libwsk initialized it.
    unsafe {
        if (*l).magic != MAGIC || (*l).flavour != flavour as u16 {
            kerror!("{name}: {storage:p} is not an initialized lookaside list of this kind");
            return None;
        }
    }
    Some(l)
}

/// The immutable part of a list, copied out.
#[derive(Clone, Copy)]
struct Source {
    flavour: u16,
    size: usize,
    tag: u32,
    pool_type: u32,
    allocate: usize,
    free: usize,
}

/// # Safety
/// `l` is an initialized list.
unsafe fn source(l: *mut Lookaside) -> Source {
    // SAFETY: per the caller; these members do not change after init.
    unsafe {
        Source {
            flavour: (*l).flavour,
            size: (*l).size,
            tag: (*l).tag,
            pool_type: (*l).pool_type,
            allocate: (*l).allocate,
            free: (*l).free,
        }
    }
}

/// # Safety
/// `l` is an initialized list.
unsafe fn lock_of<'a>(l: *mut Lookaside) -> &'a AtomicU32 {
    // SAFETY: per the caller; the lock word is only accessed atomically.
    unsafe { &(*l).lock }
}

/// Allocates a fresh block from the list's source.
fn allocate_block(l: Source, storage: *mut LOOKASIDE_STORAGE) -> PVOID {
    if l.allocate == 0 {
        return pool::allocate(l.size, l.tag, false, false);
    }
    // SAFETY: `allocate` holds a non-null function pointer of the flavour's type, stored by init.
    // A call into client code (counted, so PsTerminateSystemThread inside it is refused).
    super::irp::callout(|| unsafe {
        if l.flavour == Flavour::Ex as u16 {
            std::mem::transmute::<usize, AllocateExFn>(l.allocate)(l.pool_type, l.size, l.tag, storage.cast())
        } else {
            std::mem::transmute::<usize, AllocateFn>(l.allocate)(l.pool_type, l.size, l.tag)
        }
    })
}

/// Gives a block back to the list's source.
fn free_block(l: Source, storage: *mut LOOKASIDE_STORAGE, block: PVOID) {
    if l.free == 0 {
        // SAFETY: a block of this list, from the pool.
        if unsafe { pool::free(block) } == pool::Freed::Unknown {
            kerror!("lookaside list {storage:p}: freed entry {block:p} is not a pool block; ignored");
        }
        return;
    }
    // SAFETY: `free` holds a non-null function pointer of the flavour's type, stored by init.
    // A call into client code (counted, as above).
    super::irp::callout(|| unsafe {
        if l.flavour == Flavour::Ex as u16 {
            std::mem::transmute::<usize, FreeExFn>(l.free)(block, storage.cast())
        } else {
            std::mem::transmute::<usize, FreeFn>(l.free)(block)
        }
    })
}

/// # Safety
/// `storage` is NULL or the client's `LOOKASIDE_STORAGE`.
unsafe fn allocate_from(name: &'static str, storage: *mut LOOKASIDE_STORAGE, flavour: Flavour) -> PVOID {
    guard(name, null_mut(), || {
        // SAFETY: per the caller.
        let Some(l) = (unsafe { list(name, storage, flavour) }) else { return null_mut() };
        // SAFETY: an initialized list; its mutable members are accessed under its lock.
        unsafe {
            let src = source(l);
            let lock = lock_of(l);
            lock_word(lock);
            let block = (*l).head;
            if !block.is_null() {
                // Cached blocks link through their first word.
                (*l).head = (block as *mut *mut c_void).read();
                (*l).cached -= 1;
            }
            unlock_word(lock);
            if !block.is_null() {
                return block;
            }
            allocate_block(src, storage)
        }
    })
}

/// # Safety
/// `storage` is NULL or the client's `LOOKASIDE_STORAGE`; `entry` a block of this list.
unsafe fn free_to(name: &'static str, storage: *mut LOOKASIDE_STORAGE, flavour: Flavour, entry: PVOID) {
    guard(name, (), || {
        // SAFETY: per the caller.
        let Some(l) = (unsafe { list(name, storage, flavour) }) else { return };
        if entry.is_null() {
            kerror!("{name}: Entry is NULL; ignored");
            return;
        }
        // SAFETY: an initialized list; its mutable members are accessed under its lock. The
        // block is at least pointer-sized (init) and no longer used by the client.
        unsafe {
            let src = source(l);
            let lock = lock_of(l);
            lock_word(lock);
            if ((*l).cached as usize) < (*l).depth as usize {
                (entry as *mut *mut c_void).write((*l).head);
                (*l).head = entry;
                (*l).cached += 1;
                unlock_word(lock);
                return;
            }
            unlock_word(lock);
            free_block(src, storage, entry);
        }
    })
}

/// # Safety
/// `storage` is NULL or the client's `LOOKASIDE_STORAGE`, no longer used by other threads.
unsafe fn delete(name: &'static str, storage: *mut LOOKASIDE_STORAGE, flavour: Flavour) {
    guard(name, (), || {
        // SAFETY: per the caller.
        let Some(l) = (unsafe { list(name, storage, flavour) }) else { return };
        // SAFETY: an initialized list; its mutable members are accessed under its lock; cached
        // blocks link through their first word.
        unsafe {
            let src = source(l);
            let lock = lock_of(l);
            lock_word(lock);
            let mut block = std::mem::replace(&mut (*l).head, null_mut());
            (*l).cached = 0;
            unlock_word(lock);
            while !block.is_null() {
                let next = (block as *mut *mut c_void).read();
                free_block(src, storage, block);
                block = next;
            }
            (*l).magic = 0;
        }
        lists().remove(&(storage as usize));
    })
}

fn fn_addr<T>(f: Option<T>) -> usize
where
    T: Copy,
{
    // SAFETY: only called (by init) with function pointer types (pointer-sized).
    f.map_or(0, |f| unsafe { std::mem::transmute_copy::<T, usize>(&f) })
}

// ----- NPAGED_LOOKASIDE_LIST and PAGED_LOOKASIDE_LIST -----

/// The four exports of `NPAGED_LOOKASIDE_LIST` or `PAGED_LOOKASIDE_LIST`, which differ only
/// in their names, flavour and pool type.
macro_rules! lookaside_list_exports {
    ($flavour:expr, $pool_type:expr, $initialize:ident, $delete:ident, $allocate_from:ident, $free_to:ident) => {
        #[no_mangle]
        pub unsafe extern "C" fn $initialize(
            Lookaside: *mut LOOKASIDE_STORAGE,
            Allocate: Option<AllocateFn>,
            Free: Option<FreeFn>,
            Flags: ULONG,
            Size: SIZE_T,
            Tag: ULONG,
            Depth: USHORT,
        ) {
            let _ = Flags;
            // SAFETY: the client's storage; the client's routines are function pointers.
            unsafe { init(stringify!($initialize), Lookaside, $flavour, Allocate, Free, $pool_type, Size, Tag, Depth) };
        }

        #[no_mangle]
        pub unsafe extern "C" fn $delete(Lookaside: *mut LOOKASIDE_STORAGE) {
            // SAFETY: the client's storage.
            unsafe { delete(stringify!($delete), Lookaside, $flavour) }
        }

        #[no_mangle]
        pub unsafe extern "C" fn $allocate_from(Lookaside: *mut LOOKASIDE_STORAGE) -> PVOID {
            // SAFETY: the client's storage.
            unsafe { allocate_from(stringify!($allocate_from), Lookaside, $flavour) }
        }

        #[no_mangle]
        pub unsafe extern "C" fn $free_to(Lookaside: *mut LOOKASIDE_STORAGE, Entry: PVOID) {
            // SAFETY: the client's storage and block.
            unsafe { free_to(stringify!($free_to), Lookaside, $flavour, Entry) }
        }
    };
}

lookaside_list_exports!(
    Flavour::NonPaged,
    NON_PAGED_POOL,
    ExInitializeNPagedLookasideList,
    ExDeleteNPagedLookasideList,
    ExAllocateFromNPagedLookasideList,
    ExFreeToNPagedLookasideList
);

lookaside_list_exports!(
    Flavour::Paged,
    PAGED_POOL,
    ExInitializePagedLookasideList,
    ExDeletePagedLookasideList,
    ExAllocateFromPagedLookasideList,
    ExFreeToPagedLookasideList
);

// ----- LOOKASIDE_LIST_EX -----

/// `ExInitializeLookasideListEx`: `STATUS_INVALID_PARAMETER` for a NULL list.
#[no_mangle]
pub unsafe extern "C" fn ExInitializeLookasideListEx(
    Lookaside: *mut LOOKASIDE_STORAGE,
    AllocateEx: Option<AllocateExFn>,
    FreeEx: Option<FreeExFn>,
    PoolType: u32,
    Flags: ULONG,
    Size: SIZE_T,
    Tag: ULONG,
    Depth: USHORT,
) -> NTSTATUS {
    let _ = Flags;
    // SAFETY: the client's storage; the client's routines are function pointers.
    unsafe {
        init("ExInitializeLookasideListEx", Lookaside, Flavour::Ex, AllocateEx, FreeEx, PoolType, Size, Tag, Depth)
    }
}

#[no_mangle]
pub unsafe extern "C" fn ExDeleteLookasideListEx(Lookaside: *mut LOOKASIDE_STORAGE) {
    // SAFETY: the client's storage.
    unsafe { delete("ExDeleteLookasideListEx", Lookaside, Flavour::Ex) }
}

#[no_mangle]
pub unsafe extern "C" fn ExAllocateFromLookasideListEx(Lookaside: *mut LOOKASIDE_STORAGE) -> PVOID {
    // SAFETY: the client's storage.
    unsafe { allocate_from("ExAllocateFromLookasideListEx", Lookaside, Flavour::Ex) }
}

#[no_mangle]
pub unsafe extern "C" fn ExFreeToLookasideListEx(Lookaside: *mut LOOKASIDE_STORAGE, Entry: PVOID) {
    // SAFETY: the client's storage and block.
    unsafe { free_to("ExFreeToLookasideListEx", Lookaside, Flavour::Ex, Entry) }
}
