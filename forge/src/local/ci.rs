//! Local CI: a repository's test command run in a throwaway clone of HEAD (see `sandbox.rs` for what the tests may
//! touch), and the cache of results by HEAD (in memory, and in a JSON file when the forge has a cache directory).
//!
//! The clone is made with `git clone --no-local`: objects are copied through git's transport, never hard-linked or
//! shared, so nothing a test does to `$(git rev-parse --git-dir)` (hooks, config, refs, objects) reaches the user's
//! repository; hooks are off while cloning and checking out, and the clone's `origin` is removed so a `git push`
//! has nowhere to go.

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize};

use super::{
    sandbox::{self, Sandbox, Scratch},
    siblings::{self, Siblings},
};
use hive_ecosystem::{
    Git, GitError,
    process::{CommandOutput, CommandSpec, run},
    test_command,
};
use hive_support::write_atomic;

use crate::{CiFailure, CiState, CiStatus, FailureClass};

/// The workflow name local CI failures carry, so their signatures read `local/<command>/<step>/<class>`.
pub(crate) const WORKFLOW: &str = "local";

/// The name a test command given for a repository runs under (detected ones are `<system>:<what>`).
pub(crate) const GIVEN_COMMAND: &str = "config:test";

/// The cache file's name inside the cache directory.
const CACHE_FILE: &str = "runs.json";

/// The cache file's format. 2 added the siblings' HEADs: a version 1 run of a repository with path dependencies
/// may have been tested without them, so it is not trusted.
const CACHE_VERSION: u32 = 2;

/// One local CI run of one commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CiRun {
    /// The commit tested.
    pub(crate) head: String,
    /// The test command's name, such as `make:test`; `None` when the repository has none.
    pub(crate) command: Option<String>,
    /// The sibling repositories placed beside the clone and the HEAD of each: the result holds while they do.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) siblings: Siblings,
    /// The test command given for the repository (`LocalForge::with_test_command`), `None` for the detected one:
    /// the result holds for that command only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) argv: Option<Vec<String>>,
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
    /// The test command could not be started (its tool is not installed, for example).
    Unavailable {
        /// Why.
        reason: String,
    },
    /// Killed by the timeout.
    TimedOut {
        /// The timeout, in milliseconds.
        after_ms: u64,
    },
    /// The test command was killed by a signal it did not send itself (the kernel's out-of-memory killer, an
    /// operator's `kill`): no exit code to judge the commit by.
    Killed {
        /// The signal, when known (a confined run reports it as bubblewrap's exit code 128 + signal).
        signal: Option<i32>,
    },
}

impl Outcome {
    /// Whether this outcome says something about the commit, and so may be cached by HEAD. Timeouts, kills and
    /// commands that could not start say something about the machine at that moment (load, memory, a missing
    /// tool): the next read runs them again.
    pub(crate) fn is_verdict(&self) -> bool {
        match self {
            Outcome::NoTestCommand | Outcome::Passed | Outcome::Failed { .. } => true,
            Outcome::Unavailable { .. } | Outcome::TimedOut { .. } | Outcome::Killed { .. } => false,
        }
    }
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
            Outcome::Killed { signal } => {
                let step = match signal {
                    Some(signal) => format!("killed by signal {signal}"),
                    None => "killed by a signal".to_owned(),
                };
                CiStatus::failing(vec![failure(step, FailureClass::Infrastructure)])
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
    #[error("cannot place the repositories it depends on by path beside its clone")]
    Siblings(#[source] GitError),
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

/// Runs the test command of the workspace repository `name` (in `root`) at `head` in a throwaway clone, with its
/// path dependencies placed beside it; all removed afterwards whatever happens (a run cancelled mid-way removes
/// them when dropped).
pub(crate) async fn run_tests(
    root: &Path,
    name: &str,
    head: &str,
    given: Option<Vec<String>>,
    limits: RunLimits,
) -> Result<CiRun, CiError> {
    // Off the async runtime: the first one also sweeps what dead hives left, which can be large.
    let scratch = tokio::task::spawn_blocking(Scratch::new)
        .await
        .unwrap_or_else(|join| Err(std::io::Error::other(join.to_string())))
        .map_err(CiError::Scratch)?;
    let result = run_in_clone(root, name, &scratch, head, given, limits).await;
    scratch.remove().await;
    result
}

/// `git clone --no-local` of `repo` into the scratch directory, checked out at `head` without hooks, no remote.
pub(crate) async fn clone_head(repo: &Path, clone: &Path, head: &str, git_timeout: Duration) -> Result<(), GitError> {
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

async fn run_in_clone(
    root: &Path,
    name: &str,
    scratch: &Scratch,
    head: &str,
    given: Option<Vec<String>>,
    limits: RunLimits,
) -> Result<CiRun, CiError> {
    let clone = scratch.clone_dir(name);
    clone_head(&root.join(name), &clone, head, limits.git_timeout).await.map_err(CiError::Clone)?;
    let siblings =
        siblings::place(root, &scratch.workspace(), name, limits.git_timeout).await.map_err(CiError::Siblings)?;
    let argv = given.clone();
    let done = |command: Option<String>, outcome| CiRun { head: head.to_owned(), command, siblings, argv, outcome };
    // What runs: the command given for the repository, in its root, or the one its build files name.
    let command = match given {
        Some(argv) => Some((GIVEN_COMMAND.to_owned(), argv, clone.clone())),
        None => test_command(&clone).await.map(|c| (c.name, c.argv, c.cwd)),
    };
    let Some((command, run_argv, cwd)) = command else {
        return Ok(done(None, Outcome::NoTestCommand));
    };
    let Some((program, args)) = run_argv.split_first() else {
        return Ok(done(None, Outcome::NoTestCommand));
    };
    let confined = sandbox::confined(limits.sandbox).await;
    let (program, args) = if confined {
        let Some(found) = sandbox::find_program(program, &cwd) else {
            let reason = format!("'{program}' is not installed (not found on PATH)");
            return Ok(done(Some(command), Outcome::Unavailable { reason }));
        };
        sandbox::wrap(&found.to_string_lossy(), args, scratch.path(), &cwd, limits.network)
    } else {
        (program.clone(), args.iter().map(Into::into).collect())
    };
    let mut spec = CommandSpec::new(program, args, &cwd)
        .timeout(limits.timeout)
        .output_cap(limits.output_cap)
        .env_clear()
        .kill_tree();
    for (key, value) in sandbox::test_env(scratch) {
        spec = spec.env(key, value);
    }
    tracing::info!(command = %command, dir = %clone.display(), confined, "running local ci");
    let out = match run(&spec).await {
        Ok(out) => out,
        Err(e) => return Ok(done(Some(command), Outcome::Unavailable { reason: hive_support::error_chain(&e) })),
    };
    Ok(done(Some(command), outcome(&out, confined, limits.timeout)))
}

/// Whether a signal is one that ends a process from outside it (an operator, a supervisor, the kernel's OOM killer),
/// as opposed to a crash of its own.
fn killed_from_outside(signal: i32) -> bool {
    use nix::sys::signal::Signal;
    [Signal::SIGKILL, Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGQUIT]
        .iter()
        .any(|s| *s as i32 == signal)
}

/// How a finished test command ended. Under bubblewrap, its own failures (a program it cannot execute) are exit 1
/// with a `bwrap: ` message, and a child killed by signal N is exit 128 + N, as bubblewrap reports them.
///
/// A signal is the machine's doing only when it is one that stops processes from outside (SIGKILL, SIGTERM, SIGINT,
/// SIGHUP): that run says nothing about the commit. A crash (SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL...) is the
/// code's own failure and a verdict like any other.
fn outcome(out: &CommandOutput, confined: bool, timeout: Duration) -> Outcome {
    let stderr = out.stderr_text();
    if out.timed_out {
        return Outcome::TimedOut { after_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX) };
    }
    let signal = match out.code {
        Some(code) if confined && (129..=128 + 64).contains(&code) => Some(code - 128),
        None => out.signal,
        _ => None,
    };
    match (out.code, signal) {
        (Some(0), _) => return Outcome::Passed,
        (_, Some(signal)) if !killed_from_outside(signal) => {
            return Outcome::Failed { step: format!("crashed with signal {signal}"), class: FailureClass::Test };
        }
        (_, Some(signal)) => return Outcome::Killed { signal: Some(signal) },
        (None, None) => return Outcome::Killed { signal: None },
        (Some(1), _) if confined && stderr.starts_with("bwrap: ") => {
            let reason = stderr.lines().next().unwrap_or_default().to_owned();
            return Outcome::Unavailable { reason };
        }
        (Some(_), None) => {}
    }
    let stdout = out.stdout_text();
    let step = first_failing_line(&stdout, &stderr).unwrap_or_else(|| format!("exit {}", out.code.unwrap_or(-1)));
    Outcome::Failed { step, class: crate::classify_output(&stdout, &stderr) }
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
                Ok(cache) if cache.version == CACHE_VERSION => cache.runs,
                Ok(_) => {
                    tracing::info!(file = %file.display(), "the local ci cache is from another hive version; tests will run again");
                    HashMap::new()
                }
                Err(_) => {
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
        let bytes = match serde_json::to_vec_pretty(&CacheFile { version: CACHE_VERSION, runs: runs.clone() }) {
            Ok(bytes) => bytes,
            Err(e) => return tracing::warn!(error = %e, "cannot serialise the local ci cache"),
        };
        let written = tokio::task::spawn_blocking(move || write_atomic(&file, &bytes).map_err(|e| (file, e))).await;
        if let Ok(Err((file, e))) = written {
            tracing::warn!(file = %file.display(), error = %e, "cannot write the local ci cache");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(code: Option<i32>, signal: Option<i32>) -> CommandOutput {
        CommandOutput { code, signal, stdout: Vec::new(), stderr: Vec::new(), truncated: false, timed_out: false }
    }

    #[test]
    fn a_crash_is_a_verdict_and_a_kill_from_outside_is_not() {
        let timeout = Duration::from_secs(1);
        let crashed = |step: &str| Outcome::Failed { step: step.to_owned(), class: FailureClass::Test };
        for (what, out, confined, expected) in [
            ("segfault", ended(None, Some(11)), false, crashed("crashed with signal 11")),
            ("abort", ended(None, Some(6)), false, crashed("crashed with signal 6")),
            ("segfault under bubblewrap", ended(Some(139), None), true, crashed("crashed with signal 11")),
            ("killed", ended(None, Some(9)), false, Outcome::Killed { signal: Some(9) }),
            ("terminated under bubblewrap", ended(Some(143), None), true, Outcome::Killed { signal: Some(15) }),
            ("interrupted", ended(None, Some(2)), false, Outcome::Killed { signal: Some(2) }),
            ("passed", ended(Some(0), None), false, Outcome::Passed),
        ] {
            assert_eq!(outcome(&out, confined, timeout), expected, "{what}");
        }
        assert!(crashed("x").is_verdict(), "a crash is the commit's failure, cached like one");
        assert!(!Outcome::Killed { signal: Some(9) }.is_verdict());
    }
}
