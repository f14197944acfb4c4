/*
 * seed_receive.h: what the two seed examples (seed_receive.c) share with their host
 * (seed_host.c).
 *
 * The examples are the code of the WSK documentation page "Receiving Data over a
 * Connection-Oriented Socket", compiled as written; only their "..." placeholders are
 * filled in, and what the filled-in code records lands in SeedRecord.
 */
#ifndef SEED_RECEIVE_H
#define SEED_RECEIVE_H

#include <ntddk.h>
#include <wsk.h>

#define SEED_TAG 'deeS'

/* The connection socket; its address is the socket's SocketContext. */
typedef struct _SEED_CONNECTION {
    PWSK_SOCKET Socket;
    volatile LONG CloseStarted; /* 0 until someone issues WskCloseSocket */
    NTSTATUS CloseStatus;
    KEVENT Closed;              /* notification event: the close IRP completed */
} SEED_CONNECTION, *PSEED_CONNECTION;

typedef struct _SEED_RECORD {
    /* ReceiveComplete (the first example) */
    KEVENT ReceiveDone;        /* synchronization event, set by every completion */
    NTSTATUS ReceiveStatus;    /* Irp->IoStatus.Status of the last completion */
    ULONG ReceiveBytes;        /* ByteCount of the last successful completion */
    PWSK_BUF ReceiveBuffer;    /* the context the last successful completion saw */

    /* WskReceiveEvent (the second example) */
    PUCHAR EventData;          /* bytes indicated, in order */
    SIZE_T EventCapacity;
    SIZE_T EventBytes;
    SIZE_T EventExpected;      /* EventDone is set once this many bytes arrived */
    ULONG EventCalls;          /* callbacks with a non-NULL DataIndication */
    ULONG EventIndications;    /* WSK_DATA_INDICATION elements seen */
    SIZE_T EventIndicated;     /* sum of BytesIndicated */
    ULONG EventBadCopies;      /* elements whose WSK_BUF could not be read */
    volatile LONG NullIndications;
    KEVENT EventDone;          /* notification event */
} SEED_RECORD;

extern SEED_RECORD SeedRecord;

/* The byte at index i of a test stream: seed_host.c and tests/seed.rs agree on it. */
static inline UCHAR SeedPattern(SIZE_T Index, UCHAR Seed)
{
    return (UCHAR)((Index ^ (Index >> 8) ^ (Index >> 16)) * 151 + Seed);
}

/* Issues WskCloseSocket once (whoever comes first); completion sets Connection->Closed. */
VOID SeedCloseSocket(PSEED_CONNECTION Connection);

/* The examples' functions. */
NTSTATUS ReceiveData(PWSK_SOCKET Socket, PWSK_BUF DataBuffer);
NTSTATUS WSKAPI WskReceiveEvent(PVOID SocketContext, ULONG Flags, PWSK_DATA_INDICATION DataIndication,
                                SIZE_T BytesIndicated, SIZE_T *BytesAccepted);

#endif
