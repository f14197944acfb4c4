//! The operation (IRP) lifecycle, without any I/O.
//!
//! Every WSK call that takes an IRP completes it exactly once, with a status and an
//! `Information` value: also on synchronous failure, and also when the operation is
//! cancelled (`IoCancelIrp`) or its socket closes. Several pending operations of one
//! kind on one socket complete in the order they were posted (FIFO: WSK documents no
//! order; clients such as the Microsoft echo sample assume it).
//!
//! [`Lifecycle`] is the state of one operation and refuses a second completion;
//! [`OpQueue`] is a FIFO of pending operations that can also give one up by id.

use std::collections::VecDeque;

use crate::status::NtStatus;

/// `IO_STATUS_BLOCK`: how an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoStatus {
    /// The final status.
    pub status: NtStatus,
    /// The operation's count: bytes moved, or a pointer-sized value (e.g. a new socket).
    pub information: usize,
}

impl IoStatus {
    /// A success carrying `information`.
    pub const fn success(information: usize) -> Self {
        IoStatus { status: NtStatus::SUCCESS, information }
    }

    /// A failure: `Information` is 0.
    pub const fn failure(status: NtStatus) -> Self {
        IoStatus { status, information: 0 }
    }

    /// `STATUS_CANCELLED`, the status of an operation cancelled or cut short by close.
    pub const CANCELLED: IoStatus = IoStatus::failure(NtStatus::CANCELLED);
}

/// Identifies an operation within its socket.
pub type OpId = u64;

/// The state of one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Started and not completed: its buffers belong to the provider.
    Pending,
    /// Completed (possibly with `STATUS_CANCELLED`): nothing may touch it again.
    Completed(IoStatus),
}

/// A second completion was attempted: a provider bug, never a client's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("operation already completed with {0:?}")]
pub struct AlreadyCompleted(pub IoStatus);

impl Lifecycle {
    /// Completes a pending operation.
    ///
    /// # Errors
    /// [`AlreadyCompleted`] with the first outcome when it already completed.
    pub fn complete(&mut self, status: IoStatus) -> Result<(), AlreadyCompleted> {
        match *self {
            Lifecycle::Pending => {
                *self = Lifecycle::Completed(status);
                Ok(())
            }
            Lifecycle::Completed(first) => Err(AlreadyCompleted(first)),
        }
    }

    /// Whether it is still pending.
    pub const fn is_pending(&self) -> bool {
        matches!(self, Lifecycle::Pending)
    }
}

/// Hands out operation ids, increasing, never reused within a socket.
#[derive(Debug, Clone)]
pub struct OpIds(OpId);

impl Default for OpIds {
    fn default() -> Self {
        OpIds(1)
    }
}

impl OpIds {
    /// The next id.
    pub fn next_id(&mut self) -> OpId {
        let id = self.0;
        self.0 += 1;
        id
    }
}

/// Pending operations of one kind on one socket, in posting order.
#[derive(Debug)]
pub struct OpQueue<T> {
    ops: VecDeque<(OpId, T)>,
}

impl<T> Default for OpQueue<T> {
    fn default() -> Self {
        OpQueue { ops: VecDeque::new() }
    }
}

impl<T> OpQueue<T> {
    /// Appends an operation: it completes after every operation already queued.
    pub fn push(&mut self, id: OpId, op: T) {
        debug_assert!(self.ops.back().is_none_or(|(last, _)| *last < id), "ids increase in posting order");
        self.ops.push_back((id, op));
    }

    /// The oldest pending operation.
    pub fn front(&self) -> Option<&T> {
        self.ops.front().map(|(_, op)| op)
    }

    /// The oldest pending operation, to make progress on it.
    pub fn front_mut(&mut self) -> Option<&mut T> {
        self.ops.front_mut().map(|(_, op)| op)
    }

    /// Takes the oldest operation out (to complete it).
    pub fn pop_front(&mut self) -> Option<T> {
        self.ops.pop_front().map(|(_, op)| op)
    }

    /// Takes operation `id` out wherever it is (to cancel it); `None` when it is not pending.
    pub fn remove(&mut self, id: OpId) -> Option<T> {
        let at = self.ops.iter().position(|(i, _)| *i == id)?;
        self.ops.remove(at).map(|(_, op)| op)
    }

    /// Whether operation `id` is pending here.
    pub fn contains(&self, id: OpId) -> bool {
        self.ops.iter().any(|(i, _)| *i == id)
    }

    /// Takes every operation out, oldest first (close cancels them in this order).
    pub fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.ops.drain(..).map(|(_, op)| op)
    }

    /// The pending operations, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.ops.iter().map(|(_, op)| op)
    }

    /// Number of pending operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether none is pending.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn completes_exactly_once() {
        let mut op = Lifecycle::Pending;
        assert!(op.is_pending());
        op.complete(IoStatus::success(5)).unwrap();
        assert_eq!(op.complete(IoStatus::CANCELLED), Err(AlreadyCompleted(IoStatus::success(5))));
        assert_eq!(op, Lifecycle::Completed(IoStatus::success(5)));
    }

    #[test]
    fn failures_carry_no_information() {
        assert_eq!(IoStatus::failure(NtStatus::CONNECTION_RESET).information, 0);
        assert_eq!(IoStatus::CANCELLED.status, NtStatus::CANCELLED);
    }

    #[test]
    fn queue_is_fifo_and_cancels_by_id() {
        let mut ids = OpIds::default();
        let mut q = OpQueue::default();
        let a = ids.next_id();
        let b = ids.next_id();
        let c = ids.next_id();
        q.push(a, "a");
        q.push(b, "b");
        q.push(c, "c");
        assert_eq!(q.remove(b), Some("b"));
        assert_eq!(q.remove(b), None, "a cancelled operation is no longer pending");
        assert!(!q.contains(b));
        assert_eq!(q.pop_front(), Some("a"));
        assert_eq!(q.drain().collect::<Vec<_>>(), vec!["c"]);
        assert!(q.is_empty());
    }

    proptest! {
        /// Whatever is cancelled, the rest completes in posting order, each once.
        #[test]
        fn completion_order_is_posting_order(n in 1usize..64, cancel in proptest::collection::vec(any::<bool>(), 64)) {
            let mut ids = OpIds::default();
            let mut q = OpQueue::default();
            let posted: Vec<OpId> = (0..n).map(|_| ids.next_id()).collect();
            for &id in &posted {
                q.push(id, (id, Lifecycle::Pending));
            }
            let mut cancelled = Vec::new();
            for (&id, &c) in posted.iter().zip(&cancel) {
                if c {
                    let (got, mut state) = q.remove(id).unwrap();
                    prop_assert_eq!(got, id);
                    state.complete(IoStatus::CANCELLED).unwrap();
                    cancelled.push(id);
                }
            }
            let mut completed = Vec::new();
            while let Some((id, mut state)) = q.pop_front() {
                state.complete(IoStatus::success(0)).unwrap();
                completed.push(id);
            }
            let expected: Vec<OpId> = posted.iter().copied().filter(|id| !cancelled.contains(id)).collect();
            prop_assert_eq!(completed, expected);
        }
    }
}
