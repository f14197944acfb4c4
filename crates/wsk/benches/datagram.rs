//! UDP over 127.0.0.1: wsk datagram sockets against std and tokio, in the same run.
//!
//! Three workloads, each a criterion group followed (under `cargo bench` without a
//! filter) by interleaved summary rounds that print a Markdown table with ratios:
//!
//! 1. **Ping-pong** of 64-byte datagrams; time per round trip. Variants, as in
//!    `pingpong.rs` for TCP:
//!    - `std_threads`: blocking `std::net::UdpSocket`, the echo server on its own thread,
//!      the client on the benchmark thread;
//!    - `tokio_mt2`: multi-thread runtime with 2 workers, server and client tasks;
//!    - `tokio_ct`: current-thread runtime, server and client tasks on one thread;
//!    - `wsk_1p`: the server echoes from `WskReceiveFromEvent`: it retains the indication
//!      and sends each datagram's provider buffer back with `send_to_then` (zero-copy);
//!      the client calls `send_to` then `receive_from(64, 0).wait_timeout(..)` on the
//!      benchmark thread; one provider (reactor) serves both ends;
//!    - `wsk_2p`: the same with client and server on two providers;
//!    - `wsk_1p_callbacks` / `wsk_2p_callbacks`: the client is event-driven as well (its
//!      `WskReceiveFromEvent` sends the next ping with `send_to_then`), so a batch runs on
//!      provider threads only: the like-for-like match for the tokio client task.
//!
//!    Every ping carries a sequence number; a client that sees no echo within
//!    `LOSS_WAIT` counts a loss and sends the ping again, and late echoes of earlier
//!    pings are skipped.
//! 2. **Echo throughput under a window**: one client keeps `WINDOW` datagrams of 64 B or
//!    1400 B outstanding against an echo server (each echo received lets it send one
//!    more) until `n` came back; datagrams/s and MiB/s of echoes received. The client is
//!    the same for every server: a blocking `std::net::UdpSocket` on the benchmark
//!    thread. Servers, each on one thread: `std_thread` (blocking `recv_from` /
//!    `send_to`), `tokio_mt1` (a task on a multi-thread runtime with 1 worker),
//!    `wsk_events` (as the ping-pong server: one `send_to_then` per retained datagram),
//!    `wsk_events_batch` (the retained chain goes back with one `send_messages_then` per
//!    run of datagrams from the same sender: `WskSendMessages`, `sendmmsg`). No echo for
//!    `LOSS_WAIT` counts what is outstanding as lost (an echo arriving later is taken off
//!    the count again), so a drop never hangs the run.
//! 3. **Sending a batch**: `BATCH` datagrams to a sink socket that is never read, so the
//!    figure is the sender's whole path (system call, UDP/IP, loopback, the sink's queue
//!    — full after the first few hundred datagrams, where the kernel drops them); no
//!    thread ever waits on the sink. `std_send_to`: a loop of `UdpSocket::send_to`;
//!    `tokio_ct_send_to`: a loop of `send_to().await` on a current-thread runtime;
//!    `wsk_send_to_then`: `BATCH` × `send_to_then` (one `WskSendTo` IRP each, completion
//!    counted); `wsk_send_messages`: one `send_messages_then` of `BATCH` buffers
//!    (`WskSendMessages`: one `sendmmsg` for the batch).
//!
//! Every wait is bounded: a benchmark that stops making progress panics.

mod common;

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{Aligned, Chunk, Counter, WskClient};
use criterion::{Criterion, SamplingMode, Throughput};
use wsk::events::WSK_EVENT_RECEIVE_FROM;
use wsk::{DatagramEvents, DatagramIndication, DatagramSocket, EventFlags, NtStatus, ReceiveFromOutcome, SendBuffer};

/// How long a client waits for an echo before it counts a loss.
const LOSS_WAIT: Duration = Duration::from_millis(250);
/// Longest a batch of work may take before the benchmark fails.
const STALL: Duration = Duration::from_secs(60);

const PING: usize = 64;
const PP_ROUNDS: usize = 5;
const PP_RTTS: u64 = 4_000;

const SIZES: [usize; 2] = [64, 1400];
const WINDOW: u64 = 64;
/// Echoes per criterion iteration.
const ECHO_DGRAMS: u64 = 4_000;
const ECHO_ROUNDS: usize = 9;
const ECHO_SUMMARY_DGRAMS: u64 = 10_000;

const BATCH: usize = 64;
/// Datagrams per criterion iteration (16 batches).
const SEND_DGRAMS: u64 = 1_024;
const SEND_ROUNDS: usize = 9;
const SEND_SUMMARY_DGRAMS: u64 = 16_384;

fn local() -> SocketAddr {
    common::loopback()
}

/// CPU time of the calling thread, in nanoseconds (`/proc/thread-self/schedstat`).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// The 1-minute load average when the summary started (other builds may share the host).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_default()
}

fn header(what: &str) {
    println!();
    println!("{what} ({}; load average {} at the start)", common::machine(), load_average());
}

/// Paired per-round ratios of `of[i]` against `of[r]`, median over the rounds.
fn paired(of: &[Vec<f64>], i: usize, r: usize) -> f64 {
    let mut q: Vec<f64> = of[i].iter().zip(&of[r]).map(|(a, b)| a / b).collect();
    common::median(&mut q)
}

/// A wsk client's completion of a send: cancellations at close are expected, anything
/// else is counted.
fn count_error(errors: &AtomicU64, r: wsk::Result<usize>) {
    if let Err(e) = r {
        if e != NtStatus::CANCELLED {
            errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

// ---------------------------------------------------------------------------------
// Servers

/// The wsk echo server's `WskReceiveFromEvent`: retains the chain and sends every
/// datagram's provider buffer back to its sender; each buffer is released when its send
/// completes.
struct WskEcho {
    socket: OnceLock<DatagramSocket>,
    /// One `send_messages_then` per run of datagrams from the same sender instead of one
    /// `send_to_then` per datagram.
    batch: bool,
    errors: Arc<AtomicU64>,
}

impl DatagramEvents for WskEcho {
    fn on_receive_from(&self, indication: Option<&mut DatagramIndication>, _: EventFlags) -> ReceiveFromOutcome {
        let Some(indication) = indication else {
            self.errors.fetch_add(1, Ordering::Relaxed);
            return ReceiveFromOutcome::Accepted;
        };
        let socket = self.socket.get().expect("set before events are enabled");
        let datagrams = indication.retain().into_datagrams();
        if !self.batch {
            for d in datagrams {
                let to = d.remote();
                let errors = Arc::clone(&self.errors);
                socket.send_to_then(Box::new(d.into_buffer()), Some(to), Vec::new(), move |r| count_error(&errors, r));
            }
            return ReceiveFromOutcome::Retained;
        }
        let flush = |run: &mut Vec<Box<dyn SendBuffer>>, to: Option<SocketAddr>| {
            if run.is_empty() {
                return;
            }
            let errors = Arc::clone(&self.errors);
            socket.send_messages_then(std::mem::take(run), to, Vec::new(), move |r| count_error(&errors, r));
        };
        let mut run: Vec<Box<dyn SendBuffer>> = Vec::with_capacity(datagrams.len());
        let mut to = None;
        for d in datagrams {
            if to != Some(d.remote()) {
                flush(&mut run, to);
                to = Some(d.remote());
            }
            run.push(Box::new(d.into_buffer()));
        }
        flush(&mut run, to);
        ReceiveFromOutcome::Retained
    }
}

/// A bound wsk echo server with receive-from events enabled.
struct WskServer {
    socket: DatagramSocket,
    addr: SocketAddr,
    errors: Arc<AtomicU64>,
}

impl WskServer {
    fn start(on: &WskClient, batch: bool) -> Self {
        let errors = Arc::new(AtomicU64::new(0));
        let echo = Arc::new(WskEcho { socket: OnceLock::new(), batch, errors: Arc::clone(&errors) });
        let socket = on.npi().datagram_socket(local(), Some(echo.clone())).wait().unwrap();
        echo.socket.set(socket.clone()).unwrap();
        socket.bind(local()).wait().unwrap();
        socket.enable_events(WSK_EVENT_RECEIVE_FROM).unwrap();
        let addr = socket.local_addr().unwrap();
        WskServer { socket, addr, errors }
    }

    fn close(self) {
        self.socket.close().wait_timeout(Duration::from_secs(10)).expect("close in time").unwrap();
        assert_eq!(self.errors.load(Ordering::Relaxed), 0, "wsk echo server: failed sends");
    }
}

/// A blocking std echo server on a thread of its own; it checks a stop flag between
/// short read timeouts.
struct StdServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StdServer {
    fn start() -> Self {
        let socket = UdpSocket::bind(local()).unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let addr = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut buf = Aligned::new(65_536);
            while !stopping.load(Ordering::Relaxed) {
                match socket.recv_from(buf.as_mut_slice()) {
                    Ok((n, from)) => {
                        socket.send_to(&buf.as_slice()[..n], from).unwrap();
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(e) => panic!("std echo server: {e}"),
                }
            }
        });
        StdServer { addr, stop, thread: Some(thread) }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
    }
}

async fn tokio_echo(socket: tokio::net::UdpSocket) {
    let mut buf = Aligned::new(65_536);
    loop {
        let (n, from) = socket.recv_from(buf.as_mut_slice()).await.unwrap();
        socket.send_to(&buf.as_slice()[..n], from).await.unwrap();
    }
}

fn tokio_runtime(workers: usize) -> tokio::runtime::Runtime {
    if workers == 0 {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().unwrap()
    }
}

/// Binds a tokio UDP socket inside `rt`.
fn tokio_socket(rt: &tokio::runtime::Runtime) -> tokio::net::UdpSocket {
    rt.block_on(tokio::net::UdpSocket::bind(local())).unwrap()
}

// ---------------------------------------------------------------------------------
// 1. Ping-pong

/// A 64-byte ping whose first 8 bytes are its sequence number.
struct Ping([u8; PING]);

impl Ping {
    fn new(seq: u64) -> Self {
        let mut p = [0x5a; PING];
        p[..8].copy_from_slice(&seq.to_le_bytes());
        Ping(p)
    }
}

impl SendBuffer for Ping {
    fn len(&self) -> usize {
        PING
    }
    fn region(&self, offset: usize) -> &[u8] {
        &self.0[offset.min(PING)..]
    }
}

fn seq_of(data: &[u8]) -> Option<u64> {
    (data.len() == PING).then(|| u64::from_le_bytes(data[..8].try_into().unwrap()))
}

trait PingPong {
    fn name(&self) -> &'static str;
    /// Runs `n` round trips; returns their total time and, when `record`, each one's in ns.
    fn run(&self, n: u64, record: bool) -> (Duration, Vec<u64>);
    /// Pings sent again because no echo came within `LOSS_WAIT`.
    fn lost(&self) -> u64;
    fn finish(self: Box<Self>);
}

/// Times `n` calls of `rtt`, each one separately when `record`.
fn timed(n: u64, record: bool, mut rtt: impl FnMut()) -> (Duration, Vec<u64>) {
    let mut samples = Vec::with_capacity(if record { n as usize } else { 0 });
    let start = Instant::now();
    for _ in 0..n {
        if record {
            let t = Instant::now();
            rtt();
            samples.push(t.elapsed().as_nanos() as u64);
        } else {
            rtt();
        }
    }
    (start.elapsed(), samples)
}

struct StdPingPong {
    client: UdpSocket,
    server: Option<StdServer>,
    seq: AtomicU64,
    lost: AtomicU64,
}

impl StdPingPong {
    fn new() -> Self {
        let server = StdServer::start();
        let client = UdpSocket::bind(local()).unwrap();
        client.set_read_timeout(Some(LOSS_WAIT)).unwrap();
        StdPingPong { client, server: Some(server), seq: AtomicU64::new(0), lost: AtomicU64::new(0) }
    }
}

impl PingPong for StdPingPong {
    fn name(&self) -> &'static str {
        "std_threads"
    }

    fn run(&self, n: u64, record: bool) -> (Duration, Vec<u64>) {
        let to = self.server.as_ref().unwrap().addr;
        let mut buf = [0u8; PING + 1];
        timed(n, record, || {
            let seq = self.seq.fetch_add(1, Ordering::Relaxed);
            let ping = Ping::new(seq);
            let deadline = Instant::now() + STALL;
            self.client.send_to(&ping.0, to).unwrap();
            loop {
                match self.client.recv_from(&mut buf) {
                    Ok((len, _)) if seq_of(&buf[..len]) == Some(seq) => break,
                    Ok(_) => {} // a late echo of an earlier ping
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        assert!(Instant::now() < deadline, "std ping-pong stalled");
                        self.lost.fetch_add(1, Ordering::Relaxed);
                        self.client.send_to(&ping.0, to).unwrap();
                    }
                    Err(e) => panic!("std ping-pong: {e}"),
                }
            }
        })
    }

    fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    fn finish(mut self: Box<Self>) {
        self.server.take().unwrap().stop();
    }
}

async fn tokio_ping_client(
    socket: tokio::net::UdpSocket,
    to: SocketAddr,
    first: u64,
    n: u64,
    record: bool,
) -> (tokio::net::UdpSocket, Duration, Vec<u64>, u64) {
    let mut samples = Vec::with_capacity(if record { n as usize } else { 0 });
    let mut buf = [0u8; PING + 1];
    let mut lost = 0;
    let start = Instant::now();
    for seq in first..first + n {
        let t = Instant::now();
        let ping = Ping::new(seq);
        socket.send_to(&ping.0, to).await.unwrap();
        loop {
            match tokio::time::timeout(LOSS_WAIT, socket.recv_from(&mut buf)).await {
                Ok(Ok((len, _))) if seq_of(&buf[..len]) == Some(seq) => break,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("tokio ping-pong: {e}"),
                Err(_) => {
                    assert!(t.elapsed() < STALL, "tokio ping-pong stalled");
                    lost += 1;
                    socket.send_to(&ping.0, to).await.unwrap();
                }
            }
        }
        if record {
            samples.push(t.elapsed().as_nanos() as u64);
        }
    }
    (socket, start.elapsed(), samples, lost)
}

struct TokioPingPong {
    name: &'static str,
    rt: tokio::runtime::Runtime,
    multi_thread: bool,
    client: Mutex<Option<tokio::net::UdpSocket>>,
    server: SocketAddr,
    seq: AtomicU64,
    lost: AtomicU64,
}

impl TokioPingPong {
    fn new(name: &'static str, multi_thread: bool) -> Self {
        let rt = tokio_runtime(if multi_thread { 2 } else { 0 });
        let server = tokio_socket(&rt);
        let addr = server.local_addr().unwrap();
        rt.spawn(tokio_echo(server));
        let client = tokio_socket(&rt);
        TokioPingPong {
            name,
            rt,
            multi_thread,
            client: Mutex::new(Some(client)),
            server: addr,
            seq: AtomicU64::new(0),
            lost: AtomicU64::new(0),
        }
    }
}

impl PingPong for TokioPingPong {
    fn name(&self) -> &'static str {
        self.name
    }

    fn run(&self, n: u64, record: bool) -> (Duration, Vec<u64>) {
        let client = self.client.lock().unwrap().take().unwrap();
        let first = self.seq.fetch_add(n, Ordering::Relaxed);
        let job = tokio_ping_client(client, self.server, first, n, record);
        let (client, elapsed, samples, lost) = if self.multi_thread {
            // The client runs as a task on a worker, like the server.
            let task = self.rt.spawn(job);
            self.rt.block_on(task).unwrap()
        } else {
            // The current-thread runtime runs on this thread: client and server tasks alike.
            self.rt.block_on(job)
        };
        self.lost.fetch_add(lost, Ordering::Relaxed);
        *self.client.lock().unwrap() = Some(client);
        (elapsed, samples)
    }

    fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    fn finish(self: Box<Self>) {
        let TokioPingPong { rt, client, .. } = *self;
        drop(client);
        rt.shutdown_timeout(Duration::from_secs(5));
    }
}

/// The event-driven wsk client: its `WskReceiveFromEvent` checks the echo and sends the
/// next ping, on the provider thread.
struct CallbackClient {
    socket: OnceLock<DatagramSocket>,
    server: SocketAddr,
    state: Mutex<Batch>,
    finished: Condvar,
}

#[derive(Default)]
struct Batch {
    remaining: u64,
    /// The sequence number of the ping in flight.
    seq: u64,
    started: Option<Instant>,
    record: bool,
    samples: Vec<u64>,
}

impl CallbackClient {
    fn ping(&self, seq: u64) {
        let socket = self.socket.get().expect("set before the first batch");
        socket.send_to_then(Box::new(Ping::new(seq)), Some(self.server), Vec::new(), |r| {
            r.expect("ping send");
        });
    }

    /// Runs a batch; returns its time, the samples and the pings sent again.
    fn run(&self, n: u64, record: bool) -> (Duration, Vec<u64>, u64) {
        let start = Instant::now();
        let seq = {
            let mut b = self.state.lock().unwrap();
            let seq = b.seq + 1;
            *b = Batch { remaining: n, seq, started: Some(start), record, samples: Vec::new() };
            if record {
                b.samples.reserve(n as usize);
            }
            seq
        };
        self.ping(seq);
        let mut lost = 0;
        let mut b = self.state.lock().unwrap();
        let mut seen = (b.remaining, b.seq);
        while b.remaining > 0 {
            let (next, timeout) = self.finished.wait_timeout(b, LOSS_WAIT).unwrap();
            b = next;
            if timeout.timed_out() && b.remaining > 0 && (b.remaining, b.seq) == seen {
                // No echo for LOSS_WAIT: send the ping in flight again.
                assert!(start.elapsed() < STALL, "wsk callback ping-pong stalled");
                lost += 1;
                let seq = b.seq;
                drop(b);
                self.ping(seq);
                b = self.state.lock().unwrap();
            }
            seen = (b.remaining, b.seq);
        }
        (start.elapsed(), std::mem::take(&mut b.samples), lost)
    }
}

impl DatagramEvents for CallbackClient {
    fn on_receive_from(&self, indication: Option<&mut DatagramIndication>, _: EventFlags) -> ReceiveFromOutcome {
        let Some(indication) = indication else { return ReceiveFromOutcome::Accepted };
        let mut next = None;
        let mut b = self.state.lock().unwrap();
        for d in indication.datagrams() {
            if b.remaining == 0 || seq_of(d.data()) != Some(b.seq) {
                continue; // a late echo of an earlier ping
            }
            if b.record {
                let rtt = b.started.expect("batch running").elapsed().as_nanos() as u64;
                b.samples.push(rtt);
            }
            b.remaining -= 1;
            if b.remaining == 0 {
                next = None;
                self.finished.notify_one();
            } else {
                b.seq += 1;
                b.started = Some(Instant::now());
                next = Some(b.seq);
            }
        }
        drop(b);
        if let Some(seq) = next {
            self.ping(seq);
        }
        ReceiveFromOutcome::Accepted
    }
}

struct WskPingPong {
    name: &'static str,
    clients: Vec<WskClient>,
    server: Option<WskServer>,
    client: DatagramSocket,
    callbacks: Option<Arc<CallbackClient>>,
    seq: AtomicU64,
    lost: AtomicU64,
}

impl WskPingPong {
    fn new(name: &'static str, split: bool, callbacks: bool) -> Self {
        let (a, b) = common::providers();
        let client_reg = WskClient::on(&a);
        let server_reg = WskClient::on(if split { &b } else { &a });
        let server = WskServer::start(&server_reg, false);
        let callbacks = callbacks.then(|| {
            Arc::new(CallbackClient {
                socket: OnceLock::new(),
                server: server.addr,
                state: Mutex::new(Batch::default()),
                finished: Condvar::new(),
            })
        });
        let events = callbacks.clone().map(|c| c as Arc<dyn DatagramEvents>);
        let client = client_reg.npi().datagram_socket(local(), events).wait().unwrap();
        client.bind(local()).wait().unwrap();
        if let Some(c) = &callbacks {
            c.socket.set(client.clone()).unwrap();
            client.enable_events(WSK_EVENT_RECEIVE_FROM).unwrap();
        }
        WskPingPong {
            name,
            clients: vec![client_reg, server_reg],
            server: Some(server),
            client,
            callbacks,
            seq: AtomicU64::new(0),
            lost: AtomicU64::new(0),
        }
    }
}

impl PingPong for WskPingPong {
    fn name(&self) -> &'static str {
        self.name
    }

    fn run(&self, n: u64, record: bool) -> (Duration, Vec<u64>) {
        if let Some(c) = &self.callbacks {
            let (elapsed, samples, lost) = c.run(n, record);
            self.lost.fetch_add(lost, Ordering::Relaxed);
            return (elapsed, samples);
        }
        let to = Some(self.server.as_ref().unwrap().addr);
        let client = &self.client;
        timed(n, record, || {
            let seq = self.seq.fetch_add(1, Ordering::Relaxed);
            let deadline = Instant::now() + STALL;
            let mut sent = client.send_to(Ping::new(seq), to, Vec::new());
            loop {
                let echo = client.receive_from(PING, 0);
                let canceller = echo.canceller();
                match echo.wait_timeout(LOSS_WAIT) {
                    Some(Ok(d)) if seq_of(&d.data) == Some(seq) => break,
                    Some(Ok(_)) => {} // a late echo of an earlier ping
                    Some(Err(e)) => panic!("wsk receive_from: {e}"),
                    None => {
                        assert!(Instant::now() < deadline, "wsk ping-pong stalled");
                        if let Some(c) = canceller {
                            c.cancel();
                        }
                        self.lost.fetch_add(1, Ordering::Relaxed);
                        assert_eq!(sent.wait_timeout(STALL).expect("send in time").unwrap(), PING);
                        sent = client.send_to(Ping::new(seq), to, Vec::new());
                    }
                }
            }
            assert_eq!(sent.wait_timeout(STALL).expect("send in time").unwrap(), PING);
        })
    }

    fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    fn finish(mut self: Box<Self>) {
        self.client.close().wait_timeout(Duration::from_secs(10)).expect("close in time").unwrap();
        self.server.take().unwrap().close();
        drop(self.callbacks.take());
        for c in std::mem::take(&mut self.clients) {
            c.finish();
        }
    }
}

fn pingpong_variants() -> Vec<Box<dyn PingPong>> {
    vec![
        Box::new(StdPingPong::new()),
        Box::new(TokioPingPong::new("tokio_mt2", true)),
        Box::new(TokioPingPong::new("tokio_ct", false)),
        Box::new(WskPingPong::new("wsk_1p", false, false)),
        Box::new(WskPingPong::new("wsk_2p", true, false)),
        Box::new(WskPingPong::new("wsk_1p_callbacks", false, true)),
        Box::new(WskPingPong::new("wsk_2p_callbacks", true, true)),
    ]
}

fn pingpong_criterion(c: &mut Criterion, variants: &[Box<dyn PingPong>]) {
    let mut group = c.benchmark_group("udp_pingpong_64B");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(300));
    group.measurement_time(Duration::from_millis(1000));
    for v in variants {
        group.bench_function(v.name(), |b| b.iter_custom(|iters| v.run(iters, false).0));
    }
    group.finish();
}

/// Interleaved rounds timing each round trip; percentiles over all rounds, plus the
/// whole process's CPU time and context switches per round trip (both ends included).
fn pingpong_summary(variants: &[Box<dyn PingPong>]) {
    let lost0: Vec<u64> = variants.iter().map(|v| v.lost()).collect();
    header(&format!(
        "UDP ping-pong summary: {PP_ROUNDS} interleaved rounds of {PP_RTTS} round trips of 64 B per variant"
    ));
    let stats = common::interleaved_latency(variants.len(), PP_ROUNDS, PP_RTTS, |i, n| variants[i].run(n, true).1);
    let by_name = |n: &str| stats[variants.iter().position(|v| v.name() == n).unwrap()];
    let std = by_name("std_threads");
    let mt = by_name("tokio_mt2");
    let ct = by_name("tokio_ct");
    println!(
        "| variant | p50 µs | p99 µs | mean µs | CPU µs/RTT | ctx switches/RTT | lost | p50 vs std | p50 vs tokio_mt2 | p50 vs tokio_ct | mean vs std | mean vs tokio_ct |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for ((v, l), lost0) in variants.iter().zip(&stats).zip(lost0) {
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            v.name(),
            l.p50,
            l.p99,
            l.mean,
            l.cpu_us,
            l.switches,
            v.lost() - lost0,
            l.p50 / std.p50,
            l.p50 / mt.p50,
            l.p50 / ct.p50,
            l.mean / std.mean,
            l.mean / ct.mean
        );
    }
}

// ---------------------------------------------------------------------------------
// 2. Echo throughput under a window

/// What one windowed transfer achieved.
#[derive(Clone, Copy, Default)]
struct Transfer {
    received: u64,
    lost: u64,
    elapsed: Duration,
    /// CPU time of the client (the benchmark thread).
    client_cpu_ns: u64,
}

/// The client every echo server is measured with: a blocking std socket on the
/// benchmark thread keeping `WINDOW` datagrams outstanding.
struct WindowClient {
    socket: UdpSocket,
    payload: Mutex<(Aligned, Aligned)>,
    /// Tags each transfer's datagrams, so a late echo of an earlier one is skipped.
    tag: AtomicU32,
}

impl WindowClient {
    fn new() -> Self {
        let socket = UdpSocket::bind(local()).unwrap();
        socket.set_read_timeout(Some(LOSS_WAIT)).unwrap();
        let largest = SIZES.iter().copied().max().unwrap();
        WindowClient {
            socket,
            payload: Mutex::new((Aligned::new(largest), Aligned::new(largest + 1))),
            tag: AtomicU32::new(0),
        }
    }

    /// Sends `n` datagrams of `size` bytes to `server`, at most `WINDOW` outstanding,
    /// and counts the echoes.
    fn transfer(&self, server: SocketAddr, size: usize, n: u64) -> Transfer {
        let mut guard = self.payload.lock().unwrap();
        let (payload, buf) = &mut *guard;
        let tag = self.tag.fetch_add(1, Ordering::Relaxed).to_le_bytes();
        payload.as_mut_slice()[..4].copy_from_slice(&tag);
        let payload = &payload.as_slice()[..size];
        let buf = buf.as_mut_slice();
        let send = || assert_eq!(self.socket.send_to(payload, server).unwrap(), size);
        let cpu0 = thread_cpu_ns();
        let start = Instant::now();
        let (mut sent, mut received, mut lost) = (0u64, 0u64, 0u64);
        while sent < WINDOW.min(n) {
            send();
            sent += 1;
        }
        while received + lost < n {
            match self.socket.recv_from(buf) {
                Ok((len, _)) => {
                    if len != size || buf[..4] != tag {
                        continue; // an echo from an earlier transfer
                    }
                    received += 1;
                    if received + lost > sent {
                        lost -= 1; // counted lost, but only late
                    }
                    if sent < n {
                        send();
                        sent += 1;
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    assert!(start.elapsed() < STALL, "windowed echo stalled at {received} of {n}");
                    // Nothing for LOSS_WAIT: what is outstanding is lost; refill the window.
                    lost = sent - received;
                    while sent < n && sent - received - lost < WINDOW {
                        send();
                        sent += 1;
                    }
                }
                Err(e) => panic!("windowed echo client: {e}"),
            }
        }
        Transfer { received, lost, elapsed: start.elapsed(), client_cpu_ns: thread_cpu_ns() - cpu0 }
    }
}

enum EchoServer {
    Std(StdServer),
    Tokio(tokio::runtime::Runtime, SocketAddr),
    Wsk(WskClient, WskServer),
}

impl EchoServer {
    fn addr(&self) -> SocketAddr {
        match self {
            EchoServer::Std(s) => s.addr,
            EchoServer::Tokio(_, a) => *a,
            EchoServer::Wsk(_, s) => s.addr,
        }
    }

    fn stop(self) {
        match self {
            EchoServer::Std(s) => s.stop(),
            EchoServer::Tokio(rt, _) => rt.shutdown_timeout(Duration::from_secs(5)),
            EchoServer::Wsk(reg, s) => {
                s.close();
                reg.finish();
            }
        }
    }
}

struct EchoVariant {
    name: &'static str,
    server: EchoServer,
    client: WindowClient,
}

fn echo_variants() -> Vec<EchoVariant> {
    let (a, _) = common::providers();
    let wsk = |batch| {
        let reg = WskClient::on(&a);
        let server = WskServer::start(&reg, batch);
        EchoServer::Wsk(reg, server)
    };
    let tokio = || {
        let rt = tokio_runtime(1);
        let socket = tokio_socket(&rt);
        let addr = socket.local_addr().unwrap();
        rt.spawn(tokio_echo(socket));
        EchoServer::Tokio(rt, addr)
    };
    [
        ("std_thread", EchoServer::Std(StdServer::start())),
        ("tokio_mt1", tokio()),
        ("wsk_events", wsk(false)),
        ("wsk_events_batch", wsk(true)),
    ]
    .into_iter()
    .map(|(name, server)| EchoVariant { name, server, client: WindowClient::new() })
    .collect()
}

fn echo_criterion(c: &mut Criterion, variants: &[EchoVariant]) {
    for size in SIZES {
        let mut group = c.benchmark_group(format!("udp_echo_window{WINDOW}_{size}B"));
        group.throughput(Throughput::Elements(ECHO_DGRAMS));
        group.sample_size(10);
        group.sampling_mode(SamplingMode::Flat);
        group.warm_up_time(Duration::from_millis(300));
        group.measurement_time(Duration::from_millis(1000));
        for v in variants {
            group.bench_function(v.name, |b| {
                b.iter_custom(|iters| {
                    (0..iters).map(|_| v.client.transfer(v.server.addr(), size, ECHO_DGRAMS).elapsed).sum()
                })
            });
        }
        group.finish();
    }
}

/// Interleaved rounds: every variant echoes `ECHO_SUMMARY_DGRAMS` of each size once per
/// round; medians over rounds and paired ratios.
fn echo_summary(variants: &[EchoVariant]) {
    header(&format!(
        "UDP echo summary: window of {WINDOW} datagrams, {ECHO_ROUNDS} interleaved rounds of {ECHO_SUMMARY_DGRAMS} \
         datagrams per variant and size; medians, paired ratios"
    ));
    println!(
        "| size | server | datagrams/s | (min–max) | MiB/s | server CPU µs/datagram | total CPU µs/datagram | ctx switches/datagram | \
         lost | dgram/s vs std_thread | dgram/s vs tokio_mt1 | server CPU vs tokio_mt1 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let n = variants.len();
    for size in SIZES {
        let mut rate: Vec<Vec<f64>> = vec![Vec::new(); n];
        let mut server_cpu: Vec<Vec<f64>> = vec![Vec::new(); n];
        let mut total_cpu: Vec<Vec<f64>> = vec![Vec::new(); n];
        let mut switches: Vec<Vec<f64>> = vec![Vec::new(); n];
        let mut lost = vec![0u64; n];
        for _ in 0..ECHO_ROUNDS {
            for (i, v) in variants.iter().enumerate() {
                let (cpu0, cs0) = (common::process_cpu_ns(), common::process_ctx_switches());
                let t = v.client.transfer(v.server.addr(), size, ECHO_SUMMARY_DGRAMS);
                let cpu = common::process_cpu_ns() - cpu0;
                let got = t.received.max(1) as f64;
                switches[i].push((common::process_ctx_switches() - cs0) as f64 / got);
                rate[i].push(t.received as f64 / t.elapsed.as_secs_f64());
                total_cpu[i].push(cpu as f64 / got / 1e3);
                server_cpu[i].push(cpu.saturating_sub(t.client_cpu_ns) as f64 / got / 1e3);
                lost[i] += t.lost;
            }
        }
        for (i, v) in variants.iter().enumerate() {
            let (lo, hi) = rate[i].iter().fold((f64::MAX, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
            let r = common::median(&mut rate[i].clone());
            println!(
                "| {size} B | {} | {:.0} | {:.0}–{:.0} | {:.1} | {:.2} | {:.2} | {:.2} | {} | {:.2} | {:.2} | {:.2} |",
                v.name,
                r,
                lo,
                hi,
                r * size as f64 / (1 << 20) as f64,
                common::median(&mut server_cpu[i].clone()),
                common::median(&mut total_cpu[i].clone()),
                common::median(&mut switches[i].clone()),
                lost[i],
                paired(&rate, i, 0),
                paired(&rate, i, 1),
                paired(&server_cpu, i, 1),
            );
        }
    }
}

// ---------------------------------------------------------------------------------
// 3. Sending batches

/// Sends `n` datagrams (a multiple of `BATCH`) of the chunk's size to the sink.
trait Sender {
    fn name(&self) -> &'static str;
    fn send(&self, n: u64);
    fn finish(self: Box<Self>) {}
}

struct StdSender {
    socket: UdpSocket,
    chunk: Chunk,
    sink: SocketAddr,
}

impl Sender for StdSender {
    fn name(&self) -> &'static str {
        "std_send_to"
    }

    fn send(&self, n: u64) {
        let data = self.chunk.0.as_slice();
        for _ in 0..n {
            assert_eq!(self.socket.send_to(data, self.sink).unwrap(), data.len());
        }
    }
}

struct TokioSender {
    rt: tokio::runtime::Runtime,
    socket: tokio::net::UdpSocket,
    chunk: Chunk,
    sink: SocketAddr,
}

impl Sender for TokioSender {
    fn name(&self) -> &'static str {
        "tokio_ct_send_to"
    }

    fn send(&self, n: u64) {
        let data = self.chunk.0.as_slice();
        self.rt.block_on(async {
            for _ in 0..n {
                assert_eq!(self.socket.send_to(data, self.sink).await.unwrap(), data.len());
            }
        });
    }

    fn finish(self: Box<Self>) {
        let TokioSender { rt, socket, .. } = *self;
        drop(socket);
        rt.shutdown_timeout(Duration::from_secs(5));
    }
}

struct WskSender {
    name: &'static str,
    reg: Option<WskClient>,
    socket: DatagramSocket,
    chunk: Chunk,
    sink: SocketAddr,
    /// Datagrams completed so far.
    done: Arc<Counter>,
    started: AtomicU64,
    messages: bool,
}

impl WskSender {
    fn new(name: &'static str, messages: bool, chunk: Chunk, sink: SocketAddr) -> Self {
        let (a, _) = common::providers();
        let reg = WskClient::on(&a);
        let socket = reg.npi().datagram_socket(local(), None).wait().unwrap();
        socket.bind(local()).wait().unwrap();
        WskSender {
            name,
            reg: Some(reg),
            socket,
            chunk,
            sink,
            done: Arc::new(Counter::default()),
            started: AtomicU64::new(0),
            messages,
        }
    }
}

impl Sender for WskSender {
    fn name(&self) -> &'static str {
        self.name
    }

    fn send(&self, n: u64) {
        let target = self.started.fetch_add(n, Ordering::Relaxed) + n;
        let len = self.chunk.0.as_slice().len();
        if self.messages {
            for _ in 0..n / BATCH as u64 {
                let list: Vec<Box<dyn SendBuffer>> =
                    (0..BATCH).map(|_| Box::new(self.chunk.clone()) as Box<dyn SendBuffer>).collect();
                let done = Arc::clone(&self.done);
                self.socket.send_messages_then(list, Some(self.sink), Vec::new(), move |r| {
                    assert_eq!(r.expect("send_messages"), BATCH * len);
                    done.add(BATCH as u64);
                });
            }
        } else {
            for _ in 0..n {
                let done = Arc::clone(&self.done);
                self.socket.send_to_then(Box::new(self.chunk.clone()), Some(self.sink), Vec::new(), move |r| {
                    assert_eq!(r.expect("send_to"), len);
                    done.add(1);
                });
            }
        }
        self.done.wait_for(target, STALL);
    }

    fn finish(mut self: Box<Self>) {
        self.socket.close().wait_timeout(Duration::from_secs(10)).expect("close in time").unwrap();
        self.reg.take().unwrap().finish();
    }
}

/// One sink socket per size, never read.
struct SendVariants {
    size: usize,
    _sink: UdpSocket,
    senders: Vec<Box<dyn Sender>>,
}

fn send_variants() -> Vec<SendVariants> {
    SIZES
        .iter()
        .map(|&size| {
            let sink_socket = UdpSocket::bind(local()).unwrap();
            let sink = sink_socket.local_addr().unwrap();
            let chunk = || Chunk(Arc::new(Aligned::new(size)));
            let rt = tokio_runtime(0);
            let socket = tokio_socket(&rt);
            let senders: Vec<Box<dyn Sender>> = vec![
                Box::new(StdSender { socket: UdpSocket::bind(local()).unwrap(), chunk: chunk(), sink }),
                Box::new(TokioSender { rt, socket, chunk: chunk(), sink }),
                Box::new(WskSender::new("wsk_send_to_then", false, chunk(), sink)),
                Box::new(WskSender::new("wsk_send_messages", true, chunk(), sink)),
            ];
            SendVariants { size, _sink: sink_socket, senders }
        })
        .collect()
}

fn send_criterion(c: &mut Criterion, variants: &[SendVariants]) {
    for sv in variants {
        let mut group = c.benchmark_group(format!("udp_send_batch{BATCH}_{}B", sv.size));
        group.throughput(Throughput::Elements(SEND_DGRAMS));
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(300));
        group.measurement_time(Duration::from_millis(1000));
        for s in &sv.senders {
            group.bench_function(s.name(), |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        s.send(SEND_DGRAMS);
                    }
                    start.elapsed()
                })
            });
        }
        group.finish();
    }
}

fn send_summary(variants: &[SendVariants]) {
    header(&format!(
        "UDP send summary: batches of {BATCH} datagrams to a sink that is never read, {SEND_ROUNDS} interleaved \
         rounds of {SEND_SUMMARY_DGRAMS} datagrams per variant and size; medians, paired ratios"
    ));
    println!(
        "| size | sender | datagrams/s | (min–max) | CPU µs/datagram | ctx switches/datagram | vs std_send_to | \
         vs wsk_send_to_then |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for sv in variants {
        let n = sv.senders.len();
        let mut rate: Vec<Vec<f64>> = vec![Vec::new(); n];
        let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); n];
        let mut switches: Vec<Vec<f64>> = vec![Vec::new(); n];
        for _ in 0..SEND_ROUNDS {
            for (i, s) in sv.senders.iter().enumerate() {
                let (cpu0, cs0) = (common::process_cpu_ns(), common::process_ctx_switches());
                let t = Instant::now();
                s.send(SEND_SUMMARY_DGRAMS);
                let wall = t.elapsed().as_secs_f64();
                rate[i].push(SEND_SUMMARY_DGRAMS as f64 / wall);
                cpu[i].push((common::process_cpu_ns() - cpu0) as f64 / SEND_SUMMARY_DGRAMS as f64 / 1e3);
                switches[i].push((common::process_ctx_switches() - cs0) as f64 / SEND_SUMMARY_DGRAMS as f64);
            }
        }
        let wsk_then = sv.senders.iter().position(|s| s.name() == "wsk_send_to_then").unwrap();
        for (i, s) in sv.senders.iter().enumerate() {
            let (lo, hi) = rate[i].iter().fold((f64::MAX, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
            println!(
                "| {} B | {} | {:.0} | {:.0}–{:.0} | {:.2} | {:.3} | {:.2} | {:.2} |",
                sv.size,
                s.name(),
                common::median(&mut rate[i].clone()),
                lo,
                hi,
                common::median(&mut cpu[i].clone()),
                common::median(&mut switches[i].clone()),
                paired(&rate, i, 0),
                paired(&rate, i, wsk_then),
            );
        }
    }
}

// ---------------------------------------------------------------------------------

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let summaries = common::bench_mode() && common::filter().is_none();

    let pingpong = pingpong_variants();
    pingpong_criterion(&mut c, &pingpong);
    let echo = echo_variants();
    echo_criterion(&mut c, &echo);
    let send = send_variants();
    send_criterion(&mut c, &send);
    c.final_summary();

    if summaries {
        pingpong_summary(&pingpong);
        echo_summary(&echo);
        send_summary(&send);
    }

    for v in pingpong {
        v.finish();
    }
    for v in echo {
        v.server.stop();
    }
    for sv in send {
        for s in sv.senders {
            s.finish();
        }
    }
}
