//! The memory an operation reads from or writes into.
//!
//! On Windows that is a `WSK_BUF`: an MDL chain, an offset and a length. Here it is
//! anything that can show itself as contiguous regions: a `Vec<u8>` for Rust callers,
//! an MDL chain for C callers. The provider never holds on to a buffer after it
//! completes the operation that carried it.

use std::any::Any;
use std::sync::Arc;

/// Memory a send operation transmits.
pub trait SendBuffer: Send + 'static {
    /// Bytes to send.
    fn len(&self) -> usize;
    /// Whether there is nothing to send.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The contiguous bytes starting at `offset` (non-empty while `offset < len()`).
    fn region(&self, offset: usize) -> &[u8];
}

/// Memory a receive operation fills.
pub trait ReceiveBuffer: Send + 'static {
    /// Bytes the buffer can take.
    fn capacity(&self) -> usize;
    /// The contiguous writable bytes starting at `offset` (non-empty while `offset < capacity()`).
    fn region(&mut self, offset: usize) -> &mut [u8];
    /// Gives the buffer back to the caller that supplied it, once the operation completed.
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
}

impl SendBuffer for Vec<u8> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    fn region(&self, offset: usize) -> &[u8] {
        &self[offset.min(self.as_slice().len())..]
    }
}

impl SendBuffer for Box<[u8]> {
    fn len(&self) -> usize {
        self.as_ref().len()
    }
    fn region(&self, offset: usize) -> &[u8] {
        &self[offset.min(self.as_ref().len())..]
    }
}

impl SendBuffer for Arc<[u8]> {
    fn len(&self) -> usize {
        self.as_ref().len()
    }
    fn region(&self, offset: usize) -> &[u8] {
        &self[offset.min(self.as_ref().len())..]
    }
}

impl SendBuffer for &'static [u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }
    fn region(&self, offset: usize) -> &[u8] {
        &self[offset.min(<[u8]>::len(self))..]
    }
}

impl ReceiveBuffer for Vec<u8> {
    fn capacity(&self) -> usize {
        self.len()
    }
    fn region(&mut self, offset: usize) -> &mut [u8] {
        let len = self.len();
        &mut self[offset.min(len)..]
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

/// Copies `src` into `dst` at `offset`, across its regions; returns the bytes copied.
pub(crate) fn copy_into(dst: &mut dyn ReceiveBuffer, mut offset: usize, mut src: &[u8]) -> usize {
    let mut copied = 0;
    while !src.is_empty() && offset < dst.capacity() {
        let region = dst.region(offset);
        let n = region.len().min(src.len());
        if n == 0 {
            break;
        }
        region[..n].copy_from_slice(&src[..n]);
        src = &src[n..];
        offset += n;
        copied += n;
    }
    copied
}
