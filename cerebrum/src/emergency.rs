//! The emergency protocol's decisions: which triggers hold, when to declare, when to clear (with hysteresis), and
//! where notifications go. The queen carries out the actions; everything here is pure or nearly so. [`FleetEmergency`]
//! takes the same decisions over reports gathered from several queens (the nodes of a cluster).

mod whole;

pub use self::whole::{FleetEmergency, FleetMember};

use std::{
    collections::{BTreeSet, VecDeque},
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use crate::{CiSignature, MemberId, fleet::FleetBook};

/// Thresholds of the emergency triggers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmergencyConfig {
    /// Trigger when the healthy share of the fleet is below this (default 0.5)...
    pub fleet_health_below: f64,
    /// ... once at least this many members have a verdict (default 5): in a fleet of one, a single unhealthy
    /// repository is "0 % healthy", which says nothing about a fleet.
    pub min_fleet: usize,
    /// The fleet-health trigger is only considered once this share of members has a known verdict (default 0.9),
    /// so that the first few reports of a starting fleet do not declare an emergency.
    pub min_known_share: f64,
    /// A member whose score falls below this is critical (default 25).
    pub critical_score: u8,
    /// Trigger when this many distinct members became critical or escalated within `critical_window` (default 3;
    /// 0 disables)...
    pub critical_members: usize,
    /// ... and at least this share of the fleet (default 0.1), so that in a large fleet a few members failing
    /// independently, as some always do, are not an emergency. The trigger needs both the count and the share.
    pub critical_share: f64,
    /// The window for `critical_members` (default 5 minutes).
    pub critical_window: Duration,
    /// Trigger on any critical security signal (default true).
    pub critical_security: bool,
    /// Trigger when this many members fail with the same CI failure signature (default 3; 0 disables)...
    pub systemic_members: usize,
    /// ... and at least this share of the fleet (default 0.1), like `critical_share`: three repositories of a
    /// hundred broken by the same new lint rule are three chores, not a systemic emergency.
    pub systemic_share: f64,
    /// Clear after this many consecutive cycle evaluations in which no trigger held (default 3).
    pub clear_after: u32,
    /// Declared from the start and never cleared (the `EMERGENCY_MODE` switch).
    pub forced: bool,
}

impl Default for EmergencyConfig {
    fn default() -> EmergencyConfig {
        EmergencyConfig {
            fleet_health_below: 0.5,
            min_fleet: 5,
            min_known_share: 0.9,
            critical_score: 25,
            critical_members: 3,
            critical_share: 0.1,
            critical_window: Duration::from_secs(300),
            critical_security: true,
            systemic_members: 3,
            systemic_share: 0.1,
            clear_after: 3,
            forced: false,
        }
    }
}

/// Why an emergency was declared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "trigger", rename_all = "snake_case")]
pub enum EmergencyReason {
    /// Too small a share of the fleet is healthy.
    FleetHealthLow {
        /// The healthy share.
        share: f64,
        /// The threshold it fell below.
        threshold: f64,
    },
    /// Several members became critical or escalated at about the same time.
    CriticalMembers {
        /// Those members.
        members: Vec<MemberId>,
        /// The window.
        window: Duration,
    },
    /// A critical security signal.
    CriticalSecurity {
        /// Members with one.
        members: Vec<MemberId>,
    },
    /// The same CI failure in many members.
    SystemicFailure {
        /// Which failure; its text is the one people saw before the signature was typed.
        signature: CiSignature,
        /// Members failing with it.
        members: Vec<MemberId>,
    },
    /// Switched on by configuration.
    Forced,
    /// Declared by someone (an operator's command); holds until they clear it.
    Declared {
        /// Who declared it.
        by: String,
    },
}

impl std::fmt::Display for EmergencyReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EmergencyReason::FleetHealthLow { share, threshold } => {
                write!(f, "fleet health {:.0}% is below {:.0}%", share * 100.0, threshold * 100.0)
            }
            EmergencyReason::CriticalMembers { members, window } => {
                write!(f, "{} members critical or escalated within {}s", members.len(), window.as_secs())
            }
            EmergencyReason::CriticalSecurity { members } => {
                write!(f, "critical security alert in {} member(s)", members.len())
            }
            EmergencyReason::SystemicFailure { signature, members } => {
                write!(f, "systemic failure '{signature}' in {} members", members.len())
            }
            EmergencyReason::Forced => f.write_str("emergency mode forced by configuration"),
            EmergencyReason::Declared { by } => write!(f, "declared by {by}"),
        }
    }
}

/// A change of emergency state.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Transition {
    Declare(Vec<EmergencyReason>),
    Clear { healthy_evaluations: u32 },
}

/// The emergency state machine: declare as soon as any trigger holds, clear after `clear_after` consecutive
/// healthy cycle evaluations.
#[derive(Debug)]
pub(crate) struct EmergencyState {
    config: EmergencyConfig,
    active: bool,
    /// While active: the triggers that held at the latest evaluation that found any.
    reasons: Vec<EmergencyReason>,
    healthy_streak: u32,
    recent_critical: VecDeque<(Instant, MemberId)>,
    /// Who declared an emergency by hand, until they clear it.
    declared_by: Option<String>,
    /// Causes decided elsewhere (a cluster's leader, over the whole fleet), in force until lifted.
    imposed: Vec<EmergencyReason>,
}

impl EmergencyState {
    pub(crate) fn new(config: EmergencyConfig) -> EmergencyState {
        EmergencyState {
            config,
            active: false,
            reasons: Vec::new(),
            healthy_streak: 0,
            recent_critical: VecDeque::new(),
            declared_by: None,
            imposed: Vec::new(),
        }
    }

    /// Imposes causes decided elsewhere: triggers as long as they are imposed. Empty lifts them; the caller then
    /// re-evaluates as after a declaration withdrawn ([`EmergencyState::clear_by_hand`]), since whoever imposed
    /// them already waited for the fleet to be healthy.
    pub(crate) fn impose(&mut self, reasons: Vec<EmergencyReason>) {
        self.imposed = reasons;
    }

    /// Notes a member's new score: critical when it falls below the threshold from at or above it (or from no
    /// score). The clock is read only then: this runs for every report of a cycle's burst.
    pub(crate) fn note_score(
        &mut self,
        member: &MemberId,
        previous: Option<u8>,
        score: u8,
        now: impl FnOnce() -> Instant,
    ) {
        let critical = self.config.critical_score;
        if score < critical && previous.is_none_or(|previous| previous >= critical) {
            self.note_critical(member.clone(), now());
        }
    }

    pub(crate) fn is_active(&self) -> bool {
        self.active
    }

    /// While active, the triggers that held at the latest evaluation that found any; empty otherwise.
    pub(crate) fn reasons(&self) -> &[EmergencyReason] {
        &self.reasons
    }

    /// Notes that a member became critical (score dropped below the threshold) or was escalated.
    pub(crate) fn note_critical(&mut self, member: MemberId, now: Instant) {
        self.recent_critical.push_back((now, member));
    }

    /// Which triggers hold now.
    pub(crate) fn triggers(&mut self, book: &FleetBook, now: Instant) -> Vec<EmergencyReason> {
        let c = &self.config;
        let mut reasons = Vec::new();
        if c.forced {
            reasons.push(EmergencyReason::Forced);
        }
        if let Some(by) = &self.declared_by {
            reasons.push(EmergencyReason::Declared { by: by.clone() });
        }
        reasons.extend(self.imposed.iter().cloned());
        let health = book.health(false);
        if health.total > 0
            && health.known >= c.min_fleet
            && health.known as f64 >= c.min_known_share * health.total as f64
            && health.share < c.fleet_health_below
        {
            reasons.push(EmergencyReason::FleetHealthLow { share: health.share, threshold: c.fleet_health_below });
        }
        while let Some((at, _)) = self.recent_critical.front() {
            if now.saturating_duration_since(*at) >= c.critical_window {
                self.recent_critical.pop_front();
            } else {
                break;
            }
        }
        if c.critical_members > 0 {
            let members: BTreeSet<&MemberId> = self.recent_critical.iter().map(|(_, m)| m).collect();
            if members.len() >= at_least(c.critical_members, c.critical_share, health.total) {
                reasons.push(EmergencyReason::CriticalMembers {
                    members: members.into_iter().cloned().collect(),
                    window: c.critical_window,
                });
            }
        }
        if c.critical_security && !book.critical_security().is_empty() {
            reasons.push(EmergencyReason::CriticalSecurity {
                members: book.critical_security().iter().cloned().collect(),
            });
        }
        if c.systemic_members > 0 {
            let needed = at_least(c.systemic_members, c.systemic_share, health.total);
            let mut systemic: Vec<_> = book
                .signatures()
                .iter()
                .filter(|(_, members)| members.len() >= needed)
                .map(|(signature, members)| EmergencyReason::SystemicFailure {
                    signature: signature.clone(),
                    members: members.iter().cloned().collect(),
                })
                .collect();
            systemic.sort_by(|a, b| format!("{a}").cmp(&format!("{b}")));
            reasons.extend(systemic);
        }
        reasons
    }

    /// Someone declares an emergency by hand: a trigger until [`EmergencyState::clear_by_hand`]. The caller
    /// evaluates next, as after a report.
    pub(crate) fn declare_by_hand(&mut self, by: String) {
        self.declared_by = Some(by);
    }

    /// The hand-made declaration is withdrawn; `reasons` are the triggers that hold without it. Clears at once when
    /// none does (someone decided, no healthy cycles need to confirm it); otherwise the emergency stays for them.
    pub(crate) fn clear_by_hand(&mut self, reasons: Vec<EmergencyReason>) -> Option<Transition> {
        if !self.active {
            return None;
        }
        if !reasons.is_empty() {
            self.reasons = reasons;
            return None;
        }
        self.active = false;
        self.reasons.clear();
        self.healthy_streak = 0;
        Some(Transition::Clear { healthy_evaluations: 0 })
    }

    /// Withdraws a hand-made declaration before the triggers are evaluated for [`EmergencyState::clear_by_hand`].
    pub(crate) fn withdraw_declaration(&mut self) {
        self.declared_by = None;
    }

    /// An evaluation after a report: may declare, never clears (clearing waits for whole cycles).
    pub(crate) fn after_report(&mut self, reasons: Vec<EmergencyReason>) -> Option<Transition> {
        if reasons.is_empty() {
            return None;
        }
        self.healthy_streak = 0;
        if self.active {
            // Still in force: the causes recovery may answer are the ones that hold now.
            self.reasons = reasons;
            return None;
        }
        self.active = true;
        self.reasons.clone_from(&reasons);
        Some(Transition::Declare(reasons))
    }

    /// An evaluation at the end of a cycle: may declare, or count towards clearing.
    pub(crate) fn after_cycle(&mut self, reasons: Vec<EmergencyReason>) -> Option<Transition> {
        if !reasons.is_empty() {
            return self.after_report(reasons);
        }
        if !self.active {
            return None;
        }
        self.healthy_streak += 1;
        if self.healthy_streak >= self.config.clear_after {
            let healthy_evaluations = self.healthy_streak;
            self.active = false;
            self.reasons.clear();
            self.healthy_streak = 0;
            return Some(Transition::Clear { healthy_evaluations });
        }
        None
    }
}

/// How many of `total` members a count-and-share trigger needs: at least `count`, and at least `share` of the
/// fleet (rounded up), so that a small fleet is judged by the count and a large one by the share.
fn at_least(count: usize, share: f64, total: usize) -> usize {
    count.max((share.clamp(0.0, 1.0) * total as f64).ceil() as usize)
}

/// A notification the emergency protocol sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// An emergency was declared.
    EmergencyDeclared {
        /// Why.
        reasons: Vec<EmergencyReason>,
    },
    /// The emergency cleared.
    EmergencyCleared,
}

/// Where emergency notifications go (log now; chat, mail or an issue later).
///
/// `notify` is called from the queen's handler: it must return quickly and do slow work in a task of its own.
pub trait NotificationSink: Send + Sync + 'static {
    /// Delivers one notice.
    fn notify(&self, notice: &Notice);
}

/// Writes notices to the log.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogSink;

impl NotificationSink for LogSink {
    fn notify(&self, notice: &Notice) {
        match notice {
            Notice::EmergencyDeclared { reasons } => {
                let reasons: Vec<String> = reasons.iter().map(ToString::to_string).collect();
                tracing::error!(reasons = %reasons.join("; "), "emergency declared");
            }
            Notice::EmergencyCleared => tracing::warn!("emergency cleared"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CiClass, HealthReport, Severity, Signal};

    fn book(reports: &[(&str, u8, bool, Vec<Signal>)]) -> FleetBook {
        let mut book = FleetBook::default();
        for (id, score, healthy, signals) in reports {
            book.insert(MemberId::new(id));
            book.record(HealthReport {
                member: MemberId::new(id),
                ..HealthReport::new(*score, *healthy).with_signals(signals.clone())
            });
        }
        book
    }

    fn kinds(reasons: &[EmergencyReason]) -> Vec<&'static str> {
        reasons
            .iter()
            .map(|r| match r {
                EmergencyReason::FleetHealthLow { .. } => "fleet",
                EmergencyReason::CriticalMembers { .. } => "critical",
                EmergencyReason::CriticalSecurity { .. } => "security",
                EmergencyReason::SystemicFailure { .. } => "systemic",
                EmergencyReason::Forced => "forced",
                EmergencyReason::Declared { .. } => "declared",
            })
            .collect()
    }

    /// A fleet of `healthy` members scoring 90 and `unhealthy` ones scoring 40 (below healthy, above critical).
    fn fleet(healthy: usize, unhealthy: usize) -> FleetBook {
        let mut b = FleetBook::default();
        for i in 0..healthy + unhealthy {
            let id = MemberId::new(format!("m{i}"));
            b.insert(id.clone());
            let (score, ok) = if i < healthy { (90, true) } else { (40, false) };
            b.record(HealthReport { member: id, ..HealthReport::new(score, ok) });
        }
        b
    }

    #[test]
    fn fleet_health_trigger_needs_a_fleet_and_a_share_below_the_threshold() {
        // (healthy, unhealthy, min_fleet, fires)
        let table = [
            // One local repository scoring 67 is "0 % healthy", but no fleet.
            (0, 1, 5, false),
            (0, 4, 5, false),
            (0, 5, 5, true),
            // 2 of 5 healthy = 40 %.
            (2, 3, 5, true),
            // Exactly 50 % is not below.
            (2, 2, 0, false),
            (3, 3, 5, false),
            // 1 of 3 healthy is below, once three verdicts make a fleet.
            (1, 2, 3, true),
            (1, 2, 4, false),
            // No minimum: one unhealthy member is enough.
            (0, 1, 0, true),
        ];
        for (healthy, unhealthy, min_fleet, fires) in table {
            let config = EmergencyConfig { min_fleet, ..EmergencyConfig::default() };
            let mut state = EmergencyState::new(config);
            let found = kinds(&state.triggers(&fleet(healthy, unhealthy), Instant::now()));
            let expected: &[&str] = if fires { &["fleet"] } else { &[] };
            assert_eq!(found, expected, "{healthy} healthy, {unhealthy} unhealthy, min_fleet {min_fleet}");
        }
    }

    #[test]
    fn systemic_trigger_needs_a_count_and_a_share_of_the_fleet() {
        let signature = CiSignature::new("ci", "lint", Some("clippy"), CiClass::Lint);
        // (failing with the signature, fleet size, systemic_members, systemic_share, fires)
        let table = [
            (3, 5, 3, 0.1, true),
            (2, 5, 3, 0.1, false),
            // A new lint rule breaking 3 of 100 is not systemic; 10 of 100 is.
            (3, 100, 3, 0.1, false),
            (9, 100, 3, 0.1, false),
            (10, 100, 3, 0.1, true),
            // The share is rounded up: 10 % of 31 needs 4.
            (3, 31, 3, 0.1, false),
            (4, 31, 3, 0.1, true),
            // No share: the count alone decides.
            (3, 100, 3, 0.0, true),
            // A share above 1 counts as the whole fleet.
            (5, 5, 3, 7.0, true),
            (4, 5, 3, 7.0, false),
            // 0 members disables the trigger.
            (5, 5, 0, 0.1, false),
        ];
        for (failing, size, systemic_members, systemic_share, fires) in table {
            let mut b = FleetBook::default();
            for i in 0..size {
                let id = MemberId::new(format!("m{i}"));
                b.insert(id.clone());
                let signals = if i < failing { vec![Signal::ci_failure(signature.clone())] } else { vec![] };
                b.record(HealthReport { member: id, ..HealthReport::new(80, true).with_signals(signals) });
            }
            let config = EmergencyConfig { systemic_members, systemic_share, ..EmergencyConfig::default() };
            let found = kinds(&EmergencyState::new(config).triggers(&b, Instant::now()));
            let expected: &[&str] = if fires { &["systemic"] } else { &[] };
            assert_eq!(found, expected, "{failing} of {size}, members {systemic_members}, share {systemic_share}");
        }
    }

    #[test]
    fn fleet_health_trigger_waits_for_enough_reports() {
        let mut b = book(&[("a", 10, false, vec![])]);
        for id in ["b", "c", "d"] {
            b.insert(MemberId::new(id));
        }
        let config = EmergencyConfig { critical_members: 0, min_fleet: 0, ..EmergencyConfig::default() };
        let mut state = EmergencyState::new(config);
        assert!(state.triggers(&b, Instant::now()).is_empty(), "1 of 4 known is not enough to judge the fleet");
    }

    #[test]
    fn critical_members_within_window() {
        let config =
            EmergencyConfig { critical_members: 3, critical_window: Duration::from_secs(10), ..Default::default() };
        let mut state = EmergencyState::new(config);
        let b = FleetBook::default();
        let t0 = Instant::now();
        state.note_critical(MemberId::new("a"), t0);
        state.note_critical(MemberId::new("b"), t0 + Duration::from_secs(1));
        state.note_critical(MemberId::new("b"), t0 + Duration::from_secs(2));
        assert!(state.triggers(&b, t0 + Duration::from_secs(2)).is_empty(), "b twice is still two members");
        state.note_critical(MemberId::new("c"), t0 + Duration::from_secs(9));
        assert_eq!(kinds(&state.triggers(&b, t0 + Duration::from_secs(9))), ["critical"]);
        // a's note leaves the window.
        assert!(state.triggers(&b, t0 + Duration::from_secs(10)).is_empty());
    }

    #[test]
    fn critical_members_take_a_share_of_a_large_fleet_as_well_as_a_count() {
        let mut b = FleetBook::default();
        for i in 0..200 {
            b.insert(MemberId::new(format!("m{i}")));
        }
        let mut state = EmergencyState::new(EmergencyConfig::default());
        let t0 = Instant::now();
        // 3 of 200 is the count but not 10 % of the fleet: members fail independently all the time in a big fleet.
        for i in 0..19 {
            state.note_critical(MemberId::new(format!("m{i}")), t0);
            assert!(state.triggers(&b, t0).is_empty(), "{} of 200 critical", i + 1);
        }
        state.note_critical(MemberId::new("m19"), t0);
        assert_eq!(kinds(&state.triggers(&b, t0)), ["critical"], "20 of 200 is 10 %");

        // In a small fleet the count decides: 3 of 5.
        let mut small = FleetBook::default();
        for id in ["a", "b", "c", "d", "e"] {
            small.insert(MemberId::new(id));
        }
        let mut state = EmergencyState::new(EmergencyConfig::default());
        for id in ["a", "b"] {
            state.note_critical(MemberId::new(id), t0);
        }
        assert!(state.triggers(&small, t0).is_empty());
        state.note_critical(MemberId::new("c"), t0);
        assert_eq!(kinds(&state.triggers(&small, t0)), ["critical"]);
    }

    #[test]
    fn security_and_systemic_triggers() {
        let sig = || Signal::ci_failure(CiSignature::new("ci", "build", Some("compile"), CiClass::Build));
        let config = EmergencyConfig { systemic_members: 3, ..Default::default() };
        let mut state = EmergencyState::new(config);
        let b = book(&[
            ("a", 80, true, vec![sig()]),
            ("b", 80, true, vec![sig()]),
            ("c", 80, true, vec![Signal::security(Severity::High, "high")]),
        ]);
        assert!(state.triggers(&b, Instant::now()).is_empty());
        let b = book(&[
            ("a", 80, true, vec![sig()]),
            ("b", 80, true, vec![sig()]),
            ("c", 80, true, vec![sig(), Signal::security(Severity::Critical, "CVE-1")]),
        ]);
        assert_eq!(kinds(&state.triggers(&b, Instant::now())), ["security", "systemic"]);
    }

    #[test]
    fn the_reasons_in_force_follow_the_latest_evaluation_and_go_with_the_clearance() {
        let mut state = EmergencyState::new(EmergencyConfig { clear_after: 1, ..Default::default() });
        assert!(state.reasons().is_empty());
        let systemic = EmergencyReason::SystemicFailure {
            signature: crate::CiSignature {
                workflow: "ci".to_owned(),
                job: "fmt".to_owned(),
                step: None,
                class: crate::CiClass::Lint,
            },
            members: vec![MemberId::new("a")],
        };
        state.after_report(vec![EmergencyReason::Forced]);
        assert_eq!(state.reasons(), [EmergencyReason::Forced]);
        state.after_report(vec![EmergencyReason::Forced, systemic.clone()]);
        assert_eq!(state.reasons(), [EmergencyReason::Forced, systemic], "a cause that appears while active counts");
        assert!(matches!(state.after_cycle(vec![]), Some(Transition::Clear { .. })));
        assert!(state.reasons().is_empty());
    }

    #[test]
    fn imposed_causes_hold_until_lifted_and_then_clear_at_once_unless_a_declaration_holds() {
        let mut state = EmergencyState::new(EmergencyConfig::default());
        let book = FleetBook::default();
        let imposed = EmergencyReason::CriticalSecurity { members: vec![MemberId::new("o/r")] };
        state.impose(vec![imposed.clone()]);
        let reasons = state.triggers(&book, Instant::now());
        assert!(matches!(state.after_report(reasons), Some(Transition::Declare(r)) if r == [imposed.clone()]));
        let reasons = state.triggers(&book, Instant::now());
        assert!(state.after_cycle(reasons).is_none(), "held while imposed");
        state.declare_by_hand("ops".to_owned());
        state.impose(Vec::new());
        let reasons = state.triggers(&book, Instant::now());
        assert_eq!(state.clear_by_hand(reasons), None, "the declaration still holds");
        assert_eq!(state.reasons(), [EmergencyReason::Declared { by: "ops".to_owned() }]);
        state.withdraw_declaration();
        let reasons = state.triggers(&book, Instant::now());
        assert!(matches!(state.clear_by_hand(reasons), Some(Transition::Clear { .. })));
    }

    #[test]
    fn declare_then_clear_with_hysteresis() {
        let mut state = EmergencyState::new(EmergencyConfig { clear_after: 3, ..Default::default() });
        assert_eq!(state.after_cycle(vec![]), None);
        assert!(matches!(state.after_report(vec![EmergencyReason::Forced]), Some(Transition::Declare(_))));
        // Already active: no second declaration.
        assert_eq!(state.after_report(vec![EmergencyReason::Forced]), None);
        assert_eq!(state.after_cycle(vec![]), None);
        assert_eq!(state.after_cycle(vec![]), None);
        // A relapse resets the streak.
        assert_eq!(state.after_cycle(vec![EmergencyReason::Forced]), None);
        assert_eq!(state.after_cycle(vec![]), None);
        assert_eq!(state.after_cycle(vec![]), None);
        assert_eq!(state.after_cycle(vec![]), Some(Transition::Clear { healthy_evaluations: 3 }));
        assert!(!state.is_active());
        // Reports alone never clear.
        assert!(matches!(state.after_report(vec![EmergencyReason::Forced]), Some(Transition::Declare(_))));
        assert_eq!(state.after_report(vec![]), None);
        assert!(state.is_active());
    }
}
