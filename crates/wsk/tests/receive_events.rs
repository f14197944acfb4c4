//! The outcomes of `WskReceiveEvent`, table-driven: whatever the client answers, the
//! byte stream it ends up with is exactly what the peer sent — nothing lost,
//! duplicated or reordered.
//!
//! | outcome | what the handler does |
//! |---|---|
//! | all | copies every byte, returns `Accepted` |
//! | partial | copies a prefix, returns `Partial(n)`, posts a receive from the callback |
//! | partial + zero-length receive | the same, re-arming with a zero-length receive (the rest is re-indicated) |
//! | not accepted | returns `NotAccepted`, posts a receive that takes the data |
//! | not accepted + zero-length receive | `NotAccepted`, then a zero-length receive: everything is re-indicated |
//! | pending, released in pieces | retains, a consumer copies in order and drops elements out of order |
//! | pending, released from another thread | retains, every chain is released whole by another thread |

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use wsk::events::WSK_EVENT_RECEIVE;
use wsk::{ConnectionEvents, ConnectionSocket, DataIndication, EventFlags, ReceiveOutcome, RetainedIndication};

const TOTAL: usize = 3 * 1024 * 1024 + 12345;
const WAIT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug)]
enum Mode {
    All,
    Partial,
    PartialZeroLength,
    NotAccepted,
    NotAcceptedZeroLength,
    PendingPieces,
    PendingOtherThread,
}

struct Collector {
    data: Mutex<Vec<u8>>,
    done: mpsc::Sender<()>,
}

impl Collector {
    fn push(&self, bytes: &[u8]) {
        let mut data = self.data.lock().unwrap();
        data.extend_from_slice(bytes);
        if data.len() >= TOTAL {
            let _ = self.done.send(());
        }
    }
}

struct Handler {
    mode: Mode,
    collector: Arc<Collector>,
    socket: Mutex<Option<ConnectionSocket>>,
    retained: mpsc::Sender<RetainedIndication>,
    calls: Mutex<usize>,
}

impl Handler {
    fn socket(&self) -> ConnectionSocket {
        self.socket.lock().unwrap().clone().expect("socket installed before events are enabled")
    }

    /// Posts a receive from inside the callback; its data lands in the collector in
    /// completion order (which the provider keeps in stream order).
    fn post_receive(&self, len: usize) {
        let collector = Arc::clone(&self.collector);
        self.socket().receive_then(Box::new(vec![0u8; len]), 0, move |r, buf| {
            let n = r.expect("receive succeeds");
            let buf = buf.into_any().downcast::<Vec<u8>>().unwrap();
            collector.push(&buf[..n]);
        });
    }
}

impl ConnectionEvents for Handler {
    fn on_receive(&self, data: Option<&mut DataIndication>, _flags: EventFlags) -> ReceiveOutcome {
        let Some(data) = data else { return ReceiveOutcome::Accepted };
        let n = data.bytes_indicated();
        assert!(n > 0, "an indication carries data");
        let call = {
            let mut calls = self.calls.lock().unwrap();
            *calls += 1;
            *calls
        };
        match self.mode {
            Mode::All => {
                for seg in data.segments() {
                    self.collector.push(seg);
                }
                ReceiveOutcome::Accepted
            }
            Mode::Partial | Mode::PartialZeroLength => {
                // Alternate: take everything, or a prefix (at least one byte).
                if call % 2 == 0 {
                    for seg in data.segments() {
                        self.collector.push(seg);
                    }
                    return ReceiveOutcome::Accepted;
                }
                let take = (n / 3).max(1).min(n);
                let mut prefix = Vec::new();
                data.copy_prefix_to(take, &mut prefix);
                self.collector.push(&prefix);
                if take == n {
                    return ReceiveOutcome::Accepted;
                }
                if matches!(self.mode, Mode::Partial) {
                    self.post_receive(1500);
                } else {
                    self.post_receive(0);
                }
                ReceiveOutcome::Partial(take)
            }
            Mode::NotAccepted | Mode::NotAcceptedZeroLength => {
                if call % 2 == 0 {
                    for seg in data.segments() {
                        self.collector.push(seg);
                    }
                    return ReceiveOutcome::Accepted;
                }
                if matches!(self.mode, Mode::NotAccepted) {
                    self.post_receive(7000);
                } else {
                    self.post_receive(0);
                }
                ReceiveOutcome::NotAccepted
            }
            Mode::PendingPieces | Mode::PendingOtherThread => {
                let retained = data.retain();
                self.retained.send(retained).unwrap();
                ReceiveOutcome::Retained
            }
        }
    }
}

fn run_case(mode: Mode, listen_on: &str) {
    let reg = wsk::Registration::new().unwrap();
    let npi = reg.capture(wsk::Wait::Infinite).unwrap();
    let listener = npi.listen_socket(listen_on.parse().unwrap(), None).wait().unwrap();
    listener.bind(listen_on.parse().unwrap()).wait().unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();

    let (done_tx, done_rx) = mpsc::channel();
    let collector = Arc::new(Collector { data: Mutex::new(Vec::with_capacity(TOTAL)), done: done_tx });
    let (retained_tx, retained_rx) = mpsc::channel::<RetainedIndication>();
    let handler = Arc::new(Handler {
        mode,
        collector: Arc::clone(&collector),
        socket: Mutex::new(None),
        retained: retained_tx,
        calls: Mutex::new(0),
    });

    let expected = common::pattern(TOTAL, 7);
    let to_send = expected.clone();
    let peer = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        // Irregular write sizes so indications split the stream at varied places.
        let mut off = 0;
        let mut step = 1;
        while off < to_send.len() {
            let n = (step * 7919 % 100_000 + 1).min(to_send.len() - off);
            s.write_all(&to_send[off..off + n]).unwrap();
            off += n;
            step += 1;
        }
        s
    });

    let accepted = listener.accept(Some(handler.clone())).wait_timeout(WAIT).expect("accept in time").unwrap();
    *handler.socket.lock().unwrap() = Some(accepted.socket.clone());

    // The consumer of retained chains: copies each in indication order, then releases.
    let consumer_collector = Arc::clone(&collector);
    let consumer = thread::spawn(move || {
        let mut parked: Vec<wsk::IndicationBuffer> = Vec::new();
        while let Ok(retained) = retained_rx.recv() {
            for buf in retained.buffers() {
                consumer_collector.push(buf.data());
            }
            match mode {
                // Split into elements and release them out of order, a few at a time.
                Mode::PendingPieces => {
                    parked.extend(retained.into_buffers());
                    if parked.len() >= 3 {
                        while let Some(b) = parked.pop() {
                            drop(b);
                        }
                    }
                }
                _ => drop(retained),
            }
        }
    });

    accepted.socket.enable_events(WSK_EVENT_RECEIVE).unwrap();
    done_rx.recv_timeout(WAIT).unwrap_or_else(|_| panic!("{mode:?}: stream incomplete in time"));
    let stream = peer.join().unwrap();

    {
        let data = collector.data.lock().unwrap();
        assert_eq!(data.len(), TOTAL, "{mode:?}: byte count");
        assert!(data[..] == expected[..], "{mode:?}: bytes differ from what the peer sent");
    }
    accepted.socket.close().wait_timeout(WAIT).expect("close in time").unwrap();
    drop(handler);
    drop(stream);
    consumer.join().unwrap();
    assert_eq!(accepted.socket.stats().held, 0, "{mode:?}: every buffer released");
    listener.close().wait().unwrap();
    drop(accepted);
    drop(npi);
    reg.deregister_timeout(WAIT).map_err(|(_, c)| c).unwrap();
}

#[test]
fn receive_event_outcomes_ipv4() {
    for mode in [
        Mode::All,
        Mode::Partial,
        Mode::PartialZeroLength,
        Mode::NotAccepted,
        Mode::NotAcceptedZeroLength,
        Mode::PendingPieces,
        Mode::PendingOtherThread,
    ] {
        run_case(mode, "127.0.0.1:0");
    }
}

#[test]
fn receive_event_outcomes_ipv6() {
    for mode in [Mode::All, Mode::Partial, Mode::NotAcceptedZeroLength, Mode::PendingPieces] {
        run_case(mode, "[::1]:0");
    }
}
