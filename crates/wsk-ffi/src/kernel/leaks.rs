//! What a driver left behind: kernel objects still alive, for `wsk run`'s report after
//! `DriverUnload`.

use super::{device, irp, lookaside, mdl, pool, thread, workitem};

/// Live pool blocks of one tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolTagLeak {
    /// The tag as allocated (`'kseW'` in C is 0x6B736557; see [`tag_to_string`]).
    pub tag: u32,
    /// Blocks not freed.
    pub blocks: usize,
    /// Their total size in bytes.
    pub bytes: usize,
}

/// Kernel objects still alive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelLeaks {
    /// IRPs from `IoAllocateIrp` not freed.
    pub irps: usize,
    /// MDLs from `IoAllocateMdl` not freed.
    pub mdls: usize,
    /// Work items from `IoAllocateWorkItem` not freed.
    pub work_items: usize,
    /// System threads from `PsCreateSystemThread` still running.
    pub threads: usize,
    /// Device objects from `IoCreateDevice` not deleted.
    pub devices: usize,
    /// Lookaside lists initialized and not deleted.
    pub lookaside_lists: usize,
    /// Pool blocks not freed, per tag, sorted by tag.
    pub pool: Vec<PoolTagLeak>,
}

/// What is alive now.
pub fn snapshot() -> KernelLeaks {
    KernelLeaks {
        irps: irp::live_irps(),
        mdls: mdl::live_mdls(),
        work_items: workitem::live_work_items(),
        threads: thread::running_system_threads(),
        devices: device::live_devices(),
        lookaside_lists: lookaside::live_lookaside_lists(),
        pool: pool::leaks_by_tag(),
    }
}

/// A pool tag as Windows tools show it: the four bytes in memory order (`'kseW'` prints
/// as `Wesk`), non-printable bytes as `.`.
pub fn tag_to_string(tag: u32) -> String {
    tag.to_le_bytes().iter().map(|&b| if (0x20..0x7F).contains(&b) { b as char } else { '.' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_print_in_memory_order() {
        assert_eq!(tag_to_string(0x6B73_6557), "Wesk");
        assert_eq!(tag_to_string(0x0000_4141), "AA..");
        assert_eq!(tag_to_string(u32::from_le_bytes(*b"None")), "None");
    }
}
