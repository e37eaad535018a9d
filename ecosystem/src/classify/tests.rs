//! Table-driven tests of the classifiers on realistic issue and CI samples.

use super::*;

#[track_caller]
fn check(labels: &[&str], title: &str, body: &str, expected: Option<Priority>) {
    assert_eq!(classify_issue(labels, title, body), expected, "labels {labels:?}, title {title:?}, body {body:?}");
}

#[test]
fn issue_priorities() {
    use Priority::{Critical, High, Low, Medium};
    let table: &[(&[&str], &str, &str, Option<Priority>)] = &[
        // Explicit priority labels win outright.
        (&["P0"], "Typo in README", "", Some(Critical)),
        (&["priority: P1"], "Typo in README", "", Some(High)),
        (&["priority/low", "bug"], "Crash when the cache is full", "", Some(Low)),
        (&["severity: critical"], "Login page is slow", "", Some(Critical)),
        (&["Priority: High"], "Add a --json flag", "", Some(High)),
        (&["p2", "p0"], "Two priority labels", "", Some(Critical)),
        // Type labels in GitHub's conventions.
        (&["type: bug"], "Wrong exit code on empty input", "", Some(High)),
        (&["kind/bug"], "Wrong exit code on empty input", "", Some(High)),
        (&["bug", "documentation"], "Example in the guide does not compile", "", Some(High)),
        (&["security"], "Token printed in debug logs", "", Some(Critical)),
        (&["breaking-change"], "Rename the config file", "", Some(Critical)),
        (&["data-loss"], "Sync drops the last entry", "", Some(Critical)),
        (&["enhancement"], "Support Windows", "", Some(Medium)),
        (&["type: feature request"], "Support Windows", "", Some(Medium)),
        (&["documentation"], "Explain the retry policy", "", Some(Low)),
        (&["chore"], "Bump serde to 1.0.200", "", Some(Low)),
        // A critical title raises a generic label, a lower one does not.
        (&["type: bug"], "Segfault when the config is empty", "", Some(Critical)),
        (&["documentation"], "Performance section is outdated", "", Some(Low)),
        // Labels that say nothing fall through to the title, then the body.
        (&["good first issue"], "Crash on start", "", Some(Critical)),
        (&[], "CVE-2024-3094 in the bundled xz", "", Some(Critical)),
        (&[], "Data loss after an unclean shutdown", "", Some(Critical)),
        (&[], "Regression in 2.3: build takes twice as long", "", Some(High)),
        (&[], "Memory leak in the watcher", "", Some(High)),
        (&[], "Feature: export to CSV", "", Some(Medium)),
        (&[], "Fix typo in CONTRIBUTING", "", Some(Low)),
        (&[], "Unexpected output", "Steps to reproduce: run it twice and it panics.", Some(Critical)),
        (&[], "Unexpected output", "Looks like a bug in the parser.", Some(High)),
        // The title beats the body, however alarming the body.
        (&[], "Update docs for v2", "Mention the security policy.", Some(Low)),
        // Whole words only, case-insensitive.
        (&[], "Critically acclaimed plugin support", "", None),
        (&[], "Crashpad integration", "", None),
        (&[], "Debugging tips", "", None),
        (&[], "SECURITY: path traversal in the static file handler", "", Some(Critical)),
        // Nothing to go on.
        (&["question"], "How do I configure a proxy?", "", None),
        (&[], "", "", None),
    ];
    for (labels, title, body, expected) in table {
        check(labels, title, body, *expected);
    }
}

/// Job, first failed step, conclusion, annotations, expected class.
type FailureCase = (&'static str, Option<&'static str>, Option<&'static str>, &'static [&'static str], FailureClass);

#[test]
fn failure_classes() {
    use FailureClass::{Build, Deploy, Infrastructure, Lint, Test};
    let table: &[FailureCase] = &[
        ("test (ubuntu-latest)", Some("cargo test"), Some("failure"), &[], Test),
        ("unit-tests", Some("npm run spec"), Some("failure"), &[], Test),
        ("lint", Some("cargo clippy"), Some("failure"), &[], Lint),
        ("ci", Some("Run cargo fmt --check"), Some("failure"), &[], Lint),
        ("frontend", Some("eslint"), Some("failure"), &[], Lint),
        ("build", Some("cargo build --release"), Some("failure"), &[], Build),
        ("wheels", Some("Compile extension"), Some("failure"), &[], Build),
        ("deploy", Some("publish pages"), Some("failure"), &[], Deploy),
        ("docs", Some("Deploy to GitHub Pages"), Some("failure"), &[], Deploy),
        ("test", None, Some("timed_out"), &[], Infrastructure),
        ("test", None, Some("cancelled"), &[], Infrastructure),
        ("run", None, Some("startup_failure"), &[], Infrastructure),
        ("e2e", Some("Set up job"), Some("failure"), &[], Infrastructure),
        (
            "test",
            Some("cargo test"),
            Some("failure"),
            &["The self-hosted runner: runner-3 lost communication with the server."],
            Infrastructure,
        ),
        ("build", Some("npm ci"), Some("failure"), &["npm ERR! network reset by peer (ECONNRESET)"], Infrastructure),
        ("test", Some("cargo test"), Some("failure"), &["Process completed with exit code 101."], Test),
        ("misc", Some("Run ./script.sh"), Some("failure"), &[], Test),
    ];
    for (job, step, conclusion, annotations, expected) in table {
        assert_eq!(
            classify_failure(job, *step, *conclusion, annotations),
            *expected,
            "{job} {step:?} {conclusion:?} {annotations:?}"
        );
    }
}

#[test]
fn signatures_are_stable() {
    assert_eq!(failure_signature("ci", "test", Some("cargo test"), FailureClass::Test), "ci/test/cargo test/test");
    assert_eq!(failure_signature("ci", "run", None, FailureClass::Infrastructure), "ci/run/-/infrastructure");
}
