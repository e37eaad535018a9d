//! Translation from what a forge shows (snapshots) into what the brain understands (signals).

use hive_cerebrum::{Severity, Signal, SignalKind};
use hive_ecosystem::{AlertSeverity, RepoSnapshot, is_critical_issue};

/// The signals a snapshot raises: one per failed CI job, one per security alert, one per critical open issue (as
/// [`hive_ecosystem::classify_issue`] ranks it).
pub fn signals_of(snapshot: &RepoSnapshot) -> Vec<Signal> {
    let mut signals: Vec<Signal> = snapshot.ci.failures.iter().map(|f| Signal::ci_failure(f.signature())).collect();
    for alert in snapshot.security_alerts.iter().flatten() {
        let severity = match alert.severity {
            AlertSeverity::Low => Severity::Low,
            AlertSeverity::Medium => Severity::Medium,
            AlertSeverity::High => Severity::High,
            AlertSeverity::Critical => Severity::Critical,
        };
        signals.push(Signal::security(severity, alert.summary.clone()));
    }
    for issue in snapshot.open_issues.iter().filter(|i| is_critical_issue(i)) {
        signals.push(Signal {
            kind: SignalKind::CriticalIssue { number: issue.number },
            severity: Severity::Critical,
            title: format!("#{} {}", issue.number, issue.title),
        });
    }
    signals
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use hive_ecosystem::{Alert, CiFailure, CiStatus, FailureClass, IssueSummary, RepoId};

    use super::*;

    #[test]
    fn one_signal_per_failure_alert_and_critical_issue() {
        let snapshot = RepoSnapshot {
            repo: RepoId::new("acme/api").expect("valid"),
            taken_at: SystemTime::now(),
            default_branch: "main".to_owned(),
            archived: false,
            pushed_at: None,
            ci: CiStatus::failing(vec![CiFailure {
                workflow: "ci".into(),
                job: "lint".into(),
                step: Some("fmt".into()),
                class: FailureClass::Lint,
                run: None,
            }]),
            open_issues: vec![
                IssueSummary { number: 1, title: "Crash on start".into(), labels: vec![] },
                IssueSummary { number: 2, title: "Typo in docs".into(), labels: vec!["docs".into()] },
                IssueSummary { number: 3, title: "Performance regression".into(), labels: vec!["type: bug".into()] },
                IssueSummary { number: 4, title: "Wrong exit code".into(), labels: vec!["priority: critical".into()] },
            ],
            security_alerts: Some(vec![Alert { summary: "CVE-1".into(), severity: AlertSeverity::Critical }]),
            has_security_policy: Some(true),
            local: None,
            github: None,
        };
        let signals = signals_of(&snapshot);
        assert_eq!(signals.len(), 4, "{signals:#?}");
        assert_eq!(signals[0].ci_class(), Some("lint"));
        assert!(signals[1].is_critical_security());
        assert_eq!(signals[2].kind, SignalKind::CriticalIssue { number: 1 });
        assert_eq!(signals[3].kind, SignalKind::CriticalIssue { number: 4 });
        // The bridge and the classifier agree on what is critical.
        for issue in &snapshot.open_issues {
            let raised = signals.iter().any(|s| s.kind == SignalKind::CriticalIssue { number: issue.number });
            assert_eq!(raised, issue.priority() == Some(hive_ecosystem::Priority::Critical), "{issue:?}");
        }
    }
}
