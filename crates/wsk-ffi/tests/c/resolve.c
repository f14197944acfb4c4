/*
 * resolve.c: name resolution and client control from C, through the wsk.h ABI.
 *
 *   1. WskGetAddressInfo of "127.0.0.1" and "::1" with service "12345": STATUS_PENDING,
 *      then the IRP completes with STATUS_SUCCESS and Information 0, and *Result is one
 *      ADDRINFOEXW in Windows layout (AF_INET 2 / AF_INET6 23, a SOCKADDR_IN / _IN6 with
 *      port 12345 in network order); "localhost" with AI_CANONNAME: loopback addresses,
 *      the UTF-16 canonical name in the first element only; SOCK_STREAM hints give
 *      IPPROTO_TCP. Each list freed with WskFreeAddressInfo (under AddressSanitizer).
 *   2. Bad input: NULL IRP (STATUS_INVALID_PARAMETER, *Result untouched); an unresolvable
 *      name (STATUS_PENDING, then STATUS_NOT_FOUND, *Result untouched); name spaces other
 *      than NS_ALL/NS_DNS and a provider GUID (STATUS_NOT_SUPPORTED); hints with members
 *      other than flags/family/type/protocol, a malformed UNICODE_STRING, no names at all
 *      (STATUS_INVALID_PARAMETER); Linux's AF_INET6 (10) in the hints (STATUS_NOT_SUPPORTED).
 *   3. WskFreeAddressInfo of NULL, of an element inside a list, of foreign memory and of
 *      a list already freed: ignored (nothing freed twice, nothing foreign freed).
 *   4. IoCancelIrp of pending lookups: each IRP completes exactly once, STATUS_CANCELLED
 *      with *Result untouched, or STATUS_SUCCESS with a list.
 *   5. WskGetNameInfo of 127.0.0.1:80 and [::1]:12345 with NI_NUMERICHOST|NI_NUMERICSERV:
 *      UTF-16 text, Length set; only a ServiceName; a buffer exactly the text's size (no
 *      NUL written past it); a buffer too small (STATUS_BUFFER_TOO_SMALL, nothing
 *      written); NULL IRP; unknown flag bits; neither string.
 *   6. WskControlClient: WSK_TRANSPORT_LIST_QUERY (STATUS_BUFFER_OVERFLOW with the size
 *      of four WSK_TRANSPORTs, then TCP and UDP over AF_INET and AF_INET6);
 *      WSK_TRANSPORT_LIST_CHANGE (NULL IRP refused; pending; IoCancelIrp completes it with
 *      STATUS_CANCELLED; another one completes with STATUS_CANCELLED inside WskDeregister);
 *      WSK_CACHE_SD / WSK_RELEASE_SD (a self-relative copy that outlives the client's
 *      descriptor, shared by identical descriptors, one release per cache; bad sizes and
 *      malformed descriptors); WSK_TDI_BEHAVIOR accepted; WSK_SET_STATIC_EVENT_CALLBACKS
 *      accepted before the registration's first socket and refused
 *      (STATUS_INVALID_DEVICE_STATE) after it.
 * Prints "resolve: OK" and exits 0, or "resolve: FAIL line N: ..." and exits 1.
 */
#define IRP_WAIT_PROGRAM "resolve"
#include "irp_wait.h"

#include <wsk.h>

#include <string.h>

typedef struct _RECORD {
    IRP_RECORD_FIELDS;
} RECORD, *PRECORD;

static NTSTATUS RecordRoutine(PDEVICE_OBJECT DeviceObject, PIRP Irp, PVOID Context)
{
    PRECORD Record = (PRECORD)Context;

    UNREFERENCED_PARAMETER(DeviceObject);
    RECORD_COMPLETION(Record, Irp);
    return STATUS_MORE_PROCESSING_REQUIRED;
}

static WSK_REGISTRATION Registration;
static WSK_PROVIDER_NPI Npi;
static PIRP Irp;
static RECORD Rec;

/* The one IRP of most calls, armed for the next one. */
static PIRP Arm(void)
{
    ARM_RECORD(Irp, &Rec, RecordRoutine);
    return Irp;
}

/* Waits for a pended call; returns the IRP's final status. */
static NTSTATUS Finish(NTSTATUS Returned, const char *What)
{
    PRECORD R = &Rec;

    FINISH_RECORD(Returned, R, What);
    return R->Status;
}

/* A value *Result never takes, to see it untouched. */
#define UNTOUCHED ((PADDRINFOEXW)(ULONG_PTR)0x5A5A5A5A5A5A5A5AULL)

/* WskGetAddressInfo with Npi's client and this file's IRP; *Result set to UNTOUCHED first. */
static NTSTATUS GetAddressInfo(PUNICODE_STRING Node, PUNICODE_STRING Service, ULONG NameSpace, GUID *Provider,
                               PADDRINFOEXW Hints, PADDRINFOEXW *Result, const char *What)
{
    NTSTATUS Returned;

    *Result = UNTOUCHED;
    Returned = Npi.Dispatch->WskGetAddressInfo(Npi.Client, Node, Service, NameSpace, Provider, Hints, Result, NULL,
                                               NULL, Arm());
    return Finish(Returned, What);
}

static BOOLEAN IsLoopback(const SOCKADDR *Address)
{
    static const UCHAR Mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (Address->sa_family == AF_INET) {
        return ((const SOCKADDR_IN *)Address)->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
    }
    if (Address->sa_family == AF_INET6) {
        const UCHAR *b = ((const SOCKADDR_IN6 *)Address)->sin6_addr.u.Byte;
        return memcmp(b, &in6addr_loopback, 16) == 0 || (memcmp(b, Mapped, 12) == 0 && b[12] == 127);
    }
    return FALSE;
}

/* The text of a UNICODE_STRING equals an ASCII string. */
static BOOLEAN TextIs(const UNICODE_STRING *String, const char *Ascii)
{
    size_t n = strlen(Ascii), i;

    if (String->Length != n * sizeof(WCHAR)) {
        return FALSE;
    }
    for (i = 0; i < n; i++) {
        if (String->Buffer[i] != (WCHAR)Ascii[i]) {
            return FALSE;
        }
    }
    return TRUE;
}

/* ----- 1. results ----- */

static void NumericAddresses(void)
{
    UNICODE_STRING Node, Service;
    ADDRINFOEXW Hints;
    PADDRINFOEXW Result;
    NTSTATUS Returned;

    RtlInitUnicodeString(&Service, L"12345");

    /* IPv4: PENDING, then SUCCESS / Information 0 (Windows, reference §4.10). */
    RtlInitUnicodeString(&Node, L"127.0.0.1");
    memset(&Hints, 0, sizeof(Hints));
    Hints.ai_family = AF_INET;
    Result = UNTOUCHED;
    Returned = Npi.Dispatch->WskGetAddressInfo(Npi.Client, &Node, &Service, NS_ALL, NULL, &Hints, &Result, NULL,
                                               NULL, Arm());
    CHECK(Returned == STATUS_PENDING, "a lookup runs on a resolver thread: returned 0x%08x", (unsigned)Returned);
    CHECK(Finish(Returned, "127.0.0.1: ") == STATUS_SUCCESS, "127.0.0.1: 0x%08x", (unsigned)Rec.Status);
    CHECK(Rec.Information == 0 && Rec.PendingReturned, "Information %lu", (unsigned long)Rec.Information);
    CHECK(Result != UNTOUCHED && Result != NULL, "no list");
    CHECK(Result->ai_next == NULL, "one address");
    CHECK(Result->ai_family == AF_INET && Result->ai_addrlen == sizeof(SOCKADDR_IN), "family %d, addrlen %lu",
          Result->ai_family, (unsigned long)Result->ai_addrlen);
    CHECK(Result->ai_socktype == 0 && Result->ai_protocol == 0 && Result->ai_canonname == NULL, "other members");
    CHECK(Result->ai_blob == NULL && Result->ai_bloblen == 0 && Result->ai_provider == NULL, "blob, provider");
    CHECK(Result->ai_addr->sa_family == AF_INET, "SOCKADDR family %u", Result->ai_addr->sa_family);
    CHECK(((SOCKADDR_IN *)Result->ai_addr)->sin_port == htons(12345), "port");
    CHECK(IsLoopback(Result->ai_addr), "127.0.0.1");
    Npi.Dispatch->WskFreeAddressInfo(Npi.Client, Result);

    /* IPv6: AF_INET6 is Windows' 23, the SOCKADDR_IN6 28 bytes. */
    RtlInitUnicodeString(&Node, L"::1");
    Hints.ai_family = AF_INET6;
    CHECK(GetAddressInfo(&Node, &Service, NS_DNS, NULL, &Hints, &Result, "::1: ") == STATUS_SUCCESS, "::1: 0x%08x",
          (unsigned)Rec.Status);
    CHECK(AF_INET6 == 23 && Result->ai_family == 23 && Result->ai_addrlen == 28, "family %d, addrlen %lu",
          Result->ai_family, (unsigned long)Result->ai_addrlen);
    CHECK(Result->ai_addr->sa_family == 23 && ((SOCKADDR_IN6 *)Result->ai_addr)->sin6_port == htons(12345),
          "SOCKADDR_IN6");
    CHECK(memcmp(&((SOCKADDR_IN6 *)Result->ai_addr)->sin6_addr, &in6addr_loopback, 16) == 0, "::1");
    CHECK(Result->ai_next == NULL, "one address");
    Npi.Dispatch->WskFreeAddressInfo(Npi.Client, Result);

    /* A socket type in the hints: type and protocol in the results. */
    memset(&Hints, 0, sizeof(Hints));
    Hints.ai_socktype = SOCK_STREAM;
    RtlInitUnicodeString(&Node, L"127.0.0.1");
    CHECK(GetAddressInfo(&Node, &Service, NS_ALL, NULL, &Hints, &Result, "SOCK_STREAM: ") == STATUS_SUCCESS,
          "SOCK_STREAM: 0x%08x", (unsigned)Rec.Status);
    CHECK(Result->ai_socktype == SOCK_STREAM && Result->ai_protocol == IPPROTO_TCP, "type %d protocol %d",
          Result->ai_socktype, Result->ai_protocol);
    Npi.Dispatch->WskFreeAddressInfo(Npi.Client, Result);
}

static void Localhost(void)
{
    UNICODE_STRING Node;
    ADDRINFOEXW Hints;
    PADDRINFOEXW Result, Element;
    int Count = 0;

    RtlInitUnicodeString(&Node, L"localhost");
    memset(&Hints, 0, sizeof(Hints));
    Hints.ai_flags = AI_CANONNAME;
    CHECK(GetAddressInfo(&Node, NULL, NS_ALL, NULL, &Hints, &Result, "localhost: ") == STATUS_SUCCESS,
          "localhost: 0x%08x", (unsigned)Rec.Status);
    for (Element = Result; Element != NULL; Element = Element->ai_next) {
        Count++;
        CHECK(Element->ai_family == AF_INET || Element->ai_family == AF_INET6, "family %d", Element->ai_family);
        CHECK(Element->ai_addr->sa_family == Element->ai_family, "SOCKADDR family");
        CHECK(Element->ai_addrlen == (Element->ai_family == AF_INET ? sizeof(SOCKADDR_IN) : sizeof(SOCKADDR_IN6)),
              "addrlen");
        CHECK(IsLoopback(Element->ai_addr), "localhost is a loopback address");
        CHECK(Element == Result || Element->ai_canonname == NULL, "canonical name in the first element only");
    }
    CHECK(Count >= 1, "no address");
    CHECK(Result->ai_canonname != NULL, "AI_CANONNAME: no canonical name");
    {
        UNICODE_STRING Canonical;

        RtlInitUnicodeString(&Canonical, Result->ai_canonname);
        CHECK(Canonical.Length >= 9 * sizeof(WCHAR) && Canonical.Buffer[0] == L'l' && Canonical.Buffer[8] == L't',
              "canonical name of localhost (%u bytes)", Canonical.Length);
    }
    Npi.Dispatch->WskFreeAddressInfo(Npi.Client, Result);
}

/* ----- 2. bad input ----- */

static void BadInput(void)
{
    UNICODE_STRING Node, Odd;
    ADDRINFOEXW Hints;
    SOCKADDR_IN Stray;
    PADDRINFOEXW Result;
    GUID Provider = {1, 2, 3, {4, 5, 6, 7, 8, 9, 10, 11}};
    NTSTATUS Status;

    RtlInitUnicodeString(&Node, L"127.0.0.1");

    /* NULL IRP: nothing touched (reference §4.10). */
    Result = UNTOUCHED;
    Status = Npi.Dispatch->WskGetAddressInfo(Npi.Client, &Node, NULL, NS_ALL, NULL, NULL, &Result, NULL, NULL, NULL);
    CHECK(Status == STATUS_INVALID_PARAMETER && Result == UNTOUCHED, "NULL IRP: 0x%08x", (unsigned)Status);

    /* Unresolvable: pending, then STATUS_NOT_FOUND, Information 0. */
    RtlInitUnicodeString(&Node, L"nonexistent.invalid");
    Result = UNTOUCHED;
    Status = Npi.Dispatch->WskGetAddressInfo(Npi.Client, &Node, NULL, NS_ALL, NULL, NULL, &Result, NULL, NULL, Arm());
    CHECK(Status == STATUS_PENDING, "unresolvable: returned 0x%08x", (unsigned)Status);
    Status = Finish(Status, "unresolvable: ");
    CHECK(Status == STATUS_NOT_FOUND && Rec.Information == 0, "unresolvable: 0x%08x", (unsigned)Status);
    CHECK(Result == UNTOUCHED, "unresolvable: *Result written");

    RtlInitUnicodeString(&Node, L"127.0.0.1");
    Status = GetAddressInfo(&Node, NULL, NS_NIS, NULL, NULL, &Result, "NS_NIS: ");
    CHECK(Status == STATUS_NOT_SUPPORTED && Result == UNTOUCHED, "NS_NIS: 0x%08x", (unsigned)Status);
    Status = GetAddressInfo(&Node, NULL, NS_ALL, &Provider, NULL, &Result, "provider GUID: ");
    CHECK(Status == STATUS_NOT_SUPPORTED, "provider GUID: 0x%08x", (unsigned)Status);

    memset(&Hints, 0, sizeof(Hints));
    Hints.ai_addr = (PSOCKADDR)&Stray;
    Status = GetAddressInfo(&Node, NULL, NS_ALL, NULL, &Hints, &Result, "hints with ai_addr: ");
    CHECK(Status == STATUS_INVALID_PARAMETER, "hints with ai_addr: 0x%08x", (unsigned)Status);
    memset(&Hints, 0, sizeof(Hints));
    Hints.ai_family = 10; /* Linux's AF_INET6 */
    Status = GetAddressInfo(&Node, NULL, NS_ALL, NULL, &Hints, &Result, "family 10: ");
    CHECK(Status == STATUS_NOT_SUPPORTED, "family 10: 0x%08x", (unsigned)Status);
    memset(&Hints, 0, sizeof(Hints));
    Hints.ai_flags = AI_RETURN_TTL;
    Status = GetAddressInfo(&Node, NULL, NS_ALL, NULL, &Hints, &Result, "AI_RETURN_TTL: ");
    CHECK(Status == STATUS_INVALID_PARAMETER, "AI_RETURN_TTL: 0x%08x", (unsigned)Status);

    Status = GetAddressInfo(NULL, NULL, NS_ALL, NULL, NULL, &Result, "no names: ");
    CHECK(Status == STATUS_INVALID_PARAMETER, "no names: 0x%08x", (unsigned)Status);
    Odd = Node;
    Odd.Length = 3;
    Status = GetAddressInfo(&Odd, NULL, NS_ALL, NULL, NULL, &Result, "odd Length: ");
    CHECK(Status == STATUS_INVALID_PARAMETER, "odd Length: 0x%08x", (unsigned)Status);
    Odd.Length = Odd.MaximumLength + 2;
    Status = GetAddressInfo(&Odd, NULL, NS_ALL, NULL, NULL, &Result, "Length > MaximumLength: ");
    CHECK(Status == STATUS_INVALID_PARAMETER, "Length > MaximumLength: 0x%08x", (unsigned)Status);
    CHECK(Result == UNTOUCHED, "a failed call wrote *Result");
}

/* ----- 3. WskFreeAddressInfo ----- */

static void FreeRules(void)
{
    UNICODE_STRING Node;
    PADDRINFOEXW Result;
    ADDRINFOEXW Foreign;

    RtlInitUnicodeString(&Node, L"localhost");
    CHECK(GetAddressInfo(&Node, NULL, NS_ALL, NULL, NULL, &Result, "free: ") == STATUS_SUCCESS, "lookup");
    Npi.Dispatch->WskFreeAddressInfo(Npi.Client, NULL);
    memset(&Foreign, 0, sizeof(Foreign));
    Npi.Dispatch->WskFreeAddressInfo(Npi.Client, &Foreign); /* logged, ignored */
    if (Result->ai_next != NULL) {
        Npi.Dispatch->WskFreeAddressInfo(Npi.Client, Result->ai_next); /* inside a list: ignored */
    }
    /* The list is intact: still readable (AddressSanitizer would see a use after free). */
    CHECK(IsLoopback(Result->ai_addr), "list intact");
    Npi.Dispatch->WskFreeAddressInfo(Npi.Client, Result);
    Npi.Dispatch->WskFreeAddressInfo(Npi.Client, Result); /* already freed: ignored */
}

/* ----- 4. IoCancelIrp ----- */

static void CancelLookups(void)
{
    UNICODE_STRING Node;
    PADDRINFOEXW Result;
    NTSTATUS Returned;
    int i, Cancelled = 0, Completed = 0;

    RtlInitUnicodeString(&Node, L"localhost");
    for (i = 0; i < 50; i++) {
        Result = UNTOUCHED;
        Returned = Npi.Dispatch->WskGetAddressInfo(Npi.Client, &Node, NULL, NS_ALL, NULL, NULL, &Result, NULL, NULL,
                                                   Arm());
        CHECK(Returned == STATUS_PENDING, "returned 0x%08x", (unsigned)Returned);
        IoCancelIrp(Irp);
        Finish(Returned, "cancelled lookup: ");
        if (Rec.Status == STATUS_CANCELLED) {
            CHECK(Result == UNTOUCHED && Rec.Information == 0, "a cancelled lookup wrote *Result");
            Cancelled++;
        } else {
            CHECK(Rec.Status == STATUS_SUCCESS && Result != UNTOUCHED, "cancel: 0x%08x", (unsigned)Rec.Status);
            Npi.Dispatch->WskFreeAddressInfo(Npi.Client, Result);
            Completed++;
        }
    }
    printf("resolve: IoCancelIrp of 50 lookups: %d cancelled, %d completed first\n", Cancelled, Completed);
}

/* ----- 5. WskGetNameInfo ----- */

static WCHAR NodeBuffer[NI_MAXHOST], ServiceBuffer[NI_MAXSERV];

/* An output string over Buffer (one of the two above, filled with 0xAA) of MaximumLength bytes. */
#define OutString(String, Buffer, MaximumLength) OutStringOver((String), (Buffer), sizeof(Buffer), (MaximumLength))

static void OutStringOver(PUNICODE_STRING String, WCHAR *Buffer, size_t BufferBytes, USHORT MaximumLength)
{
    memset(Buffer, 0xAA, BufferBytes);
    String->Buffer = Buffer;
    String->Length = 0;
    String->MaximumLength = MaximumLength;
}

static NTSTATUS GetNameInfo(const void *Address, ULONG Length, PUNICODE_STRING Node, PUNICODE_STRING Service,
                            ULONG Flags, const char *What)
{
    NTSTATUS Returned = Npi.Dispatch->WskGetNameInfo(Npi.Client, (PSOCKADDR)Address, Length, Node, Service, Flags,
                                                     NULL, NULL, Arm());
    return Finish(Returned, What);
}

static void NameInfo(void)
{
    SOCKADDR_IN V4 = {0};
    SOCKADDR_IN6 V6 = {0};
    UNICODE_STRING Node, Service;
    NTSTATUS Status;

    V4.sin_family = AF_INET;
    V4.sin_port = htons(80);
    V4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    V6.sin6_family = AF_INET6;
    V6.sin6_port = htons(12345);
    V6.sin6_addr = in6addr_loopback;

    OutString(&Node, NodeBuffer, sizeof(NodeBuffer));
    OutString(&Service, ServiceBuffer, sizeof(ServiceBuffer));
    Status = GetNameInfo(&V4, sizeof(V4), &Node, &Service, NI_NUMERICHOST | NI_NUMERICSERV, "127.0.0.1:80: ");
    CHECK(Status == STATUS_SUCCESS && Rec.Information == 0, "127.0.0.1:80: 0x%08x", (unsigned)Status);
    CHECK(TextIs(&Node, "127.0.0.1") && TextIs(&Service, "80"), "127.0.0.1:80: %u, %u bytes", Node.Length,
          Service.Length);

    OutString(&Node, NodeBuffer, sizeof(NodeBuffer));
    OutString(&Service, ServiceBuffer, sizeof(ServiceBuffer));
    Status = GetNameInfo(&V6, sizeof(V6), &Node, &Service, NI_NUMERICHOST | NI_NUMERICSERV, "[::1]:12345: ");
    CHECK(Status == STATUS_SUCCESS, "[::1]:12345: 0x%08x", (unsigned)Status);
    CHECK(TextIs(&Node, "::1") && TextIs(&Service, "12345"), "[::1]:12345");

    /* Only the service. */
    OutString(&Service, ServiceBuffer, sizeof(ServiceBuffer));
    Status = GetNameInfo(&V4, sizeof(V4), NULL, &Service, NI_NUMERICSERV, "service only: ");
    CHECK(Status == STATUS_SUCCESS && TextIs(&Service, "80"), "service only: 0x%08x", (unsigned)Status);

    /* Exactly the text's size: no room for a NUL, none written. */
    OutString(&Node, NodeBuffer, 9 * sizeof(WCHAR));
    Status = GetNameInfo(&V4, sizeof(V4), &Node, NULL, NI_NUMERICHOST, "exact fit: ");
    CHECK(Status == STATUS_SUCCESS && TextIs(&Node, "127.0.0.1"), "exact fit: 0x%08x", (unsigned)Status);
    CHECK(NodeBuffer[9] == 0xAAAA, "a NUL written past MaximumLength");

    /* Too small: STATUS_BUFFER_TOO_SMALL, nothing written to either string. */
    OutString(&Node, NodeBuffer, 8 * sizeof(WCHAR));
    OutString(&Service, ServiceBuffer, sizeof(ServiceBuffer));
    Status = GetNameInfo(&V4, sizeof(V4), &Node, &Service, NI_NUMERICHOST | NI_NUMERICSERV, "too small: ");
    CHECK(Status == STATUS_BUFFER_TOO_SMALL, "too small: 0x%08x", (unsigned)Status);
    CHECK(Node.Length == 0 && Service.Length == 0 && NodeBuffer[0] == 0xAAAA && ServiceBuffer[0] == 0xAAAA,
          "too small: something written");

    /* NULL IRP, unknown flags, neither string. */
    OutString(&Node, NodeBuffer, sizeof(NodeBuffer));
    Status = Npi.Dispatch->WskGetNameInfo(Npi.Client, (PSOCKADDR)&V4, sizeof(V4), &Node, NULL, 0, NULL, NULL, NULL);
    CHECK(Status == STATUS_INVALID_PARAMETER && Node.Length == 0, "NULL IRP: 0x%08x", (unsigned)Status);
    Status = GetNameInfo(&V4, sizeof(V4), &Node, NULL, 0x40, "flag 0x40: ");
    CHECK(Status == STATUS_INVALID_PARAMETER, "flag 0x40: 0x%08x", (unsigned)Status);
    Status = GetNameInfo(&V4, sizeof(V4), NULL, NULL, 0, "no strings: ");
    CHECK(Status == STATUS_INVALID_PARAMETER, "no strings: 0x%08x", (unsigned)Status);
}

/* ----- 6. WskControlClient ----- */

static NTSTATUS Control(ULONG Code, SIZE_T InSize, PVOID In, SIZE_T OutSize, PVOID Out, SIZE_T *Returned)
{
    return Npi.Dispatch->WskControlClient(Npi.Client, Code, InSize, In, OutSize, Out, Returned, NULL);
}

static void TransportList(void)
{
    WSK_TRANSPORT List[8];
    SIZE_T Needed = 0;
    NTSTATUS Status;
    int i;
    static const struct {
        USHORT Type;
        ULONG Protocol;
        ADDRESS_FAMILY Family;
    } Expected[4] = {{SOCK_STREAM, IPPROTO_TCP, AF_INET},
                     {SOCK_STREAM, IPPROTO_TCP, AF_INET6},
                     {SOCK_DGRAM, IPPROTO_UDP, AF_INET},
                     {SOCK_DGRAM, IPPROTO_UDP, AF_INET6}};

    Status = Control(WSK_TRANSPORT_LIST_QUERY, 0, NULL, 0, NULL, &Needed);
    CHECK(Status == STATUS_BUFFER_OVERFLOW && Needed == 4 * sizeof(WSK_TRANSPORT), "query: 0x%08x, %lu bytes",
          (unsigned)Status, (unsigned long)Needed);
    Status = Control(WSK_TRANSPORT_LIST_QUERY, 0, NULL, Needed - 1, List, &Needed);
    CHECK(Status == STATUS_BUFFER_OVERFLOW && Needed == 4 * sizeof(WSK_TRANSPORT), "one short: 0x%08x",
          (unsigned)Status);
    memset(List, 0, sizeof(List));
    Status = Control(WSK_TRANSPORT_LIST_QUERY, 0, NULL, sizeof(List), List, &Needed);
    CHECK(Status == STATUS_SUCCESS && Needed == 4 * sizeof(WSK_TRANSPORT), "query: 0x%08x", (unsigned)Status);
    for (i = 0; i < 4; i++) {
        CHECK(List[i].Version == MAKE_WSK_VERSION(1, 0) && List[i].SocketType == Expected[i].Type &&
                  List[i].Protocol == Expected[i].Protocol && List[i].AddressFamily == Expected[i].Family,
              "transport %d: %u %u %u", i, List[i].SocketType, (unsigned)List[i].Protocol, List[i].AddressFamily);
    }
}

static PIRP ChangeIrp[2];
static RECORD ChangeRec[2];

static void TransportListChange(void)
{
    NTSTATUS Status;
    int i;

    /* The IRP is required. */
    Status = Npi.Dispatch->WskControlClient(Npi.Client, WSK_TRANSPORT_LIST_CHANGE, 0, NULL, 0, NULL, NULL, NULL);
    CHECK(Status == STATUS_INVALID_PARAMETER, "WSK_TRANSPORT_LIST_CHANGE without IRP: 0x%08x", (unsigned)Status);

    for (i = 0; i < 2; i++) {
        ChangeIrp[i] = IoAllocateIrp(1, FALSE);
        CHECK(ChangeIrp[i] != NULL, "IoAllocateIrp");
        ARM_RECORD(ChangeIrp[i], &ChangeRec[i], RecordRoutine);
        Status = Npi.Dispatch->WskControlClient(Npi.Client, WSK_TRANSPORT_LIST_CHANGE, 0, NULL, 0, NULL, NULL,
                                                ChangeIrp[i]);
        CHECK(Status == STATUS_PENDING, "WSK_TRANSPORT_LIST_CHANGE: 0x%08x", (unsigned)Status);
    }
    /* The list never changes: still pending a while later. */
    CHECK(WaitMs(&ChangeRec[0].Done, 50) == STATUS_TIMEOUT, "completed without a change");
    /* IoCancelIrp completes the first with STATUS_CANCELLED; the second waits for WskDeregister. */
    CHECK(IoCancelIrp(ChangeIrp[0]), "IoCancelIrp found no cancel routine");
    CHECK(Wait(&ChangeRec[0].Done), "no completion after IoCancelIrp");
    CHECK(ChangeRec[0].Calls == 1 && ChangeRec[0].Status == STATUS_CANCELLED && ChangeRec[0].PendingReturned,
          "cancelled change: %ld calls, 0x%08x", (long)ChangeRec[0].Calls, (unsigned)ChangeRec[0].Status);
    CHECK(ChangeRec[1].Calls == 0, "the other change completed too");
}

/* Called after WskDeregister returned. */
static void TransportListChangeAfterDeregister(void)
{
    CHECK(ChangeRec[1].Calls == 1 && ChangeRec[1].Status == STATUS_CANCELLED,
          "WskDeregister did not cancel the pending change: %ld calls, 0x%08x", (long)ChangeRec[1].Calls,
          (unsigned)ChangeRec[1].Status);
    IoFreeIrp(ChangeIrp[0]);
    IoFreeIrp(ChangeIrp[1]);
}

/* A self-relative SECURITY_DESCRIPTOR: owner S-1-5-18, an empty DACL. */
static void MakeDescriptor(UCHAR *Sd)
{
    static const UCHAR Sid[12] = {1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0};
    static const UCHAR Acl[8] = {2, 0, 8, 0, 0, 0, 0, 0};
    USHORT ControlBits = 0x8000 | 0x0004; /* SE_SELF_RELATIVE | SE_DACL_PRESENT */
    ULONG Owner = 20, Dacl = 32;

    memset(Sd, 0, 40);
    Sd[0] = 1;
    memcpy(Sd + 2, &ControlBits, 2);
    memcpy(Sd + 4, &Owner, 4);
    memcpy(Sd + 16, &Dacl, 4);
    memcpy(Sd + 20, Sid, sizeof(Sid));
    memcpy(Sd + 32, Acl, sizeof(Acl));
}

static void SecurityDescriptors(void)
{
    UCHAR *Original = (UCHAR *)malloc(40);
    UCHAR Same[40], Bad[40];
    PSECURITY_DESCRIPTOR In, Cached = NULL, Again = NULL, Null = NULL;
    NTSTATUS Status;

    CHECK(Original != NULL, "malloc");
    MakeDescriptor(Original);
    MakeDescriptor(Same);
    In = Original;
    Status = Control(WSK_CACHE_SD, sizeof(In), &In, sizeof(Cached), &Cached, NULL);
    CHECK(Status == STATUS_SUCCESS && Cached != NULL && Cached != Original, "WSK_CACHE_SD: 0x%08x",
          (unsigned)Status);
    /* The copy outlives the client's descriptor (AddressSanitizer watches the reads). */
    free(Original);
    CHECK(memcmp(Cached, Same, 40) == 0, "the cached copy differs");
    /* Identical contents share the cached descriptor, one reference each. */
    In = Same;
    Status = Control(WSK_CACHE_SD, sizeof(In), &In, sizeof(Again), &Again, NULL);
    CHECK(Status == STATUS_SUCCESS && Again == Cached, "WSK_CACHE_SD again: 0x%08x", (unsigned)Status);
    CHECK(Control(WSK_RELEASE_SD, sizeof(Cached), &Cached, 0, NULL, NULL) == STATUS_SUCCESS, "release 1");
    CHECK(Control(WSK_RELEASE_SD, sizeof(Again), &Again, 0, NULL, NULL) == STATUS_SUCCESS, "release 2");
    Status = Control(WSK_RELEASE_SD, sizeof(Cached), &Cached, 0, NULL, NULL);
    CHECK(Status == STATUS_INVALID_PARAMETER, "a third release: 0x%08x", (unsigned)Status);
    /* The client's own descriptor is not a cached one. */
    In = Same;
    Status = Control(WSK_RELEASE_SD, sizeof(In), &In, 0, NULL, NULL);
    CHECK(Status == STATUS_INVALID_PARAMETER, "release of an uncached descriptor: 0x%08x", (unsigned)Status);

    /* Bad sizes and descriptors. */
    Status = Control(WSK_CACHE_SD, 4, &In, sizeof(Cached), &Cached, NULL);
    CHECK(Status == STATUS_INVALID_PARAMETER, "InputSize 4: 0x%08x", (unsigned)Status);
    Status = Control(WSK_CACHE_SD, sizeof(In), &In, 4, &Cached, NULL);
    CHECK(Status == STATUS_BUFFER_TOO_SMALL, "OutputSize 4: 0x%08x", (unsigned)Status);
    Status = Control(WSK_CACHE_SD, sizeof(In), &In, sizeof(Cached), NULL, NULL);
    CHECK(Status == STATUS_INVALID_PARAMETER, "NULL OutputBuffer: 0x%08x", (unsigned)Status);
    Status = Control(WSK_CACHE_SD, sizeof(Null), &Null, sizeof(Cached), &Cached, NULL);
    CHECK(Status == STATUS_INVALID_PARAMETER, "NULL descriptor: 0x%08x", (unsigned)Status);
    MakeDescriptor(Bad);
    Bad[0] = 2; /* revision */
    In = Bad;
    Status = Control(WSK_CACHE_SD, sizeof(In), &In, sizeof(Cached), &Cached, NULL);
    CHECK(Status == STATUS_INVALID_PARAMETER, "revision 2: 0x%08x", (unsigned)Status);
    Status = Control(WSK_RELEASE_SD, 0, NULL, 0, NULL, NULL);
    CHECK(Status == STATUS_INVALID_PARAMETER, "WSK_RELEASE_SD without input: 0x%08x", (unsigned)Status);
}

static void TdiAndStaticCallbacks(void)
{
    static const WSK_CLIENT_DISPATCH Dispatch = {MAKE_WSK_VERSION(1, 0), 0, NULL};
    WSK_CLIENT_NPI ClientNpi = {NULL, &Dispatch};
    WSK_REGISTRATION Second;
    WSK_PROVIDER_NPI SecondNpi;
    WSK_EVENT_CALLBACK_CONTROL Events;
    PWSK_SOCKET Socket;
    ULONG Behavior = WSK_TDI_BEHAVIOR_BYPASS_TDI;
    NTSTATUS Status;

    Status = Control(WSK_TDI_BEHAVIOR, sizeof(Behavior), &Behavior, 0, NULL, NULL);
    CHECK(Status == STATUS_SUCCESS, "WSK_TDI_BEHAVIOR: 0x%08x", (unsigned)Status);

    /* A registration of its own: static callbacks before its first socket, not after. */
    memset(&Second, 0, sizeof(Second));
    CHECK(WskRegister(&ClientNpi, &Second) == STATUS_SUCCESS, "WskRegister");
    CHECK(WskCaptureProviderNPI(&Second, WSK_INFINITE_WAIT, &SecondNpi) == STATUS_SUCCESS, "capture");
    Events.NpiId = &NPI_WSK_INTERFACE_ID;
    Events.EventMask = WSK_EVENT_RECEIVE;
    Status = SecondNpi.Dispatch->WskControlClient(SecondNpi.Client, WSK_SET_STATIC_EVENT_CALLBACKS, sizeof(Events),
                                                  &Events, 0, NULL, NULL, NULL);
    CHECK(Status == STATUS_SUCCESS, "static callbacks before any socket: 0x%08x", (unsigned)Status);
    Status = Finish(SecondNpi.Dispatch->WskSocket(SecondNpi.Client, AF_INET, SOCK_STREAM, IPPROTO_TCP,
                                                  WSK_FLAG_LISTEN_SOCKET, NULL, NULL, NULL, NULL, NULL, Arm()),
                    "WskSocket: ");
    CHECK(Status == STATUS_SUCCESS, "WskSocket: 0x%08x", (unsigned)Status);
    Socket = (PWSK_SOCKET)Rec.Information;
    Status = SecondNpi.Dispatch->WskControlClient(SecondNpi.Client, WSK_SET_STATIC_EVENT_CALLBACKS, sizeof(Events),
                                                  &Events, 0, NULL, NULL, NULL);
    CHECK(Status == STATUS_INVALID_DEVICE_STATE, "static callbacks after a socket: 0x%08x", (unsigned)Status);
    Status = Finish(((PWSK_PROVIDER_BASIC_DISPATCH)Socket->Dispatch)->WskCloseSocket(Socket, Arm()), "close: ");
    CHECK(Status == STATUS_SUCCESS, "close: 0x%08x", (unsigned)Status);
    WskReleaseProviderNPI(&Second);
    WskDeregister(&Second);
}

int main(void)
{
    static const WSK_CLIENT_DISPATCH ClientDispatch = {MAKE_WSK_VERSION(1, 0), 0, NULL};
    WSK_CLIENT_NPI ClientNpi = {NULL, &ClientDispatch};

    CHECK(WskRegister(&ClientNpi, &Registration) == STATUS_SUCCESS, "WskRegister");
    CHECK(WskCaptureProviderNPI(&Registration, WSK_INFINITE_WAIT, &Npi) == STATUS_SUCCESS, "capture");
    Irp = IoAllocateIrp(1, FALSE);
    CHECK(Irp != NULL, "IoAllocateIrp");

    NumericAddresses();
    Localhost();
    BadInput();
    FreeRules();
    CancelLookups();
    NameInfo();
    TransportList();
    TransportListChange();
    SecurityDescriptors();
    TdiAndStaticCallbacks();

    WskReleaseProviderNPI(&Registration);
    WskDeregister(&Registration);
    TransportListChangeAfterDeregister();
    IoFreeIrp(Irp);
    printf("resolve: OK\n");
    return 0;
}
