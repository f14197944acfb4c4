//! Provider-level requests: operations of `WSK_PROVIDER_DISPATCH` that complete later —
//! name resolution (`WskGetAddressInfo`, `WskGetNameInfo`) and
//! `WskControlClient(WSK_TRANSPORT_LIST_CHANGE)`.
//!
//! A registration counts them: `WskDeregister` blocks until every one has completed
//! (reference §2.2: "pending provider-level IRPs completed"). Those that wait for a
//! change that never comes (a transport list change) are cancelled by the deregistration
//! itself, with `STATUS_CANCELLED`. Each completes exactly once: with its result, or with
//! `STATUS_CANCELLED` through [`Op::cancel`] — whichever comes first; the other is discarded.

use std::sync::{Arc, Mutex};

use wsk_core::status::NtStatus;

use crate::op::{Cancel, Canceller, ClientCode, Done, Op, Result};
use crate::provider::lock;
use crate::registration::{RegInner, Registration};

/// One pending provider-level request of a registration.
pub(crate) struct Request<T> {
    reg: Arc<RegInner>,
    done: Mutex<Option<Done<T>>>,
}

impl<T: Send + 'static> Request<T> {
    /// Starts a request of `reg`, counted until it completes; with `until_deregister`, the
    /// deregistration cancels it. The op's [`Op::cancel`] cancels it.
    ///
    /// # Errors
    /// `STATUS_DEVICE_NOT_READY` once the registration is being deregistered.
    pub(crate) fn start(reg: &Arc<RegInner>, until_deregister: bool) -> Result<(Op<T>, Arc<Request<T>>)> {
        let (op, done) = Op::new();
        let request = Arc::new(Request { reg: Arc::clone(reg), done: Mutex::new(Some(done)) });
        let mut st = lock(&reg.state);
        if st.deregistered {
            drop(st);
            // Not counted: drop the routine without completing through `finish`.
            drop(lock(&request.done).take());
            return Err(NtStatus::DEVICE_NOT_READY);
        }
        st.requests += 1;
        if until_deregister {
            st.on_deregister.retain(|r| r.pending());
            st.on_deregister.push(Arc::clone(&request) as Arc<dyn Pending>);
        }
        drop(st);
        let weak = Arc::downgrade(&request);
        let canceller = Canceller::request(weak as std::sync::Weak<dyn Cancel>);
        Ok((op.with_canceller(Some(canceller)), request))
    }

    /// Completes the request with `result` unless it already completed (cancelled);
    /// returns whether this call completed it. The completion routine runs here, as
    /// client code; the registration stops counting the request after it returned.
    pub(crate) fn complete(&self, result: Result<T>) -> bool {
        let Some(done) = lock(&self.done).take() else { return false };
        self.run(done, result);
        true
    }

    /// Whether the request has not completed yet.
    pub(crate) fn is_pending(&self) -> bool {
        lock(&self.done).is_some()
    }
}

impl<T: Send + 'static> Cancel for Request<T> {
    fn cancel(&self) -> bool {
        self.complete(Err(NtStatus::CANCELLED))
    }
}

/// A request the deregistration cancels.
pub(crate) trait Pending: Cancel {
    fn pending(&self) -> bool;
}

impl<T: Send + 'static> Pending for Request<T> {
    fn pending(&self) -> bool {
        self.is_pending()
    }
}

/// A request dropped without completing (its worker panicked) still completes, with
/// `STATUS_INTERNAL_ERROR`, so the client and `WskDeregister` do not wait forever.
impl<T> Request<T> {
    /// Runs the completion routine as client code, then stops counting the request.
    fn run(&self, done: Done<T>, result: Result<T>) {
        {
            let _client = ClientCode::enter();
            done(result);
        }
        self.reg.request_finished();
    }
}

impl<T> Drop for Request<T> {
    fn drop(&mut self) {
        let done = match self.done.get_mut() {
            Ok(done) => done.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(done) = done {
            tracing::error!("a provider-level request ended without an outcome; completed with STATUS_INTERNAL_ERROR");
            self.run(done, Err(NtStatus::INTERNAL_ERROR));
        }
    }
}

impl RegInner {
    /// One provider-level request completed.
    pub(crate) fn request_finished(&self) {
        let mut st = lock(&self.state);
        st.requests -= 1;
        drop(st);
        self.cv.notify_all();
    }
}

impl Registration {
    /// Provider-level requests of this registration still pending (name resolutions,
    /// transport list changes); [`Registration::deregister`] waits for them.
    pub fn pending_requests(&self) -> usize {
        lock(&self.inner.state).requests
    }
}

/// One transport the provider offers (`WSK_TRANSPORT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transport {
    /// The WSK version the transport supports.
    pub version: u16,
    /// `SOCK_STREAM` (1) or `SOCK_DGRAM` (2).
    pub socket_type: u16,
    /// `IPPROTO_TCP` (6) or `IPPROTO_UDP` (17).
    pub protocol: u32,
    /// The address family.
    pub family: wsk_core::addr::AddressFamily,
}

impl crate::ProviderNpi {
    /// `WskControlClient(WSK_TRANSPORT_LIST_QUERY)`: TCP and UDP, each over IPv4 and IPv6.
    pub fn transports(&self) -> Vec<Transport> {
        use wsk_core::addr::AddressFamily::{V4, V6};
        let t = |socket_type, protocol, family| Transport {
            version: wsk_core::consts::WSK_PROVIDER_VERSION,
            socket_type,
            protocol,
            family,
        };
        vec![t(1, 6, V4), t(1, 6, V6), t(2, 17, V4), t(2, 17, V6)]
    }

    /// `WskControlClient(WSK_TRANSPORT_LIST_CHANGE)`: completes when the provider's list
    /// of transports changes. This provider's list (TCP and UDP over IPv4 and IPv6) never
    /// changes, so the op stays pending until [`Op::cancel`] (`IoCancelIrp`) or the
    /// deregistration cancels it; both complete it with `STATUS_CANCELLED`.
    /// [`Registration::deregister`] does not wait for it: it cancels it.
    ///
    /// The op fails at once with `STATUS_DEVICE_NOT_READY` if the registration is being
    /// deregistered.
    pub fn transport_list_change(&self) -> Op<()> {
        match Request::<()>::start(&self.reg, true) {
            Ok((op, _request)) => op,
            Err(e) => Op::ready(Err(e)),
        }
    }
}
