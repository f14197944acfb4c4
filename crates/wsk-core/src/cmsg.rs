//! Control information of datagram sends and receives (`CMSGHDR` / `WSACMSGHDR`).
//!
//! A WSK client passes control information to `WskSendTo` / `WskSendMessages` and gets
//! it back from `WskReceiveFrom` and `WskReceiveFromEvent` as a buffer in the *Windows*
//! layout (`ws2def.h`, 64-bit):
//!
//! ```text
//! SIZE_T cmsg_len;   // header + data, without trailing padding
//! INT    cmsg_level; // IPPROTO_IP (0), IPPROTO_IPV6 (41), IPPROTO_UDP (17), ...
//! INT    cmsg_type;  // IP_PKTINFO (19), ...
//! ...data, at offset 16 (WSA_CMSGDATA_ALIGN of the header); the next header starts at
//!    WSA_CMSGHDR_ALIGN(cmsg_len), a multiple of 8
//! ```
//!
//! Inside the provider control information is a list of typed [`ControlMessage`]s:
//! [`parse`] reads a client's buffer, [`encode`] / [`encode_into`] write one, and the
//! host backend translates each message to and from the host's own (Linux) form, whose
//! levels, types and structures differ (Linux `in_pktinfo` has three fields where
//! Windows `IN_PKTINFO` has two, `UDP_SEGMENT` is a `u16` where `UDP_SEND_MSG_SIZE` is a
//! `DWORD`, ...).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::status::NtStatus;

/// Windows protocol levels and message types used in control information.
pub mod consts {
    /// `IPPROTO_IP`.
    pub const IPPROTO_IP: i32 = 0;
    /// `IPPROTO_UDP`.
    pub const IPPROTO_UDP: i32 = 17;
    /// `IPPROTO_IPV6`.
    pub const IPPROTO_IPV6: i32 = 41;
    /// `IP_TTL` (accepted on send as the TTL of the datagram).
    pub const IP_TTL: i32 = 4;
    /// `IP_PKTINFO`: `IN_PKTINFO` (`IN_ADDR ipi_addr; ULONG ipi_ifindex;`, 8 bytes).
    pub const IP_PKTINFO: i32 = 19;
    /// `IP_HOPLIMIT` (= `IP_RECVTTL`): the TTL of an IPv4 datagram, an `INT`.
    pub const IP_HOPLIMIT: i32 = 21;
    /// `IPV6_PKTINFO`: `IN6_PKTINFO` (`IN6_ADDR ipi6_addr; ULONG ipi6_ifindex;`, 20 bytes).
    pub const IPV6_PKTINFO: i32 = 19;
    /// `IPV6_HOPLIMIT`: the hop limit of an IPv6 datagram, an `INT`.
    pub const IPV6_HOPLIMIT: i32 = 21;
    /// `UDP_SEND_MSG_SIZE`: segment size for UDP send offload (a `DWORD`).
    pub const UDP_SEND_MSG_SIZE: i32 = 2;
    /// `UDP_COALESCED_INFO`: segment size of a coalesced received datagram (a `DWORD`).
    pub const UDP_COALESCED_INFO: i32 = 3;
}

/// Flags of `WskReceiveFrom`'s `*ControlFlags` and of `WskReceiveFromEvent`'s `Flags`.
pub mod msg {
    /// `MSG_TRUNC`: the datagram was larger than the buffer; the rest was discarded.
    pub const MSG_TRUNC: u32 = 0x0100;
    /// `MSG_CTRUNC`: the control information did not fit the control buffer.
    pub const MSG_CTRUNC: u32 = 0x0200;
    /// `MSG_BCAST`: the datagram was sent to a broadcast address.
    pub const MSG_BCAST: u32 = 0x0400;
    /// `MSG_MCAST`: the datagram was sent to a multicast address.
    pub const MSG_MCAST: u32 = 0x0800;
}

/// Size of `WSACMSGHDR` on 64-bit Windows (`SIZE_T`, `INT`, `INT`).
pub const CMSGHDR_SIZE: usize = 16;
/// Alignment of headers and data (`TYPE_ALIGNMENT(WSACMSGHDR)`, `MAX_NATURAL_ALIGNMENT`).
pub const CMSG_ALIGN: usize = 8;

const fn align(n: usize) -> usize {
    (n + CMSG_ALIGN - 1) & !(CMSG_ALIGN - 1)
}

/// `WSA_CMSG_LEN(data_len)`: the `cmsg_len` of a message with `data_len` bytes of data.
pub const fn cmsg_len(data_len: usize) -> usize {
    CMSGHDR_SIZE + data_len
}

/// `WSA_CMSG_SPACE(data_len)`: the bytes a message with `data_len` bytes of data takes
/// in a control buffer, padding included.
pub const fn cmsg_space(data_len: usize) -> usize {
    align(CMSGHDR_SIZE + align(data_len))
}

/// One control message, typed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ControlMessage {
    /// `IP_PKTINFO` (an IPv4 `addr`) or `IPV6_PKTINFO` (an IPv6 `addr`).
    ///
    /// Received: the destination address of the datagram and the interface it arrived
    /// on. Sent: the source address to send from (unspecified: the routed one) and the
    /// interface to send on (0: the routed one).
    PacketInfo {
        /// `ipi_addr` / `ipi6_addr`.
        addr: IpAddr,
        /// `ipi_ifindex` / `ipi6_ifindex` (0: any).
        interface: u32,
    },
    /// `IPPROTO_IP` / `IP_HOPLIMIT` (21): the TTL of an IPv4 datagram (sent: the TTL to
    /// use; `IP_TTL` (4) is accepted on send as well).
    Ttl(i32),
    /// `IPPROTO_IPV6` / `IPV6_HOPLIMIT`: the hop limit of an IPv6 datagram.
    HopLimit(i32),
    /// `IPPROTO_UDP` / `UDP_SEND_MSG_SIZE` on send: the buffer is a run of datagrams of
    /// this size (the last may be shorter), sent with segmentation offload (GSO).
    SendMessageSize(u32),
    /// `IPPROTO_UDP` / `UDP_COALESCED_INFO` on receive: the datagram is several
    /// coalesced ones of this size.
    CoalescedInfo(u32),
    /// Anything else, kept as the client wrote it (Windows level and type numbers).
    Other {
        /// `cmsg_level`.
        level: i32,
        /// `cmsg_type`.
        kind: i32,
        /// The data, without padding.
        data: Vec<u8>,
    },
}

impl ControlMessage {
    /// The Windows `(cmsg_level, cmsg_type)` of this message.
    pub fn level_and_type(&self) -> (i32, i32) {
        use consts::*;
        match self {
            ControlMessage::PacketInfo { addr: IpAddr::V4(_), .. } => (IPPROTO_IP, IP_PKTINFO),
            ControlMessage::PacketInfo { addr: IpAddr::V6(_), .. } => (IPPROTO_IPV6, IPV6_PKTINFO),
            ControlMessage::Ttl(_) => (IPPROTO_IP, IP_HOPLIMIT),
            ControlMessage::HopLimit(_) => (IPPROTO_IPV6, IPV6_HOPLIMIT),
            ControlMessage::SendMessageSize(_) => (IPPROTO_UDP, UDP_SEND_MSG_SIZE),
            ControlMessage::CoalescedInfo(_) => (IPPROTO_UDP, UDP_COALESCED_INFO),
            ControlMessage::Other { level, kind, .. } => (*level, *kind),
        }
    }

    /// The message's data in the Windows layout (native byte order for integers,
    /// network order for addresses, as in memory on Windows).
    pub fn data(&self) -> Vec<u8> {
        match self {
            ControlMessage::PacketInfo { addr: IpAddr::V4(a), interface } => {
                let mut d = a.octets().to_vec();
                d.extend_from_slice(&interface.to_ne_bytes());
                d
            }
            ControlMessage::PacketInfo { addr: IpAddr::V6(a), interface } => {
                let mut d = a.octets().to_vec();
                d.extend_from_slice(&interface.to_ne_bytes());
                d
            }
            ControlMessage::Ttl(v) | ControlMessage::HopLimit(v) => v.to_ne_bytes().to_vec(),
            ControlMessage::SendMessageSize(v) | ControlMessage::CoalescedInfo(v) => v.to_ne_bytes().to_vec(),
            ControlMessage::Other { data, .. } => data.clone(),
        }
    }

    /// `WSA_CMSG_SPACE` of this message: the bytes it takes in a control buffer.
    pub fn space(&self) -> usize {
        cmsg_space(self.data_len())
    }

    fn data_len(&self) -> usize {
        match self {
            ControlMessage::PacketInfo { addr: IpAddr::V4(_), .. } => 8,
            ControlMessage::PacketInfo { addr: IpAddr::V6(_), .. } => 20,
            ControlMessage::Ttl(_)
            | ControlMessage::HopLimit(_)
            | ControlMessage::SendMessageSize(_)
            | ControlMessage::CoalescedInfo(_) => 4,
            ControlMessage::Other { data, .. } => data.len(),
        }
    }

    /// Decodes one message from its Windows level, type and data.
    ///
    /// # Errors
    /// `STATUS_INVALID_PARAMETER` when a known message has data of the wrong size.
    pub fn decode(level: i32, kind: i32, data: &[u8]) -> Result<ControlMessage, NtStatus> {
        use consts::*;
        let int =
            |data: &[u8]| -> Result<[u8; 4], NtStatus> { data.try_into().map_err(|_| NtStatus::INVALID_PARAMETER) };
        Ok(match (level, kind) {
            (IPPROTO_IP, IP_PKTINFO) => {
                if data.len() != 8 {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                let addr: [u8; 4] = data[..4].try_into().expect("length checked");
                let interface = u32::from_ne_bytes(data[4..8].try_into().expect("length checked"));
                ControlMessage::PacketInfo { addr: IpAddr::V4(Ipv4Addr::from(addr)), interface }
            }
            (IPPROTO_IPV6, IPV6_PKTINFO) => {
                if data.len() != 20 {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                let addr: [u8; 16] = data[..16].try_into().expect("length checked");
                let interface = u32::from_ne_bytes(data[16..20].try_into().expect("length checked"));
                ControlMessage::PacketInfo { addr: IpAddr::V6(Ipv6Addr::from(addr)), interface }
            }
            (IPPROTO_IP, IP_HOPLIMIT | IP_TTL) => ControlMessage::Ttl(i32::from_ne_bytes(int(data)?)),
            (IPPROTO_IPV6, IPV6_HOPLIMIT) => ControlMessage::HopLimit(i32::from_ne_bytes(int(data)?)),
            (IPPROTO_UDP, UDP_SEND_MSG_SIZE) => ControlMessage::SendMessageSize(u32::from_ne_bytes(int(data)?)),
            _ => ControlMessage::Other { level, kind, data: data.to_vec() },
        })
    }
}

/// Reads a control buffer in the Windows layout, as `WSA_CMSG_FIRSTHDR` /
/// `WSA_CMSG_NXTHDR` walk it: a header starts at every multiple of 8 that the previous
/// message's `cmsg_len` reaches, and fewer than 16 bytes left end the walk.
///
/// `UDP_COALESCED_INFO` is a receive-only message: read from a send buffer it stays
/// [`ControlMessage::Other`].
///
/// # Errors
/// `STATUS_INVALID_PARAMETER` for a `cmsg_len` shorter than the header or running past
/// the buffer, and for a known message with data of the wrong size.
pub fn parse(buf: &[u8]) -> Result<Vec<ControlMessage>, NtStatus> {
    let mut out = Vec::new();
    let mut at = 0;
    while buf.len().saturating_sub(at) >= CMSGHDR_SIZE {
        let header = &buf[at..at + CMSGHDR_SIZE];
        let len = u64::from_ne_bytes(header[0..8].try_into().expect("8 bytes"));
        let level = i32::from_ne_bytes(header[8..12].try_into().expect("4 bytes"));
        let kind = i32::from_ne_bytes(header[12..16].try_into().expect("4 bytes"));
        let len = usize::try_from(len).map_err(|_| NtStatus::INVALID_PARAMETER)?;
        if len < CMSGHDR_SIZE || len > buf.len() - at {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        out.push(ControlMessage::decode(level, kind, &buf[at + CMSGHDR_SIZE..at + len])?);
        at += align(len);
    }
    Ok(out)
}

/// The bytes `messages` take in a control buffer (the sum of their `WSA_CMSG_SPACE`).
pub fn encoded_len(messages: &[ControlMessage]) -> usize {
    messages.iter().map(ControlMessage::space).sum()
}

/// Writes `messages` in the Windows layout (padding zeroed).
pub fn encode(messages: &[ControlMessage]) -> Vec<u8> {
    let mut out = vec![0u8; encoded_len(messages)];
    let (written, truncated) = encode_into(messages, &mut out);
    debug_assert!(!truncated && written == out.len());
    out
}

/// Writes as many whole messages, in order, as fit into `out`; returns the bytes written
/// and whether some did not fit (`MSG_CTRUNC`).
pub fn encode_into(messages: &[ControlMessage], out: &mut [u8]) -> (usize, bool) {
    let mut at = 0;
    for m in messages {
        let space = m.space();
        if space > out.len() - at {
            return (at, true);
        }
        let data = m.data();
        let (level, kind) = m.level_and_type();
        let slot = &mut out[at..at + space];
        slot.fill(0);
        slot[0..8].copy_from_slice(&(cmsg_len(data.len()) as u64).to_ne_bytes());
        slot[8..12].copy_from_slice(&level.to_ne_bytes());
        slot[12..16].copy_from_slice(&kind.to_ne_bytes());
        slot[CMSGHDR_SIZE..CMSGHDR_SIZE + data.len()].copy_from_slice(&data);
        at += space;
    }
    (at, false)
}

/// Keeps the leading messages that fit into a control buffer of `capacity` bytes; the
/// flag says whether any were left out (`MSG_CTRUNC`).
pub fn fit(mut messages: Vec<ControlMessage>, capacity: usize) -> (Vec<ControlMessage>, bool) {
    let mut used = 0;
    let keep = messages
        .iter()
        .take_while(|m| {
            used += m.space();
            used <= capacity
        })
        .count();
    let truncated = keep < messages.len();
    messages.truncate(keep);
    (messages, truncated)
}

#[cfg(test)]
mod tests {
    use super::consts::*;
    use super::*;
    use proptest::prelude::*;

    fn header(len: usize, level: i32, kind: i32) -> Vec<u8> {
        let mut h = (len as u64).to_ne_bytes().to_vec();
        h.extend_from_slice(&level.to_ne_bytes());
        h.extend_from_slice(&kind.to_ne_bytes());
        h
    }

    #[test]
    fn sizes_match_the_windows_macros() {
        assert_eq!(cmsg_len(8), 24);
        assert_eq!(cmsg_space(8), 24);
        assert_eq!(cmsg_len(20), 36);
        assert_eq!(cmsg_space(20), 40);
        assert_eq!(cmsg_space(4), 24);
        assert_eq!(cmsg_space(0), 16);
    }

    #[test]
    fn in_pktinfo_is_the_windows_layout() {
        let m = ControlMessage::PacketInfo { addr: "10.1.2.3".parse().unwrap(), interface: 7 };
        let bytes = encode(std::slice::from_ref(&m));
        let mut expected = header(24, IPPROTO_IP, IP_PKTINFO);
        expected.extend_from_slice(&[10, 1, 2, 3]);
        expected.extend_from_slice(&7u32.to_ne_bytes());
        assert_eq!(bytes, expected);
        assert_eq!(parse(&bytes).unwrap(), vec![m]);
    }

    #[test]
    fn in6_pktinfo_is_padded_to_eight() {
        let m = ControlMessage::PacketInfo { addr: "::1".parse().unwrap(), interface: 1 };
        let bytes = encode(std::slice::from_ref(&m));
        assert_eq!(bytes.len(), 40);
        assert_eq!(u64::from_ne_bytes(bytes[..8].try_into().unwrap()), 36);
        assert_eq!(i32::from_ne_bytes(bytes[8..12].try_into().unwrap()), IPPROTO_IPV6);
        assert_eq!(&bytes[36..], &[0, 0, 0, 0]);
        assert_eq!(parse(&bytes).unwrap(), vec![m]);
    }

    #[test]
    fn several_messages_round_trip() {
        let msgs = vec![
            ControlMessage::PacketInfo { addr: "127.0.0.1".parse().unwrap(), interface: 1 },
            ControlMessage::SendMessageSize(1200),
            ControlMessage::Other { level: IPPROTO_IP, kind: 1, data: vec![] },
            ControlMessage::HopLimit(64),
            ControlMessage::Other { level: 99, kind: 5, data: vec![1, 2, 3] },
            ControlMessage::Ttl(3),
        ];
        let bytes = encode(&msgs);
        assert_eq!(bytes.len(), encoded_len(&msgs));
        assert_eq!(parse(&bytes).unwrap(), msgs);
    }

    #[test]
    fn ip_ttl_is_accepted_on_send_and_coalesced_info_is_receive_only() {
        let mut b = header(20, IPPROTO_IP, IP_TTL);
        b.extend_from_slice(&9i32.to_ne_bytes());
        assert_eq!(parse(&b).unwrap(), vec![ControlMessage::Ttl(9)]);
        let m = ControlMessage::CoalescedInfo(1000);
        assert_eq!(
            parse(&encode(std::slice::from_ref(&m))).unwrap(),
            vec![ControlMessage::Other {
                level: IPPROTO_UDP,
                kind: UDP_COALESCED_INFO,
                data: 1000u32.to_ne_bytes().to_vec()
            }]
        );
    }

    #[test]
    fn malformed_buffers_are_refused() {
        // cmsg_len shorter than the header.
        assert_eq!(parse(&header(8, 0, 19)), Err(NtStatus::INVALID_PARAMETER));
        // cmsg_len past the end.
        assert_eq!(parse(&header(24, 0, 19)), Err(NtStatus::INVALID_PARAMETER));
        // A known type with the wrong size.
        let mut b = header(20, IPPROTO_IP, IP_PKTINFO);
        b.extend_from_slice(&[0; 4]);
        assert_eq!(parse(&b), Err(NtStatus::INVALID_PARAMETER));
        // A length that does not fit in usize arithmetic.
        assert_eq!(parse(&header(usize::MAX, 0, 19)), Err(NtStatus::INVALID_PARAMETER));
    }

    #[test]
    fn short_tails_end_the_walk() {
        assert_eq!(parse(&[]).unwrap(), vec![]);
        assert_eq!(parse(&[0u8; 15]).unwrap(), vec![]);
        let mut b = encode(&[ControlMessage::HopLimit(1)]);
        b.extend_from_slice(&[0xff; 15]);
        assert_eq!(parse(&b).unwrap(), vec![ControlMessage::HopLimit(1)]);
    }

    #[test]
    fn truncation_keeps_whole_leading_messages() {
        let msgs = vec![
            ControlMessage::PacketInfo { addr: "::1".parse().unwrap(), interface: 1 },
            ControlMessage::HopLimit(64),
        ];
        assert_eq!(fit(msgs.clone(), 64), (msgs.clone(), false));
        assert_eq!(fit(msgs.clone(), 63), (msgs[..1].to_vec(), true));
        assert_eq!(fit(msgs.clone(), 39), (vec![], true));
        assert_eq!(fit(vec![], 0), (vec![], false));
        let mut out = [0xaau8; 50];
        assert_eq!(encode_into(&msgs, &mut out), (40, true));
        assert_eq!(parse(&out[..40]).unwrap(), msgs[..1].to_vec());
        assert_eq!(&out[40..], &[0xaa; 10], "bytes past the last whole message are untouched");
    }

    proptest! {
        #[test]
        fn encode_then_parse_is_identity(
            items in proptest::collection::vec((0i32..3, any::<u32>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..6)
        ) {
            let msgs: Vec<ControlMessage> = items
                .into_iter()
                .map(|(k, v, data)| match k {
                    0 => ControlMessage::PacketInfo { addr: IpAddr::V4(Ipv4Addr::from(v)), interface: v ^ 1 },
                    1 => ControlMessage::HopLimit(v as i32),
                    _ => ControlMessage::Other { level: 1000, kind: v as i32, data },
                })
                .collect();
            let bytes = encode(&msgs);
            prop_assert_eq!(bytes.len() % CMSG_ALIGN, 0);
            prop_assert_eq!(parse(&bytes).unwrap(), msgs);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&bytes);
        }
    }
}
