/*
 * stream_cond.c: stream sockets and conditional accept, seen from C through the wsk.h ABI
 * (reference §1.2 stream table, §1.3 WSK_CLIENT_STREAM_DISPATCH, §3.4 SO_CONDITIONAL_ACCEPT
 * and SIO_WSK_QUERY_INSPECT_ID, §4.6, §4.7), for AF_INET and AF_INET6 on loopback.
 *   1. Stream sockets: WskSocket(WSK_FLAG_STREAM_SOCKET) hands out the stream provider
 *      table; before WskBind, WskListen and WskConnect answer STATUS_INVALID_DEVICE_STATE
 *      (and WskGetLocalAddress); bound, a second WskBind of the same address is refused
 *      at once (STATUS_ADDRESS_ALREADY_ASSOCIATED); WskListen commits to listening
 *      (WskAccept, and WskAcceptEvent of the Listen table), WskConnect and WskConnectEx (with
 *      a first buffer) to connecting (WskSend, WskReceive, WskGetRemoteAddress,
 *      WskDisconnect, WskReceiveEvent of the Connect table, each with the SocketContext
 *      given to WskSocket; WskSendEx, WskReceiveEx); the other role's functions then
 *      answer STATUS_INVALID_DEVICE_STATE; without a Connect table receive events cannot
 *      be enabled; IPV6_V6ONLY and SO_REUSEADDR before bind, refused after; an
 *      uncommitted socket closes.
 *   2. Conditional accept on a listening socket: SO_CONDITIONAL_ACCEPT needs an IRP, a
 *      listen dispatch with WskInspectEvent and WskAbortEvent, a listening socket, and
 *      comes before bind (get reads it back); WskInspectEvent for each connection, with
 *      its addresses: Accept delivers it to a pending WskAccept, Reject resets the peer,
 *      Pend holds it until WskInspectComplete (Accept: delivered; Reject: reset);
 *      WskInspectComplete's errors; a pended peer that resets brings WskAbortEvent with the
 *      same WSK_INSPECT_ID contents, and completing it then answers STATUS_CONNECTION_RESET;
 *      SIO_WSK_QUERY_INSPECT_ID on the accepted socket (IRP NULL, OutputSizeReturned
 *      required) and on sockets it does not apply to.
 *   3. Conditional accept on a stream socket (set through the stream table before bind;
 *      the Listen table's inspect callback; WskInspectComplete of the listen table).
 * Peers are WSK connection sockets made with WskSocketConnect: the host completes their
 * handshake before the inspection, so WskSocketConnect completes with STATUS_SUCCESS
 * whatever the inspection decides; a rejected peer's WskReceive then fails with
 * STATUS_CONNECTION_RESET. Every wait is a KEVENT wait of at most 30 s.
 * Prints "stream_cond: OK" and exits 0, or "stream_cond: FAIL line N: ..." and exits 1.
 */
#define IRP_WAIT_PROGRAM "stream_cond"
#include "irp_wait.h"

#include <wsk.h>

#include <string.h>

#define TAG 'tSkW'

/* ----- IRPs ----- */

typedef struct _OP {
    PIRP Irp;
    IRP_RECORD_FIELDS;
} OP;

static NTSTATUS OpRoutine(PDEVICE_OBJECT DeviceObject, PIRP Irp, PVOID Context)
{
    OP *Op = (OP *)Context;

    UNREFERENCED_PARAMETER(DeviceObject);
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

static PIRP Arm(OP *Op)
{
    ARM_RECORD(Op->Irp, Op, OpRoutine);
    return Op->Irp;
}

/* Waits for the routine if the call pended; the final status. */
#define Finish(Returned, Op) FinishAt(__LINE__, (Returned), (Op))
static NTSTATUS FinishAt(int Line, NTSTATUS Returned, OP *Op)
{
    char From[32];

    snprintf(From, sizeof(From), "(from line %d) ", Line);
    FINISH_RECORD(Returned, Op, From);
    return Op->Status;
}

/* A call that must complete with Expected (and whose IRP completed with it). */
#define Expect(Call, Op, Expected, What)                                                                   \
    do {                                                                                                   \
        NTSTATUS Got_ = Finish((Call), (Op));                                                              \
        CHECK(Got_ == (NTSTATUS)(Expected), "%s: 0x%08x, expected 0x%08x", (What), (unsigned)Got_,         \
              (unsigned)(Expected));                                                                       \
    } while (0)

static OP Scratch;
static WSK_REGISTRATION Registration;
static WSK_PROVIDER_NPI Npi;
static const char *FamilyName = "";

/* ----- addresses ----- */

static void Loopback(USHORT Family, USHORT Port, SOCKADDR_STORAGE *Addr)
{
    RtlZeroMemory(Addr, sizeof(*Addr));
    Addr->ss_family = Family;
    INETADDR_SETLOOPBACK((PSOCKADDR)Addr);
    INETADDR_SET_PORT((PSOCKADDR)Addr, htons(Port));
}

static ULONG AddrLength(const SOCKADDR_STORAGE *Addr)
{
    return Addr->ss_family == AF_INET6 ? sizeof(SOCKADDR_IN6) : sizeof(SOCKADDR_IN);
}

/* Same family, address and port. */
static BOOLEAN SameAddr(const SOCKADDR_STORAGE *A, const SOCKADDR_STORAGE *B)
{
    ULONG Size = A->ss_family == AF_INET6 ? sizeof(IN6_ADDR) : sizeof(IN_ADDR);

    return A->ss_family == B->ss_family && INETADDR_PORT((const SOCKADDR *)A) == INETADDR_PORT((const SOCKADDR *)B) &&
           memcmp(INETADDR_ADDRESS((const SOCKADDR *)A), INETADDR_ADDRESS((const SOCKADDR *)B), Size) == 0;
}

/* ----- tables ----- */

static PWSK_PROVIDER_STREAM_DISPATCH St(PWSK_SOCKET Socket)
{
    return (PWSK_PROVIDER_STREAM_DISPATCH)Socket->Dispatch;
}

static PWSK_PROVIDER_LISTEN_DISPATCH Ls(PWSK_SOCKET Socket)
{
    return (PWSK_PROVIDER_LISTEN_DISPATCH)Socket->Dispatch;
}

static PWSK_PROVIDER_CONNECTION_DISPATCH Cn(PWSK_SOCKET Socket)
{
    return (PWSK_PROVIDER_CONNECTION_DISPATCH)Socket->Dispatch;
}

/* The stream and listen tables (learnt from the first socket of each): the helpers below
   call the slot of the table a socket has (WskControlSocket, WskCloseSocket and WskBind
   are at the same place in every table; the others are not). */
static const VOID *StreamTable, *ListenTable;

static BOOLEAN IsStream(PWSK_SOCKET Socket)
{
    return Socket->Dispatch == StreamTable;
}

static BOOLEAN IsListen(PWSK_SOCKET Socket)
{
    return Socket->Dispatch == ListenTable;
}

/* ----- the client's callbacks: one context per socket ----- */

typedef struct _CTX {
    /* WskAcceptEvent */
    volatile LONG Accepts;
    PWSK_SOCKET Accepted;
    SOCKADDR_STORAGE AcceptRemote;
    KEVENT AcceptEvent;
    /* WskInspectEvent */
    volatile WSK_INSPECT_ACTION Answer;
    volatile LONG Inspects;
    volatile LONG NullInspects;
    WSK_INSPECT_ID LastId;
    SOCKADDR_STORAGE InspectLocal, InspectRemote;
    KEVENT InspectEvent;
    /* WskAbortEvent */
    volatile LONG Aborts;
    WSK_INSPECT_ID AbortId;
    KEVENT AbortEvent;
    /* WskReceiveEvent */
    volatile LONG Receives;
    UCHAR Data[256];
    SIZE_T DataLength;
    KEVENT ReceiveEvent;
} CTX;

static void CtxInit(CTX *Ctx)
{
    RtlZeroMemory(Ctx, sizeof(*Ctx));
    KeInitializeEvent(&Ctx->AcceptEvent, SynchronizationEvent, FALSE);
    KeInitializeEvent(&Ctx->InspectEvent, SynchronizationEvent, FALSE);
    KeInitializeEvent(&Ctx->AbortEvent, SynchronizationEvent, FALSE);
    KeInitializeEvent(&Ctx->ReceiveEvent, SynchronizationEvent, FALSE);
    Ctx->Answer = WskInspectAccept;
}

/* Waits until *Count reaches N (the event is set after each increment). */
#define WaitCount(Count, N, Event, What)                                                                   \
    do {                                                                                                   \
        while ((Count) < (N)) {                                                                            \
            CHECK(Wait(Event), "%s: no %s within %d s", FamilyName, (What), WAIT_SECONDS);                 \
        }                                                                                                  \
    } while (0)

static NTSTATUS WSKAPI OnAccept(PVOID Context, ULONG Flags, PSOCKADDR Local, PSOCKADDR Remote, PWSK_SOCKET Socket,
                                PVOID *AcceptContext, const WSK_CLIENT_CONNECTION_DISPATCH **AcceptDispatch)
{
    CTX *Ctx = (CTX *)Context;

    UNREFERENCED_PARAMETER(Flags);
    UNREFERENCED_PARAMETER(Local);
    CHECK(Ctx != NULL, "WskAcceptEvent without the SocketContext");
    if (Socket == NULL) {
        return STATUS_REQUEST_NOT_ACCEPTED;
    }
    Ctx->Accepted = Socket;
    RtlCopyMemory(&Ctx->AcceptRemote, Remote, AddrLength((SOCKADDR_STORAGE *)Remote));
    *AcceptContext = NULL;
    *AcceptDispatch = NULL;
    InterlockedIncrement(&Ctx->Accepts);
    KeSetEvent(&Ctx->AcceptEvent, IO_NO_INCREMENT, FALSE);
    return STATUS_SUCCESS;
}

static WSK_INSPECT_ACTION WSKAPI OnInspect(PVOID Context, PSOCKADDR Local, PSOCKADDR Remote, PWSK_INSPECT_ID Id)
{
    CTX *Ctx = (CTX *)Context;
    WSK_INSPECT_ACTION Answer = Ctx->Answer;

    if (Id == NULL) {
        InterlockedIncrement(&Ctx->NullInspects);
        return WskInspectReject;
    }
    /* The id and the addresses are valid for the call: copy them. */
    Ctx->LastId = *Id;
    RtlCopyMemory(&Ctx->InspectLocal, Local, AddrLength((SOCKADDR_STORAGE *)Local));
    RtlCopyMemory(&Ctx->InspectRemote, Remote, AddrLength((SOCKADDR_STORAGE *)Remote));
    InterlockedIncrement(&Ctx->Inspects);
    KeSetEvent(&Ctx->InspectEvent, IO_NO_INCREMENT, FALSE);
    return Answer;
}

static NTSTATUS WSKAPI OnAbort(PVOID Context, PWSK_INSPECT_ID Id)
{
    CTX *Ctx = (CTX *)Context;

    CHECK(Id != NULL, "WskAbortEvent without an InspectID");
    Ctx->AbortId = *Id;
    InterlockedIncrement(&Ctx->Aborts);
    KeSetEvent(&Ctx->AbortEvent, IO_NO_INCREMENT, FALSE);
    return STATUS_SUCCESS;
}

static NTSTATUS WSKAPI OnReceive(PVOID Context, ULONG Flags, PWSK_DATA_INDICATION Indication, SIZE_T Indicated,
                                 SIZE_T *Accepted)
{
    CTX *Ctx = (CTX *)Context;

    UNREFERENCED_PARAMETER(Flags);
    UNREFERENCED_PARAMETER(Accepted);
    CHECK(Ctx != NULL, "WskReceiveEvent without the SocketContext");
    for (; Indication != NULL; Indication = Indication->Next) {
        PUCHAR Data = (PUCHAR)MmGetSystemAddressForMdlSafe(Indication->Buffer.Mdl, NormalPagePriority) +
                      Indication->Buffer.Offset;
        SIZE_T Take = Indication->Buffer.Length;

        if (Take > sizeof(Ctx->Data) - Ctx->DataLength) {
            Take = sizeof(Ctx->Data) - Ctx->DataLength;
        }
        RtlCopyMemory(Ctx->Data + Ctx->DataLength, Data, Take);
        Ctx->DataLength += Take;
    }
    UNREFERENCED_PARAMETER(Indicated);
    InterlockedIncrement(&Ctx->Receives);
    KeSetEvent(&Ctx->ReceiveEvent, IO_NO_INCREMENT, FALSE);
    return STATUS_SUCCESS;
}

static const WSK_CLIENT_LISTEN_DISPATCH ListenDispatch = {OnAccept, OnInspect, OnAbort};
static const WSK_CLIENT_LISTEN_DISPATCH AcceptOnlyDispatch = {OnAccept, NULL, NULL};
static const WSK_CLIENT_LISTEN_DISPATCH NoAbortDispatch = {OnAccept, OnInspect, NULL};
static const WSK_CLIENT_CONNECTION_DISPATCH ConnDispatch = {OnReceive, NULL, NULL};
static const WSK_CLIENT_STREAM_DISPATCH StreamDispatch = {&ListenDispatch, &ConnDispatch};

/* ----- socket helpers ----- */

static PWSK_SOCKET NewSocket(USHORT Family, ULONG Flags, PVOID Context, const VOID *Dispatch)
{
    NTSTATUS Status = Finish(Npi.Dispatch->WskSocket(Npi.Client, Family, SOCK_STREAM, IPPROTO_TCP, Flags, Context,
                                                     Dispatch, NULL, NULL, NULL, Arm(&Scratch)),
                             &Scratch);

    CHECK(Status == STATUS_SUCCESS, "%s: WskSocket(flags 0x%lx) 0x%08x", FamilyName, (unsigned long)Flags,
          (unsigned)Status);
    if (Flags == WSK_FLAG_STREAM_SOCKET) {
        StreamTable = ((PWSK_SOCKET)Scratch.Information)->Dispatch;
    } else if (Flags == WSK_FLAG_LISTEN_SOCKET) {
        ListenTable = ((PWSK_SOCKET)Scratch.Information)->Dispatch;
    }
    return (PWSK_SOCKET)Scratch.Information;
}

static void CloseSocket(PWSK_SOCKET Socket)
{
    NTSTATUS Status = Finish(Cn(Socket)->WskCloseSocket(Socket, Arm(&Scratch)), &Scratch);

    CHECK(Status == STATUS_SUCCESS, "%s: WskCloseSocket 0x%08x", FamilyName, (unsigned)Status);
}

/* WskBind through the socket's own table (the slot is at the same place in every table). */
static NTSTATUS Bind(PWSK_SOCKET Socket, SOCKADDR_STORAGE *Addr)
{
    return Finish(St(Socket)->WskBind(Socket, (PSOCKADDR)Addr, 0, Arm(&Scratch)), &Scratch);
}

static void LocalAddress(PWSK_SOCKET Socket, SOCKADDR_STORAGE *Addr)
{
    PFN_WSK_GET_LOCAL_ADDRESS Get = IsStream(Socket)   ? St(Socket)->WskGetLocalAddress
                                    : IsListen(Socket) ? Ls(Socket)->WskGetLocalAddress
                                                       : Cn(Socket)->WskGetLocalAddress;

    RtlZeroMemory(Addr, sizeof(*Addr));
    Expect(Get(Socket, (PSOCKADDR)Addr, Arm(&Scratch)), &Scratch, STATUS_SUCCESS, "WskGetLocalAddress");
}

/* A listening socket with Dispatch, bound to loopback; ConditionalAccept set before bind. */
static PWSK_SOCKET Listener(USHORT Family, CTX *Ctx, const WSK_CLIENT_LISTEN_DISPATCH *Dispatch,
                            BOOLEAN ConditionalAccept, SOCKADDR_STORAGE *Bound)
{
    PWSK_SOCKET L = NewSocket(Family, WSK_FLAG_LISTEN_SOCKET, Ctx, Dispatch);
    SOCKADDR_STORAGE Any;

    if (ConditionalAccept) {
        ULONG On = 1;

        Expect(Ls(L)->WskControlSocket(L, WskSetOption, SO_CONDITIONAL_ACCEPT, SOL_SOCKET, sizeof(On), &On, 0, NULL,
                                       NULL, Arm(&Scratch)),
               &Scratch, STATUS_SUCCESS, "SO_CONDITIONAL_ACCEPT 1");
    }
    Loopback(Family, 0, &Any);
    CHECK(Bind(L, &Any) == STATUS_SUCCESS, "%s: bind the listener", FamilyName);
    LocalAddress(L, Bound);
    return L;
}

/* WskSocketConnect to Remote: its status, the socket in *Socket. */
static NTSTATUS TryPeer(USHORT Family, SOCKADDR_STORAGE *Remote, PWSK_SOCKET *Socket)
{
    SOCKADDR_STORAGE Local;
    NTSTATUS Status;

    Loopback(Family, 0, &Local);
    Status = Finish(Npi.Dispatch->WskSocketConnect(Npi.Client, SOCK_STREAM, IPPROTO_TCP, (PSOCKADDR)&Local,
                                                   (PSOCKADDR)Remote, 0, NULL, NULL, NULL, NULL, NULL,
                                                   Arm(&Scratch)),
                    &Scratch);
    *Socket = (PWSK_SOCKET)Scratch.Information;
    return Status;
}

/* A peer: WskSocketConnect to Remote (completes once the host finished the handshake). */
static PWSK_SOCKET Peer(USHORT Family, SOCKADDR_STORAGE *Remote, SOCKADDR_STORAGE *PeerLocal)
{
    PWSK_SOCKET S;
    NTSTATUS Status = TryPeer(Family, Remote, &S);

    CHECK(Status == STATUS_SUCCESS, "%s: WskSocketConnect 0x%08x", FamilyName, (unsigned)Status);
    if (PeerLocal != NULL) {
        LocalAddress(S, PeerLocal);
    }
    return S;
}

/* A receive of up to Length bytes into Data; its final status (Information in *Got). */
static NTSTATUS ReceiveOn(PWSK_SOCKET Socket, PUCHAR Data, SIZE_T Length, ULONG Flags, SIZE_T *Got)
{
    PMDL Mdl = IoAllocateMdl(Data, (ULONG)Length, FALSE, FALSE, NULL);
    WSK_BUF Buf;
    NTSTATUS Status;

    CHECK(Mdl != NULL, "IoAllocateMdl");
    MmBuildMdlForNonPagedPool(Mdl);
    Buf.Mdl = Mdl;
    Buf.Offset = 0;
    Buf.Length = Length;
    Status = Finish((IsStream(Socket) ? St(Socket)->WskReceive : Cn(Socket)->WskReceive)(Socket, &Buf, Flags,
                                                                                         Arm(&Scratch)),
                    &Scratch);
    *Got = Scratch.Information;
    IoFreeMdl(Mdl);
    return Status;
}

/* Sends Length bytes of Data; its final status. */
static NTSTATUS SendOn(PWSK_SOCKET Socket, const char *Data, SIZE_T Length)
{
    PUCHAR Copy = (PUCHAR)ExAllocatePool2(POOL_FLAG_NON_PAGED, Length, TAG);
    PMDL Mdl;
    WSK_BUF Buf;
    NTSTATUS Status;

    CHECK(Copy != NULL, "pool");
    RtlCopyMemory(Copy, Data, Length);
    Mdl = IoAllocateMdl(Copy, (ULONG)Length, FALSE, FALSE, NULL);
    CHECK(Mdl != NULL, "IoAllocateMdl");
    MmBuildMdlForNonPagedPool(Mdl);
    Buf.Mdl = Mdl;
    Buf.Offset = 0;
    Buf.Length = Length;
    Status = Finish((IsStream(Socket) ? St(Socket)->WskSend : Cn(Socket)->WskSend)(Socket, &Buf, 0, Arm(&Scratch)),
                    &Scratch);
    CHECK(Status != STATUS_SUCCESS || Scratch.Information == Length, "sent %lu of %lu bytes",
          (unsigned long)Scratch.Information, (unsigned long)Length);
    IoFreeMdl(Mdl);
    ExFreePoolWithTag(Copy, TAG);
    return Status;
}

/* Receives exactly strlen(Text) bytes and compares them. */
static void ExpectText(PWSK_SOCKET Socket, const char *Text)
{
    UCHAR Data[256];
    SIZE_T Got = 0;
    SIZE_T Length = strlen(Text);
    NTSTATUS Status = ReceiveOn(Socket, Data, Length, WSK_FLAG_WAITALL, &Got);

    CHECK(Status == STATUS_SUCCESS && Got == Length && memcmp(Data, Text, Length) == 0,
          "%s: receive \"%s\": 0x%08x, %lu bytes", FamilyName, Text, (unsigned)Status, (unsigned long)Got);
}

/* The peer of a rejected (reset) connection: its receive fails with STATUS_CONNECTION_RESET. */
static void ExpectReset(PWSK_SOCKET Peer)
{
    UCHAR Data[16];
    SIZE_T Got = 0;
    NTSTATUS Status = ReceiveOn(Peer, Data, sizeof(Data), 0, &Got);

    CHECK(Status == STATUS_CONNECTION_RESET, "%s: the peer's receive after a reject: 0x%08x (%lu bytes)", FamilyName,
          (unsigned)Status, (unsigned long)Got);
}

static NTSTATUS SetEvents(PWSK_SOCKET Socket, ULONG Mask)
{
    WSK_EVENT_CALLBACK_CONTROL Control;

    Control.NpiId = &NPI_WSK_INTERFACE_ID;
    Control.EventMask = Mask;
    return Cn(Socket)->WskControlSocket(Socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, sizeof(Control),
                                        &Control, 0, NULL, NULL, NULL);
}

static BOOLEAN SameId(const WSK_INSPECT_ID *A, const WSK_INSPECT_ID *B)
{
    return A->Key == B->Key && A->SerialNumber == B->SerialNumber;
}

/* ----- 1. stream sockets ----- */

static void StreamSockets(USHORT Family)
{
    CTX ServerCtx, ClientCtx;
    PWSK_SOCKET Server, Client, Other, Accepted, Peer2;
    SOCKADDR_STORAGE Any, ServerAddr, ClientAddr, Got, Remote;
    WSK_BUF Buf;
    UCHAR Data[16];
    SIZE_T Received;
    NTSTATUS Status;
    PMDL Mdl;
    static char First[] = "first buffer";

    CtxInit(&ServerCtx);
    CtxInit(&ClientCtx);
    Loopback(Family, 0, &Any);

    /* The stream table; nothing works before bind but bind. */
    Server = NewSocket(Family, WSK_FLAG_STREAM_SOCKET, &ServerCtx, &StreamDispatch);
    CHECK(St(Server)->WskListen != NULL && St(Server)->WskConnectEx != NULL && St(Server)->WskReceiveEx != NULL,
          "%s: the stream table has every slot", FamilyName);
    Expect(St(Server)->WskListen(Server, Arm(&Scratch)), &Scratch, STATUS_INVALID_DEVICE_STATE, "WskListen before bind");
    Expect(St(Server)->WskConnect(Server, (PSOCKADDR)&Any, 0, Arm(&Scratch)), &Scratch, STATUS_INVALID_DEVICE_STATE,
           "WskConnect before bind");
    Expect(St(Server)->WskGetLocalAddress(Server, (PSOCKADDR)&Got, Arm(&Scratch)), &Scratch,
           STATUS_INVALID_DEVICE_STATE, "WskGetLocalAddress before bind");
    CHECK(Bind(Server, &Any) == STATUS_SUCCESS, "%s: WskBind of a stream socket", FamilyName);
    LocalAddress(Server, &ServerAddr);
    CHECK(INETADDR_PORT((PSOCKADDR)&ServerAddr) != 0, "%s: the port is assigned at bind", FamilyName);

    /* Bound, uncommitted: the address is in use already; role calls are refused. */
    Other = NewSocket(Family, WSK_FLAG_STREAM_SOCKET, NULL, NULL);
    CHECK(Bind(Other, &ServerAddr) == STATUS_ADDRESS_ALREADY_ASSOCIATED, "%s: bind to a bound stream's address",
          FamilyName);
    CloseSocket(Other);
    Accepted = NULL;
    Expect(St(Server)->WskAccept(Server, 0, NULL, NULL, NULL, NULL, Arm(&Scratch)), &Scratch,
           STATUS_INVALID_DEVICE_STATE, "WskAccept before WskListen");
    CHECK(SendOn(Server, "x", 1) == STATUS_INVALID_DEVICE_STATE, "%s: WskSend before WskConnect", FamilyName);
    CHECK(SetEvents(Server, WSK_EVENT_ACCEPT) == STATUS_INVALID_DEVICE_STATE, "%s: events before the commit",
          FamilyName);

    /* WskListen: a listener now. */
    Expect(St(Server)->WskListen(Server, Arm(&Scratch)), &Scratch, STATUS_SUCCESS, "WskListen");
    Expect(St(Server)->WskListen(Server, Arm(&Scratch)), &Scratch, STATUS_INVALID_DEVICE_STATE, "WskListen twice");
    Expect(St(Server)->WskConnect(Server, (PSOCKADDR)&ServerAddr, 0, Arm(&Scratch)), &Scratch,
           STATUS_INVALID_DEVICE_STATE, "WskConnect on a listening stream socket");
    CHECK(SendOn(Server, "x", 1) == STATUS_INVALID_DEVICE_STATE, "%s: WskSend on a listening stream socket",
          FamilyName);
    Expect(St(Server)->WskGetRemoteAddress(Server, (PSOCKADDR)&Got, Arm(&Scratch)), &Scratch,
           STATUS_INVALID_DEVICE_STATE, "WskGetRemoteAddress on a listening stream socket");
    Expect(St(Server)->WskBind(Server, (PSOCKADDR)&Any, 0, Arm(&Scratch)), &Scratch, STATUS_INVALID_DEVICE_STATE,
           "WskBind after WskListen");

    /* WskConnect: a connection now; the server's pending WskAccept gets it. */
    Client = NewSocket(Family, WSK_FLAG_STREAM_SOCKET, &ClientCtx, &StreamDispatch);
    CHECK(Bind(Client, &Any) == STATUS_SUCCESS, "%s: bind the client", FamilyName);
    {
        OP AcceptOp;
        SOCKADDR_STORAGE AcceptLocal, AcceptRemote;

        OpInit(&AcceptOp);
        Status = St(Server)->WskAccept(Server, 0, NULL, NULL, (PSOCKADDR)&AcceptLocal, (PSOCKADDR)&AcceptRemote,
                                       Arm(&AcceptOp));
        Expect(St(Client)->WskConnect(Client, (PSOCKADDR)&ServerAddr, 0, Arm(&Scratch)), &Scratch, STATUS_SUCCESS,
               "WskConnect of a stream socket");
        CHECK(Finish(Status, &AcceptOp) == STATUS_SUCCESS, "%s: WskAccept on a listening stream socket",
              FamilyName);
        Accepted = (PWSK_SOCKET)AcceptOp.Information;
        LocalAddress(Client, &ClientAddr);
        CHECK(SameAddr(&AcceptRemote, &ClientAddr), "%s: the accepted remote is the client", FamilyName);
        CHECK(SameAddr(&AcceptLocal, &ServerAddr), "%s: the accepted local is the server", FamilyName);
        OpFree(&AcceptOp);
    }
    CHECK(Accepted->Dispatch != Server->Dispatch, "%s: an accepted socket has the connection table", FamilyName);
    Expect(St(Client)->WskGetRemoteAddress(Client, (PSOCKADDR)&Remote, Arm(&Scratch)), &Scratch, STATUS_SUCCESS,
           "WskGetRemoteAddress of a connected stream socket");
    CHECK(SameAddr(&Remote, &ServerAddr), "%s: the remote address is the server", FamilyName);
    Expect(St(Client)->WskAccept(Client, 0, NULL, NULL, NULL, NULL, Arm(&Scratch)), &Scratch,
           STATUS_INVALID_DEVICE_STATE, "WskAccept on a connected stream socket");
    Expect(St(Client)->WskListen(Client, Arm(&Scratch)), &Scratch, STATUS_INVALID_DEVICE_STATE,
           "WskListen on a connected stream socket");
    Expect(St(Client)->WskConnect(Client, (PSOCKADDR)&ServerAddr, 0, Arm(&Scratch)), &Scratch,
           STATUS_INVALID_DEVICE_STATE, "WskConnect twice");

    /* Data both ways through the stream table. */
    CHECK(SendOn(Client, "stream send", 11) == STATUS_SUCCESS, "%s: WskSend of a stream socket", FamilyName);
    ExpectText(Accepted, "stream send");
    CHECK(SendOn(Accepted, "stream receive", 14) == STATUS_SUCCESS, "%s: send to the stream socket", FamilyName);
    ExpectText(Client, "stream receive");
    /* The Connect table's WskReceiveEvent, with the client's context. */
    CHECK(SetEvents(Client, WSK_EVENT_RECEIVE) == STATUS_SUCCESS, "%s: enable receive events", FamilyName);
    CHECK(SendOn(Accepted, "to the connect table", 20) == STATUS_SUCCESS, "%s: send", FamilyName);
    while (ClientCtx.DataLength < 20) {
        CHECK(Wait(&ClientCtx.ReceiveEvent), "%s: no WskReceiveEvent within %d s", FamilyName, WAIT_SECONDS);
    }
    CHECK(memcmp(ClientCtx.Data, "to the connect table", 20) == 0, "%s: the indicated bytes", FamilyName);
    /* The Listen table's WskAcceptEvent, with the server's context. */
    CHECK(SetEvents(Server, WSK_EVENT_ACCEPT) == STATUS_SUCCESS, "%s: enable accept events", FamilyName);
    Peer2 = Peer(Family, &ServerAddr, &Got);
    WaitCount(ServerCtx.Accepts, 1, &ServerCtx.AcceptEvent, "WskAcceptEvent");
    CHECK(SameAddr(&ServerCtx.AcceptRemote, &Got), "%s: the accept event's remote", FamilyName);
    CloseSocket(ServerCtx.Accepted);
    CloseSocket(Peer2);

    /* Graceful WskDisconnect through the stream table: the peer reads the end of stream. */
    Expect(St(Client)->WskDisconnect(Client, NULL, 0, Arm(&Scratch)), &Scratch, STATUS_SUCCESS,
           "WskDisconnect of a stream socket");
    Status = ReceiveOn(Accepted, Data, sizeof(Data), 0, &Received);
    CHECK(Status == STATUS_SUCCESS && Received == 0, "%s: the FIN: 0x%08x, %lu bytes", FamilyName, (unsigned)Status,
          (unsigned long)Received);
    CloseSocket(Accepted);
    CloseSocket(Client);

    /* WskConnectEx with a first buffer (server's accept event takes the connection). */
    ServerCtx.Accepts = 0;
    Client = NewSocket(Family, WSK_FLAG_STREAM_SOCKET, &ClientCtx, &StreamDispatch);
    CHECK(Bind(Client, &Any) == STATUS_SUCCESS, "%s: bind", FamilyName);
    Mdl = IoAllocateMdl(First, sizeof(First) - 1, FALSE, FALSE, NULL);
    CHECK(Mdl != NULL, "IoAllocateMdl");
    MmBuildMdlForNonPagedPool(Mdl);
    Buf.Mdl = Mdl;
    Buf.Offset = 0;
    Buf.Length = sizeof(First) - 1;
    Expect(St(Client)->WskConnectEx(Client, (PSOCKADDR)&ServerAddr, &Buf, 0, Arm(&Scratch)), &Scratch,
           STATUS_SUCCESS, "WskConnectEx of a stream socket");
    IoFreeMdl(Mdl);
    WaitCount(ServerCtx.Accepts, 1, &ServerCtx.AcceptEvent, "WskAcceptEvent after WskConnectEx");
    ExpectText(ServerCtx.Accepted, "first buffer");
    Expect(St(Client)->WskListen(Client, Arm(&Scratch)), &Scratch, STATUS_INVALID_DEVICE_STATE,
           "WskListen after WskConnectEx");
    CloseSocket(ServerCtx.Accepted);
    CloseSocket(Client);

    /* No Connect table: connection events cannot be enabled (they would be lost);
       WskSendEx and WskReceiveEx through the stream table. */
    ServerCtx.Accepts = 0;
    Client = NewSocket(Family, WSK_FLAG_STREAM_SOCKET, NULL, NULL);
    CHECK(Bind(Client, &Any) == STATUS_SUCCESS, "%s: bind", FamilyName);
    Expect(St(Client)->WskConnect(Client, (PSOCKADDR)&ServerAddr, 0, Arm(&Scratch)), &Scratch, STATUS_SUCCESS,
           "WskConnect");
    CHECK(SetEvents(Client, WSK_EVENT_RECEIVE) == STATUS_INVALID_PARAMETER,
          "%s: receive events without a Connect table", FamilyName);
    WaitCount(ServerCtx.Accepts, 1, &ServerCtx.AcceptEvent, "WskAcceptEvent");
    {
        char Ex[] = "send-ex";
        ULONG ControlLength = 99;

        Mdl = IoAllocateMdl(Ex, sizeof(Ex) - 1, FALSE, FALSE, NULL);
        CHECK(Mdl != NULL, "IoAllocateMdl");
        MmBuildMdlForNonPagedPool(Mdl);
        Buf.Mdl = Mdl;
        Buf.Offset = 0;
        Buf.Length = sizeof(Ex) - 1;
        Expect(St(Client)->WskSendEx(Client, &Buf, 0, 0, NULL, Arm(&Scratch)), &Scratch, STATUS_SUCCESS,
               "WskSendEx of a stream socket");
        ExpectText(ServerCtx.Accepted, "send-ex");
        CHECK(SendOn(ServerCtx.Accepted, "receive-ex", 10) == STATUS_SUCCESS, "%s: send", FamilyName);
        Buf.Length = 7;
        Expect(St(Client)->WskReceiveEx(Client, &Buf, WSK_FLAG_WAITALL, &ControlLength, NULL, NULL, Arm(&Scratch)),
               &Scratch, STATUS_SUCCESS, "WskReceiveEx of a stream socket");
        CHECK(Scratch.Information == 7 && memcmp(Ex, "receive", 7) == 0 && ControlLength == 0,
              "%s: WskReceiveEx: %lu bytes, control length %lu", FamilyName, (unsigned long)Scratch.Information,
              (unsigned long)ControlLength);
        IoFreeMdl(Mdl);
    }
    CloseSocket(ServerCtx.Accepted);
    CloseSocket(Client);
    CloseSocket(Server);

    /* Options before bind through the stream table: IPV6_V6ONLY (AF_INET6) and
       SO_REUSEADDR; afterwards they are refused. */
    Other = NewSocket(Family, WSK_FLAG_STREAM_SOCKET, NULL, NULL);
    {
        ULONG Off = 0, On = 1;

        if (Family == AF_INET6) {
            Expect(St(Other)->WskControlSocket(Other, WskSetOption, IPV6_V6ONLY, IPPROTO_IPV6, sizeof(Off), &Off, 0,
                                               NULL, NULL, Arm(&Scratch)),
                   &Scratch, STATUS_SUCCESS, "IPV6_V6ONLY 0 before bind");
        }
        Expect(St(Other)->WskControlSocket(Other, WskSetOption, SO_REUSEADDR, SOL_SOCKET, sizeof(On), &On, 0, NULL,
                                           NULL, Arm(&Scratch)),
               &Scratch, STATUS_SUCCESS, "SO_REUSEADDR before bind");
        CHECK(Bind(Other, &Any) == STATUS_SUCCESS, "%s: bind", FamilyName);
        Expect(St(Other)->WskControlSocket(Other, WskSetOption, SO_REUSEADDR, SOL_SOCKET, sizeof(On), &On, 0, NULL,
                                           NULL, Arm(&Scratch)),
               &Scratch, STATUS_INVALID_DEVICE_STATE, "SO_REUSEADDR after bind");
    }
    CloseSocket(Other);

    /* Closing an uncommitted socket, bound or not. */
    Other = NewSocket(Family, WSK_FLAG_STREAM_SOCKET, NULL, NULL);
    CloseSocket(Other);
    Other = NewSocket(Family, WSK_FLAG_STREAM_SOCKET, NULL, NULL);
    CHECK(Bind(Other, &Any) == STATUS_SUCCESS, "%s: bind", FamilyName);
    CloseSocket(Other);
    printf("stream_cond: %s stream sockets: bind, listen, accept, connect, connect-ex, roles, events\n", FamilyName);
}

/* ----- 2. conditional accept ----- */

static NTSTATUS SetConditional(PWSK_SOCKET Socket, ULONG Value, PIRP Irp)
{
    return Cn(Socket)->WskControlSocket(Socket, WskSetOption, SO_CONDITIONAL_ACCEPT, SOL_SOCKET, sizeof(Value),
                                        &Value, 0, NULL, NULL, Irp);
}

/* SIO_WSK_QUERY_INSPECT_ID (IRP NULL): its status, the id in *Id. */
static NTSTATUS QueryId(PWSK_SOCKET Socket, WSK_INSPECT_ID *Id, SIZE_T OutSize, SIZE_T *Returned, PIRP Irp)
{
    return Cn(Socket)->WskControlSocket(Socket, WskIoctl, SIO_WSK_QUERY_INSPECT_ID, 0, 0, NULL, OutSize, Id,
                                        Returned, Irp);
}

static NTSTATUS InspectComplete(PWSK_SOCKET Listener, WSK_INSPECT_ID *Id, WSK_INSPECT_ACTION Action)
{
    PWSK_PROVIDER_LISTEN_DISPATCH L = Ls(Listener);

    return Finish(L->WskInspectComplete(Listener, Id, Action, Arm(&Scratch)), &Scratch);
}

static void ConditionalOption(USHORT Family)
{
    CTX Ctx;
    PWSK_SOCKET L, C;
    SOCKADDR_STORAGE Any, Bound;
    ULONG Value = 7;
    SIZE_T Returned = 0;

    CtxInit(&Ctx);
    Loopback(Family, 0, &Any);
    /* Without WskInspectEvent/WskAbortEvent the inspections would be lost. */
    L = NewSocket(Family, WSK_FLAG_LISTEN_SOCKET, &Ctx, &AcceptOnlyDispatch);
    Expect(SetConditional(L, 1, Arm(&Scratch)), &Scratch, STATUS_INVALID_PARAMETER, "no WskInspectEvent");
    Expect(SetConditional(L, 0, Arm(&Scratch)), &Scratch, STATUS_SUCCESS, "turning it off needs no callbacks");
    CloseSocket(L);
    L = NewSocket(Family, WSK_FLAG_LISTEN_SOCKET, &Ctx, &NoAbortDispatch);
    Expect(SetConditional(L, 1, Arm(&Scratch)), &Scratch, STATUS_INVALID_PARAMETER, "no WskAbortEvent");
    CloseSocket(L);
    L = NewSocket(Family, WSK_FLAG_LISTEN_SOCKET, NULL, NULL);
    Expect(SetConditional(L, 1, Arm(&Scratch)), &Scratch, STATUS_INVALID_PARAMETER, "no listen dispatch");
    CloseSocket(L);

    L = NewSocket(Family, WSK_FLAG_LISTEN_SOCKET, &Ctx, &ListenDispatch);
    /* The IRP is required. */
    CHECK(SetConditional(L, 1, NULL) == STATUS_INVALID_PARAMETER, "%s: SO_CONDITIONAL_ACCEPT without an IRP",
          FamilyName);
    Expect(Ls(L)->WskControlSocket(L, WskGetOption, SO_CONDITIONAL_ACCEPT, SOL_SOCKET, 0, NULL, sizeof(Value), &Value,
                                   &Returned, Arm(&Scratch)),
           &Scratch, STATUS_SUCCESS, "get SO_CONDITIONAL_ACCEPT");
    CHECK(Value == 0 && Returned == sizeof(ULONG) && Scratch.Information == sizeof(ULONG),
          "%s: off by default (value %lu, %lu bytes)", FamilyName, (unsigned long)Value, (unsigned long)Returned);
    Expect(SetConditional(L, 1, Arm(&Scratch)), &Scratch, STATUS_SUCCESS, "SO_CONDITIONAL_ACCEPT 1");
    Expect(Ls(L)->WskControlSocket(L, WskGetOption, SO_CONDITIONAL_ACCEPT, SOL_SOCKET, 0, NULL, 2, &Value, &Returned,
                                   Arm(&Scratch)),
           &Scratch, STATUS_BUFFER_TOO_SMALL, "get into 2 bytes");
    Expect(Ls(L)->WskControlSocket(L, WskGetOption, SO_CONDITIONAL_ACCEPT, SOL_SOCKET, 0, NULL, sizeof(Value), &Value,
                                   &Returned, Arm(&Scratch)),
           &Scratch, STATUS_SUCCESS, "get SO_CONDITIONAL_ACCEPT");
    CHECK(Value == 1, "%s: SO_CONDITIONAL_ACCEPT reads %lu", FamilyName, (unsigned long)Value);
    CHECK(Bind(L, &Any) == STATUS_SUCCESS, "%s: bind", FamilyName);
    Expect(SetConditional(L, 0, Arm(&Scratch)), &Scratch, STATUS_INVALID_DEVICE_STATE, "after bind");
    LocalAddress(L, &Bound);
    /* Not an option of connection sockets. */
    C = Peer(Family, &Bound, NULL);
    Expect(SetConditional(C, 1, Arm(&Scratch)), &Scratch, STATUS_NOT_SUPPORTED, "on a connection socket");
    /* Not a listener's IOCTL either; no id on a socket that was not inspected. */
    Returned = 0;
    CHECK(QueryId(L, (WSK_INSPECT_ID *)&Value, 16, &Returned, NULL) == STATUS_INVALID_DEVICE_REQUEST,
          "%s: SIO_WSK_QUERY_INSPECT_ID on a listener", FamilyName);
    {
        WSK_INSPECT_ID Id;

        CHECK(QueryId(C, &Id, sizeof(Id), &Returned, NULL) == STATUS_INVALID_DEVICE_REQUEST,
              "%s: SIO_WSK_QUERY_INSPECT_ID on a WskSocketConnect socket", FamilyName);
    }
    /* The peer was inspected (answer Accept) and waits for a consumer: closing resets it. */
    WaitCount(Ctx.Inspects, 1, &Ctx.InspectEvent, "WskInspectEvent");
    CloseSocket(L);
    ExpectReset(C);
    CloseSocket(C);
    printf("stream_cond: %s SO_CONDITIONAL_ACCEPT set/get rules\n", FamilyName);
}

static void Inspections(USHORT Family)
{
    CTX Ctx;
    PWSK_SOCKET L, P1, P2, A;
    SOCKADDR_STORAGE Bound, P1Addr, P2Addr;
    WSK_INSPECT_ID Id, Pended, Queried, Unknown = {12345, 99};
    SIZE_T Returned;
    OP AcceptOp;
    NTSTATUS Status;

    CtxInit(&Ctx);
    OpInit(&AcceptOp);
    L = Listener(Family, &Ctx, &ListenDispatch, TRUE, &Bound);

    /* Accept: delivered to the pending WskAccept; its id can be queried. */
    Ctx.Answer = WskInspectAccept;
    Status = Ls(L)->WskAccept(L, 0, NULL, NULL, NULL, NULL, Arm(&AcceptOp));
    P1 = Peer(Family, &Bound, &P1Addr);
    WaitCount(Ctx.Inspects, 1, &Ctx.InspectEvent, "WskInspectEvent");
    CHECK(SameAddr(&Ctx.InspectRemote, &P1Addr), "%s: the inspected remote is the peer", FamilyName);
    CHECK(SameAddr(&Ctx.InspectLocal, &Bound), "%s: the inspected local is the listener", FamilyName);
    Id = Ctx.LastId;
    CHECK(Finish(Status, &AcceptOp) == STATUS_SUCCESS, "%s: WskAccept after WskInspectAccept", FamilyName);
    A = (PWSK_SOCKET)AcceptOp.Information;
    Returned = 0;
    RtlZeroMemory(&Queried, sizeof(Queried));
    CHECK(QueryId(A, &Queried, sizeof(Queried), &Returned, NULL) == STATUS_SUCCESS,
          "%s: SIO_WSK_QUERY_INSPECT_ID on the accepted socket", FamilyName);
    CHECK(SameId(&Queried, &Id) && Returned == sizeof(WSK_INSPECT_ID), "%s: the queried id (%lu bytes)", FamilyName,
          (unsigned long)Returned);
    /* Its rules: the IRP must be NULL (completed with the answer), OutputSizeReturned is
       required, the buffer must hold a WSK_INSPECT_ID. */
    Expect(QueryId(A, &Queried, sizeof(Queried), &Returned, Arm(&Scratch)), &Scratch, STATUS_INVALID_PARAMETER,
           "SIO_WSK_QUERY_INSPECT_ID with an IRP");
    CHECK(QueryId(A, &Queried, sizeof(Queried), NULL, NULL) == STATUS_INVALID_PARAMETER,
          "%s: SIO_WSK_QUERY_INSPECT_ID without OutputSizeReturned", FamilyName);
    CHECK(QueryId(A, &Queried, 8, &Returned, NULL) == STATUS_BUFFER_TOO_SMALL,
          "%s: SIO_WSK_QUERY_INSPECT_ID into 8 bytes", FamilyName);
    CHECK(SendOn(P1, "inspected", 9) == STATUS_SUCCESS, "%s: the peer sends", FamilyName);
    ExpectText(A, "inspected");
    CloseSocket(A);
    CloseSocket(P1);

    /* Reject: the peer (connected by the host) reads a reset; no accept, no abort. */
    Ctx.Answer = WskInspectReject;
    Status = Ls(L)->WskAccept(L, 0, NULL, NULL, NULL, NULL, Arm(&AcceptOp));
    CHECK(Status == STATUS_PENDING, "%s: WskAccept pends", FamilyName);
    /* (The reset may reach the peer before its connect is seen complete: then the connect
       itself fails with it.) */
    Status = TryPeer(Family, &Bound, &P1);
    WaitCount(Ctx.Inspects, 2, &Ctx.InspectEvent, "WskInspectEvent");
    CHECK(Status == STATUS_SUCCESS || Status == STATUS_CONNECTION_RESET, "%s: the rejected peer's connect 0x%08x",
          FamilyName, (unsigned)Status);
    if (Status == STATUS_SUCCESS) {
        ExpectReset(P1);
        CloseSocket(P1);
    }
    Status = STATUS_PENDING; /* the WskAccept above */
    CHECK(AcceptOp.Calls == 0, "%s: a rejected connection completed the pending WskAccept", FamilyName);

    /* Pend, then WskInspectComplete(Accept): the pending WskAccept gets it (not before). */
    Ctx.Answer = WskInspectPend;
    P1 = Peer(Family, &Bound, &P1Addr);
    WaitCount(Ctx.Inspects, 3, &Ctx.InspectEvent, "WskInspectEvent");
    Pended = Ctx.LastId;
    CHECK(!SameId(&Pended, &Id), "%s: every inspection has its own id", FamilyName);
    CHECK(SendOn(P1, "pended", 6) == STATUS_SUCCESS, "%s: a pended peer sees an established connection",
          FamilyName);
    CHECK(AcceptOp.Calls == 0, "%s: a pended connection completed the pending WskAccept", FamilyName);
    CHECK(InspectComplete(L, &Pended, WskInspectPend) == STATUS_INVALID_PARAMETER,
          "%s: WskInspectComplete(WskInspectPend)", FamilyName);
    CHECK(InspectComplete(L, &Unknown, WskInspectAccept) == STATUS_INVALID_PARAMETER,
          "%s: WskInspectComplete of an unknown id", FamilyName);
    {
        /* The id's contents name it: a copy does. */
        WSK_INSPECT_ID Copy = Pended;

        CHECK(InspectComplete(L, &Copy, WskInspectAccept) == STATUS_SUCCESS, "%s: WskInspectComplete(Accept)",
              FamilyName);
    }
    CHECK(Finish(Status, &AcceptOp) == STATUS_SUCCESS, "%s: WskAccept after WskInspectComplete(Accept)",
          FamilyName);
    A = (PWSK_SOCKET)AcceptOp.Information;
    CHECK(QueryId(A, &Queried, sizeof(Queried), &Returned, NULL) == STATUS_SUCCESS && SameId(&Queried, &Pended),
          "%s: the pended connection's id", FamilyName);
    ExpectText(A, "pended");
    CHECK(InspectComplete(L, &Pended, WskInspectAccept) == STATUS_INVALID_PARAMETER,
          "%s: WskInspectComplete twice", FamilyName);
    CloseSocket(A);
    CloseSocket(P1);

    /* Pend, then WskInspectComplete(Reject): the peer reads a reset. */
    P1 = Peer(Family, &Bound, NULL);
    WaitCount(Ctx.Inspects, 4, &Ctx.InspectEvent, "WskInspectEvent");
    Pended = Ctx.LastId;
    CHECK(InspectComplete(L, &Pended, WskInspectReject) == STATUS_SUCCESS, "%s: WskInspectComplete(Reject)",
          FamilyName);
    ExpectReset(P1);
    CloseSocket(P1);

    /* Pend, then the peer resets (closes without disconnecting): WskAbortEvent names it;
       completing it never delivers it (a WskAccept waits meanwhile). */
    Status = Ls(L)->WskAccept(L, 0, NULL, NULL, NULL, NULL, Arm(&AcceptOp));
    CHECK(Status == STATUS_PENDING, "%s: WskAccept pends", FamilyName);
    P1 = Peer(Family, &Bound, NULL);
    WaitCount(Ctx.Inspects, 5, &Ctx.InspectEvent, "WskInspectEvent");
    Pended = Ctx.LastId;
    CloseSocket(P1);
    WaitCount(Ctx.Aborts, 1, &Ctx.AbortEvent, "WskAbortEvent");
    CHECK(SameId(&Ctx.AbortId, &Pended), "%s: WskAbortEvent names the pended request", FamilyName);
    CHECK(InspectComplete(L, &Pended, WskInspectAccept) == STATUS_CONNECTION_RESET,
          "%s: WskInspectComplete after WskAbortEvent", FamilyName);

    /* The WskAccept still waits: the next accepted connection takes it. */
    CHECK(AcceptOp.Calls == 0, "%s: an aborted connection completed the pending WskAccept", FamilyName);
    Ctx.Answer = WskInspectAccept;
    P2 = Peer(Family, &Bound, &P2Addr);
    CHECK(Finish(Status, &AcceptOp) == STATUS_SUCCESS, "%s: WskAccept", FamilyName);
    A = (PWSK_SOCKET)AcceptOp.Information;
    CHECK(QueryId(A, &Queried, sizeof(Queried), &Returned, NULL) == STATUS_SUCCESS, "%s: query", FamilyName);
    CHECK(!SameId(&Queried, &Pended) && Ctx.Inspects == 6, "%s: the aborted connection was never delivered",
          FamilyName);
    CHECK(Ctx.Aborts == 1 && Ctx.NullInspects == 0, "%s: %ld aborts, %ld NULL inspections", FamilyName,
          (long)Ctx.Aborts, (long)Ctx.NullInspects);
    CloseSocket(A);
    CloseSocket(P2);
    /* WskInspectComplete on a connection socket: the wrong category. */
    P1 = Peer(Family, &Bound, NULL);
    Expect(Ls(L)->WskInspectComplete(P1, &Pended, WskInspectAccept, Arm(&Scratch)), &Scratch,
           STATUS_INVALID_DEVICE_REQUEST, "WskInspectComplete on a connection socket");
    CloseSocket(P1);
    CloseSocket(L);
    OpFree(&AcceptOp);
    printf("stream_cond: %s inspect accept / reject / pend, abort, SIO_WSK_QUERY_INSPECT_ID\n", FamilyName);
}

/* ----- 3. conditional accept on a stream socket ----- */

static void StreamConditional(USHORT Family)
{
    CTX Ctx;
    PWSK_SOCKET S, P1, A;
    SOCKADDR_STORAGE Any, Bound, P1Addr;
    WSK_INSPECT_ID Pended, Queried;
    SIZE_T Returned = 0;
    OP AcceptOp;
    NTSTATUS Status;
    /* WskInspectComplete is in the listen table only: take it from a listening socket. */
    PWSK_SOCKET Any_listener = NewSocket(Family, WSK_FLAG_LISTEN_SOCKET, NULL, NULL);
    PFN_WSK_INSPECT_COMPLETE Complete = Ls(Any_listener)->WskInspectComplete;

    CloseSocket(Any_listener);
    CtxInit(&Ctx);
    OpInit(&AcceptOp);
    Loopback(Family, 0, &Any);
    S = NewSocket(Family, WSK_FLAG_STREAM_SOCKET, &Ctx, &StreamDispatch);
    Expect(SetConditional(S, 1, Arm(&Scratch)), &Scratch, STATUS_SUCCESS, "SO_CONDITIONAL_ACCEPT on a stream socket");
    CHECK(Bind(S, &Any) == STATUS_SUCCESS, "%s: bind", FamilyName);
    Expect(SetConditional(S, 0, Arm(&Scratch)), &Scratch, STATUS_INVALID_DEVICE_STATE, "after bind");
    Expect(St(S)->WskListen(S, Arm(&Scratch)), &Scratch, STATUS_SUCCESS, "WskListen");
    LocalAddress(S, &Bound);
    Ctx.Answer = WskInspectPend;
    Status = St(S)->WskAccept(S, 0, NULL, NULL, NULL, NULL, Arm(&AcceptOp));
    P1 = Peer(Family, &Bound, &P1Addr);
    WaitCount(Ctx.Inspects, 1, &Ctx.InspectEvent, "WskInspectEvent of the stream's Listen table");
    CHECK(SameAddr(&Ctx.InspectRemote, &P1Addr), "%s: the inspected remote", FamilyName);
    Pended = Ctx.LastId;
    CHECK(AcceptOp.Calls == 0, "%s: pended, not delivered", FamilyName);
    Expect(Complete(S, &Pended, WskInspectAccept, Arm(&Scratch)), &Scratch, STATUS_SUCCESS,
           "WskInspectComplete on a listening stream socket");
    CHECK(Finish(Status, &AcceptOp) == STATUS_SUCCESS, "%s: WskAccept", FamilyName);
    A = (PWSK_SOCKET)AcceptOp.Information;
    CHECK(QueryId(A, &Queried, sizeof(Queried), &Returned, NULL) == STATUS_SUCCESS && SameId(&Queried, &Pended),
          "%s: the accepted socket's id", FamilyName);
    CloseSocket(A);
    CloseSocket(P1);
    CloseSocket(S);
    /* A stream socket committed to connecting has no inspections. */
    S = NewSocket(Family, WSK_FLAG_STREAM_SOCKET, &Ctx, &StreamDispatch);
    Expect(Complete(S, &Pended, WskInspectAccept, Arm(&Scratch)), &Scratch, STATUS_INVALID_DEVICE_STATE,
           "WskInspectComplete on an uncommitted stream socket");
    CloseSocket(S);
    OpFree(&AcceptOp);
    printf("stream_cond: %s conditional accept on a stream socket\n", FamilyName);
}

int main(void)
{
    static const WSK_CLIENT_DISPATCH ClientDispatch = {MAKE_WSK_VERSION(1, 0), 0, NULL};
    WSK_CLIENT_NPI ClientNpi = {NULL, &ClientDispatch};
    static const USHORT Families[] = {AF_INET, AF_INET6};
    size_t i;

    CHECK(WskRegister(&ClientNpi, &Registration) == STATUS_SUCCESS, "WskRegister");
    CHECK(WskCaptureProviderNPI(&Registration, WSK_INFINITE_WAIT, &Npi) == STATUS_SUCCESS, "capture");
    OpInit(&Scratch);
    for (i = 0; i < ARRAYSIZE(Families); i++) {
        FamilyName = Families[i] == AF_INET ? "AF_INET" : "AF_INET6";
        StreamSockets(Families[i]);
        ConditionalOption(Families[i]);
        Inspections(Families[i]);
        StreamConditional(Families[i]);
    }
    OpFree(&Scratch);
    WskReleaseProviderNPI(&Registration);
    WskDeregister(&Registration);
    printf("stream_cond: OK\n");
    return 0;
}
