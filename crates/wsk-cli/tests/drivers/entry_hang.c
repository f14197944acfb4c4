/*
 * entry_hang.c: DriverEntry waits for an event nobody sets. Ctrl-C while it runs must
 * not leave `wsk run` waiting forever: after --unload-timeout it gives up with the
 * hang status.
 */
#include <ntddk.h>

static KEVENT Never;

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    UNREFERENCED_PARAMETER(DriverObject);
    UNREFERENCED_PARAMETER(RegistryPath);
    KeInitializeEvent(&Never, NotificationEvent, FALSE);
    KeWaitForSingleObject(&Never, Executive, KernelMode, FALSE, NULL);
    return STATUS_SUCCESS;
}
