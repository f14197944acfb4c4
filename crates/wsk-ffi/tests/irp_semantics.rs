//! How libwsk completes IRPs, seen from C (`tests/c/irp_semantics.c`, under
//! AddressSanitizer): inline completion returns the status and runs the routine before
//! the call returns; a pending call is marked pending; `IoCancelIrp` cancels a pending
//! receive; an IRP with two stack locations completes up through both; a close completes
//! after the socket's other IRPs; retained indications released element by element from
//! another thread, in reverse order, with the stream intact.

mod support;

use std::time::Duration;

use support::CBuild;

#[test]
fn irp_semantics_from_c() {
    let exe = CBuild {
        asan: true,
        flags: vec!["-Wall".into(), "-Wextra".into(), "-Werror".into()],
        ..CBuild::new("irp_semantics", &["irp_semantics.c"])
    }
    .build();
    let out = support::run_ok(&exe, &[], Duration::from_secs(120));
    assert!(out.contains("irp_semantics: OK"), "{out}");
}
