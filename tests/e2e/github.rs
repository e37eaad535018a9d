//! `hive run --org/--user/--repo` and `hive single` end to end: the real binary against the GitHub API emulator on
//! loopback (`GITHUB_API_URL`, `GITHUB_TOKEN`).

use std::process::{Command, Output};

use hive_testkit::{DependabotSpec, Emulator, IssueSpec, JobSpec, RepoSpec, RunSpec};
use serde_json::Value;

/// Runs the binary in a blocking task, so the emulator keeps serving on the test's runtime meanwhile.
async fn hive(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let state = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hive"));
    cmd.args(args).arg("--state-dir").arg(state.path());
    for var in [
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "GITHUB_API_URL",
        "GITHUB_GRAPHQL_URL",
        "ORCHESTRATION_INTERVAL",
        "EMERGENCY_MODE",
        "PILOT_LOG_LEVEL",
        "HIVE_STATE_DIR",
        "HIVE_GITHUB_APP_ID",
    ] {
        cmd.env_remove(var);
    }
    let envs: Vec<(String, String)> = envs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    cmd.envs(envs);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run hive")).await.expect("join");
    drop(state);
    out
}

/// An organisation `acme` of three repositories: `api` failing its tests, `web` passing, `attic` archived.
pub(crate) async fn emulated_fleet() -> Emulator {
    let emu = Emulator::start().await;
    let s = emu.state();
    s.add_org("acme");
    s.add_repo(RepoSpec::new("acme", "api").license("MIT").has_security_md(true));
    s.add_repo(RepoSpec::new("acme", "web"));
    s.add_repo(RepoSpec::new("acme", "attic").archived(true));
    s.add_workflow_run("acme", "web", RunSpec::new("CI", "main"));
    s.add_workflow_run(
        "acme",
        "api",
        RunSpec::new("CI", "main")
            .outcome("completed", Some("failure"))
            .job(JobSpec::new("test", "completed", Some("failure")).step("cargo test", "completed", Some("failure"))),
    );
    s.add_issue("acme", "api", IssueSpec::new("Crash on start").label("bug"));
    s.set_dependabot("acme", "web", DependabotSpec::Forbidden);
    emu
}

fn env(emu: &Emulator) -> [(&'static str, String); 2] {
    [("GITHUB_API_URL", emu.url()), ("GITHUB_TOKEN", emu.token().to_owned())]
}

#[tokio::test(flavor = "multi_thread")]
async fn run_once_over_an_org_prints_the_cycle_record_with_points() {
    let emu = emulated_fleet().await;
    let env = env(&emu);
    let envs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = hive(&["run", "--once", "--org", "acme", "--json"], &envs).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(!stderr.contains(emu.token()));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let record: Value = serde_json::from_str(lines[0]).expect("json");
    for field in ["timestamp", "orchestration_cycle", "healthy_repositories", "global_health_score", "ecosystem_health"]
    {
        assert!(record.get(field).is_some(), "{field} missing: {record}");
    }
    assert_eq!(record["total_repositories"], 2, "the archived repository is skipped: {record}");
    assert!(record["points_spent"].as_u64().is_some_and(|p| p > 0), "{record}");
    let repos = record["repositories"].as_array().expect("repositories");
    let api = repos.iter().find(|r| r["repo"] == "acme/api").expect("acme/api");
    assert_eq!(api["ci"], "failing");
    assert!(emu.state().requests().iter().all(|r| r.authorized));

    // Human output says the same, points included.
    let out = hive(&["run", "--once", "--repo", "acme/web", "--repo", "acme/api", "--exclude", "web"], &envs).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("1 GitHub repositories") && stdout.contains("github points this cycle"), "{stdout}");
    assert!(stdout.contains("acme/api") && !stdout.contains("acme/web"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn single_status_prints_the_score_breakdown() {
    let emu = emulated_fleet().await;
    let env = env(&emu);
    let envs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = hive(&["single", "acme/api", "status", "--json"], &envs).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let record: Value = serde_json::from_slice(&out.stdout).expect("one json document");
    assert_eq!(record["repo"], "acme/api");
    let components = record["health"]["components"].as_array().expect("components");
    assert!(components.iter().any(|c| c["name"] == "ci" && c["score"] == 0), "{record}");
    assert_eq!(record["snapshot"]["github"]["license"], "MIT");

    let out = hive(&["single", "acme/web", "status"], &envs).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("acme/web: "), "{stdout}");
    assert!(stdout.contains("security alerts not visible"), "Dependabot 403 is unknown, not a failure: {stdout}");

    let out = hive(&["single", "acme/nope", "status"], &envs).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_token_the_error_says_what_is_missing() {
    // A missing token is a configuration error: exit 2, found before anything is sent.
    for args in [&["run", "--once", "--org", "acme"][..], &["single", "acme/api", "status"][..]] {
        let out = hive(args, &[]).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(
                "no GitHub token: set GITHUB_TOKEN or GH_TOKEN (or GITHUB_API_URL for an emulator or enterprise server)"
            ),
            "{stderr}"
        );
    }
}

/// A repository whose CI names (all chosen by whoever controls the repository) carry terminal escape sequences, a
/// token-shaped string and the very token hive runs with.
async fn hostile_names_fleet() -> (Emulator, Vec<String>) {
    let emu = Emulator::start().await;
    let ghp = format!("ghp_{}", "Zx9".repeat(12));
    let real = emu.token().to_owned();
    let osc = "\u{1b}]0;pwned\u{7}";
    let clear = "\u{1b}[2J";
    let s = emu.state();
    s.add_org("acme");
    s.add_repo(RepoSpec::new("acme", "api").license(&format!("MIT{clear}{osc}")));
    s.add_workflow_run(
        "acme",
        "api",
        RunSpec::new(&format!("CI{osc}{ghp}"), "main").outcome("completed", Some("failure")).job(
            JobSpec::new(&format!("test{clear}{real}\nacme/api: 100 / 100, healthy"), "completed", Some("failure"))
                .step(&format!("cargo test\u{202e}{osc}{ghp}"), "completed", Some("failure")),
        ),
    );
    let forbidden = vec![osc.to_owned(), clear.to_owned(), "\u{1b}".to_owned(), "\u{202e}".to_owned(), ghp, real];
    (emu, forbidden)
}

#[tokio::test(flavor = "multi_thread")]
async fn single_status_shows_hostile_ci_names_without_escapes_or_secrets() {
    let (emu, forbidden) = hostile_names_fleet().await;
    let env = env(&emu);
    let envs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for json in [false, true] {
        let mut args = vec!["single", "acme/api", "status", "-vv"];
        if json {
            args.push("--json");
        }
        let out = hive(&args, &envs).await;
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{stdout}\n{stderr}");
        for bad in &forbidden {
            assert!(
                !stdout.contains(bad.as_str()) && !stderr.contains(bad.as_str()),
                "{bad:?} shown:\n{stdout}\n{stderr}"
            );
        }
        if json {
            let record: Value = serde_json::from_str(&stdout).expect("one json document");
            let failure = &record["snapshot"]["ci"]["failures"][0];
            assert!(failure["job"].as_str().is_some_and(|job| job.contains("[REDACTED]")), "{record}");
        } else {
            assert!(stdout.contains("ci failure: CI") && stdout.contains("[REDACTED]"), "{stdout}");
            // The job name's newline cannot fake a line of output.
            assert!(!stdout.lines().any(|line| line.starts_with("acme/api: 100")), "{stdout}");
        }
    }
}
