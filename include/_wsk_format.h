/*
 * _wsk_format.h - wsk (internal): printf formatting with the Windows kernel's conventions.
 *
 * DbgPrint, DbgPrintEx, KdPrint, the WPP trace macros and the ntstrsafe printf routines
 * format through _WskFormatV, which understands what Windows code passes them:
 *
 *   %ld %lu %lx     32-bit (LONG/ULONG: "long" is 32 bits on Windows)
 *   %I64d %I64x     64-bit; %I32d 32-bit; %Iu %Ix %zu %p pointer-sized
 *   %lld %llu       64-bit
 *   %ws %ls %S      a NUL-terminated WCHAR string (printed as UTF-8)
 *   %hs %s          a NUL-terminated CHAR string
 *   %wZ             a PUNICODE_STRING; %Z / %hZ a PANSI_STRING
 *   %wc %lc %C      a WCHAR
 *
 * In the ...W routines of ntstrsafe.h %s and %c take WCHAR, %hs/%S take CHAR (as on Windows).
 * WPP traces also get %!FUNC! %!FILE! %!LINE! %!LEVEL! %!FLAGS! (no argument), %!STATUS!
 * %!HRESULT! %!WINERROR! %!bool! %!BOOLEAN! %!irql! %!IPADDR! %!PORT! (an int), %!GUID!
 * (a GUID pointer) and %!TIMESTAMP! %!TIME! %!delta! (a LONGLONG); any other %!NAME! is
 * printed as it is and takes no argument.
 *
 * Messages go to libwsk through WskRtlDebugOutput(const char *Line), one call per message.
 */
#ifndef WSK_FORMAT_H
#define WSK_FORMAT_H
#ifndef WSK_HEADERS_NOT_SYSTEM
#pragma GCC system_header
#endif

#include <ntdef.h>

WSK_BEGIN_C
/* libwsk's debug-output sink: receives each formatted DbgPrint/KdPrint/WPP message. */
void WskRtlDebugOutput(const char *Line);
WSK_END_C

#define _WSK_DEBUG_MESSAGE_MAX 1024

typedef struct _WSK_FMT_OUT {
    char *Buf;  /* NULL when Cap is 0 */
    size_t Cap; /* bytes, the terminating NUL included */
    size_t Len; /* length of the whole output (may exceed Cap - 1: truncated) */
} _WSK_FMT_OUT;

typedef struct _WSK_FMT_CONTEXT {
    const char *File;
    int Line;
    const char *Func;
    const char *Flags;
    ULONG Level;
} _WSK_FMT_CONTEXT;

static inline void _WskFmtPut(_WSK_FMT_OUT *o, const char *s, size_t n)
{
    if (o->Cap > 0 && o->Len + 1 < o->Cap) {
        size_t room = o->Cap - 1 - o->Len;
        memcpy(o->Buf + o->Len, s, n < room ? n : room);
    }
    o->Len += n;
}

/* snprintf of one conversion at the end of the output. */
#define _WSK_FMT_EMIT(o, spec, ...) \
    do { \
        size_t _wsk_room = ((o)->Cap > (o)->Len) ? (o)->Cap - (o)->Len : 0; \
        int _wsk_n = snprintf(_wsk_room ? (o)->Buf + (o)->Len : NULL, _wsk_room, spec, __VA_ARGS__); \
        if (_wsk_n > 0) \
            (o)->Len += (size_t)_wsk_n; \
    } while (0)

/* UTF-16 (Units code units, or up to a NUL when Units is (size_t)-1, at most MaxChars
 * characters) to NUL-terminated UTF-8 in out[cap]; returns the bytes written. */
static inline size_t _WskUtf16ToUtf8(char *out, size_t cap, const WCHAR *s, size_t Units, size_t MaxChars)
{
    size_t n = 0, i = 0, chars = 0;
    if (cap == 0)
        return 0;
    while ((Units == (size_t)-1 ? s[i] != 0 : i < Units) && chars < MaxChars) {
        unsigned int c = (unsigned int)(unsigned short)s[i++];
        char b[4];
        size_t k;
        if (c >= 0xD800 && c <= 0xDBFF && (Units == (size_t)-1 || i < Units)) {
            unsigned int d = (unsigned int)(unsigned short)s[i];
            if (d >= 0xDC00 && d <= 0xDFFF) {
                c = 0x10000 + ((c - 0xD800) << 10) + (d - 0xDC00);
                i++;
            } else {
                c = '?';
            }
        } else if (c >= 0xD800 && c <= 0xDFFF) {
            c = '?';
        }
        if (c < 0x80) {
            b[0] = (char)c;
            k = 1;
        } else if (c < 0x800) {
            b[0] = (char)(0xC0 | (c >> 6));
            b[1] = (char)(0x80 | (c & 0x3F));
            k = 2;
        } else if (c < 0x10000) {
            b[0] = (char)(0xE0 | (c >> 12));
            b[1] = (char)(0x80 | ((c >> 6) & 0x3F));
            b[2] = (char)(0x80 | (c & 0x3F));
            k = 3;
        } else {
            b[0] = (char)(0xF0 | (c >> 18));
            b[1] = (char)(0x80 | ((c >> 12) & 0x3F));
            b[2] = (char)(0x80 | ((c >> 6) & 0x3F));
            b[3] = (char)(0x80 | (c & 0x3F));
            k = 4;
        }
        if (n + k >= cap)
            break;
        memcpy(out + n, b, k);
        n += k;
        chars++;
    }
    out[n] = 0;
    return n;
}

/* UTF-8 to UTF-16 (NUL-terminated, at most cap units with the NUL); returns units written
 * without the NUL, and sets *Truncated when the input did not fit. */
static inline size_t _WskUtf8ToUtf16(WCHAR *out, size_t cap, const char *s, int *Truncated)
{
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)s;
    *Truncated = 0;
    if (cap == 0) {
        *Truncated = *p != 0;
        return 0;
    }
    while (*p) {
        unsigned int c = *p++;
        int more = 0;
        if (c >= 0xF0) {
            c &= 0x07;
            more = 3;
        } else if (c >= 0xE0) {
            c &= 0x0F;
            more = 2;
        } else if (c >= 0xC0) {
            c &= 0x1F;
            more = 1;
        } else if (c >= 0x80) {
            c = '?';
        }
        while (more-- > 0 && (*p & 0xC0) == 0x80)
            c = (c << 6) | (unsigned int)(*p++ & 0x3F);
        if (c >= 0x10000) {
            if (n + 2 >= cap) {
                *Truncated = 1;
                break;
            }
            c -= 0x10000;
            out[n++] = (WCHAR)(0xD800 + (c >> 10));
            out[n++] = (WCHAR)(0xDC00 + (c & 0x3FF));
        } else {
            if (n + 1 >= cap) {
                *Truncated = 1;
                break;
            }
            out[n++] = (WCHAR)c;
        }
    }
    out[n] = 0;
    return n;
}

enum { _WSK_LEN_NONE, _WSK_LEN_HH, _WSK_LEN_H, _WSK_LEN_L, _WSK_LEN_LL, _WSK_LEN_SIZE, _WSK_LEN_LD, _WSK_LEN_W };

/* Formats Format with the Windows conventions above into Buffer[Capacity] (always
 * NUL-terminated when Capacity > 0); returns the length the whole output has (a result
 * >= Capacity means it was truncated). Context enables the WPP %!NAME! extensions;
 * WideDefault gives %s and %c the meaning they have in the W routines. */
static inline size_t _WskFormatV(char *Buffer, size_t Capacity, const _WSK_FMT_CONTEXT *Context, int WideDefault,
                                 const char *Format, va_list Args)
{
    _WSK_FMT_OUT o;
    const char *p = Format;
    o.Buf = Buffer;
    o.Cap = Buffer ? Capacity : 0;
    o.Len = 0;
    while (*p) {
        const char *start;
        char spec[48];
        size_t sl = 0;
        int width = -1, prec = -1, len = _WSK_LEN_NONE, leftAlign = 0;
        char conv;
        if (*p != '%') {
            const char *q = p;
            while (*q && *q != '%')
                q++;
            _WskFmtPut(&o, p, (size_t)(q - p));
            p = q;
            continue;
        }
        start = p++;
        if (*p == '%') {
            _WskFmtPut(&o, "%", 1);
            p++;
            continue;
        }
        if (Context && *p == '!') {
            const char *name = p + 1, *end = name;
            char nm[24];
            size_t nl;
            while (*end && *end != '!' && *end != '%' && (size_t)(end - name) < sizeof(nm) - 1)
                end++;
            if (*end != '!') {
                _WskFmtPut(&o, start, (size_t)(end - start));
                p = end;
                continue;
            }
            nl = (size_t)(end - name);
            memcpy(nm, name, nl);
            nm[nl] = 0;
            p = end + 1;
            if (!strcmp(nm, "FUNC")) {
                _WSK_FMT_EMIT(&o, "%s", Context->Func ? Context->Func : "");
            } else if (!strcmp(nm, "FILE")) {
                const char *f = Context->File ? Context->File : "", *slash = strrchr(f, '/');
                _WSK_FMT_EMIT(&o, "%s", slash ? slash + 1 : f);
            } else if (!strcmp(nm, "LINE")) {
                _WSK_FMT_EMIT(&o, "%d", Context->Line);
            } else if (!strcmp(nm, "LEVEL")) {
                _WSK_FMT_EMIT(&o, "%u", Context->Level);
            } else if (!strcmp(nm, "FLAGS")) {
                _WSK_FMT_EMIT(&o, "%s", Context->Flags ? Context->Flags : "");
            } else if (!strcmp(nm, "COMPNAME")) {
                /* nothing */
            } else if (!strcmp(nm, "STATUS") || !strcmp(nm, "HRESULT") || !strcmp(nm, "WINERROR") ||
                       !strcmp(nm, "NTSTATUS") || !strcmp(nm, "NDIS_STATUS")) {
                _WSK_FMT_EMIT(&o, "0x%08X", (unsigned int)va_arg(Args, int));
            } else if (!strcmp(nm, "bool") || !strcmp(nm, "BOOLEAN") || !strcmp(nm, "BOOL")) {
                _WSK_FMT_EMIT(&o, "%s", va_arg(Args, int) ? "TRUE" : "FALSE");
            } else if (!strcmp(nm, "irql")) {
                _WSK_FMT_EMIT(&o, "%u", (unsigned int)va_arg(Args, int));
            } else if (!strcmp(nm, "IPADDR")) {
                unsigned int a = (unsigned int)va_arg(Args, int);
                const unsigned char *b = (const unsigned char *)&a;
                _WSK_FMT_EMIT(&o, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
            } else if (!strcmp(nm, "PORT")) {
                unsigned int v = (unsigned int)va_arg(Args, int) & 0xFFFF;
                _WSK_FMT_EMIT(&o, "%u", ((v & 0xFF) << 8) | (v >> 8));
            } else if (!strcmp(nm, "GUID")) {
                const GUID *g = va_arg(Args, const GUID *);
                if (g)
                    _WSK_FMT_EMIT(&o, "%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", g->Data1, g->Data2, g->Data3,
                                  g->Data4[0], g->Data4[1], g->Data4[2], g->Data4[3], g->Data4[4], g->Data4[5],
                                  g->Data4[6], g->Data4[7]);
                else
                    _WskFmtPut(&o, "(null)", 6);
            } else if (!strcmp(nm, "TIMESTAMP") || !strcmp(nm, "TIME") || !strcmp(nm, "DATE") ||
                       !strcmp(nm, "WAITTIME") || !strcmp(nm, "delta") || !strcmp(nm, "TIMEDELTA")) {
                _WSK_FMT_EMIT(&o, "%lld", va_arg(Args, long long));
            } else {
                _WskFmtPut(&o, start, (size_t)(p - start));
            }
            continue;
        }
        spec[sl++] = '%';
        while (*p == '-' || *p == '+' || *p == ' ' || *p == '#' || *p == '0') {
            if (*p == '-')
                leftAlign = 1;
            if (sl < 8)
                spec[sl++] = *p;
            p++;
        }
        if (*p == '*') {
            width = va_arg(Args, int);
            p++;
            if (width < 0) {
                if (!leftAlign && sl < 9)
                    spec[sl++] = '-';
                width = -width;
            }
        } else {
            while (*p >= '0' && *p <= '9') {
                width = (width < 0 ? 0 : width) * 10 + (*p - '0');
                if (width > 4096)
                    width = 4096;
                p++;
            }
        }
        if (*p == '.') {
            p++;
            prec = 0;
            if (*p == '*') {
                prec = va_arg(Args, int);
                p++;
                if (prec < 0)
                    prec = -1;
            } else {
                while (*p >= '0' && *p <= '9') {
                    prec = prec * 10 + (*p - '0');
                    if (prec > 4096)
                        prec = 4096;
                    p++;
                }
            }
        }
        if (p[0] == 'h' && p[1] == 'h') {
            len = _WSK_LEN_HH;
            p += 2;
        } else if (p[0] == 'h') {
            len = _WSK_LEN_H;
            p++;
        } else if (p[0] == 'l' && p[1] == 'l') {
            len = _WSK_LEN_LL;
            p += 2;
        } else if (p[0] == 'l') {
            len = _WSK_LEN_L;
            p++;
        } else if (p[0] == 'I' && p[1] == '6' && p[2] == '4') {
            len = _WSK_LEN_LL;
            p += 3;
        } else if (p[0] == 'I' && p[1] == '3' && p[2] == '2') {
            len = _WSK_LEN_NONE;
            p += 3;
        } else if (p[0] == 'I' || p[0] == 'z' || p[0] == 't' || p[0] == 'j') {
            len = _WSK_LEN_SIZE;
            p++;
        } else if (p[0] == 'L') {
            len = _WSK_LEN_LD;
            p++;
        } else if (p[0] == 'w') {
            len = _WSK_LEN_W;
            p++;
        }
        conv = *p;
        if (!conv) {
            _WskFmtPut(&o, start, (size_t)(p - start));
            break;
        }
        p++;
        if (width >= 0)
            sl += (size_t)snprintf(spec + sl, sizeof(spec) - sl, "%d", width);
        switch (conv) {
        case 'd':
        case 'i':
        case 'u':
        case 'o':
        case 'x':
        case 'X': {
            int isSigned = conv == 'd' || conv == 'i';
            if (prec >= 0)
                sl += (size_t)snprintf(spec + sl, sizeof(spec) - sl, ".%d", prec);
            if (len == _WSK_LEN_LL || len == _WSK_LEN_SIZE) {
                spec[sl++] = 'l';
                spec[sl++] = 'l';
                spec[sl++] = isSigned ? 'd' : conv;
                spec[sl] = 0;
                if (isSigned)
                    _WSK_FMT_EMIT(&o, spec, va_arg(Args, long long));
                else
                    _WSK_FMT_EMIT(&o, spec, va_arg(Args, unsigned long long));
            } else {
                if (len == _WSK_LEN_HH) {
                    spec[sl++] = 'h';
                    spec[sl++] = 'h';
                } else if (len == _WSK_LEN_H) {
                    spec[sl++] = 'h';
                }
                spec[sl++] = isSigned ? 'd' : conv;
                spec[sl] = 0;
                if (isSigned)
                    _WSK_FMT_EMIT(&o, spec, va_arg(Args, int));
                else
                    _WSK_FMT_EMIT(&o, spec, va_arg(Args, unsigned int));
            }
            break;
        }
        case 'c':
        case 'C': {
            int wide = conv == 'C' ? len != _WSK_LEN_H
                                   : (len == _WSK_LEN_L || len == _WSK_LEN_W || (WideDefault && len != _WSK_LEN_H));
            int ch = va_arg(Args, int);
            char tmp[8];
            if (wide) {
                WCHAR w[2];
                w[0] = (WCHAR)ch;
                w[1] = 0;
                _WskUtf16ToUtf8(tmp, sizeof(tmp), w, 1, 1);
            } else {
                tmp[0] = (char)ch;
                tmp[1] = 0;
            }
            spec[sl++] = 's';
            spec[sl] = 0;
            if (!wide && tmp[0] == 0) {
                if (!leftAlign)
                    for (int i = 1; i < width; i++)
                        _WskFmtPut(&o, " ", 1);
                _WskFmtPut(&o, "", 1); /* a NUL character, as printf("%c", 0) writes */
                if (leftAlign)
                    for (int i = 1; i < width; i++)
                        _WskFmtPut(&o, " ", 1);
            } else {
                _WSK_FMT_EMIT(&o, spec, tmp);
            }
            break;
        }
        case 's':
        case 'S': {
            int wide = conv == 'S' ? (WideDefault ? (len == _WSK_LEN_L || len == _WSK_LEN_W) : len != _WSK_LEN_H)
                                   : (len == _WSK_LEN_L || len == _WSK_LEN_W || (WideDefault && len != _WSK_LEN_H));
            spec[sl++] = 's';
            spec[sl] = 0;
            if (wide) {
                const WCHAR *ws = va_arg(Args, const WCHAR *);
                char tmp[_WSK_DEBUG_MESSAGE_MAX];
                if (ws)
                    _WskUtf16ToUtf8(tmp, sizeof(tmp), ws, (size_t)-1, prec >= 0 ? (size_t)prec : (size_t)-1);
                else
                    memcpy(tmp, "(null)", 7);
                _WSK_FMT_EMIT(&o, spec, tmp);
            } else {
                const char *s = va_arg(Args, const char *);
                if (!s)
                    s = "(null)";
                if (prec >= 0) {
                    spec[sl - 1] = 0;
                    sl += (size_t)snprintf(spec + sl - 1, sizeof(spec) - sl, ".%ds", prec) - 1;
                }
                _WSK_FMT_EMIT(&o, spec, s);
            }
            break;
        }
        case 'Z': {
            int wide = len == _WSK_LEN_W || len == _WSK_LEN_L || (WideDefault && len != _WSK_LEN_H);
            spec[sl++] = 's';
            spec[sl] = 0;
            if (wide) {
                const UNICODE_STRING *us = va_arg(Args, const UNICODE_STRING *);
                char tmp[_WSK_DEBUG_MESSAGE_MAX];
                if (us && us->Buffer)
                    _WskUtf16ToUtf8(tmp, sizeof(tmp), us->Buffer, us->Length / sizeof(WCHAR),
                                    prec >= 0 ? (size_t)prec : (size_t)-1);
                else
                    memcpy(tmp, "(null)", 7);
                _WSK_FMT_EMIT(&o, spec, tmp);
            } else {
                const STRING *as = va_arg(Args, const STRING *);
                if (as && as->Buffer) {
                    int n = (int)as->Length;
                    if (prec >= 0 && prec < n)
                        n = prec;
                    spec[sl - 1] = 0;
                    sl += (size_t)snprintf(spec + sl - 1, sizeof(spec) - sl, ".%ds", n) - 1;
                    _WSK_FMT_EMIT(&o, spec, as->Buffer);
                } else {
                    _WSK_FMT_EMIT(&o, spec, "(null)");
                }
            }
            break;
        }
        case 'p':
            spec[sl++] = 'p';
            spec[sl] = 0;
            _WSK_FMT_EMIT(&o, spec, va_arg(Args, void *));
            break;
        case 'n':
            (void)va_arg(Args, void *);
            break;
        case 'e':
        case 'E':
        case 'f':
        case 'F':
        case 'g':
        case 'G':
        case 'a':
        case 'A':
            if (prec >= 0)
                sl += (size_t)snprintf(spec + sl, sizeof(spec) - sl, ".%d", prec);
            if (len == _WSK_LEN_LD) {
                spec[sl++] = 'L';
                spec[sl++] = conv;
                spec[sl] = 0;
                _WSK_FMT_EMIT(&o, spec, va_arg(Args, long double));
            } else {
                spec[sl++] = conv;
                spec[sl] = 0;
                _WSK_FMT_EMIT(&o, spec, va_arg(Args, double));
            }
            break;
        default:
            _WskFmtPut(&o, start, (size_t)(p - start));
            break;
        }
    }
    if (o.Cap > 0)
        o.Buf[o.Len < o.Cap ? o.Len : o.Cap - 1] = 0;
    return o.Len;
}

static inline size_t _WskFormat(char *Buffer, size_t Capacity, const _WSK_FMT_CONTEXT *Context, int WideDefault,
                                const char *Format, ...)
{
    va_list ap;
    size_t n;
    va_start(ap, Format);
    n = _WskFormatV(Buffer, Capacity, Context, WideDefault, Format, ap);
    va_end(ap);
    return n;
}

/* Formats and hands one message to libwsk's debug output. */
static inline void _WskDebugOutputV(const _WSK_FMT_CONTEXT *Context, const char *Prefix, const char *Format,
                                    va_list Args, int AppendNewline)
{
    char line[_WSK_DEBUG_MESSAGE_MAX];
    size_t n = 0, cap = sizeof(line) - 1; /* room for a newline */
    if (Prefix) {
        n = strlen(Prefix);
        if (n > cap - 1)
            n = cap - 1;
        memcpy(line, Prefix, n);
    }
    n += _WskFormatV(line + n, cap - n, Context, 0, Format ? Format : "", Args);
    if (n > cap - 1)
        n = cap - 1;
    if (AppendNewline && (n == 0 || line[n - 1] != '\n'))
        line[n++] = '\n';
    line[n] = 0;
    WskRtlDebugOutput(line);
}

#endif /* WSK_FORMAT_H */
