//! Events between nodes: what each node publishes for the others to show (its repositories' health, its bus's
//! events), on `hive.<fleet>.events.<node>.<kind>`, and what it reads from `hive.<fleet>.events.>`.
//!
//! Every message is one versioned JSON envelope around a body the caller types. Core NATS delivers at most once and
//! drops for slow readers, like the bus: these are views, never a decision's input that a lost message could make
//! wrong. A message that is not such an envelope, of another version, from a subject that does not match its
//! sender, or whose body does not decode is dropped, and logged once per sender and fault, so a node of a newer
//! version or a stray publisher neither stops a node nor floods its log.

use std::{collections::BTreeSet, marker::PhantomData};

use futures::StreamExt;
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    config::ClusterConfig,
    error::{Cause, ClusterError},
    key::NodeName,
};

/// The version of the envelope and of the bodies this build writes; a message of another one is dropped.
pub const EVENTS_VERSION: u32 = 1;

/// The longest kind: a subject token, short.
const MAX_KIND: usize = 64;

/// The senders and faults remembered as already logged; past it the memory starts again, so a stream of
/// made-up sender names costs a warning each time it fills, not memory without end.
const MAX_WARNED: usize = 1024;

/// The envelope every message travels in.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Envelope<T> {
    /// [`EVENTS_VERSION`] when written.
    v: u32,
    /// The node that sent it; its subject names it too.
    node: NodeName,
    /// When it was sent (RFC 3339, UTC).
    at: String,
    /// What it says.
    body: T,
}

/// The part of an envelope read before its body, so that another version is told apart from a bad body.
#[derive(serde::Deserialize)]
struct Header {
    v: u32,
    node: NodeName,
}

/// A message another node sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Remote<T> {
    /// The node.
    pub node: NodeName,
    /// Its kind, the subject's last token.
    pub kind: String,
    /// When it was sent, by the sender's clock (RFC 3339).
    pub at: String,
    /// What it says.
    pub body: T,
}

/// One node's access to its fleet's events. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Events {
    client: async_nats::Client,
    fleet: String,
    node: NodeName,
}

impl Events {
    /// The events of the config's fleet, for the config's node.
    pub fn new(client: &async_nats::Client, config: &ClusterConfig) -> Self {
        Self { client: client.clone(), fleet: config.fleet().to_owned(), node: config.node().clone() }
    }

    /// The subject this node publishes a `kind` on: `hive.<fleet>.events.<node>.<kind>`. A kind is 1 to 64 of
    /// `[a-z0-9_]`, as the event kinds of the bus are.
    pub fn subject(&self, kind: &str) -> Result<String, ClusterError> {
        check_kind(kind)?;
        Ok(format!("hive.{}.events.{}.{kind}", self.fleet, self.node))
    }

    /// Publishes `body` as a `kind` from this node. Sent at most once: a node that is not connected now loses it,
    /// at once. The client is the node's one connection, which its leases and its election share: while it
    /// reconnects, async-nats queues what is published and sends it all when it is back, ahead of the renewals
    /// made then, so a view that would be stale by then is not queued at all.
    pub async fn publish<T: Serialize>(&self, kind: &str, body: &T) -> Result<(), ClusterError> {
        let subject = self.subject(kind)?;
        if self.client.connection_state() != async_nats::connection::State::Connected {
            let source = std::io::Error::new(std::io::ErrorKind::NotConnected, "not connected to nats now");
            return Err(ClusterError::Publish { subject, source: Box::new(source) });
        }
        let envelope = Envelope { v: EVENTS_VERSION, node: self.node.clone(), at: hive_support::now_rfc3339(), body };
        let payload = serde_json::to_vec(&envelope)
            .map_err(|source| ClusterError::Publish { subject: subject.clone(), source: Box::new(source) })?;
        self.client
            .publish(subject.clone(), payload.into())
            .await
            .map_err(|source| ClusterError::Publish { subject, source: Box::new(source) as Cause })
    }

    /// Every other node's messages from now on, their bodies decoded as `T`.
    pub async fn subscribe<T: DeserializeOwned>(&self) -> Result<RemoteEvents<T>, ClusterError> {
        let subject = format!("hive.{}.events.>", self.fleet);
        let subscriber = self
            .client
            .subscribe(subject.clone())
            .await
            .map_err(|source| ClusterError::Publish { subject, source: Box::new(source) as Cause })?;
        let prefix = format!("hive.{}.events.", self.fleet);
        Ok(RemoteEvents { subscriber, prefix, node: self.node.clone(), warned: BTreeSet::new(), body: PhantomData })
    }
}

/// Other nodes' messages, as they arrive.
#[derive(Debug)]
pub struct RemoteEvents<T> {
    subscriber: async_nats::Subscriber,
    prefix: String,
    node: NodeName,
    /// The senders and faults already logged.
    warned: BTreeSet<(String, &'static str)>,
    body: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> RemoteEvents<T> {
    /// The next message from another node; `None` once the subscription ends (the client closed). Malformed
    /// messages are skipped (see the module documentation); this node's own are not returned.
    pub async fn next(&mut self) -> Option<Remote<T>> {
        loop {
            let message = self.subscriber.next().await?;
            match read_message(&self.prefix, &self.node, message.subject.as_str(), &message.payload) {
                Ok(Some(remote)) => return Some(remote),
                Ok(None) => {}
                Err((sender, fault, detail)) => self.warn_once(sender, fault, &detail),
            }
        }
    }

    fn warn_once(&mut self, sender: String, fault: &'static str, detail: &str) {
        let escaped = sender.escape_default().to_string();
        if self.warned.len() >= MAX_WARNED && !self.warned.contains(&(sender.clone(), fault)) {
            self.warned.clear();
        }
        if self.warned.insert((sender, fault)) {
            tracing::warn!(sender = %escaped, detail, "dropped {fault} from the fleet's events; further ones from it are dropped silently");
        } else {
            tracing::debug!(sender = %escaped, detail, "dropped {fault}");
        }
    }
}

/// A kind is 1 to 64 of `[a-z0-9_]`: one subject token, as the bus's event kinds are.
fn check_kind(kind: &str) -> Result<(), ClusterError> {
    let valid = !kind.is_empty()
        && kind.len() <= MAX_KIND
        && kind.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid { Ok(()) } else { Err(ClusterError::InvalidKind { kind: kind.escape_default().to_string() }) }
}

/// What went wrong with a message: its sender (or subject), the fault and its detail.
type Bad = (String, &'static str, String);

/// A message on `subject` decoded for `node`; `None` for the node's own.
fn read_message<T: DeserializeOwned>(
    prefix: &str,
    node: &NodeName,
    subject: &str,
    payload: &[u8],
) -> Result<Option<Remote<T>>, Bad> {
    let (sender, kind) = subject
        .strip_prefix(prefix)
        .and_then(|rest| rest.split_once('.'))
        .filter(|(_, kind)| !kind.contains('.'))
        .ok_or_else(|| (subject.to_owned(), "a subject that is not <node>.<kind>", String::new()))?;
    if sender == node.as_str() {
        return Ok(None);
    }
    let bad = |fault: &'static str, detail: String| (sender.to_owned(), fault, detail);
    let header: Header =
        serde_json::from_slice(payload).map_err(|e| bad("a message that is not an event envelope", e.to_string()))?;
    if header.v != EVENTS_VERSION {
        let detail = format!("version {}, this node reads {EVENTS_VERSION}", header.v);
        return Err(bad("a message of another version", detail));
    }
    if header.node.as_str() != sender {
        return Err(bad("a message whose sender is not its subject's node", format!("it says '{}'", header.node)));
    }
    let envelope: Envelope<T> = serde_json::from_slice(payload)
        .map_err(|e| bad("a message whose body this node cannot read", e.to_string()))?;
    Ok(Some(Remote { node: envelope.node, kind: kind.to_owned(), at: envelope.at, body: envelope.body }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Body {
        n: u32,
    }

    fn read(subject: &str, payload: &str) -> Result<Option<Remote<Body>>, &'static str> {
        let me = NodeName::new("me").expect("valid");
        read_message("hive.f.events.", &me, subject, payload.as_bytes()).map_err(|(_, fault, _)| fault)
    }

    #[test]
    fn messages_are_read_only_when_whole_current_and_from_their_subjects_node() {
        let good = r#"{"v":1,"node":"b","at":"t","body":{"n":3}}"#;
        let remote = read("hive.f.events.b.share", good).expect("good").expect("another node's");
        assert_eq!((remote.node.as_str(), remote.kind.as_str(), remote.body), ("b", "share", Body { n: 3 }));
        assert_eq!(read("hive.f.events.me.share", r#"{"v":1,"node":"me","at":"t","body":{"n":3}}"#), Ok(None));
        for (subject, payload, fault) in [
            ("hive.f.events.b", good, "a subject that is not <node>.<kind>"),
            ("hive.f.events.b.x.y", good, "a subject that is not <node>.<kind>"),
            ("hive.f.events.b.share", "not json", "a message that is not an event envelope"),
            ("hive.f.events.b.share", r#"{"v":2,"node":"b","at":"t","body":{"n":3}}"#, "a message of another version"),
            ("hive.f.events.c.share", good, "a message whose sender is not its subject's node"),
            (
                "hive.f.events.b.share",
                r#"{"v":1,"node":"b","at":"t","body":{"m":3}}"#,
                "a message whose body this node cannot read",
            ),
        ] {
            assert_eq!(read(subject, payload).map(|_| ()), Err(fault), "{subject} {payload}");
        }
    }

    #[test]
    fn kinds_are_subject_tokens() {
        for bad in ["", "a.b", "A", "a b", "*", ">"] {
            assert!(check_kind(bad).is_err(), "{bad:?}");
        }
        assert!(check_kind("cycle_completed").is_ok());
    }
}
