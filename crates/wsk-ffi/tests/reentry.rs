//! Completion routines that call back into WSK from inside the provider call that
//! completed their IRP inline (`tests/c/reentry.c`, under AddressSanitizer): a lookup
//! failing at once whose routine creates a socket whose routine closes it, and WskSocket
//! called from WskSocket's routine. None of them may deadlock.

mod support;

use std::time::Duration;

use support::CBuild;

#[test]
fn completion_routines_may_call_wsk_inline() {
    let exe = CBuild::strict_asan("reentry", &["reentry.c"]).build();
    let out = support::run_ok(&exe, &[], Duration::from_secs(60));
    assert!(out.contains("reentry: OK"), "{out}");
}
