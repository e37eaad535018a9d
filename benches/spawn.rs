//! `spawn agent` from request to registered agent, on a local workspace, first into a cold target directory and then
//! into the warm one the agents share. The baseline, measured in the same run, is `cargo test` of the same rendered
//! crate in a target directory of its own, cold then warm: the ratio is what the pipeline adds to the build and
//! tests it cannot avoid (rendering, git, the repository, the registry and the audit trail).
//!
//! `cargo bench --bench spawn` measures cold and warm (several minutes: two cold builds); `-- --test` measures the
//! warm case only, in the target directory the tests already warmed.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use hive::{
    LocalForge,
    cerebrum::{Memory, Redactor, ScribeHandle},
    spawner::{AgentSpec, Archetype, CheckOptions, SpawnRequest, SpawnSettings, Spawner, Tier, render, test_crate},
};

fn main() {
    let test_mode = std::env::args().any(|arg| arg == "--test");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime builds unless the process is out of threads or descriptors");
    runtime.block_on(bench(test_mode));
}

async fn bench(test_mode: bool) {
    let archetype = match std::env::var("BENCH_ARCHETYPE") {
        Ok(name) => name.parse().expect("BENCH_ARCHETYPE names an archetype"),
        Err(_) => Archetype::WebhookResponder,
    };
    let root = tempfile::tempdir().expect("tempdir");
    let shared = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("agents-target");
    println!("spawn agent ({archetype}), local workspace, cargo --offline");
    if test_mode {
        let (spawn, cargo) = pair(root.path(), &shared, &shared, archetype, "warm").await;
        report("warm target", spawn, cargo);
        return;
    }
    // Cold: each side builds every dependency once, into a target directory of its own.
    let (spawn_target, cargo_target) = (root.path().join("spawn-target"), root.path().join("cargo-target"));
    let (spawn, cargo) = pair(root.path(), &spawn_target, &cargo_target, archetype, "cold").await;
    report("first spawn, cold target", spawn, cargo);
    let (spawn, cargo) = pair(root.path(), &spawn_target, &cargo_target, archetype, "warm").await;
    report("second spawn, warm target", spawn, cargo);
}

/// One spawn through the pipeline into `spawn_target` and one plain `cargo test` of the same crate into
/// `cargo_target`; their wall times.
async fn pair(
    root: &Path,
    spawn_target: &Path,
    cargo_target: &Path,
    archetype: Archetype,
    label: &str,
) -> (Duration, Duration) {
    let name = format!("bench-{label}");
    let spec = AgentSpec::new(&name, "answers webhook deliveries for the benchmark").expect("a valid request");

    let mut check = CheckOptions::new(cargo_target);
    check.offline = true;
    let plain = root.join(format!("plain-{label}"));
    std::fs::create_dir_all(&plain).expect("a directory");
    render(&spec, archetype).write_to(&plain).expect("rendered");
    let started = Instant::now();
    let report = test_crate(&plain, &name, &check).await.expect("cargo runs");
    let cargo = started.elapsed();
    assert!(report.passed, "{}", report.tail);

    let state = root.join(format!("state-{label}"));
    let workspace = root.join(format!("ws-{label}"));
    std::fs::create_dir_all(&workspace).expect("a directory");
    let scribe = ScribeHandle::spawn(Memory::open(&state).expect("a database")).await.expect("a scribe");
    let mut settings = SpawnSettings::new(state.join("agents"), "local");
    settings.check.target_dir = spawn_target.to_path_buf();
    settings.check.offline = true;
    let forge = Arc::new(LocalForge::new(&workspace).expect("a workspace"));
    let spawner = Spawner::new(scribe.clone(), forge, settings, Redactor::new(Vec::<String>::new()));
    let request = SpawnRequest { spec, archetype: Some(archetype), tier: Tier::Free, by: "bench".to_owned() };
    let started = Instant::now();
    let record = spawner.spawn(&request).await.expect("the spawn succeeds");
    let spawn = started.elapsed();
    assert!(record.tests_passed);
    scribe.stop().await;
    (spawn, cargo)
}

fn report(what: &str, spawn: Duration, cargo: Duration) {
    println!(
        "{what:<28} spawn to registered {:>8.2} s   cargo test alone {:>8.2} s   ratio {:.2}x",
        spawn.as_secs_f64(),
        cargo.as_secs_f64(),
        spawn.as_secs_f64() / cargo.as_secs_f64().max(f64::EPSILON)
    );
}
