//! Translation from what a forge shows (snapshots) into what the brain understands (signals).

use hive_cerebrum::{CiClass, CiSignature, MissingKind, ScoreComponent, Severity, Signal, SignalKind};
use hive_forge::{AlertSeverity, CiFailure, CiState, FailureClass, HealthBreakdown, RepoSnapshot, is_critical_issue};

/// The signals a snapshot raises: one per failed CI job (with its run attempt), one per security alert, one per
/// critical open issue (as [`hive_forge::classify_issue`] ranks it), and one per expected file the forge knows is
/// missing (a security policy, a license, a CI workflow; none for an archived repository, which takes no change),
/// and one per `[[sync]]` whose files drifted from their source (behind, missing or in conflict).
pub fn signals_of(snapshot: &RepoSnapshot) -> Vec<Signal> {
    let mut signals: Vec<Signal> = snapshot.ci.failures.iter().map(ci_signal).collect();
    for alert in snapshot.security_alerts.iter().flatten() {
        signals.push(Signal::security(severity(alert.severity), alert.summary.clone()));
    }
    for issue in snapshot.open_issues.iter().filter(|i| is_critical_issue(i)) {
        signals.push(Signal {
            kind: SignalKind::CriticalIssue { number: issue.number },
            severity: Severity::Critical,
            title: format!("#{} {}", issue.number, issue.title),
        });
    }
    if !snapshot.archived {
        signals.extend(missing_files(snapshot).into_iter().map(Signal::missing));
    }
    for drift in snapshot.sync_drift.iter().flatten().filter(|d| d.to_sync() + d.conflicts > 0) {
        signals.push(Signal::sync_drift(drift.source.clone(), drift.to_sync(), drift.conflicts));
    }
    signals
}

/// The signal of one failed CI job: its typed signature, in the run attempt that failed when the forge has runs.
pub(crate) fn ci_signal(failure: &CiFailure) -> Signal {
    Signal::ci_failure(ci_signature(failure)).in_attempt(failure.run.as_ref().map(|run| run.attempt))
}

/// The expected files the forge says are not there (an unknown one is not missing), in [`MissingKind::ALL`]'s order.
pub(crate) fn missing_files(snapshot: &RepoSnapshot) -> Vec<MissingKind> {
    MissingKind::ALL
        .into_iter()
        .filter(|what| {
            let present = match what {
                MissingKind::SecurityPolicy => snapshot.has_security_policy,
                MissingKind::License => snapshot.has_license,
                MissingKind::CiWorkflow => snapshot.has_ci_workflow,
            };
            present == Some(false)
        })
        .collect()
}

/// The breakdown of a score as a health report carries it: the forge's components, field for field.
pub(crate) fn components(health: &HealthBreakdown) -> Vec<ScoreComponent> {
    health
        .components
        .iter()
        .map(|c| ScoreComponent { name: c.name.clone(), score: c.score, weight: c.weight, reason: c.reason.clone() })
        .collect()
}

/// How bad an alert is, as the cerebrum sees it: the one place an ecosystem [`AlertSeverity`] becomes a
/// [`Severity`] (and, through `Risk::from`, the risk of acting on it).
pub(crate) fn severity(severity: AlertSeverity) -> Severity {
    match severity {
        AlertSeverity::Low => Severity::Low,
        AlertSeverity::Medium => Severity::Medium,
        AlertSeverity::High => Severity::High,
        AlertSeverity::Critical => Severity::Critical,
    }
}

/// The typed signature of a failure, as the cerebrum sees it: the one place an ecosystem [`FailureClass`] becomes a
/// [`CiClass`], so a class added on one side without the other does not compile.
pub(crate) fn ci_signature(failure: &CiFailure) -> CiSignature {
    let class = match failure.class {
        FailureClass::Test => CiClass::Test,
        FailureClass::Build => CiClass::Build,
        FailureClass::Lint => CiClass::Lint,
        FailureClass::Deploy => CiClass::Deploy,
        FailureClass::Infrastructure => CiClass::Infrastructure,
        FailureClass::Dependency => CiClass::Dependency,
    };
    CiSignature { workflow: failure.workflow.clone(), job: failure.job.clone(), step: failure.step.clone(), class }
}

/// What a maintainer should look at in a snapshot, in a few words each (for people: `hive run` prints them, the
/// health report carries them; no decision reads them).
pub fn findings(snapshot: &RepoSnapshot) -> Vec<String> {
    let mut findings: Vec<String> = snapshot
        .ci
        .failures
        .iter()
        .map(|failure| {
            let what = match failure.class {
                FailureClass::Build => "build failing",
                FailureClass::Dependency => "dependencies do not resolve",
                FailureClass::Infrastructure => "tests did not finish",
                _ => "tests failing",
            };
            match &failure.step {
                Some(step) => format!("{what} ({}): {step}", failure.job),
                None => format!("{what} ({})", failure.job),
            }
        })
        .collect();
    for drift in snapshot.sync_drift.iter().flatten().filter(|d| d.to_sync() + d.conflicts > 0) {
        findings.push(Signal::sync_drift(drift.source.clone(), drift.to_sync(), drift.conflicts).title);
    }
    let Some(local) = &snapshot.local else { return findings };
    if snapshot.ci.state == CiState::Unknown {
        findings.push(match (&local.head, &local.test_command) {
            (None, _) => "no commits yet".to_owned(),
            (Some(_), None) => "no test command found".to_owned(),
            (Some(_), Some(command)) => format!("could not run {command} (the log says why)"),
        });
    }
    if local.dirty {
        findings.push("uncommitted changes".to_owned());
    }
    if let Some(upstream) = &local.upstream {
        if upstream.behind > 0 {
            findings.push(format!("{} behind '{}'", commits(upstream.behind), upstream.name));
        }
        if upstream.ahead > 0 {
            findings.push(format!("{} not pushed to '{}'", commits(upstream.ahead), upstream.name));
        }
    }
    if local.branch.is_none() && local.head.is_some() {
        findings.push("detached HEAD".to_owned());
    }
    if !local.stale_branches.is_empty() {
        findings.push(format!("stale branches: {}", local.stale_branches.join(", ")));
    }
    findings
}

fn commits(n: u32) -> String {
    if n == 1 { "1 commit".to_owned() } else { format!("{n} commits") }
}

/// The CI verdict as a health report's `ci` fact: `passing`, `failing` or `unknown`.
pub(crate) fn ci_fact(state: CiState) -> &'static str {
    match state {
        CiState::Passing => "passing",
        CiState::Failing => "failing",
        CiState::Unknown => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use hive_forge::{Alert, CiStatus, IssueSummary, RepoId};

    use super::*;

    #[test]
    fn an_alert_s_severity_and_the_risk_of_acting_on_it_keep_its_level() {
        use hive_cerebrum::Risk;
        let table = [
            (AlertSeverity::Low, Severity::Low, Risk::Low),
            (AlertSeverity::Medium, Severity::Medium, Risk::Medium),
            (AlertSeverity::High, Severity::High, Risk::High),
            (AlertSeverity::Critical, Severity::Critical, Risk::Critical),
        ];
        for (alert, expected, risk) in table {
            assert_eq!(severity(alert), expected, "{alert:?}");
            assert_eq!(Risk::from(severity(alert)), risk, "{alert:?}");
        }
    }

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
            has_license: Some(true),
            has_ci_workflow: Some(true),
            local: None,
            github: None,
            sync_drift: None,
        };
        let signals = signals_of(&snapshot);
        assert_eq!(signals.len(), 4, "{signals:#?}");
        assert_eq!(signals[0].ci_class(), Some(CiClass::Lint));
        assert!(signals[1].is_critical_security());
        assert_eq!(signals[2].kind, SignalKind::CriticalIssue { number: 1 });
        assert_eq!(signals[3].kind, SignalKind::CriticalIssue { number: 4 });
        // The bridge and the classifier agree on what is critical.
        for issue in &snapshot.open_issues {
            let raised = signals.iter().any(|s| s.kind == SignalKind::CriticalIssue { number: issue.number });
            assert_eq!(raised, issue.priority() == Some(hive_forge::Priority::Critical), "{issue:?}");
        }
    }

    #[test]
    fn the_typed_signature_reads_exactly_as_the_ecosystem_names_the_failure() {
        let failure = |job: &str, step: Option<&str>, class| CiFailure {
            workflow: "ci".into(),
            job: job.into(),
            step: step.map(Into::into),
            class,
            run: None,
        };
        // Every class, an unknown step, and names with slashes: the issue markers and the systemic index key written
        // before the signature was typed must come out byte for byte.
        let table = [
            (failure("test", Some("cargo test"), FailureClass::Test), CiClass::Test),
            (failure("build", Some("cargo build"), FailureClass::Build), CiClass::Build),
            (failure("lint", Some("cargo fmt --check"), FailureClass::Lint), CiClass::Lint),
            (failure("pages", None, FailureClass::Deploy), CiClass::Deploy),
            (failure("test", Some("Set up job"), FailureClass::Infrastructure), CiClass::Infrastructure),
            (failure("test", Some("run tests/unit"), FailureClass::Test), CiClass::Test),
            (failure("a/b", Some("x/lint"), FailureClass::Infrastructure), CiClass::Infrastructure),
        ];
        for (failure, class) in table {
            let signature = ci_signature(&failure);
            assert_eq!(signature.to_string(), failure.signature(), "{failure:?}");
            assert_eq!(signature.class, class, "{failure:?}");
            assert_eq!(
                (signature.job.as_str(), signature.step.as_deref()),
                (failure.job.as_str(), failure.step.as_deref())
            );
            assert_eq!(Signal::ci_failure(signature).ci_class(), Some(class), "{failure:?}");
        }
    }

    #[test]
    fn synced_files_behind_or_in_conflict_are_a_signal_and_a_finding_and_in_step_ones_are_not() {
        let drift = |behind, conflicts| hive_forge::SyncDrift {
            name: "legal".to_owned(),
            source: "acme/templates".to_owned(),
            behind,
            missing: 1,
            conflicts,
            ahead: 0,
        };
        let mut snapshot = RepoSnapshot {
            repo: RepoId::new("acme/api").expect("valid"),
            taken_at: SystemTime::now(),
            default_branch: "main".to_owned(),
            archived: false,
            pushed_at: None,
            ci: CiStatus::green(),
            open_issues: Vec::new(),
            security_alerts: None,
            has_security_policy: None,
            has_license: None,
            has_ci_workflow: None,
            local: None,
            github: None,
            sync_drift: Some(vec![drift(2, 0)]),
        };
        let signals = signals_of(&snapshot);
        assert_eq!(
            signals.iter().map(|s| (&s.kind, s.title.as_str())).collect::<Vec<_>>(),
            [(
                &SignalKind::SyncDrift { source: "acme/templates".to_owned(), behind: 3, conflicts: 0 },
                "3 files behind acme/templates"
            )]
        );
        assert_eq!(findings(&snapshot), ["3 files behind acme/templates"]);
        snapshot.sync_drift = Some(vec![hive_forge::SyncDrift { missing: 0, ..drift(0, 0) }]);
        assert!(signals_of(&snapshot).is_empty() && findings(&snapshot).is_empty(), "in step says nothing");
    }

    #[test]
    fn a_file_the_forge_knows_is_missing_is_a_typed_signal_and_an_unknown_one_is_not() {
        let snapshot = |policy, license, ci, archived| RepoSnapshot {
            repo: RepoId::new("acme/api").expect("valid"),
            taken_at: SystemTime::now(),
            default_branch: "main".to_owned(),
            archived,
            pushed_at: None,
            ci: CiStatus::green(),
            open_issues: Vec::new(),
            security_alerts: None,
            has_security_policy: policy,
            has_license: license,
            has_ci_workflow: ci,
            local: None,
            github: None,
            sync_drift: None,
        };
        let kinds = |s: &RepoSnapshot| -> Vec<SignalKind> { signals_of(s).into_iter().map(|s| s.kind).collect() };
        let missing = |what| SignalKind::MissingFile { what };
        let all_missing = snapshot(Some(false), Some(false), Some(false), false);
        assert_eq!(
            kinds(&all_missing),
            [missing(MissingKind::SecurityPolicy), missing(MissingKind::License), missing(MissingKind::CiWorkflow)]
        );
        assert_eq!(kinds(&snapshot(Some(false), None, Some(true), false)), [missing(MissingKind::SecurityPolicy)]);
        assert_eq!(kinds(&snapshot(None, Some(false), None, false)), [missing(MissingKind::License)]);
        assert_eq!(kinds(&snapshot(Some(true), Some(true), Some(true), false)), []);
        // An archived repository takes no change: nothing to propose about its files.
        assert_eq!(kinds(&snapshot(Some(false), Some(false), Some(false), true)), []);
        let signals = signals_of(&all_missing);
        assert_eq!(signals[1].severity, Severity::Medium);
        assert_eq!(signals[1].title, "no license (LICENSE)");
    }

    #[test]
    fn a_ci_signal_carries_the_run_attempt_that_failed() {
        let run = |attempt| hive_forge::RunRef { id: 9, attempt, head_sha: "abc".into(), url: String::new() };
        let failure = |run| CiFailure {
            workflow: "ci".into(),
            job: "test".into(),
            step: None,
            class: FailureClass::Infrastructure,
            run,
        };
        let attempt = |f: &CiFailure| match ci_signal(f).kind {
            SignalKind::CiFailure { attempt, .. } => attempt,
            other => panic!("a ci failure, not {other:?}"),
        };
        assert_eq!(attempt(&failure(Some(run(2)))), Some(2));
        assert_eq!(attempt(&failure(Some(run(1)))), Some(1));
        assert_eq!(attempt(&failure(None)), None, "a forge without runs");
        // The attempt is not part of the failure's identity.
        assert_eq!(ci_signal(&failure(Some(run(2)))).title, ci_signal(&failure(None)).title);
    }
}
