//! The configuration file end to end: a bad file stops every command with exit 2 naming its file, line, column and
//! key; `hive config check` says where each value came from and never shows a secret; a file's targets, overrides
//! (level, test command) and retention are what `hive run` really uses; and the annotated example stays valid.

use std::{
    path::Path,
    process::{Command, Output},
};

use hive_testkit::projects::{commit_all, git_repo, write};
use serde_json::Value;

/// The binary with `args`, its environment free of hive's variables and of the user's configuration.
fn hive(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hive"));
    cmd.args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("HIVE_")
            || key.starts_with("XDG_")
            || ["ORCHESTRATION_INTERVAL", "EMERGENCY_MODE", "PILOT_LOG_LEVEL"].contains(&key.as_str())
        {
            cmd.env_remove(key);
        }
    }
    // No configuration but the one a test names, and no state outside its temporary directory.
    cmd.env("HOME", "/nonexistent/hive-e2e-home");
    cmd.envs(envs.iter().copied());
    cmd.output().expect("run hive")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_bad_file_exits_2_naming_file_line_column_and_key_before_anything_is_touched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, state) = (dir.path().join("hive.toml"), dir.path().join("state"));
    let file_arg = file.to_str().expect("utf-8");
    for (contents, at, needle) in [
        ("[cycle]\ninterval = 60\nintervall = 5\n", ":3:1' at key 'cycle.intervall'", "did you mean 'interval'?"),
        ("[governance]\nmax_prs_per_day = \"ten\"\n", ":2:19' at key 'governance.max_prs_per_day'", "invalid type"),
        ("[governance]\nlevel = \"fixx\"\n", ":2:9' at key 'governance.level'", "invalid level 'fixx'"),
    ] {
        std::fs::write(&file, contents).expect("write");
        for args in [
            &["--config", file_arg, "run", "--once", "--workspace", "ws", "--state-dir"][..],
            &["config", "check", "--config", file_arg, "--state-dir"],
        ] {
            let out = hive(&[args, &[state.to_str().expect("utf-8")]].concat(), &[]);
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            assert!(stderr.contains(&format!("invalid configuration '{}{at}", file.display())), "{stderr}");
            assert!(stderr.contains(needle), "{stderr}");
            assert!(!state.exists(), "nothing is created before the configuration is valid");
        }
    }
    // A file named but missing is an error too, through HIVE_CONFIG as through --config.
    let missing = dir.path().join("missing.toml");
    let out = hive(&["config", "check", "--state-dir", "s"], &[("HIVE_CONFIG", missing.to_str().expect("utf-8"))]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("missing.toml': no such file"), "{}", text(&out.stderr));
}

#[test]
fn config_check_says_where_each_value_came_from_and_redacts_the_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = "tok-e2e-0123456789abcdef";
    write(dir.path(), "api-token", &format!("{token}\n"));
    let file = write(
        dir.path(),
        "hive.toml",
        "state_dir = \"state\"\n[governance]\nlevel = \"issue\"\nmax_prs_per_day = 7\nescalate_after = 5\n\
         [api]\ntoken_file = \"api-token\"\n",
    );
    let envs = [("HIVE_CONFIG", file.to_str().expect("utf-8")), ("HIVE_MAX_PRS_PER_DAY", "3")];
    let out = hive(&["config", "check", "--level", "log"], &envs);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = |key: &str| {
        stdout.lines().find(|l| l.split_whitespace().next() == Some(key)).unwrap_or_else(|| panic!("{key}: {stdout}"))
    };
    assert!(line("governance.level").contains("\"log\"") && line("governance.level").ends_with("flag --level"));
    assert!(line("governance.max_prs_per_day").ends_with("env HIVE_MAX_PRS_PER_DAY"), "{stdout}");
    assert!(line("governance.escalate_after").ends_with(&format!("file {}", file.display())), "{stdout}");
    assert!(line("governance.max_issues_per_hour").ends_with("default"), "{stdout}");
    assert!(line("state_dir").contains(&dir.path().join("state").display().to_string()), "{stdout}");
    assert!(line("api.token").contains("[REDACTED]"), "{stdout}");
    assert!(stdout.starts_with(&format!("configuration file: {} (env HIVE_CONFIG)", file.display())), "{stdout}");

    let out = hive(&["config", "check", "--json"], &envs);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let setting = |key: &str| {
        doc["settings"].as_array().expect("settings").iter().find(|s| s["key"] == key).cloned().expect("setting")
    };
    assert_eq!(setting("governance.max_prs_per_day")["value"], 3);
    assert_eq!(setting("governance.max_prs_per_day")["origin"]["var"], "HIVE_MAX_PRS_PER_DAY");
    assert_eq!(setting("governance.level")["origin"]["from"], "file");
    assert_eq!(setting("api.token")["value"], "[REDACTED]");
    for out in [&out, &hive(&["config", "check"], &envs)] {
        assert!(!text(&out.stdout).contains(token) && !text(&out.stderr).contains(token), "the token leaked");
    }
}

#[test]
fn the_annotated_example_is_a_valid_configuration() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hive.toml");
    let out = hive(&["config", "check", "--config", example.to_str().expect("utf-8"), "--state-dir", "s"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    // Every key the example sets is read from it.
    assert!(stdout.lines().filter(|l| l.contains("examples/hive.toml")).count() >= 30, "{stdout}");
}

/// A workspace with `app`, whose only check (`cargo fmt --check`) fails until hive's format fix, and `ok`.
fn unformatted_workspace(ws: &Path) {
    let app = ws.join("app");
    write(&app, "Cargo.toml", "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n");
    write(&app, "src/main.rs", "fn main(){let x=1;\nprintln!(\"{}\",x);}\n");
    write(&app, "Makefile", "test:\n\tcargo fmt --check\n");
    git_repo(&app);
    let ok = ws.join("ok");
    write(&ok, "Makefile", "test:\n\ttrue\n");
    git_repo(&ok);
    commit_all(&ok, "second");
    // Its `test` passes, its `check` does not.
    let cmd = ws.join("cmd");
    write(&cmd, "Makefile", "test:\n\ttrue\ncheck:\n\tfalse\n");
    git_repo(&cmd);
}

/// `hive run --once --json` with `config` as its only source of settings; the cycle's record.
fn run_once(config: &Path) -> Value {
    let out = hive(&["--config", config.to_str().expect("utf-8"), "run", "--once", "--json"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_str(text(&out.stdout).trim()).expect("one JSON record")
}

#[test]
fn the_files_workspace_overrides_and_retention_are_what_run_uses() {
    let dir = tempfile::tempdir().expect("tempdir");
    unformatted_workspace(&dir.path().join("ws"));
    let settings = "state_dir = \"state\"\n[targets]\nworkspace = \"ws\"\n[governance]\nautonomy = true\n\
                    [retention]\ncycles = 2\n";
    // The repository's own level holds it back to recording: no branch is published. `cmd` is tested with the
    // command given for it.
    let overrides = "[repos.\"local/app\"]\nlevel = \"log\"\n[repos.\"local/cmd\"]\nlevel = \"log\"\n\
                     test_command = [\"make\", \"check\"]\n";
    let config = write(dir.path(), "hive.toml", &format!("{settings}{overrides}"));
    let record = run_once(&config);
    let repos = record["repositories"].as_array().expect("repos");
    let names: Vec<&str> = repos.iter().filter_map(|r| r["repo"].as_str()).collect();
    assert_eq!(names, ["local/app", "local/cmd", "local/ok"], "{record}");
    let ci = |record: &Value, name: &str| {
        let repos = record["repositories"].as_array().expect("repos");
        repos.iter().find(|r| r["repo"] == name).map(|r| r["ci"].clone()).expect("the repository")
    };
    assert_eq!(ci(&record, "local/cmd"), "failing", "{record}");
    assert_eq!(record["autonomy"]["writes"], serde_json::json!([]), "{record}");
    let would_do = record["autonomy"]["would_do"].to_string();
    assert!(would_do.contains("push_branch local/app"), "{record}");
    let branches = hive_testkit::git::git(&dir.path().join("ws/app"), &["branch", "--list", "hive/fix/*"]);
    assert_eq!(branches.trim(), "", "no fix branch under level log");

    // Without the override the same file lets the fix out, so it was the override that held it.
    std::fs::write(&config, settings).expect("rewrite");
    let record = run_once(&config);
    let writes = record["autonomy"]["writes"].to_string();
    assert!(writes.contains("push_branch local/app"), "{record}");
    assert_eq!(ci(&record, "local/cmd"), "passing", "{record}");

    // Three cycles in all; the summaries of the newest two are kept.
    run_once(&config);
    let mut kept: Vec<String> = std::fs::read_dir(dir.path().join("state/cycles"))
        .expect("cycles")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    kept.sort();
    assert_eq!(kept, ["000002.json", "000002.md", "000003.json", "000003.md"]);
}

#[test]
fn the_organisation_s_test_command_runs_where_a_repository_gives_none_of_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Each repository's `make test` passes and its `make check` fails: which one ran shows in its CI verdict.
    for name in ["own", "other"] {
        let repo = dir.path().join("ws").join(name);
        write(&repo, "Makefile", "test:\n\ttrue\ncheck:\n\tfalse\n");
        git_repo(&repo);
    }
    let config = write(
        dir.path(),
        "hive.toml",
        "state_dir = \"state\"\n[targets]\nworkspace = \"ws\"\n[orgs.local]\ntest_command = [\"make\", \"check\"]\n\
         [repos.\"local/own\"]\ntest_command = [\"make\", \"test\"]\n",
    );
    let record = run_once(&config);
    let ci = |name: &str| {
        let repos = record["repositories"].as_array().expect("repos");
        repos.iter().find(|r| r["repo"] == name).map(|r| r["ci"].clone()).expect("the repository")
    };
    assert_eq!(ci("local/other"), "failing", "the organisation's command ran: {record}");
    assert_eq!(ci("local/own"), "passing", "the repository's own command beat it: {record}");

    let out = hive(&["config", "check", "--config", config.to_str().expect("utf-8")], &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let from_file = format!("file {}", config.display());
    for (key, value) in [
        ("orgs.local.test_command", "[\"make\",\"check\"]"),
        ("repos.\"local/own\".test_command", "[\"make\",\"test\"]"),
    ] {
        let line = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("{key}: {stdout}"));
        assert!(line.contains(value) && line.ends_with(&from_file), "{line}");
    }
}
