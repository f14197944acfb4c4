//! `wsk run`, `wsk cflags`, `wsk libs`, `wsk install`: Windows driver code as a Linux process.
//!
//! # `wsk run DRIVER.so`
//!
//! Runs a driver built from unchanged Windows sources
//! (`cc -shared -fPIC $(wsk cflags) driver.c -o driver.so`) the way Windows would: checks
//! that every routine it imports exists (naming all the missing ones), loads it, calls
//! `DriverEntry` with a `DRIVER_OBJECT` named `\Driver\<stem>` and the registry path
//! `\Registry\Machine\System\CurrentControlSet\Services\<stem>`, lets it run until Ctrl-C
//! (SIGINT or SIGTERM) or `--seconds N`, calls `DriverUnload` (bounded by
//! `--unload-timeout`, 10 s by default), then prints a leak report: sockets,
//! registrations, provider NPIs, receive indications, IRPs, MDLs, work items, system
//! threads, devices, lookaside lists and pool blocks by tag. The exit status says how it
//! went: see [`EXIT_CODES`].
//!
//! The `wsk` executable does not contain the provider the driver talks to. It opens
//! `libwsk.so` with `RTLD_GLOBAL` (next to the executable, else in `../lib`, or where
//! `WSK_LIBRARY` says) and calls `wsk_run_driver` in it: the driver's imported routines
//! bind to that one global copy, which is also the copy whose leak counters the report
//! reads (the module docs of `runner.rs` in libwsk explain this further).
//!
//! # `wsk cflags`, `wsk libs`, `wsk install`
//!
//! `cflags` prints `-I<include> -fshort-wchar -Wno-multichar`, `libs` prints
//! `-L<libdir> -Wl,-rpath,<libdir> -lwsk`, for the tree the executable belongs to: a
//! development tree (`target/<profile>/wsk`: the repository's `include/`, `target/<profile>`)
//! or an installed one (`<prefix>/bin/wsk`: `<prefix>/include/wsk`, `<prefix>/lib`).
//! `install --prefix DIR` copies the executable, libwsk.so, libwsk.a, the headers and a
//! `wsk.pc` for pkg-config into DIR.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, CString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::Failure;

/// The exit statuses of `wsk run` (also the `after_help` of its `--help`).
pub const EXIT_CODES: &str = "\
Exit status:
  0  the driver loaded, ran, unloaded and left nothing behind
  1  any other failure (an internal error)
  2  usage error
  3  cannot load the driver: no such file, not an ELF shared object of this machine,
     no DriverEntry, routines wsk does not provide (all named), libwsk.so not found
  4  DriverEntry returned a failure status (the driver is not unloaded, as on Windows)
  5  DriverUnload did not return within --unload-timeout (nor did DriverEntry, when
     Ctrl-C came while it was running)
  6  the driver leaked objects (see the leak report on stdout)

libwsk.so is looked for in $WSK_LIBRARY (a file or a directory) if set, next to the wsk
executable, then in ../lib relative to it.";

/// `wsk run` could not load the driver (the same number as libwsk's `EXIT_CANNOT_LOAD`).
const EXIT_CANNOT_LOAD: u8 = 3;

/// The compiler flags every driver needs besides `-I`: 16-bit `L"..."` strings, and
/// multi-character pool tags such as `'kseW'` without a warning.
const CFLAGS: &str = "-fshort-wchar -Wno-multichar";

/// A header every include directory of wsk has.
const MARKER_HEADER: &str = "wsk.h";

/// `wsk run` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The driver: an ELF shared object exporting DriverEntry
    #[arg(value_name = "DRIVER.so")]
    driver: PathBuf,
    /// Unload the driver after N seconds (0: right after DriverEntry) instead of at Ctrl-C
    #[arg(long, value_name = "N", value_parser = parse_seconds)]
    seconds: Option<f64>,
    /// Longest wait for DriverUnload to return
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_seconds)]
    unload_timeout: f64,
}

/// `wsk install` arguments.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Where to install: DIR/bin/wsk, DIR/lib/libwsk.{so,a}, DIR/lib/pkgconfig/wsk.pc, DIR/include/wsk/
    #[arg(long, value_name = "DIR")]
    prefix: PathBuf,
}

/// A failure whose message libwsk already printed.
fn exit_status(code: u8) -> Failure {
    Failure { code, message: String::new() }
}

type RunDriver = unsafe extern "C" fn(path: *const c_char, seconds: f64, unload_timeout: f64) -> c_int;
type RunStop = unsafe extern "C" fn();

/// `wsk run`.
pub fn run(args: &RunArgs) -> Result<(), Failure> {
    let cannot_load = |message: String| Failure { code: EXIT_CANNOT_LOAD, message };
    let library = find_libwsk().map_err(cannot_load)?;
    let (run_driver, stop) = open_libwsk(&library).map_err(cannot_load)?;
    ctrlc::set_handler(move || {
        // SAFETY: wsk_run_stop takes no arguments and may be called from any thread; the
        // ctrlc crate calls this on its own thread, not in the signal handler.
        unsafe { stop() }
    })
    .map_err(|e| Failure::runtime(format!("cannot install the Ctrl-C handler: {e}")))?;
    let path = CString::new(args.driver.as_os_str().as_bytes())
        .map_err(|_| cannot_load(format!("{}: the path contains a NUL byte", args.driver.display())))?;
    let _ = std::io::stdout().flush();
    // SAFETY: `path` is NUL-terminated and outlives the call; libwsk stays loaded.
    let code = unsafe { run_driver(path.as_ptr(), args.seconds.unwrap_or(-1.0), args.unload_timeout) };
    match code {
        0 => Ok(()),
        1..=255 => Err(exit_status(code as u8)),
        _ => Err(exit_status(1)),
    }
}

/// Opens libwsk globally (never closed: the driver's code binds to it) and finds the runner.
fn open_libwsk(library: &Path) -> Result<(RunDriver, RunStop), String> {
    use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
    // SAFETY: loading libwsk runs no initialization code with preconditions (a Rust cdylib).
    let lib = unsafe { Library::open(Some(library), RTLD_NOW | RTLD_GLOBAL) }
        .map_err(|e| format!("cannot load {}: {e}", library.display()))?;
    let symbols = {
        // SAFETY: the two functions have these signatures in libwsk (crates/wsk-ffi/src/runner.rs).
        let run: Result<libloading::os::unix::Symbol<RunDriver>, _> = unsafe { lib.get(b"wsk_run_driver\0") };
        // SAFETY: as above.
        let stop: Result<libloading::os::unix::Symbol<RunStop>, _> = unsafe { lib.get(b"wsk_run_stop\0") };
        match (run, stop) {
            (Ok(run), Ok(stop)) => Ok((*run, *stop)),
            _ => Err(format!(
                "{} has no wsk_run_driver/wsk_run_stop: a libwsk from another version? (rebuild with `cargo build --release`)",
                library.display()
            )),
        }
    };
    // The function pointers stay valid: the library is never unloaded.
    let _ = lib.into_raw();
    symbols
}

/// The directory holding the running executable (symlinks resolved).
fn exe_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate the wsk executable: {e}"))?;
    let exe = exe.canonicalize().unwrap_or(exe);
    exe.parent().map(Path::to_path_buf).ok_or_else(|| "cannot locate the wsk executable's directory".to_string())
}

/// libwsk.so: `$WSK_LIBRARY` (a file or a directory), else next to the executable, else `../lib`.
pub fn find_libwsk() -> Result<PathBuf, String> {
    if let Some(value) = std::env::var_os("WSK_LIBRARY").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(value);
        let file = if path.is_dir() { path.join("libwsk.so") } else { path };
        return if file.is_file() {
            Ok(file.canonicalize().unwrap_or(file))
        } else {
            Err(format!("WSK_LIBRARY names {}, which does not exist", file.display()))
        };
    }
    let dir = exe_dir()?;
    let candidates = [dir.join("libwsk.so"), dir.join("../lib/libwsk.so")];
    for candidate in &candidates {
        if candidate.is_file() {
            return Ok(candidate.canonicalize().unwrap_or_else(|_| candidate.clone()));
        }
    }
    Err(format!(
        "libwsk.so not found (looked in {} and {}): `cargo build --release` in the wsk repository builds it \
         next to target/release/wsk, or set WSK_LIBRARY=/path/to/libwsk.so",
        dir.display(),
        dir.join("../lib").display()
    ))
}

/// The headers: `<prefix>/include/wsk` (installed), `<repo>/include` (development tree
/// `target/<profile>/wsk`), else the include/ of the repository this binary was built from.
pub fn include_dir() -> Result<PathBuf, String> {
    let dir = exe_dir()?;
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../include");
    let candidates = [dir.join("../include/wsk"), dir.join("../../include"), built_from];
    for candidate in &candidates {
        if candidate.join(MARKER_HEADER).is_file() {
            return Ok(candidate.canonicalize().unwrap_or_else(|_| candidate.clone()));
        }
    }
    Err(format!(
        "cannot find the wsk headers ({MARKER_HEADER}) in {}",
        candidates.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(", ")
    ))
}

/// What `wsk cflags` prints.
pub fn cflags() -> Result<String, String> {
    Ok(format!("-I{} {CFLAGS}", include_dir()?.display()))
}

/// What `wsk libs` prints.
pub fn libs() -> Result<String, String> {
    let library = find_libwsk()?;
    let dir = library.parent().unwrap_or(Path::new("/")).display().to_string();
    Ok(format!("-L{dir} -Wl,-rpath,{dir} -lwsk"))
}

/// `wsk cflags` / `wsk libs`: the flags on one line.
pub fn print_flags(flags: Result<String, String>) -> Result<(), Failure> {
    let flags = flags.map_err(Failure::runtime)?;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{flags}");
    Ok(())
}

/// The pkg-config file of an installed tree.
fn pc_file(prefix: &Path) -> String {
    format!(
        "prefix={}\n\
         includedir=${{prefix}}/include/wsk\n\
         libdir=${{prefix}}/lib\n\
         \n\
         Name: wsk\n\
         Description: Windows Winsock Kernel (WSK) provider and kernel routines in user space\n\
         Version: {}\n\
         Cflags: -I${{includedir}} {CFLAGS}\n\
         Libs: -L${{libdir}} -Wl,-rpath,${{libdir}} -lwsk\n\
         Libs.private: -lgcc_s -lutil -lrt -lpthread -lm -ldl\n",
        prefix.display(),
        env!("CARGO_PKG_VERSION")
    )
}

/// `wsk install --prefix DIR`.
pub fn install(args: &InstallArgs) -> Result<(), Failure> {
    let fail = |message: String| Failure::runtime(message);
    let prefix = std::path::absolute(&args.prefix).map_err(|e| fail(format!("bad prefix: {e}")))?;
    let library = find_libwsk().map_err(fail)?;
    let archive = library.with_file_name("libwsk.a");
    if !archive.is_file() {
        return Err(fail(format!("{} not found: build it with `cargo build --release`", archive.display())));
    }
    let include = include_dir().map_err(fail)?;
    let exe = std::env::current_exe().map_err(|e| fail(format!("cannot locate the wsk executable: {e}")))?;

    let (bin_dir, lib_dir, pc_dir, inc_dir) =
        (prefix.join("bin"), prefix.join("lib"), prefix.join("lib/pkgconfig"), prefix.join("include/wsk"));
    for dir in [&bin_dir, &lib_dir, &pc_dir, &inc_dir] {
        std::fs::create_dir_all(dir).map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
    }
    copy_file(&exe, &bin_dir.join("wsk")).map_err(fail)?;
    copy_file(&library, &lib_dir.join("libwsk.so")).map_err(fail)?;
    copy_file(&archive, &lib_dir.join("libwsk.a")).map_err(fail)?;
    let headers = copy_headers(&include, &inc_dir).map_err(fail)?;
    let pc = pc_dir.join("wsk.pc");
    write_file(&pc, pc_file(&prefix).as_bytes()).map_err(fail)?;

    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "installed into {}:", prefix.display());
    let _ = writeln!(stdout, "  bin/wsk");
    let _ = writeln!(stdout, "  lib/libwsk.so, lib/libwsk.a");
    let _ = writeln!(stdout, "  lib/pkgconfig/wsk.pc");
    let _ = writeln!(stdout, "  include/wsk/ ({headers} headers)");
    let _ = writeln!(stdout, "use: PKG_CONFIG_PATH={} pkg-config --cflags --libs wsk", pc_dir.display());
    Ok(())
}

/// Copies `from` to `to` through a temporary file and a rename: a running `wsk` or a
/// mapped `libwsk.so` being replaced keeps its old file. Nothing to do if both are the same.
fn copy_file(from: &Path, to: &Path) -> Result<(), String> {
    if let (Ok(a), Ok(b)) = (from.canonicalize(), to.canonicalize()) {
        if a == b {
            return Ok(());
        }
    }
    let temp = temp_name(to);
    std::fs::copy(from, &temp).map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), temp.display()))?;
    std::fs::rename(&temp, to).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        format!("cannot install {}: {e}", to.display())
    })
}

/// Writes `bytes` to `to` through a temporary file and a rename.
fn write_file(to: &Path, bytes: &[u8]) -> Result<(), String> {
    let temp = temp_name(to);
    std::fs::write(&temp, bytes).map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
    std::fs::rename(&temp, to).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        format!("cannot install {}: {e}", to.display())
    })
}

fn temp_name(to: &Path) -> PathBuf {
    let name = to.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    to.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Copies every `.h` file under `from` (subdirectories kept) into `to`; the count.
fn copy_headers(from: &Path, to: &Path) -> Result<usize, String> {
    let entries = std::fs::read_dir(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    let mut count = 0;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", from.display()))?;
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            std::fs::create_dir_all(&target).map_err(|e| format!("cannot create {}: {e}", target.display()))?;
            count += copy_headers(&path, &target)?;
        } else if path.extension().is_some_and(|ext| ext == "h") {
            copy_file(&path, &target)?;
            count += 1;
        }
    }
    Ok(count)
}

/// Parses a non-negative number of seconds (`0`, `1.5`).
pub fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => Ok(value),
        _ => Err("expected a number of seconds, e.g. 10 or 0.5".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_non_negative_numbers() {
        assert_eq!(parse_seconds("0"), Ok(0.0));
        assert_eq!(parse_seconds("1.5"), Ok(1.5));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("inf").is_err());
        assert!(parse_seconds("NaN").is_err());
        assert!(parse_seconds("soon").is_err());
    }

    #[test]
    fn the_installed_pc_file_points_into_the_prefix() {
        let pc = pc_file(Path::new("/opt/wsk"));
        assert!(pc.starts_with("prefix=/opt/wsk\n"), "{pc}");
        assert!(pc.contains("includedir=${prefix}/include/wsk\n"), "{pc}");
        assert!(pc.contains("libdir=${prefix}/lib\n"), "{pc}");
        assert!(pc.contains("Cflags: -I${includedir} -fshort-wchar -Wno-multichar\n"), "{pc}");
        assert!(pc.contains("Libs: -L${libdir} -Wl,-rpath,${libdir} -lwsk\n"), "{pc}");
    }
}
