//! `hive ecosystem <id> start|stop|status`: an imported repository's service, kept by a service keeper under the
//! queen ([`Hive::add_service`]); `deploy` (in `deploy.rs`) replaces it with a new version.
//!
//! A one-shot `hive` process owns the hive that keeps the service, so `start` runs in the foreground (like
//! `docker compose up`): it supervises the repository's run command until it is stopped. It records itself in
//! `<state_dir>/ecosystem/services/<id>.json`, which is how `status` and `stop` (and `remove`) from another shell
//! find it; `stop` sends that process SIGTERM, and it shuts the hive down gracefully, stopping the service.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use hive::{Hive, HiveError, SimForge, cerebrum::MemberState};
use hive_actors::{KeeperError, ServiceState};
use hive_ecosystem::{
    CommandKind, DiscoveredCommand, EcosystemManager, ImportId, RepoMeta, ServiceSpec, detect, discover_commands,
};
use nix::{sys::signal::Signal, unistd::Pid};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{config::EnvConfig, lifecycle::Shutdown};

mod deploy;

pub use self::deploy::{DeployRequest, deploy};

const USAGE: &str = "expected `hive ecosystem <id> start [--command NAME]|stop|status|deploy [--ref REF]|deploy history`, or one of import, list, show, remove, waves, mirror";

/// Run commands in order of preference, as command discovery names them.
const RUN_PREFERENCE: [&str; 12] = [
    "just:run",
    "just:serve",
    "just:start",
    "make:run",
    "make:serve",
    "make:start",
    "npm:start",
    "pnpm:start",
    "yarn:start",
    "npm:serve",
    "pnpm:serve",
    "yarn:serve",
];

/// How long `stop` waits for the supervising process to shut down: the service's stop timeout, and slack.
const STOP_PATIENCE: Duration = Duration::from_secs(30);

/// What a running `start` or a switched deploy records about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunRecord {
    /// The `hive` process supervising the service.
    pid: u32,
    /// The service's name under the queen.
    service: String,
    /// The discovered command it runs.
    command: String,
    /// Its program and arguments.
    argv: Vec<String>,
    /// Where its output goes.
    log_file: PathBuf,
    /// Whether a `hive serve` keeps it (started through its API): then `pid` is the server's, and stopping the
    /// service goes through the server, never a signal to it.
    #[serde(default)]
    served: bool,
    /// The deploy that started it; `None` for `start`, which runs the clone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deploy: Option<u64>,
    /// The deployed commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha: Option<String>,
    /// The deploy's worktree it runs from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    worktree: Option<PathBuf>,
    /// The loopback port it was told to listen on (`PORT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    /// The service's own process when the deploy switched to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    service_pid: Option<u32>,
}

impl RunRecord {
    /// The instance as a deploy's history keeps it.
    fn instance(&self) -> hive_ecosystem::DeployInstance {
        hive_ecosystem::DeployInstance {
            deploy: self.deploy,
            service: self.service.clone(),
            supervisor: self.pid,
            pid: self.service_pid,
            worktree: self.worktree.clone(),
            port: self.port,
        }
    }
}

/// A service ready to hand to a hive: its spec, and the record to write once it runs.
pub struct Prepared {
    /// What the keeper runs.
    pub spec: ServiceSpec,
    record: RunRecord,
}

/// The name a repository's service runs under in a hive.
pub fn service_name(meta: &RepoMeta) -> String {
    format!("{}-{}", meta.name, meta.id)
}

/// Picks the repository's run command (`wanted`, else the preferred one) and builds its service, refusing when a
/// `hive` process already runs it. `served` says a `hive serve` will keep it.
pub async fn prepare(
    manager: &EcosystemManager,
    meta: &RepoMeta,
    wanted: Option<&str>,
    served: bool,
) -> anyhow::Result<Prepared> {
    if let Some(record) = live_record(manager, &meta.id)? {
        bail!(
            "'{}' already runs under hive process {}; stop it with `hive ecosystem {} stop`",
            meta.name,
            record.pid,
            meta.id
        );
    }
    let dir = manager.repo_dir(&meta.id);
    let command = pick_command(&dir, wanted).await.with_context(|| format!("cannot start '{}'", meta.name))?;
    let services_dir = manager.root().join("services");
    std::fs::create_dir_all(&services_dir).with_context(|| format!("could not create '{}'", services_dir.display()))?;
    let log_file = services_dir.join(format!("{}.log", meta.id));
    let service = service_name(meta);
    let spec = ServiceSpec::new(&service, command.argv.clone(), &command.cwd).log_file(&log_file);
    let record = RunRecord {
        pid: std::process::id(),
        service,
        command: command.name,
        argv: command.argv,
        log_file,
        served,
        deploy: None,
        sha: None,
        worktree: None,
        port: None,
        service_pid: None,
    };
    Ok(Prepared { spec, record })
}

/// The name the repository's service runs under now: a deploy's, once one switched, else [`service_name`].
pub fn current_service(manager: &EcosystemManager, meta: &RepoMeta) -> String {
    live_record(manager, &meta.id).ok().flatten().map_or_else(|| service_name(meta), |record| record.service)
}

/// Records that this process runs the prepared service, so other `hive` processes find it; made before the
/// service starts, and refused when another process's record is there first (a record whose process is gone is
/// cleared and the claim made again). The record appears whole or not at all: written aside, then linked into
/// place, which fails when the name exists.
pub fn claim(manager: &EcosystemManager, meta: &RepoMeta, prepared: &Prepared) -> anyhow::Result<()> {
    let path = record_path(manager, &meta.id);
    let aside = path.with_extension(format!("json.{}.tmp", std::process::id()));
    std::fs::write(&aside, serde_json::to_vec_pretty(&prepared.record)?)
        .with_context(|| format!("could not write '{}'", aside.display()))?;
    let mut outcome = std::fs::hard_link(&aside, &path);
    if outcome.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::AlreadyExists)
        && live_record(manager, &meta.id)?.is_none()
    {
        outcome = std::fs::hard_link(&aside, &path);
    }
    let _ = std::fs::remove_file(&aside);
    match outcome {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let pid = live_record(manager, &meta.id)?.map_or_else(|| "?".to_owned(), |r| r.pid.to_string());
            bail!(
                "'{}' already runs under hive process {pid}; stop it with `hive ecosystem {} stop`",
                meta.name,
                meta.id
            )
        }
        Err(e) => Err(e).with_context(|| format!("could not write '{}'", path.display())),
    }
}

/// Forgets the record of a service this process ran; another process's record is left alone.
pub fn release(manager: &EcosystemManager, meta: &RepoMeta) {
    let path = record_path(manager, &meta.id);
    let ours = hive_support::read_bounded(&path, 1 << 20)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<RunRecord>(&bytes).ok())
        .is_some_and(|record| record.pid == std::process::id());
    if ours {
        let _ = std::fs::remove_file(&path);
    }
}

pub async fn run(
    manager: &EcosystemManager,
    words: &[String],
    _env: &EnvConfig,
    _state_dir: &Path,
    json: bool,
) -> anyhow::Result<()> {
    // clap hands an external subcommand everything after it verbatim, global flags included.
    let json = json || words.iter().any(|w| w == "--json");
    let words: Vec<String> = words.iter().filter(|w| *w != "--json").cloned().collect();
    if let [id, action, rest @ ..] = words.as_slice()
        && action == "deploy"
    {
        // Parsed before anything is read or run, so a hostile ref is refused as a usage error.
        let parsed = deploy::parse(rest)?;
        if ImportId::parse(id).is_err() {
            bail!("unknown ecosystem command '{}'; {USAGE}", id.escape_debug());
        }
        return deploy::run(manager, &manager.show(id)?, parsed, json).await;
    }
    // clap hands global flags given after `<id>` over unparsed: taken for words, `--state-dir` would be ignored and
    // the default state directory used without a word.
    if let Some(flag) = words.iter().find(|w| w.starts_with('-') && *w != "--command") {
        bail!(
            "'{}' is not understood after `ecosystem <id>`; give global flags before the subcommand, such as \
             `hive --state-dir DIR ecosystem <id> status`",
            flag.escape_debug()
        );
    }
    let Some((id, rest)) = words.split_first() else { bail!("missing ecosystem command; {USAGE}") };
    if ImportId::parse(id).is_err() {
        bail!("unknown ecosystem command '{}'; {USAGE}", id.escape_debug());
    }
    let meta = manager.show(id)?;
    match rest {
        [action] if action == "start" => start(manager, &meta, None, json).await,
        [action, flag, name] if action == "start" && flag == "--command" => {
            start(manager, &meta, Some(name), json).await
        }
        [action] if action == "stop" => stop(manager, &meta, json).await,
        [action] if action == "status" => status(manager, &meta, json),
        _ => bail!("unknown service command '{}' for '{}'; {USAGE}", rest.join(" ").escape_debug(), meta.name),
    }
}

fn record_path(manager: &EcosystemManager, id: &ImportId) -> PathBuf {
    manager.root().join("services").join(format!("{id}.json"))
}

/// The record of a live `start` for this repository; a record whose process is gone is deleted.
fn live_record(manager: &EcosystemManager, id: &ImportId) -> anyhow::Result<Option<RunRecord>> {
    let path = record_path(manager, id);
    // A record is a few hundred bytes; the bound keeps a stray device or FIFO there harmless.
    let bytes = match hive_support::read_bounded(&path, 1 << 20) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("could not read '{}'", path.display())),
    };
    let record: RunRecord = serde_json::from_slice(&bytes).with_context(|| {
        format!("corrupted service record '{}'; delete it if no `hive ecosystem {id} start` runs", path.display())
    })?;
    if alive(record.pid) {
        Ok(Some(record))
    } else {
        let _ = std::fs::remove_file(&path);
        Ok(None)
    }
}

fn alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else { return false };
    // Signal 0 only checks that the process exists; EPERM means it exists but is not ours.
    if matches!(nix::sys::signal::kill(Pid::from_raw(raw), None), Err(nix::errno::Errno::ESRCH)) {
        return false;
    }
    // A process that has exited but was not reaped yet (a zombie) still takes signal 0; on Linux its state says
    // so. Its parent may be the very shell or test waiting for `stop` to return.
    hive_support::ProcStat::of(raw).is_none_or(|stat| !stat.is_dead())
}

async fn pick_command(dir: &Path, wanted: Option<&str>) -> anyhow::Result<DiscoveredCommand> {
    let owned = dir.to_path_buf();
    let detection = tokio::task::spawn_blocking(move || detect(&owned)).await??;
    let commands = discover_commands(dir, &detection).await;
    let available = || commands.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
    let picked = match wanted {
        Some(name) => commands.iter().find(|c| c.name == name),
        None => RUN_PREFERENCE
            .iter()
            .find_map(|name| commands.iter().find(|c| c.name == *name))
            .or_else(|| commands.iter().find(|c| c.kind == CommandKind::Run && !c.name.starts_with("docker:"))),
    };
    match (picked, wanted) {
        (Some(command), _) => Ok(command.clone()),
        (None, Some(name)) => bail!("unknown command '{}'; available: {}", name.escape_debug(), available()),
        (None, None) => bail!("no run command found; pick one with `--command NAME` from: {}", available()),
    }
}

async fn start(manager: &EcosystemManager, meta: &RepoMeta, wanted: Option<&str>, json: bool) -> anyhow::Result<()> {
    // Listening before the service starts, so a signal during start-up stops it too.
    let shutdown = Shutdown::listen()?;
    let prepared = prepare(manager, meta, wanted, false).await?;
    claim(manager, meta, &prepared)?;
    // No pilots: this hive only keeps the repository's service, so its forge has no repositories to watch.
    let started = Hive::builder()
        .forge(SimForge::new(Vec::new()))
        .repos(Vec::<String>::new())
        .service(prepared.spec.clone())
        .start()
        .await;
    let hive = match started {
        Ok(hive) => hive,
        Err(err) => {
            release(manager, meta);
            return Err(err.into());
        }
    };
    let outcome = supervise(&hive, &prepared.record, json, &shutdown).await;
    release(manager, meta);
    hive.shutdown().await?;
    outcome
}

/// Reports state changes until a signal (SIGINT, SIGTERM, SIGHUP), or until the keeper gives up on the service.
async fn supervise(hive: &Hive, record: &RunRecord, json: bool, shutdown: &Shutdown) -> anyhow::Result<()> {
    let service = record.service.as_str();
    // The keeper publishes no per-state event the CLI could wait on, so the state is sampled; the tick only paces
    // the report, nothing waits on it for correctness.
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut last: Option<ServiceState> = None;
    if !json {
        println!("supervising {} ({}) as hive process {}; stop with Ctrl-C", service, record.command, record.pid);
        println!("  output: {}", record.log_file.display());
    }
    loop {
        tokio::select! {
            () = shutdown.requested() => return Ok(()),
            _ = tick.tick() => {}
        }
        let status = match hive.service_status(service).await {
            Ok(status) => status,
            // No keeper to ask: the queen starts it just after the hive, restarts it after a failure and resumes it
            // after an escalation, so the next tick asks again; unless the queen stopped it for good.
            Err(HiveError::Service(KeeperError::NotRunning(_))) => {
                if hive.status().await?.member(service).is_some_and(|m| m.state == MemberState::Stopped) {
                    bail!("the keeper of service '{service}' stopped and is not restarted; see the log (-v) for why");
                }
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        if last.as_ref() != Some(&status.state) {
            if json {
                println!(
                    "{}",
                    json!({"service": service, "state": status.state, "pid": status.pid, "restarts": status.restarts})
                );
            } else {
                let pid = status.pid.map_or_else(|| "-".to_owned(), |p| p.to_string());
                println!("  {service}: {} (pid {pid}, {} restarts)", status.state, status.restarts);
            }
            last = Some(status.state.clone());
        }
        match &status.state {
            ServiceState::Error(message) => bail!("service '{service}' gave up: {message}"),
            ServiceState::Exited(exit) if exit.success() => return Ok(()),
            ServiceState::Exited(exit) => bail!("service '{service}' exited ({exit})"),
            _ => {}
        }
    }
}

async fn stop(manager: &EcosystemManager, meta: &RepoMeta, json: bool) -> anyhow::Result<()> {
    let stopped = stop_record(manager, &meta.id).await?;
    if json {
        println!("{}", json!({"id": meta.id, "name": meta.name, "was_running": stopped.is_some()}));
    } else if let Some(record) = stopped {
        println!("stopped '{}' (hive process {})", meta.name, record.pid);
    } else {
        println!("'{}' is not running", meta.name);
    }
    Ok(())
}

/// Asks the supervising process to shut down and waits until it has; `None` if nothing ran.
async fn stop_record(manager: &EcosystemManager, id: &ImportId) -> anyhow::Result<Option<RunRecord>> {
    let Some(record) = live_record(manager, id)? else { return Ok(None) };
    if record.served {
        bail!("it runs under `hive serve` (pid {}); stop it there: `hive command \"ecosystem {id} stop\"`", record.pid);
    }
    stop_supervisor(record.pid).await?;
    Ok(Some(record))
}

/// Sends SIGTERM to the `hive` process keeping a service and waits until it has shut down (stopping its service
/// gracefully); a process already gone is no error.
async fn stop_supervisor(pid: u32) -> anyhow::Result<()> {
    let raw = i32::try_from(pid).context("invalid pid in the service record")?;
    match nix::sys::signal::kill(Pid::from_raw(raw), Signal::SIGTERM) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(err) => return Err(err).with_context(|| format!("could not signal hive process {pid}")),
    }
    let deadline = Instant::now() + STOP_PATIENCE;
    while alive(pid) {
        if Instant::now() > deadline {
            bail!("hive process {pid} did not stop within {STOP_PATIENCE:?}; it may be stuck, check it with `ps`");
        }
        // Another process's exit cannot be awaited, only observed.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

fn status(manager: &EcosystemManager, meta: &RepoMeta, json: bool) -> anyhow::Result<()> {
    let record = live_record(manager, &meta.id)?;
    if json {
        println!("{}", json!({"id": meta.id, "name": meta.name, "running": record.is_some(), "supervisor": record}));
        return Ok(());
    }
    match record {
        Some(record) => {
            println!("'{}' runs {} under hive process {}", meta.name, record.command, record.pid);
            println!("  output: {}", record.log_file.display());
        }
        None => println!("'{}' is not running; start it with `hive ecosystem {} start`", meta.name, meta.id),
    }
    Ok(())
}

/// Stops a repository's service before it is removed (the hook of [`EcosystemManager::remove_with`]).
pub async fn stop_services_of(manager: EcosystemManager, meta: RepoMeta) -> Result<(), String> {
    stop_record(&manager, &meta.id).await.map(|_| ()).map_err(|e| format!("could not stop its service: {e:#}"))
}
