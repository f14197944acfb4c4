//! Drivers under test: the C examples (`examples/c/`) and test drivers built as shared
//! objects for `wsk run`, or linked into drvhost (`tests/c/drvhost.c`) with
//! AddressSanitizer; [`Driver`] runs either and follows its output.

use std::io::Write;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use super::{CBuild, Spawned};

/// How long a driver may take to print an expected line (ASan, a shared 2-core machine).
pub const LINE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a driver may take to unload and exit.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(60);

/// `examples/c/`.
pub fn examples_dir() -> PathBuf {
    super::repo().join("examples/c")
}

/// The `wsk` command (built once per test binary, same profile as the test).
pub fn wsk_exe() -> PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let dir = super::libwsk_dir();
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "-p", "wsk-cli"]).current_dir(super::repo());
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        assert!(cmd.status().expect("run cargo").success(), "building wsk failed");
        dir.join("wsk")
    })
    .clone()
}

/// A driver as `wsk run` loads it: a shared object of `examples/c/` sources, built as
/// examples/c/README.md says (`-Wall -Wextra -Werror`: the examples are meant to build clean).
pub fn driver_so(name: &str, sources: &[&str]) -> PathBuf {
    test_driver_so(name, &sources.iter().map(|s| examples_dir().join(s)).collect::<Vec<_>>())
}

/// A driver shared object of any sources (relative ones in `tests/c/`).
pub fn test_driver_so(name: &str, sources: &[PathBuf]) -> PathBuf {
    CBuild {
        shared: true,
        link_libwsk: false,
        flags: super::warning_flags(),
        sources: sources.to_vec(),
        ..CBuild::new(name, &[])
    }
    .build()
}

/// drvhost linked with `examples/c/` sources, with AddressSanitizer and UBSan.
pub fn drvhost_with(name: &str, sources: &[&str]) -> PathBuf {
    let mut all = vec![PathBuf::from("drvhost.c")];
    all.extend(sources.iter().map(|s| examples_dir().join(s)));
    CBuild { asan: true, flags: super::warning_flags(), sources: all, ..CBuild::new(name, &[]) }.build()
}

/// A driver running in drvhost or under `wsk run`: a [`Spawned`] with its stdin piped
/// (for drvhost's "unload"), waiting [`LINE_TIMEOUT`] for each line.
pub struct Driver(Spawned);

impl Deref for Driver {
    type Target = Spawned;

    fn deref(&self) -> &Spawned {
        &self.0
    }
}

impl Driver {
    /// Starts drvhost (`exe`: drvhost linked with a driver).
    pub fn start(name: &'static str, exe: &Path, env: &[(&str, String)]) -> Driver {
        Driver::spawn(name, Command::new(exe), env)
    }

    /// Starts `wsk run DRIVER.so` (until Ctrl-C).
    pub fn wsk_run(name: &'static str, driver: &Path, env: &[(&str, String)]) -> Driver {
        let mut cmd = Command::new(wsk_exe());
        cmd.arg("run").arg(driver);
        Driver::spawn(name, cmd, env)
    }

    fn spawn(name: &'static str, mut cmd: Command, env: &[(&str, String)]) -> Driver {
        cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str()))).stdin(Stdio::piped());
        Driver(Spawned::spawn(name, cmd, None, LINE_TIMEOUT))
    }

    /// Tells drvhost to unload the driver; waits for the exit (killing the process after
    /// [`EXIT_TIMEOUT`]). Returns the exit status and the whole output.
    pub fn unload(mut self) -> (ExitStatus, String) {
        if let Some(mut stdin) = self.0.take_stdin() {
            let _ = stdin.write_all(b"unload\n");
        }
        self.0.finish(EXIT_TIMEOUT)
    }

    /// Ctrl-C for `wsk run`: it unloads the driver and prints the leak report. Waits for
    /// the exit as [`Driver::unload`] does.
    pub fn interrupt(self) -> (ExitStatus, String) {
        // Through the command line tool, as `try_run_bounded` kills: no unsafe here. The
        // child has not been waited for, so the pid is still its own.
        let status = Command::new("kill").args(["-INT", &self.id().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill -INT {}: {status}", self.id());
        self.0.finish(EXIT_TIMEOUT)
    }

    /// The port of "`program`: listening on port N" (a drvhost that failed DriverEntry ends
    /// the wait at once).
    pub fn listening_port(&self, program: &str) -> u16 {
        let needle = format!("{program}: listening on port");
        let line = self.wait_for(&[&needle, "drvhost: DriverEntry returned 0xC", "DriverEntry returned 0xC"]);
        let port = line.rsplit(' ').next().and_then(|p| p.trim().parse::<u16>().ok());
        match port {
            Some(port) if port != 0 && line.contains(&needle) => port,
            _ => panic!("{program} did not start: {line:?}; output:\n{}", self.output()),
        }
    }
}
