//! Pull requests changed and merged: `PATCH /repos/{o}/{r}/pulls/{n}` (title, body, base; closed without merging,
//! reopened while unmerged) and `PUT /repos/{o}/{r}/pulls/{n}/merge`.
//!
//! A repository backed by git merges in git: a merge commit of base and head, or one squashed commit on the base,
//! written with `git merge-tree --write-tree` and `git commit-tree` and moved onto the base with `git update-ref`
//! against the base's old commit, so the API's branch and `merge_commit_sha` are that real commit and a clone sees
//! the change. Branches that conflict are GitHub's 405 and nothing moves. A repository without git moves only the
//! API's branch map to a made-up commit, as before.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::writes::str_field;
use super::{DOCS, Reply, field_error, next_sha};
use crate::bare::{Bare, MergeError, Method};
use crate::render;
use crate::state::{World, now_rfc3339};

/// GitHub's words for a pull request that cannot be reopened (merged, or its head branch gone).
const CANNOT_REOPEN: &str = "state cannot be changed. The pull request cannot be reopened.";

/// `PATCH /repos/{o}/{r}/pulls/{n}`: every field is checked before any is changed.
pub(super) fn update(w: &mut World, o: &str, r: &str, n: &str, body: &Value) -> Reply {
    let Some(repo) = w.repo(o, r) else { return Reply::not_found() };
    let Some(issue) = repo.issues.iter().find(|i| i.pull.is_some() && n.parse() == Ok(i.number)) else {
        return Reply::not_found();
    };
    let Some(pull) = issue.pull.as_ref() else { return Reply::not_found() };
    let number = issue.number;
    // Strings only; a null body clears it.
    let malformed = |key: &str| body.get(key).is_some_and(|v| !(v.is_string() || key == "body" && v.is_null()));
    if ["title", "body", "state", "base"].into_iter().any(malformed) {
        return Reply::unprocessable("Validation Failed");
    }
    let state = str_field(body, "state");
    if state.is_some_and(|s| s != "open" && s != "closed") {
        return Reply::unprocessable("Validation Failed");
    }
    let base = str_field(body, "base").unwrap_or(&pull.base_ref).to_owned();
    if !repo.branches.contains_key(&base) {
        return field_error("Validation Failed", "PullRequest", "invalid", "base", &format!("base {base} is invalid"));
    }
    let reopen = state == Some("open") && issue.state == "closed";
    if reopen && (pull.merged || !repo.branches.contains_key(&pull.head_ref)) {
        return field_error("Validation Failed", "PullRequest", "custom", "state", CANNOT_REOPEN);
    }
    let duplicate = repo.issues.iter().any(|i| {
        i.number != number
            && i.state == "open"
            && i.pull.as_ref().is_some_and(|p| p.head_ref == pull.head_ref && p.base_ref == base)
    });
    if (reopen || issue.state == "open") && state != Some("closed") && duplicate {
        return Reply::unprocessable(&format!("A pull request already exists for {o}:{}.", pull.head_ref));
    }

    let Some(repo) = w.repo_mut(o, r) else { return Reply::not_found() };
    let Some(issue) = repo.issues.iter_mut().find(|i| i.number == number) else { return Reply::not_found() };
    if let Some(title) = str_field(body, "title") {
        title.clone_into(&mut issue.title);
    }
    if let Some(text) = body.get("body") {
        issue.body = text.as_str().unwrap_or_default().to_owned();
    }
    if let Some(state) = state
        && state != issue.state
    {
        issue.closed_at = (state == "closed").then(now_rfc3339);
        state.clone_into(&mut issue.state);
    }
    if let Some(pull) = issue.pull.as_mut() {
        pull.base_ref = base;
    }
    issue.updated_at = now_rfc3339();
    let (Some(repo), w) = (w.repo(o, r), &*w) else { return Reply::not_found() };
    let Some(issue) = repo.issues.iter().find(|i| i.number == number) else { return Reply::not_found() };
    Reply::json(StatusCode::OK, render::pull(w, repo, issue, true))
}

/// `PUT /repos/{o}/{r}/pulls/{n}/merge`: `merge_method` `merge`, `squash` or `rebase`, only if the head is still
/// `sha` when one is given (409 otherwise), in git when the repository has it.
pub(super) fn merge(w: &mut World, o: &str, r: &str, n: &str, body: &Value) -> Reply {
    let method = match str_field(body, "merge_method").unwrap_or("merge") {
        "merge" => Method::Merge,
        // A rebase merge replays each of the head's commits onto the base; the emulator makes one commit of them,
        // as a squash does, which is the same tree on the base with the base as its only parent.
        "squash" | "rebase" => Method::Squash,
        _ => return Reply::unprocessable("Validation Failed"),
    };
    let author = w.viewer().to_owned();
    let Some(repo) = w.repo(o, r) else { return Reply::not_found() };
    let Some(issue) = repo.issues.iter().find(|i| i.pull.is_some() && n.parse() == Ok(i.number)) else {
        return Reply::not_found();
    };
    let Some(pull) = issue.pull.as_ref() else { return Reply::not_found() };
    let number = issue.number;
    let git_dir = repo.spec.git_dir.clone();
    let bare = git_dir.as_deref().map(Bare::new);
    // The head as git has it now, for a repository backed by git: what a push moved is what is merged.
    let head = match bare {
        Some(bare) => bare.branch_sha(&pull.head_ref),
        None => repo.branches.get(&pull.head_ref).cloned(),
    }
    .unwrap_or_default();
    if str_field(body, "sha").is_some_and(|sha| sha != head) {
        return Reply::error(
            StatusCode::CONFLICT,
            render::error("Head branch was modified. Review and try the merge again.", DOCS, 409),
        );
    }
    if pull.merged || issue.state != "open" || head.is_empty() {
        return not_mergeable("Pull Request is not mergeable");
    }
    if let Some(message) = &repo.merge_refusal {
        return not_mergeable(message);
    }
    let message = commit_message(body, method, number, &issue.title, &issue.body, &format!("{o}/{}", pull.head_ref));
    let base_ref = pull.base_ref.clone();
    let sha = match bare {
        Some(bare) => {
            let Some(base) = bare.branch_sha(&base_ref) else { return not_mergeable("Pull Request is not mergeable") };
            match bare.merge(&base_ref, &base, &head, method, &author, &message) {
                Ok(commit) => commit,
                Err(MergeError::Conflict) => return not_mergeable("Pull Request is not mergeable"),
                Err(MergeError::BaseMoved) => {
                    return not_mergeable("Base branch was modified. Review and try the merge again.");
                }
                Err(MergeError::Git(message)) => {
                    return Reply::error(StatusCode::INTERNAL_SERVER_ERROR, render::error(&message, DOCS, 500));
                }
            }
        }
        None => next_sha(w, &format!("{o}/{r}:merge:{number}")),
    };
    let Some(repo) = w.repo_mut(o, r) else { return Reply::not_found() };
    let Some(issue) = repo.issues.iter_mut().find(|i| i.number == number) else { return Reply::not_found() };
    let Some(pull) = issue.pull.as_mut() else { return Reply::not_found() };
    pull.merged = true;
    pull.merge_sha = Some(sha.clone());
    "closed".clone_into(&mut issue.state);
    issue.closed_at = Some(now_rfc3339());
    issue.updated_at = now_rfc3339();
    repo.branches.insert(base_ref.clone(), sha.clone());
    if git_dir.is_some() {
        // git has the commit too, so the next look at git must not take it for a push.
        repo.git_seen.insert(base_ref, sha.clone());
    }
    Reply::json(StatusCode::OK, json!({ "sha": sha, "merged": true, "message": "Pull Request successfully merged" }))
}

/// GitHub's 405 for a merge it will not make.
fn not_mergeable(message: &str) -> Reply {
    Reply::error(StatusCode::METHOD_NOT_ALLOWED, render::error(message, DOCS, 405))
}

/// The merge commit's message: `commit_title` and `commit_message` when given, else GitHub's defaults (a merge
/// names the pull request and its branch, a squash is the title with the number).
fn commit_message(body: &Value, method: Method, number: u64, title: &str, text: &str, head: &str) -> String {
    let (default_title, default_text) = match method {
        Method::Merge => (format!("Merge pull request #{number} from {head}"), title),
        Method::Squash => (format!("{title} (#{number})"), text),
    };
    let title = str_field(body, "commit_title").map_or(default_title, str::to_owned);
    let text = str_field(body, "commit_message").unwrap_or(default_text);
    if text.is_empty() { title } else { format!("{title}\n\n{text}") }
}
