//! The one-shot modes through the real binary: `hive emergency-scan` (exit 3 while a trigger holds, 0 once it does
//! not), `hive health-audit` (the components table and its JSON), `--fail-on` for cron and CI, `hive status` and
//! `hive command` against a real `hive serve` and against a closed port, completions, a closed stdout pipe, and
//! `hive run`'s progress, drawn on a terminal's stderr only.

use std::{
    os::fd::OwnedFd,
    path::Path,
    process::{Output, Stdio},
};

use hive_testkit::projects::{commit_all, git_repo, write};
use serde_json::Value;

use crate::{
    daemon::{Daemon, hive_command},
    stderr, stdout,
};

/// A workspace of `failing` repositories whose tests fail the same way (`make test` running `false`) and one, `ok`,
/// whose tests pass.
fn workspace(dir: &Path, failing: &[&str]) -> String {
    let ws = dir.join("ws");
    for name in failing {
        write(&ws.join(name), "Makefile", "test:\n\tfalse\n");
        git_repo(&ws.join(name));
    }
    write(&ws.join("ok"), "Makefile", "test:\n\ttrue\n");
    git_repo(&ws.join("ok"));
    ws.to_str().expect("utf-8").to_owned()
}

/// Runs the binary in a clean environment on the state directory `state`.
fn hive(state: &Path, args: &[&str]) -> Output {
    hive_command(state, args).output().expect("run hive")
}

#[test]
fn emergency_scan_exits_3_while_a_systemic_failure_holds_and_0_once_it_does_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = workspace(dir.path(), &["a", "b", "c"]);
    let state = dir.path().join("state");

    let out = hive(&state, &["emergency-scan", "--workspace", &ws]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("EMERGENCY: 1 cause"), "{text}");
    let cause = text.lines().find(|l| l.contains("!! systemic failure")).unwrap_or_else(|| panic!("{text}"));
    assert!(cause.ends_with("in 3 members: local/a, local/b, local/c"), "{cause}");
    assert!(stderr(&out).contains("hive: emergency: systemic failure"), "{}", stderr(&out));

    let out = hive(&state, &["--json", "emergency-scan", "--workspace", &ws]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let record: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(record["emergency_mode"], true, "{record}");
    assert_eq!(record["causes"][0]["trigger"], "systemic_failure", "{record}");
    assert_eq!(record["causes"][0]["members"], serde_json::json!(["local/a", "local/b", "local/c"]), "{record}");
    assert!(record["timestamp"].as_str().is_some_and(is_rfc3339), "{record}");

    // One repository fixed: two failing the same way are no longer systemic.
    let c = Path::new(&ws).join("c");
    write(&c, "Makefile", "test:\n\ttrue\n");
    commit_all(&c, "fix the tests");
    let out = hive(&state, &["emergency-scan", "--workspace", &ws]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("no emergency: no trigger holds"), "{}", stdout(&out));
    // ... but what is unhealthy still fails a scan that asks for it.
    let out = hive(&state, &["emergency-scan", "--workspace", &ws, "--fail-on", "unhealthy"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("hive: 2 repositories unhealthy: local/a, local/b"), "{}", stderr(&out));
}

#[test]
fn health_audit_prints_every_component_as_a_table_and_as_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = workspace(dir.path(), &["bad"]);
    let state = dir.path().join("state");

    let out = hive(&state, &["health-audit", "--workspace", &ws]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "health audit: 1/2 healthy, WARNING", "{text}");
    let header: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(header[..4], ["REPO", "SCORE", "VERDICT", "CI"], "{text}");
    let bad: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!((bad[0], bad[2], bad[3]), ("local/bad", "UNHEALTHY", "0"), "{text}");
    let ok: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!((ok[0], ok[2], ok[3]), ("local/ok", "HEALTHY", "10"), "{text}");
    assert_eq!(bad.len(), header.len(), "one column per component: {text}");

    let out = hive(&state, &["--json", "health-audit", "--workspace", &ws, "--fail-on", "unhealthy"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("hive: 1 repository unhealthy: local/bad"), "{}", stderr(&out));
    let audit: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(audit["fleet"]["level"], "WARNING", "{audit}");
    assert!(audit["timestamp"].as_str().is_some_and(is_rfc3339), "{audit}");
    let bad = &audit["repositories"][0];
    assert_eq!((&bad["repo"], &bad["verdict"]), (&Value::from("local/bad"), &Value::from("UNHEALTHY")), "{bad}");
    let ci = bad["components"].as_array().and_then(|c| c.iter().find(|c| c["name"] == "ci")).expect("ci");
    assert_eq!(ci["score"], 0, "{ci}");
    assert!(ci["reason"].as_str().is_some_and(|r| r.contains("failed job")), "{ci}");

    // An audit evaluates no emergency trigger: asking it to fail on one is a usage error.
    let out = hive(&state, &["health-audit", "--workspace", &ws, "--fail-on", "emergency"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("use `hive emergency-scan`"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

#[test]
fn run_once_fails_on_what_it_is_asked_to_fail_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = workspace(dir.path(), &["a", "b", "c"]);
    let state = dir.path().join("state");
    let out = hive(&state, &["run", "--once", "--workspace", &ws]);
    assert_eq!(out.status.code(), Some(0), "no --fail-on, no findings: {}", stderr(&out));
    let out = hive(&state, &["run", "--once", "--workspace", &ws, "--fail-on", "emergency"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("hive: emergency: systemic failure"), "{}", stderr(&out));
    // The second run on this state directory: its cycle continues the count.
    assert!(stdout(&out).contains("cycle 2 "), "the cycle is printed first: {}", stdout(&out));

    let calm = tempfile::tempdir().expect("tempdir");
    let ws = workspace(calm.path(), &[]);
    let out = hive(&calm.path().join("state"), &["run", "--once", "--workspace", &ws, "--fail-on", "unhealthy"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = hive(&calm.path().join("state"), &["run", "--workspace", &ws, "--fail-on", "unhealthy"]);
    assert_eq!(out.status.code(), Some(2), "--fail-on needs --once: {}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn status_and_command_talk_to_a_running_serve() {
    const TOKEN: &str = "cli-token-123";
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = workspace(dir.path(), &["bad"]);
    let state = dir.path().join("state");
    let mut cmd = hive_command(&state, &["serve", "--workspace", &ws, "--bind", "127.0.0.1:0"]);
    cmd.env("HIVE_API_TOKEN", TOKEN).env("ORCHESTRATION_INTERVAL", "1");
    let mut daemon = Daemon::spawn(cmd, &dir.path().join("stderr.log"));
    let line = daemon.line("the listening line", |l| l.starts_with("hive serve: listening on http://")).await;
    let api = line.trim_start_matches("hive serve: listening on ").trim().to_owned();
    // The clients take no state directory's lock, so they run beside the server on the same one.
    let client = |args: &[&str], token: Option<&str>| {
        let mut cmd = hive_command(&state, args);
        cmd.env("HIVE_API", &api);
        if let Some(token) = token {
            cmd.env("HIVE_API_TOKEN", token);
        }
        cmd.output().expect("run hive")
    };

    let until = std::time::Instant::now() + crate::daemon::DEADLINE;
    loop {
        let out = client(&["--json", "status"], None);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let status: Value = serde_json::from_slice(&out.stdout).expect("json");
        let reported = status["members"].as_array().is_some_and(|m| {
            m.iter().any(|m| m["id"] == "local/bad" && m["score"].is_number())
                && m.iter().any(|m| m["id"] == "local/ok" && m["score"].is_number())
        });
        if reported {
            break;
        }
        assert!(std::time::Instant::now() < until, "no reports: {status}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let out = client(&["status"], None);
    let text = stdout(&out);
    assert!(text.lines().any(|l| l.trim_start().starts_with("x local/bad")), "{text}");
    assert!(text.lines().any(|l| l.trim_start().starts_with("+ local/ok")), "{text}");

    // A command that changes the hive needs the token: asked for before anything is sent.
    let out = client(&["command", "emergency", "declare"], None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("set HIVE_API_TOKEN"), "{}", stderr(&out));
    // The wrong one is refused by the hive, with its JSON error.
    let out = client(&["command", "emergency declare"], Some("not-it"));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("403 Forbidden: the API token is not this hive's"), "{}", stderr(&out));
    let out = client(&["command", "emergency", "declare"], Some(TOKEN));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "ok: emergency declare");
    let out = client(&["status"], None);
    assert!(stdout(&out).contains("!! EMERGENCY: declared by the api"), "{}", stdout(&out));

    // A typo: the usage, exit 2.
    let out = client(&["command", "stauts"], Some(TOKEN));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("unknown command 'stauts'; did you mean 'status'?"), "{err}");
    assert!(err.contains("usage:") && err.contains("emergency declare|clear"), "{err}");
    assert!(!err.contains(TOKEN) && !stdout(&out).contains(TOKEN));

    daemon.signal(nix::sys::signal::Signal::SIGTERM);
    let exit = daemon.exit_within(std::time::Duration::from_secs(15)).await;
    assert_eq!(exit.code(), Some(0), "{}", daemon.stderr());

    // Nothing listens there any more.
    let out = client(&["status"], None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("nothing is listening at '{api}/'")), "{err}");
    assert!(err.contains("is `hive serve` running?"), "{err}");
}

#[test]
fn completions_name_every_subcommand() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = hive(dir.path(), &["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let script = stdout(&out);
    assert!(script.contains("_hive()"), "a bash function");
    for sub in ["emergency-scan", "health-audit", "status", "command", "serve", "completions"] {
        assert!(script.contains(sub), "{sub} missing");
    }
    let out = hive(dir.path(), &["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// A pipe whose reader is already gone, as stdout: every write to it fails with `EPIPE`.
fn closed_pipe() -> Stdio {
    let (read, write): (OwnedFd, OwnedFd) = nix::unistd::pipe().expect("pipe");
    drop(read);
    Stdio::from(write)
}

#[test]
fn a_closed_stdout_is_a_quiet_success() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = workspace(dir.path(), &[]);
    let state = dir.path().join("state");
    // `run` prints with `println!`, the audit and the completions with writes that return the error.
    for args in [
        &["run", "--once", "--workspace", &ws][..],
        &["health-audit", "--workspace", &ws][..],
        &["completions", "bash"][..],
    ] {
        let out = hive_command(&state, args).stdout(closed_pipe()).output().expect("run hive");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?}: nothing said about the pipe");
    }
}

/// `2026-12-06T11:54:51Z`: RFC 3339, UTC, seconds.
fn is_rfc3339(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 20
        && [4, 7].iter().all(|&i| b[i] == b'-')
        && b[10] == b'T'
        && [13, 16].iter().all(|&i| b[i] == b':')
        && b[19] == b'Z'
        && text.chars().filter(char::is_ascii_digit).count() == 14
}

#[tokio::test(flavor = "multi_thread")]
async fn single_cycle_takes_one_repository_through_the_loop_and_prints_what_it_would_do() {
    // acme/api fails its tests, acme/web passes, acme/attic is archived.
    let emu = crate::github::emulated_fleet().await;
    let s = emu.state();
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let run = |args: &[&str]| {
        let mut cmd = hive_command(&state, args);
        cmd.env("GITHUB_API_URL", emu.url()).env("GITHUB_TOKEN", emu.token());
        // Blocking, so the emulator keeps serving on the test's runtime meanwhile.
        tokio::task::spawn_blocking(move || cmd.output().expect("run hive"))
    };

    let out = run(&["single", "acme/api", "cycle"]).await.expect("join");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("cycle 1  0/1 healthy"), "{text}");
    assert!(text.lines().any(|l| l.trim_start().starts_with("x acme/api")), "only acme/api: {text}");
    assert!(!text.contains("acme/web"), "{text}");
    let would: Vec<&str> = text.lines().filter(|l| l.trim_start().starts_with("would do: ")).collect();
    assert!(
        would
            .iter()
            .any(|l| l.contains("open_issue acme/api") && l.contains("(\"CI failing on main: CI / test (test)\")")),
        "by title: {text}"
    );
    let writes: Vec<_> =
        s.requests().into_iter().filter(|r| r.method != hive_testkit::Method::GET && r.path != "/graphql").collect();
    assert!(writes.is_empty(), "without --autonomy nothing is written: {writes:?}");
    assert!(!text.contains(emu.token()) && !stderr(&out).contains(emu.token()));

    let out = run(&["single", "acme/api", "cycle", "--fail-on", "unhealthy"]).await.expect("join");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("hive: 1 repository unhealthy: acme/api"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cycle_without_any_verdict_has_the_level_unknown() {
    let emu = crate::github::emulated_fleet().await;
    emu.state().inject(hive_testkit::FaultRule::new(hive_testkit::Fault::Status(500)).path_prefix("/repos/"));
    emu.state().inject(hive_testkit::FaultRule::new(hive_testkit::Fault::Status(500)).path_prefix("/graphql"));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = hive_command(&dir.path().join("state"), &["--json", "run", "--once", "--org", "acme"]);
    cmd.env("GITHUB_API_URL", emu.url()).env("GITHUB_TOKEN", emu.token());
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run hive")).await.expect("join");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let record: Value = serde_json::from_slice(&out.stdout).expect("the cycle's record, printed first");
    assert_eq!(record["ecosystem_health"], "UNKNOWN", "not EXCELLENT: nothing is known; {record}");
    assert_eq!(record["healthy_repositories"], 0, "{record}");
}

#[tokio::test(flavor = "multi_thread")]
async fn emergency_scan_over_github_finds_one_failure_in_three_repositories_and_writes_nothing() {
    use hive_testkit::{Emulator, JobSpec, RepoSpec, RunSpec};
    let emu = Emulator::start().await;
    let s = emu.state();
    s.add_org("acme");
    for name in ["api", "web", "cli", "docs"] {
        s.add_repo(RepoSpec::new("acme", name));
    }
    // The same job and step fail in three of the four: one cause, systemic.
    for name in ["api", "web", "cli"] {
        let failed =
            JobSpec::new("test", "completed", Some("failure")).step("cargo test", "completed", Some("failure"));
        s.add_workflow_run("acme", name, RunSpec::new("CI", "main").outcome("completed", Some("failure")).job(failed));
    }
    s.add_workflow_run("acme", "docs", RunSpec::new("CI", "main"));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = hive_command(&dir.path().join("state"), &["--json", "emergency-scan", "--org", "acme"]);
    cmd.env("GITHUB_API_URL", emu.url()).env("GITHUB_TOKEN", emu.token());
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run hive")).await.expect("join");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let record: Value = serde_json::from_slice(&out.stdout).expect("json");
    let systemic: Vec<&Value> =
        record["causes"].as_array().expect("causes").iter().filter(|c| c["trigger"] == "systemic_failure").collect();
    assert_eq!(systemic.len(), 1, "{record}");
    assert_eq!(systemic[0]["members"], serde_json::json!(["acme/api", "acme/cli", "acme/web"]), "{record}");
    let writes: Vec<_> =
        s.requests().into_iter().filter(|r| r.method != hive_testkit::Method::GET && r.path != "/graphql").collect();
    assert!(writes.is_empty(), "a scan acts on nothing: {writes:?}");
    assert!(!stderr(&out).contains(emu.token()));
}

/// Runs the binary with its stderr on a terminal (a pseudo-terminal the test reads) and its stdout piped: its output,
/// and everything the terminal was sent.
fn on_a_terminal(state: &Path, args: &[&str]) -> (Output, String) {
    use std::io::Read;
    let pty = nix::pty::openpty(None, None).expect("a pseudo-terminal");
    let mut cmd = hive_command(state, args);
    cmd.env("TERM", "xterm").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::from(pty.slave));
    let child = cmd.spawn().expect("spawn hive");
    // The terminal's other end stays open only in the child (and what it starts), so reading it ends with them.
    drop(cmd);
    let mut master = std::fs::File::from(pty.master);
    let reader = std::thread::spawn(move || {
        let mut shown = Vec::new();
        // Once every holder of the other end has closed it, Linux answers EIO: the end of what was shown.
        let _ = master.read_to_end(&mut shown);
        shown
    });
    let out = child.wait_with_output().expect("wait for hive");
    let shown = reader.join().expect("the reader");
    (out, String::from_utf8_lossy(&shown).into_owned())
}

#[test]
fn run_draws_its_progress_on_a_terminal_s_stderr_only_and_never_with_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = workspace(dir.path(), &["a", "b"]);
    let state = dir.path().join("state");
    const BAR: &str = "repositories read";

    let (out, shown) = on_a_terminal(&state, &["run", "--once", "--workspace", &ws]);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(shown.contains(BAR) && shown.contains("/3"), "no progress on the terminal: {shown:?}");
    assert!(stdout(&out).contains("healthy") && !stdout(&out).contains(BAR), "{}", stdout(&out));

    // JSON output wants JSON alone: no bar, even on a terminal.
    let (out, shown) = on_a_terminal(&state, &["run", "--once", "--json", "--workspace", &ws]);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(!shown.contains(BAR), "a bar with --json: {shown:?}");
    let record: Value = serde_json::from_str(stdout(&out).trim()).expect("one JSON record");
    assert_eq!(record["total_repositories"], 3, "{record}");

    // Not a terminal: nothing drawn.
    let out = hive(&state, &["run", "--once", "--workspace", &ws]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains(BAR), "{}", stderr(&out));
}
