//! Receive buffers owned by the provider, and the indications that point into them.
//!
//! Data taken from the host socket for `WskReceiveEvent` lands in page-aligned pooled
//! buffers (an unaligned copy target halves loopback throughput on some CPUs). Each
//! buffer is owned by exactly one [`IndicationBuffer`]; while it is alive its capacity
//! is charged to the socket's [`Ledger`]. Past the socket's receive backlog limit the
//! provider stops reading the host socket, so TCP flow control holds the peer back and
//! provider memory stays bounded. Dropping a buffer — the client accepted the data, or
//! released a retained indication — returns it to the pool and may resume reading.
//! A small datagram is moved out of its block into an allocation of its own size and
//! charged that size plus its bookkeeping, so retained datagrams are accounted at what
//! they hold rather than at 64 KiB each.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use bytemuck::{Pod, Zeroable};

use crate::provider::ProviderInner;

/// Size of one receive buffer.
pub const BUFFER_SIZE: usize = 64 * 1024;
const PAGE: usize = 4096;
/// Buffers kept for reuse by the pool; beyond that freed buffers go back to the allocator.
const POOL_KEEP: usize = 256;

#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C, align(4096))]
struct Page([u8; PAGE]);

/// One page-aligned block of `BUFFER_SIZE` bytes.
struct Block(Box<[Page]>);

impl Block {
    fn new() -> Self {
        Block(vec![Page::zeroed(); BUFFER_SIZE / PAGE].into_boxed_slice())
    }
    fn bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.0)
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        bytemuck::cast_slice_mut(&mut self.0)
    }
}

static POOL: Mutex<Vec<Block>> = Mutex::new(Vec::new());

fn take_block() -> Block {
    POOL.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_else(Block::new)
}

fn return_block(block: Block) {
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    if pool.len() < POOL_KEEP {
        pool.push(block);
    }
}

/// Accounts the receive memory one socket holds: data read from the host that the
/// client has not taken yet, and indications the client retains.
pub struct Ledger {
    held: AtomicUsize,
    high_water: AtomicUsize,
    limit: AtomicUsize,
    provider: Weak<ProviderInner>,
    token: usize,
}

impl Ledger {
    pub(crate) fn new(provider: Weak<ProviderInner>, token: usize, limit: usize) -> Arc<Self> {
        Arc::new(Ledger {
            held: AtomicUsize::new(0),
            high_water: AtomicUsize::new(0),
            limit: AtomicUsize::new(limit),
            provider,
            token,
        })
    }

    /// Bytes of receive buffers charged to the socket now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    /// The most bytes ever charged at once.
    pub fn high_water(&self) -> usize {
        self.high_water.load(Ordering::Acquire)
    }

    /// The receive backlog limit.
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Acquire)
    }

    pub(crate) fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Release);
    }

    /// Whether another buffer may be filled from the host.
    pub(crate) fn has_room(&self) -> bool {
        self.held() < self.limit()
    }

    /// Whether the provider is short of buffers (`WSK_FLAG_RELEASE_ASAP`): over half the limit held.
    pub(crate) fn short(&self) -> bool {
        self.held() * 2 > self.limit()
    }

    pub(crate) fn allocate(self: &Arc<Self>) -> IndicationBuffer {
        self.charge(BUFFER_SIZE);
        IndicationBuffer {
            block: Some(Storage::Pooled(take_block())),
            start: 0,
            len: 0,
            charge: BUFFER_SIZE,
            ledger: Arc::clone(self),
        }
    }

    fn charge(&self, amount: usize) {
        let now = self.held.fetch_add(amount, Ordering::AcqRel) + amount;
        self.high_water.fetch_max(now, Ordering::AcqRel);
    }

    fn release(&self, amount: usize) {
        let before = self.held.fetch_sub(amount, Ordering::AcqRel);
        if before >= self.limit() && before - amount < self.limit() {
            // Crossing back under the limit: the socket may read from the host again.
            if let Some(provider) = self.provider.upgrade() {
                provider.schedule(self.token);
            }
        }
    }
}

/// Where the bytes of an [`IndicationBuffer`] live.
enum Storage {
    /// A pooled block, charged `BUFFER_SIZE`.
    Pooled(Block),
    /// An allocation of exactly the bytes held (a small datagram), charged its size plus
    /// the bookkeeping that goes with it.
    Exact(Box<[u8]>),
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Pooled(b) => b.bytes(),
            Storage::Exact(b) => b,
        }
    }
}

/// One element of an indication chain: a run of received bytes in a provider buffer.
///
/// Dropping it gives the buffer back to the provider (this is `WskRelease` for one
/// element of a retained chain).
pub struct IndicationBuffer {
    block: Option<Storage>,
    start: usize,
    len: usize,
    /// What this buffer costs the ledger.
    charge: usize,
    ledger: Arc<Ledger>,
}

impl IndicationBuffer {
    /// The received bytes.
    pub fn data(&self) -> &[u8] {
        match &self.block {
            Some(b) => &b.bytes()[self.start..self.start + self.len],
            None => &[],
        }
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole block, for the host to read into.
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        match &mut self.block {
            Some(Storage::Pooled(b)) => b.bytes_mut(),
            Some(Storage::Exact(b)) => b,
            None => &mut [],
        }
    }

    /// Moves the bytes held into an allocation of their own size when that is at most
    /// `max`, so a small datagram does not keep (and is not charged) a whole pooled
    /// block; it is charged its length plus `overhead` instead.
    pub(crate) fn compact(self, max: usize, overhead: usize) -> IndicationBuffer {
        if self.len > max || !matches!(self.block, Some(Storage::Pooled(_))) {
            return self;
        }
        let bytes: Box<[u8]> = self.data().into();
        let ledger = Arc::clone(&self.ledger);
        // The block goes back first, so the ledger never counts both.
        drop(self);
        let len = bytes.len();
        ledger.charge(len + overhead);
        IndicationBuffer { block: Some(Storage::Exact(bytes)), start: 0, len, charge: len + overhead, ledger }
    }

    pub(crate) fn set_filled(&mut self, n: usize) {
        self.start = 0;
        self.len = n.min(BUFFER_SIZE);
    }

    /// Drops the first `n` bytes (they were consumed).
    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        self.start += n;
        self.len -= n;
    }
}

impl fmt::Debug for IndicationBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IndicationBuffer").field("len", &self.len).finish()
    }
}

impl Drop for IndicationBuffer {
    fn drop(&mut self) {
        if let Some(block) = self.block.take() {
            if let Storage::Pooled(block) = block {
                return_block(block);
            }
            self.ledger.release(self.charge);
        }
    }
}

/// The data of one `WskReceiveEvent`: a chain of buffers, `BytesIndicated` in all.
///
/// The handler reads it during the callback. To keep it beyond the callback (the
/// `STATUS_PENDING` outcome) it calls [`DataIndication::retain`] and returns
/// [`ReceiveOutcome::Retained`](crate::ReceiveOutcome::Retained).
#[derive(Debug)]
pub struct DataIndication {
    chain: Vec<IndicationBuffer>,
    indicated: usize,
}

impl DataIndication {
    pub(crate) fn new(chain: Vec<IndicationBuffer>) -> Self {
        let indicated = chain.iter().map(IndicationBuffer::len).sum();
        DataIndication { chain, indicated }
    }

    /// `BytesIndicated`: the bytes in the chain when it was indicated.
    pub fn bytes_indicated(&self) -> usize {
        self.indicated
    }

    /// The chain's buffers, in order (empty once retained).
    pub fn buffers(&self) -> &[IndicationBuffer] {
        &self.chain
    }

    /// Iterates over the bytes of each element, in order.
    pub fn segments(&self) -> impl Iterator<Item = &[u8]> {
        self.chain.iter().map(IndicationBuffer::data)
    }

    /// Appends the first `n` bytes of the chain to `out` (all of them when `n` is larger).
    pub fn copy_prefix_to(&self, n: usize, out: &mut Vec<u8>) {
        let mut left = n;
        for seg in self.segments() {
            if left == 0 {
                break;
            }
            let take = seg.len().min(left);
            out.extend_from_slice(&seg[..take]);
            left -= take;
        }
    }

    /// Takes ownership of the chain beyond the callback (the `STATUS_PENDING` outcome).
    /// The returned value gives the buffers back when dropped, whole or piece by piece.
    pub fn retain(&mut self) -> RetainedIndication {
        RetainedIndication { chain: std::mem::take(&mut self.chain) }
    }

    pub(crate) fn into_chain(self) -> Vec<IndicationBuffer> {
        self.chain
    }
}

/// A receive indication the client kept (`STATUS_PENDING`); dropping it is `WskRelease`.
///
/// It can be split: [`RetainedIndication::into_buffers`] hands out each element so they
/// can be released one by one, in any order, from any thread.
#[derive(Debug, Default)]
pub struct RetainedIndication {
    chain: Vec<IndicationBuffer>,
}

impl RetainedIndication {
    /// The buffers still retained, in order.
    pub fn buffers(&self) -> &[IndicationBuffer] {
        &self.chain
    }

    /// Total bytes still retained.
    pub fn len(&self) -> usize {
        self.chain.iter().map(IndicationBuffer::len).sum()
    }

    /// Whether nothing is retained.
    pub fn is_empty(&self) -> bool {
        self.chain.is_empty()
    }

    /// Splits off the elements from `at` on into a second retained indication.
    pub fn split_off(&mut self, at: usize) -> RetainedIndication {
        RetainedIndication { chain: self.chain.split_off(at.min(self.chain.len())) }
    }

    /// Hands out each element separately.
    pub fn into_buffers(self) -> Vec<IndicationBuffer> {
        self.chain
    }

    /// Releases everything now (the same as dropping it).
    pub fn release(self) {}
}

/// An indication buffer can be sent as it is: a zero-copy echo sends what it retained,
/// and the buffer returns to the provider when the send completes.
impl crate::buffer::SendBuffer for IndicationBuffer {
    fn len(&self) -> usize {
        self.len
    }
    fn region(&self, offset: usize) -> &[u8] {
        &self.data()[offset.min(self.len)..]
    }
}

/// A retained chain can be sent as it is (see [`IndicationBuffer`]'s `SendBuffer`).
impl crate::buffer::SendBuffer for RetainedIndication {
    fn len(&self) -> usize {
        RetainedIndication::len(self)
    }
    fn region(&self, mut offset: usize) -> &[u8] {
        for buf in &self.chain {
            if offset < buf.len() {
                return &buf.data()[offset..];
            }
            offset -= buf.len();
        }
        &[]
    }
}
