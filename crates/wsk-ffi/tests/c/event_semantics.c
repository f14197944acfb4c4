/*
 * event_semantics.c: the event callbacks of connection sockets and the options around
 * them, seen from C through the wsk.h ABI (reference §4.3-§4.5, §4.8).
 *
 * Loopback only, inside one process: one IPv4 listener with WskAcceptEvent hands out the
 * server side of each pair; the client side is made with WskSocketConnect. Every pair
 * gets the same client connection table (receive, disconnect and send-backlog events)
 * with its own context. Every wait is a KEVENT wait of at most 30 s.
 *   1. WskDisconnectEvent: a graceful peer disconnect completes two pending receives
 *      with STATUS_SUCCESS / 0 bytes and indicates Flags without WSK_FLAG_ABORTIVE (and
 *      no NULL indication); a peer WskDisconnect(WSK_FLAG_ABORTIVE), or a peer close
 *      without disconnect, indicates WSK_FLAG_ABORTIVE and a NULL WskReceiveEvent
 *      indication when receive events are on.
 *   2. Graceful WskDisconnect with a final WSK_BUF: the peer gets the bytes sent before,
 *      the final bytes, then end of stream (a 0-byte receive).
 *   3. WskReceiveEvent outcomes: a partial accept (STATUS_SUCCESS, *BytesAccepted <
 *      BytesIndicated) and STATUS_DATA_NOT_ACCEPTED each stop indications until a
 *      WskReceive (zero-length for the first) completes; the bytes not taken come first;
 *      every byte of the stream arrives exactly once, in order.
 *   4. Disabling WSK_EVENT_RECEIVE: idle, without and with an IRP: STATUS_SUCCESS and the
 *      data then goes to WskReceive IRPs; while the callback runs (it blocks on a KEVENT
 *      the test sets): without an IRP STATUS_EVENT_PENDING, with one STATUS_PENDING and
 *      the IRP completes only after the callback returned.
 *   5. SIO_WSK_QUERY_IDEAL_SEND_BACKLOG (> 0) and SIO_WSK_QUERY_RECEIVE_BACKLOG (the
 *      bytes waiting: exact for data the provider holds after STATUS_DATA_NOT_ACCEPTED;
 *      bounded by what the peer sent, and reaching it, for data in the host's queue;
 *      0 once read). Information and *OutputSizeReturned are sizeof(SIZE_T).
 *   6. WskSendBacklogEvent enabled on a connection socket that fills the pipe with 16 MiB
 *      the peer then drains: called at least once, IdealBacklogSize > 0, and only when
 *      the value changed.
 *   7. TCP_NODELAY: STATUS_SUCCESS on a connection socket, STATUS_NOT_SUPPORTED on a
 *      listening one; IPV6_V6ONLY 0 on an AF_INET6 listener before bind makes it dual
 *      stack: an AF_INET client reaches it (skipped without an IPv6 loopback).
 * Prints "event_semantics: OK" and exits 0, or "event_semantics: FAIL line N: ..." and
 * exits 1.
 */
#define IRP_WAIT_PROGRAM "event_semantics"
#include "irp_wait.h"

#include <wsk.h>

#include <string.h>

/* A failed expectation that does not stop the run: reported the same way, and the
   program exits 1 at the end (the later checks still run and report). */
static LONG Failures;
#define EXPECT(cond, ...)                                                                                  \
    do {                                                                                                   \
        if (!(cond)) {                                                                                     \
            REPORT_FAILURE(__LINE__, #cond, __VA_ARGS__);                                                  \
            InterlockedIncrement(&Failures);                                                               \
        }                                                                                                  \
    } while (0)

#define TAG 'tvEW'

/* The byte at offset i of every test stream: a multiplicative hash, so a lost, repeated
   or reordered chunk never matches. */
static UCHAR Pattern(ULONG64 i)
{
    return (UCHAR)(((i + 1) * 0x9E3779B97F4A7C15ULL) >> 56);
}

/* ----- one endpoint: the context of a connection socket's callbacks ----- */

enum { MODE_ACCEPT, MODE_SCRIPT, MODE_BLOCK };

typedef struct _EP {
    PWSK_SOCKET Socket;
    KEVENT Accepted;
    LONG Mode;
    /* The stream: the next expected pattern offset, and when it is complete. */
    ULONG64 Next;
    ULONG64 Total;
    KEVENT AllReceived;
    ULONG64 Mismatches;
    KSPIN_LOCK Lock; /* serializes Consume, should a provider overlap two consumers */
    /* WskReceiveEvent */
    LONG Indications;
    LONG NullIndications;
    LONG BadIndicated; /* BytesIndicated differs from the chain's length */
    KEVENT NullEvent;
    /* MODE_SCRIPT: after a partial or refused indication the socket is suspended until
       the IRP of a re-arming WskReceive completes. An indication while suspended is a
       violation: before that receive was posted (Violations), or after it was posted but
       before its IRP completed (Early). SuspendGen tells the re-arming receive whether
       the suspension it ends is still the current one. */
    volatile BOOLEAN Suspended;
    volatile BOOLEAN Posted;
    volatile LONG SuspendGen;
    LONG Violations;
    KEVENT ViolationEvent;
    LONG Early;
    LONG EarlyFirst;
    KEVENT Phase1, Phase2;
    SIZE_T PartialIndicated, PartialAccepted, RefusedIndicated;
    /* MODE_BLOCK */
    KEVENT Entered, Release, Returned;
    volatile LONG InCallback;
    NTSTATUS BlockReturn;
    SIZE_T BlockIndicated;
    /* WskDisconnectEvent */
    LONG Disconnects;
    ULONG DisconnectFlags;
    KEVENT DisconnectEvent;
    /* WskSendBacklogEvent */
    LONG BacklogEvents;
    SIZE_T Backlog[256];
    KEVENT BacklogEvent;
} EP;

static void InitEp(EP *Ep)
{
    RtlZeroMemory(Ep, sizeof(*Ep));
    KeInitializeEvent(&Ep->Accepted, NotificationEvent, FALSE);
    KeInitializeEvent(&Ep->AllReceived, NotificationEvent, FALSE);
    KeInitializeEvent(&Ep->NullEvent, NotificationEvent, FALSE);
    KeInitializeEvent(&Ep->ViolationEvent, NotificationEvent, FALSE);
    KeInitializeEvent(&Ep->Phase1, NotificationEvent, FALSE);
    KeInitializeEvent(&Ep->Phase2, NotificationEvent, FALSE);
    KeInitializeEvent(&Ep->Entered, NotificationEvent, FALSE);
    KeInitializeEvent(&Ep->Release, NotificationEvent, FALSE);
    KeInitializeEvent(&Ep->Returned, NotificationEvent, FALSE);
    KeInitializeEvent(&Ep->DisconnectEvent, NotificationEvent, FALSE);
    KeInitializeEvent(&Ep->BacklogEvent, NotificationEvent, FALSE);
    KeInitializeSpinLock(&Ep->Lock);
    Ep->Total = ~0ULL;
    Ep->EarlyFirst = -1;
}

/* Checks Length received bytes against the stream at Ep->Next and advances it. */
static void Consume(EP *Ep, const UCHAR *Data, SIZE_T Length)
{
    SIZE_T i;
    KIRQL Irql;

    KeAcquireSpinLock(&Ep->Lock, &Irql);
    for (i = 0; i < Length; i++) {
        if (Data[i] != Pattern(Ep->Next + i)) {
            Ep->Mismatches++;
        }
    }
    Ep->Next += Length;
    if (Ep->Next >= Ep->Total) {
        KeSetEvent(&Ep->AllReceived, IO_NO_INCREMENT, FALSE);
    }
    KeReleaseSpinLock(&Ep->Lock, Irql);
}

static SIZE_T ChainLength(PWSK_DATA_INDICATION Indication)
{
    SIZE_T Total = 0;

    for (; Indication != NULL; Indication = Indication->Next) {
        Total += Indication->Buffer.Length;
    }
    return Total;
}

/* Consumes the first Count bytes of an indicated chain. */
static void ConsumeChain(EP *Ep, PWSK_DATA_INDICATION Indication, SIZE_T Count)
{
    for (; Indication != NULL && Count > 0; Indication = Indication->Next) {
        PMDL Mdl = Indication->Buffer.Mdl;
        ULONG Offset = Indication->Buffer.Offset;
        SIZE_T Left = Indication->Buffer.Length;

        while (Mdl != NULL && Left > 0 && Count > 0) {
            PUCHAR Data = (PUCHAR)MmGetSystemAddressForMdlSafe(Mdl, NormalPagePriority) + Offset;
            SIZE_T Take = MmGetMdlByteCount(Mdl) - Offset;

            if (Take > Left) {
                Take = Left;
            }
            if (Take > Count) {
                Take = Count;
            }
            Consume(Ep, Data, Take);
            Left -= Take;
            Count -= Take;
            Offset = 0;
            Mdl = Mdl->Next;
        }
    }
}

static NTSTATUS WSKAPI EpReceive(PVOID Context, ULONG Flags, PWSK_DATA_INDICATION Indication, SIZE_T Indicated,
                                 SIZE_T *Accepted)
{
    EP *Ep = (EP *)Context;
    LONG n;

    UNREFERENCED_PARAMETER(Flags);
    if (Indication == NULL) {
        InterlockedIncrement(&Ep->NullIndications);
        KeSetEvent(&Ep->NullEvent, IO_NO_INCREMENT, FALSE);
        return STATUS_SUCCESS;
    }
    n = InterlockedIncrement(&Ep->Indications) - 1;
    if (ChainLength(Indication) != Indicated) {
        Ep->BadIndicated++;
    }
    if (Ep->Suspended) {
        if (Ep->Posted) {
            if (Ep->Early++ == 0) {
                Ep->EarlyFirst = n;
            }
        } else {
            Ep->Violations++;
            KeSetEvent(&Ep->ViolationEvent, IO_NO_INCREMENT, FALSE);
        }
    }
    switch (Ep->Mode) {
    case MODE_SCRIPT:
        if (n == 0) {
            /* Partial: take the first half (maybe 0 bytes), leave the rest. */
            SIZE_T Take = Indicated / 2;

            ConsumeChain(Ep, Indication, Take);
            *Accepted = Take;
            Ep->PartialIndicated = Indicated;
            Ep->PartialAccepted = Take;
            Ep->SuspendGen++;
            Ep->Posted = FALSE;
            Ep->Suspended = TRUE;
            KeSetEvent(&Ep->Phase1, IO_NO_INCREMENT, FALSE);
            return STATUS_SUCCESS;
        }
        if (n == 1) {
            Ep->RefusedIndicated = Indicated;
            Ep->SuspendGen++;
            Ep->Posted = FALSE;
            Ep->Suspended = TRUE;
            KeSetEvent(&Ep->Phase2, IO_NO_INCREMENT, FALSE);
            return STATUS_DATA_NOT_ACCEPTED;
        }
        ConsumeChain(Ep, Indication, Indicated);
        return STATUS_SUCCESS;
    case MODE_BLOCK: {
        NTSTATUS Status;

        InterlockedExchange(&Ep->InCallback, 1);
        Ep->BlockIndicated = Indicated;
        KeSetEvent(&Ep->Entered, IO_NO_INCREMENT, FALSE);
        CHECK(Wait(&Ep->Release), "the blocked receive callback was not released within %d s", WAIT_SECONDS);
        Status = Ep->BlockReturn;
        if (Status == STATUS_SUCCESS) {
            ConsumeChain(Ep, Indication, Indicated);
        }
        KeSetEvent(&Ep->Returned, IO_NO_INCREMENT, FALSE);
        InterlockedExchange(&Ep->InCallback, 0);
        return Status;
    }
    default:
        ConsumeChain(Ep, Indication, Indicated);
        return STATUS_SUCCESS;
    }
}

static NTSTATUS WSKAPI EpDisconnect(PVOID Context, ULONG Flags)
{
    EP *Ep = (EP *)Context;

    Ep->DisconnectFlags = Flags;
    InterlockedIncrement(&Ep->Disconnects);
    KeSetEvent(&Ep->DisconnectEvent, IO_NO_INCREMENT, FALSE);
    return STATUS_SUCCESS;
}

static NTSTATUS WSKAPI EpSendBacklog(PVOID Context, SIZE_T IdealBacklogSize)
{
    EP *Ep = (EP *)Context;

    if (Ep->BacklogEvents < (LONG)ARRAYSIZE(Ep->Backlog)) {
        Ep->Backlog[Ep->BacklogEvents] = IdealBacklogSize;
    }
    InterlockedIncrement(&Ep->BacklogEvents);
    KeSetEvent(&Ep->BacklogEvent, IO_NO_INCREMENT, FALSE);
    return STATUS_SUCCESS;
}

static const WSK_CLIENT_CONNECTION_DISPATCH ConnDispatch = {EpReceive, EpDisconnect, EpSendBacklog};

/* ----- IRPs: a record of the completion, with optional work on a receive ----- */

typedef struct _OP {
    PIRP Irp;
    IRP_RECORD_FIELDS;
    /* A receive: its bytes are consumed into Ep (from Data); Rearm ends the suspension
       of generation Gen (if still current) as soon as the IRP completes. */
    EP *Ep;
    PUCHAR Data;
    BOOLEAN Rearm;
    LONG Gen;
    /* For a disable: whether the callback was still inside when the IRP completed. */
    EP *Watch;
    LONG InCallbackAtCompletion;
    LONG ReturnedAtCompletion;
} OP;

static NTSTATUS OpRoutine(PDEVICE_OBJECT DeviceObject, PIRP Irp, PVOID Context)
{
    OP *Op = (OP *)Context;

    UNREFERENCED_PARAMETER(DeviceObject);
    if (Op->Ep != NULL && Op->Rearm && Op->Ep->SuspendGen == Op->Gen) {
        Op->Ep->Suspended = FALSE;
    }
    if (Op->Ep != NULL && Irp->IoStatus.Status == STATUS_SUCCESS && Irp->IoStatus.Information > 0) {
        Consume(Op->Ep, Op->Data, Irp->IoStatus.Information);
    }
    if (Op->Watch != NULL) {
        Op->InCallbackAtCompletion = Op->Watch->InCallback;
        Op->ReturnedAtCompletion = KeReadStateEvent(&Op->Watch->Returned);
    }
    RECORD_COMPLETION(Op, Irp);
    return STATUS_MORE_PROCESSING_REQUIRED;
}

static void OpInit(OP *Op)
{
    RtlZeroMemory(Op, sizeof(*Op));
    Op->Irp = IoAllocateIrp(1, FALSE);
    CHECK(Op->Irp != NULL, "IoAllocateIrp");
}

static void OpFree(OP *Op)
{
    IoFreeIrp(Op->Irp);
    Op->Irp = NULL;
}

/* Prepares the IRP for the next call; returns it. */
static PIRP Arm(OP *Op)
{
    Op->Ep = NULL;
    Op->Data = NULL;
    Op->Rearm = FALSE;
    Op->Watch = NULL;
    ARM_RECORD(Op->Irp, Op, OpRoutine);
    return Op->Irp;
}

/* Waits for the routine if the call pended; the final status (the routine ran once, and
   a synchronous completion returned what the IRP says). */
#define Finish(Returned, Op) FinishAt(__LINE__, (Returned), (Op))
static NTSTATUS FinishAt(int Line, NTSTATUS Returned, OP *Op)
{
    char From[32];

    snprintf(From, sizeof(From), "(from line %d) ", Line);
    FINISH_RECORD(Returned, Op, From);
    return Op->Status;
}

/* ----- buffers ----- */

typedef struct _BUFFER {
    PUCHAR Data;
    PMDL Mdl;
    SIZE_T Length;
} BUFFER;

static void BufferAlloc(BUFFER *Buffer, SIZE_T Length)
{
    Buffer->Data = (PUCHAR)ExAllocatePool2(POOL_FLAG_NON_PAGED, Length, TAG);
    CHECK(Buffer->Data != NULL, "pool of %zu bytes", (size_t)Length);
    Buffer->Mdl = IoAllocateMdl(Buffer->Data, (ULONG)Length, FALSE, FALSE, NULL);
    CHECK(Buffer->Mdl != NULL, "IoAllocateMdl");
    MmBuildMdlForNonPagedPool(Buffer->Mdl);
    Buffer->Length = Length;
}

static void BufferFree(BUFFER *Buffer)
{
    IoFreeMdl(Buffer->Mdl);
    ExFreePoolWithTag(Buffer->Data, TAG);
    RtlZeroMemory(Buffer, sizeof(*Buffer));
}

static void FillPattern(PUCHAR Data, SIZE_T Length, ULONG64 Start)
{
    SIZE_T i;

    for (i = 0; i < Length; i++) {
        Data[i] = Pattern(Start + i);
    }
}

static WSK_BUF Slice(BUFFER *Buffer, SIZE_T Offset, SIZE_T Length)
{
    WSK_BUF Buf;

    Buf.Mdl = Buffer->Mdl;
    Buf.Offset = (ULONG)Offset;
    Buf.Length = Length;
    return Buf;
}

/* ----- globals: the registration, one scratch IRP and buffer, the listener ----- */

static WSK_REGISTRATION Registration;
static WSK_PROVIDER_NPI Npi;
static OP Scratch;
static BUFFER ScratchBuffer; /* 64 KiB */
static PWSK_SOCKET Listener;
static SOCKADDR_IN ListenAddress;
static EP *volatile NextAccept;
static LONG UnexpectedAccepts;

static PWSK_PROVIDER_CONNECTION_DISPATCH Conn(PWSK_SOCKET Socket)
{
    return (PWSK_PROVIDER_CONNECTION_DISPATCH)Socket->Dispatch;
}

static NTSTATUS WSKAPI ListenAccept(PVOID Context, ULONG Flags, PSOCKADDR Local, PSOCKADDR Remote, PWSK_SOCKET Socket,
                                    PVOID *AcceptContext, const WSK_CLIENT_CONNECTION_DISPATCH **AcceptDispatch)
{
    EP *Ep = NextAccept;

    UNREFERENCED_PARAMETER(Context);
    UNREFERENCED_PARAMETER(Flags);
    UNREFERENCED_PARAMETER(Local);
    UNREFERENCED_PARAMETER(Remote);
    if (Socket == NULL || Ep == NULL) {
        InterlockedIncrement(&UnexpectedAccepts);
        return STATUS_REQUEST_NOT_ACCEPTED;
    }
    NextAccept = NULL;
    Ep->Socket = Socket;
    *AcceptContext = Ep;
    *AcceptDispatch = &ConnDispatch;
    KeSetEvent(&Ep->Accepted, IO_NO_INCREMENT, FALSE);
    return STATUS_SUCCESS;
}

static const WSK_CLIENT_LISTEN_DISPATCH ListenDispatch = {ListenAccept, NULL, NULL};

/* SO_WSK_EVENT_CALLBACK on a connection socket; Irp NULL: without an IRP. */
static NTSTATUS SetEvents(PWSK_SOCKET Socket, ULONG Mask, PIRP Irp)
{
    WSK_EVENT_CALLBACK_CONTROL Control;

    Control.NpiId = &NPI_WSK_INTERFACE_ID;
    Control.EventMask = Mask;
    return Conn(Socket)->WskControlSocket(Socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, sizeof(Control),
                                          &Control, 0, NULL, NULL, Irp);
}

/* A SIO_WSK_QUERY_* IOCTL (IRP required): STATUS_SUCCESS, sizeof(SIZE_T) both ways. */
#define Query(Socket, Code) QueryAt(__LINE__, (Socket), (Code))
static SIZE_T QueryAt(int Line, PWSK_SOCKET Socket, ULONG Code)
{
    SIZE_T Value = (SIZE_T)-1, Returned = 0;
    NTSTATUS Status;

    Status = FinishAt(Line,
                      Conn(Socket)->WskControlSocket(Socket, WskIoctl, Code, 0, 0, NULL, sizeof(Value), &Value,
                                                     &Returned, Arm(&Scratch)),
                      &Scratch);
    CHECK(Status == STATUS_SUCCESS, "(from line %d) IOCTL 0x%08x: 0x%08x", Line, (unsigned)Code, (unsigned)Status);
    CHECK(Scratch.Information == sizeof(SIZE_T), "(from line %d) IOCTL 0x%08x: Information %lu", Line,
          (unsigned)Code, (unsigned long)Scratch.Information);
    CHECK(Returned == sizeof(SIZE_T), "(from line %d) IOCTL 0x%08x: *OutputSizeReturned %zu", Line, (unsigned)Code,
          (size_t)Returned);
    return Value;
}

/* Sends Length pattern bytes from stream offset Start and waits for the send. */
#define SendSync(Socket, Start, Length) SendSyncAt(__LINE__, (Socket), (Start), (Length))
static void SendSyncAt(int Line, PWSK_SOCKET Socket, ULONG64 Start, SIZE_T Length)
{
    WSK_BUF Buf = Slice(&ScratchBuffer, 0, Length);
    NTSTATUS Status;

    CHECK(Length <= ScratchBuffer.Length, "(from line %d) send too long", Line);
    FillPattern(ScratchBuffer.Data, Length, Start);
    Status = FinishAt(Line, Conn(Socket)->WskSend(Socket, &Buf, 0, Arm(&Scratch)), &Scratch);
    CHECK(Status == STATUS_SUCCESS && Scratch.Information == Length, "(from line %d) send: 0x%08x, %lu bytes", Line,
          (unsigned)Status, (unsigned long)Scratch.Information);
}

/* Receives exactly Length bytes (WSK_FLAG_WAITALL) into Ep's stream. */
#define ReceiveExact(Ep, Length) ReceiveExactAt(__LINE__, (Ep), (Length))
static void ReceiveExactAt(int Line, EP *Ep, SIZE_T Length)
{
    WSK_BUF Buf = Slice(&ScratchBuffer, 0, Length);
    NTSTATUS Status;
    PIRP Irp = Arm(&Scratch);

    Scratch.Ep = Ep;
    Scratch.Data = ScratchBuffer.Data;
    Status = FinishAt(Line, Conn(Ep->Socket)->WskReceive(Ep->Socket, &Buf, WSK_FLAG_WAITALL, Irp), &Scratch);
    CHECK(Status == STATUS_SUCCESS && Scratch.Information == Length, "(from line %d) receive: 0x%08x, %lu bytes",
          Line, (unsigned)Status, (unsigned long)Scratch.Information);
}

static void CloseSocket(PWSK_SOCKET Socket)
{
    NTSTATUS Status = Finish(Conn(Socket)->WskCloseSocket(Socket, Arm(&Scratch)), &Scratch);

    CHECK(Status == STATUS_SUCCESS, "close 0x%08x", (unsigned)Status);
}

/* A connected pair: Client made by WskSocketConnect, Server delivered by WskAcceptEvent. */
static void MakePair(EP *Client, EP *Server)
{
    SOCKADDR_IN Local = {0};
    NTSTATUS Status;

    InitEp(Client);
    InitEp(Server);
    NextAccept = Server;
    Local.sin_family = AF_INET;
    Local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    Status = Finish(Npi.Dispatch->WskSocketConnect(Npi.Client, SOCK_STREAM, IPPROTO_TCP, (PSOCKADDR)&Local,
                                                   (PSOCKADDR)&ListenAddress, 0, Client, &ConnDispatch, NULL, NULL,
                                                   NULL, Arm(&Scratch)),
                    &Scratch);
    CHECK(Status == STATUS_SUCCESS, "WskSocketConnect 0x%08x", (unsigned)Status);
    Client->Socket = (PWSK_SOCKET)Scratch.Information;
    CHECK(Wait(&Server->Accepted), "no WskAcceptEvent within %d s", WAIT_SECONDS);
}

/* ----- 1. WskDisconnectEvent ----- */

static void GracefulPeerDisconnect(void)
{
    EP C, S;
    OP R1, R2, D;
    BUFFER B1, B2;
    WSK_BUF W1, W2;
    NTSTATUS Status;

    MakePair(&C, &S);
    CHECK(SetEvents(S.Socket, WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT, NULL) == STATUS_SUCCESS, "enable events");
    OpInit(&R1);
    OpInit(&R2);
    OpInit(&D);
    BufferAlloc(&B1, 512);
    BufferAlloc(&B2, 512);
    W1 = Slice(&B1, 0, 512);
    W2 = Slice(&B2, 0, 512);
    /* Two receives wait; the peer sends nothing but its FIN. */
    Status = Conn(S.Socket)->WskReceive(S.Socket, &W1, 0, Arm(&R1));
    CHECK(Status == STATUS_PENDING, "first receive returned 0x%08x", (unsigned)Status);
    Status = Conn(S.Socket)->WskReceive(S.Socket, &W2, 0, Arm(&R2));
    CHECK(Status == STATUS_PENDING, "second receive returned 0x%08x", (unsigned)Status);
    Status = Finish(Conn(C.Socket)->WskDisconnect(C.Socket, NULL, 0, Arm(&D)), &D);
    CHECK(Status == STATUS_SUCCESS && D.Information == 0, "graceful WskDisconnect 0x%08x", (unsigned)Status);

    CHECK(Finish(STATUS_PENDING, &R1) == STATUS_SUCCESS && R1.Information == 0,
          "first receive after the peer's FIN: 0x%08x, %lu bytes", (unsigned)R1.Status, (unsigned long)R1.Information);
    CHECK(Finish(STATUS_PENDING, &R2) == STATUS_SUCCESS && R2.Information == 0,
          "second receive after the peer's FIN: 0x%08x, %lu bytes", (unsigned)R2.Status, (unsigned long)R2.Information);
    CHECK(Wait(&S.DisconnectEvent), "no WskDisconnectEvent for a graceful disconnect within %d s", WAIT_SECONDS);
    CHECK(S.Disconnects == 1, "WskDisconnectEvent called %ld times", (long)S.Disconnects);
    CHECK((S.DisconnectFlags & WSK_FLAG_ABORTIVE) == 0, "graceful disconnect indicated with Flags 0x%x",
          (unsigned)S.DisconnectFlags);
    CHECK(S.NullIndications == 0, "a graceful disconnect gave a NULL WskReceiveEvent indication");
    CHECK(S.Indications == 0, "%ld receive indications without data", (long)S.Indications);

    /* Both directions done: the server finishes gracefully too. */
    Status = Finish(Conn(S.Socket)->WskDisconnect(S.Socket, NULL, 0, Arm(&D)), &D);
    CHECK(Status == STATUS_SUCCESS, "server's graceful WskDisconnect 0x%08x", (unsigned)Status);
    CloseSocket(C.Socket);
    CloseSocket(S.Socket);
    OpFree(&R1);
    OpFree(&R2);
    OpFree(&D);
    BufferFree(&B1);
    BufferFree(&B2);
    printf("event_semantics: 1a graceful peer disconnect: 2 receives SUCCESS/0, Flags 0x%x\n",
           (unsigned)S.DisconnectFlags);
}

/* How the client side ends the connection in the abortive checks. */
enum { BY_ABORTIVE_DISCONNECT, BY_CLOSE };

static void AbortivePeer(int How, ULONG Events)
{
    EP C, S;
    NTSTATUS Status;
    const char *Name = How == BY_CLOSE ? "close without disconnect" : "WskDisconnect(WSK_FLAG_ABORTIVE)";

    MakePair(&C, &S);
    CHECK(SetEvents(S.Socket, Events, NULL) == STATUS_SUCCESS, "enable events 0x%x", (unsigned)Events);
    /* Some data first, received through the events or a receive. */
    S.Total = 100;
    SendSync(C.Socket, 0, 100);
    if (Events & WSK_EVENT_RECEIVE) {
        CHECK(Wait(&S.AllReceived), "the data before the reset was not indicated within %d s", WAIT_SECONDS);
    } else {
        ReceiveExact(&S, 100);
    }
    if (How == BY_CLOSE) {
        CloseSocket(C.Socket);
    } else {
        Status = Finish(Conn(C.Socket)->WskDisconnect(C.Socket, NULL, WSK_FLAG_ABORTIVE, Arm(&Scratch)), &Scratch);
        CHECK(Status == STATUS_SUCCESS, "abortive WskDisconnect 0x%08x", (unsigned)Status);
    }
    if (Events & WSK_EVENT_DISCONNECT) {
        CHECK(Wait(&S.DisconnectEvent), "no WskDisconnectEvent after the peer's %s within %d s", Name, WAIT_SECONDS);
        CHECK(S.DisconnectFlags & WSK_FLAG_ABORTIVE, "peer's %s indicated with Flags 0x%x (no WSK_FLAG_ABORTIVE)",
              Name, (unsigned)S.DisconnectFlags);
    }
    if (Events & WSK_EVENT_RECEIVE) {
        CHECK(Wait(&S.NullEvent), "no NULL WskReceiveEvent indication after the peer's %s within %d s", Name,
              WAIT_SECONDS);
        CHECK(S.NullIndications == 1, "%ld NULL indications", (long)S.NullIndications);
    }
    CHECK(S.Disconnects == ((Events & WSK_EVENT_DISCONNECT) ? 1 : 0), "WskDisconnectEvent called %ld times",
          (long)S.Disconnects);
    CHECK(S.Next == 100 && S.Mismatches == 0, "data before the reset: %llu bytes, %llu wrong",
          (unsigned long long)S.Next, (unsigned long long)S.Mismatches);
    if (How != BY_CLOSE) {
        CloseSocket(C.Socket);
    }
    CloseSocket(S.Socket);
    printf("event_semantics: 1b peer %s, events 0x%x: Flags 0x%x, %ld NULL indication(s)\n", Name, (unsigned)Events,
           (unsigned)S.DisconnectFlags, (long)S.NullIndications);
}

/* ----- 2. graceful WskDisconnect with a final buffer ----- */

static void DisconnectWithFinalBuffer(void)
{
    enum { BEFORE = 5000, FINAL = 3000 };
    EP C, S;
    OP Send, D;
    BUFFER Data;
    WSK_BUF First, Last;
    NTSTATUS SendStatus, DiscStatus, Status;
    int Receives = 0;

    MakePair(&C, &S);
    OpInit(&Send);
    OpInit(&D);
    BufferAlloc(&Data, BEFORE + FINAL);
    FillPattern(Data.Data, BEFORE + FINAL, 0);
    First = Slice(&Data, 0, BEFORE);
    Last = Slice(&Data, BEFORE, FINAL);
    SendStatus = Conn(C.Socket)->WskSend(C.Socket, &First, 0, Arm(&Send));
    DiscStatus = Conn(C.Socket)->WskDisconnect(C.Socket, &Last, 0, Arm(&D));
    /* The peer reads everything, then end of stream. */
    for (;;) {
        WSK_BUF Buf = Slice(&ScratchBuffer, 0, 4096);
        PIRP Irp = Arm(&Scratch);

        Scratch.Ep = &S;
        Scratch.Data = ScratchBuffer.Data;
        Status = Finish(Conn(S.Socket)->WskReceive(S.Socket, &Buf, 0, Irp), &Scratch);
        CHECK(Status == STATUS_SUCCESS, "receive %d: 0x%08x", Receives, (unsigned)Status);
        Receives++;
        if (Scratch.Information == 0) {
            break;
        }
        CHECK(Receives < 10000, "no end of stream after %d receives", Receives);
    }
    CHECK(S.Next == BEFORE + FINAL, "received %llu bytes before end of stream, sent %d", (unsigned long long)S.Next,
          BEFORE + FINAL);
    CHECK(S.Mismatches == 0, "%llu bytes differ from the stream", (unsigned long long)S.Mismatches);
    Status = Finish(SendStatus, &Send);
    CHECK(Status == STATUS_SUCCESS && Send.Information == BEFORE, "send before the disconnect: 0x%08x, %lu",
          (unsigned)Status, (unsigned long)Send.Information);
    Status = Finish(DiscStatus, &D);
    CHECK(Status == STATUS_SUCCESS && D.Information == 0, "WskDisconnect with a final buffer: 0x%08x",
          (unsigned)Status);
    Status = Finish(Conn(S.Socket)->WskDisconnect(S.Socket, NULL, 0, Arm(&D)), &D);
    CHECK(Status == STATUS_SUCCESS, "server's graceful WskDisconnect 0x%08x", (unsigned)Status);
    CloseSocket(C.Socket);
    CloseSocket(S.Socket);
    OpFree(&Send);
    OpFree(&D);
    BufferFree(&Data);
    printf("event_semantics: 2 final buffer: %d + %d bytes then end of stream (%d receives)\n", BEFORE, FINAL,
           Receives);
}

/* ----- 3. partial and refused indications ----- */

static void ReceiveEventOutcomes(void)
{
    enum { TOTAL = 256 * 1024 };
    EP C, S;
    OP Send, R;
    BUFFER Data, Into;
    WSK_BUF All, Zero, Part;
    NTSTATUS SendStatus, Status;

    MakePair(&C, &S);
    OpInit(&Send);
    OpInit(&R);
    BufferAlloc(&Data, TOTAL);
    BufferAlloc(&Into, 1000);
    FillPattern(Data.Data, TOTAL, 0);
    S.Mode = MODE_SCRIPT;
    S.Total = TOTAL;
    CHECK(SetEvents(S.Socket, WSK_EVENT_RECEIVE, NULL) == STATUS_SUCCESS, "enable receive events");
    All = Slice(&Data, 0, TOTAL);
    SendStatus = Conn(C.Socket)->WskSend(C.Socket, &All, 0, Arm(&Send));

    /* Partial accept: nothing more until a receive (zero-length here) completed. */
    CHECK(Wait(&S.Phase1), "no first indication within %d s", WAIT_SECONDS);
    CHECK(WaitMs(&S.ViolationEvent, 200) == STATUS_TIMEOUT,
          "WskReceiveEvent called again after a partial accept (%zu of %zu) with no WskReceive",
          (size_t)S.PartialAccepted, (size_t)S.PartialIndicated);
    Zero.Mdl = NULL;
    Zero.Offset = 0;
    Zero.Length = 0;
    Arm(&R);
    R.Ep = &S;
    R.Rearm = TRUE;
    R.Gen = S.SuspendGen;
    S.Posted = TRUE;
    Status = Finish(Conn(S.Socket)->WskReceive(S.Socket, &Zero, 0, R.Irp), &R);
    CHECK(Status == STATUS_SUCCESS && R.Information == 0, "zero-length receive: 0x%08x, %lu bytes", (unsigned)Status,
          (unsigned long)R.Information);

    /* STATUS_DATA_NOT_ACCEPTED: the same, re-armed by a receive with a buffer that gets
       the refused bytes first. */
    CHECK(Wait(&S.Phase2), "no indication after the zero-length receive within %d s", WAIT_SECONDS);
    CHECK(WaitMs(&S.ViolationEvent, 200) == STATUS_TIMEOUT,
          "WskReceiveEvent called again after STATUS_DATA_NOT_ACCEPTED with no WskReceive");
    {
        ULONG64 Before = S.Next;

        Part = Slice(&Into, 0, 1000);
        Arm(&R);
        R.Ep = &S;
        R.Data = Into.Data;
        R.Rearm = TRUE;
        R.Gen = S.SuspendGen;
        S.Posted = TRUE;
        Status = Finish(Conn(S.Socket)->WskReceive(S.Socket, &Part, 0, R.Irp), &R);
        CHECK(Status == STATUS_SUCCESS && R.Information > 0 && R.Information <= 1000,
              "receive after STATUS_DATA_NOT_ACCEPTED: 0x%08x, %lu bytes", (unsigned)Status,
              (unsigned long)R.Information);
        EXPECT(S.Mismatches == 0,
               "the stream is out of order at the receive after the refusal (offset %llu, %lu bytes received)",
               (unsigned long long)Before, (unsigned long)R.Information);
    }

    CHECK(Wait(&S.AllReceived), "the stream did not complete within %d s (%llu of %d bytes)", WAIT_SECONDS,
          (unsigned long long)S.Next, TOTAL);
    Status = Finish(SendStatus, &Send);
    CHECK(Status == STATUS_SUCCESS && Send.Information == TOTAL, "send 0x%08x, %lu", (unsigned)Status,
          (unsigned long)Send.Information);
    CHECK(S.Next == TOTAL, "received %llu bytes of %d", (unsigned long long)S.Next, TOTAL);
    CHECK(S.Violations == 0, "%ld indications while suspended, no WskReceive posted", (long)S.Violations);
    EXPECT(S.Early == 0,
           "%ld WskReceiveEvent(s) (first: indication #%ld) started after the re-arming WskReceive was posted but "
           "before its IRP completed",
           (long)S.Early, (long)S.EarlyFirst);
    EXPECT(S.Mismatches == 0, "%llu bytes lost, repeated or out of order as the client saw them",
           (unsigned long long)S.Mismatches);
    CHECK(S.BadIndicated == 0, "%ld indications whose BytesIndicated differs from the chain", (long)S.BadIndicated);
    CHECK(S.PartialAccepted < S.PartialIndicated, "partial %zu of %zu", (size_t)S.PartialAccepted,
          (size_t)S.PartialIndicated);
    printf("event_semantics: 3 partial %zu/%zu, refused %zu, %ld indications in all; %d bytes, %llu out of place\n",
           (size_t)S.PartialAccepted, (size_t)S.PartialIndicated, (size_t)S.RefusedIndicated, (long)S.Indications,
           TOTAL, (unsigned long long)S.Mismatches);
    CloseSocket(C.Socket);
    CloseSocket(S.Socket);
    OpFree(&Send);
    OpFree(&R);
    BufferFree(&Data);
    BufferFree(&Into);
}

/* ----- 4. disabling WSK_EVENT_RECEIVE; 5. the backlog IOCTLs ----- */

/* Polls SIO_WSK_QUERY_RECEIVE_BACKLOG until it reports Expected (every answer must lie
   in [Low, Expected]); the attempts are separated by 10 ms KEVENT waits, 30 s at most. */
static int AwaitReceiveBacklog(PWSK_SOCKET Socket, SIZE_T Low, SIZE_T Expected)
{
    KEVENT Never;
    int Attempt;

    KeInitializeEvent(&Never, NotificationEvent, FALSE);
    for (Attempt = 1;; Attempt++) {
        SIZE_T Value = Query(Socket, SIO_WSK_QUERY_RECEIVE_BACKLOG);

        CHECK(Value >= Low && Value <= Expected, "receive backlog %zu, expected within [%zu, %zu]", (size_t)Value,
              (size_t)Low, (size_t)Expected);
        if (Value == Expected) {
            return Attempt;
        }
        CHECK(Attempt < 3000, "receive backlog still %zu after %d queries, expected %zu", (size_t)Value, Attempt,
              (size_t)Expected);
        WaitMs(&Never, 10);
    }
}

static void DisableAndBacklog(void)
{
    enum { N = 100 };
    EP C, S;
    OP Dis;
    NTSTATUS Status;
    SIZE_T Ideal;
    int Attempts;

    MakePair(&C, &S);
    OpInit(&Dis);

    /* 5. The ideal send backlog of a connected socket. */
    Ideal = Query(C.Socket, SIO_WSK_QUERY_IDEAL_SEND_BACKLOG);
    CHECK(Ideal > 0 && Ideal != (SIZE_T)-1, "ideal send backlog %zu", (size_t)Ideal);
    CHECK(Query(S.Socket, SIO_WSK_QUERY_IDEAL_SEND_BACKLOG) > 0, "ideal send backlog of the accepted socket");

    /* 5. The receive backlog with no event and no receive: the bytes wait in the host. */
    CHECK(Query(S.Socket, SIO_WSK_QUERY_RECEIVE_BACKLOG) == 0, "receive backlog before any data");
    SendSync(C.Socket, 0, N);
    Attempts = AwaitReceiveBacklog(S.Socket, 0, N);
    ReceiveExact(&S, N);
    CHECK(Query(S.Socket, SIO_WSK_QUERY_RECEIVE_BACKLOG) == 0, "receive backlog after reading everything");
    printf("event_semantics: 5 ideal send backlog %zu; receive backlog %d after %d quer%s, 0 once read\n",
           (size_t)Ideal, N, Attempts, Attempts == 1 ? "y" : "ies");

    /* 4a. Idle (no callback running): disabling answers STATUS_SUCCESS, with or without
       an IRP, and the data then goes to WskReceive. */
    CHECK(SetEvents(S.Socket, WSK_EVENT_RECEIVE, NULL) == STATUS_SUCCESS, "enable receive events");
    Status = SetEvents(S.Socket, WSK_EVENT_RECEIVE | WSK_EVENT_DISABLE, NULL);
    CHECK(Status == STATUS_SUCCESS, "idle disable without IRP: 0x%08x", (unsigned)Status);
    SendSync(C.Socket, S.Next, N);
    ReceiveExact(&S, N);
    CHECK(S.Indications == 0, "%ld indications after the disable", (long)S.Indications);
    CHECK(SetEvents(S.Socket, WSK_EVENT_RECEIVE, NULL) == STATUS_SUCCESS, "re-enable receive events");
    Status = SetEvents(S.Socket, WSK_EVENT_RECEIVE | WSK_EVENT_DISABLE, Arm(&Dis));
    CHECK(Status == STATUS_SUCCESS, "idle disable with IRP returned 0x%08x", (unsigned)Status);
    CHECK(Finish(Status, &Dis) == STATUS_SUCCESS, "idle disable IRP 0x%08x", (unsigned)Dis.Status);
    SendSync(C.Socket, S.Next, N);
    ReceiveExact(&S, N);
    CHECK(S.Indications == 0, "%ld indications after the disable with IRP", (long)S.Indications);

    /* 4b. While the callback runs, without an IRP: STATUS_EVENT_PENDING; disabled once
       it returned (the next data goes to a WskReceive). */
    S.Mode = MODE_BLOCK;
    S.BlockReturn = STATUS_SUCCESS;
    CHECK(SetEvents(S.Socket, WSK_EVENT_RECEIVE, NULL) == STATUS_SUCCESS, "enable receive events");
    SendSync(C.Socket, S.Next, N);
    CHECK(Wait(&S.Entered), "the receive callback did not start within %d s", WAIT_SECONDS);
    Status = SetEvents(S.Socket, WSK_EVENT_RECEIVE | WSK_EVENT_DISABLE, NULL);
    CHECK(Status == STATUS_EVENT_PENDING, "disable without IRP during the callback returned 0x%08x",
          (unsigned)Status);
    KeSetEvent(&S.Release, IO_NO_INCREMENT, FALSE);
    CHECK(Wait(&S.Returned), "the callback did not return");
    SendSync(C.Socket, S.Next, N);
    ReceiveExact(&S, N);
    CHECK(S.Indications == 1, "%ld indications (1 expected: the one running at the disable)", (long)S.Indications);

    /* 4b. With an IRP: STATUS_PENDING, completed only after the callback returned. The
       callback refuses its data (STATUS_DATA_NOT_ACCEPTED): once the disable IRP
       completed the provider holds it, and the receive backlog says exactly how much. */
    KeClearEvent(&S.Entered);
    KeClearEvent(&S.Release);
    KeClearEvent(&S.Returned);
    S.BlockReturn = STATUS_DATA_NOT_ACCEPTED;
    CHECK(SetEvents(S.Socket, WSK_EVENT_RECEIVE, NULL) == STATUS_SUCCESS, "re-enable receive events");
    SendSync(C.Socket, S.Next, N);
    CHECK(Wait(&S.Entered), "the receive callback did not start within %d s", WAIT_SECONDS);
    Arm(&Dis);
    Dis.Watch = &S;
    Status = SetEvents(S.Socket, WSK_EVENT_RECEIVE | WSK_EVENT_DISABLE, Dis.Irp);
    CHECK(Status == STATUS_PENDING, "disable with IRP during the callback returned 0x%08x", (unsigned)Status);
    CHECK(Dis.Calls == 0, "the disable IRP completed while the callback still ran");
    KeSetEvent(&S.Release, IO_NO_INCREMENT, FALSE);
    CHECK(Finish(Status, &Dis) == STATUS_SUCCESS, "disable IRP completed with 0x%08x", (unsigned)Dis.Status);
    CHECK(Dis.PendingReturned, "the disable IRP was not marked pending");
    CHECK(Dis.InCallbackAtCompletion == 0 && Dis.ReturnedAtCompletion,
          "the disable IRP completed before the callback returned");
    CHECK(S.BlockIndicated > 0 && S.BlockIndicated <= N, "indicated %zu", (size_t)S.BlockIndicated);
    Attempts = AwaitReceiveBacklog(S.Socket, S.BlockIndicated, N);
    ReceiveExact(&S, N);
    CHECK(Query(S.Socket, SIO_WSK_QUERY_RECEIVE_BACKLOG) == 0, "receive backlog after reading everything");
    SendSync(C.Socket, S.Next, N);
    ReceiveExact(&S, N);
    CHECK(S.Indications == 2, "%ld indications (2 expected)", (long)S.Indications);
    CHECK(S.Mismatches == 0 && S.Next == 7 * N, "stream: %llu bytes, %llu wrong", (unsigned long long)S.Next,
          (unsigned long long)S.Mismatches);
    printf("event_semantics: 4 disable: idle SUCCESS; running: EVENT_PENDING / PENDING then SUCCESS after return; "
           "refused %zu bytes held, backlog exact after %d quer%s\n",
           (size_t)S.BlockIndicated, Attempts, Attempts == 1 ? "y" : "ies");

    CloseSocket(C.Socket);
    CloseSocket(S.Socket);
    OpFree(&Dis);
}

/* ----- 6. WskSendBacklogEvent ----- */

static void SendBacklogEvents(void)
{
    enum { CHUNK = 1024 * 1024, CHUNKS = 16 };
    EP C, S;
    OP Sends[CHUNKS];
    NTSTATUS Returned[CHUNKS], Status;
    BUFFER Data;
    int i, Pending = 0;
    LONG Events;

    MakePair(&C, &S);
    BufferAlloc(&Data, (SIZE_T)CHUNK * CHUNKS);
    FillPattern(Data.Data, (SIZE_T)CHUNK * CHUNKS, 0);
    CHECK(SetEvents(C.Socket, WSK_EVENT_SEND_BACKLOG, NULL) == STATUS_SUCCESS, "enable send backlog events");
    /* Fill the pipe: 16 MiB the peer does not read yet. */
    for (i = 0; i < CHUNKS; i++) {
        WSK_BUF Buf = Slice(&Data, (SIZE_T)i * CHUNK, CHUNK);

        OpInit(&Sends[i]);
        Returned[i] = Conn(C.Socket)->WskSend(C.Socket, &Buf, 0, Arm(&Sends[i]));
        if (Returned[i] == STATUS_PENDING) {
            Pending++;
        }
    }
    /* Then the peer drains it. */
    S.Total = (ULONG64)CHUNK * CHUNKS;
    while (S.Next < S.Total) {
        WSK_BUF Buf = Slice(&ScratchBuffer, 0, ScratchBuffer.Length);
        PIRP Irp = Arm(&Scratch);

        Scratch.Ep = &S;
        Scratch.Data = ScratchBuffer.Data;
        Status = Finish(Conn(S.Socket)->WskReceive(S.Socket, &Buf, 0, Irp), &Scratch);
        CHECK(Status == STATUS_SUCCESS && Scratch.Information > 0, "drain: 0x%08x, %lu bytes at %llu",
              (unsigned)Status, (unsigned long)Scratch.Information, (unsigned long long)S.Next);
    }
    CHECK(S.Mismatches == 0, "%llu bytes differ", (unsigned long long)S.Mismatches);
    for (i = 0; i < CHUNKS; i++) {
        Status = Finish(Returned[i], &Sends[i]);
        CHECK(Status == STATUS_SUCCESS && Sends[i].Information == CHUNK, "send %d: 0x%08x, %lu", i, (unsigned)Status,
              (unsigned long)Sends[i].Information);
        OpFree(&Sends[i]);
    }
    CHECK(Wait(&C.BacklogEvent), "no WskSendBacklogEvent within %d s", WAIT_SECONDS);
    /* Disabled before looking at the values, so none is being written. */
    Status = SetEvents(C.Socket, WSK_EVENT_SEND_BACKLOG | WSK_EVENT_DISABLE, Arm(&Scratch));
    CHECK(Finish(Status, &Scratch) == STATUS_SUCCESS, "disable send backlog events 0x%08x", (unsigned)Status);
    Events = C.BacklogEvents;
    CHECK(Events >= 1, "%ld send backlog events", (long)Events);
    for (i = 0; i < Events && i < (int)ARRAYSIZE(C.Backlog); i++) {
        CHECK(C.Backlog[i] > 0, "WskSendBacklogEvent %d with IdealBacklogSize 0", i);
        CHECK(i == 0 || C.Backlog[i] != C.Backlog[i - 1], "WskSendBacklogEvent %d repeats %zu (no change)", i,
              (size_t)C.Backlog[i]);
    }
    printf("event_semantics: 6 %d of %d sends pended; %ld WskSendBacklogEvent(s), first %zu, last %zu\n", Pending,
           CHUNKS, (long)Events, (size_t)C.Backlog[0],
           (size_t)C.Backlog[(Events <= (LONG)ARRAYSIZE(C.Backlog) ? Events : (LONG)ARRAYSIZE(C.Backlog)) - 1]);
    CloseSocket(C.Socket);
    CloseSocket(S.Socket);
    BufferFree(&Data);
}

/* ----- 7. TCP_NODELAY, IPV6_V6ONLY ----- */

static NTSTATUS SetUlongOption(PWSK_SOCKET Socket, ULONG Level, ULONG Option, ULONG Value)
{
    /* WskControlSocket is one function shared by the tables: any table's entry works. */
    return Finish(Conn(Socket)->WskControlSocket(Socket, WskSetOption, Option, Level, sizeof(Value), &Value, 0, NULL,
                                                 NULL, Arm(&Scratch)),
                  &Scratch);
}

static BOOLEAN HostHasIpv6Loopback(void)
{
    char Line[256];
    BOOLEAN Found = FALSE;
    FILE *File = fopen("/proc/net/if_inet6", "r");

    if (File == NULL) {
        return FALSE;
    }
    while (fgets(Line, sizeof(Line), File) != NULL) {
        if (strncmp(Line, "00000000000000000000000000000001", 32) == 0) {
            Found = TRUE;
        }
    }
    fclose(File);
    return Found;
}

static void Options(void)
{
    EP C, S;
    NTSTATUS Status;

    MakePair(&C, &S);
    Status = SetUlongOption(C.Socket, IPPROTO_TCP, TCP_NODELAY, 1);
    CHECK(Status == STATUS_SUCCESS, "TCP_NODELAY on a connection socket: 0x%08x", (unsigned)Status);
    Status = SetUlongOption(S.Socket, IPPROTO_TCP, TCP_NODELAY, 1);
    CHECK(Status == STATUS_SUCCESS, "TCP_NODELAY on an accepted socket: 0x%08x", (unsigned)Status);
    /* TCP options on a listener are taken (and inherited by what it accepts). */
    Status = SetUlongOption(Listener, IPPROTO_TCP, TCP_NODELAY, 1);
    CHECK(Status == STATUS_SUCCESS, "TCP_NODELAY on a listening socket: 0x%08x", (unsigned)Status);
    /* The connection still works with it. */
    SendSync(C.Socket, 0, 100);
    ReceiveExact(&S, 100);
    CHECK(S.Mismatches == 0, "data after TCP_NODELAY");
    CloseSocket(C.Socket);
    CloseSocket(S.Socket);
    printf("event_semantics: 7 TCP_NODELAY: connection SUCCESS, listener NOT_SUPPORTED\n");

    if (!HostHasIpv6Loopback()) {
        printf("event_semantics: note: no IPv6 loopback on this host; IPV6_V6ONLY dual-stack check skipped\n");
        return;
    }
    {
        SOCKADDR_IN6 Any6 = {0}, Bound6 = {0};
        SOCKADDR_IN Local = {0}, Remote = {0};
        PWSK_SOCKET Listener6, Client4;
        PWSK_PROVIDER_LISTEN_DISPATCH L6;
        WSK_EVENT_CALLBACK_CONTROL Control;

        Status = Finish(Npi.Dispatch->WskSocket(Npi.Client, AF_INET6, SOCK_STREAM, IPPROTO_TCP, WSK_FLAG_LISTEN_SOCKET,
                                                NULL, &ListenDispatch, NULL, NULL, NULL, Arm(&Scratch)),
                        &Scratch);
        CHECK(Status == STATUS_SUCCESS, "WskSocket(AF_INET6, listen) 0x%08x", (unsigned)Status);
        Listener6 = (PWSK_SOCKET)Scratch.Information;
        L6 = (PWSK_PROVIDER_LISTEN_DISPATCH)Listener6->Dispatch;
        Status = SetUlongOption(Listener6, IPPROTO_IPV6, IPV6_V6ONLY, 0);
        CHECK(Status == STATUS_SUCCESS, "IPV6_V6ONLY 0 before bind: 0x%08x", (unsigned)Status);
        Any6.sin6_family = AF_INET6; /* [::]:0 */
        Status = Finish(L6->WskBind(Listener6, (PSOCKADDR)&Any6, 0, Arm(&Scratch)), &Scratch);
        CHECK(Status == STATUS_SUCCESS, "bind [::]:0 0x%08x", (unsigned)Status);
        Status = Finish(L6->WskGetLocalAddress(Listener6, (PSOCKADDR)&Bound6, Arm(&Scratch)), &Scratch);
        CHECK(Status == STATUS_SUCCESS && Bound6.sin6_family == AF_INET6 && Bound6.sin6_port != 0,
              "local address of the IPv6 listener: 0x%08x", (unsigned)Status);
        Control.NpiId = &NPI_WSK_INTERFACE_ID;
        Control.EventMask = WSK_EVENT_ACCEPT;
        Status = L6->WskControlSocket(Listener6, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, sizeof(Control),
                                      &Control, 0, NULL, NULL, NULL);
        CHECK(Status == STATUS_SUCCESS, "accept events on the IPv6 listener: 0x%08x", (unsigned)Status);

        InitEp(&C);
        InitEp(&S);
        NextAccept = &S;
        Local.sin_family = AF_INET;
        Local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        Remote.sin_family = AF_INET;
        Remote.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        Remote.sin_port = Bound6.sin6_port;
        Status = Finish(Npi.Dispatch->WskSocketConnect(Npi.Client, SOCK_STREAM, IPPROTO_TCP, (PSOCKADDR)&Local,
                                                       (PSOCKADDR)&Remote, 0, &C, &ConnDispatch, NULL, NULL, NULL,
                                                       Arm(&Scratch)),
                        &Scratch);
        CHECK(Status == STATUS_SUCCESS, "AF_INET connect to the dual-stack listener: 0x%08x", (unsigned)Status);
        Client4 = (PWSK_SOCKET)Scratch.Information;
        C.Socket = Client4;
        CHECK(Wait(&S.Accepted), "the dual-stack listener did not accept the IPv4 client within %d s", WAIT_SECONDS);
        SendSync(C.Socket, 0, 100);
        ReceiveExact(&S, 100);
        CHECK(S.Mismatches == 0, "data over the dual-stack connection");
        CloseSocket(C.Socket);
        CloseSocket(S.Socket);
        Status = Finish(L6->WskCloseSocket(Listener6, Arm(&Scratch)), &Scratch);
        CHECK(Status == STATUS_SUCCESS, "close the IPv6 listener 0x%08x", (unsigned)Status);
        printf("event_semantics: 7 IPV6_V6ONLY 0: an AF_INET client reached [::]:%u\n",
               (unsigned)ntohs(Bound6.sin6_port));
    }
}

int main(void)
{
    static const WSK_CLIENT_DISPATCH ClientDispatch = {MAKE_WSK_VERSION(1, 0), 0, NULL};
    WSK_CLIENT_NPI ClientNpi = {NULL, &ClientDispatch};
    WSK_EVENT_CALLBACK_CONTROL Control;
    PWSK_PROVIDER_LISTEN_DISPATCH ListenTable;
    SOCKADDR_IN Loopback = {0};
    NTSTATUS Status;

    CHECK(WskRegister(&ClientNpi, &Registration) == STATUS_SUCCESS, "WskRegister");
    CHECK(WskCaptureProviderNPI(&Registration, WSK_INFINITE_WAIT, &Npi) == STATUS_SUCCESS, "capture");
    OpInit(&Scratch);
    BufferAlloc(&ScratchBuffer, 64 * 1024);

    Status = Finish(Npi.Dispatch->WskSocket(Npi.Client, AF_INET, SOCK_STREAM, IPPROTO_TCP, WSK_FLAG_LISTEN_SOCKET,
                                            NULL, &ListenDispatch, NULL, NULL, NULL, Arm(&Scratch)),
                    &Scratch);
    CHECK(Status == STATUS_SUCCESS, "WskSocket(listen) 0x%08x", (unsigned)Status);
    Listener = (PWSK_SOCKET)Scratch.Information;
    ListenTable = (PWSK_PROVIDER_LISTEN_DISPATCH)Listener->Dispatch;
    Loopback.sin_family = AF_INET;
    Loopback.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(Finish(ListenTable->WskBind(Listener, (PSOCKADDR)&Loopback, 0, Arm(&Scratch)), &Scratch) == STATUS_SUCCESS,
          "bind");
    CHECK(Finish(ListenTable->WskGetLocalAddress(Listener, (PSOCKADDR)&ListenAddress, Arm(&Scratch)), &Scratch) ==
              STATUS_SUCCESS,
          "local address");
    Control.NpiId = &NPI_WSK_INTERFACE_ID;
    Control.EventMask = WSK_EVENT_ACCEPT;
    CHECK(ListenTable->WskControlSocket(Listener, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, sizeof(Control),
                                        &Control, 0, NULL, NULL, NULL) == STATUS_SUCCESS,
          "enable accept events");

    GracefulPeerDisconnect();
    AbortivePeer(BY_ABORTIVE_DISCONNECT, WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT);
    AbortivePeer(BY_CLOSE, WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT);
    AbortivePeer(BY_CLOSE, WSK_EVENT_DISCONNECT);
    AbortivePeer(BY_ABORTIVE_DISCONNECT, WSK_EVENT_RECEIVE);
    DisconnectWithFinalBuffer();
    ReceiveEventOutcomes();
    DisableAndBacklog();
    SendBacklogEvents();
    Options();
    CHECK(UnexpectedAccepts == 0, "%ld unexpected accepts", (long)UnexpectedAccepts);

    CHECK(Finish(ListenTable->WskCloseSocket(Listener, Arm(&Scratch)), &Scratch) == STATUS_SUCCESS, "close listener");
    OpFree(&Scratch);
    BufferFree(&ScratchBuffer);
    WskReleaseProviderNPI(&Registration);
    WskDeregister(&Registration);
    if (Failures != 0) {
        printf("event_semantics: %ld expectation(s) failed\n", (long)Failures);
        return 1;
    }
    printf("event_semantics: OK\n");
    return 0;
}
