//! Lock files brought in line after a bump, each by its ecosystem's own tool, run with an argument vector, a
//! timeout and an environment cleared of everything but what the tool needs to find itself and its caches.

use std::{ffi::OsString, path::Path, time::Duration};

use crate::process::{CommandSpec, run};

/// What became of one lock file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum LockfileOutcome {
    /// The tool ran and succeeded.
    Updated {
        /// The tool (`cargo`, `npm`, `go`, `poetry`, `uv`).
        tool: String,
        /// The lock file, relative to the worktree.
        file: String,
    },
    /// The lock file is there but its tool is not on `PATH`.
    ToolMissing {
        /// The tool.
        tool: String,
    },
    /// The tool failed or timed out; the lock file is as the tool left it.
    Failed {
        /// The tool.
        tool: String,
        /// Its last lines of output, URL credentials redacted, or why it could not run.
        reason: String,
    },
    /// The worktree has none of the lock files known here.
    NoLockfile,
}

/// The variables a tool sees: what it needs to find itself, its toolchain and its caches. Never hive's tokens.
const TOOL_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "CARGO_HOME",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
    "GOPATH",
    "GOMODCACHE",
    "GOTOOLCHAIN",
    "XDG_CACHE_HOME",
    "LANG",
    "LC_ALL",
];

/// How much of a failing tool's output its outcome keeps.
const REASON_LINES: usize = 12;

/// Brings each lock file at the root of `dir` in line with its manifests after `dependency` was bumped: `Cargo.lock`
/// by `cargo update --offline --package=<dependency>` (never online: a bump that needs a download fails and says so),
/// `package-lock.json` by `npm install --package-lock-only --ignore-scripts`, `go.sum` by `go mod tidy`,
/// `poetry.lock` by `poetry lock --no-update`, `uv.lock` by `uv lock`. Each tool gets `timeout`, a cleared
/// environment but `PATH`, `HOME` and its toolchain's and caches' variables, and runs only when its lock file
/// exists. One outcome per lock file, or [`LockfileOutcome::NoLockfile`].
pub async fn update_lockfiles(dir: &Path, dependency: &str, timeout: Duration) -> Vec<LockfileOutcome> {
    let env: Vec<(OsString, OsString)> =
        TOOL_ENV.iter().filter_map(|key| std::env::var_os(key).map(|value| (OsString::from(key), value))).collect();
    update_with_env(dir, dependency, timeout, &env).await
}

/// [`update_lockfiles`] with the tools' environment given.
pub(crate) async fn update_with_env(
    dir: &Path,
    dependency: &str,
    timeout: Duration,
    env: &[(OsString, OsString)],
) -> Vec<LockfileOutcome> {
    // `--package=NAME` in one argument: a name starting with `-` cannot be read as another option.
    let package = format!("--package={dependency}");
    let tools: [(&str, &str, Vec<&str>); 5] = [
        ("Cargo.lock", "cargo", vec!["update", "--color", "never", "--offline", &package]),
        (
            "package-lock.json",
            "npm",
            vec!["install", "--package-lock-only", "--ignore-scripts", "--no-audit", "--no-fund"],
        ),
        ("go.sum", "go", vec!["mod", "tidy"]),
        ("poetry.lock", "poetry", vec!["lock", "--no-update", "--no-interaction"]),
        ("uv.lock", "uv", vec!["lock"]),
    ];
    let mut outcomes = Vec::new();
    for (file, tool, args) in tools {
        if !std::fs::symlink_metadata(dir.join(file)).is_ok_and(|meta| meta.is_file()) {
            continue;
        }
        let mut spec = CommandSpec::new(tool, args, dir).timeout(timeout).env_clear().kill_tree();
        for (key, value) in env {
            spec = spec.env(key, value);
        }
        outcomes.push(outcome(&spec, tool, file).await);
    }
    if outcomes.is_empty() {
        outcomes.push(LockfileOutcome::NoLockfile);
    }
    outcomes
}

async fn outcome(spec: &CommandSpec, tool: &str, file: &str) -> LockfileOutcome {
    let tool = tool.to_owned();
    match run(spec).await {
        Err(e) if e.source.kind() == std::io::ErrorKind::NotFound => LockfileOutcome::ToolMissing { tool },
        Err(e) => LockfileOutcome::Failed { tool, reason: e.to_string() },
        Ok(out) if out.timed_out => {
            LockfileOutcome::Failed { tool, reason: format!("timed out after {} s", spec.timeout.as_secs()) }
        }
        Ok(out) if out.success() => LockfileOutcome::Updated { tool, file: file.to_owned() },
        Ok(out) => {
            let text = format!("{}{}", out.stdout_text(), out.stderr_text());
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            let tail = lines[lines.len().saturating_sub(REASON_LINES)..].join("\n");
            let reason = match out.code {
                Some(code) => format!("exit code {code}: {tail}"),
                None => format!("killed by a signal: {tail}"),
            };
            LockfileOutcome::Failed { tool, reason: hive_support::redact_url_credentials(&reason).into_owned() }
        }
    }
}
