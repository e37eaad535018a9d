//! Services: long-running processes that hive starts, watches and stops. This module is the process side only
//! (what to run, how to run it safely, how to tell it is ready); the actor that keeps a service alive lives in
//! `hive-actors`.
//!
//! A service is an argument vector (never a shell) run in its own process group, so stopping it reaches everything
//! it started. Its output is kept line by line in a bounded ring buffer and appended to a log file. Restart rules
//! follow supervisord: a process counts as started once it has run for [`ServiceSpec::start_grace`], and the keeper
//! gives up after [`ServiceSpec::max_quick_failures`] failures that came sooner.
//!
//! ```
//! use hive_ecosystem::{Readiness, ServiceSpec};
//!
//! let spec = ServiceSpec::new("api", ["python3", "-m", "http.server", "8080"], ".")
//!     .readiness(Readiness::Http { port: 8080, path: "/".to_owned() });
//! assert!(spec.validate().is_ok());
//! assert!(ServiceSpec::new("api", Vec::<String>::new(), ".").validate().is_err());
//! ```

mod error;
mod logs;
mod probe;
mod process;
#[cfg(test)]
mod tests;

use std::{fmt, path::PathBuf, time::Duration};

use serde::{Deserialize, Serialize};

pub use self::{
    error::ServiceError,
    logs::{DEFAULT_LOG_LINES, LogLine, LogStream, ServiceLogs},
    probe::{HealthPolicy, check_health, free_loopback_port, probe_readiness, wait_ready},
    process::{ExitInfo, ProcessHandle, ServiceProcess},
};

/// How to tell that a started service is ready to serve. Probes only ever connect to `127.0.0.1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Readiness {
    /// Ready once a TCP connection to this port succeeds.
    Tcp {
        /// The loopback port the service listens on.
        port: u16,
    },
    /// Ready once `GET path` on this port answers with a 2xx or 3xx status.
    Http {
        /// The loopback port the service listens on.
        port: u16,
        /// The path to ask for; starts with `/`.
        path: String,
    },
}

impl Readiness {
    /// The port probed.
    pub fn port(&self) -> u16 {
        match self {
            Readiness::Tcp { port } | Readiness::Http { port, .. } => *port,
        }
    }
}

impl fmt::Display for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Readiness::Tcp { port } => write!(f, "tcp 127.0.0.1:{port}"),
            Readiness::Http { port, path } => write!(f, "http://127.0.0.1:{port}{path}"),
        }
    }
}

/// Which exits the keeper answers with a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceRestart {
    /// Every exit that was not asked for (a service is meant to run until stopped).
    #[default]
    Always,
    /// Only exits with a non-zero code or by a signal.
    OnFailure,
    /// Never; the service ends in `Exited`.
    Never,
}

/// Delays between restarts: `min(max, min * 2^n)`, where `n` counts the quick failures in a row before this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceBackoff {
    /// Delay before the first restart.
    pub min: Duration,
    /// The cap.
    pub max: Duration,
}

impl ServiceBackoff {
    /// The delay before a restart that follows `n` quick failures in a row (0 after a process that had started).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use hive_ecosystem::ServiceBackoff;
    /// let b = ServiceBackoff { min: Duration::from_millis(100), max: Duration::from_millis(350) };
    /// let delays: Vec<u128> = (0..4).map(|n| b.delay(n).as_millis()).collect();
    /// assert_eq!(delays, [100, 200, 350, 350]);
    /// ```
    pub fn delay(&self, n: u32) -> Duration {
        hive_support::doubling(self.min, self.max, n)
    }
}

impl Default for ServiceBackoff {
    fn default() -> ServiceBackoff {
        ServiceBackoff { min: Duration::from_millis(500), max: Duration::from_secs(30) }
    }
}

/// Everything needed to run one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSpec {
    /// The service's name; also its member id under the queen.
    pub name: String,
    /// The program and its arguments, passed as they are (no shell). The program is looked up on `PATH` when it
    /// has no slash.
    pub argv: Vec<String>,
    /// Working directory.
    pub cwd: PathBuf,
    /// Environment variables added to the inherited environment (to none, with `clear_env`).
    pub env: Vec<(String, String)>,
    /// Start from an empty environment: the process sees only `env` (for code hive did not write itself, which
    /// must not inherit hive's tokens).
    #[serde(default)]
    pub clear_env: bool,
    /// How to tell the service is ready; `None`: ready once it has run for `start_grace`.
    pub readiness: Option<Readiness>,
    /// How long the readiness probe may take before the start counts as failed.
    pub readiness_timeout: Duration,
    /// After SIGTERM, how long to wait before SIGKILL.
    pub stop_timeout: Duration,
    /// A process counts as started once it has run this long (supervisord's `startsecs`).
    pub start_grace: Duration,
    /// Give up after this many failures in a row that came before `start_grace` (supervisord's `startretries`).
    pub max_quick_failures: u32,
    /// Delays between restarts.
    pub backoff: ServiceBackoff,
    /// Which exits are answered with a restart.
    pub restart: ServiceRestart,
    /// Start as soon as the keeper starts (otherwise wait for a `Start` command).
    pub autostart: bool,
    /// Where stdout and stderr are appended, line by line; `None` keeps them in memory only.
    pub log_file: Option<PathBuf>,
}

impl ServiceSpec {
    /// `argv` in `cwd`, with defaults: no readiness probe, 30 s readiness timeout, 5 s stop timeout, 1 s start grace,
    /// 3 quick failures, backoff from 500 ms to 30 s, restarted on every exit, started at once, no log file.
    pub fn new<I, S>(name: impl Into<String>, argv: I, cwd: impl Into<PathBuf>) -> ServiceSpec
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ServiceSpec {
            name: name.into(),
            argv: argv.into_iter().map(Into::into).collect(),
            cwd: cwd.into(),
            env: Vec::new(),
            clear_env: false,
            readiness: None,
            readiness_timeout: Duration::from_secs(30),
            stop_timeout: Duration::from_secs(5),
            start_grace: Duration::from_secs(1),
            max_quick_failures: 3,
            backoff: ServiceBackoff::default(),
            restart: ServiceRestart::Always,
            autostart: true,
            log_file: None,
        }
    }

    /// The same spec with one more environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> ServiceSpec {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The same spec with a readiness probe.
    pub fn readiness(mut self, readiness: Readiness) -> ServiceSpec {
        self.readiness = Some(readiness);
        self
    }

    /// The same spec appending its output to `path`.
    pub fn log_file(mut self, path: impl Into<PathBuf>) -> ServiceSpec {
        self.log_file = Some(path.into());
        self
    }

    /// The command line for messages (each argument quoted with Rust escapes, so nothing is ambiguous).
    pub fn display(&self) -> String {
        self.argv.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(" ")
    }

    /// Checks everything that can be checked before running: a name, a program, no NUL bytes anywhere (the OS
    /// would cut the string there), sane environment names, real ports, a probe path that cannot smuggle a second
    /// request line, and a restart policy that can be followed.
    pub fn validate(&self) -> Result<(), ServiceError> {
        let service = &self.name;
        let nul = |field: &'static str, value: &str| {
            if value.contains('\0') {
                Err(ServiceError::NulByte { service: service.clone(), field, value: value.to_owned() })
            } else {
                Ok(())
            }
        };
        if service.is_empty() {
            return Err(ServiceError::EmptyName);
        }
        nul("name", service)?;
        let Some(program) = self.argv.first() else {
            return Err(ServiceError::EmptyArgv { service: service.clone() });
        };
        if program.is_empty() {
            return Err(ServiceError::EmptyProgram { service: service.clone() });
        }
        for arg in &self.argv {
            nul("argv", arg)?;
        }
        nul("cwd", &self.cwd.to_string_lossy())?;
        if let Some(log_file) = &self.log_file {
            nul("log_file", &log_file.to_string_lossy())?;
        }
        for (key, value) in &self.env {
            nul("env", key)?;
            nul("env", value)?;
            if key.is_empty() || key.contains('=') {
                return Err(ServiceError::InvalidEnvKey { service: service.clone(), key: key.clone() });
            }
        }
        match &self.readiness {
            Some(readiness) if readiness.port() == 0 => {
                return Err(ServiceError::ZeroPort { service: service.clone() });
            }
            Some(Readiness::Http { path, .. })
                if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control()) =>
            {
                return Err(ServiceError::InvalidProbePath { service: service.clone(), path: path.clone() });
            }
            _ => {}
        }
        if self.max_quick_failures == 0 {
            return Err(ServiceError::InvalidPolicy {
                service: service.clone(),
                message: "max_quick_failures is 0; it must be at least 1".to_owned(),
            });
        }
        if self.backoff.min > self.backoff.max {
            return Err(ServiceError::InvalidPolicy {
                service: service.clone(),
                message: format!("backoff min {:?} is above max {:?}", self.backoff.min, self.backoff.max),
            });
        }
        Ok(())
    }
}
