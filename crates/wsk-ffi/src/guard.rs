//! The panic boundary every exported function goes through.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::abi::NTSTATUS;
use crate::status::STATUS_INTERNAL_ERROR;

/// Runs `f`; a panic inside becomes `on_panic` (logged) instead of unwinding into C
/// (for NTSTATUS functions, `STATUS_INTERNAL_ERROR`: libwsk itself failed, a bug).
#[inline]
pub fn guard<T>(name: &'static str, on_panic: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(e) => {
            report(name, e);
            on_panic
        }
    }
}

/// Says on stderr that `name` panicked (kept out of line: the guard stays small).
#[cold]
#[inline(never)]
fn report(name: &'static str, e: Box<dyn std::any::Any + Send>) {
    let msg = e
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| e.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    tracing::error!("libwsk: {name} failed internally: {msg}");
    eprintln!("libwsk: internal error in {name}: {msg}");
}

/// [`guard`] for functions returning an NTSTATUS.
#[inline]
pub fn guard_status(name: &'static str, f: impl FnOnce() -> NTSTATUS) -> NTSTATUS {
    guard(name, STATUS_INTERNAL_ERROR, f)
}
