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
use hive_cluster::{Board, Bulletin, ClusterError, LeaderHandle};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
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
    board: Seen,
    since: Instant,
}

/// The bulletin as the leader last read or wrote it.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    /// Its revision (`None`: never written), which the next write is pinned to.
    revision: Option<u64>,
    /// The causes in force by it; `None` when it holds nothing this build reads (another version's declaration,
    /// or a value written by hand), which the next evaluation writes over, whatever it decides.
    in_force: Option<Vec<EmergencyReason>>,
}

/// What the leader does after an evaluation.
enum Step {
    /// Goes on with this term's decider.
    Go,
    /// Reads the bulletin again and takes the emergency over as it stands (someone else wrote, or this node's
    /// term ended while it wrote).
    Retake,
}

impl Lead {
    /// Evaluates every cycle interval while this node leads. A term that ends is seen at once through the
    /// election's watch, not only at the next evaluation: the decider goes with it, and the next term takes the
    /// emergency over from the bulletin afresh.
    async fn run(self, mut stopped: oneshot::Receiver<()>) {
        let mut term: Option<Term> = None;
        let mut leading = self.leader.watch();
        let mut watching = true;
        let timer = tokio::time::sleep(self.cadence.every);
        tokio::pin!(timer);
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                changed = leading.changed(), if watching => {
                    // The election ended (it only does when stopped): the timer's checks carry on.
                    watching = changed.is_ok();
                    if self.leader.term().is_none() {
                        term = None;
                    }
                    continue;
                }
                () = &mut timer => {}
            }
            let leader = self.leader.leader().await.ok().flatten();
            self.view.set_leader(leader.map(|node| node.to_string()));
            if self.leader.term().is_none() {
                term = None;
            } else if let Some(current) = &mut term {
                if current.since.elapsed() >= self.cadence.settle
                    && let Step::Retake = self.evaluate(current).await
                {
                    let since = current.since;
                    term = self.take_over(since).await;
                }
            } else {
                term = self.take_over(Instant::now()).await;
            }
            let active = term.as_ref().is_some_and(|term| term.decider.is_active());
            let every = if active { self.cadence.in_emergency } else { self.cadence.every };
            timer.as_mut().reset(tokio::time::Instant::now() + every);
        }
        self.leader.stop().await;
    }

    /// A term (or a term's decider again): the emergency in force, as the bulletin has it, goes on until the
    /// fleet is healthy. `None` when the bulletin cannot be read now.
    async fn take_over(&self, since: Instant) -> Option<Term> {
        let board = self.read().await?;
        Some(Term { decider: self.decider(&board), board, since })
    }

    /// The bulletin now, as this build reads it; `None` (and a warning) when it cannot be read.
    async fn read(&self) -> Option<Seen> {
        match self.bulletin.read::<Value>().await {
            Ok(None) => Some(Seen { revision: None, in_force: Some(Vec::new()) }),
            Ok(Some(board)) => {
                let revision = Some(board.revision());
                let in_force = match reading(board) {
                    Reading::Declared(declaration) => Some(declaration.reasons),
                    Reading::Withdrawn => Some(Vec::new()),
                    Reading::Unreadable(why) => {
                        tracing::warn!("the fleet's emergency cannot be read ({why}); this node writes over it");
                        None
                    }
                };
                Some(Seen { revision, in_force })
            }
            Err(err) => {
                tracing::warn!("the fleet's emergency cannot be read: {}", hive_support::error_chain(&err));
                None
            }
        }
    }

    /// A decider that goes on with the emergency `board` has in force.
    fn decider(&self, board: &Seen) -> FleetEmergency {
        let config = fleet_wide(&self.config);
        // A repository missing from what this node hears may be moving between nodes: its holder's heartbeat
        // lapsed, and the next holder reports it within a ttl and a cycle.
        let grace = self.cadence.settle + self.cadence.every;
        let decider = match &board.in_force {
            Some(reasons) if !reasons.is_empty() => FleetEmergency::in_force(config, grace, reasons.clone()),
            _ => FleetEmergency::new(config, grace),
        };
        // A bulletin written before means a leader decided for this fleet: what this one finds at its first
        // evaluation is what the fleet already was, not members that became critical now.
        if board.revision.is_some() { decider.taking_over() } else { decider }
    }

    /// One evaluation over the whole fleet; a change is written on the bulletin. The bulletin is read first: if
    /// someone else wrote since (a leader this node did not know of, an operator's deletion), the emergency is
    /// taken over as it stands there before this node decides.
    async fn evaluate(&self, term: &mut Term) -> Step {
        let Ok(status) = self.hive.status().await else { return Step::Go };
        let Some(board) = self.read().await else { return Step::Go };
        if board != term.board {
            tracing::info!("the fleet's emergency was written elsewhere since; this node goes on from it");
            term.decider = self.decider(&board);
            term.board = board;
        }
        let here: std::collections::BTreeSet<String> =
            status.members.iter().filter(|m| m.kind == MemberKind::Pilot).map(|m| m.id.to_string()).collect();
        let local = status.members.into_iter().filter(|m| m.kind == MemberKind::Pilot);
        let members = local.chain(self.view.remote(&here)).map(member);
        let reasons = term.decider.evaluate(members, Instant::now()).to_vec();
        if term.board.in_force.as_deref().is_some_and(|in_force| same_causes(in_force, &reasons)) {
            return Step::Go;
        }
        let declaration = Declaration {
            v: VERSION,
            leader: self.leader.node().to_string(),
            reasons,
            at: hive_support::now_rfc3339(),
        };
        // Written only while this node still leads by the bucket and its own deadline, pinned to what it read.
        match self.leader.write(self.bulletin.post(&declaration, term.board.revision)).await {
            Ok(revision) => {
                let what = if declaration.reasons.is_empty() { "cleared" } else { "declared" };
                tracing::warn!(reasons = declaration.reasons.len(), "the fleet's emergency {what} by this node");
                term.board = Seen { revision: Some(revision), in_force: Some(declaration.reasons) };
                Step::Go
            }
            // Perhaps written, perhaps not: the next evaluation reads which.
            Err(err @ ClusterError::Unreachable { .. }) => {
                tracing::warn!("the fleet's emergency was not written: {}", hive_support::error_chain(&err));
                Step::Go
            }
            Err(err) => {
                tracing::info!("the fleet's emergency was not written ({err}); read again");
                Step::Retake
            }
        }
    }
}

/// Whether two lists of causes are the same emergency for the nodes that obey it: the same triggers, the same
/// failure signatures and the same members with a security alert or a systemic failure. The healthy share and who
/// became critical within the window move with nearly every evaluation; rewriting the bulletin for them would
/// have every node impose the emergency again and tell all its members.
fn same_causes(a: &[EmergencyReason], b: &[EmergencyReason]) -> bool {
    fn cause(reason: &EmergencyReason) -> EmergencyReason {
        match reason {
            EmergencyReason::FleetHealthLow { threshold, .. } => {
                EmergencyReason::FleetHealthLow { share: 0.0, threshold: *threshold }
            }
            EmergencyReason::CriticalMembers { window, .. } => {
                EmergencyReason::CriticalMembers { members: Vec::new(), window: *window }
            }
            other => other.clone(),
        }
    }
    a.len() == b.len() && a.iter().zip(b).all(|(a, b)| cause(a) == cause(b))
}

/// A pilot's status as the fleet's decider reads it.
fn member(status: MemberStatus) -> FleetMember {
    let report = status
        .score
        .map(|score| HealthReport::new(score, status.healthy.unwrap_or(false)).with_signals(status.signals.clone()));
    FleetMember { escalated: status.state == MemberState::Escalated, report, id: status.id }
}

/// What a bulletin's entry says to this build.
#[derive(Debug, PartialEq)]
enum Reading {
    /// A declaration (or a clearance: no reasons) of this version.
    Declared(Declaration),
    /// Deleted or purged by hand: nothing in force.
    Withdrawn,
    /// Nothing this build reads: why.
    Unreadable(String),
}

fn reading(board: Board<Value>) -> Reading {
    match board {
        Board::Withdrawn { .. } => Reading::Withdrawn,
        Board::Unreadable { reason, .. } => Reading::Unreadable(reason),
        Board::Posted(posted) => {
            let version = posted.value.get("v").and_then(Value::as_u64);
            if version != Some(u64::from(VERSION)) {
                let shown = version.map_or_else(|| "none".to_owned(), |v| v.to_string());
                return Reading::Unreadable(format!("version {shown}, this node reads {VERSION}"));
            }
            match serde_json::from_value::<Declaration>(posted.value) {
                Ok(declaration) => Reading::Declared(declaration),
                Err(err) => Reading::Unreadable(err.to_string()),
            }
        }
    }
}

/// Follows the bulletin and imposes each declaration on this node's queen, and a withdrawal (the entry deleted or
/// purged by hand) as a clearance; follows again after a second when the watch ends (the connection closed and
/// came back). What this build cannot read changes nothing here: the leader writes over it.
async fn obey(hive: Hive, bulletin: Bulletin, view: FleetView) {
    loop {
        match bulletin.follow::<Value>().await {
            Ok(boards) => {
                let mut boards = Box::pin(boards);
                while let Some(board) = boards.next().await {
                    let board = match board {
                        Ok(board) => board,
                        Err(err) => {
                            tracing::warn!("the fleet's emergency cannot be read: {}", hive_support::error_chain(&err));
                            continue;
                        }
                    };
                    let revision = board.revision();
                    match reading(board) {
                        Reading::Declared(declaration) => impose(&hive, &view, declaration, revision),
                        Reading::Withdrawn => {
                            tracing::warn!("the fleet's emergency was withdrawn by hand; this node clears it");
                            let shown = json!({ "declared": false, "withdrawn": true, "revision": revision });
                            view.set_emergency(Some(shown));
                            if let Err(err) = hive.queen().impose_emergency(Vec::new()) {
                                tracing::debug!("the fleet's emergency was not lifted: {err}");
                            }
                        }
                        Reading::Unreadable(why) => {
                            tracing::warn!(revision, "the fleet's emergency cannot be read ({why}); ignored")
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

fn impose(hive: &Hive, view: &FleetView, declaration: Declaration, revision: u64) {
    let Declaration { leader, reasons, at, .. } = declaration;
    view.set_emergency(Some(json!({
        "declared": !reasons.is_empty(),
        "leader": leader,
        "reasons": reasons,
        "at": at,
        "revision": revision,
    })));
    if let Err(err) = hive.queen().impose_emergency(reasons) {
        tracing::debug!("the fleet's emergency was not imposed: {err}");
    }
}

#[cfg(test)]
mod tests;
