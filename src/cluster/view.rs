//! The fleet-wide view of `hive serve --cluster`: each node publishes what it holds (its pilots' statuses, after
//! every cycle and at least once a ttl) and its bus's events on `hive.<fleet>.events.<node>.<kind>`, and merges
//! what the others publish into its API's [`FleetView`], marked with their node. Views only: nothing heard here
//! starts, stops or decides anything on this node.

use std::{collections::BTreeSet, time::Duration};

use hive::{
    Hive, HiveEvent,
    cerebrum::{MemberKind, MemberStatus},
};
use hive_cluster::{Events, Members, RemoteEvents};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tokio::task::JoinHandle;

use crate::api::fleet::FleetView;

/// Statuses per message: well under NATS's default 1 MiB payload even with long findings.
const PART: usize = 100;

/// What a node publishes for the others (the body of hive-cluster's versioned envelope).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum NodeMessage {
    /// Part of what the node holds: its pilots, as its queen's status has them. Publication `share` is complete
    /// with its `last` part, and then replaces everything the node said before.
    Share {
        /// The node's count of its publications.
        share: u64,
        /// Whether this is the publication's last part.
        last: bool,
        /// The pilots.
        repos: Vec<MemberStatus>,
    },
    /// One of the node's bus events.
    Event {
        /// When it was published there (RFC 3339).
        at: String,
        /// The event.
        event: HiveEvent,
    },
}

/// Starts publishing this node's share and events, and following the others' into `view`; the tasks end when the
/// hive stops or the returned handles are aborted.
pub(crate) async fn start(
    hive: &Hive,
    events: Events,
    members: Members,
    view: FleetView,
    ttl: Duration,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let remote = events.subscribe::<NodeMessage>().await?;
    let publishing = tokio::spawn(publish(hive.clone(), events, ttl));
    let following = tokio::spawn(follow(remote, view.clone()));
    let pruning = tokio::spawn(prune(members, view, ttl / 3));
    Ok(vec![publishing, following, pruning])
}

/// Publishes every bus event as it comes, and the share after every cycle, or after a ttl without one (a node
/// that joined since hears it then).
async fn publish(hive: Hive, events: Events, ttl: Duration) {
    let mut bus = hive.subscribe();
    let mut share: u64 = 0;
    let mut again = tokio::time::interval(ttl);
    loop {
        let envelope = tokio::select! {
            envelope = bus.recv() => match envelope {
                Some(envelope) => envelope,
                None => return,
            },
            _ = again.tick() => {
                share += 1;
                publish_share(&hive, &events, share).await;
                continue;
            }
        };
        if !shared(&envelope.event) {
            continue;
        }
        let (kind, _) = hive::feed::event_json(&envelope);
        let at = hive_support::rfc3339(envelope.at);
        if let Some(message) = redacted(NodeMessage::Event { at, event: (*envelope.event).clone() })
            && let Err(err) = events.publish(&kind, &message).await
        {
            tracing::debug!("an event was not published to the fleet: {}", hive_support::error_chain(&err));
        }
        if matches!(*envelope.event, HiveEvent::CycleCompleted { .. }) {
            share += 1;
            publish_share(&hive, &events, share).await;
            again.reset();
        }
    }
}

/// Whether the others hear of `event`. A node's own lifecycle is not: `hive_stopped` ends an event stream (the
/// last event a client of `/api/events` reads before it ends), and `fleet_started` announces the queen a client
/// is connected to; from another node, put into this node's stream, either would tell its clients that this node
/// stopped or started.
fn shared(event: &HiveEvent) -> bool {
    !matches!(event, HiveEvent::HiveStopped | HiveEvent::FleetStarted { .. })
}

/// This node's pilots, in parts of [`PART`]. Every part is sent even when one fails (at most once, as every
/// event): the others then miss only that part's pilots until the next share, not every part after it, and the
/// last part still completes the publication. The failures are reported together.
async fn publish_share(hive: &Hive, events: &Events, share: u64) {
    let Ok(status) = hive.status().await else { return };
    let pilots: Vec<MemberStatus> = status.members.into_iter().filter(|m| m.kind == MemberKind::Pilot).collect();
    let parts = share_parts(share, &pilots);
    let count = parts.len();
    let failed = send_all(parts, |message| async move { events.publish("share", &message).await }).await;
    if let Some((part, err)) = failed.first() {
        tracing::debug!(
            share,
            failed = failed.len(),
            parts = count,
            "parts of the share were not published to the fleet, the first ({part}): {}",
            hive_support::error_chain(err)
        );
    }
}

/// Publication `share` of `pilots` as its messages, redacted, the last one marked.
fn share_parts(share: u64, pilots: &[MemberStatus]) -> Vec<NodeMessage> {
    let parts: Vec<&[MemberStatus]> = if pilots.is_empty() { vec![&[]] } else { pilots.chunks(PART).collect() };
    let count = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let message = NodeMessage::Share { share, last: i + 1 == count, repos: part.to_vec() };
            // Redaction keeps types, so the message survives it; were it not to, the part goes out unredacted of
            // nothing rather than vanish: it is sent empty, and still marks the publication's end when last.
            redacted(message).unwrap_or(NodeMessage::Share { share, last: i + 1 == count, repos: Vec::new() })
        })
        .collect()
}

/// Sends every message, in order, whatever became of the ones before it; the index and error of each that failed.
async fn send_all<E, F, Fut>(messages: Vec<NodeMessage>, mut send: F) -> Vec<(usize, E)>
where
    F: FnMut(NodeMessage) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
{
    let mut failed = Vec::new();
    for (i, message) in messages.into_iter().enumerate() {
        if let Err(err) = send(message).await {
            failed.push((i, err));
        }
    }
    failed
}

/// The others' messages into the view.
async fn follow(mut remote: RemoteEvents<NodeMessage>, view: FleetView) {
    while let Some(message) = remote.next().await {
        let node = message.node.as_str();
        match message.body {
            NodeMessage::Share { share, last, repos } => view.merge(node, share, repos, last),
            // A node of another build may still send its lifecycle: it is not this node's to show.
            NodeMessage::Event { event, .. } if !shared(&event) => {}
            NodeMessage::Event { at, event } => {
                let Ok(mut value) = serde_json::to_value(&event) else { continue };
                let kind = value.get("type").and_then(serde_json::Value::as_str).unwrap_or("unknown").to_owned();
                if let Some(fields) = value.as_object_mut() {
                    fields.insert("at".to_owned(), at.into());
                    fields.insert("node".to_owned(), node.into());
                }
                // Another node's text, cleaned and redacted here too, with this node's secrets.
                if let Ok(data) = crate::terminal::json_line(value) {
                    view.event(&kind, data);
                }
            }
        }
    }
}

/// Forgets what nodes no longer alive held, every `period`.
async fn prune(members: Members, view: FleetView, period: Duration) {
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        match members.live().await {
            Ok(live) => view.keep_nodes(&live.iter().map(ToString::to_string).collect::<BTreeSet<_>>()),
            Err(err) => tracing::debug!("the live nodes could not be read: {}", hive_support::error_chain(&err)),
        }
    }
}

/// `value` with every secret this process knows redacted from its strings, as everything it prints: a message
/// leaves this node's trust. `None` if it does not survive the round trip (it always does: redaction keeps types).
fn redacted<T: Serialize + DeserializeOwned>(value: T) -> Option<T> {
    let mut json = serde_json::to_value(&value).ok()?;
    crate::terminal::redact_json(&mut json);
    serde_json::from_value(json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_part_of_a_share_is_sent_when_one_fails() {
        let pilots: Vec<MemberStatus> = (0..PART * 2 + 1)
            .map(|i| {
                serde_json::from_value(serde_json::json!({
                    "id": format!("o/r{i}"), "kind": "pilot", "state": "running", "restarts": 0,
                "score": null, "healthy": null, "stale": false, "last_error": null
                }))
            })
            .collect::<Result<_, _>>()
            .expect("statuses");
        let parts = share_parts(7, &pilots);
        assert_eq!(parts.len(), 3);
        let mut tried = Vec::new();
        let failed = send_all(parts, |message| {
            let NodeMessage::Share { repos, last, .. } = message else { panic!("a share") };
            tried.push((repos.len(), last));
            let fails = tried.len() == 1;
            async move { if fails { Err("refused while disconnected") } else { Ok(()) } }
        })
        .await;
        assert_eq!(tried, [(PART, false), (PART, false), (1, true)], "a part after the failed one was not sent");
        assert_eq!(failed, [(0, "refused while disconnected")]);
    }

    #[test]
    fn a_message_leaves_with_the_known_secrets_redacted_and_reads_back() {
        // A credential's shape, which is redacted without being configured (configuring one would leak into the
        // other tests of this process).
        let token = format!("github_pat_{}", "a1".repeat(20));
        let event = HiveEvent::MemberFailed {
            member: hive::cerebrum::MemberId::new("o/r"),
            error: format!("token {token} refused"),
        };
        let message = redacted(NodeMessage::Event { at: "t".to_owned(), event }).expect("survives");
        let text = serde_json::to_string(&message).expect("serialises");
        assert!(!text.contains(&token) && text.contains("[REDACTED]"), "{text}");
        let back: NodeMessage = serde_json::from_str(&text).expect("reads back");
        assert!(matches!(back, NodeMessage::Event { event: HiveEvent::MemberFailed { .. }, .. }));
        let unknown: Result<NodeMessage, _> = serde_json::from_str(r#"{"type":"gossip","n":1}"#);
        assert!(unknown.is_err(), "an unknown message is refused, for the receiver to drop");
    }
}
