//! The WSK provider as a C library: WskRegister and the provider dispatch tables, over
//! the Rust provider (`wsk` crate).
//!
//! - [`registration`]: WskRegister … WskDeregister, `PWSK_CLIENT`.
//! - [`provider`]: `WSK_PROVIDER_DISPATCH` (WskSocket, WskSocketConnect).
//! - [`client_control`]: WskControlClient's codes; [`security`]: cached security descriptors.
//! - [`resolve`]: WskGetAddressInfo, WskFreeAddressInfo, WskGetNameInfo.
//! - [`basic`], [`listen`], [`connection`], [`datagram`]: the socket dispatch tables.
//! - [`stream`]: stream sockets (WskListen, and the role the shared functions act on).
//! - [`conditional`]: conditional accept (SO_CONDITIONAL_ACCEPT, WskInspectComplete…).
//! - [`control`]: WskControlSocket's options and IOCTLs.
//! - [`handle`]: `PWSK_SOCKET` handles, validated on every call.
//! - [`irp`]: completing the client's IRP exactly once, inline or pending; cancellation.
//! - [`buffers`]: `WSK_BUF` MDL chains and SOCKADDRs.
//! - [`events`]: client dispatch tables (event callbacks), indication chains, WskRelease.
//! - [`datagram_events`]: `WSK_CLIENT_DATAGRAM_DISPATCH` (WskReceiveFromEvent), datagram
//!   indication chains.
//! - [`indications`]: indication elements handed to clients and `WskRelease` of them.
//! - [`tables`]: the static dispatch tables.
#![allow(non_snake_case, clippy::too_many_arguments)]

pub mod basic;
pub mod buffers;
pub mod client_control;
pub mod conditional;
pub mod connection;
pub mod control;
pub mod datagram;
pub mod datagram_events;
pub mod events;
pub mod handle;
pub mod indications;
pub mod irp;
pub mod listen;
pub mod provider;
pub mod registration;
pub mod resolve;
pub mod security;
pub mod stream;
pub mod tables;

use wsk_api::NtStatus;

use crate::abi::{IRP, NTSTATUS, WSK_SOCKET};
use crate::status::{STATUS_INVALID_PARAMETER, STATUS_SUCCESS};
use handle::{Category, Handle};
use irp::Irp;

/// What `wsk run` reports of the WSK side when a driver unloads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WskLeaks {
    /// Registrations (`WskRegister`) never deregistered.
    pub registrations: usize,
    /// `WskCaptureProviderNPI` never released.
    pub captures: usize,
    /// Sockets never closed.
    pub sockets: usize,
    /// Receive indications retained (`STATUS_PENDING`) and never released with `WskRelease`.
    pub indications: usize,
    /// Datagram indications retained (`STATUS_PENDING` from `WskReceiveFromEvent`) and never
    /// released with `WskRelease`.
    pub datagram_indications: usize,
    /// Result lists of `WskGetAddressInfo` never freed with `WskFreeAddressInfo`.
    pub address_infos: usize,
    /// References to cached security descriptors (`WSK_CACHE_SD`) never released (`WSK_RELEASE_SD`).
    pub security_descriptors: usize,
}

/// The WSK objects the process still holds.
pub fn leaks() -> WskLeaks {
    let (registrations, captures) = registration::outstanding();
    WskLeaks {
        registrations,
        captures,
        sockets: handle::live(),
        indications: events::retained_count(),
        datagram_indications: datagram_events::retained_count(),
        address_infos: resolve::outstanding_lists(),
        security_descriptors: security::outstanding(),
    }
}

/// The NTSTATUS of an operation's result.
pub(crate) fn status_of<T>(r: &Result<T, NtStatus>) -> NTSTATUS {
    match r {
        Ok(_) => STATUS_SUCCESS,
        Err(e) => e.0,
    }
}

/// Checks the IRP (a required one: NULL is `STATUS_INVALID_PARAMETER`, nothing completed).
#[inline]
pub(crate) unsafe fn with_irp(irp: *mut IRP, f: impl FnOnce(Irp) -> NTSTATUS) -> NTSTATUS {
    // SAFETY: the caller upholds this function's contract (see its docs).
    unsafe {
        match Irp::check(irp) {
            Some(irp) => f(irp),
            None => STATUS_INVALID_PARAMETER,
        }
    }
}

/// Looks the socket up for a function of `category`'s table; on failure completes the IRP.
#[inline]
pub(crate) fn socket_for(irp: Irp, s: *mut WSK_SOCKET, category: Category) -> Result<(Irp, Handle), NTSTATUS> {
    match handle::get_as(s, category) {
        Ok(sock) => Ok((irp, sock)),
        Err(e) => Err(irp.fail(e)),
    }
}
