//! Reading one file of a repository at a ref ([`ForgeWriter::file_text`](crate::ForgeWriter::file_text)): the
//! checks every forge applies to the path and the ref before any request or git command, and the one limit on
//! what is read, so the same question gets the same answer from GitHub and from a local workspace.

use crate::WriteError;

/// The largest file read as text: GitHub's contents API inlines files up to this size only.
pub const MAX_FILE_TEXT: u64 = 1 << 20;

/// Refuses (quoting it with its control characters escaped) a path that is not a plain relative path inside the repository: empty, absolute, with an empty, `.` or
/// `..` segment, a control character, or a leading `-` (which git would read as an option).
pub(crate) fn check_path(path: &str) -> Result<(), WriteError> {
    let refuse = |reason: &'static str| Err(WriteError::InvalidPath { path: path.escape_debug().to_string(), reason });
    if path.is_empty() {
        return refuse("it is empty");
    }
    if path.starts_with('/') {
        return refuse("it is absolute");
    }
    if path.starts_with('-') {
        return refuse("it starts with '-'");
    }
    if path.chars().any(char::is_control) {
        return refuse("it holds a control character");
    }
    if path.split('/').any(|segment| matches!(segment, "" | "." | "..")) {
        return refuse("it has an empty, '.' or '..' segment");
    }
    Ok(())
}

/// Refuses a ref that cannot name a branch, tag or commit: empty, with a leading `-`, whitespace, a control
/// character or a `:` (which would change what `<ref>:<path>` names).
pub(crate) fn check_ref(git_ref: &str) -> Result<(), WriteError> {
    let refuse =
        |reason: &'static str| Err(WriteError::InvalidRef { git_ref: git_ref.escape_debug().to_string(), reason });
    if git_ref.is_empty() {
        return refuse("it is empty");
    }
    if git_ref.starts_with('-') {
        return refuse("it starts with '-'");
    }
    if git_ref.chars().any(|c| c.is_whitespace() || c.is_control() || c == ':') {
        return refuse("it holds whitespace, a control character or ':'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_outside_the_repository_or_like_options_are_refused() {
        for path in ["src/lib.rs", "Cargo.toml", ".github/workflows/ci.yml", "a/b.c/d..e"] {
            assert!(check_path(path).is_ok(), "{path}");
        }
        for (path, reason) in [
            ("", "it is empty"),
            ("/etc/passwd", "it is absolute"),
            ("../secret", "it has an empty, '.' or '..' segment"),
            ("src/../../x", "it has an empty, '.' or '..' segment"),
            ("src//lib.rs", "it has an empty, '.' or '..' segment"),
            ("./lib.rs", "it has an empty, '.' or '..' segment"),
            ("src/", "it has an empty, '.' or '..' segment"),
            ("-rf", "it starts with '-'"),
            ("a\nb", "it holds a control character"),
        ] {
            let err = check_path(path).expect_err(path);
            let shown = path.escape_debug();
            assert_eq!(
                err.to_string(),
                format!("refusing path '{shown}': {reason}; give a path relative to the repository's root")
            );
        }
    }

    #[test]
    fn refs_that_name_no_commit_safely_are_refused() {
        for git_ref in ["main", "feature/x", "v1.0", "HEAD~1", "0123456789abcdef0123456789abcdef01234567"] {
            assert!(check_ref(git_ref).is_ok(), "{git_ref}");
        }
        for git_ref in ["", "--output=/tmp/x", "main branch", "main:secret", "a\tb"] {
            let err = check_ref(git_ref).expect_err(git_ref);
            assert!(err.to_string().starts_with(&format!("refusing ref '{}': ", git_ref.escape_debug())), "{err}");
        }
    }
}
