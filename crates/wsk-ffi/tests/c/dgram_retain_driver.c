/*
 * dgram_retain_driver.c: a driver that retains a datagram indication (STATUS_PENDING from
 * WskReceiveFromEvent) and never gives it back with WskRelease; everything else it cleans
 * up. `wsk run` must report "1 datagram indication not released (WskRelease)".
 *
 * DriverEntry binds a datagram socket to 127.0.0.1:0 with the event on, sends itself one
 * datagram and waits (bounded) until the callback retained it. DriverUnload closes the
 * socket, releases the NPI and deregisters.
 */
#include <ntddk.h>
#include <wsk.h>

static WSK_REGISTRATION Registration;
static WSK_PROVIDER_NPI Npi;
static PWSK_SOCKET Socket;
static KEVENT Retained;
static const WSK_CLIENT_DISPATCH ClientDispatch = {MAKE_WSK_VERSION(1, 0), 0, NULL};

static NTSTATUS WSKAPI RetainEvent(PVOID SocketContext, ULONG Flags, PWSK_DATAGRAM_INDICATION DataIndication)
{
    UNREFERENCED_PARAMETER(SocketContext);
    UNREFERENCED_PARAMETER(Flags);
    if (DataIndication == NULL) {
        return STATUS_SUCCESS;
    }
    KeSetEvent(&Retained, IO_NO_INCREMENT, FALSE);
    return STATUS_PENDING; /* kept, and never released: the leak */
}

static const WSK_CLIENT_DATAGRAM_DISPATCH DatagramDispatch = {RetainEvent};

static NTSTATUS Signal(PDEVICE_OBJECT DeviceObject, PIRP Irp, PVOID Context)
{
    UNREFERENCED_PARAMETER(DeviceObject);
    UNREFERENCED_PARAMETER(Irp);
    KeSetEvent((PKEVENT)Context, IO_NO_INCREMENT, FALSE);
    return STATUS_MORE_PROCESSING_REQUIRED;
}

/* Runs one call on Irp and waits for its completion; the final status. */
#define SYNC(Irp, Done, Call)                                                                                     \
    (IoReuseIrp((Irp), STATUS_UNSUCCESSFUL), KeClearEvent(&(Done)),                                               \
     IoSetCompletionRoutine((Irp), Signal, &(Done), TRUE, TRUE, TRUE),                                            \
     ((Call) == STATUS_PENDING ? (KeWaitForSingleObject(&(Done), Executive, KernelMode, FALSE, NULL),             \
                                  (Irp)->IoStatus.Status)                                                         \
                               : (Irp)->IoStatus.Status))

static VOID Unload(PDRIVER_OBJECT DriverObject)
{
    KEVENT Done;
    PIRP Irp = IoAllocateIrp(1, FALSE);

    UNREFERENCED_PARAMETER(DriverObject);
    KeInitializeEvent(&Done, NotificationEvent, FALSE);
    if (Irp != NULL && Socket != NULL) {
        (VOID) SYNC(Irp, Done, ((PWSK_PROVIDER_DATAGRAM_DISPATCH)Socket->Dispatch)->WskCloseSocket(Socket, Irp));
    }
    if (Irp != NULL) {
        IoFreeIrp(Irp);
    }
    WskReleaseProviderNPI(&Registration);
    WskDeregister(&Registration);
    DbgPrint("dgram_retain_driver: unloaded\n");
}

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    WSK_CLIENT_NPI ClientNpi = {NULL, &ClientDispatch};
    WSK_EVENT_CALLBACK_CONTROL Callbacks = {&NPI_WSK_INTERFACE_ID, WSK_EVENT_RECEIVE_FROM};
    SOCKADDR_IN Address;
    PWSK_PROVIDER_DATAGRAM_DISPATCH D;
    UCHAR Byte = 42;
    PMDL Mdl;
    WSK_BUF Buffer;
    KEVENT Done;
    LARGE_INTEGER Timeout;
    PIRP Irp;
    NTSTATUS Status;

    UNREFERENCED_PARAMETER(RegistryPath);
    KeInitializeEvent(&Done, NotificationEvent, FALSE);
    KeInitializeEvent(&Retained, NotificationEvent, FALSE);
    Status = WskRegister(&ClientNpi, &Registration);
    if (!NT_SUCCESS(Status)) {
        return Status;
    }
    Status = WskCaptureProviderNPI(&Registration, 10000, &Npi);
    if (!NT_SUCCESS(Status)) {
        WskDeregister(&Registration);
        return Status;
    }
    DriverObject->DriverUnload = Unload;
    Irp = IoAllocateIrp(1, FALSE);
    Mdl = IoAllocateMdl(&Byte, 1, FALSE, FALSE, NULL);
    if (Irp == NULL || Mdl == NULL) {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    MmBuildMdlForNonPagedPool(Mdl);
    Status = SYNC(Irp, Done,
                  Npi.Dispatch->WskSocket(Npi.Client, AF_INET, SOCK_DGRAM, IPPROTO_UDP, WSK_FLAG_DATAGRAM_SOCKET,
                                          NULL, &DatagramDispatch, NULL, NULL, NULL, Irp));
    if (NT_SUCCESS(Status)) {
        Socket = (PWSK_SOCKET)Irp->IoStatus.Information;
        D = (PWSK_PROVIDER_DATAGRAM_DISPATCH)Socket->Dispatch;
        RtlZeroMemory(&Address, sizeof(Address));
        Address.sin_family = AF_INET;
        Address.sin_addr.s_addr = RtlUlongByteSwap(0x7F000001);
        Status = SYNC(Irp, Done, D->WskBind(Socket, (PSOCKADDR)&Address, 0, Irp));
    }
    if (NT_SUCCESS(Status)) {
        Status = SYNC(Irp, Done, D->WskGetLocalAddress(Socket, (PSOCKADDR)&Address, Irp));
    }
    if (NT_SUCCESS(Status)) {
        Status = D->WskControlSocket(Socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, sizeof(Callbacks),
                                     &Callbacks, 0, NULL, NULL, NULL);
    }
    if (NT_SUCCESS(Status)) {
        Buffer.Mdl = Mdl;
        Buffer.Offset = 0;
        Buffer.Length = 1;
        Status = SYNC(Irp, Done, D->WskSendTo(Socket, &Buffer, 0, (PSOCKADDR)&Address, 0, NULL, Irp));
    }
    if (NT_SUCCESS(Status)) {
        Timeout.QuadPart = -30LL * 10 * 1000 * 1000;
        Status = KeWaitForSingleObject(&Retained, Executive, KernelMode, FALSE, &Timeout);
        Status = Status == STATUS_SUCCESS ? STATUS_SUCCESS : STATUS_IO_TIMEOUT;
    }
    IoFreeMdl(Mdl);
    IoFreeIrp(Irp);
    DbgPrint("dgram_retain_driver: retained: 0x%08X\n", (unsigned)Status);
    return Status;
}
