//! `hive single owner/name status`: one GitHub repository's health, with the breakdown of its score; `hive single
//! owner/name cycle`: that repository through one cycle of the whole loop, which is `hive run --once --repo
//! owner/name` with the same governance.

use std::{io::Write, path::Path};

use anyhow::Context;
use hive::{
    RepoId,
    forge::{Forge, GitHubConfig, GitHubForge, HealthBreakdown, RepoSnapshot, Target, score},
};
use serde::Serialize;

use crate::{
    cli::{EmergencyArgs, RunArgs, SingleAction, SingleArgs, SingleCycleArgs, TargetArgs},
    config::{EnvConfig, OrUsage},
    lifecycle::Shutdown,
    terminal,
};

/// What `--json` prints.
#[derive(Serialize)]
struct StatusRecord<'a> {
    repo: &'a RepoId,
    health: &'a HealthBreakdown,
    snapshot: &'a RepoSnapshot,
    points_spent: u64,
}

pub async fn run(args: &SingleArgs, env: &EnvConfig, state_dir: &Path, json: bool) -> anyhow::Result<()> {
    let repo =
        RepoId::new(args.repo.as_str()).with_context(|| format!("invalid repository '{}'", args.repo)).or_usage()?;
    match &args.action {
        SingleAction::Status => status(&repo, json).await,
        SingleAction::Cycle(cycle_args) => {
            let run = cycle_run_args(&repo, cycle_args);
            crate::run_cmd::run(&run, env, state_dir, json, &Shutdown::listen()?).await
        }
    }
}

/// `hive run --once --repo owner/name` with the cycle's governance: the fleet of one goes through the queen, its
/// pilot, the ORCHs and the steward like any fleet.
fn cycle_run_args(repo: &RepoId, args: &SingleCycleArgs) -> RunArgs {
    RunArgs {
        targets: TargetArgs {
            workspace: None,
            test_timeout: 600,
            no_cache: false,
            orgs: Vec::new(),
            users: Vec::new(),
            repos: vec![repo.to_string()],
            include: Vec::new(),
            exclude: Vec::new(),
            all_kinds: true,
        },
        once: true,
        fail_on: args.fail_on,
        reconcile_every: None,
        autonomy: args.autonomy.clone(),
        emergency: EmergencyArgs::default(),
        // One repository named on the command line, under the flags' governance alone.
        file: Default::default(),
    }
}

async fn status(repo: &RepoId, json: bool) -> anyhow::Result<()> {
    // A missing or malformed token, or a bad URL, is a configuration error (exit 2), found before any request.
    let mut config = GitHubConfig::from_lookup(|key| std::env::var(key).ok()).or_usage()?;
    config.targets.push(Target::Repo(repo.clone()));
    let forge = GitHubForge::new(config).or_usage()?;
    let snapshot = forge.snapshot(repo).await?;
    let health = score(&snapshot);
    let mut out = std::io::stdout().lock();
    if json {
        let record = StatusRecord { repo, health: &health, snapshot: &snapshot, points_spent: forge.points_spent() };
        writeln!(out, "{}", terminal::json_line(serde_json::to_value(&record)?)?)?;
        return Ok(out.flush()?);
    }
    // Names, reasons and the license come from the repository: each line is cleaned whole, so no field of it can
    // carry an escape sequence, a line break or a secret to the terminal.
    for line in human_lines(repo, &health, &snapshot, forge.points_spent()) {
        writeln!(out, "{}", terminal::line(&line))?;
    }
    Ok(out.flush()?)
}

fn human_lines(repo: &RepoId, health: &HealthBreakdown, snapshot: &RepoSnapshot, points: u64) -> Vec<String> {
    let verdict = if health.healthy { "healthy" } else { "unhealthy" };
    let mut lines = vec![format!("{repo}: {} / 100, {verdict}", health.score)];
    for component in &health.components {
        let score = component.score.map_or_else(|| "--".to_owned(), |s| format!("{s:>2}"));
        lines.push(format!("  {:<16} {score}/10  x{:<4}  {}", component.name, component.weight, component.reason));
    }
    if let Some(gh) = &snapshot.github {
        lines.push(format!(
            "  stars {}  forks {}  open issues {}  open pull requests {}  license {}",
            gh.stars,
            gh.forks,
            gh.open_issues,
            gh.open_pull_requests,
            gh.license.as_deref().unwrap_or("none")
        ));
    }
    for failure in &snapshot.ci.failures {
        lines.push(format!("  ci failure: {}", failure.signature()));
    }
    lines.push(format!("  github points spent: {points}"));
    lines
}
