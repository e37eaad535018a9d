//! A rate budget shared by the nodes that use one token: each node records what GitHub's last response told it
//! (the points remaining and when the window resets) under its own key in the bucket `<fleet>-budget`, keyed by a
//! hash of the token (never the token), and follows every node's records for that token through a JetStream watch.
//! Before sending, a node reads the lowest remaining of the window in force, so that what another node spent is
//! not spent again: within a window the points only go down, so the lowest is the newest word on them.
//!
//! Writes are coalesced (only the latest record waits to be sent) and made by a task of their own, so a response
//! never waits for NATS; a record that cannot be written is dropped, and the next response's replaces it. Without
//! NATS the view keeps what it last heard, and each node still heeds its own responses.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_nats::jetstream::kv;
use futures::StreamExt;
use tokio::{sync::watch, task::JoinHandle};

use crate::{bucket::Bucket, config::ClusterConfig, error::ClusterError};

/// How long a record lives: longer than GitHub's hour-long window, after whose reset it no longer counts anyway.
const RECORD_AGE: Duration = Duration::from_secs(2 * 3_600);

/// What one node last saw of a token's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RateSeen {
    /// The points remaining.
    pub remaining: u64,
    /// When the window ends, in seconds since the Unix epoch.
    pub reset: u64,
}

/// One node's share in a token's budget. Dropping it ends its tasks.
#[derive(Debug)]
pub struct TokenBudget {
    /// Every node's last record for the token, by node.
    seen: Arc<Mutex<BTreeMap<String, RateSeen>>>,
    latest: watch::Sender<Option<RateSeen>>,
    tasks: Vec<JoinHandle<()>>,
}

impl TokenBudget {
    /// Opens (or creates) the fleet's budget bucket and follows the records of the token known as `token_id` (a
    /// hash of it: 1 to 64 letters and digits).
    pub async fn open(
        client: &async_nats::Client,
        config: &ClusterConfig,
        token_id: &str,
    ) -> Result<TokenBudget, ClusterError> {
        if token_id.is_empty() || token_id.len() > 64 || !token_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ClusterError::InvalidConfig {
                reason: format!("a token's id must be 1 to 64 letters and digits, not '{}'", token_id.escape_default()),
            });
        }
        let description = "hive: what each node last saw of its GitHub token's rate budget";
        let name = config.budget_bucket();
        let bucket = Bucket::open_lasting(client, config, &name, description, RECORD_AGE).await?;
        let seen = Arc::new(Mutex::new(BTreeMap::new()));
        let (latest, pending) = watch::channel(None);
        let key = format!("{token_id}.{}", config.node());
        let tasks = vec![
            tokio::spawn(write(bucket.clone(), key, pending)),
            tokio::spawn(follow(bucket, format!("{token_id}."), Arc::clone(&seen))),
        ];
        Ok(TokenBudget { seen, latest, tasks })
    }

    /// Records what a response said; sent to the other nodes soon, never waited for.
    pub fn record(&self, seen: RateSeen) {
        self.latest.send_replace(Some(seen));
    }

    /// The lowest remaining any node recorded for a window that ends after `now_epoch` (seconds since the Unix
    /// epoch), with that record's reset.
    pub fn lowest(&self, now_epoch: u64) -> Option<RateSeen> {
        let seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.values().filter(|seen| seen.reset > now_epoch).min_by_key(|seen| (seen.remaining, seen.reset)).copied()
    }
}

impl Drop for TokenBudget {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Writes this node's latest record whenever it changes; a record that cannot be written gives way to the next.
async fn write(bucket: Bucket, key: String, mut pending: watch::Receiver<Option<RateSeen>>) {
    while pending.changed().await.is_ok() {
        let Some(seen) = *pending.borrow_and_update() else { continue };
        let written = async {
            let value = bucket.encode(&key, &seen)?;
            let put = bucket.bounded("record", &key, bucket.store.put(key.as_str(), value.into())).await?;
            put.map_err(|e| bucket.unreachable("record", &key, Some(Box::new(e))))
        };
        if let Err(error) = written.await {
            tracing::debug!(%error, "this node's view of the token's budget was not shared");
        }
    }
}

/// Follows every node's records of one token into `seen`; follows again after a second when the watch ends (the
/// connection closed and came back).
async fn follow(bucket: Bucket, prefix: String, seen: Arc<Mutex<BTreeMap<String, RateSeen>>>) {
    loop {
        let watched = bucket.bounded("follow", &prefix, bucket.store.watch_with_history(format!("{prefix}*"))).await;
        match watched.and_then(|w| w.map_err(|e| bucket.unreachable("follow", &prefix, Some(Box::new(e))))) {
            Ok(mut entries) => {
                while let Some(Ok(entry)) = entries.next().await {
                    let Some(node) = entry.key.strip_prefix(&prefix).map(str::to_owned) else { continue };
                    let record = match entry.operation {
                        kv::Operation::Put => bucket.decode::<RateSeen>(&entry.key, &entry.value).ok(),
                        kv::Operation::Delete | kv::Operation::Purge => None,
                    };
                    let mut seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    match record {
                        Some(record) => seen.insert(node, record),
                        None => seen.remove(&node),
                    };
                }
            }
            Err(error) => tracing::debug!(%error, "the token's budget cannot be followed"),
        }
        // A retry's pace, not a wait for anything.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
