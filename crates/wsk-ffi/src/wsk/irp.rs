//! How a WSK call completes its IRP.
//!
//! Every provider function takes the client's IRP, sets up the next stack location on the
//! client's behalf (`IoSetNextIrpStackLocation`, as Windows' providers do) and completes
//! it exactly once with `IoCompleteRequest`, which runs the client's completion routine.
//!
//! An operation may finish before the provider function returns (an error found at
//! once, data already there, the reactor thread racing the caller). Windows' rule is
//! that a function either returns `STATUS_PENDING` having marked the IRP pending, or has
//! completed the IRP itself and returns the status it completed with. A small state word
//! in the IRP (in `Tail.Overlay.DriverContext`, which belongs to the driver that
//! currently owns the IRP — the provider, while the call is in progress) settles the
//! race: whichever of "operation finished" and "function about to return" comes second
//! completes the IRP. So a send the host took at once completes inline, in the caller's
//! thread, and returns `STATUS_SUCCESS`; anything else returns `STATUS_PENDING` and
//! completes from the provider thread.
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

use crate::abi::{DEVICE_OBJECT, IRP, NTSTATUS, SL_PENDING_RETURNED};
use crate::kernel::irp::{complete_request, complete_request_nested, IoAcquireCancelSpinLock, IoReleaseCancelSpinLock};

pub const STATUS_SUCCESS: NTSTATUS = 0;
pub const STATUS_PENDING: NTSTATUS = 0x103;
pub const STATUS_INVALID_PARAMETER: NTSTATUS = 0xC000_000D_u32 as i32;

const RUNNING: usize = 0;
const DONE_EARLY: usize = 1;
const RETURNED_PENDING: usize = 2;

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
    /// completion side (for the routine) and the call (for the function's return).
    pub fn begin(self) -> (Call, IrpDone) {
        // SAFETY: as above.
        unsafe {
            set_next_stack_location(self.0);
            state(self.0).store(RUNNING, Ordering::Relaxed);
            slot(self.0).store(ptr::null_mut(), Ordering::Relaxed);
        }
        (Call(self.0), IrpDone(self.0))
    }
}

/// A started call, before the provider function returns.
pub struct Call(*mut IRP);

impl Call {
    /// The function is about to return: `STATUS_PENDING` if the operation is still
    /// running (the IRP marked pending, cancellable through `canceller`), or the status
    /// it completed with (the IRP completed here, in the caller's thread).
    pub fn returned(self, canceller: Option<Canceller>) -> NTSTATUS {
        let irp = self.0;
        // SAFETY: the IRP is not completed before the state word says RETURNED_PENDING
        // (the completion routine only records the outcome while the state is RUNNING).
        unsafe {
            if state(irp).load(Ordering::Acquire) == DONE_EARLY {
                // Finished inline (the common case of a send the host took at once): no
                // cancel routine, no pending mark; complete here and return the status.
                return complete_inline(irp);
            }
            if let Some(c) = canceller {
                let arc = Arc::into_raw(Arc::new(c)) as *mut Canceller;
                slot(irp).store(arc, Ordering::Release);
                set_cancel_routine(irp, Some(cancel_routine));
                if AtomicU8::from_ptr(ptr::addr_of_mut!((*irp).Cancel)).load(Ordering::Acquire) != 0 {
                    // IoCancelIrp ran before the routine was there: cancel now.
                    if let Some(c) = take_canceller(irp) {
                        c.cancel();
                    }
                }
            }
            let loc = (*irp).Tail.CurrentStackLocation;
            (*loc).Control |= SL_PENDING_RETURNED;
            match state(irp).compare_exchange(RUNNING, RETURNED_PENDING, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => STATUS_PENDING,
                Err(_) => {
                    // Finished already: complete in the caller's thread, return the status.
                    (*loc).Control &= !SL_PENDING_RETURNED;
                    drop(take_canceller(irp));
                    complete_inline(irp)
                }
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
        unsafe { finish_irp(self.0, crate::guard::STATUS_INTERNAL_ERROR, 0) }
    }
}

/// Records an outcome and completes the IRP now or leaves it to the returning function.
///
/// # Safety
/// Exactly one call per [`Irp::begin`]; the IRP is still the provider's.
unsafe fn finish_irp(irp: *mut IRP, status: NTSTATUS, information: usize) {
    // SAFETY: the caller upholds this function's contract (see its docs).
    unsafe {
        (*irp).IoStatus.Status = status;
        (*irp).IoStatus.StatusPad = 0;
        (*irp).IoStatus.Information = information;
        if state(irp).compare_exchange(RUNNING, DONE_EARLY, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            return; // the function has not returned yet: it completes the IRP
        }
        drop(take_canceller(irp));
        complete_request(irp);
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
        (*(*irp).Tail.CurrentStackLocation).Control |= SL_PENDING_RETURNED;
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
    let sent = queue.lock().unwrap_or_else(|e| e.into_inner()).send(irp as usize);
    if sent.is_err() {
        // SAFETY: as above; no completion thread: complete here after all.
        unsafe { complete_request(irp) };
    }
}

/// `IoSetNextIrpStackLocation`.
unsafe fn set_next_stack_location(irp: *mut IRP) {
    // SAFETY: the caller upholds this function's contract (see its docs).
    unsafe {
        (*irp).CurrentLocation -= 1;
        (*irp).Tail.CurrentStackLocation = (*irp).Tail.CurrentStackLocation.sub(1);
    }
}

unsafe fn state<'a>(irp: *mut IRP) -> &'a AtomicUsize {
    // SAFETY: the caller upholds this function's contract (see its docs).

    unsafe {
        // SAFETY: DriverContext[0] is pointer-sized and aligned; the provider owns it while the call runs.
        &*(ptr::addr_of_mut!((*irp).Tail.DriverContext[0]) as *const AtomicUsize)
    }
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

/// Removes the cancel routine and the canceller (under the cancel lock, so a running
/// cancel routine has finished reading them).
unsafe fn take_canceller(irp: *mut IRP) -> Option<Arc<Canceller>> {
    // SAFETY: the caller upholds this function's contract (see its docs).
    unsafe {
        if slot(irp).load(Ordering::Acquire).is_null() {
            // No canceller was installed, so no cancel routine either (they go together).
            return None;
        }
        let mut irql = 0u8;
        IoAcquireCancelSpinLock(&mut irql);
        set_cancel_routine(irp, None);
        let p = slot(irp).swap(ptr::null_mut(), Ordering::AcqRel);
        IoReleaseCancelSpinLock(irql);
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
