/*
 * irp_semantics.c: how libwsk completes IRPs and hands out indications, from C.
 *
 * Everything runs on loopback inside one process: a listening socket with WskAcceptEvent,
 * a client connection made with WskSocketConnect, the accepted server side.
 *   1. A send the host takes at once completes inline: the completion routine ran before
 *      WskSend returned, the return value is IoStatus.Status (not STATUS_PENDING), and
 *      PendingReturned is FALSE. 1000 sends reuse one IRP (IoReuseIrp).
 *   2. A receive with nothing to read returns STATUS_PENDING and completes later with
 *      PendingReturned TRUE; IoCancelIrp of a pending receive completes it exactly once
 *      with STATUS_CANCELLED.
 *   3. An IRP with two stack locations: the provider uses the next one; the routine set
 *      by the upper "driver" runs, and one set on an upper location runs after it.
 *   4. WskCloseSocket with a pending receive: the receive IRP completes (STATUS_CANCELLED)
 *      before the close IRP does.
 *   3b. A completion routine that sends again from inside itself, 20,000 times: the
 *      nesting of inline completions is bounded (no stack overflow), every send completes.
 *   5. Receive events (enabled from inside WskAcceptEvent, as wsk.h allows): the server retains (STATUS_PENDING) every indication, a system
 *      thread releases them element by element in reverse order; a second release of an
 *      element is STATUS_INVALID_PARAMETER; every byte arrives in order.
 *   6. WskSocketConnect to a peer that never answers (the port in argv[1]), cancelled by
 *      IoCancelIrp: STATUS_CANCELLED, and deregistration does not wait for the socket.
 * Prints "irp_semantics: OK" and exits 0, or "irp_semantics: FAIL ..." and exits 1.
 */
#define IRP_WAIT_PROGRAM "irp_semantics"
#include "irp_wait.h"

#include <wsk.h>

#define TAG 'tsrI'
#define STREAM_BYTES (4 * 1024 * 1024)

typedef struct _RECORD {
    IRP_RECORD_FIELDS;
} RECORD, *PRECORD;

static NTSTATUS RecordRoutine(PDEVICE_OBJECT DeviceObject, PIRP Irp, PVOID Context)
{
    PRECORD Record = (PRECORD)Context;

    UNREFERENCED_PARAMETER(DeviceObject);
    RECORD_COMPLETION(Record, Irp);
    return STATUS_MORE_PROCESSING_REQUIRED;
}

/* A completion routine that sends the next byte from inside itself, CHAIN times: each
   send completes inline, so without a bound on nesting the stack would overflow. */
#define CHAIN 20000
typedef struct _CHAIN_STATE {
    PWSK_SOCKET Socket;
    WSK_BUF Buf;
    PUCHAR Byte;
    ULONG64 Offset;
    LONG Left;
    LONG Errors;
    KEVENT Done;
} CHAIN_STATE;

static UCHAR PatternByte(ULONG64 i);

static NTSTATUS ChainRoutine(PDEVICE_OBJECT DeviceObject, PIRP Irp, PVOID Context)
{
    CHAIN_STATE *Chain = (CHAIN_STATE *)Context;

    UNREFERENCED_PARAMETER(DeviceObject);
    if (Irp->IoStatus.Status != STATUS_SUCCESS || Irp->IoStatus.Information != 1) {
        Chain->Errors++;
    }
    if (--Chain->Left == 0) {
        KeSetEvent(&Chain->Done, IO_NO_INCREMENT, FALSE);
        return STATUS_MORE_PROCESSING_REQUIRED;
    }
    *Chain->Byte = PatternByte(Chain->Offset++);
    IoReuseIrp(Irp, STATUS_UNSUCCESSFUL);
    IoSetCompletionRoutine(Irp, ChainRoutine, Chain, TRUE, TRUE, TRUE);
    ((PWSK_PROVIDER_CONNECTION_DISPATCH)Chain->Socket->Dispatch)->WskSend(Chain->Socket, &Chain->Buf, 0, Irp);
    return STATUS_MORE_PROCESSING_REQUIRED;
}

static void Arm(PIRP Irp, PRECORD Record)
{
    ARM_RECORD(Irp, Record, RecordRoutine);
}

/* Waits for the routine if the call pended; returns the final status. */
static NTSTATUS Finish(NTSTATUS Returned, PRECORD Record)
{
    FINISH_RECORD(Returned, Record, "");
    return Record->Status;
}

/* ----- the server side: accept event, receive events that retain everything ----- */

static WSK_REGISTRATION Registration;
static WSK_PROVIDER_NPI Npi;

typedef struct _SERVER {
    PWSK_SOCKET Accepted;
    KEVENT AcceptedEvent;
    /* Retained indication elements, in arrival order, for the releasing thread. */
    PWSK_DATA_INDICATION Elements[4096];
    LONG Count;
    KSPIN_LOCK Lock;
    KEVENT Batch;
    ULONG64 Bytes;
    ULONG64 Mismatches;
    BOOLEAN Closed;
    KEVENT AllReceived;
    NTSTATUS EnableStatus;
} SERVER;

static SERVER Server;

static UCHAR PatternByte(ULONG64 i)
{
    return (UCHAR)((i * 7) ^ (i >> 9));
}

static NTSTATUS WSKAPI ServerReceive(PVOID Context, ULONG Flags, PWSK_DATA_INDICATION Indication, SIZE_T Indicated,
                                     SIZE_T *Accepted)
{
    PWSK_DATA_INDICATION Element;
    KIRQL Irql;

    UNREFERENCED_PARAMETER(Context);
    UNREFERENCED_PARAMETER(Flags);
    UNREFERENCED_PARAMETER(Indicated);
    UNREFERENCED_PARAMETER(Accepted);
    if (Indication == NULL) {
        Server.Closed = TRUE;
        KeSetEvent(&Server.Batch, IO_NO_INCREMENT, FALSE);
        return STATUS_SUCCESS;
    }
    KeAcquireSpinLock(&Server.Lock, &Irql);
    for (Element = Indication; Element != NULL; Element = Element->Next) {
        PMDL Mdl = Element->Buffer.Mdl;
        ULONG Offset = Element->Buffer.Offset;
        SIZE_T Left = Element->Buffer.Length;

        while (Mdl != NULL && Left > 0) {
            PUCHAR Data = (PUCHAR)MmGetSystemAddressForMdlSafe(Mdl, NormalPagePriority) + Offset;
            SIZE_T Take = MmGetMdlByteCount(Mdl) - Offset;
            SIZE_T i;

            if (Take > Left) {
                Take = Left;
            }
            for (i = 0; i < Take; i++) {
                if (Data[i] != PatternByte(Server.Bytes + i)) {
                    Server.Mismatches++;
                }
            }
            Server.Bytes += Take;
            Left -= Take;
            Offset = 0;
            Mdl = Mdl->Next;
        }
        if (Server.Count < (LONG)ARRAYSIZE(Server.Elements)) {
            Server.Elements[Server.Count++] = Element;
        }
    }
    if (Server.Bytes >= STREAM_BYTES + 16 + CHAIN) {
        KeSetEvent(&Server.AllReceived, IO_NO_INCREMENT, FALSE);
    }
    KeReleaseSpinLock(&Server.Lock, Irql);
    KeSetEvent(&Server.Batch, IO_NO_INCREMENT, FALSE);
    return STATUS_PENDING;
}

static const WSK_CLIENT_CONNECTION_DISPATCH ServerConnection = {ServerReceive, NULL, NULL};

static NTSTATUS WSKAPI ServerAccept(PVOID Context, ULONG Flags, PSOCKADDR Local, PSOCKADDR Remote,
                                    PWSK_SOCKET Socket, PVOID *AcceptContext,
                                    const WSK_CLIENT_CONNECTION_DISPATCH **AcceptDispatch)
{
    UNREFERENCED_PARAMETER(Context);
    UNREFERENCED_PARAMETER(Flags);
    UNREFERENCED_PARAMETER(Local);
    UNREFERENCED_PARAMETER(Remote);
    if (Socket == NULL) {
        return STATUS_REQUEST_NOT_ACCEPTED;
    }
    Server.Accepted = Socket;
    *AcceptContext = &Server;
    *AcceptDispatch = &ServerConnection;
    /* wsk.h: the outputs set, the client may enable events from inside the callback. */
    {
        WSK_EVENT_CALLBACK_CONTROL Events;

        Events.NpiId = &NPI_WSK_INTERFACE_ID;
        Events.EventMask = WSK_EVENT_RECEIVE;
        Server.EnableStatus = ((PWSK_PROVIDER_CONNECTION_DISPATCH)Socket->Dispatch)
                                  ->WskControlSocket(Socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                                                     sizeof(Events), &Events, 0, NULL, NULL, NULL);
    }
    KeSetEvent(&Server.AcceptedEvent, IO_NO_INCREMENT, FALSE);
    return STATUS_SUCCESS;
}

static const WSK_CLIENT_LISTEN_DISPATCH ServerListen = {ServerAccept, NULL, NULL};

/* Releases retained elements one by one, newest first within each batch. */
static VOID Releaser(PVOID Context)
{
    ULONG64 Released = 0;
    LONG Twice = 0;

    UNREFERENCED_PARAMETER(Context);
    for (;;) {
        PWSK_DATA_INDICATION Batch[ARRAYSIZE(Server.Elements)];
        LONG n, i;
        KIRQL Irql;
        BOOLEAN Closed;

        CHECK(Wait(&Server.Batch), "no receive indication within 30 s");
        KeAcquireSpinLock(&Server.Lock, &Irql);
        KeClearEvent(&Server.Batch);
        n = Server.Count;
        RtlCopyMemory(Batch, Server.Elements, n * sizeof(Batch[0]));
        Server.Count = 0;
        Closed = Server.Closed;
        KeReleaseSpinLock(&Server.Lock, Irql);
        for (i = n - 1; i >= 0; i--) {
            Batch[i]->Next = NULL; /* unlink: release exactly this element */
            CHECK(((PWSK_PROVIDER_CONNECTION_DISPATCH)Server.Accepted->Dispatch)->WskRelease(Server.Accepted, Batch[i]) ==
                      STATUS_SUCCESS,
                  "WskRelease of element %ld", (long)i);
            Released++;
            if (Twice++ == 0) {
                NTSTATUS Again =
                    ((PWSK_PROVIDER_CONNECTION_DISPATCH)Server.Accepted->Dispatch)->WskRelease(Server.Accepted, Batch[i]);
                CHECK(Again == STATUS_INVALID_PARAMETER, "second release returned 0x%08x", (unsigned)Again);
            }
        }
        if (Closed) {
            break;
        }
    }
    printf("irp_semantics: released %llu retained elements\n", (unsigned long long)Released);
    PsTerminateSystemThread(STATUS_SUCCESS);
}

int main(int argc, char **argv)
{
    static const WSK_CLIENT_DISPATCH ClientDispatch = {MAKE_WSK_VERSION(1, 0), 0, NULL};
    WSK_CLIENT_NPI ClientNpi = {NULL, &ClientDispatch};
    WSK_EVENT_CALLBACK_CONTROL Events;
    SOCKADDR_IN Any = {0}, Bound = {0}, Local = {0};
    PWSK_PROVIDER_LISTEN_DISPATCH ListenTable;
    PWSK_PROVIDER_CONNECTION_DISPATCH Conn;
    PWSK_SOCKET Listener, Client;
    RECORD Record, Upper;
    PIRP Irp, Irp2;
    PMDL Mdl;
    PUCHAR Buffer;
    WSK_BUF Buf;
    NTSTATUS Status;
    HANDLE Thread;
    PVOID ThreadObject;
    int i;

    KeInitializeEvent(&Server.AcceptedEvent, NotificationEvent, FALSE);
    KeInitializeEvent(&Server.Batch, NotificationEvent, FALSE);
    KeInitializeEvent(&Server.AllReceived, NotificationEvent, FALSE);
    KeInitializeSpinLock(&Server.Lock);
    CHECK(WskRegister(&ClientNpi, &Registration) == STATUS_SUCCESS, "WskRegister");
    CHECK(WskCaptureProviderNPI(&Registration, WSK_INFINITE_WAIT, &Npi) == STATUS_SUCCESS, "capture");

    Irp = IoAllocateIrp(1, FALSE);
    CHECK(Irp != NULL, "IoAllocateIrp");

    /* A listener with accept events; the accepted socket retains its indications. */
    Arm(Irp, &Record);
    Status = Finish(Npi.Dispatch->WskSocket(Npi.Client, AF_INET, SOCK_STREAM, IPPROTO_TCP, WSK_FLAG_LISTEN_SOCKET,
                                            &Server, &ServerListen, NULL, NULL, NULL, Irp),
                    &Record);
    CHECK(Status == STATUS_SUCCESS, "WskSocket(listen) 0x%08x", (unsigned)Status);
    Listener = (PWSK_SOCKET)Record.Information;
    ListenTable = (PWSK_PROVIDER_LISTEN_DISPATCH)Listener->Dispatch;
    Any.sin_family = AF_INET;
    Any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    Arm(Irp, &Record);
    CHECK(Finish(ListenTable->WskBind(Listener, (PSOCKADDR)&Any, 0, Irp), &Record) == STATUS_SUCCESS, "bind");
    Arm(Irp, &Record);
    CHECK(Finish(ListenTable->WskGetLocalAddress(Listener, (PSOCKADDR)&Bound, Irp), &Record) == STATUS_SUCCESS,
          "local address");
    Events.NpiId = &NPI_WSK_INTERFACE_ID;
    Events.EventMask = WSK_EVENT_ACCEPT;
    CHECK(ListenTable->WskControlSocket(Listener, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, sizeof(Events),
                                        &Events, 0, NULL, NULL, NULL) == STATUS_SUCCESS,
          "enable accept events");

    Local.sin_family = AF_INET;
    Local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    Arm(Irp, &Record);
    Status = Finish(Npi.Dispatch->WskSocketConnect(Npi.Client, SOCK_STREAM, IPPROTO_TCP, (PSOCKADDR)&Local,
                                                   (PSOCKADDR)&Bound, 0, NULL, NULL, NULL, NULL, NULL, Irp),
                    &Record);
    CHECK(Status == STATUS_SUCCESS, "WskSocketConnect 0x%08x", (unsigned)Status);
    Client = (PWSK_SOCKET)Record.Information;
    Conn = (PWSK_PROVIDER_CONNECTION_DISPATCH)Client->Dispatch;
    CHECK(Wait(&Server.AcceptedEvent), "no accept event");
    CHECK(Server.EnableStatus == STATUS_SUCCESS, "enabling receive events inside WskAcceptEvent: 0x%08x",
          (unsigned)Server.EnableStatus);
    CHECK(PsCreateSystemThread(&Thread, THREAD_ALL_ACCESS, NULL, NULL, NULL, Releaser, NULL) == STATUS_SUCCESS,
          "PsCreateSystemThread");
    CHECK(ObReferenceObjectByHandle(Thread, SYNCHRONIZE, *PsThreadType, KernelMode, &ThreadObject, NULL) ==
              STATUS_SUCCESS,
          "ObReferenceObjectByHandle");
    ZwClose(Thread);

    /* 1. Inline completion: STREAM_BYTES in 4 KiB sends on one reused IRP. */
    Buffer = (PUCHAR)ExAllocatePool2(POOL_FLAG_NON_PAGED, 4096, TAG);
    CHECK(Buffer != NULL, "pool");
    Mdl = IoAllocateMdl(Buffer, 4096, FALSE, FALSE, NULL);
    CHECK(Mdl != NULL, "IoAllocateMdl");
    MmBuildMdlForNonPagedPool(Mdl);
    {
        ULONG64 Sent = 0;
        int Inline = 0;

        for (i = 0; Sent < STREAM_BYTES; i++) {
            int j;

            for (j = 0; j < 4096; j++) {
                Buffer[j] = PatternByte(Sent + j);
            }
            Buf.Mdl = Mdl;
            Buf.Offset = 0;
            Buf.Length = 4096;
            Arm(Irp, &Record);
            Status = Conn->WskSend(Client, &Buf, 0, Irp);
            if (Status != STATUS_PENDING) {
                Inline++;
                CHECK(Record.Calls == 1, "inline send: routine not run before return");
                CHECK(!Record.PendingReturned, "inline send marked pending");
            }
            Status = Finish(Status, &Record);
            CHECK(Status == STATUS_SUCCESS && Record.Information == 4096, "send %d: 0x%08x, %lu bytes", i,
                  (unsigned)Status, (unsigned long)Record.Information);
            if (Record.PendingReturned) {
                CHECK(Record.Calls == 1, "pending send completed more than once");
            }
            Sent += 4096;
        }
        CHECK(Inline > 0, "no send completed inline");
        printf("irp_semantics: %d sends, %d completed inline\n", i, Inline);
    }

    /* 2. A pending receive on the client side (the server sends nothing), cancelled. */
    Buf.Mdl = Mdl;
    Buf.Offset = 0;
    Buf.Length = 4096;
    Arm(Irp, &Record);
    Status = Conn->WskReceive(Client, &Buf, 0, Irp);
    CHECK(Status == STATUS_PENDING, "receive with nothing to read returned 0x%08x", (unsigned)Status);
    CHECK(IoCancelIrp(Irp), "IoCancelIrp found no cancel routine");
    Status = Finish(Status, &Record);
    CHECK(Status == STATUS_CANCELLED, "cancelled receive completed with 0x%08x", (unsigned)Status);
    CHECK(Record.PendingReturned, "pending receive not marked pending");

    /* 3. Two stack locations: an upper routine on the top location runs after ours. */
    Irp2 = IoAllocateIrp(2, FALSE);
    CHECK(Irp2 != NULL, "IoAllocateIrp(2)");
    Record.Calls = 0;
    Upper.Calls = 0;
    KeInitializeEvent(&Record.Done, NotificationEvent, FALSE);
    KeInitializeEvent(&Upper.Done, NotificationEvent, FALSE);
    IoSetCompletionRoutine(Irp2, RecordRoutine, &Upper, TRUE, TRUE, TRUE);
    IoSetNextIrpStackLocation(Irp2);
    {
        /* The "upper driver" now owns location 2 and passes the IRP down with a routine
           that lets completion continue upward. */
        PIO_STACK_LOCATION Next = IoGetNextIrpStackLocation(Irp2);
        CHECK(Next == Irp2->Tail.Overlay.CurrentStackLocation - 1, "next stack location");
    }
    {
        int j;

        for (j = 0; j < 16; j++) {
            Buffer[j] = PatternByte((ULONG64)STREAM_BYTES + j);
        }
        Buf.Length = 16;
        Status = Conn->WskSend(Client, &Buf, 0, Irp2);
        if (Status == STATUS_PENDING) {
            CHECK(Wait(&Upper.Done), "upper routine never ran");
        }
        CHECK(Upper.Calls == 1, "upper routine ran %ld times", (long)Upper.Calls);
        CHECK(Upper.Status == STATUS_SUCCESS && Upper.Information == 16, "two-location send 0x%08x",
              (unsigned)Upper.Status);
    }
    IoFreeIrp(Irp2);

    /* 3b. A completion routine that re-sends from inside itself CHAIN times. */
    {
        static CHAIN_STATE Chain;

        Chain.Socket = Client;
        Chain.Byte = Buffer;
        Chain.Buf.Mdl = Mdl;
        Chain.Buf.Offset = 0;
        Chain.Buf.Length = 1;
        Chain.Offset = (ULONG64)STREAM_BYTES + 16;
        Chain.Left = CHAIN;
        KeInitializeEvent(&Chain.Done, NotificationEvent, FALSE);
        *Chain.Byte = PatternByte(Chain.Offset++);
        IoReuseIrp(Irp, STATUS_UNSUCCESSFUL);
        IoSetCompletionRoutine(Irp, ChainRoutine, &Chain, TRUE, TRUE, TRUE);
        Conn->WskSend(Client, &Chain.Buf, 0, Irp);
        CHECK(Wait(&Chain.Done), "the chain of %d sends did not finish (%ld left)", CHAIN, (long)Chain.Left);
        CHECK(Chain.Errors == 0, "%ld chained sends failed", (long)Chain.Errors);
    }

    /* Everything sent reached the server (a close now resets the connection, which
       would discard data still queued). */
    CHECK(Wait(&Server.AllReceived), "the server did not receive the whole stream (%llu bytes)",
          (unsigned long long)Server.Bytes);

    /* 4. Close with a pending receive: the receive completes first. */
    Buf.Length = 4096;
    Arm(Irp, &Record);
    Status = Conn->WskReceive(Client, &Buf, 0, Irp);
    CHECK(Status == STATUS_PENDING, "second receive returned 0x%08x", (unsigned)Status);
    Irp2 = IoAllocateIrp(1, FALSE);
    CHECK(Irp2 != NULL, "IoAllocateIrp");
    Upper.Calls = 0;
    KeInitializeEvent(&Upper.Done, NotificationEvent, FALSE);
    IoSetCompletionRoutine(Irp2, RecordRoutine, &Upper, TRUE, TRUE, TRUE);
    Status = Conn->WskCloseSocket(Client, Irp2);
    if (Status == STATUS_PENDING) {
        CHECK(Wait(&Upper.Done), "close never completed");
    }
    CHECK(Upper.Status == STATUS_SUCCESS, "close 0x%08x", (unsigned)Upper.Status);
    CHECK(Record.Calls == 1, "the pending receive had not completed when the close did");
    CHECK(Record.Status == STATUS_CANCELLED, "receive completed by close with 0x%08x", (unsigned)Record.Status);
    IoFreeIrp(Irp2);

    /* 5. The server saw the whole stream, retained and released, then the reset (NULL). */
    CHECK(KeWaitForSingleObject(ThreadObject, Executive, KernelMode, FALSE, NULL) == STATUS_SUCCESS, "join");
    ObDereferenceObject(ThreadObject);
    CHECK(Server.Bytes == STREAM_BYTES + 16 + CHAIN, "server received %llu bytes", (unsigned long long)Server.Bytes);
    CHECK(Server.Mismatches == 0, "%llu bytes differ from the pattern", (unsigned long long)Server.Mismatches);

    Arm(Irp, &Record);
    CHECK(Finish(((PWSK_PROVIDER_CONNECTION_DISPATCH)Server.Accepted->Dispatch)->WskCloseSocket(Server.Accepted, Irp),
                 &Record) == STATUS_SUCCESS,
          "close accepted");
    Arm(Irp, &Record);
    CHECK(Finish(ListenTable->WskCloseSocket(Listener, Irp), &Record) == STATUS_SUCCESS, "close listener");
    /* 6. WskSocketConnect to a peer that never answers (argv[1]: a port whose listener's
       accept queue is full, so the host drops the SYN), cancelled with IoCancelIrp. */
    if (argc > 1) {
        SOCKADDR_IN Blocked = {0};

        Blocked.sin_family = AF_INET;
        Blocked.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        Blocked.sin_port = htons((USHORT)atoi(argv[1]));
        Arm(Irp, &Record);
        Status = Npi.Dispatch->WskSocketConnect(Npi.Client, SOCK_STREAM, IPPROTO_TCP, (PSOCKADDR)&Local,
                                                (PSOCKADDR)&Blocked, 0, NULL, NULL, NULL, NULL, NULL, Irp);
        CHECK(Status == STATUS_PENDING, "connect to a silent peer returned 0x%08x", (unsigned)Status);
        CHECK(IoCancelIrp(Irp), "IoCancelIrp found no cancel routine on WskSocketConnect");
        Status = Finish(Status, &Record);
        CHECK(Status == STATUS_CANCELLED, "cancelled connect completed with 0x%08x", (unsigned)Status);
        CHECK(Record.Information == 0, "a cancelled connect returned a socket");
    }

    IoFreeIrp(Irp);
    IoFreeMdl(Mdl);
    ExFreePoolWithTag(Buffer, TAG);
    WskReleaseProviderNPI(&Registration);
    WskDeregister(&Registration);
    printf("irp_semantics: OK\n");
    return 0;
}
