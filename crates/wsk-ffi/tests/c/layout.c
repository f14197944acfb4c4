/*
 * layout.c: prints the layout of every structure that include/ shares with libwsk, as the
 * C compiler sees it, for tests/layout.rs to compare with crates/wsk-ffi/src/abi.rs:
 *
 *   STRUCT sizeof align          one line per structure or type
 *   STRUCT.MEMBER offset size    one line per member (a path for members inside unions)
 *   NAME = value                 one line per constant abi.rs also defines
 *
 * Run with the argument "format", it prints instead "label|text" lines formatted by the
 * DbgPrint / RtlStringCbPrintf machinery of the headers (Windows format conventions),
 * which layout.rs also checks. A plain executable: nothing here calls into libwsk
 * (WskRtlDebugOutput, DbgPrint's sink, is defined below).
 */
#include <ntddk.h>
#include <wsk.h>
#include <ntstrsafe.h>

#define T(type) printf("%s %zu %zu\n", #type, sizeof(type), (size_t)__alignof__(type))
#define M(type, member) printf("%s.%s %zu %zu\n", #type, #member, offsetof(type, member), sizeof(((type *)0)->member))
#define K(name) printf("%s = %lld\n", #name, (long long)(name))

static void PrintLayout(void)
{
    /* base types */
    T(CHAR);
    T(UCHAR);
    T(CCHAR);
    T(SHORT);
    T(CSHORT);
    T(USHORT);
    T(LONG);
    T(ULONG);
    T(LONG64);
    T(ULONG64);
    T(LONGLONG);
    T(ULONGLONG);
    T(LONG_PTR);
    T(ULONG_PTR);
    T(SIZE_T);
    T(BOOLEAN);
    T(NTSTATUS);
    T(HANDLE);
    T(PVOID);
    T(WCHAR);
    T(KIRQL);
    T(KPROCESSOR_MODE);
    T(KSPIN_LOCK);
    T(ADDRESS_FAMILY);
    T(PFN_NUMBER);
    T(POOL_FLAGS);
    T(LARGE_INTEGER);
    T(NPIID);
    T(PWSK_CLIENT);

    T(GUID);
    M(GUID, Data1);
    M(GUID, Data2);
    M(GUID, Data3);
    M(GUID, Data4);

    T(LIST_ENTRY);
    M(LIST_ENTRY, Flink);
    M(LIST_ENTRY, Blink);

    T(SINGLE_LIST_ENTRY);
    M(SINGLE_LIST_ENTRY, Next);

    T(SLIST_HEADER);
    M(SLIST_HEADER, Next);
    M(SLIST_HEADER, Depth);
    M(SLIST_HEADER, Reserved);
    M(SLIST_HEADER, Sequence);

    T(UNICODE_STRING);
    M(UNICODE_STRING, Length);
    M(UNICODE_STRING, MaximumLength);
    M(UNICODE_STRING, Buffer);

    T(ANSI_STRING);
    M(ANSI_STRING, Length);
    M(ANSI_STRING, MaximumLength);
    M(ANSI_STRING, Buffer);

    /* I/O manager */
    T(IO_STATUS_BLOCK);
    M(IO_STATUS_BLOCK, Status);
    M(IO_STATUS_BLOCK, Information);

    T(IO_STACK_LOCATION);
    M(IO_STACK_LOCATION, MajorFunction);
    M(IO_STACK_LOCATION, MinorFunction);
    M(IO_STACK_LOCATION, Flags);
    M(IO_STACK_LOCATION, Control);
    M(IO_STACK_LOCATION, Parameters);
    M(IO_STACK_LOCATION, DeviceObject);
    M(IO_STACK_LOCATION, FileObject);
    M(IO_STACK_LOCATION, CompletionRoutine);
    M(IO_STACK_LOCATION, Context);

    T(IRP);
    M(IRP, Type);
    M(IRP, Size);
    M(IRP, AllocationProcessorNumber);
    M(IRP, Reserved);
    M(IRP, MdlAddress);
    M(IRP, Flags);
    M(IRP, AssociatedIrp);
    M(IRP, ThreadListEntry);
    M(IRP, IoStatus);
    M(IRP, RequestorMode);
    M(IRP, PendingReturned);
    M(IRP, StackCount);
    M(IRP, CurrentLocation);
    M(IRP, Cancel);
    M(IRP, CancelIrql);
    M(IRP, ApcEnvironment);
    M(IRP, AllocationFlags);
    M(IRP, UserIosb);
    M(IRP, UserEvent);
    M(IRP, Overlay);
    M(IRP, CancelRoutine);
    M(IRP, UserBuffer);
    M(IRP, Tail);
    M(IRP, Tail.Overlay.DriverContext);
    M(IRP, Tail.Overlay.Thread);
    M(IRP, Tail.Overlay.AuxiliaryBuffer);
    M(IRP, Tail.Overlay.ListEntry);
    M(IRP, Tail.Overlay.CurrentStackLocation);
    M(IRP, Tail.Overlay.OriginalFileObject);

    T(MDL);
    M(MDL, Next);
    M(MDL, Size);
    M(MDL, MdlFlags);
    M(MDL, Process);
    M(MDL, MappedSystemVa);
    M(MDL, StartVa);
    M(MDL, ByteCount);
    M(MDL, ByteOffset);

    T(DISPATCHER_HEADER);
    M(DISPATCHER_HEADER, Type);
    M(DISPATCHER_HEADER, Signalling);
    M(DISPATCHER_HEADER, Size);
    M(DISPATCHER_HEADER, Reserved1);
    M(DISPATCHER_HEADER, SignalState);
    M(DISPATCHER_HEADER, WaitListHead);

    T(KEVENT);
    M(KEVENT, Header);

    T(EX_RUNDOWN_REF);
    M(EX_RUNDOWN_REF, Count);

    T(DRIVER_OBJECT);
    M(DRIVER_OBJECT, Type);
    M(DRIVER_OBJECT, Size);
    M(DRIVER_OBJECT, DeviceObject);
    M(DRIVER_OBJECT, Flags);
    M(DRIVER_OBJECT, DriverStart);
    M(DRIVER_OBJECT, DriverSize);
    M(DRIVER_OBJECT, DriverSection);
    M(DRIVER_OBJECT, DriverExtension);
    M(DRIVER_OBJECT, DriverName);
    M(DRIVER_OBJECT, HardwareDatabase);
    M(DRIVER_OBJECT, FastIoDispatch);
    M(DRIVER_OBJECT, DriverInit);
    M(DRIVER_OBJECT, DriverStartIo);
    M(DRIVER_OBJECT, DriverUnload);
    M(DRIVER_OBJECT, MajorFunction);

    T(DEVICE_OBJECT);
    M(DEVICE_OBJECT, Type);
    M(DEVICE_OBJECT, Size);
    M(DEVICE_OBJECT, ReferenceCount);
    M(DEVICE_OBJECT, DriverObject);
    M(DEVICE_OBJECT, NextDevice);
    M(DEVICE_OBJECT, AttachedDevice);
    M(DEVICE_OBJECT, CurrentIrp);
    M(DEVICE_OBJECT, Timer);
    M(DEVICE_OBJECT, Flags);
    M(DEVICE_OBJECT, Characteristics);
    M(DEVICE_OBJECT, Vpb);
    M(DEVICE_OBJECT, DeviceExtension);
    M(DEVICE_OBJECT, DeviceType);
    M(DEVICE_OBJECT, StackSize);
    M(DEVICE_OBJECT, Queue);
    M(DEVICE_OBJECT, AlignmentRequirement);
    M(DEVICE_OBJECT, DeviceQueue);
    M(DEVICE_OBJECT, Dpc);
    M(DEVICE_OBJECT, ActiveThreadCount);
    M(DEVICE_OBJECT, SecurityDescriptor);
    M(DEVICE_OBJECT, DeviceLock);
    M(DEVICE_OBJECT, SectorSize);
    M(DEVICE_OBJECT, Spare1);
    M(DEVICE_OBJECT, DeviceObjectExtension);
    M(DEVICE_OBJECT, Reserved);
    M(DEVICE_OBJECT, Padding);

    T(KLOCK_QUEUE_HANDLE);
    M(KLOCK_QUEUE_HANDLE, LockQueue);
    M(KLOCK_QUEUE_HANDLE, LockQueue.Next);
    M(KLOCK_QUEUE_HANDLE, LockQueue.Lock);
    M(KLOCK_QUEUE_HANDLE, OldIrql);

    T(NPAGED_LOOKASIDE_LIST);
    M(NPAGED_LOOKASIDE_LIST, Reserved);
    T(PAGED_LOOKASIDE_LIST);
    M(PAGED_LOOKASIDE_LIST, Reserved);
    T(LOOKASIDE_LIST_EX);
    M(LOOKASIDE_LIST_EX, Reserved);

    T(CLIENT_ID);
    M(CLIENT_ID, UniqueProcess);
    M(CLIENT_ID, UniqueThread);

    T(OBJECT_HANDLE_INFORMATION);
    M(OBJECT_HANDLE_INFORMATION, HandleAttributes);
    M(OBJECT_HANDLE_INFORMATION, GrantedAccess);

    /* sockets */
    T(SOCKADDR);
    M(SOCKADDR, sa_family);
    M(SOCKADDR, sa_data);

    T(IN_ADDR);
    M(IN_ADDR, S_un.S_addr);

    T(IN6_ADDR);
    M(IN6_ADDR, u.Byte);

    T(SOCKADDR_IN);
    M(SOCKADDR_IN, sin_family);
    M(SOCKADDR_IN, sin_port);
    M(SOCKADDR_IN, sin_addr);
    M(SOCKADDR_IN, sin_zero);

    T(SOCKADDR_IN6);
    M(SOCKADDR_IN6, sin6_family);
    M(SOCKADDR_IN6, sin6_port);
    M(SOCKADDR_IN6, sin6_flowinfo);
    M(SOCKADDR_IN6, sin6_addr);
    M(SOCKADDR_IN6, sin6_scope_id);

    T(SOCKADDR_STORAGE);
    M(SOCKADDR_STORAGE, ss_family);
    M(SOCKADDR_STORAGE, __ss_pad1);
    M(SOCKADDR_STORAGE, __ss_align);
    M(SOCKADDR_STORAGE, __ss_pad2);

    T(CMSGHDR);
    M(CMSGHDR, cmsg_len);
    M(CMSGHDR, cmsg_level);
    M(CMSGHDR, cmsg_type);

    T(SOCKET_ADDRESS);
    M(SOCKET_ADDRESS, lpSockaddr);
    M(SOCKET_ADDRESS, iSockaddrLength);

    T(ADDRINFOEXW);
    M(ADDRINFOEXW, ai_flags);
    M(ADDRINFOEXW, ai_family);
    M(ADDRINFOEXW, ai_socktype);
    M(ADDRINFOEXW, ai_protocol);
    M(ADDRINFOEXW, ai_addrlen);
    M(ADDRINFOEXW, ai_canonname);
    M(ADDRINFOEXW, ai_addr);
    M(ADDRINFOEXW, ai_blob);
    M(ADDRINFOEXW, ai_bloblen);
    M(ADDRINFOEXW, ai_provider);
    M(ADDRINFOEXW, ai_next);

    /* WSK structures */
    T(WSK_SOCKET);
    M(WSK_SOCKET, Dispatch);

    T(WSK_BUF);
    M(WSK_BUF, Mdl);
    M(WSK_BUF, Offset);
    M(WSK_BUF, Length);

    T(WSK_BUF_LIST);
    M(WSK_BUF_LIST, Next);
    M(WSK_BUF_LIST, Buffer);

    T(WSK_DATA_INDICATION);
    M(WSK_DATA_INDICATION, Next);
    M(WSK_DATA_INDICATION, Buffer);

    T(WSK_DATAGRAM_INDICATION);
    M(WSK_DATAGRAM_INDICATION, Next);
    M(WSK_DATAGRAM_INDICATION, Buffer);
    M(WSK_DATAGRAM_INDICATION, ControlInfo);
    M(WSK_DATAGRAM_INDICATION, ControlInfoLength);
    M(WSK_DATAGRAM_INDICATION, RemoteAddress);

    T(WSK_INSPECT_ID);
    M(WSK_INSPECT_ID, Key);
    M(WSK_INSPECT_ID, SerialNumber);

    T(WSK_CLIENT_DISPATCH);
    M(WSK_CLIENT_DISPATCH, Version);
    M(WSK_CLIENT_DISPATCH, Reserved);
    M(WSK_CLIENT_DISPATCH, WskClientEvent);

    T(WSK_CLIENT_NPI);
    M(WSK_CLIENT_NPI, ClientContext);
    M(WSK_CLIENT_NPI, Dispatch);

    T(WSK_PROVIDER_NPI);
    M(WSK_PROVIDER_NPI, Client);
    M(WSK_PROVIDER_NPI, Dispatch);

    T(WSK_REGISTRATION);
    M(WSK_REGISTRATION, ReservedRegistrationState);
    M(WSK_REGISTRATION, ReservedRegistrationContext);
    M(WSK_REGISTRATION, ReservedRegistrationLock);

    T(WSK_PROVIDER_CHARACTERISTICS);
    M(WSK_PROVIDER_CHARACTERISTICS, HighestVersion);
    M(WSK_PROVIDER_CHARACTERISTICS, LowestVersion);

    T(WSK_TRANSPORT);
    M(WSK_TRANSPORT, Version);
    M(WSK_TRANSPORT, SocketType);
    M(WSK_TRANSPORT, Protocol);
    M(WSK_TRANSPORT, AddressFamily);
    M(WSK_TRANSPORT, ProviderId);

    T(WSK_EVENT_CALLBACK_CONTROL);
    M(WSK_EVENT_CALLBACK_CONTROL, NpiId);
    M(WSK_EVENT_CALLBACK_CONTROL, EventMask);

    T(WSK_EXTENSION_CONTROL_IN);
    M(WSK_EXTENSION_CONTROL_IN, NpiId);
    M(WSK_EXTENSION_CONTROL_IN, ClientContext);
    M(WSK_EXTENSION_CONTROL_IN, ClientDispatch);

    T(WSK_EXTENSION_CONTROL_OUT);
    M(WSK_EXTENSION_CONTROL_OUT, ProviderContext);
    M(WSK_EXTENSION_CONTROL_OUT, ProviderDispatch);

    T(WSK_TDI_MAP);
    M(WSK_TDI_MAP, SocketType);
    M(WSK_TDI_MAP, AddressFamily);
    M(WSK_TDI_MAP, Protocol);
    M(WSK_TDI_MAP, TdiDeviceName);

    T(WSK_TDI_MAP_INFO);
    M(WSK_TDI_MAP_INFO, ElementCount);
    M(WSK_TDI_MAP_INFO, Map);

    /* WSK dispatch tables */
    T(WSK_PROVIDER_DISPATCH);
    M(WSK_PROVIDER_DISPATCH, Version);
    M(WSK_PROVIDER_DISPATCH, Reserved);
    M(WSK_PROVIDER_DISPATCH, WskSocket);
    M(WSK_PROVIDER_DISPATCH, WskSocketConnect);
    M(WSK_PROVIDER_DISPATCH, WskControlClient);
    M(WSK_PROVIDER_DISPATCH, WskGetAddressInfo);
    M(WSK_PROVIDER_DISPATCH, WskFreeAddressInfo);
    M(WSK_PROVIDER_DISPATCH, WskGetNameInfo);

    T(WSK_PROVIDER_BASIC_DISPATCH);
    M(WSK_PROVIDER_BASIC_DISPATCH, WskControlSocket);
    M(WSK_PROVIDER_BASIC_DISPATCH, WskCloseSocket);

    T(WSK_PROVIDER_LISTEN_DISPATCH);
    M(WSK_PROVIDER_LISTEN_DISPATCH, Basic);
    M(WSK_PROVIDER_LISTEN_DISPATCH, WskControlSocket);
    M(WSK_PROVIDER_LISTEN_DISPATCH, WskCloseSocket);
    M(WSK_PROVIDER_LISTEN_DISPATCH, WskBind);
    M(WSK_PROVIDER_LISTEN_DISPATCH, WskAccept);
    M(WSK_PROVIDER_LISTEN_DISPATCH, WskInspectComplete);
    M(WSK_PROVIDER_LISTEN_DISPATCH, WskGetLocalAddress);

    T(WSK_PROVIDER_DATAGRAM_DISPATCH);
    M(WSK_PROVIDER_DATAGRAM_DISPATCH, Basic);
    M(WSK_PROVIDER_DATAGRAM_DISPATCH, WskControlSocket);
    M(WSK_PROVIDER_DATAGRAM_DISPATCH, WskCloseSocket);
    M(WSK_PROVIDER_DATAGRAM_DISPATCH, WskBind);
    M(WSK_PROVIDER_DATAGRAM_DISPATCH, WskSendTo);
    M(WSK_PROVIDER_DATAGRAM_DISPATCH, WskReceiveFrom);
    M(WSK_PROVIDER_DATAGRAM_DISPATCH, WskRelease);
    M(WSK_PROVIDER_DATAGRAM_DISPATCH, WskGetLocalAddress);
    M(WSK_PROVIDER_DATAGRAM_DISPATCH, WskSendMessages);

    T(WSK_PROVIDER_CONNECTION_DISPATCH);
    M(WSK_PROVIDER_CONNECTION_DISPATCH, Basic);
    M(WSK_PROVIDER_CONNECTION_DISPATCH, WskControlSocket);
    M(WSK_PROVIDER_CONNECTION_DISPATCH, WskCloseSocket);
    M(WSK_PROVIDER_CONNECTION_DISPATCH, WskBind);
    M(WSK_PROVIDER_CONNECTION_DISPATCH, WskConnect);
    M(WSK_PROVIDER_CONNECTION_DISPATCH, WskGetLocalAddress);
    M(WSK_PROVIDER_CONNECTION_DISPATCH, WskGetRemoteAddress);
    M(WSK_PROVIDER_CONNECTION_DISPATCH, WskSend);
    M(WSK_PROVIDER_CONNECTION_DISPATCH, WskReceive);
    M(WSK_PROVIDER_CONNECTION_DISPATCH, WskDisconnect);
    M(WSK_PROVIDER_CONNECTION_DISPATCH, WskRelease);
    M(WSK_PROVIDER_CONNECTION_DISPATCH, WskConnectEx);
    M(WSK_PROVIDER_CONNECTION_DISPATCH, WskSendEx);
    M(WSK_PROVIDER_CONNECTION_DISPATCH, WskReceiveEx);

    T(WSK_PROVIDER_STREAM_DISPATCH);
    M(WSK_PROVIDER_STREAM_DISPATCH, Basic);
    M(WSK_PROVIDER_STREAM_DISPATCH, WskControlSocket);
    M(WSK_PROVIDER_STREAM_DISPATCH, WskCloseSocket);
    M(WSK_PROVIDER_STREAM_DISPATCH, WskBind);
    M(WSK_PROVIDER_STREAM_DISPATCH, WskAccept);
    M(WSK_PROVIDER_STREAM_DISPATCH, WskConnect);
    M(WSK_PROVIDER_STREAM_DISPATCH, WskListen);
    M(WSK_PROVIDER_STREAM_DISPATCH, WskSend);
    M(WSK_PROVIDER_STREAM_DISPATCH, WskReceive);
    M(WSK_PROVIDER_STREAM_DISPATCH, WskDisconnect);
    M(WSK_PROVIDER_STREAM_DISPATCH, WskRelease);
    M(WSK_PROVIDER_STREAM_DISPATCH, WskGetLocalAddress);
    M(WSK_PROVIDER_STREAM_DISPATCH, WskGetRemoteAddress);
    M(WSK_PROVIDER_STREAM_DISPATCH, WskConnectEx);
    M(WSK_PROVIDER_STREAM_DISPATCH, WskSendEx);
    M(WSK_PROVIDER_STREAM_DISPATCH, WskReceiveEx);

    T(WSK_CLIENT_LISTEN_DISPATCH);
    M(WSK_CLIENT_LISTEN_DISPATCH, WskAcceptEvent);
    M(WSK_CLIENT_LISTEN_DISPATCH, WskInspectEvent);
    M(WSK_CLIENT_LISTEN_DISPATCH, WskAbortEvent);

    T(WSK_CLIENT_DATAGRAM_DISPATCH);
    M(WSK_CLIENT_DATAGRAM_DISPATCH, WskReceiveFromEvent);

    T(WSK_CLIENT_CONNECTION_DISPATCH);
    M(WSK_CLIENT_CONNECTION_DISPATCH, WskReceiveEvent);
    M(WSK_CLIENT_CONNECTION_DISPATCH, WskDisconnectEvent);
    M(WSK_CLIENT_CONNECTION_DISPATCH, WskSendBacklogEvent);

    T(WSK_CLIENT_STREAM_DISPATCH);
    M(WSK_CLIENT_STREAM_DISPATCH, Listen);
    M(WSK_CLIENT_STREAM_DISPATCH, Connect);

    /* constants abi.rs also defines */
    K(SL_PENDING_RETURNED);
    K(SL_ERROR_RETURNED);
    K(SL_INVOKE_ON_CANCEL);
    K(SL_INVOKE_ON_SUCCESS);
    K(SL_INVOKE_ON_ERROR);
    K(IO_TYPE_IRP);
    K(MDL_MAPPED_TO_SYSTEM_VA);
    K(MDL_PAGES_LOCKED);
    K(MDL_SOURCE_IS_NONPAGED_POOL);
    K(MDL_ALLOCATED_FIXED_SIZE);
    K(MDL_PARTIAL);
    K(MDL_PARTIAL_HAS_BEEN_MAPPED);
    K(MDL_IO_PAGE_READ);
    K(MDL_WRITE_OPERATION);
    K(PAGE_SIZE);
    K(IO_TYPE_DEVICE);
    K(DO_EXCLUSIVE);
    K(DO_DEVICE_INITIALIZING);
    K(IRP_QUOTA_CHARGED);
    K(IRP_ALLOCATED_FIXED_SIZE);
    K(PASSIVE_LEVEL);
    K(APC_LEVEL);
    K(DISPATCH_LEVEL);
    K(MAXIMUM_WAIT_OBJECTS);
    K(INET_ADDRSTRLEN);
    K(INET6_ADDRSTRLEN);
    K(NotificationEvent);
    K(SynchronizationEvent);
    K(AF_UNSPEC);
    K(AF_INET);
    K(AF_INET6);
    K(SOCK_STREAM);
    K(SOCK_DGRAM);
    K(SOCK_RAW);
    K(IPPROTO_TCP);
    K(IPPROTO_UDP);
    K(WskSetOption);
    K(WskGetOption);
    K(WskIoctl);
    K(WskInspectReject);
    K(WskInspectAccept);
    K(WskInspectPend);
}

/* ----- "format": the Windows printf conventions of the headers ----- */
void WskRtlDebugOutput(const char *Line)
{
    /* One call per message: DbgPrint's text arrives whole. */
    printf("DbgPrint|%s", Line);
}

#define FMT(label, ...) \
    do { \
        CHAR out[256]; \
        NTSTATUS s = RtlStringCbPrintfA(out, sizeof(out), __VA_ARGS__); \
        printf("%s|%s|%s\n", label, out, s == STATUS_SUCCESS ? "ok" : s == STATUS_BUFFER_OVERFLOW ? "overflow" : "error"); \
    } while (0)

static void PrintFormats(void)
{
    static WCHAR wide[] = L"wide\u00e9";
    UNICODE_STRING us = RTL_CONSTANT_STRING(L"\\Registry\\Machine");
    ANSI_STRING as = RTL_CONSTANT_STRING("ansi");
    GUID npi = { 0x2227E803, 0x8D8B, 0x11D4, { 0xAB, 0xAD, 0x00, 0x90, 0x27, 0x71, 0x9E, 0x09 } };
    CHAR small[8];
    WCHAR wout[32];
    UNICODE_STRING wus;
    WCHAR wusBuffer[6];
    NTSTATUS s;

    FMT("wZ", "[%wZ]", &us);
    FMT("Z", "[%Z] [%hZ]", &as, &as);
    FMT("ws", "[%ws] [%S] [%ls] [%hs] [%s]", wide, wide, wide, "narrow", "plain");
    FMT("long32", "[%ld] [%lu] [%lx] [%08lX]", (LONG)-5, (ULONG)4000000000u, (ULONG)0xdeadbeef, (ULONG)0xc0000001);
    FMT("int64", "[%I64d] [%I64x] [%lld] [%llu]", (LONGLONG)-1, 0x123456789abULL, -9LL, 18446744073709551615ULL);
    FMT("ptrsize", "[%Iu] [%Ix] [%zu] [%Id]", (SIZE_T)7, (ULONG_PTR)0xabc, (SIZE_T)8, (LONG_PTR)-3);
    FMT("width", "[%5d] [%-5d] [%*d] [%-*d] [%.3s] [%05u]", 11, 12, 6, 13, 4, 14, "abcdef", 15u);
    FMT("chars", "[%c%wc%C%hc]", 'a', L'b', L'c', 'd');
    FMT("misc", "[%%] [%5.2f] [%#x] [%ws] [%wZ] [%hd]", 3.14159, 255, (PWSTR)NULL, (PUNICODE_STRING)NULL, 70000);
    FMT("truncated", "%s", "0123456789012345678901234567890123456789012345678901234567890123456789"
                           "0123456789012345678901234567890123456789012345678901234567890123456789"
                           "0123456789012345678901234567890123456789012345678901234567890123456789"
                           "0123456789012345678901234567890123456789012345678901234567890123456789");

    s = RtlStringCbPrintfA(small, sizeof(small), "%s", "0123456789");
    printf("small|%s|%s\n", small, s == STATUS_BUFFER_OVERFLOW ? "overflow" : "other");
    s = RtlStringCchPrintfW(wout, RTL_NUMBER_OF(wout), L"%s|%hs|%S|%d|%wZ", L"w", "n", "N", 7, &us);
    DbgPrint("W|%ws|%s\n", wout, s == STATUS_SUCCESS ? "ok" : "error");
    RtlInitEmptyUnicodeString(&wus, wusBuffer, sizeof(wusBuffer));
    s = RtlUnicodeStringPrintf(&wus, L"%wZ", &us);
    DbgPrint("ustr|%wZ|%u|%s\n", &wus, (unsigned)wus.Length, s == STATUS_BUFFER_OVERFLOW ? "overflow" : "other");
    DbgPrint("dbg|%wZ|%I64u\n", &us, 42ULL);
    DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_TRACE_LEVEL, "dbgex|%lu\n", (ULONG)9);
    KdPrint(("kd|%s\n", "kdprint"));
    TraceEvents(TRACE_LEVEL_INFORMATION, TRACE_SOCKET, "wpp|%!FUNC!|%!LEVEL!|%!FLAGS!|%!STATUS!|%!bool!|%!IPADDR!|%!PORT!|%!GUID!|%!other!|%d",
                STATUS_CANCELLED, TRUE, 0x0100007f, 0x5000, &npi, 5);
    DoTraceMessage(TRACE_DRIVER, "wpp2|%!FILE!|%ws", wide);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "format"))
        PrintFormats();
    else
        PrintLayout();
    return 0;
}
