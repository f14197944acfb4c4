/*
 * bad_input_dereg.c: a registration in the middle of WskDeregister (STATUS_DEVICE_NOT_READY
 * for its client), and everything called after WskDeregister returned (a stale
 * PWSK_CLIENT: STATUS_INVALID_HANDLE; a stale registration block; closed sockets).
 *
 * WskDeregister blocks until the registration's sockets are closed and its captures
 * released, so a system thread (PsCreateSystemThread) runs it while this thread holds a
 * socket open, makes the calls, then closes the socket and waits (bounded) for the thread.
 */
#include "bad_input.h"

#include <string.h>

static WSK_REGISTRATION BiDeregRegistration;
static WSK_PROVIDER_NPI BiDeregNpi;
static KEVENT BiDeregStarted, BiDeregFinished;
static const WSK_CLIENT_DISPATCH BiDeregDispatch = {MAKE_WSK_VERSION(1, 0), 0, NULL};

static VOID BiDeregisterThread(PVOID Context)
{
    UNREFERENCED_PARAMETER(Context);
    KeSetEvent(&BiDeregStarted, IO_NO_INCREMENT, FALSE);
    WskDeregister(&BiDeregRegistration);
    KeSetEvent(&BiDeregFinished, IO_NO_INCREMENT, FALSE);
}

/*
 * Waits until the registration reports that it is being deregistered: WskCaptureProviderNPI
 * answers STATUS_DEVICE_NOT_READY from then on (the reference). Before that a capture
 * succeeds and is given back at once. Bounded by 5 s of interrupt time; there is no event
 * to wait for, so this polls the state it waits for (no sleep).
 */
static NTSTATUS BiAwaitDeregistering(VOID)
{
    ULONGLONG Deadline = KeQueryInterruptTime() + 5ULL * 10 * 1000 * 1000;
    WSK_PROVIDER_NPI Npi;
    NTSTATUS Status;

    for (;;) {
        Status = WskCaptureProviderNPI(&BiDeregRegistration, WSK_NO_WAIT, &Npi);
        if (Status != STATUS_SUCCESS) {
            return Status;
        }
        WskReleaseProviderNPI(&BiDeregRegistration);
        if (KeQueryInterruptTime() > Deadline) {
            return STATUS_TIMEOUT;
        }
        YieldProcessor();
    }
}

/* The calls while the registration is being deregistered. */
static VOID BiWhileDeregistering(VOID)
{
    static WSK_EVENT_CALLBACK_CONTROL Control;
    const WSK_PROVIDER_DISPATCH *Provider = BiDeregNpi.Dispatch;
    PWSK_CLIENT Client = BiDeregNpi.Client;
    WSK_PROVIDER_NPI Npi;
    BI_CALL Call;
    PIRP Irp;
    NTSTATUS Status;
    int Fn, Kind;

    BiExpect(WskCaptureProviderNPI(&BiDeregRegistration, WSK_NO_WAIT, &Npi), STATUS_DEVICE_NOT_READY,
             "WskCaptureProviderNPI(WSK_NO_WAIT) while deregistering");
    BiExpect(WskCaptureProviderNPI(&BiDeregRegistration, 10, &Npi), STATUS_DEVICE_NOT_READY,
             "WskCaptureProviderNPI(10 ms) while deregistering");
    for (Fn = 0; Fn < BiClientFns; Fn++) {
        for (Kind = BiIrpFresh; Kind < BiIrpKinds; Kind++) {
            NTSTATUS Expected = STATUS_DEVICE_NOT_READY;

            BiClientCase(Provider, (BI_CLIENT_FN)Fn, Client, (BI_IRP_KIND)Kind, Expected, "deregistering client");
        }
    }
    Control.NpiId = &NPI_WSK_INTERFACE_ID;
    Control.EventMask = WSK_EVENT_ACCEPT;
    for (Kind = BiIrpFresh; Kind <= BiIrpNone; Kind++) {
        Irp = BiBegin(&Call, (BI_IRP_KIND)Kind);
        Status = Provider->WskControlClient(Client, WSK_SET_STATIC_EVENT_CALLBACKS, sizeof(Control), &Control, 0, NULL,
                                            NULL, Irp);
        BiEnd(&Call, Status, STATUS_DEVICE_NOT_READY, BI_IRP_OPTIONAL,
              "WskControlClient(deregistering client, WSK_SET_STATIC_EVENT_CALLBACKS, %s)",
              BiIrpKindName[Kind]);
    }
}

VOID BiDeregisteringCases(VOID)
{
    WSK_CLIENT_NPI ClientNpi = {NULL, &BiDeregDispatch};
    OBJECT_ATTRIBUTES Attributes;
    HANDLE ThreadHandle = NULL;
    PVOID Thread = NULL;
    PWSK_SOCKET Socket = NULL;
    ULONG_PTR Information = 0;
    BI_CALL Call;
    PIRP Irp;
    NTSTATUS Status;
    int Fn;

    KeInitializeEvent(&BiDeregStarted, NotificationEvent, FALSE);
    KeInitializeEvent(&BiDeregFinished, NotificationEvent, FALSE);
    memset(&BiDeregRegistration, 0, sizeof(BiDeregRegistration));
    Status = WskRegister(&ClientNpi, &BiDeregRegistration);
    if (!NT_SUCCESS(Status)) {
        BiFail("deregistering: WskRegister: 0x%08X", (unsigned)Status);
        return;
    }
    Status = WskCaptureProviderNPI(&BiDeregRegistration, 5000, &BiDeregNpi);
    if (!NT_SUCCESS(Status)) {
        BiFail("deregistering: WskCaptureProviderNPI: 0x%08X", (unsigned)Status);
        WskDeregister(&BiDeregRegistration);
        return;
    }
    Irp = BiSyncBegin(&Call);
    Status = BiDeregNpi.Dispatch->WskSocket(BiDeregNpi.Client, AF_INET, SOCK_STREAM, IPPROTO_TCP,
                                            WSK_FLAG_LISTEN_SOCKET, NULL, NULL, NULL, NULL, NULL, Irp);
    Status = BiSyncEnd(&Call, Status, &Information);
    if (!NT_SUCCESS(Status) || Information == 0) {
        BiFail("deregistering: WskSocket: 0x%08X", (unsigned)Status);
        WskReleaseProviderNPI(&BiDeregRegistration);
        WskDeregister(&BiDeregRegistration);
        return;
    }
    Socket = (PWSK_SOCKET)Information;

    InitializeObjectAttributes(&Attributes, NULL, OBJ_KERNEL_HANDLE, NULL, NULL);
    Status = PsCreateSystemThread(&ThreadHandle, THREAD_ALL_ACCESS, &Attributes, NULL, NULL, BiDeregisterThread, NULL);
    if (!NT_SUCCESS(Status)) {
        BiFail("deregistering: PsCreateSystemThread: 0x%08X", (unsigned)Status);
        BiCloseSocket(Socket);
        WskReleaseProviderNPI(&BiDeregRegistration);
        WskDeregister(&BiDeregRegistration);
        return;
    }
    Status = ObReferenceObjectByHandle(ThreadHandle, SYNCHRONIZE, *PsThreadType, KernelMode, &Thread, NULL);
    if (!NT_SUCCESS(Status)) {
        BiFail("deregistering: ObReferenceObjectByHandle: 0x%08X", (unsigned)Status);
        Thread = NULL;
    }
    ZwClose(ThreadHandle);

    if (!BiWait(&BiDeregStarted)) {
        BiFail("deregistering: the thread calling WskDeregister did not start within 5 s");
    } else {
        Status = BiAwaitDeregistering();
        if (Status == STATUS_DEVICE_NOT_READY) {
            BiWhileDeregistering();
        } else {
            BiFail("deregistering: WskCaptureProviderNPI never answered STATUS_DEVICE_NOT_READY while WskDeregister "
                   "ran (last 0x%08X)",
                   (unsigned)Status);
        }
    }

    /* Let WskDeregister finish: close the socket, give the capture back. */
    BiExpect(BiCloseSocket(Socket), STATUS_SUCCESS, "WskCloseSocket of a socket of a registration being deregistered");
    WskReleaseProviderNPI(&BiDeregRegistration);
    if (!BiWait(&BiDeregFinished)) {
        BiFail("deregistering: WskDeregister did not return within 5 s of the last socket closing");
        return; /* the thread still uses the registration block */
    }
    if (Thread != NULL) {
        if (!BiWait(Thread)) {
            BiFail("deregistering: the thread did not end within 5 s");
        }
        ObDereferenceObject(Thread);
    }

    /* Deregistered: the client is stale, the block is no registration any more. */
    for (Fn = 0; Fn < BiClientFns; Fn++) {
        BiClientCase(BiDeregNpi.Dispatch, (BI_CLIENT_FN)Fn, BiDeregNpi.Client, BiIrpFresh, STATUS_INVALID_HANDLE,
                     "client of a deregistered registration");
    }
    BiExpect(WskCaptureProviderNPI(&BiDeregRegistration, WSK_NO_WAIT, &BiDeregNpi), STATUS_DEVICE_NOT_READY,
             "WskCaptureProviderNPI(deregistered registration)");
}

/* After the suite's own WskDeregister (its sockets were all closed before). */
VOID BiAfterDeregisterCases(VOID)
{
    WSK_PROVIDER_NPI Npi;
    WSK_PROVIDER_CHARACTERISTICS Characteristics;
    NTSTATUS Status;
    int Fn, Kind;

    for (Fn = 0; Fn < BiClientFns; Fn++) {
        for (Kind = BiIrpFresh; Kind < BiIrpKinds; Kind++) {
            BiClientCase(Fx.Provider, (BI_CLIENT_FN)Fn, Fx.WskClient, (BI_IRP_KIND)Kind, STATUS_INVALID_HANDLE,
                         "client after WskDeregister");
        }
    }
    Fx.Provider->WskFreeAddressInfo(Fx.WskClient, NULL);
    BiReturned("WskFreeAddressInfo(client after WskDeregister)");
    /* A deregistered block (reference 2.2: captures fail with STATUS_DEVICE_NOT_READY after
     * WskDeregister) is not an "unknown" one (docs: STATUS_INVALID_PARAMETER, asserted in
     * bad_input_client.c for a block never registered). */
    BiExpect(WskCaptureProviderNPI(&Fx.Registration, WSK_NO_WAIT, &Npi), STATUS_DEVICE_NOT_READY,
             "WskCaptureProviderNPI(registration after WskDeregister, WSK_NO_WAIT)");
    BiExpect(WskCaptureProviderNPI(&Fx.Registration, 10, &Npi), STATUS_DEVICE_NOT_READY,
             "WskCaptureProviderNPI(registration after WskDeregister, 10 ms)");
    BiExpect(WskQueryProviderCharacteristics(&Fx.Registration, &Characteristics), STATUS_DEVICE_NOT_READY,
             "WskQueryProviderCharacteristics(registration after WskDeregister)");
    WskReleaseProviderNPI(&Fx.Registration);
    BiReturned("WskReleaseProviderNPI(registration after WskDeregister)");
    WskDeregister(&Fx.Registration);
    BiReturned("WskDeregister twice");
    if (Fx.Listen != NULL) {
        BiClosedHandleCases("after WskDeregister");
    }

    /* The block can be registered again once deregistered (and is given back at once). */
    Status = WskRegister(&Fx.ClientNpi, &Fx.Registration);
    BiExpect(Status, STATUS_SUCCESS, "WskRegister of a block after its WskDeregister");
    if (NT_SUCCESS(Status)) {
        WskDeregister(&Fx.Registration);
    }
}
