/*
 * irp_wait.h: the small harness irp_semantics.c and event_semantics.c share: CHECK, a
 * bounded KEVENT wait, and the completion record of an IRP (arm, record, finish).
 *
 * Define IRP_WAIT_PROGRAM (the program's name, a string literal) before including it:
 * failures print "<program>: FAIL line N: <condition>: <message>".
 *
 * The record is a set of fields (IRP_RECORD_FIELDS) a program puts in its own struct next
 * to what it needs besides; the helpers that work on it are macros, so they take a pointer
 * to any such struct, and the conditions FINISH_RECORD checks are printed with the name
 * the caller gives the record.
 */
#ifndef IRP_WAIT_H
#define IRP_WAIT_H

#ifndef IRP_WAIT_PROGRAM
#error "define IRP_WAIT_PROGRAM (the program's name, a string literal) before including irp_wait.h"
#endif

#include <ntddk.h>

#include <stdio.h>
#include <stdlib.h>

/* Prints one failure: "<program>: FAIL line N: <condition text>: <printf message>". */
#define REPORT_FAILURE(Line, CondText, ...)                                                                \
    do {                                                                                                   \
        printf(IRP_WAIT_PROGRAM ": FAIL line %d: %s: ", (Line), (CondText));                               \
        printf(__VA_ARGS__);                                                                               \
        printf("\n");                                                                                      \
        fflush(stdout);                                                                                    \
    } while (0)

/* A failed check ends the program with exit code 1. */
#define CHECK(cond, ...)                                                                                   \
    do {                                                                                                   \
        if (!(cond)) {                                                                                     \
            REPORT_FAILURE(__LINE__, #cond, __VA_ARGS__);                                                  \
            exit(1);                                                                                       \
        }                                                                                                  \
    } while (0)

/* Every wait for something that should happen is bounded by this. */
#define WAIT_SECONDS 30

static inline NTSTATUS WaitMs(PKEVENT Event, LONGLONG Milliseconds)
{
    LARGE_INTEGER Timeout;

    Timeout.QuadPart = -Milliseconds * 10 * 1000;
    return KeWaitForSingleObject(Event, Executive, KernelMode, FALSE, &Timeout);
}

/* TRUE if Event is signalled within WAIT_SECONDS. */
static inline BOOLEAN Wait(PKEVENT Event)
{
    return WaitMs(Event, WAIT_SECONDS * 1000LL) == STATUS_SUCCESS;
}

/* ----- the completion record of an IRP ----- */

/* What a completion routine records: how often it ran, the IoStatus, PendingReturned,
   and Done, signalled on each completion. */
#define IRP_RECORD_FIELDS                                                                                  \
    LONG Calls;                                                                                            \
    NTSTATUS Status;                                                                                       \
    ULONG_PTR Information;                                                                                 \
    BOOLEAN PendingReturned;                                                                               \
    KEVENT Done

/* Prepares Irp for the next call: IoReuseIrp, the record R reset, and Routine (with R
   as its context) set to run on success, error and cancel. */
#define ARM_RECORD(Irp, R, Routine)                                                                        \
    do {                                                                                                   \
        IoReuseIrp((Irp), STATUS_UNSUCCESSFUL);                                                            \
        (R)->Calls = 0;                                                                                    \
        (R)->Status = STATUS_UNSUCCESSFUL;                                                                 \
        (R)->Information = 0;                                                                              \
        (R)->PendingReturned = FALSE;                                                                      \
        KeInitializeEvent(&(R)->Done, NotificationEvent, FALSE);                                           \
        IoSetCompletionRoutine((Irp), (Routine), (R), TRUE, TRUE, TRUE);                                   \
    } while (0)

/* In a completion routine: records Irp's completion in R and signals R->Done. */
#define RECORD_COMPLETION(R, Irp)                                                                          \
    do {                                                                                                   \
        (R)->Status = (Irp)->IoStatus.Status;                                                              \
        (R)->Information = (Irp)->IoStatus.Information;                                                    \
        (R)->PendingReturned = (Irp)->PendingReturned;                                                     \
        InterlockedIncrement(&(R)->Calls);                                                                 \
        KeSetEvent(&(R)->Done, IO_NO_INCREMENT, FALSE);                                                    \
    } while (0)

/* The checks of a Finish: waits for the routine if the call pended (Returned is
   STATUS_PENDING), then the routine ran exactly once, and a synchronous completion
   returned what the IRP says. Returned and R must be plain names (they appear in the
   failure text as written); From (a string) starts every message. */
#define FINISH_RECORD(Returned, R, From)                                                                   \
    do {                                                                                                   \
        if (Returned == STATUS_PENDING) {                                                                  \
            CHECK(Wait(&R->Done), "%sno completion within %d s", (From), WAIT_SECONDS);                    \
        }                                                                                                  \
        CHECK(R->Calls == 1, "%scompletion routine ran %ld times", (From), (long)R->Calls);                \
        if (Returned != STATUS_PENDING) {                                                                  \
            CHECK(R->Status == Returned, "%sreturned 0x%08x, IoStatus 0x%08x", (From), (unsigned)Returned, \
                  (unsigned)R->Status);                                                                    \
        }                                                                                                  \
    } while (0)

#endif /* IRP_WAIT_H */
