//! Stream sockets and conditional accept, seen from C (`tests/c/stream_cond.c`, under
//! AddressSanitizer and UBSan), IPv4 and IPv6: WskSocket(WSK_FLAG_STREAM_SOCKET) with a
//! WSK_CLIENT_STREAM_DISPATCH and the stream provider table (WskBind, WskListen, WskAccept,
//! WskConnect, WskConnectEx, WskSend, WskReceive, WskGetRemoteAddress, WskDisconnect), the
//! roles' STATUS_INVALID_DEVICE_STATE before and across the commit, an address in use at
//! bind; SO_CONDITIONAL_ACCEPT (rules, get), WskInspectEvent accept / reject / pend,
//! WskInspectComplete and its errors, WskAbortEvent on a pended peer's reset,
//! SIO_WSK_QUERY_INSPECT_ID, and conditional accept on a stream socket.

mod support;

use std::time::Duration;

use support::CBuild;

#[test]
fn stream_sockets_and_conditional_accept_from_c() {
    let exe = CBuild::strict_asan("stream_cond", &["stream_cond.c"]).build();
    let out = support::run_ok(&exe, &[], Duration::from_secs(120));
    assert!(out.contains("stream_cond: OK"), "{out}");
}
