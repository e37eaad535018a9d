//! The 100-ORCH fan-out on the rule engine against 100 raw ractor calls.

use super::*;

// ---------------------------------------------------------------------------------------------------------------
// 6. 100-ORCH fan-out
// ---------------------------------------------------------------------------------------------------------------

const ORCHS: usize = 100;
const ORCH_HIVE: &str = "orch_100/hive_propose";
const ORCH_RAW: &str = "orch_100/raw_ractor";

fn seed() -> Seed {
    Seed::new(repo_name(0), Signal::ci_failure(CiSignature::new("ci", "test", Some("cargo test"), CiClass::Test)))
}

async fn orch_hive(hive: &Hive, iters: u64) -> Duration {
    let mut total = Timings::default();
    for _ in 0..iters {
        let start = Instant::now();
        let report = hive.propose(seed(), ORCHS).await.expect("fan-out reports");
        total.add(start.elapsed());
        assert_eq!(report.succeeded(), ORCHS);
    }
    total.finish(ORCH_HIVE)
}

/// 100 raw actors spawned linked to a supervisor, each answering one call, then stopped (as the queen stops each
/// ORCH once it has answered).
async fn orch_raw(sup: &ActorRef<()>, iters: u64) -> Duration {
    let mut total = Timings::default();
    for _ in 0..iters {
        let start = Instant::now();
        let mut actors = Vec::with_capacity(ORCHS);
        for _ in 0..ORCHS {
            let (actor, _join) = Actor::spawn_linked(None, Echo, (), sup.get_cell()).await.expect("echo starts");
            actors.push(actor);
        }
        let replies = futures::future::join_all(actors.iter().map(|a| a.call(|reply| reply, None))).await;
        for actor in &actors {
            actor.stop(None);
        }
        total.add(start.elapsed());
        assert!(replies.iter().all(|r| matches!(r, Ok(ractor::rpc::CallResult::Success(())))));
    }
    total.finish(ORCH_RAW)
}

pub(super) fn orch_group(c: &mut Criterion, rt: &Runtime) {
    let started = Instant::now();
    let hive = rt.block_on(Hive::builder().forge(SimForge::new(Vec::new())).start()).expect("hive starts");
    let (sup, _join) = rt.block_on(Actor::spawn(None, NopSupervisor, ())).expect("supervisor starts");
    let mut group = c.benchmark_group("orch_100");
    group.sample_size(10).warm_up_time(Duration::from_millis(200)).measurement_time(Duration::from_secs(1));
    group.bench_function("raw_ractor", |b| b.to_async(rt).iter_custom(|iters| orch_raw(&sup, iters)));
    group.bench_function("hive_propose", |b| b.to_async(rt).iter_custom(|iters| orch_hive(&hive, iters)));
    group.finish();
    rt.block_on(async {
        hive.shutdown().await.expect("hive shuts down");
        sup.stop_children_and_wait(None, None).await;
        sup.stop_and_wait(None, None).await.expect("supervisor stops");
    });
    if let (Some(hive), Some(raw)) = (typical(ORCH_HIVE), typical(ORCH_RAW)) {
        println!("orch fan-out, propose(seed, 100) end to end: median {}; raw ractor: median {}", ms(hive), ms(raw));
    }
    print_ratio("orch_100 hive_propose/raw_ractor", ORCH_HIVE, ORCH_RAW, "none; absolute goal <= 50 ms", |_| {
        typical(ORCH_HIVE).is_some_and(|d| d <= Duration::from_millis(50))
    });
    wall("orch_100", started, &[ORCH_HIVE, ORCH_RAW]);
}

// ---------------------------------------------------------------------------------------------------------------
