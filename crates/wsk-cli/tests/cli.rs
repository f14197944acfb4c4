//! The `wsk` binary as a user runs it: exit statuses, output, and real TCP and UDP
//! peers against `wsk echo`. Every wait is bounded; a child still running when a test
//! ends is killed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// Generous: the binary under test is a debug build.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `wsk` process whose output is read line by line on helper threads.
struct Running {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
}

/// A finished `wsk` process.
struct Finished {
    status: ExitStatus,
    stdout: Vec<String>,
    stderr: Vec<String>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wsk"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wsk");
        let stdout = lines_of(child.stdout.take().expect("piped stdout"));
        let stderr = lines_of(child.stderr.take().expect("piped stderr"));
        Running { child, stdout, stderr }
    }

    /// The next line on stdout.
    fn next_line(&self, timeout: Duration) -> String {
        match self.stdout.recv_timeout(timeout) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!("no output within {timeout:?}"),
            Err(RecvTimeoutError::Disconnected) => {
                let stderr: Vec<String> = self.stderr.try_iter().collect();
                panic!("wsk closed stdout early; stderr: {stderr:?}")
            }
        }
    }

    /// Waits (at most `timeout`) for the process to exit, with the rest of its output.
    fn finish(mut self, timeout: Duration) -> Finished {
        let deadline = Instant::now() + timeout;
        let stdout = drain(&self.stdout, deadline);
        let stderr = drain(&self.stderr, deadline);
        let (Some(stdout), Some(stderr)) = (stdout, stderr) else {
            panic!("wsk {:?} did not exit within {timeout:?}", self.child.id());
        };
        // Both pipes closed: the process has exited, so this returns at once.
        let status = self.child.wait().expect("wait for wsk");
        Finished { status, stdout, stderr }
    }

    /// Sends SIGINT (what Ctrl-C sends).
    fn interrupt(&self) {
        self.signal("-INT");
    }

    /// Sends SIGTERM (what service managers send).
    fn terminate(&self) {
        self.signal("-TERM");
    }

    fn signal(&self, which: &str) {
        let status = Command::new("kill")
            .args([which, &self.child.id().to_string()])
            .status()
            .expect("run kill(1) to send a signal");
        assert!(status.success(), "kill {which} failed");
    }

    /// The address of the first line, `listening on ADDR`.
    fn listening_on(&self) -> SocketAddr {
        let first = self.next_line(IO_TIMEOUT);
        first
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("expected 'listening on ADDR', got {first:?}"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Kills a process left running by a failed test (a no-op once it was reaped).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends each line read from `source` until it closes.
fn lines_of(source: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(source).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Every remaining line, once the sender closed; `None` if that did not happen by `deadline`.
fn drain(lines: &Receiver<String>, deadline: Instant) -> Option<Vec<String>> {
    let mut out = Vec::new();
    loop {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => out.push(line),
            Err(RecvTimeoutError::Disconnected) => return Some(out),
            Err(RecvTimeoutError::Timeout) => return None,
        }
    }
}

fn run(args: &[&str]) -> Finished {
    Running::start(args).finish(RUN_TIMEOUT)
}

/// The value of the summary row `label` (rows are `label  value`).
fn row<'a>(stdout: &'a [String], label: &str) -> &'a str {
    stdout
        .iter()
        .find_map(|line| line.strip_prefix(label).filter(|rest| rest.starts_with("  ")).map(str::trim))
        .unwrap_or_else(|| panic!("no '{label}' row in {stdout:?}"))
}

/// Asserts the process failed with `code` and exactly one `wsk: ...` line on stderr.
fn assert_one_line_failure(finished: &Finished, code: i32) -> &str {
    assert_eq!(finished.status.code(), Some(code), "stderr: {:?}", finished.stderr);
    assert_eq!(finished.stderr.len(), 1, "one line expected: {:?}", finished.stderr);
    let line = &finished.stderr[0];
    assert!(line.starts_with("wsk: "), "{line}");
    line
}

#[test]
fn demo_verifies_every_byte_and_prints_the_summary() {
    let finished = run(&[
        "demo",
        "--connections",
        "8",
        "--bytes-per-connection",
        "65536",
        "--udp-clients",
        "3",
        "--datagrams-per-client",
        "40",
        "--no-progress",
    ]);
    assert!(finished.status.success(), "status {:?}, stderr {:?}", finished.status, finished.stderr);
    assert!(finished.stderr.is_empty(), "{:?}", finished.stderr);
    let out = &finished.stdout;
    assert_eq!(row(out, "connections"), "8 (8 verified)");
    assert_eq!(row(out, "bytes echoed"), "512.0 KiB (524288 bytes)");
    assert!(row(out, "elapsed").ends_with(" s"));
    assert!(row(out, "throughput").ends_with(" MiB/s"));
    let udp = row(out, "udp echo");
    assert!(udp.starts_with("120 datagrams (120 verified, 0 lost"), "{udp}");
    assert!(udp.contains(" datagrams/s, ") && udp.ends_with(" MiB/s"), "{udp}");
    assert_eq!(row(out, "errors"), "0");
}

#[test]
fn demo_runs_the_udp_round_by_default() {
    let finished = run(&["demo", "--connections", "1", "--bytes-per-connection", "1K", "--no-progress"]);
    assert!(finished.status.success(), "status {:?}, stderr {:?}", finished.status, finished.stderr);
    let udp = row(&finished.stdout, "udp echo");
    assert!(udp.starts_with("2048 datagrams (2048 verified, 0 lost"), "{udp}");
    assert_eq!(row(&finished.stdout, "errors"), "0");
}

#[test]
fn a_bad_listen_address_is_a_usage_error() {
    let finished = run(&["echo", "--listen", "not-an-address"]);
    let line = assert_one_line_failure(&finished, 2);
    assert!(line.contains("not-an-address"), "{line}");
    assert!(finished.stdout.is_empty());
}

#[test]
fn a_bad_udp_listen_address_is_a_usage_error() {
    for bad in ["127.0.0.1", "localhost:7000", "[::1]:99999"] {
        let finished = run(&["echo", "--udp", "--listen", bad]);
        let line = assert_one_line_failure(&finished, 2);
        assert!(line.contains(bad), "{line}");
        assert!(finished.stdout.is_empty());
    }
}

#[test]
fn usage_errors_are_one_line() {
    let cases = [
        &[][..],
        &["echo"][..],
        &["echo", "--udp"][..],
        &["echo", "--listen", "127.0.0.1:0", "--seconds", "-1"][..],
        &["demo", "--connections", "0"][..],
        &["demo", "--datagrams-per-client", "0"][..],
        &["frobnicate"][..],
    ];
    for args in cases {
        let finished = run(args);
        assert_one_line_failure(&finished, 2);
    }
}

#[test]
fn an_address_in_use_names_the_status() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind a port to take");
    let addr = taken.local_addr().expect("its address").to_string();
    let finished = run(&["echo", "--listen", &addr]);
    let line = assert_one_line_failure(&finished, 1);
    assert!(line.contains("STATUS_ADDRESS_ALREADY_ASSOCIATED"), "{line}");
    assert!(line.contains(&addr), "{line}");
    drop(taken);
}

#[test]
fn a_udp_address_in_use_names_the_status() {
    let taken = UdpSocket::bind("127.0.0.1:0").expect("bind a port to take");
    let addr = taken.local_addr().expect("its address").to_string();
    let finished = run(&["echo", "--udp", "--listen", &addr]);
    let line = assert_one_line_failure(&finished, 1);
    assert!(line.contains("STATUS_ADDRESS_ALREADY_ASSOCIATED"), "{line}");
    assert!(line.contains(&addr), "{line}");
    assert!(finished.stdout.is_empty(), "{:?}", finished.stdout);
    drop(taken);
}

#[test]
fn echo_seconds_stops_by_itself() {
    for args in [
        &["echo", "--listen", "127.0.0.1:0", "--seconds", "0"][..],
        &["echo", "--udp", "--listen", "[::1]:0", "--seconds", "0"][..],
    ] {
        let server = Running::start(args);
        let addr = server.listening_on();
        assert_ne!(addr.port(), 0, "the chosen port is printed");
        let finished = server.finish(RUN_TIMEOUT);
        assert!(finished.status.success(), "{args:?}: status {:?}, stderr {:?}", finished.status, finished.stderr);
        assert!(finished.stderr.is_empty(), "{:?}", finished.stderr);
        assert_eq!(row(&finished.stdout, "errors"), "0");
    }
}

/// Sends datagrams of many sizes to `wsk echo --udp` from a std socket bound to `peer`
/// and checks every echo; returns (datagrams, bytes) sent.
fn udp_exchange(server: SocketAddr, peer: &str) -> (u64, u64) {
    let socket = UdpSocket::bind(peer).expect("bind the peer");
    socket.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
    let mut buf = vec![0u8; 65_536];
    let (mut datagrams, mut bytes) = (0, 0);
    for len in [0usize, 1, 7, 512, 1472, 1473, 8192, 65_507] {
        let payload: Vec<u8> = (0..len).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ len as u8).collect();
        socket.send_to(&payload, server).expect("send");
        // One datagram at a time on loopback: a wait that times out fails the test (UDP
        // on loopback does not drop a lone datagram).
        let (n, from) = socket.recv_from(&mut buf).expect("the echo");
        assert_eq!(from, server, "the echo comes from the server's address");
        assert_eq!(n, len);
        assert!(buf[..n] == payload[..], "the echo of {len} bytes differs");
        datagrams += 1;
        bytes += len as u64;
    }
    (datagrams, bytes)
}

#[test]
fn udp_echo_serves_a_std_peer_on_ipv4_until_interrupted() {
    let server = Running::start(&["echo", "--udp", "--listen", "127.0.0.1:0"]);
    let addr = server.listening_on();
    assert!(addr.is_ipv4() && addr.port() != 0, "{addr}");
    let (datagrams, bytes) = udp_exchange(addr, "127.0.0.1:0");

    server.interrupt();
    let finished = server.finish(RUN_TIMEOUT);
    assert!(finished.status.success(), "status {:?}, stderr {:?}", finished.status, finished.stderr);
    assert!(finished.stderr.is_empty(), "{:?}", finished.stderr);
    let out = &finished.stdout;
    assert_eq!(row(out, "datagrams"), format!("{datagrams} echoed ({datagrams} received)"));
    assert!(row(out, "bytes echoed").ends_with(&format!("({bytes} bytes)")), "{out:?}");
    assert_eq!(row(out, "host drops"), "0");
    assert_eq!(row(out, "errors"), "0");
}

#[test]
fn udp_echo_serves_a_std_peer_on_ipv6_until_terminated() {
    let server = Running::start(&["echo", "--udp", "--listen", "[::1]:0", "--seconds", "600"]);
    let addr = server.listening_on();
    assert!(addr.is_ipv6() && addr.port() != 0, "{addr}");
    let (datagrams, _) = udp_exchange(addr, "[::1]:0");

    server.terminate();
    let finished = server.finish(RUN_TIMEOUT);
    assert!(finished.status.success(), "status {:?}, stderr {:?}", finished.status, finished.stderr);
    assert!(finished.stderr.is_empty(), "{:?}", finished.stderr);
    assert_eq!(row(&finished.stdout, "datagrams"), format!("{datagrams} echoed ({datagrams} received)"));
    assert_eq!(row(&finished.stdout, "errors"), "0");
}

#[test]
fn udp_echo_on_the_ipv6_wildcard_answers_ipv4_too() {
    let server = Running::start(&["echo", "--udp", "--listen", "[::]:0"]);
    let addr = server.listening_on();
    udp_exchange(SocketAddr::from(([127, 0, 0, 1], addr.port())), "127.0.0.1:0");
    udp_exchange(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port())), "[::1]:0");
    server.interrupt();
    let finished = server.finish(RUN_TIMEOUT);
    assert!(finished.status.success(), "status {:?}, stderr {:?}", finished.status, finished.stderr);
    assert_eq!(row(&finished.stdout, "errors"), "0");
}

#[test]
fn echo_serves_a_std_client_until_interrupted() {
    let server = Running::start(&["echo", "--listen", "127.0.0.1:0"]);
    let addr = server.listening_on();

    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
    stream.set_write_timeout(Some(IO_TIMEOUT)).expect("write timeout");
    let payload: Vec<u8> = (0..256 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let mut writer = stream.try_clone().expect("clone the stream");
    let to_send = payload.clone();
    let writing = thread::spawn(move || {
        writer.write_all(&to_send).expect("send");
        writer.shutdown(Shutdown::Write).expect("send FIN");
    });
    let mut echoed = Vec::new();
    // Ends at the server's FIN, which answers ours once everything was echoed.
    stream.read_to_end(&mut echoed).expect("read the echo");
    writing.join().expect("writer thread");
    assert_eq!(echoed.len(), payload.len());
    assert!(echoed == payload, "the echo differs from what was sent");

    server.interrupt();
    let finished = server.finish(RUN_TIMEOUT);
    assert!(finished.status.success(), "status {:?}, stderr {:?}", finished.status, finished.stderr);
    assert!(finished.stderr.is_empty(), "{:?}", finished.stderr);
    assert_eq!(row(&finished.stdout, "connections"), "1");
    assert_eq!(row(&finished.stdout, "bytes echoed"), "256.0 KiB (262144 bytes)");
    assert_eq!(row(&finished.stdout, "errors"), "0");
}
