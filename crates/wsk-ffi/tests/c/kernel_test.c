/*
 * kernel_test.c - the kernel subset of libwsk, exercised through the Windows-named headers.
 *
 * Each CHECK that fails prints one line "FAILED file:line: expression"; the program exits
 * 0 only if every check passed. Some checks call routines with invalid arguments on
 * purpose (double frees, unknown pointers): libwsk logs those on stderr and must not crash.
 */
#include <ntddk.h>
#include <mstcpip.h>
#include <stdio.h>
#include <string.h>

static LONG g_checks;
static LONG g_failures;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        InterlockedIncrement(&g_checks);                                             \
        if (!(cond)) {                                                               \
            printf("FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond);                 \
            fflush(stdout);                                                          \
            InterlockedIncrement(&g_failures);                                       \
        }                                                                            \
    } while (0)

#define TAG_TEST 'tseT'
#define MS(n) ((LONGLONG)(n) * 10000)

/* ----- helpers ----- */

static ULONGLONG now_100ns(void) { return KeQueryInterruptTime(); }

static void sleep_ms(LONG ms)
{
    LARGE_INTEGER t;
    t.QuadPart = -MS(ms);
    KeDelayExecutionThread(KernelMode, FALSE, &t);
}

/* Starts a system thread; returns its referenced thread object. */
static PVOID start_thread(PKSTART_ROUTINE routine, PVOID context)
{
    HANDLE handle = NULL;
    PVOID object = NULL;
    NTSTATUS status = PsCreateSystemThread(&handle, THREAD_ALL_ACCESS, NULL, NULL, NULL, routine, context);
    CHECK(status == STATUS_SUCCESS);
    if (!NT_SUCCESS(status))
        return NULL;
    status = ObReferenceObjectByHandle(handle, THREAD_ALL_ACCESS, *PsThreadType, KernelMode, &object, NULL);
    CHECK(status == STATUS_SUCCESS);
    CHECK(ZwClose(handle) == STATUS_SUCCESS);
    return object;
}

/* Waits (at most 10 s) for a thread object from start_thread and drops the reference. */
static void join_thread(PVOID object)
{
    LARGE_INTEGER timeout;
    if (!object)
        return;
    timeout.QuadPart = -MS(10000);
    CHECK(KeWaitForSingleObject(object, Executive, KernelMode, FALSE, &timeout) == STATUS_SUCCESS);
    ObDereferenceObject(object);
}

/* Polls (at most 2 s) until *value reaches expected. */
static LONG wait_for_value(volatile LONG *value, LONG expected)
{
    int i;
    for (i = 0; i < 400 && InterlockedCompareExchange((LONG volatile *)value, 0, 0) < expected; i++)
        sleep_ms(5);
    return InterlockedCompareExchange((LONG volatile *)value, 0, 0);
}

/* ===================================================================================== */
/* IRPs                                                                                  */
/* ===================================================================================== */

#define MAX_CALLS 8
static struct {
    int count;
    const char *who[MAX_CALLS];
    PDEVICE_OBJECT device[MAX_CALLS];
    CHAR location[MAX_CALLS];
    BOOLEAN pending[MAX_CALLS];
    NTSTATUS status[MAX_CALLS];
} g_calls;

static void record(const char *who, PDEVICE_OBJECT device, PIRP irp)
{
    if (g_calls.count < MAX_CALLS) {
        g_calls.who[g_calls.count] = who;
        g_calls.device[g_calls.count] = device;
        g_calls.location[g_calls.count] = irp->CurrentLocation;
        g_calls.pending[g_calls.count] = irp->PendingReturned;
        g_calls.status[g_calls.count] = irp->IoStatus.Status;
    }
    g_calls.count++;
}

static NTSTATUS complete_lower(PDEVICE_OBJECT device, PIRP irp, PVOID context)
{
    (void)context;
    record("lower", device, irp);
    if (irp->PendingReturned)
        IoMarkIrpPending(irp);
    return STATUS_SUCCESS;
}

static NTSTATUS complete_top_more(PDEVICE_OBJECT device, PIRP irp, PVOID context)
{
    record("top", device, irp);
    *(PVOID *)context = irp;
    return STATUS_MORE_PROCESSING_REQUIRED;
}

static NTSTATUS complete_top_success(PDEVICE_OBJECT device, PIRP irp, PVOID context)
{
    (void)context;
    record("top", device, irp);
    return STATUS_SUCCESS;
}

static void test_irp_completion_walk(void)
{
    DEVICE_OBJECT lower_dev, top_dev;
    PVOID seen = NULL;
    PIRP irp = IoAllocateIrp(2, FALSE);
    PIO_STACK_LOCATION first;

    CHECK(irp != NULL);
    if (!irp)
        return;
    memset(&lower_dev, 0, sizeof(lower_dev));
    memset(&top_dev, 0, sizeof(top_dev));
    first = (PIO_STACK_LOCATION)(irp + 1);
    CHECK(irp->Type == IO_TYPE_IRP);
    CHECK(irp->Size == sizeof(IRP) + 2 * sizeof(IO_STACK_LOCATION));
    CHECK(irp->StackCount == 2);
    CHECK(irp->CurrentLocation == 3);
    CHECK(irp->Tail.Overlay.CurrentStackLocation == first + 2);
    CHECK(irp->AllocationFlags != 0);
    CHECK(irp->Cancel == FALSE && irp->CancelRoutine == NULL && irp->MdlAddress == NULL);

    /* The originator (a WSK client) sets its routine in the next location ... */
    IoSetCompletionRoutine(irp, complete_top_more, &seen, TRUE, TRUE, TRUE);
    CHECK(first[1].CompletionRoutine == complete_top_more);
    /* ... "calls" a driver, which takes location 1 and sets a routine below itself ... */
    IoSetNextIrpStackLocation(irp);
    CHECK(irp->CurrentLocation == 2 && IoGetCurrentIrpStackLocation(irp) == &first[1]);
    IoGetCurrentIrpStackLocation(irp)->DeviceObject = &top_dev;
    IoSetCompletionRoutine(irp, complete_lower, NULL, TRUE, TRUE, TRUE);
    /* ... and passes it down; the lowest driver pends it and completes it. */
    IoSetNextIrpStackLocation(irp);
    IoGetCurrentIrpStackLocation(irp)->DeviceObject = &lower_dev;
    IoMarkIrpPending(irp);
    irp->IoStatus.Status = STATUS_SUCCESS;
    irp->IoStatus.Information = 42;
    memset(&g_calls, 0, sizeof(g_calls));
    IoCompleteRequest(irp, IO_NO_INCREMENT);

    CHECK(g_calls.count == 2);
    CHECK(g_calls.who[0] && strcmp(g_calls.who[0], "lower") == 0);
    CHECK(g_calls.device[0] == &top_dev);      /* the device of the location above */
    CHECK(g_calls.location[0] == 2);
    CHECK(g_calls.pending[0] == TRUE);          /* SL_PENDING_RETURNED of location 0 */
    CHECK(g_calls.who[1] && strcmp(g_calls.who[1], "top") == 0);
    CHECK(g_calls.device[1] == NULL);           /* past the top */
    CHECK(g_calls.location[1] == 3);
    CHECK(g_calls.pending[1] == TRUE);          /* propagated by IoMarkIrpPending in "lower" */
    CHECK(seen == irp);
    CHECK(irp->IoStatus.Information == 42);
    CHECK(first[0].CompletionRoutine == NULL && first[0].Control == 0);
    CHECK(first[1].CompletionRoutine == NULL && first[1].Context == NULL);
    IoFreeIrp(irp);
}

static void test_irp_invoke_flags_and_top(void)
{
    IO_STATUS_BLOCK iosb;
    KEVENT event;
    PVOID seen = NULL;
    PIRP irp = IoAllocateIrp(1, FALSE);
    CHECK(irp != NULL);
    if (!irp)
        return;

    /* InvokeOnError only: not called on success; reaching the top sets the user IOSB and
     * event, and libwsk frees the IoAllocateIrp IRP there (with a warning). */
    memset(&iosb, 0xAB, sizeof(iosb));
    KeInitializeEvent(&event, NotificationEvent, FALSE);
    irp->UserIosb = &iosb;
    irp->UserEvent = &event;
    memset(&g_calls, 0, sizeof(g_calls));
    IoSetCompletionRoutine(irp, complete_top_success, NULL, FALSE, TRUE, FALSE);
    IoSetNextIrpStackLocation(irp);
    irp->IoStatus.Status = STATUS_SUCCESS;
    irp->IoStatus.Information = 7;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
    CHECK(g_calls.count == 0);
    CHECK(iosb.Status == STATUS_SUCCESS && iosb.Information == 7);
    CHECK(KeReadStateEvent(&event) == 1);
    /* irp is gone now. */

    /* InvokeOnCancel only, with Irp->Cancel set: called with the error status. */
    irp = IoAllocateIrp(1, FALSE);
    CHECK(irp != NULL);
    if (!irp)
        return;
    memset(&g_calls, 0, sizeof(g_calls));
    IoSetCompletionRoutine(irp, complete_top_more, &seen, FALSE, FALSE, TRUE);
    IoSetNextIrpStackLocation(irp);
    irp->Cancel = TRUE;
    irp->IoStatus.Status = STATUS_CANCELLED;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
    CHECK(g_calls.count == 1 && g_calls.status[0] == STATUS_CANCELLED && seen == irp);
    IoFreeIrp(irp);
    IoFreeIrp(irp); /* double free: logged, ignored */
}

static NTSTATUS count_completion(PDEVICE_OBJECT device, PIRP irp, PVOID context)
{
    (void)device;
    (void)irp;
    (*(LONG *)context)++;
    return STATUS_MORE_PROCESSING_REQUIRED;
}

static void test_irp_reuse(void)
{
    LONG completions = 0;
    int i;
    PIRP irp = IoAllocateIrp(1, FALSE);
    UCHAR flags;
    CHECK(irp != NULL);
    if (!irp)
        return;
    flags = irp->AllocationFlags;
    for (i = 0; i < 1000; i++) {
        IoReuseIrp(irp, STATUS_UNSUCCESSFUL);
        if (i == 0) {
            CHECK(irp->IoStatus.Status == STATUS_UNSUCCESSFUL);
            CHECK(irp->CurrentLocation == 2 && irp->StackCount == 1);
            CHECK(irp->AllocationFlags == flags);
            CHECK(irp->Tail.Overlay.CurrentStackLocation == (PIO_STACK_LOCATION)(irp + 1) + 1);
        }
        IoSetCompletionRoutine(irp, count_completion, &completions, TRUE, TRUE, TRUE);
        IoSetNextIrpStackLocation(irp);
        irp->IoStatus.Status = (i % 2) ? STATUS_SUCCESS : STATUS_CANCELLED;
        IoCompleteRequest(irp, IO_NO_INCREMENT);
    }
    CHECK(completions == 1000);
    IoFreeIrp(irp);
}

static void test_irp_embedded(void)
{
    struct {
        IRP Irp;
        IO_STACK_LOCATION Stack[1];
    } embedded;
    KEVENT event;
    PVOID seen = NULL;

    memset(&embedded, 0xCC, sizeof(embedded));
    IoInitializeIrp(&embedded.Irp, (USHORT)sizeof(embedded), 1);
    CHECK(embedded.Irp.Type == IO_TYPE_IRP);
    CHECK(embedded.Irp.Size == sizeof(embedded));
    CHECK(embedded.Irp.StackCount == 1 && embedded.Irp.CurrentLocation == 2);
    CHECK(embedded.Irp.AllocationFlags == 0 && embedded.Irp.MdlAddress == NULL);
    CHECK(embedded.Irp.Tail.Overlay.CurrentStackLocation == &embedded.Stack[1]);

    /* A routine returning MORE_PROCESSING_REQUIRED keeps it. */
    IoSetCompletionRoutine(&embedded.Irp, complete_top_more, &seen, TRUE, TRUE, TRUE);
    IoSetNextIrpStackLocation(&embedded.Irp);
    embedded.Irp.IoStatus.Status = STATUS_SUCCESS;
    memset(&g_calls, 0, sizeof(g_calls));
    IoCompleteRequest(&embedded.Irp, IO_NO_INCREMENT);
    CHECK(seen == &embedded.Irp && g_calls.count == 1);

    /* Reaching the top: event set, not freed (it is on the stack: ASan would notice). */
    IoReuseIrp(&embedded.Irp, STATUS_SUCCESS);
    KeInitializeEvent(&event, SynchronizationEvent, FALSE);
    embedded.Irp.UserEvent = &event;
    IoSetCompletionRoutine(&embedded.Irp, complete_top_success, NULL, TRUE, TRUE, TRUE);
    IoSetNextIrpStackLocation(&embedded.Irp);
    IoCompleteRequest(&embedded.Irp, IO_NO_INCREMENT);
    CHECK(KeReadStateEvent(&event) == 1);
    /* As Windows leaves a completed IRP: past the top (StackCount + 2). */
    CHECK(embedded.Irp.CurrentLocation == 3);

    /* Completing it again is recognised, logged and ignored: the event is not set again. */
    KeClearEvent(&event);
    IoCompleteRequest(&embedded.Irp, IO_NO_INCREMENT);
    CHECK(KeReadStateEvent(&event) == 0);
    IoFreeIrp(&embedded.Irp); /* not from IoAllocateIrp: logged, ignored */
}

static volatile LONG g_cancel_calls;
static PDEVICE_OBJECT g_cancel_device;
static KIRQL g_cancel_irql_inside;

static VOID cancel_routine(PDEVICE_OBJECT device, PIRP irp)
{
    g_cancel_device = device;
    g_cancel_irql_inside = KeGetCurrentIrql();
    InterlockedIncrement(&g_cancel_calls);
    CHECK(irp->Cancel == TRUE);
    CHECK(irp->CancelRoutine == NULL);
    IoReleaseCancelSpinLock(irp->CancelIrql);
    irp->IoStatus.Status = STATUS_CANCELLED;
    irp->IoStatus.Information = 0;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
}

static void test_irp_cancel(void)
{
    DEVICE_OBJECT dev;
    LONG completions = 0;
    KIRQL irql;
    PIRP irp = IoAllocateIrp(1, FALSE);
    CHECK(irp != NULL);
    if (!irp)
        return;
    memset(&dev, 0, sizeof(dev));
    IoSetCompletionRoutine(irp, count_completion, &completions, TRUE, TRUE, TRUE);
    IoSetNextIrpStackLocation(irp);
    IoGetCurrentIrpStackLocation(irp)->DeviceObject = &dev;
    CHECK(IoSetCancelRoutine(irp, cancel_routine) == NULL);

    g_cancel_calls = 0;
    CHECK(IoCancelIrp(irp) == TRUE);
    CHECK(g_cancel_calls == 1);
    CHECK(g_cancel_device == &dev);
    CHECK(g_cancel_irql_inside == DISPATCH_LEVEL);
    CHECK(KeGetCurrentIrql() == PASSIVE_LEVEL);
    CHECK(completions == 1);
    CHECK(irp->IoStatus.Status == STATUS_CANCELLED);

    /* No cancel routine any more: FALSE, the lock is released again. */
    CHECK(IoCancelIrp(irp) == FALSE);
    IoAcquireCancelSpinLock(&irql);
    CHECK(irql == PASSIVE_LEVEL && KeGetCurrentIrql() == DISPATCH_LEVEL);
    IoReleaseCancelSpinLock(irql);
    CHECK(KeGetCurrentIrql() == PASSIVE_LEVEL);
    IoFreeIrp(irp);
}

/* ===================================================================================== */
/* MDLs                                                                                  */
/* ===================================================================================== */

static void test_mdl(void)
{
    PUCHAR buf = (PUCHAR)ExAllocatePoolWithTag(NonPagedPool, 4 * PAGE_SIZE, TAG_TEST);
    PIRP irp = IoAllocateIrp(1, FALSE);
    PMDL m1, m2, part;
    UCHAR stack_mdl[sizeof(MDL) + 4 * sizeof(PFN_NUMBER)];
    PMDL local = (PMDL)stack_mdl;

    CHECK(buf != NULL && irp != NULL);
    if (!buf || !irp)
        return;
    m1 = IoAllocateMdl(buf + 100, 5000, FALSE, FALSE, irp);
    m2 = IoAllocateMdl(buf + 6000, 100, TRUE, FALSE, irp);
    CHECK(m1 != NULL && m2 != NULL);
    if (!m1 || !m2)
        return;
    CHECK(irp->MdlAddress == m1 && m1->Next == m2 && m2->Next == NULL);
    CHECK(MmGetMdlVirtualAddress(m1) == buf + 100);
    CHECK(MmGetMdlByteCount(m1) == 5000);
    CHECK(MmGetMdlByteOffset(m1) == ((ULONG_PTR)(buf + 100) & (PAGE_SIZE - 1)));
    CHECK(MmGetMdlStartVa(m1) == (PVOID)((ULONG_PTR)(buf + 100) & ~(ULONG_PTR)(PAGE_SIZE - 1)));
    CHECK(MmSizeOfMdl(buf + 100, 5000) ==
          sizeof(MDL) + ADDRESS_AND_SIZE_TO_SPAN_PAGES(buf + 100, 5000) * sizeof(PFN_NUMBER));

    MmBuildMdlForNonPagedPool(m1);
    CHECK((m1->MdlFlags & MDL_SOURCE_IS_NONPAGED_POOL) != 0);
    CHECK(MmGetSystemAddressForMdlSafe(m1, NormalPagePriority) == buf + 100);

    /* a partial MDL over part of m1 */
    part = IoAllocateMdl(buf + 1100, 2000, FALSE, FALSE, NULL);
    CHECK(part != NULL);
    if (part) {
        IoBuildPartialMdl(m1, part, buf + 1100, 2000);
        CHECK(MmGetMdlVirtualAddress(part) == buf + 1100 && MmGetMdlByteCount(part) == 2000);
        CHECK((part->MdlFlags & MDL_PARTIAL) != 0);
        CHECK(MmGetSystemAddressForMdlSafe(part, NormalPagePriority) == buf + 1100);
        IoBuildPartialMdl(m1, part, buf + 1100, 0); /* 0: the rest of the source */
        CHECK(MmGetMdlByteCount(part) == 4000);
        IoFreeMdl(part);
    }

    /* probe, lock, map, unmap, unlock */
    MmProbeAndLockPages(m2, KernelMode, IoWriteAccess);
    CHECK((m2->MdlFlags & MDL_PAGES_LOCKED) != 0);
    CHECK(MmMapLockedPagesSpecifyCache(m2, KernelMode, MmCached, NULL, FALSE, NormalPagePriority) == buf + 6000);
    CHECK((m2->MdlFlags & MDL_MAPPED_TO_SYSTEM_VA) != 0 && m2->MappedSystemVa == buf + 6000);
    memset(MmGetSystemAddressForMdlSafe(m2, NormalPagePriority), 0x5A, 100);
    CHECK(buf[6000] == 0x5A && buf[6099] == 0x5A);
    MmUnmapLockedPages(buf + 6000, m2);
    CHECK((m2->MdlFlags & MDL_MAPPED_TO_SYSTEM_VA) == 0);
    MmUnlockPages(m2);
    CHECK((m2->MdlFlags & MDL_PAGES_LOCKED) == 0);

    /* an MDL in the caller's memory: usable, but not IoFreeMdl's to free */
    MmInitializeMdl(local, buf + 10, 64);
    MmBuildMdlForNonPagedPool(local);
    CHECK(MmGetSystemAddressForMdlSafe(local, NormalPagePriority) == buf + 10);
    IoFreeMdl(local); /* logged, ignored */

    CHECK(IoAllocateMdl(buf, 0xFFFFFFFFu, FALSE, FALSE, NULL) == NULL);

    IoFreeMdl(m2);
    IoFreeMdl(m1);
    IoFreeMdl(m1); /* double free: logged, ignored */
    irp->MdlAddress = NULL;
    IoFreeIrp(irp);
    ExFreePoolWithTag(buf, TAG_TEST);
}

/* ===================================================================================== */
/* Events, waits, threads                                                                */
/* ===================================================================================== */

typedef struct {
    KEVENT *event;
    volatile LONG *released;
} WAITER_CONTEXT;

static VOID waiter_thread(PVOID context)
{
    WAITER_CONTEXT *c = (WAITER_CONTEXT *)context;
    NTSTATUS status = KeWaitForSingleObject(c->event, Executive, KernelMode, FALSE, NULL);
    CHECK(status == STATUS_SUCCESS);
    InterlockedIncrement(c->released);
}

static void test_notification_event_threads(void)
{
    KEVENT event;
    volatile LONG released = 0;
    WAITER_CONTEXT c = { &event, &released };
    PVOID threads[3];
    int i;

    KeInitializeEvent(&event, NotificationEvent, FALSE);
    CHECK(KeReadStateEvent(&event) == 0);
    for (i = 0; i < 3; i++)
        threads[i] = start_thread(waiter_thread, &c);
    sleep_ms(30);
    CHECK(released == 0);
    CHECK(KeSetEvent(&event, IO_NO_INCREMENT, FALSE) == 0);
    CHECK(wait_for_value(&released, 3) == 3);
    CHECK(KeReadStateEvent(&event) == 1); /* stays signalled */
    CHECK(KeSetEvent(&event, IO_NO_INCREMENT, FALSE) == 1);
    for (i = 0; i < 3; i++)
        join_thread(threads[i]);
    CHECK(KeResetEvent(&event) == 1);
    CHECK(KeReadStateEvent(&event) == 0);
}

static void test_synchronization_event_threads(void)
{
    KEVENT event;
    volatile LONG released = 0;
    WAITER_CONTEXT c = { &event, &released };
    PVOID threads[3];
    int i;

    KeInitializeEvent(&event, SynchronizationEvent, FALSE);
    for (i = 0; i < 3; i++)
        threads[i] = start_thread(waiter_thread, &c);
    sleep_ms(30);
    CHECK(released == 0);

    /* one set, one waiter released, event consumed */
    KeSetEvent(&event, IO_NO_INCREMENT, FALSE);
    CHECK(wait_for_value(&released, 1) == 1);
    sleep_ms(50);
    CHECK(released == 1);
    CHECK(KeReadStateEvent(&event) == 0);

    /* two sets in a row with two waiters: both released (hand-off, as on Windows) */
    KeSetEvent(&event, IO_NO_INCREMENT, FALSE);
    KeSetEvent(&event, IO_NO_INCREMENT, FALSE);
    CHECK(wait_for_value(&released, 3) == 3);
    CHECK(KeReadStateEvent(&event) == 0);
    for (i = 0; i < 3; i++)
        join_thread(threads[i]);

    /* no waiter: the set stays until a wait takes it */
    KeSetEvent(&event, IO_NO_INCREMENT, FALSE);
    CHECK(KeReadStateEvent(&event) == 1);
}

/* Ping-pong on two synchronization events: any lost wake-up hangs (and fails the join). */
#define PING_PONG_ROUNDS 20000
static KEVENT g_ping, g_pong;

static VOID pong_thread(PVOID context)
{
    int i;
    (void)context;
    for (i = 0; i < PING_PONG_ROUNDS; i++) {
        KeWaitForSingleObject(&g_ping, Executive, KernelMode, FALSE, NULL);
        KeSetEvent(&g_pong, IO_NO_INCREMENT, FALSE);
    }
}

/* Sets a synchronization event many times while another thread waits on it with short
 * timeouts: every set that found the event non-signalled must be seen by exactly one
 * wait (or still be pending at the end). */
typedef struct {
    KEVENT event;
    volatile LONG done;
    LONG effective;
} RACE_CONTEXT;

static VOID race_setter_thread(PVOID context)
{
    RACE_CONTEXT *c = (RACE_CONTEXT *)context;
    int i;
    for (i = 0; i < 20000; i++) {
        if (KeSetEvent(&c->event, IO_NO_INCREMENT, FALSE) == 0)
            c->effective++;
        if (i % 128 == 0)
            sleep_ms(0);
    }
    InterlockedExchange(&c->done, 1);
}

static void test_event_stress(void)
{
    PVOID thread;
    LARGE_INTEGER timeout, zero;
    RACE_CONTEXT c;
    LONG taken = 0;
    int i;

    KeInitializeEvent(&g_ping, SynchronizationEvent, FALSE);
    KeInitializeEvent(&g_pong, SynchronizationEvent, FALSE);
    thread = start_thread(pong_thread, NULL);
    timeout.QuadPart = -MS(10000);
    for (i = 0; i < PING_PONG_ROUNDS; i++) {
        KeSetEvent(&g_ping, IO_NO_INCREMENT, FALSE);
        if (KeWaitForSingleObject(&g_pong, Executive, KernelMode, FALSE, &timeout) != STATUS_SUCCESS) {
            CHECK(!"ping-pong wait timed out");
            break;
        }
    }
    CHECK(i == PING_PONG_ROUNDS);
    join_thread(thread);

    memset(&c, 0, sizeof(c));
    KeInitializeEvent(&c.event, SynchronizationEvent, FALSE);
    thread = start_thread(race_setter_thread, &c);
    timeout.QuadPart = -2000; /* 200 us */
    zero.QuadPart = 0;
    while (!InterlockedCompareExchange(&c.done, 0, 0)) {
        if (KeWaitForSingleObject(&c.event, Executive, KernelMode, FALSE, &timeout) == STATUS_SUCCESS)
            taken++;
    }
    join_thread(thread);
    if (KeWaitForSingleObject(&c.event, Executive, KernelMode, FALSE, &zero) == STATUS_SUCCESS)
        taken++;
    if (taken != c.effective)
        printf("  event race: %ld sets took effect, %ld waits succeeded\n", (long)c.effective, (long)taken);
    CHECK(taken == c.effective);
    CHECK(c.effective > 0);
}

static void test_wait_timeouts(void)
{
    KEVENT event;
    LARGE_INTEGER timeout;
    ULONGLONG t0, elapsed;
    LARGE_INTEGER system_now;
    NTSTATUS status;

    KeInitializeEvent(&event, NotificationEvent, FALSE);

    /* relative: -10 ms */
    timeout.QuadPart = -MS(10);
    t0 = now_100ns();
    status = KeWaitForSingleObject(&event, Executive, KernelMode, FALSE, &timeout);
    elapsed = now_100ns() - t0;
    CHECK(status == STATUS_TIMEOUT);
    CHECK(elapsed >= (ULONGLONG)MS(10));
    CHECK(elapsed < (ULONGLONG)MS(2000));

    /* zero: a poll */
    timeout.QuadPart = 0;
    t0 = now_100ns();
    CHECK(KeWaitForSingleObject(&event, Executive, KernelMode, FALSE, &timeout) == STATUS_TIMEOUT);
    CHECK(now_100ns() - t0 < (ULONGLONG)MS(500));
    KeSetEvent(&event, IO_NO_INCREMENT, FALSE);
    CHECK(KeWaitForSingleObject(&event, Executive, KernelMode, FALSE, &timeout) == STATUS_SUCCESS);
    CHECK(KeWaitForSingleObject(&event, Executive, KernelMode, FALSE, NULL) == STATUS_SUCCESS);
    KeClearEvent(&event);
    CHECK(KeReadStateEvent(&event) == 0);

    /* absolute: system time + 20 ms */
    KeQuerySystemTimePrecise(&system_now);
    CHECK(system_now.QuadPart > 132223104000000000LL); /* after 2020 */
    timeout.QuadPart = system_now.QuadPart + MS(20);
    t0 = now_100ns();
    status = KeWaitForSingleObject(&event, Executive, KernelMode, FALSE, &timeout);
    elapsed = now_100ns() - t0;
    CHECK(status == STATUS_TIMEOUT);
    CHECK(elapsed >= (ULONGLONG)MS(15));
    CHECK(elapsed < (ULONGLONG)MS(2000));

    /* a synchronization event is consumed by the wait that takes it */
    KeInitializeEvent(&event, SynchronizationEvent, TRUE);
    timeout.QuadPart = 0;
    CHECK(KeWaitForSingleObject(&event, Executive, KernelMode, FALSE, &timeout) == STATUS_SUCCESS);
    CHECK(KeWaitForSingleObject(&event, Executive, KernelMode, FALSE, &timeout) == STATUS_TIMEOUT);

    /* KeDelayExecutionThread */
    t0 = now_100ns();
    sleep_ms(15);
    CHECK(now_100ns() - t0 >= (ULONGLONG)MS(15));
    CHECK(KeDelayExecutionThread(KernelMode, FALSE, NULL) == STATUS_INVALID_PARAMETER);
}

typedef struct {
    PVOID objects[2];
    WAIT_TYPE type;
    NTSTATUS result;
} MULTI_CONTEXT;

static VOID multi_waiter_thread(PVOID context)
{
    MULTI_CONTEXT *c = (MULTI_CONTEXT *)context;
    LARGE_INTEGER timeout;
    timeout.QuadPart = -MS(10000);
    c->result = KeWaitForMultipleObjects(2, c->objects, c->type, Executive, KernelMode, FALSE, &timeout, NULL);
}

static VOID set_after_20ms_thread(PVOID context)
{
    sleep_ms(20);
    KeSetEvent((PKEVENT)context, IO_NO_INCREMENT, FALSE);
}

static void test_wait_multiple(void)
{
    KEVENT e1, e2;
    PVOID objects[2] = { &e1, &e2 };
    PVOID too_many[MAXIMUM_WAIT_OBJECTS + 1];
    PVOID with_null[2] = { &e1, NULL };
    LARGE_INTEGER timeout, zero;
    MULTI_CONTEXT c;
    PVOID thread;
    int i;

    zero.QuadPart = 0;
    KeInitializeEvent(&e1, NotificationEvent, FALSE);
    KeInitializeEvent(&e2, NotificationEvent, FALSE);

    /* WaitAny */
    timeout.QuadPart = -MS(10);
    CHECK(KeWaitForMultipleObjects(2, objects, WaitAny, Executive, KernelMode, FALSE, &timeout, NULL) == STATUS_TIMEOUT);
    KeSetEvent(&e2, IO_NO_INCREMENT, FALSE);
    CHECK(KeWaitForMultipleObjects(2, objects, WaitAny, Executive, KernelMode, FALSE, &zero, NULL) == STATUS_WAIT_1);
    KeSetEvent(&e1, IO_NO_INCREMENT, FALSE);
    CHECK(KeWaitForMultipleObjects(2, objects, WaitAny, Executive, KernelMode, FALSE, &zero, NULL) == STATUS_WAIT_0);

    /* WaitAll of a notification and a synchronization event */
    KeInitializeEvent(&e2, SynchronizationEvent, FALSE);
    CHECK(KeWaitForMultipleObjects(2, objects, WaitAll, Executive, KernelMode, FALSE, &zero, NULL) == STATUS_TIMEOUT);
    CHECK(KeReadStateEvent(&e1) == 1); /* a failed WaitAll takes nothing */
    KeSetEvent(&e2, IO_NO_INCREMENT, FALSE);
    CHECK(KeWaitForMultipleObjects(2, objects, WaitAll, Executive, KernelMode, FALSE, &zero, NULL) == STATUS_SUCCESS);
    CHECK(KeReadStateEvent(&e1) == 1 && KeReadStateEvent(&e2) == 0);

    /* blocking WaitAll, completed by another thread */
    c.objects[0] = &e1;
    c.objects[1] = &e2;
    c.type = WaitAll;
    c.result = -1;
    thread = start_thread(multi_waiter_thread, &c);
    sleep_ms(20);
    CHECK(c.result == -1);
    KeSetEvent(&e2, IO_NO_INCREMENT, FALSE);
    join_thread(thread);
    CHECK(c.result == STATUS_SUCCESS);
    CHECK(KeReadStateEvent(&e2) == 0);

    /* blocking WaitAny, satisfied by the second object */
    KeClearEvent(&e1);
    c.type = WaitAny;
    c.result = -1;
    thread = start_thread(multi_waiter_thread, &c);
    sleep_ms(20);
    CHECK(c.result == -1);
    KeSetEvent(&e2, IO_NO_INCREMENT, FALSE);
    join_thread(thread);
    CHECK(c.result == STATUS_WAIT_1);
    CHECK(KeReadStateEvent(&e2) == 0);

    /* an infinite WaitAll woken by a thread 20 ms later */
    KeSetEvent(&e1, IO_NO_INCREMENT, FALSE);
    thread = start_thread(set_after_20ms_thread, &e2);
    CHECK(KeWaitForMultipleObjects(2, objects, WaitAll, Executive, KernelMode, FALSE, NULL, NULL) == STATUS_SUCCESS);
    join_thread(thread);

    /* invalid arguments */
    for (i = 0; i <= MAXIMUM_WAIT_OBJECTS; i++)
        too_many[i] = &e1;
    CHECK(KeWaitForMultipleObjects(0, objects, WaitAny, Executive, KernelMode, FALSE, &zero, NULL) == STATUS_INVALID_PARAMETER);
    CHECK(KeWaitForMultipleObjects(MAXIMUM_WAIT_OBJECTS + 1, too_many, WaitAny, Executive, KernelMode, FALSE, &zero, NULL) ==
          STATUS_INVALID_PARAMETER);
    CHECK(KeWaitForMultipleObjects(MAXIMUM_WAIT_OBJECTS, too_many, WaitAny, Executive, KernelMode, FALSE, &zero, NULL) ==
          STATUS_WAIT_0);
    CHECK(KeWaitForMultipleObjects(2, with_null, WaitAny, Executive, KernelMode, FALSE, &zero, NULL) == STATUS_INVALID_PARAMETER);
    CHECK(KeWaitForSingleObject(NULL, Executive, KernelMode, FALSE, &zero) == STATUS_INVALID_PARAMETER);
}

static volatile LONG g_after_terminate;
static volatile LONG g_thread_ran;
static PVOID g_thread_self;

static VOID terminating_thread(PVOID context)
{
    (void)context;
    g_thread_self = PsGetCurrentThread();
    CHECK(KeGetCurrentIrql() == PASSIVE_LEVEL);
    sleep_ms(20);
    InterlockedIncrement(&g_thread_ran);
    PsTerminateSystemThread(STATUS_SUCCESS);
    InterlockedIncrement(&g_after_terminate); /* never reached */
}

static void test_threads(void)
{
    HANDLE handle = NULL;
    PVOID object = NULL, process_object = NULL;
    LARGE_INTEGER zero, timeout;
    CLIENT_ID cid;
    NTSTATUS status;

    zero.QuadPart = 0;
    g_after_terminate = 0;
    g_thread_ran = 0;
    status = PsCreateSystemThread(&handle, THREAD_ALL_ACCESS, NULL, NULL, &cid, terminating_thread, NULL);
    CHECK(status == STATUS_SUCCESS);
    CHECK(handle != NULL);
    status = ObReferenceObjectByHandle(handle, THREAD_ALL_ACCESS, *PsThreadType, KernelMode, &object, NULL);
    CHECK(status == STATUS_SUCCESS && object != NULL);
    CHECK(ObReferenceObjectByHandle(handle, THREAD_ALL_ACCESS, *PsProcessType, KernelMode, &process_object, NULL) ==
          STATUS_OBJECT_TYPE_MISMATCH);
    CHECK(ZwClose(handle) == STATUS_SUCCESS);
    CHECK(ZwClose(handle) == STATUS_INVALID_HANDLE);
    CHECK(ZwClose((HANDLE)(ULONG_PTR)0x7777) == STATUS_INVALID_HANDLE);
    if (object) {
        /* still running: a poll times out */
        CHECK(KeWaitForSingleObject(object, Executive, KernelMode, FALSE, &zero) == STATUS_TIMEOUT);
        timeout.QuadPart = -MS(10000);
        CHECK(KeWaitForSingleObject(object, Executive, KernelMode, FALSE, &timeout) == STATUS_SUCCESS);
        CHECK(g_thread_self == object);
        CHECK(KeWaitForSingleObject(object, Executive, KernelMode, FALSE, &zero) == STATUS_SUCCESS);
        ObDereferenceObject(object);
    }
    CHECK(g_thread_ran == 1);
    CHECK(g_after_terminate == 0);

    /* Not a system thread: refused with STATUS_INVALID_PARAMETER (Windows' documented
     * result). Called through a pointer type without the header's noreturn attribute, so the
     * compiler expects the call to return. */
    {
        NTSTATUS (*terminate)(NTSTATUS) = (NTSTATUS (*)(NTSTATUS))PsTerminateSystemThread;
        CHECK(terminate(STATUS_SUCCESS) == STATUS_INVALID_PARAMETER);
    }
    CHECK(PsGetCurrentThread() != NULL && PsGetCurrentThread() == PsGetCurrentThread());
    CHECK(PsGetCurrentProcess() != NULL);
    CHECK(*PsThreadType != NULL && *PsProcessType != NULL && *ExEventObjectType != NULL);
    CHECK(*PsThreadType != *PsProcessType && *PsThreadType != *ExEventObjectType);
    CHECK(PsCreateSystemThread(NULL, 0, NULL, NULL, NULL, terminating_thread, NULL) == STATUS_INVALID_PARAMETER);
}

/* ===================================================================================== */
/* Work items and devices                                                                */
/* ===================================================================================== */

typedef struct {
    PIO_WORKITEM item;
    PDEVICE_OBJECT device;
    volatile LONG runs;
    volatile LONG bad;
    KEVENT done;
} WORK_CONTEXT;

static VOID requeue_routine(PDEVICE_OBJECT device, PVOID context)
{
    WORK_CONTEXT *c = (WORK_CONTEXT *)context;
    if (device != c->device || KeGetCurrentIrql() != PASSIVE_LEVEL)
        InterlockedIncrement(&c->bad);
    if (InterlockedIncrement(&c->runs) < 5)
        IoQueueWorkItem(c->item, requeue_routine, DelayedWorkQueue, c);
    else
        KeSetEvent(&c->done, IO_NO_INCREMENT, FALSE);
}

static VOID self_freeing_routine(PDEVICE_OBJECT device, PVOID context)
{
    WORK_CONTEXT *c = (WORK_CONTEXT *)context;
    (void)device;
    IoFreeWorkItem(c->item);
    InterlockedIncrement(&c->runs);
    KeSetEvent(&c->done, IO_NO_INCREMENT, FALSE);
}

static void test_devices_and_work_items(void)
{
    static DRIVER_OBJECT driver;
    PDEVICE_OBJECT dev = NULL, dev2 = NULL, dup = NULL;
    UNICODE_STRING name;
    WORK_CONTEXT c;
    LARGE_INTEGER timeout;
    NTSTATUS status;
    ULONG i;

    memset(&driver, 0, sizeof(driver));
    RtlInitUnicodeString(&name, L"\\Device\\WskKernelTest");
    status = IoCreateDevice(&driver, 64, &name, FILE_DEVICE_UNKNOWN, 0, FALSE, &dev);
    CHECK(status == STATUS_SUCCESS && dev != NULL);
    if (!dev)
        return;
    CHECK(driver.DeviceObject == dev && dev->DriverObject == &driver);
    CHECK(dev->DeviceExtension != NULL);
    for (i = 0; i < 64; i++)
        if (((PUCHAR)dev->DeviceExtension)[i] != 0)
            break;
    CHECK(i == 64);
    CHECK((dev->Flags & DO_DEVICE_INITIALIZING) != 0);
    CHECK(IoCreateDevice(&driver, 0, &name, FILE_DEVICE_UNKNOWN, 0, FALSE, &dup) == STATUS_OBJECT_NAME_COLLISION);
    CHECK(IoCreateDevice(&driver, 0, NULL, FILE_DEVICE_UNKNOWN, 0, FALSE, &dev2) == STATUS_SUCCESS);
    CHECK(driver.DeviceObject == dev2 && dev2->NextDevice == dev && dev2->DeviceExtension == NULL);
    dev->Flags &= ~DO_DEVICE_INITIALIZING;

    /* a work item re-queued from its own routine, 5 runs */
    memset(&c, 0, sizeof(c));
    c.device = dev;
    c.item = IoAllocateWorkItem(dev);
    CHECK(c.item != NULL);
    KeInitializeEvent(&c.done, NotificationEvent, FALSE);
    IoQueueWorkItem(c.item, requeue_routine, DelayedWorkQueue, &c);
    timeout.QuadPart = -MS(10000);
    CHECK(KeWaitForSingleObject(&c.done, Executive, KernelMode, FALSE, &timeout) == STATUS_SUCCESS);
    CHECK(c.runs == 5 && c.bad == 0);
    IoFreeWorkItem(c.item);
    IoFreeWorkItem(c.item); /* logged, ignored */

    /* a work item that frees itself */
    memset(&c, 0, sizeof(c));
    c.item = IoAllocateWorkItem(dev2);
    KeInitializeEvent(&c.done, NotificationEvent, FALSE);
    IoQueueWorkItem(c.item, self_freeing_routine, CriticalWorkQueue, &c);
    CHECK(KeWaitForSingleObject(&c.done, Executive, KernelMode, FALSE, &timeout) == STATUS_SUCCESS);
    CHECK(c.runs == 1);

    CHECK(IoAllocateWorkItem(NULL) == NULL);

    IoDeleteDevice(dev2);
    CHECK(driver.DeviceObject == dev);
    IoDeleteDevice(dev);
    CHECK(driver.DeviceObject == NULL);
    IoDeleteDevice(dev); /* logged, ignored */
}

/* ===================================================================================== */
/* Rundown protection                                                                    */
/* ===================================================================================== */

typedef struct {
    EX_RUNDOWN_REF *ref;
    KEVENT acquired;
    volatile LONG released;
    volatile LONG acquisitions;
    volatile LONG failures;
} RUNDOWN_CONTEXT;

static VOID rundown_holder_thread(PVOID context)
{
    RUNDOWN_CONTEXT *c = (RUNDOWN_CONTEXT *)context;
    CHECK(ExAcquireRundownProtection(c->ref) == TRUE);
    KeSetEvent(&c->acquired, IO_NO_INCREMENT, FALSE);
    sleep_ms(50);
    InterlockedExchange(&c->released, 1);
    ExReleaseRundownProtection(c->ref);
}

static VOID rundown_hammer_thread(PVOID context)
{
    RUNDOWN_CONTEXT *c = (RUNDOWN_CONTEXT *)context;
    int i;
    for (i = 0; i < 5000; i++) {
        if (ExAcquireRundownProtectionEx(c->ref, 2)) {
            InterlockedIncrement(&c->acquisitions);
            ExReleaseRundownProtectionEx(c->ref, 2);
        } else {
            InterlockedIncrement(&c->failures);
        }
    }
}

static void test_rundown(void)
{
    EX_RUNDOWN_REF ref;
    RUNDOWN_CONTEXT c;
    PVOID threads[4];
    int i;

    memset(&c, 0, sizeof(c));
    c.ref = &ref;
    ExInitializeRundownProtection(&ref);

    /* concurrent acquire/release: every reference returned */
    for (i = 0; i < 4; i++)
        threads[i] = start_thread(rundown_hammer_thread, &c);
    for (i = 0; i < 4; i++)
        join_thread(threads[i]);
    CHECK(c.acquisitions == 20000 && c.failures == 0);
    CHECK(ref.Count == 0);

    /* the rundown waits for the holder */
    KeInitializeEvent(&c.acquired, NotificationEvent, FALSE);
    threads[0] = start_thread(rundown_holder_thread, &c);
    CHECK(KeWaitForSingleObject(&c.acquired, Executive, KernelMode, FALSE, NULL) == STATUS_SUCCESS);
    ExWaitForRundownProtectionRelease(&ref);
    CHECK(c.released == 1);
    CHECK(ExAcquireRundownProtection(&ref) == FALSE);
    CHECK(ExAcquireRundownProtectionEx(&ref, 3) == FALSE);
    ExRundownCompleted(&ref);
    join_thread(threads[0]);

    ExReInitializeRundownProtection(&ref);
    CHECK(ExAcquireRundownProtection(&ref) == TRUE);
    ExReleaseRundownProtection(&ref);
    ExWaitForRundownProtectionRelease(&ref); /* nothing held: returns at once */
    CHECK(ExAcquireRundownProtection(&ref) == FALSE);
}

/* ===================================================================================== */
/* S-lists                                                                               */
/* ===================================================================================== */

#define SLIST_THREADS 4
#define SLIST_PER_THREAD 2000

typedef struct DECLSPEC_ALIGN(16) {
    SLIST_ENTRY entry;
    LONG seen;
} SLIST_ITEM;

static SLIST_HEADER g_slist;
static SLIST_ITEM g_slist_items[SLIST_THREADS * SLIST_PER_THREAD];
static volatile LONG g_slist_popped;

static VOID slist_thread(PVOID context)
{
    SLIST_ITEM *mine = &g_slist_items[(ULONG_PTR)context * SLIST_PER_THREAD];
    int i;
    for (i = 0; i < SLIST_PER_THREAD; i++) {
        InterlockedPushEntrySList(&g_slist, &mine[i].entry);
        if (i % 4 == 3 && InterlockedPopEntrySList(&g_slist) != NULL)
            InterlockedIncrement(&g_slist_popped);
    }
}

static void test_slist(void)
{
    PVOID threads[SLIST_THREADS];
    PSLIST_ENTRY e, first;
    SLIST_ITEM a, b;
    ULONG_PTR i;
    LONG count = 0, duplicates = 0;

    InitializeSListHead(&g_slist);
    CHECK(QueryDepthSList(&g_slist) == 0);
    CHECK(InterlockedPopEntrySList(&g_slist) == NULL);
    CHECK(InterlockedPushEntrySList(&g_slist, &a.entry) == NULL);
    CHECK(InterlockedPushEntrySList(&g_slist, &b.entry) == &a.entry);
    CHECK(QueryDepthSList(&g_slist) == 2 && ExQueryDepthSList(&g_slist) == 2);
    CHECK(InterlockedPopEntrySList(&g_slist) == &b.entry);
    CHECK(InterlockedPopEntrySList(&g_slist) == &a.entry);
    CHECK(QueryDepthSList(&g_slist) == 0);

    g_slist_popped = 0;
    for (i = 0; i < SLIST_THREADS; i++)
        threads[i] = start_thread(slist_thread, (PVOID)i);
    for (i = 0; i < SLIST_THREADS; i++)
        join_thread(threads[i]);
    CHECK(QueryDepthSList(&g_slist) == SLIST_THREADS * SLIST_PER_THREAD - g_slist_popped);
    first = InterlockedFlushSList(&g_slist);
    CHECK(QueryDepthSList(&g_slist) == 0 && InterlockedPopEntrySList(&g_slist) == NULL);
    for (e = first; e != NULL && count <= SLIST_THREADS * SLIST_PER_THREAD; e = e->Next) {
        SLIST_ITEM *item = CONTAINING_RECORD(e, SLIST_ITEM, entry);
        if (item->seen++)
            duplicates++;
        count++;
    }
    CHECK(duplicates == 0);
    CHECK(count == SLIST_THREADS * SLIST_PER_THREAD - g_slist_popped);
}

/* ===================================================================================== */
/* Spin locks and IRQL                                                                   */
/* ===================================================================================== */

#define LOCK_THREADS 4
#define LOCK_ROUNDS 20000
static KSPIN_LOCK g_lock;
static volatile LONG g_counter;
static volatile LONG g_irql_wrong;

static VOID spinlock_thread(PVOID context)
{
    int i;
    (void)context;
    for (i = 0; i < LOCK_ROUNDS; i++) {
        LONG v;
        if (i % 2) {
            KIRQL old;
            KeAcquireSpinLock(&g_lock, &old);
            if (KeGetCurrentIrql() != DISPATCH_LEVEL || old != PASSIVE_LEVEL)
                InterlockedIncrement(&g_irql_wrong);
            v = g_counter;
            if (i % 64 == 1)
                KeMemoryBarrier();
            g_counter = v + 1;
            KeReleaseSpinLock(&g_lock, old);
        } else {
            KLOCK_QUEUE_HANDLE h;
            KeAcquireInStackQueuedSpinLock(&g_lock, &h);
            if (KeGetCurrentIrql() != DISPATCH_LEVEL)
                InterlockedIncrement(&g_irql_wrong);
            v = g_counter;
            g_counter = v + 1;
            KeReleaseInStackQueuedSpinLock(&h);
        }
        if (KeGetCurrentIrql() != PASSIVE_LEVEL)
            InterlockedIncrement(&g_irql_wrong);
    }
}

static void test_spinlocks_and_irql(void)
{
    PVOID threads[LOCK_THREADS];
    KIRQL old, old2;
    int i;

    CHECK(sizeof(KLOCK_QUEUE_HANDLE) == 24);
    CHECK(KeGetCurrentIrql() == PASSIVE_LEVEL);
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    CHECK(old == PASSIVE_LEVEL && KeGetCurrentIrql() == DISPATCH_LEVEL);
    KeInitializeSpinLock(&g_lock);
    KeAcquireSpinLockAtDpcLevel(&g_lock);
    CHECK(g_lock != 0);
    KeReleaseSpinLockFromDpcLevel(&g_lock);
    CHECK(g_lock == 0);
    KeLowerIrql(old);
    CHECK(KeGetCurrentIrql() == PASSIVE_LEVEL);
    old = KeAcquireSpinLockRaiseToDpc(&g_lock);
    CHECK(old == PASSIVE_LEVEL && KeGetCurrentIrql() == DISPATCH_LEVEL);
    KeRaiseIrql(DISPATCH_LEVEL, &old2);
    CHECK(old2 == DISPATCH_LEVEL);
    KeLowerIrql(old2);
    KeReleaseSpinLock(&g_lock, old);
    CHECK(KeGetCurrentIrql() == PASSIVE_LEVEL);

    g_counter = 0;
    g_irql_wrong = 0;
    for (i = 0; i < LOCK_THREADS; i++)
        threads[i] = start_thread(spinlock_thread, NULL);
    for (i = 0; i < LOCK_THREADS; i++)
        join_thread(threads[i]);
    CHECK(g_counter == LOCK_THREADS * LOCK_ROUNDS);
    CHECK(g_irql_wrong == 0);
    CHECK(g_lock == 0);
}

/* ===================================================================================== */
/* Pool and lookaside lists                                                              */
/* ===================================================================================== */

static void test_pool(void)
{
    PUCHAR p, q, z, e;
    size_t i;
    int nonzero = 0, pattern = 1;
    ULONG stack_word = 0;

    p = (PUCHAR)ExAllocatePoolWithTag(NonPagedPoolNx, 100, TAG_TEST);
    CHECK(p != NULL && ((ULONG_PTR)p & 15) == 0);
    if (p) {
        for (i = 0; i < 100; i++)
            if (p[i] != 0xCD)
                pattern = 0;
        CHECK(pattern); /* libwsk fills uninitialized pool with 0xCD */
        memset(p, 1, 100);
        ExFreePoolWithTag(p, TAG_TEST);
        ExFreePoolWithTag(p, TAG_TEST); /* double free: logged, ignored */
    }

    z = (PUCHAR)ExAllocatePool2(POOL_FLAG_NON_PAGED, 4096, TAG_TEST);
    CHECK(z != NULL && ((ULONG_PTR)z & 15) == 0);
    if (z) {
        for (i = 0; i < 4096; i++)
            nonzero |= z[i];
        CHECK(nonzero == 0);
        ExFreePool(z);
    }
    q = (PUCHAR)ExAllocatePool2(POOL_FLAG_PAGED | POOL_FLAG_UNINITIALIZED, 64, TAG_TEST);
    CHECK(q != NULL);
    ExFreePoolWithTag(q, 'gnrW'); /* wrong tag: logged, freed anyway */
    CHECK(ExAllocatePool2(POOL_FLAG_NON_PAGED | POOL_FLAG_PAGED, 64, TAG_TEST) == NULL);
    CHECK(ExAllocatePool2(0, 64, TAG_TEST) == NULL);
    CHECK(ExAllocatePool2(POOL_FLAG_NON_PAGED, 64, 0) == NULL);
    z = (PUCHAR)ExAllocatePool2(POOL_FLAG_NON_PAGED | POOL_FLAG_CACHE_ALIGNED, 100, TAG_TEST);
    CHECK(z != NULL && ((ULONG_PTR)z & 63) == 0);
    ExFreePoolWithTag(z, TAG_TEST);

    z = (PUCHAR)ExAllocatePoolZero(NonPagedPool, 300, TAG_TEST);
    CHECK(z != NULL);
    if (z) {
        nonzero = 0;
        for (i = 0; i < 300; i++)
            nonzero |= z[i];
        CHECK(nonzero == 0);
        ExFreePoolWithTag(z, TAG_TEST);
    }

    /* zero bytes: a valid, distinct block */
    p = (PUCHAR)ExAllocatePoolWithTag(NonPagedPool, 0, TAG_TEST);
    q = (PUCHAR)ExAllocatePoolWithTag(NonPagedPool, 0, TAG_TEST);
    CHECK(p != NULL && q != NULL && p != q);
    ExFreePool(p);
    ExFreePool(q);

    e = (PUCHAR)ExAllocatePool(NonPagedPool, 10); /* the 'None' tag */
    CHECK(e != NULL);
    ExFreePool(e);

    ExFreePool(&stack_word); /* not pool: logged, ignored */
    ExFreePool(NULL);        /* logged, ignored */
}

static volatile LONG g_allocs, g_frees;
static PLOOKASIDE_LIST_EX g_lookaside_seen;

static PVOID counting_allocate_ex(POOL_TYPE type, SIZE_T size, ULONG tag, PLOOKASIDE_LIST_EX lookaside)
{
    InterlockedIncrement(&g_allocs);
    g_lookaside_seen = lookaside;
    return ExAllocatePoolWithTag(type, size, tag);
}

static VOID counting_free_ex(PVOID buffer, PLOOKASIDE_LIST_EX lookaside)
{
    (void)lookaside;
    InterlockedIncrement(&g_frees);
    ExFreePool(buffer);
}

static PVOID counting_allocate(POOL_TYPE type, SIZE_T size, ULONG tag)
{
    InterlockedIncrement(&g_allocs);
    return ExAllocatePoolWithTag(type, size, tag);
}

static VOID counting_free(PVOID buffer)
{
    InterlockedIncrement(&g_frees);
    ExFreePool(buffer);
}

static void test_lookaside(void)
{
    NPAGED_LOOKASIDE_LIST np;
    PAGED_LOOKASIDE_LIST pg;
    LOOKASIDE_LIST_EX ex;
    PVOID blocks[10];
    int i, j, distinct = 1;

    CHECK(sizeof(NPAGED_LOOKASIDE_LIST) == 128 && sizeof(LOOKASIDE_LIST_EX) == 128);

    ExInitializeNPagedLookasideList(&np, NULL, NULL, 0, 64, 'pNkL', 0);
    for (i = 0; i < 10; i++) {
        blocks[i] = ExAllocateFromNPagedLookasideList(&np);
        CHECK(blocks[i] != NULL);
        if (blocks[i])
            memset(blocks[i], i, 64);
        for (j = 0; j < i; j++)
            if (blocks[j] == blocks[i])
                distinct = 0;
    }
    CHECK(distinct);
    for (i = 0; i < 10; i++)
        ExFreeToNPagedLookasideList(&np, blocks[i]);
    blocks[0] = ExAllocateFromNPagedLookasideList(&np);
    CHECK(blocks[0] != NULL);
    ExFreeToNPagedLookasideList(&np, blocks[0]);
    ExDeleteNPagedLookasideList(&np);

    g_allocs = g_frees = 0;
    ExInitializePagedLookasideList(&pg, counting_allocate, counting_free, 0, 24, 'gPkL', 2);
    for (i = 0; i < 4; i++)
        blocks[i] = ExAllocateFromPagedLookasideList(&pg);
    CHECK(g_allocs == 4);
    for (i = 0; i < 4; i++)
        ExFreeToPagedLookasideList(&pg, blocks[i]);
    CHECK(g_frees == 2); /* depth 2: two cached, two freed */
    blocks[0] = ExAllocateFromPagedLookasideList(&pg);
    CHECK(g_allocs == 4); /* from the cache */
    ExFreeToPagedLookasideList(&pg, blocks[0]);
    ExDeletePagedLookasideList(&pg);
    CHECK(g_frees == 4);

    g_allocs = g_frees = 0;
    CHECK(ExInitializeLookasideListEx(&ex, counting_allocate_ex, counting_free_ex, NonPagedPool, 0, 32, 'xEkL', 0) ==
          STATUS_SUCCESS);
    for (i = 0; i < 3; i++)
        blocks[i] = ExAllocateFromLookasideListEx(&ex);
    CHECK(g_allocs == 3 && g_lookaside_seen == &ex);
    for (i = 0; i < 3; i++)
        ExFreeToLookasideListEx(&ex, blocks[i]);
    ExDeleteLookasideListEx(&ex);
    CHECK(g_frees == 3);
    CHECK(ExInitializeLookasideListEx(NULL, NULL, NULL, NonPagedPool, 0, 32, 'xEkL', 0) == STATUS_INVALID_PARAMETER);
}

/* ===================================================================================== */
/* Rtl                                                                                   */
/* ===================================================================================== */

static int wide_equals(const WCHAR *w, const char *s)
{
    while (*s && *w == (WCHAR)(UCHAR)*s) {
        w++;
        s++;
    }
    return *w == 0 && *s == 0;
}

static void test_rtl_strings(void)
{
    static const WCHAR hello[] = L"Hello";
    UNICODE_STRING a, b, dst;
    ANSI_STRING as;
    WCHAR small[4];
    UCHAR m1[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, m2[8] = { 1, 2, 3, 9, 5, 6, 7, 8 };

    RtlInitUnicodeString(&a, hello);
    CHECK(a.Length == 10 && a.MaximumLength == 12 && a.Buffer == hello);
    RtlInitUnicodeString(&b, L"hELLO");
    CHECK(RtlEqualUnicodeString(&a, &b, TRUE) == TRUE);
    CHECK(RtlEqualUnicodeString(&a, &b, FALSE) == FALSE);
    RtlInitUnicodeString(&b, NULL);
    CHECK(b.Length == 0 && b.MaximumLength == 0 && b.Buffer == NULL);
    CHECK(RtlEqualUnicodeString(&a, &b, TRUE) == FALSE);

    dst.Buffer = small;
    dst.Length = 0;
    dst.MaximumLength = sizeof(small);
    RtlCopyUnicodeString(&dst, &a);
    CHECK(dst.Length == sizeof(small) && small[0] == L'H' && small[3] == L'l');
    RtlCopyUnicodeString(&dst, NULL);
    CHECK(dst.Length == 0);

    RtlInitAnsiString(&as, "abc");
    CHECK(as.Length == 3 && as.MaximumLength == 4);

    CHECK(RtlCompareMemory(m1, m2, 8) == 3);
    CHECK(RtlCompareMemory(m1, m1, 8) == 8);
}

static void test_rtl_ipv4(void)
{
    IN_ADDR addr;
    CHAR buf[64];
    WCHAR wbuf[64];
    PCSTR term = NULL;
    PCWSTR wterm = NULL;
    PSTR end;
    USHORT port = 0xdead;
    ULONG len;

    CHECK(RtlIpv4StringToAddressA("192.168.1.20", TRUE, &term, &addr) == STATUS_SUCCESS);
    CHECK(term && *term == '\0');
    CHECK(addr.S_un.S_un_b.s_b1 == 192 && addr.S_un.S_un_b.s_b2 == 168 && addr.S_un.S_un_b.s_b3 == 1 &&
          addr.S_un.S_un_b.s_b4 == 20);
    end = RtlIpv4AddressToStringA(&addr, buf);
    CHECK(strcmp(buf, "192.168.1.20") == 0 && end == buf + 12);

    CHECK(RtlIpv4StringToAddressA("1.2.3.4:80", TRUE, &term, &addr) == STATUS_SUCCESS && *term == ':');
    CHECK(RtlIpv4StringToAddressA("0x7f.1", FALSE, &term, &addr) == STATUS_SUCCESS);
    CHECK(addr.S_un.S_addr == RtlUlongByteSwap(0x7F000001));
    CHECK(RtlIpv4StringToAddressA("0x7f.1", TRUE, &term, &addr) == STATUS_INVALID_PARAMETER);
    CHECK(RtlIpv4StringToAddressA("1.2.3", TRUE, &term, &addr) == STATUS_INVALID_PARAMETER);
    CHECK(RtlIpv4StringToAddressA("256.1.1.1", FALSE, &term, &addr) == STATUS_INVALID_PARAMETER);
    CHECK(RtlIpv4StringToAddressA("abc", FALSE, &term, &addr) == STATUS_INVALID_PARAMETER && *term == 'a');
    CHECK(RtlIpv4StringToAddressA(NULL, FALSE, &term, &addr) == STATUS_INVALID_PARAMETER);

    CHECK(RtlIpv4StringToAddressExA("10.0.0.1:8080", TRUE, &addr, &port) == STATUS_SUCCESS);
    CHECK(port == RtlUshortByteSwap(8080));
    len = sizeof(buf);
    CHECK(RtlIpv4AddressToStringExA(&addr, port, buf, &len) == STATUS_SUCCESS);
    CHECK(strcmp(buf, "10.0.0.1:8080") == 0 && len == 14);
    len = 5;
    CHECK(RtlIpv4AddressToStringExA(&addr, port, buf, &len) == STATUS_INVALID_PARAMETER && len == 14);
    len = sizeof(buf);
    CHECK(RtlIpv4AddressToStringExA(&addr, 0, buf, &len) == STATUS_SUCCESS && strcmp(buf, "10.0.0.1") == 0 && len == 9);
    CHECK(RtlIpv4StringToAddressExA("10.0.0.1", TRUE, &addr, &port) == STATUS_SUCCESS && port == 0);
    CHECK(RtlIpv4StringToAddressExA("10.0.0.1:0", TRUE, &addr, &port) == STATUS_INVALID_PARAMETER);
    CHECK(RtlIpv4StringToAddressExA("10.0.0.1:65536", TRUE, &addr, &port) == STATUS_INVALID_PARAMETER);
    CHECK(RtlIpv4StringToAddressExA("10.0.0.1 ", TRUE, &addr, &port) == STATUS_INVALID_PARAMETER);
    CHECK(RtlIpv4StringToAddressExA("10.0.0.1", TRUE, NULL, &port) == STATUS_INVALID_PARAMETER);

    CHECK(RtlIpv4StringToAddressW(L"127.0.0.1", TRUE, &wterm, &addr) == STATUS_SUCCESS && *wterm == 0);
    CHECK(addr.S_un.S_addr == RtlUlongByteSwap(0x7F000001));
    CHECK(RtlIpv4AddressToStringW(&addr, wbuf) == wbuf + 9 && wide_equals(wbuf, "127.0.0.1"));
    len = 64;
    CHECK(RtlIpv4AddressToStringExW(&addr, RtlUshortByteSwap(443), wbuf, &len) == STATUS_SUCCESS);
    CHECK(wide_equals(wbuf, "127.0.0.1:443") && len == 14);
    CHECK(RtlIpv4StringToAddressExW(L"127.0.0.1:443", TRUE, &addr, &port) == STATUS_SUCCESS &&
          port == RtlUshortByteSwap(443));
    CHECK(RtlIpv4StringToAddressW(L"1.2.3.4.5", TRUE, &wterm, &addr) == STATUS_INVALID_PARAMETER);
}

static void test_rtl_ipv6(void)
{
    static const char *round_trips[] = {
        "::", "::1", "fe80::1:2", "2001:db8:85a3::8a2e:370:7334", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8",
        "2001:db8::1:0:0:1", "1:0:2:3:4:5:6:7",
    };
    IN6_ADDR a6;
    CHAR buf[INET6_ADDRSTRLEN + 16];
    WCHAR wbuf[INET6_ADDRSTRLEN + 16];
    PCSTR term;
    PCWSTR wterm;
    ULONG scope = 99, len;
    USHORT port = 0xdead;
    size_t i;

    for (i = 0; i < sizeof(round_trips) / sizeof(round_trips[0]); i++) {
        NTSTATUS st = RtlIpv6StringToAddressA(round_trips[i], &term, &a6);
        CHECK(st == STATUS_SUCCESS && *term == '\0');
        RtlIpv6AddressToStringA(&a6, buf);
        if (strcmp(buf, round_trips[i]) != 0)
            printf("  ipv6 round trip: '%s' became '%s'\n", round_trips[i], buf);
        CHECK(strcmp(buf, round_trips[i]) == 0);
    }
    CHECK(RtlIpv6StringToAddressA("fe80::1", &term, &a6) == STATUS_SUCCESS);
    CHECK(a6.u.Byte[0] == 0xfe && a6.u.Byte[1] == 0x80 && a6.u.Byte[15] == 1);
    CHECK(RtlIpv6StringToAddressA("1:0:0:0:0:0:0:0", &term, &a6) == STATUS_SUCCESS);
    RtlIpv6AddressToStringA(&a6, buf);
    CHECK(strcmp(buf, "1::") == 0);

    CHECK(RtlIpv6StringToAddressExA("[fe80::1%5]:443", &a6, &scope, &port) == STATUS_SUCCESS);
    CHECK(scope == 5 && port == RtlUshortByteSwap(443) && a6.u.Byte[0] == 0xfe);
    len = sizeof(buf);
    CHECK(RtlIpv6AddressToStringExA(&a6, scope, port, buf, &len) == STATUS_SUCCESS);
    CHECK(strcmp(buf, "[fe80::1%5]:443") == 0 && len == 16);
    len = 3;
    CHECK(RtlIpv6AddressToStringExA(&a6, scope, port, buf, &len) == STATUS_INVALID_PARAMETER && len == 16);
    len = sizeof(buf);
    CHECK(RtlIpv6AddressToStringExA(&a6, 0, 0, buf, &len) == STATUS_SUCCESS && strcmp(buf, "fe80::1") == 0);
    CHECK(RtlIpv6StringToAddressExA("fe80::2%7", &a6, &scope, &port) == STATUS_SUCCESS && scope == 7 && port == 0);
    CHECK(RtlIpv6StringToAddressExA("::1", &a6, &scope, &port) == STATUS_SUCCESS && scope == 0 && port == 0);

    CHECK(RtlIpv6StringToAddressExA("fe80:::1", &a6, &scope, &port) == STATUS_INVALID_PARAMETER);
    CHECK(RtlIpv6StringToAddressExA("1::2::3", &a6, &scope, &port) == STATUS_INVALID_PARAMETER);
    CHECK(RtlIpv6StringToAddressExA("[::1]:0", &a6, &scope, &port) == STATUS_INVALID_PARAMETER);
    CHECK(RtlIpv6StringToAddressExA("[::1", &a6, &scope, &port) == STATUS_INVALID_PARAMETER);
    CHECK(RtlIpv6StringToAddressA("gggg::", &term, &a6) == STATUS_INVALID_PARAMETER);
    CHECK(RtlIpv6StringToAddressA("12345::", &term, &a6) == STATUS_INVALID_PARAMETER);
    CHECK(RtlIpv6StringToAddressA("1:2:3", &term, &a6) == STATUS_INVALID_PARAMETER);
    CHECK(RtlIpv6StringToAddressA(NULL, &term, &a6) == STATUS_INVALID_PARAMETER);
    CHECK(RtlIpv6StringToAddressExA("::1", NULL, &scope, &port) == STATUS_INVALID_PARAMETER);

    CHECK(RtlIpv6StringToAddressW(L"2001:db8::7", &wterm, &a6) == STATUS_SUCCESS && *wterm == 0);
    CHECK(RtlIpv6AddressToStringW(&a6, wbuf) != NULL && wide_equals(wbuf, "2001:db8::7"));
    len = sizeof(wbuf) / sizeof(wbuf[0]);
    CHECK(RtlIpv6AddressToStringExW(&a6, 0, RtlUshortByteSwap(80), wbuf, &len) == STATUS_SUCCESS);
    CHECK(wide_equals(wbuf, "[2001:db8::7]:80") && len == 17);
    CHECK(RtlIpv6StringToAddressExW(L"[2001:db8::7]:80", &a6, &scope, &port) == STATUS_SUCCESS &&
          port == RtlUshortByteSwap(80));
}

/* ===================================================================================== */

int main(void)
{
    DbgPrint("kernel_test: DbgPrint reaches stderr (%d)\n", 42);

    test_irp_completion_walk();
    test_irp_invoke_flags_and_top();
    test_irp_reuse();
    test_irp_embedded();
    test_irp_cancel();
    test_mdl();
    test_notification_event_threads();
    test_synchronization_event_threads();
    test_event_stress();
    test_wait_timeouts();
    test_wait_multiple();
    test_threads();
    test_devices_and_work_items();
    test_rundown();
    test_slist();
    test_spinlocks_and_irql();
    test_pool();
    test_lookaside();
    test_rtl_strings();
    test_rtl_ipv4();
    test_rtl_ipv6();

    if (g_failures) {
        printf("kernel_test: %ld of %ld checks FAILED\n", (long)g_failures, (long)g_checks);
        return 1;
    }
    printf("kernel_test: all %ld checks passed\n", (long)g_checks);
    return 0;
}
