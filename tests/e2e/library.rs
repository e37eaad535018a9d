//! The library as an embedder uses it: builder, events, watch and unwatch, proposals, resume, errors.

use std::time::Duration;

use hive::{
    Hive, HiveError, HiveEvent, RestartPolicy, Seed, Signal, SimForge, SimRepo,
    cerebrum::{Backoff, CiClass, CiSignature, MemberState, QueenError},
    forge::Fault,
};

use crate::wait_for;

const DEADLINE: Duration = Duration::from_secs(20);

#[tokio::test]
async fn builder_without_forge_says_what_to_do() {
    let err = Hive::builder().start().await.expect_err("no forge");
    assert!(matches!(err, HiveError::NoForge));
    assert!(err.to_string().contains(".forge("), "{err}");
}

#[tokio::test]
async fn hostile_repository_names_are_refused_before_anything_starts() {
    let forge = SimForge::new(vec![]);
    let err = Hive::builder().forge(forge).repos(["acme/../../etc"]).start().await.expect_err("hostile");
    assert!(err.to_string().starts_with("invalid repository name 'acme/../../etc'"), "{err}");
}

#[tokio::test]
async fn watch_unwatch_and_health_flow_through_events() {
    let forge = SimForge::new(vec![SimRepo::healthy("acme/api")]);
    let hive = Hive::builder().forge(forge.clone()).start().await.expect("start");
    let mut events = hive.subscribe();

    forge.add_repo(SimRepo::failing("acme/web"));
    hive.watch("acme/web").await.expect("watch");
    assert!(matches!(hive.watch("acme/web").await, Err(HiveError::Queen(QueenError::DuplicateMember(_)))));

    hive.start_cycle().expect("cycle");
    let record = wait_for(&mut events, DEADLINE, |e| match e {
        HiveEvent::CycleCompleted { record } => Some(record.clone()),
        _ => None,
    })
    .await;
    assert_eq!((record.total_repositories, record.healthy_repositories), (2, 1));
    assert!(record.issues_detected >= 1, "the failing CI job is a signal: {record:?}");

    hive.unwatch("acme/web").await.expect("unwatch");
    let status = hive.status().await.expect("status");
    assert_eq!(status.members.len(), 1);
    assert_eq!(status.fleet.total, 1);
    hive.shutdown().await.expect("shutdown");
    assert!(hive.status().await.is_err(), "a stopped hive says so");
}

#[tokio::test]
async fn proposals_from_a_pilot_signal() {
    let hive = Hive::builder().forge(SimForge::new(vec![])).start().await.expect("start");
    let lint = Signal::ci_failure(CiSignature::new("ci", "lint", Some("fmt"), CiClass::Lint));
    let report = hive.propose(Seed::new("acme/api", lint), 4).await.expect("propose");
    assert_eq!(report.succeeded(), 4);
    assert_eq!(report.proposals().count(), 8, "two proposals per ORCH for a lint failure");
    hive.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_pilot_that_keeps_failing_is_escalated_and_can_be_resumed() {
    let forge = SimForge::new(vec![SimRepo::healthy("acme/api"), SimRepo::healthy("acme/flaky")]);
    let flaky = hive::RepoId::new("acme/flaky").expect("valid");
    let policy = RestartPolicy {
        max_restarts: 2,
        period: Duration::from_secs(600),
        backoff: Backoff::NONE,
        ..RestartPolicy::default()
    };
    let hive = Hive::builder().forge(forge.clone()).restart_policy(policy).start().await.expect("start");
    let mut events = hive.subscribe();

    // Three permanent errors: two restarts, then escalation. Each restart re-observes the open cycle.
    forge.inject(&flaky, Fault::Permanent, 3);
    hive.start_cycle().expect("cycle");
    let restarts = wait_for(&mut events, DEADLINE, |e| match e {
        HiveEvent::MemberEscalated { member, restarts, .. } if member.as_str() == "acme/flaky" => Some(*restarts),
        _ => None,
    })
    .await;
    assert_eq!(restarts, 2);
    let status = hive.status().await.expect("status");
    assert_eq!(status.member("acme/flaky").expect("member").state, MemberState::Escalated);

    hive.resume("acme/flaky").await.expect("resume");
    hive.start_cycle().expect("cycle");
    wait_for(&mut events, DEADLINE, |e| match e {
        HiveEvent::HealthReported { member, healthy: true, .. } if member.as_str() == "acme/flaky" => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(hive.status().await.expect("status").member("acme/flaky").expect("member").state, MemberState::Running);
    hive.shutdown().await.expect("shutdown");
}

/// `Hive::observe_now`, what a webhook delivery calls, reads the repository whole: a run re-run and failed again on
/// the same commit leaves GitHub's rollup as the forge last saw it, and the read after the delivery sees the new
/// attempt without first asking the forge's probe whether anything changed.
#[tokio::test(flavor = "multi_thread")]
async fn observe_now_reads_the_repository_whole_and_sees_a_new_attempt() {
    use hive::{
        cerebrum::SignalKind,
        forge::{GitHubAuth, GitHubConfig, GitHubForge, Secret},
    };
    use hive_testkit::{Emulator, JobSpec, RepoSpec, RunSpec};

    let emu = Emulator::start().await;
    emu.state().add_org("acme");
    emu.state().add_repo(RepoSpec::new("acme", "red"));
    let failed = || {
        RunSpec::new("CI", "main")
            .outcome("completed", Some("failure"))
            .job(JobSpec::new("test", "completed", Some("failure")).step("cargo test", "completed", Some("failure")))
    };
    let run = emu.state().add_workflow_run("acme", "red", failed());
    let mut config = GitHubConfig::new(GitHubAuth::Token(Secret::new(emu.token())));
    config.api_url = emu.url();
    let forge = GitHubForge::new(config).expect("a valid configuration");
    let hive = Hive::builder().forge(forge).repos(["acme/red"]).start().await.expect("start");
    let attempt = || async {
        let report = hive.report("acme/red").await.expect("report")?;
        report.signals.iter().find_map(|s| match s.kind {
            SignalKind::CiFailure { attempt, .. } => attempt,
            _ => None,
        })
    };
    let attempt_until = |want: u32| async move {
        let until = tokio::time::Instant::now() + DEADLINE;
        loop {
            let now = attempt().await;
            if now == Some(want) {
                return;
            }
            assert!(tokio::time::Instant::now() < until, "acme/red's failure is in attempt {now:?}, not {want}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    hive.start_cycle().expect("cycle");
    attempt_until(1).await;

    // Someone re-runs it on the website and it fails again before the hive reads it; the delivery says so.
    assert!(emu.state().rerun_failed_jobs("acme", "red", run));
    assert!(emu.state().complete_run("acme", "red", run, "failure"));
    emu.state().clear_requests();
    hive.observe_now("acme/red").await.expect("observe now");
    attempt_until(2).await;
    let queries: Vec<String> = emu.state().requests().into_iter().filter_map(|r| r.operation).collect();
    assert_eq!(queries, ["Snapshots", "FailedRuns"], "the full read (and its failed run's), no probe first");
    hive.shutdown().await.expect("shutdown");
}
