//! One node's handle on a key-value bucket: its settings (one value per key, lapsing a ttl after it was
//! written), and every request bounded by the operation time-out, failures named by operation, bucket and key.

use std::{future::Future, time::Duration};

use async_nats::jetstream::{self, kv};
use futures::{StreamExt, TryStreamExt};

use crate::{
    config::ClusterConfig,
    error::{Cause, ClusterError},
    key::NodeName,
};

/// A bucket as one node uses it. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Bucket {
    pub(crate) store: jetstream::kv::Store,
    name: String,
    node: NodeName,
    incarnation: String,
    timeout: Duration,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket").field("name", &self.name).field("node", &self.node).finish_non_exhaustive()
    }
}

impl Bucket {
    /// Opens (or creates) the bucket `name` with the config's ttl, for the config's node.
    pub(crate) async fn open(
        client: &async_nats::Client,
        config: &ClusterConfig,
        name: &str,
        description: &str,
    ) -> Result<Self, ClusterError> {
        Self::open_lasting(client, config, name, description, config.ttl()).await
    }

    /// Opens (or creates) the bucket `name` whose entries lapse `max_age` after they were written (zero: never).
    pub(crate) async fn open_lasting(
        client: &async_nats::Client,
        config: &ClusterConfig,
        name: &str,
        description: &str,
        max_age: Duration,
    ) -> Result<Self, ClusterError> {
        let store = open_stream(&config.jetstream(client), name, max_age, description).await?;
        Ok(Self {
            store,
            name: name.to_owned(),
            node: config.node().clone(),
            incarnation: config.incarnation().to_owned(),
            timeout: config.op_timeout(),
        })
    }

    /// The bucket's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The node using it.
    pub(crate) fn node(&self) -> &NodeName {
        &self.node
    }

    /// The node's incarnation.
    pub(crate) fn incarnation(&self) -> &str {
        &self.incarnation
    }

    /// Runs one request under the operation time-out: the client's own may be longer, and a lease's holder must
    /// not wait past its local deadline for an answer.
    pub(crate) async fn bounded<T>(
        &self,
        op: &'static str,
        key: &str,
        request: impl Future<Output = T>,
    ) -> Result<T, ClusterError> {
        tokio::time::timeout(self.timeout, request).await.map_err(|_| self.unreachable(op, key, None))
    }

    /// A request that failed or was not answered.
    pub(crate) fn unreachable(&self, op: &'static str, key: &str, source: Option<Cause>) -> ClusterError {
        ClusterError::Unreachable { op, bucket: self.name.clone(), key: key.to_owned(), timeout: self.timeout, source }
    }

    /// Every key with a value (not deleted): [`Bucket::subjects`], each read to skip those deleted.
    pub(crate) async fn keys(&self) -> Result<Vec<String>, ClusterError> {
        let reads = futures::stream::iter(self.subjects().await?.into_iter().map(|key| async move {
            let entry = self.bounded("read", &key, self.store.entry(key.as_str())).await?;
            let entry = entry.map_err(|e| self.unreachable("read", &key, Some(Box::new(e))))?;
            Ok::<_, ClusterError>(entry.filter(|entry| entry.operation == kv::Operation::Put).map(|_| key))
        }))
        .buffered(16)
        .try_collect::<Vec<_>>()
        .await?;
        Ok(reads.into_iter().flatten().collect())
    }

    /// Every key that has a message in the bucket's stream, deleted ones included (a delete is a marker message):
    /// the caller reads each and skips those deleted. One bounded request.
    ///
    /// The keys come from the stream's own subject list (`STREAM.INFO` with a subject filter, paged by the
    /// server), a snapshot taken under the stream's lock, rather than from async-nats's `keys()`: that one runs a
    /// deliver-last-per-subject consumer and stops when the server says nothing is pending, which on nats-server
    /// 2.9 can come before a key rewritten while it runs (its message moved past the consumer's start), so a live
    /// key goes missing from the listing. A rewritten key keeps its subject; a lapsed one has none.
    pub(crate) async fn subjects(&self) -> Result<Vec<String>, ClusterError> {
        let filter = format!("{}>", self.store.prefix);
        let listing = async {
            let subjects = self.store.stream.info_with_subjects(&filter).await.map_err(|e| Box::new(e) as Cause)?;
            subjects.map_err(|e| Box::new(e) as Cause).try_collect::<Vec<(String, usize)>>().await
        };
        let subjects =
            self.bounded("list", "*", listing).await?.map_err(|source| self.unreachable("list", "*", Some(source)))?;
        let mut keys: Vec<String> = subjects
            .into_iter()
            .filter_map(|(subject, _)| subject.strip_prefix(self.store.prefix.as_str()).map(str::to_owned))
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// A value as JSON.
    pub(crate) fn encode(&self, key: &str, value: &impl serde::Serialize) -> Result<Vec<u8>, ClusterError> {
        serde_json::to_vec(value).map_err(|source| self.corrupt(key, source))
    }

    /// A value read back.
    pub(crate) fn decode<T: serde::de::DeserializeOwned>(&self, key: &str, value: &[u8]) -> Result<T, ClusterError> {
        serde_json::from_slice(value).map_err(|source| self.corrupt(key, source))
    }

    fn corrupt(&self, key: &str, source: serde_json::Error) -> ClusterError {
        ClusterError::Corrupt { bucket: self.name.clone(), key: key.to_owned(), source }
    }
}

/// Creates the bucket, or opens it when it exists with the same settings: one value per key, lapsing `ttl` after
/// it was written (zero: kept until replaced), on disk so a restarted server keeps the leases.
///
/// The bucket's stream is created here with the settings async-nats's `create_key_value` gives a bucket, rather
/// than through it: that first reads the account's JetStream information and requires fields (the reserved
/// memory and storage) that servers before 2.10, Debian's 2.9 among them, do not send.
async fn open_stream(
    js: &jetstream::Context,
    bucket: &str,
    ttl: Duration,
    description: &str,
) -> Result<jetstream::kv::Store, ClusterError> {
    let failed = |source: Cause| ClusterError::Bucket { bucket: bucket.to_owned(), source };
    js.create_stream(jetstream::stream::Config {
        name: format!("KV_{bucket}"),
        description: Some(description.to_owned()),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        max_age: ttl,
        storage: jetstream::stream::StorageType::File,
        num_replicas: 1,
        allow_rollup: true,
        deny_delete: true,
        deny_purge: false,
        allow_direct: true,
        discard: jetstream::stream::DiscardPolicy::New,
        ..Default::default()
    })
    .await
    .map_err(|source| failed(Box::new(source)))?;
    js.get_key_value(bucket).await.map_err(|source| failed(Box::new(source)))
}
