//! Rtl: counted strings, `RtlCompareMemory`, and the IPv4/IPv6 string conversions.
//!
//! The IP routines follow Windows' observable behaviour (as pinned down by Wine's
//! conformance tests of ntdll), including the parts that differ from `inet_pton`:
//!
//! - `RtlIpv4StringToAddress` non-strict accepts the `inet_aton` forms: 1 to 4 parts, each
//!   decimal, octal (leading `0`) or hex (`0x`); the last part fills the remaining bytes.
//!   Strict accepts exactly four decimal parts without leading zeros. Parsing stops at the
//!   first character that cannot continue the address; `*Terminator` points there (also on
//!   failure, at the offending character). A number overflowing 32 bits is an error at the
//!   digit where it wraps.
//! - The `…Ex` parsers need the whole string: `a.b.c.d[:port]`, `addr[%scope]`,
//!   `[addr[%scope]]:port`; ports are 1..=65535 (decimal, `0x` hex or `0` octal) and come back
//!   in network byte order. The IPv4 `Ex` parser stores the address once the address part
//!   parsed, even if the port then is invalid (as Windows does).
//! - IPv6 text is lower-case hex with the longest run (two or more) of zero words
//!   compressed to `::` (the first on ties, RFC 5952), and the last 32 bits as a dotted quad
//!   for IPv4-compatible (`::a.b.c.d`), IPv4-mapped (`::ffff:a.b.c.d`), IPv4-translated
//!   (`::ffff:0:a.b.c.d`) and ISATAP (`…:0:5efe:a.b.c.d`, `…:200:5efe:a.b.c.d`) addresses.
//! - Buffer sizes (`Length`) count characters including the terminating NUL; too small a
//!   buffer gives `STATUS_INVALID_PARAMETER` with `*Length` set to the size needed.
//!
//! NULL pointers give `STATUS_INVALID_PARAMETER` (or NULL for the routines returning a
//! pointer) where Windows would crash.

use std::ffi::c_char;
use std::ptr::null_mut;

use crate::abi::{ANSI_STRING, BOOLEAN, CHAR, IN6_ADDR, IN_ADDR, NTSTATUS, UNICODE_STRING, USHORT, WCHAR};
use crate::guard::{guard, guard_status};

use crate::status::{STATUS_INVALID_PARAMETER, STATUS_SUCCESS};

// ----- counted strings -----

/// Characters before the terminating NUL, at most `max` (not reading further).
///
/// # Safety
/// `p` points to a NUL-terminated string, or to at least `max` readable characters.
unsafe fn strlen<C: Ch>(p: *const C, max: usize) -> usize {
    let mut n = 0;
    // SAFETY: per the caller: reads stop at the NUL or at `max`.
    while n < max && unsafe { p.add(n).read() }.code() != 0 {
        n += 1;
    }
    n
}

/// `UNICODE_STRING` or `ANSI_STRING`.
trait CountedString {
    type Char: Ch;
    /// The longest `Length` (in bytes) `RtlInit…String` sets: longer texts are cut there (as
    /// Windows).
    const MAX_LENGTH: usize;
    fn set(&mut self, length: usize, maximum_length: usize, buffer: *const Self::Char);
}

impl CountedString for UNICODE_STRING {
    type Char = WCHAR;
    const MAX_LENGTH: usize = 0xFFFC;
    fn set(&mut self, length: usize, maximum_length: usize, buffer: *const WCHAR) {
        (self.Length, self.MaximumLength, self.Buffer) = (length as USHORT, maximum_length as USHORT, buffer as *mut _);
    }
}

impl CountedString for ANSI_STRING {
    type Char = CHAR;
    const MAX_LENGTH: usize = 0xFFFD;
    fn set(&mut self, length: usize, maximum_length: usize, buffer: *const CHAR) {
        (self.Length, self.MaximumLength, self.Buffer) = (length as USHORT, maximum_length as USHORT, buffer as *mut _);
    }
}

/// The body of `RtlInitUnicodeString` and `RtlInitAnsiString`: `Length` in bytes without the
/// NUL, `MaximumLength` with it; a NULL source gives 0, 0, NULL.
///
/// # Safety
/// `dest` is NULL or the client's counted string; `source` is NULL or NUL-terminated.
unsafe fn init_string<S: CountedString>(name: &'static str, dest: *mut S, source: *const S::Char) {
    guard(name, (), || {
        if dest.is_null() {
            kerror!("{name}: DestinationString is NULL; ignored");
            return;
        }
        // SAFETY: the client's counted string and NUL-terminated source.
        unsafe {
            if source.is_null() {
                (*dest).set(0, 0, source);
                return;
            }
            let size = std::mem::size_of::<S::Char>();
            let length = (strlen(source, S::MAX_LENGTH / size + 1) * size).min(S::MAX_LENGTH);
            (*dest).set(length, length + size, source);
        }
    })
}

/// `RtlInitUnicodeString`: `Length` in bytes (without the NUL), `MaximumLength` = `Length`
/// + 2; a NULL source gives 0, 0, NULL. Longer texts are cut at 0xFFFC bytes (as Windows).
#[no_mangle]
pub unsafe extern "C" fn RtlInitUnicodeString(DestinationString: *mut UNICODE_STRING, SourceString: *const WCHAR) {
    // SAFETY: the caller keeps the routine's contract, which is the body's.
    unsafe { init_string("RtlInitUnicodeString", DestinationString, SourceString) }
}

/// `RtlInitAnsiString`: `Length` without the NUL, `MaximumLength` = `Length` + 1. Longer
/// texts are cut at 0xFFFD bytes (as Windows).
#[no_mangle]
pub unsafe extern "C" fn RtlInitAnsiString(DestinationString: *mut ANSI_STRING, SourceString: *const CHAR) {
    // SAFETY: the caller keeps the routine's contract, which is the body's.
    unsafe { init_string("RtlInitAnsiString", DestinationString, SourceString) }
}

/// `RtlCopyUnicodeString`: copies as much as `Destination->MaximumLength` allows, NUL-
/// terminates when there is room; a NULL source sets `Destination->Length` to 0.
#[no_mangle]
pub unsafe extern "C" fn RtlCopyUnicodeString(
    DestinationString: *mut UNICODE_STRING,
    SourceString: *const UNICODE_STRING,
) {
    guard("RtlCopyUnicodeString", (), || {
        if DestinationString.is_null() {
            kerror!("RtlCopyUnicodeString: DestinationString is NULL; ignored");
            return;
        }
        // SAFETY: the client's strings; copies stay within the destination's MaximumLength.
        unsafe {
            let d = &mut *DestinationString;
            if SourceString.is_null() {
                d.Length = 0;
                return;
            }
            let s = &*SourceString;
            let n = (s.Length as usize).min(d.MaximumLength as usize) & !1;
            if n > 0 && (d.Buffer.is_null() || s.Buffer.is_null()) {
                kerror!("RtlCopyUnicodeString: NULL Buffer; ignored");
                return;
            }
            if n > 0 {
                std::ptr::copy(s.Buffer as *const u8, d.Buffer as *mut u8, n);
            }
            d.Length = n as USHORT;
            if n + 2 <= d.MaximumLength as usize {
                d.Buffer.add(n / 2).write(0);
            }
        }
    })
}

/// `RtlUpcaseUnicodeChar`.
fn upcase(c: u16) -> u16 {
    if c < 0x80 {
        return (c as u8).to_ascii_uppercase() as u16;
    }
    char::from_u32(c as u32)
        .and_then(|ch| {
            let mut up = ch.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) if (u as u32) < 0x1_0000 => Some(u as u16),
                _ => None,
            }
        })
        .unwrap_or(c)
}

/// The characters of a `UNICODE_STRING`.
///
/// # Safety
/// `s` points to a valid `UNICODE_STRING`.
pub(super) unsafe fn chars<'a>(s: *const UNICODE_STRING) -> &'a [u16] {
    // SAFETY: per the caller.
    unsafe {
        let n = (*s).Length as usize / 2;
        if n == 0 || (*s).Buffer.is_null() {
            &[]
        } else {
            std::slice::from_raw_parts((*s).Buffer, n)
        }
    }
}

/// `RtlEqualUnicodeString`.
#[no_mangle]
pub unsafe extern "C" fn RtlEqualUnicodeString(
    String1: *const UNICODE_STRING,
    String2: *const UNICODE_STRING,
    CaseInSensitive: BOOLEAN,
) -> BOOLEAN {
    guard("RtlEqualUnicodeString", 0, || {
        if String1.is_null() || String2.is_null() {
            kerror!("RtlEqualUnicodeString: NULL string; returning FALSE");
            return 0;
        }
        // SAFETY: the client's strings.
        let (a, b) = unsafe { (chars(String1), chars(String2)) };
        let eq = a.len() == b.len()
            && if CaseInSensitive != 0 { a.iter().zip(b).all(|(&x, &y)| upcase(x) == upcase(y)) } else { a == b };
        eq as BOOLEAN
    })
}

/// `RtlCompareUnicodeString`: < 0, 0 or > 0.
#[no_mangle]
pub unsafe extern "C" fn RtlCompareUnicodeString(
    String1: *const UNICODE_STRING,
    String2: *const UNICODE_STRING,
    CaseInSensitive: BOOLEAN,
) -> i32 {
    guard("RtlCompareUnicodeString", 0, || {
        if String1.is_null() || String2.is_null() {
            kerror!("RtlCompareUnicodeString: NULL string; returning 0");
            return 0;
        }
        // SAFETY: the client's strings.
        let (a, b) = unsafe { (chars(String1), chars(String2)) };
        for (&x, &y) in a.iter().zip(b) {
            let (x, y) = if CaseInSensitive != 0 { (upcase(x), upcase(y)) } else { (x, y) };
            if x != y {
                return x as i32 - y as i32;
            }
        }
        a.len() as i32 - b.len() as i32
    })
}

/// `RtlCompareMemory`: the number of leading bytes that are equal.
#[no_mangle]
pub unsafe extern "C" fn RtlCompareMemory(Source1: *const u8, Source2: *const u8, Length: usize) -> usize {
    guard("RtlCompareMemory", 0, || {
        if Length == 0 {
            return 0;
        }
        if Source1.is_null() || Source2.is_null() {
            kerror!("RtlCompareMemory: NULL pointer (Windows would crash); returning 0");
            return 0;
        }
        // SAFETY: the client's two buffers of Length bytes.
        let (a, b) =
            unsafe { (std::slice::from_raw_parts(Source1, Length), std::slice::from_raw_parts(Source2, Length)) };
        a.iter().zip(b).take_while(|(x, y)| x == y).count()
    })
}

// ----- characters -----

/// A character of the A (`c_char`: `i8` or `u8`, by target) or W (`u16`) routines.
trait Ch: Copy {
    fn code(self) -> u32;
    fn from_ascii(b: u8) -> Self;
}

impl Ch for u8 {
    fn code(self) -> u32 {
        self as u32
    }
    fn from_ascii(b: u8) -> u8 {
        b
    }
}

impl Ch for i8 {
    fn code(self) -> u32 {
        self as u8 as u32
    }
    fn from_ascii(b: u8) -> i8 {
        b as i8
    }
}

impl Ch for u16 {
    fn code(self) -> u32 {
        self as u32
    }
    fn from_ascii(b: u8) -> u16 {
        b as u16
    }
}

/// A NUL-terminated string read one character at a time (never past the NUL, as long as
/// positions are only looked at after a non-NUL one).
struct Text<C: Ch>(*const C);

impl<C: Ch> Text<C> {
    fn at(&self, i: usize) -> u32 {
        // SAFETY: the parsers only read position i after reading a non-NUL character at
        // i - 1 (or i == 0), so i is within the string or its NUL.
        unsafe { self.0.add(i).read() }.code()
    }
}

/// Writes `s` and a NUL to `dst`; returns the pointer to the NUL.
///
/// # Safety
/// `dst` has room for `s.len() + 1` characters.
unsafe fn put<C: Ch>(dst: *mut C, s: &str) -> *mut C {
    // SAFETY: per the caller.
    unsafe {
        for (i, b) in s.bytes().enumerate() {
            dst.add(i).write(C::from_ascii(b));
        }
        dst.add(s.len()).write(C::from_ascii(0));
        dst.add(s.len())
    }
}

fn digit(c: u32, base: u32) -> Option<u32> {
    char::from_u32(c).and_then(|ch| ch.to_digit(base))
}

// ----- the A and W routines -----
//
// Each A (`c_char`) / W (`WCHAR`) pair of IP string routines is two exports around one body
// generic over the character type ([`Ch`]); the body takes the routine's name for its
// messages and checks the pointers for NULL, so an export's safety contract is its body's.
// Addresses are handled as their bytes, in network order.

const _: () = assert!(std::mem::size_of::<IN_ADDR>() == 4 && std::mem::size_of::<IN6_ADDR>() == 16);

/// `RtlIpv4AddressToString` / `RtlIpv6AddressToString`: writes the address's `text` and a
/// NUL to `s`; returns the pointer to the NUL, or NULL for a NULL pointer.
///
/// # Safety
/// `addr` is NULL or the client's address; `s` is NULL or has room for the text and its NUL
/// (the routine's contract: 16 characters for IPv4, 46 for IPv6).
unsafe fn address_to_string<C: Ch, const N: usize>(
    name: &'static str,
    addr: *const [u8; N],
    s: *mut C,
    text: impl FnOnce(&[u8; N]) -> String,
) -> *mut C {
    guard(name, null_mut(), || {
        if addr.is_null() || s.is_null() {
            kerror!("{name}: NULL pointer; returning NULL");
            return null_mut();
        }
        // SAFETY: per the caller (checked non-NULL): the client's address (maybe unaligned)
        // and a buffer with room for the text.
        unsafe { put(s, &text(&addr.read_unaligned())) }
    })
}

/// `RtlIpv4AddressToStringEx` / `RtlIpv6AddressToStringEx`: writes the address's `text` and
/// a NUL to `s` if `*length` (characters with the NUL) is enough; `*length` becomes the
/// characters needed.
///
/// # Safety
/// `addr` is NULL or the client's address; `length` is NULL or valid; `s` is NULL or holds
/// `*length` characters.
unsafe fn address_to_string_ex<C: Ch, const N: usize>(
    name: &'static str,
    addr: *const [u8; N],
    s: *mut C,
    length: *mut u32,
    text: impl FnOnce(&[u8; N]) -> String,
) -> NTSTATUS {
    guard_status(name, || {
        if addr.is_null() || s.is_null() || length.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: per the caller (checked non-NULL): the client's address (maybe unaligned)
        // and length; the buffer holds *length characters.
        unsafe {
            let text = text(&addr.read_unaligned());
            let needed = text.len() as u32 + 1;
            if *length < needed {
                *length = needed;
                return STATUS_INVALID_PARAMETER;
            }
            put(s, &text);
            *length = needed;
        }
        STATUS_SUCCESS
    })
}

/// `RtlIpv4StringToAddress` / `RtlIpv6StringToAddress`: `parse` gives the address and where
/// it ended, or where parsing failed; `*terminator` points there.
///
/// # Safety
/// `s` is NULL or a NUL-terminated string; `terminator` and `addr` are NULL or valid.
unsafe fn string_to_address<C: Ch, const N: usize>(
    name: &'static str,
    s: *const C,
    terminator: *mut *const C,
    addr: *mut [u8; N],
    parse: impl FnOnce(&Text<C>) -> Result<([u8; N], usize), usize>,
) -> NTSTATUS {
    guard_status(name, || {
        if s.is_null() || terminator.is_null() || addr.is_null() {
            kerror!("{name}: NULL pointer (Windows would crash); returning STATUS_INVALID_PARAMETER");
            return STATUS_INVALID_PARAMETER;
        }
        let r = parse(&Text(s));
        // SAFETY: NUL-terminated string and valid outputs (checked non-NULL); the parsers stop
        // within the string or at its NUL.
        unsafe {
            match r {
                Ok((b, end)) => {
                    *terminator = s.add(end);
                    addr.write_unaligned(b);
                    STATUS_SUCCESS
                }
                Err(t) => {
                    *terminator = s.add(t);
                    STATUS_INVALID_PARAMETER
                }
            }
        }
    })
}

// ----- IPv4 text -----

/// Parses one number of an IPv4 address at `i` (a digit there): decimal, or non-strict
/// octal / hex. `Ok((value, end))` or `Err(terminator)`.
fn ipv4_number<C: Ch>(s: &Text<C>, i: usize, strict: bool) -> Result<(u32, usize), usize> {
    let accumulate = |mut j: usize, base: u32| -> Result<(u32, usize, usize), usize> {
        let mut v: u32 = 0;
        let mut n = 0;
        while let Some(d) = digit(s.at(j), base) {
            let next = v.wrapping_mul(base).wrapping_add(d);
            if next < v {
                return Err(j); // wrapped past 32 bits
            }
            v = next;
            j += 1;
            n += 1;
        }
        Ok((v, j, n))
    };
    if s.at(i) == '0' as u32 {
        let c1 = s.at(i + 1);
        if c1 == 'x' as u32 || c1 == 'X' as u32 {
            if strict {
                return Err(i + 2);
            }
            let (v, j, n) = accumulate(i + 2, 16)?;
            return if n == 0 { Err(j) } else { Ok((v, j)) };
        }
        if digit(c1, 10).is_some() {
            if strict || digit(c1, 8).is_none() {
                return Err(i + 1);
            }
            let (v, j, _) = accumulate(i + 1, 8)?;
            return Ok((v, j));
        }
        return Ok((0, i + 1));
    }
    let (v, j, _) = accumulate(i, 10)?;
    Ok((v, j))
}

/// Parses an IPv4 address at `start`: `Ok((address in host order, end))` or
/// `Err(terminator)`.
fn parse_ipv4<C: Ch>(s: &Text<C>, start: usize, strict: bool) -> Result<(u32, usize), usize> {
    let mut parts = [0u32; 4];
    let mut n = 0;
    let mut i = start;
    loop {
        let c = s.at(i);
        if digit(c, 10).is_none() {
            return Err(if c == '.' as u32 { i + 1 } else { i });
        }
        let (v, end) = ipv4_number(s, i, strict)?;
        parts[n] = v;
        n += 1;
        i = end;
        if s.at(i) == '.' as u32 {
            if n == 4 {
                return Err(i);
            }
            i += 1;
            continue;
        }
        break;
    }
    if strict && n != 4 {
        return Err(i);
    }
    let last_max: u32 = match n {
        1 => u32::MAX,
        2 => 0xFF_FFFF,
        3 => 0xFFFF,
        _ => 0xFF,
    };
    if parts[..n - 1].iter().any(|&p| p > 0xFF) || parts[n - 1] > last_max {
        return Err(i);
    }
    let addr = match n {
        1 => parts[0],
        2 => parts[0] << 24 | parts[1],
        3 => parts[0] << 24 | parts[1] << 16 | parts[2],
        _ => parts[0] << 24 | parts[1] << 16 | parts[2] << 8 | parts[3],
    };
    Ok((addr, i))
}

/// Parses a port (`:` already consumed) that must end the string: 1..=65535.
fn parse_port<C: Ch>(s: &Text<C>, i: usize) -> Option<u16> {
    digit(s.at(i), 10)?;
    let (v, end) = ipv4_number(s, i, false).ok()?;
    if s.at(end) != 0 || v == 0 || v > 0xFFFF {
        return None;
    }
    Some(v as u16)
}

fn ipv4_text(addr: &[u8; 4]) -> String {
    format!("{}.{}.{}.{}", addr[0], addr[1], addr[2], addr[3])
}

/// [`ipv4_text`], with `:port` when `port` (network order) is not 0.
fn ipv4_ex_text(addr: &[u8; 4], port: u16) -> String {
    let mut s = ipv4_text(addr);
    if port != 0 {
        s.push_str(&format!(":{}", u16::from_be(port)));
    }
    s
}

/// [`parse_ipv4`] from the start of the string, with the address in network order.
fn ipv4_bytes<C: Ch>(s: &Text<C>, strict: BOOLEAN) -> Result<([u8; 4], usize), usize> {
    parse_ipv4(s, 0, strict != 0).map(|(a, end)| (a.to_be_bytes(), end))
}

/// `RtlIpv4StringToAddressEx`.
///
/// # Safety
/// `s` is NULL or a NUL-terminated string; `addr` and `port` are NULL or valid.
unsafe fn ipv4_string_to_address_ex<C: Ch>(
    name: &'static str,
    s: *const C,
    strict: BOOLEAN,
    addr: *mut IN_ADDR,
    port: *mut u16,
) -> NTSTATUS {
    guard_status(name, || {
        if s.is_null() || addr.is_null() || port.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        let text = Text(s);
        let Ok((a, end)) = ipv4_bytes(&text, strict) else { return STATUS_INVALID_PARAMETER };
        // SAFETY: valid outputs (checked non-NULL).
        unsafe {
            addr.cast::<[u8; 4]>().write_unaligned(a);
            match text.at(end) {
                0 => {
                    port.write_unaligned(0);
                    STATUS_SUCCESS
                }
                c if c == ':' as u32 => match parse_port(&text, end + 1) {
                    Some(p) => {
                        port.write_unaligned(p.to_be());
                        STATUS_SUCCESS
                    }
                    None => STATUS_INVALID_PARAMETER,
                },
                _ => STATUS_INVALID_PARAMETER,
            }
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn RtlIpv4AddressToStringA(Addr: *const IN_ADDR, S: *mut c_char) -> *mut c_char {
    // SAFETY: the caller keeps the routine's contract, which is the body's.
    unsafe { address_to_string("RtlIpv4AddressToStringA", Addr.cast(), S, ipv4_text) }
}

#[no_mangle]
pub unsafe extern "C" fn RtlIpv4AddressToStringW(Addr: *const IN_ADDR, S: *mut WCHAR) -> *mut WCHAR {
    // SAFETY: the caller keeps the routine's contract, which is the body's.
    unsafe { address_to_string("RtlIpv4AddressToStringW", Addr.cast(), S, ipv4_text) }
}

#[no_mangle]
pub unsafe extern "C" fn RtlIpv4AddressToStringExA(
    Address: *const IN_ADDR,
    Port: USHORT,
    AddressString: *mut c_char,
    AddressStringLength: *mut u32,
) -> NTSTATUS {
    let text = |a: &[u8; 4]| ipv4_ex_text(a, Port);
    // SAFETY: the caller keeps the routine's contract, which is the body's.
    unsafe {
        address_to_string_ex("RtlIpv4AddressToStringExA", Address.cast(), AddressString, AddressStringLength, text)
    }
}

#[no_mangle]
pub unsafe extern "C" fn RtlIpv4AddressToStringExW(
    Address: *const IN_ADDR,
    Port: USHORT,
    AddressString: *mut WCHAR,
    AddressStringLength: *mut u32,
) -> NTSTATUS {
    let text = |a: &[u8; 4]| ipv4_ex_text(a, Port);
    // SAFETY: the caller keeps the routine's contract, which is the body's.
    unsafe {
        address_to_string_ex("RtlIpv4AddressToStringExW", Address.cast(), AddressString, AddressStringLength, text)
    }
}

#[no_mangle]
pub unsafe extern "C" fn RtlIpv4StringToAddressA(
    S: *const c_char,
    Strict: BOOLEAN,
    Terminator: *mut *const c_char,
    Addr: *mut IN_ADDR,
) -> NTSTATUS {
    // SAFETY: the caller keeps the routine's contract, which is the body's.
    unsafe { string_to_address("RtlIpv4StringToAddressA", S, Terminator, Addr.cast(), |t| ipv4_bytes(t, Strict)) }
}

#[no_mangle]
pub unsafe extern "C" fn RtlIpv4StringToAddressW(
    S: *const WCHAR,
    Strict: BOOLEAN,
    Terminator: *mut *const WCHAR,
    Addr: *mut IN_ADDR,
) -> NTSTATUS {
    // SAFETY: the caller keeps the routine's contract, which is the body's.
    unsafe { string_to_address("RtlIpv4StringToAddressW", S, Terminator, Addr.cast(), |t| ipv4_bytes(t, Strict)) }
}

#[no_mangle]
pub unsafe extern "C" fn RtlIpv4StringToAddressExA(
    AddressString: *const c_char,
    Strict: BOOLEAN,
    Address: *mut IN_ADDR,
    Port: *mut USHORT,
) -> NTSTATUS {
    // SAFETY: the caller keeps the routine's contract, which is the body's.
    unsafe { ipv4_string_to_address_ex("RtlIpv4StringToAddressExA", AddressString, Strict, Address, Port) }
}

#[no_mangle]
pub unsafe extern "C" fn RtlIpv4StringToAddressExW(
    AddressString: *const WCHAR,
    Strict: BOOLEAN,
    Address: *mut IN_ADDR,
    Port: *mut USHORT,
) -> NTSTATUS {
    // SAFETY: the caller keeps the routine's contract, which is the body's.
    unsafe { ipv4_string_to_address_ex("RtlIpv4StringToAddressExW", AddressString, Strict, Address, Port) }
}

// ----- IPv6 text -----

/// Parses an IPv6 address at `start`: `Ok((16 bytes, end))` or `Err(terminator)`.
///
/// Groups of 1 to 4 hex digits separated by `:`, one `::`, optionally a dotted quad for
/// the last 32 bits. Parsing stops (successfully, if enough was read) where the address
/// cannot continue: at a second `::`, after eight words (seven with a `::`, which stands
/// for at least one zero word), or at any other character.
fn parse_ipv6<C: Ch>(s: &Text<C>, start: usize) -> Result<([u8; 16], usize), usize> {
    let mut words = [0u16; 8];
    let mut n = 0usize;
    let mut gap: Option<usize> = None;
    let mut i = start;
    // What precedes position i: the start, a single ':' or a '::'.
    #[derive(PartialEq)]
    enum After {
        Start,
        Colon,
        DoubleColon,
    }
    let mut after = After::Start;
    if s.at(i) == ':' as u32 {
        if s.at(i + 1) != ':' as u32 {
            return Err(i);
        }
        gap = Some(0);
        i += 2;
        after = After::DoubleColon;
    }
    loop {
        let cap = if gap.is_some() { 7 } else { 8 };
        if n >= cap {
            break;
        }
        let mut k = 0;
        while digit(s.at(i + k), 16).is_some() {
            k += 1;
        }
        if k == 0 {
            match after {
                After::DoubleColon => break,
                _ => return Err(i),
            }
        }
        // An embedded IPv4 address, where there is room for two words.
        if s.at(i + k) == '.' as u32 && n + 2 <= cap {
            if let Ok((v4, end)) = parse_ipv4(s, i, true) {
                words[n] = (v4 >> 16) as u16;
                words[n + 1] = v4 as u16;
                n += 2;
                i = end;
                break;
            }
        }
        if k > 4 {
            return Err(i + 4);
        }
        let mut v: u32 = 0;
        for j in 0..k {
            v = v * 16 + digit(s.at(i + j), 16).unwrap_or(0);
        }
        words[n] = v as u16;
        n += 1;
        i += k;
        if s.at(i) != ':' as u32 {
            break;
        }
        if s.at(i + 1) == ':' as u32 {
            if gap.is_some() || n >= 8 {
                break;
            }
            gap = Some(n);
            i += 2;
            after = After::DoubleColon;
        } else {
            if n >= cap {
                break;
            }
            i += 1;
            after = After::Colon;
        }
    }
    let mut full = [0u16; 8];
    match gap {
        None if n != 8 => return Err(i),
        None => full = words,
        Some(g) => {
            full[..g].copy_from_slice(&words[..g]);
            let tail = n - g;
            full[8 - tail..].copy_from_slice(&words[g..n]);
        }
    }
    let mut bytes = [0u8; 16];
    for (k, w) in full.iter().enumerate() {
        bytes[2 * k..2 * k + 2].copy_from_slice(&w.to_be_bytes());
    }
    Ok((bytes, i))
}

/// Windows' text for an IPv6 address (see the module docs).
fn ipv6_text(b: &[u8; 16]) -> String {
    let w: Vec<u16> = (0..8).map(|k| u16::from_be_bytes([b[2 * k], b[2 * k + 1]])).collect();
    let zero = |r: std::ops::Range<usize>| w[r].iter().all(|&x| x == 0);
    let v4 = (zero(0..6) && w[6] != 0)
        || (zero(0..5) && w[5] == 0xFFFF && w[6] != 0)
        || (zero(0..4) && w[4] == 0xFFFF && w[5] == 0 && w[6] != 0)
        || (w[5] == 0x5EFE && (w[4] == 0 || w[4] == 0x0200));
    let hex = if v4 { 6 } else { 8 };
    // The longest run of two or more zero words (the first of equal runs).
    let (mut best, mut best_len) = (0, 0);
    let mut k = 0;
    while k < hex {
        if w[k] == 0 {
            let s = k;
            while k < hex && w[k] == 0 {
                k += 1;
            }
            if k - s > best_len {
                best = s;
                best_len = k - s;
            }
        } else {
            k += 1;
        }
    }
    let join = |r: std::ops::Range<usize>| w[r].iter().map(|x| format!("{x:x}")).collect::<Vec<_>>().join(":");
    let mut out;
    let ends_with_colon;
    if best_len >= 2 {
        out = format!("{}::{}", join(0..best), join(best + best_len..hex));
        ends_with_colon = best + best_len == hex;
    } else {
        out = join(0..hex);
        ends_with_colon = false;
    }
    if v4 {
        if !ends_with_colon {
            out.push(':');
        }
        out.push_str(&ipv4_text(&[b[12], b[13], b[14], b[15]]));
    }
    out
}

fn ipv6_ex_text(b: &[u8; 16], scope: u32, port: u16) -> String {
    let mut s = ipv6_text(b);
    if scope != 0 {
        s.push_str(&format!("%{scope}"));
    }
    if port != 0 {
        s = format!("[{s}]:{}", u16::from_be(port));
    }
    s
}

/// Parses `addr[%scope]` or `[addr[%scope]]:port` (or `[addr[%scope]]`), the whole string.
fn parse_ipv6_ex<C: Ch>(s: &Text<C>) -> Option<([u8; 16], u32, u16)> {
    let bracket = s.at(0) == '[' as u32;
    let (bytes, mut i) = parse_ipv6(s, bracket as usize).ok()?;
    let mut scope: u32 = 0;
    if s.at(i) == '%' as u32 {
        i += 1;
        let first = i;
        while let Some(d) = digit(s.at(i), 10) {
            scope = scope.checked_mul(10)?.checked_add(d)?;
            i += 1;
        }
        if i == first {
            return None;
        }
    }
    let mut port = 0u16;
    if bracket {
        if s.at(i) != ']' as u32 {
            return None;
        }
        i += 1;
        if s.at(i) == ':' as u32 {
            port = parse_port(s, i + 1)?;
            return Some((bytes, scope, port));
        }
    }
    (s.at(i) == 0).then_some((bytes, scope, port))
}

/// `RtlIpv6StringToAddressEx`.
///
/// # Safety
/// `s` is NULL or a NUL-terminated string; `addr`, `scope` and `port` are NULL or valid.
unsafe fn ipv6_string_to_address_ex<C: Ch>(
    name: &'static str,
    s: *const C,
    addr: *mut IN6_ADDR,
    scope: *mut u32,
    port: *mut u16,
) -> NTSTATUS {
    guard_status(name, || {
        if s.is_null() || addr.is_null() || scope.is_null() || port.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        let Some((b, sc, p)) = parse_ipv6_ex(&Text(s)) else { return STATUS_INVALID_PARAMETER };
        // SAFETY: valid outputs (checked non-NULL).
        unsafe {
            addr.cast::<[u8; 16]>().write_unaligned(b);
            scope.write_unaligned(sc);
            port.write_unaligned(p.to_be());
        }
        STATUS_SUCCESS
    })
}

#[no_mangle]
pub unsafe extern "C" fn RtlIpv6AddressToStringA(Addr: *const IN6_ADDR, S: *mut c_char) -> *mut c_char {
    // SAFETY: the caller keeps the routine's contract, which is the body's.
    unsafe { address_to_string("RtlIpv6AddressToStringA", Addr.cast(), S, ipv6_text) }
}

#[no_mangle]
pub unsafe extern "C" fn RtlIpv6AddressToStringW(Addr: *const IN6_ADDR, S: *mut WCHAR) -> *mut WCHAR {
    // SAFETY: the caller keeps the routine's contract, which is the body's.
    unsafe { address_to_string("RtlIpv6AddressToStringW", Addr.cast(), S, ipv6_text) }
}

#[no_mangle]
pub unsafe extern "C" fn RtlIpv6AddressToStringExA(
    Address: *const IN6_ADDR,
    ScopeId: u32,
    Port: USHORT,
    AddressString: *mut c_char,
    AddressStringLength: *mut u32,
) -> NTSTATUS {
    let text = |a: &[u8; 16]| ipv6_ex_text(a, ScopeId, Port);
    // SAFETY: the caller keeps the routine's contract, which is the body's.
    unsafe {
        address_to_string_ex("RtlIpv6AddressToStringExA", Address.cast(), AddressString, AddressStringLength, text)
    }
}

#[no_mangle]
pub unsafe extern "C" fn RtlIpv6AddressToStringExW(
    Address: *const IN6_ADDR,
    ScopeId: u32,
    Port: USHORT,
    AddressString: *mut WCHAR,
    AddressStringLength: *mut u32,
) -> NTSTATUS {
    let text = |a: &[u8; 16]| ipv6_ex_text(a, ScopeId, Port);
    // SAFETY: the caller keeps the routine's contract, which is the body's.
    unsafe {
        address_to_string_ex("RtlIpv6AddressToStringExW", Address.cast(), AddressString, AddressStringLength, text)
    }
}

#[no_mangle]
pub unsafe extern "C" fn RtlIpv6StringToAddressA(
    S: *const c_char,
    Terminator: *mut *const c_char,
    Addr: *mut IN6_ADDR,
) -> NTSTATUS {
    // SAFETY: the caller keeps the routine's contract, which is the body's.
    unsafe { string_to_address("RtlIpv6StringToAddressA", S, Terminator, Addr.cast(), |t| parse_ipv6(t, 0)) }
}

#[no_mangle]
pub unsafe extern "C" fn RtlIpv6StringToAddressW(
    S: *const WCHAR,
    Terminator: *mut *const WCHAR,
    Addr: *mut IN6_ADDR,
) -> NTSTATUS {
    // SAFETY: the caller keeps the routine's contract, which is the body's.
    unsafe { string_to_address("RtlIpv6StringToAddressW", S, Terminator, Addr.cast(), |t| parse_ipv6(t, 0)) }
}

#[no_mangle]
pub unsafe extern "C" fn RtlIpv6StringToAddressExA(
    AddressString: *const c_char,
    Address: *mut IN6_ADDR,
    ScopeId: *mut u32,
    Port: *mut USHORT,
) -> NTSTATUS {
    // SAFETY: the caller keeps the routine's contract, which is the body's.
    unsafe { ipv6_string_to_address_ex("RtlIpv6StringToAddressExA", AddressString, Address, ScopeId, Port) }
}

#[no_mangle]
pub unsafe extern "C" fn RtlIpv6StringToAddressExW(
    AddressString: *const WCHAR,
    Address: *mut IN6_ADDR,
    ScopeId: *mut u32,
    Port: *mut USHORT,
) -> NTSTATUS {
    // SAFETY: the caller keeps the routine's contract, which is the body's.
    unsafe { ipv6_string_to_address_ex("RtlIpv6StringToAddressExW", AddressString, Address, ScopeId, Port) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str, strict: bool) -> Result<([u8; 4], usize), usize> {
        let c = std::ffi::CString::new(s).unwrap();
        ipv4_bytes(&Text(c.as_ptr() as *const u8), strict as BOOLEAN)
    }

    fn v6(s: &str) -> Result<([u8; 16], usize), usize> {
        let c = std::ffi::CString::new(s).unwrap();
        parse_ipv6(&Text(c.as_ptr() as *const u8), 0)
    }

    #[test]
    fn ipv4_parsing_like_windows() {
        assert_eq!(v4("1.1.1.1", false), Ok(([1, 1, 1, 1], 7)));
        assert_eq!(v4("255.255.255.255:123", false), Ok(([255; 4], 15)));
        assert_eq!(v4("255.255.255.256", false), Err(15));
        assert_eq!(v4("255.255.255.4294967296", false), Err(21));
        assert_eq!(v4("1.1.1.0xaA", false), Ok(([1, 1, 1, 170], 10)));
        assert_eq!(v4("1.1.1.0xaA", true), Err(8));
        assert_eq!(v4("1.1.1.0x", false), Err(8));
        assert_eq!(v4("1.1.1.010", false), Ok(([1, 1, 1, 8], 9)));
        assert_eq!(v4("1.1.1.010", true), Err(7));
        assert_eq!(v4("1.1.1.08", false), Err(7));
        assert_eq!(v4("1.1.1.008", false), Ok(([1, 1, 1, 0], 8)));
        assert_eq!(v4("1.1.1.0a", false), Ok(([1, 1, 1, 0], 7)));
        assert_eq!(v4("1", false), Ok(([0, 0, 0, 1], 1)));
        assert_eq!(v4("1", true), Err(1));
        assert_eq!(v4("1.2.3", false), Ok(([1, 2, 0, 3], 5)));
        assert_eq!(v4("1.223756", false), Ok(([1, 3, 106, 12], 8)));
        assert_eq!(v4("756.3.4", false), Err(7));
        assert_eq!(v4("3.4.5.6.7", false), Err(7));
        assert_eq!(v4(".1.2.3", false), Err(1));
        assert_eq!(v4("1..2", false), Err(3));
        assert_eq!(v4("1.2.", false), Err(4));
        assert_eq!(v4("3. 4.5.6", false), Err(2));
        assert_eq!(v4("0x123456789", false), Ok(([0x23, 0x45, 0x67, 0x89], 11)));
        assert_eq!(v4("017700000001", false), Ok(([127, 0, 0, 1], 12)));
        assert_eq!(v4("", false), Err(0));
    }

    #[test]
    fn ipv6_parsing() {
        let (b, e) = v6("2001:db8:85a3::8a2e:370:7334").unwrap();
        assert_eq!(e, 28);
        assert_eq!(std::net::Ipv6Addr::from(b), "2001:db8:85a3::8a2e:370:7334".parse::<std::net::Ipv6Addr>().unwrap());
        assert_eq!(v6("::").unwrap().1, 2);
        assert_eq!(v6("::%16").unwrap().1, 2);
        assert_eq!(v6("1111::3333::5555:6666:1.2.3.4").unwrap().1, 10);
        assert_eq!(v6("1111:2222:3333:4444:5555:6666:7777:8888:9999").unwrap().1, 39);
        assert_eq!(v6("1111:2222:3333:4444:5555:6666::7777:8888").unwrap().1, 35);
        assert_eq!(v6("1111:2222:3333:4444:5555:6666::1.2.3.4").unwrap().1, 32);
        assert_eq!(v6("::ffff:1.2.3.4").unwrap().0[10..], [0xff, 0xff, 1, 2, 3, 4]);
        assert_eq!(v6("1111"), Err(4));
        assert_eq!(v6("1111:2222:"), Err(10));
        assert_eq!(v6("1111::5555:"), Err(11));
        assert_eq!(v6("1.2.3.4"), Err(7));
        assert!(v6("12345::6:7:8").is_err());
        assert!(v6("-1").is_err());
    }

    #[test]
    fn ipv6_formatting_like_windows() {
        let t = |s: &str| ipv6_text(&s.parse::<std::net::Ipv6Addr>().unwrap().octets());
        assert_eq!(t("::"), "::");
        assert_eq!(t("::1"), "::1");
        assert_eq!(t("::ffff"), "::ffff");
        assert_eq!(t("::13.1.68.3"), "::13.1.68.3");
        assert_eq!(t("::ffff:13.1.68.3"), "::ffff:13.1.68.3");
        assert_eq!(t("::ffff:0:4403"), "::ffff:0:4403");
        assert_eq!(t("::ffff:0:0.1.0.0"), "::ffff:0:0.1.0.0");
        assert_eq!(t("::5efe:0.0.0.0"), "::5efe:0.0.0.0");
        assert_eq!(t("::300:5efe:8190:3426"), "::300:5efe:8190:3426");
        assert_eq!(t("::200:5efe:129.144.52.38"), "::200:5efe:129.144.52.38");
        assert_eq!(t("1111:2222:3333::5efe:129.144.52.38"), "1111:2222:3333::5efe:129.144.52.38");
        assert_eq!(t("1111:2222:3333:4444:5555:6666:0:8888"), "1111:2222:3333:4444:5555:6666:0:8888");
        assert_eq!(t("2001:0:1234::c1c0:abcd:876"), "2001:0:1234::c1c0:abcd:876");
        assert_eq!(t("3ffe:b00::1:0:0:a"), "3ffe:b00::1:0:0:a");
        assert_eq!(ipv6_ex_text(&"::1".parse::<std::net::Ipv6Addr>().unwrap().octets(), 5, 0x5000), "[::1%5]:80");
    }
}
