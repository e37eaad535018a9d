//! Shared helpers of the testkit's integration tests: a client that speaks to the emulator and a fixture fleet.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use hive_testkit::{DependabotSpec, Emulator, IssueSpec, JobSpec, PullSpec, RepoSpec, RunSpec};
use reqwest::{Client, Method, Response};
use serde_json::Value;

/// What a test learned from one request.
pub struct Got {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Got {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }
}

pub fn client() -> Client {
    Client::builder().no_proxy().build().expect("a plain HTTP client builds")
}

pub async fn send(emu: &Emulator, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Got {
    send_with(emu, method, path, token, body, None).await
}

pub async fn send_with(
    emu: &Emulator,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    if_none_match: Option<&str>,
) -> Got {
    let url = if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", emu.url()) };
    let mut req = client().request(method, url).header("accept", "application/vnd.github+json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b.to_string());
    }
    if let Some(e) = if_none_match {
        req = req.header("if-none-match", e);
    }
    let resp: Response = req.send().await.expect("the emulator answers");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("the body arrives");
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    Got { status, headers, body }
}

pub async fn get(emu: &Emulator, path: &str) -> Got {
    send(emu, Method::GET, path, Some(emu.token()), None).await
}

/// An org `acme` with a rich repository `widgets`, a private one, a user `alice` with one repository.
pub fn fleet(emu: &Emulator) -> u64 {
    let s = emu.state();
    s.add_org("acme");
    s.add_user("alice");
    s.add_repo(RepoSpec::new("acme", "widgets").stars(42).forks(3).watchers(7).license("MIT").has_security_md(true));
    s.add_repo(RepoSpec::new("acme", "secret").private(true));
    s.add_repo(RepoSpec::new("alice", "dotfiles").fork(true));
    let run = s.add_workflow_run(
        "acme",
        "widgets",
        RunSpec::new("CI", "main").outcome("completed", Some("failure")).job(
            JobSpec::new("test", "completed", Some("failure"))
                .step("Set up job", "completed", Some("success"))
                .step("cargo test", "completed", Some("failure"))
                .annotation("failure", "Process completed with exit code 101."),
        ),
    );
    s.add_workflow_run(
        "acme",
        "widgets",
        RunSpec::new("Lint", "feature").job(JobSpec::new("clippy", "requested", None)),
    );
    s.add_workflow_run(
        "acme",
        "widgets",
        RunSpec::new("Nightly", "main").head_branch(None).outcome("in_progress", None),
    );
    s.add_issue("acme", "widgets", IssueSpec::new("Crash on start").label("bug").body("panics"));
    s.add_issue("acme", "widgets", IssueSpec::new("Typo in docs").label("docs").state("closed"));
    s.add_pull("acme", "widgets", PullSpec::new("Bump deps", "deps"));
    s.set_dependabot("acme", "widgets", DependabotSpec::Alerts(vec![("high".into(), "RCE in foo".into())]));
    s.set_check_runs(
        "acme",
        "widgets",
        "main",
        vec![("build", "completed", Some("success")), ("test", "in_progress", None)],
    );
    s.set_combined_status("acme", "widgets", "main", "failure");
    run
}
