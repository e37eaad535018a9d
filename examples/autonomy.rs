//! The autonomy loop end to end without a token or a network: a GitHub API emulator on loopback with a small
//! organisation (a failing test suite, a formatting failure backed by a real git repository, a flaky job), and a hive
//! watching it with the loop on, as `hive run --autonomy` does: a pilot per repository reads it, the queen closes the
//! cycle, and the steward, a member the queen supervises, plans through the queen's ORCHs and acts, for two cycles:
//! issues filed, a re-run, a fix pull request made with `cargo fmt`, merged once its checks are green, an issue
//! closed when CI recovers. Everything it decided is in the audit trail, verified once the hive has stopped.
//!
//! ```sh
//! cargo run --release --example autonomy
//! ```

use std::{
    error::Error,
    sync::Arc,
    time::{Duration, Instant},
};

use hive::{
    CycleRecord, Hive, HiveEvent, Subscription,
    actors::{Autonomy, AutonomyConfig, AutonomyReport},
    cerebrum::{Memory, governance::Policy},
    forge::{GitHubAuth, GitHubConfig, GitHubForge, Secret},
};
use hive_testkit::{Emulator, JobSpec, RepoSpec, RunSpec, git::unformatted_cargo_repo};

/// The organisation's repositories: three failing, four green.
const REPOS: [&str; 7] = ["api", "web", "jobs", "docs", "site", "tools", "infra"];
/// How long one cycle may take: every write waits about a second (GitHub's pacing), and the fix runs `cargo fmt`.
const CYCLE_DEADLINE: Duration = Duration::from_secs(300);

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let scratch = tempfile::tempdir()?;
    let emu = Emulator::start().await;
    let (bare, head) = unformatted_cargo_repo(scratch.path(), "web", 2);
    let s = emu.state();
    s.add_org("acme");
    s.add_repo(RepoSpec::new("acme", "api"));
    s.add_repo(RepoSpec::new("acme", "web").git_dir(&bare));
    s.add_repo(RepoSpec::new("acme", "jobs"));
    for healthy in ["docs", "site", "tools", "infra"] {
        s.add_repo(RepoSpec::new("acme", healthy));
        s.add_workflow_run("acme", healthy, RunSpec::new("ci", "main"));
    }
    s.add_workflow_run("acme", "api", failing("unit tests", "cargo test", "failure", "a1".repeat(20)));
    s.add_workflow_run("acme", "web", failing("fmt", "cargo fmt --check", "failure", head));
    let flaky = s.add_workflow_run("acme", "jobs", failing("integration", "run", "timed_out", "b2".repeat(20)));

    let mut github = GitHubConfig::new(GitHubAuth::Token(Secret::new(emu.token())));
    github.api_url = emu.url();
    let forge = Arc::new(GitHubForge::new(github)?);
    let state = scratch.path().join("state");
    let mut config = AutonomyConfig::new(&state);
    config.policy = Policy::default();
    config.policy.switches.autonomy = true;
    config.policy.switches.automerge = true;
    config.owners = vec!["alice".to_owned()];
    // The pilots read through the loop's forge; the steward's proposals come from the queen's ORCHs.
    let hive = Hive::builder()
        .repos(REPOS.iter().map(|name| format!("acme/{name}")))
        .state_dir(&state)
        .autonomy(Autonomy::new(forge, config))
        .start()
        .await?;
    let mut events = hive.subscribe();

    println!("hive autonomy example: 7 repositories on a GitHub emulator at {}", emu.url());
    println!("(GitHub asks for a second between writes, so each write below takes about a second)\n");
    let first = cycle(&hive, &mut events).await;
    let second = match first {
        Ok((record, report)) => {
            print(&record, &report);
            // The flaky job's re-run passes, the fix pull request's checks pass, and someone fixes api's tests.
            s.complete_run("acme", "jobs", flaky, "success");
            for pull in s.pulls("acme", "web") {
                if let Some(sha) = s.branch_sha("acme", "web", &pull.head_ref) {
                    s.set_check_runs("acme", "web", &sha, vec![("fmt", "completed", Some("success"))]);
                    s.set_combined_status("acme", "web", &sha, "success");
                }
            }
            s.add_workflow_run("acme", "api", RunSpec::new("ci", "main").head_sha(&"c3".repeat(20)));
            cycle(&hive, &mut events).await
        }
        Err(err) => Err(err),
    };
    // Stopped whatever happened: the queen, the steward after its current write, then the database writer.
    hive.shutdown().await?;
    let (record, report) = second?;
    print(&record, &report);

    for repo in ["api", "web", "jobs"] {
        for issue in s.issues("acme", repo) {
            let kind = if issue.is_pull { "pull request" } else { "issue" };
            println!("acme/{repo} {kind} #{}: {} [{}]", issue.number, issue.title, issue.state);
        }
    }
    let records = Memory::open_read_only(&state)?.audit().verify()?;
    let backlog: serde_json::Value = serde_json::from_slice(&std::fs::read(state.join("backlog.json"))?)?;
    let items = backlog["items"].as_array().map_or(0, Vec::len);
    println!("\naudit trail: {records} records, chain intact; backlog.json: {items} items");
    Ok(())
}

/// Runs one orchestration cycle and waits until the steward has acted on it: its `AutonomyCompleted` event, or,
/// should the bus have dropped that event, the steward's last cycle, looked at after every event and every quiet
/// second.
async fn cycle(hive: &Hive, events: &mut Subscription) -> Result<(CycleRecord, AutonomyReport), Box<dyn Error>> {
    let last = || hive.steward().and_then(|steward| steward.last_cycle());
    let before = last().map_or(0, |(record, _)| record.orchestration_cycle);
    hive.start_cycle()?;
    let deadline = Instant::now() + CYCLE_DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("the steward did not finish cycle {} within {CYCLE_DEADLINE:?}", before + 1).into());
        }
        match tokio::time::timeout(left.min(Duration::from_secs(1)), events.recv()).await {
            Ok(Some(envelope)) => {
                if let HiveEvent::AutonomyCompleted { record, report } = &*envelope.event
                    && record.orchestration_cycle > before
                {
                    return Ok((record.clone(), (**report).clone()));
                }
            }
            Ok(None) => return Err("the hive stopped before the steward finished the cycle".into()),
            Err(_quiet) => {}
        }
        if let Some((record, report)) = last().filter(|(record, _)| record.orchestration_cycle > before) {
            return Ok((record, report));
        }
    }
}

fn print(record: &CycleRecord, report: &AutonomyReport) {
    println!(
        "cycle {}: {}/{} repositories healthy, {} decisions",
        record.orchestration_cycle,
        record.healthy_repositories,
        record.total_repositories,
        report.decisions.len()
    );
    for line in &report.writes {
        println!("  wrote   {line}");
    }
    for line in report.errors.iter().chain(&report.limits_hit).chain(&report.awaiting_approval) {
        println!("  note    {line}");
    }
    println!();
}

fn failing(job: &str, step: &str, conclusion: &str, sha: String) -> RunSpec {
    RunSpec::new("ci", "main")
        .head_sha(&sha)
        .outcome("completed", Some("failure"))
        .job(JobSpec::new(job, "completed", Some(conclusion)).step(step, "completed", Some(conclusion)))
}
