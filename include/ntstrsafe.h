/*
 * ntstrsafe.h - wsk: the safe string routines of kernel code (RtlStringCb..., RtlStringCch...,
 * RtlUnicodeString...), as inline functions.
 *
 * Semantics as on Windows: the destination is always NUL-terminated (when it has room for
 * anything); STATUS_BUFFER_OVERFLOW means the result was truncated; STATUS_INVALID_PARAMETER
 * a zero or too large destination size. The printf routines use the Windows conventions of
 * DbgPrint (%ws, %wZ, %I64x, %lu: see _wsk_format.h); in the W routines %s and %c take
 * WCHAR. Formatted output is limited to 4095 bytes of UTF-8 per call.
 */
#ifndef WSK_NTSTRSAFE_H
#define WSK_NTSTRSAFE_H
#ifndef WSK_HEADERS_NOT_SYSTEM
#pragma GCC system_header
#endif

#include <ntdef.h>
#include <ntstatus.h>
#include <_wsk_format.h>

typedef char *NTSTRSAFE_PSTR;
typedef const char *NTSTRSAFE_PCSTR;
typedef WCHAR *NTSTRSAFE_PWSTR;
typedef const WCHAR *NTSTRSAFE_PCWSTR;
typedef const WCHAR *NTSTRSAFE_PCUWSTR;

#define NTSTRSAFEDDI static inline NTSTATUS
#define NTSTRSAFE_INLINE_API static inline NTSTATUS
#define NTSTRSAFE_MAX_CCH 2147483647
#define NTSTRSAFE_UNICODE_STRING_MAX_CCH 32767
#define _WSK_STRSAFE_FORMAT_MAX 4096

/* ----- lengths ----- */
static inline size_t _WskStrLenA(NTSTRSAFE_PCSTR s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n])
        n++;
    return n;
}
static inline size_t _WskStrLenW(NTSTRSAFE_PCWSTR s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n])
        n++;
    return n;
}

NTSTRSAFEDDI RtlStringCchLengthA(_In_reads_or_z_(cchMax) NTSTRSAFE_PCSTR psz, _In_ size_t cchMax,
                                 _Out_opt_ size_t *pcchLength)
{
    size_t n;
    if (!psz || cchMax > NTSTRSAFE_MAX_CCH) {
        if (pcchLength)
            *pcchLength = 0;
        return STATUS_INVALID_PARAMETER;
    }
    n = _WskStrLenA(psz, cchMax);
    if (n == cchMax) {
        if (pcchLength)
            *pcchLength = 0;
        return STATUS_INVALID_PARAMETER;
    }
    if (pcchLength)
        *pcchLength = n;
    return STATUS_SUCCESS;
}
NTSTRSAFEDDI RtlStringCbLengthA(_In_reads_or_z_(cbMax) NTSTRSAFE_PCSTR psz, _In_ size_t cbMax,
                                _Out_opt_ size_t *pcbLength)
{
    return RtlStringCchLengthA(psz, cbMax, pcbLength);
}
NTSTRSAFEDDI RtlStringCchLengthW(_In_reads_or_z_(cchMax) NTSTRSAFE_PCWSTR psz, _In_ size_t cchMax,
                                 _Out_opt_ size_t *pcchLength)
{
    size_t n;
    if (!psz || cchMax > NTSTRSAFE_MAX_CCH) {
        if (pcchLength)
            *pcchLength = 0;
        return STATUS_INVALID_PARAMETER;
    }
    n = _WskStrLenW(psz, cchMax);
    if (n == cchMax) {
        if (pcchLength)
            *pcchLength = 0;
        return STATUS_INVALID_PARAMETER;
    }
    if (pcchLength)
        *pcchLength = n;
    return STATUS_SUCCESS;
}
NTSTRSAFEDDI RtlStringCbLengthW(_In_reads_or_z_(cbMax / sizeof(WCHAR)) NTSTRSAFE_PCWSTR psz, _In_ size_t cbMax,
                                _Out_opt_ size_t *pcbLength)
{
    size_t cch = 0;
    NTSTATUS status = RtlStringCchLengthW(psz, cbMax / sizeof(WCHAR), &cch);
    if (pcbLength)
        *pcbLength = cch * sizeof(WCHAR);
    return status;
}

/* ----- copy and concatenate ----- */
NTSTRSAFEDDI RtlStringCchCopyNA(_Out_writes_(cchDest) NTSTRSAFE_PSTR pszDest, _In_ size_t cchDest,
                                _In_reads_or_z_(cchToCopy) NTSTRSAFE_PCSTR pszSrc, _In_ size_t cchToCopy)
{
    size_t n = 0;
    if (cchDest == 0 || cchDest > NTSTRSAFE_MAX_CCH || !pszDest)
        return STATUS_INVALID_PARAMETER;
    if (!pszSrc)
        pszSrc = "";
    while (n + 1 < cchDest && n < cchToCopy && pszSrc[n]) {
        pszDest[n] = pszSrc[n];
        n++;
    }
    pszDest[n] = 0;
    return (n < cchToCopy && pszSrc[n]) ? STATUS_BUFFER_OVERFLOW : STATUS_SUCCESS;
}
NTSTRSAFEDDI RtlStringCchCopyA(_Out_writes_(cchDest) NTSTRSAFE_PSTR pszDest, _In_ size_t cchDest,
                               _In_ NTSTRSAFE_PCSTR pszSrc)
{
    return RtlStringCchCopyNA(pszDest, cchDest, pszSrc, NTSTRSAFE_MAX_CCH);
}
NTSTRSAFEDDI RtlStringCbCopyA(_Out_writes_bytes_(cbDest) NTSTRSAFE_PSTR pszDest, _In_ size_t cbDest,
                              _In_ NTSTRSAFE_PCSTR pszSrc)
{
    return RtlStringCchCopyNA(pszDest, cbDest, pszSrc, NTSTRSAFE_MAX_CCH);
}
NTSTRSAFEDDI RtlStringCbCopyNA(_Out_writes_bytes_(cbDest) NTSTRSAFE_PSTR pszDest, _In_ size_t cbDest,
                               _In_reads_bytes_(cbToCopy) NTSTRSAFE_PCSTR pszSrc, _In_ size_t cbToCopy)
{
    return RtlStringCchCopyNA(pszDest, cbDest, pszSrc, cbToCopy);
}
NTSTRSAFEDDI RtlStringCchCopyNW(_Out_writes_(cchDest) NTSTRSAFE_PWSTR pszDest, _In_ size_t cchDest,
                                _In_reads_or_z_(cchToCopy) NTSTRSAFE_PCWSTR pszSrc, _In_ size_t cchToCopy)
{
    static const WCHAR empty[1] = { 0 };
    size_t n = 0;
    if (cchDest == 0 || cchDest > NTSTRSAFE_MAX_CCH || !pszDest)
        return STATUS_INVALID_PARAMETER;
    if (!pszSrc)
        pszSrc = empty;
    while (n + 1 < cchDest && n < cchToCopy && pszSrc[n]) {
        pszDest[n] = pszSrc[n];
        n++;
    }
    pszDest[n] = 0;
    return (n < cchToCopy && pszSrc[n]) ? STATUS_BUFFER_OVERFLOW : STATUS_SUCCESS;
}
NTSTRSAFEDDI RtlStringCchCopyW(_Out_writes_(cchDest) NTSTRSAFE_PWSTR pszDest, _In_ size_t cchDest,
                               _In_ NTSTRSAFE_PCWSTR pszSrc)
{
    return RtlStringCchCopyNW(pszDest, cchDest, pszSrc, NTSTRSAFE_MAX_CCH);
}
NTSTRSAFEDDI RtlStringCbCopyW(_Out_writes_bytes_(cbDest) NTSTRSAFE_PWSTR pszDest, _In_ size_t cbDest,
                              _In_ NTSTRSAFE_PCWSTR pszSrc)
{
    return RtlStringCchCopyNW(pszDest, cbDest / sizeof(WCHAR), pszSrc, NTSTRSAFE_MAX_CCH);
}
NTSTRSAFEDDI RtlStringCbCopyNW(_Out_writes_bytes_(cbDest) NTSTRSAFE_PWSTR pszDest, _In_ size_t cbDest,
                               _In_reads_bytes_(cbToCopy) NTSTRSAFE_PCWSTR pszSrc, _In_ size_t cbToCopy)
{
    return RtlStringCchCopyNW(pszDest, cbDest / sizeof(WCHAR), pszSrc, cbToCopy / sizeof(WCHAR));
}

NTSTRSAFEDDI RtlStringCchCatNA(_Inout_updates_(cchDest) NTSTRSAFE_PSTR pszDest, _In_ size_t cchDest,
                               _In_reads_or_z_(cchToAppend) NTSTRSAFE_PCSTR pszSrc, _In_ size_t cchToAppend)
{
    size_t len;
    if (cchDest == 0 || cchDest > NTSTRSAFE_MAX_CCH || !pszDest)
        return STATUS_INVALID_PARAMETER;
    len = _WskStrLenA(pszDest, cchDest);
    if (len == cchDest)
        return STATUS_INVALID_PARAMETER;
    return RtlStringCchCopyNA(pszDest + len, cchDest - len, pszSrc, cchToAppend);
}
NTSTRSAFEDDI RtlStringCchCatA(_Inout_updates_(cchDest) NTSTRSAFE_PSTR pszDest, _In_ size_t cchDest,
                              _In_ NTSTRSAFE_PCSTR pszSrc)
{
    return RtlStringCchCatNA(pszDest, cchDest, pszSrc, NTSTRSAFE_MAX_CCH);
}
NTSTRSAFEDDI RtlStringCbCatA(_Inout_updates_bytes_(cbDest) NTSTRSAFE_PSTR pszDest, _In_ size_t cbDest,
                             _In_ NTSTRSAFE_PCSTR pszSrc)
{
    return RtlStringCchCatNA(pszDest, cbDest, pszSrc, NTSTRSAFE_MAX_CCH);
}
NTSTRSAFEDDI RtlStringCbCatNA(_Inout_updates_bytes_(cbDest) NTSTRSAFE_PSTR pszDest, _In_ size_t cbDest,
                              _In_reads_bytes_(cbToAppend) NTSTRSAFE_PCSTR pszSrc, _In_ size_t cbToAppend)
{
    return RtlStringCchCatNA(pszDest, cbDest, pszSrc, cbToAppend);
}
NTSTRSAFEDDI RtlStringCchCatNW(_Inout_updates_(cchDest) NTSTRSAFE_PWSTR pszDest, _In_ size_t cchDest,
                               _In_reads_or_z_(cchToAppend) NTSTRSAFE_PCWSTR pszSrc, _In_ size_t cchToAppend)
{
    size_t len;
    if (cchDest == 0 || cchDest > NTSTRSAFE_MAX_CCH || !pszDest)
        return STATUS_INVALID_PARAMETER;
    len = _WskStrLenW(pszDest, cchDest);
    if (len == cchDest)
        return STATUS_INVALID_PARAMETER;
    return RtlStringCchCopyNW(pszDest + len, cchDest - len, pszSrc, cchToAppend);
}
NTSTRSAFEDDI RtlStringCchCatW(_Inout_updates_(cchDest) NTSTRSAFE_PWSTR pszDest, _In_ size_t cchDest,
                              _In_ NTSTRSAFE_PCWSTR pszSrc)
{
    return RtlStringCchCatNW(pszDest, cchDest, pszSrc, NTSTRSAFE_MAX_CCH);
}
NTSTRSAFEDDI RtlStringCbCatW(_Inout_updates_bytes_(cbDest) NTSTRSAFE_PWSTR pszDest, _In_ size_t cbDest,
                             _In_ NTSTRSAFE_PCWSTR pszSrc)
{
    return RtlStringCchCatNW(pszDest, cbDest / sizeof(WCHAR), pszSrc, NTSTRSAFE_MAX_CCH);
}
NTSTRSAFEDDI RtlStringCbCatNW(_Inout_updates_bytes_(cbDest) NTSTRSAFE_PWSTR pszDest, _In_ size_t cbDest,
                              _In_reads_bytes_(cbToAppend) NTSTRSAFE_PCWSTR pszSrc, _In_ size_t cbToAppend)
{
    return RtlStringCchCatNW(pszDest, cbDest / sizeof(WCHAR), pszSrc, cbToAppend / sizeof(WCHAR));
}

/* ----- formatted output ----- */
NTSTRSAFEDDI RtlStringCchVPrintfA(_Out_writes_(cchDest) NTSTRSAFE_PSTR pszDest, _In_ size_t cchDest,
                                  _In_ _Printf_format_string_ NTSTRSAFE_PCSTR pszFormat, _In_ va_list argList)
{
    size_t n;
    if (cchDest == 0 || cchDest > NTSTRSAFE_MAX_CCH || !pszDest)
        return STATUS_INVALID_PARAMETER;
    n = _WskFormatV(pszDest, cchDest, NULL, 0, pszFormat ? pszFormat : "", argList);
    return n >= cchDest ? STATUS_BUFFER_OVERFLOW : STATUS_SUCCESS;
}
NTSTRSAFEDDI RtlStringCbVPrintfA(_Out_writes_bytes_(cbDest) NTSTRSAFE_PSTR pszDest, _In_ size_t cbDest,
                                 _In_ _Printf_format_string_ NTSTRSAFE_PCSTR pszFormat, _In_ va_list argList)
{
    return RtlStringCchVPrintfA(pszDest, cbDest, pszFormat, argList);
}
static inline NTSTATUS RtlStringCchPrintfA(_Out_writes_(cchDest) NTSTRSAFE_PSTR pszDest, _In_ size_t cchDest,
                                           _In_ _Printf_format_string_ NTSTRSAFE_PCSTR pszFormat, ...)
{
    NTSTATUS status;
    va_list ap;
    va_start(ap, pszFormat);
    status = RtlStringCchVPrintfA(pszDest, cchDest, pszFormat, ap);
    va_end(ap);
    return status;
}
static inline NTSTATUS RtlStringCbPrintfA(_Out_writes_bytes_(cbDest) NTSTRSAFE_PSTR pszDest, _In_ size_t cbDest,
                                          _In_ _Printf_format_string_ NTSTRSAFE_PCSTR pszFormat, ...)
{
    NTSTATUS status;
    va_list ap;
    va_start(ap, pszFormat);
    status = RtlStringCchVPrintfA(pszDest, cbDest, pszFormat, ap);
    va_end(ap);
    return status;
}

/* Formats a WCHAR format string into Dest[cchDest] WCHARs; sets *Length to the WCHARs
 * written (without the NUL). */
static inline NTSTATUS _WskStringVPrintfW(NTSTRSAFE_PWSTR Dest, size_t cchDest, size_t *Length,
                                          NTSTRSAFE_PCWSTR Format, va_list Args)
{
    char fmt[_WSK_STRSAFE_FORMAT_MAX], out[_WSK_STRSAFE_FORMAT_MAX];
    size_t n;
    int truncated = 0;
    _WskUtf16ToUtf8(fmt, sizeof(fmt), Format, (size_t)-1, (size_t)-1);
    n = _WskFormatV(out, sizeof(out), NULL, 1, fmt, Args);
    *Length = _WskUtf8ToUtf16(Dest, cchDest, out, &truncated);
    return (truncated || n >= sizeof(out)) ? STATUS_BUFFER_OVERFLOW : STATUS_SUCCESS;
}
NTSTRSAFEDDI RtlStringCchVPrintfW(_Out_writes_(cchDest) NTSTRSAFE_PWSTR pszDest, _In_ size_t cchDest,
                                  _In_ _Printf_format_string_ NTSTRSAFE_PCWSTR pszFormat, _In_ va_list argList)
{
    static const WCHAR empty[1] = { 0 };
    size_t len;
    if (cchDest == 0 || cchDest > NTSTRSAFE_MAX_CCH || !pszDest)
        return STATUS_INVALID_PARAMETER;
    return _WskStringVPrintfW(pszDest, cchDest, &len, pszFormat ? pszFormat : empty, argList);
}
NTSTRSAFEDDI RtlStringCbVPrintfW(_Out_writes_bytes_(cbDest) NTSTRSAFE_PWSTR pszDest, _In_ size_t cbDest,
                                 _In_ _Printf_format_string_ NTSTRSAFE_PCWSTR pszFormat, _In_ va_list argList)
{
    return RtlStringCchVPrintfW(pszDest, cbDest / sizeof(WCHAR), pszFormat, argList);
}
static inline NTSTATUS RtlStringCchPrintfW(_Out_writes_(cchDest) NTSTRSAFE_PWSTR pszDest, _In_ size_t cchDest,
                                           _In_ _Printf_format_string_ NTSTRSAFE_PCWSTR pszFormat, ...)
{
    NTSTATUS status;
    va_list ap;
    va_start(ap, pszFormat);
    status = RtlStringCchVPrintfW(pszDest, cchDest, pszFormat, ap);
    va_end(ap);
    return status;
}
static inline NTSTATUS RtlStringCbPrintfW(_Out_writes_bytes_(cbDest) NTSTRSAFE_PWSTR pszDest, _In_ size_t cbDest,
                                          _In_ _Printf_format_string_ NTSTRSAFE_PCWSTR pszFormat, ...)
{
    NTSTATUS status;
    va_list ap;
    va_start(ap, pszFormat);
    status = RtlStringCchVPrintfW(pszDest, cbDest / sizeof(WCHAR), pszFormat, ap);
    va_end(ap);
    return status;
}

/* ----- UNICODE_STRING ----- */
NTSTRSAFEDDI RtlUnicodeStringValidate(_In_opt_ PCUNICODE_STRING SourceString)
{
    if (!SourceString)
        return STATUS_SUCCESS;
    if ((SourceString->Length % sizeof(WCHAR)) || (SourceString->MaximumLength % sizeof(WCHAR)) ||
        SourceString->Length > SourceString->MaximumLength ||
        SourceString->MaximumLength > NTSTRSAFE_UNICODE_STRING_MAX_CCH * sizeof(WCHAR) ||
        (!SourceString->Buffer && (SourceString->Length || SourceString->MaximumLength)))
        return STATUS_INVALID_PARAMETER;
    return STATUS_SUCCESS;
}
NTSTRSAFEDDI RtlUnicodeStringInit(_Out_ PUNICODE_STRING DestinationString, _In_opt_ NTSTRSAFE_PCWSTR pszSrc)
{
    size_t n = 0;
    DestinationString->Length = 0;
    DestinationString->MaximumLength = 0;
    DestinationString->Buffer = (PWCH)pszSrc;
    if (pszSrc) {
        n = _WskStrLenW(pszSrc, NTSTRSAFE_UNICODE_STRING_MAX_CCH + 1);
        if (n > NTSTRSAFE_UNICODE_STRING_MAX_CCH)
            return STATUS_INVALID_PARAMETER;
        DestinationString->Length = (USHORT)(n * sizeof(WCHAR));
        DestinationString->MaximumLength = (USHORT)((n + 1) * sizeof(WCHAR));
        if (DestinationString->MaximumLength > NTSTRSAFE_UNICODE_STRING_MAX_CCH * sizeof(WCHAR))
            DestinationString->MaximumLength = DestinationString->Length;
    }
    return STATUS_SUCCESS;
}
static inline NTSTATUS _WskUnicodeStringPut(PUNICODE_STRING Dest, size_t Offset, const WCHAR *Src, size_t cch)
{
    size_t room = Dest->MaximumLength / sizeof(WCHAR);
    size_t n = cch;
    if (Offset > room)
        return STATUS_INVALID_PARAMETER;
    if (n > room - Offset)
        n = room - Offset;
    if (n)
        memmove(Dest->Buffer + Offset, Src, n * sizeof(WCHAR));
    Dest->Length = (USHORT)((Offset + n) * sizeof(WCHAR));
    return n < cch ? STATUS_BUFFER_OVERFLOW : STATUS_SUCCESS;
}
NTSTRSAFEDDI RtlUnicodeStringCopy(_Inout_ PUNICODE_STRING DestinationString, _In_ PCUNICODE_STRING SourceString)
{
    if (!NT_SUCCESS(RtlUnicodeStringValidate(DestinationString)) || !NT_SUCCESS(RtlUnicodeStringValidate(SourceString)))
        return STATUS_INVALID_PARAMETER;
    return _WskUnicodeStringPut(DestinationString, 0, SourceString->Buffer, SourceString->Length / sizeof(WCHAR));
}
NTSTRSAFEDDI RtlUnicodeStringCopyString(_Inout_ PUNICODE_STRING DestinationString, _In_ NTSTRSAFE_PCWSTR pszSrc)
{
    if (!NT_SUCCESS(RtlUnicodeStringValidate(DestinationString)) || !pszSrc)
        return STATUS_INVALID_PARAMETER;
    return _WskUnicodeStringPut(DestinationString, 0, pszSrc, _WskStrLenW(pszSrc, NTSTRSAFE_UNICODE_STRING_MAX_CCH + 1));
}
NTSTRSAFEDDI RtlUnicodeStringCat(_Inout_ PUNICODE_STRING DestinationString, _In_ PCUNICODE_STRING SourceString)
{
    if (!NT_SUCCESS(RtlUnicodeStringValidate(DestinationString)) || !NT_SUCCESS(RtlUnicodeStringValidate(SourceString)))
        return STATUS_INVALID_PARAMETER;
    return _WskUnicodeStringPut(DestinationString, DestinationString->Length / sizeof(WCHAR), SourceString->Buffer,
                                SourceString->Length / sizeof(WCHAR));
}
NTSTRSAFEDDI RtlUnicodeStringCatString(_Inout_ PUNICODE_STRING DestinationString, _In_ NTSTRSAFE_PCWSTR pszSrc)
{
    if (!NT_SUCCESS(RtlUnicodeStringValidate(DestinationString)) || !pszSrc)
        return STATUS_INVALID_PARAMETER;
    return _WskUnicodeStringPut(DestinationString, DestinationString->Length / sizeof(WCHAR), pszSrc,
                                _WskStrLenW(pszSrc, NTSTRSAFE_UNICODE_STRING_MAX_CCH + 1));
}
NTSTRSAFEDDI RtlUnicodeStringVPrintf(_Inout_ PUNICODE_STRING DestinationString,
                                     _In_ _Printf_format_string_ NTSTRSAFE_PCWSTR pszFormat, _In_ va_list argList)
{
    WCHAR tmp[_WSK_STRSAFE_FORMAT_MAX];
    size_t len = 0;
    NTSTATUS status;
    if (!NT_SUCCESS(RtlUnicodeStringValidate(DestinationString)) || !pszFormat)
        return STATUS_INVALID_PARAMETER;
    status = _WskStringVPrintfW(tmp, _WSK_STRSAFE_FORMAT_MAX, &len, pszFormat, argList);
    if (_WskUnicodeStringPut(DestinationString, 0, tmp, len) == STATUS_BUFFER_OVERFLOW)
        status = STATUS_BUFFER_OVERFLOW;
    return status;
}
static inline NTSTATUS RtlUnicodeStringPrintf(_Inout_ PUNICODE_STRING DestinationString,
                                              _In_ _Printf_format_string_ NTSTRSAFE_PCWSTR pszFormat, ...)
{
    NTSTATUS status;
    va_list ap;
    va_start(ap, pszFormat);
    status = RtlUnicodeStringVPrintf(DestinationString, pszFormat, ap);
    va_end(ap);
    return status;
}

#endif /* WSK_NTSTRSAFE_H */
