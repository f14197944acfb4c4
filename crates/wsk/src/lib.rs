//! # wsk — the Windows Winsock Kernel (WSK) provider, in user space
//!
//! WSK is how Windows kernel drivers use the network: a provider hands out sockets of
//! five categories, each with a dispatch table of operations that complete through
//! IRPs, and calls the client back through event callbacks. This crate is that
//! provider running as an ordinary Linux process over the host's TCP/IP stack, with a
//! safe Rust API that keeps the WSK model:
//!
//! | WSK | here |
//! |---|---|
//! | `WskRegister` / `WskDeregister` | [`Registration::new`] / [`Registration::deregister`] |
//! | `WskCaptureProviderNPI` / `WskReleaseProviderNPI` | [`Registration::capture`] / dropping the [`ProviderNpi`] |
//! | `WskSocket` (listen / connection), `WskSocketConnect` | [`ProviderNpi::listen_socket`], [`ProviderNpi::connection_socket`], [`ProviderNpi::socket_connect`] |
//! | `WskSocket` (stream) | [`ProviderNpi::stream_socket`]: a [`StreamSocket`], committed by `listen` or `connect` |
//! | conditional accept (`WskInspectEvent`, `WskAbortEvent`, `WskInspectComplete`) | [`ListenSocket::set_conditional_accept`], [`ListenEvents::on_inspect`], [`ListenSocket::inspect_complete`] |
//! | `WskSocket` (basic) | [`ProviderNpi::basic_socket`]: a [`BasicSocket`] (options and IOCTLs only) |
//! | provider dispatch tables | methods of [`BasicSocket`], [`ListenSocket`], [`ConnectionSocket`], [`StreamSocket`], [`DatagramSocket`] |
//! | `WskControlSocket`, `WskCloseSocket` (the `Basic` part of every table) | the [`SocketControl`] trait: [`SockOpt`] / [`OptName`] options, `SIO_ADDRESS_LIST_QUERY` / `_CHANGE`, events, close |
//! | `WskConnectEx`, `SIO_WSK_SET_TCP_SILENT_MODE` | [`ConnectionSocket::connect_ex`], [`ConnectionSocket::set_silent_mode`] |
//! | an IRP and its completion routine | an [`Op`] future, or a `*_then` completion closure |
//! | `IoCancelIrp` | [`Op::cancel`] |
//! | `WskGetAddressInfo` / `WskGetNameInfo` | [`ProviderNpi::get_address_info`] / [`ProviderNpi::get_name_info`] (on resolver threads) |
//! | `WskControlClient(WSK_TRANSPORT_LIST_QUERY / _CHANGE, WSK_SET_STATIC_EVENT_CALLBACKS)` | [`ProviderNpi::transports`], [`ProviderNpi::transport_list_change`], [`ProviderNpi::set_static_event_callbacks`] |
//! | client dispatch tables | the [`ListenEvents`], [`ConnectionEvents`] and [`DatagramEvents`] traits |
//! | `WSK_DATA_INDICATION` chain, `STATUS_PENDING` + `WskRelease` | [`DataIndication`], [`RetainedIndication`] (drop = release) |
//! | datagram sockets: `WskSocket(WSK_FLAG_DATAGRAM_SOCKET)`, `WskSendTo`, `WskReceiveFrom`, `WskSendMessages`, `WskReceiveFromEvent` (`WSK_DATAGRAM_INDICATION`, `CMSGHDR`) | [`ProviderNpi::datagram_socket`], [`DatagramSocket`], [`DatagramEvents`], [`DatagramIndication`] / [`RetainedDatagrams`], [`ControlMessage`] |
//!
//! The runtime follows the kernel's rules: callbacks of one socket never overlap and run
//! on a provider thread with no provider lock held (a callback may start any
//! operation, but must not wait for one); completions of one socket run in the order
//! the provider decided them; closing cancels pending operations and completes after a
//! running callback returned; deregistering waits for every socket and capture.
//!
//! ```
//! use std::sync::Arc;
//! use wsk::{ConnectionEvents, DataIndication, EventFlags, ReceiveOutcome};
//!
//! struct Print;
//! impl ConnectionEvents for Print {
//!     fn on_receive(&self, data: Option<&mut DataIndication>, _: EventFlags) -> ReceiveOutcome {
//!         if let Some(data) = data {
//!             println!("{} bytes", data.bytes_indicated());
//!         }
//!         ReceiveOutcome::Accepted
//!     }
//! }
//!
//! # fn main() -> Result<(), wsk::NtStatus> {
//! let registration = wsk::Registration::new()?;
//! let npi = registration.capture(wsk::Wait::Infinite)?;
//! let listener = npi.listen_socket("127.0.0.1:0".parse().unwrap(), None).wait()?;
//! listener.bind("127.0.0.1:0".parse().unwrap()).wait()?;
//! let client = npi
//!     .socket_connect("127.0.0.1:0".parse().unwrap(), listener.local_addr()?, Some(Arc::new(Print)))
//!     .wait()?;
//! client.enable_events(wsk::events::WSK_EVENT_RECEIVE)?;
//! let server_side = listener.accept(None).wait()?.socket;
//! server_side.send(b"hi".to_vec(), 0).wait()?;
//! client.close().wait()?;
//! server_side.close().wait()?;
//! listener.close().wait()?;
//! drop(npi);
//! registration.deregister();
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod buffer;
mod callbacks;
mod datagram_indication;
mod indication;
mod op;
mod provider;
mod registration;
mod request;
mod resolve;
mod socket;

pub use buffer::{ReceiveBuffer, SendBuffer};
pub use callbacks::{AcceptOutcome, Accepted, ConnectionEvents, EventFlags, ListenEvents, ReceiveOutcome};
pub use callbacks::{DatagramEvents, ReceiveFromOutcome};
pub use datagram_indication::{DatagramIndication, IndicatedDatagram, RetainedDatagrams};
pub use indication::{DataIndication, IndicationBuffer, RetainedIndication, BUFFER_SIZE};
pub use op::{in_client_code, Canceller, Op, Result};
pub use provider::Provider;
pub use registration::{ProviderCharacteristics, ProviderNpi, Registration, Wait};
pub use request::Transport;
pub use resolve::{AddrHints, AddrInfo, NameInfo, NameInfoFlags, MAX_RESOLVER_THREADS, RESOLVER_IDLE};
pub use socket::{
    BasicSocket, ConnectionSocket, ConnectionStats, ListenSocket, SocketControl, DEFAULT_RECEIVE_BACKLOG,
};
pub use socket::{DatagramSocket, DatagramStats, ReceiveFromInfo, ReceivedDatagram};
pub use socket::{InspectAction, InspectId, InspectRequest, StreamRole, StreamSocket};
pub use wsk_core::cmsg::{self, ControlMessage};
pub use wsk_core::option::{Membership, OptName, SockOpt};
pub use wsk_core::status::NtStatus;
pub use wsk_core::{addr, backend, option, status};

/// Event bits (`WSK_EVENT_*`) for `enable_events` / `disable_event`.
pub mod events {
    pub use wsk_core::consts::events::*;
}

/// Name resolution values (Windows'): `AI_*` hints flags, `NI_*` flags, `NS_*` name
/// spaces, socket types, and the resolver failures with their NTSTATUS.
pub mod resolution {
    pub use wsk_core::resolve::{ai, ni, ns, socktype, status_of, ResolveError};
}

/// Per-call flags (`WSK_FLAG_*`).
pub mod flags {
    pub use wsk_core::cmsg::msg::{MSG_BCAST, MSG_CTRUNC, MSG_MCAST, MSG_TRUNC};
    pub use wsk_core::consts::disconnect::WSK_FLAG_ABORTIVE;
    pub use wsk_core::consts::event_flags::{
        WSK_FLAG_AT_DISPATCH_LEVEL, WSK_FLAG_ENTIRE_MESSAGE, WSK_FLAG_RELEASE_ASAP,
    };
    pub use wsk_core::consts::receive::{WSK_FLAG_DRAIN, WSK_FLAG_WAITALL};
    pub use wsk_core::consts::send::{WSK_FLAG_NODELAY, WSK_FLAG_OOB};
}
