//! Fix pull requests through the autonomy loop against the GitHub emulator: one per lint failure, made with the
//! repository's own formatter, merged only when green and allowed, escalated when it keeps failing, drafts in dry
//! run, and the one recovery an emergency lets through.

use super::*;
use hive_actors::Override;

#[tokio::test]
async fn a_lint_failure_gets_one_fix_pull_request_merged_only_when_green() {
    let git_root = tempfile::tempdir().unwrap();
    let (bare, head) = unformatted_cargo_repo(git_root.path(), "api", 3);
    let mut w = World::new(&[]).await;
    w.add_repo(RepoSpec::new("acme", "api").git_dir(&bare));
    lint_failure(&w, &head);

    w.cycle().await;
    let prs = pulls(&w);
    assert_eq!(prs.len(), 1, "{prs:?}");
    let branch = prs[0].head_ref.clone();
    assert!(branch.starts_with("hive/fix/lint-"), "{branch}");
    let show = Command::new("git")
        .arg("--git-dir")
        .arg(&bare)
        .args(["show", &format!("{branch}:src/main.rs")])
        .output()
        .unwrap();
    let formatted = String::from_utf8_lossy(&show.stdout);
    assert!(formatted.contains("fn main() {"), "{formatted}");
    assert_eq!(w.issues("api").len(), 1, "the failure is tracked by an issue as well");

    // Checks pending: never merged.
    let pr_head = w.emu.state().branch_sha("acme", "api", &branch).unwrap();
    w.emu.state().set_check_runs("acme", "api", &pr_head, vec![("fmt", "in_progress", None)]);
    w.cycle().await;
    assert_eq!(pulls(&w).len(), 1);
    assert!(!pulls(&w)[0].merged);

    // Failing: not merged either.
    w.emu.state().set_check_runs("acme", "api", &pr_head, vec![("fmt", "completed", Some("failure"))]);
    w.cycle().await;
    assert!(!pulls(&w)[0].merged);

    // Green: merged, and still one pull request.
    w.emu.state().set_check_runs("acme", "api", &pr_head, vec![("fmt", "completed", Some("success"))]);
    w.emu.state().set_combined_status("acme", "api", &pr_head, "success");
    w.cycle().await;
    let prs = pulls(&w);
    assert_eq!(prs.len(), 1);
    assert!(prs[0].merged, "{prs:?}");
}

#[tokio::test]
async fn in_an_emergency_for_a_systemic_format_failure_only_its_fix_pull_request_is_opened() {
    let git_root = tempfile::tempdir().unwrap();
    let (bare, head) = unformatted_cargo_repo(git_root.path(), "api", 3);
    let mut w = World::new(&["web"]).await;
    w.add_repo(RepoSpec::new("acme", "api").git_dir(&bare));
    lint_failure(&w, &head);
    // An unrelated failure: its issue is no recovery and stays frozen.
    w.fail("web", "unit tests", &sha(1));
    let snapshots = w.snapshots().await;
    let api = snapshots.iter().find(|s| s.repo.to_string() == "acme/api").expect("api");
    let failure = &api.ci.failures[0];
    assert_eq!(failure.class, hive_forge::FailureClass::Lint, "{failure:?}");
    let signature = CiSignature::new(&failure.workflow, &failure.job, failure.step.as_deref(), CiClass::Lint);

    // An emergency with no systemic cause (forced, fleet health) has nothing to recover from: no fix either.
    let report = w.cycle_with(&Emergency::declared(&[EmergencyReason::Forced])).await;
    assert!(pulls(&w).is_empty(), "{report:?}");
    assert!(report.decisions.iter().any(|d| d == "deny open_pull_request acme/api: emergency freeze"), "{report:?}");

    let emergency = Emergency::declared(&[EmergencyReason::SystemicFailure {
        signature: signature.clone(),
        members: vec![MemberId::new("acme/api")],
    }]);
    let report = w.cycle_with(&emergency).await;
    let prs = pulls(&w);
    assert_eq!(prs.len(), 1, "{report:?}");
    assert!(prs[0].head_ref.starts_with("hive/fix/lint-"), "{}", prs[0].head_ref);
    assert!(!prs[0].draft, "{:?}", prs[0]);
    let recovery = format!("allow open_pull_request acme/api: allowed (recovery from '{signature}')");
    assert!(report.decisions.contains(&recovery), "{:?}", report.decisions);
    assert_eq!(report.fixes_attempted, 1);
    // Nothing else: neither the fix's tracking issue nor the unrelated failure's.
    assert!(w.issues("api").is_empty() && w.issues("web").is_empty(), "{report:?}");
    assert!(report.decisions.iter().any(|d| d == "deny open_issue acme/web: emergency freeze"), "{report:?}");
    assert!(report.decisions.iter().any(|d| d == "deny open_issue acme/api: emergency freeze"), "{report:?}");

    // Recorded as recovery: in the pull request's decision record and in the audit trail.
    let record = WriteDecision::parse_html_record(&prs[0].body).expect("a decision record");
    assert_eq!(record.recovery.as_ref(), Some(&signature));
    let lines = w
        .scribe
        .call(|m| {
            let mut lines = Vec::new();
            m.audit().export_jsonl(&mut lines).map(|_| lines)
        })
        .await
        .expect("scribe")
        .expect("audit export");
    let sent: Vec<WriteDecision> = String::from_utf8_lossy(&lines)
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("audit line is JSON"))
        .filter(|r| r["action"] == "open_pull_request" && r["result"].as_str().is_some_and(|s| s.starts_with("ok")))
        .map(|r| serde_json::from_str(r["decision"].as_str().expect("decision")).expect("decision JSON"))
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].recovery.as_ref(), Some(&signature));

    // Green checks: the merge is no recovery, it waits for the emergency to clear.
    let pr_head = w.emu.state().branch_sha("acme", "api", &prs[0].head_ref).unwrap();
    w.emu.state().set_check_runs("acme", "api", &pr_head, vec![("fmt", "completed", Some("success"))]);
    w.emu.state().set_combined_status("acme", "api", &pr_head, "success");
    let report = w.cycle_with(&emergency).await;
    assert!(!pulls(&w)[0].merged, "{report:?}");
    assert_eq!(pulls(&w).len(), 1);
    w.cycle().await;
    assert!(pulls(&w)[0].merged);
}

#[tokio::test]
async fn without_automerge_a_green_fix_waits_and_a_human_closed_fix_is_not_recreated() {
    let git_root = tempfile::tempdir().unwrap();
    let (bare, head) = unformatted_cargo_repo(git_root.path(), "api", 3);
    let mut p = policy();
    p.switches.automerge = false;
    let mut w = World::with(&[], p, |_| {}).await;
    w.add_repo(RepoSpec::new("acme", "api").git_dir(&bare));
    lint_failure(&w, &head);
    w.cycle().await;
    let pr = pulls(&w).pop().unwrap();
    let pr_head = w.emu.state().branch_sha("acme", "api", &pr.head_ref).unwrap();
    w.emu.state().set_check_runs("acme", "api", &pr_head, vec![("fmt", "completed", Some("success"))]);
    let report = w.cycle().await;
    assert!(!pulls(&w)[0].merged);
    assert!(report.decisions.iter().any(|d| d.contains("automerge")), "{:?}", report.decisions);

    assert!(w.emu.state().set_issue_state("acme", "api", pr.number, "closed"));
    lint_failure(&w, &head);
    w.cycle().await;
    w.now += DAY;
    w.cycle().await;
    assert_eq!(pulls(&w).len(), 1, "a pull request closed by a human is never opened again");
}

#[tokio::test]
async fn repeated_failed_fixes_escalate_to_a_human_once() {
    let git_root = tempfile::tempdir().unwrap();
    // Already formatted: the formatter changes nothing, so each attempt fails.
    let (bare, _) = unformatted_cargo_repo(git_root.path(), "api", 0);
    let formatted = "fn main() {}\n";
    let work = git_root.path().join("work");
    std::fs::write(work.join("src/main.rs"), formatted).unwrap();
    for args in [
        &["add", "-A"][..],
        &["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "fmt"],
        &["push", "-q", "../api.git", "HEAD:main"],
    ] {
        assert!(Command::new("git").args(args).current_dir(&work).status().unwrap().success());
    }
    // The organisation's owners are the ones mentioned, not the configuration's.
    let owners = Override { owners: Some(vec!["alice".into(), "acme/core".into()]), ..Override::default() };
    let mut w = World::with(&[], policy(), |c| {
        c.owners = vec!["carol".into()];
        c.overrides.owners.insert("acme".into(), owners);
    })
    .await;
    w.add_repo(RepoSpec::new("acme", "api").git_dir(&bare));
    lint_failure(&w, &sha(1));
    w.cycle().await;
    lint_failure(&w, &sha(2));
    w.cycle().await;
    let issues = w.issues("api");
    assert_eq!(issues.len(), 1);
    assert!(issues[0].labels.contains(&"needs-human".to_owned()), "{issues:?}");
    let comments = w.emu.state().comments("acme", "api", issues[0].number);
    assert_eq!(comments.iter().filter(|c| c.contains("@alice @acme/core")).count(), 1, "{comments:?}");
    assert!(!comments.iter().any(|c| c.contains("@carol")), "{comments:?}");
    assert!(pulls(&w).is_empty());

    lint_failure(&w, &sha(3));
    w.cycle().await;
    w.now += DAY;
    w.cycle().await;
    let comments = w.emu.state().comments("acme", "api", issues[0].number);
    assert_eq!(comments.iter().filter(|c| c.contains("@alice")).count(), 1, "escalated once: {comments:?}");
}

#[tokio::test]
async fn a_high_risk_fix_waits_for_a_human_approval() {
    let git_root = tempfile::tempdir().unwrap();
    // Over a thousand changed lines: high risk.
    let (bare, head) = unformatted_cargo_repo(git_root.path(), "api", 1_200);
    let mut w = World::new(&[]).await;
    w.add_repo(RepoSpec::new("acme", "api").git_dir(&bare));
    lint_failure(&w, &head);
    let report = w.cycle().await;
    assert!(pulls(&w).is_empty(), "{report:?}");
    let branches = || {
        let out = Command::new("git").arg("--git-dir").arg(&bare).args(["branch", "--list", "hive/*"]).output();
        String::from_utf8_lossy(&out.unwrap().stdout).trim().to_owned()
    };
    assert_eq!(branches(), "", "nothing is pushed before a human approves");
    let waiting = report.awaiting_approval.first().expect("a fix awaiting approval");
    let id = waiting.split_whitespace().nth(2).unwrap().to_owned();
    assert_eq!(id.len(), 16, "{waiting}");

    // Still waiting next cycle; then a human approves and the pull request is opened.
    w.cycle().await;
    assert!(pulls(&w).is_empty());
    let now = w.now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let approved = id.clone();
    w.scribe.call(move |m| m.approvals().approve(&approved, "alice", now, 3_600)).await.unwrap().unwrap();
    w.cycle().await;
    let prs = pulls(&w);
    assert_eq!(prs.len(), 1);

    // The approval expires: a merge of the green high-risk fix waits for a new one.
    let pr_head = w.emu.state().branch_sha("acme", "api", &prs[0].head_ref).unwrap();
    w.emu.state().set_check_runs("acme", "api", &pr_head, vec![("fmt", "completed", Some("success"))]);
    w.now += Duration::from_secs(3_601);
    let report = w.cycle().await;
    assert!(!pulls(&w)[0].merged, "{report:?}");
    assert!(report.awaiting_approval.iter().any(|a| a.contains(&id)), "{report:?}");
}

#[tokio::test]
async fn in_dry_run_fixes_are_drafts_never_merged_and_nothing_else_is_written() {
    let git_root = tempfile::tempdir().unwrap();
    let (bare, head) = unformatted_cargo_repo(git_root.path(), "api", 3);
    let mut p = policy();
    p.switches.dry_run = true;
    let mut w = World::with(&[], p, |_| {}).await;
    w.add_repo(RepoSpec::new("acme", "api").git_dir(&bare));
    lint_failure(&w, &head);
    let report = w.cycle().await;
    assert!(w.issues("api").is_empty(), "{report:?}");
    let prs = pulls(&w);
    assert_eq!(prs.len(), 1);
    assert!(prs[0].draft);
    let pr_head = w.emu.state().branch_sha("acme", "api", &prs[0].head_ref).unwrap();
    w.emu.state().set_check_runs("acme", "api", &pr_head, vec![("fmt", "completed", Some("success"))]);
    w.cycle().await;
    assert!(!pulls(&w)[0].merged);
    assert!(!report.would_do.is_empty());
}

#[tokio::test]
async fn a_fix_whose_checks_stay_red_escalates() {
    let git_root = tempfile::tempdir().unwrap();
    let (bare, head) = unformatted_cargo_repo(git_root.path(), "api", 3);
    let mut w = World::with(&[], policy(), |c| c.owners = vec!["alice".into()]).await;
    w.add_repo(RepoSpec::new("acme", "api").git_dir(&bare));
    lint_failure(&w, &head);
    w.cycle().await;
    let pr = pulls(&w).pop().expect("a fix pull request");
    let pr_head = w.emu.state().branch_sha("acme", "api", &pr.head_ref).unwrap();
    w.emu.state().set_check_runs("acme", "api", &pr_head, vec![("fmt", "completed", Some("failure"))]);
    w.cycle().await;
    w.cycle().await;
    let issue = w.issues("api").pop().unwrap();
    assert!(!issue.labels.contains(&"needs-human".to_owned()), "one failed day is one attempt");
    w.now += DAY;
    w.cycle().await;
    let issue = w.issues("api").pop().unwrap();
    assert!(issue.labels.contains(&"needs-human".to_owned()), "{issue:?}");
    let comments = w.emu.state().comments("acme", "api", issue.number);
    assert_eq!(comments.iter().filter(|c| c.contains("@alice")).count(), 1, "{comments:?}");
    assert!(!pulls(&w)[0].merged);
}
