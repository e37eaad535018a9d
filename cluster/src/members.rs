//! Membership: every node writes a heartbeat into a second bucket each period, under its name; entries lapse `ttl`
//! after they were written, so the bucket's keys are the live nodes.

use std::collections::BTreeSet;

use crate::{bucket::Bucket, config::ClusterConfig, error::ClusterError, key::NodeName};

/// What a heartbeat says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Heartbeat {
    /// The node.
    pub node: NodeName,
    /// Which process of it.
    pub incarnation: String,
    /// When it was written (RFC 3339, UTC).
    pub at: String,
}

/// One node's access to the membership bucket. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Members {
    bucket: Bucket,
}

impl Members {
    /// Opens (or creates) the membership bucket with the config's ttl.
    pub async fn open(client: &async_nats::Client, config: &ClusterConfig) -> Result<Self, ClusterError> {
        let description = "hive: the live nodes, one heartbeat each";
        Ok(Self { bucket: Bucket::open(client, config, config.members_bucket(), description).await? })
    }

    /// Says this node is alive for another ttl.
    pub async fn heartbeat(&self) -> Result<u64, ClusterError> {
        let node = self.bucket.node();
        let heartbeat = Heartbeat {
            node: node.clone(),
            incarnation: self.bucket.incarnation().to_owned(),
            at: hive_support::now_rfc3339(),
        };
        let value = self.bucket.encode(node.as_str(), &heartbeat)?;
        let put = self.bucket.bounded("heartbeat", node.as_str(), self.bucket.store.put(node.as_str(), value.into()));
        put.await?.map_err(|error| self.bucket.unreachable("heartbeat", node.as_str(), Some(Box::new(error))))
    }

    /// The nodes whose heartbeat has not lapsed. A key that is not a node's name is skipped with a warning.
    pub async fn live(&self) -> Result<BTreeSet<NodeName>, ClusterError> {
        let keys = self.bucket.keys().await?;
        Ok(keys
            .into_iter()
            .filter_map(|key| {
                let node = NodeName::new(&key);
                if node.is_err() {
                    tracing::warn!(bucket = %self.bucket.name(), key = %key, "a key that is no node's name; skipped");
                }
                node.ok()
            })
            .collect())
    }

    /// Takes this node's heartbeat out, so the others rebalance at once instead of after a ttl.
    pub async fn leave(&self) -> Result<(), ClusterError> {
        let node = self.bucket.node().as_str();
        let delete = self.bucket.bounded("leave", node, self.bucket.store.delete(node));
        delete.await?.map_err(|error| self.bucket.unreachable("leave", node, Some(Box::new(error))))
    }
}
