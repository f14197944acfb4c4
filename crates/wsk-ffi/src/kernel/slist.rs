//! Interlocked singly linked lists (`SLIST_HEADER`).
//!
//! Not lock-free: each header is protected by one of 64 futex locks chosen by the
//! header's address (held for a few instructions). The header keeps the first entry in
//! `Next`, the depth in `Depth` and a change counter in `Sequence`; an all-zero header
//! (`InitializeSListHead`) is an empty list. Entries are linked through their first word.

use std::ptr::{addr_of_mut, null_mut};
use std::sync::atomic::AtomicU32;

use crate::abi::{SLIST_ENTRY, SLIST_HEADER, USHORT};
use crate::guard::guard;

use super::sync::{lock_word, unlock_word};

const STRIPES: usize = 64;

#[allow(clippy::declare_interior_mutable_const)]
const UNLOCKED: AtomicU32 = AtomicU32::new(0);
static LOCKS: [AtomicU32; STRIPES] = [UNLOCKED; STRIPES];

fn stripe(head: *mut SLIST_HEADER) -> &'static AtomicU32 {
    let i = ((head as u64 >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize % STRIPES;
    &LOCKS[i]
}

/// Runs `f` with the header's lock held.
fn locked<R>(head: *mut SLIST_HEADER, f: impl FnOnce() -> R) -> R {
    let l = stripe(head);
    lock_word(l);
    let r = f();
    unlock_word(l);
    r
}

fn null_head(name: &str) {
    kerror!("{name}: ListHead is NULL (Windows would crash); ignored");
}

/// Pushes `entry`; returns the previous first entry.
///
/// # Safety
/// `head` points to a live `SLIST_HEADER`; `entry` to a writable entry not in any list.
pub unsafe fn push(head: *mut SLIST_HEADER, entry: *mut SLIST_ENTRY) -> *mut SLIST_ENTRY {
    // SAFETY: per the caller; the header is only changed under its stripe lock.
    locked(head, || unsafe {
        let old = (*head).Next;
        (*entry).Next = old;
        (*head).Next = entry;
        (*head).Depth = (*head).Depth.wrapping_add(1);
        (*head).Sequence = (*head).Sequence.wrapping_add(1);
        old
    })
}

/// Pops the first entry, or NULL.
///
/// # Safety
/// `head` points to a live `SLIST_HEADER` whose entries are live.
pub unsafe fn pop(head: *mut SLIST_HEADER) -> *mut SLIST_ENTRY {
    // SAFETY: per the caller; the header is only changed under its stripe lock.
    locked(head, || unsafe {
        let first = (*head).Next;
        if !first.is_null() {
            (*head).Next = (*first).Next;
            (*head).Depth = (*head).Depth.wrapping_sub(1);
            (*head).Sequence = (*head).Sequence.wrapping_add(1);
        }
        first
    })
}

#[no_mangle]
pub unsafe extern "C" fn InterlockedPushEntrySList(
    ListHead: *mut SLIST_HEADER,
    ListEntry: *mut SLIST_ENTRY,
) -> *mut SLIST_ENTRY {
    guard("InterlockedPushEntrySList", null_mut(), || {
        if ListHead.is_null() || ListEntry.is_null() {
            null_head("InterlockedPushEntrySList (or ListEntry)");
            return null_mut();
        }
        // SAFETY: the client's header and entry.
        unsafe { push(ListHead, ListEntry) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn InterlockedPopEntrySList(ListHead: *mut SLIST_HEADER) -> *mut SLIST_ENTRY {
    guard("InterlockedPopEntrySList", null_mut(), || {
        if ListHead.is_null() {
            null_head("InterlockedPopEntrySList");
            return null_mut();
        }
        // SAFETY: the client's header.
        unsafe { pop(ListHead) }
    })
}

/// `InterlockedFlushSList`: empties the list; returns the former first entry (the chain).
#[no_mangle]
pub unsafe extern "C" fn InterlockedFlushSList(ListHead: *mut SLIST_HEADER) -> *mut SLIST_ENTRY {
    guard("InterlockedFlushSList", null_mut(), || {
        if ListHead.is_null() {
            null_head("InterlockedFlushSList");
            return null_mut();
        }
        // SAFETY: the client's header, changed under its stripe lock.
        locked(ListHead, || unsafe {
            let first = (*ListHead).Next;
            (*ListHead).Next = null_mut();
            (*ListHead).Depth = 0;
            (*ListHead).Sequence = (*ListHead).Sequence.wrapping_add(1);
            first
        })
    })
}

#[no_mangle]
pub unsafe extern "C" fn QueryDepthSList(ListHead: *mut SLIST_HEADER) -> USHORT {
    guard("QueryDepthSList", 0, || {
        if ListHead.is_null() {
            null_head("QueryDepthSList");
            return 0;
        }
        // SAFETY: the client's header, read under its stripe lock.
        locked(ListHead, || unsafe { addr_of_mut!((*ListHead).Depth).read() })
    })
}

/// `ExQueryDepthSList` (what `QueryDepthSList` expands to in some headers).
#[no_mangle]
pub unsafe extern "C" fn ExQueryDepthSList(ListHead: *mut SLIST_HEADER) -> USHORT {
    // SAFETY: same contract.
    unsafe { QueryDepthSList(ListHead) }
}

/// `InitializeSListHead` (inline in Windows' headers; exported too).
#[no_mangle]
pub unsafe extern "C" fn InitializeSListHead(ListHead: *mut SLIST_HEADER) {
    guard("InitializeSListHead", (), || {
        if ListHead.is_null() {
            return null_head("InitializeSListHead");
        }
        // SAFETY: the client's header.
        unsafe { ListHead.write_bytes(0, 1) };
    })
}
