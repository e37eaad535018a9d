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

use crate::{
    CiClass, CiSignature, MemberId, MissingKind, QueenMessage, QueenRef, Risk, Severity, Signal, SignalKind,
    governance::ActionKind,
};

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

/// The deterministic rule engine, hive's default: the same seed always gives the same proposals, each with its risk
/// on governance's scale and a rationale that says why. Titles are deterministic too (the member, the signature, a
/// number), since they name issues and write keys.
///
/// | signal | proposals (action, risk) |
/// |---|---|
/// | CI `infrastructure`, first attempt or attempt unknown | `rerun_jobs` (low) |
/// | CI `infrastructure`, a re-run failed too (attempt 2 or more) | `open_issue` (low) |
/// | CI `lint` | `open_pull_request`, the formatter's fix (low); `open_issue` (low) |
/// | CI `dependency` | `open_issue` (low), naming the lockfile refresh or bump that fixes it |
/// | CI `test`, `build`, `deploy` | `open_issue` (low) |
/// | security alert | `open_issue` (risk of its severity); `escalate_to_human` too from high |
/// | critical issue | `escalate_to_human` (risk of its severity) |
/// | no security policy, no CI workflow | `open_issue` (low) describing the pull request that adds it |
/// | no license | `open_issue` (low) describing it; `escalate_to_human` (medium): the license is the owners' choice |
/// | synced files drifted from their source | `open_issue` (low) naming `hive sync push`; `escalate_to_human` (medium) for a conflict |
/// | other | `open_issue` (low) |
///
/// A risk that follows from how bad the matter is comes from [`Risk::from`] of the signal's severity, the one
/// severity mapping; a CI failure's writes are mechanical and low whatever the failure.
///
/// The autonomy loop plans with it for CI failures only, and carries out every write it proposes for them: a
/// re-run, the failure's issue, and the formatter's fix pull request for lint (the only pull request the loop makes;
/// a dependency failure's fix is therefore described in its issue, not opened). The other plans answer
/// [`QueenHandle::propose`](crate::QueenHandle::propose) and the `propose` command; the pull requests they describe
/// are proposals for a maintainer.
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

/// One rule's proposal.
fn proposal(action: impl Into<ProposedAction>, risk: Risk, title: String, rationale: String) -> Proposal {
    Proposal { action: action.into(), title, rationale, risk, engine: "rules".to_owned() }
}

fn rules(seed: &Seed) -> Vec<Proposal> {
    use ActionKind::OpenIssue;
    use ProposedAction::EscalateToHuman;
    let member = &seed.member;
    let signal = &seed.signal;
    // What follows from how bad the matter is: the one severity-to-risk mapping.
    let severity_risk = Risk::from(signal.severity);
    match &signal.kind {
        SignalKind::CiFailure { signature, attempt } => ci_rules(member, signature, *attempt),
        SignalKind::SecurityAlert => {
            let mut out = vec![proposal(
                OpenIssue,
                severity_risk,
                format!("security: {}", signal.title),
                format!(
                    "a {} advisory is open; an issue about it is as risky as the advisory is bad, since it can \
                     disclose a vulnerability before it is fixed",
                    signal.severity.as_str()
                ),
            )];
            if signal.severity >= Severity::High {
                out.push(proposal(
                    EscalateToHuman,
                    severity_risk,
                    format!("{} advisory in {member}", signal.severity.as_str()),
                    "fixing a vulnerability (a bump, a patch, an advisory of one's own) is a human's call".to_owned(),
                ));
            }
            out
        }
        SignalKind::CriticalIssue { number } => vec![proposal(
            EscalateToHuman,
            severity_risk,
            format!("triage #{number} in {member}"),
            "an open issue reads as critical (security, crash, data loss): a human must triage it".to_owned(),
        )],
        SignalKind::MissingFile { what } => missing_rules(member, *what, severity_risk),
        SignalKind::SyncDrift { source, behind, conflicts } => {
            let mut out = vec![proposal(
                OpenIssue,
                Risk::Low,
                format!("bring {member}'s synced files in step with {source}"),
                format!(
                    "{behind} file(s) are behind or missing from {source}: 'hive sync push' brings them along as a \
                     change set (or 'continuous = true' does it every cycle)"
                ),
            )];
            if *conflicts > 0 {
                out.push(proposal(
                    EscalateToHuman,
                    severity_risk,
                    format!("sync conflict in {member}"),
                    format!(
                        "{conflicts} file(s) changed both in {member} and in {source} since the last sync; which \
                         side wins is a person's call, and 'hive sync pull' proposes the repository's edit back"
                    ),
                ));
            }
            out
        }
        SignalKind::Other => vec![proposal(
            OpenIssue,
            Risk::Low,
            signal.title.clone(),
            "noticed by a member; no rule knows more about it".to_owned(),
        )],
    }
}

/// The plan for a CI failure: what the autonomy loop carries out (see [`RuleEngine`]).
fn ci_rules(member: &MemberId, signature: &CiSignature, attempt: Option<u32>) -> Vec<Proposal> {
    use ActionKind::{OpenIssue, OpenPullRequest, RerunJobs};
    let issue = |rationale: String| proposal(OpenIssue, Risk::Low, format!("CI failing: {signature}"), rationale);
    match signature.class {
        CiClass::Infrastructure => match attempt {
            Some(attempt) if attempt >= 2 => vec![issue(format!(
                "an infrastructure failure that failed again in attempt {attempt}, after {} re-run(s), is not \
                 transient: a human must look at the runner, the network or the time limit",
                attempt - 1
            ))],
            Some(_) => vec![proposal(
                RerunJobs,
                Risk::Low,
                format!("re-run failed jobs in {member}"),
                "an infrastructure failure (a lost runner, the network, a time-out) in its first attempt is \
                 usually transient: a re-run is the cheapest fix"
                    .to_owned(),
            )],
            None => vec![proposal(
                RerunJobs,
                Risk::Low,
                format!("re-run failed jobs in {member}"),
                "an infrastructure failure (a lost runner, the network, a time-out) is usually transient: a re-run \
                 is the cheapest fix; the signal carries no run attempt (its forge has no runs), so whether a re-run \
                 already failed is not known here"
                    .to_owned(),
            )],
        },
        CiClass::Lint => vec![
            proposal(
                OpenPullRequest,
                Risk::Low,
                format!("format {member}"),
                "a formatter fixes lint and format failures mechanically: the pull request holds its fix".to_owned(),
            ),
            issue("the failure must be visible while the fix waits for its checks".to_owned()),
        ],
        CiClass::Dependency => vec![proposal(
            OpenIssue,
            Risk::Low,
            format!("refresh the lockfile or bump the dependency: {signature}"),
            "dependencies did not resolve (a version that does not exist or conflicts, or a lockfile out of step \
             with its manifest): a pull request refreshing the lockfile or bumping the dependency fixes it; the \
             issue describes that pull request for a maintainer, since hive changes no dependencies itself"
                .to_owned(),
        )],
        CiClass::Test => {
            vec![issue("tests fail: the code or the tests need a change, which is a human's to make".to_owned())]
        }
        CiClass::Build => vec![issue("the code does not build: the fix is a human's to make".to_owned())],
        CiClass::Deploy => {
            vec![issue("a deployment failed: what shipped and what did not is for a human to check".to_owned())]
        }
    }
}

/// The plan for a missing file: an issue describing the pull request that would add it.
fn missing_rules(member: &MemberId, what: MissingKind, severity_risk: Risk) -> Vec<Proposal> {
    use ActionKind::OpenIssue;
    match what {
        MissingKind::SecurityPolicy => vec![proposal(
            OpenIssue,
            Risk::Low,
            format!("add a security policy (SECURITY.md) to {member}"),
            "nobody can tell how to report a vulnerability privately: a pull request adding SECURITY.md (supported \
             versions, a private channel such as GitHub's private vulnerability reporting) fixes it; the contact is \
             the maintainers' to name"
                .to_owned(),
        )],
        MissingKind::License => vec![
            proposal(
                OpenIssue,
                Risk::Low,
                format!("choose a license for {member}"),
                "without a license nobody may use, change or share the code: a pull request adding LICENSE fixes \
                 it, once the owners chose which"
                    .to_owned(),
            ),
            proposal(
                ProposedAction::EscalateToHuman,
                severity_risk,
                format!("license for {member}"),
                "which license applies is the owners' legal choice; hive does not pick one".to_owned(),
            ),
        ],
        MissingKind::CiWorkflow => vec![proposal(
            OpenIssue,
            Risk::Low,
            format!("add a CI workflow to {member}"),
            "nothing checks a change before it lands: a pull request adding .github/workflows/ci.yml that runs the \
             build system's tests on every push and pull request fixes it"
                .to_owned(),
        )],
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

    /// One proposal of a plan as the table states it: action, risk, title.
    type Planned<'a> = (ProposedAction, Risk, &'a str);

    #[test]
    fn rule_table() {
        use ActionKind::{OpenIssue, OpenPullRequest, RerunJobs};
        use ProposedAction::{EscalateToHuman, Write};
        use Risk::{Critical, High, Low, Medium};
        let signature = |class| CiSignature::new("ci", "job", Some("step"), class);
        let ci = |class, attempt| Signal::ci_failure(signature(class)).in_attempt(attempt);
        let critical_issue =
            Signal { kind: SignalKind::CriticalIssue { number: 7 }, severity: Severity::Critical, title: "x".into() };
        let other = Signal { kind: SignalKind::Other, severity: Severity::Medium, title: "service down".into() };
        // Every class of signal, with the exact plan: (action, risk, title) in order.
        let table: Vec<(Signal, Vec<Planned<'_>>)> = vec![
            (ci(CiClass::Infrastructure, None), vec![(Write(RerunJobs), Low, "re-run failed jobs in acme/api")]),
            (ci(CiClass::Infrastructure, Some(1)), vec![(Write(RerunJobs), Low, "re-run failed jobs in acme/api")]),
            (
                ci(CiClass::Infrastructure, Some(2)),
                vec![(Write(OpenIssue), Low, "CI failing: ci/job/step/infrastructure")],
            ),
            (
                ci(CiClass::Lint, Some(1)),
                vec![
                    (Write(OpenPullRequest), Low, "format acme/api"),
                    (Write(OpenIssue), Low, "CI failing: ci/job/step/lint"),
                ],
            ),
            (
                ci(CiClass::Dependency, Some(1)),
                vec![(Write(OpenIssue), Low, "refresh the lockfile or bump the dependency: ci/job/step/dependency")],
            ),
            (ci(CiClass::Test, None), vec![(Write(OpenIssue), Low, "CI failing: ci/job/step/test")]),
            (ci(CiClass::Build, Some(3)), vec![(Write(OpenIssue), Low, "CI failing: ci/job/step/build")]),
            (ci(CiClass::Deploy, Some(1)), vec![(Write(OpenIssue), Low, "CI failing: ci/job/step/deploy")]),
            (
                Signal::security(Severity::Critical, "CVE-1"),
                vec![
                    (Write(OpenIssue), Critical, "security: CVE-1"),
                    (EscalateToHuman, Critical, "critical advisory in acme/api"),
                ],
            ),
            (
                Signal::security(Severity::High, "CVE-2"),
                vec![(Write(OpenIssue), High, "security: CVE-2"), (EscalateToHuman, High, "high advisory in acme/api")],
            ),
            (Signal::security(Severity::Medium, "CVE-3"), vec![(Write(OpenIssue), Medium, "security: CVE-3")]),
            (Signal::security(Severity::Low, "CVE-4"), vec![(Write(OpenIssue), Low, "security: CVE-4")]),
            (critical_issue, vec![(EscalateToHuman, Critical, "triage #7 in acme/api")]),
            (
                Signal::missing(MissingKind::SecurityPolicy),
                vec![(Write(OpenIssue), Low, "add a security policy (SECURITY.md) to acme/api")],
            ),
            (
                Signal::missing(MissingKind::License),
                vec![
                    (Write(OpenIssue), Low, "choose a license for acme/api"),
                    (EscalateToHuman, Medium, "license for acme/api"),
                ],
            ),
            (Signal::missing(MissingKind::CiWorkflow), vec![(Write(OpenIssue), Low, "add a CI workflow to acme/api")]),
            (
                Signal::sync_drift("acme/templates", 2, 0),
                vec![(Write(OpenIssue), Low, "bring acme/api's synced files in step with acme/templates")],
            ),
            (
                Signal::sync_drift("acme/templates", 0, 1),
                vec![
                    (Write(OpenIssue), Low, "bring acme/api's synced files in step with acme/templates"),
                    (EscalateToHuman, Medium, "sync conflict in acme/api"),
                ],
            ),
            (other, vec![(Write(OpenIssue), Low, "service down")]),
        ];
        for class in CiClass::ALL {
            assert!(table.iter().any(|(s, _)| s.ci_class() == Some(class)), "{class:?} has a row");
        }
        for what in MissingKind::ALL {
            assert!(table.iter().any(|(s, _)| s.kind == SignalKind::MissingFile { what }), "{what:?} has a row");
        }
        for (signal, expected) in table {
            let seed = Seed::new("acme/api", signal.clone());
            let got = rules(&seed);
            let plan: Vec<Planned<'_>> = got.iter().map(|p| (p.action, p.risk, p.title.as_str())).collect();
            assert_eq!(plan, expected, "{signal:?}");
            for proposal in &got {
                assert_eq!(proposal.engine, "rules");
                assert!(proposal.rationale.len() > 20, "a rationale that says why: {proposal:?}");
            }
            assert_eq!(rules(&seed), got, "the same seed, the same proposals: {signal:?}");
        }
    }

    #[test]
    fn a_risk_that_follows_from_severity_is_risk_from_severity() {
        // The escalation of an advisory, a critical issue and a missing license: the risk is the severity's.
        for severity in [Severity::Low, Severity::Medium, Severity::High, Severity::Critical] {
            for signal in [
                Signal::security(severity, "CVE"),
                Signal { kind: SignalKind::CriticalIssue { number: 1 }, severity, title: "x".into() },
                Signal { severity, ..Signal::missing(MissingKind::License) },
            ] {
                for p in rules(&Seed::new("acme/api", signal.clone())) {
                    if p.action == ProposedAction::EscalateToHuman {
                        assert_eq!(p.risk, Risk::from(severity), "{signal:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_infrastructure_rationale_says_what_the_seed_does_not_carry() {
        let unknown = Signal::ci_failure(CiSignature::new("ci", "t", None, CiClass::Infrastructure));
        let plan = rules(&Seed::new("acme/api", unknown.clone()));
        assert!(plan[0].rationale.contains("no run attempt"), "{plan:?}");
        let first = rules(&Seed::new("acme/api", unknown.in_attempt(Some(1))));
        assert!(!first[0].rationale.contains("no run attempt"), "{first:?}");
    }
}
