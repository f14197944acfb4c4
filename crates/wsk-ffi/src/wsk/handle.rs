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

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::ffi::c_void;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};
use std::sync::Mutex;

use wsk_api::{BasicSocket, ConnectionSocket, DatagramSocket, ListenSocket, SocketControl, StreamSocket};

use crate::abi::{NTSTATUS, WSK_SOCKET};
use crate::status::{STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_DEVICE_REQUEST, STATUS_INVALID_HANDLE};

const _: () = assert!(std::mem::offset_of!(Slot, dispatch) == std::mem::offset_of!(WSK_SOCKET, Dispatch));

/// The socket categories (`WSK_FLAG_*_SOCKET`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Basic,
    Listen,
    Connection,
    Datagram,
    Stream,
}

/// What a live handle stands for.
pub enum Socket {
    Basic(BasicSocket),
    Listen(ListenSocket),
    Connection(ConnectionSocket),
    Datagram(DatagramSocket),
    /// A stream socket, whatever its role (see [`crate::wsk::stream`]).
    Stream(StreamSocket),
}

impl Socket {
    /// The `WskControlSocket` requests every category takes.
    pub fn control(&self) -> &dyn SocketControl {
        match self {
            Socket::Basic(s) => s,
            Socket::Listen(s) => s,
            Socket::Connection(s) => s,
            Socket::Datagram(s) => s,
            Socket::Stream(s) => s,
        }
    }

    pub fn category(&self) -> Category {
        match self {
            Socket::Basic(_) => Category::Basic,
            Socket::Listen(_) => Category::Listen,
            Socket::Connection(_) => Category::Connection,
            Socket::Datagram(_) => Category::Datagram,
            Socket::Stream(_) => Category::Stream,
        }
    }
}

/// `missing_events` while a WskAcceptEvent callback runs: the accepted socket's callbacks
/// are named only when it returns, so enabling is not checked meanwhile.
pub const CALLBACKS_PENDING: u32 = u32::MAX;

/// A live handle's socket, and the event bits its client dispatch table has no
/// callback for (enabling those is refused: the events would be lost).
pub struct Entry {
    pub socket: Socket,
    pub missing_events: AtomicU32,
    /// The cached descriptor `SO_WSK_SECURITY` gave the socket (one reference held).
    pub security: std::sync::Mutex<Option<usize>>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        let held = self.security.get_mut().map(|s| s.take()).unwrap_or_else(|e| e.into_inner().take());
        if let Some(sd) = held {
            let _ = crate::wsk::security::release(sd as *const c_void);
        }
    }
}

/// One handle: the `WSK_SOCKET` the client sees, first, then the provider's state.
///
/// `state` is a reference count with a `LIVE` bit: a live handle holds one reference of
/// its own (dropped when its close completes), and each call in progress holds one
/// ([`Handle`]). References are taken only while `LIVE` is set; the last one released
/// drops the entry and returns the slot to the free list. A lookup is one load and one
/// compare-and-swap, its release one atomic subtraction: no lock on the call path.
#[repr(C)]
pub struct Slot {
    /// `WSK_SOCKET.Dispatch`, the one member the client reads (same layout as the C
    /// pointer; atomic because stale lookups may read the slot while it is reused).
    dispatch: AtomicPtr<c_void>,
    state: AtomicU32,
    entry: UnsafeCell<Option<Entry>>,
}

const LIVE: u32 = 1 << 31;

// SAFETY: `entry` is written only while the slot is free (insert) or by the holder of
// the last reference (release); in between it is only read, through references that keep
// it alive. `dispatch` is atomic.
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
    crate::kernel::sync::lock(&ARENA)
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
            .map(|_| Slot {
                dispatch: AtomicPtr::new(std::ptr::null_mut()),
                state: AtomicU32::new(0),
                entry: UnsafeCell::new(None),
            })
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
    let p = slot as *const Slot as *mut Slot;
    // SAFETY: the slot is free (just taken off the free list, state 0): nobody else reads
    // or writes its entry until LIVE is published below.
    unsafe {
        *slot.entry.get() = Some(Entry {
            socket,
            missing_events: AtomicU32::new(missing_events),
            security: std::sync::Mutex::new(None),
        })
    };
    slot.dispatch.store(dispatch as *mut c_void, Ordering::Release);
    slot.state.store(LIVE | 1, Ordering::Release);
    Ok(p as *mut WSK_SOCKET)
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

/// A reference to a live handle's entry, held for the length of a call (or of a close).
pub struct Handle {
    slot: &'static Slot,
}

impl std::ops::Deref for Handle {
    type Target = Entry;

    fn deref(&self) -> &Entry {
        // SAFETY: the entry was set before LIVE was published and is dropped only when the
        // last reference goes; this handle is one.
        unsafe { (*self.slot.entry.get()).as_ref().expect("a referenced slot has an entry") }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        release(self.slot);
    }
}

impl Handle {
    /// Ends the handle (its close completed): later lookups fail. The entry goes once the
    /// calls still holding it return. Ending it twice does nothing the second time.
    pub fn end(&self) {
        let prev = self.slot.state.fetch_and(!LIVE, Ordering::AcqRel);
        if prev & LIVE != 0 {
            arena().live -= 1;
            release(self.slot); // the handle's own reference
        }
    }
}

/// Drops one reference; the last one drops the entry and frees the slot.
fn release(slot: &'static Slot) {
    if slot.state.fetch_sub(1, Ordering::Release) == 1 {
        std::sync::atomic::fence(Ordering::Acquire);
        // SAFETY: the last reference, LIVE clear (a live handle holds a reference): no one
        // else can reach the entry any more.
        let entry = unsafe { (*slot.entry.get()).take() };
        arena().free.push_back(slot);
        drop(entry);
    }
}

/// The socket behind a live handle: `STATUS_INVALID_HANDLE` for NULL, foreign or
/// closed handles.
pub fn get(p: *const WSK_SOCKET) -> Result<Handle, NTSTATUS> {
    let slot = find(p).ok_or(STATUS_INVALID_HANDLE)?;
    let mut state = slot.state.load(Ordering::Relaxed);
    loop {
        if state & LIVE == 0 {
            return Err(STATUS_INVALID_HANDLE);
        }
        match slot.state.compare_exchange_weak(state, state + 1, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return Ok(Handle { slot }),
            Err(now) => state = now,
        }
    }
}

/// [`get`], also checking the category (`STATUS_INVALID_DEVICE_REQUEST` otherwise).
pub fn get_as(p: *const WSK_SOCKET, category: Category) -> Result<Handle, NTSTATUS> {
    let s = get(p)?;
    if s.socket.category() == category {
        Ok(s)
    } else {
        Err(STATUS_INVALID_DEVICE_REQUEST)
    }
}

/// Ends a live handle by pointer (a socket the client never received).
pub fn remove(p: *const WSK_SOCKET) {
    if let Ok(h) = get(p) {
        h.end();
    }
}

/// Handles still live (sockets not closed).
pub fn live() -> usize {
    arena().live
}
