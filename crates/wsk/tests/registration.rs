//! Registration: `WskRegister`, `WskCaptureProviderNPI` (each wait mode, on a ready and on
//! an unavailable provider), `WskQueryProviderCharacteristics`, `WskDeregister` (blocks
//! for sockets and captures, wakes blocked captures).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use wsk::{NtStatus, Provider, Registration, Wait};

const V1_0: u16 = 0x0100;

/// A provider of its own over the host network that is not available yet.
fn unavailable_provider() -> Provider {
    Provider::with_backend(Box::new(wsk_host::HostBackend::new().expect("epoll")), false).expect("provider")
}

#[test]
fn many_registrations_at_once() {
    const N: usize = 12;
    let regs: Vec<Registration> = (0..N).map(|_| Registration::new().unwrap()).collect();
    let npis: Vec<_> = regs.iter().map(|r| r.capture(Wait::NoWait).unwrap()).collect();
    for_each_family(|family| {
        // Registration i connects to a listener of registration i+1: sockets of different
        // registrations talk to each other and each registration counts only its own.
        let listeners: Vec<_> = npis.iter().map(|npi| listener(npi, family, None)).collect();
        let accepts: Vec<_> = listeners.iter().map(|l| l.accept(None)).collect();
        let clients: Vec<_> = (0..N)
            .map(|i| npis[i].socket_connect(family.addr(0), listeners[(i + 1) % N].local_addr().unwrap(), None))
            .collect();
        let clients: Vec<_> = clients.into_iter().map(ok).collect();
        let servers: Vec<_> = accepts.into_iter().map(|a| ok(a).socket).collect();
        for (i, reg) in regs.iter().enumerate() {
            assert_eq!(reg.outstanding(), (3, 1), "registration {i}: listener, client, accepted socket");
        }
        for (i, c) in clients.iter().enumerate() {
            let msg = format!("hello from registration {i}").into_bytes();
            assert_eq!(ok(c.send(msg.clone(), 0)), msg.len());
            let got = ok(servers[(i + 1) % N].receive(msg.len(), wsk::flags::WSK_FLAG_WAITALL));
            assert_eq!(got, msg);
        }
        for s in clients.iter().chain(&servers) {
            ok(s.close());
        }
        for l in &listeners {
            ok(l.close());
        }
        for reg in &regs {
            settled(reg, (0, 1));
        }
    });
    drop(npis);
    for reg in regs {
        assert_eq!(reg.outstanding(), (0, 0));
        reg.deregister_timeout(WAIT).map_err(|(_, c)| c).expect("nothing outstanding");
    }
}

#[test]
fn registrations_from_many_threads() {
    let threads: Vec<_> = (0..8)
        .map(|t| {
            thread::spawn(move || {
                for round in 0..5 {
                    let (reg, npi) = env();
                    let family = if (t + round) % 2 == 0 { Family::V4 } else { Family::V6 };
                    let l = listener(&npi, family, None);
                    assert_eq!(reg.outstanding(), (1, 1));
                    ok(l.close());
                    finish(reg, npi);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("registration thread");
    }
}

#[test]
fn capture_modes_on_a_ready_provider() {
    let reg = Registration::new().unwrap();
    let a = reg.capture(Wait::NoWait).expect("NoWait on a ready provider");
    let b = reg.capture(Wait::Millis(10)).expect("Millis on a ready provider");
    let c = reg.capture(Wait::Infinite).expect("Infinite on a ready provider");
    assert_eq!(a.version(), V1_0);
    assert_eq!(reg.outstanding(), (0, 3));
    drop((a, b));
    assert_eq!(reg.outstanding(), (0, 1));
    drop(c);
    assert_eq!(reg.outstanding(), (0, 0));
    reg.deregister();
}

#[test]
fn wait_from_wsk_decodes_the_timeout() {
    assert_eq!(Wait::from_wsk(0), Wait::NoWait);
    assert_eq!(Wait::from_wsk(0xffff_ffff), Wait::Infinite);
    assert_eq!(Wait::from_wsk(50), Wait::Millis(50));
}

#[test]
fn capture_no_wait_on_an_unavailable_provider() {
    let provider = unavailable_provider();
    let reg = Registration::with_provider(&provider, V1_0).unwrap();
    assert_eq!(reg.capture(Wait::NoWait).err(), Some(NtStatus::DEVICE_NOT_READY));
    assert_eq!(reg.characteristics().err(), Some(NtStatus::DEVICE_NOT_READY));
    assert_eq!(reg.outstanding(), (0, 0));
    reg.deregister();
}

#[test]
fn capture_millis_on_an_unavailable_provider_times_out() {
    let provider = unavailable_provider();
    let reg = Registration::with_provider(&provider, V1_0).unwrap();
    let start = Instant::now();
    assert_eq!(reg.capture(Wait::Millis(50)).err(), Some(NtStatus::DEVICE_NOT_READY));
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(50), "returned after {elapsed:?}, before the 50 ms timeout");
    assert!(elapsed < WAIT, "returned after {elapsed:?}, far beyond the 50 ms timeout");
    assert_eq!(reg.outstanding(), (0, 0));
    reg.deregister();
}

#[test]
fn capture_infinite_returns_when_the_provider_becomes_available() {
    let provider = unavailable_provider();
    let reg = Registration::with_provider(&provider, V1_0).unwrap();
    let made_available = AtomicBool::new(false);
    let (tid_tx, tid_rx) = mpsc::channel();
    thread::scope(|s| {
        let capturer = s.spawn(|| {
            tid_tx.send(gettid()).unwrap();
            let npi = reg.capture(Wait::Infinite);
            // What the world looked like when the capture returned.
            (npi, made_available.load(Ordering::SeqCst))
        });
        wait_blocked(recv(&tid_rx, "capturer tid"));
        made_available.store(true, Ordering::SeqCst);
        provider.set_available(true);
        let (npi, after) = capturer.join().unwrap();
        let npi = npi.expect("Infinite capture succeeds once the provider is available");
        assert!(after, "the Infinite capture returned before the provider became available");
        assert_eq!(npi.version(), V1_0);
        assert_eq!(reg.characteristics().unwrap().highest_version, V1_0);
        // The NPI works: this provider now hands out sockets.
        let l = listener(&npi, Family::V4, None);
        assert_eq!(provider.open_sockets(), 1);
        ok(l.close());
        drop(npi);
    });
    reg.deregister();
}

#[test]
fn blocked_infinite_capture_returns_device_not_ready_on_deregister() {
    let provider = unavailable_provider();
    provider.set_available(true);
    let reg = Registration::with_provider(&provider, V1_0).unwrap();
    // A capture taken while the provider was ready keeps the registration (and its
    // shared state) alive until this test releases it.
    let held = reg.capture(Wait::NoWait).unwrap();
    provider.set_available(false);

    // WskDeregister from another thread while a capture is blocked: the first half
    // (begin_deregister) releases the capture; the second (deregister) waits for `held`.
    let reg = Arc::new(reg);
    let deregistering = AtomicBool::new(false);
    let (tid_tx, tid_rx) = mpsc::channel();
    thread::scope(|s| {
        let capturer = s.spawn(|| {
            tid_tx.send(gettid()).unwrap();
            let r = reg.capture(Wait::Infinite).map(drop);
            (r, deregistering.load(Ordering::SeqCst))
        });
        wait_blocked(recv(&tid_rx, "capturer tid"));
        deregistering.store(true, Ordering::SeqCst);
        let other = Arc::clone(&reg);
        s.spawn(move || other.begin_deregister()).join().unwrap();
        let (r, after) = capturer.join().unwrap();
        assert_eq!(r.err(), Some(NtStatus::DEVICE_NOT_READY));
        assert!(after, "the capture returned before deregistration started");
    });
    let reg = Arc::try_unwrap(reg).ok().expect("no other user");
    let (done_tx, done_rx) = mpsc::channel();
    let (tid_tx, tid_rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        tid_tx.send(gettid()).unwrap();
        reg.deregister();
        done_tx.send(()).unwrap();
    });
    // Deregistration still waits for `held`: the waiter blocks, and has not returned.
    wait_blocked(recv(&tid_rx, "deregistering tid"));
    assert!(done_rx.try_recv().is_err(), "deregister returned with a capture outstanding");
    drop(held);
    recv(&done_rx, "end of deregistration");
    waiter.join().unwrap();
}

#[test]
fn version_2_0_is_nointerface() {
    let reg = Registration::with_provider(&Provider::host(), 0x0200).unwrap();
    for wait in [Wait::NoWait, Wait::Millis(10), Wait::Infinite] {
        assert_eq!(reg.capture(wait).err(), Some(NtStatus::NOINTERFACE), "{wait:?}");
    }
    // After NOINTERFACE the client queries what the provider supports.
    let c = reg.characteristics().expect("characteristics after NOINTERFACE");
    assert_eq!((c.highest_version, c.lowest_version), (V1_0, V1_0));
    assert_eq!(reg.outstanding(), (0, 0));
    reg.deregister();
}

#[test]
fn characteristics_are_1_0() {
    let reg = Registration::new().unwrap();
    let c = reg.characteristics().unwrap();
    assert_eq!(c.highest_version, V1_0);
    assert_eq!(c.lowest_version, V1_0);
    reg.deregister();
}

#[test]
fn capture_after_deregister_is_device_not_ready() {
    let reg = Registration::new().unwrap();
    let npi = reg.capture(Wait::NoWait).unwrap();
    // The outstanding capture keeps the deregistration from finishing: it gives up and
    // hands the (now dead) registration back with the counts.
    let (reg, counts) = reg.deregister_timeout(Duration::from_millis(20)).expect_err("a capture is outstanding");
    assert_eq!(counts, (0, 1));
    for wait in [Wait::NoWait, Wait::Millis(10), Wait::Infinite] {
        assert_eq!(reg.capture(wait).err(), Some(NtStatus::DEVICE_NOT_READY), "{wait:?}");
    }
    assert_eq!(reg.characteristics().err(), Some(NtStatus::DEVICE_NOT_READY));
    // No new sockets through the old capture either.
    assert_eq!(wait(npi.listen_socket(Family::V4.addr(0), None)).err(), Some(NtStatus::DEVICE_NOT_READY));
    drop(npi);
    reg.deregister_timeout(WAIT).map_err(|(_, c)| c).expect("drained");
}

#[test]
fn deregister_timeout_reports_outstanding_counts() {
    let reg = Registration::new().unwrap();
    let npi = reg.capture(Wait::NoWait).unwrap();
    let npi2 = reg.capture(Wait::NoWait).unwrap();
    let l = listener(&npi, Family::V6, None);
    let c = ok(npi.connection_socket(Family::V4.addr(0), None));
    let (reg, counts) = reg.deregister_timeout(Duration::from_millis(20)).expect_err("outstanding");
    assert_eq!(counts, (2, 2));
    drop(npi2);
    ok(l.close());
    let (reg, counts) = reg.deregister_timeout(Duration::from_millis(20)).expect_err("outstanding");
    assert_eq!(counts, (1, 1));
    ok(c.close());
    drop(npi);
    reg.deregister_timeout(WAIT).map_err(|(_, c)| c).expect("drained");
}

#[test]
fn deregister_blocks_until_sockets_are_closed() {
    let (reg, npi) = env();
    let (client, server) = wsk_pair(&npi, Family::V4, None, None);
    drop(npi);
    let closing = Arc::new(AtomicBool::new(false));
    thread::scope(|s| {
        let (tid_tx, tid_rx) = mpsc::channel();
        let closing2 = Arc::clone(&closing);
        let deregistering = s.spawn(move || {
            tid_tx.send(gettid()).unwrap();
            reg.deregister();
            closing2.load(Ordering::SeqCst)
        });
        wait_blocked(recv(&tid_rx, "deregistering tid"));
        assert!(!deregistering.is_finished(), "deregister returned with two sockets open");
        // Close from yet another thread; the flag is set before the first close starts.
        closing.store(true, Ordering::SeqCst);
        let closer = s.spawn(move || {
            ok(client.close());
            ok(server.close());
        });
        closer.join().unwrap();
        let saw_close = deregistering.join().unwrap();
        assert!(saw_close, "deregister returned before the sockets were closed");
    });
}

#[test]
fn deregister_blocks_until_captures_are_released() {
    let reg = Registration::new().unwrap();
    let npi = reg.capture(Wait::Infinite).unwrap();
    let releasing = Arc::new(AtomicBool::new(false));
    thread::scope(|s| {
        let (tid_tx, tid_rx) = mpsc::channel();
        let releasing2 = Arc::clone(&releasing);
        let deregistering = s.spawn(move || {
            tid_tx.send(gettid()).unwrap();
            reg.deregister();
            releasing2.load(Ordering::SeqCst)
        });
        wait_blocked(recv(&tid_rx, "deregistering tid"));
        assert!(!deregistering.is_finished(), "deregister returned with a capture outstanding");
        releasing.store(true, Ordering::SeqCst);
        s.spawn(move || drop(npi)).join().unwrap();
        assert!(deregistering.join().unwrap(), "deregister returned before the capture was released");
    });
}

#[test]
fn dropping_a_registration_does_not_block() {
    let (reg, npi) = env();
    let l = listener(&npi, Family::V4, None);
    // Dropping deregisters without waiting; the socket still works and closes normally.
    drop(reg);
    assert!(l.local_addr().is_ok());
    assert_eq!(wait(npi.connection_socket(Family::V4.addr(0), None)).err(), Some(NtStatus::DEVICE_NOT_READY));
    ok(l.close());
}
