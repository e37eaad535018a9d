//! Where hive sees repositories from and writes to: the [`Forge`] trait (reads: discovery and snapshots) and the
//! [`ForgeWriter`] trait (the autonomy loop's writes), implemented by GitHub, a local workspace of git repositories
//! and a simulation; what a repository looks like (snapshots), how healthy it is (scoring), and the pure classifiers
//! of issues and CI failures.
//!
//! This crate knows nothing about actors or the event bus. A pilot in `hive-actors` owns a [`Forge`], asks it for
//! [`RepoSnapshot`]s and turns them into health reports.
//!
//! ```
//! use hive_forge::{Forge, RepoId, SimForge, SimRepo};
//!
//! # tokio_test_block_on(async {
//! let forge = SimForge::new(vec![SimRepo::healthy("acme/api"), SimRepo::failing("acme/web")]);
//! let snapshot = forge.snapshot(&RepoId::new("acme/web").unwrap()).await.unwrap();
//! assert!(!snapshot.ci.is_green());
//! let health = hive_forge::score(&snapshot);
//! assert!(health.score < 70);
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(f)
//! # }
//! ```

mod classify;
mod deadline;
mod error;
mod forge;
mod github;
mod health;
mod local;
mod repo_id;
mod sim;
mod snapshot;
mod writer;

pub(crate) use writer::{check_path, check_ref};

pub use crate::{
    classify::{
        FailedJob, JobStep, Priority, classify_failure, classify_issue, classify_output, failure_signature,
        is_critical_issue, shows_dependency_failure,
    },
    deadline::{send_before, send_before_tracked},
    error::ForgeError,
    forge::{ApiUsage, DynForge, Forge},
    github::{
        Budget, BudgetToken, CheckRun, CombinedStatus, CreatedIssue, DEFAULT_API_URL, GitHubAuth, GitHubConfig,
        GitHubError, GitHubForge, GitHubForges, IssueChange, IssueComment, IssueDetail, MISSING_TOKEN, MergeResult,
        PullChange, PullDetail, PullRequest, RepoFilter, RequestKind, Resource, RunDetail, Secret, Seen, SharedBudget,
        Target, WRITE_GAP, WRITES_PER_MINUTE, budget_token,
    },
    health::{HEALTHY_THRESHOLD, HealthBreakdown, HealthComponent, score},
    local::{LOCAL_OWNER, LocalForge, LocalForgeError, Sandbox},
    repo_id::{InvalidRepoId, RepoId},
    sim::{Fault, SimForge, SimRepo},
    snapshot::{
        Alert, AlertSeverity, CiFailure, CiState, CiStatus, FailureClass, GitHubFacts, IssueSummary, LocalFacts,
        RepoSnapshot, RunRef, SyncDrift, Upstream,
    },
    writer::{
        Capabilities, CreatedRepository, ForgeWriter, MAX_FILE_TEXT, Origin, Review, ReviewState, WriteError, approves,
    },
};
