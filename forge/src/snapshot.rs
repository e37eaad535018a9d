//! What a pilot sees of one repository at one moment: CI, issues, security alerts, activity.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::RepoId;

/// Everything a maintainer would look at in one repository, read at [`RepoSnapshot::taken_at`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepoSnapshot {
    /// The repository.
    pub repo: RepoId,
    /// When the forge was read.
    #[serde(with = "time_text")]
    pub taken_at: SystemTime,
    /// The default branch's name.
    pub default_branch: String,
    /// Whether the repository is archived (read-only).
    pub archived: bool,
    /// When the last push happened, if known.
    #[serde(with = "time_text::option")]
    pub pushed_at: Option<SystemTime>,
    /// CI on the default branch.
    pub ci: CiStatus,
    /// Open issues.
    pub open_issues: Vec<IssueSummary>,
    /// Open security alerts; `None` when the forge would not tell (not permitted or not supported).
    pub security_alerts: Option<Vec<Alert>>,
    /// Whether a security policy (SECURITY.md) is present; `None` when unknown.
    pub has_security_policy: Option<bool>,
    /// Whether a license is present (a `LICENSE`, `COPYING` or `UNLICENSE` file; on GitHub, a license it
    /// detected); `None` when unknown.
    #[serde(default)]
    pub has_license: Option<bool>,
    /// Whether CI is configured (a GitHub Actions workflow or another CI's configuration file); `None` when unknown
    /// (GitHub tells only that it is, by completed runs).
    #[serde(default)]
    pub has_ci_workflow: Option<bool>,
    /// What only a local checkout shows (branch, dirty tree, upstream, stale branches); `None` on remote forges.
    #[serde(default)]
    pub local: Option<LocalFacts>,
    /// What only GitHub tells (stars, forks, license, pull requests); `None` on other forges.
    #[serde(default)]
    pub github: Option<GitHubFacts>,
    /// How far the files kept in step with a source (`[[sync]]` declarations naming this repository) drifted, one
    /// entry per declaration; `None` when no declaration names it or the drift could not be read. The forge does not
    /// read this: the pilot's drift check fills it in after the snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_drift: Option<Vec<SyncDrift>>,
}

/// How far one repository's synced files drifted from one declaration's source, by the files' states.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SyncDrift {
    /// The declaration's name.
    pub name: String,
    /// The source repository, `owner/name`.
    pub source: String,
    /// Files the source moved on from.
    pub behind: u32,
    /// Files the source has and the repository does not.
    pub missing: u32,
    /// Files changed on both sides since the last sync.
    pub conflicts: u32,
    /// Files changed only in the repository (an edit to propose back to the source).
    pub ahead: u32,
}

impl SyncDrift {
    /// Files a sync would bring along: behind or missing.
    pub fn to_sync(&self) -> u32 {
        self.behind + self.missing
    }
}

/// Repository facts only GitHub has, as the GitHub forge reads them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GitHubFacts {
    /// Stargazers.
    pub stars: u64,
    /// Forks.
    pub forks: u64,
    /// Watchers (subscribers); `None` when the listing did not include them.
    pub watchers: Option<u64>,
    /// The license's SPDX id (`MIT`), `None` when there is none.
    pub license: Option<String>,
    /// Open issues, pull requests excluded.
    pub open_issues: u64,
    /// Open pull requests.
    pub open_pull_requests: u64,
    /// When the oldest open pull request was opened.
    #[serde(with = "time_text::option")]
    pub oldest_open_pull_request_at: Option<SystemTime>,
    /// Where the repository's git data is cloned from.
    #[serde(default)]
    pub clone_url: Option<String>,
}

/// Git facts of a local checkout, as the local workspace forge reads them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LocalFacts {
    /// The current branch; `None` when HEAD is detached.
    pub branch: Option<String>,
    /// The commit HEAD points at; `None` in a repository without commits.
    pub head: Option<String>,
    /// Whether the work tree has uncommitted changes or untracked files.
    pub dirty: bool,
    /// The current branch's upstream, when it has one.
    pub upstream: Option<Upstream>,
    /// When the HEAD commit was made (committer date).
    #[serde(with = "time_text::option")]
    pub last_commit_at: Option<SystemTime>,
    /// Local branches other than the current one with no commit for 90 days.
    pub stale_branches: Vec<String>,
    /// The command run as local CI (such as `make:test`); `None` when the repository has none.
    pub test_command: Option<String>,
}

/// A branch's upstream and how far apart they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upstream {
    /// The upstream's short name, such as `origin/main`.
    pub name: String,
    /// Commits on the branch that the upstream lacks.
    pub ahead: u32,
    /// Commits on the upstream that the branch lacks.
    pub behind: u32,
}

/// The state of CI on the default branch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CiStatus {
    /// Overall verdict.
    pub state: CiState,
    /// The failed jobs, when [`CiState::Failing`].
    pub failures: Vec<CiFailure>,
}

impl CiStatus {
    /// CI that passed.
    pub fn green() -> CiStatus {
        CiStatus { state: CiState::Passing, failures: Vec::new() }
    }

    /// CI that failed with the given jobs.
    pub fn failing(failures: Vec<CiFailure>) -> CiStatus {
        CiStatus { state: CiState::Failing, failures }
    }

    /// Whether the latest run passed.
    pub fn is_green(&self) -> bool {
        self.state == CiState::Passing
    }
}

/// Overall CI verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CiState {
    /// The latest completed run passed.
    Passing,
    /// The latest completed run failed.
    Failing,
    /// No CI, or nothing completed yet.
    Unknown,
}

/// One failed CI job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiFailure {
    /// Workflow name.
    pub workflow: String,
    /// Job name.
    pub job: String,
    /// The first failed step, if known.
    pub step: Option<String>,
    /// What kind of failure this looks like.
    pub class: FailureClass,
    /// The run the job belongs to, when the forge has runs (GitHub): what a re-run or an issue points at.
    #[serde(default)]
    pub run: Option<RunRef>,
}

/// A CI run as the autonomy loop addresses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRef {
    /// The run's id.
    pub id: u64,
    /// 1 for the first attempt, one more per re-run.
    pub attempt: u32,
    /// The commit the run tested.
    pub head_sha: String,
    /// Where a human sees the run.
    pub url: String,
}

impl CiFailure {
    /// A stable signature (`workflow/job/step/class`), equal for the same failure in different repositories, so
    /// that a systemic failure across the fleet is recognisable.
    pub fn signature(&self) -> String {
        crate::failure_signature(&self.workflow, &self.job, self.step.as_deref(), self.class)
    }
}

/// The kind of a CI failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// Tests failed.
    Test,
    /// Compilation or packaging failed.
    Build,
    /// A linter or formatter complained.
    Lint,
    /// Deployment failed.
    Deploy,
    /// The runner, the network or a timeout failed, not the code: worth a re-run.
    Infrastructure,
    /// Dependencies did not resolve (a version that does not exist or conflicts, a lockfile out of step with its
    /// manifest): a lockfile refresh or a dependency bump fixes it.
    Dependency,
}

impl FailureClass {
    /// The lowercase name used in signatures.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Test => "test",
            FailureClass::Build => "build",
            FailureClass::Lint => "lint",
            FailureClass::Deploy => "deploy",
            FailureClass::Infrastructure => "infrastructure",
            FailureClass::Dependency => "dependency",
        }
    }
}

/// An open issue, as much of it as health and triage need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueSummary {
    /// Issue number.
    pub number: u64,
    /// Title.
    pub title: String,
    /// Label names.
    pub labels: Vec<String>,
}

impl IssueSummary {
    /// How urgent the issue is, from its labels and title (see [`crate::classify_issue`]); `None` when nothing
    /// says. The body is not kept in a snapshot, so it does not count here.
    pub fn priority(&self) -> Option<crate::Priority> {
        crate::classify_issue(&self.labels, &self.title, "")
    }
}

/// A security alert (for example from Dependabot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// The advisory or package the alert is about.
    pub summary: String,
    /// How bad it is.
    pub severity: AlertSeverity,
}

/// Severity of a security alert, in GitHub's four levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertSeverity {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

/// Times as RFC 3339 text (`2026-12-06T11:54:51Z`) in JSON, like every other time hive writes: serde's own form for a
/// `SystemTime` (seconds and nanoseconds since the epoch) is one no reader of `--json` expects.
mod time_text {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hive_support::rfc3339(*time))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        crate::github::parse_time(&text)
            .ok_or_else(|| D::Error::custom(format!("invalid time '{}': expected RFC 3339 UTC", text.escape_debug())))
    }

    /// The same for an optional time (`null` when unknown).
    pub mod option {
        use std::time::SystemTime;

        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(time: &Option<SystemTime>, serializer: S) -> Result<S::Ok, S::Error> {
            match time {
                Some(time) => super::serialize(time, serializer),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<SystemTime>, D::Error> {
            #[derive(Deserialize)]
            struct Text(#[serde(with = "super")] SystemTime);
            Ok(Option::<Text>::deserialize(deserializer)?.map(|Text(time)| time))
        }
    }
}
