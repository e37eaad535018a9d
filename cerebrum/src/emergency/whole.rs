//! The emergency protocol over a whole fleet whose members several queens supervise (the nodes of a cluster, each
//! with its share): the same book, triggers and hysteresis as a queen's, fed with every member's latest report as
//! gathered from all of them, evaluated once per cycle by whoever decides for the fleet (the cluster's leader).
//!
//! What the decider hears of the fleet may miss members for a while without their leaving it: a node that died
//! drops out of the others' view before its repositories' leases move, and a lost message leaves a share
//! incomplete until the next. A member missing from an evaluation is therefore kept, with its last report, for a
//! grace period (a cluster's lease ttl and a cycle interval: the time its repository takes to reappear under its
//! next holder) before it counts as gone. Were it forgotten at once, its return would look like a first report,
//! and every member already below the critical score would count as newly critical: a fleet-wide emergency on
//! every failover.
//!
//! For the same reason a decider that takes over from another ([`FleetEmergency::taking_over`]) reads its first
//! evaluation as what the fleet already was: a member below the critical score there, or escalated, did not
//! become so now, and only what changes after it counts as critical.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use super::{EmergencyConfig, EmergencyReason, EmergencyState};
use crate::{HealthReport, MemberId, fleet::FleetBook};

/// One member of the fleet as its queen last knew it.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetMember {
    /// The member.
    pub id: MemberId,
    /// Its latest report, `None` before its first (it counts as not known yet).
    pub report: Option<HealthReport>,
    /// Whether it is escalated (known, and never healthy).
    pub escalated: bool,
}

/// The emergency's decision over a whole fleet. See the module documentation.
#[derive(Debug)]
pub struct FleetEmergency {
    book: FleetBook,
    state: EmergencyState,
    escalated: BTreeSet<MemberId>,
    /// How long a member missing from the evaluations is kept before it counts as gone.
    grace: Duration,
    /// The members missing from the latest evaluation, each since the first evaluation it was missing from.
    absent: BTreeMap<MemberId, Instant>,
    /// Whether the next evaluation only learns what the fleet is (see [`FleetEmergency::taking_over`]).
    baseline: bool,
}

impl FleetEmergency {
    /// No emergency in force, nothing known of the fleet; a member missing from the evaluations for `grace` has
    /// left it (see the module documentation).
    pub fn new(config: EmergencyConfig, grace: Duration) -> FleetEmergency {
        FleetEmergency {
            book: FleetBook::default(),
            state: EmergencyState::new(config),
            escalated: BTreeSet::new(),
            grace,
            absent: BTreeMap::new(),
            baseline: false,
        }
    }

    /// This decider takes over from another that decided for the fleet before it (a leader before this one): its
    /// first evaluation notes no member as newly critical, since what it finds there is what the fleet already was.
    pub fn taking_over(mut self) -> FleetEmergency {
        self.baseline = true;
        self
    }

    /// With an emergency already in force for `reasons` (declared before this decider took over): it clears only
    /// after the configured number of healthy evaluations, as if this decider had declared it.
    pub fn in_force(config: EmergencyConfig, grace: Duration, reasons: Vec<EmergencyReason>) -> FleetEmergency {
        let mut decider = FleetEmergency::new(config, grace);
        decider.state.after_report(reasons);
        decider
    }

    /// One evaluation at the end of a cycle, over every member of the fleet heard of now: may declare, or count
    /// towards clearing. A member not among them is kept with its last report until it has been missing for the
    /// grace period. Returns the causes in force afterwards; none: no emergency.
    pub fn evaluate(&mut self, members: impl IntoIterator<Item = FleetMember>, now: Instant) -> &[EmergencyReason] {
        let mut present = BTreeSet::new();
        for member in members {
            self.book.insert(member.id.clone());
            if let Some(mut report) = member.report {
                report.member = member.id.clone();
                let score = report.score;
                let folded = self.book.fold(report);
                // As a baseline the score is its own previous one: no crossing.
                let previous = if self.baseline { Some(score) } else { folded.previous };
                self.state.note_score(&member.id, previous, score, || now);
            }
            let was = self.escalated.contains(&member.id);
            if member.escalated != was {
                self.book.set_escalated(&member.id, member.escalated);
                if member.escalated {
                    self.escalated.insert(member.id.clone());
                    if !self.baseline {
                        self.state.note_critical(member.id.clone(), now);
                    }
                } else {
                    self.escalated.remove(&member.id);
                }
            }
            present.insert(member.id);
        }
        self.baseline = false;
        self.forget_gone(&present, now);
        let reasons = self.state.triggers(&self.book, now);
        self.state.after_cycle(reasons);
        if self.state.is_active() { self.state.reasons() } else { &[] }
    }

    /// Whether an emergency is in force.
    pub fn is_active(&self) -> bool {
        self.state.is_active()
    }

    /// Notes who is missing from this evaluation, and forgets those missing for longer than the grace period.
    fn forget_gone(&mut self, present: &BTreeSet<MemberId>, now: Instant) {
        self.absent.retain(|id, _| !present.contains(id));
        for id in self.book.members().filter(|id| !present.contains(*id)) {
            self.absent.entry(id.clone()).or_insert(now);
        }
        let grace = self.grace;
        let gone: Vec<MemberId> = self
            .absent
            .iter()
            .filter(|(_, since)| now.saturating_duration_since(**since) > grace)
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            self.absent.remove(&id);
            self.book.remove(&id);
            self.escalated.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CiClass, CiSignature, Signal};

    fn member(id: &str, score: u8, signals: Vec<Signal>) -> FleetMember {
        let report = HealthReport::new(score, score >= 70).with_signals(signals);
        FleetMember { id: MemberId::new(id), report: Some(report), escalated: false }
    }

    /// Twelve members, three failing with one signature: systemic over the fleet, though no share of four has three.
    fn fleet(failing: usize) -> Vec<FleetMember> {
        let signature = CiSignature::new("ci", "tests", None, CiClass::Test);
        (0..12)
            .map(|i| {
                let signals = if i < failing { vec![Signal::ci_failure(signature.clone())] } else { vec![] };
                member(&format!("o/r{i}"), if i < failing { 40 } else { 90 }, signals)
            })
            .collect()
    }

    /// The grace period of these tests.
    const GRACE: Duration = Duration::from_secs(60);

    #[test]
    fn a_fleet_sick_across_shares_declares_and_clears_after_healthy_evaluations() {
        let config = EmergencyConfig { clear_after: 2, ..EmergencyConfig::default() };
        let mut decider = FleetEmergency::new(config, GRACE);
        let now = Instant::now();
        assert!(decider.evaluate(fleet(2), now).is_empty(), "two of twelve is not systemic");
        let reasons = decider.evaluate(fleet(3), now).to_vec();
        assert!(
            matches!(reasons.as_slice(), [EmergencyReason::SystemicFailure { members, .. }] if members.len() == 3),
            "{reasons:?}"
        );
        assert!(!decider.evaluate(fleet(0), now).is_empty(), "one healthy evaluation is not enough");
        assert!(decider.evaluate(fleet(0), now).is_empty(), "two are");
        // Members gone from the fleet no longer count: nine left, three failing, still systemic.
        let smaller: Vec<FleetMember> = fleet(3).into_iter().take(9).collect();
        let later = now + GRACE + Duration::from_secs(1);
        assert!(!decider.evaluate(smaller, later).is_empty());
    }

    #[test]
    fn a_member_missing_for_less_than_the_grace_period_keeps_its_last_report() {
        let config = EmergencyConfig { clear_after: 1, ..EmergencyConfig::default() };
        let mut decider = FleetEmergency::new(config.clone(), GRACE);
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        // Three members below the critical score from the first report: critical once, then the window passes.
        let mut members = fleet(0);
        for member in members.iter_mut().take(3) {
            member.report = Some(HealthReport::new(10, false));
        }
        let first = decider.evaluate(members.clone(), at(0)).to_vec();
        assert!(matches!(first.as_slice(), [EmergencyReason::CriticalMembers { .. }]), "{first:?}");
        let past_window = config.critical_window.as_secs() + 1;
        assert!(decider.evaluate(members.clone(), at(past_window)).is_empty(), "cleared once the window passed");

        // Their node dies: they are missing from the next evaluations, and come back under another node as they
        // were. Nothing became critical.
        let survivors: Vec<FleetMember> = members[6..].to_vec();
        assert!(decider.evaluate(survivors.clone(), at(past_window + 1)).is_empty());
        assert!(decider.evaluate(survivors, at(past_window + 30)).is_empty());
        let back = decider.evaluate(members.clone(), at(past_window + 40)).to_vec();
        assert!(back.is_empty(), "members back within the grace period counted as newly critical: {back:?}");

        // Missing for longer than the grace period, they left: back, they are new members, and critical.
        let survivors: Vec<FleetMember> = members[6..].to_vec();
        assert!(decider.evaluate(survivors.clone(), at(past_window + 50)).is_empty());
        assert!(decider.evaluate(survivors, at(past_window + 50 + GRACE.as_secs() + 1)).is_empty());
        let new = decider.evaluate(members, at(past_window + 50 + GRACE.as_secs() + 2)).to_vec();
        assert!(matches!(new.as_slice(), [EmergencyReason::CriticalMembers { .. }]), "{new:?}");
    }

    #[test]
    fn a_failing_member_missing_holds_the_emergency_until_the_grace_period_ends() {
        let config = EmergencyConfig { clear_after: 1, ..EmergencyConfig::default() };
        let mut decider = FleetEmergency::new(config, GRACE);
        let start = Instant::now();
        assert!(!decider.evaluate(fleet(3), start).is_empty(), "systemic");
        // The three failing members are missing: their last reports still count, until they are gone.
        let rest: Vec<FleetMember> = fleet(3).into_iter().skip(3).collect();
        let missing = start + Duration::from_secs(1);
        assert!(!decider.evaluate(rest.clone(), missing).is_empty(), "missing since now");
        assert!(!decider.evaluate(rest.clone(), missing + GRACE).is_empty(), "still within the grace period");
        let after = missing + GRACE + Duration::from_secs(1);
        assert!(decider.evaluate(rest, after).is_empty(), "gone, and the rest healthy");
    }

    #[test]
    fn an_emergency_taken_over_needs_healthy_evaluations_to_clear_and_escalations_count_as_critical() {
        let config = EmergencyConfig { clear_after: 2, ..EmergencyConfig::default() };
        let mut decider = FleetEmergency::in_force(config, GRACE, vec![EmergencyReason::Forced]);
        let now = Instant::now();
        assert!(decider.is_active());
        assert_eq!(decider.evaluate(fleet(0), now), [EmergencyReason::Forced], "in force until it clears");
        assert!(decider.evaluate(fleet(0), now).is_empty());

        let mut members = fleet(0);
        for member in members.iter_mut().take(3) {
            member.escalated = true;
        }
        let reasons = decider.evaluate(members, now).to_vec();
        assert!(reasons.iter().any(|r| matches!(r, EmergencyReason::CriticalMembers { .. })), "{reasons:?}");
    }

    #[test]
    fn a_decider_taking_over_counts_only_what_becomes_critical_after_its_first_evaluation() {
        let config = EmergencyConfig::default();
        let now = Instant::now();
        // Three members long below the critical score, one escalated: what a leader before this one knew.
        let mut members = fleet(0);
        for member in members.iter_mut().take(3) {
            member.report = Some(HealthReport::new(10, false));
        }
        members[3].escalated = true;
        // A decider starting afresh counts them as newly critical, as a queen does its members' first reports.
        let fresh = FleetEmergency::new(config.clone(), GRACE).evaluate(members.clone(), now).to_vec();
        assert!(matches!(fresh.as_slice(), [EmergencyReason::CriticalMembers { .. }]), "{fresh:?}");

        let mut decider = FleetEmergency::new(config, GRACE).taking_over();
        assert!(decider.evaluate(members.clone(), now).is_empty(), "what the fleet already was");
        assert!(decider.evaluate(members.clone(), now).is_empty(), "and stays");
        // Two more fall below it and another is escalated after the take-over: three new, critical.
        for member in members.iter_mut().skip(4).take(2) {
            member.report = Some(HealthReport::new(10, false));
        }
        members[6].escalated = true;
        let reasons = decider.evaluate(members, now).to_vec();
        let new: Vec<MemberId> = ["o/r4", "o/r5", "o/r6"].into_iter().map(MemberId::new).collect();
        assert!(
            reasons.iter().any(|r| matches!(r, EmergencyReason::CriticalMembers { members, .. } if *members == new)),
            "{reasons:?}"
        );
    }
}
