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
    use FailureClass::{Build, Dependency, Deploy, Infrastructure, Lint, Test};
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
        // Dependencies that do not resolve, in cargo's problem-matcher annotation, whatever the job is called.
        (
            "lint",
            "failure",
            Some("cargo clippy"),
            &["failed to select a version for the requirement `serde = \"=999.0.0\"`", EXIT_1],
            Dependency,
        ),
        (
            "build",
            "failure",
            Some("cargo build --locked"),
            &["cannot update the lock file /home/runner/work/app/app/Cargo.lock because --locked was passed to \
               prevent this"],
            Dependency,
        ),
        // A registry that could not be reached is the machine's, even mid-resolution.
        (
            "build",
            "failure",
            Some("cargo build"),
            &[
                "failed to get `serde` as a dependency of package `app v0.1.0`",
                "Could not resolve host: index.crates.io",
            ],
            Infrastructure,
        ),
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

/// Output as the package managers print it when dependencies do not resolve (cargo 1.95, npm 11, pip 24; go's words
/// as `go build` prints them), and output that only looks like it.
#[test]
fn dependency_failures_in_real_output() {
    use FailureClass::{Build, Dependency, Test};
    let table: &[(&str, &str, FailureClass)] = &[
        (
            "cargo: a version that does not exist",
            "    Updating crates.io index\n\
             error: failed to select a version for the requirement `serde = \"=999.0.0\"`\n\
             candidate versions found which didn't match: 1.0.229, 1.0.228, 1.0.227, ...\n\
             location searched: crates.io index\n\
             required by package `c1 v0.1.0 (/tmp/deplogs/c1)`\n",
            Dependency,
        ),
        (
            "cargo: a crate that does not exist",
            "    Updating crates.io index\n\
             error: no matching package named `no-such-crate-hive-xyz` found\n\
             location searched: crates.io index\n\
             required by package `c3 v0.1.0 (/tmp/deplogs/c3)`\n",
            Dependency,
        ),
        (
            "cargo: --locked with a lockfile to update",
            "error: cannot update the lock file /tmp/deplogs/c2/Cargo.lock because --locked was passed to prevent \
             this\nhelp: to generate the lock file without accessing the network, remove the --locked flag and use \
             --offline instead.\n",
            Dependency,
        ),
        (
            "cargo: the same, as older versions say it",
            "error: the lock file /work/app/Cargo.lock needs to be updated but --locked was passed to prevent this\n",
            Dependency,
        ),
        (
            "cargo: offline, a resolution failure is the machine's",
            "error: failed to select a version for the requirement `serde = \"=999.0.0\"`\n\
             candidate versions found which didn't match: 1.0.229\n\
             location searched: crates.io index\n\
             As a reminder, you're using offline mode (--offline) which can sometimes cause surprising resolution \
             failures, if this error is too confusing you may wish to retry without `--offline`.\n",
            Test,
        ),
        (
            "npm: package.json and the lockfile out of step",
            "npm error code EUSAGE\nnpm error\n\
             npm error `npm ci` can only install packages when your package.json and package-lock.json or \
             npm-shrinkwrap.json are in sync. Please update your lock file with `npm install` before continuing.\n\
             npm error\nnpm error Missing: left-pad@1.3.0 from lock file\n",
            Dependency,
        ),
        (
            "npm: a version that does not exist",
            "npm error code ETARGET\n\
             npm error notarget No matching version found for left-pad@999.0.0.\n\
             npm error notarget In most cases you or one of your dependencies are requesting a package version \
             that doesn't exist.\n",
            Dependency,
        ),
        (
            "npm: a peer dependency conflict",
            "npm error code ERESOLVE\nnpm error ERESOLVE unable to resolve dependency tree\nnpm error\n\
             npm error While resolving: n2@1.0.0\nnpm error Found: react@17.0.2\n\
             npm error Could not resolve dependency:\nnpm error peer react@\"^18.2.0\" from react-dom@18.2.0\n",
            Dependency,
        ),
        (
            "npm: the registry out of reach",
            "npm error code EAI_AGAIN\n\
             npm error syscall getaddrinfo\n\
             npm error request to https://registry.npmjs.org/left-pad failed, reason: getaddrinfo EAI_AGAIN \
             registry.npmjs.org\n",
            Test,
        ),
        (
            "pip: a version that does not exist",
            "ERROR: Could not find a version that satisfies the requirement requests==999.0 (from versions: 0.2.0, \
             2.32.3, 2.34.2)\nERROR: No matching distribution found for requests==999.0\n",
            Dependency,
        ),
        (
            "pip: a conflict",
            "ERROR: Cannot install requests==2.32.3 and urllib3==1.20 because these package versions have \
             conflicting dependencies.\n\nThe conflict is caused by:\n    The user requested urllib3==1.20\n\
             \x20   requests 2.32.3 depends on urllib3<3 and >=1.21.1\n\n\
             ERROR: ResolutionImpossible: for help visit \
             https://pip.pypa.io/en/latest/topics/dependency-resolution/#dealing-with-dependency-conflicts\n",
            Dependency,
        ),
        (
            "pip: offline, the same words are the machine's",
            "WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after \
             connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at \
             0x7f>: Failed to establish a new connection: [Errno -3] Temporary failure in name resolution')': \
             /simple/requests/\n\
             ERROR: Could not find a version that satisfies the requirement requests==2.32.3 (from versions: none)\n",
            Test,
        ),
        (
            "go: a missing go.sum entry",
            "main.go:5:2: missing go.sum entry for module providing package golang.org/x/text/language (imported \
             by example.com/app); to add:\n\tgo get example.com/app\n",
            Dependency,
        ),
        ("go: go.mod out of step", "go: updates to go.mod needed; to update it:\n\tgo mod tidy\n", Dependency),
        (
            "go: the module proxy out of reach",
            "go: github.com/pkg/errors@v0.9.1: Get \"https://proxy.golang.org/github.com/pkg/errors/@v/v0.9.1.mod\": \
             dial tcp: lookup proxy.golang.org on 127.0.0.53:53: no such host\n",
            Test,
        ),
        // Output that mentions dependencies without failing to resolve them.
        (
            "a test about lockfiles",
            "test lockfile::refresh ... FAILED\nthread 'lockfile::refresh' panicked at src/lib.rs:9:5\n",
            Test,
        ),
        (
            "a compile error in a crate that resolved",
            "   Compiling serde v1.0.228\nerror[E0425]: cannot find value `x`\nerror: could not compile `app`\n",
            Build,
        ),
    ];
    for (what, output, expected) in table {
        // The same words on either stream.
        assert_eq!(classify_output(output, ""), *expected, "{what} (stdout)");
        assert_eq!(classify_output("", output), *expected, "{what} (stderr)");
        assert_eq!(shows_dependency_failure(output), *expected == Dependency, "{what}");
    }
    // The network's words on one stream veto the resolver's on the other.
    let resolver = "error: failed to select a version for the requirement `serde = \"^1\"`";
    assert_eq!(classify_output(resolver, "Could not resolve host: index.crates.io"), Test);
    // Dependency resolution comes before a compile error it causes.
    assert_eq!(classify_output("", &format!("{resolver}\nerror: could not compile `app`")), Dependency);
}
