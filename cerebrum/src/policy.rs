//! Supervision policy as plain data, and the pure function that decides what happens when a member exits.
//!
//! Semantics follow OTP: a restart type per child, restart intensity over a sliding window, and an exponential
//! backoff with jitter between restarts. Nothing here touches actors or clocks, so every rule is unit-tested with
//! made-up instants.

use std::{collections::VecDeque, time::Duration, time::Instant};

use serde::{Deserialize, Serialize};

/// When a member is restarted after it exits (OTP's restart types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestartType {
    /// Always restarted, whatever the exit.
    Permanent,
    /// Restarted only after an abnormal exit (failure or kill).
    Transient,
    /// Never restarted.
    Temporary,
}

/// Exponential backoff with jitter: `min(max, min * 2^n) * (1 + jitter * factor)`, where `n` counts the restarts
/// since the member was last quiet for `reset_after`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Backoff {
    /// Delay before the first restart.
    pub min: Duration,
    /// Cap before jitter.
    pub max: Duration,
    /// Jitter factor; 0 disables jitter.
    pub factor: f64,
    /// After this long without a failure, `n` starts again from 0.
    pub reset_after: Duration,
}

impl Backoff {
    /// No delay at all (restart at once).
    pub const NONE: Backoff =
        Backoff { min: Duration::ZERO, max: Duration::ZERO, factor: 0.0, reset_after: Duration::from_secs(60) };

    /// The delay before restart number `n` (0-based) with a jitter draw in `[0, 1)`.
    pub fn delay(&self, n: u32, jitter: f64) -> Duration {
        let base = hive_support::doubling(self.min, self.max, n);
        base.mul_f64(1.0 + jitter.clamp(0.0, 1.0) * self.factor.max(0.0))
    }
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            min: Duration::from_millis(100),
            max: Duration::from_secs(30),
            factor: 0.2,
            reset_after: Duration::from_secs(60),
        }
    }
}

/// How a member is supervised.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RestartPolicy {
    /// When to restart.
    pub restart: RestartType,
    /// Restart intensity: at most this many restarts within `period`; one more failure escalates.
    pub max_restarts: u32,
    /// The sliding window for `max_restarts`.
    pub period: Duration,
    /// Delay between restarts.
    pub backoff: Backoff,
}

impl Default for RestartPolicy {
    /// Permanent, at most 5 restarts in 60 s, default backoff.
    fn default() -> RestartPolicy {
        RestartPolicy {
            restart: RestartType::Permanent,
            max_restarts: 5,
            period: Duration::from_secs(60),
            backoff: Backoff::default(),
        }
    }
}

/// How a member's actor ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitKind {
    /// It stopped by itself, cleanly.
    Normal,
    /// It panicked, returned an error, was killed, or could not be started. Text, not a typed error: ractor's
    /// supervision event gives a panic or a handler's error only as a boxed error that is neither `Clone` nor
    /// comparable, and a kill only as the reason string "killed", so the text is all there is to keep.
    Failed(String),
}

/// What the queen does next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RestartDecision {
    /// Start a new incarnation after `delay`. `attempt` counts restarts since the last quiet period (1-based).
    Restart {
        /// How long to wait.
        delay: Duration,
        /// 1-based count since the backoff last reset.
        attempt: u32,
    },
    /// Restart intensity exceeded: stop restarting until resumed.
    Escalate {
        /// Restarts inside the window when it happened.
        restarts: u32,
    },
    /// Let it go (temporary child, or transient child that ended normally).
    Stop,
}

/// What the policy remembers about one member between exits.
#[derive(Debug, Clone, Default)]
pub struct RestartHistory {
    restarts: VecDeque<Instant>,
    consecutive: u32,
    last_failure: Option<Instant>,
    total: u64,
}

impl RestartHistory {
    /// Restarts decided over the member's whole life.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Forgets the window and the backoff (used by resume).
    pub fn clear(&mut self) {
        let total = self.total;
        *self = RestartHistory { total, ..RestartHistory::default() };
    }
}

/// Decides what to do after a member exits at `now`, and records the decision in `history`.
///
/// `jitter` is a draw in `[0, 1)`; passing it in keeps this function pure.
pub fn decide(
    policy: &RestartPolicy,
    history: &mut RestartHistory,
    now: Instant,
    exit: &ExitKind,
    jitter: f64,
) -> RestartDecision {
    let abnormal = matches!(exit, ExitKind::Failed(_));
    let restart = match policy.restart {
        RestartType::Permanent => true,
        RestartType::Transient => abnormal,
        RestartType::Temporary => false,
    };
    if !restart {
        return RestartDecision::Stop;
    }

    // Sliding window: only restarts strictly inside (now - period, now] count.
    while let Some(&first) = history.restarts.front() {
        if now.saturating_duration_since(first) >= policy.period {
            history.restarts.pop_front();
        } else {
            break;
        }
    }
    if history.restarts.len() as u64 >= u64::from(policy.max_restarts) {
        return RestartDecision::Escalate { restarts: history.restarts.len() as u32 };
    }

    // Backoff resets after a quiet period.
    if let Some(last) = history.last_failure
        && now.saturating_duration_since(last) >= policy.backoff.reset_after
    {
        history.consecutive = 0;
    }
    let delay = policy.backoff.delay(history.consecutive, jitter);
    history.consecutive = history.consecutive.saturating_add(1);
    history.last_failure = Some(now);
    history.restarts.push_back(now);
    history.total += 1;
    RestartDecision::Restart { delay, attempt: history.consecutive }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(restart: RestartType, max_restarts: u32, period_ms: u64) -> RestartPolicy {
        RestartPolicy {
            restart,
            max_restarts,
            period: Duration::from_millis(period_ms),
            backoff: Backoff {
                min: Duration::from_millis(10),
                max: Duration::from_millis(100),
                factor: 0.0,
                reset_after: Duration::from_millis(1_000),
            },
        }
    }

    fn failed() -> ExitKind {
        ExitKind::Failed("boom".to_owned())
    }

    #[test]
    fn restart_types() {
        let t0 = Instant::now();
        let cases = [
            (RestartType::Permanent, ExitKind::Normal, true),
            (RestartType::Permanent, failed(), true),
            (RestartType::Transient, ExitKind::Normal, false),
            (RestartType::Transient, failed(), true),
            (RestartType::Temporary, ExitKind::Normal, false),
            (RestartType::Temporary, failed(), false),
        ];
        for (restart, exit, expect_restart) in cases {
            let mut h = RestartHistory::default();
            let d = decide(&policy(restart, 3, 1_000), &mut h, t0, &exit, 0.0);
            assert_eq!(matches!(d, RestartDecision::Restart { .. }), expect_restart, "{restart:?} {exit:?} -> {d:?}");
            if !expect_restart {
                assert_eq!(d, RestartDecision::Stop);
            }
        }
    }

    #[test]
    fn escalates_exactly_after_max_restarts_in_window() {
        let p = policy(RestartType::Permanent, 3, 1_000);
        let mut h = RestartHistory::default();
        let t0 = Instant::now();
        for i in 0..3 {
            let d = decide(&p, &mut h, t0 + Duration::from_millis(i * 10), &failed(), 0.0);
            assert!(matches!(d, RestartDecision::Restart { .. }), "failure {} must restart, got {d:?}", i + 1);
        }
        let d = decide(&p, &mut h, t0 + Duration::from_millis(30), &failed(), 0.0);
        assert_eq!(d, RestartDecision::Escalate { restarts: 3 });
    }

    #[test]
    fn window_slides() {
        let p = policy(RestartType::Permanent, 2, 100);
        let mut h = RestartHistory::default();
        let t0 = Instant::now();
        assert!(matches!(decide(&p, &mut h, t0, &failed(), 0.0), RestartDecision::Restart { .. }));
        assert!(matches!(
            decide(&p, &mut h, t0 + Duration::from_millis(50), &failed(), 0.0),
            RestartDecision::Restart { .. }
        ));
        // The first restart is exactly `period` old: it left the window.
        assert!(matches!(
            decide(&p, &mut h, t0 + Duration::from_millis(100), &failed(), 0.0),
            RestartDecision::Restart { .. }
        ));
        // Now two restarts (at 50 and 100) are inside the window.
        assert!(matches!(
            decide(&p, &mut h, t0 + Duration::from_millis(120), &failed(), 0.0),
            RestartDecision::Escalate { .. }
        ));
    }

    #[test]
    fn zero_intensity_escalates_at_first_failure() {
        let p = policy(RestartType::Permanent, 0, 100);
        let d = decide(&p, &mut RestartHistory::default(), Instant::now(), &failed(), 0.0);
        assert_eq!(d, RestartDecision::Escalate { restarts: 0 });
    }

    #[test]
    fn backoff_grows_caps_and_resets() {
        let p = policy(RestartType::Permanent, 100, 100_000);
        let mut h = RestartHistory::default();
        let t0 = Instant::now();
        let mut delays = Vec::new();
        for i in 0..6 {
            match decide(&p, &mut h, t0 + Duration::from_millis(i), &failed(), 0.0) {
                RestartDecision::Restart { delay, .. } => delays.push(delay.as_millis()),
                d => panic!("unexpected {d:?}"),
            }
        }
        assert_eq!(delays, [10, 20, 40, 80, 100, 100]);
        // Quiet for reset_after: back to the minimum.
        match decide(&p, &mut h, t0 + Duration::from_millis(5 + 1_000), &failed(), 0.0) {
            RestartDecision::Restart { delay, attempt } => {
                assert_eq!(delay, Duration::from_millis(10));
                assert_eq!(attempt, 1);
            }
            d => panic!("unexpected {d:?}"),
        }
    }

    #[test]
    fn jitter_scales_by_factor() {
        let b = Backoff { factor: 0.5, ..policy(RestartType::Permanent, 1, 1).backoff };
        assert_eq!(b.delay(0, 0.0), Duration::from_millis(10));
        assert_eq!(b.delay(0, 1.0), Duration::from_millis(15));
        assert_eq!(b.delay(2, 0.5), Duration::from_millis(50));
        // Huge exponents saturate at the cap instead of overflowing.
        assert_eq!(b.delay(200, 0.0), Duration::from_millis(100));
    }

    #[test]
    fn clear_forgets_window_but_keeps_total() {
        let p = policy(RestartType::Permanent, 1, 1_000);
        let mut h = RestartHistory::default();
        let t0 = Instant::now();
        assert!(matches!(decide(&p, &mut h, t0, &failed(), 0.0), RestartDecision::Restart { .. }));
        assert!(matches!(decide(&p, &mut h, t0, &failed(), 0.0), RestartDecision::Escalate { .. }));
        h.clear();
        assert_eq!(h.total(), 1);
        assert!(matches!(decide(&p, &mut h, t0, &failed(), 0.0), RestartDecision::Restart { attempt: 1, .. }));
    }
}
