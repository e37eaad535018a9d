//! THINK: what to do about a failure is proposed by a proposal engine (the rules, or a language model), either
//! called directly or through the queen's ORCH fan-out; the steward then carries the proposals out under governance.
//! A planner that fails falls back to the rules, so a broken engine never stops the loop.

use std::sync::Arc;

use hive_cerebrum::{ProposalEngine, ProposedAction, QueenHandle, RuleEngine, Seed, Signal};
use hive_ecosystem::{CiFailure, RepoSnapshot};

/// Where proposals come from.
#[async_trait::async_trait]
pub trait Planner: Send + Sync + std::fmt::Debug {
    /// The proposed actions for a seed.
    async fn plan(&self, seed: Seed) -> Result<Vec<ProposedAction>, String>;
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
    async fn plan(&self, seed: Seed) -> Result<Vec<ProposedAction>, String> {
        let proposals = self.0.propose(&seed).await.map_err(|err| err.to_string())?;
        Ok(proposals.into_iter().map(|p| p.action).collect())
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
    async fn plan(&self, seed: Seed) -> Result<Vec<ProposedAction>, String> {
        let batch = self.queen.propose(seed, self.orchs.max(1)).map_err(|err| err.to_string())?;
        let report = batch.outcome().await.map_err(|err| err.to_string())?;
        let mut actions: Vec<ProposedAction> = Vec::new();
        for proposal in report.proposals() {
            if !actions.contains(&proposal.action) {
                actions.push(proposal.action);
            }
        }
        if actions.is_empty() {
            return Err(format!("no ORCH of batch {} proposed anything", report.batch));
        }
        Ok(actions)
    }
}

/// The seed of a CI failure, as a pilot would raise it.
pub(crate) fn seed_of(snapshot: &RepoSnapshot, failure: &CiFailure) -> Seed {
    Seed::new(snapshot.repo.as_str(), Signal::ci_failure(crate::bridge::ci_signature(failure)))
}
