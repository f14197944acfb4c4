/*
 * bad_input.c: main, the harness and the fixtures of the bad-input suite (see bad_input.h).
 *
 * Output: one "FAIL name: expected X got Y[; more]" line per failed case and the summary
 * "bad_input: N cases, M failed". A bad-input call that returns STATUS_PENDING is waited
 * for (bounded) and fails even if the IRP completes with the expected status: the docs
 * want the status returned at once. The exit status is 0 only if no case failed and there
 * were at least 500.
 */
#include "bad_input.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BI_SENTINEL_STATUS ((NTSTATUS)0x5A5A5A5A)
#define BI_SENTINEL_INFO ((ULONG_PTR)0xA5A5A5A5u)
#define BI_MIN_CASES 500

const char *const BiIrpKindName[BiIrpKinds] = {"irp", "null-irp", "nostack-irp", "zerostack-irp"};

BI_FIXTURES Fx;
WSK_SOCKET BiFakeSockets[4];
ULONG_PTR BiForeign[16];
PWSK_DATA_INDICATION volatile BiRetained;
KEVENT BiRetainedEvent;
KEVENT BiIndicatedAgainEvent;

static ULONG BiCases, BiFailures, BiPendingNotes, BiLeakedIrps;
static LONG BiLiveIrps; /* IRPs of the harness not freed: at the end, only the leaked ones */

/* ----- reporting ----- */

static VOID BiAppend(char *Buffer, size_t Size, const char *Format, ...) __attribute__((format(printf, 3, 4)));
static VOID BiAppend(char *Buffer, size_t Size, const char *Format, ...)
{
    size_t Used = strlen(Buffer);
    va_list Args;

    if (Used + 1 >= Size) {
        return;
    }
    va_start(Args, Format);
    vsnprintf(Buffer + Used, Size - Used, Format, Args);
    va_end(Args);
}

static BOOLEAN BiWaitFor(PVOID Object, LONGLONG Relative100ns)
{
    LARGE_INTEGER Timeout;

    Timeout.QuadPart = Relative100ns;
    return KeWaitForSingleObject(Object, Executive, KernelMode, FALSE, &Timeout) == STATUS_SUCCESS;
}

BOOLEAN BiWait(PVOID Object)
{
    return BiWaitFor(Object, BI_WAIT_100NS);
}

VOID BiFail(const char *Format, ...)
{
    va_list Args;

    BiCases++;
    BiFailures++;
    printf("FAIL ");
    va_start(Args, Format);
    vprintf(Format, Args);
    va_end(Args);
    printf("\n");
}

BOOLEAN BiExpect(NTSTATUS Returned, NTSTATUS Expected, const char *Format, ...)
{
    char Name[256];
    va_list Args;

    va_start(Args, Format);
    vsnprintf(Name, sizeof(Name), Format, Args);
    va_end(Args);
    BiCases++;
    if (Returned == Expected) {
        return TRUE;
    }
    BiFailures++;
    printf("FAIL %s: expected 0x%08X got 0x%08X\n", Name, (unsigned)Expected, (unsigned)Returned);
    return FALSE;
}

BOOLEAN BiTrue(BOOLEAN Condition, const char *Format, ...)
{
    char Name[256];
    va_list Args;

    va_start(Args, Format);
    vsnprintf(Name, sizeof(Name), Format, Args);
    va_end(Args);
    BiCases++;
    if (Condition) {
        return TRUE;
    }
    BiFailures++;
    printf("FAIL %s: expected true got false\n", Name);
    return FALSE;
}

VOID BiReturned(const char *Format, ...)
{
    UNREFERENCED_PARAMETER(Format);
    BiCases++;
}

/* ----- IRPs ----- */

static NTSTATUS BiComplete(PDEVICE_OBJECT DeviceObject, PIRP Irp, PVOID Context)
{
    BI_RECORD *Record = (BI_RECORD *)Context;

    UNREFERENCED_PARAMETER(DeviceObject);
    Record->Status = Irp->IoStatus.Status;
    Record->Information = Irp->IoStatus.Information;
    Record->PendingReturned = Irp->PendingReturned;
    InterlockedIncrement(&Record->Calls);
    KeSetEvent(&Record->Done, IO_NO_INCREMENT, FALSE);
    return STATUS_MORE_PROCESSING_REQUIRED;
}

PIRP BiBegin(BI_CALL *Call, BI_IRP_KIND Kind)
{
    BI_RECORD *Record;
    PIRP Irp = NULL;

    memset(Call, 0, sizeof(*Call));
    Call->Kind = Kind;
    Record = (BI_RECORD *)ExAllocatePoolZero(NonPagedPoolNx, sizeof(BI_RECORD), BI_TAG);
    if (Record == NULL) {
        printf("FAIL harness: no pool for a call record\n");
        fflush(stdout);
        exit(2);
    }
    KeInitializeEvent(&Record->Done, NotificationEvent, FALSE);
    KeInitializeEvent(&Record->UserEvent, NotificationEvent, FALSE);
    Record->UserIosb.Status = BI_SENTINEL_STATUS;
    Call->Record = Record;
    switch (Kind) {
    case BiIrpNone:
        return NULL;
    case BiIrpFresh:
        Irp = IoAllocateIrp(1, FALSE);
        if (Irp != NULL) {
            IoSetCompletionRoutine(Irp, BiComplete, Record, TRUE, TRUE, TRUE);
        }
        break;
    case BiIrpNoStack:
        /* The routine goes into the only location, which then becomes the current one: a
         * provider completing the IRP without taking a location of its own would run it. */
        Irp = IoAllocateIrp(1, FALSE);
        if (Irp != NULL) {
            IoSetCompletionRoutine(Irp, BiComplete, Record, TRUE, TRUE, TRUE);
            IoSetNextIrpStackLocation(Irp);
        }
        break;
    case BiIrpZeroStack:
    default:
        Irp = IoAllocateIrp(0, FALSE);
        break;
    }
    if (Irp == NULL) {
        printf("FAIL harness: IoAllocateIrp failed\n");
        fflush(stdout);
        exit(2);
    }
    /* Completed to its top (what a provider taking a location that is not there would end
     * up doing), the IRP sets UserEvent and is freed by libwsk. */
    Irp->UserIosb = &Record->UserIosb;
    Irp->UserEvent = &Record->UserEvent;
    Irp->IoStatus.Status = BI_SENTINEL_STATUS;
    Irp->IoStatus.Information = BI_SENTINEL_INFO;
    Call->Irp = Irp;
    Call->LocationBefore = Irp->CurrentLocation;
    BiLiveIrps++;
    return Irp;
}

/*
 * Waits for a pending IRP; cancels it after the bounded wait. FALSE if it never completed.
 * A provider that wrongly takes bad input may leave many IRPs pending: after a few full
 * waits, later ones wait 250 ms before cancelling, to stay within the test's time limit.
 */
static BOOLEAN BiAwait(BI_CALL *Call, char *Problem, size_t Size)
{
    static ULONG Timeouts;
    LONGLONG Wait = Timeouts < 4 ? BI_WAIT_100NS : -2500000LL;

    if (BiWaitFor(&Call->Record->Done, Wait)) {
        return TRUE;
    }
    Timeouts++;
    BiAppend(Problem, Size, "; still pending after %lld ms", -Wait / 10000);
    IoCancelIrp(Call->Irp);
    if (BiWait(&Call->Record->Done)) {
        BiAppend(Problem, Size, ", completed by IoCancelIrp");
        return TRUE;
    }
    BiAppend(Problem, Size, "; never completed, not even after IoCancelIrp (IRP leaked)");
    return FALSE;
}

/* A fresh IRP's checks; returns the status to compare with the expected one. */
static NTSTATUS BiCheckFresh(BI_CALL *Call, NTSTATUS Returned, ULONG Flags, char *Problem, size_t Size,
                             BOOLEAN *FreeIrp)
{
    BI_RECORD *Record = Call->Record;
    NTSTATUS Final = Returned;

    if (Returned == STATUS_PENDING) {
        if (!BiAwait(Call, Problem, Size)) {
            *FreeIrp = FALSE;
            return STATUS_PENDING;
        }
        Final = Record->Status;
        BiPendingNotes++;
        /* The docs: a bad input completes the IRP at once and returns the status. */
        BiAppend(Problem, Size, "; returned STATUS_PENDING (completed the IRP with 0x%08X later)", (unsigned)Final);
        if (!Record->PendingReturned) {
            BiAppend(Problem, Size, "; returned STATUS_PENDING without marking the IRP pending");
        }
    } else if (Record->Calls == 0) {
        BiAppend(Problem, Size, "; IRP not completed when the function returned");
        if (!BiAwait(Call, Problem, Size)) {
            *FreeIrp = FALSE;
            return Returned;
        }
    }
    if (Record->Calls != 1) {
        BiAppend(Problem, Size, "; completion routine ran %ld times", (long)Record->Calls);
    }
    if (Returned != STATUS_PENDING && Record->Status != Returned) {
        BiAppend(Problem, Size, "; returned 0x%08X but completed the IRP with 0x%08X", (unsigned)Returned,
                 (unsigned)Record->Status);
        Final = Record->Status;
    }
    if (Record->Information != 0) {
        BiAppend(Problem, Size, "; IoStatus.Information 0x%llx", (unsigned long long)Record->Information);
    }
    if (Returned != STATUS_PENDING && Record->PendingReturned) {
        BiAppend(Problem, Size, "; PendingReturned set on a synchronous completion");
    }
    if (Call->Irp->CurrentLocation != Call->LocationBefore) {
        BiAppend(Problem, Size, "; CurrentLocation %d after completion, %d before", Call->Irp->CurrentLocation,
                 Call->LocationBefore);
    }
    if ((Flags & BI_MAY_CREATE) && NT_SUCCESS(Record->Status) && Record->Information != 0 &&
        Record->Information != BI_SENTINEL_INFO) {
        BiAppend(Problem, Size, "; a socket was created (closed again: 0x%08X)",
                 (unsigned)BiCloseSocket((PWSK_SOCKET)Record->Information));
    }
    return Final;
}

BOOLEAN BiEnd(BI_CALL *Call, NTSTATUS Returned, NTSTATUS Expected, ULONG Flags, const char *Format, ...)
{
    char Name[256];
    char Problem[768];
    BI_RECORD *Record = Call->Record;
    BOOLEAN FreeIrp = TRUE;
    NTSTATUS Got = Returned;
    va_list Args;

    va_start(Args, Format);
    vsnprintf(Name, sizeof(Name), Format, Args);
    va_end(Args);
    Problem[0] = '\0';
    BiCases++;
    if ((Call->Kind == BiIrpNone && !(Flags & BI_IRP_OPTIONAL)) || Call->Kind == BiIrpNoStack ||
        Call->Kind == BiIrpZeroStack) {
        Expected = STATUS_INVALID_PARAMETER;
    }
    switch (Call->Kind) {
    case BiIrpNone:
        break;
    case BiIrpFresh:
        Got = BiCheckFresh(Call, Returned, Flags, Problem, sizeof(Problem), &FreeIrp);
        break;
    case BiIrpNoStack:
    case BiIrpZeroStack:
    default:
        if (KeReadStateEvent(&Record->UserEvent) != 0) {
            BiAppend(Problem, sizeof(Problem), "; the IRP was completed past its stack (libwsk freed it)");
            FreeIrp = FALSE;
            break;
        }
        if (Record->Calls != 0) {
            BiAppend(Problem, sizeof(Problem), "; the IRP was completed (routine ran %ld times)", (long)Record->Calls);
        }
        if (Call->Irp->CurrentLocation != Call->LocationBefore) {
            BiAppend(Problem, sizeof(Problem), "; CurrentLocation %d, was %d", Call->Irp->CurrentLocation,
                     Call->LocationBefore);
        }
        if (Call->Irp->IoStatus.Status != BI_SENTINEL_STATUS || Call->Irp->IoStatus.Information != BI_SENTINEL_INFO) {
            BiAppend(Problem, sizeof(Problem), "; IoStatus written (0x%08X)", (unsigned)Call->Irp->IoStatus.Status);
        }
        if (Returned == STATUS_PENDING) {
            BiAppend(Problem, sizeof(Problem), "; STATUS_PENDING for an IRP it may not take (IRP leaked)");
            FreeIrp = FALSE;
        }
        break;
    }
    if (Call->Irp != NULL) {
        if (FreeIrp) {
            IoFreeIrp(Call->Irp);
            BiLiveIrps--;
            ExFreePoolWithTag(Record, BI_TAG);
        } else {
            BiLeakedIrps++;
        }
    } else {
        ExFreePoolWithTag(Record, BI_TAG);
    }
    Call->Irp = NULL;
    Call->Record = NULL;
    if (Got == Expected && Problem[0] == '\0') {
        return TRUE;
    }
    BiFailures++;
    printf("FAIL %s: expected 0x%08X got 0x%08X%s\n", Name, (unsigned)Expected, (unsigned)Got, Problem);
    return FALSE;
}

PIRP BiSyncBegin(BI_CALL *Call)
{
    return BiBegin(Call, BiIrpFresh);
}

NTSTATUS BiSyncEnd(BI_CALL *Call, NTSTATUS Returned, ULONG_PTR *Information)
{
    BI_RECORD *Record = Call->Record;
    NTSTATUS Status;

    if (!BiWait(&Record->Done)) {
        IoCancelIrp(Call->Irp);
        if (!BiWait(&Record->Done)) {
            BiLeakedIrps++;
            return STATUS_IO_TIMEOUT; /* leaked: the provider still owns the IRP */
        }
    }
    Status = Record->Status;
    if (Returned != STATUS_PENDING && Returned != Status) {
        printf("NOTE setup: a call returned 0x%08X but completed its IRP with 0x%08X\n", (unsigned)Returned,
               (unsigned)Status);
    }
    if (Information != NULL) {
        *Information = Record->Information;
    }
    IoFreeIrp(Call->Irp);
    BiLiveIrps--;
    ExFreePoolWithTag(Record, BI_TAG);
    Call->Irp = NULL;
    Call->Record = NULL;
    return Status;
}

NTSTATUS BiCloseSocket(PWSK_SOCKET Socket)
{
    const WSK_PROVIDER_BASIC_DISPATCH *Basic = (const WSK_PROVIDER_BASIC_DISPATCH *)Socket->Dispatch;
    BI_CALL Call;
    PIRP Irp = BiSyncBegin(&Call);

    return BiSyncEnd(&Call, Basic->WskCloseSocket(Socket, Irp), NULL);
}

VOID BiFamilyAddress(SOCKADDR_STORAGE *Storage, USHORT Family)
{
    memset(Storage, 0, sizeof(*Storage));
    Storage->ss_family = Family;
}

/* ----- fixtures ----- */

static NTSTATUS WSKAPI BiReceiveEvent(PVOID SocketContext, ULONG Flags, PWSK_DATA_INDICATION DataIndication,
                                      SIZE_T BytesIndicated, SIZE_T *BytesAccepted)
{
    UNREFERENCED_PARAMETER(SocketContext);
    UNREFERENCED_PARAMETER(Flags);
    UNREFERENCED_PARAMETER(BytesIndicated);
    UNREFERENCED_PARAMETER(BytesAccepted);
    if (DataIndication != NULL &&
        InterlockedCompareExchangePointer((PVOID volatile *)&BiRetained, DataIndication, NULL) == NULL) {
        KeSetEvent(&BiRetainedEvent, IO_NO_INCREMENT, FALSE);
        return STATUS_PENDING; /* retained until WskRelease */
    }
    if (DataIndication != NULL) {
        /* Callbacks of a socket are serial: the retention above is recorded by now. */
        KeSetEvent(&BiIndicatedAgainEvent, IO_NO_INCREMENT, FALSE);
    }
    return STATUS_SUCCESS;
}

static NTSTATUS WSKAPI BiDisconnectEvent(PVOID SocketContext, ULONG Flags)
{
    UNREFERENCED_PARAMETER(SocketContext);
    UNREFERENCED_PARAMETER(Flags);
    return STATUS_SUCCESS;
}

static NTSTATUS WSKAPI BiSendBacklogEvent(PVOID SocketContext, SIZE_T IdealBacklogSize)
{
    UNREFERENCED_PARAMETER(SocketContext);
    UNREFERENCED_PARAMETER(IdealBacklogSize);
    return STATUS_SUCCESS;
}

static const WSK_CLIENT_CONNECTION_DISPATCH BiPassiveDispatch = {BiReceiveEvent, BiDisconnectEvent,
                                                                 BiSendBacklogEvent};
static const WSK_CLIENT_DISPATCH BiClientDispatch = {MAKE_WSK_VERSION(1, 0), 0, NULL};

/* A socket for the fixtures; NULL (a failed case, or only a NOTE if Optional) if it cannot be made. */
static PWSK_SOCKET BiNewSocketEx(USHORT Family, ULONG Flags, const char *What, BOOLEAN Optional)
{
    BI_CALL Call;
    ULONG_PTR Information = 0;
    PIRP Irp = BiSyncBegin(&Call);
    NTSTATUS Status = Fx.Provider->WskSocket(Fx.WskClient, Family, SOCK_STREAM, IPPROTO_TCP, Flags, NULL, NULL, NULL,
                                             NULL, NULL, Irp);

    Status = BiSyncEnd(&Call, Status, &Information);
    if (!NT_SUCCESS(Status) || Information == 0) {
        if (Optional) {
            printf("NOTE setup: no %s (0x%08X): its cases are skipped\n", What, (unsigned)Status);
        } else {
            BiFail("setup: WskSocket for %s: 0x%08X", What, (unsigned)Status);
        }
        return NULL;
    }
    return (PWSK_SOCKET)Information;
}

static PWSK_SOCKET BiNewSocket(USHORT Family, ULONG Flags, const char *What)
{
    return BiNewSocketEx(Family, Flags, What, FALSE);
}

static BOOLEAN BiBindSocket(PWSK_SOCKET Socket, BOOLEAN Listen, PSOCKADDR Address, const char *What)
{
    BI_CALL Call;
    PIRP Irp = BiSyncBegin(&Call);
    NTSTATUS Status;

    if (Listen) {
        Status = ((const WSK_PROVIDER_LISTEN_DISPATCH *)Socket->Dispatch)->WskBind(Socket, Address, 0, Irp);
    } else {
        Status = ((const WSK_PROVIDER_CONNECTION_DISPATCH *)Socket->Dispatch)->WskBind(Socket, Address, 0, Irp);
    }
    Status = BiSyncEnd(&Call, Status, NULL);
    if (!NT_SUCCESS(Status)) {
        BiFail("setup: WskBind of %s: 0x%08X", What, (unsigned)Status);
        return FALSE;
    }
    return TRUE;
}

static BOOLEAN BiMakePair(VOID)
{
    BI_CALL Accept, Connect;
    ULONG_PTR Information = 0;
    PIRP AcceptIrp = BiSyncBegin(&Accept);
    PIRP ConnectIrp;
    NTSTATUS AcceptStatus, ConnectStatus;

    AcceptStatus = Fx.Listen->WskAccept(Fx.ListenBound, 0, &Fx, &BiPassiveDispatch, NULL, NULL, AcceptIrp);
    ConnectIrp = BiSyncBegin(&Connect);
    ConnectStatus = Fx.Provider->WskSocketConnect(Fx.WskClient, SOCK_STREAM, IPPROTO_TCP, (PSOCKADDR)&Fx.Loopback,
                                                  (PSOCKADDR)&Fx.ListenAddr, 0, NULL, NULL, NULL, NULL, NULL,
                                                  ConnectIrp);
    ConnectStatus = BiSyncEnd(&Connect, ConnectStatus, &Information);
    if (NT_SUCCESS(ConnectStatus)) {
        Fx.Active = (PWSK_SOCKET)Information;
    }
    Information = 0;
    AcceptStatus = BiSyncEnd(&Accept, AcceptStatus, &Information);
    if (NT_SUCCESS(AcceptStatus)) {
        Fx.Passive = (PWSK_SOCKET)Information;
    }
    if (Fx.Active == NULL || Fx.Passive == NULL) {
        BiFail("setup: connected pair: WskSocketConnect 0x%08X, WskAccept 0x%08X", (unsigned)ConnectStatus,
               (unsigned)AcceptStatus);
        return FALSE;
    }
    return TRUE;
}

static BOOLEAN BiMakeBuffers(VOID)
{
    Fx.Pool = (PUCHAR)ExAllocatePoolZero(NonPagedPoolNx, BI_POOL_BYTES, BI_TAG);
    Fx.BigPool = (PUCHAR)ExAllocatePoolZero(NonPagedPoolNx, BI_BIG_BYTES, BI_TAG);
    if (Fx.Pool == NULL || Fx.BigPool == NULL) {
        BiFail("setup: no pool for the buffers");
        return FALSE;
    }
    Fx.Single = IoAllocateMdl(Fx.Pool, BI_SINGLE_BYTES, FALSE, FALSE, NULL);
    Fx.ChainHead = IoAllocateMdl(Fx.Pool + 1024, BI_CHAIN_FIRST, FALSE, FALSE, NULL);
    Fx.ChainTail = IoAllocateMdl(Fx.Pool + 2048, BI_CHAIN_SECOND, FALSE, FALSE, NULL);
    Fx.Big = IoAllocateMdl(Fx.BigPool, BI_BIG_BYTES, FALSE, FALSE, NULL);
    if (Fx.Single == NULL || Fx.ChainHead == NULL || Fx.ChainTail == NULL || Fx.Big == NULL) {
        BiFail("setup: IoAllocateMdl failed");
        return FALSE;
    }
    MmBuildMdlForNonPagedPool(Fx.Single);
    MmBuildMdlForNonPagedPool(Fx.ChainHead);
    MmBuildMdlForNonPagedPool(Fx.ChainTail);
    MmBuildMdlForNonPagedPool(Fx.Big);
    Fx.ChainHead->Next = Fx.ChainTail;
    return TRUE;
}

static BOOLEAN BiLocalAddress(VOID)
{
    BI_CALL Call;
    PIRP Irp = BiSyncBegin(&Call);
    NTSTATUS Status = Fx.Listen->WskGetLocalAddress(Fx.ListenBound, (PSOCKADDR)&Fx.ListenAddr, Irp);

    Status = BiSyncEnd(&Call, Status, NULL);
    if (!NT_SUCCESS(Status) || Fx.ListenAddr.sin_family != AF_INET || Fx.ListenAddr.sin_port == 0) {
        BiFail("setup: WskGetLocalAddress of the listener: 0x%08X", (unsigned)Status);
        return FALSE;
    }
    return TRUE;
}

static BOOLEAN BiSetUp(VOID)
{
    Fx.Loopback.sin_family = AF_INET;
    Fx.Loopback.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    Fx.Any6.sin6_family = AF_INET6;
    if (!BiMakeBuffers()) {
        return FALSE;
    }
    Fx.ListenBound = BiNewSocket(AF_INET, WSK_FLAG_LISTEN_SOCKET, "the bound listener");
    Fx.ListenUnbound = BiNewSocket(AF_INET, WSK_FLAG_LISTEN_SOCKET, "the unbound listener");
    Fx.ConnUnbound = BiNewSocket(AF_INET, WSK_FLAG_CONNECTION_SOCKET, "the unbound connection socket");
    Fx.ConnBound = BiNewSocket(AF_INET, WSK_FLAG_CONNECTION_SOCKET, "the bound connection socket");
    Fx.ClosedListen = BiNewSocket(AF_INET, WSK_FLAG_LISTEN_SOCKET, "the closed listener");
    Fx.ClosedConn = BiNewSocket(AF_INET, WSK_FLAG_CONNECTION_SOCKET, "the closed connection socket");
    if (Fx.ListenBound == NULL || Fx.ListenUnbound == NULL || Fx.ConnUnbound == NULL || Fx.ConnBound == NULL ||
        Fx.ClosedListen == NULL || Fx.ClosedConn == NULL) {
        return FALSE;
    }
    Fx.Listen = (const WSK_PROVIDER_LISTEN_DISPATCH *)Fx.ListenBound->Dispatch;
    Fx.Connection = (const WSK_PROVIDER_CONNECTION_DISPATCH *)Fx.ConnBound->Dispatch;
    if (!NT_SUCCESS(BiCloseSocket(Fx.ClosedListen)) || !NT_SUCCESS(BiCloseSocket(Fx.ClosedConn))) {
        BiFail("setup: closing the sockets to be used as closed handles failed");
        return FALSE;
    }
    if (!BiBindSocket(Fx.ListenBound, TRUE, (PSOCKADDR)&Fx.Loopback, "the listener") ||
        !BiBindSocket(Fx.ConnBound, FALSE, (PSOCKADDR)&Fx.Loopback, "the bound connection socket") ||
        !BiLocalAddress()) {
        return FALSE;
    }
    Fx.Loopback6Port.sin6_family = AF_INET6;
    Fx.Loopback6Port.sin6_port = Fx.ListenAddr.sin_port;
    Fx.Loopback6Port.sin6_addr.u.Byte[15] = 1;
    /* IPv6 fixtures are optional: a host without IPv6 skips their cases. */
    Fx.Listen6 = BiNewSocketEx(AF_INET6, WSK_FLAG_LISTEN_SOCKET, "IPv6 listener", TRUE);
    Fx.Conn6 = BiNewSocketEx(AF_INET6, WSK_FLAG_CONNECTION_SOCKET, "IPv6 connection socket", TRUE);
    if (!BiMakePair()) {
        return FALSE;
    }
    BiFakeSockets[0].Dispatch = Fx.Listen;
    BiFakeSockets[1].Dispatch = Fx.Connection;
    BiFakeSockets[2].Dispatch = NULL;
    BiFakeSockets[3].Dispatch = BiForeign;
    return TRUE;
}

static VOID BiCloseFixture(PWSK_SOCKET *Socket, const char *What)
{
    NTSTATUS Status;

    if (*Socket == NULL) {
        return;
    }
    Status = BiCloseSocket(*Socket);
    if (Status != STATUS_SUCCESS) {
        BiFail("teardown: WskCloseSocket of %s: 0x%08X (expected STATUS_SUCCESS: the socket must still be open)",
               What, (unsigned)Status);
    }
}

static VOID BiTearDown(VOID)
{
    BiCloseFixture(&Fx.Passive, "the accepted socket");
    BiCloseFixture(&Fx.Active, "the connected socket");
    BiCloseFixture(&Fx.ConnBound, "the bound connection socket");
    BiCloseFixture(&Fx.ConnUnbound, "the unbound connection socket");
    BiCloseFixture(&Fx.Conn6, "the IPv6 connection socket");
    BiCloseFixture(&Fx.ListenBound, "the bound listener");
    BiCloseFixture(&Fx.ListenUnbound, "the unbound listener");
    BiCloseFixture(&Fx.Listen6, "the IPv6 listener");
    if (Fx.ChainHead != NULL) {
        Fx.ChainHead->Next = NULL;
    }
    if (Fx.Single != NULL) {
        IoFreeMdl(Fx.Single);
    }
    if (Fx.ChainHead != NULL) {
        IoFreeMdl(Fx.ChainHead);
    }
    if (Fx.ChainTail != NULL) {
        IoFreeMdl(Fx.ChainTail);
    }
    if (Fx.Big != NULL) {
        IoFreeMdl(Fx.Big);
    }
    if (Fx.Pool != NULL) {
        ExFreePoolWithTag(Fx.Pool, BI_TAG);
    }
    if (Fx.BigPool != NULL) {
        ExFreePoolWithTag(Fx.BigPool, BI_TAG);
    }
    Fx.Single = Fx.ChainHead = Fx.ChainTail = Fx.Big = NULL;
    Fx.Pool = Fx.BigPool = NULL;
}

static BOOLEAN BiRegister(VOID)
{
    NTSTATUS Status;

    Fx.ClientNpi.ClientContext = &Fx;
    Fx.ClientNpi.Dispatch = &BiClientDispatch;
    Status = WskRegister(&Fx.ClientNpi, &Fx.Registration);
    if (!NT_SUCCESS(Status)) {
        BiFail("setup: WskRegister: 0x%08X", (unsigned)Status);
        return FALSE;
    }
    Status = WskCaptureProviderNPI(&Fx.Registration, 5000, &Fx.Npi);
    if (!NT_SUCCESS(Status)) {
        BiFail("setup: WskCaptureProviderNPI: 0x%08X", (unsigned)Status);
        WskDeregister(&Fx.Registration);
        return FALSE;
    }
    Fx.WskClient = Fx.Npi.Client;
    Fx.Provider = Fx.Npi.Dispatch;
    return TRUE;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    KeInitializeEvent(&BiRetainedEvent, NotificationEvent, FALSE);
    KeInitializeEvent(&BiIndicatedAgainEvent, NotificationEvent, FALSE);

    BiRegistrationCases();
    if (BiRegister()) {
        BiRegisteredCases();
        BiClientCases();
        if (BiSetUp()) {
            BiSocketMatrixCases();
            BiAddressCases();
            BiFlagCases();
            BiInspectCases();
            BiControlSocketCases();
            BiDatagramCases();
            BiBufferCases();
            BiReleaseCases();
            BiDisconnectCases();
        }
        BiTearDown();
        if (Fx.Listen != NULL) {
            BiClosedHandleCases("after close");
        }
        BiDeregisteringCases();
        WskReleaseProviderNPI(&Fx.Registration);
        WskDeregister(&Fx.Registration);
        BiAfterDeregisterCases();
    }

    if (BiLiveIrps != (LONG)BiLeakedIrps) {
        BiFail("harness: %ld IRPs not freed, %lu of them leaked by failed cases", (long)BiLiveIrps,
               (unsigned long)BiLeakedIrps);
    }
    if (BiPendingNotes != 0) {
        printf("bad_input: %lu bad-input calls returned STATUS_PENDING instead of their status\n",
               (unsigned long)BiPendingNotes);
    }
    if (BiLeakedIrps != 0) {
        printf("bad_input: %lu IRPs never completed (leaked)\n", (unsigned long)BiLeakedIrps);
    }
    printf("bad_input: %lu cases, %lu failed\n", (unsigned long)BiCases, (unsigned long)BiFailures);
    fflush(stdout);
    return (BiFailures == 0 && BiCases >= BI_MIN_CASES) ? 0 : 1;
}
