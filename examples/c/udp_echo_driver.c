/*
 * udp_echo_driver.c: a UDP echo server written as a WSK driver: every datagram goes back
 * to its sender, straight from the buffer WSK indicated it in.
 *
 *   cc -shared -fPIC $(wsk cflags) udp_echo_driver.c -o udp_echo_driver.so && wsk run udp_echo_driver.so
 *
 * Everything happens in the WskReceiveFromEvent callback and IRP completion routines; the
 * only waits are in DriverEntry and DriverUnload.
 *
 * - DriverEntry registers with WSK, captures the provider NPI (bounded wait), creates a
 *   datagram socket (WSK_FLAG_DATAGRAM_SOCKET) with a WSK_CLIENT_DATAGRAM_DISPATCH: IPv6
 *   with IPV6_V6ONLY off, so IPv4 peers come in too (as IPv4-mapped addresses), or plain
 *   IPv4 on a host without IPv6. It binds it to the port in the environment variable
 *   WSK_UDP_ECHO_PORT (default 0: any free port), prints
 *   "udp_echo_driver: listening on port N" and enables WSK_EVENT_RECEIVE_FROM.
 * - WskReceiveFromEvent gets a chain of WSK_DATAGRAM_INDICATIONs. Each datagram is sent
 *   back with WskSendTo: its own Buffer (the MDL WSK indicated) to its own RemoteAddress,
 *   with an IRP of its own. The chain is retained (STATUS_PENDING) until those sends
 *   completed: the completion routine of the last one gives it back with WskRelease. If
 *   every send completed before the callback returns, nothing needs retaining and the
 *   callback returns STATUS_SUCCESS. The last send may complete on another thread, and
 *   release the chain, while this callback is still returning STATUS_PENDING: libwsk takes
 *   such an early release of a chain being retained (docs/C_ABI.md, "WskRelease").
 * - When WSK is short of receive buffers (WSK_FLAG_RELEASE_ASAP), the datagrams are copied
 *   into pool memory and sent from there, and the chain goes back at once (STATUS_SUCCESS).
 * - WSK bounds what a retaining client holds: past its limit it stops reading the socket and
 *   the host drops datagrams, as UDP may. The driver needs no flow control of its own.
 * - DriverUnload closes the socket: the sends still pending complete (STATUS_CANCELLED)
 *   and their chains are released before the close completes, and no callback runs after
 *   it; then it releases the NPI, deregisters and prints what it did.
 */
#include <ntddk.h>
#include <wsk.h>

#include <stdlib.h> /* getenv, strtoul: a driver under `wsk run` is a Linux process */

#define UDP_ECHO_TAG 'pdUE'

/* How long DriverEntry waits for the WSK subsystem. */
#define UDP_ECHO_CAPTURE_WAIT_MS 10000

/* A retained chain: given back once every send from it completed. */
typedef struct _UDP_CHAIN {
    PWSK_DATAGRAM_INDICATION List;
    volatile LONG Outstanding; /* sends not completed, + 1 while the callback issues them */
} UDP_CHAIN, *PUDP_CHAIN;

/* One echo: a send from a retained chain, or from a copy. */
typedef struct _UDP_SEND {
    PIRP Irp;
    PUDP_CHAIN Chain; /* the retained chain the datagram is in, or NULL for a copy: */
    PMDL Mdl;         /* the copy's MDL */
    WSK_BUF Buffer;
    SIZE_T Length;
    SOCKADDR_STORAGE Remote; /* the copy's destination */
    UCHAR Data[1];           /* the copy (allocated to its length) */
} UDP_SEND, *PUDP_SEND;

DRIVER_INITIALIZE DriverEntry;
static DRIVER_UNLOAD UdpEchoUnload;

static NTSTATUS WSKAPI UdpEchoReceiveFromEvent(PVOID SocketContext, ULONG Flags,
                                               PWSK_DATAGRAM_INDICATION DataIndication);

static const WSK_CLIENT_DISPATCH UdpEchoClientDispatch = {MAKE_WSK_VERSION(1, 0), 0, NULL};
static WSK_CLIENT_NPI UdpEchoClientNpi = {NULL, &UdpEchoClientDispatch};
static const WSK_CLIENT_DATAGRAM_DISPATCH UdpEchoDatagramDispatch = {UdpEchoReceiveFromEvent};

static WSK_REGISTRATION UdpEchoRegistration;
static WSK_PROVIDER_NPI UdpEchoProvider;
static BOOLEAN UdpEchoRegistered;
static BOOLEAN UdpEchoCaptured;
static PWSK_SOCKET UdpEchoSocket;
static PWSK_PROVIDER_DATAGRAM_DISPATCH UdpEchoDispatch;
static volatile LONG UdpEchoUnloading;

/* What DriverUnload reports. */
static volatile LONG64 UdpEchoDatagrams;
static volatile LONG64 UdpEchoBytes;
static volatile LONG UdpEchoRetained;
static volatile LONG UdpEchoRetainedInline;
static volatile LONG UdpEchoCopies;
static volatile LONG UdpEchoSendFailures;
static volatile LONG UdpEchoErrors;

/* ----- sends ----- */

/* A send from a retained chain finished (or was never started): the last one releases it. */
static VOID UdpEchoChainDone(PUDP_CHAIN Chain)
{
    NTSTATUS Status;

    if (InterlockedDecrement(&Chain->Outstanding) != 0) {
        return;
    }
    Status = UdpEchoDispatch->WskRelease(UdpEchoSocket, Chain->List);
    if (!NT_SUCCESS(Status)) {
        DbgPrint("udp_echo_driver: WskRelease: 0x%08X\n", (unsigned)Status);
        InterlockedIncrement(&UdpEchoErrors);
    }
    InterlockedIncrement(&UdpEchoRetained);
    ExFreePoolWithTag(Chain, UDP_ECHO_TAG);
}

static VOID UdpEchoFreeSend(PUDP_SEND Send)
{
    if (Send->Irp != NULL) {
        IoFreeIrp(Send->Irp);
    }
    if (Send->Mdl != NULL) {
        IoFreeMdl(Send->Mdl);
    }
    ExFreePoolWithTag(Send, UDP_ECHO_TAG);
}

static NTSTATUS UdpEchoSendComplete(PDEVICE_OBJECT DeviceObject, PIRP Irp, PVOID Context)
{
    PUDP_SEND Send = (PUDP_SEND)Context;
    PUDP_CHAIN Chain = Send->Chain;

    UNREFERENCED_PARAMETER(DeviceObject);
    if (NT_SUCCESS(Irp->IoStatus.Status)) {
        InterlockedAdd64(&UdpEchoBytes, (LONG64)Irp->IoStatus.Information);
    } else if (!(Irp->IoStatus.Status == STATUS_CANCELLED && UdpEchoUnloading)) {
        DbgPrint("udp_echo_driver: echo of %llu bytes failed: 0x%08X\n", (unsigned long long)Send->Length,
                 (unsigned)Irp->IoStatus.Status);
        InterlockedIncrement(&UdpEchoSendFailures);
    }
    UdpEchoFreeSend(Send);
    if (Chain != NULL) {
        UdpEchoChainDone(Chain);
    }
    return STATUS_MORE_PROCESSING_REQUIRED; /* the IRP is ours (freed above) */
}

/* Sends Send->Buffer to Remote; the completion routine frees Send (and releases its chain). */
static VOID UdpEchoStartSend(PUDP_SEND Send, PSOCKADDR Remote)
{
    IoSetCompletionRoutine(Send->Irp, UdpEchoSendComplete, Send, TRUE, TRUE, TRUE);
    /* Whatever it returns, the IRP completes: the routine does the rest. */
    (VOID) UdpEchoDispatch->WskSendTo(UdpEchoSocket, &Send->Buffer, 0, Remote, 0, NULL, Send->Irp);
}

/* A send context (with its IRP) for Length bytes of copy (0: none). */
static PUDP_SEND UdpEchoNewSend(SIZE_T Copy)
{
    PUDP_SEND Send = (PUDP_SEND)ExAllocatePoolZero(NonPagedPoolNx, FIELD_OFFSET(UDP_SEND, Data) + Copy + 1,
                                                   UDP_ECHO_TAG);

    if (Send == NULL) {
        return NULL;
    }
    Send->Irp = IoAllocateIrp(1, FALSE);
    if (Send->Irp == NULL) {
        UdpEchoFreeSend(Send);
        return NULL;
    }
    return Send;
}

/* Echoes a datagram from its own (retained) buffer. */
static VOID UdpEchoSendRetained(PUDP_CHAIN Chain, PWSK_DATAGRAM_INDICATION Datagram)
{
    PUDP_SEND Send = UdpEchoNewSend(0);

    if (Send == NULL) {
        DbgPrint("udp_echo_driver: out of memory: a datagram is not echoed\n");
        InterlockedIncrement(&UdpEchoSendFailures);
        return;
    }
    Send->Chain = Chain;
    Send->Buffer = Datagram->Buffer;
    Send->Length = Datagram->Buffer.Length;
    InterlockedIncrement(&Chain->Outstanding);
    UdpEchoStartSend(Send, Datagram->RemoteAddress);
}

/* Echoes a copy of a datagram (the indication goes back at once). */
static VOID UdpEchoSendCopy(PWSK_DATAGRAM_INDICATION Datagram)
{
    SIZE_T Length = Datagram->Buffer.Length;
    PUDP_SEND Send = UdpEchoNewSend(Length);
    SIZE_T Copied = 0;
    PMDL Mdl;
    ULONG Offset;

    if (Send == NULL) {
        DbgPrint("udp_echo_driver: out of memory: a datagram is not echoed\n");
        InterlockedIncrement(&UdpEchoSendFailures);
        return;
    }
    /* The datagram may span several MDLs, from Offset in the first. */
    for (Mdl = Datagram->Buffer.Mdl, Offset = Datagram->Buffer.Offset; Mdl != NULL && Copied < Length;
         Mdl = Mdl->Next, Offset = 0) {
        PUCHAR Va = (PUCHAR)MmGetSystemAddressForMdlSafe(Mdl, NormalPagePriority | MdlMappingNoExecute);
        SIZE_T Take = MmGetMdlByteCount(Mdl) - Offset;

        if (Va == NULL) {
            break;
        }
        if (Take > Length - Copied) {
            Take = Length - Copied;
        }
        RtlCopyMemory(Send->Data + Copied, Va + Offset, Take);
        Copied += Take;
    }
    Send->Mdl = IoAllocateMdl(Send->Data, (ULONG)(Length ? Length : 1), FALSE, FALSE, NULL);
    if (Copied != Length || Send->Mdl == NULL) {
        DbgPrint("udp_echo_driver: cannot copy a datagram of %llu bytes\n", (unsigned long long)Length);
        InterlockedIncrement(&UdpEchoErrors);
        UdpEchoFreeSend(Send);
        return;
    }
    MmBuildMdlForNonPagedPool(Send->Mdl);
    Send->Buffer.Mdl = Send->Mdl;
    Send->Buffer.Offset = 0;
    Send->Buffer.Length = Length;
    Send->Length = Length;
    RtlCopyMemory(&Send->Remote, Datagram->RemoteAddress,
                  Datagram->RemoteAddress->sa_family == AF_INET6 ? sizeof(SOCKADDR_IN6) : sizeof(SOCKADDR_IN));
    InterlockedIncrement(&UdpEchoCopies);
    UdpEchoStartSend(Send, (PSOCKADDR)&Send->Remote);
}

/* ----- the event ----- */

static NTSTATUS WSKAPI UdpEchoReceiveFromEvent(PVOID SocketContext, ULONG Flags,
                                               PWSK_DATAGRAM_INDICATION DataIndication)
{
    PWSK_DATAGRAM_INDICATION Datagram;
    PUDP_CHAIN Chain;

    UNREFERENCED_PARAMETER(SocketContext);
    if (DataIndication == NULL) {
        /* The socket no longer works; DriverUnload closes it. */
        DbgPrint("udp_echo_driver: NULL indication: the socket failed\n");
        InterlockedIncrement(&UdpEchoErrors);
        return STATUS_SUCCESS;
    }
    for (Datagram = DataIndication; Datagram != NULL; Datagram = Datagram->Next) {
        InterlockedIncrement64(&UdpEchoDatagrams);
    }
    if (Flags & WSK_FLAG_RELEASE_ASAP) {
        for (Datagram = DataIndication; Datagram != NULL; Datagram = Datagram->Next) {
            UdpEchoSendCopy(Datagram);
        }
        return STATUS_SUCCESS;
    }
    Chain = (PUDP_CHAIN)ExAllocatePoolZero(NonPagedPoolNx, sizeof(UDP_CHAIN), UDP_ECHO_TAG);
    if (Chain == NULL) {
        for (Datagram = DataIndication; Datagram != NULL; Datagram = Datagram->Next) {
            UdpEchoSendCopy(Datagram);
        }
        return STATUS_SUCCESS;
    }
    Chain->List = DataIndication;
    Chain->Outstanding = 1; /* this callback, until every send was issued */
    for (Datagram = DataIndication; Datagram != NULL; Datagram = Datagram->Next) {
        UdpEchoSendRetained(Chain, Datagram);
    }
    if (InterlockedDecrement(&Chain->Outstanding) == 0) {
        /* Every send completed already: nothing to retain. */
        ExFreePoolWithTag(Chain, UDP_ECHO_TAG);
        InterlockedIncrement(&UdpEchoRetainedInline);
        return STATUS_SUCCESS;
    }
    /* The sends still running own the chain now: the last one releases it. */
    return STATUS_PENDING;
}

/* ----- setup and teardown ----- */

static NTSTATUS UdpEchoSignal(PDEVICE_OBJECT DeviceObject, PIRP Irp, PVOID Context)
{
    UNREFERENCED_PARAMETER(DeviceObject);
    UNREFERENCED_PARAMETER(Irp);
    KeSetEvent((PKEVENT)Context, IO_NO_INCREMENT, FALSE);
    return STATUS_MORE_PROCESSING_REQUIRED;
}

static VOID UdpEchoArm(PIRP Irp, PKEVENT Done)
{
    IoReuseIrp(Irp, STATUS_UNSUCCESSFUL);
    KeClearEvent(Done);
    IoSetCompletionRoutine(Irp, UdpEchoSignal, Done, TRUE, TRUE, TRUE);
}

static NTSTATUS UdpEchoWait(PIRP Irp, PKEVENT Done, NTSTATUS Status)
{
    if (Status == STATUS_PENDING) {
        KeWaitForSingleObject(Done, Executive, KernelMode, FALSE, NULL);
        Status = Irp->IoStatus.Status;
    }
    return Status;
}

/* Closes the socket (waits for the close to complete). */
static VOID UdpEchoClose(PIRP Irp, PKEVENT Done)
{
    NTSTATUS Status;

    if (UdpEchoSocket == NULL) {
        return;
    }
    UdpEchoArm(Irp, Done);
    Status = UdpEchoWait(Irp, Done, UdpEchoDispatch->WskCloseSocket(UdpEchoSocket, Irp));
    if (!NT_SUCCESS(Status)) {
        DbgPrint("udp_echo_driver: WskCloseSocket: 0x%08X\n", (unsigned)Status);
        InterlockedIncrement(&UdpEchoErrors);
    }
    UdpEchoSocket = NULL;
}

/* Opens, configures and binds the socket, and turns the receive event on; *Port: the
   port it got. */
static NTSTATUS UdpEchoOpen(ADDRESS_FAMILY Family, USHORT *Port, PIRP Irp, PKEVENT Done)
{
    union {
        SOCKADDR Generic;
        SOCKADDR_IN V4;
        SOCKADDR_IN6 V6;
    } Address;
    WSK_EVENT_CALLBACK_CONTROL Callbacks;
    ULONG V6Only = 0;
    const char *Step;
    NTSTATUS Status;

    Step = "WskSocket";
    UdpEchoArm(Irp, Done);
    Status = UdpEchoProvider.Dispatch->WskSocket(UdpEchoProvider.Client, Family, SOCK_DGRAM, IPPROTO_UDP,
                                                 WSK_FLAG_DATAGRAM_SOCKET, NULL, &UdpEchoDatagramDispatch, NULL,
                                                 NULL, NULL, Irp);
    Status = UdpEchoWait(Irp, Done, Status);
    if (!NT_SUCCESS(Status)) {
        goto Failed;
    }
    UdpEchoSocket = (PWSK_SOCKET)Irp->IoStatus.Information;
    UdpEchoDispatch = (PWSK_PROVIDER_DATAGRAM_DISPATCH)UdpEchoSocket->Dispatch;

    if (Family == AF_INET6) {
        /* Dual stack: IPv4 peers arrive as IPv4-mapped IPv6 addresses, and are answered so. */
        Step = "IPV6_V6ONLY";
        UdpEchoArm(Irp, Done);
        Status = UdpEchoDispatch->WskControlSocket(UdpEchoSocket, WskSetOption, IPV6_V6ONLY, IPPROTO_IPV6,
                                                   sizeof(V6Only), &V6Only, 0, NULL, NULL, Irp);
        Status = UdpEchoWait(Irp, Done, Status);
        if (!NT_SUCCESS(Status)) {
            goto Close;
        }
    }

    Step = "WskBind";
    RtlZeroMemory(&Address, sizeof(Address));
    Address.Generic.sa_family = Family;
    if (Family == AF_INET6) {
        Address.V6.sin6_port = RtlUshortByteSwap(*Port);
    } else {
        Address.V4.sin_port = RtlUshortByteSwap(*Port);
    }
    UdpEchoArm(Irp, Done);
    Status = UdpEchoWait(Irp, Done, UdpEchoDispatch->WskBind(UdpEchoSocket, &Address.Generic, 0, Irp));
    if (!NT_SUCCESS(Status)) {
        goto Close;
    }

    Step = "WskGetLocalAddress";
    RtlZeroMemory(&Address, sizeof(Address));
    UdpEchoArm(Irp, Done);
    Status = UdpEchoWait(Irp, Done, UdpEchoDispatch->WskGetLocalAddress(UdpEchoSocket, &Address.Generic, Irp));
    if (!NT_SUCCESS(Status)) {
        goto Close;
    }
    *Port = RtlUshortByteSwap(Family == AF_INET6 ? Address.V6.sin6_port : Address.V4.sin_port);

    /* After bind: datagram events may be enabled once the socket has an address. */
    Step = "SO_WSK_EVENT_CALLBACK";
    Callbacks.NpiId = &NPI_WSK_INTERFACE_ID;
    Callbacks.EventMask = WSK_EVENT_RECEIVE_FROM;
    Status = UdpEchoDispatch->WskControlSocket(UdpEchoSocket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                                               sizeof(Callbacks), &Callbacks, 0, NULL, NULL, NULL);
    if (!NT_SUCCESS(Status)) {
        goto Close;
    }
    return STATUS_SUCCESS;

Close:
    UdpEchoClose(Irp, Done);
Failed:
    DbgPrint("udp_echo_driver: %s (%s): 0x%08X\n", Step, Family == AF_INET6 ? "IPv6" : "IPv4", (unsigned)Status);
    return Status;
}

static NTSTATUS UdpEchoConfiguredPort(USHORT *Port)
{
    const char *Text = getenv("WSK_UDP_ECHO_PORT");
    char *End;
    unsigned long Value;

    *Port = 0;
    if (Text == NULL || *Text == '\0') {
        return STATUS_SUCCESS;
    }
    Value = strtoul(Text, &End, 10);
    if (*End != '\0' || Value > 65535) {
        DbgPrint("udp_echo_driver: WSK_UDP_ECHO_PORT=%s is not a port number\n", Text);
        return STATUS_INVALID_PARAMETER;
    }
    *Port = (USHORT)Value;
    return STATUS_SUCCESS;
}

/* Undoes what DriverEntry did (all of it, or the part that succeeded). */
static VOID UdpEchoStop(VOID)
{
    KEVENT Done;
    PIRP Irp;

    InterlockedExchange(&UdpEchoUnloading, 1);
    KeInitializeEvent(&Done, NotificationEvent, FALSE);
    if (UdpEchoSocket != NULL) {
        Irp = IoAllocateIrp(1, FALSE);
        if (Irp == NULL) {
            DbgPrint("udp_echo_driver: no IRP to close the socket\n");
            InterlockedIncrement(&UdpEchoErrors);
        } else {
            /* Pending echoes complete (and release their chains) before the close does. */
            UdpEchoClose(Irp, &Done);
            IoFreeIrp(Irp);
        }
    }
    if (UdpEchoCaptured) {
        WskReleaseProviderNPI(&UdpEchoRegistration);
        UdpEchoCaptured = FALSE;
    }
    if (UdpEchoRegistered) {
        WskDeregister(&UdpEchoRegistration);
        UdpEchoRegistered = FALSE;
    }
}

static VOID UdpEchoUnload(PDRIVER_OBJECT DriverObject)
{
    UNREFERENCED_PARAMETER(DriverObject);
    UdpEchoStop();
    DbgPrint("udp_echo_driver: unloaded: datagrams %lld, bytes %lld, retained %d, retained-inline %d, copies %d, "
             "send-failures %d, errors %d\n",
             (long long)UdpEchoDatagrams, (long long)UdpEchoBytes, (int)UdpEchoRetained, (int)UdpEchoRetainedInline,
             (int)UdpEchoCopies, (int)UdpEchoSendFailures, (int)UdpEchoErrors);
}

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    KEVENT Done;
    PIRP Irp;
    USHORT Port, Requested;
    NTSTATUS Status;

    UNREFERENCED_PARAMETER(RegistryPath);
    KeInitializeEvent(&Done, NotificationEvent, FALSE);
    Status = UdpEchoConfiguredPort(&Requested);
    if (!NT_SUCCESS(Status)) {
        return Status;
    }
    Status = WskRegister(&UdpEchoClientNpi, &UdpEchoRegistration);
    if (!NT_SUCCESS(Status)) {
        DbgPrint("udp_echo_driver: WskRegister: 0x%08X\n", (unsigned)Status);
        return Status;
    }
    UdpEchoRegistered = TRUE;
    Status = WskCaptureProviderNPI(&UdpEchoRegistration, UDP_ECHO_CAPTURE_WAIT_MS, &UdpEchoProvider);
    if (!NT_SUCCESS(Status)) {
        DbgPrint("udp_echo_driver: WskCaptureProviderNPI: 0x%08X\n", (unsigned)Status);
        goto Failed;
    }
    UdpEchoCaptured = TRUE;

    Irp = IoAllocateIrp(1, FALSE);
    if (Irp == NULL) {
        Status = STATUS_INSUFFICIENT_RESOURCES;
        goto Failed;
    }
    Port = Requested;
    Status = UdpEchoOpen(AF_INET6, &Port, Irp, &Done);
    if (!NT_SUCCESS(Status) && Status != STATUS_ADDRESS_ALREADY_ASSOCIATED) {
        Port = Requested;
        Status = UdpEchoOpen(AF_INET, &Port, Irp, &Done);
    }
    IoFreeIrp(Irp);
    if (!NT_SUCCESS(Status)) {
        goto Failed;
    }

    DriverObject->DriverUnload = UdpEchoUnload;
    DbgPrint("udp_echo_driver: listening on port %u\n", (unsigned)Port);
    return STATUS_SUCCESS;

Failed:
    UdpEchoStop();
    return Status;
}
