//! Helpers shared by the benchmark targets: page-aligned buffers usable by every stack,
//! wsk connection set-up on one or two providers, CPU-time readings, and small
//! statistics for the interleaved summary rounds.
#![allow(dead_code)]

use std::any::Any;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bytemuck::{Pod, Zeroable};
use wsk::{
    ConnectionEvents, ConnectionSocket, ListenSocket, Provider, ProviderNpi, ReceiveBuffer, Registration, SendBuffer,
    Wait,
};

const PAGE: usize = 4096;

#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C, align(4096))]
struct Page([u8; PAGE]);

/// A page-aligned byte buffer. Every stack sends from and receives into one of these, so
/// no stack pays for an unaligned copy target (see ARCHITECTURE.md, "Align every I/O buffer").
pub struct Aligned {
    pages: Box<[Page]>,
    len: usize,
}

impl Aligned {
    pub fn new(len: usize) -> Self {
        let pages = vec![Page::zeroed(); len.div_ceil(PAGE)].into_boxed_slice();
        let mut a = Aligned { pages, len };
        for (i, b) in a.as_mut_slice().iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        a
    }

    pub fn as_slice(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.pages)[..self.len]
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let len = self.len;
        &mut bytemuck::cast_slice_mut(&mut self.pages)[..len]
    }
}

impl ReceiveBuffer for Aligned {
    fn capacity(&self) -> usize {
        self.len
    }
    fn region(&mut self, offset: usize) -> &mut [u8] {
        let len = self.len;
        &mut self.as_mut_slice()[offset.min(len)..]
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

/// One shared, immutable chunk sent over and over without copying it in user space.
#[derive(Clone)]
pub struct Chunk(pub Arc<Aligned>);

impl SendBuffer for Chunk {
    fn len(&self) -> usize {
        self.0.len
    }
    fn region(&self, offset: usize) -> &[u8] {
        &self.0.as_slice()[offset.min(self.0.len)..]
    }
}

/// A monotonically growing byte count that one thread can wait on. The adder wakes the
/// waiter only when the count reaches the awaited target, so the harness costs no
/// wake-up per indication.
#[derive(Default)]
pub struct Counter {
    /// (count, target the waiter waits for; 0 when nobody waits)
    state: Mutex<(u64, u64)>,
    cv: Condvar,
}

impl Counter {
    pub fn add(&self, n: u64) {
        let mut st = self.state.lock().unwrap();
        st.0 += n;
        let reached = st.1 != 0 && st.0 >= st.1;
        drop(st);
        if reached {
            self.cv.notify_one();
        }
    }

    pub fn get(&self) -> u64 {
        self.state.lock().unwrap().0
    }

    /// Blocks until the count reaches `target`; panics after `timeout` (a hung benchmark
    /// must fail loudly, not stall the run).
    pub fn wait_for(&self, target: u64, timeout: Duration) {
        let mut st = self.state.lock().unwrap();
        st.1 = target;
        let deadline = std::time::Instant::now() + timeout;
        while st.0 < target {
            let now = std::time::Instant::now();
            assert!(now < deadline, "timed out at {} of {} bytes", st.0, target);
            st = self.cv.wait_timeout(st, deadline - now).unwrap().0;
        }
        st.1 = 0;
    }
}

/// A registration and its captured NPI on one provider.
pub struct WskClient {
    pub npi: Option<ProviderNpi>,
    pub reg: Option<Registration>,
}

impl WskClient {
    pub fn on(provider: &Provider) -> Self {
        let reg = Registration::with_provider(provider, wsk_core::consts::WSK_PROVIDER_VERSION).unwrap();
        let npi = reg.capture(Wait::Infinite).unwrap();
        WskClient { npi: Some(npi), reg: Some(reg) }
    }

    pub fn npi(&self) -> &ProviderNpi {
        self.npi.as_ref().unwrap()
    }

    /// Releases the capture and deregisters (after every socket was closed).
    pub fn finish(mut self) {
        drop(self.npi.take());
        if let Some(reg) = self.reg.take() {
            reg.deregister_timeout(Duration::from_secs(10)).map_err(|(_, c)| c).expect("deregister");
        }
    }
}

/// The reactors used by the benchmarks: `a` carries single-provider runs and the sending
/// side of split runs; `b` the receiving side of split runs. Providers live for the
/// process (the provider runtime has no shutdown), so they are made once.
pub fn providers() -> (Provider, Provider) {
    static P: std::sync::OnceLock<(Provider, Provider)> = std::sync::OnceLock::new();
    P.get_or_init(|| (Provider::new_host().unwrap(), Provider::new_host().unwrap())).clone()
}

pub fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A connected pair: `active` connected from `from`'s provider to a listener on `to`'s,
/// with `active_events` as its callbacks; `passive` is the accepted end with `events`.
pub struct WskPair {
    pub active: ConnectionSocket,
    pub passive: ConnectionSocket,
    pub listener: ListenSocket,
}

impl WskPair {
    pub fn connect(from: &WskClient, to: &WskClient, events: Option<Arc<dyn ConnectionEvents>>) -> Self {
        Self::connect_with(from, to, None, events)
    }

    pub fn connect_with(
        from: &WskClient,
        to: &WskClient,
        active_events: Option<Arc<dyn ConnectionEvents>>,
        events: Option<Arc<dyn ConnectionEvents>>,
    ) -> Self {
        let listener = to.npi().listen_socket(loopback(), None).wait().unwrap();
        listener.bind(loopback()).wait().unwrap();
        let accepting = listener.accept(events);
        let active =
            from.npi().socket_connect(loopback(), listener.local_addr().unwrap(), active_events).wait().unwrap();
        let passive = accepting.wait().unwrap().socket;
        WskPair { active, passive, listener }
    }

    pub fn close(self) {
        let t = Duration::from_secs(10);
        self.active.close().wait_timeout(t).expect("close in time").unwrap();
        self.passive.close().wait_timeout(t).expect("close in time").unwrap();
        self.listener.close().wait_timeout(t).expect("close in time").unwrap();
    }
}

/// CPU time (user + system) of every live thread of this process, in nanoseconds
/// (`/proc/self/task/*/schedstat`, first field: time spent on the CPU).
pub fn process_cpu_ns() -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let path = entry.path().join("schedstat");
        if let Ok(s) = std::fs::read_to_string(path) {
            total += s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        }
    }
    total
}

/// Context switches (voluntary + involuntary) of every live thread of this process
/// (`/proc/self/task/*/status`). A voluntary switch is a thread going to sleep: in a
/// ping-pong each one is a wake-up someone has to pay for later.
pub fn process_ctx_switches() -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        if let Ok(s) = std::fs::read_to_string(entry.path().join("status")) {
            for line in s.lines() {
                if line.starts_with("voluntary_ctxt_switches:") || line.starts_with("nonvoluntary_ctxt_switches:") {
                    total += line.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
                }
            }
        }
    }
    total
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Whether the binary was started by `cargo bench` (criterion's `--bench` flag) rather
/// than by `cargo test --benches`, which only smoke-tests each benchmark once.
pub fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// A filter argument given on the command line (`cargo bench -- <filter>`), if any.
pub fn filter() -> Option<String> {
    std::env::args().skip(1).find(|a| !a.starts_with('-'))
}

/// One `/proc/cpuinfo` + `nproc` line for the summaries.
pub fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!("{n} CPUs, {model}")
}

/// Latency of one variant over interleaved rounds (µs), with the whole process's CPU time
/// (µs) and context switches per operation: both ends of a round trip are in the process.
#[derive(Clone, Copy, Debug)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub mean: f64,
    pub cpu_us: f64,
    pub switches: f64,
}

/// Runs `rounds` rounds in which each of `variants` variants performs `n` timed
/// operations (`run(variant, n)` returns one sample in ns per operation), interleaved so
/// that drifts of the machine touch every variant alike; returns each variant's figures.
pub fn interleaved_latency(
    variants: usize,
    rounds: usize,
    n: u64,
    mut run: impl FnMut(usize, u64) -> Vec<u64>,
) -> Vec<Latency> {
    let mut samples: Vec<Vec<u64>> = vec![Vec::new(); variants];
    let mut cpu_ns = vec![0u64; variants];
    let mut switches = vec![0u64; variants];
    for _ in 0..rounds {
        for i in 0..variants {
            let (cpu0, cs0) = (process_cpu_ns(), process_ctx_switches());
            samples[i].extend(run(i, n));
            cpu_ns[i] += process_cpu_ns() - cpu0;
            switches[i] += process_ctx_switches() - cs0;
        }
    }
    let ops = (rounds as u64 * n) as f64;
    samples
        .iter_mut()
        .enumerate()
        .map(|(i, s)| {
            s.sort_unstable();
            let mean = s.iter().sum::<u64>() as f64 / s.len() as f64;
            Latency {
                p50: percentile(s, 0.5) as f64 / 1e3,
                p99: percentile(s, 0.99) as f64 / 1e3,
                mean: mean / 1e3,
                cpu_us: cpu_ns[i] as f64 / ops / 1e3,
                switches: switches[i] as f64 / ops,
            }
        })
        .collect()
}
