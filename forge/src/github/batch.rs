//! Coalescing of concurrent snapshot reads into batched GraphQL queries (a DataLoader).
//!
//! [`Forge::snapshot`](crate::Forge::snapshot) reads one repository, and pilots call it concurrently when a cycle
//! opens. Each call joins the pending batch; the first to join starts a task that sends the batch when it is full or
//! [`WINDOW`] after it was opened, whichever comes first, as one query with one alias per repository, and hands each
//! caller its own alias's answer and the errors about it. The task owns everything it needs, so a caller that goes
//! away (a pilot stopped mid-read) never strands the others.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::future::join_all;
use serde_json::Value;
use tokio::sync::{Notify, oneshot};

use super::{
    GitHubError,
    client::{Client, GraphqlError},
};
use crate::RepoId;

/// How long a batch waits for more repositories after its first: long enough for the pilots of a cycle, which all
/// ask at once, short beside one round trip to GitHub.
pub(crate) const WINDOW: Duration = Duration::from_millis(5);

/// One repository's part of a batched answer.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    /// The repository's object (`null` when GitHub could not give it).
    pub data: Value,
    /// The errors whose path starts at the repository's alias, with the alias removed from their paths.
    pub errors: Vec<GraphqlError>,
}

/// The query for a batch: built from the keys (repositories, or what else one alias reads), each under the alias
/// `r{index}`.
pub(crate) type QueryFor<K> = fn(&[K]) -> String;

type Waiter = oneshot::Sender<Result<Part, GitHubError>>;

struct Pending<K> {
    repos: Vec<K>,
    waiters: Vec<Waiter>,
    full: Arc<Notify>,
}

impl<K> Default for Pending<K> {
    fn default() -> Self {
        Pending { repos: Vec::new(), waiters: Vec::new(), full: Arc::default() }
    }
}

/// A DataLoader for one kind of query, keyed by what one alias reads (`K`, a repository by default).
pub(crate) struct Batcher<K = RepoId> {
    client: Arc<Client>,
    query: QueryFor<K>,
    size: usize,
    pending: Arc<Mutex<Option<Pending<K>>>>,
}

impl<K: Clone + Send + Sync + 'static> Batcher<K> {
    /// A batcher sending `query` for up to `size` keys at a time.
    pub(crate) fn new(client: Arc<Client>, query: QueryFor<K>, size: usize) -> Batcher<K> {
        Batcher { client, query, size: size.max(1), pending: Arc::new(Mutex::new(None)) }
    }

    /// `key`'s part of the next batch's answer.
    pub(crate) async fn load(&self, key: &K) -> Result<Part, GitHubError> {
        let (tx, rx) = oneshot::channel();
        let opened = {
            let mut pending = lock(&self.pending);
            let batch = pending.get_or_insert_with(Pending::default);
            batch.repos.push(key.clone());
            batch.waiters.push(tx);
            if batch.repos.len() >= self.size {
                // A permit is stored if the task is not waiting yet, so the wake-up is never lost.
                batch.full.notify_one();
            }
            (batch.repos.len() == 1).then(|| Arc::clone(&batch.full))
        };
        if let Some(full) = opened {
            let (client, pending, query, size) =
                (Arc::clone(&self.client), Arc::clone(&self.pending), self.query, self.size);
            tokio::spawn(async move {
                tokio::select! {
                    () = tokio::time::sleep(WINDOW) => {}
                    () = full.notified() => {}
                }
                let Some(batch) = lock(&pending).take() else { return };
                send(&client, query, size, batch).await;
            });
        }
        rx.await.map_err(|_| GitHubError::Transient {
            request: "POST graphql".to_owned(),
            message: "the batched query ended without an answer".to_owned(),
        })?
    }
}

fn lock<K>(pending: &Mutex<Option<Pending<K>>>) -> std::sync::MutexGuard<'_, Option<Pending<K>>> {
    // The batch is a list pushed to in one step, so a panic elsewhere cannot leave it half-written.
    pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sends a batch in queries of `size` (more may have joined between "full" and the take), all at once.
async fn send<K: Clone>(client: &Client, query: QueryFor<K>, size: usize, batch: Pending<K>) {
    let mut waiters = batch.waiters.into_iter();
    let chunks: Vec<(Vec<K>, Vec<Waiter>)> =
        batch.repos.chunks(size).map(|repos| (repos.to_vec(), waiters.by_ref().take(repos.len()).collect())).collect();
    join_all(chunks.into_iter().map(|(repos, waiters)| async move {
        let answer = client.graphql_answer(&query(&repos), Value::Null).await;
        for (index, waiter) in waiters.into_iter().enumerate() {
            let part = answer.as_ref().map(|answer| {
                let alias = format!("r{index}");
                let errors = answer
                    .errors
                    .iter()
                    .filter(|e| e.path.first() == Some(&alias))
                    .map(|e| GraphqlError { path: e.path[1..].to_vec(), ..e.clone() })
                    .collect();
                Part { data: answer.data.get(&alias).cloned().unwrap_or(Value::Null), errors }
            });
            // A caller that went away no longer wants its part.
            let _ = waiter.send(part.map_err(Clone::clone));
        }
    }))
    .await;
}
