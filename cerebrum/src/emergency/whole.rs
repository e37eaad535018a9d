//! The emergency protocol over a whole fleet whose members several queens supervise (the nodes of a cluster, each
//! with its share): the same book, triggers and hysteresis as a queen's, fed with every member's latest report as
//! gathered from all of them, evaluated once per cycle by whoever decides for the fleet (the cluster's leader).

use std::{collections::BTreeSet, time::Instant};

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
}

impl FleetEmergency {
    /// No emergency in force, nothing known of the fleet.
    pub fn new(config: EmergencyConfig) -> FleetEmergency {
        FleetEmergency { book: FleetBook::default(), state: EmergencyState::new(config), escalated: BTreeSet::new() }
    }

    /// With an emergency already in force for `reasons` (declared before this decider took over): it clears only
    /// after the configured number of healthy evaluations, as if this decider had declared it.
    pub fn in_force(config: EmergencyConfig, reasons: Vec<EmergencyReason>) -> FleetEmergency {
        let mut decider = FleetEmergency::new(config);
        decider.state.after_report(reasons);
        decider
    }

    /// One evaluation at the end of a cycle, over every member of the fleet now (members not among them have left
    /// it): may declare, or count towards clearing. Returns the causes in force afterwards; none: no emergency.
    pub fn evaluate(&mut self, members: impl IntoIterator<Item = FleetMember>, now: Instant) -> &[EmergencyReason] {
        let mut present = BTreeSet::new();
        for member in members {
            self.book.insert(member.id.clone());
            if let Some(mut report) = member.report {
                report.member = member.id.clone();
                let score = report.score;
                let folded = self.book.fold(report);
                self.state.note_score(member.id.clone(), folded.previous, score, now);
            }
            let was = self.escalated.contains(&member.id);
            if member.escalated != was {
                self.book.set_escalated(&member.id, member.escalated);
                if member.escalated {
                    self.escalated.insert(member.id.clone());
                    self.state.note_critical(member.id.clone(), now);
                } else {
                    self.escalated.remove(&member.id);
                }
            }
            present.insert(member.id);
        }
        let gone: Vec<MemberId> = self.book.members().filter(|id| !present.contains(*id)).cloned().collect();
        for id in gone {
            self.book.remove(&id);
            self.escalated.remove(&id);
        }
        let reasons = self.state.triggers(&self.book, now);
        self.state.after_cycle(reasons);
        if self.state.is_active() { self.state.reasons() } else { &[] }
    }

    /// Whether an emergency is in force.
    pub fn is_active(&self) -> bool {
        self.state.is_active()
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

    #[test]
    fn a_fleet_sick_across_shares_declares_and_clears_after_healthy_evaluations() {
        let config = EmergencyConfig { clear_after: 2, ..EmergencyConfig::default() };
        let mut decider = FleetEmergency::new(config);
        let now = Instant::now();
        assert!(decider.evaluate(fleet(2), now).is_empty(), "two of twelve is not systemic");
        let reasons = decider.evaluate(fleet(3), now).to_vec();
        assert!(
            matches!(reasons.as_slice(), [EmergencyReason::SystemicFailure { members, .. }] if members.len() == 3),
            "{reasons:?}"
        );
        assert!(!decider.evaluate(fleet(0), now).is_empty(), "one healthy evaluation is not enough");
        assert!(decider.evaluate(fleet(0), now).is_empty(), "two are");
        // A member gone from the fleet no longer counts: nine left, three failing, still systemic.
        let smaller: Vec<FleetMember> = fleet(3).into_iter().take(9).collect();
        assert!(!decider.evaluate(smaller, now).is_empty());
    }

    #[test]
    fn an_emergency_taken_over_needs_healthy_evaluations_to_clear_and_escalations_count_as_critical() {
        let config = EmergencyConfig { clear_after: 2, ..EmergencyConfig::default() };
        let mut decider = FleetEmergency::in_force(config, vec![EmergencyReason::Forced]);
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
}
