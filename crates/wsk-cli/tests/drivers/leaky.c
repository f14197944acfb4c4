/*
 * leaky.c: a driver that forgets to free what it allocated: two pool blocks with tag
 * 'Leak' (written 'kaeL', as Windows code does), one IRP, and a WSK registration it
 * never deregisters. `wsk run` must name them in the leak report and exit with the leak
 * status.
 */
#include <ntddk.h>
#include <wsk.h>

static PVOID First;
static PVOID Second;
static PIRP Irp;
static WSK_REGISTRATION Registration;
static const WSK_CLIENT_DISPATCH ClientDispatch = { MAKE_WSK_VERSION(1, 0), 0, NULL };

static VOID LeakyUnload(PDRIVER_OBJECT DriverObject)
{
    UNREFERENCED_PARAMETER(DriverObject);
    /* Should free First, Second and Irp and call WskDeregister here. */
}

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    WSK_CLIENT_NPI npi = { NULL, &ClientDispatch };
    NTSTATUS status;

    UNREFERENCED_PARAMETER(RegistryPath);
    First = ExAllocatePoolWithTag(NonPagedPool, 100, 'kaeL');
    Second = ExAllocatePoolWithTag(NonPagedPool, 28, 'kaeL');
    Irp = IoAllocateIrp(1, FALSE);
    if (First == NULL || Second == NULL || Irp == NULL) {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    status = WskRegister(&npi, &Registration);
    if (!NT_SUCCESS(status)) {
        return status;
    }
    DriverObject->DriverUnload = LeakyUnload;
    return STATUS_SUCCESS;
}
