//! The `DbgPrint` sink and `KeBugCheckEx`.
//!
//! `DbgPrint`, `DbgPrintEx` and `KdPrint` are variadic, so the headers format the line
//! themselves (`static inline`, `vsnprintf`) and hand it to [`WskRtlDebugOutput`].

use std::ffi::{c_char, CStr};
use std::io::Write;

use crate::abi::ULONG_PTR;
use crate::guard::guard;

/// Writes one formatted debug line to stderr (a newline is added if missing) in a single
/// write, and emits it as a `tracing` debug event.
#[no_mangle]
pub unsafe extern "C" fn WskRtlDebugOutput(Line: *const c_char) {
    guard("WskRtlDebugOutput", (), || {
        if Line.is_null() {
            return;
        }
        // SAFETY: a NUL-terminated string from the header's formatter.
        let bytes = unsafe { CStr::from_ptr(Line) }.to_bytes();
        let mut out = Vec::with_capacity(bytes.len() + 1);
        out.extend_from_slice(bytes);
        if out.last() != Some(&b'\n') {
            out.push(b'\n');
        }
        let _ = std::io::stderr().lock().write_all(&out);
        tracing::debug!(target: "wsk::dbgprint", "{}", String::from_utf8_lossy(bytes).trim_end_matches('\n'));
    })
}

/// `KeBugCheckEx`: prints the code and parameters, then aborts the process.
#[no_mangle]
pub unsafe extern "C" fn KeBugCheckEx(
    BugCheckCode: u32,
    BugCheckParameter1: ULONG_PTR,
    BugCheckParameter2: ULONG_PTR,
    BugCheckParameter3: ULONG_PTR,
    BugCheckParameter4: ULONG_PTR,
) -> ! {
    guard("KeBugCheckEx", (), || {
        let line = format!(
            "KeBugCheckEx 0x{BugCheckCode:08X} (0x{BugCheckParameter1:x}, 0x{BugCheckParameter2:x}, 0x{BugCheckParameter3:x}, 0x{BugCheckParameter4:x})"
        );
        tracing::error!("{line}");
        let _ =
            writeln!(std::io::stderr().lock(), "{line}\nlibwsk: the driver called KeBugCheckEx; aborting the process");
    });
    std::process::abort()
}

/// `KeBugCheck`.
#[no_mangle]
pub unsafe extern "C" fn KeBugCheck(BugCheckCode: u32) -> ! {
    // SAFETY: no pointers involved.
    unsafe { KeBugCheckEx(BugCheckCode, 0, 0, 0, 0) }
}
