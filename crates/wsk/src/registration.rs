//! Registration: `WskRegister`, `WskCaptureProviderNPI`, `WskReleaseProviderNPI`,
//! `WskQueryProviderCharacteristics`, `WskDeregister`.
//!
//! A client may register many times. Each registration counts its captured NPIs and
//! its open sockets; deregistering marks the registration dead at once (captures fail,
//! blocked captures return `STATUS_DEVICE_NOT_READY`) and then blocks until every
//! capture is released and every socket closed.

use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use wsk_core::consts::{events, WSK_INFINITE_WAIT, WSK_NO_WAIT, WSK_PROVIDER_VERSION};
use wsk_core::status::NtStatus;

use crate::callbacks::DatagramEvents;
use crate::callbacks::{ConnectionEvents, ListenEvents};
use crate::op::{Op, Result};
use crate::provider::{lock, Provider};
use crate::socket::{BasicSocket, ConnectionSocket, DatagramSocket, ListenSocket, StreamSocket};

#[derive(Default)]
pub(crate) struct RegState {
    pub(crate) captures: usize,
    pub(crate) sockets: usize,
    pub(crate) deregistered: bool,
    pub(crate) static_events: u32,
    pub(crate) any_socket_created: bool,
    /// Provider-level requests pending (name resolution, transport list changes).
    pub(crate) requests: usize,
    /// Requests the deregistration cancels (`WSK_TRANSPORT_LIST_CHANGE`).
    pub(crate) on_deregister: Vec<Arc<dyn crate::request::Pending>>,
}

pub(crate) struct RegInner {
    pub(crate) provider: Provider,
    pub(crate) state: Mutex<RegState>,
    pub(crate) cv: Condvar,
    version: u16,
}

impl RegInner {
    /// Counts a new socket, unless the registration is going away.
    pub(crate) fn socket_opened(&self) -> Result<u32> {
        let mut st = lock(&self.state);
        if st.deregistered {
            return Err(NtStatus::DEVICE_NOT_READY);
        }
        st.sockets += 1;
        st.any_socket_created = true;
        Ok(st.static_events)
    }

    pub(crate) fn socket_closed(&self) {
        let mut st = lock(&self.state);
        st.sockets -= 1;
        drop(st);
        self.cv.notify_all();
    }

    pub(crate) fn static_events(&self) -> u32 {
        lock(&self.state).static_events
    }
}

/// How long [`Registration::capture`] may wait for the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// `WSK_NO_WAIT`: fail at once with `STATUS_DEVICE_NOT_READY` if the provider is not ready.
    NoWait,
    /// Wait at most this long (the WSK timeout is in milliseconds).
    Millis(u32),
    /// `WSK_INFINITE_WAIT`: wait until the provider is ready or the registration is deregistered.
    Infinite,
}

impl Wait {
    /// Decodes the `WaitTimeout` argument of `WskCaptureProviderNPI`.
    pub fn from_wsk(timeout: u32) -> Wait {
        match timeout {
            WSK_NO_WAIT => Wait::NoWait,
            WSK_INFINITE_WAIT => Wait::Infinite,
            ms => Wait::Millis(ms),
        }
    }
}

/// `WSK_PROVIDER_CHARACTERISTICS`: the versions the provider supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderCharacteristics {
    /// Highest supported version (`MAKE_WSK_VERSION` encoding).
    pub highest_version: u16,
    /// Lowest supported version.
    pub lowest_version: u16,
}

/// A client's registration with a provider (`WskRegister`).
///
/// ```
/// # fn main() -> Result<(), wsk::NtStatus> {
/// let registration = wsk::Registration::new()?;
/// let npi = registration.capture(wsk::Wait::Infinite)?;
/// assert_eq!(npi.version(), 0x0100);
/// drop(npi);                   // WskReleaseProviderNPI
/// registration.deregister();   // blocks until sockets are closed and captures released
/// # Ok(()) }
/// ```
pub struct Registration {
    pub(crate) inner: Arc<RegInner>,
}

impl Registration {
    /// Registers with the host provider, asking for version 1.0.
    ///
    /// # Errors
    /// None today; the `Result` mirrors `WskRegister`'s NTSTATUS.
    pub fn new() -> Result<Registration> {
        Registration::with_provider(&Provider::host(), WSK_PROVIDER_VERSION)
    }

    /// Registers with `provider`, asking for `version` (`WSK_CLIENT_DISPATCH.Version`).
    ///
    /// # Errors
    /// None today; a version the provider lacks is reported by [`Registration::capture`].
    pub fn with_provider(provider: &Provider, version: u16) -> Result<Registration> {
        Ok(Registration {
            inner: Arc::new(RegInner {
                provider: provider.clone(),
                state: Mutex::new(RegState::default()),
                cv: Condvar::new(),
                version,
            }),
        })
    }

    /// `WskCaptureProviderNPI`: waits as `wait` says for the provider, then returns its
    /// NPI. Each successful capture is released by dropping the [`ProviderNpi`].
    ///
    /// # Errors
    /// `STATUS_DEVICE_NOT_READY` if the provider is not ready in time or the
    /// registration was deregistered (also while waiting); `STATUS_NOINTERFACE` if the
    /// requested major version is not 1 (see [`Registration::characteristics`]).
    pub fn capture(&self, wait: Wait) -> Result<ProviderNpi> {
        if (self.inner.version >> 8) != (WSK_PROVIDER_VERSION >> 8) {
            return Err(NtStatus::NOINTERFACE);
        }
        let provider = &self.inner.provider.inner;
        let deadline = match wait {
            Wait::Millis(ms) => Some(Instant::now() + Duration::from_millis(ms.into())),
            _ => None,
        };
        let mut available = provider.available_guard();
        loop {
            if lock(&self.inner.state).deregistered {
                return Err(NtStatus::DEVICE_NOT_READY);
            }
            if *available {
                break;
            }
            match (wait, deadline) {
                (Wait::NoWait, _) => return Err(NtStatus::DEVICE_NOT_READY),
                (_, Some(deadline)) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(NtStatus::DEVICE_NOT_READY);
                    }
                    available = provider
                        .available_cv
                        .wait_timeout(available, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                _ => available = provider.available_cv.wait(available).unwrap_or_else(|e| e.into_inner()),
            }
        }
        drop(available);
        let mut st = lock(&self.inner.state);
        if st.deregistered {
            return Err(NtStatus::DEVICE_NOT_READY);
        }
        st.captures += 1;
        Ok(ProviderNpi { reg: Arc::clone(&self.inner) })
    }

    /// `WskQueryProviderCharacteristics`.
    ///
    /// # Errors
    /// `STATUS_DEVICE_NOT_READY` if the provider is not available or the registration is gone.
    pub fn characteristics(&self) -> Result<ProviderCharacteristics> {
        if lock(&self.inner.state).deregistered || !self.inner.provider.inner.is_available() {
            return Err(NtStatus::DEVICE_NOT_READY);
        }
        Ok(ProviderCharacteristics { highest_version: WSK_PROVIDER_VERSION, lowest_version: WSK_PROVIDER_VERSION })
    }

    /// Open sockets and unreleased captures of this registration.
    pub fn outstanding(&self) -> (usize, usize) {
        let st = lock(&self.inner.state);
        (st.sockets, st.captures)
    }

    /// `WskDeregister`: stops new captures (blocked ones return `STATUS_DEVICE_NOT_READY`),
    /// cancels pending [`ProviderNpi::transport_list_change`]s (`STATUS_CANCELLED`), waits
    /// for pending name resolutions ([`Registration::pending_requests`]),
    /// then blocks until every socket of the registration is closed and every capture
    /// released. Must not be called from a callback or completion routine.
    pub fn deregister(self) {
        self.deregister_shared();
    }

    /// [`Registration::deregister`] through a shared reference, for a registration other
    /// threads hold too (a C client's `WSK_REGISTRATION`): marks it deregistered, then
    /// blocks until every socket is closed and every capture released.
    pub fn deregister_shared(&self) {
        self.begin_deregister();
        let mut st = lock(&self.inner.state);
        while st.sockets > 0 || st.captures > 0 || st.requests > 0 {
            st = self.inner.cv.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Like [`Registration::deregister`], but gives up after `timeout`, returning the
    /// registration and the `(sockets, captures)` still outstanding (pending name
    /// resolutions, also waited for, are [`Registration::pending_requests`]).
    ///
    /// # Errors
    /// The registration and its outstanding counts, when they did not drain in time.
    pub fn deregister_timeout(self, timeout: Duration) -> std::result::Result<(), (Registration, (usize, usize))> {
        self.begin_deregister();
        let deadline = Instant::now() + timeout;
        let mut st = lock(&self.inner.state);
        while st.sockets > 0 || st.captures > 0 || st.requests > 0 {
            let now = Instant::now();
            if now >= deadline {
                let counts = (st.sockets, st.captures);
                drop(st);
                return Err((self, counts));
            }
            st = self.inner.cv.wait_timeout(st, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
        Ok(())
    }

    /// The first half of `WskDeregister`, callable from any thread while others use the
    /// registration: from now on captures fail with `STATUS_DEVICE_NOT_READY`, and
    /// captures blocked waiting for the provider return with it. It does not wait;
    /// [`Registration::deregister`] does.
    pub fn begin_deregister(&self) {
        let cancel = {
            let mut st = lock(&self.inner.state);
            st.deregistered = true;
            std::mem::take(&mut st.on_deregister)
        };
        // Wake captures blocked on provider availability so they see the deregistration.
        let provider = &self.inner.provider.inner;
        let guard = provider.available_guard();
        provider.available_cv.notify_all();
        drop(guard);
        // Requests that wait for a change (WSK_TRANSPORT_LIST_CHANGE) end with STATUS_CANCELLED.
        for request in cancel {
            request.cancel();
        }
    }
}

impl Drop for Registration {
    /// Dropping without [`Registration::deregister`] deregisters without waiting.
    fn drop(&mut self) {
        self.begin_deregister();
    }
}

/// A captured provider NPI (`WSK_PROVIDER_NPI`): the provider dispatch table.
/// Dropping it is `WskReleaseProviderNPI`.
pub struct ProviderNpi {
    pub(crate) reg: Arc<RegInner>,
}

impl ProviderNpi {
    /// The version of the attachment (`WSK_PROVIDER_DISPATCH.Version`).
    pub fn version(&self) -> u16 {
        WSK_PROVIDER_VERSION
    }

    /// `WskSocket` for a listening socket (`WSK_FLAG_LISTEN_SOCKET`, TCP) of the family of `family_of`.
    /// Its callbacks are `events` (`WSK_CLIENT_LISTEN_DISPATCH`).
    pub fn listen_socket(&self, family_of: SocketAddr, events: Option<Arc<dyn ListenEvents>>) -> Op<ListenSocket> {
        Op::ready(ListenSocket::create(&self.reg, family_of, events))
    }

    /// `WskSocket` for a basic socket (`WSK_FLAG_BASIC_SOCKET`) of the family of
    /// `family_of`, over UDP when `datagram` (`SOCK_DGRAM`), else TCP (`SOCK_STREAM`).
    pub fn basic_socket(&self, family_of: SocketAddr, datagram: bool) -> Op<BasicSocket> {
        Op::ready(BasicSocket::create(&self.reg, family_of, datagram))
    }

    /// `WskSocket` for a datagram socket (`WSK_FLAG_DATAGRAM_SOCKET`, UDP) of the family of
    /// `family_of`. Its callbacks are `events` (`WSK_CLIENT_DATAGRAM_DISPATCH`).
    /// An IPv6 socket is IPv6-only, as on Windows.
    ///
    /// Fails with `STATUS_DEVICE_NOT_READY` once the registration is deregistering,
    /// `STATUS_NOT_SUPPORTED` on a backend without datagrams, the host's refusal.
    pub fn datagram_socket(
        &self,
        family_of: SocketAddr,
        events: Option<Arc<dyn DatagramEvents>>,
    ) -> Op<DatagramSocket> {
        Op::ready(DatagramSocket::create(&self.reg, family_of, events))
    }

    /// `WskSocket` for a connection-oriented socket (`WSK_FLAG_CONNECTION_SOCKET`, TCP).
    pub fn connection_socket(
        &self,
        family_of: SocketAddr,
        events: Option<Arc<dyn ConnectionEvents>>,
    ) -> Op<ConnectionSocket> {
        Op::ready(ConnectionSocket::create(&self.reg, family_of, events))
    }

    /// `WskSocket` for a stream socket (`WSK_FLAG_STREAM_SOCKET`, TCP) of the family of
    /// `family_of`: created with no role; `bind` then `listen` commits it to listening
    /// (callbacks `listen_events`, the `Listen` table of `WSK_CLIENT_STREAM_DISPATCH`),
    /// `connect` to connecting (`connection_events`, the `Connect` table).
    pub fn stream_socket(
        &self,
        family_of: SocketAddr,
        listen_events: Option<Arc<dyn ListenEvents>>,
        connection_events: Option<Arc<dyn ConnectionEvents>>,
    ) -> Op<StreamSocket> {
        Op::ready(StreamSocket::create(&self.reg, family_of, listen_events, connection_events))
    }

    /// `WskSocketConnect`: creates a connection-oriented socket, binds it to `local`
    /// and connects it to `remote`; completes once connected. [`Op::cancel`] cancels the
    /// connect (`IoCancelIrp`); the socket is then closed and the op fails with `STATUS_CANCELLED`.
    pub fn socket_connect(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
        events: Option<Arc<dyn ConnectionEvents>>,
    ) -> Op<ConnectionSocket> {
        let (op, done) = Op::new();
        let canceller = ConnectionSocket::create_connected(&self.reg, local, remote, events, done);
        op.with_canceller(canceller)
    }

    /// `WskControlClient(WSK_SET_STATIC_EVENT_CALLBACKS)`: these event bits are enabled on
    /// every socket created afterwards (of a category they fit) and can never be disabled.
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` once the registration has created a socket;
    /// `STATUS_INVALID_PARAMETER` for bits that are no event.
    pub fn set_static_event_callbacks(&self, mask: u32) -> Result<()> {
        let valid = events::LISTEN_EVENTS | events::DATAGRAM_EVENTS;
        if mask == 0 || mask & !valid != 0 {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let mut st = lock(&self.reg.state);
        if st.any_socket_created {
            return Err(NtStatus::INVALID_DEVICE_STATE);
        }
        st.static_events |= mask;
        Ok(())
    }
}

impl Drop for ProviderNpi {
    fn drop(&mut self) {
        let mut st = lock(&self.reg.state);
        st.captures -= 1;
        drop(st);
        self.reg.cv.notify_all();
    }
}
