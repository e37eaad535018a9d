//! The fence: the last look at the lease before a write. A node about to write to a repository (a pull request, a
//! merge, an issue) checks, right before the write, that its own hold on the lease has not passed its local
//! deadline and that the key-value bucket still holds the same claim of it, and refuses otherwise.
//!
//! The claim is compared, not the revision: every renewal moves the revision on, and a renewal stored by the
//! server but not yet answered to the coordinator would make a revision compare refuse the rightful holder. The
//! claim id stays the same across renewals and changes only when the lease is claimed anew (after a lapse, a
//! release, a restart), so a writer whose view is older than that is still refused.
//!
//! The check and the write are two steps, not one transaction: a lease can lapse between them (a pause longer
//! than the margin, a server lost just then). The fence makes that window as short as a request; it does not
//! close it. The forge-side markers (the idempotency keys and the markers hive writes into what it files, and
//! looks up before writing) stay the last defence against a write made twice.

use tokio::time::Instant;

use crate::{
    error::{ClusterError, Refusal},
    key::NodeName,
    lease::{Lease, Leases},
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

    /// `Ok` only if `lease` (this node's hold, as its coordinator last knew it) is within its local deadline and
    /// the bucket, read now, holds the same claim of it by this node (at `lease.revision` or a renewal since);
    /// otherwise `Fenced` with what it found instead. A read that fails is an error too: no write without a look.
    pub async fn check(&self, lease: &Lease) -> Result<(), ClusterError> {
        let refusal = match self.leases.read(&lease.repo).await? {
            // Checked after the read, so a deadline that passed while the read travelled refuses too.
            _ if Instant::now() >= lease.held_until => Refusal::Lapsed,
            None => Refusal::Vacant,
            Some(entry) if entry.record.node != *self.node() => {
                Refusal::HeldBy { node: entry.record.node.to_string(), revision: entry.revision }
            }
            // A claim id is drawn at random per claim, so it names one holding of one process.
            Some(entry) if entry.record.claim != lease.claim => Refusal::Moved { revision: entry.revision },
            Some(_) => return Ok(()),
        };
        Err(ClusterError::Fenced { repo: lease.repo.clone(), revision: lease.revision, refusal })
    }
}
