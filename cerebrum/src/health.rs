//! Health reports: what a member tells the queen after each observation.

use std::collections::BTreeMap;

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
    /// What a maintainer should look at, a few words each (a pilot: "tests failing (test): cargo test"), as
    /// `hive run` and `hive status` show it. Only for people: no decision reads it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<String>,
    /// Short named facts shown beside the score (a pilot: `ci` = `passing`, `failing`, `pending` or `unknown`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<String, String>,
    /// How the score was reached, component by component (a pilot: `ci`, `security_alerts`, ...), for people and the
    /// API. Only for people: no decision reads it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<ScoreComponent>,
}

/// One scored aspect of a member's health, as its report carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreComponent {
    /// A stable, snake_case name, such as `ci`.
    pub name: String,
    /// 0 (bad) to 10 (good); `None` when its input is unknown and it was left out of the score.
    pub score: Option<u8>,
    /// How much it counts in the score.
    pub weight: f32,
    /// A short sentence saying why.
    pub reason: String,
}

impl HealthReport {
    /// A report with a score and a verdict and no signals.
    pub fn new(score: u8, healthy: bool) -> HealthReport {
        HealthReport {
            member: MemberId::new(""),
            cycle: None,
            score: score.min(100),
            healthy,
            signals: Vec::new(),
            findings: Vec::new(),
            facts: BTreeMap::new(),
            components: Vec::new(),
        }
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

    /// The same report with findings for people (see [`HealthReport::findings`]).
    pub fn with_findings(mut self, findings: Vec<String>) -> HealthReport {
        self.findings = findings;
        self
    }

    /// The same report with the breakdown of its score (see [`HealthReport::components`]).
    pub fn with_components(mut self, components: Vec<ScoreComponent>) -> HealthReport {
        self.components = components;
        self
    }

    /// The same report with one more named fact (see [`HealthReport::facts`]).
    pub fn with_fact(mut self, name: impl Into<String>, value: impl Into<String>) -> HealthReport {
        self.facts.insert(name.into(), value.into());
        self
    }
}
