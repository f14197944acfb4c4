//! The runtime's promises: operations are futures that work under any executor;
//! callbacks run on the provider thread, one at a time per socket, with no provider
//! lock held (so client code may start any WSK call from inside them); disabling an
//! event while its callback runs answers STATUS_EVENT_PENDING, or completes the IRP
//! only after the callback returned.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use wsk::events::{WSK_EVENT_DISCONNECT, WSK_EVENT_RECEIVE};
use wsk::flags::WSK_FLAG_WAITALL;
use wsk::{ConnectionEvents, ConnectionSocket, DataIndication, EventFlags, NtStatus, ReceiveOutcome};

const WAIT: Duration = Duration::from_secs(20);

struct Fixture {
    reg: Option<wsk::Registration>,
    npi: Option<wsk::ProviderNpi>,
}

impl Fixture {
    fn new() -> Self {
        let reg = wsk::Registration::new().unwrap();
        let npi = reg.capture(wsk::Wait::Infinite).unwrap();
        Fixture { reg: Some(reg), npi: Some(npi) }
    }

    fn npi(&self) -> &wsk::ProviderNpi {
        self.npi.as_ref().unwrap()
    }

    /// A wsk connection to a std peer on loopback.
    fn connect(&self, events: Option<Arc<dyn ConnectionEvents>>) -> (ConnectionSocket, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let socket = self
            .npi()
            .socket_connect("127.0.0.1:0".parse().unwrap(), addr, events)
            .wait_timeout(WAIT)
            .unwrap()
            .unwrap();
        let (peer, _) = listener.accept().unwrap();
        (socket, peer)
    }

    fn finish(mut self) {
        drop(self.npi.take());
        self.reg.take().unwrap().deregister_timeout(WAIT).map_err(|(_, c)| c).unwrap();
    }
}

#[test]
fn ops_are_futures_under_a_plain_executor() {
    let fx = Fixture::new();
    let (socket, mut peer) = fx.connect(None);
    let received = futures_executor::block_on(async {
        let sent = socket.send(b"ping".to_vec(), 0).await.unwrap();
        assert_eq!(sent, 4);
        let mut buf = [0u8; 4];
        peer.read_exact(&mut buf).unwrap();
        peer.write_all(b"pong").unwrap();
        socket.receive(4, WSK_FLAG_WAITALL).await.unwrap()
    });
    assert_eq!(received, b"pong");
    futures_executor::block_on(socket.close()).unwrap();
    fx.finish();
}

#[test]
fn ops_are_futures_under_tokio() {
    let fx = Fixture::new();
    let (socket, peer) = fx.connect(None);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let peer = tokio::net::TcpStream::from_std({
            peer.set_nonblocking(true).unwrap();
            peer
        })
        .unwrap();
        let (mut rd, mut wr) = peer.into_split();
        // Concurrent operations joined by tokio: an echo through the tokio peer.
        let echo = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut buf = vec![0u8; 100_000];
            rd.read_exact(&mut buf).await.unwrap();
            wr.write_all(&buf).await.unwrap();
        });
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
        let (sent, got) = tokio::join!(socket.send(data.clone(), 0), socket.receive(data.len(), WSK_FLAG_WAITALL));
        assert_eq!(sent.unwrap(), data.len());
        assert_eq!(got.unwrap(), data);
        echo.await.unwrap();
        socket.close().await.unwrap();
    });
    fx.finish();
}

/// Records overlap and thread of every callback.
struct Serial {
    inside: AtomicBool,
    overlaps: AtomicUsize,
    off_thread: AtomicUsize,
    bytes: AtomicUsize,
    done: Mutex<Option<mpsc::Sender<()>>>,
    total: usize,
}

impl ConnectionEvents for Serial {
    fn on_receive(&self, data: Option<&mut DataIndication>, _: EventFlags) -> ReceiveOutcome {
        if self.inside.swap(true, Ordering::SeqCst) {
            self.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        if thread::current().name() != Some("wsk-provider") {
            self.off_thread.fetch_add(1, Ordering::SeqCst);
        }
        thread::yield_now();
        if let Some(d) = data {
            let n = self.bytes.fetch_add(d.bytes_indicated(), Ordering::SeqCst) + d.bytes_indicated();
            if n >= self.total {
                if let Some(tx) = self.done.lock().unwrap().take() {
                    tx.send(()).unwrap();
                }
            }
        }
        self.inside.store(false, Ordering::SeqCst);
        ReceiveOutcome::Accepted
    }
}

#[test]
fn callbacks_are_serial_and_on_the_provider_thread() {
    let fx = Fixture::new();
    let total = 8 * 1024 * 1024;
    let (tx, rx) = mpsc::channel();
    let handler = Arc::new(Serial {
        inside: AtomicBool::new(false),
        overlaps: AtomicUsize::new(0),
        off_thread: AtomicUsize::new(0),
        bytes: AtomicUsize::new(0),
        done: Mutex::new(Some(tx)),
        total,
    });
    let (socket, mut peer) = fx.connect(Some(handler.clone()));
    socket.enable_events(WSK_EVENT_RECEIVE).unwrap();
    let writer = thread::spawn(move || {
        let chunk = vec![0x5au8; 1000];
        for _ in 0..total / 1000 + 1 {
            peer.write_all(&chunk).unwrap();
        }
        peer
    });
    // Meanwhile another thread keeps poking the socket with zero-length receives and
    // backlog queries: client calls racing with indications must not cause overlap.
    for _ in 0..200 {
        socket.receive(0, 0).wait_timeout(WAIT).unwrap().unwrap();
        let _ = socket.receive_backlog().unwrap();
    }
    rx.recv_timeout(WAIT).expect("all data indicated");
    let peer = writer.join().unwrap();
    assert_eq!(handler.overlaps.load(Ordering::SeqCst), 0, "callbacks of one socket overlapped");
    assert_eq!(handler.off_thread.load(Ordering::SeqCst), 0, "a callback ran off the provider thread");
    socket.close().wait_timeout(WAIT).unwrap().unwrap();
    drop(peer);
    fx.finish();
}

/// Starts WSK calls from inside callbacks and completion routines.
struct Reentrant {
    socket: Mutex<Option<ConnectionSocket>>,
    disable_status: Mutex<Option<NtStatus>>,
    closed: mpsc::Sender<wsk::Result<()>>,
}

impl ConnectionEvents for Reentrant {
    fn on_receive(&self, data: Option<&mut DataIndication>, _: EventFlags) -> ReceiveOutcome {
        let Some(data) = data else { return ReceiveOutcome::Accepted };
        let socket = self.socket.lock().unwrap().clone().unwrap();
        let mut echo = Vec::new();
        data.copy_prefix_to(usize::MAX, &mut echo);
        // Send from the callback; from the send's completion routine, send again.
        let again = socket.clone();
        socket.send_then(Box::new(echo.clone()), 0, move |r| {
            assert!(r.is_ok());
            again.send_then(Box::new(echo), 0, |r| assert!(r.is_ok()));
        });
        // Disabling the running event without an IRP: STATUS_EVENT_PENDING.
        let status = socket.disable_event_nowait(WSK_EVENT_RECEIVE);
        *self.disable_status.lock().unwrap() = Some(status);
        ReceiveOutcome::Accepted
    }

    fn on_disconnect(&self, _abortive: bool) {
        // Close from a callback: must not deadlock; completes after this returns.
        let socket = self.socket.lock().unwrap().take().unwrap();
        let closed = self.closed.clone();
        socket.close().detach();
        socket.receive(1, 0).detach(); // a call on a closing socket: an error status, not a crash
        closed.send(Ok(())).unwrap();
    }
}

#[test]
fn calls_from_callbacks_and_completions_do_not_deadlock() {
    let fx = Fixture::new();
    let (tx, rx) = mpsc::channel();
    let handler = Arc::new(Reentrant { socket: Mutex::new(None), disable_status: Mutex::new(None), closed: tx });
    let (socket, mut peer) = fx.connect(Some(handler.clone()));
    *handler.socket.lock().unwrap() = Some(socket.clone());
    socket.enable_events(WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT).unwrap();
    peer.write_all(b"hello").unwrap();
    let mut back = [0u8; 10];
    peer.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"hellohello");
    assert_eq!(*handler.disable_status.lock().unwrap(), Some(NtStatus::EVENT_PENDING));
    // The event is now disabled: more data is not indicated (a receive IRP gets it).
    peer.write_all(b"more").unwrap();
    assert_eq!(socket.receive(4, WSK_FLAG_WAITALL).wait_timeout(WAIT).unwrap().unwrap(), b"more");
    peer.shutdown(std::net::Shutdown::Write).unwrap();
    rx.recv_timeout(WAIT).expect("disconnect callback ran").unwrap();
    drop(socket);
    drop(peer);
    fx.finish();
}

struct Blocking {
    entered: mpsc::Sender<()>,
    release: Mutex<mpsc::Receiver<()>>,
    returned: AtomicBool,
}

impl ConnectionEvents for Blocking {
    fn on_receive(&self, _: Option<&mut DataIndication>, _: EventFlags) -> ReceiveOutcome {
        self.entered.send(()).unwrap();
        self.release.lock().unwrap().recv_timeout(WAIT).expect("test releases the callback");
        self.returned.store(true, Ordering::SeqCst);
        ReceiveOutcome::Accepted
    }
}

#[test]
fn disabling_a_running_event_waits_for_the_callback() {
    let fx = Fixture::new();
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let handler =
        Arc::new(Blocking { entered: entered_tx, release: Mutex::new(release_rx), returned: AtomicBool::new(false) });
    let (socket, mut peer) = fx.connect(Some(handler.clone()));
    socket.enable_events(WSK_EVENT_RECEIVE).unwrap();
    peer.write_all(b"x").unwrap();
    entered_rx.recv_timeout(WAIT).expect("callback entered");
    // Without an IRP: EVENT_PENDING. With one: the op stays pending until the callback returns.
    assert_eq!(socket.disable_event_nowait(WSK_EVENT_RECEIVE), NtStatus::EVENT_PENDING);
    let with_irp = socket.disable_event(WSK_EVENT_RECEIVE);
    let returned_at_completion = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = mpsc::channel();
    {
        let handler = handler.clone();
        let flag = returned_at_completion.clone();
        thread::spawn(move || {
            let r = with_irp.wait_timeout(WAIT).expect("disable completes");
            flag.store(handler.returned.load(Ordering::SeqCst), Ordering::SeqCst);
            done_tx.send(r).unwrap();
        });
    }
    release_tx.send(()).unwrap();
    done_rx.recv_timeout(WAIT).unwrap().unwrap();
    assert!(returned_at_completion.load(Ordering::SeqCst), "disable completed before the callback returned");
    socket.close().wait_timeout(WAIT).unwrap().unwrap();
    drop(peer);
    fx.finish();
}

#[test]
fn socket_addresses_round_trip_through_windows_layout() {
    // Bound and peer addresses reported by the provider survive the SOCKADDR encoding.
    let fx = Fixture::new();
    let (socket, _peer) = fx.connect(None);
    for addr in [socket.local_addr().unwrap(), socket.remote_addr().unwrap()] {
        let (bytes, len) = wsk::addr::to_bytes(&addr);
        let back: SocketAddr = wsk::addr::decode(&bytes[..len]).unwrap();
        assert_eq!(back, addr);
    }
    socket.close().wait_timeout(WAIT).unwrap().unwrap();
    fx.finish();
}

/// Waits inside its first callback, which the WSK contract forbids; then takes data.
struct Waits {
    socket: Mutex<Option<ConnectionSocket>>,
    waited: AtomicBool,
    outcome: mpsc::Sender<wsk::Result<Vec<u8>>>,
}

impl ConnectionEvents for Waits {
    fn on_receive(&self, data: Option<&mut DataIndication>, _: EventFlags) -> ReceiveOutcome {
        let Some(data) = data else { return ReceiveOutcome::Accepted };
        if self.waited.swap(true, Ordering::SeqCst) {
            let mut bytes = Vec::new();
            data.copy_prefix_to(usize::MAX, &mut bytes);
            self.outcome.send(Ok(bytes)).unwrap();
            return ReceiveOutcome::Accepted;
        }
        let socket = self.socket.lock().unwrap().clone().unwrap();
        // This receive cannot complete before the callback returns (the data in hand
        // comes first): waiting for it would hang the provider.
        let r = socket.receive(1, 0).wait();
        self.outcome.send(r).unwrap();
        ReceiveOutcome::NotAccepted
    }
}

#[test]
fn waiting_inside_a_callback_answers_cant_wait_instead_of_hanging() {
    let fx = Fixture::new();
    let (tx, rx) = mpsc::channel();
    let handler = Arc::new(Waits { socket: Mutex::new(None), waited: AtomicBool::new(false), outcome: tx });
    let (socket, mut peer) = fx.connect(Some(handler.clone()));
    *handler.socket.lock().unwrap() = Some(socket.clone());
    socket.enable_events(WSK_EVENT_RECEIVE).unwrap();
    peer.write_all(b"abc").unwrap();
    assert_eq!(rx.recv_timeout(WAIT).expect("the callback returned"), Err(NtStatus::CANT_WAIT));
    // The receive the callback started still ran: it took the first byte once the
    // callback returned; the rest was indicated again.
    assert_eq!(rx.recv_timeout(WAIT).expect("re-indicated"), Ok(b"bc".to_vec()));
    socket.close().wait_timeout(WAIT).unwrap().unwrap();
    drop(peer);
    fx.finish();
}
