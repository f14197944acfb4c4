//! How libwsk completes IRPs, seen from C (`tests/c/irp_semantics.c`, under
//! AddressSanitizer): inline completion returns the status and runs the routine before
//! the call returns; a pending call is marked pending; `IoCancelIrp` cancels a pending
//! receive; an IRP with two stack locations completes up through both; a close completes
//! after the socket's other IRPs; retained indications released element by element from
//! another thread, in reverse order, with the stream intact; completion routines that
//! re-send from inside themselves; a pending WskSocketConnect cancelled.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::CBuild;

#[test]
fn irp_semantics_from_c() {
    let exe = CBuild::strict_asan("irp_semantics", &["irp_semantics.c"]).build();
    // A listener whose accept queue is full (backlog 0, one connection waiting): the host
    // drops further SYNs, so a connect to it pends until cancelled.
    let silent = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    silent.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
    silent.listen(0).unwrap();
    let port = silent.local_addr().unwrap().as_socket().unwrap().port();
    let _filler = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let out = support::run_ok(&exe, &[&port.to_string()], Duration::from_secs(120));
    assert!(out.contains("irp_semantics: OK"), "{out}");
}
