//! Orchestration cycles and the emergency protocol's actions, as the queen runs them.
//!
//! A cycle asks members to observe, collects their reports, and ends when all have answered (or when the next
//! cycle starts, counting the silent ones as missed). Each report may declare an emergency at once; only whole
//! cycles count towards clearing it. Which members a cycle asks is its [`CycleKind`]: all of them; between
//! reconciliations (`reconcile_every`) only those never read; or, in a refresh cycle, those an event named.

use std::sync::Arc;

use rustc_hash::FxHashSet;
use serde::Serialize;

use super::QueenState;
use crate::{
    CycleKind, CycleRecord, EmergencyReason, HealthReport, HiveEvent, MemberCommand, MemberId, MemberKind, MemberState,
    Notice, Posted, QueenError, QueenNotice, Unreachable, analytics::rfc3339, emergency::Transition,
    outage::OutageChange, write_atomic,
};

#[derive(Debug, Default)]
pub(crate) struct CycleState {
    /// The current (or last) cycle's number; before the first, the last one an earlier run used (0 for none).
    pub(crate) number: u64,
    pub(crate) open: bool,
    /// Which members the current (or last) cycle asked.
    kind: CycleKind,
    /// Members asked to observe that have not answered yet.
    pub(crate) pending: FxHashSet<MemberId>,
    /// How many were asked when it began.
    asked: usize,
    /// The whole percent of `asked` last published as `CycleProgressed`.
    percent: usize,
    /// Signals reported for this cycle.
    signals: usize,
    /// Quiet cycles to run before the next full one (each full cycle sets it to `reconcile_every - 1`).
    quiet_left: u32,
    /// Members named by `observe_now` and not asked since; a set, since a burst of deliveries names a member
    /// many times and a large fleet many members.
    wanted: FxHashSet<MemberId>,
    /// Whether a [`QueenMessage::RefreshDue`](super::QueenMessage::RefreshDue) is on its way.
    refresh_armed: bool,
}

/// What the emergency snapshot holds.
#[derive(Serialize)]
struct EmergencySnapshot<'a> {
    timestamp: String,
    cycle: u64,
    reasons: &'a [EmergencyReason],
    status: &'a super::HiveStatus,
}

impl CycleState {
    /// No cycle open, the next one numbered `last + 1`.
    pub(super) fn continuing(last: u64) -> CycleState {
        CycleState { number: last, ..CycleState::default() }
    }
}

impl QueenState {
    /// Starts the cycle the rhythm (or a caller) asks for: a full one, or between reconciliations a quiet one.
    pub(super) fn begin_cycle(&mut self) {
        let quiet = self.cycle.quiet_left > 0 && !self.emergency.is_active();
        if quiet {
            self.cycle.quiet_left -= 1;
        } else {
            self.cycle.quiet_left = self.config.reconcile_every.saturating_sub(1);
        }
        let kind = if quiet { CycleKind::Quiet } else { CycleKind::Full };
        let observing: Vec<MemberId> = self
            .members
            .iter()
            .filter(|(_, m)| m.spec.observes)
            .filter(|(_, m)| m.state == MemberState::Running || m.state == MemberState::Backoff)
            // A quiet cycle asks only running members that have no verdict yet (new, or never read); one in backoff
            // would hold it open, and the refreshes behind it, until it came up.
            .filter(|(id, m)| !quiet || (m.state == MemberState::Running && self.book.report(id).is_none()))
            .map(|(id, _)| id.clone())
            .collect();
        self.open_cycle(kind, observing);
    }

    /// Starts a refresh cycle over the members named since the last one, unless a cycle is open (its close starts
    /// it) or none of them can be asked now.
    pub(super) fn begin_refresh(&mut self) {
        self.cycle.refresh_armed = false;
        if self.cycle.open || self.cycle.wanted.is_empty() {
            return;
        }
        let wanted: Vec<MemberId> = std::mem::take(&mut self.cycle.wanted)
            .into_iter()
            .filter(|id| self.members.get(id).is_some_and(|m| m.state == MemberState::Running))
            .collect();
        if !wanted.is_empty() {
            self.open_cycle(CycleKind::Refresh, wanted);
        }
    }

    fn open_cycle(&mut self, kind: CycleKind, asked: Vec<MemberId>) {
        if self.cycle.open {
            self.finish_cycle();
        }
        self.cycle.number += 1;
        self.cycle.open = true;
        self.cycle.kind = kind;
        self.cycle.signals = 0;
        self.cycle.pending = asked.into_iter().collect();
        // Whoever this cycle reads needs no refresh of its own.
        let pending = &self.cycle.pending;
        self.cycle.wanted.retain(|id| !pending.contains(id));
        self.cycle.asked = self.cycle.pending.len();
        self.cycle.percent = 0;
        let cycle = self.cycle.number;
        self.bus.publish(HiveEvent::CycleStarted { cycle, asked: self.cycle.pending.len(), kind });
        for id in &self.cycle.pending {
            // Members in backoff are asked when they come back up (see `bring_up`).
            if let Some(handle) = self.members.get(id).and_then(|m| m.handle.as_ref()) {
                handle.command(MemberCommand::Observe { cycle });
            }
        }
        self.maybe_finish_cycle();
    }

    /// Asks one member to observe soon, outside the cycle's rhythm: it joins the next refresh cycle, which starts
    /// `refresh_window` from now (so a burst of events costs one cycle), or when the cycle under way closes (a read
    /// under way may predate the change). A member not running now (in backoff, escalated, stopped) is not asked:
    /// the next cycle reads it once it is up; one that does not observe (the steward) has nothing to read.
    pub(super) fn observe_now(&mut self, id: &MemberId) -> Result<(), QueenError> {
        let member = self.members.get(id).ok_or_else(|| QueenError::UnknownMember(id.clone()))?;
        if !(member.spec.observes && member.state == MemberState::Running) {
            return Ok(());
        }
        if !self.cycle.wanted.contains(id) {
            self.cycle.wanted.insert(id.clone());
        }
        self.bus.publish(HiveEvent::RefreshRequested { member: id.clone() });
        self.arm_refresh();
        Ok(())
    }

    /// Schedules the next refresh cycle, once.
    fn arm_refresh(&mut self) {
        if self.cycle.refresh_armed || self.cycle.wanted.is_empty() {
            return;
        }
        self.cycle.refresh_armed = true;
        self.myself.send_after(self.config.refresh_window, || super::QueenMessage::RefreshDue);
    }

    /// Folds a report in. Its cost does not grow with the fleet: a cycle's reports arrive in a burst. (A report
    /// that changes a verdict, such as one that crosses an emergency threshold, comes by the lane for changes and so
    /// does not wait behind the burst's repeats.)
    ///
    /// A report is published (with its signals) when it is the member's first since it (re)started or its score,
    /// verdict or signals differ from its previous report's, and evaluated against the emergency triggers only in
    /// the second case. A repeat cannot make a trigger hold that did not hold at the last evaluation (a trigger's
    /// inputs are exactly those fields), and observers already have what it says.
    pub(super) fn on_report(&mut self, posted: Posted<HealthReport>) {
        let Some((report, first)) = self.take_in(posted, |r| (&r.member, r.cycle, r.signals.len()), true) else {
            return;
        };
        let id = report.member.clone();
        let (score, healthy, cycle, signals) = (report.score, report.healthy, report.cycle, report.signals.len());
        let folded = self.book.fold(report);
        if first || !folded.repeat {
            self.bus.publish(HiveEvent::HealthReported { member: id.clone(), score, healthy, cycle });
            // A change is rare next to a repeat: reading the signals back from the book costs one more look-up then.
            for signal in self.book.report(&id).map(|r| r.signals.as_slice()).unwrap_or_default() {
                self.bus.publish(HiveEvent::SignalRaised { member: id.clone(), signal: signal.clone() });
            }
        }
        let answers_cycle = self.cycle.open && cycle == Some(self.cycle.number);
        if answers_cycle && self.cycle.pending.remove(&id) {
            self.cycle.signals += signals;
        }
        self.left_outage(&id);
        self.emergency.note_score(&id, folded.previous, score, || tokio::time::Instant::now().into_std());
        if !folded.repeat {
            self.evaluate_after_report();
        }
        self.maybe_finish_cycle();
    }

    /// A member could not read its subject for want of its source: it answers the cycle, keeps its last verdict
    /// (stale), and counts towards its source's outage, which is never an emergency trigger. Nothing is evaluated:
    /// no verdict changed.
    pub(super) fn on_unreachable(&mut self, posted: Posted<Unreachable>) {
        let Some((report, _)) = self.take_in(posted, |r| (&r.member, r.cycle, 0), false) else {
            return;
        };
        let id = report.member.clone();
        self.bus.publish(HiveEvent::HealthUnknown {
            member: id.clone(),
            source: report.source.clone(),
            reason: report.reason.clone(),
            cycle: report.cycle,
        });
        let changes = self.outages.unreachable(&report, tokio::time::Instant::now(), std::time::SystemTime::now());
        for change in changes {
            self.publish_outage(change);
        }
        if self.cycle.open && report.cycle == Some(self.cycle.number) {
            self.cycle.pending.remove(&id);
        }
        self.maybe_finish_cycle();
    }

    /// Folds in the reports that changed a verdict, in the order they were posted.
    ///
    /// Only those waiting when it starts: a fleet whose verdicts keep changing must not keep the queen from its
    /// mailbox (a shutdown, the next tick).
    pub(super) fn take_changes(&mut self) {
        for _ in 0..self.changes.len() {
            let Ok(posted) = self.changes.try_recv() else { break };
            self.on_report(posted);
        }
    }

    /// What a member posted, if it is to be taken in: not when the member is gone, stopped, escalated or started
    /// again since, and not when a newer report of it was taken first (a change passes the repeats posted before
    /// it); such a report still answers its cycle (with its signals counted), since the member did answer; an
    /// `Unreachable` overtaken so is neither published nor counted towards an outage. With `health`, also whether it is
    /// the incarnation's first health report (looked up here once: this runs for every report of a burst).
    fn take_in<T>(
        &mut self,
        posted: Posted<T>,
        about: impl Fn(&T) -> (&MemberId, Option<u64>, usize),
        health: bool,
    ) -> Option<(T, bool)> {
        let Posted { generation, number, report } = posted;
        let (id, cycle, signals) = about(&report);
        let member =
            self.members.get_mut(id).filter(|m| m.state == MemberState::Running && m.generation == generation)?;
        if number > member.last_report {
            member.last_report = number;
            let first = health && !std::mem::replace(&mut member.reported, true);
            return Some((report, first));
        }
        if self.cycle.open && cycle == Some(self.cycle.number) && self.cycle.pending.remove(id) {
            self.cycle.signals += signals;
            self.maybe_finish_cycle();
        }
        None
    }

    /// Takes a member out of its source's outage (it read again, escalated, stopped or left).
    pub(super) fn left_outage(&mut self, id: &MemberId) {
        if self.outages.is_empty() {
            // After nearly every report: no hash to compute and no clock to read.
            return;
        }
        if let Some(change) = self.outages.reachable(id, tokio::time::Instant::now()) {
            self.publish_outage(change);
        }
    }

    fn publish_outage(&self, change: OutageChange) {
        match change {
            OutageChange::Started(outage) => {
                tracing::warn!(source = %outage.source, reason = %outage.reason, "{} unreachable", outage.source);
                self.bus.publish(HiveEvent::SourceUnreachable { outage });
            }
            OutageChange::Ended { source, after } => {
                tracing::warn!(%source, after_secs = after.as_secs(), "{source} reachable again");
                self.bus.publish(HiveEvent::SourceReachable { source, after });
            }
        }
    }

    /// Publishes the open cycle's progress when it reached a new whole percent, and finishes the cycle when nobody
    /// is left to wait for.
    pub(super) fn maybe_finish_cycle(&mut self) {
        if !self.cycle.open {
            return;
        }
        let (asked, pending) = (self.cycle.asked, self.cycle.pending.len());
        if asked > 0 {
            let answered = asked.saturating_sub(pending);
            let percent = answered * 100 / asked;
            if percent > self.cycle.percent {
                self.cycle.percent = percent;
                self.bus.publish(HiveEvent::CycleProgressed { cycle: self.cycle.number, answered, asked });
            }
        }
        if pending == 0 {
            self.finish_cycle();
        }
    }

    fn finish_cycle(&mut self) {
        self.cycle.open = false;
        let missed_reports = std::mem::take(&mut self.cycle.pending).len();
        let reasons = self.emergency.triggers(&self.book, tokio::time::Instant::now().into_std());
        // A refresh cycle read a few members: it may declare (as any report may), but only whole cycles clear.
        // So is a quiet cycle that an emergency declared while it was open: its verdicts were not read again.
        let partial = match self.cycle.kind {
            CycleKind::Refresh => true,
            CycleKind::Quiet => self.emergency.is_active(),
            CycleKind::Full => false,
        };
        let transition = match partial {
            true if !reasons.is_empty() => self.emergency.after_report(reasons),
            true => None,
            false => self.emergency.after_cycle(reasons),
        };
        if let Some(transition) = transition {
            self.apply_transition(transition);
        }
        // Fleet health (and its level) covers every member; the record's repository counts cover pilots only, so
        // services kept by the hive do not count as repositories.
        let health = self.book.health(self.emergency.is_active());
        let pilots = || self.members.values().filter(|m| m.spec.kind == MemberKind::Pilot);
        let active_pilots = pilots().filter(|m| m.state == MemberState::Running).count();
        let watched: Vec<&MemberId> = pilots()
            .filter(|m| matches!(m.state, MemberState::Running | MemberState::Backoff | MemberState::Escalated))
            .map(|m| &m.spec.id)
            .collect();
        let total = watched.len();
        let reports: Vec<_> = watched.iter().filter_map(|id| self.book.report(id)).collect();
        let healthy = watched
            .iter()
            .filter(|id| {
                self.members.get(**id).is_some_and(|m| m.state != MemberState::Escalated)
                    && self.book.report(id).is_some_and(|r| r.healthy)
            })
            .count();
        let unreachable_repositories = watched.iter().filter(|id| self.outages.is_unreachable(id)).count();
        let mean_score = if reports.is_empty() {
            0.0
        } else {
            reports.iter().map(|r| f64::from(r.score)).sum::<f64>() / reports.len() as f64
        };
        let record = CycleRecord {
            timestamp: rfc3339(std::time::SystemTime::now()),
            orchestration_cycle: self.cycle.number,
            total_repositories: total,
            healthy_repositories: healthy,
            active_pilots,
            issues_detected: self.cycle.signals,
            fixes_attempted: 0,
            emergency_mode: self.emergency.is_active(),
            global_health_score: (mean_score * 10.0).round() / 10.0,
            ecosystem_health: health.level,
            missed_reports,
            unreachable_repositories,
            kind: self.cycle.kind,
        };
        self.tell_emergency();
        // The members that act on the cycle hear of it directly; the bus is for observers and may drop the event.
        self.notify_all(&QueenNotice::CycleClosed { record: Arc::new(record.clone()) });
        self.bus.publish(HiveEvent::CycleCompleted { record });
        // Members named while this cycle was under way are read in a refresh cycle of their own.
        self.arm_refresh();
    }

    /// Tells every member the emergency's state when it differs from what they last heard: declared, cleared, or in
    /// force for other causes. Called before anything else learns of a change (the bus, the notification sink).
    pub(super) fn tell_emergency(&mut self) {
        let now: &[EmergencyReason] = if self.emergency.is_active() { self.emergency.reasons() } else { &[] };
        if *now == *self.told_emergency {
            return;
        }
        let reasons: Arc<[EmergencyReason]> = Arc::from(now);
        self.told_emergency = reasons.clone();
        self.notify_all(&QueenNotice::Emergency { reasons });
    }

    /// An operator withdrew their declaration: clears at once unless other triggers hold.
    pub(super) fn clear_emergency_by_hand(&mut self) {
        self.emergency.withdraw_declaration();
        self.reevaluate_withdrawn();
    }

    /// Causes decided elsewhere (a cluster's leader) imposed, changed, or (empty) lifted: lifted, the emergency
    /// clears at once unless other triggers hold, as when an operator withdraws a declaration.
    pub(super) fn impose_emergency(&mut self, reasons: Vec<EmergencyReason>) {
        let lifted = reasons.is_empty();
        self.emergency.impose(reasons);
        if lifted { self.reevaluate_withdrawn() } else { self.evaluate_after_report() }
    }

    /// After a cause was withdrawn: clears unless another trigger holds, whose causes are then the ones in force.
    fn reevaluate_withdrawn(&mut self) {
        let reasons = self.emergency.triggers(&self.book, tokio::time::Instant::now().into_std());
        if let Some(transition) = self.emergency.clear_by_hand(reasons) {
            self.apply_transition(transition);
        }
        self.tell_emergency();
    }

    pub(super) fn notify_all(&self, notice: &QueenNotice) {
        for handle in self.members.values().filter_map(|m| m.handle.as_ref()) {
            handle.notify(notice);
        }
    }

    /// Checks the triggers after a report or an escalation; may declare, never clears.
    pub(super) fn evaluate_after_report(&mut self) {
        let reasons = self.emergency.triggers(&self.book, tokio::time::Instant::now().into_std());
        if let Some(transition) = self.emergency.after_report(reasons) {
            self.apply_transition(transition);
        }
        self.tell_emergency();
    }

    fn apply_transition(&mut self, transition: Transition) {
        // Members that act hear of it first, before the bus, the notification sink or any member's mode changes.
        self.tell_emergency();
        match transition {
            Transition::Declare(reasons) => self.declare(reasons),
            Transition::Clear { healthy_evaluations } => {
                self.bus.publish(HiveEvent::EmergencyCleared { healthy_evaluations });
                self.set_members_mode(false);
                self.sink.notify(&Notice::EmergencyCleared);
            }
        }
    }

    /// The emergency protocol: event, members into emergency mode, notification, durable snapshot, and one
    /// coordinated recovery attempt (every escalated member resumed once, by message, so this handler never
    /// waits on member start-up).
    fn declare(&mut self, reasons: Vec<EmergencyReason>) {
        self.bus.publish(HiveEvent::EmergencyDeclared { reasons: reasons.clone() });
        self.set_members_mode(true);
        self.sink.notify(&Notice::EmergencyDeclared { reasons: reasons.clone() });
        self.write_snapshot(&reasons);
        // Faster polling starts now: the next tick may have been armed at the normal interval.
        if self.config.cycle_interval.is_some() {
            let interval = self.config.emergency_cycle_interval;
            if self.tick_due.is_none_or(|due| due > tokio::time::Instant::now() + interval) {
                self.schedule_tick(interval);
            }
        }

        let escalated: Vec<MemberId> =
            self.members.iter().filter(|(_, m)| m.state == MemberState::Escalated).map(|(id, _)| id.clone()).collect();
        for id in &escalated {
            let _ = self.myself.cast(super::QueenMessage::Recover(id.clone()));
        }
        self.bus.publish(HiveEvent::RecoveryAttempted { resumed: escalated });
    }

    /// Members into (or out of) emergency mode, after the event is published: the flag for those that follow it
    /// (no message, no actor woken, so the reader of the event does not compete with a fleet of them for the
    /// cores), a command for the others.
    fn set_members_mode(&self, emergency: bool) {
        self.switch.set(emergency);
        let command = if emergency { MemberCommand::EnterEmergency } else { MemberCommand::LeaveEmergency };
        for handle in self.members.values().filter_map(|m| m.handle.as_ref()) {
            if !handle.follows_emergency_flag() {
                handle.command(command);
            }
        }
    }

    fn write_snapshot(&self, reasons: &[EmergencyReason]) {
        let Some(dir) = &self.config.state_dir else { return };
        let status = self.status();
        let now = std::time::SystemTime::now();
        let doc = EmergencySnapshot { timestamp: rfc3339(now), cycle: self.cycle.number, reasons, status: &status };
        let bytes = match serde_json::to_vec_pretty(&doc) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::error!(error = %e, "could not serialise the emergency snapshot");
                return;
            }
        };
        let millis = now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let path = dir.join("snapshots").join(format!("emergency-{millis}-cycle-{}.json", self.cycle.number));
        let (bus, keep) = (self.bus.clone(), self.config.keep_snapshots);
        // fsync can take milliseconds: never in the queen's handler.
        tokio::task::spawn_blocking(move || match write_atomic(&path, &bytes) {
            Ok(()) => {
                if let (Some(keep), Some(dir)) = (keep, path.parent())
                    && let Err(e) = hive_support::prune_numbered(dir, keep, snapshot_time)
                {
                    tracing::warn!(dir = %dir.display(), error = %e, "could not prune old emergency snapshots");
                }
                bus.publish(HiveEvent::SnapshotWritten { path })
            }
            Err(e) => tracing::error!(path = %path.display(), error = %e, "could not write the emergency snapshot"),
        });
    }
}

/// When an emergency snapshot was written, from its name (`emergency-<millis>-cycle-<n>.json`).
fn snapshot_time(name: &str) -> Option<u64> {
    let rest = name.strip_prefix("emergency-")?.strip_suffix(".json")?;
    rest.split_once("-cycle-")?.0.parse().ok()
}
