//! Publishing a branch without force: pushed to a remote, or fetched into a local repository. The fix branches of
//! [`PreparedFix`](super::PreparedFix) go this way, and so does any branch of a local repository
//! ([`push_branch`], [`fetch_branch`]): a branch that exists with other history is never replaced.

use std::{path::Path, time::Duration};

use hive_support::redact_url_credentials;

use super::{FixError, check, failure, git, git_ok, remote_branch};
use crate::GitError;

/// What a push without force ended in.
pub(super) enum Pushed {
    /// The remote's branch is the pushed commit now.
    Done,
    /// git refused (or failed); `remote` is where the remote's branch is, when it could be read.
    Refused { remote: Option<String>, error: GitError },
}

/// Pushes `refs/heads/{branch}` of the repository at `dir` to the same branch of `remote` (a remote's name or a
/// URL), without force and without running hooks; `url` is where the branch is looked up after a refusal.
pub(super) async fn push_ref(
    dir: &Path,
    remote: &str,
    url: &str,
    branch: &str,
    timeout: Duration,
) -> Result<Pushed, GitError> {
    // No `+`: the push must not replace a branch that appeared or moved since.
    let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
    let push = git(dir, &["push", "--quiet", "--no-verify", "--", remote, &refspec], timeout).await?;
    if push.success() {
        return Ok(Pushed::Done);
    }
    let shown = redact_url_credentials(remote);
    let mut error = failure(dir, &["push", &shown, &refspec], &push);
    // git names the remote in what it says; a URL's credentials must not come back that way either.
    if let GitError::Failed { stderr, .. } = &mut error {
        *stderr = redact_url_credentials(stderr).into_owned();
    }
    let remote = remote_branch(dir, url, branch, timeout).await.ok().flatten();
    Ok(Pushed::Refused { remote, error })
}

/// Fetches `branch_ref` of `source` into the repository at `repo`, objects only: no ref, no `FETCH_HEAD`, no hooks,
/// no automatic gc or maintenance.
pub(super) async fn fetch_objects(
    repo: &Path,
    source: &str,
    branch_ref: &str,
    timeout: Duration,
) -> Result<(), GitError> {
    let fetch = [
        "-c",
        "gc.auto=0",
        "-c",
        "maintenance.auto=false",
        "-c",
        "fetch.writeCommitGraph=false",
        "fetch",
        "--quiet",
        "--no-tags",
        "--no-write-fetch-head",
        "--no-recurse-submodules",
        "--",
        source,
        branch_ref,
    ];
    git_ok(repo, &fetch, timeout).await.map(drop)
}

/// The commit `refs/heads/{branch}` of the repository at `dir` points to, if it exists.
async fn branch_commit(dir: &Path, branch: &str, timeout: Duration) -> Result<Option<String>, GitError> {
    let wanted = format!("refs/heads/{branch}^{{commit}}");
    let out = git(dir, &["rev-parse", "--verify", "--quiet", &wanted], timeout).await?;
    Ok(out.success().then(|| out.stdout_text().trim().to_owned()).filter(|sha| !sha.is_empty()))
}

/// The commit of `branch` in the local repository `source`, or [`FixError::MissingBranch`].
async fn source_head(source: &Path, branch: &str, timeout: Duration) -> Result<String, FixError> {
    let read = |error| FixError::Git { step: "read the branch", url: source.display().to_string(), source: error };
    branch_commit(source, branch, timeout)
        .await
        .map_err(read)?
        .ok_or_else(|| FixError::MissingBranch { branch: branch.to_owned(), repo: source.to_path_buf() })
}

/// Pushes `branch` of the local repository at `source` to the same branch of `url`, without force and without
/// running any hook, and returns the pushed commit. A branch the remote has already at that commit is fine (a
/// retried push); one it has with other history is [`FixError::BranchDiverged`]. Credentials are git's own (a
/// credential helper, ssh keys): none are put on a command line, and none appear in an error.
pub async fn push_branch(source: &Path, url: &str, branch: &str, timeout: Duration) -> Result<String, FixError> {
    check::check_branch("branch", branch)?;
    let url = check::check_clone_url(url)?;
    let shown = redact_url_credentials(&url).into_owned();
    let head = source_head(source, branch, timeout).await?;
    let pushed = push_ref(source, &url, &url, branch, timeout).await.map_err(|error| FixError::Git {
        step: "push the branch",
        url: shown.clone(),
        source: error,
    })?;
    match pushed {
        Pushed::Done => Ok(head),
        Pushed::Refused { remote: Some(existing), .. } if existing == head => Ok(head),
        Pushed::Refused { remote: Some(existing), .. } => {
            Err(FixError::BranchDiverged { branch: branch.to_owned(), target: shown, existing })
        }
        Pushed::Refused { remote: None, error } => {
            Err(FixError::Git { step: "push the branch", url: shown, source: error })
        }
    }
}

/// Publishes `branch` of the local repository at `source` as the same branch of the local, non-bare repository at
/// `repo`, by fetching it (so none of `repo`'s hooks run, as a push would run its receive hooks), and returns the
/// commit. A new branch is created; an existing one at that commit is fine; an existing one behind it moves forward
/// unless it is checked out there ([`FixError::CheckedOut`]: its working tree would no longer match); one with other
/// history is [`FixError::BranchDiverged`]. `repo`'s working tree, index and config are left alone.
pub async fn fetch_branch(repo: &Path, source: &Path, branch: &str, timeout: Duration) -> Result<String, FixError> {
    check::check_branch("branch", branch)?;
    let head = source_head(source, branch, timeout).await?;
    let target = repo.display().to_string();
    let fail = |step| {
        let target = target.clone();
        move |error| FixError::Git { step, url: target, source: error }
    };
    let branch_ref = format!("refs/heads/{branch}");
    fetch_objects(repo, &source.to_string_lossy(), &branch_ref, timeout).await.map_err(fail("fetch the branch"))?;
    let diverged = |existing| FixError::BranchDiverged { branch: branch.to_owned(), target: target.clone(), existing };
    let old = match branch_commit(repo, branch, timeout).await.map_err(fail("read the branch"))? {
        Some(existing) if existing == head => return Ok(head),
        Some(existing) => {
            let ancestor = git(repo, &["merge-base", "--is-ancestor", &existing, &head], timeout)
                .await
                .map_err(fail("compare the branches"))?;
            if ancestor.code != Some(0) {
                return Err(diverged(existing));
            }
            let checked_out = git_ok(repo, &["symbolic-ref", "--quiet", "HEAD"], timeout).await.ok();
            if checked_out.as_deref() == Some(branch_ref.as_str()) {
                return Err(FixError::CheckedOut { branch: branch.to_owned(), repo: repo.to_path_buf() });
            }
            existing
        }
        // An empty old value: the update fails if the branch appeared meanwhile.
        None => String::new(),
    };
    let update = ["update-ref", "--no-deref", &branch_ref, &head, &old];
    let updated = git(repo, &update, timeout).await.map_err(fail("update the branch"))?;
    if updated.success() {
        return Ok(head);
    }
    // Someone else moved the branch between the look and the update.
    match branch_commit(repo, branch, timeout).await {
        Ok(Some(now)) if now == head => Ok(head),
        Ok(Some(now)) => Err(diverged(now)),
        _ => Err(fail("update the branch")(failure(repo, &update, &updated))),
    }
}
