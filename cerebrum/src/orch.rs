//! ORCH actors: each turns one seed (a signal in a member) into proposals through a [`ProposalEngine`]. The queen
//! fans them out N at a time (see `queen/batch.rs`); this file holds the actor, the engine trait and the rule
//! engine.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde::{Deserialize, Serialize};

use crate::{CiClass, MemberId, QueenMessage, QueenRef, Risk, Severity, Signal, SignalKind, governance::ActionKind};

/// What to think about: a signal in a member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seed {
    /// Where the signal was raised.
    pub member: MemberId,
    /// The signal.
    pub signal: Signal,
}

impl Seed {
    /// A seed for a member's signal.
    pub fn new(member: impl AsRef<str>, signal: Signal) -> Seed {
        Seed { member: MemberId::new(member), signal }
    }
}

/// What an engine proposes: a write, in the very [`ActionKind`] vocabulary governance decides on, or handing the
/// matter to a human.
///
/// A write needs no translation to be governed: [`ProposedAction::write`] is the one, total mapping, and it is the
/// identity on writes. Serialised, a write is its kind's name (`"open_issue"`, `"rerun_jobs"`,
/// `"open_pull_request"`, ...) and the escalation `"escalate_to_human"`.
///
/// ```
/// use hive_cerebrum::{ActionKind, ProposedAction};
///
/// assert_eq!(ProposedAction::from(ActionKind::RerunJobs).write(), Some(ActionKind::RerunJobs));
/// assert_eq!(ProposedAction::EscalateToHuman.write(), None);
/// assert_eq!(serde_json::to_string(&ProposedAction::Write(ActionKind::OpenIssue)).unwrap(), "\"open_issue\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposedAction {
    /// Ask a human: no write of its own; what it becomes (a label, a mention) is the steward's to decide, under
    /// governance like every write.
    EscalateToHuman,
    /// Make this write, if governance allows it.
    #[serde(untagged)]
    Write(ActionKind),
}

impl ProposedAction {
    /// The write governance decides on, or `None` for an escalation to a human.
    pub fn write(self) -> Option<ActionKind> {
        match self {
            Self::Write(kind) => Some(kind),
            Self::EscalateToHuman => None,
        }
    }
}

impl From<ActionKind> for ProposedAction {
    fn from(kind: ActionKind) -> ProposedAction {
        ProposedAction::Write(kind)
    }
}

/// One proposal from an engine (the ORCH side; the steward's write, once it knows the repository, key and target,
/// is a [`WriteProposal`](crate::governance::WriteProposal)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// What to do.
    pub action: ProposedAction,
    /// One line for humans.
    pub title: String,
    /// Why.
    pub rationale: String,
    /// How risky the action is, on the scale governance uses.
    pub risk: Risk,
    /// Which engine proposed it.
    pub engine: String,
}

/// Why an engine produced no proposals, in the engine's own words.
///
/// The message stays text: engines live outside this crate (a language model behind HTTP, say) and their
/// failures travel in [`OrchOutcome`]s, which are cloned, compared and serialised; an engine that wants its cause
/// kept puts the cause's chain ([`hive_support::error_chain`]) into `message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("proposal engine '{engine}' failed: {message}")]
pub struct EngineError {
    /// The engine.
    pub engine: String,
    /// What went wrong.
    pub message: String,
}

/// Why one ORCH attempt produced no proposals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
#[non_exhaustive]
pub enum OrchError {
    /// The engine answered with an error.
    #[error(transparent)]
    Engine(EngineError),
    /// The engine did not answer within the ORCH's time limit ([`OrchConfig::timeout`]).
    #[error("proposal engine '{engine}' timed out after {timeout:?}")]
    TimedOut {
        /// The engine.
        engine: String,
        /// The time limit.
        timeout: Duration,
    },
    /// The ORCH's actor panicked (in the engine, usually); `message` is ractor's text of the panic.
    #[error("ORCH panicked: {message}")]
    Panicked {
        /// What ractor reports.
        message: String,
    },
    /// The ORCH's actor stopped without answering.
    #[error("ORCH stopped without answering")]
    Stopped,
    /// The ORCH's actor could not be spawned; `reason` is ractor's text.
    #[error("could not start ORCH: {reason}")]
    Spawn {
        /// What ractor reports.
        reason: String,
    },
}

/// Turns a seed into proposals: deterministic rules, or a language model behind an HTTP endpoint.
#[async_trait::async_trait]
pub trait ProposalEngine: Send + Sync + 'static {
    /// A short name for records.
    fn name(&self) -> &str;

    /// Proposes actions for one seed.
    async fn propose(&self, seed: &Seed) -> Result<Vec<Proposal>, EngineError>;
}

/// The deterministic rule engine: the same seed always gives the same proposals.
///
/// | signal | proposals |
/// |---|---|
/// | CI failure, class `infrastructure` | `rerun_jobs` (low) |
/// | CI failure, class `lint` | `open_pull_request` with the fix (low), `open_issue` (low) |
/// | other CI failure | `open_issue` (low) |
/// | security alert, high or critical | `open_issue` (medium), `escalate_to_human` (high) when critical |
/// | security alert, lower | `open_issue` (low) |
/// | critical issue | `escalate_to_human` (medium) |
/// | other | `open_issue` (low) |
#[derive(Debug, Default, Clone, Copy)]
pub struct RuleEngine;

#[async_trait::async_trait]
impl ProposalEngine for RuleEngine {
    fn name(&self) -> &str {
        "rules"
    }

    async fn propose(&self, seed: &Seed) -> Result<Vec<Proposal>, EngineError> {
        Ok(rules(seed))
    }
}

fn rules(seed: &Seed) -> Vec<Proposal> {
    use ActionKind::{OpenIssue, OpenPullRequest, RerunJobs};
    use ProposedAction::EscalateToHuman;
    fn p(action: impl Into<ProposedAction>, risk: Risk, title: String, rationale: &str) -> Proposal {
        Proposal { action: action.into(), title, rationale: rationale.to_owned(), risk, engine: "rules".to_owned() }
    }
    let member = &seed.member;
    let signal = &seed.signal;
    match &signal.kind {
        SignalKind::CiFailure { signature } => match signature.class {
            CiClass::Infrastructure => vec![p(
                RerunJobs,
                Risk::Low,
                format!("re-run failed jobs in {member}"),
                "infrastructure failures are usually transient",
            )],
            CiClass::Lint => vec![
                p(
                    OpenPullRequest,
                    Risk::Low,
                    format!("format {member}"),
                    "a formatter fixes lint failures mechanically",
                ),
                p(OpenIssue, Risk::Low, format!("CI failing: {signature}"), "the failure must be visible"),
            ],
            CiClass::Test | CiClass::Build | CiClass::Deploy => {
                vec![p(OpenIssue, Risk::Low, format!("CI failing: {signature}"), "the failure needs a human fix")]
            }
        },
        SignalKind::SecurityAlert if signal.severity >= Severity::High => {
            let mut out =
                vec![p(OpenIssue, Risk::Medium, format!("security: {}", signal.title), "a serious advisory is open")];
            if signal.severity == Severity::Critical {
                out.push(p(EscalateToHuman, Risk::High, format!("critical advisory in {member}"), "critical"));
            }
            out
        }
        SignalKind::SecurityAlert => {
            vec![p(OpenIssue, Risk::Low, format!("security: {}", signal.title), "a minor advisory is open")]
        }
        SignalKind::CriticalIssue { number } => {
            vec![p(EscalateToHuman, Risk::Medium, format!("triage #{number} in {member}"), "critical issue open")]
        }
        SignalKind::Other => vec![p(OpenIssue, Risk::Low, signal.title.clone(), "noticed by a pilot")],
    }
}

/// Limits of one fan-out.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OrchConfig {
    /// Each ORCH's own time limit for one engine call.
    pub timeout: Duration,
    /// How many times a failed, panicked or timed-out ORCH is started again with the same seed.
    pub retries: u32,
    /// The whole fan-out's deadline; what has not finished by then is reported as timed out.
    pub deadline: Duration,
}

impl Default for OrchConfig {
    fn default() -> OrchConfig {
        OrchConfig { timeout: Duration::from_secs(30), retries: 2, deadline: Duration::from_secs(120) }
    }
}

/// Identifies one fan-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BatchId(pub u64);

impl BatchId {
    pub(crate) fn next() -> BatchId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        BatchId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl std::fmt::Display for BatchId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "batch-{}", self.0)
    }
}

/// How one ORCH of a fan-out ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum OrchOutcome {
    /// It produced proposals.
    Proposed {
        /// The proposals.
        proposals: Vec<Proposal>,
        /// Attempts it took (1 = first try).
        attempts: u32,
    },
    /// Every attempt failed, panicked or timed out.
    Failed {
        /// The last attempt's error.
        error: OrchError,
        /// Attempts made.
        attempts: u32,
    },
    /// The fan-out's deadline passed first.
    TimedOut,
    /// The caller cancelled the fan-out first.
    Cancelled,
}

/// Everything a fan-out produced, one outcome per ORCH, in slot order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchReport {
    /// The fan-out.
    pub batch: BatchId,
    /// The seed.
    pub seed: Seed,
    /// One per ORCH.
    pub outcomes: Vec<OrchOutcome>,
}

impl BatchReport {
    /// ORCHs that produced proposals.
    pub fn succeeded(&self) -> usize {
        self.outcomes.iter().filter(|o| matches!(o, OrchOutcome::Proposed { .. })).count()
    }

    /// Every proposal, in slot order.
    pub fn proposals(&self) -> impl Iterator<Item = &Proposal> {
        self.outcomes.iter().flat_map(|o| match o {
            OrchOutcome::Proposed { proposals, .. } => proposals.as_slice(),
            _ => &[],
        })
    }
}

/// One ORCH actor.
pub(crate) struct Orch;

pub(crate) struct OrchArgs {
    pub(crate) batch: BatchId,
    pub(crate) slot: usize,
    pub(crate) attempt: u32,
    pub(crate) seed: Seed,
    pub(crate) engine: Arc<dyn ProposalEngine>,
    pub(crate) timeout: Duration,
    pub(crate) queen: QueenRef,
}

/// The ORCH's only message: run the engine once and answer the queen.
pub(crate) enum OrchMessage {
    Run,
}

impl Actor for Orch {
    type Msg = OrchMessage;
    type State = OrchArgs;
    type Arguments = OrchArgs;

    async fn pre_start(&self, _myself: ActorRef<OrchMessage>, args: OrchArgs) -> Result<OrchArgs, ActorProcessingErr> {
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<OrchMessage>,
        OrchMessage::Run: OrchMessage,
        state: &mut OrchArgs,
    ) -> Result<(), ActorProcessingErr> {
        // The ORCH answers and then waits to be stopped by the queen: it never exits on its own, so its
        // supervision event can never overtake its answer. A panic in the engine fails the actor instead.
        let result = match tokio::time::timeout(state.timeout, state.engine.propose(&state.seed)).await {
            Ok(Ok(proposals)) => Ok(proposals),
            Ok(Err(e)) => Err(OrchError::Engine(e)),
            Err(_) => Err(OrchError::TimedOut { engine: state.engine.name().to_owned(), timeout: state.timeout }),
        };
        let _ = state.queen.cast(QueenMessage::OrchFinished {
            batch: state.batch,
            slot: state.slot,
            attempt: state.attempt,
            result,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CiSignature;

    fn check(signal: Signal, expected: &[ProposedAction]) {
        let got: Vec<_> = rules(&Seed::new("acme/api", signal.clone())).into_iter().map(|p| p.action).collect();
        assert_eq!(got, expected, "{signal:?}");
    }

    #[test]
    fn orch_error_messages() {
        let check = |error: OrchError, expected: &str| assert_eq!(hive_support::error_chain(&error), expected);
        check(
            OrchError::Engine(EngineError {
                engine: "llm".to_owned(),
                message: "HTTP 503 from 'llm.local'".to_owned(),
            }),
            "proposal engine 'llm' failed: HTTP 503 from 'llm.local'",
        );
        check(
            OrchError::TimedOut { engine: "llm".to_owned(), timeout: Duration::from_secs(30) },
            "proposal engine 'llm' timed out after 30s",
        );
        check(OrchError::Panicked { message: "index out of bounds".to_owned() }, "ORCH panicked: index out of bounds");
        check(OrchError::Stopped, "ORCH stopped without answering");
        check(
            OrchError::Spawn { reason: "Actor cannot be re-started more than once".to_owned() },
            "could not start ORCH: Actor cannot be re-started more than once",
        );
    }

    #[test]
    fn a_failed_outcome_keeps_its_typed_error_through_serde() {
        let outcome = OrchOutcome::Failed {
            error: OrchError::Engine(EngineError { engine: "llm".to_owned(), message: "quota".to_owned() }),
            attempts: 3,
        };
        let json = serde_json::to_value(&outcome).expect("serialise");
        assert_eq!(json["error"]["error"], "engine", "{json}");
        assert_eq!(serde_json::from_value::<OrchOutcome>(json).expect("deserialise"), outcome);
    }

    #[test]
    fn a_proposed_write_is_governance_s_own_kind_under_its_recorded_name() {
        // Every write kind, and the escalation: the mapping to governance and the serialised name.
        let mut table: Vec<(ProposedAction, Option<ActionKind>, String)> =
            ActionKind::ALL.iter().map(|&kind| (kind.into(), Some(kind), kind.as_str().to_owned())).collect();
        table.push((ProposedAction::EscalateToHuman, None, "escalate_to_human".to_owned()));
        for (action, write, name) in table {
            assert_eq!(action.write(), write, "{action:?}");
            let json = serde_json::to_string(&action).expect("an action serializes");
            assert_eq!(json, format!("\"{name}\""), "{action:?}");
            assert_eq!(serde_json::from_str::<ProposedAction>(&json).expect("and reads back"), action);
        }
        assert!(serde_json::from_str::<ProposedAction>("\"delete_repo\"").is_err(), "no action outside the vocabulary");
    }

    #[test]
    fn rule_table() {
        use ActionKind::{OpenIssue, OpenPullRequest, RerunJobs};
        use ProposedAction::{EscalateToHuman, Write};
        let ci = |step, class| Signal::ci_failure(CiSignature::new("ci", "test", Some(step), class));
        check(ci("run", CiClass::Infrastructure), &[Write(RerunJobs)]);
        check(ci("fmt", CiClass::Lint), &[Write(OpenPullRequest), Write(OpenIssue)]);
        check(ci("run", CiClass::Test), &[Write(OpenIssue)]);
        check(Signal::security(Severity::Critical, "CVE"), &[Write(OpenIssue), EscalateToHuman]);
        check(Signal::security(Severity::High, "CVE"), &[Write(OpenIssue)]);
        check(Signal::security(Severity::Low, "CVE"), &[Write(OpenIssue)]);
        check(
            Signal { kind: SignalKind::CriticalIssue { number: 7 }, severity: Severity::Critical, title: "x".into() },
            &[EscalateToHuman],
        );
    }
}
