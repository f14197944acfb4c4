/*
 * mstcpip.h - wsk: Microsoft TCP/IP extensions: vendor ioctls and the inline helpers for
 * IPv4/IPv6 addresses and SOCKADDRs (IN6ADDR_SETANY, INETADDR_ISANY, ...).
 */
#ifndef WSK_MSTCPIP_H
#define WSK_MSTCPIP_H
#ifndef WSK_HEADERS_NOT_SYSTEM
#pragma GCC system_header
#endif

#include <ws2ipdef.h>
#include <ip2string.h>

/* ----- vendor ioctls ----- */
#define SIO_RCVALL _WSAIOW(IOC_VENDOR, 1)
#define SIO_RCVALL_MCAST _WSAIOW(IOC_VENDOR, 2)
#define SIO_RCVALL_IGMPMCAST _WSAIOW(IOC_VENDOR, 3)
#define SIO_KEEPALIVE_VALS _WSAIOW(IOC_VENDOR, 4)
#define SIO_ABSORB_RTRALERT _WSAIOW(IOC_VENDOR, 5)
#define SIO_UCAST_IF _WSAIOW(IOC_VENDOR, 6)
#define SIO_LIMIT_BROADCASTS _WSAIOW(IOC_VENDOR, 7)
#define SIO_INDEX_BIND _WSAIOW(IOC_VENDOR, 8)
#define SIO_INDEX_MCASTIF _WSAIOW(IOC_VENDOR, 9)
#define SIO_INDEX_ADD_MCAST _WSAIOW(IOC_VENDOR, 10)
#define SIO_INDEX_DEL_MCAST _WSAIOW(IOC_VENDOR, 11)
#define SIO_UDP_CONNRESET _WSAIOW(IOC_VENDOR, 12)
#define SIO_RCVALL_MCAST_IF _WSAIOW(IOC_VENDOR, 13)
#define SIO_RCVALL_IF _WSAIOW(IOC_VENDOR, 14)
#define SIO_UDP_NETRESET _WSAIOW(IOC_VENDOR, 15)
#define SIO_LOOPBACK_FAST_PATH _WSAIOW(IOC_VENDOR, 16)
#define SIO_TCP_INITIAL_RTO _WSAIOW(IOC_VENDOR, 17)
#define SIO_APPLY_TRANSPORT_SETTING _WSAIOW(IOC_VENDOR, 19)
#define SIO_QUERY_TRANSPORT_SETTING _WSAIOW(IOC_VENDOR, 20)
#define SIO_TCP_SET_ICW _WSAIOW(IOC_VENDOR, 22)
#define SIO_TCP_SET_ACK_FREQUENCY _WSAIOW(IOC_VENDOR, 23)
#define SIO_SET_PRIORITY_HINT _WSAIOW(IOC_VENDOR, 24)
#define SIO_PRIORITY_HINT SIO_SET_PRIORITY_HINT
#define SIO_TCP_INFO _WSAIORW(IOC_VENDOR, 39)
#define SIO_QUERY_WFP_ALE_ENDPOINT_HANDLE _WSAIOR(IOC_VENDOR, 205)
#define SIO_QUERY_RSS_SCALABILITY_INFO _WSAIOR(IOC_VENDOR, 210)
#define SIO_SET_COMPATIBILITY_MODE _WSAIOW(IOC_VENDOR, 300)

typedef enum {
    RCVALL_OFF = 0,
    RCVALL_ON = 1,
    RCVALL_SOCKETLEVELONLY = 2,
    RCVALL_IPLEVEL = 3
} RCVALL_VALUE, *PRCVALL_VALUE;

struct tcp_keepalive {
    ULONG onoff;
    ULONG keepalivetime;
    ULONG keepaliveinterval;
};

typedef struct _RSS_SCALABILITY_INFO {
    BOOLEAN RssEnabled;
} RSS_SCALABILITY_INFO, *PRSS_SCALABILITY_INFO;

/* ----- IPv4 address helpers ----- */
static inline BOOLEAN IN4_IS_ADDR_UNSPECIFIED(const IN_ADDR *a) { return (BOOLEAN)(a->s_addr == IN4ADDR_ANY); }
static inline BOOLEAN IN4_IS_ADDR_LOOPBACK(const IN_ADDR *a) { return (BOOLEAN)(a->S_un.S_un_b.s_b1 == 0x7f); }
static inline BOOLEAN IN4_IS_ADDR_BROADCAST(const IN_ADDR *a) { return (BOOLEAN)(a->s_addr == IN4ADDR_BROADCAST); }
static inline BOOLEAN IN4_IS_ADDR_MULTICAST(const IN_ADDR *a) { return (BOOLEAN)((a->S_un.S_un_b.s_b1 & 0xf0) == 0xe0); }
static inline BOOLEAN IN4_ADDR_EQUAL(const IN_ADDR *a, const IN_ADDR *b) { return (BOOLEAN)(a->s_addr == b->s_addr); }
static inline BOOLEAN IN4_UNALIGNED_ADDR_EQUAL(const IN_ADDR *a, const IN_ADDR *b) { return IN4_ADDR_EQUAL(a, b); }

static inline void IN4ADDR_SETANY(PSOCKADDR_IN a)
{
    a->sin_family = AF_INET;
    a->sin_port = 0;
    a->sin_addr.s_addr = IN4ADDR_ANY;
    memset(a->sin_zero, 0, sizeof(a->sin_zero));
}
static inline void IN4ADDR_SETLOOPBACK(PSOCKADDR_IN a)
{
    a->sin_family = AF_INET;
    a->sin_port = 0;
    a->sin_addr.s_addr = IN4ADDR_LOOPBACK;
    memset(a->sin_zero, 0, sizeof(a->sin_zero));
}
static inline void IN4ADDR_SETSOCKADDR(PSOCKADDR_IN a, const IN_ADDR *addr, USHORT port)
{
    a->sin_family = AF_INET;
    a->sin_port = port;
    a->sin_addr = *addr;
    memset(a->sin_zero, 0, sizeof(a->sin_zero));
}
static inline BOOLEAN IN4ADDR_ISANY(const SOCKADDR_IN *a) { return IN4_IS_ADDR_UNSPECIFIED(&a->sin_addr); }
static inline BOOLEAN IN4ADDR_ISLOOPBACK(const SOCKADDR_IN *a) { return IN4_IS_ADDR_LOOPBACK(&a->sin_addr); }

/* ----- IPv6 address helpers ----- */
static inline BOOLEAN IN6_ADDR_EQUAL(const IN6_ADDR *x, const IN6_ADDR *y)
{
    return (BOOLEAN)(memcmp(x, y, sizeof(IN6_ADDR)) == 0);
}
static inline BOOLEAN IN6_IS_ADDR_UNSPECIFIED(const IN6_ADDR *a)
{
    static const IN6_ADDR any = IN6ADDR_ANY_INIT;
    return IN6_ADDR_EQUAL(a, &any);
}
static inline BOOLEAN IN6_IS_ADDR_LOOPBACK(const IN6_ADDR *a)
{
    static const IN6_ADDR loopback = IN6ADDR_LOOPBACK_INIT;
    return IN6_ADDR_EQUAL(a, &loopback);
}
static inline BOOLEAN IN6_IS_ADDR_MULTICAST(const IN6_ADDR *a) { return (BOOLEAN)(a->u.Byte[0] == 0xff); }
static inline BOOLEAN IN6_IS_ADDR_LINKLOCAL(const IN6_ADDR *a)
{
    return (BOOLEAN)(a->u.Byte[0] == 0xfe && (a->u.Byte[1] & 0xc0) == 0x80);
}
static inline BOOLEAN IN6_IS_ADDR_SITELOCAL(const IN6_ADDR *a)
{
    return (BOOLEAN)(a->u.Byte[0] == 0xfe && (a->u.Byte[1] & 0xc0) == 0xc0);
}
static inline BOOLEAN IN6_IS_ADDR_V4MAPPED(const IN6_ADDR *a)
{
    return (BOOLEAN)(a->u.Word[0] == 0 && a->u.Word[1] == 0 && a->u.Word[2] == 0 && a->u.Word[3] == 0 &&
                     a->u.Word[4] == 0 && a->u.Word[5] == 0xffff);
}
static inline void IN6_SET_ADDR_UNSPECIFIED(PIN6_ADDR a) { memset(a, 0, sizeof(IN6_ADDR)); }
static inline void IN6_SET_ADDR_LOOPBACK(PIN6_ADDR a)
{
    memset(a, 0, sizeof(IN6_ADDR));
    a->u.Byte[15] = 1;
}
static inline void IN6ADDR_SETANY(PSOCKADDR_IN6 a)
{
    a->sin6_family = AF_INET6;
    a->sin6_port = 0;
    a->sin6_flowinfo = 0;
    IN6_SET_ADDR_UNSPECIFIED(&a->sin6_addr);
    a->sin6_scope_id = 0;
}
static inline void IN6ADDR_SETLOOPBACK(PSOCKADDR_IN6 a)
{
    a->sin6_family = AF_INET6;
    a->sin6_port = 0;
    a->sin6_flowinfo = 0;
    IN6_SET_ADDR_LOOPBACK(&a->sin6_addr);
    a->sin6_scope_id = 0;
}
static inline void IN6ADDR_SETSOCKADDR(PSOCKADDR_IN6 a, const IN6_ADDR *addr, SCOPE_ID scope, USHORT port)
{
    a->sin6_family = AF_INET6;
    a->sin6_port = port;
    a->sin6_flowinfo = 0;
    a->sin6_addr = *addr;
    a->sin6_scope_struct = scope;
}
static inline BOOLEAN IN6ADDR_ISANY(const SOCKADDR_IN6 *a) { return IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr); }
static inline BOOLEAN IN6ADDR_ISLOOPBACK(const SOCKADDR_IN6 *a) { return IN6_IS_ADDR_LOOPBACK(&a->sin6_addr); }
static inline void IN6ADDR_SETV4MAPPED(PSOCKADDR_IN6 a6, const IN_ADDR *a4, SCOPE_ID scope, USHORT port)
{
    a6->sin6_family = AF_INET6;
    a6->sin6_port = port;
    a6->sin6_flowinfo = 0;
    memset(&a6->sin6_addr, 0, sizeof(IN6_ADDR));
    a6->sin6_addr.u.Byte[10] = 0xff;
    a6->sin6_addr.u.Byte[11] = 0xff;
    memcpy(&a6->sin6_addr.u.Byte[12], a4, sizeof(IN_ADDR));
    a6->sin6_scope_struct = scope;
}

/* ----- family-independent SOCKADDR helpers ----- */
static inline BOOLEAN INETADDR_ISANY(const SOCKADDR *a)
{
    return a->sa_family == AF_INET6 ? IN6ADDR_ISANY((const SOCKADDR_IN6 *)a) : IN4ADDR_ISANY((const SOCKADDR_IN *)a);
}
static inline BOOLEAN INETADDR_ISLOOPBACK(const SOCKADDR *a)
{
    return a->sa_family == AF_INET6 ? IN6ADDR_ISLOOPBACK((const SOCKADDR_IN6 *)a)
                                    : IN4ADDR_ISLOOPBACK((const SOCKADDR_IN *)a);
}
static inline void INETADDR_SETANY(PSOCKADDR a)
{
    if (a->sa_family == AF_INET6)
        IN6ADDR_SETANY((PSOCKADDR_IN6)a);
    else
        IN4ADDR_SETANY((PSOCKADDR_IN)a);
}
static inline void INETADDR_SETLOOPBACK(PSOCKADDR a)
{
    if (a->sa_family == AF_INET6)
        IN6ADDR_SETLOOPBACK((PSOCKADDR_IN6)a);
    else
        IN4ADDR_SETLOOPBACK((PSOCKADDR_IN)a);
}
static inline PUCHAR INETADDR_ADDRESS(const SOCKADDR *a)
{
    return a->sa_family == AF_INET6 ? (PUCHAR)&((const SOCKADDR_IN6 *)a)->sin6_addr
                                    : (PUCHAR)&((const SOCKADDR_IN *)a)->sin_addr;
}
static inline USHORT INETADDR_PORT(const SOCKADDR *a)
{
    return a->sa_family == AF_INET6 ? ((const SOCKADDR_IN6 *)a)->sin6_port : ((const SOCKADDR_IN *)a)->sin_port;
}
static inline void INETADDR_SET_PORT(PSOCKADDR a, USHORT port)
{
    if (a->sa_family == AF_INET6)
        ((PSOCKADDR_IN6)a)->sin6_port = port;
    else
        ((PSOCKADDR_IN)a)->sin_port = port;
}
static inline ULONG INET_SOCKADDR_LENGTH(ADDRESS_FAMILY af)
{
    return af == AF_INET6 ? (ULONG)sizeof(SOCKADDR_IN6) : (ULONG)sizeof(SOCKADDR_IN);
}

#endif /* WSK_MSTCPIP_H */
