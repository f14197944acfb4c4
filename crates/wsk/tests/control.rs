//! Socket control from Rust: standard options with their rules (category, family, before
//! bind, exclusive use), values read back as set, inheritance by accepted sockets, basic
//! sockets, and the address-list IOCTLs (a change is injected through the backend).

mod common;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use wsk::backend::{AddressWatch, Backend, ListenOptions, OptionSocket, Readiness, TcpListener, TcpStream, Token};
use wsk::{Membership, NtStatus, OptName, Provider, Registration, SockOpt, SocketControl};

#[test]
fn listen_options_before_bind_apply_at_bind_and_are_inherited() {
    for_each_family(|family| {
        let (reg, npi) = env();
        let l = ok(npi.listen_socket(family.addr(0), None));
        l.set_option(SockOpt::ReceiveBuffer(64 * 1024)).unwrap();
        l.set_option(SockOpt::KeepIdle(45)).unwrap();
        // Before bind the values read back as set; others have no host socket yet.
        assert_eq!(l.get_option(OptName::ReceiveBuffer), Ok(SockOpt::ReceiveBuffer(64 * 1024)));
        assert_eq!(l.get_option(OptName::KeepAlive), Err(NtStatus::INVALID_DEVICE_STATE));
        ok(l.bind(family.addr(0)));
        assert_eq!(l.get_option(OptName::ReceiveBuffer), Ok(SockOpt::ReceiveBuffer(64 * 1024)));
        assert_eq!(l.get_option(OptName::KeepIdle), Ok(SockOpt::KeepIdle(45)));
        // After bind: set on the listener, inherited by what it accepts.
        l.set_option(SockOpt::KeepAlive(true)).unwrap();
        let accept = l.accept(None);
        let client = ok(npi.socket_connect(family.addr(0), l.local_addr().unwrap(), None));
        let server = ok(accept).socket;
        assert_eq!(server.get_option(OptName::KeepAlive), Ok(SockOpt::KeepAlive(true)));
        assert_eq!(server.get_option(OptName::ReceiveBuffer), Ok(SockOpt::ReceiveBuffer(64 * 1024)));
        assert_eq!(client.get_option(OptName::KeepAlive), Ok(SockOpt::KeepAlive(false)));
        for s in [&client, &server] {
            ok(s.close());
        }
        ok(l.close());
        finish(reg, npi);
    });
}

#[test]
fn connection_options_read_back_and_reach_the_host() {
    for_each_family(|family| {
        let (reg, npi) = env();
        let (client, server) = wsk_pair(&npi, family, None, None);
        client.set_option(SockOpt::NoDelay(true)).unwrap();
        assert_eq!(client.get_option(OptName::NoDelay), Ok(SockOpt::NoDelay(true)));
        assert_eq!(host_int(client.raw_fd().unwrap(), libc::IPPROTO_TCP, libc::TCP_NODELAY), 1);
        client.set_option(SockOpt::KeepInterval(7)).unwrap();
        client.set_option(SockOpt::KeepCount(3)).unwrap();
        assert_eq!(client.get_option(OptName::KeepInterval), Ok(SockOpt::KeepInterval(7)));
        assert_eq!(client.get_option(OptName::KeepCount), Ok(SockOpt::KeepCount(3)));
        assert_eq!(host_int(client.raw_fd().unwrap(), libc::IPPROTO_TCP, libc::TCP_KEEPCNT), 3);
        client.set_option(SockOpt::SendBuffer(32 * 1024)).unwrap();
        assert_eq!(client.get_option(OptName::SendBuffer), Ok(SockOpt::SendBuffer(32 * 1024)));
        // Family-specific options.
        let hops = if family == Family::V4 { SockOpt::Ttl(17) } else { SockOpt::UnicastHops(17) };
        let other = if family == Family::V4 { SockOpt::UnicastHops(17) } else { SockOpt::Ttl(17) };
        client.set_option(hops).unwrap();
        assert_eq!(client.get_option(hops.name().unwrap()), Ok(hops));
        assert_eq!(client.set_option(other), Err(NtStatus::INVALID_PARAMETER));
        for s in [&client, &server] {
            ok(s.close());
        }
        finish(reg, npi);
    });
}

#[test]
fn option_rules_category_state_exclusive_and_closed() {
    for_each_family(|family| {
        let (reg, npi) = env();
        // Datagram options on TCP sockets, TCP options on a listener are fine.
        let c = ok(npi.connection_socket(family.addr(0), None));
        assert_eq!(c.set_option(SockOpt::Broadcast(true)), Err(NtStatus::INVALID_PARAMETER));
        assert_eq!(c.get_option(OptName::PacketInfo), Err(NtStatus::INVALID_PARAMETER));
        let group = Membership::V4 { group: "224.0.0.1".parse().unwrap(), interface: "0.0.0.0".parse().unwrap() };
        assert_eq!(c.set_option(SockOpt::AddMembership(group)), Err(NtStatus::INVALID_PARAMETER));
        // Exclusive use and reuse exclude each other; both only before bind.
        c.set_option(SockOpt::ExclusiveAddressUse(true)).unwrap();
        assert_eq!(c.get_option(OptName::ExclusiveAddressUse), Ok(SockOpt::ExclusiveAddressUse(true)));
        assert_eq!(c.set_option(SockOpt::ReuseAddress(true)), Err(NtStatus::INVALID_PARAMETER));
        c.set_option(SockOpt::ExclusiveAddressUse(false)).unwrap();
        c.set_option(SockOpt::ReuseAddress(true)).unwrap();
        assert_eq!(c.set_option(SockOpt::ExclusiveAddressUse(true)), Err(NtStatus::INVALID_PARAMETER));
        assert_eq!(c.get_option(OptName::ReuseAddress), Ok(SockOpt::ReuseAddress(true)));
        ok(c.bind(family.any(0)));
        assert_eq!(c.set_option(SockOpt::ReuseAddress(false)), Err(NtStatus::INVALID_DEVICE_STATE));
        let v6only = c.set_option(SockOpt::V6Only(false));
        match family {
            Family::V4 => assert_eq!(v6only, Err(NtStatus::INVALID_PARAMETER)),
            Family::V6 => assert_eq!(v6only, Err(NtStatus::INVALID_DEVICE_STATE)),
        }
        ok(c.close());
        assert_eq!(c.set_option(SockOpt::KeepAlive(true)), Err(NtStatus::INVALID_HANDLE));
        assert_eq!(c.get_option(OptName::KeepAlive), Err(NtStatus::INVALID_HANDLE));
        assert_eq!(c.address_list().err(), Some(NtStatus::INVALID_HANDLE));
        assert_eq!(err(c.address_list_change()), NtStatus::INVALID_HANDLE);
        finish(reg, npi);
    });
}

#[test]
fn exclusive_listener_keeps_its_port() {
    for_each_family(|family| {
        let (reg, npi) = env();
        let first = ok(npi.listen_socket(family.addr(0), None));
        first.set_option(SockOpt::ExclusiveAddressUse(true)).unwrap();
        ok(first.bind(family.addr(0)));
        let port = first.local_addr().unwrap().port();
        let second = ok(npi.listen_socket(family.addr(0), None));
        second.set_option(SockOpt::ReuseAddress(true)).unwrap();
        assert_eq!(err(second.bind(family.addr(port))), NtStatus::ADDRESS_ALREADY_ASSOCIATED);
        ok(second.close());
        ok(first.close());
        finish(reg, npi);
    });
}

#[test]
fn basic_sockets_probe_options_of_their_transport() {
    for_each_family(|family| {
        let (reg, npi) = env();
        let udp = ok(npi.basic_socket(family.any(0), true));
        udp.set_option(SockOpt::Broadcast(true)).unwrap();
        assert_eq!(udp.get_option(OptName::Broadcast), Ok(SockOpt::Broadcast(true)));
        udp.set_option(SockOpt::PacketInfo(true)).unwrap();
        assert_eq!(udp.get_option(OptName::PacketInfo), Ok(SockOpt::PacketInfo(true)));
        assert_eq!(udp.set_option(SockOpt::NoDelay(true)), Err(NtStatus::INVALID_PARAMETER));
        let tcp = ok(npi.basic_socket(family.any(0), false));
        tcp.set_option(SockOpt::KeepAlive(true)).unwrap();
        assert_eq!(tcp.get_option(OptName::KeepAlive), Ok(SockOpt::KeepAlive(true)));
        assert_eq!(tcp.set_option(SockOpt::Broadcast(true)), Err(NtStatus::INVALID_PARAMETER));
        // Memberships: UDP sockets only, of the group's family.
        let v4_group = Membership::V4 { group: "224.0.0.251".parse().unwrap(), interface: "0.0.0.0".parse().unwrap() };
        let v6_group = Membership::V6 { group: "ff02::fb".parse().unwrap(), interface: 0 };
        let (own, other) = if family == Family::V4 { (v4_group, v6_group) } else { (v6_group, v4_group) };
        assert_eq!(tcp.set_option(SockOpt::AddMembership(own)), Err(NtStatus::INVALID_PARAMETER));
        assert_eq!(udp.set_option(SockOpt::AddMembership(other)), Err(NtStatus::INVALID_PARAMETER));
        // Events and everything else belong to the other categories.
        assert_eq!(tcp.get_option(OptName::ReuseAddress), Ok(SockOpt::ReuseAddress(false)));
        ok(udp.close());
        ok(tcp.close());
        assert_eq!(tcp.set_option(SockOpt::KeepAlive(true)), Err(NtStatus::INVALID_HANDLE));
        finish(reg, npi);
    });
}

#[test]
fn address_list_query_lists_the_family_loopback() {
    let (reg, npi) = env();
    let v4 = ok(npi.basic_socket("0.0.0.0:0".parse().unwrap(), false));
    let list = v4.address_list().unwrap();
    assert!(list.contains(&"127.0.0.1:0".parse().unwrap()), "{list:?}");
    assert!(list.iter().all(SocketAddr::is_ipv4));
    let v6 = ok(npi.listen_socket("[::]:0".parse().unwrap(), None));
    let list6 = v6.address_list().unwrap();
    assert!(list6.iter().all(SocketAddr::is_ipv6));
    let host_has_v6_loopback = std::net::UdpSocket::bind("[::1]:0").is_ok();
    assert_eq!(list6.contains(&"[::1]:0".parse().unwrap()), host_has_v6_loopback, "{list6:?}");
    ok(v4.close());
    ok(v6.close());
    finish(reg, npi);
}

#[test]
fn address_list_change_pends_until_cancelled_or_closed() {
    for_each_family(|family| {
        let (reg, npi) = env();
        let s = ok(npi.basic_socket(family.any(0), true));
        let cancelled = s.address_list_change();
        assert!(cancelled.cancel(), "the request was pending");
        assert_eq!(err(cancelled), NtStatus::CANCELLED);
        let pending = s.address_list_change();
        let routine = Arc::new(Mutex::new(None));
        let seen = Arc::clone(&routine);
        let canceller = s.address_list_change_then(move |r| *seen.lock().unwrap() = Some(r)).unwrap();
        assert!(canceller.cancel());
        assert_eq!(*routine.lock().unwrap(), Some(Err(NtStatus::CANCELLED)));
        assert!(!canceller.cancel(), "a completed request cannot be cancelled again");
        ok(s.close());
        assert_eq!(err(pending), NtStatus::CANCELLED);
        finish(reg, npi);
    });
}

/// The host backend, with an address watch the test fires.
struct Watched {
    host: Arc<wsk_host::HostBackend>,
    fire: Arc<Fire>,
}

#[derive(Default)]
struct Fire {
    token: Mutex<Option<Token>>,
    pending: AtomicBool,
    changes: AtomicUsize,
}

struct FakeWatch(Arc<Fire>);

impl AddressWatch for FakeWatch {
    fn register(&self, token: Token) -> io::Result<()> {
        *self.0.token.lock().unwrap() = Some(token);
        Ok(())
    }
    fn changed(&self) -> io::Result<bool> {
        Ok(self.0.changes.swap(0, Ordering::SeqCst) > 0)
    }
}

impl Backend for Watched {
    fn tcp_listen(&self, addr: SocketAddr, options: &ListenOptions) -> io::Result<Box<dyn TcpListener>> {
        self.host.tcp_listen(addr, options)
    }
    fn tcp_socket(&self, family_of: &SocketAddr) -> io::Result<Box<dyn TcpStream>> {
        self.host.tcp_socket(family_of)
    }
    fn poll(&self, events: &mut Vec<(Token, Readiness)>, timeout: Option<Duration>) -> io::Result<()> {
        self.host.poll(events, timeout)?;
        if self.fire.pending.swap(false, Ordering::SeqCst) {
            let token = self.fire.token.lock().unwrap().expect("watch registered");
            events.push((token, Readiness { readable: true, ..Readiness::default() }));
        }
        Ok(())
    }
    fn wake(&self) {
        self.host.wake()
    }
    fn basic_socket(&self, family_of: &SocketAddr, datagram: bool) -> io::Result<Box<dyn OptionSocket>> {
        self.host.basic_socket(family_of, datagram)
    }
    fn interface_addresses(&self) -> io::Result<Vec<SocketAddr>> {
        self.host.interface_addresses()
    }
    fn address_watch(&self) -> io::Result<Box<dyn AddressWatch>> {
        Ok(Box::new(FakeWatch(Arc::clone(&self.fire))))
    }
}

impl Fire {
    /// Makes the next poll report the watch readable, with an address change or without.
    fn report(&self, host: &wsk_host::HostBackend, change: bool) {
        if change {
            self.changes.fetch_add(1, Ordering::SeqCst);
        }
        self.pending.store(true, Ordering::SeqCst);
        host.wake();
    }
}

#[test]
fn address_list_change_completes_every_waiter_on_a_change() {
    let fire = Arc::new(Fire::default());
    let host = Arc::new(wsk_host::HostBackend::new().unwrap());
    let backend = Watched { host: Arc::clone(&host), fire: Arc::clone(&fire) };
    let provider = Provider::with_backend(Box::new(backend), true).unwrap();
    let reg = Registration::with_provider(&provider, 0x0100).unwrap();
    let npi = reg.capture(wsk::Wait::Infinite).unwrap();
    let a = ok(npi.basic_socket("0.0.0.0:0".parse().unwrap(), true));
    let b = ok(npi.listen_socket("[::]:0".parse().unwrap(), None));
    let first = a.address_list_change();
    let second = b.address_list_change();
    let third = a.address_list_change();
    // Readiness without an address message (a link change, say) completes nothing.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    a.address_list_change_then(move |r| done_tx.send(r).unwrap());
    fire.report(&host, false);
    assert!(done_rx.recv_timeout(Duration::from_millis(50)).is_err(), "no change, no completion");
    fire.report(&host, true);
    assert_eq!(done_rx.recv_timeout(WAIT).unwrap(), Ok(()));
    for op in [first, second, third] {
        ok(op);
    }
    // A request made after the change waits for the next one.
    let next = a.address_list_change();
    fire.report(&host, true);
    ok(next);
    ok(a.close());
    ok(b.close());
    drop(npi);
    reg.deregister();
}

/// An integer socket option read straight from the host.
fn host_int(fd: i32, level: i32, name: i32) -> i32 {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the pointer and length describe a live c_int local.
    let rc = unsafe { libc::getsockopt(fd, level, name, &mut value as *mut _ as *mut libc::c_void, &mut len) };
    assert_eq!(rc, 0, "getsockopt: {}", io::Error::last_os_error());
    value
}

#[test]
fn fast_open_set_before_bind_is_a_listeners_option_once_listening() {
    for_each_family(|family| {
        let (reg, npi) = env();
        let l = ok(npi.listen_socket(family.addr(0), None));
        l.set_option(SockOpt::FastOpen(true)).unwrap();
        assert_eq!(l.get_option(OptName::FastOpen), Ok(SockOpt::FastOpen(true)), "before bind");
        ok(l.bind(family.addr(0)));
        let fd = l.raw_fd().unwrap();
        assert!(host_int(fd, libc::IPPROTO_TCP, libc::TCP_FASTOPEN) > 0, "the server queue is on");
        assert_eq!(host_int(fd, libc::IPPROTO_TCP, libc::TCP_FASTOPEN_CONNECT), 0, "not the client option");
        assert_eq!(l.get_option(OptName::FastOpen), Ok(SockOpt::FastOpen(true)), "after bind");
        ok(l.close());

        // A stream socket learns its role at WskListen.
        let s = ok(npi.stream_socket(family.addr(0), None, None));
        s.set_option(SockOpt::FastOpen(true)).unwrap();
        ok(s.bind(family.addr(0)));
        ok(s.listen());
        let fd = s.listener().unwrap().raw_fd().unwrap();
        assert!(host_int(fd, libc::IPPROTO_TCP, libc::TCP_FASTOPEN) > 0, "stream listener's server queue");
        ok(s.close());
        finish(reg, npi);
    });
}

#[test]
fn transport_list_names_tcp_and_udp_over_both_families() {
    use wsk::addr::AddressFamily;
    let (reg, npi) = env();
    let list = npi.transports();
    let kinds: Vec<_> = list.iter().map(|t| (t.socket_type, t.protocol, t.family)).collect();
    assert_eq!(
        kinds,
        [(1, 6, AddressFamily::V4), (1, 6, AddressFamily::V6), (2, 17, AddressFamily::V4), (2, 17, AddressFamily::V6)]
    );
    assert!(list.iter().all(|t| t.version == npi.version()));
    finish(reg, npi);
}
