/*
 * in6addr.h - wsk: IN6_ADDR, an IPv6 address (network byte order), Windows layout.
 */
#ifndef WSK_IN6ADDR_H
#define WSK_IN6ADDR_H
#ifndef WSK_HEADERS_NOT_SYSTEM
#pragma GCC system_header
#endif

#include <ntdef.h>

typedef struct in6_addr {
    union {
        UCHAR Byte[16];
        USHORT Word[8];
    } u;
} IN6_ADDR, *PIN6_ADDR, *LPIN6_ADDR;
typedef const IN6_ADDR *PCIN6_ADDR;

#define in_addr6 in6_addr
#define _S6_un u
#define _S6_u8 Byte
#define s6_addr _S6_un._S6_u8
#define s6_bytes u.Byte
#define s6_words u.Word

#endif /* WSK_IN6ADDR_H */
