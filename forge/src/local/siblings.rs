//! The sibling repositories a repository depends on by relative path (Cargo `path = "../core"`, npm
//! `"file:../core"`, Go `replace ... => ../core`), placed beside its throwaway clone the way they sit in the
//! workspace, so its tests resolve them in the scratch directory as they do on the user's disk.
//!
//! The paths come from the manifests of the clone (the commit tested, not the work tree), read by the dependency
//! graph's parser. Each sibling is a throwaway clone of its own HEAD, made like the repository's, and its own path
//! dependencies are placed in turn (each sibling once, so cycles end). Only repositories directly in the workspace
//! are placed: a path that leaves the workspace (`../../outside`), resolves through a symbolic link out of it, or
//! names a symbolic link in it is left out with a warning, and the test sees what any machine without it would.
//! The user's repositories are only ever cloned from, and a confined run still sees nothing outside its scratch
//! directory.

use std::{
    collections::{BTreeMap, VecDeque},
    path::{Component, Path},
    time::Duration,
};

use super::{LOCAL_OWNER, ci::clone_head, facts, is_repository};
use hive_ecosystem::{Git, GitError, local_paths};

use crate::RepoId;

/// The siblings a run placed: directory name -> the HEAD cloned, empty for a sibling that is not there (missing,
/// or a repository without commits), so that its arrival counts as a change too.
pub(crate) type Siblings = BTreeMap<String, String>;

/// Clones, into `layout`, the siblings from `root` that `name` (already cloned at `layout/name`) depends on by
/// relative path, and theirs in turn. Fails only when git does (a sibling's HEAD unreadable, its clone failing).
pub(crate) async fn place(root: &Path, layout: &Path, name: &str, git_timeout: Duration) -> Result<Siblings, GitError> {
    let mut siblings = Siblings::new();
    let mut queue = VecDeque::from([name.to_owned()]);
    while let Some(current) = queue.pop_front() {
        for sibling in wanted(layout, &current).await {
            // Each repository once: a cycle (core depends on app) or a diamond places nothing twice.
            if sibling == name || siblings.contains_key(&sibling) {
                continue;
            }
            let source = root.join(&sibling);
            let head = head_of(root, &sibling, git_timeout).await?;
            if let Some(head) = &head {
                clone_head(&source, &layout.join(&sibling), head, git_timeout).await?;
                queue.push_back(sibling.clone());
            } else if tokio::fs::symlink_metadata(&source).await.is_ok_and(|m| m.file_type().is_symlink()) {
                tracing::warn!(repo = name, sibling, "not placing a path dependency that is a symbolic link");
            } else {
                tracing::warn!(repo = name, sibling, "a path dependency is not a workspace repository with commits");
            }
            siblings.insert(sibling, head.unwrap_or_default());
        }
    }
    Ok(siblings)
}

/// Whether every sibling a cached run used still has the HEAD it had then (a change in `core` re-tests `app`).
pub(crate) async fn unchanged(root: &Path, siblings: &Siblings, git_timeout: Duration) -> bool {
    for (name, then) in siblings {
        match head_of(root, name, git_timeout).await {
            Ok(now) if now.as_deref().unwrap_or_default() == then => {}
            _ => return false,
        }
    }
    true
}

/// The HEAD of the workspace repository `name`; `None` when there is none: not a real directory holding a git
/// repository (a symbolic link counts as none), or no commit yet.
async fn head_of(root: &Path, name: &str, git_timeout: Duration) -> Result<Option<String>, GitError> {
    let dir = root.join(name);
    let owned = dir.clone();
    if !tokio::task::spawn_blocking(move || is_repository(&owned)).await.unwrap_or(false) {
        return Ok(None);
    }
    facts::optional(&Git::new(&dir).timeout(git_timeout), &["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]).await
}

/// The siblings the clone `layout/current` names in its manifests; manifests that do not parse name none (the
/// test run reports them as it would anywhere).
async fn wanted(layout: &Path, current: &str) -> Vec<String> {
    let dir = layout.join(current);
    let paths = match tokio::task::spawn_blocking(move || local_paths(&dir)).await {
        Ok(Ok(paths)) => paths,
        Ok(Err(e)) => {
            tracing::warn!(repo = current, error = %e, "cannot read path dependencies; placing none");
            return Vec::new();
        }
        Err(_) => return Vec::new(),
    };
    let mut names = Vec::new();
    for (path, via) in paths {
        match sibling_of(layout, current, &path) {
            Ok(Some(name)) if !names.contains(&name) => names.push(name),
            Ok(_) => {}
            Err(reason) => tracing::warn!(repo = current, via, reason, "not placing a path dependency"),
        }
    }
    names
}

/// The workspace repository a resolved manifest path lies in, seen from the clone of `from` in `layout`: `None`
/// for a path inside `from` itself (a workspace member), an error for one outside the workspace.
fn sibling_of(layout: &Path, from: &str, path: &Path) -> Result<Option<String>, &'static str> {
    let Ok(inside) = path.strip_prefix(layout) else { return Err("the path leaves the workspace") };
    let Some(Component::Normal(first)) = inside.components().next() else {
        return Err("the path is the workspace itself, not a repository in it");
    };
    let first = first.to_str().ok_or("the directory name is not UTF-8")?;
    if first == from {
        return Ok(None);
    }
    // The names discovery accepts, so that nothing hostile reaches a path or git.
    RepoId::new(format!("{LOCAL_OWNER}/{first}")).map_err(|_| "the directory name is not a usable repository name")?;
    Ok(Some(first.to_owned()))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn paths_map_to_workspace_repositories_or_are_refused() {
        let layout = Path::new("/scratch/ws");
        let check = |path: &str, expected: Result<Option<&str>, &str>| {
            let got = sibling_of(layout, "app", &PathBuf::from(path));
            assert_eq!(got.as_ref().map(Option::as_deref).map_err(|e| *e), expected, "{path}");
        };
        check("/scratch/ws/core", Ok(Some("core")));
        check("/scratch/ws/core/crates/util", Ok(Some("core")));
        check("/scratch/ws/app/crates/member", Ok(None));
        check("/scratch/outside", Err("the path leaves the workspace"));
        check("/etc/passwd", Err("the path leaves the workspace"));
        check("/scratch/ws", Err("the path is the workspace itself, not a repository in it"));
        check("/scratch/ws/-rf", Err("the directory name is not a usable repository name"));
        check("/scratch/ws/has space", Err("the directory name is not a usable repository name"));
    }
}
