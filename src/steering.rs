//! What people steer a running hive with beyond the queen's own commands: why it did or did not act on a
//! repository ([`Explanation`]), and approvals of risky work, granted and withdrawn through the autonomy loop's
//! database writer so they reach the loop at its next decision.

use hive_cerebrum::{Approval, AuditRecord, BacklogItem, MemberState, Signal};
use hive_forge::RepoId;
use serde::Serialize;

use crate::{Hive, HiveError};

/// How many of a repository's audit records an explanation shows.
pub const EXPLAIN_RECORDS: usize = 20;

/// Why hive did or did not act on one repository: how it stands, what the loop has on its backlog for it, and the
/// last decisions about it with the rules that made them (each record's `decision` is the policy decision as JSON).
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The repository.
    pub repo: String,
    /// Whether a pilot watches it now (a paused or removed repository is not acted on).
    pub watched: bool,
    /// The pilot's state, when watched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<MemberState>,
    /// The latest score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<u8>,
    /// The latest signals, worst first.
    pub signals: Vec<Signal>,
    /// Whether an emergency holds (every write but the alert stops).
    pub emergency: bool,
    /// The kill switch as set live (`autonomy on|off`); `None` when the configuration's switch holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autonomy_override: Option<bool>,
    /// The backlog items for it, with their last decision.
    pub backlog: Vec<BacklogItem>,
    /// Its newest audit records, newest first, at most [`EXPLAIN_RECORDS`].
    pub decisions: Vec<AuditRecord>,
}

impl Hive {
    /// Why hive did or did not act on `repo`: see [`Explanation`].
    pub async fn explain(&self, repo: &RepoId) -> Result<Explanation, HiveError> {
        let scribe = self.scribe.as_ref().ok_or(HiveError::NoAutonomy)?;
        let status = self.status().await?;
        let member = status.members.iter().find(|m| m.id.as_str() == repo.as_str());
        let name = repo.to_string();
        let (backlog, decisions) = scribe
            .call(move |m| {
                let mut items = m.ledger().list()?;
                items.retain(|item| item.repo == name);
                Ok::<_, hive_cerebrum::MemoryError>((items, m.audit().recent_for(&name, EXPLAIN_RECORDS)?))
            })
            .await
            .map_err(HiveError::Scribe)??;
        Ok(Explanation {
            repo: repo.to_string(),
            watched: member.is_some(),
            state: member.map(|m| m.state),
            score: member.and_then(|m| m.score),
            signals: member.map(|m| m.signals.clone()).unwrap_or_default(),
            emergency: status.emergency,
            autonomy_override: self.steward.as_ref().and_then(|s| s.autonomy_override()),
            backlog,
            decisions,
        })
    }

    /// Approves `id` (a backlog item id, or a write's key) for `hours`, as `by`; recorded in the audit trail. Only
    /// ids the database knows are accepted: approving a typo would approve nothing and say it did.
    pub async fn approve(&self, id: &str, by: &str, hours: u32) -> Result<Approval, HiveError> {
        let scribe = self.scribe.as_ref().ok_or(HiveError::NoAutonomy)?;
        let (owned, by, now) = (id.to_owned(), by.to_owned(), now_unix());
        let approved = scribe
            .call(move |m| {
                if m.ledger().get(&owned)?.is_none() && !m.writes().known(&owned)? {
                    return Ok(None);
                }
                m.approvals().approve(&owned, &by, now, u64::from(hours) * 3_600).map(Some)
            })
            .await
            .map_err(HiveError::Scribe)??;
        approved.ok_or_else(|| HiveError::UnknownApproval(id.to_owned()))
    }

    /// Every approval, expired ones included, newest first.
    pub async fn approvals(&self) -> Result<Vec<Approval>, HiveError> {
        let scribe = self.scribe.as_ref().ok_or(HiveError::NoAutonomy)?;
        Ok(scribe.call(|m| m.approvals().list()).await.map_err(HiveError::Scribe)??)
    }

    /// Withdraws the approval of `id`, as `by`; recorded in the audit trail. An id never approved is an error.
    pub async fn revoke_approval(&self, id: &str, by: &str) -> Result<Approval, HiveError> {
        let scribe = self.scribe.as_ref().ok_or(HiveError::NoAutonomy)?;
        let (owned, by) = (id.to_owned(), by.to_owned());
        let revoked = scribe.call(move |m| m.approvals().revoke(&owned, &by)).await.map_err(HiveError::Scribe)??;
        revoked.ok_or_else(|| HiveError::NotApproved(id.to_owned()))
    }
}

use hive_support::unix_now as now_unix;
