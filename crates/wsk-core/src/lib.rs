//! Sans-IO semantics of the Winsock Kernel (WSK) provider.
//!
//! Everything here is decided without sockets, threads or a clock, so the same rules
//! serve the host runtime (`wsk`), the C ABI and a simulated network alike:
//!
//! | module | what it holds |
//! |---|---|
//! | [`status`] | `NTSTATUS` with the Windows values, and the one table from host errors to it |
//! | [`addr`] | Windows `SOCKADDR_IN` / `SOCKADDR_IN6` (`AF_INET6` = 23) to and from `std::net` |
//! | [`buf`] | the `WSK_BUF` rules: an MDL chain, an offset into its first MDL, a length |
//! | [`irp`] | the operation lifecycle: complete exactly once, FIFO per kind, cancel by id |
//! | [`event`] | which callbacks a socket has enabled: dynamic, static, inherited |
//! | [`consts`] | flags, event bits, control codes and versions with their Windows values |
//! | [`option`] | standard socket options: Windows `(level, name, value)` decoded, with their rules |
//! | [`backend`] | the seam to a network: the traits the runtime drives, host or simulated |
//! | [`resolve`] | name resolution: `AI_*`/`NI_*` values, hints, results, resolver errors to NTSTATUS |
//! | [`cmsg`] | datagram control information: typed messages and the Windows `CMSGHDR` layout |
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod addr;
pub mod backend;
pub mod buf;
pub mod cmsg;
pub mod consts;
pub mod event;
pub mod irp;
pub mod option;
pub mod resolve;
pub mod status;
