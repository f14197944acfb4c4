//! Windows `SOCKADDR_IN` / `SOCKADDR_IN6` encoding at the WSK boundary.
//!
//! WSK clients pass and receive addresses in the Windows layout with Windows family
//! numbers (`AF_INET6` is 23, not Linux's 10), so addresses are converted to and from
//! [`std::net::SocketAddr`] exactly here and nowhere else.
//!
//! Layouts (multi-byte fields not marked "network order" are in host order, as a C
//! client on the same host sees them; that is little-endian, matching Windows, on
//! x86-64 and aarch64):
//!
//! | Struct | Bytes |
//! |---|---|
//! | `SOCKADDR_IN` (16) | `u16` family, `u16` port (network order), `[u8; 4]` address, `[u8; 8]` zero |
//! | `SOCKADDR_IN6` (28) | `u16` family, `u16` port (network order), `u32` flow info (network order), `[u8; 16]` address, `u32` scope id |

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::status::NtStatus;

/// Windows `AF_UNSPEC`.
pub const AF_UNSPEC: u16 = 0;
/// Windows `AF_INET`.
pub const AF_INET: u16 = 2;
/// Windows `AF_INET6` (23; differs from Linux's 10).
pub const AF_INET6: u16 = 23;

/// `sizeof(SOCKADDR_IN)` on Windows.
pub const SOCKADDR_IN_LEN: usize = 16;
/// `sizeof(SOCKADDR_IN6)` on Windows.
pub const SOCKADDR_IN6_LEN: usize = 28;
/// `sizeof(SOCKADDR_STORAGE)` on Windows; large enough for any address this module encodes.
pub const SOCKADDR_STORAGE_LEN: usize = 128;

/// The IP address families a WSK socket can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressFamily {
    /// IPv4 (`AF_INET`).
    V4,
    /// IPv6 (`AF_INET6`).
    V6,
}

impl AddressFamily {
    /// Parses a Windows `ADDRESS_FAMILY` value.
    ///
    /// # Errors
    ///
    /// [`NtStatus::NOT_SUPPORTED`] for anything other than [`AF_INET`] or [`AF_INET6`]
    /// (including [`AF_UNSPEC`]).
    pub fn from_windows(family: u16) -> Result<Self, NtStatus> {
        match family {
            AF_INET => Ok(AddressFamily::V4),
            AF_INET6 => Ok(AddressFamily::V6),
            _ => Err(NtStatus::NOT_SUPPORTED),
        }
    }

    /// The Windows `ADDRESS_FAMILY` value: [`AF_INET`] or [`AF_INET6`].
    pub fn to_windows(self) -> u16 {
        match self {
            AddressFamily::V4 => AF_INET,
            AddressFamily::V6 => AF_INET6,
        }
    }

    /// The family of `addr`.
    pub fn of(addr: &SocketAddr) -> Self {
        match addr {
            SocketAddr::V4(_) => AddressFamily::V4,
            SocketAddr::V6(_) => AddressFamily::V6,
        }
    }

    /// The size of this family's Windows socket address structure:
    /// [`SOCKADDR_IN_LEN`] or [`SOCKADDR_IN6_LEN`].
    pub fn sockaddr_len(self) -> usize {
        match self {
            AddressFamily::V4 => SOCKADDR_IN_LEN,
            AddressFamily::V6 => SOCKADDR_IN6_LEN,
        }
    }

    /// The wildcard address of this family (`0.0.0.0` or `::`) with the given port.
    pub fn unspecified(self, port: u16) -> SocketAddr {
        match self {
            AddressFamily::V4 => SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
            AddressFamily::V6 => SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)),
        }
    }
}

/// Writes `addr` into the start of `out` as a Windows `SOCKADDR_IN` (16 bytes) or
/// `SOCKADDR_IN6` (28 bytes) and returns the number of bytes written.
///
/// Bytes of `out` after the structure are left untouched. For IPv6 the flow info is
/// written in network order and the scope id in host order, as Windows does.
///
/// # Errors
///
/// [`NtStatus::BUFFER_TOO_SMALL`] if `out` is shorter than the structure; `out` is then
/// left unmodified.
pub fn encode(addr: &SocketAddr, out: &mut [u8]) -> Result<usize, NtStatus> {
    let len = AddressFamily::of(addr).sockaddr_len();
    let out = out.get_mut(..len).ok_or(NtStatus::BUFFER_TOO_SMALL)?;
    write(addr, out);
    Ok(len)
}

/// Writes the structure for `addr` into `out`, which is exactly `sockaddr_len()` long.
fn write(addr: &SocketAddr, out: &mut [u8]) {
    out[0..2].copy_from_slice(&AddressFamily::of(addr).to_windows().to_ne_bytes());
    out[2..4].copy_from_slice(&addr.port().to_be_bytes());
    match addr {
        SocketAddr::V4(v4) => {
            out[4..8].copy_from_slice(&v4.ip().octets());
            out[8..16].fill(0);
        }
        SocketAddr::V6(v6) => {
            out[4..8].copy_from_slice(&v6.flowinfo().to_be_bytes());
            out[8..24].copy_from_slice(&v6.ip().octets());
            out[24..28].copy_from_slice(&v6.scope_id().to_ne_bytes());
        }
    }
}

/// Encodes `addr` like [`encode`] into a zero-filled array large enough for either
/// family; returns the array and the number of meaningful bytes (16 or 28).
pub fn to_bytes(addr: &SocketAddr) -> ([u8; SOCKADDR_IN6_LEN], usize) {
    let mut bytes = [0u8; SOCKADDR_IN6_LEN];
    let len = AddressFamily::of(addr).sockaddr_len();
    write(addr, &mut bytes[..len]);
    (bytes, len)
}

/// Parses a Windows `SOCKADDR_IN` / `SOCKADDR_IN6` from the start of `bytes`.
///
/// The family is read from the first two bytes; trailing bytes beyond the family's
/// structure size are ignored, as is the `sin_zero` padding of `SOCKADDR_IN`.
///
/// # Errors
///
/// - [`NtStatus::INVALID_PARAMETER`] if `bytes` is shorter than 2 bytes, or shorter than
///   the structure of the family it names.
/// - [`NtStatus::NOT_SUPPORTED`] if the family is neither [`AF_INET`] nor [`AF_INET6`]
///   (same as [`AddressFamily::from_windows`]).
pub fn decode(bytes: &[u8]) -> Result<SocketAddr, NtStatus> {
    let family = match bytes {
        [a, b, ..] => u16::from_ne_bytes([*a, *b]),
        _ => return Err(NtStatus::INVALID_PARAMETER),
    };
    let family = AddressFamily::from_windows(family)?;
    let bytes = bytes.get(..family.sockaddr_len()).ok_or(NtStatus::INVALID_PARAMETER)?;
    let port = u16::from_be_bytes([bytes[2], bytes[3]]);
    Ok(match family {
        AddressFamily::V4 => {
            let ip = Ipv4Addr::new(bytes[4], bytes[5], bytes[6], bytes[7]);
            SocketAddr::V4(SocketAddrV4::new(ip, port))
        }
        AddressFamily::V6 => {
            let flowinfo = u32::from_be_bytes(array(&bytes[4..8]));
            let ip = Ipv6Addr::from(array::<16>(&bytes[8..24]));
            let scope_id = u32::from_ne_bytes(array(&bytes[24..28]));
            SocketAddr::V6(SocketAddrV6::new(ip, port, flowinfo, scope_id))
        }
    })
}

/// Copies a slice whose length the caller has already checked into an array.
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v4(a: [u8; 4], port: u16) -> SocketAddr {
        SocketAddr::from((a, port))
    }

    fn v6(ip: Ipv6Addr, port: u16, flowinfo: u32, scope_id: u32) -> SocketAddr {
        SocketAddr::V6(SocketAddrV6::new(ip, port, flowinfo, scope_id))
    }

    #[test]
    fn family_conversions() {
        assert_eq!(AddressFamily::from_windows(AF_INET), Ok(AddressFamily::V4));
        assert_eq!(AddressFamily::from_windows(AF_INET6), Ok(AddressFamily::V6));
        for bad in [AF_UNSPEC, 1, 10 /* Linux AF_INET6 */, 0xFFFF] {
            assert_eq!(AddressFamily::from_windows(bad), Err(NtStatus::NOT_SUPPORTED));
        }
        assert_eq!(AddressFamily::V4.to_windows(), 2);
        assert_eq!(AddressFamily::V6.to_windows(), 23);
        assert_eq!(AddressFamily::V4.sockaddr_len(), 16);
        assert_eq!(AddressFamily::V6.sockaddr_len(), 28);
        assert_eq!(AddressFamily::of(&v4([1, 2, 3, 4], 5)), AddressFamily::V4);
        assert_eq!(AddressFamily::of(&v6(Ipv6Addr::LOCALHOST, 5, 0, 0)), AddressFamily::V6);
        assert_eq!(AddressFamily::V4.unspecified(80), "0.0.0.0:80".parse().unwrap());
        assert_eq!(AddressFamily::V6.unspecified(0), "[::]:0".parse().unwrap());
        const { assert!(SOCKADDR_STORAGE_LEN >= SOCKADDR_IN6_LEN) };
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn known_v4_encoding() {
        let (bytes, len) = to_bytes(&v4([127, 0, 0, 1], 80));
        assert_eq!(len, 16);
        assert_eq!(bytes[..16], [2, 0, 0, 80, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes[16..], [0; 12]);
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn known_v6_encoding() {
        let addr = v6(Ipv6Addr::LOCALHOST, 443, 0x0001_2345, 7);
        let (bytes, len) = to_bytes(&addr);
        assert_eq!(len, 28);
        assert_eq!(bytes[0..2], [23, 0]);
        assert_eq!(bytes[2..4], [0x01, 0xBB]);
        assert_eq!(bytes[4..8], [0x00, 0x01, 0x23, 0x45]);
        let mut ip = [0u8; 16];
        ip[15] = 1;
        assert_eq!(bytes[8..24], ip);
        assert_eq!(bytes[24..28], [7, 0, 0, 0]);
    }

    #[test]
    fn encode_into_larger_buffer_leaves_tail() {
        let mut out = [0xAAu8; SOCKADDR_STORAGE_LEN];
        assert_eq!(encode(&v4([10, 0, 0, 1], 1), &mut out), Ok(16));
        assert!(out[16..].iter().all(|&b| b == 0xAA));
        assert_eq!(decode(&out), Ok(v4([10, 0, 0, 1], 1)));
    }

    #[test]
    fn encode_buffer_too_small() {
        let mut out = [0x55u8; 27];
        assert_eq!(encode(&v6(Ipv6Addr::LOCALHOST, 1, 0, 0), &mut out), Err(NtStatus::BUFFER_TOO_SMALL));
        assert_eq!(out, [0x55; 27], "buffer modified on error");
        assert_eq!(encode(&v4([1, 1, 1, 1], 1), &mut out[..15]), Err(NtStatus::BUFFER_TOO_SMALL));
        assert_eq!(encode(&v4([1, 1, 1, 1], 1), &mut []), Err(NtStatus::BUFFER_TOO_SMALL));
        assert_eq!(encode(&v4([1, 1, 1, 1], 1), &mut out[..16]), Ok(16));
    }

    #[test]
    fn decode_errors() {
        assert_eq!(decode(&[]), Err(NtStatus::INVALID_PARAMETER));
        assert_eq!(decode(&[2]), Err(NtStatus::INVALID_PARAMETER));
        let (v4_bytes, _) = to_bytes(&v4([1, 2, 3, 4], 5));
        assert_eq!(decode(&v4_bytes[..15]), Err(NtStatus::INVALID_PARAMETER));
        let (v6_bytes, _) = to_bytes(&v6(Ipv6Addr::LOCALHOST, 5, 0, 0));
        assert_eq!(decode(&v6_bytes[..27]), Err(NtStatus::INVALID_PARAMETER));
        assert_eq!(decode(&v6_bytes[..16]), Err(NtStatus::INVALID_PARAMETER));
        for family in [AF_UNSPEC, 10, 0xFFFF] {
            let mut bytes = [0u8; SOCKADDR_STORAGE_LEN];
            bytes[..2].copy_from_slice(&family.to_ne_bytes());
            assert_eq!(decode(&bytes), Err(NtStatus::NOT_SUPPORTED));
            assert_eq!(decode(&bytes[..2]), Err(NtStatus::NOT_SUPPORTED));
        }
    }

    #[test]
    fn decode_ignores_sin_zero() {
        let (mut bytes, _) = to_bytes(&v4([192, 168, 1, 2], 8080));
        bytes[8..16].fill(0xFF);
        assert_eq!(decode(&bytes[..16]), Ok(v4([192, 168, 1, 2], 8080)));
    }

    fn any_addr() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| v4(ip, port)),
            (any::<[u8; 16]>(), any::<u16>(), any::<u32>(), any::<u32>()).prop_map(|(ip, port, flow, scope)| v6(
                Ipv6Addr::from(ip),
                port,
                flow,
                scope
            )),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(addr in any_addr(), extra in 0usize..=100) {
            let family = AddressFamily::of(&addr);
            let mut out = vec![0u8; family.sockaddr_len() + extra];
            let len = encode(&addr, &mut out).unwrap();
            prop_assert_eq!(len, family.sockaddr_len());
            prop_assert_eq!(decode(&out), Ok(addr));
            prop_assert_eq!(decode(&out[..len]), Ok(addr));
            prop_assert_eq!(u16::from_ne_bytes([out[0], out[1]]), family.to_windows());
            let (bytes, n) = to_bytes(&addr);
            prop_assert_eq!(n, len);
            prop_assert_eq!(&bytes[..n], &out[..len]);
            prop_assert_eq!(decode(&out[..len - 1]), Err(NtStatus::INVALID_PARAMETER));
        }
    }
}
