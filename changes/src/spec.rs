//! What a change set asks for: which repositories, which operation, which message, which merge rules; validated
//! before anything runs, and named by a hash of itself, so asking for the same change again resumes it.

use std::{collections::BTreeMap, fmt};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ChangeError;

/// The repositories a change set names. Their union is taken; none of them may be empty together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    /// `owner/name` exactly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repos: Vec<String>,
    /// Globs over the fleet's `owner/name` (`acme/*-service`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub globs: Vec<String>,
    /// Every repository of the fleet that depends on this one (`owner/name`), directly or not, by its manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependents_of: Option<String>,
}

impl Targets {
    fn is_empty(&self) -> bool {
        self.repos.is_empty() && self.globs.is_empty() && self.dependents_of.is_none()
    }
}

/// What is done in each repository's fresh worktree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// A command run in the worktree (argument vector, no shell), whatever it changes committed.
    Run {
        /// The program and its arguments.
        argv: Vec<String>,
        /// How long it may take in one repository, seconds.
        timeout_secs: u64,
    },
    /// The listed files made equal to the source repository's (globs matched in the source), with `P.hive-template`
    /// files filled with each repository's own values.
    Sync {
        /// The repository the files come from, `owner/name`.
        source: String,
        /// Paths or globs.
        paths: Vec<String>,
        /// Whether a file matched in a repository but gone from the source is deleted.
        #[serde(default)]
        delete_missing: bool,
        /// Files left alone, by repository (`owner/name` -> paths as written in it): a file changed on both sides
        /// since the last sync is a person's to decide, never overwritten.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        skip: BTreeMap<String, Vec<String>>,
    },
    /// One dependency to one version in every manifest that names it, lockfiles updated by the repository's tool.
    Bump {
        /// The dependency's name.
        dependency: String,
        /// The version.
        version: String,
    },
}

impl Operation {
    /// A short description for titles and logs.
    pub fn describe(&self) -> String {
        match self {
            Operation::Run { argv, .. } => format!("run {}", argv.join(" ")),
            Operation::Sync { source, paths, .. } => format!("sync {} from {source}", paths.join(", ")),
            Operation::Bump { dependency, version } => format!("bump {dependency} to {version}"),
        }
    }
}

/// How a pull request is merged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeMethod {
    /// A merge commit (reverted with `git revert -m 1`).
    #[default]
    Merge,
    /// One squashed commit.
    Squash,
}

impl MergeMethod {
    /// GitHub's `merge_method`.
    pub fn as_str(self) -> &'static str {
        match self {
            MergeMethod::Merge => "merge",
            MergeMethod::Squash => "squash",
        }
    }
}

/// The rules a change set is merged (or not) by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeRules {
    /// How each pull request is merged.
    #[serde(default)]
    pub method: MergeMethod,
    /// Whether each pull request needs an approving review of its head before it is merged.
    #[serde(default)]
    pub require_approval: bool,
    /// Whether pull requests are merged at all (`false`: the set stops once every check is green, for a human).
    #[serde(default = "yes")]
    pub merge: bool,
    /// Whether the revert pull requests of a rollback are merged when allowed (else they wait for a human).
    #[serde(default = "yes")]
    pub merge_reverts: bool,
    /// Whether each changed worktree is validated with the repository's own linters before anything is published:
    /// an error in a file the change touches, or a linter that fails to run, refuses the set.
    #[serde(default)]
    pub validate: bool,
    /// How long the pull requests' checks may take to finish, seconds: a check that never comes halts the set.
    #[serde(default = "a_day")]
    pub checks_timeout_secs: u64,
}

fn a_day() -> u64 {
    86_400
}

fn yes() -> bool {
    true
}

impl Default for MergeRules {
    fn default() -> Self {
        MergeRules {
            method: MergeMethod::Merge,
            require_approval: false,
            merge: true,
            merge_reverts: true,
            validate: false,
            checks_timeout_secs: a_day(),
        }
    }
}

/// One change to many repositories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSpec {
    /// The pull requests' title and the commit's subject.
    pub title: String,
    /// The commit message's body and the pull requests' description.
    #[serde(default)]
    pub message: String,
    /// Which repositories.
    pub targets: Targets,
    /// What is done in each.
    pub operation: Operation,
    /// How it is merged.
    #[serde(default)]
    pub rules: MergeRules,
}

/// A change set's id: `chg-` and 12 hex digits of the SHA-256 of its spec.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChangeId(String);

impl ChangeId {
    /// `text` if it is a change set's id.
    pub fn parse(text: &str) -> Result<ChangeId, ChangeError> {
        let hex = text.strip_prefix("chg-").unwrap_or_default();
        let numbered = hex.split_once('-');
        let (hash, n) = numbered.unwrap_or((hex, "1"));
        if hash.len() == 12
            && hash.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            && !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
        {
            return Ok(ChangeId(text.to_owned()));
        }
        Err(ChangeError::InvalidId { id: text.escape_debug().to_string() })
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of the `n`th set made from one spec (the first has no suffix).
    pub(crate) fn nth(&self, n: u32) -> ChangeId {
        let base = self.0.split('-').take(2).collect::<Vec<_>>().join("-");
        if n <= 1 { ChangeId(base) } else { ChangeId(format!("{base}-{n}")) }
    }

    /// The branch every repository of the set gets.
    pub fn branch(&self) -> String {
        format!("hive/change/{}", self.0)
    }

    /// The branch a rollback's revert gets.
    pub fn revert_branch(&self) -> String {
        format!("hive/revert/{}", self.0)
    }
}

impl fmt::Display for ChangeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl ChangeSpec {
    /// The id of the first set made from this spec: the same spec, the same id.
    pub fn id(&self) -> ChangeId {
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        let digest = Sha256::digest(&canonical);
        let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        ChangeId(format!("chg-{hex}"))
    }

    /// Refuses a spec that cannot be carried out, before anything runs, saying what is wrong.
    pub fn validate(&self) -> Result<(), ChangeError> {
        let invalid = |reason: String| Err(ChangeError::InvalidSpec { reason });
        if self.title.trim().is_empty() {
            return invalid("the change needs a title (--title): it is the commit's subject and each PR's".into());
        }
        if self.title.len() > 200 || self.title.chars().any(char::is_control) {
            return invalid(format!("title '{}' must be one line of at most 200 bytes", self.title.escape_debug()));
        }
        if self.targets.is_empty() {
            return invalid(
                "name the repositories: --repo OWNER/NAME, --glob 'OWNER/*' or --dependents-of OWNER/NAME".into(),
            );
        }
        for repo in self.targets.repos.iter().chain(&self.targets.dependents_of) {
            hive_forge::RepoId::new(repo.as_str()).map_err(|e| ChangeError::InvalidSpec { reason: e.to_string() })?;
        }
        for glob in &self.targets.globs {
            if let Err(e) = globset::Glob::new(glob) {
                return invalid(format!("glob '{}' is not one: {e}", glob.escape_debug()));
            }
        }
        match &self.operation {
            Operation::Run { argv, timeout_secs } => {
                if argv.first().is_none_or(|p| p.is_empty()) {
                    return invalid("run needs a program: hive change ... run -- PROGRAM ARGS...".into());
                }
                if !(1..=86_400).contains(timeout_secs) {
                    return invalid(format!("run's timeout {timeout_secs}s must be 1 to 86400 seconds"));
                }
            }
            Operation::Sync { source, paths, skip, .. } => {
                hive_forge::RepoId::new(source.as_str())
                    .map_err(|e| ChangeError::InvalidSpec { reason: format!("sync source: {e}") })?;
                if paths.is_empty() {
                    return invalid("sync needs at least one path or glob to keep in step".into());
                }
                for path in paths.iter().chain(skip.values().flatten()) {
                    if path.starts_with('/') || path.split('/').any(|c| c == ".." || c == ".git") || path.is_empty() {
                        return invalid(format!(
                            "sync path '{}' must be relative, inside the repository and outside .git",
                            path.escape_debug()
                        ));
                    }
                }
            }
            Operation::Bump { dependency, version } => {
                let ok = |s: &str| {
                    !s.is_empty()
                        && !s.starts_with('-')
                        && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.@/+~^=<>!*".contains(c))
                };
                if !ok(dependency) {
                    return invalid(format!("dependency '{}' is not a package name", dependency.escape_debug()));
                }
                if !ok(version) {
                    return invalid(format!("version '{}' is not a version", version.escape_debug()));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(operation: Operation) -> ChangeSpec {
        ChangeSpec {
            title: "Keep the license in step".into(),
            message: String::new(),
            targets: Targets { repos: vec!["acme/api".into()], ..Targets::default() },
            operation,
            rules: MergeRules::default(),
        }
    }

    #[test]
    fn the_same_spec_has_the_same_id_and_another_another() {
        let a = spec(Operation::Bump { dependency: "serde".into(), version: "1.0.200".into() });
        let b = spec(Operation::Bump { dependency: "serde".into(), version: "1.0.201".into() });
        assert_eq!(a.id(), a.clone().id());
        assert_ne!(a.id(), b.id());
        assert!(ChangeId::parse(a.id().as_str()).is_ok());
        assert_eq!(a.id().nth(2).as_str(), format!("{}-2", a.id()));
        assert_eq!(a.id().nth(2).nth(1), a.id());
        assert_eq!(a.id().branch(), format!("hive/change/{}", a.id()));
    }

    #[test]
    fn ids_that_are_not_ids_are_refused() {
        for bad in [
            "",
            "chg-",
            "chg-12345",
            "chg-ABCDEF123456",
            "../chg-0123456789ab",
            "chg-0123456789ab-",
            "chg-0123456789ab-x",
        ] {
            assert!(ChangeId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ChangeId::parse("chg-0123456789ab-3").is_ok());
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let table: Vec<(ChangeSpec, &str)> = vec![
            (
                ChangeSpec { title: " ".into(), ..spec(Operation::Run { argv: vec!["true".into()], timeout_secs: 5 }) },
                "title",
            ),
            (
                ChangeSpec {
                    targets: Targets::default(),
                    ..spec(Operation::Run { argv: vec!["x".into()], timeout_secs: 5 })
                },
                "name the repositories",
            ),
            (spec(Operation::Run { argv: vec![], timeout_secs: 5 }), "needs a program"),
            (
                spec(Operation::Sync {
                    source: "acme/docs".into(),
                    paths: vec!["../etc/passwd".into()],
                    delete_missing: false,
                    skip: BTreeMap::new(),
                }),
                "must be relative",
            ),
            (
                spec(Operation::Sync {
                    source: "acme/docs".into(),
                    paths: vec![".git/config".into()],
                    delete_missing: false,
                    skip: BTreeMap::new(),
                }),
                "outside .git",
            ),
            (
                spec(Operation::Sync {
                    source: "../x".into(),
                    paths: vec!["LICENSE".into()],
                    delete_missing: false,
                    skip: BTreeMap::new(),
                }),
                "sync source",
            ),
            (spec(Operation::Bump { dependency: "--upload-pack=x".into(), version: "1".into() }), "not a package name"),
            (spec(Operation::Bump { dependency: "serde".into(), version: "1; rm -rf /".into() }), "not a version"),
        ];
        for (spec, wanted) in table {
            let err = spec.validate().expect_err(wanted).to_string();
            assert!(err.contains(wanted), "{err:?} should say {wanted:?}");
        }
        let mut hostile = spec(Operation::Run { argv: vec!["true".into()], timeout_secs: 5 });
        hostile.targets.repos = vec!["acme/../etc".into()];
        assert!(hostile.validate().is_err());
    }
}
