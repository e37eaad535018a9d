//! Validates every endpoint's emulator response against its response schema in GitHub's OpenAPI description
//! (`openapi/subset.json`), so the emulator's JSON stays GitHub's. OpenAPI 3.0's `nullable` is translated to JSON
//! Schema type unions first, and the components are embedded so `#/components/...` references resolve.

mod support;

use hive_testkit::{Emulator, OPENAPI_SUBSET, git::git};
use reqwest::Method;
use serde_json::{Map, Value, json};
use support::{fleet, send};

/// OpenAPI 3.0 -> JSON Schema: `nullable: true` becomes `null` in the type (or an `anyOf` with null when the
/// schema has no `type`, e.g. a `$ref` or `allOf`), and `null` joins any `enum`.
fn translate(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(translate).collect()),
        Value::Object(map) => {
            let mut out: Map<String, Value> =
                map.iter().filter(|(k, _)| k.as_str() != "nullable").map(|(k, v)| (k.clone(), translate(v))).collect();
            if map.get("nullable") == Some(&Value::Bool(true)) {
                if let Some(Value::Array(e)) = out.get_mut("enum") {
                    e.push(Value::Null);
                }
                match out.get("type").cloned() {
                    Some(Value::String(t)) => {
                        out.insert("type".into(), json!([t, "null"]));
                    }
                    Some(_) => {}
                    None => return json!({ "anyOf": [Value::Object(out), { "type": "null" }] }),
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

struct Checker {
    doc: Value,
    components: Value,
    failures: Vec<String>,
    checked: usize,
}

impl Checker {
    fn new() -> Checker {
        let doc: Value = serde_json::from_str(OPENAPI_SUBSET).expect("subset.json parses");
        let components = translate(&doc["components"]);
        Checker { doc, components, failures: Vec::new(), checked: 0 }
    }

    fn check(&mut self, template: &str, method: &str, status: u16, body: &Value) {
        let schema = &self.doc["paths"][template][method]["responses"][status.to_string()]["content"]["application/json"]
            ["schema"];
        assert!(!schema.is_null(), "no schema for {method} {template} {status}");
        let mut root = translate(schema);
        root["components"] = self.components.clone();
        let validator = jsonschema::draft7::new(&root).expect("the translated schema compiles");
        let errors: Vec<String> =
            validator.iter_errors(body).take(5).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        if !errors.is_empty() {
            self.failures.push(format!("{method} {template} {status}:\n  {}", errors.join("\n  ")));
        }
        self.checked += 1;
    }
}

#[tokio::test]
async fn every_endpoint_matches_githubs_openapi_schema() {
    let emu = Emulator::start().await;
    let run = fleet(&emu);
    let t = Some(emu.token());
    let mut c = Checker::new();
    // A job's check run, as a client finds it: the last segment of the job's `check_run_url`.
    let jobs = send(&emu, Method::GET, &format!("/repos/acme/widgets/actions/runs/{run}/jobs"), t, None).await;
    let check_run_url = jobs.body["jobs"][0]["check_run_url"].as_str().expect("a job has a check_run_url").to_owned();
    let cases: Vec<(Method, String, Option<Value>, &str, u16)> = vec![
        (Method::GET, "/orgs/acme/repos".into(), None, "/orgs/{org}/repos", 200),
        (Method::GET, "/users/alice/repos".into(), None, "/users/{username}/repos", 200),
        (Method::GET, "/repos/acme/widgets".into(), None, "/repos/{owner}/{repo}", 200),
        (Method::GET, "/repos/acme/widgets/actions/runs".into(), None, "/repos/{owner}/{repo}/actions/runs", 200),
        (
            Method::GET,
            format!("/repos/acme/widgets/actions/runs/{run}/jobs"),
            None,
            "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs",
            200,
        ),
        (
            Method::GET,
            format!("{check_run_url}/annotations?per_page=100"),
            None,
            "/repos/{owner}/{repo}/check-runs/{check_run_id}/annotations",
            200,
        ),
        (
            Method::POST,
            format!("/repos/acme/widgets/actions/runs/{run}/rerun-failed-jobs"),
            None,
            "/repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs",
            201,
        ),
        (Method::GET, "/repos/acme/widgets/issues?state=all".into(), None, "/repos/{owner}/{repo}/issues", 200),
        (
            Method::POST,
            "/repos/acme/widgets/issues".into(),
            Some(json!({"title": "New", "body": "b", "labels": ["bug"]})),
            "/repos/{owner}/{repo}/issues",
            201,
        ),
        (Method::GET, "/repos/acme/widgets/issues/1".into(), None, "/repos/{owner}/{repo}/issues/{issue_number}", 200),
        (
            Method::PATCH,
            "/repos/acme/widgets/issues/1".into(),
            Some(json!({"state": "closed", "labels": ["bug", "triaged"]})),
            "/repos/{owner}/{repo}/issues/{issue_number}",
            200,
        ),
        (
            Method::POST,
            "/repos/acme/widgets/issues/1/comments".into(),
            Some(json!({"body": "on it"})),
            "/repos/{owner}/{repo}/issues/{issue_number}/comments",
            201,
        ),
        (
            Method::GET,
            "/repos/acme/widgets/issues/1/comments".into(),
            None,
            "/repos/{owner}/{repo}/issues/{issue_number}/comments",
            200,
        ),
        (
            Method::POST,
            "/repos/acme/widgets/issues/1/labels".into(),
            Some(json!({"labels": ["p1"]})),
            "/repos/{owner}/{repo}/issues/{issue_number}/labels",
            200,
        ),
        (Method::GET, "/repos/acme/widgets/pulls".into(), None, "/repos/{owner}/{repo}/pulls", 200),
        (
            Method::GET,
            "/repos/acme/widgets/git/ref/heads/main".into(),
            None,
            "/repos/{owner}/{repo}/git/ref/{ref}",
            200,
        ),
        (
            Method::POST,
            "/repos/acme/widgets/git/refs".into(),
            Some(json!({"ref": "refs/heads/fix", "sha": "aa218f56b14c9653891f9e74264a383fa43fefbd"})),
            "/repos/{owner}/{repo}/git/refs",
            201,
        ),
        (
            Method::PUT,
            "/repos/acme/widgets/contents/src/fix.rs".into(),
            Some(json!({"message": "fix", "content": "Zm4gbWFpbigpIHt9Cg==", "branch": "fix"})),
            "/repos/{owner}/{repo}/contents/{path}",
            201,
        ),
        (
            Method::POST,
            "/repos/acme/widgets/pulls".into(),
            Some(json!({"title": "Fix", "head": "fix", "base": "main", "body": "fixes #1"})),
            "/repos/{owner}/{repo}/pulls",
            201,
        ),
        (
            Method::PUT,
            "/repos/acme/widgets/pulls/5/merge".into(),
            Some(json!({"merge_method": "squash"})),
            "/repos/{owner}/{repo}/pulls/{pull_number}/merge",
            200,
        ),
        (Method::GET, "/repos/acme/widgets/pulls/5".into(), None, "/repos/{owner}/{repo}/pulls/{pull_number}", 200),
        (
            Method::PATCH,
            "/repos/acme/widgets/pulls/5".into(),
            Some(json!({"title": "Fix it", "body": "fixes #1 for good"})),
            "/repos/{owner}/{repo}/pulls/{pull_number}",
            200,
        ),
        (
            Method::GET,
            "/repos/acme/widgets/contents/SECURITY.md".into(),
            None,
            "/repos/{owner}/{repo}/contents/{path}",
            200,
        ),
        (
            Method::GET,
            "/repos/acme/widgets/commits/main/check-runs".into(),
            None,
            "/repos/{owner}/{repo}/commits/{ref}/check-runs",
            200,
        ),
        (
            Method::GET,
            "/repos/acme/widgets/commits/main/status".into(),
            None,
            "/repos/{owner}/{repo}/commits/{ref}/status",
            200,
        ),
        (
            Method::GET,
            "/repos/acme/widgets/dependabot/alerts?state=open".into(),
            None,
            "/repos/{owner}/{repo}/dependabot/alerts",
            200,
        ),
        (
            Method::GET,
            "/repos/acme/widgets/pulls/5/reviews".into(),
            None,
            "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
            200,
        ),
        (
            Method::POST,
            "/repos/acme/widgets/pulls/5/reviews".into(),
            Some(json!({"event": "APPROVE"})),
            "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
            200,
        ),
        (
            Method::POST,
            "/repos/acme/widgets/pulls/5/reviews".into(),
            Some(json!({"body": "later"})),
            "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
            200,
        ),
        (
            Method::GET,
            "/repos/acme/widgets/pulls/5/reviews".into(),
            None,
            "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
            200,
        ),
        (Method::GET, "/repos/acme/widgets/branches".into(), None, "/repos/{owner}/{repo}/branches", 200),
        (Method::GET, "/user".into(), None, "/user", 200),
        (Method::GET, "/users/alice".into(), None, "/users/{username}", 200),
        (Method::GET, "/users/acme".into(), None, "/users/{username}", 200),
        (
            Method::POST,
            "/orgs/acme/repos".into(),
            Some(json!({"name": "made", "description": "a new one", "private": true})),
            "/orgs/{org}/repos",
            201,
        ),
        (Method::POST, "/user/repos".into(), Some(json!({"name": "mine"})), "/user/repos", 201),
        (Method::GET, "/repos/acme/made".into(), None, "/repos/{owner}/{repo}", 200),
        (Method::GET, "/rate_limit".into(), None, "/rate_limit", 200),
        (
            Method::GET,
            "/search/issues?q=repo%3Aacme%2Fwidgets+is%3Aissue+in%3Atitle+%22Crash%22".into(),
            None,
            "/search/issues",
            200,
        ),
    ];
    for (method, path, body, template, status) in cases {
        let got = send(&emu, method.clone(), &path, t, body).await;
        assert_eq!(got.status, status, "{method} {path}: {}", got.body);
        c.check(template, &method.as_str().to_lowercase(), status, &got.body);
    }
    // A repository backed by git answers contents from git: a file, and a directory as a list of its entries.
    let work = tempfile::tempdir().expect("tempdir");
    let bare = emu.state().git_dir("acme", "made").expect("a repository made through the API has git");
    std::fs::create_dir_all(work.path().join("src")).expect("mkdir");
    std::fs::write(work.path().join("src/lib.rs"), "pub fn made() {}\n").expect("write");
    git(work.path(), &["init", "-q"]);
    git(work.path(), &["add", "-A"]);
    git(work.path(), &["commit", "-qm", "first"]);
    git(work.path(), &["push", "-q", &bare.display().to_string(), "main"]);
    for path in ["/repos/acme/made/contents/src/lib.rs?ref=main", "/repos/acme/made/contents/src"] {
        let got = send(&emu, Method::GET, path, t, None).await;
        assert_eq!(got.status, 200, "GET {path}: {}", got.body);
        c.check("/repos/{owner}/{repo}/contents/{path}", "get", 200, &got.body);
    }
    // A deleted repository answers 204 without a body, which has no schema to check.
    let deleted = send(&emu, Method::DELETE, "/repos/acme/made", t, None).await;
    assert_eq!((deleted.status, &deleted.body), (204, &Value::Null));
    assert!(
        c.failures.is_empty(),
        "{} of {} responses do not match GitHub's schema:\n{}",
        c.failures.len(),
        c.checked,
        c.failures.join("\n")
    );
}

#[test]
fn nullable_translation() {
    assert_eq!(translate(&json!({"type": "string", "nullable": true})), json!({"type": ["string", "null"]}));
    assert_eq!(
        translate(&json!({"allOf": [{"$ref": "#/x"}], "nullable": true})),
        json!({"anyOf": [{"allOf": [{"$ref": "#/x"}]}, {"type": "null"}]})
    );
    assert_eq!(
        translate(&json!({"type": "string", "enum": ["a"], "nullable": true})),
        json!({"type": ["string", "null"], "enum": ["a", null]})
    );
}
