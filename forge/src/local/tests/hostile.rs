//! Local CI against repositories whose tests attack: planting hooks, config and branches through
//! `$(git rev-parse --git-common-dir)`, escaping the clone, leaving processes behind, writing outside their scratch
//! directory and reaching the network. Each runs unconfined and, where bubblewrap works, confined.

use std::{
    collections::BTreeMap,
    io::ErrorKind,
    net::TcpListener,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use super::*;
use crate::local::sandbox;

/// Every file under the repository's `.git` that a hostile test would change to reach the user: config, hooks,
/// refs, packed refs, HEAD; path -> bytes.
fn git_state(repo: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.insert(path.clone(), std::fs::read(&path).unwrap_or_default());
            }
        }
    }
    let git_dir = repo.join(".git");
    let mut state = BTreeMap::new();
    for name in ["config", "HEAD", "packed-refs"] {
        if let Ok(bytes) = std::fs::read(git_dir.join(name)) {
            state.insert(git_dir.join(name), bytes);
        }
    }
    for dir in ["hooks", "refs", "worktrees"] {
        walk(&git_dir.join(dir), &mut state);
    }
    state
}

#[tokio::test]
async fn a_test_cannot_plant_hooks_config_or_branches_in_the_users_repository() {
    for mode in modes().await {
        let ws = tempfile::tempdir().expect("tempdir");
        let recipe = [
            "test:",
            // A hook that would run on the user's next checkout.
            "\tcd \"$$(git rev-parse --git-common-dir)\" && mkdir -p hooks && printf '#!/bin/sh\\ntouch pwned\\n' > hooks/post-checkout && chmod +x hooks/post-checkout",
            "\tgit config alias.st '!touch pwned'",
            "\tgit branch planted",
            "\tgit update-ref refs/heads/main HEAD~0",
            // Attempts to reach out of the clone; they may fail, the test goes on.
            "\t-git -C .. rev-parse --git-dir",
            "\t-git push origin HEAD:refs/heads/pushed",
            "\t-touch ../escaped",
        ]
        .join("\n");
        let app = repo(ws.path(), "app", |d| drop(write(d, "Makefile", &format!("{recipe}\n"))));
        let before = git_state(&app);
        let forge = LocalForge::new(ws.path()).expect("forge").with_sandbox(mode);
        let snapshot = forge.snapshot(&id("app")).await.expect("snapshot");
        // The plants themselves succeeded, in the clone: the test passed.
        assert_eq!(snapshot.ci, CiStatus::green(), "{mode:?}: {snapshot:#?}");
        assert_eq!(git_state(&app), before, "{mode:?}: the user's .git changed");
        // The user's next checkout runs no hook.
        git(&app, &["checkout", "-q", "-b", "next"]);
        assert!(!app.join("pwned").exists(), "{mode:?}: a planted hook ran");
    }
}

/// Processes whose command line is exactly `args`, not zombies.
fn running(args: &[&str]) -> Vec<u32> {
    let wanted: Vec<u8> = args.iter().flat_map(|a| a.bytes().chain([0])).collect();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == wanted))
        .filter(|pid| i32::try_from(*pid).ok().and_then(hive_support::ProcStat::of).is_some_and(|stat| !stat.is_dead()))
        .collect()
}

/// Polls until no process runs `args`, or returns those still running after a generous deadline: SIGKILL is
/// delivered asynchronously, but a killed process is gone within moments.
async fn left_running(args: &[&str]) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = running(args);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_setsid_child_dies_with_its_test_on_timeout_and_on_exit() {
    let unique =
        format!("1000.{}{}", std::process::id(), std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.subsec_nanos()));
    for mode in modes().await {
        for hang in [false, true] {
            let ws = tempfile::tempdir().expect("tempdir");
            let then = if hang { " sleep 1000" } else { "" };
            let makefile = format!("test:\n\tsetsid sleep {unique} > /dev/null 2>&1 &{then}\n");
            repo(ws.path(), "app", |d| drop(write(d, "Makefile", &makefile)));
            let forge =
                LocalForge::new(ws.path()).expect("forge").with_sandbox(mode).with_test_timeout(Duration::from_secs(3));
            let snapshot = forge.snapshot(&id("app")).await.expect("snapshot");
            let expected = if hang { CiState::Failing } else { CiState::Passing };
            assert_eq!(snapshot.ci.state, expected, "{mode:?} hang {hang}: {snapshot:#?}");
            let left = left_running(&["sleep", &unique]).await;
            for pid in &left {
                let _ =
                    nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid as i32), nix::sys::signal::Signal::SIGKILL);
            }
            assert!(left.is_empty(), "{mode:?} hang {hang}: the setsid child outlived its test: {left:?}");
        }
    }
}

#[tokio::test]
async fn confined_tests_cannot_write_outside_their_clone_or_reach_the_network() {
    if !sandbox::confined(Sandbox::Auto).await {
        eprintln!("skipped: bubblewrap does not work here (not installed, or no user namespaces)");
        return;
    }
    let ws = tempfile::tempdir().expect("tempdir");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()));
    let planted_home = home.join(format!(".hive-planted-{}", std::process::id()));
    let app_dir = ws.path().join("app");
    let makefile = format!(
        "test:\n\t-touch '{repo}/planted' '{repo}/.git/planted'\n\t-touch '{home}'\n\t-git ls-remote http://127.0.0.1:{port}/x.git\n\ttouch written-in-the-clone\n",
        repo = app_dir.display(),
        home = planted_home.display(),
    );
    let app = repo(ws.path(), "app", |d| drop(write(d, "Makefile", &makefile)));
    let forge = LocalForge::new(ws.path()).expect("forge").with_test_timeout(Duration::from_secs(60));
    let snapshot = forge.snapshot(&id("app")).await.expect("snapshot");
    let planted_home_exists = planted_home.exists();
    let _ = std::fs::remove_file(&planted_home);
    // It ran, and could write its own clone.
    assert_eq!(snapshot.ci, CiStatus::green(), "{snapshot:#?}");
    assert!(!app.join("planted").exists() && !app.join(".git/planted").exists(), "wrote into the user's repository");
    assert!(!planted_home_exists, "wrote into the parent's HOME");
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the test reached a loopback listener of the parent: {other:?}"),
    }
}
