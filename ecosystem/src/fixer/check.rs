//! Checks on a fix request's values before any of them reaches git: branch names by `git check-ref-format
//! --branch` rules narrowed to a small character set, and the clone URL by the rules for import sources.

use std::path::Path;

use super::FixError;
use crate::{EcosystemError, manager::check_remote};

/// Branch names longer than this are refused; deterministic fix branches are far shorter.
const MAX_BRANCH_LEN: usize = 200;

/// Checks a branch name. git's own rules allow `$`, `(`, `;` and more, which are harmless in an argument vector
/// but alarming in a log or a pull request, so only letters, digits and `-_./+` are accepted on top of them.
pub fn check_branch(field: &'static str, value: &str) -> Result<(), FixError> {
    let reason = branch_problem(value);
    match reason {
        None => Ok(()),
        Some(reason) => Err(FixError::InvalidBranch { field, value: value.escape_debug().to_string(), reason }),
    }
}

fn branch_problem(value: &str) -> Option<&'static str> {
    let problem = if value.is_empty() {
        "it is empty"
    } else if value.len() > MAX_BRANCH_LEN {
        "it is longer than 200 characters"
    } else if value.chars().any(char::is_control) {
        "control characters are not allowed"
    } else if value.chars().any(char::is_whitespace) {
        "spaces are not allowed"
    } else if value.starts_with('-') {
        "it would be read as a command-line option"
    } else if value.contains("..") {
        "'..' is not allowed"
    } else if value.contains("@{") || value == "@" {
        "'@{' and a lone '@' are not allowed"
    } else if value.contains("//") || value.starts_with('/') || value.ends_with('/') {
        "empty path components are not allowed"
    } else if value.ends_with('.') {
        "it may not end with '.'"
    } else if value.split('/').any(|part| part.starts_with('.') || part.ends_with(".lock")) {
        "a component may not start with '.' or end with '.lock'"
    } else if !value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b'+')) {
        "only letters, digits and '-', '_', '.', '/', '+' are allowed"
    } else {
        return None;
    };
    Some(problem)
}

/// Checks the clone URL and returns what to hand to git. An existing local directory becomes an absolute `file://`
/// URL, because git ignores `--depth` for plain local paths.
pub(crate) fn check_clone_url(value: &str) -> Result<String, FixError> {
    let refuse = |reason: String| FixError::InvalidCloneUrl { value: value.escape_debug().to_string(), reason };
    match check_remote(value) {
        Ok(()) => {}
        Err(EcosystemError::InvalidDestination { reason, .. }) => return Err(refuse(reason.to_owned())),
        Err(other) => return Err(refuse(other.to_string())),
    }
    let trimmed = value.trim();
    let path = Path::new(trimmed);
    if !trimmed.contains("://") && path.is_dir() {
        let absolute = path.canonicalize().map_err(|e| refuse(format!("the path cannot be resolved: {e}")))?;
        let Some(text) = absolute.to_str() else {
            return Err(refuse("the path is not valid UTF-8".to_owned()));
        };
        return Ok(format!("file://{text}"));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_style_names_pass() {
        for good in ["main", "hive/fix/lint-3fa2c1d0", "release/1.2", "v1+build", "a_b"] {
            assert_eq!(branch_problem(good), None, "{good}");
        }
    }

    #[test]
    fn hostile_and_malformed_names_are_refused() {
        for bad in [
            "",
            "../x",
            "-x",
            "a b",
            "x;rm -rf /",
            "$(id)",
            "a\nb",
            "a\u{7f}",
            "x@{1}",
            "@",
            "a//b",
            "/a",
            "a/",
            "a.",
            "a.lock",
            "a.lock/b",
            ".hidden",
            "a/.b",
            "a:b",
            "a~1",
            "a^",
            "a?*[",
            "a\\b",
            &"x".repeat(201),
        ] {
            assert!(branch_problem(bad).is_some(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn clone_urls_keep_remote_forms_and_make_local_paths_absolute() {
        assert_eq!(check_clone_url("https://example.com/a/b.git").unwrap(), "https://example.com/a/b.git");
        assert_eq!(check_clone_url("git@example.com:a/b.git").unwrap(), "git@example.com:a/b.git");
        let dir = tempfile::tempdir().unwrap();
        let url = check_clone_url(dir.path().to_str().unwrap()).unwrap();
        assert!(url.starts_with("file:///"), "{url}");
        for bad in ["--upload-pack=touch /tmp/x", "ext::sh -c id", "-x", "", "ssh://-oProxyCommand=x/y"] {
            assert!(matches!(check_clone_url(bad), Err(FixError::InvalidCloneUrl { .. })), "{bad:?} was accepted");
        }
    }
}
