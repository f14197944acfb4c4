//! [`SocketControl`]: what `WskControlSocket` offers on sockets of every category — the
//! standard options and the address-list IOCTLs — written once for all five.

use std::net::SocketAddr;

use wsk_core::option::{OptName, SockOpt};

use crate::op::{Canceller, Op, Result};

// The sealed trait hands out a crate-private type: callers outside cannot name or call it.
#[allow(private_interfaces)]
pub(crate) mod sealed {
    /// Gives [`super::SocketControl`] the socket's handle; not implementable outside the crate.
    pub trait Sealed {
        #[doc(hidden)]
        fn handle(&self) -> &std::sync::Arc<crate::socket::Handle>;
    }
}

/// `WskControlSocket` requests every socket category takes (the `Basic` part of each
/// provider dispatch table). Category-specific requests are methods of each socket type.
pub trait SocketControl: sealed::Sealed {
    /// `WskSetOption` of a standard option (`SO_*`, `IP_*`, `IPV6_*`, `TCP_*`, `UDP_*`),
    /// with the rules of the reference: the category and family must take it, and
    /// `SO_REUSEADDR`, `SO_EXCLUSIVEADDRUSE` and `IPV6_V6ONLY` come before bind.
    ///
    /// # Errors
    /// `STATUS_INVALID_PARAMETER` for an option of another category or family (or
    /// `SO_REUSEADDR` with `SO_EXCLUSIVEADDRUSE`), `STATUS_INVALID_DEVICE_STATE` for a
    /// before-bind option after bind, `STATUS_NOT_SUPPORTED` when the host lacks it, the
    /// host's refusal, `STATUS_INVALID_HANDLE` after close.
    fn set_option(&self, option: SockOpt) -> Result<()> {
        self.handle().shared.set_option(option)
    }

    /// `WskGetOption` of a standard option. A listening socket has no host socket before
    /// bind: there, only options the client set can be read (others answer
    /// `STATUS_INVALID_DEVICE_STATE`).
    ///
    /// # Errors
    /// As [`SocketControl::set_option`].
    fn get_option(&self, name: OptName) -> Result<SockOpt> {
        self.handle().shared.get_option(name)
    }

    /// `SIO_ADDRESS_LIST_QUERY`: the host's addresses of the socket's family (port 0).
    ///
    /// # Errors
    /// The host's refusal; `STATUS_INVALID_HANDLE` after close.
    fn address_list(&self) -> Result<Vec<SocketAddr>> {
        self.handle().address_list()
    }

    /// `SIO_ADDRESS_LIST_CHANGE`: completes when the host adds or removes an address;
    /// `STATUS_CANCELLED` when cancelled or when the socket closes first.
    fn address_list_change(&self) -> Op<()> {
        self.handle().address_list_change()
    }

    /// [`SocketControl::address_list_change`] with a completion routine.
    fn address_list_change_then(&self, done: impl FnOnce(Result<()>) + Send + 'static) -> Option<Canceller>
    where
        Self: Sized,
    {
        self.handle().address_list_change_then(Box::new(done))
    }
}

impl<T: sealed::Sealed> SocketControl for T {}

/// Implements [`sealed::Sealed`] for a socket type with an `h: Arc<Handle>` field.
macro_rules! socket_control {
    ($ty:ty) => {
        #[allow(private_interfaces)]
        impl $crate::socket::control::sealed::Sealed for $ty {
            fn handle(&self) -> &std::sync::Arc<$crate::socket::Handle> {
                &self.h
            }
        }
    };
}
pub(crate) use socket_control;
