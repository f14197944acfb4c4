/*
 * bad_input_buf.c: WSK_BUF defects (NULL, NULL Mdl with a length, Offset outside the first
 * MDL, Length beyond the MDL chain) for every function taking one; the flag bits of
 * WskSend, WskSendEx, WskReceive, WskReceiveEx and WskDisconnect; WskRelease of NULL,
 * foreign and already released indications.
 *
 * The connected pair Fx.Active/Fx.Passive is the socket, so a buffer's defect is the only
 * thing wrong with a call. Disconnect cases come last (a wrongly accepted one would end
 * the connection).
 */
#include "bad_input.h"

#include <stdio.h>
#include <string.h>

typedef enum _BI_BUF_MDL { BiNoMdl, BiSingleMdl, BiChainMdl } BI_BUF_MDL;

static const struct {
    const char *Name;
    BOOLEAN NullBuf; /* a NULL PWSK_BUF */
    BI_BUF_MDL Mdl;
    ULONG Offset;
    SIZE_T Length;
} BiBufDefects[] = {
    {"NULL WSK_BUF", TRUE, BiNoMdl, 0, 0},
    {"NULL Mdl, Length 1", FALSE, BiNoMdl, 0, 1},
    {"NULL Mdl, Length 4096", FALSE, BiNoMdl, 0, 4096},
    {"NULL Mdl, Offset 5, Length 0", FALSE, BiNoMdl, 5, 0},
    {"Offset at the end of the MDL", FALSE, BiSingleMdl, BI_SINGLE_BYTES, 1},
    {"Offset past the MDL", FALSE, BiSingleMdl, 1000, 1},
    {"Offset 0xFFFFFFFF", FALSE, BiSingleMdl, 0xFFFFFFFF, 1},
    {"Offset past the MDL, Length 0", FALSE, BiSingleMdl, BI_SINGLE_BYTES + 44, 0},
    {"Length one beyond the MDL", FALSE, BiSingleMdl, 0, BI_SINGLE_BYTES + 1},
    {"Length beyond the MDL from Offset", FALSE, BiSingleMdl, 100, BI_SINGLE_BYTES - 99},
    {"Length SIZE_MAX", FALSE, BiSingleMdl, 0, (SIZE_T)-1},
    {"Length one beyond the MDL chain", FALSE, BiChainMdl, 0, BI_CHAIN_FIRST + BI_CHAIN_SECOND + 1},
    {"Length beyond the chain from Offset", FALSE, BiChainMdl, 1000, BI_CHAIN_FIRST + BI_CHAIN_SECOND - 999},
    {"Offset in the second MDL of the chain", FALSE, BiChainMdl, BI_CHAIN_FIRST, 1},
    {"Offset past the whole chain", FALSE, BiChainMdl, BI_CHAIN_FIRST + BI_CHAIN_SECOND + 10, 1},
    {"chain, Length SIZE_MAX", FALSE, BiChainMdl, 0, (SIZE_T)-1},
};

/* The WSK_BUF of defect i (NULL for the NULL one); static: a wrongly taken call may use it later. */
static PWSK_BUF BiDefectBuf(size_t i)
{
    static WSK_BUF Buffers[ARRAYSIZE(BiBufDefects)];
    PWSK_BUF Buffer = &Buffers[i];

    if (BiBufDefects[i].NullBuf) {
        return NULL;
    }
    Buffer->Mdl = BiBufDefects[i].Mdl == BiNoMdl ? NULL : BiBufDefects[i].Mdl == BiSingleMdl ? Fx.Single : Fx.ChainHead;
    Buffer->Offset = BiBufDefects[i].Offset;
    Buffer->Length = BiBufDefects[i].Length;
    return Buffer;
}

/* A good buffer: 16 bytes of the single MDL. */
static PWSK_BUF BiGood16(VOID)
{
    static WSK_BUF Buffer;

    Buffer.Mdl = Fx.Single;
    Buffer.Offset = 0;
    Buffer.Length = 16;
    return &Buffer;
}

/* An empty buffer: no MDL, nothing to transfer. */
static PWSK_BUF BiEmpty(VOID)
{
    static WSK_BUF Buffer;

    Buffer.Mdl = NULL;
    Buffer.Offset = 0;
    Buffer.Length = 0;
    return &Buffer;
}

typedef enum _BI_BUF_FN {
    BiBufSend,
    BiBufReceive,
    BiBufSendEx,
    BiBufReceiveEx,
    BiBufDisconnect,
    BiBufConnectEx
} BI_BUF_FN;

static const char *const BiBufFnName[] = {"WskSend", "WskReceive", "WskSendEx", "WskReceiveEx", "WskDisconnect",
                                          "WskConnectEx"};

static NTSTATUS BiCallBufFn(BI_BUF_FN Fn, PWSK_BUF Buffer, ULONG Flags, PIRP Irp)
{
    const WSK_PROVIDER_CONNECTION_DISPATCH *C = Fx.Connection;

    switch (Fn) {
    case BiBufSend:
        return C->WskSend(Fx.Active, Buffer, Flags, Irp);
    case BiBufReceive:
        return C->WskReceive(Fx.Active, Buffer, Flags, Irp);
    case BiBufSendEx:
        return C->WskSendEx(Fx.Active, Buffer, Flags, 0, NULL, Irp);
    case BiBufReceiveEx:
        return C->WskReceiveEx(Fx.Active, Buffer, Flags, NULL, NULL, NULL, Irp);
    case BiBufDisconnect:
        return C->WskDisconnect(Fx.Active, Buffer, Flags, Irp);
    case BiBufConnectEx:
    default:
        return C->WskConnectEx(Fx.ConnBound, (PSOCKADDR)&Fx.ListenAddr, Buffer, Flags, Irp);
    }
}

static VOID BiBufCase(BI_BUF_FN Fn, PWSK_BUF Buffer, ULONG Flags, NTSTATUS Expected, const char *What)
{
    BI_CALL Call;
    PIRP Irp = BiBegin(&Call, BiIrpFresh);

    BiEnd(&Call, BiCallBufFn(Fn, Buffer, Flags, Irp), Expected, 0, "%s(%s)", BiBufFnName[Fn], What);
}

/* Every WSK_BUF defect for Fn (the NULL WSK_BUF only where the buffer is required). */
static VOID BiBufDefectCases(BI_BUF_FN Fn, BOOLEAN BufferOptional)
{
    size_t i;

    for (i = 0; i < ARRAYSIZE(BiBufDefects); i++) {
        if (BiBufDefects[i].NullBuf && BufferOptional) {
            continue;
        }
        BiBufCase(Fn, BiDefectBuf(i), 0, STATUS_INVALID_PARAMETER, BiBufDefects[i].Name);
    }
}

/* Every flag bit not in Valid (Send: the call is a send, where bit 0 is WSK_FLAG_OOB). */
static VOID BiFlagBitCases(BI_BUF_FN Fn, ULONG Valid, PWSK_BUF Buffer, BOOLEAN Send)
{
    char What[64];
    ULONG Bit;

    for (Bit = 0; Bit < 32; Bit++) {
        ULONG Flag = 1u << Bit;

        if (Flag & Valid) {
            continue;
        }
        snprintf(What, sizeof(What), "Flags 0x%08lX", (unsigned long)Flag);
        /* WSK_FLAG_OOB is a known send flag TCP here does not offer: STATUS_NOT_SUPPORTED (reference 3.7). */
        BiBufCase(Fn, Buffer, Flag, Send && Flag == WSK_FLAG_OOB ? STATUS_NOT_SUPPORTED : STATUS_INVALID_PARAMETER,
                  What);
    }
}

VOID BiBufferCases(VOID)
{
    static CHAR Control[64];
    static ULONG ControlLength, ControlFlags;
    static WSK_BUF Over;
    BI_CALL Call;
    PIRP Irp;
    NTSTATUS Status;

    BiBufDefectCases(BiBufSend, FALSE);
    BiBufDefectCases(BiBufReceive, FALSE);
    BiBufDefectCases(BiBufSendEx, FALSE);
    BiBufDefectCases(BiBufReceiveEx, FALSE);
    BiBufDefectCases(BiBufConnectEx, TRUE);

    BiFlagBitCases(BiBufSend, WSK_FLAG_NODELAY, BiGood16(), TRUE);
    BiFlagBitCases(BiBufSendEx, WSK_FLAG_NODELAY, BiGood16(), TRUE);
    BiFlagBitCases(BiBufReceive, WSK_FLAG_WAITALL | WSK_FLAG_DRAIN, BiGood16(), FALSE);
    BiFlagBitCases(BiBufReceiveEx, WSK_FLAG_WAITALL | WSK_FLAG_DRAIN, BiGood16(), FALSE);
    BiBufCase(BiBufReceive, BiEmpty(), WSK_FLAG_WAITALL | WSK_FLAG_DRAIN, STATUS_INVALID_PARAMETER,
              "WSK_FLAG_WAITALL | WSK_FLAG_DRAIN");
    BiBufCase(BiBufReceiveEx, BiEmpty(), WSK_FLAG_WAITALL | WSK_FLAG_DRAIN, STATUS_INVALID_PARAMETER,
              "WSK_FLAG_WAITALL | WSK_FLAG_DRAIN");
    BiBufCase(BiBufReceive, BiGood16(), WSK_FLAG_DRAIN, STATUS_INVALID_PARAMETER, "WSK_FLAG_DRAIN with a buffer");
    BiBufCase(BiBufReceiveEx, BiGood16(), WSK_FLAG_DRAIN, STATUS_INVALID_PARAMETER, "WSK_FLAG_DRAIN with a buffer");

    /* WskSendEx: control data announced but absent (choice: a NULL buffer with a length is
     * STATUS_INVALID_PARAMETER, not the STATUS_NOT_SUPPORTED of control data TCP does not take). */
    Irp = BiBegin(&Call, BiIrpFresh);
    Status = Fx.Connection->WskSendEx(Fx.Active, BiGood16(), 0, sizeof(Control), NULL, Irp);
    BiEnd(&Call, Status, STATUS_INVALID_PARAMETER, 0, "WskSendEx(ControlInfoLength 64, NULL ControlInfo)");
    /* A malformed CMSGHDR (cmsg_len shorter than its header) is invalid; a well-formed
     * IP_PKTINFO is control data TCP does not take. */
    memset(Control, 0, sizeof(Control));
    ((PCMSGHDR)Control)->cmsg_len = 4;
    Irp = BiBegin(&Call, BiIrpFresh);
    Status = Fx.Connection->WskSendEx(Fx.Active, BiGood16(), 0, sizeof(Control), (PCMSGHDR)Control, Irp);
    BiEnd(&Call, Status, STATUS_INVALID_PARAMETER, 0, "WskSendEx(cmsg_len 4)");
    ((PCMSGHDR)Control)->cmsg_len = WSA_CMSG_LEN(sizeof(IN_PKTINFO));
    ((PCMSGHDR)Control)->cmsg_level = IPPROTO_IP;
    ((PCMSGHDR)Control)->cmsg_type = IP_PKTINFO;
    Irp = BiBegin(&Call, BiIrpFresh);
    Status = Fx.Connection->WskSendEx(Fx.Active, BiGood16(), 0, (ULONG)WSA_CMSG_SPACE(sizeof(IN_PKTINFO)),
                                      (PCMSGHDR)Control, Irp);
    BiEnd(&Call, Status, STATUS_NOT_SUPPORTED, 0, "WskSendEx(IP_PKTINFO on TCP)");
    /* WskReceiveEx: ControlFlags is reserved, must be NULL (choice: STATUS_INVALID_PARAMETER). */
    ControlLength = sizeof(Control);
    Irp = BiBegin(&Call, BiIrpFresh);
    Status = Fx.Connection->WskReceiveEx(Fx.Active, BiGood16(), 0, &ControlLength, (PCMSGHDR)Control, &ControlFlags,
                                         Irp);
    BiEnd(&Call, Status, STATUS_INVALID_PARAMETER, 0, "WskReceiveEx(non-NULL reserved ControlFlags)");

    /* WskConnectEx: at most 65,535 bytes of first data (reference 3.7: STATUS_BUFFER_OVERFLOW). Last: a
     * wrongly accepted one connects Fx.ConnBound. */
    Over.Mdl = Fx.Big;
    Over.Offset = 0;
    Over.Length = 65536;
    BiBufCase(BiBufConnectEx, &Over, 0, STATUS_BUFFER_OVERFLOW, "65,536 bytes of first data");
}

/* ----- WskRelease ----- */

static NTSTATUS BiSetReceiveEvent(ULONG Mask)
{
    static WSK_EVENT_CALLBACK_CONTROL Control;
    BI_CALL Call;
    PIRP Irp = BiSyncBegin(&Call);

    Control.NpiId = &NPI_WSK_INTERFACE_ID;
    Control.EventMask = Mask;
    return BiSyncEnd(&Call,
                     Fx.Connection->WskControlSocket(Fx.Passive, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                                                     sizeof(Control), &Control, 0, NULL, NULL, Irp),
                     NULL);
}

static NTSTATUS BiSendBytes(SIZE_T Length)
{
    static WSK_BUF Buffer;
    BI_CALL Call;
    PIRP Irp = BiSyncBegin(&Call);

    Buffer.Mdl = Fx.Single;
    Buffer.Offset = 0;
    Buffer.Length = Length;
    return BiSyncEnd(&Call, Fx.Connection->WskSend(Fx.Active, &Buffer, 0, Irp), NULL);
}

VOID BiReleaseCases(VOID)
{
    const WSK_PROVIDER_CONNECTION_DISPATCH *C = Fx.Connection;
    PWSK_DATA_INDICATION Retained;
    NTSTATUS Status;

    BiExpect(C->WskRelease(Fx.Passive, NULL), STATUS_INVALID_PARAMETER, "WskRelease(NULL indication)");
    BiExpect(C->WskRelease(Fx.Passive, (PWSK_DATA_INDICATION)BiForeign), STATUS_INVALID_PARAMETER,
             "WskRelease(foreign indication)");

    /* A real retained indication: WskReceiveEvent on Fx.Passive keeps the first one. */
    Status = BiSetReceiveEvent(WSK_EVENT_RECEIVE);
    if (!NT_SUCCESS(Status)) {
        BiFail("release: enabling WSK_EVENT_RECEIVE on the accepted socket: 0x%08X", (unsigned)Status);
        return;
    }
    Status = BiSendBytes(8);
    if (!NT_SUCCESS(Status) || !BiWait(&BiRetainedEvent)) {
        BiFail("release: no receive indication within 5 s (send: 0x%08X)", (unsigned)Status);
        BiSetReceiveEvent(WSK_EVENT_RECEIVE | WSK_EVENT_DISABLE);
        return;
    }
    /* One more indication: callbacks are serial, so the retention is recorded after it. */
    Status = BiSendBytes(8);
    if (!NT_SUCCESS(Status) || !BiWait(&BiIndicatedAgainEvent)) {
        BiFail("release: no second receive indication within 5 s (send: 0x%08X)", (unsigned)Status);
    }
    Retained = BiRetained;
    BiExpect(C->WskRelease(Fx.Passive, (PWSK_DATA_INDICATION)((PUCHAR)Retained + 8)), STATUS_INVALID_PARAMETER,
             "WskRelease(pointer into a retained indication)");
    BiExpect(C->WskRelease(Fx.Passive, Retained), STATUS_SUCCESS, "WskRelease(retained indication)");
    BiExpect(C->WskRelease(Fx.Passive, Retained), STATUS_INVALID_PARAMETER, "WskRelease(indication released already)");
    BiExpect(C->WskRelease(Fx.Active, Retained), STATUS_INVALID_PARAMETER,
             "WskRelease(indication released already, through the other socket)");
    Status = BiSetReceiveEvent(WSK_EVENT_RECEIVE | WSK_EVENT_DISABLE);
    if (!NT_SUCCESS(Status)) {
        BiFail("release: disabling WSK_EVENT_RECEIVE: 0x%08X", (unsigned)Status);
    }
}

/* ----- WskDisconnect: last, as one wrongly taken ends the connection ----- */

VOID BiDisconnectCases(VOID)
{
    BiBufDefectCases(BiBufDisconnect, TRUE);
    BiFlagBitCases(BiBufDisconnect, WSK_FLAG_ABORTIVE, NULL, FALSE);
    BiBufCase(BiBufDisconnect, BiGood16(), WSK_FLAG_ABORTIVE, STATUS_INVALID_PARAMETER,
              "WSK_FLAG_ABORTIVE with a final buffer");
}
