//! Bulk TCP over loopback: 64 MiB per iteration in 64 KiB sends, wsk against tokio.
//!
//! Every variant keeps one connection for the whole run and moves `BYTES` per
//! iteration from a sender to a receiver in the same process:
//! - `wsk_events_*`: the receiver takes data through `WskReceiveEvent` and accepts each
//!   indication after counting it;
//! - `wsk_recv_ops_*`: the receiver keeps one `WskReceive` of 64 KiB pending, reposting
//!   the same buffer from its completion routine;
//! - the wsk sender keeps `IN_FLIGHT` sends of the same 64 KiB chunk outstanding,
//!   refilled from their completion routines (how WSK clients keep the pipe full);
//! - `*_1p`: both ends on one provider (one reactor thread); `*_2p`: sender and receiver
//!   on two providers (two reactor threads, like the two tokio workers);
//! - `tokio_mt2` / `tokio_mt1`: `write_all` / `read` tasks on a multi-thread runtime with
//!   2 workers (1 worker: both ends on one core, the fair match for `*_1p`).
//!
//! After criterion, `cargo bench` also runs interleaved summary rounds (256 MiB per
//! variant per round, 16 rounds) and prints throughput, CPU seconds per GiB (all threads of the process,
//! both ends) and ratios against tokio from those same rounds.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Aligned, Chunk, Counter, WskClient, WskPair};
use criterion::{Criterion, Throughput};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsk::events::WSK_EVENT_RECEIVE;
use wsk::{ConnectionEvents, ConnectionSocket, DataIndication, EventFlags, ReceiveBuffer, ReceiveOutcome};

const CHUNK: usize = 64 * 1024;
const BYTES: u64 = 64 * 1024 * 1024;
const IN_FLIGHT: usize = 4;
const SUMMARY_BYTES: u64 = 256 * 1024 * 1024;
const SUMMARY_ROUNDS: usize = 16;
const TIMEOUT: Duration = Duration::from_secs(60);

/// A sender and a receiver that can move `bytes` from one to the other.
trait Bulk {
    fn name(&self) -> &'static str;
    /// Moves `bytes` and returns once the receiver counted all of them.
    fn transfer(&self, bytes: u64);
    fn finish(self: Box<Self>);
}

// ---------------------------------------------------------------------------------
// wsk

/// The sending side: `remaining` chunks still to start; each completion starts the next.
struct Pump {
    socket: ConnectionSocket,
    chunk: Chunk,
    remaining: AtomicU64,
}

impl Pump {
    fn start_one(self: &Arc<Self>) {
        let claimed = self.remaining.fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| r.checked_sub(1));
        if claimed.is_err() {
            return;
        }
        let me = Arc::clone(self);
        self.socket.send_then(Box::new(self.chunk.clone()), 0, move |r| {
            assert_eq!(r.expect("send completes"), CHUNK);
            me.start_one();
        });
    }

    fn send(self: &Arc<Self>, bytes: u64) {
        self.remaining.store(bytes / CHUNK as u64, Ordering::Release);
        for _ in 0..IN_FLIGHT {
            self.start_one();
        }
    }
}

/// `WskReceiveEvent` receiver: counts and accepts every indication.
struct CountingEvents {
    counter: Arc<Counter>,
}

impl ConnectionEvents for CountingEvents {
    fn on_receive(&self, data: Option<&mut DataIndication>, _: EventFlags) -> ReceiveOutcome {
        if let Some(d) = data {
            self.counter.add(d.bytes_indicated() as u64);
        }
        ReceiveOutcome::Accepted
    }
}

/// `WskReceive` receiver: one pending receive into a reused 64 KiB buffer, reposted from
/// its completion routine until the connection ends (or is closed: `STATUS_CANCELLED`).
fn post_receive(socket: ConnectionSocket, buf: Box<dyn ReceiveBuffer>, counter: Arc<Counter>) {
    let again = socket.clone();
    socket.receive_then(buf, 0, move |r, buf| {
        if let Ok(n) = r {
            if n > 0 {
                counter.add(n as u64);
                post_receive(again, buf, counter);
            }
        }
    });
}

struct WskBulk {
    name: &'static str,
    clients: Vec<WskClient>,
    pair: WskPair,
    pump: Arc<Pump>,
    counter: Arc<Counter>,
    target: AtomicU64,
}

impl WskBulk {
    fn new(name: &'static str, events: bool, split: bool) -> Self {
        let (a, b) = common::providers();
        let sender = WskClient::on(&a);
        let receiver = WskClient::on(if split { &b } else { &a });
        let counter = Arc::new(Counter::default());
        let handler: Option<Arc<dyn ConnectionEvents>> =
            if events { Some(Arc::new(CountingEvents { counter: Arc::clone(&counter) })) } else { None };
        let pair = WskPair::connect(&sender, &receiver, handler);
        if events {
            pair.passive.enable_events(WSK_EVENT_RECEIVE).unwrap();
        } else {
            post_receive(pair.passive.clone(), Box::new(Aligned::new(CHUNK)), Arc::clone(&counter));
        }
        let pump = Arc::new(Pump {
            socket: pair.active.clone(),
            chunk: Chunk(Arc::new(Aligned::new(CHUNK))),
            remaining: AtomicU64::new(0),
        });
        WskBulk { name, clients: vec![sender, receiver], pair, pump, counter, target: AtomicU64::new(0) }
    }
}

impl Bulk for WskBulk {
    fn name(&self) -> &'static str {
        self.name
    }

    fn transfer(&self, bytes: u64) {
        let target = self.target.fetch_add(bytes, Ordering::AcqRel) + bytes;
        self.pump.send(bytes);
        self.counter.wait_for(target, TIMEOUT);
    }

    fn finish(self: Box<Self>) {
        let WskBulk { clients, pair, pump, .. } = *self;
        drop(pump);
        pair.close();
        for c in clients {
            c.finish();
        }
    }
}

// ---------------------------------------------------------------------------------
// tokio

/// Each transfer spawns a sender task (`write_all` of 64 KiB chunks) and a receiver task
/// (`read` into a 64 KiB buffer) on the runtime; the connection's two ends move into the
/// tasks and come back through their join handles (a spawn costs microseconds against
/// the ~20 ms a 64 MiB transfer takes).
type Ends = ((tokio::net::TcpStream, Aligned), (tokio::net::TcpStream, Aligned));

struct TokioBulk {
    name: &'static str,
    rt: tokio::runtime::Runtime,
    /// Sender stream and chunk, receiver stream and buffer.
    ends: std::sync::Mutex<Option<Ends>>,
}

impl TokioBulk {
    fn new(name: &'static str, workers: usize) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().unwrap();
        let ends = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (client, server) = tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
            ((client.unwrap(), Aligned::new(CHUNK)), (server.unwrap().0, Aligned::new(CHUNK)))
        });
        TokioBulk { name, rt, ends: std::sync::Mutex::new(Some(ends)) }
    }
}

impl Bulk for TokioBulk {
    fn name(&self) -> &'static str {
        self.name
    }

    fn transfer(&self, bytes: u64) {
        let ((mut tx, chunk), (mut rx, mut buf)) = self.ends.lock().unwrap().take().expect("ends present");
        let sender = self.rt.spawn(async move {
            for _ in 0..bytes / CHUNK as u64 {
                tx.write_all(chunk.as_slice()).await.unwrap();
            }
            (tx, chunk)
        });
        let receiver = self.rt.spawn(async move {
            let mut got = 0;
            while got < bytes {
                let n = rx.read(buf.as_mut_slice()).await.unwrap();
                assert!(n > 0, "unexpected end of stream");
                got += n as u64;
            }
            (rx, buf)
        });
        let ends = self.rt.block_on(async {
            tokio::time::timeout(TIMEOUT, async { (sender.await.unwrap(), receiver.await.unwrap()) })
                .await
                .expect("tokio transfer in time")
        });
        *self.ends.lock().unwrap() = Some(ends);
    }

    fn finish(self: Box<Self>) {
        let TokioBulk { rt, ends, .. } = *self;
        drop(ends);
        rt.shutdown_timeout(Duration::from_secs(5));
    }
}

// ---------------------------------------------------------------------------------

fn variants() -> Vec<Box<dyn Bulk>> {
    vec![
        Box::new(TokioBulk::new("tokio_mt2", 2)),
        Box::new(TokioBulk::new("tokio_mt1", 1)),
        Box::new(WskBulk::new("wsk_events_1p", true, false)),
        Box::new(WskBulk::new("wsk_events_2p", true, true)),
        Box::new(WskBulk::new("wsk_recv_ops_1p", false, false)),
        Box::new(WskBulk::new("wsk_recv_ops_2p", false, true)),
    ]
}

fn criterion_runs(c: &mut Criterion, variants: &[Box<dyn Bulk>]) {
    let mut group = c.benchmark_group("bulk_64KiB");
    group.throughput(Throughput::Bytes(BYTES));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    for v in variants {
        group.bench_function(v.name(), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    v.transfer(BYTES);
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

/// Interleaved rounds: every variant moves `SUMMARY_BYTES` once per round, so a load
/// change on the host hits all of them alike. Ratios are paired: each round's figure over
/// the reference's figure in the same round, then the median over rounds.
fn summary(variants: &[Box<dyn Bulk>]) {
    let n = variants.len();
    let mut gib_s: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut cpu_s_per_gib: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut switches_per_mib: Vec<Vec<f64>> = vec![Vec::new(); n];
    let gib = SUMMARY_BYTES as f64 / (1u64 << 30) as f64;
    for _ in 0..SUMMARY_ROUNDS {
        for (i, v) in variants.iter().enumerate() {
            let (cpu0, cs0) = (common::process_cpu_ns(), common::process_ctx_switches());
            let t0 = Instant::now();
            v.transfer(SUMMARY_BYTES);
            let wall = t0.elapsed().as_secs_f64();
            let cpu = (common::process_cpu_ns() - cpu0) as f64 / 1e9;
            gib_s[i].push(gib / wall);
            cpu_s_per_gib[i].push(cpu / gib);
            switches_per_mib[i].push((common::process_ctx_switches() - cs0) as f64 / (SUMMARY_BYTES >> 20) as f64);
        }
    }
    // Paired per-round ratios against variant `r`.
    let paired = |of: &[Vec<f64>], i: usize, r: usize| -> f64 {
        let mut q: Vec<f64> = of[i].iter().zip(&of[r]).map(|(a, b)| a / b).collect();
        common::median(&mut q)
    };
    println!();
    println!(
        "bulk TCP summary: {SUMMARY_ROUNDS} interleaved rounds of {} MiB per variant; medians, paired ratios ({})",
        SUMMARY_BYTES >> 20,
        common::machine()
    );
    println!(
        "| variant | GiB/s | (min–max) | CPU s per GiB | ctx switches per MiB | GiB/s vs tokio_mt2 | GiB/s vs tokio_mt1 | CPU/GiB vs tokio_mt2 | CPU/GiB vs tokio_mt1 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (i, v) in variants.iter().enumerate() {
        let (lo, hi) = gib_s[i].iter().fold((f64::MAX, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        println!(
            "| {} | {:.2} | {:.2}–{:.2} | {:.3} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} |",
            v.name(),
            common::median(&mut gib_s[i].clone()),
            lo,
            hi,
            common::median(&mut cpu_s_per_gib[i].clone()),
            common::median(&mut switches_per_mib[i].clone()),
            paired(&gib_s, i, 0),
            paired(&gib_s, i, 1),
            paired(&cpu_s_per_gib, i, 0),
            paired(&cpu_s_per_gib, i, 1),
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
