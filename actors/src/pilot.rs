//! `RepoPilot`: one actor per repository. It reads the repository through a forge when asked (by the queen's
//! cycle or its own interval), scores it, and reports health and signals to the queen.
//!
//! The handler never waits on the forge: each read runs in a task and comes back as a message. Transient forge
//! errors (timeouts, 5xx, rate limits) are retried inside that task with backoff; when they persist, the forge is
//! unreachable, which says nothing about the repository: the pilot tells the queen so (its last verdict stands,
//! stale), is not failed for it, and reads again on a growing backoff until the forge answers. Anything else (a
//! permanent error, a panic in forge code) fails the actor, so the queen's restart policy applies.
//!
//! The queen sends pilots no emergency commands: a pilot follows the queen's [`EmergencyFlag`] whenever it next
//! runs (before a read, so the read already has the emergency's jitter), and its own timer, if it has one, also ends
//! when the flag changes, so the interval changes at once.

use std::{panic::AssertUnwindSafe, sync::Arc, time::Duration};

use futures::FutureExt;
use hive_cerebrum::{
    Backoff, EmergencyFlag, HealthReport, MemberBuilder, MemberCommand, MemberContext, MemberHandle, MemberKind,
    Reporter, StartError, StartFailure,
};
use hive_forge::{DynForge, ForgeError, RepoId, RepoSnapshot};
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort};
use rand::{Rng, SeedableRng, rngs::SmallRng};
use serde::{Deserialize, Serialize};

use crate::{
    Observation, StewardLink,
    bridge::{ci_fact, components, findings},
    signals_of,
};

/// How far a repository's synced files drifted from their sources (`[[sync]]`), asked after each successful read and
/// carried on the snapshot, so the score and the signals see it. The binary gives one when syncs are declared.
#[async_trait::async_trait]
pub trait DriftCheck: Send + Sync + 'static {
    /// The drift of the repository `snapshot` shows, one entry per declaration naming it; `None` when none does or
    /// it could not be read.
    async fn drift(&self, snapshot: &RepoSnapshot) -> Option<Vec<hive_forge::SyncDrift>>;
}

/// A typed reference to a pilot.
pub type PilotRef = ActorRef<PilotMessage>;

/// How pilots poll.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PilotConfig {
    /// Each read waits a random delay up to this long first, so a fleet asked at once does not hit the forge at
    /// once.
    pub jitter: Duration,
    /// The jitter in emergency mode (faster polling).
    pub emergency_jitter: Duration,
    /// Poll on the pilot's own timer at this interval, as well as when the queen asks; `None` polls only when
    /// asked.
    pub interval: Option<Duration>,
    /// The own-timer interval in emergency mode.
    pub emergency_interval: Duration,
    /// Attempts for one read when the forge answers with transient errors.
    pub attempts: u32,
    /// Delay before the first retry; doubles on each further one.
    pub retry_delay: Duration,
    /// While the forge is unreachable, when to read again on the pilot's own: `min` after the first failed read,
    /// doubling up to `max`, with jitter, so a fleet does not knock on a recovering forge all at once.
    pub outage_retry: Backoff,
}

impl Default for PilotConfig {
    fn default() -> PilotConfig {
        PilotConfig {
            jitter: Duration::from_millis(50),
            emergency_jitter: Duration::from_millis(10),
            interval: None,
            emergency_interval: Duration::from_secs(10),
            attempts: 3,
            retry_delay: Duration::from_millis(100),
            outage_retry: Backoff {
                min: Duration::from_secs(5),
                max: Duration::from_secs(300),
                factor: 0.5,
                reset_after: Duration::from_secs(300),
            },
        }
    }
}

/// Normal or emergency operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PilotMode {
    /// Normal.
    Normal,
    /// Mutating actions frozen, faster polling.
    Emergency,
}

/// A pilot's own view of itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PilotStatus {
    /// The repository.
    pub repo: RepoId,
    /// Mode.
    pub mode: PilotMode,
    /// Completed reads.
    pub reads: u64,
    /// Latest score.
    pub score: Option<u8>,
    /// Reads in a row that found the forge unreachable (0: the last read succeeded).
    pub unreachable_reads: u32,
}

/// Messages a pilot understands.
#[non_exhaustive]
pub enum PilotMessage {
    /// A command from the queen.
    Command(MemberCommand),
    /// The pilot's own timer fired (ignored unless it carries the current timer generation).
    Tick(u64),
    /// Internal: the emergency flag changed before the own timer fired (ignored unless it carries the current timer
    /// generation); the timer is armed again at the interval of the mode now in force.
    #[doc(hidden)]
    FlagChanged(u64),
    /// Read again while the forge is unreachable (ignored unless it carries the current retry generation).
    RetryRead(u64),
    /// The pilot's state.
    Status(RpcReplyPort<PilotStatus>),
    /// Internal: a read finished.
    #[doc(hidden)]
    ReadDone {
        /// The cycle it was for.
        cycle: Option<u64>,
        /// What came back (boxed: a snapshot is large, and every other message is small).
        result: Result<Box<RepoSnapshot>, ForgeError>,
    },
    /// Internal: forge code panicked during a read.
    #[doc(hidden)]
    ReadPanicked(String),
}

/// What a pilot is started with.
pub struct PilotArgs {
    repo: RepoId,
    forge: DynForge,
    reporter: Reporter,
    emergency: bool,
    /// The queen's emergency, followed whenever the pilot runs.
    flag: EmergencyFlag,
    config: PilotConfig,
    /// Where each observation goes before the report, when the hive runs an autonomy loop.
    steward: Option<StewardLink>,
    /// What tells the drift of synced files, when syncs are declared.
    drift: Option<Arc<dyn DriftCheck>>,
}

/// A pilot's state.
pub struct PilotState {
    args: PilotArgs,
    mode: PilotMode,
    /// The emergency flag as the pilot last followed it (a command may have set `mode` otherwise since).
    flag_seen: bool,
    reads: u64,
    score: Option<u8>,
    /// The cycle a read is in flight for, so a repeated `Observe` does not start a second one.
    in_flight: Option<Option<u64>>,
    /// Bumped whenever the own timer is re-armed, so the superseded timer's tick is ignored.
    tick_generation: u64,
    /// The own timer's task, aborted when the timer is armed again: a superseded one would still wake the pilot
    /// when the emergency flag changes.
    timer: Option<tokio::task::JoinHandle<()>>,
    /// Reads in a row that found the forge unreachable.
    unreachable_reads: u32,
    /// Bumped whenever an outage retry is armed or a read succeeds, so a superseded retry is ignored.
    retry_generation: u64,
    rng: SmallRng,
}

/// The pilot actor.
pub struct RepoPilot;

impl Actor for RepoPilot {
    type Msg = PilotMessage;
    type State = PilotState;
    type Arguments = PilotArgs;

    async fn pre_start(&self, myself: PilotRef, args: PilotArgs) -> Result<PilotState, ActorProcessingErr> {
        let mode = if args.emergency { PilotMode::Emergency } else { PilotMode::Normal };
        let flag_seen = args.emergency;
        let mut state = PilotState {
            args,
            mode,
            flag_seen,
            reads: 0,
            score: None,
            in_flight: None,
            tick_generation: 0,
            timer: None,
            unreachable_reads: 0,
            retry_generation: 0,
            // Seeded from the thread's generator, not the OS: a getrandom syscall per pilot is a tenth of a fleet's
            // start-up, and jitter needs no secrecy.
            rng: SmallRng::from_rng(&mut rand::rng()),
        };
        state.arm_timer(&myself);
        Ok(state)
    }

    async fn post_stop(&self, _myself: PilotRef, state: &mut PilotState) -> Result<(), ActorProcessingErr> {
        // A stopped pilot's timer has nobody to wake.
        if let Some(timer) = state.timer.take() {
            timer.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: PilotRef,
        message: PilotMessage,
        state: &mut PilotState,
    ) -> Result<(), ActorProcessingErr> {
        // A due tick re-arms the timer below; re-arming first would make it stale and skip its read.
        let tick_due = matches!(message, PilotMessage::Tick(generation) if generation == state.tick_generation);
        if state.follow_emergency() && !tick_due {
            // Faster (or normal) polling from now on, not after the current interval.
            state.arm_timer(&myself);
        }
        match message {
            PilotMessage::Command(MemberCommand::Observe { cycle }) => state.start_read(&myself, Some(cycle)),
            PilotMessage::Command(MemberCommand::EnterEmergency) => {
                // Faster polling takes effect now, not after the current (longer) interval.
                state.mode = PilotMode::Emergency;
                state.arm_timer(&myself);
            }
            PilotMessage::Command(MemberCommand::LeaveEmergency) => {
                state.mode = PilotMode::Normal;
                state.arm_timer(&myself);
            }
            PilotMessage::Tick(generation) if generation == state.tick_generation => {
                state.start_read(&myself, None);
                state.arm_timer(&myself);
            }
            PilotMessage::Tick(_) => {}
            // The flag changed and changed back before this pilot ran: same mode, but the timer that ended needs
            // arming again.
            PilotMessage::FlagChanged(generation) if generation == state.tick_generation => state.arm_timer(&myself),
            PilotMessage::FlagChanged(_) => {}
            PilotMessage::RetryRead(generation) if generation == state.retry_generation => {
                state.start_read(&myself, None);
            }
            PilotMessage::RetryRead(_) => {}
            PilotMessage::Status(reply) => {
                let _ = reply.send(PilotStatus {
                    repo: state.args.repo.clone(),
                    mode: state.mode,
                    reads: state.reads,
                    score: state.score,
                    unreachable_reads: state.unreachable_reads,
                });
            }
            PilotMessage::ReadDone { cycle, result } => {
                state.in_flight = None;
                let snapshot = match result {
                    Ok(snapshot) => snapshot,
                    Err(e) if e.is_transient() => {
                        state.forge_unreachable(&myself, cycle, hive_support::error_chain(&e));
                        return Ok(());
                    }
                    Err(e) => return Err(e.into()),
                };
                if state.unreachable_reads > 0 {
                    tracing::info!(repo = %state.args.repo, reads = state.unreachable_reads, "forge reachable again");
                    state.unreachable_reads = 0;
                    state.retry_generation += 1;
                }
                state.reads += 1;
                // Scored once, here: the queen gets the verdict, the steward the snapshot with its breakdown.
                let observation = Observation::new(*snapshot, cycle);
                let (snapshot, health) = (&observation.snapshot, &observation.health);
                state.score = Some(health.score);
                let mut report = HealthReport::new(health.score, health.healthy)
                    .with_signals(signals_of(snapshot))
                    .with_findings(findings(snapshot))
                    .with_components(components(health))
                    .with_fact("ci", ci_fact(snapshot.ci.state));
                report.cycle = cycle;
                // The steward hears first: the queen closes the cycle only after this report, and tells the steward
                // after that, so the observation is in the steward's mailbox before the cycle's close.
                if let Some(steward) = &state.args.steward {
                    steward.observe(observation);
                }
                state.args.reporter.report(report);
            }
            PilotMessage::ReadPanicked(message) => {
                return Err(format!(
                    "forge '{}' panicked reading '{}': {message}",
                    state.args.forge.name(),
                    state.args.repo
                )
                .into());
            }
        }
        Ok(())
    }
}

impl PilotState {
    /// Takes the mode the emergency flag says, if it changed since the pilot last looked; returns whether it did.
    fn follow_emergency(&mut self) -> bool {
        let active = self.args.flag.is_active();
        if active == self.flag_seen {
            return false;
        }
        self.flag_seen = active;
        self.mode = if active { PilotMode::Emergency } else { PilotMode::Normal };
        true
    }

    /// Schedules the next own-timer tick, superseding any earlier one. The timer also ends when the emergency flag
    /// changes, so only pilots with a timer of their own are woken by a declaration, and their interval changes at
    /// once rather than after the current (longer) one.
    fn arm_timer(&mut self, myself: &PilotRef) {
        if let Some(interval) = self.interval() {
            self.tick_generation += 1;
            let generation = self.tick_generation;
            let (myself, flag, seen) = (myself.clone(), self.args.flag.clone(), self.flag_seen);
            if let Some(superseded) = self.timer.take() {
                superseded.abort();
            }
            self.timer = Some(tokio::spawn(async move {
                let message = tokio::select! {
                    () = tokio::time::sleep(interval) => PilotMessage::Tick(generation),
                    _ = flag.differs_from(seen) => PilotMessage::FlagChanged(generation),
                };
                // The pilot may have been stopped meanwhile; then nobody needs the message.
                let _ = myself.cast(message);
            }));
        }
    }

    /// Tells the queen the forge could not be reached (not a failure of the repository) and arms a retry on the
    /// outage backoff, superseding any earlier one.
    fn forge_unreachable(&mut self, myself: &PilotRef, cycle: Option<u64>, reason: String) {
        tracing::debug!(repo = %self.args.repo, attempt = self.unreachable_reads + 1, %reason, "forge unreachable");
        self.args.reporter.unreachable(cycle, self.args.forge.name(), reason);
        let delay = self.args.config.outage_retry.delay(self.unreachable_reads, self.rng.random::<f64>());
        self.unreachable_reads = self.unreachable_reads.saturating_add(1);
        self.retry_generation += 1;
        let generation = self.retry_generation;
        myself.send_after(delay, move || PilotMessage::RetryRead(generation));
    }

    fn interval(&self) -> Option<Duration> {
        let normal = self.args.config.interval?;
        Some(if self.mode == PilotMode::Emergency { self.args.config.emergency_interval.min(normal) } else { normal })
    }

    fn start_read(&mut self, myself: &PilotRef, cycle: Option<u64>) {
        match self.in_flight {
            // Already reading for this cycle (or reading for none and asked for none): one read answers both.
            Some(current) if current == cycle || cycle.is_none() => return,
            _ => {}
        }
        self.in_flight = Some(cycle);
        let max_jitter = match self.mode {
            PilotMode::Normal => self.args.config.jitter,
            PilotMode::Emergency => self.args.config.emergency_jitter,
        };
        let delay = if max_jitter.is_zero() { Duration::ZERO } else { max_jitter.mul_f64(self.rng.random::<f64>()) };
        let forge = Arc::clone(&self.args.forge);
        let repo = self.args.repo.clone();
        let config = self.args.config;
        let drift = self.args.drift.clone();
        let myself = myself.clone();
        tokio::spawn(async move {
            let read = async {
                let mut snapshot = read_with_retries(forge, repo, config, delay).await?;
                if let Some(drift) = drift {
                    snapshot.sync_drift = drift.drift(&snapshot).await;
                }
                Ok(snapshot)
            };
            let read = AssertUnwindSafe(read).catch_unwind().await;
            let message = match read {
                Ok(result) => PilotMessage::ReadDone { cycle, result: result.map(Box::new) },
                Err(panic) => PilotMessage::ReadPanicked(panic_message(panic.as_ref())),
            };
            // The pilot may have been stopped meanwhile; then nobody needs the answer.
            let _ = myself.cast(message);
        });
    }
}

async fn read_with_retries(
    forge: DynForge,
    repo: RepoId,
    config: PilotConfig,
    delay: Duration,
) -> Result<RepoSnapshot, ForgeError> {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut attempt = 1;
    loop {
        match forge.snapshot(&repo).await {
            Err(e) if e.is_transient() && attempt < config.attempts => {
                tracing::debug!(%repo, attempt, error = %e, "transient forge error; retrying");
                tokio::time::sleep(hive_support::doubling(config.retry_delay, Duration::MAX, attempt - 1)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    hive_support::panic_text(panic).unwrap_or("a panic without a message").to_owned()
}

/// Starts pilots for the queen: one [`RepoPilot`] per member of kind [`MemberKind::Pilot`], whose id is the
/// repository's full name.
pub struct PilotBuilder {
    forge: DynForge,
    config: PilotConfig,
    steward: Option<StewardLink>,
    drift: Option<Arc<dyn DriftCheck>>,
}

impl PilotBuilder {
    /// Pilots reading `forge`, polling as `config` says.
    pub fn new(forge: DynForge, config: PilotConfig) -> PilotBuilder {
        PilotBuilder { forge, config, steward: None, drift: None }
    }

    /// Pilots that send each observation to the steward behind `link` (see
    /// [`StewardBuilder::link`](crate::StewardBuilder::link)).
    pub fn with_steward(mut self, link: StewardLink) -> PilotBuilder {
        self.steward = Some(link);
        self
    }

    /// Pilots that ask `check` for their repository's sync drift after each read.
    pub fn with_drift(mut self, check: Arc<dyn DriftCheck>) -> PilotBuilder {
        self.drift = Some(check);
        self
    }
}

#[async_trait::async_trait]
impl MemberBuilder for PilotBuilder {
    async fn start(&self, ctx: MemberContext) -> Result<Box<dyn MemberHandle>, StartError> {
        let fail = |cause: StartFailure| StartError::new(ctx.id.clone(), cause);
        if ctx.kind != MemberKind::Pilot {
            return Err(fail(StartFailure::WrongKind { builder: MemberKind::Pilot, kind: ctx.kind.clone() }));
        }
        let repo = RepoId::new(ctx.id.as_str()).map_err(|e| {
            fail(StartFailure::InvalidId { kind: MemberKind::Pilot, id: ctx.id.clone(), source: Box::new(e) })
        })?;
        let args = PilotArgs {
            repo,
            forge: Arc::clone(&self.forge),
            reporter: ctx.reporter.clone(),
            emergency: ctx.emergency,
            flag: ctx.emergency_flag.clone(),
            config: self.config,
            steward: self.steward.clone(),
            drift: self.drift.clone(),
        };
        let (actor, _join) = Actor::spawn_linked(None, RepoPilot, args, ctx.supervisor.clone())
            .await
            .map_err(|e| fail(StartFailure::spawn(e)))?;
        Ok(Box::new(PilotHandle { cell: actor.get_cell(), actor }))
    }
}

/// The queen's handle on a pilot.
struct PilotHandle {
    actor: PilotRef,
    cell: ActorCell,
}

impl MemberHandle for PilotHandle {
    fn cell(&self) -> &ActorCell {
        &self.cell
    }

    fn command(&self, command: MemberCommand) {
        let _ = self.actor.cast(PilotMessage::Command(command));
    }

    fn follows_emergency_flag(&self) -> bool {
        true
    }
}
