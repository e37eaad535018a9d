//! `HiveEvent`: everything the hive tells the world, as one closed enum on the bus.

use std::{path::PathBuf, time::Duration};

use serde::{Deserialize, Serialize};

use crate::{AutonomyReport, BatchId, CycleRecord, EmergencyReason, MemberId, MemberKind, Outage, Proposal, Signal};

/// An event on the [`EventBus`](crate::EventBus). Past tense: each says what already happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum HiveEvent {
    /// The queen's initial members are running: one event for the whole fleet the queen was started with, instead
    /// of one [`HiveEvent::MemberStarted`] each. Lists every initial member whose first start succeeded, in start
    /// order; one whose first start failed is in a `MemberFailed` (and `MemberRestarted` once it runs) instead.
    FleetStarted {
        /// The members, each with its kind.
        members: Vec<StartedMember>,
    },
    /// A member added after the queen started is running (its first incarnation).
    MemberStarted {
        /// The member.
        member: MemberId,
        /// Its kind.
        kind: MemberKind,
    },
    /// A member's actor failed (panic, error, kill) or could not be started.
    MemberFailed {
        /// The member.
        member: MemberId,
        /// Why, as text.
        error: String,
    },
    /// A new incarnation of a member is running.
    MemberRestarted {
        /// The member.
        member: MemberId,
        /// Restarts since the backoff last reset (1-based).
        attempt: u32,
        /// The backoff delay that preceded it.
        delay: Duration,
    },
    /// A member failed more than its restart intensity allows and is no longer restarted.
    MemberEscalated {
        /// The member.
        member: MemberId,
        /// Restarts inside the window.
        restarts: u32,
        /// The window.
        period: Duration,
        /// When it will be resumed by itself (`None`: only by an operator or an emergency's recovery attempt).
        resume_in: Option<Duration>,
    },
    /// An escalated member was started again.
    MemberResumed {
        /// The member.
        member: MemberId,
    },
    /// A member stopped for good (not restarted, removed, or shut down).
    MemberStopped {
        /// The member.
        member: MemberId,
        /// Why.
        reason: String,
    },
    /// A member's report changed its health: its first report since it (re)started, or one whose score, verdict
    /// or signals differ from its previous report's. A report that repeats the previous one is not published (a
    /// cycle's progress is [`HiveEvent::CycleProgressed`]); the member's latest report is always in the queen's
    /// status.
    HealthReported {
        /// The member.
        member: MemberId,
        /// Score 0-100.
        score: u8,
        /// Its verdict.
        healthy: bool,
        /// The cycle it answers.
        cycle: Option<u64>,
    },
    /// A member was asked to look at its subject again now, outside the cycles (something, such as a webhook
    /// delivery, said the subject changed); its report follows as any report does (published if it changed).
    RefreshRequested {
        /// The member.
        member: MemberId,
    },
    /// A member could not read its subject because its source was unreachable: its last verdict stands, stale.
    HealthUnknown {
        /// The member.
        member: MemberId,
        /// What could not be reached, such as `github`.
        source: String,
        /// Why.
        reason: String,
        /// The cycle it answers.
        cycle: Option<u64>,
    },
    /// The first member found a source unreachable: an outage, which is never counted as the fleet's sickness.
    SourceUnreachable {
        /// The outage.
        outage: Outage,
    },
    /// Every member reaches the source again.
    SourceReachable {
        /// The source.
        source: String,
        /// How long the outage lasted.
        after: Duration,
    },
    /// A member noticed something.
    SignalRaised {
        /// The member.
        member: MemberId,
        /// What.
        signal: Signal,
    },
    /// An orchestration cycle began: the members it names were asked to observe.
    CycleStarted {
        /// Its number, from 1.
        cycle: u64,
        /// Members asked to observe (every running one in a full cycle).
        #[serde(default)]
        asked: usize,
        /// Which members were asked.
        #[serde(default)]
        kind: crate::CycleKind,
    },
    /// The cycle under way is done with `answered` of the `asked` members. Published each time that share reaches
    /// a new whole percent (with fewer than 100 members asked: after every answer), so a progress display moves
    /// without an event per report; `CycleCompleted` follows the last one.
    CycleProgressed {
        /// The cycle.
        cycle: u64,
        /// Members the cycle no longer waits for: they answered (a report, or word that their source was
        /// unreachable), or escalated, stopped or left meanwhile.
        answered: usize,
        /// Members asked to observe when it began.
        asked: usize,
    },
    /// An orchestration cycle ended, with its analytics record.
    CycleCompleted {
        /// The analytics record.
        record: CycleRecord,
    },
    /// The steward finished acting on an orchestration cycle: the cycle's record with the fixes it attempted, and
    /// what it decided and wrote. For observers; the steward's decisions never depend on anyone reading it.
    AutonomyCompleted {
        /// The queen's record of the cycle, `fixes_attempted` filled in.
        record: CycleRecord,
        /// What the loop did.
        report: Box<AutonomyReport>,
    },
    /// An ORCH produced proposals.
    ProposalReady {
        /// The fan-out it belongs to.
        batch: BatchId,
        /// Which of the n ORCHs.
        slot: usize,
        /// What it proposes.
        proposals: Vec<Proposal>,
    },
    /// A fan-out finished (all ORCHs done, deadline passed, or cancelled).
    BatchFinished {
        /// The fan-out.
        batch: BatchId,
        /// ORCHs that produced proposals.
        succeeded: usize,
        /// ORCHs that did not.
        failed: usize,
    },
    /// The emergency protocol started.
    EmergencyDeclared {
        /// Every trigger that held.
        reasons: Vec<EmergencyReason>,
    },
    /// The coordinated recovery attempt of an emergency ran.
    RecoveryAttempted {
        /// Escalated members that were resumed.
        resumed: Vec<MemberId>,
    },
    /// The emergency snapshot of the hive state is on disk.
    SnapshotWritten {
        /// Where.
        path: PathBuf,
    },
    /// The emergency is over.
    EmergencyCleared {
        /// Consecutive healthy evaluations that cleared it.
        healthy_evaluations: u32,
    },
    /// The queen finished its graceful shutdown.
    HiveStopped,
}

/// One member of [`HiveEvent::FleetStarted`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartedMember {
    /// The member.
    pub member: MemberId,
    /// Its kind.
    pub kind: MemberKind,
}

impl HiveEvent {
    /// The member an event is about, if it is about one (`FleetStarted` is about many: see its `members`).
    pub fn member(&self) -> Option<&MemberId> {
        match self {
            HiveEvent::MemberStarted { member, .. }
            | HiveEvent::MemberFailed { member, .. }
            | HiveEvent::MemberRestarted { member, .. }
            | HiveEvent::MemberEscalated { member, .. }
            | HiveEvent::MemberResumed { member }
            | HiveEvent::MemberStopped { member, .. }
            | HiveEvent::HealthReported { member, .. }
            | HiveEvent::HealthUnknown { member, .. }
            | HiveEvent::RefreshRequested { member }
            | HiveEvent::SignalRaised { member, .. } => Some(member),
            _ => None,
        }
    }
}
