/*
 * missing.c: imports routines libwsk does not export (called in a branch that never
 * runs). `wsk run` must refuse to load it and name every one of them.
 */
#include <ntddk.h>

NTSTATUS ZwCreateFile(void);
NTSTATUS WskTestNotARoutine(void);

static VOID MissingUnload(PDRIVER_OBJECT DriverObject)
{
    UNREFERENCED_PARAMETER(DriverObject);
}

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    if (RegistryPath == NULL) {
        NTSTATUS status = ZwCreateFile();
        return NT_SUCCESS(status) ? WskTestNotARoutine() : status;
    }
    DriverObject->DriverUnload = MissingUnload;
    return STATUS_SUCCESS;
}
