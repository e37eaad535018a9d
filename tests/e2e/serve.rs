//! `hive serve` through the real binary and real HTTP on loopback: health and status, commands through
//! `POST /api/command` with the token's authority (401 without it, 403 with another), usage errors as JSON, an
//! emergency declared and cleared over the API and recorded in the audit trail, and a graceful stop on SIGTERM.

use std::time::Duration;

use nix::sys::signal::Signal;
use reqwest::StatusCode;
use serde_json::Value;

use crate::daemon::{DEADLINE, Daemon, hive_command};

const TOKEN: &str = "s3cret-api-token";

/// Polls `GET /api/status` until `done` holds of it, or fails the test after [`DEADLINE`].
async fn status_until(client: &reqwest::Client, base: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let status: Value =
            client.get(format!("{base}/api/status")).send().await.expect("status").json().await.expect("json");
        if done(&status) {
            return status;
        }
        assert!(tokio::time::Instant::now() < until, "{what}: not within {DEADLINE:?}; last {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_serves_status_and_takes_commands_with_the_token_s_authority() {
    use hive_testkit::projects::{git_repo, write};
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = dir.path().join("ws");
    write(&ws.join("ok"), "Makefile", "test:\n\ttrue\n");
    git_repo(&ws.join("ok"));
    write(&ws.join("bad"), "Makefile", "test:\n\tfalse\n");
    git_repo(&ws.join("bad"));
    let state = dir.path().join("state");
    let ws_arg = ws.to_str().expect("utf-8");
    let mut cmd = hive_command(&state, &["serve", "--workspace", ws_arg, "--bind", "127.0.0.1:0"]);
    cmd.env("HIVE_API_TOKEN", TOKEN).env("ORCHESTRATION_INTERVAL", "1");
    let mut daemon = Daemon::spawn(cmd, &dir.path().join("stderr.log"));
    let line = daemon.line("the listening line", |l| l.starts_with("hive serve: listening on http://")).await;
    let base = line.trim_start_matches("hive serve: listening on ").trim().to_owned();
    let client = reqwest::Client::new();

    let health: Value =
        client.get(format!("{base}/api/health")).send().await.expect("health").json().await.expect("json");
    assert_eq!(health["status"], "ok", "{health}");
    let status = status_until(&client, &base, "a report from the pilot", |s| {
        s["members"].as_array().is_some_and(|m| m.iter().any(|m| m["id"] == "local/ok" && m["score"].is_number()))
    })
    .await;
    assert_eq!(status["emergency"], false, "{status}");
    // The repositories with their findings, and the backlog the loop keeps.
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let repos: Value =
            client.get(format!("{base}/api/repos")).send().await.expect("repos").json().await.expect("json");
        let bad = repos["repositories"].as_array().and_then(|r| r.iter().find(|r| r["repo"] == "local/bad")).cloned();
        let backlog: Value =
            client.get(format!("{base}/api/backlog")).send().await.expect("backlog").json().await.expect("json");
        let filed = backlog["items"].as_array().is_some_and(|i| i.iter().any(|i| i["repo"] == "local/bad"));
        if let Some(bad) = bad.filter(|b| b["ci"] == "failing")
            && filed
        {
            assert_eq!(bad["healthy"], false, "{bad}");
            assert!(bad["findings"].as_array().is_some_and(|f| !f.is_empty()), "{bad}");
            break;
        }
        assert!(tokio::time::Instant::now() < until, "no failing local/bad in the backlog: {repos} {backlog}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let command = |text: &str, token: Option<&str>| {
        let mut request = client.post(format!("{base}/api/command")).json(&serde_json::json!({ "command": text }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    // Reading needs no token; changing anything does.
    let read = command("status", None).await.expect("send");
    assert_eq!(read.status(), StatusCode::OK);
    let denied = command("emergency declare", None).await.expect("send");
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
    let wrong = command("emergency declare", Some("not-the-token")).await.expect("send");
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let body: Value = wrong.json().await.expect("json");
    assert!(body["error"].as_str().is_some_and(|e| !e.contains(TOKEN)), "{body}");
    status_until(&client, &base, "no emergency from refused commands", |s| s["emergency"] == false).await;

    let declared = command("emergency declare", Some(TOKEN)).await.expect("send");
    assert_eq!(declared.status(), StatusCode::OK);
    let body: Value = declared.json().await.expect("json");
    assert_eq!(body["command"], "emergency declare", "{body}");
    let status = status_until(&client, &base, "the emergency declared", |s| s["emergency"] == true).await;
    assert!(status["emergency_reasons"].to_string().contains("the api"), "{status}");

    // Malformed commands and bodies are JSON errors with what was wrong.
    let typo = command("stauts", Some(TOKEN)).await.expect("send");
    assert_eq!(typo.status(), StatusCode::BAD_REQUEST);
    let body: Value = typo.json().await.expect("json");
    assert_eq!(body["error"], "unknown command 'stauts'; did you mean 'status'?", "{body}");
    assert!(body["usage"].as_str().is_some_and(|u| u.contains("emergency declare|clear")), "{body}");
    let hostile = command("pause ../etc", Some(TOKEN)).await.expect("send");
    assert_eq!(hostile.status(), StatusCode::BAD_REQUEST);
    let garbage = client.post(format!("{base}/api/command")).body("{not json").send().await.expect("send");
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);
    // On a connection of its own: the server closes it after the 413, and a pooled one could be reused after that.
    let big = reqwest::Client::new()
        .post(format!("{base}/api/command"))
        .body(vec![b' '; 64 * 1024])
        .send()
        .await
        .expect("send");
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let switched = command("autonomy off", Some(TOKEN)).await.expect("send");
    assert_eq!(switched.status(), StatusCode::OK);
    let unserved = command("explain local/ok", Some(TOKEN)).await.expect("send");
    assert_eq!(unserved.status(), StatusCode::NOT_IMPLEMENTED);
    let cleared = command("emergency clear", Some(TOKEN)).await.expect("send");
    assert_eq!(cleared.status(), StatusCode::OK);
    status_until(&client, &base, "the emergency cleared", |s| s["emergency"] == false).await;

    daemon.signal(Signal::SIGTERM);
    let exit = daemon.exit_within(Duration::from_secs(15)).await;
    assert_eq!(exit.code(), Some(0), "{}", daemon.stderr());
    assert!(!daemon.stderr().contains(TOKEN), "{}", daemon.stderr());

    // Who asked is in the trail, which verifies.
    let verify = crate::hive_in(&state, &["audit", "verify"]);
    assert!(verify.status.success(), "{}", crate::stderr(&verify));
    let export = crate::hive_in(&state, &["audit", "export"]);
    let commands: Vec<String> =
        crate::stdout(&export).lines().filter(|l| l.contains("\"command\"")).map(str::to_owned).collect();
    assert_eq!(commands.len(), 3, "{commands:?}");
    assert!(commands[0].contains("emergency declare") && commands[0].contains("\"api\""), "{commands:?}");
    assert!(commands[1].contains("autonomy off"), "{commands:?}");
    assert!(commands[2].contains("emergency clear"), "{commands:?}");
}

#[test]
fn serve_refuses_once_and_a_taken_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let out = crate::hive_in(&state, &["serve", "--once", "--workspace", "/nonexistent"]);
    assert_eq!(out.status.code(), Some(2), "{}", crate::stderr(&out));
    assert!(crate::stderr(&out).contains("`hive serve` runs until stopped"), "{}", crate::stderr(&out));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).expect("ws");
    let out = crate::hive_in(&state, &["serve", "--workspace", ws.to_str().expect("utf-8"), "--bind", &addr]);
    assert_eq!(out.status.code(), Some(1), "{}", crate::stderr(&out));
    assert!(crate::stderr(&out).contains(&format!("cannot listen on '{addr}'")), "{}", crate::stderr(&out));
}
