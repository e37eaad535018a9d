//! A rate budget shared by the nodes that use one token: each node records what GitHub's last response about each
//! rate-limit resource told it (the points remaining and when the window resets) under its own key in the bucket
//! `<fleet>-budget`, `<token id>.<resource>.<node>` (the token id a keyed hash of the token, never the token), and
//! follows every node's records for that token through a JetStream watch. GitHub counts each resource (`core`,
//! `graphql`, `search`, ...) apart, so the records are kept apart too: a spent GraphQL budget holds no node's REST.
//! Before sending, a node reads the lowest remaining of the window in force for the resource it is about to spend,
//! so that what another node spent is not spent again: within a window the points only go down, so the lowest is
//! the newest word on them.
//!
//! Writes are coalesced (only each resource's latest record waits to be sent) and made by a task of their own, so a
//! response never waits for NATS; a record that cannot be written is dropped, and the next response's replaces it.
//! Without NATS the view keeps what it last heard, and each node still heeds its own responses.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_nats::jetstream::kv;
use futures::StreamExt;
use tokio::{sync::Notify, task::JoinHandle};

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

/// The longest resource name a record is kept under; GitHub's are short words (`core`, `code_scanning_upload`).
const MAX_RESOURCE: usize = 64;

/// Records by resource, and within one resource by node.
type Records = BTreeMap<(String, String), RateSeen>;

/// This node's records not yet written, the latest of each resource, and the wake-up of the task that writes them.
#[derive(Debug, Default)]
struct Pending {
    records: Mutex<BTreeMap<String, RateSeen>>,
    wake: Notify,
}

/// One node's share in a token's budget. Dropping it ends its tasks.
#[derive(Debug)]
pub struct TokenBudget {
    /// Every node's last record for the token, by resource and node.
    seen: Arc<Mutex<Records>>,
    pending: Arc<Pending>,
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
        let pending = Arc::new(Pending::default());
        let tasks = vec![
            tokio::spawn(write(
                bucket.clone(),
                format!("{token_id}."),
                config.node().to_string(),
                Arc::clone(&pending),
            )),
            tokio::spawn(follow(bucket, format!("{token_id}."), Arc::clone(&seen))),
        ];
        Ok(TokenBudget { seen, pending, tasks })
    }

    /// Records what a response said of `resource` (GitHub's `x-ratelimit-resource`: `core`, `graphql`, ...); sent
    /// to the other nodes soon, never waited for. A resource name that cannot be part of a key (anything but
    /// letters, digits, `_` and `-`, or longer than 64) is not shared: GitHub sends none such.
    pub fn record(&self, resource: &str, seen: RateSeen) {
        if !is_resource_name(resource) {
            tracing::debug!(resource = %resource.escape_default(), "a rate-limit resource that cannot be a key is not shared");
            return;
        }
        lock(&self.pending.records).insert(resource.to_owned(), seen);
        self.pending.wake.notify_one();
    }

    /// The lowest remaining any node recorded for `resource` in a window that ends after `now_epoch` (seconds since
    /// the Unix epoch, on the clock the resets were told on: GitHub's), with that record's reset.
    pub fn lowest(&self, resource: &str, now_epoch: u64) -> Option<RateSeen> {
        let seen = lock(&self.seen);
        seen.iter()
            .filter(|((of, _), seen)| of == resource && seen.reset > now_epoch)
            .map(|(_, seen)| *seen)
            .min_by_key(|seen| (seen.remaining, seen.reset))
    }
}

/// Whether `name` can be a token of a key: GitHub's resource names are lowercase words joined by `_`.
fn is_resource_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_RESOURCE
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Each update is one insert or remove, so a panic elsewhere cannot leave the map half-written.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Drop for TokenBudget {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Writes this node's latest record of each resource whenever one changes (under `<prefix><resource>.<node>`); a
/// record that cannot be written gives way to the next.
async fn write(bucket: Bucket, prefix: String, node: String, pending: Arc<Pending>) {
    loop {
        pending.wake.notified().await;
        let records = std::mem::take(&mut *lock(&pending.records));
        for (resource, seen) in records {
            let key = format!("{prefix}{resource}.{node}");
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
}

/// Follows every node's records of one token into `seen`; follows again after a second when the watch ends (the
/// connection closed and came back).
async fn follow(bucket: Bucket, prefix: String, seen: Arc<Mutex<Records>>) {
    loop {
        // `<token>.<resource>.<node>`: two tokens after the prefix, so a record of another layout is not matched.
        let watched = bucket.bounded("follow", &prefix, bucket.store.watch_with_history(format!("{prefix}*.*"))).await;
        match watched.and_then(|w| w.map_err(|e| bucket.unreachable("follow", &prefix, Some(Box::new(e))))) {
            Ok(mut entries) => {
                while let Some(Ok(entry)) = entries.next().await {
                    let Some((resource, node)) = entry.key.strip_prefix(&prefix).and_then(|rest| rest.split_once('.'))
                    else {
                        continue;
                    };
                    let at = (resource.to_owned(), node.to_owned());
                    let record = match entry.operation {
                        kv::Operation::Put => bucket.decode::<RateSeen>(&entry.key, &entry.value).ok(),
                        kv::Operation::Delete | kv::Operation::Purge => None,
                    };
                    let mut seen = lock(&seen);
                    match record {
                        Some(record) => seen.insert(at, record),
                        None => seen.remove(&at),
                    };
                }
            }
            Err(error) => tracing::debug!(%error, "the token's budget cannot be followed"),
        }
        // A retry's pace, not a wait for anything.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
