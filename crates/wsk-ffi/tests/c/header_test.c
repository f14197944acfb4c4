/*
 * header_test.c: Windows-style WSK client code that must compile against include/ with
 * -Wall -Wextra -Werror (tests/headers.rs; compile only). header_test.cpp includes this
 * file, so the code is in the common subset of C11 and C++17.
 *
 * It uses a broad sample of the headers: every PFN type with a matching function placed
 * in a dispatch table, both spellings of the basic slots (Dispatch->WskCloseSocket and
 * Dispatch->Basic.WskCloseSocket), MSVC pragmas, a pool tag, SAL, SEH, WPP with an empty
 * .tmh, L"..." strings, the CMSG macros and the kernel routines of wdm.h.
 */
#include <ntddk.h>
#include <wdm.h>
#include <wsk.h>
#include <ws2def.h>
#include <ws2ipdef.h>
#include <mstcpip.h>
#include <ntstrsafe.h>
#include <initguid.h>

#pragma warning(disable : 4201)
#pragma warning(push)
#pragma warning(disable : 4127 4100)

/* ----- a trace.h as the WDK templates write it ----- */
#define WPP_CONTROL_GUIDS \
    WPP_DEFINE_CONTROL_GUID(HeaderTestTraceGuid, (8e2a6cb4, 1a8e, 4c55, 9d3e, 0c5e6a1f2b77), \
                            WPP_DEFINE_BIT(TRACE_DRIVER) WPP_DEFINE_BIT(TRACE_SOCKET))
#define WPP_FLAG_LEVEL_LOGGER(flag, level) WPP_LEVEL_LOGGER(flag)
#define WPP_FLAG_LEVEL_ENABLED(flag, level) (WPP_LEVEL_ENABLED(flag) && WPP_CONTROL(WPP_BIT_##flag).Level >= level)
#define WPP_LEVEL_FLAGS_LOGGER(lvl, flags) WPP_LEVEL_LOGGER(flags)
#define WPP_LEVEL_FLAGS_ENABLED(lvl, flags) (WPP_LEVEL_ENABLED(flags) && WPP_CONTROL(WPP_BIT_##flags).Level >= lvl)
// begin_wpp config
// FUNC TraceEvents(LEVEL, FLAGS, MSG, ...);
// end_wpp
#include "header_test.tmh"

#define HEADER_TEST_TAG 'kseW'

DEFINE_GUID(HeaderTestGuid, 0x2f4f6d1a, 0x9c1b, 0x4a77, 0x8e, 0x41, 0x5d, 0x3a, 0x29, 0x6b, 0x10, 0xc4);

/* ----- size and value checks ----- */
C_ASSERT(sizeof(ULONG) == 4);
C_ASSERT(sizeof(LONG) == 4);
C_ASSERT(sizeof(ULONG_PTR) == 8);
C_ASSERT(sizeof(SIZE_T) == 8);
C_ASSERT(sizeof(LONGLONG) == 8);
C_ASSERT(sizeof(BOOLEAN) == 1);
C_ASSERT(sizeof(WCHAR) == 2);
C_ASSERT(sizeof(L"ab") == 6);
C_ASSERT(sizeof(NTSTATUS) == 4);
C_ASSERT(sizeof(LARGE_INTEGER) == 8);
C_ASSERT(sizeof(GUID) == 16);
C_ASSERT(sizeof(UNICODE_STRING) == 16);
C_ASSERT(sizeof(LIST_ENTRY) == 16);
C_ASSERT(sizeof(IO_STATUS_BLOCK) == 16);
C_ASSERT(sizeof(IRP) == 208);
C_ASSERT(FIELD_OFFSET(IRP, Tail) == 120);
C_ASSERT(FIELD_OFFSET(IRP, Tail.Overlay.CurrentStackLocation) == 184);
C_ASSERT(sizeof(IO_STACK_LOCATION) == 72);
C_ASSERT(FIELD_OFFSET(IO_STACK_LOCATION, CompletionRoutine) == 56);
C_ASSERT(FIELD_OFFSET(IO_STACK_LOCATION, Parameters.DeviceIoControl.IoControlCode) == 24);
C_ASSERT(sizeof(MDL) == 48);
C_ASSERT(sizeof(KEVENT) == 24);
C_ASSERT(sizeof(KWAIT_BLOCK) == 48);
C_ASSERT(sizeof(SLIST_HEADER) == 16 && TYPE_ALIGNMENT(SLIST_HEADER) == 16);
C_ASSERT(sizeof(NPAGED_LOOKASIDE_LIST) == 128 && sizeof(LOOKASIDE_LIST_EX) == 128);
C_ASSERT(sizeof(DRIVER_OBJECT) == 336);
C_ASSERT(sizeof(WSK_BUF) == 24);
C_ASSERT(sizeof(WSK_DATA_INDICATION) == 32);
C_ASSERT(sizeof(WSK_DATAGRAM_INDICATION) == 56);
C_ASSERT(FIELD_OFFSET(WSK_DATAGRAM_INDICATION, RemoteAddress) == 48);
C_ASSERT(sizeof(WSK_INSPECT_ID) == 16);
C_ASSERT(sizeof(WSK_REGISTRATION) == 24);
C_ASSERT(sizeof(WSK_TRANSPORT) == 28);
C_ASSERT(sizeof(WSK_TDI_MAP) == 16);
C_ASSERT(sizeof(WSK_PROVIDER_BASIC_DISPATCH) == 2 * sizeof(PVOID));
C_ASSERT(sizeof(WSK_PROVIDER_LISTEN_DISPATCH) == 6 * sizeof(PVOID));
C_ASSERT(sizeof(WSK_PROVIDER_DATAGRAM_DISPATCH) == 8 * sizeof(PVOID));
C_ASSERT(sizeof(WSK_PROVIDER_CONNECTION_DISPATCH) == 13 * sizeof(PVOID));
C_ASSERT(sizeof(WSK_PROVIDER_STREAM_DISPATCH) == 15 * sizeof(PVOID));
C_ASSERT(FIELD_OFFSET(WSK_PROVIDER_CONNECTION_DISPATCH, WskCloseSocket) ==
         FIELD_OFFSET(WSK_PROVIDER_CONNECTION_DISPATCH, Basic.WskCloseSocket));
C_ASSERT(sizeof(SOCKADDR) == 16);
C_ASSERT(sizeof(SOCKADDR_IN) == 16);
C_ASSERT(sizeof(SOCKADDR_IN6) == 28);
C_ASSERT(sizeof(SOCKADDR_STORAGE) == 128);
C_ASSERT(sizeof(IN_ADDR) == 4 && sizeof(IN6_ADDR) == 16);
C_ASSERT(sizeof(CMSGHDR) == 16);
C_ASSERT(sizeof(IN_PKTINFO) == 8 && sizeof(IN6_PKTINFO) == 20);
C_ASSERT(sizeof(ADDRINFOEXW) == 72);
C_ASSERT(CMSG_LEN(4) == 20 && CMSG_SPACE(4) == 24 && CMSG_SPACE(sizeof(IN6_PKTINFO)) == 40);

C_ASSERT(AF_INET == 2 && AF_INET6 == 23 && AF_UNSPEC == 0);
C_ASSERT(SOCK_STREAM == 1 && SOCK_DGRAM == 2 && SOCK_RAW == 3);
C_ASSERT(IPPROTO_TCP == 6 && IPPROTO_UDP == 17 && IPPROTO_IPV6 == 41 && IPPROTO_IP == 0 && IPPROTO_ICMP == 1);
C_ASSERT(SOL_SOCKET == 0xffff);
C_ASSERT(SO_REUSEADDR == 4 && SO_KEEPALIVE == 8 && SO_BROADCAST == 0x20 && SO_RCVBUF == 0x1002 && SO_SNDBUF == 0x1001);
C_ASSERT(SO_EXCLUSIVEADDRUSE == -5 && SO_CONDITIONAL_ACCEPT == 0x3002);
C_ASSERT(IP_TTL == 4 && IP_PKTINFO == 19 && IPV6_V6ONLY == 27 && IPV6_PKTINFO == 19 && IPV6_UNICAST_HOPS == 4);
C_ASSERT(TCP_NODELAY == 1 && TCP_KEEPALIVE == 3 && TCP_KEEPCNT == 16 && TCP_KEEPINTVL == 17 && TCP_FASTOPEN == 15);
C_ASSERT(UDP_SEND_MSG_SIZE == 2 && UDP_RECV_MAX_COALESCED_SIZE == 3);
C_ASSERT(MSG_TRUNC == 0x100 && MSG_CTRUNC == 0x200 && MSG_BCAST == 0x400 && MSG_MCAST == 0x800);
C_ASSERT(IOC_WSK == 0x0F000000);
C_ASSERT(SIO_WSK_SET_REMOTE_ADDRESS == 0x8F000001);
C_ASSERT(SIO_WSK_REGISTER_EXTENSION == 0xCF000002);
C_ASSERT(SIO_WSK_QUERY_IDEAL_SEND_BACKLOG == 0x4F000003);
C_ASSERT(SIO_WSK_QUERY_RECEIVE_BACKLOG == 0x4F000004);
C_ASSERT(SIO_WSK_QUERY_INSPECT_ID == 0x4F000005);
C_ASSERT(SIO_WSK_SET_SENDTO_ADDRESS == 0x8F000006);
C_ASSERT(SIO_WSK_SET_TCP_SILENT_MODE == 0x2F000007);
C_ASSERT(SIO_ADDRESS_LIST_QUERY == 0x48000016 && SIO_ADDRESS_LIST_CHANGE == 0x28000017);
C_ASSERT(SIO_ADDRESS_LIST_SORT == 0xC8000019);
C_ASSERT(SIO_QUERY_RSS_SCALABILITY_INFO == 0x580000D2 && SIO_UDP_CONNRESET == 0x9800000C);
C_ASSERT(FIONBIO == 0x8004667E && FIONREAD == 0x4004667F);
C_ASSERT(SO_WSK_SECURITY == 0x4001 && SO_WSK_EVENT_CALLBACK == 0x4002);
C_ASSERT(WSK_FLAG_LISTEN_SOCKET == 1 && WSK_FLAG_CONNECTION_SOCKET == 2 && WSK_FLAG_DATAGRAM_SOCKET == 4);
C_ASSERT(WSK_FLAG_STREAM_SOCKET == 8 && WSK_FLAG_BASIC_SOCKET == 0);
C_ASSERT(WSK_EVENT_RECEIVE == 0x40 && WSK_EVENT_ACCEPT == 0x200 && WSK_EVENT_DISABLE == 0x80000000);
C_ASSERT(WSK_SET_STATIC_EVENT_CALLBACKS == 7 && WSK_TRANSPORT_LIST_QUERY == 2);
C_ASSERT(MAKE_WSK_VERSION(1, 0) == 0x100 && WSK_MAJOR_VERSION(0x0102) == 1 && WSK_MINOR_VERSION(0x0102) == 2);
C_ASSERT(WskInspectPend == 2 && WskInspectMax == 3 && WskIoctl == 2 && WskControlMax == 3);
C_ASSERT(WSK_INFINITE_WAIT == 0xffffffff && WSK_NO_WAIT == 0);
C_ASSERT(STATUS_SUCCESS == 0 && STATUS_PENDING == 0x103 && STATUS_WAIT_0 == 0 && STATUS_USER_APC == 0xC0);
C_ASSERT(STATUS_ALERTED == 0x101 && STATUS_ABANDONED_WAIT_0 == 0x80 && STATUS_TIMEOUT == 0x102);
C_ASSERT(STATUS_INVALID_PARAMETER_1 == (NTSTATUS)0xC00000EF && STATUS_BUFFER_TOO_SMALL == (NTSTATUS)0xC0000023);
C_ASSERT(STATUS_DATA_NOT_ACCEPTED == (NTSTATUS)0xC000021B && STATUS_NOINTERFACE == (NTSTATUS)0xC00002B9);
C_ASSERT(!NT_SUCCESS(STATUS_CANCELLED) && NT_SUCCESS(STATUS_PENDING) && NT_ERROR(STATUS_UNSUCCESSFUL));
C_ASSERT(PASSIVE_LEVEL == 0 && APC_LEVEL == 1 && DISPATCH_LEVEL == 2 && HIGH_LEVEL == 15);
C_ASSERT(NonPagedPool == 0 && PagedPool == 1 && NonPagedPoolNx == 512 && NonPagedPoolNxCacheAligned == 516);
C_ASSERT(POOL_FLAG_NON_PAGED == 0x40 && POOL_FLAG_PAGED == 0x100 && POOL_FLAG_UNINITIALIZED == 0x2);
C_ASSERT(NotificationEvent == 0 && SynchronizationEvent == 1 && WaitAll == 0 && WaitAny == 1);
C_ASSERT(Executive == 0 && UserRequest == 6 && KernelMode == 0 && UserMode == 1);
C_ASSERT(IoReadAccess == 0 && IoWriteAccess == 1 && IoModifyAccess == 2 && MmCached == 1);
C_ASSERT(NormalPagePriority == 16 && MdlMappingNoExecute == 0x40000000 && DelayedWorkQueue == 1);
C_ASSERT(SL_INVOKE_ON_SUCCESS == 0x40 && SL_INVOKE_ON_ERROR == 0x80 && SL_INVOKE_ON_CANCEL == 0x20);
C_ASSERT(FILE_DEVICE_UNKNOWN == 0x22 && FILE_DEVICE_NETWORK == 0x12 && FILE_DEVICE_SECURE_OPEN == 0x100);
C_ASSERT(OBJ_KERNEL_HANDLE == 0x200 && OBJ_CASE_INSENSITIVE == 0x40 && THREAD_ALL_ACCESS == 0x1FFFFF);
C_ASSERT(IoSizeOfIrp(2) == 208 + 2 * 72);
C_ASSERT(ADDRESS_AND_SIZE_TO_SPAN_PAGES(0x1ff0, 0x20) == 2 && BYTE_OFFSET(0x1234) == 0x234);
C_ASSERT(EXCEPTION_EXECUTE_HANDLER == 1 && EXCEPTION_CONTINUE_SEARCH == 0);

/* ----- SAL-annotated prototypes, as drivers declare them ----- */
DRIVER_INITIALIZE DriverEntry;
DRIVER_UNLOAD HeaderTestUnload;
IO_COMPLETION_ROUTINE HeaderTestIrpComplete;
KSTART_ROUTINE HeaderTestThread;
IO_WORKITEM_ROUTINE HeaderTestWorkItem;
DRIVER_CANCEL HeaderTestCancel;
DRIVER_DISPATCH HeaderTestDispatch;

_IRQL_requires_max_(PASSIVE_LEVEL)
_Must_inspect_result_
NTSTATUS HeaderTestCopyName(_In_ PCUNICODE_STRING Name, _Out_writes_bytes_to_(Size, *Written) PVOID Buffer,
                            _In_ SIZE_T Size, _Out_ SIZE_T *Written);

_IRQL_requires_max_(DISPATCH_LEVEL)
_IRQL_raises_(DISPATCH_LEVEL)
_IRQL_saves_global_(OldIrql, *Irql)
_Requires_lock_not_held_(*Lock)
_Acquires_lock_(*Lock)
VOID HeaderTestLock(_Inout_ PKSPIN_LOCK Lock, _Out_ _IRQL_saves_ PKIRQL Irql);

_Success_(return != FALSE)
_When_(Wait != FALSE, _IRQL_requires_(PASSIVE_LEVEL))
BOOLEAN HeaderTestMaybeWait(_In_ BOOLEAN Wait, _Outptr_result_maybenull_ PVOID *Result, _Reserved_ ULONG Flags,
                            _In_reads_bytes_(Length) const VOID *Data, _In_ ULONG Length,
                            __in ULONG Old, __out_opt PULONG OldOut, __inout PULONG Both);

_Function_class_(HEADER_TEST_CALLBACK)
_IRQL_requires_same_
typedef VOID HEADER_TEST_CALLBACK(_In_opt_ PVOID Context);

#ifdef ALLOC_PRAGMA
#pragma alloc_text(INIT, DriverEntry)
#endif
#pragma alloc_text(PAGE, HeaderTestCopyName)
#pragma code_seg("PAGE")
#pragma code_seg()
#pragma warning(pop)

typedef struct _HEADER_TEST_CONTEXT {
    LIST_ENTRY Link;
    SINGLE_LIST_ENTRY SingleLink;
    KEVENT Done;
    KSPIN_LOCK Lock;
    EX_RUNDOWN_REF Rundown;
    volatile LONG Pending;
    volatile LONG64 Bytes;
    PVOID volatile Socket;
    IO_STATUS_BLOCK IoStatus;
    WSK_REGISTRATION Registration;
    WSK_PROVIDER_NPI ProviderNpi;
    NPAGED_LOOKASIDE_LIST Lookaside;
    LOOKASIDE_LIST_EX LookasideEx;
    SLIST_HEADER FreeList;
    SLIST_ENTRY FreeEntry;
    UCHAR Control[CMSG_SPACE(sizeof(IN6_PKTINFO))];
} HEADER_TEST_CONTEXT, *PHEADER_TEST_CONTEXT;

static HEADER_TEST_CONTEXT HeaderTestContext;
static PDEVICE_OBJECT HeaderTestDevice;

/* ----- a function for every PFN type, placed in dispatch tables ----- */
static NTSTATUS WSKAPI TestClientEvent(PVOID ClientContext, ULONG EventType, PVOID Information, SIZE_T InformationLength)
{
    UNREFERENCED_PARAMETER(ClientContext);
    UNREFERENCED_PARAMETER(EventType);
    UNREFERENCED_PARAMETER(Information);
    UNREFERENCED_PARAMETER(InformationLength);
    return STATUS_NOT_IMPLEMENTED;
}

static NTSTATUS WSKAPI TestAcceptEvent(PVOID SocketContext, ULONG Flags, PSOCKADDR LocalAddress, PSOCKADDR RemoteAddress,
                                       PWSK_SOCKET AcceptSocket, PVOID *AcceptSocketContext,
                                       CONST WSK_CLIENT_CONNECTION_DISPATCH **AcceptSocketDispatch);
static WSK_INSPECT_ACTION WSKAPI TestInspectEvent(PVOID SocketContext, PSOCKADDR LocalAddress, PSOCKADDR RemoteAddress,
                                                  PWSK_INSPECT_ID InspectID)
{
    UNREFERENCED_PARAMETER(SocketContext);
    UNREFERENCED_PARAMETER(LocalAddress);
    UNREFERENCED_PARAMETER(RemoteAddress);
    return InspectID ? WskInspectPend : WskInspectReject;
}
static NTSTATUS WSKAPI TestAbortEvent(PVOID SocketContext, PWSK_INSPECT_ID InspectID)
{
    UNREFERENCED_PARAMETER(SocketContext);
    UNREFERENCED_PARAMETER(InspectID);
    return STATUS_SUCCESS;
}
static NTSTATUS WSKAPI TestReceiveFromEvent(PVOID SocketContext, ULONG Flags, PWSK_DATAGRAM_INDICATION DataIndication)
{
    UNREFERENCED_PARAMETER(SocketContext);
    for (; DataIndication != NULL; DataIndication = DataIndication->Next) {
        PWSACMSGHDR cmsg;
        WSAMSG msg;
        RtlZeroMemory(&msg, sizeof(msg));
        msg.Control.buf = (CHAR *)DataIndication->ControlInfo;
        msg.Control.len = DataIndication->ControlInfoLength;
        for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
            if (cmsg->cmsg_level == IPPROTO_IPV6 && cmsg->cmsg_type == IPV6_PKTINFO) {
                PIN6_PKTINFO info = (PIN6_PKTINFO)WSA_CMSG_DATA(cmsg);
                TraceEvents(TRACE_LEVEL_VERBOSE, TRACE_SOCKET, "%!FUNC! datagram to interface %lu", info->ipi6_ifindex);
            }
        }
        if (Flags & (MSG_BCAST | MSG_MCAST))
            DoTraceMessage(TRACE_SOCKET, "broadcast or multicast from %p", (PVOID)DataIndication->RemoteAddress);
    }
    return STATUS_SUCCESS;
}
static NTSTATUS WSKAPI TestReceiveEvent(PVOID SocketContext, ULONG Flags, PWSK_DATA_INDICATION DataIndication,
                                        SIZE_T BytesIndicated, SIZE_T *BytesAccepted)
{
    UNREFERENCED_PARAMETER(SocketContext);
    if (DataIndication == NULL)
        return STATUS_SUCCESS;
    if (Flags & WSK_FLAG_AT_DISPATCH_LEVEL)
        ASSERT(KeGetCurrentIrql() == DISPATCH_LEVEL);
    *BytesAccepted = BytesIndicated;
    return (Flags & WSK_FLAG_RELEASE_ASAP) ? STATUS_SUCCESS : STATUS_PENDING;
}
static NTSTATUS WSKAPI TestDisconnectEvent(PVOID SocketContext, ULONG Flags)
{
    UNREFERENCED_PARAMETER(SocketContext);
    KdPrint(("disconnect%s\n", (Flags & WSK_FLAG_ABORTIVE) ? " (abortive)" : ""));
    return STATUS_SUCCESS;
}
static NTSTATUS WSKAPI TestSendBacklogEvent(PVOID SocketContext, SIZE_T IdealBacklogSize)
{
    UNREFERENCED_PARAMETER(SocketContext);
    KdPrintEx((DPFLTR_IHVNETWORK_ID, DPFLTR_INFO_LEVEL, "backlog %Iu\n", IdealBacklogSize));
    return STATUS_SUCCESS;
}

static const WSK_CLIENT_DISPATCH TestClientDispatch = { MAKE_WSK_VERSION(1, 0), 0, TestClientEvent };
static const WSK_CLIENT_LISTEN_DISPATCH TestClientListenDispatch = { TestAcceptEvent, TestInspectEvent, TestAbortEvent };
static const WSK_CLIENT_DATAGRAM_DISPATCH TestClientDatagramDispatch = { TestReceiveFromEvent };
static const WSK_CLIENT_CONNECTION_DISPATCH TestClientConnectionDispatch = {
    TestReceiveEvent, TestDisconnectEvent, TestSendBacklogEvent
};
static const WSK_CLIENT_STREAM_DISPATCH TestClientStreamDispatch = { &TestClientListenDispatch,
                                                                     &TestClientConnectionDispatch };

static NTSTATUS WSKAPI TestAcceptEvent(PVOID SocketContext, ULONG Flags, PSOCKADDR LocalAddress, PSOCKADDR RemoteAddress,
                                       PWSK_SOCKET AcceptSocket, PVOID *AcceptSocketContext,
                                       CONST WSK_CLIENT_CONNECTION_DISPATCH **AcceptSocketDispatch)
{
    UNREFERENCED_PARAMETER(SocketContext);
    UNREFERENCED_PARAMETER(Flags);
    UNREFERENCED_PARAMETER(LocalAddress);
    UNREFERENCED_PARAMETER(RemoteAddress);
    if (AcceptSocket == NULL)
        return STATUS_REQUEST_NOT_ACCEPTED;
    *AcceptSocketContext = AcceptSocket;
    *AcceptSocketDispatch = &TestClientConnectionDispatch;
    return STATUS_SUCCESS;
}

/* A provider side, as a WSK provider written in C would declare it. */
static NTSTATUS WSKAPI TestSocket(PWSK_CLIENT Client, ADDRESS_FAMILY AddressFamily, USHORT SocketType, ULONG Protocol,
                                  ULONG Flags, PVOID SocketContext, CONST VOID *Dispatch, PEPROCESS OwningProcess,
                                  PETHREAD OwningThread, PSECURITY_DESCRIPTOR SecurityDescriptor, PIRP Irp)
{
    UNREFERENCED_PARAMETER(Client);
    UNREFERENCED_PARAMETER(AddressFamily);
    UNREFERENCED_PARAMETER(SocketType);
    UNREFERENCED_PARAMETER(Protocol);
    UNREFERENCED_PARAMETER(Flags);
    UNREFERENCED_PARAMETER(SocketContext);
    UNREFERENCED_PARAMETER(Dispatch);
    UNREFERENCED_PARAMETER(OwningProcess);
    UNREFERENCED_PARAMETER(OwningThread);
    UNREFERENCED_PARAMETER(SecurityDescriptor);
    Irp->IoStatus.Status = STATUS_NOT_SUPPORTED;
    Irp->IoStatus.Information = 0;
    IoCompleteRequest(Irp, IO_NO_INCREMENT);
    return STATUS_NOT_SUPPORTED;
}
static NTSTATUS WSKAPI TestSocketConnect(PWSK_CLIENT Client, USHORT SocketType, ULONG Protocol, PSOCKADDR LocalAddress,
                                         PSOCKADDR RemoteAddress, ULONG Flags, PVOID SocketContext,
                                         CONST WSK_CLIENT_CONNECTION_DISPATCH *Dispatch, PEPROCESS OwningProcess,
                                         PETHREAD OwningThread, PSECURITY_DESCRIPTOR SecurityDescriptor, PIRP Irp)
{
    UNREFERENCED_PARAMETER(SocketType);
    UNREFERENCED_PARAMETER(Protocol);
    UNREFERENCED_PARAMETER(LocalAddress);
    UNREFERENCED_PARAMETER(RemoteAddress);
    UNREFERENCED_PARAMETER(Flags);
    UNREFERENCED_PARAMETER(SocketContext);
    UNREFERENCED_PARAMETER(Dispatch);
    return TestSocket(Client, AF_INET6, SOCK_STREAM, IPPROTO_TCP, WSK_FLAG_CONNECTION_SOCKET, NULL, NULL,
                      OwningProcess, OwningThread, SecurityDescriptor, Irp);
}
static NTSTATUS WSKAPI TestControlClient(PWSK_CLIENT Client, ULONG ControlCode, SIZE_T InputSize, PVOID InputBuffer,
                                         SIZE_T OutputSize, PVOID OutputBuffer, SIZE_T *OutputSizeReturned, PIRP Irp)
{
    UNREFERENCED_PARAMETER(Client);
    UNREFERENCED_PARAMETER(InputSize);
    UNREFERENCED_PARAMETER(InputBuffer);
    UNREFERENCED_PARAMETER(OutputBuffer);
    UNREFERENCED_PARAMETER(Irp);
    if (ControlCode == WSK_TRANSPORT_LIST_QUERY && OutputSize < sizeof(WSK_TRANSPORT)) {
        *OutputSizeReturned = 2 * sizeof(WSK_TRANSPORT);
        return STATUS_BUFFER_OVERFLOW;
    }
    return STATUS_SUCCESS;
}
static NTSTATUS WSKAPI TestGetAddressInfo(PWSK_CLIENT Client, PUNICODE_STRING NodeName, PUNICODE_STRING ServiceName,
                                          ULONG NameSpace, GUID *Provider, PADDRINFOEXW Hints, PADDRINFOEXW *Result,
                                          PEPROCESS OwningProcess, PETHREAD OwningThread, PIRP Irp)
{
    UNREFERENCED_PARAMETER(Client);
    UNREFERENCED_PARAMETER(ServiceName);
    UNREFERENCED_PARAMETER(NameSpace);
    UNREFERENCED_PARAMETER(Provider);
    UNREFERENCED_PARAMETER(Hints);
    UNREFERENCED_PARAMETER(OwningProcess);
    UNREFERENCED_PARAMETER(OwningThread);
    UNREFERENCED_PARAMETER(Irp);
    DbgPrint("resolving %wZ\n", NodeName);
    *Result = NULL;
    return STATUS_NOT_FOUND;
}
static VOID WSKAPI TestFreeAddressInfo(PWSK_CLIENT Client, PADDRINFOEXW AddrInfo)
{
    UNREFERENCED_PARAMETER(Client);
    while (AddrInfo) {
        PADDRINFOEXW next = AddrInfo->ai_next;
        ExFreePoolWithTag(AddrInfo, HEADER_TEST_TAG);
        AddrInfo = next;
    }
}
static NTSTATUS WSKAPI TestGetNameInfo(PWSK_CLIENT Client, PSOCKADDR SockAddr, ULONG SockAddrLength,
                                       PUNICODE_STRING NodeName, PUNICODE_STRING ServiceName, ULONG Flags,
                                       PEPROCESS OwningProcess, PETHREAD OwningThread, PIRP Irp)
{
    UNREFERENCED_PARAMETER(Client);
    UNREFERENCED_PARAMETER(SockAddr);
    UNREFERENCED_PARAMETER(SockAddrLength);
    UNREFERENCED_PARAMETER(NodeName);
    UNREFERENCED_PARAMETER(ServiceName);
    UNREFERENCED_PARAMETER(OwningProcess);
    UNREFERENCED_PARAMETER(OwningThread);
    UNREFERENCED_PARAMETER(Irp);
    return (Flags & NI_NUMERICHOST) ? STATUS_SUCCESS : STATUS_NOT_SUPPORTED;
}
static NTSTATUS WSKAPI TestControlSocket(PWSK_SOCKET Socket, WSK_CONTROL_SOCKET_TYPE RequestType, ULONG ControlCode,
                                         ULONG Level, SIZE_T InputSize, PVOID InputBuffer, SIZE_T OutputSize,
                                         PVOID OutputBuffer, SIZE_T *OutputSizeReturned, PIRP Irp)
{
    UNREFERENCED_PARAMETER(Socket);
    UNREFERENCED_PARAMETER(ControlCode);
    UNREFERENCED_PARAMETER(Level);
    UNREFERENCED_PARAMETER(InputSize);
    UNREFERENCED_PARAMETER(InputBuffer);
    UNREFERENCED_PARAMETER(OutputSize);
    UNREFERENCED_PARAMETER(OutputBuffer);
    UNREFERENCED_PARAMETER(OutputSizeReturned);
    UNREFERENCED_PARAMETER(Irp);
    return RequestType == WskIoctl ? STATUS_INVALID_DEVICE_REQUEST : STATUS_SUCCESS;
}
static NTSTATUS WSKAPI TestCloseSocket(PWSK_SOCKET Socket, PIRP Irp)
{
    UNREFERENCED_PARAMETER(Socket);
    IoSetNextIrpStackLocation(Irp);
    IoCompleteRequest(Irp, IO_NO_INCREMENT);
    return STATUS_PENDING;
}
static NTSTATUS WSKAPI TestBind(PWSK_SOCKET Socket, PSOCKADDR LocalAddress, ULONG Flags, PIRP Irp)
{
    UNREFERENCED_PARAMETER(Socket);
    UNREFERENCED_PARAMETER(LocalAddress);
    UNREFERENCED_PARAMETER(Flags);
    UNREFERENCED_PARAMETER(Irp);
    return STATUS_SUCCESS;
}
static NTSTATUS WSKAPI TestAccept(PWSK_SOCKET ListenSocket, ULONG Flags, PVOID AcceptSocketContext,
                                  CONST WSK_CLIENT_CONNECTION_DISPATCH *AcceptSocketDispatch, PSOCKADDR LocalAddress,
                                  PSOCKADDR RemoteAddress, PIRP Irp)
{
    UNREFERENCED_PARAMETER(ListenSocket);
    UNREFERENCED_PARAMETER(Flags);
    UNREFERENCED_PARAMETER(AcceptSocketContext);
    UNREFERENCED_PARAMETER(AcceptSocketDispatch);
    UNREFERENCED_PARAMETER(LocalAddress);
    UNREFERENCED_PARAMETER(RemoteAddress);
    IoMarkIrpPending(Irp);
    return STATUS_PENDING;
}
static NTSTATUS WSKAPI TestInspectComplete(PWSK_SOCKET ListenSocket, PWSK_INSPECT_ID InspectID,
                                           WSK_INSPECT_ACTION Action, PIRP Irp)
{
    UNREFERENCED_PARAMETER(ListenSocket);
    UNREFERENCED_PARAMETER(InspectID);
    UNREFERENCED_PARAMETER(Irp);
    return Action == WskInspectAccept ? STATUS_SUCCESS : STATUS_REQUEST_NOT_ACCEPTED;
}
static NTSTATUS WSKAPI TestGetLocalAddress(PWSK_SOCKET Socket, PSOCKADDR LocalAddress, PIRP Irp)
{
    UNREFERENCED_PARAMETER(Socket);
    UNREFERENCED_PARAMETER(Irp);
    IN6ADDR_SETANY((PSOCKADDR_IN6)LocalAddress);
    return STATUS_SUCCESS;
}
static NTSTATUS WSKAPI TestGetRemoteAddress(PWSK_SOCKET Socket, PSOCKADDR RemoteAddress, PIRP Irp)
{
    UNREFERENCED_PARAMETER(Socket);
    UNREFERENCED_PARAMETER(Irp);
    INETADDR_SETLOOPBACK(RemoteAddress);
    return STATUS_INVALID_DEVICE_STATE;
}
static NTSTATUS WSKAPI TestConnect(PWSK_SOCKET Socket, PSOCKADDR RemoteAddress, ULONG Flags, PIRP Irp)
{
    UNREFERENCED_PARAMETER(Socket);
    UNREFERENCED_PARAMETER(RemoteAddress);
    UNREFERENCED_PARAMETER(Flags);
    UNREFERENCED_PARAMETER(Irp);
    return STATUS_PENDING;
}
static NTSTATUS WSKAPI TestConnectEx(PWSK_SOCKET Socket, PSOCKADDR RemoteAddress, PWSK_BUF Buffer, ULONG Flags, PIRP Irp)
{
    UNREFERENCED_PARAMETER(Buffer);
    return TestConnect(Socket, RemoteAddress, Flags, Irp);
}
static NTSTATUS WSKAPI TestListen(PWSK_SOCKET Socket, PIRP Irp)
{
    UNREFERENCED_PARAMETER(Socket);
    UNREFERENCED_PARAMETER(Irp);
    return STATUS_SUCCESS;
}
static NTSTATUS WSKAPI TestSend(PWSK_SOCKET Socket, PWSK_BUF Buffer, ULONG Flags, PIRP Irp)
{
    UNREFERENCED_PARAMETER(Socket);
    UNREFERENCED_PARAMETER(Flags);
    Irp->IoStatus.Information = Buffer->Length;
    return STATUS_SUCCESS;
}
static NTSTATUS WSKAPI TestReceive(PWSK_SOCKET Socket, PWSK_BUF Buffer, ULONG Flags, PIRP Irp)
{
    return TestSend(Socket, Buffer, Flags & ~(ULONG)WSK_FLAG_WAITALL, Irp);
}
static NTSTATUS WSKAPI TestDisconnect(PWSK_SOCKET Socket, PWSK_BUF Buffer, ULONG Flags, PIRP Irp)
{
    UNREFERENCED_PARAMETER(Socket);
    UNREFERENCED_PARAMETER(Buffer);
    UNREFERENCED_PARAMETER(Irp);
    return (Flags & WSK_FLAG_ABORTIVE) ? STATUS_SUCCESS : STATUS_PENDING;
}
static NTSTATUS WSKAPI TestRelease(PWSK_SOCKET Socket, PWSK_DATA_INDICATION DataIndication)
{
    UNREFERENCED_PARAMETER(Socket);
    UNREFERENCED_PARAMETER(DataIndication);
    return STATUS_SUCCESS;
}
static NTSTATUS WSKAPI TestSendTo(PWSK_SOCKET Socket, PWSK_BUF Buffer, ULONG Flags, PSOCKADDR RemoteAddress,
                                  ULONG ControlInfoLength, PCMSGHDR ControlInfo, PIRP Irp)
{
    UNREFERENCED_PARAMETER(RemoteAddress);
    UNREFERENCED_PARAMETER(ControlInfoLength);
    UNREFERENCED_PARAMETER(ControlInfo);
    return TestSend(Socket, Buffer, Flags, Irp);
}
static NTSTATUS WSKAPI TestReceiveFrom(PWSK_SOCKET Socket, PWSK_BUF Buffer, ULONG Flags, PSOCKADDR RemoteAddress,
                                       PULONG ControlLength, PCMSGHDR ControlInfo, PULONG ControlFlags, PIRP Irp)
{
    UNREFERENCED_PARAMETER(RemoteAddress);
    UNREFERENCED_PARAMETER(ControlInfo);
    if (ControlLength)
        *ControlLength = 0;
    if (ControlFlags)
        *ControlFlags = MSG_TRUNC;
    return TestSend(Socket, Buffer, Flags, Irp);
}
static NTSTATUS WSKAPI TestReleaseDatagrams(PWSK_SOCKET Socket, PWSK_DATAGRAM_INDICATION DatagramIndication)
{
    UNREFERENCED_PARAMETER(Socket);
    UNREFERENCED_PARAMETER(DatagramIndication);
    return STATUS_SUCCESS;
}
static NTSTATUS WSKAPI TestSendMessages(PWSK_SOCKET Socket, PWSK_BUF_LIST BufferList, ULONG Flags,
                                        PSOCKADDR RemoteAddress, ULONG ControlInfoLength, PCMSGHDR ControlInfo, PIRP Irp)
{
    return TestSendTo(Socket, &BufferList->Buffer, Flags, RemoteAddress, ControlInfoLength, ControlInfo, Irp);
}
static NTSTATUS WSKAPI TestSendEx(PWSK_SOCKET Socket, PWSK_BUF Buffer, ULONG Flags, ULONG ControlInfoLength,
                                  PCMSGHDR ControlInfo, PIRP Irp)
{
    return TestSendTo(Socket, Buffer, Flags, NULL, ControlInfoLength, ControlInfo, Irp);
}
static NTSTATUS WSKAPI TestReceiveEx(PWSK_SOCKET Socket, PWSK_BUF Buffer, ULONG Flags, PULONG ControlInfoLength,
                                     PCMSGHDR ControlInfo, PULONG ControlFlags, PIRP Irp)
{
    return TestReceiveFrom(Socket, Buffer, Flags, NULL, ControlInfoLength, ControlInfo, ControlFlags, Irp);
}

static const WSK_PROVIDER_DISPATCH TestProviderDispatch = {
    MAKE_WSK_VERSION(1, 0), 0, TestSocket, TestSocketConnect, TestControlClient, TestGetAddressInfo,
    TestFreeAddressInfo, TestGetNameInfo,
};
static const WSK_PROVIDER_BASIC_DISPATCH TestBasicDispatch = { TestControlSocket, TestCloseSocket };
static const WSK_PROVIDER_LISTEN_DISPATCH TestListenDispatch = {
    { { TestControlSocket, TestCloseSocket } }, TestBind, TestAccept, TestInspectComplete, TestGetLocalAddress,
};
static const WSK_PROVIDER_DATAGRAM_DISPATCH TestDatagramDispatch = {
    { { TestControlSocket, TestCloseSocket } }, TestBind, TestSendTo, TestReceiveFrom, TestReleaseDatagrams,
    TestGetLocalAddress, TestSendMessages,
};
static const WSK_PROVIDER_CONNECTION_DISPATCH TestConnectionDispatch = {
    { { TestControlSocket, TestCloseSocket } }, TestBind, TestConnect, TestGetLocalAddress, TestGetRemoteAddress,
    TestSend, TestReceive, TestDisconnect, TestRelease, TestConnectEx, TestSendEx, TestReceiveEx,
};
static WSK_PROVIDER_STREAM_DISPATCH TestStreamDispatch;

static VOID HeaderTestFillStreamDispatch(VOID)
{
    PWSK_PROVIDER_STREAM_DISPATCH d = &TestStreamDispatch;
    d->Basic.WskControlSocket = TestControlSocket;
    d->WskCloseSocket = TestCloseSocket;
    d->WskBind = TestBind;
    d->WskAccept = TestAccept;
    d->WskConnect = TestConnect;
    d->WskListen = TestListen;
    d->WskSend = TestSend;
    d->WskReceive = TestReceive;
    d->WskDisconnect = TestDisconnect;
    d->WskRelease = TestRelease;
    d->WskGetLocalAddress = TestGetLocalAddress;
    d->WskGetRemoteAddress = TestGetRemoteAddress;
    d->WskConnectEx = TestConnectEx;
    d->WskSendEx = TestSendEx;
    d->WskReceiveEx = TestReceiveEx;
}

/* ----- kernel routines ----- */
NTSTATUS HeaderTestIrpComplete(PDEVICE_OBJECT DeviceObject, PIRP Irp, PVOID Context)
{
    PKEVENT event = (PKEVENT)Context;
    UNREFERENCED_PARAMETER(DeviceObject);
    if (Irp->PendingReturned)
        IoMarkIrpPending(Irp);
    KeSetEvent(event, IO_NO_INCREMENT, FALSE);
    return STATUS_MORE_PROCESSING_REQUIRED;
}

VOID HeaderTestCancel(PDEVICE_OBJECT DeviceObject, PIRP Irp)
{
    UNREFERENCED_PARAMETER(DeviceObject);
    IoReleaseCancelSpinLock(Irp->CancelIrql);
    Irp->IoStatus.Status = STATUS_CANCELLED;
    IoCompleteRequest(Irp, IO_NETWORK_INCREMENT);
}

NTSTATUS HeaderTestDispatch(PDEVICE_OBJECT DeviceObject, PIRP Irp)
{
    PIO_STACK_LOCATION stack = IoGetCurrentIrpStackLocation(Irp);
    NTSTATUS status = STATUS_INVALID_DEVICE_REQUEST;
    UNREFERENCED_PARAMETER(DeviceObject);
    if (stack->MajorFunction == IRP_MJ_DEVICE_CONTROL &&
        stack->Parameters.DeviceIoControl.IoControlCode == CTL_CODE(FILE_DEVICE_UNKNOWN, 0x800, METHOD_BUFFERED, FILE_ANY_ACCESS))
        status = STATUS_SUCCESS;
    (void)IoSetCancelRoutine(Irp, NULL);
    Irp->IoStatus.Status = status;
    Irp->IoStatus.Information = stack->Parameters.DeviceIoControl.OutputBufferLength;
    IoCompleteRequest(Irp, IO_NO_INCREMENT);
    return status;
}

VOID HeaderTestWorkItem(PDEVICE_OBJECT DeviceObject, PVOID Context)
{
    UNREFERENCED_PARAMETER(DeviceObject);
    if (ExAcquireRundownProtection(&HeaderTestContext.Rundown)) {
        InterlockedExchangeAdd64(&HeaderTestContext.Bytes, (LONG64)(ULONG_PTR)Context);
        ExReleaseRundownProtection(&HeaderTestContext.Rundown);
    }
}

VOID HeaderTestThread(PVOID StartContext)
{
    LARGE_INTEGER interval;
    interval.QuadPart = -10 * 1000 * 10; /* 10 ms, relative */
    KeDelayExecutionThread(KernelMode, FALSE, &interval);
    KeSetEvent((PKEVENT)StartContext, IO_NO_INCREMENT, FALSE);
    PsTerminateSystemThread(STATUS_SUCCESS);
}

NTSTATUS HeaderTestCopyName(PCUNICODE_STRING Name, PVOID Buffer, SIZE_T Size, SIZE_T *Written)
{
    PAGED_CODE();
    *Written = min((SIZE_T)Name->Length, Size);
    RtlCopyMemory(Buffer, Name->Buffer, *Written);
    return *Written < Name->Length ? STATUS_BUFFER_OVERFLOW : STATUS_SUCCESS;
}

VOID HeaderTestLock(PKSPIN_LOCK Lock, PKIRQL Irql)
{
    KeAcquireSpinLock(Lock, Irql);
}

BOOLEAN HeaderTestMaybeWait(BOOLEAN Wait, PVOID *Result, ULONG Flags, const VOID *Data, ULONG Length, ULONG Old,
                            PULONG OldOut, PULONG Both)
{
    UNREFERENCED_PARAMETER(Flags);
    *Result = (PVOID)Data;
    if (OldOut)
        *OldOut = Old;
    *Both += Length;
    return Wait;
}

static NTSTATUS HeaderTestKernel(PDRIVER_OBJECT DriverObject)
{
    NTSTATUS status;
    PIRP irp;
    PMDL mdl;
    PVOID buffer, va;
    KIRQL oldIrql;
    KLOCK_QUEUE_HANDLE lockHandle;
    HANDLE thread;
    OBJECT_ATTRIBUTES attributes;
    PVOID threadObject = NULL;
    PVOID waitObjects[2];
    KWAIT_BLOCK waitBlocks[THREAD_WAIT_OBJECTS];
    LARGE_INTEGER timeout, now;
    PIO_WORKITEM workItem;
    LIST_ENTRY head;
    SINGLE_LIST_ENTRY singleHead;
    PLIST_ENTRY entry;
    UCHAR embeddedIrp[sizeof(IRP) + sizeof(IO_STACK_LOCATION)];
    UNICODE_STRING deviceName = RTL_CONSTANT_STRING(L"\\Device\\HeaderTest");

    /* IRPs */
    irp = IoAllocateIrp(1, FALSE);
    if (irp == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    KeInitializeEvent(&HeaderTestContext.Done, NotificationEvent, FALSE);
    IoSetCompletionRoutine(irp, HeaderTestIrpComplete, &HeaderTestContext.Done, TRUE, TRUE, TRUE);
    IoGetNextIrpStackLocation(irp)->Parameters.Others.Argument1 = irp;
    IoReuseIrp(irp, STATUS_UNSUCCESSFUL);
    if (!IoCancelIrp(irp))
        IoFreeIrp(irp);
    IoInitializeIrp((PIRP)embeddedIrp, IoSizeOfIrp(1), 1);
    IoAcquireCancelSpinLock(&oldIrql);
    IoReleaseCancelSpinLock(oldIrql);

    /* MDLs */
    buffer = ExAllocatePoolWithTag(NonPagedPoolNx, PAGE_SIZE, HEADER_TEST_TAG);
    if (buffer == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    mdl = IoAllocateMdl(buffer, PAGE_SIZE, FALSE, FALSE, NULL);
    if (mdl != NULL) {
        MmBuildMdlForNonPagedPool(mdl);
        va = MmGetSystemAddressForMdlSafe(mdl, NormalPagePriority | MdlMappingNoExecute);
        ASSERT(va == MmGetMdlVirtualAddress(mdl));
        NT_ASSERT(MmGetMdlByteCount(mdl) == PAGE_SIZE && MmGetMdlByteOffset(mdl) < PAGE_SIZE);
        IoFreeMdl(mdl);
    }
    mdl = (PMDL)ExAllocatePool2(POOL_FLAG_NON_PAGED, MmSizeOfMdl(buffer, 100), HEADER_TEST_TAG);
    if (mdl != NULL) {
        MmInitializeMdl(mdl, buffer, 100);
        __try {
            MmProbeAndLockPages(mdl, KernelMode, IoWriteAccess);
        } __except (EXCEPTION_EXECUTE_HANDLER) {
            status = GetExceptionCode();
            DbgPrint("probe failed 0x%08X\n", status);
        }
        va = MmMapLockedPagesSpecifyCache(mdl, KernelMode, MmCached, NULL, FALSE, HighPagePriority);
        if (va)
            MmUnmapLockedPages(va, mdl);
        va = MmMapLockedPages(mdl, KernelMode);
        if (va)
            MmUnmapLockedPages(va, mdl);
        MmUnlockPages(mdl);
        (void)MmGetMdlPfnArray(mdl);
        ExFreePool(mdl);
    }
    ExFreePoolWithTag(buffer, HEADER_TEST_TAG);
    buffer = ExAllocatePoolZero(NonPagedPoolNx, 64, HEADER_TEST_TAG);
    ExFreePool(buffer);
    buffer = ExAllocatePool(NonPagedPool, 16);
    ExFreePool(buffer);

    /* events, waits, time */
    KeClearEvent(&HeaderTestContext.Done);
    (void)KeResetEvent(&HeaderTestContext.Done);
    if (KeReadStateEvent(&HeaderTestContext.Done) == 0)
        KeSetEvent(&HeaderTestContext.Done, EVENT_INCREMENT, FALSE);
    timeout.QuadPart = -10000LL * 50;
    status = KeWaitForSingleObject(&HeaderTestContext.Done, Executive, KernelMode, FALSE, &timeout);
    if (status == STATUS_TIMEOUT)
        return status;
    KeQuerySystemTime(&now);
    KeQuerySystemTimePrecise(&now);
    DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_ERROR_LEVEL, "time %I64d interrupt %llu irql %u\n", now.QuadPart,
               KeQueryInterruptTime(), (unsigned)KeGetCurrentIrql());

    /* IRQL and spin locks */
    KeInitializeSpinLock(&HeaderTestContext.Lock);
    KeAcquireSpinLock(&HeaderTestContext.Lock, &oldIrql);
    KeReleaseSpinLock(&HeaderTestContext.Lock, oldIrql);
    oldIrql = KeAcquireSpinLockRaiseToDpc(&HeaderTestContext.Lock);
    KeReleaseSpinLock(&HeaderTestContext.Lock, oldIrql);
    KeRaiseIrql(DISPATCH_LEVEL, &oldIrql);
    KeAcquireSpinLockAtDpcLevel(&HeaderTestContext.Lock);
    KeReleaseSpinLockFromDpcLevel(&HeaderTestContext.Lock);
    KeLowerIrql(oldIrql);
    KeAcquireInStackQueuedSpinLock(&HeaderTestContext.Lock, &lockHandle);
    KeReleaseInStackQueuedSpinLock(&lockHandle);
    HeaderTestLock(&HeaderTestContext.Lock, &oldIrql);
    KeReleaseSpinLock(&HeaderTestContext.Lock, oldIrql);

    /* threads, objects, multiple waits */
    InitializeObjectAttributes(&attributes, NULL, OBJ_KERNEL_HANDLE, NULL, NULL);
    status = PsCreateSystemThread(&thread, THREAD_ALL_ACCESS, &attributes, NULL, NULL, HeaderTestThread,
                                  &HeaderTestContext.Done);
    if (NT_SUCCESS(status)) {
        status = ObReferenceObjectByHandle(thread, SYNCHRONIZE, *PsThreadType, KernelMode, &threadObject, NULL);
        ZwClose(thread);
        if (NT_SUCCESS(status)) {
            waitObjects[0] = threadObject;
            waitObjects[1] = &HeaderTestContext.Done;
            status = KeWaitForMultipleObjects(2, waitObjects, WaitAll, Executive, KernelMode, FALSE, NULL, waitBlocks);
            ObDereferenceObject(threadObject);
        }
    }
    ObReferenceObject(PsGetCurrentThread());
    ObDereferenceObject(PsGetCurrentThread());
    (void)PsGetCurrentProcess();
    (void)IoGetCurrentProcess();
    (void)KeGetCurrentThread();
    (void)PsGetCurrentThreadId();
    now = KeQueryPerformanceCounter(&timeout);
    if (KeTryToAcquireSpinLockAtDpcLevel(&HeaderTestContext.Lock))
        KeReleaseSpinLockFromDpcLevel(&HeaderTestContext.Lock);
    KeAcquireInStackQueuedSpinLockAtDpcLevel(&HeaderTestContext.Lock, &lockHandle);
    KeReleaseInStackQueuedSpinLockFromDpcLevel(&lockHandle);
    (void)PsProcessType;
    (void)ExEventObjectType;

    /* devices and work items */
    status = IoCreateDevice(DriverObject, sizeof(HEADER_TEST_CONTEXT), &deviceName, FILE_DEVICE_NETWORK,
                            FILE_DEVICE_SECURE_OPEN, FALSE, &HeaderTestDevice);
    if (NT_SUCCESS(status)) {
        HeaderTestDevice->Flags |= DO_DIRECT_IO;
        HeaderTestDevice->Flags &= ~DO_DEVICE_INITIALIZING;
        workItem = IoAllocateWorkItem(HeaderTestDevice);
        if (workItem) {
            IoQueueWorkItem(workItem, HeaderTestWorkItem, DelayedWorkQueue, (PVOID)(ULONG_PTR)42);
            IoFreeWorkItem(workItem);
        }
    }

    /* rundown protection */
    ExInitializeRundownProtection(&HeaderTestContext.Rundown);
    if (ExAcquireRundownProtectionEx(&HeaderTestContext.Rundown, 2))
        ExReleaseRundownProtectionEx(&HeaderTestContext.Rundown, 2);
    ExWaitForRundownProtectionRelease(&HeaderTestContext.Rundown);
    ExRundownCompleted(&HeaderTestContext.Rundown);
    ExReInitializeRundownProtection(&HeaderTestContext.Rundown);

    /* lookaside lists */
    ExInitializeNPagedLookasideList(&HeaderTestContext.Lookaside, NULL, NULL, POOL_NX_ALLOCATION, 256,
                                    HEADER_TEST_TAG, 0);
    buffer = ExAllocateFromNPagedLookasideList(&HeaderTestContext.Lookaside);
    if (buffer)
        ExFreeToNPagedLookasideList(&HeaderTestContext.Lookaside, buffer);
    ExDeleteNPagedLookasideList(&HeaderTestContext.Lookaside);
    status = ExInitializeLookasideListEx(&HeaderTestContext.LookasideEx, NULL, NULL, NonPagedPoolNx,
                                         EX_LOOKASIDE_LIST_EX_FLAGS_FAIL_NO_RAISE, 64, HEADER_TEST_TAG, 0);
    if (NT_SUCCESS(status)) {
        buffer = ExAllocateFromLookasideListEx(&HeaderTestContext.LookasideEx);
        if (buffer)
            ExFreeToLookasideListEx(&HeaderTestContext.LookasideEx, buffer);
        ExDeleteLookasideListEx(&HeaderTestContext.LookasideEx);
    }

    /* lists, S-lists, interlocked */
    InitializeListHead(&head);
    InsertTailList(&head, &HeaderTestContext.Link);
    InsertHeadList(&head, &HeaderTestContext.Link);
    while (!IsListEmpty(&head)) {
        entry = RemoveHeadList(&head);
        PHEADER_TEST_CONTEXT ctx = CONTAINING_RECORD(entry, HEADER_TEST_CONTEXT, Link);
        InterlockedIncrement(&ctx->Pending);
    }
    InsertTailList(&head, &HeaderTestContext.Link);
    (void)RemoveTailList(&head);
    singleHead.Next = NULL;
    PushEntryList(&singleHead, &HeaderTestContext.SingleLink);
    (void)PopEntryList(&singleHead);
    (void)ExInterlockedInsertTailList(&head, &HeaderTestContext.Link, &HeaderTestContext.Lock);
    (void)ExInterlockedRemoveHeadList(&head, &HeaderTestContext.Lock);
    InitializeSListHead(&HeaderTestContext.FreeList);
    InterlockedPushEntrySList(&HeaderTestContext.FreeList, &HeaderTestContext.FreeEntry);
    if (QueryDepthSList(&HeaderTestContext.FreeList) == 1)
        (void)InterlockedPopEntrySList(&HeaderTestContext.FreeList);
    (void)ExInterlockedPushEntrySList(&HeaderTestContext.FreeList, &HeaderTestContext.FreeEntry, &HeaderTestContext.Lock);
    (void)InterlockedFlushSList(&HeaderTestContext.FreeList);
    InterlockedDecrement(&HeaderTestContext.Pending);
    InterlockedExchange(&HeaderTestContext.Pending, 3);
    (void)InterlockedCompareExchange(&HeaderTestContext.Pending, 4, 3);
    (void)InterlockedOr(&HeaderTestContext.Pending, 8);
    (void)InterlockedAnd(&HeaderTestContext.Pending, ~8);
    (void)InterlockedIncrement64(&HeaderTestContext.Bytes);
    (void)InterlockedCompareExchange64(&HeaderTestContext.Bytes, 0, 1);
    (void)InterlockedExchangePointer(&HeaderTestContext.Socket, NULL);
    (void)InterlockedCompareExchangePointer(&HeaderTestContext.Socket, (PVOID)&HeaderTestContext, NULL);
    KeMemoryBarrier();
    YieldProcessor();

    /* Rtl */
    {
        UNICODE_STRING name, copy;
        ANSI_STRING ansi;
        WCHAR copyBuffer[32];
        CHAR text[INET6_ADDRSTRLEN];
        ULONG textLength = sizeof(text);
        IN_ADDR v4;
        IN6_ADDR v6 = IN6ADDR_LOOPBACK_INIT;
        PCSTR terminator;
        USHORT port;
        ULONG scope;
        SIZE_T written;

        RtlInitUnicodeString(&name, L"WskHeaderTest");
        RtlInitAnsiString(&ansi, "WskHeaderTest");
        RtlInitEmptyUnicodeString(&copy, copyBuffer, sizeof(copyBuffer));
        RtlCopyUnicodeString(&copy, &name);
        if (!RtlEqualUnicodeString(&name, &copy, TRUE))
            return STATUS_UNSUCCESSFUL;
        if (RtlCompareUnicodeString(&name, &copy, FALSE) != 0)
            return STATUS_UNSUCCESSFUL;
        if (RtlCompareMemory(copy.Buffer, name.Buffer, name.Length) != name.Length)
            return STATUS_UNSUCCESSFUL;
        status = HeaderTestCopyName(&name, copyBuffer, sizeof(copyBuffer), &written);
        DbgPrint("%wZ %Z %ws %S %hs %lu %lx %I64x %Iu %p %c %wc\n", &name, &ansi, copyBuffer, copyBuffer, "narrow",
                 (ULONG)written, (ULONG)status, (ULONGLONG)now.QuadPart, written, (PVOID)&name, 'x', L'y');
        status = RtlIpv4StringToAddressA("127.0.0.1", TRUE, &terminator, &v4);
        (void)RtlIpv4AddressToStringA(&v4, text);
        status = RtlIpv4AddressToStringExA(&v4, htons(80), text, &textLength);
        status = RtlIpv4StringToAddressExA("10.0.0.1:8080", TRUE, &v4, &port);
        (void)RtlIpv6AddressToStringA(&v6, text);
        textLength = sizeof(text);
        status = RtlIpv6AddressToStringExA(&v6, 0, htons(443), text, &textLength);
        status = RtlIpv6StringToAddressA("::1", &terminator, &v6);
        status = RtlIpv6StringToAddressExA("[fe80::1%2]:80", &v6, &scope, &port);
        status = RtlIpv6StringToAddressExW(L"[::1]:80", &v6, &scope, &port);
        {
            WCHAR wide[INET6_ADDRSTRLEN];
            PCWSTR wterminator;
            (void)RtlIpv4AddressToStringW(&v4, wide);
            (void)RtlIpv6AddressToStringW(&v6, wide);
            status = RtlIpv4StringToAddressW(L"1.2.3.4", FALSE, &wterminator, &v4);
            status = RtlIpv6StringToAddressW(L"::", &wterminator, &v6);
        }
        RtlSecureZeroMemory(text, sizeof(text));
        RtlFillMemory(text, sizeof(text), 'a');
        if (!RtlEqualMemory(text, text, sizeof(text)))
            return STATUS_UNSUCCESSFUL;
        RtlMoveMemory(text, text + 1, 4);
        UNREFERENCED_PARAMETER(RtlUlongByteSwap(v4.s_addr) + RtlUshortByteSwap(port) + RtlUlonglongByteSwap(1));
    }
    return STATUS_SUCCESS;
}

/* ----- SEH, as drivers write it ----- */
static NTSTATUS HeaderTestSeh(PVOID UserBuffer, ULONG Length)
{
    NTSTATUS status = STATUS_SUCCESS;
    __try {
        if (Length == 0)
            __leave;
        RtlZeroMemory(UserBuffer, Length);
    } __except (GetExceptionCode() == STATUS_ACCESS_VIOLATION ? EXCEPTION_EXECUTE_HANDLER : EXCEPTION_CONTINUE_SEARCH) {
        status = GetExceptionCode();
    }
    __try {
        status = STATUS_PENDING;
    } __finally {
        if (AbnormalTermination())
            status = STATUS_UNSUCCESSFUL;
        else if (status == STATUS_PENDING)
            status = STATUS_SUCCESS;
    }
    return status;
}

/* ----- strings: ntstrsafe ----- */
static NTSTATUS HeaderTestStrsafe(PCUNICODE_STRING RegistryPath)
{
    CHAR text[64];
    WCHAR wide[64];
    UNICODE_STRING us;
    size_t length;
    NTSTATUS status;

    status = RtlStringCbPrintfA(text, sizeof(text), "%s:%d %wZ", "key", 1, RegistryPath);
    status = RtlStringCchPrintfA(text, RTL_NUMBER_OF(text), "0x%08lX", (ULONG)status);
    status = RtlStringCbCopyA(text, sizeof(text), "copy");
    status = RtlStringCbCatA(text, sizeof(text), "cat");
    status = RtlStringCbLengthA(text, sizeof(text), &length);
    status = RtlStringCchCopyW(wide, RTL_NUMBER_OF(wide), L"wide");
    status = RtlStringCbPrintfW(wide, sizeof(wide), L"%s=%u", L"value", 7u);
    status = RtlStringCchLengthW(wide, RTL_NUMBER_OF(wide), &length);
    RtlInitEmptyUnicodeString(&us, wide, sizeof(wide));
    status = RtlUnicodeStringCopyString(&us, L"prefix-");
    status = RtlUnicodeStringCat(&us, RegistryPath);
    status = RtlUnicodeStringPrintf(&us, L"%wZ/%d", RegistryPath, 3);
    return status;
}

/* ----- WSK registration and calls through the dispatch tables ----- */
static NTSTATUS HeaderTestWsk(VOID)
{
    WSK_CLIENT_NPI clientNpi;
    WSK_EVENT_CALLBACK_CONTROL callbackControl;
    WSK_PROVIDER_CHARACTERISTICS characteristics;
    PWSK_SOCKET socket = (PWSK_SOCKET)HeaderTestContext.Socket;
    SOCKADDR_IN6 local = { AF_INET6, 0, 0, IN6ADDR_ANY_INIT, { 0 } };
    SOCKADDR_IN remote;
    SOCKADDR_STORAGE storage;
    ULONG v6only = 0;
    WSK_BUF buf;
    PIRP irp;
    NTSTATUS status;
    PWSACMSGHDR cmsg;
    PIN_PKTINFO pktinfo;

    clientNpi.ClientContext = NULL;
    clientNpi.Dispatch = &TestClientDispatch;
    status = WskRegister(&clientNpi, &HeaderTestContext.Registration);
    if (!NT_SUCCESS(status))
        return status;
    status = WskCaptureProviderNPI(&HeaderTestContext.Registration, WSK_INFINITE_WAIT, &HeaderTestContext.ProviderNpi);
    if (status == STATUS_NOINTERFACE) {
        status = WskQueryProviderCharacteristics(&HeaderTestContext.Registration, &characteristics);
        DbgPrint("WSK %u.%u..%u.%u\n", WSK_MAJOR_VERSION(characteristics.LowestVersion),
                 WSK_MINOR_VERSION(characteristics.LowestVersion), WSK_MAJOR_VERSION(characteristics.HighestVersion),
                 WSK_MINOR_VERSION(characteristics.HighestVersion));
    }
    if (!NT_SUCCESS(status)) {
        WskDeregister(&HeaderTestContext.Registration);
        return status;
    }

    callbackControl.NpiId = &NPI_WSK_INTERFACE_ID;
    callbackControl.EventMask = WSK_EVENT_ACCEPT;
    status = HeaderTestContext.ProviderNpi.Dispatch->WskControlClient(
        HeaderTestContext.ProviderNpi.Client, WSK_SET_STATIC_EVENT_CALLBACKS, sizeof(callbackControl), &callbackControl,
        0, NULL, NULL, NULL);

    irp = IoAllocateIrp(1, FALSE);
    if (irp == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    KeInitializeEvent(&HeaderTestContext.Done, SynchronizationEvent, FALSE);
    IoSetCompletionRoutine(irp, HeaderTestIrpComplete, &HeaderTestContext.Done, TRUE, TRUE, TRUE);
    status = HeaderTestContext.ProviderNpi.Dispatch->WskSocket(
        HeaderTestContext.ProviderNpi.Client, AF_INET6, SOCK_STREAM, IPPROTO_TCP, WSK_FLAG_LISTEN_SOCKET, NULL,
        &TestClientListenDispatch, NULL, NULL, NULL, irp);
    if (status == STATUS_PENDING) {
        KeWaitForSingleObject(&HeaderTestContext.Done, Executive, KernelMode, FALSE, NULL);
        status = irp->IoStatus.Status;
    }
    if (NT_SUCCESS(status))
        socket = (PWSK_SOCKET)irp->IoStatus.Information;

    if (socket != NULL) {
        const WSK_PROVIDER_LISTEN_DISPATCH *listen = (const WSK_PROVIDER_LISTEN_DISPATCH *)socket->Dispatch;
        PWSK_PROVIDER_CONNECTION_DISPATCH connection = (PWSK_PROVIDER_CONNECTION_DISPATCH)socket->Dispatch;
        PWSK_PROVIDER_BASIC_DISPATCH basic = (PWSK_PROVIDER_BASIC_DISPATCH)socket->Dispatch;
        PWSK_PROVIDER_DATAGRAM_DISPATCH datagram = (PWSK_PROVIDER_DATAGRAM_DISPATCH)socket->Dispatch;

        IoReuseIrp(irp, STATUS_UNSUCCESSFUL);
        IoSetCompletionRoutine(irp, HeaderTestIrpComplete, &HeaderTestContext.Done, TRUE, TRUE, TRUE);
        status = listen->WskControlSocket(socket, WskSetOption, IPV6_V6ONLY, IPPROTO_IPV6, sizeof(v6only), &v6only, 0,
                                          NULL, NULL, irp);
        status = listen->Basic.WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                                                sizeof(callbackControl), &callbackControl, 0, NULL, NULL, NULL);
        status = listen->WskBind(socket, (PSOCKADDR)&local, 0, irp);
        status = listen->WskAccept(socket, 0, NULL, &TestClientConnectionDispatch, (PSOCKADDR)&storage,
                                   (PSOCKADDR)&remote, irp);

        IN4ADDR_SETLOOPBACK(&remote);
        remote.sin_port = htons(7);
        remote.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        buf.Mdl = NULL;
        buf.Offset = 0;
        buf.Length = 0;
        status = connection->WskConnect(socket, (PSOCKADDR)&remote, 0, irp);
        status = connection->WskSend(socket, &buf, WSK_FLAG_NODELAY, irp);
        status = connection->WskReceive(socket, &buf, WSK_FLAG_WAITALL, irp);
        status = connection->WskSendEx(socket, &buf, 0, 0, NULL, irp);
        status = connection->WskDisconnect(socket, NULL, WSK_FLAG_ABORTIVE, irp);

        RtlZeroMemory(HeaderTestContext.Control, sizeof(HeaderTestContext.Control));
        cmsg = (PWSACMSGHDR)HeaderTestContext.Control;
        cmsg->cmsg_len = WSA_CMSG_LEN(sizeof(IN_PKTINFO));
        cmsg->cmsg_level = IPPROTO_IP;
        cmsg->cmsg_type = IP_PKTINFO;
        pktinfo = (PIN_PKTINFO)WSA_CMSG_DATA(cmsg);
        pktinfo->ipi_addr.s_addr = INADDR_ANY;
        pktinfo->ipi_ifindex = 1;
        status = datagram->WskSendTo(socket, &buf, 0, (PSOCKADDR)&remote, (ULONG)CMSG_SPACE(sizeof(IN_PKTINFO)),
                                     (PCMSGHDR)HeaderTestContext.Control, irp);

        /* both spellings of the basic slots */
        IoReuseIrp(irp, STATUS_UNSUCCESSFUL);
        status = connection->Basic.WskCloseSocket(socket, irp);
        status = connection->WskCloseSocket(socket, irp);
        status = basic->WskCloseSocket(socket, irp);
    }
    IoFreeIrp(irp);

    WskReleaseProviderNPI(&HeaderTestContext.Registration);
    WskDeregister(&HeaderTestContext.Registration);

    (void)TestProviderDispatch;
    (void)TestBasicDispatch;
    (void)TestListenDispatch;
    (void)TestDatagramDispatch;
    (void)TestConnectionDispatch;
    (void)TestClientDatagramDispatch;
    (void)TestClientStreamDispatch;
    (void)in6addr_any;
    (void)HeaderTestGuid;
    HeaderTestFillStreamDispatch();
    return status;
}

/* ----- the driver ----- */
VOID HeaderTestUnload(PDRIVER_OBJECT DriverObject)
{
    if (HeaderTestDevice)
        IoDeleteDevice(HeaderTestDevice);
    WPP_CLEANUP(DriverObject);
}

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    NTSTATUS status;
    ULONG i;

    WPP_INIT_TRACING(DriverObject, RegistryPath);
    TraceEvents(TRACE_LEVEL_INFORMATION, TRACE_DRIVER, "%!FUNC! Entry %wZ (%!STATUS!) line %!LINE!", RegistryPath,
                STATUS_SUCCESS);
    DoTraceMessage(TRACE_DRIVER, "driver %p", (PVOID)DriverObject);
    KdPrint(("DriverEntry %wZ\n", RegistryPath));

    DriverObject->DriverUnload = HeaderTestUnload;
    for (i = 0; i <= IRP_MJ_MAXIMUM_FUNCTION; i++)
        DriverObject->MajorFunction[i] = HeaderTestDispatch;

    status = HeaderTestKernel(DriverObject);
    if (NT_SUCCESS(status))
        status = HeaderTestSeh(&i, sizeof(i));
    if (NT_SUCCESS(status))
        status = HeaderTestStrsafe(RegistryPath);
    if (NT_SUCCESS(status))
        status = HeaderTestWsk();
    if (!NT_SUCCESS(status))
        KeBugCheckEx(0xE2, (ULONG_PTR)status, 0, 0, 0);
    if (status == STATUS_PENDING)
        KeBugCheck(0xE2);
    return status;
}
