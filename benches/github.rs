//! GitHub forge benchmark: one organisation of 1,000 repositories on the GitHub API emulator with 50 ms injected
//! latency, read by the real [`GitHubForge`] twice in the same run: through batched GraphQL (the default) and over
//! REST only (`graphql_snapshots = false`, what a server without GraphQL gets). For each: the cold cycle (discovery
//! and one snapshot per repository) and the warm one (the next, nothing changed), with their time, requests and
//! points per repository, as the emulator counted them (a REST request is a point, a GraphQL query its cost by
//! GitHub's formula). Then a warm cycle over 10,000 repositories through GraphQL, in points.
//!
//! The forge is driven directly, with every snapshot of a cycle started at once, because that is the concurrency
//! the pilots produce: at the start of a cycle each pilot asks the one shared forge for its snapshot, and the
//! forge's [`Budget`](hive::forge::Budget) alone bounds how many requests are in flight. Driving it directly
//! keeps actor scheduling out of a number that is about the network.
//!
//! `cargo bench --bench github` runs the full benchmark; `-- --test` runs it with 100 and 500 repositories, which CI
//! can afford. `BENCH_LARGE_REPOS=N` sets the size of the large fleet (10,000 by default).

use std::time::{Duration, Instant};

use futures::future::join_all;
use hive::forge::{Forge, GitHubAuth, GitHubConfig, GitHubForge, Secret, Target};
use hive_testkit::{DependabotSpec, Emulator, IssueSpec, JobSpec, RepoSpec, RunSpec};

/// The organisation the fleet lives in.
const ORG: &str = "bench";
/// Latency the emulator adds to every request: a plausible round trip to api.github.com.
const LATENCY: Duration = Duration::from_millis(50);
/// Goals for 1,000 repositories through GraphQL.
const COLD_GOAL: Duration = Duration::from_millis(2_500);
const COLD_POINTS_GOAL: f64 = 0.3;
const WARM_GOAL: Duration = Duration::from_secs(1);
const WARM_POINTS_GOAL: f64 = 0.04;
/// Goal for a warm cycle of 10,000 repositories: one token's 5,000 points an hour at a 5-minute cadence.
const LARGE_WARM_POINTS_GOAL: u64 = 400;

/// What one cycle cost.
struct Cycle {
    elapsed: Duration,
    repos: usize,
    points: u64,
    requests: usize,
}

impl Cycle {
    fn per_repo(&self, n: u64) -> f64 {
        n as f64 / self.repos.max(1) as f64
    }

    fn line(&self, what: &str) -> String {
        format!(
            "{what}: {:.2} s, {:.3} requests and {:.3} points per repository ({} requests, {} points)",
            self.elapsed.as_secs_f64(),
            self.per_repo(self.requests as u64),
            self.per_repo(self.points),
            self.requests,
            self.points
        )
    }
}

fn main() {
    // `cargo bench -- --test` (CI) asks for a quick pass; anything else is the real run.
    let test_mode = std::env::args().any(|arg| arg == "--test");
    let (repos, mut large) = if test_mode { (100, 500) } else { (1_000, 10_000) };
    // `BENCH_LARGE_REPOS=100000` measures the large fleet at another size (what one installation's budget holds).
    if let Some(n) = std::env::var("BENCH_LARGE_REPOS").ok().and_then(|n| n.parse().ok()) {
        large = n;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime builds unless the process is out of threads or descriptors");
    runtime.block_on(bench(repos, large, test_mode));
}

async fn bench(repos: usize, large: usize, test_mode: bool) {
    println!(
        "github: {repos} repositories in one org at {} ms, all snapshots of a cycle started at once",
        LATENCY.as_millis()
    );
    let emu = fleet(repos, LATENCY).await;
    let rest = forge(&emu, false);
    let rest_cold = cycle(&rest, &emu, repos).await;
    let rest_warm = cycle(&rest, &emu, repos).await;
    drop(rest);
    let gql = forge(&emu, true);
    let cold = cycle(&gql, &emu, repos).await;
    let warm = cycle(&gql, &emu, repos).await;
    assert_eq!(
        gql.points_spent() as f64,
        (cold.points + warm.points) as f64,
        "the forge counts what the emulator charged"
    );

    let scaled = if test_mode { " (test mode: goals are for 1,000 repositories)" } else { "" };
    println!("{}{scaled}", cold.line("github graphql cold cycle"));
    println!("{}", rest_cold.line("github rest-only cold cycle"));
    println!("{}", warm.line("github graphql warm cycle"));
    println!("{}", rest_warm.line("github rest-only warm cycle"));
    println!(
        "github graphql/rest ratios: cold time {:.2}x, cold points {:.3}x, warm time {:.2}x, warm requests {:.3}x",
        cold.elapsed.as_secs_f64() / rest_cold.elapsed.as_secs_f64(),
        cold.points as f64 / rest_cold.points.max(1) as f64,
        warm.elapsed.as_secs_f64() / rest_warm.elapsed.as_secs_f64(),
        warm.requests as f64 / rest_warm.requests.max(1) as f64,
    );
    println!(
        "github goals (graphql): cold {:.2} s / {:.1} s = {:.2}, cold points {:.3} / {COLD_POINTS_GOAL} = {:.2}, warm {:.2} s / {:.1} s = {:.2}, warm points {:.3} / {WARM_POINTS_GOAL} = {:.2}",
        cold.elapsed.as_secs_f64(),
        COLD_GOAL.as_secs_f64(),
        cold.elapsed.as_secs_f64() / COLD_GOAL.as_secs_f64(),
        cold.per_repo(cold.points),
        cold.per_repo(cold.points) / COLD_POINTS_GOAL,
        warm.elapsed.as_secs_f64(),
        WARM_GOAL.as_secs_f64(),
        warm.elapsed.as_secs_f64() / WARM_GOAL.as_secs_f64(),
        warm.per_repo(warm.points),
        warm.per_repo(warm.points) / WARM_POINTS_GOAL,
    );
    drop(emu);

    // The large fleet is about points, not time: no latency, so it finishes quickly.
    let emu = fleet(large, Duration::ZERO).await;
    let gql = forge(&emu, true);
    let large_cold = cycle(&gql, &emu, large).await;
    let large_warm = cycle(&gql, &emu, large).await;
    println!("{}", large_cold.line(&format!("github graphql cold cycle, {large} repositories")));
    println!(
        "{} (goal for 10,000: <= {LARGE_WARM_POINTS_GOAL} points; ratio {:.2})",
        large_warm.line(&format!("github graphql warm cycle, {large} repositories")),
        large_warm.points as f64 / LARGE_WARM_POINTS_GOAL as f64
    );
}

/// Discovery and one snapshot per repository, all started at once, as the pilots do at the start of a cycle.
async fn cycle(forge: &GitHubForge, emu: &Emulator, expected: usize) -> Cycle {
    let points_before = emu.state().points();
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
        points: emu.state().points() - points_before,
        requests: emu.state().requests().len() - requests_before,
    }
}

fn forge(emu: &Emulator, graphql: bool) -> GitHubForge {
    let mut config = GitHubConfig::new(GitHubAuth::Token(Secret::new(emu.token())));
    config.api_url = emu.url();
    config.targets.push(Target::Org(ORG.to_owned()));
    config.graphql_snapshots = graphql;
    GitHubForge::new(config).expect("a token configuration without filters is valid")
}

/// An emulator holding `repos` repositories in one org: every one with a CI run on `main`, a fifth of them failed
/// with a failing job, a quarter with open issues, a tenth with Dependabot alerts and a few whose alerts the token
/// may not read; half have a SECURITY.md and two thirds a licence.
async fn fleet(repos: usize, latency: Duration) -> Emulator {
    let emu = Emulator::start().await;
    let state = emu.state();
    state.add_org(ORG);
    // Over REST a cold cycle of 1,000 repositories costs more than a token's 5,000 points an hour (BENCHMARKS.md says so);
    // the benchmark measures throughput, so the emulator's budget is made large enough not to stop it.
    state.set_rate_limit(1_000_000, 1_000_000, u64::MAX / 2);
    state.set_graphql_rate_limit(1_000_000, 1_000_000, u64::MAX / 2);
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
