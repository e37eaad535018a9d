//! `hive serve` benchmark: `GET /api/status` over real HTTP on loopback, and the `/metrics` text, for a hive of
//! 10,000 pilots on the simulated forge, each against `Hive::status()` called directly in the same run.
//!
//! The API lives in the binary, so this bench compiles the binary's `src/api/` as its own module (`#[path]`, with
//! stand-ins for the two binary modules it uses: `terminal`'s redaction and the `ecosystem` commands' service
//! records, neither on the routes measured) and serves the very router `hive serve` serves, bound on 127.0.0.1 beside the hive. The hive has run one cycle first,
//! so every pilot has a report (score, findings, facts, the breakdown of its score). Timed, per iteration:
//!
//! - `status_direct` (the baseline): `Hive::status()`, the queen's answer cloned to the caller;
//! - `api_status_http`: `GET /api/status` on a kept-alive connection, until the whole JSON body is read;
//! - `metrics_render`: `Metrics::render`, the status read and encoded as OpenMetrics text (no database: this hive
//!   runs no autonomy loop);
//! - `metrics_http`: `GET /metrics` until the whole body is read.
//!
//! Each prints `ratio <name>/status_direct = N.NNx` from the medians when the run ends. `cargo bench --bench serve`
//! runs it with 10,000 pilots; `-- --test` runs each once with 1,000, which CI can afford.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use criterion::Criterion;
use hive::{EmergencyConfig, Hive, HiveEvent, PilotConfig, SimForge, metrics::Metrics};
use tokio::runtime::Runtime;

// The binary's API, compiled here as a module: the router measured is the one `hive serve` serves.
// Its unit tests are not run here (no test harness), so their imports go unused.
#[path = "../src/api/mod.rs"]
#[allow(dead_code, unused_imports)]
mod api;

/// Stands in for the binary's terminal module, the API's one way to redact what it sends: this bench's hive has
/// no secret to redact, and none of the routes measured sends outside text through it.
mod terminal {
    pub fn json_line(value: serde_json::Value) -> serde_json::Result<String> {
        serde_json::to_string(&value)
    }

    pub fn redact_json(_: &mut serde_json::Value) {}

    pub fn line(text: &str) -> String {
        text.to_owned()
    }
}

/// Stands in for the binary's service records, which only the `ecosystem` commands use: this bench's hive runs no
/// imported repository's service.
#[allow(dead_code)]
mod ecosystem_cmd {
    pub mod services {
        use hive::ecosystem::{EcosystemManager, RepoMeta, ServiceSpec};

        pub struct Prepared {
            pub spec: ServiceSpec,
        }

        pub fn service_name(meta: &RepoMeta) -> String {
            format!("{}-{}", meta.name, meta.id)
        }

        pub async fn prepare(_: &EcosystemManager, _: &RepoMeta, _: Option<&str>, _: bool) -> anyhow::Result<Prepared> {
            anyhow::bail!("the bench runs no services")
        }

        pub fn claim(_: &EcosystemManager, _: &RepoMeta, _: &Prepared) -> anyhow::Result<()> {
            Ok(())
        }

        pub fn release(_: &EcosystemManager, _: &RepoMeta) {}

        pub fn current_service(_: &EcosystemManager, meta: &RepoMeta) -> String {
            service_name(meta)
        }

        #[derive(Default)]
        pub struct DeployRequest {
            pub reference: Option<String>,
            pub command: Option<String>,
        }

        pub async fn deploy(
            _: &hive::Hive,
            _: &EcosystemManager,
            _: &RepoMeta,
            _: &DeployRequest,
            _: bool,
        ) -> anyhow::Result<hive::ecosystem::DeployRecord> {
            anyhow::bail!("the bench deploys nothing")
        }
    }
}

/// Share of the fleet failing its CI, so findings and signals are there as in a real fleet.
const FAILING_PERCENT: u8 = 10;
/// Events the bench may fall behind by while the first cycle of 10,000 pilots publishes its reports.
const BUS_CAPACITY: usize = 1 << 16;

/// Every iteration of each benchmark, kept to print the ratios of the medians at the end.
static SAMPLES: Mutex<BTreeMap<&'static str, Vec<Duration>>> = Mutex::new(BTreeMap::new());

fn keep(name: &'static str, samples: Vec<Duration>) -> Duration {
    let sum = samples.iter().sum();
    SAMPLES.lock().unwrap_or_else(PoisonError::into_inner).entry(name).or_default().extend(samples);
    sum
}

fn median(name: &'static str) -> Option<Duration> {
    let samples = SAMPLES.lock().unwrap_or_else(PoisonError::into_inner);
    let mut sorted = samples.get(name)?.clone();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied()
}

fn main() {
    let test_mode = std::env::args().any(|arg| arg == "--test");
    let members = if test_mode { 1_000 } else { 10_000 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime builds unless the process is out of threads or descriptors");
    let started = Instant::now();
    let (hive, addr) = runtime.block_on(start(members));
    println!("serve: {members} pilots, {FAILING_PERCENT} % failing, ready in {:.1} s", started.elapsed().as_secs_f64());
    let client = reqwest::Client::new();
    let metrics = Metrics::new();
    let sizes = runtime.block_on(async {
        let mut sizes = Vec::new();
        for path in ["/api/status", "/metrics"] {
            sizes.push(get(&client, addr, path).await);
        }
        sizes
    });
    println!("bodies: /api/status {} bytes, /metrics {} bytes", sizes[0], sizes[1]);

    let mut c = Criterion::default().without_plots().configure_from_args();
    let mut group = c.benchmark_group("serve");
    group.sample_size(20);
    group.bench_function("status_direct", |b| {
        b.iter_custom(|iters| timed(&runtime, "status_direct", iters, || async { drop(hive.status().await) }))
    });
    group.bench_function("api_status_http", |b| {
        b.iter_custom(|iters| {
            timed(&runtime, "api_status_http", iters, || async {
                get(&client, addr, "/api/status").await;
            })
        })
    });
    group.bench_function("metrics_render", |b| {
        b.iter_custom(|iters| timed(&runtime, "metrics_render", iters, || async { drop(metrics.render(&hive).await) }))
    });
    group.bench_function("metrics_http", |b| {
        b.iter_custom(|iters| {
            timed(&runtime, "metrics_http", iters, || async {
                get(&client, addr, "/metrics").await;
            })
        })
    });
    group.finish();
    c.final_summary();

    let Some(base) = median("status_direct") else { return };
    println!("status_direct (baseline): {:.2} ms", base.as_secs_f64() * 1e3);
    for name in ["api_status_http", "metrics_render", "metrics_http"] {
        if let Some(took) = median(name) {
            let ratio = took.as_secs_f64() / base.as_secs_f64();
            println!("ratio {name}/status_direct = {ratio:.2}x ({:.2} ms)", took.as_secs_f64() * 1e3);
        }
    }
    runtime.block_on(async { hive.shutdown().await.expect("the hive stops") });
}

/// Runs `op` `iters` times on the runtime, timing each; returns the sum for criterion and keeps each.
fn timed<F, Fut>(runtime: &Runtime, name: &'static str, iters: u64, op: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let samples = runtime.block_on(async {
        let mut samples = Vec::new();
        for _ in 0..iters {
            let start = Instant::now();
            op().await;
            samples.push(start.elapsed());
        }
        samples
    });
    keep(name, samples)
}

/// One GET, the whole body read; its length. A failure is the bench's.
async fn get(client: &reqwest::Client, addr: SocketAddr, path: &str) -> usize {
    let response = client.get(format!("http://{addr}{path}")).send().await.expect("the API answers");
    assert!(response.status().is_success(), "{path}: {}", response.status());
    let body = response.bytes().await.expect("the whole body");
    assert!(!body.is_empty());
    body.len()
}

/// A hive of `members` simulated pilots after its first cycle, and the API serving it on loopback.
async fn start(members: usize) -> (Hive, SocketAddr) {
    // The emergency's triggers would make the pilots poll on their own; this measures a quiet hive.
    let quiet = EmergencyConfig { critical_members: 0, systemic_members: 0, ..EmergencyConfig::default() };
    let hive = Hive::builder()
        .forge(SimForge::fleet(members, FAILING_PERCENT, 7))
        .emergency(quiet)
        .pilot_config(PilotConfig { jitter: Duration::ZERO, ..PilotConfig::default() })
        .bus_capacity(BUS_CAPACITY)
        .start()
        .await
        .expect("the simulated hive starts");
    let mut events = hive.subscribe();
    hive.start_cycle().expect("the queen runs");
    while let Some(envelope) = events.recv().await {
        if let HiveEvent::CycleCompleted { record } = &*envelope.event {
            assert_eq!(record.total_repositories, members, "{record:?}");
            break;
        }
    }
    let api = api::Api::bind(SocketAddr::from(([127, 0, 0, 1], 0)), None).await.expect("a loopback port");
    let addr = api.local_addr().expect("a bound address");
    let served = hive.clone();
    tokio::spawn(async move { api.serve_until(served, std::future::pending()).await });
    (hive, addr)
}
