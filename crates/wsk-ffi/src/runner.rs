//! What `wsk run` calls: load a driver, run it, unload it, report leaks.
//!
//! A "driver" is Windows driver code rebuilt for Linux as an ELF shared object
//! (`cc -shared -fPIC $(wsk cflags) driver.c -o driver.so`) that exports
//! `NTSTATUS DriverEntry(PDRIVER_OBJECT, PUNICODE_STRING)`. [`wsk_run_driver`] does what
//! Windows' I/O manager does for it, in this order:
//!
//! 1. **Checks before loading.** The ELF file is read (the `object` crate): it must be a
//!    shared object of this machine that exports `DriverEntry`. Every undefined dynamic
//!    symbol that is not weak must resolve to something already loaded (libwsk, libc:
//!    `dlsym(RTLD_DEFAULT)`) or in one of the driver's `DT_NEEDED` libraries. The names that
//!    do not are the routines wsk does not provide, and they are all named in one line
//!    instead of the dynamic loader's first-one-only error.
//! 2. **Load**: `dlopen(RTLD_NOW | RTLD_LOCAL)`. The driver is never closed (its threads,
//!    callbacks and leaked objects may still point into it).
//! 3. **DriverEntry** runs on its own thread with a `DRIVER_OBJECT` (`Type` 4, `Size`,
//!    `DriverName` `\Driver\<stem>`, `DriverInit`, a `DRIVER_EXTENSION` whose
//!    `ServiceKeyName` is `<stem>`) and the registry path
//!    `\Registry\Machine\System\CurrentControlSet\Services\<stem>`; all of them stay alive
//!    until the process exits. A failure status ends the run without unloading, as on
//!    Windows.
//! 4. **Run** until [`wsk_run_stop`] (the CLI calls it on SIGINT/SIGTERM) or for the given
//!    number of seconds: a wait on a condition variable.
//! 5. **Unload**: `DriverObject->DriverUnload` runs on its own thread, waited for at most
//!    the unload timeout. A driver that set none is not unloaded (Windows cannot unload it
//!    either); what it holds is reported all the same.
//! 6. **Leak report** on stdout: sockets, registrations, provider NPIs, receive and
//!    datagram indications, address info lists and cached security descriptors from the WSK side
//!    ([`crate::wsk::leaks`]), IRPs, MDLs, work items, system
//!    threads, devices, lookaside lists and pool blocks by tag from the kernel side
//!    ([`crate::kernel::leaks::snapshot`]).
//!
//! The outcome is the exit status ([`EXIT_CLEAN`] … [`EXIT_LEAKS`]); every failure is also
//! one line `wsk: …` on stderr.
//!
//! # Why the `wsk` command loads libwsk instead of linking it
//!
//! A driver's kernel routines (`ExAllocatePoolWithTag`, `IoAllocateIrp`, `WskRegister`…)
//! are undefined symbols of the driver's .so, bound by the dynamic loader to whichever
//! definition is in the process' global scope. There must be exactly one libwsk there —
//! one pool, one IRP accounting, one provider — and it must be the same copy whose leak
//! counters this runner reads. So the `wsk` executable (which exports nothing) opens
//! `libwsk.so` with `RTLD_GLOBAL` and calls `wsk_run_driver` in it: the runner, the
//! driver's routines and the leak accounting are the same library. A driver linked with
//! `-lwsk` (`NEEDED libwsk.so`) gets that same loaded copy: libwsk's SONAME is
//! `libwsk.so` and the loader reuses a loaded library of that name. The driver itself is
//! opened `RTLD_LOCAL`, so two drivers never bind to each other's symbols.
//!
//! A program that links libwsk itself can call [`wsk_run_driver`] too, provided libwsk's
//! symbols are global (a normal `-lwsk` link, not a `RTLD_LOCAL` dlopen).

use std::ffi::{c_char, c_int, c_void, CStr, CString, OsStr};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use object::elf;
use object::read::elf::{ElfFile64, FileHeader};
use object::{Object, ObjectSymbol};
use wsk_core::status::NtStatus;

use crate::abi::{DRIVER_OBJECT, NTSTATUS, UNICODE_STRING};
use crate::guard::guard;
use crate::kernel::leaks as kernel_leaks;

/// Exit status: the driver loaded, ran and unloaded, and left nothing behind.
pub const EXIT_CLEAN: c_int = 0;
/// Exit status: anything else (an internal error, a thread that could not be started).
pub const EXIT_FAILURE: c_int = 1;
/// Exit status 2 is the `wsk` command's usage error; the runner never returns it.
pub const EXIT_USAGE: c_int = 2;
/// Exit status: the driver could not be loaded (no such file, not an ELF shared object of
/// this machine, no `DriverEntry`, routines wsk does not provide, libwsk not usable).
pub const EXIT_CANNOT_LOAD: c_int = 3;
/// Exit status: `DriverEntry` returned a failure status (the driver was not unloaded).
pub const EXIT_DRIVER_ENTRY_FAILED: c_int = 4;
/// Exit status: `DriverUnload` did not return within the unload timeout (or, when the run
/// was stopped while `DriverEntry` was running, `DriverEntry` did not return within it).
pub const EXIT_HUNG: c_int = 5;
/// Exit status: the driver left objects behind (see the leak report).
pub const EXIT_LEAKS: c_int = 6;

/// `IO_TYPE_DRIVER`: `DRIVER_OBJECT.Type`.
const IO_TYPE_DRIVER: i16 = 4;
/// `e_ident[EI_CLASS]`: 32- or 64-bit.
const EI_CLASS: usize = 4;
/// The unload timeout used when the caller passes a negative or non-finite one.
const DEFAULT_UNLOAD_TIMEOUT: Duration = Duration::from_secs(10);

type DriverEntryFn = unsafe extern "C" fn(*mut DRIVER_OBJECT, *mut UNICODE_STRING) -> NTSTATUS;
type DriverUnloadFn = unsafe extern "C" fn(*mut DRIVER_OBJECT);

/// `DRIVER_EXTENSION` (x64 Windows layout): drivers set `AddDevice` in it.
#[repr(C)]
struct DriverExtension {
    driver_object: *mut DRIVER_OBJECT,
    add_device: *mut c_void,
    count: u32,
    service_key_name: UNICODE_STRING,
    reserved: [*mut c_void; 4],
}

/// Runs the driver at `path` (see the module docs) and returns the exit status.
///
/// `seconds`: how long the driver runs between `DriverEntry` and `DriverUnload`; negative
/// or NaN: until [`wsk_run_stop`]. `unload_timeout`: the longest wait for `DriverUnload`
/// in seconds (negative or non-finite: 10).
///
/// Prints the progress and the leak report on stdout and each failure as one line on
/// stderr. Returns [`EXIT_CLEAN`], [`EXIT_FAILURE`], [`EXIT_CANNOT_LOAD`],
/// [`EXIT_DRIVER_ENTRY_FAILED`], [`EXIT_HUNG`] or [`EXIT_LEAKS`].
///
/// # Safety
///
/// `path` is NULL or a NUL-terminated string. The driver's code runs in this process.
#[no_mangle]
pub unsafe extern "C" fn wsk_run_driver(path: *const c_char, seconds: f64, unload_timeout: f64) -> c_int {
    guard("wsk_run_driver", EXIT_FAILURE, || {
        if path.is_null() {
            fail("wsk_run_driver: the driver path is NULL");
            return EXIT_CANNOT_LOAD;
        }
        // SAFETY: the caller passes a NUL-terminated string (checked non-NULL above).
        let path = Path::new(OsStr::from_bytes(unsafe { CStr::from_ptr(path) }.to_bytes()));
        let run_for = if seconds.is_nan() || seconds < 0.0 {
            None
        } else {
            Some(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX))
        };
        let unload_timeout = Duration::try_from_secs_f64(unload_timeout).unwrap_or(DEFAULT_UNLOAD_TIMEOUT);
        let code = run(path, run_for, unload_timeout);
        let _ = std::io::stdout().flush();
        code
    })
}

/// Asks the running [`wsk_run_driver`] to unload its driver (what Ctrl-C does). A stop
/// asked for before the driver runs stops it as soon as `DriverEntry` returns.
///
/// Takes a lock: call it from a normal thread, not from a signal handler (the `ctrlc`
/// crate runs its handler on a thread of its own).
#[no_mangle]
pub extern "C" fn wsk_run_stop() {
    guard("wsk_run_stop", (), || {
        update(None, |state| state.stop = true);
    })
}

// ----- the run -----

/// What the runner threads tell the waiting one.
struct State {
    /// The current run; a thread of an earlier run (e.g. a hung unload) changes nothing.
    run: u64,
    /// Set by [`wsk_run_stop`]; cleared when a run ends.
    stop: bool,
    /// What `DriverEntry` returned.
    entry: Option<NTSTATUS>,
    /// `DriverUnload` returned.
    unloaded: bool,
}

static STATE: Mutex<State> = Mutex::new(State { run: 0, stop: false, entry: None, unloaded: false });
static CHANGED: Condvar = Condvar::new();

fn lock() -> MutexGuard<'static, State> {
    crate::kernel::sync::lock(&STATE)
}

/// Changes the state (only if `run` is still the current run, when given) and wakes the waiter.
fn update(run: Option<u64>, change: impl FnOnce(&mut State)) {
    let mut state = lock();
    if run.is_none_or(|run| run == state.run) {
        change(&mut state);
        CHANGED.notify_all();
    }
}

/// Waits until `done` holds or `deadline` passes; returns the state at that moment.
fn wait(deadline: Option<Instant>, done: impl Fn(&State) -> bool) -> MutexGuard<'static, State> {
    let mut state = lock();
    while !done(&state) {
        state = match deadline {
            None => CHANGED.wait(state).unwrap_or_else(PoisonError::into_inner),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                CHANGED.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0
            }
        };
    }
    state
}

/// A pointer handed to a driver thread.
#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);
// SAFETY: the pointees (the DRIVER_OBJECT and the registry path) are leaked, so they live
// as long as any thread; the driver synchronizes its own use of them, as on Windows.
unsafe impl<T> Send for SendPtr<T> {}
impl<T> SendPtr<T> {
    fn get(self) -> *mut T {
        self.0
    }
}

fn run(path: &Path, run_for: Option<Duration>, unload_timeout: Duration) -> c_int {
    let shown = path.display().to_string();
    let run = {
        let mut state = lock();
        state.run += 1;
        state.entry = None;
        state.unloaded = false;
        state.run
    };
    let code = run_driver(path, &shown, run, run_for, unload_timeout);
    lock().stop = false;
    code
}

/// Steps 1 and 2 of a run: the checks before loading (libwsk global, an ELF shared
/// object, every imported routine provided), then loading; the driver's `DriverEntry`,
/// or the one-line reason it cannot be loaded.
fn prepare(path: &Path, shown: &str) -> Result<DriverEntryFn, String> {
    libwsk_is_global()?;
    let image = inspect(path, shown)?;
    let missing = missing_routines(&image, shown)?;
    if !missing.is_empty() {
        return Err(format!("{shown} needs routines wsk does not provide: {}", missing.join(", ")));
    }
    load(&image.path, shown)
}

fn run_driver(path: &Path, shown: &str, run: u64, run_for: Option<Duration>, unload_timeout: Duration) -> c_int {
    let entry = match prepare(path, shown) {
        Ok(entry) => entry,
        Err(message) => {
            fail(&message);
            return EXIT_CANNOT_LOAD;
        }
    };
    let (driver, registry_path) = driver_object(&stem(path), entry);

    // 3. DriverEntry.
    say(&format!("{shown}: loaded; calling DriverEntry"));
    let (d, r) = (SendPtr(driver), SendPtr(registry_path));
    let spawned = std::thread::Builder::new().name("DriverEntry".into()).spawn(move || {
        // SAFETY: DriverEntry has the documented signature (the driver's contract); both
        // arguments are valid for the rest of the process.
        let status = unsafe { entry(d.get(), r.get()) };
        update(Some(run), |state| state.entry = Some(status));
    });
    if let Err(e) = spawned {
        fail(&format!("cannot start a thread for DriverEntry: {e}"));
        return EXIT_FAILURE;
    }
    let entered = wait(None, |state| state.entry.is_some() || state.stop).entry;
    let status = match entered {
        Some(status) => status,
        None => {
            // Stopped while DriverEntry runs: it gets the unload timeout to return.
            say(&format!(
                "{shown}: stop requested while DriverEntry is running; waiting up to {} s for it",
                secs(unload_timeout)
            ));
            let deadline = Instant::now().checked_add(unload_timeout);
            let Some(status) = wait(deadline, |state| state.entry.is_some()).entry else {
                report(shown);
                fail(&format!(
                    "{shown}: DriverEntry did not return within {} s of the stop request (it hangs)",
                    secs(unload_timeout)
                ));
                return EXIT_HUNG;
            };
            status
        }
    };
    if status < 0 {
        say(&format!("{shown}: DriverEntry returned {}; not unloading (as Windows)", describe(status)));
        report(shown);
        fail(&format!("DriverEntry failed: {}", describe(status)));
        return EXIT_DRIVER_ENTRY_FAILED;
    }

    // 4. Run.
    match run_for {
        Some(time) => say(&format!("{shown}: DriverEntry returned {}; running for {} s", describe(status), secs(time))),
        None => say(&format!("{shown}: DriverEntry returned {}; running until Ctrl-C", describe(status))),
    }
    let deadline = run_for.and_then(|time| Instant::now().checked_add(time));
    let stopped = wait(deadline, |state| state.stop).stop;
    if stopped {
        say(&format!("{shown}: stop requested"));
    }

    // 5. Unload.
    // SAFETY: `driver` is the leaked DRIVER_OBJECT; DriverEntry has returned, so reading
    // the member it set races with nothing but the driver's own threads, as on Windows.
    let unload: Option<DriverUnloadFn> = unsafe { (*driver).DriverUnload };
    let hung = match unload {
        None => {
            say(&format!(
                "{shown} set no DriverUnload: not unloaded (Windows cannot unload it either); \
                 what it holds is reported below"
            ));
            false
        }
        Some(unload) => {
            let d = SendPtr(driver);
            let spawned = std::thread::Builder::new().name("DriverUnload".into()).spawn(move || {
                // SAFETY: DriverUnload has the documented signature; the DRIVER_OBJECT is
                // leaked, so it outlives the call.
                unsafe { unload(d.get()) };
                update(Some(run), |state| state.unloaded = true);
            });
            if let Err(e) = spawned {
                fail(&format!("cannot start a thread for DriverUnload: {e}"));
                return EXIT_FAILURE;
            }
            let deadline = Instant::now().checked_add(unload_timeout);
            let unloaded = wait(deadline, |state| state.unloaded).unloaded;
            if unloaded {
                say(&format!("{shown}: DriverUnload returned"));
            }
            !unloaded
        }
    };

    // 6. Report.
    let leaked = report(shown);
    if hung {
        fail(&format!(
            "{shown}: DriverUnload did not return within {} s: unload hangs (the report above is from that moment)",
            secs(unload_timeout)
        ));
        return EXIT_HUNG;
    }
    if leaked {
        fail(&format!("{shown} leaked objects (see the leak report)"));
        return EXIT_LEAKS;
    }
    EXIT_CLEAN
}

/// One progress line on stdout.
fn say(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// One failure line on stderr (stdout first, so the report comes before the verdict).
fn fail(line: &str) {
    let _ = std::io::stdout().flush();
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "wsk: {line}");
}

/// `0xC000009A (STATUS_INSUFFICIENT_RESOURCES)`, or just the number.
pub fn describe(status: NTSTATUS) -> String {
    match NtStatus(status).name() {
        Some(name) => format!("0x{:08X} ({name})", status as u32),
        None => format!("0x{:08X}", status as u32),
    }
}

/// `1`, `0.5`, `2.25` (seconds, without noise).
fn secs(time: Duration) -> String {
    let text = format!("{:.3}", time.as_secs_f64());
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The driver's name: its file name up to the first dot (`clean.so` → `clean`).
fn stem(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = name.split('.').next().unwrap_or_default();
    if stem.is_empty() {
        "driver".into()
    } else {
        stem.into()
    }
}

/// A UNICODE_STRING over a leaked, NUL-terminated UTF-16 copy of `text`.
fn unicode(text: &str) -> UNICODE_STRING {
    let mut wide: Vec<u16> = text.encode_utf16().collect();
    let length = (wide.len() * 2).min(usize::from(u16::MAX) - 1);
    wide.push(0);
    let buffer = Box::leak(wide.into_boxed_slice());
    UNICODE_STRING { Length: length as u16, MaximumLength: length as u16 + 2, Buffer: buffer.as_mut_ptr() }
}

/// The DRIVER_OBJECT and the registry path DriverEntry gets; both leaked (they live until
/// the process exits, like the driver's code).
fn driver_object(stem: &str, entry: DriverEntryFn) -> (*mut DRIVER_OBJECT, *mut UNICODE_STRING) {
    // SAFETY: DRIVER_OBJECT holds integers, raw pointers and Option<fn>: all-zero is a valid
    // value of each (0, NULL, None).
    let mut object: DRIVER_OBJECT = unsafe { std::mem::zeroed() };
    object.Type = IO_TYPE_DRIVER;
    object.Size = std::mem::size_of::<DRIVER_OBJECT>() as i16;
    object.DriverName = unicode(&format!("\\Driver\\{stem}"));
    object.DriverInit = entry as *mut c_void;
    let object = Box::leak(Box::new(object));
    let extension = Box::leak(Box::new(DriverExtension {
        driver_object: object,
        add_device: std::ptr::null_mut(),
        count: 0,
        service_key_name: unicode(stem),
        reserved: [std::ptr::null_mut(); 4],
    }));
    object.DriverExtension = (extension as *mut DriverExtension).cast();
    let registry_path =
        Box::leak(Box::new(unicode(&format!("\\Registry\\Machine\\System\\CurrentControlSet\\Services\\{stem}"))));
    (object, registry_path)
}

// ----- before loading: what the ELF file says -----

/// What the runner needs to know of a driver before loading it.
#[derive(Debug)]
pub(crate) struct DriverImage {
    /// The absolute path (a path without a slash would make dlopen search the library path).
    pub path: PathBuf,
    /// Undefined, non-weak dynamic symbols: what the loader must find elsewhere.
    pub undefined: Vec<String>,
    /// `DT_NEEDED` libraries.
    pub needed: Vec<String>,
    /// `DT_RUNPATH` / `DT_RPATH` directories, `$ORIGIN` expanded.
    pub search_dirs: Vec<PathBuf>,
}

/// Reads the driver's ELF headers: a shared object of this machine exporting DriverEntry.
pub(crate) fn inspect(path: &Path, shown: &str) -> Result<DriverImage, String> {
    let data = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("{shown}: no such file"),
        std::io::ErrorKind::IsADirectory => format!("{shown} is a directory, not a driver"),
        _ => format!("cannot read {shown}: {e}"),
    })?;
    let not_so = || format!("{shown} is not an ELF shared object");
    if data.starts_with(b"MZ") {
        return Err(format!(
            "{shown} is a Windows PE image: wsk runs drivers rebuilt for Linux \
             (cc -shared -fPIC $(wsk cflags) driver.c -o driver.so)"
        ));
    }
    if data.len() < 20 || !data.starts_with(b"\x7fELF") {
        return Err(not_so());
    }
    // e_ident[EI_CLASS]; e_machine is at offset 18 in both classes.
    let machine = u16::from_ne_bytes([data[18], data[19]]);
    if data[EI_CLASS] != elf::ELFCLASS64 || HOST_MACHINE.is_some_and(|host| host != machine) {
        return Err(format!(
            "{shown} is built for {}, not for {} (this wsk)",
            machine_name(machine, data[EI_CLASS]),
            std::env::consts::ARCH
        ));
    }
    let file = ElfFile64::<object::Endianness>::parse(&*data).map_err(|e| format!("{}: {e}", not_so()))?;
    let endian = file.endian();
    let header = file.elf_header();
    if header.e_type(endian) != elf::ET_DYN {
        return Err(format!("{} (build it with -shared -fPIC)", not_so()));
    }
    let dynamic = file.elf_section_table().dynamic_table(endian, &*data).map_err(|e| format!("{}: {e}", not_so()))?;
    if dynamic.is_empty() {
        return Err(format!("{}: it has no dynamic section", not_so()));
    }
    let origin = path.canonicalize().map_err(|e| format!("cannot read {shown}: {e}"))?;
    let dir = origin.parent().unwrap_or(Path::new("/")).to_path_buf();
    let mut needed = Vec::new();
    let mut runpath = Vec::new();
    let mut rpath = Vec::new();
    for entry in dynamic.iter() {
        let text = || dynamic.string(entry).ok().map(|s| String::from_utf8_lossy(s).into_owned());
        match entry.tag {
            elf::DT_NEEDED => needed.extend(text()),
            elf::DT_RUNPATH => runpath.extend(text()),
            elf::DT_RPATH => rpath.extend(text()),
            elf::DT_FLAGS_1 if entry.val & u64::from(elf::DF_1_PIE) != 0 => {
                return Err(format!("{shown} is an executable, not a shared object (build it with -shared -fPIC)"));
            }
            _ => {}
        }
    }
    // The loader ignores DT_RPATH when DT_RUNPATH is present.
    let paths = if runpath.is_empty() { rpath } else { runpath };
    let dir_text = dir.display().to_string();
    let search_dirs = paths
        .iter()
        .flat_map(|p| p.split(':'))
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(p.replace("${ORIGIN}", &dir_text).replace("$ORIGIN", &dir_text)))
        .collect();

    let mut undefined = Vec::new();
    let mut has_entry = false;
    let mut mangled_entry = false;
    for symbol in file.dynamic_symbols() {
        let Ok(name) = symbol.name() else { continue };
        if name.is_empty() {
            continue;
        }
        if symbol.is_undefined() {
            if !symbol.is_weak() {
                undefined.push(name.to_string());
            }
        } else if name == "DriverEntry" {
            has_entry = true;
        } else if name.starts_with("_Z") && name.contains("11DriverEntry") {
            mangled_entry = true;
        }
    }
    if !has_entry {
        let hint = if mangled_entry {
            " (it is C++: declare it extern \"C\")"
        } else {
            " (NTSTATUS DriverEntry(PDRIVER_OBJECT, PUNICODE_STRING), not static)"
        };
        return Err(format!("{shown} has no DriverEntry symbol{hint}"));
    }
    undefined.sort();
    undefined.dedup();
    Ok(DriverImage { path: origin, undefined, needed, search_dirs })
}

#[cfg(target_arch = "x86_64")]
const HOST_MACHINE: Option<u16> = Some(elf::EM_X86_64);
#[cfg(target_arch = "aarch64")]
const HOST_MACHINE: Option<u16> = Some(elf::EM_AARCH64);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const HOST_MACHINE: Option<u16> = None;

fn machine_name(machine: u16, class: u8) -> String {
    match (machine, class) {
        (elf::EM_X86_64, elf::ELFCLASS64) => "x86_64".into(),
        (elf::EM_X86_64, _) => "x32".into(),
        (elf::EM_386, _) => "x86 (32-bit)".into(),
        (elf::EM_AARCH64, _) => "aarch64".into(),
        (elf::EM_ARM, _) => "arm (32-bit)".into(),
        (elf::EM_RISCV, _) => "riscv".into(),
        (elf::EM_PPC64, _) => "powerpc64".into(),
        (elf::EM_S390, _) => "s390x".into(),
        (_, elf::ELFCLASS32) => format!("ELF machine {machine} (32-bit)"),
        _ => format!("ELF machine {machine}"),
    }
}

/// libwsk's routines must be in the global scope, or no driver can bind to them.
fn libwsk_is_global() -> Result<(), String> {
    // SAFETY: dlsym with a valid NUL-terminated name.
    let found = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"wsk_run_driver".as_ptr()) };
    if found.is_null() {
        return Err("libwsk's routines are not visible to drivers: load libwsk with RTLD_GLOBAL \
                    (as the wsk command does) or link it with -lwsk"
            .into());
    }
    Ok(())
}

/// The undefined symbols nothing loaded or needed provides (sorted); an error if a needed
/// library cannot be loaded.
pub(crate) fn missing_routines(image: &DriverImage, shown: &str) -> Result<Vec<String>, String> {
    let mut missing: Vec<&str> =
        image.undefined.iter().map(String::as_str).filter(|name| !resolves(None, name)).collect();
    for library in &image.needed {
        // libwsk's routines are global already (libwsk_is_global), and opening it again by
        // name could load a second copy.
        if library == "libwsk.so" {
            continue;
        }
        let handle = open_needed(library, &image.search_dirs)
            .map_err(|e| format!("{shown} needs the library {library}, which cannot be loaded: {e}"))?;
        missing.retain(|name| !resolves(Some(handle), name));
    }
    Ok(missing.into_iter().map(str::to_string).collect())
}

/// Whether `name` is defined in the global scope (`None`) or in the library `handle`
/// and its dependencies.
fn resolves(handle: Option<*mut c_void>, name: &str) -> bool {
    let Ok(name) = CString::new(name) else { return false };
    // SAFETY: dlsym with a handle from dlopen (or RTLD_DEFAULT) and a NUL-terminated name.
    let address = unsafe { libc::dlsym(handle.unwrap_or(libc::RTLD_DEFAULT), name.as_ptr()) };
    !address.is_null()
}

/// Opens a DT_NEEDED library the way the loader will for the driver: the driver's run
/// paths first, then the usual search. The handle stays open (the driver needs it next).
fn open_needed(library: &str, search_dirs: &[PathBuf]) -> Result<*mut c_void, String> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if !library.contains('/') {
        candidates.extend(search_dirs.iter().map(|dir| dir.join(library)).filter(|path| path.exists()));
    }
    candidates.push(PathBuf::from(library));
    let mut last_error = String::new();
    for candidate in candidates {
        match dlopen(&candidate, libc::RTLD_LAZY | libc::RTLD_LOCAL) {
            Ok(handle) => return Ok(handle),
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

fn dlopen(path: &Path, flags: c_int) -> Result<*mut c_void, String> {
    let name = CString::new(path.as_os_str().as_bytes()).map_err(|_| "the path contains a NUL byte".to_string())?;
    // SAFETY: dlopen with a NUL-terminated path; dlerror right after, on the same thread.
    unsafe {
        let handle = libc::dlopen(name.as_ptr(), flags);
        if handle.is_null() {
            let error = libc::dlerror();
            return Err(if error.is_null() {
                "unknown dlopen error".into()
            } else {
                CStr::from_ptr(error).to_string_lossy().into_owned()
            });
        }
        Ok(handle)
    }
}

/// Loads the driver (never unloaded) and finds DriverEntry.
fn load(path: &Path, shown: &str) -> Result<DriverEntryFn, String> {
    let handle = dlopen(path, libc::RTLD_NOW | libc::RTLD_LOCAL).map_err(|e| format!("cannot load {shown}: {e}"))?;
    // SAFETY: dlsym with a handle from dlopen and a NUL-terminated name.
    let address = unsafe { libc::dlsym(handle, c"DriverEntry".as_ptr()) };
    if address.is_null() {
        return Err(format!("{shown} has no DriverEntry symbol"));
    }
    // SAFETY: DriverEntry's signature is the driver's contract (DRIVER_INITIALIZE).
    Ok(unsafe { std::mem::transmute::<*mut c_void, DriverEntryFn>(address) })
}

// ----- the leak report -----

/// Prints the leak report; true if anything leaked.
fn report(shown: &str) -> bool {
    // Work items queued just before unload returned may still be running: let them
    // finish (briefly) so they are not counted as leaks.
    crate::kernel::workitem::wait_idle(std::time::Duration::from_secs(2));
    let lines = leak_lines(&crate::wsk::leaks(), &kernel_leaks::snapshot());
    let mut stdout = std::io::stdout().lock();
    if lines.is_empty() {
        let _ = writeln!(stdout, "leak report for {shown}: nothing leaked");
    } else {
        let _ = writeln!(
            stdout,
            "leak report for {shown}: {} leaked:",
            count(lines.len(), "kind of object", "kinds of objects")
        );
        for line in &lines {
            let _ = writeln!(stdout, "  {line}");
        }
    }
    let _ = stdout.flush();
    !lines.is_empty()
}

/// `1 IRP`, `2 IRPs`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// One line per kind of object left behind.
fn leak_lines(wsk: &crate::wsk::WskLeaks, kernel: &kernel_leaks::KernelLeaks) -> Vec<String> {
    let rows: [(usize, &str, &str, &str); 13] = [
        (wsk.sockets, "socket", "sockets", "still open (WskCloseSocket)"),
        (wsk.registrations, "registration", "registrations", "not deregistered (WskDeregister)"),
        (wsk.captures, "provider NPI", "provider NPIs", "not released (WskReleaseProviderNPI)"),
        (wsk.indications, "receive indication", "receive indications", "not released (WskRelease)"),
        (wsk.datagram_indications, "datagram indication", "datagram indications", "not released (WskRelease)"),
        (wsk.address_infos, "address info list", "address info lists", "not freed (WskFreeAddressInfo)"),
        (
            wsk.security_descriptors,
            "cached security descriptor",
            "cached security descriptors",
            "not released (WSK_RELEASE_SD)",
        ),
        (kernel.irps, "IRP", "IRPs", "not freed (IoFreeIrp)"),
        (kernel.mdls, "MDL", "MDLs", "not freed (IoFreeMdl)"),
        (kernel.work_items, "work item", "work items", "not freed (IoFreeWorkItem)"),
        (kernel.threads, "system thread", "system threads", "still running (PsCreateSystemThread)"),
        (kernel.devices, "device object", "device objects", "not deleted (IoDeleteDevice)"),
        (kernel.lookaside_lists, "lookaside list", "lookaside lists", "not deleted"),
    ];
    let mut lines: Vec<String> = rows
        .iter()
        .filter(|row| row.0 > 0)
        .map(|&(n, one, many, what)| format!("{} {what}", count(n, one, many)))
        .collect();
    for pool in &kernel.pool {
        lines.push(format!(
            "pool tag '{}': {}, {} not freed (ExFreePoolWithTag)",
            kernel_leaks::tag_to_string(pool.tag),
            count(pool.blocks, "block", "blocks"),
            count(pool.bytes, "byte", "bytes")
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Compiles `source` (C, no headers) into a shared object or an executable.
    fn compile(name: &str, source: &str, flags: &[&str]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wsk-runner-tests-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let c = dir.join(format!("{name}.c"));
        std::fs::write(&c, source).unwrap();
        let out = dir.join(name);
        let status = Command::new("gcc").args(flags).arg(&c).arg("-o").arg(&out).status().expect("run gcc");
        assert!(status.success(), "gcc {name} failed");
        out
    }

    const DRIVER: &str = r#"
        extern int WskTestNoSuchRoutine(int);
        extern int WskTestAlsoMissing;
        extern int WskTestOptional(void) __attribute__((weak));
        #include <stdlib.h>
        int DriverEntry(void *driver, void *registry) {
            if (driver == 0) return WskTestNoSuchRoutine(WskTestAlsoMissing);
            if (WskTestOptional) WskTestOptional();
            free(malloc(16));
            return 0;
        }
    "#;

    #[test]
    fn undefined_symbols_are_listed_without_weak_ones() {
        let so = compile("driver.so", DRIVER, &["-shared", "-fPIC"]);
        let image = inspect(&so, "driver.so").expect("inspect");
        assert!(image.undefined.contains(&"WskTestNoSuchRoutine".to_string()), "{image:?}");
        assert!(image.undefined.contains(&"WskTestAlsoMissing".to_string()), "{image:?}");
        assert!(image.undefined.contains(&"malloc".to_string()), "{image:?}");
        assert!(!image.undefined.iter().any(|s| s == "WskTestOptional"), "{image:?}");
        assert!(!image.undefined.iter().any(|s| s == "DriverEntry"), "{image:?}");
        assert!(image.needed.iter().any(|n| n.starts_with("libc.so")), "{image:?}");
        assert!(image.path.is_absolute());

        let missing = missing_routines(&image, "driver.so").expect("resolve");
        assert_eq!(missing, ["WskTestAlsoMissing", "WskTestNoSuchRoutine"]);
    }

    #[test]
    fn what_is_not_a_driver_is_named() {
        let err = inspect(Path::new("/nonexistent/x.so"), "x.so").unwrap_err();
        assert_eq!(err, "x.so: no such file");

        let text = compile("notes.txt.c", "int x;", &["-c"]);
        std::fs::write(&text, "just text").unwrap();
        assert_eq!(inspect(&text, "t").unwrap_err(), "t is not an ELF shared object");

        let object = compile("object.o", "int DriverEntry(void) { return 0; }", &["-c", "-fPIC"]);
        assert!(inspect(&object, "o").unwrap_err().starts_with("o is not an ELF shared object"));

        let exe =
            compile("exe", "int DriverEntry(void) { return 0; } int main(void) { return 0; }", &["-pie", "-fPIE"]);
        let err = inspect(&exe, "exe").unwrap_err();
        assert!(err.contains("exe is an executable") || err.contains("not an ELF shared object"), "{err}");

        let none = compile("none.so", "int Other(void) { return 0; }", &["-shared", "-fPIC"]);
        assert!(inspect(&none, "none.so").unwrap_err().starts_with("none.so has no DriverEntry symbol"));

        let hidden = compile(
            "hidden.so",
            "__attribute__((visibility(\"hidden\"))) int DriverEntry(void) { return 0; }",
            &["-shared", "-fPIC"],
        );
        assert!(inspect(&hidden, "h").unwrap_err().starts_with("h has no DriverEntry symbol"));
    }

    #[test]
    fn the_driver_object_is_windows_shaped() {
        unsafe extern "C" fn entry(_: *mut DRIVER_OBJECT, _: *mut UNICODE_STRING) -> NTSTATUS {
            0
        }
        let (driver, registry) = driver_object("clean", entry);
        // SAFETY: both were just leaked by driver_object and are valid.
        unsafe {
            assert_eq!((*driver).Type, 4);
            assert_eq!((*driver).Size as usize, std::mem::size_of::<DRIVER_OBJECT>());
            let name = &(*driver).DriverName;
            let text = std::slice::from_raw_parts(name.Buffer, usize::from(name.Length) / 2);
            assert_eq!(String::from_utf16(text).unwrap(), "\\Driver\\clean");
            assert_eq!(*name.Buffer.add(usize::from(name.Length) / 2), 0);
            let reg = &*registry;
            let text = std::slice::from_raw_parts(reg.Buffer, usize::from(reg.Length) / 2);
            assert_eq!(
                String::from_utf16(text).unwrap(),
                "\\Registry\\Machine\\System\\CurrentControlSet\\Services\\clean"
            );
            assert!((*driver).DriverUnload.is_none());
            let extension = (*driver).DriverExtension as *const DriverExtension;
            assert_eq!((*extension).driver_object, driver);
        }
    }

    #[test]
    fn names_and_numbers() {
        assert_eq!(stem(Path::new("/x/clean.so")), "clean");
        assert_eq!(stem(Path::new("libdrv.so.1")), "libdrv");
        assert_eq!(describe(0xC000_009A_u32 as i32), "0xC000009A (STATUS_INSUFFICIENT_RESOURCES)");
        assert_eq!(describe(0xC0DE_0001_u32 as i32), "0xC0DE0001");
        assert_eq!(secs(Duration::from_secs(10)), "10");
        assert_eq!(secs(Duration::from_millis(1500)), "1.5");
        assert_eq!(secs(Duration::ZERO), "0");
        assert_eq!(count(1, "IRP", "IRPs"), "1 IRP");
        assert_eq!(count(2, "block", "blocks"), "2 blocks");
    }

    #[test]
    fn the_report_names_every_kind_and_tag() {
        let wsk = crate::wsk::WskLeaks {
            registrations: 1,
            sockets: 2,
            address_infos: 1,
            datagram_indications: 3,
            ..Default::default()
        };
        let kernel = kernel_leaks::KernelLeaks {
            irps: 1,
            mdls: 0,
            work_items: 0,
            threads: 0,
            devices: 0,
            lookaside_lists: 0,
            pool: vec![kernel_leaks::PoolTagLeak { tag: u32::from_le_bytes(*b"Leak"), blocks: 2, bytes: 200 }],
        };
        let lines = leak_lines(&wsk, &kernel);
        assert_eq!(
            lines,
            [
                "2 sockets still open (WskCloseSocket)",
                "1 registration not deregistered (WskDeregister)",
                "3 datagram indications not released (WskRelease)",
                "1 address info list not freed (WskFreeAddressInfo)",
                "1 IRP not freed (IoFreeIrp)",
                "pool tag 'Leak': 2 blocks, 200 bytes not freed (ExFreePoolWithTag)",
            ]
        );
        assert!(leak_lines(&crate::wsk::WskLeaks::default(), &kernel_leaks::KernelLeaks::default()).is_empty());
    }
}
