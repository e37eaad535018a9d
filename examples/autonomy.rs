//! The autonomy loop end to end without a token or a network: a GitHub API emulator on loopback with a small
//! organisation (a failing test suite, a formatting failure backed by a real git repository, a flaky job), and the
//! real steward acting on it for a few cycles: issues filed, a re-run, a fix pull request made with `cargo fmt`,
//! merged once its checks are green, an issue closed when CI recovers. Everything it decided is in the audit trail.
//!
//! ```sh
//! cargo run --release --example autonomy
//! ```

use std::{sync::Arc, time::SystemTime};

use hive::{
    actors::{AutonomyConfig, AutonomyReport, Steward},
    cerebrum::{
        Memory, ScribeHandle,
        governance::{Emergency, Policy},
    },
    forge::{Forge, GitHubAuth, GitHubConfig, GitHubForge, RepoId, Secret},
};
use hive_testkit::{Emulator, JobSpec, RepoSpec, RunSpec, git::unformatted_cargo_repo};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
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
    let scribe = ScribeHandle::spawn(Memory::open(&state)?).await?;
    let mut config = AutonomyConfig::new(&state);
    config.policy = Policy::default();
    config.policy.switches.autonomy = true;
    config.policy.switches.automerge = true;
    config.owners = vec!["alice".to_owned()];
    let mut steward = Steward::new(forge.clone(), scribe.clone(), config);
    let repos: Vec<RepoId> = ["api", "web", "jobs", "docs", "site", "tools", "infra"]
        .iter()
        .map(|name| RepoId::new(format!("acme/{name}")))
        .collect::<Result<_, _>>()?;

    println!("hive autonomy example: 7 repositories on a GitHub emulator at {}", emu.url());
    println!("(GitHub asks for a second between writes, so each write below takes about a second)\n");
    print(&cycle(&mut steward, &forge, &repos).await?);

    // The flaky job's re-run passes, the fix pull request's checks pass, and someone fixes api's tests.
    s.complete_run("acme", "jobs", flaky, "success");
    for pull in s.pulls("acme", "web") {
        if let Some(sha) = s.branch_sha("acme", "web", &pull.head_ref) {
            s.set_check_runs("acme", "web", &sha, vec![("fmt", "completed", Some("success"))]);
            s.set_combined_status("acme", "web", &sha, "success");
        }
    }
    s.add_workflow_run("acme", "api", RunSpec::new("ci", "main").head_sha(&"c3".repeat(20)));
    print(&cycle(&mut steward, &forge, &repos).await?);

    for repo in ["api", "web", "jobs"] {
        for issue in s.issues("acme", repo) {
            let kind = if issue.is_pull { "pull request" } else { "issue" };
            println!("acme/{repo} {kind} #{}: {} [{}]", issue.number, issue.title, issue.state);
        }
    }
    let records = scribe.call(|m| m.audit().verify()).await?.map_err(|b| format!("{b:?}"))?;
    let backlog: serde_json::Value = serde_json::from_slice(&std::fs::read(state.join("backlog.json"))?)?;
    let items = backlog["items"].as_array().map_or(0, Vec::len);
    println!("\naudit trail: {records} records, chain intact; backlog.json: {items} items");
    scribe.stop().await;
    Ok(())
}

/// One cycle: every snapshot, then the steward.
async fn cycle(
    steward: &mut Steward,
    forge: &GitHubForge,
    repos: &[RepoId],
) -> Result<AutonomyReport, Box<dyn std::error::Error>> {
    let mut snapshots = Vec::new();
    for repo in repos {
        snapshots.push(forge.snapshot(repo).await?);
    }
    Ok(steward.cycle(&snapshots, &Emergency::none(), SystemTime::now()).await?)
}

fn print(report: &AutonomyReport) {
    println!("cycle {}: {} decisions", report.cycle, report.decisions.len());
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
