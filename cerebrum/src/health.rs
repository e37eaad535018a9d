//! Health reports: what a member tells the queen after each observation.

use serde::{Deserialize, Serialize};

use crate::{MemberId, Signal};

/// One member's health after one observation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    /// The member (filled in by the [`Reporter`](crate::Reporter)).
    pub member: MemberId,
    /// The orchestration cycle this answers, if it answers one.
    pub cycle: Option<u64>,
    /// Score 0-100.
    pub score: u8,
    /// The member's own verdict (for a pilot: score at or above the healthy threshold).
    pub healthy: bool,
    /// What was noticed.
    pub signals: Vec<Signal>,
}

impl HealthReport {
    /// A report with a score and a verdict and no signals.
    pub fn new(score: u8, healthy: bool) -> HealthReport {
        HealthReport { member: MemberId::new(""), cycle: None, score: score.min(100), healthy, signals: Vec::new() }
    }

    /// The same report for a cycle.
    pub fn for_cycle(mut self, cycle: u64) -> HealthReport {
        self.cycle = Some(cycle);
        self
    }

    /// The same report with signals.
    pub fn with_signals(mut self, signals: Vec<Signal>) -> HealthReport {
        self.signals = signals;
        self
    }
}
