//! The steward as a member of the hive: a ractor actor the queen starts and supervises like any member (permanent
//! by default), fed by direct messages, never by the bus.
//!
//! Pilots send it what they observed ([`Observation`]: snapshot and scored health) before they report to the queen;
//! the queen's handle on it ([`QueenNotice`]) tells it that a cycle closed, and what the emergency is, from the
//! queen's own handler. The emergency goes into a `watch` channel the gate reads before every write, not into the
//! mailbox, so a declaration stops the writes that follow it even while a cycle is under way. Everything the loop
//! knows lives in the database behind the scribe, so a restarted steward loses nothing but the observations of the
//! cycle it was in, and sends nothing twice.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::SystemTime,
};

use hive_cerebrum::{
    CycleRecord, HiveEvent, MemberBuilder, MemberCommand, MemberContext, MemberHandle, MemberKind, MemberSpec,
    QueenHandle, QueenNotice, RestartPolicy, ScribeHandle, StartError, StartFailure, governance::Emergency,
};
use hive_forge::{DynForge, Forge, ForgeWriter, RepoId};
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef};
use tokio::sync::watch;

use super::{AutonomyConfig, AutonomyReport, Observation, OrchPlanner, Planner, Steward, WriteFence};

/// The steward's member id and kind ([`MemberKind::Custom`]).
pub const STEWARD_ID: &str = "steward";

/// A typed reference to the steward actor.
type StewardRef = ActorRef<StewardMessage>;

/// How a hive runs its autonomy loop: where it writes, what it may do, and where its proposals come from.
#[derive(Clone)]
pub struct Autonomy {
    pub(crate) forge: Arc<dyn ForgeWriter>,
    /// The same forge, as the pilots read it.
    reader: DynForge,
    pub(crate) config: AutonomyConfig,
    /// `None`: the queen's ORCHs, `orchs` per seed.
    pub(crate) planner: Option<Arc<dyn Planner>>,
    pub(crate) orchs: usize,
    pub(crate) policy: RestartPolicy,
    /// Checked right before every write; `None` when this process alone writes to its fleet.
    pub(crate) fence: Option<Arc<dyn WriteFence>>,
}

impl std::fmt::Debug for Autonomy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Autonomy").field("config", &self.config).field("planner", &self.planner).finish_non_exhaustive()
    }
}

impl Autonomy {
    /// The loop writing through `forge` (a `GitHubForge`, a `LocalForge`) as `config` allows, planning with one
    /// ORCH per seed.
    pub fn new<F: Forge + ForgeWriter>(forge: Arc<F>, config: AutonomyConfig) -> Autonomy {
        let reader: DynForge = forge.clone();
        Autonomy { forge, reader, config, planner: None, orchs: 1, policy: RestartPolicy::default(), fence: None }
    }

    /// The forge the loop writes through, as the pilots read it.
    pub fn reader(&self) -> DynForge {
        self.reader.clone()
    }

    /// Takes proposals from `planner` (for example an [`EnginePlanner`](super::EnginePlanner) called in place)
    /// instead of the queen's ORCHs.
    pub fn planner(mut self, planner: Arc<dyn Planner>) -> Autonomy {
        self.planner = Some(planner);
        self
    }

    /// ORCHs fanned out per seed when the queen's ORCHs plan (default 1).
    pub fn orchs(mut self, orchs: usize) -> Autonomy {
        self.orchs = orchs.max(1);
        self
    }

    /// Checks `fence` right before every write the loop sends, after governance and the reservation; a write it
    /// refuses is recorded as not sent.
    pub fn fence(mut self, fence: Arc<dyn WriteFence>) -> Autonomy {
        self.fence = Some(fence);
        self
    }

    /// How the queen restarts the steward (default: permanent, OTP's intensity and backoff).
    pub fn restart_policy(mut self, policy: RestartPolicy) -> Autonomy {
        self.policy = policy;
        self
    }

    /// The state directory the loop writes `backlog.json` and `cycles/` to.
    pub fn state_dir(&self) -> &std::path::Path {
        &self.config.state_dir
    }

    /// The forge the loop writes through.
    pub fn writer(&self) -> Arc<dyn ForgeWriter> {
        Arc::clone(&self.forge)
    }

    /// What the loop may do and the secrets it hides.
    pub fn config(&self) -> &AutonomyConfig {
        &self.config
    }
}

/// What reaches the steward across its incarnations: pilots' observations, the emergency the queen declared, the
/// stop, and the last report. Cheap to clone; one per hive.
#[derive(Clone)]
pub struct StewardLink {
    inner: Arc<LinkInner>,
}

struct LinkInner {
    current: RwLock<Option<StewardRef>>,
    emergency: watch::Sender<Emergency>,
    halt: watch::Sender<bool>,
    /// The kill switch, set live: `Some(on)` overrides the configured `autonomy` switch.
    autonomy: watch::Sender<Option<bool>>,
    /// The newest cycle the queen said closed; an older close still queued is skipped (its observations wait for
    /// the newer one).
    newest_close: AtomicU64,
    last: Mutex<Option<(CycleRecord, AutonomyReport)>>,
}

impl std::fmt::Debug for StewardLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StewardLink")
            .field("running", &self.running())
            .field("emergency", &*self.inner.emergency.borrow())
            .finish_non_exhaustive()
    }
}

impl Default for StewardLink {
    fn default() -> StewardLink {
        StewardLink::new()
    }
}

impl StewardLink {
    /// A link to no steward yet.
    pub fn new() -> StewardLink {
        StewardLink {
            inner: Arc::new(LinkInner {
                current: RwLock::new(None),
                emergency: watch::Sender::new(Emergency::none()),
                halt: watch::Sender::new(false),
                autonomy: watch::Sender::new(None),
                newest_close: AtomicU64::new(0),
                last: Mutex::new(None),
            }),
        }
    }

    /// Hands a pilot's observation to the running steward. Returns `false` when none runs (it is restarting): the
    /// observation is lost, and the repository is tended when it is observed again.
    pub fn observe(&self, observation: Observation) -> bool {
        let current = self.inner.current.read().unwrap_or_else(|e| e.into_inner());
        current.as_ref().is_some_and(|steward| steward.cast(StewardMessage::Observed(observation)).is_ok())
    }

    /// Whether a steward runs now (ractor does not run `post_stop` for an actor that failed, so the reference
    /// kept is asked).
    pub fn running(&self) -> bool {
        let current = self.inner.current.read().unwrap_or_else(|e| e.into_inner());
        current.as_ref().is_some_and(|steward| steward.get_status() == ractor::ActorStatus::Running)
    }

    /// The emergency as the steward knows it now.
    pub fn emergency(&self) -> Emergency {
        self.inner.emergency.borrow().clone()
    }

    /// The kill switch: lets the loop write (`true`) or stops its writes (`false`) from its next decision on,
    /// whatever the configuration said, until the process stops.
    pub fn set_autonomy(&self, on: bool) {
        self.inner.autonomy.send_replace(Some(on));
    }

    /// The kill switch as set live, if it was: `Some(on)` overrides the configured switch.
    pub fn autonomy_override(&self) -> Option<bool> {
        *self.inner.autonomy.borrow()
    }

    /// What the last finished cycle of the loop did, if one finished.
    pub fn last_report(&self) -> Option<AutonomyReport> {
        self.last_cycle().map(|(_, report)| report)
    }

    /// The last finished cycle: the queen's record of it (with the fixes attempted) and what the loop did. The
    /// same as the last [`HiveEvent::AutonomyCompleted`], for a reader that may have missed it.
    pub fn last_cycle(&self) -> Option<(CycleRecord, AutonomyReport)> {
        self.inner.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_current(&self, steward: Option<StewardRef>) {
        *self.inner.current.write().unwrap_or_else(|e| e.into_inner()) = steward;
    }
}

/// Messages the steward understands.
#[non_exhaustive]
pub enum StewardMessage {
    /// A pilot's observation (the newest per repository is kept until a cycle uses it).
    Observed(Observation),
    /// The queen closed an orchestration cycle: act on what was observed.
    CycleClosed(Arc<CycleRecord>),
    /// A repository left the fleet during or after orchestration cycle `.1`: drop its observation, and any that a
    /// pilot still sends for that cycle or an earlier one.
    Forget(RepoId, u64),
}

struct StewardArgs {
    steward: Steward,
    link: StewardLink,
    queen: QueenHandle,
}

struct StewardState {
    steward: Steward,
    link: StewardLink,
    queen: QueenHandle,
    /// The newest observation per repository, in a stable order.
    observed: BTreeMap<RepoId, Observation>,
    /// Repositories that left, with the cycle they left in: a read still under way when a pilot was stopped may
    /// arrive after the queen said so. A later cycle's observation (the repository watched again) is taken.
    left: HashMap<RepoId, u64>,
}

struct StewardActor;

impl Actor for StewardActor {
    type Msg = StewardMessage;
    type State = StewardState;
    type Arguments = StewardArgs;

    async fn pre_start(&self, myself: StewardRef, args: StewardArgs) -> Result<StewardState, ActorProcessingErr> {
        args.link.set_current(Some(myself));
        Ok(StewardState {
            steward: args.steward,
            link: args.link,
            queen: args.queen,
            observed: BTreeMap::new(),
            left: HashMap::new(),
        })
    }

    async fn post_stop(&self, myself: StewardRef, state: &mut StewardState) -> Result<(), ActorProcessingErr> {
        let mut current = state.link.inner.current.write().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_some_and(|c| c.get_id() == myself.get_id()) {
            *current = None;
        }
        Ok(())
    }

    async fn handle(
        &self,
        _myself: StewardRef,
        message: StewardMessage,
        state: &mut StewardState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            StewardMessage::Observed(observation) => {
                let repo = observation.snapshot.repo.clone();
                if let Some(&gone) = state.left.get(&repo) {
                    if observation.cycle.is_none_or(|cycle| cycle <= gone) {
                        return Ok(());
                    }
                    state.left.remove(&repo);
                }
                state.observed.insert(repo, observation);
            }
            StewardMessage::Forget(repo, cycle) => {
                state.observed.remove(&repo);
                state.left.insert(repo, cycle);
            }
            StewardMessage::CycleClosed(record) => {
                let newest = state.link.inner.newest_close.load(Ordering::Acquire);
                if record.orchestration_cycle < newest {
                    return Ok(());
                }
                if *state.link.inner.halt.borrow() {
                    // Not acted on, but numbered: a restart continues after it, never numbering a cycle twice.
                    let cycle = record.orchestration_cycle;
                    state.steward.memory(move |m| m.history().pass_cycle(cycle)).await?;
                    return Ok(());
                }
                // Each observation is acted on once: a repository not observed again is not tended again.
                let observed: Vec<Observation> = std::mem::take(&mut state.observed).into_values().collect();
                // A database error fails the actor: the queen restarts it under its policy, and escalates it when
                // the database keeps failing.
                let report =
                    state.steward.act_in_cycle(record.orchestration_cycle, &observed, SystemTime::now()).await?;
                let mut record = CycleRecord::clone(&record);
                record.fixes_attempted = report.fixes_attempted;
                *state.link.inner.last.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((record.clone(), report.clone()));
                state.queen.bus().publish(HiveEvent::AutonomyCompleted { record, report: Box::new(report) });
            }
        }
        Ok(())
    }
}

/// Starts the steward for the queen: the one member of kind `steward`. Keep [`StewardBuilder::link`] for pilots.
pub struct StewardBuilder {
    autonomy: Autonomy,
    scribe: ScribeHandle,
    link: StewardLink,
}

impl std::fmt::Debug for StewardBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StewardBuilder").field("autonomy", &self.autonomy).field("link", &self.link).finish()
    }
}

impl StewardBuilder {
    /// A builder for the loop `autonomy` describes, keeping its state through `scribe`.
    pub fn new(autonomy: Autonomy, scribe: ScribeHandle) -> StewardBuilder {
        StewardBuilder { autonomy, scribe, link: StewardLink::new() }
    }

    /// The kind of member it builds.
    pub fn kind() -> MemberKind {
        MemberKind::Custom(STEWARD_ID.to_owned())
    }

    /// The member the queen supervises: not taking part in cycles (it acts on them).
    pub fn spec(&self) -> MemberSpec {
        MemberSpec::new(STEWARD_ID, StewardBuilder::kind()).with_policy(self.autonomy.policy).not_observing()
    }

    /// The link pilots send their observations through, and callers read the last report from.
    pub fn link(&self) -> StewardLink {
        self.link.clone()
    }
}

#[async_trait::async_trait]
impl MemberBuilder for StewardBuilder {
    async fn start(&self, ctx: MemberContext) -> Result<Box<dyn MemberHandle>, StartError> {
        let fail = |cause: StartFailure| StartError::new(ctx.id.clone(), cause);
        if ctx.kind != StewardBuilder::kind() {
            return Err(fail(StartFailure::WrongKind { builder: StewardBuilder::kind(), kind: ctx.kind.clone() }));
        }
        let planner: Arc<dyn Planner> = match &self.autonomy.planner {
            Some(planner) => planner.clone(),
            None => Arc::new(OrchPlanner { queen: ctx.queen.clone(), orchs: self.autonomy.orchs }),
        };
        // Frozen until the queen says why, if it starts the steward during an emergency.
        if ctx.emergency && !self.link.emergency().active {
            self.link.inner.emergency.send_replace(Emergency { active: true, ..Emergency::none() });
        }
        let steward = Steward::new(self.autonomy.forge.clone(), self.scribe.clone(), self.autonomy.config.clone())
            .with_planner(planner)
            .with_fence(self.autonomy.fence.clone())
            .listening(
                self.link.inner.emergency.subscribe(),
                self.link.inner.halt.subscribe(),
                self.link.inner.autonomy.subscribe(),
            );
        let args = StewardArgs { steward, link: self.link.clone(), queen: ctx.queen.clone() };
        let (actor, _join) = Actor::spawn_linked(None, StewardActor, args, ctx.supervisor.clone())
            .await
            .map_err(|e| fail(StartFailure::spawn(e)))?;
        Ok(Box::new(StewardHandle { cell: actor.get_cell(), actor, link: self.link.clone() }))
    }
}

/// The queen's handle on the steward. Its `notify` runs in the queen's handler: the emergency and the stop take
/// effect there and then, without waiting for the steward's mailbox.
struct StewardHandle {
    actor: StewardRef,
    cell: ActorCell,
    link: StewardLink,
}

impl MemberHandle for StewardHandle {
    fn cell(&self) -> &ActorCell {
        &self.cell
    }

    /// The steward observes nothing and learns the emergency with its reasons from [`QueenNotice::Emergency`].
    fn command(&self, _command: MemberCommand) {}

    fn notify(&self, notice: &QueenNotice) {
        let inner = &self.link.inner;
        match notice {
            QueenNotice::CycleClosed { record } => {
                inner.newest_close.fetch_max(record.orchestration_cycle, Ordering::AcqRel);
                let _ = self.actor.cast(StewardMessage::CycleClosed(record.clone()));
            }
            QueenNotice::Emergency { reasons } => {
                let emergency = if reasons.is_empty() { Emergency::none() } else { Emergency::declared(reasons) };
                inner.emergency.send_replace(emergency);
            }
            QueenNotice::MemberLeft { member, cycle } => {
                if let Ok(repo) = RepoId::new(member.as_str()) {
                    let _ = self.actor.cast(StewardMessage::Forget(repo, *cycle));
                }
            }
            QueenNotice::Stopping => {
                inner.halt.send_replace(true);
            }
            _ => {}
        }
    }
}
