//! End-to-end tests of the whole hive: the `hive` binary as a user runs it, and the library as an embedder uses it.

mod audit;
mod autonomy;
mod backlog;
mod chaos;
mod cli;
mod ecosystem;
mod github;
mod github_rediscovery;
mod library;
mod services;
mod workspace;

use std::time::Duration;

use hive::{Envelope, HiveEvent, Subscription};

/// Reads events until `pick` returns something, or fails the test after `deadline`.
pub async fn wait_for<T>(
    events: &mut Subscription,
    deadline: Duration,
    mut pick: impl FnMut(&HiveEvent) -> Option<T>,
) -> T {
    let found = tokio::time::timeout(deadline, async {
        loop {
            let envelope: Envelope = events.recv().await.expect("the bus closed");
            if let Some(found) = pick(&envelope.event) {
                return found;
            }
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("no matching event within {deadline:?}"))
}
