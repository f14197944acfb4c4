//! `WskControlSocket` from C (`tests/c/control.c`, under AddressSanitizer): basic sockets
//! of both transports probing options, listener options applied at bind and inherited by
//! accepted sockets, the option rules (family, before bind, exclusive use), connection
//! options read back, SIO_ADDRESS_LIST_QUERY (overflow with the needed size, then the
//! list), SIO_ADDRESS_LIST_CHANGE pending until IoCancelIrp or close.

mod support;

use std::time::Duration;

use support::CBuild;

#[test]
fn socket_control_from_c() {
    let exe = CBuild::strict_asan("control", &["control.c"]).build();
    // Whether this host has ::1 decides what the IPv6 address list must contain.
    let v6_loopback = std::net::UdpSocket::bind("[::1]:0").is_ok();
    let arg = if v6_loopback { "1" } else { "0" };
    let out = support::run_ok(&exe, &[arg], Duration::from_secs(120));
    assert!(out.contains("control: OK"), "{out}");
}
