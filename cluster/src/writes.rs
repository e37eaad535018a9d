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
//! A write recorded and then definitely not sent (refused at its permit's end, refused by GitHub before it acted,
//! not attempted) is released ([`Writes::release`]), so that the next cycle's rightful retry, on any node, is not
//! refused as a duplicate for the rest of the window. JetStream cannot forget an id, so each key has generations:
//! its messages are on a subject of its own (`hive.<fleet>.writes.<repository>.<hash>`), a record of generation
//! `g` has the id `<hash>:<g>`, and a release of `g` is a message of its own (`<hash>:<g>:released`, so a release
//! repeated is de-duplicated too), published only while the key's last message is that record (the publish is
//! pinned to its subject sequence). [`Writes::record`] reads the key's last message first: nothing, or what it
//! cannot read, is generation 0; a release of `g` makes the record generation `g + 1`, and the server's
//! de-duplication still decides between nodes racing on it; a record not released is a duplicate at once. The
//! stream drops messages older than the window, so a key starts again at generation 0 only once everything about
//! it is older than the window, when its ids are forgotten too (were one remembered a moment longer, the record
//! would be refused as a duplicate, never let through twice).
//!
//! The window is twice the lease ttl: longer than a lease can outlive its holder's last look at it, so the node
//! that takes a repository over finds its predecessor's last writes. The stream is on disk (file storage), as the
//! buckets are: the server rebuilds its ids from the stored messages when it restarts, so a server restart inside
//! the window does not let a write through twice, which memory storage would. Each message lives as long as the
//! window and no longer. Every node of a fleet runs the same version: the subjects and ids were one per
//! repository and key before generations.

use std::time::Duration;

use async_nats::jetstream::{
    self, context::PublishErrorKind, message::PublishMessage, publish::PublishAck, stream::LastRawMessageErrorKind,
};
use sha2::{Digest, Sha256};

use crate::{
    config::ClusterConfig,
    error::{Cause, ClusterError},
    key::{NodeName, lease_key},
};

/// A write's record on the stream: what [`Writes::release`] needs to release it and nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// The key's generation it recorded (0 for a key with nothing in the window).
    pub generation: u64,
    /// Its sequence on the stream, which names this one record of the key.
    pub sequence: u64,
}

/// One node's access to its fleet's stream of writes. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Writes {
    js: jetstream::Context,
    stream: String,
    fleet: String,
    node: NodeName,
    window: Duration,
    timeout: Duration,
}

/// What a message on the stream says: the server reads only its id, a node reads the last one of a key for its
/// generation, and a person may read it with `nats stream view`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Entry {
    node: String,
    repo: String,
    key: String,
    at: String,
    /// The key's generation this message is about.
    #[serde(default)]
    generation: u64,
    /// A release of that generation's record, rather than the record.
    #[serde(default)]
    released: bool,
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
        .map_err(|source| ClusterError::Stream { stream: stream.clone(), source: Box::new(source) })?;
        Ok(Self {
            js,
            stream,
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

    /// Records that this node is about to send the write `key` to `repo`: its generation when no node of the
    /// fleet recorded the same within the window (or it was released since), [`ClusterError::Duplicate`] when
    /// one did, and another error when the server did not answer (the record may or may not have been stored; the
    /// write must not be sent).
    pub async fn record(&self, repo: &str, key: &str) -> Result<Recorded, ClusterError> {
        let subject = self.subject(repo, key)?;
        let unreachable = |source: Option<Cause>| ClusterError::Unrecorded {
            repo: repo.to_owned(),
            key: key.to_owned(),
            timeout: self.timeout,
            source,
        };
        let duplicate = || ClusterError::Duplicate { repo: repo.to_owned(), key: key.to_owned(), window: self.window };
        let generation = match self.last(&subject).await.map_err(unreachable)? {
            None => 0,
            Some((_, entry)) if entry.released => entry.generation + 1,
            Some(_) => return Err(duplicate()),
        };
        let id = format!("{}:{generation}", Self::message_id(repo, key));
        let ack = self.publish(&subject, repo, key, generation, false, id, None).await.map_err(|err| match err {
            Published::Failed(source) => unreachable(source),
            // Not pinned, so never refused for a sequence.
            Published::Refused => unreachable(None),
        })?;
        if ack.duplicate {
            return Err(duplicate());
        }
        Ok(Recorded { generation, sequence: ack.sequence })
    }

    /// Releases the write `key` to `repo` recorded at the stream sequence `sequence` ([`Recorded::sequence`]),
    /// which was definitely not sent: the next
    /// [`record`](Writes::record) of it, on any node, is its next generation. Harmless when that record is not
    /// the key's last message (never recorded, released already, or past the window): nothing is published then.
    /// The record is named by its stream sequence, not its generation: generations start again at 0 once the
    /// window dropped a key's messages, and a late release must not take another node's new record of the same
    /// generation, a write that was sent, for its own. An error when the server did not answer; the record
    /// stays, and the write waits out the window.
    pub async fn release(&self, repo: &str, key: &str, sequence: u64) -> Result<(), ClusterError> {
        let subject = self.subject(repo, key)?;
        let unreachable = |source: Option<Cause>| ClusterError::Unreleased {
            repo: repo.to_owned(),
            key: key.to_owned(),
            timeout: self.timeout,
            source,
        };
        let Some((last, entry)) = self.last(&subject).await.map_err(unreachable)? else { return Ok(()) };
        if entry.released || last != sequence {
            return Ok(());
        }
        let generation = entry.generation;
        let id = format!("{}:{generation}:released", Self::message_id(repo, key));
        match self.publish(&subject, repo, key, generation, true, id, Some(sequence)).await {
            Ok(_) => Ok(()),
            // Something came after the record meanwhile: a release of it by this node, or what follows one.
            Err(Published::Refused) => Ok(()),
            Err(Published::Failed(source)) => Err(unreachable(source)),
        }
    }

    /// The subject of the write `key` to `repo`: its repository's part, then the id's hash, so that the last
    /// message of one key can be asked for.
    fn subject(&self, repo: &str, key: &str) -> Result<String, ClusterError> {
        Ok(format!("hive.{}.writes.{}.{}", self.fleet, lease_key(repo)?, Self::message_id(repo, key)))
    }

    /// The last message on `subject` with its stream sequence, `None` when there is none; a message this build
    /// cannot read counts as none (generation 0, whose id the server still de-duplicates).
    async fn last(&self, subject: &str) -> Result<Option<(u64, Entry)>, Option<Cause>> {
        let stream = self.js.get_stream_no_info(&self.stream).await.map_err(|e| Some(Box::new(e) as Cause))?;
        let read = tokio::time::timeout(self.timeout, stream.get_last_raw_message_by_subject(subject))
            .await
            .map_err(|_| None)?;
        match read {
            Ok(message) => {
                Ok(serde_json::from_slice::<Entry>(&message.payload).ok().map(|entry| (message.sequence, entry)))
            }
            Err(err) if err.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(err) => Err(Some(Box::new(err))),
        }
    }

    /// Publishes one message about `generation` of the write, with `id` as its message id, pinned to the
    /// subject's last sequence `after` when given.
    #[allow(clippy::too_many_arguments)]
    async fn publish(
        &self,
        subject: &str,
        repo: &str,
        key: &str,
        generation: u64,
        released: bool,
        id: String,
        after: Option<u64>,
    ) -> Result<PublishAck, Published> {
        let entry = Entry {
            node: self.node.as_str().to_owned(),
            repo: repo.to_owned(),
            key: key.to_owned(),
            at: hive_support::now_rfc3339(),
            generation,
            released,
        };
        let payload = serde_json::to_vec(&entry).map_err(|e| Published::Failed(Some(Box::new(e))))?;
        let mut publish = PublishMessage::build().message_id(id).payload(payload.into());
        if let Some(sequence) = after {
            publish = publish.expected_last_subject_sequence(sequence);
        }
        let acknowledged = async {
            let ack = self.js.send_publish(subject.to_owned(), publish).await.map_err(Published::failed)?;
            ack.await.map_err(|err| match err.kind() {
                PublishErrorKind::WrongLastSequence => Published::Refused,
                _ => Published::failed(err),
            })
        };
        tokio::time::timeout(self.timeout, acknowledged).await.map_err(|_| Published::Failed(None))?
    }
}

/// Why a publish was not acknowledged.
enum Published {
    /// The subject's last sequence was not the one the publish was pinned to.
    Refused,
    /// No answer, or an error.
    Failed(Option<Cause>),
}

impl Published {
    fn failed(err: impl std::error::Error + Send + Sync + 'static) -> Published {
        Published::Failed(Some(Box::new(err)))
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
