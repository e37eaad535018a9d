//! The whole fleet as one node of a cluster shows it: `GET /api/fleet` (every repository with the node that holds
//! it: this node's pilots from its queen, the others' from what they published), and the `cluster` part of
//! `/api/status` (this node, the leader, the fleet's emergency as the leader declared it). Without `--cluster`
//! `/api/fleet` is this node's pilots alone.
//!
//! [`FleetView`] is where `hive serve --cluster` puts what it hears from the other nodes, and how their bus events
//! reach this node's event stream. It is a view: nothing in it drives a decision of this node.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use axum::{Json, extract::State};
use hive::cerebrum::{MemberKind, MemberStatus};
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::{ApiError, ApiState};

/// Remote events kept for event streams that read slowly; older ones are reported to them as lost.
const REMOTE_EVENTS: usize = 1024;

/// One event from another node, ready for the event stream: its kind and its JSON (with `node`).
pub type RemoteEvent = (Arc<str>, Arc<str>);

/// What this node knows of the rest of its cluster. Cheap to clone.
#[derive(Clone)]
pub struct FleetView {
    inner: Arc<Mutex<Known>>,
    events: broadcast::Sender<RemoteEvent>,
}

/// A repository another node holds, as it last said.
#[derive(Debug, Clone)]
struct Held {
    node: String,
    /// The publication it was last in, by that node's count.
    share: u64,
    status: MemberStatus,
}

#[derive(Debug, Default)]
struct Known {
    node: String,
    repos: BTreeMap<String, Held>,
    leader: Option<String>,
    emergency: Option<Value>,
}

impl FleetView {
    /// A view for the node `node`, knowing nothing of the others yet.
    pub fn new(node: &str) -> FleetView {
        let known = Known { node: node.to_owned(), ..Known::default() };
        FleetView { inner: Arc::new(Mutex::new(known)), events: broadcast::channel(REMOTE_EVENTS).0 }
    }

    /// Nothing panics while holding the lock, and every step leaves the map whole.
    fn lock(&self) -> MutexGuard<'_, Known> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Part of what `node` holds, from its publication number `share`; with `last`, the publication is complete
    /// and what `node` no longer mentions is forgotten (it moved, or left the fleet).
    pub fn merge(&self, node: &str, share: u64, repos: Vec<MemberStatus>, last: bool) {
        let mut known = self.lock();
        for status in repos {
            let held = Held { node: node.to_owned(), share, status };
            known.repos.insert(held.status.id.as_str().to_owned(), held);
        }
        if last {
            known.repos.retain(|_, held| held.node != node || held.share == share);
        }
    }

    /// Forgets what nodes that are no longer alive held: until another node takes them over, nobody holds them.
    pub fn keep_nodes(&self, live: &BTreeSet<String>) {
        self.lock().repos.retain(|_, held| live.contains(&held.node));
    }

    /// The repositories other nodes hold, as they said; what this node holds itself is left out.
    pub fn remote(&self, here: &BTreeSet<String>) -> Vec<MemberStatus> {
        let known = self.lock();
        known.repos.iter().filter(|(repo, _)| !here.contains(*repo)).map(|(_, held)| held.status.clone()).collect()
    }

    /// The leader now, by the leader's key.
    pub fn set_leader(&self, leader: Option<String>) {
        self.lock().leader = leader;
    }

    /// The fleet's emergency as the leader last declared or cleared it (`None`: never).
    pub fn set_emergency(&self, emergency: Option<Value>) {
        self.lock().emergency = emergency;
    }

    /// An event from another node, for every event stream of this node's API.
    pub fn event(&self, kind: &str, data: String) {
        // No stream open: nobody to tell.
        let _ = self.events.send((kind.into(), data.into()));
    }

    /// The remote events from now on.
    pub(super) fn subscribe(&self) -> broadcast::Receiver<RemoteEvent> {
        self.events.subscribe()
    }

    /// This node's name.
    pub(crate) fn node(&self) -> String {
        self.lock().node.clone()
    }

    /// The `cluster` part of `/api/status`.
    pub(crate) fn summary(&self) -> Value {
        let known = self.lock();
        let mut by_node: BTreeMap<&str, usize> = BTreeMap::new();
        for held in known.repos.values() {
            *by_node.entry(held.node.as_str()).or_default() += 1;
        }
        json!({
            "node": known.node,
            "leader": known.leader,
            "emergency": known.emergency,
            "remote_repositories": by_node,
        })
    }
}

/// `GET /api/fleet`.
pub(super) async fn fleet(State(state): State<Arc<ApiState>>) -> Result<Json<Value>, ApiError> {
    let status = state.hive.status().await?;
    let view = state.fleet.as_ref();
    let node = view.map(FleetView::node);
    let local = status.members.iter().filter(|m| m.kind == MemberKind::Pilot);
    let mut repos: BTreeMap<String, Value> =
        local.map(|m| (m.id.as_str().to_owned(), line(m, node.as_deref()))).collect();
    let (mut leader, mut emergency) = (Value::Null, Value::Null);
    if let Some(view) = view {
        // Copied out under the lock, turned into JSON after it: the view's writers wait for a copy, not for JSON.
        let (held, known_leader, known_emergency) = {
            let known = view.lock();
            let held: Vec<(String, Held)> = known
                .repos
                .iter()
                .filter(|(repo, _)| !repos.contains_key(*repo))
                .map(|(repo, held)| (repo.clone(), held.clone()))
                .collect();
            (held, known.leader.clone(), known.emergency.clone())
        };
        // What this node runs is newer than what another said before it let the repository go (left out above).
        for (repo, held) in held {
            repos.insert(repo, line(&held.status, Some(&held.node)));
        }
        leader = json!(known_leader);
        emergency = json!(known_emergency);
    }
    Ok(Json(json!({
        "node": node,
        "leader": leader,
        "emergency": emergency,
        "cycle": status.cycle,
        "repositories": repos.into_values().collect::<Vec<_>>(),
    })))
}

/// One repository's line, as `/api/repos` has it, with the node that holds it.
fn line(m: &MemberStatus, node: Option<&str>) -> Value {
    let mut line = super::repo_line(m);
    line["node"] = json!(node);
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use hive::cerebrum::{MemberId, MemberState};

    fn pilot(repo: &str, score: u8) -> MemberStatus {
        MemberStatus {
            id: MemberId::new(repo),
            kind: MemberKind::Pilot,
            state: MemberState::Running,
            restarts: 0,
            score: Some(score),
            healthy: Some(score >= 70),
            stale: false,
            last_error: None,
            findings: Vec::new(),
            facts: BTreeMap::new(),
            signals: Vec::new(),
        }
    }

    fn held(view: &FleetView) -> Vec<(String, String, Option<u8>)> {
        view.lock().repos.iter().map(|(repo, h)| (repo.clone(), h.node.clone(), h.status.score)).collect()
    }

    #[test]
    fn a_complete_publication_replaces_what_its_node_held_and_nobody_elses() {
        let view = FleetView::new("a");
        view.merge("b", 1, vec![pilot("o/1", 90), pilot("o/2", 90)], false);
        view.merge("b", 1, vec![pilot("o/3", 90)], true);
        view.merge("c", 1, vec![pilot("o/4", 40)], true);
        // o/2 moved to c; b's next publication no longer has it, nor o/3.
        view.merge("c", 2, vec![pilot("o/2", 50), pilot("o/4", 40)], true);
        view.merge("b", 2, vec![pilot("o/1", 80)], false);
        assert_eq!(held(&view).len(), 4, "an incomplete publication forgets nothing");
        view.merge("b", 2, vec![], true);
        let expected = [("o/1", "b", 80), ("o/2", "c", 50), ("o/4", "c", 40)];
        let expected: Vec<_> = expected.iter().map(|(r, n, s)| (r.to_string(), n.to_string(), Some(*s))).collect();
        assert_eq!(held(&view), expected);
        view.keep_nodes(&BTreeSet::from(["c".to_owned()]));
        assert_eq!(held(&view).iter().map(|h| h.0.as_str()).collect::<Vec<_>>(), ["o/2", "o/4"], "b is gone");
        let summary = view.summary();
        assert_eq!((summary["node"].as_str(), summary["remote_repositories"]["c"].as_u64()), (Some("a"), Some(2)));
    }
}
