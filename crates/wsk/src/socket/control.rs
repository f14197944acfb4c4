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

    /// `SO_WSK_EVENT_CALLBACK` enable: turns on the callbacks in `mask` (see each socket
    /// type's `enable_events` for when its events may be enabled).
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` before the socket can indicate anything,
    /// `STATUS_INVALID_PARAMETER` for bits the category does not have.
    fn enable_events(&self, mask: u32) -> Result<()> {
        self.handle().set_events(mask)
    }

    /// `SO_WSK_EVENT_CALLBACK` disable of one event, with an IRP: completes once no
    /// callback of that event runs any more.
    fn disable_event(&self, bit: u32) -> Op<()> {
        self.handle().disable_event(bit)
    }

    /// The same without an IRP: `STATUS_SUCCESS`, or `STATUS_EVENT_PENDING` when that
    /// callback is running now (it is disabled once it returns).
    fn disable_event_nowait(&self, bit: u32) -> wsk_core::status::NtStatus {
        self.handle().disable_event_nowait(bit)
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

    /// `WskCloseSocket`: cancels every pending operation, waits for a running callback,
    /// then completes (see each socket type's `close` for its specifics).
    fn close_socket(&self) -> Op<()> {
        self.handle().close()
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
