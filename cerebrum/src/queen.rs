//! The queen: supervises members with OTP-style policy, drives orchestration cycles, computes fleet health, runs
//! the emergency protocol and fans out ORCH actors.
//!
//! ractor gives a supervisor nothing but events: its default handler stops the supervisor when any child exits. The
//! queen overrides that handler and applies [`decide`](crate::decide) to every exit. Members are built through a
//! [`MemberBuilder`], so this crate never imports them.

mod batch;
mod cycle;
mod handle;

use std::{collections::HashMap, path::PathBuf, sync::Arc, time::Duration};

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use rand::{Rng, SeedableRng, rngs::SmallRng};
use rustc_hash::FxHashMap;
use tokio::{sync::oneshot, task::JoinHandle};

pub use self::handle::{HiveStatus, MemberStatus, ProposalBatch, QueenHandle};
use self::{batch::Batch, cycle::CycleState};
use crate::{
    Backoff, BatchId, BatchReport, EmergencyConfig, EmergencyReason, EventBus, ExitKind, HealthReport, HiveEvent,
    LogSink, MemberBuilder, MemberCommand, MemberContext, MemberHandle, MemberId, MemberSpec, MemberState,
    NotificationSink, OrchConfig, OrchError, Proposal, ProposalEngine, QueenError, QueenNotice, Reporter,
    RestartDecision, RestartHistory, RuleEngine, Seed, StartedMember, Unreachable, decide, emergency::EmergencyState,
    fleet::FleetBook, member::NoMembers, outage::OutageBook,
};

/// A typed reference to the queen actor.
pub type QueenRef = ActorRef<QueenMessage>;

/// The queen actor.
pub struct Queen;

/// How the queen runs.
#[derive(Debug, Clone)]
pub struct QueenConfig {
    /// Time between orchestration cycles; `None` means cycles only start on request
    /// ([`QueenHandle::start_cycle`]).
    pub cycle_interval: Option<Duration>,
    /// Time between cycles while an emergency is active (faster polling).
    pub emergency_cycle_interval: Duration,
    /// Emergency triggers.
    pub emergency: EmergencyConfig,
    /// ORCH fan-out limits.
    pub orch: OrchConfig,
    /// How long graceful shutdown waits for one member to drain before killing it.
    pub shutdown_timeout: Duration,
    /// Where emergency snapshots go (`<state_dir>/snapshots/`); `None` keeps them in the log only.
    pub state_dir: Option<PathBuf>,
    /// How many emergency snapshots `<state_dir>/snapshots/` keeps (the newest), pruned after each one written;
    /// `None` keeps them all.
    pub keep_snapshots: Option<usize>,
    /// Seed for backoff jitter, for reproducible runs; `None` seeds from the OS.
    pub jitter_seed: Option<u64>,
    /// When an escalated member is resumed by itself: `min` after its escalation, doubling for each escalation that
    /// follows a resume within `reset_after`, up to `max`. `None` leaves escalated members to an operator (and an
    /// emergency's recovery attempt).
    pub resume: Option<Backoff>,
    /// The last cycle number used before this queen started (by an earlier run on the same state, kept in the
    /// database's counter, [`History::last_cycle`](crate::History::last_cycle)): the first cycle is one more, so
    /// cycle numbers keep growing across restarts. 0 numbers from 1.
    pub last_cycle: u64,
    /// Every how many cycles all members are read: 1 (the default) reads every member every cycle. With `n`, a
    /// full cycle is followed by `n - 1` quiet ones that ask only members never read; what changed meanwhile is
    /// read in refresh cycles ([`QueenHandle::observe_now`], for example on a GitHub webhook delivery). Every cycle
    /// is full during an emergency. 0 is taken as 1.
    pub reconcile_every: u32,
    /// How long [`QueenHandle::observe_now`] waits before its refresh cycle starts, so a burst of events about
    /// many members costs one cycle.
    pub refresh_window: Duration,
}

/// The default for [`QueenConfig::resume`]: a minute after the escalation, up to an hour for a member that keeps
/// failing, starting again from a minute after an hour without escalation.
pub const DEFAULT_RESUME: Backoff = Backoff {
    min: Duration::from_secs(60),
    max: Duration::from_secs(3_600),
    factor: 0.2,
    reset_after: Duration::from_secs(3_600),
};

/// The default for [`QueenConfig::refresh_window`]: short against the one second an event may take to reach a
/// decision, long enough to gather the deliveries GitHub sends for one push.
pub const DEFAULT_REFRESH_WINDOW: Duration = Duration::from_millis(100);

impl Default for QueenConfig {
    fn default() -> QueenConfig {
        QueenConfig {
            cycle_interval: None,
            emergency_cycle_interval: Duration::from_secs(10),
            emergency: EmergencyConfig::default(),
            orch: OrchConfig::default(),
            shutdown_timeout: Duration::from_secs(10),
            state_dir: None,
            keep_snapshots: None,
            jitter_seed: None,
            resume: Some(DEFAULT_RESUME),
            last_cycle: 0,
            reconcile_every: 1,
            refresh_window: DEFAULT_REFRESH_WINDOW,
        }
    }
}

/// What the queen starts with.
pub struct QueenArgs {
    /// The bus events are published on.
    pub bus: EventBus,
    /// Configuration.
    pub config: QueenConfig,
    /// Builds members.
    pub builder: Arc<dyn MemberBuilder>,
    /// Proposal engine for ORCHs.
    pub engine: Arc<dyn ProposalEngine>,
    /// Where emergency notices go.
    pub sink: Arc<dyn NotificationSink>,
    /// Members to start, in this order.
    pub members: Vec<MemberSpec>,
}

impl QueenArgs {
    /// A queen with no members, the rule engine and the log sink.
    pub fn new(bus: EventBus, config: QueenConfig) -> QueenArgs {
        QueenArgs {
            bus,
            config,
            builder: Arc::new(NoMembers),
            engine: Arc::new(RuleEngine),
            sink: Arc::new(LogSink),
            members: Vec::new(),
        }
    }

    /// Uses this member builder.
    pub fn with_builder(mut self, builder: Arc<dyn MemberBuilder>) -> QueenArgs {
        self.builder = builder;
        self
    }

    /// Uses this proposal engine.
    pub fn with_engine(mut self, engine: Arc<dyn ProposalEngine>) -> QueenArgs {
        self.engine = engine;
        self
    }

    /// Uses this notification sink.
    pub fn with_sink(mut self, sink: Arc<dyn NotificationSink>) -> QueenArgs {
        self.sink = sink;
        self
    }

    /// Starts these members.
    pub fn with_members(mut self, members: Vec<MemberSpec>) -> QueenArgs {
        self.members = members;
        self
    }
}

/// Messages the queen understands. Commands are imperatives; RPCs end with their reply port.
#[non_exhaustive]
pub enum QueenMessage {
    /// Supervise a new member and start it.
    AddMember(MemberSpec, RpcReplyPort<Result<(), QueenError>>),
    /// Stop a member and forget it.
    RemoveMember(MemberId, RpcReplyPort<Result<(), QueenError>>),
    /// Start an escalated member again, with a fresh restart window.
    Resume(MemberId, RpcReplyPort<Result<(), QueenError>>),
    /// The hive's state.
    Status(RpcReplyPort<HiveStatus>),
    /// One member's latest health report (with its signals and the breakdown of its score), if it has reported.
    MemberReport(MemberId, RpcReplyPort<Option<HealthReport>>),
    /// Start an orchestration cycle now.
    StartCycle,
    /// Ask one running member to observe soon, outside the cycle's rhythm (an event said its subject changed): it is
    /// read in the next refresh cycle.
    ObserveNow(MemberId, RpcReplyPort<Result<(), QueenError>>),
    /// A member's health report (sent by its [`Reporter`]).
    Report(HealthReport),
    /// A member could not read its subject because its source was unreachable (sent by its [`Reporter`]).
    Unreachable(Unreachable),
    /// Fan out `n` ORCHs on a seed; the report goes to `reply`.
    Propose {
        /// The fan-out's id.
        batch: BatchId,
        /// What to think about.
        seed: Seed,
        /// How many ORCHs.
        n: usize,
        /// Where the report goes.
        reply: oneshot::Sender<BatchReport>,
    },
    /// Cancel a fan-out; what finished is kept.
    CancelBatch(BatchId),
    /// Stop every member in reverse start order, draining their queues, then stop.
    Shutdown(RpcReplyPort<()>),
    /// Declare an emergency by hand; it holds until cleared by hand.
    DeclareEmergency {
        /// Who declares it.
        by: String,
    },
    /// Withdraw a hand-made declaration: the emergency clears at once unless other triggers hold.
    ClearEmergency,
    /// Impose causes decided elsewhere (a cluster's leader, over the whole fleet), which hold until replaced; empty
    /// lifts them, and the emergency clears at once unless other triggers hold.
    ImposeEmergency(Vec<EmergencyReason>),
    /// Internal: resume an escalated member as part of an emergency's recovery attempt.
    #[doc(hidden)]
    Recover(MemberId),
    /// Internal: the cycle timer fired.
    #[doc(hidden)]
    CycleTick,
    /// Internal: the refresh window is over; start a refresh cycle for the members named in it.
    #[doc(hidden)]
    RefreshDue,
    /// Internal: an escalated member's quiet period is over; resume it unless it was resumed or removed meanwhile.
    #[doc(hidden)]
    ResumeDue {
        /// The member.
        member: MemberId,
        /// The incarnation that escalated.
        generation: u64,
    },
    /// Internal: a member's backoff delay is over.
    #[doc(hidden)]
    RestartDue {
        /// The member.
        member: MemberId,
        /// The incarnation that failed.
        generation: u64,
    },
    /// Internal: a fan-out's deadline passed.
    #[doc(hidden)]
    BatchDeadline(BatchId),
    /// Internal: an ORCH's answer.
    #[doc(hidden)]
    OrchFinished {
        /// Its fan-out.
        batch: BatchId,
        /// Its slot.
        slot: usize,
        /// Its attempt number.
        attempt: u32,
        /// The proposals or the error.
        result: Result<Vec<Proposal>, OrchError>,
    },
}

/// One supervised member.
struct Member {
    spec: MemberSpec,
    state: MemberState,
    handle: Option<Box<dyn MemberHandle>>,
    /// Set on every start from a queen-wide counter, so a stale backoff timer is recognised.
    generation: u64,
    history: RestartHistory,
    last_error: Option<String>,
    /// How the member comes back when its backoff delay is over.
    pending_restart: Option<StartKind>,
    /// Automatic resumes in a row (each escalation within `resume.reset_after` of the last one adds one), and when
    /// it last escalated.
    resumes: u32,
    escalated_at: Option<tokio::time::Instant>,
    /// Whether this incarnation has reported yet: its first report is always published, later ones only when they
    /// change something.
    reported: bool,
}

/// How a member is being (re)started, for the event that follows.
#[derive(Clone, Copy)]
enum StartKind {
    First,
    Restart { attempt: u32, delay: Duration },
    Resume,
}

/// The queen's state; opaque outside this crate.
pub struct QueenState {
    myself: QueenRef,
    bus: EventBus,
    config: QueenConfig,
    builder: Arc<dyn MemberBuilder>,
    engine: Arc<dyn ProposalEngine>,
    sink: Arc<dyn NotificationSink>,
    members: FxHashMap<MemberId, Member>,
    /// Start order, for shutdown in reverse.
    order: Vec<MemberId>,
    by_actor: FxHashMap<ActorId, MemberId>,
    book: FleetBook,
    outages: OutageBook,
    emergency: EmergencyState,
    cycle: CycleState,
    tick: Option<JoinHandle<()>>,
    /// When `tick` fires.
    tick_due: Option<tokio::time::Instant>,
    batches: HashMap<BatchId, Batch>,
    orchs: HashMap<ActorId, (BatchId, usize)>,
    rng: SmallRng,
    shutting_down: bool,
    /// The emergency's reasons as the members last heard them ([`QueenNotice::Emergency`]); empty: none in force.
    told_emergency: Arc<[EmergencyReason]>,
    pending_members: Vec<MemberSpec>,
    /// While the initial members start: those running, announced together as `FleetStarted` once all have started.
    fleet_started: Option<Vec<StartedMember>>,
    /// Last incarnation number handed out.
    generations: u64,
}

impl Queen {
    /// Spawns a queen and returns its handle. Members in `args` start right after.
    pub async fn start(args: QueenArgs) -> Result<QueenHandle, QueenError> {
        let bus = args.bus.clone();
        let (actor, _join) = Actor::spawn(None, Queen, args).await.map_err(|e| QueenError::Spawn(e.to_string()))?;
        Ok(QueenHandle::new(actor, bus))
    }
}

impl Actor for Queen {
    type Msg = QueenMessage;
    type State = QueenState;
    type Arguments = QueenArgs;

    async fn pre_start(&self, myself: QueenRef, args: QueenArgs) -> Result<QueenState, ActorProcessingErr> {
        let rng = match args.config.jitter_seed {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::from_os_rng(),
        };
        let cycle = CycleState::continuing(args.config.last_cycle);
        Ok(QueenState {
            myself,
            bus: args.bus,
            emergency: EmergencyState::new(args.config.emergency.clone()),
            config: args.config,
            builder: args.builder,
            engine: args.engine,
            sink: args.sink,
            members: FxHashMap::with_capacity_and_hasher(args.members.len(), Default::default()),
            order: Vec::with_capacity(args.members.len()),
            by_actor: FxHashMap::with_capacity_and_hasher(args.members.len(), Default::default()),
            book: FleetBook::with_capacity(args.members.len()),
            outages: OutageBook::default(),
            cycle,
            tick: None,
            tick_due: None,
            batches: HashMap::new(),
            orchs: HashMap::new(),
            rng,
            shutting_down: false,
            told_emergency: Arc::from(Vec::new()),
            pending_members: args.members,
            fleet_started: None,
            generations: 0,
        })
    }

    async fn post_start(&self, _myself: QueenRef, state: &mut QueenState) -> Result<(), ActorProcessingErr> {
        let initial = std::mem::take(&mut state.pending_members);
        // One event for the whole initial fleet: an event per member costs the queen a publish (and each subscriber
        // a wake-up) per member while the fleet starts.
        state.fleet_started = Some(Vec::with_capacity(initial.len()));
        for spec in initial {
            // Duplicates in the initial list are a caller bug; keep the first and say so.
            if let Err(e) = state.add_member(spec).await {
                tracing::warn!(error = %e, "skipping initial member");
            }
        }
        if let Some(members) = state.fleet_started.take().filter(|members| !members.is_empty()) {
            state.bus.publish(HiveEvent::FleetStarted { members });
        }
        state.evaluate_after_report();
        if let Some(interval) = state.config.cycle_interval {
            // An emergency may already be active (forced, or declared while the members started).
            let interval = if state.emergency.is_active() { state.config.emergency_cycle_interval } else { interval };
            state.schedule_tick(interval);
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: QueenRef,
        message: QueenMessage,
        state: &mut QueenState,
    ) -> Result<(), ActorProcessingErr> {
        if state.shutting_down {
            // Only answer RPCs so callers do not hang; everything else is moot.
            match message {
                QueenMessage::Status(reply) => {
                    let _ = reply.send(state.status());
                }
                QueenMessage::MemberReport(id, reply) => {
                    let _ = reply.send(state.book.report(&id).cloned());
                }
                QueenMessage::Shutdown(reply) => {
                    let _ = reply.send(());
                }
                _ => {}
            }
            return Ok(());
        }
        match message {
            QueenMessage::AddMember(spec, reply) => {
                let result = state.add_member(spec).await;
                let _ = reply.send(result);
            }
            QueenMessage::RemoveMember(id, reply) => {
                let _ = reply.send(state.remove_member(&id));
            }
            QueenMessage::Resume(id, reply) => {
                let result = state.resume(&id).await;
                let _ = reply.send(result);
            }
            QueenMessage::Recover(id) => {
                if let Err(e) = state.resume(&id).await {
                    tracing::debug!(error = %e, "recovery skipped a member");
                }
            }
            QueenMessage::Status(reply) => {
                let _ = reply.send(state.status());
            }
            QueenMessage::MemberReport(id, reply) => {
                let _ = reply.send(state.book.report(&id).cloned());
            }
            QueenMessage::StartCycle => state.begin_cycle(),
            QueenMessage::ObserveNow(id, reply) => {
                let _ = reply.send(state.observe_now(&id));
            }
            QueenMessage::RefreshDue => state.begin_refresh(),
            QueenMessage::CycleTick => {
                state.begin_cycle();
                let interval = if state.emergency.is_active() {
                    Some(state.config.emergency_cycle_interval)
                } else {
                    state.config.cycle_interval
                };
                if let Some(interval) = interval {
                    state.schedule_tick(interval);
                }
            }
            QueenMessage::Report(report) => state.on_report(report),
            QueenMessage::DeclareEmergency { by } => {
                state.emergency.declare_by_hand(by);
                state.evaluate_after_report();
            }
            QueenMessage::ClearEmergency => state.clear_emergency_by_hand(),
            QueenMessage::ImposeEmergency(reasons) => state.impose_emergency(reasons),
            QueenMessage::Unreachable(report) => state.on_unreachable(report),
            QueenMessage::Propose { batch, seed, n, reply } => state.start_batch(batch, seed, n, reply).await,
            QueenMessage::CancelBatch(batch) => state.cancel_batch(batch),
            QueenMessage::BatchDeadline(batch) => state.batch_deadline(batch),
            QueenMessage::OrchFinished { batch, slot, attempt, result } => {
                state.orch_finished(batch, slot, attempt, result).await;
            }
            QueenMessage::ResumeDue { member, generation } => {
                let due = state
                    .members
                    .get(&member)
                    .is_some_and(|m| m.generation == generation && m.state == MemberState::Escalated);
                if due && let Err(e) = state.resume(&member).await {
                    tracing::debug!(error = %e, "automatic resume skipped a member");
                }
            }
            QueenMessage::RestartDue { member, generation } => {
                let due = state
                    .members
                    .get(&member)
                    .is_some_and(|m| m.generation == generation && m.state == MemberState::Backoff);
                if due {
                    state.bring_up(&member, state.restart_kind(&member)).await;
                }
            }
            QueenMessage::Shutdown(reply) => {
                state.shutdown().await;
                let _ = reply.send(());
                myself.stop(Some("shutdown".to_owned()));
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: QueenRef,
        event: SupervisionEvent,
        state: &mut QueenState,
    ) -> Result<(), ActorProcessingErr> {
        let (id, exit) = match event {
            SupervisionEvent::ActorFailed(cell, err) => (cell.get_id(), ExitKind::Failed(err.to_string())),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                // A kill is abnormal for restart purposes, as in OTP.
                let exit = match reason.as_deref() {
                    Some("killed") => ExitKind::Failed("killed".to_owned()),
                    _ => ExitKind::Normal,
                };
                (cell.get_id(), exit)
            }
            _ => return Ok(()),
        };
        if let Some((batch, slot)) = state.orchs.remove(&id) {
            state.orch_exited(batch, slot, id, exit).await;
        } else if let Some(member) = state.by_actor.remove(&id) {
            state.member_exited(member, id, exit).await;
        }
        Ok(())
    }
}

impl QueenState {
    fn restart_kind(&self, id: &MemberId) -> StartKind {
        self.members.get(id).map_or(StartKind::First, |m| m.pending_restart.unwrap_or(StartKind::First))
    }

    async fn add_member(&mut self, spec: MemberSpec) -> Result<(), QueenError> {
        let std::collections::hash_map::Entry::Vacant(slot) = self.members.entry(spec.id.clone()) else {
            return Err(QueenError::DuplicateMember(spec.id));
        };
        let id = slot.key().clone();
        if spec.observes {
            self.book.insert(id.clone());
        }
        slot.insert(Member {
            spec,
            state: MemberState::Starting,
            handle: None,
            generation: 0,
            history: RestartHistory::default(),
            last_error: None,
            pending_restart: None,
            resumes: 0,
            escalated_at: None,
            reported: false,
        });
        self.order.push(id.clone());
        self.bring_up(&id, StartKind::First).await;
        Ok(())
    }

    fn remove_member(&mut self, id: &MemberId) -> Result<(), QueenError> {
        let member = self.members.remove(id).ok_or_else(|| QueenError::UnknownMember(id.clone()))?;
        self.order.retain(|m| m != id);
        self.book.remove(id);
        self.left_outage(id);
        self.cycle.pending.remove(id);
        if let Some(handle) = member.handle {
            // Its termination event finds no member any more and is ignored.
            self.by_actor.remove(&handle.cell().get_id());
            handle.cell().stop(Some("removed".to_owned()));
        }
        self.bus.publish(HiveEvent::MemberStopped { member: id.clone(), reason: "removed".to_owned() });
        self.notify_all(&QueenNotice::MemberLeft { member: id.clone(), cycle: self.cycle.number });
        // The fleet is smaller: a share or a count-and-share trigger may hold now.
        self.evaluate_after_report();
        self.maybe_finish_cycle();
        Ok(())
    }

    async fn resume(&mut self, id: &MemberId) -> Result<(), QueenError> {
        let member = self.members.get_mut(id).ok_or_else(|| QueenError::UnknownMember(id.clone()))?;
        if member.state != MemberState::Escalated {
            return Err(QueenError::NotEscalated { member: id.clone(), state: member.state.to_string() });
        }
        member.history.clear();
        self.book.set_escalated(id, false);
        self.bring_up(id, StartKind::Resume).await;
        Ok(())
    }

    /// Starts an incarnation of a member; a start failure (a panic in `pre_start` arrives here as a spawn error)
    /// counts as a failed restart and goes through the policy like any other exit.
    async fn bring_up(&mut self, id: &MemberId, mut kind: StartKind) {
        loop {
            let Some(member) = self.members.get_mut(id) else { return };
            // Queen-wide, so a member removed and re-added under the same id never matches an old timer.
            self.generations += 1;
            member.generation = self.generations;
            member.state = MemberState::Starting;
            member.pending_restart = None;
            member.reported = false;
            let ctx = MemberContext {
                id: id.clone(),
                kind: member.spec.kind.clone(),
                supervisor: self.myself.get_cell(),
                emergency: self.emergency.is_active(),
                reporter: Reporter { queen: self.myself.clone(), member: id.clone() },
                queen: QueenHandle::new(self.myself.clone(), self.bus.clone()),
            };
            // The queen's handler holds `&mut self` across the start, so nothing else can remove the member meanwhile.
            match self.builder.start(ctx).await {
                Ok(handle) => {
                    self.by_actor.insert(handle.cell().get_id(), id.clone());
                    member.state = MemberState::Running;
                    if self.emergency.is_active() {
                        handle.command(MemberCommand::EnterEmergency);
                    }
                    // Whatever changed while it was down (a member out of the hive hears nothing): declared, cleared.
                    handle.notify(&QueenNotice::Emergency { reasons: self.told_emergency.clone() });
                    // A member that failed mid-cycle still owes this cycle its observation.
                    if self.cycle.open && self.cycle.pending.contains(id) {
                        handle.command(MemberCommand::Observe { cycle: self.cycle.number });
                    }
                    member.handle = Some(handle);
                    let event = match kind {
                        StartKind::First => {
                            let kind = member.spec.kind.clone();
                            if let Some(fleet) = &mut self.fleet_started {
                                fleet.push(StartedMember { member: id.clone(), kind });
                                return;
                            }
                            HiveEvent::MemberStarted { member: id.clone(), kind }
                        }
                        StartKind::Restart { attempt, delay } => {
                            HiveEvent::MemberRestarted { member: id.clone(), attempt, delay }
                        }
                        StartKind::Resume => HiveEvent::MemberResumed { member: id.clone() },
                    };
                    self.bus.publish(event);
                    return;
                }
                Err(e) => {
                    self.bus
                        .publish(HiveEvent::MemberFailed { member: id.clone(), error: hive_support::error_chain(&e) });
                    match self.apply_policy(id, ExitKind::Failed(hive_support::error_chain(&e.cause))) {
                        Some(next) => kind = next,
                        None => return,
                    }
                }
            }
        }
    }

    async fn member_exited(&mut self, id: MemberId, actor: ActorId, exit: ExitKind) {
        if self.shutting_down {
            return;
        }
        let Some(member) = self.members.get_mut(&id) else { return };
        // Only the current incarnation's exit counts.
        if member.handle.as_ref().is_none_or(|h| h.cell().get_id() != actor) {
            return;
        }
        member.handle = None;
        if let ExitKind::Failed(error) = &exit {
            self.bus.publish(HiveEvent::MemberFailed { member: id.clone(), error: error.clone() });
        }
        if let Some(kind) = self.apply_policy(&id, exit) {
            self.bring_up(&id, kind).await;
        }
    }

    /// Applies the restart policy after an exit. Returns how to start the member at once, or `None` when it is
    /// waiting for its backoff, escalated or stopped.
    fn apply_policy(&mut self, id: &MemberId, exit: ExitKind) -> Option<StartKind> {
        let jitter: f64 = self.rng.random();
        let now = tokio::time::Instant::now().into_std();
        let member = self.members.get_mut(id)?;
        if let ExitKind::Failed(error) = &exit {
            member.last_error = Some(error.clone());
        }
        match decide(&member.spec.policy, &mut member.history, now, &exit, jitter) {
            RestartDecision::Restart { delay, attempt } => {
                let kind = StartKind::Restart { attempt, delay };
                if delay.is_zero() {
                    return Some(kind);
                }
                member.state = MemberState::Backoff;
                member.pending_restart = Some(kind);
                let (member_id, generation) = (id.clone(), member.generation);
                self.myself.send_after(delay, move || QueenMessage::RestartDue { member: member_id, generation });
                None
            }
            RestartDecision::Escalate { restarts } => {
                member.state = MemberState::Escalated;
                let period = member.spec.policy.period;
                let observes = member.spec.observes;
                let resume_in = self.config.resume.map(|resume| {
                    let at = tokio::time::Instant::now();
                    let again = member.escalated_at.is_some_and(|last| at.duration_since(last) < resume.reset_after);
                    member.resumes = if again { member.resumes.saturating_add(1) } else { 0 };
                    member.escalated_at = Some(at);
                    let delay = resume.delay(member.resumes, jitter);
                    let (member_id, generation) = (id.clone(), member.generation);
                    self.myself.send_after(delay, move || QueenMessage::ResumeDue { member: member_id, generation });
                    delay
                });
                self.book.set_escalated(id, true);
                self.left_outage(id);
                self.cycle.pending.remove(id);
                self.bus.publish(HiveEvent::MemberEscalated { member: id.clone(), restarts, period, resume_in });
                // Only the fleet's members count towards its sickness; the steward failing is not a repository's.
                if observes {
                    self.emergency.note_critical(id.clone(), now);
                }
                self.evaluate_after_report();
                self.maybe_finish_cycle();
                None
            }
            RestartDecision::Stop => {
                member.state = MemberState::Stopped;
                let reason = match exit {
                    ExitKind::Normal => "exited normally".to_owned(),
                    ExitKind::Failed(e) => format!("failed and is not restarted: {e}"),
                };
                self.book.remove(id);
                self.left_outage(id);
                self.cycle.pending.remove(id);
                self.bus.publish(HiveEvent::MemberStopped { member: id.clone(), reason });
                self.notify_all(&QueenNotice::MemberLeft { member: id.clone(), cycle: self.cycle.number });
                // The fleet is smaller: a share or a count-and-share trigger may hold now.
                self.evaluate_after_report();
                self.maybe_finish_cycle();
                None
            }
        }
    }

    fn status(&self) -> HiveStatus {
        let mut members: Vec<MemberStatus> = self
            .order
            .iter()
            .filter_map(|id| self.members.get(id))
            .map(|m| {
                let report = self.book.report(&m.spec.id);
                MemberStatus {
                    id: m.spec.id.clone(),
                    kind: m.spec.kind.clone(),
                    state: m.state,
                    restarts: m.history.total(),
                    score: report.map(|r| r.score),
                    healthy: report.map(|r| r.healthy),
                    stale: self.outages.is_unreachable(&m.spec.id),
                    last_error: m.last_error.clone(),
                    findings: report.map(|r| r.findings.clone()).unwrap_or_default(),
                    facts: report.map(|r| r.facts.clone()).unwrap_or_default(),
                    signals: report.map(|r| worst_first(&r.signals)).unwrap_or_default(),
                }
            })
            .collect();
        members.sort_by(|a, b| a.id.cmp(&b.id));
        HiveStatus {
            fleet: self.book.health(self.emergency.is_active()),
            emergency: self.emergency.is_active(),
            emergency_reasons: self.emergency.reasons().to_vec(),
            cycle: self.cycle.number,
            members,
            outages: self.outages.outages(),
            events_published: self.bus.published(),
            events_lost: self.bus.lost(),
        }
    }

    fn schedule_tick(&mut self, interval: Duration) {
        if let Some(old) = self.tick.take() {
            old.abort();
        }
        let queen = self.myself.clone();
        self.tick_due = Some(tokio::time::Instant::now() + interval);
        self.tick = Some(tokio::spawn(async move {
            tokio::time::sleep(interval).await;
            let _ = queen.cast(QueenMessage::CycleTick);
        }));
    }

    /// Graceful shutdown: members in reverse start order, each drained (its queued messages processed) and
    /// awaited; a member that does not drain in time is killed.
    async fn shutdown(&mut self) {
        self.shutting_down = true;
        if let Some(tick) = self.tick.take() {
            tick.abort();
        }
        let batches: Vec<BatchId> = self.batches.keys().copied().collect();
        for batch in batches {
            self.cancel_batch(batch);
        }
        // Every member hears it before the first is drained, so one that acts (the steward) starts nothing new.
        self.notify_all(&QueenNotice::Stopping);
        for id in self.order.clone().into_iter().rev() {
            let Some(member) = self.members.get_mut(&id) else { continue };
            let Some(handle) = member.handle.take() else { continue };
            member.state = MemberState::Stopped;
            let cell = handle.cell();
            if cell.drain_and_wait(Some(self.config.shutdown_timeout)).await.is_err() {
                tracing::warn!(member = %id, "member did not drain in time; killing it");
                let _ = cell.kill_and_wait(Some(self.config.shutdown_timeout)).await;
            }
            self.bus.publish(HiveEvent::MemberStopped { member: id, reason: "shutdown".to_owned() });
        }
        self.bus.publish(HiveEvent::HiveStopped);
    }
}

/// A report's signals, worst first (a stable sort keeps the pilot's order among equals).
fn worst_first(signals: &[crate::Signal]) -> Vec<crate::Signal> {
    let mut signals = signals.to_vec();
    signals.sort_by_key(|s| std::cmp::Reverse(s.severity));
    signals
}

#[cfg(test)]
mod tests {
    use crate::{Severity, Signal};

    #[test]
    fn signals_come_worst_first_and_equals_keep_their_order() {
        let signals = [
            Signal::security(Severity::Low, "a"),
            Signal::security(Severity::Critical, "b"),
            Signal::security(Severity::Medium, "c"),
            Signal::security(Severity::Critical, "d"),
        ];
        let titles: Vec<String> = super::worst_first(&signals).into_iter().map(|s| s.title).collect();
        assert_eq!(titles, ["b", "d", "c", "a"]);
    }
}
