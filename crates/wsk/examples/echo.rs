//! The README's example: an event-driven echo server (WskAcceptEvent + WskReceiveEvent,
//! zero-copy echo of retained indications with WskSend) and a client that checks the
//! echo, both on one provider. Run it with `cargo run -p wsk --example echo`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wsk::events::{WSK_EVENT_ACCEPT, WSK_EVENT_DISCONNECT, WSK_EVENT_RECEIVE};
use wsk::flags::WSK_FLAG_WAITALL;
use wsk::{
    AcceptOutcome, Accepted, ConnectionEvents, ConnectionSocket, DataIndication, EventFlags, ListenEvents,
    ReceiveOutcome,
};

/// WskAcceptEvent: keep every accepted socket, give it the echo callbacks.
struct Listener {
    accepted: Mutex<Vec<ConnectionSocket>>,
}

impl ListenEvents for Listener {
    fn on_accept(&self, accepted: Option<Accepted>) -> AcceptOutcome {
        let Some(a) = accepted else { return AcceptOutcome::Reject }; // NULL: the listener died
        self.accepted.lock().unwrap().push(a.socket.clone());
        AcceptOutcome::Accept(Some(Arc::new(Echo { socket: a.socket })))
    }
}

/// WskReceiveEvent / WskDisconnectEvent of one connection.
struct Echo {
    socket: ConnectionSocket,
}

impl ConnectionEvents for Echo {
    fn on_receive(&self, data: Option<&mut DataIndication>, _: EventFlags) -> ReceiveOutcome {
        // NULL: the connection died.
        let Some(data) = data else { return ReceiveOutcome::Accepted };
        // Zero copy: keep the provider's buffers (STATUS_PENDING) and send them back;
        // they are released (WskRelease) when the send completes.
        self.socket.send_then(Box::new(data.retain()), 0, |_| {});
        ReceiveOutcome::Retained
    }

    fn on_disconnect(&self, _abortive: bool) {
        // Answer the peer's FIN with ours (after the queued echoes). A callback never waits.
        self.socket.disconnect(None, 0).detach();
    }
}

fn main() -> Result<(), wsk::NtStatus> {
    let registration = wsk::Registration::new()?; // WskRegister
    let npi = registration.capture(wsk::Wait::Infinite)?; // WskCaptureProviderNPI

    let listener_events = Arc::new(Listener { accepted: Mutex::new(Vec::new()) });
    let listener = npi.listen_socket("127.0.0.1:0".parse().unwrap(), Some(listener_events.clone())).wait()?;
    listener.bind("127.0.0.1:0".parse().unwrap()).wait()?;
    // Connection events enabled on the listener are inherited by accepted sockets.
    listener.enable_events(WSK_EVENT_ACCEPT | WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT)?;

    // A client on the same provider: WskSocketConnect, WskSend, WskReceive(WAITALL).
    let client = npi.socket_connect("127.0.0.1:0".parse().unwrap(), listener.local_addr()?, None).wait()?;
    let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let echo = client.receive(payload.len(), WSK_FLAG_WAITALL); // posted before the send
    client.send(payload.clone(), 0).wait()?;
    let echoed = echo.wait_timeout(Duration::from_secs(10)).expect("echo in time")?;
    assert_eq!(echoed, payload);

    client.disconnect(None, 0).wait()?; // graceful: FIN, completes once acknowledged
    assert!(client.receive(1, 0).wait()?.is_empty()); // the server's FIN
    client.close().wait()?; // WskCloseSocket
    for socket in listener_events.accepted.lock().unwrap().drain(..) {
        socket.close().wait()?;
    }
    listener.close().wait()?;
    drop(npi); // WskReleaseProviderNPI
    registration.deregister(); // WskDeregister: waits for every socket and capture
    println!("echoed and verified {} bytes", payload.len());
    Ok(())
}
