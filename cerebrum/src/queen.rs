//! The queen: supervises members with OTP-style policy, drives orchestration cycles, computes fleet health, runs
//! the emergency protocol and fans out ORCH actors.
//!
//! ractor gives a supervisor nothing but events: its default handler stops the supervisor when any child exits. The
//! queen overrides that handler and applies [`decide`](crate::decide) to every exit. Members are built through a
//! [`MemberBuilder`], so this crate never imports them.

mod batch;
mod config;
mod cycle;
mod handle;
mod message;
mod supervise;

use std::{collections::HashMap, sync::Arc, time::Duration};

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use rand::{SeedableRng, rngs::SmallRng};
use rustc_hash::FxHashMap;
use tokio::task::JoinHandle;

use self::{batch::Batch, cycle::CycleState, supervise::Member};
pub use self::{
    config::{DEFAULT_REFRESH_WINDOW, DEFAULT_RESUME, QueenArgs, QueenConfig},
    handle::{HiveStatus, MemberStatus, ProposalBatch, QueenHandle},
    message::QueenMessage,
};
use crate::{
    BatchId, EmergencyReason, EventBus, ExitKind, HiveEvent, MemberBuilder, MemberId, MemberSpec, MemberState,
    NotificationSink, ProposalEngine, QueenError, QueenNotice, StartedMember,
    emergency::EmergencyState,
    fleet::FleetBook,
    member::{ChangeSender, Changes, EmergencySwitch},
    outage::OutageBook,
};

/// A typed reference to the queen actor.
pub type QueenRef = ActorRef<QueenMessage>;

/// The queen actor.
pub struct Queen;

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
    /// What members that follow the emergency flag read; set where the others are commanded.
    switch: EmergencySwitch,
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
    /// Reports that change a verdict, taken before every message ([`QueenMessage::Changed`]); `change_sender` is
    /// what each incarnation's reporter posts them with.
    changes: Changes,
    change_sender: ChangeSender,
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
        let (change_sender, changes) = tokio::sync::mpsc::unbounded_channel();
        Ok(QueenState {
            myself,
            bus: args.bus,
            emergency: EmergencyState::new(args.config.emergency.clone()),
            switch: EmergencySwitch::new(),
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
            changes,
            change_sender,
        })
    }

    async fn post_start(&self, _myself: QueenRef, state: &mut QueenState) -> Result<(), ActorProcessingErr> {
        let initial = std::mem::take(&mut state.pending_members);
        // One event for the whole initial fleet: an event per member costs the queen a publish (and each subscriber
        // a wake-up) per member while the fleet starts.
        state.fleet_started = Some(Vec::with_capacity(initial.len()));
        state.start_initial(initial).await;
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

    // The arms that await are rare and boxed. A handler's future is as large as its largest arm, and ractor builds
    // and moves one for every message; unboxed, each of a cycle's thousand reports paid for `add_member`'s 1.9 KB.
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
        // Changes first: whatever this message is, a verdict posted since may be waiting behind it.
        state.take_changes();
        match message {
            QueenMessage::AddMember(spec, reply) => {
                let result = Box::pin(state.add_member(spec)).await;
                let _ = reply.send(result);
            }
            QueenMessage::RemoveMember(id, reply) => {
                let _ = reply.send(state.remove_member(&id));
            }
            QueenMessage::Resume(id, reply) => {
                let result = Box::pin(state.resume(&id)).await;
                let _ = reply.send(result);
            }
            QueenMessage::Recover(id) => {
                if let Err(e) = Box::pin(state.resume(&id)).await {
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
            QueenMessage::Changed => {}
            QueenMessage::DeclareEmergency { by } => {
                state.emergency.declare_by_hand(by);
                state.evaluate_after_report();
            }
            QueenMessage::ClearEmergency => state.clear_emergency_by_hand(),
            QueenMessage::ImposeEmergency(reasons) => state.impose_emergency(reasons),
            QueenMessage::Unreachable(report) => state.on_unreachable(report),
            QueenMessage::Propose { batch, seed, n, reply } => Box::pin(state.start_batch(batch, seed, n, reply)).await,
            QueenMessage::CancelBatch(batch) => state.cancel_batch(batch),
            QueenMessage::BatchDeadline(batch) => state.batch_deadline(batch),
            QueenMessage::OrchFinished { batch, slot, attempt, result } => {
                Box::pin(state.orch_finished(batch, slot, attempt, result)).await;
            }
            QueenMessage::ResumeDue { member, generation } => {
                let due = state
                    .members
                    .get(&member)
                    .is_some_and(|m| m.generation == generation && m.state == MemberState::Escalated);
                if due && let Err(e) = Box::pin(state.resume(&member)).await {
                    tracing::debug!(error = %e, "automatic resume skipped a member");
                }
            }
            QueenMessage::RestartDue { member, generation } => {
                let due = state
                    .members
                    .get(&member)
                    .is_some_and(|m| m.generation == generation && m.state == MemberState::Backoff);
                if due {
                    let kind = state.restart_kind(&member);
                    Box::pin(state.bring_up(&member, kind)).await;
                }
            }
            QueenMessage::Shutdown(reply) => {
                Box::pin(state.shutdown()).await;
                let _ = reply.send(());
                myself.stop(Some("shutdown".to_owned()));
            }
        }
        Ok(())
    }

    // Boxed awaits for the same reason as in `handle`.
    async fn handle_supervisor_evt(
        &self,
        _myself: QueenRef,
        event: SupervisionEvent,
        state: &mut QueenState,
    ) -> Result<(), ActorProcessingErr> {
        // A change a member posted before it exited is taken while its incarnation still runs (ractor hands the
        // queen exits before the messages waiting in its mailbox).
        if !state.shutting_down {
            state.take_changes();
        }
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
            Box::pin(state.orch_exited(batch, slot, id, exit)).await;
        } else if let Some(member) = state.by_actor.remove(&id) {
            Box::pin(state.member_exited(member, id, exit)).await;
        }
        Ok(())
    }
}

impl QueenState {
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
