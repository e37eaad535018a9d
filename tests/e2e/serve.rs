//! `hive serve` through the real binary and real HTTP on loopback: health and status, commands through
//! `POST /api/command` with the token's authority (401 without it, 403 with another), usage errors as JSON, an
//! emergency declared and cleared over the API and recorded in the audit trail, explanations, proposals and
//! approvals through the router, a second server refused by the state directory's lock, and a graceful stop on
//! SIGTERM.

use std::time::Duration;

use nix::sys::signal::Signal;
use reqwest::StatusCode;
use serde_json::Value;

use crate::daemon::{DEADLINE, Daemon, hive_command};

pub const TOKEN: &str = "s3cret-api-token";

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

    // A second server on the same state directory is refused by its lock, whatever address it would use.
    let (second_state, second_ws) = (state.clone(), ws_arg.to_owned());
    let second = tokio::task::spawn_blocking(move || {
        crate::hive_in(&second_state, &["serve", "--workspace", &second_ws, "--bind", "127.0.0.1:0"])
    })
    .await
    .expect("join");
    assert_eq!(second.status.code(), Some(2), "{}", crate::stderr(&second));
    assert!(crate::stderr(&second).contains("another hive (pid "), "{}", crate::stderr(&second));

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
    assert!(status["emergency_reasons"].to_string().contains("the api (anonymous)"), "{status}");

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
    // Why hive acts on local/bad: its signals, worst first, and its backlog; reading needs no token.
    let explained: Value = command("explain local/bad", None).await.expect("send").json().await.expect("json");
    assert_eq!((&explained["repo"], &explained["watched"]), (&Value::from("local/bad"), &Value::from(true)));
    assert!(explained["signals"].as_array().is_some_and(|s| !s.is_empty()), "{explained}");
    assert_eq!(explained["autonomy_override"], false, "the switch set above: {explained}");
    let item = explained["backlog"][0]["id"].as_str().expect("a backlog item for local/bad").to_owned();
    let unknown: Value = command("explain local/none", None).await.expect("send").json().await.expect("json");
    assert_eq!(unknown["watched"], false, "{unknown}");

    // Approvals: only of what exists, recorded with who asked, listed, revoked once.
    let approve = |text: String, by: &'static str| {
        client
            .post(format!("{base}/api/command"))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({ "command": text, "by": by }))
            .send()
    };
    let approved = approve(format!("approve {item} --hours 2"), "alice").await.expect("send");
    assert_eq!(approved.status(), StatusCode::OK);
    let body: Value = approved.json().await.expect("json");
    assert_eq!(body["approval"]["approved_by"], "api:alice", "{body}");
    let typo = approve("approve 0123456789abcdef".to_owned(), "alice").await.expect("send");
    assert_eq!(typo.status(), StatusCode::NOT_FOUND);
    let body: Value = typo.json().await.expect("json");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("'0123456789abcdef' is neither")), "{body}");
    // Whatever a caller sends, the secret never comes back nor goes into the trail: an id that is the token is
    // quoted redacted in the error, a `by` that is the token is recorded redacted.
    let quoted = approve(format!("approve {TOKEN}"), "alice").await.expect("send");
    assert_eq!(quoted.status(), StatusCode::NOT_FOUND);
    let body = quoted.text().await.expect("body");
    assert!(!body.contains(TOKEN) && body.contains("[REDACTED]"), "{body}");
    let approved = approve(format!("approve {item} --hours 2"), TOKEN).await.expect("send");
    let body: Value = approved.json().await.expect("json");
    assert_eq!(body["approval"]["approved_by"], "api:[REDACTED]", "{body}");
    let listed: Value = command("approvals list", None).await.expect("send").json().await.expect("json");
    assert_eq!(listed["approvals"][0]["id"], item.as_str(), "{listed}");
    assert!(listed["approvals"][0]["expires_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{listed}");
    let revoked = approve(format!("approvals revoke {item}"), "bob").await.expect("send");
    assert_eq!(revoked.status(), StatusCode::OK);
    let again = approve(format!("approvals revoke {item}"), "bob").await.expect("send");
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    let listed: Value = command("approvals list", None).await.expect("send").json().await.expect("json");
    assert_eq!(listed["approvals"], serde_json::json!([]), "{listed}");
    let nameless = approve(format!("approve {item}"), " ").await.expect("send");
    assert_eq!(nameless.status(), StatusCode::BAD_REQUEST);

    // Proposals on the repository's worst signal, one outcome per ORCH; an unwatched repository is a 404.
    let proposed = command("propose 3 local/bad", Some(TOKEN)).await.expect("send");
    assert_eq!(proposed.status(), StatusCode::OK);
    let body: Value = proposed.json().await.expect("json");
    assert_eq!(body["report"]["outcomes"].as_array().map(Vec::len), Some(3), "{body}");
    assert_eq!(body["report"]["seed"]["member"], "local/bad", "{body}");
    let nowhere = command("propose 1 local/none", Some(TOKEN)).await.expect("send");
    assert_eq!(nowhere.status(), StatusCode::NOT_FOUND);
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
    let records: Vec<Value> =
        crate::stdout(&export).lines().map(|l| serde_json::from_str(l).expect("a json line")).collect();
    let by = |action: &str| -> Vec<(String, String)> {
        records
            .iter()
            .filter(|r| r["action"] == action)
            .map(|r| (r["actor"].as_str().unwrap_or("").to_owned(), r["result"].as_str().unwrap_or("").to_owned()))
            .collect()
    };
    let anonymous = |what: &str| ("api:anonymous".to_owned(), what.to_owned());
    // Every change asked is recorded before it acts; the one that then failed, once more with why.
    assert_eq!(
        by("command"),
        [
            anonymous("emergency declare"),
            anonymous("autonomy off"),
            anonymous("propose 3 local/bad"),
            anonymous("propose 1 local/none"),
            anonymous("emergency clear")
        ]
    );
    assert_eq!(by("command_failed").len(), 1, "{records:?}");
    assert!(by("command_failed")[0].1.starts_with("propose 1 local/none: 'local/none' is not watched"), "{records:?}");
    // The refused approval and revocation left no record.
    assert_eq!(by("approve").len(), 2, "{records:?}");
    assert_eq!(by("approve")[0].0, "human:api:alice");
    assert_eq!(by("approve")[1].0, "human:api:[REDACTED]");
    assert!(!crate::stdout(&export).contains(TOKEN), "the token is in the trail");
    assert_eq!(by("revoke").len(), 1, "{records:?}");
    assert_eq!(by("revoke")[0].0, "human:api:bob");
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

/// Sends one command to `hive serve` with the token, as `by`, and returns the status and the JSON answer.
pub async fn send(client: &reqwest::Client, base: &str, text: &str) -> (StatusCode, Value) {
    let response = client
        .post(format!("{base}/api/command"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({ "command": text, "by": "ops" }))
        .send()
        .await
        .expect("send");
    let status = response.status();
    (status, response.json().await.expect("json"))
}

/// Runs `hive --state-dir <state> args...`: `ecosystem <id> ...` takes no flag after the id.
fn before(state: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hive"));
    cmd.arg("--state-dir").arg(state).args(args).env_remove("HIVE_STATE_DIR");
    cmd.output().expect("run hive")
}

fn gone(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) == Err(nix::errno::Errno::ESRCH)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_imported_repository_s_service_runs_under_the_server_and_stops_with_it() {
    use hive_testkit::projects::{git_repo, write};
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let svc = dir.path().join("svc");
    write(&svc, "Makefile", "serve:\n\t@echo serving\n\tsleep 60\n");
    git_repo(&svc);
    let imported = crate::hive_in(&state, &["ecosystem", "import", svc.to_str().expect("utf-8"), "--json"]);
    assert!(imported.status.success(), "{}", crate::stderr(&imported));
    let id = serde_json::from_str::<Value>(&crate::stdout(&imported)).expect("json")["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let ws = dir.path().join("ws");
    write(&ws.join("ok"), "Makefile", "test:\n\ttrue\n");
    git_repo(&ws.join("ok"));
    let mut cmd = hive_command(&state, &["serve", "--workspace", ws.to_str().expect("utf-8"), "--bind", "127.0.0.1:0"]);
    cmd.env("HIVE_API_TOKEN", TOKEN);
    let mut daemon = Daemon::spawn(cmd, &dir.path().join("stderr.log"));
    let line = daemon.line("the listening line", |l| l.starts_with("hive serve: listening on http://")).await;
    let base = line.trim_start_matches("hive serve: listening on ").trim().to_owned();
    let client = reqwest::Client::new();

    let (code, listed) = send(&client, &base, "ecosystem list").await;
    assert_eq!((code, &listed["imports"][0]["id"]), (StatusCode::OK, &Value::from(id.as_str())), "{listed}");
    let (_, idle) = send(&client, &base, &format!("ecosystem {id} status")).await;
    assert_eq!(idle["running"], false, "{idle}");

    let (code, started) = send(&client, &base, &format!("ecosystem {id} start")).await;
    assert_eq!(code, StatusCode::OK, "{started}");
    let until = tokio::time::Instant::now() + DEADLINE;
    let pid = loop {
        let (_, status) = send(&client, &base, &format!("ecosystem {id} status")).await;
        if status["status"]["state"] == "running" {
            break status["status"]["pid"].as_i64().expect("a pid") as i32;
        }
        assert!(tokio::time::Instant::now() < until, "the service never ran: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Other hive processes see who keeps it; none may signal the server to stop it, nor start it twice.
    let stop = before(&state, &["ecosystem", &id, "stop"]);
    assert_eq!(stop.status.code(), Some(1), "{}", crate::stderr(&stop));
    assert!(crate::stderr(&stop).contains("runs under `hive serve`"), "{}", crate::stderr(&stop));
    let twice = before(&state, &["ecosystem", &id, "start"]);
    // A global flag after the id would be lost; it is refused rather than ignored.
    let late = crate::hive_in(&state, &["ecosystem", &id, "status"]);
    assert!(crate::stderr(&late).contains("give global flags before the subcommand"), "{}", crate::stderr(&late));
    assert!(crate::stderr(&twice).contains("already runs under hive process"), "{}", crate::stderr(&twice));
    let (code, _) = send(&client, &base, &format!("ecosystem {id} start")).await;
    assert_eq!(code, StatusCode::CONFLICT);
    let status: Value =
        client.get(format!("{base}/api/status")).send().await.expect("status").json().await.expect("json");
    assert!(status["members"].to_string().contains(&format!("svc-{id}")), "the service is a member: {status}");

    let (code, stopped) = send(&client, &base, &format!("ecosystem {id} stop")).await;
    assert_eq!(code, StatusCode::OK, "{stopped}");
    assert!(gone(pid), "the service's process is gone once stop answers");
    let (code, _) = send(&client, &base, &format!("ecosystem {id} stop")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (_, idle) = send(&client, &base, &format!("ecosystem {id} status")).await;
    assert_eq!(idle["running"], false, "{idle}");
    let (code, _) = send(&client, &base, "ecosystem 0123456789ab status").await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    // Started again, it stops with the server.
    let (code, _) = send(&client, &base, &format!("ecosystem {id} start")).await;
    assert_eq!(code, StatusCode::OK);
    let until = tokio::time::Instant::now() + DEADLINE;
    let pid = loop {
        let (_, status) = send(&client, &base, &format!("ecosystem {id} status")).await;
        if let Some(pid) = status["status"]["pid"].as_i64() {
            break pid as i32;
        }
        assert!(tokio::time::Instant::now() < until, "the service never ran again: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    daemon.signal(Signal::SIGTERM);
    assert_eq!(daemon.exit_within(Duration::from_secs(30)).await.code(), Some(0), "{}", daemon.stderr());
    assert!(gone(pid), "the service stopped with the server");
    let after = before(&state, &["--json", "ecosystem", &id, "status"]);
    assert!(crate::stdout(&after).contains("\"running\":false"), "{}", crate::stdout(&after));

    // Every start asked is in the trail before it acts, as who asked; the one refused is recorded as failed.
    let export = crate::hive_in(&state, &["audit", "export"]);
    let records: Vec<Value> =
        crate::stdout(&export).lines().map(|l| serde_json::from_str(l).expect("a json line")).collect();
    let start = format!("ecosystem {id} start");
    let asked = records.iter().filter(|r| r["action"] == "command" && r["result"] == start.as_str()).count();
    assert_eq!(asked, 3, "{records:?}");
    let failures: Vec<&str> =
        records.iter().filter(|r| r["action"] == "command_failed").filter_map(|r| r["result"].as_str()).collect();
    assert!(
        failures.iter().any(|f| f.starts_with(&format!("{start}: ")) && f.contains("already runs")),
        "{failures:?}"
    );
    assert!(failures.iter().any(|f| f.starts_with(&format!("ecosystem {id} stop: "))), "the second stop: {failures:?}");
}

/// The processes whose command line holds `marker` (a test's own, unique argument).
fn processes_with(marker: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|line| line.split(|b| *b == 0).any(|arg| arg == marker.as_bytes()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_the_configuration_names_runs_beside_the_fleet_and_stops_with_the_server() {
    use hive_testkit::projects::{git_repo, write};
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = dir.path().join("ws");
    write(&ws.join("ok"), "Makefile", "test:\n\ttrue\n");
    git_repo(&ws.join("ok"));
    // A number no other process has on its command line: how the test finds the service's process.
    let marker = format!("{}", 7_000_000 + std::process::id());
    let config = dir.path().join("hive.toml");
    std::fs::write(
        &config,
        format!(
            "[targets]\nworkspace = {:?}\n\n[services.sleeper]\ncommand = [\"sleep\", \"{marker}\"]\n",
            ws.to_str().expect("utf-8")
        ),
    )
    .expect("write the configuration");
    let state = dir.path().join("state");
    let mut cmd =
        hive_command(&state, &["--config", config.to_str().expect("utf-8"), "serve", "--bind", "127.0.0.1:0"]);
    cmd.env("HOME", "/nonexistent/hive-e2e-home");
    let mut daemon = Daemon::spawn(cmd, &dir.path().join("stderr.log"));
    let line = daemon.line("the listening line", |l| l.starts_with("hive serve: listening on http://")).await;
    let base = line.trim_start_matches("hive serve: listening on ").trim().to_owned();
    let client = reqwest::Client::new();
    status_until(&client, &base, "the service running as a member", |s| {
        s["members"].as_array().is_some_and(|m| m.iter().any(|m| m["id"] == "sleeper" && m["state"] == "running"))
    })
    .await;
    let until = tokio::time::Instant::now() + DEADLINE;
    while processes_with(&marker).is_empty() {
        assert!(tokio::time::Instant::now() < until, "no process runs the configured command");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    daemon.signal(Signal::SIGTERM);
    assert_eq!(daemon.exit_within(Duration::from_secs(30)).await.code(), Some(0), "{}", daemon.stderr());
    assert!(processes_with(&marker).is_empty(), "the service outlived the server");
}
