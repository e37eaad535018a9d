//! Membership: every node writes a heartbeat into a second bucket each period, under its name; entries lapse `ttl`
//! after they were written, so the bucket's keys are the live nodes.

use std::{collections::BTreeSet, time::Duration};

use async_nats::jetstream::kv;
use futures::TryStreamExt;

use crate::{
    config::{ClusterConfig, open_bucket},
    error::{Cause, ClusterError},
    key::NodeName,
};

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
#[derive(Clone)]
pub struct Members {
    store: kv::Store,
    bucket: String,
    node: NodeName,
    incarnation: String,
    timeout: Duration,
}

impl std::fmt::Debug for Members {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Members").field("bucket", &self.bucket).field("node", &self.node).finish_non_exhaustive()
    }
}

impl Members {
    /// Opens (or creates) the membership bucket with the config's ttl.
    pub async fn open(client: &async_nats::Client, config: &ClusterConfig) -> Result<Self, ClusterError> {
        let js = config.jetstream(client);
        let bucket = config.members_bucket().to_owned();
        let store = open_bucket(&js, &bucket, config.ttl(), "hive: the live nodes, one heartbeat each").await?;
        Ok(Self {
            store,
            bucket,
            node: config.node().clone(),
            incarnation: config.incarnation().to_owned(),
            timeout: config.op_timeout(),
        })
    }

    /// Says this node is alive for another ttl.
    pub async fn heartbeat(&self) -> Result<u64, ClusterError> {
        let heartbeat = Heartbeat {
            node: self.node.clone(),
            incarnation: self.incarnation.clone(),
            at: hive_support::now_rfc3339(),
        };
        let value = serde_json::to_vec(&heartbeat).map_err(|source| ClusterError::Corrupt {
            bucket: self.bucket.clone(),
            key: self.node.to_string(),
            source,
        })?;
        let put = async { self.store.put(self.node.as_str(), value.into()).await.map_err(|e| Box::new(e) as Cause) };
        self.bounded("heartbeat", self.node.as_str(), put).await
    }

    /// The nodes whose heartbeat has not lapsed. A key that is not a node's name is skipped with a warning.
    pub async fn live(&self) -> Result<BTreeSet<NodeName>, ClusterError> {
        let listing = async {
            let keys = self.store.keys().await.map_err(|e| Box::new(e) as Cause)?;
            keys.map_err(|e| Box::new(e) as Cause).try_collect::<Vec<String>>().await
        };
        let keys = self.bounded("list", "*", listing).await?;
        Ok(keys
            .into_iter()
            .filter_map(|key| {
                NodeName::new(&key)
                    .inspect_err(
                        |_| tracing::warn!(bucket = %self.bucket, key = %key, "a key that is no node's name; skipped"),
                    )
                    .ok()
            })
            .collect())
    }

    /// Takes this node's heartbeat out, so the others rebalance at once instead of after a ttl.
    pub async fn leave(&self) -> Result<(), ClusterError> {
        let delete = async { self.store.delete(self.node.as_str()).await.map_err(|e| Box::new(e) as Cause) };
        self.bounded("leave", self.node.as_str(), delete).await
    }

    async fn bounded<T>(
        &self,
        op: &'static str,
        key: &str,
        request: impl Future<Output = Result<T, Cause>>,
    ) -> Result<T, ClusterError> {
        let unreachable = |source| ClusterError::Unreachable {
            op,
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            timeout: self.timeout,
            source,
        };
        match tokio::time::timeout(self.timeout, request).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(source)) => Err(unreachable(Some(source))),
            Err(_) => Err(unreachable(None)),
        }
    }
}
