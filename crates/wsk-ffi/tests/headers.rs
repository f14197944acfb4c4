//! The headers in `include/` compile Windows-style client code unchanged.
//!
//! - `tests/c/header_test.c` (C11) and `tests/c/header_test.cpp` (C++17), a broad sample of
//!   what WSK clients write, compile with `-Wall -Wextra -Werror` and the `wsk cflags`
//!   (compile only: nothing is linked).
//! - The same with `-DWSK_HEADERS_NOT_SYSTEM`, which stops the headers from being treated as
//!   system headers, so that warnings inside the headers themselves fail the build too.
//! - Every header compiles on its own, included first in a translation unit.
//! - Without `-fshort-wchar` the headers refuse to compile, and say which flag is missing.

mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// The warning flags client code is held to here.
const WARNINGS: &[&str] = &["-Wall", "-Wextra", "-Werror"];

/// The headers meant to be included by clients (all of `include/` but the internal ones).
const PUBLIC_HEADERS: &[&str] = &[
    "excpt.h",
    "guiddef.h",
    "in6addr.h",
    "inaddr.h",
    "initguid.h",
    "ip2string.h",
    "mstcpip.h",
    "netioddk.h",
    "ntddk.h",
    "ntdef.h",
    "ntifs.h",
    "ntstatus.h",
    "ntstrsafe.h",
    "sal.h",
    "wdm.h",
    "wpp.h",
    "ws2def.h",
    "ws2ipdef.h",
    "wsk.h",
];

fn compiler(cxx: bool) -> &'static str {
    if cxx {
        "g++"
    } else {
        "gcc"
    }
}

/// Flags a C++ build needs on top of the `wsk cflags`: g++ before 13 ignores
/// `#pragma GCC diagnostic ignored "-Wunknown-pragmas"` (its preprocessor warns before the
/// pragma takes effect), so MSVC's `#pragma warning` in C++ code needs the command-line
/// flag there. From g++ 13 on, the pragma in the headers is enough and is what is tested.
fn cxx_extra_flags() -> Vec<String> {
    // Asked of g++ once per test binary.
    static FLAGS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    FLAGS
        .get_or_init(|| {
            let out = Command::new("g++").arg("-dumpversion").output().expect("run g++ -dumpversion");
            let version = String::from_utf8_lossy(&out.stdout);
            let major: u32 = version.trim().split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
            if major < 13 {
                vec!["-Wno-unknown-pragmas".into()]
            } else {
                Vec::new()
            }
        })
        .clone()
}

/// Compiles (`-c`, output discarded) `source` from `tests/c/` with `flags`.
fn compile_file(source: &str, cxx: bool, flags: &[String]) -> (Command, Output) {
    let mut cmd = Command::new(compiler(cxx));
    cmd.arg(if cxx { "-std=c++17" } else { "-std=c11" });
    cmd.args(flags);
    cmd.arg("-c").arg(support::c_dir().join(source)).args(["-o", "/dev/null"]);
    let output = cmd.output().expect("run the C compiler");
    (cmd, output)
}

/// Compiles `text` given on standard input.
fn compile_text(text: &str, cxx: bool, flags: &[String]) -> (Command, Output) {
    let mut cmd = Command::new(compiler(cxx));
    cmd.arg(if cxx { "-std=c++17" } else { "-std=c11" });
    cmd.args(flags);
    cmd.args(["-x", if cxx { "c++" } else { "c" }, "-c", "-", "-o", "/dev/null"]);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run the C compiler");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write the source");
    let output = child.wait_with_output().expect("wait for the C compiler");
    (cmd, output)
}

fn assert_compiled(what: &str, cmd: &Command, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed to compile:\n{cmd:?}\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn strict_flags(cxx: bool, extra: &[&str]) -> Vec<String> {
    let mut flags = support::cflags();
    flags.extend(WARNINGS.iter().map(|f| f.to_string()));
    if cxx {
        flags.extend(cxx_extra_flags());
    }
    flags.extend(extra.iter().map(|f| f.to_string()));
    flags
}

#[test]
fn header_test_c_compiles_without_warnings() {
    let (cmd, output) = compile_file("header_test.c", false, &strict_flags(false, &[]));
    assert_compiled("header_test.c", &cmd, &output);
}

#[test]
fn header_test_cpp_compiles_without_warnings() {
    let (cmd, output) = compile_file("header_test.cpp", true, &strict_flags(true, &[]));
    assert_compiled("header_test.cpp", &cmd, &output);
}

#[test]
fn headers_themselves_are_warning_free() {
    for (source, cxx) in [("header_test.c", false), ("header_test.cpp", true)] {
        let flags = strict_flags(cxx, &["-DWSK_HEADERS_NOT_SYSTEM", "-pedantic"]);
        let (cmd, output) = compile_file(source, cxx, &flags);
        assert_compiled(&format!("{source} with -DWSK_HEADERS_NOT_SYSTEM -pedantic"), &cmd, &output);
    }
}

#[test]
fn every_header_compiles_on_its_own() {
    for header in PUBLIC_HEADERS {
        assert!(support::include_dir().join(header).exists(), "include/{header} is missing");
        for cxx in [false, true] {
            let text = format!("#include <{header}>\nint wsk_header_test_unit;\n");
            let flags = strict_flags(cxx, &["-DWSK_HEADERS_NOT_SYSTEM"]);
            let (cmd, output) = compile_text(&text, cxx, &flags);
            assert_compiled(&format!("#include <{header}> ({})", compiler(cxx)), &cmd, &output);
        }
    }
}

#[test]
fn msvc_pragmas_and_pool_tags_need_no_flags_in_c() {
    // In C the headers silence -Wmultichar and -Wunknown-pragmas for the rest of the
    // translation unit: no -Wno-... flag needed.
    let text = "#include <wdm.h>\n\
                #pragma warning(disable : 4201)\n\
                #pragma alloc_text(PAGE, Tagged)\n\
                #pragma code_seg(\"PAGE\")\n\
                ULONG Tagged(VOID);\n\
                ULONG Tagged(VOID) { return 'kseW'; }\n";
    let mut flags: Vec<String> = support::cflags().into_iter().filter(|f| f != "-Wno-multichar").collect();
    flags.extend(WARNINGS.iter().map(|f| f.to_string()));
    let (cmd, output) = compile_text(text, false, &flags);
    assert_compiled("MSVC pragmas and a pool tag", &cmd, &output);
}

#[test]
fn without_short_wchar_the_headers_name_the_flag() {
    let flags: Vec<String> = support::cflags().into_iter().filter(|f| f != "-fshort-wchar").collect();
    for (source, cxx) in [("header_test.c", false), ("header_test.cpp", true)] {
        let (cmd, output) = compile_file(source, cxx, &flags);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{source} compiled without -fshort-wchar:\n{cmd:?}");
        assert!(
            stderr.contains("#error") && stderr.contains("compile with -fshort-wchar"),
            "{source} without -fshort-wchar: the error does not name the flag:\n{stderr}"
        );
    }
}
