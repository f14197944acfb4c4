/*
 * datagram.c: datagram sockets (WSK_FLAG_DATAGRAM_SOCKET, UDP) from C, IPv4 and IPv6 on
 * loopback, every call through the WSK_PROVIDER_DATAGRAM_DISPATCH a WskSocket returned.
 *   1. State: before WskBind, WskGetLocalAddress / WskSendTo / WskReceiveFrom /
 *      SIO_WSK_SET_*_ADDRESS / enabling WskReceiveFromEvent answer
 *      STATUS_INVALID_DEVICE_STATE; bind to the other family, a second bind, a taken port.
 *   2. Bind wildcard and specific; WskSendTo / WskReceiveFrom round trips with addresses,
 *      single MDLs and MDL chains (with an offset); an empty datagram; MSG_TRUNC.
 *   3. IP_PKTINFO / IPV6_PKTINFO: the destination and interface received as a CMSGHDR;
 *      ControlLength NULL (no control, no flags written); a short control buffer
 *      (MSG_CTRUNC); a PKTINFO control message choosing the source of a send; a malformed
 *      control buffer and a NULL ControlInfo with a length refused.
 *   4. SIO_WSK_SET_REMOTE_ADDRESS: only that peer's datagrams, sends without an address go
 *      there, an address given overrides, cleared by InputSize 0 and by a NULL input; IRP
 *      required; a short SOCKADDR. SIO_WSK_SET_SENDTO_ADDRESS: default and override.
 *   5. WskSendMessages: a WSK_BUF_LIST of three datagrams (one a chain, one empty), one
 *      address, one control buffer; Information = total bytes.
 *   6. WskReceiveFromEvent outcomes: accepted (addresses, control info, flags); pending,
 *      then WskRelease in pieces, in reverse order, from a system thread (a second release
 *      and a released element refused); not accepted with a dynamic event (disabled until
 *      enabled again, the datagrams kept for WskReceiveFrom) and with a static one
 *      (WSK_SET_STATIC_EVENT_CALLBACKS: called again, the refused datagrams first).
 *   7. Pending WskReceiveFrom IRPs take datagrams before the event; IoCancelIrp of a
 *      pending receive; close with pending receives (each STATUS_CANCELLED before the close
 *      completes); closed handles; the datagram and connection tables with a socket of the
 *      other category (STATUS_INVALID_DEVICE_REQUEST).
 * argv[1]: the index of the loopback interface (what IP_PKTINFO reports).
 * Prints "datagram: OK" and exits 0, or "datagram: FAIL ..." and exits 1.
 */
#define IRP_WAIT_PROGRAM "datagram"
#include "irp_wait.h"

#include <string.h>
#include <wsk.h>

#define TAG 'gdTW'
#define BUF_SIZE 4096
#define BUF_SPLIT 1000 /* a chain: the first MDL covers BUF_SPLIT bytes, the second the rest */

typedef struct _RECORD {
    IRP_RECORD_FIELDS;
    LONG Ticket; /* the order of completions */
} RECORD, *PRECORD;

static volatile LONG Tickets;

static NTSTATUS RecordRoutine(PDEVICE_OBJECT DeviceObject, PIRP Irp, PVOID Context)
{
    PRECORD R = (PRECORD)Context;

    UNREFERENCED_PARAMETER(DeviceObject);
    R->Ticket = InterlockedIncrement(&Tickets);
    RECORD_COMPLETION(R, Irp);
    return STATUS_MORE_PROCESSING_REQUIRED;
}

static WSK_REGISTRATION Registration;
static WSK_PROVIDER_NPI Npi;
static PIRP Irp;
static RECORD Record;
static ULONG LoopbackIndex;

static NTSTATUS Finish(NTSTATUS Returned)
{
    FINISH_RECORD(Returned, (&Record), "");
    return Record.Status;
}

/* The datagram table, as the first datagram socket showed it (for calls with closed handles). */
static const WSK_PROVIDER_DATAGRAM_DISPATCH *Dgram;

static const WSK_PROVIDER_DATAGRAM_DISPATCH *D(PWSK_SOCKET Socket)
{
    return (const WSK_PROVIDER_DATAGRAM_DISPATCH *)Socket->Dispatch;
}

/* ----- buffers ----- */

/* Pool memory with an MDL over all of it, and two more chained over its two parts. */
typedef struct _BUF {
    PUCHAR Data;
    PMDL Whole;
    PMDL Head;
    PMDL Tail;
    WSK_BUF Wsk;
} BUF;

static void BufInit(BUF *B)
{
    B->Data = (PUCHAR)ExAllocatePoolZero(NonPagedPoolNx, BUF_SIZE, TAG);
    CHECK(B->Data != NULL, "pool");
    B->Whole = IoAllocateMdl(B->Data, BUF_SIZE, FALSE, FALSE, NULL);
    B->Head = IoAllocateMdl(B->Data, BUF_SPLIT, FALSE, FALSE, NULL);
    B->Tail = IoAllocateMdl(B->Data + BUF_SPLIT, BUF_SIZE - BUF_SPLIT, FALSE, FALSE, NULL);
    CHECK(B->Whole != NULL && B->Head != NULL && B->Tail != NULL, "IoAllocateMdl");
    MmBuildMdlForNonPagedPool(B->Whole);
    MmBuildMdlForNonPagedPool(B->Head);
    MmBuildMdlForNonPagedPool(B->Tail);
    B->Head->Next = B->Tail;
}

static void BufFree(BUF *B)
{
    B->Head->Next = NULL;
    IoFreeMdl(B->Whole);
    IoFreeMdl(B->Head);
    IoFreeMdl(B->Tail);
    ExFreePoolWithTag(B->Data, TAG);
}

/* The WSK_BUF of Length bytes: over the whole buffer, or (Chain) from Offset in the chain. */
static PWSK_BUF BufOf(BUF *B, SIZE_T Length, BOOLEAN Chain, ULONG Offset)
{
    B->Wsk.Mdl = Chain ? B->Head : B->Whole;
    B->Wsk.Offset = Chain ? Offset : 0;
    B->Wsk.Length = Length;
    return &B->Wsk;
}

/* The send buffer holding Bytes. */
static PWSK_BUF Bytes(BUF *B, const void *Bytes, SIZE_T Length)
{
    memcpy(B->Data, Bytes, Length);
    return BufOf(B, Length, FALSE, 0);
}

/* ----- addresses ----- */

static void MakeAddress(ADDRESS_FAMILY Family, SOCKADDR_STORAGE *Out, BOOLEAN Loopback, USHORT Port)
{
    memset(Out, 0, sizeof(*Out));
    if (Family == AF_INET) {
        SOCKADDR_IN *In = (SOCKADDR_IN *)Out;
        In->sin_family = AF_INET;
        In->sin_addr.s_addr = Loopback ? RtlUlongByteSwap(0x7F000001) : 0;
        In->sin_port = RtlUshortByteSwap(Port);
    } else {
        SOCKADDR_IN6 *In6 = (SOCKADDR_IN6 *)Out;
        In6->sin6_family = AF_INET6;
        In6->sin6_addr.u.Byte[15] = Loopback ? 1 : 0;
        In6->sin6_port = RtlUshortByteSwap(Port);
    }
}

static USHORT PortOf(const SOCKADDR_STORAGE *A)
{
    return RtlUshortByteSwap(((const SOCKADDR_IN *)A)->sin_port);
}

/* Same family, port and address. */
static BOOLEAN SameAddress(const SOCKADDR_STORAGE *A, const SOCKADDR_STORAGE *B)
{
    if (A->ss_family != B->ss_family || PortOf(A) != PortOf(B)) {
        return FALSE;
    }
    if (A->ss_family == AF_INET) {
        return ((const SOCKADDR_IN *)A)->sin_addr.s_addr == ((const SOCKADDR_IN *)B)->sin_addr.s_addr;
    }
    return memcmp(&((const SOCKADDR_IN6 *)A)->sin6_addr, &((const SOCKADDR_IN6 *)B)->sin6_addr, 16) == 0;
}

static ADDRESS_FAMILY Other(ADDRESS_FAMILY Family)
{
    return Family == AF_INET ? AF_INET6 : AF_INET;
}

/* ----- calls with the shared IRP ----- */

static PWSK_SOCKET NewSocketOf(PWSK_PROVIDER_NPI With, ADDRESS_FAMILY Family, ULONG Flags, PVOID Context,
                               const VOID *Dispatch)
{
    NTSTATUS Status;
    USHORT Type = Flags == WSK_FLAG_DATAGRAM_SOCKET ? SOCK_DGRAM : SOCK_STREAM;
    ULONG Protocol = Flags == WSK_FLAG_DATAGRAM_SOCKET ? IPPROTO_UDP : IPPROTO_TCP;

    ARM_RECORD(Irp, &Record, RecordRoutine);
    Status = Finish(With->Dispatch->WskSocket(With->Client, Family, Type, Protocol, Flags, Context, Dispatch, NULL,
                                              NULL, NULL, Irp));
    CHECK(Status == STATUS_SUCCESS && Record.Information != 0, "WskSocket(flags 0x%lx): 0x%08x",
          (unsigned long)Flags, (unsigned)Status);
    if (Flags == WSK_FLAG_DATAGRAM_SOCKET) {
        const WSK_PROVIDER_DATAGRAM_DISPATCH *Table = D((PWSK_SOCKET)Record.Information);

        CHECK(Dgram == NULL || Dgram == Table, "one datagram table");
        CHECK(Table->WskBind && Table->WskSendTo && Table->WskReceiveFrom && Table->WskRelease &&
                  Table->WskGetLocalAddress && Table->WskSendMessages && Table->Basic.WskControlSocket &&
                  Table->Basic.WskCloseSocket,
              "every slot of the datagram table");
        Dgram = Table;
    }
    return (PWSK_SOCKET)Record.Information;
}

static PWSK_SOCKET NewDatagram(ADDRESS_FAMILY Family, PVOID Context, const WSK_CLIENT_DATAGRAM_DISPATCH *Dispatch)
{
    return NewSocketOf(&Npi, Family, WSK_FLAG_DATAGRAM_SOCKET, Context, Dispatch);
}

static NTSTATUS Bind(PWSK_SOCKET Socket, SOCKADDR_STORAGE *Address)
{
    ARM_RECORD(Irp, &Record, RecordRoutine);
    return Finish(D(Socket)->WskBind(Socket, (PSOCKADDR)Address, 0, Irp));
}

static NTSTATUS LocalAddress(PWSK_SOCKET Socket, SOCKADDR_STORAGE *Out)
{
    memset(Out, 0, sizeof(*Out));
    ARM_RECORD(Irp, &Record, RecordRoutine);
    return Finish(D(Socket)->WskGetLocalAddress(Socket, (PSOCKADDR)Out, Irp));
}

/* A socket bound to the loopback address (or the wildcard) and port 0; *To receives the
   loopback address with its port: where others send to reach it. */
static PWSK_SOCKET BoundTo(PWSK_PROVIDER_NPI With, ADDRESS_FAMILY Family, BOOLEAN Wildcard, PVOID Context,
                           const WSK_CLIENT_DATAGRAM_DISPATCH *Dispatch, SOCKADDR_STORAGE *To)
{
    PWSK_SOCKET Socket = NewSocketOf(With, Family, WSK_FLAG_DATAGRAM_SOCKET, Context, Dispatch);
    SOCKADDR_STORAGE Local, Expected;

    MakeAddress(Family, &Local, !Wildcard, 0);
    CHECK(Bind(Socket, &Local) == STATUS_SUCCESS, "bind: 0x%08x", (unsigned)Record.Status);
    CHECK(LocalAddress(Socket, &Local) == STATUS_SUCCESS, "WskGetLocalAddress: 0x%08x", (unsigned)Record.Status);
    CHECK(PortOf(&Local) != 0, "a port was chosen");
    MakeAddress(Family, &Expected, !Wildcard, PortOf(&Local));
    CHECK(SameAddress(&Local, &Expected), "the bound address (wildcard %d)", Wildcard);
    MakeAddress(Family, To, TRUE, PortOf(&Local));
    return Socket;
}

static PWSK_SOCKET Bound(ADDRESS_FAMILY Family, BOOLEAN Wildcard, PVOID Context,
                         const WSK_CLIENT_DATAGRAM_DISPATCH *Dispatch, SOCKADDR_STORAGE *To)
{
    return BoundTo(&Npi, Family, Wildcard, Context, Dispatch, To);
}

static NTSTATUS Close(PWSK_SOCKET Socket)
{
    ARM_RECORD(Irp, &Record, RecordRoutine);
    return Finish(D(Socket)->WskCloseSocket(Socket, Irp));
}

static BUF SendBuf;

/* WskSendTo of Length bytes; a success reports every byte sent. */
static NTSTATUS SendToEx(PWSK_SOCKET Socket, PWSK_BUF Buffer, SOCKADDR_STORAGE *To, ULONG ControlLength,
                         PVOID Control)
{
    NTSTATUS Status;

    ARM_RECORD(Irp, &Record, RecordRoutine);
    Status = Finish(Dgram->WskSendTo(Socket, Buffer, 0, (PSOCKADDR)To, ControlLength, (PCMSGHDR)Control, Irp));
    if (Status == STATUS_SUCCESS) {
        CHECK(Record.Information == Buffer->Length, "sent %lu of %lu bytes", (unsigned long)Record.Information,
              (unsigned long)Buffer->Length);
    } else {
        CHECK(Record.Information == 0, "a failed send reports %lu bytes", (unsigned long)Record.Information);
    }
    return Status;
}

static NTSTATUS SendTo(PWSK_SOCKET Socket, const char *Text, SOCKADDR_STORAGE *To)
{
    return SendToEx(Socket, Bytes(&SendBuf, Text, strlen(Text)), To, 0, NULL);
}

static NTSTATUS Control(PWSK_SOCKET Socket, WSK_CONTROL_SOCKET_TYPE Type, ULONG Code, ULONG Level, SIZE_T InSize,
                        PVOID In, SIZE_T OutSize, PVOID Out, SIZE_T *Returned)
{
    ARM_RECORD(Irp, &Record, RecordRoutine);
    return Finish(D(Socket)->WskControlSocket(Socket, Type, Code, Level, InSize, In, OutSize, Out, Returned, Irp));
}

static NTSTATUS SetUlong(PWSK_SOCKET Socket, ULONG Level, ULONG Code, ULONG Value)
{
    return Control(Socket, WskSetOption, Code, Level, sizeof(Value), &Value, 0, NULL, NULL);
}

static ULONG GetUlong(PWSK_SOCKET Socket, ULONG Level, ULONG Code)
{
    ULONG Value = 0xAAAAAAAA;
    SIZE_T Returned = 0;
    NTSTATUS Status = Control(Socket, WskGetOption, Code, Level, 0, NULL, sizeof(Value), &Value, &Returned);

    CHECK(Status == STATUS_SUCCESS && Returned == sizeof(ULONG), "get option %lu/%lu: 0x%08x",
          (unsigned long)Level, (unsigned long)Code, (unsigned)Status);
    return Value;
}

/* SIO_WSK_SET_REMOTE_ADDRESS / SIO_WSK_SET_SENDTO_ADDRESS with an IRP. */
static NTSTATUS SetAddress(PWSK_SOCKET Socket, ULONG Code, SIZE_T Size, SOCKADDR_STORAGE *Address)
{
    return Control(Socket, WskIoctl, Code, 0, Size, Address, 0, NULL, NULL);
}

static SIZE_T SockaddrSize(ADDRESS_FAMILY Family)
{
    return Family == AF_INET ? sizeof(SOCKADDR_IN) : sizeof(SOCKADDR_IN6);
}

static NTSTATUS EnableReceiveFrom(PWSK_SOCKET Socket)
{
    WSK_EVENT_CALLBACK_CONTROL Ctl = {&NPI_WSK_INTERFACE_ID, WSK_EVENT_RECEIVE_FROM};

    return D(Socket)->WskControlSocket(Socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, sizeof(Ctl), &Ctl, 0,
                                       NULL, NULL, NULL);
}

static NTSTATUS DisableReceiveFrom(PWSK_SOCKET Socket)
{
    WSK_EVENT_CALLBACK_CONTROL Ctl = {&NPI_WSK_INTERFACE_ID, WSK_EVENT_RECEIVE_FROM | WSK_EVENT_DISABLE};

    return Control(Socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, sizeof(Ctl), &Ctl, 0, NULL, NULL);
}

/* ----- receives, each with an IRP of its own ----- */

typedef struct _RECV {
    PIRP Irp;
    RECORD Record;
    NTSTATUS Returned;
    BUF Buf;
    SOCKADDR_STORAGE Remote;
    ULONG ControlLength;
    ULONG ControlFlags;
    ULONGLONG Control[16]; /* 128 bytes, 8-byte aligned as CMSGHDRs are */
} RECV;

#define NO_CONTROL_LENGTH ((ULONG)-1) /* RecvStart: pass ControlLength NULL */
#define FLAGS_SENTINEL 0xF1A6F1A6u

static void RecvInit(RECV *R)
{
    memset(R, 0, sizeof(*R));
    R->Irp = IoAllocateIrp(1, FALSE);
    CHECK(R->Irp != NULL, "IoAllocateIrp");
    BufInit(&R->Buf);
}

static void RecvFree(RECV *R)
{
    IoFreeIrp(R->Irp);
    BufFree(&R->Buf);
}

/* Starts a WskReceiveFrom of Length bytes (Chain: into the two chained MDLs) with a control
   buffer of ControlCapacity bytes (NO_CONTROL_LENGTH: a NULL ControlLength). */
static NTSTATUS RecvStartEx(RECV *R, PWSK_SOCKET Socket, SIZE_T Length, BOOLEAN Chain, ULONG ControlCapacity)
{
    BOOLEAN NoLength = ControlCapacity == NO_CONTROL_LENGTH;

    memset(R->Buf.Data, 0xEE, BUF_SIZE);
    memset(&R->Remote, 0xEE, sizeof(R->Remote));
    memset(R->Control, 0xEE, sizeof(R->Control));
    R->ControlLength = NoLength ? 0xEEEEEEEE : ControlCapacity;
    R->ControlFlags = FLAGS_SENTINEL;
    ARM_RECORD(R->Irp, &R->Record, RecordRoutine);
    R->Returned = Dgram->WskReceiveFrom(Socket, BufOf(&R->Buf, Length, Chain, 0), 0, (PSOCKADDR)&R->Remote,
                                            NoLength ? NULL : &R->ControlLength,
                                            ControlCapacity == 0 || NoLength ? NULL : (PCMSGHDR)R->Control,
                                            &R->ControlFlags, R->Irp);
    return R->Returned;
}

static NTSTATUS RecvStart(RECV *R, PWSK_SOCKET Socket, SIZE_T Length, ULONG ControlCapacity)
{
    return RecvStartEx(R, Socket, Length, FALSE, ControlCapacity);
}

static NTSTATUS RecvFinish(RECV *R)
{
    FINISH_RECORD(R->Returned, (&R->Record), "receive: ");
    return R->Record.Status;
}

/* Finishes a receive that must bring Text from From (exactly, no flags). */
static void RecvExpect(RECV *R, const char *Text, SOCKADDR_STORAGE *From, const char *What)
{
    SIZE_T Length = strlen(Text);

    CHECK(RecvFinish(R) == STATUS_SUCCESS, "%s: 0x%08x", What, (unsigned)R->Record.Status);
    CHECK(R->Record.Information == Length && memcmp(R->Buf.Data, Text, Length) == 0, "%s: got %lu bytes '%.*s'",
          What, (unsigned long)R->Record.Information, (int)R->Record.Information, (const char *)R->Buf.Data);
    CHECK(From == NULL || SameAddress(&R->Remote, From), "%s: the sender's address", What);
}

/* ----- a reactor round trip: everything the provider was told before is handled ----- */

static PWSK_SOCKET RoundX, RoundY;
static SOCKADDR_STORAGE RoundYAddr;
static RECV RoundRecv;

/* A datagram between two sockets of this provider completes on the reactor after the
   readiness reports that came before it. */
static void ReactorRoundTrip(void)
{
    RecvStart(&RoundRecv, RoundY, 16, 0);
    CHECK(SendTo(RoundX, "sync", &RoundYAddr) == STATUS_SUCCESS, "round trip send");
    RecvExpect(&RoundRecv, "sync", NULL, "round trip");
}

/* ----- WskReceiveFromEvent ----- */

typedef enum _EVENT_MODE { ModeAccept, ModePend, ModeRefuse } EVENT_MODE;

#define MAX_CALLS 8
#define MAX_LOG 32

typedef struct _EVENTS {
    EVENT_MODE Modes[MAX_CALLS]; /* what call i returns (later calls accept) */
    volatile LONG Calls;
    KEVENT Called;         /* a synchronization event, set by every call */
    ULONG Chains[MAX_CALLS];
    ULONG Flags[MAX_CALLS];
    PWSK_DATAGRAM_INDICATION Retained;
    ULONG NullIndications;
    /* Every datagram indicated, in order. */
    ULONG Logged;
    struct {
        UCHAR Data[64];
        SIZE_T Length;
        SOCKADDR_STORAGE Remote;
        ULONG ControlLength;
        ULONGLONG Control[8];
        BOOLEAN ControlAligned;
    } Log[MAX_LOG];
} EVENTS;

static void EventsInit(EVENTS *E)
{
    memset(E, 0, sizeof(*E));
    KeInitializeEvent(&E->Called, SynchronizationEvent, FALSE);
}

static NTSTATUS WSKAPI ReceiveFromEvent(PVOID SocketContext, ULONG Flags, PWSK_DATAGRAM_INDICATION DataIndication)
{
    EVENTS *E = (EVENTS *)SocketContext;
    LONG Call = E->Calls;
    EVENT_MODE Mode = Call < MAX_CALLS ? E->Modes[Call] : ModeAccept;
    PWSK_DATAGRAM_INDICATION P;
    ULONG Count = 0;

    if (DataIndication == NULL) {
        E->NullIndications++;
        Mode = ModeAccept;
    }
    for (P = DataIndication; P != NULL; P = P->Next) {
        if (E->Logged < MAX_LOG) {
            PUCHAR Data = (PUCHAR)MmGetSystemAddressForMdlSafe(P->Buffer.Mdl, NormalPagePriority) + P->Buffer.Offset;
            ULONG i = E->Logged++;

            E->Log[i].Length = P->Buffer.Length;
            memcpy(E->Log[i].Data, Data, P->Buffer.Length < 64 ? P->Buffer.Length : 64);
            memcpy(&E->Log[i].Remote, P->RemoteAddress, SockaddrSize(P->RemoteAddress->sa_family));
            E->Log[i].ControlLength = P->ControlInfoLength;
            E->Log[i].ControlAligned = ((ULONG_PTR)P->ControlInfo % 8) == 0;
            if (P->ControlInfo != NULL && P->ControlInfoLength <= sizeof(E->Log[i].Control)) {
                memcpy(E->Log[i].Control, P->ControlInfo, P->ControlInfoLength);
            }
        }
        Count++;
    }
    if (Call < MAX_CALLS) {
        E->Chains[Call] = Count;
        E->Flags[Call] = Flags;
    }
    if (Mode == ModePend) {
        E->Retained = DataIndication;
    }
    /* Set before returning: a retained chain may be released by another thread while this
       callback is still returning (the provider frees such elements once it has). */
    InterlockedIncrement(&E->Calls);
    KeSetEvent(&E->Called, IO_NO_INCREMENT, FALSE);
    return Mode == ModePend ? STATUS_PENDING : Mode == ModeRefuse ? STATUS_DATA_NOT_ACCEPTED : STATUS_SUCCESS;
}

static const WSK_CLIENT_DATAGRAM_DISPATCH EventDispatch = {ReceiveFromEvent};
static const WSK_CLIENT_DATAGRAM_DISPATCH NoCallback = {NULL};

/* Waits until the callback ran Calls times. */
static void WaitCalls(EVENTS *E, LONG Calls)
{
    while (E->Calls < Calls) {
        CHECK(Wait(&E->Called), "WskReceiveFromEvent call %ld within %d s (%ld so far)", (long)Calls, WAIT_SECONDS,
              (long)E->Calls);
    }
}

static BOOLEAN Logged(EVENTS *E, ULONG i, const char *Text)
{
    SIZE_T Length = strlen(Text);

    return i < E->Logged && E->Log[i].Length == Length && memcmp(E->Log[i].Data, Text, Length) == 0;
}

/* ----- the cases ----- */

static void StateAndBind(ADDRESS_FAMILY Family, SOCKADDR_STORAGE *Taken)
{
    static EVENTS E;
    PWSK_SOCKET S;
    SOCKADDR_STORAGE Address, To;
    RECV R;
    NTSTATUS Status;

    EventsInit(&E);
    S = NewDatagram(Family, &E, &EventDispatch);
    RecvInit(&R);
    CHECK(LocalAddress(S, &Address) == STATUS_INVALID_DEVICE_STATE, "local address before bind: 0x%08x",
          (unsigned)Record.Status);
    MakeAddress(Family, &To, TRUE, 9);
    CHECK(SendTo(S, "x", &To) == STATUS_INVALID_DEVICE_STATE, "send before bind: 0x%08x", (unsigned)Record.Status);
    RecvStart(&R, S, 16, 0);
    CHECK(RecvFinish(&R) == STATUS_INVALID_DEVICE_STATE, "receive before bind: 0x%08x", (unsigned)R.Record.Status);
    CHECK(SetAddress(S, SIO_WSK_SET_REMOTE_ADDRESS, SockaddrSize(Family), &To) == STATUS_INVALID_DEVICE_STATE,
          "SIO_WSK_SET_REMOTE_ADDRESS before bind: 0x%08x", (unsigned)Record.Status);
    CHECK(SetAddress(S, SIO_WSK_SET_SENDTO_ADDRESS, SockaddrSize(Family), &To) == STATUS_INVALID_DEVICE_STATE,
          "SIO_WSK_SET_SENDTO_ADDRESS before bind: 0x%08x", (unsigned)Record.Status);
    Status = EnableReceiveFrom(S);
    CHECK(Status == STATUS_INVALID_DEVICE_STATE, "enabling WskReceiveFromEvent before bind: 0x%08x", (unsigned)Status);
    /* Options may be set before bind. */
    CHECK(SetUlong(S, SOL_SOCKET, SO_RCVBUF, 65536) == STATUS_SUCCESS, "SO_RCVBUF before bind");
    MakeAddress(Other(Family), &Address, TRUE, 0);
    CHECK(Bind(S, &Address) == STATUS_INVALID_PARAMETER, "bind to the other family: 0x%08x", (unsigned)Record.Status);
    CHECK(Bind(S, Taken) == STATUS_ADDRESS_ALREADY_ASSOCIATED, "bind to a taken port: 0x%08x",
          (unsigned)Record.Status);
    MakeAddress(Family, &Address, FALSE, 0);
    CHECK(Bind(S, &Address) == STATUS_SUCCESS, "wildcard bind: 0x%08x", (unsigned)Record.Status);
    CHECK(Bind(S, &Address) == STATUS_INVALID_DEVICE_STATE, "second bind: 0x%08x", (unsigned)Record.Status);
    CHECK(LocalAddress(S, &Address) == STATUS_SUCCESS && PortOf(&Address) != 0, "local address after bind");
    CHECK(EnableReceiveFrom(S) == STATUS_SUCCESS, "enabling WskReceiveFromEvent after bind");
    CHECK(GetUlong(S, SOL_SOCKET, SO_RCVBUF) == 65536, "SO_RCVBUF kept across bind");
    CHECK(Close(S) == STATUS_SUCCESS, "close");
    /* A closed handle. */
    CHECK(SendTo(S, "x", &To) == STATUS_INVALID_HANDLE, "send on a closed socket: 0x%08x", (unsigned)Record.Status);
    RecvStart(&R, S, 16, 0);
    CHECK(RecvFinish(&R) == STATUS_INVALID_HANDLE, "receive on a closed socket: 0x%08x", (unsigned)R.Record.Status);
    CHECK(Dgram->WskRelease(S, (PWSK_DATAGRAM_INDICATION)&R) == STATUS_INVALID_HANDLE, "WskRelease on a closed socket");
    RecvFree(&R);

    /* No callback: enabling the event is refused (its datagrams would be lost). */
    S = NewDatagram(Family, NULL, &NoCallback);
    MakeAddress(Family, &Address, TRUE, 0);
    CHECK(Bind(S, &Address) == STATUS_SUCCESS, "bind");
    Status = EnableReceiveFrom(S);
    CHECK(Status == STATUS_INVALID_PARAMETER, "enabling without a callback: 0x%08x", (unsigned)Status);
    CHECK(Close(S) == STATUS_SUCCESS, "close");
    S = NewDatagram(Family, NULL, NULL);
    CHECK(Bind(S, &Address) == STATUS_SUCCESS, "bind");
    Status = EnableReceiveFrom(S);
    CHECK(Status == STATUS_INVALID_PARAMETER, "enabling without a dispatch table: 0x%08x", (unsigned)Status);
    CHECK(Close(S) == STATUS_SUCCESS, "close");
}

static void RoundTrips(ADDRESS_FAMILY Family, PWSK_SOCKET A, SOCKADDR_STORAGE *AAddr, PWSK_SOCKET B,
                       SOCKADDR_STORAGE *BAddr)
{
    static RECV R;
    ULONG i;

    RecvInit(&R);
    /* Posted first: pending until the datagram arrives. */
    RecvStart(&R, B, 256, 64);
    CHECK(SendTo(A, "hello datagram", BAddr) == STATUS_SUCCESS, "send: 0x%08x", (unsigned)Record.Status);
    RecvExpect(&R, "hello datagram", AAddr, "round trip");
    CHECK(R.ControlLength == 0 && R.ControlFlags == 0, "no control information: length %lu, flags 0x%lx",
          (unsigned long)R.ControlLength, (unsigned long)R.ControlFlags);

    /* A 3000-byte pattern from a chain with an offset into a chain (through the provider's copy). */
    for (i = 0; i < BUF_SIZE; i++) {
        SendBuf.Data[i] = (UCHAR)(i * 7 + Family);
    }
    RecvStartEx(&R, B, 3000, TRUE, 0);
    CHECK(SendToEx(A, BufOf(&SendBuf, 3000, TRUE, 5), BAddr, 0, NULL) == STATUS_SUCCESS, "chained send");
    CHECK(RecvFinish(&R) == STATUS_SUCCESS && R.Record.Information == 3000, "chained receive: 0x%08x, %lu bytes",
          (unsigned)R.Record.Status, (unsigned long)R.Record.Information);
    CHECK(memcmp(R.Buf.Data, SendBuf.Data + 5, 3000) == 0, "chained bytes");
    CHECK(R.ControlFlags == 0, "flags 0x%lx", (unsigned long)R.ControlFlags);

    /* An empty datagram (NULL MDL, length 0). */
    {
        WSK_BUF Empty = {NULL, 0, 0};

        RecvStart(&R, B, 64, 0);
        CHECK(SendToEx(A, &Empty, BAddr, 0, NULL) == STATUS_SUCCESS, "empty send");
        CHECK(RecvFinish(&R) == STATUS_SUCCESS && R.Record.Information == 0, "empty datagram: %lu bytes",
              (unsigned long)R.Record.Information);
        CHECK(SameAddress(&R.Remote, AAddr) && R.ControlFlags == 0, "empty datagram's sender and flags");
    }

    /* Truncation: the buffer's worth, MSG_TRUNC. */
    RecvStart(&R, B, 4, 16);
    CHECK(SendTo(A, "0123456789", BAddr) == STATUS_SUCCESS, "send 10");
    CHECK(RecvFinish(&R) == STATUS_SUCCESS && R.Record.Information == 4, "truncated: %lu bytes",
          (unsigned long)R.Record.Information);
    CHECK(memcmp(R.Buf.Data, "0123", 4) == 0 && R.Buf.Data[4] == 0xEE, "the first 4 bytes, nothing beyond");
    CHECK(R.ControlFlags == MSG_TRUNC, "MSG_TRUNC: 0x%lx", (unsigned long)R.ControlFlags);
    RecvFree(&R);
}

/* The packet information a receive on Family's loopback carries. */
static void CheckPacketInfo(ADDRESS_FAMILY Family, const void *Control, ULONG Length, const char *What)
{
    const CMSGHDR *C = (const CMSGHDR *)Control;
    ULONG DataLength = Family == AF_INET ? sizeof(IN_PKTINFO) : sizeof(IN6_PKTINFO);

    CHECK(Length == WSA_CMSG_SPACE(DataLength), "%s: control length %lu", What, (unsigned long)Length);
    CHECK(C->cmsg_len == WSA_CMSG_LEN(DataLength), "%s: cmsg_len %lu", What, (unsigned long)C->cmsg_len);
    if (Family == AF_INET) {
        const IN_PKTINFO *P = (const IN_PKTINFO *)WSA_CMSG_DATA(C);

        CHECK(C->cmsg_level == IPPROTO_IP && C->cmsg_type == IP_PKTINFO, "%s: level %d type %d", What,
              C->cmsg_level, C->cmsg_type);
        CHECK(P->ipi_addr.s_addr == RtlUlongByteSwap(0x7F000001), "%s: destination 127.0.0.1", What);
        CHECK(P->ipi_ifindex == LoopbackIndex, "%s: interface %lu", What, (unsigned long)P->ipi_ifindex);
    } else {
        const IN6_PKTINFO *P = (const IN6_PKTINFO *)WSA_CMSG_DATA(C);

        CHECK(C->cmsg_level == IPPROTO_IPV6 && C->cmsg_type == IPV6_PKTINFO, "%s: level %d type %d", What,
              C->cmsg_level, C->cmsg_type);
        CHECK(IN6_IS_ADDR_LOOPBACK(&P->ipi6_addr), "%s: destination ::1", What);
        CHECK(P->ipi6_ifindex == LoopbackIndex, "%s: interface %lu", What, (unsigned long)P->ipi6_ifindex);
    }
}

static void PacketInfo(ADDRESS_FAMILY Family, PWSK_SOCKET A, SOCKADDR_STORAGE *AAddr, PWSK_SOCKET B,
                       SOCKADDR_STORAGE *BAddr)
{
    static RECV R;
    ULONG Level = Family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;
    ULONG DataLength = Family == AF_INET ? sizeof(IN_PKTINFO) : sizeof(IN6_PKTINFO);

    RecvInit(&R);
    CHECK(SetUlong(B, Level, IP_PKTINFO, 1) == STATUS_SUCCESS, "IP_PKTINFO / IPV6_PKTINFO on");
    CHECK(GetUlong(B, Level, IP_PKTINFO) == 1, "reads back");
    RecvStart(&R, B, 64, sizeof(R.Control));
    CHECK(SendTo(A, "info", BAddr) == STATUS_SUCCESS, "send");
    RecvExpect(&R, "info", AAddr, "with packet info");
    CHECK(R.ControlFlags == 0, "flags 0x%lx", (unsigned long)R.ControlFlags);
    CheckPacketInfo(Family, R.Control, R.ControlLength, "WskReceiveFrom");

    /* ControlLength NULL: no control information, ControlFlags not written. */
    RecvStart(&R, B, 64, NO_CONTROL_LENGTH);
    CHECK(SendTo(A, "null length", BAddr) == STATUS_SUCCESS, "send");
    RecvExpect(&R, "null length", AAddr, "ControlLength NULL");
    CHECK(R.ControlFlags == FLAGS_SENTINEL, "ControlFlags written: 0x%lx", (unsigned long)R.ControlFlags);
    CHECK(*(PUCHAR)R.Control == 0xEE, "ControlInfo written");

    /* A control buffer too short for the message (one byte short, and none): MSG_CTRUNC. */
    RecvStart(&R, B, 64, WSA_CMSG_SPACE(DataLength) - 1);
    CHECK(SendTo(A, "short", BAddr) == STATUS_SUCCESS, "send");
    RecvExpect(&R, "short", AAddr, "short control buffer");
    CHECK(R.ControlFlags == MSG_CTRUNC && R.ControlLength == 0, "MSG_CTRUNC: flags 0x%lx, length %lu",
          (unsigned long)R.ControlFlags, (unsigned long)R.ControlLength);
    RecvStart(&R, B, 2, 0);
    CHECK(SendTo(A, "none", BAddr) == STATUS_SUCCESS, "send");
    CHECK(RecvFinish(&R) == STATUS_SUCCESS && R.Record.Information == 2, "truncated, no control buffer");
    CHECK(R.ControlFlags == (MSG_CTRUNC | MSG_TRUNC) && R.ControlLength == 0, "MSG_TRUNC | MSG_CTRUNC: 0x%lx",
          (unsigned long)R.ControlFlags);

    CHECK(SetUlong(B, Level, IP_PKTINFO, 0) == STATUS_SUCCESS, "packet info off");
    RecvStart(&R, B, 64, sizeof(R.Control));
    CHECK(SendTo(A, "off", BAddr) == STATUS_SUCCESS, "send");
    RecvExpect(&R, "off", AAddr, "packet info off");
    CHECK(R.ControlLength == 0 && R.ControlFlags == 0, "nothing: length %lu", (unsigned long)R.ControlLength);
    RecvFree(&R);
}

/* A send whose IP_PKTINFO / IPV6_PKTINFO chooses the source address (and interface). */
static void SourceInfo(ADDRESS_FAMILY Family, PWSK_SOCKET B, SOCKADDR_STORAGE *BAddr)
{
    static RECV R;
    ULONGLONG Control[8];
    CMSGHDR *C = (CMSGHDR *)Control;
    SOCKADDR_STORAGE WAddr, Expected;
    PWSK_SOCKET W = Bound(Family, TRUE, NULL, NULL, &WAddr);
    ULONG Length;

    RecvInit(&R);
    memset(Control, 0, sizeof(Control));
    if (Family == AF_INET) {
        IN_PKTINFO *P = (IN_PKTINFO *)WSA_CMSG_DATA(C);

        /* Any 127/8 address is local: the datagram leaves from 127.0.0.2. */
        C->cmsg_len = WSA_CMSG_LEN(sizeof(IN_PKTINFO));
        C->cmsg_level = IPPROTO_IP;
        C->cmsg_type = IP_PKTINFO;
        P->ipi_addr.s_addr = RtlUlongByteSwap(0x7F000002);
        P->ipi_ifindex = 0;
        Length = WSA_CMSG_SPACE(sizeof(IN_PKTINFO));
        MakeAddress(Family, &Expected, TRUE, PortOf(&WAddr));
        ((SOCKADDR_IN *)&Expected)->sin_addr.s_addr = RtlUlongByteSwap(0x7F000002);
    } else {
        IN6_PKTINFO *P = (IN6_PKTINFO *)WSA_CMSG_DATA(C);

        C->cmsg_len = WSA_CMSG_LEN(sizeof(IN6_PKTINFO));
        C->cmsg_level = IPPROTO_IPV6;
        C->cmsg_type = IPV6_PKTINFO;
        P->ipi6_addr.u.Byte[15] = 1;
        P->ipi6_ifindex = LoopbackIndex;
        Length = WSA_CMSG_SPACE(sizeof(IN6_PKTINFO));
        Expected = WAddr;
    }
    RecvStart(&R, B, 64, 0);
    CHECK(SendToEx(W, Bytes(&SendBuf, "sourced", 7), BAddr, Length, Control) == STATUS_SUCCESS,
          "send with packet info: 0x%08x", (unsigned)Record.Status);
    RecvExpect(&R, "sourced", &Expected, "the chosen source");

    /* A cmsg_len running past the buffer; a length without a buffer. */
    C->cmsg_len = Length + 8;
    CHECK(SendToEx(W, Bytes(&SendBuf, "bad", 3), BAddr, Length, Control) == STATUS_INVALID_PARAMETER,
          "malformed control buffer: 0x%08x", (unsigned)Record.Status);
    CHECK(SendToEx(W, Bytes(&SendBuf, "bad", 3), BAddr, Length, NULL) == STATUS_INVALID_PARAMETER,
          "ControlInfoLength with NULL ControlInfo: 0x%08x", (unsigned)Record.Status);
    /* ControlInfo with length 0: no control information. */
    RecvStart(&R, B, 64, 0);
    CHECK(SendToEx(W, Bytes(&SendBuf, "plain", 5), BAddr, 0, Control) == STATUS_SUCCESS, "length 0");
    RecvExpect(&R, "plain", &WAddr, "length 0");
    CHECK(Close(W) == STATUS_SUCCESS, "close");
    RecvFree(&R);
}

static void FixedAddresses(ADDRESS_FAMILY Family)
{
    static RECV R;
    SOCKADDR_STORAGE AAddr, BAddr, CAddr;
    PWSK_SOCKET A = Bound(Family, FALSE, NULL, NULL, &AAddr);
    PWSK_SOCKET B = Bound(Family, FALSE, NULL, NULL, &BAddr);
    PWSK_SOCKET C = Bound(Family, FALSE, NULL, NULL, &CAddr);
    SOCKADDR_STORAGE OtherFamily;
    NTSTATUS Status;

    RecvInit(&R);
    /* The IRP is required; a short SOCKADDR is refused. */
    Status = D(B)->WskControlSocket(B, WskIoctl, SIO_WSK_SET_REMOTE_ADDRESS, 0, SockaddrSize(Family), &AAddr, 0, NULL,
                                    NULL, NULL);
    CHECK(Status == STATUS_INVALID_PARAMETER, "without an IRP: 0x%08x", (unsigned)Status);
    CHECK(SetAddress(B, SIO_WSK_SET_REMOTE_ADDRESS, SockaddrSize(Family) - 1, &AAddr) == STATUS_INVALID_PARAMETER,
          "a short SOCKADDR: 0x%08x", (unsigned)Record.Status);
    MakeAddress(Other(Family), &OtherFamily, TRUE, 9);
    CHECK(SetAddress(B, SIO_WSK_SET_REMOTE_ADDRESS, sizeof(OtherFamily), &OtherFamily) == STATUS_INVALID_PARAMETER,
          "the other family: 0x%08x", (unsigned)Record.Status);
    CHECK(SetAddress(B, SIO_WSK_SET_REMOTE_ADDRESS, SockaddrSize(Family), &AAddr) == STATUS_SUCCESS,
          "SIO_WSK_SET_REMOTE_ADDRESS: 0x%08x", (unsigned)Record.Status);

    /* Only A's datagrams: C's, sent first, never arrive. */
    RecvStart(&R, B, 64, 0);
    CHECK(SendTo(C, "from c", &BAddr) == STATUS_SUCCESS, "send from c");
    CHECK(SendTo(A, "from a", &BAddr) == STATUS_SUCCESS, "send from a");
    RecvExpect(&R, "from a", &AAddr, "filtered");
    /* Without an address: to A; an address given overrides. */
    RecvStart(&R, A, 64, 0);
    CHECK(SendTo(B, "default", NULL) == STATUS_SUCCESS, "send without an address: 0x%08x", (unsigned)Record.Status);
    RecvExpect(&R, "default", &BAddr, "to the remote address");
    RecvStart(&R, C, 64, 0);
    CHECK(SendTo(B, "override", &CAddr) == STATUS_SUCCESS, "send with an address");
    RecvExpect(&R, "override", &BAddr, "to the address given");

    /* Cleared (InputSize 0): from anyone again; C's first datagram was discarded. */
    CHECK(SetAddress(B, SIO_WSK_SET_REMOTE_ADDRESS, 0, &AAddr) == STATUS_SUCCESS, "clear: 0x%08x",
          (unsigned)Record.Status);
    RecvStart(&R, B, 64, 0);
    CHECK(SendTo(C, "c again", &BAddr) == STATUS_SUCCESS, "send from c");
    RecvExpect(&R, "c again", &CAddr, "after clearing");
    CHECK(SendTo(B, "nowhere", NULL) == STATUS_INVALID_PARAMETER, "no destination: 0x%08x", (unsigned)Record.Status);
    /* Set again, cleared with a NULL input. */
    CHECK(SetAddress(B, SIO_WSK_SET_REMOTE_ADDRESS, SockaddrSize(Family), &AAddr) == STATUS_SUCCESS, "set again");
    CHECK(SetAddress(B, SIO_WSK_SET_REMOTE_ADDRESS, SockaddrSize(Family), NULL) == STATUS_SUCCESS,
          "clear with NULL input");
    CHECK(SendTo(B, "nowhere", NULL) == STATUS_INVALID_PARAMETER, "cleared: 0x%08x", (unsigned)Record.Status);

    /* SIO_WSK_SET_SENDTO_ADDRESS: the default destination; receives from anyone. */
    CHECK(SendTo(A, "x", NULL) == STATUS_INVALID_PARAMETER, "no destination yet");
    Status = D(A)->WskControlSocket(A, WskIoctl, SIO_WSK_SET_SENDTO_ADDRESS, 0, SockaddrSize(Family), &BAddr, 0, NULL,
                                    NULL, NULL);
    CHECK(Status == STATUS_INVALID_PARAMETER, "SIO_WSK_SET_SENDTO_ADDRESS without an IRP: 0x%08x", (unsigned)Status);
    CHECK(SetAddress(A, SIO_WSK_SET_SENDTO_ADDRESS, SockaddrSize(Family), &BAddr) == STATUS_SUCCESS,
          "SIO_WSK_SET_SENDTO_ADDRESS: 0x%08x", (unsigned)Record.Status);
    RecvStart(&R, B, 64, 0);
    CHECK(SendTo(A, "default", NULL) == STATUS_SUCCESS, "send to the sendto address");
    RecvExpect(&R, "default", &AAddr, "the sendto address");
    RecvStart(&R, C, 64, 0);
    CHECK(SendTo(A, "override", &CAddr) == STATUS_SUCCESS, "override");
    RecvExpect(&R, "override", &AAddr, "an address given");
    RecvStart(&R, A, 64, 0);
    CHECK(SendTo(C, "from c", &AAddr) == STATUS_SUCCESS, "send to a");
    RecvExpect(&R, "from c", &CAddr, "received from anyone");
    CHECK(SetAddress(A, SIO_WSK_SET_SENDTO_ADDRESS, 0, NULL) == STATUS_SUCCESS, "clear");
    CHECK(SendTo(A, "x", NULL) == STATUS_INVALID_PARAMETER, "cleared: 0x%08x", (unsigned)Record.Status);
    CHECK(SetAddress(A, SIO_WSK_SET_SENDTO_ADDRESS, 1, &BAddr) == STATUS_INVALID_PARAMETER, "one byte of SOCKADDR");

    CHECK(Close(A) == STATUS_SUCCESS && Close(B) == STATUS_SUCCESS && Close(C) == STATUS_SUCCESS, "close");
    RecvFree(&R);
}

static void SendMessages(ADDRESS_FAMILY Family, PWSK_SOCKET A, SOCKADDR_STORAGE *AAddr, PWSK_SOCKET B,
                         SOCKADDR_STORAGE *BAddr)
{
    static RECV R;
    static BUF Second;
    WSK_BUF_LIST List[3];
    ULONGLONG Control[8];
    CMSGHDR *C = (CMSGHDR *)Control;
    ULONG Length;
    ULONG i;

    RecvInit(&R);
    BufInit(&Second);
    memcpy(SendBuf.Data, "first", 5);
    for (i = 0; i < 600; i++) {
        Second.Data[BUF_SPLIT - 300 + i] = (UCHAR)(i + 1);
    }
    List[0].Next = &List[1];
    List[0].Buffer.Mdl = SendBuf.Whole;
    List[0].Buffer.Offset = 0;
    List[0].Buffer.Length = 5;
    List[1].Next = &List[2];
    List[1].Buffer.Mdl = Second.Head; /* 600 bytes across the two MDLs of the chain */
    List[1].Buffer.Offset = BUF_SPLIT - 300;
    List[1].Buffer.Length = 600;
    List[2].Next = NULL;
    List[2].Buffer.Mdl = NULL; /* an empty datagram */
    List[2].Buffer.Offset = 0;
    List[2].Buffer.Length = 0;
    /* One control buffer for all: the loopback address as the source. */
    memset(Control, 0, sizeof(Control));
    if (Family == AF_INET) {
        C->cmsg_len = WSA_CMSG_LEN(sizeof(IN_PKTINFO));
        C->cmsg_level = IPPROTO_IP;
        C->cmsg_type = IP_PKTINFO;
        ((IN_PKTINFO *)WSA_CMSG_DATA(C))->ipi_addr.s_addr = RtlUlongByteSwap(0x7F000001);
        Length = WSA_CMSG_SPACE(sizeof(IN_PKTINFO));
    } else {
        C->cmsg_len = WSA_CMSG_LEN(sizeof(IN6_PKTINFO));
        C->cmsg_level = IPPROTO_IPV6;
        C->cmsg_type = IPV6_PKTINFO;
        ((IN6_PKTINFO *)WSA_CMSG_DATA(C))->ipi6_addr.u.Byte[15] = 1;
        Length = WSA_CMSG_SPACE(sizeof(IN6_PKTINFO));
    }
    ARM_RECORD(Irp, &Record, RecordRoutine);
    CHECK(Finish(D(A)->WskSendMessages(A, List, 0, (PSOCKADDR)BAddr, Length, C, Irp)) == STATUS_SUCCESS,
          "WskSendMessages: 0x%08x", (unsigned)Record.Status);
    CHECK(Record.Information == 605, "Information %lu, the total", (unsigned long)Record.Information);
    RecvExpect((RecvStart(&R, B, 64, 0), &R), "first", AAddr, "first of the list");
    RecvStart(&R, B, 1024, 0);
    CHECK(RecvFinish(&R) == STATUS_SUCCESS && R.Record.Information == 600, "second of the list: %lu bytes",
          (unsigned long)R.Record.Information);
    CHECK(memcmp(R.Buf.Data, Second.Data + BUF_SPLIT - 300, 600) == 0 && SameAddress(&R.Remote, AAddr),
          "second's bytes and sender");
    RecvStart(&R, B, 64, 0);
    CHECK(RecvFinish(&R) == STATUS_SUCCESS && R.Record.Information == 0, "the empty third");
    /* A one-element list with the destination set beforehand. */
    CHECK(SetAddress(A, SIO_WSK_SET_SENDTO_ADDRESS, SockaddrSize(Family), BAddr) == STATUS_SUCCESS, "sendto");
    List[0].Next = NULL;
    ARM_RECORD(Irp, &Record, RecordRoutine);
    CHECK(Finish(D(A)->WskSendMessages(A, List, 0, NULL, 0, NULL, Irp)) == STATUS_SUCCESS && Record.Information == 5,
          "a one-element list without an address");
    RecvExpect((RecvStart(&R, B, 64, 0), &R), "first", AAddr, "one-element list");
    CHECK(SetAddress(A, SIO_WSK_SET_SENDTO_ADDRESS, 0, NULL) == STATUS_SUCCESS, "clear");
    RecvFree(&R);
    BufFree(&Second);
}

/* WskReceiveFromEvent accepting: addresses, control information, flags. */
static void EventAccepted(ADDRESS_FAMILY Family, PWSK_SOCKET A, SOCKADDR_STORAGE *AAddr)
{
    static EVENTS E;
    SOCKADDR_STORAGE PAddr;
    PWSK_SOCKET P;
    ULONG Level = Family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;

    EventsInit(&E);
    P = Bound(Family, TRUE, &E, &EventDispatch, &PAddr);
    CHECK(SetUlong(P, Level, IP_PKTINFO, 1) == STATUS_SUCCESS, "packet info on");
    CHECK(EnableReceiveFrom(P) == STATUS_SUCCESS, "enable");
    CHECK(SendTo(A, "event one", &PAddr) == STATUS_SUCCESS, "send");
    WaitCalls(&E, 1);
    CHECK(Logged(&E, 0, "event one") && SameAddress(&E.Log[0].Remote, AAddr), "indicated with its sender");
    CHECK(E.Flags[0] == 0, "flags 0x%lx", (unsigned long)E.Flags[0]);
    CHECK(E.Log[0].ControlAligned, "ControlInfo 8-byte aligned");
    CheckPacketInfo(Family, E.Log[0].Control, E.Log[0].ControlLength, "WskReceiveFromEvent");
    CHECK(SetUlong(P, Level, IP_PKTINFO, 0) == STATUS_SUCCESS, "packet info off");
    CHECK(SendTo(A, "event two", &PAddr) == STATUS_SUCCESS, "send");
    WaitCalls(&E, 2);
    CHECK(Logged(&E, 1, "event two") && E.Log[1].ControlLength == 0, "no control information");
    /* Disabled (with an IRP): no more indications; the datagram waits for a receive. */
    CHECK(DisableReceiveFrom(P) == STATUS_SUCCESS, "disable: 0x%08x", (unsigned)Record.Status);
    CHECK(SendTo(A, "not indicated", &PAddr) == STATUS_SUCCESS, "send");
    {
        static RECV R;

        RecvInit(&R);
        RecvExpect((RecvStart(&R, P, 64, 0), &R), "not indicated", AAddr, "after disabling");
        RecvFree(&R);
    }
    CHECK(E.Calls == 2, "no indication after disabling (%ld)", (long)E.Calls);
    CHECK(Close(P) == STATUS_SUCCESS, "close");
}

typedef struct _RELEASE_PLAN {
    PWSK_SOCKET Socket;
    PWSK_DATAGRAM_INDICATION Element[4];
    NTSTATUS Status[5];
    KEVENT Done;
} RELEASE_PLAN;

/* On a system thread: WskRelease of the retained chain in pieces, last first. */
static VOID ReleaseThread(PVOID Context)
{
    RELEASE_PLAN *Plan = (RELEASE_PLAN *)Context;
    PFN_WSK_RELEASE_DATAGRAM_INDICATION_LIST Release = D(Plan->Socket)->WskRelease;
    PWSK_DATAGRAM_INDICATION *E = Plan->Element;

    Plan->Status[0] = Release(Plan->Socket, E[3]);  /* the last element alone */
    E[2]->Next = NULL;
    Plan->Status[1] = Release(Plan->Socket, E[2]);  /* the third, unlinked first */
    E[1]->Next = NULL;
    Plan->Status[2] = Release(Plan->Socket, E[0]);  /* the sub-chain of the first two */
    Plan->Status[3] = Release(Plan->Socket, E[3]);  /* again: refused */
    Plan->Status[4] = Release(Plan->Socket, E[1]);  /* part of a released sub-chain: refused */
    KeSetEvent(&Plan->Done, IO_NO_INCREMENT, FALSE);
    PsTerminateSystemThread(STATUS_SUCCESS);
}

/* STATUS_PENDING: the chain stays valid; released in pieces from another thread. */
static void EventPending(ADDRESS_FAMILY Family, PWSK_SOCKET A)
{
    static EVENTS E;
    static RELEASE_PLAN Plan;
    SOCKADDR_STORAGE PAddr;
    PWSK_SOCKET P;
    PWSK_DATAGRAM_INDICATION I;
    OBJECT_ATTRIBUTES Attributes;
    HANDLE Thread;
    PVOID ThreadObject;
    ULONG i;
    static const char *const Texts[4] = {"d0", "d1-", "d2--", "d3---"};

    EventsInit(&E);
    E.Modes[0] = ModePend;
    P = Bound(Family, TRUE, &E, &EventDispatch, &PAddr);
    /* Queued before the event is on: indicated as one chain. */
    for (i = 0; i < 4; i++) {
        CHECK(SendTo(A, Texts[i], &PAddr) == STATUS_SUCCESS, "send %lu", (unsigned long)i);
    }
    CHECK(EnableReceiveFrom(P) == STATUS_SUCCESS, "enable");
    WaitCalls(&E, 1);
    CHECK(E.Chains[0] == 4 && E.Retained != NULL, "one chain of 4 (%lu)", (unsigned long)E.Chains[0]);
    memset(&Plan, 0, sizeof(Plan));
    Plan.Socket = P;
    for (i = 0, I = E.Retained; i < 4; i++, I = I->Next) {
        CHECK(I != NULL, "element %lu", (unsigned long)i);
        Plan.Element[i] = I;
    }
    CHECK(I == NULL, "four elements");
    /* Indications continue while the chain is retained. */
    CHECK(SendTo(A, "next", &PAddr) == STATUS_SUCCESS, "send");
    WaitCalls(&E, 2);
    CHECK(E.Chains[1] == 1 && Logged(&E, 4, "next"), "a later indication");
    /* The retained datagrams are still there, after their callback returned. */
    for (i = 0; i < 4; i++) {
        I = Plan.Element[i];
        CHECK(I->Buffer.Length == strlen(Texts[i]) &&
                  memcmp((PUCHAR)MmGetSystemAddressForMdlSafe(I->Buffer.Mdl, NormalPagePriority) + I->Buffer.Offset,
                         Texts[i], I->Buffer.Length) == 0,
              "retained element %lu holds its datagram", (unsigned long)i);
    }
    KeInitializeEvent(&Plan.Done, NotificationEvent, FALSE);
    InitializeObjectAttributes(&Attributes, NULL, OBJ_KERNEL_HANDLE, NULL, NULL);
    CHECK(PsCreateSystemThread(&Thread, THREAD_ALL_ACCESS, &Attributes, NULL, NULL, ReleaseThread, &Plan) ==
              STATUS_SUCCESS,
          "PsCreateSystemThread");
    CHECK(ObReferenceObjectByHandle(Thread, SYNCHRONIZE, *PsThreadType, KernelMode, &ThreadObject, NULL) ==
              STATUS_SUCCESS,
          "ObReferenceObjectByHandle");
    ZwClose(Thread);
    CHECK(Wait(&Plan.Done) && Wait(ThreadObject), "the release thread finished");
    ObDereferenceObject(ThreadObject);
    CHECK(Plan.Status[0] == STATUS_SUCCESS && Plan.Status[1] == STATUS_SUCCESS && Plan.Status[2] == STATUS_SUCCESS,
          "releases: 0x%08x 0x%08x 0x%08x", (unsigned)Plan.Status[0], (unsigned)Plan.Status[1],
          (unsigned)Plan.Status[2]);
    CHECK(Plan.Status[3] == STATUS_INVALID_PARAMETER && Plan.Status[4] == STATUS_INVALID_PARAMETER,
          "second releases: 0x%08x 0x%08x", (unsigned)Plan.Status[3], (unsigned)Plan.Status[4]);
    CHECK(D(P)->WskRelease(P, NULL) == STATUS_INVALID_PARAMETER, "WskRelease(NULL)");
    CHECK(Close(P) == STATUS_SUCCESS, "close");
}

/* STATUS_DATA_NOT_ACCEPTED with a dynamically enabled event: disabled; the datagrams wait. */
static void EventRefusedDynamic(ADDRESS_FAMILY Family, PWSK_SOCKET A, SOCKADDR_STORAGE *AAddr)
{
    static EVENTS E;
    static RECV R;
    SOCKADDR_STORAGE PAddr;
    PWSK_SOCKET P;

    EventsInit(&E);
    RecvInit(&R);
    E.Modes[0] = ModeRefuse;
    P = Bound(Family, TRUE, &E, &EventDispatch, &PAddr);
    CHECK(EnableReceiveFrom(P) == STATUS_SUCCESS, "enable");
    CHECK(SendTo(A, "refused", &PAddr) == STATUS_SUCCESS, "send");
    WaitCalls(&E, 1);
    CHECK(SendTo(A, "later", &PAddr) == STATUS_SUCCESS, "send");
    ReactorRoundTrip();
    CHECK(E.Calls == 1, "a refused dynamic event is disabled (%ld calls)", (long)E.Calls);
    RecvExpect((RecvStart(&R, P, 64, 0), &R), "refused", AAddr, "the refused datagram first");
    RecvExpect((RecvStart(&R, P, 64, 0), &R), "later", AAddr, "then the next");
    CHECK(EnableReceiveFrom(P) == STATUS_SUCCESS, "enable again");
    CHECK(SendTo(A, "again", &PAddr) == STATUS_SUCCESS, "send");
    WaitCalls(&E, 2);
    CHECK(E.Chains[1] == 1 && Logged(&E, 1, "again"), "indicated again once enabled");
    CHECK(Close(P) == STATUS_SUCCESS, "close");
    RecvFree(&R);
}

/* STATUS_DATA_NOT_ACCEPTED with a static event: not disabled; called again with the
   refused datagrams first. */
static void EventRefusedStatic(ADDRESS_FAMILY Family, PWSK_SOCKET A)
{
    static const WSK_CLIENT_DISPATCH Dispatch = {MAKE_WSK_VERSION(1, 0), 0, NULL};
    static WSK_REGISTRATION StaticRegistration;
    static WSK_PROVIDER_NPI StaticNpi;
    static EVENTS E;
    WSK_CLIENT_NPI ClientNpi = {NULL, &Dispatch};
    WSK_EVENT_CALLBACK_CONTROL Ctl = {&NPI_WSK_INTERFACE_ID, WSK_EVENT_RECEIVE_FROM};
    SOCKADDR_STORAGE PAddr;
    PWSK_SOCKET P;
    NTSTATUS Status;

    EventsInit(&E);
    E.Modes[0] = ModeRefuse;
    E.Modes[1] = ModeRefuse;
    CHECK(WskRegister(&ClientNpi, &StaticRegistration) == STATUS_SUCCESS, "register");
    CHECK(WskCaptureProviderNPI(&StaticRegistration, WSK_INFINITE_WAIT, &StaticNpi) == STATUS_SUCCESS, "capture");
    Status = StaticNpi.Dispatch->WskControlClient(StaticNpi.Client, WSK_SET_STATIC_EVENT_CALLBACKS, sizeof(Ctl), &Ctl,
                                                  0, NULL, NULL, NULL);
    CHECK(Status == STATUS_SUCCESS, "WSK_SET_STATIC_EVENT_CALLBACKS: 0x%08x", (unsigned)Status);
    P = BoundTo(&StaticNpi, Family, TRUE, &E, &EventDispatch, &PAddr);
    /* Static: on without a call, and it cannot be disabled. */
    CHECK(DisableReceiveFrom(P) == STATUS_INVALID_PARAMETER, "disabling a static event: 0x%08x",
          (unsigned)Record.Status);
    CHECK(SendTo(A, "one", &PAddr) == STATUS_SUCCESS, "send");
    WaitCalls(&E, 1);
    CHECK(SendTo(A, "two", &PAddr) == STATUS_SUCCESS, "send");
    WaitCalls(&E, 2);
    CHECK(SendTo(A, "three", &PAddr) == STATUS_SUCCESS, "send");
    WaitCalls(&E, 3);
    CHECK(E.Chains[0] == 1 && E.Chains[1] == 2 && E.Chains[2] == 3, "chains %lu %lu %lu", (unsigned long)E.Chains[0],
          (unsigned long)E.Chains[1], (unsigned long)E.Chains[2]);
    CHECK(Logged(&E, 0, "one") && Logged(&E, 1, "one") && Logged(&E, 2, "two") && Logged(&E, 3, "one") &&
              Logged(&E, 4, "two") && Logged(&E, 5, "three"),
          "the refused datagrams first");
    CHECK(Close(P) == STATUS_SUCCESS, "close");
    WskReleaseProviderNPI(&StaticRegistration);
    WskDeregister(&StaticRegistration);
}

/* Pending WskReceiveFrom IRPs take datagrams before the event does. */
static void ReceivePrecedence(ADDRESS_FAMILY Family, PWSK_SOCKET A, SOCKADDR_STORAGE *AAddr)
{
    static EVENTS E;
    static RECV R1, R2;
    SOCKADDR_STORAGE PAddr;
    PWSK_SOCKET P;

    EventsInit(&E);
    RecvInit(&R1);
    RecvInit(&R2);
    P = Bound(Family, TRUE, &E, &EventDispatch, &PAddr);
    CHECK(EnableReceiveFrom(P) == STATUS_SUCCESS, "enable");
    CHECK(RecvStart(&R1, P, 64, 0) == STATUS_PENDING && RecvStart(&R2, P, 64, 0) == STATUS_PENDING,
          "two receives pend");
    CHECK(SendTo(A, "first", &PAddr) == STATUS_SUCCESS && SendTo(A, "second", &PAddr) == STATUS_SUCCESS, "send");
    RecvExpect(&R1, "first", AAddr, "FIFO, first");
    RecvExpect(&R2, "second", AAddr, "FIFO, second");
    CHECK(E.Calls == 0, "no indication while receives were pending");
    CHECK(SendTo(A, "third", &PAddr) == STATUS_SUCCESS, "send");
    WaitCalls(&E, 1);
    CHECK(Logged(&E, 0, "third"), "the event once no receive is pending");
    CHECK(Close(P) == STATUS_SUCCESS, "close");
    RecvFree(&R1);
    RecvFree(&R2);
}

/* IoCancelIrp of a pending receive; close with pending receives. */
static void CancelAndClose(ADDRESS_FAMILY Family)
{
    static RECV R[3];
    SOCKADDR_STORAGE PAddr;
    PWSK_SOCKET P = Bound(Family, TRUE, NULL, NULL, &PAddr);
    NTSTATUS Status;
    ULONG i;

    for (i = 0; i < 3; i++) {
        RecvInit(&R[i]);
    }
    CHECK(RecvStart(&R[0], P, 64, 0) == STATUS_PENDING && R[0].Record.Calls == 0, "pending");
    CHECK(IoCancelIrp(R[0].Irp), "IoCancelIrp");
    CHECK(RecvFinish(&R[0]) == STATUS_CANCELLED && R[0].Record.Information == 0, "cancelled: 0x%08x",
          (unsigned)R[0].Record.Status);
    for (i = 0; i < 3; i++) {
        CHECK(RecvStart(&R[i], P, 64, 16) == STATUS_PENDING, "receive %lu pends", (unsigned long)i);
    }
    ARM_RECORD(Irp, &Record, RecordRoutine);
    Status = D(P)->WskCloseSocket(P, Irp);
    CHECK(Finish(Status) == STATUS_SUCCESS, "close: 0x%08x", (unsigned)Record.Status);
    for (i = 0; i < 3; i++) {
        CHECK(RecvFinish(&R[i]) == STATUS_CANCELLED, "receive %lu at close: 0x%08x", (unsigned long)i,
              (unsigned)R[i].Record.Status);
        CHECK(R[i].Record.Ticket < Record.Ticket, "receive %lu completed before the close", (unsigned long)i);
        CHECK(R[i].ControlLength == 16 && R[i].ControlFlags == FLAGS_SENTINEL, "nothing written on failure");
        RecvFree(&R[i]);
    }
}

/* The datagram table with a connection socket, the connection table with a datagram socket. */
static void WrongCategory(ADDRESS_FAMILY Family, PWSK_SOCKET B, SOCKADDR_STORAGE *BAddr)
{
    static RECV R;
    WSK_BUF_LIST List = {NULL, {NULL, 0, 0}};
    PWSK_SOCKET K = NewSocketOf(&Npi, Family, WSK_FLAG_CONNECTION_SOCKET, NULL, NULL);
    const WSK_PROVIDER_CONNECTION_DISPATCH *C = (const WSK_PROVIDER_CONNECTION_DISPATCH *)K->Dispatch;
    const WSK_PROVIDER_DATAGRAM_DISPATCH *Dg = D(B);
    SOCKADDR_STORAGE Local;
    ULONG ControlLength = 0, ControlFlags = 0;

    RecvInit(&R);
    ARM_RECORD(Irp, &Record, RecordRoutine);
    CHECK(Finish(Dg->WskSendTo(K, Bytes(&SendBuf, "x", 1), 0, (PSOCKADDR)BAddr, 0, NULL, Irp)) ==
              STATUS_INVALID_DEVICE_REQUEST,
          "WskSendTo with a connection socket: 0x%08x", (unsigned)Record.Status);
    ARM_RECORD(Irp, &Record, RecordRoutine);
    CHECK(Finish(Dg->WskReceiveFrom(K, BufOf(&R.Buf, 16, FALSE, 0), 0, NULL, &ControlLength, NULL, &ControlFlags,
                                    Irp)) == STATUS_INVALID_DEVICE_REQUEST,
          "WskReceiveFrom with a connection socket");
    ARM_RECORD(Irp, &Record, RecordRoutine);
    CHECK(Finish(Dg->WskSendMessages(K, &List, 0, (PSOCKADDR)BAddr, 0, NULL, Irp)) == STATUS_INVALID_DEVICE_REQUEST,
          "WskSendMessages with a connection socket");
    CHECK(Dg->WskRelease(K, (PWSK_DATAGRAM_INDICATION)&List) == STATUS_INVALID_DEVICE_REQUEST,
          "datagram WskRelease with a connection socket");
    ARM_RECORD(Irp, &Record, RecordRoutine);
    CHECK(Finish(C->WskSend(B, Bytes(&SendBuf, "x", 1), 0, Irp)) == STATUS_INVALID_DEVICE_REQUEST,
          "WskSend with a datagram socket: 0x%08x", (unsigned)Record.Status);
    ARM_RECORD(Irp, &Record, RecordRoutine);
    CHECK(Finish(C->WskReceive(B, BufOf(&R.Buf, 16, FALSE, 0), 0, Irp)) == STATUS_INVALID_DEVICE_REQUEST,
          "WskReceive with a datagram socket");
    ARM_RECORD(Irp, &Record, RecordRoutine);
    CHECK(Finish(C->WskConnect(B, (PSOCKADDR)BAddr, 0, Irp)) == STATUS_INVALID_DEVICE_REQUEST,
          "WskConnect with a datagram socket");
    CHECK(C->WskRelease(B, (PWSK_DATA_INDICATION)&List) == STATUS_INVALID_DEVICE_REQUEST,
          "connection WskRelease with a datagram socket");
    /* Functions every table shares work through any of them. */
    ARM_RECORD(Irp, &Record, RecordRoutine);
    CHECK(Finish(C->WskGetLocalAddress(B, (PSOCKADDR)&Local, Irp)) == STATUS_SUCCESS &&
              PortOf(&Local) == PortOf(BAddr),
          "WskGetLocalAddress through the connection table");
    CHECK(Close(K) == STATUS_SUCCESS, "close");
    RecvFree(&R);
}

static void Families(ADDRESS_FAMILY Family)
{
    SOCKADDR_STORAGE AAddr, BAddr, XAddr;
    PWSK_SOCKET A, B;

    printf("datagram: family %s\n", Family == AF_INET ? "AF_INET" : "AF_INET6");
    fflush(stdout);
    RoundX = Bound(Family, TRUE, NULL, NULL, &XAddr);
    RoundY = Bound(Family, TRUE, NULL, NULL, &RoundYAddr);
    A = Bound(Family, TRUE, NULL, NULL, &AAddr);  /* wildcard */
    B = Bound(Family, FALSE, NULL, NULL, &BAddr); /* specific */
    StateAndBind(Family, &BAddr);
    RoundTrips(Family, A, &AAddr, B, &BAddr);
    PacketInfo(Family, A, &AAddr, B, &BAddr);
    SourceInfo(Family, B, &BAddr);
    FixedAddresses(Family);
    SendMessages(Family, A, &AAddr, B, &BAddr);
    EventAccepted(Family, A, &AAddr);
    EventPending(Family, A);
    EventRefusedDynamic(Family, A, &AAddr);
    EventRefusedStatic(Family, A);
    ReceivePrecedence(Family, A, &AAddr);
    CancelAndClose(Family);
    WrongCategory(Family, B, &BAddr);
    CHECK(Close(A) == STATUS_SUCCESS && Close(B) == STATUS_SUCCESS, "close");
    CHECK(Close(RoundX) == STATUS_SUCCESS && Close(RoundY) == STATUS_SUCCESS, "close");
}

static NTSTATUS WSKAPI ClientEvent(PVOID Context, ULONG EventType, PVOID Information, SIZE_T Length)
{
    UNREFERENCED_PARAMETER(Context);
    UNREFERENCED_PARAMETER(EventType);
    UNREFERENCED_PARAMETER(Information);
    UNREFERENCED_PARAMETER(Length);
    return STATUS_NOT_IMPLEMENTED;
}

int main(int argc, char **argv)
{
    static const WSK_CLIENT_DISPATCH Dispatch = {MAKE_WSK_VERSION(1, 0), 0, ClientEvent};
    WSK_CLIENT_NPI ClientNpi = {NULL, &Dispatch};

    CHECK(argc > 1, "usage: datagram LOOPBACK_INDEX");
    LoopbackIndex = (ULONG)strtoul(argv[1], NULL, 10);
    CHECK(WskRegister(&ClientNpi, &Registration) == STATUS_SUCCESS, "register");
    CHECK(WskCaptureProviderNPI(&Registration, WSK_INFINITE_WAIT, &Npi) == STATUS_SUCCESS, "capture");
    Irp = IoAllocateIrp(1, FALSE);
    CHECK(Irp != NULL, "IoAllocateIrp");
    BufInit(&SendBuf);
    RecvInit(&RoundRecv);

    Families(AF_INET);
    Families(AF_INET6);

    RecvFree(&RoundRecv);
    BufFree(&SendBuf);
    IoFreeIrp(Irp);
    WskReleaseProviderNPI(&Registration);
    WskDeregister(&Registration);
    printf("datagram: OK\n");
    return 0;
}
