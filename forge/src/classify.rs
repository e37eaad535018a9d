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
//!    "no space left on device", or a name that could not be resolved ("Could not resolve host", "Temporary
//!    failure in name resolution", `EAI_AGAIN`). The runner's "Process completed with exit code 1." on every failed
//!    step says nothing either way.
//! 4. An annotation that shows dependencies failing to resolve (below) is [`FailureClass::Dependency`], whatever
//!    the job is called: a lint job fails too when its dependencies do not resolve.
//! 5. Otherwise the job's name and its first failed step's name decide, in this order: lint (`lint`, `clippy`,
//!    `fmt`, `format`, `eslint`, ...), deploy (`deploy`, `publish`, `pages`), test (`test`, `spec`, `check`), build
//!    (`build`, `compile`, `package`, `install`), infrastructure (`set up job`, `runner`, `checkout`), and test when
//!    nothing matches.
//!
//! Annotations can make a failure [`FailureClass::Infrastructure`] or [`FailureClass::Dependency`], and
//! infrastructure is decided first, so a reader that gets that answer without them need not fetch them.
//!
//! # A failure's output
//!
//! [`classify_output`] classifies what a failed command printed (local CI's test command): dependency resolution
//! first (below), then a compile error (`error[E`, `error: could not compile`, `SyntaxError`, `[build failed]`,
//! `error TS`, ...), then a formatting check's complaint (rustfmt's `Diff in`, black's and ruff's `would reformat`,
//! prettier's `Code style issues found`), and test otherwise.
//!
//! # Dependency resolution
//!
//! [`shows_dependency_failure`] reads the package managers' own words, as they print them:
//!
//! | tool | what it says |
//! |------|--------------|
//! | cargo | `failed to select a version for`, `no matching package named`, `... was passed to prevent this` (`--locked`/`--frozen` with a lockfile to update), `failed to parse lock file at`, `cannot be built because it requires rustc`, `cyclic package dependency` |
//! | npm, yarn, pnpm | `code ERESOLVE`, `Could not resolve dependency`, `code ETARGET`, `No matching version found for`, `` `npm ci` can only install packages when your package.json and package-lock.json ``, `Your lockfile needs to be updated`, `lockfile would have been modified`, `ERR_PNPM_OUTDATED_LOCKFILE`, `ERR_PNPM_NO_MATCHING_VERSION` |
//! | pip, poetry, uv | `Could not find a version that satisfies the requirement`, `No matching distribution found for`, `ResolutionImpossible`, `have conflicting dependencies`, `do not match the hashes from the requirements file`, `poetry.lock was last generated`, `version solving failed`, `No solution found when resolving dependencies`, `` uv.lock` needs to be updated `` |
//! | go | `updates to go.mod needed`, `missing go.sum entry`, `no required module provides package`, `unknown revision`, `inconsistent vendoring`, `go.mod requires go >=` |
//!
//! A resolution that failed because the network did (`Could not resolve host`, `Temporary failure in name
//! resolution`, `getaddrinfo`, `EAI_AGAIN`, `network is unreachable`, `Failed to establish a new connection`, go's
//! `dial tcp`, cargo's `offline mode`, npm's `ENOTCACHED`) is not one: no bump fixes a machine without a network.
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
const INFRASTRUCTURE_ANNOTATIONS: [&str; 11] = [
    "the runner has received a shutdown signal",
    "lost communication with the server",
    "the operation was canceled",
    "runner lost",
    "network reset",
    "connection reset",
    "econnreset",
    "no space left on device",
    "could not resolve host",
    "temporary failure in name resolution",
    "eai_again",
];

/// What package managers print when dependencies do not resolve, lowercase (see the [module docs](self)).
const DEPENDENCY_MARKERS: [&str; 32] = [
    // cargo
    "failed to select a version for",
    "no matching package named",
    "was passed to prevent this",
    "failed to parse lock file at",
    "cannot be built because it requires rustc",
    "cyclic package dependency",
    // npm, yarn, pnpm
    "code eresolve",
    "could not resolve dependency",
    "code etarget",
    "no matching version found for",
    "`npm ci` can only install packages when your package.json and package-lock.json",
    "your lockfile needs to be updated",
    "lockfile would have been modified",
    "err_pnpm_outdated_lockfile",
    "err_pnpm_no_matching_version",
    // pip, poetry, uv
    "could not find a version that satisfies the requirement",
    "no matching distribution found for",
    "resolutionimpossible",
    "have conflicting dependencies",
    "do not match the hashes from the requirements file",
    "poetry.lock was last generated",
    "version solving failed",
    "no solution found when resolving dependencies",
    "uv.lock` needs to be updated",
    // go
    "updates to go.mod needed",
    "missing go.sum entry",
    "no required module provides package",
    "unknown revision",
    "inconsistent vendoring",
    "go.mod requires go >=",
    // Both of cargo's lockfile flags, spelled as older versions did.
    "needs to be updated but --locked was passed",
    "needs to be updated but --frozen was passed",
];

/// What package managers print when the network, not the dependency, failed: a resolution failure that shows one of
/// these is the machine's (lowercase).
const NETWORK_MARKERS: [&str; 11] = [
    "could not resolve host",
    "couldn't resolve host",
    "temporary failure in name resolution",
    "getaddrinfo",
    "eai_again",
    "network is unreachable",
    "failed to establish a new connection",
    "dial tcp",
    "offline mode",
    "enotcached",
    "spurious network error",
];

/// Whether `text` (a log, an annotation) shows dependencies failing to resolve, and not because the network failed;
/// see the [module docs](self) for the words.
///
/// ```
/// use hive_forge::shows_dependency_failure;
///
/// assert!(shows_dependency_failure("error: failed to select a version for the requirement `serde = \"=999.0.0\"`"));
/// assert!(shows_dependency_failure("npm error code ERESOLVE\nnpm error ERESOLVE unable to resolve dependency tree"));
/// // Offline, the same words are the machine's.
/// assert!(!shows_dependency_failure(
///     "error: failed to select a version for the requirement `serde`\nAs a reminder, you're using offline mode"
/// ));
/// assert!(!shows_dependency_failure("test result: FAILED. 1 passed; 1 failed"));
/// ```
pub fn shows_dependency_failure(text: &str) -> bool {
    let text = text.to_lowercase();
    DEPENDENCY_MARKERS.iter().any(|marker| text.contains(marker))
        && !NETWORK_MARKERS.iter().any(|marker| text.contains(marker))
}

/// Signs of a compile (rather than test) failure in the common toolchains' output.
const BUILD_MARKERS: [&str; 12] = [
    "error[E",
    "error: could not compile",
    "SyntaxError",
    "IndentationError",
    "cannot find symbol",
    "COMPILATION ERROR",
    "Compilation failed",
    "compilation failed",
    "[build failed]",
    "undefined reference to",
    ": fatal error:",
    "error TS",
];

/// Signs of a formatting check that failed (rustfmt's, black's, ruff's and prettier's `--check`): the repository's
/// formatter would fix it.
const LINT_MARKERS: [&str; 5] =
    ["Diff in ", "would reformat ", "Would reformat: ", "Code style issues found", "files would be reformatted"];

/// Classifies a failed command from what it printed; see the [module docs](self) for the rules.
///
/// ```
/// use hive_forge::{FailureClass, classify_output};
///
/// assert_eq!(classify_output("", "error[E0425]: cannot find value `x`\nerror: could not compile `calc`"), FailureClass::Build);
/// assert_eq!(classify_output("", "missing go.sum entry for module providing package golang.org/x/text"), FailureClass::Dependency);
/// assert_eq!(classify_output("test result: FAILED", ""), FailureClass::Test);
/// ```
pub fn classify_output(stdout: &str, stderr: &str) -> FailureClass {
    let shows = |markers: &[&str]| markers.iter().any(|marker| stdout.contains(marker) || stderr.contains(marker));
    // Judged together: one stream may carry the resolver's words and the other the network's.
    if shows_dependency_failure(&format!("{stdout}\n{stderr}")) {
        return FailureClass::Dependency;
    }
    if shows(&BUILD_MARKERS) {
        FailureClass::Build
    } else if shows(&LINT_MARKERS) {
        FailureClass::Lint
    } else {
        FailureClass::Test
    }
}

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
    if !job.annotations.is_empty() && shows_dependency_failure(&job.annotations.join("\n")) {
        return FailureClass::Dependency;
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
