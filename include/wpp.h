/*
 * wpp.h - wsk: WPP software tracing without the WPP preprocessor.
 *
 * On Windows the build runs the WPP preprocessor over every source file that includes a
 * "<file>.tmh" header; it generates that header with the trace macros. With wsk:
 *
 *   1. Keep your trace.h as it is (WPP_CONTROL_GUIDS with WPP_DEFINE_CONTROL_GUID and
 *      WPP_DEFINE_BIT, the "begin_wpp config / FUNC ... / end_wpp" comment, the
 *      WPP_..._LOGGER / WPP_..._ENABLED macros): it compiles, nothing in it is evaluated.
 *   2. Create each "<file>.tmh" yourself as an EMPTY file next to the source (or put in it
 *      "#define MyTrace(...) DoTraceMessage(...)"-style definitions for the FUNC names that
 *      your "begin_wpp config" block declares beyond the ones below).
 *   3. <wdm.h> includes this header, so nothing else is needed.
 *
 * The trace calls print through DbgPrint's sink (libwsk's WskRtlDebugOutput), one line per
 * message, every level and flag included:
 *
 *   WPP_INIT_TRACING(DriverObject, RegistryPath); WPP_CLEANUP(DriverObject);   no-ops
 *   DoTraceMessage(FLAG, "format", ...)
 *   DoTraceLevelMessage(LEVEL, FLAG, "format", ...)
 *   TraceEvents(LEVEL, FLAG, "format", ...)       (the FUNC of the KMDF templates)
 *   TraceMessage / TraceLevelMessage: like DoTraceMessage / DoTraceLevelMessage
 *
 * Formats take the DbgPrint conventions plus %!FUNC!, %!LINE!, %!FILE!, %!STATUS!, ...
 * (listed in _wsk_format.h).
 */
#ifndef WSK_WPP_H
#define WSK_WPP_H
#ifndef WSK_HEADERS_NOT_SYSTEM
#pragma GCC system_header
#endif

#include <ntdef.h>
#include <_wsk_format.h>

/* Trace levels (evntrace.h) */
#define TRACE_LEVEL_NONE 0
#define TRACE_LEVEL_CRITICAL 1
#define TRACE_LEVEL_FATAL 1
#define TRACE_LEVEL_ERROR 2
#define TRACE_LEVEL_WARNING 3
#define TRACE_LEVEL_INFORMATION 4
#define TRACE_LEVEL_VERBOSE 5
#define TRACE_LEVEL_RESERVED6 6
#define TRACE_LEVEL_RESERVED7 7
#define TRACE_LEVEL_RESERVED8 8
#define TRACE_LEVEL_RESERVED9 9

/* What trace.h uses to describe its control GUIDs and flags: nothing to generate here. */
#define WPP_DEFINE_CONTROL_GUID(Name, Guid, Bits)
#define WPP_DEFINE_BIT(Name)
#define WPP_CONTROL_GUIDS_DEFINED 1

static inline void _WskWppNothing(int Unused, ...) { (void)Unused; }
#define WPP_INIT_TRACING(...) _WskWppNothing(0, __VA_ARGS__)
#define WPP_CLEANUP(...) _WskWppNothing(0, __VA_ARGS__)
#define WPP_SYSTEMCONTROL(...) _WskWppNothing(0, __VA_ARGS__)
#define WPP_SYSTEMCONTROL2(...) _WskWppNothing(0, __VA_ARGS__)
#define WPP_LEVEL_ENABLED(Flag) (1)
#define WPP_LEVEL_LOGGER(Flag) (0)
#define WPP_FLAG_ENABLED(Flag) (1)
#define WPP_FLAG_LOGGER(Flag) (0)

static inline void _WskWppTrace(const char *File, int Line, const char *Func, ULONG Level, const char *Flags,
                                const char *Format, ...)
{
    _WSK_FMT_CONTEXT ctx;
    va_list ap;
    ctx.File = File;
    ctx.Line = Line;
    ctx.Func = Func;
    ctx.Flags = Flags;
    ctx.Level = Level;
    va_start(ap, Format);
    _WskDebugOutputV(&ctx, NULL, Format, ap, 1);
    va_end(ap);
}

#define DoTraceMessage(Flag, ...) _WskWppTrace(__FILE__, __LINE__, __func__, TRACE_LEVEL_NONE, #Flag, __VA_ARGS__)
#define DoTraceLevelMessage(Level, Flag, ...) _WskWppTrace(__FILE__, __LINE__, __func__, (ULONG)(Level), #Flag, __VA_ARGS__)
#define TraceMessage DoTraceMessage
#define TraceLevelMessage DoTraceLevelMessage
#ifndef TraceEvents
#define TraceEvents(Level, Flags, ...) _WskWppTrace(__FILE__, __LINE__, __func__, (ULONG)(Level), #Flags, __VA_ARGS__)
#endif

#endif /* WSK_WPP_H */
