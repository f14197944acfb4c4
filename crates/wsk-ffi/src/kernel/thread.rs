//! System threads, thread and process objects, handles, object references.
//!
//! # Thread objects
//!
//! A thread object is libwsk memory starting with a `DISPATCHER_HEADER` (`THREAD_OBJECT`),
//! waitable with `KeWaitFor…`: it becomes signalled when the thread has ended. It is
//! reference counted (`ObfReferenceObject` / `ObfDereferenceObject`) and freed at zero;
//! a handle from `PsCreateSystemThread` holds one reference until `ZwClose`, the running
//! thread holds another until it ends. Every OS thread that asks (`PsGetCurrentThread`)
//! gets an object too, signalled when that thread exits.
//!
//! Handles are small numbers (0x104, 0x108, …) looked up in a table, never pointers:
//! a stale handle gives `STATUS_INVALID_HANDLE`, not a crash.
//!
//! # Thread end and `PsTerminateSystemThread`
//!
//! System threads are created with `pthread_create` and a trampoline that calls the start
//! routine with no Rust value alive in its frame. `PsTerminateSystemThread` checks its
//! caller (inside the panic boundary), then leaves the boundary and calls `pthread_exit`,
//! whose forced unwinding runs through the client's frames (C, unwind tables present by
//! default on x86-64) and the trampoline up to glibc's thread start, where the thread ends.
//! Both exported frames it crosses are `extern "C-unwind"` and hold nothing to drop. It
//! refuses (`STATUS_INVALID_PARAMETER`) on threads libwsk did not create as system
//! threads, and from inside a completion or cancel routine called by libwsk (the unwinding
//! could not cross libwsk's own frames there).
//!
//! The thread object is signalled by a thread-local destructor, which glibc runs after
//! the thread's stack has been unwound, whether the routine returned or the thread called
//! `PsTerminateSystemThread`: a driver that waits for its thread's object before unloading
//! knows the thread is out of its code.

use super::sync::lock;
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::c_void;
use std::ptr::{addr_of_mut, null_mut};
use std::sync::atomic::{AtomicI32, AtomicIsize, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::abi::{
    CLIENT_ID, DISPATCHER_HEADER, HANDLE, KPROCESSOR_MODE, LIST_ENTRY, NTSTATUS, OBJECT_HANDLE_INFORMATION,
    OBJECT_TYPE, PASSIVE_LEVEL, PROCESS_OBJECT, PVOID, THREAD_OBJECT,
};
use crate::guard::{guard, guard_status};

use super::dispatcher;
use super::spinlock::{current_irql, set_irql};
use super::sync::SyncPtr;
use crate::status::{
    STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_HANDLE, STATUS_INVALID_PARAMETER, STATUS_OBJECT_TYPE_MISMATCH,
    STATUS_SUCCESS,
};

// ----- object types -----

const fn type_name(s: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    let mut i = 0;
    while i < s.len() && i < 15 {
        out[i] = s[i];
        i += 1;
    }
    out
}

static THREAD_TYPE: OBJECT_TYPE = OBJECT_TYPE { Name: type_name(b"Thread") };
static PROCESS_TYPE: OBJECT_TYPE = OBJECT_TYPE { Name: type_name(b"Process") };
static EVENT_TYPE: OBJECT_TYPE = OBJECT_TYPE { Name: type_name(b"Event") };

static THREAD_TYPE_PTR: SyncPtr<OBJECT_TYPE> = SyncPtr(&THREAD_TYPE);
static PROCESS_TYPE_PTR: SyncPtr<OBJECT_TYPE> = SyncPtr(&PROCESS_TYPE);
static EVENT_TYPE_PTR: SyncPtr<OBJECT_TYPE> = SyncPtr(&EVENT_TYPE);

/// `extern POBJECT_TYPE *PsThreadType;`: the address of a variable holding the type.
#[no_mangle]
pub static PsThreadType: SyncPtr<SyncPtr<OBJECT_TYPE>> = SyncPtr(&THREAD_TYPE_PTR);
/// `extern POBJECT_TYPE *PsProcessType;`
#[no_mangle]
pub static PsProcessType: SyncPtr<SyncPtr<OBJECT_TYPE>> = SyncPtr(&PROCESS_TYPE_PTR);
/// `extern POBJECT_TYPE *ExEventObjectType;`
#[no_mangle]
pub static ExEventObjectType: SyncPtr<SyncPtr<OBJECT_TYPE>> = SyncPtr(&EVENT_TYPE_PTR);

// ----- thread objects -----

/// A thread object. `header` must stay first: clients wait on the object's address.
#[repr(C)]
pub struct ThreadObject {
    header: DISPATCHER_HEADER,
    refs: AtomicIsize,
    system: bool,
    exit_status: AtomicI32,
    id: usize,
}

/// Live thread objects (for validating `Ob` calls).
static OBJECTS: Mutex<BTreeSet<usize>> = Mutex::new(BTreeSet::new());
/// Handle → thread object.
static HANDLES: Mutex<BTreeMap<usize, usize>> = Mutex::new(BTreeMap::new());
static NEXT_HANDLE: AtomicUsize = AtomicUsize::new(0x104);
static NEXT_THREAD_ID: AtomicUsize = AtomicUsize::new(0x1000);
/// System threads whose thread has not ended.
static RUNNING_SYSTEM_THREADS: AtomicUsize = AtomicUsize::new(0);

/// System threads from `PsCreateSystemThread` still running.
pub fn running_system_threads() -> usize {
    RUNNING_SYSTEM_THREADS.load(Ordering::SeqCst)
}

fn new_thread_object(system: bool, refs: isize) -> *mut ThreadObject {
    let obj = Box::into_raw(Box::new(ThreadObject {
        header: DISPATCHER_HEADER {
            Type: THREAD_OBJECT,
            Signalling: 0,
            Size: (std::mem::size_of::<ThreadObject>() / 4).min(255) as u8,
            Reserved1: 0,
            SignalState: 0,
            WaitListHead: LIST_ENTRY { Flink: null_mut(), Blink: null_mut() },
        },
        refs: AtomicIsize::new(refs),
        system,
        exit_status: AtomicI32::new(0),
        id: NEXT_THREAD_ID.fetch_add(4, Ordering::Relaxed),
    }));
    // SAFETY: a fresh, exclusively owned box.
    unsafe {
        let head = addr_of_mut!((*obj).header.WaitListHead);
        (*head).Flink = head;
        (*head).Blink = head;
    }
    lock(&OBJECTS).insert(obj as usize);
    obj
}

/// Adds a reference to a live thread object; the new count, or None if not one.
fn reference_thread(obj: usize) -> Option<isize> {
    let objects = lock(&OBJECTS);
    if !objects.contains(&obj) {
        return None;
    }
    // SAFETY: registered, hence live (freed only under this lock after removal).
    Some(unsafe { &*(obj as *const ThreadObject) }.refs.fetch_add(1, Ordering::SeqCst) + 1)
}

/// Drops a reference; frees the object at zero. The new count, or None if not one.
fn dereference_thread(obj: usize) -> Option<isize> {
    let mut objects = lock(&OBJECTS);
    if !objects.contains(&obj) {
        return None;
    }
    // SAFETY: registered, hence live.
    let n = unsafe { &*(obj as *const ThreadObject) }.refs.fetch_sub(1, Ordering::SeqCst) - 1;
    if n <= 0 {
        objects.remove(&obj);
        // SAFETY: created by Box::into_raw in new_thread_object; the last reference is gone.
        drop(unsafe { Box::from_raw(obj as *mut ThreadObject) });
    }
    Some(n)
}

/// The calling OS thread's object, dropped (signalled, unreferenced) at thread exit.
struct CurrentThread(Cell<*mut ThreadObject>);

impl Drop for CurrentThread {
    fn drop(&mut self) {
        let obj = self.0.replace(null_mut());
        if obj.is_null() {
            return;
        }
        // SAFETY: this thread holds a reference, so the object is live.
        unsafe {
            if (*obj).system {
                RUNNING_SYSTEM_THREADS.fetch_sub(1, Ordering::SeqCst);
            }
            dispatcher::signal(obj as *mut DISPATCHER_HEADER);
        }
        dereference_thread(obj as usize);
    }
}

thread_local! {
    static CURRENT: CurrentThread = const { CurrentThread(Cell::new(null_mut())) };
    static IS_SYSTEM_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// The calling thread's object (created on first use), or NULL during thread teardown.
pub fn current_thread_object() -> *mut ThreadObject {
    CURRENT
        .try_with(|c| {
            if c.0.get().is_null() {
                c.0.set(new_thread_object(false, 1));
            }
            c.0.get()
        })
        .unwrap_or(null_mut())
}

// ----- the process object -----

/// The process object: a header that is never signalled.
struct ProcessObject(std::cell::UnsafeCell<DISPATCHER_HEADER>);
// SAFETY: the header is accessed by the dispatcher only atomically / under its lock.
unsafe impl Sync for ProcessObject {}

static PROCESS: ProcessObject = ProcessObject(std::cell::UnsafeCell::new(DISPATCHER_HEADER {
    Type: PROCESS_OBJECT,
    Signalling: 0,
    Size: 6,
    Reserved1: 0,
    SignalState: 0,
    WaitListHead: LIST_ENTRY { Flink: null_mut(), Blink: null_mut() },
}));

fn process_object() -> PVOID {
    PROCESS.0.get() as PVOID
}

// ----- system threads -----

type StartRoutine = unsafe extern "C-unwind" fn(PVOID);

struct StartInfo {
    obj: *mut ThreadObject,
    routine: StartRoutine,
    context: PVOID,
}

extern "C-unwind" {
    /// glibc's `pthread_exit`, declared as unwinding (its forced unwinding crosses Rust
    /// frames, which the `libc` crate's `extern "C"` declaration does not allow).
    fn pthread_exit(retval: *mut c_void) -> !;
}

/// The system thread's first frame. No value with a destructor is alive while the client's
/// routine runs (it may end the thread with `PsTerminateSystemThread`).
extern "C-unwind" fn system_thread_start(arg: *mut c_void) -> *mut c_void {
    let start = guard("PsCreateSystemThread (thread start)", None, || {
        // SAFETY: `arg` is the StartInfo boxed by PsCreateSystemThread, given to this thread.
        let info = unsafe { Box::from_raw(arg as *mut StartInfo) };
        CURRENT.with(|c| c.0.set(info.obj));
        IS_SYSTEM_THREAD.with(|s| s.set(true));
        set_irql(PASSIVE_LEVEL);
        Some((info.routine, info.context))
    });
    if let Some((routine, context)) = start {
        // SAFETY: the client's start routine and its context.
        unsafe { routine(context) };
        if current_irql() != PASSIVE_LEVEL {
            kerror!("system thread ended at IRQL {} (Windows bug-checks)", current_irql());
        }
    }
    null_mut()
}

/// `PsCreateSystemThread`: runs `StartRoutine(StartContext)` on a new thread; `*ThreadHandle`
/// gets a handle (close it with `ZwClose`). `DesiredAccess`, `ObjectAttributes` and
/// `ProcessHandle` are ignored; a `ClientId` gets the process id and a thread id.
#[no_mangle]
pub unsafe extern "C" fn PsCreateSystemThread(
    ThreadHandle: *mut HANDLE,
    DesiredAccess: u32,
    ObjectAttributes: PVOID,
    ProcessHandle: HANDLE,
    ClientId: *mut CLIENT_ID,
    StartRoutine: Option<extern "C" fn(PVOID)>,
    StartContext: PVOID,
) -> NTSTATUS {
    let _ = (DesiredAccess, ObjectAttributes, ProcessHandle);
    guard_status("PsCreateSystemThread", || {
        if ThreadHandle.is_null() {
            kerror!("PsCreateSystemThread: ThreadHandle is NULL; returning STATUS_INVALID_PARAMETER");
            return STATUS_INVALID_PARAMETER;
        }
        let Some(routine) = StartRoutine else {
            kerror!("PsCreateSystemThread: StartRoutine is NULL; returning STATUS_INVALID_PARAMETER");
            return STATUS_INVALID_PARAMETER;
        };
        // SAFETY: same signature and calling convention; "C-unwind" only allows the forced
        // unwinding of pthread_exit to pass through the call.
        let routine: StartRoutine = unsafe { std::mem::transmute::<extern "C" fn(PVOID), StartRoutine>(routine) };
        // One reference for the handle, one for the running thread.
        let obj = new_thread_object(true, 2);
        let handle = NEXT_HANDLE.fetch_add(4, Ordering::Relaxed);
        lock(&HANDLES).insert(handle, obj as usize);
        RUNNING_SYSTEM_THREADS.fetch_add(1, Ordering::SeqCst);
        let info = Box::into_raw(Box::new(StartInfo { obj, routine, context: StartContext }));
        let mut tid: libc::pthread_t = 0;
        // SAFETY: "C-unwind" and "C" are the same calling convention; glibc calls the start
        // function as a C function and pthread_exit's forced unwinding may cross it, which an
        // `extern "C"` Rust function would turn into an abort.
        let start = unsafe {
            std::mem::transmute::<
                extern "C-unwind" fn(*mut c_void) -> *mut c_void,
                extern "C" fn(*mut c_void) -> *mut c_void,
            >(system_thread_start)
        };
        // SAFETY: valid out-pointer, default attributes, the start function and an argument
        // it takes ownership of.
        let rc = unsafe { libc::pthread_create(&mut tid, std::ptr::null(), start, info as *mut c_void) };
        if rc != 0 {
            kerror!("PsCreateSystemThread: pthread_create failed: {}", std::io::Error::from_raw_os_error(rc));
            // SAFETY: the thread was not created, so the StartInfo is still ours.
            drop(unsafe { Box::from_raw(info) });
            RUNNING_SYSTEM_THREADS.fetch_sub(1, Ordering::SeqCst);
            lock(&HANDLES).remove(&handle);
            dereference_thread(obj as usize);
            dereference_thread(obj as usize);
            return STATUS_INSUFFICIENT_RESOURCES;
        }
        // SAFETY: a thread just created and not joined.
        unsafe { libc::pthread_detach(tid) };
        // SAFETY: non-NULL output pointers of the client.
        unsafe {
            *ThreadHandle = handle as HANDLE;
            if !ClientId.is_null() {
                (*ClientId).UniqueProcess = libc::getpid() as usize as HANDLE;
                (*ClientId).UniqueThread = (*obj).id as HANDLE;
            }
        }
        STATUS_SUCCESS
    })
}

/// The checks of `PsTerminateSystemThread`, inside the panic boundary.
fn prepare_terminate(status: NTSTATUS) -> bool {
    if !IS_SYSTEM_THREAD.with(|s| s.get()) {
        kerror!("PsTerminateSystemThread: the calling thread was not created by PsCreateSystemThread; returning STATUS_INVALID_PARAMETER");
        return false;
    }
    if super::irp::in_callout() {
        kerror!("PsTerminateSystemThread: called from a routine that libwsk called (completion or cancel routine); returning STATUS_INVALID_PARAMETER");
        return false;
    }
    if current_irql() != PASSIVE_LEVEL {
        kerror!("PsTerminateSystemThread at IRQL {} (Windows bug-checks); ending the thread anyway", current_irql());
        set_irql(PASSIVE_LEVEL);
    }
    let obj = current_thread_object();
    if !obj.is_null() {
        // SAFETY: this thread's object, referenced by the thread.
        unsafe { (*obj).exit_status.store(status, Ordering::SeqCst) };
    }
    true
}

/// `PsTerminateSystemThread`: ends the calling system thread (does not return). On any
/// other thread, or from a routine libwsk called, returns `STATUS_INVALID_PARAMETER`.
#[no_mangle]
pub unsafe extern "C-unwind" fn PsTerminateSystemThread(ExitStatus: NTSTATUS) -> NTSTATUS {
    if !guard("PsTerminateSystemThread", false, || prepare_terminate(ExitStatus)) {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: a system thread started by system_thread_start; no Rust frame between here and
    // the trampoline holds anything to drop (see the module docs).
    unsafe { pthread_exit(null_mut()) }
}

/// `PsGetCurrentThread`: the calling thread's object (no reference added).
#[no_mangle]
pub unsafe extern "C" fn PsGetCurrentThread() -> PVOID {
    guard("PsGetCurrentThread", null_mut(), || current_thread_object() as PVOID)
}

/// `KeGetCurrentThread` (the same object).
#[no_mangle]
pub unsafe extern "C" fn KeGetCurrentThread() -> PVOID {
    guard("KeGetCurrentThread", null_mut(), || current_thread_object() as PVOID)
}

/// `PsGetCurrentProcess` / `IoGetCurrentProcess`: the one process object.
#[no_mangle]
pub unsafe extern "C" fn PsGetCurrentProcess() -> PVOID {
    guard("PsGetCurrentProcess", null_mut(), process_object)
}

#[no_mangle]
pub unsafe extern "C" fn IoGetCurrentProcess() -> PVOID {
    guard("IoGetCurrentProcess", null_mut(), process_object)
}

/// `PsGetCurrentThreadId`: the thread object's id (a multiple of 4, as on Windows).
#[no_mangle]
pub unsafe extern "C" fn PsGetCurrentThreadId() -> HANDLE {
    guard("PsGetCurrentThreadId", null_mut(), || {
        let obj = current_thread_object();
        if obj.is_null() {
            return null_mut();
        }
        // SAFETY: this thread's live object (the thread holds a reference).
        unsafe { (*obj).id as HANDLE }
    })
}

/// `ZwClose`: closes a thread handle (`STATUS_INVALID_HANDLE` for anything else).
#[no_mangle]
pub unsafe extern "C" fn ZwClose(Handle: HANDLE) -> NTSTATUS {
    guard_status("ZwClose", || {
        let Some(obj) = lock(&HANDLES).remove(&(Handle as usize)) else {
            kerror!("ZwClose: {Handle:p} is not an open handle; returning STATUS_INVALID_HANDLE");
            return STATUS_INVALID_HANDLE;
        };
        dereference_thread(obj);
        STATUS_SUCCESS
    })
}

/// `NtCurrentProcess()` and `NtCurrentThread()`.
const CURRENT_PROCESS_HANDLE: usize = usize::MAX;
const CURRENT_THREAD_HANDLE: usize = usize::MAX - 1;

/// `ObReferenceObjectByHandle`: the referenced object of a thread handle (or of
/// `NtCurrentThread()` / `NtCurrentProcess()`). `STATUS_OBJECT_TYPE_MISMATCH` if
/// `ObjectType` is given and is not the handle's type; `STATUS_INVALID_HANDLE` for unknown
/// handles. Release the reference with `ObDereferenceObject`.
#[no_mangle]
pub unsafe extern "C" fn ObReferenceObjectByHandle(
    Handle: HANDLE,
    DesiredAccess: u32,
    ObjectType: *const OBJECT_TYPE,
    AccessMode: KPROCESSOR_MODE,
    Object: *mut PVOID,
    HandleInformation: *mut OBJECT_HANDLE_INFORMATION,
) -> NTSTATUS {
    let _ = AccessMode;
    guard_status("ObReferenceObjectByHandle", || {
        if Object.is_null() {
            kerror!("ObReferenceObjectByHandle: Object is NULL; returning STATUS_INVALID_PARAMETER");
            return STATUS_INVALID_PARAMETER;
        }
        let h = Handle as usize;
        let (object, ty): (PVOID, *const OBJECT_TYPE) = if h == CURRENT_PROCESS_HANDLE {
            (process_object(), &PROCESS_TYPE)
        } else if h == CURRENT_THREAD_HANDLE {
            let obj = current_thread_object();
            if obj.is_null() || reference_thread(obj as usize).is_none() {
                return STATUS_INVALID_HANDLE;
            }
            (obj as PVOID, &THREAD_TYPE)
        } else {
            // Look up and reference under the handle table lock, so a concurrent ZwClose
            // cannot free the object in between.
            let handles = lock(&HANDLES);
            let Some(&obj) = handles.get(&h) else {
                return STATUS_INVALID_HANDLE;
            };
            if reference_thread(obj).is_none() {
                return STATUS_INVALID_HANDLE;
            }
            (obj as PVOID, &THREAD_TYPE)
        };
        if !ObjectType.is_null() && ObjectType != ty {
            if std::ptr::eq(ty, &THREAD_TYPE) {
                dereference_thread(object as usize);
            }
            return STATUS_OBJECT_TYPE_MISMATCH;
        }
        // SAFETY: non-NULL output pointers of the client.
        unsafe {
            *Object = object;
            if !HandleInformation.is_null() {
                (*HandleInformation).HandleAttributes = 0;
                (*HandleInformation).GrantedAccess = DesiredAccess;
            }
        }
        STATUS_SUCCESS
    })
}

/// `ObfReferenceObject`: adds a reference to a thread object or a device object; the
/// process object is static (no-op). Other pointers are logged and ignored.
#[no_mangle]
pub unsafe extern "C" fn ObfReferenceObject(Object: PVOID) -> isize {
    guard("ObfReferenceObject", 0, || {
        if let Some(n) = reference_thread(Object as usize) {
            return n;
        }
        if Object == process_object() {
            return 1;
        }
        if super::device::reference(Object as *mut _) {
            return 2;
        }
        kwarn!("ObfReferenceObject: {Object:p} is not an object libwsk knows; ignored");
        1
    })
}

/// `ObfDereferenceObject`: drops a reference (a thread object is freed at zero).
#[no_mangle]
pub unsafe extern "C" fn ObfDereferenceObject(Object: PVOID) -> isize {
    guard("ObfDereferenceObject", 0, || {
        if let Some(n) = dereference_thread(Object as usize) {
            if n < 0 {
                kerror!("ObfDereferenceObject: {Object:p} dereferenced more often than referenced");
            }
            return n;
        }
        if Object == process_object() {
            return 1;
        }
        if super::device::is_device(Object as *const _) {
            super::device::dereference(Object as *mut _);
            return 1;
        }
        kwarn!("ObfDereferenceObject: {Object:p} is not an object libwsk knows; ignored");
        0
    })
}

/// `ObDereferenceObject` (a macro for `ObfDereferenceObject` on Windows; also exported).
#[no_mangle]
pub unsafe extern "C" fn ObDereferenceObject(Object: PVOID) -> isize {
    // SAFETY: same contract.
    unsafe { ObfDereferenceObject(Object) }
}

/// `ObReferenceObject` (a macro for `ObfReferenceObject` on Windows; also exported).
#[no_mangle]
pub unsafe extern "C" fn ObReferenceObject(Object: PVOID) -> isize {
    // SAFETY: same contract.
    unsafe { ObfReferenceObject(Object) }
}
