//! Connection-oriented sockets: bind, connect, addresses, send and receive (order,
//! flags, FIFO completion), disconnect (graceful, abortive), disconnect and send-backlog
//! events, backlog queries and cancellation.

mod common;

use std::io::Write;
use std::net::{Shutdown, TcpListener};
use std::sync::{mpsc, Arc};
use std::thread;

use common::*;
use wsk::events::{WSK_EVENT_DISCONNECT, WSK_EVENT_SEND_BACKLOG};
use wsk::flags::{WSK_FLAG_ABORTIVE, WSK_FLAG_DRAIN, WSK_FLAG_NODELAY, WSK_FLAG_WAITALL};
use wsk::{NtStatus, ReceiveBuffer};

/// A port nothing listens on: bound by a host socket that does not listen, so a connect
/// to it is refused and no other socket (nor an ephemeral port) can take it meanwhile.
fn closed_port(family: Family) -> (socket2::Socket, std::net::SocketAddr) {
    let domain = if family == Family::V4 { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, None).unwrap();
    socket.bind(&family.addr(0).into()).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    (socket, addr)
}

#[test]
fn create_bind_wildcard_and_connect() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let target = TcpListener::bind(family.addr(0)).unwrap();
        let s = ok(npi.connection_socket(family.any(0), None));
        assert_eq!(s.local_addr().err(), Some(NtStatus::INVALID_DEVICE_STATE), "local before bind");
        assert_eq!(s.remote_addr().err(), Some(NtStatus::INVALID_DEVICE_STATE), "remote before connect");
        ok(s.bind(family.any(0)));
        let local = s.local_addr().unwrap();
        assert_eq!(local.ip(), family.unspecified(), "a wildcard bind keeps the wildcard IP until connect");
        assert_ne!(local.port(), 0, "a wildcard bind assigns the port at once");
        assert_eq!(s.remote_addr().err(), Some(NtStatus::INVALID_DEVICE_STATE), "remote before connect");
        assert_eq!(err(s.bind(family.any(0))), NtStatus::INVALID_DEVICE_STATE, "bind twice");

        ok(s.connect(target.local_addr().unwrap()));
        let (peer, _) = target.accept().unwrap();
        let after = s.local_addr().unwrap();
        assert_eq!(after.port(), local.port(), "the port chosen at bind is kept");
        assert_eq!(after.ip(), family.loopback(), "the IP is chosen at connect");
        assert_eq!(after, peer.peer_addr().unwrap());
        assert_eq!(s.remote_addr().unwrap(), target.local_addr().unwrap());
        assert_eq!(err(s.connect(target.local_addr().unwrap())), NtStatus::INVALID_DEVICE_STATE, "connect twice");
        ok(s.close());
    });
    finish(reg, npi);
}

#[test]
fn connect_before_bind_is_invalid_device_state() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let target = TcpListener::bind(family.addr(0)).unwrap();
        let s = ok(npi.connection_socket(family.addr(0), None));
        assert_eq!(err(s.connect(target.local_addr().unwrap())), NtStatus::INVALID_DEVICE_STATE);
        let (tx, rx) = mpsc::channel();
        s.connect_then(target.local_addr().unwrap(), move |r| tx.send(r).unwrap());
        assert_eq!(recv(&rx, "connect_then completion"), Err(NtStatus::INVALID_DEVICE_STATE));
        // The socket is still usable: bind, then connect.
        ok(s.bind(family.addr(0)));
        ok(s.connect(target.local_addr().unwrap()));
        ok(s.close());
    });
    finish(reg, npi);
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let s = ok(npi.connection_socket(family.addr(0), None));
        ok(s.bind(family.addr(0)));
        let (_holder, closed) = closed_port(family);
        assert_eq!(err(s.connect(closed)), NtStatus::CONNECTION_REFUSED);
        assert_eq!(s.remote_addr().err(), Some(NtStatus::INVALID_DEVICE_STATE));
        ok(s.close());

        let r = wait(npi.socket_connect(family.addr(0), closed, None));
        assert_eq!(r.err(), Some(NtStatus::CONNECTION_REFUSED), "WskSocketConnect");
        // The socket WskSocketConnect created for the failed attempt is gone.
        settled(&reg, (0, 1));
    });
    finish(reg, npi);
}

#[test]
fn socket_connect_addresses() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let l = listener(&npi, family, None);
        let accept = l.accept(None);
        let c = ok(npi.socket_connect(family.addr(0), l.local_addr().unwrap(), None));
        let a = ok(accept);
        assert_eq!(c.remote_addr().unwrap(), l.local_addr().unwrap());
        assert_eq!(c.local_addr().unwrap(), a.remote);
        assert_eq!(c.local_addr().unwrap().ip(), family.loopback());
        assert_eq!(a.socket.local_addr().unwrap(), a.local);
        assert_eq!(a.socket.remote_addr().unwrap(), a.remote);
        // A wildcard local address works too.
        let accept = l.accept(None);
        let c2 = ok(npi.socket_connect(family.any(0), l.local_addr().unwrap(), None));
        let a2 = ok(accept);
        assert_eq!(c2.local_addr().unwrap(), a2.remote);
        for s in [c, a.socket, c2, a2.socket] {
            ok(s.close());
        }
        ok(l.close());
    });
    finish(reg, npi);
}

#[test]
fn send_and_receive_both_directions() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, server) = wsk_pair(&npi, family, None, None);
        let up = pattern(300_000, 1);
        let down = pattern(200_000, 2);
        // Both directions at once: sends and receives are all pending together.
        let s1 = client.send(up.clone(), 0);
        let s2 = server.send(down.clone(), 0);
        let r1 = server.receive(up.len(), WSK_FLAG_WAITALL);
        let r2 = client.receive(down.len(), WSK_FLAG_WAITALL);
        assert_eq!(ok(r1), up);
        assert_eq!(ok(r2), down);
        assert_eq!(ok(s1), up.len());
        assert_eq!(ok(s2), down.len());
        // A receive without WAITALL completes with what is there.
        ok(client.send(b"xyz".to_vec(), 0));
        assert_eq!(ok(server.receive(1000, 0)), b"xyz");
        for s in [client, server] {
            ok(s.close());
        }
    });
    finish(reg, npi);
}

#[test]
fn concurrent_sends_keep_their_order() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, mut peer) = std_pair(&npi, family, None);
        let chunks: Vec<Vec<u8>> = (0..50u32).map(|i| pattern(10_000 + 997 * i as usize, i)).collect();
        let expected: Vec<u8> = chunks.concat();
        let total = expected.len();
        let reader = thread::spawn(move || peer_read_exact(&mut peer, total));
        let log = Log::default();
        let (tx, rx) = mpsc::channel();
        for (i, chunk) in chunks.iter().enumerate() {
            let log = log.clone();
            let tx = tx.clone();
            let len = chunk.len();
            client.send_then(Box::new(chunk.clone()), 0, move |r| {
                log.push(format!("{i}"));
                tx.send((i, r, len)).unwrap();
            });
        }
        for _ in 0..chunks.len() {
            let (i, r, len) = recv(&rx, "a send completion");
            assert_eq!(r, Ok(len), "send {i}");
        }
        let got = reader.join().unwrap();
        assert!(got == expected, "the peer received the sends out of order or corrupted");
        let order: Vec<String> = (0..chunks.len()).map(|i| i.to_string()).collect();
        assert_eq!(log.entries(), order, "send completions ran out of order");
        ok(client.close());
    });
    finish(reg, npi);
}

#[test]
fn nodelay_send() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, mut peer) = std_pair(&npi, family, None);
        assert_eq!(ok(client.send(b"n".to_vec(), WSK_FLAG_NODELAY)), 1);
        assert_eq!(ok(client.send(b"odelay".to_vec(), WSK_FLAG_NODELAY)), 6);
        assert_eq!(peer_read_exact(&mut peer, 7), b"nodelay");
        client.set_nodelay(true).unwrap();
        assert_eq!(ok(client.send(b"!".to_vec(), 0)), 1);
        assert_eq!(peer_read_exact(&mut peer, 1), b"!");
        ok(client.close());
    });
    finish(reg, npi);
}

#[test]
fn pending_receives_complete_in_fifo_order() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, mut peer) = std_pair(&npi, family, None);
        let log = Log::default();
        let (tx, rx) = mpsc::channel();
        for i in 0..3 {
            let log = log.clone();
            let tx = tx.clone();
            client.receive_then(Box::new(vec![0u8; 4]), 0, move |r, buf| {
                log.push(format!("{i}"));
                let data = buf.into_any().downcast::<Vec<u8>>().unwrap();
                tx.send((i, r.map(|n| data[..n].to_vec()))).unwrap();
            });
        }
        peer.write_all(b"0123456789ab").unwrap();
        let expect: [&[u8]; 3] = [b"0123", b"4567", b"89ab"];
        for (i, want) in expect.iter().enumerate() {
            let (which, data) = recv(&rx, "a receive completion");
            assert_eq!(which, i);
            assert_eq!(data.unwrap(), *want, "receive {i}");
        }
        assert_eq!(log.entries(), ["0", "1", "2"]);
        ok(client.close());
    });
    finish(reg, npi);
}

#[test]
fn waitall_completes_only_when_full() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, mut peer) = std_pair(&npi, family, None);
        let r = watch(client.receive(8, WSK_FLAG_WAITALL), || {});
        peer_send_delivered(&mut peer, b"abcd");
        // The provider has taken the 4 bytes (nothing left in the host queue)...
        wait_until("the provider to take the first bytes", || client.receive_backlog().unwrap() == 0);
        // ...and still holds the receive.
        assert!(!r.is_complete(), "a WAITALL receive completed before its buffer was full");
        peer.write_all(b"efgh").unwrap();
        assert_eq!(r.wait().unwrap(), b"abcdefgh");

        // At the peer's FIN a WAITALL receive completes with what it has.
        let r = client.receive(8, WSK_FLAG_WAITALL);
        peer.write_all(b"xyz").unwrap();
        peer.shutdown(Shutdown::Write).unwrap();
        assert_eq!(ok(r), b"xyz");
        ok(client.close());
    });
    finish(reg, npi);
}

#[test]
fn drain_discards_until_the_peer_fin() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, mut peer) = std_pair(&npi, family, None);
        let fin_sent = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let fin_seen = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (f1, f2) = (Arc::clone(&fin_sent), Arc::clone(&fin_seen));
        let drain = watch(client.receive(0, WSK_FLAG_DRAIN), move || {
            f2.store(f1.load(std::sync::atomic::Ordering::SeqCst), std::sync::atomic::Ordering::SeqCst)
        });
        // 1 MiB: more than the host buffers hold, so it is delivered only if the
        // provider reads (and discards) it.
        peer_send_delivered(&mut peer, &pattern(1 << 20, 3));
        assert!(!drain.is_complete(), "a DRAIN receive completed before the peer's FIN");
        fin_sent.store(true, std::sync::atomic::Ordering::SeqCst);
        peer.shutdown(Shutdown::Write).unwrap();
        assert_eq!(drain.wait().unwrap(), b"");
        assert!(fin_seen.load(std::sync::atomic::Ordering::SeqCst), "DRAIN completed before the FIN was sent");
        // Everything was discarded: the next receive sees the end of the stream.
        assert_eq!(ok(client.receive(16, 0)), b"");
        ok(client.close());
    });
    finish(reg, npi);
}

#[test]
fn zero_length_receive_completes_at_once() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, mut peer) = std_pair(&npi, family, None);
        // Nothing was sent: it still completes, with 0 bytes.
        assert_eq!(ok(client.receive(0, 0)), b"");
        // With data waiting it completes without consuming any.
        peer_send_delivered(&mut peer, b"kept");
        assert_eq!(ok(client.receive(0, 0)), b"");
        assert_eq!(client.receive_backlog().unwrap(), 4);
        assert_eq!(ok(client.receive(4, WSK_FLAG_WAITALL)), b"kept");
        ok(client.close());
    });
    finish(reg, npi);
}

#[test]
fn peer_fin_completes_every_pending_receive_with_zero_bytes() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, peer) = std_pair(&npi, family, None);
        let r1 = client.receive(100, 0);
        let r2 = client.receive(100, WSK_FLAG_WAITALL);
        peer.shutdown(Shutdown::Write).unwrap();
        assert_eq!(ok(r1), b"");
        assert_eq!(ok(r2), b"");
        // Later receives see the end of the stream too; sending still works (half-open).
        assert_eq!(ok(client.receive(100, 0)), b"");
        assert_eq!(ok(client.send(b"still open".to_vec(), 0)), 10);
        let mut peer = peer;
        assert_eq!(peer_read_exact(&mut peer, 10), b"still open");
        ok(client.close());
    });
    finish(reg, npi);
}

#[test]
fn peer_reset_fails_pending_receive() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, peer) = std_pair(&npi, family, None);
        let r = client.receive(100, 0);
        reset(peer);
        assert_eq!(err(r), NtStatus::CONNECTION_RESET);
        // The connection is dead for sends and receives.
        assert!(err(client.send(b"x".to_vec(), 0)).is_error());
        assert!(err(client.receive(1, 0)).is_error());
        ok(client.close());
    });
    finish(reg, npi);
}

#[test]
fn graceful_disconnect_with_a_final_buffer() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, mut peer) = std_pair(&npi, family, None);
        let first = pattern(500_000, 4);
        let last = pattern(300_000, 5);
        let expected = [first.clone(), last.clone()].concat();
        let reader = thread::spawn(move || {
            let got = peer_read_all(&mut peer);
            (got, peer)
        });
        let send = client.send(first, 0);
        let disconnect = client.disconnect(Some(Box::new(last)), 0);
        assert_eq!(ok(send), 500_000);
        ok(disconnect);
        let ((got, end), mut peer) = reader.join().unwrap();
        assert!(matches!(end, PeerEnd::Eof), "the peer saw {end:?} instead of a FIN");
        assert!(got == expected, "the peer did not get every byte, final buffer last");

        assert_eq!(err(client.send(b"late".to_vec(), 0)), NtStatus::PIPE_DISCONNECTED);
        assert_eq!(err(client.disconnect(None, 0)), NtStatus::INVALID_DEVICE_STATE, "second graceful disconnect");
        // Receiving goes on until the peer closes its side.
        peer.write_all(b"reply").unwrap();
        peer.shutdown(Shutdown::Write).unwrap();
        assert_eq!(ok(client.receive(5, WSK_FLAG_WAITALL)), b"reply");
        assert_eq!(ok(client.receive(5, 0)), b"");
        ok(client.close());
    });
    finish(reg, npi);
}

#[test]
fn abortive_disconnect_cancels_pending_sends() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, mut peer) = small_window_pair(&npi, family, None);
        // The peer does not read: this send cannot finish.
        let blocked = client.send(vec![7u8; WINDOW_FILLER], 0);
        let queued = client.send(b"behind it".to_vec(), 0);
        ok(client.disconnect(None, WSK_FLAG_ABORTIVE));
        assert_eq!(err(blocked), NtStatus::CANCELLED);
        assert_eq!(err(queued), NtStatus::CANCELLED);
        let (got, end) = peer_read_all(&mut peer);
        assert!(matches!(end, PeerEnd::Reset), "the peer saw {end:?} instead of a reset");
        assert!(got.len() < WINDOW_FILLER);
        // No more sends or receives.
        assert!(err(client.send(b"x".to_vec(), 0)).is_error());
        assert!(err(client.receive(1, 0)).is_error());
        ok(client.close());
    });
    finish(reg, npi);
}

#[test]
fn disconnect_event_on_peer_fin_is_graceful() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (rec, rx) = Recorder::new();
        let (client, peer) = std_pair(&npi, family, Some(rec));
        client.enable_events(WSK_EVENT_DISCONNECT).unwrap();
        peer.shutdown(Shutdown::Write).unwrap();
        assert!(!recv(&rx.disconnects, "disconnect event"), "a FIN is indicated without WSK_FLAG_ABORTIVE");
        // The client may still send after the peer's FIN.
        assert_eq!(ok(client.send(b"after".to_vec(), 0)), 5);
        let mut peer = peer;
        assert_eq!(peer_read_exact(&mut peer, 5), b"after");
        ok(client.close());
        assert!(rx.disconnects.try_recv().is_err(), "the disconnect was indicated twice");
    });
    finish(reg, npi);
}

#[test]
fn disconnect_event_on_peer_reset_is_abortive() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (rec, rx) = Recorder::new();
        let (client, peer) = std_pair(&npi, family, Some(rec));
        client.enable_events(WSK_EVENT_DISCONNECT).unwrap();
        reset(peer);
        assert!(recv(&rx.disconnects, "disconnect event"), "a reset is indicated with WSK_FLAG_ABORTIVE");
        ok(client.close());
        assert!(rx.disconnects.try_recv().is_err(), "the disconnect was indicated twice");
    });
    finish(reg, npi);
}

#[test]
fn send_backlog_event_reports_the_ideal_backlog() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (rec, rx) = Recorder::new();
        let (client, _peer) = std_pair(&npi, family, Some(rec));
        client.enable_events(WSK_EVENT_SEND_BACKLOG).unwrap();
        let ideal = recv(&rx.backlog, "send backlog event");
        assert!(ideal > 0);
        assert_eq!(ideal, client.ideal_send_backlog().unwrap());
        ok(client.close());
    });
    finish(reg, npi);
}

#[test]
fn ideal_send_backlog_needs_a_connection() {
    let (reg, npi) = env();
    let s = ok(npi.connection_socket(Family::V4.addr(0), None));
    assert_eq!(s.ideal_send_backlog().err(), Some(NtStatus::INVALID_DEVICE_STATE));
    assert_eq!(s.receive_backlog().err(), Some(NtStatus::INVALID_DEVICE_STATE));
    ok(s.close());
    finish(reg, npi);
}

#[test]
fn receive_backlog_counts_unconsumed_bytes() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, mut peer) = std_pair(&npi, family, None);
        assert_eq!(client.receive_backlog().unwrap(), 0);
        peer_send_delivered(&mut peer, &pattern(5000, 6));
        assert_eq!(client.receive_backlog().unwrap(), 5000);
        peer_send_delivered(&mut peer, &pattern(1000, 7));
        assert_eq!(client.receive_backlog().unwrap(), 6000);
        assert_eq!(ok(client.receive(2000, WSK_FLAG_WAITALL)), pattern(5000, 6)[..2000]);
        assert_eq!(client.receive_backlog().unwrap(), 4000);
        ok(client.receive(4000, WSK_FLAG_WAITALL));
        assert_eq!(client.receive_backlog().unwrap(), 0);
        ok(client.close());
    });
    finish(reg, npi);
}

#[test]
fn cancel_a_pending_receive() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, mut peer) = std_pair(&npi, family, None);
        let r = client.receive(100, 0);
        let r2 = client.receive(100, 0);
        assert!(r.cancel(), "the receive was pending");
        assert_eq!(err(r), NtStatus::CANCELLED);
        // The stream is intact: the next receive gets the data.
        peer.write_all(b"after cancel").unwrap();
        assert_eq!(ok(r2), b"after cancel");
        ok(client.close());
    });
    finish(reg, npi);
}

#[test]
fn cancel_after_completion_finds_nothing() {
    let (reg, npi) = env();
    let (client, mut peer) = std_pair(&npi, Family::V4, None);
    let r = client.receive(4, WSK_FLAG_WAITALL);
    peer.write_all(b"done").unwrap();
    // Completed (the data is in the buffer) but not yet consumed by the test.
    let r = watch(r, || {});
    wait_until("the receive to complete", || r.is_complete());
    assert!(!r.cancel());
    assert_eq!(r.wait().unwrap(), b"done");
    ok(client.close());
    finish(reg, npi);
}

#[test]
fn receive_then_returns_the_callers_buffer() {
    let (reg, npi) = env();
    let (client, mut peer) = std_pair(&npi, Family::V6, None);
    let (tx, rx) = mpsc::channel();
    let mut buf = vec![0xAAu8; 10];
    buf[9] = 0x55;
    client.receive_then(Box::new(buf), 0, move |r, buf: Box<dyn ReceiveBuffer>| {
        tx.send((r, *buf.into_any().downcast::<Vec<u8>>().unwrap())).unwrap();
    });
    peer.write_all(b"abc").unwrap();
    let (r, buf) = recv(&rx, "receive_then completion");
    assert_eq!(r, Ok(3));
    assert_eq!(&buf[..3], b"abc");
    assert_eq!(&buf[3..], &[0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0x55], "bytes past the data are untouched");
    ok(client.close());
    finish(reg, npi);
}

#[test]
fn cancel_a_queued_send_keeps_the_stream() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, mut peer) = small_window_pair(&npi, family, None);
        let big = client.send(vec![9u8; WINDOW_FILLER], 0);
        // Not started (queued behind `big`): cancelling it leaves the stream coherent.
        let queued = client.send(b"never sent".to_vec(), 0);
        let after = client.send(b"end".to_vec(), 0);
        assert!(queued.cancel());
        assert_eq!(err(queued), NtStatus::CANCELLED);
        let reader = thread::spawn(move || peer_read_exact(&mut peer, WINDOW_FILLER + 3));
        assert_eq!(ok(big), WINDOW_FILLER);
        assert_eq!(ok(after), 3);
        let got = reader.join().unwrap();
        assert!(got[..WINDOW_FILLER].iter().all(|&b| b == 9));
        assert_eq!(&got[WINDOW_FILLER..], b"end");
        ok(client.close());
    });
    finish(reg, npi);
}

#[test]
fn cancel_a_partly_sent_send_aborts_the_connection() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, mut peer) = small_window_pair(&npi, family, None);
        let big = client.send(vec![9u8; WINDOW_FILLER], 0);
        assert!(big.cancel());
        assert_eq!(err(big), NtStatus::CANCELLED);
        // Part of it is on the wire: the stream cannot go on, so the peer is reset.
        let (_, end) = peer_read_all(&mut peer);
        assert!(matches!(end, PeerEnd::Reset), "the peer saw {end:?}");
        assert!(err(client.send(b"x".to_vec(), 0)).is_error());
        ok(client.close());
    });
    finish(reg, npi);
}

#[test]
fn abortive_disconnect_completes_a_stalled_graceful_disconnect() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, mut peer) = small_window_pair(&npi, family, None);
        let big = client.send(vec![1u8; WINDOW_FILLER], 0);
        // Stalled: the FIN must wait for the send, which waits for the peer.
        let graceful = watch(client.disconnect(None, 0), || {});
        assert!(!graceful.is_complete());
        ok(client.disconnect(None, WSK_FLAG_ABORTIVE));
        let status = graceful.wait().expect_err("the stalled graceful disconnect is force-completed");
        assert_eq!(status, NtStatus::CANCELLED);
        assert_eq!(err(big), NtStatus::CANCELLED);
        let (_, end) = peer_read_all(&mut peer);
        assert!(matches!(end, PeerEnd::Reset), "the peer saw {end:?}");
        ok(client.close());
    });
    finish(reg, npi);
}

#[test]
fn peer_reset_fails_pending_sends_and_disconnect() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, peer) = small_window_pair(&npi, family, None);
        let big = client.send(vec![1u8; WINDOW_FILLER], 0);
        let graceful = client.disconnect(None, 0);
        reset(peer);
        let s1 = err(big);
        let s2 = err(graceful);
        assert_eq!(s1, NtStatus::CONNECTION_RESET, "the pending send");
        assert_eq!(s2, NtStatus::CONNECTION_RESET, "the pending disconnect");
        ok(client.close());
    });
    finish(reg, npi);
}

#[test]
fn events_enabled_after_the_fact_are_indicated() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (rec, rx) = Recorder::new();
        let (client, mut peer) = std_pair(&npi, family, Some(rec.clone()));
        // The data and the FIN arrive while no callback is enabled.
        peer_send_delivered(&mut peer, b"early");
        peer.shutdown(Shutdown::Write).unwrap();
        wait_until("the FIN to arrive", || client.receive_backlog().unwrap() == 5);
        client.enable_events(wsk::events::WSK_EVENT_RECEIVE).unwrap();
        rx.wait_bytes(5);
        assert_eq!(&*rec.data.lock().unwrap(), b"early");
        client.enable_events(WSK_EVENT_DISCONNECT).unwrap();
        assert!(!recv(&rx.disconnects, "disconnect event for an earlier FIN"));
        ok(client.close());
    });
    finish(reg, npi);
}

#[test]
fn bind_and_connect_argument_errors() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let taken = TcpListener::bind(family.addr(0)).unwrap();
        let s = ok(npi.connection_socket(family.addr(0), None));
        assert_eq!(err(s.bind(family.other().addr(0))), NtStatus::INVALID_PARAMETER, "bind, other family");
        assert_eq!(err(s.bind(taken.local_addr().unwrap())), NtStatus::ADDRESS_ALREADY_ASSOCIATED, "port in use");
        ok(s.bind(family.addr(0)));
        assert_eq!(err(s.connect(family.other().addr(1))), NtStatus::INVALID_PARAMETER, "connect, other family");
        ok(s.connect(taken.local_addr().unwrap()));
        ok(s.close());

        let r = wait(npi.socket_connect(family.addr(0), family.other().addr(taken.local_addr().unwrap().port()), None));
        assert_eq!(r.err(), Some(NtStatus::INVALID_PARAMETER), "WskSocketConnect with mixed families");
        let r = wait(npi.socket_connect(taken.local_addr().unwrap(), family.addr(1), None));
        assert_eq!(r.err(), Some(NtStatus::ADDRESS_ALREADY_ASSOCIATED), "WskSocketConnect from a port in use");
        // Failed WskSocketConnect calls leave no socket behind.
        settled(&reg, (0, 1));
    });
    finish(reg, npi);
}

#[test]
fn receive_and_disconnect_events_on_a_fin() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (rec, rx) = Recorder::new();
        let (client, mut peer) = std_pair(&npi, family, Some(rec.clone()));
        client.enable_events(wsk::events::WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT).unwrap();
        let data = pattern(200_000, 8);
        peer.write_all(&data).unwrap();
        peer.shutdown(Shutdown::Write).unwrap();
        assert!(!recv(&rx.disconnects, "disconnect event"), "a FIN is graceful");
        // Every byte was indicated before the disconnect.
        assert!(*rec.data.lock().unwrap() == data, "data missing or reordered before the disconnect event");
        assert_eq!(rec.dead.load(std::sync::atomic::Ordering::SeqCst), 0, "a FIN is no NULL indication");
        ok(client.close());
        assert!(rx.disconnects.try_recv().is_err(), "the disconnect was indicated twice");
    });
    finish(reg, npi);
}

#[test]
fn receive_and_disconnect_events_on_a_reset() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (rec, rx) = Recorder::new();
        let (client, peer) = std_pair(&npi, family, Some(rec.clone()));
        client.enable_events(wsk::events::WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT).unwrap();
        reset(peer);
        assert!(recv(&rx.disconnects, "disconnect event"), "a reset is abortive");
        // The NULL receive indication (socket no longer functional) follows in the same
        // callback slot; wait for it through a second barrier: a close completes after it.
        ok(client.close());
        assert_eq!(rec.dead.load(std::sync::atomic::Ordering::SeqCst), 1, "one NULL receive indication");
        assert!(rx.disconnects.try_recv().is_err(), "the disconnect was indicated twice");
    });
    finish(reg, npi);
}

#[test]
fn data_then_fin_already_queued() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, mut peer) = std_pair(&npi, family, None);
        peer_send_delivered(&mut peer, b"last bytes");
        peer.shutdown(Shutdown::Write).unwrap();
        // Data and FIN are both in the host queue before any receive is posted.
        assert_eq!(ok(client.receive(100, 0)), b"last bytes");
        assert_eq!(ok(client.receive(100, 0)), b"", "the FIN after the data");
        assert_eq!(ok(client.receive(100, WSK_FLAG_WAITALL)), b"", "and again");
        ok(client.close());
    });
    finish(reg, npi);
}

#[test]
fn connect_ex_sends_its_first_buffer_with_and_without_fast_open() {
    use std::io::Read;
    use wsk::{SockOpt, SocketControl};
    let (reg, npi) = env();
    for_each_family(|family| {
        for fast_open in [false, true] {
            let target = TcpListener::bind(family.addr(0)).unwrap();
            let s = ok(npi.connection_socket(family.addr(0), None));
            if fast_open {
                s.set_option(SockOpt::FastOpen(true)).unwrap();
            }
            ok(s.bind(family.addr(0)));
            let first: Vec<u8> = (0..60_000u32).map(|i| (i * 13) as u8).collect();
            let op = s.connect_ex(target.local_addr().unwrap(), Some(Box::new(first.clone())));
            let (mut peer, _) = target.accept().unwrap();
            peer.set_read_timeout(Some(WAIT)).unwrap();
            ok(op);
            assert_eq!(s.remote_addr().unwrap(), target.local_addr().unwrap());
            let mut got = vec![0u8; first.len()];
            peer.read_exact(&mut got).unwrap();
            assert_eq!(got, first, "fast open {fast_open}");
            // The connection carries on as usual.
            ok(s.send(b"after".to_vec(), 0));
            let mut after = [0u8; 5];
            peer.read_exact(&mut after).unwrap();
            assert_eq!(&after, b"after");
            ok(s.close());
        }
    });
    finish(reg, npi);
}

#[test]
fn connect_ex_limits_and_failures() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let target = TcpListener::bind(family.addr(0)).unwrap();
        let s = ok(npi.connection_socket(family.addr(0), None));
        ok(s.bind(family.addr(0)));
        let too_big = vec![0u8; 65_536];
        assert_eq!(err(s.connect_ex(target.local_addr().unwrap(), Some(Box::new(too_big)))), NtStatus::BUFFER_OVERFLOW);
        // Still unconnected: a connect without data works, and an empty first buffer is none.
        ok(s.connect_ex(target.local_addr().unwrap(), Some(Box::new(Vec::new()))));
        ok(s.close());

        // Refused: the connect's status, once, and the queued buffer fails with it.
        let s = ok(npi.connection_socket(family.addr(0), None));
        ok(s.bind(family.addr(0)));
        let (_holder, closed) = closed_port(family);
        let (tx, rx) = mpsc::channel();
        s.connect_ex_then(closed, Some(Box::new(b"hello".to_vec())), move |r| tx.send(r).unwrap());
        assert_eq!(recv(&rx, "connect_ex completion"), Err(NtStatus::CONNECTION_REFUSED));
        ok(s.close());
        assert!(rx.try_recv().is_err(), "completed exactly once");
        // Unbound: the connect's rule.
        let s = ok(npi.connection_socket(family.addr(0), None));
        assert_eq!(
            err(s.connect_ex(target.local_addr().unwrap(), Some(Box::new(b"x".to_vec())))),
            NtStatus::INVALID_DEVICE_STATE
        );
        ok(s.close());
    });
    finish(reg, npi);
}

#[test]
fn silent_mode_stops_sends_and_closes_without_a_word() {
    use std::io::{Read, Write};
    let (reg, npi) = env();
    for_each_family(|family| {
        let unconnected = ok(npi.connection_socket(family.addr(0), None));
        assert_eq!(unconnected.set_silent_mode(), Err(NtStatus::INVALID_DEVICE_STATE));
        ok(unconnected.close());

        // A send still pending: refused.
        let (busy, _busy_peer) = small_window_pair(&npi, family, None);
        let stalled = busy.send(vec![0u8; WINDOW_FILLER], 0);
        assert_eq!(busy.set_silent_mode(), Err(NtStatus::INVALID_DEVICE_STATE));
        ok(busy.close());
        assert_eq!(err(stalled), NtStatus::CANCELLED);

        let (s, mut peer) = std_pair(&npi, family, None);
        match s.set_silent_mode() {
            Ok(()) => {}
            Err(NtStatus::ACCESS_DENIED) => {
                eprintln!("skipped: the host refuses TCP_REPAIR (needs CAP_NET_ADMIN)");
                ok(s.close());
                return;
            }
            Err(e) => panic!("silent mode: {e:?}"),
        }
        assert_eq!(err(s.send(b"x".to_vec(), 0)), NtStatus::INVALID_DEVICE_STATE);
        assert_eq!(err(s.disconnect(None, 0)), NtStatus::INVALID_DEVICE_STATE);
        peer.write_all(b"dropped").unwrap();
        ok(s.close());
        // On loopback a FIN or RST is delivered inside the sender's close: none came.
        peer.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 16];
        let r = peer.read(&mut buf);
        assert_eq!(r.map_err(|e| e.kind()), Err(std::io::ErrorKind::WouldBlock), "the peer heard something");
    });
    finish(reg, npi);
}

/// With `TCP_FASTOPEN` set, Linux may hold a connect's SYN until the first write (when it
/// has a cookie for the peer, or with `net.ipv4.tcp_fastopen` bit 4): a connect without
/// data must still complete. To exercise the deferral, run in a network namespace with
/// `sysctl net.ipv4.tcp_fastopen=5` (docs/C_ABI.md, "Fast Open").
#[test]
fn connect_without_data_on_a_fast_open_socket_completes() {
    use wsk::{OptName, SockOpt, SocketControl};
    let (reg, npi) = env();
    for_each_family(|family| {
        let target = TcpListener::bind(family.addr(0)).unwrap();
        for with_ex in [false, true] {
            let s = ok(npi.connection_socket(family.addr(0), None));
            s.set_option(SockOpt::FastOpen(true)).unwrap();
            ok(s.bind(family.addr(0)));
            if with_ex {
                ok(s.connect_ex(target.local_addr().unwrap(), None));
            } else {
                ok(s.connect(target.local_addr().unwrap()));
            }
            let _ = target.accept().unwrap();
            assert_eq!(s.get_option(OptName::FastOpen), Ok(SockOpt::FastOpen(true)), "as the client set it");
            ok(s.close());
        }
    });
    finish(reg, npi);
}
