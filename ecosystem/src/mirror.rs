//! Mirroring a repository to other remotes: its branches and tags, incrementally, with `push --mirror` semantics
//! (the destination ends up with exactly the source's refs) restricted by optional branch and tag filters.
//!
//! `git push --mirror` cannot be used as it is: on a clone it would push `refs/remotes/origin/*` verbatim, and it
//! has no filter. So the refs are compared here (local refs against `git ls-remote`) and only what differs is pushed
//! as explicit refspecs, `+refs/heads/<b>:refs/heads/<b>` to update and `:refs/heads/<b>` to delete. Remote refs
//! that the filter excludes are never touched. Pushes are retried with exponential backoff.

mod filter;
#[cfg(test)]
mod tests;

use std::{collections::BTreeMap, path::Path, time::Duration};

use serde::Serialize;

pub use self::filter::RefFilter;
use crate::{EcosystemError, Git, GitError, manager::check_remote};

/// How to mirror.
#[derive(Debug, Clone)]
pub struct MirrorOptions {
    /// Which branches to mirror (globs, `!glob` to exclude); empty means all.
    pub branches: Vec<String>,
    /// Which tags to mirror (globs, `!glob` to exclude); empty means all.
    pub tags: Vec<String>,
    /// Attempts per destination before giving up (at least one).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled for each further one.
    pub backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// Timeout of each git command.
    pub timeout: Duration,
}

impl Default for MirrorOptions {
    fn default() -> MirrorOptions {
        MirrorOptions {
            branches: Vec::new(),
            tags: Vec::new(),
            max_attempts: 4,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            timeout: Duration::from_secs(600),
        }
    }
}

/// What a mirror run did to one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MirrorReport {
    /// The destination remote.
    pub destination: String,
    /// Branches selected for mirroring.
    pub branches: usize,
    /// Tags selected for mirroring.
    pub tags: usize,
    /// Refs created or moved on the destination (full names).
    pub updated: Vec<String>,
    /// Refs deleted from the destination (full names).
    pub deleted: Vec<String>,
    /// Attempts it took (1 when the first push worked).
    pub attempts: u32,
}

/// Mirrors the repository at `repo_dir` to `destination`.
///
/// The source's branches are its local branches plus, for a clone, the branches of `origin` it knows of; its tags
/// are its tags. Only refs whose target differs are pushed.
///
/// When a clone has a branch both locally and on `origin`, `origin`'s wins: an imported clone is a managed copy of
/// its upstream, and after a `git fetch` its local default branch still points where it was at import time.
pub async fn mirror(
    repo_dir: &Path,
    destination: &str,
    options: &MirrorOptions,
) -> Result<MirrorReport, EcosystemError> {
    check_remote(destination)?;
    let branch_filter = RefFilter::new(&options.branches)?;
    let tag_filter = RefFilter::new(&options.tags)?;
    let git = Git::new(repo_dir).timeout(options.timeout);
    let repo_name = repo_dir.display().to_string();
    let local = local_refs(&git).await.map_err(|source| EcosystemError::Git { repo: repo_name, source })?;
    // Wanted: destination ref -> (local ref to push, object id).
    let wanted: BTreeMap<String, (String, String)> =
        local.into_iter().filter(|(dest, _)| selected(dest, &branch_filter, &tag_filter)).collect();
    let branches = wanted.keys().filter(|r| r.starts_with("refs/heads/")).count();
    let tags = wanted.len() - branches;

    let mut attempts = 0;
    loop {
        attempts += 1;
        match push_once(&git, destination, &wanted, &branch_filter, &tag_filter).await {
            Ok((updated, deleted)) => {
                return Ok(MirrorReport {
                    destination: crate::manager::shown(destination),
                    branches,
                    tags,
                    updated,
                    deleted,
                    attempts,
                });
            }
            Err(source) if attempts >= options.max_attempts.max(1) => {
                return Err(EcosystemError::Mirror {
                    destination: crate::manager::shown(destination),
                    attempts,
                    source,
                });
            }
            Err(err) => {
                let destination = crate::manager::shown(destination);
                tracing::warn!(destination, attempts, error = %err, "mirror push failed; retrying");
                tokio::time::sleep(hive_support::doubling(options.backoff, options.max_backoff, attempts - 1)).await;
            }
        }
    }
}

/// One attempt: read the destination's refs, push what differs, delete what is gone.
async fn push_once(
    git: &Git,
    destination: &str,
    wanted: &BTreeMap<String, (String, String)>,
    branch_filter: &RefFilter,
    tag_filter: &RefFilter,
) -> Result<(Vec<String>, Vec<String>), GitError> {
    let listing = git.run(&["ls-remote", "--heads", "--tags", "--", destination]).await?;
    let remote: BTreeMap<&str, &str> = listing
        .lines()
        .filter_map(|line| line.split_once('\t').map(|(oid, name)| (name, oid)))
        // `^{}` lines are peeled tags: the commit an annotated tag points to, not a ref of their own.
        .filter(|(name, _)| !name.ends_with("^{}") && safe_ref(name))
        .collect();
    let updated: Vec<String> = wanted
        .iter()
        .filter(|(dest, (_, oid))| remote.get(dest.as_str()) != Some(&oid.as_str()))
        .map(|(dest, _)| dest.clone())
        .collect();
    let deleted: Vec<String> = remote
        .keys()
        .filter(|name| selected(name, branch_filter, tag_filter) && !wanted.contains_key(**name))
        .map(|name| (*name).to_owned())
        .collect();
    if updated.is_empty() && deleted.is_empty() {
        return Ok((updated, deleted));
    }
    let mut refspecs: Vec<String> =
        updated.iter().filter_map(|dest| wanted.get(dest).map(|(src, _)| format!("+{src}:{dest}"))).collect();
    refspecs.extend(deleted.iter().map(|name| format!(":{name}")));
    let mut args = vec!["push", "--porcelain", "--", destination];
    args.extend(refspecs.iter().map(String::as_str));
    git.run(&args).await?;
    Ok((updated, deleted))
}

/// The source's refs as destination ref -> (local ref, object id).
async fn local_refs(git: &Git) -> Result<BTreeMap<String, (String, String)>, GitError> {
    let listing = git
        .run(&["for-each-ref", "--format=%(objectname) %(refname)", "refs/heads", "refs/tags", "refs/remotes/origin"])
        .await?;
    let mut refs = BTreeMap::new();
    let mut from_origin = Vec::new();
    for (oid, name) in listing.lines().filter_map(|l| l.split_once(' ')) {
        if let Some(branch) = name.strip_prefix("refs/remotes/origin/") {
            if branch != "HEAD" {
                from_origin.push((format!("refs/heads/{branch}"), (name.to_owned(), oid.to_owned())));
            }
        } else {
            refs.insert(name.to_owned(), (name.to_owned(), oid.to_owned()));
        }
    }
    refs.extend(from_origin);
    Ok(refs)
}

/// Whether a destination ref is one the filters select.
fn selected(name: &str, branch_filter: &RefFilter, tag_filter: &RefFilter) -> bool {
    if let Some(branch) = name.strip_prefix("refs/heads/") {
        branch_filter.matches(branch)
    } else if let Some(tag) = name.strip_prefix("refs/tags/") {
        tag_filter.matches(tag)
    } else {
        false
    }
}

/// A ref name a remote advertised that is safe inside a refspec: git itself forbids these characters in ref
/// names, so anything with them is a hostile or broken remote and is left alone.
fn safe_ref(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('-') && !name.chars().any(|c| c == ':' || c.is_whitespace() || c.is_control())
}
