//! The provider does no busy polling: with an open connection, receive events enabled on
//! one end and a receive pending on the other, an idle process uses (almost) no CPU —
//! the reactor blocks in epoll until something happens.

use std::sync::Arc;
use std::time::Duration;

use wsk::events::WSK_EVENT_RECEIVE;
use wsk::{ConnectionEvents, DataIndication, EventFlags, ReceiveOutcome};

/// `/proc` reports CPU time in clock ticks of `USER_HZ`, which Linux fixes at 100.
const TICK: Duration = Duration::from_millis(10);

/// utime + stime of the whole process (all threads), from `/proc/self/stat`.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("procfs");
    // Fields after the command name, which is in parentheses and may contain spaces:
    // state is field 3, utime field 14, stime field 15.
    let rest = &stat[stat.rfind(')').expect("comm ends with ')'") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    TICK * ticks as u32
}

struct Count;

impl ConnectionEvents for Count {
    fn on_receive(&self, _: Option<&mut DataIndication>, _: EventFlags) -> ReceiveOutcome {
        ReceiveOutcome::Accepted
    }
}

#[test]
fn idle_provider_uses_no_cpu() {
    let reg = wsk::Registration::new().unwrap();
    let npi = reg.capture(wsk::Wait::Infinite).unwrap();
    let any = "127.0.0.1:0".parse().unwrap();
    let listener = npi.listen_socket(any, None).wait().unwrap();
    listener.bind(any).wait().unwrap();
    let accepting = listener.accept(Some(Arc::new(Count)));
    let client = npi.socket_connect(any, listener.local_addr().unwrap(), None).wait().unwrap();
    let server = accepting.wait().unwrap().socket;
    server.enable_events(WSK_EVENT_RECEIVE).unwrap();
    // Traffic first, so the idle window starts from a connection that has been used.
    assert_eq!(client.send(vec![7u8; 100_000], 0).wait().unwrap(), 100_000);
    assert_eq!(server.send(b"pong".to_vec(), 0).wait().unwrap(), 4);
    assert_eq!(client.receive(4, wsk::flags::WSK_FLAG_WAITALL).wait().unwrap(), b"pong");
    let pending = client.receive(16, 0);
    std::thread::sleep(Duration::from_millis(200));

    let before = process_cpu();
    std::thread::sleep(Duration::from_secs(1));
    let used = process_cpu() - before;

    eprintln!("CPU used by the idle process over 1 s: {used:?}");
    assert!(used < Duration::from_millis(50), "idle provider used {used:?} of CPU in 1 s (busy polling?)");

    assert!(pending.cancel());
    assert_eq!(pending.wait(), Err(wsk::NtStatus::CANCELLED));
    client.close().wait().unwrap();
    server.close().wait().unwrap();
    listener.close().wait().unwrap();
    drop(npi);
    reg.deregister_timeout(Duration::from_secs(10)).map_err(|(_, c)| c).unwrap();
}
