//! Datagram sockets from C (`tests/c/datagram.c`, under AddressSanitizer and UBSan), IPv4
//! and IPv6 on loopback: the state rules around bind, WskSendTo / WskReceiveFrom round trips
//! (MDL chains, an empty datagram, MSG_TRUNC), IP_PKTINFO / IPV6_PKTINFO both ways
//! (ControlLength NULL, MSG_CTRUNC, a chosen source), SIO_WSK_SET_REMOTE_ADDRESS and
//! SIO_WSK_SET_SENDTO_ADDRESS, WskSendMessages, the WskReceiveFromEvent outcomes (accepted;
//! pending and released in pieces from a system thread; not accepted, dynamic and static),
//! pending receives before the event, IoCancelIrp, close with pending receives, closed
//! handles and the tables of the other category.

mod support;

use std::time::Duration;

use support::CBuild;

#[test]
fn datagram_sockets_from_c() {
    let exe = CBuild::strict_asan("datagram", &["datagram.c"]).build();
    // SAFETY: the argument is a NUL-terminated string literal.
    let lo = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
    assert_ne!(lo, 0, "no loopback interface");
    let out = support::run_ok(&exe, &[&lo.to_string()], Duration::from_secs(180));
    assert!(out.contains("datagram: OK"), "{out}");
}
