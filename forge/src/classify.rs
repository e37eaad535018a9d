//! Pure classifiers: how urgent an issue is, and what kind of CI failure a failed job is, in one documented place.
//!
//! # Issue priority
//!
//! [`classify_issue`] maps an issue to a [`Priority`] from its labels first, then from the words of its title, then
//! from the words of its body. Words are matched whole and case-insensitively; labels are split into words on any
//! non-alphanumeric character, so GitHub's label conventions (`type: bug`, `kind/bug`, `priority: critical`,
//! `P0`, `breaking-change`) all read naturally.
//!
//! | priority | words |
//! |----------|-------|
//! | critical | security, vulnerability, exploit, crash, segfault, panic, data loss, corruption, breaking, CVE, critical, blocker |
//! | high     | bug, regression, performance, perf, slow, leak |
//! | medium   | feature, enhancement, improvement, proposal |
//! | low      | docs, documentation, typo, chore, spelling, readme |
//!
//! The rules, in order:
//! 1. An explicit priority label wins outright: `P0`..`P3` (`P4` counts as low), or a `priority:`, `severity:` or
//!    `sev:` label whose value is `critical`/`urgent`/`blocker`/`highest`, `high`, `medium`/`normal`, or
//!    `low`/`minor`/`trivial`. The maintainers said so; nothing overrides them.
//! 2. Otherwise the highest priority any label's words name. A critical word in the title still raises it to
//!    critical, because security and crash reports are often filed with a generic `bug` template label.
//! 3. Otherwise the highest priority the title's words name.
//! 4. Otherwise the highest priority the body's words name. The body comes last because it is noisy: logs, quoted
//!    discussions, "this is not a security issue".
//! 5. Otherwise `None`: the issue is unclassified.
//!
//! # CI failure class
//!
//! [`classify_failure`] maps a [`FailedJob`] (its name, conclusion, steps and check-run annotations) to a
//! [`FailureClass`]:
//! 1. A conclusion of `timed_out`, `cancelled` or `startup_failure` is [`FailureClass::Infrastructure`]: the code
//!    may be fine and a re-run is worth it.
//! 2. So is a job whose only unsuccessful steps were cancelled (none failed): the runner stopped under it.
//! 3. So is an annotation that blames the machine: "The runner has received a shutdown signal", "lost communication
//!    with the server", "The operation was canceled", "runner lost", "network reset", "connection reset",
//!    "no space left on device". The runner's "Process completed with exit code 1." on every failed step says
//!    nothing either way.
//! 4. Otherwise the job's name and its first failed step's name decide, in this order: lint (`lint`, `clippy`,
//!    `fmt`, `format`, `eslint`, ...), deploy (`deploy`, `publish`, `pages`), test (`test`, `spec`, `check`), build
//!    (`build`, `compile`, `package`, `install`), infrastructure (`set up job`, `runner`, `checkout`), and test when
//!    nothing matches.
//!
//! Annotations can only make a failure [`FailureClass::Infrastructure`], so a reader that already gets that answer
//! without them need not fetch them.
//!
//! [`failure_signature`] names a failure stably as `workflow/job/step/class`, so the same failure in many
//! repositories is recognisable as one systemic failure.

use serde::{Deserialize, Serialize};

use crate::{FailureClass, IssueSummary};

/// How urgent an issue is; ordered from [`Priority::Low`] to [`Priority::Critical`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Documentation, typos, chores.
    Low,
    /// Features and enhancements.
    Medium,
    /// Bugs, regressions, performance problems.
    High,
    /// Security, crashes, data loss, breaking changes, CVEs.
    Critical,
}

impl Priority {
    /// The lowercase name, as in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
            Priority::Critical => "critical",
        }
    }
}

/// Single words and the priority they stand for.
const WORDS: &[(&str, Priority)] = &[
    ("security", Priority::Critical),
    ("vulnerability", Priority::Critical),
    ("vulnerabilities", Priority::Critical),
    ("exploit", Priority::Critical),
    ("crash", Priority::Critical),
    ("crashes", Priority::Critical),
    ("crashed", Priority::Critical),
    ("crashing", Priority::Critical),
    ("segfault", Priority::Critical),
    ("panic", Priority::Critical),
    ("panics", Priority::Critical),
    ("dataloss", Priority::Critical),
    ("corruption", Priority::Critical),
    ("breaking", Priority::Critical),
    ("cve", Priority::Critical),
    ("critical", Priority::Critical),
    ("blocker", Priority::Critical),
    ("bug", Priority::High),
    ("bugs", Priority::High),
    ("regression", Priority::High),
    ("performance", Priority::High),
    ("perf", Priority::High),
    ("slow", Priority::High),
    ("leak", Priority::High),
    ("feature", Priority::Medium),
    ("enhancement", Priority::Medium),
    ("improvement", Priority::Medium),
    ("proposal", Priority::Medium),
    ("docs", Priority::Low),
    ("doc", Priority::Low),
    ("documentation", Priority::Low),
    ("typo", Priority::Low),
    ("typos", Priority::Low),
    ("chore", Priority::Low),
    ("spelling", Priority::Low),
    ("readme", Priority::Low),
];

/// Two-word phrases and the priority they stand for.
const PHRASES: &[(&str, &str, Priority)] = &[("data", "loss", Priority::Critical)];

/// Classifies an issue; see the [module docs](self) for the rules.
///
/// ```
/// use hive_forge::{Priority, classify_issue};
///
/// assert_eq!(classify_issue(&["priority: P1"], "Typo in README", ""), Some(Priority::High));
/// assert_eq!(classify_issue(&["type: bug"], "Segfault when the config is empty", ""), Some(Priority::Critical));
/// assert_eq!(classify_issue(&["needs triage"], "Add dark mode", "A feature request."), Some(Priority::Medium));
/// assert_eq!(classify_issue(&["question"], "How do I configure this?", ""), None);
/// ```
pub fn classify_issue<S: AsRef<str>>(labels: &[S], title: &str, body: &str) -> Option<Priority> {
    if let Some(explicit) = labels.iter().filter_map(|label| explicit_priority(label.as_ref())).max() {
        return Some(explicit);
    }
    let title_priority = mentioned(title);
    if let Some(from_labels) = labels.iter().filter_map(|label| mentioned(label.as_ref())).max() {
        return Some(from_labels.max(title_priority.filter(|p| *p == Priority::Critical).unwrap_or(from_labels)));
    }
    title_priority.or_else(|| mentioned(body))
}

/// The priority a label states outright: `P0`..`P4`, or `priority:`/`severity:`/`sev:` followed by a level.
fn explicit_priority(label: &str) -> Option<Priority> {
    let words = words(label);
    let level = |word: &str| match word {
        "p0" => Some(Priority::Critical),
        "p1" => Some(Priority::High),
        "p2" => Some(Priority::Medium),
        "p3" | "p4" => Some(Priority::Low),
        _ => None,
    };
    if let Some(found) = words.iter().find_map(|word| level(word)) {
        return Some(found);
    }
    match words.as_slice() {
        [key, value, ..] if matches!(key.as_str(), "priority" | "severity" | "sev") => match value.as_str() {
            "critical" | "urgent" | "blocker" | "highest" => Some(Priority::Critical),
            "high" => Some(Priority::High),
            "medium" | "normal" => Some(Priority::Medium),
            "low" | "minor" | "trivial" | "lowest" => Some(Priority::Low),
            _ => None,
        },
        _ => None,
    }
}

/// The highest priority the words of `text` name.
fn mentioned(text: &str) -> Option<Priority> {
    let words = words(text);
    let single = words.iter().filter_map(|word| WORDS.iter().find(|(w, _)| w == word).map(|(_, p)| *p));
    let phrases = words.windows(2).filter_map(|pair| {
        PHRASES.iter().find(|(first, second, _)| pair[0] == *first && pair[1] == *second).map(|(_, _, p)| *p)
    });
    single.chain(phrases).max()
}

/// Whether an issue is [`Priority::Critical`]: the issues that raise a `CriticalIssue` signal and cost health.
pub fn is_critical_issue(issue: &IssueSummary) -> bool {
    issue.priority() == Some(Priority::Critical)
}

/// Lowercase words, split on anything that is not a letter or a digit (so `CVE-2024-1234` gives `cve`).
fn words(text: &str) -> Vec<String> {
    text.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_owned).collect()
}

/// Annotation phrases that blame the machine rather than the code, matched case-insensitively anywhere in a message.
const INFRASTRUCTURE_ANNOTATIONS: [&str; 8] = [
    "the runner has received a shutdown signal",
    "lost communication with the server",
    "the operation was canceled",
    "runner lost",
    "network reset",
    "connection reset",
    "econnreset",
    "no space left on device",
];

/// A step of a job: its name and conclusion (`success`, `failure`, `cancelled`, `skipped`; `None` unfinished).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobStep<'a> {
    /// The step's name (`Run cargo test`).
    pub name: &'a str,
    /// The step's conclusion.
    pub conclusion: Option<&'a str>,
}

/// A failed CI job as [`classify_failure`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedJob<'a> {
    /// The job's name (`test (ubuntu-latest)`); `run` for a run that failed before any job ran.
    pub name: &'a str,
    /// The job's conclusion.
    pub conclusion: Option<&'a str>,
    /// The job's steps, in order.
    pub steps: &'a [JobStep<'a>],
    /// The messages of the annotations of the job's check run.
    pub annotations: &'a [&'a str],
}

impl<'a> FailedJob<'a> {
    /// A job known only by its name and conclusion.
    pub fn new(name: &'a str, conclusion: Option<&'a str>) -> FailedJob<'a> {
        FailedJob { name, conclusion, steps: &[], annotations: &[] }
    }

    /// The first step that failed, timed out or was cancelled: the step a failure is named after.
    pub fn failed_step(&self) -> Option<&'a str> {
        self.steps
            .iter()
            .find(|step| matches!(step.conclusion, Some("failure" | "timed_out" | "startup_failure" | "cancelled")))
            .map(|step| step.name)
    }
}

/// Classifies a failed CI job from its conclusion, its steps, its annotations and its names; see the
/// [module docs](self) for the rules.
///
/// ```
/// use hive_forge::{FailedJob, FailureClass, JobStep, classify_failure};
///
/// let steps = [JobStep { name: "cargo clippy", conclusion: Some("failure") }];
/// let lint = FailedJob { steps: &steps, ..FailedJob::new("lint", Some("failure")) };
/// assert_eq!(classify_failure(&lint), FailureClass::Lint);
///
/// let lost = ["The runner has received a shutdown signal. This can happen when the runner service is stopped."];
/// assert_eq!(classify_failure(&FailedJob { annotations: &lost, ..lint }), FailureClass::Infrastructure);
/// assert_eq!(classify_failure(&FailedJob::new("test", Some("timed_out"))), FailureClass::Infrastructure);
/// ```
pub fn classify_failure(job: &FailedJob<'_>) -> FailureClass {
    if matches!(job.conclusion, Some("timed_out" | "cancelled" | "startup_failure")) {
        return FailureClass::Infrastructure;
    }
    let unsuccessful: Vec<&JobStep<'_>> = job
        .steps
        .iter()
        .filter(|step| !matches!(step.conclusion, None | Some("success" | "skipped" | "neutral")))
        .collect();
    if !unsuccessful.is_empty() && unsuccessful.iter().all(|step| step.conclusion == Some("cancelled")) {
        return FailureClass::Infrastructure;
    }
    let blames_machine = job.annotations.iter().any(|annotation| {
        let annotation = annotation.to_lowercase();
        INFRASTRUCTURE_ANNOTATIONS.iter().any(|phrase| annotation.contains(phrase))
    });
    if blames_machine {
        return FailureClass::Infrastructure;
    }
    // Substrings, not whole words: job and step names glue words together (`eslint`, `unit-tests`, `cargo fmt`).
    let text = format!("{} {}", job.name, job.failed_step().unwrap_or_default()).to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    if has(&["lint", "clippy", "fmt", "format", "eslint", "style", "prettier", "rubocop", "flake8"]) {
        FailureClass::Lint
    } else if has(&["deploy", "publish", "pages"]) {
        // Not "release": it is as often a build profile (`cargo build --release`) as a deployment.
        FailureClass::Deploy
    } else if has(&["test", "spec", "check"]) {
        FailureClass::Test
    } else if has(&["build", "compile", "package", "install"]) {
        FailureClass::Build
    } else if has(&["set up job", "runner", "checkout"]) {
        FailureClass::Infrastructure
    } else {
        FailureClass::Test
    }
}

/// The stable signature of a failure, `workflow/job/step/class` (`-` for an unknown step).
pub fn failure_signature(workflow: &str, job: &str, step: Option<&str>, class: FailureClass) -> String {
    format!("{workflow}/{job}/{}/{}", step.unwrap_or("-"), class.as_str())
}

#[cfg(test)]
mod tests;
