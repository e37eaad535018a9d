//! The fleet's emergency under `hive serve --cluster`: one node leads (hive-cluster's election), evaluates the
//! emergency protocol over the whole fleet (cerebrum's [`FleetEmergency`], fed with this node's pilots and what the
//! others publish) once per cycle interval, and writes each change, declared with its causes or cleared, on the
//! fleet's bulletin (a JetStream key-value entry, acknowledged when stored, pinned to the revision it read). Every
//! node follows the bulletin and imposes what it says on its queen, which obeys it like its own declaration: the
//! steward hears it first, then the bus, the members' emergency mode, the snapshot.
//!
//! The nodes' own queens do not evaluate the fleet-wide triggers (see [`share_only`]): a share is not the fleet.

use std::time::{Duration, Instant};

use futures::StreamExt;
use hive::{
    Hive,
    cerebrum::{
        EmergencyConfig, EmergencyReason, FleetEmergency, FleetMember, HealthReport, MemberKind, MemberState,
        MemberStatus,
    },
};
use hive_cluster::{Bulletin, ClusterError, LeaderHandle, Posted};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::oneshot;

use crate::api::fleet::FleetView;

/// The version of [`Declaration`] this build writes and reads.
const VERSION: u32 = 1;

/// What the bulletin holds: the fleet's emergency as its leader last decided it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Declaration {
    /// [`VERSION`].
    pub(crate) v: u32,
    /// The node that decided it.
    pub(crate) leader: String,
    /// The causes in force; empty: cleared.
    pub(crate) reasons: Vec<EmergencyReason>,
    /// When it was decided (RFC 3339).
    pub(crate) at: String,
}

/// A node's queen under `--cluster`: the triggers that read the fleet (its health, critical members, critical
/// security, systemic failures) are off, since its fleet is only its share; the leader evaluates them over the
/// whole fleet. What is the node's own stays: `EMERGENCY_MODE` and declarations by hand.
pub(crate) fn share_only(config: &EmergencyConfig) -> EmergencyConfig {
    EmergencyConfig {
        fleet_health_below: 0.0,
        critical_members: 0,
        critical_security: false,
        systemic_members: 0,
        ..config.clone()
    }
}

/// The leader's settings: the fleet's triggers as configured, but `EMERGENCY_MODE`, which is one node's.
pub(crate) fn fleet_wide(config: &EmergencyConfig) -> EmergencyConfig {
    EmergencyConfig { forced: false, ..config.clone() }
}

/// How often the leader evaluates: once a cycle interval, once an emergency interval while one is in force, and
/// not before it had a ttl to hear every node's share.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cadence {
    pub(crate) every: Duration,
    pub(crate) in_emergency: Duration,
    /// The lease ttl.
    pub(crate) settle: Duration,
}

/// The leading and following tasks of one node; stopped with the node.
#[derive(Debug)]
pub(crate) struct Steering {
    stop: oneshot::Sender<()>,
    leading: tokio::task::JoinHandle<()>,
    obeying: tokio::task::JoinHandle<()>,
}

impl Steering {
    /// Starts following the bulletin, and leading when elected.
    pub(crate) fn start(
        hive: &Hive,
        leader: LeaderHandle,
        bulletin: Bulletin,
        view: FleetView,
        config: EmergencyConfig,
        cadence: Cadence,
    ) -> Steering {
        let (stop, stopped) = oneshot::channel();
        let obeying = tokio::spawn(obey(hive.clone(), bulletin.clone(), view.clone()));
        let lead = Lead { hive: hive.clone(), leader, bulletin, view, config, cadence };
        let leading = tokio::spawn(lead.run(stopped));
        Steering { stop, leading, obeying }
    }

    /// Stops leading (the leader's key given back) and following.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.leading.await;
        self.obeying.abort();
    }
}

struct Lead {
    hive: Hive,
    leader: LeaderHandle,
    bulletin: Bulletin,
    view: FleetView,
    config: EmergencyConfig,
    cadence: Cadence,
}

/// The leader's state over one term.
struct Term {
    decider: FleetEmergency,
    /// The bulletin as this node last read or wrote it.
    posted: Option<Posted<Declaration>>,
    since: Instant,
}

impl Lead {
    async fn run(self, mut stopped: oneshot::Receiver<()>) {
        let mut term: Option<Term> = None;
        loop {
            let active = term.as_ref().is_some_and(|term| term.decider.is_active());
            let every = if active { self.cadence.in_emergency } else { self.cadence.every };
            tokio::select! {
                _ = &mut stopped => break,
                () = tokio::time::sleep(every) => {}
            }
            let leader = self.leader.leader().await.ok().flatten();
            self.view.set_leader(leader.map(|node| node.to_string()));
            if self.leader.term().is_none() {
                term = None;
                continue;
            }
            match &mut term {
                Some(term) if term.since.elapsed() >= self.cadence.settle => self.evaluate(term).await,
                Some(_) => {}
                None => term = self.take_over().await,
            }
        }
        self.leader.stop().await;
    }

    /// A new term: the emergency in force, as the bulletin has it, goes on until the fleet is healthy.
    async fn take_over(&self) -> Option<Term> {
        let posted = match self.bulletin.read::<Declaration>().await {
            Ok(posted) => posted,
            Err(err) => {
                tracing::warn!("the fleet's emergency cannot be read: {}", hive_support::error_chain(&err));
                return None;
            }
        };
        let config = fleet_wide(&self.config);
        // A repository missing from what this node hears may be moving between nodes: its holder's heartbeat
        // lapsed, and the next holder reports it within a ttl and a cycle.
        let grace = self.cadence.settle + self.cadence.every;
        let decider = match posted.as_ref().map(|p| p.value.reasons.clone()) {
            Some(reasons) if !reasons.is_empty() => FleetEmergency::in_force(config, grace, reasons),
            _ => FleetEmergency::new(config, grace),
        };
        Some(Term { decider, posted, since: Instant::now() })
    }

    /// One evaluation over the whole fleet; a change is written on the bulletin.
    async fn evaluate(&self, term: &mut Term) {
        let Ok(status) = self.hive.status().await else { return };
        let here: std::collections::BTreeSet<String> =
            status.members.iter().filter(|m| m.kind == MemberKind::Pilot).map(|m| m.id.to_string()).collect();
        let local = status.members.into_iter().filter(|m| m.kind == MemberKind::Pilot);
        let members = local.chain(self.view.remote(&here)).map(member);
        let reasons = term.decider.evaluate(members, Instant::now()).to_vec();
        let in_force = term.posted.as_ref().map(|p| p.value.reasons.as_slice()).unwrap_or_default();
        if reasons == in_force {
            return;
        }
        let declaration = Declaration {
            v: VERSION,
            leader: self.leader.node().to_string(),
            reasons,
            at: hive_support::now_rfc3339(),
        };
        // Written only while this node still leads by the bucket, pinned to what it read.
        let written = match self.leader.confirm().await {
            Ok(_) => self.bulletin.post(&declaration, term.posted.as_ref().map(|p| p.revision)).await,
            Err(err) => Err(err),
        };
        match written {
            Ok(revision) => {
                let what = if declaration.reasons.is_empty() { "cleared" } else { "declared" };
                tracing::warn!(reasons = declaration.reasons.len(), "the fleet's emergency {what} by this node");
                term.posted = Some(Posted { value: declaration, revision });
            }
            Err(ClusterError::Stale { .. }) => {
                // Someone wrote since: read it, and decide again at the next evaluation.
                term.posted = self.bulletin.read().await.ok().flatten();
            }
            Err(err) => tracing::warn!("the fleet's emergency was not written: {}", hive_support::error_chain(&err)),
        }
    }
}

/// A pilot's status as the fleet's decider reads it.
fn member(status: MemberStatus) -> FleetMember {
    let report = status
        .score
        .map(|score| HealthReport::new(score, status.healthy.unwrap_or(false)).with_signals(status.signals.clone()));
    FleetMember { escalated: status.state == MemberState::Escalated, report, id: status.id }
}

/// Follows the bulletin and imposes each declaration on this node's queen; follows again after a second when the
/// watch ends (the connection closed and came back).
async fn obey(hive: Hive, bulletin: Bulletin, view: FleetView) {
    loop {
        match bulletin.follow::<Declaration>().await {
            Ok(declarations) => {
                let mut declarations = Box::pin(declarations);
                while let Some(posted) = declarations.next().await {
                    match posted {
                        Ok(posted) if posted.value.v == VERSION => impose(&hive, &view, posted),
                        Ok(posted) => tracing::warn!(
                            version = posted.value.v,
                            "the fleet's emergency was written by another version; ignored"
                        ),
                        Err(err) => {
                            tracing::warn!("the fleet's emergency cannot be read: {}", hive_support::error_chain(&err))
                        }
                    }
                }
            }
            Err(err) => {
                tracing::debug!("the fleet's emergency cannot be followed: {}", hive_support::error_chain(&err))
            }
        }
        // A retry's pace, not a wait for anything.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn impose(hive: &Hive, view: &FleetView, posted: Posted<Declaration>) {
    let Declaration { leader, reasons, at, .. } = posted.value;
    view.set_emergency(Some(json!({
        "declared": !reasons.is_empty(),
        "leader": leader,
        "reasons": reasons,
        "at": at,
        "revision": posted.revision,
    })));
    if let Err(err) = hive.queen().impose_emergency(reasons) {
        tracing::debug!("the fleet's emergency was not imposed: {err}");
    }
}
