//! IRQL and spin locks.
//!
//! **IRQL** is a per-thread number (`PASSIVE_LEVEL` 0, `APC_LEVEL` 1, `DISPATCH_LEVEL` 2…):
//! nothing is masked, but the bookkeeping lets clients keep their `KeGetCurrentIrql()`
//! assertions and lets libwsk report misuse (raising "down", lowering "up", a thread or
//! work item ending at raised IRQL).
//!
//! **Spin locks** (`KSPIN_LOCK`, a pointer-sized word in client memory, 0 when free) use
//! the low 32 bits of the word as a futex lock: 0 free, 1 held, 2 held with sleepers. A
//! contended acquire spins briefly, then sleeps in the kernel: a user-space holder can be
//! preempted, and pure spinning would then burn the other core for a whole time slice.
//! In-stack queued spin locks are the same lock; the handle records the lock and the IRQL.

use std::cell::Cell;
use std::sync::atomic::AtomicU32;

use crate::abi::{DISPATCH_LEVEL, KIRQL, KLOCK_QUEUE_HANDLE, KSPIN_LOCK, PASSIVE_LEVEL};
use crate::guard::guard;

use super::sync::{lock_word, try_lock_word, unlock_word};

thread_local! {
    static IRQL: Cell<KIRQL> = const { Cell::new(PASSIVE_LEVEL) };
}

/// The calling thread's IRQL.
#[inline]
pub fn current_irql() -> KIRQL {
    IRQL.with(|c| c.get())
}

/// Raises the calling thread's IRQL to at least `DISPATCH_LEVEL` (what acquiring a spin
/// lock does); returns the previous IRQL. One thread-local access.
pub fn raise_to_dpc() -> KIRQL {
    IRQL.with(|c| {
        let old = c.get();
        c.set(old.max(DISPATCH_LEVEL));
        old
    })
}

/// Sets the calling thread's IRQL without checks (for libwsk's own threads).
pub fn set_irql(irql: KIRQL) {
    IRQL.with(|c| c.set(irql));
}

/// `KfRaiseIrql`: returns the previous IRQL.
#[inline]
pub fn raise_irql(new: KIRQL) -> KIRQL {
    IRQL.with(|c| {
        let old = c.get();
        if new < old {
            kerror!("KeRaiseIrql to {new} from the higher IRQL {old} (Windows bug-checks: IRQL_NOT_GREATER_OR_EQUAL)");
        }
        c.set(new);
        old
    })
}

/// `KeLowerIrql`.
#[inline]
pub fn lower_irql(new: KIRQL) {
    IRQL.with(|c| {
        let old = c.get();
        if new > old {
            kerror!("KeLowerIrql to {new} from the lower IRQL {old} (Windows bug-checks: IRQL_NOT_LESS_OR_EQUAL)");
        }
        c.set(new);
    })
}

/// The lock word of a `KSPIN_LOCK`: its low 32 bits (x86-64 is little-endian).
///
/// # Safety
/// `lock` points to a live, 8-byte aligned `KSPIN_LOCK`.
#[inline]
unsafe fn word<'a>(lock: *mut KSPIN_LOCK) -> &'a AtomicU32 {
    // SAFETY: the KSPIN_LOCK is 8-aligned and live (caller), so its first 4 bytes are a
    // valid, aligned u32 that every user accesses atomically through libwsk.
    unsafe { AtomicU32::from_ptr(lock as *mut u32) }
}

/// Takes a `KSPIN_LOCK` without touching the IRQL.
///
/// # Safety
/// `lock` points to a live, initialized `KSPIN_LOCK`.
#[inline]
pub unsafe fn acquire(lock: *mut KSPIN_LOCK) {
    // SAFETY: per the caller.
    lock_word(unsafe { word(lock) });
}

/// Releases a `KSPIN_LOCK` taken with [`acquire`].
///
/// # Safety
/// `lock` points to a live `KSPIN_LOCK` held by the caller.
#[inline]
pub unsafe fn release(lock: *mut KSPIN_LOCK) {
    // SAFETY: per the caller.
    unlock_word(unsafe { word(lock) });
}

fn null_lock(name: &str) {
    kerror!("{name}: SpinLock is NULL (Windows would crash); ignored");
}

/// [`acquire`] of a client's lock; a NULL one is logged and ignored (Windows would crash).
///
/// # Safety
/// `lock` is NULL or the client's live `KSPIN_LOCK`.
unsafe fn acquire_checked(name: &str, lock: *mut KSPIN_LOCK) {
    if lock.is_null() {
        null_lock(name);
    } else {
        // SAFETY: non-NULL; per the caller.
        unsafe { acquire(lock) };
    }
}

/// [`release`] of a client's lock; a NULL one is logged and ignored.
///
/// # Safety
/// `lock` is NULL or the client's live `KSPIN_LOCK`, held by the caller.
unsafe fn release_checked(name: &str, lock: *mut KSPIN_LOCK) {
    if lock.is_null() {
        null_lock(name);
    } else {
        // SAFETY: non-NULL; per the caller.
        unsafe { release(lock) };
    }
}

#[no_mangle]
pub unsafe extern "C" fn KeGetCurrentIrql() -> KIRQL {
    guard("KeGetCurrentIrql", PASSIVE_LEVEL, current_irql)
}

#[no_mangle]
pub unsafe extern "C" fn KfRaiseIrql(NewIrql: KIRQL) -> KIRQL {
    guard("KfRaiseIrql", PASSIVE_LEVEL, || raise_irql(NewIrql))
}

/// `KeRaiseIrqlToDpcLevel` (a macro on x64 Windows; exported for headers that want it).
#[no_mangle]
pub unsafe extern "C" fn KeRaiseIrqlToDpcLevel() -> KIRQL {
    guard("KeRaiseIrqlToDpcLevel", PASSIVE_LEVEL, || raise_irql(DISPATCH_LEVEL))
}

#[no_mangle]
pub unsafe extern "C" fn KeLowerIrql(NewIrql: KIRQL) {
    guard("KeLowerIrql", (), || lower_irql(NewIrql))
}

/// Raises to `DISPATCH_LEVEL`, takes the lock, returns the previous IRQL.
#[no_mangle]
pub unsafe extern "C" fn KeAcquireSpinLockRaiseToDpc(SpinLock: *mut KSPIN_LOCK) -> KIRQL {
    guard("KeAcquireSpinLockRaiseToDpc", PASSIVE_LEVEL, || {
        let old = raise_to_dpc();
        // SAFETY: the client passes its KSPIN_LOCK (or NULL).
        unsafe { acquire_checked("KeAcquireSpinLockRaiseToDpc", SpinLock) };
        old
    })
}

/// Releases the lock and lowers the IRQL to `NewIrql`.
#[no_mangle]
pub unsafe extern "C" fn KeReleaseSpinLock(SpinLock: *mut KSPIN_LOCK, NewIrql: KIRQL) {
    guard("KeReleaseSpinLock", (), || {
        // SAFETY: the client holds this KSPIN_LOCK (or passes NULL).
        unsafe { release_checked("KeReleaseSpinLock", SpinLock) };
        lower_irql(NewIrql);
    })
}

/// Takes the lock; the caller is already at `DISPATCH_LEVEL` (not checked: Windows does
/// not check either).
#[no_mangle]
pub unsafe extern "C" fn KeAcquireSpinLockAtDpcLevel(SpinLock: *mut KSPIN_LOCK) {
    guard("KeAcquireSpinLockAtDpcLevel", (), || {
        // SAFETY: the client passes its KSPIN_LOCK (or NULL).
        unsafe { acquire_checked("KeAcquireSpinLockAtDpcLevel", SpinLock) };
    })
}

#[no_mangle]
pub unsafe extern "C" fn KeReleaseSpinLockFromDpcLevel(SpinLock: *mut KSPIN_LOCK) {
    guard("KeReleaseSpinLockFromDpcLevel", (), || {
        // SAFETY: the client holds this KSPIN_LOCK (or passes NULL).
        unsafe { release_checked("KeReleaseSpinLockFromDpcLevel", SpinLock) };
    })
}

/// `KeTryToAcquireSpinLockAtDpcLevel`: TRUE if the lock was free and is now held.
#[no_mangle]
pub unsafe extern "C" fn KeTryToAcquireSpinLockAtDpcLevel(SpinLock: *mut KSPIN_LOCK) -> u8 {
    guard("KeTryToAcquireSpinLockAtDpcLevel", 0, || {
        if SpinLock.is_null() {
            null_lock("KeTryToAcquireSpinLockAtDpcLevel");
            return 0;
        }
        // SAFETY: non-NULL; the client passes its KSPIN_LOCK.
        try_lock_word(unsafe { word(SpinLock) }) as u8
    })
}

#[no_mangle]
pub unsafe extern "C" fn KeAcquireInStackQueuedSpinLock(
    SpinLock: *mut KSPIN_LOCK,
    LockHandle: *mut KLOCK_QUEUE_HANDLE,
) {
    guard("KeAcquireInStackQueuedSpinLock", (), || {
        if LockHandle.is_null() {
            kerror!("KeAcquireInStackQueuedSpinLock: LockHandle is NULL (Windows would crash); ignored");
            return;
        }
        let old = raise_to_dpc();
        // SAFETY: LockHandle is non-NULL: the client's KLOCK_QUEUE_HANDLE.
        unsafe {
            (*LockHandle).LockQueue.Next = std::ptr::null_mut();
            (*LockHandle).LockQueue.Lock = SpinLock;
            (*LockHandle).OldIrql = old;
        }
        // SAFETY: the client passes its KSPIN_LOCK (or NULL).
        unsafe { acquire_checked("KeAcquireInStackQueuedSpinLock", SpinLock) };
    })
}

#[no_mangle]
pub unsafe extern "C" fn KeReleaseInStackQueuedSpinLock(LockHandle: *mut KLOCK_QUEUE_HANDLE) {
    guard("KeReleaseInStackQueuedSpinLock", (), || {
        if LockHandle.is_null() {
            kerror!("KeReleaseInStackQueuedSpinLock: LockHandle is NULL (Windows would crash); ignored");
            return;
        }
        // SAFETY: LockHandle is non-NULL: the handle filled in by the acquire.
        let (lock, old) = unsafe { ((*LockHandle).LockQueue.Lock, (*LockHandle).OldIrql) };
        if !lock.is_null() {
            // SAFETY: the lock recorded by KeAcquireInStackQueuedSpinLock, held by the caller.
            unsafe { release(lock) };
        }
        lower_irql(old);
    })
}

/// Takes the lock at `DISPATCH_LEVEL` (the IRQL is not changed; `OldIrql` is not used).
#[no_mangle]
pub unsafe extern "C" fn KeAcquireInStackQueuedSpinLockAtDpcLevel(
    SpinLock: *mut KSPIN_LOCK,
    LockHandle: *mut KLOCK_QUEUE_HANDLE,
) {
    guard("KeAcquireInStackQueuedSpinLockAtDpcLevel", (), || {
        if !LockHandle.is_null() {
            // SAFETY: non-NULL: the client's KLOCK_QUEUE_HANDLE.
            unsafe {
                (*LockHandle).LockQueue.Next = std::ptr::null_mut();
                (*LockHandle).LockQueue.Lock = SpinLock;
                (*LockHandle).OldIrql = current_irql();
            }
        }
        // SAFETY: the client passes its KSPIN_LOCK (or NULL).
        unsafe { acquire_checked("KeAcquireInStackQueuedSpinLockAtDpcLevel", SpinLock) };
    })
}

#[no_mangle]
pub unsafe extern "C" fn KeReleaseInStackQueuedSpinLockFromDpcLevel(LockHandle: *mut KLOCK_QUEUE_HANDLE) {
    guard("KeReleaseInStackQueuedSpinLockFromDpcLevel", (), || {
        if LockHandle.is_null() {
            kerror!("KeReleaseInStackQueuedSpinLockFromDpcLevel: LockHandle is NULL; ignored");
            return;
        }
        // SAFETY: non-NULL: the handle filled in by the acquire.
        let lock = unsafe { (*LockHandle).LockQueue.Lock };
        if !lock.is_null() {
            // SAFETY: the lock recorded by the acquire, held by the caller.
            unsafe { release(lock) };
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raise_and_lower() {
        assert_eq!(current_irql(), PASSIVE_LEVEL);
        let old = raise_irql(DISPATCH_LEVEL);
        assert_eq!(old, PASSIVE_LEVEL);
        assert_eq!(current_irql(), DISPATCH_LEVEL);
        lower_irql(old);
        assert_eq!(current_irql(), PASSIVE_LEVEL);
    }
}
