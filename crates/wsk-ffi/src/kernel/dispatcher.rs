//! Dispatcher objects and waits: `KEVENT`s, thread objects, `KeWaitFor…`, the clocks.
//!
//! # Design
//!
//! It is Windows' own design, in user space:
//!
//! - A waitable object starts with a `DISPATCHER_HEADER`. `SignalState` holds the signal
//!   state exactly as on Windows (0 or 1 for events and threads). `WaitListHead` is the
//!   list of *wait blocks* of the threads waiting on the object, as on Windows. A wait
//!   block lives on the waiting thread's stack (on the heap for a wait on more than
//!   `INLINE_OBJECTS` objects), stays in place while linked, and points to that thread's
//!   *waiter* (a futex word plus the index of the object that satisfied the wait).
//! - One process-wide dispatcher lock protects every wait list (a futex lock held for a
//!   few instructions). It is only taken when a thread has to block, or when an object
//!   that threads are blocked on is signalled.
//! - Fast paths without the lock: a wait on an already signalled object consumes it with
//!   one atomic operation (a synchronization event is reset by the wait that takes it);
//!   a `KeSetEvent` with nobody waiting is one compare-and-swap. `SignalState` carries, next
//!   to the signal value, a bit that says threads are blocked on the object (see
//!   [`WAITERS`]): the setter's compare-and-swap is then its last access to the object, so
//!   a waiter that takes the signal and returns at once (freeing an event on its stack)
//!   is never followed by a read of that event.
//! - No lost wake-ups: a waiter first links its wait blocks and sets the WAITERS bit
//!   (under the lock), *then* re-tests the objects; a lock-free setter publishes the
//!   signal with a compare-and-swap that fails if the bit appeared. Either the waiter finds
//!   the object signalled and does not sleep, or the setter sees the bit and takes the
//!   locked path, where it satisfies and wakes the waiter. Synchronization events with
//!   blocked threads are taken and reset only under the lock.
//! - Hand-off: `KeSetEvent` on a synchronization event with waiters releases exactly one
//!   waiter and leaves the event non-signalled (two sets with two waiters release both); on
//!   a notification event (or a thread object) it releases every waiter, even if the event
//!   is reset right after. A waiter released by an object learns it from its own futex word,
//!   so a later reset cannot take it back.
//! - `WaitAll` acquires all objects at once under the lock (it consumes the synchronization
//!   events only when every object is signalled).
//! - No allocation in a wait on up to `INLINE_OBJECTS` objects: the object list and the
//!   wait blocks are arrays on the waiting thread's stack (heap vectors only for more
//!   objects, up to `MAXIMUM_WAIT_OBJECTS`), and a setter testing a WaitAll walks the
//!   waiter's blocks in place.
//! - The object is never touched once a waiter may have returned: the setter finishes with
//!   the object's list before it stores the waiters' futex words, and a wake-up of a word
//!   whose thread already returned is harmless. Nothing keeps a pointer to a `KEVENT` after
//!   the wait returns.
//!
//! Synchronization events release waiters in FIFO order of their wait blocks, except that a
//! thread arriving while the event is signalled may take it before a queued waiter that the
//! setter has not handed it to yet (Windows does not promise an order either).
//!
//! Supported object types: notification and synchronization events, thread objects
//! (signalled when the thread ends), the process object (never signalled). Waiting on any
//! other type (semaphores, mutexes, timers…) logs an error and returns
//! `STATUS_INVALID_PARAMETER`. `Alertable` and `WaitMode` are ignored: there are no APCs.

use std::ptr::{addr_of_mut, null_mut};
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU32, Ordering};
use std::time::Duration;

use crate::abi::{
    BOOLEAN, DISPATCHER_HEADER, DISPATCH_LEVEL, EVENT_NOTIFICATION_OBJECT, EVENT_SYNCHRONIZATION_OBJECT, KEVENT,
    KPROCESSOR_MODE, LIST_ENTRY, LONG, MAXIMUM_WAIT_OBJECTS, NTSTATUS, PROCESS_OBJECT, PVOID, THREAD_OBJECT,
};
use crate::guard::{guard, guard_status};

use super::spinlock::current_irql;
use super::sync::{futex_wait, futex_wake, interrupt_time_100ns, system_time_100ns, Deadline, RawLock, Wake};
use crate::status::{STATUS_INVALID_PARAMETER, STATUS_SUCCESS, STATUS_TIMEOUT, STATUS_WAIT_0};

/// `WAIT_TYPE`.
const WAIT_ALL: u32 = 0;
const WAIT_ANY: u32 = 1;

/// The dispatcher lock: protects every wait list and the waiters' release.
static DISPATCHER_LOCK: RawLock = RawLock::new();

/// A bit of `SignalState` that libwsk keeps set while the object's wait list is not
/// empty (set and cleared under the dispatcher lock). The signal value proper is the
/// other bits ([`VALUE`]). Keeping "someone is blocked here" in the same word as the
/// signal lets a setter publish the signal with one compare-and-swap that is also its
/// last access to the object when nobody is blocked: a waiter that takes the signal and
/// returns (freeing the event on its stack) can never be followed by a read of the event.
const WAITERS: i32 = 0x4000_0000;
/// The signal value bits of `SignalState`.
const VALUE: i32 = !WAITERS;

/// How many objects a wait keeps in arrays on its stack frame (its object list, its wait
/// blocks) before it uses the heap: Windows' `THREAD_WAIT_OBJECTS` (3) plus one.
const INLINE_OBJECTS: usize = 4;

/// How an object behaves when signalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Stays signalled until reset; releases every waiter.
    Notification,
    /// A satisfied wait resets it; releases one waiter.
    Synchronization,
}

/// The kind of a waitable object, from its header's `Type`.
///
/// # Safety
/// `obj` points to a readable `DISPATCHER_HEADER`.
unsafe fn kind_of(obj: *mut DISPATCHER_HEADER) -> Option<Kind> {
    // SAFETY: readable per the caller.
    match unsafe { (*obj).Type } {
        EVENT_NOTIFICATION_OBJECT | THREAD_OBJECT | PROCESS_OBJECT => Some(Kind::Notification),
        EVENT_SYNCHRONIZATION_OBJECT => Some(Kind::Synchronization),
        _ => None,
    }
}

/// The object's `SignalState`, for atomic access.
///
/// # Safety
/// `obj` points to a live `DISPATCHER_HEADER`.
#[inline]
unsafe fn signal_state<'a>(obj: *mut DISPATCHER_HEADER) -> &'a AtomicI32 {
    // SAFETY: SignalState is an aligned i32 inside the live header; libwsk only accesses it atomically.
    unsafe { AtomicI32::from_ptr(addr_of_mut!((*obj).SignalState)) }
}

/// A `LIST_ENTRY`'s `Flink`, for atomic access (the head's `Flink` is read without the lock).
///
/// # Safety
/// `entry` points to a live `LIST_ENTRY`.
#[inline]
unsafe fn flink<'a>(entry: *mut LIST_ENTRY) -> &'a AtomicPtr<LIST_ENTRY> {
    // SAFETY: Flink is an aligned pointer inside the live entry.
    unsafe { AtomicPtr::from_ptr(addr_of_mut!((*entry).Flink)) }
}

/// # Safety
/// `obj` points to a live `DISPATCHER_HEADER`.
#[inline]
unsafe fn wait_list(obj: *mut DISPATCHER_HEADER) -> *mut LIST_ENTRY {
    // SAFETY: a field address inside the live header.
    unsafe { addr_of_mut!((*obj).WaitListHead) }
}

/// Whether threads are blocked on the object (an all-zero list counts as empty, so a
/// zero-filled `KEVENT` works as a non-signalled notification event).
///
/// # Safety
/// `obj` points to a live `DISPATCHER_HEADER`.
#[inline]
unsafe fn has_waiters(obj: *mut DISPATCHER_HEADER) -> bool {
    // SAFETY: per the caller.
    let head = unsafe { wait_list(obj) };
    // SAFETY: per the caller.
    let first = unsafe { flink(head) }.load(Ordering::SeqCst);
    !first.is_null() && first != head
}

/// A waiting thread's side of a wait: lives on its stack until the wait returns.
struct Waiter {
    /// The futex word: 0 while waiting, 1 once released (stored under the dispatcher lock).
    released: AtomicU32,
    /// Index of the object that satisfied a WaitAny (written before `released`).
    index: AtomicU32,
    wait_all: bool,
    blocks: *mut WaitBlock,
    count: usize,
    /// Next waiter to wake, while a setter collects them under the lock.
    next_wake: AtomicPtr<Waiter>,
}

/// One object's link to a waiter (`KWAIT_BLOCK`). `link` must stay the first member: the
/// object's wait list links `LIST_ENTRY`s and the block is found from its entry.
#[repr(C)]
struct WaitBlock {
    link: LIST_ENTRY,
    waiter: *const Waiter,
    object: *mut DISPATCHER_HEADER,
    kind: Kind,
    index: u32,
    linked: bool,
}

/// An unused wait block (the initial value of a wait's block array).
const EMPTY_BLOCK: WaitBlock = WaitBlock {
    link: LIST_ENTRY { Flink: null_mut(), Blink: null_mut() },
    waiter: std::ptr::null(),
    object: null_mut(),
    kind: Kind::Notification,
    index: 0,
    linked: false,
};

/// An unused entry of a wait's object list.
const NO_OBJECT: (*mut DISPATCHER_HEADER, Kind) = (null_mut(), Kind::Notification);

/// Appends `block` to `obj`'s wait list. Dispatcher lock held.
///
/// # Safety
/// Lock held; `obj` live; `block` live and not linked.
unsafe fn link_block(obj: *mut DISPATCHER_HEADER, block: *mut WaitBlock) {
    // SAFETY: all pointers are live (caller) and the lists are only changed under the lock.
    unsafe {
        let head = wait_list(obj);
        if (*head).Flink.is_null() || (*head).Blink.is_null() {
            (*head).Blink = head;
            flink(head).store(head, Ordering::SeqCst);
        }
        let entry = addr_of_mut!((*block).link);
        let last = (*head).Blink;
        (*entry).Blink = last;
        flink(entry).store(head, Ordering::SeqCst);
        flink(last).store(entry, Ordering::SeqCst);
        (*head).Blink = entry;
        (*block).linked = true;
        signal_state(obj).fetch_or(WAITERS, Ordering::SeqCst);
    }
}

/// Removes `block` from its object's wait list, if linked. Dispatcher lock held.
///
/// # Safety
/// Lock held; `block` live; if linked, its neighbours are live.
unsafe fn unlink_block(block: *mut WaitBlock) {
    // SAFETY: per the caller.
    unsafe {
        if !(*block).linked {
            return;
        }
        let entry = addr_of_mut!((*block).link);
        let next = (*entry).Flink;
        let prev = (*entry).Blink;
        flink(prev).store(next, Ordering::SeqCst);
        (*next).Blink = prev;
        (*block).linked = false;
        let obj = (*block).object;
        if !has_waiters(obj) {
            signal_state(obj).fetch_and(!WAITERS, Ordering::SeqCst);
        }
    }
}

/// Unlinks every block of `waiter`. Dispatcher lock held.
///
/// # Safety
/// Lock held; `waiter` and its blocks live.
unsafe fn unlink_all(waiter: *const Waiter) {
    // SAFETY: per the caller.
    unsafe {
        for i in 0..(*waiter).count {
            unlink_block((*waiter).blocks.add(i));
        }
    }
}

/// Takes one object for a wait if it is signalled: consumes a synchronization event.
/// Safe without the lock (one atomic operation).
///
/// # Safety
/// `obj` live.
#[inline]
unsafe fn try_take(obj: *mut DISPATCHER_HEADER, kind: Kind) -> bool {
    // SAFETY: per the caller.
    let s = unsafe { signal_state(obj) };
    match kind {
        Kind::Notification => s.load(Ordering::SeqCst) & VALUE > 0,
        Kind::Synchronization => {
            let mut cur = s.load(Ordering::SeqCst);
            loop {
                if cur & VALUE <= 0 {
                    return false;
                }
                // Consume the signal, keep the WAITERS bit.
                match s.compare_exchange_weak(cur, cur & WAITERS, Ordering::SeqCst, Ordering::SeqCst) {
                    Ok(_) => return true,
                    Err(now) => cur = now,
                }
            }
        }
    }
}

/// [`try_take`] without the dispatcher lock: a synchronization event that threads are
/// blocked on is left to the locked path (so queued waiters and WaitAll see every take).
///
/// # Safety
/// `obj` live.
#[inline]
unsafe fn try_take_unlocked(obj: *mut DISPATCHER_HEADER, kind: Kind) -> bool {
    // SAFETY: per the caller.
    unsafe {
        if kind == Kind::Synchronization && signal_state(obj).load(Ordering::SeqCst) & WAITERS != 0 {
            return false;
        }
        try_take(obj, kind)
    }
}

/// Takes all objects of a WaitAll at once, or none. Dispatcher lock held (so no other
/// WaitAll interleaves; lock-free single waits can still take a synchronization event
/// between the test and the take, which is handled by putting back what was taken).
/// `objects` is walked up to three times (test, take, give back), without allocating.
///
/// # Safety
/// Lock held; `objects` live.
unsafe fn try_take_all<I>(objects: I) -> bool
where
    I: Iterator<Item = (*mut DISPATCHER_HEADER, Kind)> + Clone,
{
    // SAFETY: per the caller.
    unsafe {
        if !objects.clone().all(|(o, _)| signal_state(o).load(Ordering::SeqCst) & VALUE > 0) {
            return false;
        }
        for (i, (o, k)) in objects.clone().enumerate() {
            if k == Kind::Synchronization && !try_take(o, k) {
                // Taken in between (by an unlocked taker of an object nobody was blocked on
                // when it looked): give back what this wait took.
                for (p, l) in objects.take(i) {
                    if l == Kind::Synchronization {
                        signal_state(p).fetch_or(1, Ordering::SeqCst);
                    }
                }
                return false;
            }
        }
        true
    }
}

/// The objects of `waiter`'s blocks, read in place, for [`try_take_all`].
///
/// # Safety
/// `waiter` and its blocks stay live while the iterator is used.
unsafe fn objects_of(waiter: *const Waiter) -> impl Iterator<Item = (*mut DISPATCHER_HEADER, Kind)> + Clone {
    // SAFETY: `waiter` live per the caller.
    let (blocks, count) = unsafe { ((*waiter).blocks, (*waiter).count) };
    (0..count).map(move |i| {
        // SAFETY: `i < count`, the waiter's live blocks (caller); `object` and `kind` are
        // written before the block is linked and never change after.
        unsafe {
            let b = blocks.add(i);
            ((*b).object, (*b).kind)
        }
    })
}

/// Releases waiters of `obj` while it can satisfy them (the object was just signalled).
/// Collects the released waiters and stores their futex words only after the last access
/// to `obj`. Dispatcher lock held.
///
/// # Safety
/// Lock held; `obj` live.
unsafe fn wait_test(obj: *mut DISPATCHER_HEADER) {
    let mut to_wake: *const Waiter = null_mut();
    // SAFETY: the lock is held, so every linked block and its waiter are live (a waiter
    // unlinks its blocks under the lock before it returns).
    unsafe {
        let head = wait_list(obj);
        'outer: loop {
            if signal_state(obj).load(Ordering::SeqCst) & VALUE <= 0 || !has_waiters(obj) {
                break;
            }
            let mut entry = (*head).Flink;
            let mut released = false;
            while entry != head {
                let block = entry as *mut WaitBlock;
                let waiter = (*block).waiter;
                let satisfied = if (*waiter).wait_all {
                    try_take_all(objects_of(waiter))
                } else if try_take(obj, (*block).kind) {
                    true
                } else {
                    break 'outer; // the object is no longer signalled
                };
                if satisfied {
                    unlink_all(waiter);
                    (*waiter).index.store(if (*waiter).wait_all { 0 } else { (*block).index }, Ordering::Relaxed);
                    (*waiter).next_wake.store(to_wake as *mut Waiter, Ordering::Relaxed);
                    to_wake = waiter;
                    released = true;
                    break;
                }
                entry = (*entry).Flink;
            }
            if !released {
                break;
            }
        }
        // From here on `obj` is not touched: a released waiter may return and free it.
        while !to_wake.is_null() {
            let w = to_wake;
            to_wake = (*w).next_wake.load(Ordering::Relaxed);
            let word = (*w).released.as_ptr() as *const u32;
            (*w).released.store(1, Ordering::Release);
            // `w` may be gone now; waking its (former) address is harmless.
            futex_wake(word, 1);
        }
    }
}

/// Signals an object (`KeSetEvent`, thread exit); returns the previous signal state.
///
/// # Safety
/// `obj` points to a live, initialized dispatcher object.
pub(crate) unsafe fn signal(obj: *mut DISPATCHER_HEADER) -> LONG {
    // SAFETY: per the caller.
    unsafe {
        let s = signal_state(obj);
        let mut cur = s.load(Ordering::SeqCst);
        while cur & WAITERS == 0 {
            // Nobody blocked: publishing the signal is the last access to the object (a
            // waiter may take it and return at once). If a waiter links itself first, the
            // exchange fails and the locked path below hands it the signal.
            match s.compare_exchange_weak(cur, 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(prev) => return prev & VALUE,
                Err(now) => cur = now,
            }
        }
        // Threads are blocked on the object: they keep it alive until released (under the
        // lock, by wait_test) or until they time out (under the lock).
        DISPATCHER_LOCK.lock();
        let prev = s.fetch_or(1, Ordering::SeqCst) & VALUE;
        wait_test(obj);
        DISPATCHER_LOCK.unlock();
        prev
    }
}

/// Waits for one (`wait_all == false`) or all of `objects`; the NTSTATUS of the wait.
///
/// # Safety
/// Every object is live and initialized for the duration of the wait.
unsafe fn wait(objects: &[(*mut DISPATCHER_HEADER, Kind)], wait_all: bool, deadline: Deadline) -> NTSTATUS {
    // Fast paths: nothing to block on.
    // SAFETY: objects live (caller).
    unsafe {
        if !wait_all {
            for (i, &(o, k)) in objects.iter().enumerate() {
                if try_take_unlocked(o, k) {
                    return STATUS_WAIT_0 + i as NTSTATUS;
                }
            }
            if deadline.is_poll() {
                return STATUS_TIMEOUT;
            }
        } else if deadline.is_poll() {
            DISPATCHER_LOCK.lock();
            let ok = try_take_all(objects.iter().copied());
            DISPATCHER_LOCK.unlock();
            return if ok { STATUS_SUCCESS } else { STATUS_TIMEOUT };
        }
    }
    if current_irql() >= DISPATCH_LEVEL {
        kerror!(
            "KeWaitFor…Object(s) with a non-zero timeout at IRQL {} (Windows bug-checks: IRQL_NOT_LESS_OR_EQUAL); waiting anyway",
            current_irql()
        );
    }

    // The wait blocks: an array in this frame for up to INLINE_OBJECTS objects, else on the
    // heap. Linked blocks are referenced from the objects' lists, so both stay where they are
    // (never moved, returned or touched by name) until every block is unlinked below; they
    // are only accessed through `bp`.
    let n = objects.len();
    let mut inline_blocks = [EMPTY_BLOCK; INLINE_OBJECTS];
    let mut heap_blocks: Vec<WaitBlock> = Vec::new();
    let bp: *mut WaitBlock = if n <= INLINE_OBJECTS {
        inline_blocks.as_mut_ptr()
    } else {
        heap_blocks.resize_with(n, || EMPTY_BLOCK);
        heap_blocks.as_mut_ptr()
    };
    let waiter = Waiter {
        released: AtomicU32::new(0),
        index: AtomicU32::new(0),
        wait_all,
        blocks: bp,
        count: n,
        next_wake: AtomicPtr::new(null_mut()),
    };
    let w: *const Waiter = &waiter;

    // SAFETY: `bp` points to `n` blocks that stay in place, like `waiter`, until every block
    // is unlinked under the lock below (on every return path); the objects are live (caller).
    unsafe {
        for (i, &(object, kind)) in objects.iter().enumerate() {
            bp.add(i).write(WaitBlock { waiter: w, object, kind, index: i as u32, ..EMPTY_BLOCK });
        }
        DISPATCHER_LOCK.lock();
        for (i, &(o, _)) in objects.iter().enumerate() {
            link_block(o, bp.add(i));
        }
        // Linked first, tested second: see the module docs.
        let immediate = if wait_all {
            try_take_all(objects.iter().copied()).then_some(STATUS_SUCCESS)
        } else {
            objects.iter().enumerate().find(|&(_, &(o, k))| try_take(o, k)).map(|(i, _)| STATUS_WAIT_0 + i as NTSTATUS)
        };
        if let Some(status) = immediate {
            unlink_all(w);
            DISPATCHER_LOCK.unlock();
            return status;
        }
        DISPATCHER_LOCK.unlock();

        loop {
            if (*w).released.load(Ordering::Acquire) == 1 {
                return STATUS_WAIT_0 + (*w).index.load(Ordering::Relaxed) as NTSTATUS;
            }
            let left = deadline.remaining();
            let timed_out = left == Some(Duration::ZERO)
                || futex_wait((*w).released.as_ptr() as *const u32, 0, left) == Wake::TimedOut;
            if timed_out && (*w).released.load(Ordering::Acquire) == 0 && deadline.remaining() == Some(Duration::ZERO) {
                DISPATCHER_LOCK.lock();
                if (*w).released.load(Ordering::Acquire) == 1 {
                    DISPATCHER_LOCK.unlock();
                    return STATUS_WAIT_0 + (*w).index.load(Ordering::Relaxed) as NTSTATUS;
                }
                unlink_all(w);
                DISPATCHER_LOCK.unlock();
                return STATUS_TIMEOUT;
            }
        }
    }
}

/// Checks a client's object pointer; its kind, or an error already logged.
///
/// # Safety
/// `obj` is NULL or points to a readable `DISPATCHER_HEADER`.
unsafe fn checked_object(name: &str, obj: PVOID) -> Result<(*mut DISPATCHER_HEADER, Kind), NTSTATUS> {
    if obj.is_null() {
        kerror!("{name}: Object is NULL (Windows would crash); returning STATUS_INVALID_PARAMETER");
        return Err(STATUS_INVALID_PARAMETER);
    }
    let hdr = obj as *mut DISPATCHER_HEADER;
    // SAFETY: non-NULL and readable per the caller.
    match unsafe { kind_of(hdr) } {
        Some(k) => Ok((hdr, k)),
        None => {
            // SAFETY: as above.
            let t = unsafe { (*hdr).Type };
            kerror!(
                "{name}: object {obj:p} has dispatcher type {t}, which libwsk cannot wait on (events and threads only)"
            );
            Err(STATUS_INVALID_PARAMETER)
        }
    }
}

fn null_event(name: &str) {
    kerror!("{name}: Event is NULL (Windows would crash); ignored");
}

// ----- events -----

/// `KeInitializeEvent`: `Type` 0 = NotificationEvent, 1 = SynchronizationEvent.
#[no_mangle]
pub unsafe extern "C" fn KeInitializeEvent(Event: *mut KEVENT, Type: u32, State: BOOLEAN) {
    guard("KeInitializeEvent", (), || {
        if Event.is_null() {
            return null_event("KeInitializeEvent");
        }
        let t = match Type {
            0 => EVENT_NOTIFICATION_OBJECT,
            1 => EVENT_SYNCHRONIZATION_OBJECT,
            other => {
                kerror!("KeInitializeEvent: unknown EVENT_TYPE {other}; using NotificationEvent");
                EVENT_NOTIFICATION_OBJECT
            }
        };
        // SAFETY: Event is non-NULL: the client's KEVENT, not in use by waiters (Windows' rule).
        unsafe {
            let h = addr_of_mut!((*Event).Header);
            (*h).Type = t;
            (*h).Signalling = 0;
            (*h).Size = (std::mem::size_of::<KEVENT>() / 4) as u8;
            (*h).Reserved1 = 0;
            (*h).SignalState = (State != 0) as LONG;
            let head = addr_of_mut!((*h).WaitListHead);
            (*head).Flink = head;
            (*head).Blink = head;
        }
    })
}

/// `KeSetEvent`: signals the event; returns its previous state. `Increment` and `Wait` have
/// no meaning here (no priorities; no dispatcher lock is handed to the caller).
#[no_mangle]
pub unsafe extern "C" fn KeSetEvent(Event: *mut KEVENT, Increment: LONG, Wait: BOOLEAN) -> LONG {
    let _ = (Increment, Wait);
    guard("KeSetEvent", 0, || {
        if Event.is_null() {
            null_event("KeSetEvent");
            return 0;
        }
        // SAFETY: the client's initialized KEVENT.
        unsafe { signal(Event as *mut DISPATCHER_HEADER) }
    })
}

/// Rust entry for the provider: `KeSetEvent(event, 0, FALSE)`.
///
/// # Safety
/// `event` points to a live, initialized `KEVENT`.
pub unsafe fn set_event(event: *mut KEVENT) -> LONG {
    // SAFETY: per the caller.
    unsafe { signal(event as *mut DISPATCHER_HEADER) }
}

/// `KeResetEvent`: clears the event; returns its previous state.
#[no_mangle]
pub unsafe extern "C" fn KeResetEvent(Event: *mut KEVENT) -> LONG {
    guard("KeResetEvent", 0, || {
        if Event.is_null() {
            null_event("KeResetEvent");
            return 0;
        }
        // SAFETY: the client's initialized KEVENT.
        unsafe { reset(Event as *mut DISPATCHER_HEADER) }
    })
}

/// `KeClearEvent`.
#[no_mangle]
pub unsafe extern "C" fn KeClearEvent(Event: *mut KEVENT) {
    guard("KeClearEvent", (), || {
        if Event.is_null() {
            return null_event("KeClearEvent");
        }
        // SAFETY: the client's initialized KEVENT.
        unsafe { reset(Event as *mut DISPATCHER_HEADER) };
    })
}

/// `KeReadStateEvent`.
#[no_mangle]
pub unsafe extern "C" fn KeReadStateEvent(Event: *mut KEVENT) -> LONG {
    guard("KeReadStateEvent", 0, || {
        if Event.is_null() {
            null_event("KeReadStateEvent");
            return 0;
        }
        // SAFETY: the client's initialized KEVENT.
        unsafe { signal_state(Event as *mut DISPATCHER_HEADER) }.load(Ordering::SeqCst) & VALUE
    })
}

/// Clears an object's signal (`KeResetEvent`, `KeClearEvent`); the previous value. With
/// threads blocked on it, under the dispatcher lock, so a WaitAll testing and taking its
/// objects under the lock never sees a reset in between.
///
/// # Safety
/// `obj` points to a live, initialized dispatcher object.
unsafe fn reset(obj: *mut DISPATCHER_HEADER) -> LONG {
    // SAFETY: per the caller.
    unsafe {
        let s = signal_state(obj);
        if s.load(Ordering::SeqCst) & WAITERS == 0 {
            return s.fetch_and(WAITERS, Ordering::SeqCst) & VALUE;
        }
        DISPATCHER_LOCK.lock();
        let prev = s.fetch_and(WAITERS, Ordering::SeqCst) & VALUE;
        DISPATCHER_LOCK.unlock();
        prev
    }
}

// ----- waits -----

/// `KeWaitForSingleObject`: `STATUS_SUCCESS` or `STATUS_TIMEOUT` (`Timeout`: NULL forever,
/// negative relative in 100 ns, positive absolute system time, zero a poll).
#[no_mangle]
pub unsafe extern "C" fn KeWaitForSingleObject(
    Object: PVOID,
    WaitReason: u32,
    WaitMode: KPROCESSOR_MODE,
    Alertable: BOOLEAN,
    Timeout: *mut i64,
) -> NTSTATUS {
    let _ = (WaitReason, WaitMode, Alertable);
    guard_status("KeWaitForSingleObject", || {
        // SAFETY: the client passes a dispatcher object.
        let obj = match unsafe { checked_object("KeWaitForSingleObject", Object) } {
            Ok(o) => o,
            Err(s) => return s,
        };
        // SAFETY: Timeout is NULL or the client's LARGE_INTEGER.
        let deadline = unsafe { Deadline::from_timeout(Timeout) };
        // SAFETY: the object stays live during the wait (the client's obligation).
        unsafe { wait(&[obj], false, deadline) }
    })
}

/// `KeWaitForMultipleObjects`: `WaitType` 0 = WaitAll (`STATUS_SUCCESS`), 1 = WaitAny
/// (`STATUS_WAIT_0 + index`); `STATUS_TIMEOUT`; `STATUS_INVALID_PARAMETER` for a count of 0
/// or more than 64, a NULL object, an unknown wait type, an object twice in a WaitAll.
/// `WaitBlockArray` is not used (libwsk has its own wait blocks), so it may be NULL for any
/// count (Windows requires it above 3 objects).
#[no_mangle]
pub unsafe extern "C" fn KeWaitForMultipleObjects(
    Count: u32,
    Object: *mut PVOID,
    WaitType: u32,
    WaitReason: u32,
    WaitMode: KPROCESSOR_MODE,
    Alertable: BOOLEAN,
    Timeout: *mut i64,
    WaitBlockArray: PVOID,
) -> NTSTATUS {
    let _ = (WaitReason, WaitMode, Alertable, WaitBlockArray);
    guard_status("KeWaitForMultipleObjects", || {
        const NAME: &str = "KeWaitForMultipleObjects";
        if Count == 0 || Count > MAXIMUM_WAIT_OBJECTS {
            kerror!("{NAME}: Count {Count} is not in 1..=64 (Windows bug-checks); returning STATUS_INVALID_PARAMETER");
            return STATUS_INVALID_PARAMETER;
        }
        if Object.is_null() {
            kerror!("{NAME}: Object array is NULL; returning STATUS_INVALID_PARAMETER");
            return STATUS_INVALID_PARAMETER;
        }
        if WaitType != WAIT_ALL && WaitType != WAIT_ANY {
            kerror!("{NAME}: unknown WaitType {WaitType}; returning STATUS_INVALID_PARAMETER");
            return STATUS_INVALID_PARAMETER;
        }
        // The object list: in place for up to INLINE_OBJECTS objects, else on the heap.
        let n = Count as usize;
        let mut inline_objects = [NO_OBJECT; INLINE_OBJECTS];
        let mut heap_objects = Vec::new();
        let objects: &mut [(*mut DISPATCHER_HEADER, Kind)] = if n <= INLINE_OBJECTS {
            &mut inline_objects[..n]
        } else {
            heap_objects.resize(n, NO_OBJECT);
            &mut heap_objects
        };
        for (i, slot) in objects.iter_mut().enumerate() {
            // SAFETY: the client's array of Count pointers.
            let p = unsafe { Object.add(i).read() };
            // SAFETY: each entry is NULL or a dispatcher object.
            match unsafe { checked_object(NAME, p) } {
                Ok(o) => *slot = o,
                Err(s) => return s,
            }
        }
        // At most 64 objects: compare every pair in place (at most 2016 comparisons, no copy).
        if WaitType == WAIT_ALL && (1..n).any(|j| objects[..j].iter().any(|&(o, _)| o == objects[j].0)) {
            kerror!("{NAME}: the same object twice in a WaitAll; returning STATUS_INVALID_PARAMETER");
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: Timeout is NULL or the client's LARGE_INTEGER.
        let deadline = unsafe { Deadline::from_timeout(Timeout) };
        // SAFETY: the objects stay live during the wait (the client's obligation).
        unsafe { wait(objects, WaitType == WAIT_ALL, deadline) }
    })
}

/// `KeDelayExecutionThread`: sleeps for `Interval` (negative: relative 100 ns units;
/// positive: until that system time; zero: yields). Always `STATUS_SUCCESS`
/// (`STATUS_INVALID_PARAMETER` for a NULL `Interval`).
#[no_mangle]
pub unsafe extern "C" fn KeDelayExecutionThread(
    WaitMode: KPROCESSOR_MODE,
    Alertable: BOOLEAN,
    Interval: *mut i64,
) -> NTSTATUS {
    let _ = (WaitMode, Alertable);
    guard_status("KeDelayExecutionThread", || {
        if Interval.is_null() {
            kerror!(
                "KeDelayExecutionThread: Interval is NULL (Windows would crash); returning STATUS_INVALID_PARAMETER"
            );
            return STATUS_INVALID_PARAMETER;
        }
        if current_irql() >= DISPATCH_LEVEL {
            kerror!("KeDelayExecutionThread at IRQL {} (Windows bug-checks); sleeping anyway", current_irql());
        }
        // SAFETY: non-NULL: the client's LARGE_INTEGER.
        let deadline = unsafe { Deadline::from_timeout(Interval) };
        if deadline.is_poll() {
            std::thread::yield_now();
            return STATUS_SUCCESS;
        }
        while let Some(left) = deadline.remaining() {
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left);
        }
        STATUS_SUCCESS
    })
}

// ----- clocks -----

/// `KeQuerySystemTimePrecise`: 100 ns units since 1601-01-01 UTC.
#[no_mangle]
pub unsafe extern "C" fn KeQuerySystemTimePrecise(CurrentTime: *mut i64) {
    guard("KeQuerySystemTimePrecise", (), || {
        if CurrentTime.is_null() {
            kerror!("KeQuerySystemTimePrecise: CurrentTime is NULL; ignored");
            return;
        }
        // SAFETY: non-NULL: the client's LARGE_INTEGER.
        unsafe { CurrentTime.write_unaligned(system_time_100ns()) };
    })
}

/// `KeQuerySystemTime` (a macro reading shared memory on x64 Windows; a function here).
#[no_mangle]
pub unsafe extern "C" fn KeQuerySystemTime(CurrentTime: *mut i64) {
    // SAFETY: same contract.
    unsafe { KeQuerySystemTimePrecise(CurrentTime) }
}

/// `KeQueryInterruptTime`: 100 ns units since boot (monotonic, includes suspend).
#[no_mangle]
pub unsafe extern "C" fn KeQueryInterruptTime() -> u64 {
    guard("KeQueryInterruptTime", 0, interrupt_time_100ns)
}

/// `KeQueryPerformanceCounter`: a monotonic counter in 100 ns ticks (frequency 10 MHz).
#[no_mangle]
pub unsafe extern "C" fn KeQueryPerformanceCounter(PerformanceFrequency: *mut i64) -> i64 {
    guard("KeQueryPerformanceCounter", 0, || {
        if !PerformanceFrequency.is_null() {
            // SAFETY: non-NULL: the client's LARGE_INTEGER.
            unsafe { PerformanceFrequency.write_unaligned(10_000_000) };
        }
        interrupt_time_100ns() as i64
    })
}
