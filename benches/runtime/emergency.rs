//! Threshold-crossing report to `EmergencyDeclared`, idle and behind a burst of reports, read by the bench's thread
//! and by a runtime task, and the same with members commanded into emergency mode, as before the emergency flag, in
//! alternating rounds.

use super::*;

// ---------------------------------------------------------------------------------------------------------------
// 5. Threshold-crossing report -> EmergencyDeclared
// ---------------------------------------------------------------------------------------------------------------

const EMERGENCY_FLEET: usize = 1_000;
const EMERGENCY_HIVE: &str = "emergency/queen_1000";
const EMERGENCY_HIVE_BURST: &str = "emergency/queen_1000_burst";
const EMERGENCY_RAW: &str = "emergency/raw_ractor";
const EMERGENCY_RAW_BURST: &str = "emergency/raw_ractor_burst";
/// The same declarations read by a task on the runtime (as the steward, the API's event stream and any embedding
/// subscriber read them) instead of by the bench's `block_on` thread, which has to be woken from outside the runtime.
const EMERGENCY_HIVE_TASK: &str = "emergency/queen_1000_task_reader";
const EMERGENCY_HIVE_TASK_BURST: &str = "emergency/queen_1000_task_reader_burst";
/// The same-run comparison of members that follow the emergency flag with members commanded as before it, taken
/// in alternating rounds after the rest of the group so that both sides see the same load.
const FLAG: &str = "emergency/ab_flag";
const FLAG_BURST: &str = "emergency/ab_flag_burst";
const COMMANDED: &str = "emergency/ab_commanded";
const COMMANDED_BURST: &str = "emergency/ab_commanded_burst";
const AB_ROUNDS: u64 = 5;
/// At least this many declarations per side go into the percentiles, on an idle queen and behind a burst.
const DECLARATIONS: usize = 1_000;
const BURST_DECLARATIONS: usize = 200;

/// What member `i` reports while the fleet sits exactly at the 50 % boundary: the first half healthy.
fn boundary_verdict(i: usize) -> (u8, bool) {
    if i < EMERGENCY_FLEET / 2 { (90, true) } else { (40, false) }
}

/// Lets the runtime's workers run out of work and park before a timed report, on both sides, so each
/// declaration is measured from an idle runtime as an isolated report would be, not from one still spinning after
/// the previous iteration. (A pause on purpose, not a wait for something to happen.)
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

struct EmergencyHive {
    queen: QueenHandle,
    /// Sorted by member id; `reporters[0]` is the healthy member whose verdict flips.
    reporters: Vec<Reporter>,
    commands: Arc<Commands>,
}

/// A queen with 1,000 idle members that have all reported, half of them healthy: exactly at the 50 % boundary,
/// not below it. Only the fleet-health trigger can fire (40 is above the critical score, no signals).
async fn emergency_fixture(builder: IdleBuilder) -> EmergencyHive {
    let bus = EventBus::new(1 << 14);
    let mut sub = bus.subscribe();
    let builder = Arc::new(builder);
    // `clear_after: 1` only shortens the untimed reset between iterations; it plays no part in declaring.
    let emergency = EmergencyConfig { clear_after: 1, ..EmergencyConfig::default() };
    let config = QueenConfig { emergency, ..QueenConfig::default() };
    let members = (0..EMERGENCY_FLEET).map(|i| MemberSpec::pilot(repo_name(i))).collect();
    let args = QueenArgs::new(bus, config).with_builder(builder.clone()).with_members(members);
    let queen = Queen::start(args).await.expect("queen starts");
    until(&mut sub, |e| matches!(e, HiveEvent::FleetStarted { members } if members.len() == EMERGENCY_FLEET)).await;
    let mut reporters = std::mem::take(&mut *builder.reporters.lock().unwrap_or_else(PoisonError::into_inner));
    reporters.sort_by(|a, b| a.member().cmp(b.member()));
    for (i, reporter) in reporters.iter().enumerate() {
        let (score, healthy) = boundary_verdict(i);
        reporter.report(HealthReport::new(score, healthy));
    }
    let status = queen.status().await.expect("status");
    assert!(!status.emergency && (status.fleet.share - 0.5).abs() < f64::EPSILON, "{:?}", status.fleet);
    EmergencyHive { queen, reporters, commands: builder.commands.clone() }
}

/// One declaration per iteration: time from casting the report that takes the healthy share below 50 % to
/// reading `EmergencyDeclared`. With `burst`, the other 999 members report (unchanged verdicts) just before, as in
/// a cycle, so the crossing report queues behind theirs. Untimed: the member reports healthy again, cycles clear
/// the emergency, and the bench waits until the queen and every member are idle.
async fn emergency_hive(fx: &EmergencyHive, iters: u64, burst: bool) -> Duration {
    let name = if burst { EMERGENCY_HIVE_BURST } else { EMERGENCY_HIVE };
    emergency_hive_as(name, fx, iters, burst).await
}

/// [`emergency_hive`] with the reader in a task on the runtime.
async fn emergency_hive_task(fx: &Arc<EmergencyHive>, iters: u64, burst: bool) -> Duration {
    let name = if burst { EMERGENCY_HIVE_TASK_BURST } else { EMERGENCY_HIVE_TASK };
    let fx = Arc::clone(fx);
    tokio::spawn(async move { emergency_hive_as(name, &fx, iters, burst).await }).await.expect("the reader task ends")
}

async fn emergency_hive_as(name: &'static str, fx: &EmergencyHive, iters: u64, burst: bool) -> Duration {
    let flipper = &fx.reporters[0];
    let mut sub = fx.queen.subscribe();
    let mut total = Timings::default();
    let (mut inner, mut to_queen, mut to_reader) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..iters {
        settle().await;
        if burst {
            for (i, reporter) in fx.reporters.iter().enumerate().skip(1) {
                let (score, healthy) = boundary_verdict(i);
                reporter.report(HealthReport::new(score, healthy));
            }
        }
        let cast_at = SystemTime::now();
        let start = Instant::now();
        flipper.report(HealthReport::new(40, false));
        let reported =
            until(&mut sub, |e| matches!(e, HiveEvent::HealthReported { member, .. } if member == flipper.member()))
                .await;
        let declared = until(&mut sub, |e| matches!(e, HiveEvent::EmergencyDeclared { .. })).await;
        let latency = start.elapsed();
        let read_at = SystemTime::now();
        total.add(latency);
        inner.push(since(reported.at, declared.at));
        to_queen.push(since(cast_at, reported.at));
        to_reader.push(since(declared.at, read_at));

        flipper.report(HealthReport::new(90, true));
        fx.queen.start_cycle().expect("queen is running");
        fx.queen.start_cycle().expect("queen is running");
        until(&mut sub, |e| matches!(e, HiveEvent::EmergencyCleared { .. })).await;
        fx.queen.status().await.expect("status");
        fx.commands.until_quiet().await;
    }
    assert_eq!(sub.lost(), 0, "the reader lost events");
    tally(name, |t| {
        t.inner.extend(inner);
        t.to_queen.extend(to_queen);
        t.to_reader.extend(to_reader);
    });
    total.finish(name)
}

struct EmergencyRaw {
    actor: ActorRef<(usize, bool)>,
    declared: broadcast::Sender<()>,
}

async fn emergency_raw_fixture() -> EmergencyRaw {
    let (declared, _) = broadcast::channel(16);
    let (actor, _join) =
        Actor::spawn(None, Threshold, (EMERGENCY_FLEET, declared.clone())).await.expect("threshold starts");
    for i in 0..EMERGENCY_FLEET {
        actor.cast((i, boundary_verdict(i).1)).expect("threshold is alive");
    }
    EmergencyRaw { actor, declared }
}

async fn emergency_raw(fx: &EmergencyRaw, iters: u64, burst: bool) -> Duration {
    let name = if burst { EMERGENCY_RAW_BURST } else { EMERGENCY_RAW };
    let mut rx = fx.declared.subscribe();
    let mut total = Timings::default();
    for _ in 0..iters {
        settle().await;
        if burst {
            for i in 1..EMERGENCY_FLEET {
                fx.actor.cast((i, boundary_verdict(i).1)).expect("threshold is alive");
            }
        }
        let start = Instant::now();
        fx.actor.cast((0, false)).expect("threshold is alive");
        rx.recv().await.expect("declared");
        let latency = start.elapsed();
        total.add(latency);
        fx.actor.cast((0, true)).expect("threshold is alive");
    }
    total.finish(name)
}

pub(super) fn emergency_group(c: &mut Criterion, rt: &Runtime) {
    let started = Instant::now();
    let hive = Arc::new(rt.block_on(emergency_fixture(IdleBuilder::default())));
    let raw = rt.block_on(emergency_raw_fixture());
    let mut group = c.benchmark_group("emergency");
    // Criterion sizes runs by the time it is told was measured, but the untimed reset after each declaration (two
    // cycles over 1,000 members) costs far more than the timed part. Small targets per function bound the run to a
    // few hundred declarations (idle) and about a hundred (burst); flat sampling keeps every sample the same size.
    group.sample_size(10).sampling_mode(SamplingMode::Flat).warm_up_time(Duration::from_millis(2));
    for (burst, raw_target, hive_target) in [(false, 10, 6), (true, 30, 150)] {
        let suffix = if burst { "_burst" } else { "" };
        group.measurement_time(Duration::from_millis(raw_target));
        group.bench_function(format!("raw_ractor{suffix}"), |b| {
            b.to_async(rt).iter_custom(|iters| emergency_raw(&raw, iters, burst))
        });
        group.measurement_time(Duration::from_millis(hive_target));
        group.bench_function(format!("queen_1000{suffix}"), |b| {
            b.to_async(rt).iter_custom(|iters| emergency_hive(&hive, iters, burst))
        });
        group.bench_function(format!("queen_1000_task_reader{suffix}"), |b| {
            b.to_async(rt).iter_custom(|iters| emergency_hive_task(&hive, iters, burst))
        });
    }
    group.finish();
    rt.block_on(async {
        top_up(EMERGENCY_RAW, DECLARATIONS, |n| emergency_raw(&raw, n, false)).await;
        top_up(EMERGENCY_HIVE, DECLARATIONS, |n| emergency_hive(&hive, n, false)).await;
        top_up(EMERGENCY_RAW_BURST, BURST_DECLARATIONS, |n| emergency_raw(&raw, n, true)).await;
        top_up(EMERGENCY_HIVE_BURST, BURST_DECLARATIONS, |n| emergency_hive(&hive, n, true)).await;
        top_up(EMERGENCY_HIVE_TASK, DECLARATIONS, |n| emergency_hive_task(&hive, n, false)).await;
        top_up(EMERGENCY_HIVE_TASK_BURST, BURST_DECLARATIONS, |n| emergency_hive_task(&hive, n, true)).await;
        if tally(EMERGENCY_HIVE, |t| !t.samples.is_empty()) && !smoke() {
            let commanded = emergency_fixture(IdleBuilder::commanded()).await;
            for _ in 0..AB_ROUNDS {
                for (burst, flag, old, n) in [
                    (false, FLAG, COMMANDED, DECLARATIONS as u64 / AB_ROUNDS),
                    (true, FLAG_BURST, COMMANDED_BURST, BURST_DECLARATIONS as u64 / AB_ROUNDS),
                ] {
                    emergency_hive_as(flag, &hive, n, burst).await;
                    emergency_hive_as(old, &commanded, n, burst).await;
                }
            }
            commanded.queen.shutdown().await.expect("queen shuts down");
        }
        hive.queen.shutdown().await.expect("queen shuts down");
        raw.actor.stop_and_wait(None, None).await.expect("threshold stops");
    });

    for (hive_name, raw_name, what) in [
        (EMERGENCY_HIVE, EMERGENCY_RAW, "idle queen"),
        (EMERGENCY_HIVE_BURST, EMERGENCY_RAW_BURST, "behind 999 reports"),
        (EMERGENCY_HIVE_TASK, EMERGENCY_RAW, "idle queen, reader in a runtime task"),
        (EMERGENCY_HIVE_TASK_BURST, EMERGENCY_RAW_BURST, "behind 999 reports, reader in a runtime task"),
    ] {
        let (hive_all, hive_inner) = tally(hive_name, |t| (t.samples.clone(), t.inner.clone()));
        let raw_all = tally(raw_name, |t| t.samples.clone());
        let (Some((h50, h99)), Some((r50, r99))) = (p50_p99(&hive_all), p50_p99(&raw_all)) else {
            continue;
        };
        // The raw baseline's p99 says how much of a missed tail is the machine's (a loaded machine's time slices).
        println!(
            "emergency ({what}), crossing report cast -> EmergencyDeclared read: p50 {} p99 {} (n = {}); raw \
             ractor: p50 {} p99 {}",
            us(h50),
            us(h99),
            hive_all.len(),
            us(r50),
            us(r99)
        );
        let (to_queen, to_reader) = tally(hive_name, |t| (t.to_queen.clone(), t.to_reader.clone()));
        if let (Some((q50, q99)), Some((w50, w99))) = (p50_p99(&to_queen), p50_p99(&to_reader)) {
            println!(
                "emergency ({what}), report cast -> HealthReported.at: p50 {} p99 {}; EmergencyDeclared.at -> read: \
                 p50 {} p99 {}",
                us(q50),
                us(q99),
                us(w50),
                us(w99)
            );
        }
        if let Some((i50, i99)) = p50_p99(&hive_inner) {
            println!(
                "emergency ({what}), inside the queen (HealthReported.at -> EmergencyDeclared.at): p50 {} p99 {}",
                us(i50),
                us(i99)
            );
        }
        println!(
            "ratio emergency_p50 {}/{} = {:.2}x (goal: hive p99 <= 1 ms) [{}]",
            short(hive_name),
            short(raw_name),
            h50.as_secs_f64() / r50.as_secs_f64(),
            verdict(h99 <= Duration::from_millis(1))
        );
    }
    for (flag, old, what) in [(FLAG, COMMANDED, "idle queen"), (FLAG_BURST, COMMANDED_BURST, "behind 999 reports")] {
        let (flag_all, old_all) = (tally(flag, |t| t.samples.clone()), tally(old, |t| t.samples.clone()));
        let percentiles = |all: &[Duration]| [0.5, 0.9, 0.99].map(|p| percentile(all, p).map_or_else(String::new, us));
        let ([f50, f90, f99], [o50, o90, o99]) = (percentiles(&flag_all), percentiles(&old_all));
        if !flag_all.is_empty() && !old_all.is_empty() {
            println!(
                "emergency ({what}), alternating rounds: members follow the flag p50 {f50} p90 {f90} p99 {f99} \
                 (n = {}); members commanded p50 {o50} p90 {o90} p99 {o99} (n = {})",
                flag_all.len(),
                old_all.len()
            );
        }
    }
    let names = [EMERGENCY_HIVE, EMERGENCY_RAW, EMERGENCY_HIVE_BURST, EMERGENCY_RAW_BURST, EMERGENCY_HIVE_TASK];
    wall("emergency", started, &names);
}
