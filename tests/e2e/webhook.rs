//! `POST /api/github/webhook` on a real `hive serve` against the GitHub emulator, with deliveries signed as GitHub
//! signs them (HMAC-SHA256 of the raw body under the secret, `X-Hub-Signature-256: sha256=<hex>`): a `workflow_run`
//! about a watched repository has its pilot read it at once (the emulator sees the read, the API the new verdict, a
//! day before the next cycle); unsigned, wrongly signed, oversized, malformed, replayed, unknown and foreign
//! deliveries read nothing; without the secret the route is not there.

use std::time::Duration;

use hive_testkit::{JobSpec, RepoSpec, RunSpec};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::daemon::{DEADLINE, Daemon, hive_command};

const SECRET: &str = "It's a Secret to Everybody";

/// `X-Hub-Signature-256` for `body` under `secret`, as GitHub computes it.
fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The `repository` object of a delivery, as GitHub's webhook documentation shows it (abridged).
fn repository(owner: &str, name: &str) -> Value {
    json!({
        "id": 1296269,
        "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
        "name": name,
        "full_name": format!("{owner}/{name}"),
        "private": false,
        "owner": { "login": owner, "id": 1, "type": "Organization" },
        "html_url": format!("https://github.com/{owner}/{name}"),
        "default_branch": "main",
        "archived": false,
    })
}

/// A `workflow_run` delivery: the run completed with `conclusion`.
fn workflow_run(owner: &str, name: &str, conclusion: &str) -> Value {
    json!({
        "action": "completed",
        "workflow_run": {
            "id": 30433642,
            "name": "ci",
            "head_branch": "main",
            "head_sha": "acb5820ced9479c074f688cc328bf03f341a511d",
            "event": "push",
            "status": "completed",
            "conclusion": conclusion,
            "run_attempt": 1,
            "html_url": format!("https://github.com/{owner}/{name}/actions/runs/30433642"),
        },
        "workflow": { "id": 159038, "name": "ci", "path": ".github/workflows/ci.yml", "state": "active" },
        "repository": repository(owner, name),
        "sender": { "login": "octocat", "id": 583231, "type": "User" },
    })
}

/// A client of one server's webhook route.
struct Hook {
    client: reqwest::Client,
    url: String,
}

impl Hook {
    /// Sends `body` as event `event` with delivery id `id`, signed with `signature` when given: (status, answer).
    async fn send(&self, event: &str, id: &str, body: &[u8], signature: Option<&str>) -> (StatusCode, Value) {
        let mut request = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("x-github-delivery", id)
            .header("user-agent", "GitHub-Hookshot/044aadd")
            .body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        let response = request.send().await.expect("the delivery is answered");
        let status = response.status();
        let text = response.text().await.expect("a body");
        (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")))
    }

    /// Sends `payload` as event `event`, signed with the hive's secret.
    async fn signed(&self, event: &str, id: &str, payload: &Value) -> (StatusCode, Value) {
        let body = serde_json::to_vec(payload).expect("json");
        self.send(event, id, &body, Some(&signature(SECRET, &body))).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_deliveries_have_the_repository_read_now_and_nothing_else_reads() {
    // acme/r0 fails its tests; docs, site and tools pass.
    let emu = crate::lifecycle::failing_fleet(1).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = hive_command(&dir.path().join("state"), &["serve", "--org", "acme", "--bind", "127.0.0.1:0"]);
    // A cycle at the start and the next one a day later: every read after the first is a delivery's. Reads are
    // counted by their REST requests, so the GraphQL URL names a path the server does not serve: a server without
    // GraphQL, read over REST after the first 404.
    cmd.env("GITHUB_API_URL", emu.url())
        .env("GITHUB_GRAPHQL_URL", format!("{}/no-graphql", emu.url()))
        .env("GITHUB_TOKEN", emu.token())
        .env("ORCHESTRATION_INTERVAL", "86400")
        .env("HIVE_GITHUB_WEBHOOK_SECRET", SECRET)
        .env("PILOT_LOG_LEVEL", "info");
    let mut daemon = Daemon::spawn(cmd, &dir.path().join("stderr.log"));
    let line = daemon.line("the listening line", |l| l.starts_with("hive serve: listening on http://")).await;
    let base = line.trim_start_matches("hive serve: listening on ").trim().to_owned();
    daemon.line("the first cycle", |l| l.starts_with("cycle ")).await;
    let client = reqwest::Client::new();
    let hook = Hook { client: client.clone(), url: format!("{base}/api/github/webhook") };
    let reads = || {
        emu.state().requests().iter().filter(|r| r.method == "GET" && r.path == "/repos/acme/r0/actions/runs").count()
    };
    let ci = || async {
        let detail: Value =
            client.get(format!("{base}/api/repos/acme/r0")).send().await.expect("repo").json().await.expect("json");
        detail["ci"].as_str().unwrap_or_default().to_owned()
    };
    let ci_until = |want: &'static str| async move {
        let until = tokio::time::Instant::now() + DEADLINE;
        loop {
            let now = ci().await;
            if now == want {
                return;
            }
            assert!(tokio::time::Instant::now() < until, "acme/r0's ci is '{now}', not '{want}', after {DEADLINE:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    ci_until("failing").await;
    let first = reads();
    assert!(first >= 1, "the first cycle read acme/r0");
    // The queen says on the bus whenever a pilot is asked to read now, before the delivery is answered.
    let mut events = crate::events::EventStream::open(&client, &base, None).await;

    // What must read nothing: no signature, another secret's, a signature of another body, too large, not JSON,
    // an event hive does not act on, a ping, a repository it does not watch.
    let failed = serde_json::to_vec(&workflow_run("acme", "r0", "failure")).expect("json");
    let (status, answer) = hook.send("workflow_run", "d-unsigned", &failed, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("X-Hub-Signature-256")), "{answer}");
    let other = signature("another secret", &failed);
    assert_eq!(hook.send("workflow_run", "d-other", &failed, Some(&other)).await.0, StatusCode::UNAUTHORIZED);
    let elsewhere = signature(SECRET, b"{}");
    assert_eq!(hook.send("workflow_run", "d-body", &failed, Some(&elsewhere)).await.0, StatusCode::UNAUTHORIZED);
    let huge = vec![b' '; 25 * 1024 * 1024 + 1];
    let (status, answer) = hook.send("workflow_run", "d-huge", &huge, Some(&signature(SECRET, &huge))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    let broken = b"{\"action\": \"completed\", \"repository\": ";
    let (status, answer) = hook.send("workflow_run", "d-broken", broken, Some(&signature(SECRET, broken))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("not JSON")), "{answer}");
    let (status, answer) = hook.signed("workflow_run", "d-nameless", &json!({ "action": "completed" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("repository.full_name")), "{answer}");
    let star = json!({ "action": "created", "repository": repository("acme", "r0") });
    assert_eq!(hook.signed("star", "d-star", &star).await, (StatusCode::ACCEPTED, json!({ "ignored": "star" })));
    let ping = json!({ "zen": "Keep it logically awesome.", "hook_id": 30, "hook": { "type": "Organization" } });
    let (status, answer) = hook.signed("ping", "d-ping", &ping).await;
    assert_eq!((status, &answer["ok"]), (StatusCode::OK, &json!(true)), "{answer}");
    let (status, answer) = hook.signed("workflow_run", "d-foreign", &workflow_run("acme", "other", "failure")).await;
    assert_eq!((status, &answer["ignored"]), (StatusCode::ACCEPTED, &json!("workflow_run")), "{answer}");
    let mut archived = json!({ "action": "archived", "repository": repository("acme", "docs") });
    archived["repository"]["archived"] = json!(true);
    let (status, answer) = hook.signed("repository", "d-archived", &archived).await;
    assert_eq!((status, &answer["discovery"]), (StatusCode::ACCEPTED, &json!("now")), "{answer}");

    // A repository created in the organisation is watched at once, not a day later at the next cycle's discovery.
    emu.state().add_repo(RepoSpec::new("acme", "fresh"));
    let created = json!({ "action": "created", "repository": repository("acme", "fresh") });
    let (status, answer) = hook.signed("repository", "d-created", &created).await;
    assert_eq!((status, &answer["discovery"]), (StatusCode::ACCEPTED, &json!("now")), "{answer}");
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let status: Value =
            client.get(format!("{base}/api/status")).send().await.expect("status").json().await.expect("json");
        let members = status["members"].as_array().cloned().unwrap_or_default();
        if members.iter().any(|m| m["id"] == "acme/fresh") {
            break;
        }
        assert!(tokio::time::Instant::now() < until, "acme/fresh has no pilot after {DEADLINE:?}: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // acme/r0 passes now; only a read after this can say so, and the next cycle is a day away.
    emu.state().add_workflow_run("acme", "r0", RunSpec::new("ci", "main"));
    let (status, answer) = hook.signed("workflow_run", "d-1", &workflow_run("acme", "r0", "success")).await;
    assert_eq!((status, &answer["read"]), (StatusCode::ACCEPTED, &json!("acme/r0")), "{answer}");
    ci_until("passing").await;
    // Read in a refresh cycle of its own, which the steward acts on at once, as at the end of any cycle.
    daemon.line("the refresh cycle", |l| l.starts_with("cycle ") && l.contains(" (refresh) ")).await;
    daemon.line("the steward's summary of it", |l| l.trim_start().starts_with("autonomy (cycle ")).await;

    // The same delivery again is answered and does nothing.
    let (status, answer) = hook.signed("workflow_run", "d-1", &workflow_run("acme", "r0", "success")).await;
    assert_eq!((status, &answer["duplicate"]), (StatusCode::OK, &json!(true)), "{answer}");

    // acme/r0 fails again, as GitHub's `workflow_run` documentation shows it; a new delivery has it read once more.
    emu.state().add_workflow_run(
        "acme",
        "r0",
        RunSpec::new("ci", "main").outcome("completed", Some("failure")).job(JobSpec::new(
            "suite 0",
            "completed",
            Some("failure"),
        )),
    );
    let (status, answer) = hook.signed("workflow_run", "d-2", &workflow_run("acme", "r0", "failure")).await;
    assert_eq!((status, &answer["read"]), (StatusCode::ACCEPTED, &json!("acme/r0")), "{answer}");
    ci_until("failing").await;
    // Two deliveries, two reads: none for the refused, ignored or replayed ones (each would have been asked before
    // the last delivery's read, which the pilot answers in order).
    assert_eq!(reads(), first + 2, "{:#?}", emu.state().requests());
    // Exactly: a last delivery about another repository is asked after every earlier one (the queen takes them in
    // order, each before its delivery is answered), so every read asked for acme/r0 is on the bus before it.
    let (status, answer) = hook.signed("check_suite", "d-3", &json!({
        "action": "completed",
        "check_suite": { "id": 118578147, "head_branch": "main", "status": "completed", "conclusion": "success" },
        "repository": repository("acme", "docs"),
    })).await;
    assert_eq!((status, &answer["read"]), (StatusCode::ACCEPTED, &json!("acme/docs")), "{answer}");
    let seen = events
        .until("acme/docs asked to read", |e| e.event == "refresh_requested" && e.json()["member"] == "acme/docs")
        .await;
    assert!(seen.iter().all(|e| e.event != "lag"), "{seen:?}");
    let asked = seen.iter().filter(|e| e.event == "refresh_requested" && e.json()["member"] == "acme/r0").count();
    assert_eq!(asked, 2, "one read asked per accepted delivery about acme/r0: {seen:?}");
    // Every signed, well-formed delivery is counted by event and outcome; the refused ones are not.
    let metrics = client.get(format!("{base}/metrics")).send().await.expect("metrics").text().await.expect("text");
    let counted: Vec<&str> = metrics.lines().filter(|l| l.starts_with("hive_webhook_deliveries_total{")).collect();
    let mut expected = [
        r#"hive_webhook_deliveries_total{event="workflow_run",outcome="read"} 2"#,
        r#"hive_webhook_deliveries_total{event="check_suite",outcome="read"} 1"#,
        r#"hive_webhook_deliveries_total{event="workflow_run",outcome="duplicate"} 1"#,
        r#"hive_webhook_deliveries_total{event="workflow_run",outcome="not_watched"} 1"#,
        r#"hive_webhook_deliveries_total{event="other",outcome="ignored"} 1"#,
        r#"hive_webhook_deliveries_total{event="ping",outcome="pong"} 1"#,
        r#"hive_webhook_deliveries_total{event="repository",outcome="discovery"} 2"#,
    ];
    let mut counted = counted;
    counted.sort_unstable();
    expected.sort_unstable();
    assert_eq!(counted, expected, "{metrics}");
    let stderr = daemon.stderr();
    let logged =
        |id: &str| stderr.lines().any(|l| l.contains(id) && l.contains("acme/r0") && l.contains("workflow_run"));
    assert!(logged("d-1") && logged("d-2"), "each delivery is logged with its id, event and repository: {stderr}");
    assert!(!stderr.contains(SECRET), "the secret is never printed: {stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_secret_the_hive_takes_no_deliveries() {
    use hive_testkit::projects::{git_repo, write};
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = dir.path().join("ws");
    write(&ws.join("ok"), "Makefile", "test:\n\ttrue\n");
    git_repo(&ws.join("ok"));
    let ws = ws.to_str().expect("utf-8");
    let cmd = hive_command(&dir.path().join("state"), &["serve", "--workspace", ws, "--bind", "127.0.0.1:0"]);
    let mut daemon = Daemon::spawn(cmd, &dir.path().join("stderr.log"));
    let line = daemon.line("the listening line", |l| l.starts_with("hive serve: listening on http://")).await;
    let base = line.trim_start_matches("hive serve: listening on ").trim().to_owned();
    let hook = Hook { client: reqwest::Client::new(), url: format!("{base}/api/github/webhook") };
    let ping = serde_json::to_vec(&json!({ "zen": "Design for failure.", "hook_id": 30 })).expect("json");
    let (status, answer) = hook.send("ping", "d-ping", &ping, Some(&signature(SECRET, &ping))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("HIVE_GITHUB_WEBHOOK_SECRET")), "{answer}");
}
