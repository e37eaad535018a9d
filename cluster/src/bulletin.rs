//! A bulletin: one value the leader writes and every node follows, kept in a JetStream key-value bucket of its own
//! without a ttl (the fleet's emergency: declared with its causes, or cleared). A write is acknowledged by the
//! server once stored, and pinned to the revision its writer last read, so a deposed leader's late write cannot
//! overwrite its successor's. Nodes follow it through a JetStream watch, which starts with the value in force (a
//! node that joins or reconnects learns it) and delivers every later one in order; no value rides a best-effort
//! message.
//!
//! What is read is a [`Board`]: a value, a value withdrawn by hand (`nats kv del` or `purge`: nothing is in force),
//! or a value this build cannot read (another version's, or not JSON of the caller's type), each with the
//! revision a writer pins its next write to, so that a leader can always write over what it found.

use std::time::Duration;

use async_nats::jetstream::kv;
use futures::{Stream, StreamExt};
use serde::{Serialize, de::DeserializeOwned};

use crate::{bucket::Bucket, config::ClusterConfig, error::ClusterError};

/// The bulletin's key.
const KEY: &str = "current";

/// One node's access to a bulletin. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Bulletin {
    bucket: Bucket,
}

/// A value as the bulletin holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Posted<T> {
    /// The value.
    pub value: T,
    /// The revision of its write, which the next write is pinned to.
    pub revision: u64,
}

/// The bulletin's entry as a node reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Board<T> {
    /// A value.
    Posted(Posted<T>),
    /// No value in force: the last one was deleted or purged (by hand: a leader never does) at `revision`.
    Withdrawn {
        /// The revision of the deletion.
        revision: u64,
    },
    /// A value this build cannot read, at `revision`.
    Unreadable {
        /// Its revision.
        revision: u64,
        /// Why it cannot be read.
        reason: String,
    },
}

impl<T> Board<T> {
    /// The revision a write over this entry is pinned to.
    pub fn revision(&self) -> u64 {
        match self {
            Board::Posted(posted) => posted.revision,
            Board::Withdrawn { revision } | Board::Unreadable { revision, .. } => *revision,
        }
    }
}

impl Bulletin {
    /// Opens (or creates) the fleet's emergency bulletin (the bucket `<fleet>-emergency`).
    pub async fn emergency(client: &async_nats::Client, config: &ClusterConfig) -> Result<Self, ClusterError> {
        let description = "hive: the fleet's emergency as its leader declared or cleared it";
        let name = config.emergency_bucket();
        Ok(Self { bucket: Bucket::open_lasting(client, config, &name, description, Duration::ZERO).await? })
    }

    /// The entry in force; `None` if nothing was ever written. An error only when the server cannot be asked.
    pub async fn read<T: DeserializeOwned>(&self) -> Result<Option<Board<T>>, ClusterError> {
        let entry = self.bucket.bounded("read", KEY, self.bucket.store.entry(KEY)).await?;
        let entry = entry.map_err(|e| self.bucket.unreachable("read", KEY, Some(Box::new(e))))?;
        Ok(entry.map(|entry| self.board(&entry)))
    }

    /// Writes `value`, pinned to `after` (the revision of the entry last read, whatever it held; `None`: nothing
    /// was ever written). Returns the new revision once the server stored it; `Stale` when someone wrote since.
    pub async fn post<T: Serialize>(&self, value: &T, after: Option<u64>) -> Result<u64, ClusterError> {
        let payload = self.bucket.encode(KEY, value)?;
        let stale = || ClusterError::Stale { repo: self.bucket.name().to_owned(), revision: after.unwrap_or(0) };
        match after {
            None => {
                let created = self.bucket.bounded("post", KEY, self.bucket.store.create(KEY, payload.into())).await?;
                created.map_err(|error| match error.kind() {
                    kv::CreateErrorKind::AlreadyExists => stale(),
                    _ => self.bucket.unreachable("post", KEY, Some(Box::new(error))),
                })
            }
            Some(revision) => {
                let updated = self.bucket.store.update(KEY, payload.into(), revision);
                self.bucket.bounded("post", KEY, updated).await?.map_err(|error| match error.kind() {
                    kv::UpdateErrorKind::WrongLastRevision => stale(),
                    _ => self.bucket.unreachable("post", KEY, Some(Box::new(error))),
                })
            }
        }
    }

    /// The entry in force, then every later one, in order (a withdrawal and a value this build cannot read
    /// included). An error item says the watch failed; the stream ends when the connection is closed for good.
    pub async fn follow<T: DeserializeOwned + Send>(
        &self,
    ) -> Result<impl Stream<Item = Result<Board<T>, ClusterError>> + Send + use<T>, ClusterError> {
        let watch = self.bucket.bounded("follow", KEY, self.bucket.store.watch_with_history(KEY)).await?;
        let watch = watch.map_err(|e| self.bucket.unreachable("follow", KEY, Some(Box::new(e))))?;
        let bulletin = self.clone();
        Ok(watch.map(move |entry| match entry {
            Ok(entry) => Ok(bulletin.board(&entry)),
            Err(error) => Err(bulletin.bucket.unreachable("follow", KEY, Some(Box::new(error)))),
        }))
    }

    fn board<T: DeserializeOwned>(&self, entry: &kv::Entry) -> Board<T> {
        let revision = entry.revision;
        match entry.operation {
            kv::Operation::Delete | kv::Operation::Purge => Board::Withdrawn { revision },
            kv::Operation::Put => match self.bucket.decode(KEY, &entry.value) {
                Ok(value) => Board::Posted(Posted { value, revision }),
                Err(error) => Board::Unreadable { revision, reason: error.to_string() },
            },
        }
    }
}
