/*
 * ntddk.h - wsk: the driver development kit header: everything of <wdm.h>.
 */
#ifndef WSK_NTDDK_H
#define WSK_NTDDK_H
#ifndef WSK_HEADERS_NOT_SYSTEM
#pragma GCC system_header
#endif

#include <wdm.h>

#endif /* WSK_NTDDK_H */
