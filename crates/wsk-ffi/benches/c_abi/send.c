/*
 * send.c: the C side of the C-ABI overhead benchmark (benches/c_abi.rs).
 *
 *   send N R PORT [SIZE]
 *
 * Registers with WSK, captures the provider NPI, connects with WskSocketConnect to
 * 127.0.0.1:PORT (the bench's drain: a plain host socket that reads and discards, the
 * same peer the Rust side sends to), then runs one warm-up round and R timed rounds of N
 * WskSend calls of SIZE bytes each (default 64; 0 completes without a system call: the
 * cost of the call path alone), disconnects gracefully and closes.
 *
 * Every call reuses one IRP (IoReuseIrp + IoSetCompletionRoutine; the routine checks the
 * result, counts and returns STATUS_MORE_PROCESSING_REQUIRED) and one MDL. A send the host
 * takes at once completes inline and returns STATUS_SUCCESS. When the host's buffer is
 * full WskSend returns STATUS_PENDING: the program then waits for that completion before
 * the next call (the time spent waiting is left out of the per-call figure) and counts it.
 *
 * Output, one "key value..." per line on stdout:
 *   c_send_calls_per_round N
 *   c_send_rounds R
 *   c_send_round I NS_PER_CALL CPU_NS_PER_CALL PENDING   (each timed round)
 *   c_send_ns_per_call NS                   (median over the rounds, waits excluded)
 *   c_send_ns_per_call_incl_waits NS        (median over the rounds, waits included)
 *   c_send_cpu_ns_per_call NS               (median over the rounds of the sending
 *                                            thread's CPU time per call, waits included)
 *   c_send_pending PENDING CALLS            (over the timed rounds)
 *   c_send_pending_fraction F
 * Times are CLOCK_MONOTONIC (wall) and CLOCK_THREAD_CPUTIME_ID (the sending thread's CPU
 * time: what preemption by other threads, such as the provider's reactor, does not add).
 * Any failure prints "c_send FAIL ..." on stderr and exits 1.
 *
 * BenchSendRound() holds exactly the timed loop (never inlined), so that
 * `valgrind --tool=callgrind --toggle-collect=BenchSendRound` counts the instructions of
 * the calls alone.
 */
#include <ntddk.h>
#include <wsk.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define SEND_BYTES 64
#define WAIT_SECONDS 30
#define MAX_ROUNDS 1000

static void Fail(const char *Format, ...)
{
    va_list Args;

    va_start(Args, Format);
    fprintf(stderr, "c_send FAIL ");
    vfprintf(stderr, Format, Args);
    fprintf(stderr, "\n");
    va_end(Args);
    exit(1);
}

static ULONGLONG ClockNs(clockid_t Clock)
{
    struct timespec Ts;

    clock_gettime(Clock, &Ts);
    return (ULONGLONG)Ts.tv_sec * 1000000000ull + (ULONGLONG)Ts.tv_nsec;
}

static ULONGLONG NowNs(void)
{
    return ClockNs(CLOCK_MONOTONIC);
}

static BOOLEAN WaitFor(PKEVENT Event)
{
    LARGE_INTEGER Timeout;

    Timeout.QuadPart = -(LONGLONG)WAIT_SECONDS * 10 * 1000 * 1000;
    return KeWaitForSingleObject(Event, Executive, KernelMode, FALSE, &Timeout) == STATUS_SUCCESS;
}

/* ---- set-up and tear-down calls: one IRP, completion signals an event ---- */

static NTSTATUS SignalComplete(PDEVICE_OBJECT DeviceObject, PIRP Irp, PVOID Context)
{
    UNREFERENCED_PARAMETER(DeviceObject);
    UNREFERENCED_PARAMETER(Irp);
    KeSetEvent((PKEVENT)Context, IO_NO_INCREMENT, FALSE);
    return STATUS_MORE_PROCESSING_REQUIRED;
}

static VOID Arm(PIRP Irp, PKEVENT Event)
{
    IoReuseIrp(Irp, STATUS_UNSUCCESSFUL);
    KeClearEvent(Event);
    IoSetCompletionRoutine(Irp, SignalComplete, Event, TRUE, TRUE, TRUE);
}

/* The final status of a set-up call made with an armed IRP; fails on error. */
static ULONG_PTR Finish(const char *What, PIRP Irp, PKEVENT Event, NTSTATUS Returned)
{
    if (!WaitFor(Event)) {
        Fail("%s: the IRP was not completed within %d s (returned 0x%08X)", What, WAIT_SECONDS, (unsigned)Returned);
    }
    if (Returned != STATUS_PENDING && Returned != Irp->IoStatus.Status) {
        Fail("%s returned 0x%08X but completed the IRP with 0x%08X", What, (unsigned)Returned,
             (unsigned)Irp->IoStatus.Status);
    }
    if (!NT_SUCCESS(Irp->IoStatus.Status)) {
        Fail("%s: 0x%08X", What, (unsigned)Irp->IoStatus.Status);
    }
    return Irp->IoStatus.Information;
}

static VOID CloseSocket(PWSK_SOCKET Socket, PIRP Irp, PKEVENT Event)
{
    const WSK_PROVIDER_BASIC_DISPATCH *Basic = (const WSK_PROVIDER_BASIC_DISPATCH *)Socket->Dispatch;

    Arm(Irp, Event);
    Finish("WskCloseSocket", Irp, Event, Basic->WskCloseSocket(Socket, Irp));
}

/* ---- the timed sends ---- */

typedef struct _SENDS {
    volatile LONG Completed; /* completion routines run */
    volatile LONG Errors;    /* completions with another status or byte count */
    volatile LONG Waiting;   /* the sender waits for a pending completion */
    KEVENT Wake;             /* notification event: set by a completion that saw Waiting */
} SENDS;

static SENDS Sends;
static ULONG SendBytes = SEND_BYTES;

static NTSTATUS SendComplete(PDEVICE_OBJECT DeviceObject, PIRP Irp, PVOID Context)
{
    SENDS *S = (SENDS *)Context;

    UNREFERENCED_PARAMETER(DeviceObject);
    if (Irp->IoStatus.Status != STATUS_SUCCESS || Irp->IoStatus.Information != SendBytes) {
        S->Errors++;
    }
    InterlockedIncrement(&S->Completed);
    if (S->Waiting) {
        KeSetEvent(&S->Wake, IO_NO_INCREMENT, FALSE);
    }
    return STATUS_MORE_PROCESSING_REQUIRED;
}

typedef struct _ROUND {
    ULONGLONG Ns;     /* whole round */
    ULONGLONG CpuNs;  /* CPU time of this thread over the round */
    ULONGLONG WaitNs; /* spent waiting for pending completions */
    ULONG Pending;    /* sends that returned STATUS_PENDING */
} ROUND;

/* N WskSend calls of the same 64 bytes with the same IRP. */
__attribute__((noinline)) static VOID BenchSendRound(PWSK_SOCKET Socket, PIRP Irp, PWSK_BUF Buffer, ULONG N,
                                                     ROUND *Round)
{
    const WSK_PROVIDER_CONNECTION_DISPATCH *Dispatch = (const WSK_PROVIDER_CONNECTION_DISPATCH *)Socket->Dispatch;
    ULONGLONG CpuStart = ClockNs(CLOCK_THREAD_CPUTIME_ID);
    ULONGLONG Start = NowNs();
    ULONG i;

    Round->WaitNs = 0;
    Round->Pending = 0;
    for (i = 0; i < N; i++) {
        LONG Before = Sends.Completed;
        NTSTATUS Status;

        IoReuseIrp(Irp, STATUS_UNSUCCESSFUL);
        IoSetCompletionRoutine(Irp, SendComplete, &Sends, TRUE, TRUE, TRUE);
        Status = Dispatch->WskSend(Socket, Buffer, 0, Irp);
        if (Status == STATUS_PENDING) {
            ULONGLONG WaitStart = NowNs();

            Round->Pending++;
            KeClearEvent(&Sends.Wake);
            InterlockedExchange(&Sends.Waiting, 1);
            while (Sends.Completed == Before) {
                if (!WaitFor(&Sends.Wake)) {
                    Fail("a pending WskSend did not complete within %d s", WAIT_SECONDS);
                }
            }
            InterlockedExchange(&Sends.Waiting, 0);
            Round->WaitNs += NowNs() - WaitStart;
        } else if (Status != STATUS_SUCCESS) {
            Fail("WskSend #%u returned 0x%08X", (unsigned)i, (unsigned)Status);
        }
    }
    Round->Ns = NowNs() - Start;
    Round->CpuNs = ClockNs(CLOCK_THREAD_CPUTIME_ID) - CpuStart;
}

static int CompareDouble(const void *A, const void *B)
{
    double X = *(const double *)A, Y = *(const double *)B;

    return (X > Y) - (X < Y);
}

static double Median(double *Values, ULONG Count)
{
    qsort(Values, Count, sizeof(double), CompareDouble);
    return Values[Count / 2];
}

static ULONG ParseArg(const char *Arg, ULONG Max)
{
    char *End;
    unsigned long Value = strtoul(Arg, &End, 10);

    if (*Arg == '\0' || *End != '\0' || Value == 0 || Value > Max) {
        Fail("bad argument '%s' (1..%u)", Arg, (unsigned)Max);
    }
    return (ULONG)Value;
}

static const WSK_CLIENT_DISPATCH ClientDispatch = {MAKE_WSK_VERSION(1, 0), 0, NULL};

static UCHAR Data[SEND_BYTES] __attribute__((aligned(64)));

int main(int argc, char **argv)
{
    WSK_CLIENT_NPI ClientNpi;
    WSK_REGISTRATION Registration;
    WSK_PROVIDER_NPI ProviderNpi;
    SOCKADDR_IN Loopback, Peer;
    PWSK_SOCKET Connected;
    KEVENT IrpDone;
    PIRP Irp;
    PMDL Mdl;
    WSK_BUF Buffer;
    ROUND Round;
    double PerCall[MAX_ROUNDS], PerCallInclWaits[MAX_ROUNDS], CpuPerCall[MAX_ROUNDS];
    ULONG N, R, r, i, Pending, Port;

    if (argc != 4 && argc != 5) {
        Fail("usage: send N R PORT [SIZE]");
    }
    N = ParseArg(argv[1], 100000000);
    R = ParseArg(argv[2], MAX_ROUNDS);
    Port = ParseArg(argv[3], 65535);
    if (argc == 5) {
        SendBytes = (ULONG)atoi(argv[4]);
        if (SendBytes > SEND_BYTES) {
            Fail("SIZE at most %d", SEND_BYTES);
        }
    }
    for (i = 0; i < SEND_BYTES; i++) {
        Data[i] = (UCHAR)i;
    }

    KeInitializeEvent(&IrpDone, NotificationEvent, FALSE);
    KeInitializeEvent(&Sends.Wake, NotificationEvent, FALSE);

    ClientNpi.ClientContext = NULL;
    ClientNpi.Dispatch = &ClientDispatch;
    if (!NT_SUCCESS(WskRegister(&ClientNpi, &Registration))) {
        Fail("WskRegister");
    }
    if (!NT_SUCCESS(WskCaptureProviderNPI(&Registration, WSK_INFINITE_WAIT, &ProviderNpi))) {
        Fail("WskCaptureProviderNPI");
    }
    Irp = IoAllocateIrp(1, FALSE);
    if (Irp == NULL) {
        Fail("IoAllocateIrp");
    }

    /* The sender: no callbacks; the peer is the bench's drain. */
    RtlZeroMemory(&Loopback, sizeof(Loopback));
    Loopback.sin_family = AF_INET;
    Loopback.sin_addr.s_addr = RtlUlongByteSwap(0x7F000001);
    Peer = Loopback;
    Peer.sin_port = RtlUshortByteSwap((USHORT)Port);
    Arm(Irp, &IrpDone);
    Connected = (PWSK_SOCKET)Finish("WskSocketConnect",
                                    Irp,
                                    &IrpDone,
                                    ProviderNpi.Dispatch->WskSocketConnect(ProviderNpi.Client, SOCK_STREAM,
                                                                           IPPROTO_TCP, (PSOCKADDR)&Loopback,
                                                                           (PSOCKADDR)&Peer, 0, NULL, NULL,
                                                                           NULL, NULL, NULL, Irp));
    if (Connected == NULL) {
        Fail("WskSocketConnect succeeded without a socket");
    }

    Mdl = IoAllocateMdl(Data, SEND_BYTES, FALSE, FALSE, NULL);
    if (Mdl == NULL) {
        Fail("IoAllocateMdl");
    }
    MmBuildMdlForNonPagedPool(Mdl);
    Buffer.Mdl = Mdl;
    Buffer.Offset = 0;
    Buffer.Length = SendBytes;

    BenchSendRound(Connected, Irp, &Buffer, N, &Round); /* warm-up */
    Pending = 0;
    printf("c_send_calls_per_round %u\n", (unsigned)N);
    printf("c_send_rounds %u\n", (unsigned)R);
    for (r = 0; r < R; r++) {
        BenchSendRound(Connected, Irp, &Buffer, N, &Round);
        PerCall[r] = (double)(Round.Ns - Round.WaitNs) / N;
        PerCallInclWaits[r] = (double)Round.Ns / N;
        CpuPerCall[r] = (double)Round.CpuNs / N;
        Pending += Round.Pending;
        printf("c_send_round %u %.2f %.2f %u\n", (unsigned)r, PerCall[r], CpuPerCall[r], (unsigned)Round.Pending);
    }
    if (Sends.Completed != (LONG)(N * (R + 1))) {
        Fail("%d completions for %u sends", (int)Sends.Completed, (unsigned)(N * (R + 1)));
    }
    if (Sends.Errors != 0) {
        Fail("%d sends completed with another status or byte count", (int)Sends.Errors);
    }
    printf("c_send_ns_per_call %.2f\n", Median(PerCall, R));
    printf("c_send_ns_per_call_incl_waits %.2f\n", Median(PerCallInclWaits, R));
    printf("c_send_cpu_ns_per_call %.2f\n", Median(CpuPerCall, R));
    printf("c_send_pending %u %u\n", (unsigned)Pending, (unsigned)(N * R));
    printf("c_send_pending_fraction %.6f\n", (double)Pending / ((double)N * R));
    fflush(stdout);
    Arm(Irp, &IrpDone);
    Finish("WskDisconnect", Irp, &IrpDone,
           ((const WSK_PROVIDER_CONNECTION_DISPATCH *)Connected->Dispatch)->WskDisconnect(Connected, NULL, 0, Irp));
    CloseSocket(Connected, Irp, &IrpDone);
    IoFreeMdl(Mdl);
    IoFreeIrp(Irp);
    WskReleaseProviderNPI(&Registration);
    WskDeregister(&Registration);
    return 0;
}
