/*
 * header_test.cpp: the same client code as header_test.c, compiled as C++17, plus what
 * C++ clients of wsk.h write: Dispatch->Basic.X, lambdas as callbacks, RAII around spin
 * locks and IRPs, static_assert and constexpr on the header constants (compile only;
 * tests/headers.rs).
 */
#include <cstddef> /* C++ standard headers come before the Windows headers (see excpt.h) */
#include <cstdint>
#include <type_traits>

#include "header_test.c"

extern "C" DRIVER_INITIALIZE DriverEntry; /* the header's declaration already has C linkage */

static_assert(sizeof(WSK_PROVIDER_STREAM_DISPATCH) == 15 * sizeof(void *), "stream table");
static_assert(offsetof(WSK_PROVIDER_DATAGRAM_DISPATCH, WskSendMessages) == 7 * sizeof(void *), "datagram table");
static_assert(alignof(SLIST_HEADER) == 16, "SLIST_HEADER alignment");
static_assert(std::is_same<decltype(WSK_SOCKET::Dispatch), const void *>::value, "WSK_SOCKET.Dispatch");
static_assert(std::is_same<ULONG, unsigned int>::value && sizeof(WCHAR) == 2, "Windows widths");

namespace {

constexpr ULONG kSendFlags = WSK_FLAG_NODELAY;
constexpr USHORT kVersion = MAKE_WSK_VERSION(1, 0);
constexpr ULONG kTag = 'ppcW';
static_assert(kVersion == 0x0100 && kSendFlags == 2 && kTag != 0, "constants are constant expressions");

class InStackLock {
  public:
    explicit InStackLock(KSPIN_LOCK &Lock) { KeAcquireInStackQueuedSpinLock(&Lock, &handle_); }
    ~InStackLock() { KeReleaseInStackQueuedSpinLock(&handle_); }
    InStackLock(const InStackLock &) = delete;
    InStackLock &operator=(const InStackLock &) = delete;

  private:
    KLOCK_QUEUE_HANDLE handle_;
};

class OwnedIrp {
  public:
    OwnedIrp() : irp_(IoAllocateIrp(1, FALSE)) { KeInitializeEvent(&event_, SynchronizationEvent, FALSE); }
    ~OwnedIrp()
    {
        if (irp_)
            IoFreeIrp(irp_);
    }
    OwnedIrp(const OwnedIrp &) = delete;
    OwnedIrp &operator=(const OwnedIrp &) = delete;

    PIRP Arm()
    {
        IoReuseIrp(irp_, STATUS_UNSUCCESSFUL);
        IoSetCompletionRoutine(
            irp_,
            [](PDEVICE_OBJECT, PIRP, PVOID Context) -> NTSTATUS {
                KeSetEvent(static_cast<PKEVENT>(Context), IO_NO_INCREMENT, FALSE);
                return STATUS_MORE_PROCESSING_REQUIRED;
            },
            &event_, TRUE, TRUE, TRUE);
        return irp_;
    }
    NTSTATUS Wait(NTSTATUS Status)
    {
        if (Status == STATUS_PENDING) {
            KeWaitForSingleObject(&event_, Executive, KernelMode, FALSE, nullptr);
            Status = irp_->IoStatus.Status;
        }
        return Status;
    }
    explicit operator bool() const { return irp_ != nullptr; }

  private:
    PIRP irp_;
    KEVENT event_;
};

const WSK_CLIENT_CONNECTION_DISPATCH kLambdaDispatch = {
    [](PVOID, ULONG, PWSK_DATA_INDICATION DataIndication, SIZE_T, SIZE_T *) -> NTSTATUS {
        return DataIndication ? STATUS_DATA_NOT_ACCEPTED : STATUS_SUCCESS;
    },
    [](PVOID, ULONG) -> NTSTATUS { return STATUS_SUCCESS; },
    [](PVOID, SIZE_T) -> NTSTATUS { return STATUS_SUCCESS; },
};

NTSTATUS CloseSocket(PWSK_SOCKET Socket)
{
    OwnedIrp irp;
    if (!irp)
        return STATUS_INSUFFICIENT_RESOURCES;
    const auto *dispatch = static_cast<const WSK_PROVIDER_CONNECTION_DISPATCH *>(Socket->Dispatch);
    const WSK_PROVIDER_BASIC_DISPATCH &basic = dispatch->Basic;
    NTSTATUS status = irp.Wait(basic.WskCloseSocket(Socket, irp.Arm()));
    if (!NT_SUCCESS(status))
        status = irp.Wait(dispatch->WskCloseSocket(Socket, irp.Arm()));
    return status;
}

NTSTATUS SendAll(PWSK_SOCKET Socket, PVOID Data, ULONG Length)
{
    OwnedIrp irp;
    PMDL mdl = IoAllocateMdl(Data, Length, FALSE, FALSE, nullptr);
    if (!irp || mdl == nullptr)
        return STATUS_INSUFFICIENT_RESOURCES;
    MmBuildMdlForNonPagedPool(mdl);
    WSK_BUF buf = { mdl, 0, Length };
    auto *dispatch = static_cast<const WSK_PROVIDER_STREAM_DISPATCH *>(Socket->Dispatch);
    NTSTATUS status = irp.Wait(dispatch->WskSend(Socket, &buf, kSendFlags, irp.Arm()));
    IoFreeMdl(mdl);
    {
        InStackLock lock(HeaderTestContext.Lock);
        HeaderTestContext.Bytes += static_cast<LONG64>(Length);
    }
    return status;
}

} // namespace

extern "C" NTSTATUS HeaderTestCpp(PWSK_SOCKET Socket)
{
    static UCHAR payload[] = { 'w', 's', 'k' };
    SOCKADDR_IN6 any = {};
    IN6ADDR_SETANY(&any);
    if (!IN6_IS_ADDR_UNSPECIFIED(&any.sin6_addr) || INETADDR_PORT(reinterpret_cast<PSOCKADDR>(&any)) != 0)
        return STATUS_UNSUCCESSFUL;
    (void)kLambdaDispatch;
    UNICODE_STRING name = RTL_CONSTANT_STRING(L"cpp");
    ANSI_STRING ansi = RTL_CONSTANT_STRING("cpp");
    DbgPrint("%wZ %Z\n", &name, &ansi);
    NTSTATUS status = SendAll(Socket, payload, sizeof(payload));
    NTSTATUS closed = CloseSocket(Socket);
    return NT_SUCCESS(status) ? closed : status;
}
