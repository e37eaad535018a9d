//! What local CI caches: verdicts on a commit (passed, failed, nothing to test), never what the machine did to a
//! run (a timeout, a kill by a signal, a test command that could not start, a clone that failed), and nothing at
//! all with the cache turned off. Each run that gave no verdict is made to pass on the next read by a change
//! outside the repository; a cached non-verdict would hide it.

use super::*;

/// A directory outside the workspace for the files that switch a run's behaviour.
fn switch_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

#[tokio::test]
async fn a_timed_out_run_is_not_cached() {
    let switches = switch_dir();
    let flag = switches.path().join("fast");
    let ws = tempfile::tempdir().expect("tempdir");
    let app = repo(ws.path(), "app", |d| {
        drop(write(d, "Makefile", &format!("test:\n\ttest -f '{}' || sleep 60\n", flag.display())))
    });
    // Long enough for the second, quick run to finish on a loaded machine (clone, make, test), which must not time
    // out itself.
    let forge = LocalForge::new(ws.path()).expect("forge").with_test_timeout(Duration::from_secs(8));
    let snapshot = forge.snapshot(&id("app")).await.expect("snapshot");
    assert_eq!(snapshot.ci.failures[0].step.as_deref(), Some("timed out after 8s"), "{snapshot:#?}");
    assert_eq!(forge.cache.get("app", &head(&app)).await, None);
    write(switches.path(), "fast", "");
    assert_eq!(forge.snapshot(&id("app")).await.expect("snapshot").ci, CiStatus::green());
}

#[tokio::test]
async fn a_run_killed_by_a_signal_is_not_cached() {
    for mode in modes().await {
        let switches = switch_dir();
        let flag = switches.path().join("spare");
        let ws = tempfile::tempdir().expect("tempdir");
        // The recipe's shell kills make, the test command itself, as the out-of-memory killer would.
        let recipe = format!("test:\n\ttest -f '{}' || kill -KILL $$PPID\n", flag.display());
        let app = repo(ws.path(), "app", |d| drop(write(d, "Makefile", &recipe)));
        let forge = LocalForge::new(ws.path()).expect("forge").with_sandbox(mode);
        let snapshot = forge.snapshot(&id("app")).await.expect("snapshot");
        let failure = &snapshot.ci.failures[0];
        assert_eq!(failure.class, FailureClass::Infrastructure, "{mode:?}: {snapshot:#?}");
        assert!(failure.step.as_deref().is_some_and(|s| s.starts_with("killed by")), "{mode:?}: {failure:?}");
        assert_eq!(forge.cache.get("app", &head(&app)).await, None, "{mode:?}");
        write(switches.path(), "spare", "");
        assert_eq!(forge.snapshot(&id("app")).await.expect("snapshot").ci, CiStatus::green(), "{mode:?}");
    }
}

#[tokio::test]
async fn a_test_command_that_cannot_start_is_not_cached() {
    for mode in modes().await {
        let switches = switch_dir();
        let interpreter = switches.path().join("interpreter");
        let ws = tempfile::tempdir().expect("tempdir");
        // A Gradle wrapper whose interpreter does not exist yet: executing it fails before any test runs.
        let app = repo(ws.path(), "app", |d| {
            fixtures::gradle_project(d);
            let wrapper = write(d, "gradlew", &format!("#!{}\n", interpreter.display()));
            fixtures::make_executable(&wrapper);
        });
        let forge = LocalForge::new(ws.path()).expect("forge").with_sandbox(mode);
        let snapshot = forge.snapshot(&id("app")).await.expect("snapshot");
        assert_eq!(snapshot.local.clone().expect("facts").test_command.as_deref(), Some("gradle:test"));
        assert_eq!(snapshot.ci.state, CiState::Unknown, "{mode:?}: {snapshot:#?}");
        assert_eq!(forge.cache.get("app", &head(&app)).await, None, "{mode:?}");
        fixtures::make_executable(&write(switches.path(), "interpreter", "#!/bin/sh\nexit 0\n"));
        assert_eq!(forge.snapshot(&id("app")).await.expect("snapshot").ci, CiStatus::green(), "{mode:?}");
    }
}

#[tokio::test]
async fn a_failed_clone_is_not_cached() {
    let ws = tempfile::tempdir().expect("tempdir");
    let app = repo(ws.path(), "app", |d| fixtures::make_project(d, true));
    // Without one of HEAD's blobs the clone fails, while the git facts (which never read blobs) still work.
    let blob = git(&app, &["rev-parse", "HEAD:Makefile"]);
    let object = app.join(".git/objects").join(&blob[..2]).join(&blob[2..]);
    let aside = ws.path().join("object");
    std::fs::rename(&object, &aside).expect("move the object aside");
    let forge = LocalForge::new(ws.path()).expect("forge");
    let snapshot = forge.snapshot(&id("app")).await.expect("snapshot");
    assert_eq!(snapshot.ci.state, CiState::Unknown, "{snapshot:#?}");
    assert_eq!(forge.cache.get("app", &head(&app)).await, None);
    std::fs::rename(&aside, &object).expect("put the object back");
    assert_eq!(forge.snapshot(&id("app")).await.expect("snapshot").ci, CiStatus::green());
}

#[tokio::test]
async fn with_the_cache_off_every_read_runs_and_nothing_is_written() {
    let state = tempfile::tempdir().expect("tempdir");
    let counter = state.path().join("count");
    let cache = state.path().join("cache");
    let ws = tempfile::tempdir().expect("tempdir");
    repo(ws.path(), "app", |d| counting_make(d, &counter, true));
    // The counter lies outside the clone, which only an unconfined run may write.
    let forge = LocalForge::new(ws.path()).expect("forge").with_sandbox(Sandbox::Off);
    let forge = forge.with_cache_dir(&cache).with_cache(false);
    for expected in 1..=2 {
        assert_eq!(forge.snapshot(&id("app")).await.expect("snapshot").ci, CiStatus::green());
        assert_eq!(runs(&counter), expected);
    }
    assert!(!cache.join("runs.json").exists());
}
