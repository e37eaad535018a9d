//! Signals: the things a pilot noticed that may deserve action (a CI failure, a security alert, a critical issue).
//!
//! A CI failure travels as a typed [`CiSignature`], never as text to be split again: job and step names are chosen
//! by repositories and may hold any character, `/` included, so only the fields can say which part is which.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Risk;

/// How bad an observation is: what a pilot saw (a critical advisory, a failing build), not what acting on it would
/// risk. Acting is measured on the other scale, [`Risk`], which governance and proposals use; where an observation's
/// severity becomes the risk of acting on it, [`Risk::from`] is the one mapping, level for level.
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

impl From<Severity> for Risk {
    /// Level for level: acting on a critical finding is a critical write, on a low one a low write.
    fn from(severity: Severity) -> Risk {
        match severity {
            Severity::Low => Risk::Low,
            Severity::Medium => Risk::Medium,
            Severity::High => Risk::High,
            Severity::Critical => Risk::Critical,
        }
    }
}

/// The kind of a CI failure, as decisions see it. It mirrors the ecosystem's classification one to one; the cerebrum
/// keeps its own closed copy because it does not depend on the crate that classifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CiClass {
    /// Tests failed.
    Test,
    /// Compilation or packaging failed.
    Build,
    /// A linter or formatter complained.
    Lint,
    /// Deployment failed.
    Deploy,
    /// The runner, the network or a timeout failed, not the code: worth a re-run.
    Infrastructure,
}

impl CiClass {
    /// Every class, in declaration order.
    pub const ALL: [CiClass; 5] =
        [CiClass::Test, CiClass::Build, CiClass::Lint, CiClass::Deploy, CiClass::Infrastructure];

    /// The lowercase name, as the last part of a signature's text.
    pub fn as_str(self) -> &'static str {
        match self {
            CiClass::Test => "test",
            CiClass::Build => "build",
            CiClass::Lint => "lint",
            CiClass::Deploy => "deploy",
            CiClass::Infrastructure => "infrastructure",
        }
    }
}

impl fmt::Display for CiClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which CI failure: equal for the same failure in different repositories, so a systemic failure across the fleet is
/// recognisable.
///
/// Its text, `workflow/job/step/class` (`-` for an unknown step), is what people read in titles and logs and what
/// hidden markers in issue bodies hold; it is only ever written, never read back into fields.
///
/// ```
/// use hive_cerebrum::{CiClass, CiSignature};
///
/// let signature = CiSignature::new("ci", "lint", Some("cargo clippy"), CiClass::Lint);
/// assert_eq!(signature.to_string(), "ci/lint/cargo clippy/lint");
/// assert_eq!(CiSignature::new("ci", "a/b", None, CiClass::Test).to_string(), "ci/a/b/-/test");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CiSignature {
    /// The workflow's name.
    pub workflow: String,
    /// The job's name.
    pub job: String,
    /// The first failed step's name, when it is known.
    pub step: Option<String>,
    /// What kind of failure it is.
    pub class: CiClass,
}

impl CiSignature {
    /// The signature of a failure of `class` in `workflow`'s `job`, at `step` when it is known.
    pub fn new(workflow: impl Into<String>, job: impl Into<String>, step: Option<&str>, class: CiClass) -> CiSignature {
        CiSignature { workflow: workflow.into(), job: job.into(), step: step.map(str::to_owned), class }
    }
}

impl fmt::Display for CiSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let step = self.step.as_deref().unwrap_or("-");
        write!(f, "{}/{}/{step}/{}", self.workflow, self.job, self.class)
    }
}

/// What kind of thing was noticed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SignalKind {
    /// A failed CI job on the default branch.
    CiFailure {
        /// Which failure, equal across repositories for the same failure.
        signature: CiSignature,
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
    /// A CI failure with the given signature.
    pub fn ci_failure(signature: CiSignature) -> Signal {
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

    /// The failure class of a CI signal.
    pub fn ci_class(&self) -> Option<CiClass> {
        match &self.kind {
            SignalKind::CiFailure { signature } => Some(signature.class),
            _ => None,
        }
    }

    /// Whether this is a critical security signal (an emergency trigger).
    pub fn is_critical_security(&self) -> bool {
        self.kind == SignalKind::SecurityAlert && self.severity == Severity::Critical
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_severity_becomes_the_risk_of_the_same_level_with_the_same_name() {
        let table = [
            (Severity::Low, Risk::Low),
            (Severity::Medium, Risk::Medium),
            (Severity::High, Risk::High),
            (Severity::Critical, Risk::Critical),
        ];
        for (severity, risk) in table {
            assert_eq!(Risk::from(severity), risk, "{severity:?}");
            let name = serde_json::to_string(&severity).expect("a severity serializes");
            assert_eq!(name, format!("\"{}\"", risk.as_str()), "one word per level on both scales");
        }
    }

    #[test]
    fn a_signature_reads_as_workflow_job_step_class_for_every_class() {
        // (workflow, job, step, class, text): the text is the one issue titles and hidden markers already hold.
        let table = [
            ("ci", "test", Some("cargo test"), CiClass::Test, "ci/test/cargo test/test"),
            ("ci", "build", Some("cargo build"), CiClass::Build, "ci/build/cargo build/build"),
            ("ci", "lint", Some("cargo fmt --check"), CiClass::Lint, "ci/lint/cargo fmt --check/lint"),
            ("release", "pages", None, CiClass::Deploy, "release/pages/-/deploy"),
            ("ci", "test", Some("Set up job"), CiClass::Infrastructure, "ci/test/Set up job/infrastructure"),
            // A step or a job with a slash in its name: the text cannot be split back, the fields still say it.
            ("ci", "test", Some("run tests/unit"), CiClass::Test, "ci/test/run tests/unit/test"),
            ("ci", "a/b", None, CiClass::Lint, "ci/a/b/-/lint"),
        ];
        for (workflow, job, step, class, text) in table {
            assert_eq!(CiSignature::new(workflow, job, step, class).to_string(), text);
        }
        for class in CiClass::ALL {
            let text = CiSignature::new("w", "j", None, class).to_string();
            assert_eq!(text, format!("w/j/-/{}", class.as_str()));
            let json = serde_json::to_string(&class).expect("a class serializes");
            assert_eq!(json, format!("\"{}\"", class.as_str()), "serde name and text agree");
        }
    }

    #[test]
    fn the_class_of_a_ci_signal_comes_from_its_field_whatever_the_names_hold() {
        let job_with_slash =
            Signal::ci_failure(CiSignature::new("ci", "a/b", Some("lint/infrastructure"), CiClass::Test));
        assert_eq!(job_with_slash.ci_class(), Some(CiClass::Test));
        let SignalKind::CiFailure { signature } = &job_with_slash.kind else { panic!("a ci failure") };
        assert_eq!((signature.job.as_str(), signature.step.as_deref()), ("a/b", Some("lint/infrastructure")));
        assert_eq!(job_with_slash.title, "CI failing: ci/a/b/lint/infrastructure/test");
        assert_eq!(Signal::security(Severity::High, "advisory").ci_class(), None);
    }

    #[test]
    fn a_ci_signal_serializes_its_signature_as_fields() {
        let signal = Signal::ci_failure(CiSignature::new("ci", "a/b", None, CiClass::Infrastructure));
        let json = serde_json::to_value(&signal).expect("a signal serializes");
        assert_eq!(
            json["kind"],
            serde_json::json!({"kind": "ci_failure", "signature": {"workflow": "ci", "job": "a/b", "step": null, "class": "infrastructure"}})
        );
        assert_eq!(serde_json::from_value::<Signal>(json).expect("and reads back"), signal);
    }
}
