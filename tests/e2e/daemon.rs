//! A `hive` process as the end-to-end tests drive a daemon: a clean environment, its stdout read line by line as it
//! comes, its stderr in a file, signals sent by pid, its exit polled until a deadline, its descendants found in
//! `/proc`; killed when the test ends, however it ends.

use std::{
    fs::File,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use nix::{sys::signal::Signal, unistd::Pid};
use tokio::sync::mpsc;

/// How long an expected line may take to show; generous for a loaded CI machine.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The binary with `args`, on the state directory `state`, in an environment without any of hive's variables.
pub fn hive_command(state: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hive"));
    // The global flag first: `ecosystem <id> start` hands everything after the id to its own parser.
    cmd.arg("--state-dir").arg(state).args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("HIVE_")
            || key.starts_with("GITHUB_")
            || ["GH_TOKEN", "ORCHESTRATION_INTERVAL", "EMERGENCY_MODE", "PILOT_LOG_LEVEL"].contains(&key.as_str())
        {
            cmd.env_remove(key);
        }
    }
    // Only the configuration a test names: never the one of the user running the tests.
    cmd.env("XDG_CONFIG_HOME", state.join("no-config"));
    cmd
}

/// A running `hive`.
pub struct Daemon {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    stderr: PathBuf,
}

impl Daemon {
    /// Starts `cmd` with its stdout piped to the test and its stderr written to `stderr`.
    pub fn spawn(mut cmd: Command, stderr: &Path) -> Daemon {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(File::create(stderr).expect("create the stderr log"));
        let mut child = cmd.spawn().expect("spawn hive");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::unbounded_channel();
        // A plain thread, because the pipe is blocking; it ends at EOF, when the process is gone.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Daemon { child, lines, stderr: stderr.to_path_buf() }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the process wrote on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Reads stdout until a line for which `pick` holds, or fails the test after [`DEADLINE`].
    pub async fn line(&mut self, what: &str, pick: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + DEADLINE;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.lines.recv()).await {
                Ok(Some(line)) if pick(&line) => return line,
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => panic!("no {what} on stdout within {DEADLINE:?}\nstderr: {}", self.stderr()),
            }
        }
    }

    /// Sends `signal`; returns the moment just before it was sent.
    pub fn signal(&self, signal: Signal) -> Instant {
        let pid = Pid::from_raw(i32::try_from(self.pid()).expect("pid fits"));
        let sent = Instant::now();
        nix::sys::signal::kill(pid, signal).expect("send the signal");
        sent
    }

    /// The exit status, or `None` while it runs.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("poll the child")
    }

    /// Polls for the process's exit until `within` has passed, then fails the test.
    pub async fn exit_within(&mut self, within: Duration) -> ExitStatus {
        let until = Instant::now() + within;
        loop {
            if let Some(status) = self.try_exit() {
                return status;
            }
            assert!(Instant::now() < until, "hive still runs {within:?} after the signal\nstderr: {}", self.stderr());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Both fail only when the child already exited and was reaped, which is the state wanted anyway.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One process: its id, its process group and its command name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: u32,
    pub pgid: u32,
    pub comm: String,
}

/// Every living descendant of `root`, from `/proc`.
pub fn descendants(root: u32) -> Vec<Proc> {
    let table: Vec<(Proc, u32)> = hive_support::ProcStat::all()
        .into_iter()
        .filter(|stat| !stat.is_dead())
        .filter_map(|stat| {
            let (pid, pgid, ppid) =
                (u32::try_from(stat.pid).ok()?, u32::try_from(stat.pgid).ok()?, u32::try_from(stat.ppid).ok()?);
            Some((Proc { pid, pgid, comm: stat.comm }, ppid))
        })
        .collect();
    let mut found = Vec::new();
    let mut parents = vec![root];
    while let Some(parent) = parents.pop() {
        for (proc, _) in table.iter().filter(|(_, ppid)| *ppid == parent) {
            parents.push(proc.pid);
            found.push(proc.clone());
        }
    }
    found
}

/// Gone means no such process, or a zombie waiting for a reaper that is not us.
pub fn is_gone(pid: u32) -> bool {
    i32::try_from(pid).ok().and_then(hive_support::ProcStat::of).is_none_or(|stat| stat.is_dead())
}
