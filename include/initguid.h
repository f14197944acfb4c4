/*
 * initguid.h - wsk: make DEFINE_GUID define (not just declare) the GUIDs that follow.
 */
#ifndef WSK_HEADERS_NOT_SYSTEM
#pragma GCC system_header
#endif
#ifndef INITGUID
#define INITGUID
#endif
#include <guiddef.h>
