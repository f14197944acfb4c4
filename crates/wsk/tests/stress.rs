//! Randomized, seeded stress of connection sockets over real loopback (IPv4 and IPv6).
//!
//! `random_interleavings_keep_invariants` drives one wsk connection socket against a std
//! peer (a reader thread collecting everything, a writer thread sending a deterministic
//! pattern of random length) with a random sequence of operations (proptest): sends,
//! receives (flags 0, `WSK_FLAG_WAITALL`, zero-length, scattered buffers), graceful and
//! abortive disconnects, cancels of random pending operations, receive events switched on
//! and off, retained indications released later in random pieces, a paused peer reader,
//! and finally a close. The `WskReceiveEvent` handler answers at random: accept all,
//! partial with a follow-up receive posted from the callback, not accepted with a
//! zero-length receive, retain. After each case it checks:
//!
//! - **I1 exactly once**: every operation started completes exactly once, and nothing
//!   (completion or callback) runs after the close completed;
//! - **I2 FIFO**: completions of sends run in posting order, and so do those of receives
//!   (an operation that `Op::cancel` found pending completes when cancelled, out of turn);
//! - **I3 inbound stream**: the bytes the wsk client got (receive completions and
//!   indications, in the order they ran) are exactly a prefix of what the peer sent, all
//!   of it when the case drains; a 0-byte receive means the peer's FIN, after all its data;
//! - **I4 outbound stream**: the std peer reads exactly what successful sends carried, in
//!   order (a prefix, plus part of a failed send, when the connection was reset);
//! - **I5 callbacks**: client code of the socket never overlaps, event callbacks run on the
//!   reactor thread, at most one disconnect and one NULL indication;
//! - **I6 no leak**: once every retained indication is released the socket holds no receive
//!   buffer (`stats().held == 0`), its slot in the provider is gone and the registration
//!   deregisters.
//!
//! How the order of delivery is observed: completions and callbacks record a stamp from one
//! counter when they run (the provider runs them one at a time, from the socket's outbox);
//! an operation that may be cancelled is an `Op` whose waker records the stamp; a mutex (the
//! journal's `gate`) keeps indications from slipping between a receive's inline completion
//! and its recording.
//!
//! `many_short_connections_drain` runs 200 short connections from 4 threads against an
//! event-driven echo server on the same provider (connect, echo with receive events,
//! five ways of ending, server FIN first or not) and checks that every socket is gone,
//! `open_sockets()` is back where it started and the registration drains.
//!
//! Every wait is bounded by [`WAIT`], and a watchdog aborts a case that hangs inside a call.
//! Each run prints its seed; `STRESS_SEED=<seed>` reruns the same inputs (timing differs),
//! `STRESS_CASES=<n>` runs more cases, `--nocapture` shows what the cases covered. Provider
//! bugs it found are pinned by minimal regression tests at the end of this file.

mod common;

use std::any::Any;
use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use common::{pattern, set_int_option, Family, WAIT};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngSeed, TestError, TestRunner};
use wsk::events::{WSK_EVENT_ACCEPT, WSK_EVENT_DISCONNECT, WSK_EVENT_RECEIVE};
use wsk::flags::{WSK_FLAG_ABORTIVE, WSK_FLAG_NODELAY, WSK_FLAG_WAITALL};
use wsk::{
    AcceptOutcome, Accepted, ConnectionEvents, ConnectionSocket, DataIndication, EventFlags, IndicationBuffer,
    ListenEvents, NtStatus, Op, Provider, ReceiveBuffer, ReceiveOutcome, Registration, RetainedIndication, SendBuffer,
};

/// `MAKE_WSK_VERSION(1, 0)`.
const WSK_VERSION: u16 = 0x0100;
/// Most bytes each side sends in one case.
const BUDGET: usize = 256 * 1024;
/// Host buffer size of a small-window case (wsk `SO_SNDBUF`, peer `SO_RCVBUF`).
const SMALL_BUFFER: i32 = 4096;
/// Cases of the randomized test (`STRESS_CASES` overrides).
const CASES: u32 = 128;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the passing cases exercised, printed at the end (`--nocapture` shows it), so a
/// change that makes the scenarios trivial does not go unnoticed.
static COVERAGE: Mutex<std::collections::BTreeMap<String, u64>> = Mutex::new(std::collections::BTreeMap::new());

fn note(what: impl Into<String>, n: u64) {
    *lock(&COVERAGE).entry(what.into()).or_default() += n;
}

/// The run's seed: `STRESS_SEED`, or one drawn from the clock; printed either way.
fn stress_seed() -> u64 {
    let seed = std::env::var("STRESS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        now.as_nanos() as u64 ^ u64::from(std::process::id())
    });
    eprintln!("stress seed {seed} (rerun the same inputs with STRESS_SEED={seed})");
    seed
}

/// SplitMix64: the randomness of callbacks and peers, derived from the case's seed.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (0 when `n == 0`).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }
}

// ---------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------

/// One randomized scenario.
#[derive(Debug, Clone)]
struct Case {
    /// Drives the handler's answers, the peer's write sizes and the release order.
    seed: u64,
    family: Family,
    /// Bytes the std peer writes.
    peer_len: usize,
    /// Whether the peer shuts down its write side (FIN) after writing them.
    peer_fin: bool,
    /// Tiny host buffers, so that sends stay pending while the peer reads slowly.
    small_window: bool,
    /// `WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT` enabled right after connect.
    events_at_start: bool,
    /// A receive backlog limit other than the default (1 MiB): with retained indications
    /// the provider then soon stops reading, until they are released.
    backlog_limit: Option<usize>,
    actions: Vec<Action>,
    /// Before closing, read everything the peer sent and disconnect gracefully (only
    /// when the peer sends its FIN, which completes any `WAITALL` receive still pending).
    drain: bool,
}

/// One step of the test thread.
#[derive(Debug, Clone)]
enum Action {
    /// `WskSend`; `cancellable` uses an `Op` (it may be cancelled later), else `send_then`.
    Send {
        len: usize,
        nodelay: bool,
        cancellable: bool,
    },
    /// `WskReceive` of `len` bytes (0: zero-length); `chunk > 0` makes a scattered buffer
    /// of `chunk`-byte regions (only for `receive_then`, which takes any buffer).
    Receive {
        len: usize,
        waitall: bool,
        cancellable: bool,
        chunk: usize,
    },
    /// `WskDisconnect`, graceful (with optional final data) or abortive.
    Disconnect {
        abortive: bool,
        final_len: Option<usize>,
    },
    /// `Op::cancel` of a random operation that has not completed yet.
    Cancel(Index),
    /// Releases some retained indications, in random pieces, from the test thread.
    Release(Index),
    EnableReceiveEvents,
    /// `disable_event(WSK_EVENT_RECEIVE)`, an operation of its own.
    DisableReceiveEvents,
    PausePeerReader,
    ResumePeerReader,
    /// Sleeps this many microseconds.
    Settle(u16),
}

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![1 => Just(0usize), 5 => 1..=1500usize, 3 => 1500..=65536usize]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        5 => (size(), any::<bool>(), any::<bool>())
            .prop_map(|(len, nodelay, cancellable)| Action::Send { len, nodelay, cancellable }),
        4 => (size(), prop::bool::weighted(0.3), any::<bool>(), prop_oneof![3 => Just(0usize), 1 => 1..=4096usize])
            .prop_map(|(len, waitall, cancellable, chunk)| Action::Receive { len, waitall, cancellable, chunk }),
        1 => (prop::bool::weighted(0.3), prop::option::of(size()))
            .prop_map(|(abortive, final_len)| Action::Disconnect { abortive, final_len: final_len.filter(|_| !abortive) }),
        3 => any::<Index>().prop_map(Action::Cancel),
        2 => any::<Index>().prop_map(Action::Release),
        1 => Just(Action::EnableReceiveEvents),
        1 => Just(Action::DisableReceiveEvents),
        1 => Just(Action::PausePeerReader),
        1 => Just(Action::ResumePeerReader),
        4 => (0u16..3000).prop_map(Action::Settle),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<u64>(),
        prop_oneof![Just(Family::V4), Just(Family::V6)],
        prop_oneof![1 => Just(0usize), 2 => 1..=4096usize, 3 => 4096..=BUDGET],
        prop::bool::weighted(0.7),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.7),
        prop::option::weighted(0.3, 1usize..=16),
        prop::collection::vec(action(), 0..=40),
        prop::bool::weighted(0.5),
    )
        .prop_map(|(seed, family, peer_len, peer_fin, small_window, events_at_start, blocks, actions, drain)| {
            Case {
                seed,
                family,
                peer_len,
                peer_fin,
                small_window,
                events_at_start,
                backlog_limit: blocks.map(|b| b * wsk::BUFFER_SIZE),
                actions,
                drain: drain && peer_fin,
            }
        })
}

// ---------------------------------------------------------------------------------------
// The journal: what was started, what completed, when, and what arrived
// ---------------------------------------------------------------------------------------

/// What an operation was.
#[derive(Clone)]
enum OpKind {
    Send { payload: Arc<[u8]> },
    Receive { cap: usize, waitall: bool, from_callback: bool },
    Disconnect { abortive: bool, final_data: Option<Arc<[u8]>> },
    DisableEvent,
    Close,
}

impl std::fmt::Debug for OpKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpKind::Send { payload } => write!(f, "Send({} bytes)", payload.len()),
            OpKind::Receive { cap, waitall, from_callback } => {
                let from = if *from_callback { "callback" } else { "test" };
                write!(f, "Receive(cap {cap}, waitall {waitall}, from {from})")
            }
            OpKind::Disconnect { abortive: true, .. } => write!(f, "Disconnect(abortive)"),
            OpKind::Disconnect { final_data, .. } => {
                write!(f, "Disconnect(graceful, final data {:?})", final_data.as_ref().map(|d| d.len()))
            }
            OpKind::DisableEvent => write!(f, "DisableEvent"),
            OpKind::Close => write!(f, "Close"),
        }
    }
}

#[derive(Debug)]
struct OpRecord {
    kind: OpKind,
    /// The stamp of each completion seen (I1: exactly one).
    completions: Vec<u64>,
    /// The outcome (a unit result is `Ok(0)`).
    outcome: Option<Result<usize, NtStatus>>,
    /// `Op::cancel` found it pending: it must complete with `STATUS_CANCELLED`.
    cancel_found: bool,
}

/// Bytes that reached the wsk client in one receive completion or indication.
#[derive(Debug)]
struct Piece {
    stamp: u64,
    /// The receive operation, or `None` for a `WskReceiveEvent`.
    op: Option<usize>,
    data: Vec<u8>,
}

/// A retained indication (or one element of it) and a copy of what it held when retained.
enum Held {
    Chain(RetainedIndication, Vec<Vec<u8>>),
    Single(IndicationBuffer, Vec<u8>),
}

#[derive(Default)]
struct JournalState {
    ops: Vec<OpRecord>,
    pieces: Vec<Piece>,
    violations: Vec<String>,
    close_completed: bool,
    held: Vec<Held>,
    /// `abortive` of each `WskDisconnectEvent`.
    disconnect_events: Vec<bool>,
    /// `WskReceiveEvent(NULL)` calls.
    dead_events: usize,
    indications: usize,
    /// Stamps of the indications answered `Partial` or `NotAccepted`: no indication
    /// follows until a receive completes.
    suspends: Vec<u64>,
}

impl JournalState {
    /// Whether the provider may indicate now (WSK 4.5): not since a `Partial` or
    /// `NotAccepted` answer without a successful receive completion after it.
    fn indications_flow(&self) -> bool {
        let last_suspend = self.suspends.iter().max();
        let last_receive = self
            .ops
            .iter()
            .filter(|o| matches!(o.kind, OpKind::Receive { .. }) && matches!(o.outcome, Some(Ok(_))))
            .filter_map(|o| o.completions.first())
            .max();
        match (last_suspend, last_receive) {
            (Some(s), Some(r)) => r > s,
            (Some(_), None) => false,
            (None, _) => true,
        }
    }
}

/// The test's record of one case. Client code on provider threads records into it and
/// never panics (the provider would catch the panic); the test thread checks it.
#[derive(Default)]
struct Journal {
    /// Stamps completions and callbacks in the order they ran.
    clock: AtomicU64,
    /// Held by the test thread while it posts a receive (and sees whether it completed at
    /// once), and by a receive callback while it runs. This makes the posting order of
    /// receives well defined across the two threads, and keeps an indication from running
    /// between a receive's inline completion and the moment the test thread records it, so
    /// that stamps order the bytes as the provider delivered them.
    gate: Mutex<()>,
    /// Set while client code of the socket runs from its outbox (I5).
    in_outbox: AtomicBool,
    state: Mutex<JournalState>,
    changed: Condvar,
}

/// Marks client code running from the socket's outbox; two at once is an I5 violation.
struct OutboxGuard<'a>(&'a Journal);

impl Drop for OutboxGuard<'_> {
    fn drop(&mut self) {
        self.0.in_outbox.store(false, Ordering::SeqCst);
    }
}

impl Journal {
    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst)
    }

    fn violation(&self, what: String) {
        lock(&self.state).violations.push(what);
        self.changed.notify_all();
    }

    fn enter_outbox(&self, what: &str) -> OutboxGuard<'_> {
        if self.in_outbox.swap(true, Ordering::SeqCst) {
            self.violation(format!("I5: {what} ran while other client code of the socket was running"));
        }
        OutboxGuard(self)
    }

    /// Checks where an event callback runs (I5) and that the close has not completed (I1).
    fn callback_context(&self, st: &mut JournalState, what: &str) {
        if thread::current().name() != Some("wsk-provider") {
            st.violations.push(format!("I5: {what} ran on thread {:?}, not the reactor", thread::current().name()));
        }
        if st.close_completed {
            st.violations.push(format!("I1: {what} ran after the close completed"));
        }
    }

    fn start(&self, kind: OpKind) -> usize {
        let mut st = lock(&self.state);
        st.ops.push(OpRecord { kind, completions: Vec::new(), outcome: None, cancel_found: false });
        st.ops.len() - 1
    }

    /// Records a completion of `id`. `outcome` is `None` when only the moment is known (an
    /// `Op` woke its waker) and the test thread collects the outcome later.
    /// `from_outbox` is false when the test thread found the op already complete.
    fn completed(&self, id: usize, outcome: Option<Result<usize, NtStatus>>, data: Vec<u8>, from_outbox: bool) {
        let _guard = from_outbox.then(|| self.enter_outbox(&format!("the completion of op {id}")));
        let stamp = self.tick();
        let mut st = lock(&self.state);
        if st.close_completed {
            let msg = format!("I1: op {id} ({:?}) completed ({outcome:?}) after the close completed", st.ops[id].kind);
            st.violations.push(msg);
        }
        let rec = &mut st.ops[id];
        rec.completions.push(stamp);
        if rec.completions.len() > 1 {
            let msg = format!("I1: op {id} ({:?}) completed {} times", rec.kind, rec.completions.len());
            st.violations.push(msg);
        }
        let rec = &mut st.ops[id];
        if outcome.is_some() {
            rec.outcome = outcome;
        }
        match rec.kind {
            OpKind::Receive { .. } => st.pieces.push(Piece { stamp, op: Some(id), data }),
            OpKind::Close => st.close_completed = true,
            _ => {}
        }
        drop(st);
        self.changed.notify_all();
    }

    /// Fills in the outcome (and received bytes) of an `Op` whose completion was recorded.
    fn fill(&self, id: usize, outcome: Result<usize, NtStatus>, data: Vec<u8>) {
        let mut st = lock(&self.state);
        st.ops[id].outcome = Some(outcome);
        if let Some(piece) = st.pieces.iter_mut().find(|p| p.op == Some(id)) {
            piece.data = data;
        }
        drop(st);
        self.changed.notify_all();
    }

    fn has_completed(&self, id: usize) -> bool {
        !lock(&self.state).ops[id].completions.is_empty()
    }

    /// Waits (bounded) until `cond` holds; false on timeout.
    fn wait_for(&self, timeout: Duration, mut cond: impl FnMut(&JournalState) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = lock(&self.state);
        while !cond(&st) {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = self.changed.wait_timeout(st, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }

    fn first_violation(&self) -> Option<String> {
        lock(&self.state).violations.first().cloned()
    }

    /// Bytes received so far, in delivery order.
    fn inbound(&self) -> Vec<u8> {
        inbound_stream(&lock(&self.state))
    }
}

fn inbound_stream(st: &JournalState) -> Vec<u8> {
    let mut pieces: Vec<&Piece> = st.pieces.iter().collect();
    pieces.sort_by_key(|p| p.stamp);
    pieces.iter().flat_map(|p| p.data.iter().copied()).collect()
}

/// The bytes of a completed receive (`Vec<u8>` or [`Chunked`] buffer).
fn received_bytes(result: &wsk::Result<usize>, buf: Box<dyn ReceiveBuffer>) -> Vec<u8> {
    let n = *result.as_ref().unwrap_or(&0);
    let any: Box<dyn Any + Send> = buf.into_any();
    let mut bytes = match any.downcast::<Vec<u8>>() {
        Ok(v) => *v,
        Err(any) => any.downcast::<Chunked>().map(|c| c.data).unwrap_or_default(),
    };
    bytes.truncate(n);
    bytes
}

/// A receive buffer of `chunk`-byte regions, like an MDL chain of small pages.
struct Chunked {
    data: Vec<u8>,
    chunk: usize,
}

impl ReceiveBuffer for Chunked {
    fn capacity(&self) -> usize {
        self.data.len()
    }
    fn region(&mut self, offset: usize) -> &mut [u8] {
        let end = ((offset / self.chunk + 1) * self.chunk).min(self.data.len());
        &mut self.data[offset.min(end)..end]
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

// ---------------------------------------------------------------------------------------
// Operations the test may cancel: an `Op` watched through its waker
// ---------------------------------------------------------------------------------------

/// The waker of a watched `Op`: woken exactly when the provider completes the operation
/// (inside the socket's outbox), it records the moment; the outcome is collected later.
struct Hook {
    journal: Arc<Journal>,
    id: usize,
}

impl Wake for Hook {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.journal.completed(self.id, None, Vec::new(), true);
    }
}

struct NoopWake;

impl Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
}

/// An operation started through an `Op`, so that it can be cancelled.
trait Watched: Send {
    fn id(&self) -> usize;
    fn cancel(&self) -> bool;
    /// Takes the outcome into the journal once the completion was recorded.
    fn collect(&mut self);
}

/// Turns an operation's result into the journal's terms: a count, and received bytes.
type Convert<T> = fn(wsk::Result<T>) -> (Result<usize, NtStatus>, Vec<u8>);

struct WatchedOp<T> {
    journal: Arc<Journal>,
    id: usize,
    op: Op<T>,
    collected: bool,
    convert: Convert<T>,
}

/// Starts watching `op`: its hook records the completion when it happens; an op that
/// already completed (inside the call that started it) is recorded now.
fn watch<T: Send + 'static>(journal: &Arc<Journal>, id: usize, mut op: Op<T>, convert: Convert<T>) -> Box<dyn Watched>
where
    WatchedOp<T>: Watched,
{
    let waker = Waker::from(Arc::new(Hook { journal: Arc::clone(journal), id }));
    let collected = match Pin::new(&mut op).poll(&mut Context::from_waker(&waker)) {
        Poll::Ready(r) => {
            let (outcome, data) = convert(r);
            journal.completed(id, Some(outcome), data, false);
            true
        }
        Poll::Pending => false,
    };
    Box::new(WatchedOp { journal: Arc::clone(journal), id, op, collected, convert })
}

impl<T: Send + 'static> Watched for WatchedOp<T> {
    fn id(&self) -> usize {
        self.id
    }
    fn cancel(&self) -> bool {
        self.op.cancel()
    }
    fn collect(&mut self) {
        if self.collected || !self.journal.has_completed(self.id) {
            return;
        }
        let waker = Waker::from(Arc::new(NoopWake));
        match Pin::new(&mut self.op).poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(r) => {
                let (outcome, data) = (self.convert)(r);
                self.journal.fill(self.id, outcome, data);
            }
            Poll::Pending => self.journal.violation(format!("I1: op {} woke its waker but has no result", self.id)),
        }
        self.collected = true;
    }
}

fn unit_outcome(r: wsk::Result<()>) -> (Result<usize, NtStatus>, Vec<u8>) {
    (r.map(|()| 0), Vec::new())
}

fn count_outcome(r: wsk::Result<usize>) -> (Result<usize, NtStatus>, Vec<u8>) {
    (r, Vec::new())
}

fn data_outcome(r: wsk::Result<Vec<u8>>) -> (Result<usize, NtStatus>, Vec<u8>) {
    match r {
        Ok(v) => (Ok(v.len()), v),
        Err(e) => (Err(e), Vec::new()),
    }
}

// ---------------------------------------------------------------------------------------
// The wsk client's event handler
// ---------------------------------------------------------------------------------------

/// `WskReceiveEvent` / `WskDisconnectEvent` with random answers.
struct Client {
    journal: Arc<Journal>,
    socket: Mutex<Option<ConnectionSocket>>,
    rng: Mutex<Rng>,
}

impl Client {
    /// Posts a receive from inside the callback (`receive_then`, flags 0).
    fn post_receive(&self, cap: usize) {
        let Some(socket) = lock(&self.socket).clone() else { return };
        let j = Arc::clone(&self.journal);
        let id = j.start(OpKind::Receive { cap, waitall: false, from_callback: true });
        socket.receive_then(Box::new(vec![0u8; cap]), 0, move |r, buf| {
            let data = received_bytes(&r, buf);
            j.completed(id, Some(r), data, true);
        });
    }

    /// The follow-up after a partial or refused indication: a receive (which takes the
    /// rest), a zero-length receive (the rest is indicated again), or nothing (the test
    /// thread's next receive resumes the flow).
    fn follow_up(&self, rng: &mut Rng, receive_weight: usize, zero_weight: usize) {
        let roll = rng.below(100);
        if roll < receive_weight {
            self.post_receive(rng.between(1, 8192));
        } else if roll < receive_weight + zero_weight {
            self.post_receive(0);
        }
    }
}

impl ConnectionEvents for Client {
    fn on_receive(&self, data: Option<&mut DataIndication>, _flags: EventFlags) -> ReceiveOutcome {
        let j = &self.journal;
        let _gate = lock(&j.gate);
        let _outbox = j.enter_outbox("WskReceiveEvent");
        let stamp = j.tick();
        let mut st = lock(&j.state);
        j.callback_context(&mut st, "WskReceiveEvent");
        let Some(data) = data else {
            st.dead_events += 1;
            return ReceiveOutcome::Accepted;
        };
        st.indications += 1;
        let n = data.bytes_indicated();
        let all: Vec<u8> = data.segments().flatten().copied().collect();
        if n == 0 || all.len() != n {
            st.violations.push(format!("indication of {n} bytes carries {} bytes", all.len()));
        }
        drop(st);
        let mut rng = lock(&self.rng);
        let roll = rng.below(100);
        let (taken, outcome) = if roll < 30 || n < 2 {
            (all, ReceiveOutcome::Accepted)
        } else if roll < 50 {
            // Partial(0) is allowed and means the same as NotAccepted.
            let k = if rng.percent(10) { 0 } else { rng.between(1, n - 1) };
            self.follow_up(&mut rng, 40, 40);
            (all[..k].to_vec(), ReceiveOutcome::Partial(k))
        } else if roll < 65 {
            self.follow_up(&mut rng, 30, 50);
            (Vec::new(), ReceiveOutcome::NotAccepted)
        } else if roll < 90 {
            let retained = data.retain();
            let copies = retained.buffers().iter().map(|b| b.data().to_vec()).collect();
            lock(&j.state).held.push(Held::Chain(retained, copies));
            (all, ReceiveOutcome::Retained)
        } else {
            // `Retained` without `retain()` counts as accepted (README, semantics choices).
            (all, ReceiveOutcome::Retained)
        };
        let mut st = lock(&j.state);
        st.pieces.push(Piece { stamp, op: None, data: taken });
        if matches!(outcome, ReceiveOutcome::Partial(_) | ReceiveOutcome::NotAccepted) {
            st.suspends.push(stamp);
        }
        outcome
    }

    fn on_disconnect(&self, abortive: bool) {
        let j = &self.journal;
        let _outbox = j.enter_outbox("WskDisconnectEvent");
        let mut st = lock(&j.state);
        j.callback_context(&mut st, "WskDisconnectEvent");
        st.disconnect_events.push(abortive);
    }
}

// ---------------------------------------------------------------------------------------
// The std peer
// ---------------------------------------------------------------------------------------

/// How the peer's reader ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PeerEnd {
    Eof,
    Reset,
}

/// The std side: a reader thread collecting everything until EOF or reset (pausable), and
/// a writer thread sending `payload` in random pieces, then its FIN if asked.
struct Peer {
    stream: StdStream,
    paused: Arc<AtomicBool>,
    reader: mpsc::Receiver<Result<(Vec<u8>, PeerEnd), String>>,
    writer: mpsc::Receiver<Result<(), String>>,
}

impl Peer {
    fn start(stream: StdStream, payload: Arc<[u8]>, fin: bool, seed: u64) -> Peer {
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_write_timeout(Some(WAIT)).unwrap();
        let paused = Arc::new(AtomicBool::new(false));
        let (reader_tx, reader) = mpsc::channel();
        let (writer_tx, writer) = mpsc::channel();
        let (mut r, p) = (stream.try_clone().unwrap(), Arc::clone(&paused));
        thread::spawn(move || {
            let _ = reader_tx.send(peer_read(&mut r, &p));
        });
        let mut w = stream.try_clone().unwrap();
        thread::spawn(move || {
            let _ = writer_tx.send(peer_write(&mut w, &payload, fin, Rng(seed ^ 0x5eed)));
        });
        Peer { stream, paused, reader, writer }
    }

    fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
    }

    /// Waits (bounded) for both threads; returns what the reader got.
    fn finish(self) -> Result<(Vec<u8>, PeerEnd), String> {
        self.set_paused(false);
        let read = self.reader.recv_timeout(WAIT).map_err(|_| "hang: the peer reader did not end".to_string())?;
        let written = self.writer.recv_timeout(WAIT).map_err(|_| "hang: the peer writer did not end".to_string())?;
        written?;
        drop(self.stream);
        read
    }
}

fn peer_read(stream: &mut StdStream, paused: &AtomicBool) -> Result<(Vec<u8>, PeerEnd), String> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let pause_start = Instant::now();
        while paused.load(Ordering::SeqCst) {
            if pause_start.elapsed() > WAIT {
                return Err("the peer reader stayed paused too long".into());
            }
            thread::sleep(Duration::from_micros(200));
        }
        match stream.read(&mut buf) {
            Ok(0) => return Ok((out, PeerEnd::Eof)),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok((out, PeerEnd::Reset)),
            Err(e) => return Err(format!("hang: peer read failed after {} bytes: {e}", out.len())),
        }
    }
}

fn peer_write(stream: &mut StdStream, payload: &[u8], fin: bool, mut rng: Rng) -> Result<(), String> {
    let mut off = 0;
    while off < payload.len() {
        let n = rng.between(1, 8 * 1024).min(payload.len() - off);
        match stream.write(&payload[off..off + n]) {
            Ok(n) => off += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // The wsk side reset the connection (abortive disconnect or close).
            Err(e) if matches!(e.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset) => return Ok(()),
            Err(e) => return Err(format!("hang: peer write failed at byte {off}: {e}")),
        }
        // Paced now and then, so data keeps arriving while the test thread acts.
        if rng.percent(30) {
            thread::sleep(Duration::from_micros(rng.between(10, 200) as u64));
        }
    }
    if fin {
        let _ = stream.shutdown(Shutdown::Write);
    }
    Ok(())
}

/// A std listener for the peer; in a small-window case its receive buffer is tiny (set
/// before the handshake, so the advertised window matches).
fn peer_listener(family: Family, small_window: bool) -> StdListener {
    use socket2::{Domain, Socket, Type};
    let domain = if family == Family::V4 { Domain::IPV4 } else { Domain::IPV6 };
    let socket = Socket::new(domain, Type::STREAM, None).unwrap();
    if small_window {
        socket.set_recv_buffer_size(SMALL_BUFFER as usize).unwrap();
    }
    socket.bind(&family.addr(0).into()).unwrap();
    socket.listen(8).unwrap();
    socket.into()
}

// ---------------------------------------------------------------------------------------
// One case
// ---------------------------------------------------------------------------------------

/// The test thread's side of a case.
struct Driver<'a> {
    case: &'a Case,
    journal: Arc<Journal>,
    socket: ConnectionSocket,
    peer: &'a Peer,
    watched: Vec<Box<dyn Watched>>,
    rng: Rng,
    /// `WSK_EVENT_RECEIVE` is enabled (false from the moment its disabling was asked).
    events_on: bool,
    /// Bytes offered to sends so far (at most [`BUDGET`]).
    offered: usize,
    /// The connection may have been reset from our side: an abortive disconnect, or a
    /// cancelled send that may have been partly written.
    maybe_aborted: bool,
    graceful_started: bool,
}

impl Driver<'_> {
    fn take_budget(&mut self, len: usize) -> usize {
        let len = len.min(BUDGET - self.offered);
        self.offered += len;
        len
    }

    fn apply(&mut self, action: &Action) -> Result<(), String> {
        let j = Arc::clone(&self.journal);
        match *action {
            Action::Send { len, nodelay, cancellable } => {
                let len = self.take_budget(len);
                // A pattern of its own per send, so the peer's bytes tell which send they came from.
                let payload: Arc<[u8]> = pattern(len, 1000 + lock(&j.state).ops.len() as u32).into();
                let id = j.start(OpKind::Send { payload: Arc::clone(&payload) });
                let flags = if nodelay { WSK_FLAG_NODELAY } else { 0 };
                if cancellable {
                    let op = self.socket.send(payload, flags);
                    self.watched.push(watch(&j, id, op, count_outcome));
                } else {
                    let j2 = Arc::clone(&j);
                    self.socket
                        .send_then(Box::new(payload), flags, move |r| j2.completed(id, Some(r), Vec::new(), true));
                }
            }
            Action::Receive { len, waitall, cancellable, chunk } => self.receive(len, waitall, cancellable, chunk),
            Action::Disconnect { abortive, final_len } => {
                let final_data: Option<Arc<[u8]>> =
                    final_len.map(|n| self.take_budget(n)).map(|n| pattern(n, 0xf1a1 + self.offered as u32).into());
                let id = j.start(OpKind::Disconnect { abortive, final_data: final_data.clone() });
                let flags = if abortive { WSK_FLAG_ABORTIVE } else { 0 };
                let op = self.socket.disconnect(final_data.map(|d| Box::new(d) as Box<dyn SendBuffer>), flags);
                self.watched.push(watch(&j, id, op, unit_outcome));
                if abortive {
                    self.maybe_aborted = true;
                } else {
                    self.graceful_started = true;
                }
            }
            Action::Cancel(pick) => self.cancel(pick),
            Action::Release(pick) => release_some(&j, &mut self.rng, Some(pick)),
            Action::EnableReceiveEvents => {
                if let Err(e) = self.socket.enable_events(WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT) {
                    return Err(format!("enable_events failed: {e:?}"));
                }
                self.events_on = true;
            }
            Action::DisableReceiveEvents => {
                let id = j.start(OpKind::DisableEvent);
                let op = self.socket.disable_event(WSK_EVENT_RECEIVE);
                self.watched.push(watch(&j, id, op, unit_outcome));
                self.events_on = false;
            }
            Action::PausePeerReader => self.peer.set_paused(true),
            Action::ResumePeerReader => self.peer.set_paused(false),
            Action::Settle(us) => thread::sleep(Duration::from_micros(us.into())),
        }
        Ok(())
    }

    /// Posts a receive from the test thread, under the gate (see [`Journal::gate`]).
    fn receive(&mut self, len: usize, waitall: bool, cancellable: bool, chunk: usize) {
        let j = Arc::clone(&self.journal);
        let flags = if waitall { WSK_FLAG_WAITALL } else { 0 };
        let _gate = lock(&j.gate);
        let id = j.start(OpKind::Receive { cap: len, waitall, from_callback: false });
        if cancellable {
            let op = self.socket.receive(len, flags);
            self.watched.push(watch(&j, id, op, data_outcome));
        } else {
            let buf: Box<dyn ReceiveBuffer> =
                if chunk > 0 { Box::new(Chunked { data: vec![0u8; len], chunk }) } else { Box::new(vec![0u8; len]) };
            let j2 = Arc::clone(&j);
            self.socket.receive_then(buf, flags, move |r, buf| {
                let data = received_bytes(&r, buf);
                j2.completed(id, Some(r), data, true);
            });
        }
    }

    /// `Op::cancel` of a random operation not completed yet (I1: if found, it completes
    /// with `STATUS_CANCELLED`).
    fn cancel(&mut self, pick: Index) {
        let pending: Vec<usize> =
            (0..self.watched.len()).filter(|&i| !self.journal.has_completed(self.watched[i].id())).collect();
        if pending.is_empty() {
            return;
        }
        let w = &self.watched[pending[pick.index(pending.len())]];
        if w.cancel() {
            let mut st = lock(&self.journal.state);
            let rec = &mut st.ops[w.id()];
            rec.cancel_found = true;
            if matches!(rec.kind, OpKind::Send { .. }) {
                // A partly written send that is cancelled aborts the connection.
                self.maybe_aborted = true;
            }
        }
    }

    fn collect(&mut self) {
        for w in &mut self.watched {
            w.collect();
        }
    }

    /// Receives until everything the peer sent arrived (I3, no hang), then disconnects
    /// gracefully, so that the peer must read exactly what the sends carried (I4).
    fn drain(&mut self) -> Result<(), String> {
        let j = Arc::clone(&self.journal);
        let deadline = Instant::now() + WAIT;
        loop {
            self.collect();
            // Retained buffers count against the receive backlog: give them back.
            release_all(&j, &mut self.rng);
            let got = j.inbound().len();
            // Everything arrived, or the end of stream did (then I3 tells what is missing).
            let eof = lock(&j.state)
                .ops
                .iter()
                .any(|o| matches!(o.kind, OpKind::Receive { cap, .. } if cap > 0) && matches!(o.outcome, Some(Ok(0))));
            if got >= self.case.peer_len || eof {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("hang: drained {got} of {} bytes in {WAIT:?}", self.case.peer_len));
            }
            let (receiving, flowing) = {
                let st = lock(&j.state);
                let receiving = st
                    .ops
                    .iter()
                    .any(|o| matches!(o.kind, OpKind::Receive { cap, .. } if cap > 0) && o.completions.is_empty());
                (receiving, st.indications_flow())
            };
            // With receive events on and indications not suspended, the rest must come by
            // indications alone: releasing retained buffers has to resume reading by itself.
            let indications_due = self.events_on && flowing;
            if !receiving && !indications_due {
                self.receive(64 * 1024, false, false, 0);
            }
            let seen = lock(&j.state).pieces.len();
            j.wait_for(Duration::from_millis(20), |st| st.pieces.len() != seen);
        }
        if !self.graceful_started {
            let id = j.start(OpKind::Disconnect { abortive: false, final_data: None });
            let op = self.socket.disconnect(None, 0);
            self.watched.push(watch(&j, id, op, unit_outcome));
            self.graceful_started = true;
            if !j.wait_for(WAIT, |st| !st.ops[id].completions.is_empty()) {
                return Err(format!("hang: the final graceful disconnect (op {id}) did not complete"));
            }
            self.collect();
            let outcome = lock(&j.state).ops[id].outcome;
            if outcome != Some(Ok(0)) {
                return Err(format!("the final graceful disconnect (op {id}) completed {outcome:?}"));
            }
        }
        Ok(())
    }

    /// Closes the socket and waits (bounded) for the close to complete.
    fn close(&mut self) -> Result<(), String> {
        let j = Arc::clone(&self.journal);
        let id = j.start(OpKind::Close);
        // A receive callback may be running and start a receive meanwhile: that one
        // completes (STATUS_INVALID_HANDLE) before the close does (I1).
        let op = self.socket.close();
        self.watched.push(watch(&j, id, op, unit_outcome));
        if !j.wait_for(WAIT, |st| st.close_completed) {
            return Err(format!("hang: the close (op {id}) did not complete in {WAIT:?}"));
        }
        Ok(())
    }
}

/// Releases some retained indications from the test thread, in random pieces: whole, split
/// in two (one half kept), or element by element in random order. Each released buffer
/// must still hold what it held when it was retained.
fn release_some(j: &Journal, rng: &mut Rng, pick: Option<Index>) {
    let mut st = lock(&j.state);
    if st.held.is_empty() {
        return;
    }
    let count = match pick {
        Some(p) => 1 + p.index(st.held.len()),
        None => st.held.len(),
    };
    let mut taken: Vec<Held> = Vec::new();
    for _ in 0..count {
        let i = rng.below(st.held.len());
        taken.push(st.held.swap_remove(i));
    }
    drop(st);
    let mut keep = Vec::new();
    let mut release = Vec::new();
    for held in taken {
        match held {
            Held::Chain(mut chain, mut copies) if chain.buffers().len() > 1 && rng.percent(60) => {
                if rng.percent(50) {
                    // Split: release one half now, keep the other for later.
                    let at = rng.between(1, chain.buffers().len() - 1);
                    let tail = chain.split_off(at);
                    let tail_copies = copies.split_off(at);
                    let (now, later) = if rng.percent(50) {
                        ((chain, copies), (tail, tail_copies))
                    } else {
                        ((tail, tail_copies), (chain, copies))
                    };
                    release.push(Held::Chain(now.0, now.1));
                    if pick.is_some() {
                        keep.push(Held::Chain(later.0, later.1));
                    } else {
                        release.push(Held::Chain(later.0, later.1));
                    }
                } else {
                    // Element by element, in random order.
                    let mut singles: Vec<Held> =
                        chain.into_buffers().into_iter().zip(copies).map(|(b, c)| Held::Single(b, c)).collect();
                    while !singles.is_empty() {
                        let s = singles.swap_remove(rng.below(singles.len()));
                        if pick.is_some() && rng.percent(30) {
                            keep.push(s);
                        } else {
                            release.push(s);
                        }
                    }
                }
            }
            other => release.push(other),
        }
    }
    for held in &release {
        check_retained(j, held);
    }
    drop(release); // WskRelease, with no lock of ours held.
    lock(&j.state).held.extend(keep);
}

fn release_all(j: &Journal, rng: &mut Rng) {
    while !lock(&j.state).held.is_empty() {
        release_some(j, rng, None);
    }
}

fn check_retained(j: &Journal, held: &Held) {
    let ok = match held {
        Held::Chain(chain, copies) => {
            chain.buffers().len() == copies.len() && chain.buffers().iter().zip(copies).all(|(b, c)| b.data() == &c[..])
        }
        Held::Single(buf, copy) => buf.data() == &copy[..],
    };
    if !ok {
        j.violation("I3: a retained indication buffer changed before it was released".into());
    }
}

/// Runs one case; `Err` describes the first invariant broken.
fn run_case(case: &Case, provider: &Provider) -> Result<(), String> {
    let baseline = provider.open_sockets();
    let reg = Registration::with_provider(provider, WSK_VERSION).map_err(|e| format!("register: {e:?}"))?;
    let npi = reg.capture(wsk::Wait::Infinite).map_err(|e| format!("capture: {e:?}"))?;
    let journal = Arc::new(Journal::default());
    let inbound: Arc<[u8]> = pattern(case.peer_len, case.seed as u32).into();

    let listener = peer_listener(case.family, case.small_window);
    let handler = Arc::new(Client {
        journal: Arc::clone(&journal),
        socket: Mutex::new(None),
        rng: Mutex::new(Rng(case.seed ^ 0xca11_bac5)),
    });
    let connect = npi.socket_connect(case.family.addr(0), listener.local_addr().unwrap(), Some(handler.clone()));
    let socket = match connect.wait_timeout(WAIT) {
        Some(Ok(s)) => s,
        Some(Err(e)) => return Err(format!("connect failed: {e:?}")),
        None => return Err("hang: connect did not complete".into()),
    };
    let (stream, _) = listener.accept().map_err(|e| format!("peer accept: {e}"))?;
    if case.small_window {
        set_int_option(
            socket.raw_fd().expect("a connected socket has a host fd"),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            SMALL_BUFFER,
        );
    }
    *lock(&handler.socket) = Some(socket.clone());
    let peer = Peer::start(stream, Arc::clone(&inbound), case.peer_fin, case.seed);
    if let Some(limit) = case.backlog_limit {
        socket.set_receive_backlog_limit(limit).map_err(|e| format!("set_receive_backlog_limit: {e:?}"))?;
    }
    if case.events_at_start {
        socket.enable_events(WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT).map_err(|e| format!("enable_events: {e:?}"))?;
    }

    let mut driver = Driver {
        case,
        journal: Arc::clone(&journal),
        socket: socket.clone(),
        peer: &peer,
        watched: Vec::new(),
        rng: Rng(case.seed ^ 0x7e57),
        events_on: case.events_at_start,
        offered: 0,
        maybe_aborted: false,
        graceful_started: false,
    };
    // The scenario; whatever happens, the socket is closed and everything released below.
    let mut result = (|| {
        for action in &case.actions {
            driver.apply(action)?;
            if let Some(v) = journal.first_violation() {
                return Err(v);
            }
        }
        peer.set_paused(false);
        if case.drain && !driver.maybe_aborted {
            driver.drain()?;
        }
        Ok(())
    })();
    let drained = result.is_ok() && case.drain && !driver.maybe_aborted;
    let closed = driver.close();
    result = result.and(closed);
    let maybe_aborted = driver.maybe_aborted;
    let (rng, mut watched) = (driver.rng.clone(), std::mem::take(&mut driver.watched));
    drop(driver);

    let peer_result = peer.finish();
    for w in &mut watched {
        w.collect();
    }
    let mut rng = rng;
    release_all(&journal, &mut rng);
    let held = socket.stats().held;
    *lock(&handler.socket) = None;

    result?;
    let (peer_bytes, peer_end) = peer_result?;
    {
        let st = lock(&journal.state);
        if let Some(v) = st.violations.first() {
            return Err(v.clone());
        }
        check_exactly_once(&st)?;
        check_statuses(&st)?;
        check_fifo(&st, "send", |k| matches!(k, OpKind::Send { .. }))?;
        check_fifo(&st, "receive", |k| matches!(k, OpKind::Receive { .. }))?;
        check_inbound(&st, &inbound, case.peer_fin, drained, maybe_aborted)?;
        check_outbound(&st, &peer_bytes, peer_end)?;
        check_callbacks(&st, case.peer_fin)?;
        note_coverage(&st, &peer_bytes, drained, maybe_aborted);
    }
    // I6: every buffer back once every retained indication is released.
    if held != 0 {
        return Err(format!("I6: the closed socket still holds {held} bytes of receive buffers"));
    }
    // I1: nothing completes late.
    thread::sleep(Duration::from_millis(2));
    if let Some(v) = journal.first_violation() {
        return Err(v);
    }
    drop(socket);
    drop(handler);
    if provider.open_sockets() != baseline {
        return Err(format!("I6: {} sockets open after close, {baseline} before", provider.open_sockets()));
    }
    drop(npi);
    reg.deregister_timeout(WAIT).map_err(|(_, (s, c))| format!("I6: deregistration left {s} sockets, {c} captures"))
}

// ---------------------------------------------------------------------------------------
// The checks, on the journal of a closed socket
// ---------------------------------------------------------------------------------------

/// I1: one completion per operation; the close completes last.
fn check_exactly_once(st: &JournalState) -> Result<(), String> {
    for (id, op) in st.ops.iter().enumerate() {
        if op.completions.len() != 1 {
            return Err(format!("I1: op {id} ({:?}) completed {} times", op.kind, op.completions.len()));
        }
        if op.outcome.is_none() {
            return Err(format!("I1: op {id} ({:?}) has no outcome", op.kind));
        }
    }
    let close = st.ops.iter().find(|o| matches!(o.kind, OpKind::Close)).ok_or("no close")?;
    let last = st.ops.iter().map(|o| o.completions[0]).max().unwrap_or(0);
    if close.completions[0] != last {
        return Err("I1: an operation completed after the close".into());
    }
    Ok(())
}

/// Every outcome is one the contract allows for that operation.
fn check_statuses(st: &JournalState) -> Result<(), String> {
    use NtStatus as S;
    for (id, op) in st.ops.iter().enumerate() {
        let outcome = op.outcome.expect("checked");
        // Cancelled while pending: STATUS_CANCELLED, or the bytes a receive already took.
        let cancelled_with_data = matches!(op.kind, OpKind::Receive { .. }) && matches!(outcome, Ok(n) if n > 0);
        if op.cancel_found && outcome != Err(S::CANCELLED) && !cancelled_with_data {
            return Err(format!("I1: op {id} ({:?}) was cancelled while pending but completed {outcome:?}", op.kind));
        }
        let allowed = match (&op.kind, outcome) {
            (OpKind::Send { payload }, Ok(n)) => n == payload.len(),
            (OpKind::Send { .. }, Err(e)) => [S::CANCELLED, S::PIPE_DISCONNECTED, S::CONNECTION_ABORTED].contains(&e),
            (OpKind::Receive { cap, .. }, Ok(n)) => n <= *cap,
            // A receive a callback starts while the socket closes finds it closed.
            (OpKind::Receive { from_callback, .. }, Err(e)) => {
                [S::CANCELLED, S::CONNECTION_ABORTED].contains(&e) || (*from_callback && e == S::INVALID_HANDLE)
            }
            (OpKind::Disconnect { .. }, Ok(_)) => true,
            (OpKind::Disconnect { abortive: false, .. }, Err(e)) => {
                [S::CANCELLED, S::INVALID_DEVICE_STATE, S::CONNECTION_ABORTED].contains(&e)
            }
            (OpKind::Disconnect { abortive: true, .. }, Err(_)) => false,
            (OpKind::DisableEvent | OpKind::Close, r) => r.is_ok(),
        };
        if !allowed {
            return Err(format!("unexpected outcome {outcome:?} of op {id} ({:?})", op.kind));
        }
    }
    Ok(())
}

/// I2: among the operations of one queue that were queued (not refused at the call, not
/// cancelled out of turn), completions ran in posting order.
fn check_fifo(st: &JournalState, what: &str, of_kind: impl Fn(&OpKind) -> bool) -> Result<(), String> {
    let mut last: Option<(usize, u64)> = None;
    for (id, op) in st.ops.iter().enumerate() {
        // A send after a graceful disconnect is refused at once (never queued).
        let refused = op.outcome == Some(Err(NtStatus::PIPE_DISCONNECTED));
        if !of_kind(&op.kind) || op.cancel_found || refused {
            continue;
        }
        let stamp = op.completions[0];
        if let Some((prev, prev_stamp)) = last {
            if stamp < prev_stamp {
                return Err(format!(
                    "I2: {what} op {id} ({:?}, {:?}) completed before {what} op {prev} ({:?}, {:?}), posted earlier",
                    op.kind, op.outcome, st.ops[prev].kind, st.ops[prev].outcome
                ));
            }
        }
        last = Some((id, stamp));
    }
    Ok(())
}

fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| x != y).or((a.len() != b.len()).then(|| a.len().min(b.len())))
}

/// I3: the inbound stream is a prefix of what the peer sent (all of it when drained);
/// receive results agree with the flags and the peer's FIN.
fn check_inbound(
    st: &JournalState,
    sent: &[u8],
    peer_fin: bool,
    drained: bool,
    maybe_aborted: bool,
) -> Result<(), String> {
    let mut pieces: Vec<&Piece> = st.pieces.iter().collect();
    pieces.sort_by_key(|p| p.stamp);
    // The pieces around byte `at`, for the failure message.
    let describe = |at: usize| -> String {
        let mut off = 0;
        let mut out = String::new();
        let mut starts = Vec::new();
        for p in &pieces {
            starts.push(off);
            off += p.data.len();
        }
        let k = starts.iter().rposition(|&s| s <= at).unwrap_or(0);
        for (i, p) in pieces.iter().enumerate().skip(k.saturating_sub(12)).take(24) {
            let origin = match p.op {
                Some(id) => {
                    let OpKind::Receive { cap, waitall, from_callback } = st.ops[id].kind else { unreachable!() };
                    let from = if from_callback { "callback" } else { "test" };
                    let cancelled = if st.ops[id].cancel_found { ", cancelled" } else { "" };
                    format!(
                        "receive op {id} (cap {cap}, waitall {waitall}, from {from}{cancelled}) {:?}",
                        st.ops[id].outcome
                    )
                }
                None => "indication".into(),
            };
            out += &format!("\n  [{}..{}) stamp {} {origin}", starts[i], starts[i] + p.data.len(), p.stamp);
        }
        out
    };
    // The stream: exactly a prefix of what the peer sent (all of it when drained).
    let got: Vec<u8> = pieces.iter().flat_map(|p| p.data.iter().copied()).collect();
    if got.len() > sent.len() || got[..] != sent[..got.len()] {
        let at = first_difference(&got, &sent[..got.len().min(sent.len())]).unwrap_or(0);
        return Err(format!(
            "I3: the wsk side received {} bytes, not a prefix of the {} the peer sent: first difference at byte {at}{}",
            got.len(),
            sent.len(),
            describe(at)
        ));
    }
    if drained && got.len() != sent.len() {
        return Err(format!("I3: drained, but received {} of {} bytes", got.len(), sent.len()));
    }
    // Each receive's result agrees with its flags and with where the stream stood.
    let mut off = 0;
    let mut eof_at: Option<usize> = None;
    for p in &pieces {
        let n = p.data.len();
        if n > 0 && eof_at.is_some() {
            return Err(format!("I3: {n} bytes arrived after the end of stream{}", describe(off)));
        }
        if let Some(id) = p.op {
            let op = &st.ops[id];
            let OpKind::Receive { cap, waitall, .. } = op.kind else { unreachable!() };
            let at_end = off + n == sent.len() && peer_fin;
            if cap > 0 && matches!(op.outcome, Some(Ok(0))) {
                if !at_end {
                    return Err(format!(
                        "I3: receive op {id} completed with 0 bytes (end of stream) after {off} of {} bytes (peer FIN: {peer_fin}){}",
                        sent.len(),
                        describe(off)
                    ));
                }
                eof_at.get_or_insert(off);
            }
            if waitall && n > 0 && n < cap && !at_end && !maybe_aborted && !op.cancel_found {
                return Err(format!(
                    "I3: WAITALL receive op {id} of {cap} bytes completed with {n} before the end{}",
                    describe(off)
                ));
            }
        }
        off += n;
    }
    Ok(())
}

/// I4: the peer read exactly what successful sends (and final disconnect data) carried, in
/// posting order; beyond that only part of one failed send, and only if the connection was
/// reset. After a successful graceful disconnect the peer has everything and the FIN.
fn check_outbound(st: &JournalState, peer: &[u8], peer_end: PeerEnd) -> Result<(), String> {
    // Outbound entries in posting order: (payload, succeeded, is final disconnect data).
    let mut entries: Vec<(&[u8], bool, bool)> = Vec::new();
    let mut graceful_ok = None;
    for (id, op) in st.ops.iter().enumerate() {
        let ok = matches!(op.outcome, Some(Ok(_)));
        match &op.kind {
            OpKind::Send { payload } => entries.push((payload, ok, false)),
            OpKind::Disconnect { abortive: false, final_data } => {
                if let Some(d) = final_data {
                    entries.push((d, ok, true));
                }
                if ok {
                    graceful_ok.get_or_insert(id);
                }
            }
            _ => {}
        }
    }
    let expected: Vec<u8> = entries.iter().filter(|e| e.1).flat_map(|e| e.0.iter().copied()).collect();
    if let Some(id) = graceful_ok {
        // Every send posted before a successful graceful disconnect completed before it.
        let d = st.ops[id].completions[0];
        for (sid, op) in st.ops[..id].iter().enumerate() {
            if matches!(op.kind, OpKind::Send { .. }) && op.completions[0] > d {
                return Err(format!("I2: send op {sid} completed after the graceful disconnect op {id}"));
            }
        }
        if peer != &expected[..] || peer_end != PeerEnd::Eof {
            let at = first_difference(peer, &expected);
            return Err(format!(
                "I4: after the graceful disconnect op {id} the peer read {} bytes ({peer_end:?}), the sends carried {} (first difference at {at:?})",
                peer.len(),
                expected.len()
            ));
        }
        return Ok(());
    }
    let common = peer.len().min(expected.len());
    if peer[..common] != expected[..common] {
        let at = first_difference(&peer[..common], &expected[..common]);
        return Err(format!("I4: the peer's bytes differ from what the sends carried at byte {at:?}"));
    }
    if peer.len() > expected.len() {
        // Only the head of the send queue may show, cut short: part of a failed send, or
        // (all or part of) the final data of a graceful disconnect that did not complete.
        let excess = &peer[expected.len()..];
        let last_ok = entries.iter().rposition(|e| e.1);
        let partial = entries.iter().enumerate().any(|(i, &(payload, ok, is_final))| {
            let cut = payload.len() > excess.len() || (is_final && payload.len() == excess.len());
            !ok && last_ok.is_none_or(|l| i > l) && cut && payload.starts_with(excess)
        });
        if !partial {
            return Err(format!(
                "I4: the peer read {} bytes more than the {} successful sends carried, not part of a failed send",
                excess.len(),
                expected.len()
            ));
        }
    }
    Ok(())
}

fn note_coverage(st: &JournalState, peer_bytes: &[u8], drained: bool, maybe_aborted: bool) {
    note("cases", 1);
    note("cases drained", u64::from(drained));
    note("cases maybe aborted", u64::from(maybe_aborted));
    note("bytes in (wsk received)", inbound_stream(st).len() as u64);
    note("bytes out (peer read)", peer_bytes.len() as u64);
    note("indications", st.indications as u64);
    note("disconnect indications", st.disconnect_events.len() as u64);
    for op in &st.ops {
        let kind = match op.kind {
            OpKind::Send { .. } => "send",
            OpKind::Receive { from_callback: true, .. } => "receive from callback",
            OpKind::Receive { waitall: true, .. } => "receive waitall",
            OpKind::Receive { cap: 0, .. } => "receive zero-length",
            OpKind::Receive { .. } => "receive",
            OpKind::Disconnect { abortive: true, .. } => "disconnect abortive",
            OpKind::Disconnect { .. } => "disconnect graceful",
            OpKind::DisableEvent => "disable event",
            OpKind::Close => "close",
        };
        let outcome = match op.outcome {
            Some(Ok(_)) => "OK".to_string(),
            Some(Err(e)) => e.name().unwrap_or("?").to_string(),
            None => "-".into(),
        };
        let cancelled = if op.cancel_found { " (cancelled by Op::cancel)" } else { "" };
        note(format!("op {kind}: {outcome}{cancelled}"), 1);
    }
}

/// Prints the coverage entries whose name starts with `prefix` (or not, when `!with`).
fn print_coverage(prefix: &str, with: bool) {
    let coverage = lock(&COVERAGE);
    let lines: Vec<String> =
        coverage.iter().filter(|(k, _)| k.starts_with(prefix) == with).map(|(k, v)| format!("  {k}: {v}")).collect();
    eprintln!("coverage:\n{}", lines.join("\n"));
}

/// I5: what the callbacks saw.
fn check_callbacks(st: &JournalState, peer_fin: bool) -> Result<(), String> {
    if st.dead_events > 1 {
        return Err(format!("I5: {} NULL receive indications", st.dead_events));
    }
    if st.disconnect_events.len() > 1 {
        return Err(format!("I5: {} disconnect indications: {:?}", st.disconnect_events.len(), st.disconnect_events));
    }
    match st.disconnect_events.first() {
        // The peer never resets, and a local abort is not indicated back.
        Some(true) => Err("I5: an abortive disconnect was indicated, but the peer never reset".into()),
        Some(false) if !peer_fin => Err("I5: a graceful disconnect was indicated, but the peer sent no FIN".into()),
        _ => Ok(()),
    }
}

/// The last line of defence against a hang inside a call (which no bounded wait can catch):
/// if one case runs far longer than its bounded waits allow, prints the seed and the case
/// (past the test harness's output capture) and aborts the process.
struct Watchdog {
    armed: Arc<Mutex<Option<(Instant, String)>>>,
}

impl Watchdog {
    const LIMIT: Duration = Duration::from_secs(60);

    fn start() -> Watchdog {
        let armed = Arc::new(Mutex::new(None::<(Instant, String)>));
        let weak = Arc::downgrade(&armed);
        thread::spawn(move || loop {
            thread::sleep(Duration::from_millis(100));
            let Some(armed) = weak.upgrade() else { return };
            let guard = lock(&armed);
            if let Some((since, what)) = &*guard {
                if since.elapsed() > Watchdog::LIMIT {
                    let _ = writeln!(io::stderr(), "hang: a case ran over {:?}: {what}", Watchdog::LIMIT);
                    std::process::abort();
                }
            }
        });
        Watchdog { armed }
    }

    fn arm(&self, what: String) {
        *lock(&self.armed) = Some((Instant::now(), what));
    }

    fn disarm(&self) {
        *lock(&self.armed) = None;
    }
}

#[test]
fn random_interleavings_keep_invariants() {
    let seed = stress_seed();
    let cases = std::env::var("STRESS_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(CASES);
    let provider = Provider::new_host().expect("provider");
    let config = Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        max_shrink_iters: 64,
        max_shrink_time: 60_000,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let watchdog = Watchdog::start();
    let result = runner.run(&case(), |case| {
        watchdog.arm(format!("STRESS_SEED={seed}, case {case:#?}"));
        let result = run_case(&case, &provider).map_err(TestCaseError::fail);
        watchdog.disarm();
        result
    });
    print_coverage("short", false);
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, case)) => {
            panic!("{why}\nminimal failing case: {case:#?}\nrerun with STRESS_SEED={seed}")
        }
        Err(e) => panic!("{e}\nrerun with STRESS_SEED={seed}"),
    }
}

// ---------------------------------------------------------------------------------------
// Many short connections, concurrently
// ---------------------------------------------------------------------------------------

/// The server: accepts every connection with an echo handler (connection events inherited
/// from the listener).
struct EchoServer {
    rng: Mutex<Rng>,
}

impl ListenEvents for EchoServer {
    fn on_accept(&self, accepted: Option<Accepted>) -> AcceptOutcome {
        let Some(a) = accepted else { return AcceptOutcome::Reject };
        let mut rng = lock(&self.rng);
        let echo = Echo {
            socket: a.socket,
            zero_copy: rng.percent(50),
            fin_first: rng.percent(30),
            graceful_reply: rng.percent(50),
            received: Mutex::new((0, Vec::new())),
        };
        note(format!("short: server zero-copy {}, FIN first {}", echo.zero_copy, echo.fin_first), 1);
        AcceptOutcome::Accept(Some(Arc::new(echo)))
    }
}

/// Echoes what it receives (copied, or zero-copy by sending the retained indication);
/// with `fin_first`, sends its FIN after echoing the whole message (its length is in the
/// first two bytes); closes when the peer disconnects (answering a FIN with its own first
/// when `graceful_reply`).
struct Echo {
    socket: ConnectionSocket,
    zero_copy: bool,
    fin_first: bool,
    graceful_reply: bool,
    /// Bytes received so far, and the first two of them.
    received: Mutex<(usize, Vec<u8>)>,
}

impl Echo {
    /// Counts `n` more bytes (starting with `head`); true once the whole message arrived.
    fn message_complete(&self, head: &[u8], n: usize) -> bool {
        let mut received = lock(&self.received);
        let need = 2 - received.1.len().min(2);
        received.1.extend_from_slice(&head[..need.min(head.len())]);
        received.0 += n;
        received.1.len() == 2 && received.0 == usize::from(u16::from_be_bytes([received.1[0], received.1[1]]))
    }
}

impl ConnectionEvents for Echo {
    fn on_receive(&self, data: Option<&mut DataIndication>, _: EventFlags) -> ReceiveOutcome {
        let Some(data) = data else {
            note("short: server closes on a NULL indication", 1);
            self.socket.close().detach(); // the connection is dead
            return ReceiveOutcome::Accepted;
        };
        let head: Vec<u8> = data.segments().flatten().take(2).copied().collect();
        let complete = self.message_complete(&head, data.bytes_indicated());
        let outcome = if self.zero_copy {
            self.socket.send_then(Box::new(data.retain()), 0, |_| {});
            ReceiveOutcome::Retained
        } else {
            let copy: Vec<u8> = data.segments().flatten().copied().collect();
            self.socket.send_then(Box::new(copy), 0, |_| {});
            ReceiveOutcome::Accepted
        };
        if complete && self.fin_first {
            // Queued behind the echo: the client gets all of it, then the FIN.
            self.socket.disconnect(None, 0).detach();
        }
        outcome
    }

    fn on_disconnect(&self, abortive: bool) {
        note(format!("short: server disconnect indication, abortive {abortive}"), 1);
        if !abortive && self.graceful_reply {
            let socket = self.socket.clone();
            self.socket.disconnect(None, 0).then(move |_| socket.close().detach());
        } else {
            self.socket.close().detach();
        }
    }
}

/// The client's handler: collects the echo, counts disconnects.
#[derive(Default)]
struct EchoClient {
    data: Mutex<Vec<u8>>,
    changed: Condvar,
}

impl ConnectionEvents for EchoClient {
    fn on_receive(&self, data: Option<&mut DataIndication>, _: EventFlags) -> ReceiveOutcome {
        if let Some(data) = data {
            lock(&self.data).extend(data.segments().flatten());
            self.changed.notify_all();
        }
        ReceiveOutcome::Accepted
    }
}

fn bounded<T: Send + 'static>(op: Op<T>, what: &str) -> Result<T, String> {
    match op.wait_timeout(WAIT) {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(format!("{what} failed: {e:?}")),
        None => Err(format!("hang: {what} did not complete in {WAIT:?}")),
    }
}

/// One connection: connect, send a message, wait for its echo, end it one of five ways.
fn short_connection(npi: &wsk::ProviderNpi, family: Family, server: SocketAddr, rng: &mut Rng) -> Result<(), String> {
    let client = Arc::new(EchoClient::default());
    let socket = bounded(npi.socket_connect(family.addr(0), server, Some(client.clone())), "connect")?;
    socket.enable_events(WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT).map_err(|e| format!("enable_events: {e:?}"))?;
    // The first two bytes say how long the message is (for a server that sends its FIN first).
    let mut msg = pattern(rng.between(2, 4096), rng.next() as u32);
    let len = msg.len() as u16;
    msg[..2].copy_from_slice(&len.to_be_bytes());
    let sent = bounded(socket.send(msg.clone(), 0), "send")?;
    if sent != msg.len() {
        return Err(format!("send reported {sent} of {} bytes", msg.len()));
    }
    let deadline = Instant::now() + WAIT;
    let mut got = lock(&client.data);
    while got.len() < msg.len() && Instant::now() < deadline {
        got = client.changed.wait_timeout(got, Duration::from_millis(50)).unwrap_or_else(|e| e.into_inner()).0;
    }
    if *got != msg {
        return Err(format!(
            "echo: got {} of {} bytes (equal prefix: {})",
            got.len(),
            msg.len(),
            msg.starts_with(&got)
        ));
    }
    drop(got);
    let end = rng.below(5);
    let ends =
        ["graceful disconnect, close", "abortive disconnect, close", "close", "drop", "disconnect, close at once"];
    note(format!("short: client {}", ends[end]), 1);
    match end {
        0 => {
            // The server may answer our FIN by closing abortively; its host then resets the
            // connection before acknowledging the FIN (Linux delays that ACK), which fails
            // the disconnect with STATUS_CONNECTION_RESET.
            match socket.disconnect(None, 0).wait_timeout(WAIT) {
                Some(Ok(())) => {}
                Some(Err(NtStatus::CONNECTION_RESET)) => note("short: client graceful disconnect reset", 1),
                Some(Err(e)) => return Err(format!("graceful disconnect failed: {e:?}")),
                None => return Err("hang: graceful disconnect".into()),
            }
            bounded(socket.close(), "close")?;
        }
        1 => {
            bounded(socket.disconnect(None, WSK_FLAG_ABORTIVE), "abortive disconnect")?;
            bounded(socket.close(), "close")?;
        }
        2 => bounded(socket.close(), "close")?,
        3 => drop(socket), // the last handle: an abortive close
        _ => {
            socket.disconnect(None, 0).detach();
            bounded(socket.close(), "close")?;
        }
    }
    Ok(())
}

#[test]
fn many_short_connections_drain() {
    const THREADS: u64 = 4;
    const PER_THREAD: usize = 50;
    let seed = stress_seed();
    let provider = Provider::new_host().expect("provider");
    let baseline = provider.open_sockets();
    let reg = Registration::with_provider(&provider, WSK_VERSION).unwrap();
    let npi = reg.capture(wsk::Wait::Infinite).unwrap();
    let server = Arc::new(EchoServer { rng: Mutex::new(Rng(seed)) });
    let listeners: Vec<_> = [Family::V4, Family::V6]
        .into_iter()
        .map(|family| {
            let l = bounded(npi.listen_socket(family.addr(0), Some(server.clone())), "listen socket").unwrap();
            bounded(l.bind(family.addr(0)), "bind").unwrap();
            // Inherited by every accepted socket.
            l.enable_events(WSK_EVENT_ACCEPT | WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT).unwrap();
            (family, l.local_addr().unwrap(), l)
        })
        .collect();

    let failures: Vec<String> = thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (npi, listeners) = (&npi, &listeners);
                scope.spawn(move || {
                    let mut rng = Rng(seed ^ (t + 1).wrapping_mul(0x1234_5678_9abc_def1));
                    for i in 0..PER_THREAD {
                        let (family, addr, _) = &listeners[rng.below(2)];
                        if let Err(e) = short_connection(npi, *family, *addr, &mut rng) {
                            return Some(format!("thread {t}, connection {i} ({family:?}): {e}"));
                        }
                    }
                    None
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().expect("client thread panicked")).collect()
    });
    print_coverage("short", true);
    assert!(failures.is_empty(), "{failures:#?}\nrerun with STRESS_SEED={seed}");

    // Every server socket closes itself when its client goes away.
    let deadline = Instant::now() + WAIT;
    while provider.open_sockets() != baseline + listeners.len() && Instant::now() < deadline {
        thread::yield_now();
    }
    assert_eq!(
        provider.open_sockets(),
        baseline + listeners.len(),
        "sockets left open besides the listeners (seed {seed}); registration outstanding {:?}",
        reg.outstanding()
    );
    for (_, _, l) in listeners {
        bounded(l.close(), "listener close").unwrap();
    }
    assert_eq!(provider.open_sockets(), baseline, "open sockets back to the start");
    drop(npi);
    if let Err((_, (sockets, captures))) = reg.deregister_timeout(WAIT) {
        panic!("deregistration did not drain: {sockets} sockets, {captures} captures (seed {seed})");
    }
}

// ---------------------------------------------------------------------------------------
// Provider bugs found by the stress tests, as minimal repros
// ---------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------
// Regressions: provider bugs the stress test found, as minimal repros
// ---------------------------------------------------------------------------------------

/// I3: a `WAITALL` receive that already took some bytes from the host and is then
/// cancelled must not lose them (it completed `STATUS_CANCELLED` and the next receive got
/// what followed them; fixed in a1c440d: it completes with the bytes it has).
#[test]
fn cancelled_waitall_receive_keeps_its_bytes() {
    let (reg, npi) = common::env();
    let (client, mut peer) = common::std_pair(&npi, Family::V4, None);
    let waitall = client.receive(100, WSK_FLAG_WAITALL);
    common::peer_send_delivered(&mut peer, b"0123456789");
    // The provider moved the ten bytes into the pending receive: none is left to read.
    common::wait_until("the bytes to reach the receive", || client.receive_backlog() == Ok(0));
    assert!(waitall.cancel(), "the WAITALL receive is pending (it wants 100 bytes)");
    let first = common::wait(waitall);
    peer.write_all(b"abcde").unwrap();
    let next = common::ok(client.receive(100, 0));
    let mut delivered = first.clone().unwrap_or_default();
    delivered.extend_from_slice(&next);
    assert_eq!(
        String::from_utf8_lossy(&delivered),
        "0123456789abcde",
        "the cancelled receive completed {first:?}; the next one got {:?}",
        String::from_utf8_lossy(&next)
    );
    common::ok(client.close());
    common::finish(reg, npi);
}

/// I1: an operation that a running event callback starts after another thread called
/// `close` must complete (with `STATUS_INVALID_HANDLE`) before the close does. (It completed
/// after the close, and after the registration counted the socket as closed, so `deregister`
/// could already have returned when its routine ran; fixed in a1c440d.)
#[test]
fn call_from_callback_during_close_completes_before_the_close() {
    struct Stall {
        socket: Mutex<Option<ConnectionSocket>>,
        entered: Mutex<mpsc::Sender<()>>,
        go: Mutex<mpsc::Receiver<()>>,
        log: Arc<Mutex<Vec<String>>>,
        reg: Mutex<Option<Arc<Registration>>>,
    }
    impl ConnectionEvents for Stall {
        fn on_receive(&self, _: Option<&mut DataIndication>, _: EventFlags) -> ReceiveOutcome {
            let _ = lock(&self.entered).send(());
            let _ = lock(&self.go).recv_timeout(WAIT);
            if let Some(socket) = lock(&self.socket).take() {
                let (log, reg) = (Arc::clone(&self.log), lock(&self.reg).clone().unwrap());
                socket.receive_then(Box::new(vec![0u8; 16]), 0, move |r, _| {
                    lock(&log).push(format!("receive completed {r:?}, open sockets {}", reg.outstanding().0));
                });
            }
            ReceiveOutcome::Accepted
        }
    }
    let (reg, npi) = common::env();
    let reg = Arc::new(reg);
    let (entered_tx, entered) = mpsc::channel();
    let (go, go_rx) = mpsc::channel();
    let log = Arc::new(Mutex::new(Vec::new()));
    let stall = Arc::new(Stall {
        socket: Mutex::new(None),
        entered: Mutex::new(entered_tx),
        go: Mutex::new(go_rx),
        log: Arc::clone(&log),
        reg: Mutex::new(Some(Arc::clone(&reg))),
    });
    let (client, mut peer) = common::std_pair(&npi, Family::V4, Some(stall.clone()));
    *lock(&stall.socket) = Some(client.clone());
    client.enable_events(WSK_EVENT_RECEIVE).unwrap();
    peer.write_all(b"x").unwrap();
    common::recv(&entered, "the receive callback");
    // The callback runs: the close waits for it to return.
    let l = Arc::clone(&log);
    let r = Arc::clone(&reg);
    client.close().then(move |r2| lock(&l).push(format!("close completed {r2:?}, open sockets {}", r.outstanding().0)));
    go.send(()).unwrap();
    common::wait_until("both completions", || lock(&log).len() == 2);
    let log = lock(&log).clone();
    assert!(log[0].starts_with("receive completed"), "the close completed first: {log:#?}");
    drop(client);
    drop(stall);
    drop(npi);
    common::sole(reg).deregister_timeout(WAIT).map_err(|(_, c)| c).unwrap();
}

/// I2: completions of one socket run in the order their calls were made, also for calls on
/// a closed socket (a completion routine making calls C, D, E once the close completed
/// once saw them complete A, D, E, C).
#[test]
fn calls_on_a_closed_socket_complete_in_order() {
    let (reg, npi) = common::env();
    let (client, _peer) = common::std_pair(&npi, Family::V4, None);
    common::ok(client.close());
    let log = Arc::new(Mutex::new(Vec::new()));
    let (l, socket) = (Arc::clone(&log), client.clone());
    client.send_then(Box::new(b"a".to_vec()), 0, move |r| {
        lock(&l).push(format!("A {r:?}"));
        // Three more calls from inside the completion routine (the outbox is busy).
        for name in ["C", "D", "E"] {
            let l = Arc::clone(&l);
            socket.send_then(Box::new(b"x".to_vec()), 0, move |r| lock(&l).push(format!("{name} {r:?}")));
        }
    });
    common::wait_until("four completions", || lock(&log).len() == 4);
    let order: Vec<String> = lock(&log).iter().map(|s| s[..1].to_string()).collect();
    assert_eq!(order, ["A", "C", "D", "E"], "{:#?}", lock(&log));
    drop(client);
    common::finish(reg, npi);
}
