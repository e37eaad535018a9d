//! Agents made by command inside a running hive: [`Hive::spawn_agent`] and the registry's reads and changes,
//! through the hive's own database writer and the autonomy loop's forge (see [`HiveBuilder::agents`]).
//!
//! [`HiveBuilder::agents`]: crate::HiveBuilder::agents

use hive_ecosystem::ServiceSpec;
use hive_spawner::{AgentRecord, SpawnRequest, Spawner, agent_service};

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
        let spawner = self.spawner()?;
        // Its service first: a running agent whose source is gone would be restarted from nothing.
        if self.services().contains(&agent_service(name)) {
            self.stop_agent(name, by).await?;
        }
        Ok(spawner.remove(name, by).await?)
    }

    /// Builds the ready agent `name` and runs it as a service member of this hive (supervised, restarted, in the
    /// status), with `env` added to its environment (its settings, such as `AGENT_BIND`).
    pub async fn run_agent(&self, name: &str, env: &[(String, String)], by: &str) -> Result<String, HiveError> {
        let spawner = self.spawner()?;
        let service = agent_service(name);
        if self.services().contains(&service) {
            return Err(HiveError::AgentRunning(name.to_owned()));
        }
        let binary = spawner.build(name, by).await?;
        let source = spawner.show(name).await?.source;
        let mut spec = ServiceSpec::new(&service, [binary.display().to_string()], source);
        // Nothing of hive's environment (its tokens): only what agents are given, and the agent's own settings.
        spec.clear_env = true;
        spec.env = spawner.agent_env().iter().chain(env).cloned().collect();
        self.add_service(spec).await?;
        let keys: Vec<&str> = env.iter().map(|(key, _)| key.as_str()).collect();
        spawner.record_service(name, by, "agent_run", &format!("as {service}, with {}", keys.join(", "))).await?;
        Ok(service)
    }

    /// Stops the agent `name`'s service and forgets it.
    pub async fn stop_agent(&self, name: &str, by: &str) -> Result<(), HiveError> {
        let spawner = self.spawner()?;
        self.remove_service(&agent_service(name)).await?;
        spawner.record_service(name, by, "agent_stopped", "stopped").await?;
        Ok(())
    }

    fn spawner(&self) -> Result<&Spawner, HiveError> {
        self.spawner.as_deref().ok_or(HiveError::NoAgents)
    }
}
