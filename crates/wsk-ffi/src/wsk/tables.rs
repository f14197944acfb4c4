//! The provider dispatch tables handed to C clients, member for member.

use std::ffi::c_void;

use crate::abi::{
    WSK_PROVIDER_BASIC_DISPATCH, WSK_PROVIDER_CONNECTION_DISPATCH, WSK_PROVIDER_DATAGRAM_DISPATCH,
    WSK_PROVIDER_DISPATCH, WSK_PROVIDER_LISTEN_DISPATCH, WSK_PROVIDER_STREAM_DISPATCH,
};
use crate::wsk::{basic, client_control, conditional, connection, datagram, listen, provider, resolve, stream};

const BASIC: WSK_PROVIDER_BASIC_DISPATCH = WSK_PROVIDER_BASIC_DISPATCH {
    WskControlSocket: Some(basic::control_socket),
    WskCloseSocket: Some(basic::close_socket),
};

static PROVIDER: WSK_PROVIDER_DISPATCH = WSK_PROVIDER_DISPATCH {
    Version: wsk_core::consts::WSK_PROVIDER_VERSION,
    Reserved: 0,
    WskSocket: Some(provider::socket),
    WskSocketConnect: Some(provider::socket_connect),
    WskControlClient: Some(client_control::control_client),
    WskGetAddressInfo: Some(resolve::get_address_info),
    WskFreeAddressInfo: Some(resolve::free_address_info),
    WskGetNameInfo: Some(resolve::get_name_info),
};

static BASIC_TABLE: WSK_PROVIDER_BASIC_DISPATCH = BASIC;

static LISTEN: WSK_PROVIDER_LISTEN_DISPATCH = WSK_PROVIDER_LISTEN_DISPATCH {
    Basic: BASIC,
    WskBind: Some(basic::bind),
    WskAccept: Some(listen::accept),
    WskInspectComplete: Some(conditional::inspect_complete),
    WskGetLocalAddress: Some(basic::get_local_address),
};

static CONNECTION: WSK_PROVIDER_CONNECTION_DISPATCH = WSK_PROVIDER_CONNECTION_DISPATCH {
    Basic: BASIC,
    WskBind: Some(basic::bind),
    WskConnect: Some(connection::connect),
    WskGetLocalAddress: Some(basic::get_local_address),
    WskGetRemoteAddress: Some(connection::get_remote_address),
    WskSend: Some(connection::send),
    WskReceive: Some(connection::receive),
    WskDisconnect: Some(connection::disconnect),
    WskRelease: Some(connection::release),
    WskConnectEx: Some(connection::connect_ex),
    WskSendEx: Some(connection::send_ex),
    WskReceiveEx: Some(connection::receive_ex),
};

static DATAGRAM: WSK_PROVIDER_DATAGRAM_DISPATCH = WSK_PROVIDER_DATAGRAM_DISPATCH {
    Basic: BASIC,
    WskBind: Some(basic::bind),
    WskSendTo: Some(datagram::send_to),
    WskReceiveFrom: Some(datagram::receive_from),
    WskRelease: Some(datagram::release),
    WskGetLocalAddress: Some(basic::get_local_address),
    WskSendMessages: Some(datagram::send_messages),
};

static STREAM: WSK_PROVIDER_STREAM_DISPATCH = WSK_PROVIDER_STREAM_DISPATCH {
    Basic: BASIC,
    WskBind: Some(basic::bind),
    WskAccept: Some(listen::accept),
    WskConnect: Some(connection::connect),
    WskListen: Some(stream::listen),
    WskSend: Some(connection::send),
    WskReceive: Some(connection::receive),
    WskDisconnect: Some(connection::disconnect),
    WskRelease: Some(connection::release),
    WskGetLocalAddress: Some(basic::get_local_address),
    WskGetRemoteAddress: Some(connection::get_remote_address),
    WskConnectEx: Some(connection::connect_ex),
    WskSendEx: Some(connection::send_ex),
    WskReceiveEx: Some(connection::receive_ex),
};

/// `WSK_PROVIDER_DISPATCH`.
pub fn provider() -> *const WSK_PROVIDER_DISPATCH {
    &PROVIDER
}

/// The table of basic sockets.
pub fn basic() -> *const c_void {
    &BASIC_TABLE as *const _ as *const c_void
}

/// The table of listening sockets.
pub fn listen() -> *const c_void {
    &LISTEN as *const _ as *const c_void
}

/// The table of connection-oriented sockets.
pub fn connection() -> *const c_void {
    &CONNECTION as *const _ as *const c_void
}

/// The table of datagram sockets.
pub fn datagram() -> *const c_void {
    &DATAGRAM as *const _ as *const c_void
}

/// The table of stream sockets.
pub fn stream() -> *const c_void {
    &STREAM as *const _ as *const c_void
}
