//! The `hive` process's life as a daemon, through the real binary: signals (SIGINT after a cycle, SIGTERM in the
//! middle of the autonomy loop's writes or of a local CI run) end it with exit 0, no write sent after the signal and
//! no process or temporary worktree left, and a second signal ends it at once; the lock on the state directory; a
//! GitHub that is unreachable at start; and `--once` failing when no repository could be read.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    time::{Duration, Instant},
};

use hive_testkit::{Emulator, Fault, FaultRule, JobSpec, Method, RepoSpec, RunSpec, git::git};
use nix::sys::signal::Signal;

use crate::daemon::{DEADLINE, Daemon, Proc, descendants, hive_command, is_gone};

/// How long a signalled daemon may take to exit before the test fails. It exits in about a second; the deadline
/// leaves room for a loaded machine, since it only tells a stop from a hang.
const EXIT_DEADLINE: Duration = Duration::from_secs(15);

/// An organisation of five repositories of which `failing` (at most two, so the fleet is not in an emergency)
/// fail CI, each with its own job: an autonomous hive files one issue in each, a second apart.
pub(crate) async fn failing_fleet(failing: usize) -> Emulator {
    let emu = Emulator::start().await;
    let s = emu.state();
    s.add_org("acme");
    for healthy in ["docs", "site", "tools"] {
        s.add_repo(RepoSpec::new("acme", healthy));
        s.add_workflow_run("acme", healthy, RunSpec::new("ci", "main"));
    }
    for i in 0..failing {
        let name = format!("r{i}");
        s.add_repo(RepoSpec::new("acme", &name));
        s.add_workflow_run(
            "acme",
            &name,
            RunSpec::new("ci", "main").outcome("completed", Some("failure")).job(JobSpec::new(
                &format!("suite {i}"),
                "completed",
                Some("failure"),
            )),
        );
    }
    emu
}

/// `hive run --org acme ARGS` against `emu`, with limits that allow every issue.
fn github(emu: &Emulator, state: &Path, args: &[&str]) -> Command {
    let mut cmd = hive_command(state, &[&["run", "--org", "acme"], args].concat());
    cmd.env("GITHUB_API_URL", emu.url())
        .env("GITHUB_TOKEN", emu.token())
        .env("ORCHESTRATION_INTERVAL", "1")
        .env("HIVE_MAX_ISSUES_PER_HOUR", "1000")
        .env("HIVE_MAX_CONTENT_PER_MINUTE", "1000");
    cmd
}

/// The write requests (anything but a read; GraphQL queries are reads) the emulator received at or after `since`.
fn writes_since(emu: &Emulator, since: Option<Instant>) -> Vec<String> {
    let requests = emu.state().requests();
    let writes = requests.iter().filter(|r| r.method != Method::GET && r.path != "/graphql");
    writes.filter(|r| since.is_none_or(|t| r.at >= t)).map(|r| format!("{} {}", r.method, r.path)).collect()
}

/// Polls until every process in `procs` is gone, or fails the test after [`DEADLINE`].
async fn all_gone(procs: &[Proc]) {
    let until = Instant::now() + DEADLINE;
    while let Some(alive) = procs.iter().find(|p| !is_gone(p.pid)) {
        assert!(Instant::now() < until, "{alive:?} outlived hive");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn output(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("run hive")).await.expect("join")
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_right_after_a_cycle_line_stops_the_daemon_with_exit_0() {
    let emu = failing_fleet(2).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cmd = github(&emu, &dir.path().join("state"), &["--autonomy"]);
    let mut daemon = Daemon::spawn(cmd, &dir.path().join("stderr.log"));
    daemon.line("cycle line", |line| line.starts_with("cycle 1 ")).await;
    let children = descendants(daemon.pid());
    let sent = daemon.signal(Signal::SIGINT);

    let status = daemon.exit_within(EXIT_DEADLINE).await;
    assert_eq!(status.code(), Some(0), "{}", daemon.stderr());
    assert!(daemon.stderr().contains("SIGINT received, shutting down"), "{}", daemon.stderr());
    assert_eq!(writes_since(&emu, Some(sent)), Vec::<String>::new(), "writes after the signal");
    all_gone(&children).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_stops_the_demo_after_the_cycle_in_progress_with_its_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = ["demo", "--repos", "5", "--cycles", "100000", "--interval-ms", "50", "--chaos", "0"];
    let mut daemon = Daemon::spawn(hive_command(&dir.path().join("state"), &args), &dir.path().join("stderr.log"));
    daemon.line("cycle line", |line| line.starts_with("cycle   1")).await;
    daemon.signal(Signal::SIGHUP);
    let summary = daemon.line("summary", |line| line.starts_with("done: ")).await;
    assert_eq!(daemon.exit_within(EXIT_DEADLINE).await.code(), Some(0), "{}", daemon.stderr());
    assert!(!summary.starts_with("done: 100000 cycles"), "{summary}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_in_the_middle_of_the_writes_sends_no_further_write_and_the_next_start_finishes_them() {
    let repos = 2;
    let emu = failing_fleet(repos).await;
    emu.state().set_latency(Duration::from_millis(20));
    // GitHub makes each write at once but answers it late, so the loop is certainly still waiting on its first write
    // when the signal arrives, however loaded the machine.
    emu.state().set_write_reply_delay(Duration::from_secs(20));
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let mut daemon = Daemon::spawn(github(&emu, &state, &["--autonomy", "--json"]), &dir.path().join("stderr.log"));
    // The first issue is filed: the loop is in the middle of its writes.
    let until = Instant::now() + DEADLINE;
    while writes_since(&emu, None).is_empty() {
        assert!(Instant::now() < until, "no write within {DEADLINE:?}\nstderr: {}", daemon.stderr());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let children = descendants(daemon.pid());
    let sent = daemon.signal(Signal::SIGTERM);

    let status = daemon.exit_within(EXIT_DEADLINE).await;
    assert_eq!(status.code(), Some(0), "{}", daemon.stderr());
    assert_eq!(writes_since(&emu, Some(sent)), Vec::<String>::new(), "writes after the signal");
    all_gone(&children).await;
    let issues = |i: usize| emu.state().issues("acme", &format!("r{i}")).len();
    let filed: usize = (0..repos).map(issues).sum();
    assert!(filed < repos, "the cycle was cut short, not finished: {filed} issues");

    // The next start reconciles: every repository ends with exactly one issue.
    emu.state().set_write_reply_delay(Duration::ZERO);
    let out = output(github(&emu, &state, &["--autonomy", "--once"])).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((0..repos).map(issues).collect::<Vec<_>>(), vec![1; repos]);
}

/// A git repository at `repo` with one commit holding `makefile`.
fn make_repo(repo: &Path, makefile: &str) {
    std::fs::create_dir_all(repo).expect("mkdir");
    std::fs::write(repo.join("Makefile"), makefile).expect("Makefile");
    git(repo, &["init", "--quiet", "--initial-branch=main"]);
    git(repo, &["add", "."]);
    git(repo, &["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "init"]);
}

/// A workspace with one repository, `name`, whose `make test` runs `recipe`.
fn workspace(root: &Path, name: &str, recipe: &str) -> PathBuf {
    let ws = root.join("ws");
    make_repo(&ws.join(name), &format!("test:\n\t{recipe}\n"));
    ws
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_a_local_ci_run_kills_its_process_groups_and_removes_the_worktree() {
    let dir = tempfile::tempdir().expect("tempdir");
    // One child in the test command's group, one that made a session (and group) of its own.
    let ws = workspace(dir.path(), "slow", "sleep 300 & setsid sleep 301 & wait");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).expect("mkdir");
    let state = dir.path().join("state");
    let mut cmd = hive_command(&state, &["run", "--workspace", ws.to_str().expect("utf-8")]);
    cmd.env("TMPDIR", &tmp);
    let mut daemon = Daemon::spawn(cmd, &dir.path().join("stderr.log"));
    let until = Instant::now() + DEADLINE;
    let children = loop {
        let found = descendants(daemon.pid());
        if found.iter().filter(|p| p.comm == "sleep").count() == 2 {
            break found;
        }
        assert!(Instant::now() < until, "the test command did not start: {found:?}\n{}", daemon.stderr());
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let groups: std::collections::BTreeSet<u32> = children.iter().map(|p| p.pgid).collect();
    assert!(groups.len() >= 2, "the test command and the setsid child lead their own groups: {children:?}");
    daemon.signal(Signal::SIGTERM);

    let status = daemon.exit_within(EXIT_DEADLINE).await;
    assert_eq!(status.code(), Some(0), "{}", daemon.stderr());
    all_gone(&children).await;
    let left: Vec<_> = std::fs::read_dir(&tmp).expect("tmp").filter_map(Result::ok).map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "temporary worktrees left behind: {left:?}");
    // The run was cut short, not failed: nothing about it is cached as a result.
    let cache = std::fs::read_to_string(state.join("cache/local-ci/runs.json")).unwrap_or_default();
    assert!(!cache.contains("slow"), "a cut-short run was cached: {cache}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_signal_during_a_slow_graceful_stop_exits_at_once_with_130() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    // A service that ignores SIGTERM: its keeper waits out the stop timeout before killing it, so the graceful
    // shutdown takes seconds.
    let repo = dir.path().join("stubborn");
    make_repo(&repo, "serve:\n\ttrap '' TERM; sleep 60\n");
    let import = output(hive_command(&state, &["ecosystem", "import", repo.to_str().expect("utf-8"), "--json"])).await;
    assert!(import.status.success(), "{}", String::from_utf8_lossy(&import.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&import.stdout).expect("json");
    let id = meta["id"].as_str().expect("id");
    let cmd = hive_command(&state, &["ecosystem", id, "start", "--json"]);
    let mut daemon = Daemon::spawn(cmd, &dir.path().join("stderr.log"));
    daemon.line("running service", |line| line.contains("\"state\":\"running\"")).await;
    let children = descendants(daemon.pid());
    assert!(children.iter().any(|p| p.comm == "sleep"), "{children:?}");

    daemon.signal(Signal::SIGTERM);
    let until = Instant::now() + DEADLINE;
    while !daemon.stderr().contains("SIGTERM received, shutting down") {
        assert!(Instant::now() < until, "the first signal was not taken: {}", daemon.stderr());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    daemon.signal(Signal::SIGTERM);
    let status = daemon.exit_within(EXIT_DEADLINE).await;
    assert_eq!(status.code(), Some(130), "{}", daemon.stderr());
    assert!(daemon.stderr().contains("SIGTERM received again, stopping at once"), "{}", daemon.stderr());
    all_gone(&children).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_hive_on_the_same_state_directory_exits_2_and_the_first_keeps_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = workspace(dir.path(), "quick", "true");
    let ws = ws.to_str().expect("utf-8");
    let state = dir.path().join("state");
    let mut first = Daemon::spawn(hive_command(&state, &["run", "--workspace", ws]), &dir.path().join("stderr.log"));
    first.line("cycle line", |line| line.starts_with("cycle 1 ")).await;

    let second = output(hive_command(&state, &["run", "--once", "--workspace", ws])).await;
    assert_eq!(second.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&second.stderr);
    let expected = format!("hive: another hive (pid {}) is running on '{}'", first.pid(), state.display());
    assert!(stderr.starts_with(&expected), "{stderr}");
    assert!(first.try_exit().is_none(), "the first hive keeps running");

    first.signal(Signal::SIGTERM);
    assert_eq!(first.exit_within(EXIT_DEADLINE).await.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn two_first_starts_at_once_one_runs_and_the_other_is_refused_without_a_migration_error() {
    let emu = failing_fleet(3).await;
    // Slow answers keep the first run going well past the second one's start.
    emu.state().set_latency(Duration::from_millis(100));
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("fresh");
    let (a, b) = (github(&emu, &state, &["--once"]), github(&emu, &state, &["--once"]));
    let outputs = tokio::task::spawn_blocking(move || {
        let children = [a, b].map(|mut cmd| {
            cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("spawn")
        });
        children.map(|child| child.wait_with_output().expect("wait"))
    })
    .await
    .expect("join");
    let mut codes: Vec<Option<i32>> = outputs.iter().map(|o| o.status.code()).collect();
    codes.sort();
    let stderrs: Vec<String> = outputs.iter().map(|o| String::from_utf8_lossy(&o.stderr).into_owned()).collect();
    assert_eq!(codes, [Some(0), Some(2)], "{stderrs:#?}");
    assert!(stderrs.iter().any(|s| s.starts_with("hive: another hive (pid ")), "{stderrs:#?}");
    assert!(stderrs.iter().all(|s| !s.contains("already exists") && !s.contains("migrat")), "{stderrs:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_started_while_github_fails_retries_discovery_then_runs_cycles() {
    let emu = failing_fleet(2).await;
    emu.state().inject(FaultRule::new(Fault::Status(502)).path_prefix("/orgs/acme/repos").times(2));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut daemon = Daemon::spawn(github(&emu, &dir.path().join("state"), &["--json"]), &dir.path().join("err.log"));
    let record = daemon.line("cycle record", |line| line.contains("\"orchestration_cycle\":1")).await;
    assert!(record.contains("\"total_repositories\":5"), "{record}");
    let stderr = daemon.stderr();
    for delay in ["1s", "2s"] {
        assert!(stderr.contains(&format!("github unreachable, retrying discovery in {delay}")), "{stderr}");
    }
    let failed = emu.state().requests().iter().filter(|r| r.path == "/orgs/acme/repos" && r.status == 502).count();
    assert_eq!(failed, 2);
    daemon.signal(Signal::SIGTERM);
    assert_eq!(daemon.exit_within(EXIT_DEADLINE).await.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_token_stops_the_daemon_at_once_with_exit_1() {
    let emu = failing_fleet(1).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = github(&emu, &dir.path().join("state"), &[]);
    cmd.env("GITHUB_TOKEN", "ghp_not_the_right_one");
    let mut daemon = Daemon::spawn(cmd, &dir.path().join("stderr.log"));
    let status = daemon.exit_within(DEADLINE).await;
    let stderr = daemon.stderr();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refused the credentials"), "{stderr}");
    assert!(!stderr.contains("retrying discovery") && !stderr.contains("ghp_not_the_right_one"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn run_once_exits_1_when_no_repository_could_be_read() {
    let emu = failing_fleet(2).await;
    emu.state().inject(FaultRule::new(Fault::Status(500)).path_prefix("/repos/"));
    emu.state().inject(FaultRule::new(Fault::Status(500)).path_prefix("/graphql"));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut daemon = Daemon::spawn(github(&emu, &dir.path().join("state"), &["--once"]), &dir.path().join("err.log"));
    let status = daemon.exit_within(DEADLINE).await;
    let stderr = daemon.stderr();
    assert_eq!(status.code(), Some(1), "{stderr}");
    let line = stderr.lines().find(|l| l.starts_with("hive: no repository could be read: ")).expect(&stderr);
    assert!(line.contains("500") || line.contains("failed temporarily"), "the first error is named: {line}");
}
