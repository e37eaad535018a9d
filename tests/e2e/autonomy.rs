//! The autonomy loop through the real binary against the GitHub emulator: one run end to end, and the crash-safety
//! test: `hive run --once --autonomy` killed with SIGKILL at random points, many times, then run to completion.
//! After every kill and at the end: no duplicate issue, comment or pull request on the emulator, the audit chain
//! verifies, the backlog export is a whole file, and the limits' counters still count everything that was sent.

use std::{
    path::Path,
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use hive::cerebrum::Memory;
use hive_testkit::{Emulator, JobSpec, RepoSpec, RunSpec, Xorshift, git::unformatted_cargo_repo};

/// The binary with a clean environment pointed at the emulator and `state`.
fn hive(emu: &Emulator, state: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hive"));
    cmd.args(args).arg("--state-dir").arg(state);
    for (key, _) in std::env::vars() {
        if key.starts_with("HIVE_") || key.starts_with("GITHUB_") || key == "GH_TOKEN" || key == "EMERGENCY_MODE" {
            cmd.env_remove(key);
        }
    }
    cmd.env("GITHUB_API_URL", emu.url()).env("GITHUB_TOKEN", emu.token());
    // Limits are tested elsewhere; here every round's writes must be allowed, whatever the earlier kills reserved,
    // so that duplicates could only be prevented by finding earlier work again, not by a limit.
    cmd.env("HIVE_MAX_ISSUES_PER_HOUR", "1000")
        .env("HIVE_MAX_CONTENT_PER_MINUTE", "1000")
        .env("HIVE_MAX_COMMENTS_PER_ISSUE_PER_DAY", "1000");
    cmd
}

async fn output(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("run hive")).await.expect("join")
}

/// acme/api fails its tests (an issue), acme/web fails `cargo fmt --check` (an issue and a fix pull request), three
/// more are green.
async fn fleet(git_root: &Path) -> Emulator {
    let emu = Emulator::start().await;
    let s = emu.state();
    s.add_org("acme");
    s.add_repo(RepoSpec::new("acme", "api"));
    // A healthy majority, so that two failing repositories are not an ecosystem emergency.
    for healthy in ["docs", "site", "tools"] {
        s.add_repo(RepoSpec::new("acme", healthy));
        s.add_workflow_run("acme", healthy, RunSpec::new("ci", "main"));
    }
    let (bare, head) = unformatted_cargo_repo(git_root, "web", 1);
    s.add_repo(RepoSpec::new("acme", "web").git_dir(bare));
    s.add_workflow_run(
        "acme",
        "api",
        RunSpec::new("ci", "main").outcome("completed", Some("failure")).job(JobSpec::new(
            "unit tests",
            "completed",
            Some("failure"),
        )),
    );
    s.add_workflow_run(
        "acme",
        "web",
        RunSpec::new("ci", "main").head_sha(&head).outcome("completed", Some("failure")).job(
            JobSpec::new("fmt", "completed", Some("failure")).step("cargo fmt --check", "completed", Some("failure")),
        ),
    );
    emu
}

const RUN: [&str; 5] = ["run", "--once", "--org", "acme", "--autonomy"];

#[tokio::test(flavor = "multi_thread")]
async fn one_run_files_issues_opens_the_fix_and_leaves_a_verifiable_trail() {
    let git_root = tempfile::tempdir().expect("tempdir");
    let emu = fleet(git_root.path()).await;
    let state = tempfile::tempdir().expect("tempdir");
    let out = output(hive(&emu, state.path(), &RUN)).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("autonomy (cycle 1)"), "{stdout}");
    assert!(stdout.contains(", 1 fixes attempted,"), "the fix pull request: {stdout}");
    assert!(!stdout.contains(emu.token()), "{stdout}");
    let issues = |repo| emu.state().issues("acme", repo).into_iter().filter(|i| !i.is_pull).count();
    assert_eq!((issues("api"), issues("web")), (1, 1), "{stdout}");
    assert_eq!(emu.state().pulls("acme", "web").len(), 1);

    let verify = output(hive(&emu, state.path(), &["audit", "verify"])).await;
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    let validate = output(hive(&emu, state.path(), &["backlog", "validate"])).await;
    let summary = std::fs::read_to_string(state.path().join("cycles/000001.md")).expect("the cycle summary");
    assert!(summary.contains("## Written"), "{summary}");
    assert!(validate.status.success(), "{}", String::from_utf8_lossy(&validate.stderr));
    let backlog = output(hive(&emu, state.path(), &["backlog"])).await;
    assert!(String::from_utf8_lossy(&backlog.stdout).contains("acme/web"));

    // The JSON record carries the loop's report and the fixes it attempted.
    let out = output(hive(&emu, state.path(), &[&RUN[..], &["--json"]].concat())).await;
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON record");
    assert_eq!(record["autonomy"]["cycle"], 2, "{record}");
    assert_eq!(record["fixes_attempted"], 0, "nothing new to fix: {record}");

    // Without --autonomy the next run writes nothing new.
    emu.state().clear_requests();
    let out = output(hive(&emu, state.path(), &RUN[..4])).await;
    assert!(out.status.success());
    // Reads only: GETs, and GraphQL queries (which travel as POSTs).
    assert!(emu.state().requests().iter().all(|r| r.method == hive_testkit::Method::GET || r.path == "/graphql"));
}

/// The invariants that must hold after any kill.
fn check(emu: &Emulator, state: &Path, repos: &[String], round: usize) {
    for repo in repos {
        let issues: Vec<_> = emu.state().issues("acme", repo).into_iter().filter(|i| !i.is_pull).collect();
        assert!(issues.len() <= 1, "round {round}: duplicate issues in {repo}: {issues:?}");
        for issue in &issues {
            // Each comment hive writes carries a marker naming what it is about; the same one twice is a duplicate.
            let comments = emu.state().comments("acme", repo, issue.number);
            let mut markers: Vec<&str> =
                comments.iter().flat_map(|c| c.lines()).filter(|l| l.starts_with("<!-- hive:comment ")).collect();
            let total = markers.len();
            markers.sort_unstable();
            markers.dedup();
            assert_eq!(
                markers.len(),
                total,
                "round {round}: a comment posted twice on {repo}#{}: {comments:?}",
                issue.number
            );
            assert_eq!(total, comments.len(), "round {round}: a comment without a marker: {comments:?}");
        }
        if repo != "web" {
            assert!(emu.state().pulls("acme", repo).is_empty(), "round {round}: {repo}");
        }
    }
    let pulls = emu.state().pulls("acme", "web");
    assert!(pulls.len() <= 1, "round {round}: duplicate pull requests: {pulls:?}");
    // The export is the old file or the new one, never torn.
    let export = state.join("backlog.json");
    if export.exists() {
        let bytes = std::fs::read(&export).expect("read backlog.json");
        let doc: serde_json::Value =
            serde_json::from_slice(&bytes).unwrap_or_else(|err| panic!("round {round}: torn backlog.json: {err}"));
        assert!(doc["items"].is_array(), "round {round}: {doc}");
    }
}

fn failing_run(job: &str) -> RunSpec {
    RunSpec::new("ci", "main").outcome("completed", Some("failure")).job(JobSpec::new(
        job,
        "completed",
        Some("failure"),
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_at_random_points_it_never_writes_twice_and_its_records_stay_whole() {
    let git_root = tempfile::tempdir().expect("tempdir");
    let emu = fleet(git_root.path()).await;
    let state = tempfile::tempdir().expect("tempdir");
    // A fixed default, so a failure in CI can be replayed; set HIVE_CRASH_SEED to explore others.
    let mut rng = Xorshift::from_env("HIVE_CRASH_SEED", 0x9E37_79B9_7F4A_7C15);
    let seed = rng.seed();
    // Answers to writes arrive late, so kills often land after GitHub acted and before hive heard of it: the
    // window where a careless client would write again.
    emu.state().set_write_reply_delay(Duration::from_millis(400));
    let rounds = 20;
    let mut killed = 0;
    let mut repos: Vec<String> = ["api", "web", "docs", "site", "tools"].map(str::to_owned).to_vec();
    for round in 0..rounds {
        // New work every round, so every run has writes to be killed in: a new failing repository (an issue), the
        // previous one green again (a close), and acme/api flipping between green and failing (close, reopen).
        let name = format!("r{round}");
        emu.state().add_repo(RepoSpec::new("acme", &name));
        emu.state().add_workflow_run("acme", &name, failing_run(&format!("suite {round}")));
        if round > 0 {
            emu.state().add_workflow_run("acme", &format!("r{}", round - 1), RunSpec::new("ci", "main"));
        }
        let api = if round % 2 == 0 { RunSpec::new("ci", "main") } else { failing_run("unit tests") };
        emu.state().add_workflow_run("acme", "api", api);
        repos.push(name);

        let log = std::fs::File::create(state.path().join(format!("round-{round}.log"))).expect("log file");
        let mut child = hive(&emu, state.path(), &RUN).stdout(Stdio::null()).stderr(log).spawn().expect("spawn");
        // A random point in the run: from start-up to past the last write (writes are paced a second apart).
        let kill_at = Duration::from_millis(200 + rng.below(4_500));
        let started = Instant::now();
        let finished = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break Some(status);
            }
            if started.elapsed() >= kill_at {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        if let Some(status) = finished {
            let log = std::fs::read_to_string(state.path().join(format!("round-{round}.log"))).unwrap_or_default();
            assert!(status.success(), "round {round} failed on its own (seed {seed}): {log}");
        } else {
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
            killed += 1;
        }
        check(&emu, state.path(), &repos, round);
    }
    eprintln!("crash test: {killed} of {rounds} runs killed mid-run");
    assert!(killed >= rounds / 4, "too few rounds were killed mid-run to test anything (seed {seed})");

    // A last run to completion converges: everything exists exactly once.
    let out = output(hive(&emu, state.path(), &RUN)).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    check(&emu, state.path(), &repos, rounds);
    let issues = |repo: &str| emu.state().issues("acme", repo).into_iter().filter(|i| !i.is_pull).collect::<Vec<_>>();
    assert_eq!(issues("api").len(), 1, "seed {seed}");
    assert_eq!(issues("api")[0].state, "open", "seed {seed}: the last round left acme/api failing");
    assert_eq!(issues("web").len(), 1, "seed {seed}");
    assert_eq!(issues(&format!("r{}", rounds - 1)).len(), 1, "seed {seed}: {stdout}");
    // Every repository that turned green has its issue closed, including issues filed just before a kill.
    for round in 0..rounds - 1 {
        for issue in issues(&format!("r{round}")) {
            assert_eq!(issue.state, "closed", "seed {seed}: r{round} is green: {issue:?}\n{stdout}");
        }
    }
    assert_eq!(emu.state().pulls("acme", "web").len(), 1, "seed {seed}");

    let verify = output(hive(&emu, state.path(), &["audit", "verify"])).await;
    assert!(verify.status.success(), "seed {seed}: {}", String::from_utf8_lossy(&verify.stderr));

    // Counters intact: every issue and pull request the emulator holds was counted against the limits.
    let mut memory = Memory::open(state.path()).expect("open the database");
    let mut counted = |kind: &str| memory.writes().count(&[kind], None, 0).expect("count");
    let issues_counted = counted("open_issue");
    let prs_counted = counted("open_pull_request");
    let filed = repos.iter().map(|r| issues(r).len() as u32).sum::<u32>();
    assert!(issues_counted >= filed, "seed {seed}: {issues_counted} issue writes counted for {filed} issues");
    assert!(prs_counted >= 1, "seed {seed}: {prs_counted} pull request writes counted for 1 pull request");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_database_stops_the_run_with_a_way_out_and_is_left_as_it_was() {
    let git_root = tempfile::tempdir().expect("tempdir");
    let emu = fleet(git_root.path()).await;
    let state = tempfile::tempdir().expect("tempdir");
    let db = state.path().join("hive.db");
    let garbage = b"this is not a database, it was overwritten by something else".repeat(100);
    std::fs::write(&db, &garbage).expect("write");
    let out = output(hive(&emu, state.path(), &RUN)).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is damaged or not a hive database") && stderr.contains("hive.db"), "{stderr}");
    assert!(stderr.contains("backup"), "{stderr}");
    assert_eq!(std::fs::read(&db).expect("read"), garbage, "never reset");
    assert!(emu.state().issues("acme", "api").is_empty(), "nothing written without a database");
}
