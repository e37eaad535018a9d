//! `hive run --org` as a daemon against the GitHub API emulator: a repository added to the org gets a pilot, and
//! an archived one loses it, without restarting the hive. The real binary runs with a short
//! `ORCHESTRATION_INTERVAL`; its `--json` cycle records are read line by line as they come.

use std::{
    fs::File,
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use hive_testkit::{Emulator, RepoSpec, RunSpec};
use serde_json::Value;
use tokio::sync::mpsc;

/// How long each expected change may take to show in the output; generous for a loaded CI machine, while a cycle
/// takes a fraction of a second.
const DEADLINE: Duration = Duration::from_secs(30);

/// Kills the child when the test ends, however it ends, so no hive outlives its test.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // Both fail only when the child already exited and was reaped, which is the state wanted anyway.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The daemon and its cycle records, one parsed `--json` line per message.
struct Daemon {
    child: KillOnDrop,
    records: mpsc::UnboundedReceiver<Value>,
    stderr: std::path::PathBuf,
}

impl Daemon {
    fn start(emu: &Emulator, state_dir: &Path) -> Daemon {
        let stderr = state_dir.join("stderr.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hive"));
        cmd.args(["run", "--org", "acme", "--json", "--state-dir"]).arg(state_dir.join("state"));
        for var in ["GH_TOKEN", "GITHUB_GRAPHQL_URL", "EMERGENCY_MODE", "HIVE_STATE_DIR", "HIVE_GITHUB_APP_ID"] {
            cmd.env_remove(var);
        }
        cmd.env("GITHUB_API_URL", emu.url())
            .env("GITHUB_TOKEN", emu.token())
            .env("ORCHESTRATION_INTERVAL", "0.2")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&stderr).expect("create the stderr log"));
        let mut child = KillOnDrop(cmd.spawn().expect("spawn hive"));
        let stdout = child.0.stdout.take().expect("stdout is piped");
        let (tx, records) = mpsc::unbounded_channel();
        // A plain thread, because the pipe is blocking; it ends at EOF, when the child is killed.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let record = serde_json::from_str(&line).unwrap_or_else(|err| panic!("not json ({err}): {line}"));
                if tx.send(record).is_err() {
                    break;
                }
            }
        });
        Daemon { child, records, stderr }
    }

    /// Reads cycle records until one has `total_repositories == total`, or fails the test after [`DEADLINE`].
    async fn wait_for_total(&mut self, total: u64) -> Value {
        let until = Instant::now() + DEADLINE;
        let mut last = None;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.records.recv()).await {
                Ok(Some(record)) if record["total_repositories"] == total => return record,
                Ok(Some(record)) => last = Some(record),
                Ok(None) | Err(_) => {
                    let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
                    panic!("no cycle with {total} repositories within {DEADLINE:?}; last: {last:?}\nstderr: {stderr}");
                }
            }
        }
    }
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
    let mut daemon = Daemon::start(&emu, dir.path());

    let first = daemon.wait_for_total(2).await;
    assert_eq!(names(&first), ["acme/api", "acme/web"]);

    s.add_repo(RepoSpec::new("acme", "docs"));
    let grown = daemon.wait_for_total(3).await;
    assert!(names(&grown).contains(&"acme/docs".to_owned()), "{grown}");

    s.archive_repo("acme", "web");
    let shrunk = daemon.wait_for_total(2).await;
    assert_eq!(names(&shrunk), ["acme/api", "acme/docs"], "the archived repository lost its pilot");

    assert!(daemon.child.0.try_wait().expect("poll the child").is_none(), "the daemon is still running");
    drop(daemon);
}
