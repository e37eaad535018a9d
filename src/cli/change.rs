//! The arguments of `hive change`: which repositories, which operation, how it is merged, and where the fleet is.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// Arguments of `hive change`.
#[derive(Debug, Args)]
pub struct ChangeArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ChangeCommand,
}

/// What `hive change` does.
#[derive(Debug, Subcommand)]
pub enum ChangeCommand {
    /// Show what a change would do in each repository (unified diffs; `--json`), writing nothing anywhere.
    Plan(ChangeRequestArgs),
    /// Make the change: lock the repositories, push one branch and open one pull request in each, and merge them
    /// all, dependencies first, once every check is green; roll back if any fails. Asking again resumes it.
    Apply(ChangeRequestArgs),
    /// Every change set, or one with each repository's state, pull request and notes.
    Status {
        /// A change set's id (`chg-...`).
        id: Option<String>,
        /// Where the fleet is (for nothing but reading: the state directory has everything).
        #[command(flatten)]
        fleet: FleetArgs,
    },
    /// Move a change set on: look at its checks again, merge what may be merged, go on with a rollback.
    Resume(ChangeIdArgs),
    /// Stop a change set before any merge: close its pull requests and let its repositories go.
    Abort(ChangeIdArgs),
    /// Roll a change set back whatever it reached: close what is not merged, revert what is.
    Rollback(ChangeIdArgs),
}

/// A change set by id, and the fleet it lives in.
#[derive(Debug, Args)]
pub struct ChangeIdArgs {
    /// The change set's id (`chg-...`).
    pub id: String,
    /// Keep going for up to this many seconds while the set waits for checks, looking every 30 seconds.
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub wait: u64,
    /// Where the fleet is.
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// How writes are governed.
    #[command(flatten)]
    pub limits: ChangeLimits,
}

/// Where the fleet is: a local workspace, or GitHub organisations, users and repositories.
#[derive(Debug, Clone, Args)]
pub struct FleetArgs {
    /// A directory whose subdirectories are git repositories (`local/<name>`): the change is a branch in each.
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Every repository of this GitHub organisation is in the fleet (repeatable; needs GITHUB_TOKEN or GH_TOKEN).
    #[arg(long = "org", value_name = "NAME")]
    pub orgs: Vec<String>,
    /// Every repository of this GitHub user is in the fleet (repeatable).
    #[arg(long = "user", value_name = "NAME")]
    pub users: Vec<String>,
}

/// The limits every write of a change set is governed by.
#[derive(Debug, Clone, Args)]
pub struct ChangeLimits {
    /// Pull requests hive may open in any 24 hours (the change's, its reverts', and any other's).
    #[arg(long, env = "HIVE_MAX_PRS_PER_DAY", value_name = "N", default_value_t = 10)]
    pub max_prs_per_day: u32,
    /// Content-creating requests hive may send in any minute.
    #[arg(long, env = "HIVE_MAX_CONTENT_PER_MINUTE", value_name = "N", default_value_t = 20)]
    pub max_content_per_minute: u32,
    /// Who runs it, for the audit trail.
    #[arg(long, value_name = "NAME", default_value = "operator")]
    pub by: String,
}

/// A change: its repositories, its operation, its message and its rules.
#[derive(Debug, Args)]
pub struct ChangeRequestArgs {
    /// The pull requests' title and the commit's subject.
    #[arg(long, value_name = "TEXT")]
    pub title: String,
    /// The commit message's body and the pull requests' description.
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub message: String,
    /// This repository, `owner/name` (`local/<name>` in a workspace; repeatable).
    #[arg(long = "repo", value_name = "OWNER/NAME")]
    pub repos: Vec<String>,
    /// The fleet's repositories matching this glob on `owner/name` (repeatable).
    #[arg(long = "glob", value_name = "GLOB")]
    pub globs: Vec<String>,
    /// Every repository of the fleet that depends on this one, by its manifests.
    #[arg(long, value_name = "OWNER/NAME")]
    pub dependents_of: Option<String>,
    /// How each pull request is merged: merge or squash.
    #[arg(long, value_name = "METHOD", default_value = "merge")]
    pub merge_method: String,
    /// Merge only pull requests whose head a maintainer approved.
    #[arg(long)]
    pub require_approval: bool,
    /// Stop once every check is green and leave the merges to a person.
    #[arg(long)]
    pub no_merge: bool,
    /// Open the reverts of a rollback but leave their merges to a person.
    #[arg(long)]
    pub no_merge_reverts: bool,
    /// Run each repository's own linters on the changed worktree first (`hive validate`): an error in a changed
    /// file refuses the change before anything is published.
    #[arg(long)]
    pub validate: bool,
    /// Keep going for up to this many seconds while the set waits for checks, looking every 30 seconds.
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub wait: u64,
    /// How long the pull requests' checks may take to finish before the set is halted and rolled back.
    #[arg(long, value_name = "SECS", default_value_t = 86_400)]
    pub checks_timeout: u64,
    /// Where the fleet is.
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// How writes are governed.
    #[command(flatten)]
    pub limits: ChangeLimits,
    /// What to do in each repository.
    #[command(subcommand)]
    pub operation: OperationArgs,
}

/// What a change does in each repository.
#[derive(Debug, Clone, Subcommand)]
pub enum OperationArgs {
    /// Run a command in each repository's fresh worktree (no shell; everything it changes is committed):
    /// `run -- cargo fmt`.
    Run {
        /// Seconds the command may take in one repository.
        #[arg(long, value_name = "SECS", default_value_t = 600)]
        timeout: u64,
        /// The program and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, value_name = "ARGV")]
        argv: Vec<String>,
    },
    /// Make files equal to a source repository's (paths or globs; `P.hive-template` files are filled with each
    /// repository's values): `sync acme/templates LICENSE '.github/workflows/*.yml'`.
    Sync {
        /// The source repository, `owner/name`.
        source: String,
        /// Paths or globs in the source.
        #[arg(required = true)]
        paths: Vec<String>,
        /// Delete a matched file the source no longer has.
        #[arg(long)]
        delete_missing: bool,
    },
    /// One dependency to one version in every manifest that names it: `bump serde 1.0.215`.
    Bump {
        /// The dependency's name.
        dependency: String,
        /// The version.
        #[arg(value_name = "VERSION")]
        to: String,
    },
}
