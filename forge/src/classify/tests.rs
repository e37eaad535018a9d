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

/// A step with its conclusion, for the tables.
fn step(name: &'static str, conclusion: &'static str) -> JobStep<'static> {
    JobStep { name, conclusion: Some(conclusion) }
}

#[track_caller]
fn check_failure(name: &str, conclusion: &str, steps: &[JobStep<'_>], annotations: &[&str], expected: FailureClass) {
    let job = FailedJob { name, conclusion: Some(conclusion), steps, annotations };
    assert_eq!(classify_failure(&job), expected, "{job:?}");
}

/// Job, conclusion, first failed step (after a successful checkout), annotations, expected class: the names decide
/// unless the conclusion or an annotation blames the machine.
type FailureCase = (&'static str, &'static str, Option<&'static str>, &'static [&'static str], FailureClass);

#[test]
fn failure_classes() {
    use FailureClass::{Build, Deploy, Infrastructure, Lint, Test};
    const EXIT_1: &str = "Process completed with exit code 1.";
    let table: &[FailureCase] = &[
        ("test (ubuntu-latest)", "failure", Some("cargo test"), &[], Test),
        ("unit-tests", "failure", Some("npm run spec"), &[], Test),
        ("lint", "failure", Some("cargo clippy"), &[], Lint),
        ("ci", "failure", Some("Run cargo fmt --check"), &[], Lint),
        ("frontend", "failure", Some("eslint"), &[], Lint),
        ("build", "failure", Some("cargo build --release"), &[], Build),
        ("wheels", "failure", Some("Compile extension"), &[], Build),
        ("deploy", "failure", Some("publish pages"), &[], Deploy),
        ("docs", "failure", Some("Deploy to GitHub Pages"), &[], Deploy),
        ("test", "timed_out", None, &[], Infrastructure),
        ("test", "cancelled", None, &[], Infrastructure),
        ("run", "startup_failure", None, &[], Infrastructure),
        ("e2e", "failure", Some("Set up job"), &[], Infrastructure),
        ("misc", "failure", Some("Run ./script.sh"), &[], Test),
        ("misc", "failure", None, &[], Test),
        // The runner's exit-code annotation is on every failed step: it changes nothing.
        ("test", "failure", Some("cargo test"), &["Process completed with exit code 101."], Test),
        ("lint", "failure", Some("cargo clippy"), &[EXIT_1], Lint),
        ("build", "failure", Some("cargo build"), &[EXIT_1, "unused variable: `x`"], Build),
        // The runner's own words about the machine, as GitHub writes them.
        (
            "test",
            "failure",
            Some("cargo test"),
            &[
                "The runner has received a shutdown signal. This can happen when the runner service is stopped, or a \
               manually started runner is canceled.",
                EXIT_1,
            ],
            Infrastructure,
        ),
        (
            "test",
            "failure",
            Some("cargo test"),
            &["The self-hosted runner: runner-3 lost communication with the server. Verify the machine is running \
               and has a healthy network connection."],
            Infrastructure,
        ),
        ("lint", "failure", Some("cargo clippy"), &["The operation was canceled."], Infrastructure),
        ("build", "failure", Some("npm ci"), &["npm ERR! network reset by peer (ECONNRESET)"], Infrastructure),
        (
            "test",
            "failure",
            Some("cargo test"),
            &["No space left on device : '/home/runner/work/_temp'"],
            Infrastructure,
        ),
        // A test that merely talks about shutdowns is still a test failure.
        ("test", "failure", Some("cargo test"), &["test graceful_shutdown_signal ... FAILED", EXIT_1], Test),
    ];
    for (job, conclusion, failed, annotations, expected) in table {
        let mut steps = vec![step("Set up job", "success"), step("Run actions/checkout@v4", "success")];
        steps.extend(failed.map(|name| step(name, "failure")));
        steps.push(step("Post Run actions/checkout@v4", "success"));
        check_failure(job, conclusion, &steps, annotations, *expected);
    }
}

#[test]
fn a_job_whose_only_unsuccessful_steps_were_cancelled_lost_its_runner() {
    use FailureClass::{Infrastructure, Test};
    let setup = step("Set up job", "success");
    // The runner went away mid-step: the step is cancelled, the rest skipped, the job still says `failure`.
    check_failure(
        "test",
        "failure",
        &[setup, step("cargo test", "cancelled"), step("Upload coverage", "skipped")],
        &[],
        Infrastructure,
    );
    check_failure("lint", "failure", &[setup, step("cargo clippy", "cancelled")], &[], Infrastructure);
    // Unfinished steps say nothing; a cancelled one still counts.
    let unfinished = JobStep { name: "Complete job", conclusion: None };
    check_failure("test", "failure", &[setup, step("cargo test", "cancelled"), unfinished], &[], Infrastructure);
    // One real failure among cancelled steps: the code failed, and the first failed step names it.
    check_failure(
        "test",
        "failure",
        &[setup, step("cargo test", "failure"), step("integration", "cancelled")],
        &[],
        Test,
    );
    // A step that ran out of time hung on its own: that is the code's failure, not the machine's.
    check_failure("test", "failure", &[setup, step("cargo test", "timed_out"), step("report", "cancelled")], &[], Test);
    // No unsuccessful step at all (a failure outside the steps): the names decide.
    check_failure("test", "failure", &[setup, step("cargo test", "success")], &[], Test);
    check_failure("test", "failure", &[], &[], Test);
}

#[test]
fn the_failed_step_is_the_first_that_failed_timed_out_or_was_cancelled() {
    let steps = [step("Set up job", "success"), step("cargo test", "cancelled"), step("deploy", "failure")];
    assert_eq!(FailedJob { steps: &steps, ..FailedJob::new("ci", Some("failure")) }.failed_step(), Some("cargo test"));
    assert_eq!(FailedJob::new("ci", Some("failure")).failed_step(), None);
}

#[test]
fn signatures_are_stable() {
    assert_eq!(failure_signature("ci", "test", Some("cargo test"), FailureClass::Test), "ci/test/cargo test/test");
    assert_eq!(failure_signature("ci", "run", None, FailureClass::Infrastructure), "ci/run/-/infrastructure");
}
