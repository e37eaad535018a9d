//! `GitHubError`: what a GitHub request can end in, free of secrets, and how it maps onto [`ForgeError`].

use crate::{ForgeError, RepoId};

/// The message given when no credentials are configured.
pub const MISSING_TOKEN: &str =
    "no GitHub token: set GITHUB_TOKEN or GH_TOKEN (or GITHUB_API_URL for an emulator or enterprise server)";

/// An error from the GitHub forge. Messages never contain the token.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum GitHubError {
    /// No token, no app, and no explicit API URL: there is nothing to authenticate with.
    #[error("{MISSING_TOKEN}")]
    MissingToken,
    /// The configuration is unusable (a bad URL, glob or key file).
    #[error("invalid github configuration: {message}")]
    Config {
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A network failure, a timeout or a 5xx: worth retrying.
    #[error("github request '{request}' failed temporarily: {message}; retrying later may succeed")]
    Transient {
        /// Method and path, such as `GET /repos/acme/api`.
        request: String,
        /// What went wrong.
        message: String,
    },
    /// A primary or secondary rate limit; the budget holds every request until the window ends.
    #[error("github rate limit hit on '{request}'; requests wait until the limit resets")]
    RateLimited {
        /// Method and path.
        request: String,
    },
    /// 404 or 410.
    #[error("github has nothing at '{request}'; check the name and that the token can see it")]
    NotFound {
        /// Method and path.
        request: String,
    },
    /// 401: the credentials were refused.
    #[error("github refused the credentials for '{request}'; check GITHUB_TOKEN / GH_TOKEN or the app installation")]
    Unauthorized {
        /// Method and path.
        request: String,
    },
    /// 403 without rate-limit headers: a permission problem, not a limit.
    #[error("github denied '{request}': {message}; check the token's scopes or the app's permissions")]
    Forbidden {
        /// Method and path.
        request: String,
        /// GitHub's message.
        message: String,
    },
    /// 409 or 422 and the like: GitHub understood and said no (validation failed, merge conflict).
    #[error("github rejected '{request}' with status {status}: {message}")]
    Rejected {
        /// Method and path.
        request: String,
        /// The HTTP status.
        status: u16,
        /// GitHub's message.
        message: String,
    },
    /// Not sent: the write's deadline ([`send_before`](crate::send_before)) came, or would have come, before the
    /// budget let the request go. Definitely not sent, so not transient: whoever may write when it is over sends it.
    #[error("github request '{request}' not sent: its deadline came before {waited_for} let it go out")]
    Late {
        /// Method and path.
        request: String,
        /// What held the request: github's rate limit, or the pacing of writes.
        waited_for: &'static str,
    },
    /// The answer could not be read (truncated or unexpected JSON).
    #[error("github sent an unreadable answer to '{request}': {message}")]
    Malformed {
        /// Method and path.
        request: String,
        /// What was wrong with it.
        message: String,
    },
}

impl GitHubError {
    /// Whether the same request may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, GitHubError::Transient { .. } | GitHubError::RateLimited { .. })
    }

    /// What held a request past its write's deadline, when it was refused for that ([`GitHubError::Late`]).
    pub fn late(&self) -> Option<&'static str> {
        match self {
            GitHubError::Late { waited_for, .. } => Some(waited_for),
            _ => None,
        }
    }

    /// Whether GitHub said the thing does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, GitHubError::NotFound { .. })
    }

    /// The same error as a [`ForgeError`] about `repo`: transient ones stay transient (the pilot retries them),
    /// 404 becomes [`ForgeError::NotFound`], everything else is permanent.
    pub fn into_forge(self, repo: &RepoId) -> ForgeError {
        match self {
            GitHubError::Transient { .. } | GitHubError::RateLimited { .. } => {
                ForgeError::Transient { repo: repo.clone(), message: self.to_string() }
            }
            GitHubError::NotFound { .. } => ForgeError::NotFound { repo: repo.clone(), forge: super::NAME.to_owned() },
            _ => ForgeError::Permanent { repo: repo.clone(), message: self.to_string() },
        }
    }

    /// The same error as a failed discovery; transient ones stay transient, so a daemon can wait for GitHub.
    pub fn into_discovery(self) -> ForgeError {
        let forge = super::NAME.to_owned();
        if self.is_transient() {
            ForgeError::Unreachable { forge, message: self.to_string() }
        } else {
            ForgeError::Discovery { forge, message: self.to_string() }
        }
    }
}
