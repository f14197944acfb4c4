//! Calls in the wrong state or with bad arguments: each completes with its documented
//! status, without a panic or a hang. Also the edge sizes of sends (0 bytes, 64 MiB).

mod common;

use std::sync::mpsc;
use std::thread;

use common::*;
use wsk::events::{
    WSK_EVENT_ACCEPT, WSK_EVENT_DISABLE, WSK_EVENT_DISCONNECT, WSK_EVENT_RECEIVE, WSK_EVENT_RECEIVE_FROM,
    WSK_EVENT_SEND_BACKLOG,
};
use wsk::flags::{WSK_FLAG_ABORTIVE, WSK_FLAG_DRAIN, WSK_FLAG_NODELAY, WSK_FLAG_OOB, WSK_FLAG_WAITALL};
use wsk::NtStatus;

const DEVICE_STATE: NtStatus = NtStatus::INVALID_DEVICE_STATE;
const PARAMETER: NtStatus = NtStatus::INVALID_PARAMETER;

#[test]
fn calls_in_the_wrong_state() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let target = std::net::TcpListener::bind(family.addr(0)).unwrap();
        let created = ok(npi.connection_socket(family.addr(0), None));
        let bound = ok(npi.connection_socket(family.addr(0), None));
        ok(bound.bind(family.addr(0)));
        assert_eq!(err(created.connect(target.local_addr().unwrap())), DEVICE_STATE, "connect before bind");
        for (name, s) in [("created", &created), ("bound", &bound)] {
            assert_eq!(err(s.send(b"x".to_vec(), 0)), DEVICE_STATE, "send on a {name} socket");
            assert_eq!(err(s.receive(1, 0)), DEVICE_STATE, "receive on a {name} socket");
            assert_eq!(err(s.receive(0, 0)), DEVICE_STATE, "zero-length receive on a {name} socket");
            assert_eq!(err(s.disconnect(None, 0)), DEVICE_STATE, "disconnect on a {name} socket");
            assert_eq!(err(s.disconnect(None, WSK_FLAG_ABORTIVE)), DEVICE_STATE, "abortive on a {name} socket");
            assert_eq!(s.enable_events(WSK_EVENT_RECEIVE).err(), Some(DEVICE_STATE), "enable_events on {name}");
            assert_eq!(s.remote_addr().err(), Some(DEVICE_STATE), "remote_addr on {name}");
        }
        let l = ok(npi.listen_socket(family.addr(0), None));
        assert_eq!(err(l.accept(None)), DEVICE_STATE, "accept on an unbound listener");
        assert_eq!(l.enable_events(WSK_EVENT_ACCEPT).err(), Some(DEVICE_STATE), "enable_events before bind");
        assert_eq!(l.local_addr().err(), Some(DEVICE_STATE));
        // The rejected calls left every socket usable.
        ok(l.bind(family.addr(0)));
        l.enable_events(WSK_EVENT_ACCEPT).unwrap();
        ok(bound.connect(target.local_addr().unwrap()));
        bound.enable_events(WSK_EVENT_RECEIVE).unwrap();
        for s in [created, bound] {
            ok(s.close());
        }
        ok(l.close());
    });
    finish(reg, npi);
}

#[test]
fn bad_flags() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, mut peer) = std_pair(&npi, family, None);
        for flags in [0x4, 0x8, 0x100, 0x8000_0000] {
            assert_eq!(err(client.send(b"x".to_vec(), flags)), PARAMETER, "send flags {flags:#x}");
        }
        assert_eq!(err(client.send(b"x".to_vec(), WSK_FLAG_OOB)), NtStatus::NOT_SUPPORTED, "WSK_FLAG_OOB");
        assert_eq!(
            err(client.send(b"x".to_vec(), WSK_FLAG_OOB | WSK_FLAG_NODELAY)),
            NtStatus::NOT_SUPPORTED,
            "OOB|NODELAY"
        );
        for flags in [0x1, 0x8, 0x100, 0x8000_0000] {
            assert_eq!(err(client.receive(4, flags)), PARAMETER, "receive flags {flags:#x}");
        }
        assert_eq!(err(client.receive(0, WSK_FLAG_WAITALL | WSK_FLAG_DRAIN)), PARAMETER, "WAITALL|DRAIN");
        assert_eq!(err(client.receive(4, WSK_FLAG_WAITALL | WSK_FLAG_DRAIN)), PARAMETER, "WAITALL|DRAIN, 4 bytes");
        assert_eq!(err(client.receive(1, WSK_FLAG_DRAIN)), PARAMETER, "DRAIN with a buffer");
        for flags in [0x2, 0x4, 0x100] {
            assert_eq!(err(client.disconnect(None, flags)), PARAMETER, "disconnect flags {flags:#x}");
        }
        assert_eq!(
            err(client.disconnect(Some(Box::new(b"x".to_vec())), WSK_FLAG_ABORTIVE)),
            PARAMETER,
            "abortive disconnect with a buffer"
        );
        // None of it touched the connection: data still flows both ways, in order.
        assert_eq!(ok(client.send(b"fine".to_vec(), 0)), 4);
        assert_eq!(peer_read_exact(&mut peer, 4), b"fine");
        std::io::Write::write_all(&mut peer, b"also fine").unwrap();
        assert_eq!(ok(client.receive(9, WSK_FLAG_WAITALL)), b"also fine");
        ok(client.close());
    });
    finish(reg, npi);
}

#[test]
fn zero_length_send_completes_with_zero() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, mut peer) = std_pair(&npi, family, None);
        assert_eq!(ok(client.send(Vec::new(), 0)), 0);
        assert_eq!(ok(client.send(Vec::new(), WSK_FLAG_NODELAY)), 0);
        // Between two real sends it keeps its place.
        let a = client.send(b"a".to_vec(), 0);
        let z = client.send(Vec::new(), 0);
        let b = client.send(b"b".to_vec(), 0);
        assert_eq!((ok(a), ok(z), ok(b)), (1, 0, 1));
        assert_eq!(peer_read_exact(&mut peer, 2), b"ab");
        ok(client.close());
    });
    finish(reg, npi);
}

#[test]
fn large_send_completes_with_its_full_length() {
    const LEN: usize = 64 * 1024 * 1024;
    let (reg, npi) = env();
    let (client, mut peer) = std_pair(&npi, Family::V4, None);
    let data: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
    let reader = thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0usize;
        let mut mismatch = None;
        while total < LEN {
            let n = std::io::Read::read(&mut peer, &mut buf).expect("peer read");
            assert!(n > 0, "EOF after {total} bytes");
            if mismatch.is_none() {
                if let Some(i) = (0..n).find(|&i| buf[i] != ((total + i) % 251) as u8) {
                    mismatch = Some(total + i);
                }
            }
            total += n;
        }
        (total, mismatch)
    });
    assert_eq!(ok(client.send(data, 0)), LEN);
    let (total, mismatch) = reader.join().unwrap();
    assert_eq!(total, LEN);
    assert_eq!(mismatch, None, "the peer received a wrong byte");
    ok(client.close());
    finish(reg, npi);
}

#[test]
fn event_masks_that_do_not_fit_the_category() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, server) = wsk_pair(&npi, family, None, None);
        let l = listener(&npi, family, None);
        for (name, mask) in [
            ("ACCEPT", WSK_EVENT_ACCEPT),
            ("RECEIVE_FROM", WSK_EVENT_RECEIVE_FROM),
            ("RECEIVE|ACCEPT", WSK_EVENT_RECEIVE | WSK_EVENT_ACCEPT),
            ("unknown bit", 0x1000),
            ("empty", 0),
        ] {
            assert_eq!(client.enable_events(mask).err(), Some(PARAMETER), "{name} on a connection socket");
        }
        for (name, mask) in [("RECEIVE_FROM", WSK_EVENT_RECEIVE_FROM), ("unknown bit", 0x1000), ("empty", 0)] {
            assert_eq!(l.enable_events(mask).err(), Some(PARAMETER), "{name} on a listener");
        }
        // Valid masks still work after the refusals.
        client.enable_events(WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT | WSK_EVENT_SEND_BACKLOG).unwrap();
        l.enable_events(WSK_EVENT_ACCEPT).unwrap();
        for s in [client, server] {
            ok(s.close());
        }
        ok(l.close());
    });
    finish(reg, npi);
}

#[test]
fn disable_requests_must_name_one_enabled_capable_bit() {
    let (reg, npi) = env();
    for_each_family(|family| {
        let (client, server) = wsk_pair(&npi, family, None, None);
        client.enable_events(WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT).unwrap();
        assert_eq!(err(client.disable_event(WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT)), PARAMETER, "two bits");
        assert_eq!(client.disable_event_nowait(WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT), PARAMETER, "two bits");
        assert_eq!(err(client.disable_event(0)), PARAMETER, "no bit");
        assert_eq!(err(client.disable_event(WSK_EVENT_DISABLE)), PARAMETER, "the disable bit alone");
        assert_eq!(err(client.disable_event(WSK_EVENT_ACCEPT)), PARAMETER, "a bit of another category");
        // One bit at a time works.
        ok(client.disable_event(WSK_EVENT_RECEIVE));
        assert_eq!(client.disable_event_nowait(WSK_EVENT_DISCONNECT), NtStatus::SUCCESS);
        for s in [client, server] {
            ok(s.close());
        }
    });
    finish(reg, npi);
}

#[test]
fn static_callbacks_cannot_be_disabled() {
    let (reg, npi) = env();
    assert_eq!(npi.set_static_event_callbacks(0), Err(PARAMETER), "empty mask");
    assert_eq!(npi.set_static_event_callbacks(0x1000), Err(PARAMETER), "unknown bit");
    npi.set_static_event_callbacks(WSK_EVENT_RECEIVE | WSK_EVENT_ACCEPT).unwrap();
    for_each_family(|family| {
        let (client, server) = wsk_pair(&npi, family, None, None);
        let l = listener(&npi, family, None);
        assert_eq!(err(client.disable_event(WSK_EVENT_RECEIVE)), PARAMETER, "static RECEIVE");
        assert_eq!(client.disable_event_nowait(WSK_EVENT_RECEIVE), PARAMETER, "static RECEIVE, no IRP");
        assert_eq!(err(server.disable_event(WSK_EVENT_RECEIVE)), PARAMETER, "static RECEIVE on an accepted socket");
        assert_eq!(err(l.disable_event(WSK_EVENT_ACCEPT)), PARAMETER, "static ACCEPT");
        // Non-static ones still can be.
        client.enable_events(WSK_EVENT_DISCONNECT).unwrap();
        ok(client.disable_event(WSK_EVENT_DISCONNECT));
        for s in [client, server] {
            ok(s.close());
        }
        ok(l.close());
    });
    finish(reg, npi);
}

#[test]
fn completion_routines_see_synchronous_failures() {
    // A synchronous failure still completes the "IRP": the closure runs exactly once.
    let (reg, npi) = env();
    let s = ok(npi.connection_socket(Family::V4.addr(0), None));
    let (tx, rx) = mpsc::channel();
    let (t1, t2, t3) = (tx.clone(), tx.clone(), tx);
    s.send_then(Box::new(b"x".to_vec()), WSK_FLAG_OOB, move |r| t1.send(("send", r.map(drop))).unwrap());
    s.receive_then(Box::new(vec![0u8; 1]), 0x100, move |r, _| t2.send(("receive", r.map(drop))).unwrap());
    s.connect_then(Family::V4.addr(1), move |r| t3.send(("connect", r)).unwrap());
    let mut got: Vec<_> = (0..3).map(|_| recv(&rx, "a completion")).collect();
    got.sort_by_key(|(name, _)| *name);
    assert_eq!(
        got,
        [("connect", Err(DEVICE_STATE)), ("receive", Err(PARAMETER)), ("send", Err(NtStatus::NOT_SUPPORTED))]
    );
    // Every completion routine was consumed (none is kept for later).
    assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Disconnected));
    ok(s.close());
    finish(reg, npi);
}
