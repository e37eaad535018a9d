//! Routing and the endpoint handlers. They run under the world lock with the request already authenticated and
//! charged, and only decide GitHub's answer: status, JSON body, and `link` for paginated lists.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::render;
use crate::state::{Comment, Issue, Pull, World, fake_sha, now_rfc3339, repos_of};

mod contents;
mod graphql;
mod pulls;
mod repos;
mod writes;

const DOCS: &str = "https://docs.github.com/rest";

/// What the pipeline needs to know about a request.
pub(crate) struct Ctx<'a> {
    pub(crate) method: &'a Method,
    pub(crate) path: &'a str,
    pub(crate) query: &'a BTreeMap<String, String>,
    pub(crate) query_string: &'a str,
    pub(crate) body: &'a [u8],
    pub(crate) authorized: bool,
    /// Who sent it: a token limited to some owners sees no other owner's repositories.
    pub(crate) caller: &'a crate::state::Caller,
}

/// An answer before headers common to all responses are added.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Option<Value>,
    /// A body sent verbatim instead of `body` (malformed JSON, empty 304).
    pub(crate) raw: Option<String>,
    pub(crate) headers: Vec<(&'static str, String)>,
    /// Report `x-ratelimit-remaining: 0` whatever the budget says.
    pub(crate) exhausted: bool,
    /// Points charged, where a request is not one point (a GraphQL query costs what its connections ask for).
    pub(crate) cost: Option<u32>,
    /// The name of the GraphQL operation answered, for the request log.
    pub(crate) operation: Option<String>,
}

impl Reply {
    pub(crate) fn json(status: StatusCode, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            raw: None,
            headers: Vec::new(),
            exhausted: false,
            cost: None,
            operation: None,
        }
    }
    pub(crate) fn error(status: StatusCode, body: Value) -> Reply {
        Reply::json(status, body)
    }
    pub(crate) fn raw(status: StatusCode, text: &str) -> Reply {
        Reply {
            status,
            body: None,
            raw: Some(text.to_owned()),
            headers: Vec::new(),
            exhausted: false,
            cost: None,
            operation: None,
        }
    }
    fn not_found() -> Reply {
        Reply::error(StatusCode::NOT_FOUND, render::error("Not Found", DOCS, 404))
    }
    fn unprocessable(message: &str) -> Reply {
        Reply::error(StatusCode::UNPROCESSABLE_ENTITY, render::error(message, DOCS, 422))
    }
}

/// GitHub's 422 with one field error: `message` on top, what is wrong with `field` of `resource` in `errors`.
fn field_error(message: &str, resource: &str, code: &str, field: &str, detail: &str) -> Reply {
    let mut body = render::error(message, DOCS, 422);
    body["errors"] = json!([{ "resource": resource, "code": code, "field": field, "message": detail }]);
    Reply::error(StatusCode::UNPROCESSABLE_ENTITY, body)
}

/// Routes a request. Segments are matched as slices so branch names and file paths may contain `/`.
pub(crate) fn dispatch(w: &mut World, ctx: &Ctx<'_>) -> Reply {
    // Clients percent-encode segments (a branch `a/b` may arrive as `a%2Fb`); decode each one after splitting.
    let decoded: Vec<String> = ctx.path.trim_matches('/').split('/').map(percent_decode).collect();
    let segs: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let m = ctx.method.clone();
    if let ["repos", owner, name, ..] = segs.as_slice() {
        // Private repositories do not exist for anonymous callers, as on GitHub.
        // Nor another owner's for a token limited to some owners.
        let visible =
            w.repo(owner, name).is_some_and(|r| (ctx.authorized || !r.spec.private) && w.sees(ctx.caller, owner));
        if !visible {
            return Reply::not_found();
        }
        w.sync_git(owner, name);
    }
    match (m, segs.as_slice()) {
        (Method::GET, ["rate_limit"]) => Reply::json(StatusCode::OK, render::rate_limit(w, ctx.caller)),
        (Method::GET, ["orgs", org, "repos"]) => list_repos(w, ctx, org, true),
        (Method::GET, ["users", user, "repos"]) => list_repos(w, ctx, user, false),
        (Method::GET, ["user"]) if ctx.authorized => Reply::json(StatusCode::OK, render::private_user(w, w.viewer())),
        (Method::GET, ["user"]) => {
            Reply::error(StatusCode::UNAUTHORIZED, render::error("Requires authentication", DOCS, 401))
        }
        (Method::GET, ["users", login]) => repos::account(w, login),
        (Method::POST, ["orgs", org, "repos"]) => repos::create(w, ctx, Some(org)),
        (Method::POST, ["user", "repos"]) => repos::create(w, ctx, None),
        (Method::DELETE, ["repos", o, r]) => repos::delete(w, o, r),
        (Method::GET, ["repos", o, r, "branches"]) => repos::list_branches(w, ctx, o, r),
        (Method::GET, ["repos", o, r, "pulls", n, "reviews"]) => repos::list_reviews(w, ctx, o, r, n),
        (Method::GET, ["repos", o, r]) => {
            let (Some(repo), w) = (w.repo(o, r), &*w) else { return Reply::not_found() };
            Reply::json(StatusCode::OK, render::repo(w, repo, true))
        }
        (Method::GET, ["repos", o, r, "actions", "runs"]) => list_runs(w, ctx, o, r),
        (Method::GET, ["repos", o, r, "actions", "runs", id]) => {
            let Some(repo) = w.repo(o, r) else { return Reply::not_found() };
            match repo.runs.iter().find(|run| id.parse() == Ok(run.id)) {
                Some(run) => Reply::json(StatusCode::OK, render::run(w, repo, run)),
                None => Reply::not_found(),
            }
        }
        (Method::GET, ["repos", o, r, "actions", "runs", id, "jobs"]) => list_jobs(w, ctx, o, r, id),
        (Method::GET, ["repos", o, r, "issues"]) => list_issues(w, ctx, o, r),
        (Method::GET, ["repos", o, r, "issues", n]) => {
            let Some(repo) = w.repo(o, r) else { return Reply::not_found() };
            match repo.issues.iter().find(|i| n.parse() == Ok(i.number)) {
                Some(i) => Reply::json(StatusCode::OK, render::issue(w, repo, i)),
                None => Reply::not_found(),
            }
        }
        (Method::GET, ["repos", o, r, "issues", n, "comments"]) => {
            let Some(repo) = w.repo(o, r) else { return Reply::not_found() };
            let Some(i) = repo.issues.iter().find(|i| n.parse() == Ok(i.number)) else { return Reply::not_found() };
            let items = i.comments.iter().map(|c| render::comment(w, repo, i, c)).collect();
            paginate(w, ctx, items)
        }
        (Method::GET, ["repos", o, r, "pulls"]) => list_pulls(w, ctx, o, r),
        (Method::GET, ["repos", o, r, "pulls", n]) => {
            let Some(repo) = w.repo(o, r) else { return Reply::not_found() };
            match repo.issues.iter().find(|i| i.pull.is_some() && n.parse() == Ok(i.number)) {
                Some(i) => Reply::json(StatusCode::OK, render::pull(w, repo, i, true)),
                None => Reply::not_found(),
            }
        }
        (Method::GET, ["repos", o, r, "git", "ref" | "refs", "heads", branch @ ..]) => {
            let Some(repo) = w.repo(o, r) else { return Reply::not_found() };
            let branch = branch.join("/");
            match repo.branches.get(&branch) {
                Some(sha) => Reply::json(StatusCode::OK, render::git_ref(w, repo, &branch, sha)),
                None => Reply::not_found(),
            }
        }
        (Method::GET, ["repos", o, r, "contents", path @ ..]) => contents::get(w, ctx, o, r, &path.join("/")),
        (Method::GET, ["repos", o, r, "commits", git_ref @ .., "check-runs"]) => {
            let Some(repo) = w.repo(o, r) else { return Reply::not_found() };
            let git_ref = git_ref.join("/");
            let sha = resolve(repo, &git_ref);
            // A ref's own check runs, else the repository's defaults for every ref.
            let own = repo.check_runs.get(&git_ref).or(repo.default_check_runs.as_ref());
            let runs: Vec<Value> = own.into_iter().flatten().map(|cr| render::check_run(w, repo, &sha, cr)).collect();
            let total = runs.len();
            let mut reply = paginate(w, ctx, runs);
            reply.body = reply.body.map(|page| json!({ "total_count": total, "check_runs": page }));
            reply
        }
        (Method::GET, ["repos", o, r, "check-runs", id, "annotations"]) => list_annotations(w, ctx, o, r, id),
        (Method::GET, ["repos", o, r, "commits", git_ref @ .., "status"]) => {
            let Some(repo) = w.repo(o, r) else { return Reply::not_found() };
            let git_ref = git_ref.join("/");
            let sha = resolve(repo, &git_ref);
            let state = repo.statuses.get(&git_ref).map(String::as_str);
            Reply::json(StatusCode::OK, render::combined_status(w, repo, &sha, state))
        }
        (Method::GET, ["repos", o, r, "dependabot", "alerts"]) => {
            let Some(repo) = w.repo(o, r) else { return Reply::not_found() };
            match &repo.dependabot {
                crate::spec::DependabotSpec::Forbidden => Reply::error(
                    StatusCode::FORBIDDEN,
                    render::error("Resource not accessible by integration", DOCS, 403),
                ),
                crate::spec::DependabotSpec::NotFound => Reply::error(
                    StatusCode::NOT_FOUND,
                    render::error("Dependabot alerts are disabled for this repository.", DOCS, 404),
                ),
                crate::spec::DependabotSpec::None => paginate(w, ctx, Vec::new()),
                crate::spec::DependabotSpec::Alerts(alerts) => {
                    // Only open alerts exist in the emulator, so `state=open` and no filter answer the same.
                    let state = ctx.query.get("state").map_or("open", String::as_str);
                    let items = if state.split(',').any(|s| s == "open") {
                        alerts
                            .iter()
                            .enumerate()
                            .map(|(i, (sev, sum))| render::dependabot_alert(w, repo, i + 1, sev, sum))
                            .collect()
                    } else {
                        Vec::new()
                    };
                    paginate(w, ctx, items)
                }
            }
        }
        (Method::GET, ["search", "issues"]) => search_issues(w, ctx),
        (Method::POST, ["graphql"]) => graphql::answer(w, ctx.body, ctx.caller),
        (_, ["repos", ..]) => writes::dispatch(w, ctx, &segs),
        _ => Reply::not_found(),
    }
}

/// Decodes `%XX` escapes; an invalid escape or non-UTF-8 result is kept as written.
fn percent_decode(seg: &str) -> String {
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| seg.to_owned())
}

/// The sha a ref names: a branch's head, or the ref itself (taken to be a sha).
fn resolve(repo: &crate::state::Repo, git_ref: &str) -> String {
    repo.branches.get(git_ref).cloned().unwrap_or_else(|| git_ref.to_owned())
}

fn list_repos(w: &World, ctx: &Ctx<'_>, owner: &str, org: bool) -> Reply {
    // GitHub serves /users/{org}/repos for organisations too, but /orgs/{user}/repos is a 404.
    match w.owners.get(owner) {
        None => return Reply::not_found(),
        Some(_) if !w.sees(ctx.caller, owner) => return Reply::not_found(),
        Some(crate::state::OwnerKind::User) if org => return Reply::not_found(),
        Some(_) => {}
    }
    // Only the page asked for is rendered: an organisation of 10,000 repositories is listed in 100 pages.
    let repos: Vec<_> = repos_of(w, owner).filter(|r| ctx.authorized || !r.spec.private).collect();
    paginate_with(w, ctx, repos.len(), |range| repos[range].iter().map(|r| render::repo(w, r, false)).collect())
}

fn list_runs(w: &World, ctx: &Ctx<'_>, o: &str, r: &str) -> Reply {
    let Some(repo) = w.repo(o, r) else { return Reply::not_found() };
    let q = ctx.query;
    let runs: Vec<&crate::state::Run> = repo
        .runs
        .iter()
        .rev()
        .filter(|run| q.get("branch").is_none_or(|b| run.spec.head_branch.as_deref() == Some(b.as_str())))
        .filter(|run| {
            q.get("status").is_none_or(|s| run.spec.status == *s || run.spec.conclusion.as_deref() == Some(s.as_str()))
        })
        .filter(|run| q.get("head_sha").is_none_or(|s| run.spec.head_sha == *s))
        .collect();
    let total = runs.len();
    let items = runs.into_iter().map(|run| render::run(w, repo, run)).collect();
    let mut reply = paginate(w, ctx, items);
    reply.body = reply.body.map(|page| json!({ "total_count": total, "workflow_runs": page }));
    reply
}

fn list_jobs(w: &World, ctx: &Ctx<'_>, o: &str, r: &str, id: &str) -> Reply {
    let Some(repo) = w.repo(o, r) else { return Reply::not_found() };
    let Some(run) = repo.runs.iter().find(|run| id.parse() == Ok(run.id)) else { return Reply::not_found() };
    let items: Vec<Value> = (0..run.spec.jobs.len()).map(|i| render::job(w, repo, run, i)).collect();
    let total = items.len();
    let mut reply = paginate(w, ctx, items);
    reply.body = reply.body.map(|page| json!({ "total_count": total, "jobs": page }));
    reply
}

/// A check run's annotations. A job's check run has the job's id and carries the job's annotations; the check runs
/// set on commits have none.
fn list_annotations(w: &World, ctx: &Ctx<'_>, o: &str, r: &str, id: &str) -> Reply {
    let Some(repo) = w.repo(o, r) else { return Reply::not_found() };
    let Ok(id) = id.parse::<u64>() else { return Reply::not_found() };
    let job = repo.runs.iter().find_map(|run| run.job_ids.iter().position(|j| *j == id).map(|i| (run, i)));
    let items = match job {
        Some((run, i)) => run.spec.jobs[i].annotations.iter().map(|a| render::annotation(w, repo, run, a)).collect(),
        None if repo.check_runs.values().chain(&repo.default_check_runs).flatten().any(|cr| cr.0 == id) => Vec::new(),
        None => return Reply::not_found(),
    };
    paginate(w, ctx, items)
}

fn state_matches(filter: Option<&String>, state: &str) -> bool {
    match filter.map(String::as_str) {
        None | Some("open") => state == "open",
        Some("all") => true,
        Some(other) => other == state,
    }
}

fn list_issues(w: &World, ctx: &Ctx<'_>, o: &str, r: &str) -> Reply {
    let Some(repo) = w.repo(o, r) else { return Reply::not_found() };
    let labels: Vec<&str> =
        ctx.query.get("labels").map(|l| l.split(',').filter(|s| !s.is_empty()).collect()).unwrap_or_default();
    let items = repo
        .issues
        .iter()
        .rev()
        .filter(|i| state_matches(ctx.query.get("state"), &i.state))
        .filter(|i| labels.iter().all(|l| i.labels.iter().any(|il| il == l)))
        .filter(|i| ctx.query.get("creator").is_none_or(|c| *c == i.user))
        .map(|i| render::issue(w, repo, i))
        .collect();
    paginate(w, ctx, items)
}

fn list_pulls(w: &World, ctx: &Ctx<'_>, o: &str, r: &str) -> Reply {
    let Some(repo) = w.repo(o, r) else { return Reply::not_found() };
    let items = repo
        .issues
        .iter()
        .rev()
        .filter(|i| i.pull.is_some())
        .filter(|i| state_matches(ctx.query.get("state"), &i.state))
        .filter(|i| {
            let p = i.pull.as_ref().map(|p| (p.head_ref.as_str(), p.base_ref.as_str())).unwrap_or_default();
            ctx.query.get("head").is_none_or(|h| h.rsplit(':').next() == Some(p.0))
                && ctx.query.get("base").is_none_or(|b| b == p.1)
        })
        .map(|i| render::pull(w, repo, i, false))
        .collect();
    paginate(w, ctx, items)
}

/// `GET /search/issues`: enough of GitHub's query language for exact-title lookups (`repo:`, `label:`, `is:`,
/// `state:`, `in:title`, quoted or bare words, all case-insensitive).
fn search_issues(w: &World, ctx: &Ctx<'_>) -> Reply {
    let q = ctx.query.get("q").cloned().unwrap_or_default();
    let mut repo_filter = Vec::new();
    let (mut labels, mut words, mut kind, mut state) = (Vec::new(), Vec::new(), None, None);
    let mut rest = q.as_str();
    while !rest.trim_start().is_empty() {
        rest = rest.trim_start();
        let token: String;
        if let Some(stripped) = rest.strip_prefix('"') {
            let end = stripped.find('"').unwrap_or(stripped.len());
            token = format!("\"{}", &stripped[..end]);
            rest = stripped.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            token = rest[..end].to_owned();
            rest = &rest[end..];
        }
        if let Some(phrase) = token.strip_prefix('"') {
            words.push(phrase.to_lowercase());
        } else if let Some(v) = token.strip_prefix("repo:") {
            repo_filter.push(v.to_owned());
        } else if let Some(v) = token.strip_prefix("label:") {
            labels.push(v.trim_matches('"').to_owned());
        } else if let Some(v) = token.strip_prefix("is:").or_else(|| token.strip_prefix("type:")) {
            match v {
                "issue" | "pr" | "pull-request" => kind = Some(v == "issue"),
                "open" | "closed" => state = Some(v.to_owned()),
                _ => {}
            }
        } else if let Some(v) = token.strip_prefix("state:") {
            state = Some(v.to_owned());
        } else if token.starts_with("in:") {
            // Only titles are searched, so `in:title` changes nothing.
        } else {
            words.push(token.to_lowercase());
        }
    }
    let mut items = Vec::new();
    for repo in w.repos.values() {
        let full = format!("{}/{}", repo.spec.owner, repo.spec.name);
        if !repo_filter.is_empty() && !repo_filter.iter().any(|f| f.eq_ignore_ascii_case(&full)) {
            continue;
        }
        if repo.spec.private && !ctx.authorized {
            continue;
        }
        for i in repo.issues.iter().rev() {
            let title = i.title.to_lowercase();
            let ok = kind.is_none_or(|is_issue| is_issue == i.pull.is_none())
                && state.as_deref().is_none_or(|s| s == i.state)
                && labels.iter().all(|l| i.labels.iter().any(|il| il.eq_ignore_ascii_case(l)))
                && words.iter().all(|wd| title.contains(wd.as_str()));
            if ok {
                items.push(render::search_item(w, repo, i));
            }
        }
    }
    let total = items.len();
    let mut reply = paginate(w, ctx, items);
    reply.body = reply.body.map(
        |page| json!({ "total_count": total, "incomplete_results": false, "search_type": "lexical", "items": page }),
    );
    reply
}

/// Cuts `items` to the requested page (`per_page` default 30, at most 100) and adds GitHub's `link` header with
/// absolute URLs on the emulator's host.
fn paginate(w: &World, ctx: &Ctx<'_>, items: Vec<Value>) -> Reply {
    let len = items.len();
    paginate_with(w, ctx, len, |range| items[range].to_vec())
}

/// [`paginate`] for a list of `len` items of which `render` makes only those in the page's range.
fn paginate_with(
    w: &World,
    ctx: &Ctx<'_>,
    len: usize,
    render: impl FnOnce(std::ops::Range<usize>) -> Vec<Value>,
) -> Reply {
    let per_page = ctx.query.get("per_page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(30).clamp(1, 100);
    let page = ctx.query.get("page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(1).max(1);
    let last = len.div_ceil(per_page).max(1);
    let start = (page - 1).saturating_mul(per_page).min(len);
    let body = render(start..(start + per_page).min(len));
    let mut reply = Reply::json(StatusCode::OK, Value::Array(body));
    let url = |p: usize| {
        let mut params: Vec<String> = ctx
            .query_string
            .split('&')
            .filter(|kv| !kv.is_empty() && !kv.starts_with("page="))
            .map(str::to_owned)
            .collect();
        params.push(format!("page={p}"));
        format!("<{}{}?{}>", w.base_url, ctx.path, params.join("&"))
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", url(page - 1)));
    }
    if page < last {
        links.push(format!("{}; rel=\"next\"", url(page + 1)));
        links.push(format!("{}; rel=\"last\"", url(last)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"first\"", url(1)));
    }
    if !links.is_empty() {
        reply.headers.push(("link", links.join(", ")));
    }
    reply
}

fn new_issue(
    w: &mut World,
    number: u64,
    title: String,
    body: String,
    labels: Vec<String>,
    pull: Option<Pull>,
) -> Issue {
    let now = now_rfc3339();
    Issue {
        id: w.id(),
        number,
        title,
        body,
        state: "open".to_owned(),
        labels,
        user: "octocat".to_owned(),
        created_at: now.clone(),
        updated_at: now,
        closed_at: None,
        comments: Vec::<Comment>::new(),
        pull,
    }
}

fn next_sha(w: &mut World, seed: &str) -> String {
    let n = w.id();
    fake_sha(&format!("{seed}#{n}"))
}
