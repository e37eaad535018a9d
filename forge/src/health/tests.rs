//! Table-driven tests for health scoring: every component, unknowns, and the threshold's boundaries.

use std::time::{Duration, SystemTime};

use super::*;
use crate::{Alert, CiFailure, CiStatus, FailureClass, GitHubFacts, RepoId};

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// A snapshot with every component known and perfect, taken at a fixed moment.
fn perfect() -> RepoSnapshot {
    let taken_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    RepoSnapshot {
        repo: RepoId::new("acme/api").expect("literal name"),
        taken_at,
        default_branch: "main".to_owned(),
        archived: false,
        pushed_at: Some(taken_at - DAY),
        ci: CiStatus::green(),
        open_issues: Vec::new(),
        security_alerts: Some(Vec::new()),
        has_security_policy: Some(true),
        has_license: Some(true),
        has_ci_workflow: Some(true),
        local: None,
        github: None,
        sync_drift: None,
    }
}

fn pushed_days_ago(days: u64) -> impl Fn(&mut RepoSnapshot) {
    move |s| s.pushed_at = Some(s.taken_at - DAY * u32::try_from(days).expect("small"))
}

fn oldest_pull_request_days_ago(days: u64) -> impl Fn(&mut RepoSnapshot) {
    move |s| {
        let opened = s.taken_at - DAY * u32::try_from(days).expect("small");
        s.github = Some(GitHubFacts {
            open_pull_requests: 3,
            oldest_open_pull_request_at: Some(opened),
            ..GitHubFacts::default()
        });
    }
}

fn alerts(severities: &[AlertSeverity]) -> Option<Vec<Alert>> {
    Some(severities.iter().map(|&severity| Alert { summary: "advisory".to_owned(), severity }).collect())
}

fn issue(number: u64, title: &str, labels: &[&str]) -> IssueSummary {
    IssueSummary { number, title: title.to_owned(), labels: labels.iter().map(|l| (*l).to_owned()).collect() }
}

fn failure(job: &str) -> CiFailure {
    CiFailure { workflow: "ci".to_owned(), job: job.to_owned(), step: None, class: FailureClass::Test, run: None }
}

#[track_caller]
fn check(snapshot: &RepoSnapshot, expected: u8) {
    let health = score(snapshot);
    assert_eq!(health.score, expected, "{health:#?}");
    assert_eq!(health.healthy, expected >= HEALTHY_THRESHOLD, "{health:#?}");
}

#[test]
fn scores() {
    type Change = Box<dyn Fn(&mut RepoSnapshot)>;
    let table: Vec<(&str, Change, u8)> = vec![
        ("perfect", Box::new(|_| {}), 100),
        // ci: 0 x 10 + 10 x 20 over 30.
        ("ci failing", Box::new(|s| s.ci = CiStatus::failing(vec![failure("test")])), 67),
        ("ci unknown", Box::new(|s| s.ci.state = CiState::Unknown), 100),
        ("low alert", Box::new(|s| s.security_alerts = alerts(&[AlertSeverity::Low])), 95),
        // 262.5 / 30 = 8.75 exactly: halves round up.
        ("medium alert", Box::new(|s| s.security_alerts = alerts(&[AlertSeverity::Low, AlertSeverity::Medium])), 88),
        ("high alert", Box::new(|s| s.security_alerts = alerts(&[AlertSeverity::High])), 80),
        ("critical alert", Box::new(|s| s.security_alerts = alerts(&[AlertSeverity::Critical])), 75),
        ("alerts unknown", Box::new(|s| s.security_alerts = None), 100),
        ("archived", Box::new(|s| s.archived = true), 83),
        ("archived but fresh", Box::new(|s| (s.archived, s.pushed_at) = (true, Some(s.taken_at))), 83),
        ("pushed 90 days ago", Box::new(pushed_days_ago(90)), 100),
        ("pushed 228 days ago", Box::new(pushed_days_ago(228)), 92),
        ("pushed 365 days ago", Box::new(pushed_days_ago(365)), 83),
        ("pushed unknown", Box::new(|s| s.pushed_at = None), 100),
        ("one critical issue", Box::new(|s| s.open_issues = vec![issue(1, "Crash on start", &[])]), 95),
        (
            "four critical issues",
            Box::new(|s| s.open_issues = (1..=4).map(|n| issue(n, "x", &["security"])).collect()),
            83,
        ),
        ("ordinary issues", Box::new(|s| s.open_issues = vec![issue(1, "Typo", &["documentation"])]), 100),
        ("no security policy", Box::new(|s| s.has_security_policy = Some(false)), 92),
        ("no open pull requests", Box::new(|s| s.github = Some(GitHubFacts::default())), 100),
        ("oldest pull request 30 days old", Box::new(oldest_pull_request_days_ago(30)), 100),
        // pr staleness 5 x 2.5: 312.5 / 32.5 = 9.6.
        ("oldest pull request 105 days old", Box::new(oldest_pull_request_days_ago(105)), 96),
        ("oldest pull request 180 days old", Box::new(oldest_pull_request_days_ago(180)), 92),
        (
            "pull request age unknown",
            Box::new(|s| s.github = Some(GitHubFacts { open_pull_requests: 2, ..GitHubFacts::default() })),
            100,
        ),
        ("security policy unknown", Box::new(|s| s.has_security_policy = None), 100),
        (
            "everything wrong",
            Box::new(|s| {
                s.ci = CiStatus::failing(Vec::new());
                s.security_alerts = alerts(&[AlertSeverity::Critical]);
                s.archived = true;
                s.open_issues = (1..=4).map(|n| issue(n, "data loss", &[])).collect();
                s.has_security_policy = Some(false);
            }),
            0,
        ),
    ];
    for (name, change, expected) in table {
        let mut snapshot = perfect();
        change(&mut snapshot);
        let health = score(&snapshot);
        assert_eq!((name, health.score), (name, expected), "{health:#?}");
        assert_eq!(health.healthy, expected >= HEALTHY_THRESHOLD, "{name}");
    }
}

#[test]
fn threshold_is_inclusive() {
    // ci 10 x 10, maintained 1 x 5 (330 days), one critical issue 7 x 5, the rest unknown: 140 / 20 = 7.0.
    let mut at_threshold = perfect();
    pushed_days_ago(330)(&mut at_threshold);
    at_threshold.open_issues = vec![issue(7, "Security: token leaks into logs", &[])];
    at_threshold.security_alerts = None;
    at_threshold.has_security_policy = None;
    check(&at_threshold, 70);
    assert!(score(&at_threshold).healthy);

    // ci 10 x 10, maintained 4 x 5 (255 days), one critical issue 7 x 5, no policy 0 x 2.5: 155 / 22.5 = 6.89.
    let mut below = at_threshold.clone();
    pushed_days_ago(255)(&mut below);
    below.has_security_policy = Some(false);
    check(&below, 69);
    assert!(!score(&below).healthy);
}

#[test]
fn failing_ci_alone_makes_a_repo_unhealthy() {
    let mut snapshot = perfect();
    snapshot.ci = CiStatus::failing(Vec::new());
    assert!(score(&snapshot).score < HEALTHY_THRESHOLD);
}

#[test]
fn unknown_components_are_left_out() {
    let mut snapshot = perfect();
    snapshot.ci.state = CiState::Unknown;
    snapshot.security_alerts = None;
    snapshot.pushed_at = None;
    snapshot.has_security_policy = None;
    snapshot.open_issues = vec![issue(1, "CVE-2024-1234 in openssl", &[])];
    let health = score(&snapshot);
    // Only critical issues are known: 7 out of 10.
    check(&snapshot, 70);
    let unknown: Vec<&str> = health.components.iter().filter(|c| c.score.is_none()).map(|c| c.name.as_str()).collect();
    assert_eq!(unknown, ["ci", "security_alerts", "maintained", "pr_staleness", "security_policy", "sync_drift"]);
}

#[test]
fn all_unknown_scores_zero_and_unhealthy() {
    let health = aggregate(vec![
        component("ci", None, CRITICAL, "no completed ci run on main".to_owned()),
        component("security_policy", None, LOW, "security policy unknown".to_owned()),
    ]);
    assert_eq!((health.score, health.healthy), (0, false));
    assert_eq!(health.components.len(), 2);
}

#[test]
fn maintained_decays_linearly() {
    let table = [(0, 10), (90, 10), (91, 10), (100, 10), (118, 9), (228, 5), (337, 1), (351, 1), (352, 0), (365, 0)];
    for (days, expected) in table {
        let mut snapshot = perfect();
        pushed_days_ago(days)(&mut snapshot);
        let maintained = score(&snapshot).component("maintained").cloned().expect("always present");
        assert_eq!((days, maintained.score), (days, Some(expected)), "{maintained:?}");
    }
    let mut snapshot = perfect();
    snapshot.pushed_at = Some(snapshot.taken_at + DAY);
    assert_eq!(score(&snapshot).component("maintained").and_then(|c| c.score), Some(10));
    pushed_days_ago(5000)(&mut snapshot);
    assert_eq!(score(&snapshot).component("maintained").and_then(|c| c.score), Some(0));
}

#[test]
fn critical_issue_detection() {
    let table = [
        (issue(1, "Crash on start", &[]), true),
        (issue(1, "Segfault in parser", &[]), true),
        (issue(1, "Possible data loss when disk is full", &[]), true),
        (issue(1, "Fix for CVE-2024-1234", &[]), true),
        (issue(1, "Bump deps", &["Priority: Critical"]), true),
        (issue(1, "Bump deps", &["type/security"]), true),
        (issue(1, "Bump deps", &["data-loss"]), true),
        (issue(1, "Bump deps", &["P0"]), true),
        (issue(1, "Add Crashpad support", &["enhancement"]), false),
        (issue(1, "Critically acclaimed docs", &[]), false),
        (issue(1, "Typo in README", &["documentation", "good first issue"]), false),
    ];
    for (issue, expected) in table {
        assert_eq!(is_critical_issue(&issue), expected, "{issue:?}");
    }
}

#[test]
fn reasons_are_short_sentences() {
    let mut snapshot = perfect();
    snapshot.ci = CiStatus::failing(vec![failure("test"), failure("lint")]);
    snapshot.security_alerts = alerts(&[AlertSeverity::Low, AlertSeverity::High, AlertSeverity::Low]);
    pushed_days_ago(120)(&mut snapshot);
    snapshot.open_issues = (1..=5).map(|n| issue(n, "crash", &[])).collect();
    snapshot.has_security_policy = Some(false);
    let reasons: Vec<(String, String)> = score(&snapshot).components.into_iter().map(|c| (c.name, c.reason)).collect();
    let expected = [
        ("ci", "2 failed jobs on main: ci/test, ci/lint"),
        ("security_alerts", "3 open security alerts, worst high"),
        ("maintained", "no activity for 120 days"),
        ("critical_issues", "5 open critical issues: #1, #2, #3 and 2 more"),
        ("pr_staleness", "pull requests not visible to this forge"),
        ("security_policy", "no security policy (SECURITY.md)"),
        ("sync_drift", "no synced files"),
    ];
    let expected: Vec<(String, String)> =
        expected.iter().map(|(name, reason)| ((*name).to_owned(), (*reason).to_owned())).collect();
    assert_eq!(reasons, expected);

    let reasons: Vec<String> = score(&perfect()).components.into_iter().map(|c| c.reason).collect();
    assert_eq!(
        reasons,
        [
            "ci passing on main",
            "no open security alerts",
            "last push 1 day ago",
            "no open critical issues",
            "pull requests not visible to this forge",
            "security policy present",
            "no synced files"
        ]
    );
}

#[test]
fn pr_staleness_reads_the_oldest_open_pull_request() {
    let table = [(0, 10), (30, 10), (55, 8), (105, 5), (179, 0), (180, 0), (900, 0)];
    for (days, expected) in table {
        let mut snapshot = perfect();
        oldest_pull_request_days_ago(days)(&mut snapshot);
        let component = score(&snapshot).component("pr_staleness").cloned().expect("always present");
        assert_eq!((days, component.score), (days, Some(expected)), "{component:?}");
    }
    let mut snapshot = perfect();
    oldest_pull_request_days_ago(105)(&mut snapshot);
    let reason = score(&snapshot).component("pr_staleness").map(|c| c.reason.clone());
    assert_eq!(reason.as_deref(), Some("3 open pull requests, oldest opened 105 days ago"));
    snapshot.github = Some(GitHubFacts::default());
    let reason = score(&snapshot).component("pr_staleness").map(|c| c.reason.clone());
    assert_eq!(reason.as_deref(), Some("no open pull requests"));
}

#[test]
fn weights_follow_risk() {
    let weights: Vec<(String, f32)> = score(&perfect()).components.into_iter().map(|c| (c.name, c.weight)).collect();
    let expected = [
        ("ci", 10.0),
        ("security_alerts", 7.5),
        ("maintained", 5.0),
        ("critical_issues", 5.0),
        ("pr_staleness", 2.5),
        ("security_policy", 2.5),
        ("sync_drift", 2.5),
    ];
    let expected: Vec<(String, f32)> = expected.iter().map(|(name, weight)| ((*name).to_owned(), *weight)).collect();
    assert_eq!(weights, expected);
}

#[test]
fn synced_files_cost_two_points_each_when_behind_or_in_conflict() {
    let drift = |behind, conflicts| crate::SyncDrift {
        name: "license".into(),
        source: "acme/templates".into(),
        behind,
        missing: 0,
        conflicts,
        ahead: 1,
    };
    let table = [(0, 0, 10, "synced files in step with acme/templates"), (3, 0, 4, "3 files behind acme/templates")];
    for (behind, conflicts, expected, reason) in table {
        let mut snapshot = perfect();
        snapshot.sync_drift = Some(vec![drift(behind, conflicts)]);
        let component = score(&snapshot).component("sync_drift").cloned().expect("always present");
        assert_eq!((component.score, component.reason.as_str()), (Some(expected), reason));
    }
    let mut snapshot = perfect();
    snapshot.sync_drift = Some(vec![drift(1, 9)]);
    let component = score(&snapshot).component("sync_drift").cloned().expect("always present");
    assert_eq!(component.score, Some(0), "never below zero");
    assert_eq!(component.reason, "1 file behind acme/templates, 9 files in conflict with acme/templates");
    assert!(score(&snapshot).score < score(&perfect()).score, "drift lowers the score");
}

#[test]
fn breakdown_round_trips_through_json() {
    let health = score(&perfect());
    let json = serde_json::to_string(&health).expect("serializable");
    let back: HealthBreakdown = serde_json::from_str(&json).expect("deserializable");
    assert_eq!(back, health);
}

#[test]
fn local_checkouts_are_judged_by_their_last_commit_not_their_working_state() {
    use crate::{LocalFacts, Upstream};
    let mut snapshot = perfect();
    // A local forge reports the last commit; pushed_at is ignored in favour of it.
    snapshot.pushed_at = None;
    snapshot.local = Some(LocalFacts {
        branch: Some("main".to_owned()),
        dirty: true,
        upstream: Some(Upstream { name: "origin/main".to_owned(), ahead: 0, behind: 3 }),
        last_commit_at: Some(snapshot.taken_at - DAY * 2),
        stale_branches: vec!["old".to_owned()],
        ..LocalFacts::default()
    });
    let health = score(&snapshot);
    assert_eq!(health.score, 100, "dirty, behind and stale branches cost nothing: {health:#?}");
    let maintained = health.component("maintained").expect("maintained");
    assert_eq!(
        maintained.reason,
        "last commit 2 days ago; uncommitted changes; 3 commits behind 'origin/main'; 1 stale branch"
    );

    let local = snapshot.local.as_mut().expect("local");
    local.last_commit_at = Some(snapshot.taken_at - DAY * 365);
    local.dirty = false;
    local.upstream = None;
    local.stale_branches.clear();
    let health = score(&snapshot);
    assert_eq!(health.component("maintained").expect("maintained").score, Some(0));
    assert_eq!(health.component("maintained").expect("maintained").reason, "no activity for 365 days");

    snapshot.local.as_mut().expect("local").last_commit_at = None;
    assert_eq!(score(&snapshot).component("maintained").expect("maintained").reason, "last commit unknown");
}
