//! The UDP echo example (`examples/c/udp_echo_driver.c`): under the real `wsk run`, and
//! linked into drvhost with AddressSanitizer, it serves Rust peers (`std::net::UdpSocket`,
//! IPv4 and IPv6 at once): datagrams of every size from 0 bytes to 65,000 one at a time,
//! then bursts of numbered datagrams, each echo checked byte for byte and coming from the
//! server's address. At unload its summary counts exactly the bytes sent, with no failure,
//! and `wsk run` reports nothing leaked. A test driver that retains a datagram indication
//! and never releases it shows the datagram line of the leak report.
//!
//! Every child process is bounded in time and killed on timeout; the tests synchronize on
//! the lines the drivers print, never on sleeps.

mod support;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::Duration;

use support::drivers::{driver_so, drvhost_with, test_driver_so, wsk_exe, Driver};

/// How long a peer waits for an echo.
const ECHO_TIMEOUT: Duration = Duration::from_secs(30);
/// Datagrams of a burst (sent before any echo is read).
const BURST: usize = 48;
/// Bursts per peer.
const BURSTS: usize = 4;

/// The byte at `i` of datagram `seed`: every datagram has its own content.
fn pattern(seed: u64, i: usize) -> u8 {
    (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(i as u64 * 31) >> 24) as u8
}

fn datagram(seed: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| pattern(seed, i)).collect()
}

/// One peer: sends, receives and checks; returns (datagrams, bytes) sent.
fn peer(server: SocketAddr) -> (u64, u64) {
    let local: SocketAddr = if server.is_ipv4() { "127.0.0.1:0" } else { "[::1]:0" }.parse().unwrap();
    let socket = UdpSocket::bind(local).expect("bind the peer");
    socket.set_read_timeout(Some(ECHO_TIMEOUT)).unwrap();
    let mut buf = vec![0u8; 70_000];
    let (mut count, mut bytes) = (0u64, 0u64);
    let family = if server.is_ipv4() { 4 } else { 6 };

    // One at a time, every size class up to near the UDP limit.
    for (n, &len) in [0usize, 1, 2, 3, 100, 1000, 1472, 1500, 4096, 9000, 32_768, 65_000].iter().enumerate() {
        let sent = datagram(family * 1000 + n as u64, len);
        socket.send_to(&sent, server).expect("send");
        let (got, from) = socket.recv_from(&mut buf).unwrap_or_else(|e| panic!("no echo of {len} bytes: {e}"));
        assert_eq!(from, server, "the echo comes from the server");
        assert_eq!(&buf[..got], &sent[..], "the echo of {len} bytes");
        count += 1;
        bytes += len as u64;
    }

    // Bursts: numbered datagrams of varied sizes, all sent before any echo is read.
    for b in 0..BURSTS {
        let mut expected = HashMap::new();
        for i in 0..BURST {
            let seq = (family << 32) | ((b * BURST + i) as u64);
            let len = 8 + (seq as usize * 37) % 1400;
            let mut sent = datagram(seq, len);
            sent[..8].copy_from_slice(&seq.to_be_bytes());
            socket.send_to(&sent, server).expect("send");
            bytes += len as u64;
            count += 1;
            expected.insert(seq, sent);
        }
        while !expected.is_empty() {
            let (got, from) = socket.recv_from(&mut buf).unwrap_or_else(|e| {
                panic!("burst {b}: {} echoes missing: {e}", expected.len());
            });
            assert_eq!(from, server);
            assert!(got >= 8, "an echo of {got} bytes");
            let seq = u64::from_be_bytes(buf[..8].try_into().unwrap());
            let sent = expected.remove(&seq).unwrap_or_else(|| panic!("an echo of datagram {seq} not expected"));
            assert_eq!(&buf[..got], &sent[..], "the echo of datagram {seq}");
        }
    }
    (count, bytes)
}

/// Both families' peers at once against the driver's port (IPv6 when the host has ::1: the
/// driver's socket is dual-stack then); returns the totals.
fn run_peers(port: u16) -> (u64, u64) {
    let mut servers = vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)];
    if UdpSocket::bind("[::1]:0").is_ok() {
        servers.push(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port));
    }
    let peers: Vec<_> = servers.into_iter().map(|s| thread::spawn(move || peer(s))).collect();
    peers.into_iter().map(|p| p.join().expect("a peer failed")).fold((0, 0), |(c, b), (pc, pb)| (c + pc, b + pb))
}

/// The number after `key ` in "udp_echo_driver: unloaded: ...".
fn summary_value(output: &str, key: &str) -> i64 {
    let summary = output
        .lines()
        .find(|l| l.contains("udp_echo_driver: unloaded:"))
        .unwrap_or_else(|| panic!("no unload summary; output:\n{output}"));
    let rest = summary.split(&format!(" {key} ")).nth(1).unwrap_or_else(|| panic!("no {key:?} in {summary:?}"));
    rest.split(|c: char| c != '-' && !c.is_ascii_digit()).next().and_then(|n| n.parse().ok()).expect("a number")
}

fn check_summary(output: &str, (datagrams, bytes): (u64, u64)) {
    assert_eq!(summary_value(output, "datagrams"), datagrams as i64, "{output}");
    assert_eq!(summary_value(output, "bytes"), bytes as i64, "{output}");
    assert_eq!(summary_value(output, "send-failures"), 0, "{output}");
    assert_eq!(summary_value(output, "errors"), 0, "{output}");
}

#[test]
fn udp_echo_driver_under_wsk_run_echoes_every_byte_and_leaks_nothing() {
    let so = driver_so("udp_echo_driver", &["udp_echo_driver.c"]);
    let driver = Driver::wsk_run("wsk run udp_echo_driver.so", &so, &[("WSK_UDP_ECHO_PORT", "0".into())]);
    let port = driver.listening_port("udp_echo_driver");
    let totals = run_peers(port);
    let (status, output) = driver.interrupt();
    assert!(status.success(), "{status}; output:\n{output}");
    assert!(output.contains("nothing leaked"), "output:\n{output}");
    check_summary(&output, totals);
}

#[test]
fn udp_echo_driver_under_asan() {
    let exe = drvhost_with("drvhost_udp_echo_driver", &["udp_echo_driver.c"]);
    let driver = Driver::start("udp_echo_driver", &exe, &[("WSK_UDP_ECHO_PORT", "0".into())]);
    let port = driver.listening_port("udp_echo_driver");
    let totals = run_peers(port);
    let (status, output) = driver.unload();
    assert!(status.success(), "{status}; output:\n{output}");
    assert!(output.contains("drvhost: unloaded"), "output:\n{output}");
    check_summary(&output, totals);
}

#[test]
fn a_retained_datagram_indication_is_reported_as_a_leak() {
    let so = test_driver_so("dgram_retain_driver", &[PathBuf::from("dgram_retain_driver.c")]);
    let mut cmd = Command::new(wsk_exe());
    cmd.arg("run").arg(&so).args(["--seconds", "0"]);
    let out = support::run_bounded(cmd, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "exit status (EXIT_LEAKS); stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("dgram_retain_driver: retained: 0x00000000"), "{stderr}");
    // Only the datagram: the socket, the registration and everything else were cleaned up.
    assert!(stdout.contains("1 kind of object leaked"), "{stdout}");
    assert!(stdout.contains("1 datagram indication not released (WskRelease)"), "{stdout}");
}
