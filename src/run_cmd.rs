//! `hive run`: watch a fleet until stopped (or for one cycle with `--once`): GitHub repositories (`--org`,
//! `--user`, `--repo`, through the GitHub forge and its shared rate-limit budget) or a local workspace of git
//! repositories (`--workspace DIR`).

use std::{
    io::Write,
    path::Path,
    sync::Arc,
    time::{Duration, SystemTime},
};

use anyhow::{Context, bail};
use hive::{
    CycleRecord, EmergencyConfig, Hive, HiveEvent, RepoId,
    cerebrum::QueenConfig,
    ecosystem::{
        CiState, FailureClass, Forge, GitHubConfig, GitHubForge, LocalForge, RepoFilter, RepoSnapshot, Target, score,
    },
};
use serde::Serialize;

use hive::{
    actors::{AutonomyConfig, CycleReport, OrchPlanner, Steward, is_valid_owner},
    cerebrum::{Memory, ScribeHandle, governance::ActionLevel},
};

use crate::{
    cli::{AutonomyArgs, RunArgs},
    config::EnvConfig,
};

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
    /// GitHub points (requests not answered `304`) this cycle cost; absent for a local workspace.
    #[serde(skip_serializing_if = "Option::is_none")]
    points_spent: Option<u64>,
    repositories: &'a [RepoLine],
    /// What the autonomy loop did this cycle (GitHub targets only).
    #[serde(skip_serializing_if = "Option::is_none")]
    autonomy: Option<&'a CycleReport>,
}

/// What the output loop needs from the forge being watched.
trait Watched: Send + Sync {
    /// The latest snapshot of a repository.
    fn latest(&self, repo: &RepoId) -> Option<RepoSnapshot>;
    /// Points spent so far, for forges that pay for reads.
    fn points_spent(&self) -> Option<u64>;
}

impl Watched for LocalForge {
    fn latest(&self, repo: &RepoId) -> Option<RepoSnapshot> {
        LocalForge::latest(self, repo)
    }
    fn points_spent(&self) -> Option<u64> {
        None
    }
}

impl Watched for GitHubForge {
    fn latest(&self, repo: &RepoId) -> Option<RepoSnapshot> {
        GitHubForge::latest(self, repo)
    }
    fn points_spent(&self) -> Option<u64> {
        Some(GitHubForge::points_spent(self))
    }
}

pub async fn run(args: &RunArgs, env: &EnvConfig, state_dir: &Path, json: bool) -> anyhow::Result<()> {
    let github = !(args.orgs.is_empty() && args.users.is_empty() && args.repos.is_empty());
    if github && args.workspace.is_some() {
        bail!("give either GitHub targets (--org/--user/--repo) or --workspace DIR, not both; run two hives for both");
    }
    if github {
        return run_github(args, env, state_dir, json).await;
    }
    let Some(workspace) = &args.workspace else {
        bail!(
            "nothing to watch: give a local workspace with `hive run --workspace DIR` (a directory of git repositories) or a GitHub target with `--org/--user/--repo` and GITHUB_TOKEN"
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
    let (hive, interval) = start_hive(forge.clone(), &repos, args, env, state_dir).await?;
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
    let watched = watch(&hive, &mut events, forge.as_ref(), None, None, repos, args.once, json).await;
    hive.shutdown().await?;
    watched
}

/// Starts a hive on `forge` with one pilot per repository; cycles run every `ORCHESTRATION_INTERVAL` unless
/// `--once`.
async fn start_hive(
    forge: Arc<dyn Forge>,
    repos: &[RepoId],
    args: &RunArgs,
    env: &EnvConfig,
    state_dir: &Path,
) -> anyhow::Result<(Hive, Duration)> {
    let interval = env.orchestration_interval.unwrap_or(DEFAULT_INTERVAL);
    let queen = QueenConfig {
        cycle_interval: (!args.once).then_some(interval),
        emergency_cycle_interval: (interval / 2).max(Duration::from_secs(1)),
        emergency: EmergencyConfig { forced: env.emergency_mode, ..EmergencyConfig::default() },
        state_dir: Some(state_dir.to_path_buf()),
        ..QueenConfig::default()
    };
    let hive = Hive::builder()
        .shared_forge(forge)
        .repos(repos.iter().map(RepoId::to_string))
        .queen_config(queen)
        .start()
        .await?;
    Ok((hive, interval))
}

/// `hive run --org/--user/--repo`: the GitHub forge, one pilot per discovered repository, re-discovery after every
/// cycle (free while nothing changed, thanks to conditional requests).
async fn run_github(args: &RunArgs, env: &EnvConfig, state_dir: &Path, json: bool) -> anyhow::Result<()> {
    let forge = Arc::new(github_forge(args)?);
    let repos = forge.discover().await?;
    if repos.is_empty() {
        bail!(
            "no repositories to watch on GitHub: the targets are empty or the filters (--include/--exclude, archived, forks, templates) left none"
        );
    }
    let (hive, interval) = start_hive(forge.clone(), &repos, args, env, state_dir).await?;
    let mut events = hive.subscribe();
    if !json {
        let every =
            if args.once { "one cycle".to_owned() } else { format!("a cycle every {interval:?}, Ctrl-C to stop") };
        println!("hive run: {} GitHub repositories, {every}", repos.len());
    }
    let memory = Memory::open(state_dir)?;
    let scribe = ScribeHandle::spawn(memory).await.context("cannot start the database writer")?;
    // The loop's proposals come from the queen's ORCHs, as every other proposal does.
    let planner = Arc::new(OrchPlanner { queen: hive.queen().clone(), orchs: 1 });
    let mut steward = Steward::new(forge.clone(), scribe.clone(), autonomy_config(&args.autonomy, env, state_dir)?)
        .with_planner(planner);
    hive.start_cycle()?;
    let watched =
        watch(&hive, &mut events, forge.as_ref(), Some(forge.as_ref()), Some(&mut steward), repos, args.once, json)
            .await;
    hive.shutdown().await?;
    scribe.stop().await;
    watched
}

/// The autonomy loop's configuration from `hive run`'s arguments (and their `HIVE_*` variables).
fn autonomy_config(args: &AutonomyArgs, env: &EnvConfig, state_dir: &Path) -> anyhow::Result<AutonomyConfig> {
    let mut config = AutonomyConfig::new(state_dir);
    let policy = &mut config.policy;
    policy.level = args.level.parse::<ActionLevel>().map_err(|err| anyhow::anyhow!("invalid --level: {err}"))?;
    policy.switches.autonomy = args.autonomy;
    policy.switches.automerge = args.automerge;
    policy.switches.dry_run = args.dry_run;
    policy.switches.emergency = env.emergency_mode;
    policy.limits.prs_per_day = args.max_prs_per_day;
    policy.limits.issues_per_hour = args.max_issues_per_hour;
    policy.limits.comments_per_issue_per_day = args.max_comments_per_issue_per_day;
    policy.limits.content_per_minute = args.max_content_per_minute;
    for owner in args.owners.iter().map(|o| o.trim().trim_start_matches('@')).filter(|o| !o.is_empty()) {
        if !is_valid_owner(owner) {
            bail!("invalid --owner '{}': expected a GitHub login (alice) or team (acme/core)", owner.escape_debug());
        }
        config.owners.push(owner.to_owned());
    }
    if let Some(repo) = &args.alert_repo {
        let repo = RepoId::new(repo.as_str())
            .with_context(|| format!("invalid --alert-repo '{}': expected owner/name", repo.escape_debug()))?;
        config.alert_repo = Some(repo);
    }
    config.escalate_after = args.escalate_after;
    config.secrets = crate::terminal::secrets();
    Ok(config)
}

/// The GitHub forge from the environment (token, URLs) and the arguments (targets, filters).
pub fn github_forge(args: &RunArgs) -> anyhow::Result<GitHubForge> {
    let mut config = GitHubConfig::from_lookup(|key| std::env::var(key).ok())?;
    config.targets.extend(args.orgs.iter().map(|org| Target::Org(org.clone())));
    config.targets.extend(args.users.iter().map(|user| Target::User(user.clone())));
    for repo in &args.repos {
        let repo = RepoId::new(repo.as_str()).with_context(|| format!("invalid --repo '{repo}'"))?;
        config.targets.push(Target::Repo(repo));
    }
    config.filter = RepoFilter {
        include: args.include.clone(),
        exclude: args.exclude.clone(),
        archived: args.all_kinds,
        forks: args.all_kinds,
        templates: args.all_kinds,
    };
    Ok(GitHubForge::new(config)?)
}

/// Prints every completed cycle until the first one (with `once`), Ctrl-C, or the hive stopping. With
/// `rediscover`, the fleet is discovered again after each cycle: new repositories get a pilot, gone or archived ones
/// lose theirs.
#[allow(clippy::too_many_arguments)]
async fn watch(
    hive: &Hive,
    events: &mut hive::Subscription,
    forge: &dyn Watched,
    rediscover: Option<&dyn Forge>,
    mut steward: Option<&mut Steward>,
    mut repos: Vec<RepoId>,
    once: bool,
    json: bool,
) -> anyhow::Result<()> {
    let mut points_before = forge.points_spent();
    let mut emergency = hive.status().await.map(|s| s.emergency).unwrap_or(false);
    loop {
        let envelope = tokio::select! {
            envelope = events.recv() => envelope.context("the hive stopped unexpectedly")?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        match &*envelope.event {
            HiveEvent::CycleCompleted { record } => {
                let mut lines: Vec<RepoLine> = repos.iter().map(|repo| repo_line(repo, forge.latest(repo))).collect();
                // Job and step names come from the repositories: no secrets, no terminal control sequences.
                for finding in lines.iter_mut().flat_map(|line| line.findings.iter_mut()) {
                    *finding = crate::terminal::line(finding);
                }
                let report = match steward.as_deref_mut() {
                    Some(steward) => {
                        let snapshots: Vec<RepoSnapshot> = repos.iter().filter_map(|repo| forge.latest(repo)).collect();
                        Some(steward.cycle(&snapshots, emergency, SystemTime::now()).await?)
                    }
                    None => None,
                };
                let points_now = forge.points_spent();
                let points = points_now.zip(points_before).map(|(now, before)| now - before);
                points_before = points_now;
                // The queen counts what pilots saw; the fixes are the steward's.
                let mut record = record.clone();
                record.fixes_attempted = report.as_ref().map_or(0, |r| r.fixes_attempted);
                print_cycle(&record, points, &lines, report.as_ref(), json)?;
                if once {
                    return Ok(());
                }
                if let Some(rediscover) = rediscover {
                    match rediscover.discover().await {
                        Ok(found) => repos = refleet(hive, repos, found).await,
                        // A failed discovery keeps the fleet as it is; the next cycle tries again.
                        Err(err) => tracing::warn!("re-discovery failed: {err:#}"),
                    }
                }
            }
            HiveEvent::EmergencyDeclared { reasons } => {
                emergency = true;
                if !json {
                    let reasons: Vec<String> = reasons.iter().map(ToString::to_string).collect();
                    println!("  !! EMERGENCY declared: {}", reasons.join("; "));
                }
            }
            HiveEvent::EmergencyCleared { .. } => emergency = false,
            HiveEvent::MemberEscalated { member, restarts, .. } if !json => {
                println!("  ! {member} escalated after {restarts} restarts; see the log (-v) for why");
            }
            _ => {}
        }
    }
}

/// Starts pilots for repositories that appeared and stops those of repositories that went; returns the new fleet.
async fn refleet(hive: &Hive, current: Vec<RepoId>, found: Vec<RepoId>) -> Vec<RepoId> {
    for repo in found.iter().filter(|repo| !current.contains(repo)) {
        match hive.watch(repo.as_str()).await {
            Ok(()) => tracing::info!(%repo, "new repository: pilot started"),
            Err(err) => tracing::warn!(%repo, "cannot start a pilot: {err}"),
        }
    }
    for repo in current.iter().filter(|repo| !found.contains(repo)) {
        match hive.unwatch(repo.as_str()).await {
            Ok(()) => tracing::info!(%repo, "repository gone or archived: pilot stopped"),
            Err(err) => tracing::warn!(%repo, "cannot stop the pilot: {err}"),
        }
    }
    found
}

fn print_cycle(
    record: &CycleRecord,
    points_spent: Option<u64>,
    lines: &[RepoLine],
    autonomy: Option<&CycleReport>,
    json: bool,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer(&mut out, &RunRecord { record, points_spent, repositories: lines, autonomy })?;
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
    if let Some(points) = points_spent {
        writeln!(out, "  github points this cycle: {points}")?;
    }
    let width = lines.iter().map(|line| line.repo.as_str().len()).max().unwrap_or(0);
    for line in lines {
        let (score, mark) = match (line.score, line.healthy) {
            (Some(score), Some(healthy)) => (score.to_string(), if healthy { '+' } else { 'x' }),
            _ => ("--".to_owned(), '?'),
        };
        let findings = if line.findings.is_empty() { "ok".to_owned() } else { line.findings.join("; ") };
        writeln!(out, "  {mark} {:<width$}  {score:>3}  {findings}", line.repo.as_str())?;
    }
    if let Some(report) = autonomy {
        writeln!(
            out,
            "  autonomy (cycle {}): {} written, {} fixes attempted, {} would do, {} decisions",
            report.cycle,
            report.writes.len(),
            report.fixes_attempted,
            report.would_do.len(),
            report.decisions.len()
        )?;
        for (title, lines) in [
            ("written", &report.writes),
            ("limit reached", &report.limits_hit),
            ("awaiting approval", &report.awaiting_approval),
            ("error", &report.errors),
        ] {
            for line in lines {
                writeln!(out, "    {title}: {line}")?;
            }
        }
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
