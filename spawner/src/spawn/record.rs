//! What a spawn takes and gives: the settings agents are made under, one request, the registry's record of an
//! agent, and why a spawn or an agent command failed.

use std::{path::PathBuf, time::Duration};

use hive_cerebrum::{MemoryError, ScribeError, governance::Policy};
use serde::{Deserialize, Serialize};

use crate::{AgentSpec, Archetype, CheckOptions, SpawnerError, Tier};

/// How agents are made, from the configuration.
#[derive(Debug, Clone)]
pub struct SpawnSettings {
    /// Where each agent's source lives, `<agents_dir>/<name>` (the state directory's `agents/`).
    pub agents_dir: PathBuf,
    /// How its tests run (the target directory every agent shares).
    pub check: CheckOptions,
    /// Whether failing tests stop the spawn (`TESTING_MANDATORY`, on by default).
    pub testing_mandatory: bool,
    /// Who owns the agents' repositories: an organisation or the token's user (a local workspace: any).
    pub owner: String,
    /// Whether the code goes through a pull request (`MANDATE_GITHUB_CI`), where the forge has them.
    pub mandate_ci: bool,
    /// The branch the code lands on (`BASE_BRANCH`, `main` by default).
    pub base_branch: String,
    /// Whether a merge needs an approving review (`REQUIRE_HUMAN_PR_APPROVAL`, on by default).
    pub require_approval: bool,
    /// What governs the merge, as every write of the hive.
    pub policy: Policy,
    /// Each git command is killed after this long.
    pub git_timeout: Duration,
    /// What a running agent's environment holds besides its own `AGENT_*` settings (it inherits nothing of
    /// hive's): the search path and locale, a GitHub address, and a token of its own when one is configured.
    pub agent_env: Vec<(String, String)>,
}

impl SpawnSettings {
    /// Settings for agents under `agents_dir`, owned by `owner`, with the defaults the configuration documents.
    pub fn new(agents_dir: impl Into<PathBuf>, owner: impl Into<String>) -> SpawnSettings {
        let agents_dir = agents_dir.into();
        // Absolute: git and cargo run in other directories and must find it from there.
        let agents_dir = std::path::absolute(&agents_dir).unwrap_or(agents_dir);
        SpawnSettings {
            check: CheckOptions::new(agents_dir.join(".target")),
            agents_dir,
            testing_mandatory: true,
            owner: owner.into(),
            mandate_ci: false,
            base_branch: "main".to_owned(),
            require_approval: true,
            policy: Policy::default(),
            git_timeout: Duration::from_secs(120),
            agent_env: Vec::new(),
        }
    }
}

/// One `spawn agent` request.
#[derive(Debug, Clone)]
pub struct SpawnRequest {
    /// The agent's name and what it should do.
    pub spec: AgentSpec,
    /// The archetype asked for; the closest to the description when `None`.
    pub archetype: Option<Archetype>,
    /// Who it is for: whether its repository is private.
    pub tier: Tier,
    /// Who asked, for the audit trail (`cli:<user>`, `api:<name>`).
    pub by: String,
}

impl SpawnRequest {
    /// The archetype the agent is made from.
    pub fn archetype(&self) -> Archetype {
        self.archetype.unwrap_or_else(|| Archetype::closest(self.spec.description()))
    }
}

/// Where an agent is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Its pull request waits for green checks, an approving review or governance.
    Review,
    /// Its code is on the base branch: it can run.
    Ready,
}

impl AgentState {
    /// The recorded name.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Review => "review",
            AgentState::Ready => "ready",
        }
    }
}

/// The registry's record of an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRecord {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// What it was made from.
    pub archetype: Archetype,
    /// Who it is for.
    pub tier: Tier,
    /// Where it is in its life.
    pub state: AgentState,
    /// Its source, a git repository on this machine.
    pub source: PathBuf,
    /// Its repository on the forge.
    pub repo: String,
    /// Where git reaches that repository.
    pub clone_url: String,
    /// The pull request its code waits in, while it is in review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull: Option<u64>,
    /// The commit the pull request must still have to be merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// The test run before it was published: passed, and the result lines.
    pub tests_passed: bool,
    /// `cargo test`'s result lines.
    pub test_results: Vec<String>,
    /// Who wrote its logic, when a language model was asked: the model, or why the archetype's stayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authored: Option<String>,
    /// The last thing that happened to it, or what it waits for.
    pub note: String,
    /// When it was made, RFC 3339.
    pub created_at: String,
    /// When it last changed, RFC 3339.
    pub updated_at: String,
}

/// Why a spawn or an agent command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// The request itself.
    #[error(transparent)]
    Request(#[from] SpawnerError),
    /// An agent of that name exists.
    #[error(
        "agent '{name}' exists already; see it with 'hive agents show {name}' or remove it with 'hive agents remove {name}'"
    )]
    Exists {
        /// Its name.
        name: String,
    },
    /// Files of that name are in the way.
    #[error("'{}' exists but no agent is registered under that name; move it away and spawn again", path.display())]
    InTheWay {
        /// The path.
        path: PathBuf,
    },
    /// No agent of that name.
    #[error("no agent named '{name}'; 'hive agents list' shows them")]
    NotFound {
        /// The name asked for.
        name: String,
    },
    /// The agent's tests failed and testing is mandatory.
    #[error("agent '{name}' was not published: its tests failed: {summary}")]
    TestsFailed {
        /// Its name.
        name: String,
        /// What failed.
        summary: String,
    },
    /// A step failed; `remains` says what is left on the forge, if anything.
    #[error("agent '{name}' was not made: {step} failed: {reason}{}", remains.as_deref().map(|r| format!("; {r}")).unwrap_or_default())]
    Step {
        /// The agent's name.
        name: String,
        /// The step.
        step: &'static str,
        /// Why.
        reason: String,
        /// What is left on the forge and how to remove it.
        remains: Option<String>,
    },
    /// The agent cannot run yet.
    #[error("agent '{name}' is not ready to run: {why}; see 'agents check {name}'")]
    NotReady {
        /// Its name.
        name: String,
        /// What it waits for.
        why: String,
    },
    /// A forge call after the agent was made (enforcing its pull request).
    #[error("agent '{name}': {reason}")]
    Forge {
        /// The agent's name.
        name: String,
        /// What failed.
        reason: String,
    },
    /// The database.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// The database writer.
    #[error(transparent)]
    Scribe(#[from] ScribeError),
    /// A stored record could not be read.
    #[error("agent '{name}': its stored record is unreadable: {reason}")]
    BadRecord {
        /// The agent's name.
        name: String,
        /// Why.
        reason: String,
    },
}
