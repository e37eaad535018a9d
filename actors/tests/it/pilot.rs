//! Pilots through the queen: reads become reports, transient forge errors are retried inside the pilot, anything
//! else fails the actor so the queen's policy applies, and emergency mode, read from the queen's flag, makes a pilot
//! poll faster.

use std::{sync::Arc, time::Duration};

use hive_actors::{PilotBuilder, PilotConfig};
use hive_cerebrum::{
    Backoff, CiClass, CiSignature, EmergencyConfig, EventBus, HiveEvent, MemberSpec, Queen, QueenArgs, QueenConfig,
    QueenHandle, RestartPolicy, SignalKind, Subscription,
};
use hive_forge::{CiStatus, Fault, RepoId, SimForge, SimRepo};

const DEADLINE: Duration = Duration::from_secs(600);

async fn start(forge: &SimForge, config: QueenConfig, pilot: PilotConfig) -> (QueenHandle, Subscription) {
    let bus = EventBus::new(4096);
    let events = bus.subscribe();
    let policy = RestartPolicy { backoff: Backoff::NONE, ..RestartPolicy::default() };
    let members = forge_members(forge).await.into_iter().map(|m| m.with_policy(policy)).collect();
    let args = QueenArgs::new(bus, config)
        .with_builder(Arc::new(PilotBuilder::new(Arc::new(forge.clone()), pilot)))
        .with_members(members);
    (Queen::start(args).await.expect("queen"), events)
}

async fn forge_members(forge: &SimForge) -> Vec<MemberSpec> {
    use hive_forge::Forge;
    forge.discover().await.expect("discover").iter().map(|r| MemberSpec::pilot(r.as_str())).collect()
}

async fn next<T>(events: &mut Subscription, mut pick: impl FnMut(&HiveEvent) -> Option<T>) -> T {
    tokio::time::timeout(DEADLINE, async {
        loop {
            let envelope = events.recv().await.expect("bus open");
            if let Some(found) = pick(&envelope.event) {
                return found;
            }
        }
    })
    .await
    .expect("event before the deadline")
}

fn repo(name: &str) -> RepoId {
    RepoId::new(name).expect("valid")
}

/// A repository whose CI turns red and green again from read to read, so that each report differs from the one
/// before and is published: the queen does not publish a report that repeats the previous one.
fn flapping(name: &str) -> SimRepo {
    SimRepo::healthy(name).with_script(vec![CiStatus::green(), CiStatus::failing(Vec::new())])
}

#[tokio::test(start_paused = true)]
async fn a_read_becomes_a_report_with_signals() {
    let forge = SimForge::new(vec![SimRepo::failing("acme/web")]);
    let (queen, mut events) = start(&forge, QueenConfig::default(), PilotConfig::default()).await;
    queen.start_cycle().expect("cycle");
    let (score, healthy, cycle) = next(&mut events, |e| match e {
        HiveEvent::HealthReported { score, healthy, cycle, .. } => Some((*score, *healthy, *cycle)),
        _ => None,
    })
    .await;
    assert!(!healthy);
    assert!(score < 70, "{score}");
    assert_eq!(cycle, Some(1));
    let signal = next(&mut events, |e| match e {
        HiveEvent::SignalRaised { signal, .. } => Some(signal.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        signal.kind,
        SignalKind::CiFailure {
            signature: CiSignature::new("ci", "test", Some("cargo test"), CiClass::Test),
            attempt: None
        }
    );
    queen.shutdown().await.expect("shutdown");
}

#[tokio::test(start_paused = true)]
async fn transient_errors_are_retried_inside_the_pilot() {
    let forge = SimForge::new(vec![SimRepo::healthy("acme/api")]);
    // Two transient errors, then success: within the default three attempts.
    forge.inject(&repo("acme/api"), Fault::Transient, 2);
    let (queen, mut events) = start(&forge, QueenConfig::default(), PilotConfig::default()).await;
    queen.start_cycle().expect("cycle");
    let record = next(&mut events, |e| match e {
        HiveEvent::MemberFailed { error, .. } => panic!("the pilot must not fail on retried errors: {error}"),
        HiveEvent::CycleCompleted { record } => Some(record.clone()),
        _ => None,
    })
    .await;
    assert_eq!(record.healthy_repositories, 1);
    assert_eq!(forge.attempts(&repo("acme/api")), 3);
    assert_eq!(forge.reads(&repo("acme/api")), 1);
    assert_eq!(queen.status().await.expect("status").members[0].restarts, 0);
    queen.shutdown().await.expect("shutdown");
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_forge_is_an_outage_not_a_failure_and_the_pilot_reads_again_by_itself() {
    let forge = SimForge::new(vec![SimRepo::healthy("acme/api")]);
    let (queen, mut events) = start(&forge, QueenConfig::default(), PilotConfig::default()).await;
    queen.start_cycle().expect("cycle");
    let first = next(&mut events, |e| match e {
        HiveEvent::CycleCompleted { record } => Some(record.clone()),
        _ => None,
    })
    .await;
    assert_eq!(first.healthy_repositories, 1);

    // Every attempt of the next read (and of the first retry) fails transiently: the forge is down.
    forge.inject(&repo("acme/api"), Fault::Transient, 6);
    queen.start_cycle().expect("cycle");
    let mut unknown = false;
    let mut outage = None;
    let record = next(&mut events, |e| match e {
        HiveEvent::MemberFailed { error, .. } => panic!("an unreachable forge must not fail the pilot: {error}"),
        HiveEvent::MemberEscalated { .. } | HiveEvent::EmergencyDeclared { .. } => panic!("{e:?}"),
        HiveEvent::HealthUnknown { source, cycle, .. } => {
            assert_eq!((source.as_str(), *cycle), ("sim", Some(2)));
            unknown = true;
            None
        }
        HiveEvent::SourceUnreachable { outage: o } => {
            outage = Some(o.clone());
            None
        }
        HiveEvent::CycleCompleted { record } => Some(record.clone()),
        _ => None,
    })
    .await;
    assert!(unknown, "the pilot said the forge was unreachable");
    let outage = outage.expect("the outage was announced");
    assert_eq!((outage.source.as_str(), outage.members), ("sim", 1));
    assert_eq!((record.missed_reports, record.unreachable_repositories), (0, 1), "{record:?}");
    assert_eq!(record.healthy_repositories, 1, "the last verdict stands while the forge is unreachable");
    let status = queen.status().await.expect("status");
    assert_eq!(status.outages.len(), 1);
    let member = &status.members[0];
    assert!(member.stale && member.healthy == Some(true) && member.restarts == 0, "{member:?}");

    // No cycle is started: the pilot retries on its own backoff and the outage ends when a read succeeds.
    let after = next(&mut events, |e| match e {
        HiveEvent::SourceReachable { source, after } if source == "sim" => Some(*after),
        _ => None,
    })
    .await;
    assert!(after >= PilotConfig::default().outage_retry.min, "{after:?}");
    let status = queen.status().await.expect("status");
    assert!(status.outages.is_empty() && !status.members[0].stale, "{status:?}");
    assert_eq!(status.members[0].restarts, 0);
    assert_eq!(forge.reads(&repo("acme/api")), 2, "the first read and the retry that got through");
    queen.shutdown().await.expect("shutdown");
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_and_panics_fail_the_pilot() {
    for (fault, times, needle) in
        [(Fault::Permanent, 1, "forge error"), (Fault::Panic, 1, "panicked reading 'acme/api'")]
    {
        let forge = SimForge::new(vec![SimRepo::healthy("acme/api")]);
        forge.inject(&repo("acme/api"), fault, times);
        let (queen, mut events) = start(&forge, QueenConfig::default(), PilotConfig::default()).await;
        queen.start_cycle().expect("cycle");
        let error = next(&mut events, |e| match e {
            HiveEvent::MemberFailed { error, .. } => Some(error.clone()),
            _ => None,
        })
        .await;
        assert!(error.contains(needle), "{fault:?}: {error}");
        // Restarted, asked again for the open cycle, and this time the read succeeds.
        let record = next(&mut events, |e| match e {
            HiveEvent::CycleCompleted { record } => Some(record.clone()),
            _ => None,
        })
        .await;
        assert_eq!((record.healthy_repositories, record.missed_reports), (1, 0), "{fault:?}");
        assert_eq!(queen.status().await.expect("status").members[0].restarts, 1, "{fault:?}");
        queen.shutdown().await.expect("shutdown");
    }
}

#[tokio::test(start_paused = true)]
async fn own_interval_polls_and_emergency_mode_polls_faster() {
    let pilot = PilotConfig {
        jitter: Duration::ZERO,
        interval: Some(Duration::from_secs(10)),
        emergency_interval: Duration::from_secs(1),
        ..PilotConfig::default()
    };
    let count_reads = |forced: bool| async move {
        let forge = SimForge::new(vec![flapping("acme/api")]);
        let config = QueenConfig {
            emergency: EmergencyConfig { forced, ..EmergencyConfig::default() },
            ..QueenConfig::default()
        };
        let (queen, mut events) = start(&forge, config, pilot).await;
        // Wait for 3 reports driven by the pilot's own timer (no cycles are started).
        for _ in 0..3 {
            next(&mut events, |e| matches!(e, HiveEvent::HealthReported { cycle: None, .. }).then_some(())).await;
        }
        let elapsed = tokio::time::Instant::now();
        queen.shutdown().await.expect("shutdown");
        (forge.reads(&repo("acme/api")), elapsed)
    };
    let start_normal = tokio::time::Instant::now();
    let (reads, end) = count_reads(false).await;
    let normal = end - start_normal;
    assert_eq!(reads, 3);
    let start_emergency = tokio::time::Instant::now();
    let (reads, end) = count_reads(true).await;
    let emergency = end - start_emergency;
    assert_eq!(reads, 3);
    // Paused time: the clock only moves by timers, so three 10 s intervals take 30 s, three 1 s intervals about 3 s
    // (runtime-internal timers may add a few milliseconds).
    assert!((Duration::from_secs(30)..Duration::from_secs(31)).contains(&normal), "{normal:?}");
    assert!((Duration::from_secs(3)..Duration::from_secs(4)).contains(&emergency), "{emergency:?}");
}

/// Starts a cycle and waits for it to close: how long its read waited (paused time: only timers move the clock)
/// and whether the cycle was in emergency mode.
async fn read_wait(queen: &QueenHandle, events: &mut Subscription) -> (Duration, bool) {
    let began = tokio::time::Instant::now();
    queen.start_cycle().expect("cycle");
    let record = next(events, |e| match e {
        HiveEvent::CycleCompleted { record } => Some(record.clone()),
        _ => None,
    })
    .await;
    assert_eq!(record.missed_reports, 0, "{record:?}");
    (began.elapsed(), record.emergency_mode)
}

#[tokio::test(start_paused = true)]
async fn a_pilot_reads_in_emergency_mode_at_its_next_observation_after_the_declaration_and_normally_after_it_ends() {
    // Without a timer of its own, the pilot runs only when a cycle asks it to observe: the queen sends it no
    // emergency command. Its read waits up to a minute normally and not at all in an emergency, so the wait tells
    // which mode the pilot read in.
    let pilot =
        PilotConfig { jitter: Duration::from_secs(60), emergency_jitter: Duration::ZERO, ..PilotConfig::default() };
    let forge = SimForge::new(vec![SimRepo::healthy("acme/api")]);
    let (queen, mut events) = start(&forge, QueenConfig::default(), pilot).await;
    let (wait, emergency) = read_wait(&queen, &mut events).await;
    assert!(!emergency && wait > Duration::ZERO, "{wait:?}");

    queen.declare_emergency("ops").expect("declared");
    next(&mut events, |e| matches!(e, HiveEvent::EmergencyDeclared { .. }).then_some(())).await;
    let (wait, emergency) = read_wait(&queen, &mut events).await;
    assert!(emergency);
    assert_eq!(wait, Duration::ZERO, "the read after the declaration has the emergency's jitter");

    queen.clear_emergency().expect("cleared");
    next(&mut events, |e| matches!(e, HiveEvent::EmergencyCleared { .. }).then_some(())).await;
    let (wait, emergency) = read_wait(&queen, &mut events).await;
    assert!(!emergency && wait > Duration::ZERO, "back to the normal jitter after the emergency: {wait:?}");
    assert_eq!(forge.reads(&repo("acme/api")), 3);
    queen.shutdown().await.expect("shutdown");
}

#[tokio::test(start_paused = true)]
async fn a_refresh_reads_the_repository_once_more_in_a_cycle_of_its_own() {
    let forge = SimForge::new(vec![SimRepo::healthy("acme/api"), SimRepo::healthy("acme/web")]);
    let (queen, mut events) = start(&forge, QueenConfig::default(), PilotConfig::default()).await;
    let member = hive_cerebrum::MemberId::new("acme/api");
    // Two events about the same repository in a burst: one read.
    queen.observe_now(&member).await.expect("refresh");
    queen.observe_now(&member).await.expect("refresh again");
    let record = next(&mut events, |e| match e {
        HiveEvent::CycleCompleted { record } => Some(record.clone()),
        _ => None,
    })
    .await;
    assert_eq!((record.kind, record.missed_reports), (hive_cerebrum::CycleKind::Refresh, 0), "{record:?}");
    assert_eq!((forge.reads(&repo("acme/api")), forge.reads(&repo("acme/web"))), (1, 0));
    queen.shutdown().await.expect("shutdown");
}
