//! Change sets across repositories: one change (a command's result, files kept in step with a source, a
//! dependency bump) made in many repositories, published as one branch and pull request in each, merged in
//! dependency order only when every check of every pull request is green, and rolled back (unmerged pull requests
//! closed, merged ones reverted) when any repository fails.
//!
//! Every step is recorded in hive.db before it is taken, every write decided by governance and reserved under an
//! idempotency key, and every lookup made before a write, so a set killed at any point resumes where it stopped
//! without a second branch, pull request or merge.

mod engine;
mod error;
mod gate;
mod record;
mod spec;
mod sync;
mod worktree;

pub use crate::{
    engine::{ChangeBook, ChangeEngine, ChangeSettings, LivePolicy, Plan, PlannedRepo},
    error::ChangeError,
    record::{ChangeRecord, ChangeState, Halt, RepoChange, RepoState, Revert, Step},
    spec::{ChangeId, ChangeSpec, MergeMethod, MergeRules, Operation, Targets},
    sync::{FileStatus, RepoStatus, SyncDecl, SyncPush, SyncStatus, SyncWatch, state_text},
};
