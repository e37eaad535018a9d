//! `[[sync]]` end to end through the binary on a local workspace: a repository behind its source is a finding and a
//! score component of `hive run`, a continuous sync pushes it during the same `hive run --once` (its branch waits
//! for a person), after which the drift is gone and a second run makes no second set; `hive sync status|push|history`
//! agree; a hostile declaration is exit 2 naming its key, before anything is read.

use std::{
    path::Path,
    process::{Command, Output},
};

use hive_testkit::projects::{git_repo, write};
use serde_json::Value;

/// The binary with `args`, its environment free of hive's variables and of the user's configuration.
fn hive(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hive"));
    cmd.args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("HIVE_") || key.starts_with("XDG_") || key.starts_with("GITHUB_") || key == "GH_TOKEN" {
            cmd.env_remove(key);
        }
    }
    cmd.env("HOME", "/nonexistent/hive-e2e-home");
    cmd.output().expect("run hive")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `templates` holding a license and a CI template, and `svc-a` and `svc-b` holding neither.
fn workspace(ws: &Path) {
    let templates = ws.join("templates");
    write(&templates, "LICENSE", "MIT License\n");
    write(&templates, "ci.yml.hive-template", "name: ci for {{name}}\n");
    git_repo(&templates);
    for name in ["svc-a", "svc-b"] {
        let dir = ws.join(name);
        write(&dir, "README.md", &format!("# {name}\n"));
        git_repo(&dir);
    }
}

fn config(dir: &Path, continuous: bool) -> String {
    let text = format!(
        "state_dir = \"state\"\n[targets]\nworkspace = \"ws\"\n[governance]\nautonomy = true\n\
         [[sync]]\nname = \"license\"\nsource = \"local/templates\"\npaths = [\"LICENSE\", \"ci.yml\"]\n\
         targets = [\"local/svc-*\"]\ncontinuous = {continuous}\n"
    );
    let path = dir.join("hive.toml");
    std::fs::write(&path, text).expect("write the configuration");
    path.to_str().expect("utf-8").to_owned()
}

/// `hive run --once --json`; the cycle's record.
fn run_once(config: &str) -> Value {
    let out = hive(&["--config", config, "run", "--once", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    serde_json::from_str(stdout.lines().last().expect("a record")).expect("one JSON record")
}

fn findings(record: &Value, repo: &str) -> Vec<String> {
    let repos = record["repositories"].as_array().expect("repositories");
    let line = repos.iter().find(|r| r["repo"] == repo).expect("the repository");
    line["findings"].as_array().expect("findings").iter().filter_map(|f| f.as_str().map(str::to_owned)).collect()
}

/// The change branches of the workspace repository `dir`.
fn branches(dir: &Path) -> Vec<String> {
    let out = Command::new("git")
        .args(["for-each-ref", "--format=%(refname:short)", "refs/heads/hive/change/"])
        .current_dir(dir)
        .output()
        .expect("git");
    text(&out.stdout).lines().map(str::to_owned).collect()
}

#[test]
fn a_continuous_sync_brings_a_drifting_repository_in_step_during_a_run_and_its_drift_is_gone_after() {
    let dir = tempfile::tempdir().expect("tempdir");
    workspace(&dir.path().join("ws"));
    let config = config(dir.path(), true);

    let record = run_once(&config);
    for repo in ["local/svc-a", "local/svc-b"] {
        assert!(findings(&record, repo).contains(&"2 files behind local/templates".to_owned()), "{record}");
    }
    assert!(!findings(&record, "local/templates").iter().any(|f| f.contains("behind")), "the source is no target");
    for name in ["svc-a", "svc-b"] {
        let made = branches(&dir.path().join("ws").join(name));
        assert_eq!(made.len(), 1, "the continuous sync published one branch in {name}: {made:?}");
    }

    let status = hive(&["--config", &config, "sync", "status", "--json"]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let status: Value = serde_json::from_str(text(&status.stdout).trim()).expect("json");
    let states: Vec<&str> = status[0]["repos"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["files"].as_array().unwrap())
        .map(|f| f["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["in_step"; 4], "waiting for a person to merge: {status}");

    let record = run_once(&config);
    for repo in ["local/svc-a", "local/svc-b"] {
        assert!(!findings(&record, repo).iter().any(|f| f.contains("behind")), "{record}");
        assert_eq!(branches(&dir.path().join("ws").join(repo.trim_start_matches("local/"))).len(), 1, "no second set");
    }
    let push = hive(&["--config", &config, "sync", "push"]);
    assert!(push.status.success(), "{}", text(&push.stderr));
    assert!(text(&push.stdout).contains("sync license: nothing behind or missing"), "{}", text(&push.stdout));

    let history = hive(&["--config", &config, "sync", "history", "license", "--json"]);
    assert!(history.status.success(), "{}", text(&history.stderr));
    let history: Value = serde_json::from_str(text(&history.stdout).trim()).expect("json");
    assert_eq!(history.as_array().map(Vec::len), Some(4), "two files in two repositories: {history}");
}

#[test]
fn without_continuous_a_run_only_reports_the_drift() {
    let dir = tempfile::tempdir().expect("tempdir");
    workspace(&dir.path().join("ws"));
    let config = config(dir.path(), false);
    let record = run_once(&config);
    assert!(findings(&record, "local/svc-a").contains(&"2 files behind local/templates".to_owned()), "{record}");
    assert!(branches(&dir.path().join("ws").join("svc-a")).is_empty(), "nothing pushed");
}

#[test]
fn a_hostile_sync_declaration_exits_2_naming_its_key_before_anything_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    workspace(&dir.path().join("ws"));
    let good = std::fs::read_to_string(config(dir.path(), false)).expect("read");
    for (from, to, key) in [
        ("paths = [\"LICENSE\", \"ci.yml\"]", "paths = [\"../../etc/passwd\"]", "sync.paths"),
        ("targets = [\"local/svc-*\"]", "targets = [\"local/[svc\"]", "sync.targets"),
        ("continuous = false", "continuous = false\nevery = 5", "sync.every"),
    ] {
        let path = dir.path().join("hive.toml");
        std::fs::write(&path, good.replace(from, to)).expect("write");
        for args in [&["sync", "status"][..], &["run", "--once"][..], &["config", "check"][..]] {
            let mut all = vec!["--config", path.to_str().expect("utf-8")];
            all.extend_from_slice(args);
            let out = hive(&all);
            assert_eq!(out.status.code(), Some(2), "{args:?} {to}: {}", text(&out.stderr));
            assert!(text(&out.stderr).contains(&format!("at key '{key}'")), "{}", text(&out.stderr));
        }
    }
    assert!(!dir.path().join("state").exists(), "nothing was read or written");
}
