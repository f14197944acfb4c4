//! Host failures that loopback cannot produce, injected through the backend trait:
//! the provider maps each to its documented NTSTATUS.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::time::Duration;

use wsk::backend::{Backend, ListenOptions, OptionSocket, Readiness, TcpInfo, TcpListener, TcpStream, Token};
use wsk::NtStatus;

const WAIT: Duration = Duration::from_secs(10);

/// The host backend, except that connects fail with a chosen errno.
struct FailingConnect {
    host: wsk_host::HostBackend,
    errno: i32,
}

struct Stream {
    inner: Box<dyn TcpStream>,
    errno: i32,
}

impl Backend for FailingConnect {
    fn tcp_listen(&self, addr: SocketAddr, options: &ListenOptions) -> io::Result<Box<dyn TcpListener>> {
        self.host.tcp_listen(addr, options)
    }
    fn tcp_socket(&self, family_of: &SocketAddr) -> io::Result<Box<dyn TcpStream>> {
        Ok(Box::new(Stream { inner: self.host.tcp_socket(family_of)?, errno: self.errno }))
    }
    fn poll(&self, events: &mut Vec<(Token, Readiness)>, timeout: Option<Duration>) -> io::Result<()> {
        self.host.poll(events, timeout)
    }
    fn wake(&self) {
        self.host.wake()
    }
}

impl OptionSocket for Stream {
    fn set_option(&self, option: &wsk::SockOpt) -> io::Result<()> {
        self.inner.set_option(option)
    }
    fn get_option(&self, name: wsk::OptName) -> io::Result<wsk::SockOpt> {
        self.inner.get_option(name)
    }
}

impl TcpStream for Stream {
    fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        self.inner.bind(addr)
    }
    fn connect(&self, _addr: SocketAddr) -> io::Result<()> {
        Err(io::Error::from_raw_os_error(self.errno))
    }
    fn register(&self, token: Token) -> io::Result<()> {
        self.inner.register(token)
    }
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.inner.write_vectored(bufs)
    }
    fn shutdown_write(&self) -> io::Result<()> {
        self.inner.shutdown_write()
    }
    fn abort(&self) -> io::Result<()> {
        self.inner.abort()
    }
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }
    fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }
    fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.inner.set_nodelay(on)
    }
    fn info(&self) -> io::Result<TcpInfo> {
        self.inner.info()
    }
    fn raw_fd(&self) -> i32 {
        self.inner.raw_fd()
    }
}

#[test]
fn connect_failures_map_to_their_statuses() {
    for (errno, expected) in [
        (libc::ENETUNREACH, NtStatus::NETWORK_UNREACHABLE),
        (libc::EHOSTUNREACH, NtStatus::HOST_UNREACHABLE),
        (libc::ETIMEDOUT, NtStatus::IO_TIMEOUT),
        (libc::ECONNREFUSED, NtStatus::CONNECTION_REFUSED),
        (libc::EADDRNOTAVAIL, NtStatus::INVALID_ADDRESS_COMPONENT),
    ] {
        let backend = FailingConnect { host: wsk_host::HostBackend::new().unwrap(), errno };
        let provider = wsk::Provider::with_backend(Box::new(backend), true).unwrap();
        let reg = wsk::Registration::with_provider(&provider, 0x0100).unwrap();
        let npi = reg.capture(wsk::Wait::NoWait).unwrap();
        let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let socket = npi.connection_socket(local, None).wait().unwrap();
        socket.bind(local).wait().unwrap();
        let status = socket.connect("127.0.0.1:9".parse().unwrap()).wait_timeout(WAIT).expect("in time");
        assert_eq!(status, Err(expected), "errno {errno}");
        // A failed connect leaves a socket that can only be closed.
        assert_eq!(socket.connect("127.0.0.1:9".parse().unwrap()).wait(), Err(NtStatus::INVALID_DEVICE_STATE));
        // WskSocketConnect reports the same status and closes what it created.
        let r = npi.socket_connect(local, "127.0.0.1:9".parse().unwrap(), None).wait_timeout(WAIT).expect("in time");
        assert_eq!(r.map(|_| ()), Err(expected));
        socket.close().wait().unwrap();
        drop(npi);
        reg.deregister_timeout(WAIT).map_err(|(_, c)| c).unwrap();
    }
}

/// The host backend, except that the first `failures` accepts fail with EMFILE.
struct ShortOfDescriptors {
    host: wsk_host::HostBackend,
    failures: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

struct Listener {
    inner: Box<dyn TcpListener>,
    failures: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Backend for ShortOfDescriptors {
    fn tcp_listen(&self, addr: SocketAddr, options: &ListenOptions) -> io::Result<Box<dyn TcpListener>> {
        Ok(Box::new(Listener { inner: self.host.tcp_listen(addr, options)?, failures: self.failures.clone() }))
    }
    fn tcp_socket(&self, family_of: &SocketAddr) -> io::Result<Box<dyn TcpStream>> {
        self.host.tcp_socket(family_of)
    }
    fn poll(&self, events: &mut Vec<(Token, Readiness)>, timeout: Option<Duration>) -> io::Result<()> {
        self.host.poll(events, timeout)
    }
    fn wake(&self) {
        self.host.wake()
    }
}

impl OptionSocket for Listener {
    fn set_option(&self, option: &wsk::SockOpt) -> io::Result<()> {
        self.inner.set_option(option)
    }
    fn get_option(&self, name: wsk::OptName) -> io::Result<wsk::SockOpt> {
        self.inner.get_option(name)
    }
}

impl TcpListener for Listener {
    fn register(&self, token: Token) -> io::Result<()> {
        self.inner.register(token)
    }
    fn accept(&self) -> io::Result<(Box<dyn TcpStream>, SocketAddr)> {
        use std::sync::atomic::Ordering;
        if self.failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(io::Error::from_raw_os_error(libc::EMFILE));
        }
        self.inner.accept()
    }
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
    fn raw_fd(&self) -> i32 {
        self.inner.raw_fd()
    }
}

struct AcceptInto(std::sync::mpsc::Sender<wsk::Accepted>);

impl wsk::ListenEvents for AcceptInto {
    fn on_accept(&self, accepted: Option<wsk::Accepted>) -> wsk::AcceptOutcome {
        match accepted {
            Some(a) => {
                self.0.send(a).unwrap();
                wsk::AcceptOutcome::Accept(None)
            }
            None => wsk::AcceptOutcome::Reject,
        }
    }
}

#[test]
fn waiting_connections_are_accepted_after_running_out_of_descriptors() {
    // EMFILE leaves the connection in the host backlog, and epoll reports nothing new
    // for it: the listener must look again by itself, for the accept event and for
    // pending WskAccept operations alike.
    for use_event in [true, false] {
        let failures = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(3));
        let backend = ShortOfDescriptors { host: wsk_host::HostBackend::new().unwrap(), failures: failures.clone() };
        let provider = wsk::Provider::with_backend(Box::new(backend), true).unwrap();
        let reg = wsk::Registration::with_provider(&provider, 0x0100).unwrap();
        let npi = reg.capture(wsk::Wait::NoWait).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let listener = npi
            .listen_socket("127.0.0.1:0".parse().unwrap(), Some(std::sync::Arc::new(AcceptInto(tx))))
            .wait()
            .unwrap();
        listener.bind("127.0.0.1:0".parse().unwrap()).wait().unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let accepted = if use_event {
            listener.enable_events(wsk::events::WSK_EVENT_ACCEPT).unwrap();
            rx.recv_timeout(WAIT).expect("accepted after the failures")
        } else {
            listener.accept(None).wait_timeout(WAIT).expect("accepted after the failures").unwrap()
        };
        assert_eq!(failures.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert_eq!(accepted.remote, client.local_addr().unwrap());
        accepted.socket.close().wait().unwrap();
        listener.close().wait().unwrap();
        drop(accepted);
        drop(npi);
        reg.deregister_timeout(WAIT).map_err(|(_, c)| c).unwrap();
    }
}
