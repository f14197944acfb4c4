//! Shared by the C-ABI tests: builds libwsk once, compiles C/C++ test programs against
//! `include/` and the library, runs them with a time bound, and follows the output of
//! long-running ones ([`Spawned`]).
#![allow(dead_code)]

pub mod drivers;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

/// `include/`: the Windows-named headers.
pub fn include_dir() -> PathBuf {
    repo().join("include")
}

/// `crates/wsk-ffi/tests/c/`: the C sources of the tests.
pub fn c_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c")
}

/// The profile directory this test runs from (`target/debug` or `target/release`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>").to_path_buf()
}

/// Builds libwsk (`cargo build -p wsk-ffi`, same profile as the test) once per test
/// binary; returns the directory holding `libwsk.so` and `libwsk.a`.
///
/// `cargo test` builds no cdylib for integration tests, so the test asks cargo for it;
/// the nested build shares the target directory and is a no-op when up to date.
pub fn libwsk_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = profile_dir();
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "-p", "wsk-ffi", "--lib"]);
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        cmd.current_dir(repo());
        let status = cmd.status().expect("run cargo");
        assert!(status.success(), "building libwsk failed");
        assert!(dir.join("libwsk.so").exists(), "no libwsk.so in {}", dir.display());
        dir
    })
    .clone()
}

/// The `wsk cflags` of a development tree: where the headers are and the two flags
/// Windows code needs from gcc (16-bit `wchar_t` for `L"..."`, pool tags like 'kseW').
pub fn cflags() -> Vec<String> {
    vec![
        format!("-I{}", include_dir().display()),
        "-fshort-wchar".into(),
        "-Wno-multichar".into(),
        "-g".into(),
        "-fno-omit-frame-pointer".into(),
    ]
}

/// `-Wall -Wextra -Werror`.
pub fn warning_flags() -> Vec<String> {
    vec!["-Wall".into(), "-Wextra".into(), "-Werror".into()]
}

/// What to build.
#[derive(Clone, Debug, Default)]
pub struct CBuild {
    /// Output name (under `target/<profile>/ctests/`).
    pub name: String,
    /// Sources, relative to `tests/c/` unless absolute.
    pub sources: Vec<PathBuf>,
    /// Compile as C++ (g++).
    pub cxx: bool,
    /// A shared object (a driver for `wsk run`) instead of an executable.
    pub shared: bool,
    /// Build with AddressSanitizer (executables only).
    pub asan: bool,
    /// Link against libwsk.so (`-lwsk`, with an rpath).
    pub link_libwsk: bool,
    /// More flags (e.g. `-Wall -Wextra -Werror`, `-DNAME=...`).
    pub flags: Vec<String>,
}

impl CBuild {
    pub fn new(name: &str, sources: &[&str]) -> CBuild {
        CBuild {
            name: name.into(),
            sources: sources.iter().map(PathBuf::from).collect(),
            link_libwsk: true,
            ..CBuild::default()
        }
    }

    /// [`CBuild::new`] with AddressSanitizer and UBSan, and warnings as errors
    /// (`-Wall -Wextra -Werror`): how the C test programs are built.
    pub fn strict_asan(name: &str, sources: &[&str]) -> CBuild {
        CBuild { asan: true, flags: warning_flags(), ..CBuild::new(name, sources) }
    }

    /// Compiles and links; panics with the compiler's output on failure.
    pub fn build(&self) -> PathBuf {
        let out_dir = profile_dir().join("ctests");
        std::fs::create_dir_all(&out_dir).expect("ctests dir");
        let ext = if self.shared { ".so" } else { "" };
        let out = out_dir.join(format!("{}{}", self.name, ext));
        let mut cmd = Command::new(if self.cxx { "g++" } else { "gcc" });
        cmd.args(cflags());
        if self.shared {
            cmd.args(["-shared", "-fPIC"]);
        }
        if self.asan {
            cmd.args(["-fsanitize=address", "-fsanitize=undefined"]);
        }
        cmd.args(&self.flags);
        for s in &self.sources {
            cmd.arg(if s.is_absolute() { s.clone() } else { c_dir().join(s) });
        }
        cmd.arg("-o").arg(&out);
        if self.link_libwsk {
            let lib = libwsk_dir();
            cmd.arg(format!("-L{}", lib.display()));
            cmd.arg(format!("-Wl,-rpath,{}", lib.display()));
            cmd.arg("-lwsk");
        }
        cmd.arg("-lpthread");
        let output = cmd.output().expect("run the C compiler");
        assert!(
            output.status.success(),
            "compiling {} failed:\n{:?}\n{}{}",
            self.name,
            cmd,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        out
    }
}

/// Runs `cmd` to completion, or kills it after `limit` and panics; the error if it
/// cannot be started. Sanitized programs stop at their first error (LeakSanitizer off:
/// libwsk keeps process-wide pools); the settings do nothing to other programs.
pub fn try_run_bounded(mut cmd: Command, limit: Duration) -> std::io::Result<Output> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.env("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0:halt_on_error=1");
    cmd.env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1");
    let child = cmd.spawn()?;
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let start = Instant::now();
    match rx.recv_timeout(limit) {
        Ok(out) => out,
        Err(_) => {
            // Killed through the command line tool to keep this file free of unsafe.
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("{:?} did not finish within {:?} (killed after {:?})", cmd, limit, start.elapsed());
        }
    }
}

/// [`try_run_bounded`] for a command that must start.
pub fn run_bounded(cmd: Command, limit: Duration) -> Output {
    let shown = format!("{cmd:?}");
    try_run_bounded(cmd, limit).unwrap_or_else(|e| panic!("cannot run {shown}: {e}"))
}

/// Runs a test program and asserts it exited 0; returns its stdout.
pub fn run_ok(exe: &Path, args: &[&str], limit: Duration) -> String {
    let mut cmd = Command::new(exe);
    cmd.args(args);
    let out = run_bounded(cmd, limit);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} {:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        exe.display(),
        args,
        out.status,
        stdout,
        stderr
    );
    stdout
}

/// A running child process whose stdout and stderr lines arrive, merged, on one channel
/// (and are kept for failure messages). Dropping it kills the process.
pub struct Spawned {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    log: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
    fail_marker: Option<String>,
    timeout: Duration,
}

impl Spawned {
    /// Starts `cmd` with stdout and stderr piped and the sanitizer settings of
    /// [`try_run_bounded`] (stdin as `cmd` sets it). `name` prefixes the panic messages;
    /// a line containing `fail_marker` makes a wait fail at once; `timeout` bounds each
    /// wait for a line.
    pub fn spawn(name: &str, mut cmd: Command, fail_marker: Option<&str>, timeout: Duration) -> Spawned {
        cmd.env("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0:halt_on_error=1")
            .env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{name}: cannot start {cmd:?}: {e}"));
        let (tx, lines) = channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let streams: [Box<dyn Read + Send>; 2] =
            [Box::new(child.stdout.take().expect("stdout")), Box::new(child.stderr.take().expect("stderr"))];
        let readers = streams
            .into_iter()
            .map(|stream| {
                let (tx, log) = (tx.clone(), Arc::clone(&log));
                thread::spawn(move || {
                    for line in BufReader::new(stream).lines() {
                        let Ok(line) = line else { break };
                        log.lock().unwrap_or_else(PoisonError::into_inner).push(line.clone());
                        let _ = tx.send(line);
                    }
                })
            })
            .collect();
        let stdin = child.stdin.take();
        Spawned {
            name: name.into(),
            child,
            stdin,
            lines,
            log,
            readers,
            fail_marker: fail_marker.map(Into::into),
            timeout,
        }
    }

    /// The name given to [`Spawned::spawn`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child's stdin, if `cmd` piped it (once).
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.stdin.take()
    }

    /// The exit status, if the process has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Everything the process printed so far.
    pub fn output(&self) -> String {
        self.log.lock().unwrap_or_else(PoisonError::into_inner).join("\n")
    }

    /// The first line (from now on) that contains one of `needles`; panics at a line with
    /// the failure marker, at exit, or after the timeout.
    pub fn wait_for(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) if needles.iter().any(|n| line.contains(n)) => return line,
                Ok(line) if self.fail_marker.as_ref().is_some_and(|m| line.contains(m.as_str())) => {
                    panic!("{}: {line} (waiting for {needles:?})\noutput:\n{}", self.name, self.output())
                }
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "{}: no line with {needles:?} within {:?}; output:\n{}",
                        self.name,
                        self.timeout,
                        self.output()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("{}: exited without a line with {needles:?}; output:\n{}", self.name, self.output())
                }
            }
        }
    }

    /// [`Spawned::wait_for`] one needle.
    pub fn expect(&self, needle: &str) -> String {
        self.wait_for(&[needle])
    }

    /// Waits for the exit (killing the process and panicking after `limit`); returns the
    /// exit status and the whole output.
    pub fn finish(mut self, limit: Duration) -> (ExitStatus, String) {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.try_wait() {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("{}: did not exit within {limit:?}; output:\n{}", self.name, self.output());
            }
            thread::sleep(Duration::from_millis(10));
        };
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        (status, self.output())
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
