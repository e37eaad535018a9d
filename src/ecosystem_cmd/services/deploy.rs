//! `hive ecosystem <id> deploy [--ref R] [--command NAME] [--health PATH]` and `deploy history`: a new version of
//! an imported repository's service started beside the running one, checked, and switched to, or rolled back.
//!
//! A deploy builds the commit in a worktree of its own, starts it as one more service of the hive on a port of its
//! own (`PORT` in its environment, also its readiness probe), and wants a 2xx answer to `GET <health>` (default
//! `/health`). Then the switch: the run record names the new service, and the old instance is stopped gracefully
//! (from the command line, the `hive` process keeping it is sent SIGTERM; under `hive serve`, its member is
//! removed from the queen). A failed build, start or check stops the new instance, leaves the old one alone, and
//! the history says why. The same [`deploy`] serves both: the command line's foreground hive and `hive serve`'s.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use hive::{Hive, HiveError, SimForge};
use hive_actors::{KeeperError, ServiceState};
use hive_ecosystem::{
    DeployInstance, DeployLock, DeployOutcome, DeployRecord, EcosystemManager, HealthPolicy, Readiness, RepoMeta,
    ServiceSpec, WaveTask, check_health, check_ref, free_loopback_port, run_task,
};
use serde_json::json;

use super::{RunRecord, live_record, pick_command, record_path, release, stop_supervisor, supervise};
use crate::{config::UsageError, lifecycle::Shutdown, terminal};

/// The build gets this long before it is killed and the deploy rolled back.
const BUILD_TIMEOUT: Duration = Duration::from_secs(1800);

/// Longest health path accepted.
const MAX_HEALTH_PATH: usize = 200;

/// Lines of a failed build's output kept in the history's reason.
const REASON_LINES: usize = 20;

/// What to deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployRequest {
    /// The branch, tag or commit; the origin's default branch when `None`.
    pub reference: Option<String>,
    /// The run command (`make:serve`, ...); the preferred one when `None`.
    pub command: Option<String>,
    /// The path whose 2xx answer says the new instance is healthy.
    pub health: String,
}

impl Default for DeployRequest {
    fn default() -> DeployRequest {
        DeployRequest { reference: None, command: None, health: "/health".to_owned() }
    }
}

/// A parsed `deploy` command line.
#[derive(Debug, PartialEq, Eq)]
pub enum DeployAction {
    /// Deploy.
    Deploy(DeployRequest),
    /// Show the history.
    History,
}

const DEPLOY_USAGE: &str = "expected `hive ecosystem <id> deploy [--ref REF] [--command NAME] [--health PATH]` or \
                            `hive ecosystem <id> deploy history`";

/// Parses the words after `deploy`. Anything wrong (a hostile ref among it) is a usage error, found before
/// anything runs.
pub fn parse(words: &[String]) -> anyhow::Result<DeployAction> {
    if let [word] = words
        && word == "history"
    {
        return Ok(DeployAction::History);
    }
    let mut request = DeployRequest::default();
    let mut seen = Vec::new();
    let mut rest = words.iter();
    while let Some(word) = rest.next() {
        let (flag, inline) = match word.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (word.as_str(), None),
        };
        if !matches!(flag, "--ref" | "--command" | "--health") {
            let hint = if word.starts_with('-') {
                "; give global flags before the subcommand, such as `hive --state-dir DIR ecosystem <id> deploy`"
            } else {
                ""
            };
            return Err(UsageError::error(format!(
                "'{}' is not understood after `deploy`{hint}; {DEPLOY_USAGE}",
                word.escape_debug()
            )));
        }
        if seen.contains(&flag) {
            return Err(UsageError::error(format!("{flag} is given twice; give it once")));
        }
        seen.push(flag);
        let Some(value) = inline.or_else(|| rest.next().cloned()) else {
            return Err(UsageError::error(format!("{flag} needs a value; {DEPLOY_USAGE}")));
        };
        match flag {
            "--ref" => {
                check_ref(&value).map_err(|e| UsageError::error(e.to_string()))?;
                request.reference = Some(value);
            }
            "--command" => request.command = Some(value),
            _ => {
                check_health_path(&value)?;
                request.health = value;
            }
        }
    }
    Ok(DeployAction::Deploy(request))
}

fn check_health_path(path: &str) -> anyhow::Result<()> {
    if path.starts_with('/')
        && path.len() <= MAX_HEALTH_PATH
        && !path.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Ok(());
    }
    Err(UsageError::error(format!(
        "invalid --health '{}': give a path starting with '/', without spaces, such as '/health'",
        path.escape_debug()
    )))
}

/// `hive ecosystem <id> deploy ...` from the command line.
pub async fn run(manager: &EcosystemManager, meta: &RepoMeta, action: DeployAction, json: bool) -> anyhow::Result<()> {
    let request = match action {
        DeployAction::History => return history(manager, meta, json),
        DeployAction::Deploy(request) => request,
    };
    // Listening before anything starts, so a signal during the deploy stops the new instance too.
    let shutdown = Shutdown::listen()?;
    // No pilots: this hive only keeps the repository's service, like `start`'s.
    let hive = Hive::builder().forge(SimForge::new(Vec::new())).repos(Vec::<String>::new()).start().await?;
    let Some(outcome) = shutdown.run_until(deploy(&hive, manager, meta, &request, false)).await else {
        // The history keeps the deploy as running; the next one marks it interrupted.
        hive.shutdown().await?;
        bail!("the deploy of '{}' was interrupted by a signal; the running instance was left alone", meta.name);
    };
    let record = match outcome {
        Ok(record) => record,
        Err(err) => {
            hive.shutdown().await?;
            return Err(err);
        }
    };
    print_record(meta, &record, json)?;
    if let DeployOutcome::RolledBack { reason } = &record.outcome {
        hive.shutdown().await?;
        bail!("deploy {} of '{}' was rolled back: {reason}", record.id, meta.name);
    }
    // Switched: this process keeps the new instance, in the foreground like `start`.
    let run_record = live_record(manager, &meta.id)?
        .filter(|r| r.pid == std::process::id())
        .context("the run record of the new instance is gone; see `hive ecosystem <id> status`")?;
    let outcome = supervise(&hive, &run_record, json, &shutdown).await;
    release(manager, meta);
    hive.shutdown().await?;
    outcome
}

fn print_record(meta: &RepoMeta, record: &DeployRecord, json: bool) -> anyhow::Result<()> {
    if json {
        let mut value = serde_json::to_value(record)?;
        terminal::redact_json(&mut value);
        println!("{}", serde_json::to_string(&value)?);
        return Ok(());
    }
    let sha = record.sha.get(..10).unwrap_or(&record.sha);
    let reference = terminal::line(&record.reference);
    match &record.outcome {
        DeployOutcome::Switched => {
            println!("deploy {} of '{}' ({reference} at {sha}): switched", record.id, meta.name);
            if let Some(new) = &record.new {
                println!("  now:      {}", instance(new));
            }
            if let Some(old) = &record.old {
                println!("  stopped:  {}", instance(old));
            }
        }
        DeployOutcome::RolledBack { reason } => {
            println!("deploy {} of '{}' ({reference} at {sha}): rolled back", record.id, meta.name);
            println!("  reason:   {}", terminal::line(reason));
            if let Some(old) = &record.old {
                println!("  kept:     {}", instance(old));
            }
        }
        other => println!("deploy {} of '{}' ({reference} at {sha}): {other:?}", record.id, meta.name),
    }
    Ok(())
}

fn instance(instance: &DeployInstance) -> String {
    let pid = instance.pid.map_or_else(|| "-".to_owned(), |p| p.to_string());
    let port = instance.port.map_or_else(String::new, |p| format!(" on 127.0.0.1:{p}"));
    let place = instance.worktree.as_ref().map_or_else(|| "the clone".to_owned(), |w| w.display().to_string());
    format!("{} (pid {pid}{port}) from {place}", instance.service)
}

fn history(manager: &EcosystemManager, meta: &RepoMeta, json: bool) -> anyhow::Result<()> {
    let deploys = manager.deploy_history(&meta.id)?;
    if json {
        let mut value = json!({ "id": meta.id, "name": meta.name, "deploys": deploys });
        terminal::redact_json(&mut value);
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    if deploys.is_empty() {
        println!("'{}' was never deployed; deploy it with `hive ecosystem {} deploy`", meta.name, meta.id);
        return Ok(());
    }
    println!("{:>4}  {:<20}  {:<16}  {:<10}  OUTCOME", "#", "STARTED", "REF", "SHA");
    for deploy in &deploys {
        let sha = deploy.sha.get(..10).unwrap_or(&deploy.sha);
        let outcome = match &deploy.outcome {
            DeployOutcome::Running => "running".to_owned(),
            DeployOutcome::Switched => "switched".to_owned(),
            DeployOutcome::RolledBack { reason } => format!("rolled back: {}", terminal::line(reason)),
            DeployOutcome::Interrupted => "interrupted".to_owned(),
        };
        println!(
            "{:>4}  {:<20}  {:<16}  {sha:<10}  {outcome}",
            deploy.id,
            deploy.started,
            terminal::line(&deploy.reference)
        );
    }
    Ok(())
}

/// Deploys `request` of `meta` on `hive`, which keeps the new instance once it switched; `served` says `hive`
/// is a `hive serve`'s. `Ok` holds the deploy as recorded, switched or rolled back; an error means no deploy
/// began (another one under way, a ref that resolves to nothing, the instance kept elsewhere) or its record could
/// not be written.
pub async fn deploy(
    hive: &Hive,
    manager: &EcosystemManager,
    meta: &RepoMeta,
    request: &DeployRequest,
    served: bool,
) -> anyhow::Result<DeployRecord> {
    let lock = manager.lock_deploys(meta)?;
    let current = live_record(manager, &meta.id)?;
    match &current {
        Some(record) if record.served && !served => bail!(
            "'{}' runs under `hive serve` (pid {}); deploy it there: `hive command \"ecosystem {} deploy\"`",
            meta.name,
            record.pid,
            meta.id
        ),
        Some(record) if !record.served && served => bail!(
            "'{}' runs under hive process {}; deploy it from there with `hive ecosystem {} deploy`, or stop it first",
            meta.name,
            record.pid,
            meta.id
        ),
        _ => {}
    }
    let resolved = manager.resolve_ref(meta, request.reference.as_deref()).await?;
    let old = current.as_ref().map(RunRecord::instance);
    let mut record = lock.begin(&resolved, old)?;
    let name = format!("{}-{}-{}", meta.name, meta.id, record.id);
    let started = start_new(hive, manager, meta, &lock, &mut record, &name, request).await.and_then(|run_record| {
        // Whatever runs now must still be what ran when the deploy began: a `start` in between is not replaced.
        let now = live_record(manager, &meta.id).map_err(|e| format!("{e:#}"))?;
        if now.as_ref().map(|r| (r.pid, &r.service)) == current.as_ref().map(|r| (r.pid, &r.service)) {
            Ok(RunRecord { served, ..run_record })
        } else {
            Err("another instance was started while the deploy ran; it was left alone".to_owned())
        }
    });
    let switched = match started {
        Ok(run_record) => switch(hive, manager, meta, current.as_ref(), &run_record)
            .await
            .map_err(|e| format!("could not switch to it: {e:#}")),
        Err(reason) => Err(reason),
    };
    match switched {
        Ok(()) => {
            record.finish(DeployOutcome::Switched);
            lock.record(&record)?;
            let previous = current.as_ref().and_then(|r| r.deploy);
            if let Err(err) = lock.prune_worktrees(record.id, previous).await {
                tracing::warn!(error = %hive_support::error_chain(&err), "could not remove old deploy worktrees");
            }
        }
        Err(reason) => {
            // The new instance goes; the old one was never touched.
            if hive.services().contains(&name) {
                let _ = hive.remove_service(&name).await;
            }
            record.finish(DeployOutcome::RolledBack { reason });
            lock.record(&record)?;
        }
    }
    Ok(record)
}

/// Builds the deploy's worktree and starts the new instance beside the old, ready and healthy, or says why not.
async fn start_new(
    hive: &Hive,
    manager: &EcosystemManager,
    meta: &RepoMeta,
    lock: &DeployLock,
    record: &mut DeployRecord,
    name: &str,
    request: &DeployRequest,
) -> Result<RunRecord, String> {
    let chain = |err: &(dyn std::error::Error + 'static)| hive_support::error_chain(err);
    let worktree = lock
        .add_worktree(record.id, &record.sha)
        .await
        .map_err(|e| format!("could not make the worktree: {}", chain(&e)))?;
    let mut new = DeployInstance {
        deploy: Some(record.id),
        service: name.to_owned(),
        supervisor: std::process::id(),
        pid: None,
        worktree: Some(worktree.clone()),
        port: None,
    };
    record.new = Some(new.clone());
    lock.record(record).map_err(|e| chain(&e))?;

    let built = run_task(&worktree, WaveTask::Build, BUILD_TIMEOUT).await;
    if !built.success {
        let exit = built.exit.map_or_else(|| "killed or not run".to_owned(), |c| format!("exit {c}"));
        return Err(format!("the build failed ({exit}): {}", tail(&built.output)));
    }
    let command = pick_command(&worktree, request.command.as_deref()).await.map_err(|e| format!("{e:#}"))?;
    let port = free_loopback_port().map_err(|e| format!("no free loopback port: {e}"))?;
    new.port = Some(port);
    record.new = Some(new.clone());
    let services_dir = manager.root().join("services");
    std::fs::create_dir_all(&services_dir)
        .map_err(|e| format!("could not create '{}': {e}", services_dir.display()))?;
    let log_file = services_dir.join(format!("{}-{}.log", meta.id, record.id));
    let spec = ServiceSpec::new(name, command.argv.clone(), &command.cwd)
        .env("PORT", port.to_string())
        .readiness(Readiness::Tcp { port })
        .log_file(&log_file);
    let patience = spec.readiness_timeout + spec.start_grace;
    hive.add_service(spec).await.map_err(|e| format!("could not start it: {}", chain(&e)))?;
    let pid = ready(hive, name, port, patience).await?;
    new.pid = Some(pid);
    record.new = Some(new);
    healthy(hive, name, pid, port, &request.health).await?;
    Ok(RunRecord {
        pid: std::process::id(),
        service: name.to_owned(),
        command: command.name,
        argv: command.argv,
        log_file,
        served: false,
        deploy: Some(record.id),
        sha: Some(record.sha.clone()),
        worktree: Some(worktree),
        port: Some(port),
        service_pid: Some(pid),
    })
}

/// The last lines of a command's output, on one line each joined by " | ".
fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(REASON_LINES);
    lines[start..].join(" | ")
}

/// Waits until the new instance is ready (listening on its port); its process id, or why it is not.
async fn ready(hive: &Hive, name: &str, port: u16, patience: Duration) -> Result<u32, String> {
    let deadline = Instant::now() + patience;
    let pid = loop {
        match hive.service_status(name).await {
            Ok(status) => {
                if let ServiceState::Error(message) = &status.state {
                    return Err(format!("it did not start: {message}"));
                }
                if status.restarts > 0 || matches!(status.state, ServiceState::Exited(_)) {
                    let exit = status.last_exit.map_or_else(|| "unknown exit".to_owned(), |e| e.to_string());
                    return Err(format!("it exited while starting ({exit})"));
                }
                if status.ready
                    && status.state == ServiceState::Running
                    && let Some(pid) = status.pid
                {
                    break pid;
                }
            }
            // The queen starts the keeper just after it was added.
            Err(HiveError::Service(KeeperError::NotRunning(_))) => {}
            Err(err) => return Err(hive_support::error_chain(&err)),
        }
        if Instant::now() > deadline {
            return Err(format!("it was not listening on 127.0.0.1:{port} within {patience:?}"));
        }
        // The keeper publishes no event per state, so its state is sampled until the deadline.
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    Ok(pid)
}

/// Checks the ready instance's health: a 2xx answer to `GET health`, from the process `pid` that became ready.
async fn healthy(hive: &Hive, name: &str, pid: u32, port: u16, health: &str) -> Result<(), String> {
    check_health(port, health, HealthPolicy::default()).await?;
    // The answer must have come from the process that became ready, not from one restarted in between.
    match hive.service_status(name).await {
        Ok(status) if status.pid == Some(pid) && status.state == ServiceState::Running => Ok(()),
        Ok(status) => Err(format!("it restarted during the health check ({})", status.state)),
        Err(err) => Err(hive_support::error_chain(&err)),
    }
}

/// Points the run record at the new instance, then stops the old one gracefully. An error means nothing was
/// switched; an old instance that does not stop is left to the operator, with a warning, since the new one serves.
async fn switch(
    hive: &Hive,
    manager: &EcosystemManager,
    meta: &RepoMeta,
    old: Option<&RunRecord>,
    new: &RunRecord,
) -> anyhow::Result<()> {
    write_record(manager, meta, new)?;
    let Some(old) = old else { return Ok(()) };
    if old.served {
        // Under `hive serve` the old member is this hive's: removing it stops its process and its keeper.
        if let Err(err) = hive.remove_service(&old.service).await {
            tracing::warn!(service = %old.service, error = %hive_support::error_chain(&err), "could not stop the old instance");
        }
        return Ok(());
    }
    if old.pid != std::process::id() {
        if let Err(err) = stop_supervisor(old.pid).await {
            tracing::warn!(error = format!("{err:#}"), "the new instance runs, but the old one did not stop");
        }
        // The old process forgets only a record of its own; if it read ours as its own in the instant before it
        // was replaced, the record is written again.
        let ours =
            live_record(manager, &meta.id).ok().flatten().is_some_and(|r| r.pid == new.pid && r.service == new.service);
        if !ours && let Err(err) = write_record(manager, meta, new) {
            tracing::warn!(error = format!("{err:#}"), "could not write the run record again");
        }
    }
    Ok(())
}

fn write_record(manager: &EcosystemManager, meta: &RepoMeta, record: &RunRecord) -> anyhow::Result<()> {
    let path = record_path(manager, &meta.id);
    let dir: PathBuf = path.parent().map(Into::into).unwrap_or_default();
    std::fs::create_dir_all(&dir).with_context(|| format!("could not create '{}'", dir.display()))?;
    hive_support::write_atomic(&path, &serde_json::to_vec_pretty(record)?)
        .with_context(|| format!("could not write '{}'", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn deploy_words_parse_or_are_usage_errors() {
        assert_eq!(parse(&words("history")).unwrap(), DeployAction::History);
        assert_eq!(parse(&[]).unwrap(), DeployAction::Deploy(DeployRequest::default()));
        let request = DeployRequest {
            reference: Some("v1.2".to_owned()),
            command: Some("make:serve".to_owned()),
            health: "/healthz".to_owned(),
        };
        let parsed = parse(&words("--ref v1.2 --command make:serve --health=/healthz")).unwrap();
        assert_eq!(parsed, DeployAction::Deploy(request));
        for (bad, says) in [
            ("--ref --upload-pack=touch", "invalid ref '--upload-pack=touch'"),
            ("--ref -x", "invalid ref '-x'"),
            ("--ref ../x", "invalid ref '../x'"),
            ("--ref=a..b", "invalid ref 'a..b'"),
            ("--ref", "--ref needs a value"),
            ("--ref a --ref b", "--ref is given twice"),
            ("--health health", "invalid --health 'health'"),
            ("--state-dir /tmp", "'--state-dir' is not understood after `deploy`; give global flags before"),
            ("now", "'now' is not understood after `deploy`; expected"),
        ] {
            let err = parse(&words(bad)).unwrap_err();
            assert!(UsageError::is_usage(&err), "{bad}");
            assert!(err.to_string().starts_with(says), "{bad}: {err}");
        }
    }

    #[test]
    fn a_failed_build_keeps_its_last_lines() {
        let output = (1..=30).map(|n| format!("line {n}\n\n")).collect::<String>();
        let kept = tail(&output);
        assert!(kept.starts_with("line 11 | line 12"), "{kept}");
        assert!(kept.ends_with("line 30"), "{kept}");
    }
}
