//! A change set as it is recorded in hive.db: its spec, where the set and each repository stand, the merge order,
//! and every step taken (the incident record of a rollback is this list).

use serde::{Deserialize, Serialize};

use crate::{ChangeId, ChangeSpec};

/// Where a change set stands. The set moves forward only: applying, validating, committing, then merged; or,
/// after a failure, halted and rolling back, then rolled back; or aborted before any merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeState {
    /// Branches pushed and pull requests opened.
    Applying,
    /// Waiting for every check of every pull request.
    Validating,
    /// Merging in dependency order.
    Committing,
    /// Every pull request merged.
    Merged,
    /// Every branch published on a forge without pull requests; a human merges them.
    Published,
    /// Green and not merged, as the rules asked; a human merges them.
    Ready,
    /// A failure stopped the set; the rollback has not finished.
    RollingBack,
    /// Rolled back: unmerged pull requests closed, merged ones reverted (or their reverts opened).
    RolledBack,
    /// Stopped by a person before any merge; its pull requests closed.
    Aborted,
    /// A rollback left something for a person: a merge whose revert could not be made, or a revert pull request
    /// that cannot be merged (its checks fail, it was closed, the rules leave it to a person). The set keeps its
    /// repositories; `rollback` tries again.
    NeedsAttention,
}

impl ChangeState {
    /// The state's name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeState::Applying => "applying",
            ChangeState::Validating => "validating",
            ChangeState::Committing => "committing",
            ChangeState::Merged => "merged",
            ChangeState::Published => "published",
            ChangeState::Ready => "ready",
            ChangeState::RollingBack => "rolling_back",
            ChangeState::RolledBack => "rolled_back",
            ChangeState::Aborted => "aborted",
            ChangeState::NeedsAttention => "needs_attention",
        }
    }

    /// Whether the set still holds its repositories: it is under way, or a rollback left it for a person.
    pub fn is_open(self) -> bool {
        self.moves() || self == ChangeState::NeedsAttention
    }

    /// Whether the set moves on by itself when looked at again (waiting for checks, merging, rolling back).
    pub fn moves(self) -> bool {
        matches!(
            self,
            ChangeState::Applying | ChangeState::Validating | ChangeState::Committing | ChangeState::RollingBack
        )
    }

    /// Whether asking for the same spec again gives this set back rather than a new one: everything but a set that
    /// finished merged, rolled back or aborted (a set left ready or published for a person is still the change).
    pub fn answers_again(self) -> bool {
        !matches!(self, ChangeState::Merged | ChangeState::RolledBack | ChangeState::Aborted)
    }
}

/// Where one repository of a set stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepoState {
    /// Its change is made and committed in the worktree; nothing is on the forge yet.
    Planned,
    /// The operation changed nothing here: it takes no further part.
    Unchanged,
    /// The branch is on the forge.
    Pushed,
    /// Its pull request is open.
    Opened,
    /// Its pull request's checks are green.
    Green,
    /// Its pull request is merged.
    Merged,
    /// Its pull request was closed unmerged by the rollback or an abort.
    Closed,
    /// The revert of its merge is open as a pull request, waiting.
    RevertOpened,
    /// The revert of its merge is merged.
    Reverted,
}

impl RepoState {
    /// The state's name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            RepoState::Planned => "planned",
            RepoState::Unchanged => "unchanged",
            RepoState::Pushed => "pushed",
            RepoState::Opened => "opened",
            RepoState::Green => "green",
            RepoState::Merged => "merged",
            RepoState::Closed => "closed",
            RepoState::RevertOpened => "revert_opened",
            RepoState::Reverted => "reverted",
        }
    }
}

/// One repository of a set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoChange {
    /// `owner/name`.
    pub repo: String,
    /// Where git clones it from (credentials never stored: GitHub's clone URL, a path).
    pub clone_url: String,
    /// The branch the change goes into.
    pub base: String,
    /// The base's commit the change was made on.
    pub base_sha: String,
    /// The commit on the change branch (deterministic: the same change on the same base is the same commit).
    pub head: Option<String>,
    /// The files the change touches.
    pub files: Vec<String>,
    /// Lines added and removed.
    pub lines: usize,
    /// Where it stands.
    pub state: RepoState,
    /// Its pull request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull: Option<u64>,
    /// Its pull request's web address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_url: Option<String>,
    /// The merge commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_sha: Option<String>,
    /// Whether its pull request's body links every sibling pull request.
    #[serde(default)]
    pub linked: bool,
    /// The revert of the merge, once a rollback made one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert: Option<Revert>,
    /// What it waits for or why it failed, for people.
    #[serde(default)]
    pub note: String,
}

/// The revert of one repository's merge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revert {
    /// The revert commit.
    pub head: String,
    /// Its pull request, once opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull: Option<u64>,
    /// Whether it was merged.
    #[serde(default)]
    pub merged: bool,
}

/// One step a set took, in order: the incident record of a rollback reads from these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// When, RFC 3339.
    pub at: String,
    /// The repository, or empty for the whole set.
    pub repo: String,
    /// What was done or found.
    pub what: String,
}

/// Why a set stopped going forward.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Halt {
    /// The repository that stopped it.
    pub repo: String,
    /// Why.
    pub reason: String,
}

/// A change set, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// Its id.
    pub id: ChangeId,
    /// What was asked for.
    pub spec: ChangeSpec,
    /// Where it stands.
    pub state: ChangeState,
    /// Every repository it names, in the order of `waves`.
    pub repos: Vec<RepoChange>,
    /// The merge order: each wave's repositories depend only on earlier waves'.
    pub waves: Vec<Vec<String>>,
    /// What stopped it, if something did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halt: Option<Halt>,
    /// Every step, oldest first.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// When it started waiting for its checks, unix seconds (how long they may take is a rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validating_since: Option<i64>,
    /// When it was made, unix seconds (also the date of its commits, so they are the same when made again).
    pub created_at: i64,
    /// Who runs it.
    pub by: String,
}

impl ChangeRecord {
    /// The repository `repo`'s entry.
    pub fn repo(&self, repo: &str) -> Option<&RepoChange> {
        self.repos.iter().find(|r| r.repo == repo)
    }

    pub(crate) fn repo_mut(&mut self, repo: &str) -> Option<&mut RepoChange> {
        self.repos.iter_mut().find(|r| r.repo == repo)
    }

    /// The repositories the change touches (not [`RepoState::Unchanged`]), in merge order.
    pub fn changed(&self) -> impl DoubleEndedIterator<Item = &RepoChange> {
        self.repos.iter().filter(|r| r.state != RepoState::Unchanged)
    }

    /// Whether any pull request of the set was merged (a rollback must revert it, an abort cannot).
    pub fn any_merged(&self) -> bool {
        self.repos.iter().any(|r| r.merge_sha.is_some())
    }

    pub(crate) fn step(&mut self, repo: &str, what: impl Into<String>) {
        self.steps.push(Step { at: hive_support::now_rfc3339(), repo: repo.to_owned(), what: what.into() });
    }
}
