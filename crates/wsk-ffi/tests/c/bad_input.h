/*
 * bad_input.h: what the files of the bad-input suite share.
 *
 * The suite (bad_input*.c, run by tests/bad_input.rs) calls every C entry point of libwsk
 * with bad input and asserts the answer of docs/C_ABI.md ("How the provider answers bad
 * input"), or of the reference where the docs are silent:
 *
 *   bad_input.c          main, the harness (IRPs, checks, counting), the fixtures
 *   bad_input_client.c   registration, provider-level functions
 *   bad_input_dereg.c    a registration being deregistered; calls after WskDeregister
 *   bad_input_socket.c   handle x IRP matrix over the listen and connection tables,
 *                        SOCKADDRs and flags of bind/connect/accept/inspect
 *   bad_input_buf.c      WSK_BUF defects, send/receive/disconnect flags, WskRelease
 *   bad_input_control.c  WskControlSocket
 *   bad_input_datagram.c the datagram table (WskSendTo, WskReceiveFrom, WskSendMessages, ...)
 *
 * Every case uses its own IRP (BiBegin), makes exactly one call and checks it (BiEnd):
 * the returned status (never STATUS_PENDING: a bad input is answered at once), and that
 * the IRP was completed exactly once with that status and Information 0, or (NULL IRP,
 * IRP without a free stack location) left untouched. Where docs and reference are silent
 * the expected answer is the most Windows-like one; those cases say so in a comment.
 */
#ifndef BAD_INPUT_H
#define BAD_INPUT_H

#include <ntddk.h>
#include <wsk.h>

#define BI_TAG 'iBkW'

/* How long a wait may take before the suite gives up on it: 5 s, relative, 100 ns units. */
#define BI_WAIT_100NS (-5LL * 10 * 1000 * 1000)

/* What a case passes as its IRP. */
typedef enum _BI_IRP_KIND {
    BiIrpFresh,     /* IoAllocateIrp(1): one free stack location, completion routine set */
    BiIrpNone,      /* NULL */
    BiIrpNoStack,   /* IoAllocateIrp(1) + IoSetNextIrpStackLocation: CurrentLocation 1 */
    BiIrpZeroStack, /* IoAllocateIrp(0): CurrentLocation 1, no stack location at all */
    BiIrpKinds
} BI_IRP_KIND;

extern const char *const BiIrpKindName[BiIrpKinds];

/* What the completion routine records; pool memory, so that an IRP the provider never
 * completes (a failure) can still be completed later without writing into a dead frame. */
typedef struct _BI_RECORD {
    volatile LONG Calls;      /* completion routine runs */
    NTSTATUS Status;          /* IoStatus.Status the routine saw */
    ULONG_PTR Information;    /* IoStatus.Information the routine saw */
    BOOLEAN PendingReturned;  /* Irp->PendingReturned the routine saw */
    KEVENT Done;              /* set by the completion routine */
    KEVENT UserEvent;         /* set if the IRP was completed to its top (no-stack IRPs) */
    IO_STATUS_BLOCK UserIosb;
} BI_RECORD;

/* One call under test. */
typedef struct _BI_CALL {
    BI_IRP_KIND Kind;
    PIRP Irp;
    CHAR LocationBefore;      /* Irp->CurrentLocation before the call */
    BI_RECORD *Record;
} BI_CALL;

/* BiEnd flags. */
#define BI_IRP_OPTIONAL 0x1 /* a NULL IRP is allowed (WskControlSocket, WskControlClient) */
#define BI_MAY_CREATE 0x2   /* success would hand back a socket in Information: close it */

/* The IRP for a case of the given kind (NULL for BiIrpNone). */
PIRP BiBegin(BI_CALL *Call, BI_IRP_KIND Kind);

/*
 * Checks a call made with BiBegin's IRP and frees the IRP. Expected is the answer for the
 * case's own defect; with a NULL IRP (unless BI_IRP_OPTIONAL) or an IRP without a free
 * stack location the expected answer is STATUS_INVALID_PARAMETER with the IRP untouched.
 * Returns TRUE if the case passed.
 */
BOOLEAN BiEnd(BI_CALL *Call, NTSTATUS Returned, NTSTATUS Expected, ULONG Flags, const char *Format, ...)
    __attribute__((format(printf, 5, 6)));

/* A case without an IRP: the returned status only. */
BOOLEAN BiExpect(NTSTATUS Returned, NTSTATUS Expected, const char *Format, ...) __attribute__((format(printf, 3, 4)));

/* A case that is a condition on what a call did. */
BOOLEAN BiTrue(BOOLEAN Condition, const char *Format, ...) __attribute__((format(printf, 2, 3)));

/* A case of a VOID routine: it returned (and did not crash). */
VOID BiReturned(const char *Format, ...) __attribute__((format(printf, 1, 2)));

/* A broken fixture or setup step: counted as a failed case. */
VOID BiFail(const char *Format, ...) __attribute__((format(printf, 1, 2)));

/* Waits (bounded) for an event; TRUE if it was set. */
BOOLEAN BiWait(PVOID Object);

/* A call of the setup or teardown, with a fresh IRP: BiSyncEnd waits (bounded) for the
 * completion and returns the final status (and Information). */
PIRP BiSyncBegin(BI_CALL *Call);
NTSTATUS BiSyncEnd(BI_CALL *Call, NTSTATUS Returned, ULONG_PTR *Information);

/* Closes a socket (setup/teardown); the final status. */
NTSTATUS BiCloseSocket(PWSK_SOCKET Socket);

/* ----- fixtures (bad_input.c) ----- */

typedef struct _BI_FIXTURES {
    WSK_CLIENT_NPI ClientNpi;
    WSK_REGISTRATION Registration;
    WSK_PROVIDER_NPI Npi;
    PWSK_CLIENT WskClient;
    const WSK_PROVIDER_DISPATCH *Provider;
    const WSK_PROVIDER_LISTEN_DISPATCH *Listen;      /* the table of listening sockets */
    const WSK_PROVIDER_CONNECTION_DISPATCH *Connection;

    PWSK_SOCKET ListenBound;   /* AF_INET listening socket bound to 127.0.0.1:0, no client dispatch */
    PWSK_SOCKET ListenUnbound; /* AF_INET listening socket, not bound */
    PWSK_SOCKET Listen6;       /* AF_INET6 listening socket, not bound (NULL without IPv6) */
    PWSK_SOCKET ConnUnbound;   /* AF_INET connection socket, not bound */
    PWSK_SOCKET Conn6;         /* AF_INET6 connection socket, not bound (NULL without IPv6) */
    PWSK_SOCKET ConnBound;     /* AF_INET connection socket bound to 127.0.0.1:0 */
    PWSK_SOCKET Active;        /* connected by WskSocketConnect to ListenBound, no client dispatch */
    PWSK_SOCKET Passive;       /* its peer, from WskAccept, with every connection callback */
    PWSK_SOCKET ClosedListen;  /* a listening socket, closed */
    PWSK_SOCKET ClosedConn;    /* a connection socket, closed */

    SOCKADDR_IN Loopback;      /* 127.0.0.1:0 */
    SOCKADDR_IN ListenAddr;    /* ListenBound's address */
    SOCKADDR_IN6 Any6;         /* [::]:0 */
    SOCKADDR_IN6 Loopback6Port;/* [::1]:ListenAddr's port */

    PUCHAR Pool;               /* BI_POOL_BYTES of pool */
    PMDL Single;               /* BI_SINGLE_BYTES at Pool */
    PMDL ChainHead;            /* BI_CHAIN_FIRST bytes at Pool + 1024, ... */
    PMDL ChainTail;            /* ... then BI_CHAIN_SECOND bytes at Pool + 2048 */
    PUCHAR BigPool;            /* BI_BIG_BYTES of pool, for WskConnectEx's limit */
    PMDL Big;
} BI_FIXTURES;

#define BI_POOL_BYTES 4096
#define BI_SINGLE_BYTES 256
#define BI_CHAIN_FIRST 1024
#define BI_CHAIN_SECOND 512
#define BI_BIG_BYTES 70000

extern BI_FIXTURES Fx;

/* Foreign pointers: never handles, clients or indications (static memory of the suite). */
extern WSK_SOCKET BiFakeSockets[4];
extern ULONG_PTR BiForeign[16];

/* A SOCKADDR_STORAGE holding only a family (the rest zero). */
VOID BiFamilyAddress(SOCKADDR_STORAGE *Storage, USHORT Family);

/* The indication Fx.Passive's WskReceiveEvent retained (the first one it saw). */
extern PWSK_DATA_INDICATION volatile BiRetained;
extern KEVENT BiRetainedEvent;      /* set by the callback that retains (before it returns) */
extern KEVENT BiIndicatedAgainEvent; /* set by a later callback: the retention is recorded */

/* The provider-level functions, called with good arguments (bad_input_client.c). */
typedef enum _BI_CLIENT_FN {
    BiFnSocket,
    BiFnSocketConnect,
    BiFnControlClient,
    BiFnGetAddressInfo,
    BiFnGetNameInfo,
    BiClientFns
} BI_CLIENT_FN;
extern const ULONG BiClientFnFlags[BiClientFns];
NTSTATUS BiCallClientFn(const WSK_PROVIDER_DISPATCH *Provider, BI_CLIENT_FN Fn, PWSK_CLIENT Client, PIRP Irp);
/* One call of Fn through Provider for Client, with an IRP of the given kind. */
VOID BiClientCase(const WSK_PROVIDER_DISPATCH *Provider, BI_CLIENT_FN Fn, PWSK_CLIENT Client, BI_IRP_KIND Kind,
                  NTSTATUS Expected, const char *What);

/* ----- the case groups ----- */
VOID BiRegistrationCases(VOID);          /* before the suite's registration (client.c) */
VOID BiRegisteredCases(VOID);            /* the suite's registration is live, no socket yet */
VOID BiClientCases(VOID);                /* provider-level functions */
VOID BiSocketMatrixCases(VOID);          /* handles x IRPs (socket.c) */
VOID BiAddressCases(VOID);
VOID BiFlagCases(VOID);
VOID BiInspectCases(VOID);
VOID BiBufferCases(VOID);                /* buf.c */
VOID BiReleaseCases(VOID);
VOID BiDisconnectCases(VOID);            /* last of the connected pair's cases */
VOID BiControlSocketCases(VOID);         /* control.c */
VOID BiDatagramCases(VOID);              /* the datagram table, with sockets of its own (datagram.c) */
VOID BiDeregisteringCases(VOID);         /* a second registration being deregistered (dereg.c) */
VOID BiClosedHandleCases(const char *When); /* every table slot with closed handles (socket.c) */
VOID BiAfterDeregisterCases(VOID);       /* dereg.c */

#endif
