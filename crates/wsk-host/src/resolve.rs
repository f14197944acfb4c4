//! Name resolution over the host resolver: `getaddrinfo(3)` and `getnameinfo(3)`, which
//! follow the host's `nsswitch.conf` (`/etc/hosts`, DNS, ...).
//!
//! Both calls **block** (a DNS query may take seconds); the runtime calls them on its
//! resolver threads only. Hints and flags arrive with Windows values
//! ([`wsk_core::resolve`]) and are translated here to glibc's (`AF_INET6` 23 → 10,
//! `AI_V4MAPPED` 0x800 → 0x8, `NI_NUMERICHOST` 0x2 → 0x1, ...); results go back as
//! `std::net` addresses. `EAI_*` failures become [`ResolveError`]s.

use std::ffi::{CStr, CString};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::ptr;

use socket2::SockAddr;
use wsk_core::addr::AddressFamily;
use wsk_core::resolve::{ai, ni, AddrHints, NameInfo, NameInfoFlags, ResolveError, ResolvedAddr};

/// glibc's `EAI_ADDRFAMILY` (the node has no address of the family asked for); a GNU
/// extension the `libc` crate does not name.
const EAI_ADDRFAMILY: i32 = -9;

/// Windows `AI_*` bits to glibc's. Bits without a host meaning were refused or are
/// ignored before this (see [`ai::IGNORED`]).
fn host_ai_flags(windows: u32) -> i32 {
    let table = [
        (ai::AI_PASSIVE, libc::AI_PASSIVE),
        (ai::AI_CANONNAME, libc::AI_CANONNAME),
        // The fully qualified name is the host's canonical name here.
        (ai::AI_FQDN, libc::AI_CANONNAME),
        (ai::AI_NUMERICHOST, libc::AI_NUMERICHOST),
        (ai::AI_NUMERICSERV, libc::AI_NUMERICSERV),
        (ai::AI_ALL, libc::AI_ALL),
        (ai::AI_ADDRCONFIG, libc::AI_ADDRCONFIG),
        (ai::AI_V4MAPPED, libc::AI_V4MAPPED),
    ];
    table.iter().filter(|(w, _)| windows & w != 0).fold(0, |acc, (_, h)| acc | h)
}

/// Windows `NI_*` bits to glibc's.
fn host_ni_flags(flags: NameInfoFlags) -> i32 {
    let table = [
        (ni::NI_NOFQDN, libc::NI_NOFQDN),
        (ni::NI_NUMERICHOST, libc::NI_NUMERICHOST),
        (ni::NI_NAMEREQD, libc::NI_NAMEREQD),
        (ni::NI_NUMERICSERV, libc::NI_NUMERICSERV),
        (ni::NI_DGRAM, libc::NI_DGRAM),
    ];
    table.iter().filter(|(w, _)| flags.has(*w)).fold(0, |acc, (_, h)| acc | h)
}

/// An `EAI_*` code (`errno` for `EAI_SYSTEM`) as the error the backend returns.
fn gai_error(rc: i32, errno: Option<i32>) -> io::Error {
    let e = match rc {
        libc::EAI_NONAME | libc::EAI_NODATA | EAI_ADDRFAMILY => ResolveError::NoSuchName,
        libc::EAI_SERVICE => ResolveError::NoSuchService,
        libc::EAI_AGAIN => ResolveError::TryAgain,
        libc::EAI_FAMILY | libc::EAI_SOCKTYPE => ResolveError::NotSupported,
        libc::EAI_BADFLAGS => ResolveError::BadFlags,
        libc::EAI_MEMORY => ResolveError::NoMemory,
        libc::EAI_OVERFLOW => ResolveError::Overflow,
        libc::EAI_SYSTEM => match errno {
            Some(errno) => ResolveError::System(errno),
            None => ResolveError::Failed,
        },
        _ => ResolveError::Failed,
    };
    e.into_io()
}

/// A name as the C string the resolver takes: an interior NUL names nothing.
fn c_name(name: Option<&str>) -> io::Result<Option<CString>> {
    name.map(|n| CString::new(n).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL inside a name")))
        .transpose()
}

/// Reads one `getaddrinfo` result's address (`None` for families other than IP).
///
/// # Safety
/// `addr` points to `len` readable bytes of a socket address of the host's layout.
unsafe fn socket_addr(addr: *const libc::sockaddr, len: libc::socklen_t) -> Option<SocketAddr> {
    if addr.is_null() {
        return None;
    }
    // SAFETY: per the caller, `addr` holds at least a family; each arm checks the length
    // before reading the family's structure (unaligned reads: the buffer is glibc's).
    unsafe {
        match i32::from((*addr).sa_family) {
            libc::AF_INET if len as usize >= std::mem::size_of::<libc::sockaddr_in>() => {
                let sin = ptr::read_unaligned(addr as *const libc::sockaddr_in);
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
            }
            libc::AF_INET6 if len as usize >= std::mem::size_of::<libc::sockaddr_in6>() => {
                let sin6 = ptr::read_unaligned(addr as *const libc::sockaddr_in6);
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Some(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(sin6.sin6_port),
                    u32::from_be(sin6.sin6_flowinfo),
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}

/// `getaddrinfo` with Windows hints. With no socket type and no protocol in the hints,
/// glibc gives one result per address *and* type (stream, datagram, raw); Windows gives
/// one per address with type and protocol 0, so the duplicates are dropped here.
pub(crate) fn resolve(node: Option<&str>, service: Option<&str>, hints: &AddrHints) -> io::Result<Vec<ResolvedAddr>> {
    // RFC 6761: names under `invalid.` never exist, and no query may leave for them
    // (glibc would ask the DNS servers, which a machine without a network cannot reach).
    if node.is_some_and(wsk_core::resolve::is_special_invalid) {
        return Err(gai_error(libc::EAI_NONAME, None));
    }
    let node = c_name(node)?;
    let service = c_name(service)?;
    // SAFETY: addrinfo is plain old data; all-zero (NULL pointers) is the documented
    // "no hint" value of every member.
    let mut h: libc::addrinfo = unsafe { std::mem::zeroed() };
    h.ai_flags = host_ai_flags(hints.flags);
    h.ai_family = match hints.family {
        None => libc::AF_UNSPEC,
        Some(AddressFamily::V4) => libc::AF_INET,
        Some(AddressFamily::V6) => libc::AF_INET6,
    };
    h.ai_socktype = hints.socket_type;
    h.ai_protocol = hints.protocol;
    let mut list: *mut libc::addrinfo = ptr::null_mut();
    // SAFETY: node and service are NULL or NUL-terminated strings alive for the call; the
    // hints are a live local; `list` receives a list we free below with freeaddrinfo.
    let rc = unsafe {
        libc::getaddrinfo(
            node.as_ref().map_or(ptr::null(), |n| n.as_ptr()),
            service.as_ref().map_or(ptr::null(), |s| s.as_ptr()),
            &h,
            &mut list,
        )
    };
    if rc != 0 {
        return Err(gai_error(rc, io::Error::last_os_error().raw_os_error()));
    }
    let any_type = hints.socket_type == 0 && hints.protocol == 0;
    let mut out: Vec<ResolvedAddr> = Vec::new();
    let mut canonical = None;
    let mut entry = list;
    while !entry.is_null() {
        // SAFETY: `entry` is an element of the list getaddrinfo returned, not yet freed.
        let e = unsafe { &*entry };
        if canonical.is_none() && hints.wants_canonical_name() && !e.ai_canonname.is_null() {
            // SAFETY: glibc's ai_canonname is a NUL-terminated string owned by the list.
            canonical = Some(unsafe { CStr::from_ptr(e.ai_canonname) }.to_string_lossy().into_owned());
        }
        // SAFETY: ai_addr/ai_addrlen describe the entry's address, owned by the list.
        if let Some(addr) = unsafe { socket_addr(e.ai_addr, e.ai_addrlen) } {
            if any_type {
                if !out.iter().any(|r| r.addr == addr) {
                    out.push(ResolvedAddr { addr, socket_type: 0, protocol: 0, canonical_name: None });
                }
            } else {
                out.push(ResolvedAddr {
                    addr,
                    socket_type: e.ai_socktype,
                    protocol: e.ai_protocol,
                    canonical_name: None,
                });
            }
        }
        entry = e.ai_next;
    }
    // SAFETY: `list` came from a successful getaddrinfo and is freed once.
    unsafe { libc::freeaddrinfo(list) };
    if out.is_empty() {
        return Err(ResolveError::NoSuchName.into_io());
    }
    if let Some(first) = out.first_mut() {
        first.canonical_name = canonical;
    }
    Ok(out)
}

/// `getnameinfo` with Windows `NI_*` flags.
pub(crate) fn name_info(addr: SocketAddr, flags: NameInfoFlags) -> io::Result<NameInfo> {
    let sa = SockAddr::from(addr);
    let mut host = [0 as libc::c_char; ni::NI_MAXHOST];
    let mut service = [0 as libc::c_char; ni::NI_MAXSERV];
    // SAFETY: `sa` is a valid host socket address of `sa.len()` bytes; the two buffers are
    // live locals whose lengths are passed with them.
    let rc = unsafe {
        libc::getnameinfo(
            sa.as_ptr(),
            sa.len(),
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            service.as_mut_ptr(),
            service.len() as libc::socklen_t,
            host_ni_flags(flags),
        )
    };
    if rc != 0 {
        return Err(gai_error(rc, io::Error::last_os_error().raw_os_error()));
    }
    // SAFETY: on success getnameinfo NUL-terminated both buffers within their lengths.
    let (host, service) = unsafe { (CStr::from_ptr(host.as_ptr()), CStr::from_ptr(service.as_ptr())) };
    Ok(NameInfo { host: host.to_string_lossy().into_owned(), service: service.to_string_lossy().into_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsk_core::resolve::status_of;
    use wsk_core::status::NtStatus;

    #[test]
    fn flags_translate_to_glibc_values() {
        assert_eq!(host_ai_flags(ai::AI_V4MAPPED | ai::AI_ALL), libc::AI_V4MAPPED | libc::AI_ALL);
        assert_eq!(host_ai_flags(ai::AI_NUMERICSERV), libc::AI_NUMERICSERV);
        assert_eq!(host_ai_flags(ai::AI_FQDN), libc::AI_CANONNAME);
        assert_eq!(host_ai_flags(ai::AI_BYPASS_DNS_CACHE), 0);
        let f = NameInfoFlags(ni::NI_NUMERICHOST | ni::NI_NUMERICSERV);
        assert_eq!(host_ni_flags(f), libc::NI_NUMERICHOST | libc::NI_NUMERICSERV);
        assert_eq!(host_ni_flags(NameInfoFlags(ni::NI_NAMEREQD)), libc::NI_NAMEREQD);
    }

    #[test]
    fn numeric_lookups() {
        let hints = AddrHints { flags: ai::AI_NUMERICHOST, ..AddrHints::default() };
        let r = resolve(Some("127.0.0.1"), Some("12345"), &hints).unwrap();
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].addr, "127.0.0.1:12345".parse().unwrap());
        assert_eq!((r[0].socket_type, r[0].protocol), (0, 0));
        let stream = AddrHints { socket_type: 1, ..hints };
        let r = resolve(Some("::1"), Some("80"), &stream).unwrap();
        assert_eq!(r[0].addr, "[::1]:80".parse().unwrap());
        assert_eq!((r[0].socket_type, r[0].protocol), (1, libc::IPPROTO_TCP));
        // Not a number, and no lookup allowed: no such name.
        let err = resolve(Some("not-a-number"), None, &hints).unwrap_err();
        assert_eq!(status_of(&err), NtStatus::NOT_FOUND);
        let err = resolve(Some("a\0b"), None, &hints).unwrap_err();
        assert_eq!(status_of(&err), NtStatus::INVALID_PARAMETER);
    }

    #[test]
    fn numeric_name_info() {
        let f = NameInfoFlags(ni::NI_NUMERICHOST | ni::NI_NUMERICSERV);
        let n = name_info("127.0.0.1:80".parse().unwrap(), f).unwrap();
        assert_eq!((n.host.as_str(), n.service.as_str()), ("127.0.0.1", "80"));
        let n = name_info("[::1]:443".parse().unwrap(), f).unwrap();
        assert_eq!((n.host.as_str(), n.service.as_str()), ("::1", "443"));
    }
}
