//! The per-cycle analytics record, with the field names existing dashboards already read.

use serde::{Deserialize, Serialize};

use crate::HealthLevel;

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
    /// Fix attempts this cycle: the queen records zero; `hive run` fills in the autonomy loop's re-runs and fix pull
    /// requests.
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
}

pub(crate) use hive_support::rfc3339;
