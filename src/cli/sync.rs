//! The arguments of `hive sync`: files kept in step across repositories, as `[[sync]]` in `hive.toml` declares them.

use clap::{Args, Subcommand};

use super::change::{ChangeLimits, FleetArgs};

/// Arguments of `hive sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: SyncCommand,
    /// The `[[sync]]` declarations of the configuration file (filled in by the settings).
    #[arg(skip)]
    pub decls: Vec<hive::changes::SyncDecl>,
}

/// What `hive sync` does.
#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Where every synced file stands in every repository: in step, behind, target ahead, conflict or missing
    /// (read at each default branch; writes nothing to a forge).
    Status {
        /// One declaration's name (all when left out).
        name: Option<String>,
        /// Where the fleet is (else the configuration file's `[targets]`).
        #[command(flatten)]
        fleet: FleetArgs,
    },
    /// One change set per declaration over the repositories with files behind or missing; a file changed on both
    /// sides (conflict) or only in the repository (ahead) is left alone and said so. Asking again resumes it.
    Push {
        /// One declaration's name (all when left out).
        name: Option<String>,
        /// Keep going for up to this many seconds while a set waits for checks, looking every few seconds.
        #[arg(long, value_name = "SECS", default_value_t = 0)]
        wait: u64,
        /// Where the fleet is (else the configuration file's `[targets]`).
        #[command(flatten)]
        fleet: FleetArgs,
        /// How writes are governed.
        #[command(flatten)]
        limits: ChangeLimits,
    },
    /// Propose a repository's newer edit of a synced file (target ahead) back to the source, as a change set on the
    /// source.
    Pull {
        /// The declaration's name.
        name: String,
        /// The repository whose edit goes back, `owner/name`.
        repo: String,
        /// The file's path in it.
        path: String,
        /// Keep going for up to this many seconds while the set waits for checks.
        #[arg(long, value_name = "SECS", default_value_t = 0)]
        wait: u64,
        /// Where the fleet is (else the configuration file's `[targets]`).
        #[command(flatten)]
        fleet: FleetArgs,
        /// How writes are governed.
        #[command(flatten)]
        limits: ChangeLimits,
    },
    /// What was synced, when, and by which change set (from the state directory's database).
    History {
        /// One declaration's name (all when left out).
        name: Option<String>,
        /// At most this many entries, newest first.
        #[arg(long, value_name = "N", default_value_t = 100)]
        limit: usize,
    },
}

impl SyncCommand {
    /// Where the fleet is, for the forms that read it.
    pub fn fleet_mut(&mut self) -> Option<&mut FleetArgs> {
        match self {
            SyncCommand::Status { fleet, .. } | SyncCommand::Push { fleet, .. } | SyncCommand::Pull { fleet, .. } => {
                Some(fleet)
            }
            SyncCommand::History { .. } => None,
        }
    }
}
