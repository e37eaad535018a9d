//! Writes de-duplicated by JetStream: before a node sends a write to the forge, it publishes the write's
//! idempotency key on the fleet's stream of writes (`hive-<fleet>-writes`, subjects `hive.<fleet>.writes.>`) as the
//! message's `Nats-Msg-Id`. The server keeps every id it stored for the stream's duplicate window and answers a
//! second publish of one as a duplicate without storing it, one publish at a time: of several nodes that publish
//! the same key within the window, exactly one hears that it is the first.
//!
//! This is the second guard beside the leases' [`Fence`](crate::Fence): the fence makes the window in which a
//! node whose lease just lapsed could still write as short as a request; the stream catches the write that
//! window lets through, when the node that takes the lease over proposes the same write before the forge shows
//! the first one's marker. The forge-side markers stay the last defence, past the window.
//!
//! The window is twice the lease ttl: longer than a lease can outlive its holder's last look at it, so the node
//! that takes a repository over finds its predecessor's last writes. The stream is on disk (file storage), as the
//! buckets are: the server rebuilds its ids from the stored messages when it restarts, so a server restart inside
//! the window does not let a write through twice, which memory storage would. Each message lives as long as the
//! window and no longer.

use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage};
use sha2::{Digest, Sha256};

use crate::{
    config::ClusterConfig,
    error::{Cause, ClusterError},
    key::{NodeName, lease_key},
};

/// One node's access to its fleet's stream of writes. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Writes {
    js: jetstream::Context,
    fleet: String,
    node: NodeName,
    window: Duration,
    timeout: Duration,
}

/// What a message on the stream says, for a person reading it with `nats stream view`; the server reads only its
/// id.
#[derive(Debug, serde::Serialize)]
struct Sent<'a> {
    node: &'a str,
    repo: &'a str,
    key: &'a str,
    at: String,
}

impl Writes {
    /// Opens (or creates) the fleet's stream of writes. Every node of a fleet must use the same ttl, which sets the
    /// window: a stream that exists with another is an error that says so.
    pub async fn open(client: &async_nats::Client, config: &ClusterConfig) -> Result<Self, ClusterError> {
        let stream = config.writes_stream();
        let window = config.dedup_window();
        let js = config.jetstream(client);
        js.create_stream(jetstream::stream::Config {
            name: stream.clone(),
            description: Some("hive: the idempotency keys of the writes the fleet's nodes sent".to_owned()),
            subjects: vec![format!("hive.{}.writes.>", config.fleet())],
            duplicate_window: window,
            max_age: window,
            storage: jetstream::stream::StorageType::File,
            num_replicas: 1,
            discard: jetstream::stream::DiscardPolicy::Old,
            ..Default::default()
        })
        .await
        .map_err(|source| ClusterError::Stream { stream, source: Box::new(source) })?;
        Ok(Self {
            js,
            fleet: config.fleet().to_owned(),
            node: config.node().clone(),
            window,
            timeout: config.op_timeout(),
        })
    }

    /// How long the stream remembers a key.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The message id of the write `key` to `repo`: the SHA-256 of both, in hex. The same on every node for the
    /// same write; hashed because a key carries names from the forge (job names, branches), which a header value
    /// could not hold as they are (a line break), and a hash has one length however long the key.
    pub fn message_id(repo: &str, key: &str) -> String {
        let mut hash = Sha256::new();
        hash.update(repo.as_bytes());
        hash.update([0]);
        hash.update(key.as_bytes());
        hex::encode(hash.finalize())
    }

    /// Records that this node is about to send the write `key` to `repo`: `Ok` when no node of the fleet
    /// recorded the same within the window, [`ClusterError::Duplicate`] when one did, and another error when the
    /// server did not answer (the record may or may not have been stored; the write must not be sent).
    pub async fn record(&self, repo: &str, key: &str) -> Result<(), ClusterError> {
        let subject = format!("hive.{}.writes.{}", self.fleet, lease_key(repo)?);
        let unreachable = |source: Option<Cause>| ClusterError::Unrecorded {
            repo: repo.to_owned(),
            key: key.to_owned(),
            timeout: self.timeout,
            source,
        };
        let body = Sent { node: self.node.as_str(), repo, key, at: hive_support::now_rfc3339() };
        let payload = serde_json::to_vec(&body).map_err(|source| unreachable(Some(Box::new(source))))?;
        let publish = PublishMessage::build().message_id(Self::message_id(repo, key)).payload(payload.into());
        let acknowledged = async {
            let ack = self.js.send_publish(subject, publish).await.map_err(|e| Box::new(e) as Cause)?;
            ack.await.map_err(|e| Box::new(e) as Cause)
        };
        let ack = tokio::time::timeout(self.timeout, acknowledged)
            .await
            .map_err(|_| unreachable(None))?
            .map_err(|source| unreachable(Some(source)))?;
        if ack.duplicate {
            return Err(ClusterError::Duplicate { repo: repo.to_owned(), key: key.to_owned(), window: self.window });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_id_names_one_write_of_one_repository() {
        let id = Writes::message_id("acme/api", "issue:acme/api:ci");
        assert_eq!(id, Writes::message_id("acme/api", "issue:acme/api:ci"));
        assert_eq!(id.len(), 64);
        assert_ne!(id, Writes::message_id("acme/web", "issue:acme/api:ci"));
        assert_ne!(id, Writes::message_id("acme/api", "issue:acme/api:cd"));
        // The separator keeps a name's end from sliding into the key.
        assert_ne!(Writes::message_id("a", "bc"), Writes::message_id("ab", "c"));
    }
}
