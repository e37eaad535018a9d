//! GitHub's JSON, built from the example responses in GitHub's OpenAPI description (`openapi/subset.json`): each
//! object starts as GitHub's own example, is moved onto the emulator's host and repository, and gets the emulator's
//! values for the fields that carry meaning. Fields we do not model keep GitHub's example values, so clients see
//! every field a real response has.

use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::bare::{Bare, TreeEntry};
use crate::spec::AnnotationSpec;
use crate::state::{CheckRun, Issue, Repo, Run, World};

/// The extracted OpenAPI subset, embedded so the emulator needs no files at run time.
pub(crate) const SUBSET: &str = include_str!("../openapi/subset.json");

fn examples() -> &'static Value {
    static EX: OnceLock<Value> = OnceLock::new();
    EX.get_or_init(|| {
        let doc: Value = serde_json::from_str(SUBSET).expect("openapi/subset.json is valid JSON, checked by tests");
        doc["components"]["examples"].clone()
    })
}

/// GitHub's example `name`, its `value` or the first element of `value[list_key]` (or of `value` when it is an
/// array and `list_key` is empty).
fn example(name: &str, list_key: &str) -> Value {
    let v = &examples()[name]["value"];
    let v = if list_key.is_empty() { v } else { &v[list_key] };
    match v {
        Value::Array(items) => items.first().cloned().unwrap_or(Value::Null),
        other => other.clone(),
    }
}

/// The owner/repository pairs GitHub's examples use; rebasing replaces them with the real ones.
const EXAMPLE_REPOS: [&str; 5] =
    ["octocat/Hello-World", "octo-org/octo-repo", "github/hello-world", "octocat/hello-world", "octokit/octokit.rb"];

/// Moves every URL in `v` from api.github.com to the emulator and from the example repository to `full_name`.
fn rebase(v: &mut Value, base: &str, full_name: &str) {
    match v {
        Value::String(s) if s.contains("github.com") || s.contains("githubusercontent.com") => {
            let mut out = s.replace("https://api.github.com", base);
            if !full_name.is_empty() {
                for ex in EXAMPLE_REPOS {
                    out = out.replace(&format!("/{ex}/"), &format!("/{full_name}/"));
                    if out.ends_with(&format!("/{ex}")) {
                        out = format!("{}/{full_name}", &out[..out.len() - ex.len() - 1]);
                    }
                }
            }
            *s = out;
        }
        Value::Array(items) => items.iter_mut().for_each(|i| rebase(i, base, full_name)),
        Value::Object(map) => map.values_mut().for_each(|i| rebase(i, base, full_name)),
        _ => {}
    }
}

fn set(v: &mut Value, key: &str, val: Value) {
    if let Value::Object(map) = v {
        map.insert(key.to_owned(), val);
    }
}

/// A node id in GitHub's legacy format (base64 of "kind:id" style is not needed; uniqueness is).
pub(crate) fn node_id(kind: &str, id: u64) -> String {
    format!("{kind}_kwDO{id:08}")
}

/// `simple-user` for a login.
pub(crate) fn user(w: &World, login: &str) -> Value {
    account(w, login, example("issue", "")["user"].clone())
}

/// `public-user` for a login (`GET /users/{username}`), an organisation's too, as GitHub answers it.
pub(crate) fn public_user(w: &World, login: &str) -> Value {
    let mut u = account(w, login, example("public-user-default-response", ""));
    set(&mut u, "name", json!(login));
    set(&mut u, "public_repos", json!(crate::state::repos_of(w, login).filter(|r| !r.spec.private).count()));
    u
}

/// `private-user` for the accepted token's user (`GET /user`).
pub(crate) fn private_user(w: &World, login: &str) -> Value {
    let mut u = account(w, login, example("private-user-response-with-public-and-private-profile-information", ""));
    set(&mut u, "name", json!(login));
    u
}

/// One of GitHub's example accounts moved onto the emulator's host and made `login`'s.
fn account(w: &World, login: &str, mut u: Value) -> Value {
    rebase(&mut u, &w.base_url, "");
    if let Value::Object(map) = &mut u {
        for val in map.values_mut() {
            if let Value::String(s) = val {
                *s = s.replace("/users/octocat", &format!("/users/{login}"));
            }
        }
    }
    let id = login.bytes().fold(1u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))) % 100_000_000;
    let kind = match w.owner_kind(login) {
        crate::state::OwnerKind::Org => "Organization",
        crate::state::OwnerKind::User => "User",
    };
    set(&mut u, "login", json!(login));
    set(&mut u, "id", json!(id));
    set(&mut u, "node_id", json!(node_id("U", id)));
    set(&mut u, "type", json!(kind));
    set(&mut u, "html_url", json!(format!("https://github.com/{login}")));
    u
}

fn license(spdx: &str) -> Value {
    json!({
        "key": spdx.to_lowercase(), "name": format!("{spdx} License"), "spdx_id": spdx,
        "url": format!("https://api.github.com/licenses/{}", spdx.to_lowercase()), "node_id": "MDc6TGljZW5zZW1pdA=="
    })
}

fn open_count(repo: &Repo) -> usize {
    repo.issues.iter().filter(|i| i.state == "open").count()
}

/// `full-repository` (`full = true`, for `GET /repos/{o}/{r}`) or `minimal-repository` (lists).
pub(crate) fn repo(w: &World, r: &Repo, full: bool) -> Value {
    let s = &r.spec;
    let full_name = format!("{}/{}", s.owner, s.name);
    let mut v =
        if full { example("full-repository-default-response", "") } else { example("minimal-repository-items", "") };
    rebase(&mut v, &w.base_url, &full_name);
    if let Value::Object(map) = &mut v {
        // A fork's parent/source and a template's origin are full repositories we do not model; GitHub omits them
        // when they do not apply, so omitting them is a real shape.
        for k in ["parent", "source", "template_repository", "organization"] {
            map.remove(k);
        }
    }
    let open = open_count(r);
    // `language` is required by the schema but missing from GitHub's example; GitHub sends null when it has none.
    if v.get("language").is_none() {
        set(&mut v, "language", Value::Null);
    }
    for (k, val) in [
        ("id", json!(r.id)),
        ("node_id", json!(node_id("R", r.id))),
        ("name", json!(s.name)),
        ("full_name", json!(full_name)),
        ("owner", user(w, &s.owner)),
        ("private", json!(s.private)),
        ("visibility", json!(if s.private { "private" } else { "public" })),
        ("html_url", json!(format!("https://github.com/{full_name}"))),
        (
            "clone_url",
            json!(
                s.git_dir
                    .as_ref()
                    .map_or_else(|| format!("https://github.com/{full_name}.git"), |dir| dir.display().to_string())
            ),
        ),
        ("fork", json!(s.fork)),
        ("archived", json!(s.archived)),
        ("disabled", json!(false)),
        ("is_template", json!(s.is_template)),
        ("default_branch", json!(s.default_branch)),
        ("size", json!(if r.branches.is_empty() { 0 } else { 108 })),
        ("stargazers_count", json!(s.stars)),
        ("watchers_count", json!(s.stars)),
        ("watchers", json!(s.stars)),
        ("subscribers_count", json!(s.watchers)),
        ("forks_count", json!(s.forks)),
        ("forks", json!(s.forks)),
        ("open_issues_count", json!(open)),
        ("open_issues", json!(open)),
        ("license", s.license.as_deref().map_or(Value::Null, license)),
        ("pushed_at", json!(s.pushed_at)),
        ("created_at", json!(r.created_at)),
        ("updated_at", json!(s.pushed_at)),
    ] {
        set(&mut v, k, val);
    }
    match s.description.as_deref() {
        Some("") => set(&mut v, "description", Value::Null),
        Some(text) => set(&mut v, "description", json!(text)),
        None => {}
    }
    if full && let Some(org) = (w.owner_kind(&s.owner) == crate::state::OwnerKind::Org).then(|| user(w, &s.owner)) {
        set(&mut v, "organization", org);
    }
    v
}

/// `workflow-run`.
pub(crate) fn run(w: &World, r: &Repo, run: &Run) -> Value {
    let full_name = format!("{}/{}", r.spec.owner, r.spec.name);
    let mut v = example("workflow-run-paginated", "workflow_runs");
    rebase(&mut v, &w.base_url, &full_name);
    let old_id = v["id"].as_u64().unwrap_or(0).to_string();
    replace_in_strings(&mut v, &format!("/runs/{old_id}"), &format!("/runs/{}", run.id));
    let s = &run.spec;
    // Runs of one workflow share its id, and clients group runs by it; derive it from the name so it is stable.
    let workflow_id =
        s.workflow_name.bytes().fold(7u64, |h, b| h.wrapping_mul(131).wrapping_add(u64::from(b))) % 10_000_000;
    for (k, val) in [
        ("id", json!(run.id)),
        ("workflow_id", json!(workflow_id)),
        ("workflow_url", json!(format!("{}/repos/{full_name}/actions/workflows/{workflow_id}", w.base_url))),
        ("node_id", json!(node_id("WFR", run.id))),
        ("name", json!(s.workflow_name)),
        ("display_title", json!(s.workflow_name)),
        ("head_branch", json!(s.head_branch)),
        ("head_sha", json!(s.head_sha)),
        ("status", json!(s.status)),
        ("conclusion", json!(s.conclusion)),
        ("run_number", json!(run.number)),
        ("run_attempt", json!(s.run_attempt)),
        ("created_at", json!(run.created_at)),
        ("updated_at", json!(hive_support::rfc3339(run.updated_at))),
        ("run_started_at", json!(run.created_at)),
        ("repository", repo(w, r, false)),
        ("head_repository", repo(w, r, false)),
        ("actor", user(w, "octocat")),
        ("triggering_actor", user(w, "octocat")),
        (
            "path",
            json!(format!(
                ".github/workflows/{}.yml@{}",
                s.workflow_name.to_lowercase().replace(' ', "-"),
                s.head_branch.as_deref().unwrap_or("main")
            )),
        ),
    ] {
        set(&mut v, k, val);
    }
    if let Some(hc) = v.get_mut("head_commit") {
        set(hc, "id", json!(s.head_sha));
        set(hc, "tree_id", json!(s.head_sha));
    }
    v
}

fn replace_in_strings(v: &mut Value, from: &str, to: &str) {
    match v {
        Value::String(s) if s.contains(from) => *s = s.replace(from, to),
        Value::Array(items) => items.iter_mut().for_each(|i| replace_in_strings(i, from, to)),
        Value::Object(map) => map.values_mut().for_each(|i| replace_in_strings(i, from, to)),
        _ => {}
    }
}

/// `job` (the `index`-th job of `run`), with `run_attempt`, which octocrab requires and GitHub always sends.
pub(crate) fn job(w: &World, r: &Repo, run: &Run, index: usize) -> Value {
    let full_name = format!("{}/{}", r.spec.owner, r.spec.name);
    let mut v = example("job-paginated", "jobs");
    rebase(&mut v, &w.base_url, &full_name);
    let spec = &run.spec.jobs[index];
    let id = run.job_ids[index];
    let step_template = v["steps"].get(0).cloned().unwrap_or_else(|| json!({}));
    let steps: Vec<Value> = spec
        .steps
        .iter()
        .map(|st| {
            let mut sv = step_template.clone();
            set(&mut sv, "name", json!(st.name));
            set(&mut sv, "number", json!(st.number));
            set(&mut sv, "status", json!(st.status));
            set(&mut sv, "conclusion", json!(st.conclusion));
            sv
        })
        .collect();
    let completed = spec.status == "completed";
    for (k, val) in [
        ("id", json!(id)),
        ("node_id", json!(node_id("J", id))),
        ("run_id", json!(run.id)),
        ("run_url", json!(format!("{}/repos/{full_name}/actions/runs/{}", w.base_url, run.id))),
        ("url", json!(format!("{}/repos/{full_name}/actions/jobs/{id}", w.base_url))),
        ("html_url", json!(format!("https://github.com/{full_name}/actions/runs/{}/job/{id}", run.id))),
        // As on GitHub, a job is also a check run with the same id; its annotations hang off that check run.
        ("check_run_url", json!(format!("{}/repos/{full_name}/check-runs/{id}", w.base_url))),
        ("run_attempt", json!(run.spec.run_attempt)),
        ("name", json!(spec.name)),
        ("workflow_name", json!(run.spec.workflow_name)),
        ("head_branch", json!(run.spec.head_branch)),
        ("head_sha", json!(run.spec.head_sha)),
        ("status", json!(spec.status)),
        ("conclusion", json!(spec.conclusion)),
        ("created_at", json!(run.created_at)),
        ("started_at", json!(run.created_at)),
        ("completed_at", if completed { json!(run.created_at) } else { Value::Null }),
        ("steps", json!(steps)),
    ] {
        set(&mut v, k, val);
    }
    v
}

/// `label`.
pub(crate) fn label(w: &World, r: &Repo, name: &str) -> Value {
    let full_name = format!("{}/{}", r.spec.owner, r.spec.name);
    let id = r.labels.get(name).copied().unwrap_or(0);
    json!({
        "id": id, "node_id": node_id("LA", id), "url": format!("{}/repos/{full_name}/labels/{name}", w.base_url),
        "name": name, "color": "ededed", "default": false, "description": null
    })
}

/// `issue` (also used for pull requests in issue lists, with the `pull_request` key GitHub adds).
pub(crate) fn issue(w: &World, r: &Repo, i: &Issue) -> Value {
    let full_name = format!("{}/{}", r.spec.owner, r.spec.name);
    let mut v = example("issue", "");
    rebase(&mut v, &w.base_url, &full_name);
    replace_in_strings(&mut v, "/1347", &format!("/{}", i.number));
    if let Value::Object(map) = &mut v {
        if i.pull.is_none() {
            map.remove("pull_request");
        }
        // The example carries a milestone, an assignee and a lock; an emulated issue has none of them.
        for k in ["milestone", "closed_by"] {
            map.insert(k.to_owned(), Value::Null);
        }
    }
    let labels: Vec<Value> = i.labels.iter().map(|l| label(w, r, l)).collect();
    for (k, val) in [
        ("id", json!(i.id)),
        ("node_id", json!(node_id("I", i.id))),
        ("number", json!(i.number)),
        ("title", json!(i.title)),
        ("body", if i.body.is_empty() { Value::Null } else { json!(i.body) }),
        ("state", json!(i.state)),
        ("state_reason", if i.state == "closed" { json!("completed") } else { Value::Null }),
        ("labels", json!(labels)),
        ("user", user(w, &i.user)),
        ("assignee", Value::Null),
        ("assignees", json!([])),
        ("locked", json!(false)),
        ("active_lock_reason", Value::Null),
        ("comments", json!(i.comments.len())),
        ("created_at", json!(i.created_at)),
        ("updated_at", json!(i.updated_at)),
        ("closed_at", json!(i.closed_at)),
        (
            "html_url",
            json!(format!(
                "https://github.com/{full_name}/{}/{}",
                if i.pull.is_some() { "pull" } else { "issues" },
                i.number
            )),
        ),
        ("author_association", json!("OWNER")),
    ] {
        set(&mut v, k, val);
    }
    if let Some(p) = &i.pull
        && let Some(pr) = v.get_mut("pull_request")
    {
        replace_in_strings(pr, "/issues/", "/pull/");
        set(pr, "merged_at", if p.merged { json!(i.closed_at) } else { Value::Null });
    }
    v
}

/// `issue-search-result-item`.
pub(crate) fn search_item(w: &World, r: &Repo, i: &Issue) -> Value {
    let mut v = issue(w, r, i);
    set(&mut v, "score", json!(1.0));
    if let Value::Object(map) = &mut v {
        for k in ["pinned_comment", "state_reason"] {
            map.remove(k);
        }
    }
    v
}

/// `issue-comment`.
pub(crate) fn comment(w: &World, r: &Repo, i: &Issue, c: &crate::state::Comment) -> Value {
    let full_name = format!("{}/{}", r.spec.owner, r.spec.name);
    let mut v = example("issue-comment", "");
    rebase(&mut v, &w.base_url, &full_name);
    for (k, val) in [
        ("id", json!(c.id)),
        ("node_id", json!(node_id("IC", c.id))),
        ("body", json!(c.body)),
        ("user", user(w, "octocat")),
        ("created_at", json!(c.created_at)),
        ("updated_at", json!(c.created_at)),
        ("url", json!(format!("{}/repos/{full_name}/issues/comments/{}", w.base_url, c.id))),
        ("issue_url", json!(format!("{}/repos/{full_name}/issues/{}", w.base_url, i.number))),
        ("html_url", json!(format!("https://github.com/{full_name}/issues/{}#issuecomment-{}", i.number, c.id))),
        ("author_association", json!("OWNER")),
    ] {
        set(&mut v, k, val);
    }
    v
}

/// `pull-request` (`full`) or `pull-request-simple`.
pub(crate) fn pull(w: &World, r: &Repo, i: &Issue, full: bool) -> Value {
    let full_name = format!("{}/{}", r.spec.owner, r.spec.name);
    let mut v = if full { example("pull-request", "") } else { example("pull-request-simple-items", "") };
    rebase(&mut v, &w.base_url, &full_name);
    replace_in_strings(&mut v, "/1347", &format!("/{}", i.number));
    let Some(p) = &i.pull else { return v };
    let labels: Vec<Value> = i.labels.iter().map(|l| label(w, r, l)).collect();
    for (side, branch) in [("head", &p.head_ref), ("base", &p.base_ref)] {
        if let Some(end) = v.get_mut(side) {
            set(end, "ref", json!(branch));
            set(end, "label", json!(format!("{}:{branch}", r.spec.owner)));
            set(end, "sha", json!(r.branches.get(branch.as_str()).cloned().unwrap_or_default()));
            set(end, "repo", repo(w, r, false));
            set(end, "user", user(w, &r.spec.owner));
        }
    }
    for (k, val) in [
        ("id", json!(p.id)),
        ("node_id", json!(node_id("PR", p.id))),
        ("number", json!(i.number)),
        ("title", json!(i.title)),
        ("body", if i.body.is_empty() { Value::Null } else { json!(i.body) }),
        ("state", json!(i.state)),
        ("draft", json!(p.draft)),
        ("labels", json!(labels)),
        ("user", user(w, &i.user)),
        ("assignee", Value::Null),
        ("assignees", json!([])),
        ("requested_reviewers", json!([])),
        ("requested_teams", json!([])),
        ("milestone", Value::Null),
        ("locked", json!(false)),
        ("active_lock_reason", Value::Null),
        ("created_at", json!(i.created_at)),
        ("updated_at", json!(i.updated_at)),
        ("closed_at", json!(i.closed_at)),
        ("merged_at", if p.merged { json!(i.closed_at) } else { Value::Null }),
        ("merge_commit_sha", json!(p.merge_sha)),
        ("html_url", json!(format!("https://github.com/{full_name}/pull/{}", i.number))),
        ("author_association", json!("OWNER")),
    ] {
        set(&mut v, k, val);
    }
    if full {
        let open = !p.merged && i.state == "open";
        // A repository backed by git answers whether the branches really merge, as GitHub's test merge does.
        let clean = match (&r.spec.git_dir, r.branches.get(&p.base_ref), r.branches.get(&p.head_ref)) {
            (Some(dir), Some(base), Some(head)) if open => Bare::new(dir).mergeable(base, head),
            _ => true,
        };
        set(&mut v, "merged", json!(p.merged));
        set(&mut v, "mergeable", json!(open && clean));
        set(&mut v, "mergeable_state", json!(if clean { "clean" } else { "dirty" }));
        set(&mut v, "comments", json!(i.comments.len()));
        set(&mut v, "merged_by", Value::Null);
    }
    v
}

/// `short-branch` for a branch.
pub(crate) fn branch(w: &World, r: &Repo, name: &str, sha: &str) -> Value {
    let full_name = format!("{}/{}", r.spec.owner, r.spec.name);
    json!({
        "name": name,
        "commit": { "sha": sha, "url": format!("{}/repos/{full_name}/commits/{sha}", w.base_url) },
        "protected": false,
        "protection_url": format!("{}/repos/{full_name}/branches/{name}/protection", w.base_url)
    })
}

/// `pull-request-review` of pull request `number`.
pub(crate) fn review(w: &World, r: &Repo, number: u64, review: &crate::state::Review) -> Value {
    let full_name = format!("{}/{}", r.spec.owner, r.spec.name);
    let html = format!("https://github.com/{full_name}/pull/{number}#pullrequestreview-{}", review.id);
    let api = format!("{}/repos/{full_name}/pulls/{number}", w.base_url);
    let mut v = json!({
        "id": review.id,
        "node_id": node_id("PRR", review.id),
        "user": user(w, &review.user),
        "body": review.body,
        "state": review.state,
        "html_url": html,
        "pull_request_url": api,
        "_links": { "html": { "href": html }, "pull_request": { "href": api } },
        "commit_id": review.commit_id,
        "author_association": "COLLABORATOR"
    });
    // A pending review has not been submitted yet, and GitHub leaves the time out.
    if review.state != "PENDING" {
        set(&mut v, "submitted_at", json!(review.submitted_at));
    }
    v
}

/// `git-ref` for a branch.
pub(crate) fn git_ref(w: &World, r: &Repo, branch: &str, sha: &str) -> Value {
    let full_name = format!("{}/{}", r.spec.owner, r.spec.name);
    json!({
        "ref": format!("refs/heads/{branch}"),
        "node_id": node_id("REF", r.id),
        "url": format!("{}/repos/{full_name}/git/refs/heads/{branch}", w.base_url),
        "object": { "sha": sha, "type": "commit", "url": format!("{}/repos/{full_name}/git/commits/{sha}", w.base_url) }
    })
}

/// `file-commit` for a file written to `branch` as commit `sha`.
pub(crate) fn file_commit(
    w: &World,
    r: &Repo,
    branch: &str,
    path: &str,
    sha: &str,
    message: &str,
    size: usize,
) -> Value {
    let full_name = format!("{}/{}", r.spec.owner, r.spec.name);
    let mut v = example("file-commit-example-for-creating-a-file", "");
    rebase(&mut v, &w.base_url, &full_name);
    replace_in_strings(&mut v, "notes/hello.txt", path);
    replace_in_strings(&mut v, "/blob/master/", &format!("/blob/{branch}/"));
    if let Some(c) = v.get_mut("content") {
        set(c, "name", json!(path.rsplit('/').next().unwrap_or(path)));
        set(c, "path", json!(path));
        set(c, "size", json!(size));
    }
    if let Some(c) = v.get_mut("commit") {
        set(c, "sha", json!(sha));
        set(c, "message", json!(message));
        set(c, "url", json!(format!("{}/repos/{full_name}/git/commits/{sha}", w.base_url)));
        set(c, "html_url", json!(format!("https://github.com/{full_name}/commit/{sha}")));
    }
    v
}

/// `content-file` for a file.
pub(crate) fn content_file(w: &World, r: &Repo, branch: &str, path: &str, content: &str) -> Value {
    let full_name = format!("{}/{}", r.spec.owner, r.spec.name);
    let mut v = example("content-file-response-if-content-is-a-file", "");
    rebase(&mut v, &w.base_url, &full_name);
    replace_in_strings(&mut v, "README.md", path);
    replace_in_strings(&mut v, "/master/", &format!("/{branch}/"));
    set(&mut v, "name", json!(path.rsplit('/').next().unwrap_or(path)));
    set(&mut v, "path", json!(path));
    set(&mut v, "content", json!(content));
    set(&mut v, "size", json!(content.len() * 3 / 4));
    v
}

/// GitHub inlines a file's content only up to this size; a larger one comes with `encoding: none` and no content.
pub(crate) const MAX_INLINE_FILE: usize = 1 << 20;

/// `content-file` for a file of a git-backed repository: its blob id and size, its content in base64 wrapped every
/// 60 characters as GitHub sends it, or no content at all (`encoding: none`) when it is larger than 1 MiB.
pub(crate) fn content_blob(w: &World, r: &Repo, git_ref: &str, path: &str, sha: &str, bytes: &[u8]) -> Value {
    use base64::Engine as _;
    let (content, encoding) = if bytes.len() > MAX_INLINE_FILE {
        (String::new(), "none")
    } else {
        let flat = base64::engine::general_purpose::STANDARD.encode(bytes);
        let lines: Vec<&str> =
            flat.as_bytes().chunks(60).map(|line| std::str::from_utf8(line).unwrap_or_default()).collect();
        (lines.iter().map(|line| format!("{line}\n")).collect::<String>(), "base64")
    };
    let mut v = content_file(w, r, git_ref, path, &content);
    let full_name = format!("{}/{}", r.spec.owner, r.spec.name);
    set(&mut v, "sha", json!(sha));
    set(&mut v, "size", json!(bytes.len()));
    set(&mut v, "encoding", json!(encoding));
    set(&mut v, "git_url", json!(format!("{}/repos/{full_name}/git/blobs/{sha}", w.base_url)));
    if let Some(links) = v.get_mut("_links") {
        set(links, "git", json!(format!("{}/repos/{full_name}/git/blobs/{sha}", w.base_url)));
    }
    v
}

/// One item of `content-directory`: an entry of the directory `dir` at `git_ref`.
pub(crate) fn content_dir_entry(w: &World, r: &Repo, git_ref: &str, dir: &str, entry: &TreeEntry) -> Value {
    let full_name = format!("{}/{}", r.spec.owner, r.spec.name);
    let path = if dir.is_empty() { entry.name.clone() } else { format!("{dir}/{}", entry.name) };
    let url = format!("{}/repos/{full_name}/contents/{path}?ref={git_ref}", w.base_url);
    let (git_url, html_url, download_url) = match entry.kind {
        "dir" => (
            json!(format!("{}/repos/{full_name}/git/trees/{}", w.base_url, entry.sha)),
            json!(format!("https://github.com/{full_name}/tree/{git_ref}/{path}")),
            Value::Null,
        ),
        "submodule" => (Value::Null, Value::Null, Value::Null),
        _ => (
            json!(format!("{}/repos/{full_name}/git/blobs/{}", w.base_url, entry.sha)),
            json!(format!("https://github.com/{full_name}/blob/{git_ref}/{path}")),
            json!(format!("https://raw.githubusercontent.com/{full_name}/{git_ref}/{path}")),
        ),
    };
    json!({
        "type": entry.kind,
        "size": entry.size,
        "name": entry.name,
        "path": path,
        "sha": entry.sha,
        "url": url,
        "git_url": git_url,
        "html_url": html_url,
        "download_url": download_url,
        "_links": { "self": url, "git": git_url, "html": html_url }
    })
}

/// `check-run`.
pub(crate) fn check_run(w: &World, r: &Repo, sha: &str, run: &CheckRun) -> Value {
    let full_name = format!("{}/{}", r.spec.owner, r.spec.name);
    let mut v = example("check-run-paginated", "check_runs");
    rebase(&mut v, &w.base_url, &full_name);
    let (id, name, status, conclusion) = run;
    for (k, val) in [
        ("id", json!(id)),
        ("node_id", json!(node_id("CR", *id))),
        ("name", json!(name)),
        ("status", json!(status)),
        ("conclusion", json!(conclusion)),
        ("head_sha", json!(sha)),
        ("url", json!(format!("{}/repos/{full_name}/check-runs/{id}", w.base_url))),
        ("html_url", json!(format!("https://github.com/{full_name}/runs/{id}"))),
        ("completed_at", if status == "completed" { v["completed_at"].clone() } else { Value::Null }),
    ] {
        set(&mut v, k, val);
    }
    v
}

/// `check-annotation`: one annotation of a job's check run, placed where the runner places its own (`.github`,
/// line 1, on the run's commit).
pub(crate) fn annotation(w: &World, r: &Repo, run: &Run, a: &AnnotationSpec) -> Value {
    let full_name = format!("{}/{}", r.spec.owner, r.spec.name);
    let mut v = example("check-annotation-items", "");
    rebase(&mut v, &w.base_url, &full_name);
    for (k, val) in [
        ("path", json!(".github")),
        ("blob_href", json!(format!("https://github.com/{full_name}/blob/{}/.github", run.spec.head_sha))),
        ("start_line", json!(1)),
        ("end_line", json!(1)),
        ("start_column", Value::Null),
        ("end_column", Value::Null),
        ("annotation_level", json!(a.level)),
        ("title", json!("")),
        ("message", json!(a.message)),
        ("raw_details", json!("")),
    ] {
        set(&mut v, k, val);
    }
    v
}

/// `combined-commit-status`.
pub(crate) fn combined_status(w: &World, r: &Repo, sha: &str, state: Option<&str>) -> Value {
    let full_name = format!("{}/{}", r.spec.owner, r.spec.name);
    let mut v = example("combined-commit-status", "");
    rebase(&mut v, &w.base_url, &full_name);
    let statuses: Vec<Value> = match (state, v["statuses"].get(0).cloned()) {
        (Some(s), Some(mut one)) => {
            set(&mut one, "state", json!(s));
            set(&mut one, "context", json!("ci/emulator"));
            vec![one]
        }
        _ => Vec::new(),
    };
    set(&mut v, "state", json!(state.unwrap_or("pending")));
    set(&mut v, "sha", json!(sha));
    set(&mut v, "total_count", json!(statuses.len()));
    set(&mut v, "statuses", json!(statuses));
    set(&mut v, "repository", repo(w, r, false));
    set(&mut v, "commit_url", json!(format!("{}/repos/{full_name}/commits/{sha}", w.base_url)));
    set(&mut v, "url", json!(format!("{}/repos/{full_name}/commits/{sha}/status", w.base_url)));
    v
}

/// `dependabot-alert`, open, numbered from 1.
pub(crate) fn dependabot_alert(w: &World, r: &Repo, number: usize, severity: &str, summary: &str) -> Value {
    let full_name = format!("{}/{}", r.spec.owner, r.spec.name);
    let mut v = example("dependabot-alerts-for-repository", "");
    rebase(&mut v, &w.base_url, &full_name);
    replace_in_strings(&mut v, "/alerts/2", &format!("/alerts/{number}"));
    replace_in_strings(&mut v, "/dependabot/2", &format!("/dependabot/{number}"));
    for (k, val) in [
        ("number", json!(number)),
        ("state", json!("open")),
        ("dismissed_at", Value::Null),
        ("dismissed_by", Value::Null),
        ("dismissed_comment", Value::Null),
        ("dismissed_reason", Value::Null),
        ("fixed_at", Value::Null),
        ("auto_dismissed_at", Value::Null),
    ] {
        set(&mut v, k, val);
    }
    if let Some(a) = v.get_mut("security_advisory") {
        // GitHub's example writes the EPSS percentile as a string, which its own schema (and GitHub) say is a number.
        set(a, "epss", json!({ "percentage": 0.00045, "percentile": 0.16001 }));
        set(a, "severity", json!(severity));
        set(a, "summary", json!(summary));
    }
    if let Some(sv) = v.get_mut("security_vulnerability") {
        set(sv, "severity", json!(severity));
    }
    v
}

/// `rate-limit-overview` from the current budgets.
pub(crate) fn rate_limit(w: &mut World, caller: &crate::state::Caller) -> Value {
    let mut v = example("rate-limit-overview", "");
    for resource in ["core", "search", "graphql"] {
        let b = *w.budget_of(caller.clone(), resource);
        let entry =
            json!({"limit": b.limit, "remaining": b.remaining, "reset": b.reset, "used": b.limit - b.remaining});
        if resource == "core" {
            set(&mut v, "rate", entry.clone());
        }
        if let Some(res) = v.get_mut("resources") {
            set(res, resource, entry);
        }
    }
    v
}

/// GitHub's error body.
pub(crate) fn error(message: &str, doc: &str, status: u16) -> Value {
    json!({ "message": message, "documentation_url": doc, "status": status.to_string() })
}
