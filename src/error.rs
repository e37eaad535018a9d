//! Errors from building and running a hive.

use hive_actors::KeeperError;
use hive_cerebrum::{MemoryError, QueenError, ScribeError};
use hive_forge::{ForgeError, InvalidRepoId};

/// An error from [`Hive`](crate::Hive) or its builder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HiveError {
    /// No forge was given to the builder.
    #[error("no forge configured; call `.forge(..)` on the builder (for example with `SimForge::fleet(10, 20, 1)`)")]
    NoForge,
    /// Discovering the repositories failed.
    #[error("could not discover repositories on forge '{forge}'")]
    Discovery {
        /// The forge.
        forge: String,
        /// Why.
        #[source]
        source: ForgeError,
    },
    /// A repository name given to the builder is not valid.
    #[error(transparent)]
    InvalidRepo(#[from] InvalidRepoId),
    /// The queen refused or is gone.
    #[error(transparent)]
    Queen(#[from] QueenError),
    /// A service could not be added, commanded or asked for its status.
    #[error(transparent)]
    Service(#[from] KeeperError),
    /// The hive runs no autonomy loop.
    #[error("this hive runs no autonomy loop; start it with `Hive::builder().autonomy(..)`")]
    NoAutonomy,
    /// Agents by command need the autonomy loop and `HiveBuilder::agents`.
    #[error(
        "this hive makes no agents: it needs the autonomy loop (a forge to write to) and agents configured \
         (Hive::builder().agents(..); hive serve sets it up)"
    )]
    NoAgents,
    /// The agent runs already.
    #[error("agent '{0}' runs already; stop it first with 'agents stop {0}'")]
    AgentRunning(String),
    /// Making or changing an agent failed.
    #[error(transparent)]
    Spawn(Box<hive_spawner::SpawnError>),
    /// Change sets need the autonomy loop (a forge to write to, a database to record in).
    #[error(
        "this hive makes no change sets: it needs the autonomy loop (Hive::builder().autonomy(..); hive serve sets it up)"
    )]
    NoChanges,
    /// No `[[sync]]` has this name.
    #[error("no [[sync]] named '{0}'; 'sync status' lists the declared ones")]
    NoSync(String),
    /// A change set could not be made, moved on or found.
    #[error(transparent)]
    Change(Box<hive_changes::ChangeError>),
    /// `approve` named an id that is neither a backlog item nor a write.
    #[error("'{0}' is neither a backlog item nor a write hive reserved; `hive backlog` lists the items")]
    UnknownApproval(String),
    /// `approvals revoke` named an id that is not approved.
    #[error("'{0}' is not approved; `approvals list` shows what is")]
    NotApproved(String),
    /// `tools remove` named a tool the agent does not have.
    #[error("agent '{agent}' does not have the tool '{tool}'; `tools list {agent}` shows what it has")]
    ToolNotAssigned {
        /// The agent.
        agent: String,
        /// The tool.
        tool: String,
    },
    /// `memory get` or `memory delete` named a key without a note.
    #[error("no note under '{0}'; `memory search <words>` finds notes")]
    NoNote(String),
    /// A tool could not be assigned, or the knowledge refused or failed (boxed: it is large, and rare).
    #[error(transparent)]
    Tool(Box<hive_spawner::ToolError>),
    /// The autonomy loop's database could not be opened.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// The autonomy loop's database writer could not be started.
    #[error("cannot start the database writer")]
    Scribe(#[source] ScribeError),
}

impl From<hive_spawner::ToolError> for HiveError {
    fn from(err: hive_spawner::ToolError) -> HiveError {
        HiveError::Tool(Box::new(err))
    }
}

impl From<hive_changes::ChangeError> for HiveError {
    fn from(err: hive_changes::ChangeError) -> HiveError {
        HiveError::Change(Box::new(err))
    }
}

impl From<hive_spawner::SpawnError> for HiveError {
    fn from(err: hive_spawner::SpawnError) -> HiveError {
        HiveError::Spawn(Box::new(err))
    }
}
