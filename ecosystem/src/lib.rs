//! The world of repositories for hive: how a repository is seen (snapshots), where it is seen from (forges), and
//! how healthy it looks (scoring).
//!
//! This crate knows nothing about actors or the event bus. A pilot in `hive-actors` owns a [`Forge`], asks it for
//! [`RepoSnapshot`]s and turns them into health reports.
//!
//! ```
//! use hive_ecosystem::{Forge, RepoId, SimForge, SimRepo};
//!
//! # tokio_test_block_on(async {
//! let forge = SimForge::new(vec![SimRepo::healthy("acme/api"), SimRepo::failing("acme/web")]);
//! let snapshot = forge.snapshot(&RepoId::new("acme/web").unwrap()).await.unwrap();
//! assert!(!snapshot.ci.is_green());
//! let health = hive_ecosystem::score(&snapshot);
//! assert!(health.score < 70);
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(f)
//! # }
//! ```

mod atomic;
mod classify;
mod commands;
mod detect;
mod error;
mod execute;
mod fixer;
#[cfg(test)]
mod fixtures;
mod forge;
mod git;
mod github;
mod graph;
mod health;
mod local;
mod manager;
mod mirror;
pub mod process;
mod repo_id;
mod service;
mod sim;
mod snapshot;
#[cfg(test)]
mod test_support;
mod writer;

pub use crate::{
    classify::{FailedJob, JobStep, Priority, classify_failure, classify_issue, failure_signature, is_critical_issue},
    commands::{CommandKind, DiscoveredCommand, discover_commands, test_command},
    detect::{BuildSystem, DetectError, Detection, SystemStatus, detect},
    error::ForgeError,
    execute::{ExecuteError, MAX_ARG_CHARS, MAX_ARGS, execute_command},
    fixer::{
        FixError, FixOutcome, FixRequest, Formatter, Preparation, PreparedFix, format_fix, formatter_for, prepare_fix,
    },
    forge::{DynForge, Forge},
    git::{Git, GitError},
    github::{
        Budget, CheckRun, CombinedStatus, CreatedIssue, DEFAULT_API_URL, GitHubAuth, GitHubConfig, GitHubError,
        GitHubForge, IssueChange, IssueComment, IssueDetail, MISSING_TOKEN, MergeResult, PullDetail, PullRequest,
        RepoFilter, RequestKind, RunDetail, Secret, Target, WRITE_GAP, WRITES_PER_MINUTE,
    },
    graph::{
        DependencyGraph, Edge, GraphRepo, RepoOutcome, RepoRun, StepOutput, WaveTask, WavesReport,
        conventional_command, discovered_command, run_task, run_waves,
    },
    health::{HEALTHY_THRESHOLD, HealthBreakdown, HealthComponent, score},
    local::{LOCAL_OWNER, LocalForge, LocalForgeError, Sandbox},
    manager::{EcosystemError, EcosystemManager, ImportId, ImportOptions, RepoMeta},
    mirror::{MirrorOptions, MirrorReport, RefFilter, mirror},
    repo_id::{InvalidRepoId, RepoId},
    service::{
        DEFAULT_LOG_LINES, ExitInfo, LogLine, LogStream, ProcessHandle, Readiness, ServiceBackoff, ServiceError,
        ServiceLogs, ServiceProcess, ServiceRestart, ServiceSpec, probe_readiness, wait_ready,
    },
    sim::{Fault, SimForge, SimRepo},
    snapshot::{
        Alert, AlertSeverity, CiFailure, CiState, CiStatus, FailureClass, GitHubFacts, IssueSummary, LocalFacts,
        RepoSnapshot, RunRef, Upstream,
    },
    writer::{Capabilities, ForgeWriter, WriteError},
};
