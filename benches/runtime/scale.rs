//! How a full orchestration cycle grows with the fleet: 1,000, 10,000 and 100,000 pilots on the simulated forge.

use super::*;

// ---------------------------------------------------------------------------------------------------------------
// 7. One orchestration cycle at 1,000, 10,000 and 100,000 pilots
// ---------------------------------------------------------------------------------------------------------------

/// The fleets measured; `--test` (CI's smoke run) stops at 10,000, which starts and cycles in well under a second.
const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
const SMOKE_SIZES: usize = 2;
/// A tenth of the fleet fails CI, each repository with a signature of its own (no systemic emergency).
const FAILING_PERCENT: u8 = 10;
/// The goal for 100,000 pilots in one process.
const MEMORY_GOAL: f64 = 2.0 * 1024.0 * 1024.0 * 1024.0;

/// A started fleet, and what it measured once, outside criterion: starting the hive, its first cycle (every
/// report is the first of its pilot, so every one is published), and the memory the fleet holds after it.
struct Fleet {
    hive: Hive,
    measured: Measured,
}

struct Measured {
    started: Duration,
    first_cycle: Duration,
    bytes_per_pilot: f64,
    rss: Option<u64>,
}

/// Key for a size's steady cycles in the tally.
fn cycle_name(size: usize) -> &'static str {
    match size {
        1_000 => "scale/cycle_1000",
        10_000 => "scale/cycle_10000",
        _ => "scale/cycle_100000",
    }
}

/// The process's resident set, in bytes (`VmRSS`), where `/proc` has it.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}

/// Starts the cycle and reads the bus until it completes, as `hive run` does on its `block_on` thread; returns the
/// time from the request to reading `CycleCompleted`.
async fn one_cycle(hive: &Hive, size: usize) -> Duration {
    let mut events = hive.subscribe();
    let start = Instant::now();
    hive.start_cycle().expect("the hive is running");
    let done = until(&mut events, |e| matches!(e, HiveEvent::CycleCompleted { .. })).await;
    let took = start.elapsed();
    let HiveEvent::CycleCompleted { record } = &*done.event else { unreachable!("until returns the match") };
    assert_eq!((record.total_repositories, record.missed_reports), (size, 0), "{record:?}");
    took
}

/// Builds the hive over `size` simulated repositories, runs its first cycle, and measures what it holds.
async fn start_fleet(size: usize) -> Fleet {
    // The simulated repositories are the forge's, not the runtime's: made before the memory window opens.
    let forge = SimForge::fleet(size, FAILING_PERCENT, 1);
    let before = live_bytes();
    let start = Instant::now();
    let hive = Hive::builder()
        .forge(forge)
        // No jitter: the cycle's wall time is then the runtime's cost, not a random wait of up to 50 ms per read.
        .pilot_config(PilotConfig { jitter: Duration::ZERO, ..PilotConfig::default() })
        .start()
        .await
        .expect("hive starts");
    let status = hive.status().await.expect("status");
    let started = start.elapsed();
    assert_eq!(status.members.len(), size);
    let first_cycle = one_cycle(&hive, size).await;
    let bytes_per_pilot = (live_bytes() - before) as f64 / size as f64;
    Fleet { hive, measured: Measured { started, first_cycle, bytes_per_pilot, rss: resident_bytes() } }
}

/// Steady cycles on a started fleet: every pilot reads and reports, and the reports repeat the previous ones.
async fn steady_cycles(hive: &Hive, size: usize, iters: u64) -> Duration {
    let mut total = Timings::default();
    for _ in 0..iters {
        total.add(one_cycle(hive, size).await);
    }
    total.finish(cycle_name(size))
}

pub(super) fn scale_group(c: &mut Criterion, rt: &Runtime) {
    let started = Instant::now();
    let sizes = if smoke() { &SIZES[..SMOKE_SIZES] } else { &SIZES[..] };
    let mut group = c.benchmark_group("scale");
    group.sample_size(10).sampling_mode(SamplingMode::Flat).warm_up_time(Duration::from_millis(1));
    let mut measured: Vec<(usize, Measured)> = Vec::new();
    for &size in sizes {
        group.measurement_time(Duration::from_millis(if size >= 100_000 { 100 } else { 500 }));
        let mut fleet = None;
        group.bench_function(format!("cycle_{size}"), |b| {
            // Started on first use, so a filtered-out size costs nothing.
            let hive = &fleet.get_or_insert_with(|| rt.block_on(start_fleet(size))).hive;
            b.to_async(rt).iter_custom(|iters| steady_cycles(hive, size, iters));
        });
        if let Some(fleet) = fleet {
            // One fleet at a time: the next size is measured without this one's memory or actors.
            rt.block_on(fleet.hive.shutdown()).expect("hive shuts down");
            measured.push((size, fleet.measured));
        }
    }
    group.finish();
    if measured.is_empty() {
        return;
    }

    println!("scale: one orchestration cycle on SimForge::fleet(n, {FAILING_PERCENT}, 1), pilots without jitter");
    println!("scale: pilots | start | first cycle | steady cycle (median) | per pilot | bytes per pilot | process RSS");
    for (size, fleet) in &measured {
        let Some(steady) = typical(cycle_name(*size)) else { continue };
        println!(
            "scale: {size:>7} | {} | {} | {} | {:.2} us | {:.0} B | {}",
            ms(fleet.started),
            ms(fleet.first_cycle),
            ms(steady),
            steady.as_secs_f64() * 1e6 / *size as f64,
            fleet.bytes_per_pilot,
            fleet.rss.map_or_else(|| "unknown".to_owned(), |rss| format!("{:.0} MiB", rss as f64 / 1048576.0)),
        );
    }
    // Linear means the cost per pilot of the largest fleet is close to that of the smallest.
    if let (Some((small, _)), Some((large, largest))) = (measured.first(), measured.last())
        && let (Some(a), Some(b)) = (typical(cycle_name(*small)), typical(cycle_name(*large)))
        && small != large
    {
        let growth = (b.as_secs_f64() / *large as f64) / (a.as_secs_f64() / *small as f64);
        println!(
            "ratio cycle per pilot {large}/{small} = {growth:.2}x (goal: linear, about 1x) [{}]",
            verdict(growth <= 1.5)
        );
        let projected = largest.bytes_per_pilot * 100_000.0;
        println!(
            "memory for 100,000 pilots (bytes per pilot at {large} x 100,000) = {:.0} MiB (goal < 2048 MiB) [{}]",
            projected / 1048576.0,
            verdict(projected < MEMORY_GOAL)
        );
    }
    let names: Vec<&'static str> = sizes.iter().map(|size| cycle_name(*size)).collect();
    wall("scale", started, &names);
}
