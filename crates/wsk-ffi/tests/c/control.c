/*
 * control.c: WskControlSocket from C, on every category the provider has, IPv4 and IPv6.
 *   1. Basic sockets (no client dispatch) of TCP and UDP: the two-slot basic table,
 *      options of their transport set and read back (ULONG out, Information 4,
 *      *OutputSizeReturned 4), options of the other transport refused, close.
 *   2. A listener: SO_RCVBUF and TCP_KEEPALIVE before bind, SO_KEEPALIVE after bind;
 *      the accepted socket inherits them; SO_EXCLUSIVEADDRUSE excludes SO_REUSEADDR;
 *      SO_REUSEADDR after bind is STATUS_INVALID_DEVICE_STATE.
 *   3. A connection: TCP_NODELAY, TCP_KEEPCNT, IP_TTL / IPV6_UNICAST_HOPS, the other
 *      family's option refused; SIO_WSK_SET_TCP_SILENT_MODE, after which a disconnect is
 *      STATUS_INVALID_DEVICE_STATE (when the host grants TCP_REPAIR).
 *   4. SIO_ADDRESS_LIST_QUERY: STATUS_BUFFER_OVERFLOW with the needed size, then the
 *      SOCKET_ADDRESS_LIST with the loopback address of the family, pointers inside the
 *      buffer, Windows SOCKADDR lengths (16 / 28).
 *   5. SIO_ADDRESS_LIST_CHANGE: pending; IoCancelIrp completes it with STATUS_CANCELLED;
 *      a second one completes with STATUS_CANCELLED before the socket's close does.
 *   6. Closed handles answer STATUS_INVALID_HANDLE.
 * Prints "control: OK" and exits 0, or "control: FAIL ..." and exits 1.
 */
#define IRP_WAIT_PROGRAM "control"
#include "irp_wait.h"

#include <string.h>
#include <wsk.h>

typedef struct _RECORD {
    IRP_RECORD_FIELDS;
} RECORD, *PRECORD;

static NTSTATUS RecordRoutine(PDEVICE_OBJECT DeviceObject, PIRP Irp, PVOID Context)
{
    UNREFERENCED_PARAMETER(DeviceObject);
    RECORD_COMPLETION((PRECORD)Context, Irp);
    return STATUS_MORE_PROCESSING_REQUIRED;
}

static WSK_REGISTRATION Registration;
static WSK_PROVIDER_NPI Npi;
static PIRP Irp;
static RECORD Record;

static NTSTATUS Finish(NTSTATUS Returned)
{
    FINISH_RECORD(Returned, (&Record), "");
    return Record.Status;
}

static const WSK_PROVIDER_BASIC_DISPATCH *Basic(PWSK_SOCKET Socket)
{
    return (const WSK_PROVIDER_BASIC_DISPATCH *)Socket->Dispatch;
}

static PWSK_SOCKET NewSocket(ADDRESS_FAMILY Family, USHORT Type, ULONG Protocol, ULONG Flags, const VOID *Dispatch)
{
    ARM_RECORD(Irp, &Record, RecordRoutine);
    NTSTATUS Status = Finish(Npi.Dispatch->WskSocket(Npi.Client, Family, Type, Protocol, Flags, NULL, Dispatch, NULL,
                                                     NULL, NULL, Irp));
    CHECK(Status == STATUS_SUCCESS, "WskSocket(flags 0x%lx): 0x%08x", (unsigned long)Flags, (unsigned)Status);
    return (PWSK_SOCKET)Record.Information;
}

static NTSTATUS Control(PWSK_SOCKET Socket, WSK_CONTROL_SOCKET_TYPE Type, ULONG Code, ULONG Level, SIZE_T InSize,
                        PVOID In, SIZE_T OutSize, PVOID Out, SIZE_T *Returned)
{
    ARM_RECORD(Irp, &Record, RecordRoutine);
    return Finish(Basic(Socket)->WskControlSocket(Socket, Type, Code, Level, InSize, In, OutSize, Out, Returned, Irp));
}

static NTSTATUS SetUlong(PWSK_SOCKET Socket, ULONG Level, ULONG Code, ULONG Value)
{
    return Control(Socket, WskSetOption, Code, Level, sizeof(Value), &Value, 0, NULL, NULL);
}

/* Reads a ULONG option; checks the output size is reported both ways. */
static ULONG GetUlong(PWSK_SOCKET Socket, ULONG Level, ULONG Code)
{
    ULONG Value = 0xAAAAAAAA;
    SIZE_T Returned = 0;
    NTSTATUS Status = Control(Socket, WskGetOption, Code, Level, 0, NULL, sizeof(Value), &Value, &Returned);

    CHECK(Status == STATUS_SUCCESS, "get option %lu/%lu: 0x%08x", (unsigned long)Level, (unsigned long)Code,
          (unsigned)Status);
    CHECK(Returned == sizeof(ULONG) && Record.Information == sizeof(ULONG), "output size %lu / %lu",
          (unsigned long)Returned, (unsigned long)Record.Information);
    return Value;
}

static NTSTATUS Close(PWSK_SOCKET Socket)
{
    ARM_RECORD(Irp, &Record, RecordRoutine);
    return Finish(Basic(Socket)->WskCloseSocket(Socket, Irp));
}

static NTSTATUS Bind(PWSK_SOCKET Socket, PSOCKADDR Address)
{
    ARM_RECORD(Irp, &Record, RecordRoutine);
    return Finish(((PWSK_PROVIDER_LISTEN_DISPATCH)Socket->Dispatch)->WskBind(Socket, Address, 0, Irp));
}

static void Loopback(ADDRESS_FAMILY Family, SOCKADDR_STORAGE *Out, USHORT Port)
{
    memset(Out, 0, sizeof(*Out));
    if (Family == AF_INET) {
        SOCKADDR_IN *In = (SOCKADDR_IN *)Out;
        In->sin_family = AF_INET;
        In->sin_addr.s_addr = RtlUlongByteSwap(0x7F000001);
        In->sin_port = RtlUshortByteSwap(Port);
    } else {
        SOCKADDR_IN6 *In6 = (SOCKADDR_IN6 *)Out;
        In6->sin6_family = AF_INET6;
        In6->sin6_addr.u.Byte[15] = 1;
        In6->sin6_port = RtlUshortByteSwap(Port);
    }
}

static void BasicSockets(ADDRESS_FAMILY Family)
{
    static const WSK_CLIENT_CONNECTION_DISPATCH NotForBasic = {NULL, NULL, NULL};
    PWSK_SOCKET Tcp = NewSocket(Family, SOCK_STREAM, IPPROTO_TCP, WSK_FLAG_BASIC_SOCKET, NULL);
    PWSK_SOCKET Udp = NewSocket(Family, SOCK_DGRAM, IPPROTO_UDP, WSK_FLAG_BASIC_SOCKET, NULL);
    NTSTATUS Status;

    CHECK(Basic(Tcp)->WskControlSocket != NULL && Basic(Tcp)->WskCloseSocket != NULL, "basic table");
    CHECK(SetUlong(Tcp, SOL_SOCKET, SO_KEEPALIVE, 1) == STATUS_SUCCESS, "SO_KEEPALIVE on basic TCP");
    CHECK(GetUlong(Tcp, SOL_SOCKET, SO_KEEPALIVE) == 1, "SO_KEEPALIVE reads back");
    CHECK(SetUlong(Tcp, SOL_SOCKET, SO_BROADCAST, 1) == STATUS_INVALID_PARAMETER, "SO_BROADCAST on TCP");
    CHECK(SetUlong(Udp, SOL_SOCKET, SO_BROADCAST, 1) == STATUS_SUCCESS, "SO_BROADCAST on basic UDP");
    CHECK(GetUlong(Udp, SOL_SOCKET, SO_BROADCAST) == 1, "SO_BROADCAST reads back");
    CHECK(SetUlong(Udp, IPPROTO_TCP, TCP_NODELAY, 1) == STATUS_INVALID_PARAMETER, "TCP_NODELAY on UDP");
    CHECK(SetUlong(Udp, SOL_SOCKET, SO_RCVBUF, 65536) == STATUS_SUCCESS, "SO_RCVBUF on UDP");
    CHECK(GetUlong(Udp, SOL_SOCKET, SO_RCVBUF) == 65536, "SO_RCVBUF reads back as set");
    /* Basic sockets take no client dispatch. */
    ARM_RECORD(Irp, &Record, RecordRoutine);
    Status = Finish(Npi.Dispatch->WskSocket(Npi.Client, Family, SOCK_STREAM, IPPROTO_TCP, WSK_FLAG_BASIC_SOCKET, NULL,
                                            &NotForBasic, NULL, NULL, NULL, Irp));
    CHECK(Status == STATUS_INVALID_PARAMETER, "basic socket with a client dispatch: 0x%08x", (unsigned)Status);
    CHECK(Close(Tcp) == STATUS_SUCCESS, "close basic TCP");
    CHECK(Close(Udp) == STATUS_SUCCESS, "close basic UDP");
    CHECK(SetUlong(Tcp, SOL_SOCKET, SO_KEEPALIVE, 1) == STATUS_INVALID_HANDLE, "closed basic socket");
}

static void ListenAndConnection(ADDRESS_FAMILY Family)
{
    static const WSK_CLIENT_LISTEN_DISPATCH NoListenEvents = {NULL, NULL, NULL};
    PWSK_SOCKET Listener = NewSocket(Family, SOCK_STREAM, IPPROTO_TCP, WSK_FLAG_LISTEN_SOCKET, &NoListenEvents);
    PWSK_SOCKET Client, Accepted;
    SOCKADDR_STORAGE Address, Local, Remote;
    NTSTATUS Status;
    RECORD AcceptRecord;
    PIRP AcceptIrp = IoAllocateIrp(1, FALSE);

    CHECK(SetUlong(Listener, SOL_SOCKET, SO_RCVBUF, 96 * 1024) == STATUS_SUCCESS, "SO_RCVBUF before bind");
    CHECK(SetUlong(Listener, IPPROTO_TCP, TCP_KEEPALIVE, 40) == STATUS_SUCCESS, "TCP_KEEPALIVE before bind");
    CHECK(SetUlong(Listener, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, 1) == STATUS_SUCCESS, "SO_EXCLUSIVEADDRUSE");
    CHECK(SetUlong(Listener, SOL_SOCKET, SO_REUSEADDR, 1) == STATUS_INVALID_PARAMETER, "SO_REUSEADDR excluded");
    Loopback(Family, &Address, 0);
    CHECK(Bind(Listener, (PSOCKADDR)&Address) == STATUS_SUCCESS, "bind listener");
    CHECK(SetUlong(Listener, SOL_SOCKET, SO_REUSEADDR, 0) == STATUS_INVALID_DEVICE_STATE, "SO_REUSEADDR after bind");
    CHECK(SetUlong(Listener, SOL_SOCKET, SO_KEEPALIVE, 1) == STATUS_SUCCESS, "SO_KEEPALIVE after bind");
    CHECK(GetUlong(Listener, SOL_SOCKET, SO_RCVBUF) == 96 * 1024, "SO_RCVBUF on the bound listener");

    ARM_RECORD(Irp, &Record, RecordRoutine);
    Status = Finish(((PWSK_PROVIDER_LISTEN_DISPATCH)Listener->Dispatch)->WskGetLocalAddress(Listener,
                                                                                           (PSOCKADDR)&Address, Irp));
    CHECK(Status == STATUS_SUCCESS, "listener address");
    ARM_RECORD(AcceptIrp, &AcceptRecord, RecordRoutine);
    Status = ((PWSK_PROVIDER_LISTEN_DISPATCH)Listener->Dispatch)
                 ->WskAccept(Listener, 0, NULL, NULL, (PSOCKADDR)&Local, (PSOCKADDR)&Remote, AcceptIrp);
    Loopback(Family, &Local, 0);
    ARM_RECORD(Irp, &Record, RecordRoutine);
    CHECK(Finish(Npi.Dispatch->WskSocketConnect(Npi.Client, SOCK_STREAM, IPPROTO_TCP, (PSOCKADDR)&Local,
                                                (PSOCKADDR)&Address, 0, NULL, NULL, NULL, NULL, NULL, Irp)) ==
              STATUS_SUCCESS,
          "connect");
    Client = (PWSK_SOCKET)Record.Information;
    FINISH_RECORD(Status, (&AcceptRecord), "accept: ");
    CHECK(AcceptRecord.Status == STATUS_SUCCESS, "accept 0x%08x", (unsigned)AcceptRecord.Status);
    Accepted = (PWSK_SOCKET)AcceptRecord.Information;

    /* Inherited from the listener. */
    CHECK(GetUlong(Accepted, SOL_SOCKET, SO_KEEPALIVE) == 1, "SO_KEEPALIVE inherited");
    CHECK(GetUlong(Accepted, SOL_SOCKET, SO_RCVBUF) == 96 * 1024, "SO_RCVBUF inherited");
    CHECK(GetUlong(Accepted, IPPROTO_TCP, TCP_KEEPALIVE) == 40, "TCP_KEEPALIVE inherited");
    CHECK(GetUlong(Client, SOL_SOCKET, SO_KEEPALIVE) == 0, "not on the client");

    CHECK(SetUlong(Client, IPPROTO_TCP, TCP_NODELAY, 1) == STATUS_SUCCESS, "TCP_NODELAY");
    CHECK(GetUlong(Client, IPPROTO_TCP, TCP_NODELAY) == 1, "TCP_NODELAY reads back");
    CHECK(SetUlong(Client, IPPROTO_TCP, TCP_KEEPCNT, 4) == STATUS_SUCCESS, "TCP_KEEPCNT");
    CHECK(GetUlong(Client, IPPROTO_TCP, TCP_KEEPCNT) == 4, "TCP_KEEPCNT reads back");
    if (Family == AF_INET) {
        CHECK(SetUlong(Client, IPPROTO_IP, IP_TTL, 33) == STATUS_SUCCESS, "IP_TTL");
        CHECK(GetUlong(Client, IPPROTO_IP, IP_TTL) == 33, "IP_TTL reads back");
        CHECK(SetUlong(Client, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 33) == STATUS_INVALID_PARAMETER, "v6 option on v4");
    } else {
        CHECK(SetUlong(Client, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 33) == STATUS_SUCCESS, "IPV6_UNICAST_HOPS");
        CHECK(GetUlong(Client, IPPROTO_IPV6, IPV6_UNICAST_HOPS) == 33, "IPV6_UNICAST_HOPS reads back");
        CHECK(SetUlong(Client, IPPROTO_IP, IP_TTL, 33) == STATUS_INVALID_PARAMETER, "v4 option on v6");
    }

    /* Silent mode: a listener has none; afterwards the connection only closes. */
    Status = Control(Listener, WskIoctl, SIO_WSK_SET_TCP_SILENT_MODE, 0, 0, NULL, 0, NULL, NULL);
    CHECK(Status == STATUS_NOT_SUPPORTED, "silent mode on a listener: 0x%08x", (unsigned)Status);
    Status = Control(Client, WskIoctl, SIO_WSK_SET_TCP_SILENT_MODE, 0, 0, NULL, 0, NULL, NULL);
    CHECK(Status == STATUS_SUCCESS || Status == STATUS_ACCESS_DENIED, "silent mode: 0x%08x", (unsigned)Status);
    if (Status == STATUS_SUCCESS) {
        ARM_RECORD(Irp, &Record, RecordRoutine);
        Status = Finish(((PWSK_PROVIDER_CONNECTION_DISPATCH)Client->Dispatch)->WskDisconnect(Client, NULL, 0, Irp));
        CHECK(Status == STATUS_INVALID_DEVICE_STATE, "disconnect after silent mode: 0x%08x", (unsigned)Status);
    }
    CHECK(Close(Client) == STATUS_SUCCESS, "close client");
    CHECK(Close(Accepted) == STATUS_SUCCESS, "close accepted");
    CHECK(Close(Listener) == STATUS_SUCCESS, "close listener");
    IoFreeIrp(AcceptIrp);
}

static void AddressList(ADDRESS_FAMILY Family, BOOLEAN ExpectLoopback)
{
    PWSK_SOCKET Socket = NewSocket(Family, SOCK_DGRAM, IPPROTO_UDP, WSK_FLAG_BASIC_SOCKET, NULL);
    static UCHAR Buffer[8192];
    SIZE_T Needed = 0, Returned = 0;
    SOCKET_ADDRESS_LIST *List = (SOCKET_ADDRESS_LIST *)Buffer;
    BOOLEAN SawLoopback = FALSE;
    NTSTATUS Status;
    INT i;

    Status = Control(Socket, WskIoctl, SIO_ADDRESS_LIST_QUERY, 0, 0, NULL, 0, NULL, &Needed);
    CHECK(Status == STATUS_BUFFER_OVERFLOW, "query without a buffer: 0x%08x", (unsigned)Status);
    CHECK(Needed >= FIELD_OFFSET(SOCKET_ADDRESS_LIST, Address) && Needed <= sizeof(Buffer), "needed %lu",
          (unsigned long)Needed);
    Status = Control(Socket, WskIoctl, SIO_ADDRESS_LIST_QUERY, 0, 0, NULL, Needed - 1, Buffer, &Returned);
    CHECK(Status == STATUS_BUFFER_OVERFLOW && Returned == Needed, "one byte short: 0x%08x", (unsigned)Status);
    memset(Buffer, 0xEE, sizeof(Buffer));
    Status = Control(Socket, WskIoctl, SIO_ADDRESS_LIST_QUERY, 0, 0, NULL, Needed, Buffer, &Returned);
    CHECK(Status == STATUS_SUCCESS && Returned == Needed && Record.Information == Needed, "query: 0x%08x",
          (unsigned)Status);
    CHECK((SIZE_T)List->iAddressCount * sizeof(SOCKET_ADDRESS) <= Needed, "count %d", List->iAddressCount);
    for (i = 0; i < List->iAddressCount; i++) {
        PSOCKADDR Sa = List->Address[i].lpSockaddr;

        CHECK((PUCHAR)Sa >= Buffer && (PUCHAR)Sa + List->Address[i].iSockaddrLength <= Buffer + Needed,
              "address %d points outside the buffer", i);
        CHECK(Sa->sa_family == Family, "address %d of family %u", i, Sa->sa_family);
        CHECK(List->Address[i].iSockaddrLength == (Family == AF_INET ? 16 : 28), "length %d",
              List->Address[i].iSockaddrLength);
        if (Family == AF_INET) {
            SawLoopback |= ((SOCKADDR_IN *)Sa)->sin_addr.s_addr == RtlUlongByteSwap(0x7F000001);
        } else {
            SawLoopback |= IN6_IS_ADDR_LOOPBACK(&((SOCKADDR_IN6 *)Sa)->sin6_addr);
        }
    }
    CHECK(SawLoopback == ExpectLoopback, "loopback listed: %d, expected %d", SawLoopback, ExpectLoopback);
    CHECK(Close(Socket) == STATUS_SUCCESS, "close");
}

static void AddressChange(ADDRESS_FAMILY Family)
{
    PWSK_SOCKET Socket = NewSocket(Family, SOCK_STREAM, IPPROTO_TCP, WSK_FLAG_BASIC_SOCKET, NULL);
    PIRP Change = IoAllocateIrp(1, FALSE);
    RECORD ChangeRecord;
    NTSTATUS Status;

    ARM_RECORD(Change, &ChangeRecord, RecordRoutine);
    Status = Basic(Socket)->WskControlSocket(Socket, WskIoctl, SIO_ADDRESS_LIST_CHANGE, 0, 0, NULL, 0, NULL, NULL,
                                             Change);
    CHECK(Status == STATUS_PENDING && ChangeRecord.Calls == 0, "change request pends: 0x%08x", (unsigned)Status);
    CHECK(IoCancelIrp(Change), "IoCancelIrp");
    FINISH_RECORD(Status, (&ChangeRecord), "cancelled change: ");
    CHECK(ChangeRecord.Status == STATUS_CANCELLED, "cancelled: 0x%08x", (unsigned)ChangeRecord.Status);

    ARM_RECORD(Change, &ChangeRecord, RecordRoutine);
    Status = Basic(Socket)->WskControlSocket(Socket, WskIoctl, SIO_ADDRESS_LIST_CHANGE, 0, 0, NULL, 0, NULL, NULL,
                                             Change);
    CHECK(Status == STATUS_PENDING, "second change request pends");
    CHECK(Close(Socket) == STATUS_SUCCESS, "close");
    /* Everything of a socket completes before its close: the change already did. */
    CHECK(ChangeRecord.Calls == 1 && ChangeRecord.Status == STATUS_CANCELLED, "change at close: %ld, 0x%08x",
          (long)ChangeRecord.Calls, (unsigned)ChangeRecord.Status);
    IoFreeIrp(Change);
}

static NTSTATUS WSKAPI ClientEvent(PVOID Context, ULONG EventType, PVOID Information, SIZE_T Length)
{
    UNREFERENCED_PARAMETER(Context);
    UNREFERENCED_PARAMETER(EventType);
    UNREFERENCED_PARAMETER(Information);
    UNREFERENCED_PARAMETER(Length);
    return STATUS_NOT_IMPLEMENTED;
}

int main(int argc, char **argv)
{
    static const WSK_CLIENT_DISPATCH Dispatch = {MAKE_WSK_VERSION(1, 0), 0, ClientEvent};
    WSK_CLIENT_NPI ClientNpi = {NULL, &Dispatch};
    BOOLEAN V6Loopback = argc > 1 && argv[1][0] == '1';

    CHECK(WskRegister(&ClientNpi, &Registration) == STATUS_SUCCESS, "register");
    CHECK(WskCaptureProviderNPI(&Registration, WSK_INFINITE_WAIT, &Npi) == STATUS_SUCCESS, "capture");
    Irp = IoAllocateIrp(1, FALSE);
    CHECK(Irp != NULL, "IoAllocateIrp");

    BasicSockets(AF_INET);
    BasicSockets(AF_INET6);
    ListenAndConnection(AF_INET);
    ListenAndConnection(AF_INET6);
    AddressList(AF_INET, TRUE);
    AddressList(AF_INET6, V6Loopback);
    AddressChange(AF_INET);
    AddressChange(AF_INET6);

    IoFreeIrp(Irp);
    WskReleaseProviderNPI(&Registration);
    WskDeregister(&Registration);
    printf("control: OK\n");
    return 0;
}
