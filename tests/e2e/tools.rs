//! Agents' tools and the hive's knowledge through `hive serve`'s router over real HTTP: `tools assign|remove|list`
//! with the token's authority, each change audited once by the database; `memory store|get|search|delete` on the
//! FTS5 store in hive.db; typos and hostile input refused with what to write; everything still there after a
//! restart.

use std::time::Duration;

use nix::sys::signal::Signal;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::daemon::{Daemon, hive_command};

const TOKEN: &str = "s3cret-tools-token";

/// Starts `hive serve` on `state` over a workspace of one repository; returns the daemon and its base url.
async fn serve(dir: &std::path::Path, state: &std::path::Path, run: &str) -> (Daemon, String) {
    let ws = dir.join("ws");
    if !ws.exists() {
        hive_testkit::projects::write(&ws.join("ok"), "Makefile", "test:\n\ttrue\n");
        hive_testkit::projects::git_repo(&ws.join("ok"));
    }
    let mut cmd = hive_command(state, &["serve", "--workspace", ws.to_str().expect("utf-8"), "--bind", "127.0.0.1:0"]);
    cmd.env("HIVE_API_TOKEN", TOKEN);
    let mut daemon = Daemon::spawn(cmd, &dir.join(format!("stderr-{run}.log")));
    let line = daemon.line("the listening line", |l| l.starts_with("hive serve: listening on http://")).await;
    (daemon, line.trim_start_matches("hive serve: listening on ").trim().to_owned())
}

/// Sends one command, with the token when `token`, as `ops`; returns the status and the JSON answer.
async fn send(base: &str, text: &str, token: bool) -> (StatusCode, Value) {
    let mut request =
        reqwest::Client::new().post(format!("{base}/api/command")).json(&json!({ "command": text, "by": "ops" }));
    if token {
        request = request.bearer_auth(TOKEN);
    }
    let response = request.send().await.expect("send");
    let status = response.status();
    (status, response.json().await.expect("json"))
}

async fn stop(mut daemon: Daemon) {
    daemon.signal(Signal::SIGTERM);
    let exit = daemon.exit_within(Duration::from_secs(15)).await;
    assert_eq!(exit.code(), Some(0), "{}", daemon.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn tools_and_memory_commands_over_http_are_authorised_audited_and_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let (daemon, base) = serve(dir.path(), &state, "first").await;

    // Changing commands need the token; reading ones do not.
    let (status, _) = send(&base, "tools assign orch knowledge", false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(&base, "memory store k v", false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, answer) = send(&base, "tools assign orch knowledge", true).await;
    assert_eq!((status, &answer["already"]), (StatusCode::OK, &json!(false)), "{answer}");
    let (_, answer) = send(&base, "tools assign orch knowledge", true).await;
    assert_eq!(answer["already"], true, "{answer}");
    send(&base, "tools assign triage-bot terminal", true).await;
    let (status, listed) = send(&base, "tools list orch", false).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["assignments"].as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed["assignments"][0]["assigned_by"], "api:ops", "{listed}");
    assert_eq!(listed["tools"], json!(["code_interpreter", "knowledge", "terminal", "web_search"]));

    let (status, answer) = send(&base, "tools assign orch termnial", true).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["error"].as_str().expect("error").contains("did you mean 'terminal'?"), "{answer}");
    let (status, answer) = send(&base, "tools assign Orch;rm terminal", true).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["error"].as_str().expect("error").starts_with("invalid agent name 'Orch;rm'"), "{answer}");

    let (status, answer) = send(&base, "tools remove triage-bot terminal", true).await;
    assert_eq!((status, &answer["removed"]["tool"]), (StatusCode::OK, &json!("terminal")), "{answer}");
    let (status, answer) = send(&base, "tools remove triage-bot terminal", true).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert_eq!(
        answer["error"],
        "agent 'triage-bot' does not have the tool 'terminal'; `tools list triage-bot` shows what it has"
    );

    let (status, answer) =
        send(&base, "memory store ci/flaky the tests of acme/api flake on mondays; $(id)", true).await;
    assert_eq!((status, &answer["replaced"]), (StatusCode::OK, &json!(false)), "{answer}");
    send(&base, "memory store release cut on fridays", true).await;
    let (_, found) = send(&base, "memory search MONDAYS acme", false).await;
    assert_eq!(found["hits"].as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found["hits"][0]["key"], "ci/flaky", "{found}");
    let (_, note) = send(&base, "memory get ci/flaky", false).await;
    assert_eq!(note["note"]["text"], "the tests of acme/api flake on mondays; $(id)", "{note}");
    assert_eq!(note["note"]["stored_by"], "api:ops", "{note}");
    let (status, _) = send(&base, "memory delete release", true).await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = send(&base, "memory get release", false).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert_eq!(answer["error"], "no note under 'release'; `memory search <words>` finds notes");
    stop(daemon).await;

    // After a restart the assignment and the note are still there.
    let (daemon, base) = serve(dir.path(), &state, "again").await;
    let (_, listed) = send(&base, "tools list", false).await;
    let pairs: Vec<(&str, &str)> = listed["assignments"]
        .as_array()
        .expect("assignments")
        .iter()
        .map(|a| (a["agent"].as_str().expect("agent"), a["tool"].as_str().expect("tool")))
        .collect();
    assert_eq!(pairs, [("orch", "knowledge")], "{listed}");
    let (_, found) = send(&base, "memory search flake", false).await;
    assert_eq!(found["hits"][0]["key"], "ci/flaky", "{found}");
    stop(daemon).await;

    // Each assignment change is one record (the database's, not a second one from the router); the knowledge's
    // changes are recorded as commands; the trail verifies.
    let verify = crate::hive_in(&state, &["audit", "verify"]);
    assert!(verify.status.success(), "{}", crate::stderr(&verify));
    let export = crate::hive_in(&state, &["audit", "export"]);
    let records: Vec<Value> =
        crate::stdout(&export).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    let of = |action: &str| -> Vec<&Value> { records.iter().filter(|r| r["action"] == action).collect() };
    assert_eq!(of("tools_assign").len(), 2, "{records:#?}");
    assert_eq!(of("tools_remove").len(), 1, "{records:#?}");
    assert!(of("tools_assign").iter().all(|r| r["actor"] == "api:ops"), "{records:#?}");
    let commands: Vec<&str> = of("command").iter().filter_map(|r| r["result"].as_str()).collect();
    assert!(commands.iter().any(|c| c.starts_with("memory store ci/flaky")), "{commands:?}");
    assert!(commands.contains(&"memory delete release"), "{commands:?}");
    assert!(!commands.iter().any(|c| c.starts_with("tools")), "assignments are recorded once: {commands:?}");
}
