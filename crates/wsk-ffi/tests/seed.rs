//! The two code examples of the seed page "Receiving Data over a Connection-Oriented
//! Socket", compiled as written (`tests/c/seed_receive.c`, only the `...` placeholders
//! filled in), driven by `tests/c/seed_host.c` against a Rust peer on loopback, with
//! AddressSanitizer.
//!
//! The peer sends a first part, which the host receives with the first example's
//! `ReceiveData()` (WskReceive into an MDL-described buffer, `ReceiveComplete`); once the
//! host says it enabled `WskReceiveEvent`, the peer sends a second part, which must arrive
//! through the second example's callback. Then the host disconnects gracefully (the peer
//! reads end-of-stream), the peer closes, and the host's last `ReceiveData()` sees it.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::{CBuild, Spawned};

/// Sizes of the two parts: several WskReceive calls and several indications each.
const LEN_A: usize = 300_000;
const LEN_B: usize = 500_000;
const TIMEOUT: Duration = Duration::from_secs(120);

/// Byte `i` of a part: the C side's `SeedPattern(i, seed)`.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| ((i ^ (i >> 8) ^ (i >> 16)).wrapping_mul(151) as u8).wrapping_add(seed)).collect()
}

/// Accepts the host's connection, bounded in time (the host may fail before connecting).
fn accept(listener: &TcpListener, host: &mut Spawned) -> TcpStream {
    listener.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).expect("blocking");
                stream.set_read_timeout(Some(TIMEOUT)).expect("read timeout");
                stream.set_write_timeout(Some(TIMEOUT)).expect("write timeout");
                return stream;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if let Some(status) = host.try_wait() {
                    panic!("seed_host exited ({status}) before connecting; output:\n{}", host.output());
                }
                assert!(Instant::now() < deadline, "seed_host did not connect; output:\n{}", host.output());
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

#[test]
fn seed_examples_receive_from_a_loopback_peer() {
    let exe = CBuild {
        asan: true,
        flags: vec!["-Wall".into(), "-Werror".into()],
        ..CBuild::new("seed_host", &["seed_host.c", "seed_receive.c"])
    }
    .build();
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("port").port();

    let mut cmd = Command::new(&exe);
    cmd.args([port.to_string(), LEN_A.to_string(), LEN_B.to_string()]).stdin(Stdio::null());
    let mut host = Spawned::spawn("seed_host", cmd, Some("seed_host: FAIL"), TIMEOUT);

    let mut peer = accept(&listener, &mut host);
    // (a) the first example: ReceiveData() / ReceiveComplete.
    peer.write_all(&pattern(LEN_A, b'A')).expect("send the first part");
    host.expect(&format!("seed_host: receive OK {LEN_A} bytes"));
    // (b) the second example: WskReceiveEvent. Sent only once the callback is enabled.
    host.expect("seed_host: events enabled");
    peer.write_all(&pattern(LEN_B, b'B')).expect("send the second part");
    host.expect(&format!("seed_host: event OK {LEN_B} bytes"));
    // The host's graceful disconnect: end-of-stream, nothing else.
    let mut rest = Vec::new();
    peer.read_to_end(&mut rest).expect("read until the host's end-of-stream");
    assert!(rest.is_empty(), "{} unexpected bytes from the host", rest.len());
    drop(peer); // the host's last ReceiveData() completes with 0 bytes
    host.expect("seed_host: done");

    let (status, output) = host.finish(TIMEOUT);
    assert!(status.success(), "seed_host: {status}; output:\n{output}");
    assert!(!output.contains("FAIL"), "output:\n{output}");
    for step in ["connected to 127.0.0.1", "receive OK", "event OK", "disconnected", "peer closed", "done"] {
        assert!(output.contains(&format!("seed_host: {step}")), "no {step:?}; output:\n{output}");
    }
}
