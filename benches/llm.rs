//! ORCH fan-out with the language model engine: N ORCHs of the queen asking a loopback server that speaks the
//! OpenAI wire format and answers every request after the same injected latency. The baseline, measured in the same
//! run, is one completion through the same client; a fan-out that asks in parallel costs about one call whatever N,
//! so the ratio is the fan-out's overhead. `cargo bench --bench llm` runs 1, 20 and 100 ORCHs at 200 ms; `-- --test`
//! runs 20 at 50 ms.

use std::time::{Duration, Instant};

use hive::{
    Hive, OrchConfig, Seed, Signal, SimForge,
    cerebrum::{CiClass, CiSignature},
    spawner::llm::{LlmClient, LlmConfig, LlmEngine, Message, Role},
};
use hive_testkit::llm::{FakeLlm, LLM_KEY};

/// Runs of each measurement; the median is reported.
const RUNS: usize = 5;

fn main() {
    let test_mode = std::env::args().any(|arg| arg == "--test");
    let (latency, fanouts): (Duration, &[usize]) =
        if test_mode { (Duration::from_millis(50), &[20]) } else { (Duration::from_millis(200), &[1, 20, 100]) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime builds unless the process is out of threads or descriptors");
    runtime.block_on(bench(latency, fanouts));
}

async fn bench(latency: Duration, fanouts: &[usize]) {
    let llm = FakeLlm::start().await;
    llm.latency(latency);
    let config = LlmConfig::new(llm.url(), "bench-model").api_key(LLM_KEY).timeout(Duration::from_secs(60));
    let client = LlmClient::new(config).expect("a valid configuration");
    let question = [Message::new(Role::User, "{}")];
    let baseline = median(RUNS, || async {
        client.complete(&question).await.expect("a completion");
    })
    .await;
    println!("llm: one completion at {} ms latency: {:.1} ms (baseline)", latency.as_millis(), ms(baseline));

    let orch = OrchConfig { timeout: Duration::from_secs(60), retries: 0, deadline: Duration::from_secs(120) };
    let hive = Hive::builder()
        .forge(SimForge::fleet(1, 0, 1))
        .engine(LlmEngine::new(client.clone()))
        .orch(orch)
        .start()
        .await
        .expect("the hive starts");
    let seed = Seed::new("sim/repo-0", Signal::ci_failure(CiSignature::new("ci", "test", None, CiClass::Test)));
    for &n in fanouts {
        let took = median(RUNS, || async {
            let report = hive.propose(seed.clone(), n).await.expect("a report");
            assert_eq!(report.succeeded(), n, "every ORCH answers: {report:?}");
        })
        .await;
        println!("llm: fan-out of {n:>3} ORCHs: {:.1} ms, {:.2}x one completion", ms(took), ratio(took, baseline));
    }
    hive.shutdown().await.expect("the hive stops");
}

async fn median<F, Fut>(runs: usize, mut run: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        run().await;
        times.push(start.elapsed());
    }
    times.sort();
    times[runs / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(f64::EPSILON)
}
