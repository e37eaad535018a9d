//! Running external commands safely: an argument vector (never a shell), a working directory, a timeout that kills
//! the whole process group, and a cap on captured output.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use nix::{sys::signal::Signal, unistd::Pid};
use tokio::io::{AsyncRead, AsyncReadExt};

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
    let mut child = group_command(&spec.program, &spec.args, &spec.cwd, &spec.env).spawn().map_err(fail)?;
    let pid = child.id();
    let stdout = child.stdout.take().map(|s| tokio::spawn(read_capped(s, spec.output_cap)));
    let stderr = child.stderr.take().map(|s| tokio::spawn(read_capped(s, spec.output_cap)));
    let (status, timed_out) = match tokio::time::timeout(spec.timeout, child.wait()).await {
        Ok(status) => (status.map_err(fail)?, false),
        Err(_) => {
            kill_group(pid, Signal::SIGKILL);
            (child.wait().await.map_err(fail)?, true)
        }
    };
    // Grandchildren holding the pipes open would keep the readers waiting; the group is gone on timeout, and on a
    // normal exit a straggler is killed too.
    kill_group(pid, Signal::SIGKILL);
    let (stdout, out_truncated) = join_reader(stdout).await;
    let (stderr, err_truncated) = join_reader(stderr).await;
    Ok(CommandOutput { code: status.code(), stdout, stderr, truncated: out_truncated || err_truncated, timed_out })
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

    #[tokio::test]
    async fn missing_program_names_it() {
        let err = run(&CommandSpec::new("definitely-not-a-program-here", Vec::<String>::new(), ".")).await.unwrap_err();
        assert!(err.to_string().contains("\"definitely-not-a-program-here\""), "{err}");
    }
}
