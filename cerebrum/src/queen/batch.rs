//! ORCH fan-out: the queen spawns n linked ORCHs on one seed, retries the ones that fail, panic or time out (same
//! seed, up to a retry budget), and answers the caller once every slot has an outcome, the deadline passes, or the
//! caller cancels. Successes are kept whatever happens to their siblings.

use ractor::{Actor, ActorCell, ActorId};
use tokio::{sync::oneshot, task::JoinHandle};

use super::{QueenMessage, QueenState};
use crate::{
    BatchId, BatchReport, ExitKind, HiveEvent, OrchError, OrchOutcome, Proposal, Seed,
    orch::{Orch, OrchArgs, OrchMessage},
};

pub(crate) struct Batch {
    seed: Seed,
    reply: Option<oneshot::Sender<BatchReport>>,
    outcomes: Vec<Option<OrchOutcome>>,
    attempts: Vec<u32>,
    live: Vec<Option<ActorCell>>,
    deadline: JoinHandle<()>,
}

impl QueenState {
    pub(super) async fn start_batch(&mut self, id: BatchId, seed: Seed, n: usize, reply: oneshot::Sender<BatchReport>) {
        let queen = self.myself.clone();
        let deadline_after = self.config.orch.deadline;
        let deadline = tokio::spawn(async move {
            tokio::time::sleep(deadline_after).await;
            let _ = queen.cast(QueenMessage::BatchDeadline(id));
        });
        self.batches.insert(
            id,
            Batch {
                seed,
                reply: Some(reply),
                outcomes: vec![None; n],
                attempts: vec![0; n],
                live: vec![None; n],
                deadline,
            },
        );
        for slot in 0..n {
            self.spawn_orch(id, slot).await;
        }
        self.maybe_finish_batch(id);
    }

    /// Starts (another attempt of) one slot.
    async fn spawn_orch(&mut self, id: BatchId, slot: usize) {
        let Some(batch) = self.batches.get_mut(&id) else { return };
        batch.attempts[slot] += 1;
        let args = OrchArgs {
            batch: id,
            slot,
            attempt: batch.attempts[slot],
            seed: batch.seed.clone(),
            engine: self.engine.clone(),
            timeout: self.config.orch.timeout,
            queen: self.myself.clone(),
        };
        match Actor::spawn_linked(None, Orch, args, self.myself.get_cell()).await {
            Ok((orch, _join)) => {
                self.orchs.insert(orch.get_id(), (id, slot));
                if let Some(batch) = self.batches.get_mut(&id) {
                    batch.live[slot] = Some(orch.get_cell());
                }
                let _ = orch.cast(OrchMessage::Run);
            }
            Err(e) => Box::pin(self.slot_failed(id, slot, OrchError::Spawn { reason: e.to_string() })).await,
        }
    }

    pub(super) async fn orch_finished(
        &mut self,
        id: BatchId,
        slot: usize,
        attempt: u32,
        result: Result<Vec<Proposal>, OrchError>,
    ) {
        let Some(batch) = self.batches.get_mut(&id) else { return };
        if batch.outcomes[slot].is_some() || batch.attempts[slot] != attempt {
            return;
        }
        // The ORCH waits to be stopped; its termination event then finds the slot settled.
        if let Some(cell) = batch.live[slot].take() {
            cell.stop(None);
        }
        match result {
            Ok(proposals) => {
                batch.outcomes[slot] = Some(OrchOutcome::Proposed { proposals: proposals.clone(), attempts: attempt });
                self.bus.publish(HiveEvent::ProposalReady { batch: id, slot, proposals });
                self.maybe_finish_batch(id);
            }
            Err(error) => self.slot_failed(id, slot, error).await,
        }
    }

    /// An ORCH's actor ended. If its slot was still waiting on it, it panicked or was killed: a failed attempt.
    pub(super) async fn orch_exited(&mut self, id: BatchId, slot: usize, actor: ActorId, exit: ExitKind) {
        let Some(batch) = self.batches.get_mut(&id) else { return };
        let current = batch.live[slot].as_ref().is_some_and(|c| c.get_id() == actor);
        if !current || batch.outcomes[slot].is_some() {
            return;
        }
        batch.live[slot] = None;
        let error = match exit {
            ExitKind::Failed(message) => OrchError::Panicked { message },
            ExitKind::Normal => OrchError::Stopped,
        };
        self.slot_failed(id, slot, error).await;
    }

    async fn slot_failed(&mut self, id: BatchId, slot: usize, error: OrchError) {
        let retries = self.config.orch.retries;
        let Some(batch) = self.batches.get_mut(&id) else { return };
        let attempts = batch.attempts[slot];
        tracing::debug!(batch = %id, slot, attempts, %error, "ORCH attempt failed");
        if attempts <= retries {
            self.spawn_orch(id, slot).await;
        } else {
            batch.outcomes[slot] = Some(OrchOutcome::Failed { error, attempts });
            self.maybe_finish_batch(id);
        }
    }

    pub(super) fn batch_deadline(&mut self, id: BatchId) {
        self.settle_rest(id, OrchOutcome::TimedOut);
    }

    pub(super) fn cancel_batch(&mut self, id: BatchId) {
        self.settle_rest(id, OrchOutcome::Cancelled);
    }

    /// Gives every unsettled slot `outcome`, kills its ORCH and finishes the batch.
    fn settle_rest(&mut self, id: BatchId, outcome: OrchOutcome) {
        let Some(batch) = self.batches.get_mut(&id) else { return };
        for slot in 0..batch.outcomes.len() {
            if batch.outcomes[slot].is_none() {
                batch.outcomes[slot] = Some(outcome.clone());
                // An unsettled ORCH is inside its engine call, and a stop is only seen between messages: it would
                // keep calling the engine (an LLM request, say) until its own timeout. A kill drops the call now.
                if let Some(cell) = batch.live[slot].take() {
                    cell.kill();
                }
            }
        }
        self.maybe_finish_batch(id);
    }

    fn maybe_finish_batch(&mut self, id: BatchId) {
        let done = self.batches.get(&id).is_some_and(|b| b.outcomes.iter().all(Option::is_some));
        if !done {
            return;
        }
        let Some(mut batch) = self.batches.remove(&id) else { return };
        batch.deadline.abort();
        let outcomes: Vec<OrchOutcome> = batch.outcomes.into_iter().flatten().collect();
        let report = BatchReport { batch: id, seed: batch.seed, outcomes };
        let succeeded = report.succeeded();
        self.bus.publish(HiveEvent::BatchFinished { batch: id, succeeded, failed: report.outcomes.len() - succeeded });
        if let Some(reply) = batch.reply.take() {
            let _ = reply.send(report);
        }
    }
}
