//! Why a service spec is not valid, or why a service could not be started or did not become ready.

use std::{path::PathBuf, time::Duration};

use super::ExitInfo;

/// An error about a service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The spec has no name.
    #[error("a service needs a name; give it one like 'api' or 'web'")]
    EmptyName,
    /// The spec has no program.
    #[error(
        "service '{service}' has an empty argv; give the program and its arguments, e.g. [\"python3\", \"app.py\"]"
    )]
    EmptyArgv {
        /// The service.
        service: String,
    },
    /// The program is an empty string.
    #[error("service '{service}' has an empty program name in argv[0]")]
    EmptyProgram {
        /// The service.
        service: String,
    },
    /// A string the OS would cut at a NUL byte.
    #[error("service '{service}': {field} {value:?} contains a NUL byte")]
    NulByte {
        /// The service.
        service: String,
        /// Which field (`name`, `argv`, `cwd`, `env`, `log_file`).
        field: &'static str,
        /// The offending value.
        value: String,
    },
    /// An environment variable name that is empty or contains `=`.
    #[error("service '{service}': environment variable name '{key}' is empty or contains '='")]
    InvalidEnvKey {
        /// The service.
        service: String,
        /// The name.
        key: String,
    },
    /// A readiness probe on port 0.
    #[error("service '{service}': readiness port '0' is not a port; give the port the service listens on")]
    ZeroPort {
        /// The service.
        service: String,
    },
    /// An HTTP probe path that does not start with `/` or contains spaces or control characters.
    #[error(
        "service '{service}': readiness path {path:?} must start with '/' and contain no spaces or control characters"
    )]
    InvalidProbePath {
        /// The service.
        service: String,
        /// The path.
        path: String,
    },
    /// A restart policy that cannot be followed.
    #[error("service '{service}': {message}")]
    InvalidPolicy {
        /// The service.
        service: String,
        /// What is wrong.
        message: String,
    },
    /// The OS refused to start the program (not found, not executable, no such working directory).
    #[error("could not start service '{service}' ({command}) in '{}': {source}", cwd.display())]
    Spawn {
        /// The service.
        service: String,
        /// The command line.
        command: String,
        /// Its working directory.
        cwd: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The readiness probe did not succeed in time.
    #[error("service '{service}' was not ready within {waited:?} ({probe}): {last}")]
    NotReady {
        /// The service.
        service: String,
        /// The probe, as text.
        probe: String,
        /// How long it was tried.
        waited: Duration,
        /// The last probe's failure.
        last: String,
    },
    /// The process exited while it was being probed.
    #[error("service '{service}' exited before it was ready ({exit})")]
    ExitedBeforeReady {
        /// The service.
        service: String,
        /// How it exited.
        exit: ExitInfo,
    },
}
