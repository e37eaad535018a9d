//! The brain of hive: the queen supervisor, ORCH fan-out, the typed event bus, supervision policy, fleet health,
//! the emergency protocol and durable memory (one SQLite database: the audit trail and the backlog ledger).
//!
//! cerebrum knows nothing about GitHub, git, processes or HTTP servers. Members (repository pilots, service keepers)
//! are built through a [`MemberBuilder`] that another crate implements, so the queen can start and restart them
//! without knowing what they are.
//!
//! # Vocabulary
//!
//! Every public type has one name; the ones that sound alike are different things:
//!
//! - [`RestartDecision`] ([`decide`]): what supervision does when a member exits (restart, escalate, stop).
//! - [`Proposal`]: what a [`ProposalEngine`] proposes for a [`Seed`] in an ORCH: a [`ProposedAction`], which is a
//!   write named by the same [`ActionKind`] governance decides on, or an escalation to a human.
//! - [`governance::WriteProposal`]: one concrete write the steward wants to make (kind, repository, idempotency
//!   key, target), and [`governance::WriteDecision`]: what [`governance::govern`] decided about it, recorded in the
//!   audit trail and in the bodies hive writes.
//! - [`Severity`]: how bad an observation (a [`Signal`]) is. [`Risk`]: how risky acting is, the one scale of
//!   proposals, writes and backlog items; `Risk::from(severity)` is the one mapping between them.
//!
//! ```
//! use std::sync::Arc;
//! use hive_cerebrum::{
//!     CiClass, CiSignature, EventBus, HiveEvent, Queen, QueenArgs, QueenConfig, RuleEngine, Seed, Signal,
//! };
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let bus = EventBus::new(1024);
//! let queen = Queen::start(QueenArgs::new(bus.clone(), QueenConfig::default())).await.unwrap();
//!
//! // Three ORCH actors each turn the same signal into proposals.
//! let failure = CiSignature::new("ci", "test", Some("cargo test"), CiClass::Test);
//! let seed = Seed::new("acme/api", Signal::ci_failure(failure));
//! let report = queen.propose(seed, 3).unwrap().outcome().await.unwrap();
//! assert_eq!(report.succeeded(), 3);
//!
//! queen.shutdown().await.unwrap();
//! # });
//! ```

mod analytics;
mod bus;
mod emergency;
mod error;
mod event;
mod fleet;
mod health;
mod member;
mod memory;
mod orch;
mod outage;
mod policy;
mod queen;
mod scribe;
mod signal;
mod snapshot;

pub mod governance;
pub mod quote;
mod redact;

pub use crate::{
    analytics::{AutonomyReport, CycleKind, CycleRecord},
    bus::{Envelope, EventBus, Subscription},
    emergency::{EmergencyConfig, EmergencyReason, FleetEmergency, FleetMember, LogSink, Notice, NotificationSink},
    error::QueenError,
    event::{HiveEvent, StartedMember},
    fleet::{FleetHealth, HealthLevel},
    governance::ActionKind,
    health::{HealthReport, ScoreComponent},
    member::{
        EmergencyFlag, MemberBuilder, MemberCommand, MemberContext, MemberHandle, MemberId, MemberKind, MemberSpec,
        MemberState, Posted, QueenNotice, Reporter, StartError, StartFailure,
    },
    memory::{
        AgentRow, Agents, Approval, Approvals, AuditBreak, AuditEntry, AuditRecord, AuditTrail, BACKLOG_FILE,
        BacklogExport, BacklogItem, ChangeLock, ChangeRow, Changes, DecisionCount, GENESIS_HASH, History, Identities,
        Identity, ItemKind, ItemStatus, Knowledge, Ledger, Memory, MemoryError, NewWrite, Note, Opened, PendingSync,
        Reservation, Risk, SearchHit, Settled, StorageFault, SyncLogEntry, SyncedFile, Syncs, Tally, ToolAssignment,
        ToolAssignments, WriteCount, WriteRow, WriteState, Writes,
    },
    orch::{
        BatchId, BatchReport, EngineError, OrchConfig, OrchError, OrchOutcome, Proposal, ProposalEngine,
        ProposedAction, RuleEngine, Seed,
    },
    outage::{Outage, Unreachable},
    policy::{Backoff, ExitKind, RestartDecision, RestartHistory, RestartPolicy, RestartType, decide},
    queen::{
        DEFAULT_REFRESH_WINDOW, DEFAULT_RESUME, HiveStatus, MemberStatus, ProposalBatch, Queen, QueenArgs, QueenConfig,
        QueenHandle, QueenMessage, QueenRef,
    },
    scribe::{Scribe, ScribeError, ScribeHandle, ScribeJob, ScribeMessage, ScribeState},
    signal::{CiClass, CiSignature, MissingKind, Severity, Signal, SignalKind},
    snapshot::write_atomic,
};

pub use crate::redact::{REDACTED, Redactor};
