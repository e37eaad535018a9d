//! `hive demo`: a simulated fleet run through the real queen and pilots, shown live or as JSON records.

use std::{collections::BTreeMap, io::Write, path::Path, time::Duration};

use anyhow::Context;
use hive::{
    EmergencyConfig, Hive, HiveEvent, PilotConfig, RepoId, RestartPolicy, SimForge,
    cerebrum::{Backoff, MemberId, QueenConfig},
    forge::{CiFailure, CiStatus, FailureClass, Fault},
};

use crate::{cli::DemoArgs, config::EnvConfig, lifecycle::Shutdown};

/// What one pilot looked like last, for the live grid.
#[derive(Clone, Copy, PartialEq)]
enum Cell {
    Unknown,
    Healthy,
    Unhealthy,
    Restarting,
    Escalated,
}

impl Cell {
    fn glyph(self) -> char {
        match self {
            Cell::Unknown => '.',
            Cell::Healthy => '+',
            Cell::Unhealthy => 'x',
            Cell::Restarting => '~',
            Cell::Escalated => '!',
        }
    }
}

/// Breaks one CI job in a third of the healthy repositories after cycle `at`, and mends it after cycle `at + 2`.
fn stage_incident(
    forge: &SimForge,
    at: Option<u64>,
    cycle: u64,
    grid: &BTreeMap<MemberId, Cell>,
    broken: &mut Vec<RepoId>,
) -> anyhow::Result<()> {
    let Some(at) = at else { return Ok(()) };
    if cycle == at {
        let healthy: Vec<&MemberId> = grid.iter().filter(|(_, c)| **c == Cell::Healthy).map(|(id, _)| id).collect();
        for id in healthy.iter().step_by(3) {
            let repo = RepoId::new(id.as_str())?;
            let failure = CiFailure {
                workflow: "ci".to_owned(),
                job: "build".to_owned(),
                step: Some("install toolchain".to_owned()),
                class: FailureClass::Build,
                run: None,
            };
            forge.set_ci(&repo, CiStatus::failing(vec![failure]))?;
            broken.push(repo);
        }
    } else if cycle == at + 2 {
        for repo in broken.drain(..) {
            forge.set_ci(&repo, CiStatus::green())?;
        }
    }
    Ok(())
}

/// The demo stands for a daemon with one-minute cycles, run faster: every clock of the hive (restart windows and
/// backoff, automatic resume, the emergency window, outage retries) runs at the pace of the demo's cycles. Otherwise
/// a 100 ms demo would count 600 cycles' worth of read failures into a one-minute restart window, and show an
/// erosion no real fleet has.
struct Pace(f64);

impl Pace {
    /// The real cycle a demo cycle stands for.
    const REAL_CYCLE: Duration = Duration::from_secs(60);

    fn of(interval: Duration) -> Pace {
        Pace((interval.as_secs_f64() / Pace::REAL_CYCLE.as_secs_f64()).min(1.0))
    }

    fn scale(&self, real: Duration) -> Duration {
        real.mul_f64(self.0)
    }

    fn backoff(&self, real: Backoff) -> Backoff {
        Backoff {
            min: self.scale(real.min),
            max: self.scale(real.max),
            reset_after: self.scale(real.reset_after),
            ..real
        }
    }
}

/// Totals printed after the run.
#[derive(Default)]
struct Totals {
    restarts: u64,
    escalations: u64,
    resumes: u64,
    emergencies: u64,
}

/// The hive's configuration for a demo at `interval`: every clock at the demo's [`Pace`].
fn configure(
    args: &DemoArgs,
    env: &EnvConfig,
    state_dir: &Path,
    interval: Duration,
) -> anyhow::Result<(QueenConfig, PilotConfig, RestartPolicy)> {
    let pace = Pace::of(interval);
    let defaults = QueenConfig::default();
    let queen = QueenConfig {
        cycle_interval: Some(interval),
        emergency_cycle_interval: interval / 2,
        emergency: crate::config::emergency(
            &args.emergency,
            EmergencyConfig {
                forced: env.emergency_mode,
                critical_window: pace.scale(defaults.emergency.critical_window),
                ..EmergencyConfig::default()
            },
        )?,
        state_dir: Some(state_dir.to_path_buf()),
        jitter_seed: Some(args.seed),
        resume: defaults.resume.map(|resume| pace.backoff(resume)),
        ..defaults
    };
    let pilot = PilotConfig {
        jitter: interval / 4,
        emergency_jitter: interval / 16,
        outage_retry: pace.backoff(PilotConfig::default().outage_retry),
        ..PilotConfig::default()
    };
    let policy = RestartPolicy::default();
    let policy = RestartPolicy { period: pace.scale(policy.period), backoff: pace.backoff(policy.backoff), ..policy };
    Ok((queen, pilot, policy))
}

pub async fn run(
    args: &DemoArgs,
    env: &EnvConfig,
    state_dir: &Path,
    json: bool,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let interval = match (args.interval_ms, env.orchestration_interval) {
        // clap keeps it within 1 ms and one day.
        (Some(ms), _) => Duration::from_millis(ms),
        (None, Some(interval)) => interval,
        (None, None) => Duration::from_millis(400),
    };
    let forge = SimForge::fleet(args.repos as usize, args.failing, args.seed).with_seed(args.seed);
    if args.chaos > 0 {
        forge.set_fault_rate(Fault::Panic, f64::from(args.chaos) / 100.0);
    }
    let (queen, pilot, policy) = configure(args, env, state_dir, interval)?;
    // Subscribe before anything starts so the first cycle is not missed.
    let hive = Hive::builder()
        .forge(forge.clone())
        .queen_config(queen)
        .pilot_config(pilot)
        .restart_policy(policy)
        .start()
        .await?;
    let mut events = hive.subscribe();

    let mut out = std::io::stdout().lock();
    if !json {
        writeln!(
            out,
            "hive demo: {} simulated repositories, {}% failing, {} cycles every {:?} (+ healthy, x unhealthy, ~ restarting, ! escalated)",
            args.repos, args.failing, args.cycles, interval
        )?;
    }
    let mut grid: BTreeMap<MemberId, Cell> = BTreeMap::new();
    let mut totals = Totals::default();
    let mut completed = 0;
    let mut incident: Vec<RepoId> = Vec::new();
    while completed < args.cycles {
        // A signal ends the demo early, as if this had been the last cycle.
        let Some(envelope) = shutdown.run_until(events.recv()).await else { break };
        let envelope = envelope.context("the hive stopped before the demo finished")?;
        let event = &*envelope.event;
        match event {
            HiveEvent::FleetStarted { members } => {
                grid.extend(members.iter().map(|started| (started.member.clone(), Cell::Unknown)));
            }
            HiveEvent::MemberStarted { member, .. } => {
                grid.insert(member.clone(), Cell::Unknown);
            }
            // Published only when a repository's verdict changed (or for its first report since it started), so
            // its cell keeps the last one until then.
            HiveEvent::HealthReported { member, healthy, .. } => {
                grid.insert(member.clone(), if *healthy { Cell::Healthy } else { Cell::Unhealthy });
            }
            HiveEvent::MemberFailed { member, .. } => {
                grid.insert(member.clone(), Cell::Restarting);
            }
            HiveEvent::MemberRestarted { .. } => totals.restarts += 1,
            HiveEvent::MemberResumed { member } => {
                totals.resumes += 1;
                grid.insert(member.clone(), Cell::Unknown);
            }
            HiveEvent::MemberEscalated { member, .. } => {
                totals.escalations += 1;
                grid.insert(member.clone(), Cell::Escalated);
            }
            _ => {}
        }
        if let HiveEvent::CycleCompleted { record } = event {
            stage_incident(&forge, args.incident, record.orchestration_cycle, &grid, &mut incident)?;
        }
        if json {
            if let HiveEvent::CycleCompleted { record } = event {
                serde_json::to_writer(&mut out, record)?;
                writeln!(out)?;
                completed += 1;
            }
            continue;
        }
        match event {
            HiveEvent::CycleCompleted { record } => {
                let cells: String = grid.values().map(|c| c.glyph()).collect();
                writeln!(
                    out,
                    "cycle {:>3}  {}  {}/{} healthy  {:<9}  score {:>5.1}  signals {:>3}  pilots {}",
                    record.orchestration_cycle,
                    cells,
                    record.healthy_repositories,
                    record.total_repositories,
                    record.ecosystem_health.as_str(),
                    record.global_health_score,
                    record.issues_detected,
                    record.active_pilots,
                )?;
                completed += 1;
            }
            HiveEvent::MemberRestarted { member, attempt, delay } => {
                writeln!(out, "  ~ {member} restarted (attempt {attempt}, after {delay:?})")?;
            }
            HiveEvent::MemberEscalated { member, restarts, period, resume_in } => {
                let resume = resume_in.map_or_else(String::new, |d| format!(", resumed in {d:?}"));
                writeln!(out, "  ! {member} escalated: {restarts} restarts within {period:?}{resume}")?;
            }
            HiveEvent::MemberResumed { member } => writeln!(out, "  + {member} resumed")?,
            HiveEvent::EmergencyDeclared { reasons } => {
                totals.emergencies += 1;
                let reasons: Vec<String> = reasons.iter().map(ToString::to_string).collect();
                writeln!(out, "  !! EMERGENCY declared: {}", reasons.join("; "))?;
            }
            HiveEvent::SnapshotWritten { path } => writeln!(out, "  emergency snapshot written to {}", path.display())?,
            HiveEvent::EmergencyCleared { healthy_evaluations } => {
                writeln!(out, "  emergency cleared after {healthy_evaluations} healthy cycles")?;
            }
            _ => {}
        }
    }
    hive.shutdown().await?;
    if !json {
        writeln!(
            out,
            "done: {} cycles, {} restarts, {} escalations ({} resumed), {} emergencies declared",
            completed, totals.restarts, totals.escalations, totals.resumes, totals.emergencies
        )?;
        if events.lost() > 0 {
            writeln!(out, "note: the display fell behind and skipped {} events", events.lost())?;
        }
    }
    Ok(())
}
