//! An event-driven, zero-copy TCP echo server on the WSK API.
//!
//! The listener delivers connections through `WskAcceptEvent`; every connection
//! inherits `WskReceiveEvent` and `WskDisconnectEvent` from it. A receive callback
//! retains the indication (`STATUS_PENDING`) and sends the very same provider buffers
//! back with `WskSend`; they are released when that send completes. Retained buffers
//! count against the connection's receive backlog, so a peer that sends faster than it
//! reads is held back by TCP flow control and the server's memory stays bounded.
//!
//! A peer's FIN (`WskDisconnectEvent` without `WSK_FLAG_ABORTIVE`) is answered with a
//! graceful `WskDisconnect` (queued behind the echoes still being sent), and the
//! socket is closed once that completes. A dead connection (an abortive disconnect
//! event, or a NULL receive indication) is closed at once.
//!
//! The server keeps a registry of the sockets it has not started closing, so
//! [`EchoServer::shutdown`] can close them all.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use wsk::events::{WSK_EVENT_ACCEPT, WSK_EVENT_DISCONNECT, WSK_EVENT_RECEIVE};
use wsk::{
    AcceptOutcome, Accepted, ConnectionEvents, ConnectionSocket, DataIndication, EventFlags, ListenEvents,
    ListenSocket, NtStatus, Op, ProviderNpi, ReceiveOutcome,
};

/// What the server has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EchoStats {
    /// Connections accepted.
    pub connections: u64,
    /// Bytes echoed (counted when their send completed).
    pub bytes_echoed: u64,
    /// Connections that failed (reset by the peer, or an operation on them failed),
    /// each counted once, plus failures of the listener and of closes.
    pub errors: u64,
}

/// Why [`EchoServer::start`] could not start listening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartError {
    /// The step that failed.
    pub step: &'static str,
    /// The status it failed with.
    pub status: NtStatus,
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.step, self.status)
    }
}

/// What [`EchoServer::shutdown`] could not finish in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownError {
    /// Sockets (the listener included) whose close did not complete in time, or failed.
    pub unclosed: usize,
}

/// Called (on a provider thread) when the listener stops working for good.
pub type ListenerLost = Box<dyn Fn() + Send + Sync>;

/// A running echo server.
pub struct EchoServer {
    listener: ListenSocket,
    local: SocketAddr,
    shared: Arc<Shared>,
}

/// State shared by the server handle and every callback.
struct Shared {
    /// Live connections, by id; a socket leaves when its close starts.
    live: Mutex<Registry>,
    /// Signalled whenever a connection leaves the registry.
    left: Condvar,
    connections: AtomicU64,
    bytes_echoed: AtomicU64,
    errors: AtomicU64,
    listener_lost: Option<ListenerLost>,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    sockets: BTreeMap<u64, ConnectionSocket>,
    /// Set by shutdown: new connections are refused.
    closing: bool,
}

/// The listening socket's callbacks.
struct Listener {
    shared: Arc<Shared>,
}

/// One connection's callbacks.
struct Connection {
    id: u64,
    socket: ConnectionSocket,
    shared: Arc<Shared>,
    /// Whether this connection's failure was counted (a reset fails every queued send too).
    failed: Arc<AtomicBool>,
}

impl EchoServer {
    /// Creates a listening socket on `addr` (port 0 picks a free port) and starts serving.
    ///
    /// `[::]` listens dual-stack (IPv4 too); `listener_lost` is told if the listener
    /// fails later (e.g. its host socket breaks).
    ///
    /// # Errors
    /// The step that failed and its status, e.g. `bind` with
    /// `STATUS_ADDRESS_ALREADY_ASSOCIATED` when the address is in use.
    pub fn start(
        npi: &ProviderNpi,
        addr: SocketAddr,
        listener_lost: Option<ListenerLost>,
    ) -> Result<EchoServer, StartError> {
        let fail = |step| move |status| StartError { step, status };
        let shared = Arc::new(Shared {
            live: Mutex::new(Registry::default()),
            left: Condvar::new(),
            connections: AtomicU64::new(0),
            bytes_echoed: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            listener_lost,
        });
        let events = Arc::new(Listener { shared: Arc::clone(&shared) });
        let listener = npi.listen_socket(addr, Some(events)).wait().map_err(fail("create the listening socket"))?;
        if addr.is_ipv6() && addr.ip().is_unspecified() {
            listener.set_v6_only(false).map_err(fail("make the listener dual-stack"))?;
        }
        // A restarted server may reuse its port while old connections sit in TIME_WAIT.
        listener.set_reuse_address(true).map_err(fail("set SO_REUSEADDR"))?;
        listener.bind(addr).wait().map_err(fail("bind"))?;
        let local = listener.local_addr().map_err(fail("query the bound address"))?;
        // Connection events enabled on a listener are inherited by accepted sockets.
        listener
            .enable_events(WSK_EVENT_ACCEPT | WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT)
            .map_err(fail("enable events"))?;
        Ok(EchoServer { listener, local, shared })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Waits until no connection is live (each one has started closing), at most
    /// `timeout`; returns whether that happened. Peers that end their connections
    /// gracefully leave the server with nothing to close abortively.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut registry = self.shared.registry();
        while !registry.sockets.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            registry = self.shared.left.wait_timeout(registry, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }

    /// Refuses new connections, then closes the listener and every live connection
    /// (abortively, unless both directions were done).
    ///
    /// Connections that were already closing finish on their own; the registration's
    /// deregistration waits for them, and after it [`EchoServer::stats`] is final.
    ///
    /// # Errors
    /// How many closes did not complete within `timeout` (or failed).
    pub fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError> {
        let deadline = Instant::now() + timeout;
        let unclosed = self
            .begin_shutdown()
            .into_iter()
            .map(|op| op.wait_timeout(deadline.saturating_duration_since(Instant::now())))
            .filter(|outcome| !matches!(outcome, Some(Ok(()))))
            .count();
        if unclosed == 0 {
            Ok(())
        } else {
            Err(ShutdownError { unclosed })
        }
    }

    /// Refuses new connections and starts closing the listener and every live
    /// connection; returns the close operations (none when shutdown already began).
    fn begin_shutdown(&self) -> Vec<Op<()>> {
        let sockets = {
            let mut registry = self.shared.registry();
            if registry.closing {
                return Vec::new();
            }
            registry.closing = true;
            std::mem::take(&mut registry.sockets)
        };
        self.shared.left.notify_all();
        let mut closes = vec![self.listener.close()];
        closes.extend(sockets.values().map(ConnectionSocket::close));
        closes
    }

    /// The counters so far: final once the registration was deregistered, when every
    /// completion routine of the server's sockets has run.
    pub fn stats(&self) -> EchoStats {
        self.shared.stats()
    }
}

impl Drop for EchoServer {
    /// Dropping the server without [`EchoServer::shutdown`] closes its sockets without waiting.
    fn drop(&mut self) {
        for close in self.begin_shutdown() {
            close.detach();
        }
    }
}

impl Shared {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stats(&self) -> EchoStats {
        EchoStats {
            connections: self.connections.load(Ordering::Relaxed),
            bytes_echoed: self.bytes_echoed.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }

    fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether shutdown started (operations cancelled from then on are not errors).
    fn closing(&self) -> bool {
        self.registry().closing
    }

    /// Counts a failed operation, unless shutdown cancelled it.
    fn operation_failed(&self, status: NtStatus) {
        if !(status == NtStatus::CANCELLED && self.closing()) {
            self.error();
        }
    }

    /// Counts a connection's failure (`status`: of the operation that failed, if any),
    /// once per connection and not when shutdown cancelled it.
    fn connection_failed(&self, failed: &AtomicBool, status: Option<NtStatus>) {
        if status == Some(NtStatus::CANCELLED) && self.closing() {
            return;
        }
        if !failed.swap(true, Ordering::Relaxed) {
            self.error();
        }
    }

    /// Starts closing connection `id`, once: the registry entry is the right to close.
    fn close(self: &Arc<Self>, id: u64) {
        let Some(socket) = self.registry().sockets.remove(&id) else {
            return;
        };
        self.left.notify_all();
        let shared = Arc::clone(self);
        socket.close().then(move |result| {
            if let Err(status) = result {
                shared.operation_failed(status);
            }
        });
    }
}

impl ListenEvents for Listener {
    fn on_accept(&self, accepted: Option<Accepted>) -> AcceptOutcome {
        let Some(accepted) = accepted else {
            // A NULL AcceptSocket: the listener is dead.
            self.shared.error();
            if let Some(lost) = &self.shared.listener_lost {
                lost();
            }
            return AcceptOutcome::Reject;
        };
        let mut registry = self.shared.registry();
        if registry.closing {
            return AcceptOutcome::Reject;
        }
        let id = registry.next_id;
        registry.next_id += 1;
        registry.sockets.insert(id, accepted.socket.clone());
        drop(registry);
        self.shared.connections.fetch_add(1, Ordering::Relaxed);
        let connection = Connection {
            id,
            socket: accepted.socket,
            shared: Arc::clone(&self.shared),
            failed: Arc::new(AtomicBool::new(false)),
        };
        AcceptOutcome::Accept(Some(Arc::new(connection)))
    }
}

impl ConnectionEvents for Connection {
    fn on_receive(&self, data: Option<&mut DataIndication>, _flags: EventFlags) -> ReceiveOutcome {
        let Some(data) = data else {
            // The connection died (reset or failed). Counted before the close, so the
            // count is in place when the server looks idle.
            self.shared.connection_failed(&self.failed, None);
            self.shared.close(self.id);
            return ReceiveOutcome::Accepted;
        };
        // Zero copy: the provider's buffers go straight back out. WSK_FLAG_RELEASE_ASAP is
        // not answered with a copy: a copy would free the buffers at once and let the
        // provider read on without limit, while the retained buffers are exactly what
        // bounds this connection's memory; they return when the send completes.
        let retained = data.retain();
        let shared = Arc::clone(&self.shared);
        let failed = Arc::clone(&self.failed);
        self.socket.send_then(Box::new(retained), 0, move |result| match result {
            Ok(sent) => {
                shared.bytes_echoed.fetch_add(sent as u64, Ordering::Relaxed);
            }
            Err(status) => shared.connection_failed(&failed, Some(status)),
        });
        ReceiveOutcome::Retained
    }

    fn on_disconnect(&self, abortive: bool) {
        if abortive {
            // A reset: a NULL receive indication follows, which closes the socket.
            return;
        }
        // The peer sent its FIN: finish our side after the echoes still queued.
        let shared = Arc::clone(&self.shared);
        let failed = Arc::clone(&self.failed);
        let id = self.id;
        self.socket.disconnect(None, 0).then(move |result| {
            if let Err(status) = result {
                shared.connection_failed(&failed, Some(status));
            }
            shared.close(id);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpStream};

    #[test]
    fn echoes_a_std_client_and_shuts_down_clean() {
        let registration = wsk::Registration::new().expect("register");
        let npi = registration.capture(wsk::Wait::Infinite).expect("capture");
        let server = EchoServer::start(&npi, "127.0.0.1:0".parse().expect("addr"), None).expect("start");

        let mut stream = TcpStream::connect(server.local_addr()).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let mut writer = stream.try_clone().expect("clone");
        let sent = payload.clone();
        let writing = std::thread::spawn(move || {
            writer.write_all(&sent).expect("write");
            writer.shutdown(Shutdown::Write).expect("shutdown");
        });
        let mut echoed = Vec::new();
        stream.read_to_end(&mut echoed).expect("read until the server's FIN");
        writing.join().expect("writer");
        assert!(echoed == payload, "echo differs");

        server.shutdown(Duration::from_secs(10)).expect("shutdown");
        drop(npi);
        assert!(registration.deregister_timeout(Duration::from_secs(10)).is_ok());
        let stats = server.stats();
        assert_eq!(stats.connections, 1);
        assert_eq!(stats.bytes_echoed, payload.len() as u64);
        assert_eq!(stats.errors, 0);
    }

    #[test]
    fn a_reset_closes_the_connection_and_counts_an_error() {
        let registration = wsk::Registration::new().expect("register");
        let npi = registration.capture(wsk::Wait::Infinite).expect("capture");
        let server = EchoServer::start(&npi, "127.0.0.1:0".parse().expect("addr"), None).expect("start");

        let client = npi
            .socket_connect("127.0.0.1:0".parse().expect("addr"), server.local_addr(), None)
            .wait_timeout(Duration::from_secs(10))
            .expect("connect in time")
            .expect("connect");
        let echo = client.receive(3, wsk::flags::WSK_FLAG_WAITALL);
        client.send(b"abc".to_vec(), 0).wait().expect("send");
        assert_eq!(echo.wait_timeout(Duration::from_secs(10)).expect("echo in time").expect("echo"), b"abc");
        client.disconnect(None, wsk::flags::WSK_FLAG_ABORTIVE).wait().expect("reset");
        client.close().wait().expect("close");

        // The server closes its side by itself; deregistration then drains.
        assert!(server.wait_idle(Duration::from_secs(10)), "the server closes a reset connection");
        assert_eq!(server.stats().errors, 1, "the reset counts once");
        server.shutdown(Duration::from_secs(10)).expect("shutdown");
        drop(npi);
        assert!(registration.deregister_timeout(Duration::from_secs(10)).is_ok());
    }
}
