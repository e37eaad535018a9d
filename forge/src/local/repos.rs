//! Whole repositories in a local workspace: `create_repository` makes `<workspace>/<name>` a new git repository on
//! `main`, `push_branch` fetches a branch into it (no hook of it runs), `delete_repository` removes only what
//! `create_repository` could have made.
//!
//! What hive made is marked in the repository's own configuration (`hive.created = true`): a retried create takes
//! such a repository (or an empty one) as its own, and delete refuses anything unmarked, so a user's repository is
//! never removed.

use std::path::Path;

use hive_ecosystem::Git;

use super::{LOCAL_OWNER, LocalForge, facts};
use crate::{
    RepoId, WriteError,
    writer::{BRANCH_TIMEOUT, CreatedRepository, Origin, new_repo_id},
};

/// The configuration key that marks a repository hive created.
const MARKER: &str = "hive.created";
/// The branch a created repository starts on.
const DEFAULT_BRANCH: &str = "main";

impl LocalForge {
    /// Makes `<workspace>/<name>` a new, empty git repository on `main`; see
    /// [`crate::ForgeWriter::create_repository`]. `owner` must be `local`; `private` changes nothing (a local
    /// repository is private to its machine), and `description` goes where git keeps one (`.git/description`).
    pub async fn create_repository(
        &self,
        owner: &str,
        name: &str,
        description: &str,
        _private: bool,
    ) -> Result<CreatedRepository, WriteError> {
        let repo = new_repo_id(owner, name)?;
        if repo.owner() != LOCAL_OWNER {
            return Err(WriteError::Owner {
                owner: owner.to_owned(),
                reason: format!("the repositories of a local workspace are all '{LOCAL_OWNER}/<name>'"),
            });
        }
        // A valid RepoId's name has no '/' and is not '.' or '..': the directory is directly in the workspace.
        let dir = self.root().join(repo.name());
        let made = match tokio::fs::create_dir(&dir).await {
            Ok(()) => true,
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(source) => return Err(WriteError::Io { path: dir, source }),
        };
        if !made {
            let branch = self.existing(&repo, &dir).await?;
            return Ok(created(repo, &dir, branch, false));
        }
        if let Err(err) = initialise(&dir, description).await {
            // Nothing half-made stays behind to be taken for hive's own by a retry.
            let _ = tokio::fs::remove_dir_all(&dir).await;
            return Err(err);
        }
        Ok(created(repo, &dir, DEFAULT_BRANCH.to_owned(), true))
    }

    /// Whether the existing `dir` is hive's for this name: a real directory (no link), a repository of its own (no
    /// worktree or submodule), and marked by hive or without any commit. Returns its checked-out branch.
    async fn existing(&self, repo: &RepoId, dir: &Path) -> Result<String, WriteError> {
        let exists = |reason: &str| WriteError::AlreadyExists { repo: repo.clone(), reason: reason.to_owned() };
        let real_dir = tokio::fs::symlink_metadata(dir).await.is_ok_and(|m| m.is_dir());
        let git_dir = tokio::fs::symlink_metadata(dir.join(".git")).await.is_ok_and(|m| m.is_dir());
        if !real_dir || !git_dir {
            return Err(exists("it is not a git repository of its own"));
        }
        let git = Git::new(dir).timeout(self.git_timeout);
        let ours = marked(&git).await?
            || facts::optional(&git, &["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]).await?.is_none();
        if !ours {
            return Err(exists("it has commits and was not created by hive"));
        }
        let branch = facts::optional(&git, &["symbolic-ref", "--quiet", "--short", "HEAD"]).await?;
        Ok(branch.unwrap_or_else(|| DEFAULT_BRANCH.to_owned()))
    }

    /// `repo`'s directory as a `file://` URL (so a clone is a real, shallow-able copy) and the branch checked out
    /// there; see [`crate::ForgeWriter::origin`].
    pub async fn origin(&self, repo: &RepoId) -> Result<Origin, WriteError> {
        let Some(dir) = self.repo_dir(repo).await else {
            return Err(WriteError::Unsupported { forge: super::NAME.to_owned(), what: "such repository" });
        };
        let git = Git::new(&dir).timeout(self.git_timeout);
        let branch = git.run(&["symbolic-ref", "--quiet", "--short", "HEAD"]).await?;
        Ok(Origin {
            repo: repo.clone(),
            clone_url: format!("file://{}", dir.display()),
            default_branch: branch,
            archived: false,
        })
    }

    /// Fetches `branch` of `source` into `repo` (no hook runs, no force); see [`crate::ForgeWriter::push_branch`].
    /// A repository's first branch, checked out but without a commit until now, also gets its working tree, so the
    /// new repository is not seen as one whose every file was deleted.
    pub async fn push_branch(&self, repo: &RepoId, source: &Path, branch: &str) -> Result<String, WriteError> {
        let Some(dir) = self.repo_dir(repo).await else {
            return Err(WriteError::Unsupported { forge: super::NAME.to_owned(), what: "such repository" });
        };
        let git = Git::new(&dir).timeout(self.git_timeout);
        let current = facts::optional(&git, &["symbolic-ref", "--quiet", "HEAD"]).await?;
        let unborn = facts::optional(&git, &["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]).await?.is_none();
        let first = unborn && current.as_deref() == Some(format!("refs/heads/{branch}").as_str());
        let head = hive_ecosystem::fetch_branch(&dir, source, branch, BRANCH_TIMEOUT).await?;
        if first && only_git(&dir).await && !dir.join(".git/index").exists() {
            // read-tree runs no hooks; the working tree holds nothing but `.git`, so nothing is overwritten.
            git.run(&["read-tree", "--reset", "-u", "HEAD"]).await?;
        }
        Ok(head)
    }

    /// Removes `repo` if this forge's `create_repository` could have made it: a real directory directly in the
    /// workspace whose own git directory carries hive's mark. Anything else is refused and left as it is.
    pub async fn delete_repository(&self, repo: &RepoId) -> Result<(), WriteError> {
        let refuse = |reason| WriteError::NotDeletable { repo: repo.clone(), reason };
        let Some(dir) = self.repo_path(repo) else {
            return Err(refuse("it is not a repository of this workspace ('local/<name>')"));
        };
        if !tokio::fs::symlink_metadata(&dir).await.is_ok_and(|m| m.is_dir()) {
            return Err(refuse("there is no directory of that name in the workspace (or it is a link)"));
        }
        if !tokio::fs::symlink_metadata(dir.join(".git")).await.is_ok_and(|m| m.is_dir()) {
            return Err(refuse("it is not a git repository of its own"));
        }
        if !marked(&Git::new(&dir).timeout(self.git_timeout)).await? {
            return Err(refuse("hive did not create it"));
        }
        tokio::fs::remove_dir_all(&dir).await.map_err(|_| refuse("its directory could not be removed completely"))?;
        Ok(())
    }
}

/// `git init` on `main` in `dir`, marked as hive's, with `description`.
async fn initialise(dir: &Path, description: &str) -> Result<(), WriteError> {
    let git = Git::new(dir);
    git.run(&["init", "--quiet", &format!("--initial-branch={DEFAULT_BRANCH}")]).await?;
    git.run(&["config", "--local", MARKER, "true"]).await?;
    // One line, as gitweb and cgit read it.
    let line: String = description.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let path = dir.join(".git/description");
    tokio::fs::write(&path, format!("{}\n", line.trim())).await.map_err(|source| WriteError::Io { path, source })?;
    Ok(())
}

/// Whether the repository's own configuration carries hive's mark.
async fn marked(git: &Git) -> Result<bool, WriteError> {
    let value = facts::optional(git, &["config", "--local", "--get", MARKER]).await?;
    Ok(value.as_deref() == Some("true"))
}

/// Whether `dir` holds nothing but `.git`.
async fn only_git(dir: &Path) -> bool {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else { return false };
    while let Ok(Some(entry)) = entries.next_entry().await {
        if entry.file_name() != ".git" {
            return false;
        }
    }
    true
}

fn created(repo: RepoId, dir: &Path, default_branch: String, made: bool) -> CreatedRepository {
    CreatedRepository { repo, clone_url: dir.display().to_string(), default_branch, private: true, created: made }
}
