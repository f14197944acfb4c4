/*
 * excpt.h - wsk: structured exception handling (__try/__except/__finally/__leave).
 *
 * Linux has no SEH. These macros make the common forms compile, with this meaning:
 *
 *     __try { body }  __except (filter) { handler }   -> body runs; the handler never runs
 *     __try { body }  __finally { cleanup }           -> body runs, then cleanup runs
 *     __leave;                                         -> leaves the __try body (as `break`)
 *
 * The __except handler never runs because nothing raises: libwsk's routines report errors
 * through their return values, and a real fault (a bad pointer) is a crash (SIGSEGV), as
 * it would be outside a __try on Windows. The filter expression is not evaluated.
 * Caveats: `break` inside a __try body leaves the __try body (not an enclosing loop);
 * `return` or `goto` out of a __try body skips a __finally block.
 *
 * C++: libstdc++ uses the names __try/__catch itself. Include the C++ standard headers you
 * need before the Windows headers, or define WSK_NO_SEH_MACROS to do without these.
 */
#ifndef WSK_EXCPT_H
#define WSK_EXCPT_H
#ifndef WSK_HEADERS_NOT_SYSTEM
#pragma GCC system_header
#endif

#include <ntdef.h>

#define EXCEPTION_EXECUTE_HANDLER 1
#define EXCEPTION_CONTINUE_SEARCH 0
#define EXCEPTION_CONTINUE_EXECUTION (-1)
#define EXCEPTION_MAXIMUM_PARAMETERS 15
#define EXCEPTION_NONCONTINUABLE 0x1

typedef struct _EXCEPTION_RECORD {
    NTSTATUS ExceptionCode;
    ULONG ExceptionFlags;
    struct _EXCEPTION_RECORD *ExceptionRecord;
    PVOID ExceptionAddress;
    ULONG NumberParameters;
    ULONG_PTR ExceptionInformation[EXCEPTION_MAXIMUM_PARAMETERS];
} EXCEPTION_RECORD, *PEXCEPTION_RECORD;

typedef struct _EXCEPTION_POINTERS {
    PEXCEPTION_RECORD ExceptionRecord;
    PVOID ContextRecord;
} EXCEPTION_POINTERS, *PEXCEPTION_POINTERS;

#ifndef WSK_NO_SEH_MACROS
#ifdef __try
#undef __try
#endif
#ifdef __except
#undef __except
#endif
#ifdef __finally
#undef __finally
#endif
#ifdef __leave
#undef __leave
#endif
#define __try for (int _wsk_try_once = 1; _wsk_try_once; _wsk_try_once = 0)
#define __except(filter) if (0)
#define __finally if (1)
#define __leave break
#define _try __try
#define _except(filter) __except(filter)
#define _finally __finally
#define _leave __leave
#endif

/* Only meaningful inside an __except filter or block, which never runs here. */
#define GetExceptionCode() ((NTSTATUS)0)
#define GetExceptionInformation() ((PEXCEPTION_POINTERS)0)
#define _exception_code() GetExceptionCode()
#define _exception_info() GetExceptionInformation()
#define AbnormalTermination() (0)
#define _abnormal_termination() (0)

#endif /* WSK_EXCPT_H */
