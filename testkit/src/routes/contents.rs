//! `GET /repos/{o}/{r}/contents/{path}?ref=R`: a file or a directory at a branch, tag or commit.
//!
//! A repository backed by git answers from git (`cat-file` and `ls-tree` on the commit the ref names, a branch at
//! the API's commit), files larger than GitHub inlines without their content. Files written through the API's
//! contents endpoint (the world's `files` map) answer where git has nothing, and are all a repository without git
//! has. A ref that names no commit is GitHub's 404 "No commit found for the ref"; a path with nothing at it, a
//! plain 404.

use axum::http::StatusCode;

use super::{Ctx, DOCS, Reply};
use crate::bare::{Bare, Entry};
use crate::render;
use crate::state::{Repo, World};

pub(super) fn get(w: &World, ctx: &Ctx<'_>, o: &str, r: &str, path: &str) -> Reply {
    let Some(repo) = w.repo(o, r) else { return Reply::not_found() };
    let git_ref = ctx.query.get("ref").cloned().unwrap_or_else(|| repo.spec.default_branch.clone());
    let commit = repo.spec.git_dir.as_deref().and_then(|dir| {
        let bare = Bare::new(dir);
        // A branch is read at the API's commit: one the API moved itself (a file written through it) is not in git,
        // and its files are the API's.
        let commit = match repo.branches.get(&git_ref) {
            Some(sha) => bare.commit(sha),
            None => bare.commit(&git_ref),
        };
        commit.map(|commit| (bare, commit))
    });
    if let Some((bare, commit)) = &commit {
        match bare.entry(commit, path) {
            Some(Entry::File { sha, content }) => {
                return Reply::json(StatusCode::OK, render::content_blob(w, repo, &git_ref, path, &sha, &content));
            }
            Some(Entry::Dir(entries)) => {
                let items = entries.iter().map(|e| render::content_dir_entry(w, repo, &git_ref, path, e)).collect();
                return Reply::json(StatusCode::OK, serde_json::Value::Array(items));
            }
            None => {}
        }
    }
    let branch = branch_of(repo, &git_ref);
    if branch.is_none() && commit.is_none() {
        return Reply::error(
            StatusCode::NOT_FOUND,
            render::error(&format!("No commit found for the ref {git_ref}"), DOCS, 404),
        );
    }
    match branch.and_then(|branch| repo.files.get(&(branch.to_owned(), path.to_owned())).map(|c| (branch, c))) {
        Some((branch, content)) => Reply::json(StatusCode::OK, render::content_file(w, repo, branch, path, content)),
        None => Reply::not_found(),
    }
}

/// The branch a ref names in the API: the branch itself, or the branch whose head is that commit.
fn branch_of<'a>(repo: &'a Repo, git_ref: &str) -> Option<&'a str> {
    match repo.branches.get_key_value(git_ref) {
        Some((name, _)) => Some(name),
        None => repo.branches.iter().find(|(_, sha)| *sha == git_ref).map(|(name, _)| name.as_str()),
    }
}
