//! Sans-IO semantics of the Winsock Kernel (WSK) provider: statuses, addresses, buffers.
#![forbid(unsafe_code)]

pub mod addr;
pub mod backend;
pub mod buf;
pub mod consts;
pub mod event;
pub mod irp;
pub mod status;
