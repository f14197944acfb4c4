//! The `wsk` binary as a user runs it: exit statuses, output, and a real TCP client
//! against `wsk echo`. Every wait is bounded; a child still running when a test ends
//! is killed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
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
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill(1) to send SIGINT");
        assert!(status.success(), "kill -INT failed");
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
    let finished = run(&["demo", "--connections", "8", "--bytes-per-connection", "65536", "--no-progress"]);
    assert!(finished.status.success(), "status {:?}, stderr {:?}", finished.status, finished.stderr);
    assert!(finished.stderr.is_empty(), "{:?}", finished.stderr);
    let out = &finished.stdout;
    assert_eq!(row(out, "connections"), "8 (8 verified)");
    assert_eq!(row(out, "bytes echoed"), "512.0 KiB (524288 bytes)");
    assert!(row(out, "elapsed").ends_with(" s"));
    assert!(row(out, "throughput").ends_with(" MiB/s"));
    assert_eq!(row(out, "errors"), "0");
}

#[test]
fn a_bad_listen_address_is_a_usage_error() {
    let finished = run(&["echo", "--listen", "not-an-address"]);
    let line = assert_one_line_failure(&finished, 2);
    assert!(line.contains("not-an-address"), "{line}");
    assert!(finished.stdout.is_empty());
}

#[test]
fn usage_errors_are_one_line() {
    for args in [&[][..], &["echo"][..], &["demo", "--connections", "0"][..], &["frobnicate"][..]] {
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
fn echo_serves_a_std_client_until_interrupted() {
    let server = Running::start(&["echo", "--listen", "127.0.0.1:0"]);
    let first = server.next_line(IO_TIMEOUT);
    let addr: SocketAddr = first
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("expected 'listening on ADDR', got {first:?}"));

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
