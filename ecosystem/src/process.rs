//! Running external commands safely: an argument vector (never a shell), a working directory, a timeout that kills
//! the whole process group (or, on request, the whole process tree), and a cap on captured output.

mod tree;

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use nix::{sys::signal::Signal, unistd::Pid};
use tokio::io::{AsyncRead, AsyncReadExt};

/// What a build or lint tool needs from hive's environment to find itself, its toolchain and its caches, for a
/// command with a cleared environment ([`CommandSpec::env_clear`]): nothing else, so never hive's tokens.
pub const TOOL_ENV: [&str; 7] = ["PATH", "HOME", "CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN", "LANG", "LC_ALL"];

/// One command to run.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    /// The program, looked up on `PATH` when it has no slash.
    pub program: OsString,
    /// Arguments, passed as they are: no shell sees them.
    pub args: Vec<OsString>,
    /// Working directory.
    pub cwd: PathBuf,
    /// Extra environment variables.
    pub env: Vec<(OsString, OsString)>,
    /// Start from an empty environment: the child sees only [`CommandSpec::env`].
    pub clear_env: bool,
    /// Kill every process the command started, not only its process group, when it ends, times out or is dropped.
    pub kill_tree: bool,
    /// Killed (with its whole process group) after this long.
    pub timeout: Duration,
    /// At most this many bytes of stdout and of stderr are kept; the rest is read and dropped.
    pub output_cap: usize,
}

impl CommandSpec {
    /// `program args...` in `cwd`, with a 10-minute timeout and a 1 MiB output cap.
    pub fn new<I, S>(program: impl Into<OsString>, args: I, cwd: impl AsRef<Path>) -> CommandSpec
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        CommandSpec {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            cwd: cwd.as_ref().to_path_buf(),
            env: Vec::new(),
            clear_env: false,
            kill_tree: false,
            timeout: Duration::from_secs(600),
            output_cap: 1 << 20,
        }
    }

    /// The same command with another timeout.
    pub fn timeout(mut self, timeout: Duration) -> CommandSpec {
        self.timeout = timeout;
        self
    }

    /// The same command with another output cap.
    pub fn output_cap(mut self, bytes: usize) -> CommandSpec {
        self.output_cap = bytes;
        self
    }

    /// The same command with one more environment variable.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> CommandSpec {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The same command with an empty environment plus the variables given with [`CommandSpec::env`]: for code that
    /// must not see hive's secrets.
    pub fn env_clear(mut self) -> CommandSpec {
        self.clear_env = true;
        self
    }

    /// The same command, killed with everything it started when it ends, times out or is dropped: a process that
    /// left the command's process group (`setsid`) is found among its descendants in `/proc` while its parent
    /// lives, and by a marker variable in its environment once it was orphaned.
    pub fn kill_tree(mut self) -> CommandSpec {
        self.kill_tree = true;
        self
    }

    /// The command line for messages (arguments quoted with Rust escapes, so nothing is ambiguous).
    pub fn display(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| format!("{:?}", a.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What a finished command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// Exit code; `None` when killed by a signal (including our timeout).
    pub code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// Captured stdout (up to the cap).
    pub stdout: Vec<u8>,
    /// Captured stderr (up to the cap).
    pub stderr: Vec<u8>,
    /// Whether either stream was longer than the cap.
    pub truncated: bool,
    /// Whether the timeout killed it.
    pub timed_out: bool,
}

impl CommandOutput {
    /// Exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Stdout as text (lossy).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Stderr as text (lossy).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Why a command could not be run at all.
#[derive(Debug, thiserror::Error)]
#[error("could not run {command} in '{cwd}': {source}")]
pub struct ProcessError {
    /// The command line.
    pub command: String,
    /// Its working directory.
    pub cwd: PathBuf,
    /// The cause.
    #[source]
    pub source: std::io::Error,
}

/// Runs a command to completion (or timeout). The child gets its own process group, so a timeout also kills
/// whatever it started.
pub async fn run(spec: &CommandSpec) -> Result<CommandOutput, ProcessError> {
    let fail = |source| ProcessError { command: spec.display(), cwd: spec.cwd.clone(), source };
    let no_env: &[(&str, &str)] = &[];
    let mut command = group_command(&spec.program, &spec.args, &spec.cwd, no_env);
    if spec.clear_env {
        command.env_clear();
    }
    command.envs(spec.env.iter().map(|(k, v)| (k, v)));
    let marker = spec.kill_tree.then(tree::Marker::new);
    if let Some(marker) = &marker {
        command.env(tree::MARKER_VAR, marker.value());
    }
    let mut child = command.spawn().map_err(fail)?;
    let pid = child.id();
    // Killed with the tree whenever this function stops, returning or dropped mid-way (a shutdown).
    let mut tree = marker.map(|marker| tree::TreeGuard::new(pid, marker));
    let stdout = child.stdout.take().map(|s| tokio::spawn(read_capped(s, spec.output_cap)));
    let stderr = child.stderr.take().map(|s| tokio::spawn(read_capped(s, spec.output_cap)));
    let (status, timed_out) = match tokio::time::timeout(spec.timeout, child.wait()).await {
        Ok(status) => (status.map_err(fail)?, false),
        Err(_) => {
            // The tree first, while the command still lives and its descendants are still its descendants.
            if let Some(tree) = &tree {
                tree.kill();
            }
            kill_group(pid, Signal::SIGKILL);
            (child.wait().await.map_err(fail)?, true)
        }
    };
    // Grandchildren holding the pipes open would keep the readers waiting; the group is gone on timeout, and on a
    // normal exit a straggler is killed too. The command was reaped, so only the marker finds its orphans now.
    if let Some(tree) = &mut tree {
        tree.reaped();
        tree.kill();
    }
    kill_group(pid, Signal::SIGKILL);
    let (stdout, out_truncated) = join_reader(stdout).await;
    let (stderr, err_truncated) = join_reader(stderr).await;
    let signal = std::os::unix::process::ExitStatusExt::signal(&status);
    Ok(CommandOutput {
        code: status.code(),
        signal,
        stdout,
        stderr,
        truncated: out_truncated || err_truncated,
        timed_out,
    })
}

/// A command with piped output and no input, in its own process group (so one signal reaches everything it
/// starts, and a Ctrl-C meant for hive's terminal does not reach it), killed if its handle is dropped.
pub(crate) fn group_command<I, S>(
    program: impl AsRef<std::ffi::OsStr>,
    args: I,
    cwd: &Path,
    env: &[(impl AsRef<std::ffi::OsStr>, impl AsRef<std::ffi::OsStr>)],
) -> tokio::process::Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .current_dir(cwd)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    command
}

/// Sends `signal` to the process group led by `pid`. A group that is already gone is fine.
pub fn kill_group(pid: Option<u32>, signal: Signal) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::killpg(Pid::from_raw(pid), signal);
    }
}

async fn read_capped(mut stream: impl AsyncRead + Unpin, cap: usize) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                truncated |= n > room;
            }
        }
    }
    (kept, truncated)
}

async fn join_reader(reader: Option<tokio::task::JoinHandle<(Vec<u8>, bool)>>) -> (Vec<u8>, bool) {
    match reader {
        Some(handle) => handle.await.unwrap_or_default(),
        None => (Vec::new(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn arguments_reach_the_program_verbatim() {
        let hostile = "$(touch /tmp/pwned); `id` | cat > x";
        let out = run(&CommandSpec::new("printf", ["%s", hostile], ".")).await.unwrap();
        assert!(out.success());
        assert_eq!(out.stdout_text(), hostile);
    }

    #[tokio::test]
    async fn output_is_capped_and_flagged() {
        let out = run(&CommandSpec::new("seq", ["1", "100000"], ".").output_cap(10)).await.unwrap();
        assert_eq!(out.stdout.len(), 10);
        assert!(out.truncated);
    }

    #[tokio::test]
    async fn timeout_kills_the_process_group() {
        let out = run(&CommandSpec::new("sleep", ["30"], ".").timeout(Duration::from_millis(100))).await.unwrap();
        assert!(out.timed_out);
        assert_eq!(out.code, None);
    }

    /// Whether `pid` is gone (a zombie counts: it runs nothing, and in a container nobody may reap it).
    fn gone(pid: &str) -> bool {
        pid.parse().ok().and_then(hive_support::ProcStat::of).is_none_or(|stat| stat.is_dead())
    }

    /// Runs a script that starts `setsid sleep 1000` (out of the command's process group), writes its pid to a
    /// file, and then hangs or exits; returns the pid and the output.
    async fn run_escaping(hang: bool, kill_tree: bool) -> (String, CommandOutput) {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let script = if hang {
            "setsid sleep 1000 >/dev/null 2>&1 & echo $! > \"$1\"; sleep 1000"
        } else {
            "setsid sleep 1000 >/dev/null 2>&1 & echo $! > \"$1\""
        };
        let args = ["-c", script, "sh", pidfile.to_str().unwrap()];
        // Long enough for the script to write the pid file first, even on a loaded machine.
        let mut spec = CommandSpec::new("sh", args, ".").timeout(Duration::from_secs(3));
        if kill_tree {
            spec = spec.kill_tree();
        }
        let out = run(&spec).await.unwrap();
        let pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_owned();
        (pid, out)
    }

    #[tokio::test]
    async fn a_setsid_child_is_killed_with_the_tree_on_timeout_and_on_exit() {
        for hang in [true, false] {
            let (pid, out) = run_escaping(hang, true).await;
            assert_eq!(out.timed_out, hang);
            assert!(gone(&pid), "the setsid child {pid} survived (hang: {hang})");
        }
    }

    #[tokio::test]
    async fn without_kill_tree_a_setsid_child_survives_the_group_kill() {
        // What `kill_tree` is for: the process group kill alone misses it.
        let (pid, out) = run_escaping(true, false).await;
        assert!(out.timed_out);
        let survived = !gone(&pid);
        if let Ok(pid) = pid.parse::<i32>() {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        assert!(survived, "the group kill reached a setsid child; the tree test proves nothing");
    }

    #[tokio::test]
    async fn a_cleared_environment_holds_only_what_was_given() {
        let out = run(&CommandSpec::new("env", Vec::<String>::new(), ".").env_clear().env("ONLY", "this").kill_tree())
            .await
            .unwrap();
        let mut names: Vec<String> =
            out.stdout_text().lines().filter_map(|l| l.split_once('=')).map(|(k, _)| k.to_owned()).collect();
        names.sort();
        assert_eq!(names, ["CI_RUN_TREE", "ONLY"]);
    }

    #[tokio::test]
    async fn missing_program_names_it() {
        let err = run(&CommandSpec::new("definitely-not-a-program-here", Vec::<String>::new(), ".")).await.unwrap_err();
        assert!(err.to_string().contains("\"definitely-not-a-program-here\""), "{err}");
    }
}
