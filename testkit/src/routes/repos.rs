//! Repositories made and removed through the API, their branches as git sees them, the accounts behind them and
//! pull request reviews.
//!
//! A repository created here is backed by a new bare git repository (its `clone_url`), like the fixtures made with
//! [`RepoSpec::git_dir`](crate::RepoSpec::git_dir): a client pushes to it with the real `git`, and what it pushed is
//! what the API shows, because every request about a git-backed repository first reads its branches from git.

use std::path::PathBuf;

use axum::http::StatusCode;
use serde_json::Value;

use super::{Ctx, DOCS, Reply, paginate};
use crate::render;
use crate::spec::RepoSpec;
use crate::state::{OwnerKind, Review, World, now_rfc3339};

/// `POST /orgs/{org}/repos` (`org: Some`) and `POST /user/repos` (`None`: the accepted token's user).
pub(super) fn create(w: &mut World, ctx: &Ctx<'_>, org: Option<&str>) -> Reply {
    let owner = match org {
        Some(org) if w.owners.get(org) == Some(&OwnerKind::Org) => org.to_owned(),
        Some(_) => return Reply::not_found(),
        None => w.viewer().to_owned(),
    };
    let Ok(body) = serde_json::from_slice::<Value>(ctx.body) else {
        return Reply::error(StatusCode::BAD_REQUEST, render::error("Problems parsing JSON", DOCS, 400));
    };
    let Some(name) = body.get("name").and_then(Value::as_str) else {
        return creation_failed("missing_field", "name is missing");
    };
    let valid = !name.is_empty()
        && name.len() <= 100
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !valid {
        return creation_failed("invalid", "name is invalid");
    }
    // GitHub compares repository names without regard to case.
    let taken = w.repos.keys().any(|(o, n)| o.eq_ignore_ascii_case(&owner) && n.eq_ignore_ascii_case(name));
    if taken {
        return creation_failed("custom", "name already exists on this account");
    }
    let dir = match bare_repository(w, &owner, name) {
        Ok(dir) => dir,
        Err(message) => {
            return Reply::error(StatusCode::INTERNAL_SERVER_ERROR, render::error(&message, DOCS, 500));
        }
    };
    let private = body.get("private").and_then(Value::as_bool).unwrap_or(false)
        || body.get("visibility").and_then(Value::as_str) == Some("private");
    let description = body.get("description").and_then(Value::as_str).unwrap_or("");
    let now = now_rfc3339();
    let spec = RepoSpec::new(&owner, name).private(private).description(description).git_dir(dir).pushed_at(&now);
    let mut repo = w.new_repo(spec, now);
    repo.made_by_api = true;
    let key = (owner.clone(), name.to_owned());
    w.repos.insert(key, repo);
    let Some(repo) = w.repo(&owner, name) else { return Reply::not_found() };
    let mut reply = Reply::json(StatusCode::CREATED, render::repo(w, repo, true));
    reply.headers.push(("location", format!("{}/repos/{owner}/{name}", w.base_url)));
    reply
}

/// GitHub's 422 for a repository that cannot be created, with the field error it names.
fn creation_failed(code: &str, message: &str) -> Reply {
    super::field_error("Repository creation failed.", "Repository", code, "name", message)
}

/// A new, empty bare repository `<git root>/<owner>/<name>.git` whose first branch will be `main`.
fn bare_repository(w: &mut World, owner: &str, name: &str) -> Result<PathBuf, String> {
    if w.git_root.is_none() {
        let root = tempfile::Builder::new()
            .prefix("hive-emulator-git-")
            .tempdir()
            .map_err(|err| format!("cannot make the emulator's git directory: {err}"))?;
        w.git_root = Some(root);
    }
    let root = w.git_root.as_ref().map(|root| root.path().join(owner)).ok_or("no git directory")?;
    // Names compare without case, so a removed `Api` must not leave a directory in the way of a new `api`.
    let dir = root.join(format!("{}.git", name.to_ascii_lowercase()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|err| format!("cannot clear '{}': {err}", dir.display()))?;
    }
    std::fs::create_dir_all(&root).map_err(|err| format!("cannot make '{}': {err}", root.display()))?;
    crate::bare::init(&dir)
}

/// `DELETE /repos/{owner}/{repo}`: gone from the API, and its git data with it when the API made it.
pub(super) fn delete(w: &mut World, o: &str, r: &str) -> Reply {
    let Some(repo) = w.repos.remove(&(o.to_owned(), r.to_owned())) else { return Reply::not_found() };
    if repo.made_by_api
        && let Some(dir) = &repo.spec.git_dir
    {
        // Best effort: the directory is inside the emulator's own temporary directory, removed with it anyway.
        let _ = std::fs::remove_dir_all(dir);
    }
    Reply::raw(StatusCode::NO_CONTENT, "")
}

/// `GET /users/{username}`: a known organisation or user, or the token's user.
pub(super) fn account(w: &World, login: &str) -> Reply {
    if w.owners.contains_key(login) || login == w.viewer() {
        Reply::json(StatusCode::OK, render::public_user(w, login))
    } else {
        Reply::not_found()
    }
}

/// `GET /repos/{owner}/{repo}/branches`.
pub(super) fn list_branches(w: &World, ctx: &Ctx<'_>, o: &str, r: &str) -> Reply {
    let Some(repo) = w.repo(o, r) else { return Reply::not_found() };
    let items = repo.branches.iter().map(|(name, sha)| render::branch(w, repo, name, sha)).collect();
    paginate(w, ctx, items)
}

/// `GET /repos/{owner}/{repo}/pulls/{n}/reviews`, oldest first.
pub(super) fn list_reviews(w: &World, ctx: &Ctx<'_>, o: &str, r: &str, n: &str) -> Reply {
    let Some(repo) = w.repo(o, r) else { return Reply::not_found() };
    let Some(number) = pull_number(repo, n) else { return Reply::not_found() };
    let reviews = repo.reviews.get(&number).map(Vec::as_slice).unwrap_or_default();
    let items = reviews.iter().map(|review| render::review(w, repo, number, review)).collect();
    paginate(w, ctx, items)
}

/// `POST /repos/{owner}/{repo}/pulls/{n}/reviews`, as a person reviewing on the website: `APPROVE`,
/// `REQUEST_CHANGES` and `COMMENT` submit the review, no event leaves it pending. The review is the token's
/// user's (the emulator has one identity, so GitHub's rule that authors cannot approve their own pull requests is
/// not modelled), on `commit_id` or the head as it is now.
pub(super) fn create_review(w: &mut World, o: &str, r: &str, n: &str, body: &Value) -> Reply {
    let Some(repo) = w.repo(o, r) else { return Reply::not_found() };
    let Some(number) = pull_number(repo, n) else { return Reply::not_found() };
    let text = body.get("body").and_then(Value::as_str).unwrap_or("");
    let state = match body.get("event").and_then(Value::as_str) {
        None => "PENDING",
        Some("APPROVE") => "APPROVED",
        Some("REQUEST_CHANGES") | Some("COMMENT") if text.is_empty() => {
            return Reply::unprocessable("Unprocessable Entity: body is required for this event");
        }
        Some("REQUEST_CHANGES") => "CHANGES_REQUESTED",
        Some("COMMENT") => "COMMENTED",
        Some(_) => return Reply::unprocessable("Validation Failed"),
    };
    let head = repo
        .issues
        .iter()
        .find(|i| i.number == number)
        .and_then(|i| i.pull.as_ref())
        .and_then(|p| repo.branches.get(&p.head_ref))
        .cloned()
        .unwrap_or_default();
    let commit_id = body.get("commit_id").and_then(Value::as_str).map_or(head, str::to_owned);
    let id = w.id();
    let user = w.viewer().to_owned();
    let review =
        Review { id, user, body: text.to_owned(), state: state.to_owned(), commit_id, submitted_at: now_rfc3339() };
    let Some(repo) = w.repo_mut(o, r) else { return Reply::not_found() };
    repo.reviews.entry(number).or_default().push(review.clone());
    let Some(repo) = w.repo(o, r) else { return Reply::not_found() };
    Reply::json(StatusCode::OK, render::review(w, repo, number, &review))
}

/// The number of an existing pull request.
fn pull_number(repo: &crate::state::Repo, n: &str) -> Option<u64> {
    let number = n.parse::<u64>().ok()?;
    repo.issues.iter().any(|i| i.number == number && i.pull.is_some()).then_some(number)
}
