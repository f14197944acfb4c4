//! The C examples of `examples/c/` against real sockets on loopback: the event-driven echo
//! driver (`echo_driver.c`) and the wskbsd client driver (`bsd_echo_client.c` over
//! `wskbsd.c`), each linked into `tests/c/drvhost.c` with AddressSanitizer.
//!
//! - the echo driver serves Rust peers: parallel connections with random-sized messages,
//!   a connection the peer resets, one still open when the driver unloads;
//! - the echo driver's flow control holds off a peer that sends 32 MiB before reading;
//! - the client driver talks to the echo driver (two drvhost processes);
//! - the client driver talks to a Rust echo server;
//! - both drivers, built as shared objects, under `wsk run`: its leak report must be clean.
//!
//! Every child process is bounded in time and killed on timeout; the tests synchronize on
//! the lines the drivers print (DbgPrint, drvhost's own lines), never on sleeps.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::mpsc::channel;
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::Duration;

use support::drivers::{driver_so, drvhost_with, Driver};

/// Socket read/write timeout of the Rust peers.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// drvhost + echo_driver.c, with ASan (built once per test binary).
fn echo_host() -> PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| drvhost_with("drvhost_echo_driver", &["echo_driver.c"])).clone()
}

/// drvhost + bsd_echo_client.c + wskbsd.c, with ASan (built once per test binary).
fn client_host() -> PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| drvhost_with("drvhost_bsd_echo_client", &["bsd_echo_client.c", "wskbsd.c"])).clone()
}

/// The port of "echo_driver: listening on port N".
fn listening_port(driver: &Driver) -> u16 {
    driver.listening_port("echo_driver")
}

/// The number after `key ` in the driver's unload summary.
fn summary_value(summary: &str, key: &str) -> u64 {
    let rest = summary.split(&format!(" {key} ")).nth(1).unwrap_or_else(|| panic!("no {key:?} in {summary:?}"));
    rest.split(|c: char| !c.is_ascii_digit()).next().and_then(|n| n.parse().ok()).expect("a number")
}

/// The echo driver's "unloaded: ..." line.
fn echo_summary(output: &str) -> &str {
    output
        .lines()
        .find(|l| l.contains("echo_driver: unloaded:"))
        .unwrap_or_else(|| panic!("no unload summary; output:\n{output}"))
}

/// xorshift64*: reproducible message sizes and contents.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
}

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the echo driver");
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
    stream.set_write_timeout(Some(IO_TIMEOUT)).expect("write timeout");
    stream
}

/// Sends `data`, reads as many bytes back and checks they are the same.
fn exchange(stream: &mut TcpStream, data: &[u8], what: &str) {
    stream.write_all(data).unwrap_or_else(|e| panic!("{what}: send {} bytes: {e}", data.len()));
    let mut echo = vec![0u8; data.len()];
    stream.read_exact(&mut echo).unwrap_or_else(|e| panic!("{what}: read the echo of {} bytes: {e}", data.len()));
    if let Some(i) = data.iter().zip(&echo).position(|(a, b)| a != b) {
        panic!("{what}: echo of {} bytes differs at byte {i}: {:#04x}, sent {:#04x}", data.len(), echo[i], data[i]);
    }
}

/// One peer: `messages` random-sized messages (1 byte to 256 KiB), then a graceful close
/// that the driver answers with its own. Returns the bytes echoed.
fn echo_session(port: u16, seed: u64, messages: usize) -> u64 {
    let mut stream = connect(port);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (seed + 1));
    let mut total = 0u64;
    for m in 0..messages {
        let len = 1 + match rng.below(10) {
            0 => rng.below(16),
            1..=5 => rng.below(16 * 1024),
            6..=8 => rng.below(100_000),
            _ => rng.below(256 * 1024),
        };
        let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        exchange(&mut stream, &data, &format!("peer {seed} message {m}"));
        total += len as u64;
    }
    stream.shutdown(Shutdown::Write).expect("shutdown");
    let mut rest = [0u8; 64];
    match stream.read(&mut rest) {
        Ok(0) => total,
        Ok(n) => panic!("peer {seed}: {n} bytes after the last echo"),
        Err(e) => panic!("peer {seed}: the driver did not close its side gracefully: {e}"),
    }
}

/// A peer that resets its connection (SO_LINGER 0, close) after one exchange.
fn reset_session(port: u16) -> u64 {
    let mut stream = connect(port);
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    exchange(&mut stream, &data, "resetting peer");
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: setsockopt on a socket this function owns, with a valid `linger` of the
    // size passed.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER");
    drop(stream); // RST
    data.len() as u64
}

#[test]
fn echo_driver_serves_rust_peers() {
    let driver = Driver::start("echo_driver", &echo_host(), &[("WSK_ECHO_PORT", "0".into())]);
    let port = listening_port(&driver);

    // One connection stays open across the unload: the driver must close it.
    let mut idle = connect(port);
    exchange(&mut idle, b"still here", "idle peer");

    let peers: Vec<_> = (0..4u64).map(|seed| thread::spawn(move || echo_session(port, seed, 24))).collect();
    let reset = thread::spawn(move || reset_session(port));
    let mut bytes = 10u64;
    for peer in peers {
        bytes += peer.join().unwrap_or_else(|_| panic!("a peer failed; driver output:\n{}", driver.output()));
    }
    bytes += reset.join().unwrap_or_else(|_| panic!("the resetting peer failed; output:\n{}", driver.output()));

    let (status, output) = driver.unload();
    assert!(status.success(), "echo_driver in drvhost: {status}; output:\n{output}");
    assert!(output.contains("drvhost: unloaded"), "output:\n{output}");
    let mut rest = [0u8; 16];
    match idle.read(&mut rest) {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("the connection open at unload: {other:?}; output:\n{output}"),
    }

    let summary = echo_summary(&output);
    assert_eq!(summary_value(summary, "connections"), 6, "{summary}");
    assert_eq!(summary_value(summary, "bytes"), bytes, "{summary}");
    assert_eq!(summary_value(summary, "send-failures"), 0, "{summary}\n{output}");
    assert_eq!(summary_value(summary, "errors"), 0, "{summary}\n{output}");
}

#[test]
fn echo_driver_applies_flow_control_to_a_peer_that_does_not_read() {
    // Far more than loopback's socket buffers hold: the driver must stop taking data
    // (STATUS_DATA_NOT_ACCEPTED) and take it again later (zero-length WskReceive).
    const LEN: usize = 32 << 20;
    let driver = Driver::start("echo_driver", &echo_host(), &[("WSK_ECHO_PORT", "0".into())]);
    let port = listening_port(&driver);
    let mut stream = connect(port);
    let mut rng = Rng(7);
    let data: Arc<Vec<u8>> = Arc::new((0..LEN).map(|_| rng.next() as u8).collect());
    let mut writer = stream.try_clone().expect("clone");
    let sent = Arc::clone(&data);
    let write = thread::spawn(move || {
        writer.write_all(&sent).expect("send everything");
        writer.shutdown(Shutdown::Write).expect("shutdown");
    });

    // Nothing is read until the driver said it stopped taking data.
    driver.wait_for(&["flow control on"]);
    let mut echo = vec![0u8; LEN];
    stream.read_exact(&mut echo).unwrap_or_else(|e| panic!("read the echo: {e}; output:\n{}", driver.output()));
    if let Some(i) = data.iter().zip(&echo).position(|(a, b)| a != b) {
        panic!("the echo differs at byte {i}");
    }
    let mut rest = [0u8; 16];
    assert_eq!(stream.read(&mut rest).expect("the driver's end-of-stream"), 0);
    write.join().expect("writer");

    let (status, output) = driver.unload();
    assert!(status.success(), "echo_driver in drvhost: {status}; output:\n{output}");
    let summary = echo_summary(&output);
    assert!(summary_value(summary, "throttled") > 0, "{summary}");
    assert_eq!(summary_value(summary, "bytes"), LEN as u64, "{summary}");
    assert_eq!(summary_value(summary, "send-failures"), 0, "{summary}\n{output}");
    assert_eq!(summary_value(summary, "errors"), 0, "{summary}\n{output}");
}

/// The client's "bsd_echo_client: OK <bytes> bytes" line, or a panic with its output.
fn client_success(client: &Driver) -> u64 {
    let line = client.wait_for(&["bsd_echo_client: OK", "bsd_echo_client: FAILED", "DriverEntry returned 0xC"]);
    assert!(line.contains("bsd_echo_client: OK"), "{line}; output:\n{}", client.output());
    summary_value(&line, "OK")
}

fn unload_client(client: Driver) {
    let (status, output) = client.unload();
    assert!(status.success(), "bsd_echo_client in drvhost: {status}; output:\n{output}");
    assert!(output.contains("bsd_echo_client: unloaded, result 0x00000000"), "output:\n{output}");
}

#[test]
fn bsd_echo_client_talks_to_the_echo_driver() {
    let server = Driver::start("echo_driver", &echo_host(), &[("WSK_ECHO_PORT", "0".into())]);
    let port = listening_port(&server);
    let client = Driver::start("bsd_echo_client", &client_host(), &[("WSK_ECHO_PORT", port.to_string())]);
    let bytes = client_success(&client);
    assert!(bytes > 1024 * 1024, "{bytes}");
    unload_client(client);

    let (status, output) = server.unload();
    assert!(status.success(), "echo_driver in drvhost: {status}; output:\n{output}");
    let summary = echo_summary(&output);
    assert_eq!(summary_value(summary, "connections"), 2, "{summary}");
    assert_eq!(summary_value(summary, "bytes"), bytes, "{summary}");
    assert_eq!(summary_value(summary, "send-failures"), 0, "{summary}\n{output}");
    assert_eq!(summary_value(summary, "errors"), 0, "{summary}\n{output}");
}

/// Echoes one connection until the peer closes, then closes its own side. A reader and a
/// writer thread, so that a peer sending a large message before reading never blocks it.
fn rust_echo(stream: TcpStream) -> u64 {
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
    stream.set_write_timeout(Some(IO_TIMEOUT)).expect("write timeout");
    let mut reader = stream.try_clone().expect("clone");
    let mut writer = stream;
    let (tx, rx) = channel::<Vec<u8>>();
    let write = thread::spawn(move || {
        let mut total = 0u64;
        for chunk in rx {
            writer.write_all(&chunk).expect("echo");
            total += chunk.len() as u64;
        }
        writer.shutdown(Shutdown::Write).expect("shutdown");
        total
    });
    loop {
        let mut buf = vec![0u8; 64 * 1024];
        let n = reader.read(&mut buf).expect("read from the client");
        if n == 0 {
            break;
        }
        buf.truncate(n);
        tx.send(buf).expect("writer");
    }
    drop(tx);
    write.join().expect("writer thread")
}

#[test]
fn bsd_echo_client_talks_to_a_rust_echo_server() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("port").port();
    // The client makes two connections, one after the other.
    let server = thread::spawn(move || (0..2).map(|_| rust_echo(listener.accept().expect("accept").0)).sum::<u64>());

    let client = Driver::start("bsd_echo_client", &client_host(), &[("WSK_ECHO_PORT", port.to_string())]);
    let bytes = client_success(&client);
    unload_client(client);
    let echoed = server.join().expect("the Rust echo server failed");
    assert_eq!(echoed, bytes, "bytes echoed by the Rust server vs. reported by the client");
}

#[test]
fn drivers_under_wsk_run_leave_nothing_behind() {
    let echo_so = driver_so("echo_driver", &["echo_driver.c"]);
    let client_so = driver_so("bsd_echo_client", &["bsd_echo_client.c", "wskbsd.c"]);
    let server = Driver::wsk_run("wsk run echo_driver.so", &echo_so, &[("WSK_ECHO_PORT", "0".into())]);
    let port = listening_port(&server);
    let client = Driver::wsk_run("wsk run bsd_echo_client.so", &client_so, &[("WSK_ECHO_PORT", port.to_string())]);
    let bytes = client_success(&client);

    for (driver, needle) in
        [(client, "bsd_echo_client: unloaded, result 0x00000000"), (server, "echo_driver: unloaded:")]
    {
        let name = driver.name().to_owned();
        let (status, output) = driver.interrupt();
        assert!(status.success(), "{name}: {status}; output:\n{output}");
        assert!(output.contains(needle), "{name}: output:\n{output}");
        assert!(output.contains("nothing leaked"), "{name}: output:\n{output}");
        if needle.starts_with("echo_driver") {
            let summary = echo_summary(&output);
            assert_eq!(summary_value(summary, "bytes"), bytes, "{summary}");
            assert_eq!(summary_value(summary, "errors"), 0, "{summary}\n{output}");
        }
    }
}
