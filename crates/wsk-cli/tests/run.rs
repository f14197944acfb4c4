//! `wsk run`, `wsk cflags`, `wsk libs`, `wsk install` as a user runs them: the C drivers in
//! `tests/drivers/` are compiled with the flags `wsk cflags` prints and run by the `wsk`
//! binary, which loads libwsk.so from next to itself.
//!
//! `cargo test` builds no cdylib, so libwsk.so is built first by a nested
//! `cargo build -p wsk-ffi` of the same profile (a no-op when it is up to date), as in
//! `crates/wsk-ffi/tests/support/mod.rs`. Every child process is bounded in time and
//! killed when it overruns; the SIGINT test waits for the driver's "running" line, not
//! for a sleep.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// Generous: everything is a debug build on a shared 2-core machine.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

// The exit statuses of `wsk run` (see `wsk run --help`).
const EXIT_CANNOT_LOAD: i32 = 3;
const EXIT_DRIVER_ENTRY_FAILED: i32 = 4;
const EXIT_HUNG: i32 = 5;
const EXIT_LEAKS: i32 = 6;

fn wsk() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_wsk"))
}

/// The C-ABI tests' helpers (building libwsk with a nested cargo, the repository root).
#[path = "../../wsk-ffi/tests/support/mod.rs"]
mod support;

use support::{libwsk_dir, run_bounded, try_run_bounded};

/// `target/<profile>`: where the `wsk` binary and libwsk.so are.
fn profile_dir() -> PathBuf {
    wsk().parent().expect("target/<profile>").to_path_buf()
}

/// A fresh directory for one test's files, removed when the test passes (kept, for a
/// look, when it fails).
struct WorkDir(PathBuf);

impl WorkDir {
    fn new(test: &str) -> WorkDir {
        let dir = profile_dir().join("wsk-run-tests").join(format!("{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the test directory");
        WorkDir(dir)
    }
}

impl std::ops::Deref for WorkDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn driver_source(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/drivers").join(format!("{name}.c"))
}

/// A `wsk` command (libwsk built first; `WSK_LIBRARY` never inherited).
fn wsk_command(exe: &Path, args: &[&str]) -> Command {
    libwsk_dir();
    let mut cmd = Command::new(exe);
    cmd.args(args).env_remove("WSK_LIBRARY").stdin(Stdio::null());
    cmd
}

/// The text of a finished run, for assertions and failure messages.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn of(output: Output) -> Ran {
        Ran {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn assert_code(&self, code: i32) {
        assert_eq!(self.code, Some(code), "{self}");
    }

    /// The `wsk: ...` lines of stderr.
    fn failure_lines(&self) -> Vec<&str> {
        self.stderr.lines().filter(|line| line.starts_with("wsk: ")).collect()
    }
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {:?}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

fn wsk_run(exe: &Path, args: &[&str]) -> Ran {
    Ran::of(run_bounded(wsk_command(exe, args), RUN_TIMEOUT))
}

/// The one line a `wsk cflags` / `wsk libs` prints, split into arguments.
fn flags_of(exe: &Path, what: &str) -> Vec<String> {
    let ran = wsk_run(exe, &[what]);
    ran.assert_code(0);
    assert_eq!(ran.stdout.lines().count(), 1, "{ran}");
    ran.stdout.split_whitespace().map(str::to_string).collect()
}

/// Compiles `tests/drivers/<source>.c` into `<dir>/<output>` with gcc: `-shared -fPIC`,
/// the given flags (e.g. those of `wsk cflags`), warnings as errors.
fn compile(source: &str, dir: &Path, output: &str, flags: &[String]) -> PathBuf {
    let out = dir.join(output);
    let mut cmd = Command::new("gcc");
    cmd.args(["-shared", "-fPIC", "-g", "-Wall", "-Wextra", "-Werror"]);
    cmd.args(flags);
    cmd.arg(driver_source(source)).arg("-o").arg(&out);
    let ran = Ran::of(run_bounded(cmd, RUN_TIMEOUT));
    assert_eq!(ran.code, Some(0), "compiling {source}.c failed:\n{ran}");
    out
}

/// Compiles a driver with the flags the `wsk` under test prints.
fn driver(source: &str, test: &str) -> (WorkDir, PathBuf) {
    let dir = WorkDir::new(test);
    let so = compile(source, &dir, &format!("{source}.so"), &flags_of(&wsk(), "cflags"));
    (dir, so)
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

#[test]
fn a_clean_driver_runs_unloads_and_leaks_nothing() {
    let (_dir, so) = driver("clean", "clean");
    let ran = wsk_run(&wsk(), &["run", path_arg(&so), "--seconds", "0"]);
    ran.assert_code(0);
    assert!(ran.stdout.contains("DriverEntry returned 0x00000000 (STATUS_SUCCESS)"), "{ran}");
    assert!(ran.stdout.contains("DriverUnload returned"), "{ran}");
    assert!(ran.stdout.contains("leak report for"), "{ran}");
    assert!(ran.stdout.contains("nothing leaked"), "{ran}");
    assert!(ran.failure_lines().is_empty(), "{ran}");
}

#[test]
fn leaks_are_named_by_kind_and_pool_tag() {
    let (_dir, so) = driver("leaky", "leaky");
    let ran = wsk_run(&wsk(), &["run", path_arg(&so), "--seconds", "0"]);
    ran.assert_code(EXIT_LEAKS);
    assert!(ran.stdout.contains("1 IRP not freed"), "{ran}");
    assert!(ran.stdout.contains("1 registration not deregistered"), "{ran}");
    let pool =
        ran.stdout.lines().find(|line| line.contains("'Leak'")).unwrap_or_else(|| panic!("no 'Leak' line: {ran}"));
    assert!(pool.contains("2 blocks"), "{pool}");
    assert!(!ran.stdout.contains("nothing leaked"), "{ran}");
    let failures = ran.failure_lines();
    assert_eq!(failures.len(), 1, "{ran}");
    assert!(failures[0].contains("leaked"), "{ran}");
}

#[test]
fn a_failing_driver_entry_is_named_and_not_unloaded() {
    let (_dir, so) = driver("failing", "failing");
    let ran = wsk_run(&wsk(), &["run", path_arg(&so), "--seconds", "0"]);
    ran.assert_code(EXIT_DRIVER_ENTRY_FAILED);
    let failures = ran.failure_lines();
    assert_eq!(failures, ["wsk: DriverEntry failed: 0xC000009A (STATUS_INSUFFICIENT_RESOURCES)"], "{ran}");
    assert!(!ran.stdout.contains("must not run") && !ran.stderr.contains("must not run"), "{ran}");
    assert!(!ran.stdout.contains("DriverUnload returned"), "{ran}");
}

#[test]
fn an_unload_that_hangs_is_given_up_on() {
    let (_dir, so) = driver("hang", "hang");
    let started = Instant::now();
    let ran = wsk_run(&wsk(), &["run", path_arg(&so), "--seconds", "0", "--unload-timeout", "1"]);
    ran.assert_code(EXIT_HUNG);
    let failures = ran.failure_lines();
    assert_eq!(failures.len(), 1, "{ran}");
    assert!(failures[0].contains("DriverUnload did not return within 1 s"), "{ran}");
    assert!(failures[0].contains("unload hangs"), "{ran}");
    assert!(started.elapsed() < RUN_TIMEOUT, "took {:?}", started.elapsed());
}

#[test]
fn missing_routines_are_all_named_before_loading() {
    let (_dir, so) = driver("missing", "missing");
    let ran = wsk_run(&wsk(), &["run", path_arg(&so), "--seconds", "0"]);
    ran.assert_code(EXIT_CANNOT_LOAD);
    let failures = ran.failure_lines();
    assert_eq!(failures.len(), 1, "{ran}");
    assert!(failures[0].contains("needs routines wsk does not provide"), "{ran}");
    assert!(failures[0].contains("ZwCreateFile"), "{ran}");
    assert!(failures[0].contains("WskTestNotARoutine"), "{ran}");
    assert!(!ran.stdout.contains("DriverEntry returned"), "{ran}");
}

#[test]
fn what_cannot_be_loaded_is_one_line() {
    let dir = WorkDir::new("unloadable");
    let text = dir.join("notes.so");
    std::fs::write(&text, "not a driver\n").expect("write a text file");
    let no_entry = dir.join("no-entry.so");
    let source = dir.join("no-entry.c");
    std::fs::write(&source, "int NotDriverEntry(void) { return 0; }\n").expect("write C");
    let ran = Ran::of(run_bounded(
        {
            let mut cmd = Command::new("gcc");
            cmd.args(["-shared", "-fPIC"]).arg(&source).arg("-o").arg(&no_entry);
            cmd
        },
        RUN_TIMEOUT,
    ));
    ran.assert_code(0);

    let missing = dir.join("missing.so");
    for (path, expected) in [
        (missing.as_path(), "no such file"),
        (text.as_path(), "is not an ELF shared object"),
        (no_entry.as_path(), "has no DriverEntry symbol"),
    ] {
        let ran = wsk_run(&wsk(), &["run", path_arg(path)]);
        ran.assert_code(EXIT_CANNOT_LOAD);
        let failures = ran.failure_lines();
        assert_eq!(failures.len(), 1, "{ran}");
        assert!(failures[0].contains(expected), "{expected}: {ran}");
    }
}

#[test]
fn a_missing_libwsk_is_explained() {
    let dir = WorkDir::new("no-libwsk");
    let lonely = dir.join("wsk");
    std::fs::copy(wsk(), &lonely).expect("copy the wsk binary");
    let ran = wsk_run(&lonely, &["run", "driver.so"]);
    ran.assert_code(EXIT_CANNOT_LOAD);
    let failures = ran.failure_lines();
    assert_eq!(failures.len(), 1, "{ran}");
    assert!(failures[0].contains("libwsk.so not found"), "{ran}");
    assert!(failures[0].contains("cargo build --release"), "{ran}");
}

/// Sends each line read from `source` until it closes.
fn lines_of(source: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(source).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A `wsk run` in progress whose output is read line by line; killed if the test fails
/// before it was reaped.
struct Started {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    seen: Vec<String>,
    deadline: Instant,
}

impl Started {
    fn new(args: &[&str]) -> Started {
        let mut cmd = wsk_command(&wsk(), args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start wsk run");
        let stdout = lines_of(child.stdout.take().expect("piped stdout"));
        let stderr = lines_of(child.stderr.take().expect("piped stderr"));
        Started { child, stdout, stderr, seen: Vec::new(), deadline: Instant::now() + RUN_TIMEOUT }
    }

    /// Waits for a stdout line containing `text`.
    fn wait_for(&mut self, text: &str) {
        loop {
            match self.stdout.recv_timeout(self.deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    let found = line.contains(text);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(e) => {
                    let stderr: Vec<String> = self.stderr.try_iter().collect();
                    panic!("no line with {text:?} ({e:?}); stdout {:?}, stderr {stderr:?}", self.seen)
                }
            }
        }
    }

    /// Sends SIGINT (what Ctrl-C sends).
    fn interrupt(&self) {
        let kill = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status().expect("run kill(1)");
        assert!(kill.success(), "kill -INT failed");
    }

    /// Waits for the exit: the status, all of stdout, all of stderr.
    fn finish(mut self) -> Ran {
        loop {
            match self.stdout.recv_timeout(self.deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("wsk did not exit in time; stdout {:?}", self.seen),
            }
        }
        // stdout closed: the process is exiting; stderr closes with it.
        let mut stderr = Vec::new();
        loop {
            match self.stderr.recv_timeout(self.deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => stderr.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("wsk did not close stderr in time"),
            }
        }
        let status = self.child.wait().expect("wait for wsk");
        let join = |lines: &[String]| lines.iter().map(|l| format!("{l}\n")).collect::<String>();
        Ran { code: status.code(), stdout: join(&self.seen), stderr: join(&stderr) }
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        // A no-op once the process was reaped.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sigint_unloads_the_driver_cleanly() {
    let (_dir, so) = driver("clean", "sigint");
    let mut started = Started::new(&["run", path_arg(&so)]);
    // The Ctrl-C handler is installed before the driver runs.
    started.wait_for("running until Ctrl-C");
    started.interrupt();
    let ran = started.finish();
    ran.assert_code(0);
    assert!(ran.stdout.contains("stop requested"), "{ran}");
    assert!(ran.stdout.contains("DriverUnload returned"), "{ran}");
    assert!(ran.stdout.contains("nothing leaked"), "{ran}");
    assert!(ran.failure_lines().is_empty(), "{ran}");
}

#[test]
fn a_driver_entry_that_hangs_is_given_up_on_after_ctrl_c() {
    let (_dir, so) = driver("entry_hang", "entry-hang");
    let mut started = Started::new(&["run", path_arg(&so), "--unload-timeout", "1"]);
    started.wait_for("calling DriverEntry");
    started.interrupt();
    let ran = started.finish();
    ran.assert_code(EXIT_HUNG);
    let failures = ran.failure_lines();
    assert_eq!(failures.len(), 1, "{ran}");
    assert!(failures[0].contains("DriverEntry did not return within 1 s"), "{ran}");
}

#[test]
fn cflags_libs_and_pkg_config_build_drivers() {
    let dir = WorkDir::new("flags");
    let cflags = flags_of(&wsk(), "cflags");
    let libs = flags_of(&wsk(), "libs");
    let include = cflags[0].strip_prefix("-I").expect("-I first");
    assert!(Path::new(include).join("wsk.h").is_file(), "{cflags:?}");
    assert_eq!(&cflags[1..], ["-fshort-wchar", "-Wno-multichar"]);
    let libdir = libwsk_dir().canonicalize().expect("libdir").display().to_string();
    assert_eq!(libs, [format!("-L{libdir}"), format!("-Wl,-rpath,{libdir}"), "-lwsk".to_string()]);

    // A driver linked with -lwsk runs against the libwsk `wsk` loaded (one copy).
    let flags: Vec<String> = cflags.iter().chain(&libs).cloned().collect();
    let linked = compile("clean", &dir, "clean-linked.so", &flags);
    let ran = wsk_run(&wsk(), &["run", path_arg(&linked), "--seconds", "0"]);
    ran.assert_code(0);
    assert!(ran.stdout.contains("nothing leaked"), "{ran}");

    let pc = profile_dir().join("wsk.pc");
    assert!(pc.is_file(), "no wsk.pc next to libwsk.so in {}", profile_dir().display());
    let Some(pkg_flags) = pkg_config(&profile_dir()) else { return };
    assert!(pkg_flags.contains(&format!("-I{include}")), "{pkg_flags:?}");
    assert!(pkg_flags.iter().any(|f| f == "-lwsk"), "{pkg_flags:?}");
    let built = compile("clean", &dir, "clean-pc.so", &pkg_flags);
    let ran = wsk_run(&wsk(), &["run", path_arg(&built), "--seconds", "0"]);
    ran.assert_code(0);
}

/// `pkg-config --cflags --libs wsk` with `dir` on PKG_CONFIG_PATH; None (with a note) if
/// pkg-config is not installed.
fn pkg_config(dir: &Path) -> Option<Vec<String>> {
    let mut cmd = Command::new("pkg-config");
    cmd.args(["--cflags", "--libs", "wsk"]).env("PKG_CONFIG_PATH", dir);
    match try_run_bounded(cmd, RUN_TIMEOUT) {
        Ok(output) => {
            let ran = Ran::of(output);
            ran.assert_code(0);
            Some(ran.stdout.split_whitespace().map(str::to_string).collect())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("note: pkg-config is not installed: the wsk.pc checks are skipped (apt-get install pkg-config)");
            None
        }
        Err(e) => panic!("cannot run pkg-config: {e}"),
    }
}

#[test]
fn an_installed_tree_builds_and_runs_drivers() {
    let dir = WorkDir::new("install");
    let prefix = dir.join("prefix");
    let ran = wsk_run(&wsk(), &["install", "--prefix", path_arg(&prefix)]);
    ran.assert_code(0);
    for file in
        ["bin/wsk", "lib/libwsk.so", "lib/libwsk.a", "lib/pkgconfig/wsk.pc", "include/wsk/wsk.h", "include/wsk/ntddk.h"]
    {
        assert!(prefix.join(file).is_file(), "{file} not installed: {ran}");
    }
    let installed = prefix.join("bin/wsk");
    let include = prefix.join("include/wsk").display().to_string();
    let libdir = prefix.join("lib").display().to_string();
    assert_eq!(
        flags_of(&installed, "cflags"),
        [format!("-I{include}"), "-fshort-wchar".into(), "-Wno-multichar".into()]
    );
    assert_eq!(flags_of(&installed, "libs")[0], format!("-L{libdir}"));

    let flags = match pkg_config(&prefix.join("lib/pkgconfig")) {
        Some(flags) => {
            assert!(flags.contains(&format!("-I{include}")), "{flags:?}");
            assert!(flags.contains(&format!("-L{libdir}")), "{flags:?}");
            flags
        }
        None => flags_of(&installed, "cflags").into_iter().chain(flags_of(&installed, "libs")).collect(),
    };
    let so = compile("clean", &dir, "clean-installed.so", &flags);
    let ran = wsk_run(&installed, &["run", path_arg(&so), "--seconds", "0"]);
    ran.assert_code(0);
    assert!(ran.stdout.contains("nothing leaked"), "{ran}");

    // Installing again over the same tree works (files are replaced, not truncated).
    let ran = wsk_run(&installed, &["install", "--prefix", path_arg(&prefix)]);
    ran.assert_code(0);
}
