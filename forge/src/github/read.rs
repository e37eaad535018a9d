//! Discovery and snapshots over REST: which endpoints the forge reads, and how their answers become a
//! [`RepoSnapshot`].
//!
//! Cold, a snapshot costs one request for the repository, one for the default branch's runs, one per failed
//! workflow for its jobs, one per failed job for its check run's annotations (unless its conclusion or steps already
//! say the machine failed), one per page of open issues (pull requests come with them), one for Dependabot alerts
//! and one to three for SECURITY.md. Warm, every one of them is a conditional request answered `304` or a
//! remembered 403/404, and annotations are not asked for again while the run attempt is the same, so an unchanged
//! repository costs nothing.

use std::{
    collections::{HashMap, HashSet, hash_map::Entry},
    time::SystemTime,
};

use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::time::Instant;

use super::{
    GitHubError, GitHubForge, Target, UNKNOWN_ALERTS_TTL,
    models::{self, AlertJson, AnnotationJson, IssueJson, JobJson, JobsJson, RepoJson, RunJson, RunsJson},
};
use crate::{
    Alert, CiFailure, CiState, CiStatus, FailedJob, FailureClass, GitHubFacts, IssueSummary, JobStep, RepoId,
    RepoSnapshot,
};

/// The annotation messages read for a repository's failing run attempts: by `(run id, run attempt)`, then by check
/// run id. A completed attempt never changes, so what was read once is not asked for again.
pub(crate) type AnnotationCache = HashMap<(u64, u32), HashMap<u64, Vec<String>>>;

/// Pages of a repository listing followed at most (100 repositories each): 200,000 repositories, twice the most
/// one installation's budget is measured to hold (BENCHMARKS.md).
const MAX_REPO_PAGES: usize = 2_000;
/// Pages of open issues followed at most.
const MAX_ISSUE_PAGES: usize = 10;
/// Pages of a check run's annotations followed at most (100 each; a failed job rarely has more than a few).
const MAX_ANNOTATION_PAGES: usize = 5;
/// Pages of Dependabot alerts followed at most.
const MAX_ALERT_PAGES: usize = 5;
/// Where GitHub looks for a security policy, in its order.
const POLICY_FILES: [&str; 3] = ["SECURITY.md", ".github/SECURITY.md", "docs/SECURITY.md"];

/// Lists one target's repositories, unfiltered.
pub(crate) async fn discover_target(forge: &GitHubForge, target: &Target) -> Result<Vec<RepoJson>, GitHubError> {
    let path = match target {
        Target::Org(org) => format!("/orgs/{}/repos?type=all&per_page=100", encode(org)),
        Target::User(user) => format!("/users/{}/repos?type=owner&per_page=100", encode(user)),
        Target::Repo(repo) => {
            // A listed repository that is gone or archived simply stops being discovered.
            return match get::<RepoJson>(forge, &repo_path(repo, "")).await {
                Ok(found) => Ok(vec![found]),
                Err(err) if err.is_not_found() => Ok(Vec::new()),
                Err(err) => Err(err),
            };
        }
    };
    let items = forge.client.get_all(&path, MAX_REPO_PAGES).await?;
    items.into_iter().map(|item| from_value(&path, item)).collect()
}

/// Reads one repository.
pub(crate) async fn snapshot(forge: &GitHubForge, repo: &RepoId, now: SystemTime) -> Result<RepoSnapshot, GitHubError> {
    let meta: RepoJson = get(forge, &repo_path(repo, "")).await?;
    let branch = meta.default_branch.clone().unwrap_or_else(|| "main".to_owned());
    let (ci, issues, alerts, policy) =
        tokio::join!(ci(forge, repo, &branch), issues(forge, repo), alerts(forge, repo), security_policy(forge, repo),);
    let (open_issues, facts) = issues?;
    let ci = ci?;
    // A completed run shows a workflow; none says nothing (a new repository, runs only on other branches), and
    // telling "no workflow" would take one more request, to the workflows.
    let has_ci_workflow = (ci.state != CiState::Unknown).then_some(true);
    Ok(RepoSnapshot {
        repo: repo.clone(),
        taken_at: now,
        default_branch: branch,
        archived: meta.archived,
        pushed_at: meta.pushed_at.as_deref().and_then(models::parse_time),
        ci,
        open_issues,
        security_alerts: alerts?,
        has_security_policy: policy?,
        // The repository's `license` is null when GitHub detected none.
        has_license: Some(meta.license.is_some()),
        has_ci_workflow,
        local: None,
        github: Some(GitHubFacts {
            stars: meta.stargazers_count,
            forks: meta.forks_count,
            watchers: meta.subscribers_count,
            license: meta.license.and_then(|l| l.spdx_id.filter(|id| id != "NOASSERTION").or(l.key)),
            clone_url: meta.clone_url,
            ..facts
        }),
        sync_drift: None,
    })
}

/// The latest completed run of each workflow on the default branch; for failed ones, the failed jobs.
async fn ci(forge: &GitHubForge, repo: &RepoId, branch: &str) -> Result<CiStatus, GitHubError> {
    let path = repo_path(
        repo,
        &format!("/actions/runs?branch={}&status=completed&exclude_pull_requests=true&per_page=50", encode(branch)),
    );
    let runs: RunsJson = get(forge, &path).await?;
    let mut seen = HashSet::new();
    let mut latest = Vec::new();
    // Runs come newest first; a cancelled or skipped run says nothing about the code, so the one before counts.
    for run in runs.workflow_runs {
        if matches!(run.conclusion.as_deref(), Some("cancelled" | "skipped" | "stale")) {
            continue;
        }
        if seen.insert(run.workflow_key()) {
            latest.push(run);
        }
    }
    if latest.is_empty() {
        return Ok(CiStatus { state: CiState::Unknown, failures: Vec::new() });
    }
    // Only the attempts failing now are kept, so the cache holds no more than the repository's current failures.
    let known = forge.annotations.get(repo).map(|entry| entry.value().clone()).unwrap_or_default();
    let mut kept = AnnotationCache::new();
    let mut failures = Vec::new();
    let mut failed = false;
    for run in latest.iter().filter(|run| models::is_failure(run.conclusion.as_deref())) {
        failed = true;
        failures.extend(run_failures(forge, repo, run, &known, &mut kept).await?);
    }
    forge.annotations.insert(repo.clone(), kept);
    Ok(if failed { CiStatus::failing(failures) } else { CiStatus::green() })
}

/// The failed jobs of one failed run, each classified (see [`classify_job`]). Its attempt is the run's, or where a
/// run was known without one (from GraphQL, which has no attempts), the one its jobs name. `known` holds the
/// annotations read before, by attempt; what this attempt's jobs needed goes into `kept`.
pub(crate) async fn run_failures(
    forge: &GitHubForge,
    repo: &RepoId,
    run: &RunJson,
    known: &AnnotationCache,
    kept: &mut AnnotationCache,
) -> Result<Vec<CiFailure>, GitHubError> {
    let workflow = run.name.clone().unwrap_or_else(|| run.workflow_key());
    let jobs: JobsJson =
        get(forge, &repo_path(repo, &format!("/actions/runs/{}/jobs?filter=latest&per_page=100", run.id))).await?;
    let attempt = match run.run_attempt.or_else(|| jobs.jobs.iter().find_map(|job| job.run_attempt)) {
        Some(attempt) => attempt,
        // A run known without its attempt (from GraphQL) and without jobs to name it (it failed before any ran):
        // the run itself says. Taking it for the first would have a re-run that failed again read as the same
        // failure, never as a failure that re-running does not cure.
        None => forge.workflow_run(repo, run.id).await?.attempt,
    };
    let run_ref = Some(run_ref(run, attempt));
    let mut annotations = known.get(&(run.id, attempt)).cloned().unwrap_or_default();
    let mut failures = Vec::new();
    for job in jobs.jobs.iter().filter(|job| models::is_failure(job.conclusion.as_deref())) {
        let (step, class) = classify_job(forge, repo, job, &mut annotations).await?;
        failures.push(CiFailure {
            workflow: workflow.clone(),
            job: job.name.clone(),
            step,
            class,
            run: run_ref.clone(),
        });
    }
    kept.insert((run.id, attempt), annotations);
    if failures.is_empty() {
        failures.push(jobless_failure(workflow, run, run_ref));
    }
    Ok(failures)
}

/// A failed job's first failed step and class. Its check run's annotations are read only when the job's
/// conclusion and steps do not already say "infrastructure" (which annotations cannot change), and only once per
/// run attempt: `annotations` holds those already read for this attempt, by check run id, and gains the new ones.
async fn classify_job(
    forge: &GitHubForge,
    repo: &RepoId,
    job: &JobJson,
    annotations: &mut HashMap<u64, Vec<String>>,
) -> Result<(Option<String>, FailureClass), GitHubError> {
    let steps: Vec<JobStep<'_>> =
        job.steps.iter().map(|s| JobStep { name: &s.name, conclusion: s.conclusion.as_deref() }).collect();
    let without = FailedJob { name: &job.name, conclusion: job.conclusion.as_deref(), steps: &steps, annotations: &[] };
    let (step, class) = classify_by_steps(&without);
    let Some(check_run) = job.check_run_id().filter(|_| class != FailureClass::Infrastructure) else {
        return Ok((step, class));
    };
    let read = match annotations.entry(check_run) {
        Entry::Occupied(known) => known.into_mut(),
        Entry::Vacant(new) => new.insert(check_run_annotations(forge, repo, check_run).await?),
    };
    let messages: Vec<&str> = read.iter().map(String::as_str).collect();
    Ok((step, crate::classify_failure(&FailedJob { annotations: &messages, ..without })))
}

/// A failed job's first failed step and its class from its conclusion, steps and name alone (`job` without
/// annotations). An infrastructure class is final: annotations cannot change it, so they are not read for it.
pub(crate) fn classify_by_steps(job: &FailedJob<'_>) -> (Option<String>, FailureClass) {
    (job.failed_step().map(str::to_owned), crate::classify_failure(job))
}

/// The reference to `attempt` of `run` that its failures carry.
pub(crate) fn run_ref(run: &RunJson, attempt: u32) -> crate::RunRef {
    crate::RunRef {
        id: run.id,
        attempt,
        head_sha: run.head_sha.clone().unwrap_or_default(),
        url: run.html_url.clone().unwrap_or_default(),
    }
}

/// The failure of a run that failed before any job ran (a broken workflow file, no runner).
pub(crate) fn jobless_failure(workflow: String, run: &RunJson, run_ref: Option<crate::RunRef>) -> CiFailure {
    let class = crate::classify_failure(&FailedJob::new("run", run.conclusion.as_deref()));
    CiFailure { workflow, job: "run".to_owned(), step: None, class, run: run_ref }
}

/// The messages of a check run's annotations. A token that may not read checks (403), or a check run that is gone
/// (404), leaves the job to be classified by its steps and names.
async fn check_run_annotations(forge: &GitHubForge, repo: &RepoId, id: u64) -> Result<Vec<String>, GitHubError> {
    let path = repo_path(repo, &format!("/check-runs/{id}/annotations?per_page=100"));
    match forge.client.get_all(&path, MAX_ANNOTATION_PAGES).await {
        Ok(items) => items
            .into_iter()
            .map(|item| from_value::<AnnotationJson>(&path, item).map(|a| a.message.unwrap_or_default()))
            .collect(),
        Err(err @ (GitHubError::NotFound { .. } | GitHubError::Forbidden { .. })) => {
            tracing::warn!(%repo, check_run = id, %err, "check run annotations not readable; classifying without them");
            Ok(Vec::new())
        }
        Err(err) => Err(err),
    }
}

/// Open issues (pull requests excluded) and the pull-request facts that come with them.
pub(crate) async fn issues(
    forge: &GitHubForge,
    repo: &RepoId,
) -> Result<(Vec<IssueSummary>, GitHubFacts), GitHubError> {
    let path = repo_path(repo, "/issues?state=open&per_page=100");
    let items = forge.client.get_all(&path, MAX_ISSUE_PAGES).await?;
    let mut issues = Vec::new();
    let mut facts = GitHubFacts::default();
    for item in items {
        let item: IssueJson = from_value(&path, item)?;
        if item.pull_request.is_some() {
            facts.open_pull_requests += 1;
            let opened = item.created_at.as_deref().and_then(models::parse_time);
            facts.oldest_open_pull_request_at = match (facts.oldest_open_pull_request_at, opened) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        } else {
            let labels = item.labels.iter().map(|l| l.name().to_owned()).collect();
            issues.push(IssueSummary { number: item.number, title: item.title, labels });
        }
    }
    facts.open_issues = issues.len() as u64;
    Ok((issues, facts))
}

/// Open Dependabot alerts; `None` when the token may not see them (403) or they are disabled (404).
pub(crate) async fn alerts(forge: &GitHubForge, repo: &RepoId) -> Result<Option<Vec<crate::Alert>>, GitHubError> {
    if forge.alerts_unknown_until.get(repo).is_some_and(|until| *until > Instant::now()) {
        return Ok(None);
    }
    let path = repo_path(repo, "/dependabot/alerts?state=open&per_page=100");
    match forge.client.get_all(&path, MAX_ALERT_PAGES).await {
        Ok(items) => {
            let mut alerts = Vec::new();
            for item in items {
                let alert: AlertJson = from_value(&path, item)?;
                if alert.state.as_deref().is_none_or(|s| s == "open") {
                    alerts.push(Alert { summary: alert.summary(), severity: alert.severity() });
                }
            }
            Ok(Some(alerts))
        }
        Err(GitHubError::NotFound { .. } | GitHubError::Forbidden { .. }) => {
            // Not an error of the repository: the answer cannot be conditional, so it is remembered instead of being
            // paid for again every cycle.
            forge.alerts_unknown_until.insert(repo.clone(), Instant::now() + UNKNOWN_ALERTS_TTL);
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// Whether SECURITY.md is in the root, `.github/` or `docs/`. A file found is re-read conditionally (free while
/// unchanged); "none of the three" cannot be conditional (404s cost a point each), so it is remembered for a while.
async fn security_policy(forge: &GitHubForge, repo: &RepoId) -> Result<Option<bool>, GitHubError> {
    if forge.policy_absent_until.get(repo).is_some_and(|until| *until > Instant::now()) {
        return Ok(Some(false));
    }
    for file in POLICY_FILES {
        match forge.client.get(&repo_path(repo, &format!("/contents/{file}"))).await {
            Ok(_) => return Ok(Some(true)),
            Err(err) if err.is_not_found() => {}
            // A repository whose contents the token may not read: unknown, not absent.
            Err(GitHubError::Forbidden { .. }) => return Ok(None),
            Err(err) => return Err(err),
        }
    }
    forge.policy_absent_until.insert(repo.clone(), Instant::now() + UNKNOWN_ALERTS_TTL);
    Ok(Some(false))
}

/// `/repos/{owner}/{name}{rest}`.
pub(crate) fn repo_path(repo: &RepoId, rest: &str) -> String {
    format!("/repos/{}/{}{rest}", encode(repo.owner()), encode(repo.name()))
}

/// A conditional GET decoded into `T`.
async fn get<T: DeserializeOwned>(forge: &GitHubForge, path: &str) -> Result<T, GitHubError> {
    let page = forge.client.get(path).await?;
    from_value(path, page.body)
}

pub(crate) fn from_value<T: DeserializeOwned>(path: &str, value: Value) -> Result<T, GitHubError> {
    serde_json::from_value(value).map_err(|err| GitHubError::Malformed {
        request: format!("GET {}", path.split('?').next().unwrap_or(path)),
        message: format!("unexpected json ({err})"),
    })
}

/// Percent-encodes a path segment or query value (everything but unreserved characters).
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
