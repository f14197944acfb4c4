//! Name resolution (`WskGetAddressInfo`, `WskGetNameInfo`) and the provider-level
//! requests around it: results for names that resolve without a network (localhost,
//! numeric addresses), family and type hints, `STATUS_NOT_FOUND` for a name that does
//! not exist, reverse lookups, bad input, cancellation, the bounded resolver pool (never
//! the reactor), `WskDeregister` waiting for lookups, and `WSK_TRANSPORT_LIST_CHANGE`
//! pending until cancelled or deregistered.

mod common;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::{env, finish, WAIT};
use wsk::backend::{Backend, ListenOptions, Readiness, TcpListener, TcpStream, Token};
use wsk::resolution::{ai, ni, socktype};
use wsk::{addr::AddressFamily, AddrHints, AddrInfo, NameInfo, NameInfoFlags, NtStatus, Op};

/// Waits for an op, failing the test after [`WAIT`].
#[track_caller]
fn done<T: Send + 'static>(op: Op<T>) -> wsk::Result<T> {
    op.wait_timeout(WAIT).expect("the lookup completes in time")
}

fn lookup(npi: &wsk::ProviderNpi, node: Option<&str>, service: Option<&str>, hints: AddrHints) -> Vec<AddrInfo> {
    let list = done(npi.get_address_info(node, service, &hints)).expect("the name resolves");
    assert!(!list.is_empty());
    list
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        // ::1, or ::ffff:127.x.y.z (AI_V4MAPPED)
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

#[test]
fn numeric_addresses_resolve_to_themselves_with_the_port() {
    let (reg, npi) = env();
    for (node, expected) in [("127.0.0.1", "127.0.0.1:12345"), ("::1", "[::1]:12345")] {
        let list = lookup(&npi, Some(node), Some("12345"), AddrHints::default());
        let expected: SocketAddr = expected.parse().unwrap();
        // No type in the hints: one result per address, type and protocol 0 (as on Windows).
        assert_eq!(list, [AddrInfo { addr: expected, socket_type: 0, protocol: 0, canonical_name: None }]);
    }
    finish(reg, npi);
}

#[test]
fn localhost_resolves_to_loopback_addresses() {
    let (reg, npi) = env();
    let list = lookup(&npi, Some("localhost"), Some("12345"), AddrHints::default());
    for r in &list {
        assert!(is_loopback(r.addr.ip()), "{r:?}");
        assert_eq!(r.addr.port(), 12345);
        assert_eq!(r.canonical_name, None);
    }
    // Every address once.
    for (i, r) in list.iter().enumerate() {
        assert!(!list[..i].iter().any(|q| q.addr == r.addr), "{list:?}");
    }
    // AI_CANONNAME: the canonical name in the first result only.
    let hints = AddrHints { flags: ai::AI_CANONNAME, ..AddrHints::default() };
    let list = lookup(&npi, Some("localhost"), None, hints);
    assert!(list[0].canonical_name.as_deref().is_some_and(|n| n.starts_with("localhost")), "{list:?}");
    assert!(list[1..].iter().all(|r| r.canonical_name.is_none()));
    finish(reg, npi);
}

#[test]
fn family_hints_limit_the_results() {
    let (reg, npi) = env();
    let v4 = AddrHints::family(Some(AddressFamily::V4));
    let v6 = AddrHints::family(Some(AddressFamily::V6));
    let list = lookup(&npi, Some("localhost"), Some("80"), v4);
    assert!(list.iter().all(|r| r.addr.is_ipv4() && r.addr.ip().is_loopback()), "{list:?}");
    let list = lookup(&npi, Some("::1"), Some("80"), v6);
    assert_eq!(list[0].addr, "[::1]:80".parse::<SocketAddr>().unwrap());
    // An address of the other family: no such name for this one.
    assert_eq!(done(npi.get_address_info(Some("127.0.0.1"), None, &v6)), Err(NtStatus::NOT_FOUND));
    assert_eq!(done(npi.get_address_info(Some("::1"), None, &v4)), Err(NtStatus::NOT_FOUND));
    // AI_V4MAPPED (Windows 0x800, translated): IPv4 addresses as IPv4-mapped IPv6.
    let mapped = AddrHints { flags: ai::AI_V4MAPPED, ..v6 };
    let list = lookup(&npi, Some("127.0.0.1"), Some("80"), mapped);
    assert_eq!(list[0].addr, "[::ffff:127.0.0.1]:80".parse::<SocketAddr>().unwrap());
    let list = lookup(&npi, Some("localhost"), None, mapped);
    assert!(list.iter().all(|r| r.addr.is_ipv6() && is_loopback(r.addr.ip())), "{list:?}");
    finish(reg, npi);
}

#[test]
fn type_hints_give_type_and_protocol() {
    let (reg, npi) = env();
    let stream = AddrHints { socket_type: socktype::SOCK_STREAM, ..AddrHints::default() };
    let list = lookup(&npi, Some("127.0.0.1"), Some("7"), stream);
    assert_eq!(list.len(), 1);
    assert_eq!((list[0].socket_type, list[0].protocol), (socktype::SOCK_STREAM, 6));
    let dgram = AddrHints { socket_type: socktype::SOCK_DGRAM, ..AddrHints::default() };
    let list = lookup(&npi, Some("::1"), Some("7"), dgram);
    assert_eq!((list[0].socket_type, list[0].protocol), (socktype::SOCK_DGRAM, 17));
    finish(reg, npi);
}

#[test]
fn unresolvable_names_fail_with_not_found() {
    let (reg, npi) = env();
    // `.invalid` never exists (RFC 6761): answered without any query, so no network is needed.
    let r = done(npi.get_address_info(Some("nonexistent.invalid"), None, &AddrHints::default()));
    assert_eq!(r, Err(NtStatus::NOT_FOUND));
    // AI_NUMERICHOST: a name that is no number is not found, without any lookup.
    let numeric = AddrHints { flags: ai::AI_NUMERICHOST, ..AddrHints::default() };
    assert_eq!(done(npi.get_address_info(Some("localhost"), None, &numeric)), Err(NtStatus::NOT_FOUND));
    // An unknown service.
    let r = done(npi.get_address_info(Some("127.0.0.1"), Some("no-such-service-wsk"), &AddrHints::default()));
    assert_eq!(r, Err(NtStatus::NOT_FOUND));
    finish(reg, npi);
}

#[test]
fn bad_input_fails_at_once() {
    let (reg, npi) = env();
    let r = npi.get_address_info(None, None, &AddrHints::default()).wait();
    assert_eq!(r, Err(NtStatus::INVALID_PARAMETER));
    let bad_flag = AddrHints { flags: 0x0400_0000, ..AddrHints::default() };
    assert_eq!(npi.get_address_info(Some("localhost"), None, &bad_flag).wait(), Err(NtStatus::INVALID_PARAMETER));
    let returns_ttl = AddrHints { flags: ai::AI_RETURN_TTL, ..AddrHints::default() };
    assert_eq!(npi.get_address_info(Some("localhost"), None, &returns_ttl).wait(), Err(NtStatus::INVALID_PARAMETER));
    let bad_type = AddrHints { socket_type: 5, ..AddrHints::default() };
    assert_eq!(npi.get_address_info(Some("localhost"), None, &bad_type).wait(), Err(NtStatus::NOT_SUPPORTED));
    let addr: SocketAddr = "127.0.0.1:80".parse().unwrap();
    assert_eq!(npi.get_name_info(addr, NameInfoFlags(0x40)).wait(), Err(NtStatus::INVALID_PARAMETER));
    // Nothing was left pending.
    assert_eq!(reg.pending_requests(), 0);
    finish(reg, npi);
}

#[test]
fn name_info_of_loopback_addresses() {
    let (reg, npi) = env();
    let numeric = NameInfoFlags(ni::NI_NUMERICHOST | ni::NI_NUMERICSERV);
    let info = done(npi.get_name_info("127.0.0.1:80".parse().unwrap(), numeric)).unwrap();
    assert_eq!(info, NameInfo { host: "127.0.0.1".into(), service: "80".into() });
    let info = done(npi.get_name_info("[::1]:12345".parse().unwrap(), numeric)).unwrap();
    assert_eq!(info, NameInfo { host: "::1".into(), service: "12345".into() });
    // The completion-routine form.
    let (tx, rx) = mpsc::channel();
    let canceller = npi.get_name_info_then("127.0.0.1:443".parse().unwrap(), numeric, move |r| {
        tx.send((r, std::thread::current().name().map(str::to_owned))).unwrap();
    });
    assert!(canceller.is_some());
    let (info, thread) = rx.recv_timeout(WAIT).expect("completed");
    assert_eq!(info.unwrap().service, "443");
    // The routine runs on the resolver thread, never inline in the call.
    assert_eq!(thread.as_deref(), Some("wsk-resolver"));
    finish(reg, npi);
}

// ----- a backend whose lookups wait at a gate -----

/// The host backend, except that lookups wait until the test opens the gate (at most
/// [`WAIT`]), counting how many run at once and on which threads.
struct GatedResolver {
    host: wsk_host::HostBackend,
    gate: Arc<Gate>,
}

#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
    cv: Condvar,
}

#[derive(Default)]
struct GateState {
    open: bool,
    entered: usize,
    running: usize,
    max_running: usize,
    threads: Vec<String>,
}

impl Gate {
    fn open(&self) {
        self.state.lock().unwrap().open = true;
        self.cv.notify_all();
    }

    /// Waits until `n` lookups entered the backend.
    fn wait_entered(&self, n: usize) {
        let deadline = Instant::now() + WAIT;
        let mut st = self.state.lock().unwrap();
        while st.entered < n {
            let left = deadline.checked_duration_since(Instant::now()).expect("lookups reach the backend in time");
            st = self.cv.wait_timeout(st, left).unwrap().0;
        }
    }

    fn pass(&self) {
        let mut st = self.state.lock().unwrap();
        st.entered += 1;
        st.running += 1;
        st.max_running = st.max_running.max(st.running);
        st.threads.push(std::thread::current().name().unwrap_or("").to_owned());
        self.cv.notify_all();
        let deadline = Instant::now() + WAIT;
        while !st.open && Instant::now() < deadline {
            st = self.cv.wait_timeout(st, deadline - Instant::now()).unwrap().0;
        }
        st.running -= 1;
    }
}

impl Backend for GatedResolver {
    fn tcp_listen(&self, addr: SocketAddr, options: &ListenOptions) -> io::Result<Box<dyn TcpListener>> {
        self.host.tcp_listen(addr, options)
    }
    fn tcp_socket(&self, family_of: &SocketAddr) -> io::Result<Box<dyn TcpStream>> {
        self.host.tcp_socket(family_of)
    }
    fn poll(&self, events: &mut Vec<(Token, Readiness)>, timeout: Option<Duration>) -> io::Result<()> {
        self.host.poll(events, timeout)
    }
    fn wake(&self) {
        self.host.wake()
    }
    fn resolve(&self, node: Option<&str>, service: Option<&str>, hints: &AddrHints) -> io::Result<Vec<AddrInfo>> {
        self.gate.pass();
        self.host.resolve(node, service, hints)
    }
    fn name_info(&self, addr: SocketAddr, flags: NameInfoFlags) -> io::Result<NameInfo> {
        self.gate.pass();
        self.host.name_info(addr, flags)
    }
}

/// The tests with a gated backend run one at a time: the resolver pool is process-wide,
/// and lookups of one test held at its gate would take threads another test waits for.
static GATED: Mutex<()> = Mutex::new(());

fn gated() -> (wsk::Registration, wsk::ProviderNpi, Arc<Gate>, std::sync::MutexGuard<'static, ()>) {
    let serial = GATED.lock().unwrap_or_else(|e| e.into_inner());
    let gate = Arc::new(Gate::default());
    let backend = GatedResolver { host: wsk_host::HostBackend::new().unwrap(), gate: Arc::clone(&gate) };
    let provider = wsk::Provider::with_backend(Box::new(backend), true).unwrap();
    let reg = wsk::Registration::with_provider(&provider, 0x0100).unwrap();
    let npi = reg.capture(wsk::Wait::NoWait).unwrap();
    (reg, npi, gate, serial)
}

fn numeric_v4() -> AddrHints {
    AddrHints { flags: ai::AI_NUMERICHOST, ..AddrHints::family(Some(AddressFamily::V4)) }
}

#[test]
fn cancel_completes_a_pending_lookup_at_once() {
    let (reg, npi, gate, _serial) = gated();
    let op = npi.get_address_info(Some("127.0.0.1"), Some("1"), &numeric_v4());
    gate.wait_entered(1);
    assert_eq!(reg.pending_requests(), 1);
    assert!(op.cancel(), "a pending lookup is found");
    assert!(!op.cancel(), "only once");
    assert_eq!(reg.pending_requests(), 0);
    assert_eq!(op.wait_timeout(Duration::ZERO), Some(Err(NtStatus::CANCELLED)));
    // The completion-routine form: cancelled through its canceller; the late result is discarded.
    let (tx, rx) = mpsc::channel();
    let canceller = npi
        .get_name_info_then("127.0.0.1:80".parse().unwrap(), NameInfoFlags(ni::NI_NUMERICHOST), move |r| {
            tx.send(r).unwrap();
        })
        .expect("pending");
    gate.wait_entered(2);
    assert!(canceller.cancel());
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), Err(NtStatus::CANCELLED));
    gate.open();
    // The host calls finish; nothing else arrives.
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
    finish(reg, npi);
}

#[test]
fn lookups_run_on_a_bounded_pool_never_the_reactor() {
    let (reg, npi, gate, _serial) = gated();
    let ops: Vec<_> = (0..6)
        .map(|i| npi.get_address_info(Some("127.0.0.1"), Some(&format!("{}", 1000 + i)), &numeric_v4()))
        .collect();
    gate.wait_entered(wsk::MAX_RESOLVER_THREADS);
    assert_eq!(reg.pending_requests(), 6);
    gate.open();
    for (i, op) in ops.into_iter().enumerate() {
        let list = done(op).unwrap();
        assert_eq!(list[0].addr.port(), 1000 + i as u16);
    }
    let st = gate.state.lock().unwrap();
    assert_eq!(st.entered, 6);
    // Six lookups, at most MAX_RESOLVER_THREADS at once, all on resolver threads.
    assert_eq!(st.max_running, wsk::MAX_RESOLVER_THREADS);
    assert!(st.threads.iter().all(|t| t == "wsk-resolver"), "{:?}", st.threads);
    drop(st);
    finish(reg, npi);
}

#[test]
fn deregister_waits_for_pending_lookups() {
    let (reg, npi, gate, _serial) = gated();
    let op = npi.get_address_info(Some("::1"), Some("53"), &AddrHints::default());
    gate.wait_entered(1);
    drop(npi);
    // Not while the lookup is pending ...
    let (reg, _) = reg.deregister_timeout(Duration::from_millis(100)).expect_err("deregistration waits");
    // ... and new requests are refused once deregistration began.
    assert_eq!(reg.pending_requests(), 1);
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        reg.deregister();
        tx.send(()).unwrap();
    });
    assert!(rx.recv_timeout(Duration::from_millis(100)).is_err(), "deregister returned with a lookup pending");
    gate.open();
    rx.recv_timeout(WAIT).expect("deregister returns once the lookup completed");
    waiter.join().unwrap();
    assert_eq!(op.wait_timeout(Duration::ZERO).expect("completed").unwrap()[0].addr.port(), 53);
}

#[test]
fn requests_after_deregistration_began_are_refused() {
    let (reg, npi) = env();
    reg.begin_deregister();
    let r = npi.get_address_info(Some("127.0.0.1"), None, &AddrHints::default()).wait();
    assert_eq!(r, Err(NtStatus::DEVICE_NOT_READY));
    assert_eq!(npi.transport_list_change().wait(), Err(NtStatus::DEVICE_NOT_READY));
    drop(npi);
    reg.deregister();
}

// ----- WSK_TRANSPORT_LIST_CHANGE -----

#[test]
fn transport_list_change_pends_until_cancelled_or_deregistered() {
    let (reg, npi) = env();
    let first = npi.transport_list_change();
    let second = npi.transport_list_change();
    assert_eq!(reg.pending_requests(), 2);
    assert!(first.cancel());
    assert_eq!(first.wait_timeout(Duration::ZERO), Some(Err(NtStatus::CANCELLED)));
    assert_eq!(reg.pending_requests(), 1);
    // Still pending: the list never changes (its result, the deregistration's
    // cancellation, is discarded when this op is dropped).
    assert!(second.wait_timeout(Duration::from_millis(50)).is_none(), "completed without a change");
    let third = npi.transport_list_change();
    let (tx, rx) = mpsc::channel();
    third.then(move |r| tx.send(r).unwrap());
    drop(npi);
    // WskDeregister cancels it (and does not wait for a change).
    let (dtx, drx) = mpsc::channel();
    std::thread::spawn(move || {
        reg.deregister();
        dtx.send(()).unwrap();
    });
    assert_eq!(rx.recv_timeout(WAIT).expect("cancelled by the deregistration"), Err(NtStatus::CANCELLED));
    drx.recv_timeout(WAIT).expect("deregister returns");
}

/// A backend without a resolver answers STATUS_NOT_IMPLEMENTED.
struct NoResolver(wsk_host::HostBackend);

impl Backend for NoResolver {
    fn tcp_listen(&self, addr: SocketAddr, options: &ListenOptions) -> io::Result<Box<dyn TcpListener>> {
        self.0.tcp_listen(addr, options)
    }
    fn tcp_socket(&self, family_of: &SocketAddr) -> io::Result<Box<dyn TcpStream>> {
        self.0.tcp_socket(family_of)
    }
    fn poll(&self, events: &mut Vec<(Token, Readiness)>, timeout: Option<Duration>) -> io::Result<()> {
        self.0.poll(events, timeout)
    }
    fn wake(&self) {
        self.0.wake()
    }
}

#[test]
fn a_backend_without_resolver_answers_not_implemented() {
    let provider =
        wsk::Provider::with_backend(Box::new(NoResolver(wsk_host::HostBackend::new().unwrap())), true).unwrap();
    let reg = wsk::Registration::with_provider(&provider, 0x0100).unwrap();
    let npi = reg.capture(wsk::Wait::NoWait).unwrap();
    assert_eq!(
        done(npi.get_address_info(Some("localhost"), None, &AddrHints::default())),
        Err(NtStatus::NOT_IMPLEMENTED)
    );
    let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
    assert_eq!(done(npi.get_name_info(addr, NameInfoFlags::default())), Err(NtStatus::NOT_IMPLEMENTED));
    finish(reg, npi);
}
