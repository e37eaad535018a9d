//! Governance of GitHub writes: every rule of `govern`, their order, limit boundaries, approval, the HTML record's
//! round trip with hostile values, and invariants checked over every combination of a generated grid.

use hive_cerebrum::{
    CiClass, CiSignature, Risk,
    governance::{
        ActionKind, ActionLevel, ChecksState, Counters, Emergency, LimitKind, Limits, Policy, Reason, Remedy, Switches,
        Verdict, WriteDecision, WriteProposal, fix_risk, govern,
    },
};

fn proposal(kind: ActionKind) -> WriteProposal {
    WriteProposal {
        kind,
        repo: "acme/api".to_owned(),
        key: format!("{}:acme/api:ci/test", kind.as_str()),
        target: Some("acme/api#12".to_owned()),
        risk: kind.base_risk(),
        checks: if kind == ActionKind::Merge { Some(ChecksState::Green) } else { None },
        approval_id: "a1".to_owned(),
        remedy: None,
    }
}

/// The systemic failure the emergencies of these tests were declared for.
fn cause() -> CiSignature {
    CiSignature::new("ci", "fmt", Some("cargo fmt --check"), CiClass::Lint)
}

/// A failure the emergencies of these tests were not declared for.
fn other_failure() -> CiSignature {
    CiSignature::new("ci", "test", None, CiClass::Test)
}

/// An emergency declared for [`cause`].
fn emergency_for_cause() -> Emergency {
    Emergency { active: true, recovery_signatures: [cause()].into() }
}

/// A policy that allows everything: autonomy and automerge on, level fix, default limits.
fn open_policy() -> Policy {
    Policy {
        level: ActionLevel::Fix,
        switches: Switches { autonomy: true, automerge: true, dry_run: false },
        limits: Limits::default(),
        emergency: Emergency::none(),
    }
}

fn check(proposal: &WriteProposal, policy: &Policy, counters: &Counters, approved: bool, expected: (Verdict, Reason)) {
    let decision = govern(proposal, policy, counters, approved);
    assert_eq!(
        (decision.verdict, decision.reason),
        expected,
        "proposal {proposal:?}\npolicy {policy:?}\ncounters {counters:?}\napproved {approved}"
    );
    assert_eq!(decision.kind, proposal.kind);
    assert_eq!(decision.repo, proposal.repo);
    assert_eq!(decision.key, proposal.key);
    assert_eq!(decision.risk, proposal.risk);
    assert_eq!(decision.level, policy.level);
}

#[test]
fn defaults_are_as_documented() {
    let policy = Policy::default();
    assert_eq!(policy.level, ActionLevel::Fix);
    assert_eq!(policy.switches, Switches { autonomy: false, automerge: false, dry_run: false });
    assert_eq!(policy.emergency, Emergency { active: false, recovery_signatures: Default::default() });
    assert_eq!(
        policy.limits,
        Limits { prs_per_day: 10, issues_per_hour: 20, comments_per_issue_per_day: 1, content_per_minute: 20 }
    );
    // Out of the box nothing is written.
    for kind in ActionKind::ALL {
        check(&proposal(kind), &policy, &Counters::default(), true, (Verdict::WouldDo, Reason::AutonomyOff));
    }
}

#[test]
fn action_kind_properties() {
    use ActionKind::*;
    let table = [
        (OpenIssue, "open_issue", true, ActionLevel::Issue, Risk::Low),
        (UpdateIssue, "update_issue", false, ActionLevel::Issue, Risk::Low),
        (Comment, "comment", true, ActionLevel::Issue, Risk::Low),
        (CloseIssue, "close_issue", false, ActionLevel::Issue, Risk::Low),
        (ReopenIssue, "reopen_issue", false, ActionLevel::Issue, Risk::Low),
        (Label, "label", false, ActionLevel::Issue, Risk::Low),
        (RerunJobs, "rerun_jobs", false, ActionLevel::Fix, Risk::Low),
        (OpenPullRequest, "open_pull_request", true, ActionLevel::Fix, Risk::Low),
        (PushBranch, "push_branch", false, ActionLevel::Fix, Risk::Low),
        (Merge, "merge", false, ActionLevel::Fix, Risk::Medium),
        (EmergencyAlert, "emergency_alert", true, ActionLevel::Issue, Risk::Low),
    ];
    assert_eq!(table.len(), ActionKind::ALL.len());
    for (kind, name, creates, level, risk) in table {
        assert_eq!(kind.as_str(), name);
        assert_eq!(kind.to_string(), name);
        assert_eq!(name.parse::<ActionKind>(), Ok(kind));
        assert_eq!(serde_json::to_string(&kind).expect("serializes"), format!("\"{name}\""));
        assert_eq!(kind.creates_content(), creates, "{name}");
        assert_eq!(kind.min_level(), level, "{name}");
        assert_eq!(kind.base_risk(), risk, "{name}");
    }
    let err = "push".parse::<ActionKind>().expect_err("not a kind");
    assert!(err.contains("'push'") && err.contains("open_pull_request"), "{err}");
}

#[test]
fn action_level_parses_orders_and_serializes() {
    assert!(ActionLevel::Log < ActionLevel::Issue && ActionLevel::Issue < ActionLevel::Fix);
    for (level, name) in [(ActionLevel::Log, "log"), (ActionLevel::Issue, "issue"), (ActionLevel::Fix, "fix")] {
        assert_eq!(level.as_str(), name);
        assert_eq!(name.parse::<ActionLevel>(), Ok(level));
        assert_eq!(serde_json::to_string(&level).expect("serializes"), format!("\"{name}\""));
    }
    let err = "Fix!".parse::<ActionLevel>().expect_err("not a level");
    assert!(err.contains("'Fix!'") && err.contains("log, issue, fix"), "{err}");
    assert_eq!(LimitKind::CommentsPerIssuePerDay.as_str(), "comments_per_issue_per_day");
    assert_eq!(LimitKind::ContentPerMinute.as_str(), "content_per_minute");
    assert_eq!(LimitKind::IssuesPerHour.as_str(), "issues_per_hour");
    assert_eq!(LimitKind::PrsPerDay.as_str(), "prs_per_day");
}

#[test]
fn each_rule() {
    use ActionKind::*;
    let none = Counters::default();
    let open = open_policy();
    let with = |f: &dyn Fn(&mut Policy)| {
        let mut policy = open_policy();
        f(&mut policy);
        policy
    };
    let emergency = with(&|p| p.emergency.active = true);
    let autonomy_off = with(&|p| p.switches.autonomy = false);
    let level_issue = with(&|p| p.level = ActionLevel::Issue);
    let level_log = with(&|p| p.level = ActionLevel::Log);
    let automerge_off = with(&|p| p.switches.automerge = false);
    let dry_run = with(&|p| p.switches.dry_run = true);
    let risky = |kind, risk| WriteProposal { risk, ..proposal(kind) };
    let merge_with = |checks| WriteProposal { checks, ..proposal(Merge) };

    let table: Vec<(WriteProposal, &Policy, bool, (Verdict, Reason))> = vec![
        // 1. Emergency freezes everything but the alert itself.
        (proposal(Comment), &emergency, false, (Verdict::Deny, Reason::EmergencyFreeze)),
        (proposal(Merge), &emergency, true, (Verdict::Deny, Reason::EmergencyFreeze)),
        (proposal(EmergencyAlert), &emergency, false, (Verdict::Allow, Reason::Allowed)),
        // 2. Autonomy off records, never writes; the alert too.
        (proposal(OpenIssue), &autonomy_off, false, (Verdict::WouldDo, Reason::AutonomyOff)),
        (proposal(EmergencyAlert), &autonomy_off, false, (Verdict::WouldDo, Reason::AutonomyOff)),
        // 3. Level.
        (
            proposal(OpenPullRequest),
            &level_issue,
            false,
            (Verdict::WouldDo, Reason::BelowLevel { needed: ActionLevel::Fix, level: ActionLevel::Issue }),
        ),
        (
            proposal(RerunJobs),
            &level_issue,
            false,
            (Verdict::WouldDo, Reason::BelowLevel { needed: ActionLevel::Fix, level: ActionLevel::Issue }),
        ),
        (proposal(Comment), &level_issue, false, (Verdict::Allow, Reason::Allowed)),
        (
            proposal(Label),
            &level_log,
            false,
            (Verdict::WouldDo, Reason::BelowLevel { needed: ActionLevel::Issue, level: ActionLevel::Log }),
        ),
        (
            proposal(EmergencyAlert),
            &level_log,
            false,
            (Verdict::WouldDo, Reason::BelowLevel { needed: ActionLevel::Issue, level: ActionLevel::Log }),
        ),
        // 4. Merge needs green checks, then automerge.
        (merge_with(None), &open, false, (Verdict::Deny, Reason::ChecksNotGreen { checks: ChecksState::Missing })),
        (
            merge_with(Some(ChecksState::Pending)),
            &open,
            false,
            (Verdict::Deny, Reason::ChecksNotGreen { checks: ChecksState::Pending }),
        ),
        (
            merge_with(Some(ChecksState::Failing)),
            &open,
            false,
            (Verdict::Deny, Reason::ChecksNotGreen { checks: ChecksState::Failing }),
        ),
        (
            merge_with(Some(ChecksState::Missing)),
            &open,
            false,
            (Verdict::Deny, Reason::ChecksNotGreen { checks: ChecksState::Missing }),
        ),
        (merge_with(Some(ChecksState::Green)), &automerge_off, false, (Verdict::Deny, Reason::AutomergeOff)),
        (merge_with(Some(ChecksState::Green)), &open, false, (Verdict::Allow, Reason::Allowed)),
        // 5. Approval for high and critical risk.
        (risky(OpenPullRequest, Risk::High), &open, false, (Verdict::Deny, Reason::NeedsApproval { risk: Risk::High })),
        (risky(Comment, Risk::Critical), &open, false, (Verdict::Deny, Reason::NeedsApproval { risk: Risk::Critical })),
        (risky(OpenPullRequest, Risk::High), &open, true, (Verdict::Allow, Reason::Allowed)),
        (risky(Merge, Risk::Critical), &open, true, (Verdict::Allow, Reason::Allowed)),
        (risky(OpenPullRequest, Risk::Medium), &open, false, (Verdict::Allow, Reason::Allowed)),
        // 7. Dry run.
        (proposal(OpenPullRequest), &dry_run, false, (Verdict::Draft, Reason::DryRun)),
        (proposal(Merge), &dry_run, false, (Verdict::Deny, Reason::DryRun)),
        (proposal(OpenIssue), &dry_run, false, (Verdict::WouldDo, Reason::DryRun)),
        (proposal(RerunJobs), &dry_run, false, (Verdict::WouldDo, Reason::DryRun)),
        (proposal(EmergencyAlert), &dry_run, false, (Verdict::WouldDo, Reason::DryRun)),
    ];
    for (proposal, policy, approved, expected) in table {
        check(&proposal, policy, &none, approved, expected);
    }
    // 8. Everything allowed by the open policy when nothing was spent.
    for kind in ActionKind::ALL {
        check(&proposal(kind), &open, &none, false, (Verdict::Allow, Reason::Allowed));
    }
}

#[test]
fn an_emergency_lets_through_only_the_remedies_of_its_causes() {
    use ActionKind::*;
    let none = Counters::default();
    let prs_spent = Counters { prs_last_day: 10, ..Counters::default() };
    let in_emergency = |f: &dyn Fn(&mut Policy)| {
        let mut policy = Policy { emergency: emergency_for_cause(), ..open_policy() };
        f(&mut policy);
        policy
    };
    let rerun = |signature: CiSignature| WriteProposal {
        remedy: Some(Remedy::InfrastructureRerun { signature }),
        ..proposal(RerunJobs)
    };
    let fix = |signature: CiSignature| WriteProposal {
        remedy: Some(Remedy::FormatterFix { signature }),
        ..proposal(OpenPullRequest)
    };
    let mismatched = |kind, remedy| WriteProposal { remedy: Some(remedy), ..proposal(kind) };
    let frozen = (Verdict::Deny, Reason::EmergencyFreeze);
    let allowed = (Verdict::Allow, Reason::Allowed);

    // (proposal, policy, counters, expected, recovery recorded)
    type Row<'a> = (WriteProposal, Policy, &'a Counters, (Verdict, Reason), Option<CiSignature>);
    let table: Vec<Row<'_>> = vec![
        // The remedies of the cause pass the freeze and are recorded as recovery.
        (rerun(cause()), in_emergency(&|_| {}), &none, allowed, Some(cause())),
        (fix(cause()), in_emergency(&|_| {}), &none, allowed, Some(cause())),
        // A remedy for another failure, or of another kind than the write, stays frozen.
        (fix(other_failure()), in_emergency(&|_| {}), &none, frozen, None),
        (rerun(other_failure()), in_emergency(&|_| {}), &none, frozen, None),
        (
            mismatched(OpenPullRequest, Remedy::InfrastructureRerun { signature: cause() }),
            in_emergency(&|_| {}),
            &none,
            frozen,
            None,
        ),
        (
            mismatched(RerunJobs, Remedy::FormatterFix { signature: cause() }),
            in_emergency(&|_| {}),
            &none,
            frozen,
            None,
        ),
        (
            mismatched(OpenIssue, Remedy::FormatterFix { signature: cause() }),
            in_emergency(&|_| {}),
            &none,
            frozen,
            None,
        ),
        (mismatched(Merge, Remedy::FormatterFix { signature: cause() }), in_emergency(&|_| {}), &none, frozen, None),
        // Everything that is no remedy stays frozen; the alert passes as before.
        (proposal(OpenIssue), in_emergency(&|_| {}), &none, frozen, None),
        (proposal(Comment), in_emergency(&|_| {}), &none, frozen, None),
        (proposal(OpenPullRequest), in_emergency(&|_| {}), &none, frozen, None),
        (proposal(EmergencyAlert), in_emergency(&|_| {}), &none, allowed, None),
        // An emergency without a systemic cause (forced, fleet health, security) has nothing to recover from.
        (fix(cause()), in_emergency(&|p| p.emergency = Emergency::declared(&[])), &none, frozen, None),
        // Recovery passes the freeze only: every other rule and limit still applies.
        (
            fix(cause()),
            in_emergency(&|p| p.switches.autonomy = false),
            &none,
            (Verdict::WouldDo, Reason::AutonomyOff),
            Some(cause()),
        ),
        (
            rerun(cause()),
            in_emergency(&|p| p.level = ActionLevel::Issue),
            &none,
            (Verdict::WouldDo, Reason::BelowLevel { needed: ActionLevel::Fix, level: ActionLevel::Issue }),
            Some(cause()),
        ),
        (
            fix(cause()),
            in_emergency(&|_| {}),
            &prs_spent,
            (Verdict::Deny, Reason::LimitReached { limit: LimitKind::PrsPerDay, used: 10, max: 10 }),
            Some(cause()),
        ),
        (
            WriteProposal { risk: Risk::High, ..fix(cause()) },
            in_emergency(&|_| {}),
            &none,
            (Verdict::Deny, Reason::NeedsApproval { risk: Risk::High }),
            Some(cause()),
        ),
        (
            fix(cause()),
            in_emergency(&|p| p.switches.dry_run = true),
            &none,
            (Verdict::Draft, Reason::DryRun),
            Some(cause()),
        ),
        // Without an emergency a remedy is an ordinary write, not recovery.
        (fix(cause()), open_policy(), &none, allowed, None),
        (rerun(cause()), open_policy(), &none, allowed, None),
    ];
    for (proposal, policy, counters, expected, recovery) in table {
        check(&proposal, &policy, counters, false, expected);
        let decision = govern(&proposal, &policy, counters, false);
        assert_eq!(decision.recovery, recovery, "{proposal:?} {policy:?}");
        // The decision record says so, in the body and the audit trail.
        assert_eq!(WriteDecision::parse_html_record(&decision.html_record()), Some(decision.clone()));
        match &recovery {
            Some(signature) => assert!(decision.summary().ends_with(&format!("(recovery from '{signature}')"))),
            None => assert!(!decision.summary().contains("recovery"), "{}", decision.summary()),
        }
    }
}

#[test]
fn an_emergency_declared_for_systemic_failures_answers_their_signatures_only() {
    use hive_cerebrum::{EmergencyReason, MemberId};
    let reasons = [
        EmergencyReason::FleetHealthLow { share: 0.2, threshold: 0.5 },
        EmergencyReason::SystemicFailure { signature: cause(), members: vec![MemberId::new("a")] },
        EmergencyReason::CriticalSecurity { members: vec![MemberId::new("b")] },
        EmergencyReason::SystemicFailure {
            signature: CiSignature::new("ci", "net", None, CiClass::Infrastructure),
            members: vec![],
        },
        EmergencyReason::Forced,
    ];
    let emergency = Emergency::declared(&reasons);
    assert!(emergency.active);
    assert_eq!(
        emergency.recovery_signatures.iter().map(CiSignature::to_string).collect::<Vec<_>>(),
        ["ci/fmt/cargo fmt --check/lint", "ci/net/-/infrastructure"]
    );
    assert_eq!(Emergency::declared(&[EmergencyReason::Forced]), Emergency { active: true, ..Emergency::none() });
    assert!(!Emergency::none().active);
    // A record written before recovery existed still parses.
    let old = r#"<!-- hive:decision {"verdict":"allow","reason":{"reason":"allowed"},"kind":"comment","repo":"o/r","key":"k","risk":"low","level":"fix"} -->"#;
    assert_eq!(WriteDecision::parse_html_record(old).map(|d| d.recovery), Some(None));
}

#[test]
fn rule_order() {
    use ActionKind::*;
    let none = Counters::default();
    let spent =
        Counters { prs_last_day: 10, issues_last_hour: 20, comments_on_target_last_day: 1, content_last_minute: 20 };
    let policy = |f: &dyn Fn(&mut Policy)| {
        let mut policy = open_policy();
        f(&mut policy);
        policy
    };
    let high = |kind| WriteProposal { risk: Risk::High, ..proposal(kind) };
    let pr_limit = Reason::LimitReached { limit: LimitKind::PrsPerDay, used: 10, max: 10 };

    let table: Vec<(WriteProposal, Policy, &Counters, (Verdict, Reason))> = vec![
        // Emergency beats autonomy off, level, approval, limits and dry run.
        (
            proposal(Comment),
            policy(&|p| {
                p.emergency.active = true;
                p.switches.autonomy = false;
                p.switches.dry_run = true;
                p.level = ActionLevel::Log;
            }),
            &spent,
            (Verdict::Deny, Reason::EmergencyFreeze),
        ),
        // Autonomy off beats the level.
        (
            proposal(Merge),
            policy(&|p| {
                p.switches.autonomy = false;
                p.level = ActionLevel::Log;
            }),
            &none,
            (Verdict::WouldDo, Reason::AutonomyOff),
        ),
        // The level beats the merge checks.
        (
            WriteProposal { checks: None, ..proposal(Merge) },
            policy(&|p| p.level = ActionLevel::Issue),
            &none,
            (Verdict::WouldDo, Reason::BelowLevel { needed: ActionLevel::Fix, level: ActionLevel::Issue }),
        ),
        // Checks beat automerge; automerge beats approval.
        (
            WriteProposal { checks: Some(ChecksState::Failing), ..high(Merge) },
            policy(&|p| p.switches.automerge = false),
            &none,
            (Verdict::Deny, Reason::ChecksNotGreen { checks: ChecksState::Failing }),
        ),
        (high(Merge), policy(&|p| p.switches.automerge = false), &none, (Verdict::Deny, Reason::AutomergeOff)),
        // Merge rules beat dry run.
        (
            WriteProposal { checks: Some(ChecksState::Pending), ..proposal(Merge) },
            policy(&|p| p.switches.dry_run = true),
            &none,
            (Verdict::Deny, Reason::ChecksNotGreen { checks: ChecksState::Pending }),
        ),
        // Approval beats limits.
        (high(OpenPullRequest), open_policy(), &spent, (Verdict::Deny, Reason::NeedsApproval { risk: Risk::High })),
        // Limits beat dry run: a spent limit is not even drafted.
        (proposal(OpenPullRequest), policy(&|p| p.switches.dry_run = true), &spent, (Verdict::Deny, pr_limit)),
        // The kind's own limit is reported before the shared content limit.
        (proposal(OpenPullRequest), open_policy(), &spent, (Verdict::Deny, pr_limit)),
        (
            proposal(OpenIssue),
            open_policy(),
            &spent,
            (Verdict::Deny, Reason::LimitReached { limit: LimitKind::IssuesPerHour, used: 20, max: 20 }),
        ),
        (
            proposal(Comment),
            open_policy(),
            &spent,
            (Verdict::Deny, Reason::LimitReached { limit: LimitKind::CommentsPerIssuePerDay, used: 1, max: 1 }),
        ),
        // Kinds no limit concerns pass with every counter spent.
        (proposal(Label), open_policy(), &spent, (Verdict::Allow, Reason::Allowed)),
        (proposal(Merge), open_policy(), &spent, (Verdict::Allow, Reason::Allowed)),
        (proposal(RerunJobs), open_policy(), &spent, (Verdict::Allow, Reason::Allowed)),
        (proposal(UpdateIssue), open_policy(), &spent, (Verdict::Allow, Reason::Allowed)),
    ];
    for (proposal, policy, counters, expected) in table {
        check(&proposal, &policy, counters, false, expected);
    }
}

#[test]
fn limit_boundaries() {
    use ActionKind::*;
    let limits = Limits { prs_per_day: 3, issues_per_hour: 5, comments_per_issue_per_day: 2, content_per_minute: 7 };
    let policy = Policy { limits, ..open_policy() };
    type Set = fn(&mut Counters, u32);
    let cases: [(ActionKind, LimitKind, u32, Set); 7] = [
        (OpenPullRequest, LimitKind::PrsPerDay, 3, |c, n| c.prs_last_day = n),
        (OpenIssue, LimitKind::IssuesPerHour, 5, |c, n| c.issues_last_hour = n),
        (EmergencyAlert, LimitKind::IssuesPerHour, 5, |c, n| c.issues_last_hour = n),
        (Comment, LimitKind::CommentsPerIssuePerDay, 2, |c, n| c.comments_on_target_last_day = n),
        (OpenIssue, LimitKind::ContentPerMinute, 7, |c, n| c.content_last_minute = n),
        (Comment, LimitKind::ContentPerMinute, 7, |c, n| c.content_last_minute = n),
        (OpenPullRequest, LimitKind::ContentPerMinute, 7, |c, n| c.content_last_minute = n),
    ];
    for (kind, limit, max, set) in cases {
        for (used, expected) in [
            (0, (Verdict::Allow, Reason::Allowed)),
            (max - 1, (Verdict::Allow, Reason::Allowed)),
            (max, (Verdict::Deny, Reason::LimitReached { limit, used: max, max })),
            (max + 40, (Verdict::Deny, Reason::LimitReached { limit, used: max + 40, max })),
        ] {
            let mut counters = Counters::default();
            set(&mut counters, used);
            check(&proposal(kind), &policy, &counters, false, expected);
        }
    }
    // The content limit does not concern kinds that create no content.
    let flooded = Counters { content_last_minute: 1000, ..Counters::default() };
    for kind in [UpdateIssue, CloseIssue, ReopenIssue, Label, RerunJobs, Merge] {
        check(&proposal(kind), &policy, &flooded, false, (Verdict::Allow, Reason::Allowed));
    }
    // A limit of zero forbids the kind entirely.
    let zero = Policy { limits: Limits { prs_per_day: 0, ..limits }, ..open_policy() };
    check(
        &proposal(OpenPullRequest),
        &zero,
        &Counters::default(),
        false,
        (Verdict::Deny, Reason::LimitReached { limit: LimitKind::PrsPerDay, used: 0, max: 0 }),
    );
}

#[test]
fn summary_json_and_reason_tags() {
    let spent = Counters { prs_last_day: 10, ..Counters::default() };
    let decision = govern(&proposal(ActionKind::OpenPullRequest), &open_policy(), &spent, false);
    assert_eq!(decision.summary(), "deny open_pull_request acme/api: limit prs_per_day reached (10/10)");
    assert!(!decision.is_write());
    let json: serde_json::Value = serde_json::from_str(&decision.to_json()).expect("valid json");
    assert_eq!(json["verdict"], "deny");
    assert_eq!(json["reason"]["reason"], "limit_reached");
    assert_eq!(json["reason"]["limit"], "prs_per_day");
    assert_eq!(json["reason"]["used"], 10);
    assert_eq!(json["level"], "fix");
    assert_eq!(json["risk"], "low");
    assert!(!decision.to_json().contains('\n'));

    let draft = govern(
        &proposal(ActionKind::OpenPullRequest),
        &Policy { switches: Switches { dry_run: true, ..open_policy().switches }, ..open_policy() },
        &Counters::default(),
        false,
    );
    assert!(draft.is_write());
    assert_eq!(draft.verdict, Verdict::Draft);
    let would = govern(&proposal(ActionKind::Comment), &Policy::default(), &Counters::default(), false);
    assert!(!would.is_write());
    assert_eq!(would.summary(), "would_do comment acme/api: autonomy is off");
    // The run summary names what would be done when the write is for a backlog item.
    let mut report = hive_cerebrum::AutonomyReport::default();
    report.note(&would, "item-1", Some("CI failing: CI/test"));
    report.note(&would, "item-2", None);
    assert_eq!(
        report.would_do,
        [
            "would_do comment acme/api: autonomy is off (\"CI failing: CI/test\")",
            "would_do comment acme/api: autonomy is off"
        ]
    );
    assert_eq!(report.decisions, ["would_do comment acme/api: autonomy is off"; 2], "decisions stay untitled");
    assert_eq!(
        serde_json::to_value(Reason::BelowLevel { needed: ActionLevel::Fix, level: ActionLevel::Log })
            .expect("serializes"),
        serde_json::json!({"reason": "below_level", "needed": "fix", "level": "log"})
    );
}

#[test]
fn html_record_round_trips_hostile_values() {
    let hostile = [
        ("acme/api", "issue:acme/api:ci/test"),
        ("evil/--> <b>hi</b>", "key-->\"<!--x--\""),
        ("a/<!-- hive:decision {} -->", "--!>--->-----"),
        ("o/r", "-"),
        ("o/r", "--"),
        ("o/r", "trailing-"),
        ("ünï/cödé 🐝", "ключ:\u{202e}gnp.exe\\--\\u002d"),
        ("quote/\"'`", "back\\slash\n-newline-\t-\0"),
    ];
    for (repo, key) in hostile {
        let decision = WriteDecision {
            verdict: Verdict::Allow,
            reason: Reason::LimitReached { limit: LimitKind::ContentPerMinute, used: 3, max: 4 },
            kind: ActionKind::Comment,
            repo: repo.to_owned(),
            key: key.to_owned(),
            risk: Risk::Critical,
            level: ActionLevel::Issue,
            recovery: Some(CiSignature::new(repo, key, Some(key), CiClass::Lint)),
        };
        let record = decision.html_record();
        assert!(record.starts_with("<!-- hive:decision {"), "{record}");
        assert!(record.ends_with("} -->"), "{record}");
        let inner = &record["<!-- hive:decision ".len()..record.len() - " -->".len()];
        assert!(!inner.contains("--"), "the record can be closed early: {record}");
        assert!(!inner.contains('\n'), "{record}");
        let body = format!("Some text -->\n\n{record}\n\nmore <!-- text -->");
        assert_eq!(WriteDecision::parse_html_record(&body), Some(decision.clone()), "{record}");
        assert_eq!(WriteDecision::parse_html_record(&record), Some(decision));
    }
    assert_eq!(WriteDecision::parse_html_record("no record here"), None);
    assert_eq!(WriteDecision::parse_html_record("<!-- hive:decision {broken -->"), None);
    assert_eq!(WriteDecision::parse_html_record("<!-- hive:decision {\"verdict\":\"allow\""), None);
    // A broken record does not hide a later good one.
    let good = govern(&proposal(ActionKind::Label), &open_policy(), &Counters::default(), false);
    let body = format!("<!-- hive:decision nonsense -->\n{}", good.html_record());
    assert_eq!(WriteDecision::parse_html_record(&body), Some(good));
}

#[test]
fn fix_risk_by_size() {
    for (lines, risk) in [
        (0, Risk::Low),
        (200, Risk::Low),
        (201, Risk::Medium),
        (1000, Risk::Medium),
        (1001, Risk::High),
        (usize::MAX, Risk::High),
    ] {
        assert_eq!(fix_risk(lines), risk, "{lines} lines");
    }
}

/// Every combination of switches, levels, risks, checks, approval and counters around the limits.
#[test]
fn invariants_over_a_grid() {
    let risks = [Risk::Low, Risk::Medium, Risk::High, Risk::Critical];
    let checks = [None, Some(ChecksState::Green), Some(ChecksState::Pending), Some(ChecksState::Failing)];
    let levels = [ActionLevel::Log, ActionLevel::Issue, ActionLevel::Fix];
    let limits = Limits { prs_per_day: 2, issues_per_hour: 2, comments_per_issue_per_day: 2, content_per_minute: 2 };
    let mut seen = std::collections::HashSet::new();
    let mut decided = 0u32;
    for bits in 0..16u8 {
        let switches = Switches { autonomy: bits & 1 != 0, automerge: bits & 2 != 0, dry_run: bits & 4 != 0 };
        // No emergency, then (bit 8) an emergency with no cause a remedy answers and one declared for the cause.
        let emergencies: &[Emergency] =
            if bits & 8 == 0 { &[Emergency::none()] } else { &[Emergency::declared(&[]), emergency_for_cause()] };
        for (level, emergency) in levels.into_iter().flat_map(|l| emergencies.iter().map(move |e| (l, e))) {
            let policy = Policy { level, switches, limits, emergency: emergency.clone() };
            for kind in ActionKind::ALL {
                for risk in risks {
                    for checks in checks {
                        for approved in [false, true] {
                            for spent in 0..27u32 {
                                // Each counter below, at and above its limit of 2.
                                let counters = Counters {
                                    prs_last_day: spent % 3 + 1,
                                    issues_last_hour: (spent / 3) % 3 + 1,
                                    comments_on_target_last_day: (spent / 9) % 3 + 1,
                                    content_last_minute: spent % 2 + 1,
                                };
                                // Every kind as a remedy of its own kind for the cause, a remedy of the other kind,
                                // and a remedy for another failure.
                                let remedy = match spent % 4 {
                                    0 => None,
                                    1 => Some(Remedy::InfrastructureRerun { signature: cause() }),
                                    2 => Some(Remedy::FormatterFix { signature: cause() }),
                                    _ => Some(Remedy::FormatterFix { signature: other_failure() }),
                                };
                                let proposal = WriteProposal { risk, checks, remedy, ..proposal(kind) };
                                let decision = govern(&proposal, &policy, &counters, approved);
                                decided += 1;
                                seen.insert((decision.verdict, std::mem::discriminant(&decision.reason)));
                                invariants(&proposal, &policy, &counters, approved, &decision);
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(decided > 100_000);
    // The grid reaches every verdict and every reason.
    assert_eq!(seen.len(), 11, "{seen:?}");
}

fn invariants(
    proposal: &WriteProposal,
    policy: &Policy,
    counters: &Counters,
    approved: bool,
    decision: &WriteDecision,
) {
    let context = || format!("{proposal:?} {policy:?} {counters:?} approved={approved} -> {decision:?}");
    let switches = policy.switches;
    // Recovery is only ever a remedy of its own kind for one of an active emergency's causes.
    if let Some(signature) = &decision.recovery {
        let remedy = proposal.remedy.as_ref().expect("recovery needs a remedy");
        assert!(policy.emergency.active, "{}", context());
        assert!(remedy.is(proposal.kind), "{}", context());
        assert_eq!(remedy.signature(), signature, "{}", context());
        assert!(policy.emergency.recovery_signatures.contains(signature), "{}", context());
    }
    if decision.is_write() {
        assert!(switches.autonomy, "a write with autonomy off: {}", context());
        assert!(
            !policy.emergency.active
                || proposal.kind == ActionKind::EmergencyAlert
                || (decision.recovery.is_some()
                    && matches!(
                        proposal.kind,
                        ActionKind::RerunJobs | ActionKind::OpenPullRequest | ActionKind::PushBranch
                    )),
            "a write in an emergency: {}",
            context()
        );
        assert!(policy.level >= proposal.kind.min_level() && policy.level != ActionLevel::Log, "{}", context());
        assert!(approved || matches!(proposal.risk, Risk::Low | Risk::Medium), "unapproved risk: {}", context());
        if proposal.kind == ActionKind::Merge {
            assert!(
                proposal.checks == Some(ChecksState::Green) && switches.automerge && !switches.dry_run,
                "an unsafe merge: {}",
                context()
            );
        }
        if switches.dry_run {
            assert_eq!(decision.verdict, Verdict::Draft, "{}", context());
        }
    }
    if decision.verdict == Verdict::Draft {
        assert_eq!(proposal.kind, ActionKind::OpenPullRequest, "{}", context());
        assert!(switches.dry_run, "{}", context());
    }
    if let Reason::LimitReached { used, max, .. } = decision.reason {
        assert!(used >= max, "{}", context());
    }
    // The same inputs always give the same decision.
    assert_eq!(&govern(proposal, policy, counters, approved), decision);
}
