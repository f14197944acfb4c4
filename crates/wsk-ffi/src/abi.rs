//! The C types, member for member: the Rust mirror of `include/`.
//!
//! Every structure a C client shares with libwsk is defined here with `#[repr(C)]`, in
//! the member order and with the integer widths of the Windows headers (`ULONG` is 32
//! bits; x64 layout). `tests/layout.rs` compiles a C program that prints `sizeof` and
//! `offsetof` of each of them from `include/` and compares with these definitions.
//!
//! Where Windows has a union or a member nobody on Linux uses, the mirror keeps the size
//! and the offsets of the members that are used, and names the rest `Reserved*`.
#![allow(non_camel_case_types, non_snake_case, non_upper_case_globals, dead_code, clippy::upper_case_acronyms)]

use std::ffi::c_void;

// ----- base types (ntdef.h) -----
pub type VOID = c_void;
pub type PVOID = *mut c_void;
pub type CHAR = i8;
pub type UCHAR = u8;
pub type CCHAR = i8;
pub type SHORT = i16;
pub type CSHORT = i16;
pub type USHORT = u16;
pub type LONG = i32;
pub type ULONG = u32;
pub type LONG64 = i64;
pub type ULONG64 = u64;
pub type LONGLONG = i64;
pub type ULONGLONG = u64;
pub type LONG_PTR = isize;
pub type ULONG_PTR = usize;
pub type SIZE_T = usize;
pub type BOOLEAN = u8;
pub type NTSTATUS = i32;
pub type HANDLE = *mut c_void;
pub type WCHAR = u16;
pub type KIRQL = u8;
pub type KPROCESSOR_MODE = i8;
pub type KSPIN_LOCK = usize;
pub type ADDRESS_FAMILY = u16;
pub type PFN_NUMBER = usize;
pub type POOL_FLAGS = u64;
pub type LARGE_INTEGER = i64;

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GUID {
    pub Data1: u32,
    pub Data2: u16,
    pub Data3: u16,
    pub Data4: [u8; 8],
}
pub type NPIID = GUID;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct LIST_ENTRY {
    pub Flink: *mut LIST_ENTRY,
    pub Blink: *mut LIST_ENTRY,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SINGLE_LIST_ENTRY {
    pub Next: *mut SINGLE_LIST_ENTRY,
}
pub type SLIST_ENTRY = SINGLE_LIST_ENTRY;

/// `SLIST_HEADER` (x64: 16 bytes, 16-aligned). libwsk keeps the first entry in
/// `Next` and the depth and a sequence number in `Depth`/`Sequence`.
#[repr(C, align(16))]
#[derive(Debug, Clone, Copy)]
pub struct SLIST_HEADER {
    pub Next: *mut SLIST_ENTRY,
    pub Depth: u16,
    pub Reserved: u16,
    pub Sequence: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct UNICODE_STRING {
    pub Length: USHORT,
    pub MaximumLength: USHORT,
    pub Buffer: *mut WCHAR,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ANSI_STRING {
    pub Length: USHORT,
    pub MaximumLength: USHORT,
    pub Buffer: *mut CHAR,
}

// ----- I/O manager (wdm.h) -----

/// `IO_STATUS_BLOCK`: `union { NTSTATUS Status; PVOID Pointer; }; ULONG_PTR Information;`
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IO_STATUS_BLOCK {
    /// The `Status` member (the low 32 bits of the `Status`/`Pointer` union).
    pub Status: NTSTATUS,
    pub StatusPad: u32,
    pub Information: ULONG_PTR,
}

pub type PIO_COMPLETION_ROUTINE =
    Option<unsafe extern "C" fn(DeviceObject: *mut DEVICE_OBJECT, Irp: *mut IRP, Context: PVOID) -> NTSTATUS>;
pub type PDRIVER_CANCEL = Option<unsafe extern "C" fn(DeviceObject: *mut DEVICE_OBJECT, Irp: *mut IRP)>;

/// `IO_STACK_LOCATION` (x64: 72 bytes). `Parameters` is a union of four pointers.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IO_STACK_LOCATION {
    pub MajorFunction: UCHAR,
    pub MinorFunction: UCHAR,
    pub Flags: UCHAR,
    pub Control: UCHAR,
    pub Parameters: [PVOID; 4],
    pub DeviceObject: *mut DEVICE_OBJECT,
    pub FileObject: PVOID,
    pub CompletionRoutine: PIO_COMPLETION_ROUTINE,
    pub Context: PVOID,
}

pub const SL_PENDING_RETURNED: u8 = 0x01;
pub const SL_ERROR_RETURNED: u8 = 0x02;
pub const SL_INVOKE_ON_CANCEL: u8 = 0x20;
pub const SL_INVOKE_ON_SUCCESS: u8 = 0x40;
pub const SL_INVOKE_ON_ERROR: u8 = 0x80;
pub const IO_TYPE_IRP: i16 = 6;

/// `IRP` (x64: 208 bytes), the header before its stack locations.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IRP {
    pub Type: CSHORT,
    pub Size: USHORT,
    pub AllocationProcessorNumber: USHORT,
    pub Reserved: USHORT,
    pub MdlAddress: *mut MDL,
    pub Flags: ULONG,
    /// `AssociatedIrp` union (`MasterIrp` / `IrpCount` / `SystemBuffer`).
    pub AssociatedIrp: PVOID,
    pub ThreadListEntry: LIST_ENTRY,
    pub IoStatus: IO_STATUS_BLOCK,
    pub RequestorMode: KPROCESSOR_MODE,
    pub PendingReturned: BOOLEAN,
    pub StackCount: CHAR,
    pub CurrentLocation: CHAR,
    pub Cancel: BOOLEAN,
    pub CancelIrql: KIRQL,
    pub ApcEnvironment: CCHAR,
    pub AllocationFlags: UCHAR,
    pub UserIosb: *mut IO_STATUS_BLOCK,
    pub UserEvent: *mut KEVENT,
    /// `Overlay` union (`AsynchronousParameters` / `AllocationSize`).
    pub Overlay: [PVOID; 2],
    pub CancelRoutine: PDRIVER_CANCEL,
    pub UserBuffer: PVOID,
    pub Tail: IRP_TAIL_OVERLAY,
}

/// `IRP.Tail.Overlay` (the `Tail` union is 88 bytes: the size of a `KAPC`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IRP_TAIL_OVERLAY {
    pub DriverContext: [PVOID; 4],
    pub Thread: PVOID,
    pub AuxiliaryBuffer: *mut CHAR,
    pub ListEntry: LIST_ENTRY,
    pub CurrentStackLocation: *mut IO_STACK_LOCATION,
    pub OriginalFileObject: PVOID,
    pub Reserved: [PVOID; 1],
}

/// `MDL` (x64: 48 bytes), followed by its page-frame array.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MDL {
    pub Next: *mut MDL,
    pub Size: CSHORT,
    pub MdlFlags: CSHORT,
    pub Process: PVOID,
    pub MappedSystemVa: PVOID,
    pub StartVa: PVOID,
    pub ByteCount: ULONG,
    pub ByteOffset: ULONG,
}

pub const MDL_MAPPED_TO_SYSTEM_VA: i16 = 0x0001;
pub const MDL_PAGES_LOCKED: i16 = 0x0002;
pub const MDL_SOURCE_IS_NONPAGED_POOL: i16 = 0x0004;
pub const MDL_ALLOCATED_FIXED_SIZE: i16 = 0x0008;
pub const MDL_PARTIAL: i16 = 0x0010;
pub const PAGE_SIZE: usize = 4096;

/// `DISPATCHER_HEADER` (x64: 24 bytes): what every waitable object starts with.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DISPATCHER_HEADER {
    pub Type: UCHAR,
    pub Signalling: UCHAR,
    pub Size: UCHAR,
    pub Reserved1: UCHAR,
    pub SignalState: LONG,
    pub WaitListHead: LIST_ENTRY,
}

/// `KEVENT`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct KEVENT {
    pub Header: DISPATCHER_HEADER,
}

/// `DISPATCHER_HEADER.Type` values.
pub const EVENT_NOTIFICATION_OBJECT: u8 = 0; // NotificationEvent
pub const EVENT_SYNCHRONIZATION_OBJECT: u8 = 1; // SynchronizationEvent
pub const THREAD_OBJECT: u8 = 6;

/// `EX_RUNDOWN_REF`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct EX_RUNDOWN_REF {
    pub Count: ULONG_PTR,
}

/// `DRIVER_OBJECT` (the members drivers use, in Windows order; x64: 336 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DRIVER_OBJECT {
    pub Type: CSHORT,
    pub Size: CSHORT,
    pub DeviceObject: *mut DEVICE_OBJECT,
    pub Flags: ULONG,
    pub DriverStart: PVOID,
    pub DriverSize: ULONG,
    pub DriverSection: PVOID,
    pub DriverExtension: PVOID,
    pub DriverName: UNICODE_STRING,
    pub HardwareDatabase: *mut UNICODE_STRING,
    pub FastIoDispatch: PVOID,
    pub DriverInit: PVOID,
    pub DriverStartIo: PVOID,
    pub DriverUnload: Option<unsafe extern "C" fn(DriverObject: *mut DRIVER_OBJECT)>,
    pub MajorFunction: [PVOID; 28],
}

/// `DEVICE_OBJECT` (x64: 336 bytes), with the members drivers use named and the
/// rest (device queue, DPC, lock…) kept as reserved space at Windows' offsets.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DEVICE_OBJECT {
    pub Type: CSHORT,
    pub Size: USHORT,
    pub ReferenceCount: LONG,
    pub DriverObject: *mut DRIVER_OBJECT,
    pub NextDevice: *mut DEVICE_OBJECT,
    pub AttachedDevice: *mut DEVICE_OBJECT,
    pub CurrentIrp: *mut IRP,
    pub Timer: PVOID,
    pub Flags: ULONG,
    pub Characteristics: ULONG,
    pub Vpb: PVOID,
    pub DeviceExtension: PVOID,
    pub DeviceType: ULONG,
    pub StackSize: CCHAR,
    /// `Queue` (a `LIST_ENTRY` / `WAIT_CONTEXT_BLOCK` union).
    pub Queue: [PVOID; 9],
    pub AlignmentRequirement: ULONG,
    /// `DeviceQueue` (`KDEVICE_QUEUE`).
    pub DeviceQueue: [PVOID; 5],
    /// `Dpc` (`KDPC`).
    pub Dpc: [PVOID; 8],
    pub ActiveThreadCount: ULONG,
    pub SecurityDescriptor: PVOID,
    pub DeviceLock: KEVENT,
    pub SectorSize: USHORT,
    pub Spare1: USHORT,
    pub DeviceObjectExtension: PVOID,
    pub Reserved: PVOID,
    /// Pads to Windows' size (the structure is 16-aligned there).
    pub Padding: PVOID,
}

// ----- sockets (ws2def.h, ws2ipdef.h) -----
pub const AF_UNSPEC: u16 = 0;
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 23;
pub const SOCK_STREAM: u16 = 1;
pub const SOCK_DGRAM: u16 = 2;
pub const SOCK_RAW: u16 = 3;
pub const IPPROTO_TCP: u32 = 6;
pub const IPPROTO_UDP: u32 = 17;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SOCKADDR {
    pub sa_family: ADDRESS_FAMILY,
    pub sa_data: [CHAR; 14],
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IN_ADDR {
    pub S_addr: ULONG,
}

/// `IN6_ADDR`: on Windows a union of `UCHAR Byte[16]` and `USHORT Word[8]` (2-aligned).
#[repr(C, align(2))]
#[derive(Debug, Clone, Copy)]
pub struct IN6_ADDR {
    pub Byte: [UCHAR; 16],
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SOCKADDR_IN {
    pub sin_family: ADDRESS_FAMILY,
    pub sin_port: USHORT,
    pub sin_addr: IN_ADDR,
    pub sin_zero: [CHAR; 8],
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SOCKADDR_IN6 {
    pub sin6_family: ADDRESS_FAMILY,
    pub sin6_port: USHORT,
    pub sin6_flowinfo: ULONG,
    pub sin6_addr: IN6_ADDR,
    pub sin6_scope_id: ULONG,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SOCKADDR_STORAGE {
    pub ss_family: ADDRESS_FAMILY,
    pub __ss_pad1: [CHAR; 6],
    pub __ss_align: i64,
    pub __ss_pad2: [CHAR; 112],
}

/// `WSACMSGHDR` / `CMSGHDR`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CMSGHDR {
    pub cmsg_len: SIZE_T,
    pub cmsg_level: i32,
    pub cmsg_type: i32,
}

/// `SOCKET_ADDRESS`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SOCKET_ADDRESS {
    pub lpSockaddr: *mut SOCKADDR,
    pub iSockaddrLength: i32,
}

/// `ADDRINFOEXW`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ADDRINFOEXW {
    pub ai_flags: i32,
    pub ai_family: i32,
    pub ai_socktype: i32,
    pub ai_protocol: i32,
    pub ai_addrlen: SIZE_T,
    pub ai_canonname: *mut WCHAR,
    pub ai_addr: *mut SOCKADDR,
    pub ai_blob: PVOID,
    pub ai_bloblen: SIZE_T,
    pub ai_provider: *mut GUID,
    pub ai_next: *mut ADDRINFOEXW,
}

// ----- WSK (wsk.h) -----
pub type PWSK_CLIENT = PVOID;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_SOCKET {
    pub Dispatch: *const c_void,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_BUF {
    pub Mdl: *mut MDL,
    pub Offset: ULONG,
    pub Length: SIZE_T,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_BUF_LIST {
    pub Next: *mut WSK_BUF_LIST,
    pub Buffer: WSK_BUF,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_DATA_INDICATION {
    pub Next: *mut WSK_DATA_INDICATION,
    pub Buffer: WSK_BUF,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_DATAGRAM_INDICATION {
    pub Next: *mut WSK_DATAGRAM_INDICATION,
    pub Buffer: WSK_BUF,
    pub ControlInfo: *mut CMSGHDR,
    pub ControlInfoLength: ULONG,
    pub RemoteAddress: *mut SOCKADDR,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WSK_INSPECT_ID {
    pub Key: ULONG_PTR,
    pub SerialNumber: ULONG,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_CLIENT_DISPATCH {
    pub Version: USHORT,
    pub Reserved: USHORT,
    pub WskClientEvent: PFN_WSK_CLIENT_EVENT,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_CLIENT_NPI {
    pub ClientContext: PVOID,
    pub Dispatch: *const WSK_CLIENT_DISPATCH,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_PROVIDER_NPI {
    pub Client: PWSK_CLIENT,
    pub Dispatch: *const WSK_PROVIDER_DISPATCH,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_REGISTRATION {
    pub ReservedRegistrationState: ULONGLONG,
    pub ReservedRegistrationContext: PVOID,
    pub ReservedRegistrationLock: KSPIN_LOCK,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_PROVIDER_CHARACTERISTICS {
    pub HighestVersion: USHORT,
    pub LowestVersion: USHORT,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_TRANSPORT {
    pub Version: USHORT,
    pub SocketType: USHORT,
    pub Protocol: ULONG,
    pub AddressFamily: ADDRESS_FAMILY,
    pub ProviderId: GUID,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_EVENT_CALLBACK_CONTROL {
    pub NpiId: *const NPIID,
    pub EventMask: ULONG,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_EXTENSION_CONTROL_IN {
    pub NpiId: *const NPIID,
    pub ClientContext: PVOID,
    pub ClientDispatch: *const c_void,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_EXTENSION_CONTROL_OUT {
    pub ProviderContext: PVOID,
    pub ProviderDispatch: *const c_void,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_TDI_MAP {
    pub SocketType: USHORT,
    pub AddressFamily: ADDRESS_FAMILY,
    pub Protocol: ULONG,
    pub TdiDeviceName: *const WCHAR,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_TDI_MAP_INFO {
    pub ElementCount: ULONG,
    pub Map: *const WSK_TDI_MAP,
}

/// `WSK_CONTROL_SOCKET_TYPE`.
pub const WskSetOption: u32 = 0;
pub const WskGetOption: u32 = 1;
pub const WskIoctl: u32 = 2;
/// `WSK_INSPECT_ACTION`.
pub const WskInspectReject: u32 = 0;
pub const WskInspectAccept: u32 = 1;
pub const WskInspectPend: u32 = 2;

type S = *mut WSK_SOCKET;
type I = *mut IRP;
type A = *mut SOCKADDR;

pub type PFN_WSK_CLIENT_EVENT = Option<
    unsafe extern "C" fn(
        ClientContext: PVOID,
        EventType: ULONG,
        Information: PVOID,
        InformationLength: SIZE_T,
    ) -> NTSTATUS,
>;
pub type PFN_WSK_SOCKET = Option<
    unsafe extern "C" fn(
        Client: PWSK_CLIENT,
        AddressFamily: ADDRESS_FAMILY,
        SocketType: USHORT,
        Protocol: ULONG,
        Flags: ULONG,
        SocketContext: PVOID,
        Dispatch: *const c_void,
        OwningProcess: PVOID,
        OwningThread: PVOID,
        SecurityDescriptor: PVOID,
        Irp: I,
    ) -> NTSTATUS,
>;
pub type PFN_WSK_SOCKET_CONNECT = Option<
    unsafe extern "C" fn(
        Client: PWSK_CLIENT,
        SocketType: USHORT,
        Protocol: ULONG,
        LocalAddress: A,
        RemoteAddress: A,
        Flags: ULONG,
        SocketContext: PVOID,
        Dispatch: *const WSK_CLIENT_CONNECTION_DISPATCH,
        OwningProcess: PVOID,
        OwningThread: PVOID,
        SecurityDescriptor: PVOID,
        Irp: I,
    ) -> NTSTATUS,
>;
pub type PFN_WSK_CONTROL_CLIENT = Option<
    unsafe extern "C" fn(
        Client: PWSK_CLIENT,
        ControlCode: ULONG,
        InputSize: SIZE_T,
        InputBuffer: PVOID,
        OutputSize: SIZE_T,
        OutputBuffer: PVOID,
        OutputSizeReturned: *mut SIZE_T,
        Irp: I,
    ) -> NTSTATUS,
>;
pub type PFN_WSK_GET_ADDRESS_INFO = Option<
    unsafe extern "C" fn(
        Client: PWSK_CLIENT,
        NodeName: *mut UNICODE_STRING,
        ServiceName: *mut UNICODE_STRING,
        NameSpace: ULONG,
        Provider: *mut GUID,
        Hints: *mut ADDRINFOEXW,
        Result: *mut *mut ADDRINFOEXW,
        OwningProcess: PVOID,
        OwningThread: PVOID,
        Irp: I,
    ) -> NTSTATUS,
>;
pub type PFN_WSK_FREE_ADDRESS_INFO = Option<unsafe extern "C" fn(Client: PWSK_CLIENT, AddrInfo: *mut ADDRINFOEXW)>;
pub type PFN_WSK_GET_NAME_INFO = Option<
    unsafe extern "C" fn(
        Client: PWSK_CLIENT,
        SockAddr: A,
        SockAddrLength: ULONG,
        NodeName: *mut UNICODE_STRING,
        ServiceName: *mut UNICODE_STRING,
        Flags: ULONG,
        OwningProcess: PVOID,
        OwningThread: PVOID,
        Irp: I,
    ) -> NTSTATUS,
>;
pub type PFN_WSK_CONTROL_SOCKET = Option<
    unsafe extern "C" fn(
        Socket: S,
        RequestType: u32,
        ControlCode: ULONG,
        Level: ULONG,
        InputSize: SIZE_T,
        InputBuffer: PVOID,
        OutputSize: SIZE_T,
        OutputBuffer: PVOID,
        OutputSizeReturned: *mut SIZE_T,
        Irp: I,
    ) -> NTSTATUS,
>;
pub type PFN_WSK_CLOSE_SOCKET = Option<unsafe extern "C" fn(Socket: S, Irp: I) -> NTSTATUS>;
pub type PFN_WSK_BIND = Option<unsafe extern "C" fn(Socket: S, LocalAddress: A, Flags: ULONG, Irp: I) -> NTSTATUS>;
pub type PFN_WSK_ACCEPT = Option<
    unsafe extern "C" fn(
        ListenSocket: S,
        Flags: ULONG,
        AcceptSocketContext: PVOID,
        AcceptSocketDispatch: *const WSK_CLIENT_CONNECTION_DISPATCH,
        LocalAddress: A,
        RemoteAddress: A,
        Irp: I,
    ) -> NTSTATUS,
>;
pub type PFN_WSK_INSPECT_COMPLETE =
    Option<unsafe extern "C" fn(ListenSocket: S, InspectID: *mut WSK_INSPECT_ID, Action: u32, Irp: I) -> NTSTATUS>;
pub type PFN_WSK_GET_LOCAL_ADDRESS = Option<unsafe extern "C" fn(Socket: S, LocalAddress: A, Irp: I) -> NTSTATUS>;
pub type PFN_WSK_GET_REMOTE_ADDRESS = Option<unsafe extern "C" fn(Socket: S, RemoteAddress: A, Irp: I) -> NTSTATUS>;
pub type PFN_WSK_CONNECT = Option<unsafe extern "C" fn(Socket: S, RemoteAddress: A, Flags: ULONG, Irp: I) -> NTSTATUS>;
pub type PFN_WSK_CONNECT_EX =
    Option<unsafe extern "C" fn(Socket: S, RemoteAddress: A, Buffer: *mut WSK_BUF, Flags: ULONG, Irp: I) -> NTSTATUS>;
pub type PFN_WSK_LISTEN = Option<unsafe extern "C" fn(Socket: S, Irp: I) -> NTSTATUS>;
pub type PFN_WSK_SEND = Option<unsafe extern "C" fn(Socket: S, Buffer: *mut WSK_BUF, Flags: ULONG, Irp: I) -> NTSTATUS>;
pub type PFN_WSK_RECEIVE =
    Option<unsafe extern "C" fn(Socket: S, Buffer: *mut WSK_BUF, Flags: ULONG, Irp: I) -> NTSTATUS>;
pub type PFN_WSK_DISCONNECT =
    Option<unsafe extern "C" fn(Socket: S, Buffer: *mut WSK_BUF, Flags: ULONG, Irp: I) -> NTSTATUS>;
pub type PFN_WSK_RELEASE_DATA_INDICATION_LIST =
    Option<unsafe extern "C" fn(Socket: S, DataIndication: *mut WSK_DATA_INDICATION) -> NTSTATUS>;
pub type PFN_WSK_SEND_TO = Option<
    unsafe extern "C" fn(
        Socket: S,
        Buffer: *mut WSK_BUF,
        Flags: ULONG,
        RemoteAddress: A,
        ControlInfoLength: ULONG,
        ControlInfo: *mut CMSGHDR,
        Irp: I,
    ) -> NTSTATUS,
>;
pub type PFN_WSK_RECEIVE_FROM = Option<
    unsafe extern "C" fn(
        Socket: S,
        Buffer: *mut WSK_BUF,
        Flags: ULONG,
        RemoteAddress: A,
        ControlLength: *mut ULONG,
        ControlInfo: *mut CMSGHDR,
        ControlFlags: *mut ULONG,
        Irp: I,
    ) -> NTSTATUS,
>;
pub type PFN_WSK_RELEASE_DATAGRAM_INDICATION_LIST =
    Option<unsafe extern "C" fn(Socket: S, DatagramIndication: *mut WSK_DATAGRAM_INDICATION) -> NTSTATUS>;
pub type PFN_WSK_SEND_MESSAGES = Option<
    unsafe extern "C" fn(
        Socket: S,
        BufferList: *mut WSK_BUF_LIST,
        Flags: ULONG,
        RemoteAddress: A,
        ControlInfoLength: ULONG,
        ControlInfo: *mut CMSGHDR,
        Irp: I,
    ) -> NTSTATUS,
>;
pub type PFN_WSK_SEND_EX = Option<
    unsafe extern "C" fn(
        Socket: S,
        Buffer: *mut WSK_BUF,
        Flags: ULONG,
        ControlInfoLength: ULONG,
        ControlInfo: *mut CMSGHDR,
        Irp: I,
    ) -> NTSTATUS,
>;
pub type PFN_WSK_RECEIVE_EX = Option<
    unsafe extern "C" fn(
        Socket: S,
        Buffer: *mut WSK_BUF,
        Flags: ULONG,
        ControlInfoLength: *mut ULONG,
        ControlInfo: *mut CMSGHDR,
        ControlFlags: *mut ULONG,
        Irp: I,
    ) -> NTSTATUS,
>;

pub type PFN_WSK_ACCEPT_EVENT = Option<
    unsafe extern "C" fn(
        SocketContext: PVOID,
        Flags: ULONG,
        LocalAddress: A,
        RemoteAddress: A,
        AcceptSocket: S,
        AcceptSocketContext: *mut PVOID,
        AcceptSocketDispatch: *mut *const WSK_CLIENT_CONNECTION_DISPATCH,
    ) -> NTSTATUS,
>;
pub type PFN_WSK_INSPECT_EVENT = Option<
    unsafe extern "C" fn(
        SocketContext: PVOID,
        LocalAddress: A,
        RemoteAddress: A,
        InspectID: *mut WSK_INSPECT_ID,
    ) -> u32,
>;
pub type PFN_WSK_ABORT_EVENT =
    Option<unsafe extern "C" fn(SocketContext: PVOID, InspectID: *mut WSK_INSPECT_ID) -> NTSTATUS>;
pub type PFN_WSK_RECEIVE_FROM_EVENT = Option<
    unsafe extern "C" fn(SocketContext: PVOID, Flags: ULONG, DataIndication: *mut WSK_DATAGRAM_INDICATION) -> NTSTATUS,
>;
pub type PFN_WSK_RECEIVE_EVENT = Option<
    unsafe extern "C" fn(
        SocketContext: PVOID,
        Flags: ULONG,
        DataIndication: *mut WSK_DATA_INDICATION,
        BytesIndicated: SIZE_T,
        BytesAccepted: *mut SIZE_T,
    ) -> NTSTATUS,
>;
pub type PFN_WSK_DISCONNECT_EVENT = Option<unsafe extern "C" fn(SocketContext: PVOID, Flags: ULONG) -> NTSTATUS>;
pub type PFN_WSK_SEND_BACKLOG_EVENT =
    Option<unsafe extern "C" fn(SocketContext: PVOID, IdealBacklogSize: SIZE_T) -> NTSTATUS>;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_PROVIDER_DISPATCH {
    pub Version: USHORT,
    pub Reserved: USHORT,
    pub WskSocket: PFN_WSK_SOCKET,
    pub WskSocketConnect: PFN_WSK_SOCKET_CONNECT,
    pub WskControlClient: PFN_WSK_CONTROL_CLIENT,
    pub WskGetAddressInfo: PFN_WSK_GET_ADDRESS_INFO,
    pub WskFreeAddressInfo: PFN_WSK_FREE_ADDRESS_INFO,
    pub WskGetNameInfo: PFN_WSK_GET_NAME_INFO,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_PROVIDER_BASIC_DISPATCH {
    pub WskControlSocket: PFN_WSK_CONTROL_SOCKET,
    pub WskCloseSocket: PFN_WSK_CLOSE_SOCKET,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_PROVIDER_LISTEN_DISPATCH {
    pub Basic: WSK_PROVIDER_BASIC_DISPATCH,
    pub WskBind: PFN_WSK_BIND,
    pub WskAccept: PFN_WSK_ACCEPT,
    pub WskInspectComplete: PFN_WSK_INSPECT_COMPLETE,
    pub WskGetLocalAddress: PFN_WSK_GET_LOCAL_ADDRESS,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_PROVIDER_DATAGRAM_DISPATCH {
    pub Basic: WSK_PROVIDER_BASIC_DISPATCH,
    pub WskBind: PFN_WSK_BIND,
    pub WskSendTo: PFN_WSK_SEND_TO,
    pub WskReceiveFrom: PFN_WSK_RECEIVE_FROM,
    pub WskRelease: PFN_WSK_RELEASE_DATAGRAM_INDICATION_LIST,
    pub WskGetLocalAddress: PFN_WSK_GET_LOCAL_ADDRESS,
    pub WskSendMessages: PFN_WSK_SEND_MESSAGES,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_PROVIDER_CONNECTION_DISPATCH {
    pub Basic: WSK_PROVIDER_BASIC_DISPATCH,
    pub WskBind: PFN_WSK_BIND,
    pub WskConnect: PFN_WSK_CONNECT,
    pub WskGetLocalAddress: PFN_WSK_GET_LOCAL_ADDRESS,
    pub WskGetRemoteAddress: PFN_WSK_GET_REMOTE_ADDRESS,
    pub WskSend: PFN_WSK_SEND,
    pub WskReceive: PFN_WSK_RECEIVE,
    pub WskDisconnect: PFN_WSK_DISCONNECT,
    pub WskRelease: PFN_WSK_RELEASE_DATA_INDICATION_LIST,
    pub WskConnectEx: PFN_WSK_CONNECT_EX,
    pub WskSendEx: PFN_WSK_SEND_EX,
    pub WskReceiveEx: PFN_WSK_RECEIVE_EX,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_PROVIDER_STREAM_DISPATCH {
    pub Basic: WSK_PROVIDER_BASIC_DISPATCH,
    pub WskBind: PFN_WSK_BIND,
    pub WskAccept: PFN_WSK_ACCEPT,
    pub WskConnect: PFN_WSK_CONNECT,
    pub WskListen: PFN_WSK_LISTEN,
    pub WskSend: PFN_WSK_SEND,
    pub WskReceive: PFN_WSK_RECEIVE,
    pub WskDisconnect: PFN_WSK_DISCONNECT,
    pub WskRelease: PFN_WSK_RELEASE_DATA_INDICATION_LIST,
    pub WskGetLocalAddress: PFN_WSK_GET_LOCAL_ADDRESS,
    pub WskGetRemoteAddress: PFN_WSK_GET_REMOTE_ADDRESS,
    pub WskConnectEx: PFN_WSK_CONNECT_EX,
    pub WskSendEx: PFN_WSK_SEND_EX,
    pub WskReceiveEx: PFN_WSK_RECEIVE_EX,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_CLIENT_LISTEN_DISPATCH {
    pub WskAcceptEvent: PFN_WSK_ACCEPT_EVENT,
    pub WskInspectEvent: PFN_WSK_INSPECT_EVENT,
    pub WskAbortEvent: PFN_WSK_ABORT_EVENT,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_CLIENT_DATAGRAM_DISPATCH {
    pub WskReceiveFromEvent: PFN_WSK_RECEIVE_FROM_EVENT,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_CLIENT_CONNECTION_DISPATCH {
    pub WskReceiveEvent: PFN_WSK_RECEIVE_EVENT,
    pub WskDisconnectEvent: PFN_WSK_DISCONNECT_EVENT,
    pub WskSendBacklogEvent: PFN_WSK_SEND_BACKLOG_EVENT,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_CLIENT_STREAM_DISPATCH {
    pub Listen: *const WSK_CLIENT_LISTEN_DISPATCH,
    pub Connect: *const WSK_CLIENT_CONNECTION_DISPATCH,
}

/// `NPI_WSK_INTERFACE_ID` = {2227E803-8D8B-11D4-ABAD-009027719E09}.
pub const NPI_WSK_INTERFACE_ID_VALUE: GUID =
    GUID { Data1: 0x2227_E803, Data2: 0x8D8B, Data3: 0x11D4, Data4: [0xAB, 0xAD, 0x00, 0x90, 0x27, 0x71, 0x9E, 0x09] };

// ----- kernel additions -----
// Types and constants of the kernel subset (crates/wsk-ffi/src/kernel/) that the
// definitions above do not cover.

/// `KSPIN_LOCK_QUEUE`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct KSPIN_LOCK_QUEUE {
    pub Next: PVOID,
    pub Lock: *mut KSPIN_LOCK,
}

/// `KLOCK_QUEUE_HANDLE` (x64: 24 bytes): the caller's storage for an in-stack queued spin lock.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct KLOCK_QUEUE_HANDLE {
    pub LockQueue: KSPIN_LOCK_QUEUE,
    pub OldIrql: KIRQL,
}

/// `NPAGED_LOOKASIDE_LIST`, `PAGED_LOOKASIDE_LIST`, `LOOKASIDE_LIST_EX`: opaque storage in
/// the client's memory (128 bytes, 16-aligned) that libwsk's lookaside lists live in.
#[repr(C, align(16))]
#[derive(Debug, Clone, Copy)]
pub struct LOOKASIDE_STORAGE {
    pub Reserved: [PVOID; 16],
}

/// `OBJECT_TYPE`: opaque; `*PsThreadType` and friends point to distinct instances.
#[repr(C)]
#[derive(Debug)]
pub struct OBJECT_TYPE {
    /// The type's name, NUL-padded (for debuggers; clients never read it).
    pub Name: [u8; 16],
}

/// `CLIENT_ID`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CLIENT_ID {
    pub UniqueProcess: HANDLE,
    pub UniqueThread: HANDLE,
}

/// `OBJECT_HANDLE_INFORMATION`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct OBJECT_HANDLE_INFORMATION {
    pub HandleAttributes: ULONG,
    pub GrantedAccess: ULONG,
}

/// `IN_ADDR` / `IN6_ADDR` string lengths (`INET_ADDRSTRLEN`, `INET6_ADDRSTRLEN`).
pub const INET_ADDRSTRLEN: usize = 22;
pub const INET6_ADDRSTRLEN: usize = 65;

pub const IO_TYPE_DEVICE: i16 = 3;
/// `DEVICE_OBJECT.Flags`.
pub const DO_EXCLUSIVE: u32 = 0x0000_0008;
pub const DO_DEVICE_INITIALIZING: u32 = 0x0000_0080;

/// `IRP.AllocationFlags`.
pub const IRP_QUOTA_CHARGED: u8 = 0x01;
pub const IRP_ALLOCATED_FIXED_SIZE: u8 = 0x04;

/// More `MDL.MdlFlags`.
pub const MDL_PARTIAL_HAS_BEEN_MAPPED: i16 = 0x0020;
pub const MDL_IO_PAGE_READ: i16 = 0x0040;
pub const MDL_WRITE_OPERATION: i16 = 0x0080;

/// `DISPATCHER_HEADER.Type` of the process object.
pub const PROCESS_OBJECT: u8 = 3;
pub const PASSIVE_LEVEL: KIRQL = 0;
pub const APC_LEVEL: KIRQL = 1;
pub const DISPATCH_LEVEL: KIRQL = 2;
pub const MAXIMUM_WAIT_OBJECTS: u32 = 64;
