//! How a WSK call completes its IRP.
//!
//! Every provider function takes the client's IRP, sets up the next stack location on the
//! client's behalf (`IoSetNextIrpStackLocation`, as Windows' providers do) and completes
//! it exactly once with `IoCompleteRequest`, which runs the client's completion routine.
//!
//! An operation may finish before the provider function returns (an error found at
//! once, data already there, the reactor thread racing the caller). Windows' rule is
//! that a function either returns `STATUS_PENDING` having marked the IRP pending, or has
//! completed the IRP itself and returns the status it completed with. Two cases:
//!
//! - The operation finishes *in the function's own call*, on the caller's thread (the
//!   Rust provider delivers the completion inline): the IRP is completed right there —
//!   the client's completion routine runs before anything the provider delivers after
//!   that completion (the next receive indication, say) — and the function returns the
//!   status, which it finds in an [`Inline`] cell on its own stack (the IRP may already
//!   be freed by then).
//! - Otherwise the function marks the IRP pending and says so in a state word in the IRP
//!   (in `Tail.Overlay.DriverContext`, which belongs to the driver that currently owns the
//!   IRP — the provider, while the call is in progress), then returns `STATUS_PENDING`; the
//!   completion, on whatever thread, completes the IRP once the word says so. A completion
//!   on another thread that arrives while the function is still returning waits for that
//!   word (a few instructions away), so completions stay in the order the provider decided.
//!
//! Cancellation (`IoCancelIrp`) goes through the IRP's cancel routine, under the
//! process-wide cancel lock, exactly as on Windows: the routine takes a clone of the
//! operation's [`Canceller`] while the lock is held, releases the lock, and cancels; the
//! completion path removes the routine under the same lock before completing, so a
//! cancel never touches an IRP that was already handed back.

use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};

use wsk_api::Canceller;

use crate::abi::{DEVICE_OBJECT, IRP, NTSTATUS};
use crate::kernel::irp::{
    complete_request, complete_request_nested, mark_pending, set_next_stack_location, IoAcquireCancelSpinLock,
    IoReleaseCancelSpinLock,
};
use crate::status::{STATUS_INVALID_PARAMETER, STATUS_PENDING};

const RUNNING: usize = 0;
const RETURNED_PENDING: usize = 2;

/// Where an operation that completed inside the provider function's own call leaves
/// the status the function returns (on the function's stack: the IRP may be gone).
#[derive(Default)]
pub struct Inline {
    done: std::cell::Cell<bool>,
    status: std::cell::Cell<NTSTATUS>,
}

impl Inline {
    pub fn new() -> Inline {
        Inline::default()
    }
}

/// The calling thread, as a number (`pthread_self`).
#[inline]
fn this_thread() -> usize {
    // SAFETY: pthread_self has no preconditions.
    unsafe { libc::pthread_self() as usize }
}

/// An IRP the client passed in, checked (non-NULL, a free stack location) but not yet
/// taken over: until [`Irp::begin`] or [`Irp::fail`], nothing in it was touched.
pub struct Irp(*mut IRP);

/// The completion side of a started call: `Send`, moved into the operation's completion
/// routine. Completing it is the provider's `IoCompleteRequest`.
pub struct IrpDone(*mut IRP);

// SAFETY: the IRP belongs to the provider until it is completed, and exactly one
// `IrpDone` exists per started call; completing it consumes it.
unsafe impl Send for IrpDone {}

impl Irp {
    /// Checks a client IRP: `None` for NULL or an IRP with no stack location left for the
    /// client (Windows would bugcheck with NO_MORE_IRP_STACK_LOCATIONS).
    ///
    /// # Safety
    /// `irp` is NULL or points to an initialized IRP the caller hands to the provider.
    pub unsafe fn check(irp: *mut IRP) -> Option<Irp> {
        // SAFETY: the caller upholds this function's contract (see its docs).
        unsafe {
            if irp.is_null()
                || (*irp).CurrentLocation <= 1
                || (*irp).CurrentLocation as i32 > (*irp).StackCount as i32 + 1
                || (*irp).Tail.CurrentStackLocation.is_null()
            {
                return None;
            }
            Some(Irp(irp))
        }
    }

    /// [`Irp::check`] for functions whose IRP is optional (WskControlSocket,
    /// WskControlClient): `Ok(None)` for NULL, `Err(STATUS_INVALID_PARAMETER)` for an IRP
    /// without a free stack location (left untouched).
    ///
    /// # Safety
    /// As for [`Irp::check`].
    pub unsafe fn check_optional(irp: *mut IRP) -> Result<Option<Irp>, NTSTATUS> {
        if irp.is_null() {
            return Ok(None);
        }
        // SAFETY: per the caller.
        unsafe { Irp::check(irp) }.map(Some).ok_or(STATUS_INVALID_PARAMETER)
    }

    /// The raw IRP.
    pub fn as_ptr(&self) -> *mut IRP {
        self.0
    }

    /// Completes the IRP at once with `status` (and `information`), returning `status`:
    /// the synchronous-failure path of every function.
    pub fn fail(self, status: NTSTATUS) -> NTSTATUS {
        self.complete_now(status, 0)
    }

    /// Completes the IRP at once with a result computed synchronously.
    pub fn complete_now(self, status: NTSTATUS, information: usize) -> NTSTATUS {
        // SAFETY: checked in `check`; the provider owns the IRP until it completes it.
        unsafe {
            set_next_stack_location(self.0);
            (*self.0).IoStatus.Status = status;
            (*self.0).IoStatus.StatusPad = 0;
            (*self.0).IoStatus.Information = information;
            complete_inline(self.0)
        }
    }

    /// Takes the IRP over for an operation that completes through a routine: returns the
    /// call (for the function's return; `inline` lives in the function's frame) and the
    /// completion side (for the routine).
    pub fn begin(self, inline: &Inline) -> (Call<'_>, IrpDone) {
        // SAFETY: checked in `check`; the provider owns the IRP until it completes it.
        unsafe {
            set_next_stack_location(self.0);
            state(self.0).store(RUNNING, Ordering::Relaxed);
            slot(self.0).store(ptr::null_mut(), Ordering::Relaxed);
            context(self.0, 2).store(this_thread(), Ordering::Relaxed);
            context(self.0, 3).store(inline as *const Inline as usize, Ordering::Release);
        }
        (Call { irp: self.0, inline, returned: false }, IrpDone(self.0))
    }
}

/// A started call, before the provider function returns.
pub struct Call<'a> {
    irp: *mut IRP,
    inline: &'a Inline,
    returned: bool,
}

impl Call<'_> {
    /// The function is about to return: the status the operation completed with, if it
    /// completed inside this call (the IRP completed already, on this thread), or
    /// `STATUS_PENDING` (the IRP marked pending, cancellable through `canceller`).
    pub fn returned(mut self, canceller: Option<Canceller>) -> NTSTATUS {
        if self.inline.done.get() {
            self.returned = true;
            return self.inline.status.get();
        }
        let irp = self.irp;
        // SAFETY: the IRP is not completed before the state word says RETURNED_PENDING: a
        // completion on this thread would have set `inline`, one on another thread waits
        // for the word.
        unsafe {
            if let Some(c) = canceller {
                let arc = Arc::into_raw(Arc::new(c)) as *mut Canceller;
                slot(irp).store(arc, Ordering::Release);
                set_cancel_routine(irp, Some(cancel_routine));
                if AtomicU8::from_ptr(ptr::addr_of_mut!((*irp).Cancel)).load(Ordering::Acquire) != 0 {
                    // IoCancelIrp ran before the routine was there: cancel now.
                    if let Some(c) = take_canceller(irp) {
                        c.cancel();
                    }
                    if self.inline.done.get() {
                        // The cancellation completed the operation here, inline.
                        self.returned = true;
                        return self.inline.status.get();
                    }
                }
            }
            mark_pending(irp);
            // (Set before the store: `Drop` must not touch the IRP after it.)
            self.returned = true;
            // The last access to the IRP: from here the completion may free it.
            state(irp).store(RETURNED_PENDING, Ordering::Release);
        }
        STATUS_PENDING
    }
}

/// A call dropped without `returned` (an internal panic in the provider function) still
/// lets its completion proceed: the IRP is marked pending and handed over, so a completion
/// waiting on another thread does not wait forever.
impl Drop for Call<'_> {
    fn drop(&mut self) {
        if !self.returned && !self.inline.done.get() {
            // SAFETY: as in `returned`: the IRP is still the provider's until the store.
            unsafe {
                mark_pending(self.irp);
                state(self.irp).store(RETURNED_PENDING, Ordering::Release);
            }
        }
    }
}

impl IrpDone {
    /// Records the outcome and completes the IRP (now, or when the function returns).
    pub fn finish(self, status: NTSTATUS, information: usize) {
        let irp = self.0;
        std::mem::forget(self);
        // SAFETY: the one completion of this call (the `IrpDone` is gone).
        unsafe { finish_irp(irp, status, information) }
    }

    /// The raw IRP (to fill output buffers the IRP's call pointed to before finishing).
    pub fn as_ptr(&self) -> *mut IRP {
        self.0
    }
}

/// An `IrpDone` dropped without finishing (a provider bug, or a panic in the code that
/// held it) still completes its IRP, with `STATUS_INTERNAL_ERROR`, rather than leaving
/// the client waiting forever.
impl Drop for IrpDone {
    fn drop(&mut self) {
        tracing::error!("libwsk: an IRP's operation ended without an outcome; completed with STATUS_INTERNAL_ERROR");
        // SAFETY: as for `finish`: this is the one completion.
        unsafe { finish_irp(self.0, crate::status::STATUS_INTERNAL_ERROR, 0) }
    }
}

/// Records an outcome and completes the IRP: at once if the provider function already
/// returned, or if this is the function's own call completing inline (then the status is
/// left in its [`Inline`] cell); a completion on another thread while the function is
/// still returning waits for it to finish returning.
///
/// # Safety
/// Exactly one call per [`Irp::begin`]; the IRP is still the provider's.
unsafe fn finish_irp(irp: *mut IRP, status: NTSTATUS, information: usize) {
    // SAFETY: per the caller: the IRP is live until it is completed below.
    unsafe {
        (*irp).IoStatus.Status = status;
        (*irp).IoStatus.StatusPad = 0;
        (*irp).IoStatus.Information = information;
        let mut spins = 0u32;
        loop {
            if state(irp).load(Ordering::Acquire) == RETURNED_PENDING {
                drop(take_canceller(irp));
                complete_request(irp);
                return;
            }
            if context(irp, 2).load(Ordering::Relaxed) == this_thread() {
                // Inside the provider function's own call (RUNNING on its thread, which
                // only this call can be): complete now; the function returns the status.
                let inline = &*(context(irp, 3).load(Ordering::Acquire) as *const Inline);
                let returned = complete_inline(irp);
                inline.status.set(returned);
                inline.done.set(true);
                return;
            }
            // Another thread is between starting this operation and returning: a few
            // instructions; let it run.
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
}

/// How many inline completions may nest on one thread (a completion routine that starts
/// another call that completes inline, and so on) before further ones are handed to the
/// completion thread: without a bound, a routine that re-sends from its own completion
/// would recurse until the stack overflows.
const MAX_INLINE_DEPTH: u32 = 8;

/// Completes an IRP whose call has not returned yet: here (returning its status) unless
/// this thread already runs `MAX_INLINE_DEPTH` nested client routines, in which case the
/// IRP is marked pending, completed by the completion thread, and `STATUS_PENDING`
/// returned.
unsafe fn complete_inline(irp: *mut IRP) -> NTSTATUS {
    // SAFETY: the caller upholds this function's contract (see its docs).
    unsafe {
        let status = (*irp).IoStatus.Status;
        if complete_request_nested(irp, MAX_INLINE_DEPTH) {
            return status;
        }
        mark_pending(irp);
        defer(irp);
        STATUS_PENDING
    }
}

/// Hands an IRP to the completion thread ("wsk-completion"), which completes IRPs in
/// the order they arrive.
fn defer(irp: *mut IRP) {
    static QUEUE: OnceLock<Mutex<mpsc::Sender<usize>>> = OnceLock::new();
    let queue = QUEUE.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<usize>();
        std::thread::Builder::new()
            .name("wsk-completion".into())
            .spawn(move || {
                for irp in rx {
                    // SAFETY: a finished IRP handed over by `complete_inline`; nothing else
                    // touches it until it is completed here.
                    unsafe { complete_request(irp as *mut IRP) };
                }
            })
            .expect("start the completion thread");
        Mutex::new(tx)
    });
    let sent = crate::kernel::sync::lock(queue).send(irp as usize);
    if sent.is_err() {
        // SAFETY: as above; no completion thread: complete here after all.
        unsafe { complete_request(irp) };
    }
}

unsafe fn state<'a>(irp: *mut IRP) -> &'a AtomicUsize {
    // SAFETY: the caller upholds this function's contract (see its docs).

    unsafe {
        // SAFETY: DriverContext[0] is pointer-sized and aligned; the provider owns it while the call runs.
        &*(ptr::addr_of_mut!((*irp).Tail.DriverContext[0]) as *const AtomicUsize)
    }
}

/// `DriverContext[i]` as an atomic word (2: the calling thread, 3: its [`Inline`] cell).
unsafe fn context<'a>(irp: *mut IRP, i: usize) -> &'a AtomicUsize {
    // SAFETY: DriverContext[i] is pointer-sized and aligned; the provider owns it while the call runs.
    unsafe { &*(ptr::addr_of_mut!((*irp).Tail.DriverContext[i]) as *const AtomicUsize) }
}

unsafe fn slot<'a>(irp: *mut IRP) -> &'a AtomicPtr<Canceller> {
    // SAFETY: the caller upholds this function's contract (see its docs).

    unsafe {
        // SAFETY: as for `state`, DriverContext[1].
        &*(ptr::addr_of_mut!((*irp).Tail.DriverContext[1]) as *const AtomicPtr<Canceller>)
    }
}

unsafe fn set_cancel_routine(irp: *mut IRP, routine: crate::abi::PDRIVER_CANCEL) -> crate::abi::PDRIVER_CANCEL {
    // SAFETY: the caller upholds this function's contract (see its docs).

    unsafe {
        let field = &*(ptr::addr_of_mut!((*irp).CancelRoutine) as *const AtomicUsize);
        let new = routine.map_or(0, |f| f as usize);
        let old = field.swap(new, Ordering::AcqRel);
        // SAFETY: the field only ever holds NULL or a valid cancel routine.
        std::mem::transmute::<usize, crate::abi::PDRIVER_CANCEL>(old)
    }
}

/// Removes the cancel routine and the canceller. The routine is taken with an atomic
/// exchange, as Windows' completion paths do: if it was still there, no cancel routine
/// will run and no lock is needed (a client may complete IRPs while it holds the cancel
/// spin lock); if `IoCancelIrp` took it first, the cancel routine runs under the cancel
/// lock, so taking the lock once waits until it has finished reading the canceller.
unsafe fn take_canceller(irp: *mut IRP) -> Option<Arc<Canceller>> {
    // SAFETY: the IRP is live (the caller is about to complete it).
    unsafe {
        if slot(irp).load(Ordering::Acquire).is_null() {
            // No canceller was installed, so no cancel routine either (they go together).
            return None;
        }
        if set_cancel_routine(irp, None).is_none() {
            let mut irql = 0u8;
            IoAcquireCancelSpinLock(&mut irql);
            IoReleaseCancelSpinLock(irql);
        }
        let p = slot(irp).swap(ptr::null_mut(), Ordering::AcqRel);
        (!p.is_null()).then(|| Arc::from_raw(p as *const Canceller))
    }
}

/// The provider's cancel routine: runs under the cancel lock (taken by `IoCancelIrp`).
unsafe extern "C" fn cancel_routine(_device: *mut DEVICE_OBJECT, irp: *mut IRP) {
    // SAFETY: IoCancelIrp calls this with the IRP live and the cancel lock held, so the
    // canceller in DriverContext cannot be taken and freed before it is cloned here.
    let canceller = unsafe {
        let p = slot(irp).load(Ordering::Acquire);
        let canceller = if p.is_null() {
            None
        } else {
            Arc::increment_strong_count(p as *const Canceller);
            Some(Arc::from_raw(p as *const Canceller))
        };
        IoReleaseCancelSpinLock((*irp).CancelIrql);
        canceller
    };
    if let Some(c) = canceller {
        crate::guard::guard("IoCancelIrp", (), || {
            c.cancel();
        });
    }
}
