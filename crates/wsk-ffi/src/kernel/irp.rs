//! IRPs: allocation, reuse, completion (Windows' completion walk), cancellation.
//!
//! IRPs from `IoAllocateIrp` are recorded in a registry of live allocations: `IoFreeIrp`
//! of anything else (an embedded IRP, a stale or doubly freed pointer) is logged and
//! ignored instead of corrupting the heap, and the count of live IRPs is a leak report.
//! The completion path takes no global lock (the registry is consulted only when an
//! allocated IRP reaches the top of its stack, which WSK clients avoid by returning
//! `STATUS_MORE_PROCESSING_REQUIRED` from their completion routine).
//!
//! The cancel spin lock is one process-wide futex lock that, as on Windows, is taken by
//! `IoCancelIrp` and released by the cancel routine it calls (`IoReleaseCancelSpinLock`).

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::cell::Cell;
use std::ffi::c_void;
use std::ptr::{addr_of_mut, null_mut};
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};
use std::sync::LazyLock;

use crate::abi::{
    BOOLEAN, CCHAR, CHAR, DEVICE_OBJECT, IO_STACK_LOCATION, IO_TYPE_IRP, IRP, IRP_ALLOCATED_FIXED_SIZE,
    IRP_QUOTA_CHARGED, KIRQL, NTSTATUS, PDRIVER_CANCEL, SL_INVOKE_ON_CANCEL, SL_INVOKE_ON_ERROR, SL_INVOKE_ON_SUCCESS,
    SL_PENDING_RETURNED, USHORT,
};
use crate::guard::guard;

use super::dispatcher;
use super::spinlock::lower_irql;
use super::sync::{RawLock, Registry};
use crate::status::{nt_success, STATUS_MORE_PROCESSING_REQUIRED, STATUS_PENDING};

/// Largest stack size: `CurrentLocation` (a `CHAR`) must hold `StackSize + 1`.
const MAX_STACK_SIZE: i32 = 126;
const IRP_ALIGN: usize = 16;

/// IRPs from `IoAllocateIrp` that are not freed yet: address → allocation size.
static IRPS: LazyLock<Registry<usize>> = LazyLock::new(Registry::new);

/// The cancel spin lock.
static CANCEL_LOCK: RawLock = RawLock::new();

thread_local! {
    /// How deep this thread is inside client routines called by libwsk's kernel code
    /// (completion and cancel routines). `PsTerminateSystemThread` refuses to end a thread
    /// from there: its unwinding cannot cross libwsk's frames.
    static CALLOUT_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Runs `f` (a call into client code) counted in [`in_callout`].
pub(crate) fn callout<R>(f: impl FnOnce() -> R) -> R {
    // One thread-local lookup (in a shared library each one is a call to __tls_get_addr).
    CALLOUT_DEPTH.with(|d| {
        d.set(d.get() + 1);
        let r = f();
        d.set(d.get().saturating_sub(1));
        r
    })
}

/// Whether the calling thread is inside a client routine called by libwsk.
pub(crate) fn in_callout() -> bool {
    CALLOUT_DEPTH.try_with(|d| d.get() > 0).unwrap_or(false)
}

/// `IoSizeOfIrp(StackSize)`.
pub const fn size_of_irp(stack_size: usize) -> usize {
    std::mem::size_of::<IRP>() + stack_size * std::mem::size_of::<IO_STACK_LOCATION>()
}

/// The number of IRPs from `IoAllocateIrp` not freed yet.
pub fn live_irps() -> usize {
    IRPS.len()
}

/// The `IoInitializeIrp` part after zeroing.
///
/// # Safety
/// `irp` points to at least `size_of_irp(stack_size)` writable, zeroed bytes.
unsafe fn init(irp: *mut IRP, packet_size: USHORT, stack_size: CCHAR) {
    // SAFETY: per the caller.
    unsafe {
        (*irp).Type = IO_TYPE_IRP;
        (*irp).Size = packet_size;
        (*irp).StackCount = stack_size;
        (*irp).CurrentLocation = stack_size + 1;
        (*irp).ApcEnvironment = 0;
        let tle = addr_of_mut!((*irp).ThreadListEntry);
        (*tle).Flink = tle;
        (*tle).Blink = tle;
        let first = (irp as *mut u8).add(std::mem::size_of::<IRP>()) as *mut IO_STACK_LOCATION;
        (*irp).Tail.CurrentStackLocation = first.add(stack_size as usize);
    }
}

/// `IoAllocateIrp`: a zeroed IRP with `StackSize` stack locations, or NULL (a `StackSize`
/// outside 0..=126, or no memory). `ChargeQuota` is recorded in `AllocationFlags` only.
#[no_mangle]
pub unsafe extern "C" fn IoAllocateIrp(StackSize: CCHAR, ChargeQuota: BOOLEAN) -> *mut IRP {
    guard("IoAllocateIrp", null_mut(), || {
        let stack = StackSize as i32;
        if !(0..=MAX_STACK_SIZE).contains(&stack) {
            kerror!("IoAllocateIrp: StackSize {stack} is not in 0..={MAX_STACK_SIZE}; returning NULL");
            return null_mut();
        }
        let size = size_of_irp(stack as usize);
        let Ok(layout) = Layout::from_size_align(size, IRP_ALIGN) else { return null_mut() };
        // SAFETY: the layout has a non-zero size.
        let irp = unsafe { alloc_zeroed(layout) } as *mut IRP;
        if irp.is_null() {
            return null_mut();
        }
        // SAFETY: a fresh zeroed block of `size` bytes.
        unsafe {
            init(irp, size as USHORT, StackSize);
            (*irp).AllocationFlags = IRP_ALLOCATED_FIXED_SIZE | if ChargeQuota != 0 { IRP_QUOTA_CHARGED } else { 0 };
        }
        IRPS.insert(irp as usize, size);
        irp
    })
}

/// `IoInitializeIrp`: for an IRP in the caller's memory (zeroes `PacketSize` bytes, then
/// initializes). Such an IRP is not recorded as allocated: `IoFreeIrp` refuses it. A
/// `PacketSize` too small for `StackSize` is logged and the stack size is reduced to what
/// fits (Windows would corrupt memory).
#[no_mangle]
pub unsafe extern "C" fn IoInitializeIrp(Irp: *mut IRP, PacketSize: USHORT, StackSize: CCHAR) {
    guard("IoInitializeIrp", (), || {
        if Irp.is_null() {
            kerror!("IoInitializeIrp: Irp is NULL (Windows would crash); ignored");
            return;
        }
        let packet = PacketSize as usize;
        if packet < std::mem::size_of::<IRP>() {
            kerror!("IoInitializeIrp: PacketSize {packet} is smaller than an IRP; ignored");
            return;
        }
        let mut stack = (StackSize as i32).clamp(0, MAX_STACK_SIZE) as usize;
        if packet < size_of_irp(stack) {
            let fits = (packet - std::mem::size_of::<IRP>()) / std::mem::size_of::<IO_STACK_LOCATION>();
            kerror!(
                "IoInitializeIrp: PacketSize {packet} is too small for {stack} stack locations (needs {}); using {fits}",
                size_of_irp(stack)
            );
            stack = fits;
        }
        // SAFETY: the client's buffer of PacketSize bytes.
        unsafe {
            std::ptr::write_bytes(Irp as *mut u8, 0, packet);
            init(Irp, PacketSize, stack as CCHAR);
        }
    })
}

/// `IoReuseIrp`: reinitializes a completed IRP for another request, keeping
/// `AllocationFlags` (and so whether it came from `IoAllocateIrp`); sets `IoStatus.Status`.
#[no_mangle]
pub unsafe extern "C" fn IoReuseIrp(Irp: *mut IRP, Iostatus: NTSTATUS) {
    guard("IoReuseIrp", (), || {
        if Irp.is_null() {
            kerror!("IoReuseIrp: Irp is NULL (Windows would crash); ignored");
            return;
        }
        // SAFETY: the client's IRP, initialized and not in use (Windows' rule).
        unsafe {
            if (*Irp).CancelRoutine.is_some() {
                kwarn!("IoReuseIrp: IRP {Irp:p} still has a cancel routine; cleared");
            }
            let flags = (*Irp).AllocationFlags;
            let stack = ((*Irp).StackCount as i32).clamp(0, MAX_STACK_SIZE) as usize;
            let size = size_of_irp(stack);
            std::ptr::write_bytes(Irp as *mut u8, 0, size);
            init(Irp, size as USHORT, stack as CCHAR);
            (*Irp).AllocationFlags = flags;
            (*Irp).IoStatus.Status = Iostatus;
        }
    })
}

/// `IoFreeIrp`: frees an IRP from `IoAllocateIrp`. Anything else (NULL, an embedded IRP,
/// an IRP already freed) is logged and ignored.
#[no_mangle]
pub unsafe extern "C" fn IoFreeIrp(Irp: *mut IRP) {
    guard("IoFreeIrp", (), || {
        if Irp.is_null() {
            kerror!("IoFreeIrp: Irp is NULL; ignored");
            return;
        }
        // SAFETY: registry entries are live blocks of IoAllocateIrp.
        if !unsafe { free_allocated(Irp) } {
            kerror!("IoFreeIrp: {Irp:p} is not an IRP from IoAllocateIrp, or was already freed (Windows would bug-check); ignored");
        }
    })
}

/// Frees `irp` if it is a live IRP from `IoAllocateIrp`; false otherwise.
///
/// # Safety
/// If `irp` is registered, nothing uses it any more.
unsafe fn free_allocated(irp: *mut IRP) -> bool {
    match IRPS.remove(irp as usize) {
        Some(size) => {
            // SAFETY: the block was allocated with this layout by IoAllocateIrp.
            unsafe { dealloc(irp as *mut u8, Layout::from_size_align_unchecked(size, IRP_ALIGN)) };
            true
        }
        None => false,
    }
}

/// Zeroes the completion members of a stack location (`Control`, routine, context).
///
/// # Safety
/// `sl` points to a stack location of a live IRP.
#[inline]
unsafe fn clear_completion(sl: *mut IO_STACK_LOCATION) {
    // SAFETY: per the caller.
    unsafe {
        (*sl).Control = 0;
        (*sl).CompletionRoutine = None;
        (*sl).Context = null_mut();
    }
}

/// Completes an IRP (`IoCompleteRequest`): Windows' completion walk.
///
/// From the current stack location up to the top, each location is popped: the IRP's
/// `PendingReturned` takes the location's `SL_PENDING_RETURNED`; its completion routine
/// runs if its `SL_INVOKE_ON_*` flags match the final status (or `Irp->Cancel`), with the
/// device object of the location above (NULL past the top). A routine returning
/// `STATUS_MORE_PROCESSING_REQUIRED` ends the walk and the IRP is not touched again. Without
/// a routine, a pending IRP marks the location above pending. At the top, `IoStatus` is
/// copied to `UserIosb`, `UserEvent` is set, and an IRP from `IoAllocateIrp` is freed (as
/// Windows frees a threaded IRP), with a warning: a WSK client's routine for its own IRP
/// should return `STATUS_MORE_PROCESSING_REQUIRED`.
///
/// The caller (the provider) has already done `IoSetNextIrpStackLocation` when it took the
/// IRP (see [`set_next_stack_location`]), as a driver below a caller would have.
///
/// # Safety
/// `irp` points to a live, initialized IRP owned by the caller, which gives it up.
pub unsafe fn complete_request(irp: *mut IRP) {
    match CALLOUT_DEPTH.try_with(|depth| {
        // SAFETY: per the caller.
        unsafe { complete_walk(irp, depth) }
    }) {
        Ok(()) => {}
        // The thread is tearing down its thread-locals: walk without counting.
        Err(_) => unsafe { complete_walk(irp, &Cell::new(0)) },
    }
}

/// [`complete_request`] unless this thread is already `max_depth` client routines deep
/// (then nothing is done and false returned): the provider's bound on nested inline
/// completions, checked with the same single thread-local lookup the walk needs anyway.
///
/// # Safety
/// As for [`complete_request`].
pub unsafe fn complete_request_nested(irp: *mut IRP, max_depth: u32) -> bool {
    CALLOUT_DEPTH
        .try_with(|depth| {
            if depth.get() >= max_depth {
                return false;
            }
            // SAFETY: per the caller.
            unsafe { complete_walk(irp, depth) };
            true
        })
        .unwrap_or(false)
}

/// The completion walk; `depth` counts the client routines it runs (see [`in_callout`]).
///
/// # Safety
/// As for [`complete_request`].
unsafe fn complete_walk(irp: *mut IRP, depth: &Cell<u32>) {
    if irp.is_null() {
        kerror!("IoCompleteRequest: Irp is NULL (Windows would crash); ignored");
        return;
    }
    // SAFETY: a live IRP (caller); stack locations are inside its allocation as long as
    // CurrentLocation stays within 1..=StackCount, which the loop checks before each access.
    unsafe {
        let stack_count = (*irp).StackCount as i32;
        let top = stack_count + 1;
        if (*irp).CurrentLocation as i32 > top {
            kerror!(
                "IoCompleteRequest: IRP {irp:p} is already completed (CurrentLocation {} > StackCount+1 = {top}; Windows bug-checks: MULTIPLE_IRP_COMPLETE_REQUESTS); ignored",
                (*irp).CurrentLocation
            );
            return;
        }
        if (*irp).IoStatus.Status == STATUS_PENDING {
            kerror!("IoCompleteRequest: IRP {irp:p} completed with IoStatus.Status STATUS_PENDING");
        }
        // A plain load first: the provider clears its cancel routine before completing, so
        // the atomic exchange is needed only in the (erroneous) case it is still set.
        let cancel_routine = AtomicUsize::from_ptr(addr_of_mut!((*irp).CancelRoutine) as *mut usize);
        if cancel_routine.load(Ordering::Acquire) != 0 && set_cancel_routine(irp, None).is_some() {
            kerror!("IoCompleteRequest: IRP {irp:p} completed with a cancel routine still set (Windows bug-checks: CANCEL_STATE_IN_COMPLETED_IRP); cleared");
        }

        loop {
            let loc = (*irp).CurrentLocation as i32;
            if loc < 1 || loc > stack_count {
                if loc < 1 {
                    kerror!(
                        "IoCompleteRequest: IRP {irp:p} has CurrentLocation {loc} (no stack location was ever valid)"
                    );
                }
                break;
            }
            let sl = (*irp).Tail.CurrentStackLocation;
            (*irp).CurrentLocation = (loc + 1) as CHAR;
            (*irp).Tail.CurrentStackLocation = sl.add(1);
            let pending = (*sl).Control & SL_PENDING_RETURNED != 0;
            (*irp).PendingReturned = pending as BOOLEAN;
            let control = (*sl).Control;
            let status = (*irp).IoStatus.Status;
            let cancel = AtomicU8::from_ptr(addr_of_mut!((*irp).Cancel)).load(Ordering::SeqCst) != 0;
            let invoke = (nt_success(status) && control & SL_INVOKE_ON_SUCCESS != 0)
                || (!nt_success(status) && control & SL_INVOKE_ON_ERROR != 0)
                || (cancel && control & SL_INVOKE_ON_CANCEL != 0);
            let routine = if invoke { (*sl).CompletionRoutine } else { None };
            if let Some(routine) = routine {
                let context = (*sl).Context;
                clear_completion(sl);
                let device: *mut DEVICE_OBJECT =
                    if loc + 1 > stack_count { null_mut() } else { (*(*irp).Tail.CurrentStackLocation).DeviceObject };
                depth.set(depth.get() + 1);
                let r = routine(device, irp, context);
                depth.set(depth.get().saturating_sub(1));
                if r == STATUS_MORE_PROCESSING_REQUIRED {
                    return;
                }
            } else {
                if pending && loc < stack_count {
                    (*(*irp).Tail.CurrentStackLocation).Control |= SL_PENDING_RETURNED;
                }
                clear_completion(sl);
            }
        }

        // Past the top, as Windows leaves a completed IRP (CurrentLocation = StackCount + 2),
        // so a second IoCompleteRequest or an IoCancelIrp of a completed IRP is recognised.
        if (*irp).CurrentLocation as i32 == top {
            (*irp).CurrentLocation = (top + 1) as CHAR;
            (*irp).Tail.CurrentStackLocation = (*irp).Tail.CurrentStackLocation.add(1);
        }
        // The top: what the I/O manager does for the IRP's originator.
        let allocated = (*irp).AllocationFlags & IRP_ALLOCATED_FIXED_SIZE != 0 && IRPS.contains(irp as usize);
        if !(*irp).UserIosb.is_null() {
            let iosb = (*irp).UserIosb;
            (*iosb).Status = (*irp).IoStatus.Status;
            (*iosb).Information = (*irp).IoStatus.Information;
        }
        let event = (*irp).UserEvent;
        if allocated {
            kwarn!(
                "IRP {irp:p} from IoAllocateIrp was completed to the top of its stack and is freed now, as Windows frees it; its completion routine should return STATUS_MORE_PROCESSING_REQUIRED (and free or reuse the IRP itself). Its MDLs are not freed."
            );
            free_allocated(irp);
        }
        if !event.is_null() {
            dispatcher::set_event(event);
        }
    }
}

/// `IofCompleteRequest`: see [`complete_request`]. `PriorityBoost` has no meaning here.
#[no_mangle]
pub unsafe extern "C" fn IofCompleteRequest(Irp: *mut IRP, PriorityBoost: CCHAR) {
    let _ = PriorityBoost;
    // SAFETY: the client's IRP.
    guard("IofCompleteRequest", (), || unsafe { complete_request(Irp) })
}

/// `IoCompleteRequest` (a macro for `IofCompleteRequest` in Windows' headers; also exported).
#[no_mangle]
pub unsafe extern "C" fn IoCompleteRequest(Irp: *mut IRP, PriorityBoost: CCHAR) {
    let _ = PriorityBoost;
    // SAFETY: the client's IRP.
    guard("IoCompleteRequest", (), || unsafe { complete_request(Irp) })
}

/// `IoSetNextIrpStackLocation` for the provider: makes the next lower location current.
/// False (and nothing changed) if the IRP has no free location left.
///
/// # Safety
/// `irp` points to a live, initialized IRP.
pub unsafe fn set_next_stack_location(irp: *mut IRP) -> bool {
    // SAFETY: per the caller.
    unsafe {
        if (*irp).CurrentLocation <= 1 {
            return false;
        }
        (*irp).CurrentLocation -= 1;
        (*irp).Tail.CurrentStackLocation = (*irp).Tail.CurrentStackLocation.sub(1);
        true
    }
}

/// `IoGetCurrentIrpStackLocation`, or NULL if the IRP has no current location.
///
/// # Safety
/// `irp` points to a live, initialized IRP.
pub unsafe fn current_stack_location(irp: *mut IRP) -> *mut IO_STACK_LOCATION {
    // SAFETY: per the caller.
    unsafe {
        let loc = (*irp).CurrentLocation as i32;
        if loc < 1 || loc > (*irp).StackCount as i32 {
            null_mut()
        } else {
            (*irp).Tail.CurrentStackLocation
        }
    }
}

/// `IoMarkIrpPending` for the provider.
///
/// # Safety
/// `irp` points to a live IRP with a current stack location.
pub unsafe fn mark_pending(irp: *mut IRP) {
    // SAFETY: per the caller.
    unsafe {
        let sl = current_stack_location(irp);
        if !sl.is_null() {
            (*sl).Control |= SL_PENDING_RETURNED;
        }
    }
}

/// `IoSetCancelRoutine`: atomically exchanges the IRP's cancel routine; the previous one.
///
/// # Safety
/// `irp` points to a live IRP.
pub unsafe fn set_cancel_routine(irp: *mut IRP, routine: PDRIVER_CANCEL) -> PDRIVER_CANCEL {
    // SAFETY: `Option<fn>` has the layout of a nullable pointer, so the member can be
    // accessed as an AtomicPtr; the IRP is live per the caller.
    unsafe {
        let slot = AtomicPtr::<c_void>::from_ptr(addr_of_mut!((*irp).CancelRoutine) as *mut *mut c_void);
        let new: *mut c_void = std::mem::transmute::<PDRIVER_CANCEL, *mut c_void>(routine);
        let old = slot.swap(new, Ordering::SeqCst);
        std::mem::transmute::<*mut c_void, PDRIVER_CANCEL>(old)
    }
}

/// Takes the cancel spin lock (raising to `DISPATCH_LEVEL`); returns the previous IRQL.
pub fn acquire_cancel_lock() -> KIRQL {
    let old = super::spinlock::raise_to_dpc();
    CANCEL_LOCK.lock();
    old
}

/// Releases the cancel spin lock and lowers the IRQL to `irql`.
pub fn release_cancel_lock(irql: KIRQL) {
    CANCEL_LOCK.unlock();
    lower_irql(irql);
}

#[no_mangle]
pub unsafe extern "C" fn IoAcquireCancelSpinLock(Irql: *mut KIRQL) {
    guard("IoAcquireCancelSpinLock", (), || {
        let old = acquire_cancel_lock();
        if Irql.is_null() {
            kerror!("IoAcquireCancelSpinLock: Irql is NULL (Windows would crash); the lock is held, release it with IoReleaseCancelSpinLock(PASSIVE_LEVEL)");
        } else {
            // SAFETY: non-NULL: the client's KIRQL.
            unsafe { *Irql = old };
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn IoReleaseCancelSpinLock(Irql: KIRQL) {
    guard("IoReleaseCancelSpinLock", (), || release_cancel_lock(Irql))
}

/// `IoCancelIrp`: marks the IRP cancelled and, if it has a cancel routine, calls it with the
/// cancel spin lock held (the routine releases it with `IoReleaseCancelSpinLock(Irp->CancelIrql)`)
/// and returns TRUE; otherwise FALSE.
#[no_mangle]
pub unsafe extern "C" fn IoCancelIrp(Irp: *mut IRP) -> BOOLEAN {
    guard("IoCancelIrp", 0, || {
        if Irp.is_null() {
            kerror!("IoCancelIrp: Irp is NULL (Windows would crash); returning FALSE");
            return 0;
        }
        let irql = acquire_cancel_lock();
        // SAFETY: the client's live IRP.
        unsafe {
            AtomicU8::from_ptr(addr_of_mut!((*Irp).Cancel)).store(1, Ordering::SeqCst);
            let Some(routine) = set_cancel_routine(Irp, None) else {
                release_cancel_lock(irql);
                return 0;
            };
            let loc = (*Irp).CurrentLocation as i32;
            if loc > (*Irp).StackCount as i32 + 1 {
                kerror!("IoCancelIrp: IRP {Irp:p} is already completed but had a cancel routine (Windows bug-checks: CANCEL_STATE_IN_COMPLETED_IRP); not called");
                release_cancel_lock(irql);
                return 0;
            }
            (*Irp).CancelIrql = irql;
            let sl = current_stack_location(Irp);
            let device = if sl.is_null() { null_mut() } else { (*sl).DeviceObject };
            callout(|| routine(device, Irp));
        }
        1
    })
}
