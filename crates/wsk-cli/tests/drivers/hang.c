/*
 * hang.c: DriverUnload waits for an event nobody sets. `wsk run --unload-timeout 1`
 * must give up after a second and exit with the unload-hangs status.
 */
#include <ntddk.h>

static KEVENT Never;

static VOID HangUnload(PDRIVER_OBJECT DriverObject)
{
    UNREFERENCED_PARAMETER(DriverObject);
    KeWaitForSingleObject(&Never, Executive, KernelMode, FALSE, NULL);
}

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    UNREFERENCED_PARAMETER(RegistryPath);
    KeInitializeEvent(&Never, NotificationEvent, FALSE);
    DriverObject->DriverUnload = HangUnload;
    return STATUS_SUCCESS;
}
