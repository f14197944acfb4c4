/*
 * bad_input_datagram.c: the datagram table (WSK_PROVIDER_DATAGRAM_DISPATCH) with bad input:
 * every slot with bad handles (NULL, foreign, interior, closed, of another category) and
 * every IRP variant; WSK_BUF defects of WskSendTo and WskReceiveFrom; reserved Flags; bad
 * SOCKADDRs of WskBind, WskSendTo and WskSendMessages; NULL ControlInfo with a length and
 * malformed control buffers; bad WSK_BUF_LISTs; WskRelease of NULL, foreign and data
 * indications; SIO_WSK_SET_REMOTE_ADDRESS / SIO_WSK_SET_SENDTO_ADDRESS without an IRP,
 * with short or foreign SOCKADDRs, on other categories and before bind.
 *
 * Its sockets are its own (made and closed here): an AF_INET datagram socket bound to
 * 127.0.0.1:0, an unbound one, a closed one.
 */
#include "bad_input.h"

#include <stdio.h>
#include <string.h>

static const WSK_PROVIDER_DATAGRAM_DISPATCH *BiDg; /* the datagram table */
static PWSK_SOCKET BiDgBound, BiDgUnbound, BiDgClosed;
static SOCKADDR_IN BiDgAddr;    /* BiDgBound's address: sends of wrongly accepted cases go there */
static WSK_SOCKET BiDgFake;     /* a foreign WSK_SOCKET with the datagram table */

/* Good arguments; static, as a call gone wrong may still use them later. */
static WSK_BUF BiDgGood;
static SOCKADDR_STORAGE BiDgRemote;
static ULONG BiDgControlLength, BiDgControlFlags;
static ULONGLONG BiDgControl[16];
static WSK_BUF_LIST BiDgList;
static WSK_EVENT_CALLBACK_CONTROL BiDgEvents;

static PWSK_BUF BiDgGood16(VOID)
{
    BiDgGood.Mdl = Fx.Single;
    BiDgGood.Offset = 0;
    BiDgGood.Length = 16;
    return &BiDgGood;
}

static PWSK_SOCKET BiDgNewSocket(const char *What)
{
    BI_CALL Call;
    ULONG_PTR Information = 0;
    PIRP Irp = BiSyncBegin(&Call);
    NTSTATUS Status = Fx.Provider->WskSocket(Fx.WskClient, AF_INET, SOCK_DGRAM, IPPROTO_UDP,
                                             WSK_FLAG_DATAGRAM_SOCKET, NULL, NULL, NULL, NULL, NULL, Irp);

    Status = BiSyncEnd(&Call, Status, &Information);
    if (!NT_SUCCESS(Status) || Information == 0) {
        BiFail("datagram setup: WskSocket for %s: 0x%08X", What, (unsigned)Status);
        return NULL;
    }
    return (PWSK_SOCKET)Information;
}

static BOOLEAN BiDgSetUp(VOID)
{
    BI_CALL Call;
    PIRP Irp;
    NTSTATUS Status;

    BiDgBound = BiDgNewSocket("the bound datagram socket");
    BiDgUnbound = BiDgNewSocket("the unbound datagram socket");
    BiDgClosed = BiDgNewSocket("the closed datagram socket");
    if (BiDgBound == NULL || BiDgUnbound == NULL || BiDgClosed == NULL) {
        return FALSE;
    }
    BiDg = (const WSK_PROVIDER_DATAGRAM_DISPATCH *)BiDgBound->Dispatch;
    BiDgFake.Dispatch = BiDg;
    if (!NT_SUCCESS(BiCloseSocket(BiDgClosed))) {
        BiFail("datagram setup: closing the socket to be used as a closed handle failed");
        return FALSE;
    }
    Irp = BiSyncBegin(&Call);
    Status = BiSyncEnd(&Call, BiDg->WskBind(BiDgBound, (PSOCKADDR)&Fx.Loopback, 0, Irp), NULL);
    if (!NT_SUCCESS(Status)) {
        BiFail("datagram setup: WskBind: 0x%08X", (unsigned)Status);
        return FALSE;
    }
    Irp = BiSyncBegin(&Call);
    Status = BiSyncEnd(&Call, BiDg->WskGetLocalAddress(BiDgBound, (PSOCKADDR)&BiDgAddr, Irp), NULL);
    if (!NT_SUCCESS(Status) || BiDgAddr.sin_port == 0) {
        BiFail("datagram setup: WskGetLocalAddress: 0x%08X", (unsigned)Status);
        return FALSE;
    }
    return TRUE;
}

/* ----- the table's slots with bad handles and IRPs ----- */

typedef enum _BI_DG_FN {
    BiDgControl_,
    BiDgClose,
    BiDgBind,
    BiDgSendTo,
    BiDgReceiveFrom,
    BiDgRelease,
    BiDgLocal,
    BiDgSendMessages,
    BiDgFns
} BI_DG_FN;

static const struct {
    const char *Name;
    BOOLEAN Common; /* shared by every table: no "other category" */
    BOOLEAN NoIrp;  /* takes no IRP (WskRelease) */
    ULONG Flags;    /* BiEnd flags */
} BiDgFn[BiDgFns] = {
    {"datagram WskControlSocket", TRUE, FALSE, BI_IRP_OPTIONAL},
    {"datagram WskCloseSocket", TRUE, FALSE, 0},
    {"datagram WskBind", TRUE, FALSE, 0},
    {"WskSendTo", FALSE, FALSE, 0},
    {"WskReceiveFrom", FALSE, FALSE, 0},
    {"datagram WskRelease", FALSE, TRUE, 0},
    {"datagram WskGetLocalAddress", TRUE, FALSE, 0},
    {"WskSendMessages", FALSE, FALSE, 0},
};

static NTSTATUS BiDgCall(BI_DG_FN Fn, PWSK_SOCKET Socket, PIRP Irp)
{
    BiDgEvents.NpiId = &NPI_WSK_INTERFACE_ID;
    BiDgEvents.EventMask = WSK_EVENT_RECEIVE_FROM | WSK_EVENT_DISABLE;
    BiDgControlLength = sizeof(BiDgControl);
    BiDgList.Next = NULL;
    BiDgList.Buffer = *BiDgGood16();
    switch (Fn) {
    case BiDgControl_:
        return BiDg->WskControlSocket(Socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, sizeof(BiDgEvents),
                                      &BiDgEvents, 0, NULL, NULL, Irp);
    case BiDgClose:
        return BiDg->WskCloseSocket(Socket, Irp);
    case BiDgBind:
        return BiDg->WskBind(Socket, (PSOCKADDR)&Fx.Loopback, 0, Irp);
    case BiDgSendTo:
        return BiDg->WskSendTo(Socket, BiDgGood16(), 0, (PSOCKADDR)&BiDgAddr, 0, NULL, Irp);
    case BiDgReceiveFrom:
        return BiDg->WskReceiveFrom(Socket, BiDgGood16(), 0, (PSOCKADDR)&BiDgRemote, &BiDgControlLength,
                                    (PCMSGHDR)BiDgControl, &BiDgControlFlags, Irp);
    case BiDgRelease:
        /* Choice: the handle is checked before the indication (as every slot checks it first). */
        return BiDg->WskRelease(Socket, (PWSK_DATAGRAM_INDICATION)BiForeign);
    case BiDgLocal:
        return BiDg->WskGetLocalAddress(Socket, (PSOCKADDR)&BiDgRemote, Irp);
    case BiDgSendMessages:
    default:
        return BiDg->WskSendMessages(Socket, &BiDgList, 0, (PSOCKADDR)&BiDgAddr, 0, NULL, Irp);
    }
}

static VOID BiDgCase(BI_DG_FN Fn, PWSK_SOCKET Socket, BI_IRP_KIND Kind, NTSTATUS Expected, const char *What)
{
    BI_CALL Call;
    PIRP Irp;

    if (BiDgFn[Fn].NoIrp) {
        BiExpect(BiDgCall(Fn, Socket, NULL), Expected, "%s(%s)", BiDgFn[Fn].Name, What);
        return;
    }
    Irp = BiBegin(&Call, Kind);
    BiEnd(&Call, BiDgCall(Fn, Socket, Irp), Expected, BiDgFn[Fn].Flags, "%s(%s, %s)", BiDgFn[Fn].Name, What,
          BiIrpKindName[Kind]);
}

static VOID BiDgMatrix(VOID)
{
    struct {
        const char *Name;
        PWSK_SOCKET Socket;
        NTSTATUS Expected;
    } Bad[] = {
        {"NULL socket", NULL, STATUS_INVALID_HANDLE},
        {"foreign WSK_SOCKET with the datagram table", &BiDgFake, STATUS_INVALID_HANDLE},
        {"zeroed foreign WSK_SOCKET", &BiFakeSockets[2], STATUS_INVALID_HANDLE},
        {"socket + 8", (PWSK_SOCKET)((PUCHAR)BiDgBound + 8), STATUS_INVALID_HANDLE},
        {"PWSK_CLIENT as socket", (PWSK_SOCKET)Fx.WskClient, STATUS_INVALID_HANDLE},
        {"closed datagram socket", BiDgClosed, STATUS_INVALID_HANDLE},
        {"closed connection socket", Fx.ClosedConn, STATUS_INVALID_HANDLE},
        {"connection socket", Fx.Active, STATUS_INVALID_DEVICE_REQUEST},
        {"listening socket", Fx.ListenBound, STATUS_INVALID_DEVICE_REQUEST},
    };
    size_t i;
    int Fn, Kind;

    for (Fn = 0; Fn < BiDgFns; Fn++) {
        for (i = 0; i < ARRAYSIZE(Bad); i++) {
            if (Bad[i].Expected == STATUS_INVALID_DEVICE_REQUEST && BiDgFn[Fn].Common) {
                continue; /* the slot is in every table: no category is wrong */
            }
            for (Kind = BiIrpFresh; Kind < BiIrpKinds; Kind++) {
                BiDgCase((BI_DG_FN)Fn, Bad[i].Socket, (BI_IRP_KIND)Kind, Bad[i].Expected, Bad[i].Name);
                if (BiDgFn[Fn].NoIrp) {
                    break;
                }
            }
        }
        /* A live datagram socket with an IRP the provider may not take. */
        for (Kind = BiIrpNone; Kind < BiIrpKinds && !BiDgFn[Fn].NoIrp; Kind++) {
            if (Kind == BiIrpNone && (BiDgFn[Fn].Flags & BI_IRP_OPTIONAL)) {
                continue;
            }
            BiDgCase((BI_DG_FN)Fn, BiDgBound, (BI_IRP_KIND)Kind, STATUS_INVALID_PARAMETER, "good socket");
        }
    }
}

/* The listen and connection tables' own slots with a datagram socket. */
static VOID BiDgOtherTables(VOID)
{
    BI_CALL Call;
    PIRP Irp = BiBegin(&Call, BiIrpFresh);

    BiEnd(&Call, Fx.Connection->WskSend(BiDgBound, BiDgGood16(), 0, Irp), STATUS_INVALID_DEVICE_REQUEST, 0,
          "WskSend(datagram socket)");
    Irp = BiBegin(&Call, BiIrpFresh);
    BiEnd(&Call, Fx.Connection->WskReceive(BiDgBound, BiDgGood16(), 0, Irp), STATUS_INVALID_DEVICE_REQUEST, 0,
          "WskReceive(datagram socket)");
    Irp = BiBegin(&Call, BiIrpFresh);
    BiEnd(&Call, Fx.Connection->WskConnect(BiDgBound, (PSOCKADDR)&Fx.ListenAddr, 0, Irp),
          STATUS_INVALID_DEVICE_REQUEST, 0, "WskConnect(datagram socket)");
    Irp = BiBegin(&Call, BiIrpFresh);
    BiEnd(&Call, Fx.Connection->WskGetRemoteAddress(BiDgBound, (PSOCKADDR)&BiDgRemote, Irp),
          STATUS_INVALID_DEVICE_REQUEST, 0, "WskGetRemoteAddress(datagram socket)");
    Irp = BiBegin(&Call, BiIrpFresh);
    BiEnd(&Call, Fx.Listen->WskAccept(BiDgBound, 0, NULL, NULL, NULL, NULL, Irp), STATUS_INVALID_DEVICE_REQUEST,
          BI_MAY_CREATE, "WskAccept(datagram socket)");
    BiExpect(Fx.Connection->WskRelease(BiDgBound, (PWSK_DATA_INDICATION)BiForeign), STATUS_INVALID_DEVICE_REQUEST,
             "connection WskRelease(datagram socket)");
}

/* ----- buffers, flags, addresses, control information ----- */

typedef enum _BI_DG_ARG_FN { BiArgSendTo, BiArgReceiveFrom, BiArgSendMessages } BI_DG_ARG_FN;

static const char *const BiDgArgName[] = {"WskSendTo", "WskReceiveFrom", "WskSendMessages"};

/* One call of Fn on BiDgBound with the given arguments (Buffer: the WSK_BUF, or the only
   buffer of the list). */
static VOID BiDgArgCase(BI_DG_ARG_FN Fn, PWSK_BUF Buffer, ULONG Flags, PSOCKADDR Remote, ULONG ControlLength,
                        PVOID Control, NTSTATUS Expected, const char *What)
{
    static WSK_BUF_LIST List;
    BI_CALL Call;
    PIRP Irp = BiBegin(&Call, BiIrpFresh);
    NTSTATUS Status;

    switch (Fn) {
    case BiArgSendTo:
        Status = BiDg->WskSendTo(BiDgBound, Buffer, Flags, Remote, ControlLength, (PCMSGHDR)Control, Irp);
        break;
    case BiArgReceiveFrom:
        BiDgControlLength = ControlLength;
        Status = BiDg->WskReceiveFrom(BiDgBound, Buffer, Flags, (PSOCKADDR)&BiDgRemote, &BiDgControlLength,
                                      (PCMSGHDR)Control, &BiDgControlFlags, Irp);
        break;
    case BiArgSendMessages:
    default:
        List.Next = NULL;
        if (Buffer != NULL) {
            List.Buffer = *Buffer;
        }
        Status = BiDg->WskSendMessages(BiDgBound, Buffer != NULL ? &List : NULL, Flags, Remote, ControlLength,
                                       (PCMSGHDR)Control, Irp);
        break;
    }
    BiEnd(&Call, Status, Expected, 0, "%s(%s)", BiDgArgName[Fn], What);
}

static VOID BiDgBufferCases(VOID)
{
    static WSK_BUF Defects[8];
    static const char *const Names[] = {
        "NULL Mdl, Length 1",          "Offset at the end of the MDL",          "Offset 0xFFFFFFFF",
        "Length one beyond the MDL",   "Length SIZE_MAX",                       "Length one beyond the MDL chain",
        "Offset in the second MDL",    "Length beyond the chain from Offset",
    };
    size_t i;

    Defects[0] = (WSK_BUF){NULL, 0, 1};
    Defects[1] = (WSK_BUF){Fx.Single, BI_SINGLE_BYTES, 1};
    Defects[2] = (WSK_BUF){Fx.Single, 0xFFFFFFFF, 1};
    Defects[3] = (WSK_BUF){Fx.Single, 0, BI_SINGLE_BYTES + 1};
    Defects[4] = (WSK_BUF){Fx.Single, 0, (SIZE_T)-1};
    Defects[5] = (WSK_BUF){Fx.ChainHead, 0, BI_CHAIN_FIRST + BI_CHAIN_SECOND + 1};
    Defects[6] = (WSK_BUF){Fx.ChainHead, BI_CHAIN_FIRST, 1};
    Defects[7] = (WSK_BUF){Fx.ChainHead, 1000, BI_CHAIN_FIRST + BI_CHAIN_SECOND - 999};
    for (i = 0; i < ARRAYSIZE(Defects); i++) {
        BiDgArgCase(BiArgSendTo, &Defects[i], 0, (PSOCKADDR)&BiDgAddr, 0, NULL, STATUS_INVALID_PARAMETER, Names[i]);
        BiDgArgCase(BiArgReceiveFrom, &Defects[i], 0, NULL, 0, NULL, STATUS_INVALID_PARAMETER, Names[i]);
        BiDgArgCase(BiArgSendMessages, &Defects[i], 0, (PSOCKADDR)&BiDgAddr, 0, NULL, STATUS_INVALID_PARAMETER,
                    Names[i]);
    }
    BiDgArgCase(BiArgSendTo, NULL, 0, (PSOCKADDR)&BiDgAddr, 0, NULL, STATUS_INVALID_PARAMETER, "NULL WSK_BUF");
    BiDgArgCase(BiArgReceiveFrom, NULL, 0, NULL, 0, NULL, STATUS_INVALID_PARAMETER, "NULL WSK_BUF");
    BiDgArgCase(BiArgSendMessages, NULL, 0, (PSOCKADDR)&BiDgAddr, 0, NULL, STATUS_INVALID_PARAMETER,
                "NULL WSK_BUF_LIST");
}

static VOID BiDgFlagCases(VOID)
{
    char What[64];
    ULONG Bit;

    /* Flags are reserved in every datagram call: any bit is STATUS_INVALID_PARAMETER. */
    for (Bit = 0; Bit < 32; Bit++) {
        ULONG Flag = 1u << Bit;
        BI_CALL Call;
        PIRP Irp;

        snprintf(What, sizeof(What), "Flags 0x%08lX", (unsigned long)Flag);
        BiDgArgCase(BiArgSendTo, BiDgGood16(), Flag, (PSOCKADDR)&BiDgAddr, 0, NULL, STATUS_INVALID_PARAMETER, What);
        BiDgArgCase(BiArgReceiveFrom, BiDgGood16(), Flag, NULL, 0, NULL, STATUS_INVALID_PARAMETER, What);
        BiDgArgCase(BiArgSendMessages, BiDgGood16(), Flag, (PSOCKADDR)&BiDgAddr, 0, NULL, STATUS_INVALID_PARAMETER,
                    What);
        Irp = BiBegin(&Call, BiIrpFresh);
        BiEnd(&Call, BiDg->WskBind(BiDgUnbound, (PSOCKADDR)&Fx.Loopback, Flag, Irp), STATUS_INVALID_PARAMETER, 0,
              "datagram WskBind(%s)", What);
    }
}

static VOID BiDgAddressCases(VOID)
{
    static const USHORT BadFamilies[] = {AF_UNSPEC, AF_UNIX, 10 /* Linux's AF_INET6 */, 99, 0xFFFF};
    static SOCKADDR_STORAGE Bad;
    char What[96];
    size_t i;
    BI_CALL Call;
    PIRP Irp;

    for (i = 0; i < ARRAYSIZE(BadFamilies); i++) {
        BiFamilyAddress(&Bad, BadFamilies[i]);
        snprintf(What, sizeof(What), "RemoteAddress of family %u", BadFamilies[i]);
        BiDgArgCase(BiArgSendTo, BiDgGood16(), 0, (PSOCKADDR)&Bad, 0, NULL, STATUS_NOT_SUPPORTED, What);
        BiDgArgCase(BiArgSendMessages, BiDgGood16(), 0, (PSOCKADDR)&Bad, 0, NULL, STATUS_NOT_SUPPORTED, What);
        Irp = BiBegin(&Call, BiIrpFresh);
        BiEnd(&Call, BiDg->WskBind(BiDgUnbound, (PSOCKADDR)&Bad, 0, Irp), STATUS_NOT_SUPPORTED, 0,
              "datagram WskBind(address of family %u)", BadFamilies[i]);
    }
    BiDgArgCase(BiArgSendTo, BiDgGood16(), 0, (PSOCKADDR)&Fx.Loopback6Port, 0, NULL, STATUS_INVALID_PARAMETER,
                "RemoteAddress of the other family");
    BiDgArgCase(BiArgSendMessages, BiDgGood16(), 0, (PSOCKADDR)&Fx.Loopback6Port, 0, NULL, STATUS_INVALID_PARAMETER,
                "RemoteAddress of the other family");
    /* No address, and none set with SIO_WSK_SET_*_ADDRESS: nowhere to send. */
    BiDgArgCase(BiArgSendTo, BiDgGood16(), 0, NULL, 0, NULL, STATUS_INVALID_PARAMETER, "NULL RemoteAddress, no default");
    BiDgArgCase(BiArgSendMessages, BiDgGood16(), 0, NULL, 0, NULL, STATUS_INVALID_PARAMETER,
                "NULL RemoteAddress, no default");
    Irp = BiBegin(&Call, BiIrpFresh);
    BiEnd(&Call, BiDg->WskBind(BiDgUnbound, NULL, 0, Irp), STATUS_INVALID_PARAMETER, 0, "datagram WskBind(NULL)");
    Irp = BiBegin(&Call, BiIrpFresh);
    BiEnd(&Call, BiDg->WskBind(BiDgUnbound, (PSOCKADDR)&Fx.Any6, 0, Irp), STATUS_INVALID_PARAMETER, 0,
          "datagram WskBind(address of the other family)");
    Irp = BiBegin(&Call, BiIrpFresh);
    BiEnd(&Call, BiDg->WskGetLocalAddress(BiDgBound, NULL, Irp), STATUS_INVALID_PARAMETER, 0,
          "datagram WskGetLocalAddress(NULL LocalAddress)");
    Irp = BiBegin(&Call, BiIrpFresh);
    BiEnd(&Call, BiDg->WskGetLocalAddress(BiDgUnbound, (PSOCKADDR)&BiDgRemote, Irp), STATUS_INVALID_DEVICE_STATE, 0,
          "datagram WskGetLocalAddress(unbound socket)");
}

/* A CMSGHDR buffer: one header with cmsg_len Length (level IPPROTO_IP, type IP_PKTINFO). */
static PVOID BiDgCmsg(SIZE_T Length)
{
    CMSGHDR *C = (CMSGHDR *)BiDgControl;

    memset(BiDgControl, 0, sizeof(BiDgControl));
    C->cmsg_len = Length;
    C->cmsg_level = IPPROTO_IP;
    C->cmsg_type = IP_PKTINFO;
    return BiDgControl;
}

static VOID BiDgControlCases(VOID)
{
    static const struct {
        const char *Name;
        SIZE_T CmsgLen;
        ULONG Length;
    } Malformed[] = {
        {"cmsg_len 0", 0, 24},
        {"cmsg_len shorter than the header", 15, 24},
        {"cmsg_len past the buffer", 32, 24},
        {"cmsg_len SIZE_MAX", (SIZE_T)-1, 24},
        {"IP_PKTINFO of the wrong size", WSA_CMSG_LEN(4), 24},
    };
    size_t i;
    int Fn;

    /* Choice: ControlInfoLength without ControlInfo is STATUS_INVALID_PARAMETER (as WskSendEx). */
    for (Fn = BiArgSendTo; Fn <= BiArgSendMessages; Fn++) {
        if (Fn == BiArgReceiveFrom) {
            continue;
        }
        BiDgArgCase((BI_DG_ARG_FN)Fn, BiDgGood16(), 0, (PSOCKADDR)&BiDgAddr, 24, NULL, STATUS_INVALID_PARAMETER,
                    "ControlInfoLength 24, NULL ControlInfo");
        for (i = 0; i < ARRAYSIZE(Malformed); i++) {
            BiDgArgCase((BI_DG_ARG_FN)Fn, BiDgGood16(), 0, (PSOCKADDR)&BiDgAddr, Malformed[i].Length,
                        BiDgCmsg(Malformed[i].CmsgLen), STATUS_INVALID_PARAMETER, Malformed[i].Name);
        }
    }
    /* Choice: a *ControlLength without ControlInfo is STATUS_INVALID_PARAMETER. */
    BiDgArgCase(BiArgReceiveFrom, BiDgGood16(), 0, NULL, 64, NULL, STATUS_INVALID_PARAMETER,
                "*ControlLength 64, NULL ControlInfo");
}

/* WSK_BUF_LISTs: a defect in a later element, a cycle. */
static VOID BiDgListCases(VOID)
{
    static WSK_BUF_LIST List[3];
    BI_CALL Call;
    PIRP Irp;

    List[0].Next = &List[1];
    List[0].Buffer = *BiDgGood16();
    List[1].Next = &List[2];
    List[1].Buffer = *BiDgGood16();
    List[2].Next = NULL;
    List[2].Buffer.Mdl = NULL;
    List[2].Buffer.Offset = 0;
    List[2].Buffer.Length = 8;
    Irp = BiBegin(&Call, BiIrpFresh);
    BiEnd(&Call, BiDg->WskSendMessages(BiDgBound, List, 0, (PSOCKADDR)&BiDgAddr, 0, NULL, Irp),
          STATUS_INVALID_PARAMETER, 0, "WskSendMessages(third element: NULL Mdl, Length 8)");
    List[2].Buffer.Mdl = Fx.Single;
    List[2].Buffer.Length = BI_SINGLE_BYTES + 1;
    Irp = BiBegin(&Call, BiIrpFresh);
    BiEnd(&Call, BiDg->WskSendMessages(BiDgBound, List, 0, (PSOCKADDR)&BiDgAddr, 0, NULL, Irp),
          STATUS_INVALID_PARAMETER, 0, "WskSendMessages(third element longer than its MDL)");
    /* Choice: a list that does not end (longer than 65,536 elements) is STATUS_INVALID_PARAMETER. */
    List[2].Buffer.Length = 16;
    List[2].Next = &List[0];
    Irp = BiBegin(&Call, BiIrpFresh);
    BiEnd(&Call, BiDg->WskSendMessages(BiDgBound, List, 0, (PSOCKADDR)&BiDgAddr, 0, NULL, Irp),
          STATUS_INVALID_PARAMETER, 0, "WskSendMessages(a cyclic WSK_BUF_LIST)");
    List[2].Next = NULL;
}

static VOID BiDgReleaseCases(VOID)
{
    static WSK_DATAGRAM_INDICATION Fake;

    BiExpect(BiDg->WskRelease(BiDgBound, NULL), STATUS_INVALID_PARAMETER, "datagram WskRelease(NULL indication)");
    BiExpect(BiDg->WskRelease(BiDgBound, (PWSK_DATAGRAM_INDICATION)BiForeign), STATUS_INVALID_PARAMETER,
             "datagram WskRelease(foreign indication)");
    Fake.Next = NULL;
    BiExpect(BiDg->WskRelease(BiDgBound, &Fake), STATUS_INVALID_PARAMETER,
             "datagram WskRelease(a WSK_DATAGRAM_INDICATION of the client's)");
}

/* SIO_WSK_SET_REMOTE_ADDRESS / SIO_WSK_SET_SENDTO_ADDRESS. */
static VOID BiDgIoctlCase(PWSK_SOCKET Socket, ULONG Code, SIZE_T Size, PVOID In, BI_IRP_KIND Kind, NTSTATUS Expected,
                          const char *What)
{
    BI_CALL Call;
    PIRP Irp = BiBegin(&Call, Kind);
    NTSTATUS Status = BiDg->WskControlSocket(Socket, WskIoctl, Code, 0, Size, In, 0, NULL, NULL, Irp);

    BiEnd(&Call, Status, Expected, 0, "WskControlSocket(%s, %s, %s)",
          Code == SIO_WSK_SET_REMOTE_ADDRESS ? "SIO_WSK_SET_REMOTE_ADDRESS" : "SIO_WSK_SET_SENDTO_ADDRESS", What,
          BiIrpKindName[Kind]);
}

static VOID BiDgIoctlCases(VOID)
{
    static const ULONG Codes[] = {SIO_WSK_SET_REMOTE_ADDRESS, SIO_WSK_SET_SENDTO_ADDRESS};
    static const USHORT BadFamilies[] = {AF_UNSPEC, AF_UNIX, 10, 99};
    static SOCKADDR_STORAGE Bad;
    char What[96];
    size_t c, i;
    int Kind;

    for (c = 0; c < ARRAYSIZE(Codes); c++) {
        /* The IRP is required (reference 3.4): without one, nothing is completed. */
        for (Kind = BiIrpNone; Kind < BiIrpKinds; Kind++) {
            BiDgIoctlCase(BiDgBound, Codes[c], sizeof(BiDgAddr), &BiDgAddr, (BI_IRP_KIND)Kind,
                          STATUS_INVALID_PARAMETER, "good address");
        }
        BiDgIoctlCase(BiDgBound, Codes[c], 1, &BiDgAddr, BiIrpFresh, STATUS_INVALID_PARAMETER, "InputSize 1");
        BiDgIoctlCase(BiDgBound, Codes[c], sizeof(SOCKADDR_IN) - 1, &BiDgAddr, BiIrpFresh, STATUS_INVALID_PARAMETER,
                      "InputSize one short of a SOCKADDR_IN");
        BiDgIoctlCase(BiDgBound, Codes[c], sizeof(SOCKADDR_IN), &Fx.Loopback6Port, BiIrpFresh,
                      STATUS_INVALID_PARAMETER, "a SOCKADDR_IN6 in 16 bytes");
        BiDgIoctlCase(BiDgBound, Codes[c], sizeof(SOCKADDR_IN6), &Fx.Loopback6Port, BiIrpFresh,
                      STATUS_INVALID_PARAMETER, "an address of the other family");
        for (i = 0; i < ARRAYSIZE(BadFamilies); i++) {
            BiFamilyAddress(&Bad, BadFamilies[i]);
            snprintf(What, sizeof(What), "address of family %u", BadFamilies[i]);
            BiDgIoctlCase(BiDgBound, Codes[c], sizeof(Bad), &Bad, BiIrpFresh, STATUS_NOT_SUPPORTED, What);
        }
        BiDgIoctlCase(BiDgUnbound, Codes[c], sizeof(BiDgAddr), &BiDgAddr, BiIrpFresh, STATUS_INVALID_DEVICE_STATE,
                      "unbound socket");
        /* Choice: another category's IOCTL is STATUS_NOT_SUPPORTED (as SIO_WSK_SET_TCP_SILENT_MODE on a listener). */
        BiDgIoctlCase(Fx.ListenBound, Codes[c], sizeof(BiDgAddr), &BiDgAddr, BiIrpFresh, STATUS_NOT_SUPPORTED,
                      "listening socket");
        BiDgIoctlCase(Fx.Active, Codes[c], sizeof(BiDgAddr), &BiDgAddr, BiIrpFresh, STATUS_NOT_SUPPORTED,
                      "connection socket");
    }
}

static VOID BiDgTearDown(VOID)
{
    PWSK_SOCKET *Sockets[] = {&BiDgBound, &BiDgUnbound};
    size_t i;

    for (i = 0; i < ARRAYSIZE(Sockets); i++) {
        if (*Sockets[i] != NULL) {
            BiExpect(BiCloseSocket(*Sockets[i]), STATUS_SUCCESS, "datagram teardown: WskCloseSocket");
            *Sockets[i] = NULL;
        }
    }
}

VOID BiDatagramCases(VOID)
{
    if (BiDgSetUp()) {
        BiDgMatrix();
        BiDgOtherTables();
        BiDgBufferCases();
        BiDgFlagCases();
        BiDgAddressCases();
        BiDgControlCases();
        BiDgListCases();
        BiDgReleaseCases();
        BiDgIoctlCases();
    }
    BiDgTearDown();
}
