//! Members of the hive: how the queen builds, addresses and hears from the actors it supervises.
//!
//! The queen never imports the actors it supervises. Another crate implements [`MemberBuilder`] (as ractor's
//! factory takes a `WorkerBuilder`) and hands back a [`MemberHandle`]: the actor's cell for supervision plus a way
//! to deliver the few commands every member understands.

use std::{fmt, sync::Arc};

use ractor::ActorCell;
use serde::{Deserialize, Serialize};

use crate::{HealthReport, QueenMessage, QueenRef, RestartPolicy, Unreachable};

/// A member's stable id (for a pilot, the repository's full name). It survives restarts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MemberId(Arc<str>);

impl MemberId {
    /// Wraps a name.
    pub fn new(name: impl AsRef<str>) -> MemberId {
        MemberId(Arc::from(name.as_ref()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for MemberId {
    fn from(s: &str) -> MemberId {
        MemberId::new(s)
    }
}

/// What kind of actor a member is; builders use it to pick what to spawn.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberKind {
    /// Watches one repository.
    Pilot,
    /// Keeps one service process running.
    Service,
    /// Anything else a builder knows how to start.
    Custom(String),
}

/// Everything the queen needs to supervise one member.
#[derive(Debug, Clone)]
pub struct MemberSpec {
    /// Stable id.
    pub id: MemberId,
    /// What to build.
    pub kind: MemberKind,
    /// How to restart it.
    pub policy: RestartPolicy,
}

impl MemberSpec {
    /// A pilot with the default (permanent) policy.
    pub fn pilot(id: impl AsRef<str>) -> MemberSpec {
        MemberSpec { id: MemberId::new(id), kind: MemberKind::Pilot, policy: RestartPolicy::default() }
    }

    /// The same spec with another policy.
    pub fn with_policy(mut self, policy: RestartPolicy) -> MemberSpec {
        self.policy = policy;
        self
    }
}

/// Where a member is in its life, as the queen sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberState {
    /// Being built.
    Starting,
    /// Running.
    Running,
    /// Failed; waiting for its backoff delay before a restart.
    Backoff,
    /// Failed too often; not restarted until resumed.
    Escalated,
    /// Exited and not to be restarted (temporary, or transient that ended normally), or removed.
    Stopped,
}

impl fmt::Display for MemberState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MemberState::Starting => "starting",
            MemberState::Running => "running",
            MemberState::Backoff => "in backoff",
            MemberState::Escalated => "escalated",
            MemberState::Stopped => "stopped",
        })
    }
}

/// Commands every member understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberCommand {
    /// Look at the world now and report for this orchestration cycle.
    Observe {
        /// The cycle to report for.
        cycle: u64,
    },
    /// Freeze mutating actions and poll faster.
    EnterEmergency,
    /// Back to normal operation.
    LeaveEmergency,
}

/// What a builder gets to build one incarnation of a member.
#[derive(Debug, Clone)]
pub struct MemberContext {
    /// The member's id.
    pub id: MemberId,
    /// What to build.
    pub kind: MemberKind,
    /// The cell to link the new actor to (the queen), so its exit reaches the queen's supervision.
    pub supervisor: ActorCell,
    /// Whether the hive is in emergency mode right now.
    pub emergency: bool,
    /// For reporting health back to the queen.
    pub reporter: Reporter,
}

/// A member's way to report health to the queen.
///
/// Reports go to the queen directly, not over the bus: supervision and emergency decisions never depend on an event
/// that an overloaded bus may drop.
#[derive(Debug, Clone)]
pub struct Reporter {
    pub(crate) queen: QueenRef,
    pub(crate) member: MemberId,
}

impl Reporter {
    /// Sends a health report. Returns `false` when the queen is gone.
    pub fn report(&self, mut report: HealthReport) -> bool {
        report.member = self.member.clone();
        self.queen.cast(QueenMessage::Report(report)).is_ok()
    }

    /// Says that the member could not read its subject this time because `source` was unreachable (a timeout, a
    /// 5xx, a rate limit): the queen keeps its last verdict, marked stale, and neither fails nor escalates it.
    /// Returns `false` when the queen is gone.
    pub fn unreachable(&self, cycle: Option<u64>, source: &str, reason: String) -> bool {
        let report = Unreachable { member: self.member.clone(), cycle, source: source.to_owned(), reason };
        self.queen.cast(QueenMessage::Unreachable(report)).is_ok()
    }

    /// The member this reporter speaks for.
    pub fn member(&self) -> &MemberId {
        &self.member
    }
}

/// A running member, as the builder hands it to the queen.
pub trait MemberHandle: Send + Sync + 'static {
    /// The actor's cell; it must be linked to [`MemberContext::supervisor`].
    fn cell(&self) -> &ActorCell;

    /// Delivers a command. Must not block; a command to a dead actor is dropped.
    fn command(&self, command: MemberCommand);
}

/// Why a member could not be built. A panic in an actor's `pre_start` arrives here, not as a supervision event.
#[derive(Debug, Clone, thiserror::Error)]
#[error("could not start member '{member}': {message}")]
pub struct StartError {
    /// The member.
    pub member: MemberId,
    /// What went wrong.
    pub message: String,
}

/// Builds members for the queen.
#[async_trait::async_trait]
pub trait MemberBuilder: Send + Sync + 'static {
    /// Spawns one incarnation of a member, linked to `ctx.supervisor`.
    async fn start(&self, ctx: MemberContext) -> Result<Box<dyn MemberHandle>, StartError>;
}

/// A builder that knows no members; a queen that only fans out ORCHs needs nothing more.
pub(crate) struct NoMembers;

#[async_trait::async_trait]
impl MemberBuilder for NoMembers {
    async fn start(&self, ctx: MemberContext) -> Result<Box<dyn MemberHandle>, StartError> {
        Err(StartError { member: ctx.id, message: "this hive was started without a member builder".to_owned() })
    }
}
