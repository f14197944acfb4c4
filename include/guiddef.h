/*
 * guiddef.h - wsk: GUID and DEFINE_GUID.
 *
 * DEFINE_GUID(name, l, w1, w2, b1, ..., b8) declares `extern const GUID name;`, or defines
 * it (as a weak symbol, so several translation units may do so) when INITGUID is defined
 * (include <initguid.h> before the header that uses DEFINE_GUID).
 */
#ifndef WSK_GUIDDEF_H
#define WSK_GUIDDEF_H
#ifndef WSK_HEADERS_NOT_SYSTEM
#pragma GCC system_header
#endif

#include <string.h>

#ifndef GUID_DEFINED
#define GUID_DEFINED
typedef struct _GUID {
    unsigned int Data1; /* Windows' "unsigned long": 32 bits */
    unsigned short Data2;
    unsigned short Data3;
    unsigned char Data4[8];
} GUID;
#endif
typedef GUID *LPGUID, *PGUID;
typedef const GUID *LPCGUID, *PCGUID;
typedef GUID IID, CLSID, FMTID;
typedef IID *LPIID;
#ifdef __cplusplus
#define REFGUID const GUID &
#define REFIID const IID &
#define REFCLSID const IID &
#define IsEqualGUID(a, b) (!memcmp(&(a), &(b), sizeof(GUID)))
#define InlineIsEqualGUID(a, b) IsEqualGUID(a, b)
#else
#define REFGUID const GUID *
#define REFIID const IID *
#define REFCLSID const IID *
#define IsEqualGUID(a, b) (!memcmp((a), (b), sizeof(GUID)))
#define InlineIsEqualGUID(a, b) IsEqualGUID(a, b)
#endif
#define IsEqualIID(a, b) IsEqualGUID(a, b)
#define IsEqualCLSID(a, b) IsEqualGUID(a, b)

#endif /* WSK_GUIDDEF_H */

/* Outside the include guard: <initguid.h> re-includes this file with INITGUID defined. */
#ifdef DEFINE_GUID
#undef DEFINE_GUID
#endif
#ifdef __cplusplus
#define _WSK_GUID_EXTERN extern "C"
#define _WSK_GUID_DEFINE extern "C"
#else
#define _WSK_GUID_EXTERN extern
#define _WSK_GUID_DEFINE
#endif
#ifdef INITGUID
#define DEFINE_GUID(name, l, w1, w2, b1, b2, b3, b4, b5, b6, b7, b8) \
    _WSK_GUID_DEFINE const GUID name __attribute__((weak)) = { l, w1, w2, { b1, b2, b3, b4, b5, b6, b7, b8 } }
#else
#define DEFINE_GUID(name, l, w1, w2, b1, b2, b3, b4, b5, b6, b7, b8) _WSK_GUID_EXTERN const GUID name
#endif
#ifndef DEFINE_GUIDEX
#define DEFINE_GUIDEX(name) _WSK_GUID_EXTERN const GUID name
#endif
