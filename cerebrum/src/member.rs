//! Members of the hive: how the queen builds, addresses and hears from the actors it supervises.
//!
//! The queen never imports the actors it supervises. Another crate implements [`MemberBuilder`] (as ractor's
//! factory takes a `WorkerBuilder`) and hands back a [`MemberHandle`]: the actor's cell for supervision plus a way
//! to deliver the few commands every member understands.

mod flag;
mod lane;

use std::{fmt, sync::Arc};

use ractor::ActorCell;
use serde::{Deserialize, Serialize};

pub use self::{flag::EmergencyFlag, lane::Posted};
pub(crate) use self::{
    flag::EmergencySwitch,
    lane::{ChangeSender, Changes, Lane},
};
use crate::{
    CycleRecord, EmergencyReason, HealthReport, QueenHandle, QueenMessage, QueenRef, RestartPolicy, Unreachable,
};

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

impl fmt::Display for MemberKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemberKind::Pilot => f.write_str("pilot"),
            MemberKind::Service => f.write_str("service"),
            MemberKind::Custom(kind) => write!(f, "'{kind}'"),
        }
    }
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
    /// Whether it takes part in orchestration cycles: asked to observe, waited for, and counted in fleet health.
    /// A member that acts on what others observed (the steward) does not.
    pub observes: bool,
}

impl MemberSpec {
    /// A member of `kind` with the default (permanent) policy, taking part in cycles.
    pub fn new(id: impl AsRef<str>, kind: MemberKind) -> MemberSpec {
        MemberSpec { id: MemberId::new(id), kind, policy: RestartPolicy::default(), observes: true }
    }

    /// A pilot with the default (permanent) policy.
    pub fn pilot(id: impl AsRef<str>) -> MemberSpec {
        MemberSpec::new(id, MemberKind::Pilot)
    }

    /// The same spec, not taking part in cycles (see [`MemberSpec::observes`]).
    pub fn not_observing(mut self) -> MemberSpec {
        self.observes = false;
        self
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
    /// Freeze mutating actions and poll faster. Sent only to members whose handle does not
    /// [follow the emergency flag](MemberHandle::follows_emergency_flag).
    EnterEmergency,
    /// Back to normal operation (sent to the same members as `EnterEmergency`).
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
    /// The emergency as it changes from now on, shared with every member: what a member whose handle
    /// [follows it](MemberHandle::follows_emergency_flag) reads instead of being sent commands.
    pub emergency_flag: EmergencyFlag,
    /// For reporting health back to the queen.
    pub reporter: Reporter,
    /// The queen, for members that ask it for more than a report (an ORCH fan-out, its status, the bus).
    pub queen: QueenHandle,
}

/// What the queen tells every member's handle as it happens, synchronously, from its own handler: state that a member
/// acting on the fleet's behalf must never learn late or not at all (the bus may drop events for a slow reader).
///
/// A handle forwards what concerns its actor and ignores the rest; pilots ignore all of it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum QueenNotice {
    /// An orchestration cycle closed: every observing member answered or was counted as missed.
    CycleClosed {
        /// The cycle's analytics record, as the queen computed it.
        record: Arc<CycleRecord>,
    },
    /// The emergency state changed: declared, cleared, or in force for other causes than before. `reasons` is
    /// empty exactly when no emergency is in force.
    Emergency {
        /// The triggers that hold (the causes recovery may answer).
        reasons: Arc<[EmergencyReason]>,
    },
    /// A member left the hive (removed, or stopped for good): forget what it said.
    MemberLeft {
        /// The member.
        member: MemberId,
        /// The orchestration cycle in progress (or last) when it left: what it observed for this cycle or earlier
        /// is stale.
        cycle: u64,
    },
    /// The hive is shutting down: start nothing new, finish or drop what is under way.
    Stopping,
}

/// A member's way to report health to the queen.
///
/// Reports go to the queen directly, not over the bus: supervision and emergency decisions never depend on an event
/// that an overloaded bus may drop.
///
/// A report whose verdict (score, healthy, signals) differs from the one before goes ahead of everything waiting in
/// the queen's mailbox (a cycle's repeats among it), so a threshold crossing is seen at once even at the end of a
/// cycle's burst.
#[derive(Debug, Clone)]
pub struct Reporter {
    pub(crate) queen: QueenRef,
    pub(crate) member: MemberId,
    pub(crate) lane: Lane,
}

impl Reporter {
    /// Sends a health report. Returns `false` when the queen is gone.
    pub fn report(&self, mut report: HealthReport) -> bool {
        report.member = self.member.clone();
        let (posted, changed) = self.lane.number_report(report);
        if changed {
            // The lane holds the report; the message wakes a queen with an empty mailbox.
            self.lane.send_change(posted) && self.queen.cast(QueenMessage::Changed).is_ok()
        } else {
            self.queen.cast(QueenMessage::Report(posted)).is_ok()
        }
    }

    /// Says that the member could not read its subject this time because `source` was unreachable (a timeout, a
    /// 5xx, a rate limit): the queen keeps its last verdict, marked stale, and neither fails nor escalates it.
    /// Returns `false` when the queen is gone.
    pub fn unreachable(&self, cycle: Option<u64>, source: &str, reason: String) -> bool {
        let report = Unreachable { member: self.member.clone(), cycle, source: source.to_owned(), reason };
        self.queen.cast(QueenMessage::Unreachable(self.lane.number(report))).is_ok()
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

    /// Whether the member learns of the emergency from [`MemberContext::emergency_flag`], read when it next acts,
    /// instead of from `EnterEmergency` and `LeaveEmergency`, which the queen then does not send it. Pilots do: a
    /// command to each of thousands of them would wake them all at the moment of the declaration, on the cores
    /// that whoever reads `EmergencyDeclared` needs. `false` unless overridden: such a member is commanded as before.
    fn follows_emergency_flag(&self) -> bool {
        false
    }

    /// Hears a [`QueenNotice`]. Called from the queen's handler: must not block. Ignored unless overridden.
    fn notify(&self, notice: &QueenNotice) {
        let _ = notice;
    }
}

/// Why a member could not be built. A panic in an actor's `pre_start` arrives here, not as a supervision event.
///
/// Its message names the member; the reason is its [`source`](std::error::Error::source), a [`StartFailure`]:
/// [`hive_support::error_chain`] shows both, as `could not start member 'acme/api': <reason>`.
#[derive(Debug, thiserror::Error)]
#[error("could not start member '{member}'")]
pub struct StartError {
    /// The member.
    pub member: MemberId,
    /// What went wrong.
    #[source]
    pub cause: StartFailure,
}

impl StartError {
    /// `member` could not be started because of `cause`.
    pub fn new(member: MemberId, cause: StartFailure) -> StartError {
        StartError { member, cause }
    }
}

/// The reason a [`MemberBuilder`] could not start a member.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartFailure {
    /// A builder was asked for a kind of member it does not build.
    #[error("the {builder} builder cannot start a {kind} member")]
    WrongKind {
        /// What the builder builds.
        builder: MemberKind,
        /// What it was asked for.
        kind: MemberKind,
    },
    /// No builder of this hive builds this kind of member.
    #[error("this hive has no builder for {kind} members")]
    NoBuilder {
        /// The kind asked for.
        kind: MemberKind,
    },
    /// The builder knows no member by this id (a service that was never registered, say).
    #[error("no {kind} named '{id}' is registered")]
    NotRegistered {
        /// The kind asked for.
        kind: MemberKind,
        /// The id it does not know.
        id: MemberId,
    },
    /// The id is not valid for this kind (a pilot's id must be a repository's `owner/name`).
    #[error("'{id}' is not a valid {kind} id")]
    InvalidId {
        /// The kind whose ids it was checked against.
        kind: MemberKind,
        /// The id.
        id: MemberId,
        /// Why it is not valid, in the words of the id's own type.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The actor could not be spawned, or panicked in `pre_start`. Only ractor's text of its `SpawnErr` is kept:
    /// that text already quotes the panic, which is also its source, so chaining it would say the panic twice.
    #[error("could not spawn its actor: {reason}")]
    Spawn {
        /// ractor's words.
        reason: String,
    },
    /// A builder outside this crate failed in its own way.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl StartFailure {
    /// A spawn failure from ractor's `SpawnErr` (or anything else that is only text).
    pub fn spawn(error: impl fmt::Display) -> StartFailure {
        StartFailure::Spawn { reason: error.to_string() }
    }
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
        Err(StartError::new(ctx.id, StartFailure::NoBuilder { kind: ctx.kind }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An id type's own error, standing in for one from another crate (a pilot's `RepoIdError`).
    #[derive(Debug, thiserror::Error)]
    #[error("invalid repository name 'acme': expected 'owner/name'")]
    struct BadId;

    #[derive(Debug, thiserror::Error)]
    #[error("the image 'db:16' is not pulled")]
    struct NoImage;

    fn check(cause: StartFailure, expected: &str) {
        let error = StartError::new(MemberId::new("acme"), cause);
        assert_eq!(error.to_string(), "could not start member 'acme'");
        assert_eq!(hive_support::error_chain(&error), expected, "{error:?}");
    }

    #[test]
    fn start_failure_messages() {
        let custom = || MemberKind::Custom("agent".to_owned());
        check(
            StartFailure::WrongKind { builder: MemberKind::Pilot, kind: MemberKind::Service },
            "could not start member 'acme': the pilot builder cannot start a service member",
        );
        check(
            StartFailure::WrongKind { builder: MemberKind::Service, kind: custom() },
            "could not start member 'acme': the service builder cannot start a 'agent' member",
        );
        check(
            StartFailure::NoBuilder { kind: custom() },
            "could not start member 'acme': this hive has no builder for 'agent' members",
        );
        check(
            StartFailure::NotRegistered { kind: MemberKind::Service, id: MemberId::new("acme") },
            "could not start member 'acme': no service named 'acme' is registered",
        );
        check(
            StartFailure::InvalidId { kind: MemberKind::Pilot, id: MemberId::new("acme"), source: Box::new(BadId) },
            "could not start member 'acme': 'acme' is not a valid pilot id: invalid repository name 'acme': expected \
             'owner/name'",
        );
        check(
            StartFailure::spawn("Actor panicked during startup 'boom'"),
            "could not start member 'acme': could not spawn its actor: Actor panicked during startup 'boom'",
        );
        check(StartFailure::Other(Box::new(NoImage)), "could not start member 'acme': the image 'db:16' is not pulled");
    }

    #[test]
    fn the_typed_cause_is_the_source() {
        let error = StartError::new(MemberId::new("acme"), StartFailure::Other(Box::new(NoImage)));
        let source = std::error::Error::source(&error).expect("a source");
        // A caller gets the builder's own error back, typed.
        match source.downcast_ref::<StartFailure>() {
            Some(StartFailure::Other(own)) => assert!(own.downcast_ref::<NoImage>().is_some(), "{own:?}"),
            other => panic!("{other:?}"),
        }
    }
}
