//! Signals: the things a pilot noticed that may deserve action (a CI failure, a security alert, a critical issue, a
//! file a maintained repository is expected to have and does not).
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

impl Severity {
    /// The lowercase name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
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
    /// Dependencies did not resolve: a version that does not exist or conflicts, a lockfile out of step with its
    /// manifest. A lockfile refresh or a dependency bump fixes it, not a change to the code.
    Dependency,
}

impl CiClass {
    /// Every class, in declaration order.
    pub const ALL: [CiClass; 6] =
        [CiClass::Test, CiClass::Build, CiClass::Lint, CiClass::Deploy, CiClass::Infrastructure, CiClass::Dependency];

    /// The lowercase name, as the last part of a signature's text.
    pub fn as_str(self) -> &'static str {
        match self {
            CiClass::Test => "test",
            CiClass::Build => "build",
            CiClass::Lint => "lint",
            CiClass::Deploy => "deploy",
            CiClass::Infrastructure => "infrastructure",
            CiClass::Dependency => "dependency",
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

/// A file a maintained repository is expected to have, as the forges look for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingKind {
    /// A security policy (`SECURITY.md` in the root, `.github/` or `docs/`): how to report a vulnerability privately.
    SecurityPolicy,
    /// A license (`LICENSE`, `COPYING`, ...): without one, nobody may use the code.
    License,
    /// A CI configuration (a GitHub Actions workflow, or another CI's file): without one, nothing checks a change.
    CiWorkflow,
}

impl MissingKind {
    /// Every kind, in declaration order.
    pub const ALL: [MissingKind; 3] = [MissingKind::SecurityPolicy, MissingKind::License, MissingKind::CiWorkflow];

    /// The recorded name, e.g. `"security_policy"`.
    pub fn as_str(self) -> &'static str {
        match self {
            MissingKind::SecurityPolicy => "security_policy",
            MissingKind::License => "license",
            MissingKind::CiWorkflow => "ci_workflow",
        }
    }

    /// What is missing, for people: `"security policy (SECURITY.md)"`.
    pub fn describe(self) -> &'static str {
        match self {
            MissingKind::SecurityPolicy => "security policy (SECURITY.md)",
            MissingKind::License => "license (LICENSE)",
            MissingKind::CiWorkflow => "CI workflow (.github/workflows)",
        }
    }

    /// How bad the absence is: no license or no CI is a repository nobody may use or nothing checks (medium); no
    /// security policy leaves reporters without a private channel (low).
    pub fn severity(self) -> Severity {
        match self {
            MissingKind::SecurityPolicy => Severity::Low,
            MissingKind::License | MissingKind::CiWorkflow => Severity::Medium,
        }
    }
}

impl fmt::Display for MissingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of thing was noticed.
///
/// Serialised with a `kind` tag; variants and fields added later are optional, so records stored before them still
/// read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SignalKind {
    /// A failed CI job on the default branch.
    CiFailure {
        /// Which failure, equal across repositories for the same failure.
        signature: CiSignature,
        /// The run attempt that failed (1 for the first run, one more per re-run), when the forge has runs; `None`
        /// on a forge without them (a local workspace) and in records written before it was kept. Not part of the
        /// signature: a re-run is the same failure.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attempt: Option<u32>,
    },
    /// A security alert.
    SecurityAlert,
    /// An open issue that looks critical (security, crash, data loss).
    CriticalIssue {
        /// Issue number.
        number: u64,
    },
    /// A file a maintained repository is expected to have is not there.
    MissingFile {
        /// Which.
        what: MissingKind,
    },
    /// Files kept in step with a source repository (a `[[sync]]` declaration) drifted from it: behind the source,
    /// missing, or changed on both sides.
    SyncDrift {
        /// The source repository, `owner/name`.
        source: String,
        /// Files behind the source or missing.
        behind: u32,
        /// Files changed on both sides since the last sync: a person decides.
        conflicts: u32,
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
    /// A CI failure with the given signature, in an unknown run attempt.
    pub fn ci_failure(signature: CiSignature) -> Signal {
        Signal {
            title: format!("CI failing: {signature}"),
            kind: SignalKind::CiFailure { signature, attempt: None },
            severity: Severity::High,
        }
    }

    /// This signal in run attempt `attempt` (`None`: unknown), when it is a CI failure; any other signal as it is.
    pub fn in_attempt(mut self, attempt: Option<u32>) -> Signal {
        if let SignalKind::CiFailure { attempt: slot, .. } = &mut self.kind {
            *slot = attempt;
        }
        self
    }

    /// A missing file, at the severity its kind has.
    pub fn missing(what: MissingKind) -> Signal {
        Signal {
            kind: SignalKind::MissingFile { what },
            severity: what.severity(),
            title: format!("no {}", what.describe()),
        }
    }

    /// Drift from the source of synced files: low when files are only behind (a sync brings them along), medium
    /// with a conflict (a person must decide which side wins).
    pub fn sync_drift(source: impl Into<String>, behind: u32, conflicts: u32) -> Signal {
        let source = source.into();
        let mut parts = Vec::new();
        if behind > 0 {
            parts.push(format!("{behind} file{} behind {source}", if behind == 1 { "" } else { "s" }));
        }
        if conflicts > 0 {
            parts.push(format!("{conflicts} file{} in conflict with {source}", if conflicts == 1 { "" } else { "s" }));
        }
        Signal {
            title: parts.join(", "),
            severity: if conflicts > 0 { Severity::Medium } else { Severity::Low },
            kind: SignalKind::SyncDrift { source, behind, conflicts },
        }
    }

    /// A security alert.
    pub fn security(severity: Severity, title: impl Into<String>) -> Signal {
        Signal { kind: SignalKind::SecurityAlert, severity, title: title.into() }
    }

    /// The failure class of a CI signal.
    pub fn ci_class(&self) -> Option<CiClass> {
        match &self.kind {
            SignalKind::CiFailure { signature, .. } => Some(signature.class),
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
    fn sync_drift_says_how_many_files_and_from_where() {
        let behind = Signal::sync_drift("acme/templates", 3, 0);
        assert_eq!(behind.title, "3 files behind acme/templates");
        assert_eq!(behind.severity, Severity::Low);
        let both = Signal::sync_drift("acme/templates", 1, 1);
        assert_eq!(both.title, "1 file behind acme/templates, 1 file in conflict with acme/templates");
        assert_eq!(both.severity, Severity::Medium);
        let json = serde_json::to_string(&both.kind).expect("a kind serializes");
        assert_eq!(json, r#"{"kind":"sync_drift","source":"acme/templates","behind":1,"conflicts":1}"#);
    }

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
            assert_eq!(name, format!("\"{}\"", severity.as_str()), "the name is the serialised one");
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
        let SignalKind::CiFailure { signature, .. } = &job_with_slash.kind else { panic!("a ci failure") };
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

    #[test]
    fn records_stored_before_the_attempt_and_missing_files_still_read() {
        // A CI signal as stored before the attempt was kept: no `attempt` field.
        let old = serde_json::json!({
            "kind": {"kind": "ci_failure", "signature": {"workflow": "ci", "job": "test", "step": null, "class": "test"}},
            "severity": "high",
            "title": "CI failing: ci/test/-/test",
        });
        let read: Signal = serde_json::from_value(old).expect("an old record reads");
        assert_eq!(read, Signal::ci_failure(CiSignature::new("ci", "test", None, CiClass::Test)));
        assert_eq!(
            read.kind,
            SignalKind::CiFailure { signature: CiSignature::new("ci", "test", None, CiClass::Test), attempt: None }
        );
        // With an attempt, the field is written and read back; without one, nothing new is written.
        let second = read.clone().in_attempt(Some(2));
        let json = serde_json::to_value(&second).expect("serializes");
        assert_eq!(json["kind"]["attempt"], 2, "{json}");
        assert_eq!(serde_json::from_value::<Signal>(json).expect("reads back"), second);
        assert!(serde_json::to_value(&read).expect("serializes")["kind"].get("attempt").is_none());
        // Only a CI failure has an attempt.
        let missing = Signal::missing(MissingKind::License);
        assert_eq!(missing.clone().in_attempt(Some(3)), missing);
    }

    #[test]
    fn a_missing_file_is_typed_with_its_name_severity_and_title() {
        // (kind, recorded name, severity, title): the name is what stored records and the API carry.
        let table = [
            (MissingKind::SecurityPolicy, "security_policy", Severity::Low, "no security policy (SECURITY.md)"),
            (MissingKind::License, "license", Severity::Medium, "no license (LICENSE)"),
            (MissingKind::CiWorkflow, "ci_workflow", Severity::Medium, "no CI workflow (.github/workflows)"),
        ];
        assert_eq!(table.len(), MissingKind::ALL.len(), "every kind in the table");
        for (what, name, severity, title) in table {
            let signal = Signal::missing(what);
            assert_eq!((signal.severity, signal.title.as_str()), (severity, title), "{what:?}");
            let json = serde_json::to_value(&signal).expect("serializes");
            assert_eq!(json["kind"], serde_json::json!({"kind": "missing_file", "what": name}), "{json}");
            assert_eq!(what.to_string(), name);
            assert_eq!(serde_json::from_value::<Signal>(json).expect("reads back"), signal);
            assert_eq!(signal.ci_class(), None);
            assert!(!signal.is_critical_security());
        }
        assert!(serde_json::from_value::<MissingKind>(serde_json::json!("readme")).is_err(), "a closed set");
    }
}
