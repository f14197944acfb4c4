//! Rundown protection (`EX_RUNDOWN_REF`).
//!
//! The reference's `Count` word holds `references * 2`, plus bit 0 once a rundown has begun
//! (`ExWaitForRundownProtectionRelease`): from then on acquisitions fail, and the waiter
//! sleeps on the word's low 32 bits (a futex) until the last release wakes it. The
//! completed state is `Count == 1`, as on Windows.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::abi::{BOOLEAN, DISPATCH_LEVEL, EX_RUNDOWN_REF, ULONG};
use crate::guard::guard;

use super::spinlock::current_irql;
use super::sync::{futex_wait, futex_wake};

const ACTIVE: usize = 1;
const ONE: usize = 2;

/// # Safety
/// `r` points to a live, 8-aligned `EX_RUNDOWN_REF`.
unsafe fn count<'a>(r: *mut EX_RUNDOWN_REF) -> &'a AtomicUsize {
    // SAFETY: per the caller; the word is only accessed atomically through libwsk.
    unsafe { AtomicUsize::from_ptr(r as *mut usize) }
}

fn null_ref(name: &str) {
    kerror!("{name}: RunRef is NULL (Windows would crash); ignored");
}

/// Acquires `n` references unless a rundown has begun.
///
/// # Safety
/// `r` points to a live `EX_RUNDOWN_REF`.
pub unsafe fn acquire(r: *mut EX_RUNDOWN_REF, n: usize) -> bool {
    // SAFETY: per the caller.
    let c = unsafe { count(r) };
    let add = n.saturating_mul(ONE);
    let mut v = c.load(Ordering::Relaxed);
    loop {
        if v & ACTIVE != 0 {
            return false;
        }
        let Some(new) = v.checked_add(add) else { return false };
        match c.compare_exchange_weak(v, new, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(cur) => v = cur,
        }
    }
}

/// Releases `n` references; wakes the rundown waiter after the last one.
///
/// # Safety
/// `r` points to a live `EX_RUNDOWN_REF` on which the caller holds `n` references.
pub unsafe fn release(r: *mut EX_RUNDOWN_REF, n: usize) {
    // SAFETY: per the caller.
    let c = unsafe { count(r) };
    let sub = n.saturating_mul(ONE);
    let mut v = c.load(Ordering::Relaxed);
    loop {
        if v < sub + (v & ACTIVE) {
            kerror!("ExReleaseRundownProtection: released more references than acquired (Count {v:#x}, releasing {n}); ignored");
            return;
        }
        match c.compare_exchange_weak(v, v - sub, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => break,
            Err(cur) => v = cur,
        }
    }
    if v - sub == ACTIVE {
        futex_wake(r as *const u32, i32::MAX);
    }
}

#[no_mangle]
pub unsafe extern "C" fn ExInitializeRundownProtection(RunRef: *mut EX_RUNDOWN_REF) {
    guard("ExInitializeRundownProtection", (), || {
        if RunRef.is_null() {
            return null_ref("ExInitializeRundownProtection");
        }
        // SAFETY: the client's EX_RUNDOWN_REF.
        unsafe { count(RunRef) }.store(0, Ordering::SeqCst);
    })
}

/// `ExReInitializeRundownProtection`: makes a completed rundown reference usable again.
#[no_mangle]
pub unsafe extern "C" fn ExReInitializeRundownProtection(RunRef: *mut EX_RUNDOWN_REF) {
    guard("ExReInitializeRundownProtection", (), || {
        if RunRef.is_null() {
            return null_ref("ExReInitializeRundownProtection");
        }
        // SAFETY: the client's EX_RUNDOWN_REF.
        let c = unsafe { count(RunRef) };
        let v = c.swap(0, Ordering::SeqCst);
        if v != ACTIVE && v != 0 {
            kwarn!("ExReInitializeRundownProtection: rundown reference was not run down (Count {v:#x})");
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn ExAcquireRundownProtection(RunRef: *mut EX_RUNDOWN_REF) -> BOOLEAN {
    guard("ExAcquireRundownProtection", 0, || {
        if RunRef.is_null() {
            null_ref("ExAcquireRundownProtection");
            return 0;
        }
        // SAFETY: the client's EX_RUNDOWN_REF.
        unsafe { acquire(RunRef, 1) as BOOLEAN }
    })
}

#[no_mangle]
pub unsafe extern "C" fn ExReleaseRundownProtection(RunRef: *mut EX_RUNDOWN_REF) {
    guard("ExReleaseRundownProtection", (), || {
        if RunRef.is_null() {
            return null_ref("ExReleaseRundownProtection");
        }
        // SAFETY: the client's EX_RUNDOWN_REF.
        unsafe { release(RunRef, 1) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn ExAcquireRundownProtectionEx(RunRef: *mut EX_RUNDOWN_REF, Count: ULONG) -> BOOLEAN {
    guard("ExAcquireRundownProtectionEx", 0, || {
        if RunRef.is_null() {
            null_ref("ExAcquireRundownProtectionEx");
            return 0;
        }
        // SAFETY: the client's EX_RUNDOWN_REF.
        unsafe { acquire(RunRef, Count as usize) as BOOLEAN }
    })
}

#[no_mangle]
pub unsafe extern "C" fn ExReleaseRundownProtectionEx(RunRef: *mut EX_RUNDOWN_REF, Count: ULONG) {
    guard("ExReleaseRundownProtectionEx", (), || {
        if RunRef.is_null() {
            return null_ref("ExReleaseRundownProtectionEx");
        }
        // SAFETY: the client's EX_RUNDOWN_REF.
        unsafe { release(RunRef, Count as usize) }
    })
}

/// `ExWaitForRundownProtectionRelease`: from now on acquisitions fail; returns once every
/// reference is released.
#[no_mangle]
pub unsafe extern "C" fn ExWaitForRundownProtectionRelease(RunRef: *mut EX_RUNDOWN_REF) {
    guard("ExWaitForRundownProtectionRelease", (), || {
        if RunRef.is_null() {
            return null_ref("ExWaitForRundownProtectionRelease");
        }
        if current_irql() >= DISPATCH_LEVEL {
            kerror!(
                "ExWaitForRundownProtectionRelease at IRQL {} (Windows bug-checks); waiting anyway",
                current_irql()
            );
        }
        // SAFETY: the client's EX_RUNDOWN_REF.
        let c = unsafe { count(RunRef) };
        let mut v = c.fetch_or(ACTIVE, Ordering::SeqCst) | ACTIVE;
        while v != ACTIVE {
            // SAFETY: the low 32 bits of the live word.
            unsafe { futex_wait(RunRef as *const u32, v as u32, None) };
            v = c.load(Ordering::SeqCst);
        }
    })
}

/// `ExRundownCompleted`: marks the rundown complete (`Count` = 1).
#[no_mangle]
pub unsafe extern "C" fn ExRundownCompleted(RunRef: *mut EX_RUNDOWN_REF) {
    guard("ExRundownCompleted", (), || {
        if RunRef.is_null() {
            return null_ref("ExRundownCompleted");
        }
        // SAFETY: the client's EX_RUNDOWN_REF.
        unsafe { count(RunRef) }.store(ACTIVE, Ordering::SeqCst);
    })
}
