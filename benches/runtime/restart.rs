//! Restart latency, failure to replacement running, against a raw ractor supervisor.

use super::*;

// ---------------------------------------------------------------------------------------------------------------
// 4. Restart latency
// ---------------------------------------------------------------------------------------------------------------

const RESTART_HIVE: &str = "restart/hive_pilot";
const RESTART_RAW: &str = "restart/raw_ractor";
/// At least this many restarts per side go into the percentiles.
const RESTARTS: usize = 1_000;

struct RestartHive {
    hive: Hive,
    forge: Arc<TimedForge>,
}

async fn restart_hive_fixture() -> RestartHive {
    let forge = Arc::new(TimedForge {
        inner: SimForge::new(vec![SimRepo::healthy("bench/restart")]),
        armed: AtomicBool::new(false),
        panicked_at: Mutex::new(None),
    });
    let policy = RestartPolicy {
        restart: RestartType::Permanent,
        max_restarts: u32::MAX,
        period: Duration::from_secs(3600),
        backoff: Backoff::NONE,
    };
    let pilot = PilotConfig { jitter: Duration::ZERO, emergency_jitter: Duration::ZERO, ..PilotConfig::default() };
    let hive = Hive::builder()
        .shared_forge(forge.clone())
        .pilot_config(pilot)
        .restart_policy(policy)
        .start()
        .await
        .expect("hive starts");
    RestartHive { hive, forge }
}

/// One restart per iteration: arm the forge, start a cycle (the pilot reads, the forge panics, the pilot fails),
/// and time from the panic to reading `MemberRestarted`. The restarted pilot then answers the cycle, untimed.
async fn restart_hive(fx: &RestartHive, iters: u64) -> Duration {
    let mut sub = fx.hive.subscribe();
    let mut total = Timings::default();
    let mut inner = Vec::new();
    for _ in 0..iters {
        fx.forge.armed.store(true, Ordering::SeqCst);
        fx.hive.start_cycle().expect("queen is running");
        let failed = until(&mut sub, |e| matches!(e, HiveEvent::MemberFailed { .. })).await;
        let restarted = until(&mut sub, |e| matches!(e, HiveEvent::MemberRestarted { .. })).await;
        let received = Instant::now();
        let panicked = fx.forge.panicked_at.lock().unwrap_or_else(PoisonError::into_inner).take();
        let latency = received - panicked.expect("the forge panicked");
        total.add(latency);
        inner.push(since(failed.at, restarted.at));
        until(&mut sub, |e| matches!(e, HiveEvent::CycleCompleted { .. })).await;
    }
    assert_eq!(sub.lost(), 0, "the reader lost events");
    tally(RESTART_HIVE, |t| t.inner.extend(inner));
    total.finish(RESTART_HIVE)
}

struct RestartRaw {
    failed_at: FailedAt,
    restarted: broadcast::Sender<ActorRef<()>>,
    child: Mutex<Option<ActorRef<()>>>,
}

async fn restart_raw_fixture() -> (RestartRaw, ActorRef<()>) {
    let failed_at = FailedAt::default();
    let (restarted, mut rx) = broadcast::channel(16);
    let args = RestartArgs { failed_at: failed_at.clone(), restarted: restarted.clone() };
    let (sup, _join) = Actor::spawn(None, RestartSupervisor, args).await.expect("supervisor starts");
    let child = rx.recv().await.expect("first child");
    (RestartRaw { failed_at, restarted, child: Mutex::new(Some(child)) }, sup)
}

/// One restart per iteration: make the child fail, time from its failure to reading the replacement's reference.
async fn restart_raw(fx: &RestartRaw, iters: u64) -> Duration {
    let mut rx = fx.restarted.subscribe();
    let mut child = fx.child.lock().unwrap_or_else(PoisonError::into_inner).take().expect("a child is running");
    let mut total = Timings::default();
    for _ in 0..iters {
        child.cast(()).expect("child is alive");
        child = rx.recv().await.expect("replacement announced");
        let received = Instant::now();
        let failed = fx.failed_at.lock().unwrap_or_else(PoisonError::into_inner).take();
        let latency = received - failed.expect("the child failed");
        total.add(latency);
    }
    *fx.child.lock().unwrap_or_else(PoisonError::into_inner) = Some(child);
    total.finish(RESTART_RAW)
}

pub(super) fn restart_group(c: &mut Criterion, rt: &Runtime) {
    let started = Instant::now();
    let hive = rt.block_on(restart_hive_fixture());
    let (raw, raw_sup) = rt.block_on(restart_raw_fixture());
    let mut group = c.benchmark_group("restart");
    group.sample_size(10).warm_up_time(Duration::from_millis(100)).measurement_time(Duration::from_secs(1));
    group.bench_function("raw_ractor", |b| b.to_async(rt).iter_custom(|iters| restart_raw(&raw, iters)));
    group.bench_function("hive_pilot", |b| b.to_async(rt).iter_custom(|iters| restart_hive(&hive, iters)));
    group.finish();
    rt.block_on(async {
        top_up(RESTART_RAW, RESTARTS, |n| restart_raw(&raw, n)).await;
        top_up(RESTART_HIVE, RESTARTS, |n| restart_hive(&hive, n)).await;
        hive.hive.shutdown().await.expect("hive shuts down");
        raw_sup.stop_children_and_wait(None, None).await;
        raw_sup.stop_and_wait(None, None).await.expect("supervisor stops");
    });

    let (hive_all, hive_inner) = tally(RESTART_HIVE, |t| (t.samples.clone(), t.inner.clone()));
    let raw_all = tally(RESTART_RAW, |t| t.samples.clone());
    let (Some((h50, h99)), Some((r50, r99))) = (p50_p99(&hive_all), p50_p99(&raw_all)) else {
        return;
    };
    println!(
        "restart, forge panic -> MemberRestarted read: p50 {} p99 {} (n = {}); raw ractor failure -> replacement \
         read: p50 {} p99 {} (n = {})",
        us(h50),
        us(h99),
        hive_all.len(),
        us(r50),
        us(r99),
        raw_all.len()
    );
    if let Some((i50, i99)) = p50_p99(&hive_inner) {
        println!("restart, inside the queen (MemberFailed.at -> MemberRestarted.at): p50 {} p99 {}", us(i50), us(i99));
    }
    println!(
        "ratio restart_p50 hive_pilot/raw_ractor = {:.2}x (goal: hive p50 <= 100 us) [{}]",
        h50.as_secs_f64() / r50.as_secs_f64(),
        verdict(h50 <= Duration::from_micros(100))
    );
    wall("restart", started, &[RESTART_HIVE, RESTART_RAW]);
}
