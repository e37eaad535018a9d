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
    CycleRecord, Hive, HiveEvent, RepoId,
    cerebrum::{Backoff, QueenConfig, governance::Emergency},
    ecosystem::{CiState, FailureClass, Forge, GitHubForge, LocalForge, RepoSnapshot, score},
};
use serde::Serialize;

use hive::{
    actors::{CycleReport, OrchPlanner, Steward},
    cerebrum::{Memory, ScribeHandle},
};

use crate::{
    cli::RunArgs,
    config::EnvConfig,
    lifecycle::Shutdown,
    resolve::{GitHubPlan, RunPlan, RunTarget},
};

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

pub async fn run(
    args: &RunArgs,
    env: &EnvConfig,
    state_dir: &Path,
    json: bool,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    // Everything is resolved and checked before the first read: a bad flag is exit 2 with nothing sent.
    let plan = RunPlan::resolve(args, env, state_dir, |key| std::env::var(key).ok())?;
    let every =
        if plan.once { "one cycle".to_owned() } else { format!("a cycle every {:?}, Ctrl-C to stop", plan.interval) };
    let RunPlan { target, once, queen, .. } = plan;
    let (dir, cache_dir, test_timeout, cache) = match target {
        RunTarget::GitHub(github) => return run_github(*github, queen, state_dir, once, json, &every, shutdown).await,
        RunTarget::Workspace { dir, cache_dir, test_timeout, cache } => (dir, cache_dir, test_timeout, cache),
    };
    let forge = LocalForge::new(&dir)?.with_cache_dir(&cache_dir).with_cache(cache).with_test_timeout(test_timeout);
    let forge = Arc::new(forge);
    let Some(repos) = shutdown.run_until(forge.discover()).await else { return Ok(()) };
    let repos = repos?;
    if repos.is_empty() {
        bail!(
            "no git repositories in workspace '{}'; each subdirectory to watch must be a git repository (`git init`)",
            dir.display()
        );
    }
    let hive = start_hive(forge.clone(), &repos, queen).await?;
    let mut events = hive.subscribe();
    if !json {
        let cached = if cache {
            format!("local CI results cached in '{}'", cache_dir.display())
        } else {
            "local CI results not cached".to_owned()
        };
        println!("hive run: {} repositories in '{}', {every} ({cached})", repos.len(), forge.root().display());
    }
    // The first cycle starts now rather than one interval from now.
    hive.start_cycle()?;
    let watched = watch(&hive, &mut events, forge.as_ref(), None, None, repos, once, json);
    // A signal drops the watch wherever it waits; the hive then stops as after a last cycle.
    let watched = shutdown.run_until(watched).await.unwrap_or(Ok(()));
    hive.shutdown().await?;
    watched
}

/// Starts a hive on `forge` with one pilot per repository, under the queen configuration of the plan.
async fn start_hive(forge: Arc<dyn Forge>, repos: &[RepoId], queen: QueenConfig) -> anyhow::Result<Hive> {
    let hive = Hive::builder()
        .shared_forge(forge)
        .repos(repos.iter().map(RepoId::to_string))
        .queen_config(queen)
        .start()
        .await?;
    Ok(hive)
}

/// `hive run --org/--user/--repo`: the GitHub forge, one pilot per discovered repository, re-discovery after every
/// cycle (free while nothing changed, thanks to conditional requests).
async fn run_github(
    github: GitHubPlan,
    queen: QueenConfig,
    state_dir: &Path,
    once: bool,
    json: bool,
    every: &str,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let GitHubPlan { forge, autonomy } = github;
    // The database first: a damaged one stops the run before GitHub is asked anything.
    let memory = Memory::open(state_dir)?;
    let scribe = ScribeHandle::spawn(memory).await.context("cannot start the database writer")?;
    let forge = Arc::new(forge);
    let repos = match discover(forge.as_ref(), once, shutdown).await {
        Some(Ok(repos)) => repos,
        Some(Err(err)) => {
            scribe.stop().await;
            return Err(err);
        }
        None => {
            scribe.stop().await;
            return Ok(());
        }
    };
    let hive = match start_hive(forge.clone(), &repos, queen).await {
        Ok(hive) => hive,
        Err(err) => {
            // The database writer finishes its queue and closes the database, whatever else failed.
            scribe.stop().await;
            return Err(err);
        }
    };
    let mut events = hive.subscribe();
    if !json {
        println!("hive run: {} GitHub repositories, {every}", repos.len());
    }
    // The loop's proposals come from the queen's ORCHs, as every other proposal does.
    let planner = Arc::new(OrchPlanner { queen: hive.queen().clone(), orchs: 1 });
    let mut steward = Steward::new(forge.clone(), scribe.clone(), autonomy).with_planner(planner);
    hive.start_cycle()?;
    let watched =
        watch(&hive, &mut events, forge.as_ref(), Some(forge.as_ref()), Some(&mut steward), repos, once, json);
    // Dropping the steward's cycle between or within writes is safe: each write is reserved in the database before
    // it is sent, and the next start finds it again. No write starts after the signal.
    let watched = shutdown.run_until(watched).await.unwrap_or(Ok(()));
    drop(steward);
    hive.shutdown().await?;
    scribe.stop().await;
    watched
}

/// Backoff between discovery attempts while GitHub is unreachable: 1 s doubling to 5 minutes, plus up to 20 %
/// jitter so a fleet of daemons does not come back in step.
const DISCOVERY_BACKOFF: Backoff = Backoff {
    min: Duration::from_secs(1),
    max: Duration::from_secs(300),
    factor: 0.2,
    reset_after: Duration::from_secs(300),
};

/// The fleet to watch. A daemon that starts while GitHub is unreachable (a transient error: 5xx, timeout, refused
/// connection, rate limit) waits and tries again; `--once` and permanent errors (a refused token, an unknown
/// organisation) fail at once. `None` when shutdown was requested first.
async fn discover(forge: &dyn Forge, once: bool, shutdown: &Shutdown) -> Option<anyhow::Result<Vec<RepoId>>> {
    let mut attempt = 0;
    loop {
        match shutdown.run_until(forge.discover()).await? {
            Err(err) if err.is_transient() && !once => {
                let delay = DISCOVERY_BACKOFF.delay(attempt, rand::random::<f64>());
                tracing::warn!("github unreachable, retrying discovery in {}s: {err}", delay.as_secs_f64().round());
                if !shutdown.sleep(delay).await {
                    return None;
                }
                attempt = attempt.saturating_add(1);
            }
            Err(err) => return Some(Err(err.into())),
            Ok(repos) if repos.is_empty() => {
                return Some(Err(anyhow::anyhow!(
                    "no repositories to watch on GitHub: the targets are empty or the filters (--include/--exclude, archived, forks, templates) left none"
                )));
            }
            Ok(repos) => return Some(Ok(repos)),
        }
    }
}

/// Prints every completed cycle until the first one (with `once`) or the hive stopping; the caller drops it on a
/// signal. With `rediscover`, the fleet is discovered again after each cycle: new repositories get a pilot, gone or
/// archived ones lose theirs. With `once`, a cycle in which no repository could be read is an error.
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
    // Why a pilot failed, for the one error `--once` gives when nothing could be read.
    let mut first_failure: Option<String> = None;
    loop {
        let envelope = events.recv().await.context("the hive stopped unexpectedly")?;
        match &*envelope.event {
            HiveEvent::MemberFailed { error: why, .. } | HiveEvent::HealthUnknown { reason: why, .. }
                if first_failure.is_none() =>
            {
                first_failure = Some(crate::terminal::line(why));
            }
            HiveEvent::CycleCompleted { record } => {
                let mut lines: Vec<RepoLine> = repos.iter().map(|repo| repo_line(repo, forge.latest(repo))).collect();
                if once && lines.iter().all(|line| line.score.is_none()) {
                    print_cycle(record, None, &lines, None, json)?;
                    let why = first_failure.unwrap_or_else(|| "no pilot reported a snapshot".to_owned());
                    bail!("no repository could be read: {why}");
                }
                // Job and step names come from the repositories: no secrets, no terminal control sequences.
                for finding in lines.iter_mut().flat_map(|line| line.findings.iter_mut()) {
                    *finding = crate::terminal::line(finding);
                }
                let report = match steward.as_deref_mut() {
                    Some(steward) => {
                        // The emergency and its causes come from the queen's status, never from the bus, which may
                        // drop events while this loop is busy in the steward: a missed declaration would let writes
                        // through, a missed clearance would freeze them for good.
                        let status = hive.status().await.context("the hive stopped unexpectedly")?;
                        let emergency = if status.emergency {
                            Emergency::declared(&status.emergency_reasons)
                        } else {
                            Emergency::none()
                        };
                        let snapshots: Vec<RepoSnapshot> = repos.iter().filter_map(|repo| forge.latest(repo)).collect();
                        Some(steward.cycle(&snapshots, &emergency, SystemTime::now()).await?)
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
            HiveEvent::EmergencyDeclared { reasons } if !json => {
                let reasons: Vec<String> = reasons.iter().map(ToString::to_string).collect();
                println!("  !! EMERGENCY declared: {}", reasons.join("; "));
            }
            HiveEvent::SourceUnreachable { outage } if !json => println!("  ~ {outage}; retrying"),
            HiveEvent::SourceReachable { source, after } if !json => {
                println!("  ~ {source} reachable again after {}s", after.as_secs());
            }
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
