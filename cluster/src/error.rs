//! Why a cluster operation failed: bad names or settings, a NATS server that cannot be reached, a lease that is
//! someone else's or no longer current, a write refused by the fence.

use std::time::Duration;

/// A boxed cause from the NATS client, whose error types differ per operation.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a cluster operation failed. Nothing here is lost by failing: a lease that cannot be claimed or renewed is
/// simply not held, and the next round tries again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// A node name that cannot be a key of the membership bucket.
    #[error("invalid node name '{name}': {reason}; use 1 to 64 of the letters a-z, A-Z, digits, '-' and '_'")]
    InvalidNode {
        /// The name, escaped.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A repository name that cannot be leased.
    #[error("invalid repository name '{repo}': {reason}")]
    InvalidRepo {
        /// The name, escaped.
        repo: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Settings that cannot work together.
    #[error("invalid cluster settings: {reason}")]
    InvalidConfig {
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// No connection to the NATS server.
    #[error("cannot connect to nats at '{url}'; is nats-server running there with JetStream ('nats-server -js')?")]
    Connect {
        /// The address, credentials redacted.
        url: String,
        /// The client's error.
        #[source]
        source: Cause,
    },
    /// A key-value bucket could not be created or opened.
    #[error(
        "cannot open the key-value bucket '{bucket}'; if it exists with another ttl, give every node the same ttl or \
         delete the bucket"
    )]
    Bucket {
        /// The bucket's name.
        bucket: String,
        /// The client's error.
        #[source]
        source: Cause,
    },
    /// The server did not answer in time or the connection is down; the operation may or may not have happened.
    #[error("nats did not complete {op} of '{key}' in bucket '{bucket}' within {timeout:?}")]
    Unreachable {
        /// What was attempted: `claim`, `renew`, `release`, `read`, `heartbeat`, `list`.
        op: &'static str,
        /// The bucket.
        bucket: String,
        /// The key (or `*` for a listing).
        key: String,
        /// How long the operation was given.
        timeout: Duration,
        /// The client's error, if it gave one before the time ran out.
        #[source]
        source: Option<Cause>,
    },
    /// Another node holds the lease.
    #[error("'{repo}' is leased to node '{holder}' (revision {revision})")]
    Taken {
        /// The repository.
        repo: String,
        /// The node named by the lease.
        holder: String,
        /// The lease's revision.
        revision: u64,
    },
    /// A renewal or release pinned to a revision that is no longer the key's last: the lease lapsed, was released,
    /// or is another node's now.
    #[error("the lease of '{repo}' at revision {revision} is no longer current; another node may hold it now")]
    Stale {
        /// The repository.
        repo: String,
        /// The revision the operation was pinned to.
        revision: u64,
    },
    /// An entry that is not what this crate writes.
    #[error("the entry '{key}' in bucket '{bucket}' is not a lease or heartbeat of hive: {source}")]
    Corrupt {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// Why it could not be read.
        #[source]
        source: serde_json::Error,
    },
    /// An event kind that cannot be a subject's token.
    #[error("invalid event kind '{kind}': use 1 to 64 of the letters a-z, digits and '_'")]
    InvalidKind {
        /// The kind, escaped.
        kind: String,
    },
    /// A stream could not be created or opened.
    #[error(
        "cannot open the stream '{stream}'; if it exists with another duplicate window, give every node the same ttl \
         or delete the stream"
    )]
    Stream {
        /// The stream's name.
        stream: String,
        /// The client's error.
        #[source]
        source: Cause,
    },
    /// A write some node of the fleet already sent within the stream's duplicate window.
    #[error(
        "the write '{key}' to '{repo}' was already sent by a node of the fleet within the last {window:?}; it is not \
         sent twice"
    )]
    Duplicate {
        /// The repository.
        repo: String,
        /// The write's idempotency key.
        key: String,
        /// How long the fleet remembers a write.
        window: Duration,
    },
    /// The stream of writes did not answer whether a write was already sent: the write is not sent.
    #[error(
        "nats did not record the write '{key}' to '{repo}' within {timeout:?}; it is not sent, and is proposed again later"
    )]
    Unrecorded {
        /// The repository.
        repo: String,
        /// The write's idempotency key.
        key: String,
        /// How long the record was given.
        timeout: Duration,
        /// The client's error, if it gave one before the time ran out.
        #[source]
        source: Option<Cause>,
    },
    /// The stream of writes did not answer a release: the write's record stays until the window ends.
    #[error(
        "nats did not release the write '{key}' to '{repo}' within {timeout:?}; it is proposed again once the fleet's \
         window of writes has passed"
    )]
    Unreleased {
        /// The repository.
        repo: String,
        /// The write's idempotency key.
        key: String,
        /// How long the release was given.
        timeout: Duration,
        /// The client's error, if it gave one before the time ran out.
        #[source]
        source: Option<Cause>,
    },
    /// A message could not be published, or a subscription made.
    #[error("nats did not take the message or subscription on '{subject}'")]
    Publish {
        /// The subject.
        subject: String,
        /// Why.
        #[source]
        source: Cause,
    },
    /// A leader's write from a node that does not lead now.
    #[error("node '{node}' does not lead the fleet now; only the leader writes the fleet's emergency")]
    NotLeader {
        /// The node.
        node: String,
    },
    /// A leader's write not answered before its term's deadline: abandoned, though the server may still store it
    /// (a write pinned to a revision is refused if a successor wrote first).
    #[error("node '{node}' reached the end of its term before its write was answered; the write may have been stored")]
    TermEnded {
        /// The node.
        node: String,
    },
    /// The fence refused a write.
    #[error("refusing to write to '{repo}' at lease revision {revision}: {refusal}")]
    Fenced {
        /// The repository.
        repo: String,
        /// The revision the writer believed it held.
        revision: u64,
        /// What the key-value bucket says instead.
        refusal: Refusal,
    },
}

/// What the fence found instead of this node's lease at the expected revision.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// No lease: it lapsed or was released.
    Vacant,
    /// Another node holds it.
    HeldBy {
        /// That node.
        node: String,
        /// Its revision.
        revision: u64,
    },
    /// This node holds it under another claim: the writer's view is stale (a lease lost and claimed again since,
    /// or claimed by another incarnation of this node).
    Moved {
        /// The current revision.
        revision: u64,
    },
    /// This node's hold passed its local deadline without a renewal: the bucket may let another node claim it
    /// soon, whatever it says now.
    Lapsed,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Vacant => f.write_str("no node holds its lease any more"),
            Self::HeldBy { node, revision } => write!(f, "node '{node}' holds its lease now (revision {revision})"),
            Self::Moved { revision } => write!(f, "its lease has moved on to revision {revision}"),
            Self::Lapsed => f.write_str("this node's hold on its lease lapsed without a renewal; is nats reachable?"),
        }
    }
}
