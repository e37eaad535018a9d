//! `QueenHandle`: what callers hold instead of the queen actor, with typed async methods for each RPC.

use ractor::{ActorRef, rpc::CallResult};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::QueenMessage;
use crate::{
    BatchId, BatchReport, EmergencyReason, EventBus, FleetHealth, HealthReport, MemberId, MemberKind, MemberSpec,
    MemberState, Outage, QueenError, Seed, Subscription,
};

/// The hive's state, as `hive status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HiveStatus {
    /// Fleet health now.
    pub fleet: FleetHealth,
    /// Whether the emergency protocol is active.
    pub emergency: bool,
    /// While it is, the triggers that hold (the causes recovery may answer); empty otherwise. Read it here, not from
    /// the bus, which may drop events for a slow reader.
    pub emergency_reasons: Vec<EmergencyReason>,
    /// The current (or last) orchestration cycle.
    pub cycle: u64,
    /// Every member, sorted by id.
    pub members: Vec<MemberStatus>,
    /// Sources some members cannot reach now (a forge outage), by name.
    pub outages: Vec<Outage>,
    /// Events published on the bus so far.
    pub events_published: u64,
    /// Events subscribers lost by falling behind.
    pub events_lost: u64,
}

impl HiveStatus {
    /// One member's status.
    pub fn member(&self, id: &str) -> Option<&MemberStatus> {
        self.members.iter().find(|m| m.id.as_str() == id)
    }
}

/// One member, as the queen sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberStatus {
    /// Id.
    pub id: MemberId,
    /// Kind.
    pub kind: MemberKind,
    /// Lifecycle state.
    pub state: MemberState,
    /// Restarts over its whole life.
    pub restarts: u64,
    /// Latest score.
    pub score: Option<u8>,
    /// Latest verdict.
    pub healthy: Option<bool>,
    /// Whether `score` and `healthy` are stale: the member's last read failed because its source was unreachable.
    pub stale: bool,
    /// The last failure, as text.
    pub last_error: Option<String>,
    /// The latest report's findings, for people ([`HealthReport::findings`](crate::HealthReport::findings)).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<String>,
    /// The latest report's named facts ([`HealthReport::facts`](crate::HealthReport::facts)).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub facts: std::collections::BTreeMap<String, String>,
    /// The latest report's signals, worst first: what `propose` and `explain` start from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<crate::Signal>,
}

/// A typed handle on a running queen. Cheap to clone.
#[derive(Debug, Clone)]
pub struct QueenHandle {
    actor: ActorRef<QueenMessage>,
    bus: EventBus,
}

impl QueenHandle {
    pub(crate) fn new(actor: ActorRef<QueenMessage>, bus: EventBus) -> QueenHandle {
        QueenHandle { actor, bus }
    }

    /// Declares an emergency by hand (`by` says who, for the reasons and the audit): everything but the alert and
    /// recovery freezes until [`QueenHandle::clear_emergency`].
    pub fn declare_emergency(&self, by: impl Into<String>) -> Result<(), QueenError> {
        self.actor.cast(QueenMessage::DeclareEmergency { by: by.into() }).map_err(|_| QueenError::NotRunning)
    }

    /// Withdraws a declaration made by hand; the emergency clears at once unless other triggers hold.
    pub fn clear_emergency(&self) -> Result<(), QueenError> {
        self.actor.cast(QueenMessage::ClearEmergency).map_err(|_| QueenError::NotRunning)
    }

    /// Imposes an emergency decided elsewhere (a cluster's leader, over the whole fleet) with its causes, obeyed like
    /// one the queen declared: the members are told, the bus and the notification sink hear of it. It holds until
    /// replaced; an empty list lifts it, and the emergency then clears at once unless other triggers hold.
    pub fn impose_emergency(&self, reasons: Vec<EmergencyReason>) -> Result<(), QueenError> {
        self.actor.cast(QueenMessage::ImposeEmergency(reasons)).map_err(|_| QueenError::NotRunning)
    }

    /// The queen actor, for linking or monitoring.
    pub fn actor(&self) -> &ActorRef<QueenMessage> {
        &self.actor
    }

    /// The bus the queen publishes on.
    pub fn bus(&self) -> &EventBus {
        &self.bus
    }

    /// Subscribes to the hive's events from now on.
    pub fn subscribe(&self) -> Subscription {
        self.bus.subscribe()
    }

    /// Supervises and starts a new member.
    pub async fn add_member(&self, spec: MemberSpec) -> Result<(), QueenError> {
        self.call(|reply| QueenMessage::AddMember(spec, reply)).await?
    }

    /// Stops and forgets a member.
    pub async fn remove_member(&self, id: &MemberId) -> Result<(), QueenError> {
        let id = id.clone();
        self.call(|reply| QueenMessage::RemoveMember(id, reply)).await?
    }

    /// Starts an escalated member again with a fresh restart window.
    pub async fn resume(&self, id: &MemberId) -> Result<(), QueenError> {
        let id = id.clone();
        self.call(|reply| QueenMessage::Resume(id, reply)).await?
    }

    /// The hive's state.
    pub async fn status(&self) -> Result<HiveStatus, QueenError> {
        self.call(QueenMessage::Status).await
    }

    /// One member's latest health report (its signals, findings and the breakdown of its score), or `None` before
    /// its first report. [`QueenHandle::status`] has every member's score without the detail.
    pub async fn report(&self, id: &MemberId) -> Result<Option<HealthReport>, QueenError> {
        let id = id.clone();
        self.call(|reply| QueenMessage::MemberReport(id, reply)).await
    }

    /// Starts an orchestration cycle now.
    pub fn start_cycle(&self) -> Result<(), QueenError> {
        self.actor.cast(QueenMessage::StartCycle).map_err(|_| QueenError::NotRunning)
    }

    /// Asks one member to observe now, outside the cycle's rhythm (its subject changed); the report follows as any
    /// report does. An unknown member is an error; one not running now is not asked (the next cycle reads it).
    pub async fn observe_now(&self, id: &MemberId) -> Result<(), QueenError> {
        let id = id.clone();
        self.call(|reply| QueenMessage::ObserveNow(id, reply)).await?
    }

    /// Fans out `n` ORCH actors on a seed. Await [`ProposalBatch::outcome`] for the report, or cancel it.
    pub fn propose(&self, seed: Seed, n: usize) -> Result<ProposalBatch, QueenError> {
        if n == 0 {
            return Err(QueenError::NoOrchs);
        }
        let batch = BatchId::next();
        let (reply, rx) = oneshot::channel();
        self.actor.cast(QueenMessage::Propose { batch, seed, n, reply }).map_err(|_| QueenError::NotRunning)?;
        Ok(ProposalBatch { batch, rx, queen: self.actor.clone() })
    }

    /// Stops every member in reverse start order (draining their queues), then the queen, and waits for both.
    pub async fn shutdown(&self) -> Result<(), QueenError> {
        // A queen that is already gone is shut down.
        if self.actor.call(QueenMessage::Shutdown, None).await.is_ok() {
            self.actor.get_cell().wait(None).await.map_err(|_| QueenError::NotRunning)?;
        }
        Ok(())
    }

    async fn call<T: Send + 'static>(
        &self,
        build: impl FnOnce(ractor::RpcReplyPort<T>) -> QueenMessage,
    ) -> Result<T, QueenError> {
        match self.actor.call(build, None).await {
            Ok(CallResult::Success(value)) => Ok(value),
            _ => Err(QueenError::NotRunning),
        }
    }
}

/// A fan-out in flight.
#[derive(Debug)]
pub struct ProposalBatch {
    batch: BatchId,
    rx: oneshot::Receiver<BatchReport>,
    queen: ActorRef<QueenMessage>,
}

impl ProposalBatch {
    /// The fan-out's id (in events).
    pub fn id(&self) -> BatchId {
        self.batch
    }

    /// Cancels the fan-out: ORCHs still running stop, finished outcomes are kept.
    pub fn cancel(&self) {
        let _ = self.queen.cast(QueenMessage::CancelBatch(self.batch));
    }

    /// Waits for every outcome (or the deadline, or a cancel).
    pub async fn outcome(self) -> Result<BatchReport, QueenError> {
        self.rx.await.map_err(|_| QueenError::NotRunning)
    }
}
