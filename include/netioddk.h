/*
 * netioddk.h - wsk: Network Module Registrar identifiers used by WSK.
 *
 * Only what wsk.h needs: the network programming interface identifier (NPIID) and the
 * module identifier. Registration through the NMR (NmrRegisterClient...) is not provided;
 * use WskRegister.
 */
#ifndef WSK_NETIODDK_H
#define WSK_NETIODDK_H
#ifndef WSK_HEADERS_NOT_SYSTEM
#pragma GCC system_header
#endif

#include <ntdef.h>

/* As on Windows, PNPIID and PNPI_MODULEID point to const: identifiers are immutable. */
typedef GUID NPIID;
typedef CONST NPIID *PNPIID;
typedef CONST NPIID *PCNPIID;

typedef enum {
    MIT_GUID = 1,
    MIT_IF_LUID
} NPI_MODULEID_TYPE;

typedef struct _NPI_MODULEID {
    USHORT Length;
    NPI_MODULEID_TYPE Type;
    __extension__ union {
        GUID Guid;
        LUID IfLuid;
    };
} NPI_MODULEID;
typedef CONST NPI_MODULEID *PNPI_MODULEID;
typedef CONST NPI_MODULEID *PCNPI_MODULEID;

#endif /* WSK_NETIODDK_H */
