//! Name resolution: `WskGetAddressInfo` and `WskGetNameInfo` over the backend's resolver.
//!
//! The host resolver blocks (a DNS query may take seconds), so no lookup ever runs on
//! the reactor or on the caller's thread: each is a job for a small pool of resolver
//! threads (`wsk-resolver`), at most [`MAX_RESOLVER_THREADS`], started on demand and
//! ended after [`RESOLVER_IDLE`] without work. The caller gets an [`Op`] at once.
//!
//! A lookup is a provider-level request of its registration ([`crate::request`]):
//! [`Registration::deregister`](crate::Registration::deregister) waits for it, and
//! [`Op::cancel`] completes it with `STATUS_CANCELLED` at once — the host call goes on
//! on its thread (`getaddrinfo` cannot be interrupted) and its late result is discarded.
//! A lookup cancelled before a thread picked it up never reaches the host.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use wsk_core::backend::Backend;
use wsk_core::resolve::status_of;
use wsk_core::status::NtStatus;

pub use wsk_core::resolve::{AddrHints, NameInfo, NameInfoFlags, ResolvedAddr as AddrInfo};

use crate::op::{Canceller, Op, Result};
use crate::provider::lock;
use crate::registration::{ProviderNpi, RegInner};
use crate::request::Request;

/// The most resolver threads that run at once (lookups beyond wait in a queue).
pub const MAX_RESOLVER_THREADS: usize = 4;
/// How long an idle resolver thread waits for work before it ends.
pub const RESOLVER_IDLE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    state: Mutex<PoolState>,
    cv: Condvar,
}

#[derive(Default)]
struct PoolState {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool { state: Mutex::new(PoolState::default()), cv: Condvar::new() })
}

impl Pool {
    /// Queues a job, starting a thread if every running one is busy and the bound allows.
    /// `false` if no thread can run it (none could be started); the job was dropped.
    fn submit(&'static self, job: Job) -> bool {
        let mut st = lock(&self.state);
        st.queue.push_back(job);
        if st.queue.len() > st.idle && st.threads < MAX_RESOLVER_THREADS {
            st.threads += 1;
            let spawned = thread::Builder::new().name("wsk-resolver".into()).spawn(move || self.work());
            if let Err(e) = spawned {
                st.threads -= 1;
                tracing::error!("cannot start a resolver thread: {e}");
                if st.threads == 0 {
                    st.queue.pop_back();
                    return false;
                }
            }
        }
        drop(st);
        self.cv.notify_one();
        true
    }

    fn work(&self) {
        let mut st = lock(&self.state);
        loop {
            if let Some(job) = st.queue.pop_front() {
                drop(st);
                // A panic inside a job drops its request, which completes it with
                // STATUS_INTERNAL_ERROR; the thread goes on.
                let _ = catch_unwind(AssertUnwindSafe(job));
                st = lock(&self.state);
                continue;
            }
            st.idle += 1;
            let (guard, timeout) = self.cv.wait_timeout(st, RESOLVER_IDLE).unwrap_or_else(|e| e.into_inner());
            st = guard;
            st.idle -= 1;
            if timeout.timed_out() && st.queue.is_empty() {
                st.threads -= 1;
                return;
            }
        }
    }
}

/// Starts a lookup of `reg`: `work` runs on a resolver thread with the provider's
/// backend. `attach` receives the op *before* the job is queued (so a completion routine
/// attached there runs on the resolver thread, never inline in this call) and returns
/// what the caller gets.
fn start<T: Send + 'static, R>(
    reg: &Arc<RegInner>,
    work: impl FnOnce(&dyn Backend) -> Result<T> + Send + 'static,
    attach: impl FnOnce(Op<T>) -> R,
) -> R {
    let (op, request) = match Request::<T>::start(reg, false) {
        Ok(x) => x,
        Err(e) => return attach(Op::ready(Err(e))),
    };
    let returned = attach(op);
    let provider = reg.provider.clone();
    let job_request = Arc::clone(&request);
    let job: Job = Box::new(move || {
        if job_request.is_pending() {
            let result = work(&*provider.inner.backend);
            job_request.complete(result);
        }
    });
    if !pool().submit(job) {
        request.complete(Err(NtStatus::INSUFFICIENT_RESOURCES));
    }
    returned
}

/// Hands `op` to `done`; the canceller, if the op can still be cancelled.
fn routine<T: Send + 'static>(
    done: impl FnOnce(Result<T>) + Send + 'static,
) -> impl FnOnce(Op<T>) -> Option<Canceller> {
    move |op| {
        let canceller = op.canceller();
        op.then(done);
        canceller
    }
}

impl ProviderNpi {
    /// `WskGetAddressInfo`: resolves `node` (a host name or a numeric address) and
    /// `service` (a service name or a port number) with the host resolver, on a resolver
    /// thread. The result lists one [`AddrInfo`] per address — per address and socket
    /// type when `hints` names a type or protocol — in the resolver's order, with the
    /// canonical name in the first when `hints` asked for it (`AI_CANONNAME`, `AI_FQDN`).
    /// [`Op::cancel`] completes the op with `STATUS_CANCELLED` at once.
    ///
    /// # Errors
    /// At once: `STATUS_INVALID_PARAMETER` when both `node` and `service` are `None`, or for
    /// hints [`AddrHints::validate`] refuses (`STATUS_NOT_SUPPORTED` for a socket type);
    /// `STATUS_DEVICE_NOT_READY` while the registration is being deregistered.
    /// From the lookup: `STATUS_NOT_FOUND` when the name (or service) does not exist or has
    /// no address of the family asked for; the others of [`wsk_core::resolve::ResolveError`]
    /// (`STATUS_RETRY` for a temporary failure of the name service); `STATUS_NOT_IMPLEMENTED`
    /// on a backend without a resolver.
    pub fn get_address_info(&self, node: Option<&str>, service: Option<&str>, hints: &AddrHints) -> Op<Vec<AddrInfo>> {
        self.address_info(node, service, hints, |op| op)
    }

    /// [`ProviderNpi::get_address_info`] with a completion routine, attached before the
    /// lookup starts: it runs on the resolver thread (or on the thread that cancels), or
    /// here for an error found at once. Returns the canceller (`IoCancelIrp`), `None` if
    /// the lookup already completed.
    pub fn get_address_info_then(
        &self,
        node: Option<&str>,
        service: Option<&str>,
        hints: &AddrHints,
        done: impl FnOnce(Result<Vec<AddrInfo>>) + Send + 'static,
    ) -> Option<Canceller> {
        self.address_info(node, service, hints, routine(done))
    }

    fn address_info<R>(
        &self,
        node: Option<&str>,
        service: Option<&str>,
        hints: &AddrHints,
        attach: impl FnOnce(Op<Vec<AddrInfo>>) -> R,
    ) -> R {
        if node.is_none() && service.is_none() {
            return attach(Op::ready(Err(NtStatus::INVALID_PARAMETER)));
        }
        if let Err(e) = hints.validate() {
            return attach(Op::ready(Err(e)));
        }
        let (node, service, hints) = (node.map(str::to_owned), service.map(str::to_owned), *hints);
        let work = move |backend: &dyn Backend| {
            backend.resolve(node.as_deref(), service.as_deref(), &hints).map_err(|e| status_of(&e))
        };
        start(&self.reg, work, attach)
    }

    /// `WskGetNameInfo`: the host name and service name of `addr`, by the host
    /// resolver on a resolver thread; `flags` are Windows `NI_*` bits
    /// ([`wsk_core::resolve::ni`]): `NI_NUMERICHOST` / `NI_NUMERICSERV` give the numbers
    /// without a lookup, `NI_NAMEREQD` fails for an address without a name, `NI_DGRAM`
    /// names UDP services. [`Op::cancel`] completes the op with `STATUS_CANCELLED` at once.
    ///
    /// # Errors
    /// At once: `STATUS_INVALID_PARAMETER` for an unknown flag bit;
    /// `STATUS_DEVICE_NOT_READY` while the registration is being deregistered.
    /// From the lookup: `STATUS_NOT_FOUND` (`NI_NAMEREQD` and no name), and the others of
    /// [`wsk_core::resolve::ResolveError`].
    pub fn get_name_info(&self, addr: SocketAddr, flags: NameInfoFlags) -> Op<NameInfo> {
        self.name_info(addr, flags, |op| op)
    }

    /// [`ProviderNpi::get_name_info`] with a completion routine (see
    /// [`ProviderNpi::get_address_info_then`]).
    pub fn get_name_info_then(
        &self,
        addr: SocketAddr,
        flags: NameInfoFlags,
        done: impl FnOnce(Result<NameInfo>) + Send + 'static,
    ) -> Option<Canceller> {
        self.name_info(addr, flags, routine(done))
    }

    fn name_info<R>(&self, addr: SocketAddr, flags: NameInfoFlags, attach: impl FnOnce(Op<NameInfo>) -> R) -> R {
        if let Err(e) = flags.validate() {
            return attach(Op::ready(Err(e)));
        }
        start(&self.reg, move |backend: &dyn Backend| backend.name_info(addr, flags).map_err(|e| status_of(&e)), attach)
    }
}
