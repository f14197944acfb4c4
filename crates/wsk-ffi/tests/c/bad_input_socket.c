/*
 * bad_input_socket.c: every slot of the listen and connection tables with bad socket
 * handles (NULL, foreign, interior, closed, of the other category) and every IRP variant;
 * bad SOCKADDRs and flag bits of WskBind, WskConnect, WskConnectEx, WskAccept;
 * WskInspectComplete; the same slots once more with closed handles (after close, after
 * WskDeregister).
 */
#include "bad_input.h"

#include <stdio.h>
#include <string.h>

typedef enum _BI_SOCKET_FN {
    BiListenControl,
    BiListenClose,
    BiListenBind,
    BiListenAccept,
    BiListenInspect,
    BiListenLocal,
    BiConnControl,
    BiConnClose,
    BiConnBind,
    BiConnConnect,
    BiConnLocal,
    BiConnRemote,
    BiConnSend,
    BiConnReceive,
    BiConnDisconnect,
    BiConnRelease,
    BiConnConnectEx,
    BiConnSendEx,
    BiConnReceiveEx,
    BiSocketFns
} BI_SOCKET_FN;

static const struct {
    const char *Name;
    BOOLEAN Listen; /* a slot of the listen table (else the connection table) */
    BOOLEAN Common; /* one function shared by the tables (docs): no "other category" */
    BOOLEAN NoIrp;  /* takes no IRP (WskRelease) */
    ULONG Flags;    /* BiEnd flags */
} BiSocketFn[BiSocketFns] = {
    {"listen WskControlSocket", TRUE, TRUE, FALSE, BI_IRP_OPTIONAL},
    {"listen WskCloseSocket", TRUE, TRUE, FALSE, 0},
    {"listen WskBind", TRUE, TRUE, FALSE, 0},
    {"WskAccept", TRUE, FALSE, FALSE, BI_MAY_CREATE},
    {"WskInspectComplete", TRUE, FALSE, FALSE, 0},
    {"listen WskGetLocalAddress", TRUE, TRUE, FALSE, 0},
    {"connection WskControlSocket", FALSE, TRUE, FALSE, BI_IRP_OPTIONAL},
    {"connection WskCloseSocket", FALSE, TRUE, FALSE, 0},
    {"connection WskBind", FALSE, TRUE, FALSE, 0},
    {"WskConnect", FALSE, FALSE, FALSE, 0},
    {"connection WskGetLocalAddress", FALSE, TRUE, FALSE, 0},
    {"WskGetRemoteAddress", FALSE, FALSE, FALSE, 0},
    {"WskSend", FALSE, FALSE, FALSE, 0},
    {"WskReceive", FALSE, FALSE, FALSE, 0},
    {"WskDisconnect", FALSE, FALSE, FALSE, 0},
    {"connection WskRelease", FALSE, FALSE, TRUE, 0},
    {"WskConnectEx", FALSE, FALSE, FALSE, 0},
    {"WskSendEx", FALSE, FALSE, FALSE, 0},
    {"WskReceiveEx", FALSE, FALSE, FALSE, 0},
};

/* Good arguments; static, as a call gone wrong may still write them later. */
static WSK_EVENT_CALLBACK_CONTROL BiDisableDisconnect;
static SOCKADDR_STORAGE BiOutLocal, BiOutRemote;
static WSK_INSPECT_ID BiInspectId;
static WSK_BUF BiGoodBuf;

/* Calls slot Fn of the table of its category for Socket, with good arguments. */
static NTSTATUS BiCallSocketFn(BI_SOCKET_FN Fn, PWSK_SOCKET Socket, PIRP Irp)
{
    const WSK_PROVIDER_LISTEN_DISPATCH *L = Fx.Listen;
    const WSK_PROVIDER_CONNECTION_DISPATCH *C = Fx.Connection;

    BiDisableDisconnect.NpiId = &NPI_WSK_INTERFACE_ID;
    BiDisableDisconnect.EventMask = WSK_EVENT_DISCONNECT | WSK_EVENT_DISABLE;
    BiGoodBuf.Mdl = Fx.Single;
    BiGoodBuf.Offset = 0;
    BiGoodBuf.Length = 16;
    switch (Fn) {
    case BiListenControl:
        return L->WskControlSocket(Socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, sizeof(BiDisableDisconnect),
                                   &BiDisableDisconnect, 0, NULL, NULL, Irp);
    case BiListenClose:
        return L->WskCloseSocket(Socket, Irp);
    case BiListenBind:
        return L->WskBind(Socket, (PSOCKADDR)&Fx.Loopback, 0, Irp);
    case BiListenAccept:
        return L->WskAccept(Socket, 0, NULL, NULL, (PSOCKADDR)&BiOutLocal, (PSOCKADDR)&BiOutRemote, Irp);
    case BiListenInspect:
        return L->WskInspectComplete(Socket, &BiInspectId, WskInspectAccept, Irp);
    case BiListenLocal:
        return L->WskGetLocalAddress(Socket, (PSOCKADDR)&BiOutLocal, Irp);
    case BiConnControl:
        return C->WskControlSocket(Socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, sizeof(BiDisableDisconnect),
                                   &BiDisableDisconnect, 0, NULL, NULL, Irp);
    case BiConnClose:
        return C->WskCloseSocket(Socket, Irp);
    case BiConnBind:
        return C->WskBind(Socket, (PSOCKADDR)&Fx.Loopback, 0, Irp);
    case BiConnConnect:
        return C->WskConnect(Socket, (PSOCKADDR)&Fx.ListenAddr, 0, Irp);
    case BiConnLocal:
        return C->WskGetLocalAddress(Socket, (PSOCKADDR)&BiOutLocal, Irp);
    case BiConnRemote:
        return C->WskGetRemoteAddress(Socket, (PSOCKADDR)&BiOutRemote, Irp);
    case BiConnSend:
        return C->WskSend(Socket, &BiGoodBuf, 0, Irp);
    case BiConnReceive:
        return C->WskReceive(Socket, &BiGoodBuf, 0, Irp);
    case BiConnDisconnect:
        return C->WskDisconnect(Socket, NULL, 0, Irp);
    case BiConnRelease:
        /* Choice: the handle is checked before the indication (as every slot checks it first). */
        return C->WskRelease(Socket, (PWSK_DATA_INDICATION)BiForeign);
    case BiConnConnectEx:
        return C->WskConnectEx(Socket, (PSOCKADDR)&Fx.ListenAddr, NULL, 0, Irp);
    case BiConnSendEx:
        return C->WskSendEx(Socket, &BiGoodBuf, 0, 0, NULL, Irp);
    case BiConnReceiveEx:
    default:
        return C->WskReceiveEx(Socket, &BiGoodBuf, 0, NULL, NULL, NULL, Irp);
    }
}

/* One slot, one handle, one IRP kind. */
static VOID BiSocketCase(BI_SOCKET_FN Fn, PWSK_SOCKET Socket, BI_IRP_KIND Kind, NTSTATUS Expected, const char *What)
{
    BI_CALL Call;
    PIRP Irp;

    if (BiSocketFn[Fn].NoIrp) {
        BiExpect(BiCallSocketFn(Fn, Socket, NULL), Expected, "%s(%s)", BiSocketFn[Fn].Name, What);
        return;
    }
    Irp = BiBegin(&Call, Kind);
    BiEnd(&Call, BiCallSocketFn(Fn, Socket, Irp), Expected, BiSocketFn[Fn].Flags, "%s(%s, %s)", BiSocketFn[Fn].Name,
          What, BiIrpKindName[Kind]);
}

VOID BiSocketMatrixCases(VOID)
{
    int Fn, Kind;

    for (Fn = 0; Fn < BiSocketFns; Fn++) {
        BOOLEAN Listen = BiSocketFn[Fn].Listen;
        PWSK_SOCKET Same = Listen ? Fx.ListenBound : Fx.Active;   /* live, this table's category */
        PWSK_SOCKET Other = Listen ? Fx.Active : Fx.ListenBound;  /* live, the other category */
        struct {
            const char *Name;
            PWSK_SOCKET Socket;
            NTSTATUS Expected;
        } Bad[] = {
            {"NULL socket", NULL, STATUS_INVALID_HANDLE},
            {"foreign WSK_SOCKET with this table", &BiFakeSockets[Listen ? 0 : 1], STATUS_INVALID_HANDLE},
            {"zeroed foreign WSK_SOCKET", &BiFakeSockets[2], STATUS_INVALID_HANDLE},
            {"foreign WSK_SOCKET with a foreign table", &BiFakeSockets[3], STATUS_INVALID_HANDLE},
            {"socket + 8", (PWSK_SOCKET)((PUCHAR)Same + 8), STATUS_INVALID_HANDLE},
            {"PWSK_CLIENT as socket", (PWSK_SOCKET)Fx.WskClient, STATUS_INVALID_HANDLE},
            {"closed socket of this category", Listen ? Fx.ClosedListen : Fx.ClosedConn, STATUS_INVALID_HANDLE},
            {"closed socket of the other category", Listen ? Fx.ClosedConn : Fx.ClosedListen, STATUS_INVALID_HANDLE},
            {"socket of the other category", Other, STATUS_INVALID_DEVICE_REQUEST},
        };
        size_t i;

        for (i = 0; i < ARRAYSIZE(Bad); i++) {
            if (Bad[i].Expected == STATUS_INVALID_DEVICE_REQUEST && BiSocketFn[Fn].Common) {
                continue; /* the slot is in every table: no category is wrong */
            }
            for (Kind = BiIrpFresh; Kind < BiIrpKinds; Kind++) {
                BiSocketCase((BI_SOCKET_FN)Fn, Bad[i].Socket, (BI_IRP_KIND)Kind, Bad[i].Expected, Bad[i].Name);
                if (BiSocketFn[Fn].NoIrp) {
                    break;
                }
            }
        }
        /* A live socket of the right category with an IRP the provider may not take. */
        for (Kind = BiIrpNone; Kind < BiIrpKinds && !BiSocketFn[Fn].NoIrp; Kind++) {
            if (Kind == BiIrpNone && (BiSocketFn[Fn].Flags & BI_IRP_OPTIONAL)) {
                continue;
            }
            BiSocketCase((BI_SOCKET_FN)Fn, Same, (BI_IRP_KIND)Kind, STATUS_INVALID_PARAMETER, "good socket");
        }
    }
}

VOID BiClosedHandleCases(const char *When)
{
    struct {
        const char *Name;
        PWSK_SOCKET Socket;
    } Closed[] = {
        {"closed listening socket", Fx.ClosedListen}, {"closed connection socket", Fx.ClosedConn},
        {"closed bound listener", Fx.ListenBound},    {"closed connected socket", Fx.Active},
        {"closed accepted socket", Fx.Passive},
    };
    char What[128];
    size_t i;
    int Fn;

    for (i = 0; i < ARRAYSIZE(Closed); i++) {
        if (Closed[i].Socket == NULL) {
            continue;
        }
        snprintf(What, sizeof(What), "%s, %s", Closed[i].Name, When);
        for (Fn = 0; Fn < BiSocketFns; Fn++) {
            BiSocketCase((BI_SOCKET_FN)Fn, Closed[i].Socket, BiIrpFresh, STATUS_INVALID_HANDLE, What);
        }
    }
}

/* ----- SOCKADDRs ----- */

typedef enum _BI_ADDR_FN { BiAddrListenBind, BiAddrConnBind, BiAddrConnect, BiAddrConnectEx } BI_ADDR_FN;

static VOID BiAddressCase(BI_ADDR_FN Fn, PWSK_SOCKET Socket, PSOCKADDR Address, NTSTATUS Expected, const char *What)
{
    static const char *const Names[] = {"listen WskBind", "connection WskBind", "WskConnect", "WskConnectEx"};
    BI_CALL Call;
    PIRP Irp = BiBegin(&Call, BiIrpFresh);
    NTSTATUS Status;

    switch (Fn) {
    case BiAddrListenBind:
        Status = Fx.Listen->WskBind(Socket, Address, 0, Irp);
        break;
    case BiAddrConnBind:
        Status = Fx.Connection->WskBind(Socket, Address, 0, Irp);
        break;
    case BiAddrConnect:
        Status = Fx.Connection->WskConnect(Socket, Address, 0, Irp);
        break;
    case BiAddrConnectEx:
    default:
        Status = Fx.Connection->WskConnectEx(Socket, Address, NULL, 0, Irp);
        break;
    }
    BiEnd(&Call, Status, Expected, 0, "%s(%s)", Names[Fn], What);
}

/* Every SOCKADDR defect for one function and socket; Other: a good address of the other family. */
static VOID BiAddressDefects(BI_ADDR_FN Fn, PWSK_SOCKET Socket, PSOCKADDR Other, const char *SocketName)
{
    static const USHORT BadFamilies[] = {AF_UNSPEC, AF_UNIX, 10 /* Linux's AF_INET6 */, 99, 0xFFFF};
    static SOCKADDR_STORAGE Bad;
    char What[128];
    size_t i;

    if (Socket == NULL) {
        return; /* an optional (IPv6) fixture this host could not make */
    }
    snprintf(What, sizeof(What), "%s, NULL address", SocketName);
    BiAddressCase(Fn, Socket, NULL, STATUS_INVALID_PARAMETER, What);
    for (i = 0; i < ARRAYSIZE(BadFamilies); i++) {
        BiFamilyAddress(&Bad, BadFamilies[i]);
        snprintf(What, sizeof(What), "%s, address of family %u", SocketName, BadFamilies[i]);
        BiAddressCase(Fn, Socket, (PSOCKADDR)&Bad, STATUS_NOT_SUPPORTED, What);
    }
    snprintf(What, sizeof(What), "%s, address of the other family", SocketName);
    BiAddressCase(Fn, Socket, Other, STATUS_INVALID_PARAMETER, What);
}

VOID BiAddressCases(VOID)
{
    BI_CALL Call;
    PIRP Irp;

    BiAddressDefects(BiAddrListenBind, Fx.ListenUnbound, (PSOCKADDR)&Fx.Any6, "AF_INET listener");
    BiAddressDefects(BiAddrListenBind, Fx.Listen6, (PSOCKADDR)&Fx.Loopback, "AF_INET6 listener");
    BiAddressDefects(BiAddrConnBind, Fx.ConnUnbound, (PSOCKADDR)&Fx.Any6, "AF_INET connection socket");
    BiAddressDefects(BiAddrConnBind, Fx.Conn6, (PSOCKADDR)&Fx.Loopback, "AF_INET6 connection socket");
    BiAddressDefects(BiAddrConnect, Fx.ConnBound, (PSOCKADDR)&Fx.Loopback6Port, "bound AF_INET socket");
    BiAddressDefects(BiAddrConnectEx, Fx.ConnBound, (PSOCKADDR)&Fx.Loopback6Port, "bound AF_INET socket");

    Irp = BiBegin(&Call, BiIrpFresh);
    BiEnd(&Call, Fx.Listen->WskGetLocalAddress(Fx.ListenBound, NULL, Irp), STATUS_INVALID_PARAMETER, 0,
          "listen WskGetLocalAddress(NULL LocalAddress)");
    Irp = BiBegin(&Call, BiIrpFresh);
    BiEnd(&Call, Fx.Connection->WskGetLocalAddress(Fx.Active, NULL, Irp), STATUS_INVALID_PARAMETER, 0,
          "connection WskGetLocalAddress(NULL LocalAddress)");
    Irp = BiBegin(&Call, BiIrpFresh);
    BiEnd(&Call, Fx.Connection->WskGetRemoteAddress(Fx.Active, NULL, Irp), STATUS_INVALID_PARAMETER, 0,
          "WskGetRemoteAddress(NULL RemoteAddress)");
}

/* ----- flags (reserved: every bit is unknown) ----- */

VOID BiFlagCases(VOID)
{
    BI_CALL Call;
    PIRP Irp;
    NTSTATUS Status;
    ULONG Bit;

    for (Bit = 0; Bit < 32; Bit++) {
        ULONG Flag = 1u << Bit;

        Irp = BiBegin(&Call, BiIrpFresh);
        Status = Fx.Listen->WskBind(Fx.ListenUnbound, (PSOCKADDR)&Fx.Loopback, Flag, Irp);
        BiEnd(&Call, Status, STATUS_INVALID_PARAMETER, 0, "listen WskBind(Flags 0x%08lX)", (unsigned long)Flag);

        Irp = BiBegin(&Call, BiIrpFresh);
        Status = Fx.Connection->WskBind(Fx.ConnUnbound, (PSOCKADDR)&Fx.Loopback, Flag, Irp);
        BiEnd(&Call, Status, STATUS_INVALID_PARAMETER, 0, "connection WskBind(Flags 0x%08lX)", (unsigned long)Flag);

        Irp = BiBegin(&Call, BiIrpFresh);
        Status = Fx.Listen->WskAccept(Fx.ListenBound, Flag, NULL, NULL, NULL, NULL, Irp);
        BiEnd(&Call, Status, STATUS_INVALID_PARAMETER, BI_MAY_CREATE, "WskAccept(Flags 0x%08lX)", (unsigned long)Flag);

        Irp = BiBegin(&Call, BiIrpFresh);
        Status = Fx.Connection->WskConnect(Fx.ConnBound, (PSOCKADDR)&Fx.ListenAddr, Flag, Irp);
        BiEnd(&Call, Status, STATUS_INVALID_PARAMETER, 0, "WskConnect(Flags 0x%08lX)", (unsigned long)Flag);

        Irp = BiBegin(&Call, BiIrpFresh);
        Status = Fx.Connection->WskConnectEx(Fx.ConnBound, (PSOCKADDR)&Fx.ListenAddr, NULL, Flag, Irp);
        BiEnd(&Call, Status, STATUS_INVALID_PARAMETER, 0, "WskConnectEx(Flags 0x%08lX)", (unsigned long)Flag);
    }
}

/* ----- WskInspectComplete (no conditional accept: nothing is ever being inspected) -----
 * Only WskInspectAccept/WskInspectReject are actions (reference 4.7); choice: an InspectID
 * no inspect request has is STATUS_INVALID_PARAMETER. */

VOID BiInspectCases(VOID)
{
    static const ULONG Actions[] = {WskInspectPend, WskInspectMax, 99, 0xFFFFFFFF};
    static WSK_INSPECT_ID Id = {1, 1};
    BI_CALL Call;
    PIRP Irp;
    NTSTATUS Status;
    size_t i;

    Irp = BiBegin(&Call, BiIrpFresh);
    Status = Fx.Listen->WskInspectComplete(Fx.ListenBound, NULL, WskInspectAccept, Irp);
    BiEnd(&Call, Status, STATUS_INVALID_PARAMETER, 0, "WskInspectComplete(NULL InspectID)");
    for (i = 0; i < ARRAYSIZE(Actions); i++) {
        Irp = BiBegin(&Call, BiIrpFresh);
        Status = Fx.Listen->WskInspectComplete(Fx.ListenBound, &Id, (WSK_INSPECT_ACTION)Actions[i], Irp);
        BiEnd(&Call, Status, STATUS_INVALID_PARAMETER, 0, "WskInspectComplete(Action %lu)", (unsigned long)Actions[i]);
    }
    Irp = BiBegin(&Call, BiIrpFresh);
    Status = Fx.Listen->WskInspectComplete(Fx.ListenBound, &Id, WskInspectAccept, Irp);
    BiEnd(&Call, Status, STATUS_INVALID_PARAMETER, 0, "WskInspectComplete(unknown InspectID, accept)");
    Irp = BiBegin(&Call, BiIrpFresh);
    Status = Fx.Listen->WskInspectComplete(Fx.ListenBound, &Id, WskInspectReject, Irp);
    BiEnd(&Call, Status, STATUS_INVALID_PARAMETER, 0, "WskInspectComplete(unknown InspectID, reject)");
}
