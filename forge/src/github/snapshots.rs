//! Snapshots through batched GraphQL: one query reads what a maintainer looks at in up to [`FULL_BATCH`]
//! repositories, and warm cycles pay only for a probe.
//!
//! **Full read.** Per repository: default branch and head commit with its check suites (each with its workflow run
//! and workflow), `pushedAt`, archived flag, license, stars, forks and watchers, the newest [`ISSUE_PAGE`] open
//! issues with up to [`LABEL_PAGE`] labels each, the open pull request count and the oldest one's creation time,
//! open vulnerability alerts, and SECURITY.md in the three places GitHub looks. By GitHub's cost formula (every
//! connection one request per node it may be asked on, summed, divided by 100) that is 17 requests per repository,
//! 0.17 points.
//!
//! **Failed runs.** The failed jobs of a failed run, with their steps and check-run annotations, are read by a
//! second batched query, by the run's check suite id ([`failed_suites_query`], 23 requests a run). GraphQL has no
//! run attempts, but a suite whose check runs in all attempts number those of the latest was never re-run, so its
//! attempt is 1. A run that was re-run, or whose failed jobs, steps or annotations do not fit a page, is read over
//! REST (`read::run_failures`, with its annotation cache), which alone knows attempts. While a run's suite has the
//! same `updatedAt` as when its jobs were read, they are not asked for again. REST also reads the whole issue or
//! alert list of a repository with more than a page of them.
//!
//! **Warm cycles.** GraphQL is never a `304`, so each full read keeps the repository's *fingerprint*: the answer to
//! the probe fields (head commit and its rollup state, `pushedAt`, archived, license, stars, forks, the open issue
//! count with the newest issue update, the open pull request count with the oldest one's creation, the open alert
//! count). A repository read before is asked only the probe, 3 requests (0.03 points); the snapshot is reused
//! unless its fingerprint changed, and only then read in full. The watcher count is not in the probe (it would
//! cost one more request per repository), so it is as fresh as the last full read.
//!
//! A failed run re-run on the same head that fails again goes FAILURE, PENDING, FAILURE, and when no probe saw it
//! pending the fingerprint is what it was while the snapshot's run attempt and jobs are old. Three things close
//! that: a repository whose head failed is probed with its head's check suites' `updatedAt` too (one request more,
//! only for red heads), which moves with every attempt; every write through this forge about a repository (a
//! re-run, an issue, a comment, a label, a pull request, a merge) forgets its snapshot, so the next read is full;
//! and so does [`Forge::forget`](crate::Forge::forget), which the hive calls when a webhook delivery names the
//! repository. A read under way when a repository is forgotten keeps what it read to itself.
//!
//! **CI.** REST reads the latest completed run of each workflow on the default branch; GraphQL reads the suites of
//! the head commit. While the head's run of a workflow is in progress (or all of its runs there were cancelled), or
//! a push did not run a workflow at all, REST would show that workflow's previous run; this path keeps the
//! workflow's previous verdict instead, so a push does not make a red repository look unknown (or green) until its
//! checks finish. For a head commit with a completed run of every workflow the two agree.
//!
//! **Partial answers.** An error about one repository's alias (gone, a field forbidden for this token) sends that
//! repository to REST; the rest of the batch is used. A forbidden vulnerability alert list is "alerts unknown", as
//! REST's 403 is.

use std::{collections::BTreeMap, time::SystemTime};

use serde::Deserialize;
use serde_json::Value;

use super::{
    GitHubError, GitHubForge,
    batch::Part,
    models::{self, RunJson},
    read::{self, AnnotationCache},
};
use crate::{
    Alert, AlertSeverity, CiFailure, CiState, CiStatus, FailedJob, FailureClass, GitHubFacts, IssueSummary, JobStep,
    RepoId, RepoSnapshot,
};

/// Repositories per full read: 17 requests each, so 50 cost 8.5 points; small enough that one slow or failed
/// query holds back few pilots, and far below GitHub's node limit.
pub(crate) const FULL_BATCH: usize = 50;
/// Repositories per probe (GitHub's limit for one level of a query).
pub(crate) const PROBE_BATCH: usize = 100;
/// Open issues read per repository; a repository with more has its issues read over REST.
pub(crate) const ISSUE_PAGE: usize = 10;
/// Labels read per issue; an issue with more has its repository's issues read over REST.
pub(crate) const LABEL_PAGE: usize = 20;
/// Open alerts read per repository; a repository with more has its alerts read over REST.
pub(crate) const ALERT_PAGE: usize = 20;
/// Check suites read on the head commit.
const SUITE_PAGE: usize = 50;
/// Failed check suites per query of their failed jobs: 23 requests each, so 100 cost 23 points.
pub(crate) const FAILED_SUITE_BATCH: usize = 100;
/// Failed jobs read per failed run; a run with more has its jobs read over REST.
const FAILED_JOB_PAGE: usize = 10;
/// Steps read per failed job; a job with more has its run's jobs read over REST.
const STEP_PAGE: usize = 50;
/// Annotations read per failed job; a job with more has its run's jobs read over REST.
const ANNOTATION_PAGE: usize = 50;
/// The response keys of the probe (see [`fingerprint`]).
const PROBE_KEYS: [&str; 8] =
    ["isArchived", "pushedAt", "stargazerCount", "forkCount", "probeHead", "probeIssues", "probePulls", "probeAlerts"];
/// The fields whose `FORBIDDEN` error means "alerts unknown" rather than "read this repository over REST".
const ALERT_FIELDS: [&str; 2] = ["vulnerabilityAlerts", "probeAlerts"];

/// What tells that a repository changed; the probe reads only this.
fn probe_fragment() -> String {
    "fragment RepoProbe on Repository {
  isArchived
  pushedAt
  stargazerCount
  forkCount
  licenseInfo { spdxId }
  probeHead: defaultBranchRef { name target { oid ... on Commit { statusCheckRollup { state } } } }
  probeIssues: issues(first: 1, states: [OPEN], orderBy: {field: UPDATED_AT, direction: DESC}) { totalCount nodes { updatedAt } }
  probePulls: pullRequests(first: 1, states: [OPEN], orderBy: {field: CREATED_AT, direction: ASC}) { totalCount nodes { createdAt } }
  probeAlerts: vulnerabilityAlerts(states: [OPEN]) { totalCount }
}
"
    .to_owned()
}

/// The probe of a repository whose head failed: also when each of its head's check suites last changed. A failed
/// run re-run that fails again on the same head goes FAILURE, PENDING, FAILURE, and when no probe saw it pending
/// the rest of the fingerprint is what it was; the suite's `updatedAt` moves with every attempt. One more request
/// (the suites are a connection), so it is asked only where a re-run can fail again unseen.
fn red_probe_fragment() -> String {
    format!(
        "fragment RepoProbeRed on Repository {{
  ...RepoProbe
  probeSuites: defaultBranchRef {{ target {{ ... on Commit {{ checkSuites(first: {SUITE_PAGE}) {{ nodes {{ updatedAt }} }} }} }} }}
}}
"
    )
}

/// Everything a snapshot needs, the probe included so the full read leaves its fingerprint.
fn full_fragment() -> String {
    format!(
        "fragment RepoFull on Repository {{
  ...RepoProbe
  url
  watchers {{ totalCount }}
  licenseInfo {{ spdxId key }}
  defaultBranchRef {{ name target {{ oid ... on Commit {{ checkSuites(first: {SUITE_PAGE}) {{ totalCount nodes {{ id updatedAt status conclusion workflowRun {{ databaseId url workflow {{ name }} }} }} }} }} }} }}
  issues(first: {ISSUE_PAGE}, states: [OPEN], orderBy: {{field: CREATED_AT, direction: DESC}}) {{ totalCount nodes {{ number title labels(first: {LABEL_PAGE}) {{ totalCount nodes {{ name }} }} }} }}
  vulnerabilityAlerts(first: {ALERT_PAGE}, states: [OPEN]) {{ totalCount nodes {{ securityAdvisory {{ summary severity }} securityVulnerability {{ severity }} }} }}
  policyRoot: object(expression: \"HEAD:SECURITY.md\") {{ __typename }}
  policyGithub: object(expression: \"HEAD:.github/SECURITY.md\") {{ __typename }}
  policyDocs: object(expression: \"HEAD:docs/SECURITY.md\") {{ __typename }}
}}
"
    )
}

/// A query reading each repository under the aliases `r0`, `r1`, ... through the fragment named with it, with the
/// query's cost.
fn batch_query<'a>(name: &str, repos: impl Iterator<Item = (&'a RepoId, &'a str)>) -> String {
    let mut query = format!("query {name} {{\n");
    for (index, (repo, fragment)) in repos.enumerate() {
        // JSON string literals are valid GraphQL string literals, and quoting keeps any name from breaking out.
        let owner = Value::from(repo.owner()).to_string();
        let name = Value::from(repo.name()).to_string();
        query.push_str(&format!("  r{index}: repository(owner: {owner}, name: {name}) {{ ...{fragment} }}\n"));
    }
    query.push_str("  rateLimit { cost remaining resetAt }\n}\n");
    query
}

/// A repository to probe, and whether its head failed (see [`red_probe_fragment`]).
pub(crate) type ProbeKey = (RepoId, bool);

/// The probe of a batch of repositories.
pub(crate) fn probe_query(repos: &[ProbeKey]) -> String {
    let fragment = |red: bool| if red { "RepoProbeRed" } else { "RepoProbe" };
    let query = batch_query("SnapshotProbe", repos.iter().map(|(repo, red)| (repo, fragment(*red))));
    // GraphQL refuses a fragment the operation does not use.
    let red = if repos.iter().any(|(_, red)| *red) { red_probe_fragment() } else { String::new() };
    query + &probe_fragment() + &red
}

/// The full read of a batch of repositories.
pub(crate) fn full_query(repos: &[RepoId]) -> String {
    batch_query("Snapshots", repos.iter().map(|repo| (repo, "RepoFull"))) + &full_fragment() + &probe_fragment()
}

/// The failed jobs of a batch of failed check suites, by node id, under the aliases `r0`, `r1`, ...: each suite's
/// check runs counted in all its attempts and in the latest (equal only for a run never re-run, whose attempt is
/// therefore 1), and the latest attempt's failed check runs (a job is a check run with the job's id) with their
/// steps and annotations. [`FAILED_JOB_PAGE`] failed jobs cost 3 + 2 x that many requests a suite.
pub(crate) fn failed_suites_query(suites: &[String]) -> String {
    let mut query = "query FailedRuns {\n".to_owned();
    for (index, suite) in suites.iter().enumerate() {
        let id = Value::from(suite.as_str()).to_string();
        query.push_str(&format!("  r{index}: node(id: {id}) {{ ...FailedSuite }}\n"));
    }
    query.push_str("  rateLimit { cost remaining resetAt }\n}\n");
    query.push_str(&format!(
        "fragment FailedSuite on CheckSuite {{
  all: checkRuns(filterBy: {{checkType: ALL}}) {{ totalCount }}
  latest: checkRuns(filterBy: {{checkType: LATEST}}) {{ totalCount }}
  failed: checkRuns(first: {FAILED_JOB_PAGE}, filterBy: {{checkType: LATEST, conclusions: [FAILURE, TIMED_OUT, STARTUP_FAILURE, CANCELLED]}}) {{ totalCount nodes {{ databaseId name conclusion steps(first: {STEP_PAGE}) {{ totalCount nodes {{ name conclusion }} }} annotations(first: {ANNOTATION_PAGE}) {{ totalCount nodes {{ message }} }} }} }}
}}
"
    ));
    query
}

/// A snapshot and the fingerprint it was read at.
#[derive(Debug, Clone)]
pub(crate) struct Known {
    fingerprint: Value,
    /// When each of the head's check suites last changed, for the probe of a red head.
    suites: Value,
    /// Whether the head failed (its rollup) or the snapshot shows failures: probed with the suites.
    red: bool,
    snapshot: RepoSnapshot,
}

/// A workflow's last verdict on the default branch, kept for the cycles in which the head commit does not tell.
#[derive(Debug, Clone)]
pub(crate) struct Verdict {
    /// The run it came from, for the order of failures (newest first, as REST lists runs).
    run: u64,
    /// When the run's check suite last changed: while it has not, its failed jobs are what they were.
    updated: Option<String>,
    /// The failed jobs; empty when the run passed.
    failures: Vec<CiFailure>,
}

/// The last verdict of each workflow of a repository, by workflow name.
pub(crate) type Verdicts = BTreeMap<String, Verdict>;

/// What a batch gave one repository.
enum Loaded {
    /// Its part of the answer.
    Part(Part),
    /// Nothing usable for it (an error about it, or GitHub refused the whole query): read it over REST.
    Rest,
    /// The server has no GraphQL endpoint.
    Unavailable,
}

/// Sorts a batch's result: transient errors stay errors (the pilot waits them out, as for REST), a missing endpoint
/// is [`Loaded::Unavailable`], any other refusal of the query sends the repository to REST, and so does an error about
/// the repository itself.
fn loaded(result: Result<Part, GitHubError>) -> Result<Loaded, GitHubError> {
    match result {
        Ok(part) => match fatal(&part) {
            None if !part.data.is_null() => Ok(Loaded::Part(part)),
            error => {
                if let Some(error) = error {
                    tracing::debug!(kind = %error.kind, path = ?error.path, message = %error.message, "graphql error about a repository; reading it over rest");
                }
                Ok(Loaded::Rest)
            }
        },
        Err(err) if err.is_transient() => Err(err),
        Err(GitHubError::NotFound { .. }) => Ok(Loaded::Unavailable),
        Err(err) => {
            tracing::debug!(%err, "graphql refused the query; reading over rest");
            Ok(Loaded::Rest)
        }
    }
}

/// The first error about a repository that its snapshot cannot do without: all but a forbidden alert list.
fn fatal(part: &Part) -> Option<&super::client::GraphqlError> {
    part.errors
        .iter()
        .find(|e| !(e.kind == "FORBIDDEN" && e.path.first().is_some_and(|f| ALERT_FIELDS.contains(&f.as_str()))))
}

/// The probe's answer within a repository's object: what must stay equal for a snapshot to be reused.
fn fingerprint(data: &Value) -> Value {
    let mut print = serde_json::Map::new();
    for key in PROBE_KEYS {
        print.insert(key.to_owned(), data.get(key).cloned().unwrap_or(Value::Null));
    }
    // The full read asks for the license's key too; only the probe's part counts.
    print.insert("license".to_owned(), data.pointer("/licenseInfo/spdxId").cloned().unwrap_or(Value::Null));
    Value::Object(print)
}

/// When each of the head's check suites last changed, from the full read's suites (`at` = `defaultBranchRef`) or
/// the red probe's (`at` = `probeSuites`), in the same order.
fn suite_updates(data: &Value, at: &str) -> Value {
    let nodes = data.pointer(&format!("/{at}/target/checkSuites/nodes")).and_then(Value::as_array);
    Value::Array(nodes.into_iter().flatten().map(|n| n.get("updatedAt").cloned().unwrap_or(Value::Null)).collect())
}

/// Reads `repo`, through a probe when it was read before and a full read when it is new or changed. `Ok(None)`
/// means GraphQL is not served at all: the caller reads over REST from now on.
pub(crate) async fn snapshot(
    forge: &GitHubForge,
    repo: &RepoId,
    now: SystemTime,
) -> Result<Option<RepoSnapshot>, GitHubError> {
    // What this read learns is kept only if nothing made the forge forget the repository while it ran.
    let forgotten = forge.forgotten(repo);
    let known = forge.known.get(repo).map(|entry| entry.value().clone());
    if let Some(known) = known {
        match loaded(forge.probes.load(&(repo.clone(), known.red)).await)? {
            Loaded::Part(part)
                if fingerprint(&part.data) == known.fingerprint
                    && (!known.red || suite_updates(&part.data, "probeSuites") == known.suites) =>
            {
                return Ok(Some(RepoSnapshot { taken_at: now, ..known.snapshot }));
            }
            Loaded::Unavailable => return Ok(None),
            Loaded::Part(_) | Loaded::Rest => {}
        }
    }
    let part = match loaded(forge.fulls.load(repo).await)? {
        Loaded::Part(part) => part,
        Loaded::Unavailable => return Ok(None),
        Loaded::Rest => {
            forge.known.remove(repo);
            return read::snapshot(forge, repo, now).await.map(Some);
        }
    };
    let node: RepoNode = serde_json::from_value(part.data.clone()).map_err(|err| GitHubError::Malformed {
        request: "POST graphql".to_owned(),
        message: format!("unexpected json for '{repo}' ({err})"),
    })?;
    let alerts_forbidden = !part.errors.is_empty();
    let snapshot = assemble(forge, repo, node, alerts_forbidden, now).await?;
    let print = fingerprint(&part.data);
    let red = print.pointer("/probeHead/target/statusCheckRollup/state").and_then(Value::as_str) == Some("FAILURE")
        || snapshot.ci.state == CiState::Failing;
    let suites = suite_updates(&part.data, "defaultBranchRef");
    // Checked under the entry's lock, which `forget_snapshot` takes to remove it after it counted.
    let entry = forge.known.entry(repo.clone());
    if forge.forgotten(repo) == forgotten {
        entry.insert(Known { fingerprint: print, suites, red, snapshot: snapshot.clone() });
    }
    Ok(Some(snapshot))
}

/// A repository's object in the full read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RepoNode {
    is_archived: bool,
    pushed_at: Option<String>,
    stargazer_count: u64,
    fork_count: u64,
    url: Option<String>,
    watchers: Option<Count>,
    license_info: Option<LicenseNode>,
    default_branch_ref: Option<BranchNode>,
    issues: Option<Connection<IssueNode>>,
    probe_pulls: Option<Connection<PullNode>>,
    vulnerability_alerts: Option<Connection<AlertNode>>,
    policy_root: Option<Value>,
    policy_github: Option<Value>,
    policy_docs: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LicenseNode {
    spdx_id: Option<String>,
    key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Count {
    total_count: u64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Connection<T> {
    total_count: u64,
    #[serde(default = "Vec::new")]
    nodes: Vec<T>,
}

#[derive(Debug, Deserialize)]
struct BranchNode {
    name: String,
    target: Option<CommitNode>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommitNode {
    oid: String,
    check_suites: Option<Connection<SuiteNode>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SuiteNode {
    id: Option<String>,
    updated_at: Option<String>,
    status: String,
    conclusion: Option<String>,
    workflow_run: Option<WorkflowRunNode>,
}

/// A failed check suite in [`failed_suites_query`].
#[derive(Debug, Deserialize)]
struct FailedSuiteNode {
    all: Count,
    latest: Count,
    failed: Connection<CheckRunNode>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CheckRunNode {
    database_id: Option<u64>,
    name: String,
    conclusion: Option<String>,
    steps: Option<Connection<StepNode>>,
    annotations: Option<Connection<AnnotationNode>>,
}

#[derive(Debug, Deserialize)]
struct StepNode {
    name: String,
    conclusion: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AnnotationNode {
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WorkflowRunNode {
    database_id: Option<u64>,
    url: Option<String>,
    workflow: NamedNode,
}

#[derive(Debug, Deserialize)]
struct NamedNode {
    name: String,
}

#[derive(Debug, Deserialize)]
struct IssueNode {
    number: u64,
    title: String,
    labels: Option<Connection<NamedNode>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PullNode {
    created_at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlertNode {
    security_advisory: Option<AdvisoryNode>,
    security_vulnerability: Option<SeverityNode>,
}

#[derive(Debug, Deserialize)]
struct AdvisoryNode {
    summary: Option<String>,
    severity: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SeverityNode {
    severity: Option<String>,
}

/// A snapshot from a repository's full-read object, with REST for what a page did not hold and for failed runs.
async fn assemble(
    forge: &GitHubForge,
    repo: &RepoId,
    node: RepoNode,
    alerts_forbidden: bool,
    now: SystemTime,
) -> Result<RepoSnapshot, GitHubError> {
    let (branch, commit) = match node.default_branch_ref {
        Some(branch) => (branch.name, branch.target),
        None => ("main".to_owned(), None),
    };
    let issues = async {
        match node.issues {
            Some(page) if fits(&page) => Ok(page
                .nodes
                .into_iter()
                .map(|issue| IssueSummary {
                    number: issue.number,
                    title: issue.title,
                    labels: issue.labels.map(|l| l.nodes.into_iter().map(|n| n.name).collect()).unwrap_or_default(),
                })
                .collect::<Vec<_>>()),
            // More issues or labels than a page: REST's list (conditional, so free while unchanged).
            _ => read::issues(forge, repo).await.map(|(issues, _)| issues),
        }
    };
    let alerts = async {
        match node.vulnerability_alerts {
            _ if alerts_forbidden => Ok(None),
            Some(page) if page.total_count as usize <= page.nodes.len() => {
                Ok(Some(page.nodes.into_iter().map(alert).collect::<Vec<_>>()))
            }
            _ => read::alerts(forge, repo).await,
        }
    };
    let (ci, issues, alerts) = tokio::join!(ci(forge, repo, commit), issues, alerts);
    let (ci, open_issues, security_alerts) = (ci?, issues?, alerts?);
    let pulls = node.probe_pulls.unwrap_or(Connection { total_count: 0, nodes: Vec::new() });
    let has_policy = node.policy_root.is_some() || node.policy_github.is_some() || node.policy_docs.is_some();
    let clone_url = match forge.clone_urls.get(repo) {
        Some(url) => Some(url.value().clone()),
        // GitHub's clone URL is the repository's address with `.git`.
        None => node.url.map(|url| format!("{url}.git")),
    };
    let has_ci_workflow = (ci.state != CiState::Unknown).then_some(true);
    Ok(RepoSnapshot {
        repo: repo.clone(),
        taken_at: now,
        default_branch: branch,
        archived: node.is_archived,
        pushed_at: node.pushed_at.as_deref().and_then(models::parse_time),
        ci,
        github: Some(GitHubFacts {
            stars: node.stargazer_count,
            forks: node.fork_count,
            watchers: node.watchers.map(|w| w.total_count),
            license: node
                .license_info
                .as_ref()
                .and_then(|l| l.spdx_id.clone().filter(|id| id != "NOASSERTION").or_else(|| l.key.clone())),
            open_issues: open_issues.len() as u64,
            open_pull_requests: pulls.total_count,
            oldest_open_pull_request_at: pulls
                .nodes
                .first()
                .and_then(|p| p.created_at.as_deref())
                .and_then(models::parse_time),
            clone_url,
        }),
        open_issues,
        security_alerts,
        has_security_policy: Some(has_policy),
        has_license: Some(node.license_info.is_some()),
        has_ci_workflow,
        local: None,
        sync_drift: None,
    })
}

/// Whether a page of issues holds all of them, each with all its labels.
fn fits(page: &Connection<IssueNode>) -> bool {
    page.total_count as usize <= page.nodes.len()
        && page.nodes.iter().all(|i| i.labels.as_ref().is_none_or(|l| l.total_count as usize <= l.nodes.len()))
}

fn alert(node: AlertNode) -> Alert {
    let severity = node
        .security_advisory
        .as_ref()
        .and_then(|a| a.severity.clone())
        .or_else(|| node.security_vulnerability.and_then(|v| v.severity))
        .unwrap_or_default();
    let severity = match severity.to_ascii_lowercase().as_str() {
        "critical" => AlertSeverity::Critical,
        "high" => AlertSeverity::High,
        "low" => AlertSeverity::Low,
        // GraphQL's MODERATE is REST's medium; unknown words count as medium rather than dropping the alert.
        _ => AlertSeverity::Medium,
    };
    let summary = node.security_advisory.and_then(|a| a.summary).unwrap_or_else(|| "dependabot alert".into());
    Alert { summary, severity }
}

/// CI from the head commit's check suites: per workflow, the newest completed run that was not cancelled or
/// skipped decides (a failed one's jobs read over REST); a workflow the head does not decide keeps its previous
/// verdict (see the module's documentation).
async fn ci(forge: &GitHubForge, repo: &RepoId, commit: Option<CommitNode>) -> Result<CiStatus, GitHubError> {
    let mut latest: BTreeMap<String, (u64, RunJson, Option<String>, Option<String>)> = BTreeMap::new();
    let head_sha = commit.as_ref().map(|c| c.oid.clone());
    for suite in commit.and_then(|c| c.check_suites).map(|s| s.nodes).unwrap_or_default() {
        let Some(run) = suite.workflow_run else { continue };
        let conclusion = suite.conclusion.map(|c| c.to_ascii_lowercase());
        if suite.status != "COMPLETED" || matches!(conclusion.as_deref(), Some("cancelled" | "skipped" | "stale")) {
            continue;
        }
        let id = run.database_id.unwrap_or_default();
        if latest.get(&run.workflow.name).is_some_and(|(newest, ..)| *newest >= id) {
            continue;
        }
        let json = RunJson {
            id,
            // GraphQL has no attempts; the failed run's jobs say which attempt they belong to.
            run_attempt: None,
            head_sha: head_sha.clone(),
            html_url: run.url,
            status: Some("completed".to_owned()),
            name: Some(run.workflow.name.clone()),
            workflow_id: None,
            path: None,
            conclusion,
        };
        latest.insert(run.workflow.name, (id, json, suite.id, suite.updated_at));
    }
    let mut verdicts = forge.verdicts.get(repo).map(|entry| entry.value().clone()).unwrap_or_default();
    let known = forge.annotations.get(repo).map(|entry| entry.value().clone()).unwrap_or_default();
    let mut kept = AnnotationCache::new();
    for (workflow, (id, run, suite, updated)) in latest {
        let unchanged = verdicts.get(&workflow).filter(|v| v.run == id && updated.is_some() && v.updated == updated);
        let failures = match unchanged {
            Some(verdict) => verdict.failures.clone(),
            None if models::is_failure(run.conclusion.as_deref()) => {
                failed_jobs(forge, repo, &run, suite, &known, &mut kept).await?
            }
            None => Vec::new(),
        };
        verdicts.insert(workflow, Verdict { run: id, updated, failures });
    }
    // The annotations of failures still shown (read now, or kept from an earlier verdict) stay cached.
    for verdict in verdicts.values() {
        for failure in &verdict.failures {
            if let Some(run) = &failure.run
                && let Some(read) = known.get(&(run.id, run.attempt))
            {
                kept.entry((run.id, run.attempt)).or_insert_with(|| read.clone());
            }
        }
    }
    forge.annotations.insert(repo.clone(), kept);
    let mut decided: Vec<&Verdict> = verdicts.values().collect();
    decided.sort_by_key(|v| std::cmp::Reverse(v.run));
    let failures: Vec<CiFailure> = decided.iter().flat_map(|v| v.failures.iter().cloned()).collect();
    let status = if !failures.is_empty() {
        CiStatus::failing(failures)
    } else if decided.is_empty() {
        CiStatus { state: CiState::Unknown, failures: Vec::new() }
    } else {
        CiStatus::green()
    };
    forge.verdicts.insert(repo.clone(), verdicts);
    Ok(status)
}

/// The failed jobs of a failed run: through GraphQL from its check suite when the run was never re-run and its
/// failed jobs, their steps and annotations fit a page each; otherwise (a re-run, whose attempt only REST knows, or
/// more than a page) over REST, as `read::run_failures` reads them.
async fn failed_jobs(
    forge: &GitHubForge,
    repo: &RepoId,
    run: &RunJson,
    suite: Option<String>,
    known: &AnnotationCache,
    kept: &mut AnnotationCache,
) -> Result<Vec<CiFailure>, GitHubError> {
    if let Some(suite) = suite
        && let Loaded::Part(part) = loaded(forge.failed_suites.load(&suite).await)?
    {
        match first_attempt_failures(run, part.data) {
            SuiteRead::Failures(failures) => return Ok(failures),
            // No jobs to read: only the run's attempt is missing, and the run says it.
            SuiteRead::Jobless => {
                let attempt = forge.workflow_run(repo, run.id).await?.attempt;
                let workflow = run.name.clone().unwrap_or_else(|| run.workflow_key());
                return Ok(vec![read::jobless_failure(workflow, run, Some(read::run_ref(run, attempt)))]);
            }
            SuiteRead::Rest => {}
        }
    }
    read::run_failures(forge, repo, run, known, kept).await
}

/// What a failed run's check suite, read through GraphQL, gave.
enum SuiteRead {
    /// The first attempt's failures.
    Failures(Vec<CiFailure>),
    /// No check runs at all: the run failed before any job (`startup_failure`), and the counts that tell a
    /// re-run are equal whatever its attempt.
    Jobless,
    /// A re-run, or more than a page: read over REST.
    Rest,
}

/// The failures of a run's first attempt from its suite's answer to [`failed_suites_query`], classified as
/// `read::run_failures` classifies them.
fn first_attempt_failures(run: &RunJson, data: Value) -> SuiteRead {
    let Ok(suite) = serde_json::from_value::<FailedSuiteNode>(data) else { return SuiteRead::Rest };
    let fits = |total: u64, read: usize| total as usize <= read;
    if suite.all.total_count == 0 {
        return SuiteRead::Jobless;
    }
    if suite.all.total_count != suite.latest.total_count || !fits(suite.failed.total_count, suite.failed.nodes.len()) {
        return SuiteRead::Rest;
    }
    let workflow = run.name.clone().unwrap_or_else(|| run.workflow_key());
    // Check runs are never re-run here, so this is the run's first attempt.
    let run_ref = Some(read::run_ref(run, 1));
    let mut jobs = suite.failed.nodes;
    // REST lists a run's jobs in the order they were made, which is their ids' order.
    jobs.sort_by_key(|job| job.database_id);
    let mut failures = Vec::new();
    for job in jobs {
        let steps = job.steps.unwrap_or(Connection { total_count: 0, nodes: Vec::new() });
        let annotations = job.annotations.unwrap_or(Connection { total_count: 0, nodes: Vec::new() });
        if !fits(steps.total_count, steps.nodes.len()) || !fits(annotations.total_count, annotations.nodes.len()) {
            return SuiteRead::Rest;
        }
        let conclusion = job.conclusion.map(|c| c.to_ascii_lowercase());
        let step_conclusions: Vec<Option<String>> =
            steps.nodes.iter().map(|s| s.conclusion.as_ref().map(|c| c.to_ascii_lowercase())).collect();
        let steps: Vec<JobStep<'_>> = steps
            .nodes
            .iter()
            .zip(&step_conclusions)
            .map(|(s, c)| JobStep { name: &s.name, conclusion: c.as_deref() })
            .collect();
        let without = FailedJob { name: &job.name, conclusion: conclusion.as_deref(), steps: &steps, annotations: &[] };
        let (step, mut class) = read::classify_by_steps(&without);
        if class != FailureClass::Infrastructure {
            let messages: Vec<&str> =
                annotations.nodes.iter().map(|a| a.message.as_deref().unwrap_or_default()).collect();
            class = crate::classify_failure(&FailedJob { annotations: &messages, ..without });
        }
        failures.push(CiFailure {
            workflow: workflow.clone(),
            job: job.name.clone(),
            step,
            class,
            run: run_ref.clone(),
        });
    }
    if failures.is_empty() {
        failures.push(read::jobless_failure(workflow, run, run_ref));
    }
    SuiteRead::Failures(failures)
}
