/*
 * ntifs.h - wsk: the file-system kit header; here the same content as <ntddk.h>.
 */
#ifndef WSK_NTIFS_H
#define WSK_NTIFS_H
#ifndef WSK_HEADERS_NOT_SYSTEM
#pragma GCC system_header
#endif

#include <ntddk.h>

#endif /* WSK_NTIFS_H */
