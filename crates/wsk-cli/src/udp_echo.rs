//! An event-driven, zero-copy UDP echo server on the WSK datagram API.
//!
//! One datagram socket, bound to the address asked for, with `WskReceiveFromEvent`
//! enabled. The receive-from callback retains the indication (`STATUS_PENDING`), takes
//! the chain apart and sends each datagram's provider buffer back to its sender with
//! `WskSendTo`; the buffer is released (`WskRelease` of that element) when the send
//! completes. Nothing is copied on the way.
//!
//! Memory stays bounded by the socket's receive backlog limit: retained datagrams count
//! against it (a small datagram at its size plus its bookkeeping, see
//! [`wsk::IndicationBuffer`]), and once they reach it the provider stops reading the
//! host socket. The host's receive queue then fills and the host drops what does not
//! fit, as UDP does; those drops are counted ([`UdpEchoStats::host_drops`]).
//! `WSK_FLAG_RELEASE_ASAP` is not answered with a copy for the same reason as in the TCP
//! server: the retained buffers are exactly what bounds the server's memory.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use wsk::events::WSK_EVENT_RECEIVE_FROM;
use wsk::{
    DatagramEvents, DatagramIndication, DatagramSocket, EventFlags, Op, ProviderNpi, ReceiveFromOutcome, SockOpt,
    SocketControl,
};

use crate::echo_server::{ListenerLost, ShutdownError, StartError};

/// What the server has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpEchoStats {
    /// Datagrams the provider took from the host for the server.
    pub received: u64,
    /// Datagrams echoed (counted when their send completed).
    pub datagrams_echoed: u64,
    /// Bytes echoed (counted when their send completed).
    pub bytes_echoed: u64,
    /// Datagrams the host dropped because the socket's receive queue was full.
    pub host_drops: u64,
    /// Sends that failed (not counting those cancelled by the shutdown), plus a
    /// failure of the socket itself.
    pub errors: u64,
}

/// A running UDP echo server.
pub struct UdpEchoServer {
    socket: DatagramSocket,
    local: SocketAddr,
    shared: Arc<Shared>,
    /// The socket's close, once shutdown began.
    close: Mutex<Option<Op<()>>>,
}

/// State shared by the server handle and the callbacks.
struct Shared {
    /// Set by shutdown: failures from then on are the shutdown's doing.
    closing: AtomicBool,
    datagrams: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    socket_lost: Option<ListenerLost>,
}

/// The socket's callbacks.
struct Echo {
    /// Set once the socket exists, before its event is enabled.
    socket: OnceLock<DatagramSocket>,
    shared: Arc<Shared>,
}

impl UdpEchoServer {
    /// Creates a datagram socket bound to `addr` (port 0 picks a free port) and starts
    /// echoing every datagram back to its sender.
    ///
    /// `[::]` receives IPv4 too (`IPV6_V6ONLY` off); `socket_lost` is told if the socket
    /// stops working later (e.g. its host socket breaks).
    ///
    /// # Errors
    /// The step that failed and its status, e.g. `bind` with
    /// `STATUS_ADDRESS_ALREADY_ASSOCIATED` when the address is in use.
    pub fn start(
        npi: &ProviderNpi,
        addr: SocketAddr,
        socket_lost: Option<ListenerLost>,
    ) -> Result<UdpEchoServer, StartError> {
        let fail = |step| move |status| StartError { step, status };
        let shared = Arc::new(Shared {
            closing: AtomicBool::new(false),
            datagrams: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            socket_lost,
        });
        let events = Arc::new(Echo { socket: OnceLock::new(), shared: Arc::clone(&shared) });
        let handler: Arc<dyn DatagramEvents> = events.clone();
        let socket = npi.datagram_socket(addr, Some(handler)).wait().map_err(fail("create the datagram socket"))?;
        // The callbacks hold the socket (to send); closing it drops them, which ends the cycle.
        let _ = events.socket.set(socket.clone());
        let local = match Self::configure(&socket, addr) {
            Ok(local) => local,
            Err(e) => {
                socket.close().detach();
                return Err(e);
            }
        };
        Ok(UdpEchoServer { socket, local, shared, close: Mutex::new(None) })
    }

    /// Binds and enables `WskReceiveFromEvent`; returns the bound address.
    fn configure(socket: &DatagramSocket, addr: SocketAddr) -> Result<SocketAddr, StartError> {
        let fail = |step| move |status| StartError { step, status };
        if addr.is_ipv6() && addr.ip().is_unspecified() {
            socket.set_option(SockOpt::V6Only(false)).map_err(fail("make the socket dual-stack"))?;
        }
        // No SO_REUSEADDR: on UDP it would let a second socket share the port silently.
        socket.bind(addr).wait().map_err(fail("bind"))?;
        let local = socket.local_addr().map_err(fail("query the bound address"))?;
        socket.enable_events(WSK_EVENT_RECEIVE_FROM).map_err(fail("enable events"))?;
        Ok(local)
    }

    /// The address the server is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Stops echoing and closes the socket: sends still pending are cancelled and their
    /// datagrams released.
    ///
    /// After the registration's deregistration [`UdpEchoServer::stats`] is final.
    ///
    /// # Errors
    /// When the close did not complete within `timeout` (or failed): `unclosed` is 1.
    pub fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError> {
        let close = self.begin_shutdown();
        match close.map(|op| op.wait_timeout(timeout)) {
            None | Some(Some(Ok(()))) => Ok(()),
            Some(_) => Err(ShutdownError { unclosed: 1 }),
        }
    }

    /// Starts closing the socket, once; returns the close (none when shutdown already began).
    fn begin_shutdown(&self) -> Option<Op<()>> {
        let mut close = self.close.lock().unwrap_or_else(|e| e.into_inner());
        if self.shared.closing.swap(true, Ordering::AcqRel) {
            return close.take();
        }
        *close = Some(self.socket.close());
        close.take()
    }

    /// The counters so far; final once the registration was deregistered, when every
    /// completion routine of the server's socket has run.
    pub fn stats(&self) -> UdpEchoStats {
        let socket = self.socket.stats();
        UdpEchoStats {
            received: socket.received,
            datagrams_echoed: self.shared.datagrams.load(Ordering::Relaxed),
            bytes_echoed: self.shared.bytes.load(Ordering::Relaxed),
            host_drops: socket.host_drops,
            errors: self.shared.errors.load(Ordering::Relaxed),
        }
    }
}

impl Drop for UdpEchoServer {
    /// Dropping the server without [`UdpEchoServer::shutdown`] closes its socket without waiting.
    fn drop(&mut self) {
        if let Some(close) = self.begin_shutdown() {
            close.detach();
        }
    }
}

impl Shared {
    /// Counts a failure, unless shutdown caused it.
    fn failed(&self) {
        if !self.closing.load(Ordering::Acquire) {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl DatagramEvents for Echo {
    fn on_receive_from(&self, indication: Option<&mut DatagramIndication>, _flags: EventFlags) -> ReceiveFromOutcome {
        let Some(indication) = indication else {
            // No indication: the socket is no longer functional.
            self.shared.failed();
            if !self.shared.closing.load(Ordering::Acquire) {
                if let Some(lost) = &self.shared.socket_lost {
                    lost();
                }
            }
            return ReceiveFromOutcome::Accepted;
        };
        let Some(socket) = self.socket.get() else {
            // Not reachable: the socket is set before its event is enabled.
            return ReceiveFromOutcome::Accepted;
        };
        // Zero copy: each datagram's provider buffer goes straight back to its sender and
        // is released when that send completes.
        for datagram in indication.retain().into_datagrams() {
            let to = datagram.remote();
            let buffer = datagram.into_buffer();
            let shared = Arc::clone(&self.shared);
            socket.send_to_then(Box::new(buffer), Some(to), Vec::new(), move |result| match result {
                Ok(sent) => {
                    shared.datagrams.fetch_add(1, Ordering::Relaxed);
                    shared.bytes.fetch_add(sent as u64, Ordering::Relaxed);
                }
                Err(_) => shared.failed(),
            });
        }
        ReceiveFromOutcome::Retained
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use wsk::{NtStatus, OptName};

    fn echo_round(bind: &str, peer: &str) {
        let registration = wsk::Registration::new().expect("register");
        let npi = registration.capture(wsk::Wait::Infinite).expect("capture");
        let server = UdpEchoServer::start(&npi, bind.parse().expect("addr"), None).expect("start");
        assert_ne!(server.local_addr().port(), 0);

        let client = UdpSocket::bind(peer).expect("bind the peer");
        client.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let mut target = server.local_addr();
        if target.ip().is_unspecified() {
            target.set_ip(client.local_addr().expect("peer addr").ip());
        }
        let mut total = 0u64;
        for len in [0usize, 1, 100, 1472, 9000, 65_507] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 31 + len) as u8).collect();
            client.send_to(&payload, target).expect("send");
            let mut buf = vec![0u8; 65_536];
            let (n, from) = client.recv_from(&mut buf).expect("the echo");
            assert_eq!(from, target);
            assert!(buf[..n] == payload[..], "echo of {len} bytes differs");
            total += len as u64;
        }

        server.shutdown(Duration::from_secs(10)).expect("shutdown");
        drop(npi);
        assert!(registration.deregister_timeout(Duration::from_secs(10)).is_ok());
        let stats = server.stats();
        assert_eq!(stats.datagrams_echoed, 6);
        assert_eq!(stats.received, 6);
        assert_eq!(stats.bytes_echoed, total);
        assert_eq!((stats.errors, stats.host_drops), (0, 0));
    }

    #[test]
    fn echoes_ipv4_datagrams_of_every_size() {
        echo_round("127.0.0.1:0", "127.0.0.1:0");
    }

    #[test]
    fn echoes_ipv6_datagrams_of_every_size() {
        echo_round("[::1]:0", "[::1]:0");
    }

    #[test]
    fn the_ipv6_wildcard_is_dual_stack() {
        let registration = wsk::Registration::new().expect("register");
        let npi = registration.capture(wsk::Wait::Infinite).expect("capture");
        let server = UdpEchoServer::start(&npi, "[::]:0".parse().expect("addr"), None).expect("start");
        assert_eq!(server.socket.get_option(OptName::V6Only), Ok(SockOpt::V6Only(false)));
        drop(server);
        drop(npi);
        assert!(registration.deregister_timeout(Duration::from_secs(10)).is_ok());
        echo_round("[::]:0", "127.0.0.1:0");
    }

    #[test]
    fn an_address_in_use_fails_at_bind() {
        let taken = UdpSocket::bind("127.0.0.1:0").expect("take a port");
        let registration = wsk::Registration::new().expect("register");
        let npi = registration.capture(wsk::Wait::Infinite).expect("capture");
        let err = match UdpEchoServer::start(&npi, taken.local_addr().expect("addr"), None) {
            Ok(_) => panic!("bound a port in use"),
            Err(e) => e,
        };
        assert_eq!((err.step, err.status), ("bind", NtStatus::ADDRESS_ALREADY_ASSOCIATED));
        drop(npi);
        assert!(registration.deregister_timeout(Duration::from_secs(10)).is_ok(), "the failed socket was closed");
    }
}
