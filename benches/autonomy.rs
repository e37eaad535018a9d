//! Autonomy loop benchmark: what the steward adds to a cycle, as the hive runs it. One organisation of 1,000
//! repositories on the GitHub API emulator with 50 ms injected latency, a tenth of them with a failing default
//! branch, watched by a hive as `hive run` builds it: a pilot per repository reading through the real
//! [`GitHubForge`], the queen, and the steward, the member the queen supervises, planning through the queen's ORCHs
//! and keeping its state through the scribe. Autonomy is off (the default policy), so every failure goes through the
//! whole path (proposal, issue lookup on GitHub, ledger, governance, reservation and audit record in SQLite) except
//! the send, which GitHub's etiquette paces a second apart and which would measure only that pause.
//!
//! Cycles run only when the bench starts them. The baseline, measured in the same run, is the warm read cycle of the
//! second cycle (`CycleStarted` to `CycleCompleted`: every pilot's read, answered by ETags, without jitter). The
//! steward's part of a cycle is `CycleCompleted` to the cycle's `AutonomyCompleted`, for the first cycle and for the
//! second (steady) one; times are the events' publication times, so the bench's own reading adds nothing. The ratio
//! says what the loop costs next to watching alone. A second baseline, after the first, is the warm read cycle of a
//! hive whose forge reads over REST alone (no steward), which the loop's goal was first set against.
//!
//! `cargo bench --bench autonomy` runs it with 1,000 repositories; `-- --test` with 100, which CI can afford.

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use hive::{
    EmergencyConfig, Hive, HiveEvent, PilotConfig, Subscription,
    actors::{Autonomy, AutonomyConfig, AutonomyReport},
    forge::{GitHubAuth, GitHubConfig, GitHubForge, Secret, Target},
};
use hive_testkit::{Emulator, JobSpec, Method, RepoSpec, RunSpec};

const ORG: &str = "bench";
/// Latency the emulator adds to every request: a plausible round trip to api.github.com.
const LATENCY: Duration = Duration::from_millis(50);
/// Events the bench's subscriber may fall behind by: a cycle of the 1,000-repository fleet publishes a few thousand
/// (a health report per pilot, signals, the ORCHs' proposals), so the events it times are never the ones dropped.
const BUS_CAPACITY: usize = 1 << 16;
/// How long one cycle, reads and steward, may take before the bench gives up.
const CYCLE_DEADLINE: Duration = Duration::from_secs(600);

fn main() {
    let test_mode = std::env::args().any(|arg| arg == "--test");
    let repos = if test_mode { 100 } else { 1_000 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime builds unless the process is out of threads or descriptors");
    runtime.block_on(bench(repos));
}

async fn bench(repos: usize) {
    let failing = repos / 10;
    println!(
        "autonomy: {repos} repositories, {failing} failing, {} ms latency, autonomy off, the steward as the hive's member",
        LATENCY.as_millis()
    );
    let emu = fleet(repos).await;
    let state = tempfile::tempdir().expect("a temporary state directory");
    // The everyday path: a tenth of the fleet failing the same way is systemic (and critical, should those scores
    // be low) by the default rules, and an emergency would freeze the decisions measured here and make the pilots
    // poll on their own. The other triggers cannot fire on this fleet.
    let quiet = EmergencyConfig { critical_members: 0, systemic_members: 0, ..EmergencyConfig::default() };
    let hive = Hive::builder()
        .state_dir(state.path())
        .emergency(quiet)
        .pilot_config(PilotConfig { jitter: Duration::ZERO, ..PilotConfig::default() })
        .bus_capacity(BUS_CAPACITY)
        .autonomy(Autonomy::new(Arc::new(forge(&emu)), AutonomyConfig::new(state.path())))
        .start()
        .await
        .expect("the hive starts over the emulator's org");
    let mut events = hive.subscribe();
    let clock = Clock::now();

    let first = cycle(&hive, &mut events).await;
    let steady = cycle(&hive, &mut events).await;
    hive.shutdown().await.expect("the hive stops");
    let rest_read = rest_warm_read(&emu).await;
    let requests = emu.state().requests();
    let count = |from: SystemTime, to: SystemTime, what: &str| {
        let (from, to) = (clock.instant(from), clock.instant(to));
        let window: Vec<_> = requests.iter().filter(|r| r.at >= from && r.at <= to).collect();
        let writes: Vec<String> =
            // A GraphQL query is a POST that only reads (snapshots are batched through it).
            window
                .iter()
                .filter(|r| r.method != Method::GET && r.path != "/graphql")
                .map(|r| format!("{:?} {}", r.method, r.path))
                .collect();
        assert!(writes.is_empty(), "{what} sent writes with autonomy off: {writes:?}");
        window.len()
    };
    let cold_read_requests = count(first.started, first.completed, "the first read cycle");
    let warm_read_requests = count(steady.started, steady.completed, "the warm read cycle");
    let first_requests = count(first.completed, first.acted, "the steward's first cycle");
    let steady_requests = count(steady.completed, steady.acted, "the steward's steady cycle");
    assert_eq!(first.report.would_do.len(), failing, "every failure is decided: {:?}", first.report.errors);
    assert!(!first.report.emergency && !steady.report.emergency, "no emergency: the bench measures the everyday path");

    let warm_read = steady.reads();
    println!(
        "autonomy cold read cycle (first, for reference): {:.3} s ({cold_read_requests} requests)",
        first.reads().as_secs_f64()
    );
    println!("autonomy warm read cycle (baseline): {:.3} s ({warm_read_requests} requests)", warm_read.as_secs_f64());
    println!(
        "autonomy steward, first cycle: {:.3} s{} ({first_requests} requests, {} decisions); ratio first/baseline = \
         {:.2}x",
        first.steward().as_secs_f64(),
        first.bound(),
        first.report.decisions.len(),
        first.steward().as_secs_f64() / warm_read.as_secs_f64()
    );
    println!(
        "autonomy steward, steady cycle: {:.3} s{} ({steady_requests} requests, {} decisions); ratio steady/baseline \
         = {:.2}x; {:.1} ms per failing repository",
        steady.steward().as_secs_f64(),
        steady.bound(),
        steady.report.decisions.len(),
        steady.steward().as_secs_f64() / warm_read.as_secs_f64(),
        steady.steward().as_secs_f64() * 1_000.0 / failing.max(1) as f64
    );
    println!(
        "autonomy warm read cycle over REST alone (second baseline): {:.3} s; ratio steady/REST baseline = {:.2}x",
        rest_read.as_secs_f64(),
        steady.steward().as_secs_f64() / rest_read.as_secs_f64()
    );
    if events.lost() > 0 {
        println!(
            "(the bench's subscriber lost {} events; every time above without a bound noted is exact)",
            events.lost()
        );
    }
}

/// One orchestration cycle as the bus told it: when it started, when the queen closed it (the pilots' reads), and
/// when the steward had acted on it.
struct Cycle {
    started: SystemTime,
    completed: SystemTime,
    acted: SystemTime,
    /// Whether `acted` is when the steward's last cycle was found, the bus having dropped its event: a bound.
    fallback: bool,
    report: AutonomyReport,
}

impl Cycle {
    fn reads(&self) -> Duration {
        self.completed.duration_since(self.started).unwrap_or_default()
    }

    fn steward(&self) -> Duration {
        self.acted.duration_since(self.completed).unwrap_or_default()
    }

    fn bound(&self) -> &'static str {
        if self.fallback { " (at most: its event was dropped)" } else { "" }
    }
}

/// Starts a cycle and follows it on the bus to the steward's `AutonomyCompleted`; should the bus have dropped that
/// event, the steward's last cycle (looked at after every event and every quiet 100 ms once events were lost) says
/// when it had finished, at most.
async fn cycle(hive: &Hive, events: &mut Subscription) -> Cycle {
    let last = || hive.steward().and_then(|steward| steward.last_cycle());
    let before = last().map_or(0, |(record, _)| record.orchestration_cycle);
    hive.start_cycle().expect("the queen takes the cycle");
    let deadline = Instant::now() + CYCLE_DEADLINE;
    let (mut started, mut completed) = (None, None);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "the cycle did not finish within {CYCLE_DEADLINE:?}");
        if let Ok(envelope) = tokio::time::timeout(left.min(Duration::from_millis(100)), events.recv()).await {
            let envelope = envelope.expect("the hive runs until the bench stops it");
            match &*envelope.event {
                HiveEvent::CycleStarted { cycle, .. } if started.is_none() => started = Some((*cycle, envelope.at)),
                HiveEvent::CycleCompleted { record } if Some(record.orchestration_cycle) == started.map(|s| s.0) => {
                    completed = Some(envelope.at);
                }
                HiveEvent::AutonomyCompleted { record, report }
                    if let Some((number, started)) = started
                        && record.orchestration_cycle == number =>
                {
                    let completed =
                        completed.expect("a cycle's close is published long before the steward has acted on it");
                    let report = (**report).clone();
                    return Cycle { started, completed, acted: envelope.at, fallback: false, report };
                }
                _ => {}
            }
        }
        // Only once the subscriber has lost events: otherwise the event is on its way (the steward keeps its last
        // cycle just before it publishes), and its stamp is the better measure.
        if events.lost() == 0 {
            continue;
        }
        let Some((record, report)) = last().filter(|(record, _)| record.orchestration_cycle > before) else {
            continue;
        };
        let (Some((number, started)), Some(completed)) = (started, completed) else {
            panic!(
                "the bench's subscriber lost {} events, the cycle's start or close among them: raise BUS_CAPACITY",
                events.lost()
            );
        };
        assert_eq!(record.orchestration_cycle, number, "the steward acted on the cycle the bench started");
        return Cycle { started, completed, acted: SystemTime::now(), fallback: true, report };
    }
}

/// The warm read cycle (the second) of a hive without a steward whose forge reads over REST alone, as every read
/// did before snapshots were batched through GraphQL: the baseline the loop's goal was first set against, next to
/// which GraphQL's warm cycle (a probe of the fleet in a few queries) is an order of magnitude shorter.
async fn rest_warm_read(emu: &Emulator) -> Duration {
    let mut config = forge_config(emu);
    config.graphql_snapshots = false;
    let hive = Hive::builder()
        .pilot_config(PilotConfig { jitter: Duration::ZERO, ..PilotConfig::default() })
        .bus_capacity(BUS_CAPACITY)
        .forge(GitHubForge::new(config).expect("a token configuration without filters is valid"))
        .start()
        .await
        .expect("the hive starts over the emulator's org");
    let mut events = hive.subscribe();
    let mut reads = Duration::ZERO;
    for _ in 0..2 {
        hive.start_cycle().expect("the queen takes the cycle");
        let deadline = Instant::now() + CYCLE_DEADLINE;
        let mut started = None;
        reads = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "the REST cycle did not finish within {CYCLE_DEADLINE:?}");
            let Ok(envelope) = tokio::time::timeout(left, events.recv()).await else { continue };
            let envelope = envelope.expect("the hive runs until the bench stops it");
            match &*envelope.event {
                HiveEvent::CycleStarted { cycle, .. } if started.is_none() => started = Some((*cycle, envelope.at)),
                HiveEvent::CycleCompleted { record }
                    if let Some((number, at)) = started
                        && record.orchestration_cycle == number =>
                {
                    break envelope.at.duration_since(at).unwrap_or_default();
                }
                _ => {}
            }
        };
    }
    hive.shutdown().await.expect("the hive stops");
    reads
}

/// The wall clock the bus stamps events with, tied to the monotonic one the emulator stamps requests with, so a
/// request can be placed between two events.
struct Clock {
    instant: Instant,
    system: SystemTime,
}

impl Clock {
    fn now() -> Clock {
        Clock { instant: Instant::now(), system: SystemTime::now() }
    }

    fn instant(&self, at: SystemTime) -> Instant {
        self.instant + at.duration_since(self.system).unwrap_or_default()
    }
}

fn forge(emu: &Emulator) -> GitHubForge {
    GitHubForge::new(forge_config(emu)).expect("a token configuration without filters is valid")
}

fn forge_config(emu: &Emulator) -> GitHubConfig {
    let mut config = GitHubConfig::new(GitHubAuth::Token(Secret::new(emu.token())));
    config.api_url = emu.url();
    config.targets.push(Target::Org(ORG.to_owned()));
    config
}

/// `repos` repositories, every tenth with a failing test job on `main`, the rest green.
async fn fleet(repos: usize) -> Emulator {
    let emu = Emulator::start().await;
    let state = emu.state();
    state.add_org(ORG);
    state.set_rate_limit(1_000_000, 1_000_000, u64::MAX / 2);
    for i in 0..repos {
        let name = format!("repo-{i:04}");
        state.add_repo(RepoSpec::new(ORG, &name));
        let run = if i % 10 == 0 {
            RunSpec::new("CI", "main").outcome("completed", Some("failure")).job(JobSpec::new(
                "test",
                "completed",
                Some("failure"),
            ))
        } else {
            RunSpec::new("CI", "main")
        };
        state.add_workflow_run(ORG, &name, run);
    }
    state.set_latency(LATENCY);
    emu
}
