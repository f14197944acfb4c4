//! `wsk`: the command-line face of the user-space Winsock Kernel provider.
//!
//! - `wsk demo` runs an event-driven echo server and many verifying clients through
//!   it, all on the WSK API, then a UDP round (the UDP echo server and datagram clients
//!   verifying every echo), and prints a summary.
//! - `wsk echo --listen ADDR` runs the same echo server in the foreground until Ctrl-C
//!   (or SIGTERM, or `--seconds N`); with `--udp` it echoes datagrams instead, with
//!   `WskReceiveFromEvent` and `WskSendTo`, zero-copy (see [`udp_echo`]).
//! - `wsk run DRIVER.so` loads a Windows driver rebuilt for Linux, runs it until Ctrl-C or
//!   `--seconds N`, unloads it and reports what it leaked (see [`run`]).
//! - `wsk cflags` / `wsk libs` print the compiler and linker flags for driver code;
//!   `wsk install --prefix DIR` installs the executable, libwsk, the headers and `wsk.pc`.
//!
//! Every failure ends with exactly one line on stderr, `wsk: ...`, and a non-zero exit
//! status: 2 for a usage error, 1 for anything else (`wsk run` has more: see
//! [`run::EXIT_CODES`]).
//!
//! `WSK_LOG` turns on the provider's diagnostics on stderr, with `tracing` filter syntax
//! (e.g. `WSK_LOG=debug`, `WSK_LOG=wsk=trace`). Unset, nothing is logged.
// Only `run` (which opens libwsk and calls into it) allows unsafe code.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod demo;
mod echo;
mod echo_server;
mod pattern;
mod run;
mod udp_echo;
mod udp_round;

use std::fmt;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "wsk", version, about = "The Windows Winsock Kernel (WSK) provider in user space")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start an echo server, push verified data through it from many clients, print a summary
    Demo(DemoArgs),
    /// Run the event-driven echo server (TCP, or UDP with --udp) in the foreground until Ctrl-C or --seconds
    Echo(EchoArgs),
    /// Load a driver (.so exporting DriverEntry), run it until Ctrl-C or --seconds, unload it, report leaks
    #[command(after_help = run::EXIT_CODES)]
    Run(run::RunArgs),
    /// Print the compiler flags for driver code: -I<headers> -fshort-wchar -Wno-multichar
    Cflags,
    /// Print the linker flags for libwsk: -L<dir> -Wl,-rpath,<dir> -lwsk
    Libs,
    /// Install wsk, libwsk.so, libwsk.a, the headers and wsk.pc (pkg-config) under a prefix
    Install(run::InstallArgs),
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Client connections to run
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = parse_count)]
    connections: u64,
    /// Bytes each connection sends and verifies (suffixes K, M, G, KiB, MiB, GiB are powers of 1024)
    #[arg(long, value_name = "B", default_value = "1MiB", value_parser = parse_size)]
    bytes_per_connection: u64,
    /// Connections running at once
    #[arg(long, value_name = "C", default_value_t = 16, value_parser = parse_count)]
    concurrency: u64,
    /// UDP client sockets of the UDP round, each on its own thread
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = parse_count)]
    udp_clients: u64,
    /// Datagrams each UDP client sends and verifies (8 bytes to 16 KiB each)
    #[arg(long, value_name = "M", default_value_t = 256, value_parser = parse_count)]
    datagrams_per_client: u64,
    /// Do not draw a progress bar (none is drawn when stderr is not a terminal)
    #[arg(long)]
    no_progress: bool,
}

#[derive(Debug, Args)]
struct EchoArgs {
    /// Address to listen on, e.g. 127.0.0.1:7000, [::1]:7000, or [::]:7000 for IPv6 and IPv4
    #[arg(long, value_name = "ADDR", value_parser = parse_addr)]
    listen: SocketAddr,
    /// Echo UDP datagrams (WskReceiveFromEvent and WskSendTo) instead of TCP connections
    #[arg(long)]
    udp: bool,
    /// Stop after N seconds (e.g. 10 or 0.5) instead of at Ctrl-C
    #[arg(long, value_name = "N", value_parser = run::parse_seconds)]
    seconds: Option<f64>,
}

/// A failed command: the one line to print and the exit status.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// A usage error (exit status 2).
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure { code: 2, message: message.into() }
    }

    /// Any other failure (exit status 1).
    pub fn runtime(message: impl Into<String>) -> Failure {
        Failure { code: 1, message: message.into() }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Sends the provider's `tracing` diagnostics to stderr when `WSK_LOG` asks for them.
fn init_logging() {
    let Ok(filter) = std::env::var("WSK_LOG") else { return };
    match tracing_subscriber::EnvFilter::try_new(&filter) {
        Ok(filter) => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init()
        }
        Err(e) => eprintln!("wsk: ignoring WSK_LOG={filter:?}: {e}"),
    }
}

fn main() -> ExitCode {
    install_panic_hook();
    init_logging();
    let outcome = parse_args().and_then(|cli| match cli.map(|cli| cli.command) {
        None => Ok(()),
        Some(Command::Demo(args)) => demo(&args),
        Some(Command::Echo(args)) => echo::run(&args),
        Some(Command::Run(args)) => run::run(&args),
        Some(Command::Cflags) => run::print_flags(run::cflags()),
        Some(Command::Libs) => run::print_flags(run::libs()),
        Some(Command::Install(args)) => run::install(&args),
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // An empty message: `wsk run` already said what happened.
            if !failure.message.is_empty() {
                eprintln!("wsk: {failure}");
            }
            ExitCode::from(failure.code)
        }
    }
}

/// Parses the command line; errors become one line. `None`: help or version was
/// asked for and printed (to stdout).
fn parse_args() -> Result<Option<Cli>, Failure> {
    match Cli::try_parse() {
        Ok(cli) => Ok(Some(cli)),
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            Ok(None)
        }
        Err(e) if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            Err(Failure::usage("a command is required: demo, echo, run, cflags, libs or install (see 'wsk --help')"))
        }
        Err(e) => {
            // Clap's message is a paragraph (e.g. the list of missing arguments on the
            // lines after the first); the one-line form joins it and drops the usage.
            let text = e.to_string();
            let paragraph: Vec<&str> = text.lines().map(str::trim).take_while(|line| !line.is_empty()).collect();
            let joined = paragraph.join(" ");
            let message = joined.strip_prefix("error: ").unwrap_or(&joined);
            Err(Failure::usage(format!("{message} (see 'wsk --help')")))
        }
    }
}

/// `wsk demo`.
fn demo(args: &DemoArgs) -> Result<(), Failure> {
    let options = demo::Options {
        connections: args.connections,
        bytes_per_connection: args.bytes_per_connection,
        concurrency: args.concurrency,
        progress: !args.no_progress,
        udp: udp_round::Options { clients: args.udp_clients, datagrams: args.datagrams_per_client },
    };
    let report = demo::run(&options)?;
    print_table(&[
        ("connections", format!("{} ({} verified)", report.connections, report.connections_ok)),
        ("bytes echoed", describe_bytes(report.bytes_verified)),
        ("elapsed", format!("{:.3} s", report.elapsed.as_secs_f64())),
        ("throughput", format!("{:.1} MiB/s", report.throughput_mib_s())),
        ("udp echo", describe_udp_round(&report.udp, report.udp_server.host_drops)),
        ("errors", report.errors().to_string()),
    ]);
    if report.passed() {
        return Ok(());
    }
    let reason = if !report.tcp_passed() {
        match &report.first_failure {
            Some(first) => {
                format!("{} of {} connections failed; first: {first}", report.client_failures, report.connections)
            }
            None if report.server.errors > 0 => format!("the echo server counted {} errors", report.server.errors),
            None => format!("{} of {} bytes came back verified", report.bytes_verified, report.bytes_expected),
        }
    } else {
        let udp = &report.udp;
        match &udp.first_failure {
            Some(first) => {
                format!("{} of {} UDP clients failed; first: {first}", udp.client_failures, options.udp.clients)
            }
            None if report.udp_server.errors > 0 => {
                format!("the UDP echo server counted {} errors", report.udp_server.errors)
            }
            None => format!(
                "{} of {} datagrams came back verified ({} lost after {} sends each)",
                udp.verified,
                udp.expected,
                udp.lost,
                udp_round::TRIES
            ),
        }
    };
    Err(Failure::runtime(reason))
}

/// The UDP round in one line: `2048 datagrams (2048 verified, 0 lost), 2.3 MiB (...) in
/// 0.040 s: 51200 datagrams/s, 57.5 MiB/s`, with retransmissions, duplicates and host
/// drops added when there were any.
fn describe_udp_round(udp: &udp_round::Report, host_drops: u64) -> String {
    let mut counts = format!("{} verified, {} lost", udp.verified, udp.lost);
    for (n, what) in [(udp.retransmitted, "sent again"), (udp.duplicates, "duplicates"), (host_drops, "host drops")] {
        if n > 0 {
            counts.push_str(&format!(", {n} {what}"));
        }
    }
    format!(
        "{} datagrams ({counts}), {} in {:.3} s: {:.0} datagrams/s, {:.1} MiB/s",
        udp.expected,
        describe_bytes(udp.bytes_verified),
        udp.elapsed.as_secs_f64(),
        udp.datagrams_per_second(),
        udp.mib_per_second()
    )
}

/// Prints `label  value` rows, labels padded to one column.
fn print_table(rows: &[(&str, String)]) {
    let width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
    let mut stdout = std::io::stdout().lock();
    for (label, value) in rows {
        // A closed stdout (e.g. piped into `head`) is not worth a second error line.
        let _ = writeln!(stdout, "{label:<width$}  {value}");
    }
    let _ = stdout.flush();
}

/// `67108864` → `64.0 MiB (67108864 bytes)`.
fn describe_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {} ({bytes} bytes)", UNITS[unit])
}

/// Parses a socket address, with an example in the error.
fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| "expected IP:PORT, e.g. 127.0.0.1:7000 or [::1]:7000".to_string())
}

/// Parses a count of at least 1.
fn parse_count(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err("expected a whole number".to_string()),
    }
}

/// Parses a byte count: digits with an optional binary suffix (`64K`, `1MiB`, `2G`).
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, suffix) = text.split_at(digits);
    let number: u64 = number.parse().map_err(|_| "expected a byte count such as 65536, 64K or 1MiB".to_string())?;
    let suffix = suffix.trim();
    let shift = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        _ => return Err(format!("unknown size suffix '{suffix}' (use K, M, G, KiB, MiB or GiB)")),
    };
    number.checked_mul(1 << shift).ok_or_else(|| "the byte count is too large".to_string())
}

/// Turns a panic into one line on stderr (no backtrace): a bug, reported plainly.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("unknown panic");
        let first = message.lines().next().unwrap_or_default();
        match info.location() {
            Some(at) => eprintln!("wsk: internal error: {first} (at {}:{})", at.file(), at.line()),
            None => eprintln!("wsk: internal error: {first}"),
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("1 parsec").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
        assert!(parse_size("17179869184G").is_err());
    }

    #[test]
    fn counts_start_at_one() {
        assert_eq!(parse_count("16"), Ok(16));
        assert!(parse_count("0").is_err());
        assert!(parse_count("-1").is_err());
    }

    #[test]
    fn bytes_are_described_in_binary_units() {
        assert_eq!(describe_bytes(0), "0 bytes");
        assert_eq!(describe_bytes(67_108_864), "64.0 MiB (67108864 bytes)");
        assert_eq!(describe_bytes(1536), "1.5 KiB (1536 bytes)");
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
