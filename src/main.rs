//! The `hive` binary: parses arguments, reads the environment, locks the state directory, runs a subcommand, and
//! maps errors to exit codes.
//!
//! Exit codes: 0 success (a signal's graceful shutdown included, and a reader that closed stdout early, as
//! `hive ... | head -1` does), 1 runtime error, 2 usage or configuration error (clap's, or a
//! [`UsageError`](config::UsageError): a bad variable, flag or state directory, another hive on the same state
//! directory), 3 findings (a [`Findings`](findings::Findings): `hive emergency-scan` found an emergency, or what
//! `--fail-on unhealthy|emergency` names was found), 130 when a second signal cut the shutdown short.

mod api;
mod approve_cmd;
mod audit_cmd;
mod backlog_cmd;
mod change_cmd;
mod cli;
mod client;
mod cluster;
mod config;
mod demo;
mod ecosystem_cmd;
mod findings;
mod lifecycle;
mod resolve;
mod run_cmd;
mod scan_cmd;
mod settings;
mod single_cmd;
mod spawn_cmd;
mod sync_cmd;
mod terminal;
mod validate_cmd;

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    process::ExitCode,
};

use clap::{CommandFactory, FromArgMatches};
use tracing_subscriber::EnvFilter;

use crate::{
    cli::{Cli, Command},
    config::{EnvConfig, UsageError},
    findings::{EXIT_FINDINGS, Findings},
    lifecycle::{Shutdown, StateLock},
};

/// The exit code of a usage or configuration error, as clap uses it.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    match run(cli, &matches) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of stdout went away (`| head -1`): what it wanted, it has.
        Err(err) if terminal::is_closed_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the whole context chain on one line: "hive: outer: inner". Errors quote outside text
            // (names, URLs, git's messages), so the chain is cleaned and redacted like any other.
            eprintln!("hive: {}", terminal::text(&format!("{err:#}")));
            if UsageError::is_usage(&err) {
                ExitCode::from(EXIT_USAGE)
            } else if Findings::is_findings(&err) {
                ExitCode::from(EXIT_FINDINGS)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(mut cli: Cli, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    let mut env = EnvConfig::from_env()?;
    // The configuration file, under the environment and the flags, into `cli` and `env`: every command below sees
    // one resolved configuration.
    let resolved = settings::resolve(&mut cli, &mut env, matches, &|key| std::env::var(key).ok())?;
    terminal::add_secrets(resolved.secrets.iter().map(|secret| secret.expose().to_owned()).collect());
    init_logging(cli.verbose, env.log_level.as_deref());
    quiet_injected_panics();
    // Held until the process ends; taken before anything is read or sent, so two hives never share a state
    // directory's database, exports and caches (nor race its first migration).
    let _lock = cli.command.writes_state().then(|| StateLock::acquire(&cli.state_dir)).transpose()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let dispatch = async {
        match &cli.command {
            Command::Demo(args) => demo::run(args, &env, &cli.state_dir, cli.json, &Shutdown::listen()?).await,
            Command::Run(args) => run_cmd::run(args, &env, &cli.state_dir, cli.json, &Shutdown::listen()?).await,
            Command::Serve(args) => run_cmd::serve(args, &env, &cli.state_dir, cli.json, &Shutdown::listen()?).await,
            Command::Ecosystem(args) => ecosystem_cmd::run(args, &env, &cli.state_dir, cli.json).await,
            Command::Single(args) => single_cmd::run(args, &env, &cli.state_dir, cli.json).await,
            Command::Audit(args) => audit_cmd::run(args, &cli.state_dir, cli.json),
            Command::Backlog(args) => backlog_cmd::run(args, &cli.state_dir, cli.json),
            Command::Approve(args) => approve_cmd::run(args, &cli.state_dir, cli.json),
            Command::EmergencyScan(args) => {
                scan_cmd::emergency_scan(args, &env, &cli.state_dir, cli.json, &Shutdown::listen()?).await
            }
            Command::HealthAudit(args) => {
                scan_cmd::health_audit(args, &env, &cli.state_dir, cli.json, &Shutdown::listen()?).await
            }
            Command::Status(args) => client::status(args, cli.json).await,
            Command::Tell(args) => client::command(args, cli.json).await,
            Command::Completions(args) => cli::completions(args.shell, &mut std::io::stdout()),
            Command::Config(_) => settings::check(&resolved, cli.json),
            Command::Spawn(args) => spawn_cmd::spawn(args, &cli.state_dir, cli.json).await,
            Command::Agents(args) => spawn_cmd::agents(args, &cli.state_dir, cli.json).await,
            Command::Change(args) => change_cmd::run(args, &env, &cli.state_dir, cli.json).await,
            Command::Sync(args) => sync_cmd::run(args, &env, &cli.state_dir, cli.json).await,
            Command::Validate(args) => validate_cmd::run(args, &cli.state_dir, cli.json).await,
        }
    };
    // `println!` panics when stdout's reader went away; that unwinds out of here and is a quiet success, below.
    let result = catch_unwind(AssertUnwindSafe(|| runtime.block_on(dispatch)));
    lifecycle::finish(runtime);
    match result {
        Ok(result) => result,
        Err(payload) if hive_support::panic_text(payload.as_ref()).is_some_and(terminal::is_closed_pipe_panic) => {
            Ok(())
        }
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// Logs go to stderr, so `--json` output on stdout stays clean, with every known secret redacted.
fn init_logging(verbose: u8, env_level: Option<&str>) {
    let level = match verbose {
        0 => env_level.unwrap_or("warn"),
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("warn"));
    // Colours only on a terminal: a log file or a pipe gets plain text, and so does anyone who set NO_COLOR.
    let ansi = terminal::colour(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(terminal::LogWriter).init();
}

/// The demo's simulated forge panics on purpose to show supervision at work; those panics are caught and reported
/// as restarts, so printing a backtrace for each would only bury the output. Every other panic prints as usual.
fn quiet_injected_panics() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = hive_support::panic_text(payload);
        if message.is_some_and(|m| m.starts_with("injected panic")) {
            tracing::debug!(message = message.unwrap_or_default(), "injected panic");
        } else if message.is_some_and(terminal::is_closed_pipe_panic) {
            // Stdout's reader went away; `main` exits quietly.
        } else {
            default_hook(info);
        }
    }));
}
