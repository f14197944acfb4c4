//! `wsk demo`: the echo server and verifying clients, both on the WSK API, in one process.
//!
//! Each client connection (`WskSocketConnect`) streams its own deterministic pattern
//! in chunks, keeping a few chunks in flight: for every chunk it first posts a
//! `WskReceive` with `WSK_FLAG_WAITALL` for the echo, then the `WskSend`, so the echo
//! always has a buffer waiting and neither side can stall on a full pipe. Every
//! echoed byte is compared with the pattern. A connection ends like a well-behaved
//! WSK client ends it: graceful `WskDisconnect`, a receive that sees the server's FIN,
//! then `WskCloseSocket`.
//!
//! Then a UDP round: the UDP echo server of `wsk echo --udp` on `127.0.0.1:0` and a few
//! datagram clients, each sending datagrams of varied sizes and verifying every echo
//! byte for byte, with bounded retries (see [`crate::udp_round`]).

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use wsk::flags::WSK_FLAG_WAITALL;
use wsk::{ConnectionSocket, Op, ProviderNpi, Registration, Wait};

use crate::echo_server::{EchoServer, EchoStats};
use crate::pattern::Pattern;
use crate::udp_echo::{UdpEchoServer, UdpEchoStats};
use crate::udp_round;
use crate::Failure;

/// Bytes per send (and per echoed receive).
const CHUNK: usize = 64 * 1024;
/// Chunks a connection keeps in flight.
const WINDOW: usize = 4;
/// Longest wait for any single operation.
const OP_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for the server and the registration to wind down.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Client connections in all.
    pub connections: u64,
    /// Bytes each connection sends and expects back.
    pub bytes_per_connection: u64,
    /// Connections running at once.
    pub concurrency: u64,
    /// Whether to draw a progress bar (only on a terminal).
    pub progress: bool,
    /// The UDP round.
    pub udp: udp_round::Options,
}

/// What happened.
#[derive(Debug, Clone)]
pub struct Report {
    /// Connections started.
    pub connections: u64,
    /// Connections whose every byte came back intact and that closed cleanly.
    pub connections_ok: u64,
    /// Bytes that came back and matched.
    pub bytes_verified: u64,
    /// Bytes that should have come back.
    pub bytes_expected: u64,
    /// From the first connect to the last verified byte.
    pub elapsed: Duration,
    /// The server's counters.
    pub server: EchoStats,
    /// Client failures: how many, and the first one's description.
    pub client_failures: u64,
    /// The first client failure.
    pub first_failure: Option<String>,
    /// What the UDP clients saw.
    pub udp: udp_round::Report,
    /// The UDP server's counters.
    pub udp_server: UdpEchoStats,
}

impl Report {
    /// Client failures plus server errors, of both rounds.
    pub fn errors(&self) -> u64 {
        self.client_failures + self.server.errors + self.udp.client_failures + self.udp_server.errors
    }

    /// Whether the TCP round's every byte came back intact and nothing failed.
    pub fn tcp_passed(&self) -> bool {
        self.client_failures == 0
            && self.server.errors == 0
            && self.bytes_verified == self.bytes_expected
            && self.connections_ok == self.connections
    }

    /// Whether every datagram of the UDP round came back intact and nothing failed.
    pub fn udp_passed(&self) -> bool {
        self.udp.passed() && self.udp_server.errors == 0
    }

    /// Whether both rounds passed.
    pub fn passed(&self) -> bool {
        self.tcp_passed() && self.udp_passed()
    }

    /// Verified echo throughput in MiB/s.
    pub fn throughput_mib_s(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        self.bytes_verified as f64 / (1024.0 * 1024.0) / secs
    }
}

/// Runs the demo: starts the server, drives every connection, shuts everything down.
///
/// # Errors
/// When the provider, the server or the final deregistration fails; a failed or
/// corrupted connection is not an error here but shows in the [`Report`].
pub fn run(options: &Options) -> Result<Report, Failure> {
    let registration = Registration::new().map_err(|s| Failure::runtime(format!("cannot register: {s}")))?;
    let npi = registration
        .capture(Wait::Millis(5_000))
        .map_err(|s| Failure::runtime(format!("cannot capture the provider NPI: {s}")))?;
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    let server = EchoServer::start(&npi, loopback, None)
        .map_err(|e| Failure::runtime(format!("cannot start the echo server on {loopback}: {e}")))?;

    let progress = progress_bar(options);
    let clients = Clients {
        npi: &npi,
        server: server.local_addr(),
        bytes: options.bytes_per_connection,
        total: options.connections,
        next: AtomicU64::new(0),
        ok: AtomicU64::new(0),
        verified: AtomicU64::new(0),
        failures: Mutex::new((0, None)),
        progress: &progress,
    };
    let started = Instant::now();
    let workers = options.concurrency.min(options.connections);
    let spawned = std::thread::scope(|scope| {
        // With fewer threads than asked (the host refused more), the ones running share the work.
        (0..workers)
            .map_while(|i| {
                std::thread::Builder::new().name(format!("wsk-client-{i}")).spawn_scoped(scope, || clients.work()).ok()
            })
            .count()
    });
    if spawned == 0 {
        return Err(Failure::runtime("cannot start any client thread"));
    }
    let elapsed = started.elapsed();
    progress.finish_and_clear();
    let Clients { ok, verified, failures, .. } = clients;

    // Every client ended gracefully, so the server closes each connection by itself;
    // whatever is still open after the wait is closed by the shutdown.
    server.wait_idle(SHUTDOWN_TIMEOUT);
    server.shutdown(SHUTDOWN_TIMEOUT).map_err(|e| {
        Failure::runtime(format!("the echo server did not shut down: {} sockets not closed", e.unclosed))
    })?;

    let udp_server = UdpEchoServer::start(&npi, loopback, None)
        .map_err(|e| Failure::runtime(format!("cannot start the UDP echo server on {loopback}: {e}")))?;
    let udp = udp_round::run(&npi, udp_server.local_addr(), &options.udp);
    udp_server
        .shutdown(SHUTDOWN_TIMEOUT)
        .map_err(|_| Failure::runtime("the UDP echo server did not shut down: its socket did not close"))?;
    drop(npi);
    if let Err((_, (sockets, captures))) = registration.deregister_timeout(SHUTDOWN_TIMEOUT) {
        return Err(Failure::runtime(format!(
            "deregistration timed out: {sockets} sockets and {captures} NPI captures still open (a leak)"
        )));
    }
    let server_stats = server.stats();
    let udp_server_stats = udp_server.stats();

    let (client_failures, first_failure) = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok(Report {
        connections: options.connections,
        connections_ok: ok.into_inner(),
        bytes_verified: verified.into_inner(),
        bytes_expected: options.connections.saturating_mul(options.bytes_per_connection),
        elapsed,
        server: server_stats,
        client_failures,
        first_failure,
        udp,
        udp_server: udp_server_stats,
    })
}

/// A bar of bytes verified, drawn on stderr when wanted and stderr is a terminal.
fn progress_bar(options: &Options) -> ProgressBar {
    if !options.progress || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(options.connections.saturating_mul(options.bytes_per_connection));
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} verified {bytes}/{total_bytes} [{wide_bar}] {bytes_per_sec} {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// The client side: workers take connection indices from a shared counter.
struct Clients<'a> {
    npi: &'a ProviderNpi,
    server: SocketAddr,
    bytes: u64,
    total: u64,
    next: AtomicU64,
    ok: AtomicU64,
    verified: AtomicU64,
    failures: Mutex<(u64, Option<String>)>,
    progress: &'a ProgressBar,
}

impl Clients<'_> {
    /// Runs connections until none is left.
    fn work(&self) {
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            if index >= self.total {
                return;
            }
            match self.connection(index) {
                Ok(()) => {
                    self.ok.fetch_add(1, Ordering::Relaxed);
                }
                Err(what) => {
                    let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
                    failures.0 += 1;
                    failures.1.get_or_insert_with(|| format!("connection {index}: {what}"));
                }
            }
        }
    }

    /// One connection: connect, echo and verify, end gracefully, close.
    fn connection(&self, index: u64) -> Result<(), String> {
        let local: SocketAddr = ([127, 0, 0, 1], 0).into();
        let socket = wait(self.npi.socket_connect(local, self.server, None), "connect")?;
        match self.exchange(&socket, Pattern::for_connection(index)) {
            Ok(()) => wait(socket.close(), "close"),
            Err(what) => {
                // Closing cancels whatever is still pending (and resets the connection).
                let _ = socket.close().wait_timeout(OP_TIMEOUT);
                Err(what)
            }
        }
    }

    /// Streams the pattern through the server and checks the echo, then disconnects.
    fn exchange(&self, socket: &ConnectionSocket, pattern: Pattern) -> Result<(), String> {
        struct InFlight {
            offset: u64,
            len: usize,
            echo: Op<Vec<u8>>,
            send: Op<usize>,
        }
        let mut in_flight = VecDeque::with_capacity(WINDOW);
        let mut next = 0u64;
        loop {
            while next < self.bytes && in_flight.len() < WINDOW {
                let len = usize::try_from(self.bytes - next).map_or(CHUNK, |left| left.min(CHUNK));
                let mut data = vec![0u8; len];
                pattern.fill(next, &mut data);
                // The receive goes first, so the echo of this chunk always has a buffer.
                let echo = socket.receive(len, WSK_FLAG_WAITALL);
                let send = socket.send(data, 0);
                in_flight.push_back(InFlight { offset: next, len, echo, send });
                next += len as u64;
            }
            let Some(chunk) = in_flight.pop_front() else { break };
            let echoed = wait(chunk.echo, "receive")?;
            if echoed.len() < chunk.len {
                let at = chunk.offset + echoed.len() as u64;
                return Err(format!("the server ended the stream after {at} of {} bytes", self.bytes));
            }
            if let Some((at, sent, got)) = pattern.first_mismatch(chunk.offset, &echoed) {
                let at = chunk.offset + at as u64;
                return Err(format!("echoed byte {at} is {got:#04x}, sent {sent:#04x}"));
            }
            let sent = wait(chunk.send, "send")?;
            if sent != chunk.len {
                return Err(format!("a send of {} bytes completed with {sent}", chunk.len));
            }
            self.verified.fetch_add(chunk.len as u64, Ordering::Relaxed);
            self.progress.inc(chunk.len as u64);
        }
        wait(socket.disconnect(None, 0), "disconnect")?;
        // The server answers our FIN with its own once every echo is out.
        let extra = wait(socket.receive(1, 0), "receive the server's FIN")?;
        if !extra.is_empty() {
            return Err("the server echoed more bytes than it was sent".to_string());
        }
        Ok(())
    }
}

/// Waits for `op` at most [`OP_TIMEOUT`]; failures are described with `what`.
fn wait<T: Send + 'static>(op: Op<T>, what: &str) -> Result<T, String> {
    wait_within(op, what, OP_TIMEOUT)
}

/// Waits for `op` at most `limit`; failures (and the timeout) are described with `what`.
pub(crate) fn wait_within<T: Send + 'static>(op: Op<T>, what: &str, limit: Duration) -> Result<T, String> {
    match op.wait_timeout(limit) {
        Some(Ok(value)) => Ok(value),
        Some(Err(status)) => Err(format!("{what} failed: {status}")),
        None => Err(format!("{what} did not complete within {} s", limit.as_secs())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_run_verifies_every_byte() {
        let options = Options {
            connections: 3,
            bytes_per_connection: 200_001,
            concurrency: 8,
            progress: false,
            udp: udp_round::Options { clients: 2, datagrams: 50 },
        };
        let report = run(&options).expect("the demo runs");
        assert!(report.passed(), "{report:?}");
        assert_eq!(report.bytes_verified, 600_003);
        assert_eq!(report.server.connections, 3);
        assert_eq!(report.server.bytes_echoed, 600_003);
        assert_eq!(report.udp.verified, 100);
        assert_eq!(report.udp_server.datagrams_echoed, 100 + report.udp.retransmitted);
        assert_eq!(report.udp_server.received, report.udp_server.datagrams_echoed);
    }

    #[test]
    fn a_report_passes_only_when_everything_came_back() {
        let good = Report {
            connections: 2,
            connections_ok: 2,
            bytes_verified: 20,
            bytes_expected: 20,
            elapsed: Duration::from_millis(1),
            server: EchoStats::default(),
            client_failures: 0,
            first_failure: None,
            udp: udp_round::Report { expected: 4, verified: 4, bytes_verified: 400, ..udp_round::Report::default() },
            udp_server: UdpEchoStats::default(),
        };
        assert!(good.passed());
        let lost = udp_round::Report { verified: 3, lost: 1, ..good.udp.clone() };
        assert!(!Report { udp: lost, ..good.clone() }.passed());
        let udp_server = UdpEchoStats { errors: 1, ..UdpEchoStats::default() };
        assert!(!Report { udp_server, ..good.clone() }.passed());
        assert!(!Report { bytes_verified: 19, ..good.clone() }.passed());
        assert!(!Report { connections_ok: 1, ..good.clone() }.passed());
        let server = EchoStats { errors: 1, ..EchoStats::default() };
        assert!(!Report { server, ..good.clone() }.passed());
        assert!(!Report { client_failures: 1, first_failure: Some("x".into()), ..good }.passed());
    }
}
