/*
 * bad_input_control.c: WskControlSocket with an unknown request type, option or IOCTL,
 * a NULL or short input buffer, an output buffer too short, an IOCTL that needs an IRP
 * without one, SO_WSK_EVENT_CALLBACK enabling events without a callback, with unknown
 * event bits, with conflicting disable requests, or for an extension interface.
 */
#include "bad_input.h"

#include <stdio.h>
#include <string.h>

/* A NPI id that is not NPI_WSK_INTERFACE_ID. */
static const NPIID BiExtensionId = {0x87654321, 0x4321, 0x8765, {8, 7, 6, 5, 4, 3, 2, 1}};

/* Buffers the calls point to; static, as a call gone wrong may still write them later. */
static WSK_EVENT_CALLBACK_CONTROL BiControl;
static ULONG BiValue = 1;
static UCHAR BiOutput[64];
static SIZE_T BiOutputReturned;

static VOID BiControlCase(PWSK_SOCKET Socket, ULONG RequestType, ULONG Code, ULONG Level, SIZE_T InSize, PVOID In,
                          SIZE_T OutSize, PVOID Out, BI_IRP_KIND Kind, NTSTATUS Expected, const char *What)
{
    /* Every table starts with the basic slots: the socket's own table is as good as any. */
    const WSK_PROVIDER_BASIC_DISPATCH *Basic = (const WSK_PROVIDER_BASIC_DISPATCH *)Socket->Dispatch;
    BI_CALL Call;
    PIRP Irp = BiBegin(&Call, Kind);
    NTSTATUS Status;

    Status = Basic->WskControlSocket(Socket, (WSK_CONTROL_SOCKET_TYPE)RequestType, Code, Level, InSize, In, OutSize,
                                     Out, &BiOutputReturned, Irp);
    BiEnd(&Call, Status, Expected, BI_IRP_OPTIONAL, "WskControlSocket(%s, %s)", What, BiIrpKindName[Kind]);
}

/* SO_WSK_EVENT_CALLBACK with a mask (input: a whole WSK_EVENT_CALLBACK_CONTROL). */
static VOID BiEventCase(PWSK_SOCKET Socket, const char *SocketName, ULONG Mask, BI_IRP_KIND Kind, NTSTATUS Expected,
                        const char *What)
{
    char Name[160];

    BiControl.NpiId = &NPI_WSK_INTERFACE_ID;
    BiControl.EventMask = Mask;
    snprintf(Name, sizeof(Name), "%s, SO_WSK_EVENT_CALLBACK %s (mask 0x%08lX)", SocketName, What,
             (unsigned long)Mask);
    BiControlCase(Socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, sizeof(BiControl), &BiControl, 0, NULL,
                  Kind, Expected, Name);
}

static VOID BiRequestCases(PWSK_SOCKET Socket, const char *SocketName)
{
    static const ULONG BadTypes[] = {WskControlMax, 4, 99, 0x80000000, 0xFFFFFFFF};
    /* Choice (docs/C_ABI.md "Socket control"): a name Windows does not know at its level is
     * STATUS_INVALID_PARAMETER (Winsock's WSAENOPROTOOPT); one it knows that is not carried
     * over, an option of another category, and an unknown IOCTL are STATUS_NOT_SUPPORTED
     * resp. STATUS_INVALID_PARAMETER as listed. */
    static const struct {
        ULONG Type;
        ULONG Code;
        ULONG Level;
        NTSTATUS Expected;
        const char *Name;
    } Unknown[] = {
        {WskSetOption, 0x1234, SOL_SOCKET, STATUS_INVALID_PARAMETER, "set unknown SOL_SOCKET option 0x1234"},
        {WskGetOption, 0x1234, SOL_SOCKET, STATUS_INVALID_PARAMETER, "get unknown SOL_SOCKET option 0x1234"},
        {WskSetOption, 0x7777, IPPROTO_TCP, STATUS_INVALID_PARAMETER, "set unknown IPPROTO_TCP option 0x7777"},
        {WskSetOption, 1, 0x9999, STATUS_INVALID_PARAMETER, "set option 1 of unknown level 0x9999"},
        {WskSetOption, SO_LINGER, SOL_SOCKET, STATUS_NOT_SUPPORTED, "set SO_LINGER (not carried over)"},
        {WskGetOption, IP_HDRINCL, IPPROTO_IP, STATUS_NOT_SUPPORTED, "get IP_HDRINCL (not carried over)"},
        {WskGetOption, IP_ADD_MEMBERSHIP, IPPROTO_IP, STATUS_INVALID_PARAMETER, "get IP_ADD_MEMBERSHIP (set only)"},
        {WskSetOption, SO_BROADCAST, SOL_SOCKET, STATUS_INVALID_PARAMETER, "set SO_BROADCAST (datagram only)"},
        {WskGetOption, IP_PKTINFO, IPPROTO_IP, STATUS_INVALID_PARAMETER, "get IP_PKTINFO (datagram only)"},
        {WskIoctl, 0xDEADBEEF, 0, STATUS_NOT_SUPPORTED, "unknown IOCTL 0xDEADBEEF"},
        {WskIoctl, 0, 0, STATUS_NOT_SUPPORTED, "IOCTL 0"},
        {WskIoctl, _WSAIORW(IOC_WSK, 0x7F), 0, STATUS_NOT_SUPPORTED, "unknown WSK IOCTL 0x7F"},
        {WskIoctl, SIO_ADDRESS_LIST_SORT, 0, STATUS_NOT_SUPPORTED, "SIO_ADDRESS_LIST_SORT"},
        {WskIoctl, SIO_WSK_REGISTER_EXTENSION, 0, STATUS_INVALID_PARAMETER, "SIO_WSK_REGISTER_EXTENSION, 4-byte input"},
    };
    char Name[160];
    size_t i;
    int Kind;

    for (i = 0; i < ARRAYSIZE(BadTypes); i++) {
        for (Kind = BiIrpFresh; Kind < BiIrpKinds; Kind++) {
            snprintf(Name, sizeof(Name), "%s, RequestType %lu", SocketName, (unsigned long)BadTypes[i]);
            BiControlCase(Socket, BadTypes[i], SO_WSK_EVENT_CALLBACK, SOL_SOCKET, sizeof(BiValue), &BiValue, 0, NULL,
                          (BI_IRP_KIND)Kind, STATUS_INVALID_PARAMETER, Name);
        }
    }
    for (i = 0; i < ARRAYSIZE(Unknown); i++) {
        for (Kind = BiIrpFresh; Kind <= BiIrpNone; Kind++) {
            snprintf(Name, sizeof(Name), "%s, %s", SocketName, Unknown[i].Name);
            BiControlCase(Socket, Unknown[i].Type, Unknown[i].Code, Unknown[i].Level, sizeof(BiValue), &BiValue,
                          sizeof(BiOutput), BiOutput, (BI_IRP_KIND)Kind, Unknown[i].Expected, Name);
        }
    }
}

/* A ULONG option with a missing or short value. */
static VOID BiShortValueCases(PWSK_SOCKET Socket, ULONG Level, ULONG Code, const char *Option)
{
    static const SIZE_T Sizes[] = {0, 2, 3};
    char Name[160];
    size_t i;
    int Kind;

    if (Socket == NULL) {
        return;
    }
    for (Kind = BiIrpFresh; Kind <= BiIrpNone; Kind++) {
        snprintf(Name, sizeof(Name), "%s, NULL input", Option);
        BiControlCase(Socket, WskSetOption, Code, Level, sizeof(ULONG), NULL, 0, NULL, (BI_IRP_KIND)Kind,
                      STATUS_INVALID_PARAMETER, Name);
        for (i = 0; i < ARRAYSIZE(Sizes); i++) {
            snprintf(Name, sizeof(Name), "%s, InputSize %lu", Option, (unsigned long)Sizes[i]);
            BiControlCase(Socket, WskSetOption, Code, Level, Sizes[i], &BiValue, 0, NULL, (BI_IRP_KIND)Kind,
                          STATUS_INVALID_PARAMETER, Name);
        }
    }
}

static VOID BiEventControlInputCases(VOID)
{
    static const SIZE_T Sizes[] = {0, sizeof(PVOID), sizeof(WSK_EVENT_CALLBACK_CONTROL) - 1};
    char Name[160];
    size_t i;
    int Kind;

    for (Kind = BiIrpFresh; Kind <= BiIrpNone; Kind++) {
        BiControl.NpiId = &NPI_WSK_INTERFACE_ID;
        BiControl.EventMask = WSK_EVENT_RECEIVE | WSK_EVENT_DISABLE;
        BiControlCase(Fx.Passive, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, sizeof(BiControl), NULL, 0, NULL,
                      (BI_IRP_KIND)Kind, STATUS_INVALID_PARAMETER, "SO_WSK_EVENT_CALLBACK, NULL input");
        for (i = 0; i < ARRAYSIZE(Sizes); i++) {
            snprintf(Name, sizeof(Name), "SO_WSK_EVENT_CALLBACK, InputSize %lu", (unsigned long)Sizes[i]);
            BiControlCase(Fx.Passive, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, Sizes[i], &BiControl, 0, NULL,
                          (BI_IRP_KIND)Kind, STATUS_INVALID_PARAMETER, Name);
        }
        BiControl.NpiId = NULL;
        BiControl.EventMask = WSK_EVENT_RECEIVE;
        BiControlCase(Fx.Passive, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, sizeof(BiControl), &BiControl, 0,
                      NULL, (BI_IRP_KIND)Kind, STATUS_INVALID_PARAMETER, "SO_WSK_EVENT_CALLBACK, NULL NpiId");
        BiControl.NpiId = &BiExtensionId;
        BiControlCase(Fx.Passive, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, sizeof(BiControl), &BiControl, 0,
                      NULL, (BI_IRP_KIND)Kind, STATUS_NOT_SUPPORTED,
                      "SO_WSK_EVENT_CALLBACK, NpiId of an extension interface");
    }
}

static VOID BiOutputCases(VOID)
{
    static const ULONG Codes[] = {SIO_WSK_QUERY_IDEAL_SEND_BACKLOG, SIO_WSK_QUERY_RECEIVE_BACKLOG};
    static const char *const CodeNames[] = {"SIO_WSK_QUERY_IDEAL_SEND_BACKLOG", "SIO_WSK_QUERY_RECEIVE_BACKLOG"};
    static const SIZE_T Sizes[] = {1, 4, sizeof(SIZE_T) - 1};
    char Name[160];
    size_t c, i;

    for (c = 0; c < ARRAYSIZE(Codes); c++) {
        snprintf(Name, sizeof(Name), "%s, no output buffer", CodeNames[c]);
        BiControlCase(Fx.Active, WskIoctl, Codes[c], 0, 0, NULL, 0, NULL, BiIrpFresh, STATUS_BUFFER_TOO_SMALL, Name);
        for (i = 0; i < ARRAYSIZE(Sizes); i++) {
            snprintf(Name, sizeof(Name), "%s, OutputSize %lu", CodeNames[c], (unsigned long)Sizes[i]);
            BiControlCase(Fx.Active, WskIoctl, Codes[c], 0, 0, NULL, Sizes[i], BiOutput, BiIrpFresh,
                          STATUS_BUFFER_TOO_SMALL, Name);
        }
        /* The reference (3.4): these IOCTLs require an IRP (choice: STATUS_INVALID_PARAMETER without). */
        snprintf(Name, sizeof(Name), "%s, no IRP", CodeNames[c]);
        BiControlCase(Fx.Active, WskIoctl, Codes[c], 0, 0, NULL, sizeof(SIZE_T), BiOutput, BiIrpNone,
                      STATUS_INVALID_PARAMETER, Name);
    }
}

/* Requests of every category with missing or short outputs, or without the IRP they need. */
static VOID BiCommonOutputCases(PWSK_SOCKET Socket, const char *SocketName)
{
    static const SIZE_T Sizes[] = {0, 1, 3};
    static WSK_EXTENSION_CONTROL_IN Extension;
    const WSK_PROVIDER_BASIC_DISPATCH *Basic = (const WSK_PROVIDER_BASIC_DISPATCH *)Socket->Dispatch;
    char Name[160];
    BI_CALL Call;
    PIRP Irp;
    NTSTATUS Status;
    size_t i;
    int Kind;

    for (Kind = BiIrpFresh; Kind <= BiIrpNone; Kind++) {
        for (i = 0; i < ARRAYSIZE(Sizes); i++) {
            snprintf(Name, sizeof(Name), "%s, get SO_REUSEADDR, OutputSize %lu", SocketName, (unsigned long)Sizes[i]);
            BiControlCase(Socket, WskGetOption, SO_REUSEADDR, SOL_SOCKET, 0, NULL, Sizes[i], BiOutput,
                          (BI_IRP_KIND)Kind, STATUS_BUFFER_TOO_SMALL, Name);
        }
        snprintf(Name, sizeof(Name), "%s, get SO_REUSEADDR, NULL output", SocketName);
        BiControlCase(Socket, WskGetOption, SO_REUSEADDR, SOL_SOCKET, 0, NULL, sizeof(ULONG), NULL, (BI_IRP_KIND)Kind,
                      STATUS_BUFFER_TOO_SMALL, Name);
        /* SIO_ADDRESS_LIST_QUERY needs OutputSizeReturned (choice: STATUS_INVALID_PARAMETER). */
        Irp = BiBegin(&Call, (BI_IRP_KIND)Kind);
        Status = Basic->WskControlSocket(Socket, WskIoctl, SIO_ADDRESS_LIST_QUERY, 0, 0, NULL, sizeof(BiOutput),
                                         BiOutput, NULL, Irp);
        BiEnd(&Call, Status, STATUS_INVALID_PARAMETER, BI_IRP_OPTIONAL,
              "WskControlSocket(%s, SIO_ADDRESS_LIST_QUERY without OutputSizeReturned, %s)", SocketName,
              BiIrpKindName[Kind]);
        /* No extension interfaces exist: a well-formed request is not supported. */
        Extension.NpiId = &BiExtensionId;
        snprintf(Name, sizeof(Name), "%s, SIO_WSK_REGISTER_EXTENSION", SocketName);
        BiControlCase(Socket, WskIoctl, SIO_WSK_REGISTER_EXTENSION, 0, sizeof(Extension), &Extension, 0, NULL,
                      (BI_IRP_KIND)Kind, STATUS_NOT_SUPPORTED, Name);
    }
    /* SIO_ADDRESS_LIST_CHANGE needs an IRP to pend on. */
    snprintf(Name, sizeof(Name), "%s, SIO_ADDRESS_LIST_CHANGE without IRP", SocketName);
    BiControlCase(Socket, WskIoctl, SIO_ADDRESS_LIST_CHANGE, 0, 0, NULL, 0, NULL, BiIrpNone, STATUS_INVALID_PARAMETER,
                  Name);
}

static VOID BiEventMaskCases(VOID)
{
    const ULONG ConnectionEvents = WSK_EVENT_SEND_BACKLOG | WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT;
    char What[64];
    ULONG Bit;
    int Kind;

    for (Kind = BiIrpFresh; Kind <= BiIrpNone; Kind++) {
        /* Enabling an event the socket has no callback for. */
        BiEventCase(Fx.Active, "socket without client dispatch", WSK_EVENT_RECEIVE, (BI_IRP_KIND)Kind,
                    STATUS_INVALID_PARAMETER, "enable receive");
        BiEventCase(Fx.Active, "socket without client dispatch", WSK_EVENT_DISCONNECT, (BI_IRP_KIND)Kind,
                    STATUS_INVALID_PARAMETER, "enable disconnect");
        BiEventCase(Fx.Active, "socket without client dispatch", WSK_EVENT_SEND_BACKLOG, (BI_IRP_KIND)Kind,
                    STATUS_INVALID_PARAMETER, "enable send backlog");
        BiEventCase(Fx.Active, "socket without client dispatch", ConnectionEvents, (BI_IRP_KIND)Kind,
                    STATUS_INVALID_PARAMETER, "enable all three");
        BiEventCase(Fx.ListenBound, "listener without client dispatch", WSK_EVENT_ACCEPT, (BI_IRP_KIND)Kind,
                    STATUS_INVALID_PARAMETER, "enable accept");
        /* Disabling takes exactly one known event. */
        BiEventCase(Fx.Passive, "accepted socket", WSK_EVENT_DISABLE, (BI_IRP_KIND)Kind, STATUS_INVALID_PARAMETER,
                    "disable without an event");
        BiEventCase(Fx.Passive, "accepted socket", WSK_EVENT_DISABLE | WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT,
                    (BI_IRP_KIND)Kind, STATUS_INVALID_PARAMETER, "disable two events");
        BiEventCase(Fx.Passive, "accepted socket", WSK_EVENT_DISABLE | 0x1, (BI_IRP_KIND)Kind,
                    STATUS_INVALID_PARAMETER, "disable an unknown event");
    }
    /* Unknown event bits (for the socket's category). */
    for (Bit = 0; Bit < 31; Bit++) {
        ULONG Mask = 1u << Bit;

        snprintf(What, sizeof(What), "enable unknown bit");
        if (!(Mask & ConnectionEvents)) {
            BiEventCase(Fx.Passive, "accepted socket", Mask, BiIrpNone, STATUS_INVALID_PARAMETER, What);
        }
        if (!(Mask & (ConnectionEvents | WSK_EVENT_ACCEPT))) {
            BiEventCase(Fx.ListenBound, "listener", Mask, BiIrpNone, STATUS_INVALID_PARAMETER, What);
        }
    }
}

VOID BiControlSocketCases(VOID)
{
    BiRequestCases(Fx.ListenBound, "listener");
    BiRequestCases(Fx.Active, "connected socket");
    BiCommonOutputCases(Fx.ListenBound, "listener");
    BiCommonOutputCases(Fx.Active, "connected socket");
    BiShortValueCases(Fx.ListenUnbound, SOL_SOCKET, SO_REUSEADDR, "listener, SO_REUSEADDR");
    BiShortValueCases(Fx.Listen6, IPPROTO_IPV6, IPV6_V6ONLY, "IPv6 listener, IPV6_V6ONLY");
    BiShortValueCases(Fx.Active, IPPROTO_TCP, TCP_NODELAY, "connected socket, TCP_NODELAY");
    BiEventControlInputCases();
    BiOutputCases();
    BiEventMaskCases();
}
