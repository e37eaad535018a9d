//! Repository identifiers (`owner/name`), validated so that hostile names never reach a path or a command.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A repository's full name, `owner/name`.
///
/// Both parts are limited to what GitHub allows (ASCII letters, digits, `-`, `_`, `.`), may not be `.` or `..`, and
/// may not start with `-` (so a name can never be read as a command-line flag).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RepoId(String);

/// Why a string is not a valid [`RepoId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid repository name '{value}': {reason}; expected 'owner/name' with letters, digits, '-', '_' or '.'")]
pub struct InvalidRepoId {
    value: String,
    reason: &'static str,
}

impl RepoId {
    /// Parses `owner/name`.
    pub fn new(value: impl Into<String>) -> Result<RepoId, InvalidRepoId> {
        let value = value.into();
        let fail = |reason| Err(InvalidRepoId { value: value.escape_debug().to_string(), reason });
        let Some((owner, name)) = value.split_once('/') else {
            return fail("missing '/' between owner and name");
        };
        for part in [owner, name] {
            if part.is_empty() {
                return fail("empty owner or name");
            }
            if part.len() > 100 {
                return fail("part longer than 100 characters");
            }
            if part == "." || part == ".." {
                return fail("'.' and '..' are not names");
            }
            if part.starts_with('-') {
                return fail("a part may not start with '-'");
            }
            if !part.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
                return fail("forbidden character");
            }
        }
        Ok(RepoId(value))
    }

    /// The full name, `owner/name`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The owner part.
    pub fn owner(&self) -> &str {
        self.0.split_once('/').map_or("", |(owner, _)| owner)
    }

    /// The name part.
    pub fn name(&self) -> &str {
        self.0.split_once('/').map_or("", |(_, name)| name)
    }
}

impl fmt::Display for RepoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RepoId {
    type Error = InvalidRepoId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        RepoId::new(value)
    }
}

impl From<RepoId> for String {
    fn from(id: RepoId) -> String {
        id.0
    }
}

impl std::str::FromStr for RepoId {
    type Err = InvalidRepoId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RepoId::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_github_names() {
        for ok in ["acme/api", "a-b/c.d_e", "x/y", "Org-1/repo.rs"] {
            assert!(RepoId::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_hostile_names() {
        for bad in ["", "acme", "/x", "x/", "../etc", "a/..", "a/b/c", "a/-rf", "a/b;rm", "a/$(x)", "a/é", "a/b c"] {
            let err = RepoId::new(bad).expect_err(bad);
            assert!(err.to_string().starts_with("invalid repository name"), "{err}");
        }
    }
}
