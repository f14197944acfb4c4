//! Work items: `IoAllocateWorkItem`, `IoQueueWorkItem`, `IoFreeWorkItem`.
//!
//! Queued routines run at `PASSIVE_LEVEL` on a pool of worker threads that grows when
//! every worker is busy (so a routine that blocks on another work item does not deadlock
//! the queue; at most 64 workers) and whose threads stay for the life of the process.
//! `QueueType` (critical / delayed / hyper-critical) makes no difference.
//!
//! A work item is "queued" from `IoQueueWorkItem` until its routine starts: it can be
//! queued again from then on, including from its own routine, and freed from its own
//! routine. Queueing an item that is still queued is logged and ignored (Windows
//! bug-checks). Freeing an item that is still queued is logged; it is freed once its
//! routine has been started. A queued item holds a reference on its device object.

use super::sync::lock;
use std::collections::{BTreeMap, VecDeque};
use std::ptr::null_mut;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::abi::{DEVICE_OBJECT, PASSIVE_LEVEL, PVOID};
use crate::guard::guard;

use super::device;
use super::spinlock::{current_irql, set_irql};

const MAX_WORKERS: usize = 64;
/// Marks a libwsk work item.
const MAGIC: u64 = 0x4D45_5449_4B52_4F57; // "WORKITEM"

pub type WorkerRoutine = extern "C" fn(DeviceObject: *mut DEVICE_OBJECT, Context: PVOID);

/// The `IO_WORKITEM` a client holds (opaque to it).
#[repr(C)]
struct IoWorkItem {
    magic: u64,
    device: *mut DEVICE_OBJECT,
}

#[derive(Debug, Default)]
struct ItemState {
    queued: bool,
    free_when_started: bool,
}

struct Job {
    item: usize,
    routine: WorkerRoutine,
    context: usize,
    device: usize,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    workers: usize,
    idle: usize,
    running: usize,
}

static ITEMS: Mutex<BTreeMap<usize, ItemState>> = Mutex::new(BTreeMap::new());
static QUEUE: Mutex<Queue> = Mutex::new(Queue { jobs: VecDeque::new(), workers: 0, idle: 0, running: 0 });
/// Signalled when a job is queued.
static WORK: Condvar = Condvar::new();
/// Signalled when a job finishes.
static DONE: Condvar = Condvar::new();

/// Work items allocated and not freed.
pub fn live_work_items() -> usize {
    lock(&ITEMS).len()
}

/// Waits until no work item is queued or running, at most `timeout`; whether that happened.
/// (For `wsk run`, before it reports leaks.)
pub fn wait_idle(timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut q = lock(&QUEUE);
    while !q.jobs.is_empty() || q.running > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        q = DONE.wait_timeout(q, left).unwrap_or_else(|e| e.into_inner()).0;
    }
    true
}

fn worker() {
    loop {
        let job = {
            let mut q = lock(&QUEUE);
            q.idle += 1;
            while q.jobs.is_empty() {
                q = WORK.wait(q).unwrap_or_else(|e| e.into_inner());
            }
            q.idle -= 1;
            q.running += 1;
            q.jobs.pop_front().expect("non-empty")
        };
        {
            let mut items = lock(&ITEMS);
            let free = match items.get_mut(&job.item) {
                Some(st) => {
                    st.queued = false;
                    st.free_when_started
                }
                None => false,
            };
            if free {
                items.remove(&job.item);
                // SAFETY: a work item of IoAllocateWorkItem, freed by the client while queued.
                drop(unsafe { Box::from_raw(job.item as *mut IoWorkItem) });
            }
        }
        set_irql(PASSIVE_LEVEL);
        (job.routine)(job.device as *mut DEVICE_OBJECT, job.context as PVOID);
        if current_irql() != PASSIVE_LEVEL {
            kerror!("work item routine returned at IRQL {} (Windows bug-checks)", current_irql());
            set_irql(PASSIVE_LEVEL);
        }
        device::dereference(job.device as *mut DEVICE_OBJECT);
        let mut q = lock(&QUEUE);
        q.running -= 1;
        DONE.notify_all();
    }
}

/// `IoAllocateWorkItem`: NULL for a NULL device.
#[no_mangle]
pub unsafe extern "C" fn IoAllocateWorkItem(DeviceObject: *mut DEVICE_OBJECT) -> PVOID {
    guard("IoAllocateWorkItem", null_mut(), || {
        if DeviceObject.is_null() {
            kerror!("IoAllocateWorkItem: DeviceObject is NULL; returning NULL");
            return null_mut();
        }
        let item = Box::into_raw(Box::new(IoWorkItem { magic: MAGIC, device: DeviceObject }));
        lock(&ITEMS).insert(item as usize, ItemState::default());
        item as PVOID
    })
}

/// `IoQueueWorkItem`: runs `WorkerRoutine(DeviceObject, Context)` on a worker thread.
#[no_mangle]
pub unsafe extern "C" fn IoQueueWorkItem(
    IoWorkItem: PVOID,
    WorkerRoutine: Option<WorkerRoutine>,
    QueueType: u32,
    Context: PVOID,
) {
    let _ = QueueType;
    guard("IoQueueWorkItem", (), || {
        let Some(routine) = WorkerRoutine else {
            kerror!("IoQueueWorkItem: WorkerRoutine is NULL; ignored");
            return;
        };
        let item = IoWorkItem as usize;
        let device = {
            let mut items = lock(&ITEMS);
            let Some(st) = items.get_mut(&item).filter(|st| !st.free_when_started) else {
                kerror!("IoQueueWorkItem: {IoWorkItem:p} is not a work item from IoAllocateWorkItem (or was freed); ignored");
                return;
            };
            if st.queued {
                kerror!("IoQueueWorkItem: work item {IoWorkItem:p} is already queued (Windows bug-checks); ignored");
                return;
            }
            st.queued = true;
            // SAFETY: a registered, hence live, work item.
            let w = unsafe { &*(item as *const self::IoWorkItem) };
            debug_assert_eq!(w.magic, MAGIC);
            w.device
        };
        device::reference(device);
        let spawn = {
            let mut q = lock(&QUEUE);
            q.jobs.push_back(Job { item, routine, context: Context as usize, device: device as usize });
            let spawn = q.idle < q.jobs.len() && q.workers < MAX_WORKERS;
            if spawn {
                q.workers += 1;
            }
            WORK.notify_one();
            spawn
        };
        if spawn {
            let n = lock(&QUEUE).workers;
            let spawned = std::thread::Builder::new().name(format!("wsk-worker-{n}")).spawn(worker);
            if let Err(e) = spawned {
                kerror!("IoQueueWorkItem: cannot start a worker thread: {e}");
                lock(&QUEUE).workers -= 1;
            }
        }
    })
}

/// `IoFreeWorkItem`: unknown pointers are logged and ignored.
#[no_mangle]
pub unsafe extern "C" fn IoFreeWorkItem(IoWorkItem: PVOID) {
    guard("IoFreeWorkItem", (), || {
        let item = IoWorkItem as usize;
        let mut items = lock(&ITEMS);
        match items.get_mut(&item) {
            None => {
                kerror!("IoFreeWorkItem: {IoWorkItem:p} is not a work item from IoAllocateWorkItem, or was already freed; ignored");
            }
            Some(st) if st.free_when_started => {
                kerror!("IoFreeWorkItem: work item {IoWorkItem:p} freed twice; ignored");
            }
            Some(st) if st.queued => {
                kerror!("IoFreeWorkItem: work item {IoWorkItem:p} is still queued (Windows would corrupt memory); it is freed when its routine starts");
                st.free_when_started = true;
            }
            Some(_) => {
                items.remove(&item);
                // SAFETY: a registered work item from IoAllocateWorkItem, not queued.
                drop(unsafe { Box::from_raw(item as *mut self::IoWorkItem) });
            }
        }
    })
}
