//! Event callbacks of connection sockets and the options around them, seen from C
//! (`tests/c/event_semantics.c`, under AddressSanitizer): WskDisconnectEvent flags for a
//! graceful and an abortive peer (with the receives and the NULL indication that go with
//! them); a graceful WskDisconnect with a final buffer; partial and refused receive
//! indications and how a WskReceive re-arms them, byte-exact; disabling WSK_EVENT_RECEIVE
//! idle and while the callback runs (STATUS_EVENT_PENDING, or an IRP completed after the
//! callback returned); SIO_WSK_QUERY_IDEAL_SEND_BACKLOG and SIO_WSK_QUERY_RECEIVE_BACKLOG;
//! WskSendBacklogEvent; TCP_NODELAY and a dual-stack IPv6 listener (IPV6_V6ONLY 0).

mod support;

use std::time::Duration;

use support::CBuild;

#[test]
fn event_semantics_from_c() {
    let exe = CBuild::strict_asan("event_semantics", &["event_semantics.c"]).build();
    let out = support::run_ok(&exe, &[], Duration::from_secs(120));
    assert!(out.contains("event_semantics: OK"), "{out}");
}
