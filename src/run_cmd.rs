//! `hive run`: watch a fleet until stopped (or for one cycle with `--once`): GitHub repositories (`--org`,
//! `--user`, `--repo`, through the GitHub forge and its shared rate-limit budget) or a local workspace of git
//! repositories (`--workspace DIR`).

use std::{
    io::Write,
    net::SocketAddr,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use anyhow::{Context, bail};
use hive::{
    CycleRecord, Hive, HiveBuilder, HiveEvent, HiveStatus, RepoId,
    actors::{Autonomy, AutonomyReport, STEWARD_ID},
    cerebrum::{Backoff, CycleKind, MemberKind, MemberState, Memory, QueenConfig},
    forge::{Forge, GitHubForges, LOCAL_OWNER, LocalForge},
    spawner::{
        llm::{LlmClient, LlmConfig, LlmEngine},
        tools::ToolsConfig,
    },
};
use serde::Serialize;

use crate::{
    api::Api,
    cli::{FailOn, RunArgs, ServeArgs},
    cluster::ClusterPlan,
    config::{AgentsEnv, EnvConfig, OrUsage},
    lifecycle::Shutdown,
    resolve::{GitHubPlan, RunPlan, RunTarget},
    settings::{FileOnly, LlmChoice},
};

/// One repository in a cycle's output.
#[derive(Debug, Serialize)]
pub(crate) struct RepoLine {
    pub(crate) repo: RepoId,
    /// `None` when the pilot has not reported (it failed, or is restarting).
    pub(crate) score: Option<u8>,
    pub(crate) healthy: Option<bool>,
    /// The CI verdict: `passing`, `failing` or `unknown`.
    pub(crate) ci: Option<String>,
    pub(crate) findings: Vec<String>,
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
    /// What the autonomy loop did this cycle.
    #[serde(skip_serializing_if = "Option::is_none")]
    autonomy: Option<&'a AutonomyReport>,
}

pub async fn run(
    args: &RunArgs,
    env: &EnvConfig,
    state_dir: &Path,
    json: bool,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    run_with(args, env, state_dir, json, shutdown, None, None).await
}

/// `hive serve`: `hive run` until stopped, with the HTTP API on `args.bind`.
pub async fn serve(
    args: &ServeArgs,
    env: &EnvConfig,
    state_dir: &Path,
    json: bool,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    if args.run.once {
        return Err(anyhow::anyhow!("`hive serve` runs until stopped; for one cycle use `hive run --once`")).or_usage();
    }
    let cluster = crate::cluster::ClusterPlan::resolve(&args.cluster)?;
    let token = args.token.as_ref().map(|token| token.expose().to_owned());
    run_with(&args.run, env, state_dir, json, shutdown, Some((args.bind, token)), cluster).await
}

#[allow(clippy::too_many_arguments)]
async fn run_with(
    args: &RunArgs,
    env: &EnvConfig,
    state_dir: &Path,
    json: bool,
    shutdown: &Shutdown,
    bind: Option<(SocketAddr, Option<String>)>,
    cluster: Option<ClusterPlan>,
) -> anyhow::Result<()> {
    // Everything is resolved and checked before the first read: a bad flag is exit 2 with nothing sent.
    // A continuous sync writes to every repository it names, whichever node holds them: it is not fenced by the
    // leases, so two nodes would push the same change set.
    if let (Some(_), Some(sync)) = (&cluster, args.file.syncs.iter().find(|s| s.continuous)) {
        return Err(anyhow::anyhow!(
            "--cluster does not run continuous syncs yet: '[[sync]] {}' has continuous = true; set it to false and \
             push it with `hive sync push` from one place, or serve without --cluster",
            sync.name
        ))
        .or_usage();
    }
    let plan = RunPlan::resolve(args, env, state_dir, |key| std::env::var(key).ok())?;
    if let (Some(_), RunTarget::Workspace { dir, .. }) = (&cluster, &plan.target) {
        return Err(anyhow::anyhow!(
            "--cluster shares a GitHub fleet between nodes; the workspace '{}' is one machine's, watch it without --cluster",
            dir.display()
        ))
        .or_usage();
    }
    let engine = match llm_engine(args.file.llm.as_ref())? {
        Some(engine) => Some((engine, tools_config(env, state_dir)?)),
        None => None,
    };
    let file = &args.file;
    // The database next: a damaged one stops the run before any repository is read or GitHub asked anything. The
    // hive opens it again for the steward once the fleet is known.
    drop(Memory::open(state_dir)?);
    // Raised by a webhook delivery about the fleet itself, for the watch to discover it now.
    let discover_now = Arc::new(AtomicBool::new(false));
    // Then the API's address, before any repository is read: a taken port fails at once.
    let api = match bind {
        Some((addr, token)) => {
            let webhook = env.webhook_secret.as_ref().map(|secret| secret.expose().to_owned());
            let api = Api::bind(addr, token)
                .await?
                .with_state_dir(state_dir)
                .with_webhook_secret(webhook)
                .with_discover_now(Arc::clone(&discover_now));
            let line = format!("hive serve: listening on http://{}", api.local_addr()?);
            if json {
                eprintln!("{line}")
            } else {
                println!("{line}")
            }
            Some(api)
        }
        None => None,
    };
    let every =
        if plan.once { "one cycle".to_owned() } else { format!("a cycle every {:?}, Ctrl-C to stop", plan.interval) };
    let RunPlan { target, once, queen, .. } = plan;
    let (dir, cache_dir, test_timeout, cache, test_commands, autonomy) = match target {
        RunTarget::GitHub(github) => {
            let once = once.then_some(args.fail_on.as_slice());
            let agents = &env.agents;
            let watch = Watch { once, json, discover_now };
            return run_github(*github, queen, engine, file, agents, &watch, &every, shutdown, api, cluster).await;
        }
        RunTarget::Workspace { dir, cache_dir, test_timeout, cache, test_commands, autonomy } => {
            (dir, cache_dir, test_timeout, cache, test_commands, autonomy)
        }
    };
    let forge = Arc::new(local_forge(&dir, &cache_dir, test_timeout, cache, test_commands)?);
    let Some(repos) = shutdown.run_until(forge.discover()).await else { return Ok(()) };
    let repos = repos?;
    if repos.is_empty() {
        bail!(
            "no git repositories in workspace '{}'; each subdirectory to watch must be a git repository (`git init`)",
            dir.display()
        );
    }
    // The loop keeps findings in the backlog and publishes formatter fixes as branches: a workspace has no issues.
    let agents = env.agents.settings(&autonomy.state_dir, LOCAL_OWNER);
    let hive = configured(Hive::builder(), engine, file)
        .repos(repos.iter().map(RepoId::to_string))
        .queen_config(queen)
        .autonomy(Autonomy::new(forge.clone(), *autonomy))
        .agents(agents)
        .start()
        .await?;
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
    let watching = Watch { once: once.then_some(args.fail_on.as_slice()), json, discover_now };
    let watched = watch(&hive, &mut events, None, repos, &watching, None);
    // A signal drops the watch (and the API) wherever it waits; the hive then stops as after a last cycle.
    let watched = alongside(watched, api, &hive, shutdown).await;
    hive.shutdown().await?;
    watched
}

/// The offline forge over a workspace, with local CI cached in `cache_dir` unless `cache` is off.
/// The language model the ORCHs think with, when the configuration names one; a bad one is a usage error, found
/// before anything is read.
fn llm_engine(choice: Option<&LlmChoice>) -> anyhow::Result<Option<LlmEngine>> {
    let Some(choice) = choice else { return Ok(None) };
    let mut config = LlmConfig::new(&choice.endpoint, &choice.model);
    if let Some(key) = &choice.api_key {
        config = config.api_key(key.expose());
    }
    Ok(Some(LlmEngine::new(LlmClient::new(config).or_usage()?)))
}

/// The agents' tools: the terminal confined to `<state_dir>/work`, programs found on this process's `PATH`, the
/// configured secrets redacted from their output, mocks when `SIMULATED_TOOLS_MOCK` says so.
fn tools_config(env: &EnvConfig, state_dir: &Path) -> anyhow::Result<ToolsConfig> {
    let work = state_dir.join("work");
    std::fs::create_dir_all(&work)
        .with_context(|| format!("cannot create the agents' working directory '{}'", work.display()))?;
    let path = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default();
    let mut tools = ToolsConfig::new(work).mock(env.tools_mock);
    if !path.is_empty() {
        tools = tools.search_path(path);
    }
    tools.secrets = crate::terminal::secrets();
    Ok(tools)
}

/// The builder with the configured language model (and its tools) and services.
/// The builder with the language model, the services and the `[[sync]]` declarations the file configures.
fn configured(builder: HiveBuilder, engine: Option<(LlmEngine, ToolsConfig)>, file: &FileOnly) -> HiveBuilder {
    let builder = match engine {
        Some((engine, tools)) => builder.llm_engine(engine, tools),
        None => builder,
    };
    file.services.iter().cloned().fold(builder, HiveBuilder::service).syncs(file.syncs.clone())
}

pub(crate) fn local_forge(
    dir: &Path,
    cache_dir: &Path,
    test_timeout: Duration,
    cache: bool,
    test_commands: crate::settings::TestCommands,
) -> anyhow::Result<LocalForge> {
    let forge = LocalForge::new(dir)?.with_cache_dir(cache_dir).with_cache(cache).with_test_timeout(test_timeout);
    // A repository's own command takes precedence over its organisation's, which the forge runs for the rest.
    let forge = match test_commands.org {
        Some(argv) => forge.with_default_test_command(argv),
        None => forge,
    };
    Ok(test_commands.repos.into_iter().fold(forge, |forge, (name, argv)| forge.with_test_command(name, argv)))
}

/// The watch until a signal drops it, with the API served beside it when there is one; whichever ends first ends
/// both. The API then stops gracefully (its event streams end, the requests under way are answered), before the
/// caller stops the hive.
async fn alongside(
    watched: impl std::future::Future<Output = anyhow::Result<()>>,
    api: Option<Api>,
    hive: &Hive,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let Some(api) = api else { return shutdown.run_until(watched).await.unwrap_or(Ok(())) };
    let stop = tokio_util::sync::CancellationToken::new();
    let served = api.serve_until(hive.clone(), stop.clone().cancelled_owned());
    tokio::pin!(served);
    let watched = tokio::select! {
        watched = shutdown.run_until(watched) => watched.unwrap_or(Ok(())),
        served = &mut served => return served,
    };
    stop.cancel();
    served.await?;
    watched
}

/// `hive run --org/--user/--repo`: the GitHub forge, one pilot per discovered repository, re-discovery after every
/// cycle (free while nothing changed, thanks to conditional requests).
#[allow(clippy::too_many_arguments)]
async fn run_github(
    github: GitHubPlan,
    queen: QueenConfig,
    engine: Option<(LlmEngine, ToolsConfig)>,
    file: &FileOnly,
    agents: &AgentsEnv,
    watching: &Watch<'_>,
    every: &str,
    shutdown: &Shutdown,
    api: Option<Api>,
    cluster: Option<ClusterPlan>,
) -> anyhow::Result<()> {
    let (once, json) = (watching.once, watching.json);
    let GitHubPlan { forge, autonomy, budgets } = github;
    let forge = Arc::new(forge);
    let repos = match discover(forge.as_ref(), once.is_some(), shutdown).await {
        Some(repos) => repos?,
        None => return Ok(()),
    };
    // In a cluster the node starts with no pilot: each comes with the lease of its repository, and every write is
    // fenced by that lease.
    let alert_repo = autonomy.alert_repo.clone();
    let mut autonomy = Autonomy::new(forge.clone(), autonomy);
    let (mut node, watched_repos) = match cluster {
        Some(plan) => {
            let Some(joined) = shutdown.run_until(plan.join(&repos, alert_repo.as_ref())).await else { return Ok(()) };
            let (node, fence) = joined?;
            autonomy = autonomy.fence(fence);
            // Each credential's own budget, shared with the nodes using that credential. A node that cannot share
            // one stops rather than run on with a warning: it would spend points the other nodes count on having,
            // and their refused requests would be the first sign of it. Its NATS just answered the join, so this is
            // a bucket it may not make (a stream that claims its subjects, the account's storage spent): an
            // operator's to fix. The hive has not started yet; the node's coordinator and election have, and stop
            // as at any shutdown: its leases and the leader's key released, its connection closed. Under the
            // signal's watch, as the join was.
            for (budget, token) in &budgets {
                let shared = shutdown.run_until(node.share_budget(budget, token)).await;
                if !matches!(shared, Some(Ok(()))) {
                    node.stop().await;
                    return match shared {
                        Some(Err(err)) => Err(err.context("this node cannot share its GitHub token's rate budget")),
                        _ => Ok(()),
                    };
                }
            }
            (Some(node), Vec::new())
        }
        None => (None, repos.clone()),
    };
    // The loop's proposals come from the queen's ORCHs, as every other proposal does.
    // Agents made by command get their repositories where the first target lives.
    let agents = agents.settings(autonomy.state_dir(), forge.first_owner().unwrap_or_default());
    // A node's queen sees only its share: the fleet's triggers are evaluated by the leader, over the whole fleet.
    let fleet_emergency = queen.emergency.clone();
    let cadence = crate::cluster::Cadence {
        every: queen.cycle_interval.unwrap_or(queen.emergency_cycle_interval),
        in_emergency: queen.emergency_cycle_interval,
        settle: Duration::ZERO,
    };
    let mut queen = queen;
    if node.is_some() {
        queen.emergency = crate::cluster::share_only(&queen.emergency);
    }
    let hive = configured(Hive::builder(), engine, file)
        .repos(watched_repos.iter().map(RepoId::to_string))
        .queen_config(queen)
        .autonomy(autonomy)
        .agents(agents)
        .start()
        .await?;
    // In a cluster the API shows the whole fleet (what the other nodes publish, with their names), and the fleet's
    // emergency is the leader's to decide.
    // Under the signal's watch, as the join was: a node whose NATS does not answer stops at once.
    let shared = match node.as_mut() {
        Some(node) => Some(shutdown.run_until(node.share(&hive, &fleet_emergency, cadence)).await),
        None => None,
    };
    let api = match shared {
        None => api,
        Some(Some(Ok(view))) => api.map(|api| api.with_fleet_view(view)),
        // The hive runs already: stopped as after a last cycle, the node's leases released.
        Some(failed) => {
            let stopped = stop(&hive, node).await;
            return match failed {
                Some(Err(err)) => Err(err),
                _ => stopped,
            };
        }
    };
    let mut events = hive.subscribe();
    if !json {
        match &node {
            Some(node) => {
                println!("hive run: node '{}' shares {} GitHub repositories, {every}", node.name(), repos.len())
            }
            None => println!("hive run: {} GitHub repositories, {every}", repos.len()),
        }
    }
    hive.start_cycle()?;
    let watched = watch(&hive, &mut events, Some(forge.as_ref()), watched_repos, watching, node.as_mut());
    // Dropping the watch is safe wherever it waits; the steward, told the hive is stopping, starts no new write, and
    // each write it made was reserved in the database before it was sent, so the next start finds it again.
    let watched = alongside(watched, api, &hive, shutdown).await;
    stop(&hive, node).await.and(watched)
}

/// Stops the hive, and the node after it whatever the hive's shutdown says. The node stops leading first, so that
/// another leads the fleet's emergency while this hive winds down; its leases are released only once the hive has
/// stopped writing, so the next holder never overlaps this node.
async fn stop(hive: &Hive, node: Option<crate::cluster::Node>) -> anyhow::Result<()> {
    let Some(mut node) = node else { return Ok(hive.shutdown().await?) };
    node.stop_leading().await;
    let stopped = hive.shutdown().await;
    node.stop().await;
    Ok(stopped?)
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
/// signal. A cycle is printed when the steward finished acting on it (its record then counts the fixes attempted).
/// With `github`, the fleet is discovered again after each cycle: new repositories get a pilot, gone or archived ones
/// lose theirs, and the points each cycle cost are shown. With `once` (what to fail on, for `--fail-on`), a cycle in
/// which no repository could be read is an error, and one that found what `--fail-on` names is findings (exit 3).
/// How a run watches its hive: once (with what fails it) or on, as JSON or text, and the flag asking it to discover
/// the fleet now.
struct Watch<'a> {
    once: Option<&'a [FailOn]>,
    json: bool,
    discover_now: Arc<AtomicBool>,
}

async fn watch(
    hive: &Hive,
    events: &mut hive::Subscription,
    github: Option<&GitHubForges>,
    mut repos: Vec<RepoId>,
    watching: &Watch<'_>,
    mut cluster: Option<&mut crate::cluster::Node>,
) -> anyhow::Result<()> {
    let (once, json) = (watching.once, watching.json);
    let fail_on = once;
    let once = once.is_some();
    let mut points_before = github.map(GitHubForges::points_spent);
    // Why a pilot failed, for the one error `--once` gives when nothing could be read.
    let mut first_failure: Option<String> = None;
    // The last cycle printed. What the steward finished is read from its link, not only from its event, which the
    // bus may drop for a slow reader; the event (or a second's quiet) is only the moment to look.
    let mut printed: u64 = 0;
    let mut progress = crate::terminal::CycleProgress::new(!json);
    loop {
        // A change of what this node holds is acted on first and at once: a repository lost must stop being
        // maintained before its lease's margin runs out.
        let received = tokio::select! {
            biased;
            change = crate::cluster::next(cluster.as_deref_mut()) => {
                crate::cluster::apply(hive, &mut repos, change).await;
                continue;
            }
            received = tokio::time::timeout(Duration::from_secs(1), events.recv()) => received,
        };
        let envelope = match received {
            Ok(envelope) => Some(envelope.context("the hive stopped unexpectedly")?),
            Err(_elapsed) => None,
        };
        if let Some(envelope) = &envelope {
            progress.follow(&envelope.event, repos.len());
        }
        // A webhook delivery about the fleet itself: discover it now (within a second), not after the next cycle.
        if let Some(github) = github
            && watching.discover_now.swap(false, Ordering::SeqCst)
        {
            match github.discover().await {
                Ok(found) => repos = rediscovered(hive, cluster.as_deref(), repos, found).await,
                Err(err) => tracing::warn!("discovery asked for by a webhook delivery failed: {err:#}"),
            }
        }
        let mut finished: Option<(CycleRecord, Option<AutonomyReport>)> = None;
        match envelope.as_ref().map(|e| &*e.event) {
            Some(HiveEvent::MemberFailed { member, error }) if member.as_str() == STEWARD_ID => {
                // The queen restarts the steward; the cycle it was in is not finished.
                let error = crate::terminal::line(error);
                if once {
                    bail!("the autonomy loop failed: {error}");
                }
                progress.suspend(|| eprintln!("  ! the autonomy loop failed and is restarted: {error}"));
            }
            Some(HiveEvent::MemberFailed { error: why, .. } | HiveEvent::HealthUnknown { reason: why, .. }) => {
                first_failure.get_or_insert_with(|| crate::terminal::line(why));
            }
            Some(HiveEvent::CycleCompleted { record }) => {
                let status = hive.status().await.context("the hive stopped unexpectedly")?;
                if once && pilots(&status).all(|m| m.score.is_none()) {
                    print_cycle(record, None, &lines(&status, &repos), None, json)?;
                    let why = first_failure.unwrap_or_else(|| "no pilot reported a snapshot".to_owned());
                    bail!("no repository could be read: {why}");
                }
                // The steward acts on the cycle and its record follows; a steward that is not running (restarting,
                // escalated) will not, so the queen's record is printed alone.
                let acting = status.member(STEWARD_ID).is_some_and(|m| m.state == MemberState::Running);
                if !acting && record.orchestration_cycle > printed {
                    finished = Some((record.clone(), None));
                }
            }
            Some(HiveEvent::EmergencyDeclared { reasons }) if !json => {
                let reasons: Vec<String> = reasons.iter().map(ToString::to_string).collect();
                progress.suspend(|| println!("  !! EMERGENCY declared: {}", reasons.join("; ")));
            }
            Some(HiveEvent::SourceUnreachable { outage }) if !json => {
                progress.suspend(|| println!("  ~ {outage}; retrying"));
            }
            Some(HiveEvent::SourceReachable { source, after }) if !json => {
                progress.suspend(|| println!("  ~ {source} reachable again after {}s", after.as_secs()));
            }
            Some(HiveEvent::MemberEscalated { member, restarts, .. }) if !json => {
                progress
                    .suspend(|| println!("  ! {member} escalated after {restarts} restarts; see the log (-v) for why"));
            }
            _ => {}
        }
        if finished.is_none()
            && let Some((record, report)) = hive.steward().and_then(|s| s.last_cycle())
            && record.orchestration_cycle > printed
        {
            finished = Some((record, Some(report)));
        }
        let Some((record, report)) = finished else { continue };
        printed = record.orchestration_cycle;
        let status = hive.status().await.context("the hive stopped unexpectedly")?;
        let mut lines = lines(&status, &repos);
        // Job and step names come from the repositories: no secrets, no terminal control sequences.
        for finding in lines.iter_mut().flat_map(|line| line.findings.iter_mut()) {
            *finding = crate::terminal::line(finding);
        }
        let points_now = github.map(GitHubForges::points_spent);
        let points = points_now.zip(points_before).map(|(now, before)| now - before);
        points_before = points_now;
        progress.suspend(|| print_cycle(&record, points, &lines, report.as_ref(), json))?;
        // Continuous syncs go after the cycle the steward acted on, through the same governed change sets.
        for (name, pushed) in hive.push_continuous("hive").await {
            match pushed {
                Ok(push) => {
                    if let Some(change) = push.change.filter(|_| !json) {
                        let repos = change.changed().count();
                        progress.suspend(|| {
                            println!(
                                "  sync {name}: change {} {} in {repos} repositories",
                                change.id,
                                change.state.as_str()
                            )
                        });
                    }
                }
                Err(err) => {
                    let err = crate::terminal::line(&hive_support::error_chain(&err));
                    progress.suspend(|| eprintln!("  ! sync {name} could not be pushed: {err}"));
                }
            }
        }
        if let Some(fail_on) = fail_on {
            let causes = if status.emergency { status.emergency_reasons.as_slice() } else { &[] };
            return crate::scan_cmd::verdicts(&lines, Some(causes)).check(fail_on);
        }
        if let Some(github) = github {
            match github.discover().await {
                Ok(found) => repos = rediscovered(hive, cluster.as_deref(), repos, found).await,
                // A failed discovery keeps the fleet as it is; the next cycle tries again.
                Err(err) => tracing::warn!("re-discovery failed: {err:#}"),
            }
        }
    }
}

/// The pilots among the hive's members.
pub(crate) fn pilots(status: &HiveStatus) -> impl Iterator<Item = &hive::cerebrum::MemberStatus> {
    status.members.iter().filter(|m| m.kind == MemberKind::Pilot)
}

/// One line per watched repository, from the queen's status (the latest report of each pilot).
pub(crate) fn lines(status: &HiveStatus, repos: &[RepoId]) -> Vec<RepoLine> {
    repos
        .iter()
        .map(|repo| {
            let member = status.member(repo.as_str()).filter(|m| m.score.is_some());
            match member {
                Some(m) => RepoLine {
                    repo: repo.clone(),
                    score: m.score,
                    healthy: m.healthy,
                    ci: m.facts.get("ci").cloned(),
                    findings: m.findings.clone(),
                },
                None => RepoLine {
                    repo: repo.clone(),
                    score: None,
                    healthy: None,
                    ci: None,
                    findings: vec!["no report yet".to_owned()],
                },
            }
        })
        .collect()
}

/// A fleet discovered again: alone, the pilots follow it at once ([`refleet`]); in a cluster it is shared out
/// anew, and the pilots follow what this node gains and loses. Returns what this node watches now.
async fn rediscovered(
    hive: &Hive,
    cluster: Option<&crate::cluster::Node>,
    current: Vec<RepoId>,
    found: Vec<RepoId>,
) -> Vec<RepoId> {
    match cluster {
        Some(node) => {
            node.set_fleet(&found);
            current
        }
        None => refleet(hive, current, found).await,
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

pub(crate) fn print_cycle(
    record: &CycleRecord,
    points_spent: Option<u64>,
    lines: &[RepoLine],
    autonomy: Option<&AutonomyReport>,
    json: bool,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer(&mut out, &RunRecord { record, points_spent, repositories: lines, autonomy })?;
        writeln!(out)?;
        return Ok(out.flush()?);
    }
    // A quiet or refresh cycle read few repositories (or none): its header says so, and the fleet's lines wait for
    // the next full cycle.
    let kind = match record.kind {
        CycleKind::Full => String::new(),
        kind => format!(" ({})", kind.as_str()),
    };
    writeln!(
        out,
        "cycle {}{kind}  {}/{} healthy  {}  score {:.1}  signals {}",
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
    let lines = if record.kind == CycleKind::Full { lines } else { &[] };
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
            ("would do", &report.would_do),
            ("limit reached", &report.limits_hit),
            ("awaiting approval", &report.awaiting_approval),
            ("error", &report.errors),
        ] {
            // Titles quote job, step and repository names.
            for line in lines {
                writeln!(out, "    {title}: {}", crate::terminal::line(line))?;
            }
        }
    }
    Ok(out.flush()?)
}
