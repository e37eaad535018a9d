//! `Hive` and its builder: wires a forge, pilots, service keepers, the queen and the bus into one running system.

use std::{path::PathBuf, sync::Arc, time::Duration};

use hive_actors::{
    Autonomy, AutonomyReport, Filed, KeeperError, Members, PilotBuilder, PilotConfig, STEWARD_ID, ServiceBuilder,
    ServiceCommand, ServiceStatus, StewardBuilder, StewardLink,
};
use hive_cerebrum::{
    AuditEntry, AuditRecord, BacklogItem, BatchReport, EmergencyConfig, EventBus, HealthReport, HiveStatus, LogSink,
    MemberId, MemberSpec, Memory, NotificationSink, OrchConfig, ProposalBatch, ProposalEngine, Queen, QueenArgs,
    QueenConfig, QueenHandle, Redactor, RestartPolicy, RuleEngine, ScribeHandle, Seed, Subscription, Tally,
    governance::Policy,
};
use hive_changes::{ChangeEngine, ChangeSettings, SyncDecl};
use hive_ecosystem::ServiceSpec;
use hive_forge::{ApiUsage, DynForge, Forge, RepoId};
use hive_spawner::{
    Author, SpawnSettings, Spawner,
    llm::LlmEngine,
    tools::{AgentId, ToolRegistry, Toolbox, ToolsConfig},
};

use crate::HiveError;

/// Builds a [`Hive`]. Only the forge is required; everything else has a default.
pub struct HiveBuilder {
    forge: Option<DynForge>,
    repos: Option<Vec<String>>,
    queen: QueenConfig,
    pilot: PilotConfig,
    policy: RestartPolicy,
    engine: Arc<dyn ProposalEngine>,
    sink: Arc<dyn NotificationSink>,
    bus_capacity: usize,
    services: Vec<ServiceSpec>,
    autonomy: Option<Autonomy>,
    llm: Option<(LlmEngine, ToolsConfig)>,
    agents: Option<SpawnSettings>,
    syncs: Vec<SyncDecl>,
}

/// The agent the ORCHs' language model calls tools as: `tools assign orch <tool>` gives them one.
pub const ORCH_AGENT: &str = "orch";

impl Default for HiveBuilder {
    fn default() -> HiveBuilder {
        HiveBuilder {
            forge: None,
            repos: None,
            queen: QueenConfig::default(),
            pilot: PilotConfig::default(),
            policy: RestartPolicy::default(),
            engine: Arc::new(RuleEngine),
            sink: Arc::new(LogSink),
            bus_capacity: 4096,
            services: Vec::new(),
            autonomy: None,
            llm: None,
            agents: None,
            syncs: Vec::new(),
        }
    }
}

impl HiveBuilder {
    /// The forge the pilots read.
    pub fn forge(self, forge: impl Forge) -> HiveBuilder {
        self.shared_forge(Arc::new(forge))
    }

    /// A forge that is already shared.
    pub fn shared_forge(mut self, forge: DynForge) -> HiveBuilder {
        self.forge = Some(forge);
        self
    }

    /// Watch these repositories (`owner/name`) instead of everything the forge discovers.
    pub fn repos<I, S>(mut self, repos: I) -> HiveBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.repos = Some(repos.into_iter().map(Into::into).collect());
        self
    }

    /// Run an orchestration cycle every `interval` (default: only when asked with [`Hive::start_cycle`]).
    pub fn cycle_interval(mut self, interval: Duration) -> HiveBuilder {
        self.queen.cycle_interval = Some(interval);
        self
    }

    /// The queen's whole configuration.
    pub fn queen_config(mut self, config: QueenConfig) -> HiveBuilder {
        self.queen = config;
        self
    }

    /// Emergency thresholds.
    pub fn emergency(mut self, config: EmergencyConfig) -> HiveBuilder {
        self.queen.emergency = config;
        self
    }

    /// ORCH fan-out limits.
    pub fn orch(mut self, config: OrchConfig) -> HiveBuilder {
        self.queen.orch = config;
        self
    }

    /// Where state (emergency snapshots) is written.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> HiveBuilder {
        self.queen.state_dir = Some(dir.into());
        self
    }

    /// How pilots poll.
    pub fn pilot_config(mut self, config: PilotConfig) -> HiveBuilder {
        self.pilot = config;
        self
    }

    /// The restart policy of every pilot.
    pub fn restart_policy(mut self, policy: RestartPolicy) -> HiveBuilder {
        self.policy = policy;
        self
    }

    /// The language model engine every ORCH thinks with, calling tools as the agent [`ORCH_AGENT`]: the built-ins
    /// `tools` sets up, and of those only the ones the database assigns to it (none until a person assigns one).
    /// Without the autonomy loop there is no database, and the engine calls no tool.
    pub fn llm_engine(mut self, engine: LlmEngine, tools: ToolsConfig) -> HiveBuilder {
        self.llm = Some((engine, tools));
        self
    }

    /// The proposal engine ORCHs use (default: the rule engine).
    pub fn engine(mut self, engine: impl ProposalEngine) -> HiveBuilder {
        self.llm = None;
        self.engine = Arc::new(engine);
        self
    }

    /// Where emergency notices go (default: the log).
    pub fn notification_sink(mut self, sink: impl NotificationSink) -> HiveBuilder {
        self.sink = Arc::new(sink);
        self
    }

    /// How many unread events each bus subscriber may fall behind before losing the oldest.
    pub fn bus_capacity(mut self, capacity: usize) -> HiveBuilder {
        self.bus_capacity = capacity;
        self
    }

    /// Runs this service from the start, kept by its own actor under the queen (see [`Hive::add_service`]).
    pub fn service(mut self, spec: ServiceSpec) -> HiveBuilder {
        self.services.push(spec);
        self
    }

    /// Runs the governed autonomy loop: a steward member, supervised by the queen, acting on what the pilots
    /// observe after each cycle, with its state in `<state_dir>/hive.db` (opened by [`HiveBuilder::start`]). Without
    /// [`HiveBuilder::forge`], the pilots read through the loop's forge.
    pub fn autonomy(mut self, autonomy: Autonomy) -> HiveBuilder {
        self.autonomy = Some(autonomy);
        self
    }

    /// With the autonomy loop: agents made by command ([`Hive::spawn_agent`]) as `settings` say, published through
    /// the loop's forge, recorded in its database, and merged under its policy.
    pub fn agents(mut self, settings: SpawnSettings) -> HiveBuilder {
        self.agents = Some(settings);
        self
    }

    /// Files kept in step across repositories (`[[sync]]`): with the autonomy loop, each pilot's observation
    /// carries its repository's drift (a signal and a score component), and [`Hive::push_continuous`] pushes the
    /// continuous ones.
    pub fn syncs(mut self, decls: Vec<SyncDecl>) -> HiveBuilder {
        self.syncs = decls;
        self
    }

    /// Discovers the repositories (unless given), starts the queen, one pilot per repository, and the steward when
    /// the hive runs the autonomy loop.
    pub async fn start(self) -> Result<Hive, HiveError> {
        let forge = match (self.forge, &self.autonomy) {
            (Some(forge), _) => forge,
            (None, Some(autonomy)) => autonomy.reader(),
            (None, None) => return Err(HiveError::NoForge),
        };
        let repos: Vec<RepoId> = match self.repos {
            Some(names) => names.into_iter().map(RepoId::new).collect::<Result<_, _>>()?,
            None => forge
                .discover()
                .await
                .map_err(|source| HiveError::Discovery { forge: forge.name().to_owned(), source })?,
        };
        let mut members: Vec<MemberSpec> =
            repos.iter().map(|r| MemberSpec::pilot(r.as_str()).with_policy(self.policy)).collect();
        let services = ServiceBuilder::new();
        for spec in self.services {
            members.push(services.register(spec, RestartPolicy::default())?);
        }
        let reader = SharedForge(Arc::clone(&forge));
        let mut pilots = PilotBuilder::new(forge, self.pilot);
        let mut builder = Members::new().with_services(services.clone());
        let mut steward = None;
        let (mut engine, mut llm) = (self.engine, self.llm);
        let mut queen = self.queen;
        let mut spawner = None;
        let mut changes = None;
        let mut autonomy_on = false;
        // The language model the ORCHs think with also writes agents' logic.
        let author = llm.as_ref().map(|(engine, _)| Author::new(engine.client().clone()));
        if let Some(autonomy) = self.autonomy {
            // The database first: a damaged one stops the start before any member runs.
            let mut memory = Memory::open(autonomy.state_dir())?;
            // The queen continues the count an earlier run on this state left: one number per cycle for events,
            // the steward's report, its records and summaries, and never a number used before.
            queen.last_cycle = queen.last_cycle.max(memory.history().last_cycle()?);
            let scribe = ScribeHandle::spawn(memory).await.map_err(HiveError::Scribe)?;
            if let Some((llm_engine, tools)) = llm.take() {
                let registry = ToolRegistry::builtin(tools, Some(scribe.clone()));
                let orch = AgentId::new(ORCH_AGENT).expect("'orch' follows the agent name rules");
                engine = Arc::new(llm_engine.tools(Toolbox::new(registry, scribe.clone(), orch)));
            }
            let made = self.agents.map(|mut settings| {
                settings.policy = autonomy.config().policy.clone();
                let redactor = Redactor::new(autonomy.config().secrets.iter().cloned());
                (
                    Spawner::new(scribe.clone(), autonomy.writer(), settings, redactor),
                    autonomy.config().overrides.clone(),
                )
            });
            let work_dir = autonomy.state_dir().join("changes");
            let mut change_settings = ChangeSettings::new(work_dir, "hive");
            change_settings.policy = autonomy.config().policy.clone();
            let change_engine = ChangeEngine::new(
                scribe.clone(),
                autonomy.reader(),
                autonomy.writer(),
                change_settings,
                Redactor::new(autonomy.config().secrets.iter().cloned()),
            );
            let change_overrides = autonomy.config().overrides.clone();
            autonomy_on = autonomy.config().policy.switches.autonomy;
            if !self.syncs.is_empty() {
                pilots = pilots.with_drift(crate::sync_sets::drift_check(&change_engine, self.syncs.clone()));
            }
            let stewards = StewardBuilder::new(autonomy, scribe.clone());
            // A change set's writes are decided as the steward decides its own: under each repository's level, the
            // kill switch as it is now, and the emergency the queen declared.
            let link = stewards.link();
            changes =
                Some(Arc::new(change_engine.with_live_policy(Arc::new(move |repo: &str, policy: &mut Policy| {
                    *policy = change_overrides.policy(policy, repo, link.autonomy_override(), &link.emergency());
                }))));
            if let Some((mut made, overrides)) = made {
                // An agent's merge is decided as the steward decides its writes: under the repository's level, the
                // kill switch as it is now, and the emergency the queen declared.
                let link = stewards.link();
                made = made.with_live_policy(Arc::new(move |repo: &str, policy: &mut Policy| {
                    *policy = overrides.policy(policy, repo, link.autonomy_override(), &link.emergency());
                }));
                if let Some(author) = author {
                    made = made.with_author(author);
                }
                spawner = Some(Arc::new(made));
            }
            pilots = pilots.with_steward(stewards.link());
            // First in start order, so it is up before any pilot observes, and drained last.
            members.insert(0, stewards.spec());
            steward = Some((stewards.link(), scribe));
            builder = builder.with_custom(STEWARD_ID, Arc::new(stewards));
        }
        if let Some((llm_engine, _)) = llm {
            engine = Arc::new(llm_engine);
        }
        let builder = builder.with_pilots(pilots);
        let bus = EventBus::new(self.bus_capacity);
        let args = QueenArgs::new(bus, queen)
            .with_builder(Arc::new(builder))
            .with_engine(engine)
            .with_sink(self.sink)
            .with_members(members);
        let queen = match Queen::start(args).await {
            Ok(queen) => queen,
            Err(err) => {
                if let Some((_, scribe)) = steward {
                    scribe.stop().await;
                }
                return Err(err.into());
            }
        };
        let (steward, scribe) = steward.unzip();
        let syncs = Arc::new(self.syncs);
        Ok(Hive {
            queen,
            policy: self.policy,
            services,
            steward,
            scribe,
            spawner,
            changes,
            syncs,
            autonomy_on,
            forge: reader,
        })
    }
}

/// A running hive. Cheap to clone; every clone controls the same hive.
#[derive(Debug, Clone)]
pub struct Hive {
    queen: QueenHandle,
    policy: RestartPolicy,
    services: ServiceBuilder,
    /// With the autonomy loop: the steward's link and the database writer it keeps its state through.
    pub(crate) steward: Option<StewardLink>,
    pub(crate) scribe: Option<ScribeHandle>,
    /// With the autonomy loop and [`HiveBuilder::agents`]: what makes agents by command.
    pub(crate) spawner: Option<Arc<Spawner>>,
    /// With the autonomy loop: what makes change sets across repositories.
    pub(crate) changes: Option<Arc<ChangeEngine>>,
    /// The `[[sync]]` declarations.
    pub(crate) syncs: Arc<Vec<SyncDecl>>,
    /// Whether the configuration let the autonomy loop write (the kill switch may say otherwise later).
    pub(crate) autonomy_on: bool,
    /// The forge the pilots read, for what it spent of a metered API.
    forge: SharedForge,
}

/// The pilots' forge, shown by name.
#[derive(Clone)]
struct SharedForge(DynForge);

impl std::fmt::Debug for SharedForge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedForge").field(&self.0.name()).finish()
    }
}

impl Hive {
    /// A builder with defaults.
    pub fn builder() -> HiveBuilder {
        HiveBuilder::default()
    }

    /// Subscribes to the hive's events from now on.
    pub fn subscribe(&self) -> Subscription {
        self.queen.subscribe()
    }

    /// The event bus.
    pub fn bus(&self) -> &EventBus {
        self.queen.bus()
    }

    /// The queen's handle, for everything the facade does not wrap.
    pub fn queen(&self) -> &QueenHandle {
        &self.queen
    }

    /// The hive's state.
    pub async fn status(&self) -> Result<HiveStatus, HiveError> {
        Ok(self.queen.status().await?)
    }

    /// One watched repository's latest health report: its signals, findings, facts and the breakdown of its score;
    /// `None` before its pilot's first report or when no member has that id.
    pub async fn report(&self, repo: &str) -> Result<Option<HealthReport>, HiveError> {
        Ok(self.queen.report(&MemberId::new(repo)).await?)
    }

    /// What the pilots' forge spent of its metered API so far (GitHub's points and rate limit); `None` for a forge
    /// without one.
    pub fn api_usage(&self) -> Option<ApiUsage> {
        self.forge.0.api_usage()
    }

    /// Runs an orchestration cycle now.
    pub fn start_cycle(&self) -> Result<(), HiveError> {
        Ok(self.queen.start_cycle()?)
    }

    /// Has a watched repository's pilot read it now, outside the cycle's rhythm (a webhook said it changed); the
    /// report reaches the queen as every report does. The forge forgets what it remembers of the repository first,
    /// so the read is a whole one: what the delivery is about (a run re-run and failed again on the same commit)
    /// may be a change the forge's own change detection does not see.
    pub async fn observe_now(&self, repo: &str) -> Result<(), HiveError> {
        if let Ok(id) = RepoId::new(repo) {
            self.forge.0.forget(&id);
        }
        Ok(self.queen.observe_now(&MemberId::new(repo)).await?)
    }

    /// Starts watching one more repository.
    pub async fn watch(&self, repo: &str) -> Result<(), HiveError> {
        let repo = RepoId::new(repo)?;
        Ok(self.queen.add_member(MemberSpec::pilot(repo.as_str()).with_policy(self.policy)).await?)
    }

    /// Stops watching a repository.
    pub async fn unwatch(&self, repo: &str) -> Result<(), HiveError> {
        Ok(self.queen.remove_member(&MemberId::new(repo)).await?)
    }

    /// Fans out `n` ORCHs on a seed and waits for their report.
    pub async fn propose(&self, seed: Seed, n: usize) -> Result<BatchReport, HiveError> {
        Ok(self.queen.propose(seed, n)?.outcome().await?)
    }

    /// Fans out `n` ORCHs and returns at once with a handle to cancel or await the fan-out.
    pub fn propose_batch(&self, seed: Seed, n: usize) -> Result<ProposalBatch, HiveError> {
        Ok(self.queen.propose(seed, n)?)
    }

    /// Starts an escalated pilot again.
    pub async fn resume(&self, repo: &str) -> Result<(), HiveError> {
        Ok(self.queen.resume(&MemberId::new(repo)).await?)
    }

    /// Runs a service: registers its spec and adds its keeper to the queen (which restarts the keeper under the
    /// default policy if the keeper itself fails). The keeper starts the process at once unless `autostart` is off.
    pub async fn add_service(&self, spec: ServiceSpec) -> Result<(), HiveError> {
        let name = spec.name.clone();
        let member = self.services.register(spec, RestartPolicy::default())?;
        if let Err(e) = self.queen.add_member(member).await {
            // A pilot may already use the name; the service must not stay registered without a keeper.
            self.services.unregister(&name);
            return Err(e.into());
        }
        Ok(())
    }

    /// Stops a service (SIGTERM, then SIGKILL after its stop timeout), waits for its keeper to exit, and forgets it.
    pub async fn remove_service(&self, name: &str) -> Result<(), HiveError> {
        let spec = self.services.spec(name).ok_or_else(|| KeeperError::Unknown(name.to_owned()))?;
        let keeper = self.services.keeper(name);
        self.queen.remove_member(&MemberId::new(name)).await?;
        self.services.unregister(name);
        if let Some(keeper) = keeper {
            // The keeper terminates its process in post_stop; give it the stop timeout and some slack, then make
            // sure (a killed keeper's state drop kills the process group).
            let patience = spec.stop_timeout.saturating_mul(2) + Duration::from_secs(5);
            if keeper.get_cell().wait(Some(patience)).await.is_err() {
                keeper.get_cell().kill();
            }
        }
        Ok(())
    }

    /// Sends `Start`, `Stop` or `Restart` to a service's keeper; poll [`Hive::service_status`] for the effect.
    pub fn service_command(&self, name: &str, command: ServiceCommand) -> Result<(), HiveError> {
        Ok(self.services.command(name, command)?)
    }

    /// A service's state, process id, restarts, last exit and recent output.
    pub async fn service_status(&self, name: &str) -> Result<ServiceStatus, HiveError> {
        Ok(self.services.status(name).await?)
    }

    /// The names of the services this hive runs, sorted.
    pub fn services(&self) -> Vec<String> {
        self.services.names()
    }

    /// With the autonomy loop: what its last finished cycle did.
    pub fn autonomy_report(&self) -> Option<AutonomyReport> {
        self.steward.as_ref().and_then(StewardLink::last_report)
    }

    /// With the autonomy loop: the steward's link (its emergency state, its last report).
    pub fn steward(&self) -> Option<&StewardLink> {
        self.steward.as_ref()
    }

    /// Declares an emergency by hand (`by` names who): every write but the alert and recovery stops, including the
    /// steward's next one in a cycle under way, until [`Hive::clear_emergency`].
    pub fn declare_emergency(&self, by: &str) -> Result<(), HiveError> {
        Ok(self.queen.declare_emergency(by)?)
    }

    /// Withdraws a declaration made by hand; the emergency clears at once unless other triggers hold.
    pub fn clear_emergency(&self) -> Result<(), HiveError> {
        Ok(self.queen.clear_emergency()?)
    }

    /// The autonomy loop's kill switch, live: `false` stops its writes from its next decision on (they are only
    /// recorded as what it would do), `true` lets it write, whatever the configuration said, until the process stops.
    pub fn set_autonomy(&self, on: bool) -> Result<(), HiveError> {
        let steward = self.steward.as_ref().ok_or(HiveError::NoAutonomy)?;
        steward.set_autonomy(on);
        Ok(())
    }

    /// The backlog of work the autonomy loop found, as the database holds it now.
    pub async fn backlog(&self) -> Result<Vec<BacklogItem>, HiveError> {
        let scribe = self.scribe.as_ref().ok_or(HiveError::NoAutonomy)?;
        Ok(scribe.call(|m| m.ledger().list()).await.map_err(HiveError::Scribe)??)
    }

    /// With the autonomy loop: the issues and pull requests it filed for `repo` that may be open now, as the database
    /// holds them.
    pub async fn filed(&self, repo: &str) -> Result<Vec<Filed>, HiveError> {
        let scribe = self.scribe.as_ref().ok_or(HiveError::NoAutonomy)?;
        let repo = repo.to_owned();
        Ok(scribe.call(move |m| hive_actors::open_filed(m, &repo)).await.map_err(HiveError::Scribe)??)
    }

    /// With the autonomy loop: its writes by kind and state and governance's decisions by kind, verdict and rule,
    /// counted in the database (durable, unlike anything read from the bus).
    pub async fn tally(&self) -> Result<Tally, HiveError> {
        let scribe = self.scribe.as_ref().ok_or(HiveError::NoAutonomy)?;
        Ok(scribe.call(|m| m.tally()).await.map_err(HiveError::Scribe)??)
    }

    /// Records in the audit trail that `who` ran `command` (a command that changed something). Without the autonomy
    /// loop the hive keeps no trail, and nothing is recorded.
    pub async fn audit(&self, who: &str, command: &str) -> Result<(), HiveError> {
        self.record(who, "command", command.to_owned()).await
    }

    /// Records in the audit trail that `command`, asked by `who` and recorded by [`Hive::audit`], failed: `why`.
    pub async fn audit_failure(&self, who: &str, command: &str, why: &str) -> Result<(), HiveError> {
        self.record(who, "command_failed", format!("{command}: {why}")).await
    }

    /// The audit trail's records after `after` (a seq; 0 for the first), oldest first, at most `limit`: read through
    /// the scribe, so a page never sees half of a write.
    pub async fn audit_records(&self, after: u64, limit: usize) -> Result<Vec<AuditRecord>, HiveError> {
        let scribe = self.scribe.as_ref().ok_or(HiveError::NoAutonomy)?;
        Ok(scribe.call(move |m| m.audit().after(after, limit)).await.map_err(HiveError::Scribe)??)
    }

    async fn record(&self, who: &str, action: &str, result: String) -> Result<(), HiveError> {
        let Some(scribe) = &self.scribe else { return Ok(()) };
        let entry = AuditEntry {
            actor: who.to_owned(),
            repositories: Vec::new(),
            action: action.to_owned(),
            result,
            decision: String::new(),
        };
        scribe.call(move |m| m.audit().append(&entry).map(drop)).await.map_err(HiveError::Scribe)??;
        Ok(())
    }

    /// Stops every member (draining their queues; service keepers stop their processes; the steward starts no new
    /// write) in reverse start order, then the queen, then the database writer after its queue.
    pub async fn shutdown(&self) -> Result<(), HiveError> {
        let result = self.queen.shutdown().await;
        if let Some(scribe) = &self.scribe {
            scribe.clone().stop().await;
        }
        Ok(result?)
    }
}
