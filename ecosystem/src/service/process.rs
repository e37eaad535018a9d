//! One running service process: spawned without a shell in its own process group, its output pumped into the
//! service's logs, its exit reaped by a task and published to every [`ProcessHandle`].
//!
//! [`ServiceProcess`] owns the process: dropping it before the process has exited kills the whole group, so an
//! owner that disappears (an actor that panicked, a runtime shutting down) never leaves an orphan behind.
//! [`ProcessHandle`] is the cheap, cloneable view that tasks use to wait for the exit or to terminate the process.

use std::{fmt, os::unix::process::ExitStatusExt, time::Duration};

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use tokio::{
    sync::{mpsc, watch},
    time::Instant,
};

use super::{
    LogStream, ServiceError, ServiceLogs, ServiceSpec,
    logs::{pump, write_log_file},
};
use crate::process::kill_group;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    /// Exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
}

impl ExitInfo {
    /// Exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    fn unknown() -> ExitInfo {
        ExitInfo { code: None, signal: None }
    }
}

impl From<std::process::ExitStatus> for ExitInfo {
    fn from(status: std::process::ExitStatus) -> ExitInfo {
        ExitInfo { code: status.code(), signal: status.signal() }
    }
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "exit code {code}"),
            (None, Some(signal)) => match Signal::try_from(signal) {
                Ok(name) => write!(f, "killed by {name}"),
                Err(_) => write!(f, "killed by signal {signal}"),
            },
            (None, None) => f.write_str("unknown exit"),
        }
    }
}

/// A cloneable view of a running (or finished) service process.
#[derive(Debug, Clone)]
pub struct ProcessHandle {
    pid: u32,
    started: Instant,
    exit: watch::Receiver<Option<ExitInfo>>,
}

impl ProcessHandle {
    /// The process id, which is also its process group id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// How long ago it was spawned.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// How it ended, if it has.
    pub fn try_exit(&self) -> Option<ExitInfo> {
        *self.exit.borrow()
    }

    /// Waits until it has exited and been reaped.
    pub async fn wait(&self) -> ExitInfo {
        let mut exit = self.exit.clone();
        match exit.wait_for(Option::is_some).await {
            Ok(info) => info.unwrap_or_else(ExitInfo::unknown),
            // The reaper task was dropped (the runtime is shutting down); the child was killed on drop.
            Err(_) => ExitInfo::unknown(),
        }
    }

    /// Stops the process: SIGTERM to its group, up to `timeout` for it to exit, then SIGKILL to the group.
    /// Returns how it ended; a process that had already exited is left alone. Safe to call more than once.
    pub async fn terminate(&self, timeout: Duration) -> ExitInfo {
        if let Some(exit) = self.try_exit() {
            return exit;
        }
        kill_group(Some(self.pid), Signal::SIGTERM);
        match tokio::time::timeout(timeout, self.wait()).await {
            Ok(exit) => exit,
            Err(_) => {
                tracing::debug!(pid = self.pid, ?timeout, "service ignored SIGTERM; sending SIGKILL");
                kill_group(Some(self.pid), Signal::SIGKILL);
                self.wait().await
            }
        }
    }
}

/// A service process and the tasks around it. Dropping it before the process exits kills the process group.
#[derive(Debug)]
pub struct ServiceProcess {
    handle: ProcessHandle,
}

impl ServiceProcess {
    /// Validates `spec` and spawns it: no shell, stdin from `/dev/null`, its own process group, stdout and stderr
    /// pumped line by line into `logs` and the spec's log file. Must be called inside a tokio runtime.
    pub fn spawn(spec: &ServiceSpec, logs: &ServiceLogs) -> Result<ServiceProcess, ServiceError> {
        spec.validate()?;
        let fail = |source| ServiceError::Spawn {
            service: spec.name.clone(),
            command: spec.display(),
            cwd: spec.cwd.clone(),
            source,
        };
        let (program, args) =
            spec.argv.split_first().ok_or_else(|| ServiceError::EmptyArgv { service: spec.name.clone() })?;
        let no_env: &[(&str, &str)] = &[];
        let mut command = crate::process::group_command(program, args, &spec.cwd, no_env);
        if spec.clear_env {
            command.env_clear();
        }
        command.envs(spec.env.iter().map(|(key, value)| (key, value)));
        let mut child = command.spawn().map_err(fail)?;
        let pid = child.id().ok_or_else(|| fail(std::io::Error::other("the child exited before it had a pid")))?;
        let started = Instant::now();

        let file = spec.log_file.clone().map(|path| {
            let (tx, rx) = mpsc::channel(256);
            tokio::spawn(write_log_file(path, rx, logs.clone()));
            tx
        });
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(pump(stdout, LogStream::Stdout, logs.clone(), file.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(pump(stderr, LogStream::Stderr, logs.clone(), file));
        }

        let (exit_tx, exit_rx) = watch::channel(None);
        tokio::spawn(async move {
            let exit = child.wait().await.map_or_else(|_| ExitInfo::unknown(), ExitInfo::from);
            // The group dies with its leader: a daemonised grandchild would otherwise keep ports and pipes open
            // with nobody watching it. The leader's pid cannot have been reused while its group still has members.
            kill_group(Some(pid), Signal::SIGKILL);
            let _ = exit_tx.send(Some(exit));
        });
        tracing::debug!(service = %spec.name, pid, command = %spec.display(), "service process spawned");
        Ok(ServiceProcess { handle: ProcessHandle { pid, started, exit: exit_rx } })
    }

    /// A cloneable view for tasks.
    pub fn handle(&self) -> ProcessHandle {
        self.handle.clone()
    }

    /// The process id (and process group id).
    pub fn pid(&self) -> u32 {
        self.handle.pid
    }

    /// See [`ProcessHandle::terminate`].
    pub async fn terminate(&self, timeout: Duration) -> ExitInfo {
        self.handle.terminate(timeout).await
    }

    /// See [`ProcessHandle::wait`].
    pub async fn wait(&self) -> ExitInfo {
        self.handle.wait().await
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        if self.handle.try_exit().is_none() {
            // The owner is gone without stopping the process (a panic, a killed actor, a dropped runtime). Killing
            // the group is the only way to make sure nothing is orphaned; the reaper task collects the exit.
            tracing::debug!(pid = self.handle.pid, "service process dropped while running; killing its group");
            kill_group(Some(self.handle.pid), Signal::SIGKILL);
        }
    }
}
