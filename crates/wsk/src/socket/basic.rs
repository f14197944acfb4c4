//! Basic sockets (`WSK_PROVIDER_BASIC_DISPATCH`): `WskControlSocket` and `WskCloseSocket`
//! only. Clients use them to probe options and to query the host's addresses; behind one
//! is a host socket of the requested transport that is never bound.

use std::net::SocketAddr;
use std::sync::Arc;

use wsk_core::backend::OptionSocket;
use wsk_core::event::Category;
use wsk_core::option::{OptName, SockOpt};
use wsk_core::status::NtStatus;

use super::control::socket_control;
use super::options::{host_result, OptionContext};
use super::{Handle, Kind, SocketShared};
use crate::op::{Op, Result};
use crate::registration::RegInner;

pub(crate) struct BasicState {
    family_of: SocketAddr,
    datagram: bool,
    io: Box<dyn OptionSocket>,
}

impl BasicState {
    pub(crate) fn option_context(&self) -> OptionContext {
        OptionContext { v6: self.family_of.is_ipv6(), bound: false, tcp: !self.datagram }
    }

    pub(crate) fn set_option(&mut self, option: SockOpt) -> Result<()> {
        host_result(self.io.set_option(&option))
    }

    pub(crate) fn get_option(&self, name: OptName) -> Result<SockOpt> {
        host_result(self.io.get_option(name))
    }
}

/// A basic socket (`WSK_FLAG_BASIC_SOCKET`): options and IOCTLs, then close.
///
/// ```
/// # fn main() -> Result<(), wsk::NtStatus> {
/// let registration = wsk::Registration::new()?;
/// let npi = registration.capture(wsk::Wait::Infinite)?;
/// use wsk::SocketControl;
/// let probe = npi.basic_socket("0.0.0.0:0".parse().unwrap(), false).wait()?;
/// probe.set_option(wsk::SockOpt::KeepAlive(true))?;
/// assert_eq!(probe.get_option(wsk::OptName::KeepAlive)?, wsk::SockOpt::KeepAlive(true));
/// assert!(probe.address_list()?.iter().any(|a| a.ip().is_loopback()));
/// probe.close().wait()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct BasicSocket {
    h: Arc<Handle>,
}

impl std::fmt::Debug for BasicSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicSocket").field("token", &self.h.shared.token).finish()
    }
}

socket_control!(BasicSocket);

impl BasicSocket {
    pub(crate) fn create(reg: &Arc<RegInner>, family_of: SocketAddr, datagram: bool) -> Result<BasicSocket> {
        let provider = &reg.provider.inner;
        let io = provider.backend.basic_socket(&family_of, datagram).map_err(|e| NtStatus::from_io_error(&e))?;
        let state = BasicState { family_of, datagram, io };
        let shared = SocketShared::open(reg, Category::Basic, None, Kind::Basic(state))?;
        Ok(BasicSocket { h: Handle::new(shared) })
    }

    /// `WskCloseSocket`.
    pub fn close(&self) -> Op<()> {
        self.h.close()
    }
}
