//! THINK: what to do about a failure is proposed by a proposal engine (the rules, or a language model), either
//! called directly or through the queen's ORCH fan-out; the steward then carries the proposals out under governance.
//! A planner that fails falls back to the rules, so a broken engine never stops the loop.

use std::sync::Arc;

use hive_cerebrum::{
    BatchId, EngineError, OrchError, OrchOutcome, Proposal, ProposalEngine, QueenError, QueenHandle, RuleEngine, Seed,
};
use hive_forge::{CiFailure, RepoSnapshot};

/// Where proposals come from.
#[async_trait::async_trait]
pub trait Planner: Send + Sync + std::fmt::Debug {
    /// The proposals for a seed: what to do, and how risky the engine says it is. The steward carries the actions
    /// out; an engine's risk can raise a write's risk for governance, never lower it.
    async fn plan(&self, seed: Seed) -> Result<Vec<Proposal>, PlanError>;
}

/// Why a planner proposed nothing; the steward then lets the rules decide and reports the error's chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The engine called in place failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The queen could not fan out ORCHs (it is not running).
    #[error(transparent)]
    Queen(#[from] QueenError),
    /// The fan-out ended without a proposal: every ORCH failed, timed out or was cancelled, or proposed nothing.
    #[error("no ORCH of {batch} proposed anything")]
    NothingProposed {
        /// The fan-out.
        batch: BatchId,
        /// The first failed ORCH's last error, if one failed (rather than timed out or proposed nothing).
        #[source]
        error: Option<OrchError>,
    },
}

/// A proposal engine called in place (the default, with [`RuleEngine`]).
#[derive(Clone)]
pub struct EnginePlanner(pub Arc<dyn ProposalEngine>);

impl std::fmt::Debug for EnginePlanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("EnginePlanner").field(&self.0.name()).finish()
    }
}

impl Default for EnginePlanner {
    fn default() -> EnginePlanner {
        EnginePlanner(Arc::new(RuleEngine))
    }
}

#[async_trait::async_trait]
impl Planner for EnginePlanner {
    async fn plan(&self, seed: Seed) -> Result<Vec<Proposal>, PlanError> {
        Ok(self.0.propose(&seed).await?)
    }
}

/// Proposals from `orchs` ORCH actors fanned out by the queen (with its timeouts, retries and deadline).
#[derive(Debug, Clone)]
pub struct OrchPlanner {
    /// The queen that spawns the ORCHs.
    pub queen: QueenHandle,
    /// ORCHs per seed.
    pub orchs: usize,
}

#[async_trait::async_trait]
impl Planner for OrchPlanner {
    async fn plan(&self, seed: Seed) -> Result<Vec<Proposal>, PlanError> {
        let batch = self.queen.propose(seed, self.orchs.max(1))?;
        let report = batch.outcome().await?;
        // One proposal per action, at the highest risk any ORCH gave it.
        let mut actions: Vec<Proposal> = Vec::new();
        for proposal in report.proposals() {
            match actions.iter_mut().find(|p| p.action == proposal.action) {
                Some(same) => same.risk = same.risk.max(proposal.risk),
                None => actions.push(proposal.clone()),
            }
        }
        if actions.is_empty() {
            let error = report.outcomes.into_iter().find_map(|outcome| match outcome {
                OrchOutcome::Failed { error, .. } => Some(error),
                _ => None,
            });
            return Err(PlanError::NothingProposed { batch: report.batch, error });
        }
        Ok(actions)
    }
}

/// The seed of a CI failure, as a pilot raises it (with the run attempt that failed).
pub(crate) fn seed_of(snapshot: &RepoSnapshot, failure: &CiFailure) -> Seed {
    Seed::new(snapshot.repo.as_str(), crate::bridge::ci_signal(failure))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_error_messages() {
        let check = |error: PlanError, expected: &str| assert_eq!(hive_support::error_chain(&error), expected);
        let engine = || EngineError { engine: "llm".to_owned(), message: "quota exceeded".to_owned() };
        check(PlanError::Engine(engine()), "proposal engine 'llm' failed: quota exceeded");
        check(PlanError::Queen(QueenError::NotRunning), "the queen is not running; start the hive again");
        check(
            PlanError::NothingProposed { batch: BatchId(7), error: Some(OrchError::Engine(engine())) },
            "no ORCH of batch-7 proposed anything: proposal engine 'llm' failed: quota exceeded",
        );
        check(PlanError::NothingProposed { batch: BatchId(7), error: None }, "no ORCH of batch-7 proposed anything");
    }
}
