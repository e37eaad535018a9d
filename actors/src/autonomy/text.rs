//! What hive writes into issues, comments and pull requests: bodies built from quoted (never raw) names, with the
//! hidden marker that finds them again and the decision record that explains them.
//!
//! Workflow, job and step names come from repositories hive does not control, so they are written as code spans or
//! escaped prose (`hive_cerebrum::quote`), never as markdown or HTML, and never able to mention anyone.

use hive_cerebrum::quote;
use hive_forge::{CiFailure, FailureClass};
use sha1::{Digest, Sha1};

/// The first 16 hex digits of the SHA-1 of an identity key: what markers and branch names carry, so a hostile name
/// in the key never reaches a marker or a ref.
pub(crate) fn key_hash(key: &str) -> String {
    format!("{:x}", Sha1::digest(key.as_bytes()))[..16].to_owned()
}

/// The hidden marker of an issue: `<!-- hive:key <hash> -->`.
pub(crate) fn issue_marker(key: &str) -> String {
    format!("<!-- hive:key {} -->", key_hash(key))
}

/// The hidden marker of a dated comment, so a comment lost between GitHub and the database is found again.
pub(crate) fn comment_marker(key: &str, kind: &str, day: &str) -> String {
    format!("<!-- hive:comment {} {kind} {day} -->", key_hash(key))
}

/// The title of the issue tracking one CI failure, before quoting (redact it first, then
/// `quote::issue_title`: a secret cut in half by the length limit would no longer be recognised).
pub(crate) fn ci_issue_raw_title(failure: &CiFailure, branch: &str) -> String {
    format!("CI failing on {branch}: {} / {} ({})", failure.workflow, failure.job, failure.class.as_str())
}

/// The title of the issue tracking one CI failure.
#[cfg(test)]
pub(crate) fn ci_issue_title(failure: &CiFailure, branch: &str) -> String {
    quote::issue_title(&ci_issue_raw_title(failure, branch))
}

/// The body of the issue tracking one CI failure (without marker and decision record, which [`finish`] adds).
pub(crate) fn ci_issue_body(repo: &str, failure: &CiFailure, branch: &str) -> String {
    let mut body = String::new();
    body.push_str(&format!(
        "CI on the default branch {} of {} is failing.\n\n",
        quote::code(branch),
        quote::code(repo)
    ));
    body.push_str(&format!("- workflow: {}\n", quote::code(&failure.workflow)));
    body.push_str(&format!("- job: {}\n", quote::code(&failure.job)));
    if let Some(step) = &failure.step {
        body.push_str(&format!("- step: {}\n", quote::code(step)));
    }
    body.push_str(&format!("- kind: {}\n", failure.class.as_str()));
    body.push_str(&format!("- signature: {}\n", quote::code(&failure.signature())));
    if let Some(run) = &failure.run {
        let sha: String = run.head_sha.chars().take(12).collect();
        body.push_str(&format!("- latest failing commit: {}\n", quote::code(&sha)));
        if is_web_url(&run.url) {
            body.push_str(&format!("- latest failing run: {}\n", run.url));
        }
    }
    if let Some(remedy) = remedy(failure.class) {
        body.push_str(&format!("\n{remedy}\n"));
    }
    body.push_str("\nhive keeps this issue up to date while the failure lasts and closes it when CI is green again.\n");
    body
}

/// What fixes a failure of `class` when hive does not make the fix itself: the pull request it would open, described
/// for a maintainer.
fn remedy(class: FailureClass) -> Option<&'static str> {
    match class {
        FailureClass::Dependency => Some(
            "Dependencies did not resolve: a version that does not exist or conflicts, or a lockfile out of step \
             with its manifest. A pull request that refreshes the lockfile (`cargo update`, `npm install`, \
             `poetry lock`, `go mod tidy`) or bumps the dependency the log names fixes it; hive proposes it here and \
             does not change dependencies itself.",
        ),
        FailureClass::Test
        | FailureClass::Build
        | FailureClass::Lint
        | FailureClass::Deploy
        | FailureClass::Infrastructure => None,
    }
}

/// A URL safe to print bare in markdown: http(s), no spaces, no markup characters.
pub(crate) fn is_web_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() < 500
        && !url.chars().any(|c| c.is_whitespace() || c.is_control() || "<>\"'`()[]".contains(c))
}

/// A body as written: the text, then the marker and the decision record, hidden in HTML comments.
pub(crate) fn finish(text: &str, marker: &str, record: &str) -> String {
    format!("{text}\n{marker}\n{record}\n")
}

/// Whether `body` carries `marker` on a line of its own (a hostile name quoted in the text cannot forge one).
pub(crate) fn has_marker(body: &str, marker: &str) -> bool {
    body.lines().any(|line| line == marker)
}

/// The part of a body that says what the failure is: the text before the hidden comments. A body is rewritten only
/// when this changes.
pub(crate) fn visible(body: &str) -> &str {
    body.split("\n<!-- hive:").next().unwrap_or(body).trim_end()
}

/// Mentions of the configured owners (already validated as GitHub logins or teams).
pub(crate) fn mentions(owners: &[String]) -> String {
    owners.iter().map(|o| format!("@{o}")).collect::<Vec<_>>().join(" ")
}

/// Whether `owner` is a GitHub login (`alice`) or team (`acme/core`): what may be mentioned.
pub fn is_valid_owner(owner: &str) -> bool {
    let login = |s: &str| {
        !s.is_empty()
            && s.len() <= 39
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    };
    match owner.split_once('/') {
        Some((org, team)) => {
            login(org)
                && !team.is_empty()
                && team.len() <= 100
                && team.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        }
        None => login(owner),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(workflow: &str, job: &str) -> CiFailure {
        CiFailure { workflow: workflow.into(), job: job.into(), step: None, class: FailureClass::Test, run: None }
    }

    #[test]
    fn hostile_names_stay_quoted() {
        let (workflow, job) = ("ci <!-- --> @acme/team", "`$(rm -rf /)`\n# heading");
        let f = failure(workflow, job);
        let body = ci_issue_body("acme/api", &f, "main");
        // Each name is exactly one code span on its own line: never markup, never a mention, never a new line.
        assert!(body.lines().any(|l| l == format!("- workflow: {}", quote::code(workflow))), "{body}");
        assert!(body.lines().any(|l| l == format!("- job: {}", quote::code(job))), "{body}");
        assert!(!body.lines().any(|l| l.starts_with("# heading")), "{body}");
        let title = ci_issue_title(&f, "main");
        assert!(!title.contains('\n'), "{title}");
    }

    #[test]
    fn a_dependency_failure_s_issue_describes_the_pull_request_that_fixes_it() {
        let dependency = CiFailure { class: FailureClass::Dependency, ..failure("ci", "build") };
        let body = ci_issue_body("acme/api", &dependency, "main");
        assert!(body.contains("- kind: dependency\n"), "{body}");
        assert!(body.contains("refreshes the lockfile") && body.contains("bumps the dependency"), "{body}");
        // Other classes keep the body they always had.
        let test = ci_issue_body("acme/api", &failure("ci", "build"), "main");
        assert!(!test.contains("lockfile"), "{test}");
        assert!(
            test.ends_with(
                "signature: `ci/build/-/test`\n\nhive keeps this issue up to date while the failure \
                                lasts and closes it when CI is green again.\n"
            ),
            "{test}"
        );
    }

    #[test]
    fn visible_part_ignores_the_hidden_comments() {
        let body = finish("text", &issue_marker("k"), "<!-- hive:decision {} -->");
        assert_eq!(visible(&body), "text");
    }

    #[test]
    fn owners_are_logins_or_teams() {
        for ok in ["alice", "a-b", "acme/core-team"] {
            assert!(is_valid_owner(ok), "{ok}");
        }
        for bad in ["", "-a", "a b", "@alice", "a/b/c", "x;y", "acme/"] {
            assert!(!is_valid_owner(bad), "{bad}");
        }
    }

    #[test]
    fn urls_with_markup_are_not_printed_bare() {
        assert!(is_web_url("https://github.com/acme/api/actions/runs/1"));
        assert!(!is_web_url("javascript:alert(1)"));
        assert!(!is_web_url("https://x/<script>"));
    }
}
