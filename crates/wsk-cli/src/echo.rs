//! `wsk echo`: the TCP or UDP echo server in the foreground.
//!
//! Both servers run the same way: install the Ctrl-C (SIGINT, SIGTERM, SIGHUP)
//! handler, register with the provider, start the server, print `listening on ADDR`,
//! wait for a stop — Ctrl-C, the end of `--seconds N`, or the server's socket failing —
//! then close the sockets, deregister, and print the counters.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use wsk::{ProviderNpi, Registration, Wait};

use crate::echo_server::{EchoServer, ListenerLost, ShutdownError, StartError};
use crate::udp_echo::UdpEchoServer;
use crate::{describe_bytes, print_table, EchoArgs, Failure};

/// Longest wait for `wsk echo` to close its sockets and deregister once stopped.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why `wsk echo` stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Ctrl-C, SIGTERM or SIGHUP.
    Interrupted,
    /// `--seconds N` passed.
    Elapsed,
    /// The listening (TCP) or the datagram (UDP) socket failed.
    SocketLost,
}

/// What `wsk echo` needs of a server, TCP or UDP.
trait Server: Sized {
    fn start(npi: &ProviderNpi, addr: SocketAddr, lost: ListenerLost) -> Result<Self, StartError>;
    fn local_addr(&self) -> SocketAddr;
    fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError>;
    /// The summary rows, printed once the registration was deregistered.
    fn summary(&self) -> Vec<(&'static str, String)>;
    /// What failed when the server's socket did.
    const LOST: &'static str;
}

impl Server for EchoServer {
    fn start(npi: &ProviderNpi, addr: SocketAddr, lost: ListenerLost) -> Result<Self, StartError> {
        EchoServer::start(npi, addr, Some(lost))
    }
    fn local_addr(&self) -> SocketAddr {
        EchoServer::local_addr(self)
    }
    fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError> {
        EchoServer::shutdown(self, timeout)
    }
    fn summary(&self) -> Vec<(&'static str, String)> {
        let stats = self.stats();
        vec![
            ("connections", stats.connections.to_string()),
            ("bytes echoed", describe_bytes(stats.bytes_echoed)),
            ("errors", stats.errors.to_string()),
        ]
    }
    const LOST: &'static str = "the listening socket failed; the server stopped";
}

impl Server for UdpEchoServer {
    fn start(npi: &ProviderNpi, addr: SocketAddr, lost: ListenerLost) -> Result<Self, StartError> {
        UdpEchoServer::start(npi, addr, Some(lost))
    }
    fn local_addr(&self) -> SocketAddr {
        UdpEchoServer::local_addr(self)
    }
    fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError> {
        UdpEchoServer::shutdown(self, timeout)
    }
    fn summary(&self) -> Vec<(&'static str, String)> {
        let stats = self.stats();
        vec![
            ("datagrams", format!("{} echoed ({} received)", stats.datagrams_echoed, stats.received)),
            ("bytes echoed", describe_bytes(stats.bytes_echoed)),
            ("host drops", stats.host_drops.to_string()),
            ("errors", stats.errors.to_string()),
        ]
    }
    const LOST: &'static str = "the datagram socket failed; the server stopped";
}

/// `wsk echo`.
pub fn run(args: &EchoArgs) -> Result<(), Failure> {
    if args.udp {
        serve::<UdpEchoServer>(args)
    } else {
        serve::<EchoServer>(args)
    }
}

/// Runs server `S` on `args.listen` until a stop; see the module docs.
fn serve<S: Server>(args: &EchoArgs) -> Result<(), Failure> {
    let (stop_tx, stop_rx) = mpsc::channel();
    let interrupt = stop_tx.clone();
    ctrlc::set_handler(move || {
        let _ = interrupt.send(Stop::Interrupted);
    })
    .map_err(|e| Failure::runtime(format!("cannot install the Ctrl-C handler: {e}")))?;

    let registration = Registration::new().map_err(|s| Failure::runtime(format!("cannot register: {s}")))?;
    let npi = registration
        .capture(Wait::Millis(5_000))
        .map_err(|s| Failure::runtime(format!("cannot capture the provider NPI: {s}")))?;
    let lost: ListenerLost = Box::new(move || {
        let _ = stop_tx.send(Stop::SocketLost);
    });
    let server = S::start(&npi, args.listen, lost)
        .map_err(|e| Failure::runtime(format!("cannot listen on {}: {e}", args.listen)))?;
    {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "listening on {}", server.local_addr());
        let _ = stdout.flush();
    }

    let stop = wait_for_stop(&stop_rx, args.seconds);
    let closed = server.shutdown(SHUTDOWN_TIMEOUT);
    drop(npi);
    let deregistered = registration.deregister_timeout(SHUTDOWN_TIMEOUT);
    print_table(&server.summary());
    if let Err(e) = closed {
        return Err(Failure::runtime(format!("{} sockets did not close in time", e.unclosed)));
    }
    if let Err((_, (sockets, captures))) = deregistered {
        return Err(Failure::runtime(format!(
            "deregistration timed out: {sockets} sockets and {captures} NPI captures still open (a leak)"
        )));
    }
    match stop {
        Stop::Interrupted | Stop::Elapsed => Ok(()),
        Stop::SocketLost => Err(Failure::runtime(S::LOST)),
    }
}

/// Waits for the first stop: a message on `stops`, or `seconds` passing.
fn wait_for_stop(stops: &Receiver<Stop>, seconds: Option<f64>) -> Stop {
    // Every sender lives as long as the handler or the server: a receive fails only if
    // both went, which is a stop too.
    match seconds.and_then(|s| Duration::try_from_secs_f64(s).ok()) {
        Some(limit) => match stops.recv_timeout(limit) {
            Ok(stop) => stop,
            Err(RecvTimeoutError::Timeout) => Stop::Elapsed,
            Err(RecvTimeoutError::Disconnected) => Stop::Interrupted,
        },
        // No limit, or one too large to represent: until a signal.
        None => stops.recv().unwrap_or(Stop::Interrupted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_stop_wins() {
        let (tx, rx) = mpsc::channel();
        tx.send(Stop::SocketLost).expect("send");
        assert_eq!(wait_for_stop(&rx, Some(30.0)), Stop::SocketLost);
        assert_eq!(wait_for_stop(&rx, Some(0.0)), Stop::Elapsed);
        tx.send(Stop::Interrupted).expect("send");
        assert_eq!(wait_for_stop(&rx, None), Stop::Interrupted);
        // A limit too large for a Duration waits for a stop (here: every sender gone).
        drop(tx);
        assert_eq!(wait_for_stop(&rx, Some(1e300)), Stop::Interrupted);
    }
}
