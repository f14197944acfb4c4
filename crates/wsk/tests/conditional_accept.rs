//! Conditional accept (`SO_CONDITIONAL_ACCEPT`): set before bind only; `WskInspectEvent`
//! for each incoming connection with Accept (delivered through a pending `WskAccept` or
//! `WskAcceptEvent`), Reject (the peer, whose handshake the host completed, reads a
//! reset; no accept or abort follows) and Pend (held, the peer sees an established
//! connection, until `WskInspectComplete` accepts or rejects it); `WskAbortEvent` when
//! the peer of a held connection resets it, after which it is never delivered and
//! `WskInspectComplete` fails; `SIO_WSK_QUERY_INSPECT_ID` on accepted sockets; the same on
//! a stream socket committed to listening. See docs/CONDITIONAL_ACCEPT.md.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{mpsc, Arc, Mutex, OnceLock};

use common::*;
use wsk::events::WSK_EVENT_ACCEPT;
use wsk::flags::WSK_FLAG_WAITALL;
use wsk::{
    AcceptOutcome, Accepted, InspectAction, InspectId, InspectRequest, ListenEvents, ListenSocket, NtStatus,
    ProviderNpi,
};

/// Listen callbacks that answer every inspection with `action` (or let `complete_inside`
/// decide from inside the callback) and report what they see.
struct Inspector {
    action: Mutex<InspectAction>,
    /// With a listener here, the callback itself calls WskInspectComplete(Accept) for the
    /// request before it returns Pend (as a client handing the id to another thread might).
    complete_inside: OnceLock<ListenSocket>,
    inspected: Mutex<mpsc::Sender<Option<InspectRequest>>>,
    aborted: Mutex<mpsc::Sender<InspectId>>,
    accepted: Mutex<mpsc::Sender<Accepted>>,
}

struct InspectorRx {
    inspected: mpsc::Receiver<Option<InspectRequest>>,
    aborted: mpsc::Receiver<InspectId>,
    accepted: mpsc::Receiver<Accepted>,
}

impl Inspector {
    fn new(action: InspectAction) -> (Arc<Inspector>, InspectorRx) {
        let (itx, inspected) = mpsc::channel();
        let (atx, aborted) = mpsc::channel();
        let (ctx, accepted) = mpsc::channel();
        let inspector = Inspector {
            action: Mutex::new(action),
            complete_inside: OnceLock::new(),
            inspected: Mutex::new(itx),
            aborted: Mutex::new(atx),
            accepted: Mutex::new(ctx),
        };
        (Arc::new(inspector), InspectorRx { inspected, aborted, accepted })
    }

    fn set(&self, action: InspectAction) {
        *self.action.lock().unwrap() = action;
    }
}

impl InspectorRx {
    #[track_caller]
    fn inspected(&self) -> InspectRequest {
        recv(&self.inspected, "WskInspectEvent").expect("a request, not the listener's death")
    }
}

impl ListenEvents for Inspector {
    fn on_accept(&self, accepted: Option<Accepted>) -> AcceptOutcome {
        match accepted {
            Some(a) => {
                self.accepted.lock().unwrap().send(a).unwrap();
                AcceptOutcome::Accept(None)
            }
            None => AcceptOutcome::Reject,
        }
    }

    fn on_inspect(&self, request: Option<InspectRequest>) -> InspectAction {
        // The answer is read before the report: a test that changes it after seeing this
        // request changes it for the next one.
        let action = *self.action.lock().unwrap();
        self.inspected.lock().unwrap().send(request).unwrap();
        if let (Some(l), Some(r)) = (self.complete_inside.get(), request) {
            l.inspect_complete(r.id, InspectAction::Accept).wait().expect("complete from inside the callback");
            return InspectAction::Pend;
        }
        action
    }

    fn on_abort(&self, id: InspectId) {
        self.aborted.lock().unwrap().send(id).unwrap();
    }
}

/// A conditional-accept listener on loopback.
fn conditional_listener(npi: &ProviderNpi, family: Family, handler: Arc<Inspector>) -> ListenSocket {
    let l = ok(npi.listen_socket(family.addr(0), Some(handler)));
    l.set_conditional_accept(true).unwrap();
    ok(l.bind(family.addr(0)));
    l
}

fn connect(to: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(to).expect("the host completes the handshake");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s
}

/// What a peer of a rejected connection reads. Linux reports the reset as ECONNRESET
/// (a reset on an established connection with nothing to read).
#[track_caller]
fn assert_reset(peer: &mut TcpStream) {
    let mut buf = [0u8; 16];
    match peer.read(&mut buf) {
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("the peer should read a reset, got {other:?}"),
    }
}

#[test]
fn set_before_bind_only() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (inspector, _rx) = Inspector::new(InspectAction::Accept);
        let l = ok(npi.listen_socket(family.addr(0), Some(inspector.clone())));
        assert_eq!(l.conditional_accept(), Ok(false), "off by default");
        l.set_conditional_accept(true).unwrap();
        assert_eq!(l.conditional_accept(), Ok(true));
        l.set_conditional_accept(false).unwrap();
        l.set_conditional_accept(true).unwrap();
        ok(l.bind(family.addr(0)));
        assert_eq!(l.set_conditional_accept(false), Err(NtStatus::INVALID_DEVICE_STATE), "after bind");
        assert_eq!(l.conditional_accept(), Ok(true));
        ok(l.close());
        assert_eq!(l.conditional_accept(), Err(NtStatus::INVALID_HANDLE));

        // Inspecting needs callbacks.
        let bare = ok(npi.listen_socket(family.addr(0), None));
        assert_eq!(bare.set_conditional_accept(true), Err(NtStatus::INVALID_PARAMETER));
        bare.set_conditional_accept(false).unwrap();
        ok(bare.close());

        // A stream socket: before bind, too.
        let s = ok(npi.stream_socket(family.addr(0), Some(inspector.clone()), None));
        assert_eq!(s.conditional_accept(), Ok(false));
        s.set_conditional_accept(true).unwrap();
        ok(s.bind(family.addr(0)));
        assert_eq!(s.set_conditional_accept(false), Err(NtStatus::INVALID_DEVICE_STATE), "after bind");
        assert_eq!(s.conditional_accept(), Ok(true));
        ok(s.listen());
        assert_eq!(s.conditional_accept(), Ok(true));
        ok(s.close());
        let s = ok(npi.stream_socket(family.addr(0), None, None));
        assert_eq!(s.set_conditional_accept(true), Err(NtStatus::INVALID_PARAMETER), "no listen callbacks");
        ok(s.close());
    });
    finish(reg, npi);
}

#[test]
fn accept_delivers_through_a_pending_accept() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (inspector, rx) = Inspector::new(InspectAction::Accept);
        let l = conditional_listener(&npi, family, inspector);
        let local = l.local_addr().unwrap();
        let accept = l.accept(None);
        let mut peer = connect(local);
        let request = rx.inspected();
        assert_eq!(request.remote, peer.local_addr().unwrap());
        assert_eq!(request.local, local);
        let accepted = ok(accept);
        assert_eq!(accepted.remote, peer.local_addr().unwrap());
        assert_eq!(accepted.socket.inspect_id(), Ok(request.id), "SIO_WSK_QUERY_INSPECT_ID");
        peer.write_all(b"inspected").unwrap();
        assert_eq!(ok(accepted.socket.receive(9, WSK_FLAG_WAITALL)), b"inspected");

        // Ids differ per connection.
        let accept = l.accept(None);
        let _second = connect(local);
        let second = rx.inspected();
        assert_ne!(second.id, request.id);
        assert_eq!(ok(accept).socket.inspect_id(), Ok(second.id));
        ok(accepted.socket.close());
        ok(l.close());
    });
    finish(reg, npi);
}

#[test]
fn accept_delivers_through_the_accept_event() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (inspector, rx) = Inspector::new(InspectAction::Accept);
        let l = conditional_listener(&npi, family, inspector);
        // Inspection does not wait for a consumer: it happens before either exists.
        let peer = connect(l.local_addr().unwrap());
        let request = rx.inspected();
        l.enable_events(WSK_EVENT_ACCEPT).unwrap();
        let accepted = recv(&rx.accepted, "WskAcceptEvent");
        assert_eq!(accepted.remote, peer.local_addr().unwrap());
        assert_eq!(accepted.socket.inspect_id(), Ok(request.id));
        ok(accepted.socket.close());
        ok(l.close());
    });
    finish(reg, npi);
}

#[test]
fn reject_resets_the_peer_and_nothing_follows() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (inspector, rx) = Inspector::new(InspectAction::Reject);
        let l = conditional_listener(&npi, family, inspector.clone());
        let local = l.local_addr().unwrap();
        let accept = l.accept(None);
        let rejected = TcpStream::connect(local);
        let first = rx.inspected();
        match rejected {
            Ok(mut peer) => {
                assert_eq!(first.remote, peer.local_addr().unwrap());
                peer.set_read_timeout(Some(WAIT)).unwrap();
                assert_reset(&mut peer);
            }
            // The reset came before the connecting thread saw its connect complete.
            Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "the rejected peer's connect: {e}"),
        }
        // The pending accept did not get it: it gets the next connection, which is accepted.
        inspector.set(InspectAction::Accept);
        let next = connect(local);
        let second = rx.inspected();
        let accepted = ok(accept);
        assert_eq!(accepted.remote, next.local_addr().unwrap());
        assert_eq!(accepted.socket.inspect_id(), Ok(second.id));
        assert!(rx.aborted.try_recv().is_err(), "no abort event for a rejected connection");
        // Its id names nothing any more.
        assert_eq!(err(l.inspect_complete(first.id, InspectAction::Accept)), NtStatus::INVALID_PARAMETER);
        ok(accepted.socket.close());
        ok(l.close());
    });
    finish(reg, npi);
}

#[test]
fn pend_then_accept() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (inspector, rx) = Inspector::new(InspectAction::Pend);
        let l = conditional_listener(&npi, family, inspector);
        let local = l.local_addr().unwrap();
        let mut peer = connect(local);
        let request = rx.inspected();
        // Pended: the peer sees an established connection and may already send.
        peer_send_delivered(&mut peer, b"early");
        let accept = watch(l.accept(None), || {});
        assert!(!accept.is_complete(), "a pended connection is not delivered");
        ok(l.inspect_complete(request.id, InspectAction::Accept));
        let accepted = accept.wait().expect("delivered after WskInspectComplete(Accept)");
        assert_eq!(accepted.remote, peer.local_addr().unwrap());
        assert_eq!(accepted.socket.inspect_id(), Ok(request.id));
        assert_eq!(ok(accepted.socket.receive(5, WSK_FLAG_WAITALL)), b"early");
        // Completed once: a second completion names no pending request.
        assert_eq!(err(l.inspect_complete(request.id, InspectAction::Accept)), NtStatus::INVALID_PARAMETER);
        ok(accepted.socket.close());
        ok(l.close());
    });
    finish(reg, npi);
}

#[test]
fn pended_connections_wait_while_accepted_ones_are_delivered() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (inspector, rx) = Inspector::new(InspectAction::Pend);
        let l = conditional_listener(&npi, family, inspector.clone());
        let local = l.local_addr().unwrap();
        let _pended = connect(local);
        let pended = rx.inspected();
        inspector.set(InspectAction::Accept);
        let accept = l.accept(None);
        let next = connect(local);
        rx.inspected();
        let accepted = ok(accept);
        assert_eq!(accepted.remote, next.local_addr().unwrap(), "the accepted one overtakes the pended one");
        ok(l.inspect_complete(pended.id, InspectAction::Accept));
        let late = ok(l.accept(None));
        assert_eq!(late.socket.inspect_id(), Ok(pended.id));
        for op in [accepted.socket.close(), late.socket.close(), l.close()] {
            ok(op);
        }
    });
    finish(reg, npi);
}

#[test]
fn pend_then_reject() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (inspector, rx) = Inspector::new(InspectAction::Pend);
        let l = conditional_listener(&npi, family, inspector);
        let mut peer = connect(l.local_addr().unwrap());
        let request = rx.inspected();
        ok(l.inspect_complete(request.id, InspectAction::Reject));
        assert_reset(&mut peer);
        assert_eq!(err(l.inspect_complete(request.id, InspectAction::Reject)), NtStatus::INVALID_PARAMETER);
        assert!(rx.aborted.try_recv().is_err(), "no abort event for a rejected connection");
        ok(l.close());
    });
    finish(reg, npi);
}

#[test]
fn complete_from_inside_the_inspect_callback() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (inspector, rx) = Inspector::new(InspectAction::Pend);
        let l = conditional_listener(&npi, family, inspector.clone());
        inspector.complete_inside.set(l.clone()).unwrap();
        let accept = l.accept(None);
        let peer = connect(l.local_addr().unwrap());
        let request = rx.inspected();
        // The callback completed it with Accept and then returned Pend: it is delivered.
        let accepted = ok(accept);
        assert_eq!(accepted.remote, peer.local_addr().unwrap());
        assert_eq!(accepted.socket.inspect_id(), Ok(request.id));
        ok(accepted.socket.close());
        ok(l.close());
    });
    finish(reg, npi);
}

#[test]
fn inspect_complete_errors() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (inspector, rx) = Inspector::new(InspectAction::Pend);
        let l = conditional_listener(&npi, family, inspector);
        let unknown = InspectId { key: 12345, serial: 9 };
        assert_eq!(err(l.inspect_complete(unknown, InspectAction::Accept)), NtStatus::INVALID_PARAMETER);
        let _peer = connect(l.local_addr().unwrap());
        let request = rx.inspected();
        assert_eq!(err(l.inspect_complete(request.id, InspectAction::Pend)), NtStatus::INVALID_PARAMETER, "Pend");
        // The request is still pending after the refused calls.
        ok(l.inspect_complete(request.id, InspectAction::Reject));
        ok(l.close());
        assert_eq!(err(l.inspect_complete(request.id, InspectAction::Accept)), NtStatus::INVALID_HANDLE);
        // A listener without conditional accept has no requests.
        let plain = listener(&npi, family, None);
        assert_eq!(err(plain.inspect_complete(request.id, InspectAction::Accept)), NtStatus::INVALID_PARAMETER);
        ok(plain.close());
    });
    finish(reg, npi);
}

#[test]
fn abort_event_when_a_pended_peer_resets() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (inspector, rx) = Inspector::new(InspectAction::Pend);
        let l = conditional_listener(&npi, family, inspector.clone());
        let local = l.local_addr().unwrap();
        let peer = connect(local);
        let request = rx.inspected();
        let accept = l.accept(None);
        reset(peer);
        assert_eq!(recv(&rx.aborted, "WskAbortEvent"), request.id);
        // Completing it never delivers it.
        assert_eq!(err(l.inspect_complete(request.id, InspectAction::Accept)), NtStatus::CONNECTION_RESET);
        assert_eq!(err(l.inspect_complete(request.id, InspectAction::Accept)), NtStatus::INVALID_PARAMETER, "once");
        inspector.set(InspectAction::Accept);
        let next = connect(local);
        rx.inspected();
        let accepted = ok(accept);
        assert_eq!(accepted.remote, next.local_addr().unwrap(), "the pending accept gets the next connection");
        ok(accepted.socket.close());
        ok(l.close());
    });
    finish(reg, npi);
}

#[test]
fn abort_event_when_an_accepted_undelivered_peer_resets() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (inspector, rx) = Inspector::new(InspectAction::Accept);
        let l = conditional_listener(&npi, family, inspector);
        let local = l.local_addr().unwrap();
        // Accepted at inspection, but no WskAccept and no accept event yet.
        let peer = connect(local);
        let request = rx.inspected();
        reset(peer);
        assert_eq!(recv(&rx.aborted, "WskAbortEvent"), request.id);
        let accept = l.accept(None);
        let next = connect(local);
        rx.inspected();
        assert_eq!(ok(accept).remote, next.local_addr().unwrap(), "the reset one is never delivered");
        ok(l.close());
    });
    finish(reg, npi);
}

#[test]
fn a_peer_fin_alone_does_not_abort() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (inspector, rx) = Inspector::new(InspectAction::Pend);
        let l = conditional_listener(&npi, family, inspector);
        let mut peer = connect(l.local_addr().unwrap());
        let request = rx.inspected();
        peer.write_all(b"request").unwrap();
        peer.shutdown(std::net::Shutdown::Write).unwrap();
        wait_until("the peer's data and FIN to be acknowledged", || unacked(&peer) == 0);
        ok(l.inspect_complete(request.id, InspectAction::Accept));
        let accepted = ok(l.accept(None));
        assert_eq!(ok(accepted.socket.receive(7, WSK_FLAG_WAITALL)), b"request");
        assert!(ok(accepted.socket.receive(1, 0)).is_empty(), "then the FIN");
        assert!(rx.aborted.try_recv().is_err());
        ok(accepted.socket.close());
        ok(l.close());
    });
    finish(reg, npi);
}

#[test]
fn close_resets_held_connections() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (inspector, rx) = Inspector::new(InspectAction::Pend);
        let l = conditional_listener(&npi, family, inspector.clone());
        let mut pended = connect(l.local_addr().unwrap());
        rx.inspected();
        inspector.set(InspectAction::Accept);
        let mut undelivered = connect(l.local_addr().unwrap());
        rx.inspected();
        ok(l.close());
        assert_reset(&mut pended);
        assert_reset(&mut undelivered);
    });
    finish(reg, npi);
}

#[test]
fn inspect_id_of_other_sockets() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, server) = wsk_pair(&npi, family, None, None);
        assert_eq!(client.inspect_id(), Err(NtStatus::INVALID_DEVICE_REQUEST), "connected by WskSocketConnect");
        assert_eq!(server.inspect_id(), Err(NtStatus::INVALID_DEVICE_REQUEST), "accepted without conditional accept");
        ok(client.close());
        ok(server.close());
        assert_eq!(server.inspect_id(), Err(NtStatus::INVALID_HANDLE));
    });
    finish(reg, npi);
}

#[test]
fn stream_socket_with_conditional_accept() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (inspector, rx) = Inspector::new(InspectAction::Pend);
        let s = ok(npi.stream_socket(family.addr(0), Some(inspector.clone()), None));
        s.set_conditional_accept(true).unwrap();
        ok(s.bind(family.addr(0)));
        ok(s.listen());
        let local = s.local_addr().unwrap();
        let mut rejected = connect(local);
        let first = rx.inspected();
        let peer = connect(local);
        let second = rx.inspected();
        ok(s.inspect_complete(first.id, InspectAction::Reject));
        assert_reset(&mut rejected);
        ok(s.inspect_complete(second.id, InspectAction::Accept));
        let accepted = ok(s.accept(None));
        assert_eq!(accepted.remote, peer.local_addr().unwrap());
        assert_eq!(accepted.socket.inspect_id(), Ok(second.id));
        ok(accepted.socket.close());
        ok(s.close());
    });
    finish(reg, npi);
}

#[test]
fn dead_listener_inspects_null_once_and_resets_held_connections() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (inspector, rx) = Inspector::new(InspectAction::Pend);
        let l = conditional_listener(&npi, family, inspector);
        let mut held = connect(l.local_addr().unwrap());
        let request = rx.inspected();
        // shutdown(SHUT_RD) takes the host listener out of LISTEN: accept fails for good.
        // SAFETY: shutdown on a descriptor the listener owns; it stays open.
        let rc = unsafe { libc::shutdown(l.raw_fd().expect("bound"), libc::SHUT_RD) };
        assert_eq!(rc, 0, "shutdown: {}", std::io::Error::last_os_error());
        assert_eq!(recv(&rx.inspected, "the NULL InspectID"), None, "the listener's death");
        assert_reset(&mut held);
        assert_eq!(err(l.inspect_complete(request.id, InspectAction::Accept)), NtStatus::INVALID_PARAMETER);
        // Said once: a pending accept fails at once, and no second NULL inspection comes
        // before the close's completion (which follows every callback of the socket).
        assert!(err(l.accept(None)).is_error());
        ok(l.close());
        assert!(rx.inspected.try_recv().is_err(), "a second NULL InspectID");
    });
    finish(reg, npi);
}
