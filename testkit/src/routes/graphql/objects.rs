//! The emulator's world as GraphQL objects: the `Query` root, `Repository` and the objects a maintainer reads
//! through it (default branch and head commit, check suites and their workflow runs, issues and labels, pull
//! requests, vulnerability alerts, license, files by `object(expression:)`), plus `rateLimit`. apollo-compiler's
//! executor calls [`Obj::resolve_field`] only for what the query selected, so only that is answered.
//!
//! A field the emulator does not know is a field error naming it, never a guess.

use std::collections::BTreeSet;

use apollo_compiler::resolvers::{FieldError, ObjectValue, ResolveInfo, ResolvedValue};
use apollo_compiler::response::JsonValue;

use crate::bare::{Bare, Entry};
use crate::render;
use crate::spec::{AnnotationSpec, JobSpec, StepSpec};
use crate::state::{Budget, Issue, Repo, Run, World};

/// What GitHub says for a field the token may not read.
pub(crate) const FORBIDDEN: &str = "Resource not accessible by integration";
/// The start of GitHub's message for a repository that does not exist.
pub(crate) const NOT_FOUND: &str = "Could not resolve to a Repository with the name";
/// The start of GitHub's message for a node id that names nothing.
pub(crate) const NO_NODE: &str = "Could not resolve to a node with the global id of";

/// One GraphQL object over the world.
#[derive(Clone)]
pub(crate) enum Obj<'w> {
    Query {
        w: &'w World,
        rate: RateInfo,
        /// The owners (lowercase) the token may see; `None` for every owner.
        scope: Option<&'w [String]>,
    },
    RateLimit(RateInfo),
    Repository {
        w: &'w World,
        repo: &'w Repo,
        forbidden: Option<&'w BTreeSet<String>>,
    },
    Owner {
        login: &'w str,
        org: bool,
    },
    License {
        spdx: &'w str,
    },
    Ref {
        w: &'w World,
        repo: &'w Repo,
        name: &'w str,
        oid: &'w str,
    },
    Commit {
        w: &'w World,
        repo: &'w Repo,
        oid: &'w str,
    },
    /// A file (`Blob`) or directory (`Tree`) found by `object(expression:)`.
    GitObject {
        kind: &'static str,
        oid: String,
    },
    Rollup {
        state: &'static str,
    },
    CheckSuite {
        w: &'w World,
        repo: &'w Repo,
        run: &'w Run,
    },
    WorkflowRun {
        w: &'w World,
        repo: &'w Repo,
        run: &'w Run,
    },
    Workflow {
        name: &'w str,
    },
    /// A job of a run as its check run: `id` is the job's (GitHub gives both the same id).
    CheckRun {
        id: u64,
        job: &'w JobSpec,
    },
    CheckStep {
        step: &'w StepSpec,
    },
    Annotation {
        annotation: &'w AnnotationSpec,
    },
    Issue {
        repo: &'w Repo,
        issue: &'w Issue,
    },
    Label {
        name: &'w str,
    },
    Alert {
        number: usize,
        severity: &'w str,
        summary: &'w str,
    },
    Advisory {
        severity: &'w str,
        summary: &'w str,
    },
    Vulnerability {
        severity: &'w str,
    },
    /// A page of a connection: its type name, the total and the nodes on this page.
    Connection {
        ty: String,
        total: usize,
        nodes: Vec<Obj<'w>>,
        has_next: bool,
    },
    Edge {
        ty: String,
        node: Box<Obj<'w>>,
    },
    PageInfo {
        has_next: bool,
    },
}

/// The query's cost and the graphql budget after it, for `rateLimit`.
#[derive(Clone, Copy)]
pub(crate) struct RateInfo {
    pub(crate) cost: u32,
    pub(crate) budget: Budget,
}

fn leaf<'a>(value: impl Into<JsonValue>) -> Result<ResolvedValue<'a>, FieldError> {
    Ok(ResolvedValue::leaf(value))
}

fn unknown<'a>(field: &str, ty: &str) -> Result<ResolvedValue<'a>, FieldError> {
    Err(FieldError { message: format!("the hive emulator does not answer {ty}.{field}") })
}

fn arg<'a>(info: &'a ResolveInfo<'_>, name: &str) -> Option<&'a JsonValue> {
    info.arguments().get(name).filter(|v| !v.is_null())
}

fn arg_str<'a>(info: &'a ResolveInfo<'_>, name: &str) -> Option<&'a str> {
    arg(info, name).and_then(JsonValue::as_str)
}

/// The enum values of a list argument (`states: [OPEN]`), upper case; `None` when not given.
fn arg_words(info: &ResolveInfo<'_>, name: &str) -> Option<Vec<String>> {
    let value = arg(info, name)?;
    let items = match value.as_array() {
        Some(items) => items.iter().filter_map(JsonValue::as_str).map(str::to_owned).collect(),
        None => value.as_str().map(|s| vec![s.to_owned()]).unwrap_or_default(),
    };
    Some(items)
}

/// `orderBy: {field, direction}` as `(field, descending)`.
fn order_by(info: &ResolveInfo<'_>) -> Option<(String, bool)> {
    let order = arg(info, "orderBy")?;
    let field = order.get("field").and_then(JsonValue::as_str)?.to_owned();
    let descending = order.get("direction").and_then(JsonValue::as_str) == Some("DESC");
    Some((field, descending))
}

/// A page of `all` as the field's `first`/`last` ask (everything when neither is given).
fn connection<'w>(info: &ResolveInfo<'_>, all: Vec<Obj<'w>>) -> Result<ResolvedValue<'w>, FieldError> {
    let ty = info.field_definition().ty.inner_named_type().as_str().to_owned();
    let total = all.len();
    let first = arg(info, "first").and_then(JsonValue::as_i64).map(|n| n.max(0) as usize);
    let last = arg(info, "last").and_then(JsonValue::as_i64).map(|n| n.max(0) as usize);
    let mut nodes = all;
    let mut has_next = false;
    if let Some(first) = first {
        has_next = nodes.len() > first;
        nodes.truncate(first);
    }
    if let Some(last) = last {
        let skip = nodes.len().saturating_sub(last);
        nodes.drain(..skip);
    }
    Ok(ResolvedValue::object(Obj::Connection { ty, total, nodes, has_next }))
}

/// GitHub's upper-case enum value for a REST word (`completed` -> `COMPLETED`).
fn upper(word: &str) -> String {
    word.to_ascii_uppercase()
}

impl<'w> Obj<'w> {
    fn query(
        &self,
        w: &'w World,
        rate: RateInfo,
        scope: Option<&'w [String]>,
        info: &ResolveInfo<'_>,
    ) -> Result<ResolvedValue<'w>, FieldError> {
        let sees = |owner: &str| scope.is_none_or(|owners| owners.contains(&owner.to_lowercase()));
        match info.field_name() {
            "repository" => {
                let owner = arg_str(info, "owner").unwrap_or_default();
                let name = arg_str(info, "name").unwrap_or_default();
                // A repository the token cannot see is one that does not exist, as GitHub answers it.
                match w.repo(owner, name).filter(|_| sees(owner)) {
                    Some(repo) => {
                        let forbidden = w.graphql_forbidden.get(&(owner.to_owned(), name.to_owned()));
                        Ok(ResolvedValue::object(Obj::Repository { w, repo, forbidden }))
                    }
                    None => Err(FieldError { message: format!("{NOT_FOUND} '{owner}/{name}'.") }),
                }
            }
            "rateLimit" => Ok(ResolvedValue::object(Obj::RateLimit(rate))),
            "node" => {
                let id = arg_str(info, "id").unwrap_or_default();
                // Only check suites are looked up by id: `CS_kwDO` and the run's id, as `CheckSuite.id` gives it.
                let run_id = id.strip_prefix("CS_kwDO").and_then(|n| n.parse::<u64>().ok());
                let found = run_id
                    .and_then(|id| w.run_by_id(id))
                    .filter(|(repo, _)| sees(&repo.spec.owner))
                    .map(|(repo, run)| Obj::CheckSuite { w, repo, run });
                found.map(ResolvedValue::object).ok_or_else(|| FieldError { message: format!("{NO_NODE} '{id}'") })
            }
            other => unknown(other, "Query"),
        }
    }

    fn repository(
        &self,
        w: &'w World,
        repo: &'w Repo,
        forbidden: Option<&BTreeSet<String>>,
        info: &ResolveInfo<'_>,
    ) -> Result<ResolvedValue<'w>, FieldError> {
        let field = info.field_name();
        if forbidden.is_some_and(|fields| fields.contains(field)) {
            return Err(FieldError { message: FORBIDDEN.to_owned() });
        }
        let s = &repo.spec;
        let full_name = format!("{}/{}", s.owner, s.name);
        match field {
            "id" => leaf(format!("R_kwDO{:08}", repo.id)),
            "databaseId" => leaf(repo.id),
            "name" => leaf(s.name.as_str()),
            "nameWithOwner" => leaf(full_name),
            "owner" => Ok(ResolvedValue::object(Obj::Owner {
                login: &s.owner,
                org: w.owner_kind(&s.owner) == crate::state::OwnerKind::Org,
            })),
            "url" => leaf(format!("https://github.com/{full_name}")),
            "isArchived" => leaf(s.archived),
            "isDisabled" => leaf(false),
            "isFork" => leaf(s.fork),
            "isTemplate" => leaf(s.is_template),
            "isPrivate" => leaf(s.private),
            "visibility" => leaf(if s.private { "PRIVATE" } else { "PUBLIC" }),
            "stargazerCount" => leaf(s.stars),
            "forkCount" => leaf(s.forks),
            "pushedAt" => leaf(s.pushed_at.as_str()),
            "createdAt" => leaf(repo.created_at.as_str()),
            "updatedAt" => leaf(s.pushed_at.as_str()),
            "watchers" => {
                let ty = info.field_definition().ty.inner_named_type().as_str().to_owned();
                let total = usize::try_from(s.watchers).unwrap_or(usize::MAX);
                Ok(ResolvedValue::object(Obj::Connection { ty, total, nodes: Vec::new(), has_next: total > 0 }))
            }
            "licenseInfo" => Ok(ResolvedValue::nullable_object(s.license.as_deref().map(|spdx| Obj::License { spdx }))),
            "defaultBranchRef" => Ok(ResolvedValue::nullable_object(
                repo.branches.get_key_value(&s.default_branch).map(|(name, oid)| Obj::Ref { w, repo, name, oid }),
            )),
            "issues" => {
                let states = arg_words(info, "states");
                let mut issues: Vec<&Issue> = repo
                    .issues
                    .iter()
                    .filter(|i| i.pull.is_none())
                    .filter(|i| states.as_ref().is_none_or(|s| s.contains(&upper(&i.state))))
                    .collect();
                sort_issues(&mut issues, order_by(info));
                connection(info, issues.into_iter().map(|issue| Obj::Issue { repo, issue }).collect())
            }
            "pullRequests" => {
                let states = arg_words(info, "states");
                let state = |i: &Issue| match &i.pull {
                    Some(p) if p.merged => "MERGED".to_owned(),
                    _ => upper(&i.state),
                };
                let mut pulls: Vec<&Issue> = repo
                    .issues
                    .iter()
                    .filter(|i| i.pull.is_some())
                    .filter(|i| states.as_ref().is_none_or(|s| s.contains(&state(i))))
                    .collect();
                sort_issues(&mut pulls, order_by(info));
                connection(info, pulls.into_iter().map(|issue| Obj::Issue { repo, issue }).collect())
            }
            "vulnerabilityAlerts" => match &repo.dependabot {
                crate::spec::DependabotSpec::Forbidden | crate::spec::DependabotSpec::NotFound => {
                    Err(FieldError { message: FORBIDDEN.to_owned() })
                }
                crate::spec::DependabotSpec::None => connection(info, Vec::new()),
                crate::spec::DependabotSpec::Alerts(alerts) => {
                    // Only open alerts exist in the emulator.
                    let open = arg_words(info, "states").is_none_or(|s| s.iter().any(|s| s == "OPEN"));
                    let nodes = alerts
                        .iter()
                        .enumerate()
                        .filter(|_| open)
                        .map(|(i, (severity, summary))| Obj::Alert { number: i + 1, severity, summary })
                        .collect();
                    connection(info, nodes)
                }
            },
            "object" => {
                let expression = arg_str(info, "expression").unwrap_or_default();
                Ok(ResolvedValue::nullable_object(git_object(repo, expression)))
            }
            other => unknown(other, "Repository"),
        }
    }
}

/// Issues (or pull requests) in `orderBy`'s order; without one, newest first as GitHub lists them.
fn sort_issues(items: &mut [&Issue], order: Option<(String, bool)>) {
    let (field, descending) = order.unwrap_or_else(|| ("CREATED_AT".to_owned(), true));
    items.sort_by(|a, b| {
        let key = |i: &Issue| match field.as_str() {
            "UPDATED_AT" => (i.updated_at.clone(), i.number),
            _ => (i.created_at.clone(), i.number),
        };
        let ordering = key(a).cmp(&key(b));
        if descending { ordering.reverse() } else { ordering }
    });
}

/// What `object(expression: "REV:PATH")` finds: from git for a repository backed by it, else from the files written
/// through the API. `HEAD` is the default branch.
fn git_object<'w>(repo: &Repo, expression: &str) -> Option<Obj<'w>> {
    let (rev, path) = expression.split_once(':')?;
    let branch = if rev == "HEAD" || rev.is_empty() { repo.spec.default_branch.as_str() } else { rev };
    if let Some(dir) = repo.spec.git_dir.as_deref() {
        let bare = Bare::new(dir);
        let commit = match repo.branches.get(branch) {
            Some(sha) => bare.commit(sha),
            None => bare.commit(branch),
        };
        if let Some(commit) = commit {
            match bare.entry(&commit, path) {
                Some(Entry::File { sha, .. }) => return Some(Obj::GitObject { kind: "Blob", oid: sha }),
                Some(Entry::Dir(_)) => {
                    return Some(Obj::GitObject { kind: "Tree", oid: crate::state::fake_sha(expression) });
                }
                None => {}
            }
        }
    }
    let oid = crate::state::fake_sha(&format!("{}/{}:{expression}", repo.spec.owner, repo.spec.name));
    if repo.files.contains_key(&(branch.to_owned(), path.to_owned())) {
        return Some(Obj::GitObject { kind: "Blob", oid });
    }
    let dir = format!("{}/", path.trim_end_matches('/'));
    repo.files.keys().any(|(b, p)| b == branch && p.starts_with(&dir)).then_some(Obj::GitObject { kind: "Tree", oid })
}

/// The check suites of a commit: one per workflow run that tested it, oldest first.
fn suites<'w>(w: &'w World, repo: &'w Repo, oid: &str) -> Vec<Obj<'w>> {
    repo.runs.iter().filter(|run| run.spec.head_sha == oid).map(|run| Obj::CheckSuite { w, repo, run }).collect()
}

/// The check runs of a run's suite as `checkRuns(filterBy:)` asks: the latest attempt's (`checkType: LATEST`, the
/// default) or also those a re-run replaced (`ALL`), then by conclusion, name and status.
fn check_runs<'w>(run: &'w Run, info: &ResolveInfo<'_>) -> Vec<Obj<'w>> {
    let filter = arg(info, "filterBy");
    let word = |key: &str| filter.and_then(|f| f.get(key)).and_then(JsonValue::as_str).map(str::to_owned);
    let words = |key: &str| {
        filter
            .and_then(|f| f.get(key))
            .and_then(JsonValue::as_array)
            .map(|items| items.iter().filter_map(JsonValue::as_str).map(str::to_owned).collect::<Vec<String>>())
    };
    let all = word("checkType").as_deref() == Some("ALL");
    let (conclusions, name, status) = (words("conclusions"), word("checkName"), word("status"));
    let latest = run.job_ids.iter().copied().zip(&run.spec.jobs);
    let replaced = run.superseded.iter().filter(|_| all).map(|(id, job)| (*id, job));
    let mut runs: Vec<(u64, &JobSpec)> = replaced.chain(latest).collect();
    runs.sort_by_key(|(id, _)| *id);
    runs.into_iter()
        .filter(|(_, job)| {
            conclusions.as_ref().is_none_or(|c| job.conclusion.as_deref().is_some_and(|j| c.contains(&upper(j))))
                && name.as_ref().is_none_or(|n| *n == job.name)
                && status.as_ref().is_none_or(|s| *s == upper(&job.status))
        })
        .map(|(id, job)| Obj::CheckRun { id, job })
        .collect()
}

/// The combined state of a commit's suites, as `statusCheckRollup.state` gives it, from the newest run of each
/// workflow (a workflow run again on the same commit replaces its earlier result): failing if any failed, pending
/// while any is not complete, success otherwise; `None` without suites.
fn rollup(repo: &Repo, oid: &str) -> Option<&'static str> {
    let mut newest: std::collections::BTreeMap<&str, &Run> = std::collections::BTreeMap::new();
    for run in repo.runs.iter().filter(|run| run.spec.head_sha == oid) {
        newest.insert(&run.spec.workflow_name, run);
    }
    let runs: Vec<&Run> = newest.into_values().collect();
    if runs.is_empty() {
        return None;
    }
    let failed = |run: &&Run| {
        matches!(run.spec.conclusion.as_deref(), Some("failure" | "timed_out" | "startup_failure" | "cancelled"))
    };
    Some(if runs.iter().any(failed) {
        "FAILURE"
    } else if runs.iter().any(|run| run.spec.status != "completed") {
        "PENDING"
    } else {
        "SUCCESS"
    })
}

impl ObjectValue for Obj<'_> {
    fn type_name(&self) -> &str {
        match self {
            Obj::Query { .. } => "Query",
            Obj::RateLimit(_) => "RateLimit",
            Obj::Repository { .. } => "Repository",
            Obj::Owner { org: true, .. } => "Organization",
            Obj::Owner { org: false, .. } => "User",
            Obj::License { .. } => "License",
            Obj::Ref { .. } => "Ref",
            Obj::Commit { .. } => "Commit",
            Obj::GitObject { kind, .. } => kind,
            Obj::Rollup { .. } => "StatusCheckRollup",
            Obj::CheckSuite { .. } => "CheckSuite",
            Obj::WorkflowRun { .. } => "WorkflowRun",
            Obj::Workflow { .. } => "Workflow",
            Obj::CheckRun { .. } => "CheckRun",
            Obj::CheckStep { .. } => "CheckStep",
            Obj::Annotation { .. } => "CheckAnnotation",
            Obj::Issue { issue, .. } if issue.pull.is_some() => "PullRequest",
            Obj::Issue { .. } => "Issue",
            Obj::Label { .. } => "Label",
            Obj::Alert { .. } => "RepositoryVulnerabilityAlert",
            Obj::Advisory { .. } => "SecurityAdvisory",
            Obj::Vulnerability { .. } => "SecurityVulnerability",
            Obj::Connection { ty, .. } => ty,
            Obj::Edge { ty, .. } => ty,
            Obj::PageInfo { .. } => "PageInfo",
        }
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Result<ResolvedValue<'a>, FieldError> {
        let field = info.field_name();
        match self {
            Obj::Query { w, rate, scope } => self.query(w, *rate, *scope, info),
            Obj::RateLimit(rate) => {
                let b = rate.budget;
                match field {
                    "cost" => leaf(rate.cost),
                    "limit" => leaf(b.limit),
                    "remaining" => leaf(b.remaining),
                    "used" => leaf(b.limit.saturating_sub(b.remaining)),
                    "nodeCount" => leaf(0),
                    "resetAt" => {
                        leaf(hive_support::rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(b.reset)))
                    }
                    other => unknown(other, "RateLimit"),
                }
            }
            Obj::Repository { w, repo, forbidden } => self.repository(w, repo, *forbidden, info),
            Obj::Owner { login, .. } => match field {
                "login" => leaf(*login),
                "url" => leaf(format!("https://github.com/{login}")),
                other => unknown(other, "RepositoryOwner"),
            },
            Obj::License { spdx } => match field {
                "spdxId" => leaf(*spdx),
                "key" => leaf(spdx.to_lowercase()),
                "name" => leaf(*spdx),
                other => unknown(other, "License"),
            },
            Obj::Ref { w, repo, name, oid } => match field {
                "name" => leaf(*name),
                "prefix" => leaf("refs/heads/"),
                "target" => Ok(ResolvedValue::object(Obj::Commit { w, repo, oid })),
                other => unknown(other, "Ref"),
            },
            Obj::Commit { w, repo, oid } => match field {
                "oid" => leaf(*oid),
                "abbreviatedOid" => leaf(oid.chars().take(7).collect::<String>()),
                "statusCheckRollup" => {
                    Ok(ResolvedValue::nullable_object(rollup(repo, oid).map(|state| Obj::Rollup { state })))
                }
                "checkSuites" => connection(info, suites(w, repo, oid)),
                other => unknown(other, "Commit"),
            },
            Obj::GitObject { oid, .. } => match field {
                "oid" => leaf(oid.as_str()),
                other => unknown(other, "GitObject"),
            },
            Obj::Rollup { state } => match field {
                "state" => leaf(*state),
                other => unknown(other, "StatusCheckRollup"),
            },
            Obj::CheckSuite { w, repo, run } => match field {
                "id" => leaf(render::node_id("CS", run.id)),
                "databaseId" => leaf(run.id),
                "checkRuns" => connection(info, check_runs(run, info)),
                "status" => leaf(upper(&run.spec.status)),
                "conclusion" => leaf(run.spec.conclusion.as_deref().map(upper)),
                "createdAt" => leaf(run.created_at.as_str()),
                "updatedAt" => leaf(hive_support::rfc3339(run.updated_at)),
                "workflowRun" => Ok(ResolvedValue::object(Obj::WorkflowRun { w, repo, run })),
                other => unknown(other, "CheckSuite"),
            },
            Obj::WorkflowRun { w, repo, run } => match field {
                "databaseId" => leaf(run.id),
                "runNumber" => leaf(run.number),
                "createdAt" => leaf(run.created_at.as_str()),
                "updatedAt" => leaf(hive_support::rfc3339(run.updated_at)),
                // The same address as the REST run's `html_url`.
                "url" => leaf(render::run(w, repo, run).get("html_url").and_then(|v| v.as_str()).unwrap_or_default()),
                "workflow" => Ok(ResolvedValue::object(Obj::Workflow { name: &run.spec.workflow_name })),
                other => unknown(other, "WorkflowRun"),
            },
            Obj::Workflow { name } => match field {
                "name" => leaf(*name),
                other => unknown(other, "Workflow"),
            },
            Obj::CheckRun { id, job } => match field {
                "databaseId" => leaf(*id),
                "name" => leaf(job.name.as_str()),
                "status" => leaf(upper(&job.status)),
                "conclusion" => leaf(job.conclusion.as_deref().map(upper)),
                "steps" => connection(info, job.steps.iter().map(|step| Obj::CheckStep { step }).collect()),
                "annotations" => {
                    connection(info, job.annotations.iter().map(|annotation| Obj::Annotation { annotation }).collect())
                }
                other => unknown(other, "CheckRun"),
            },
            Obj::CheckStep { step } => match field {
                "name" => leaf(step.name.as_str()),
                "number" => leaf(step.number),
                "status" => leaf(upper(&step.status)),
                "conclusion" => leaf(step.conclusion.as_deref().map(upper)),
                other => unknown(other, "CheckStep"),
            },
            Obj::Annotation { annotation } => match field {
                "message" => leaf(annotation.message.as_str()),
                "annotationLevel" => leaf(upper(&annotation.level)),
                // The runner's own annotations point at `.github` line 1, as the REST rendering says.
                "path" => leaf(".github"),
                other => unknown(other, "CheckAnnotation"),
            },
            Obj::Issue { repo, issue } => match field {
                "number" => leaf(issue.number),
                "title" => leaf(issue.title.as_str()),
                "state" => leaf(match &issue.pull {
                    Some(p) if p.merged => "MERGED".to_owned(),
                    _ => upper(&issue.state),
                }),
                "createdAt" => leaf(issue.created_at.as_str()),
                "updatedAt" => leaf(issue.updated_at.as_str()),
                "isDraft" => leaf(issue.pull.as_ref().is_some_and(|p| p.draft)),
                "url" => leaf(format!(
                    "https://github.com/{}/{}/{}/{}",
                    repo.spec.owner,
                    repo.spec.name,
                    if issue.pull.is_some() { "pull" } else { "issues" },
                    issue.number
                )),
                "labels" => connection(info, issue.labels.iter().map(|name| Obj::Label { name }).collect()),
                other => unknown(other, "Issue"),
            },
            Obj::Label { name } => match field {
                "name" => leaf(*name),
                other => unknown(other, "Label"),
            },
            Obj::Alert { number, severity, summary } => match field {
                "number" => leaf(*number),
                "state" => leaf("OPEN"),
                "securityAdvisory" => Ok(ResolvedValue::object(Obj::Advisory { severity, summary })),
                "securityVulnerability" => Ok(ResolvedValue::object(Obj::Vulnerability { severity })),
                other => unknown(other, "RepositoryVulnerabilityAlert"),
            },
            Obj::Advisory { severity, summary } => match field {
                "summary" => leaf(*summary),
                "severity" => leaf(severity_word(severity)),
                other => unknown(other, "SecurityAdvisory"),
            },
            Obj::Vulnerability { severity } => match field {
                "severity" => leaf(severity_word(severity)),
                other => unknown(other, "SecurityVulnerability"),
            },
            Obj::Connection { ty, total, nodes, has_next } => match field {
                "totalCount" => leaf(*total),
                "nodes" => Ok(ResolvedValue::list(nodes.iter().map(|node| ResolvedValue::object(node.clone())))),
                "edges" => {
                    let edge_ty = ty.replace("Connection", "Edge");
                    Ok(ResolvedValue::list(nodes.iter().map(move |node| {
                        ResolvedValue::object(Obj::Edge { ty: edge_ty.clone(), node: Box::new(node.clone()) })
                    })))
                }
                "pageInfo" => Ok(ResolvedValue::object(Obj::PageInfo { has_next: *has_next })),
                other => unknown(other, ty),
            },
            Obj::Edge { node, .. } => match field {
                "node" => Ok(ResolvedValue::object((**node).clone())),
                "cursor" => leaf("Y3Vyc29y"),
                other => unknown(other, "Edge"),
            },
            Obj::PageInfo { has_next } => match field {
                "hasNextPage" => leaf(*has_next),
                "hasPreviousPage" => leaf(false),
                "endCursor" | "startCursor" => leaf(JsonValue::Null),
                other => unknown(other, "PageInfo"),
            },
        }
    }
}

/// GitHub's GraphQL severity for a REST one (`medium` is `MODERATE` there).
fn severity_word(rest: &str) -> String {
    match rest.to_ascii_lowercase().as_str() {
        "medium" | "moderate" => "MODERATE".to_owned(),
        other => upper(other),
    }
}
