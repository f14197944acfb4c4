//! Client memory the provider reads and writes: `WSK_BUF` over MDL chains, SOCKADDRs.
//!
//! A `WSK_BUF` is validated once, when the call starts (Windows does not check and
//! crashes on a `Length` longer than the chain; here it is `STATUS_INVALID_PARAMETER`),
//! and turned into a list of contiguous regions. The client keeps the memory valid until
//! the IRP completes (the WSK rule); the provider drops the regions before completing.

use std::any::Any;
use std::net::SocketAddr;

use wsk_api::{ReceiveBuffer, SendBuffer};
use wsk_core::addr::{self, AddressFamily};

use crate::abi::{MDL, NTSTATUS, SOCKADDR, WSK_BUF};
use crate::kernel::mdl::mdl_address;
use crate::status::{STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED};

/// Longest MDL chain walked (a longer one is taken for a cycle).
const MAX_CHAIN: usize = 1 << 20;

/// The contiguous pieces of a `WSK_BUF`'s byte range.
pub struct Regions {
    /// The first region (address, length); length 0 when the buffer is empty.
    first: (usize, usize),
    /// Any further regions.
    rest: Vec<(usize, usize)>,
    total: usize,
}

// SAFETY: the regions point into client memory that stays valid (and is not touched by
// the client) until the operation completes; the provider accesses it from one thread
// at a time.
unsafe impl Send for Regions {}

impl Regions {
    /// Validates `buf` and maps its range.
    ///
    /// # Safety
    /// `buf` is NULL or points to a `WSK_BUF` whose MDLs are valid for the call.
    pub unsafe fn of(buf: *const WSK_BUF) -> Result<Regions, NTSTATUS> {
        // SAFETY: the caller upholds this function's contract (see its docs).
        unsafe {
            if buf.is_null() {
                return Err(STATUS_INVALID_PARAMETER);
            }
            let b = std::ptr::read(buf);
            Regions::from_parts(b.Mdl, b.Offset as usize, b.Length)
        }
    }

    /// Validates `{ mdl, offset, length }` and maps its range.
    ///
    /// # Safety
    /// As for [`Regions::of`].
    pub unsafe fn from_parts(mdl: *mut MDL, offset: usize, length: usize) -> Result<Regions, NTSTATUS> {
        // SAFETY: the caller upholds this function's contract (see its docs).
        unsafe {
            let mut out = Regions { first: (0, 0), rest: Vec::new(), total: length };
            if mdl.is_null() {
                return if length == 0 && offset == 0 { Ok(out) } else { Err(STATUS_INVALID_PARAMETER) };
            }
            let first_count = (*mdl).ByteCount as usize;
            let offset_ok = if length == 0 {
                offset <= first_count
            } else {
                offset < first_count || (first_count == 0 && offset == 0)
            };
            if !offset_ok {
                return Err(STATUS_INVALID_PARAMETER);
            }
            let mut remaining = length;
            let mut off = offset;
            let mut m = mdl;
            let mut walked = 0;
            let mut have_first = false;
            while remaining > 0 {
                if m.is_null() || walked == MAX_CHAIN {
                    return Err(STATUS_INVALID_PARAMETER);
                }
                walked += 1;
                let count = (*m).ByteCount as usize;
                let take = count.saturating_sub(off).min(remaining);
                if take > 0 {
                    let region = ((mdl_address(m) as usize).wrapping_add(off), take);
                    if have_first {
                        out.rest.push(region);
                    } else {
                        out.first = region;
                        have_first = true;
                    }
                    remaining -= take;
                }
                off = 0;
                m = (*m).Next;
            }
            Ok(out)
        }
    }

    /// Bytes in the range.
    pub fn total(&self) -> usize {
        self.total
    }

    #[inline]
    fn locate(&self, offset: usize) -> Option<(usize, usize)> {
        let (addr, len) = self.first;
        if offset < len {
            return Some((addr + offset, len - offset));
        }
        self.locate_rest(offset - len)
    }

    fn locate_rest(&self, mut offset: usize) -> Option<(usize, usize)> {
        for &(addr, len) in &self.rest {
            if offset < len {
                return Some((addr + offset, len - offset));
            }
            offset -= len;
        }
        None
    }
}

impl SendBuffer for Regions {
    fn len(&self) -> usize {
        self.total
    }

    fn region(&self, offset: usize) -> &[u8] {
        match self.locate(offset) {
            // SAFETY: inside the validated range of client memory (see `Regions`).
            Some((addr, len)) => unsafe { std::slice::from_raw_parts(addr as *const u8, len) },
            None => &[],
        }
    }
}

impl ReceiveBuffer for Regions {
    fn capacity(&self) -> usize {
        self.total
    }

    fn region(&mut self, offset: usize) -> &mut [u8] {
        match self.locate(offset) {
            // SAFETY: as above; the client does not touch the buffer while the receive runs.
            Some((addr, len)) => unsafe { std::slice::from_raw_parts_mut(addr as *mut u8, len) },
            None => &mut [],
        }
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

/// Reads a Windows SOCKADDR (`SOCKADDR_IN` or `SOCKADDR_IN6`, by its family).
///
/// # Safety
/// `p` is NULL or points to at least the structure its family names.
pub unsafe fn read_sockaddr(p: *const SOCKADDR) -> Result<SocketAddr, NTSTATUS> {
    // SAFETY: the caller upholds this function's contract (see its docs).
    unsafe {
        if p.is_null() {
            return Err(STATUS_INVALID_PARAMETER);
        }
        let family = std::ptr::read_unaligned(p as *const u16);
        let family = AddressFamily::from_windows(family).map_err(|_| STATUS_NOT_SUPPORTED)?;
        let bytes = std::slice::from_raw_parts(p as *const u8, family.sockaddr_len());
        addr::decode(bytes).map_err(|e| e.0)
    }
}

/// The address argument of WskBind / WskConnect / WskConnectEx, with their reserved
/// `Flags` (which must be 0): `STATUS_INVALID_PARAMETER` for flags, else as [`read_sockaddr`].
///
/// # Safety
/// As for [`read_sockaddr`].
pub unsafe fn address_arg(flags: u32, p: *const SOCKADDR) -> Result<SocketAddr, NTSTATUS> {
    if flags != 0 {
        return Err(STATUS_INVALID_PARAMETER);
    }
    // SAFETY: per the caller.
    unsafe { read_sockaddr(p) }
}

/// Writes `addr` as a Windows SOCKADDR at `p` (NULL: nothing written).
///
/// # Safety
/// `p` is NULL or points to memory large enough for the address's family (a
/// `SOCKADDR_IN6` for IPv6).
pub unsafe fn write_sockaddr(p: *mut SOCKADDR, addr: &SocketAddr) {
    // SAFETY: the caller upholds this function's contract (see its docs).
    unsafe {
        if p.is_null() {
            return;
        }
        let (bytes, len) = addr::to_bytes(addr);
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), p as *mut u8, len);
    }
}
