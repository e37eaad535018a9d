//! The ecosystem manager of hive: what is done to repositories on disk. Importing them (real `git clone`),
//! detecting their build systems and commands, running commands and services as child processes (argument vectors,
//! process groups, clean-up of whole process trees), dependency graphs and waves, mirroring, deploys (worktrees,
//! their history), formatter fixes, validation with a repository's own linters, and the file edits of change sets
//! (sync with templates, dependency bumps, diffs, drift).
//!
//! Where repositories are seen from and written to (GitHub, a local workspace, the simulation) is `hive-forge`,
//! which builds on this crate. This crate knows nothing about forges, actors or the event bus.

mod atomic;
mod commands;
mod detect;
mod edit;
mod execute;
mod fixer;
mod git;
mod graph;
mod manager;
mod mirror;
pub mod process;
mod service;
#[cfg(test)]
mod test_support;
mod validate;

pub use crate::{
    commands::{CommandKind, DiscoveredCommand, discover_commands, test_command},
    detect::{BuildSystem, DetectError, Detection, SystemStatus, detect},
    edit::{
        EditError, FileEdit, LockfileOutcome, PlaceholderError, RepoValues, SyncSpec, SyncState, TEMPLATE_SUFFIX,
        apply_edits, content_hash, fill_placeholders, plan_bump, plan_sync, sync_state, update_lockfiles,
    },
    execute::{ExecuteError, MAX_ARG_CHARS, MAX_ARGS, check_args, execute_command},
    fixer::{
        FixError, FixOutcome, FixRequest, Formatter, Preparation, PreparedFix, check_branch, fetch_branch, format_fix,
        formatter_for, parse_numstat, prepare_fix, published_head, push_branch,
    },
    git::{Git, GitError},
    graph::{
        DependencyGraph, Edge, GraphRepo, RepoOutcome, RepoRun, StepOutput, WaveTask, WavesReport,
        conventional_command, discovered_command, local_paths, run_task, run_waves,
    },
    manager::{
        DeployInstance, DeployLock, DeployOutcome, DeployRecord, EcosystemError, EcosystemManager, HISTORY_LIMIT,
        ImportId, ImportOptions, RepoMeta, ResolvedRef, check_ref, worktrees_to_remove,
    },
    mirror::{MirrorOptions, MirrorReport, RefFilter, mirror},
    service::{
        DEFAULT_LOG_LINES, ExitInfo, HealthPolicy, LogLine, LogStream, ProcessHandle, Readiness, ServiceBackoff,
        ServiceError, ServiceLogs, ServiceProcess, ServiceRestart, ServiceSpec, check_health, free_loopback_port,
        probe_readiness, wait_ready,
    },
    validate::{
        Finding, LINTERS, LinterRun, LinterStatus, Severity, ValidateError, ValidateOptions, ValidationReport, validate,
    },
};
