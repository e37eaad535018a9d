//! Errors a forge can return, split into transient ones (worth retrying) and the rest.

use crate::RepoId;

/// An error from a [`Forge`](crate::Forge).
///
/// A pilot retries [`ForgeError::is_transient`] errors itself, with backoff; anything else fails the pilot so the
/// queen's restart policy applies.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ForgeError {
    /// The forge could not be reached or answered with a temporary failure (timeout, 5xx, rate limit).
    #[error("transient forge error for '{repo}': {message}")]
    Transient {
        /// The repository being read.
        repo: RepoId,
        /// What went wrong, already free of secrets.
        message: String,
    },
    /// The repository does not exist on this forge.
    #[error("repository '{repo}' not found on forge '{forge}'; check the name or the forge's access rights")]
    NotFound {
        /// The repository being read.
        repo: RepoId,
        /// The forge's name.
        forge: String,
    },
    /// The forge could not list its repositories at all (an unreadable workspace, for example).
    #[error("forge '{forge}' cannot discover repositories: {message}")]
    Discovery {
        /// The forge's name.
        forge: String,
        /// What went wrong, already free of secrets.
        message: String,
    },
    /// The forge could not list its repositories for a reason that may pass (a timeout, a refused connection, a
    /// 5xx, a rate limit): discovering again later may succeed.
    #[error("forge '{forge}' is unreachable for discovery: {message}")]
    Unreachable {
        /// The forge's name.
        forge: String,
        /// What went wrong, already free of secrets.
        message: String,
    },
    /// The forge answered with something that cannot be used; retrying will not help.
    #[error("forge error for '{repo}': {message}")]
    Permanent {
        /// The repository being read.
        repo: RepoId,
        /// What went wrong, already free of secrets.
        message: String,
    },
}

impl ForgeError {
    /// Whether retrying the same request later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, ForgeError::Transient { .. } | ForgeError::Unreachable { .. })
    }

    /// The repository the failed request was about; `None` for a failed discovery.
    pub fn repo(&self) -> Option<&RepoId> {
        match self {
            ForgeError::Transient { repo, .. }
            | ForgeError::NotFound { repo, .. }
            | ForgeError::Permanent { repo, .. } => Some(repo),
            ForgeError::Discovery { .. } | ForgeError::Unreachable { .. } => None,
        }
    }
}
