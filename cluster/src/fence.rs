//! The fence: the last look at the lease before a write. A node about to write to a repository (a pull request, a
//! merge, an issue) checks that the key-value bucket still names it, at the revision it holds, right before the
//! write, and refuses otherwise.
//!
//! The check and the write are two steps, not one transaction: a lease can lapse between them (a pause longer
//! than the margin, a server lost just then). The fence makes that window as short as a request; it does not
//! close it. The forge-side markers (the idempotency keys and the markers hive writes into what it files, and
//! looks up before writing) stay the last defence against a write made twice.

use crate::{
    error::{ClusterError, Refusal},
    key::NodeName,
    lease::Leases,
};

/// Checks leases before writes, for one node.
#[derive(Debug, Clone)]
pub struct Fence {
    leases: Leases,
}

impl Fence {
    /// A fence over these leases (and their node).
    pub fn new(leases: Leases) -> Self {
        Self { leases }
    }

    /// The leases it checks.
    pub(crate) fn leases(&self) -> &Leases {
        &self.leases
    }

    /// The node whose leases are checked.
    pub fn node(&self) -> &NodeName {
        self.leases.node()
    }

    /// `Ok` only if the bucket, read now, holds `repo`'s lease for this node at exactly `revision`; otherwise
    /// `Fenced` with what it holds instead. A read that fails is an error too: no write without a look.
    pub async fn check(&self, repo: &str, revision: u64) -> Result<(), ClusterError> {
        let refusal = match self.leases.read(repo).await? {
            None => Refusal::Vacant,
            Some(entry) if entry.record.node != *self.node() => {
                Refusal::HeldBy { node: entry.record.node.to_string(), revision: entry.revision }
            }
            Some(entry) if entry.revision != revision => Refusal::Moved { revision: entry.revision },
            Some(_) => return Ok(()),
        };
        Err(ClusterError::Fenced { repo: repo.to_owned(), revision, refusal })
    }
}
