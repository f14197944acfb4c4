/*
 * ntdef.h - wsk: the base types and macros of Windows kernel code, for Linux.
 *
 * Part of the wsk headers: code written for Windows' <ntddk.h>/<wdm.h>/<wsk.h> compiles
 * unchanged against them and runs as a Linux process linked with libwsk (docs/C_ABI.md).
 *
 * - Integer widths are Windows' (LLP64): LONG/ULONG are 32 bits, LONGLONG, ULONG_PTR and
 *   SIZE_T 64 bits, BOOLEAN 8 bits, WCHAR 16 bits. Compile with -fshort-wchar so that
 *   L"..." literals are 16-bit like WCHAR (`wsk cflags` has it).
 * - Calling-convention and import macros (NTAPI, NTSYSAPI, __stdcall...) expand to nothing:
 *   everything uses the native System V ABI.
 * - MSVC-only pragmas (#pragma warning, alloc_text, code_seg) are silenced for the rest of
 *   the translation unit, as are multi-character constants (pool tags such as 'kseW').
 *   g++ before 13 ignores "#pragma GCC diagnostic" for warnings that its preprocessor
 *   issues, so C++ code built with g++ 12 also needs -Wno-unknown-pragmas on the command line.
 * - Define WSK_HEADERS_NOT_SYSTEM to have the compiler warn inside these headers (they are
 *   marked as system headers otherwise, so that warning flags apply to your code only).
 * - C++: like Windows' headers these define min/max (unless NOMINMAX), the SAL 1 names
 *   __in/__out and the SEH keywords __try/__except/__finally, names that libstdc++ also
 *   uses. Include the C++ standard headers you need before the Windows headers.
 */
#ifndef WSK_NTDEF_H
#define WSK_NTDEF_H
#ifndef WSK_HEADERS_NOT_SYSTEM
#pragma GCC system_header
#endif

/* The C library headers the wsk headers use: included first, before any SAL or MSVC
 * keyword macro exists. No Linux socket header is ever included (their AF_INET6 is 10). */
#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <string.h>
#include <stdio.h>

#pragma GCC diagnostic ignored "-Wmultichar"
#pragma GCC diagnostic ignored "-Wunknown-pragmas"

#if !defined(__SIZEOF_WCHAR_T__) || __SIZEOF_WCHAR_T__ != 2
#error "wsk: compile with -fshort-wchar (see wsk cflags): Windows' WCHAR and L\"...\" are 16-bit"
#endif
#if !defined(__x86_64__) && !defined(__aarch64__) && !defined(__LP64__)
#error "wsk: the wsk headers describe the 64-bit Windows layout; build for a 64-bit target"
#endif

#include <sal.h>

#ifdef __cplusplus
#define EXTERN_C extern "C"
#define WSK_BEGIN_C extern "C" {
#define WSK_END_C }
#else
#define EXTERN_C extern
#define WSK_BEGIN_C
#define WSK_END_C
#endif

/* ----- keywords, calling conventions, declspecs ----- */
#define VOID void
#define CONST const
#define IN
#define OUT
#define OPTIONAL
#define UNALIGNED
#define UNALIGNED64
#define RESTRICTED_POINTER
#define NTAPI
#define WINAPI
#define APIENTRY
#define CALLBACK
#define FASTCALL
#define NTSYSAPI
#define NTSYSCALLAPI
#define NTKERNELAPI
#define NTHALAPI
#define DECLSPEC_IMPORT
#define DECLSPEC_EXPORT __attribute__((visibility("default")))
#define DECLSPEC_ALIGN(x) __attribute__((aligned(x)))
#define DECLSPEC_CACHEALIGN DECLSPEC_ALIGN(SYSTEM_CACHE_ALIGNMENT_SIZE)
#define DECLSPEC_NOINLINE __attribute__((noinline))
#define DECLSPEC_NORETURN __attribute__((noreturn))
#define DECLSPEC_SELECTANY __attribute__((weak))
#define DECLSPEC_NOTHROW
#define DECLSPEC_NOVTABLE
#define DECLSPEC_RESTRICT
#define DECLSPEC_UUID(x)
#define DECLSPEC_DEPRECATED
#define DECLSPEC_DEPRECATED_DDK
#define DECLSPEC_GUARDNOCF
#define DECLSPEC_GUARD_SUPPRESS
#define DECLSPEC_NOSANITIZE_ADDRESS __attribute__((no_sanitize_address))
#define DEPRECATE_SUPPORTED 0
#define FORCEINLINE static inline __attribute__((always_inline))
#define NTAPI_INLINE
#define POINTER_ALIGNMENT DECLSPEC_ALIGN(8)
#define MEMORY_ALLOCATION_ALIGNMENT 16
#define SYSTEM_CACHE_ALIGNMENT_SIZE 64
#define MAX_NATURAL_ALIGNMENT sizeof(ULONGLONG)
#define TYPE_ALIGNMENT(t) __alignof__(t)
#ifndef __forceinline
#define __forceinline inline __attribute__((always_inline))
#endif
#ifndef __stdcall
#define __stdcall
#endif
#ifndef __cdecl
#define __cdecl
#endif
#ifndef __fastcall
#define __fastcall
#endif
#define __ptr64
#define __ptr32
#define __unaligned
#define POINTER_64
#define POINTER_32
#define POINTER_SIGNED
#define POINTER_UNSIGNED
#ifndef __int8
#define __int8 char
#endif
#ifndef __int16
#define __int16 short
#endif
#ifndef __int32
#define __int32 int
#endif
#ifndef __int64
#define __int64 long long
#endif
/* __declspec(x): the common MSVC attributes, mapped onto GCC ones. */
#ifndef __declspec
#define __declspec(x) _WSK_DECLSPEC_##x
#define _WSK_DECLSPEC_align(n) __attribute__((aligned(n)))
#define _WSK_DECLSPEC_noinline __attribute__((noinline))
#define _WSK_DECLSPEC_noreturn __attribute__((noreturn))
#define _WSK_DECLSPEC_selectany __attribute__((weak))
#define _WSK_DECLSPEC_dllexport __attribute__((visibility("default")))
#define _WSK_DECLSPEC_dllimport
#define _WSK_DECLSPEC_restrict
#define _WSK_DECLSPEC_noalias
#define _WSK_DECLSPEC_nothrow
#define _WSK_DECLSPEC_novtable
#define _WSK_DECLSPEC_deprecated
#define _WSK_DECLSPEC_thread __thread
#define _WSK_DECLSPEC_code_seg(s)
#define _WSK_DECLSPEC_allocate(s)
#define _WSK_DECLSPEC_uuid(s)
#define _WSK_DECLSPEC_safebuffers
#define _WSK_DECLSPEC_guard(x)
#endif
#ifndef __noop
#define __noop(...) ((void)0)
#endif
#ifndef __assume
#define __assume(e) ((e) ? (void)0 : __builtin_unreachable())
#endif
#if defined(__x86_64__) || defined(__i386__)
#define __debugbreak() __asm__ __volatile__("int3")
#else
#define __debugbreak() __builtin_trap()
#endif

/* ----- integer types (LLP64 widths) ----- */
typedef char CHAR;
typedef signed char SCHAR;
typedef short SHORT;
typedef int LONG;
typedef int INT;
typedef unsigned char UCHAR;
typedef unsigned short USHORT;
typedef unsigned int ULONG;
typedef unsigned int UINT;
typedef long long LONGLONG;
typedef unsigned long long ULONGLONG;
typedef CHAR CCHAR;
typedef short CSHORT;
typedef ULONG CLONG;
typedef signed char INT8;
typedef unsigned char UINT8;
typedef short INT16;
typedef unsigned short UINT16;
typedef int INT32;
typedef unsigned int UINT32;
typedef long long INT64;
typedef unsigned long long UINT64;
typedef int LONG32;
typedef unsigned int ULONG32;
typedef unsigned int DWORD32;
typedef long long LONG64;
typedef unsigned long long ULONG64;
typedef unsigned long long DWORD64;
typedef long long LONG_PTR;
typedef unsigned long long ULONG_PTR;
typedef long long INT_PTR;
typedef unsigned long long UINT_PTR;
typedef ULONG_PTR DWORD_PTR;
typedef ULONG_PTR SIZE_T;
typedef LONG_PTR SSIZE_T;
typedef ULONG_PTR KAFFINITY;
typedef ULONG DWORD;
typedef USHORT WORD;
typedef UCHAR BYTE;
typedef int BOOL;
typedef UCHAR BOOLEAN;
typedef ULONG LOGICAL;
typedef float FLOAT;
typedef double DOUBLE;
typedef LONG NTSTATUS;
typedef LONG HRESULT;
typedef void *PVOID;
typedef void *PVOID64;
typedef void *LPVOID;
typedef const void *LPCVOID;
typedef const void *PCVOID;
typedef PVOID HANDLE;
typedef wchar_t WCHAR;

typedef CHAR *PCHAR, *LPCH, *PCH, *PSTR, *LPSTR, *PSZ, *NPSTR;
typedef CONST CHAR *PCCH, *LPCCH, *PCSTR, *LPCSTR, *PCSZ;
typedef WCHAR *PWCHAR, *PWCH, *LPWCH, *PWSTR, *LPWSTR, *NWPSTR;
typedef CONST WCHAR *PCWCH, *LPCWCH, *PCWSTR, *LPCWSTR;
typedef PWSTR *PZPWSTR;
typedef PCWSTR *PZPCWSTR;
typedef PSTR *PZPSTR;
typedef PCSTR *PZPCSTR;
typedef SCHAR *PSCHAR;
typedef UCHAR *PUCHAR;
typedef CONST UCHAR *PCUCHAR;
typedef SHORT *PSHORT;
typedef USHORT *PUSHORT;
typedef CONST USHORT *PCUSHORT;
typedef LONG *PLONG;
typedef ULONG *PULONG;
typedef CONST ULONG *PCULONG;
typedef INT *PINT, *LPINT;
typedef UINT *PUINT;
typedef LONGLONG *PLONGLONG;
typedef ULONGLONG *PULONGLONG;
typedef LONG64 *PLONG64;
typedef ULONG64 *PULONG64;
typedef DWORD64 *PDWORD64;
typedef INT64 *PINT64;
typedef UINT64 *PUINT64;
typedef LONG32 *PLONG32;
typedef ULONG32 *PULONG32;
typedef INT8 *PINT8;
typedef UINT8 *PUINT8;
typedef INT16 *PINT16;
typedef UINT16 *PUINT16;
typedef INT32 *PINT32;
typedef UINT32 *PUINT32;
typedef LONG_PTR *PLONG_PTR;
typedef ULONG_PTR *PULONG_PTR;
typedef INT_PTR *PINT_PTR;
typedef UINT_PTR *PUINT_PTR;
typedef DWORD_PTR *PDWORD_PTR;
typedef SIZE_T *PSIZE_T;
typedef SSIZE_T *PSSIZE_T;
typedef DWORD *PDWORD, *LPDWORD;
typedef WORD *PWORD, *LPWORD;
typedef BYTE *PBYTE, *LPBYTE;
typedef BOOL *PBOOL, *LPBOOL;
typedef BOOLEAN *PBOOLEAN;
typedef LOGICAL *PLOGICAL;
typedef FLOAT *PFLOAT;
typedef NTSTATUS *PNTSTATUS;
typedef HANDLE *PHANDLE;
typedef PVOID *PPVOID;
typedef ULONG ACCESS_MASK, *PACCESS_MASK;
typedef ULONG DEVICE_TYPE;
typedef UCHAR KIRQL, *PKIRQL;
typedef CCHAR KPROCESSOR_MODE;
typedef LONG KPRIORITY;
typedef ULONG_PTR KSPIN_LOCK, *PKSPIN_LOCK;
typedef ULONG_PTR PFN_NUMBER, *PPFN_NUMBER;
typedef ULONG64 POOL_FLAGS;
typedef USHORT ADDRESS_FAMILY;
typedef PVOID PSECURITY_DESCRIPTOR;
typedef PVOID PSID;
typedef ULONG LCID;
typedef USHORT LANGID;
typedef ULONG EXECUTION_STATE;
typedef LONG SECURITY_STATUS;
typedef ULONG_PTR ERESOURCE_THREAD;

#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif
#ifndef NULL
#define NULL ((void *)0)
#endif
#define ANYSIZE_ARRAY 1
#define UNICODE_NULL ((WCHAR)0)
#define ANSI_NULL ((CHAR)0)
#define UNICODE_STRING_MAX_BYTES ((USHORT)65534)
#define UNICODE_STRING_MAX_CHARS (32767)

#define MINCHAR 0x80
#define MAXCHAR 0x7f
#define MINSHORT 0x8000
#define MAXSHORT 0x7fff
#define MINLONG 0x80000000
#define MAXLONG 0x7fffffff
#define MAXUCHAR 0xff
#define MAXUSHORT 0xffff
#define MAXULONG 0xffffffffU
#define MAXBYTE 0xff
#define MAXWORD 0xffff
#define MAXDWORD 0xffffffffU
#define MAXLONGLONG ((LONGLONG)0x7fffffffffffffffLL)
#define MINLONGLONG ((LONGLONG)(-MAXLONGLONG - 1))
#define MAXULONGLONG ((ULONGLONG)~((ULONGLONG)0))
#define MAXULONG64 ((ULONG64)~((ULONG64)0))
#define MAXLONG64 ((LONG64)(MAXULONG64 >> 1))
#define MINLONG64 ((LONG64)~MAXLONG64)
#define MAXULONG32 ((ULONG32)~((ULONG32)0))
#define MAXLONG32 ((LONG32)(MAXULONG32 >> 1))
#define MINLONG32 ((LONG32)~MAXLONG32)
#define MAXUINT ((UINT)~((UINT)0))
#define MAXINT ((INT)(MAXUINT >> 1))
#define MININT ((INT)~MAXINT)
#define MAXUINT8 ((UINT8)~((UINT8)0))
#define MAXINT8 ((INT8)(MAXUINT8 >> 1))
#define MAXUINT16 ((UINT16)~((UINT16)0))
#define MAXINT16 ((INT16)(MAXUINT16 >> 1))
#define MAXUINT32 ((UINT32)~((UINT32)0))
#define MAXINT32 ((INT32)(MAXUINT32 >> 1))
#define MAXUINT64 ((UINT64)~((UINT64)0))
#define MAXINT64 ((INT64)(MAXUINT64 >> 1))
#define MAXULONG_PTR (~((ULONG_PTR)0))
#define MAXLONG_PTR ((LONG_PTR)(MAXULONG_PTR >> 1))
#define MINLONG_PTR (~MAXLONG_PTR)
#define MAXUINT_PTR (~((UINT_PTR)0))
#define MAXINT_PTR ((INT_PTR)(MAXUINT_PTR >> 1))
#define MININT_PTR (~MAXINT_PTR)
#define MAXSIZE_T ((SIZE_T)~((SIZE_T)0))
#define MAXSSIZE_T ((SSIZE_T)(MAXSIZE_T >> 1))
#define MINSSIZE_T ((SSIZE_T)~MAXSSIZE_T)

/* ----- NTSTATUS tests ----- */
#define NT_SUCCESS(Status) (((NTSTATUS)(Status)) >= 0)
#define NT_INFORMATION(Status) ((((ULONG)(Status)) >> 30) == 1)
#define NT_WARNING(Status) ((((ULONG)(Status)) >> 30) == 2)
#define NT_ERROR(Status) ((((ULONG)(Status)) >> 30) == 3)
#define NT_FACILITY(Status) ((((ULONG)(Status)) >> 16) & 0xFFF)
#define NT_CUSTOMER(Status) ((((ULONG)(Status)) >> 29) & 1)
#define FACILITY_NTWIN32 0x7
#define NTSTATUS_FROM_WIN32(x) ((NTSTATUS)(x) <= 0 ? ((NTSTATUS)(x)) : ((NTSTATUS)(((x) & 0x0000FFFF) | (FACILITY_NTWIN32 << 16) | 0xC0000000)))

/* ----- structure helpers ----- */
#define FIELD_OFFSET(type, field) ((LONG)offsetof(type, field))
#define UFIELD_OFFSET(type, field) ((ULONG)offsetof(type, field))
#define RTL_FIELD_SIZE(type, field) (sizeof(((type *)0)->field))
#define RTL_SIZEOF_THROUGH_FIELD(type, field) (FIELD_OFFSET(type, field) + RTL_FIELD_SIZE(type, field))
#define RTL_CONTAINS_FIELD(Struct, Size, Field) \
    ((((PCHAR)(&(Struct)->Field)) + sizeof((Struct)->Field)) <= (((PCHAR)(Struct)) + (Size)))
#define RTL_NUMBER_OF_V1(A) (sizeof(A) / sizeof((A)[0]))
#define RTL_NUMBER_OF_V2(A) RTL_NUMBER_OF_V1(A)
#define RTL_NUMBER_OF(A) RTL_NUMBER_OF_V1(A)
#define ARRAYSIZE(A) RTL_NUMBER_OF_V2(A)
#define _ARRAYSIZE(A) RTL_NUMBER_OF_V1(A)
#define RTL_NUMBER_OF_FIELD(type, field) (RTL_NUMBER_OF(((type *)0)->field))
#define RTL_FIELD_TYPE(type, field) __typeof__(((type *)0)->field)
#define RTL_PADDING_BETWEEN_FIELDS(T, F1, F2) \
    ((FIELD_OFFSET(T, F2) > FIELD_OFFSET(T, F1)) \
        ? (FIELD_OFFSET(T, F2) - FIELD_OFFSET(T, F1) - RTL_FIELD_SIZE(T, F1)) \
        : (FIELD_OFFSET(T, F1) - FIELD_OFFSET(T, F2) - RTL_FIELD_SIZE(T, F2)))
#define CONTAINING_RECORD(address, type, field) ((type *)((PCHAR)(address) - offsetof(type, field)))
#define ALIGN_DOWN_BY(length, alignment) ((ULONG_PTR)(length) & ~((ULONG_PTR)(alignment) - 1))
#define ALIGN_UP_BY(length, alignment) (ALIGN_DOWN_BY(((ULONG_PTR)(length) + (alignment) - 1), alignment))
#define ALIGN_DOWN_POINTER_BY(address, alignment) ((PVOID)((ULONG_PTR)(address) & ~((ULONG_PTR)(alignment) - 1)))
#define ALIGN_UP_POINTER_BY(address, alignment) (ALIGN_DOWN_POINTER_BY(((ULONG_PTR)(address) + (alignment) - 1), alignment))
#define ALIGN_DOWN(length, type) ALIGN_DOWN_BY(length, sizeof(type))
#define ALIGN_UP(length, type) ALIGN_UP_BY(length, sizeof(type))
#define ALIGN_DOWN_POINTER(address, type) ALIGN_DOWN_POINTER_BY(address, sizeof(type))
#define ALIGN_UP_POINTER(address, type) ALIGN_UP_POINTER_BY(address, sizeof(type))
#define ROUND_TO_SIZE(_length, _alignment) ((((ULONG_PTR)(_length)) + ((_alignment) - 1)) & ~(ULONG_PTR)((_alignment) - 1))
#define FlagOn(_F, _SF) ((_F) & (_SF))
#define BooleanFlagOn(F, SF) ((BOOLEAN)(((F) & (SF)) != 0))
#define SetFlag(_F, _SF) ((_F) |= (_SF))
#define ClearFlag(_F, _SF) ((_F) &= ~(_SF))
#ifndef NOMINMAX
#ifndef min
#define min(a, b) (((a) < (b)) ? (a) : (b))
#endif
#ifndef max
#define max(a, b) (((a) > (b)) ? (a) : (b))
#endif
#endif
#ifndef _countof
#define _countof(A) RTL_NUMBER_OF(A)
#endif

#ifdef __cplusplus
#define C_ASSERT(e) static_assert(e, #e)
#else
#define C_ASSERT(e) _Static_assert(e, #e)
#endif
#define UNREFERENCED_PARAMETER(P) ((void)(P))
#define DBG_UNREFERENCED_PARAMETER(P) ((void)(P))
#define DBG_UNREFERENCED_LOCAL_VARIABLE(V) ((void)(V))
#define UNREFERENCED_LOCAL_VARIABLE(V) ((void)(V))

/* ----- 64-bit integers as unions ----- */
typedef union _LARGE_INTEGER {
    __extension__ struct {
        ULONG LowPart;
        LONG HighPart;
    };
    struct {
        ULONG LowPart;
        LONG HighPart;
    } u;
    LONGLONG QuadPart;
} LARGE_INTEGER, *PLARGE_INTEGER;

typedef union _ULARGE_INTEGER {
    __extension__ struct {
        ULONG LowPart;
        ULONG HighPart;
    };
    struct {
        ULONG LowPart;
        ULONG HighPart;
    } u;
    ULONGLONG QuadPart;
} ULARGE_INTEGER, *PULARGE_INTEGER;

typedef LARGE_INTEGER PHYSICAL_ADDRESS, *PPHYSICAL_ADDRESS;

typedef struct _LUID {
    ULONG LowPart;
    LONG HighPart;
} LUID, *PLUID;

/* ----- GUID ----- */
#include <guiddef.h>

/* ----- lists ----- */
typedef struct _LIST_ENTRY {
    struct _LIST_ENTRY *Flink;
    struct _LIST_ENTRY *Blink;
} LIST_ENTRY, *PLIST_ENTRY, *PRLIST_ENTRY;

typedef struct _SINGLE_LIST_ENTRY {
    struct _SINGLE_LIST_ENTRY *Next;
} SINGLE_LIST_ENTRY, *PSINGLE_LIST_ENTRY;

/* ----- counted strings ----- */
typedef struct _UNICODE_STRING {
    USHORT Length;        /* bytes, without a terminating NUL */
    USHORT MaximumLength; /* bytes */
    PWCH Buffer;
} UNICODE_STRING, *PUNICODE_STRING;
typedef const UNICODE_STRING *PCUNICODE_STRING;

typedef struct _STRING {
    USHORT Length;
    USHORT MaximumLength;
    PCHAR Buffer;
} STRING, *PSTRING, ANSI_STRING, *PANSI_STRING, OEM_STRING, *POEM_STRING;
typedef const STRING *PCSTRING;
typedef const ANSI_STRING *PCANSI_STRING;
typedef const OEM_STRING *PCOEM_STRING;

/* RTL_CONSTANT_STRING("x") / RTL_CONSTANT_STRING(L"x"): a STRING / UNICODE_STRING
 * initializer for a literal. */
#ifdef __cplusplus
static inline PCHAR _WskConstStringBuffer(const CHAR *s) { return (PCHAR)s; }
static inline PWCH _WskConstStringBuffer(const WCHAR *s) { return (PWCH)s; }
#define RTL_CONSTANT_STRING(s) { (USHORT)(sizeof(s) - sizeof((s)[0])), (USHORT)sizeof(s), _WskConstStringBuffer(s) }
#else
#define RTL_CONSTANT_STRING(s) { (USHORT)(sizeof(s) - sizeof((s)[0])), (USHORT)sizeof(s), (void *)(s) }
#endif
#define DECLARE_CONST_UNICODE_STRING(_var, _string) \
    const WCHAR _var##_buffer[] = _string; \
    const UNICODE_STRING _var = { sizeof(_string) - sizeof(WCHAR), sizeof(_string), (PWCH)_var##_buffer }
#define DECLARE_UNICODE_STRING_SIZE(_var, _size) \
    WCHAR _var##_buffer[_size]; \
    UNICODE_STRING _var = { 0, (_size) * sizeof(WCHAR), _var##_buffer }
#define RtlInitEmptyUnicodeString(_ucStr, _buf, _bufSize) \
    ((_ucStr)->Buffer = (_buf), (_ucStr)->Length = 0, (_ucStr)->MaximumLength = (USHORT)(_bufSize))
#define RtlInitEmptyAnsiString(_str, _buf, _bufSize) \
    ((_str)->Buffer = (_buf), (_str)->Length = 0, (_str)->MaximumLength = (USHORT)(_bufSize))

/* ----- object attributes ----- */
typedef struct _OBJECT_ATTRIBUTES {
    ULONG Length;
    HANDLE RootDirectory;
    PUNICODE_STRING ObjectName;
    ULONG Attributes;
    PVOID SecurityDescriptor;
    PVOID SecurityQualityOfService;
} OBJECT_ATTRIBUTES, *POBJECT_ATTRIBUTES;
typedef CONST OBJECT_ATTRIBUTES *PCOBJECT_ATTRIBUTES;

#define OBJ_INHERIT 0x00000002L
#define OBJ_PERMANENT 0x00000010L
#define OBJ_EXCLUSIVE 0x00000020L
#define OBJ_CASE_INSENSITIVE 0x00000040L
#define OBJ_OPENIF 0x00000080L
#define OBJ_OPENLINK 0x00000100L
#define OBJ_KERNEL_HANDLE 0x00000200L
#define OBJ_FORCE_ACCESS_CHECK 0x00000400L
#define OBJ_IGNORE_IMPERSONATED_DEVICEMAP 0x00000800L
#define OBJ_DONT_REPARSE 0x00001000L
#define OBJ_VALID_ATTRIBUTES 0x00001FF2L

#define InitializeObjectAttributes(p, n, a, r, s) \
    do { \
        (p)->Length = sizeof(OBJECT_ATTRIBUTES); \
        (p)->RootDirectory = (r); \
        (p)->Attributes = (a); \
        (p)->ObjectName = (n); \
        (p)->SecurityDescriptor = (s); \
        (p)->SecurityQualityOfService = NULL; \
    } while (0)
#define RTL_CONSTANT_OBJECT_ATTRIBUTES(n, a) { sizeof(OBJECT_ATTRIBUTES), NULL, (PUNICODE_STRING)(n), (a), NULL, NULL }
#define RTL_INIT_OBJECT_ATTRIBUTES(n, a) RTL_CONSTANT_OBJECT_ATTRIBUTES(n, a)

typedef struct _CLIENT_ID {
    HANDLE UniqueProcess;
    HANDLE UniqueThread;
} CLIENT_ID, *PCLIENT_ID;

/* ----- access rights ----- */
#define DELETE 0x00010000L
#define READ_CONTROL 0x00020000L
#define WRITE_DAC 0x00040000L
#define WRITE_OWNER 0x00080000L
#define SYNCHRONIZE 0x00100000L
#define STANDARD_RIGHTS_REQUIRED 0x000F0000L
#define STANDARD_RIGHTS_READ READ_CONTROL
#define STANDARD_RIGHTS_WRITE READ_CONTROL
#define STANDARD_RIGHTS_EXECUTE READ_CONTROL
#define STANDARD_RIGHTS_ALL 0x001F0000L
#define SPECIFIC_RIGHTS_ALL 0x0000FFFFL
#define ACCESS_SYSTEM_SECURITY 0x01000000L
#define MAXIMUM_ALLOWED 0x02000000L
#define GENERIC_READ 0x80000000L
#define GENERIC_WRITE 0x40000000L
#define GENERIC_EXECUTE 0x20000000L
#define GENERIC_ALL 0x10000000L

/* ----- structured exception handling ----- */
#include <excpt.h>

#endif /* WSK_NTDEF_H */
