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

pub mod abi;
pub mod guard;
pub mod kernel;
pub mod runner;
pub mod wsk;
