/*
 * reentry.c: completion routines that call back into WSK from inside the provider call
 * that completed their IRP inline (a common pattern: the routine starts the next step).
 *   1. WskGetAddressInfo that fails at once (no node, no service): its routine calls
 *      WskSocket, whose own routine (inline again) calls WskCloseSocket.
 *   2. WskSocket whose routine calls WskSocket again (nested one level).
 * Nothing may deadlock: each provider call runs the client's routine with no provider
 * lock held. Prints "reentry: OK" and exits 0, or "reentry: FAIL ..." and exits 1.
 */
#define IRP_WAIT_PROGRAM "reentry"
#include "irp_wait.h"

#include <wsk.h>

static WSK_REGISTRATION Registration;
static WSK_PROVIDER_NPI Npi;

typedef struct _STEP {
    IRP_RECORD_FIELDS;
    PIRP Irp;
    struct _STEP *Next; /* what the routine starts, if anything */
    BOOLEAN CloseCreated; /* the routine closes the socket its IRP created */
} STEP, *PSTEP;

static NTSTATUS StepRoutine(PDEVICE_OBJECT DeviceObject, PIRP Irp, PVOID Context);

static NTSTATUS StartSocket(PSTEP Step)
{
    ARM_RECORD(Step->Irp, Step, StepRoutine);
    return Npi.Dispatch->WskSocket(Npi.Client, AF_INET, SOCK_STREAM, IPPROTO_TCP, WSK_FLAG_BASIC_SOCKET, NULL, NULL,
                                   NULL, NULL, NULL, Step->Irp);
}

static NTSTATUS StepRoutine(PDEVICE_OBJECT DeviceObject, PIRP Irp, PVOID Context)
{
    PSTEP Step = (PSTEP)Context;

    UNREFERENCED_PARAMETER(DeviceObject);
    if (Step->CloseCreated && Irp->IoStatus.Status == STATUS_SUCCESS) {
        PWSK_SOCKET Socket = (PWSK_SOCKET)Irp->IoStatus.Information;
        /* Close from inside the routine, with the same IRP (ours again once we return
         * STATUS_MORE_PROCESSING_REQUIRED; the close's routine is not ours). */
        PIRP CloseIrp = IoAllocateIrp(1, FALSE);
        NTSTATUS Status = ((const WSK_PROVIDER_BASIC_DISPATCH *)Socket->Dispatch)->WskCloseSocket(Socket, CloseIrp);
        if (Status != STATUS_PENDING && Status != STATUS_SUCCESS) {
            printf("reentry: close from a routine returned 0x%08x\n", (unsigned)Status);
        }
        /* A close completes inline or very soon; the IRP is freed at the end of main. */
        Step->Irp = CloseIrp;
    }
    RECORD_COMPLETION(Step, Irp);
    if (Step->Next != NULL) {
        StartSocket(Step->Next);
    }
    return STATUS_MORE_PROCESSING_REQUIRED;
}

static NTSTATUS WSKAPI ClientEvent(PVOID Context, ULONG EventType, PVOID Information, SIZE_T Length)
{
    UNREFERENCED_PARAMETER(Context);
    UNREFERENCED_PARAMETER(EventType);
    UNREFERENCED_PARAMETER(Information);
    UNREFERENCED_PARAMETER(Length);
    return STATUS_NOT_IMPLEMENTED;
}

int main(void)
{
    static const WSK_CLIENT_DISPATCH Dispatch = {MAKE_WSK_VERSION(1, 0), 0, ClientEvent};
    WSK_CLIENT_NPI ClientNpi = {NULL, &Dispatch};
    static STEP Lookup, Created, Outer, Inner;
    PADDRINFOEXW Result = NULL;
    PIRP Irps[4];
    NTSTATUS Status;
    int i;

    CHECK(WskRegister(&ClientNpi, &Registration) == STATUS_SUCCESS, "WskRegister");
    CHECK(WskCaptureProviderNPI(&Registration, WSK_INFINITE_WAIT, &Npi) == STATUS_SUCCESS, "capture");
    for (i = 0; i < 4; i++) {
        Irps[i] = IoAllocateIrp(1, FALSE);
        CHECK(Irps[i] != NULL, "IoAllocateIrp");
    }

    /* 1. A lookup failing at once; its routine creates a socket, whose routine closes it. */
    Lookup.Irp = Irps[0];
    Lookup.Next = &Created;
    Created.Irp = Irps[1];
    Created.CloseCreated = TRUE;
    ARM_RECORD(Lookup.Irp, &Lookup, StepRoutine);
    Status = Npi.Dispatch->WskGetAddressInfo(Npi.Client, NULL, NULL, NS_ALL, NULL, NULL, &Result, NULL, NULL,
                                             Lookup.Irp);
    FINISH_RECORD(Status, (&Lookup), "lookup: ");
    CHECK(Lookup.Status == STATUS_INVALID_PARAMETER, "lookup without node or service: 0x%08x",
          (unsigned)Lookup.Status);
    CHECK(Wait(&Created.Done) && Created.Status == STATUS_SUCCESS, "WskSocket from the lookup's routine: 0x%08x",
          (unsigned)Created.Status);

    /* 2. WskSocket whose routine calls WskSocket. */
    Outer.Irp = Irps[2];
    Outer.Next = &Inner;
    Outer.CloseCreated = TRUE;
    Inner.Irp = Irps[3];
    Inner.CloseCreated = TRUE;
    Status = StartSocket(&Outer);
    FINISH_RECORD(Status, (&Outer), "outer socket: ");
    CHECK(Outer.Status == STATUS_SUCCESS, "outer WskSocket: 0x%08x", (unsigned)Outer.Status);
    CHECK(Wait(&Inner.Done) && Inner.Status == STATUS_SUCCESS, "inner WskSocket: 0x%08x", (unsigned)Inner.Status);

    WskReleaseProviderNPI(&Registration);
    WskDeregister(&Registration); /* returns once the three sockets' closes completed */
    for (i = 0; i < 4; i++) {
        IoFreeIrp(Irps[i]);
    }
    IoFreeIrp(Created.Irp);
    IoFreeIrp(Outer.Irp);
    IoFreeIrp(Inner.Irp);
    printf("reentry: OK\n");
    return 0;
}
