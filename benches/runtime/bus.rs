//! Bus delivery rate against raw ractor casts.

use super::*;

// ---------------------------------------------------------------------------------------------------------------
// 3. Bus delivery rate
// ---------------------------------------------------------------------------------------------------------------

const EVENTS: u64 = 100_000;
const BUS_HIVE: &str = "bus_100k/event_bus";
const BUS_RAW: &str = "bus_100k/raw_ractor_cast";

fn sample_event(member: &MemberId, i: u64) -> HiveEvent {
    HiveEvent::HealthReported { member: member.clone(), score: 90, healthy: true, cycle: Some(i) }
}

async fn bus_hive(iters: u64) -> Duration {
    let member = MemberId::new(repo_name(0));
    let mut total = Timings::default();
    for _ in 0..iters {
        // Room for every event, so a slow reader loses nothing and the assertion below holds.
        let bus = EventBus::new(EVENTS as usize + 1);
        let mut sub = bus.subscribe();
        let reader = tokio::spawn(async move {
            let mut seen = 0;
            while seen < EVENTS && sub.recv().await.is_some() {
                seen += 1;
            }
            (seen, sub.lost())
        });
        let start = Instant::now();
        for i in 0..EVENTS {
            bus.publish(sample_event(&member, i));
        }
        let (seen, lost) = reader.await.expect("reader finishes");
        total.add(start.elapsed());
        assert_eq!((seen, lost, bus.lost()), (EVENTS, 0, 0), "the bus lost events");
    }
    total.finish(BUS_HIVE)
}

async fn bus_raw(iters: u64) -> Duration {
    let member = MemberId::new(repo_name(0));
    let mut total = Timings::default();
    for _ in 0..iters {
        let (done, finished) = oneshot::channel();
        let (counter, join) = Actor::spawn(None, Counter, (EVENTS, done)).await.expect("counter starts");
        let start = Instant::now();
        for i in 0..EVENTS {
            counter.cast(sample_event(&member, i)).expect("counter is alive");
        }
        let seen = finished.await.expect("counter counts");
        total.add(start.elapsed());
        assert_eq!(seen, EVENTS);
        counter.stop(None);
        join.await.expect("counter exits");
    }
    total.finish(BUS_RAW)
}

pub(super) fn bus_group(c: &mut Criterion, rt: &Runtime) {
    let started = Instant::now();
    let mut group = c.benchmark_group("bus_100k");
    heavy(&mut group);
    group.throughput(Throughput::Elements(EVENTS));
    group.bench_function("raw_ractor_cast", |b| b.to_async(rt).iter_custom(bus_raw));
    group.bench_function("event_bus", |b| b.to_async(rt).iter_custom(bus_hive));
    group.finish();
    // A rate ratio is the inverse of a time ratio.
    if let (Some(hive), Some(raw)) = (typical(BUS_HIVE), typical(BUS_RAW)) {
        let rate = |d: Duration| EVENTS as f64 / d.as_secs_f64();
        let ratio = rate(hive) / rate(raw);
        println!(
            "bus delivery: event_bus {:.2} M events/s, raw ractor cast {:.2} M msgs/s",
            rate(hive) / 1e6,
            rate(raw) / 1e6
        );
        println!("ratio event_bus_rate/raw_ractor_cast_rate = {ratio:.2}x (goal >= 0.5x) [{}]", verdict(ratio >= 0.5));
    }
    wall("bus_100k", started, &[BUS_HIVE, BUS_RAW]);
}
