//! Repository leases: each repository is held by one node at a time through a key in a JetStream key-value bucket
//! whose entries lapse `ttl` after they were written. Claimed with `create` (refused while the key exists),
//! renewed with `update` pinned to the revision last written (so a stale holder's renewal fails), released with a
//! delete pinned to that revision.
//!
//! A lease is held locally only until `last successful write + ttl - margin`, counted from when the write was
//! sent: the server counts the ttl from when it stored the write, which is later, so a node that can no longer
//! reach the server stops considering itself the holder before the server lets anyone else claim the key.
//!
//! Each claim writes a fresh claim id that its renewals keep: the revision moves on with every renewal, the claim
//! id only when the lease is claimed anew, so the fence can tell a renewal (the same holding) from a new one.

use std::{collections::BTreeMap, time::Duration};

use async_nats::jetstream::kv;
use futures::{StreamExt, TryStreamExt};
use tokio::time::Instant;

use crate::{
    bucket::Bucket,
    config::ClusterConfig,
    error::ClusterError,
    key::{NodeName, lease_key, repo_of_key},
};

/// What a lease's value says: whose it is, since when. Written as JSON.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeaseRecord {
    /// The repository, as given (the key is its encoding).
    pub repo: String,
    /// The node holding it.
    pub node: NodeName,
    /// Which process of that node.
    pub incarnation: String,
    /// Which claim of that process: fresh at each claim, kept by its renewals. Empty in a lease written before
    /// claims had ids, which no claim of this version matches.
    #[serde(default)]
    pub claim: String,
    /// When it was written (RFC 3339, UTC).
    pub at: String,
}

/// A lease as the bucket holds it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseEntry {
    /// Its value.
    pub record: LeaseRecord,
    /// The revision of its last write.
    pub revision: u64,
}

/// A lease this node holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The repository.
    pub repo: String,
    /// The revision of the last successful claim or renewal: the one a renewal and a release pin to.
    pub revision: u64,
    /// The claim id written by the claim and kept by every renewal: what the fence compares.
    pub claim: String,
    /// Until when this node may consider itself the holder without another successful renewal.
    pub held_until: Instant,
}

/// One node's access to the leases' bucket. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Leases {
    bucket: Bucket,
    /// How long after a write was sent the lease counts as held: ttl - margin.
    holding: Duration,
}

impl Leases {
    /// Opens (or creates) the leases' bucket with the config's ttl.
    pub async fn open(client: &async_nats::Client, config: &ClusterConfig) -> Result<Self, ClusterError> {
        let description = "hive: which node maintains each repository";
        Self::open_in(client, config, config.leases_bucket(), description).await
    }

    /// Leases of the same discipline in another bucket (the leader's).
    pub(crate) async fn open_in(
        client: &async_nats::Client,
        config: &ClusterConfig,
        bucket: &str,
        description: &str,
    ) -> Result<Self, ClusterError> {
        let bucket = Bucket::open(client, config, bucket, description).await?;
        Ok(Self { bucket, holding: config.ttl() - config.margin() })
    }

    /// The node these leases are claimed for.
    pub fn node(&self) -> &NodeName {
        self.bucket.node()
    }

    /// Claims `repo`'s lease. A lease already there is `Taken`, unless this very process wrote it and its answer
    /// was lost (a time-out, a local lapse while the server still held it): then it is renewed, pinned to its
    /// revision, and returned as claimed.
    pub async fn claim(&self, repo: &str) -> Result<Lease, ClusterError> {
        let key = lease_key(repo)?;
        // A new holding, told apart from every earlier one of this process (one lost and claimed again since).
        let claim = format!("{:016x}", rand::random::<u64>());
        let value = self.value(repo, &claim)?;
        let sent = Instant::now();
        let created = self.bucket.bounded("claim", &key, self.bucket.store.create(&key, value.into())).await?;
        let error = match created {
            Ok(revision) => return Ok(self.lease(repo, revision, &claim, sent)),
            Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => error,
            Err(error) => return Err(self.failed("claim", &key, error)),
        };
        match self.read_key(&key).await? {
            Some(entry)
                if entry.record.node == *self.node() && entry.record.incarnation == self.bucket.incarnation() =>
            {
                self.update(repo, &key, entry.revision, &claim, "claim").await
            }
            Some(entry) => Err(ClusterError::Taken {
                repo: repo.to_owned(),
                holder: entry.record.node.to_string(),
                revision: entry.revision,
            }),
            // It lapsed between the two requests; the next round claims it.
            None => Err(self.failed("claim", &key, error)),
        }
    }

    /// Renews a lease this node holds, pinned to its revision: `Stale` if the key was written since (it lapsed
    /// and was claimed, or released).
    pub async fn renew(&self, lease: &Lease) -> Result<Lease, ClusterError> {
        let key = lease_key(&lease.repo)?;
        self.update(&lease.repo, &key, lease.revision, &lease.claim, "renew").await
    }

    /// Releases a lease, pinned to its revision, so a release that arrives late deletes nobody else's lease.
    /// Whoever releases must stop acting on the repository first: the next holder may start at once.
    pub async fn release(&self, lease: &Lease) -> Result<(), ClusterError> {
        let key = lease_key(&lease.repo)?;
        let deleted = self
            .bucket
            .bounded("release", &key, self.bucket.store.delete_expect_revision(&key, Some(lease.revision)))
            .await?;
        deleted.map_err(|error| self.update_failed(&lease.repo, lease.revision, "release", &key, error))
    }

    /// The lease of `repo` as the bucket holds it now, if any.
    pub async fn read(&self, repo: &str) -> Result<Option<LeaseEntry>, ClusterError> {
        self.read_key(&lease_key(repo)?).await
    }

    /// Every lease in the bucket, by repository. A key this crate cannot have written is skipped with a warning.
    ///
    /// A snapshot, not a transaction: the keys are the stream's subjects at one moment (a lease renewed since keeps
    /// its key; one released or lapsed meanwhile reads as absent), each read afterwards. The coordinators never
    /// list: they claim and renew by key.
    pub async fn all(&self) -> Result<BTreeMap<String, LeaseEntry>, ClusterError> {
        let keys = self.bucket.subjects().await?;
        let reads = futures::stream::iter(keys.into_iter().filter_map(|key| match repo_of_key(&key) {
            Some(repo) => Some(async move { self.read_key(&key).await.map(|entry| (repo, entry)) }),
            None => {
                tracing::warn!(bucket = %self.bucket.name(), key = %key, "a key that names no repository; skipped");
                None
            }
        }))
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await?;
        Ok(reads.into_iter().filter_map(|(repo, entry)| Some((repo, entry?))).collect())
    }

    async fn update(
        &self,
        repo: &str,
        key: &str,
        revision: u64,
        claim: &str,
        op: &'static str,
    ) -> Result<Lease, ClusterError> {
        let value = self.value(repo, claim)?;
        let sent = Instant::now();
        let updated = self.bucket.bounded(op, key, self.bucket.store.update(key, value.into(), revision)).await?;
        match updated {
            Ok(revision) => Ok(self.lease(repo, revision, claim, sent)),
            Err(error) => Err(self.update_failed(repo, revision, op, key, error)),
        }
    }

    async fn read_key(&self, key: &str) -> Result<Option<LeaseEntry>, ClusterError> {
        let entry = self
            .bucket
            .bounded("read", key, self.bucket.store.entry(key))
            .await?
            .map_err(|e| self.failed("read", key, e))?;
        let Some(entry) = entry.filter(|entry| entry.operation == kv::Operation::Put) else {
            return Ok(None);
        };
        let record = self.bucket.decode(key, &entry.value)?;
        Ok(Some(LeaseEntry { record, revision: entry.revision }))
    }

    fn value(&self, repo: &str, claim: &str) -> Result<Vec<u8>, ClusterError> {
        let record = LeaseRecord {
            repo: repo.to_owned(),
            node: self.node().clone(),
            incarnation: self.bucket.incarnation().to_owned(),
            claim: claim.to_owned(),
            at: hive_support::now_rfc3339(),
        };
        self.bucket.encode(repo, &record)
    }

    fn lease(&self, repo: &str, revision: u64, claim: &str, sent: Instant) -> Lease {
        Lease { repo: repo.to_owned(), revision, claim: claim.to_owned(), held_until: sent + self.holding }
    }

    fn update_failed(
        &self,
        repo: &str,
        revision: u64,
        op: &'static str,
        key: &str,
        error: kv::UpdateError,
    ) -> ClusterError {
        if error.kind() == kv::UpdateErrorKind::WrongLastRevision {
            ClusterError::Stale { repo: repo.to_owned(), revision }
        } else {
            self.failed(op, key, error)
        }
    }

    fn failed(
        &self,
        op: &'static str,
        key: &str,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> ClusterError {
        self.bucket.unreachable(op, key, Some(Box::new(error)))
    }
}
