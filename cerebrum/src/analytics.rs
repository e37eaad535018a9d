//! The per-cycle analytics record, with the field names existing dashboards already read.

use serde::{Deserialize, Serialize};

use crate::{
    HealthLevel,
    governance::{Reason, Verdict, WriteDecision},
};

/// One orchestration cycle, summarised. Field names are kept from the original orchestrator's analytics output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CycleRecord {
    /// RFC 3339 UTC time the cycle completed.
    pub timestamp: String,
    /// Cycle number, from 1.
    pub orchestration_cycle: u64,
    /// Repositories watched: pilots running, in backoff or escalated (services are not counted).
    pub total_repositories: usize,
    /// Watched repositories whose latest report was healthy (an escalated pilot never is).
    pub healthy_repositories: usize,
    /// Pilots running now.
    pub active_pilots: usize,
    /// Signals raised in reports for this cycle.
    pub issues_detected: usize,
    /// Fix attempts this cycle: the queen records zero; the steward's copy of the record
    /// ([`HiveEvent::AutonomyCompleted`](crate::HiveEvent::AutonomyCompleted)) has its re-runs and fix pull requests.
    pub fixes_attempted: usize,
    /// Whether the emergency protocol is active.
    pub emergency_mode: bool,
    /// Mean health score of the watched repositories that reported, 0-100.
    pub global_health_score: f64,
    /// Fleet health level, over every member (services included).
    pub ecosystem_health: HealthLevel,
    /// Members asked to observe that did not answer before the cycle ended.
    pub missed_reports: usize,
    /// Watched repositories whose last read failed because the forge was unreachable; their last verdict stands,
    /// stale.
    #[serde(default)]
    pub unreachable_repositories: usize,
    /// Which members were asked to observe: all of them, only those never read (between reconciliations), or
    /// those an event named.
    #[serde(default)]
    pub kind: CycleKind,
}

/// Which members a cycle asks to observe.
///
/// A hive told of changes as they happen (GitHub webhook deliveries) need not read every repository every cycle:
/// it reads them all every few cycles ([`QueenConfig::reconcile_every`](crate::QueenConfig::reconcile_every)), to
/// catch what no event said, and in between reads only what an event named, at once, in a refresh cycle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CycleKind {
    /// Every running member that observes was asked (the default, and every cycle during an emergency).
    #[default]
    Full,
    /// Between reconciliations: only members that never reported were asked; the others' latest verdicts stand,
    /// kept fresh by refresh cycles.
    Quiet,
    /// Only the members [`QueenHandle::observe_now`](crate::QueenHandle::observe_now) named since the last cycle
    /// were asked. It does not count towards clearing an emergency, which needs whole cycles.
    Refresh,
}

impl CycleKind {
    /// The kind as written in records and output.
    pub fn as_str(self) -> &'static str {
        match self {
            CycleKind::Full => "full",
            CycleKind::Quiet => "quiet",
            CycleKind::Refresh => "refresh",
        }
    }
}

/// What one cycle of the loop did, as the run summary shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AutonomyReport {
    /// The cycle's number: the queen's orchestration cycle, which continues the database's counter, so it keeps
    /// growing across restarts and names the cycle in events, write keys, the history and `cycles/`. A loop run by
    /// hand takes the counter's next number.
    pub cycle: u64,
    /// The orchestration cycle whose observations it acted on (0 when it was run by hand); equal to `cycle` unless
    /// the queen did not continue the counter (then `cycle` is the next unused number).
    #[serde(default)]
    pub orchestration_cycle: u64,
    /// Whether an emergency froze mutating actions (all but the recovery from its causes).
    pub emergency: bool,
    /// Every decision, one line each.
    pub decisions: Vec<String>,
    /// What was written.
    pub writes: Vec<String>,
    /// What would have been written (autonomy off, dry run, action level).
    pub would_do: Vec<String>,
    /// Limits reached this cycle.
    pub limits_hit: Vec<String>,
    /// What waits for `hive approve <id>`.
    pub awaiting_approval: Vec<String>,
    /// What failed (forge errors, redacted).
    pub errors: Vec<String>,
    /// Health score per repository.
    pub health: Vec<(String, u8)>,
    /// Writes interrupted by a crash, reconciled at the start of the cycle.
    pub reconciled: usize,
    /// Fixes tried this cycle: re-runs requested and fix pull requests opened.
    pub fixes_attempted: usize,
}

impl AutonomyReport {
    /// Files a decision under what it means for the summary (a limit, an approval awaited, a would-do). `title` is
    /// the backlog item's, when the write is for one: the summary's lines then say what, not only which kind where.
    pub fn note(&mut self, decision: &WriteDecision, approval_id: &str, title: Option<&str>) {
        let line = decision.summary();
        let titled = match title {
            Some(title) => format!("{line} (\"{title}\")"),
            None => line.clone(),
        };
        match (&decision.verdict, &decision.reason) {
            (Verdict::Deny, Reason::LimitReached { .. }) => self.limits_hit.push(titled),
            (Verdict::Deny, Reason::NeedsApproval { .. }) => {
                self.awaiting_approval.push(format!("hive approve {approval_id}  ({titled})"))
            }
            (Verdict::WouldDo, _) => self.would_do.push(titled),
            _ => {}
        }
        self.decisions.push(line);
    }
}

pub(crate) use hive_support::rfc3339;
