//! ORCH fan-out through the queen: a scripted proposal engine that succeeds, returns an error, panics or hangs, and
//! the batch report that results (retries, deadline, cancel), plus the rule engine at scale.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use hive_cerebrum::{
    ActionKind, BatchReport, CiClass, CiSignature, EngineError, HiveEvent, OrchConfig, OrchError, OrchOutcome,
    Proposal, ProposalEngine, ProposedAction, QueenConfig, QueenError, Risk, Seed, Severity, Signal, SignalKind,
};

use crate::harness::{Hive, config, count, eventually, within};

/// What one engine call does.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Act {
    Succeed,
    Fail,
    Panic,
    /// Sleeps for an hour: past any ORCH timeout or batch deadline used here.
    Hang,
}

/// A proposal engine whose every call follows a plan, by seed title and by the call's number for that title (from 1).
/// A batch's slots all get the same seed, so a plan can only tell its calls apart by order; the plans below are
/// written so that the outcome counts do not depend on which slot makes which call.
struct ScriptedEngine {
    plan: fn(&str, usize) -> Act,
    calls: Mutex<HashMap<String, usize>>,
    in_flight: Arc<AtomicUsize>,
}

impl ScriptedEngine {
    fn new(plan: fn(&str, usize) -> Act) -> Arc<ScriptedEngine> {
        Arc::new(ScriptedEngine { plan, calls: Mutex::new(HashMap::new()), in_flight: Arc::new(AtomicUsize::new(0)) })
    }

    fn calls(&self, title: &str) -> usize {
        self.calls.lock().expect("calls lock").get(title).copied().unwrap_or(0)
    }

    fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

/// Counts an engine call as in flight until it returns, panics or is dropped (its ORCH killed).
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(counter: &Arc<AtomicUsize>) -> InFlight {
        counter.fetch_add(1, Ordering::SeqCst);
        InFlight(Arc::clone(counter))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl ProposalEngine for ScriptedEngine {
    fn name(&self) -> &str {
        "scripted"
    }

    async fn propose(&self, seed: &Seed) -> Result<Vec<Proposal>, EngineError> {
        let title = seed.signal.title.clone();
        let call = {
            let mut calls = self.calls.lock().expect("calls lock");
            let n = calls.entry(title.clone()).or_default();
            *n += 1;
            *n
        };
        let _guard = InFlight::enter(&self.in_flight);
        match (self.plan)(&title, call) {
            Act::Succeed => Ok(vec![Proposal {
                action: ActionKind::OpenIssue.into(),
                title: format!("{title} #{call}"),
                rationale: "scripted".to_owned(),
                risk: Risk::Low,
                engine: "scripted".to_owned(),
            }]),
            Act::Fail => {
                Err(EngineError { engine: "scripted".to_owned(), message: format!("scripted failure #{call}") })
            }
            Act::Panic => panic!("scripted engine panic #{call}"),
            Act::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(Vec::new())
            }
        }
    }
}

fn seed(title: &str) -> Seed {
    Seed::new("acme/api", Signal { kind: SignalKind::Other, severity: Severity::Medium, title: title.to_owned() })
}

fn orch_config(orch: OrchConfig) -> QueenConfig {
    QueenConfig { orch, ..config() }
}

/// `(proposed attempts, failed attempts, timed out, cancelled)`, each sorted: a summary that does not depend on
/// which slot got which engine call.
fn summary(report: &BatchReport) -> (Vec<u32>, Vec<u32>, usize, usize) {
    let (mut proposed, mut failed, mut timed_out, mut cancelled) = (Vec::new(), Vec::new(), 0, 0);
    for outcome in &report.outcomes {
        match outcome {
            OrchOutcome::Proposed { attempts, proposals } => {
                assert_eq!(proposals.len(), 1, "{outcome:?}");
                proposed.push(*attempts);
            }
            OrchOutcome::Failed { attempts, error } => {
                assert!(!error.to_string().is_empty());
                failed.push(*attempts);
            }
            OrchOutcome::TimedOut => timed_out += 1,
            OrchOutcome::Cancelled => cancelled += 1,
        }
    }
    proposed.sort_unstable();
    failed.sort_unstable();
    (proposed, failed, timed_out, cancelled)
}

fn batch_finished(events: &[HiveEvent]) -> Vec<(usize, usize)> {
    events
        .iter()
        .filter_map(|e| match e {
            HiveEvent::BatchFinished { succeeded, failed, .. } => Some((*succeeded, *failed)),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn successes_are_kept_when_siblings_fail_and_failures_are_retried_up_to_the_budget() {
    // Calls 1 and 2 succeed; every later call fails one way or another. The first two calls are necessarily first
    // attempts (retries only follow failures), so exactly two slots succeed at once and three exhaust their budget.
    fn plan(_: &str, call: usize) -> Act {
        match call {
            1 | 2 => Act::Succeed,
            n if n % 3 == 0 => Act::Panic,
            n if n % 3 == 1 => Act::Fail,
            _ => Act::Hang,
        }
    }
    let engine = ScriptedEngine::new(plan);
    let orch = OrchConfig { timeout: Duration::from_secs(1), retries: 2, deadline: Duration::from_secs(600) };
    let mut hive = Hive::with_engine(orch_config(orch), engine.clone()).await;

    let batch = hive.queen.propose(seed("mixed"), 5).expect("propose");
    let id = batch.id();
    let report = within("batch report", batch.outcome()).await.expect("report");
    assert_eq!(report.batch, id);
    assert_eq!(report.seed, seed("mixed"));
    assert_eq!(report.outcomes.len(), 5);
    assert_eq!(summary(&report), (vec![1, 1], vec![3, 3, 3], 0, 0), "{report:#?}");
    assert_eq!(report.succeeded(), 2);
    assert_eq!(report.proposals().count(), 2);
    assert_eq!(engine.calls("mixed"), 2 + 3 * 3, "two successes, three slots times (1 + 2 retries)");

    let events = hive.events.until("batch finished", |e| matches!(e, HiveEvent::BatchFinished { .. })).await;
    assert_eq!(batch_finished(&events), [(2, 3)]);
    assert_eq!(count(&events, |e| matches!(e, HiveEvent::ProposalReady { batch, .. } if *batch == id)), 2);
}

/// Fails as the seed's title says: an error, a panic, or (anything else) a hang past the timeout.
fn fail_as_titled(title: &str, _: usize) -> Act {
    match title {
        "error" => Act::Fail,
        "panic" => Act::Panic,
        _ => Act::Hang,
    }
}

#[tokio::test(start_paused = true)]
async fn each_failure_kind_is_retried_then_reported_with_its_last_error() {
    let engine = ScriptedEngine::new(fail_as_titled);
    let orch = OrchConfig { timeout: Duration::from_secs(1), retries: 2, deadline: Duration::from_secs(600) };
    let hive = Hive::with_engine(orch_config(orch), engine.clone()).await;

    for (title, error_part) in
        [("error", "scripted failure #3"), ("panic", "scripted engine panic #3"), ("hang", "timed out")]
    {
        let report = within(title, hive.queen.propose(seed(title), 1).expect("propose").outcome()).await.expect(title);
        match &report.outcomes[..] {
            [OrchOutcome::Failed { error, attempts }] => {
                assert_eq!(*attempts, 3, "{title}: attempts == retries + 1");
                assert!(error.to_string().contains(error_part), "{title}: {error}");
            }
            other => panic!("{title}: {other:?}"),
        }
        assert_eq!(engine.calls(title), 3, "{title}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_orch_reports_its_last_error_typed() {
    let engine = ScriptedEngine::new(fail_as_titled);
    let orch = OrchConfig { timeout: Duration::from_secs(1), retries: 1, deadline: Duration::from_secs(600) };
    let hive = Hive::with_engine(orch_config(orch), engine.clone()).await;

    let queen = &hive.queen;
    let report = |title: &'static str| async move {
        let batch = queen.propose(seed(title), 1).expect("propose");
        within(title, batch.outcome()).await.expect(title)
    };
    // The engine's own error comes back as it was returned, from the last (second) attempt.
    let failed = report("error").await;
    assert_eq!(
        failed.outcomes,
        [OrchOutcome::Failed {
            error: OrchError::Engine(EngineError {
                engine: "scripted".to_owned(),
                message: "scripted failure #2".to_owned()
            }),
            attempts: 2,
        }]
    );
    assert_eq!(failed.succeeded(), 0);

    let timed_out = report("hang").await;
    assert_eq!(
        timed_out.outcomes,
        [OrchOutcome::Failed {
            error: OrchError::TimedOut { engine: "scripted".to_owned(), timeout: Duration::from_secs(1) },
            attempts: 2,
        }]
    );

    let panicked = report("panic").await;
    match &panicked.outcomes[..] {
        [OrchOutcome::Failed { error: OrchError::Panicked { message }, attempts: 2 }] => {
            assert!(message.contains("scripted engine panic #2"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn engine_that_succeeds_on_the_second_attempt_is_proposed_with_two_attempts() {
    fn plan(title: &str, call: usize) -> Act {
        match (title, call) {
            (_, 2..) => Act::Succeed,
            ("error", _) => Act::Fail,
            ("panic", _) => Act::Panic,
            _ => Act::Hang,
        }
    }
    let engine = ScriptedEngine::new(plan);
    let orch = OrchConfig { timeout: Duration::from_secs(1), retries: 2, deadline: Duration::from_secs(600) };
    let hive = Hive::with_engine(orch_config(orch), engine.clone()).await;

    for title in ["error", "panic", "hang"] {
        let report = within(title, hive.queen.propose(seed(title), 1).expect("propose").outcome()).await.expect(title);
        match &report.outcomes[..] {
            [OrchOutcome::Proposed { attempts, proposals }] => {
                assert_eq!(*attempts, 2, "{title}");
                assert_eq!(proposals[0].title, format!("{title} #2"));
            }
            other => panic!("{title}: {other:?}"),
        }
        assert_eq!(engine.calls(title), 2, "{title}: no call after the success");
    }
}

#[tokio::test(start_paused = true)]
async fn deadline_times_out_stuck_orchs_and_keeps_the_successes() {
    fn plan(_: &str, call: usize) -> Act {
        if call <= 2 { Act::Succeed } else { Act::Hang }
    }
    let engine = ScriptedEngine::new(plan);
    // Each ORCH may take two hours, but the whole fan-out only one second.
    let orch = OrchConfig { timeout: Duration::from_secs(7200), retries: 2, deadline: Duration::from_secs(1) };
    let mut hive = Hive::with_engine(orch_config(orch), engine.clone()).await;

    let started = tokio::time::Instant::now();
    let report = within("report", hive.queen.propose(seed("stuck"), 4).expect("propose").outcome()).await.expect("ok");
    assert!(started.elapsed() >= Duration::from_secs(1), "answered at the deadline, not before");
    assert_eq!(summary(&report), (vec![1, 1], vec![], 2, 0), "{report:#?}");
    assert_eq!(engine.calls("stuck"), 4, "stuck ORCHs are not retried");
    let events = hive.events.until("batch finished", |e| matches!(e, HiveEvent::BatchFinished { .. })).await;
    assert_eq!(batch_finished(&events), [(2, 2)]);
}

#[tokio::test]
async fn cancel_keeps_finished_outcomes_and_stops_the_rest() {
    fn plan(_: &str, call: usize) -> Act {
        if call <= 2 { Act::Succeed } else { Act::Hang }
    }
    let engine = ScriptedEngine::new(plan);
    let orch = OrchConfig { timeout: Duration::from_secs(60), retries: 2, deadline: Duration::from_secs(120) };
    let mut hive = Hive::with_engine(orch_config(orch), engine.clone()).await;

    let batch = hive.queen.propose(seed("cancel"), 4).expect("propose");
    let id = batch.id();
    for _ in 0..2 {
        hive.events.until("a proposal", |e| matches!(e, HiveEvent::ProposalReady { batch, .. } if *batch == id)).await;
    }
    eventually("both stuck ORCHs are calling the engine", || engine.in_flight() == 2).await;
    batch.cancel();
    let report = within("report", batch.outcome()).await.expect("report");
    assert_eq!(summary(&report), (vec![1, 1], vec![], 0, 2), "{report:#?}");
    // Cancelled ORCHs really stop: their engine calls are dropped well before the ORCH timeout (60 s).
    eventually("cancelled engine calls dropped", || engine.in_flight() == 0).await;
    assert_eq!(engine.calls("cancel"), 4, "cancelled slots are not retried");
    let events = hive.events.until("batch finished", |e| matches!(e, HiveEvent::BatchFinished { .. })).await;
    assert_eq!(batch_finished(&events), [(2, 2)]);
}

#[tokio::test]
async fn shutdown_cancels_a_fan_out_in_flight() {
    fn plan(_: &str, call: usize) -> Act {
        if call == 1 { Act::Succeed } else { Act::Hang }
    }
    let engine = ScriptedEngine::new(plan);
    let mut hive = Hive::with_engine(config(), engine.clone()).await;
    let batch = hive.queen.propose(seed("shutdown"), 3).expect("propose");
    let id = batch.id();
    hive.events.until("a proposal", |e| matches!(e, HiveEvent::ProposalReady { batch, .. } if *batch == id)).await;
    eventually("two stuck engine calls", || engine.in_flight() == 2).await;

    within("shutdown", hive.queen.shutdown()).await.expect("shutdown");
    let report = within("report", batch.outcome()).await.expect("the caller still gets a report");
    assert_eq!(summary(&report), (vec![1], vec![], 0, 2), "{report:#?}");
    eventually("stuck engine calls dropped", || engine.in_flight() == 0).await;
}

#[tokio::test]
async fn proposing_zero_orchs_is_an_error() {
    let hive = Hive::with_engine(config(), ScriptedEngine::new(|_, _| Act::Succeed)).await;
    assert!(matches!(hive.queen.propose(seed("none"), 0), Err(QueenError::NoOrchs)));
    // The queen is still fine.
    let report = within("report", hive.queen.propose(seed("one"), 1).expect("propose").outcome()).await.expect("ok");
    assert_eq!(report.succeeded(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_engine_with_a_hundred_orchs_all_succeed() {
    let mut hive = Hive::with_engine(config(), Arc::new(hive_cerebrum::RuleEngine)).await;
    let seed = Seed::new("acme/api", Signal::ci_failure(CiSignature::new("ci", "lint", Some("fmt"), CiClass::Lint)));
    let report = within("report", hive.queen.propose(seed, 100).expect("propose").outcome()).await.expect("report");
    assert_eq!(report.outcomes.len(), 100);
    assert!(
        report.outcomes.iter().all(|o| matches!(o, OrchOutcome::Proposed { attempts: 1, .. })),
        "{:#?}",
        report.outcomes
    );
    // The lint rule proposes a fix PR and an issue, in that order, from every ORCH.
    let actions: Vec<ProposedAction> = report.proposals().map(|p| p.action).collect();
    assert_eq!(actions.len(), 200);
    assert!(actions.chunks(2).all(|pair| pair == [ActionKind::OpenPullRequest.into(), ActionKind::OpenIssue.into()]));
    assert!(report.proposals().all(|p| p.engine == "rules"));
    let events = hive.events.until("batch finished", |e| matches!(e, HiveEvent::BatchFinished { .. })).await;
    assert_eq!(batch_finished(&events), [(100, 0)]);
    assert_eq!(count(&events, |e| matches!(e, HiveEvent::ProposalReady { .. })), 100);
}
