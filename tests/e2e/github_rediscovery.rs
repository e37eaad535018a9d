//! `hive run --org` as a daemon against the GitHub API emulator: a repository added to the org gets a pilot, and
//! an archived one loses it, without restarting the hive. The real binary runs with the shortest
//! `ORCHESTRATION_INTERVAL` (one second); its `--json` cycle records are read line by line as they come.

use std::path::Path;

use hive_testkit::{Emulator, RepoSpec, RunSpec};
use serde_json::Value;

use crate::daemon::{Daemon, hive_command};

fn start(emu: &Emulator, dir: &Path) -> Daemon {
    let mut cmd = hive_command(&dir.join("state"), &["run", "--org", "acme", "--json"]);
    cmd.env("GITHUB_API_URL", emu.url()).env("GITHUB_TOKEN", emu.token()).env("ORCHESTRATION_INTERVAL", "1");
    Daemon::spawn(cmd, &dir.join("stderr.log"))
}

/// Reads cycle records until one has `total_repositories == total`.
async fn wait_for_total(daemon: &mut Daemon, total: u64) -> Value {
    let what = format!("cycle with {total} repositories");
    let line = daemon
        .line(&what, |line| {
            let record: Value = serde_json::from_str(line).unwrap_or_else(|err| panic!("not json ({err}): {line}"));
            record["total_repositories"] == total
        })
        .await;
    serde_json::from_str(&line).expect("json")
}

fn names(record: &Value) -> Vec<String> {
    let repos = record["repositories"].as_array().expect("repositories");
    repos.iter().map(|repo| repo["repo"].as_str().expect("repo name").to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_picks_up_a_new_repository_and_drops_an_archived_one() {
    let emu = Emulator::start().await;
    let s = emu.state();
    s.add_org("acme");
    s.add_repo(RepoSpec::new("acme", "api"));
    s.add_repo(RepoSpec::new("acme", "web"));
    s.add_workflow_run("acme", "api", RunSpec::new("CI", "main"));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut daemon = start(&emu, dir.path());

    let first = wait_for_total(&mut daemon, 2).await;
    assert_eq!(names(&first), ["acme/api", "acme/web"]);

    s.add_repo(RepoSpec::new("acme", "docs"));
    let grown = wait_for_total(&mut daemon, 3).await;
    assert!(names(&grown).contains(&"acme/docs".to_owned()), "{grown}");

    s.archive_repo("acme", "web");
    let shrunk = wait_for_total(&mut daemon, 2).await;
    assert_eq!(names(&shrunk), ["acme/api", "acme/docs"], "the archived repository lost its pilot");

    assert!(daemon.try_exit().is_none(), "the daemon is still running");
}
