//! Tolerant serde models of the GitHub payloads the forge reads.
//!
//! octocrab's typed models reject some real payloads (a job whose status is `requested`, a run whose `head_branch`
//! is null), so the forge reads raw JSON into these instead: every field it does not strictly need is optional or
//! defaulted, and enumerations stay strings.

use std::time::{Duration, SystemTime};

use serde::Deserialize;

use crate::AlertSeverity;

/// A repository (`GET /repos/{o}/{r}`, and the items of repository lists).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RepoJson {
    pub full_name: String,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub fork: bool,
    #[serde(default)]
    pub is_template: bool,
    #[serde(default)]
    pub default_branch: Option<String>,
    #[serde(default)]
    pub pushed_at: Option<String>,
    #[serde(default)]
    pub stargazers_count: u64,
    #[serde(default)]
    pub forks_count: u64,
    /// GitHub's "watchers" in the UI; `watchers_count` is a legacy mirror of the stars.
    #[serde(default)]
    pub subscribers_count: Option<u64>,
    #[serde(default)]
    pub license: Option<LicenseJson>,
    #[serde(default)]
    pub clone_url: Option<String>,
    #[serde(default)]
    pub private: bool,
    #[serde(default)]
    pub description: Option<String>,
}

/// A repository's license.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct LicenseJson {
    #[serde(default)]
    pub spdx_id: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
}

/// `GET /repos/{o}/{r}/actions/runs`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct RunsJson {
    #[serde(default)]
    pub workflow_runs: Vec<RunJson>,
}

/// A workflow run.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RunJson {
    pub id: u64,
    #[serde(default)]
    pub run_attempt: Option<u32>,
    #[serde(default)]
    pub head_sha: Option<String>,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub workflow_id: Option<u64>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub conclusion: Option<String>,
}

impl RunJson {
    /// What identifies the workflow, for "latest run per workflow": its id and its file. Either alone would do on
    /// GitHub; both together stay right when a server fills one of them carelessly.
    pub fn workflow_key(&self) -> String {
        let path = self.path.as_deref().map(|p| p.split('@').next().unwrap_or(p));
        match (self.workflow_id, path) {
            (None, None) => self.name.clone().unwrap_or_default(),
            (id, path) => format!("{}:{}", id.unwrap_or_default(), path.unwrap_or_default()),
        }
    }
}

/// `GET /repos/{o}/{r}/actions/runs/{id}/jobs`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct JobsJson {
    #[serde(default)]
    pub jobs: Vec<JobJson>,
}

/// A job of a run.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct JobJson {
    pub name: String,
    #[serde(default)]
    pub conclusion: Option<String>,
    #[serde(default)]
    pub steps: Vec<StepJson>,
    /// `…/check-runs/{id}`: the job's check run, which holds its annotations.
    #[serde(default)]
    pub check_run_url: Option<String>,
    /// The attempt of the run the job belongs to (the latest, with `filter=latest`).
    #[serde(default)]
    pub run_attempt: Option<u32>,
}

impl JobJson {
    /// The id of the job's check run: the last segment of `check_run_url`.
    pub fn check_run_id(&self) -> Option<u64> {
        self.check_run_url.as_deref()?.trim_end_matches('/').rsplit('/').next()?.parse().ok()
    }
}

/// A step of a job.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct StepJson {
    pub name: String,
    #[serde(default)]
    pub conclusion: Option<String>,
}

/// A check-run annotation (`GET /repos/{o}/{r}/check-runs/{id}/annotations`); only its message matters here.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct AnnotationJson {
    #[serde(default)]
    pub message: Option<String>,
}

/// An issue or a pull request, as `GET /repos/{o}/{r}/issues` lists both.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct IssueJson {
    pub number: u64,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub labels: Vec<LabelJson>,
    /// Present exactly when the item is a pull request.
    #[serde(default)]
    pub pull_request: Option<serde_json::Value>,
    #[serde(default)]
    pub created_at: Option<String>,
}

/// A label: an object on the REST API, a bare name in some older payloads.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum LabelJson {
    Object { name: String },
    Name(String),
}

impl LabelJson {
    pub fn name(&self) -> &str {
        match self {
            LabelJson::Object { name } | LabelJson::Name(name) => name,
        }
    }
}

/// A Dependabot alert.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct AlertJson {
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub security_advisory: Option<AdvisoryJson>,
    #[serde(default)]
    pub security_vulnerability: Option<VulnerabilityJson>,
}

/// The advisory behind an alert.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct AdvisoryJson {
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
}

/// The vulnerable package of an alert.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct VulnerabilityJson {
    #[serde(default)]
    pub severity: Option<String>,
}

impl AlertJson {
    /// The alert's severity; unknown words count as medium rather than dropping the alert.
    pub fn severity(&self) -> AlertSeverity {
        let word = self
            .security_advisory
            .as_ref()
            .and_then(|a| a.severity.clone())
            .or_else(|| self.security_vulnerability.as_ref().and_then(|v| v.severity.clone()))
            .unwrap_or_default();
        match word.to_ascii_lowercase().as_str() {
            "critical" => AlertSeverity::Critical,
            "high" => AlertSeverity::High,
            "low" => AlertSeverity::Low,
            _ => AlertSeverity::Medium,
        }
    }

    pub fn summary(&self) -> String {
        self.security_advisory.as_ref().and_then(|a| a.summary.clone()).unwrap_or_else(|| "dependabot alert".into())
    }
}

/// Conclusions that count as a failed run or job.
pub(crate) fn is_failure(conclusion: Option<&str>) -> bool {
    matches!(conclusion, Some("failure" | "timed_out" | "startup_failure" | "cancelled"))
}

/// Parses GitHub's RFC 3339 timestamps (`2024-05-01T12:00:00Z`, fractions and offsets allowed) without a date
/// library.
pub(crate) fn parse_time(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let (date, rest) = text.split_once(['T', 't', ' '])?;
    let mut date = date.splitn(3, '-').map(str::parse::<i64>);
    let (year, month, day) = (date.next()?.ok()?, date.next()?.ok()?, date.next()?.ok()?);
    let time_end = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (time, zone) = rest.split_at(time_end);
    let mut time = time.splitn(3, ':');
    let hour: i64 = time.next()?.parse().ok()?;
    let minute: i64 = time.next()?.parse().ok()?;
    let second: f64 = time.next().unwrap_or("0").parse().ok()?;
    let offset = match zone.chars().next() {
        Some(sign @ ('+' | '-')) => {
            let (h, m) = zone[1..].split_once(':').unwrap_or((&zone[1..], "0"));
            let secs = h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60;
            if sign == '+' { secs } else { -secs }
        }
        _ => 0,
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 - offset;
    let secs = u64::try_from(secs).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_secs_f64(second.max(0.0)))
}
