//! 64-byte ping-pong over loopback: the client sends 64 B, the server echoes them, the
//! client waits for all 64 B, repeat. Reported per round trip.
//!
//! Variants (one connection each for the whole run, `TCP_NODELAY` on both ends unless
//! said otherwise):
//! - `std_threads`: blocking `std::net::TcpStream`, server on its own thread, client on
//!   the benchmark thread (two threads, one wake-up per direction: the baseline);
//! - `tokio_mt2`: multi-thread runtime with 2 workers; the echo server is a task, the
//!   client is a task spawned per batch of round trips (both on workers);
//! - `tokio_ct`: current-thread runtime; client and server tasks on one thread (no
//!   cross-thread wake-up at all);
//! - `wsk_1p`: the server echoes from `WskReceiveEvent` (retains the indication and sends
//!   it back with `send_then`, zero-copy), the client calls `send` then
//!   `receive(64, WSK_FLAG_WAITALL).wait()` on the benchmark thread; one provider
//!   (reactor) serves both ends;
//! - `wsk_2p`: the same with client and server on two providers (two reactors);
//! - `wsk_1p_flag_nodelay`: as `wsk_1p` but `TCP_NODELAY` is never set on the sockets;
//!   every send carries `WSK_FLAG_NODELAY` instead (what a WSK client ported from Windows does);
//! - `wsk_1p_callbacks` / `wsk_2p_callbacks`: the client is event-driven as well (its
//!   `WskReceiveEvent` sends the next ping), so a batch runs entirely on provider
//!   threads — the like-for-like match for the tokio client task;
//! - `wsk_1p_spin_wait` (experiment): as `wsk_1p`, but the client polls the receive `Op`
//!   for up to 50 µs (yielding between polls) before blocking, to measure what the
//!   reactor-to-client wake-up costs.
//!
//! After criterion, `cargo bench` runs interleaved rounds timing every round trip and
//! prints p50 / p99 / mean per variant and ratios against tokio and std from those rounds.

mod common;

use std::future::Future;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{WskClient, WskPair};
use criterion::{Criterion, Throughput};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsk::events::WSK_EVENT_RECEIVE;
use wsk::flags::{WSK_FLAG_NODELAY, WSK_FLAG_WAITALL};
use wsk::{ConnectionEvents, ConnectionSocket, DataIndication, EventFlags, ReceiveOutcome};

const MSG: usize = 64;
static PING: [u8; MSG] = [0x5a; MSG];
const SUMMARY_ROUNDS: usize = 5;
const SUMMARY_RTTS: u64 = 5_000;

trait PingPong {
    fn name(&self) -> &'static str;
    /// Runs `n` round trips; returns their total time and, when `record`, each one's in ns.
    fn run(&self, n: u64, record: bool) -> (Duration, Vec<u64>);
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

// ---------------------------------------------------------------------------------
// std

struct StdThreads {
    client: Mutex<std::net::TcpStream>,
    server: Option<std::thread::JoinHandle<()>>,
}

impl StdThreads {
    fn new() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        client.set_nodelay(true).unwrap();
        server.set_nodelay(true).unwrap();
        let server = std::thread::spawn(move || {
            let mut buf = [0u8; MSG];
            while server.read_exact(&mut buf).is_ok() {
                server.write_all(&buf).unwrap();
            }
        });
        StdThreads { client: Mutex::new(client), server: Some(server) }
    }
}

impl PingPong for StdThreads {
    fn name(&self) -> &'static str {
        "std_threads"
    }

    fn run(&self, n: u64, record: bool) -> (Duration, Vec<u64>) {
        let mut client = self.client.lock().unwrap();
        let mut buf = [0u8; MSG];
        timed(n, record, || {
            client.write_all(&PING).unwrap();
            client.read_exact(&mut buf).unwrap();
        })
    }

    fn finish(mut self: Box<Self>) {
        self.client.lock().unwrap().shutdown(std::net::Shutdown::Both).unwrap();
        self.server.take().unwrap().join().unwrap();
    }
}

// ---------------------------------------------------------------------------------
// tokio

async fn tokio_echo(mut s: tokio::net::TcpStream) {
    let mut buf = [0u8; MSG];
    while s.read_exact(&mut buf).await.is_ok() {
        if s.write_all(&buf).await.is_err() {
            break;
        }
    }
}

async fn tokio_client(
    mut s: tokio::net::TcpStream,
    n: u64,
    record: bool,
) -> (tokio::net::TcpStream, Duration, Vec<u64>) {
    let mut samples = Vec::with_capacity(if record { n as usize } else { 0 });
    let mut buf = [0u8; MSG];
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        s.write_all(&PING).await.unwrap();
        s.read_exact(&mut buf).await.unwrap();
        if record {
            samples.push(t.elapsed().as_nanos() as u64);
        }
    }
    (s, start.elapsed(), samples)
}

struct Tokio {
    name: &'static str,
    rt: tokio::runtime::Runtime,
    multi_thread: bool,
    client: Mutex<Option<tokio::net::TcpStream>>,
}

impl Tokio {
    fn new(name: &'static str, multi_thread: bool) -> Self {
        let rt = if multi_thread {
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
        } else {
            tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
        };
        let (client, server) = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (c, s) = tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
            (c.unwrap(), s.unwrap().0)
        });
        client.set_nodelay(true).unwrap();
        server.set_nodelay(true).unwrap();
        rt.spawn(tokio_echo(server));
        Tokio { name, rt, multi_thread, client: Mutex::new(Some(client)) }
    }
}

impl PingPong for Tokio {
    fn name(&self) -> &'static str {
        self.name
    }

    fn run(&self, n: u64, record: bool) -> (Duration, Vec<u64>) {
        let client = self.client.lock().unwrap().take().unwrap();
        let (client, elapsed, samples) = if self.multi_thread {
            // The client runs as a task on a worker, like the server.
            let task = self.rt.spawn(tokio_client(client, n, record));
            self.rt.block_on(task).unwrap()
        } else {
            // The current-thread runtime runs on this thread: client and server tasks alike.
            self.rt.block_on(tokio_client(client, n, record))
        };
        *self.client.lock().unwrap() = Some(client);
        (elapsed, samples)
    }

    fn finish(self: Box<Self>) {
        let Tokio { rt, client, .. } = *self;
        drop(client);
        rt.shutdown_timeout(Duration::from_secs(5));
    }
}

// ---------------------------------------------------------------------------------
// wsk

/// The echo server's `WskReceiveEvent`: retains the indication and sends it back as it
/// is; the send's completion releases the buffers.
struct Echo {
    socket: OnceLock<ConnectionSocket>,
    send_flags: u32,
}

impl ConnectionEvents for Echo {
    fn on_receive(&self, data: Option<&mut DataIndication>, _: EventFlags) -> ReceiveOutcome {
        let Some(data) = data else { return ReceiveOutcome::Accepted };
        let retained = data.retain();
        let socket = self.socket.get().expect("set before events are enabled");
        socket.send_then(Box::new(retained), self.send_flags, |r| {
            r.expect("echo send");
        });
        ReceiveOutcome::Retained
    }
}

/// How the wsk client waits for each echo.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClientMode {
    /// `send` + `receive(64, WSK_FLAG_WAITALL).wait()` on the benchmark thread.
    Wait,
    /// The same, but the client polls the receive `Op` for up to `SPIN` (yielding the CPU
    /// between polls) before blocking in `wait()`: an experiment that shows what the
    /// reactor-to-client wake-up costs.
    SpinThenWait,
    /// The client is event-driven too: its `WskReceiveEvent` callback counts the echo and
    /// sends the next ping with `send_then`, all on the provider thread; the benchmark
    /// thread only starts a batch and waits for its end (like the tokio client task).
    Callbacks,
}

const SPIN: Duration = Duration::from_micros(50);

/// The client side in `ClientMode::Callbacks`.
struct CallbackClient {
    socket: OnceLock<ConnectionSocket>,
    state: Mutex<Batch>,
    finished: std::sync::Condvar,
}

#[derive(Default)]
struct Batch {
    remaining: u64,
    /// Bytes of the current echo received so far.
    got: usize,
    started: Option<Instant>,
    record: bool,
    samples: Vec<u64>,
}

impl CallbackClient {
    fn ping(&self) {
        let socket = self.socket.get().expect("set before the first batch");
        socket.send_then(Box::new(&PING[..]), 0, |r| {
            r.expect("ping send");
        });
    }

    fn run(&self, n: u64, record: bool) -> (Duration, Vec<u64>) {
        let start = Instant::now();
        {
            let mut b = self.state.lock().unwrap();
            *b = Batch { remaining: n, got: 0, started: Some(start), record, samples: Vec::new() };
            if record {
                b.samples.reserve(n as usize);
            }
        }
        self.ping();
        let mut b = self.state.lock().unwrap();
        while b.remaining > 0 {
            b = self.finished.wait_timeout(b, Duration::from_secs(30)).unwrap().0;
            assert!(b.started.is_some(), "batch lost");
        }
        (start.elapsed(), std::mem::take(&mut b.samples))
    }
}

impl ConnectionEvents for CallbackClient {
    fn on_receive(&self, data: Option<&mut DataIndication>, _: EventFlags) -> ReceiveOutcome {
        let Some(data) = data else { return ReceiveOutcome::Accepted };
        let mut b = self.state.lock().unwrap();
        b.got += data.bytes_indicated();
        if b.got < MSG {
            return ReceiveOutcome::Accepted;
        }
        assert_eq!(b.got, MSG, "one ping in flight at a time");
        b.got = 0;
        if b.record {
            let rtt = b.started.expect("batch running").elapsed().as_nanos() as u64;
            b.samples.push(rtt);
        }
        b.remaining -= 1;
        if b.remaining == 0 {
            drop(b);
            self.finished.notify_one();
            return ReceiveOutcome::Accepted;
        }
        b.started = Some(Instant::now());
        drop(b);
        self.ping();
        ReceiveOutcome::Accepted
    }
}

struct Wsk {
    name: &'static str,
    clients: Vec<WskClient>,
    pair: WskPair,
    send_flags: u32,
    mode: ClientMode,
    callbacks: Option<Arc<CallbackClient>>,
}

impl Wsk {
    fn new(name: &'static str, split: bool, flag_nodelay: bool, mode: ClientMode) -> Self {
        let (a, b) = common::providers();
        let client = WskClient::on(&a);
        let server = WskClient::on(if split { &b } else { &a });
        let send_flags = if flag_nodelay { WSK_FLAG_NODELAY } else { 0 };
        let echo = Arc::new(Echo { socket: OnceLock::new(), send_flags });
        let callbacks = (mode == ClientMode::Callbacks).then(|| {
            Arc::new(CallbackClient {
                socket: OnceLock::new(),
                state: Mutex::new(Batch::default()),
                finished: std::sync::Condvar::new(),
            })
        });
        let client_events = callbacks.clone().map(|c| c as Arc<dyn ConnectionEvents>);
        let pair = WskPair::connect_with(&client, &server, client_events, Some(echo.clone()));
        if !flag_nodelay {
            pair.active.set_nodelay(true).unwrap();
            pair.passive.set_nodelay(true).unwrap();
        }
        echo.socket.set(pair.passive.clone()).unwrap();
        pair.passive.enable_events(WSK_EVENT_RECEIVE).unwrap();
        if let Some(c) = &callbacks {
            c.socket.set(pair.active.clone()).unwrap();
            pair.active.enable_events(WSK_EVENT_RECEIVE).unwrap();
        }
        Wsk { name, clients: vec![client, server], pair, send_flags, mode, callbacks }
    }
}

/// Polls `op` (yielding between polls) for up to `SPIN`, then blocks on it.
fn spin_then_wait<T: Send + 'static>(mut op: wsk::Op<T>) -> wsk::Result<T> {
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    let waker = std::task::Waker::from(Arc::new(Noop));
    let mut cx = std::task::Context::from_waker(&waker);
    let start = Instant::now();
    while start.elapsed() < SPIN {
        if let std::task::Poll::Ready(r) = std::pin::Pin::new(&mut op).poll(&mut cx) {
            return r;
        }
        std::thread::yield_now();
    }
    op.wait()
}

impl PingPong for Wsk {
    fn name(&self) -> &'static str {
        self.name
    }

    fn run(&self, n: u64, record: bool) -> (Duration, Vec<u64>) {
        if let Some(c) = &self.callbacks {
            return c.run(n, record);
        }
        let client = &self.pair.active;
        let spin = self.mode == ClientMode::SpinThenWait;
        timed(n, record, || {
            let sent = client.send(&PING[..], self.send_flags);
            let echo = client.receive(MSG, WSK_FLAG_WAITALL);
            let echoed = if spin { spin_then_wait(echo) } else { echo.wait() }.unwrap();
            assert_eq!(echoed.len(), MSG);
            assert_eq!(sent.wait().unwrap(), MSG);
        })
    }

    fn finish(self: Box<Self>) {
        let Wsk { clients, pair, callbacks, .. } = *self;
        pair.close();
        drop(callbacks);
        for c in clients {
            c.finish();
        }
    }
}

// ---------------------------------------------------------------------------------

fn variants() -> Vec<Box<dyn PingPong>> {
    vec![
        Box::new(StdThreads::new()),
        Box::new(Tokio::new("tokio_mt2", true)),
        Box::new(Tokio::new("tokio_ct", false)),
        Box::new(Wsk::new("wsk_1p", false, false, ClientMode::Wait)),
        Box::new(Wsk::new("wsk_2p", true, false, ClientMode::Wait)),
        Box::new(Wsk::new("wsk_1p_flag_nodelay", false, true, ClientMode::Wait)),
        Box::new(Wsk::new("wsk_1p_callbacks", false, false, ClientMode::Callbacks)),
        Box::new(Wsk::new("wsk_2p_callbacks", true, false, ClientMode::Callbacks)),
        Box::new(Wsk::new("wsk_1p_spin_wait", false, false, ClientMode::SpinThenWait)),
    ]
}

fn criterion_runs(c: &mut Criterion, variants: &[Box<dyn PingPong>]) {
    let mut group = c.benchmark_group("pingpong_64B");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_millis(1500));
    for v in variants {
        group.bench_function(v.name(), |b| b.iter_custom(|iters| v.run(iters, false).0));
    }
    group.finish();
}

/// Interleaved rounds timing each round trip; percentiles over all rounds, plus the
/// whole process's CPU time and context switches per round trip (both ends included).
fn summary(variants: &[Box<dyn PingPong>]) {
    let stats =
        common::interleaved_latency(variants.len(), SUMMARY_ROUNDS, SUMMARY_RTTS, |i, n| variants[i].run(n, true).1);
    let by_name = |n: &str| stats[variants.iter().position(|v| v.name() == n).unwrap()];
    let std = by_name("std_threads");
    let mt = by_name("tokio_mt2");
    let ct = by_name("tokio_ct");
    println!();
    println!(
        "ping-pong summary: {SUMMARY_ROUNDS} interleaved rounds of {SUMMARY_RTTS} round trips per variant ({})",
        common::machine()
    );
    println!(
        "| variant | p50 µs | p99 µs | mean µs | CPU µs/RTT | ctx switches/RTT | p50 vs std | p50 vs tokio_mt2 | p50 vs tokio_ct | mean vs std | mean vs tokio_mt2 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (v, l) in variants.iter().zip(&stats) {
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            v.name(),
            l.p50,
            l.p99,
            l.mean,
            l.cpu_us,
            l.switches,
            l.p50 / std.p50,
            l.p50 / mt.p50,
            l.p50 / ct.p50,
            l.mean / std.mean,
            l.mean / mt.mean
        );
    }
}

fn main() {
    let variants = variants();
    let mut c = Criterion::default().configure_from_args();
    criterion_runs(&mut c, &variants);
    c.final_summary();
    if common::bench_mode() && common::filter().is_none() {
        summary(&variants);
    }
    for v in variants {
        v.finish();
    }
}
