//! Local CI: a repository's test command run in a throwaway clone of HEAD (see `sandbox.rs` for what the tests may
//! touch), and the cache of results by HEAD (in memory, and in a JSON file when the forge has a cache directory).
//!
//! The clone is made with `git clone --no-local`: objects are copied through git's transport, never hard-linked or
//! shared, so nothing a test does to `$(git rev-parse --git-dir)` (hooks, config, refs, objects) reaches the user's
//! repository; hooks are off while cloning and checking out, and the clone's `origin` is removed so a `git push`
//! has nowhere to go.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize};

use super::sandbox::{self, Sandbox, Scratch};
use crate::{
    CiFailure, CiState, CiStatus, FailureClass, Git, GitError,
    atomic::write_atomic,
    process::{CommandSpec, ProcessError, run},
    test_command,
};

/// The workflow name local CI failures carry, so their signatures read `local/<command>/<step>/<class>`.
pub(crate) const WORKFLOW: &str = "local";

/// The cache file's name inside the cache directory.
const CACHE_FILE: &str = "runs.json";

/// One local CI run of one commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CiRun {
    /// The commit tested.
    pub(crate) head: String,
    /// The test command's name, such as `make:test`; `None` when the repository has none.
    pub(crate) command: Option<String>,
    /// What happened.
    pub(crate) outcome: Outcome,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub(crate) enum Outcome {
    /// Nothing to run.
    NoTestCommand,
    /// Exit code 0.
    Passed,
    /// Any other exit.
    Failed {
        /// The first line that looks like the failure, or `exit N`.
        step: String,
        /// Test or build (compile errors).
        class: FailureClass,
    },
    /// The test command could not be started (its tool is not installed, for example). Never cached: the cause
    /// is in the machine, not the commit.
    Unavailable {
        /// Why.
        reason: String,
    },
    /// Killed by the timeout.
    TimedOut {
        /// The timeout, in milliseconds.
        after_ms: u64,
    },
}

impl CiRun {
    /// The run as CI status: the job is the command's name.
    pub(crate) fn status(&self) -> CiStatus {
        let job = self.command.clone().unwrap_or_default();
        let failure = |step: String, class| CiFailure {
            workflow: WORKFLOW.to_owned(),
            job: job.clone(),
            step: Some(step),
            class,
            run: None,
        };
        match &self.outcome {
            Outcome::NoTestCommand | Outcome::Unavailable { .. } => {
                CiStatus { state: CiState::Unknown, failures: Vec::new() }
            }
            Outcome::Passed => CiStatus::green(),
            Outcome::Failed { step, class } => CiStatus::failing(vec![failure(step.clone(), *class)]),
            Outcome::TimedOut { after_ms } => {
                let after = Duration::from_millis(*after_ms);
                CiStatus::failing(vec![failure(format!("timed out after {after:?}"), FailureClass::Infrastructure)])
            }
        }
    }
}

/// Why local CI could not run at all (as opposed to running and failing).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CiError {
    #[error("cannot create a scratch directory for the test run")]
    Scratch(#[source] std::io::Error),
    #[error("cannot clone HEAD into a scratch directory")]
    Clone(#[source] GitError),
}

/// How test runs are made: limits and confinement, from the forge's settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunLimits {
    pub(crate) timeout: Duration,
    pub(crate) output_cap: usize,
    pub(crate) git_timeout: Duration,
    pub(crate) sandbox: Sandbox,
    pub(crate) network: bool,
}

/// Runs the test command of `repo` at `head` in a throwaway clone, removed afterwards whatever happens (a run
/// cancelled mid-way removes it when dropped).
pub(crate) async fn run_tests(repo: &Path, head: &str, limits: RunLimits) -> Result<CiRun, CiError> {
    let scratch = Scratch::new().map_err(CiError::Scratch)?;
    let result = run_in_clone(repo, &scratch, head, limits).await;
    scratch.remove().await;
    result
}

/// `git clone --no-local` of `repo` into the scratch directory, checked out at `head` without hooks, no remote.
async fn clone_head(repo: &Path, clone: &Path, head: &str, git_timeout: Duration) -> Result<(), GitError> {
    let (source, target) = (repo.to_string_lossy(), clone.to_string_lossy());
    let parent = clone.parent().unwrap_or(clone);
    let no_hooks = ["-c", "core.hooksPath=/dev/null"];
    let clone_args = ["clone", "--no-local", "--no-checkout", "--quiet", "--", &source, &target];
    Git::new(parent).timeout(git_timeout).run(&[&no_hooks[..], &clone_args[..]].concat()).await?;
    let git = Git::new(clone).timeout(git_timeout);
    git.run(&[&no_hooks[..], &["checkout", "--quiet", "--detach", head][..]].concat()).await?;
    git.run(&["remote", "remove", "origin"]).await?;
    Ok(())
}

async fn run_in_clone(repo: &Path, scratch: &Scratch, head: &str, limits: RunLimits) -> Result<CiRun, CiError> {
    let clone = scratch.clone_dir();
    clone_head(repo, &clone, head, limits.git_timeout).await.map_err(CiError::Clone)?;
    let Some(command) = test_command(&clone).await else {
        return Ok(CiRun { head: head.to_owned(), command: None, outcome: Outcome::NoTestCommand });
    };
    let Some((program, args)) = command.argv.split_first() else {
        return Ok(CiRun { head: head.to_owned(), command: None, outcome: Outcome::NoTestCommand });
    };
    let confined = sandbox::confined(limits.sandbox).await;
    let (program, args) = if confined {
        let Some(found) = sandbox::find_program(program, &command.cwd) else {
            let reason = format!("'{program}' is not installed (not found on PATH)");
            return Ok(CiRun {
                head: head.to_owned(),
                command: Some(command.name),
                outcome: Outcome::Unavailable { reason },
            });
        };
        sandbox::wrap(&found.to_string_lossy(), args, scratch.path(), &command.cwd, limits.network)
    } else {
        (program.clone(), args.iter().map(Into::into).collect())
    };
    let mut spec = CommandSpec::new(program, args, &command.cwd)
        .timeout(limits.timeout)
        .output_cap(limits.output_cap)
        .env_clear()
        .kill_tree();
    for (key, value) in sandbox::test_env(scratch) {
        spec = spec.env(key, value);
    }
    tracing::info!(command = %command.name, dir = %clone.display(), confined, "running local ci");
    let out = match run(&spec).await {
        Ok(out) => out,
        Err(e) => {
            let outcome = Outcome::Unavailable { reason: error_chain(&e) };
            return Ok(CiRun { head: head.to_owned(), command: Some(command.name), outcome });
        }
    };
    let outcome = if out.timed_out {
        Outcome::TimedOut { after_ms: u64::try_from(limits.timeout.as_millis()).unwrap_or(u64::MAX) }
    } else if out.success() {
        Outcome::Passed
    } else {
        let (stdout, stderr) = (out.stdout_text(), out.stderr_text());
        let step = first_failing_line(&stdout, &stderr).unwrap_or_else(|| match out.code {
            Some(code) => format!("exit {code}"),
            None => "killed by a signal".to_owned(),
        });
        Outcome::Failed { step, class: classify(&stdout, &stderr) }
    };
    Ok(CiRun { head: head.to_owned(), command: Some(command.name), outcome })
}

fn error_chain(error: &ProcessError) -> String {
    match std::error::Error::source(error) {
        Some(source) => format!("{error}: {source}"),
        None => error.to_string(),
    }
}

/// Signs of a compile (rather than test) failure in the common toolchains' output.
const BUILD_MARKERS: [&str; 12] = [
    "error[E",
    "error: could not compile",
    "SyntaxError",
    "IndentationError",
    "cannot find symbol",
    "COMPILATION ERROR",
    "Compilation failed",
    "compilation failed",
    "[build failed]",
    "undefined reference to",
    ": fatal error:",
    "error TS",
];

/// Build when the output shows a compile error, else Test.
pub(crate) fn classify(stdout: &str, stderr: &str) -> FailureClass {
    let compile_error = BUILD_MARKERS.iter().any(|marker| stdout.contains(marker) || stderr.contains(marker));
    if compile_error { FailureClass::Build } else { FailureClass::Test }
}

/// Line starts that report a failure in the common test runners and build tools.
const FAILURE_PREFIXES: [&str; 10] =
    ["FAIL", "--- FAIL", "ERROR", "error", "Error", "not ok", "AssertionError", "npm ERR!", "make: ***", "E   "];

/// The first line of the output that reports a failure, shortened to 200 characters. Stdout comes first: test
/// runners that report there (cargo, go) print the failing test before the tool's own summary on stderr.
pub(crate) fn first_failing_line(stdout: &str, stderr: &str) -> Option<String> {
    const MAX: usize = 200;
    let line = stdout.lines().chain(stderr.lines()).map(str::trim).find(|line| {
        FAILURE_PREFIXES.iter().any(|prefix| line.starts_with(prefix)) || line.contains(" panicked at ")
    })?;
    Some(match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line.to_owned(),
    })
}

/// The latest run per repository, by directory name, in memory and optionally on disk.
pub(crate) struct CiCache {
    file: Option<PathBuf>,
    runs: tokio::sync::Mutex<HashMap<String, CiRun>>,
}

/// The cache file's contents.
#[derive(Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    runs: HashMap<String, CiRun>,
}

impl CiCache {
    pub(crate) fn in_memory() -> CiCache {
        CiCache { file: None, runs: tokio::sync::Mutex::new(HashMap::new()) }
    }

    /// A cache backed by `dir/runs.json`, starting with what the file holds.
    pub(crate) fn load(dir: &Path) -> CiCache {
        let file = dir.join(CACHE_FILE);
        let runs = match hive_support::read_bounded(&file, 64 << 20) {
            Ok(bytes) => match serde_json::from_slice::<CacheFile>(&bytes) {
                Ok(cache) if cache.version == 1 => cache.runs,
                Ok(_) | Err(_) => {
                    let shown = file.display();
                    tracing::warn!(file = %shown, "ignoring an unreadable local ci cache; tests will run again");
                    HashMap::new()
                }
            },
            Err(_) => HashMap::new(),
        };
        CiCache { file: Some(file), runs: tokio::sync::Mutex::new(runs) }
    }

    /// The cached run of `repo` if it tested `head`.
    pub(crate) async fn get(&self, repo: &str, head: &str) -> Option<CiRun> {
        self.runs.lock().await.get(repo).filter(|run| run.head == head).cloned()
    }

    /// Records a run, and writes the file while holding the lock so concurrent writers cannot reorder.
    pub(crate) async fn put(&self, repo: &str, run: CiRun) {
        let mut runs = self.runs.lock().await;
        runs.insert(repo.to_owned(), run);
        let Some(file) = self.file.clone() else { return };
        let bytes = match serde_json::to_vec_pretty(&CacheFile { version: 1, runs: runs.clone() }) {
            Ok(bytes) => bytes,
            Err(e) => return tracing::warn!(error = %e, "cannot serialise the local ci cache"),
        };
        let written = tokio::task::spawn_blocking(move || write_atomic(&file, &bytes).map_err(|e| (file, e))).await;
        if let Ok(Err((file, e))) = written {
            tracing::warn!(file = %file.display(), error = %e, "cannot write the local ci cache");
        }
    }
}
