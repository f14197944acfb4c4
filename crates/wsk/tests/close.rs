//! `WskCloseSocket`: cancels every pending operation before it completes, waits for a
//! running callback, works from inside a callback, makes the socket invalid, and resets
//! the connection unless both directions were already closed.

mod common;

use std::io::Write;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};

use common::*;
use wsk::events::{WSK_EVENT_DISCONNECT, WSK_EVENT_RECEIVE};
use wsk::{ConnectionEvents, ConnectionSocket, DataIndication, EventFlags, NtStatus, ReceiveOutcome};

#[test]
fn close_cancels_every_pending_operation_first() {
    let (reg, npi) = env();
    // Every completion records the registration's open sockets: a close counts its
    // socket as closed once its completion routine returned, so a cancellation that ran
    // after the close would see one socket fewer.
    let reg = Arc::new(reg);
    for_each_family(|family| {
        let (client, mut peer) = small_window_pair(&npi, family, None);
        let listener = listener(&npi, family, None);
        let log = Log::default();
        let entry = {
            let (log, reg) = (log.clone(), Arc::clone(&reg));
            move |what: String| log.push(format!("{what} (open: {})", reg.outstanding().0))
        };
        let e = entry.clone();
        client.receive_then(Box::new(vec![0u8; 16]), 0, move |r, _| e(format!("receive {}", outcome(&r))));
        // Blocked: the peer does not read and the window is tiny.
        let e = entry.clone();
        client.send_then(Box::new(vec![1u8; WINDOW_FILLER]), 0, move |r| e(format!("send {}", outcome(&r))));
        let e = entry.clone();
        client.send_then(Box::new(b"queued".to_vec()), 0, move |r| e(format!("send2 {}", outcome(&r))));
        // Pending behind the sends it must flush first.
        let e = entry.clone();
        let disconnect = watch(client.disconnect(None, 0), move || e("disconnect".into()));
        let e = entry.clone();
        listener.accept_then(None, move |r| e(format!("accept {}", outcome(&r))));

        assert_eq!(log.len(), 0, "nothing completed before the closes");
        assert!(!disconnect.is_complete());
        let e = entry.clone();
        let close = watch(client.close(), move || e("close".into()));
        close.wait().expect("close succeeds");
        assert_eq!(disconnect.wait(), Err(NtStatus::CANCELLED));
        let entries = log.entries();
        // The close's own routine sees its socket open or closed: closed when the close
        // completed inside `close()` (its hook then runs at `watch`), open when a busy
        // reactor completed it (the count drops once the routine returned).
        let last = entries.last().map(String::as_str);
        assert!(matches!(last, Some("close (open: 1)" | "close (open: 2)")), "{entries:?}");
        let mut before: Vec<_> = entries[..entries.len() - 1].to_vec();
        before.sort();
        assert_eq!(
            before,
            [
                "disconnect (open: 2)",
                "receive STATUS_CANCELLED (open: 2)",
                "send STATUS_CANCELLED (open: 2)",
                "send2 STATUS_CANCELLED (open: 2)"
            ],
            "every pending operation completes, cancelled, before the close: {entries:?}"
        );
        // The two sends completed in their order.
        let send = entries.iter().position(|e| e.starts_with("send ")).unwrap();
        let send2 = entries.iter().position(|e| e.starts_with("send2 ")).unwrap();
        assert!(send < send2, "{entries:?}");

        // The client is counted closed once its close routine returned (maybe just after `wait`).
        wait_until("the client counted closed", || reg.outstanding().0 == 1);
        let e = entry.clone();
        let close = watch(listener.close(), move || e("listener close".into()));
        close.wait().expect("listener close succeeds");
        let entries = log.entries();
        assert_eq!(entries[entries.len() - 2], "accept STATUS_CANCELLED (open: 1)", "{entries:?}");
        let last = entries[entries.len() - 1].as_str();
        assert!(matches!(last, "listener close (open: 0)" | "listener close (open: 1)"), "{entries:?}");

        // Closing an unfinished connection resets it.
        let (_, end) = peer_read_all(&mut peer);
        assert!(matches!(end, PeerEnd::Reset), "the peer saw {end:?}");
    });
    finish(sole(reg), npi);
}

#[test]
fn close_cancels_a_pending_connect_or_completes_after_it() {
    // A loopback connect usually completes at once; whatever state it is in when the
    // close comes, its completion precedes the close's.
    let (reg, npi) = env();
    for_each_family(|family| {
        let target = std::net::TcpListener::bind(family.addr(0)).unwrap();
        let s = ok(npi.connection_socket(family.addr(0), None));
        ok(s.bind(family.addr(0)));
        let log = Log::default();
        let l = log.clone();
        s.connect_then(target.local_addr().unwrap(), move |r| l.push(format!("connect {}", outcome(&r))));
        let l = log.clone();
        let close = watch(s.close(), move || l.push("close"));
        close.wait().unwrap();
        let entries = log.entries();
        assert_eq!(entries.len(), 2, "{entries:?}");
        assert!(entries[0] == "connect OK" || entries[0] == "connect STATUS_CANCELLED", "{entries:?}");
        assert_eq!(entries[1], "close");
    });
    finish(reg, npi);
}

/// A receive handler that blocks in its first callback until released.
struct Blocking {
    entered: Mutex<mpsc::Sender<()>>,
    release: Mutex<Option<mpsc::Receiver<()>>>,
    returned: Arc<AtomicBool>,
}

impl ConnectionEvents for Blocking {
    fn on_receive(&self, _: Option<&mut DataIndication>, _: EventFlags) -> ReceiveOutcome {
        let release = self.release.lock().unwrap().take();
        if let Some(release) = release {
            let _ = self.entered.lock().unwrap().send(());
            let _ = release.recv_timeout(WAIT);
            self.returned.store(true, Ordering::SeqCst);
        }
        ReceiveOutcome::Accepted
    }
}

#[test]
fn close_completes_after_a_running_callback_returned() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (entered_tx, entered_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel();
        let returned = Arc::new(AtomicBool::new(false));
        let handler = Arc::new(Blocking {
            entered: Mutex::new(entered_tx),
            release: Mutex::new(Some(release_rx)),
            returned: Arc::clone(&returned),
        });
        let (client, mut peer) = std_pair(&npi, family, Some(handler));
        client.enable_events(WSK_EVENT_RECEIVE).unwrap();
        peer.write_all(b"data").unwrap();
        recv(&entered_rx, "the receive callback to start");

        let seen = Arc::new(AtomicBool::new(false));
        let (r, s) = (Arc::clone(&returned), Arc::clone(&seen));
        // close() itself must not block on the callback.
        let close = watch(client.close(), move || s.store(r.load(Ordering::SeqCst), Ordering::SeqCst));
        assert!(!close.is_complete(), "close completed while a callback was running");
        release_tx.send(()).unwrap();
        close.wait().expect("close succeeds");
        assert!(seen.load(Ordering::SeqCst), "close completed before the running callback returned");
    });
    finish(reg, npi);
}

/// A handler that closes its own socket from inside its receive callback.
struct SelfClosing {
    socket: OnceLock<ConnectionSocket>,
    returned: Arc<AtomicBool>,
    closes: Mutex<mpsc::Sender<(Watched<()>, Arc<AtomicBool>)>>,
}

impl ConnectionEvents for SelfClosing {
    fn on_receive(&self, _: Option<&mut DataIndication>, _: EventFlags) -> ReceiveOutcome {
        if let Some(socket) = self.socket.get() {
            let (r, seen) = (Arc::clone(&self.returned), Arc::new(AtomicBool::new(false)));
            let s = Arc::clone(&seen);
            // Starting (not waiting for) an operation from a callback is allowed.
            let close = watch(socket.close(), move || s.store(r.load(Ordering::SeqCst), Ordering::SeqCst));
            let _ = self.closes.lock().unwrap().send((close, seen));
        }
        self.returned.store(true, Ordering::SeqCst);
        ReceiveOutcome::Accepted
    }
}

#[test]
fn close_from_inside_a_callback() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (tx, rx) = mpsc::channel();
        let returned = Arc::new(AtomicBool::new(false));
        let handler =
            Arc::new(SelfClosing { socket: OnceLock::new(), returned: Arc::clone(&returned), closes: Mutex::new(tx) });
        let (client, mut peer) = std_pair(&npi, family, Some(handler.clone()));
        handler.socket.set(client.clone()).unwrap();
        client.enable_events(WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT).unwrap();
        peer.write_all(b"close yourself").unwrap();
        let (close, seen) = recv(&rx, "the close started by the callback");
        close.wait().expect("close succeeds");
        assert!(seen.load(Ordering::SeqCst), "the close completed inside the callback that started it");
        // The socket is closed for everyone.
        assert_eq!(err(client.close()), NtStatus::INVALID_HANDLE);
        let (_, end) = peer_read_all(&mut peer);
        assert!(matches!(end, PeerEnd::Reset), "the peer saw {end:?}");
    });
    finish(reg, npi);
}

#[test]
fn operations_on_a_closed_connection_socket_are_invalid_handle() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, _peer) = std_pair(&npi, family, None);
        let other = client.clone();
        ok(client.close());
        const H: NtStatus = NtStatus::INVALID_HANDLE;
        for s in [&client, &other] {
            assert_eq!(err(s.send(b"x".to_vec(), 0)), H, "send");
            assert_eq!(err(s.receive(1, 0)), H, "receive");
            assert_eq!(err(s.disconnect(None, 0)), H, "disconnect");
            assert_eq!(err(s.disconnect(None, wsk::flags::WSK_FLAG_ABORTIVE)), H, "abortive disconnect");
            assert_eq!(err(s.bind(family.addr(0))), H, "bind");
            assert_eq!(err(s.connect(family.addr(1))), H, "connect");
            assert_eq!(s.local_addr().err(), Some(H), "local_addr");
            assert_eq!(s.remote_addr().err(), Some(H), "remote_addr");
            assert_eq!(s.enable_events(WSK_EVENT_RECEIVE).err(), Some(H), "enable_events");
            assert_eq!(err(s.disable_event(WSK_EVENT_RECEIVE)), H, "disable_event");
            assert_eq!(s.disable_event_nowait(WSK_EVENT_RECEIVE), H, "disable_event_nowait");
            assert_eq!(s.ideal_send_backlog().err(), Some(H), "ideal_send_backlog");
            assert_eq!(s.receive_backlog().err(), Some(H), "receive_backlog");
            assert_eq!(s.set_nodelay(true).err(), Some(H), "set_nodelay");
            assert_eq!(s.set_receive_backlog_limit(4096).err(), Some(H), "set_receive_backlog_limit");
            assert_eq!(s.raw_fd(), None);
            let (tx, rx) = mpsc::channel();
            let tx2 = tx.clone();
            s.send_then(Box::new(b"x".to_vec()), 0, move |r| tx.send(r.map(drop)).unwrap());
            s.receive_then(Box::new(vec![0u8; 1]), 0, move |r, _| tx2.send(r.map(drop)).unwrap());
            assert_eq!(recv(&rx, "send_then completion"), Err(H));
            assert_eq!(recv(&rx, "receive_then completion"), Err(H));
        }
    });
    finish(reg, npi);
}

#[test]
fn operations_on_a_closed_listener_are_invalid_handle() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let l = listener(&npi, family, None);
        let unbound = ok(npi.listen_socket(family.addr(0), None));
        ok(l.close());
        ok(unbound.close());
        const H: NtStatus = NtStatus::INVALID_HANDLE;
        for s in [&l, &unbound] {
            assert_eq!(err(s.accept(None)), H, "accept");
            assert_eq!(err(s.bind(family.addr(0))), H, "bind");
            assert_eq!(s.local_addr().err(), Some(H), "local_addr");
            assert_eq!(s.enable_events(wsk::events::WSK_EVENT_ACCEPT).err(), Some(H), "enable_events");
            assert_eq!(err(s.disable_event(wsk::events::WSK_EVENT_ACCEPT)), H, "disable_event");
            assert_eq!(s.set_reuse_address(true).err(), Some(H), "set_reuse_address");
            assert_eq!(s.raw_fd(), None);
            let (tx, rx) = mpsc::channel();
            s.accept_then(None, move |r| tx.send(r.map(drop)).unwrap());
            assert_eq!(recv(&rx, "accept_then completion"), Err(H));
        }
        assert_eq!(unbound.set_v6_only(false).err(), Some(H), "set_v6_only");
    });
    finish(reg, npi);
}

#[test]
fn close_twice_is_invalid_handle() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, server) = wsk_pair(&npi, family, None, None);
        let l = listener(&npi, family, None);
        let fresh = ok(npi.connection_socket(family.addr(0), None));
        ok(client.close());
        ok(server.close());
        ok(l.close());
        ok(fresh.close());
        assert_eq!(err(client.close()), NtStatus::INVALID_HANDLE);
        assert_eq!(err(server.clone().close()), NtStatus::INVALID_HANDLE);
        assert_eq!(err(l.close()), NtStatus::INVALID_HANDLE);
        assert_eq!(err(fresh.close()), NtStatus::INVALID_HANDLE);
    });
    finish(reg, npi);
}

#[test]
fn close_without_disconnect_resets_the_peer() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, mut peer) = std_pair(&npi, family, None);
        ok(client.send(b"before close".to_vec(), 0));
        assert_eq!(peer_read_exact(&mut peer, 12), b"before close");
        ok(client.close());
        let (got, end) = peer_read_all(&mut peer);
        assert!(got.is_empty());
        assert!(matches!(end, PeerEnd::Reset), "closing without a disconnect: the peer saw {end:?}");
    });
    finish(reg, npi);
}

#[test]
fn close_after_only_the_peers_fin_still_resets() {
    // Only the peer's direction is closed: close is abortive.
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, mut peer) = std_pair(&npi, family, None);
        peer.shutdown(Shutdown::Write).unwrap();
        assert_eq!(ok(client.receive(16, 0)), b"", "the peer's FIN");
        ok(client.close());
        let (got, end) = peer_read_all(&mut peer);
        assert!(got.is_empty());
        assert!(matches!(end, PeerEnd::Reset), "the peer saw {end:?}");
    });
    finish(reg, npi);
}

#[test]
fn disconnect_then_close_does_not_reset() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, mut peer) = std_pair(&npi, family, None);
        ok(client.send(b"last words".to_vec(), 0));
        ok(client.disconnect(None, 0));
        let (got, end) = peer_read_all(&mut peer);
        assert_eq!(got, b"last words");
        assert!(matches!(end, PeerEnd::Eof), "a graceful disconnect: the peer saw {end:?}");
        peer.shutdown(Shutdown::Write).unwrap();
        assert_eq!(ok(client.receive(16, 0)), b"", "the peer's FIN");
        // Both directions are closed: the close is graceful.
        ok(client.close());
        let (got, end) = peer_read_all(&mut peer);
        assert!(got.is_empty());
        assert!(matches!(end, PeerEnd::Eof), "after both FINs the peer saw {end:?}");
        assert!(peer.take_error().unwrap().is_none(), "the peer's socket has an error after the close");
    });
    finish(reg, npi);
}

#[test]
fn dropping_the_last_handle_closes_the_socket() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, mut peer) = std_pair(&npi, family, None);
        assert_eq!(reg.outstanding(), (1, 1));
        drop(client);
        let (_, end) = peer_read_all(&mut peer);
        assert!(matches!(end, PeerEnd::Reset), "dropping an unfinished connection: the peer saw {end:?}");
        wait_until("the dropped socket to be closed", || reg.outstanding() == (0, 1));
    });
    finish(reg, npi);
}
