//! The `Forge` trait: where repositories are seen from (GitHub, a local workspace, a simulation).

use std::sync::Arc;

use crate::{ForgeError, RepoId, RepoSnapshot};

/// A source of repository facts.
///
/// Implementations must be cheap to share between many pilots (one forge serves the whole fleet) and must never
/// block the async runtime: network and disk work is awaited, CPU-heavy work moved to a blocking task.
#[async_trait::async_trait]
pub trait Forge: Send + Sync + 'static {
    /// A short name for logs and errors, such as `github` or `sim`.
    fn name(&self) -> &str;

    /// Lists the repositories this forge can see (discovery).
    async fn discover(&self) -> Result<Vec<RepoId>, ForgeError>;

    /// Reads everything a maintainer would look at in one repository now.
    async fn snapshot(&self, repo: &RepoId) -> Result<RepoSnapshot, ForgeError>;

    /// Forgets what this forge remembers of `repo`'s last read, so the next [`Forge::snapshot`] reads it whole:
    /// for a caller that learnt the repository changed (a webhook delivery) in a way the forge's own change
    /// detection may miss. A forge that remembers nothing between reads does nothing.
    fn forget(&self, repo: &RepoId) {
        let _ = repo;
    }

    /// What this forge spent of a metered API so far, for a forge that has one (GitHub); `None` for the others.
    fn api_usage(&self) -> Option<ApiUsage> {
        None
    }
}

/// What a forge spent of a metered API since it was made: counters that only grow, and the last rate-limit
/// remainder the API reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApiUsage {
    /// Requests that cost points (on GitHub every answer but `304 Not Modified`).
    pub points_spent: u64,
    /// Conditional requests answered `304 Not Modified`, which cost nothing.
    pub not_modified: u64,
    /// The last rate-limit remainder the API reported (`x-ratelimit-remaining`), if it reported one.
    pub remaining: Option<u64>,
}

/// A shared, type-erased forge, as pilots hold it.
pub type DynForge = Arc<dyn Forge>;
