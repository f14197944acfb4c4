//! Listening sockets: bind (starts listening), local address, `WskAccept` (FIFO,
//! immediate, cancelled by close), `WskAcceptEvent` (accept, reject, inherited and static
//! event callbacks), dual stack, and the death of the host listener.

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use common::*;
use wsk::events::{WSK_EVENT_ACCEPT, WSK_EVENT_DISCONNECT, WSK_EVENT_RECEIVE};
use wsk::{
    AcceptOutcome, Accepted, ConnectionEvents, ConnectionSocket, DataIndication, EventFlags, ListenEvents, NtStatus,
    ReceiveOutcome,
};

#[test]
fn create_bind_and_local_address() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let l = ok(npi.listen_socket(family.addr(0), None));
        assert_eq!(l.local_addr().err(), Some(NtStatus::INVALID_DEVICE_STATE), "before bind");
        assert_eq!(l.raw_fd(), None);
        ok(l.bind(family.addr(0)));
        let local = l.local_addr().unwrap();
        assert_eq!(local.ip(), family.loopback());
        assert_ne!(local.port(), 0, "bind to port 0 picks a port");
        assert!(l.raw_fd().is_some());
        // It listens: a std client connects.
        let accept = l.accept(None);
        let client = TcpStream::connect(local).unwrap();
        let accepted = ok(accept);
        assert_eq!(accepted.remote, client.local_addr().unwrap());
        assert_eq!(accepted.local, local);
        ok(accepted.socket.close());
        ok(l.close());
    });
    finish(reg, npi);
}

#[test]
fn bind_errors() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let l = listener(&npi, family, None);
        let local = l.local_addr().unwrap();
        assert_eq!(err(l.bind(family.addr(0))), NtStatus::INVALID_DEVICE_STATE, "bind twice");
        assert_eq!(l.local_addr().unwrap(), local, "a failed second bind changes nothing");

        let other = ok(npi.listen_socket(family.addr(0), None));
        assert_eq!(err(other.bind(family.other().addr(0))), NtStatus::INVALID_PARAMETER, "other family");
        assert_eq!(other.local_addr().err(), Some(NtStatus::INVALID_DEVICE_STATE), "still unbound");
        assert_eq!(err(other.bind(local)), NtStatus::ADDRESS_ALREADY_ASSOCIATED, "port in use");
        // After the failures it can still bind.
        ok(other.bind(family.addr(0)));

        // A port held by a host socket outside the provider is in use too.
        let std_listener = std::net::TcpListener::bind(family.addr(0)).unwrap();
        let third = ok(npi.listen_socket(family.addr(0), None));
        assert_eq!(err(third.bind(std_listener.local_addr().unwrap())), NtStatus::ADDRESS_ALREADY_ASSOCIATED);
        for s in [l, other, third] {
            ok(s.close());
        }
    });
    finish(reg, npi);
}

#[test]
fn pending_accepts_complete_in_fifo_order() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let l = listener(&npi, family, None);
        let log = Log::default();
        let (tx, rx) = mpsc::channel();
        for i in 0..3 {
            let log = log.clone();
            let tx = tx.clone();
            l.accept_then(None, move |r| {
                log.push(format!("accept {i}"));
                tx.send((i, r)).unwrap();
            });
        }
        let mut clients = Vec::new();
        for i in 0..3 {
            let c = ok(npi.socket_connect(family.addr(0), l.local_addr().unwrap(), None));
            // Wait for this client's accept before connecting the next one, so the
            // arrival order is known.
            let (which, accepted) = recv(&rx, "accept completion");
            let accepted = accepted.expect("accept");
            assert_eq!(which, i, "accept {which} completed for connection {i}");
            assert_eq!(accepted.remote, c.local_addr().unwrap(), "accept {i} got another client");
            assert_eq!(accepted.local, l.local_addr().unwrap());
            assert_eq!(c.remote_addr().unwrap(), accepted.local);
            clients.push(c);
            clients.push(accepted.socket);
        }
        assert_eq!(log.entries(), ["accept 0", "accept 1", "accept 2"]);
        for c in clients {
            ok(c.close());
        }
        ok(l.close());
    });
    finish(reg, npi);
}

#[test]
fn accept_takes_an_already_waiting_connection() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let l = listener(&npi, family, None);
        // Connected (handshake done by the host) before any accept is posted.
        let c1 = ok(npi.socket_connect(family.addr(0), l.local_addr().unwrap(), None));
        let c2 = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let a1 = ok(l.accept(None));
        let a2 = ok(l.accept(None));
        assert_eq!(a1.remote, c1.local_addr().unwrap());
        assert_eq!(a2.remote, c2.local_addr().unwrap());
        // The accepted socket is connected: data flows.
        assert_eq!(ok(a1.socket.send(b"ping".to_vec(), 0)), 4);
        assert_eq!(ok(c1.receive(4, wsk::flags::WSK_FLAG_WAITALL)), b"ping");
        for s in [c1, a1.socket, a2.socket] {
            ok(s.close());
        }
        ok(l.close());
    });
    finish(reg, npi);
}

#[test]
fn accept_before_bind_is_invalid_device_state() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let l = ok(npi.listen_socket(family.addr(0), None));
        assert_eq!(err(l.accept(None)), NtStatus::INVALID_DEVICE_STATE);
        let (tx, rx) = mpsc::channel();
        l.accept_then(None, move |r| tx.send(r.map(|a| a.remote)).unwrap());
        assert_eq!(recv(&rx, "accept_then completion"), Err(NtStatus::INVALID_DEVICE_STATE));
        ok(l.close());
    });
    finish(reg, npi);
}

#[test]
fn close_cancels_pending_accepts_before_completing() {
    let (reg, npi) = env();
    // Completion routines look at the registration's open sockets: the close counts the
    // listener as closed once its own routine returned, so a cancellation that ran after
    // the close would see 0.
    let reg = Arc::new(reg);
    for_each_family(|family| {
        let l = listener(&npi, family, None);
        let log = Log::default();
        for i in 0..2 {
            let (log, reg) = (log.clone(), Arc::clone(&reg));
            l.accept_then(None, move |r| {
                log.push(format!("accept {i} {} (open: {})", outcome(&r), reg.outstanding().0))
            });
        }
        let accept3 = l.accept(None);
        let (log2, reg2) = (log.clone(), Arc::clone(&reg));
        let close = watch(l.close(), move || log2.push(format!("close (open: {})", reg2.outstanding().0)));
        close.wait().expect("close succeeds");
        assert_eq!(err(accept3), NtStatus::CANCELLED);
        let entries = log.entries();
        assert_eq!(
            entries[..2],
            ["accept 0 STATUS_CANCELLED (open: 1)", "accept 1 STATUS_CANCELLED (open: 1)"],
            "every pending accept completes, cancelled, before the close"
        );
        // The close's own routine sees the listener counted closed when the close completed
        // inside `close()` (its hook runs at `watch`), open when a busy reactor completed it.
        assert!(matches!(entries[2].as_str(), "close (open: 0)" | "close (open: 1)"), "{entries:?}");
        assert_eq!(entries.len(), 3, "{entries:?}");
        wait_until("the listener counted closed", || reg.outstanding().0 == 0);
    });
    finish(sole(reg), npi);
}

#[test]
fn cancel_a_pending_accept() {
    let (reg, npi) = env();
    let l = listener(&npi, Family::V4, None);
    let first = l.accept(None);
    let second = l.accept(None);
    assert!(first.cancel());
    assert_eq!(err(first), NtStatus::CANCELLED);
    // The remaining accept still gets the next connection.
    let c = ok(npi.socket_connect(Family::V4.addr(0), l.local_addr().unwrap(), None));
    let a = ok(second);
    assert_eq!(a.remote, c.local_addr().unwrap());
    for s in [c, a.socket] {
        ok(s.close());
    }
    ok(l.close());
    finish(reg, npi);
}

/// Collects what a connection's callbacks saw.
struct ConnProbe {
    data: Mutex<Vec<u8>>,
    received: mpsc::Sender<usize>,
    disconnects: mpsc::Sender<bool>,
}

impl ConnProbe {
    fn new() -> (Arc<ConnProbe>, mpsc::Receiver<usize>, mpsc::Receiver<bool>) {
        let (rtx, rrx) = mpsc::channel();
        let (dtx, drx) = mpsc::channel();
        (Arc::new(ConnProbe { data: Mutex::new(Vec::new()), received: rtx, disconnects: dtx }), rrx, drx)
    }
}

impl ConnectionEvents for ConnProbe {
    fn on_receive(&self, data: Option<&mut DataIndication>, _: EventFlags) -> ReceiveOutcome {
        if let Some(d) = data {
            let mut all = self.data.lock().unwrap();
            for seg in d.segments() {
                all.extend_from_slice(seg);
            }
            let _ = self.received.send(all.len());
        }
        ReceiveOutcome::Accepted
    }
    fn on_disconnect(&self, abortive: bool) {
        let _ = self.disconnects.send(abortive);
    }
}

/// A listen handler that hands accepted sockets to the test and answers as told.
struct AcceptProbe {
    reject: bool,
    conn: Option<Arc<ConnProbe>>,
    calls: AtomicUsize,
    nulls: AtomicUsize,
    accepted: Mutex<mpsc::Sender<(ConnectionSocket, SocketAddr, SocketAddr)>>,
    null_tx: Mutex<mpsc::Sender<()>>,
}

impl AcceptProbe {
    #[allow(clippy::type_complexity)]
    fn new(
        reject: bool,
        conn: Option<Arc<ConnProbe>>,
    ) -> (Arc<AcceptProbe>, mpsc::Receiver<(ConnectionSocket, SocketAddr, SocketAddr)>, mpsc::Receiver<()>) {
        let (tx, rx) = mpsc::channel();
        let (ntx, nrx) = mpsc::channel();
        let probe = AcceptProbe {
            reject,
            conn,
            calls: AtomicUsize::new(0),
            nulls: AtomicUsize::new(0),
            accepted: Mutex::new(tx),
            null_tx: Mutex::new(ntx),
        };
        (Arc::new(probe), rx, nrx)
    }
}

impl ListenEvents for AcceptProbe {
    fn on_accept(&self, accepted: Option<Accepted>) -> AcceptOutcome {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let Some(a) = accepted else {
            self.nulls.fetch_add(1, Ordering::SeqCst);
            let _ = self.null_tx.lock().unwrap().send(());
            return AcceptOutcome::Reject;
        };
        if self.reject {
            return AcceptOutcome::Reject;
        }
        let _ = self.accepted.lock().unwrap().send((a.socket, a.local, a.remote));
        AcceptOutcome::Accept(self.conn.clone().map(|c| c as Arc<dyn ConnectionEvents>))
    }
}

#[test]
fn accept_event_accepts_with_a_handler() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (conn, received, _) = ConnProbe::new();
        let (probe, accepted, _) = AcceptProbe::new(false, Some(conn.clone()));
        let l = listener(&npi, family, Some(probe.clone()));
        l.enable_events(WSK_EVENT_ACCEPT).unwrap();
        let client = ok(npi.socket_connect(family.addr(0), l.local_addr().unwrap(), None));
        let (server, local, remote) = recv(&accepted, "accept event");
        assert_eq!(remote, client.local_addr().unwrap());
        assert_eq!(local, l.local_addr().unwrap());
        assert_eq!(server.remote_addr().unwrap(), remote);
        // The handler returned with Accept(Some(conn)) serves the new socket once its
        // events are enabled (nothing is inherited: the listener enabled only ACCEPT).
        server.enable_events(WSK_EVENT_RECEIVE).unwrap();
        assert_eq!(ok(client.send(b"through the accept event".to_vec(), 0)), 24);
        while recv(&received, "receive event") < 24 {}
        assert_eq!(&*conn.data.lock().unwrap(), b"through the accept event");
        assert_eq!(probe.calls.load(Ordering::SeqCst), 1);
        for s in [client, server] {
            ok(s.close());
        }
        ok(l.close());
    });
    finish(reg, npi);
}

#[test]
fn accept_event_reject_resets_the_client() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (probe, _, _) = AcceptProbe::new(true, None);
        let l = listener(&npi, family, Some(probe.clone()));
        l.enable_events(WSK_EVENT_ACCEPT).unwrap();
        let mut client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        client.set_read_timeout(Some(WAIT)).unwrap();
        let mut buf = [0u8; 16];
        match client.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("a rejected connection reads {other:?}, not EOF or a reset"),
        }
        assert_eq!(probe.calls.load(Ordering::SeqCst), 1);
        ok(l.close());
    });
    // The provider closed the rejected sockets: deregistration drains.
    finish(reg, npi);
}

#[test]
fn listener_events_are_inherited_by_accepted_sockets() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (conn, received, disconnects) = ConnProbe::new();
        let (probe, accepted, _) = AcceptProbe::new(false, Some(conn.clone()));
        let l = listener(&npi, family, Some(probe));
        l.enable_events(WSK_EVENT_ACCEPT | WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT).unwrap();
        let mut peer = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (server, _, _) = recv(&accepted, "accept event");
        // Nothing enabled on `server`: RECEIVE and DISCONNECT come from the listener.
        let msg = pattern(100_000, 1);
        std::io::Write::write_all(&mut peer, &msg).unwrap();
        while recv(&received, "receive event") < msg.len() {}
        assert_eq!(*conn.data.lock().unwrap(), msg);
        peer.shutdown(std::net::Shutdown::Write).unwrap();
        assert!(!recv(&disconnects, "disconnect event"), "a FIN is a graceful disconnect");
        // Inherited connection events can no longer be disabled on the listener.
        assert_eq!(err(l.disable_event(WSK_EVENT_RECEIVE)), NtStatus::INVALID_PARAMETER);
        ok(server.close());
        ok(l.close());
    });
    finish(reg, npi);
}

#[test]
fn sockets_from_wsk_accept_inherit_nothing() {
    let (reg, npi) = env();
    let (conn, received, _) = ConnProbe::new();
    let (probe, _, _) = AcceptProbe::new(false, None);
    let l = listener(&npi, Family::V4, Some(probe));
    l.enable_events(WSK_EVENT_RECEIVE).unwrap();
    let accept = l.accept(Some(conn.clone()));
    let client = ok(npi.socket_connect(Family::V4.addr(0), l.local_addr().unwrap(), None));
    let server = ok(accept).socket;
    ok(client.send(b"abc".to_vec(), 0));
    // Not indicated (RECEIVE is off on `server`): a receive operation gets the bytes.
    assert_eq!(ok(server.receive(3, wsk::flags::WSK_FLAG_WAITALL)), b"abc");
    assert!(received.try_recv().is_err(), "a socket from WskAccept inherited RECEIVE");
    for s in [client, server] {
        ok(s.close());
    }
    ok(l.close());
    finish(reg, npi);
}

#[test]
fn static_event_callbacks_apply_to_accepted_sockets() {
    for_each_family(|family| {
        let (reg, npi) = env();
        npi.set_static_event_callbacks(WSK_EVENT_ACCEPT | WSK_EVENT_RECEIVE).unwrap();
        let (conn, received, _) = ConnProbe::new();
        let (probe, accepted, _) = AcceptProbe::new(false, Some(conn.clone()));
        // No enable_events anywhere: ACCEPT is static on the listener, RECEIVE static on
        // connection sockets.
        let l = listener(&npi, family, Some(probe));
        assert_eq!(
            npi.set_static_event_callbacks(WSK_EVENT_DISCONNECT),
            Err(NtStatus::INVALID_DEVICE_STATE),
            "static callbacks after a socket exists"
        );
        let client = ok(npi.socket_connect(family.addr(0), l.local_addr().unwrap(), None));
        let (server, _, _) = recv(&accepted, "accept event from a static callback");
        ok(client.send(b"static".to_vec(), 0));
        while recv(&received, "receive event from a static callback") < 6 {}
        assert_eq!(&*conn.data.lock().unwrap(), b"static");
        // Static callbacks cannot be disabled.
        assert_eq!(err(server.disable_event(WSK_EVENT_RECEIVE)), NtStatus::INVALID_PARAMETER);
        assert_eq!(err(l.disable_event(WSK_EVENT_ACCEPT)), NtStatus::INVALID_PARAMETER);
        for s in [client, server] {
            ok(s.close());
        }
        ok(l.close());
        finish(reg, npi);
    });
}

#[test]
fn dual_stack_listener_accepts_ipv4() {
    let (reg, npi) = env();
    let l = ok(npi.listen_socket(Family::V6.any(0), None));
    l.set_v6_only(false).unwrap();
    ok(l.bind(Family::V6.any(0)));
    assert_eq!(l.set_v6_only(true).err(), Some(NtStatus::INVALID_DEVICE_STATE), "after bind");
    let port = l.local_addr().unwrap().port();
    let accept = l.accept(None);
    let client = ok(npi.socket_connect(Family::V4.addr(0), Family::V4.addr(port), None));
    let a = ok(accept);
    let expect = client.local_addr().unwrap();
    assert_eq!(a.remote.port(), expect.port());
    assert_eq!(a.remote.ip().to_canonical(), expect.ip(), "an IPv4 peer, seen v4-mapped or plain");
    // IPv6 clients are accepted too.
    let accept6 = l.accept(None);
    let client6 = ok(npi.socket_connect(Family::V6.addr(0), Family::V6.addr(port), None));
    assert_eq!(ok(accept6).socket.close().wait_timeout(WAIT), Some(Ok(())));
    for s in [client, client6, a.socket] {
        ok(s.close());
    }
    ok(l.close());

    // An IPv4 listener refuses the option.
    let v4 = ok(npi.listen_socket(Family::V4.addr(0), None));
    assert_eq!(v4.set_v6_only(false).err(), Some(NtStatus::INVALID_PARAMETER));
    ok(v4.close());
    finish(reg, npi);
}

#[test]
fn ipv6_listener_is_v6_only_by_default() {
    let (reg, npi) = env();
    // A v6-only listener on [::]:P leaves the IPv4 port P free: a host IPv4 listener can
    // take it (a dual-stack one would make that bind fail). Another process or test may
    // hold the IPv4 port by chance, so a few fresh ports are tried.
    let mut proven = false;
    for _ in 0..5 {
        let l = ok(npi.listen_socket(Family::V6.any(0), None));
        ok(l.bind(Family::V6.any(0)));
        let port = l.local_addr().unwrap().port();
        let v4 = TcpListener::bind(Family::V4.any(port));
        ok(l.close());
        if let Ok(v4) = v4 {
            // And IPv4 clients reach that listener, not the IPv6 one.
            let accepted = std::thread::spawn(move || v4.accept().map(|(_, remote)| remote));
            let c = ok(npi.socket_connect(Family::V4.addr(0), Family::V4.addr(port), None));
            assert_eq!(accepted.join().unwrap().unwrap(), c.local_addr().unwrap());
            ok(c.close());
            proven = true;
            break;
        }
    }
    assert!(proven, "the IPv4 port of every IPv6 listener was taken: the listener is not v6-only");
    finish(reg, npi);
}

/// Kills the host listener under the provider: `shutdown(SHUT_RD)` takes a listening
/// socket out of the LISTEN state, after which `accept` fails for good.
fn kill(l: &wsk::ListenSocket) {
    let fd = l.raw_fd().expect("bound");
    // SAFETY: shutdown on a descriptor the listener owns; it stays open.
    let rc = unsafe { libc::shutdown(fd, libc::SHUT_RD) };
    assert_eq!(rc, 0, "shutdown: {}", std::io::Error::last_os_error());
}

#[test]
fn dead_listener_fails_pending_accepts() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let l = listener(&npi, family, None);
        let accept = l.accept(None);
        kill(&l);
        let status = err(accept);
        assert!(status.is_error(), "a pending accept on a dead listener completes with an error, got {status:?}");
        // Later accepts fail at once with the same status.
        assert_eq!(err(l.accept(None)), status);
        ok(l.close());
    });
    finish(reg, npi);
}

#[test]
fn dead_listener_indicates_null_accept_once() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (probe, _, nulls) = AcceptProbe::new(false, None);
        let l = listener(&npi, family, Some(probe.clone()));
        l.enable_events(WSK_EVENT_ACCEPT).unwrap();
        // The death is seen by the reactor in one go, however the host reports it.
        let block = block_reactor(&npi);
        kill(&l);
        block.release();
        recv(&nulls, "the NULL accept indication");
        assert_eq!(probe.nulls.load(Ordering::SeqCst), 1);
        // More readiness and more chances to indicate: accepts (failing at once),
        // re-enabling the event, another shutdown.
        assert!(err(l.accept(None)).is_error());
        l.enable_events(WSK_EVENT_ACCEPT).unwrap();
        // A second shutdown (ENOTCONN now) wakes the host socket's waiters again.
        // SAFETY: shutdown on a descriptor the listener owns; it stays open.
        let _ = unsafe { libc::shutdown(l.raw_fd().unwrap(), libc::SHUT_RDWR) };
        // Two receive-event round trips through the reactor on another socket: any
        // second NULL indication due from the calls above would have run by then.
        let (conn, received, _) = ConnProbe::new();
        let (client, server) = wsk_pair(&npi, family, None, Some(conn));
        server.enable_events(WSK_EVENT_RECEIVE).unwrap();
        for n in 1..=2 {
            ok(client.send(vec![n as u8], 0));
            while recv(&received, "barrier receive event") < n {}
        }
        assert_eq!(probe.nulls.load(Ordering::SeqCst), 1, "the NULL accept indication repeated");
        assert_eq!(probe.calls.load(Ordering::SeqCst), 1);
        assert!(nulls.try_recv().is_err());
        for s in [client, server] {
            ok(s.close());
        }
        ok(l.close());
    });
    finish(reg, npi);
}

#[test]
fn pending_accepts_take_precedence_over_the_accept_event() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (probe, accepted_by_event, _) = AcceptProbe::new(false, None);
        let l = listener(&npi, family, Some(probe.clone()));
        l.enable_events(WSK_EVENT_ACCEPT).unwrap();
        let (conn, received, _) = ConnProbe::new();
        let accept = l.accept(Some(conn.clone()));
        let c1 = ok(npi.socket_connect(family.addr(0), l.local_addr().unwrap(), None));
        let a = ok(accept);
        assert_eq!(a.remote, c1.local_addr().unwrap());
        // The handler passed to WskAccept serves the socket once its events are enabled.
        a.socket.enable_events(WSK_EVENT_RECEIVE).unwrap();
        ok(c1.send(b"irp".to_vec(), 0));
        while recv(&received, "receive event") < 3 {}
        assert_eq!(&*conn.data.lock().unwrap(), b"irp");
        // With no accept pending, the next connection goes to the event.
        let c2 = ok(npi.socket_connect(family.addr(0), l.local_addr().unwrap(), None));
        let (s2, _, remote) = recv(&accepted_by_event, "accept event");
        assert_eq!(remote, c2.local_addr().unwrap());
        assert_eq!(probe.calls.load(Ordering::SeqCst), 1, "the event saw only the second connection");
        for s in [c1, a.socket, c2, s2] {
            ok(s.close());
        }
        ok(l.close());
    });
    finish(reg, npi);
}

#[test]
fn send_backlog_event_is_inherited() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (rec, rx) = Recorder::new();
        let (probe, accepted, _) = AcceptProbe::new(false, None);
        let probe = Arc::new(ForwardTo { inner: probe, conn: rec });
        let l = listener(&npi, family, Some(probe));
        l.enable_events(WSK_EVENT_ACCEPT | wsk::events::WSK_EVENT_SEND_BACKLOG).unwrap();
        let client = ok(npi.socket_connect(family.addr(0), l.local_addr().unwrap(), None));
        let (server, _, _) = recv(&accepted, "accept event");
        let ideal = recv(&rx.backlog, "inherited send backlog event");
        assert!(ideal > 0);
        assert_eq!(ideal, server.ideal_send_backlog().unwrap());
        for s in [client, server] {
            ok(s.close());
        }
        ok(l.close());
    });
    finish(reg, npi);
}

/// An [`AcceptProbe`] whose accepted sockets use `conn`.
struct ForwardTo {
    inner: Arc<AcceptProbe>,
    conn: Arc<Recorder>,
}

impl ListenEvents for ForwardTo {
    fn on_accept(&self, accepted: Option<Accepted>) -> AcceptOutcome {
        match self.inner.on_accept(accepted) {
            AcceptOutcome::Accept(_) => AcceptOutcome::Accept(Some(self.conn.clone())),
            AcceptOutcome::Reject => AcceptOutcome::Reject,
        }
    }
}

#[test]
fn many_simultaneous_connections_are_each_accepted_once() {
    const N: usize = 40;
    let (reg, npi) = env();
    for_each_family(|family| {
        // Through pending accepts...
        let l = listener(&npi, family, None);
        let accepts: Vec<_> = (0..N).map(|_| l.accept(None)).collect();
        let clients: Vec<_> = (0..N).map(|_| TcpStream::connect(l.local_addr().unwrap()).unwrap()).collect();
        let mut remotes: Vec<_> = accepts
            .into_iter()
            .map(|a| ok(a))
            .map(|a| {
                let remote = a.remote;
                ok(a.socket.close());
                remote
            })
            .collect();
        let mut expected: Vec<_> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
        remotes.sort();
        expected.sort();
        assert_eq!(remotes, expected);
        drop(clients);

        // ...and through the accept event, for connections that were already waiting
        // when the event was enabled and ones arriving after.
        let (probe, accepted, _) = AcceptProbe::new(false, None);
        let l2 = listener(&npi, family, Some(probe.clone()));
        let mut clients: Vec<_> = (0..N / 2).map(|_| TcpStream::connect(l2.local_addr().unwrap()).unwrap()).collect();
        l2.enable_events(WSK_EVENT_ACCEPT).unwrap();
        clients.extend((0..N / 2).map(|_| TcpStream::connect(l2.local_addr().unwrap()).unwrap()));
        let mut remotes = Vec::new();
        for _ in 0..N {
            let (s, _, remote) = recv(&accepted, "accept event");
            ok(s.close());
            remotes.push(remote);
        }
        let mut expected: Vec<_> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
        remotes.sort();
        expected.sort();
        assert_eq!(remotes, expected);
        assert_eq!(probe.calls.load(Ordering::SeqCst), N);
        for s in [l, l2] {
            ok(s.close());
        }
    });
    finish(reg, npi);
}
