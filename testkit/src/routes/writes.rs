//! The endpoints that change the world: issues, comments, labels, pull requests (changed and merged in
//! `pulls.rs`), branches, file commits and job re-runs. Each validates like GitHub (404 for unknown things, 422 for invalid input, 403 on an
//! archived repository) before changing anything, so a failed write leaves no trace.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Ctx, DOCS, Reply, new_issue, next_sha};
use crate::bare::Bare;
use crate::render;
use crate::state::{Comment, Pull, World, now_rfc3339};

pub(super) fn str_field<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get(key).and_then(Value::as_str)
}

fn labels_of(body: &Value, key: &str) -> Option<Vec<String>> {
    // GitHub accepts label names or objects with a `name`.
    body.get(key).and_then(Value::as_array).map(|items| {
        items
            .iter()
            .filter_map(|l| l.as_str().or_else(|| l.get("name").and_then(Value::as_str)).map(str::to_owned))
            .collect()
    })
}

pub(super) fn dispatch(w: &mut World, ctx: &Ctx<'_>, segs: &[&str]) -> Reply {
    let body: Value = if ctx.body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(ctx.body) {
            Ok(v) => v,
            Err(_) => return Reply::error(StatusCode::BAD_REQUEST, render::error("Problems parsing JSON", DOCS, 400)),
        }
    };
    let ["repos", o, r, rest @ ..] = segs else { return Reply::not_found() };
    let (o, r) = (o.to_string(), r.to_string());
    let Some(repo) = w.repo(&o, &r) else { return Reply::not_found() };
    if repo.spec.archived {
        return Reply::error(
            StatusCode::FORBIDDEN,
            render::error("Repository was archived so is read-only.", DOCS, 403),
        );
    }
    let m = ctx.method.clone();
    match (m, rest) {
        (Method::POST, ["issues"]) => {
            let Some(title) = str_field(&body, "title") else { return Reply::unprocessable("Validation Failed") };
            let labels = labels_of(&body, "labels").unwrap_or_default();
            for l in &labels {
                w.label_id(&o, &r, l);
            }
            let number = w.repo(&o, &r).map_or(1, |repo| repo.issues.len() as u64 + 1);
            let issue =
                new_issue(w, number, title.to_owned(), str_field(&body, "body").unwrap_or("").to_owned(), labels, None);
            let Some(repo) = w.repo_mut(&o, &r) else { return Reply::not_found() };
            repo.issues.push(issue);
            issue_reply(w, &o, &r, number, StatusCode::CREATED)
        }
        (Method::PATCH, ["issues", n]) => {
            let Ok(n) = n.parse::<u64>() else { return Reply::not_found() };
            let labels = labels_of(&body, "labels");
            for l in labels.iter().flatten() {
                w.label_id(&o, &r, l);
            }
            let Some(repo) = w.repo_mut(&o, &r) else { return Reply::not_found() };
            let Some(issue) = repo.issues.iter_mut().find(|i| i.number == n) else { return Reply::not_found() };
            if let Some(state) = str_field(&body, "state") {
                if state != "open" && state != "closed" {
                    return Reply::unprocessable("Validation Failed");
                }
                if state != issue.state {
                    issue.closed_at = (state == "closed").then(now_rfc3339);
                    issue.state = state.to_owned();
                }
            }
            if let Some(t) = str_field(&body, "title") {
                issue.title = t.to_owned();
            }
            if let Some(b) = str_field(&body, "body") {
                issue.body = b.to_owned();
            }
            if let Some(l) = labels {
                issue.labels = l;
            }
            issue.updated_at = now_rfc3339();
            issue_reply(w, &o, &r, n, StatusCode::OK)
        }
        (Method::POST, ["issues", n, "comments"]) => {
            let Ok(n) = n.parse::<u64>() else { return Reply::not_found() };
            let Some(text) = str_field(&body, "body") else { return Reply::unprocessable("Validation Failed") };
            let id = w.id();
            let Some(repo) = w.repo_mut(&o, &r) else { return Reply::not_found() };
            let Some(issue) = repo.issues.iter_mut().find(|i| i.number == n) else { return Reply::not_found() };
            let comment = Comment { id, body: text.to_owned(), created_at: now_rfc3339() };
            issue.comments.push(comment.clone());
            issue.updated_at = now_rfc3339();
            let (Some(repo), w) = (w.repo(&o, &r), &*w) else { return Reply::not_found() };
            let Some(issue) = repo.issues.iter().find(|i| i.number == n) else { return Reply::not_found() };
            Reply::json(StatusCode::CREATED, render::comment(w, repo, issue, &comment))
        }
        (Method::POST, ["issues", n, "labels"]) => {
            let Ok(n) = n.parse::<u64>() else { return Reply::not_found() };
            // Both `{"labels": [...]}` and a bare array are documented request bodies.
            let labels = if body.is_array() {
                labels_of(&json!({ "labels": body }), "labels")
            } else {
                labels_of(&body, "labels")
            };
            let Some(labels) = labels else { return Reply::unprocessable("Validation Failed") };
            for l in &labels {
                w.label_id(&o, &r, l);
            }
            let Some(repo) = w.repo_mut(&o, &r) else { return Reply::not_found() };
            let Some(issue) = repo.issues.iter_mut().find(|i| i.number == n) else { return Reply::not_found() };
            for l in labels {
                if !issue.labels.contains(&l) {
                    issue.labels.push(l);
                }
            }
            let (Some(repo), w) = (w.repo(&o, &r), &*w) else { return Reply::not_found() };
            let Some(issue) = repo.issues.iter().find(|i| i.number == n) else { return Reply::not_found() };
            Reply::json(
                StatusCode::OK,
                json!(issue.labels.iter().map(|l| render::label(w, repo, l)).collect::<Vec<_>>()),
            )
        }
        (Method::POST, ["pulls"]) => {
            let (Some(title), Some(head), Some(base)) =
                (str_field(&body, "title"), str_field(&body, "head"), str_field(&body, "base"))
            else {
                return Reply::unprocessable("Validation Failed");
            };
            let head = head.rsplit(':').next().unwrap_or(head).to_owned();
            let Some(repo) = w.repo_mut(&o, &r) else { return Reply::not_found() };
            // A branch pushed over git exists for the API from then on, as on GitHub.
            if !repo.branches.contains_key(&head)
                && let Some(sha) = repo.spec.git_dir.as_deref().and_then(|dir| Bare::new(dir).branch_sha(&head))
            {
                repo.branches.insert(head.clone(), sha);
            }
            if !repo.branches.contains_key(&head) || !repo.branches.contains_key(base) {
                return Reply::unprocessable("Validation Failed");
            }
            let open_dup = repo.issues.iter().any(|i| {
                i.state == "open" && i.pull.as_ref().is_some_and(|p| p.head_ref == head && p.base_ref == base)
            });
            if open_dup {
                return Reply::unprocessable(&format!("A pull request already exists for {o}:{head}."));
            }
            let number = repo.issues.len() as u64 + 1;
            let pid = w.id();
            let pull = Pull {
                id: pid,
                head_ref: head,
                base_ref: base.to_owned(),
                draft: body.get("draft").and_then(Value::as_bool).unwrap_or(false),
                merged: false,
                merge_sha: None,
            };
            let issue = new_issue(
                w,
                number,
                title.to_owned(),
                str_field(&body, "body").unwrap_or("").to_owned(),
                Vec::new(),
                Some(pull),
            );
            let Some(repo) = w.repo_mut(&o, &r) else { return Reply::not_found() };
            repo.issues.push(issue);
            let (Some(repo), w) = (w.repo(&o, &r), &*w) else { return Reply::not_found() };
            let Some(issue) = repo.issues.iter().find(|i| i.number == number) else { return Reply::not_found() };
            Reply::json(StatusCode::CREATED, render::pull(w, repo, issue, true))
        }
        (Method::PATCH, ["pulls", n]) => super::pulls::update(w, &o, &r, n, &body),
        (Method::PUT, ["pulls", n, "merge"]) => super::pulls::merge(w, &o, &r, n, &body),
        (Method::POST, ["pulls", n, "reviews"]) => super::repos::create_review(w, &o, &r, n, &body),
        (Method::POST, ["git", "refs"]) => {
            let (Some(full_ref), Some(sha)) = (str_field(&body, "ref"), str_field(&body, "sha")) else {
                return Reply::unprocessable("Invalid request.");
            };
            let Some(branch) = full_ref.strip_prefix("refs/heads/") else {
                return Reply::unprocessable("Reference name must start with 'refs/heads/'");
            };
            let Some(repo) = w.repo_mut(&o, &r) else { return Reply::not_found() };
            if repo.branches.contains_key(branch) {
                return Reply::unprocessable("Reference already exists");
            }
            repo.branches.insert(branch.to_owned(), sha.to_owned());
            let (Some(repo), w) = (w.repo(&o, &r), &*w) else { return Reply::not_found() };
            Reply::json(StatusCode::CREATED, render::git_ref(w, repo, branch, sha))
        }
        (Method::PUT, ["contents", path @ ..]) => {
            let path = path.join("/");
            let (Some(message), Some(content)) = (str_field(&body, "message"), str_field(&body, "content")) else {
                return Reply::unprocessable("Invalid request.");
            };
            let Some(repo) = w.repo(&o, &r) else { return Reply::not_found() };
            let branch = str_field(&body, "branch").map_or_else(|| repo.spec.default_branch.clone(), str::to_owned);
            if !repo.branches.contains_key(&branch) {
                return Reply::error(
                    StatusCode::NOT_FOUND,
                    render::error(&format!("Branch {branch} not found"), DOCS, 404),
                );
            }
            let exists = repo.files.contains_key(&(branch.clone(), path.clone()));
            if exists && str_field(&body, "sha").is_none() {
                return Reply::unprocessable("Invalid request.\n\n\"sha\" wasn't supplied.");
            }
            let sha = next_sha(w, &format!("{o}/{r}:{branch}:{path}"));
            let Some(repo) = w.repo_mut(&o, &r) else { return Reply::not_found() };
            repo.files.insert((branch.clone(), path.clone()), content.to_owned());
            repo.branches.insert(branch.clone(), sha.clone());
            let (Some(repo), w) = (w.repo(&o, &r), &*w) else { return Reply::not_found() };
            let status = if exists { StatusCode::OK } else { StatusCode::CREATED };
            Reply::json(status, render::file_commit(w, repo, &branch, &path, &sha, message, content.len() * 3 / 4))
        }
        (Method::POST, ["actions", "runs", id, "rerun-failed-jobs"]) => {
            // As on GitHub, the run keeps its id and starts a new attempt: queued, its failed jobs queued again. A test
            // finishes the attempt with `EmulatorState::complete_run`.
            let Ok(run_id) = id.parse() else { return Reply::not_found() };
            match w.rerun_failed_jobs(&o, &r, run_id) {
                Ok(()) => Reply::json(StatusCode::CREATED, json!({})),
                Err(true) => {
                    Reply::error(StatusCode::FORBIDDEN, render::error("This workflow is already running", DOCS, 403))
                }
                Err(false) => Reply::not_found(),
            }
        }
        _ => Reply::not_found(),
    }
}

fn issue_reply(w: &World, o: &str, r: &str, n: u64, status: StatusCode) -> Reply {
    let Some(repo) = w.repo(o, r) else { return Reply::not_found() };
    match repo.issues.iter().find(|i| i.number == n) {
        Some(i) => Reply::json(status, render::issue(w, repo, i)),
        None => Reply::not_found(),
    }
}
