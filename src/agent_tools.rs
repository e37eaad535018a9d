//! What people give agents through a running hive: tools assigned and taken away (each change one transaction
//! with its audit record), and the hive's knowledge, the notes agents read and write with the `knowledge` tool.
//! Everything goes through the database's one writer, the scribe, like approvals.

use hive_cerebrum::{Note, ScribeHandle, SearchHit, ToolAssignment};
use hive_spawner::tools::{self, AgentId, knowledge};

use crate::{Hive, HiveError};

/// Most hits `memory search` returns.
pub const SEARCH_HITS: usize = 20;

impl Hive {
    /// Lets `agent` call the built-in `tool`, as `by`; recorded in the audit trail. `None` when it already could.
    pub async fn assign_tool(
        &self,
        agent: &AgentId,
        tool: &str,
        by: &str,
    ) -> Result<Option<ToolAssignment>, HiveError> {
        Ok(tools::assign(self.scribe()?, agent, tool, by).await?)
    }

    /// Takes `tool` away from `agent`, as `by`; recorded in the audit trail. A tool the agent does not have is an
    /// error.
    pub async fn remove_tool(&self, agent: &AgentId, tool: &str, by: &str) -> Result<ToolAssignment, HiveError> {
        tools::remove(self.scribe()?, agent, tool, by)
            .await?
            .ok_or_else(|| HiveError::ToolNotAssigned { agent: agent.to_string(), tool: tool.to_owned() })
    }

    /// The tools assigned to `agent`, or to every agent.
    pub async fn tool_assignments(&self, agent: Option<&AgentId>) -> Result<Vec<ToolAssignment>, HiveError> {
        Ok(tools::assigned(self.scribe()?, agent).await?)
    }

    /// Stores `text` under `key` in the hive's knowledge, as `by`; returns whether a note was replaced.
    pub async fn remember(&self, key: &str, text: &str, by: &str) -> Result<bool, HiveError> {
        Ok(knowledge::store(self.scribe()?, key, text, by).await?)
    }

    /// The note under `key`; a key without a note is an error.
    pub async fn recall(&self, key: &str) -> Result<Note, HiveError> {
        knowledge::get(self.scribe()?, key).await?.ok_or_else(|| HiveError::NoNote(key.to_owned()))
    }

    /// The notes holding every word of `query`, best first, at most [`SEARCH_HITS`].
    pub async fn search_memory(&self, query: &str) -> Result<Vec<SearchHit>, HiveError> {
        Ok(knowledge::search(self.scribe()?, query, SEARCH_HITS).await?)
    }

    /// Deletes the note under `key`; a key without a note is an error.
    pub async fn forget(&self, key: &str) -> Result<(), HiveError> {
        if knowledge::delete(self.scribe()?, key).await? { Ok(()) } else { Err(HiveError::NoNote(key.to_owned())) }
    }

    fn scribe(&self) -> Result<&ScribeHandle, HiveError> {
        self.scribe.as_ref().ok_or(HiveError::NoAutonomy)
    }
}
