//! Helpers shared by the integration tests: address families, bounded waits, loopback
//! connection pairs (wsk–wsk and wsk–std), completion watchers and host-socket probes.
//!
//! Every wait here is bounded by [`WAIT`] and fails the test when it expires.
#![allow(dead_code)]

use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use wsk::{ConnectionEvents, ConnectionSocket, ListenEvents, ListenSocket, NtStatus, Op, ProviderNpi, Registration};

/// The bound of every wait in the tests.
pub const WAIT: Duration = Duration::from_secs(10);

/// An address family, to run address-dependent tests on both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// The loopback address of the family.
    pub fn loopback(self) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Family::V6 => IpAddr::V6(Ipv6Addr::LOCALHOST),
        }
    }

    /// The wildcard address of the family.
    pub fn unspecified(self) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }
    }

    /// `loopback:port`.
    pub fn addr(self, port: u16) -> SocketAddr {
        SocketAddr::new(self.loopback(), port)
    }

    /// `wildcard:port`.
    pub fn any(self, port: u16) -> SocketAddr {
        SocketAddr::new(self.unspecified(), port)
    }

    /// The other family.
    pub fn other(self) -> Family {
        match self {
            Family::V4 => Family::V6,
            Family::V6 => Family::V4,
        }
    }
}

/// Runs `f` for IPv4 and then IPv6 (the family is printed, so a failure names it).
pub fn for_each_family(mut f: impl FnMut(Family)) {
    for family in [Family::V4, Family::V6] {
        eprintln!("--- family {family:?}");
        f(family);
    }
}

/// Waits for an operation, failing the test if it is still pending after [`WAIT`].
#[track_caller]
pub fn wait<T: Send + 'static>(op: Op<T>) -> wsk::Result<T> {
    match op.wait_timeout(WAIT) {
        Some(r) => r,
        None => panic!("operation still pending after {WAIT:?}"),
    }
}

/// Waits for an operation that must succeed.
#[track_caller]
pub fn ok<T: Send + 'static>(op: Op<T>) -> T {
    match wait(op) {
        Ok(v) => v,
        Err(s) => panic!("operation failed with {s:?}"),
    }
}

/// Waits for an operation that must fail, and returns its status.
#[track_caller]
pub fn err<T: Send + std::fmt::Debug + 'static>(op: Op<T>) -> NtStatus {
    match wait(op) {
        Ok(v) => panic!("operation succeeded ({v:?}) where a failure was expected"),
        Err(s) => s,
    }
}

/// A registration with the host provider and one capture.
pub fn env() -> (Registration, ProviderNpi) {
    let reg = Registration::new().expect("register");
    let npi = reg.capture(wsk::Wait::Infinite).expect("capture");
    (reg, npi)
}

/// Releases the capture and deregisters, failing if a socket of the test is still open.
#[track_caller]
pub fn finish(reg: Registration, npi: ProviderNpi) {
    drop(npi);
    if let Err((_, (sockets, captures))) = reg.deregister_timeout(WAIT) {
        panic!("deregistration did not drain: {sockets} sockets, {captures} captures outstanding");
    }
}

/// A listening socket bound to `loopback:0`.
#[track_caller]
pub fn listener(npi: &ProviderNpi, family: Family, events: Option<Arc<dyn ListenEvents>>) -> ListenSocket {
    let l = ok(npi.listen_socket(family.addr(0), events));
    ok(l.bind(family.addr(0)));
    l
}

/// A connected wsk–wsk pair over loopback: `(client, server)`.
#[track_caller]
pub fn wsk_pair(
    npi: &ProviderNpi,
    family: Family,
    client_events: Option<Arc<dyn ConnectionEvents>>,
    server_events: Option<Arc<dyn ConnectionEvents>>,
) -> (ConnectionSocket, ConnectionSocket) {
    let l = listener(npi, family, None);
    let accept = l.accept(server_events);
    let client = ok(npi.socket_connect(family.addr(0), l.local_addr().unwrap(), client_events));
    let server = ok(accept).socket;
    ok(l.close());
    (client, server)
}

/// A wsk connection socket connected to a std peer: `(wsk, peer)`. The peer's reads and
/// writes time out after [`WAIT`] (a timed-out read fails the helpers below).
#[track_caller]
pub fn std_pair(
    npi: &ProviderNpi,
    family: Family,
    events: Option<Arc<dyn ConnectionEvents>>,
) -> (ConnectionSocket, StdStream) {
    let l = StdListener::bind(family.addr(0)).expect("std listener");
    let client = ok(npi.socket_connect(family.addr(0), l.local_addr().unwrap(), events));
    // The handshake is done (the connect completed), so this accept returns at once.
    let (peer, _) = l.accept().expect("std accept");
    assert_eq!(peer.peer_addr().unwrap(), client.local_addr().unwrap());
    peer.set_read_timeout(Some(WAIT)).unwrap();
    peer.set_write_timeout(Some(WAIT)).unwrap();
    (client, peer)
}

/// Like [`std_pair`], with tiny host buffers (the peer's receive buffer and the wsk
/// socket's send buffer), so a send of [`WINDOW_FILLER`] bytes stays pending while the
/// peer does not read. The peer's buffer is sized on its listener, before the handshake,
/// so the advertised window matches it (shrinking it later makes TCP stall).
#[track_caller]
pub fn small_window_pair(
    npi: &ProviderNpi,
    family: Family,
    events: Option<Arc<dyn ConnectionEvents>>,
) -> (ConnectionSocket, StdStream) {
    use socket2::{Domain, Socket, Type};
    let domain = if family == Family::V4 { Domain::IPV4 } else { Domain::IPV6 };
    let socket = Socket::new(domain, Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind(&family.addr(0).into()).unwrap();
    socket.listen(8).unwrap();
    let l: StdListener = socket.into();
    let client = ok(npi.socket_connect(family.addr(0), l.local_addr().unwrap(), events));
    let (peer, _) = l.accept().expect("std accept");
    peer.set_read_timeout(Some(WAIT)).unwrap();
    peer.set_write_timeout(Some(WAIT)).unwrap();
    set_int_option(client.raw_fd().expect("connected socket has a host fd"), libc::SOL_SOCKET, libc::SO_SNDBUF, 4096);
    (client, peer)
}

/// A send that cannot complete while the peer of a [`small_window_pair`] does not read.
pub const WINDOW_FILLER: usize = 1024 * 1024;

/// The file descriptor of a std stream.
pub fn raw(s: &StdStream) -> i32 {
    use std::os::fd::AsRawFd;
    s.as_raw_fd()
}

/// `setsockopt` of an int option, panicking on failure.
pub fn set_int_option(fd: i32, level: i32, name: i32, value: i32) {
    // SAFETY: the pointer and length describe `value`, a live c_int.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &value as *const i32 as *const libc::c_void,
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt({level}, {name}) failed: {}", io::Error::last_os_error());
}

/// Makes the std peer's close send a RST (`SO_LINGER {on, 0}`), then closes it.
pub fn reset(peer: StdStream) {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: the pointer and length describe `linger`, a live local.
    let rc = unsafe {
        libc::setsockopt(
            raw(&peer),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER: {}", io::Error::last_os_error());
    drop(peer);
}

/// Bytes the host has not yet had acknowledged (`TIOCOUTQ`) on a std socket.
pub fn unacked(peer: &StdStream) -> usize {
    let mut value: libc::c_int = 0;
    // SAFETY: TIOCOUTQ writes one c_int through the pointer, which points to a live local.
    let rc = unsafe { libc::ioctl(raw(peer), libc::TIOCOUTQ, &mut value as *mut libc::c_int) };
    assert_eq!(rc, 0, "TIOCOUTQ: {}", io::Error::last_os_error());
    value as usize
}

/// Writes `data` from the std peer and waits until the other side's host acknowledged it
/// (it is then in the wsk socket's host receive queue, or already taken by the provider).
#[track_caller]
pub fn peer_send_delivered(peer: &mut StdStream, data: &[u8]) {
    peer.write_all(data).expect("peer write");
    wait_until("the peer's data to be acknowledged", || unacked(peer) == 0);
}

/// How the std peer's read loop ended.
#[derive(Debug)]
pub enum PeerEnd {
    /// Orderly end of stream (FIN).
    Eof,
    /// `ECONNRESET`.
    Reset,
}

/// Reads until end of stream or reset; returns what was read and how it ended. A read
/// timeout or any other error fails the test.
#[track_caller]
pub fn peer_read_all(peer: &mut StdStream) -> (Vec<u8>, PeerEnd) {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match peer.read(&mut buf) {
            Ok(0) => return (out, PeerEnd::Eof),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return (out, PeerEnd::Reset),
            Err(e) => panic!("peer read failed: {e} (a timeout means the wsk side never ended the stream)"),
        }
    }
}

/// Reads exactly `n` bytes on the std peer.
#[track_caller]
pub fn peer_read_exact(peer: &mut StdStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    peer.read_exact(&mut buf).expect("peer read_exact");
    buf
}

/// A deterministic byte pattern, different for each `seed`.
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut state = 0x9e37_79b9_u32 ^ seed.wrapping_mul(0x85eb_ca6b) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

/// Takes back sole ownership of `shared` once the completion routines that held clones
/// of it were dropped (a routine's captures go away just after it ran).
#[track_caller]
pub fn sole<T>(shared: Arc<T>) -> T {
    wait_until("completion routines to drop their handles", || Arc::strong_count(&shared) == 1);
    Arc::into_inner(shared).expect("no other handle")
}

/// Polls `cond` (yielding, never sleeping) until it holds; fails after [`WAIT`].
#[track_caller]
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

/// Receives from a channel, failing the test after [`WAIT`].
#[track_caller]
pub fn recv<T>(rx: &mpsc::Receiver<T>, what: &str) -> T {
    match rx.recv_timeout(WAIT) {
        Ok(v) => v,
        Err(e) => panic!("no {what} within {WAIT:?}: {e}"),
    }
}

/// The kernel id of the calling thread.
pub fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// Waits until thread `tid` of this process sleeps in the kernel (state `S`), which is
/// how a thread blocked on a condition variable shows. Polls /proc, never sleeps.
#[track_caller]
pub fn wait_blocked(tid: i32) {
    let path = format!("/proc/self/task/{tid}/stat");
    wait_until(&format!("thread {tid} to block"), || {
        let stat = match std::fs::read_to_string(&path) {
            Ok(stat) => stat,
            Err(e) => panic!("thread {tid} ended instead of blocking ({e})"),
        };
        // "tid (comm) S ...": the state follows the last ')'.
        let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
        state == Some('S')
    });
}

/// An ordered log of completions and callbacks, shared between threads.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn push(&self, entry: impl Into<String>) {
        self.0.lock().unwrap().push(entry.into());
    }
    pub fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// Formats a status the way the logs do.
pub fn status_name(s: NtStatus) -> String {
    s.name().map(str::to_owned).unwrap_or_else(|| format!("{:#010x}", s.as_u32()))
}

/// Formats an operation's outcome the way the logs do.
pub fn outcome<T>(r: &wsk::Result<T>) -> String {
    match r {
        Ok(_) => "OK".into(),
        Err(s) => status_name(*s),
    }
}

struct Hook {
    run: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    fired: AtomicBool,
    tx: Mutex<mpsc::Sender<()>>,
}

impl Hook {
    fn fire(&self) {
        if let Some(run) = self.run.lock().unwrap().take() {
            run();
            self.fired.store(true, Ordering::SeqCst);
            let _ = self.tx.lock().unwrap().send(());
        }
    }
}

impl Wake for Hook {
    fn wake(self: Arc<Self>) {
        self.fire();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.fire();
    }
}

/// An operation whose completion runs a hook at the moment it happens (on the thread
/// that completes it): the hook sees the world exactly as it was at completion, which
/// is how the tests check what a completion happened before or after.
///
/// The hook can only be attached once the call that started the operation returned: an
/// operation completed inside that call runs its hook at [`watch`] time instead. Tests
/// that must place such a completion use state the provider changes (e.g. a
/// registration's open-socket count) rather than the hook's timing.
pub struct Watched<T> {
    op: Op<T>,
    early: Option<wsk::Result<T>>,
    hook: Arc<Hook>,
    rx: mpsc::Receiver<()>,
}

/// Watches `op`: `at_completion` runs once, when the operation completes (at once if it
/// already has).
pub fn watch<T: Send + 'static>(mut op: Op<T>, at_completion: impl FnOnce() + Send + 'static) -> Watched<T> {
    let (tx, rx) = mpsc::channel();
    let hook = Arc::new(Hook {
        run: Mutex::new(Some(Box::new(at_completion))),
        fired: AtomicBool::new(false),
        tx: Mutex::new(tx),
    });
    let waker = Waker::from(Arc::clone(&hook));
    let mut cx = Context::from_waker(&waker);
    let early = match Pin::new(&mut op).poll(&mut cx) {
        Poll::Ready(r) => {
            hook.fire();
            Some(r)
        }
        Poll::Pending => None,
    };
    Watched { op, early, hook, rx }
}

impl<T: Send + 'static> Watched<T> {
    /// Whether the operation completed (as far as the hook saw).
    pub fn is_complete(&self) -> bool {
        self.hook.fired.load(Ordering::SeqCst)
    }

    /// `Op::cancel`.
    pub fn cancel(&self) -> bool {
        self.op.cancel()
    }

    /// Waits for the completion (bounded by [`WAIT`]).
    #[track_caller]
    pub fn wait(self) -> wsk::Result<T> {
        if let Some(r) = self.early {
            return r;
        }
        // Polling the op again would replace the hook's waker: wait for the hook first.
        recv(&self.rx, "completion");
        match self.op.wait_timeout(WAIT) {
            Some(r) => r,
            None => panic!("completion hook ran but the operation has no result"),
        }
    }
}

struct Blocker {
    entered: Mutex<mpsc::Sender<()>>,
    release: Mutex<Option<mpsc::Receiver<()>>>,
}

impl ConnectionEvents for Blocker {
    fn on_receive(&self, _: Option<&mut wsk::DataIndication>, _: wsk::EventFlags) -> wsk::ReceiveOutcome {
        // Only the first indication blocks (a reset at close may bring a second one).
        let release = self.release.lock().unwrap().take();
        if let Some(release) = release {
            let _ = self.entered.lock().unwrap().send(());
            let _ = release.recv_timeout(WAIT);
        }
        wsk::ReceiveOutcome::Accepted
    }
}

/// Holds the provider's reactor thread inside a receive callback of a connection of its
/// own, so that host events pile up meanwhile and are seen together afterwards.
pub struct ReactorBlock {
    client: ConnectionSocket,
    server: ConnectionSocket,
    release: mpsc::Sender<()>,
}

/// Blocks the reactor (returns once it is inside the blocking callback).
#[track_caller]
pub fn block_reactor(npi: &ProviderNpi) -> ReactorBlock {
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let blocker = Arc::new(Blocker { entered: Mutex::new(entered_tx), release: Mutex::new(Some(release_rx)) });
    let (client, server) = wsk_pair(npi, Family::V4, None, Some(blocker));
    server.enable_events(wsk::events::WSK_EVENT_RECEIVE).unwrap();
    ok(client.send(vec![0u8], 0));
    recv(&entered_rx, "the reactor to enter the blocking callback");
    ReactorBlock { client, server, release: release_tx }
}

impl ReactorBlock {
    /// Lets the reactor go on and closes the connection.
    #[track_caller]
    pub fn release(self) {
        self.release.send(()).unwrap();
        ok(self.server.close());
        ok(self.client.close());
    }
}

/// A connection handler that records what its callbacks saw and reports each call.
#[derive(Default)]
pub struct Recorder {
    /// Every byte indicated, in order.
    pub data: Mutex<Vec<u8>>,
    /// `on_receive(None)` calls.
    pub dead: std::sync::atomic::AtomicUsize,
    tx: Mutex<Option<RecorderTx>>,
}

struct RecorderTx {
    received: mpsc::Sender<usize>,
    disconnects: mpsc::Sender<bool>,
    backlog: mpsc::Sender<usize>,
}

/// The reports of a [`Recorder`].
pub struct RecorderRx {
    /// Total bytes indicated so far, after each indication.
    pub received: mpsc::Receiver<usize>,
    /// `abortive` of each `on_disconnect`.
    pub disconnects: mpsc::Receiver<bool>,
    /// Each `on_send_backlog` value.
    pub backlog: mpsc::Receiver<usize>,
}

impl Recorder {
    pub fn new() -> (Arc<Recorder>, RecorderRx) {
        let (rtx, rrx) = mpsc::channel();
        let (dtx, drx) = mpsc::channel();
        let (btx, brx) = mpsc::channel();
        let rec = Recorder {
            tx: Mutex::new(Some(RecorderTx { received: rtx, disconnects: dtx, backlog: btx })),
            ..Default::default()
        };
        (Arc::new(rec), RecorderRx { received: rrx, disconnects: drx, backlog: brx })
    }
}

impl RecorderRx {
    /// Waits until at least `n` bytes were indicated in all.
    #[track_caller]
    pub fn wait_bytes(&self, n: usize) {
        while recv(&self.received, "a receive indication") < n {}
    }
}

impl ConnectionEvents for Recorder {
    fn on_receive(&self, data: Option<&mut wsk::DataIndication>, _: wsk::EventFlags) -> wsk::ReceiveOutcome {
        match data {
            Some(d) => {
                let mut all = self.data.lock().unwrap();
                for seg in d.segments() {
                    all.extend_from_slice(seg);
                }
                if let Some(tx) = &*self.tx.lock().unwrap() {
                    let _ = tx.received.send(all.len());
                }
            }
            None => {
                self.dead.fetch_add(1, Ordering::SeqCst);
            }
        }
        wsk::ReceiveOutcome::Accepted
    }
    fn on_disconnect(&self, abortive: bool) {
        if let Some(tx) = &*self.tx.lock().unwrap() {
            let _ = tx.disconnects.send(abortive);
        }
    }
    fn on_send_backlog(&self, ideal: usize) {
        if let Some(tx) = &*self.tx.lock().unwrap() {
            let _ = tx.backlog.send(ideal);
        }
    }
}

/// Waits (bounded) until the registration counts `expected` (sockets, captures). A close
/// counts its socket closed once its completion routine returned, which may be just after
/// a waiter on the close (or on an op whose failure closes a socket) woke up.
#[track_caller]
pub fn settled(reg: &Registration, expected: (usize, usize)) {
    wait_until(&format!("the registration to count {expected:?}"), || reg.outstanding() == expected);
}
