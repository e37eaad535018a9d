//! Health scoring of one repository snapshot, in the manner of the OpenSSF Scorecard.
//!
//! Each component is scored 0 to 10 and weighted by the risk it stands for (critical 10, high 7.5, medium 5, low
//! 2.5). A component whose input the forge did not tell is left out of both the numerator and the denominator, so
//! a forge that cannot see security alerts neither rewards nor punishes a repository for them. The overall score is
//! the weighted mean scaled to 0..=100.
//!
//! The weights make failing CI alone enough to make a repository unhealthy: with everything else perfect it scores
//! 67, below [`HEALTHY_THRESHOLD`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{AlertSeverity, CiState, IssueSummary, RepoSnapshot, is_critical_issue};

/// The lowest [`HealthBreakdown::score`] that counts as healthy.
pub const HEALTHY_THRESHOLD: u8 = 70;

/// Weight of a component whose failure is a critical risk.
const CRITICAL: f32 = 10.0;
/// Weight of a component whose failure is a high risk.
const HIGH: f32 = 7.5;
/// Weight of a component whose failure is a medium risk.
const MEDIUM: f32 = 5.0;
/// Weight of a component whose failure is a low risk.
const LOW: f32 = 2.5;

/// Pushed this recently, a repository counts as fully maintained.
const FRESH_DAYS: u64 = 90;
/// Not pushed for this long, a repository counts as unmaintained; the score decays linearly in between.
const STALE_DAYS: u64 = 365;

/// An oldest open pull request this young costs nothing.
const PR_FRESH_DAYS: u64 = 30;
/// An oldest open pull request this old scores 0; the score decays linearly in between.
const PR_STALE_DAYS: u64 = 180;

/// What each open critical issue costs, out of 10.
const CRITICAL_ISSUE_COST: u8 = 3;

/// How healthy one repository looks, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthBreakdown {
    /// Overall score, 0 to 100.
    pub score: u8,
    /// Whether `score` reaches [`HEALTHY_THRESHOLD`] (and at least one component is known).
    pub healthy: bool,
    /// Every component, known or not, in a fixed order: `ci`, `security_alerts`, `maintained`, `critical_issues`,
    /// `pr_staleness`, `security_policy`, `sync_drift`.
    pub components: Vec<HealthComponent>,
}

impl HealthBreakdown {
    /// The component with the given name, such as `"ci"`.
    pub fn component(&self, name: &str) -> Option<&HealthComponent> {
        self.components.iter().find(|component| component.name == name)
    }
}

/// One scored aspect of a repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthComponent {
    /// A stable, snake_case name, such as `ci`.
    pub name: String,
    /// 0 (bad) to 10 (good); `None` when the input is unknown and the component is left out of the score.
    pub score: Option<u8>,
    /// How much the component counts: 10 critical, 7.5 high, 5 medium, 2.5 low.
    pub weight: f32,
    /// A short sentence saying why, such as `2 failed jobs on main: ci/test, ci/lint`.
    pub reason: String,
}

/// Scores a snapshot; ages are measured against [`RepoSnapshot::taken_at`], so the same snapshot always gets the
/// same score.
///
/// ```
/// use std::time::SystemTime;
/// use hive_forge::{CiStatus, RepoId, RepoSnapshot, score};
///
/// let snapshot = RepoSnapshot {
///     repo: RepoId::new("acme/api").unwrap(),
///     taken_at: SystemTime::now(),
///     default_branch: "main".into(),
///     archived: false,
///     pushed_at: None,
///     ci: CiStatus::failing(Vec::new()),
///     open_issues: Vec::new(),
///     security_alerts: None,
///     has_security_policy: None,
///     has_license: None,
///     has_ci_workflow: None,
///     local: None,
///     github: None,
///     sync_drift: None,
/// };
/// let health = score(&snapshot);
/// assert_eq!(health.score, 33); // ci 0 x 10, critical issues 10 x 5; the rest is unknown
/// assert!(!health.healthy);
/// assert_eq!(health.component("ci").unwrap().reason, "ci failing on main");
/// ```
pub fn score(snapshot: &RepoSnapshot) -> HealthBreakdown {
    aggregate(vec![
        ci(snapshot),
        security_alerts(snapshot),
        maintained(snapshot),
        critical_issues(&snapshot.open_issues),
        pr_staleness(snapshot),
        security_policy(snapshot.has_security_policy),
        sync_drift(snapshot.sync_drift.as_deref()),
    ])
}

/// Combines component scores into the weighted mean, leaving unknown ones out.
fn aggregate(components: Vec<HealthComponent>) -> HealthBreakdown {
    let (numerator, denominator) = components
        .iter()
        .filter_map(|component| component.score.map(|score| (f64::from(component.weight), f64::from(score))))
        .fold((0.0_f64, 0.0_f64), |(numerator, denominator), (weight, score)| {
            (numerator + weight * score, denominator + weight)
        });
    if denominator <= 0.0 {
        return HealthBreakdown { score: 0, healthy: false, components };
    }
    // Scaling before dividing keeps exact halves exact (weights and scores are multiples of 0.5), so rounding at
    // the threshold does not depend on floating-point noise.
    let score = (numerator * 10.0 / denominator).round().clamp(0.0, 100.0) as u8;
    HealthBreakdown { score, healthy: score >= HEALTHY_THRESHOLD, components }
}

fn component(name: &str, score: Option<u8>, weight: f32, reason: String) -> HealthComponent {
    HealthComponent { name: name.to_owned(), score, weight, reason }
}

fn ci(snapshot: &RepoSnapshot) -> HealthComponent {
    let branch = &snapshot.default_branch;
    let failures = &snapshot.ci.failures;
    let (score, reason) = match snapshot.ci.state {
        CiState::Passing => (Some(10), format!("ci passing on {branch}")),
        CiState::Failing if failures.is_empty() => (Some(0), format!("ci failing on {branch}")),
        CiState::Failing => {
            let jobs = failures.iter().map(|failure| format!("{}/{}", failure.workflow, failure.job));
            let jobs = list(jobs, failures.len());
            (Some(0), format!("{} on {branch}: {jobs}", plural(failures.len(), "failed job", "failed jobs")))
        }
        CiState::Unknown => (None, format!("no completed ci run on {branch}")),
    };
    component("ci", score, CRITICAL, reason)
}

fn security_alerts(snapshot: &RepoSnapshot) -> HealthComponent {
    let (score, reason) = match &snapshot.security_alerts {
        None => (None, "security alerts not visible to this forge".to_owned()),
        Some(alerts) => match alerts.iter().map(|alert| alert.severity).max() {
            None => (Some(10), "no open security alerts".to_owned()),
            Some(worst) => {
                let (score, name) = match worst {
                    AlertSeverity::Low => (8, "low"),
                    AlertSeverity::Medium => (5, "medium"),
                    AlertSeverity::High => (2, "high"),
                    AlertSeverity::Critical => (0, "critical"),
                };
                let count = plural(alerts.len(), "open security alert", "open security alerts");
                (Some(score), format!("{count}, worst {name}"))
            }
        },
    };
    component("security_alerts", score, HIGH, reason)
}

/// How recently the repository saw work. On a local checkout this is the last commit; a dirty tree, being behind
/// the upstream and stale branches are mentioned in the reason but cost nothing: they are normal states of a
/// working copy, not signs of neglect.
fn maintained(snapshot: &RepoSnapshot) -> HealthComponent {
    let (last, what) = match &snapshot.local {
        Some(local) => (local.last_commit_at, "commit"),
        None => (snapshot.pushed_at, "push"),
    };
    let (score, mut reason) = if snapshot.archived {
        (Some(0), "archived".to_owned())
    } else if let Some(last) = last {
        // A push "after" the snapshot (clock skew between forge and hive) is as fresh as it gets.
        let age = snapshot.taken_at.duration_since(last).unwrap_or(Duration::ZERO);
        let days = age.as_secs() / (24 * 60 * 60);
        let score = decay(days, FRESH_DAYS, STALE_DAYS);
        let reason = if days <= FRESH_DAYS {
            format!("last {what} {} ago", plural(days as usize, "day", "days"))
        } else {
            format!("no activity for {days} days")
        };
        (Some(score), reason)
    } else {
        (None, format!("last {what} unknown"))
    };
    if let Some(local) = &snapshot.local {
        if local.dirty {
            reason.push_str("; uncommitted changes");
        }
        if let Some(upstream) = local.upstream.as_ref().filter(|u| u.behind > 0) {
            let behind = plural(upstream.behind as usize, "commit", "commits");
            reason.push_str(&format!("; {behind} behind '{}'", upstream.name));
        }
        if !local.stale_branches.is_empty() {
            reason.push_str(&format!("; {}", plural(local.stale_branches.len(), "stale branch", "stale branches")));
        }
    }
    component("maintained", score, MEDIUM, reason)
}

fn critical_issues(issues: &[IssueSummary]) -> HealthComponent {
    let critical: Vec<&IssueSummary> = issues.iter().filter(|issue| is_critical_issue(issue)).collect();
    let count = u8::try_from(critical.len()).unwrap_or(u8::MAX);
    let score = 10_u8.saturating_sub(count.saturating_mul(CRITICAL_ISSUE_COST));
    let reason = if critical.is_empty() {
        "no open critical issues".to_owned()
    } else {
        let numbers = list(critical.iter().map(|issue| format!("#{}", issue.number)), critical.len());
        format!("{}: {numbers}", plural(critical.len(), "open critical issue", "open critical issues"))
    };
    component("critical_issues", Some(score), MEDIUM, reason)
}

/// How long the oldest open pull request has waited: contributions left unanswered are a sign of a maintainer
/// bottleneck, though a weak one (some projects keep long-lived drafts), hence the low weight. Only GitHub tells.
fn pr_staleness(snapshot: &RepoSnapshot) -> HealthComponent {
    let (score, reason) = match &snapshot.github {
        None => (None, "pull requests not visible to this forge".to_owned()),
        Some(facts) if facts.open_pull_requests == 0 => (Some(10), "no open pull requests".to_owned()),
        Some(facts) => match facts.oldest_open_pull_request_at {
            None => (None, "age of the open pull requests unknown".to_owned()),
            Some(opened) => {
                // Clock skew can put the opening "after" the snapshot: that is a brand-new pull request.
                let days =
                    snapshot.taken_at.duration_since(opened).unwrap_or(Duration::ZERO).as_secs() / (24 * 60 * 60);
                let score = decay(days, PR_FRESH_DAYS, PR_STALE_DAYS);
                let count = plural(facts.open_pull_requests as usize, "open pull request", "open pull requests");
                (Some(score), format!("{count}, oldest opened {} ago", plural(days as usize, "day", "days")))
            }
        },
    };
    component("pr_staleness", score, LOW, reason)
}

/// 10 up to `fresh` days, 0 from `stale` days, linear in between.
fn decay(days: u64, fresh: u64, stale: u64) -> u8 {
    if days <= fresh {
        10
    } else if days >= stale {
        0
    } else {
        let left = (stale - days) as f64 / (stale - fresh) as f64;
        (left * 10.0).round() as u8
    }
}

fn security_policy(present: Option<bool>) -> HealthComponent {
    let (score, reason) = match present {
        Some(true) => (Some(10), "security policy present"),
        Some(false) => (Some(0), "no security policy (SECURITY.md)"),
        None => (None, "security policy unknown"),
    };
    component("security_policy", score, LOW, reason.to_owned())
}

/// Files kept in step with a source: each file behind, missing or in conflict costs 2 of 10. Unknown (left out)
/// when no `[[sync]]` names the repository.
fn sync_drift(drift: Option<&[crate::SyncDrift]>) -> HealthComponent {
    let Some(drift) = drift else {
        return component("sync_drift", None, LOW, "no synced files".to_owned());
    };
    let out: u32 = drift.iter().map(|d| d.to_sync() + d.conflicts).sum();
    let mut parts = Vec::new();
    for d in drift.iter().filter(|d| d.to_sync() + d.conflicts > 0) {
        if d.to_sync() > 0 {
            parts.push(format!("{} behind {}", plural(d.to_sync() as usize, "file", "files"), d.source));
        }
        if d.conflicts > 0 {
            parts.push(format!("{} in conflict with {}", plural(d.conflicts as usize, "file", "files"), d.source));
        }
    }
    let reason = if parts.is_empty() {
        let sources: Vec<&str> = drift.iter().map(|d| d.source.as_str()).collect();
        format!("synced files in step with {}", sources.join(", "))
    } else {
        parts.join(", ")
    };
    let score = 10u32.saturating_sub(out.saturating_mul(2));
    component("sync_drift", Some(u8::try_from(score).unwrap_or(0)), LOW, reason)
}

/// `1 thing` or `3 things`.
fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// The first three items joined with commas, then `and N more`.
fn list(items: impl Iterator<Item = String>, count: usize) -> String {
    const SHOWN: usize = 3;
    let shown: Vec<String> = items.take(SHOWN).collect();
    match count.saturating_sub(SHOWN) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

#[cfg(test)]
mod tests;
