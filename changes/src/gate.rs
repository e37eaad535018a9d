//! How a change set writes: governance decides each write (a pure function of the proposal, the policy as it is
//! now, the counters hive.db keeps and the approvals), the decision and the reservation under the write's
//! idempotency key are one transaction with their audit record, then the write is sent and its outcome recorded.
//!
//! A key reserved before (a set resumed after a crash) is sent again only because the engine looked on the forge
//! first and did not find the write there: the key keeps it counted once.

use std::future::Future;

use hive_cerebrum::{
    AuditEntry, NewWrite, Reservation, WriteState,
    governance::{ActionKind, ChecksState, Verdict, WriteProposal, govern},
};
use hive_forge::WriteError;

use crate::{ChangeError, ChangeRecord, engine::ChangeEngine};

/// How a governed write ended.
#[derive(Debug)]
pub(crate) enum Sent<T> {
    /// Sent.
    Done(T),
    /// Not sent: governance refused it or would only record it; the decision's summary says why.
    Refused(String),
}

/// What a write gets from its decision: whether it must be a draft, and the decision record to embed.
#[derive(Debug, Clone)]
pub(crate) struct Decided {
    pub(crate) draft: bool,
    pub(crate) html: String,
}

/// One write to decide.
pub(crate) struct Write<'a> {
    pub(crate) kind: ActionKind,
    pub(crate) repo: &'a str,
    /// What the write is within the set (`push`, `pull`, `links`, `merge`, `close`, `revert-push`, ...): with the
    /// set's id and the repository, the idempotency key.
    pub(crate) step: &'a str,
    pub(crate) target: Option<String>,
    pub(crate) checks: Option<ChecksState>,
}

impl ChangeEngine {
    /// Why governance would not allow a write of `kind` in `repo` now, if it would not; nothing is recorded.
    pub(crate) async fn preview(
        &self,
        record: &ChangeRecord,
        kind: ActionKind,
        repo: &str,
    ) -> Result<Option<String>, ChangeError> {
        let proposal = WriteProposal {
            kind,
            repo: repo.to_owned(),
            key: format!("change:{}:preview:{repo}", record.id),
            target: None,
            risk: kind.base_risk(),
            checks: None,
            approval_id: record.id.to_string(),
            remedy: None,
        };
        let policy = self.policy(repo);
        let now = hive_support::unix_now();
        let counted = proposal.clone();
        let (counters, approved) = self.memory(move |m| m.spent(&counted, now)).await?;
        let decision = govern(&proposal, &policy, &counters, approved);
        Ok((!matches!(decision.verdict, Verdict::Allow | Verdict::Draft)).then(|| decision.summary()))
    }

    /// Decides `write` for `record`, and when allowed reserves it, sends it with `send`, and records the outcome.
    pub(crate) async fn governed<T, F, Fut>(
        &self,
        record: &ChangeRecord,
        write: Write<'_>,
        send: F,
    ) -> Result<Sent<T>, ChangeError>
    where
        F: FnOnce(Decided) -> Fut,
        Fut: Future<Output = Result<T, WriteError>>,
    {
        let key = format!("change:{}:{}:{}", record.id, write.step, write.repo);
        let proposal = WriteProposal {
            kind: write.kind,
            repo: write.repo.to_owned(),
            key: key.clone(),
            target: write.target.clone(),
            risk: write.kind.base_risk(),
            checks: write.checks,
            // `hive approve <change id>` approves the set's risky writes.
            approval_id: record.id.to_string(),
            remedy: None,
        };
        let policy = self.policy(write.repo);
        let entry = {
            let (actor, repo, action) = (record.by.clone(), write.repo.to_owned(), write.kind.as_str().to_owned());
            move |decision: String, result: String| AuditEntry {
                actor: actor.clone(),
                repositories: vec![repo.clone()],
                action: action.clone(),
                result,
                decision,
            }
        };
        let now = hive_support::unix_now();
        let new = NewWrite {
            key: key.clone(),
            kind: write.kind.as_str().to_owned(),
            repo: write.repo.to_owned(),
            target: write.target,
        };
        let audit = entry.clone();
        let (decision, reservation) = self
            .memory(move |m| {
                let (counters, approved) = m.spent(&proposal, now)?;
                let decision = govern(&proposal, &policy, &counters, approved);
                let reservation = match decision.verdict {
                    Verdict::Deny => {
                        m.audit().append(&audit(decision.to_json(), format!("denied: {}", decision.summary())))?;
                        None
                    }
                    // Recorded, not reserved: the key stays free for when the policy allows the write.
                    Verdict::WouldDo => {
                        m.audit().append(&audit(decision.to_json(), "would_do".to_owned()))?;
                        None
                    }
                    Verdict::Allow | Verdict::Draft => {
                        Some(m.writes().reserve(&new, now, false, &audit(decision.to_json(), "reserved".to_owned()))?)
                    }
                };
                Ok((decision, reservation))
            })
            .await?;
        match reservation {
            None => return Ok(Sent::Refused(decision.summary())),
            Some(Reservation::Existing(row)) if row.state == WriteState::WouldDo => {
                return Ok(Sent::Refused(decision.summary()));
            }
            Some(Reservation::New(_) | Reservation::Existing(_)) => {}
        }
        let decided = Decided {
            draft: decision.verdict == Verdict::Draft,
            html: self.redactor.redact(&decision.html_record()).into_owned(),
        };
        let result = send(decided).await;
        let (state, outcome) = match &result {
            Ok(_) => (WriteState::Done, "ok".to_owned()),
            // A timeout or a server error may come after the forge acted: such a write stays counted.
            Err(err) if err.maybe_sent() => (WriteState::Done, self.redact(err)),
            Err(err) => (WriteState::Failed, self.redact(err)),
        };
        let audit = entry(decision.to_json(), format!("{}: {outcome}", if result.is_ok() { "ok" } else { "failed" }));
        self.memory(move |m| m.writes().complete(&key, state, &outcome, &audit)).await?;
        match result {
            Ok(value) => Ok(Sent::Done(value)),
            Err(err) => Err(self.forge_error(write.repo, &err)),
        }
    }
}
