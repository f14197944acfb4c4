/*
 * bad_input_client.c: registration (WskRegister … WskDeregister) and the provider-level
 * functions (WskSocket, WskSocketConnect, WskControlClient, WskGetAddressInfo,
 * WskFreeAddressInfo, WskGetNameInfo) with bad input, while the suite's registration is live.
 */
#include "bad_input.h"

#include <string.h>

static const WSK_CLIENT_DISPATCH BiDispatch10 = {MAKE_WSK_VERSION(1, 0), 0, NULL};
static const WSK_CLIENT_DISPATCH BiDispatch20 = {MAKE_WSK_VERSION(2, 0), 0, NULL};
static const WSK_CLIENT_DISPATCH BiDispatch05 = {MAKE_WSK_VERSION(0, 5), 0, NULL};

/* A GUID that is not NPI_WSK_INTERFACE_ID. */
static const NPIID BiOtherNpiId = {0x12345678, 0x1234, 0x5678, {1, 2, 3, 4, 5, 6, 7, 8}};

/* Arguments the provider-level calls below point to; static, as a call gone wrong may
 * still write them after the case. */
static SOCKADDR_IN BiAny4;     /* 0.0.0.0:0 */
static SOCKADDR_IN BiRemote1;  /* 127.0.0.1:1, nobody listens: a wrongly accepted connect fails */
static WSK_TRANSPORT BiTransports[16];
static SIZE_T BiReturnedSize;
static PADDRINFOEXW BiAddrInfo;
static UNICODE_STRING BiNodeName;
static WCHAR BiNodeBuffer[256];
static UNICODE_STRING BiNodeOut;

/* ----- the provider-level functions, with good arguments ----- */

static const char *const BiClientFnName[BiClientFns] = {"WskSocket", "WskSocketConnect", "WskControlClient",
                                                        "WskGetAddressInfo", "WskGetNameInfo"};
const ULONG BiClientFnFlags[BiClientFns] = {BI_MAY_CREATE, BI_MAY_CREATE, BI_IRP_OPTIONAL, 0, 0};

static VOID BiInitArguments(VOID)
{
    BiAny4.sin_family = AF_INET;
    BiRemote1.sin_family = AF_INET;
    BiRemote1.sin_port = htons(1);
    BiRemote1.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    RtlInitUnicodeString(&BiNodeName, L"localhost");
    BiNodeOut.Buffer = BiNodeBuffer;
    BiNodeOut.Length = 0;
    BiNodeOut.MaximumLength = sizeof(BiNodeBuffer);
}

NTSTATUS BiCallClientFn(const WSK_PROVIDER_DISPATCH *Provider, BI_CLIENT_FN Fn, PWSK_CLIENT Client, PIRP Irp)
{
    switch (Fn) {
    case BiFnSocket:
        return Provider->WskSocket(Client, AF_INET, SOCK_STREAM, IPPROTO_TCP, WSK_FLAG_LISTEN_SOCKET, NULL, NULL, NULL,
                                   NULL, NULL, Irp);
    case BiFnSocketConnect:
        return Provider->WskSocketConnect(Client, SOCK_STREAM, IPPROTO_TCP, (PSOCKADDR)&BiAny4,
                                          (PSOCKADDR)&BiRemote1, 0, NULL, NULL, NULL, NULL, NULL, Irp);
    case BiFnControlClient:
        return Provider->WskControlClient(Client, WSK_TRANSPORT_LIST_QUERY, 0, NULL, sizeof(BiTransports),
                                          BiTransports, &BiReturnedSize, Irp);
    case BiFnGetAddressInfo:
        return Provider->WskGetAddressInfo(Client, &BiNodeName, NULL, NS_ALL, NULL, NULL, &BiAddrInfo, NULL, NULL,
                                           Irp);
    case BiFnGetNameInfo:
    default:
        return Provider->WskGetNameInfo(Client, (PSOCKADDR)&BiRemote1, sizeof(SOCKADDR_IN), &BiNodeOut, NULL, 0,
                                        NULL, NULL, Irp);
    }
}

/* A list WskGetAddressInfo handed back by mistake goes back to the provider. */
static VOID BiDropAddrInfo(const WSK_PROVIDER_DISPATCH *Provider, PWSK_CLIENT Client)
{
    if (BiAddrInfo != NULL) {
        Provider->WskFreeAddressInfo(Client, BiAddrInfo);
        BiAddrInfo = NULL;
    }
}

/* One provider-level call with a fresh/NULL/no-stack IRP, expecting Expected. */
VOID BiClientCase(const WSK_PROVIDER_DISPATCH *Provider, BI_CLIENT_FN Fn, PWSK_CLIENT Client,
                         BI_IRP_KIND Kind, NTSTATUS Expected, const char *What)
{
    BI_CALL Call;
    PIRP Irp = BiBegin(&Call, Kind);
    NTSTATUS Status = BiCallClientFn(Provider, Fn, Client, Irp);

    BiEnd(&Call, Status, Expected, BiClientFnFlags[Fn], "%s(%s, %s)", BiClientFnName[Fn], What, BiIrpKindName[Kind]);
    BiDropAddrInfo(Provider, Fx.WskClient);
}

/* ----- registration ----- */

static WSK_REGISTRATION BiUnknownRegistration; /* never registered */

static VOID BiVersionCase(const WSK_CLIENT_DISPATCH *Dispatch, const char *Version)
{
    WSK_CLIENT_NPI Npi = {NULL, Dispatch};
    WSK_REGISTRATION Registration;
    WSK_PROVIDER_NPI ProviderNpi;
    WSK_PROVIDER_CHARACTERISTICS Characteristics;
    NTSTATUS Status;

    memset(&Registration, 0, sizeof(Registration));
    Status = WskRegister(&Npi, &Registration);
    if (!BiExpect(Status, STATUS_SUCCESS, "WskRegister(client version %s)", Version)) {
        return;
    }
    Status = WskCaptureProviderNPI(&Registration, WSK_NO_WAIT, &ProviderNpi);
    BiExpect(Status, STATUS_NOINTERFACE, "WskCaptureProviderNPI(client version %s)", Version);
    if (NT_SUCCESS(Status)) {
        WskReleaseProviderNPI(&Registration);
    }
    Status = WskQueryProviderCharacteristics(&Registration, &Characteristics);
    BiExpect(Status, STATUS_SUCCESS, "WskQueryProviderCharacteristics(client version %s)", Version);
    WskDeregister(&Registration);
}

VOID BiRegistrationCases(VOID)
{
    WSK_CLIENT_NPI Good = {NULL, &BiDispatch10};
    WSK_CLIENT_NPI NoDispatch = {NULL, NULL};
    WSK_REGISTRATION Registration;
    WSK_PROVIDER_NPI ProviderNpi;
    WSK_PROVIDER_CHARACTERISTICS Characteristics;
    static const WSK_REGISTRATION Zero;
    PWSK_REGISTRATION Foreign = (PWSK_REGISTRATION)BiForeign;

    BiInitArguments();
    memset(&Registration, 0, sizeof(Registration));
    BiExpect(WskRegister(NULL, NULL), STATUS_INVALID_PARAMETER, "WskRegister(NULL, NULL)");
    BiExpect(WskRegister(NULL, &Registration), STATUS_INVALID_PARAMETER, "WskRegister(NULL client NPI)");
    BiExpect(WskRegister(&Good, NULL), STATUS_INVALID_PARAMETER, "WskRegister(NULL registration)");
    BiExpect(WskRegister(&NoDispatch, &Registration), STATUS_INVALID_PARAMETER, "WskRegister(NULL client dispatch)");

    BiExpect(WskCaptureProviderNPI(NULL, WSK_NO_WAIT, &ProviderNpi), STATUS_INVALID_PARAMETER,
             "WskCaptureProviderNPI(NULL registration)");
    BiExpect(WskCaptureProviderNPI(NULL, 10, NULL), STATUS_INVALID_PARAMETER,
             "WskCaptureProviderNPI(NULL registration, NULL NPI)");
    BiExpect(WskCaptureProviderNPI(&BiUnknownRegistration, WSK_NO_WAIT, &ProviderNpi), STATUS_INVALID_PARAMETER,
             "WskCaptureProviderNPI(unknown registration, WSK_NO_WAIT)");
    BiExpect(WskCaptureProviderNPI(&BiUnknownRegistration, 10, &ProviderNpi), STATUS_INVALID_PARAMETER,
             "WskCaptureProviderNPI(unknown registration, 10 ms)");
    BiExpect(WskCaptureProviderNPI(Foreign, WSK_NO_WAIT, &ProviderNpi), STATUS_INVALID_PARAMETER,
             "WskCaptureProviderNPI(foreign registration)");
    BiExpect(WskQueryProviderCharacteristics(NULL, &Characteristics), STATUS_INVALID_PARAMETER,
             "WskQueryProviderCharacteristics(NULL registration)");
    BiExpect(WskQueryProviderCharacteristics(NULL, NULL), STATUS_INVALID_PARAMETER,
             "WskQueryProviderCharacteristics(NULL, NULL)");
    BiExpect(WskQueryProviderCharacteristics(&BiUnknownRegistration, &Characteristics), STATUS_INVALID_PARAMETER,
             "WskQueryProviderCharacteristics(unknown registration)");
    BiExpect(WskQueryProviderCharacteristics(Foreign, &Characteristics), STATUS_INVALID_PARAMETER,
             "WskQueryProviderCharacteristics(foreign registration)");
    WskReleaseProviderNPI(NULL);
    BiReturned("WskReleaseProviderNPI(NULL)");
    WskReleaseProviderNPI(&BiUnknownRegistration);
    BiReturned("WskReleaseProviderNPI(unknown registration)");
    WskDeregister(NULL);
    BiReturned("WskDeregister(NULL)");
    WskDeregister(&BiUnknownRegistration);
    BiReturned("WskDeregister(unknown registration)");
    BiTrue(memcmp(&BiUnknownRegistration, &Zero, sizeof(Zero)) == 0,
           "an unknown WSK_REGISTRATION is not written by the calls above");

    BiVersionCase(&BiDispatch20, "2.0");
    BiVersionCase(&BiDispatch05, "0.5");
}

/* WSK_SET_STATIC_EVENT_CALLBACKS with a bad input; only before any socket is created. */
static VOID BiStaticCallbacksCase(SIZE_T Size, PVOID Input, BI_IRP_KIND Kind, NTSTATUS Expected, const char *What)
{
    BI_CALL Call;
    PIRP Irp = BiBegin(&Call, Kind);
    NTSTATUS Status =
        Fx.Provider->WskControlClient(Fx.WskClient, WSK_SET_STATIC_EVENT_CALLBACKS, Size, Input, 0, NULL, NULL, Irp);

    BiEnd(&Call, Status, Expected, BI_IRP_OPTIONAL, "WskControlClient(WSK_SET_STATIC_EVENT_CALLBACKS, %s, %s)", What,
          BiIrpKindName[Kind]);
}

VOID BiRegisteredCases(VOID)
{
    static WSK_EVENT_CALLBACK_CONTROL Control;
    WSK_PROVIDER_NPI ProviderNpi;
    NTSTATUS Status;
    ULONG Bit;
    int Kind;
    const ULONG Valid = WSK_EVENT_SEND_BACKLOG | WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT | WSK_EVENT_RECEIVE_FROM |
                        WSK_EVENT_ACCEPT | WSK_EVENT_DISABLE;

    BiExpect(WskRegister(&Fx.ClientNpi, &Fx.Registration), STATUS_INVALID_PARAMETER,
             "WskRegister(a registration already registered)");
    Status = WskCaptureProviderNPI(&Fx.Registration, WSK_NO_WAIT, &ProviderNpi);
    BiExpect(Status, STATUS_SUCCESS, "WskCaptureProviderNPI after a refused second WskRegister of the block");
    if (NT_SUCCESS(Status)) {
        WskReleaseProviderNPI(&Fx.Registration);
    }
    BiExpect(WskCaptureProviderNPI(&Fx.Registration, WSK_NO_WAIT, NULL), STATUS_INVALID_PARAMETER,
             "WskCaptureProviderNPI(NULL WskProviderNpi)");
    BiExpect(WskQueryProviderCharacteristics(&Fx.Registration, NULL), STATUS_INVALID_PARAMETER,
             "WskQueryProviderCharacteristics(NULL WskProviderCharacteristics)");

    /* Static callbacks: every input defect, before the first socket. RECEIVE_FROM is the
     * mask where one is needed: harmless if wrongly accepted (no datagram sockets here). */
    for (Kind = BiIrpFresh; Kind < BiIrpKinds; Kind++) {
        Control.NpiId = &NPI_WSK_INTERFACE_ID;
        Control.EventMask = WSK_EVENT_RECEIVE_FROM;
        BiStaticCallbacksCase(sizeof(Control), NULL, (BI_IRP_KIND)Kind, STATUS_INVALID_PARAMETER, "NULL input");
        BiStaticCallbacksCase(0, &Control, (BI_IRP_KIND)Kind, STATUS_INVALID_PARAMETER, "InputSize 0");
        BiStaticCallbacksCase(sizeof(Control) - 1, &Control, (BI_IRP_KIND)Kind, STATUS_INVALID_PARAMETER,
                              "InputSize one short");
        BiStaticCallbacksCase(sizeof(PVOID), &Control, (BI_IRP_KIND)Kind, STATUS_INVALID_PARAMETER,
                              "InputSize 8 (NpiId only)");
        Control.NpiId = &BiOtherNpiId;
        BiStaticCallbacksCase(sizeof(Control), &Control, (BI_IRP_KIND)Kind, STATUS_NOT_SUPPORTED,
                              "NpiId of an extension interface");
        Control.NpiId = NULL; /* choice: a NULL pointer inside the input is a bad input */
        BiStaticCallbacksCase(sizeof(Control), &Control, (BI_IRP_KIND)Kind, STATUS_INVALID_PARAMETER, "NULL NpiId");
    }
    Control.NpiId = &NPI_WSK_INTERFACE_ID;
    for (Bit = 0; Bit < 31; Bit++) {
        char What[64];

        if ((1u << Bit) & Valid) {
            continue;
        }
        Control.EventMask = 1u << Bit;
        snprintf(What, sizeof(What), "unknown event bit 0x%08X", 1u << Bit);
        BiStaticCallbacksCase(sizeof(Control), &Control, BiIrpNone, STATUS_INVALID_PARAMETER, What);
    }
    /* Choice: static callbacks "cannot be disabled" (reference 4.4), so WSK_EVENT_DISABLE is a bad bit. */
    Control.EventMask = WSK_EVENT_DISABLE | WSK_EVENT_RECEIVE_FROM;
    BiStaticCallbacksCase(sizeof(Control), &Control, BiIrpNone, STATUS_INVALID_PARAMETER,
                          "WSK_EVENT_DISABLE (static callbacks cannot be disabled)");
    Control.EventMask = WSK_EVENT_RECEIVE_FROM | 0x20;
    BiStaticCallbacksCase(sizeof(Control), &Control, BiIrpFresh, STATUS_INVALID_PARAMETER,
                          "a known and an unknown bit");
}

/* ----- provider-level functions ----- */

/* WskSocket over families x types x protocols x flags; the valid combinations are left out. */
static VOID BiSocketCombinations(VOID)
{
    static const USHORT Families[] = {AF_UNSPEC, AF_UNIX, AF_INET, AF_INET6, 10 /* Linux's AF_INET6 */, 99};
    static const USHORT Types[] = {0, SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET};
    static const ULONG Protocols[] = {0, IPPROTO_TCP, IPPROTO_UDP, 99};
    static const ULONG Flags[] = {WSK_FLAG_BASIC_SOCKET,     WSK_FLAG_LISTEN_SOCKET,
                                  WSK_FLAG_CONNECTION_SOCKET, WSK_FLAG_DATAGRAM_SOCKET,
                                  WSK_FLAG_STREAM_SOCKET,     WSK_FLAG_LISTEN_SOCKET | WSK_FLAG_CONNECTION_SOCKET,
                                  WSK_FLAG_CONNECTION_SOCKET | WSK_FLAG_DATAGRAM_SOCKET,
                                  0x10,                       0x80000000};
    size_t F, T, P, G;

    for (F = 0; F < ARRAYSIZE(Families); F++) {
        for (T = 0; T < ARRAYSIZE(Types); T++) {
            for (P = 0; P < ARRAYSIZE(Protocols); P++) {
                for (G = 0; G < ARRAYSIZE(Flags); G++) {
                    ULONG Flag = Flags[G];
                    BOOLEAN Family = Families[F] == AF_INET || Families[F] == AF_INET6;
                    BOOLEAN Tcp = Types[T] == SOCK_STREAM && (Protocols[P] == 0 || Protocols[P] == IPPROTO_TCP);
                    BOOLEAN Udp = Types[T] == SOCK_DGRAM && (Protocols[P] == 0 || Protocols[P] == IPPROTO_UDP);
                    /* Basic sockets take either transport, datagram sockets UDP. */
                    BOOLEAN Transport =
                        Flag == WSK_FLAG_DATAGRAM_SOCKET ? Udp : (Tcp || (Flag == WSK_FLAG_BASIC_SOCKET && Udp));
                    NTSTATUS Expected;
                    BI_CALL Call;
                    PIRP Irp;
                    NTSTATUS Status;

                    /* Choice where several are wrong: flags, then family, then type/protocol. */
                    if ((Flag & ~0xFu) != 0 || (Flag & (Flag - 1)) != 0) {
                        Expected = STATUS_INVALID_PARAMETER; /* unknown bits or two categories */
                    } else if (!Family) {
                        Expected = STATUS_NOT_SUPPORTED;
                    } else if (!Transport) {
                        Expected = STATUS_NOT_SUPPORTED;
                    } else {
                        continue; /* a valid socket */
                    }
                    Irp = BiBegin(&Call, BiIrpFresh);
                    Status = Fx.Provider->WskSocket(Fx.WskClient, Families[F], Types[T], Protocols[P], Flag, NULL,
                                                    NULL, NULL, NULL, NULL, Irp);
                    BiEnd(&Call, Status, Expected, BI_MAY_CREATE,
                          "WskSocket(family %u, type %u, protocol %lu, flags 0x%lx)", Families[F], Types[T],
                          (unsigned long)Protocols[P], (unsigned long)Flag);
                }
            }
        }
    }
    /* Every unknown flag bit, with an otherwise good TCP listener request. */
    for (G = 4; G < 32; G++) {
        BI_CALL Call;
        PIRP Irp = BiBegin(&Call, BiIrpFresh);
        NTSTATUS Status = Fx.Provider->WskSocket(Fx.WskClient, AF_INET, SOCK_STREAM, IPPROTO_TCP,
                                                 WSK_FLAG_LISTEN_SOCKET | (1u << G), NULL, NULL, NULL, NULL, NULL, Irp);

        BiEnd(&Call, Status, STATUS_INVALID_PARAMETER, BI_MAY_CREATE, "WskSocket(listen | unknown flag 0x%08X)",
              1u << G);
    }
}

/* WskSocketConnect: one defect at a time (remote 127.0.0.1:1, where nobody listens). */
static VOID BiSocketConnectCase(USHORT Type, ULONG Protocol, PSOCKADDR Local, PSOCKADDR Remote, ULONG Flags,
                                NTSTATUS Expected, const char *What)
{
    BI_CALL Call;
    PIRP Irp = BiBegin(&Call, BiIrpFresh);
    NTSTATUS Status = Fx.Provider->WskSocketConnect(Fx.WskClient, Type, Protocol, Local, Remote, Flags, NULL, NULL,
                                                    NULL, NULL, NULL, Irp);

    BiEnd(&Call, Status, Expected, BI_MAY_CREATE, "WskSocketConnect(%s)", What);
}

static VOID BiSocketConnectCases(VOID)
{
    static const USHORT Types[] = {0, SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET};
    static const ULONG Protocols[] = {0, IPPROTO_TCP, IPPROTO_UDP, 99};
    static const USHORT BadFamilies[] = {AF_UNSPEC, AF_UNIX, 10, 99, 0xFFFF};
    static SOCKADDR_STORAGE Bad;
    static SOCKADDR_IN6 Remote6;
    char What[96];
    size_t T, P, F;
    ULONG Bit;

    for (T = 0; T < ARRAYSIZE(Types); T++) {
        for (P = 0; P < ARRAYSIZE(Protocols); P++) {
            if (Types[T] == SOCK_STREAM && (Protocols[P] == 0 || Protocols[P] == IPPROTO_TCP)) {
                continue;
            }
            snprintf(What, sizeof(What), "type %u, protocol %lu", Types[T], (unsigned long)Protocols[P]);
            BiSocketConnectCase(Types[T], Protocols[P], (PSOCKADDR)&BiAny4, (PSOCKADDR)&BiRemote1, 0,
                                STATUS_NOT_SUPPORTED, What);
        }
    }
    for (Bit = 0; Bit < 32; Bit++) {
        snprintf(What, sizeof(What), "Flags 0x%08X", 1u << Bit);
        BiSocketConnectCase(SOCK_STREAM, IPPROTO_TCP, (PSOCKADDR)&BiAny4, (PSOCKADDR)&BiRemote1, 1u << Bit,
                            STATUS_INVALID_PARAMETER, What);
    }
    BiSocketConnectCase(SOCK_STREAM, IPPROTO_TCP, NULL, (PSOCKADDR)&BiRemote1, 0, STATUS_INVALID_PARAMETER,
                        "NULL LocalAddress");
    BiSocketConnectCase(SOCK_STREAM, IPPROTO_TCP, (PSOCKADDR)&BiAny4, NULL, 0, STATUS_INVALID_PARAMETER,
                        "NULL RemoteAddress");
    for (F = 0; F < ARRAYSIZE(BadFamilies); F++) {
        BiFamilyAddress(&Bad, BadFamilies[F]);
        snprintf(What, sizeof(What), "LocalAddress of family %u", BadFamilies[F]);
        BiSocketConnectCase(SOCK_STREAM, IPPROTO_TCP, (PSOCKADDR)&Bad, (PSOCKADDR)&BiRemote1, 0,
                            STATUS_NOT_SUPPORTED, What);
        snprintf(What, sizeof(What), "RemoteAddress of family %u", BadFamilies[F]);
        BiSocketConnectCase(SOCK_STREAM, IPPROTO_TCP, (PSOCKADDR)&BiAny4, (PSOCKADDR)&Bad, 0, STATUS_NOT_SUPPORTED,
                            What);
    }
    Remote6.sin6_family = AF_INET6;
    Remote6.sin6_port = htons(1);
    Remote6.sin6_addr.u.Byte[15] = 1;
    BiSocketConnectCase(SOCK_STREAM, IPPROTO_TCP, (PSOCKADDR)&BiAny4, (PSOCKADDR)&Remote6, 0,
                        STATUS_INVALID_PARAMETER, "AF_INET LocalAddress, AF_INET6 RemoteAddress");
    Remote6.sin6_port = 0;
    Remote6.sin6_addr.u.Byte[15] = 0;
    BiSocketConnectCase(SOCK_STREAM, IPPROTO_TCP, (PSOCKADDR)&Remote6, (PSOCKADDR)&BiRemote1, 0,
                        STATUS_INVALID_PARAMETER, "AF_INET6 LocalAddress, AF_INET RemoteAddress");
}

/* WskControlClient with a bad control code or buffers. */
static VOID BiControlClientCase(ULONG Code, SIZE_T InSize, PVOID In, SIZE_T OutSize, PVOID Out, SIZE_T *Returned,
                                BI_IRP_KIND Kind, NTSTATUS Expected, const char *What)
{
    BI_CALL Call;
    PIRP Irp = BiBegin(&Call, Kind);
    NTSTATUS Status = Fx.Provider->WskControlClient(Fx.WskClient, Code, InSize, In, OutSize, Out, Returned, Irp);

    BiEnd(&Call, Status, Expected, BI_IRP_OPTIONAL, "WskControlClient(%s, %s)", What, BiIrpKindName[Kind]);
}

static VOID BiControlClientCases(VOID)
{
    static const ULONG Unknown[] = {0, 1, 9, 10, 0x100, 0x80000000, 0xFFFFFFFF};
    static ULONG Behavior = WSK_TDI_BEHAVIOR_BYPASS_TDI;
    static WSK_TDI_MAP_INFO MapInfo;
    SIZE_T Needed = 0;
    char What[96];
    size_t i;
    int Kind;

    /* Choice (docs silent on WskControlClient): an unknown code is STATUS_NOT_SUPPORTED, as an
     * unknown option or IOCTL of WskControlSocket is. */
    for (i = 0; i < ARRAYSIZE(Unknown); i++) {
        snprintf(What, sizeof(What), "unknown control code %lu", (unsigned long)Unknown[i]);
        BiControlClientCase(Unknown[i], 0, NULL, 0, NULL, NULL, BiIrpNone, STATUS_NOT_SUPPORTED, What);
        BiControlClientCase(Unknown[i], 0, NULL, 0, NULL, NULL, BiIrpFresh, STATUS_NOT_SUPPORTED, What);
    }
    for (Kind = BiIrpFresh; Kind < BiIrpKinds; Kind++) {
        BiControlClientCase(WSK_TRANSPORT_LIST_QUERY, 0, NULL, sizeof(BiTransports), BiTransports, NULL,
                            (BI_IRP_KIND)Kind, STATUS_INVALID_PARAMETER,
                            "WSK_TRANSPORT_LIST_QUERY, NULL OutputSizeReturned");
        BiControlClientCase(WSK_TDI_BEHAVIOR, 0, NULL, 0, NULL, NULL, (BI_IRP_KIND)Kind, STATUS_INVALID_PARAMETER,
                            "WSK_TDI_BEHAVIOR, NULL input");
    }
    /* Choice: an input shorter than the code needs is STATUS_INVALID_PARAMETER (as for WskControlSocket). */
    BiControlClientCase(WSK_TDI_BEHAVIOR, sizeof(USHORT), &Behavior, 0, NULL, NULL, BiIrpNone,
                        STATUS_INVALID_PARAMETER, "WSK_TDI_BEHAVIOR, InputSize 2");
    BiControlClientCase(WSK_TDI_DEVICENAME_MAPPING, 0, NULL, 0, NULL, NULL, BiIrpNone, STATUS_INVALID_PARAMETER,
                        "WSK_TDI_DEVICENAME_MAPPING, NULL input");
    BiControlClientCase(WSK_TDI_DEVICENAME_MAPPING, sizeof(ULONG), &MapInfo, 0, NULL, NULL, BiIrpNone,
                        STATUS_INVALID_PARAMETER, "WSK_TDI_DEVICENAME_MAPPING, InputSize 4");

    /* Output too short: STATUS_BUFFER_OVERFLOW and the size needed. */
    BiReturnedSize = 0;
    BiControlClientCase(WSK_TRANSPORT_LIST_QUERY, 0, NULL, 0, NULL, &BiReturnedSize, BiIrpNone,
                        STATUS_BUFFER_OVERFLOW, "WSK_TRANSPORT_LIST_QUERY, no output buffer");
    Needed = BiReturnedSize;
    BiTrue(Needed != 0 && Needed % sizeof(WSK_TRANSPORT) == 0 && Needed <= sizeof(BiTransports),
           "WSK_TRANSPORT_LIST_QUERY overflow reports a whole number of WSK_TRANSPORTs (%lu bytes)",
           (unsigned long)Needed);
    if (Needed == 0 || Needed > sizeof(BiTransports)) {
        return;
    }
    for (Kind = BiIrpFresh; Kind <= BiIrpNone; Kind++) {
        BiReturnedSize = 0;
        BiControlClientCase(WSK_TRANSPORT_LIST_QUERY, 0, NULL, Needed - 1, BiTransports, &BiReturnedSize,
                            (BI_IRP_KIND)Kind, STATUS_BUFFER_OVERFLOW, "WSK_TRANSPORT_LIST_QUERY, output one short");
        BiTrue(BiReturnedSize == Needed, "WSK_TRANSPORT_LIST_QUERY one short reports %lu bytes needed (got %lu)",
               (unsigned long)Needed, (unsigned long)BiReturnedSize);
        BiReturnedSize = 0;
        BiControlClientCase(WSK_TRANSPORT_LIST_QUERY, 0, NULL, Needed, NULL, &BiReturnedSize, (BI_IRP_KIND)Kind,
                            STATUS_BUFFER_OVERFLOW, "WSK_TRANSPORT_LIST_QUERY, NULL output buffer of the right size");
        BiControlClientCase(WSK_TRANSPORT_LIST_QUERY, 0, NULL, sizeof(WSK_TRANSPORT) - 1, BiTransports,
                            &BiReturnedSize, (BI_IRP_KIND)Kind, STATUS_BUFFER_OVERFLOW,
                            "WSK_TRANSPORT_LIST_QUERY, output shorter than one WSK_TRANSPORT");
    }
}

/* Name resolution: bad SOCKADDRs and out-parameters (valid client). */
static VOID BiNameCases(VOID)
{
    static const USHORT BadFamilies[] = {AF_UNSPEC, AF_UNIX, 10, 99};
    static SOCKADDR_STORAGE Address;
    static SOCKADDR_IN6 Address6;
    BI_CALL Call;
    PIRP Irp;
    NTSTATUS Status;
    size_t i;

    /* Choice: the required out-parameter NULL is STATUS_INVALID_PARAMETER (a documented return of it). */
    Irp = BiBegin(&Call, BiIrpFresh);
    Status = Fx.Provider->WskGetAddressInfo(Fx.WskClient, &BiNodeName, NULL, NS_ALL, NULL, NULL, NULL, NULL, NULL, Irp);
    BiEnd(&Call, Status, STATUS_INVALID_PARAMETER, 0, "WskGetAddressInfo(NULL Result)");

    Irp = BiBegin(&Call, BiIrpFresh);
    Status = Fx.Provider->WskGetNameInfo(Fx.WskClient, NULL, sizeof(SOCKADDR_IN), &BiNodeOut, NULL, 0, NULL, NULL, Irp);
    BiEnd(&Call, Status, STATUS_INVALID_PARAMETER, 0, "WskGetNameInfo(NULL SockAddr)");
    for (i = 0; i < ARRAYSIZE(BadFamilies); i++) {
        BiFamilyAddress(&Address, BadFamilies[i]);
        Irp = BiBegin(&Call, BiIrpFresh);
        Status = Fx.Provider->WskGetNameInfo(Fx.WskClient, (PSOCKADDR)&Address, sizeof(Address), &BiNodeOut, NULL, 0,
                                             NULL, NULL, Irp);
        BiEnd(&Call, Status, STATUS_NOT_SUPPORTED, 0, "WskGetNameInfo(SockAddr of family %u)", BadFamilies[i]);
    }
    /* Choice: a SockAddrLength shorter than the family's SOCKADDR is STATUS_INVALID_PARAMETER. */
    for (i = 0; i < 3; i++) {
        static const ULONG Lengths[] = {0, 8, sizeof(SOCKADDR_IN) - 1};

        Irp = BiBegin(&Call, BiIrpFresh);
        Status = Fx.Provider->WskGetNameInfo(Fx.WskClient, (PSOCKADDR)&BiRemote1, Lengths[i], &BiNodeOut, NULL, 0,
                                             NULL, NULL, Irp);
        BiEnd(&Call, Status, STATUS_INVALID_PARAMETER, 0, "WskGetNameInfo(AF_INET SockAddrLength %lu)",
              (unsigned long)Lengths[i]);
    }
    Address6.sin6_family = AF_INET6;
    Address6.sin6_addr.u.Byte[15] = 1;
    Irp = BiBegin(&Call, BiIrpFresh);
    Status = Fx.Provider->WskGetNameInfo(Fx.WskClient, (PSOCKADDR)&Address6, sizeof(SOCKADDR_IN), &BiNodeOut, NULL, 0,
                                         NULL, NULL, Irp);
    BiEnd(&Call, Status, STATUS_INVALID_PARAMETER, 0, "WskGetNameInfo(AF_INET6 SockAddrLength 16)");
}

VOID BiClientCases(VOID)
{
    static UCHAR Interior[64];
    struct {
        const char *Name;
        PWSK_CLIENT Client;
    } Bad[] = {
        {"NULL client", NULL},
        {"foreign client", BiForeign},
        {"WSK_REGISTRATION as client", &Fx.Registration},
        {"WSK_PROVIDER_NPI as client", &Fx.Npi},
        {"client + 8", (PUCHAR)Fx.WskClient + 8},
        {"static buffer as client", Interior},
    };
    size_t i;
    int Fn, Kind;

    for (Fn = 0; Fn < BiClientFns; Fn++) {
        for (i = 0; i < ARRAYSIZE(Bad); i++) {
            for (Kind = BiIrpFresh; Kind < BiIrpKinds; Kind++) {
                BiClientCase(Fx.Provider, (BI_CLIENT_FN)Fn, Bad[i].Client, (BI_IRP_KIND)Kind, STATUS_INVALID_HANDLE,
                             Bad[i].Name);
            }
        }
        /* A good client with an IRP the provider may not take. */
        for (Kind = BiIrpNone; Kind < BiIrpKinds; Kind++) {
            if (Kind == BiIrpNone && (BiClientFnFlags[Fn] & BI_IRP_OPTIONAL)) {
                continue;
            }
            BiClientCase(Fx.Provider, (BI_CLIENT_FN)Fn, Fx.WskClient, (BI_IRP_KIND)Kind, STATUS_INVALID_PARAMETER,
                         "good client");
        }
    }
    for (i = 0; i < ARRAYSIZE(Bad); i++) {
        Fx.Provider->WskFreeAddressInfo(Bad[i].Client, NULL);
        BiReturned("WskFreeAddressInfo(%s, NULL)", Bad[i].Name);
    }
    Fx.Provider->WskFreeAddressInfo(Fx.WskClient, (PADDRINFOEXW)BiForeign);
    BiReturned("WskFreeAddressInfo(foreign list)");

    BiSocketCombinations();
    BiSocketConnectCases();
    BiControlClientCases();
    BiNameCases();
}
