//! Errors of the ecosystem manager, the dependency graph and mirroring: one enum, so the binary can report any of
//! them the same way, with variants that carry the value at fault and a hint on what to do.

use std::path::PathBuf;

use crate::GitError;

/// An error from importing, listing, removing, ordering or mirroring repositories.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EcosystemError {
    /// The import source is not something hive will hand to git.
    #[error(
        "invalid source '{value}': {reason}; give an https://, ssh://, git:// or file:// URL, user@host:path, or a local directory"
    )]
    InvalidSource {
        /// The source as given (escaped).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A mirror destination is not something hive will hand to git.
    #[error(
        "invalid destination '{value}': {reason}; give an https://, ssh://, git:// or file:// URL, user@host:path, or a local path"
    )]
    InvalidDestination {
        /// The destination as given (escaped).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A local source directory does not exist.
    #[error("source directory '{}' does not exist; check the path", path.display())]
    SourceNotFound {
        /// The path as given.
        path: PathBuf,
    },
    /// A repository id is malformed (ids are 12 lowercase hex digits).
    #[error("invalid repository id '{value}': expected 12 lowercase hex digits as printed by `hive ecosystem list`")]
    InvalidId {
        /// The id as given (escaped).
        value: String,
    },
    /// No imported repository has this id.
    #[error("no imported repository with id '{id}'; run `hive ecosystem list` to see the ids")]
    NotFound {
        /// The id.
        id: String,
    },
    /// The same source was imported before.
    #[error("'{origin}' is already imported as '{id}'; remove it first with `hive ecosystem remove {id}`")]
    AlreadyImported {
        /// The existing id.
        id: String,
        /// The normalised source.
        origin: String,
    },
    /// `git clone` failed; nothing was kept.
    #[error("could not clone '{origin}'")]
    Clone {
        /// The source.
        origin: String,
        /// What git said.
        #[source]
        source: GitError,
    },
    /// A git command on an imported repository failed.
    #[error("git failed for '{repo}'")]
    Git {
        /// The repository (id, name or directory).
        repo: String,
        /// What git said.
        #[source]
        source: GitError,
    },
    /// A file-system operation failed.
    #[error("could not {action} '{}'", path.display())]
    Io {
        /// What was being done ("read", "write", "remove", ...).
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A metadata file exists but cannot be read as metadata. It is never reset silently.
    #[error("corrupted metadata file '{}': {message}; fix it by hand or delete it (the clone next to it is kept)", path.display())]
    CorruptMetadata {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// The caller's hook (stopping services) refused or failed, so the repository was not removed.
    #[error("not removing '{id}': {message}")]
    RemoveRefused {
        /// The id.
        id: String,
        /// What the hook said.
        message: String,
    },
    /// A ref to deploy that hive will not hand to git.
    #[error("invalid ref '{value}': {reason}; give a branch or tag name such as 'main' or 'v1.2', or a commit id")]
    InvalidRef {
        /// The ref as given (escaped).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A ref to deploy that names no branch or tag of the origin and no commit.
    #[error("'{reference}' is no branch, tag or commit of '{name}' (after a fetch from its origin); check the name")]
    UnknownRef {
        /// The ref.
        reference: String,
        /// The repository's name.
        name: String,
    },
    /// Another deploy of the same import holds its lock.
    #[error(
        "a deploy of '{name}' is under way (hive process {}); wait for it to end, and see `hive ecosystem {id} deploy history`",
        pid.map_or_else(|| "unknown".to_owned(), |p| p.to_string())
    )]
    DeployUnderWay {
        /// The repository's name.
        name: String,
        /// The import's id.
        id: String,
        /// The process holding the lock, if it said.
        pid: Option<u32>,
    },
    /// A deploy history file exists but cannot be read as one. It is never reset silently.
    #[error("corrupted deploy history '{}': {message}; fix it by hand or move it aside", path.display())]
    CorruptHistory {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A manifest (Cargo.toml, package.json, go.mod) could not be parsed while building the dependency graph.
    #[error("could not parse manifest '{}': {message}; fix the file or leave the repository out", path.display())]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// An explicit edge names a repository that is not in the set.
    #[error("explicit dependency names unknown repository '{name}'; use a name or id from `hive ecosystem list`")]
    UnknownRepo {
        /// The name as given.
        name: String,
    },
    /// The repositories depend on each other in a cycle, so no build order exists.
    #[error("dependency cycle: {}; break one of these dependencies", cycle.join(" -> "))]
    DependencyCycle {
        /// The cycle, first element repeated at the end.
        cycle: Vec<String>,
    },
    /// A branch or tag filter pattern is not usable.
    #[error("invalid ref pattern '{pattern}': {reason}; use globs such as 'main', 'release/*' or '!wip/*'")]
    InvalidPattern {
        /// The pattern (escaped).
        pattern: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Pushing to a mirror destination kept failing.
    #[error(
        "mirror to '{destination}' failed after {attempts} attempt(s); check that the remote exists and is writable"
    )]
    Mirror {
        /// The destination remote.
        destination: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        #[source]
        source: GitError,
    },
}

impl EcosystemError {
    /// `meta`'s source is imported already; the message shows it without credentials.
    pub(crate) fn already_imported(meta: super::RepoMeta) -> EcosystemError {
        EcosystemError::AlreadyImported { origin: super::shown(&meta.source), id: meta.id.0 }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> EcosystemError {
        let path = path.into();
        move |source| EcosystemError::Io { action, path, source }
    }
}
