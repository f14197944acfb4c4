/*
 * drvhost.c: plays the part of `wsk run` for tests that need the driver built into the
 * executable (AddressSanitizer instruments it all): link a driver's sources with this
 * file and libwsk.
 *
 *   drvhost            run the driver until stdin says "unload" or reaches end-of-file
 *
 * It builds a DRIVER_OBJECT and a registry path, calls DriverEntry and prints
 * "drvhost: DriverEntry returned 0x........"; a failure exits 2 at once. Then it reads
 * stdin until a line "unload" or end-of-file, calls DriverUnload (if the driver set one),
 * prints "drvhost: unloaded" and exits 0.
 */
#include <ntddk.h>

#include <stdio.h>
#include <string.h>

DRIVER_INITIALIZE DriverEntry;

static DRIVER_OBJECT Driver;
static UNICODE_STRING RegistryPath;

int main(void)
{
    char Line[256];
    NTSTATUS Status;

    setvbuf(stdout, NULL, _IOLBF, 0);
    RtlZeroMemory(&Driver, sizeof(Driver));
#ifdef IO_TYPE_DRIVER
    Driver.Type = IO_TYPE_DRIVER;
#endif
    Driver.Size = (CSHORT)sizeof(Driver);
    RtlInitUnicodeString(&Driver.DriverName, L"\\Driver\\drvhost");
    RtlInitUnicodeString(&RegistryPath, L"\\Registry\\Machine\\System\\CurrentControlSet\\Services\\drvhost");

    Status = DriverEntry(&Driver, &RegistryPath);
    printf("drvhost: DriverEntry returned 0x%08X\n", (unsigned)Status);
    fflush(stdout);
    if (!NT_SUCCESS(Status)) {
        return 2;
    }

    while (fgets(Line, sizeof(Line), stdin) != NULL) {
        if (strncmp(Line, "unload", 6) == 0) {
            break;
        }
    }

    if (Driver.DriverUnload != NULL) {
        Driver.DriverUnload(&Driver);
    }
    printf("drvhost: unloaded\n");
    fflush(stdout);
    return 0;
}
