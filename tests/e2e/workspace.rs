//! `hive run --workspace` end to end: the demo workspace (real git repositories, real test runs) watched by the
//! real binary, its JSON records, the cache of local CI, and the errors for a missing target.

use std::process::{Command, Output};

use serde_json::Value;

// The example that README users run is the fixture, so the README's promise is tested too.
#[path = "../../examples/demo_workspace.rs"]
#[allow(dead_code)] // the example's `main` is not used here
mod demo_workspace;

fn hive_run(state: &std::path::Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hive"));
    cmd.arg("run").args(args).arg("--state-dir").arg(state);
    for var in ["ORCHESTRATION_INTERVAL", "EMERGENCY_MODE", "PILOT_LOG_LEVEL", "HIVE_STATE_DIR"] {
        cmd.env_remove(var);
    }
    cmd.output().expect("run hive")
}

/// The repository entry named `name` in a record.
fn repo<'a>(record: &'a Value, name: &str) -> &'a Value {
    let repos = record["repositories"].as_array().expect("repositories array");
    repos.iter().find(|r| r["repo"] == name).unwrap_or_else(|| panic!("no {name} in {record}"))
}

#[test]
fn run_once_on_the_demo_workspace_reports_real_findings() {
    let base = tempfile::tempdir().expect("tempdir");
    let ws = base.path().join("ws");
    let state = base.path().join("state");
    demo_workspace::build_demo_workspace(&ws).expect("demo workspace");
    let ws_arg = ws.to_str().expect("utf-8");

    let out = hive_run(&state, &["--once", "--json", "--workspace", ws_arg]);
    assert!(out.status.success(), "hive failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one cycle, one JSON object per line:\n{stdout}");
    let record: Value = serde_json::from_str(lines[0]).expect("JSON");
    for field in ["timestamp", "orchestration_cycle", "active_pilots", "emergency_mode", "global_health_score"] {
        assert!(record.get(field).is_some(), "record lacks '{field}': {record}");
    }
    assert_eq!(record["total_repositories"], 4, "{record}");
    assert_eq!(record["healthy_repositories"], 3, "{record}");
    assert_eq!(record["ecosystem_health"], "GOOD", "{record}");

    let calc = repo(&record, "local/calc-py");
    assert_eq!((&calc["healthy"], &calc["ci"]), (&Value::Bool(false), &Value::from("failing")), "{calc}");
    let finding = calc["findings"][0].as_str().expect("a finding");
    assert!(finding.starts_with("tests failing (python:test): FAIL: test_mean"), "{finding}");
    assert_eq!(repo(&record, "local/notes-dirty")["findings"], serde_json::json!(["uncommitted changes"]));
    assert_eq!(repo(&record, "local/lib-behind")["findings"], serde_json::json!(["2 commits behind 'origin/main'"]));
    let tools = repo(&record, "local/tools-make");
    assert_eq!((&tools["ci"], &tools["score"]), (&Value::from("passing"), &Value::from(100)), "{tools}");

    // Local CI results are kept in the state directory, so a second run tests nothing again and agrees.
    let cache = state.join("cache/local-ci/runs.json");
    let cached: Value = serde_json::from_slice(&std::fs::read(&cache).expect("cache file")).expect("cache is JSON");
    assert_eq!(cached["runs"].as_object().map(|runs| runs.len()), Some(4), "{cached}");
    let again = hive_run(&state, &["--once", "--json", "--workspace", ws_arg]);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let second: Value = serde_json::from_slice(&again.stdout).expect("JSON");
    assert_eq!(second["repositories"], record["repositories"]);
}

#[test]
fn run_once_prints_a_human_summary() {
    let base = tempfile::tempdir().expect("tempdir");
    let ws = base.path().join("ws");
    demo_workspace::build_demo_workspace(&ws).expect("demo workspace");
    let out = hive_run(&base.path().join("state"), &["--once", "--workspace", ws.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("cycle 1  3/4 healthy  GOOD"), "{stdout}");
    let calc = stdout.lines().find(|l| l.contains("local/calc-py")).expect(&stdout);
    assert!(calc.trim_start().starts_with("x local/calc-py") && calc.contains("FAIL: test_mean"), "{calc}");
    assert!(stdout.lines().any(|l| l.contains("local/tools-make") && l.ends_with(" ok")), "{stdout}");
}

#[test]
fn run_without_a_target_names_both_ways() {
    let state = tempfile::tempdir().expect("tempdir");
    let out = hive_run(state.path(), &[]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("hive: nothing to watch"), "{stderr}");
    for way in ["--workspace DIR", "--org/--user/--repo", "GITHUB_TOKEN"] {
        assert!(stderr.contains(way), "{way} missing from: {stderr}");
    }
}

#[test]
fn run_on_a_bad_workspace_says_why() {
    let base = tempfile::tempdir().expect("tempdir");
    let missing = base.path().join("absent");
    let out = hive_run(base.path(), &["--once", "--workspace", missing.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with(&format!("hive: cannot open workspace '{}'", missing.display())), "{stderr}");

    let empty = base.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let out = hive_run(base.path(), &["--once", "--workspace", empty.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no git repositories in workspace"));
}

#[test]
fn local_ci_gives_tests_a_clean_environment_without_secrets() {
    let base = tempfile::tempdir().expect("tempdir");
    let app = base.path().join("ws/app");
    std::fs::create_dir_all(&app).expect("mkdir");
    // The test reports its environment's names (and where HOME and TMPDIR point) as its failing line.
    let makefile = "test:\n\t@echo \"error: home=$$HOME tmp=$$TMPDIR vars=$$(env | cut -d= -f1 | sort | tr '\\n' ' ')\"\n\t@false\n";
    std::fs::write(app.join("Makefile"), makefile).expect("write");
    hive_testkit::git::git(&app, &["init", "-q"]);
    hive_testkit::git::git(&app, &["add", "-A"]);
    hive_testkit::git::git(&app, &["commit", "-qm", "env"]);

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hive"));
    cmd.args(["run", "--once", "--json", "--workspace"]).arg(base.path().join("ws"));
    cmd.arg("--state-dir").arg(base.path().join("state")).env_remove("HIVE_STATE_DIR");
    let secrets = [
        ("GITHUB_TOKEN", "ghp_NotARealTokenButShapedLikeOne0123456789"),
        ("GH_TOKEN", "gh-token-value-0123456789"),
        ("HIVE_X", "hive-x-value-0123456789"),
        ("AWS_SECRET_ACCESS_KEY", "aws-secret-value-0123456789"),
        ("PARENT_ONLY", "parent-only-value"),
    ];
    cmd.envs(secrets);
    let out = cmd.output().expect("run hive");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let record: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let finding = repo(&record, "local/app")["findings"][0].as_str().expect("a finding").to_owned();
    let vars: Vec<&str> = finding.split_once("vars=").expect(&finding).1.split_whitespace().collect();
    for (name, value) in secrets {
        assert!(!vars.contains(&name) && !finding.contains(value), "{name} reached the test: {finding}");
    }
    assert!(vars.contains(&"CI") && vars.contains(&"PATH"), "{finding}");
    let home = finding.split_once("home=").expect(&finding).1.split_whitespace().next().expect("home");
    let real_home = std::env::var("HOME").unwrap_or_default();
    assert!(home.contains("hive-ci-") && home != real_home, "HOME is the run's own: {finding}");
    assert!(finding.contains(&format!("tmp={}", home.trim_end_matches("home"))), "TMPDIR beside it: {finding}");
}

#[test]
fn no_cache_neither_uses_nor_writes_cached_verdicts() {
    let base = tempfile::tempdir().expect("tempdir");
    let (ws, state) = (base.path().join("ws"), base.path().join("state"));
    let app = ws.join("app");
    std::fs::create_dir_all(&app).expect("mkdir");
    // The test passes once a file outside the repository exists: a cached verdict would not notice it appear.
    let flag = base.path().join("fixed");
    std::fs::write(app.join("Makefile"), format!("test:\n\ttest -f '{}'\n", flag.display())).expect("write");
    for args in [&["init", "-q"][..], &["add", "-A"], &["commit", "-qm", "app"]] {
        hive_testkit::git::git(&app, args);
    }
    let ws_arg = ws.to_str().expect("utf-8");
    let ci = |extra: &[&str]| {
        let out = hive_run(&state, &[&["--once", "--json", "--workspace", ws_arg], extra].concat());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let record: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        repo(&record, "local/app")["ci"].clone()
    };

    assert_eq!(ci(&[]), "failing");
    let cache = state.join("cache/local-ci/runs.json");
    let cached = std::fs::read(&cache).expect("the failing verdict is cached");
    std::fs::write(&flag, "").expect("fix");
    assert_eq!(ci(&["--no-cache"]), "passing", "--no-cache runs the tests again");
    assert_eq!(std::fs::read(&cache).expect("cache"), cached, "--no-cache writes nothing");
    assert_eq!(ci(&[]), "failing", "without it, the cached verdict for this HEAD stands");

    let out = hive_run(&state, &["--once", "--no-cache", "--repo", "acme/app"]);
    assert_eq!(out.status.code(), Some(2), "--no-cache needs --workspace");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--workspace"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Everything of a user's repository that hive's fix must leave alone, byte for byte.
fn untouched(repo: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let status = Command::new("git")
        .args(["--no-optional-locks", "status", "--porcelain=v2", "--branch", "--untracked-files=all"])
        .current_dir(repo)
        .output()
        .expect("git runs");
    let mut kept = vec![("status".to_owned(), status.stdout)];
    for file in [".git/index", ".git/HEAD", ".git/config", "src/main.rs", "notes.txt"] {
        kept.push((file.to_owned(), std::fs::read(repo.join(file)).unwrap_or_default()));
    }
    kept
}

/// The `hive/fix/...` branches of a repository, with their commits.
fn fix_branches(repo: &std::path::Path) -> Vec<String> {
    let out = hive_testkit::git::git(
        repo,
        &["for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads/hive/fix"],
    );
    out.lines().map(str::to_owned).collect()
}

#[test]
fn autonomy_on_a_workspace_keeps_findings_in_the_backlog_and_publishes_the_format_fix_as_a_branch() {
    use hive_testkit::projects::{commit_all, git_repo, write};
    let base = tempfile::tempdir().expect("tempdir");
    let (ws, state) = (base.path().join("ws"), base.path().join("state"));
    let app = ws.join("app");
    write(&app, "Cargo.toml", "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n");
    write(&app, "src/main.rs", "fn main(){let x=1;\nprintln!(\"{}\",x);}\n");
    // The repository's own check: formatting.
    write(&app, "Makefile", "test:\n\tcargo fmt --check\n");
    git_repo(&app);
    // Work in progress the fix must not touch: a staged change, an unstaged one on top, an untracked file.
    write(&app, "src/main.rs", "fn main(){let x=1;\nprintln!(\"{}\",x);}\n// staged\n");
    hive_testkit::git::git(&app, &["add", "src/main.rs"]);
    write(&app, "src/main.rs", "fn main(){let x=1;\nprintln!(\"{}\",x);}\n// staged\n// unstaged\n");
    write(&app, "notes.txt", "mine\n");
    let ok = ws.join("ok");
    write(&ok, "Makefile", "test:\n\ttrue\n");
    git_repo(&ok);
    commit_all(&ok, "second");
    let before = untouched(&app);
    let ws_arg = ws.to_str().expect("utf-8");

    let out = hive_run(&state, &["--once", "--json", "--workspace", ws_arg, "--autonomy"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let record: Value = serde_json::from_str(stdout.trim()).expect("one JSON record");
    let writes = record["autonomy"]["writes"].as_array().expect("writes");
    assert!(
        writes
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.starts_with("push_branch local/app: branch hive/fix/lint-"))),
        "{record}"
    );
    assert_eq!(record["fixes_attempted"], 1, "{record}");
    let branches = fix_branches(&app);
    assert_eq!(branches.len(), 1, "{branches:?}");
    assert_eq!(untouched(&app), before, "the user's branch, index, working tree and config are as they were");
    let fix = branches[0].split(' ').next().expect("name");
    let fixed = hive_testkit::git::git(&app, &["show", &format!("{fix}:src/main.rs")]);
    assert_eq!(fixed, "fn main() {\n    let x = 1;\n    println!(\"{}\", x);\n}");

    // The finding is in the backlog and every decision in a trail that verifies.
    let backlog = crate::hive_in(&state, &["backlog"]);
    assert!(crate::stdout(&backlog).contains("local/app"), "{}", crate::stdout(&backlog));
    let verify = crate::hive_in(&state, &["audit", "verify"]);
    assert!(verify.status.success(), "{}", crate::stderr(&verify));

    // Again: the branch is found, not made twice; nothing of the user's changes.
    let out = hive_run(&state, &["--once", "--json", "--workspace", ws_arg, "--autonomy"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(fix_branches(&app), branches);
    assert_eq!(untouched(&app), before);

    // A human deletes the branch: that is a no, and hive does not publish it again.
    hive_testkit::git::git(&app, &["branch", "-D", fix]);
    for _ in 0..2 {
        let out = hive_run(&state, &["--once", "--json", "--workspace", ws_arg, "--autonomy"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(fix_branches(&app).is_empty(), "a refused fix is never published again");
}

#[test]
fn a_merged_fix_branch_is_done_and_a_failure_that_comes_back_gets_a_new_fix() {
    use hive_testkit::{
        git::git,
        projects::{commit_all, git_repo, write},
    };
    let base = tempfile::tempdir().expect("tempdir");
    let (ws, state) = (base.path().join("ws"), base.path().join("state"));
    let app = ws.join("app");
    write(&app, "Cargo.toml", "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n");
    write(&app, "src/main.rs", "fn main(){println!(\"1\");}\n");
    write(&app, "Makefile", "test:\n\tcargo fmt --check\n");
    git_repo(&app);
    let ws_arg = ws.to_str().expect("utf-8");
    let run = || {
        let out = hive_run(&state, &["--once", "--json", "--workspace", ws_arg, "--autonomy"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let record: Value = serde_json::from_slice(&out.stdout).expect("one JSON record");
        record
    };
    let writes = |record: &Value| -> Vec<String> {
        let writes = record["autonomy"]["writes"].as_array().expect("writes");
        writes.iter().filter_map(|w| w.as_str().map(str::to_owned)).collect()
    };

    let first = run();
    assert_eq!(writes(&first).len(), 1, "{first}");
    let branches = fix_branches(&app);
    let fix = branches[0].split(' ').next().expect("name").to_owned();
    // A human merges it and keeps the branch: CI is green, the finding is done.
    git(&app, &["merge", "--ff-only", "-q", &fix]);
    let green = run();
    assert!(writes(&green).is_empty(), "{green}");
    assert_eq!(repo(&green, "local/app")["ci"], "passing", "{green}");
    // The same failure comes back while the merged branch is still there: recorded as merged, nothing sent.
    write(&app, "src/main.rs", "fn main(){println!(\"2\");}\n");
    commit_all(&app, "unformatted again");
    let again = run();
    assert!(writes(&again).is_empty(), "a kept, merged branch is not published again: {again}");
    assert!(again["autonomy"]["errors"].as_array().expect("errors").is_empty(), "{again}");
    // Once the merged branch is deleted, the failure gets a new fix: a merge is not a human's no.
    git(&app, &["branch", "-d", &fix]);
    let fixed = run();
    assert_eq!(writes(&fixed).len(), 1, "{fixed}");
    assert_eq!(fix_branches(&app).len(), 1);
}
