//! Datagram sockets: bind, WskSendTo / WskReceiveFrom with addresses and control
//! information, the fixed remote and sendto addresses, WskSendMessages, options,
//! WskReceiveFromEvent outcomes (accepted, retained and released in pieces, not
//! accepted with dynamic and static enabling), precedence, cancel, close, wrong state,
//! closed handles, bad sizes, bounded memory, deregistration — on 127.0.0.1 and ::1.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket as StdUdp};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

use common::*;
use wsk::events::WSK_EVENT_RECEIVE_FROM;
use wsk::flags::{MSG_BCAST, MSG_CTRUNC, MSG_MCAST, MSG_TRUNC};
use wsk::{
    ControlMessage, DatagramEvents, DatagramIndication, DatagramSocket, EventFlags, Membership, NtStatus, OptName,
    ProviderNpi, ReceiveFromOutcome, RetainedDatagrams, SockOpt, SocketControl, BUFFER_SIZE,
};

/// A datagram socket bound to `addr`.
#[track_caller]
fn bound(npi: &ProviderNpi, addr: SocketAddr, events: Option<Arc<dyn DatagramEvents>>) -> DatagramSocket {
    let s = ok(npi.datagram_socket(addr, events));
    ok(s.bind(addr));
    s
}

/// The interface index of the loopback interface.
fn lo_index() -> u32 {
    // SAFETY: the argument is a NUL-terminated string literal.
    let index = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
    assert_ne!(index, 0, "no loopback interface");
    index
}

/// Lets the reactor go through everything it was told so far: a datagram round trip
/// between two sockets of the same provider completes on the reactor, after the
/// readiness reports that came before it.
#[track_caller]
fn reactor_round_trip(npi: &ProviderNpi) {
    let a = bound(npi, Family::V4.addr(0), None);
    let b = bound(npi, Family::V4.addr(0), None);
    let r = b.receive_from(8, 0);
    ok(a.send_to(b"sync".to_vec(), Some(b.local_addr().unwrap()), vec![]));
    assert_eq!(ok(r).data, b"sync");
    ok(a.close());
    ok(b.close());
}

#[test]
fn bind_wildcard_and_specific() {
    let (reg, npi) = env();
    for_each_family(|f| {
        let s = ok(npi.datagram_socket(f.any(0), None));
        assert_eq!(s.local_addr(), Err(NtStatus::INVALID_DEVICE_STATE), "not bound yet");
        assert_eq!(err(s.bind(f.other().addr(0))), NtStatus::INVALID_PARAMETER, "other family");
        ok(s.bind(f.any(0)));
        let local = s.local_addr().unwrap();
        assert!(local.ip().is_unspecified() && local.port() != 0, "{local}");
        assert_eq!(err(s.bind(f.any(0))), NtStatus::INVALID_DEVICE_STATE, "bound twice");

        let t = ok(npi.datagram_socket(f.addr(0), None));
        assert_eq!(err(t.bind(f.addr(local.port()))), NtStatus::ADDRESS_ALREADY_ASSOCIATED, "port taken");
        ok(t.bind(f.addr(0)));
        assert_eq!(t.local_addr().unwrap().ip(), f.loopback());

        // The wildcard socket receives on loopback.
        let r = s.receive_from(16, 0);
        ok(t.send_to(b"to any".to_vec(), Some(f.addr(local.port())), vec![]));
        let d = ok(r);
        assert_eq!(d.data, b"to any");
        assert_eq!(d.info.remote, t.local_addr().unwrap());
        ok(s.close());
        ok(t.close());
    });
    finish(reg, npi);
}

#[test]
fn send_and_receive_with_addresses() {
    let (reg, npi) = env();
    for_each_family(|f| {
        let a = bound(&npi, f.addr(0), None);
        let b = bound(&npi, f.any(0), None);
        let b_addr = f.addr(b.local_addr().unwrap().port());
        for i in 0..10u8 {
            let payload = pattern(100 + usize::from(i), u32::from(i));
            let r = b.receive_from(2048, 0);
            assert_eq!(ok(a.send_to(payload.clone(), Some(b_addr), vec![])), payload.len());
            let d = ok(r);
            assert_eq!(d.data, payload);
            assert_eq!(d.info.remote, a.local_addr().unwrap());
            assert_eq!(d.info.flags, 0);
            assert!(d.info.control.is_empty(), "no packet info unless asked");
        }
        // Back the other way, from the wildcard socket; with a completion routine.
        let (tx, rx) = mpsc::channel();
        a.receive_from_then(Box::new(vec![0u8; 64]), 0, move |r, buf| {
            tx.send((r, buf.into_any().downcast::<Vec<u8>>().unwrap())).unwrap();
        });
        let (tx2, rx2) = mpsc::channel();
        b.send_to_then(Box::new(b"reply".to_vec()), Some(a.local_addr().unwrap()), vec![], move |r| {
            tx2.send(r).unwrap()
        });
        assert_eq!(recv(&rx2, "send completion"), Ok(5));
        let (r, buf) = recv(&rx, "receive completion");
        let info = r.unwrap();
        assert_eq!(&buf[..info.bytes], b"reply");
        assert_eq!(info.remote, b_addr, "the routed source of a wildcard socket");
        // Empty datagrams are datagrams.
        let r = b.receive_from(8, 0);
        assert_eq!(ok(a.send_to(Vec::new(), Some(b_addr), vec![])), 0);
        let d = ok(r);
        assert!(d.data.is_empty());
        assert_eq!(d.info.flags, 0);
        ok(a.close());
        ok(b.close());
    });
    finish(reg, npi);
}

#[test]
fn truncation_sets_msg_trunc() {
    let (reg, npi) = env();
    for_each_family(|f| {
        let a = bound(&npi, f.addr(0), None);
        let b = bound(&npi, f.addr(0), None);
        let to = Some(b.local_addr().unwrap());
        let payload = pattern(1000, 7);
        let r = b.receive_from(10, 0);
        ok(a.send_to(payload.clone(), to, vec![]));
        let d = ok(r);
        assert_eq!(d.data, payload[..10]);
        assert_eq!(d.info.bytes, 10);
        assert!(d.info.truncated());
        assert_eq!(d.info.flags, MSG_TRUNC);
        // The rest of a truncated datagram is gone: the next receive gets the next datagram.
        let r = b.receive_from(1000, 0);
        ok(a.send_to(payload.clone(), to, vec![]));
        let d = ok(r);
        assert_eq!((d.data.len(), d.info.flags), (1000, 0), "an exact fit is not truncated");
        // A zero-length buffer takes a whole datagram and keeps none of it.
        let r = b.receive_from(0, 0);
        ok(a.send_to(payload.clone(), to, vec![]));
        let d = ok(r);
        assert!(d.data.is_empty() && d.info.truncated());
        ok(a.close());
        ok(b.close());
    });
    finish(reg, npi);
}

#[test]
fn packet_info_is_received_and_control_truncation_is_flagged() {
    let (reg, npi) = env();
    let lo = lo_index();
    for_each_family(|f| {
        let a = bound(&npi, f.addr(0), None);
        let b = bound(&npi, f.any(0), None);
        let to = Some(f.addr(b.local_addr().unwrap().port()));
        b.set_receive_packet_info(true).unwrap();
        assert_eq!(b.get_option(OptName::PacketInfo), Ok(SockOpt::PacketInfo(true)));
        let expected = ControlMessage::PacketInfo { addr: f.loopback(), interface: lo };

        let r = b.receive_from(16, 64);
        ok(a.send_to(b"x".to_vec(), to, vec![]));
        let d = ok(r);
        assert_eq!(d.info.control, vec![expected.clone()]);
        assert_eq!(d.info.flags, 0);
        let bytes = d.info.control_bytes();
        assert_eq!(bytes.len(), expected.space(), "the Windows CMSGHDR layout");
        assert_eq!(wsk::cmsg::parse(&bytes).unwrap(), vec![expected.clone()]);

        // A control buffer too small for the message: MSG_CTRUNC, no control information.
        for capacity in [0, expected.space() - 1] {
            let r = b.receive_from(16, capacity);
            ok(a.send_to(b"y".to_vec(), to, vec![]));
            let d = ok(r);
            assert_eq!(d.data, b"y");
            assert!(d.info.control.is_empty());
            assert_eq!(d.info.flags, MSG_CTRUNC);
        }

        // Off again: no control information, and nothing truncated.
        b.set_receive_packet_info(false).unwrap();
        let r = b.receive_from(16, 0);
        ok(a.send_to(b"z".to_vec(), to, vec![]));
        let d = ok(r);
        assert_eq!((d.info.control.len(), d.info.flags), (0, 0));
        ok(a.close());
        ok(b.close());
    });
    finish(reg, npi);
}

#[test]
fn packet_info_chooses_the_source_address() {
    let (reg, npi) = env();
    let lo = lo_index();
    // IPv4: any 127/8 address is local, so the source can differ from the bound one.
    let a = bound(&npi, Family::V4.any(0), None);
    let b = bound(&npi, Family::V4.addr(0), None);
    let to = Some(b.local_addr().unwrap());
    let port = a.local_addr().unwrap().port();
    for source in [Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3)] {
        let r = b.receive_from(16, 0);
        let control = vec![ControlMessage::PacketInfo { addr: IpAddr::V4(source), interface: 0 }];
        ok(a.send_to(b"from".to_vec(), to, control));
        assert_eq!(ok(r).info.remote, SocketAddr::new(IpAddr::V4(source), port));
    }
    // A source the host does not have is refused.
    let control = vec![ControlMessage::PacketInfo { addr: "192.0.2.1".parse().unwrap(), interface: 0 }];
    let status = err(a.send_to(b"no".to_vec(), to, control));
    assert!(status.is_error(), "{status}");
    // Packet information of the other family is refused.
    let control = vec![ControlMessage::PacketInfo { addr: "::1".parse().unwrap(), interface: 0 }];
    assert_eq!(err(a.send_to(b"no".to_vec(), to, control)), NtStatus::INVALID_PARAMETER);
    // Control messages the host has no counterpart for are not sent (WireGuard's empty IP_OPTIONS).
    let r = b.receive_from(16, 0);
    let control = vec![ControlMessage::Other { level: 0, kind: 1, data: vec![] }];
    ok(a.send_to(b"opts".to_vec(), to, control));
    assert_eq!(ok(r).data, b"opts");
    ok(a.close());
    ok(b.close());

    // IPv6: ::1 is the only loopback address; the interface index is honoured.
    let a = bound(&npi, Family::V6.any(0), None);
    let b = bound(&npi, Family::V6.addr(0), None);
    let r = b.receive_from(16, 0);
    let control = vec![ControlMessage::PacketInfo { addr: "::1".parse().unwrap(), interface: lo }];
    ok(a.send_to(b"six".to_vec(), Some(b.local_addr().unwrap()), control));
    let d = ok(r);
    assert_eq!(d.info.remote, Family::V6.addr(a.local_addr().unwrap().port()));
    ok(a.close());
    ok(b.close());
    finish(reg, npi);
}

#[test]
fn remote_address_filters_senders_and_a_given_address_overrides() {
    let (reg, npi) = env();
    for_each_family(|f| {
        let a = bound(&npi, f.addr(0), None);
        let b = bound(&npi, f.addr(0), None);
        let c = bound(&npi, f.addr(0), None);
        let (a_addr, b_addr, c_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap(), c.local_addr().unwrap());
        ok(b.set_remote_address(Some(a_addr)));
        assert_eq!(b.local_addr().unwrap(), b_addr, "the bound address is kept");

        // Only a's datagrams are received: c's, sent first, never arrive.
        let r = b.receive_from(32, 0);
        ok(c.send_to(b"from c".to_vec(), Some(b_addr), vec![]));
        ok(a.send_to(b"from a".to_vec(), Some(b_addr), vec![]));
        let d = ok(r);
        assert_eq!((d.data.as_slice(), d.info.remote), (&b"from a"[..], a_addr));

        // Sends without an address go to the remote address; a given address overrides.
        let r = a.receive_from(32, 0);
        ok(b.send_to(b"default".to_vec(), None, vec![]));
        assert_eq!(ok(r).data, b"default");
        let r = c.receive_from(32, 0);
        ok(b.send_to(b"override".to_vec(), Some(c_addr), vec![]));
        assert_eq!(ok(r).data, b"override");

        // Cleared: the socket keeps its port and receives from anyone again; c's first
        // datagram was discarded while the remote address was set.
        ok(b.set_remote_address(None));
        assert_eq!(b.local_addr().unwrap(), b_addr);
        let r = b.receive_from(32, 0);
        ok(c.send_to(b"c again".to_vec(), Some(b_addr), vec![]));
        let d = ok(r);
        assert_eq!((d.data.as_slice(), d.info.remote), (&b"c again"[..], c_addr));
        assert_eq!(err(b.send_to(b"nowhere".to_vec(), None, vec![])), NtStatus::INVALID_PARAMETER);
        assert_eq!(err(b.set_remote_address(Some(f.other().addr(1)))), NtStatus::INVALID_PARAMETER);

        // A wildcard-bound socket keeps its port across a clear too.
        let w = bound(&npi, f.any(0), None);
        let w_port = w.local_addr().unwrap().port();
        ok(w.set_remote_address(Some(a_addr)));
        ok(w.set_remote_address(None));
        assert_eq!(w.local_addr().unwrap(), f.any(w_port));
        let r = w.receive_from(8, 0);
        ok(c.send_to(b"w".to_vec(), Some(f.addr(w_port)), vec![]));
        assert_eq!(ok(r).info.remote, c_addr);
        for s in [a, b, c, w] {
            ok(s.close());
        }
    });
    finish(reg, npi);
}

#[test]
fn sendto_address_is_the_default_destination() {
    let (reg, npi) = env();
    for_each_family(|f| {
        let a = bound(&npi, f.addr(0), None);
        let b = bound(&npi, f.addr(0), None);
        let c = bound(&npi, f.addr(0), None);
        assert_eq!(err(a.send_to(b"x".to_vec(), None, vec![])), NtStatus::INVALID_PARAMETER, "no destination");
        ok(a.set_sendto_address(Some(b.local_addr().unwrap())));
        let r = b.receive_from(16, 0);
        assert_eq!(ok(a.send_to(b"default".to_vec(), None, vec![])), 7);
        assert_eq!(ok(r).info.remote, a.local_addr().unwrap());
        // A given address overrides.
        let r = c.receive_from(16, 0);
        ok(a.send_to(b"override".to_vec(), Some(c.local_addr().unwrap()), vec![]));
        assert_eq!(ok(r).data, b"override");
        // Datagrams from anyone are still received.
        let r = a.receive_from(16, 0);
        ok(c.send_to(b"from c".to_vec(), Some(a.local_addr().unwrap()), vec![]));
        assert_eq!(ok(r).info.remote, c.local_addr().unwrap());
        ok(a.set_sendto_address(None));
        assert_eq!(err(a.send_to(b"x".to_vec(), None, vec![])), NtStatus::INVALID_PARAMETER, "cleared");
        assert_eq!(err(a.set_sendto_address(Some(f.other().addr(1)))), NtStatus::INVALID_PARAMETER);
        for s in [a, b, c] {
            ok(s.close());
        }
    });
    finish(reg, npi);
}

#[test]
fn send_messages_sends_each_buffer_as_a_datagram() {
    let (reg, npi) = env();
    for_each_family(|f| {
        let a = bound(&npi, f.any(0), None);
        let b = bound(&npi, f.addr(0), None);
        let b_addr = b.local_addr().unwrap();
        const N: usize = 40;
        let payloads: Vec<Vec<u8>> = (0..N).map(|i| pattern(1 + i * 37, i as u32)).collect();
        let total: usize = payloads.iter().map(Vec::len).sum();
        let receives: Vec<_> = (0..N).map(|_| b.receive_from(2048, 0)).collect();
        let list: Vec<Box<dyn wsk::SendBuffer>> = payloads.iter().map(|p| Box::new(p.clone()) as _).collect();
        // With packet information: the one control buffer applies to every datagram.
        let control = vec![ControlMessage::PacketInfo { addr: f.loopback(), interface: 0 }];
        assert_eq!(ok(a.send_messages(list, Some(b_addr), control)), total);
        for (r, p) in receives.into_iter().zip(&payloads) {
            let d = ok(r);
            assert_eq!(&d.data, p, "N datagrams arrive as N, in order");
            assert_eq!(d.info.remote, f.addr(a.local_addr().unwrap().port()));
        }
        // The sendto address serves a list too; an empty list is refused.
        ok(a.set_sendto_address(Some(b_addr)));
        let r = b.receive_from(8, 0);
        let (tx, rx) = mpsc::channel();
        a.send_messages_then(vec![Box::new(b"one".to_vec()), Box::new(b"two".to_vec())], None, vec![], move |r| {
            tx.send(r).unwrap()
        });
        assert_eq!(recv(&rx, "send_messages completion"), Ok(6));
        assert_eq!(ok(r).data, b"one");
        assert_eq!(ok(b.receive_from(8, 0)).data, b"two");
        assert_eq!(err(a.send_messages(Vec::new(), None, vec![])), NtStatus::INVALID_PARAMETER);
        ok(a.close());
        ok(b.close());
    });
    finish(reg, npi);
}

#[test]
fn send_message_size_segments_a_send() {
    let (reg, npi) = env();
    for_each_family(|f| {
        let a = bound(&npi, f.addr(0), None);
        let b = bound(&npi, f.addr(0), None);
        let payload = pattern(2500, 3);
        let receives: Vec<_> = (0..3).map(|_| b.receive_from(4096, 0)).collect();
        let sent = wait(a.send_to(
            payload.clone(),
            Some(b.local_addr().unwrap()),
            vec![ControlMessage::SendMessageSize(1000)],
        ));
        match sent {
            Ok(n) => {
                assert_eq!(n, 2500);
                let got: Vec<Vec<u8>> = receives.into_iter().map(|r| ok(r).data).collect();
                assert_eq!(got.iter().map(Vec::len).collect::<Vec<_>>(), vec![1000, 1000, 500]);
                assert_eq!(got.concat(), payload);
            }
            Err(s) => eprintln!("skipped: the host refuses UDP segmentation offload ({s})"),
        }
        ok(a.close());
        ok(b.close());
    });
    finish(reg, npi);
}

#[test]
fn broadcast_needs_so_broadcast() {
    let (reg, npi) = env();
    let a = bound(&npi, Family::V4.any(0), None);
    let b = bound(&npi, Family::V4.any(0), None);
    b.set_receive_packet_info(true).unwrap();
    assert_eq!(a.broadcast(), Ok(false));
    assert_eq!(a.get_option(OptName::Broadcast), Ok(SockOpt::Broadcast(false)));
    let to = SocketAddr::new(Ipv4Addr::new(127, 255, 255, 255).into(), b.local_addr().unwrap().port());
    assert_eq!(
        err(a.send_to(b"all".to_vec(), Some(to), vec![])),
        NtStatus::ACCESS_DENIED,
        "EACCES without SO_BROADCAST"
    );
    a.set_broadcast(true).unwrap();
    assert_eq!(a.broadcast(), Ok(true));
    let r = b.receive_from(16, 64);
    match wait(a.send_to(b"all".to_vec(), Some(to), vec![])) {
        Ok(n) => {
            assert_eq!(n, 3);
            let d = ok(r);
            assert_eq!(d.data, b"all");
            assert_eq!(d.info.flags & (MSG_BCAST | MSG_MCAST), MSG_BCAST, "{:#x}", d.info.flags);
        }
        Err(s) => {
            eprintln!("skipped: the host refuses a loopback broadcast ({s})");
            r.cancel();
        }
    }
    a.set_option(SockOpt::Broadcast(false)).unwrap();
    assert_eq!(a.broadcast(), Ok(false));
    ok(a.close());
    ok(b.close());
    finish(reg, npi);
}

#[test]
fn multicast_membership_on_loopback() {
    let (reg, npi) = env();
    let group = Ipv4Addr::new(239, 255, 77, 1);
    let b = bound(&npi, Family::V4.any(0), None);
    let port = b.local_addr().unwrap().port();
    // Refused before the host sees them: a group that is not multicast, the other family.
    let unicast = Membership::V4 { group: Ipv4Addr::LOCALHOST, interface: Ipv4Addr::LOCALHOST };
    assert_eq!(b.join_multicast(unicast), Err(NtStatus::INVALID_PARAMETER));
    let v6 = Membership::V6 { group: "ff02::1".parse().unwrap(), interface: 0 };
    assert_eq!(b.join_multicast(v6), Err(NtStatus::INVALID_PARAMETER));
    let membership = Membership::V4 { group, interface: Ipv4Addr::LOCALHOST };
    if let Err(s) = b.join_multicast(membership) {
        eprintln!("skipped: the host refuses a multicast membership on loopback ({s})");
        ok(b.close());
        finish(reg, npi);
        return;
    }
    let sender = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    sender.set_multicast_if_v4(&Ipv4Addr::LOCALHOST).unwrap();
    sender.set_multicast_loop_v4(true).unwrap();
    let sender: StdUdp = sender.into();
    let r = b.receive_from(16, 0);
    match sender.send_to(b"group", SocketAddr::new(group.into(), port)) {
        Ok(_) => {
            let d = ok(r);
            assert_eq!(d.data, b"group");
            assert_eq!(d.info.flags & (MSG_BCAST | MSG_MCAST), MSG_MCAST);
        }
        Err(e) => {
            eprintln!("skipped: the host cannot send multicast on loopback ({e})");
            r.cancel();
        }
    }
    b.leave_multicast(membership).unwrap();
    assert!(b.leave_multicast(membership).is_err(), "not a member any more");
    ok(b.close());
    finish(reg, npi);
}

/// One indicated datagram as a handler saw it: data, sender, control information.
type Seen = (Vec<u8>, SocketAddr, Vec<ControlMessage>);

/// A `WskReceiveFromEvent` handler with a scripted answer per call; it records what it saw.
struct Scripted {
    /// The answers, in order; past the end: `Accepted`.
    answers: Mutex<Vec<ReceiveFromOutcome>>,
    calls: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
    chains: Mutex<Vec<usize>>,
    flags: Mutex<Vec<u32>>,
    dead: AtomicUsize,
    tx: Mutex<mpsc::Sender<usize>>,
    /// Where retained chains go.
    retained: Mutex<Option<mpsc::Sender<RetainedDatagrams>>>,
}

impl Scripted {
    fn new(answers: Vec<ReceiveFromOutcome>) -> (Arc<Scripted>, mpsc::Receiver<usize>) {
        let (tx, rx) = mpsc::channel();
        let s = Scripted {
            answers: Mutex::new(answers.into_iter().rev().collect()),
            calls: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
            chains: Mutex::new(Vec::new()),
            flags: Mutex::new(Vec::new()),
            dead: AtomicUsize::new(0),
            tx: Mutex::new(tx),
            retained: Mutex::new(None),
        };
        (Arc::new(s), rx)
    }

    fn datagrams(&self) -> Vec<Vec<u8>> {
        self.seen.lock().unwrap().iter().map(|(d, _, _)| d.clone()).collect()
    }
}

impl DatagramEvents for Scripted {
    fn on_receive_from(&self, indication: Option<&mut DatagramIndication>, flags: EventFlags) -> ReceiveFromOutcome {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let Some(ind) = indication else {
            self.dead.fetch_add(1, Ordering::SeqCst);
            let _ = self.tx.lock().unwrap().send(n);
            return ReceiveFromOutcome::Accepted;
        };
        self.chains.lock().unwrap().push(ind.len());
        self.flags.lock().unwrap().push(flags.0);
        for d in ind.datagrams() {
            self.seen.lock().unwrap().push((d.data().to_vec(), d.remote(), d.control().to_vec()));
        }
        let answer = self.answers.lock().unwrap().pop().unwrap_or(ReceiveFromOutcome::Accepted);
        if answer == ReceiveFromOutcome::Retained {
            if let Some(tx) = &*self.retained.lock().unwrap() {
                tx.send(ind.retain()).unwrap();
            }
        }
        let _ = self.tx.lock().unwrap().send(n);
        answer
    }
}

#[test]
fn event_accepts_datagrams_with_addresses_and_control() {
    let (reg, npi) = env();
    let lo = lo_index();
    for_each_family(|f| {
        let (h, calls) = Scripted::new(vec![]);
        let a = bound(&npi, f.addr(0), None);
        let b = ok(npi.datagram_socket(f.addr(0), Some(h.clone())));
        assert_eq!(b.enable_events(WSK_EVENT_RECEIVE_FROM), Err(NtStatus::INVALID_DEVICE_STATE), "before bind");
        ok(b.bind(f.addr(0)));
        b.set_receive_packet_info(true).unwrap();
        b.enable_events(WSK_EVENT_RECEIVE_FROM).unwrap();
        let payloads: Vec<Vec<u8>> = (0..20).map(|i| pattern(10 + i, i as u32)).collect();
        for p in &payloads {
            ok(a.send_to(p.clone(), Some(b.local_addr().unwrap()), vec![]));
        }
        wait_until("every datagram indicated", || h.seen.lock().unwrap().len() == payloads.len());
        assert_eq!(h.datagrams(), payloads);
        for (_, remote, control) in h.seen.lock().unwrap().iter() {
            assert_eq!(*remote, a.local_addr().unwrap());
            assert_eq!(*control, vec![ControlMessage::PacketInfo { addr: f.loopback(), interface: lo }]);
        }
        assert!(h.flags.lock().unwrap().iter().all(|fl| fl & (MSG_BCAST | MSG_MCAST) == 0));
        drop(calls);
        wait_until("accepted buffers returned", || b.stats().held == 0);
        assert_eq!(b.stats().received, payloads.len() as u64);
        ok(a.close());
        ok(b.close());
    });
    finish(reg, npi);
}

#[test]
fn retained_chains_are_released_in_pieces_from_other_threads() {
    let (reg, npi) = env();
    for_each_family(|f| {
        let (h, _calls) = Scripted::new(vec![ReceiveFromOutcome::Retained; 64]);
        let (rtx, rrx) = mpsc::channel();
        *h.retained.lock().unwrap() = Some(rtx);
        let a = bound(&npi, f.addr(0), None);
        let b = bound(&npi, f.addr(0), Some(h.clone()));
        // Queued in the host before the event is enabled: indicated as one chain.
        const N: usize = 12;
        for i in 0..N {
            ok(a.send_to(pattern(100, i as u32), Some(b.local_addr().unwrap()), vec![]));
        }
        wait_until("datagrams queued in the host", || host_queued(&b) > 0);
        reactor_round_trip(&npi);
        b.enable_events(WSK_EVENT_RECEIVE_FROM).unwrap();
        let mut chains = Vec::new();
        let mut count = 0;
        while count < N {
            let chain = recv(&rrx, "a retained chain");
            count += chain.len();
            chains.push(chain);
        }
        assert!(chains.iter().any(|c| c.len() > 1), "queued datagrams are batched into one chain");
        let held = b.stats().held;
        assert!(held >= N * 100, "retained datagrams stay charged ({held})");
        // Split, take apart, and release from other threads in reverse order.
        let mut pieces: Vec<RetainedDatagrams> = Vec::new();
        for mut c in chains {
            let tail = c.split_off(c.len() / 2);
            pieces.push(tail);
            pieces.push(c);
        }
        let mut singles: Vec<wsk::IndicatedDatagram> = Vec::new();
        let mut rest = Vec::new();
        for (i, p) in pieces.into_iter().enumerate() {
            if i % 2 == 0 {
                singles.extend(p.into_datagrams());
            } else {
                rest.push(p);
            }
        }
        let mut seen: Vec<Vec<u8>> = singles.iter().map(|d| d.data().to_vec()).collect();
        seen.extend(rest.iter().flat_map(|p| p.datagrams().iter().map(|d| d.data().to_vec())));
        seen.sort();
        let mut want: Vec<Vec<u8>> = (0..N).map(|i| pattern(100, i as u32)).collect();
        want.sort();
        assert_eq!(seen, want);
        let threads: Vec<_> = singles
            .into_iter()
            .rev()
            .map(|d| thread::spawn(move || drop(d)))
            .chain(rest.into_iter().map(|p| thread::spawn(move || p.release())))
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(b.stats().held, 0, "every piece released");
        ok(a.close());
        ok(b.close());
    });
    finish(reg, npi);
}

/// Datagrams in the host's receive queue of `s` (the next one's size: FIONREAD on UDP).
fn host_queued(s: &DatagramSocket) -> usize {
    let mut value: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which points to a live local.
    let rc = unsafe { libc::ioctl(s.raw_fd().unwrap(), libc::FIONREAD, &mut value as *mut libc::c_int) };
    assert_eq!(rc, 0);
    value as usize
}

#[test]
fn not_accepted_disables_a_dynamic_event_and_keeps_the_datagrams() {
    let (reg, npi) = env();
    for_each_family(|f| {
        let (h, calls) = Scripted::new(vec![ReceiveFromOutcome::NotAccepted]);
        let a = bound(&npi, f.addr(0), None);
        let b = bound(&npi, f.addr(0), Some(h.clone()));
        let to = Some(b.local_addr().unwrap());
        b.enable_events(WSK_EVENT_RECEIVE_FROM).unwrap();
        ok(a.send_to(b"refused".to_vec(), to, vec![]));
        assert_eq!(recv(&calls, "the first indication"), 1);
        // Disabled: a new datagram is not indicated (the reactor saw it arrive).
        ok(a.send_to(b"later".to_vec(), to, vec![]));
        wait_until("the datagram in the host queue", || host_queued(&b) > 0);
        reactor_round_trip(&npi);
        assert_eq!(h.calls.load(Ordering::SeqCst), 1, "a refused dynamic event is disabled");
        assert_eq!(b.stats().queued, 1, "the refused datagram is kept");
        // The refused datagram comes first, then the next one.
        assert_eq!(ok(b.receive_from(64, 0)).data, b"refused");
        assert_eq!(ok(b.receive_from(64, 0)).data, b"later");
        // Enabled again: indications resume.
        b.enable_events(WSK_EVENT_RECEIVE_FROM).unwrap();
        ok(a.send_to(b"again".to_vec(), to, vec![]));
        assert_eq!(recv(&calls, "an indication after enabling again"), 2);
        assert_eq!(h.datagrams(), vec![b"refused".to_vec(), b"again".to_vec()]);
        ok(a.close());
        ok(b.close());
    });
    finish(reg, npi);
}

#[test]
fn not_accepted_keeps_a_static_event_enabled() {
    for_each_family(|f| {
        let (reg, npi) = env();
        npi.set_static_event_callbacks(WSK_EVENT_RECEIVE_FROM).unwrap();
        let (h, calls) = Scripted::new(vec![ReceiveFromOutcome::NotAccepted, ReceiveFromOutcome::NotAccepted]);
        let a = bound(&npi, f.addr(0), None);
        let b = bound(&npi, f.addr(0), Some(h.clone()));
        let to = Some(b.local_addr().unwrap());
        // Static: enabled from creation, without a call, and never disabled.
        assert_eq!(wait(b.disable_event(WSK_EVENT_RECEIVE_FROM)), Err(NtStatus::INVALID_PARAMETER));
        ok(a.send_to(b"one".to_vec(), to, vec![]));
        assert_eq!(recv(&calls, "the first indication"), 1);
        // Still enabled: the next datagram brings an indication, the refused one first.
        ok(a.send_to(b"two".to_vec(), to, vec![]));
        assert_eq!(recv(&calls, "the second indication"), 2);
        ok(a.send_to(b"three".to_vec(), to, vec![]));
        assert_eq!(recv(&calls, "the third indication"), 3);
        assert_eq!(*h.chains.lock().unwrap(), vec![1, 2, 3]);
        assert_eq!(
            h.datagrams(),
            [&b"one"[..], b"one", b"two", b"one", b"two", b"three"].iter().map(|d| d.to_vec()).collect::<Vec<_>>()
        );
        assert_eq!(b.stats().queued, 0, "accepted the third time");
        ok(a.close());
        ok(b.close());
        finish(reg, npi);
    });
}

#[test]
fn pending_receives_take_precedence_over_the_event() {
    let (reg, npi) = env();
    for_each_family(|f| {
        let (h, calls) = Scripted::new(vec![]);
        let a = bound(&npi, f.addr(0), None);
        let b = bound(&npi, f.addr(0), Some(h.clone()));
        let to = Some(b.local_addr().unwrap());
        b.enable_events(WSK_EVENT_RECEIVE_FROM).unwrap();
        let r1 = b.receive_from(64, 0);
        let r2 = b.receive_from(64, 0);
        ok(a.send_to(b"first".to_vec(), to, vec![]));
        ok(a.send_to(b"second".to_vec(), to, vec![]));
        assert_eq!(ok(r1).data, b"first", "FIFO");
        assert_eq!(ok(r2).data, b"second");
        assert_eq!(h.calls.load(Ordering::SeqCst), 0);
        ok(a.send_to(b"third".to_vec(), to, vec![]));
        assert_eq!(recv(&calls, "an indication once no receive is pending"), 1);
        assert_eq!(h.datagrams(), vec![b"third".to_vec()]);
        ok(a.close());
        ok(b.close());
    });
    finish(reg, npi);
}

#[test]
fn cancel_and_close_complete_pending_receives() {
    let (reg, npi) = env();
    for_each_family(|f| {
        let b = bound(&npi, f.addr(0), None);
        let r = b.receive_from(64, 0);
        assert!(r.cancel());
        assert_eq!(wait(r).map(|d| d.data), Err(NtStatus::CANCELLED));
        let (tx, rx) = mpsc::channel();
        let canceller = b
            .receive_from_then(Box::new(vec![0u8; 8]), 0, move |r, _| tx.send(r.map(|i| i.bytes)).unwrap())
            .expect("pending");
        assert!(canceller.cancel());
        assert_eq!(recv(&rx, "cancelled receive"), Err(NtStatus::CANCELLED));
        assert!(!canceller.cancel(), "already completed");

        // Close: pending receives complete with STATUS_CANCELLED before the close does.
        let log = Log::default();
        let watched: Vec<_> = (0..3)
            .map(|i| {
                let log = log.clone();
                watch(b.receive_from(64, 0), move || log.push(format!("receive {i}")))
            })
            .collect();
        let l = log.clone();
        let close = watch(b.close(), move || l.push("close"));
        close.wait().unwrap();
        for w in watched {
            assert_eq!(w.wait().map(|d| d.data), Err(NtStatus::CANCELLED));
        }
        assert_eq!(log.entries(), vec!["receive 0", "receive 1", "receive 2", "close"]);
    });
    finish(reg, npi);
}

#[test]
fn wrong_state_closed_handle_and_bad_sizes() {
    let (reg, npi) = env();
    for_each_family(|f| {
        let s = ok(npi.datagram_socket(f.addr(0), None));
        // Before bind.
        assert_eq!(err(s.send_to(b"x".to_vec(), Some(f.addr(9)), vec![])), NtStatus::INVALID_DEVICE_STATE);
        assert_eq!(err(s.receive_from(8, 0)), NtStatus::INVALID_DEVICE_STATE);
        assert_eq!(err(s.set_remote_address(Some(f.addr(9)))), NtStatus::INVALID_DEVICE_STATE);
        assert_eq!(err(s.set_sendto_address(Some(f.addr(9)))), NtStatus::INVALID_DEVICE_STATE);
        assert_eq!(s.enable_events(WSK_EVENT_RECEIVE_FROM), Err(NtStatus::INVALID_DEVICE_STATE));
        // Options are fine before bind.
        s.set_broadcast(false).unwrap();
        ok(s.bind(f.addr(0)));
        // Bad sizes and arguments.
        assert_eq!(
            err(s.send_to(vec![0u8; 70_000], Some(f.addr(9)), vec![])),
            NtStatus::BUFFER_OVERFLOW,
            "over 64 KiB"
        );
        assert_eq!(err(s.send_to(b"x".to_vec(), Some(f.other().addr(9)), vec![])), NtStatus::INVALID_PARAMETER);
        assert_eq!(s.set_receive_backlog_limit(0), Err(NtStatus::INVALID_PARAMETER));
        assert_eq!(
            s.enable_events(wsk::events::WSK_EVENT_RECEIVE),
            Err(NtStatus::INVALID_PARAMETER),
            "not a datagram event"
        );
        assert_eq!(s.set_option(SockOpt::NoDelay(true)), Err(NtStatus::INVALID_PARAMETER), "a TCP option");
        assert_eq!(s.set_option(SockOpt::ReuseAddress(true)), Err(NtStatus::INVALID_DEVICE_STATE), "after bind");
        let big = SockOpt::UdpSendMsgSize(70_000);
        assert!(s.set_option(big).is_err());
        ok(s.close());
        // Closed handle.
        assert_eq!(err(s.close()), NtStatus::INVALID_HANDLE);
        assert_eq!(err(s.bind(f.addr(0))), NtStatus::INVALID_HANDLE);
        assert_eq!(err(s.send_to(b"x".to_vec(), Some(f.addr(9)), vec![])), NtStatus::INVALID_HANDLE);
        assert_eq!(err(s.receive_from(8, 0)), NtStatus::INVALID_HANDLE);
        assert_eq!(
            err(s.send_messages(vec![Box::new(b"x".to_vec())], Some(f.addr(9)), vec![])),
            NtStatus::INVALID_HANDLE
        );
        assert_eq!(err(s.set_remote_address(None)), NtStatus::INVALID_HANDLE);
        assert_eq!(s.local_addr(), Err(NtStatus::INVALID_HANDLE));
        assert_eq!(s.set_broadcast(true), Err(NtStatus::INVALID_HANDLE));
        assert_eq!(s.enable_events(WSK_EVENT_RECEIVE_FROM), Err(NtStatus::INVALID_HANDLE));
        assert_eq!(s.set_receive_backlog_limit(1), Err(NtStatus::INVALID_HANDLE));
    });
    finish(reg, npi);
}

/// Retains every chain until told to stop, then accepts.
struct Hoarder {
    keep: Mutex<Option<mpsc::Sender<RetainedDatagrams>>>,
    accepted: AtomicUsize,
    max_held: AtomicUsize,
    socket: Mutex<Option<DatagramSocket>>,
    release_asap: AtomicUsize,
}

impl DatagramEvents for Hoarder {
    fn on_receive_from(&self, indication: Option<&mut DatagramIndication>, flags: EventFlags) -> ReceiveFromOutcome {
        let Some(ind) = indication else { return ReceiveFromOutcome::Accepted };
        if flags.release_asap() {
            self.release_asap.fetch_add(1, Ordering::SeqCst);
        }
        if let Some(s) = &*self.socket.lock().unwrap() {
            self.max_held.fetch_max(s.stats().held, Ordering::SeqCst);
        }
        match &*self.keep.lock().unwrap() {
            Some(tx) => {
                tx.send(ind.retain()).unwrap();
                ReceiveFromOutcome::Retained
            }
            None => {
                self.accepted.fetch_add(ind.len(), Ordering::SeqCst);
                ReceiveFromOutcome::Accepted
            }
        }
    }
}

#[test]
fn retained_datagrams_bound_memory_and_host_drops_are_counted() {
    let (reg, npi) = env();
    for_each_family(|f| {
        const LIMIT: usize = 64 * 1024;
        const SIZE: usize = 1000;
        const SENT: usize = 3000;
        let (tx, rx) = mpsc::channel();
        let h = Arc::new(Hoarder {
            keep: Mutex::new(Some(tx)),
            accepted: AtomicUsize::new(0),
            max_held: AtomicUsize::new(0),
            socket: Mutex::new(None),
            release_asap: AtomicUsize::new(0),
        });
        let b = bound(&npi, f.addr(0), Some(h.clone()));
        *h.socket.lock().unwrap() = Some(b.clone());
        b.set_receive_backlog_limit(LIMIT).unwrap();
        // A small host queue, so the host drops early.
        b.set_option(SockOpt::ReceiveBuffer(64 * 1024)).unwrap();
        b.enable_events(WSK_EVENT_RECEIVE_FROM).unwrap();
        let sender = StdUdp::bind(f.addr(0)).unwrap();
        let to = b.local_addr().unwrap();
        for i in 0..SENT {
            sender.send_to(&pattern(SIZE, i as u32), to).unwrap();
        }
        // Everything the provider took while retaining stays under the limit.
        wait_until("the host queue to stop draining", || host_queued(&b) > 0);
        reactor_round_trip(&npi);
        let mut held = Vec::new();
        while let Ok(c) = rx.try_recv() {
            held.push(c);
        }
        let stats = b.stats();
        let retained: usize = held.iter().map(RetainedDatagrams::len).sum();
        assert!(retained > 0);
        assert!(stats.held <= LIMIT + BUFFER_SIZE, "held {} over the limit {LIMIT}", stats.held);
        assert!(stats.high_water <= LIMIT + BUFFER_SIZE, "high water {}", stats.high_water);
        assert!(h.max_held.load(Ordering::SeqCst) <= LIMIT + BUFFER_SIZE);
        assert!(h.release_asap.load(Ordering::SeqCst) > 0, "WSK_FLAG_RELEASE_ASAP once short of buffers");
        assert!((retained as u64) < SENT as u64, "the provider stopped reading");
        // Released, the provider reads on; accepted from now on.
        *h.keep.lock().unwrap() = None;
        drop(held);
        while let Ok(c) = rx.try_recv() {
            drop(c);
        }
        let marker = b"marker";
        sender.send_to(marker, to).unwrap();
        wait_until("the queue drained after the release", || {
            let s = b.stats();
            s.received as usize == retained + h.accepted.load(Ordering::SeqCst) && host_queued(&b) == 0 && s.held == 0
        });
        let stats = b.stats();
        eprintln!(
            "retained {retained} datagrams at most; high water {} B (limit {LIMIT}); received {}, host drops {}",
            stats.high_water, stats.received, stats.host_drops
        );
        assert!(stats.host_drops > 0, "the host dropped datagrams and the provider counted them");
        assert_eq!(
            stats.received + stats.host_drops,
            SENT as u64 + 1,
            "every datagram was either received or counted as dropped by the host"
        );
        *h.socket.lock().unwrap() = None;
        ok(b.close());
    });
    finish(reg, npi);
}

#[test]
fn deregistration_waits_for_datagram_sockets() {
    let (reg, npi) = env();
    let s = bound(&npi, Family::V6.addr(0), None);
    let pending = s.receive_from(8, 0);
    drop(npi);
    let (tx, rx) = mpsc::channel();
    let t = thread::spawn(move || {
        tx.send(gettid()).unwrap();
        reg.deregister();
    });
    wait_blocked(recv(&rx, "the deregistering thread"));
    assert!(!t.is_finished(), "WskDeregister waits for the open datagram socket");
    ok(s.close());
    assert_eq!(wait(pending).map(|d| d.data), Err(NtStatus::CANCELLED));
    t.join().unwrap();
}

#[test]
fn a_dead_socket_is_indicated_once_with_no_datagrams() {
    let (faults, provider) = FaultyUdp::provider();
    let reg = wsk::Registration::with_provider(&provider, 0x0100).unwrap();
    let npi = reg.capture(wsk::Wait::NoWait).unwrap();
    let (h, calls) = Scripted::new(vec![]);
    let a = bound(&npi, Family::V4.addr(0), None);
    let b = bound(&npi, Family::V4.addr(0), Some(h.clone()));
    b.enable_events(WSK_EVENT_RECEIVE_FROM).unwrap();
    ok(a.send_to(b"alive".to_vec(), Some(b.local_addr().unwrap()), vec![]));
    assert_eq!(recv(&calls, "an indication"), 1);
    faults.socket(1).broken.store(true, Ordering::SeqCst);
    ok(a.send_to(b"dead".to_vec(), Some(b.local_addr().unwrap()), vec![]));
    assert_eq!(recv(&calls, "the NULL indication"), 2);
    assert_eq!(h.dead.load(Ordering::SeqCst), 1);
    ok(a.send_to(b"more".to_vec(), Some(b.local_addr().unwrap()), vec![]));
    reactor_round_trip(&npi);
    assert_eq!(h.calls.load(Ordering::SeqCst), 2, "the NULL indication comes once");
    // Receives fail with the socket's failure (EBADF: STATUS_INVALID_HANDLE).
    assert_eq!(err(b.receive_from(8, 0)), NtStatus::INVALID_HANDLE);
    ok(a.close());
    ok(b.close());
    drop(npi);
    reg.deregister_timeout(WAIT).map_err(|(_, c)| c).unwrap();
}

/// A backend that keeps the trait's default `udp_socket`.
struct NoDatagrams(wsk_host::HostBackend);

impl wsk::backend::Backend for NoDatagrams {
    fn tcp_listen(
        &self,
        addr: SocketAddr,
        options: &wsk::backend::ListenOptions,
    ) -> std::io::Result<Box<dyn wsk::backend::TcpListener>> {
        self.0.tcp_listen(addr, options)
    }
    fn tcp_socket(&self, family_of: &SocketAddr) -> std::io::Result<Box<dyn wsk::backend::TcpStream>> {
        self.0.tcp_socket(family_of)
    }
    fn poll(
        &self,
        events: &mut Vec<(wsk::backend::Token, wsk::backend::Readiness)>,
        timeout: Option<std::time::Duration>,
    ) -> std::io::Result<()> {
        self.0.poll(events, timeout)
    }
    fn wake(&self) {
        self.0.wake()
    }
}

#[test]
fn a_backend_without_datagrams_says_not_supported() {
    let provider =
        wsk::Provider::with_backend(Box::new(NoDatagrams(wsk_host::HostBackend::new().unwrap())), true).unwrap();
    let reg = wsk::Registration::with_provider(&provider, 0x0100).unwrap();
    let npi = reg.capture(wsk::Wait::NoWait).unwrap();
    assert_eq!(err(npi.datagram_socket(Family::V4.addr(0), None)), NtStatus::NOT_SUPPORTED);
    assert_eq!(reg.outstanding(), (0, 1), "no socket was counted");
    drop(npi);
    reg.deregister_timeout(WAIT).map_err(|(_, c)| c).unwrap();
}

#[test]
fn disabling_the_event_stops_indications() {
    let (reg, npi) = env();
    for_each_family(|f| {
        let (h, calls) = Scripted::new(vec![]);
        let a = bound(&npi, f.addr(0), None);
        let b = bound(&npi, f.addr(0), Some(h.clone()));
        let to = Some(b.local_addr().unwrap());
        b.enable_events(WSK_EVENT_RECEIVE_FROM).unwrap();
        ok(a.send_to(b"on".to_vec(), to, vec![]));
        assert_eq!(recv(&calls, "an indication"), 1);
        // With an IRP: completes once the callback (which may still be returning) is done.
        ok(b.disable_event(WSK_EVENT_RECEIVE_FROM));
        ok(a.send_to(b"off".to_vec(), to, vec![]));
        wait_until("the datagram in the host queue", || host_queued(&b) > 0);
        reactor_round_trip(&npi);
        assert_eq!(h.calls.load(Ordering::SeqCst), 1, "no indication while disabled");
        assert_eq!(ok(b.receive_from(8, 0)).data, b"off");
        // Without an IRP, with no callback running: STATUS_SUCCESS at once.
        b.enable_events(WSK_EVENT_RECEIVE_FROM).unwrap();
        assert_eq!(b.disable_event_nowait(WSK_EVENT_RECEIVE_FROM), NtStatus::SUCCESS);
        assert_eq!(b.disable_event_nowait(wsk::events::WSK_EVENT_ACCEPT), NtStatus::INVALID_PARAMETER);
        ok(a.close());
        ok(b.close());
    });
    finish(reg, npi);
}

/// Sends every datagram back to its sender from the callback, zero-copy: the retained
/// datagram's buffer is the send buffer, released when the send completes.
struct Echo {
    socket: Mutex<Option<DatagramSocket>>,
}

impl DatagramEvents for Echo {
    fn on_receive_from(&self, indication: Option<&mut DatagramIndication>, _: EventFlags) -> ReceiveFromOutcome {
        let Some(ind) = indication else { return ReceiveFromOutcome::Accepted };
        let Some(socket) = self.socket.lock().unwrap().clone() else { return ReceiveFromOutcome::Accepted };
        for d in ind.retain().into_datagrams() {
            let to = d.remote();
            socket.send_to_then(Box::new(d.into_buffer()), Some(to), vec![], |r| assert!(r.is_ok(), "{r:?}"));
        }
        ReceiveFromOutcome::Retained
    }
}

#[test]
fn a_callback_echoes_retained_datagrams_zero_copy() {
    let (reg, npi) = env();
    for_each_family(|f| {
        let echo = Arc::new(Echo { socket: Mutex::new(None) });
        let server = bound(&npi, f.any(0), Some(echo.clone()));
        *echo.socket.lock().unwrap() = Some(server.clone());
        server.enable_events(WSK_EVENT_RECEIVE_FROM).unwrap();
        let to = f.addr(server.local_addr().unwrap().port());
        let client = StdUdp::bind(f.addr(0)).unwrap();
        client.set_read_timeout(Some(WAIT)).unwrap();
        let mut buf = [0u8; 2048];
        for i in 0..50u32 {
            let payload = pattern(1 + (i as usize * 29) % 1400, i);
            client.send_to(&payload, to).unwrap();
            let (n, from) = client.recv_from(&mut buf).expect("the echo");
            assert_eq!((&buf[..n], from), (&payload[..], to));
        }
        wait_until("echo buffers released", || server.stats().held == 0);
        *echo.socket.lock().unwrap() = None;
        ok(server.close());
    });
    finish(reg, npi);
}

#[test]
fn icmp_reports_fail_later_sends_but_not_receives() {
    let (reg, npi) = env();
    for_each_family(|f| {
        let a = bound(&npi, f.addr(0), None);
        let b = bound(&npi, f.addr(0), None);
        // A port nobody listens on.
        let gone = bound(&npi, f.addr(0), None);
        let dead = gone.local_addr().unwrap();
        ok(gone.close());
        ok(b.set_remote_address(Some(dead)));
        let pending = b.receive_from(16, 0);
        // The host answers a datagram with ICMP port unreachable; a later send reports it.
        // The kernel rate-limits ICMP errors host-wide (other tests provoke them too), so
        // the sends are paced and go on until one is refused, within the tests' bound.
        let deadline = std::time::Instant::now() + WAIT;
        let refused = loop {
            if let Err(s) = wait(b.send_to(b"anyone?".to_vec(), None, vec![])) {
                break s;
            }
            assert!(std::time::Instant::now() < deadline, "no ICMP report within {WAIT:?}");
            thread::sleep(std::time::Duration::from_millis(2));
        };
        assert_eq!(refused, NtStatus::CONNECTION_REFUSED);
        // The pending receive was not failed by the report: it gets the next datagram.
        ok(b.set_remote_address(Some(a.local_addr().unwrap())));
        ok(a.send_to(b"here".to_vec(), Some(b.local_addr().unwrap()), vec![]));
        let d = ok(pending);
        assert_eq!((d.data.as_slice(), d.info.remote), (&b"here"[..], a.local_addr().unwrap()));
        ok(a.close());
        ok(b.close());
    });
    finish(reg, npi);
}

/// What a test makes one UDP socket of [`FaultyUdp`] do.
#[derive(Default)]
struct Faults {
    /// Receives fail with `EBADF` (the socket died).
    broken: AtomicBool,
    /// Sends meet a full buffer (`EAGAIN`).
    full: AtomicBool,
}

/// The host backend, except that each UDP socket (in creation order) has [`Faults`] the
/// test sets; `watch_writable` calls are recorded, and a socket is reported writable when
/// the test asks. The test keeps the `Arc` ([`FaultyUdp::provider`]), the provider a clone.
struct FaultyUdp {
    host: wsk_host::HostBackend,
    sockets: Mutex<Vec<Arc<Faults>>>,
    watched: Arc<Mutex<Vec<(wsk::backend::Token, bool)>>>,
    writable: Mutex<Option<wsk::backend::Token>>,
}

/// The provider's side of a [`FaultyUdp`].
struct Shared(Arc<FaultyUdp>);

impl FaultyUdp {
    /// The test's handle on the faults, and a provider over them.
    fn provider() -> (Arc<FaultyUdp>, wsk::Provider) {
        let faults = Arc::new(FaultyUdp {
            host: wsk_host::HostBackend::new().unwrap(),
            sockets: Mutex::default(),
            watched: Arc::default(),
            writable: Mutex::default(),
        });
        let provider = wsk::Provider::with_backend(Box::new(Shared(faults.clone())), true).unwrap();
        (faults, provider)
    }

    fn socket(&self, i: usize) -> Arc<Faults> {
        self.sockets.lock().unwrap()[i].clone()
    }
}

struct FaultySocket {
    inner: Box<dyn wsk::backend::UdpSocket>,
    faults: Arc<Faults>,
    watched: Arc<Mutex<Vec<(wsk::backend::Token, bool)>>>,
}

impl FaultySocket {
    fn fail_if(&self, fault: &AtomicBool, e: std::io::Error) -> std::io::Result<()> {
        if fault.load(Ordering::SeqCst) {
            return Err(e);
        }
        Ok(())
    }
}

impl wsk::backend::Backend for Shared {
    fn tcp_listen(
        &self,
        addr: SocketAddr,
        options: &wsk::backend::ListenOptions,
    ) -> std::io::Result<Box<dyn wsk::backend::TcpListener>> {
        self.0.host.tcp_listen(addr, options)
    }
    fn tcp_socket(&self, family_of: &SocketAddr) -> std::io::Result<Box<dyn wsk::backend::TcpStream>> {
        self.0.host.tcp_socket(family_of)
    }
    fn udp_socket(&self, family_of: &SocketAddr) -> std::io::Result<Box<dyn wsk::backend::UdpSocket>> {
        let faults = Arc::new(Faults::default());
        self.0.sockets.lock().unwrap().push(faults.clone());
        let inner = self.0.host.udp_socket(family_of)?;
        Ok(Box::new(FaultySocket { inner, faults, watched: self.0.watched.clone() }))
    }
    fn poll(
        &self,
        events: &mut Vec<(wsk::backend::Token, wsk::backend::Readiness)>,
        timeout: Option<std::time::Duration>,
    ) -> std::io::Result<()> {
        self.0.host.poll(events, timeout)?;
        if let Some(token) = self.0.writable.lock().unwrap().take() {
            events.push((token, wsk::backend::Readiness { writable: true, ..Default::default() }));
        }
        Ok(())
    }
    fn wake(&self) {
        self.0.host.wake()
    }
}

impl wsk::backend::OptionSocket for FaultySocket {
    fn set_option(&self, option: &wsk::SockOpt) -> std::io::Result<()> {
        self.inner.set_option(option)
    }
    fn get_option(&self, name: wsk::OptName) -> std::io::Result<wsk::SockOpt> {
        self.inner.get_option(name)
    }
}

impl wsk::backend::UdpSocket for FaultySocket {
    fn bind(&self, addr: SocketAddr) -> std::io::Result<()> {
        self.inner.bind(addr)
    }
    fn register(&self, token: wsk::backend::Token) -> std::io::Result<()> {
        self.inner.register(token)
    }
    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }
    fn connect(&self, addr: SocketAddr) -> std::io::Result<()> {
        self.inner.connect(addr)
    }
    fn disconnect(&self) -> std::io::Result<()> {
        self.inner.disconnect()
    }
    fn send_to(
        &self,
        bufs: &[std::io::IoSlice<'_>],
        to: Option<SocketAddr>,
        control: &[ControlMessage],
    ) -> std::io::Result<usize> {
        self.fail_if(&self.faults.full, std::io::ErrorKind::WouldBlock.into())?;
        self.inner.send_to(bufs, to, control)
    }
    fn send_batch(
        &self,
        datagrams: &[&[std::io::IoSlice<'_>]],
        to: Option<SocketAddr>,
        control: &[ControlMessage],
    ) -> std::io::Result<usize> {
        self.fail_if(&self.faults.full, std::io::ErrorKind::WouldBlock.into())?;
        self.inner.send_batch(datagrams, to, control)
    }
    fn recv_from(&self, buf: &mut [u8]) -> std::io::Result<wsk::backend::Datagram> {
        self.fail_if(&self.faults.broken, std::io::Error::from_raw_os_error(libc::EBADF))?;
        self.inner.recv_from(buf)
    }
    fn take_error(&self) -> std::io::Result<Option<std::io::Error>> {
        self.inner.take_error()
    }
    fn raw_fd(&self) -> i32 {
        self.inner.raw_fd()
    }
    fn watch_writable(&self, token: wsk::backend::Token, on: bool) -> std::io::Result<()> {
        self.watched.lock().unwrap().push((token, on));
        self.inner.watch_writable(token, on)
    }
}

/// A send that meets a full host buffer waits for the socket's writable report — asked
/// for then, and only then (a UDP socket is registered for reads) — and goes out after it.
#[test]
fn a_send_meeting_a_full_buffer_waits_for_room() {
    let (faults, provider) = FaultyUdp::provider();
    let watched = faults.watched.clone();
    let reg = wsk::Registration::with_provider(&provider, 0x0100).unwrap();
    let npi = reg.capture(wsk::Wait::NoWait).unwrap();
    let a = bound(&npi, Family::V4.addr(0), None);
    let b = bound(&npi, Family::V4.addr(0), None);
    ok(a.send_to(b"first".to_vec(), Some(b.local_addr().unwrap()), vec![]));
    assert!(watched.lock().unwrap().is_empty(), "no writable reports while sends go through");

    faults.socket(0).full.store(true, Ordering::SeqCst);
    let (tx, rx) = mpsc::channel();
    a.send_to_then(Box::new(b"second".to_vec()), Some(b.local_addr().unwrap()), vec![], move |r| tx.send(r).unwrap());
    wait_until("the socket watched for room", || watched.lock().unwrap().iter().any(|&(_, on)| on));
    let token = watched.lock().unwrap()[0].0;
    assert!(rx.try_recv().is_err(), "the send waits");

    faults.socket(0).full.store(false, Ordering::SeqCst);
    *faults.writable.lock().unwrap() = Some(token);
    wsk::backend::Backend::wake(&faults.host);
    assert_eq!(recv(&rx, "the send after the writable report"), Ok(6));
    let first = b.receive_from(16, 0);
    assert_eq!(ok(first).data, b"first");
    assert_eq!(ok(b.receive_from(16, 0)).data, b"second");
    wait_until("writable reports off again", || watched.lock().unwrap().last() == Some(&(token, false)));
    ok(a.close());
    ok(b.close());
    drop(npi);
    reg.deregister_timeout(WAIT).map_err(|(_, c)| c).unwrap();
}

/// Records whether it was called after `disabled` was set.
struct Late {
    disabled: Arc<AtomicBool>,
    calls: AtomicUsize,
    late: AtomicUsize,
}

impl DatagramEvents for Late {
    fn on_receive_from(&self, _: Option<&mut DatagramIndication>, _: EventFlags) -> ReceiveFromOutcome {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.disabled.load(Ordering::SeqCst) {
            self.late.fetch_add(1, Ordering::SeqCst);
        }
        ReceiveFromOutcome::Accepted
    }
}

/// An indication queued on the reactor while a client thread runs a completion routine of
/// the same socket: disabling the event then answers STATUS_EVENT_PENDING (the callback
/// is as good as running), and once it said STATUS_SUCCESS no callback comes.
#[test]
fn no_callback_after_disable_returned_success() {
    let (reg, npi) = env();
    let disabled = Arc::new(AtomicBool::new(false));
    let h = Arc::new(Late { disabled: disabled.clone(), calls: AtomicUsize::new(0), late: AtomicUsize::new(0) });
    let a = bound(&npi, Family::V4.addr(0), None);
    let b = bound(&npi, Family::V4.addr(0), Some(h.clone()));
    b.enable_events(WSK_EVENT_RECEIVE_FROM).unwrap();
    let to_b = b.local_addr().unwrap();
    let to_a = a.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    let (b2, a2, dis) = (b.clone(), a.clone(), disabled.clone());
    // The completion runs inline on this (client) thread, with the socket "delivering".
    b.send_to_then(Box::new(b"x".to_vec()), Some(to_a), vec![], move |r| {
        r.unwrap();
        // A datagram for b arrives; the reactor reads it and queues the indication
        // (it cannot deliver it: this thread is delivering).
        a2.send_to(b"late".to_vec(), Some(to_b), vec![]).wait().unwrap();
        wait_until("the reactor to read the datagram", || b2.stats().received == 1);
        let st = b2.disable_event_nowait(WSK_EVENT_RECEIVE_FROM);
        dis.store(true, Ordering::SeqCst);
        tx.send(st).unwrap();
    });
    let st = recv(&rx, "the disable status");
    // The reactor read the datagram and queued its indication: a callback is on its way.
    assert_eq!(st, NtStatus::EVENT_PENDING);
    // Let the reactor go through what it has.
    let r = a.receive_from(8, 0);
    assert_eq!(ok(r).data, b"x");
    let c = bound(&npi, Family::V4.addr(0), None);
    let d = bound(&npi, Family::V4.addr(0), None);
    let rr = d.receive_from(8, 0);
    ok(c.send_to(b"sync".to_vec(), Some(d.local_addr().unwrap()), vec![]));
    ok(rr);
    // The queued callback ran (once) after the disable, as STATUS_EVENT_PENDING announced.
    assert_eq!(h.calls.load(Ordering::SeqCst), 1);
    for s in [a, b, c, d] {
        ok(s.close());
    }
    finish(reg, npi);
}

/// Panics on its first indication.
struct Panicky {
    calls: AtomicUsize,
}

impl DatagramEvents for Panicky {
    fn on_receive_from(&self, _: Option<&mut DatagramIndication>, _: EventFlags) -> ReceiveFromOutcome {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("client bug");
        }
        ReceiveFromOutcome::Accepted
    }
}

/// After a handler panicked (reported, "delivery goes on"), the socket still receives: the
/// panic counts as STATUS_DATA_NOT_ACCEPTED (the datagram stays for a receive).
#[test]
fn a_panicking_handler_does_not_wedge_the_socket() {
    let (reg, npi) = env();
    let h = Arc::new(Panicky { calls: AtomicUsize::new(0) });
    let a = bound(&npi, Family::V4.addr(0), None);
    let b = bound(&npi, Family::V4.addr(0), Some(h.clone()));
    b.enable_events(WSK_EVENT_RECEIVE_FROM).unwrap();
    let to = Some(b.local_addr().unwrap());
    ok(a.send_to(b"boom".to_vec(), to, vec![]));
    wait_until("the first indication", || h.calls.load(Ordering::SeqCst) == 1);
    // Not accepted: a dynamic event is disabled (disabling again is harmless).
    let _ = b.disable_event_nowait(WSK_EVENT_RECEIVE_FROM);
    assert_eq!(ok(b.receive_from(16, 0)).data, b"boom", "the datagram the handler did not take");
    let r = b.receive_from(16, 0);
    ok(a.send_to(b"after".to_vec(), to, vec![]));
    assert_eq!(ok(r).data, b"after");
    for s in [a, b] {
        ok(s.close());
    }
    finish(reg, npi);
}

/// An IPv4 broadcast received on a dual-stack IPv6 socket carries MSG_BCAST, as on an IPv4 one.
#[test]
fn dual_stack_socket_reports_ipv4_broadcast() {
    use std::net::{Ipv4Addr, SocketAddr};
    use wsk::flags::MSG_BCAST;
    use wsk::{SockOpt, SocketControl};
    let (reg, npi) = env();
    let a = bound(&npi, Family::V4.any(0), None);
    let any6: SocketAddr = "[::]:0".parse().unwrap();
    let b = ok(npi.datagram_socket(any6, None));
    b.set_option(SockOpt::V6Only(false)).unwrap();
    ok(b.bind(any6));
    a.set_broadcast(true).unwrap();
    let to = SocketAddr::new(Ipv4Addr::new(127, 255, 255, 255).into(), b.local_addr().unwrap().port());
    let r = b.receive_from(16, 64);
    match wait(a.send_to(b"all".to_vec(), Some(to), vec![])) {
        Ok(_) => {
            let d = ok(r);
            eprintln!("remote {} flags {:#x}", d.info.remote, d.info.flags);
            assert_eq!(d.info.flags & MSG_BCAST, MSG_BCAST, "flags {:#x}", d.info.flags);
        }
        Err(s) => {
            eprintln!("skipped: {s}");
            r.cancel();
        }
    }
    ok(a.close());
    ok(b.close());
    finish(reg, npi);
}
