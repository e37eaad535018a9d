//! Errors returned by the queen's handle.

use crate::MemberId;

/// An error from a [`QueenHandle`](crate::QueenHandle) call.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum QueenError {
    /// The queen is not running any more (shut down or crashed).
    #[error("the queen is not running; start the hive again")]
    NotRunning,
    /// The queen actor could not be spawned.
    #[error("could not start the queen: {0}")]
    Spawn(String),
    /// No member has this id.
    #[error("no member named '{0}'; `hive status` lists the members")]
    UnknownMember(MemberId),
    /// A member with this id already exists.
    #[error("a member named '{0}' already exists; pick another id or remove it first")]
    DuplicateMember(MemberId),
    /// The operation needs the member in another state.
    #[error("member '{member}' is {state}, not escalated; only escalated members can be resumed")]
    NotEscalated {
        /// The member.
        member: MemberId,
        /// Its current state.
        state: String,
    },
    /// `propose` was called with zero ORCHs.
    #[error("propose needs at least one ORCH, got n = 0")]
    NoOrchs,
}
