/*
 * ip2string.h - wsk: the Rtl routines converting IP addresses to and from text.
 *
 * Implemented by libwsk with Windows' behaviour (dotted-quad / RFC 5952 text, "[addr%scope]:port"
 * for the Ex forms). <wdm.h> and <mstcpip.h> both include this header.
 */
#ifndef WSK_IP2STRING_H
#define WSK_IP2STRING_H
#ifndef WSK_HEADERS_NOT_SYSTEM
#pragma GCC system_header
#endif

#include <ntdef.h>
#include <inaddr.h>
#include <in6addr.h>

WSK_BEGIN_C

NTSYSAPI PSTR NTAPI RtlIpv4AddressToStringA(_In_ const IN_ADDR *Addr, _Out_writes_(16) PSTR S);
NTSYSAPI PWSTR NTAPI RtlIpv4AddressToStringW(_In_ const IN_ADDR *Addr, _Out_writes_(16) PWSTR S);
NTSYSAPI NTSTATUS NTAPI RtlIpv4AddressToStringExA(_In_ const IN_ADDR *Address, _In_ USHORT Port,
                                                  _Out_writes_to_(*AddressStringLength, *AddressStringLength) PSTR AddressString,
                                                  _Inout_ PULONG AddressStringLength);
NTSYSAPI NTSTATUS NTAPI RtlIpv4AddressToStringExW(_In_ const IN_ADDR *Address, _In_ USHORT Port,
                                                  _Out_writes_to_(*AddressStringLength, *AddressStringLength) PWSTR AddressString,
                                                  _Inout_ PULONG AddressStringLength);
NTSYSAPI PSTR NTAPI RtlIpv6AddressToStringA(_In_ const IN6_ADDR *Addr, _Out_writes_(46) PSTR S);
NTSYSAPI PWSTR NTAPI RtlIpv6AddressToStringW(_In_ const IN6_ADDR *Addr, _Out_writes_(46) PWSTR S);
NTSYSAPI NTSTATUS NTAPI RtlIpv6AddressToStringExA(_In_ const IN6_ADDR *Address, _In_ ULONG ScopeId, _In_ USHORT Port,
                                                  _Out_writes_to_(*AddressStringLength, *AddressStringLength) PSTR AddressString,
                                                  _Inout_ PULONG AddressStringLength);
NTSYSAPI NTSTATUS NTAPI RtlIpv6AddressToStringExW(_In_ const IN6_ADDR *Address, _In_ ULONG ScopeId, _In_ USHORT Port,
                                                  _Out_writes_to_(*AddressStringLength, *AddressStringLength) PWSTR AddressString,
                                                  _Inout_ PULONG AddressStringLength);
NTSYSAPI NTSTATUS NTAPI RtlIpv4StringToAddressA(_In_ PCSTR S, _In_ BOOLEAN Strict, _Out_ PCSTR *Terminator, _Out_ IN_ADDR *Addr);
NTSYSAPI NTSTATUS NTAPI RtlIpv4StringToAddressW(_In_ PCWSTR S, _In_ BOOLEAN Strict, _Out_ PCWSTR *Terminator, _Out_ IN_ADDR *Addr);
NTSYSAPI NTSTATUS NTAPI RtlIpv4StringToAddressExA(_In_ PCSTR AddressString, _In_ BOOLEAN Strict, _Out_ IN_ADDR *Address,
                                                  _Out_ PUSHORT Port);
NTSYSAPI NTSTATUS NTAPI RtlIpv4StringToAddressExW(_In_ PCWSTR AddressString, _In_ BOOLEAN Strict, _Out_ IN_ADDR *Address,
                                                  _Out_ PUSHORT Port);
NTSYSAPI NTSTATUS NTAPI RtlIpv6StringToAddressA(_In_ PCSTR S, _Out_ PCSTR *Terminator, _Out_ IN6_ADDR *Addr);
NTSYSAPI NTSTATUS NTAPI RtlIpv6StringToAddressW(_In_ PCWSTR S, _Out_ PCWSTR *Terminator, _Out_ IN6_ADDR *Addr);
NTSYSAPI NTSTATUS NTAPI RtlIpv6StringToAddressExA(_In_ PCSTR AddressString, _Out_ IN6_ADDR *Address, _Out_ PULONG ScopeId,
                                                  _Out_ PUSHORT Port);
NTSYSAPI NTSTATUS NTAPI RtlIpv6StringToAddressExW(_In_ PCWSTR AddressString, _Out_ IN6_ADDR *Address, _Out_ PULONG ScopeId,
                                                  _Out_ PUSHORT Port);

WSK_END_C

/* The generic names map to the ANSI routines (kernel code is not built with UNICODE). */
#ifdef UNICODE
#define RtlIpv4AddressToString RtlIpv4AddressToStringW
#define RtlIpv4AddressToStringEx RtlIpv4AddressToStringExW
#define RtlIpv6AddressToString RtlIpv6AddressToStringW
#define RtlIpv6AddressToStringEx RtlIpv6AddressToStringExW
#define RtlIpv4StringToAddress RtlIpv4StringToAddressW
#define RtlIpv4StringToAddressEx RtlIpv4StringToAddressExW
#define RtlIpv6StringToAddress RtlIpv6StringToAddressW
#define RtlIpv6StringToAddressEx RtlIpv6StringToAddressExW
#else
#define RtlIpv4AddressToString RtlIpv4AddressToStringA
#define RtlIpv4AddressToStringEx RtlIpv4AddressToStringExA
#define RtlIpv6AddressToString RtlIpv6AddressToStringA
#define RtlIpv6AddressToStringEx RtlIpv6AddressToStringExA
#define RtlIpv4StringToAddress RtlIpv4StringToAddressA
#define RtlIpv4StringToAddressEx RtlIpv4StringToAddressExA
#define RtlIpv6StringToAddress RtlIpv6StringToAddressA
#define RtlIpv6StringToAddressEx RtlIpv6StringToAddressExA
#endif

#endif /* WSK_IP2STRING_H */
