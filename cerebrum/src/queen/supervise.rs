//! Supervision: adding, removing and resuming members, starting each incarnation, and the restart policy applied
//! to every exit (restart now, after a backoff, escalate, or stop).

use std::time::Duration;

use ractor::ActorId;
use rand::Rng;

use super::{QueenHandle, QueenMessage, QueenState};
use crate::{
    ExitKind, HiveEvent, MemberCommand, MemberContext, MemberHandle, MemberId, MemberSpec, MemberState, QueenError,
    QueenNotice, Reporter, RestartDecision, RestartHistory, StartedMember, decide, member::Lane,
};

/// One supervised member.
pub(super) struct Member {
    pub(super) spec: MemberSpec,
    pub(super) state: MemberState,
    pub(super) handle: Option<Box<dyn MemberHandle>>,
    /// Set on every start from a queen-wide counter, so a stale backoff timer is recognised.
    pub(super) generation: u64,
    pub(super) history: RestartHistory,
    pub(super) last_error: Option<String>,
    /// How the member comes back when its backoff delay is over.
    pub(super) pending_restart: Option<StartKind>,
    /// Automatic resumes in a row (each escalation within `resume.reset_after` of the last one adds one), and when
    /// it last escalated.
    pub(super) resumes: u32,
    pub(super) escalated_at: Option<tokio::time::Instant>,
    /// Whether this incarnation has reported yet: its first report is always published, later ones only when they
    /// change something.
    pub(super) reported: bool,
    /// The number of the incarnation's latest report taken in: one numbered lower arrived after a newer one.
    pub(super) last_report: u64,
}

/// How a member is being (re)started, for the event that follows.
#[derive(Clone, Copy)]
pub(super) enum StartKind {
    First,
    Restart { attempt: u32, delay: Duration },
    Resume,
}

impl QueenState {
    pub(super) fn restart_kind(&self, id: &MemberId) -> StartKind {
        self.members.get(id).map_or(StartKind::First, |m| m.pending_restart.unwrap_or(StartKind::First))
    }

    pub(super) async fn add_member(&mut self, spec: MemberSpec) -> Result<(), QueenError> {
        let id = self.enrol(spec)?;
        self.bring_up(&id, StartKind::First).await;
        Ok(())
    }

    /// Starts the initial members together: ractor's spawn runs a member's `pre_start` in the caller's task, so
    /// each start gets a task of its own and the runtime's workers start members side by side instead of one after
    /// another in the queen's handler. What each start gives is then taken in the given order, as `add_member`
    /// would; a member whose start failed goes through the policy and is brought up alone.
    pub(super) async fn start_initial(&mut self, specs: Vec<MemberSpec>) {
        let mut starts = Vec::with_capacity(specs.len());
        for spec in specs {
            // Duplicates in the initial list are a caller bug; keep the first and say so.
            let id = match self.enrol(spec) {
                Ok(id) => id,
                Err(e) => {
                    tracing::warn!(error = %e, "skipping initial member");
                    continue;
                }
            };
            let Some(ctx) = self.incarnate(&id) else { continue };
            let builder = std::sync::Arc::clone(&self.builder);
            starts.push((id, tokio::spawn(async move { builder.start(ctx).await })));
        }
        for (id, start) in starts {
            let started = match start.await {
                Ok(started) => started,
                // The builder itself panicked (a member's own `pre_start` panicking is a start error): as when it
                // runs in the handler, the queen fails with it.
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            };
            match started {
                Ok(handle) => self.started(&id, handle, StartKind::First),
                Err(e) => {
                    if let Some(next) = self.start_failed(&id, &e) {
                        self.bring_up(&id, next).await;
                    }
                }
            }
        }
    }

    /// Takes a member into the queen's books, not started yet.
    fn enrol(&mut self, spec: MemberSpec) -> Result<MemberId, QueenError> {
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
            last_report: 0,
        });
        self.order.push(id.clone());
        Ok(id)
    }

    pub(super) fn remove_member(&mut self, id: &MemberId) -> Result<(), QueenError> {
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

    pub(super) async fn resume(&mut self, id: &MemberId) -> Result<(), QueenError> {
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
    pub(super) async fn bring_up(&mut self, id: &MemberId, mut kind: StartKind) {
        loop {
            let Some(ctx) = self.incarnate(id) else { return };
            // The queen's handler holds `&mut self` across the start, so nothing else can remove the member meanwhile.
            match self.builder.start(ctx).await {
                Ok(handle) => return self.started(id, handle, kind),
                Err(e) => match self.start_failed(id, &e) {
                    Some(next) => kind = next,
                    None => return,
                },
            }
        }
    }

    /// Numbers a new incarnation of a member and gives what its builder needs; `None` for a member not known.
    fn incarnate(&mut self, id: &MemberId) -> Option<MemberContext> {
        let member = self.members.get_mut(id)?;
        // Queen-wide, so a member removed and re-added under the same id never matches an old timer.
        self.generations += 1;
        member.generation = self.generations;
        member.state = MemberState::Starting;
        member.pending_restart = None;
        member.reported = false;
        member.last_report = 0;
        Some(MemberContext {
            id: id.clone(),
            kind: member.spec.kind.clone(),
            supervisor: self.myself.get_cell(),
            emergency: self.emergency.is_active(),
            emergency_flag: self.switch.flag(),
            reporter: Reporter {
                queen: self.myself.clone(),
                member: id.clone(),
                lane: Lane::new(self.change_sender.clone(), member.generation),
            },
            queen: QueenHandle::new(self.myself.clone(), self.bus.clone()),
        })
    }

    /// A member's incarnation runs: tells it what it missed and says so.
    fn started(&mut self, id: &MemberId, handle: Box<dyn MemberHandle>, kind: StartKind) {
        let Some(member) = self.members.get_mut(id) else {
            handle.cell().stop(Some("removed".to_owned()));
            return;
        };
        self.by_actor.insert(handle.cell().get_id(), id.clone());
        member.state = MemberState::Running;
        if self.emergency.is_active() && !handle.follows_emergency_flag() {
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
            StartKind::Restart { attempt, delay } => HiveEvent::MemberRestarted { member: id.clone(), attempt, delay },
            StartKind::Resume => HiveEvent::MemberResumed { member: id.clone() },
        };
        self.bus.publish(event);
    }

    /// A start failed: says so and applies the policy; returns how to start the member again at once, if so.
    fn start_failed(&mut self, id: &MemberId, e: &crate::StartError) -> Option<StartKind> {
        self.bus.publish(HiveEvent::MemberFailed { member: id.clone(), error: hive_support::error_chain(e) });
        self.apply_policy(id, ExitKind::Failed(hive_support::error_chain(&e.cause)))
    }

    pub(super) async fn member_exited(&mut self, id: MemberId, actor: ActorId, exit: ExitKind) {
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
    pub(super) fn apply_policy(&mut self, id: &MemberId, exit: ExitKind) -> Option<StartKind> {
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
}
