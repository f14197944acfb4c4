//! Stream sockets (`WSK_FLAG_STREAM_SOCKET`): created with no role; bind, then listen
//! (accepts connections) or connect (sends and receives); the other role's calls and the
//! role calls before the commit fail with STATUS_INVALID_DEVICE_STATE; listen or connect
//! before bind; an address in use is reported at bind; options set before bind apply;
//! the events of each role; closing an uncommitted socket.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{mpsc, Arc, Mutex};

use common::*;
use wsk::events::{WSK_EVENT_ACCEPT, WSK_EVENT_RECEIVE};
use wsk::flags::WSK_FLAG_WAITALL;
use wsk::{AcceptOutcome, Accepted, ListenEvents, NtStatus, StreamRole, StreamSocket};

fn stream(npi: &wsk::ProviderNpi, family: Family) -> StreamSocket {
    ok(npi.stream_socket(family.addr(0), None, None))
}

/// A stream socket bound to loopback and listening.
fn stream_listener(npi: &wsk::ProviderNpi, family: Family, events: Option<Arc<dyn ListenEvents>>) -> StreamSocket {
    let s = ok(npi.stream_socket(family.addr(0), events, None));
    ok(s.bind(family.addr(0)));
    ok(s.listen());
    s
}

#[test]
fn bind_listen_accept() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let s = stream(&npi, family);
        assert_eq!(s.role(), Ok(StreamRole::Uncommitted));
        assert_eq!(s.local_addr().err(), Some(NtStatus::INVALID_DEVICE_STATE), "before bind");
        assert_eq!(s.raw_fd(), None);
        ok(s.bind(family.addr(0)));
        let local = s.local_addr().unwrap();
        assert_eq!(local.ip(), family.loopback());
        assert_ne!(local.port(), 0, "bind to port 0 picks the port at bind");
        assert_eq!(s.role(), Ok(StreamRole::Uncommitted), "bind does not commit");
        // Bound, not listening: the host refuses connections.
        assert!(TcpStream::connect(local).is_err(), "a bound stream socket does not listen before WskListen");

        ok(s.listen());
        assert_eq!(s.role(), Ok(StreamRole::Listening));
        assert_eq!(s.local_addr(), Ok(local), "same address after listen");
        assert!(s.raw_fd().is_some());
        let accept = s.accept(None);
        let mut client = TcpStream::connect(local).unwrap();
        let accepted = ok(accept);
        assert_eq!(accepted.remote, client.local_addr().unwrap());
        assert_eq!(accepted.local, local);
        client.write_all(b"stream").unwrap();
        assert_eq!(ok(accepted.socket.receive(6, WSK_FLAG_WAITALL)), b"stream");
        ok(accepted.socket.send(b"back".to_vec(), 0));
        let mut back = [0u8; 4];
        client.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"back");

        // The committed socket is a listening socket: the same one, through either handle.
        let l = s.listener().unwrap();
        assert_eq!(l.local_addr(), Ok(local));
        let accept = l.accept(None);
        let _second = TcpStream::connect(local).unwrap();
        ok(ok(accept).socket.close());
        assert_eq!(s.connection().err(), Some(NtStatus::INVALID_DEVICE_STATE));

        ok(accepted.socket.close());
        ok(s.close());
        assert_eq!(s.role(), Err(NtStatus::INVALID_HANDLE));
        assert_eq!(l.local_addr(), Err(NtStatus::INVALID_HANDLE), "closing either handle closes the socket");
    });
    finish(reg, npi);
}

#[test]
fn bind_connect_send_receive() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let peer_listener = TcpListener::bind(family.addr(0)).unwrap();
        let s = stream(&npi, family);
        ok(s.bind(family.any(0)));
        let port = s.local_addr().unwrap().port();
        assert_ne!(port, 0, "wildcard bind assigns the port");
        ok(s.connect(peer_listener.local_addr().unwrap()));
        assert_eq!(s.role(), Ok(StreamRole::Connection));
        let (mut peer, _) = peer_listener.accept().unwrap();
        peer.set_read_timeout(Some(WAIT)).unwrap();
        let local = s.local_addr().unwrap();
        assert_eq!(local, SocketAddr::new(family.loopback(), port), "the IP is chosen at connect");
        assert_eq!(peer.peer_addr().unwrap(), local);
        assert_eq!(s.remote_addr(), Ok(peer_listener.local_addr().unwrap()));

        let data = pattern(200_000, 7);
        let receive = s.receive(data.len(), WSK_FLAG_WAITALL);
        peer.write_all(&data).unwrap();
        assert_eq!(ok(receive), data);
        assert_eq!(ok(s.send(data.clone(), 0)), data.len());
        assert_eq!(peer_read_exact(&mut peer, data.len()), data);

        // Graceful disconnect, then the peer's FIN.
        ok(s.disconnect(None, 0));
        let (rest, end) = peer_read_all(&mut peer);
        assert!(rest.is_empty());
        assert!(matches!(end, PeerEnd::Eof), "{end:?}");
        drop(peer);
        assert!(ok(s.receive(10, 0)).is_empty(), "the peer's FIN");

        // The connection view is the same socket.
        let c = s.connection().unwrap();
        assert_eq!(c.local_addr(), Ok(local));
        assert_eq!(s.listener().err(), Some(NtStatus::INVALID_DEVICE_STATE));
        ok(c.close());
        assert_eq!(s.remote_addr(), Err(NtStatus::INVALID_HANDLE));
    });
    finish(reg, npi);
}

#[test]
fn stream_to_stream() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let server = stream_listener(&npi, family, None);
        let client = stream(&npi, family);
        ok(client.bind(family.addr(0)));
        let accept = server.accept(None);
        ok(client.connect(server.local_addr().unwrap()));
        let accepted = ok(accept);
        assert_eq!(accepted.remote, client.local_addr().unwrap());
        let data = pattern(64 * 1024, 3);
        ok(client.send(data.clone(), 0));
        assert_eq!(ok(accepted.socket.receive(data.len(), WSK_FLAG_WAITALL)), data);
        for s in [accepted.socket.close(), client.close(), server.close()] {
            ok(s);
        }
    });
    finish(reg, npi);
}

#[test]
fn role_calls_fail_before_commit_and_for_the_other_role() {
    let (reg, npi) = env();
    for_each_family(|family| {
        const STATE: NtStatus = NtStatus::INVALID_DEVICE_STATE;
        // Uncommitted (bound): neither role's calls.
        let s = stream(&npi, family);
        ok(s.bind(family.addr(0)));
        assert_eq!(err(s.send(b"x".to_vec(), 0)), STATE);
        assert_eq!(err(s.receive(1, 0)), STATE);
        assert_eq!(err(s.disconnect(None, 0)), STATE);
        assert_eq!(err(s.accept(None)), STATE);
        assert_eq!(s.remote_addr().err(), Some(STATE));
        assert_eq!(s.set_nodelay(true).err(), Some(STATE));
        assert_eq!(s.enable_events(WSK_EVENT_ACCEPT).err(), Some(STATE));
        assert_eq!(s.enable_events(WSK_EVENT_RECEIVE).err(), Some(STATE));
        assert_eq!(err(s.bind(family.addr(0))), STATE, "bind twice");
        assert_eq!(s.role(), Ok(StreamRole::Uncommitted));

        // Listening: the connection role's calls, and committing again.
        ok(s.listen());
        let target = s.local_addr().unwrap();
        assert_eq!(err(s.send(b"x".to_vec(), 0)), STATE);
        assert_eq!(err(s.receive(1, 0)), STATE);
        assert_eq!(err(s.disconnect(None, 0)), STATE);
        assert_eq!(err(s.connect(target)), STATE);
        assert_eq!(s.remote_addr().err(), Some(STATE));
        assert_eq!(s.set_nodelay(true).err(), Some(STATE));
        assert_eq!(err(s.listen()), STATE, "listen twice");
        assert_eq!(err(s.bind(family.addr(0))), STATE, "bind after listen");
        assert_eq!(s.set_reuse_address(true).err(), Some(STATE), "options of before bind");
        let (tx, rx) = mpsc::channel();
        s.send_then(Box::new(b"x".to_vec()), 0, move |r| tx.send(r).unwrap());
        assert_eq!(recv(&rx, "send_then completion"), Err(STATE), "the *_then forms complete with the status");
        assert_eq!(s.role(), Ok(StreamRole::Listening));

        // Connected: the listening role's calls, and committing again.
        let c = stream(&npi, family);
        ok(c.bind(family.addr(0)));
        let accept = s.accept(None);
        ok(c.connect(target));
        let accepted = ok(accept);
        assert_eq!(err(c.accept(None)), STATE);
        assert_eq!(err(c.listen()), STATE);
        assert_eq!(err(c.connect(target)), STATE, "connect twice");
        assert_eq!(err(c.bind(family.addr(0))), STATE);
        assert_eq!(err(c.inspect_complete(wsk::InspectId { key: 1, serial: 1 }, wsk::InspectAction::Accept)), STATE);
        assert_eq!(
            c.enable_events(WSK_EVENT_ACCEPT).err(),
            Some(NtStatus::INVALID_PARAMETER),
            "not a connection event"
        );
        let (tx, rx) = mpsc::channel();
        c.accept_then(None, move |r| tx.send(r.map(|_| ())).unwrap());
        assert_eq!(recv(&rx, "accept_then completion"), Err(STATE));
        assert_eq!(c.role(), Ok(StreamRole::Connection));

        for op in [accepted.socket.close(), c.close(), s.close()] {
            ok(op);
        }
        // Closed: the handle is gone.
        assert_eq!(err(s.listen()), NtStatus::INVALID_HANDLE);
        assert_eq!(err(c.send(b"x".to_vec(), 0)), NtStatus::INVALID_HANDLE);
    });
    finish(reg, npi);
}

#[test]
fn listen_or_connect_before_bind() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let s = stream(&npi, family);
        assert_eq!(err(s.listen()), NtStatus::INVALID_DEVICE_STATE, "listen before bind");
        assert_eq!(s.role(), Ok(StreamRole::Uncommitted));
        // Reference §4.6: WskConnect before WskBind.
        let peer = TcpListener::bind(family.addr(0)).unwrap();
        assert_eq!(err(s.connect(peer.local_addr().unwrap())), NtStatus::INVALID_DEVICE_STATE);
        assert_eq!(s.role(), Ok(StreamRole::Uncommitted), "a refused connect does not commit");
        // An address of the other family after bind: refused, still uncommitted.
        ok(s.bind(family.addr(0)));
        assert_eq!(err(s.connect(family.other().addr(9))), NtStatus::INVALID_PARAMETER);
        assert_eq!(s.role(), Ok(StreamRole::Uncommitted));
        // And then either role works.
        ok(s.connect(peer.local_addr().unwrap()));
        assert_eq!(s.role(), Ok(StreamRole::Connection));
        ok(s.close());

        let s = stream(&npi, family);
        assert_eq!(err(s.bind(family.other().addr(0))), NtStatus::INVALID_PARAMETER, "other family");
        ok(s.bind(family.addr(0)));
        ok(s.listen());
        ok(s.close());
    });
    finish(reg, npi);
}

#[test]
fn address_in_use_is_reported_at_bind() {
    let (reg, npi) = env();
    for_each_family(|family| {
        // A provider listener, then a host listener, own a port: bind itself fails.
        let l = listener(&npi, family, None);
        let s = stream(&npi, family);
        assert_eq!(err(s.bind(l.local_addr().unwrap())), NtStatus::ADDRESS_ALREADY_ASSOCIATED);
        let host = TcpListener::bind(family.addr(0)).unwrap();
        assert_eq!(err(s.bind(host.local_addr().unwrap())), NtStatus::ADDRESS_ALREADY_ASSOCIATED);
        assert_eq!(s.local_addr().err(), Some(NtStatus::INVALID_DEVICE_STATE), "still unbound");
        ok(s.bind(family.addr(0)));
        let port = s.local_addr().unwrap().port();
        // Another stream socket bound to the same address: in use as well.
        let t = stream(&npi, family);
        assert_eq!(err(t.bind(family.addr(port))), NtStatus::ADDRESS_ALREADY_ASSOCIATED);

        // SO_REUSEADDR on both (set before bind) lets two bind; only one can listen: the
        // second one's WskListen fails and leaves it uncommitted.
        let a = stream(&npi, family);
        let b = stream(&npi, family);
        a.set_reuse_address(true).unwrap();
        b.set_reuse_address(true).unwrap();
        ok(a.bind(family.addr(0)));
        let shared = a.local_addr().unwrap();
        ok(b.bind(shared));
        ok(a.listen());
        assert_eq!(err(b.listen()), NtStatus::ADDRESS_ALREADY_ASSOCIATED);
        assert_eq!(b.role(), Ok(StreamRole::Uncommitted));
        assert_eq!(b.set_reuse_address(false).err(), Some(NtStatus::INVALID_DEVICE_STATE), "after bind");
        for op in [l.close(), s.close(), t.close(), a.close(), b.close()] {
            ok(op);
        }
    });
    finish(reg, npi);
}

#[test]
fn v6_only_before_bind_applies() {
    let (reg, npi) = env();
    // Default: an AF_INET6 stream socket is IPv6-only.
    let s = ok(npi.stream_socket(Family::V6.any(0), None, None));
    ok(s.bind(Family::V6.any(0)));
    ok(s.listen());
    let port = s.local_addr().unwrap().port();
    assert!(TcpStream::connect(Family::V4.addr(port)).is_err(), "IPv6-only by default");
    ok(s.close());
    // IPV6_V6ONLY off before bind: dual stack.
    let s = ok(npi.stream_socket(Family::V6.any(0), None, None));
    s.set_v6_only(false).unwrap();
    ok(s.bind(Family::V6.any(0)));
    assert_eq!(s.set_v6_only(true).err(), Some(NtStatus::INVALID_DEVICE_STATE), "after bind");
    ok(s.listen());
    let port = s.local_addr().unwrap().port();
    let accept = s.accept(None);
    let client = TcpStream::connect(Family::V4.addr(port)).unwrap();
    let accepted = ok(accept);
    assert_eq!(accepted.remote.ip().to_canonical(), client.local_addr().unwrap().ip());
    ok(accepted.socket.close());
    ok(s.close());
    // Not on an IPv4 socket.
    let s = ok(npi.stream_socket(Family::V4.any(0), None, None));
    assert_eq!(s.set_v6_only(false).err(), Some(NtStatus::INVALID_PARAMETER));
    ok(s.close());
    finish(reg, npi);
}

/// Listen callbacks of a stream socket: each accepted socket is reported.
struct Acceptor {
    accepted: Mutex<mpsc::Sender<Accepted>>,
}

impl ListenEvents for Acceptor {
    fn on_accept(&self, accepted: Option<Accepted>) -> AcceptOutcome {
        match accepted {
            Some(a) => {
                self.accepted.lock().unwrap().send(a).unwrap();
                AcceptOutcome::Accept(None)
            }
            None => AcceptOutcome::Reject,
        }
    }
}

#[test]
fn each_role_uses_its_callbacks() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (tx, accepted_rx) = mpsc::channel();
        let acceptor = Arc::new(Acceptor { accepted: Mutex::new(tx) });
        let (recorder, rec_rx) = Recorder::new();
        // Both tables on both sockets; each uses the one of its role.
        let server = ok(npi.stream_socket(family.addr(0), Some(acceptor.clone()), Some(recorder.clone())));
        ok(server.bind(family.addr(0)));
        assert_eq!(server.enable_events(WSK_EVENT_ACCEPT).err(), Some(NtStatus::INVALID_DEVICE_STATE));
        ok(server.listen());
        server.enable_events(WSK_EVENT_ACCEPT).unwrap();
        let client = ok(npi.stream_socket(family.addr(0), Some(acceptor.clone()), Some(recorder.clone())));
        ok(client.bind(family.addr(0)));
        ok(client.connect(server.local_addr().unwrap()));
        let accepted = recv(&accepted_rx, "WskAcceptEvent");
        assert_eq!(accepted.remote, client.local_addr().unwrap());
        client.enable_events(WSK_EVENT_RECEIVE).unwrap();
        ok(accepted.socket.send(b"to the connect table".to_vec(), 0));
        rec_rx.wait_bytes(20);
        assert_eq!(&*recorder.data.lock().unwrap(), b"to the connect table");
        for op in [accepted.socket.close(), client.close(), server.close()] {
            ok(op);
        }
    });
    finish(reg, npi);
}

#[test]
fn close_uncommitted() {
    let (reg, npi) = env();
    for_each_family(|family| {
        // Never bound.
        let s = stream(&npi, family);
        ok(s.close());
        assert_eq!(err(s.close()), NtStatus::INVALID_HANDLE, "close twice");
        // Bound: closing releases the address.
        let s = stream(&npi, family);
        ok(s.bind(family.addr(0)));
        let addr = s.local_addr().unwrap();
        ok(s.close());
        let again = TcpListener::bind(addr).expect("the address is free after close");
        drop(again);
        // Dropping the last handle closes it too (the registration drains below).
        let s = stream(&npi, family);
        ok(s.bind(family.addr(0)));
        drop(s);
    });
    finish(reg, npi);
}
