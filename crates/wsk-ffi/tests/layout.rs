//! `include/` and `crates/wsk-ffi/src/abi.rs` describe the same memory.
//!
//! `tests/c/layout.c` prints, as the C compiler lays them out from the headers, the size
//! and alignment of every type abi.rs mirrors, the offset and size of every member, and
//! the constants abi.rs repeats. This test computes the same lines from abi.rs (with
//! `size_of`, `align_of` and `offset_of!`) and fails on every difference, naming the
//! structure and the member.
//!
//! layout.c run with `format` also prints text formatted by the headers' DbgPrint and
//! RtlStringCbPrintf machinery (Windows format conventions: %wZ, %ws, %lu is 32 bits...),
//! checked by `windows_format_conventions` below.

mod support;

#[path = "../src/abi.rs"]
mod abi;

use std::collections::BTreeMap;
use std::mem::{align_of, offset_of, size_of};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// The size of the member a (non-capturing) accessor closure returns.
fn member_size<T, M>(_: fn(&T) -> &M) -> usize {
    size_of::<M>()
}

/// Rows as layout.c prints them: name -> "a b" (`sizeof align` for a type, `offset size`
/// for a member, `= value` for a constant).
#[derive(Default)]
struct Rows {
    rows: BTreeMap<String, String>,
    duplicates: Vec<String>,
}

impl Rows {
    fn push(&mut self, name: String, value: String) {
        if self.rows.insert(name.clone(), value).is_some() {
            self.duplicates.push(name);
        }
    }
}

/// `ty!(rows, T, U...)`: the line `T sizeof align` for types named alike in C and abi.rs.
macro_rules! ty {
    ($rows:ident, $($t:ident),+ $(,)?) => {
        $( $rows.push(stringify!($t).to_string(), format!("{} {}", size_of::<abi::$t>(), align_of::<abi::$t>())); )+
    };
}

/// `structure!(rows, S { a, b } { "C.path" => rust.path, ... })`: the line
/// `S sizeof align`, then `S.member offset size` for each member.
///
/// The first braces list members that have the same name in C and in abi.rs. The
/// optional second braces map a C member path to the abi.rs field that mirrors it where
/// the names differ: abi.rs flattens unions the C headers keep, so for example
///
/// - `IRP.Tail.Overlay.CurrentStackLocation` (C: a member of the `Overlay` structure of the
///   `Tail` union) is abi.rs `IRP.Tail.CurrentStackLocation` (`IRP_TAIL_OVERLAY`);
/// - `IN_ADDR.S_un.S_addr` is abi.rs `IN_ADDR.S_addr`, `IN6_ADDR.u.Byte` is `IN6_ADDR.Byte`;
/// - the provider tables' `WskControlSocket` / `WskCloseSocket` (C: the anonymous structure
///   beside `Basic` in the anonymous union) are abi.rs `Basic.WskControlSocket` /
///   `Basic.WskCloseSocket`.
///
/// `structure!(rows, "C_NAME" = RustType { a, b })` is for a C type that abi.rs mirrors
/// under another name (the three lookaside-list types share abi.rs `LOOKASIDE_STORAGE`).
///
/// Offsets are computed along the whole path on both sides (`offset_of!` with nested
/// fields in Rust, `offsetof` with a member path in C).
macro_rules! structure {
    ($rows:ident, $c_name:literal = $t:ident { $($f:ident),* $(,)? }) => {{
        $rows.push($c_name.to_string(), format!("{} {}", size_of::<abi::$t>(), align_of::<abi::$t>()));
        $(
            $rows.push(
                format!("{}.{}", $c_name, stringify!($f)),
                format!("{} {}", offset_of!(abi::$t, $f), member_size(|s: &abi::$t| &s.$f)),
            );
        )*
    }};
    ($rows:ident, $t:ident { $($f:ident),* $(,)? } $({ $($c:literal => $($r:ident).+),* $(,)? })?) => {{
        $rows.push(stringify!($t).to_string(), format!("{} {}", size_of::<abi::$t>(), align_of::<abi::$t>()));
        $(
            $rows.push(
                format!("{}.{}", stringify!($t), stringify!($f)),
                format!("{} {}", offset_of!(abi::$t, $f), member_size(|s: &abi::$t| &s.$f)),
            );
        )*
        $($(
            $rows.push(
                format!("{}.{}", stringify!($t), $c),
                format!("{} {}", offset_of!(abi::$t, $($r).+), member_size(|s: &abi::$t| &s.$($r).+)),
            );
        )*)?
    }};
}

/// `constant!(rows, NAME, ...)` / `constant!(rows, "C_NAME" => RUST_NAME)`: `NAME = value`.
macro_rules! constant {
    ($rows:ident, $($k:ident),+ $(,)?) => {
        $( $rows.push(stringify!($k).to_string(), format!("= {}", abi::$k as i64)); )+
    };
    ($rows:ident, $c:literal => $k:ident) => {
        $rows.push($c.to_string(), format!("= {}", abi::$k as i64));
    };
}

/// What layout.c must print, computed from abi.rs.
fn abi_rows() -> Rows {
    let mut r = Rows::default();

    ty!(r, CHAR, UCHAR, CCHAR, SHORT, CSHORT, USHORT, LONG, ULONG, LONG64, ULONG64, LONGLONG, ULONGLONG);
    ty!(r, LONG_PTR, ULONG_PTR, SIZE_T, BOOLEAN, NTSTATUS, HANDLE, PVOID, WCHAR, KIRQL, KPROCESSOR_MODE);
    ty!(r, KSPIN_LOCK, ADDRESS_FAMILY, PFN_NUMBER, POOL_FLAGS, LARGE_INTEGER, NPIID, PWSK_CLIENT);

    structure!(r, GUID { Data1, Data2, Data3, Data4 });
    structure!(r, LIST_ENTRY { Flink, Blink });
    structure!(r, SINGLE_LIST_ENTRY { Next });
    structure!(r, SLIST_HEADER { Next, Depth, Reserved, Sequence });
    structure!(r, UNICODE_STRING { Length, MaximumLength, Buffer });
    structure!(r, ANSI_STRING { Length, MaximumLength, Buffer });

    // IO_STATUS_BLOCK: C `Status` is the NTSTATUS arm of the Status/Pointer union; abi.rs
    // pads it with StatusPad, which the structure's size line covers.
    structure!(r, IO_STATUS_BLOCK { Status, Information });
    structure!(
        r,
        IO_STACK_LOCATION {
            MajorFunction,
            MinorFunction,
            Flags,
            Control,
            Parameters,
            DeviceObject,
            FileObject,
            CompletionRoutine,
            Context,
        }
    );
    structure!(r, IRP {
        Type, Size, AllocationProcessorNumber, Reserved, MdlAddress, Flags, AssociatedIrp, ThreadListEntry, IoStatus,
        RequestorMode, PendingReturned, StackCount, CurrentLocation, Cancel, CancelIrql, ApcEnvironment,
        AllocationFlags, UserIosb, UserEvent, Overlay, CancelRoutine, UserBuffer, Tail,
    } {
        "Tail.Overlay.DriverContext" => Tail.DriverContext,
        "Tail.Overlay.Thread" => Tail.Thread,
        "Tail.Overlay.AuxiliaryBuffer" => Tail.AuxiliaryBuffer,
        "Tail.Overlay.ListEntry" => Tail.ListEntry,
        "Tail.Overlay.CurrentStackLocation" => Tail.CurrentStackLocation,
        "Tail.Overlay.OriginalFileObject" => Tail.OriginalFileObject,
    });
    structure!(r, MDL { Next, Size, MdlFlags, Process, MappedSystemVa, StartVa, ByteCount, ByteOffset });
    structure!(r, DISPATCHER_HEADER { Type, Signalling, Size, Reserved1, SignalState, WaitListHead });
    structure!(r, KEVENT { Header });
    structure!(r, EX_RUNDOWN_REF { Count });
    structure!(
        r,
        DRIVER_OBJECT {
            Type,
            Size,
            DeviceObject,
            Flags,
            DriverStart,
            DriverSize,
            DriverSection,
            DriverExtension,
            DriverName,
            HardwareDatabase,
            FastIoDispatch,
            DriverInit,
            DriverStartIo,
            DriverUnload,
            MajorFunction,
        }
    );
    structure!(
        r,
        DEVICE_OBJECT {
            Type,
            Size,
            ReferenceCount,
            DriverObject,
            NextDevice,
            AttachedDevice,
            CurrentIrp,
            Timer,
            Flags,
            Characteristics,
            Vpb,
            DeviceExtension,
            DeviceType,
            StackSize,
            Queue,
            AlignmentRequirement,
            DeviceQueue,
            Dpc,
            ActiveThreadCount,
            SecurityDescriptor,
            DeviceLock,
            SectorSize,
            Spare1,
            DeviceObjectExtension,
            Reserved,
            Padding,
        }
    );

    structure!(r, KLOCK_QUEUE_HANDLE { LockQueue, OldIrql } {
        "LockQueue.Next" => LockQueue.Next,
        "LockQueue.Lock" => LockQueue.Lock,
    });
    structure!(r, "NPAGED_LOOKASIDE_LIST" = LOOKASIDE_STORAGE { Reserved });
    structure!(r, "PAGED_LOOKASIDE_LIST" = LOOKASIDE_STORAGE { Reserved });
    structure!(r, "LOOKASIDE_LIST_EX" = LOOKASIDE_STORAGE { Reserved });
    structure!(r, CLIENT_ID { UniqueProcess, UniqueThread });
    structure!(r, OBJECT_HANDLE_INFORMATION { HandleAttributes, GrantedAccess });
    // abi.rs OBJECT_TYPE has no C counterpart: the headers keep it opaque.

    structure!(r, SOCKADDR { sa_family, sa_data });
    structure!(r, IN_ADDR {} { "S_un.S_addr" => S_addr });
    structure!(r, IN6_ADDR {} { "u.Byte" => Byte });
    structure!(r, SOCKADDR_IN { sin_family, sin_port, sin_addr, sin_zero });
    structure!(r, SOCKADDR_IN6 { sin6_family, sin6_port, sin6_flowinfo, sin6_addr, sin6_scope_id });
    structure!(r, SOCKADDR_STORAGE { ss_family, __ss_pad1, __ss_align, __ss_pad2 });
    structure!(r, CMSGHDR { cmsg_len, cmsg_level, cmsg_type });
    structure!(r, SOCKET_ADDRESS { lpSockaddr, iSockaddrLength });
    structure!(
        r,
        ADDRINFOEXW {
            ai_flags,
            ai_family,
            ai_socktype,
            ai_protocol,
            ai_addrlen,
            ai_canonname,
            ai_addr,
            ai_blob,
            ai_bloblen,
            ai_provider,
            ai_next,
        }
    );

    structure!(r, WSK_SOCKET { Dispatch });
    structure!(r, WSK_BUF { Mdl, Offset, Length });
    structure!(r, WSK_BUF_LIST { Next, Buffer });
    structure!(r, WSK_DATA_INDICATION { Next, Buffer });
    structure!(r, WSK_DATAGRAM_INDICATION { Next, Buffer, ControlInfo, ControlInfoLength, RemoteAddress });
    structure!(r, WSK_INSPECT_ID { Key, SerialNumber });
    structure!(r, WSK_CLIENT_DISPATCH { Version, Reserved, WskClientEvent });
    structure!(r, WSK_CLIENT_NPI { ClientContext, Dispatch });
    structure!(r, WSK_PROVIDER_NPI { Client, Dispatch });
    structure!(
        r,
        WSK_REGISTRATION { ReservedRegistrationState, ReservedRegistrationContext, ReservedRegistrationLock }
    );
    structure!(r, WSK_PROVIDER_CHARACTERISTICS { HighestVersion, LowestVersion });
    structure!(r, WSK_TRANSPORT { Version, SocketType, Protocol, AddressFamily, ProviderId });
    structure!(r, WSK_EVENT_CALLBACK_CONTROL { NpiId, EventMask });
    structure!(r, WSK_EXTENSION_CONTROL_IN { NpiId, ClientContext, ClientDispatch });
    structure!(r, WSK_EXTENSION_CONTROL_OUT { ProviderContext, ProviderDispatch });
    structure!(r, WSK_TDI_MAP { SocketType, AddressFamily, Protocol, TdiDeviceName });
    structure!(r, WSK_TDI_MAP_INFO { ElementCount, Map });

    structure!(
        r,
        WSK_PROVIDER_DISPATCH {
            Version,
            Reserved,
            WskSocket,
            WskSocketConnect,
            WskControlClient,
            WskGetAddressInfo,
            WskFreeAddressInfo,
            WskGetNameInfo,
        }
    );
    structure!(r, WSK_PROVIDER_BASIC_DISPATCH { WskControlSocket, WskCloseSocket });
    structure!(r, WSK_PROVIDER_LISTEN_DISPATCH {
        Basic, WskBind, WskAccept, WskInspectComplete, WskGetLocalAddress,
    } {
        "WskControlSocket" => Basic.WskControlSocket,
        "WskCloseSocket" => Basic.WskCloseSocket,
    });
    structure!(r, WSK_PROVIDER_DATAGRAM_DISPATCH {
        Basic, WskBind, WskSendTo, WskReceiveFrom, WskRelease, WskGetLocalAddress, WskSendMessages,
    } {
        "WskControlSocket" => Basic.WskControlSocket,
        "WskCloseSocket" => Basic.WskCloseSocket,
    });
    structure!(r, WSK_PROVIDER_CONNECTION_DISPATCH {
        Basic, WskBind, WskConnect, WskGetLocalAddress, WskGetRemoteAddress, WskSend, WskReceive, WskDisconnect,
        WskRelease, WskConnectEx, WskSendEx, WskReceiveEx,
    } {
        "WskControlSocket" => Basic.WskControlSocket,
        "WskCloseSocket" => Basic.WskCloseSocket,
    });
    structure!(r, WSK_PROVIDER_STREAM_DISPATCH {
        Basic, WskBind, WskAccept, WskConnect, WskListen, WskSend, WskReceive, WskDisconnect, WskRelease,
        WskGetLocalAddress, WskGetRemoteAddress, WskConnectEx, WskSendEx, WskReceiveEx,
    } {
        "WskControlSocket" => Basic.WskControlSocket,
        "WskCloseSocket" => Basic.WskCloseSocket,
    });
    structure!(r, WSK_CLIENT_LISTEN_DISPATCH { WskAcceptEvent, WskInspectEvent, WskAbortEvent });
    structure!(r, WSK_CLIENT_DATAGRAM_DISPATCH { WskReceiveFromEvent });
    structure!(r, WSK_CLIENT_CONNECTION_DISPATCH { WskReceiveEvent, WskDisconnectEvent, WskSendBacklogEvent });
    structure!(r, WSK_CLIENT_STREAM_DISPATCH { Listen, Connect });

    constant!(r, SL_PENDING_RETURNED, SL_ERROR_RETURNED, SL_INVOKE_ON_CANCEL, SL_INVOKE_ON_SUCCESS, SL_INVOKE_ON_ERROR);
    constant!(r, IO_TYPE_IRP, MDL_MAPPED_TO_SYSTEM_VA, MDL_PAGES_LOCKED, MDL_SOURCE_IS_NONPAGED_POOL);
    constant!(r, MDL_ALLOCATED_FIXED_SIZE, MDL_PARTIAL, MDL_PARTIAL_HAS_BEEN_MAPPED, MDL_IO_PAGE_READ);
    constant!(r, MDL_WRITE_OPERATION, PAGE_SIZE, IO_TYPE_DEVICE, DO_EXCLUSIVE, DO_DEVICE_INITIALIZING);
    constant!(r, IRP_QUOTA_CHARGED, IRP_ALLOCATED_FIXED_SIZE, PASSIVE_LEVEL, APC_LEVEL, DISPATCH_LEVEL);
    constant!(r, MAXIMUM_WAIT_OBJECTS, INET_ADDRSTRLEN, INET6_ADDRSTRLEN);
    // abi.rs names the DISPATCHER_HEADER.Type of events; they equal the EVENT_TYPE values.
    // (THREAD_OBJECT and PROCESS_OBJECT, the types of the other objects, are libwsk's.)
    constant!(r, "NotificationEvent" => EVENT_NOTIFICATION_OBJECT);
    constant!(r, "SynchronizationEvent" => EVENT_SYNCHRONIZATION_OBJECT);
    constant!(r, AF_UNSPEC, AF_INET, AF_INET6, SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, IPPROTO_TCP, IPPROTO_UDP);
    constant!(r, WskSetOption, WskGetOption, WskIoctl, WskInspectReject, WskInspectAccept, WskInspectPend);
    r
}

/// Where abi.rs is known to differ from Windows and include/ keeps the Windows layout:
/// (name, C value, abi.rs value). An entry that stops matching fails the test, so that it
/// is removed once abi.rs is corrected.
///
/// - `IN6_ADDR` is a union of `UCHAR Byte[16]` and `USHORT Word[8]` on Windows: 2-aligned.
///   abi.rs mirrors only `Byte` (1-aligned). No offset differs in any structure here.
const KNOWN_ABI_RS_DIFFERENCES: &[(&str, &str, &str)] = &[];

/// layout.c, built once per test binary.
fn layout_exe() -> PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let mut build = support::CBuild::new("layout", &["layout.c"]);
        build.link_libwsk = false;
        build.flags = ["-std=c11", "-Wall", "-Wextra", "-Werror"].iter().map(|f| f.to_string()).collect();
        build.build()
    })
    .clone()
}

/// Parses layout.c's lines: the first word is the name, the rest the value.
fn parse_rows(stdout: &str) -> Rows {
    let mut rows = Rows::default();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let (name, value) = line.split_once(' ').unwrap_or_else(|| panic!("layout.c printed a bad line: {line:?}"));
        rows.push(name.to_string(), value.trim().to_string());
    }
    rows
}

fn describe(name: &str) -> String {
    match name.split_once('.') {
        Some((s, m)) => format!("{s} member {m}"),
        None => name.to_string(),
    }
}

#[test]
fn c_layout_matches_abi_rs() {
    let stdout = support::run_ok(&layout_exe(), &[], Duration::from_secs(60));
    let c = parse_rows(&stdout);
    let rust = abi_rows();
    let mut problems = Vec::new();
    for name in &c.duplicates {
        problems.push(format!("layout.c prints {name} twice"));
    }
    for name in &rust.duplicates {
        problems.push(format!("the abi.rs table has {name} twice"));
    }
    for (name, rust_value) in &rust.rows {
        let known = KNOWN_ABI_RS_DIFFERENCES.iter().find(|(n, _, _)| n == name);
        if let Some((_, c_known, rust_known)) = known {
            if c.rows.get(name).map(String::as_str) != Some(*c_known) || rust_value != rust_known {
                problems.push(format!(
                    "{}: the known difference (C `{c_known}`, abi.rs `{rust_known}`) changed: C has `{}`, abi.rs \
                     `{rust_value}`; update KNOWN_ABI_RS_DIFFERENCES",
                    describe(name),
                    c.rows.get(name).map(String::as_str).unwrap_or("nothing")
                ));
            }
            continue;
        }
        match c.rows.get(name) {
            Some(c_value) if c_value == rust_value => {}
            Some(c_value) => problems.push(format!(
                "{}: C (include/) has `{c_value}`, abi.rs has `{rust_value}` ({})",
                describe(name),
                if name.contains('.') {
                    "offset size"
                } else if rust_value.starts_with('=') {
                    "value"
                } else {
                    "sizeof align"
                }
            )),
            None => problems.push(format!("{}: in abi.rs but not printed by layout.c", describe(name))),
        }
    }
    for name in c.rows.keys().filter(|n| !rust.rows.contains_key(*n)) {
        problems
            .push(format!("{}: printed by layout.c but missing from the abi.rs table of layout.rs", describe(name)));
    }
    assert!(
        problems.is_empty(),
        "include/ and abi.rs disagree ({} problems):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
    // The structures docs/C_ABI.md promises by size.
    for (name, size) in [("IRP", 208), ("IO_STACK_LOCATION", 72), ("MDL", 48), ("KEVENT", 24)] {
        assert_eq!(c.rows[name].split(' ').next(), Some(size.to_string().as_str()), "sizeof({name})");
    }
}

#[test]
fn windows_format_conventions() {
    let stdout = support::run_ok(&layout_exe(), &["format"], Duration::from_secs(60));
    let long = "0123456789".repeat(28);
    let truncated = format!("truncated|{}|overflow", &long[..255]);
    let expected = [
        "wZ|[\\Registry\\Machine]|ok",
        "Z|[ansi] [ansi]|ok",
        "ws|[wide\u{e9}] [wide\u{e9}] [wide\u{e9}] [narrow] [plain]|ok",
        "long32|[-5] [4000000000] [deadbeef] [C0000001]|ok",
        "int64|[-1] [123456789ab] [-9] [18446744073709551615]|ok",
        "ptrsize|[7] [abc] [8] [-3]|ok",
        "width|[   11] [12   ] [    13] [14  ] [abc] [00015]|ok",
        "chars|[abcd]|ok",
        "misc|[%] [ 3.14] [0xff] [(null)] [(null)] [4464]|ok",
        truncated.as_str(),
        "small|0123456|overflow",
        "DbgPrint|W|w|n|N|7|\\Registry\\Machine|ok",
        "DbgPrint|ustr|\\Regis|12|overflow",
        "DbgPrint|dbg|\\Registry\\Machine|42",
        "DbgPrint|dbgex|9",
        "DbgPrint|kd|kdprint",
        "DbgPrint|wpp|PrintFormats|4|TRACE_SOCKET|0xC0000120|TRUE|127.0.0.1|80|2227e803-8d8b-11d4-abad-009027719e09|%!other!|5",
        "DbgPrint|wpp2|layout.c|wide\u{e9}",
    ];
    let lines: Vec<&str> = stdout.lines().collect();
    for (i, want) in expected.iter().enumerate() {
        assert_eq!(lines.get(i).copied(), Some(*want), "line {} of `layout format`:\n{stdout}", i + 1);
    }
    assert_eq!(lines.len(), expected.len(), "`layout format` printed more lines:\n{stdout}");
}
