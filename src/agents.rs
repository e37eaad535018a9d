//! Agents made by command inside a running hive: [`Hive::spawn_agent`] and the registry's reads and changes,
//! through the hive's own database writer and the autonomy loop's forge (see [`HiveBuilder::agents`]).
//!
//! [`HiveBuilder::agents`]: crate::HiveBuilder::agents

use hive_spawner::{AgentRecord, SpawnRequest, Spawner};

use crate::{Hive, HiveError};

impl Hive {
    /// Makes the agent `request` asks for: rendered, tested, published and registered (see [`Spawner::spawn`]).
    /// Takes as long as the agent's build and tests.
    pub async fn spawn_agent(&self, request: &SpawnRequest) -> Result<AgentRecord, HiveError> {
        Ok(self.spawner()?.spawn(request).await?)
    }

    /// Every agent made by command, by name.
    pub async fn agents(&self) -> Result<Vec<AgentRecord>, HiveError> {
        Ok(self.spawner()?.list().await?)
    }

    /// The agent `name`.
    pub async fn agent(&self, name: &str) -> Result<AgentRecord, HiveError> {
        Ok(self.spawner()?.show(name).await?)
    }

    /// Looks at the agent's pull request again and merges it when its checks, its review and governance allow.
    pub async fn check_agent(&self, name: &str, by: &str) -> Result<AgentRecord, HiveError> {
        Ok(self.spawner()?.enforce(name, by).await?)
    }

    /// Unregisters the agent and removes its local source; its repository stays on the forge.
    pub async fn remove_agent(&self, name: &str, by: &str) -> Result<AgentRecord, HiveError> {
        Ok(self.spawner()?.remove(name, by).await?)
    }

    fn spawner(&self) -> Result<&Spawner, HiveError> {
        self.spawner.as_deref().ok_or(HiveError::NoAgents)
    }
}
