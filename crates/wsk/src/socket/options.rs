//! `WskControlSocket` with a standard option (`WskSetOption` / `WskGetOption`): the rules
//! every category shares, then the category's own host socket.
//!
//! Rules (reference §3.4): the option must fit the socket's category and address family;
//! `SO_REUSEADDR`, `SO_EXCLUSIVEADDRUSE` and `IPV6_V6ONLY` only before bind
//! (`STATUS_INVALID_DEVICE_STATE` after); `SO_EXCLUSIVEADDRUSE` and `SO_REUSEADDR` exclude
//! each other (`STATUS_INVALID_PARAMETER`, as Winsock's `WSAEINVAL`). Linux has no exclusive
//! mode: a socket without `SO_REUSEADDR` already refuses a second bind of its address, so
//! the provider only keeps the flag and enforces the exclusion.

use std::sync::Arc;

use wsk_core::backend::{ListenOptions, OptionSocket};
use wsk_core::event::Category;
use wsk_core::option::{Membership, OptName, SockOpt};
use wsk_core::status::NtStatus;

use super::{Kind, SocketShared, SocketState};
use crate::op::Result;

/// What the shared rules need to know of a socket's state.
pub(crate) struct OptionContext {
    pub(crate) v6: bool,
    pub(crate) bound: bool,
    pub(crate) tcp: bool,
}

impl Kind {
    pub(crate) fn option_context(&self) -> OptionContext {
        match self {
            Kind::Basic(b) => b.option_context(),
            Kind::Stream(s) => s.option_context(),
            Kind::Listen(l) => l.option_context(),
            Kind::Connection(c) => c.option_context(),
            Kind::Datagram(d) => d.option_context(),
        }
    }
}

fn check(category: Category, ctx: &OptionContext, name: OptName) -> Result<()> {
    if !name.applies_to(category, ctx.tcp) {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    if name.family().is_some_and(|v6| v6 != ctx.v6) {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    Ok(())
}

impl SocketShared {
    /// `WskSetOption` of a standard option.
    pub(crate) fn set_option(self: &Arc<Self>, option: SockOpt) -> Result<()> {
        let mut st = self.lock();
        let SocketState { common, kind } = &mut *st;
        if common.closed {
            return Err(NtStatus::INVALID_HANDLE);
        }
        let ctx = kind.option_context();
        if let Some(name) = option.name() {
            check(self.category, &ctx, name)?;
            if name.before_bind_only() && ctx.bound {
                return Err(NtStatus::INVALID_DEVICE_STATE);
            }
        } else if let SockOpt::AddMembership(m) | SockOpt::DropMembership(m) = option {
            // Memberships belong to UDP sockets of the group's family.
            let udp = self.category == Category::Datagram || (self.category == Category::Basic && !ctx.tcp);
            if !udp || matches!(m, Membership::V6 { .. }) != ctx.v6 {
                return Err(NtStatus::INVALID_PARAMETER);
            }
        }
        match option {
            SockOpt::ExclusiveAddressUse(on) => {
                if on && common.reuse_address {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                common.exclusive_address = on;
                return Ok(());
            }
            SockOpt::ReuseAddress(true) if common.exclusive_address => return Err(NtStatus::INVALID_PARAMETER),
            _ => {}
        }
        match kind {
            Kind::Basic(b) => b.set_option(option),
            Kind::Stream(s) => s.set_option(option),
            Kind::Listen(l) => l.set_option(option),
            Kind::Connection(c) => c.set_option(option),
            Kind::Datagram(d) => d.set_option(option),
        }?;
        if let SockOpt::ReuseAddress(on) = option {
            common.reuse_address = on;
        }
        Ok(())
    }

    /// `WskGetOption` of a standard option.
    pub(crate) fn get_option(self: &Arc<Self>, name: OptName) -> Result<SockOpt> {
        let st = self.lock();
        let SocketState { common, kind } = &*st;
        if common.closed {
            return Err(NtStatus::INVALID_HANDLE);
        }
        check(self.category, &kind.option_context(), name)?;
        match name {
            OptName::ExclusiveAddressUse => Ok(SockOpt::ExclusiveAddressUse(common.exclusive_address)),
            _ => match kind {
                Kind::Basic(b) => b.get_option(name),
                Kind::Stream(s) => s.get_option(name),
                Kind::Listen(l) => l.get_option(name),
                Kind::Connection(c) => c.get_option(name),
                Kind::Datagram(d) => d.get_option(name),
            },
        }
    }
}

/// `WskGetOption` of a socket whose host socket comes at bind (listening and stream
/// sockets): the host's value once there is one, before that what the client set (other
/// options: `STATUS_INVALID_DEVICE_STATE`).
pub(crate) fn get_or_kept<T: OptionSocket + ?Sized>(
    io: Option<&T>,
    kept: &ListenOptions,
    name: OptName,
) -> Result<SockOpt> {
    match io {
        Some(io) => host_result(io.get_option(name)),
        None => kept.get(name).ok_or(NtStatus::INVALID_DEVICE_STATE),
    }
}

/// The host's answer to an option call, as a status.
pub(crate) fn host_result<T>(r: std::io::Result<T>) -> Result<T> {
    r.map_err(|e| match e.kind() {
        std::io::ErrorKind::Unsupported => NtStatus::NOT_SUPPORTED,
        // The host lacks the option (e.g. `UDP_SEGMENT` on an old kernel).
        _ if e.raw_os_error() == Some(wsk_core::status::errno::ENOPROTOOPT) => NtStatus::NOT_SUPPORTED,
        _ => NtStatus::from_io_error(&e),
    })
}
