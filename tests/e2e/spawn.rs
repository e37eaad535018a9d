//! `hive spawn agent` and `hive agents` as a user runs them: a local workspace, real cargo and git, the registry in
//! the state directory's database.

use std::path::PathBuf;

use serde_json::Value;

use crate::{hive_in, stderr, stdout};

/// The target directory every agent built by the tests shares.
fn shared_target() -> String {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("agents-target").display().to_string()
}

#[test]
fn an_agent_is_spawned_listed_and_removed_from_the_command_line() {
    let state = tempfile::tempdir().unwrap();
    let workspace = tempfile::tempdir().unwrap();
    let ws = workspace.path().display().to_string();
    let target = shared_target();
    let out = hive_in(
        state.path(),
        &["spawn", "agent", "answers webhook deliveries", "--workspace", &ws, "--offline", "--target-dir", &target],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("agent answers-webhook-deliveries (webhook-responder, free tier): ready"),
        "{}",
        stdout(&out)
    );
    assert!(workspace.path().join("answers-webhook-deliveries/.git").exists(), "the repository is in the workspace");

    let out = hive_in(state.path(), &["--json", "agents", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let agents: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(agents[0]["name"], "answers-webhook-deliveries");
    assert_eq!(agents[0]["state"], "ready");
    assert_eq!(agents[0]["tests_passed"], true);

    let out = hive_in(state.path(), &["agents", "remove", "answers-webhook-deliveries"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = hive_in(state.path(), &["agents", "show", "answers-webhook-deliveries"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no agent named 'answers-webhook-deliveries'"), "{}", stderr(&out));
}

#[test]
fn hostile_requests_are_refused_before_anything_is_made() {
    let state = tempfile::tempdir().unwrap();
    let workspace = tempfile::tempdir().unwrap();
    let ws = workspace.path().display().to_string();
    for (request, expected) in [
        ("../x:escape", "invalid agent name '../x'"),
        ("x$(id);rm:d", "invalid agent name 'x$(id);rm'"),
        ("triаge:cyrillic a", "invalid agent name 'triаge'"),
    ] {
        let out = hive_in(state.path(), &["spawn", "agent", request, "--workspace", &ws]);
        assert_eq!(out.status.code(), Some(2), "{request}: {}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{request}: {}", stderr(&out));
    }
    let out = hive_in(state.path(), &["spawn", "agent", "ok:fine", "--archetype", "nope", "--workspace", &ws]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("unknown archetype 'nope'"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(workspace.path()).unwrap().count(), 0, "nothing was made");
}
