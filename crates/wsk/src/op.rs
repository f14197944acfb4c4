//! Operations: the Rust face of an IRP.
//!
//! Every WSK call starts its operation at once and completes it exactly once, with a
//! status. In Rust that completion is delivered either to a closure (the IRP's
//! completion routine, run on a provider thread or inline) or to an [`Op`] future.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use wsk_core::status::NtStatus;

use crate::provider::lock;
use crate::socket::SocketShared;

/// The result of a WSK operation: its value, or the NTSTATUS it failed with.
pub type Result<T, E = NtStatus> = std::result::Result<T, E>;

/// A completion routine: called exactly once with the operation's outcome.
pub(crate) type Done<T> = Box<dyn FnOnce(Result<T>) + Send + 'static>;

pub(crate) use wsk_core::irp::OpId;

/// Where an operation's outcome goes: kept for a poller, or handed to a routine.
enum Slot<T> {
    /// Not completed; the waker of the task awaiting it, if any.
    Waiting(Option<Waker>),
    /// Completed, not yet taken.
    Ready(Result<T>),
    /// Not completed; this routine takes the outcome (see [`Op::then`]).
    Routine(Done<T>),
    /// The outcome was taken.
    Taken,
}

/// The provider's end of an operation: completing it is `IoCompleteRequest`.
/// Dropped without completing (a provider bug), it reports `STATUS_INTERNAL_ERROR`
/// rather than leaving the caller waiting forever.
struct Completer<T> {
    slot: Option<Arc<Mutex<Slot<T>>>>,
}

impl<T> Completer<T> {
    fn complete(&mut self, result: Result<T>) {
        let Some(slot) = self.slot.take() else { return };
        let mut state = lock(&slot);
        match std::mem::replace(&mut *state, Slot::Taken) {
            Slot::Routine(routine) => {
                drop(state);
                routine(result);
            }
            Slot::Waiting(waker) => {
                *state = Slot::Ready(result);
                drop(state);
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            // Completed twice cannot happen: `slot` was taken above.
            other @ (Slot::Ready(_) | Slot::Taken) => *state = other,
        }
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        if self.slot.is_some() {
            self.complete(Err(NtStatus::INTERNAL_ERROR));
        }
    }
}

/// A started operation: a future of its outcome, or a completion routine ([`Op::then`]).
///
/// The operation runs whether or not the `Op` is polled: like an IRP, it is in
/// progress from the call that returned it. Dropping an `Op` does **not** cancel the
/// operation (its result is discarded); call [`Op::cancel`] for `IoCancelIrp`.
/// Works under any executor (tokio, `futures::executor`, or [`Op::wait`]).
#[must_use = "an Op carries the operation's result: await it, wait() on it, then() it, or detach() it"]
pub struct Op<T> {
    slot: Arc<Mutex<Slot<T>>>,
    cancel: Option<Canceller>,
}

impl<T: Send + 'static> Op<T> {
    /// Creates an op and the completion routine that finishes it.
    pub(crate) fn new() -> (Op<T>, Done<T>) {
        let slot = Arc::new(Mutex::new(Slot::Waiting(None)));
        let mut completer = Completer { slot: Some(Arc::clone(&slot)) };
        let done: Done<T> = Box::new(move |r| completer.complete(r));
        (Op { slot, cancel: None }, done)
    }

    /// An op that already failed (or succeeded) synchronously.
    pub(crate) fn ready(result: Result<T>) -> Op<T> {
        Op { slot: Arc::new(Mutex::new(Slot::Ready(result))), cancel: None }
    }

    /// Hands the outcome to a completion routine instead of a poller — the IRP's
    /// `IoSetCompletionRoutine`. The routine runs once: on the thread that completes
    /// the operation (a provider thread, in the socket's completion order, with no
    /// provider lock held), or right here if the operation already completed.
    pub fn then(self, routine: impl FnOnce(Result<T>) + Send + 'static) {
        let mut state = lock(&self.slot);
        match std::mem::replace(&mut *state, Slot::Taken) {
            Slot::Ready(result) => {
                drop(state);
                routine(result);
            }
            Slot::Waiting(_) => *state = Slot::Routine(Box::new(routine)),
            Slot::Taken => {
                // The future was already polled to completion: its outcome is gone.
                drop(state);
                routine(Err(NtStatus::INVALID_DEVICE_REQUEST));
            }
            other @ Slot::Routine(_) => *state = other,
        }
    }

    /// Makes `cancel` cancel the operation `canceller` names (one the op is built on).
    pub(crate) fn with_canceller(mut self, canceller: Option<Canceller>) -> Self {
        self.cancel = canceller;
        self
    }

    pub(crate) fn cancellable(self, socket: &Arc<SocketShared>, id: OpId) -> Self {
        self.with_canceller(Some(Canceller::new(socket, id)))
    }

    /// Cancels the operation if it is still pending (`IoCancelIrp`): it then completes
    /// with `STATUS_CANCELLED` — except a receive that already took bytes, which completes
    /// successfully with them so nothing is lost. Returns whether a pending operation was found.
    pub fn cancel(&self) -> bool {
        self.cancel.as_ref().is_some_and(Canceller::cancel)
    }

    /// A handle that cancels this operation later (`IoCancelIrp`), usable after the op
    /// was handed to [`Op::then`]. `None` when the operation can no longer be cancelled
    /// (it completed synchronously, or it is not cancellable).
    pub fn canceller(&self) -> Option<Canceller> {
        self.cancel.clone()
    }

    /// Lets the operation run on without waiting for it; its result is discarded.
    /// (The same as dropping the `Op`, said explicitly.)
    pub fn detach(self) {}

    /// Blocks the calling thread until the operation completes or `timeout` passes;
    /// `None` means it is still pending; the operation goes on, but its result is
    /// discarded (call [`Op::cancel`] first to stop it).
    ///
    /// Called from a callback or completion routine, it does not block: see [`Op::wait`].
    pub fn wait_timeout(self, timeout: Duration) -> Option<Result<T>> {
        self.block(Some(Instant::now() + timeout))
    }

    /// Blocks the calling thread until the operation completes.
    ///
    /// Callbacks and completion routines must not wait (the WSK rule): the provider
    /// thread running them would wait for itself. Called from one, `wait` returns
    /// `STATUS_CANT_WAIT` at once unless the operation already completed (and logs the
    /// contract violation) instead of hanging the provider; use [`Op::then`] there.
    pub fn wait(self) -> Result<T> {
        self.block(None).expect("no deadline")
    }

    fn block(mut self, deadline: Option<Instant>) -> Option<Result<T>> {
        if IN_CLIENT_CODE.with(Cell::get) > 0 {
            let mut state = lock(&self.slot);
            match std::mem::replace(&mut *state, Slot::Taken) {
                Slot::Ready(result) => return Some(result),
                other => *state = other,
            }
            tracing::error!("a callback or completion routine waited for an operation; WSK callbacks must not wait");
            return Some(Err(NtStatus::CANT_WAIT));
        }
        let parker = Arc::new(Parker { woken: Mutex::new(false), cv: Condvar::new() });
        let waker = Waker::from(Arc::clone(&parker));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(r) = Pin::new(&mut self).poll(&mut cx) {
                return Some(r);
            }
            let mut woken = lock(&parker.woken);
            while !*woken {
                match deadline {
                    None => woken = parker.cv.wait(woken).unwrap_or_else(|e| e.into_inner()),
                    Some(deadline) => {
                        let now = Instant::now();
                        if now >= deadline {
                            return None;
                        }
                        woken = parker.cv.wait_timeout(woken, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
                    }
                }
            }
            *woken = false;
        }
    }
}

/// Cancels one pending operation (`IoCancelIrp`): returned by the `*_then` methods and
/// [`Op::canceller`]. Cancelling a completed operation does nothing.
#[derive(Clone)]
pub struct Canceller {
    target: CancelTarget,
}

/// What a [`Canceller`] cancels.
#[derive(Clone)]
enum CancelTarget {
    /// An operation of a socket, by id.
    Socket { socket: Weak<SocketShared>, id: OpId },
    /// A provider-level request (name resolution, transport list change).
    Request(Weak<dyn Cancel>),
}

/// Something pending that can be cancelled (`IoCancelIrp`): completes it with
/// `STATUS_CANCELLED` if it is still pending, and says whether it was.
pub(crate) trait Cancel: Send + Sync {
    fn cancel(&self) -> bool;
}

impl Canceller {
    pub(crate) fn new(socket: &Arc<SocketShared>, id: OpId) -> Canceller {
        Canceller { target: CancelTarget::Socket { socket: Arc::downgrade(socket), id } }
    }

    /// A canceller of a provider-level request.
    pub(crate) fn request(request: Weak<dyn Cancel>) -> Canceller {
        Canceller { target: CancelTarget::Request(request) }
    }

    /// Cancels the operation if it is still pending; it then completes with
    /// `STATUS_CANCELLED` (see [`Op::cancel`]). Returns whether a pending operation was found.
    pub fn cancel(&self) -> bool {
        match &self.target {
            CancelTarget::Socket { socket, id } => socket.upgrade().is_some_and(|s| s.cancel(*id)),
            CancelTarget::Request(request) => request.upgrade().is_some_and(|r| r.cancel()),
        }
    }
}

impl std::fmt::Debug for Canceller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.target {
            CancelTarget::Socket { id, .. } => f.debug_struct("Canceller").field("id", id).finish(),
            CancelTarget::Request(_) => f.debug_struct("Canceller").field("request", &"provider-level").finish(),
        }
    }
}

/// Whether the calling thread is running client code for the provider (a callback or a
/// completion routine), where waiting for a WSK operation would deadlock.
pub fn in_client_code() -> bool {
    IN_CLIENT_CODE.with(Cell::get) > 0
}

thread_local! {
    /// How deep this thread is in client code the provider runs (callbacks, completion routines).
    static IN_CLIENT_CODE: Cell<u32> = const { Cell::new(0) };
}

/// Marks this thread as running client code for the provider, until dropped.
pub(crate) struct ClientCode(());

impl ClientCode {
    pub(crate) fn enter() -> ClientCode {
        IN_CLIENT_CODE.with(|c| c.set(c.get() + 1));
        ClientCode(())
    }
}

impl Drop for ClientCode {
    fn drop(&mut self) {
        IN_CLIENT_CODE.with(|c| c.set(c.get() - 1));
    }
}

impl<T> Future for Op<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = lock(&self.slot);
        match std::mem::replace(&mut *state, Slot::Taken) {
            Slot::Ready(result) => Poll::Ready(result),
            Slot::Waiting(_) => {
                *state = Slot::Waiting(Some(cx.waker().clone()));
                Poll::Pending
            }
            // Polled after completion (or after `then`, which consumes the Op): a misuse
            // of the future, reported as a status rather than a hang.
            Slot::Taken | Slot::Routine(_) => Poll::Ready(Err(NtStatus::INVALID_DEVICE_REQUEST)),
        }
    }
}

struct Parker {
    woken: Mutex<bool>,
    cv: Condvar,
}

impl std::task::Wake for Parker {
    fn wake(self: Arc<Self>) {
        *lock(&self.woken) = true;
        self.cv.notify_one();
    }
}
