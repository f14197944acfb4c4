//! Building blocks shared by the kernel modules: futex calls, a lock that can be released
//! from another function than the one that took it, wait deadlines in Windows' time
//! formats, and a sharded registry of live allocations keyed by address.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Locks a mutex, ignoring poisoning: a panic in another holder (caught at libwsk's FFI
/// boundary) must not make every later call fail; the data stays consistent because each
/// holder finishes its update before anything can panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ----- futex -----

/// Why [`futex_wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Woken, interrupted, or the word no longer held the expected value.
    Woken,
    /// The timeout passed.
    TimedOut,
}

/// Sleeps while the 32-bit word at `word` holds `expected`, at most `timeout` (`None`:
/// no limit). Spurious returns are possible: callers re-check their condition.
///
/// # Safety
/// `word` must point to a live, 4-byte aligned 32-bit word.
pub(crate) unsafe fn futex_wait(word: *const u32, expected: u32, timeout: Option<Duration>) -> Wake {
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: FUTEX_WAIT only reads the word (the caller guarantees it is valid) and the
    // timespec, which lives on this stack frame for the duration of the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word,
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            ts_ptr,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ETIMEDOUT) {
        Wake::TimedOut
    } else {
        Wake::Woken
    }
}

/// Wakes up to `n` threads sleeping in [`futex_wait`] on `word`.
///
/// The kernel only uses the address as a key (private futex): calling this on an address
/// whose memory was freed or reused in the meantime is harmless (at worst a spurious
/// wake-up of another futex user, which every futex user tolerates).
pub(crate) fn futex_wake(word: *const u32, n: i32) {
    // SAFETY: FUTEX_WAKE does not access the memory at `word`.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word,
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            n,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

// ----- a futex lock usable on any 32-bit word -----

/// How many times a contended acquire re-checks the lock before it sleeps.
const SPIN_LIMIT: u32 = 100;

/// Takes the lock whose state is `word` (0 free, 1 held, 2 held with sleepers): a short
/// spin, then sleep on the futex. Never pure spinning: a preempted holder costs a sleep.
#[inline]
pub(crate) fn lock_word(word: &AtomicU32) {
    if word.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed).is_err() {
        lock_word_slow(word);
    }
}

#[cold]
fn lock_word_slow(word: &AtomicU32) {
    for _ in 0..SPIN_LIMIT {
        std::hint::spin_loop();
        if word.load(Ordering::Relaxed) == 0
            && word.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed).is_ok()
        {
            return;
        }
    }
    // From here on the lock is marked "held with sleepers" (2), so the holder's release wakes one.
    while word.swap(2, Ordering::Acquire) != 0 {
        // SAFETY: `word` is a live AtomicU32 (the reference guarantees it).
        unsafe { futex_wait(word.as_ptr(), 2, None) };
    }
}

/// Tries once to take the lock of [`lock_word`].
#[inline]
pub(crate) fn try_lock_word(word: &AtomicU32) -> bool {
    word.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed).is_ok()
}

/// Releases the lock of [`lock_word`]; wakes one sleeper if there may be one.
#[inline]
pub(crate) fn unlock_word(word: &AtomicU32) {
    if word.swap(0, Ordering::Release) == 2 {
        futex_wake(word.as_ptr(), 1);
    }
}

/// A process-wide lock that is not tied to a scope: taken in one function, released in
/// another (the cancel spin lock, the dispatcher lock).
pub(crate) struct RawLock(AtomicU32);

impl RawLock {
    pub(crate) const fn new() -> RawLock {
        RawLock(AtomicU32::new(0))
    }
    #[inline]
    pub(crate) fn lock(&self) {
        lock_word(&self.0);
    }
    #[inline]
    pub(crate) fn unlock(&self) {
        unlock_word(&self.0);
    }
}

// ----- time -----

/// 100 ns intervals between 1601-01-01 and 1970-01-01 (UTC).
const EPOCH_1601_TO_1970: i64 = 11_644_473_600 * 10_000_000;

fn clock(id: libc::clockid_t) -> libc::timespec {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into the local.
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts
}

/// Now, as Windows system time: 100 ns units since 1601-01-01 UTC.
pub(crate) fn system_time_100ns() -> i64 {
    let ts = clock(libc::CLOCK_REALTIME);
    EPOCH_1601_TO_1970 + ts.tv_sec * 10_000_000 + ts.tv_nsec / 100
}

/// Time since boot in 100 ns units, including time suspended (Windows' interrupt time).
pub(crate) fn interrupt_time_100ns() -> u64 {
    let ts = clock(libc::CLOCK_BOOTTIME);
    ts.tv_sec as u64 * 10_000_000 + ts.tv_nsec as u64 / 100
}

/// A wait limit given as Windows gives it (`PLARGE_INTEGER Timeout`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Deadline {
    /// `NULL`: wait forever.
    Never,
    /// `0`: do not wait at all.
    Poll,
    /// Negative: relative, measured on the monotonic clock.
    At(Instant),
    /// Positive: an absolute system time (100 ns since 1601), followed on the wall clock.
    AtSystemTime(i64),
}

impl Deadline {
    /// Reads a Windows timeout.
    ///
    /// # Safety
    /// `timeout` is NULL or points to a readable `i64`.
    pub(crate) unsafe fn from_timeout(timeout: *const i64) -> Deadline {
        if timeout.is_null() {
            return Deadline::Never;
        }
        // SAFETY: non-NULL, readable per the caller.
        let t = unsafe { timeout.read_unaligned() };
        match t {
            0 => Deadline::Poll,
            t if t < 0 => {
                let d = Duration::from_nanos(t.unsigned_abs().saturating_mul(100));
                Instant::now().checked_add(d).map_or(Deadline::Never, Deadline::At)
            }
            t => Deadline::AtSystemTime(t),
        }
    }

    /// Time left: `None` for no limit, `Some(ZERO)` once passed.
    pub(crate) fn remaining(&self) -> Option<Duration> {
        match *self {
            Deadline::Never => None,
            Deadline::Poll => Some(Duration::ZERO),
            Deadline::At(at) => Some(at.saturating_duration_since(Instant::now())),
            Deadline::AtSystemTime(t) => {
                let left = t.saturating_sub(system_time_100ns());
                Some(if left <= 0 { Duration::ZERO } else { Duration::from_nanos(left as u64 * 100) })
            }
        }
    }

    pub(crate) fn is_poll(&self) -> bool {
        matches!(self, Deadline::Poll)
    }
}

// ----- registries of live objects -----

/// A cheap hasher for addresses (multiplicative; addresses are already well spread).
#[derive(Default)]
pub(crate) struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = ((n as u64) ^ (n as u64 >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type AddrMap<V> = HashMap<usize, V, BuildHasherDefault<AddrHasher>>;

const SHARDS: usize = 64;

/// Live objects by address, in 64 independently locked shards: threads allocating and
/// freeing at the same time rarely meet on a lock.
pub(crate) struct Registry<V> {
    shards: Box<[Mutex<AddrMap<V>>]>,
}

impl<V> Registry<V> {
    pub(crate) fn new() -> Registry<V> {
        Registry { shards: (0..SHARDS).map(|_| Mutex::new(AddrMap::default())).collect() }
    }

    fn shard(&self, addr: usize) -> MutexGuard<'_, AddrMap<V>> {
        let i = ((addr as u64 >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize % SHARDS;
        lock(&self.shards[i])
    }

    pub(crate) fn insert(&self, addr: usize, v: V) -> Option<V> {
        self.shard(addr).insert(addr, v)
    }

    pub(crate) fn remove(&self, addr: usize) -> Option<V> {
        self.shard(addr).remove(&addr)
    }

    pub(crate) fn contains(&self, addr: usize) -> bool {
        self.shard(addr).contains_key(&addr)
    }

    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Visits every entry (shard by shard; not an atomic snapshot of all shards).
    pub(crate) fn for_each(&self, mut f: impl FnMut(usize, &V)) {
        for s in self.shards.iter() {
            for (k, v) in lock(s).iter() {
                f(*k, v);
            }
        }
    }
}

/// A raw pointer that may sit in a `static` (the pointee is immutable or synchronized).
#[repr(transparent)]
pub struct SyncPtr<T>(pub *const T);

// SAFETY: used only for pointers to immutable statics (object types) or to objects whose
// mutable state is accessed with atomics / under locks.
unsafe impl<T> Sync for SyncPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Send for SyncPtr<T> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_relative_and_poll() {
        let t: i64 = -10_000; // 1 ms
                              // SAFETY: pointer to a local i64.
        let d = unsafe { Deadline::from_timeout(&t) };
        assert!(d.remaining().unwrap() <= Duration::from_millis(1));
        let z: i64 = 0;
        // SAFETY: pointer to a local i64.
        assert!(unsafe { Deadline::from_timeout(&z) }.is_poll());
        // SAFETY: NULL is allowed.
        assert!(unsafe { Deadline::from_timeout(std::ptr::null()) }.remaining().is_none());
    }

    #[test]
    fn system_time_is_after_2020() {
        // 2020-01-01 in 100 ns since 1601.
        assert!(system_time_100ns() > 132_223_104_000_000_000);
    }

    #[test]
    fn lock_word_excludes() {
        use std::sync::Arc;
        let lock = Arc::new(AtomicU32::new(0));
        let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let (lock, counter) = (lock.clone(), counter.clone());
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        lock_word(&lock);
                        let v = counter.load(Ordering::Relaxed);
                        counter.store(v + 1, Ordering::Relaxed);
                        unlock_word(&lock);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(counter.load(Ordering::Relaxed), 40_000);
    }
}
