//! Fleet health: the share of members that are healthy, its level, and the incremental book the queen keeps so
//! that a report is folded in without a pass over the whole fleet.

use std::collections::{BTreeSet, HashMap};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::{CiSignature, HealthReport, MemberId, SignalKind};

/// The fleet's health level.
///
/// Boundaries, on the healthy share `s`: `s > 0.9` EXCELLENT; `0.7 <= s <= 0.9` GOOD; `0.5 <= s < 0.7` WARNING;
/// `s < 0.5` CRITICAL. EMERGENCY is not a share: it is the level while the emergency protocol is active; UNKNOWN is
/// the level while no member has a verdict (nothing read yet, every read failed), which no share can say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HealthLevel {
    /// More than 90 % healthy.
    Excellent,
    /// 70 % to 90 % healthy.
    Good,
    /// 50 % to just under 70 % healthy.
    Warning,
    /// Under 50 % healthy.
    Critical,
    /// The emergency protocol is active.
    Emergency,
    /// No member has a verdict yet.
    Unknown,
}

impl HealthLevel {
    /// The level for a healthy share in `[0, 1]`.
    pub fn from_share(share: f64) -> HealthLevel {
        if share > 0.9 {
            HealthLevel::Excellent
        } else if share >= 0.7 {
            HealthLevel::Good
        } else if share >= 0.5 {
            HealthLevel::Warning
        } else {
            HealthLevel::Critical
        }
    }

    /// Upper-case name, as in the analytics record.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthLevel::Excellent => "EXCELLENT",
            HealthLevel::Good => "GOOD",
            HealthLevel::Warning => "WARNING",
            HealthLevel::Critical => "CRITICAL",
            HealthLevel::Emergency => "EMERGENCY",
            HealthLevel::Unknown => "UNKNOWN",
        }
    }
}

/// The fleet's health at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetHealth {
    /// Members supervised.
    pub total: usize,
    /// Members with a known verdict (reported at least once, or escalated).
    pub known: usize,
    /// Members whose verdict is healthy (escalated members never are).
    pub healthy: usize,
    /// `healthy / known`, or 1.0 when nothing is known yet (the level then says UNKNOWN).
    pub share: f64,
    /// Mean score of the members that reported, 0-100.
    pub mean_score: f64,
    /// The level.
    pub level: HealthLevel,
}

#[derive(Debug, Default)]
struct Entry {
    report: Option<HealthReport>,
    escalated: bool,
}

impl Entry {
    fn known(&self) -> bool {
        self.escalated || self.report.is_some()
    }
    fn healthy(&self) -> bool {
        !self.escalated && self.report.as_ref().is_some_and(|r| r.healthy)
    }
}

/// What folding one report into the [`FleetBook`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Folded {
    /// The member's previous score, if it had reported.
    pub(crate) previous: Option<u8>,
    /// Whether the report repeats the previous one in everything the totals, the indexes and the emergency triggers
    /// read (score, verdict and signals).
    pub(crate) repeat: bool,
}

/// Latest report per member, with running totals and indexes the emergency triggers read.
#[derive(Debug, Default)]
pub(crate) struct FleetBook {
    entries: FxHashMap<MemberId, Entry>,
    known: usize,
    healthy: usize,
    score_sum: u64,
    scored: usize,
    signatures: HashMap<CiSignature, BTreeSet<MemberId>>,
    critical_security: BTreeSet<MemberId>,
}

impl FleetBook {
    /// A book with room for `members` entries.
    pub(crate) fn with_capacity(members: usize) -> FleetBook {
        FleetBook { entries: FxHashMap::with_capacity_and_hasher(members, Default::default()), ..FleetBook::default() }
    }

    pub(crate) fn insert(&mut self, id: MemberId) {
        self.entries.entry(id).or_default();
    }

    pub(crate) fn remove(&mut self, id: &MemberId) {
        if self.entries.contains_key(id) {
            self.update(id, |e| *e = Entry::default());
            self.entries.remove(id);
        }
    }

    /// Folds in a report; returns the previous score, if there was one. (The queen uses [`FleetBook::fold`].)
    #[cfg(test)]
    pub(crate) fn record(&mut self, report: HealthReport) -> Option<u8> {
        self.fold(report).previous
    }

    /// Folds in a report, and says what it changed.
    pub(crate) fn fold(&mut self, report: HealthReport) -> Folded {
        if let Some(Entry { report: Some(previous), .. }) = self.entries.get_mut(&report.member)
            && same_verdict(previous, &report)
        {
            // Nothing counted changes: replaced in place, without taking its contribution out and back in.
            let score = previous.score;
            *previous = report;
            return Folded { previous: Some(score), repeat: true };
        }
        let id = report.member.clone();
        let mut previous = None;
        self.update(&id, |e| {
            previous = e.report.as_ref().map(|r| r.score);
            e.report = Some(report);
        });
        Folded { previous, repeat: false }
    }

    pub(crate) fn set_escalated(&mut self, id: &MemberId, escalated: bool) {
        self.update(id, |e| e.escalated = escalated);
    }

    /// Every member in the book.
    pub(crate) fn members(&self) -> impl Iterator<Item = &MemberId> {
        self.entries.keys()
    }

    pub(crate) fn report(&self, id: &MemberId) -> Option<&HealthReport> {
        self.entries.get(id).and_then(|e| e.report.as_ref())
    }

    pub(crate) fn signatures(&self) -> &HashMap<CiSignature, BTreeSet<MemberId>> {
        &self.signatures
    }

    pub(crate) fn critical_security(&self) -> &BTreeSet<MemberId> {
        &self.critical_security
    }

    pub(crate) fn health(&self, emergency: bool) -> FleetHealth {
        let share = if self.known == 0 { 1.0 } else { self.healthy as f64 / self.known as f64 };
        let mean_score = if self.scored == 0 { 0.0 } else { self.score_sum as f64 / self.scored as f64 };
        let level = match (emergency, self.known) {
            (true, _) => HealthLevel::Emergency,
            (false, 0) => HealthLevel::Unknown,
            (false, _) => HealthLevel::from_share(share),
        };
        FleetHealth { total: self.entries.len(), known: self.known, healthy: self.healthy, share, mean_score, level }
    }

    /// Applies `change` to one entry, keeping every running total right by taking the entry's contribution out
    /// before and putting it back after.
    fn update(&mut self, id: &MemberId, change: impl FnOnce(&mut Entry)) {
        let Some(mut entry) = self.entries.remove(id) else { return };
        self.contribute(id, &entry, false);
        change(&mut entry);
        self.contribute(id, &entry, true);
        self.entries.insert(id.clone(), entry);
    }

    fn contribute(&mut self, id: &MemberId, e: &Entry, add: bool) {
        let step = |n: &mut usize| if add { *n += 1 } else { *n -= 1 };
        if e.known() {
            step(&mut self.known);
        }
        if e.healthy() {
            step(&mut self.healthy);
        }
        let Some(report) = &e.report else { return };
        step(&mut self.scored);
        if add {
            self.score_sum += u64::from(report.score);
        } else {
            self.score_sum -= u64::from(report.score);
        }
        for signal in &report.signals {
            if let SignalKind::CiFailure { signature, .. } = &signal.kind {
                if add {
                    self.signatures.entry(signature.clone()).or_default().insert(id.clone());
                } else if let Some(set) = self.signatures.get_mut(signature) {
                    set.remove(id);
                    if set.is_empty() {
                        self.signatures.remove(signature);
                    }
                }
            }
        }
        if report.signals.iter().any(|s| s.is_critical_security()) {
            if add {
                self.critical_security.insert(id.clone());
            } else {
                self.critical_security.remove(id);
            }
        }
    }
}

/// Whether two reports agree in what the book counts.
fn same_verdict(a: &HealthReport, b: &HealthReport) -> bool {
    a.score == b.score && a.healthy == b.healthy && a.signals == b.signals
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CiClass, Signal};

    #[test]
    fn level_boundaries() {
        let check = |share: f64, level: HealthLevel| assert_eq!(HealthLevel::from_share(share), level, "{share}");
        check(1.0, HealthLevel::Excellent);
        check(0.9001, HealthLevel::Excellent);
        check(0.9, HealthLevel::Good);
        check(0.7, HealthLevel::Good);
        check(0.6999, HealthLevel::Warning);
        check(0.5, HealthLevel::Warning);
        check(0.4999, HealthLevel::Critical);
        check(0.0, HealthLevel::Critical);
    }

    fn report(id: &str, score: u8, healthy: bool, signals: Vec<Signal>) -> HealthReport {
        HealthReport { member: MemberId::new(id), ..HealthReport::new(score, healthy).with_signals(signals) }
    }

    #[test]
    fn book_keeps_totals_through_updates_escalation_and_removal() {
        let mut book = FleetBook::default();
        for id in ["a", "b", "c", "d"] {
            book.insert(MemberId::new(id));
        }
        assert_eq!(book.health(false).known, 0);
        assert_eq!(book.health(false).share, 1.0);
        assert_eq!(book.health(false).level, HealthLevel::Unknown, "no verdict, no level");
        assert_eq!(book.health(true).level, HealthLevel::Emergency, "a declared emergency needs no verdict");

        book.record(report("a", 90, true, vec![]));
        let signature = CiSignature::new("ci", "test", Some("x"), CiClass::Test);
        book.record(report("b", 80, true, vec![Signal::ci_failure(signature.clone())]));
        book.record(report("c", 20, false, vec![Signal::ci_failure(signature.clone())]));
        let h = book.health(false);
        assert_eq!((h.known, h.healthy, h.total), (3, 2, 4));
        assert!((h.mean_score - 190.0 / 3.0).abs() < 1e-9);
        assert_eq!(book.signatures()[&signature].len(), 2);

        // b recovers: its signature goes away.
        book.record(report("b", 95, true, vec![]));
        assert_eq!(book.signatures()[&signature].len(), 1);

        // An escalated member counts as known and unhealthy even though its last report was healthy.
        book.set_escalated(&MemberId::new("a"), true);
        book.set_escalated(&MemberId::new("d"), true);
        let h = book.health(false);
        assert_eq!((h.known, h.healthy), (4, 1));
        assert_eq!(h.level, HealthLevel::Critical);
        assert_eq!(book.health(true).level, HealthLevel::Emergency);

        book.remove(&MemberId::new("c"));
        assert!(book.signatures().is_empty());
        let h = book.health(false);
        assert_eq!((h.total, h.known, h.healthy), (3, 3, 1));
    }

    #[test]
    fn a_repeated_verdict_replaces_the_report_and_keeps_every_total() {
        let mut book = FleetBook::default();
        let id = MemberId::new("a");
        book.insert(id.clone());
        let signature = CiSignature::new("ci", "test", Some("x"), CiClass::Test);
        book.record(report("a", 40, false, vec![Signal::ci_failure(signature.clone())]));
        let before = book.health(false);

        let mut again = report("a", 40, false, vec![Signal::ci_failure(signature.clone())]);
        again.cycle = Some(2);
        assert_eq!(book.fold(again), Folded { previous: Some(40), repeat: true });
        assert_eq!(book.health(false), before);
        assert_eq!(book.report(&id).and_then(|r| r.cycle), Some(2), "the newest report is kept");
        assert_eq!(book.signatures()[&signature].len(), 1);

        let recovered = report("a", 90, true, vec![]);
        assert_eq!(book.fold(recovered), Folded { previous: Some(40), repeat: false });
        assert!(book.signatures().is_empty());
        assert_eq!((book.health(false).healthy, book.health(false).known), (1, 1));
        book.insert(MemberId::new("b"));
        let first = book.fold(report("b", 90, true, vec![]));
        assert_eq!(first, Folded { previous: None, repeat: false }, "no previous report, no repeat");
    }

    #[test]
    fn critical_security_index() {
        let mut book = FleetBook::default();
        book.insert(MemberId::new("a"));
        book.record(report("a", 50, false, vec![Signal::security(crate::Severity::Critical, "CVE")]));
        assert!(book.critical_security().contains(&MemberId::new("a")));
        book.record(report("a", 50, false, vec![Signal::security(crate::Severity::High, "CVE")]));
        assert!(book.critical_security().is_empty());
    }
}
