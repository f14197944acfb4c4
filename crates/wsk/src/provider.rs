//! The provider runtime: the reactor thread that plays the kernel's part.
//!
//! One thread polls the backend and drives sockets: it moves data between the host
//! and pending operations, runs event callbacks and completion routines. Client
//! threads may also complete their own operations inline (as an IRP can complete
//! inside the call that started it), but event callbacks run only on the reactor.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use slab::Slab;
use wsk_core::backend::{Backend, Readiness};

use crate::socket::{AddressWatchState, SocketShared, ADDRESS_WATCH_TOKEN};

/// Locks a mutex, ignoring poisoning: a panic in one client callback must not wedge the provider.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) struct ProviderInner {
    pub(crate) backend: Box<dyn Backend>,
    sockets: Mutex<Slab<Arc<SocketShared>>>,
    ready: Mutex<Vec<usize>>,
    /// Sockets that want a look at a deadline (graceful disconnects waiting for the FIN's ACK).
    timers: Mutex<BTreeMap<usize, Instant>>,
    available: Mutex<bool>,
    pub(crate) available_cv: Condvar,
    reactor: OnceLock<ThreadId>,
    shutdown: AtomicBool,
    /// The host address watch behind `SIO_ADDRESS_LIST_CHANGE` (opened on first use).
    pub(crate) address_watch: Mutex<AddressWatchState>,
}

impl ProviderInner {
    pub(crate) fn is_reactor_thread(&self) -> bool {
        self.reactor.get() == Some(&thread::current().id())
    }

    /// Asks the reactor to drive this socket soon.
    pub(crate) fn schedule(&self, token: usize) {
        lock(&self.ready).push(token);
        self.backend.wake();
    }

    pub(crate) fn set_timer(&self, token: usize, at: Instant) {
        lock(&self.timers).insert(token, at);
        self.backend.wake();
    }

    pub(crate) fn clear_timer(&self, token: usize) {
        lock(&self.timers).remove(&token);
    }

    /// Adds a socket to the table; `make` receives its token.
    pub(crate) fn insert_socket(&self, make: impl FnOnce(usize) -> Arc<SocketShared>) -> Arc<SocketShared> {
        let mut sockets = lock(&self.sockets);
        let entry = sockets.vacant_entry();
        let socket = make(entry.key());
        entry.insert(Arc::clone(&socket));
        socket
    }

    pub(crate) fn remove_socket(&self, token: usize) {
        let mut sockets = lock(&self.sockets);
        sockets.try_remove(token);
        drop(sockets);
        self.clear_timer(token);
    }

    pub(crate) fn socket(&self, token: usize) -> Option<Arc<SocketShared>> {
        lock(&self.sockets).get(token).cloned()
    }

    pub(crate) fn is_available(&self) -> bool {
        *lock(&self.available)
    }

    pub(crate) fn available_guard(&self) -> MutexGuard<'_, bool> {
        lock(&self.available)
    }

    /// Number of sockets open on this provider.
    pub(crate) fn socket_count(&self) -> usize {
        lock(&self.sockets).len()
    }

    fn run(self: Arc<Self>) {
        let mut events = Vec::with_capacity(256);
        while !self.shutdown.load(Ordering::Acquire) {
            let timeout = self.next_timeout();
            events.clear();
            if let Err(e) = self.backend.poll(&mut events, timeout) {
                tracing::error!("backend poll failed: {e}");
                thread::sleep(Duration::from_millis(1));
                continue;
            }
            for &(token, readiness) in &events {
                if token == ADDRESS_WATCH_TOKEN {
                    self.on_address_watch();
                } else if let Some(socket) = self.socket(token) {
                    socket.on_readiness(readiness);
                }
            }
            let ready = std::mem::take(&mut *lock(&self.ready));
            for token in ready {
                if let Some(socket) = self.socket(token) {
                    socket.on_readiness(Readiness::default());
                }
            }
            self.fire_timers();
        }
    }

    fn next_timeout(&self) -> Option<Duration> {
        if !lock(&self.ready).is_empty() {
            return Some(Duration::ZERO);
        }
        let timers = lock(&self.timers);
        let earliest = timers.values().min()?;
        Some(earliest.saturating_duration_since(Instant::now()))
    }

    fn fire_timers(&self) {
        let now = Instant::now();
        let due: Vec<usize> = {
            let mut timers = lock(&self.timers);
            let due: Vec<usize> = timers.iter().filter(|(_, at)| **at <= now).map(|(t, _)| *t).collect();
            for t in &due {
                timers.remove(t);
            }
            due
        };
        for token in due {
            if let Some(socket) = self.socket(token) {
                socket.on_timer();
            }
        }
    }
}

/// A WSK provider: the runtime behind registrations, sockets and callbacks.
///
/// Most programs use [`Provider::host`], the process-wide provider over the host's
/// network stack, which [`Registration::new`](crate::Registration::new) uses.
///
/// The reactor thread stops when the last handle to its provider is gone (every
/// `Provider` clone, and every registration made with it).
#[derive(Clone)]
pub struct Provider {
    pub(crate) inner: Arc<ProviderInner>,
    _running: Arc<Running>,
}

/// Stops the reactor when the last [`Provider`] handle goes away.
struct Running(Arc<ProviderInner>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.shutdown.store(true, Ordering::Release);
        self.0.backend.wake();
    }
}

impl Provider {
    /// The process-wide provider over the host network (started on first use).
    ///
    /// # Panics
    /// If the host refuses an epoll instance or a thread at first use.
    pub fn host() -> Provider {
        static HOST: OnceLock<Provider> = OnceLock::new();
        HOST.get_or_init(|| Provider::new_host().expect("cannot start the host provider")).clone()
    }

    /// A new, separate provider over the host network, ready at once.
    ///
    /// # Errors
    /// When the host refuses an epoll instance or a thread.
    pub fn new_host() -> io::Result<Provider> {
        Provider::with_backend(Box::new(wsk_host::HostBackend::new()?), true)
    }

    /// A provider over any backend; `available == false` makes captures wait until
    /// [`Provider::set_available`] (as during boot on Windows).
    ///
    /// # Errors
    /// When the reactor thread cannot be started.
    pub fn with_backend(backend: Box<dyn Backend>, available: bool) -> io::Result<Provider> {
        let inner = Arc::new(ProviderInner {
            backend,
            sockets: Mutex::new(Slab::new()),
            ready: Mutex::new(Vec::new()),
            timers: Mutex::new(BTreeMap::new()),
            available: Mutex::new(available),
            available_cv: Condvar::new(),
            reactor: OnceLock::new(),
            shutdown: AtomicBool::new(false),
            address_watch: Mutex::new(AddressWatchState::default()),
        });
        let runner = Arc::clone(&inner);
        let handle = thread::Builder::new().name("wsk-provider".into()).spawn(move || runner.run())?;
        let _ = inner.reactor.set(handle.thread().id());
        Ok(Provider { _running: Arc::new(Running(Arc::clone(&inner))), inner })
    }

    /// Makes the provider available (or not): captures waiting for it return.
    pub fn set_available(&self, available: bool) {
        *lock(&self.inner.available) = available;
        self.inner.available_cv.notify_all();
    }

    /// Number of sockets currently open on this provider, across registrations.
    pub fn open_sockets(&self) -> usize {
        self.inner.socket_count()
    }
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider").field("open_sockets", &self.open_sockets()).finish()
    }
}
