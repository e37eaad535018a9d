//! `hive emergency-scan` and `hive health-audit`: one look at the fleet `hive run` would watch, acting on nothing.
//! The scan runs one orchestration cycle through the real queen and pilots (no steward, so nothing is written) and
//! reports the emergency triggers the queen evaluated when the cycle closed; the audit reads and scores every
//! repository once and prints each score's components.

use std::{io::Write, path::Path, sync::Arc};

use anyhow::{Context, bail};
use futures::StreamExt;
use hive::{
    CycleRecord, HealthLevel, Hive, HiveEvent, HiveStatus, RepoId,
    cerebrum::{EmergencyReason, MemberId},
    forge::{DynForge, HealthComponent, score},
};
use serde::Serialize;

use crate::{
    cli::{AutonomyArgs, FailOn, RunArgs, ScanArgs},
    config::{EnvConfig, UsageError},
    findings::Verdicts,
    lifecycle::Shutdown,
    resolve::{RunPlan, RunTarget},
    run_cmd::{self, RepoLine},
    terminal,
};

/// Repositories read at the same time by `health-audit` (GitHub's budget and local CI's sandboxes bound the rest).
const AUDIT_READS: usize = 8;

/// What `hive emergency-scan --json` prints: the cycle's analytics record, the causes and the repositories.
#[derive(Serialize)]
struct ScanRecord<'a> {
    #[serde(flatten)]
    record: &'a CycleRecord,
    /// The triggers that hold; empty when there is no emergency.
    causes: &'a [EmergencyReason],
    repositories: &'a [RepoLine],
}

/// `hive emergency-scan`: one cycle, the triggers evaluated once; exit 3 (findings) when one holds.
pub async fn emergency_scan(
    args: &ScanArgs,
    env: &EnvConfig,
    state_dir: &Path,
    json: bool,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let plan = resolve(args, env, state_dir)?;
    let forge = forge_of(plan.target)?;
    let Some(repos) = fleet(&forge, shutdown).await? else { return Ok(()) };
    let hive = Hive::builder()
        .shared_forge(forge)
        .repos(repos.iter().map(RepoId::to_string))
        .queen_config(plan.queen)
        .start()
        .await?;
    let progress = terminal::progress(repos.len(), "repositories read");
    let cycle = shutdown.run_until(one_cycle(&hive, &progress)).await;
    progress.finish_and_clear();
    hive.shutdown().await?;
    let Some(cycle) = cycle else { return Ok(()) };
    let (record, status) = cycle?;
    let lines = run_cmd::lines(&status, &repos);
    let causes = if status.emergency { status.emergency_reasons.as_slice() } else { &[] };
    if json {
        let value = serde_json::to_value(ScanRecord { record: &record, causes, repositories: &lines })?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", terminal::json_line(value)?)?;
        out.flush()?;
    } else {
        run_cmd::print_cycle(&record, None, &lines, None, false)?;
        print_causes(causes)?;
    }
    let mut fail_on = vec![FailOn::Emergency];
    fail_on.extend(args.fail_on);
    verdicts(&lines, Some(causes)).check(&fail_on)
}

/// `hive health-audit`: every repository read and scored once, with the components of its score.
pub async fn health_audit(
    args: &ScanArgs,
    env: &EnvConfig,
    state_dir: &Path,
    json: bool,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    if args.fail_on == Some(FailOn::Emergency) {
        return Err(UsageError::error(
            "health-audit scores repositories and evaluates no emergency trigger; use `hive emergency-scan` (exit 3 \
             when one holds), or `--fail-on unhealthy` here",
        ));
    }
    let plan = resolve(args, env, state_dir)?;
    let forge = forge_of(plan.target)?;
    let Some(repos) = fleet(&forge, shutdown).await? else { return Ok(()) };
    let progress = terminal::progress(repos.len(), "repositories read");
    let reads = futures::stream::iter(repos)
        .map(|repo| {
            let (forge, progress) = (forge.clone(), progress.clone());
            async move {
                let read = forge.snapshot(&repo).await;
                progress.inc(1);
                audit_row(repo, read)
            }
        })
        .buffered(AUDIT_READS)
        .collect::<Vec<AuditRow>>();
    let rows = shutdown.run_until(reads).await;
    progress.finish_and_clear();
    let Some(rows) = rows else { return Ok(()) };
    if rows.iter().all(|row| row.score.is_none()) {
        let why = rows.iter().find_map(|row| row.error.clone()).unwrap_or_default();
        bail!("no repository could be read: {why}");
    }
    let fleet = FleetAudit::of(&rows);
    if json {
        let value = serde_json::to_value(AuditRecord {
            timestamp: hive_support::rfc3339(std::time::SystemTime::now()),
            fleet: &fleet,
            repositories: &rows,
        })?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", terminal::json_line(value)?)?;
        out.flush()?;
    } else {
        print_audit(&fleet, &rows)?;
    }
    let unhealthy = rows.iter().filter(|r| r.healthy == Some(false)).map(|r| r.repo.as_str()).collect();
    let unknown = rows.iter().filter(|r| r.healthy.is_none()).map(|r| r.repo.as_str()).collect();
    Verdicts { unhealthy, unknown, emergency: None }.check(args.fail_on.as_slice())
}

/// The scan's arguments as `hive run --once` takes them, with an autonomy loop that may do nothing (none runs), and
/// resolved the way `hive run` resolves them: a bad flag is exit 2 before anything is read.
fn resolve(args: &ScanArgs, env: &EnvConfig, state_dir: &Path) -> anyhow::Result<RunPlan> {
    RunPlan::resolve(&as_run(args), env, state_dir, |key| std::env::var(key).ok())
}

/// The scan's arguments as `hive run --once` takes them, with an autonomy loop that may do nothing. The
/// configuration file is laid under them through this form too ([`absorb`] takes the result back).
pub(crate) fn as_run(args: &ScanArgs) -> RunArgs {
    RunArgs {
        targets: args.targets.clone(),
        once: true,
        fail_on: None,
        reconcile_every: None,
        autonomy: AutonomyArgs {
            autonomy: false,
            automerge: false,
            dry_run: true,
            level: "log".to_owned(),
            owners: Vec::new(),
            alert_repo: None,
            max_prs_per_day: 0,
            max_issues_per_hour: 0,
            max_comments_per_issue_per_day: 0,
            max_content_per_minute: 0,
            escalate_after: 1,
        },
        emergency: args.emergency.clone(),
        file: args.file.clone(),
    }
}

/// Takes back what the configuration's layers resolved into [`as_run`]'s form: the targets, the test timeout, the
/// emergency thresholds and what only the file sets. The autonomy settings stay the scan's own: it acts on nothing.
pub(crate) fn absorb(args: &mut ScanArgs, run: RunArgs) {
    args.targets = run.targets;
    args.emergency = run.emergency;
    args.file = run.file;
}

/// The forge a plan's target is read through.
fn forge_of(target: RunTarget) -> anyhow::Result<DynForge> {
    Ok(match target {
        RunTarget::Workspace { dir, cache_dir, test_timeout, cache, test_commands, .. } => {
            Arc::new(run_cmd::local_forge(&dir, &cache_dir, test_timeout, cache, test_commands)?)
        }
        RunTarget::GitHub(github) => Arc::new(github.forge),
    })
}

/// The repositories to look at; `None` when a signal came first. A one-shot look does not wait for a forge that is
/// down: that is a failure (exit 1) to report.
async fn fleet(forge: &DynForge, shutdown: &Shutdown) -> anyhow::Result<Option<Vec<RepoId>>> {
    let Some(repos) = shutdown.run_until(forge.discover()).await else { return Ok(None) };
    let repos = repos?;
    if repos.is_empty() {
        bail!(
            "no repositories to look at on '{}': the workspace has no git repository, or the targets and filters left none",
            forge.name()
        );
    }
    Ok(Some(repos))
}

/// Runs one orchestration cycle and returns its record with the queen's status once it closed. A cycle in which no
/// repository could be read is an error naming the first reason.
async fn one_cycle(hive: &Hive, progress: &indicatif::ProgressBar) -> anyhow::Result<(CycleRecord, HiveStatus)> {
    let mut events = hive.subscribe();
    hive.start_cycle()?;
    let mut first_failure: Option<String> = None;
    loop {
        let envelope = events.recv().await.context("the hive stopped unexpectedly")?;
        match &*envelope.event {
            HiveEvent::CycleProgressed { answered, .. } => progress.set_position(*answered as u64),
            HiveEvent::MemberFailed { error: why, .. } | HiveEvent::HealthUnknown { reason: why, .. } => {
                first_failure.get_or_insert_with(|| terminal::line(why));
            }
            HiveEvent::CycleCompleted { record } => {
                let status = hive.status().await.context("the hive stopped unexpectedly")?;
                if run_cmd::pilots(&status).all(|m| m.score.is_none()) {
                    let why = first_failure.unwrap_or_else(|| "no pilot reported a snapshot".to_owned());
                    bail!("no repository could be read: {why}");
                }
                return Ok((record.clone(), status));
            }
            _ => {}
        }
    }
}

/// The verdicts of a cycle's lines, for `--fail-on`.
pub(crate) fn verdicts<'a>(lines: &'a [RepoLine], emergency: Option<&'a [EmergencyReason]>) -> Verdicts<'a> {
    Verdicts {
        unhealthy: lines.iter().filter(|l| l.healthy == Some(false)).map(|l| l.repo.as_str()).collect(),
        unknown: lines.iter().filter(|l| l.healthy.is_none()).map(|l| l.repo.as_str()).collect(),
        emergency,
    }
}

/// The members a cause names, if it names any.
fn members_of(reason: &EmergencyReason) -> &[MemberId] {
    match reason {
        EmergencyReason::CriticalMembers { members, .. }
        | EmergencyReason::CriticalSecurity { members }
        | EmergencyReason::SystemicFailure { members, .. } => members,
        _ => &[],
    }
}

fn print_causes(causes: &[EmergencyReason]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if causes.is_empty() {
        writeln!(out, "no emergency: no trigger holds")?;
    } else {
        let n = causes.len();
        writeln!(out, "EMERGENCY: {n} {}", if n == 1 { "cause" } else { "causes" })?;
        for cause in causes {
            let members: Vec<&str> = members_of(cause).iter().map(MemberId::as_str).collect();
            let line = if members.is_empty() { cause.to_string() } else { format!("{cause}: {}", members.join(", ")) };
            // Signatures and member names come from the repositories.
            writeln!(out, "  !! {}", terminal::line(&line))?;
        }
    }
    Ok(out.flush()?)
}

/// One repository in the audit.
#[derive(Debug, Serialize)]
struct AuditRow {
    repo: RepoId,
    /// `HEALTHY`, `UNHEALTHY`, or `UNKNOWN` when it could not be read.
    verdict: &'static str,
    score: Option<u8>,
    healthy: Option<bool>,
    /// Every component of the score, in the scorer's order, with its reason.
    components: Vec<HealthComponent>,
    /// Why it could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn audit_row(repo: RepoId, read: Result<hive::forge::RepoSnapshot, hive::forge::ForgeError>) -> AuditRow {
    match read {
        Ok(snapshot) => {
            let health = score(&snapshot);
            AuditRow {
                repo,
                verdict: if health.healthy { "HEALTHY" } else { "UNHEALTHY" },
                score: Some(health.score),
                healthy: Some(health.healthy),
                components: health.components,
                error: None,
            }
        }
        Err(err) => AuditRow {
            repo,
            verdict: "UNKNOWN",
            score: None,
            healthy: None,
            components: Vec::new(),
            error: Some(hive_support::error_chain(&err)),
        },
    }
}

/// The fleet's share of healthy repositories among those with a verdict, and its level (`UNKNOWN` without any).
#[derive(Debug, Serialize)]
struct FleetAudit {
    total: usize,
    known: usize,
    healthy: usize,
    /// The healthy share of the repositories with a verdict; `None` when none has one.
    share: Option<f64>,
    level: &'static str,
}

impl FleetAudit {
    fn of(rows: &[AuditRow]) -> FleetAudit {
        let known = rows.iter().filter(|r| r.healthy.is_some()).count();
        let healthy = rows.iter().filter(|r| r.healthy == Some(true)).count();
        let share = (known > 0).then(|| healthy as f64 / known as f64);
        let level = share.map_or(HealthLevel::Unknown, HealthLevel::from_share).as_str();
        FleetAudit { total: rows.len(), known, healthy, share, level }
    }
}

/// What `hive health-audit --json` prints.
#[derive(Serialize)]
struct AuditRecord<'a> {
    /// When the audit finished, RFC 3339.
    timestamp: String,
    fleet: &'a FleetAudit,
    repositories: &'a [AuditRow],
}

fn print_audit(fleet: &FleetAudit, rows: &[AuditRow]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "health audit: {}/{} healthy, {}{}",
        fleet.healthy,
        fleet.known,
        fleet.level,
        if fleet.known < fleet.total { format!(", {} unknown", fleet.total - fleet.known) } else { String::new() }
    )?;
    // The scorer's components, in its order, are the columns.
    let names: Vec<&str> = rows
        .iter()
        .find(|r| !r.components.is_empty())
        .map(|r| r.components.iter().map(|c| c.name.as_str()).collect())
        .unwrap_or_default();
    let width = rows.iter().map(|r| r.repo.as_str().len()).chain([4]).max().unwrap_or(4);
    let mut header = format!("{:<width$}  {:>5}  {:<9}", "REPO", "SCORE", "VERDICT");
    for name in &names {
        header.push_str(&format!("  {}", name.to_ascii_uppercase()));
    }
    writeln!(out, "{}", header.trim_end())?;
    for row in rows {
        let score = row.score.map_or_else(|| "--".to_owned(), |s| s.to_string());
        let mut line = format!("{:<width$}  {score:>5}  {:<9}", row.repo.as_str(), row.verdict);
        for name in &names {
            let value = row
                .components
                .iter()
                .find(|c| c.name == *name)
                .and_then(|c| c.score)
                .map_or_else(|| "--".to_owned(), |s| s.to_string());
            line.push_str(&format!("  {value:>w$}", w = name.len()));
        }
        if let Some(error) = &row.error {
            line.push_str(&format!("  {error}"));
        }
        writeln!(out, "{}", terminal::line(line.trim_end()))?;
    }
    Ok(out.flush()?)
}
