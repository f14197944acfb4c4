/*
 * wskbsd.h: a small synchronous, BSD-style TCP client library over WSK, for driver code.
 *
 * Every call blocks until WSK completed it, so call these at PASSIVE_LEVEL from a thread
 * that may wait (a system thread, a work item), never from a completion routine or an
 * event callback.
 *
 * Each socket owns one IRP, allocated with it and reused (IoReuseIrp) for every call on
 * it: so calls on one socket must not overlap (one thread per socket, or your own lock).
 * Errors are NTSTATUS values; the WSK ones pass through unchanged.
 *
 *     NTSTATUS Status = wsk_startup();
 *     PWSKBSD_SOCKET Socket;
 *     Status = wsk_socket_connect(AF_INET, (const SOCKADDR *)&Remote, &Socket);
 *     Status = wsk_send(Socket, "hello", 5);
 *     Status = wsk_recv_all(Socket, Reply, 5, &Received);
 *     wsk_disconnect(Socket);
 *     wsk_close(Socket);
 *     wsk_cleanup();
 */
#ifndef WSKBSD_H
#define WSKBSD_H

#include <ntddk.h>
#include <wsk.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A connection-oriented (TCP) socket. */
typedef struct _WSKBSD_SOCKET WSKBSD_SOCKET, *PWSKBSD_SOCKET;

/* How long wsk_startup waits for the WSK subsystem (WskCaptureProviderNPI), in ms. */
#define WSKBSD_STARTUP_WAIT_MS 10000

/* Registers with WSK and captures the provider NPI. Call once, before anything else. */
NTSTATUS wsk_startup(VOID);

/* Releases the provider NPI and deregisters. Every socket must be closed first. */
VOID wsk_cleanup(VOID);

/* Creates a TCP socket bound to the wildcard address of Remote's family and connects it
   to Remote (SOCKADDR_IN or SOCKADDR_IN6): WskSocketConnect. */
NTSTATUS wsk_socket_connect(ADDRESS_FAMILY Family, const SOCKADDR *Remote, PWSKBSD_SOCKET *Socket);

/* The same in three steps: an unbound TCP socket (WskSocket), WskBind, WskConnect. */
NTSTATUS wsk_socket(ADDRESS_FAMILY Family, PWSKBSD_SOCKET *Socket);
NTSTATUS wsk_bind(PWSKBSD_SOCKET Socket, const SOCKADDR *Local);
NTSTATUS wsk_connect(PWSKBSD_SOCKET Socket, const SOCKADDR *Remote);

/* The addresses of a socket (WskGetLocalAddress / WskGetRemoteAddress). Address must
   have room for a SOCKADDR_IN6. */
NTSTATUS wsk_getsockname(PWSKBSD_SOCKET Socket, SOCKADDR *Address);
NTSTATUS wsk_getpeername(PWSKBSD_SOCKET Socket, SOCKADDR *Address);

/* Sends all Length bytes of Buffer (nonpaged memory: described by an MDL built with
   MmBuildMdlForNonPagedPool). */
NTSTATUS wsk_send(PWSKBSD_SOCKET Socket, const VOID *Buffer, SIZE_T Length);

/* One WskReceive of up to Length bytes; *Received is the number of bytes that arrived,
   0 when the peer closed its side. Flags: 0 or WSK_FLAG_WAITALL. */
NTSTATUS wsk_recv(PWSKBSD_SOCKET Socket, VOID *Buffer, SIZE_T Length, ULONG Flags, SIZE_T *Received);

/* Receives exactly Length bytes (WSK_FLAG_WAITALL, repeated if the provider returns
   early). STATUS_SUCCESS when all arrived; STATUS_GRACEFUL_DISCONNECT when the peer
   closed first (*Received tells how many did arrive). */
NTSTATUS wsk_recv_all(PWSKBSD_SOCKET Socket, VOID *Buffer, SIZE_T Length, SIZE_T *Received);

/* Graceful disconnect (sends FIN; receiving stays possible until the peer closes). */
NTSTATUS wsk_disconnect(PWSKBSD_SOCKET Socket);

/* Cancels the call in progress on Socket, if any (IoCancelIrp on the socket's IRP): it
   then fails with STATUS_CANCELLED. The only call that may be made from another thread
   while one is in progress; the caller must keep Socket from being closed meanwhile. */
VOID wsk_cancel(PWSKBSD_SOCKET Socket);

/* Closes the socket (abortive unless it was disconnected both ways) and frees it. */
NTSTATUS wsk_close(PWSKBSD_SOCKET Socket);

#ifdef __cplusplus
}
#endif

#endif
