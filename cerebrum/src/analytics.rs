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
    /// Fix attempts recorded this cycle (zero until an autonomy loop acts on proposals).
    pub fixes_attempted: usize,
    /// Whether the emergency protocol is active.
    pub emergency_mode: bool,
    /// Mean health score of the watched repositories that reported, 0-100.
    pub global_health_score: f64,
    /// Fleet health level, over every member (services included).
    pub ecosystem_health: HealthLevel,
    /// Members asked to observe that did not answer before the cycle ended.
    pub missed_reports: usize,
}

/// Formats a `SystemTime` as RFC 3339 UTC with second precision, without a date library.
pub(crate) fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3_600, rem % 3_600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn rfc3339_known_instants() {
        let check = |secs: u64, expected: &str| {
            assert_eq!(super::rfc3339(UNIX_EPOCH + Duration::from_secs(secs)), expected);
        };
        check(0, "1970-01-01T00:00:00Z");
        check(951_782_400, "2000-02-29T00:00:00Z");
        check(1_798_761_599, "2026-12-31T23:59:59Z");
    }
}
