/*
 * clean.c: a well-behaved driver for `wsk run`.
 *
 * DriverEntry checks what the runner hands it (a DRIVER_OBJECT of type 4 named
 * \Driver\<stem> and the matching registry path), allocates and frees pool, and sets
 * DriverUnload. Nothing is left behind: `wsk run` must exit 0 and report no leak.
 *
 * It also imports a routine weakly that libwsk does not have: weak imports must not stop
 * the load.
 */
#include <ntddk.h>

extern VOID WskTestOptionalRoutine(VOID) __attribute__((weak));

static const WCHAR DriverPrefix[] = L"\\Driver\\";
static const WCHAR ServicesPrefix[] = L"\\Registry\\Machine\\System\\CurrentControlSet\\Services\\";

/* The characters of `s` after `prefix` (a literal of `prefixChars` characters), or NULL. */
static const WCHAR *AfterPrefix(PCUNICODE_STRING s, const WCHAR *prefix, USHORT prefixChars, USHORT *restChars)
{
    USHORT chars = s->Length / sizeof(WCHAR);
    USHORT i;
    if (s->Buffer == NULL || chars <= prefixChars) {
        return NULL;
    }
    for (i = 0; i < prefixChars; i++) {
        if (s->Buffer[i] != prefix[i]) {
            return NULL;
        }
    }
    *restChars = (USHORT)(chars - prefixChars);
    return s->Buffer + prefixChars;
}

static VOID CleanUnload(PDRIVER_OBJECT DriverObject)
{
    UNREFERENCED_PARAMETER(DriverObject);
    DbgPrint("clean: DriverUnload\n");
}

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    const WCHAR *name;
    const WCHAR *service;
    USHORT nameChars = 0;
    USHORT serviceChars = 0;
    USHORT i;
    PUCHAR block;

    if (DriverObject == NULL || RegistryPath == NULL || DriverObject->Type != 4 ||
        DriverObject->Size != (CSHORT)sizeof(DRIVER_OBJECT) || DriverObject->DriverUnload != NULL) {
        DbgPrint("clean: bad DRIVER_OBJECT\n");
        return STATUS_INVALID_PARAMETER;
    }
    name = AfterPrefix(&DriverObject->DriverName, DriverPrefix, sizeof(DriverPrefix) / sizeof(WCHAR) - 1, &nameChars);
    service = AfterPrefix(RegistryPath, ServicesPrefix, sizeof(ServicesPrefix) / sizeof(WCHAR) - 1, &serviceChars);
    if (name == NULL || service == NULL || nameChars != serviceChars) {
        DbgPrint("clean: bad DriverName or RegistryPath\n");
        return STATUS_INVALID_PARAMETER;
    }
    for (i = 0; i < nameChars; i++) {
        if (name[i] != service[i]) {
            DbgPrint("clean: DriverName and RegistryPath name different drivers\n");
            return STATUS_INVALID_PARAMETER;
        }
    }

    if (WskTestOptionalRoutine != NULL) {
        WskTestOptionalRoutine();
    }

    block = (PUCHAR)ExAllocatePoolWithTag(NonPagedPool, 256, 'nlcW');
    if (block == NULL) {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    RtlZeroMemory(block, 256);
    block[255] = 1;
    ExFreePoolWithTag(block, 'nlcW');

    DriverObject->DriverUnload = CleanUnload;
    DbgPrint("clean: DriverEntry\n");
    return STATUS_SUCCESS;
}
