//! Signals: the things a pilot noticed that may deserve action (a CI failure, a security alert, a critical issue).

use serde::{Deserialize, Serialize};

/// How serious a signal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical: may trigger the emergency protocol on its own when it is a security signal.
    Critical,
}

/// What kind of thing was noticed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SignalKind {
    /// A failed CI job on the default branch.
    CiFailure {
        /// Stable `workflow/job/step/class` signature, equal across repositories for the same failure.
        signature: String,
    },
    /// A security alert.
    SecurityAlert,
    /// An open issue that looks critical (security, crash, data loss).
    CriticalIssue {
        /// Issue number.
        number: u64,
    },
    /// Anything else.
    Other,
}

/// One thing a member noticed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Signal {
    /// What it is.
    pub kind: SignalKind,
    /// How bad.
    pub severity: Severity,
    /// One line for humans.
    pub title: String,
}

impl Signal {
    /// A CI failure with the given signature (`workflow/job/step/class`).
    pub fn ci_failure(signature: impl Into<String>) -> Signal {
        let signature = signature.into();
        Signal {
            title: format!("CI failing: {signature}"),
            kind: SignalKind::CiFailure { signature },
            severity: Severity::High,
        }
    }

    /// A security alert.
    pub fn security(severity: Severity, title: impl Into<String>) -> Signal {
        Signal { kind: SignalKind::SecurityAlert, severity, title: title.into() }
    }

    /// The failure class of a CI signal (last part of its signature).
    pub fn ci_class(&self) -> Option<&str> {
        match &self.kind {
            SignalKind::CiFailure { signature } => signature.rsplit('/').next(),
            _ => None,
        }
    }

    /// Whether this is a critical security signal (an emergency trigger).
    pub fn is_critical_security(&self) -> bool {
        self.kind == SignalKind::SecurityAlert && self.severity == Severity::Critical
    }
}
