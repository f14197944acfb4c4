/*
 * seed_host.c: drives the two seed examples (seed_receive.c) against a real TCP peer.
 *
 *   seed_host PORT LEN_A LEN_B
 *
 * The peer (tests/seed.rs) listens on 127.0.0.1:PORT. This program:
 *  1. registers with WSK, captures the provider NPI, connects a connection socket to the
 *     peer with WskSocketConnect (SocketContext: the SEED_CONNECTION; client dispatch:
 *     the seed's WskReceiveEvent);
 *  2. receives the peer's first LEN_A bytes with the first example's ReceiveData() into an
 *     MDL-described pool buffer, one WskReceive after another until all arrived, and checks
 *     them; prints "seed_host: receive OK ...";
 *  3. enables WskReceiveEvent (SO_WSK_EVENT_CALLBACK), prints "seed_host: events enabled"
 *     (the peer sends the next LEN_B bytes only then) and checks that those bytes arrive
 *     through the second example's WskReceiveEvent; prints "seed_host: event OK ...";
 *  4. disables the event, disconnects gracefully (the peer sees end-of-stream), receives
 *     the peer's own end-of-stream with ReceiveData() (0 bytes), closes the socket, releases
 *     the NPI, deregisters; prints "seed_host: done".
 * Any failure prints "seed_host: FAIL ..." and exits 1.
 *
 * Stream contents: byte i of the first part is SeedPattern(i, 'A'), of the second part
 * SeedPattern(i, 'B').
 */
#include "seed_receive.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define WAIT_SECONDS 30

static void Fail(const char *Format, ...)
{
    va_list Args;

    va_start(Args, Format);
    printf("seed_host: FAIL ");
    vprintf(Format, Args);
    printf("\n");
    va_end(Args);
    fflush(stdout);
    exit(1);
}

static void Say(const char *Format, ...)
{
    va_list Args;

    va_start(Args, Format);
    printf("seed_host: ");
    vprintf(Format, Args);
    printf("\n");
    va_end(Args);
    fflush(stdout);
}

/* TRUE if Event was set within WAIT_SECONDS. */
static BOOLEAN WaitFor(PKEVENT Event)
{
    LARGE_INTEGER Timeout;

    Timeout.QuadPart = -(LONGLONG)WAIT_SECONDS * 10 * 1000 * 1000;
    return KeWaitForSingleObject(Event, Executive, KernelMode, FALSE, &Timeout) == STATUS_SUCCESS;
}

static NTSTATUS SignalComplete(PDEVICE_OBJECT DeviceObject, PIRP Irp, PVOID Context)
{
    UNREFERENCED_PARAMETER(DeviceObject);
    UNREFERENCED_PARAMETER(Irp);
    KeSetEvent((PKEVENT)Context, IO_NO_INCREMENT, FALSE);
    return STATUS_MORE_PROCESSING_REQUIRED;
}

/* Prepares the host's own IRP for the next call. */
static VOID Arm(PIRP Irp, PKEVENT Event)
{
    IoReuseIrp(Irp, STATUS_UNSUCCESSFUL);
    KeClearEvent(Event);
    IoSetCompletionRoutine(Irp, SignalComplete, Event, TRUE, TRUE, TRUE);
}

/* The final status of a call made with an armed IRP. */
static NTSTATUS Finish(const char *What, PIRP Irp, PKEVENT Event, NTSTATUS Returned)
{
    if (!WaitFor(Event)) {
        Fail("%s: the IRP was not completed within %d s (returned 0x%08X)", What, WAIT_SECONDS,
             (unsigned)Returned);
    }
    if (Returned != STATUS_PENDING && Returned != Irp->IoStatus.Status) {
        Fail("%s returned 0x%08X but completed the IRP with 0x%08X", What, (unsigned)Returned,
             (unsigned)Irp->IoStatus.Status);
    }
    return Irp->IoStatus.Status;
}

static unsigned long ParseArg(const char *Arg)
{
    char *End;
    unsigned long Value = strtoul(Arg, &End, 10);

    if (*Arg == '\0' || *End != '\0') {
        Fail("bad argument '%s'", Arg);
    }
    return Value;
}

static const WSK_CLIENT_DISPATCH SeedClientDispatch = {MAKE_WSK_VERSION(1, 0), 0, NULL};

/* The second example's callback; nothing else. */
static const WSK_CLIENT_CONNECTION_DISPATCH SeedConnectionDispatch = {WskReceiveEvent, NULL, NULL};

static SEED_CONNECTION Connection;

int main(int argc, char **argv)
{
    WSK_CLIENT_NPI ClientNpi;
    WSK_REGISTRATION Registration;
    WSK_PROVIDER_NPI ProviderNpi;
    PWSK_PROVIDER_CONNECTION_DISPATCH Dispatch;
    WSK_EVENT_CALLBACK_CONTROL Callbacks;
    SOCKADDR_IN Local, Remote;
    KEVENT IrpDone;
    PIRP Irp;
    PUCHAR BufferA, BufferB;
    PMDL MdlA;
    WSK_BUF Buffer;
    SIZE_T Port, LengthA, LengthB, Received, i;
    ULONG Receives;
    NTSTATUS Status;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc != 4) {
        Fail("usage: seed_host PORT LEN_A LEN_B");
    }
    Port = ParseArg(argv[1]);
    LengthA = ParseArg(argv[2]);
    LengthB = ParseArg(argv[3]);
    if (Port == 0 || Port > 65535 || LengthA == 0 || LengthB == 0 || LengthA > 0x10000000) {
        Fail("arguments out of range");
    }

    KeInitializeEvent(&SeedRecord.ReceiveDone, SynchronizationEvent, FALSE);
    KeInitializeEvent(&SeedRecord.EventDone, NotificationEvent, FALSE);
    KeInitializeEvent(&Connection.Closed, NotificationEvent, FALSE);
    KeInitializeEvent(&IrpDone, NotificationEvent, FALSE);

    /* Register and capture. */
    ClientNpi.ClientContext = NULL;
    ClientNpi.Dispatch = &SeedClientDispatch;
    Status = WskRegister(&ClientNpi, &Registration);
    if (!NT_SUCCESS(Status)) {
        Fail("WskRegister: 0x%08X", (unsigned)Status);
    }
    Status = WskCaptureProviderNPI(&Registration, WAIT_SECONDS * 1000, &ProviderNpi);
    if (!NT_SUCCESS(Status)) {
        Fail("WskCaptureProviderNPI: 0x%08X", (unsigned)Status);
    }

    /* Connect to the peer. */
    Irp = IoAllocateIrp(1, FALSE);
    if (Irp == NULL) {
        Fail("IoAllocateIrp");
    }
    RtlZeroMemory(&Local, sizeof(Local));
    Local.sin_family = AF_INET;
    RtlZeroMemory(&Remote, sizeof(Remote));
    Remote.sin_family = AF_INET;
    Remote.sin_port = RtlUshortByteSwap((USHORT)Port);
    Remote.sin_addr.s_addr = RtlUlongByteSwap(0x7F000001); /* 127.0.0.1 */
    Arm(Irp, &IrpDone);
    Status = ProviderNpi.Dispatch->WskSocketConnect(ProviderNpi.Client, SOCK_STREAM, IPPROTO_TCP, (PSOCKADDR)&Local,
                                                    (PSOCKADDR)&Remote, 0, &Connection, &SeedConnectionDispatch, NULL,
                                                    NULL, NULL, Irp);
    Status = Finish("WskSocketConnect", Irp, &IrpDone, Status);
    if (!NT_SUCCESS(Status)) {
        Fail("WskSocketConnect: 0x%08X", (unsigned)Status);
    }
    Connection.Socket = (PWSK_SOCKET)Irp->IoStatus.Information;
    if (Connection.Socket == NULL) {
        Fail("WskSocketConnect succeeded without a socket");
    }
    Dispatch = (PWSK_PROVIDER_CONNECTION_DISPATCH)Connection.Socket->Dispatch;
    Say("connected to 127.0.0.1:%u", (unsigned)Port);

    /* (a) The first example: ReceiveData() until LEN_A bytes arrived. */
    BufferA = (PUCHAR)ExAllocatePool2(POOL_FLAG_NON_PAGED, LengthA, SEED_TAG);
    if (BufferA == NULL) {
        Fail("ExAllocatePool2(%u)", (unsigned)LengthA);
    }
    MdlA = IoAllocateMdl(BufferA, (ULONG)LengthA, FALSE, FALSE, NULL);
    if (MdlA == NULL) {
        Fail("IoAllocateMdl");
    }
    MmBuildMdlForNonPagedPool(MdlA);
    Received = 0;
    Receives = 0;
    while (Received < LengthA) {
        Buffer.Mdl = MdlA;
        Buffer.Offset = (ULONG)Received;
        Buffer.Length = LengthA - Received;
        SeedRecord.ReceiveBuffer = NULL;
        Status = ReceiveData(Connection.Socket, &Buffer);
        if (!WaitFor(&SeedRecord.ReceiveDone)) {
            Fail("ReceiveComplete did not run within %d s (WskReceive returned 0x%08X)", WAIT_SECONDS,
                 (unsigned)Status);
        }
        Receives++;
        if (SeedRecord.ReceiveStatus != STATUS_SUCCESS) {
            Fail("WskReceive #%u completed with 0x%08X", Receives, (unsigned)SeedRecord.ReceiveStatus);
        }
        if (Status != STATUS_PENDING && Status != SeedRecord.ReceiveStatus) {
            Fail("WskReceive #%u returned 0x%08X but completed with 0x%08X", Receives, (unsigned)Status,
                 (unsigned)SeedRecord.ReceiveStatus);
        }
        if (SeedRecord.ReceiveBuffer != &Buffer) {
            Fail("ReceiveComplete got context %p, expected the WSK_BUF %p", (void *)SeedRecord.ReceiveBuffer,
                 (void *)&Buffer);
        }
        if (SeedRecord.ReceiveBytes == 0) {
            Fail("the peer closed after %u of %u bytes", (unsigned)Received, (unsigned)LengthA);
        }
        if (SeedRecord.ReceiveBytes > LengthA - Received) {
            Fail("WskReceive reported %u bytes into a %u-byte buffer", (unsigned)SeedRecord.ReceiveBytes,
                 (unsigned)(LengthA - Received));
        }
        Received += SeedRecord.ReceiveBytes;
    }
    for (i = 0; i < LengthA; i++) {
        if (BufferA[i] != SeedPattern(i, 'A')) {
            Fail("received byte %u is 0x%02X, expected 0x%02X", (unsigned)i, BufferA[i], SeedPattern(i, 'A'));
        }
    }
    Say("receive OK %u bytes in %u WskReceive calls", (unsigned)LengthA, Receives);

    /* (b) The second example: WskReceiveEvent delivers the next LEN_B bytes. */
    BufferB = (PUCHAR)ExAllocatePool2(POOL_FLAG_NON_PAGED, LengthB, SEED_TAG);
    if (BufferB == NULL) {
        Fail("ExAllocatePool2(%u)", (unsigned)LengthB);
    }
    SeedRecord.EventData = BufferB;
    SeedRecord.EventCapacity = LengthB;
    SeedRecord.EventExpected = LengthB;
    Callbacks.NpiId = &NPI_WSK_INTERFACE_ID;
    Callbacks.EventMask = WSK_EVENT_RECEIVE;
    Status = Dispatch->WskControlSocket(Connection.Socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                                        sizeof(Callbacks), &Callbacks, 0, NULL, NULL, NULL);
    if (Status != STATUS_SUCCESS) {
        Fail("enabling WSK_EVENT_RECEIVE: 0x%08X", (unsigned)Status);
    }
    Say("events enabled");
    if (!WaitFor(&SeedRecord.EventDone)) {
        Fail("WskReceiveEvent delivered %u of %u bytes within %d s", (unsigned)SeedRecord.EventBytes,
             (unsigned)LengthB, WAIT_SECONDS);
    }

    /* Disable the callback (no IRP: SUCCESS, or EVENT_PENDING while one is running). */
    Callbacks.EventMask = WSK_EVENT_RECEIVE | WSK_EVENT_DISABLE;
    Status = Dispatch->WskControlSocket(Connection.Socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                                        sizeof(Callbacks), &Callbacks, 0, NULL, NULL, NULL);
    if (Status != STATUS_SUCCESS && Status != STATUS_EVENT_PENDING) {
        Fail("disabling WSK_EVENT_RECEIVE: 0x%08X", (unsigned)Status);
    }
    if (SeedRecord.EventBytes != LengthB) {
        Fail("WskReceiveEvent delivered %u bytes, the peer sent %u", (unsigned)SeedRecord.EventBytes,
             (unsigned)LengthB);
    }
    if (SeedRecord.EventBadCopies != 0) {
        Fail("%u indications described fewer bytes than their WSK_BUF.Length", SeedRecord.EventBadCopies);
    }
    if (SeedRecord.NullIndications != 0) {
        Fail("WskReceiveEvent got a NULL DataIndication on a working connection");
    }
    for (i = 0; i < LengthB; i++) {
        if (BufferB[i] != SeedPattern(i, 'B')) {
            Fail("indicated byte %u is 0x%02X, expected 0x%02X", (unsigned)i, BufferB[i], SeedPattern(i, 'B'));
        }
    }
    Say("event OK %u bytes in %u indications", (unsigned)LengthB, SeedRecord.EventIndications);

    /* Graceful disconnect: the peer reads end-of-stream, then closes its side. */
    Arm(Irp, &IrpDone);
    Status = Dispatch->WskDisconnect(Connection.Socket, NULL, 0, Irp);
    Status = Finish("WskDisconnect", Irp, &IrpDone, Status);
    if (!NT_SUCCESS(Status)) {
        Fail("WskDisconnect: 0x%08X", (unsigned)Status);
    }
    Say("disconnected");

    /* The peer's end-of-stream: a receive completing with success and 0 bytes. */
    Buffer.Mdl = MdlA;
    Buffer.Offset = 0;
    Buffer.Length = LengthA;
    Status = ReceiveData(Connection.Socket, &Buffer);
    if (!WaitFor(&SeedRecord.ReceiveDone)) {
        Fail("the peer's end-of-stream did not complete a WskReceive within %d s (returned 0x%08X)", WAIT_SECONDS,
             (unsigned)Status);
    }
    if (SeedRecord.ReceiveStatus != STATUS_SUCCESS || SeedRecord.ReceiveBytes != 0) {
        Fail("the receive after the peer's close completed with 0x%08X and %u bytes, expected success and 0",
             (unsigned)SeedRecord.ReceiveStatus, SeedRecord.ReceiveBytes);
    }
    Say("peer closed");

    /* Close, release, deregister. */
    SeedCloseSocket(&Connection);
    if (!WaitFor(&Connection.Closed)) {
        Fail("WskCloseSocket did not complete within %d s", WAIT_SECONDS);
    }
    if (!NT_SUCCESS(Connection.CloseStatus)) {
        Fail("WskCloseSocket: 0x%08X", (unsigned)Connection.CloseStatus);
    }
    IoFreeMdl(MdlA);
    ExFreePoolWithTag(BufferA, SEED_TAG);
    ExFreePoolWithTag(BufferB, SEED_TAG);
    IoFreeIrp(Irp);
    WskReleaseProviderNPI(&Registration);
    WskDeregister(&Registration);
    Say("done");
    return 0;
}
