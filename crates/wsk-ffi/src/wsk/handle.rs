//! `PWSK_SOCKET`: the handles C clients hold.
//!
//! A `WSK_SOCKET` is one pointer (its provider dispatch table) that the client reads, so
//! the handle must be memory the provider owns. Handles live in an arena of fixed slots
//! that is never returned to the allocator: a handle the client still holds after close
//! (or a pointer that was never a handle) can be looked up without dereferencing freed or
//! foreign memory. A pointer is a handle only if it falls exactly on a slot of one of the
//! arena's chunks; a slot is live from socket creation until its close completes. Closed
//! slots are reused last-in-last-out (a FIFO of free slots), so a stale handle stays
//! invalid for as long as possible rather than naming someone else's new socket at once.

use std::collections::VecDeque;
use std::ffi::c_void;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use wsk_api::{ConnectionSocket, ListenSocket};

use crate::abi::{NTSTATUS, WSK_SOCKET};

pub const STATUS_INVALID_HANDLE: NTSTATUS = 0xC000_0008_u32 as i32;
pub const STATUS_INVALID_DEVICE_REQUEST: NTSTATUS = 0xC000_0010_u32 as i32;
pub const STATUS_INSUFFICIENT_RESOURCES: NTSTATUS = 0xC000_009A_u32 as i32;

/// The socket categories (`WSK_FLAG_*_SOCKET`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Listen,
    Connection,
}

/// What a live handle stands for.
pub enum Socket {
    Listen(ListenSocket),
    Connection(ConnectionSocket),
}

impl Socket {
    pub fn category(&self) -> Category {
        match self {
            Socket::Listen(_) => Category::Listen,
            Socket::Connection(_) => Category::Connection,
        }
    }
}

/// A live handle's socket, and the event bits its client dispatch table has no
/// callback for (enabling those is refused: the events would be lost).
pub struct Entry {
    pub socket: Socket,
    pub missing_events: AtomicU32,
}

/// One handle: the `WSK_SOCKET` the client sees, first, then the provider's state.
#[repr(C)]
pub struct Slot {
    wsk: WSK_SOCKET,
    socket: Mutex<Option<Arc<Entry>>>,
}

// SAFETY: `wsk.Dispatch` points to a static dispatch table and is written only while the
// slot is off the free list and not yet handed out; the rest is behind a Mutex.
unsafe impl Sync for Slot {}

const CHUNK_SLOTS: usize = 1024;
const MAX_CHUNKS: usize = 512;

struct Arena {
    free: VecDeque<&'static Slot>,
    chunks: usize,
    live: usize,
}

static ARENA: Mutex<Arena> = Mutex::new(Arena { free: VecDeque::new(), chunks: 0, live: 0 });
static CHUNKS: [AtomicPtr<Slot>; MAX_CHUNKS] = [const { AtomicPtr::new(std::ptr::null_mut()) }; MAX_CHUNKS];
static CHUNK_COUNT: AtomicUsize = AtomicUsize::new(0);

fn arena() -> std::sync::MutexGuard<'static, Arena> {
    ARENA.lock().unwrap_or_else(|e| e.into_inner())
}

/// Makes a handle for `socket` with the given provider dispatch table; `missing_events`
/// are the event bits the client has no callback for.
pub fn insert(socket: Socket, dispatch: *const c_void, missing_events: u32) -> Result<*mut WSK_SOCKET, NTSTATUS> {
    let mut a = arena();
    if a.free.is_empty() {
        if a.chunks == MAX_CHUNKS {
            return Err(STATUS_INSUFFICIENT_RESOURCES);
        }
        let chunk: Box<[Slot]> = (0..CHUNK_SLOTS)
            .map(|_| Slot { wsk: WSK_SOCKET { Dispatch: std::ptr::null() }, socket: Mutex::new(None) })
            .collect();
        let chunk: &'static [Slot] = Box::leak(chunk);
        CHUNKS[a.chunks].store(chunk.as_ptr() as *mut Slot, Ordering::Release);
        a.chunks += 1;
        CHUNK_COUNT.store(a.chunks, Ordering::Release);
        a.free.extend(chunk.iter());
    }
    let slot = a.free.pop_front().expect("a free slot");
    a.live += 1;
    drop(a);
    *lock(slot) = Some(Arc::new(Entry { socket, missing_events: AtomicU32::new(missing_events) }));
    let p = slot as *const Slot as *mut Slot;
    // SAFETY: the slot is ours (just taken off the free list); the client reads `wsk`
    // only after we return it.
    unsafe { (*p).wsk.Dispatch = dispatch };
    Ok(p as *mut WSK_SOCKET)
}

fn lock(slot: &Slot) -> std::sync::MutexGuard<'_, Option<Arc<Entry>>> {
    slot.socket.lock().unwrap_or_else(|e| e.into_inner())
}

/// The slot a pointer names, if it is exactly one of the arena's slots.
fn find(p: *const WSK_SOCKET) -> Option<&'static Slot> {
    let addr = p as usize;
    let size = std::mem::size_of::<Slot>();
    for chunk in CHUNKS.iter().take(CHUNK_COUNT.load(Ordering::Acquire)) {
        let base = chunk.load(Ordering::Acquire) as usize;
        let offset = addr.wrapping_sub(base);
        if addr >= base && offset < CHUNK_SLOTS * size && offset / size * size == offset {
            // SAFETY: inside a leaked chunk, on a slot boundary.
            return Some(unsafe { &*(addr as *const Slot) });
        }
    }
    None
}

/// The socket behind a live handle: `STATUS_INVALID_HANDLE` for NULL, foreign or
/// closed handles.
pub fn get(p: *const WSK_SOCKET) -> Result<Arc<Entry>, NTSTATUS> {
    let slot = find(p).ok_or(STATUS_INVALID_HANDLE)?;
    let socket = lock(slot).clone();
    socket.ok_or(STATUS_INVALID_HANDLE)
}

/// [`get`], also checking the category (`STATUS_INVALID_DEVICE_REQUEST` otherwise).
pub fn get_as(p: *const WSK_SOCKET, category: Category) -> Result<Arc<Entry>, NTSTATUS> {
    let s = get(p)?;
    if s.socket.category() == category {
        Ok(s)
    } else {
        Err(STATUS_INVALID_DEVICE_REQUEST)
    }
}

/// Ends a handle (its close completed, or it was never handed out): later lookups fail.
pub fn remove(p: *const WSK_SOCKET) -> Option<Arc<Entry>> {
    let slot = find(p)?;
    let socket = lock(slot).take()?;
    release_slot(slot);
    Some(socket)
}

/// Ends a handle only if it still names `entry` (a second close of a handle whose slot
/// was already reused must not end the new socket's handle).
pub fn remove_entry(p: *const WSK_SOCKET, entry: &Arc<Entry>) -> Option<Arc<Entry>> {
    let slot = find(p)?;
    let mut guard = lock(slot);
    if !guard.as_ref().is_some_and(|e| Arc::ptr_eq(e, entry)) {
        return None;
    }
    let socket = guard.take()?;
    drop(guard);
    release_slot(slot);
    Some(socket)
}

fn release_slot(slot: &'static Slot) {
    let mut a = arena();
    a.live -= 1;
    a.free.push_back(slot);
}

/// Handles still live (sockets not closed).
pub fn live() -> usize {
    arena().live
}
