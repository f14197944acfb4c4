/*
 * bsd_echo_client.c: a driver that checks an echo server with the wskbsd library.
 *
 *   cc -shared -fPIC $(wsk cflags) bsd_echo_client.c wskbsd.c -o bsd_echo_client.so
 *   WSK_ECHO_PORT=7007 wsk run bsd_echo_client.so
 *
 * DriverEntry starts a system thread and returns; the thread connects to
 * 127.0.0.1:$WSK_ECHO_PORT, sends messages of many sizes (1 byte to 256 KiB), checks
 * each echo byte for byte, then does the same on a second connection made in three steps
 * (socket, bind, connect). It prints "bsd_echo_client: OK <bytes> bytes" or
 * "bsd_echo_client: FAILED ...". DriverUnload stops the thread if it still runs and
 * waits for it.
 */
#include <ntddk.h>
#include <wsk.h>

#include <stdlib.h> /* getenv, strtoul: a driver under `wsk run` is a Linux process */

#include "wskbsd.h"

#define CLIENT_TAG 'ilcE'
#define CLIENT_MAX_MESSAGE (256 * 1024)

/* The message sizes, in order: small, around the usual segment and page sizes, large. */
static const ULONG ClientSizes[] = {
    1, 2, 3, 7, 64, 100, 511, 1000, 1459, 1460, 1461, 4095, 4096, 8192,
    16383, 65535, 65536, 65537, 100000, 131072, 200000, 262144, 1, 262144, 17,
};
#define CLIENT_MESSAGES (sizeof(ClientSizes) / sizeof(ClientSizes[0]))

DRIVER_INITIALIZE DriverEntry;
static DRIVER_UNLOAD ClientUnload;
static KSTART_ROUTINE ClientThread;

static USHORT ClientPort;
static PVOID ClientThreadObject;
static volatile LONG ClientStop;
static KSPIN_LOCK ClientActiveLock;
static PWSKBSD_SOCKET ClientActive; /* the socket the thread works on, for DriverUnload to cancel */
static NTSTATUS ClientResult = STATUS_PENDING;
static ULONGLONG ClientBytes;

static UCHAR ClientByte(ULONG Message, SIZE_T Index)
{
    return (UCHAR)(Index * 131 + (Index >> 11) + Message * 29 + 1);
}

static VOID ClientSetActive(PWSKBSD_SOCKET Socket)
{
    KIRQL Irql;

    KeAcquireSpinLock(&ClientActiveLock, &Irql);
    ClientActive = Socket;
    KeReleaseSpinLock(&ClientActiveLock, Irql);
}

/* 127.0.0.1:ClientPort */
static VOID ClientServerAddress(SOCKADDR_IN *Address)
{
    RtlZeroMemory(Address, sizeof(*Address));
    Address->sin_family = AF_INET;
    Address->sin_port = RtlUshortByteSwap(ClientPort);
    Address->sin_addr.s_addr = RtlUlongByteSwap(0x7F000001);
}

/* Sends Count messages of ClientSizes from First on and checks their echoes. Odd messages
   are read with plain receives (whatever arrives), even ones with WSK_FLAG_WAITALL. */
static NTSTATUS ClientExchange(PWSKBSD_SOCKET Socket, ULONG First, ULONG Count, PUCHAR Out, PUCHAR In,
                               const char **Step)
{
    ULONG m;
    SIZE_T i, Length, Got, Total;
    NTSTATUS Status;

    for (m = First; m < First + Count; m++) {
        if (ClientStop) {
            *Step = "stopping";
            return STATUS_CANCELLED;
        }
        Length = ClientSizes[m % CLIENT_MESSAGES];
        for (i = 0; i < Length; i++) {
            Out[i] = ClientByte(m, i);
        }
        RtlFillMemory(In, Length, 0xEE);

        *Step = "wsk_send";
        Status = wsk_send(Socket, Out, Length);
        if (!NT_SUCCESS(Status)) {
            return Status;
        }
        if (m % 2 == 0) {
            *Step = "wsk_recv_all";
            Status = wsk_recv_all(Socket, In, Length, &Got);
            if (!NT_SUCCESS(Status)) {
                return Status;
            }
        } else {
            *Step = "wsk_recv";
            for (Total = 0; Total < Length; Total += Got) {
                Status = wsk_recv(Socket, In + Total, Length - Total, 0, &Got);
                if (!NT_SUCCESS(Status)) {
                    return Status;
                }
                if (Got == 0) {
                    *Step = "wsk_recv (the server closed early)";
                    return STATUS_GRACEFUL_DISCONNECT;
                }
            }
        }
        *Step = "comparing the echo";
        i = RtlCompareMemory(Out, In, Length);
        if (i != Length) {
            DbgPrint("bsd_echo_client: message %u (%llu bytes): byte %llu is 0x%02X, sent 0x%02X\n", (unsigned)m,
                     (unsigned long long)Length, (unsigned long long)i, In[i], Out[i]);
            return STATUS_UNSUCCESSFUL;
        }
        ClientBytes += Length;
    }
    return STATUS_SUCCESS;
}

/* Disconnects gracefully, expects the server to close its side, closes. */
static NTSTATUS ClientFinish(PWSKBSD_SOCKET Socket, PUCHAR In, const char **Step)
{
    SIZE_T Got;
    NTSTATUS Status;

    *Step = "wsk_disconnect";
    Status = wsk_disconnect(Socket);
    if (NT_SUCCESS(Status)) {
        *Step = "wsk_recv (waiting for the server to close)";
        Status = wsk_recv(Socket, In, 1, 0, &Got);
        if (NT_SUCCESS(Status) && Got != 0) {
            *Step = "wsk_recv (bytes after the last echo)";
            Status = STATUS_UNSUCCESSFUL;
        }
    }
    return Status;
}

static NTSTATUS ClientRun(PUCHAR Out, PUCHAR In, const char **Step)
{
    SOCKADDR_IN Server, Local, Name;
    PWSKBSD_SOCKET Socket;
    NTSTATUS Status, CloseStatus;

    ClientServerAddress(&Server);

    /* First connection: WskSocketConnect, every message size. */
    *Step = "wsk_socket_connect";
    Status = wsk_socket_connect(AF_INET, (const SOCKADDR *)&Server, &Socket);
    if (!NT_SUCCESS(Status)) {
        return Status;
    }
    ClientSetActive(Socket);
    Status = ClientExchange(Socket, 0, CLIENT_MESSAGES, Out, In, Step);
    if (NT_SUCCESS(Status)) {
        Status = ClientFinish(Socket, In, Step);
    }
    ClientSetActive(NULL);
    CloseStatus = wsk_close(Socket);
    if (NT_SUCCESS(Status) && !NT_SUCCESS(CloseStatus)) {
        *Step = "wsk_close";
        Status = CloseStatus;
    }
    if (!NT_SUCCESS(Status)) {
        return Status;
    }

    /* Second connection: WskSocket, WskBind, WskConnect, a few messages. */
    *Step = "wsk_socket";
    Status = wsk_socket(AF_INET, &Socket);
    if (!NT_SUCCESS(Status)) {
        return Status;
    }
    ClientSetActive(Socket);
    RtlZeroMemory(&Local, sizeof(Local));
    Local.sin_family = AF_INET;
    *Step = "wsk_bind";
    Status = wsk_bind(Socket, (const SOCKADDR *)&Local);
    if (NT_SUCCESS(Status)) {
        *Step = "wsk_connect";
        Status = wsk_connect(Socket, (const SOCKADDR *)&Server);
    }
    if (NT_SUCCESS(Status)) {
        *Step = "wsk_getpeername";
        RtlZeroMemory(&Name, sizeof(Name));
        Status = wsk_getpeername(Socket, (SOCKADDR *)&Name);
        if (NT_SUCCESS(Status) && (Name.sin_family != AF_INET || Name.sin_port != Server.sin_port)) {
            Status = STATUS_UNSUCCESSFUL;
        }
    }
    if (NT_SUCCESS(Status)) {
        Status = ClientExchange(Socket, 3, 6, Out, In, Step);
    }
    if (NT_SUCCESS(Status)) {
        Status = ClientFinish(Socket, In, Step);
    }
    ClientSetActive(NULL);
    CloseStatus = wsk_close(Socket);
    if (NT_SUCCESS(Status) && !NT_SUCCESS(CloseStatus)) {
        *Step = "wsk_close";
        Status = CloseStatus;
    }
    return Status;
}

static VOID ClientThread(PVOID StartContext)
{
    const char *Step = "wsk_startup";
    PUCHAR Out = NULL, In = NULL;
    NTSTATUS Status;

    UNREFERENCED_PARAMETER(StartContext);
    Status = wsk_startup();
    if (NT_SUCCESS(Status)) {
        Out = (PUCHAR)ExAllocatePool2(POOL_FLAG_NON_PAGED, CLIENT_MAX_MESSAGE, CLIENT_TAG);
        In = (PUCHAR)ExAllocatePool2(POOL_FLAG_NON_PAGED, CLIENT_MAX_MESSAGE, CLIENT_TAG);
        if (Out == NULL || In == NULL) {
            Step = "allocating buffers";
            Status = STATUS_INSUFFICIENT_RESOURCES;
        } else {
            Status = ClientRun(Out, In, &Step);
        }
        if (Out != NULL) {
            ExFreePoolWithTag(Out, CLIENT_TAG);
        }
        if (In != NULL) {
            ExFreePoolWithTag(In, CLIENT_TAG);
        }
        wsk_cleanup();
    }
    ClientResult = Status;
    if (NT_SUCCESS(Status)) {
        DbgPrint("bsd_echo_client: OK %llu bytes\n", (unsigned long long)ClientBytes);
    } else {
        DbgPrint("bsd_echo_client: FAILED in %s: 0x%08X after %llu bytes\n", Step, (unsigned)Status,
                 (unsigned long long)ClientBytes);
    }
    PsTerminateSystemThread(Status);
}

static VOID ClientUnload(PDRIVER_OBJECT DriverObject)
{
    KIRQL Irql;

    UNREFERENCED_PARAMETER(DriverObject);
    /* If the thread still runs: stop it between messages, and cancel the call it waits in. */
    InterlockedExchange(&ClientStop, 1);
    KeAcquireSpinLock(&ClientActiveLock, &Irql);
    if (ClientActive != NULL) {
        wsk_cancel(ClientActive);
    }
    KeReleaseSpinLock(&ClientActiveLock, Irql);

    KeWaitForSingleObject(ClientThreadObject, Executive, KernelMode, FALSE, NULL);
    ObDereferenceObject(ClientThreadObject);
    DbgPrint("bsd_echo_client: unloaded, result 0x%08X\n", (unsigned)ClientResult);
}

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    OBJECT_ATTRIBUTES Attributes;
    HANDLE Thread;
    const char *Text;
    char *End;
    unsigned long Value;
    NTSTATUS Status;

    UNREFERENCED_PARAMETER(RegistryPath);
    Text = getenv("WSK_ECHO_PORT");
    Value = Text != NULL ? strtoul(Text, &End, 10) : 0;
    if (Text == NULL || *Text == '\0' || *End != '\0' || Value == 0 || Value > 65535) {
        DbgPrint("bsd_echo_client: set WSK_ECHO_PORT to the echo server's port\n");
        return STATUS_INVALID_PARAMETER;
    }
    ClientPort = (USHORT)Value;
    KeInitializeSpinLock(&ClientActiveLock);

    InitializeObjectAttributes(&Attributes, NULL, OBJ_KERNEL_HANDLE, NULL, NULL);
    Status = PsCreateSystemThread(&Thread, THREAD_ALL_ACCESS, &Attributes, NULL, NULL, ClientThread, NULL);
    if (!NT_SUCCESS(Status)) {
        DbgPrint("bsd_echo_client: PsCreateSystemThread: 0x%08X\n", (unsigned)Status);
        return Status;
    }
    /* The thread object (not the handle) is what DriverUnload waits on. */
    Status = ObReferenceObjectByHandle(Thread, THREAD_ALL_ACCESS, *PsThreadType, KernelMode, &ClientThreadObject,
                                       NULL);
    ZwClose(Thread);
    if (!NT_SUCCESS(Status)) {
        /* Cannot happen for a handle just returned; without the object there is nothing
           to wait on, so the driver cannot unload safely: keep it loaded. */
        DbgPrint("bsd_echo_client: ObReferenceObjectByHandle: 0x%08X\n", (unsigned)Status);
        return STATUS_SUCCESS;
    }
    DriverObject->DriverUnload = ClientUnload;
    return STATUS_SUCCESS;
}
