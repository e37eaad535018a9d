//! The arguments of `hive spawn agent` and `hive agents`: what to make, where it is published, and the switches
//! that govern its review.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// Arguments of `hive spawn`.
#[derive(Debug, Args)]
pub struct SpawnArgs {
    /// What to make.
    #[command(subcommand)]
    pub command: SpawnCommand,
}

/// What `hive spawn` makes.
#[derive(Debug, Subcommand)]
pub enum SpawnCommand {
    /// A new agent: `<name>:<description>`, or a description alone (the name is made from its first words).
    Agent(SpawnAgentArgs),
}

/// Arguments of `hive spawn agent`.
#[derive(Debug, Args)]
pub struct SpawnAgentArgs {
    /// `name:description`, e.g. `triage-bot:labels new issues`.
    #[arg(value_name = "REQUEST")]
    pub request: String,

    /// The archetype: issue-labeler, ci-summarizer or webhook-responder (default: the closest to the description).
    #[arg(long, value_name = "ARCHETYPE")]
    pub archetype: Option<String>,

    /// free (a public repository), paid or enterprise (private).
    #[arg(long, value_name = "TIER", default_value = "free")]
    pub tier: String,

    /// Print what would be made; make nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Where and how it is published.
    #[command(flatten)]
    pub publish: PublishArgs,
}

/// Where agents are published and how their code lands.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// A local directory of git repositories: the agent's repository is made in it.
    #[arg(long, value_name = "DIR", global = true)]
    pub workspace: Option<PathBuf>,

    /// A GitHub organisation or the token's user (`GITHUB_TOKEN`, `GITHUB_API_URL`) that owns the agent's repository.
    #[arg(long, value_name = "LOGIN", global = true)]
    pub owner: Option<String>,

    /// Whether failing tests stop the spawn.
    #[arg(long, env = "TESTING_MANDATORY", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub testing_mandatory: bool,

    /// Whether the code goes through a pull request (where the forge has them).
    #[arg(long, env = "MANDATE_GITHUB_CI", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub mandate_ci: bool,

    /// The branch the code lands on.
    #[arg(long, env = "BASE_BRANCH", default_value = "main", global = true)]
    pub base_branch: String,

    /// Whether a merge needs an approving review.
    #[arg(long, env = "REQUIRE_HUMAN_PR_APPROVAL", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub require_approval: bool,

    /// Merge the agent's pull request when its checks are green and it is approved.
    #[arg(long, global = true)]
    pub merge: bool,

    /// Build with the crates already downloaded only (`cargo --offline`).
    #[arg(long, global = true)]
    pub offline: bool,

    /// The target directory agents' builds share (default: `agents/.target` in the state directory).
    #[arg(long, env = "HIVE_AGENTS_TARGET_DIR", value_name = "DIR", global = true)]
    pub target_dir: Option<PathBuf>,

    /// Who asks; recorded in the audit trail as `spawner:cli:<NAME>`.
    #[arg(long, value_name = "NAME", env = "USER", hide_env_values = true, default_value = "unknown", global = true)]
    pub by: String,
}

/// Arguments of `hive agents`.
#[derive(Debug, Args)]
pub struct AgentsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: AgentsCommand,

    /// Where agents are published.
    #[command(flatten)]
    pub publish: PublishArgs,
}

/// What `hive agents` does.
#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// Every agent, with its state.
    List,
    /// One agent's record.
    Show {
        /// The agent's name.
        name: String,
    },
    /// Looks at an agent's pull request again and merges it when allowed (`--merge`).
    Check {
        /// The agent's name.
        name: String,
    },
    /// Unregisters an agent and removes its local source; its repository stays on the forge.
    Remove {
        /// The agent's name.
        name: String,
    },
}
