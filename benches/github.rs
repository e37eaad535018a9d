//! GitHub forge benchmark: one organisation of 1,000 repositories on the GitHub API emulator with 50 ms injected
//! latency, read by the real [`GitHubForge`]: the cold cycle time (discovery and one snapshot per repository) and
//! the points each repository costs per cycle, cold and warm (the second cycle, answered by ETags).
//!
//! The forge is driven directly, with every snapshot of a cycle started at once, because that is the concurrency
//! the pilots produce: at the start of a cycle each pilot asks the one shared forge for its snapshot, and the
//! forge's [`Budget`](hive::forge::Budget) alone bounds how many requests are in flight. Driving it directly
//! keeps actor scheduling out of a number that is about the network.
//!
//! The baseline, measured in the same run, is the same cold cycle against an identical emulator without latency:
//! the ratio says how much of the cycle the 50 ms round trips cost, as opposed to the client and the emulator.
//!
//! `cargo bench --bench github` runs the full benchmark (under a minute on two cores); `-- --test` runs it with 100
//! repositories, which CI can afford.

use std::time::{Duration, Instant};

use futures::future::join_all;
use hive::forge::{Forge, GitHubAuth, GitHubConfig, GitHubForge, Secret, Target};
use hive_testkit::{DependabotSpec, Emulator, IssueSpec, JobSpec, RepoSpec, RunSpec};

/// The organisation the fleet lives in.
const ORG: &str = "bench";
/// Latency the emulator adds to every request: a plausible round trip to api.github.com.
const LATENCY: Duration = Duration::from_millis(50);
/// Goal for the cold cycle of 1,000 repositories.
const COLD_GOAL: Duration = Duration::from_secs(5);
/// Goal for the points a repository costs in a warm cycle.
const WARM_POINTS_GOAL: f64 = 0.04;

/// What one cycle cost.
struct Cycle {
    elapsed: Duration,
    repos: usize,
    points: u64,
    not_modified: u64,
    requests: usize,
}

impl Cycle {
    fn points_per_repo(&self) -> f64 {
        self.points as f64 / self.repos.max(1) as f64
    }
}

fn main() {
    // `cargo bench -- --test` (CI) asks for a quick pass; anything else is the real run.
    let test_mode = std::env::args().any(|arg| arg == "--test");
    let repos = if test_mode { 100 } else { 1_000 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime builds unless the process is out of threads or descriptors");
    runtime.block_on(bench(repos, test_mode));
}

async fn bench(repos: usize, test_mode: bool) {
    println!("github: {repos} repositories in one org, all snapshots of a cycle started at once");

    let baseline_emu = fleet(repos, Duration::ZERO).await;
    let baseline_forge = forge(&baseline_emu);
    let baseline = cycle(&baseline_forge, &baseline_emu, repos).await;
    drop(baseline_emu);

    let emu = fleet(repos, LATENCY).await;
    let forge = forge(&emu);
    let cold = cycle(&forge, &emu, repos).await;
    let warm = cycle(&forge, &emu, repos).await;

    // The least a cycle can take at this latency: every request of the cold cycle, 64 at a time, 50 ms each.
    let in_flight = GitHubConfig::new(GitHubAuth::None).max_in_flight;
    let floor = LATENCY.mul_f64((cold.requests as f64 / in_flight as f64).ceil());

    let scaled = if test_mode { " (test mode: goals are for 1,000 repositories)" } else { "" };
    println!("github cold cycle: {:.2} s (goal <= {} s){scaled}", cold.elapsed.as_secs_f64(), COLD_GOAL.as_secs());
    println!(
        "github cold cycle without latency (baseline): {:.2} s; ratio cold/baseline = {:.2}x",
        baseline.elapsed.as_secs_f64(),
        cold.elapsed.as_secs_f64() / baseline.elapsed.as_secs_f64()
    );
    println!(
        "github cold cycle floor ({} requests, {in_flight} in flight, {} ms each): {:.2} s; ratio cold/floor = {:.2}x",
        cold.requests,
        LATENCY.as_millis(),
        floor.as_secs_f64(),
        cold.elapsed.as_secs_f64() / floor.as_secs_f64()
    );
    println!("github warm cycle: {:.2} s", warm.elapsed.as_secs_f64());
    println!(
        "github points per repository per cycle, cold: {:.2} ({} points, {} requests)",
        cold.points_per_repo(),
        cold.points,
        cold.requests
    );
    println!(
        "github points per repository per cycle, warm: {:.3} (goal <= {WARM_POINTS_GOAL}) ({} points, {} requests, {} answered 304)",
        warm.points_per_repo(),
        warm.points,
        warm.requests,
        warm.not_modified
    );
    println!("github ratio warm/cold points = {:.4}", warm.points as f64 / cold.points.max(1) as f64);

    if !test_mode && (cold.elapsed > COLD_GOAL || warm.points_per_repo() > WARM_POINTS_GOAL) {
        println!("github: a goal was missed; see BENCHMARKS.md");
    }
}

/// Discovery and one snapshot per repository, all started at once, as the pilots do at the start of a cycle.
async fn cycle(forge: &GitHubForge, emu: &Emulator, expected: usize) -> Cycle {
    let points_before = forge.points_spent();
    let not_modified_before = forge.budget().not_modified();
    let requests_before = emu.state().requests().len();
    let started = Instant::now();
    let found = forge.discover().await.expect("the emulator lists the org");
    assert_eq!(found.len(), expected, "discovery finds every repository");
    let snapshots = join_all(found.iter().map(|repo| forge.snapshot(repo))).await;
    let elapsed = started.elapsed();
    let failed = snapshots.iter().filter(|snapshot| snapshot.is_err()).count();
    assert_eq!(failed, 0, "every snapshot succeeds: {:?}", snapshots.iter().find(|s| s.is_err()));
    Cycle {
        elapsed,
        repos: found.len(),
        points: forge.points_spent() - points_before,
        not_modified: forge.budget().not_modified() - not_modified_before,
        requests: emu.state().requests().len() - requests_before,
    }
}

fn forge(emu: &Emulator) -> GitHubForge {
    let mut config = GitHubConfig::new(GitHubAuth::Token(Secret::new(emu.token())));
    config.api_url = emu.url();
    config.targets.push(Target::Org(ORG.to_owned()));
    GitHubForge::new(config).expect("a token configuration without filters is valid")
}

/// An emulator holding `repos` repositories in one org: every one with a CI run on `main`, a fifth of them failed
/// with a failing job, a quarter with open issues, a tenth with Dependabot alerts and a few whose alerts the token
/// may not read; half have a SECURITY.md and two thirds a licence.
async fn fleet(repos: usize, latency: Duration) -> Emulator {
    let emu = Emulator::start().await;
    let state = emu.state();
    state.add_org(ORG);
    // A cold cycle of 1,000 repositories costs more than a token's 5,000 points an hour (BENCHMARKS.md says so);
    // the benchmark measures throughput, so the emulator's budget is made large enough not to stop it.
    state.set_rate_limit(1_000_000, 1_000_000, u64::MAX / 2);
    for i in 0..repos {
        let name = format!("repo-{i:04}");
        let mut spec = RepoSpec::new(ORG, &name).stars(i as u64 % 97).has_security_md(i % 2 == 0);
        if i % 3 != 0 {
            spec = spec.license("MIT");
        }
        state.add_repo(spec);
        let run = if i % 5 == 0 {
            RunSpec::new("CI", "main").outcome("completed", Some("failure")).job(
                JobSpec::new("test", "completed", Some("failure")).step("cargo test", "completed", Some("failure")),
            )
        } else {
            RunSpec::new("CI", "main")
        };
        state.add_workflow_run(ORG, &name, run);
        if i % 4 == 0 {
            for n in 0..=(i % 3) {
                state.add_issue(ORG, &name, IssueSpec::new(&format!("Issue {n}")).label("bug"));
            }
        }
        if i % 10 == 0 {
            let alerts = vec![("high".to_owned(), "A vulnerable dependency".to_owned())];
            state.set_dependabot(ORG, &name, DependabotSpec::Alerts(alerts));
        } else if i % 50 == 7 {
            state.set_dependabot(ORG, &name, DependabotSpec::Forbidden);
        }
    }
    state.set_latency(latency);
    emu
}
