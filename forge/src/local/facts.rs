//! Git facts of one local repository: branch, HEAD, dirty tree, upstream distance, last commit, stale branches.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hive_ecosystem::{Git, GitError};

use crate::{LocalFacts, Upstream};

/// A local branch with no commit for this long is stale.
pub(crate) const STALE_BRANCH_AGE: Duration = Duration::from_secs(90 * 24 * 60 * 60);

/// Reads the facts with a handful of read-only git commands. Questions git answers with a failure (no upstream,
/// detached HEAD, no commits yet) are answered with `None`; anything else that fails is an error.
pub(crate) async fn read(git: &Git, now: SystemTime) -> Result<LocalFacts, GitError> {
    let head = optional(git, &["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]).await?;
    let branch = optional(git, &["symbolic-ref", "--quiet", "--short", "HEAD"]).await?;
    // --no-optional-locks: reading status must not take the index lock a user's own git may need right now.
    let status = git.run(&["--no-optional-locks", "status", "--porcelain", "-z", "--untracked-files=normal"]).await?;
    let mut facts = LocalFacts { branch, dirty: !status.is_empty(), ..LocalFacts::default() };
    let Some(head) = head else { return Ok(facts) };
    facts.last_commit_at = git.run(&["log", "-1", "--format=%ct", &head]).await?.trim().parse().ok().map(epoch);
    if let Some(name) = optional(git, &["rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}"]).await? {
        let counts = git.run(&["rev-list", "--left-right", "--count", "HEAD...@{upstream}"]).await?;
        let mut counts = counts.split_whitespace().map(|n| n.parse::<u32>().unwrap_or(0));
        let (ahead, behind) = (counts.next().unwrap_or(0), counts.next().unwrap_or(0));
        facts.upstream = Some(Upstream { name, ahead, behind });
    }
    let refs = git.run(&["for-each-ref", "--format=%(committerdate:unix) %(refname:short)", "refs/heads/"]).await?;
    let cutoff = now.checked_sub(STALE_BRANCH_AGE).unwrap_or(UNIX_EPOCH);
    facts.stale_branches = refs
        .lines()
        .filter_map(|line| line.split_once(' '))
        .filter(|(_, name)| facts.branch.as_deref() != Some(*name))
        .filter(|(time, _)| time.parse().map(epoch).is_ok_and(|at| at < cutoff))
        .map(|(_, name)| name.to_owned())
        .collect();
    facts.head = Some(head);
    Ok(facts)
}

/// Runs a query whose failure means "no such thing": trimmed stdout on success, `None` on a non-zero exit.
pub(crate) async fn optional(git: &Git, args: &[&str]) -> Result<Option<String>, GitError> {
    let out = git.output(args).await?;
    if out.timed_out {
        return Err(GitError::Failed {
            dir: git.dir().to_path_buf(),
            args: args.join(" "),
            code: None,
            stderr: "timed out".to_owned(),
        });
    }
    Ok(out.success().then(|| out.stdout_text().trim().to_owned()).filter(|s| !s.is_empty()))
}

fn epoch(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}
