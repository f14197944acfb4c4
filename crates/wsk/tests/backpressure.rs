//! Memory stays bounded when the client retains every indication: past the receive
//! backlog limit the provider stops reading the host socket, TCP flow control holds
//! the sender, and every byte still arrives once the client releases.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use wsk::events::WSK_EVENT_RECEIVE;
use wsk::{ConnectionEvents, DataIndication, EventFlags, ReceiveOutcome, RetainedIndication, BUFFER_SIZE};

const TOTAL: usize = 256 * 1024 * 1024;
const LIMIT: usize = 1024 * 1024;
const WAIT: Duration = Duration::from_secs(60);
/// The period of the byte pattern: a prime, so chunk boundaries never line up with it.
const PERIOD: usize = 251;

struct Retainer {
    tx: mpsc::Sender<RetainedIndication>,
    saw_release_asap: AtomicBool,
}

impl ConnectionEvents for Retainer {
    fn on_receive(&self, data: Option<&mut DataIndication>, flags: EventFlags) -> ReceiveOutcome {
        let Some(data) = data else { return ReceiveOutcome::Accepted };
        if flags.release_asap() {
            self.saw_release_asap.store(true, Ordering::Relaxed);
        }
        self.tx.send(data.retain()).unwrap();
        ReceiveOutcome::Retained
    }
}

#[test]
fn retained_indications_bound_provider_memory() {
    let reg = wsk::Registration::new().unwrap();
    let npi = reg.capture(wsk::Wait::Infinite).unwrap();
    let listener = npi.listen_socket("127.0.0.1:0".parse().unwrap(), None).wait().unwrap();
    listener.bind("127.0.0.1:0".parse().unwrap()).wait().unwrap();
    let addr = listener.local_addr().unwrap();

    let sender = thread::spawn(move || {
        let block: Vec<u8> = (0..PERIOD * 1024).map(|i| (i % PERIOD) as u8).collect();
        let mut s = TcpStream::connect(addr).unwrap();
        let mut sent = 0;
        while sent < TOTAL {
            let n = block.len().min(TOTAL - sent);
            s.write_all(&block[..n]).unwrap();
            sent += n;
        }
        s
    });

    let (tx, rx) = mpsc::channel();
    let handler = Arc::new(Retainer { tx, saw_release_asap: AtomicBool::new(false) });
    let accepted = listener.accept(Some(handler.clone())).wait_timeout(WAIT).expect("accept in time").unwrap();
    let socket = accepted.socket;
    socket.set_receive_backlog_limit(LIMIT).unwrap();
    socket.enable_events(WSK_EVENT_RECEIVE).unwrap();

    // The client holds everything it is given until the provider must have stopped:
    // every buffer is charged BUFFER_SIZE, so at most LIMIT / BUFFER_SIZE (+1 being
    // filled) can be out. Then it checks the data and releases it all.
    let cap_buffers = LIMIT / BUFFER_SIZE;
    let mut held: Vec<RetainedIndication> = Vec::new();
    let mut held_buffers = 0;
    let mut received = 0usize;
    let mut rounds = 0;
    let reference: Vec<u8> = (0..PERIOD * 1024).map(|i| (i % PERIOD) as u8).collect();
    while received < TOTAL {
        let chain = rx.recv_timeout(WAIT).expect("the provider keeps indicating once memory is released");
        held_buffers += chain.buffers().len();
        held.push(chain);
        let stats = socket.stats();
        assert!(stats.held <= LIMIT + BUFFER_SIZE, "provider holds {} bytes, limit {}", stats.held, LIMIT);
        let releasing = held_buffers >= cap_buffers || received + held.iter().map(|c| c.len()).sum::<usize>() >= TOTAL;
        if releasing {
            for chain in held.drain(..) {
                for buf in chain.buffers() {
                    let data = buf.data();
                    let phase = received % PERIOD;
                    assert!(data == &reference[phase..phase + data.len()], "data corrupted at byte {received}");
                    received += data.len();
                }
            }
            held_buffers = 0;
            rounds += 1;
        }
    }
    assert_eq!(received, TOTAL);
    let stats = socket.stats();
    assert!(stats.high_water <= LIMIT + BUFFER_SIZE, "high water {} over limit {}", stats.high_water, LIMIT);
    assert!(rounds >= TOTAL / (LIMIT + BUFFER_SIZE), "the provider stopped at the limit each round ({rounds} rounds)");
    assert!(handler.saw_release_asap.load(Ordering::Relaxed), "WSK_FLAG_RELEASE_ASAP signalled when short of buffers");
    assert_eq!(stats.held, 0);

    let stream = sender.join().unwrap();
    socket.close().wait_timeout(WAIT).expect("close in time").unwrap();
    drop(stream);
    listener.close().wait().unwrap();
    drop(npi);
    reg.deregister_timeout(WAIT).map_err(|(_, c)| c).unwrap();
}
