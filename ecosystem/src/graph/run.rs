//! Running a build or test over the dependency waves: every repository of a wave at once (up to a concurrency
//! bound), waves one after another, and a failure skips everything that depends on it, directly or not.
//!
//! What "build" means for one repository is the caller's runner closure, so the order and skip logic can be tested
//! with any process; [`run_task`](super::run_task) is the runner that uses the repository's discovered commands.

use std::{collections::BTreeMap, future::Future, sync::Arc, time::Instant};

use serde::Serialize;
use tokio::{sync::Semaphore, task::JoinSet};

use super::{DependencyGraph, GraphRepo};
use crate::{EcosystemError, process::CommandOutput};

/// What the runner reports for one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepOutput {
    /// Whether it passed.
    pub success: bool,
    /// Exit code; `None` when killed or never started.
    pub exit: Option<i32>,
    /// Output (stdout then stderr); only the tail is kept in the report.
    pub output: String,
    /// Something worth saying about a pass (for example that there was nothing to run).
    pub note: Option<String>,
}

impl StepOutput {
    /// A pass with nothing to show.
    pub fn passed() -> StepOutput {
        StepOutput { success: true, exit: Some(0), output: String::new(), note: None }
    }

    /// A failure that never got to run a command (for example, no command for this repository).
    pub fn failed(message: impl Into<String>) -> StepOutput {
        StepOutput { success: false, exit: None, output: message.into(), note: None }
    }
}

impl From<&CommandOutput> for StepOutput {
    fn from(out: &CommandOutput) -> StepOutput {
        let mut output = out.stdout_text();
        output.push_str(&out.stderr_text());
        if out.timed_out {
            output.push_str("\n(killed: timed out)");
        }
        StepOutput { success: out.success(), exit: out.code, output, note: None }
    }
}

/// How one repository fared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RepoOutcome {
    /// The command succeeded.
    Passed,
    /// The command failed.
    Failed {
        /// Exit code; `None` when killed or never started.
        exit: Option<i32>,
        /// The last lines of its output.
        tail: String,
    },
    /// Not run, because a repository it depends on (directly or not) failed.
    Skipped {
        /// The name of the failed repository.
        because: String,
    },
}

/// One repository's line in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoRun {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its wave, from 0.
    pub wave: usize,
    /// How it fared.
    #[serde(flatten)]
    pub outcome: RepoOutcome,
    /// How long the runner took, in milliseconds (0 when skipped).
    pub duration_ms: u64,
    /// The runner's note on a pass, such as "no build command found".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The plan and what came of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WavesReport {
    /// The waves, as ids.
    pub waves: Vec<Vec<String>>,
    /// One entry per repository, in plan order.
    pub results: Vec<RepoRun>,
}

impl WavesReport {
    /// Whether every repository passed.
    pub fn all_passed(&self) -> bool {
        self.results.iter().all(|r| r.outcome == RepoOutcome::Passed)
    }
}

/// Lines and bytes of output kept for a failure: enough to see the error, little enough for a terminal.
const TAIL_LINES: usize = 20;
const TAIL_BYTES: usize = 4096;

/// Runs `runner` on every repository of `graph`, wave by wave, at most `concurrency` at a time (at least one).
/// A cycle is an error before anything runs.
pub async fn run_waves<F, Fut>(
    graph: &DependencyGraph,
    concurrency: usize,
    runner: F,
) -> Result<WavesReport, EcosystemError>
where
    F: Fn(GraphRepo) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = StepOutput> + Send + 'static,
{
    let waves = graph.waves()?;
    let runner = Arc::new(runner);
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    // The root failure behind each repository that did not pass, by id.
    let mut blocked: BTreeMap<String, String> = BTreeMap::new();
    let mut results: BTreeMap<String, RepoRun> = BTreeMap::new();
    for (index, wave) in waves.iter().enumerate() {
        let mut tasks = JoinSet::new();
        for id in wave {
            let Some(repo) = graph.repo(id).cloned() else { continue };
            let cause = graph.dependencies(id).into_iter().filter_map(|dep| blocked.get(dep)).min().cloned();
            if let Some(because) = cause {
                blocked.insert(id.clone(), because.clone());
                let outcome = RepoOutcome::Skipped { because };
                let run = RepoRun { id: repo.id, name: repo.name, wave: index, outcome, duration_ms: 0, note: None };
                results.insert(id.clone(), run);
                continue;
            }
            let (runner, permits) = (Arc::clone(&runner), Arc::clone(&permits));
            tasks.spawn(async move {
                // The semaphore is never closed, so acquiring only fails if that changes; run unbounded then.
                let _permit = permits.acquire_owned().await.ok();
                let started = Instant::now();
                let step = runner(repo.clone()).await;
                (repo, step, started.elapsed().as_millis() as u64)
            });
        }
        let mut ran = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(done) => ran.push(done),
                // A panicking runner must not take the report down with it; its repository counts as failed.
                Err(join) => tracing::error!(error = %join, "a wave runner task panicked"),
            }
        }
        let lost: Vec<GraphRepo> = wave
            .iter()
            .filter(|id| !results.contains_key(*id) && !ran.iter().any(|(r, ..)| &r.id == *id))
            .filter_map(|id| graph.repo(id).cloned())
            .collect();
        ran.extend(lost.into_iter().map(|repo| (repo, StepOutput::failed("the runner panicked"), 0)));
        for (repo, step, duration_ms) in ran {
            let outcome = if step.success {
                RepoOutcome::Passed
            } else {
                blocked.insert(repo.id.clone(), repo.name.clone());
                RepoOutcome::Failed { exit: step.exit, tail: tail(&step.output) }
            };
            let run = RepoRun { id: repo.id, name: repo.name, wave: index, outcome, duration_ms, note: step.note };
            results.insert(run.id.clone(), run);
        }
    }
    let ordered = waves.iter().flatten().filter_map(|id| results.remove(id)).collect();
    Ok(WavesReport { waves, results: ordered })
}

/// The last [`TAIL_LINES`] lines of `output`, at most [`TAIL_BYTES`] bytes.
fn tail(output: &str) -> String {
    let trimmed = output.trim_end();
    let start = trimmed.rmatch_indices('\n').nth(TAIL_LINES - 1).map_or(0, |(i, _)| i + 1);
    let mut start = start.max(trimmed.len().saturating_sub(TAIL_BYTES));
    while !trimmed.is_char_boundary(start) {
        start += 1;
    }
    trimmed[start..].to_owned()
}
