//! `ForgeWriter`: what the autonomy loop may change on a forge, besides reading it through [`Forge`](crate::Forge).
//!
//! Forges differ in what they have: GitHub has issues, comments, labels, re-runs, pull requests and merges; a local
//! workspace of git repositories has none of them, only branches. A writer says what it has
//! ([`ForgeWriter::capabilities`]); whatever it lacks answers [`WriteError::Unsupported`], and the loop keeps the
//! finding in its backlog instead. Every writer publishes formatter fixes as a deterministic branch.
//!
//! Writes about whole repositories (create, push a branch, read reviews, delete) are what spawning an agent needs:
//! GitHub has them all, a local workspace all but reviews.

use std::path::{Path, PathBuf};

use hive_ecosystem::{FixError, FixOutcome, Git, GitError, PreparedFix};

use crate::{
    CheckRun, CombinedStatus, CreatedIssue, GitHubError, GitHubForge, InvalidRepoId, IssueChange, IssueComment,
    IssueDetail, LocalForge, MergeResult, PullChange, PullDetail, RepoId, RepoSnapshot, RunDetail,
};

mod file;
mod repository;

pub use file::MAX_FILE_TEXT;
pub(crate) use file::{check_path, check_ref};
pub(crate) use repository::{BRANCH_TIMEOUT, new_repo_id};
pub use repository::{CreatedRepository, Origin, Review, ReviewState, approves};

/// What a forge lets the autonomy loop do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Issues, their comments and labels.
    pub issues: bool,
    /// Re-running a CI run's failed jobs.
    pub reruns: bool,
    /// Pull requests: opening, checking and merging them.
    pub pull_requests: bool,
    /// Repositories: creating them, pushing branches to them, deleting them.
    pub repositories: bool,
}

/// Why a write (or a look-up before one) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// GitHub refused or could not be reached.
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    /// Making or publishing a fix failed.
    #[error(transparent)]
    Fix(#[from] FixError),
    /// A git command in a local repository failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// An owner or repository name that cannot be one (refused before any request or path is made).
    #[error(transparent)]
    InvalidName(#[from] InvalidRepoId),
    /// A repository of that name exists already, and is neither empty nor made by hive for this name.
    #[error(
        "repository '{repo}' exists already and was not made by hive for this name ({reason}); choose another name, \
         or rename or delete that repository"
    )]
    AlreadyExists {
        /// The repository.
        repo: RepoId,
        /// Why it is not taken for hive's own.
        reason: String,
    },
    /// Repositories cannot be created for this owner.
    #[error("cannot create repositories for '{owner}': {reason}")]
    Owner {
        /// The owner asked for.
        owner: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// A repository hive will not delete, because this forge's `create_repository` could not have made it.
    #[error("refusing to delete '{repo}': {reason}")]
    NotDeletable {
        /// The repository.
        repo: RepoId,
        /// What makes it not hive's to delete.
        reason: &'static str,
    },
    /// A file or directory of a local workspace could not be written.
    #[error("cannot write '{}'; check that the workspace is writable", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file path that is not a plain path inside the repository (refused before any request or git command).
    #[error("refusing path '{path}': {reason}; give a path relative to the repository's root")]
    InvalidPath {
        /// The path, control characters escaped.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A ref that cannot safely name a commit (refused before any request or git command).
    #[error("refusing ref '{git_ref}': {reason}; give a branch, tag or commit id")]
    InvalidRef {
        /// The ref, control characters escaped.
        git_ref: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The ref names no commit of the repository.
    #[error("'{repo}' has no commit '{git_ref}'; check the branch, tag or commit id")]
    NoSuchRef {
        /// The repository.
        repo: RepoId,
        /// The ref.
        git_ref: String,
    },
    /// Something is at the path, but it cannot be read as text.
    #[error("cannot read '{path}' at '{git_ref}' of '{repo}' as text: {reason}")]
    NotText {
        /// The repository.
        repo: RepoId,
        /// The path.
        path: String,
        /// The ref.
        git_ref: String,
        /// Why (a directory, a file over 1 MiB, not UTF-8), and what to do instead.
        reason: &'static str,
    },
    /// The forge has no such thing; see [`ForgeWriter::capabilities`].
    #[error("the {forge} forge has no {what}")]
    Unsupported {
        /// The forge's name.
        forge: String,
        /// What it lacks (`issues`, `re-runs`, `pull requests`).
        what: &'static str,
    },
}

impl WriteError {
    /// Whether waiting and trying again may help (a timeout, a 5xx, a rate limit).
    pub fn is_transient(&self) -> bool {
        matches!(self, WriteError::GitHub(err) if err.is_transient())
    }

    /// What held the write past its deadline ([`send_before`](crate::send_before)), when it was refused unsent for
    /// that.
    pub fn late(&self) -> Option<&'static str> {
        match self {
            WriteError::GitHub(err) => err.late(),
            _ => None,
        }
    }

    /// Whether the write may have reached the forge anyway: a transient error that may come after the forge acted
    /// (a timeout, a server error, a lost connection). A rate limit is the forge refusing before acting.
    pub fn maybe_sent(&self) -> bool {
        matches!(self, WriteError::GitHub(err) if err.is_transient() && !matches!(err, GitHubError::RateLimited { .. }))
    }
}

/// The writes and look-ups of the autonomy loop. Methods a forge does not have answer [`WriteError::Unsupported`]
/// by default.
#[async_trait::async_trait]
pub trait ForgeWriter: Send + Sync + 'static {
    /// A short name for logs and errors, as [`Forge::name`](crate::Forge::name).
    fn name(&self) -> &str;

    /// What this forge has.
    fn capabilities(&self) -> Capabilities;

    /// Where a fix for `snapshot`'s repository is cloned from (a URL git understands), if it can be.
    fn fix_source(&self, snapshot: &RepoSnapshot) -> Option<String>;

    /// Publishes a prepared fix as its branch in `repo` (GitHub: a push; a local repository: a fetch from the clone,
    /// which runs none of its hooks). A branch that appeared meanwhile is never replaced.
    async fn publish_fix(&self, repo: &RepoId, fix: PreparedFix) -> Result<FixOutcome, WriteError>;

    /// Whether the fix commit `head` is part of `base` now (merged as it was, not squashed): how a fix published as
    /// a branch is known to be taken on a forge without pull requests. `false` where pull requests say it.
    async fn fix_merged(&self, repo: &RepoId, head: &str, base: &str) -> Result<bool, WriteError> {
        let _ = (repo, head, base);
        Ok(false)
    }

    /// The issues labelled `label`, in every state.
    async fn issues_labelled(&self, repo: &RepoId, label: &str) -> Result<Vec<IssueDetail>, WriteError> {
        let _ = (repo, label);
        Err(self.unsupported("issues"))
    }

    /// An issue's comments.
    async fn issue_comments(&self, repo: &RepoId, number: u64) -> Result<Vec<IssueComment>, WriteError> {
        let _ = (repo, number);
        Err(self.unsupported("issues"))
    }

    /// Opens an issue.
    async fn create_issue(
        &self,
        repo: &RepoId,
        title: &str,
        body: &str,
        labels: &[String],
    ) -> Result<CreatedIssue, WriteError> {
        let _ = (repo, title, body, labels);
        Err(self.unsupported("issues"))
    }

    /// Changes an issue's title, body, state or labels.
    async fn update_issue(&self, repo: &RepoId, number: u64, change: &IssueChange) -> Result<CreatedIssue, WriteError> {
        let _ = (repo, number, change);
        Err(self.unsupported("issues"))
    }

    /// Closes an issue.
    async fn close_issue(&self, repo: &RepoId, number: u64) -> Result<CreatedIssue, WriteError> {
        let _ = (repo, number);
        Err(self.unsupported("issues"))
    }

    /// Reopens an issue.
    async fn reopen_issue(&self, repo: &RepoId, number: u64) -> Result<CreatedIssue, WriteError> {
        let _ = (repo, number);
        Err(self.unsupported("issues"))
    }

    /// Comments on an issue or pull request; returns the comment's id.
    async fn comment(&self, repo: &RepoId, number: u64, body: &str) -> Result<u64, WriteError> {
        let _ = (repo, number, body);
        Err(self.unsupported("issues"))
    }

    /// Adds labels to an issue or pull request; returns its labels.
    async fn add_labels(&self, repo: &RepoId, number: u64, labels: &[String]) -> Result<Vec<String>, WriteError> {
        let _ = (repo, number, labels);
        Err(self.unsupported("issues"))
    }

    /// One CI run, with its attempt number.
    async fn workflow_run(&self, repo: &RepoId, run_id: u64) -> Result<RunDetail, WriteError> {
        let _ = (repo, run_id);
        Err(self.unsupported("re-runs"))
    }

    /// Re-runs a CI run's failed jobs.
    async fn rerun_failed_jobs(&self, repo: &RepoId, run_id: u64) -> Result<(), WriteError> {
        let _ = (repo, run_id);
        Err(self.unsupported("re-runs"))
    }

    /// The pull requests whose head is `branch`.
    async fn pulls_for_branch(&self, repo: &RepoId, branch: &str) -> Result<Vec<PullDetail>, WriteError> {
        let _ = (repo, branch);
        Err(self.unsupported("pull requests"))
    }

    /// Opens a pull request from a published branch.
    async fn create_pull(
        &self,
        repo: &RepoId,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
        draft: bool,
    ) -> Result<PullDetail, WriteError> {
        let _ = (repo, head, base, title, body, draft);
        Err(self.unsupported("pull requests"))
    }

    /// Changes a pull request's title or body, or closes or reopens it (closing never merges).
    async fn update_pull(&self, repo: &RepoId, number: u64, change: &PullChange) -> Result<PullDetail, WriteError> {
        let _ = (repo, number, change);
        Err(self.unsupported("pull requests"))
    }

    /// One pull request, by number (its state, head, and the merge commit once merged).
    async fn pull(&self, repo: &RepoId, number: u64) -> Result<PullDetail, WriteError> {
        let _ = (repo, number);
        Err(self.unsupported("pull requests"))
    }

    /// The text of the file at `path` in the commit `git_ref` names (a branch, tag or commit id); `None` when
    /// nothing is at the path. A path that is not plainly inside the repository ([`WriteError::InvalidPath`]) or a
    /// ref that could be read as an option ([`WriteError::InvalidRef`]) is refused before anything is asked; a ref
    /// that names no commit is [`WriteError::NoSuchRef`]; a directory, a file over [`MAX_FILE_TEXT`] or one that is
    /// not UTF-8 is [`WriteError::NotText`].
    async fn file_text(&self, repo: &RepoId, path: &str, git_ref: &str) -> Result<Option<String>, WriteError> {
        let _ = (repo, path, git_ref);
        Err(self.unsupported("file reads"))
    }

    /// The check runs of a commit.
    async fn check_runs(&self, repo: &RepoId, git_ref: &str) -> Result<Vec<CheckRun>, WriteError> {
        let _ = (repo, git_ref);
        Err(self.unsupported("pull requests"))
    }

    /// The combined status of a commit.
    async fn combined_status(&self, repo: &RepoId, git_ref: &str) -> Result<CombinedStatus, WriteError> {
        let _ = (repo, git_ref);
        Err(self.unsupported("pull requests"))
    }

    /// Merges a pull request only if its head is still `sha` (when given).
    async fn merge_head(
        &self,
        repo: &RepoId,
        number: u64,
        method: &str,
        sha: Option<&str>,
    ) -> Result<MergeResult, WriteError> {
        let _ = (repo, number, method, sha);
        Err(self.unsupported("pull requests"))
    }

    /// Creates `owner/name` (an organisation's or the authenticated user's), empty (no commit yet), with
    /// `description`. An existing repository with the same name is NOT an error when it is empty or was made by hive
    /// for this name (idempotent retry): `created: false`; otherwise [`WriteError::AlreadyExists`]. Hostile names are
    /// refused before anything is sent ([`WriteError::InvalidName`]).
    async fn create_repository(
        &self,
        owner: &str,
        name: &str,
        description: &str,
        private: bool,
    ) -> Result<CreatedRepository, WriteError> {
        let _ = (owner, name, description, private);
        Err(self.unsupported("repositories"))
    }

    /// Pushes `branch` of the local git repository at `source` to `repo` (no force: a branch that exists with other
    /// history is an error, the same commit is not). Returns the pushed commit.
    async fn push_branch(&self, repo: &RepoId, source: &Path, branch: &str) -> Result<String, WriteError> {
        let _ = (repo, source, branch);
        Err(self.unsupported("repositories"))
    }

    /// The reviews of a pull request, oldest first.
    async fn pull_reviews(&self, repo: &RepoId, number: u64) -> Result<Vec<Review>, WriteError> {
        let _ = (repo, number);
        Err(self.unsupported("pull requests"))
    }

    /// Deletes a repository hive created (used to undo a failed spawn; GitHub: `DELETE /repos/{o}/{r}`).
    async fn delete_repository(&self, repo: &RepoId) -> Result<(), WriteError> {
        let _ = repo;
        Err(self.unsupported("repositories"))
    }

    /// Where `repo` is cloned from and its default branch (GitHub: one `GET /repos/{o}/{r}`; local: its directory
    /// and the branch checked out there), without reading it whole as a snapshot does.
    async fn origin(&self, repo: &RepoId) -> Result<Origin, WriteError> {
        let _ = repo;
        Err(self.unsupported("repositories"))
    }

    /// The error for what this forge does not have.
    fn unsupported(&self, what: &'static str) -> WriteError {
        WriteError::Unsupported { forge: self.name().to_owned(), what }
    }
}

#[async_trait::async_trait]
impl ForgeWriter for GitHubForge {
    fn name(&self) -> &str {
        "github"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { issues: true, reruns: true, pull_requests: true, repositories: true }
    }

    fn fix_source(&self, snapshot: &RepoSnapshot) -> Option<String> {
        snapshot.github.as_ref().and_then(|g| g.clone_url.clone())
    }

    async fn publish_fix(&self, repo: &RepoId, fix: PreparedFix) -> Result<FixOutcome, WriteError> {
        // A push is a child process, not a request of the client: its write's deadline is looked at here.
        if crate::deadline::passed() {
            let request = format!("git push to '{repo}'");
            return Err(GitHubError::Late { request, waited_for: "the steps before it" }.into());
        }
        crate::deadline::may_have_acted();
        Ok(fix.push().await?)
    }

    async fn issues_labelled(&self, repo: &RepoId, label: &str) -> Result<Vec<IssueDetail>, WriteError> {
        Ok(GitHubForge::issues_labelled(self, repo, label).await?)
    }

    async fn issue_comments(&self, repo: &RepoId, number: u64) -> Result<Vec<IssueComment>, WriteError> {
        Ok(GitHubForge::issue_comments(self, repo, number).await?)
    }

    async fn create_issue(
        &self,
        repo: &RepoId,
        title: &str,
        body: &str,
        labels: &[String],
    ) -> Result<CreatedIssue, WriteError> {
        Ok(GitHubForge::create_issue(self, repo, title, body, labels).await?)
    }

    async fn update_issue(&self, repo: &RepoId, number: u64, change: &IssueChange) -> Result<CreatedIssue, WriteError> {
        Ok(GitHubForge::update_issue(self, repo, number, change).await?)
    }

    async fn close_issue(&self, repo: &RepoId, number: u64) -> Result<CreatedIssue, WriteError> {
        Ok(GitHubForge::close_issue(self, repo, number).await?)
    }

    async fn reopen_issue(&self, repo: &RepoId, number: u64) -> Result<CreatedIssue, WriteError> {
        Ok(GitHubForge::reopen_issue(self, repo, number).await?)
    }

    async fn comment(&self, repo: &RepoId, number: u64, body: &str) -> Result<u64, WriteError> {
        Ok(GitHubForge::comment(self, repo, number, body).await?)
    }

    async fn add_labels(&self, repo: &RepoId, number: u64, labels: &[String]) -> Result<Vec<String>, WriteError> {
        Ok(GitHubForge::add_labels(self, repo, number, labels).await?)
    }

    async fn workflow_run(&self, repo: &RepoId, run_id: u64) -> Result<RunDetail, WriteError> {
        Ok(GitHubForge::workflow_run(self, repo, run_id).await?)
    }

    async fn rerun_failed_jobs(&self, repo: &RepoId, run_id: u64) -> Result<(), WriteError> {
        Ok(GitHubForge::rerun_failed_jobs(self, repo, run_id).await?)
    }

    async fn pulls_for_branch(&self, repo: &RepoId, branch: &str) -> Result<Vec<PullDetail>, WriteError> {
        Ok(GitHubForge::pulls_for_branch(self, repo, branch).await?)
    }

    async fn create_pull(
        &self,
        repo: &RepoId,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
        draft: bool,
    ) -> Result<PullDetail, WriteError> {
        Ok(GitHubForge::create_pull(self, repo, head, base, title, body, draft).await?)
    }

    async fn update_pull(&self, repo: &RepoId, number: u64, change: &PullChange) -> Result<PullDetail, WriteError> {
        Ok(GitHubForge::update_pull(self, repo, number, change).await?)
    }

    async fn pull(&self, repo: &RepoId, number: u64) -> Result<PullDetail, WriteError> {
        Ok(GitHubForge::pull(self, repo, number).await?)
    }

    async fn file_text(&self, repo: &RepoId, path: &str, git_ref: &str) -> Result<Option<String>, WriteError> {
        GitHubForge::file_text(self, repo, path, git_ref).await
    }

    async fn check_runs(&self, repo: &RepoId, git_ref: &str) -> Result<Vec<CheckRun>, WriteError> {
        Ok(GitHubForge::check_runs(self, repo, git_ref).await?)
    }

    async fn combined_status(&self, repo: &RepoId, git_ref: &str) -> Result<CombinedStatus, WriteError> {
        Ok(GitHubForge::combined_status(self, repo, git_ref).await?)
    }

    async fn merge_head(
        &self,
        repo: &RepoId,
        number: u64,
        method: &str,
        sha: Option<&str>,
    ) -> Result<MergeResult, WriteError> {
        Ok(GitHubForge::merge_head(self, repo, number, method, sha).await?)
    }

    async fn create_repository(
        &self,
        owner: &str,
        name: &str,
        description: &str,
        private: bool,
    ) -> Result<CreatedRepository, WriteError> {
        GitHubForge::create_repository(self, owner, name, description, private).await
    }

    async fn push_branch(&self, repo: &RepoId, source: &Path, branch: &str) -> Result<String, WriteError> {
        GitHubForge::push_branch(self, repo, source, branch).await
    }

    async fn pull_reviews(&self, repo: &RepoId, number: u64) -> Result<Vec<Review>, WriteError> {
        Ok(GitHubForge::pull_reviews(self, repo, number).await?)
    }

    async fn delete_repository(&self, repo: &RepoId) -> Result<(), WriteError> {
        Ok(GitHubForge::delete_repository(self, repo).await?)
    }

    async fn origin(&self, repo: &RepoId) -> Result<Origin, WriteError> {
        Ok(GitHubForge::origin(self, repo).await?)
    }
}

/// A local workspace has branches only: findings stay in the backlog, and a fix is a branch fetched into the
/// repository from a throwaway clone (its checked-out branch, working tree, index, hooks and config untouched).
#[async_trait::async_trait]
impl ForgeWriter for LocalForge {
    fn name(&self) -> &str {
        "local"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { issues: false, reruns: false, pull_requests: false, repositories: true }
    }

    fn fix_source(&self, snapshot: &RepoSnapshot) -> Option<String> {
        // file://, so the clone is a real copy (a plain path would hard-link the repository's objects) and shallow.
        self.repo_path(&snapshot.repo).map(|dir| format!("file://{}", dir.display()))
    }

    async fn publish_fix(&self, repo: &RepoId, fix: PreparedFix) -> Result<FixOutcome, WriteError> {
        let dir: PathBuf = self.repo_path(repo).ok_or_else(|| self.unsupported("such repository"))?;
        Ok(fix.fetch_into(&dir).await?)
    }

    async fn fix_merged(&self, repo: &RepoId, head: &str, base: &str) -> Result<bool, WriteError> {
        let Some(dir) = self.repo_path(repo) else { return Ok(false) };
        // Names and commits from hive's own records, but checked anyway: neither may look like an option.
        if head.starts_with('-') || base.starts_with('-') {
            return Ok(false);
        }
        let out = Git::new(&dir).output(&["merge-base", "--is-ancestor", head, base]).await?;
        // 0: an ancestor; 1: not one; anything else (an unknown commit, a gone branch): not known to be merged.
        Ok(out.code == Some(0))
    }

    async fn create_repository(
        &self,
        owner: &str,
        name: &str,
        description: &str,
        private: bool,
    ) -> Result<CreatedRepository, WriteError> {
        LocalForge::create_repository(self, owner, name, description, private).await
    }

    async fn push_branch(&self, repo: &RepoId, source: &Path, branch: &str) -> Result<String, WriteError> {
        LocalForge::push_branch(self, repo, source, branch).await
    }

    async fn delete_repository(&self, repo: &RepoId) -> Result<(), WriteError> {
        LocalForge::delete_repository(self, repo).await
    }

    async fn origin(&self, repo: &RepoId) -> Result<Origin, WriteError> {
        LocalForge::origin(self, repo).await
    }

    async fn file_text(&self, repo: &RepoId, path: &str, git_ref: &str) -> Result<Option<String>, WriteError> {
        LocalForge::file_text(self, repo, path, git_ref).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_local_workspace_has_branches_and_repositories_only_and_says_so() {
        let workspace = tempfile::tempdir().expect("tempdir");
        let forge = LocalForge::new(workspace.path()).expect("forge");
        let repo = RepoId::new("local/app").expect("repo");
        assert_eq!(
            ForgeWriter::capabilities(&forge),
            Capabilities { issues: false, reruns: false, pull_requests: false, repositories: true }
        );
        let err = forge.create_issue(&repo, "title", "body", &[]).await.expect_err("no issues");
        assert_eq!(err.to_string(), "the local forge has no issues");
        assert!(!err.is_transient() && !err.maybe_sent());
        let err = forge.rerun_failed_jobs(&repo, 1).await.expect_err("no re-runs");
        assert_eq!(err.to_string(), "the local forge has no re-runs");
        let err = forge.merge_head(&repo, 1, "squash", None).await.expect_err("no pull requests");
        assert_eq!(err.to_string(), "the local forge has no pull requests");
    }

    #[test]
    fn only_errors_after_which_github_may_have_acted_count_as_maybe_sent() {
        let request = "POST /repos/acme/api/issues".to_owned();
        let limited = WriteError::GitHub(GitHubError::RateLimited { request: request.clone() });
        assert!(limited.is_transient() && !limited.maybe_sent(), "a rate limit is refused before acting");
        let lost = WriteError::GitHub(GitHubError::Transient { request, message: "connection reset".into() });
        assert!(lost.is_transient() && lost.maybe_sent(), "a lost answer may follow a write GitHub made");
        let unsupported = WriteError::Unsupported { forge: "local".into(), what: "issues" };
        assert!(!unsupported.maybe_sent());
    }
}
