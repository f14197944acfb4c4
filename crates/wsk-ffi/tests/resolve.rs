//! Name resolution and client control seen from C (`tests/c/resolve.c`, under
//! AddressSanitizer and UBSan): WskGetAddressInfo results in Windows layout for IPv4 and
//! IPv6 (numeric addresses, localhost with its canonical name, type hints), NULL IRP,
//! unresolvable names (STATUS_NOT_FOUND), bad input, WskFreeAddressInfo of what was
//! returned only, IoCancelIrp of lookups, WskGetNameInfo into UNICODE_STRINGs (exact and
//! too small buffers), and WskControlClient: the transport list (overflow with the size
//! needed), WSK_TRANSPORT_LIST_CHANGE pending until IoCancelIrp or WskDeregister cancels
//! it, WSK_CACHE_SD / WSK_RELEASE_SD, WSK_TDI_BEHAVIOR, and static event callbacks refused
//! once a socket exists.

mod support;

use std::time::Duration;

use support::CBuild;

#[test]
fn resolve_and_client_control_from_c() {
    let exe = CBuild::strict_asan("resolve", &["resolve.c"]).build();
    let out = support::run_ok(&exe, &[], Duration::from_secs(120));
    assert!(out.contains("resolve: OK"), "{out}");
}
