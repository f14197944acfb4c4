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

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use support::CBuild;

/// Sizes of the two parts: several WskReceive calls and several indications each.
const LEN_A: usize = 300_000;
const LEN_B: usize = 500_000;
const TIMEOUT: Duration = Duration::from_secs(120);

/// Byte `i` of a part: the C side's `SeedPattern(i, seed)`.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| ((i ^ (i >> 8) ^ (i >> 16)).wrapping_mul(151) as u8).wrapping_add(seed)).collect()
}

/// The host process; its stdout and stderr lines on one channel. Killed when dropped.
struct Host {
    child: Child,
    lines: Receiver<String>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Host {
    fn output(&self) -> String {
        self.log.lock().unwrap_or_else(PoisonError::into_inner).join("\n")
    }

    /// Waits for a line containing `needle`; fails at a "FAIL" line, exit or timeout.
    fn expect(&self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) if line.contains("seed_host: FAIL") => panic!("{line}\noutput:\n{}", self.output()),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no {needle:?} within {TIMEOUT:?}; output:\n{}", self.output())
                }
                Err(RecvTimeoutError::Disconnected) => panic!("exited before {needle:?}; output:\n{}", self.output()),
            }
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Accepts the host's connection, bounded in time (the host may fail before connecting).
fn accept(listener: &TcpListener, host: &mut Host) -> TcpStream {
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
                if let Some(status) = host.child.try_wait().expect("try_wait") {
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

    let mut child = Command::new(&exe)
        .args([port.to_string(), LEN_A.to_string(), LEN_B.to_string()])
        .env("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0:halt_on_error=1")
        .env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start seed_host");
    let (tx, lines) = channel();
    let log = Arc::new(Mutex::new(Vec::new()));
    let streams: [Box<dyn Read + Send>; 2] =
        [Box::new(child.stdout.take().expect("stdout")), Box::new(child.stderr.take().expect("stderr"))];
    let readers: Vec<_> = streams
        .into_iter()
        .map(|stream| {
            let (tx, log) = (tx.clone(), Arc::clone(&log));
            thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    log.lock().unwrap_or_else(PoisonError::into_inner).push(line.clone());
                    let _ = tx.send(line);
                }
            })
        })
        .collect();
    drop(tx);
    let mut host = Host { child, lines, log };

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

    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = host.child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "seed_host did not exit; output:\n{}", host.output());
        thread::sleep(Duration::from_millis(10));
    };
    for reader in readers {
        let _ = reader.join();
    }
    let output = host.output();
    assert!(status.success(), "seed_host: {status}; output:\n{output}");
    assert!(!output.contains("FAIL"), "output:\n{output}");
    for step in ["connected to 127.0.0.1", "receive OK", "event OK", "disconnected", "peer closed", "done"] {
        assert!(output.contains(&format!("seed_host: {step}")), "no {step:?}; output:\n{output}");
    }
}
