//! Autonomy loop benchmark: what the steward adds to a cycle. One organisation of 1,000 repositories on the GitHub
//! API emulator with 50 ms injected latency, a tenth of them with a failing default branch, read by the real
//! [`GitHubForge`]; the steward runs over the snapshots with autonomy off, so every failure goes through the whole
//! path (proposal, issue lookup on GitHub, ledger, governance, reservation and audit record in SQLite) except the
//! send, which GitHub's etiquette paces a second apart and which would measure only that pause.
//!
//! The baseline, measured in the same run, is the warm read cycle of the same fleet (every snapshot at once,
//! answered by ETags): the ratio says what the loop costs next to watching alone.
//!
//! `cargo bench --bench autonomy` runs it with 1,000 repositories; `-- --test` with 100, which CI can afford.

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use futures::future::join_all;
use hive::{
    actors::{AutonomyConfig, Steward},
    cerebrum::{Memory, ScribeHandle, governance::Emergency},
    forge::{Forge, GitHubAuth, GitHubConfig, GitHubForge, RepoSnapshot, Secret, Target},
};
use hive_testkit::{Emulator, JobSpec, RepoSpec, RunSpec};

const ORG: &str = "bench";
/// Latency the emulator adds to every request: a plausible round trip to api.github.com.
const LATENCY: Duration = Duration::from_millis(50);

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
    println!("autonomy: {repos} repositories, {failing} failing, {} ms latency, autonomy off", LATENCY.as_millis());
    let emu = fleet(repos).await;
    let forge = Arc::new(forge(&emu));
    let found = forge.discover().await.expect("the emulator lists the org");
    read_cycle(&forge, &found).await;
    let (warm_read, snapshots) = read_cycle(&forge, &found).await;

    let state = tempfile::tempdir().expect("a temporary state directory");
    let scribe = ScribeHandle::spawn(Memory::open(state.path()).expect("a new database")).await.expect("scribe");
    let mut steward = Steward::new(forge.clone(), scribe.clone(), AutonomyConfig::new(state.path()));
    let now = SystemTime::now();
    let requests = emu.state().requests().len();
    let started = Instant::now();
    let first = steward.cycle(&snapshots, &Emergency::none(), now).await.expect("a cycle");
    let cold = started.elapsed();
    let cold_requests = emu.state().requests().len() - requests;
    let requests = emu.state().requests().len();
    let started = Instant::now();
    steward.cycle(&snapshots, &Emergency::none(), now).await.expect("a cycle");
    let steady = started.elapsed();
    let steady_requests = emu.state().requests().len() - requests;
    scribe.stop().await;
    assert_eq!(first.would_do.len(), failing, "every failure is decided: {:?}", first.errors);

    println!("autonomy warm read cycle (baseline): {:.3} s", warm_read.as_secs_f64());
    println!(
        "autonomy steward cycle, first: {:.3} s ({cold_requests} requests, {} decisions); ratio first/baseline = {:.2}x",
        cold.as_secs_f64(),
        first.decisions.len(),
        cold.as_secs_f64() / warm_read.as_secs_f64()
    );
    println!(
        "autonomy steward cycle, steady: {:.3} s ({steady_requests} requests); ratio steady/baseline = {:.2}x; \
         {:.1} ms per failing repository",
        steady.as_secs_f64(),
        steady.as_secs_f64() / warm_read.as_secs_f64(),
        steady.as_secs_f64() * 1_000.0 / failing.max(1) as f64
    );
}

/// Every snapshot of the fleet at once, as the pilots take them.
async fn read_cycle(forge: &GitHubForge, repos: &[hive::RepoId]) -> (Duration, Vec<RepoSnapshot>) {
    let started = Instant::now();
    let snapshots = join_all(repos.iter().map(|repo| forge.snapshot(repo))).await;
    let elapsed = started.elapsed();
    (elapsed, snapshots.into_iter().map(|s| s.expect("every snapshot succeeds")).collect())
}

fn forge(emu: &Emulator) -> GitHubForge {
    let mut config = GitHubConfig::new(GitHubAuth::Token(Secret::new(emu.token())));
    config.api_url = emu.url();
    config.targets.push(Target::Org(ORG.to_owned()));
    GitHubForge::new(config).expect("a token configuration without filters is valid")
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
