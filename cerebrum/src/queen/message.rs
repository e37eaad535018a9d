//! The queen's mailbox: the commands and RPCs it understands, and the internal messages its own timers and
//! ORCHs send it.

use ractor::RpcReplyPort;
use tokio::sync::oneshot;

use super::HiveStatus;
use crate::{
    BatchId, BatchReport, EmergencyReason, HealthReport, MemberId, MemberSpec, OrchError, Posted, Proposal, QueenError,
    Seed, Unreachable,
};

/// Messages the queen understands. Commands are imperatives; RPCs end with their reply port.
#[non_exhaustive]
pub enum QueenMessage {
    /// Supervise a new member and start it.
    AddMember(MemberSpec, RpcReplyPort<Result<(), QueenError>>),
    /// Stop a member and forget it.
    RemoveMember(MemberId, RpcReplyPort<Result<(), QueenError>>),
    /// Start an escalated member again, with a fresh restart window.
    Resume(MemberId, RpcReplyPort<Result<(), QueenError>>),
    /// The hive's state.
    Status(RpcReplyPort<HiveStatus>),
    /// One member's latest health report (with its signals and the breakdown of its score), if it has reported.
    MemberReport(MemberId, RpcReplyPort<Option<HealthReport>>),
    /// Start an orchestration cycle now.
    StartCycle,
    /// Ask one running member to observe soon, outside the cycle's rhythm (an event said its subject changed): it is
    /// read in the next refresh cycle.
    ObserveNow(MemberId, RpcReplyPort<Result<(), QueenError>>),
    /// A member's health report that repeats its verdict (sent by its [`Reporter`]).
    Report(Posted<HealthReport>),
    /// A member could not read its subject because its source was unreachable (sent by its [`Reporter`]).
    Unreachable(Posted<Unreachable>),
    /// A report that changes its member's verdict is waiting on the queen's lane for changes (sent by its
    /// [`Reporter`]). The queen empties that lane before every message it handles; this one wakes it.
    Changed,
    /// Fan out `n` ORCHs on a seed; the report goes to `reply`.
    Propose {
        /// The fan-out's id.
        batch: BatchId,
        /// What to think about.
        seed: Seed,
        /// How many ORCHs.
        n: usize,
        /// Where the report goes.
        reply: oneshot::Sender<BatchReport>,
    },
    /// Cancel a fan-out; what finished is kept.
    CancelBatch(BatchId),
    /// Stop every member in reverse start order, draining their queues, then stop.
    Shutdown(RpcReplyPort<()>),
    /// Declare an emergency by hand; it holds until cleared by hand.
    DeclareEmergency {
        /// Who declares it.
        by: String,
    },
    /// Withdraw a hand-made declaration: the emergency clears at once unless other triggers hold.
    ClearEmergency,
    /// Impose causes decided elsewhere (a cluster's leader, over the whole fleet), which hold until replaced; empty
    /// lifts them, and the emergency clears at once unless other triggers hold.
    ImposeEmergency(Vec<EmergencyReason>),
    /// Internal: resume an escalated member as part of an emergency's recovery attempt.
    #[doc(hidden)]
    Recover(MemberId),
    /// Internal: the cycle timer fired.
    #[doc(hidden)]
    CycleTick,
    /// Internal: the refresh window is over; start a refresh cycle for the members named in it.
    #[doc(hidden)]
    RefreshDue,
    /// Internal: an escalated member's quiet period is over; resume it unless it was resumed or removed meanwhile.
    #[doc(hidden)]
    ResumeDue {
        /// The member.
        member: MemberId,
        /// The incarnation that escalated.
        generation: u64,
    },
    /// Internal: a member's backoff delay is over.
    #[doc(hidden)]
    RestartDue {
        /// The member.
        member: MemberId,
        /// The incarnation that failed.
        generation: u64,
    },
    /// Internal: a fan-out's deadline passed.
    #[doc(hidden)]
    BatchDeadline(BatchId),
    /// Internal: an ORCH's answer.
    #[doc(hidden)]
    OrchFinished {
        /// Its fan-out.
        batch: BatchId,
        /// Its slot.
        slot: usize,
        /// Its attempt number.
        attempt: u32,
        /// The proposals or the error.
        result: Result<Vec<Proposal>, OrchError>,
    },
}
