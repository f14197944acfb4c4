//! # libwsk — the WSK provider and the kernel routines WSK clients use, as a C library
//!
//! Code written against Windows' `wsk.h` compiles unchanged against `include/` and links
//! with this library (`libwsk.so` / `libwsk.a`), or runs under `wsk run DRIVER.so`.
//!
//! - [`abi`]: the C types, member for member (checked against `include/` by a test).
//! - [`kernel`]: the kernel subset: IRPs, MDLs, dispatcher objects and waits, spin locks,
//!   pool, lookaside lists, threads, work items, rundown protection, S-lists, Rtl.
//! - [`wsk`]: WskRegister and the provider dispatch tables over the Rust provider.
//! - [`runner`]: what `wsk run` calls: load a driver, run it, unload it, report leaks.
#![allow(clippy::missing_safety_doc)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod abi;
pub mod guard;
pub mod kernel;
pub mod runner;
pub mod status;
pub mod wsk;

/// Diagnostics go to stderr through `tracing`: contract violations a client commits
/// (`error`) and doubtful calls (`warn`) by default; `WSK_LOG` takes a `tracing` filter
/// (`WSK_LOG=debug`, `WSK_LOG=off`). Installed when the library is loaded, before any
/// client code runs; a process that installed its own subscriber first keeps it.
extern "C" fn init_logging() {
    let filter = std::env::var("WSK_LOG").unwrap_or_else(|_| "warn".into());
    let filter =
        tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Runs [`init_logging`] when libwsk is loaded (ELF `.init_array`).
#[used]
#[link_section = ".init_array"]
static INIT_LOGGING: extern "C" fn() = init_logging;
