//! The UDP round of `wsk demo`: datagram clients against the UDP echo server.
//!
//! Each client is a datagram socket bound to the loopback address. It sends its
//! datagrams with `WskSendTo`, keeping [`WINDOW`] of them outstanding, and posts one
//! `WskReceiveFrom` per outstanding datagram before sending it, so every echo finds a
//! buffer waiting. A datagram carries its sequence number and its client's number in
//! its first eight bytes and the client's deterministic pattern after them; its size
//! (8 bytes to 16 KiB) is a function of the two numbers. Every echo is checked byte for
//! byte against what was sent, and must come from the server's address.
//!
//! UDP may drop, so nothing waits unbounded: an echo that has not come back within
//! [`RETRY_AFTER`] is sent again, at most [`TRIES`] times in all; then the datagram
//! counts as lost. Echoes of a datagram sent twice count as duplicates and are ignored.
//! On loopback, with the window bounding what is in flight, nothing is lost.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use wsk::{DatagramSocket, Op, ProviderNpi, ReceivedDatagram};

use crate::pattern::Pattern;

/// Datagrams a client keeps outstanding.
pub const WINDOW: usize = 8;
/// How long a client waits for an echo before sending the datagram again.
pub const RETRY_AFTER: Duration = Duration::from_millis(250);
/// Sends of one datagram, at most, before it counts as lost.
pub const TRIES: u32 = 4;
/// The largest datagram the round sends.
pub const MAX_DATAGRAM: usize = 16 * 1024;
/// Header of every datagram: sequence number and client number, little-endian `u32`s.
const HEADER: usize = 8;
/// Longest wait for a socket operation that must not fail (create, bind, close).
const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// Mixed into the client index for the payload and size streams (distinct from TCP's).
const PAYLOAD_SALT: u64 = 0x5544_5020_4441_5441;
const SIZE_SALT: u64 = 0x5544_5020_5349_5a45;

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Client sockets, each on its own thread.
    pub clients: u64,
    /// Datagrams each client sends and expects back.
    pub datagrams: u64,
}

/// What the clients saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Datagrams that should have come back (clients × datagrams).
    pub expected: u64,
    /// Datagrams that came back intact.
    pub verified: u64,
    /// Bytes of the datagrams that came back intact.
    pub bytes_verified: u64,
    /// Datagrams given up on after [`TRIES`] sends.
    pub lost: u64,
    /// Sends beyond each datagram's first.
    pub retransmitted: u64,
    /// Echoes of datagrams already verified or given up on.
    pub duplicates: u64,
    /// From the first client's start to the last client's end.
    pub elapsed: Duration,
    /// Clients that failed (an operation failed, or an echo was corrupted).
    pub client_failures: u64,
    /// The first failure.
    pub first_failure: Option<String>,
}

impl Report {
    /// Whether every datagram came back intact and no client failed.
    pub fn passed(&self) -> bool {
        self.client_failures == 0 && self.lost == 0 && self.verified == self.expected
    }

    /// Verified datagrams per second.
    pub fn datagrams_per_second(&self) -> f64 {
        self.verified as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Verified MiB per second.
    pub fn mib_per_second(&self) -> f64 {
        self.bytes_verified as f64 / (1024.0 * 1024.0) / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The size of datagram `seq` of client `client`: mostly up to an Ethernet payload
/// (8..=1472 bytes), every 16th one larger (up to [`MAX_DATAGRAM`], fragmented on a
/// real network).
pub fn datagram_size(client: u64, seq: u32) -> usize {
    let mut word = [0u8; 4];
    Pattern::for_connection(SIZE_SALT ^ client).fill(u64::from(seq) * 4, &mut word);
    let r = u32::from_le_bytes(word) as usize;
    if seq % 16 == 15 {
        1473 + r % (MAX_DATAGRAM - 1472)
    } else {
        HEADER + r % (1473 - HEADER)
    }
}

/// Datagram `seq` of client `client`.
pub fn datagram(client: u64, seq: u32) -> Vec<u8> {
    let mut data = vec![0u8; datagram_size(client, seq)];
    data[..4].copy_from_slice(&seq.to_le_bytes());
    data[4..HEADER].copy_from_slice(&(client as u32).to_le_bytes());
    Pattern::for_connection(PAYLOAD_SALT ^ client).fill(u64::from(seq) << 16, &mut data[HEADER..]);
    data
}

/// Runs the clients against the echo server at `server` and reports what came back.
pub fn run(npi: &ProviderNpi, server: SocketAddr, options: &Options) -> Report {
    let tally = Tally::default();
    let started = Instant::now();
    let spawned = std::thread::scope(|scope| {
        (0..options.clients)
            .map_while(|client| {
                let tally = &tally;
                std::thread::Builder::new()
                    .name(format!("wsk-udp-client-{client}"))
                    .spawn_scoped(scope, move || tally.record(client, run_client(npi, server, client, options, tally)))
                    .ok()
            })
            .count() as u64
    });
    let elapsed = started.elapsed();
    let (mut client_failures, mut first_failure) = tally.failures.into_inner().unwrap_or_else(|e| e.into_inner());
    if spawned < options.clients {
        client_failures += options.clients - spawned;
        first_failure.get_or_insert_with(|| format!("could start only {spawned} client threads"));
    }
    Report {
        expected: options.clients.saturating_mul(options.datagrams),
        verified: tally.verified.into_inner(),
        bytes_verified: tally.bytes.into_inner(),
        lost: tally.lost.into_inner(),
        retransmitted: tally.retransmitted.into_inner(),
        duplicates: tally.duplicates.into_inner(),
        elapsed,
        client_failures,
        first_failure,
    }
}

/// The clients' counters.
#[derive(Default)]
struct Tally {
    verified: AtomicU64,
    bytes: AtomicU64,
    lost: AtomicU64,
    retransmitted: AtomicU64,
    duplicates: AtomicU64,
    failures: Mutex<(u64, Option<String>)>,
}

impl Tally {
    fn record(&self, client: u64, outcome: Result<(), String>) {
        if let Err(what) = outcome {
            let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
            failures.0 += 1;
            failures.1.get_or_insert_with(|| format!("udp client {client}: {what}"));
        }
    }
}

/// What a client's completion routines tell its thread.
enum Event {
    /// A `WskReceiveFrom` completed.
    Echo(wsk::Result<ReceivedDatagram>),
    /// The `WskSendTo` of a datagram of `len` bytes completed.
    Sent { len: usize, result: wsk::Result<usize> },
}

/// A datagram sent and not yet echoed.
struct Outstanding {
    /// When to send it again (or give up).
    deadline: Instant,
    /// Sends so far.
    tries: u32,
}

/// One client socket and its bookkeeping.
struct Client<'a> {
    socket: DatagramSocket,
    server: SocketAddr,
    index: u64,
    tally: &'a Tally,
    events: mpsc::Sender<Event>,
    /// Outstanding datagrams by sequence number.
    in_flight: BTreeMap<u32, Outstanding>,
    /// `WskReceiveFrom` operations posted and not completed.
    posted: usize,
}

/// Runs client `index`: creates and binds its socket, sends and verifies its
/// datagrams, closes the socket.
fn run_client(
    npi: &ProviderNpi,
    server: SocketAddr,
    index: u64,
    options: &Options,
    tally: &Tally,
) -> Result<(), String> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => ([127, 0, 0, 1], 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::LOCALHOST, 0).into(),
    };
    let socket = wait(npi.datagram_socket(local, None), "create the socket")?;
    let (events, echoes) = mpsc::channel();
    let mut client = Client { socket, server, index, tally, events, in_flight: BTreeMap::new(), posted: 0 };
    let outcome = wait(client.socket.bind(local), "bind").and_then(|()| client.exchange(options.datagrams, &echoes));
    // Closing cancels the receives still posted (for echoes that never came).
    let closed = wait(client.socket.close(), "close");
    outcome.and(closed)
}

impl Client<'_> {
    /// Sends `count` datagrams with a window of [`WINDOW`] and verifies every echo.
    fn exchange(&mut self, count: u64, events: &mpsc::Receiver<Event>) -> Result<(), String> {
        let count = u32::try_from(count).map_err(|_| "too many datagrams for one client".to_string())?;
        let mut next = 0u32;
        loop {
            while next < count && self.in_flight.len() < WINDOW {
                self.in_flight.insert(next, Outstanding { deadline: Instant::now() + RETRY_AFTER, tries: 1 });
                self.post_receives();
                self.send(next);
                next += 1;
            }
            let Some(deadline) = self.in_flight.values().map(|o| o.deadline).min() else {
                return Ok(());
            };
            match events.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(Event::Echo(Ok(echo))) => {
                    self.posted -= 1;
                    self.check(echo, next)?;
                }
                Ok(Event::Echo(Err(status))) => return Err(format!("a receive failed: {status}")),
                Ok(Event::Sent { len, result }) => match result {
                    Ok(sent) if sent == len => {}
                    Ok(sent) => return Err(format!("a send of {len} bytes completed with {sent}")),
                    Err(status) => return Err(format!("a send failed: {status}")),
                },
                Err(mpsc::RecvTimeoutError::Timeout) => self.retry(),
                // The client holds a sender: not reachable.
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err("the event channel closed".to_string()),
            }
        }
    }

    /// Posts receives until there is one per outstanding datagram.
    fn post_receives(&mut self) {
        while self.posted < self.in_flight.len() {
            let events = self.events.clone();
            self.socket.receive_from(MAX_DATAGRAM, 0).then(move |result| {
                let _ = events.send(Event::Echo(result));
            });
            self.posted += 1;
        }
    }

    /// Sends datagram `seq` (again).
    fn send(&self, seq: u32) {
        let data = datagram(self.index, seq);
        let len = data.len();
        let events = self.events.clone();
        self.socket.send_to_then(Box::new(data), Some(self.server), Vec::new(), move |result| {
            let _ = events.send(Event::Sent { len, result });
        });
    }

    /// Sends again every datagram whose echo is overdue; gives up on those sent [`TRIES`] times.
    fn retry(&mut self) {
        let now = Instant::now();
        let overdue: Vec<u32> = self.in_flight.iter().filter(|(_, o)| o.deadline <= now).map(|(&s, _)| s).collect();
        for seq in overdue {
            let Some(outstanding) = self.in_flight.get_mut(&seq) else { continue };
            if outstanding.tries >= TRIES {
                self.in_flight.remove(&seq);
                self.tally.lost.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            outstanding.tries += 1;
            outstanding.deadline = now + RETRY_AFTER;
            self.tally.retransmitted.fetch_add(1, Ordering::Relaxed);
            self.send(seq);
        }
    }

    /// Checks an echo against the datagram it names; `sent` is how many were sent so far.
    fn check(&mut self, echo: ReceivedDatagram, sent: u32) -> Result<(), String> {
        if echo.info.remote != self.server {
            return Err(format!("an echo came from {}, not from the server {}", echo.info.remote, self.server));
        }
        if echo.info.truncated() || echo.data.len() < HEADER {
            return Err(format!("an echo of {} bytes is no datagram of this round", echo.data.len()));
        }
        let seq = u32::from_le_bytes(echo.data[..4].try_into().expect("four bytes"));
        let client = u32::from_le_bytes(echo.data[4..HEADER].try_into().expect("four bytes"));
        if u64::from(client) != self.index || seq >= sent {
            return Err(format!("an echo names client {client} datagram {seq}, never sent by this client"));
        }
        let expected = datagram(self.index, seq);
        if echo.data != expected {
            let at = echo.data.iter().zip(&expected).position(|(a, b)| a != b);
            return Err(match at {
                Some(at) => {
                    format!("datagram {seq}: echoed byte {at} is {:#04x}, sent {:#04x}", echo.data[at], expected[at])
                }
                None => format!("datagram {seq}: {} bytes echoed, {} sent", echo.data.len(), expected.len()),
            });
        }
        if self.in_flight.remove(&seq).is_none() {
            // A second echo (the datagram was sent again), or one given up on.
            self.tally.duplicates.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        self.tally.verified.fetch_add(1, Ordering::Relaxed);
        self.tally.bytes.fetch_add(expected.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// Waits for `op` at most [`OP_TIMEOUT`]; failures are described with `what`.
fn wait<T: Send + 'static>(op: Op<T>, what: &str) -> Result<T, String> {
    crate::demo::wait_within(op, what, OP_TIMEOUT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::udp_echo::UdpEchoServer;

    #[test]
    fn datagrams_are_deterministic_and_varied() {
        assert_eq!(datagram(3, 17), datagram(3, 17));
        assert_ne!(datagram(3, 17), datagram(4, 17));
        let sizes: Vec<usize> = (0..64).map(|seq| datagram_size(0, seq)).collect();
        assert!(sizes.iter().all(|&n| (HEADER..=MAX_DATAGRAM).contains(&n)), "{sizes:?}");
        assert!(sizes.iter().any(|&n| n < 100) && sizes.iter().any(|&n| n > 1472), "{sizes:?}");
        let d = datagram(5, 9);
        assert_eq!((&d[..4], &d[4..8]), (&9u32.to_le_bytes()[..], &5u32.to_le_bytes()[..]));
    }

    fn round(server_addr: &str) {
        let registration = wsk::Registration::new().expect("register");
        let npi = registration.capture(wsk::Wait::Infinite).expect("capture");
        let server = UdpEchoServer::start(&npi, server_addr.parse().expect("addr"), None).expect("start");
        let report = run(&npi, server.local_addr(), &Options { clients: 3, datagrams: 40 });
        assert!(report.passed(), "{report:?}");
        assert_eq!(report.verified, 120);
        let bytes: u64 = (0..3).flat_map(|c| (0..40).map(move |s| datagram_size(c, s) as u64)).sum();
        assert_eq!(report.bytes_verified, bytes);
        server.shutdown(Duration::from_secs(10)).expect("shutdown");
        drop(npi);
        assert!(registration.deregister_timeout(Duration::from_secs(10)).is_ok(), "every client socket closed");
        let stats = server.stats();
        assert_eq!(stats.errors, 0);
        assert_eq!(stats.datagrams_echoed, 120 + report.retransmitted);
    }

    #[test]
    fn a_round_verifies_every_datagram_on_ipv4() {
        round("127.0.0.1:0");
    }

    #[test]
    fn a_round_verifies_every_datagram_on_ipv6() {
        round("[::1]:0");
    }

    #[test]
    fn with_no_server_every_datagram_is_lost_within_the_bound() {
        // A port nobody listens on: the sends succeed (or fail with a refusal), no echo
        // comes, and the round ends after TRIES sends of each datagram.
        let registration = wsk::Registration::new().expect("register");
        let npi = registration.capture(wsk::Wait::Infinite).expect("capture");
        let vacant = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
        let started = Instant::now();
        let report = run(&npi, vacant, &Options { clients: 1, datagrams: 3 });
        assert!(!report.passed());
        assert_eq!(report.verified, 0);
        assert!(report.lost == 3 || report.client_failures == 1, "{report:?}");
        assert!(started.elapsed() < RETRY_AFTER * (TRIES + 4), "bounded: {:?}", started.elapsed());
        drop(npi);
        assert!(registration.deregister_timeout(Duration::from_secs(10)).is_ok());
    }
}
