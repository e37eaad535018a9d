//! The registry's side of agents: their records in hive.db (read, written with their audit records, removed), and
//! a ready agent built to run as a service.

use std::path::PathBuf;

use hive_cerebrum::{AgentRow, AuditEntry};
use hive_ecosystem::Git;

use super::{AgentRecord, AgentState, SpawnError, SpawnRequest, Spawner, review_branch};

impl Spawner {
    pub(super) async fn update(
        &self,
        mut record: AgentRecord,
        by: &str,
        action: &str,
        decision: &str,
    ) -> Result<AgentRecord, SpawnError> {
        record.updated_at = now_rfc3339();
        self.put(&record, by, action, decision).await?;
        Ok(record)
    }

    /// Builds a ready agent's binary (`cargo build` in its source, into the shared target directory) and records
    /// it; returns the binary, which [`agent_service`] runs.
    pub async fn build(&self, name: &str, by: &str) -> Result<PathBuf, SpawnError> {
        let record = self.show(name).await?;
        if record.state != AgentState::Ready {
            return Err(SpawnError::NotReady { name: name.to_owned(), why: record.note });
        }
        let fail = |reason: String| SpawnError::Step { name: name.to_owned(), step: "building", reason, remains: None };
        // The merged code: the review branch when it went through a pull request, else the base branch.
        let branch = if record.pull.is_some() { review_branch(name) } else { self.settings.base_branch.clone() };
        let git = Git::new(&record.source).timeout(self.settings.git_timeout);
        git.run(&["checkout", "-q", &branch]).await.map_err(|e| fail(e.to_string()))?;
        let spec = crate::check::cargo(&record.source, "build", &["--bin", name], &self.settings.check);
        let output = hive_ecosystem::process::run(&spec).await.map_err(|e| fail(e.to_string()))?;
        if !output.success() {
            let text = output.stderr_text();
            return Err(fail(format!("'{}' failed: {}", spec.display(), crate::check::first_error(&text))));
        }
        let binary = self.settings.check.target_dir.join("debug").join(name);
        let entry = self.entry(by, &record.repo, "agent_built", &binary.display().to_string(), "requested");
        self.scribe.call(move |m| m.audit().append(&entry)).await??;
        Ok(binary)
    }

    /// Records that the agent was started or stopped as a service (`action`: `agent_run`, `agent_stopped`).
    pub async fn record_service(&self, name: &str, by: &str, action: &str, result: &str) -> Result<(), SpawnError> {
        let record = self.show(name).await?;
        let entry = self.entry(by, &record.repo, action, result, "requested");
        self.scribe.call(move |m| m.audit().append(&entry)).await??;
        Ok(())
    }

    /// What a running agent's environment holds besides its own settings ([`SpawnSettings::agent_env`]).
    pub fn agent_env(&self) -> &[(String, String)] {
        &self.settings.agent_env
    }

    /// Every registered agent, by name.
    pub async fn list(&self) -> Result<Vec<AgentRecord>, SpawnError> {
        let rows = self.scribe.call(|m| m.agents().list()).await??;
        rows.iter().map(decode).collect()
    }

    /// The agent `name`.
    pub async fn show(&self, name: &str) -> Result<AgentRecord, SpawnError> {
        let owned = name.to_owned();
        let row = self.scribe.call(move |m| m.agents().get(&owned)).await??;
        row.as_ref().map(decode).transpose()?.ok_or_else(|| SpawnError::NotFound { name: name.to_owned() })
    }

    /// Unregisters the agent `name` and removes its local source; its repository stays on the forge (it is a
    /// maintainer's to delete), which the record returned names.
    pub async fn remove(&self, name: &str, by: &str) -> Result<AgentRecord, SpawnError> {
        let record = self.show(name).await?;
        let entry =
            self.entry(by, &record.repo, "agent_removed", &format!("{} stays on the forge", record.repo), "removed");
        let owned = name.to_owned();
        self.scribe.call(move |m| m.agents().remove(&owned, &entry)).await??;
        // Only the agent's own directory, wherever its record points.
        let own = self.settings.agents_dir.join(name);
        if record.source == own && own.exists() {
            std::fs::remove_dir_all(&own).map_err(|e| SpawnError::Step {
                name: name.to_owned(),
                step: "removing its source",
                reason: format!("'{}': {e}", own.display()),
                remains: None,
            })?;
        }
        Ok(record)
    }

    pub(super) async fn put(
        &self,
        record: &AgentRecord,
        by: &str,
        action: &str,
        decision: &str,
    ) -> Result<(), SpawnError> {
        let row = AgentRow {
            name: record.name.clone(),
            state: record.state.as_str().to_owned(),
            record: serde_json::to_string(record)
                .map_err(|e| SpawnError::BadRecord { name: record.name.clone(), reason: e.to_string() })?,
            updated_at: unix_now(),
        };
        let entry = self.entry(by, &record.repo, action, &record.note, decision);
        self.scribe.call(move |m| m.agents().put(&row, &entry)).await??;
        Ok(())
    }

    pub(super) async fn audit(
        &self,
        request: &SpawnRequest,
        action: &str,
        result: &str,
        decision: &str,
    ) -> Result<(), SpawnError> {
        let repo = format!("{}/{}", self.settings.owner, request.spec.name());
        let entry = self.entry(&request.by, &repo, action, result, decision);
        self.scribe.call(move |m| m.audit().append(&entry)).await??;
        Ok(())
    }

    pub(super) fn entry(&self, by: &str, repo: &str, action: &str, result: &str, decision: &str) -> AuditEntry {
        AuditEntry {
            actor: self.redactor.redact(&format!("spawner:{by}")).into_owned(),
            repositories: vec![repo.to_owned()],
            action: action.to_owned(),
            result: self.redactor.redact(result).into_owned(),
            decision: decision.to_owned(),
        }
    }
}

/// The service name an agent runs under (its member id under the queen).
pub fn agent_service(name: &str) -> String {
    format!("agent-{name}")
}

pub(super) fn decode(row: &AgentRow) -> Result<AgentRecord, SpawnError> {
    serde_json::from_str(&row.record)
        .map_err(|e| SpawnError::BadRecord { name: row.name.clone(), reason: e.to_string() })
}

pub(super) use hive_support::{now_rfc3339, unix_now};
