//! What the C ABI adds to one dispatch-table call: `WskSend` of 64 bytes on a connected
//! socket, completing inline, from C (`benches/c_abi/send.c` linked with libwsk) against
//! the same operation through the Rust API in this process.
//!
//! Both sides set up the same thing: a registration on the process's host provider and a
//! socket connected with `WskSocketConnect` (`socket_connect`) to the same kind of peer,
//! a *drain*: a plain host socket in a thread of the bench process that reads and
//! discards. Each side runs as a process of its own (the C program; this binary with
//! `--rust-only`), so both senders see the same surroundings.
//! (Sending to a WSK receiver instead would put the receivers' difference into the
//! figure: on loopback the sender's `sendmsg` runs the receiving side's TCP processing
//! and wake-ups.) Then, on the connected socket, one warm-up round and `ROUNDS` timed
//! rounds of `CALLS` sends of the same 64 bytes, one after another:
//! - **C**: `IoReuseIrp` + `IoSetCompletionRoutine` on one IRP, then
//!   `Dispatch->WskSend(Socket, &Buffer, 0, Irp)` with one MDL over a 64-byte static
//!   buffer; the completion routine checks the result, counts and returns
//!   `STATUS_MORE_PROCESSING_REQUIRED`;
//! - **Rust**: `send_then(Box::new(&DATA[..]), 0, |r| …)`, the buffer a `&'static [u8]`
//!   over a 64-byte static buffer (one 16-byte allocation per call, like the C path's one
//!   boxed `Regions`); the completion closure captures one reference, checks the result
//!   and counts, as the C routine does.
//!
//! A send the host takes at once completes inline, in the caller's thread. When the host
//! buffer is full the send pends (C: `STATUS_PENDING`; Rust: the completion has not run
//! when `send_then` returns); the sender then waits for that completion before the next
//! call, the wait is left out of the figure, and the pending fraction is reported.
//!
//! The figures are medians over the rounds of the time per call: wall time
//! (`CLOCK_MONOTONIC`) and the sending thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`, which
//! preemption by the reactor or by other processes does not inflate). The bench
//! alternates the Rust rounds (in this process) and the C program (one process per
//! alternation) `ALTERNATIONS` times and reports the medians and the medians of the paired
//! differences.
//! Then, when `valgrind` is installed, it counts the instructions of the timed loop of
//! each side under callgrind (`--toggle-collect` on the loop function): a noise-free
//! second figure. The callgrind output files stay in `target/release/c_abi/` for
//! `callgrind_annotate`.
//!
//! `cargo bench -p wsk-ffi --bench c_abi` runs it all (5-15 s on 2 vCPUs, about half of
//! it callgrind); `taskset -c 0 cargo bench -p wsk-ffi --bench c_abi` keeps the sender and
//! the reactor on one vCPU (no cross-CPU socket-lock contention in the host's TCP stack);
//! `cargo test -p wsk-ffi --benches` runs a short smoke version (debug build: its numbers
//! mean nothing). `WSK_BENCH_CALLGRIND=0` skips the callgrind part.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::thread::Thread;
use std::time::{Duration, Instant};

use wsk_api::{ConnectionSocket, ProviderNpi, Registration, Wait};

const MSG: usize = 64;
/// The C ABI target: what it may add per call.
const TARGET_NS: f64 = 50.0;
/// Sends per round, timed rounds per run, alternations (full run).
const CALLS: u64 = 50_000;
const ROUNDS: u64 = 9;
const ALTERNATIONS: usize = 5;
/// Sends per round under callgrind (one warm-up round and one counted round).
const CALLGRIND_CALLS: u64 = 2_000;
const TIMEOUT: Duration = Duration::from_secs(30);

#[repr(C, align(64))]
struct Data([u8; MSG]);

static DATA: Data = Data([0x5a; MSG]);

// ---------------------------------------------------------------------------------
// The Rust side

/// What the completion closures share with the sender (the C program's `SENDS`).
struct Counters {
    completed: AtomicU64,
    errors: AtomicU64,
    waiting: AtomicBool,
    sender: OnceLock<Thread>,
}

/// Bytes per send in this process (64, or 0 for the call path without a system call).
static SIZE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(MSG);

static COUNTERS: Counters = Counters {
    completed: AtomicU64::new(0),
    errors: AtomicU64::new(0),
    waiting: AtomicBool::new(false),
    sender: OnceLock::new(),
};

impl Counters {
    /// The completion routine: checks, counts, wakes a waiting sender.
    fn done(&self, r: wsk_api::Result<usize>) {
        if r != Ok(SIZE.load(Ordering::Relaxed)) {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.completed.fetch_add(1, Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) {
            if let Some(t) = self.sender.get() {
                t.unpark();
            }
        }
    }

    /// Waits until `completed` moves past `before` (a pending send completed).
    fn wait_past(&self, before: u64) {
        self.waiting.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + TIMEOUT;
        while self.completed.load(Ordering::SeqCst) == before {
            let now = Instant::now();
            assert!(now < deadline, "a pending send did not complete within {TIMEOUT:?}");
            std::thread::park_timeout(deadline - now);
        }
        self.waiting.store(false, Ordering::SeqCst);
    }
}

/// A plain host socket that accepts one connection and reads and discards until the peer
/// closes; joining it gives the bytes read.
struct Drain {
    port: u16,
    thread: std::thread::JoinHandle<u64>,
}

impl Drain {
    fn start() -> Drain {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("drain listener");
        let port = listener.local_addr().expect("drain address").port();
        let thread = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("drain accept");
            let mut buf = vec![0u8; 256 * 1024];
            let mut total = 0u64;
            loop {
                match std::io::Read::read(&mut stream, &mut buf) {
                    Ok(0) => return total,
                    Ok(n) => total += n as u64,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => panic!("drain read: {e}"),
                }
            }
        });
        Drain { port, thread }
    }

    /// Waits for the peer's close; the bytes read.
    fn join(self) -> u64 {
        self.thread.join().expect("drain thread")
    }
}

/// A connected socket whose peer is a [`Drain`], on the process's host provider.
struct RustSide {
    reg: Option<Registration>,
    npi: Option<ProviderNpi>,
    active: ConnectionSocket,
}

impl RustSide {
    /// Connects to the drain at `peer` (in the parent process, as for the C program).
    fn new(peer: SocketAddr) -> RustSide {
        let _ = COUNTERS.sender.set(std::thread::current());
        let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let reg = Registration::new().expect("register");
        let npi = reg.capture(Wait::Infinite).expect("capture");
        let active = npi.socket_connect(loopback, peer, None).wait().expect("connect");
        RustSide { reg: Some(reg), npi: Some(npi), active }
    }

    /// One warm-up round and `rounds` timed rounds of `calls` sends.
    fn run(&self, calls: u64, rounds: u64) -> Run {
        assert_eq!(std::thread::current().id(), COUNTERS.sender.get().unwrap().id(), "one sender thread");
        let before = COUNTERS.completed.load(Ordering::SeqCst);
        rust_send_round(&self.active, calls);
        let rounds: Vec<Round> = (0..rounds).map(|_| rust_send_round(&self.active, calls)).collect();
        let sent = calls * (rounds.len() as u64 + 1);
        assert_eq!(COUNTERS.completed.load(Ordering::SeqCst) - before, sent, "every send completed once");
        assert_eq!(COUNTERS.errors.load(Ordering::Relaxed), 0, "sends completed with another status or count");
        Run::of(calls, &rounds)
    }

    fn close(mut self) {
        self.active.disconnect(None, 0).wait_timeout(TIMEOUT).expect("disconnect in time").expect("disconnect");
        self.active.close().wait_timeout(TIMEOUT).expect("close in time").expect("close");
        drop(self.npi.take());
        if let Some(reg) = self.reg.take() {
            reg.deregister_timeout(TIMEOUT).map_err(|(_, c)| c).expect("deregister");
        }
    }
}

struct Round {
    ns: u64,
    cpu_ns: u64,
    wait_ns: u64,
    pending: u64,
}

/// CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`), in ns.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid clock id and a valid out pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `calls` sends of the same 64 bytes (the C program's `BenchSendRound`; never inlined,
/// so that callgrind can count exactly this loop).
#[inline(never)]
fn rust_send_round(socket: &ConnectionSocket, calls: u64) -> Round {
    let counters: &'static Counters = &COUNTERS;
    let cpu_start = thread_cpu_ns();
    let start = Instant::now();
    let mut round = Round { ns: 0, cpu_ns: 0, wait_ns: 0, pending: 0 };
    let size = SIZE.load(Ordering::Relaxed);
    for _ in 0..calls {
        let before = counters.completed.load(Ordering::SeqCst);
        let buffer: &'static [u8] = &DATA.0[..size];
        let _ = socket.send_then(Box::new(buffer), 0, move |r| counters.done(r));
        if counters.completed.load(Ordering::SeqCst) == before {
            let wait = Instant::now();
            round.pending += 1;
            counters.wait_past(before);
            round.wait_ns += wait.elapsed().as_nanos() as u64;
        }
    }
    round.ns = start.elapsed().as_nanos() as u64;
    round.cpu_ns = thread_cpu_ns() - cpu_start;
    round
}

// ---------------------------------------------------------------------------------
// Results of one run (either side)

#[derive(Clone, Debug)]
struct Run {
    /// Median ns per call over the rounds, waits for pending completions left out.
    ns_per_call: f64,
    /// Median CPU ns of the sending thread per call over the rounds.
    cpu_ns_per_call: f64,
    pending: u64,
    calls: u64,
}

impl Run {
    fn of(calls: u64, rounds: &[Round]) -> Run {
        let mut per_call: Vec<f64> = rounds.iter().map(|r| (r.ns - r.wait_ns) as f64 / calls as f64).collect();
        let mut cpu_per_call: Vec<f64> = rounds.iter().map(|r| r.cpu_ns as f64 / calls as f64).collect();
        Run {
            ns_per_call: median(&mut per_call),
            cpu_ns_per_call: median(&mut cpu_per_call),
            pending: rounds.iter().map(|r| r.pending).sum(),
            calls: calls * rounds.len() as u64,
        }
    }

    fn pending_fraction(&self) -> f64 {
        self.pending as f64 / self.calls as f64
    }

    /// The lines a side prints (`c_send_…` or `rust_send_…`), read back.
    fn parse(stdout: &str, prefix: &str) -> Run {
        let value = |key: &str| -> Vec<f64> {
            let line = stdout
                .lines()
                .find(|l| l.split_whitespace().next() == Some(key))
                .unwrap_or_else(|| panic!("no `{key}` line in the C program's output:\n{stdout}"));
            line.split_whitespace().skip(1).map(|v| v.parse().expect("a number")).collect()
        };
        let pending = value(&format!("{prefix}_pending"));
        Run {
            ns_per_call: value(&format!("{prefix}_ns_per_call"))[0],
            cpu_ns_per_call: value(&format!("{prefix}_cpu_ns_per_call"))[0],
            pending: pending[0] as u64,
            calls: pending[1] as u64,
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

// ---------------------------------------------------------------------------------
// Building and running the C side

/// The C-ABI tests' helpers: the repository root and libwsk built by a nested cargo.
#[path = "../tests/support/mod.rs"]
mod support;

use support::{libwsk_dir as build_libwsk, repo};

/// `target/<profile>`: the bench binary runs from `target/<profile>/deps`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("bench exe");
    exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<bench>").to_path_buf()
}

/// Builds libwsk in the bench's profile (release under `cargo bench`; see
/// `tests/support`), then compiles `send.c` against it with -O2 (not through `CBuild`,
/// whose debugging flags would change the figures); returns the program.
fn build_c_program() -> PathBuf {
    let dir = build_libwsk();

    let out_dir = dir.join("c_abi");
    std::fs::create_dir_all(&out_dir).expect("output directory");
    let exe = out_dir.join("send");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/c_abi/send.c");
    let mut cc = Command::new("gcc");
    cc.arg(format!("-I{}", repo().join("include").display()))
        .args(["-fshort-wchar", "-Wno-multichar", "-O2", "-g", "-Wall", "-Wextra", "-Werror"])
        .arg(&source)
        .arg("-o")
        .arg(&exe)
        .arg(format!("-L{}", dir.display()))
        .arg(format!("-Wl,-rpath,{}", dir.display()))
        .args(["-lwsk", "-lpthread"]);
    let out = cc.output().expect("run gcc");
    assert!(
        out.status.success(),
        "compiling send.c failed:\n{cc:?}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

fn run_c(exe: &Path, calls: u64, rounds: u64, size: usize) -> Run {
    let drain = Drain::start();
    let out = Command::new(exe)
        .args([calls.to_string(), rounds.to_string(), drain.port.to_string(), size.to_string()])
        .output()
        .expect("run the C program");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{} failed ({}):\n{stdout}{}",
        exe.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(drain.join(), calls * (rounds + 1) * size as u64, "the drain read every byte the C program sent");
    Run::parse(&stdout, "c_send")
}

// ---------------------------------------------------------------------------------
// Callgrind

/// Instructions counted inside `function` (callgrind's "Collected" line), per send.
struct Counted {
    ir_per_call: f64,
    pending: u64,
}

/// Runs `program args` under callgrind, collecting only inside `function`; `calls` sends
/// happen inside it. `None` (with a note) when valgrind fails.
fn callgrind(out_file: &Path, function: &str, program: &Path, args: &[String], calls: u64) -> Option<Counted> {
    let out = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--toggle-collect={function}"))
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(program)
        .args(args)
        .output()
        .ok()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        println!("callgrind run of {} failed ({}):\n{stdout}{stderr}", program.display(), out.status);
        return None;
    }
    let collected: u64 = stderr.lines().find_map(|l| {
        let (_, rest) = l.split_once("Collected :")?;
        rest.trim().parse().ok()
    })?;
    let pending = stdout
        .lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            matches!(w.next(), Some("c_send_pending" | "rust_send_pending")).then(|| w.next()?.parse().ok())?
        })
        .unwrap_or(0);
    Some(Counted { ir_per_call: collected as f64 / calls as f64, pending })
}

fn callgrind_enabled() -> bool {
    std::env::var("WSK_BENCH_CALLGRIND").map_or(true, |v| v != "0")
        && Command::new("valgrind").arg("--version").output().is_ok_and(|o| o.status.success())
}

// ---------------------------------------------------------------------------------

/// Whether the binary was started by `cargo bench` rather than `cargo test --benches`.
fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| Some(s.lines().find(|l| l.starts_with("model name"))?.split(':').nth(1)?.trim().to_string()))
        .unwrap_or_default();
    let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!("{n} CPUs, {model}")
}

/// `c_abi --rust-only CALLS ROUNDS PORT`: the Rust side alone, in a process of its own
/// like the C program, sending to the parent's drain on PORT; prints the C program's
/// lines with a `rust_` prefix.
fn rust_only(args: &[String]) {
    let calls: u64 = args.first().and_then(|a| a.parse().ok()).expect("CALLS");
    let rounds: u64 = args.get(1).and_then(|a| a.parse().ok()).expect("ROUNDS");
    let port: u16 = args.get(2).and_then(|a| a.parse().ok()).expect("PORT");
    SIZE.store(args.get(3).and_then(|a| a.parse().ok()).unwrap_or(MSG), Ordering::Relaxed);
    let side = RustSide::new(SocketAddr::from(([127, 0, 0, 1], port)));
    let run = side.run(calls, rounds);
    println!("rust_send_ns_per_call {:.2}", run.ns_per_call);
    println!("rust_send_cpu_ns_per_call {:.2}", run.cpu_ns_per_call);
    println!("rust_send_pending {} {}", run.pending, run.calls);
    side.close();
}

/// Runs the Rust side as a child process (`--rust-only`) against a drain here.
fn run_rust(calls: u64, rounds: u64, size: usize) -> Run {
    let drain = Drain::start();
    let exe = std::env::current_exe().expect("bench exe");
    let out = Command::new(exe)
        .args([
            "--rust-only".to_string(),
            calls.to_string(),
            rounds.to_string(),
            drain.port.to_string(),
            size.to_string(),
        ])
        .output()
        .expect("run the Rust side");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the Rust side failed ({}):\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(drain.join(), calls * (rounds + 1) * size as u64, "the drain read every byte the Rust side sent");
    Run::parse(&stdout, "rust_send")
}

/// Prints the table of one payload size and the verdict.
fn report(size: usize, calls: u64, rounds: u64, rows: &[(Run, Run)]) {
    let alternations = rows.len();
    println!();
    println!(
        "C ABI overhead: WskSend of {size} B, inline completion{}; {alternations} alternations of {rounds} rounds × \
         {calls} calls per side ({}; profile dir {})",
        if size == 0 { " (no system call: the call path alone)" } else { "" },
        machine(),
        profile_dir().display()
    );
    println!(
        "ns/call: wall time (CLOCK_MONOTONIC) per call, median over the rounds; CPU: the sending thread's CPU time \
         (CLOCK_THREAD_CPUTIME_ID) per call"
    );
    println!(
        "| alternation | Rust ns/call | C ns/call | C − Rust ns/call | Rust CPU ns/call | C CPU ns/call | C − Rust CPU \
         ns/call | Rust pending | C pending |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (i, (rust, c)) in rows.iter().enumerate() {
        println!(
            "| {} | {:.1} | {:.1} | {:+.1} | {:.1} | {:.1} | {:+.1} | {:.4} | {:.4} |",
            i + 1,
            rust.ns_per_call,
            c.ns_per_call,
            c.ns_per_call - rust.ns_per_call,
            rust.cpu_ns_per_call,
            c.cpu_ns_per_call,
            c.cpu_ns_per_call - rust.cpu_ns_per_call,
            rust.pending_fraction(),
            c.pending_fraction()
        );
    }
    let column = |f: &dyn Fn(&Run, &Run) -> f64| median(&mut rows.iter().map(|(r, c)| f(r, c)).collect::<Vec<_>>());
    let pending = |f: fn(&(Run, Run)) -> &Run| {
        let (p, n) = rows.iter().map(f).fold((0, 0), |(p, n), r| (p + r.pending, n + r.calls));
        p as f64 / n as f64
    };
    let difference = column(&|r, c| c.ns_per_call - r.ns_per_call);
    let cpu_difference = column(&|r, c| c.cpu_ns_per_call - r.cpu_ns_per_call);
    println!(
        "| **median** | **{:.1}** | **{:.1}** | **{:+.1}** | **{:.1}** | **{:.1}** | **{:+.1}** | {:.4} | {:.4} |",
        column(&|r, _| r.ns_per_call),
        column(&|_, c| c.ns_per_call),
        difference,
        column(&|r, _| r.cpu_ns_per_call),
        column(&|_, c| c.cpu_ns_per_call),
        cpu_difference,
        pending(|r| &r.0),
        pending(|r| &r.1)
    );
    let verdict = |d: f64| if d < TARGET_NS { "met" } else { "NOT met" };
    println!(
        "C ABI overhead per call (medians of the paired differences; target < {TARGET_NS} ns): wall {difference:+.1} \
         ns ({}), sending thread's CPU {cpu_difference:+.1} ns ({})",
        verdict(difference),
        verdict(cpu_difference)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--rust-only") {
        return rust_only(&args[i + 1..]);
    }
    let full = bench_mode();
    let (calls, rounds, alternations) = if full { (CALLS, ROUNDS, ALTERNATIONS) } else { (1_000, 2, 1) };

    let started = Instant::now();
    let exe = build_c_program();
    for size in [MSG, 0] {
        let mut rows = Vec::new();
        for _ in 0..alternations {
            let rust = run_rust(calls, rounds, size);
            let c = run_c(&exe, calls, rounds, size);
            rows.push((rust, c));
        }
        report(size, calls, rounds, &rows);
    }

    if full && callgrind_enabled() {
        let dir = profile_dir().join("c_abi");
        let n = CALLGRIND_CALLS;
        let c_drain = Drain::start();
        let args = [n.to_string(), "1".to_string(), c_drain.port.to_string()];
        let rust_drain = Drain::start();
        let self_args = ["--rust-only".to_string(), n.to_string(), "1".to_string(), rust_drain.port.to_string()];
        let exe_self = std::env::current_exe().expect("bench exe");
        // Warm-up and counted round both run inside the toggled function: 2 × n sends.
        let c = callgrind(&dir.join("callgrind.c.out"), "BenchSendRound", &exe, &args, 2 * n);
        let _ = c_drain.join();
        let rust = callgrind(&dir.join("callgrind.rust.out"), "*::rust_send_round", &exe_self, &self_args, 2 * n);
        let _ = rust_drain.join();
        match (rust, c) {
            (Some(rust), Some(c)) => {
                println!();
                println!("Instructions per call under callgrind (2 × {n} sends, the timed loop only):");
                println!("| Rust Ir/call | C Ir/call | C − Rust Ir/call | Rust pending | C pending |");
                println!("|---|---|---|---|---|");
                println!(
                    "| {:.0} | {:.0} | {:+.0} | {} | {} |",
                    rust.ir_per_call,
                    c.ir_per_call,
                    c.ir_per_call - rust.ir_per_call,
                    rust.pending,
                    c.pending
                );
                println!("(callgrind_annotate {}/callgrind.{{c,rust}}.out for the functions)", dir.display());
            }
            _ => println!("callgrind: no figures (see above)"),
        }
    }
    if !full {
        println!("(smoke run under `cargo test`: debug build, too few calls; the figures mean nothing)");
    }
    println!("c_abi bench took {:.1} s", started.elapsed().as_secs_f64());
}
