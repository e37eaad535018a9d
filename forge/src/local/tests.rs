//! The local forge on real git repositories made at test time: discovery with hostile names, git facts, local CI
//! on a throwaway clone, and the cache by HEAD.

mod contents;
mod hostile;
mod repos;
mod siblings;
mod verdicts;

use std::path::Path;

use super::*;
use hive_testkit::projects::{self as fixtures, commit_all, git, git_env, git_repo, write};

use crate::{CiFailure, FailureClass, Upstream};

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

fn id(name: &str) -> RepoId {
    RepoId::new(format!("local/{name}")).expect("valid name")
}

/// A repository `name` in `ws` built by `build`, all committed.
fn repo(ws: &Path, name: &str, build: impl FnOnce(&Path)) -> PathBuf {
    let dir = ws.join(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    build(&dir);
    git_repo(&dir);
    dir
}

/// A Makefile whose `test` target appends a line to `counter` (outside the repository) and then succeeds or
/// fails, so tests can count how often local CI really ran.
fn counting_make(dir: &Path, counter: &Path, passing: bool) {
    let result = if passing { "true" } else { "false" };
    write(dir, "Makefile", &format!("test:\n\techo run >> '{}'\n\t{result}\n", counter.display()));
}

/// The commit `dir`'s HEAD names.
fn head(dir: &Path) -> String {
    git(dir, &["rev-parse", "HEAD"])
}

fn runs(counter: &Path) -> usize {
    std::fs::read_to_string(counter).map_or(0, |text| text.lines().count())
}

/// Both modes where bubblewrap works; only the unconfined one otherwise (said on stderr).
async fn modes() -> Vec<Sandbox> {
    if sandbox::confined(Sandbox::Auto).await {
        vec![Sandbox::Off, Sandbox::Auto]
    } else {
        eprintln!("bubblewrap does not work here (not installed, or no user namespaces): confined mode not tested");
        vec![Sandbox::Off]
    }
}

fn worktrees(dir: &Path) -> usize {
    git(dir, &["worktree", "list", "--porcelain"]).lines().filter(|l| l.starts_with("worktree ")).count()
}

#[tokio::test]
async fn discovers_git_repositories_and_skips_hostile_names() {
    let ws = tempfile::tempdir().expect("tempdir");
    let outside = tempfile::tempdir().expect("tempdir");
    for name in ["alpha", "beta.rs", "..dots", "has space", "-rf", "ünïcode", "semi;colon", "$(x)"] {
        repo(ws.path(), name, |d| drop(write(d, "README.md", "hi\n")));
    }
    std::fs::create_dir(ws.path().join("plain")).expect("mkdir");
    write(ws.path(), "file.txt", "not a repo");
    let elsewhere = repo(outside.path(), "elsewhere", |_| {});
    std::os::unix::fs::symlink(&elsewhere, ws.path().join("link")).expect("symlink");

    let forge = LocalForge::new(ws.path()).expect("forge");
    let found = forge.discover().await.expect("discover");
    assert_eq!(found, [id("..dots"), id("alpha"), id("beta.rs")]);
    // Names the forge did not discover cannot be read either: not a RepoId, a symlink, or not local.
    for name in ["link", "plain"] {
        let err = forge.snapshot(&id(name)).await.expect_err(name);
        assert!(matches!(err, ForgeError::NotFound { .. }), "{err}");
    }
    let other = RepoId::new("acme/alpha").expect("valid");
    assert!(matches!(forge.snapshot(&other).await, Err(ForgeError::NotFound { .. })));
    assert!(forge.snapshot(&id("..dots")).await.is_ok());
}

#[tokio::test]
async fn a_workspace_path_with_spaces_unicode_and_a_leading_dash_works() {
    let base = tempfile::tempdir().expect("tempdir");
    let ws = base.path().join("-my ws ☃ $(touch pwned)");
    let counter = base.path().join("count");
    repo(&ws, "app", |d| counting_make(d, &counter, true));
    // The counter lies outside the clone, which only an unconfined run may write.
    let forge = LocalForge::new(&ws).expect("forge").with_sandbox(Sandbox::Off);
    assert_eq!(forge.discover().await.expect("discover"), [id("app")]);
    let snapshot = forge.snapshot(&id("app")).await.expect("snapshot");
    assert_eq!(snapshot.ci.state, CiState::Passing, "{snapshot:#?}");
    assert_eq!(runs(&counter), 1);
    assert!(!base.path().join("pwned").exists() && !ws.join("pwned").exists());
}

#[test]
fn a_missing_workspace_is_a_clear_error() {
    let base = tempfile::tempdir().expect("tempdir");
    let err = LocalForge::new(base.path().join("absent")).expect_err("absent");
    assert!(err.to_string().starts_with("cannot open workspace '"), "{err}");
    let file = write(base.path(), "file", "");
    let err = LocalForge::new(&file).expect_err("a file");
    assert!(err.to_string().contains("is not a directory"), "{err}");
}

#[tokio::test]
async fn git_facts_branch_dirty_upstream_and_stale_branches() {
    let ws = tempfile::tempdir().expect("tempdir");
    let remote = tempfile::tempdir().expect("tempdir");
    let origin = remote.path().join("origin.git");
    git(remote.path(), &["init", "-q", "--bare", "-b", "main", "origin.git"]);
    let seed = repo(remote.path(), "seed", |d| drop(write(d, "README.md", "v1\n")));
    git(&seed, &["push", "-q", origin.to_str().expect("utf-8"), "main"]);
    git(ws.path(), &["clone", "-q", origin.to_str().expect("utf-8"), "app"]);
    let app = ws.path().join("app");
    // Upstream moves on by two commits; the clone makes one of its own: ahead 1, behind 2.
    for n in 0..2 {
        write(&seed, "README.md", &format!("v{}\n", n + 2));
        commit_all(&seed, "upstream work");
    }
    git(&seed, &["push", "-q", origin.to_str().expect("utf-8"), "main"]);
    git(&app, &["fetch", "-q"]);
    write(&app, "local.txt", "mine\n");
    commit_all(&app, "local work");
    // A branch last touched 200 days ago is stale; one touched today is not.
    let old = format!(
        "@{} +0000",
        (SystemTime::now() - DAY * 200).duration_since(SystemTime::UNIX_EPOCH).expect("after epoch").as_secs()
    );
    git(&app, &["checkout", "-q", "-b", "old"]);
    git_env(
        &app,
        &["commit", "-q", "--allow-empty", "-m", "old work"],
        &[("GIT_COMMITTER_DATE", &old), ("GIT_AUTHOR_DATE", &old)],
    );
    git(&app, &["checkout", "-q", "-b", "recent", "main"]);
    git(&app, &["checkout", "-q", "main"]);
    write(&app, "scratch.txt", "uncommitted\n");

    let forge = LocalForge::new(ws.path()).expect("forge");
    let snapshot = forge.snapshot(&id("app")).await.expect("snapshot");
    let facts = snapshot.local.clone().expect("local facts");
    assert_eq!(facts.branch.as_deref(), Some("main"));
    assert_eq!(facts.head.as_deref(), Some(git(&app, &["rev-parse", "HEAD"]).as_str()));
    assert!(facts.dirty);
    assert_eq!(facts.upstream, Some(Upstream { name: "origin/main".into(), ahead: 1, behind: 2 }));
    assert_eq!(facts.stale_branches, ["old"]);
    let age = snapshot.taken_at.duration_since(facts.last_commit_at.expect("a commit")).unwrap_or_default();
    assert!(age < DAY, "{age:?}");
    assert_eq!(snapshot.pushed_at, facts.last_commit_at);
    assert_eq!(snapshot.default_branch, "main");
    assert_eq!((snapshot.archived, snapshot.security_alerts.clone(), snapshot.open_issues.len()), (false, None, 0));
    assert_eq!(snapshot.ci.state, CiState::Unknown, "nothing to test in a README");
}

#[tokio::test]
async fn detached_heads_and_empty_repositories() {
    let ws = tempfile::tempdir().expect("tempdir");
    let app = repo(ws.path(), "app", |d| drop(write(d, "SECURITY.md", "mail us\n")));
    git(&app, &["checkout", "-q", "--detach"]);
    let empty = ws.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    git(&empty, &["init", "-q", "-b", "main"]);

    let forge = LocalForge::new(ws.path()).expect("forge");
    let snapshot = forge.snapshot(&id("app")).await.expect("snapshot");
    assert_eq!(
        (snapshot.local.as_ref().expect("facts").branch.clone(), snapshot.default_branch.as_str()),
        (None, "HEAD")
    );
    assert_eq!(snapshot.has_security_policy, Some(true));
    let snapshot = forge.snapshot(&id("empty")).await.expect("snapshot");
    let facts = snapshot.local.expect("facts");
    assert_eq!((facts.head, facts.last_commit_at, facts.dirty), (None, None, false));
    assert_eq!(snapshot.ci.state, CiState::Unknown);
    assert_eq!(snapshot.has_security_policy, Some(false));
}

#[tokio::test]
async fn a_security_policy_a_license_and_ci_are_looked_for_where_their_tools_look() {
    let ws = tempfile::tempdir().expect("tempdir");
    repo(ws.path(), "bare", |d| drop(write(d, "README.md", "hello\n")));
    repo(ws.path(), "kept", |d| {
        write(d, ".github/SECURITY.md", "mail us\n");
        write(d, "LICENSE-MIT", "MIT License\n");
        write(d, ".github/workflows/ci.yaml", "on: push\n");
    });
    repo(ws.path(), "elsewhere", |d| {
        write(d, "docs/SECURITY.md", "mail us\n");
        write(d, "COPYING", "GPL\n");
        write(d, ".gitlab-ci.yml", "test:\n  script: make test\n");
    });
    // Near misses: a directory named like a license, a workflow that is not YAML, a policy in the wrong place.
    repo(ws.path(), "near", |d| {
        write(d, "license/README.md", "see the website\n");
        write(d, ".github/workflows/README.md", "workflows go here\n");
        write(d, "src/SECURITY.md", "mail us\n");
    });
    let forge = LocalForge::new(ws.path()).expect("forge");
    for (name, expected) in [("bare", false), ("kept", true), ("elsewhere", true), ("near", false)] {
        let snapshot = forge.snapshot(&id(name)).await.expect("snapshot");
        let found = (snapshot.has_security_policy, snapshot.has_license, snapshot.has_ci_workflow);
        assert_eq!(found, (Some(expected), Some(expected), Some(expected)), "{name}");
    }
}

#[tokio::test]
async fn local_ci_passes_fails_and_runs_on_a_clean_clone() {
    let ws = tempfile::tempdir().expect("tempdir");
    let good = repo(ws.path(), "good", |d| fixtures::make_project(d, true));
    let bad = repo(ws.path(), "bad", |d| fixtures::make_project(d, false));
    let forge = LocalForge::new(ws.path()).expect("forge");

    let snapshot = forge.snapshot(&id("good")).await.expect("snapshot");
    assert_eq!(snapshot.ci, CiStatus::green());
    assert_eq!(snapshot.local.expect("facts").test_command.as_deref(), Some("make:test"));

    // Fixing the test in the work tree without committing changes nothing: CI tests HEAD in a clean clone.
    fixtures::make_project(&bad, true);
    let snapshot = forge.snapshot(&id("bad")).await.expect("snapshot");
    let expected = CiFailure {
        workflow: "local".into(),
        job: "make:test".into(),
        step: Some("make: *** [Makefile:9: test] Error 1".into()),
        class: FailureClass::Test,
        run: None,
    };
    assert_eq!(snapshot.ci, CiStatus::failing(vec![expected]));
    assert!(snapshot.local.expect("facts").dirty);
    for dir in [&good, &bad] {
        assert_eq!(worktrees(dir), 1, "CI made no worktree of the user's repository");
    }
}

#[tokio::test]
async fn python_failures_name_the_test_and_syntax_errors_are_build_failures() {
    let ws = tempfile::tempdir().expect("tempdir");
    repo(ws.path(), "calc", |d| fixtures::python_project(d, false));
    repo(ws.path(), "broken", |d| {
        fixtures::python_project(d, true);
        write(d, "calc.py", "def add(a, b)\n    return a + b\n");
    });
    let forge = LocalForge::new(ws.path()).expect("forge");
    let snapshot = forge.snapshot(&id("calc")).await.expect("snapshot");
    let failure = &snapshot.ci.failures[0];
    assert_eq!((failure.job.as_str(), failure.class), ("python:test", FailureClass::Test));
    assert!(failure.step.as_deref().expect("step").starts_with("FAIL: test_add"), "{failure:?}");
    let snapshot = forge.snapshot(&id("broken")).await.expect("snapshot");
    assert_eq!(snapshot.ci.failures[0].class, FailureClass::Build, "{snapshot:#?}");
}

#[tokio::test]
async fn unchanged_heads_are_not_tested_again_even_after_a_restart() {
    let ws = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    let counter = state.path().join("count");
    let cache = state.path().join("cache/local-ci");
    let app = repo(ws.path(), "app", |d| counting_make(d, &counter, false));

    // The counter lies outside the clone, which only an unconfined run may write.
    let unconfined = |forge: LocalForge| forge.with_sandbox(Sandbox::Off);
    let forge = unconfined(LocalForge::new(ws.path()).expect("forge").with_cache_dir(&cache));
    let first = forge.snapshot(&id("app")).await.expect("snapshot");
    let second = forge.snapshot(&id("app")).await.expect("snapshot");
    assert_eq!(runs(&counter), 1);
    assert_eq!(first.ci, second.ci);
    assert_eq!(first.ci.state, CiState::Failing);

    // A new forge with the same cache directory remembers; one without it does not.
    let restarted = unconfined(LocalForge::new(ws.path()).expect("forge").with_cache_dir(&cache));
    assert_eq!(restarted.snapshot(&id("app")).await.expect("snapshot").ci, first.ci);
    assert_eq!(runs(&counter), 1);
    let forgetful = unconfined(LocalForge::new(ws.path()).expect("forge"));
    forgetful.snapshot(&id("app")).await.expect("snapshot");
    assert_eq!(runs(&counter), 2);

    // A new commit is tested.
    counting_make(&app, &counter, true);
    commit_all(&app, "fix the tests");
    assert_eq!(restarted.snapshot(&id("app")).await.expect("snapshot").ci, CiStatus::green());
    assert_eq!(runs(&counter), 3);

    // Concurrent reads of a changed repository test it once.
    commit_all(&app, "another commit");
    let app_id = id("app");
    let (a, b) = tokio::join!(restarted.snapshot(&app_id), restarted.snapshot(&app_id));
    assert_eq!(a.expect("a").ci, b.expect("b").ci);
    assert_eq!(runs(&counter), 4);

    // A corrupt cache file is ignored, not fatal.
    std::fs::write(cache.join("runs.json"), b"{not json").expect("corrupt");
    let fresh = unconfined(LocalForge::new(ws.path()).expect("forge").with_cache_dir(&cache));
    assert_eq!(fresh.snapshot(&id("app")).await.expect("snapshot").ci, CiStatus::green());
    assert_eq!(runs(&counter), 5);
}

#[tokio::test]
async fn a_given_test_command_runs_instead_of_the_detected_one_and_a_verdict_holds_for_its_command_only() {
    let ws = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    let (counter, given_counter) = (state.path().join("count"), state.path().join("given"));
    let cache = state.path().join("cache/local-ci");
    // The Makefile's `test` fails; its `check`, given as the command, passes.
    repo(ws.path(), "app", |d| {
        let script = format!("\techo run >> '{}'\n", given_counter.display());
        counting_make(d, &counter, false);
        let makefile = std::fs::read_to_string(d.join("Makefile")).expect("read");
        write(d, "Makefile", &format!("{makefile}check:\n{script}\ttrue\n"));
    });
    let forge = |given: Option<&[&str]>| {
        let forge = LocalForge::new(ws.path()).expect("forge").with_cache_dir(&cache).with_sandbox(Sandbox::Off);
        match given {
            Some(argv) => forge.with_test_command("app", argv.iter().map(|a| a.to_string()).collect()),
            None => forge,
        }
    };
    let given = forge(Some(&["make", "check"])).snapshot(&id("app")).await.expect("snapshot");
    assert_eq!(given.ci, CiStatus::green());
    assert_eq!(given.local.expect("facts").test_command.as_deref(), Some("config:test"));
    assert_eq!((runs(&counter), runs(&given_counter)), (0, 1));

    // Without it the detected command runs: the given command's verdict is not taken for its.
    let detected = forge(None).snapshot(&id("app")).await.expect("snapshot");
    assert_eq!(detected.ci.state, CiState::Failing);
    assert_eq!((runs(&counter), runs(&given_counter)), (1, 1));
    // The verdict kept is the last command's: back to the given one, it runs again, and then holds across a
    // restart; another given command runs again.
    forge(Some(&["make", "check"])).snapshot(&id("app")).await.expect("snapshot");
    forge(Some(&["make", "check"])).snapshot(&id("app")).await.expect("snapshot");
    assert_eq!((runs(&counter), runs(&given_counter)), (1, 2));
    let other = forge(Some(&["make", "test"])).snapshot(&id("app")).await.expect("snapshot");
    assert_eq!(other.ci.state, CiState::Failing);
    assert_eq!((runs(&counter), runs(&given_counter)), (2, 2));
}

#[tokio::test]
async fn a_default_test_command_runs_for_every_repository_without_one_of_its_own() {
    let ws = tempfile::tempdir().expect("tempdir");
    // Both Makefiles' tests pass: only the given commands can make one fail.
    for name in ["own", "other"] {
        repo(ws.path(), name, |d| drop(write(d, "Makefile", "test:\n\ttrue\n")));
    }
    let argv = |program: &str| vec![program.to_owned()];
    let forge = LocalForge::new(ws.path())
        .expect("forge")
        .with_cache(false)
        .with_sandbox(Sandbox::Off)
        .with_default_test_command(argv("false"))
        .with_test_command("own", argv("true"));
    let own = forge.snapshot(&id("own")).await.expect("snapshot");
    assert_eq!(own.ci, CiStatus::green(), "the repository's own command beats the default");
    let other = forge.snapshot(&id("other")).await.expect("snapshot");
    assert_eq!(other.ci.state, CiState::Failing, "the default runs instead of the Makefile's test");
    assert_eq!(other.local.expect("facts").test_command.as_deref(), Some("config:test"));
}

#[tokio::test]
async fn a_hanging_test_run_times_out_as_an_infrastructure_failure() {
    let ws = tempfile::tempdir().expect("tempdir");
    let app = repo(ws.path(), "app", |d| drop(write(d, "Makefile", "test:\n\tsleep 30\n")));
    let forge = LocalForge::new(ws.path()).expect("forge").with_test_timeout(Duration::from_millis(300));
    let snapshot = forge.snapshot(&id("app")).await.expect("snapshot");
    let failure = &snapshot.ci.failures[0];
    assert_eq!(failure.class, FailureClass::Infrastructure);
    assert_eq!(failure.step.as_deref(), Some("timed out after 300ms"));
    assert_eq!(worktrees(&app), 1);
}

#[tokio::test]
async fn a_missing_test_tool_leaves_ci_unknown_and_is_tried_again() {
    let ws = tempfile::tempdir().expect("tempdir");
    repo(ws.path(), "app", |d| drop(write(d, "justfile", "test:\n    true\n")));
    let forge = LocalForge::new(ws.path()).expect("forge");
    let snapshot = forge.snapshot(&id("app")).await.expect("snapshot");
    assert_eq!(snapshot.local.expect("facts").test_command.as_deref(), Some("just:test"));
    // `just` is not installed on the test machines; where it is, the recipe passes.
    if snapshot.ci.state == CiState::Unknown {
        let head = git(&ws.path().join("app"), &["rev-parse", "HEAD"]);
        assert_eq!(forge.cache.get("app", &head).await, None, "an unavailable tool is not cached");
    } else {
        assert_eq!(snapshot.ci, CiStatus::green());
    }
}

#[test]
fn failing_lines_and_classes() {
    let check = |stdout: &str, stderr: &str, line: Option<&str>, class: FailureClass| {
        assert_eq!(ci::first_failing_line(stdout, stderr).as_deref(), line, "{stdout:?} {stderr:?}");
        assert_eq!(crate::classify_output(stdout, stderr), class, "{stdout:?} {stderr:?}");
    };
    check(
        "running 1 test\nthread 'tests::add' panicked at src/lib.rs:3:5:\ntest result: FAILED\n",
        "error: test failed, to rerun pass `--lib`\n",
        Some("thread 'tests::add' panicked at src/lib.rs:3:5:"),
        FailureClass::Test,
    );
    check(
        "",
        "error[E0425]: cannot find value `x`\nerror: could not compile `calc`\n",
        Some("error[E0425]: cannot find value `x`"),
        FailureClass::Build,
    );
    check("--- FAIL: TestAdd (0.00s)\nFAIL\n", "", Some("--- FAIL: TestAdd (0.00s)"), FailureClass::Test);
    check(
        "ok  \texample.com/x\nFAIL\texample.com/y [build failed]\n",
        "",
        Some("FAIL\texample.com/y [build failed]"),
        FailureClass::Build,
    );
    check(
        "Diff in /tmp/hive-ci-1-x/ws/app/src/main.rs:1:\n-fn main(){}\n+fn main() {}\n",
        "make: *** [Makefile:2: test] Error 1\n",
        Some("make: *** [Makefile:2: test] Error 1"),
        FailureClass::Lint,
    );
    check("", "would reformat app.py\nOh no!\n1 file would be reformatted.\n", None, FailureClass::Lint);
    check(
        "",
        "error[E0425]: cannot find value\nDiff in src/lib.rs:1:\n",
        Some("error[E0425]: cannot find value"),
        FailureClass::Build,
    );
    check("nothing recognisable\n", "", None, FailureClass::Test);
    let long = format!("FAIL: {}", "x".repeat(300));
    assert_eq!(ci::first_failing_line(&long, "").expect("line").chars().count(), 203);
}
