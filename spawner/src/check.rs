//! Testing a rendered agent before it is published: `cargo test` in its directory, with a timeout, a shared target
//! directory (so the second agent builds only itself), and the result kept as `TEST_REPORT.md`.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use hive_ecosystem::process::{CommandSpec, run};

use crate::SpawnerError;

/// How the agent's tests run.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The target directory every agent shares (absolute: cargo would take a relative one from the crate's directory).
    pub target_dir: PathBuf,
    /// The whole `cargo test`, build included, is killed after this long.
    pub timeout: Duration,
    /// `cargo --offline`: only crates already downloaded (a machine without network, or tests).
    pub offline: bool,
    /// The cargo program.
    pub cargo: OsString,
}

impl CheckOptions {
    /// Tests with `cargo` on `PATH`, online, for at most 15 minutes, sharing `target_dir`.
    pub fn new(target_dir: impl Into<PathBuf>) -> CheckOptions {
        let target_dir = target_dir.into();
        CheckOptions {
            target_dir: std::path::absolute(&target_dir).unwrap_or(target_dir),
            timeout: Duration::from_secs(15 * 60),
            offline: false,
            cargo: OsString::from("cargo"),
        }
    }
}

/// How an agent's tests went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestReport {
    /// Whether `cargo test` exited 0.
    pub passed: bool,
    /// Whether the timeout stopped it.
    pub timed_out: bool,
    /// The command line.
    pub command: String,
    /// How long it took, whole seconds.
    pub seconds: u64,
    /// The test result lines (`test result: ...`), one per test binary.
    pub results: Vec<String>,
    /// The end of cargo's output, for a failure.
    pub tail: String,
}

/// At most this many lines of cargo's output are kept in a report.
const TAIL_LINES: usize = 60;

impl TestReport {
    /// The report as `TEST_REPORT.md`.
    pub fn markdown(&self, name: &str) -> String {
        let verdict = match (self.passed, self.timed_out) {
            (true, _) => "passed",
            (false, true) => "timed out",
            (false, false) => "failed",
        };
        let mut out = format!("# Test report: {name}\n\n`{}`: **{verdict}** in {} s.\n", self.command, self.seconds);
        if !self.results.is_empty() {
            out.push_str("\n```text\n");
            for line in &self.results {
                out.push_str(line);
                out.push('\n');
            }
            out.push_str("```\n");
        }
        if !self.passed {
            out.push_str(&format!("\nThe end of cargo's output:\n\n```text\n{}\n```\n", self.tail));
        }
        out
    }

    /// One line for errors and logs.
    pub fn summary(&self) -> String {
        if self.timed_out {
            return format!("'{}' timed out after {} s", self.command, self.seconds);
        }
        let last = first_error(&self.tail);
        format!("'{}' failed: {}", self.command, if last.is_empty() { "see TEST_REPORT.md" } else { last })
    }
}

/// The variables a build of an agent sees: what cargo and rustup need to find themselves and their caches, nothing
/// else. Its code (written by a language model, perhaps) never sees hive's tokens or keys.
const BUILD_ENV: &[&str] = &["PATH", "HOME", "CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN", "LANG", "LC_ALL"];

/// `cargo <verb> ...` in `dir` as `options` say: the shared target directory, the timeout that kills the whole
/// tree, and a cleared environment but [`BUILD_ENV`].
pub(crate) fn cargo(dir: &Path, verb: &str, extra: &[&str], options: &CheckOptions) -> CommandSpec {
    let mut args = vec![verb, "--color", "never"];
    args.extend_from_slice(extra);
    if options.offline {
        args.push("--offline");
    }
    let mut spec = CommandSpec::new(options.cargo.clone(), args, dir)
        .timeout(options.timeout)
        .env_clear()
        .env("CARGO_TARGET_DIR", options.target_dir.as_os_str())
        .env("CARGO_TERM_COLOR", "never")
        .kill_tree();
    for key in BUILD_ENV {
        if let Some(value) = std::env::var_os(key) {
            spec = spec.env(key, value);
        }
    }
    spec
}

/// The line of cargo's output that says what failed, for one-line errors.
pub(crate) fn first_error(text: &str) -> &str {
    text.lines().rev().find(|l| l.contains("error")).unwrap_or("").trim()
}

/// Runs `cargo test` in `dir` and writes `TEST_REPORT.md` there, whatever the result.
pub async fn test_crate(dir: &Path, name: &str, options: &CheckOptions) -> Result<TestReport, SpawnerError> {
    let spec = cargo(dir, "test", &[], options);
    let started = Instant::now();
    let output =
        run(&spec).await.map_err(|e| SpawnerError::Io { what: "run the agent's tests", reason: e.to_string() })?;
    let text = format!("{}{}", output.stdout_text(), output.stderr_text());
    let results = text.lines().filter(|l| l.starts_with("test result:")).map(str::to_owned).collect();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    let report = TestReport {
        passed: output.success(),
        timed_out: output.timed_out,
        command: spec.display(),
        seconds: started.elapsed().as_secs(),
        results,
        tail,
    };
    let path = dir.join("TEST_REPORT.md");
    // Not through a link the tests may have left in its place.
    let _ = std::fs::remove_file(&path);
    std::fs::write(&path, report.markdown(name)).map_err(|e| SpawnerError::Io {
        what: "write the test report",
        reason: format!("'{}': {e}", path.display()),
    })?;
    Ok(report)
}
