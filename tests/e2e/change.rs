//! `hive change` through the real binary against the GitHub emulator (repositories backed by bare git repositories
//! made here): a set over five repositories killed with SIGKILL at random points during apply and commit, then run
//! to completion, leaves no second branch, pull request or merge; bad requests are usage errors that write nothing.

use std::{
    path::Path,
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use hive_testkit::{
    Emulator, Method, RepoSpec, Xorshift,
    git::{bare_repo, git},
};

/// The binary with a clean environment pointed at the emulator and `state`.
fn hive(emu: &Emulator, state: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hive"));
    // The state directory first: everything after `run --` is the command's own.
    cmd.arg("--state-dir").arg(state).args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("HIVE_") || key.starts_with("GITHUB_") || key == "GH_TOKEN" || key == "EMERGENCY_MODE" {
            cmd.env_remove(key);
        }
    }
    cmd.env("GITHUB_API_URL", emu.url()).env("GITHUB_TOKEN", emu.token());
    cmd
}

async fn output(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("run hive")).await.expect("join")
}

const REPOS: [&str; 5] = ["core", "api", "web", "app", "docs"];

/// `acme` with five repositories, each a bare git repository holding a README, every check green.
async fn fleet(root: &Path) -> Emulator {
    let emu = Emulator::start().await;
    emu.state().add_org("acme");
    for name in REPOS {
        let bare = bare_repo(root, name, &[("README.md", &format!("# {name}\n"))]);
        emu.state().add_repo(RepoSpec::new("acme", name).git_dir(bare));
        emu.state().set_default_check_runs("acme", name, vec![("test", "completed", Some("success"))]);
    }
    emu
}

fn apply_args(notice: &Path) -> Vec<String> {
    [
        "change",
        "apply",
        "--title",
        "Add the notice",
        "--org",
        "acme",
        "--glob",
        "acme/*",
        "--max-prs-per-day",
        "1000",
        "--max-content-per-minute",
        "1000",
        "--json",
        "run",
        "--",
        "cp",
    ]
    .map(str::to_owned)
    .into_iter()
    .chain([notice.display().to_string(), "NOTICE".to_owned()])
    .collect()
}

/// No repository has more than one pull request of the set or of its revert, nor more than one successful merge of
/// either.
fn check(emu: &Emulator, round: usize, seed: u64) {
    let requests = emu.state().requests();
    for name in REPOS {
        let pulls = emu.state().pulls("acme", name);
        for prefix in ["hive/change/", "hive/revert/"] {
            let of = pulls.iter().filter(|p| p.head_ref.starts_with(prefix)).count();
            assert!(of <= 1, "round {round} (seed {seed}): {name} has {of} pull requests of {prefix}");
        }
        for number in [1, 2] {
            let merged = requests
                .iter()
                .filter(|r| {
                    r.method == Method::PUT
                        && r.path == format!("/repos/acme/{name}/pulls/{number}/merge")
                        && r.status == 200
                })
                .count();
            assert!(merged <= 1, "round {round} (seed {seed}): {name}#{number} merged {merged} times");
        }
    }
}

/// Runs `args` again and again, each run killed with SIGKILL at a random point, until one finishes by itself (or
/// twelve rounds pass); `finished` tells whether a finished run's exit was the one expected. Returns how many runs
/// were killed.
async fn kill_loop(
    emu: &Emulator,
    state: &Path,
    args: &[&str],
    rng: &mut Xorshift,
    finished: impl Fn(&std::process::ExitStatus, &str) -> bool,
) -> usize {
    let seed = rng.seed();
    let mut killed = 0;
    for round in 0..12 {
        let log_path = state.join(format!("round-{round}.log"));
        let log = std::fs::File::create(&log_path).expect("a log file");
        let mut child = hive(emu, state, args).stdout(Stdio::null()).stderr(log).spawn().expect("spawn");
        let kill_at = Duration::from_millis(100 + rng.below(2_500));
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break Some(status);
            }
            if started.elapsed() >= kill_at {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        match status {
            Some(status) => {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                assert!(finished(&status, &log), "round {round} ended unexpectedly (seed {seed}): {status} {log}");
                check(emu, round, seed);
                return killed;
            }
            None => {
                child.kill().expect("SIGKILL");
                child.wait().expect("reap");
                killed += 1;
            }
        }
        check(emu, round, seed);
    }
    killed
}

/// The one change set's record, carried on to where it settles.
async fn resumed(emu: &Emulator, state: &Path) -> serde_json::Value {
    let out = output(hive(emu, state, &["change", "status", "--json"])).await;
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let id = status["changes"][0]["id"].as_str().expect("one set").to_owned();
    let out = output(hive(emu, state, &["change", "resume", &id, "--json", "--org", "acme"])).await;
    serde_json::from_slice(&out.stdout).expect("json")
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_at_random_points_during_apply_and_commit_it_resumes_without_a_second_branch_pull_request_or_merge() {
    let root = tempfile::tempdir().expect("tempdir");
    let emu = fleet(root.path()).await;
    let notice = root.path().join("NOTICE.template");
    std::fs::write(&notice, "Maintained by the platform team.\n").expect("a file");
    let state = tempfile::tempdir().expect("tempdir");
    let args = apply_args(&notice);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut rng = Xorshift::from_env("HIVE_CRASH_SEED", 0x2545_F491_4F6C_DD1D);
    let seed = rng.seed();
    // Answers to writes arrive late, so kills land after GitHub acted and before hive heard of it.
    emu.state().set_write_reply_delay(Duration::from_millis(150));
    let killed = kill_loop(&emu, state.path(), &args, &mut rng, |status, _| status.success()).await;
    eprintln!("change crash test: {killed} runs killed");
    assert!(killed >= 3, "too few runs were killed mid-way to test anything (seed {seed})");

    // Run to completion: every repository merged exactly once.
    let record = resumed(&emu, state.path()).await;
    assert_eq!(record["state"], "merged", "seed {seed}: {record}");
    check(&emu, 99, seed);
    for name in REPOS {
        let pulls = emu.state().pulls("acme", name);
        assert_eq!(pulls.len(), 1, "seed {seed}: {name}");
        assert!(pulls[0].merged, "seed {seed}: {name}'s pull request merged");
        let bare = emu.state().git_dir("acme", name).expect("a git repository");
        assert_eq!(git(&bare, &["show", "main:NOTICE"]), "Maintained by the platform team.", "seed {seed}: {name}");
    }
    let verify = output(hive(&emu, state.path(), &["audit", "verify"])).await;
    assert!(verify.status.success(), "seed {seed}: {}", String::from_utf8_lossy(&verify.stderr));
    let again = output(hive(&emu, state.path(), &args)).await;
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(String::from_utf8_lossy(&again.stdout).contains("\"changed\":0"), "nothing left to change");
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_at_random_points_during_a_rollback_it_reverts_each_merge_once() {
    let root = tempfile::tempdir().expect("tempdir");
    let emu = fleet(root.path()).await;
    // The fixtures have no dependencies, so the merge order is by name: acme/api merges, acme/app's merge is refused,
    // and the set rolls back: api reverted, the others closed.
    emu.state().refuse_merges("acme", "app", "Required status check \"security\" is expected.");
    let notice = root.path().join("NOTICE.template");
    std::fs::write(&notice, "Maintained by the platform team.\n").expect("a file");
    let state = tempfile::tempdir().expect("tempdir");
    let args = apply_args(&notice);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut rng = Xorshift::from_env("HIVE_CRASH_SEED", 0x9E37_79B9_7F4A_7C15);
    let seed = rng.seed();
    emu.state().set_write_reply_delay(Duration::from_millis(150));
    let rolled_back = |status: &std::process::ExitStatus, log: &str| {
        status.code() == Some(1) && log.contains("was rolled back: acme/app failed")
    };
    let killed = kill_loop(&emu, state.path(), &args, &mut rng, rolled_back).await;
    eprintln!("change rollback crash test: {killed} runs killed");
    assert!(killed >= 3, "too few runs were killed mid-way to test anything (seed {seed})");

    let record = resumed(&emu, state.path()).await;
    assert_eq!(record["state"], "rolled_back", "seed {seed}: {record}");
    check(&emu, 99, seed);
    for name in REPOS {
        let pulls = emu.state().pulls("acme", name);
        let bare = emu.state().git_dir("acme", name).expect("a git repository");
        let files = git(&bare, &["ls-tree", "--name-only", "main"]);
        assert!(!files.lines().any(|f| f == "NOTICE"), "seed {seed}: {name}'s main is as it was: {files}");
        if name == "api" {
            assert_eq!(pulls.len(), 2, "seed {seed}: {name}: the change and its revert: {record}");
            assert!(pulls.iter().all(|p| p.merged), "seed {seed}: {name}: {pulls:?}");
        } else {
            assert_eq!(pulls.len(), 1, "seed {seed}: {name}");
            assert!(!pulls[0].merged && pulls[0].state == "closed", "seed {seed}: {name}: {:?}", pulls[0]);
        }
    }
    let verify = output(hive(&emu, state.path(), &["audit", "verify"])).await;
    assert!(verify.status.success(), "seed {seed}: {}", String::from_utf8_lossy(&verify.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_are_usage_errors_that_write_nothing() {
    let root = tempfile::tempdir().expect("tempdir");
    let emu = fleet(root.path()).await;
    let state = tempfile::tempdir().expect("tempdir");
    let cases: [(&[&str], &str); 5] = [
        (&["change", "plan", "--title", "x", "--repo", "acme/../etc", "run", "--", "true"], "acme/../etc"),
        (
            &["change", "apply", "--title", "x", "--repo", "acme/api", "--merge-method", "rebase", "run", "--", "true"],
            "merge or squash",
        ),
        (
            &["change", "apply", "--title", "x", "--repo", "acme/api", "sync", "acme/docs", "../../etc/passwd"],
            "must be relative",
        ),
        (
            &["change", "apply", "--title", "x", "--repo", "acme/api", "bump", "--", "--upload-pack=x", "1"],
            "not a package name",
        ),
        (&["change", "status", "chg-; rm -rf /"], "is not a change set's id"),
    ];
    for (args, said) in cases {
        let out = output(hive(&emu, state.path(), args)).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(said), "{args:?} should say {said:?}: {stderr}");
    }
    assert!(emu.state().requests().iter().all(|r| r.method == Method::GET), "nothing was written");
}
