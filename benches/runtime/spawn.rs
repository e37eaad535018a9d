//! Spawning 10,000 pilots through the queen against raw ractor, and their idle memory.

use super::*;

// ---------------------------------------------------------------------------------------------------------------
// 1 + 2. Spawning 10,000 pilots, and their idle memory
// ---------------------------------------------------------------------------------------------------------------

const FLEET: usize = 10_000;
/// The bus's ring, as in the run before the fleet became one `FleetStarted`; far more than a fleet start publishes,
/// so the reader can never lose an event.
const SPAWN_BUS: usize = 16_384;

const RAW_SPAWN: &str = "spawn_10k/raw_ractor";
const QUEEN_PILOTS: &str = "spawn_10k/queen_pilots";
const QUEEN_PILOTS_TASK: &str = "spawn_10k/queen_pilots_task_reader";
const QUEEN_PILOTS_QUIET: &str = "spawn_10k/queen_pilots_no_reader";
const QUEEN_IDLE: &str = "spawn_10k/queen_idle_members_no_reader";
const FACADE_PILOTS: &str = "spawn_10k/hive_facade_pilots";

/// Fills the bus's ring with filler events and reads them, so the ring holds the same kind of event before and
/// after a fleet starts, and the bytes it retains cancel out of the memory difference.
fn refill(bus: &EventBus, sub: &mut Subscription) {
    for _ in 0..SPAWN_BUS {
        bus.publish(HiveEvent::CycleStarted { cycle: 0, asked: 0, kind: hive::cerebrum::CycleKind::Full });
    }
    while sub.try_recv().is_some() {}
}

fn per_actor(before: isize, after: isize) -> f64 {
    (after - before) as f64 / FLEET as f64
}

/// 10,000 trivial actors spawned one after the other, each linked to a trivial supervisor, until the last
/// `spawn_linked` returns (its `pre_start` has run).
async fn raw_spawn(iters: u64) -> Duration {
    let mut total = Timings::default();
    for _ in 0..iters {
        let before = live_bytes();
        let start = Instant::now();
        let (sup, sup_join) = Actor::spawn(None, NopSupervisor, ()).await.expect("supervisor starts");
        for _ in 0..FLEET {
            Actor::spawn_linked(None, Nop, (), sup.get_cell()).await.expect("actor starts");
        }
        total.add(start.elapsed());
        let bytes = per_actor(before, live_bytes());
        tally(RAW_SPAWN, |t| t.bytes.push(bytes));
        sup.stop_children_and_wait(None, None).await;
        sup.stop(None);
        sup_join.await.expect("supervisor exits");
    }
    total.finish(RAW_SPAWN)
}

/// How the bench learns that every initial member runs.
#[derive(Clone, Copy)]
enum Wait {
    /// Read the bus as it goes, until `FleetStarted` (naming all 10,000), on the thread that drives the runtime's
    /// `block_on`, which is where `hive run` reads its events.
    Events,
    /// The same reader, spawned as a task on the runtime's workers.
    TaskEvents,
    /// Ask `status()` once; the queen answers after its `post_start` has started every member. Nobody waits on
    /// the bus meanwhile.
    Status,
}

/// Reads until the fleet has started, and checks that it was all of it.
async fn count_started(sub: &mut Subscription, n: usize) {
    let envelope = until(sub, |e| matches!(e, HiveEvent::FleetStarted { .. })).await;
    let HiveEvent::FleetStarted { members } = &*envelope.event else { unreachable!("until returns the match") };
    assert_eq!(members.len(), n, "every initial member started");
}

/// Starts a queen with 10,000 initial members and times it until they all run; measures the bytes they hold.
async fn queen_spawn(
    iters: u64,
    name: &'static str,
    wait: Wait,
    builder: impl Fn() -> Arc<dyn MemberBuilder>,
) -> Duration {
    let mut total = Timings::default();
    for _ in 0..iters {
        let bus = EventBus::new(SPAWN_BUS);
        let mut sub = bus.subscribe();
        refill(&bus, &mut sub);
        let builder = builder();
        let before = live_bytes();
        // Member specs are built outside the timed interval but inside the memory window: their ids stay alive as
        // the queen's member ids.
        let members: Vec<MemberSpec> = (0..FLEET).map(|i| MemberSpec::pilot(repo_name(i))).collect();
        let start = Instant::now();
        let args = QueenArgs::new(bus.clone(), QueenConfig::default()).with_builder(builder).with_members(members);
        let reader = match wait {
            // Subscribed before the queen starts, so that it sees every event.
            Wait::TaskEvents => {
                let mut sub = bus.subscribe();
                Some(tokio::spawn(async move { count_started(&mut sub, FLEET).await }))
            }
            Wait::Events | Wait::Status => None,
        };
        let queen = Queen::start(args).await.expect("queen starts");
        match (wait, reader) {
            (Wait::Events, _) => count_started(&mut sub, FLEET).await,
            (Wait::TaskEvents, Some(reader)) => reader.await.expect("reader finishes"),
            _ => {
                let status = queen.status().await.expect("status");
                assert_eq!(status.members.iter().filter(|m| m.state == MemberState::Running).count(), FLEET);
            }
        }
        total.add(start.elapsed());
        // Everything is still in the ring (16,384 events, far more than a fleet start publishes), so nothing was or
        // will be lost.
        while sub.try_recv().is_some() {}
        assert_eq!(sub.lost(), 0, "the reader lost events");
        refill(&bus, &mut sub);
        let bytes = per_actor(before, live_bytes());
        tally(name, |t| t.bytes.push(bytes));
        queen.shutdown().await.expect("queen shuts down");
    }
    total.finish(name)
}

/// The facade's path: `Hive::builder().forge(..).start()` (discovery included), then `status()`.
async fn facade_spawn(iters: u64, forge: &SimForge) -> Duration {
    let mut total = Timings::default();
    for _ in 0..iters {
        let start = Instant::now();
        let hive = Hive::builder().forge(forge.clone()).start().await.expect("hive starts");
        let status = hive.status().await.expect("status");
        total.add(start.elapsed());
        assert_eq!(status.members.iter().filter(|m| m.state == MemberState::Running).count(), FLEET);
        hive.shutdown().await.expect("hive shuts down");
    }
    total.finish(FACADE_PILOTS)
}

pub(super) fn spawn_group(c: &mut Criterion, rt: &Runtime) {
    let started = Instant::now();
    // Built once: making up 10,000 repositories is not what is measured.
    let forge = SimForge::fleet(FLEET, 0, 1);
    let pilots: Arc<dyn MemberBuilder> = Arc::new(PilotBuilder::new(Arc::new(forge.clone()), PilotConfig::default()));
    let mut group = c.benchmark_group("spawn_10k");
    heavy(&mut group);
    group.bench_function("raw_ractor", |b| b.to_async(rt).iter_custom(raw_spawn));
    group.bench_function("queen_pilots", |b| {
        b.to_async(rt).iter_custom(|iters| queen_spawn(iters, QUEEN_PILOTS, Wait::Events, || pilots.clone()))
    });
    group.bench_function("queen_pilots_task_reader", |b| {
        b.to_async(rt).iter_custom(|iters| queen_spawn(iters, QUEEN_PILOTS_TASK, Wait::TaskEvents, || pilots.clone()))
    });
    group.bench_function("queen_pilots_no_reader", |b| {
        b.to_async(rt).iter_custom(|iters| queen_spawn(iters, QUEEN_PILOTS_QUIET, Wait::Status, || pilots.clone()))
    });
    group.bench_function("queen_idle_members_no_reader", |b| {
        b.to_async(rt)
            .iter_custom(|iters| queen_spawn(iters, QUEEN_IDLE, Wait::Status, || Arc::new(IdleBuilder::default())))
    });
    group.bench_function("hive_facade_pilots", |b| b.to_async(rt).iter_custom(|iters| facade_spawn(iters, &forge)));
    group.finish();

    print_ratio("queen_pilots/raw_ractor", QUEEN_PILOTS, RAW_SPAWN, "<= 1.5x", |r| r <= 1.5);
    print_ratio("queen_pilots_task_reader/raw_ractor", QUEEN_PILOTS_TASK, RAW_SPAWN, "<= 1.5x", |r| r <= 1.5);
    print_ratio("queen_pilots_no_reader/raw_ractor", QUEEN_PILOTS_QUIET, RAW_SPAWN, "<= 1.5x", |r| r <= 1.5);
    print_ratio("queen_idle_members_no_reader/raw_ractor", QUEEN_IDLE, RAW_SPAWN, "none, diagnostic", |_| true);
    print_ratio("hive_facade_pilots/raw_ractor", FACADE_PILOTS, RAW_SPAWN, "none, diagnostic", |_| true);

    let times: Vec<String> =
        [RAW_SPAWN, QUEEN_PILOTS, QUEEN_PILOTS_TASK, QUEEN_PILOTS_QUIET, QUEEN_IDLE, FACADE_PILOTS]
            .into_iter()
            .filter_map(|name| typical(name).map(|d| format!("{} {}", short(name), ms(d))))
            .collect();
    println!("spawn 10,000, median per fleet: {}", times.join(", "));
    let bytes = |name| tally(name, |t| median(&t.bytes));
    let show = |name| bytes(name).map_or_else(|| "not run".to_owned(), |b| format!("{b:.0} B"));
    println!(
        "idle memory per member (median of iterations): queen + pilot = {} (no reader: {}), queen + idle member = \
         {}, raw ractor actor = {}",
        show(QUEEN_PILOTS),
        show(QUEEN_PILOTS_QUIET),
        show(QUEEN_IDLE),
        show(RAW_SPAWN)
    );
    if let (Some(pilot), Some(raw)) = (bytes(QUEEN_PILOTS), bytes(RAW_SPAWN)) {
        println!(
            "ratio idle_bytes queen_pilot/raw_ractor = {:.2}x (goal: pilot <= 16384 B) [{}]",
            pilot / raw,
            verdict(pilot <= 16_384.0)
        );
    }
    wall(
        "spawn_10k",
        started,
        &[RAW_SPAWN, QUEEN_PILOTS, QUEEN_PILOTS_TASK, QUEEN_PILOTS_QUIET, QUEEN_IDLE, FACADE_PILOTS],
    );
}
