//! Stream sockets (`WSK_FLAG_STREAM_SOCKET`, `WSK_PROVIDER_STREAM_DISPATCH`): WskSocket's
//! stream arm, WskListen, and how the functions the stream table shares with the listen
//! and connection tables find the socket of the right role.
//!
//! A stream handle stays [`Socket::Stream`] for its whole life; the Rust socket behind
//! it commits in place (`WskListen`: listening, `WskConnect`/`WskConnectEx`:
//! connecting). The shared functions take the role from it: WskAccept a stream socket
//! committed to listening (`as_listener`), WskSend, WskReceive, WskDisconnect,
//! WskGetRemoteAddress, WskRelease, WskSendEx, WskReceiveEx one committed to connecting
//! (`as_connection`); WskConnect and WskConnectEx commit it (`Connector`). Before the
//! commit, and for the other role, they answer `STATUS_INVALID_DEVICE_STATE`. WskBind,
//! WskGetLocalAddress, WskControlSocket and WskCloseSocket are the shared functions of
//! every table. WskInspectComplete is not in the stream table; the listen table's one
//! accepts a stream socket committed to listening (conditional accept, see
//! [`crate::wsk::conditional`]).

use std::borrow::Cow;
use std::net::SocketAddr;

use wsk_api::{Canceller, ConnectionSocket, ListenSocket, NtStatus, SendBuffer, StreamSocket};

use crate::abi::{
    IRP, NTSTATUS, PVOID, WSK_CLIENT_CONNECTION_DISPATCH, WSK_CLIENT_LISTEN_DISPATCH, WSK_CLIENT_STREAM_DISPATCH,
    WSK_SOCKET,
};
use crate::guard::guard_status;
use crate::status::STATUS_INVALID_DEVICE_REQUEST;
use crate::wsk::events::{CConnectionEvents, CListenEvents};
use crate::wsk::handle::{self, Category, Socket};
use crate::wsk::irp::{Inline, Irp as IrpRef};
use crate::wsk::registration::Client;
use crate::wsk::{socket_for, status_of, tables, with_irp};

/// `WskSocket(WSK_FLAG_STREAM_SOCKET)`: `Dispatch` is a `WSK_CLIENT_STREAM_DISPATCH` (or
/// NULL), whose `Listen` and `Connect` tables (each may be NULL) serve the role the socket
/// takes, both with `SocketContext`. Returns the new handle.
///
/// # Safety
/// `dispatch` is NULL or points to a `WSK_CLIENT_STREAM_DISPATCH` whose tables stay valid
/// while the socket lives (they are copied).
pub(crate) unsafe fn create(
    client: &Client,
    family_of: SocketAddr,
    context: PVOID,
    dispatch: *const WSK_CLIENT_STREAM_DISPATCH,
) -> Result<*mut WSK_SOCKET, NTSTATUS> {
    let (listen, connect): (*const WSK_CLIENT_LISTEN_DISPATCH, *const WSK_CLIENT_CONNECTION_DISPATCH) =
        if dispatch.is_null() {
            (std::ptr::null(), std::ptr::null())
        } else {
            // SAFETY: per the caller, a readable WSK_CLIENT_STREAM_DISPATCH.
            let d = unsafe { std::ptr::read(dispatch) };
            (d.Listen, d.Connect)
        };
    // SAFETY: per the caller, NULL or tables that stay valid (copied here).
    let (listen, connect) = unsafe { (CListenEvents::new(context, listen), CConnectionEvents::new(context, connect)) };
    // The listen bits (WSK_EVENT_ACCEPT and the conditional-accept callbacks) and the
    // connection bits do not overlap: one mask serves whichever role comes.
    let missing = CListenEvents::missing_of(&listen) | CConnectionEvents::missing_of(&connect);
    let op = client.with_npi(|npi| npi.stream_socket(family_of, listen.map(|e| e as _), connect.map(|e| e as _)))?;
    let socket = op.wait().map_err(|e| e.0)?;
    handle::insert(Socket::Stream(socket), tables::stream(), missing)
}

/// The listening socket a listen-table function (WskAccept, WskInspectComplete) acts
/// on: a listening socket, or a stream socket committed to listening.
pub(crate) fn as_listener(socket: &Socket) -> Result<Cow<'_, ListenSocket>, NTSTATUS> {
    match socket {
        Socket::Listen(l) => Ok(Cow::Borrowed(l)),
        Socket::Stream(s) => s.listener().map(Cow::Owned).map_err(role_status),
        _ => Err(STATUS_INVALID_DEVICE_REQUEST),
    }
}

/// The connection-oriented socket a connection-table function acts on: a connection
/// socket, or a stream socket committed to connecting.
#[inline]
pub(crate) fn as_connection(socket: &Socket) -> Result<Cow<'_, ConnectionSocket>, NTSTATUS> {
    match socket {
        Socket::Connection(c) => Ok(Cow::Borrowed(c)),
        Socket::Stream(s) => s.connection().map(Cow::Owned).map_err(role_status),
        _ => Err(STATUS_INVALID_DEVICE_REQUEST),
    }
}

/// A stream socket's answer when it is not in the role asked for (or closed meanwhile).
fn role_status(e: NtStatus) -> NTSTATUS {
    match e {
        NtStatus::INVALID_HANDLE => e.0,
        _ => NtStatus::INVALID_DEVICE_STATE.0,
    }
}

/// What WskConnect and WskConnectEx drive: a connection socket, or a stream socket (which
/// the connect commits to connecting).
#[derive(Clone)]
pub(crate) enum Connector {
    Connection(ConnectionSocket),
    Stream(StreamSocket),
}

impl Connector {
    fn of(socket: &Socket) -> Result<Connector, NTSTATUS> {
        match socket {
            Socket::Connection(c) => Ok(Connector::Connection(c.clone())),
            Socket::Stream(s) => Ok(Connector::Stream(s.clone())),
            _ => Err(STATUS_INVALID_DEVICE_REQUEST),
        }
    }

    /// `WskConnect`.
    pub(crate) fn connect_then(
        &self,
        remote: SocketAddr,
        done: impl FnOnce(wsk_api::Result<()>) + Send + 'static,
    ) -> Option<Canceller> {
        match self {
            Connector::Connection(c) => c.connect_then(remote, done),
            Connector::Stream(s) => s.connect_then(remote, done),
        }
    }

    /// `WskConnectEx`.
    pub(crate) fn connect_ex_then(
        &self,
        remote: SocketAddr,
        first: Option<Box<dyn SendBuffer>>,
        done: impl FnOnce(wsk_api::Result<()>) + Send + 'static,
    ) -> Option<Canceller> {
        match self {
            Connector::Connection(c) => c.connect_ex_then(remote, first, done),
            Connector::Stream(s) => s.connect_ex_then(remote, first, done),
        }
    }
}

/// Looks up the socket a WskConnect / WskConnectEx names for `f`; completes the IRP on failure.
///
/// # Safety
/// `irp` is NULL or an IRP the caller hands to the provider.
pub(crate) unsafe fn with_connector(
    irp: *mut IRP,
    s: *mut WSK_SOCKET,
    f: impl FnOnce(IrpRef, Connector) -> NTSTATUS,
) -> NTSTATUS {
    // SAFETY: per the caller.
    unsafe {
        with_irp(irp, |irp| {
            let connector = handle::get(s).and_then(|sock| Connector::of(&sock.socket));
            match connector {
                Ok(c) => f(irp, c),
                Err(e) => irp.fail(e),
            }
        })
    }
}

/// `WskListen`: commits a bound stream socket to listening.
pub unsafe extern "C" fn listen(Socket: *mut WSK_SOCKET, Irp: *mut IRP) -> NTSTATUS {
    // SAFETY: the caller passes WskListen's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle table) before it is used.
    guard_status("WskListen", || unsafe {
        with_irp(Irp, |irp| {
            let (irp, sock) = match socket_for(irp, Socket, Category::Stream) {
                Ok(x) => x,
                Err(st) => return st,
            };
            let Socket::Stream(s) = &sock.socket else { unreachable!("category checked") };
            let inline = Inline::new();
            let (call, done) = irp.begin(&inline);
            s.listen().then(move |r| done.finish(status_of(&r), 0));
            call.returned(None)
        })
    })
}

/// The role-dependent `SO_WSK_EVENT_CALLBACK` check of a stream socket: listening, only
/// `WSK_EVENT_ACCEPT` needs a callback of the socket's own (connection bits are for the
/// accepted sockets); connecting, every bit does.
pub(crate) fn checked_events(s: &StreamSocket, mask: u32) -> u32 {
    match s.role() {
        Ok(wsk_api::StreamRole::Listening) => mask & wsk_core::consts::events::WSK_EVENT_ACCEPT,
        _ => mask,
    }
}
