//! The bad-input suite (`tests/c/bad_input*.c`, under AddressSanitizer and UBSan): every C
//! entry point of libwsk with NULL, foreign, closed or wrong-category clients and sockets,
//! IRPs that are NULL or have no free stack location, defective `WSK_BUF`s, unknown flag
//! bits, bad family/type/protocol combinations, short or wrong-family SOCKADDRs, bad
//! control requests, the datagram table (control information, `WSK_BUF_LIST`s, the
//! datagram IOCTLs), and calls during and after `WskDeregister`. Each case asserts the
//! status of docs/C_ABI.md ("How the provider answers bad input") and that the IRP was
//! completed exactly once with it (or left untouched).

mod support;

use std::time::Duration;

use support::CBuild;

/// The C program's summary line: `bad_input: N cases, M failed`.
fn summary(out: &str) -> Option<(u64, u64)> {
    let line = out.lines().rev().find(|l| l.starts_with("bad_input: ") && l.ends_with(" failed"))?;
    let rest = line.strip_prefix("bad_input: ")?.strip_suffix(" failed")?;
    let (cases, failed) = rest.split_once(" cases, ")?;
    Some((cases.parse().ok()?, failed.parse().ok()?))
}

#[test]
fn bad_input_suite() {
    let exe = CBuild::strict_asan(
        "bad_input",
        &[
            "bad_input.c",
            "bad_input_client.c",
            "bad_input_dereg.c",
            "bad_input_socket.c",
            "bad_input_buf.c",
            "bad_input_control.c",
            "bad_input_datagram.c",
        ],
    )
    .build();
    let out = support::run_ok(&exe, &[], Duration::from_secs(120));
    let (cases, failed) = summary(&out).unwrap_or_else(|| panic!("no summary line in the output:\n{out}"));
    assert!(cases >= 500, "only {cases} cases:\n{out}");
    assert_eq!(failed, 0, "{failed} of {cases} cases failed:\n{out}");
}
