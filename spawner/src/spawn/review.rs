//! An agent's pull request moved on: merged only when its checks are green, a maintainer approved its head and
//! governance allows the merge under the policy as it is at that moment; otherwise what it waits for is recorded.

use hive_cerebrum::governance::{ActionKind, ChecksState, Verdict, WriteProposal, govern};
use hive_forge::{RepoId, WriteError};

use super::{AgentRecord, AgentState, SpawnError, Spawner, registry::unix_now};

/// The branch an agent's code waits on for review.
pub fn review_branch(name: &str) -> String {
    format!("hive/agent/{name}")
}

impl Spawner {
    /// Moves an agent in review on: merges its pull request when its checks are green, a human approved it (when
    /// required) and governance allows the merge; otherwise records what it waits for.
    pub async fn enforce(&self, name: &str, by: &str) -> Result<AgentRecord, SpawnError> {
        let forge = self.forge(name)?;
        let mut record = self.show(name).await?;
        let (Some(number), Some(head)) = (record.pull, record.head.clone()) else {
            return Ok(record);
        };
        if record.state == AgentState::Ready {
            return Ok(record);
        }
        let repo = RepoId::new(record.repo.clone())
            .map_err(|e| SpawnError::BadRecord { name: name.to_owned(), reason: e.to_string() })?;
        let forge_err = |e: WriteError| SpawnError::Forge {
            name: name.to_owned(),
            reason: self.redactor.redact(&e.to_string()).into_owned(),
        };
        let pulls = forge.pulls_for_branch(&repo, &review_branch(name)).await.map_err(forge_err)?;
        if let Some(pull) = pulls.iter().find(|p| p.number == number) {
            if pull.merged {
                return self.mark_ready(record, by, format!("pull request #{number} was merged")).await;
            }
            if pull.state != "open" {
                record.note =
                    format!("pull request #{number} was closed without merging; reopen it or remove the agent");
                return self.update(record, by, "agent_merge_waiting", "closed").await;
            }
        }
        let runs = forge.check_runs(&repo, &head).await.map_err(forge_err)?;
        let status = forge.combined_status(&repo, &head).await.map_err(forge_err)?;
        let checks = ChecksState::of(
            runs.iter().map(|r| (r.status.as_str(), r.conclusion.as_deref())),
            &status.state,
            status.total_count,
        );
        let reviewed = if self.settings.require_approval {
            let reviews = forge.pull_reviews(&repo, number).await.map_err(forge_err)?;
            hive_forge::approves(&reviews, &head)
        } else {
            true
        };
        if !reviewed {
            record.note = format!("pull request #{number} waits for an approving review (checks {checks})");
            return self.update(record, by, "agent_merge_waiting", "no approving review").await;
        }
        let proposal = WriteProposal {
            kind: ActionKind::Merge,
            repo: record.repo.clone(),
            key: format!("agent-merge:{}#{number}@{head}", record.repo),
            target: Some(format!("#{number}")),
            risk: ActionKind::Merge.base_risk(),
            checks: Some(checks),
            approval_id: format!("agent:{name}"),
            remedy: None,
        };
        let now = unix_now();
        let counted = proposal.clone();
        let (counters, approval) = self.scribe.call(move |m| m.spent(&counted, now)).await??;
        let mut policy = self.settings.policy.clone();
        if let Some(live) = &self.live_policy {
            live(&record.repo, &mut policy);
        }
        let decision = govern(&proposal, &policy, &counters, approval);
        if decision.verdict != Verdict::Allow {
            record.note = format!("pull request #{number} not merged: {}", decision.summary());
            return self.update(record, by, "agent_merge_waiting", decision.verdict.as_str()).await;
        }
        let merged = forge.merge_head(&repo, number, "merge", Some(&head)).await.map_err(forge_err)?;
        if !merged.merged {
            record.note = format!("pull request #{number} not merged: {}", merged.message);
            return self.update(record, by, "agent_merge_waiting", "refused by the forge").await;
        }
        self.mark_ready(record, by, format!("pull request #{number} merged (checks {checks}, approved)")).await
    }

    pub(super) async fn mark_ready(
        &self,
        mut record: AgentRecord,
        by: &str,
        note: String,
    ) -> Result<AgentRecord, SpawnError> {
        record.state = AgentState::Ready;
        record.note = note;
        self.update(record, by, "agent_merged", "allow").await
    }
}
