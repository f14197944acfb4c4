//! The kernel subset WSK clients use, exported with Windows' names and semantics.
//!
//! One file per concept:
//!
//! - [`irp`]: `IoAllocateIrp`, `IoInitializeIrp`, `IoReuseIrp`, `IoFreeIrp`,
//!   `IofCompleteRequest` (Windows' completion walk), `IoCancelIrp` and the cancel spin lock.
//! - [`mdl`]: `IoAllocateMdl`, `IoFreeMdl`, `IoBuildPartialMdl`, the `Mm…` MDL routines.
//! - [`dispatcher`]: `KEVENT`s, waits on events and thread objects, `KeDelayExecutionThread`,
//!   the clocks.
//! - [`spinlock`]: the per-thread IRQL and spin locks (spin briefly, then sleep).
//! - [`pool`]: `ExAllocatePool*` / `ExFreePool*` with per-tag accounting.
//! - [`lookaside`]: the three lookaside list flavours.
//! - [`thread`]: system threads, thread and process objects, handles, `Ob` references.
//! - [`workitem`]: `IoAllocateWorkItem` / `IoQueueWorkItem` on a small worker pool.
//! - [`device`]: `IoCreateDevice` / `IoDeleteDevice`.
//! - [`rundown`]: rundown protection.
//! - [`slist`]: interlocked singly linked lists.
//! - [`rtl`]: strings, `RtlCompareMemory`, the IPv4/IPv6 string conversions.
//! - [`debug`]: the `DbgPrint` sink and `KeBugCheckEx`.
//! - [`leaks`]: what a driver left behind, for `wsk run`'s report after `DriverUnload`.
//!
//! # Where Windows would bug-check
//!
//! Windows stops the machine on many caller errors (freeing an unknown pointer, completing
//! an IRP twice, a NULL argument). libwsk logs an error instead (`tracing::error!` and a
//! line on stderr starting with `libwsk: error:`), does nothing or returns a failure
//! status, and keeps the process running; each routine documents what it does.
//! `KeBugCheckEx` itself aborts the process.
//!
//! Every export goes through the panic boundary of [`crate::guard`].

// Exports keep Windows' names for functions, parameters and data symbols.
#![allow(non_snake_case, non_upper_case_globals)]

/// Logs a caller error: `tracing::error!` and one line on stderr.
macro_rules! kerror {
    ($($arg:tt)*) => {{
        let msg = format!($($arg)*);
        tracing::error!("{}", msg);
        eprintln!("libwsk: error: {}", msg);
    }};
}

/// Logs a caller mistake that libwsk tolerates: `tracing::warn!` and one line on stderr.
macro_rules! kwarn {
    ($($arg:tt)*) => {{
        let msg = format!($($arg)*);
        tracing::warn!("{}", msg);
        eprintln!("libwsk: warning: {}", msg);
    }};
}

pub mod debug;
pub mod device;
pub mod dispatcher;
pub mod irp;
pub mod leaks;
pub mod lookaside;
pub mod mdl;
pub mod pool;
pub mod rtl;
pub mod rundown;
pub mod slist;
pub mod spinlock;
pub(crate) mod sync;
pub mod thread;
pub mod workitem;

pub use sync::SyncPtr;
