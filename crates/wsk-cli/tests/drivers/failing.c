/*
 * failing.c: DriverEntry fails with STATUS_INSUFFICIENT_RESOURCES after setting
 * DriverUnload. As on Windows, `wsk run` must not call DriverUnload; it names the status
 * and exits with the DriverEntry-failed status.
 */
#include <ntddk.h>

static VOID FailingUnload(PDRIVER_OBJECT DriverObject)
{
    UNREFERENCED_PARAMETER(DriverObject);
    DbgPrint("failing: DriverUnload must not run\n");
}

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    UNREFERENCED_PARAMETER(RegistryPath);
    DriverObject->DriverUnload = FailingUnload;
    return STATUS_INSUFFICIENT_RESOURCES;
}
