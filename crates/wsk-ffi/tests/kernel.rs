//! The kernel subset of libwsk through the C headers: `tests/c/kernel_test.c` (built with
//! AddressSanitizer and UBSan) exercises IRPs, MDLs, events and waits, threads, work items,
//! rundown protection, S-lists, spin locks, pool, lookaside lists and the Rtl routines. It
//! prints one line per failed check and exits 0 only if all passed.

mod support;

use std::time::Duration;

use support::CBuild;

#[test]
fn kernel_subset_from_c() {
    let exe = CBuild::strict_asan("kernel_test", &["kernel_test.c"]).build();
    let stdout = support::run_ok(&exe, &[], Duration::from_secs(60));
    assert!(stdout.contains("kernel_test: all"), "unexpected output:\n{stdout}");
}
