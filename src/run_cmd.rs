//! `hive run`: watch a fleet until stopped (or for one cycle with `--once`). Today the fleet is a local workspace
//! of git repositories (`--workspace DIR`); GitHub targets come with their issue.

use std::{io::Write, path::Path, sync::Arc, time::Duration};

use anyhow::{Context, bail};
use hive::{
    CycleRecord, EmergencyConfig, Hive, HiveEvent, RepoId,
    cerebrum::QueenConfig,
    ecosystem::{CiState, FailureClass, Forge, LocalForge, RepoSnapshot, score},
};
use serde::Serialize;

use crate::{cli::RunArgs, config::EnvConfig};

/// Time between cycles when `ORCHESTRATION_INTERVAL` is not set.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// One repository in a cycle's output.
#[derive(Debug, Serialize)]
struct RepoLine {
    repo: RepoId,
    /// `None` when the pilot has not reported (it failed, or is restarting).
    score: Option<u8>,
    healthy: Option<bool>,
    ci: Option<CiState>,
    findings: Vec<String>,
}

/// What `--json` prints per cycle: the analytics record with the seed's field names, plus the repositories.
#[derive(Serialize)]
struct RunRecord<'a> {
    #[serde(flatten)]
    record: &'a CycleRecord,
    repositories: &'a [RepoLine],
}

pub async fn run(args: &RunArgs, env: &EnvConfig, state_dir: &Path, json: bool) -> anyhow::Result<()> {
    let Some(workspace) = &args.workspace else {
        bail!(
            "nothing to watch: give a local workspace with `hive run --workspace DIR` (a directory of git repositories) or, once available, a GitHub target with `--org/--user/--repo` and GITHUB_TOKEN"
        );
    };
    let cache_dir = state_dir.join("cache").join("local-ci");
    let forge = LocalForge::new(workspace)?
        .with_cache_dir(&cache_dir)
        .with_test_timeout(Duration::from_secs(args.test_timeout));
    let forge = Arc::new(forge);
    let repos = forge.discover().await?;
    if repos.is_empty() {
        bail!(
            "no git repositories in workspace '{}'; each subdirectory to watch must be a git repository (`git init`)",
            workspace.display()
        );
    }
    let interval = env.orchestration_interval.unwrap_or(DEFAULT_INTERVAL);
    let queen = QueenConfig {
        cycle_interval: (!args.once).then_some(interval),
        emergency_cycle_interval: (interval / 2).max(Duration::from_secs(1)),
        emergency: EmergencyConfig { forced: env.emergency_mode, ..EmergencyConfig::default() },
        state_dir: Some(state_dir.to_path_buf()),
        ..QueenConfig::default()
    };
    let hive = Hive::builder()
        .shared_forge(forge.clone())
        .repos(repos.iter().map(RepoId::to_string))
        .queen_config(queen)
        .start()
        .await?;
    let mut events = hive.subscribe();
    if !json {
        let every =
            if args.once { "one cycle".to_owned() } else { format!("a cycle every {interval:?}, Ctrl-C to stop") };
        println!(
            "hive run: {} repositories in '{}', {every} (local CI results cached in '{}')",
            repos.len(),
            forge.root().display(),
            cache_dir.display()
        );
    }
    // The first cycle starts now rather than one interval from now.
    hive.start_cycle()?;
    let watched = watch(&mut events, &forge, &repos, args.once, json).await;
    hive.shutdown().await?;
    watched
}

/// Prints every completed cycle until the first one (with `once`), Ctrl-C, or the hive stopping.
async fn watch(
    events: &mut hive::Subscription,
    forge: &LocalForge,
    repos: &[RepoId],
    once: bool,
    json: bool,
) -> anyhow::Result<()> {
    loop {
        let envelope = tokio::select! {
            envelope = events.recv() => envelope.context("the hive stopped unexpectedly")?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        match &*envelope.event {
            HiveEvent::CycleCompleted { record } => {
                let lines: Vec<RepoLine> = repos.iter().map(|repo| repo_line(repo, forge.latest(repo))).collect();
                print_cycle(record, &lines, json)?;
                if once {
                    return Ok(());
                }
            }
            HiveEvent::EmergencyDeclared { reasons } if !json => {
                let reasons: Vec<String> = reasons.iter().map(ToString::to_string).collect();
                println!("  !! EMERGENCY declared: {}", reasons.join("; "));
            }
            HiveEvent::MemberEscalated { member, restarts, .. } if !json => {
                println!("  ! {member} escalated after {restarts} restarts; see the log (-v) for why");
            }
            _ => {}
        }
    }
}

fn print_cycle(record: &CycleRecord, lines: &[RepoLine], json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer(&mut out, &RunRecord { record, repositories: lines })?;
        writeln!(out)?;
        return Ok(out.flush()?);
    }
    writeln!(
        out,
        "cycle {}  {}/{} healthy  {}  score {:.1}  signals {}",
        record.orchestration_cycle,
        record.healthy_repositories,
        record.total_repositories,
        record.ecosystem_health.as_str(),
        record.global_health_score,
        record.issues_detected,
    )?;
    let width = lines.iter().map(|line| line.repo.as_str().len()).max().unwrap_or(0);
    for line in lines {
        let (score, mark) = match (line.score, line.healthy) {
            (Some(score), Some(healthy)) => (score.to_string(), if healthy { '+' } else { 'x' }),
            _ => ("--".to_owned(), '?'),
        };
        let findings = if line.findings.is_empty() { "ok".to_owned() } else { line.findings.join("; ") };
        writeln!(out, "  {mark} {:<width$}  {score:>3}  {findings}", line.repo.as_str())?;
    }
    Ok(out.flush()?)
}

fn repo_line(repo: &RepoId, snapshot: Option<RepoSnapshot>) -> RepoLine {
    let Some(snapshot) = snapshot else {
        return RepoLine {
            repo: repo.clone(),
            score: None,
            healthy: None,
            ci: None,
            findings: vec!["no report yet".to_owned()],
        };
    };
    let health = score(&snapshot);
    RepoLine {
        repo: repo.clone(),
        score: Some(health.score),
        healthy: Some(health.healthy),
        ci: Some(snapshot.ci.state),
        findings: findings(&snapshot),
    }
}

/// What a maintainer should look at, in a few words each.
fn findings(snapshot: &RepoSnapshot) -> Vec<String> {
    let mut findings: Vec<String> = snapshot
        .ci
        .failures
        .iter()
        .map(|failure| {
            let what = match failure.class {
                FailureClass::Build => "build failing",
                FailureClass::Infrastructure => "tests did not finish",
                _ => "tests failing",
            };
            match &failure.step {
                Some(step) => format!("{what} ({}): {step}", failure.job),
                None => format!("{what} ({})", failure.job),
            }
        })
        .collect();
    let Some(local) = &snapshot.local else { return findings };
    if snapshot.ci.state == CiState::Unknown {
        findings.push(match (&local.head, &local.test_command) {
            (None, _) => "no commits yet".to_owned(),
            (Some(_), None) => "no test command found".to_owned(),
            (Some(_), Some(command)) => format!("could not run {command} (the log says why)"),
        });
    }
    if local.dirty {
        findings.push("uncommitted changes".to_owned());
    }
    if let Some(upstream) = &local.upstream {
        if upstream.behind > 0 {
            findings.push(format!("{} behind '{}'", commits(upstream.behind), upstream.name));
        }
        if upstream.ahead > 0 {
            findings.push(format!("{} not pushed to '{}'", commits(upstream.ahead), upstream.name));
        }
    }
    if local.branch.is_none() && local.head.is_some() {
        findings.push("detached HEAD".to_owned());
    }
    if !local.stale_branches.is_empty() {
        findings.push(format!("stale branches: {}", local.stale_branches.join(", ")));
    }
    findings
}

fn commits(n: u32) -> String {
    if n == 1 { "1 commit".to_owned() } else { format!("{n} commits") }
}
