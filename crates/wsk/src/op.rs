//! Operations: the Rust face of an IRP.
//!
//! Every WSK call starts its operation at once and completes it exactly once, with a
//! status. In Rust that completion is delivered either to a closure (the IRP's
//! completion routine, run on a provider thread or inline) or to an [`Op`] future.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use futures_channel::oneshot;
use wsk_core::status::NtStatus;

use crate::socket::SocketShared;

/// The result of a WSK operation: its value, or the NTSTATUS it failed with.
pub type Result<T, E = NtStatus> = std::result::Result<T, E>;

/// A completion routine: called exactly once with the operation's outcome.
pub(crate) type Done<T> = Box<dyn FnOnce(Result<T>) + Send + 'static>;

pub(crate) use wsk_core::irp::OpId;

/// A started operation, awaited as a future.
///
/// The operation runs whether or not the `Op` is polled: like an IRP, it is in
/// progress from the call that returned it. Dropping an `Op` does **not** cancel the
/// operation (its result is discarded); call [`Op::cancel`] for `IoCancelIrp`.
/// Works under any executor (tokio, `futures::executor`, or [`Op::wait`]).
#[must_use = "an Op carries the operation's result; await it, wait() on it, or drop it explicitly"]
pub struct Op<T> {
    rx: oneshot::Receiver<Result<T>>,
    cancel: Option<(Weak<SocketShared>, OpId)>,
}

impl<T: Send + 'static> Op<T> {
    /// Creates an op and the completion routine that finishes it.
    pub(crate) fn new() -> (Op<T>, Done<T>) {
        let (tx, rx) = oneshot::channel();
        let done: Done<T> = Box::new(move |r| {
            let _ = tx.send(r);
        });
        (Op { rx, cancel: None }, done)
    }

    /// An op that already failed (or succeeded) synchronously.
    pub(crate) fn ready(result: Result<T>) -> Op<T> {
        let (op, done) = Op::new();
        done(result);
        op
    }

    pub(crate) fn cancellable(mut self, socket: &Arc<SocketShared>, id: OpId) -> Self {
        self.cancel = Some((Arc::downgrade(socket), id));
        self
    }

    /// Cancels the operation if it is still pending (`IoCancelIrp`): it then completes
    /// with `STATUS_CANCELLED`. Returns whether a pending operation was found.
    pub fn cancel(&self) -> bool {
        match &self.cancel {
            Some((socket, id)) => socket.upgrade().is_some_and(|s| s.cancel(*id)),
            None => false,
        }
    }

    /// Lets the operation run on without waiting for it; its result is discarded.
    /// (The same as dropping the `Op`, said explicitly.)
    pub fn detach(self) {}

    /// Blocks the calling thread until the operation completes or `timeout` passes;
    /// `None` means it is still pending; the operation goes on, but its result is
    /// discarded (call [`Op::cancel`] first to stop it).
    pub fn wait_timeout(mut self, timeout: std::time::Duration) -> Option<Result<T>> {
        let deadline = std::time::Instant::now() + timeout;
        let parker = Arc::new(Parker { woken: std::sync::Mutex::new(false), cv: std::sync::Condvar::new() });
        let waker = std::task::Waker::from(Arc::clone(&parker));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(r) = Pin::new(&mut self).poll(&mut cx) {
                return Some(r);
            }
            let mut woken = parker.woken.lock().unwrap_or_else(|e| e.into_inner());
            while !*woken {
                let now = std::time::Instant::now();
                if now >= deadline {
                    return None;
                }
                woken = parker.cv.wait_timeout(woken, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
            }
            *woken = false;
        }
    }

    /// Blocks the calling thread until the operation completes.
    ///
    /// Never call this from an event callback or a completion routine: the provider
    /// thread would wait for itself (the WSK rule "callbacks must not wait").
    pub fn wait(self) -> Result<T> {
        futures_executor::block_on(self)
    }
}

impl<T> Future for Op<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Ready(Ok(r)) => Poll::Ready(r),
            // The provider dropped the completion without calling it: that would break
            // the exactly-once rule, so it is reported as an internal error, never a hang.
            Poll::Ready(Err(_)) => Poll::Ready(Err(NtStatus::INTERNAL_ERROR)),
            Poll::Pending => Poll::Pending,
        }
    }
}

struct Parker {
    woken: std::sync::Mutex<bool>,
    cv: std::sync::Condvar,
}

impl std::task::Wake for Parker {
    fn wake(self: Arc<Self>) {
        *self.woken.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cv.notify_one();
    }
}
