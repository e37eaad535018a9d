//! The default proposal engine on real repositories: what a pilot saw in a git repository made at test time becomes
//! typed signals, and `propose` turns each into the rules' plan.

use std::time::Duration;

use hive::{
    Hive, HiveEvent, LocalForge, Seed,
    cerebrum::{ActionKind, CiClass, MissingKind, ProposedAction, Risk, Signal, SignalKind},
};
use hive_testkit::projects::{git_repo, write};

use crate::wait_for;

const DEADLINE: Duration = Duration::from_secs(60);

/// The plan for a signal as `propose` returns it through the queen's ORCHs: (action, risk, title).
async fn plan(hive: &Hive, repo: &str, signal: Signal) -> Vec<(ProposedAction, Risk, String)> {
    let report = hive.propose(Seed::new(repo, signal), 2).await.expect("a report");
    assert_eq!(report.succeeded(), 2, "{report:?}");
    let mut proposals: Vec<(ProposedAction, Risk, String)> =
        report.proposals().map(|p| (p.action, p.risk, p.title.clone())).collect();
    // Two ORCHs, the same deterministic plan twice.
    let second = proposals.split_off(proposals.len() / 2);
    assert_eq!(proposals, second, "deterministic rules");
    for proposal in report.proposals() {
        assert_eq!(proposal.engine, "rules");
        assert!(!proposal.rationale.is_empty(), "{proposal:?}");
    }
    proposals
}

#[tokio::test]
async fn propose_on_a_repository_without_a_policy_a_license_or_ci_returns_the_plans_that_add_them() {
    let ws = tempfile::tempdir().expect("tempdir");
    let bare = ws.path().join("bare");
    write(&bare, "README.md", "A project nobody may use yet.\n");
    git_repo(&bare);
    let kept = ws.path().join("kept");
    write(&kept, "README.md", "A kept project.\n");
    write(&kept, "SECURITY.md", "Report vulnerabilities privately.\n");
    write(&kept, "LICENSE", "MIT License\n");
    write(&kept, ".github/workflows/ci.yml", "on: push\n");
    git_repo(&kept);

    let forge = LocalForge::new(ws.path()).expect("forge").with_cache(false);
    let hive = Hive::builder().forge(forge).start().await.expect("start");
    let mut events = hive.subscribe();
    hive.start_cycle().expect("cycle");
    wait_for(&mut events, DEADLINE, |e| matches!(e, HiveEvent::CycleCompleted { .. }).then_some(())).await;

    let status = hive.status().await.expect("status");
    let signals = |repo: &str| -> Vec<Signal> {
        status.members.iter().find(|m| m.id.as_str() == repo).expect(repo).signals.clone()
    };
    // Worst first: no license and no CI (medium) before no security policy (low); the kept repository has none.
    let bare_signals = signals("local/bare");
    let kinds: Vec<&SignalKind> = bare_signals.iter().map(|s| &s.kind).collect();
    let missing = |what| SignalKind::MissingFile { what };
    assert_eq!(
        kinds,
        [&missing(MissingKind::License), &missing(MissingKind::CiWorkflow), &missing(MissingKind::SecurityPolicy)],
        "{bare_signals:?}"
    );
    assert!(signals("local/kept").iter().all(|s| !matches!(s.kind, SignalKind::MissingFile { .. })));

    let open_issue = ProposedAction::Write(ActionKind::OpenIssue);
    // What `propose <n> <repo>` starts from: the worst signal.
    assert_eq!(
        plan(&hive, "local/bare", bare_signals[0].clone()).await,
        [
            (open_issue, Risk::Low, "choose a license for local/bare".to_owned()),
            (ProposedAction::EscalateToHuman, Risk::Medium, "license for local/bare".to_owned()),
        ]
    );
    assert_eq!(
        plan(&hive, "local/bare", bare_signals[1].clone()).await,
        [(open_issue, Risk::Low, "add a CI workflow to local/bare".to_owned())]
    );
    assert_eq!(
        plan(&hive, "local/bare", bare_signals[2].clone()).await,
        [(open_issue, Risk::Low, "add a security policy (SECURITY.md) to local/bare".to_owned())]
    );
    hive.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_dependency_that_does_not_resolve_in_local_ci_is_proposed_a_lockfile_refresh_or_bump() {
    let ws = tempfile::tempdir().expect("tempdir");
    let core = ws.path().join("core");
    write(&core, "Cargo.toml", "[package]\nname = \"corelib\"\nversion = \"0.1.0\"\nedition = \"2021\"\n");
    write(&core, "src/lib.rs", "pub fn answer() -> i32 { 42 }\n");
    git_repo(&core);
    // The sibling is 0.1.0 and app asks for 2: cargo cannot select a version, offline as local CI runs it.
    let app = ws.path().join("app");
    write(
        &app,
        "Cargo.toml",
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n\
         corelib = { path = \"../core\", version = \"2\" }\n",
    );
    write(&app, "src/lib.rs", "#[test]\nfn answer() { assert_eq!(corelib::answer(), 42); }\n");
    git_repo(&app);

    let forge = LocalForge::new(ws.path()).expect("forge").with_cache(false);
    let hive = Hive::builder().forge(forge).repos(["local/app"]).start().await.expect("start");
    let mut events = hive.subscribe();
    hive.start_cycle().expect("cycle");
    wait_for(&mut events, DEADLINE, |e| matches!(e, HiveEvent::CycleCompleted { .. }).then_some(())).await;

    let status = hive.status().await.expect("status");
    let member = status.members.iter().find(|m| m.id.as_str() == "local/app").expect("local/app");
    // Worst first: the CI failure (high) before the missing files.
    let signal = member.signals.first().cloned().expect("a signal");
    assert_eq!(signal.ci_class(), Some(CiClass::Dependency), "{:?}", member.signals);
    let planned = plan(&hive, "local/app", signal).await;
    assert_eq!(planned.len(), 1, "{planned:?}");
    let (action, risk, title) = &planned[0];
    assert_eq!((*action, *risk), (ProposedAction::Write(ActionKind::OpenIssue), Risk::Low));
    assert!(title.starts_with("refresh the lockfile or bump the dependency: local/"), "{title}");
    assert!(title.contains("failed to select a version") && title.ends_with("/dependency"), "{title}");
    hive.shutdown().await.expect("shutdown");
}
