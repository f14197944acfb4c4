/*
 * echo_driver.c: an event-driven TCP echo server, written as a WSK driver.
 *
 *   cc -shared -fPIC $(wsk cflags) echo_driver.c -o echo_driver.so && wsk run echo_driver.so
 *
 * Everything happens in WSK event callbacks and IRP completion routines; no thread of
 * its own, no waiting except in DriverEntry and DriverUnload.
 *
 * - DriverEntry registers with WSK, captures the provider NPI (bounded wait), turns on
 *   the accept, receive and disconnect events for every socket it will create
 *   (WSK_SET_STATIC_EVENT_CALLBACKS), creates a listening socket (IPv6 with IPV6_V6ONLY
 *   off, so IPv4 clients come in too; plain IPv4 if the host has no IPv6), binds it to
 *   the port in the environment variable WSK_ECHO_PORT (default 0: any free port) and
 *   prints "echo_driver: listening on port N".
 * - WskAcceptEvent gives every connection a context from pool and the connection
 *   dispatch table.
 * - WskReceiveEvent sends the indicated bytes back. A short indication list is retained
 *   (STATUS_PENDING): each WSK_DATA_INDICATION's own buffer is sent and the list goes
 *   back with WskRelease once those sends completed. Longer lists are copied into pool
 *   memory, described by an MDL and sent; the list is returned at once (STATUS_SUCCESS).
 *   Every send has its own IRP (IoAllocateIrp) and a completion routine that frees it.
 * - Flow control: a peer that sends without reading would make the echo pile up here.
 *   Once ECHO_MAX_IN_FLIGHT bytes of echo are waiting to go out, WskReceiveEvent refuses
 *   the data (STATUS_DATA_NOT_ACCEPTED: WSK keeps it and stops indicating); when half of
 *   it went out, a zero-length WskReceive starts the indications again.
 * - WskDisconnectEvent: once the sends in flight completed, a graceful WskDisconnect
 *   (our FIN after the peer's), and WskCloseSocket from the disconnect's completion. A
 *   peer's reset or a NULL indication closes the socket without the graceful step.
 * - DriverUnload closes the listening socket, shuts down every connection still open
 *   (abortively), waits for their contexts to go (rundown protection), releases the NPI
 *   and deregisters; then prints what it did.
 *
 * A connection's context lives until its close completed: WskCloseSocket completes only
 * after every other IRP of the socket completed and every callback returned.
 */
#include <ntddk.h>
#include <wsk.h>

#include <stdlib.h> /* getenv, strtoul: a driver under `wsk run` is a Linux process */

#define ECHO_TAG 'ohcE'

/* Lists of at most this many indications and bytes are retained, longer ones copied. */
#define ECHO_RETAIN_MAX_INDICATIONS 8
#define ECHO_RETAIN_MAX_BYTES (64 * 1024)

/* Flow control: no more data taken while this many bytes of echo are in flight; taken
   again once half of them went out. */
#define ECHO_MAX_IN_FLIGHT (1024 * 1024)

/* How long DriverEntry waits for the WSK subsystem. */
#define ECHO_CAPTURE_WAIT_MS 10000

typedef struct _ECHO_CONNECTION {
    LIST_ENTRY Link;             /* in EchoConnections */
    LONG References;             /* under EchoConnectionsLock: 1 until the close completed, + sweeps */
    BOOLEAN SweepSeen;           /* under EchoConnectionsLock: DriverUnload's sweep reached it */
    ULONG Id;
    PWSK_SOCKET Socket;
    PWSK_PROVIDER_CONNECTION_DISPATCH Dispatch;
    PIRP DisconnectIrp;          /* allocated up front, so shutting down never fails for memory */
    PIRP CloseIrp;
    KSPIN_LOCK Lock;             /* guards the members below */
    ULONG Operations;            /* sends, receives, an abortive disconnect in flight, + 1 until shutdown */
    BOOLEAN ShutdownRequested;
    BOOLEAN Abortive;
    SIZE_T InFlight;             /* bytes of the sends in flight */
    BOOLEAN Throttled;           /* the last indication was refused (flow control) */
    BOOLEAN ThrottleReported;
    volatile LONG64 BytesEchoed; /* sends complete in any order: interlocked */
} ECHO_CONNECTION, *PECHO_CONNECTION;

/* An indication list retained with STATUS_PENDING until the sends of its buffers complete. */
typedef struct _ECHO_RETAINED {
    PECHO_CONNECTION Connection;
    PWSK_DATA_INDICATION List;
    volatile LONG Remaining;     /* sends not completed, + 1 while the callback issues them */
} ECHO_RETAINED, *PECHO_RETAINED;

typedef struct _ECHO_SEND {
    PECHO_CONNECTION Connection;
    PIRP Irp;
    SIZE_T Length;
    PECHO_RETAINED Retained;     /* a retained indication's buffer is sent, or: */
    PVOID Copy;                  /* a pool copy, */
    PMDL Mdl;                    /* its MDL */
    WSK_BUF Buffer;              /* and the WSK_BUF over it */
} ECHO_SEND, *PECHO_SEND;

DRIVER_INITIALIZE DriverEntry;
static DRIVER_UNLOAD EchoUnload;

static NTSTATUS WSKAPI EchoAcceptEvent(PVOID SocketContext, ULONG Flags, PSOCKADDR LocalAddress,
                                       PSOCKADDR RemoteAddress, PWSK_SOCKET AcceptSocket,
                                       PVOID *AcceptSocketContext,
                                       CONST WSK_CLIENT_CONNECTION_DISPATCH **AcceptSocketDispatch);
static NTSTATUS WSKAPI EchoReceiveEvent(PVOID SocketContext, ULONG Flags, PWSK_DATA_INDICATION DataIndication,
                                        SIZE_T BytesIndicated, SIZE_T *BytesAccepted);
static NTSTATUS WSKAPI EchoDisconnectEvent(PVOID SocketContext, ULONG Flags);

static const WSK_CLIENT_DISPATCH EchoClientDispatch = {MAKE_WSK_VERSION(1, 0), 0, NULL};
static WSK_CLIENT_NPI EchoClientNpi = {NULL, &EchoClientDispatch};
static const WSK_CLIENT_LISTEN_DISPATCH EchoListenDispatch = {EchoAcceptEvent, NULL, NULL};
static const WSK_CLIENT_CONNECTION_DISPATCH EchoConnectionDispatch = {EchoReceiveEvent, EchoDisconnectEvent, NULL};

static WSK_REGISTRATION EchoRegistration;
static WSK_PROVIDER_NPI EchoProvider;
static BOOLEAN EchoRegistered;
static BOOLEAN EchoCaptured;

static PVOID volatile EchoListener; /* PWSK_SOCKET; taken (set to NULL) by whoever closes it */
static KEVENT EchoListenerClosed;   /* notification event, set while no listening socket is open */

static KSPIN_LOCK EchoConnectionsLock;
static LIST_ENTRY EchoConnections;
static EX_RUNDOWN_REF EchoRundown;  /* one reference per connection context */
static volatile LONG EchoUnloading;

/* What DriverUnload reports. */
static volatile LONG EchoNextId;
static volatile LONG64 EchoBytes;
static volatile LONG EchoCopies;
static volatile LONG EchoRetainedReleased;
static volatile LONG EchoRetainedInline;
static volatile LONG EchoThrottles;
static volatile LONG EchoSendFailures;
static volatile LONG EchoErrors;

/* ----- connection lifetime ----- */

static VOID EchoDereference(PECHO_CONNECTION Connection)
{
    KIRQL Irql;
    BOOLEAN Last;

    KeAcquireSpinLock(&EchoConnectionsLock, &Irql);
    Last = --Connection->References == 0;
    if (Last) {
        RemoveEntryList(&Connection->Link);
    }
    KeReleaseSpinLock(&EchoConnectionsLock, Irql);
    if (Last) {
        ExFreePoolWithTag(Connection, ECHO_TAG);
        ExReleaseRundownProtection(&EchoRundown);
    }
}

static NTSTATUS EchoCloseComplete(PDEVICE_OBJECT DeviceObject, PIRP Irp, PVOID Context)
{
    PECHO_CONNECTION Connection = (PECHO_CONNECTION)Context;

    UNREFERENCED_PARAMETER(DeviceObject);
    if (!NT_SUCCESS(Irp->IoStatus.Status)) {
        /* WskCloseSocket never fails. */
        DbgPrint("echo_driver: connection %u: WskCloseSocket failed: 0x%08X\n", (unsigned)Connection->Id,
                 (unsigned)Irp->IoStatus.Status);
        InterlockedIncrement(&EchoErrors);
    }
    IoFreeIrp(Irp);
    DbgPrint("echo_driver: connection %u closed, %llu bytes echoed\n", (unsigned)Connection->Id,
             (unsigned long long)Connection->BytesEchoed);
    EchoDereference(Connection);
    return STATUS_MORE_PROCESSING_REQUIRED;
}

static VOID EchoClose(PECHO_CONNECTION Connection)
{
    PIRP Irp = Connection->CloseIrp;

    IoSetCompletionRoutine(Irp, EchoCloseComplete, Connection, TRUE, TRUE, TRUE);
    (VOID)Connection->Dispatch->WskCloseSocket(Connection->Socket, Irp);
}

static NTSTATUS EchoDisconnectComplete(PDEVICE_OBJECT DeviceObject, PIRP Irp, PVOID Context)
{
    PECHO_CONNECTION Connection = (PECHO_CONNECTION)Context;

    UNREFERENCED_PARAMETER(DeviceObject);
    if (!NT_SUCCESS(Irp->IoStatus.Status)) {
        /* The peer may have reset the connection meanwhile: close anyway. */
        DbgPrint("echo_driver: connection %u: graceful disconnect: 0x%08X\n", (unsigned)Connection->Id,
                 (unsigned)Irp->IoStatus.Status);
    }
    IoFreeIrp(Irp);
    EchoClose(Connection);
    return STATUS_MORE_PROCESSING_REQUIRED;
}

/* The last operation of a connection that is shutting down ended: disconnect, close. */
static VOID EchoFinish(PECHO_CONNECTION Connection, BOOLEAN Abortive)
{
    PIRP Irp = Connection->DisconnectIrp;

    Connection->DisconnectIrp = NULL;
    if (Abortive) {
        /* Closing a connection that is not disconnected both ways resets it. */
        IoFreeIrp(Irp);
        EchoClose(Connection);
        return;
    }
    IoSetCompletionRoutine(Irp, EchoDisconnectComplete, Connection, TRUE, TRUE, TRUE);
    (VOID)Connection->Dispatch->WskDisconnect(Connection->Socket, NULL, 0, Irp);
}

/* Counts an operation (a send) unless the connection is shutting down. */
static BOOLEAN EchoStartOperation(PECHO_CONNECTION Connection)
{
    KIRQL Irql;
    BOOLEAN Started;

    KeAcquireSpinLock(&Connection->Lock, &Irql);
    Started = !Connection->ShutdownRequested;
    if (Started) {
        Connection->Operations++;
    }
    KeReleaseSpinLock(&Connection->Lock, Irql);
    return Started;
}

/* Ends an operation; the last one of a connection shutting down disconnects and closes.
   The caller must not touch Connection afterwards unless it holds another operation or
   runs in one of the connection's callbacks. */
static VOID EchoEndOperation(PECHO_CONNECTION Connection)
{
    KIRQL Irql;
    BOOLEAN Last, Abortive;

    KeAcquireSpinLock(&Connection->Lock, &Irql);
    Last = --Connection->Operations == 0;
    Abortive = Connection->Abortive;
    KeReleaseSpinLock(&Connection->Lock, Irql);
    if (Last) {
        EchoFinish(Connection, Abortive);
    }
}

static NTSTATUS EchoAbortComplete(PDEVICE_OBJECT DeviceObject, PIRP Irp, PVOID Context)
{
    UNREFERENCED_PARAMETER(DeviceObject);
    IoFreeIrp(Irp);
    EchoEndOperation((PECHO_CONNECTION)Context);
    return STATUS_MORE_PROCESSING_REQUIRED;
}

/* Shuts the connection down once the sends in flight completed: gracefully (the peer
   closed its side) or abortively (the peer reset it, the socket failed, or unload). An
   abortive shutdown also cancels the sends in flight with an abortive WskDisconnect. */
static VOID EchoRequestShutdown(PECHO_CONNECTION Connection, BOOLEAN Abortive)
{
    KIRQL Irql;
    BOOLEAN DropBias, CancelSends = FALSE;
    PIRP Irp;

    KeAcquireSpinLock(&Connection->Lock, &Irql);
    DropBias = !Connection->ShutdownRequested;
    Connection->ShutdownRequested = TRUE;
    if (Abortive && !Connection->Abortive) {
        Connection->Abortive = TRUE;
        if (Connection->Operations > (DropBias ? 1u : 0u)) {
            Connection->Operations++; /* the abortive WskDisconnect */
            CancelSends = TRUE;
        }
    }
    KeReleaseSpinLock(&Connection->Lock, Irql);

    if (CancelSends) {
        Irp = IoAllocateIrp(1, FALSE);
        if (Irp == NULL) {
            EchoEndOperation(Connection); /* the sends will end by themselves */
        } else {
            IoSetCompletionRoutine(Irp, EchoAbortComplete, Connection, TRUE, TRUE, TRUE);
            (VOID)Connection->Dispatch->WskDisconnect(Connection->Socket, NULL, WSK_FLAG_ABORTIVE, Irp);
        }
    }
    if (DropBias) {
        EchoEndOperation(Connection);
    }
}

/* ----- echoing ----- */

/* What a zero-length WskReceive receives into: nothing (WSK only reads it). */
static WSK_BUF EchoNoBuffer;

static NTSTATUS EchoResumeComplete(PDEVICE_OBJECT DeviceObject, PIRP Irp, PVOID Context)
{
    PECHO_CONNECTION Connection = (PECHO_CONNECTION)Context;

    UNREFERENCED_PARAMETER(DeviceObject);
    if (!NT_SUCCESS(Irp->IoStatus.Status) && Irp->IoStatus.Status != STATUS_CANCELLED) {
        DbgPrint("echo_driver: connection %u: zero-length receive: 0x%08X\n", (unsigned)Connection->Id,
                 (unsigned)Irp->IoStatus.Status);
    }
    IoFreeIrp(Irp);
    EchoEndOperation(Connection);
    return STATUS_MORE_PROCESSING_REQUIRED;
}

/* A send of Length bytes completed; if that ends a refusal, take data again. */
static VOID EchoSendDone(PECHO_CONNECTION Connection, SIZE_T Length)
{
    KIRQL Irql;
    BOOLEAN Resume;
    PIRP Irp;

    KeAcquireSpinLock(&Connection->Lock, &Irql);
    Connection->InFlight -= Length;
    Resume = Connection->Throttled && Connection->InFlight <= ECHO_MAX_IN_FLIGHT / 2 &&
             !Connection->ShutdownRequested;
    if (Resume) {
        Connection->Throttled = FALSE;
        Connection->Operations++; /* the zero-length receive */
    }
    KeReleaseSpinLock(&Connection->Lock, Irql);
    if (!Resume) {
        return;
    }
    /* After STATUS_DATA_NOT_ACCEPTED, WSK indicates again once a receive completed. */
    Irp = IoAllocateIrp(1, FALSE);
    if (Irp == NULL) {
        DbgPrint("echo_driver: connection %u: no IRP to take data again; resetting it\n", (unsigned)Connection->Id);
        InterlockedIncrement(&EchoErrors);
        EchoRequestShutdown(Connection, TRUE);
        EchoEndOperation(Connection);
        return;
    }
    IoSetCompletionRoutine(Irp, EchoResumeComplete, Connection, TRUE, TRUE, TRUE);
    (VOID)Connection->Dispatch->WskReceive(Connection->Socket, &EchoNoBuffer, 0, Irp);
}

static NTSTATUS EchoSendComplete(PDEVICE_OBJECT DeviceObject, PIRP Irp, PVOID Context)
{
    PECHO_SEND Send = (PECHO_SEND)Context;
    PECHO_CONNECTION Connection = Send->Connection;
    PECHO_RETAINED Retained = Send->Retained;
    NTSTATUS Status = Irp->IoStatus.Status;
    NTSTATUS ReleaseStatus;

    UNREFERENCED_PARAMETER(DeviceObject);
    if (!NT_SUCCESS(Status)) {
        /* The peer reset the connection, or DriverUnload cancelled the send. */
        DbgPrint("echo_driver: connection %u: send of %llu bytes failed: 0x%08X\n", (unsigned)Connection->Id,
                 (unsigned long long)Send->Length, (unsigned)Status);
        InterlockedIncrement(&EchoSendFailures);
    } else if (Irp->IoStatus.Information != Send->Length) {
        DbgPrint("echo_driver: connection %u: send of %llu bytes completed with %llu\n", (unsigned)Connection->Id,
                 (unsigned long long)Send->Length, (unsigned long long)Irp->IoStatus.Information);
        InterlockedIncrement(&EchoErrors);
    } else {
        InterlockedAdd64(&EchoBytes, (LONG64)Send->Length);
        InterlockedAdd64(&Connection->BytesEchoed, (LONG64)Send->Length);
    }

    if (Retained != NULL) {
        if (InterlockedDecrement(&Retained->Remaining) == 0) {
            ReleaseStatus = Connection->Dispatch->WskRelease(Connection->Socket, Retained->List);
            if (!NT_SUCCESS(ReleaseStatus)) {
                DbgPrint("echo_driver: connection %u: WskRelease failed: 0x%08X\n", (unsigned)Connection->Id,
                         (unsigned)ReleaseStatus);
                InterlockedIncrement(&EchoErrors);
            }
            InterlockedIncrement(&EchoRetainedReleased);
            ExFreePoolWithTag(Retained, ECHO_TAG);
        }
    } else {
        IoFreeMdl(Send->Mdl);
        ExFreePoolWithTag(Send->Copy, ECHO_TAG);
    }
    EchoSendDone(Connection, Send->Length);
    IoFreeIrp(Irp);
    ExFreePoolWithTag(Send, ECHO_TAG);
    EchoEndOperation(Connection);
    return STATUS_MORE_PROCESSING_REQUIRED;
}

static PECHO_SEND EchoAllocateSend(PECHO_CONNECTION Connection)
{
    PECHO_SEND Send = (PECHO_SEND)ExAllocatePool2(POOL_FLAG_NON_PAGED, sizeof(*Send), ECHO_TAG);

    if (Send == NULL) {
        return NULL;
    }
    Send->Irp = IoAllocateIrp(1, FALSE);
    if (Send->Irp == NULL) {
        ExFreePoolWithTag(Send, ECHO_TAG);
        return NULL;
    }
    Send->Connection = Connection;
    return Send;
}

static VOID EchoFreeSend(PECHO_SEND Send)
{
    IoFreeIrp(Send->Irp);
    ExFreePoolWithTag(Send, ECHO_TAG);
}

/* Sends Buffer (part of an indication or a pool copy); the caller holds an operation. */
static VOID EchoStartSend(PECHO_SEND Send, PWSK_BUF Buffer)
{
    PECHO_CONNECTION Connection = Send->Connection;
    KIRQL Irql;

    KeAcquireSpinLock(&Connection->Lock, &Irql);
    Connection->Operations++;
    Connection->InFlight += Send->Length;
    KeReleaseSpinLock(&Connection->Lock, Irql);
    IoSetCompletionRoutine(Send->Irp, EchoSendComplete, Send, TRUE, TRUE, TRUE);
    /* The completion routine sees the outcome, whatever WskSend returns. */
    (VOID)Connection->Dispatch->WskSend(Connection->Socket, Buffer, 0, Send->Irp);
}

/* Echoes the list from its own buffers. STATUS_PENDING: retained, the last send's
   completion releases it; STATUS_SUCCESS: all sends completed already, nothing retained;
   STATUS_INSUFFICIENT_RESOURCES: nothing sent. */
static NTSTATUS EchoSendRetained(PECHO_CONNECTION Connection, PWSK_DATA_INDICATION List, ULONG Count)
{
    PECHO_SEND Sends[ECHO_RETAIN_MAX_INDICATIONS];
    PECHO_RETAINED Retained;
    PWSK_DATA_INDICATION Indication;
    ULONG i;

    Retained = (PECHO_RETAINED)ExAllocatePool2(POOL_FLAG_NON_PAGED, sizeof(*Retained), ECHO_TAG);
    if (Retained == NULL) {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    /* Everything is allocated before the first send: past that point nothing can fail. */
    for (i = 0; i < Count; i++) {
        Sends[i] = EchoAllocateSend(Connection);
        if (Sends[i] == NULL) {
            while (i > 0) {
                EchoFreeSend(Sends[--i]);
            }
            ExFreePoolWithTag(Retained, ECHO_TAG);
            return STATUS_INSUFFICIENT_RESOURCES;
        }
    }
    Retained->Connection = Connection;
    Retained->List = List;
    Retained->Remaining = (LONG)Count + 1;
    for (i = 0, Indication = List; i < Count; i++, Indication = Indication->Next) {
        Sends[i]->Retained = Retained;
        Sends[i]->Length = Indication->Buffer.Length;
        EchoStartSend(Sends[i], &Indication->Buffer);
    }
    if (InterlockedDecrement(&Retained->Remaining) == 0) {
        /* Every send completed before the callback returned: nothing left to retain. */
        ExFreePoolWithTag(Retained, ECHO_TAG);
        InterlockedIncrement(&EchoRetainedInline);
        return STATUS_SUCCESS;
    }
    return STATUS_PENDING;
}

/* Copies Buffer's bytes (an MDL chain, Offset into the first MDL) to Destination. */
static BOOLEAN EchoCopyBuffer(PUCHAR Destination, const WSK_BUF *Buffer)
{
    PMDL Mdl = Buffer->Mdl;
    ULONG Offset = Buffer->Offset;
    SIZE_T Left = Buffer->Length;

    while (Left > 0) {
        ULONG MdlBytes;
        PUCHAR Va;
        SIZE_T Chunk;

        if (Mdl == NULL) {
            return FALSE;
        }
        MdlBytes = MmGetMdlByteCount(Mdl);
        if (Offset >= MdlBytes) {
            Offset -= MdlBytes;
            Mdl = Mdl->Next;
            continue;
        }
        Va = (PUCHAR)MmGetSystemAddressForMdlSafe(Mdl, NormalPagePriority);
        if (Va == NULL) {
            return FALSE;
        }
        Chunk = MdlBytes - Offset;
        if (Chunk > Left) {
            Chunk = Left;
        }
        RtlCopyMemory(Destination, Va + Offset, Chunk);
        Destination += Chunk;
        Left -= Chunk;
        Offset = 0;
        Mdl = Mdl->Next;
    }
    return TRUE;
}

/* Echoes the list from one pool copy of its Total bytes. */
static VOID EchoSendCopy(PECHO_CONNECTION Connection, PWSK_DATA_INDICATION List, SIZE_T Total)
{
    PECHO_SEND Send;
    PUCHAR Copy, Next;

    if (Total == 0) {
        return;
    }
    Send = EchoAllocateSend(Connection);
    Copy = (PUCHAR)ExAllocatePool2(POOL_FLAG_NON_PAGED, Total, ECHO_TAG);
    if (Send == NULL || Copy == NULL || Total > MAXULONG) {
        goto Failed;
    }
    for (Next = Copy; List != NULL; List = List->Next) {
        if (!EchoCopyBuffer(Next, &List->Buffer)) {
            goto Failed;
        }
        Next += List->Buffer.Length;
    }
    Send->Mdl = IoAllocateMdl(Copy, (ULONG)Total, FALSE, FALSE, NULL);
    if (Send->Mdl == NULL) {
        goto Failed;
    }
    MmBuildMdlForNonPagedPool(Send->Mdl);
    Send->Copy = Copy;
    Send->Length = Total;
    Send->Buffer.Mdl = Send->Mdl;
    Send->Buffer.Offset = 0;
    Send->Buffer.Length = Total;
    InterlockedIncrement(&EchoCopies);
    EchoStartSend(Send, &Send->Buffer);
    return;

Failed:
    /* The echo would miss bytes: better no echo at all. */
    DbgPrint("echo_driver: connection %u: cannot echo %llu bytes; resetting it\n", (unsigned)Connection->Id,
             (unsigned long long)Total);
    InterlockedIncrement(&EchoErrors);
    if (Copy != NULL) {
        ExFreePoolWithTag(Copy, ECHO_TAG);
    }
    if (Send != NULL) {
        EchoFreeSend(Send);
    }
    EchoRequestShutdown(Connection, TRUE);
}

/* ----- event callbacks ----- */

static NTSTATUS WSKAPI EchoReceiveEvent(PVOID SocketContext, ULONG Flags, PWSK_DATA_INDICATION DataIndication,
                                        SIZE_T BytesIndicated, SIZE_T *BytesAccepted)
{
    PECHO_CONNECTION Connection = (PECHO_CONNECTION)SocketContext;
    PWSK_DATA_INDICATION Indication;
    SIZE_T Total = 0;
    ULONG Count = 0;
    NTSTATUS Status = STATUS_INSUFFICIENT_RESOURCES;
    BOOLEAN Throttle, FirstThrottle = FALSE;
    KIRQL Irql;

    UNREFERENCED_PARAMETER(BytesAccepted); /* everything is taken: left as is */
    if (DataIndication == NULL) {
        /* The socket no longer works: close it. */
        DbgPrint("echo_driver: connection %u: NULL indication, closing\n", (unsigned)Connection->Id);
        EchoRequestShutdown(Connection, TRUE);
        return STATUS_SUCCESS;
    }
    for (Indication = DataIndication; Indication != NULL; Indication = Indication->Next) {
        Total += Indication->Buffer.Length;
        Count++;
    }
    if (Total != BytesIndicated) {
        DbgPrint("echo_driver: connection %u: BytesIndicated is %llu but the list holds %llu bytes\n",
                 (unsigned)Connection->Id, (unsigned long long)BytesIndicated, (unsigned long long)Total);
        InterlockedIncrement(&EchoErrors);
    }
    if (!EchoStartOperation(Connection)) {
        return STATUS_SUCCESS; /* shutting down: the bytes are dropped */
    }
    KeAcquireSpinLock(&Connection->Lock, &Irql);
    Throttle = Connection->InFlight >= ECHO_MAX_IN_FLIGHT;
    if (Throttle) {
        /* Set under the lock the sends' completions take: the one that brings InFlight
           down sees it and issues the zero-length receive. */
        Connection->Throttled = TRUE;
        FirstThrottle = !Connection->ThrottleReported;
        Connection->ThrottleReported = TRUE;
    }
    KeReleaseSpinLock(&Connection->Lock, Irql);
    if (Throttle) {
        if (FirstThrottle) {
            DbgPrint("echo_driver: connection %u: flow control on (%u bytes or more in flight)\n",
                     (unsigned)Connection->Id, (unsigned)ECHO_MAX_IN_FLIGHT);
        }
        InterlockedIncrement(&EchoThrottles);
        EchoEndOperation(Connection);
        return STATUS_DATA_NOT_ACCEPTED; /* WSK keeps the data */
    }
    if (Count <= ECHO_RETAIN_MAX_INDICATIONS && Total <= ECHO_RETAIN_MAX_BYTES &&
        (Flags & WSK_FLAG_RELEASE_ASAP) == 0) {
        Status = EchoSendRetained(Connection, DataIndication, Count);
    }
    if (Status != STATUS_PENDING && Status != STATUS_SUCCESS) {
        EchoSendCopy(Connection, DataIndication, Total);
        Status = STATUS_SUCCESS;
    }
    EchoEndOperation(Connection);
    return Status;
}

static NTSTATUS WSKAPI EchoDisconnectEvent(PVOID SocketContext, ULONG Flags)
{
    PECHO_CONNECTION Connection = (PECHO_CONNECTION)SocketContext;

    EchoRequestShutdown(Connection, (Flags & WSK_FLAG_ABORTIVE) != 0);
    return STATUS_SUCCESS;
}

static NTSTATUS EchoListenerCloseComplete(PDEVICE_OBJECT DeviceObject, PIRP Irp, PVOID Context)
{
    UNREFERENCED_PARAMETER(DeviceObject);
    UNREFERENCED_PARAMETER(Context);
    if (!NT_SUCCESS(Irp->IoStatus.Status)) {
        DbgPrint("echo_driver: closing the listening socket: 0x%08X\n", (unsigned)Irp->IoStatus.Status);
        InterlockedIncrement(&EchoErrors);
    }
    IoFreeIrp(Irp);
    KeSetEvent(&EchoListenerClosed, IO_NO_INCREMENT, FALSE);
    return STATUS_MORE_PROCESSING_REQUIRED;
}

/* Starts closing the listening socket, once; EchoListenerClosed is set when done. */
static VOID EchoCloseListener(VOID)
{
    PWSK_SOCKET Listener = (PWSK_SOCKET)InterlockedExchangePointer(&EchoListener, NULL);
    PIRP Irp;

    if (Listener == NULL) {
        return; /* never opened, or someone else closes it */
    }
    Irp = IoAllocateIrp(1, FALSE);
    if (Irp == NULL) {
        DbgPrint("echo_driver: no IRP to close the listening socket\n");
        InterlockedIncrement(&EchoErrors);
        KeSetEvent(&EchoListenerClosed, IO_NO_INCREMENT, FALSE);
        return;
    }
    IoSetCompletionRoutine(Irp, EchoListenerCloseComplete, NULL, TRUE, TRUE, TRUE);
    (VOID)((PWSK_PROVIDER_LISTEN_DISPATCH)Listener->Dispatch)->WskCloseSocket(Listener, Irp);
}

static NTSTATUS WSKAPI EchoAcceptEvent(PVOID SocketContext, ULONG Flags, PSOCKADDR LocalAddress,
                                       PSOCKADDR RemoteAddress, PWSK_SOCKET AcceptSocket,
                                       PVOID *AcceptSocketContext,
                                       CONST WSK_CLIENT_CONNECTION_DISPATCH **AcceptSocketDispatch)
{
    PECHO_CONNECTION Connection;
    KIRQL Irql;

    UNREFERENCED_PARAMETER(SocketContext);
    UNREFERENCED_PARAMETER(Flags);
    UNREFERENCED_PARAMETER(LocalAddress);
    UNREFERENCED_PARAMETER(RemoteAddress);
    if (AcceptSocket == NULL) {
        /* The listening socket stopped working (this comes once): close it. */
        DbgPrint("echo_driver: the listening socket failed; closing it\n");
        EchoCloseListener();
        return STATUS_REQUEST_NOT_ACCEPTED;
    }
    if (EchoUnloading || !ExAcquireRundownProtection(&EchoRundown)) {
        return STATUS_REQUEST_NOT_ACCEPTED; /* the provider closes the socket */
    }
    Connection = (PECHO_CONNECTION)ExAllocatePool2(POOL_FLAG_NON_PAGED, sizeof(*Connection), ECHO_TAG);
    if (Connection != NULL) {
        Connection->DisconnectIrp = IoAllocateIrp(1, FALSE);
        Connection->CloseIrp = IoAllocateIrp(1, FALSE);
    }
    if (Connection == NULL || Connection->DisconnectIrp == NULL || Connection->CloseIrp == NULL) {
        DbgPrint("echo_driver: out of memory, refusing a connection\n");
        if (Connection != NULL) {
            if (Connection->DisconnectIrp != NULL) {
                IoFreeIrp(Connection->DisconnectIrp);
            }
            if (Connection->CloseIrp != NULL) {
                IoFreeIrp(Connection->CloseIrp);
            }
            ExFreePoolWithTag(Connection, ECHO_TAG);
        }
        ExReleaseRundownProtection(&EchoRundown);
        return STATUS_REQUEST_NOT_ACCEPTED;
    }
    Connection->Id = (ULONG)InterlockedIncrement(&EchoNextId);
    Connection->Socket = AcceptSocket;
    Connection->Dispatch = (PWSK_PROVIDER_CONNECTION_DISPATCH)AcceptSocket->Dispatch;
    Connection->References = 1;
    Connection->Operations = 1;
    KeInitializeSpinLock(&Connection->Lock);
    KeAcquireSpinLock(&EchoConnectionsLock, &Irql);
    InsertTailList(&EchoConnections, &Connection->Link);
    KeReleaseSpinLock(&EchoConnectionsLock, Irql);
    DbgPrint("echo_driver: connection %u accepted\n", (unsigned)Connection->Id);

    /* WSK_EVENT_RECEIVE and WSK_EVENT_DISCONNECT are static: on from now on. */
    *AcceptSocketContext = Connection;
    *AcceptSocketDispatch = &EchoConnectionDispatch;
    return STATUS_SUCCESS;
}

/* ----- DriverEntry, DriverUnload ----- */

static NTSTATUS EchoSignal(PDEVICE_OBJECT DeviceObject, PIRP Irp, PVOID Context)
{
    UNREFERENCED_PARAMETER(DeviceObject);
    UNREFERENCED_PARAMETER(Irp);
    KeSetEvent((PKEVENT)Context, IO_NO_INCREMENT, FALSE);
    return STATUS_MORE_PROCESSING_REQUIRED;
}

static VOID EchoArm(PIRP Irp, PKEVENT Done)
{
    IoReuseIrp(Irp, STATUS_UNSUCCESSFUL);
    KeClearEvent(Done);
    IoSetCompletionRoutine(Irp, EchoSignal, Done, TRUE, TRUE, TRUE);
}

static NTSTATUS EchoWait(PIRP Irp, PKEVENT Done, NTSTATUS Status)
{
    if (Status == STATUS_PENDING) {
        KeWaitForSingleObject(Done, Executive, KernelMode, FALSE, NULL);
        Status = Irp->IoStatus.Status;
    }
    return Status;
}

/* Opens, configures and binds the listening socket; *Port: the port it got. */
static NTSTATUS EchoListen(ADDRESS_FAMILY Family, USHORT *Port, PIRP Irp, PKEVENT Done)
{
    union {
        SOCKADDR Generic;
        SOCKADDR_IN V4;
        SOCKADDR_IN6 V6;
    } Address;
    PWSK_SOCKET Listener;
    PWSK_PROVIDER_LISTEN_DISPATCH Dispatch;
    ULONG V6Only = 0;
    const char *Step;
    NTSTATUS Status;

    Step = "WskSocket";
    EchoArm(Irp, Done);
    Status = EchoProvider.Dispatch->WskSocket(EchoProvider.Client, Family, SOCK_STREAM, IPPROTO_TCP,
                                              WSK_FLAG_LISTEN_SOCKET, NULL, &EchoListenDispatch, NULL, NULL, NULL,
                                              Irp);
    Status = EchoWait(Irp, Done, Status);
    if (!NT_SUCCESS(Status)) {
        goto Failed;
    }
    Listener = (PWSK_SOCKET)Irp->IoStatus.Information;
    Dispatch = (PWSK_PROVIDER_LISTEN_DISPATCH)Listener->Dispatch;
    KeClearEvent(&EchoListenerClosed);
    EchoListener = Listener;

    if (Family == AF_INET6) {
        /* Dual stack: IPv4 clients arrive as IPv4-mapped IPv6 addresses. */
        Step = "IPV6_V6ONLY";
        EchoArm(Irp, Done);
        Status = Dispatch->WskControlSocket(Listener, WskSetOption, IPV6_V6ONLY, IPPROTO_IPV6, sizeof(V6Only),
                                            &V6Only, 0, NULL, NULL, Irp);
        Status = EchoWait(Irp, Done, Status);
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
    EchoArm(Irp, Done);
    Status = Dispatch->WskBind(Listener, &Address.Generic, 0, Irp);
    Status = EchoWait(Irp, Done, Status);
    if (!NT_SUCCESS(Status)) {
        goto Close;
    }

    Step = "WskGetLocalAddress";
    RtlZeroMemory(&Address, sizeof(Address));
    EchoArm(Irp, Done);
    Status = Dispatch->WskGetLocalAddress(Listener, &Address.Generic, Irp);
    Status = EchoWait(Irp, Done, Status);
    if (!NT_SUCCESS(Status)) {
        goto Close;
    }
    *Port = RtlUshortByteSwap(Family == AF_INET6 ? Address.V6.sin6_port : Address.V4.sin_port);
    return STATUS_SUCCESS;

Close:
    EchoCloseListener();
    KeWaitForSingleObject(&EchoListenerClosed, Executive, KernelMode, FALSE, NULL);
Failed:
    DbgPrint("echo_driver: %s (%s): 0x%08X\n", Step, Family == AF_INET6 ? "IPv6" : "IPv4", (unsigned)Status);
    return Status;
}

/* The port from WSK_ECHO_PORT (0 when unset). */
static NTSTATUS EchoConfiguredPort(USHORT *Port)
{
    const char *Text = getenv("WSK_ECHO_PORT");
    char *End;
    unsigned long Value;

    *Port = 0;
    if (Text == NULL || *Text == '\0') {
        return STATUS_SUCCESS;
    }
    Value = strtoul(Text, &End, 10);
    if (*End != '\0' || Value > 65535) {
        DbgPrint("echo_driver: WSK_ECHO_PORT=%s is not a port number\n", Text);
        return STATUS_INVALID_PARAMETER;
    }
    *Port = (USHORT)Value;
    return STATUS_SUCCESS;
}

/* Undoes what DriverEntry did (all of it, or the part that succeeded). */
static VOID EchoStop(VOID)
{
    PLIST_ENTRY Entry;
    PECHO_CONNECTION Connection;
    KIRQL Irql;

    InterlockedExchange(&EchoUnloading, 1);

    /* No more accept events once the listener's close completed. */
    EchoCloseListener();
    KeWaitForSingleObject(&EchoListenerClosed, Executive, KernelMode, FALSE, NULL);

    /* Shut down the connections still open, one at a time (each one held by a reference
       while it is worked on, since it may close meanwhile). */
    for (;;) {
        Connection = NULL;
        KeAcquireSpinLock(&EchoConnectionsLock, &Irql);
        for (Entry = EchoConnections.Flink; Entry != &EchoConnections; Entry = Entry->Flink) {
            PECHO_CONNECTION Candidate = CONTAINING_RECORD(Entry, ECHO_CONNECTION, Link);

            if (!Candidate->SweepSeen) {
                Candidate->SweepSeen = TRUE;
                Candidate->References++;
                Connection = Candidate;
                break;
            }
        }
        KeReleaseSpinLock(&EchoConnectionsLock, Irql);
        if (Connection == NULL) {
            break;
        }
        DbgPrint("echo_driver: connection %u still open at unload: resetting it\n", (unsigned)Connection->Id);
        EchoRequestShutdown(Connection, TRUE);
        EchoDereference(Connection);
    }

    /* Every context is freed once its socket's close completed. */
    ExWaitForRundownProtectionRelease(&EchoRundown);

    if (EchoCaptured) {
        WskReleaseProviderNPI(&EchoRegistration);
        EchoCaptured = FALSE;
    }
    if (EchoRegistered) {
        WskDeregister(&EchoRegistration);
        EchoRegistered = FALSE;
    }
}

static VOID EchoUnload(PDRIVER_OBJECT DriverObject)
{
    UNREFERENCED_PARAMETER(DriverObject);
    EchoStop();
    DbgPrint("echo_driver: unloaded: connections %u, bytes %llu, copies %u, retained %u, retained-inline %u, "
             "throttled %u, send-failures %u, errors %u\n",
             (unsigned)EchoNextId, (unsigned long long)EchoBytes, (unsigned)EchoCopies,
             (unsigned)EchoRetainedReleased, (unsigned)EchoRetainedInline, (unsigned)EchoThrottles,
             (unsigned)EchoSendFailures, (unsigned)EchoErrors);
}

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    WSK_EVENT_CALLBACK_CONTROL Callbacks;
    KEVENT Done;
    PIRP Irp;
    USHORT Port, Requested;
    NTSTATUS Status;

    UNREFERENCED_PARAMETER(RegistryPath);
    KeInitializeSpinLock(&EchoConnectionsLock);
    InitializeListHead(&EchoConnections);
    ExInitializeRundownProtection(&EchoRundown);
    KeInitializeEvent(&EchoListenerClosed, NotificationEvent, TRUE);
    KeInitializeEvent(&Done, NotificationEvent, FALSE);

    Status = EchoConfiguredPort(&Requested);
    if (!NT_SUCCESS(Status)) {
        return Status;
    }

    Status = WskRegister(&EchoClientNpi, &EchoRegistration);
    if (!NT_SUCCESS(Status)) {
        DbgPrint("echo_driver: WskRegister: 0x%08X\n", (unsigned)Status);
        return Status;
    }
    EchoRegistered = TRUE;
    Status = WskCaptureProviderNPI(&EchoRegistration, ECHO_CAPTURE_WAIT_MS, &EchoProvider);
    if (!NT_SUCCESS(Status)) {
        DbgPrint("echo_driver: WskCaptureProviderNPI: 0x%08X\n", (unsigned)Status);
        goto Failed;
    }
    EchoCaptured = TRUE;

    /* Before any socket exists: these events are on for every socket from now on. */
    Callbacks.NpiId = &NPI_WSK_INTERFACE_ID;
    Callbacks.EventMask = WSK_EVENT_ACCEPT | WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT;
    Status = EchoProvider.Dispatch->WskControlClient(EchoProvider.Client, WSK_SET_STATIC_EVENT_CALLBACKS,
                                                     sizeof(Callbacks), &Callbacks, 0, NULL, NULL, NULL);
    if (!NT_SUCCESS(Status)) {
        DbgPrint("echo_driver: WSK_SET_STATIC_EVENT_CALLBACKS: 0x%08X\n", (unsigned)Status);
        goto Failed;
    }

    Irp = IoAllocateIrp(1, FALSE);
    if (Irp == NULL) {
        Status = STATUS_INSUFFICIENT_RESOURCES;
        goto Failed;
    }
    Port = Requested;
    Status = EchoListen(AF_INET6, &Port, Irp, &Done);
    if (!NT_SUCCESS(Status) && Status != STATUS_ADDRESS_ALREADY_ASSOCIATED) {
        Port = Requested;
        Status = EchoListen(AF_INET, &Port, Irp, &Done);
    }
    IoFreeIrp(Irp);
    if (!NT_SUCCESS(Status)) {
        goto Failed;
    }

    DriverObject->DriverUnload = EchoUnload;
    DbgPrint("echo_driver: listening on port %u\n", (unsigned)Port);
    return STATUS_SUCCESS;

Failed:
    EchoStop();
    return Status;
}
