//! What a service keeper says about itself, and the two pure rules it follows: how healthy each state is for the
//! queen, and what to do after its process ended on its own. Both are plain functions so they are tested without
//! processes or actors.

use std::{fmt, time::Duration};

use hive_cerebrum::{HealthReport, Severity, Signal, SignalKind};
use hive_ecosystem::{ExitInfo, LogLine, ServiceRestart, ServiceSpec};
use serde::{Deserialize, Serialize};

/// Where a service is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    /// Not running, as asked (or never started).
    Stopped,
    /// Spawned; not yet ready (readiness probe) or not yet past its start grace (no probe).
    Starting,
    /// Up (and ready, when it has a probe).
    Running,
    /// SIGTERM sent; waiting for it to exit (SIGKILL follows after the stop timeout).
    Stopping,
    /// Ended on its own; waiting for the backoff delay before the next start.
    Backoff,
    /// Ended on its own and its restart policy says to leave it (`on_failure` after code 0, or `never`).
    Exited(ExitInfo),
    /// Given up: too many quick failures in a row, or it could not be started and is not restarted.
    Error(String),
}

impl fmt::Display for ServiceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceState::Stopped => f.write_str("stopped"),
            ServiceState::Starting => f.write_str("starting"),
            ServiceState::Running => f.write_str("running"),
            ServiceState::Stopping => f.write_str("stopping"),
            ServiceState::Backoff => f.write_str("in backoff"),
            ServiceState::Exited(exit) => write!(f, "exited ({exit})"),
            ServiceState::Error(message) => write!(f, "in error: {message}"),
        }
    }
}

/// Commands a service keeper takes from its operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceCommand {
    /// Start the process if it is not running (also cuts a backoff short and clears a given-up error).
    Start,
    /// Stop the process and keep it stopped.
    Stop,
    /// Stop the process if it runs, then start it again.
    Restart,
}

/// A service keeper's view of its service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    /// The service's name.
    pub name: String,
    /// Where it is.
    pub state: ServiceState,
    /// The running process's id (also its process group id).
    pub pid: Option<u32>,
    /// Whether the running process is ready: its readiness probe succeeded or, without a probe, it has run for the
    /// start grace (`false` while there is no process).
    pub ready: bool,
    /// Restarts the keeper made on its own after the process ended.
    pub restarts: u64,
    /// Quick failures in a row so far (reset once a process has started).
    pub quick_failures: u32,
    /// How the last process ended.
    pub last_exit: Option<ExitInfo>,
    /// The last failure, as text.
    pub last_error: Option<String>,
    /// The delay of the current backoff, while in backoff.
    pub backoff: Option<Duration>,
    /// Whether the hive is in emergency mode (see `docs/runtime-semantics.md`, "Services").
    pub emergency: bool,
    /// The most recent output lines, oldest first (at most [`STATUS_LOG_LINES`]).
    pub logs: Vec<LogLine>,
    /// Lines that fell out of the ring buffer so far.
    pub dropped_lines: u64,
}

/// How many recent output lines a status carries.
pub const STATUS_LOG_LINES: usize = 100;

/// The health report for a service in `state`, as the queen's fleet health counts it.
///
/// Stopped on request, and ended cleanly where the policy says so, are healthy: nothing is wrong. Starting and
/// stopping are healthy but not full marks. Backoff is unhealthy; an unclean final exit and a given-up service are
/// critical (below the emergency's default critical score of 25), like an escalated member.
pub(crate) fn health_report(name: &str, state: &ServiceState) -> HealthReport {
    let (score, healthy) = match state {
        ServiceState::Running | ServiceState::Stopped => (100, true),
        ServiceState::Exited(exit) if exit.success() => (100, true),
        ServiceState::Starting | ServiceState::Stopping => (70, true),
        ServiceState::Backoff => (40, false),
        ServiceState::Exited(_) => (20, false),
        ServiceState::Error(_) => (0, false),
    };
    let report = HealthReport::new(score, healthy);
    if healthy {
        return report;
    }
    let severity = if score < 25 { Severity::High } else { Severity::Medium };
    let title = format!("service '{name}' is {state}");
    report.with_signals(vec![Signal { kind: SignalKind::Other, severity, title }])
}

/// What the keeper does after its process ended without being asked to (or could not be spawned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterEnd {
    /// Start again after `delay`.
    Restart {
        /// The backoff delay.
        delay: Duration,
    },
    /// Too many quick failures in a row: stop trying.
    GiveUp,
    /// The policy says to leave it.
    Leave,
}

/// Decides what follows an unrequested end. `exit` is `None` when the process could not be spawned at all, which
/// counts as a quick failure. `quick_failures` is the count so far and is updated: a quick failure adds one, a
/// process that had started resets it. The backoff grows with each quick failure in a row.
pub(crate) fn after_end(spec: &ServiceSpec, quick_failures: &mut u32, exit: Option<ExitInfo>, quick: bool) -> AfterEnd {
    let restart = match (spec.restart, exit) {
        (ServiceRestart::Never, _) => false,
        (ServiceRestart::OnFailure, Some(exit)) => !exit.success(),
        _ => true,
    };
    if !restart {
        return AfterEnd::Leave;
    }
    if !quick {
        *quick_failures = 0;
        return AfterEnd::Restart { delay: spec.backoff.delay(0) };
    }
    *quick_failures = quick_failures.saturating_add(1);
    if *quick_failures >= spec.max_quick_failures {
        return AfterEnd::GiveUp;
    }
    AfterEnd::Restart { delay: spec.backoff.delay(*quick_failures - 1) }
}

#[cfg(test)]
mod tests {
    use hive_ecosystem::ServiceBackoff;

    use super::*;

    fn spec(restart: ServiceRestart) -> ServiceSpec {
        ServiceSpec {
            restart,
            max_quick_failures: 3,
            backoff: ServiceBackoff { min: Duration::from_millis(100), max: Duration::from_millis(300) },
            ..ServiceSpec::new("web", ["x"], ".")
        }
    }

    fn code(code: i32) -> Option<ExitInfo> {
        Some(ExitInfo { code: Some(code), signal: None })
    }

    #[test]
    fn quick_failures_back_off_and_give_up() {
        let spec = spec(ServiceRestart::Always);
        let mut n = 0;
        let ms = |d: AfterEnd| match d {
            AfterEnd::Restart { delay } => delay.as_millis(),
            other => panic!("expected a restart, got {other:?}"),
        };
        assert_eq!(ms(after_end(&spec, &mut n, code(1), true)), 100);
        assert_eq!(ms(after_end(&spec, &mut n, None, true)), 200);
        assert_eq!(after_end(&spec, &mut n, code(1), true), AfterEnd::GiveUp);
        assert_eq!(n, 3);
    }

    #[test]
    fn a_process_that_had_started_resets_the_count() {
        let spec = spec(ServiceRestart::Always);
        let mut n = 2;
        assert_eq!(after_end(&spec, &mut n, code(1), false), AfterEnd::Restart { delay: Duration::from_millis(100) });
        assert_eq!(n, 0);
    }

    #[test]
    fn restart_modes() {
        let cases = [
            (ServiceRestart::Always, code(0), true),
            (ServiceRestart::Always, code(2), true),
            (ServiceRestart::OnFailure, code(0), false),
            (ServiceRestart::OnFailure, code(2), true),
            (ServiceRestart::OnFailure, Some(ExitInfo { code: None, signal: Some(9) }), true),
            (ServiceRestart::OnFailure, None, true),
            (ServiceRestart::Never, code(2), false),
            (ServiceRestart::Never, None, false),
        ];
        for (mode, exit, restarts) in cases {
            let decision = after_end(&spec(mode), &mut 0, exit, false);
            assert_eq!(matches!(decision, AfterEnd::Restart { .. }), restarts, "{mode:?} {exit:?} -> {decision:?}");
        }
    }

    #[test]
    fn health_by_state() {
        let check = |state: ServiceState, score: u8, healthy: bool| {
            let report = health_report("web", &state);
            assert_eq!((report.score, report.healthy), (score, healthy), "{state}");
            assert_eq!(report.signals.is_empty(), healthy, "{state}");
        };
        check(ServiceState::Running, 100, true);
        check(ServiceState::Stopped, 100, true);
        check(ServiceState::Exited(ExitInfo { code: Some(0), signal: None }), 100, true);
        check(ServiceState::Starting, 70, true);
        check(ServiceState::Stopping, 70, true);
        check(ServiceState::Backoff, 40, false);
        check(ServiceState::Exited(ExitInfo { code: Some(1), signal: None }), 20, false);
        check(ServiceState::Error("gave up".to_owned()), 0, false);
        let title = &health_report("web", &ServiceState::Error("gave up".to_owned())).signals[0].title;
        assert_eq!(title, "service 'web' is in error: gave up");
    }

    #[test]
    fn states_serialise_in_snake_case() {
        let json = serde_json::to_string(&ServiceState::Exited(ExitInfo { code: Some(1), signal: None })).unwrap();
        assert_eq!(json, r#"{"exited":{"code":1,"signal":null}}"#);
        assert_eq!(serde_json::to_string(&ServiceState::Backoff).unwrap(), r#""backoff""#);
    }
}
