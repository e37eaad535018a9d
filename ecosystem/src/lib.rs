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

mod error;
mod forge;
mod git;
mod health;
pub mod process;
mod repo_id;
mod sim;
mod snapshot;

pub use crate::{
    error::ForgeError,
    forge::{DynForge, Forge},
    git::{Git, GitError},
    health::{HEALTHY_THRESHOLD, HealthBreakdown, HealthComponent, is_critical_issue, score},
    repo_id::{InvalidRepoId, RepoId},
    sim::{Fault, SimForge, SimRepo},
    snapshot::{Alert, AlertSeverity, CiFailure, CiState, CiStatus, FailureClass, IssueSummary, RepoSnapshot},
};
