//! A first end-to-end check: an event-driven echo server (accept + receive events,
//! echoing retained indications with WskSend) and a client that verifies every byte.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wsk::events::{WSK_EVENT_ACCEPT, WSK_EVENT_DISCONNECT, WSK_EVENT_RECEIVE};
use wsk::flags::WSK_FLAG_WAITALL;
use wsk::{
    AcceptOutcome, Accepted, ConnectionEvents, ConnectionSocket, DataIndication, EventFlags, ListenEvents,
    ReceiveOutcome,
};

struct EchoListener {
    conns: Mutex<Vec<ConnectionSocket>>,
}

struct EchoConn {
    socket: ConnectionSocket,
}

impl ListenEvents for EchoListener {
    fn on_accept(&self, accepted: Option<Accepted>) -> AcceptOutcome {
        let Some(a) = accepted else { return AcceptOutcome::Reject };
        self.conns.lock().unwrap().push(a.socket.clone());
        AcceptOutcome::Accept(Some(Arc::new(EchoConn { socket: a.socket })))
    }
}

impl ConnectionEvents for EchoConn {
    fn on_receive(&self, data: Option<&mut DataIndication>, _flags: EventFlags) -> ReceiveOutcome {
        match data {
            Some(data) => {
                let retained = data.retain();
                self.socket.send_then(Box::new(retained), 0, |_| {});
                ReceiveOutcome::Retained
            }
            None => ReceiveOutcome::Accepted,
        }
    }
    fn on_disconnect(&self, _abortive: bool) {
        self.socket.disconnect(None, 0).detach();
    }
}

#[test]
fn event_echo_round_trip() {
    let reg = wsk::Registration::new().unwrap();
    let npi = reg.capture(wsk::Wait::Infinite).unwrap();
    let handler = Arc::new(EchoListener { conns: Mutex::new(Vec::new()) });
    let listener = npi.listen_socket("127.0.0.1:0".parse().unwrap(), Some(handler.clone())).wait().unwrap();
    listener.bind("127.0.0.1:0".parse().unwrap()).wait().unwrap();
    listener.enable_events(WSK_EVENT_ACCEPT | WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT).unwrap();
    let addr = listener.local_addr().unwrap();

    let client = npi.socket_connect("127.0.0.1:0".parse().unwrap(), addr, None).wait().unwrap();
    let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let sent = client.send(payload.clone(), 0);
    let got = client
        .receive(payload.len(), WSK_FLAG_WAITALL)
        .wait_timeout(Duration::from_secs(20))
        .expect("echo in time")
        .unwrap();
    assert_eq!(sent.wait().unwrap(), payload.len());
    assert_eq!(got, payload);

    client.disconnect(None, 0).wait_timeout(Duration::from_secs(10)).expect("disconnect in time").unwrap();
    let eof = client.receive(16, 0).wait_timeout(Duration::from_secs(10)).expect("eof in time").unwrap();
    assert!(eof.is_empty());
    client.close().wait().unwrap();
    for c in handler.conns.lock().unwrap().drain(..) {
        c.close().wait().unwrap();
    }
    listener.close().wait().unwrap();
    drop(npi);
    reg.deregister_timeout(Duration::from_secs(10)).map_err(|(_, c)| c).unwrap();
}
