//! The one way the loop writes: propose, let governance decide (a pure function of the proposal, the policy, the
//! counters the database keeps and the approvals), record the decision, reserve the write, send it, record how it
//! ended. Reservation and its audit record are one transaction, made before anything is sent, so a crash can lose
//! a write's outcome but never its place in the limits or the audit trail. A [`WriteFence`], when the hive has one,
//! is the last look before sending: a write it refuses is recorded as not sent, and a write it lets through is sent
//! only until its [`Permit`] ends.

use std::{future::Future, time::SystemTime};

use hive_cerebrum::{
    AuditEntry, Memory, MemoryError, NewWrite, Reservation, WriteState,
    governance::{self, ActionKind, Policy, Verdict, WriteDecision, WriteProposal},
};
use hive_forge::WriteError;
use tokio::time::Instant;

use super::{AutonomyError, Steward};

/// The last check before a write is sent, after governance and the reservation: whether this process may still
/// write to `repo` (for example, whether it still holds the repository's lease when several nodes share a fleet),
/// and whether the write `key` was already sent (by another node of the fleet).
#[async_trait::async_trait]
pub trait WriteFence: Send + Sync + std::fmt::Debug {
    /// A [`Permit`] to send, which ends at an instant; otherwise why not, said so that it can stand in the audit
    /// trail. A check that cannot be made is a refusal too: no write without a look.
    ///
    /// `key` is the write's idempotency key ([`WriteProposal::key`]): the same for the same write on every node
    /// and in every cycle (the reservation's key adds the cycle, which is one process's count), and never the
    /// node's name.
    async fn may_write(&self, repo: &str, key: &str) -> Result<Permit, String>;

    /// The write `key` to `repo` that `permit` let through was definitely not sent (refused at its deadline, or
    /// by the forge before it acted, or not attempted by its closure): whatever the fence recorded of it may be
    /// forgotten, so that the same write, proposed again, is not taken for one already sent. Never called for a
    /// write that may have reached the forge. Nothing to forget by default.
    async fn released(&self, repo: &str, key: &str, permit: &Permit) {
        let _ = (repo, key, permit);
    }
}

/// What a [`WriteFence`] lets through: a write whose every request must go out before `until`.
///
/// The gate runs the write under [`hive_forge::send_before`]: a request the forge's budget holds past `until` (a
/// rate limit's reset, the pacing of writes) is refused unsent, and the write is recorded as not sent, because
/// whatever made the fence let it through (a lease, a term of leadership, the stream's memory of the write) may
/// be over by then, and another node may have sent the same write meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permit {
    /// When the permission ends.
    pub until: Instant,
    /// Whose permission it is, for the audit trail: `the lease of 'acme/api'`.
    pub holder: String,
    /// What the fence needs to know of this permit again in [`WriteFence::released`], such as the stream sequence of
    /// the write's record; the gate only passes it back.
    pub ticket: u64,
}

impl Permit {
    /// A permit held by `holder` until `until`, without a ticket.
    pub fn new(until: Instant, holder: impl Into<String>) -> Permit {
        Permit { until, holder: holder.into(), ticket: 0 }
    }

    /// The same permit, ending no later than `until`, which `holder`'s permission ends at: the earlier end is the
    /// permit's, and names its holder.
    pub fn at_most(self, until: Instant, holder: impl Into<String>) -> Permit {
        if until < self.until { Permit { until, holder: holder.into(), ..self } } else { self }
    }

    /// Why a write refused at this permit's end was not sent, `waited_for` being what held it.
    fn ended(&self, waited_for: &str) -> String {
        let now = Instant::now();
        let wall = match self.until.checked_duration_since(now) {
            Some(ahead) => SystemTime::now() + ahead,
            None => SystemTime::now() - now.duration_since(self.until),
        };
        format!(
            "not sent: {} ends at {}, before {waited_for} let the write go out",
            self.holder,
            hive_support::rfc3339(wall)
        )
    }
}

/// How a governed write ended.
#[derive(Debug)]
pub(crate) enum Gate<T> {
    /// Sent.
    Done(T),
    /// Not sent: refused, only recorded ("would do"), or already reserved under this key.
    Skipped,
    /// Sent and failed (the report has the error).
    Failed,
}

/// What a write closure gets: the verdict (a draft or not) and the decision record to embed, secrets redacted.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) verdict: Verdict,
    pub(crate) html: String,
}

impl<T> Gate<T> {
    pub(crate) fn done(self) -> Option<T> {
        match self {
            Gate::Done(value) => Some(value),
            Gate::Skipped | Gate::Failed => None,
        }
    }
}

impl Steward {
    /// What governance would decide now, without recording anything: for a check before work that is itself a write
    /// (pushing a fix branch happens only when opening its pull request would be allowed).
    pub(crate) async fn preview(&self, proposal: &WriteProposal) -> Result<WriteDecision, AutonomyError> {
        let proposal = self.floored(proposal.clone());
        let (counted, now) = (proposal.clone(), self.now_unix);
        let (counters, approved) = self.memory(move |m| m.spent(&counted, now)).await?;
        Ok(governance::govern(&proposal, &self.policy(&proposal.repo), &counters, approved))
    }

    /// `proposal` at no less than the risk the engine gave its kind of write: an engine may raise a write's risk,
    /// never lower it. A fix branch stands for the pull request proposed, where the forge has none.
    fn floored(&self, mut proposal: WriteProposal) -> WriteProposal {
        let proposed = match proposal.kind {
            ActionKind::PushBranch => ActionKind::OpenPullRequest,
            kind => kind,
        };
        if let Some((_, risk)) = self.risk_floor.iter().find(|(kind, _)| *kind == proposed) {
            proposal.risk = proposal.risk.max(*risk);
        }
        proposal
    }

    /// Decides `proposal`, records the decision, and when it is a write reserves it under `write_key`, runs
    /// `write`, and records the outcome (`describe` turns a result into the outcome text).
    pub(crate) async fn governed<T, E, F, Fut>(
        &mut self,
        proposal: WriteProposal,
        write: F,
        describe: impl FnOnce(&T) -> String,
    ) -> Result<Gate<T>, AutonomyError>
    where
        F: FnOnce(Record) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: WriteFailure,
    {
        let proposal = self.floored(proposal);
        let write_key = format!("{}:c{}", proposal.key, self.report.cycle);
        let entry = {
            let (actor, repo, action) =
                (self.config.actor.clone(), proposal.repo.clone(), proposal.kind.as_str().to_owned());
            move |decision: &WriteDecision, result: String| AuditEntry {
                actor: actor.clone(),
                repositories: vec![repo.clone()],
                action: action.clone(),
                result,
                decision: decision.to_json(),
            }
        };
        // Reserved at the later of the cycle's clock and the wall clock: a long cycle must not make its writes look
        // older than they are to the next cycle's per-minute window.
        let now = self.now_unix.max(wall_clock());
        // Counted, decided, noted on the ledger item and reserved (or recorded) in one scribe job: one round trip to
        // the database instead of three, the reservation still one transaction with its audit record, made before
        // anything is sent.
        let (policy, redactor, counted_at) = (self.policy(&proposal.repo), self.redactor.clone(), self.now_unix);
        let (new, decided, audit_entry) = (
            NewWrite {
                key: write_key.clone(),
                kind: proposal.kind.as_str().to_owned(),
                repo: proposal.repo.clone(),
                target: proposal.target.clone(),
            },
            proposal.clone(),
            entry.clone(),
        );
        let (decision, counters, approved, reservation, title) = self
            .memory(move |m| {
                let (counters, approved) = m.spent(&decided, counted_at)?;
                let decision = governance::govern(&decided, &policy, &counters, approved);
                // The ledger item keeps a reference to the last decision about it, and lends the report its title.
                let mut title = None;
                if let Some(mut it) = m.ledger().get(&decided.approval_id)? {
                    it.decision = Some(redactor.redact(&decision.summary()).into_owned());
                    m.ledger().upsert(&it)?;
                    title = Some(redactor.redact(&it.title).into_owned());
                }
                let reservation = match decision.verdict {
                    Verdict::Deny => {
                        m.audit().append(&audit_entry(&decision, format!("denied: {}", decision.summary())))?;
                        None
                    }
                    Verdict::WouldDo => {
                        m.writes().reserve(&new, now, true, &audit_entry(&decision, "would_do".to_owned()))?;
                        None
                    }
                    Verdict::Allow | Verdict::Draft => {
                        Some(m.writes().reserve(&new, now, false, &audit_entry(&decision, "reserved".to_owned()))?)
                    }
                };
                Ok((decision, counters, approved, reservation, title))
            })
            .await?;
        self.report.note(&decision, &proposal.approval_id, title.as_deref());
        let Some(Reservation::New(_)) = reservation else {
            // Refused, only recorded, or already reserved under this key.
            return Ok(Gate::Skipped);
        };
        // The queen may have declared an emergency while this write was decided and reserved: decided again on the
        // policy of now, it is sent only if still allowed, else its reservation is released unsent.
        let now_decided = governance::govern(&proposal, &self.policy(&proposal.repo), &counters, approved);
        if !matches!(now_decided.verdict, Verdict::Allow | Verdict::Draft) || self.halted() {
            let why = if self.halted() {
                "not sent: the hive is stopping".to_owned()
            } else {
                format!("not sent: {}", now_decided.summary())
            };
            self.report.note(&now_decided, &proposal.approval_id, title.as_deref());
            let audit = entry(&decision, why.clone());
            self.memory(move |m| m.writes().complete(&write_key, WriteState::Failed, &why, &audit)).await?;
            return Ok(Gate::Skipped);
        }
        // Refused by the fence, the write is released unsent and left to whoever may write now; trying it again
        // here could only be refused again or, worse, race the rightful writer.
        let permit = match &self.fence {
            None => None,
            Some(fence) => match fence.may_write(&proposal.repo, &proposal.key).await {
                Ok(permit) => Some(permit),
                Err(refusal) => {
                    let why = self.redactor.redact(&format!("not sent: fenced: {refusal}")).into_owned();
                    self.report.errors.push(format!("{} {}: {why}", proposal.kind.as_str(), proposal.repo));
                    let audit = entry(&decision, why.clone());
                    self.memory(move |m| m.writes().complete(&write_key, WriteState::Failed, &why, &audit)).await?;
                    return Ok(Gate::Skipped);
                }
            },
        };
        let record =
            Record { verdict: decision.verdict, html: self.redactor.redact(&decision.html_record()).into_owned() };
        // Within the permit: no request of the write goes out after the permission ends.
        let (result, acted) = match &permit {
            Some(permit) => hive_forge::send_before_tracked(permit.until, write(record)).await,
            None => (write(record).await, true),
        };
        let (state, outcome, gate) = match result {
            Ok(value) => {
                let outcome = self.redactor.redact(&describe(&value)).into_owned();
                self.report.writes.push(format!("{} {}: {outcome}", proposal.kind.as_str(), proposal.repo));
                if matches!(proposal.kind, ActionKind::RerunJobs | ActionKind::OpenPullRequest | ActionKind::PushBranch)
                {
                    self.report.fixes_attempted += 1;
                }
                (WriteState::Done, outcome, Gate::Done(value))
            }
            Err(err) => {
                // Definitely not sent: the fence forgets it, so the next cycle (on whichever node may write then)
                // sends it without waiting for the fence's memory of it to lapse. Only when nothing of it may have
                // been carried out: an error after a request GitHub did not refuse (an answer that could not be
                // read, a pull request refused after its branch was pushed) may follow a write it carried out.
                if let (Some(fence), Some(permit)) = (&self.fence, &permit)
                    && !err.maybe_sent()
                    && !acted
                {
                    fence.released(&proposal.repo, &proposal.key, permit).await;
                }
                match (err.late(), &permit) {
                    (Some(waited_for), Some(permit)) => {
                        let why = self.redactor.redact(&permit.ended(waited_for)).into_owned();
                        self.report.errors.push(format!("{} {}: {why}", proposal.kind.as_str(), proposal.repo));
                        let audit = entry(&decision, why.clone());
                        self.memory(move |m| m.writes().complete(&write_key, WriteState::Failed, &why, &audit)).await?;
                        return Ok(Gate::Skipped);
                    }
                    _ => {
                        let message = self.redactor.redact(&err.to_string()).into_owned();
                        self.report.errors.push(format!("{} {}: {message}", proposal.kind.as_str(), proposal.repo));
                        // A timeout or a server error may come after GitHub acted: such a write stays counted.
                        let state = if err.maybe_sent() { WriteState::Done } else { WriteState::Failed };
                        (state, message, Gate::Failed)
                    }
                }
            }
        };
        let verdict = match (&gate, state) {
            (Gate::Done(_), _) => "ok",
            (_, WriteState::Done) => "failed, maybe sent",
            _ => "failed",
        };
        let audit = entry(&decision, format!("{verdict}: {outcome}"));
        self.memory(move |m| m.writes().complete(&write_key, state, &outcome, &audit)).await?;
        Ok(gate)
    }

    /// The policy for `repo` with the emergency state as it is now (the queen may declare one mid-cycle): its action
    /// level as overridden for the repository or its owner, frozen when either the configuration or the queen says
    /// so, open to recovery from the causes the queen declared it for.
    pub(crate) fn policy(&self, repo: &str) -> Policy {
        let switch = *self.switch.borrow();
        self.config.overrides.policy(&self.config.policy, repo, switch, &self.emergency.borrow())
    }

    /// Runs `job` on the database through the scribe.
    pub(crate) async fn memory<R, F>(&self, job: F) -> Result<R, AutonomyError>
    where
        F: FnOnce(&mut Memory) -> Result<R, MemoryError> + Send + 'static,
        R: Send + 'static,
    {
        Ok(self.scribe.call(job).await??)
    }
}

use hive_support::unix_now as wall_clock;

/// A write's error, as the gate records it.
pub(crate) trait WriteFailure: std::fmt::Display {
    /// Whether the write may have reached the forge anyway (a timeout, a server error, a lost connection).
    fn maybe_sent(&self) -> bool;

    /// What held the write past its permit's end, when it was refused unsent for that
    /// ([`WriteError::late`]).
    fn late(&self) -> Option<&'static str> {
        None
    }
}

impl WriteFailure for WriteError {
    fn maybe_sent(&self) -> bool {
        WriteError::maybe_sent(self)
    }

    fn late(&self) -> Option<&'static str> {
        WriteError::late(self)
    }
}
