/*
 * wskbsd.c: a synchronous, BSD-style TCP client library over WSK (see wskbsd.h).
 *
 * The pattern: each socket owns one IRP (IoAllocateIrp with one stack location). Before
 * each call the IRP is recycled with IoReuseIrp and given a completion routine that sets
 * the socket's KEVENT and returns STATUS_MORE_PROCESSING_REQUIRED, so the I/O manager
 * hands the IRP back instead of freeing it. The caller waits on the event only when the
 * WSK function returned STATUS_PENDING: any other return value means the IRP was already
 * completed and that value is the final status.
 */
#include "wskbsd.h"

#define WSKBSD_TAG 'dsbW'

/* The most one WskSend/WskReceive moves (one MDL per call). */
#define WSKBSD_MAX_TRANSFER (1024 * 1024)

struct _WSKBSD_SOCKET {
    PWSK_SOCKET Socket;
    PWSK_PROVIDER_CONNECTION_DISPATCH Dispatch;
    ADDRESS_FAMILY Family;
    PIRP Irp;
    KEVENT Done; /* notification event: the IRP completed */
};

typedef union _WSKBSD_ADDRESS {
    SOCKADDR Generic;
    SOCKADDR_IN V4;
    SOCKADDR_IN6 V6;
} WSKBSD_ADDRESS;

static const WSK_CLIENT_DISPATCH WskBsdClientDispatch = {MAKE_WSK_VERSION(1, 0), 0, NULL};
static WSK_CLIENT_NPI WskBsdClientNpi = {NULL, &WskBsdClientDispatch};
static WSK_REGISTRATION WskBsdRegistration;
static WSK_PROVIDER_NPI WskBsdProvider;
static BOOLEAN WskBsdRegistered;
static BOOLEAN WskBsdCaptured;

static NTSTATUS WskBsdCompletion(PDEVICE_OBJECT DeviceObject, PIRP Irp, PVOID Context)
{
    UNREFERENCED_PARAMETER(DeviceObject);
    UNREFERENCED_PARAMETER(Irp);
    KeSetEvent((PKEVENT)Context, IO_NO_INCREMENT, FALSE);
    /* The IRP belongs to the socket: stop the I/O manager from completing it further. */
    return STATUS_MORE_PROCESSING_REQUIRED;
}

/* The socket's IRP, ready for the next call. */
static PIRP WskBsdArm(PWSKBSD_SOCKET Socket)
{
    IoReuseIrp(Socket->Irp, STATUS_UNSUCCESSFUL);
    KeClearEvent(&Socket->Done);
    IoSetCompletionRoutine(Socket->Irp, WskBsdCompletion, &Socket->Done, TRUE, TRUE, TRUE);
    return Socket->Irp;
}

/* The final status of the call that returned Status. */
static NTSTATUS WskBsdWait(PWSKBSD_SOCKET Socket, NTSTATUS Status)
{
    if (Status == STATUS_PENDING) {
        KeWaitForSingleObject(&Socket->Done, Executive, KernelMode, FALSE, NULL);
        Status = Socket->Irp->IoStatus.Status;
    }
    return Status;
}

static NTSTATUS WskBsdAllocate(ADDRESS_FAMILY Family, PWSKBSD_SOCKET *Socket)
{
    PWSKBSD_SOCKET New;

    *Socket = NULL;
    if (!WskBsdCaptured) {
        return STATUS_DEVICE_NOT_READY;
    }
    if (Family != AF_INET && Family != AF_INET6) {
        return STATUS_NOT_SUPPORTED;
    }
    New = (PWSKBSD_SOCKET)ExAllocatePool2(POOL_FLAG_NON_PAGED, sizeof(*New), WSKBSD_TAG);
    if (New == NULL) {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    New->Irp = IoAllocateIrp(1, FALSE);
    if (New->Irp == NULL) {
        ExFreePoolWithTag(New, WSKBSD_TAG);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    New->Family = Family;
    KeInitializeEvent(&New->Done, NotificationEvent, FALSE);
    *Socket = New;
    return STATUS_SUCCESS;
}

static VOID WskBsdFree(PWSKBSD_SOCKET Socket)
{
    IoFreeIrp(Socket->Irp);
    ExFreePoolWithTag(Socket, WSKBSD_TAG);
}

/* Adopts the PWSK_SOCKET that WskSocket/WskSocketConnect completed the IRP with. */
static VOID WskBsdAdopt(PWSKBSD_SOCKET Socket)
{
    Socket->Socket = (PWSK_SOCKET)Socket->Irp->IoStatus.Information;
    Socket->Dispatch = (PWSK_PROVIDER_CONNECTION_DISPATCH)Socket->Socket->Dispatch;
}

NTSTATUS wsk_startup(VOID)
{
    NTSTATUS Status;

    if (WskBsdRegistered) {
        return STATUS_INVALID_DEVICE_STATE;
    }
    Status = WskRegister(&WskBsdClientNpi, &WskBsdRegistration);
    if (!NT_SUCCESS(Status)) {
        return Status;
    }
    WskBsdRegistered = TRUE;
    Status = WskCaptureProviderNPI(&WskBsdRegistration, WSKBSD_STARTUP_WAIT_MS, &WskBsdProvider);
    if (!NT_SUCCESS(Status)) {
        WskDeregister(&WskBsdRegistration);
        WskBsdRegistered = FALSE;
        return Status;
    }
    WskBsdCaptured = TRUE;
    return STATUS_SUCCESS;
}

VOID wsk_cleanup(VOID)
{
    if (WskBsdCaptured) {
        WskReleaseProviderNPI(&WskBsdRegistration);
        WskBsdCaptured = FALSE;
    }
    if (WskBsdRegistered) {
        /* Blocks until every socket of this registration is closed. */
        WskDeregister(&WskBsdRegistration);
        WskBsdRegistered = FALSE;
    }
}

NTSTATUS wsk_socket_connect(ADDRESS_FAMILY Family, const SOCKADDR *Remote, PWSKBSD_SOCKET *Socket)
{
    PWSKBSD_SOCKET New;
    WSKBSD_ADDRESS Local;
    NTSTATUS Status;

    if (Socket == NULL) {
        return STATUS_INVALID_PARAMETER;
    }
    *Socket = NULL;
    if (Remote == NULL || Remote->sa_family != Family) {
        return STATUS_INVALID_PARAMETER;
    }
    Status = WskBsdAllocate(Family, &New);
    if (!NT_SUCCESS(Status)) {
        return Status;
    }
    /* The wildcard address of the family, port 0: the transport picks both. */
    RtlZeroMemory(&Local, sizeof(Local));
    Local.Generic.sa_family = Family;
    Status = WskBsdProvider.Dispatch->WskSocketConnect(WskBsdProvider.Client, SOCK_STREAM, IPPROTO_TCP, &Local.Generic,
                                                       (PSOCKADDR)Remote, 0, NULL, NULL, NULL, NULL, NULL,
                                                       WskBsdArm(New));
    Status = WskBsdWait(New, Status);
    if (!NT_SUCCESS(Status)) {
        WskBsdFree(New);
        return Status;
    }
    WskBsdAdopt(New);
    *Socket = New;
    return STATUS_SUCCESS;
}

NTSTATUS wsk_socket(ADDRESS_FAMILY Family, PWSKBSD_SOCKET *Socket)
{
    PWSKBSD_SOCKET New;
    NTSTATUS Status;

    if (Socket == NULL) {
        return STATUS_INVALID_PARAMETER;
    }
    Status = WskBsdAllocate(Family, &New);
    if (!NT_SUCCESS(Status)) {
        *Socket = NULL;
        return Status;
    }
    Status = WskBsdProvider.Dispatch->WskSocket(WskBsdProvider.Client, Family, SOCK_STREAM, IPPROTO_TCP,
                                                WSK_FLAG_CONNECTION_SOCKET, NULL, NULL, NULL, NULL, NULL,
                                                WskBsdArm(New));
    Status = WskBsdWait(New, Status);
    if (!NT_SUCCESS(Status)) {
        WskBsdFree(New);
        *Socket = NULL;
        return Status;
    }
    WskBsdAdopt(New);
    *Socket = New;
    return STATUS_SUCCESS;
}

NTSTATUS wsk_bind(PWSKBSD_SOCKET Socket, const SOCKADDR *Local)
{
    NTSTATUS Status;

    if (Socket == NULL || Local == NULL) {
        return STATUS_INVALID_PARAMETER;
    }
    Status = Socket->Dispatch->WskBind(Socket->Socket, (PSOCKADDR)Local, 0, WskBsdArm(Socket));
    return WskBsdWait(Socket, Status);
}

NTSTATUS wsk_connect(PWSKBSD_SOCKET Socket, const SOCKADDR *Remote)
{
    NTSTATUS Status;

    if (Socket == NULL || Remote == NULL) {
        return STATUS_INVALID_PARAMETER;
    }
    Status = Socket->Dispatch->WskConnect(Socket->Socket, (PSOCKADDR)Remote, 0, WskBsdArm(Socket));
    return WskBsdWait(Socket, Status);
}

NTSTATUS wsk_getsockname(PWSKBSD_SOCKET Socket, SOCKADDR *Address)
{
    NTSTATUS Status;

    if (Socket == NULL || Address == NULL) {
        return STATUS_INVALID_PARAMETER;
    }
    Status = Socket->Dispatch->WskGetLocalAddress(Socket->Socket, Address, WskBsdArm(Socket));
    return WskBsdWait(Socket, Status);
}

NTSTATUS wsk_getpeername(PWSKBSD_SOCKET Socket, SOCKADDR *Address)
{
    NTSTATUS Status;

    if (Socket == NULL || Address == NULL) {
        return STATUS_INVALID_PARAMETER;
    }
    Status = Socket->Dispatch->WskGetRemoteAddress(Socket->Socket, Address, WskBsdArm(Socket));
    return WskBsdWait(Socket, Status);
}

/* One WskSend or WskReceive over Length bytes at Buffer; *Transferred: the bytes moved. */
static NTSTATUS WskBsdTransfer(PWSKBSD_SOCKET Socket, BOOLEAN Send, PVOID Buffer, ULONG Length, ULONG Flags,
                               SIZE_T *Transferred)
{
    WSK_BUF WskBuffer;
    PMDL Mdl;
    NTSTATUS Status;

    *Transferred = 0;
    Mdl = IoAllocateMdl(Buffer, Length, FALSE, FALSE, NULL);
    if (Mdl == NULL) {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    MmBuildMdlForNonPagedPool(Mdl);
    WskBuffer.Mdl = Mdl;
    WskBuffer.Offset = 0;
    WskBuffer.Length = Length;
    if (Send) {
        Status = Socket->Dispatch->WskSend(Socket->Socket, &WskBuffer, Flags, WskBsdArm(Socket));
    } else {
        Status = Socket->Dispatch->WskReceive(Socket->Socket, &WskBuffer, Flags, WskBsdArm(Socket));
    }
    Status = WskBsdWait(Socket, Status);
    if (NT_SUCCESS(Status)) {
        *Transferred = Socket->Irp->IoStatus.Information;
    }
    IoFreeMdl(Mdl);
    return Status;
}

NTSTATUS wsk_send(PWSKBSD_SOCKET Socket, const VOID *Buffer, SIZE_T Length)
{
    const UCHAR *Next = (const UCHAR *)Buffer;
    SIZE_T Sent;
    NTSTATUS Status;

    if (Socket == NULL || (Buffer == NULL && Length > 0)) {
        return STATUS_INVALID_PARAMETER;
    }
    while (Length > 0) {
        ULONG Chunk = Length > WSKBSD_MAX_TRANSFER ? WSKBSD_MAX_TRANSFER : (ULONG)Length;

        Status = WskBsdTransfer(Socket, TRUE, (PVOID)Next, Chunk, 0, &Sent);
        if (!NT_SUCCESS(Status)) {
            return Status;
        }
        if (Sent == 0 || Sent > Chunk) {
            /* WSK completes a send only once all of it went out. */
            return STATUS_UNSUCCESSFUL;
        }
        Next += Sent;
        Length -= Sent;
    }
    return STATUS_SUCCESS;
}

NTSTATUS wsk_recv(PWSKBSD_SOCKET Socket, VOID *Buffer, SIZE_T Length, ULONG Flags, SIZE_T *Received)
{
    ULONG Chunk;

    if (Received == NULL) {
        return STATUS_INVALID_PARAMETER;
    }
    *Received = 0;
    if (Socket == NULL || Buffer == NULL || Length == 0) {
        return STATUS_INVALID_PARAMETER;
    }
    Chunk = Length > WSKBSD_MAX_TRANSFER ? WSKBSD_MAX_TRANSFER : (ULONG)Length;
    return WskBsdTransfer(Socket, FALSE, Buffer, Chunk, Flags, Received);
}

NTSTATUS wsk_recv_all(PWSKBSD_SOCKET Socket, VOID *Buffer, SIZE_T Length, SIZE_T *Received)
{
    UCHAR *Next = (UCHAR *)Buffer;
    SIZE_T Total = 0, Got;
    NTSTATUS Status;

    if (Received == NULL) {
        return STATUS_INVALID_PARAMETER;
    }
    *Received = 0;
    while (Total < Length) {
        Status = wsk_recv(Socket, Next + Total, Length - Total, WSK_FLAG_WAITALL, &Got);
        if (!NT_SUCCESS(Status)) {
            *Received = Total;
            return Status;
        }
        if (Got == 0) {
            *Received = Total;
            return STATUS_GRACEFUL_DISCONNECT;
        }
        Total += Got;
    }
    *Received = Total;
    return STATUS_SUCCESS;
}

NTSTATUS wsk_disconnect(PWSKBSD_SOCKET Socket)
{
    NTSTATUS Status;

    if (Socket == NULL) {
        return STATUS_INVALID_PARAMETER;
    }
    Status = Socket->Dispatch->WskDisconnect(Socket->Socket, NULL, 0, WskBsdArm(Socket));
    return WskBsdWait(Socket, Status);
}

VOID wsk_cancel(PWSKBSD_SOCKET Socket)
{
    if (Socket != NULL) {
        (VOID)IoCancelIrp(Socket->Irp);
    }
}

NTSTATUS wsk_close(PWSKBSD_SOCKET Socket)
{
    NTSTATUS Status;

    if (Socket == NULL) {
        return STATUS_INVALID_PARAMETER;
    }
    Status = Socket->Dispatch->WskCloseSocket(Socket->Socket, WskBsdArm(Socket));
    Status = WskBsdWait(Socket, Status);
    WskBsdFree(Socket);
    return Status;
}
