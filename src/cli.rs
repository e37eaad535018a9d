//! Command-line arguments, as clap parses them. Doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// hive: a tireless co-maintainer for fleets of repositories.
#[derive(Debug, Parser)]
#[command(name = "hive", version, about, propagate_version = true)]
pub struct Cli {
    /// Print machine-readable JSON on stdout, and nothing else on stdout.
    #[arg(long, global = true)]
    pub json: bool,

    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Directory for hive state: database, exports, snapshots.
    #[arg(long, global = true, env = "HIVE_STATE_DIR", default_value = ".hive")]
    pub state_dir: PathBuf,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a simulated fleet through the real queen and pilots (offline, no token).
    Demo(DemoArgs),
    /// Watch a fleet: a local directory of git repositories (`--workspace DIR`).
    Run(RunArgs),
    /// Manage imported repositories: import, list, show, remove, services, build waves, mirrors.
    Ecosystem(EcosystemArgs),
}

/// Arguments of `hive run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A directory whose subdirectories are git repositories.
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,

    /// Run one cycle, print it, and exit.
    #[arg(long)]
    pub once: bool,
}

/// Arguments of `hive ecosystem`.
#[derive(Debug, Args)]
pub struct EcosystemArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: EcosystemCommand,
}

/// The `hive ecosystem` subcommands.
#[derive(Debug, Subcommand)]
pub enum EcosystemCommand {
    /// List imported repositories.
    List,
}

/// Arguments of `hive demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Repositories in the simulated fleet.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub repos: u32,

    /// Percentage of repositories whose CI fails.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub failing: u8,

    /// Orchestration cycles to run before stopping.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub cycles: u64,

    /// Milliseconds between cycles (overrides ORCHESTRATION_INTERVAL, which is in seconds).
    #[arg(long)]
    pub interval_ms: Option<u64>,

    /// Percentage of forge reads that panic, to show supervision at work.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub chaos: u8,

    /// Break the same CI job in a third of the healthy repositories after this cycle, and fix it two cycles later:
    /// shows a systemic-failure emergency being declared and then cleared.
    #[arg(long, value_name = "CYCLE")]
    pub incident: Option<u64>,

    /// Seed of the simulated fleet, for reproducible runs.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
