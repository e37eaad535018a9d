//! The one language of text commands (`status`, `explain acme/api`, `emergency declare`, `memory search flaky`,
//! `tools assign orch knowledge`, ...): what `hive command`,
//! the HTTP API and the dashboard send, parsed into a typed [`Command`] before anything acts on it. Malformed input
//! is a [`CommandError`] with the usage, never a panic; names and ids are checked here, once, for every caller.

use std::fmt;

use hive_changes::{ChangeId, ChangeSpec};
use hive_ecosystem::ImportId;
use hive_forge::RepoId;
use hive_spawner::{
    AgentSpec, Archetype, SpawnerError, Tier,
    tools::{AgentId, BUILTIN_TOOLS},
};

/// Longest command text accepted.
pub const MAX_TEXT: usize = 1_000;
/// Most ORCHs one `propose` may fan out.
pub const MAX_PROPOSE: usize = 100;
/// Longest approval id accepted: backlog ids are 16 characters, write keys rarely pass 100.
pub const MAX_ID: usize = 200;
/// Longest approval, in hours (a year).
pub const MAX_HOURS: u32 = 8_760;
/// An approval's length when none is given.
pub const DEFAULT_HOURS: u32 = 24;

/// Every command, one per line, as the usage shows them.
pub const USAGE: &str = "\
status                         the fleet, its members and the emergency
explain <owner/name>           why hive did or did not act on a repository
propose <n> <owner/name>       fan out n ORCHs on the repository's worst signal (n from 1 to 100)
emergency declare|clear        declare an emergency by hand, or withdraw the declaration
autonomy on|off                let the autonomy loop write, or stop it (the kill switch)
pause|resume <owner/name>      stop watching a repository for now, or watch it again
approve <id> [--hours N]       let a backlog item or write through (N from 1 to 8760, default 24)
approvals list                 the approvals in force
approvals revoke <id>          withdraw an approval
ecosystem list                 the imported repositories
ecosystem <id> start [--command NAME]  run an imported repository's service under this hive
ecosystem <id> stop|status     stop it, or show its state
ecosystem <id> deploy [--ref R]  build R (default: the origin's default branch) beside the running service, switch when healthy
ecosystem <id> deploy history  every deploy of it, newest first
memory store <key> <text>      keep a note in the hive's knowledge (the key one word, the text the rest)
memory get|delete <key>        read a note, or delete it
memory search <words>          the notes holding every word, best first
tools list [<agent>]           the built-in tools and which agents have them
tools assign|remove <agent> <tool>  let an agent call a tool, or take it away
spawn agent [--archetype A] [--tier T] <name>:<description>  make, test, publish and register a new agent
agents list                    the agents made by command
agents show|check|remove <name>  one agent; look at its pull request again; unregister it
agents run <name> [AGENT_KEY=value ...]  build a ready agent and run it as a supervised service
agents stop <name>             stop an agent's service
changes list                   the change sets across repositories, newest first
changes show <chg-id>          one change set: each repository's state, pull request and notes
change plan|apply <json>       what a change set (a JSON spec: title, targets, operation) would do; make it
change resume|abort|rollback <chg-id>  move a change set on; stop it before any merge; roll it back
sync status [<name>]           where every [[sync]] file stands in every repository
sync push [<name>]             one change set per [[sync]] over the files behind or missing";

/// What a command asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// The fleet, its members and the emergency.
    Status,
    /// Why hive did or did not act on a repository: its last decisions with their rules.
    Explain {
        /// The repository.
        repo: RepoId,
    },
    /// Fan out `n` ORCHs on a repository's worst signal.
    Propose {
        /// How many ORCHs.
        n: usize,
        /// The repository.
        repo: RepoId,
    },
    /// Declare an emergency by hand.
    DeclareEmergency,
    /// Withdraw a declaration made by hand.
    ClearEmergency,
    /// The autonomy loop's kill switch: `true` lets it write.
    Autonomy {
        /// Whether writes are allowed.
        on: bool,
    },
    /// Stop watching a repository for now.
    Pause {
        /// The repository.
        repo: RepoId,
    },
    /// Watch a paused repository again.
    Resume {
        /// The repository.
        repo: RepoId,
    },
    /// Let a backlog item or a write through for `hours`.
    Approve {
        /// A backlog item id or a write key.
        id: String,
        /// How long the approval lasts.
        hours: u32,
    },
    /// The approvals in force.
    ListApprovals,
    /// Withdraw an approval.
    RevokeApproval {
        /// What was approved.
        id: String,
    },
    /// The imported repositories.
    ListImports,
    /// Run an imported repository's service under this hive.
    StartService {
        /// The import's id, as `hive ecosystem list` prints it.
        id: ImportId,
        /// The discovered command to run (`make:run`, `npm:start`, ...); the preferred run command when `None`.
        command: Option<String>,
    },
    /// Stop an imported repository's service run under this hive.
    StopService {
        /// The import's id.
        id: ImportId,
    },
    /// An imported repository's service: its state, pid, restarts and last exit.
    ServiceStatus {
        /// The import's id.
        id: ImportId,
    },
    /// Build a ref of an imported repository in a worktree of its own, start it beside the running service, and
    /// switch to it when it is healthy (or roll it back).
    Deploy {
        /// The import's id.
        id: ImportId,
        /// The branch, tag or commit; the origin's default branch when `None`.
        reference: Option<String>,
    },
    /// Every deploy of an imported repository, newest first.
    DeployHistory {
        /// The import's id.
        id: ImportId,
    },
    /// Keep a note in the hive's knowledge.
    Remember {
        /// Its key, one word.
        key: String,
        /// The note.
        text: String,
    },
    /// Read a note.
    Recall {
        /// Its key.
        key: String,
    },
    /// Find notes by their words.
    SearchMemory {
        /// The words.
        query: String,
    },
    /// Delete a note.
    Forget {
        /// Its key.
        key: String,
    },
    /// The built-in tools and which agents have them (one agent's only, when given).
    ListTools {
        /// The agent.
        agent: Option<AgentId>,
    },
    /// Let an agent call a tool.
    AssignTool {
        /// The agent.
        agent: AgentId,
        /// A built-in tool's name.
        tool: &'static str,
    },
    /// Take a tool away from an agent.
    RemoveTool {
        /// The agent.
        agent: AgentId,
        /// A built-in tool's name.
        tool: &'static str,
    },
    /// Make a new agent: render, test, publish, register.
    SpawnAgent {
        /// Its name and what it does.
        spec: AgentSpec,
        /// The archetype asked for; the closest to the description when `None`.
        archetype: Option<Archetype>,
        /// Who it is for.
        tier: Tier,
    },
    /// The agents made by command.
    ListAgents,
    /// One agent's record.
    ShowAgent {
        /// Its name.
        name: AgentId,
    },
    /// Look at an agent's pull request again; merge it when allowed.
    CheckAgent {
        /// Its name.
        name: AgentId,
    },
    /// Unregister an agent.
    RemoveAgent {
        /// Its name.
        name: AgentId,
    },
    /// Build a ready agent and run it as a service of this hive.
    RunAgent {
        /// Its name.
        name: AgentId,
        /// Its settings, `AGENT_*` variables.
        env: Vec<(String, String)>,
    },
    /// Stop an agent's service.
    StopAgent {
        /// Its name.
        name: AgentId,
    },
    /// The change sets, newest first.
    ListChanges,
    /// One change set.
    ShowChange {
        /// Its id.
        id: ChangeId,
    },
    /// What a change set would do (runs its operation in scratch worktrees; writes nothing to a forge).
    PlanChange {
        /// The change.
        spec: Box<ChangeSpec>,
    },
    /// Make a change set and move it on.
    ApplyChange {
        /// The change.
        spec: Box<ChangeSpec>,
    },
    /// Move a change set on, stop it before any merge, or roll it back.
    StepChange {
        /// The set.
        id: ChangeId,
        /// What to do with it.
        step: ChangeStep,
    },
    /// Where the files of one `[[sync]]` (or of all) stand.
    SyncStatus {
        /// The declaration's name; all when `None`.
        name: Option<String>,
    },
    /// Push one `[[sync]]` (or all): a change set over the files behind or missing.
    SyncPush {
        /// The declaration's name; all when `None`.
        name: Option<String>,
    },
}

/// What `change resume|abort|rollback` does with a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeStep {
    /// Look at it again and go as far as it can.
    Resume,
    /// Stop it before any merge.
    Abort,
    /// Close what is not merged, revert what is.
    Rollback,
}

impl ChangeStep {
    /// The word in a command.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeStep::Resume => "resume",
            ChangeStep::Abort => "abort",
            ChangeStep::Rollback => "rollback",
        }
    }
}

impl Command {
    /// The command as the audit trail records it: an agent's setting values are left out (they may be secrets).
    pub fn audit_text(&self) -> String {
        match self {
            Command::RunAgent { name, env } => {
                let keys: Vec<String> = env.iter().map(|(key, _)| format!("{key}=...")).collect();
                format!("agents run {name} {}", keys.join(" ")).trim_end().to_owned()
            }
            other => other.to_string(),
        }
    }

    /// Whether the command changes anything (and so needs the caller's authority, and goes into the audit trail).
    pub fn changes_state(&self) -> bool {
        !matches!(
            self,
            Command::Status
                | Command::Explain { .. }
                | Command::ListApprovals
                | Command::ListImports
                | Command::ServiceStatus { .. }
                | Command::DeployHistory { .. }
                | Command::Recall { .. }
                | Command::SearchMemory { .. }
                | Command::ListTools { .. }
                | Command::ListAgents
                | Command::ShowAgent { .. }
                | Command::ListChanges
                | Command::ShowChange { .. }
                | Command::SyncStatus { .. }
        )
    }
}

/// Why a text is not a command: the message, with the usage to show beside it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CommandError {
    /// What was wrong, quoting the offending word.
    pub message: String,
}

impl CommandError {
    fn new(message: impl Into<String>) -> CommandError {
        CommandError { message: message.into() }
    }

    /// The usage text, to print after the message.
    pub fn usage(&self) -> &'static str {
        USAGE
    }
}

/// Parses one command. Words are separated by whitespace; nothing is quoted or expanded.
pub fn parse(text: &str) -> Result<Command, CommandError> {
    if text.len() > MAX_TEXT {
        return Err(CommandError::new(format!("the command is longer than {MAX_TEXT} bytes")));
    }
    if text.chars().any(|c| c.is_control() && !c.is_ascii_whitespace()) {
        return Err(CommandError::new("the command holds a control character; type it on one line"));
    }
    let words: Vec<&str> = text.split_ascii_whitespace().collect();
    let Some((&verb, args)) = words.split_first() else {
        return Err(CommandError::new("no command given"));
    };
    let command = match (verb, args) {
        ("status", []) => Command::Status,
        ("explain", [repo]) => Command::Explain { repo: repo_arg(repo)? },
        ("propose", [n, repo]) => Command::Propose { n: count(n)?, repo: repo_arg(repo)? },
        ("emergency", ["declare"]) => Command::DeclareEmergency,
        ("emergency", ["clear"]) => Command::ClearEmergency,
        ("autonomy", ["on"]) => Command::Autonomy { on: true },
        ("autonomy", ["off"]) => Command::Autonomy { on: false },
        ("pause", [repo]) => Command::Pause { repo: repo_arg(repo)? },
        ("resume", [repo]) => Command::Resume { repo: repo_arg(repo)? },
        ("approve", [id]) => Command::Approve { id: approval_id(id)?, hours: DEFAULT_HOURS },
        ("approve", [id, "--hours", hours]) | ("approve", ["--hours", hours, id]) => {
            Command::Approve { id: approval_id(id)?, hours: hours_arg(hours)? }
        }
        ("approvals", ["list"]) => Command::ListApprovals,
        ("approvals", ["revoke", id]) => Command::RevokeApproval { id: approval_id(id)? },
        ("ecosystem", ["list"]) => Command::ListImports,
        ("ecosystem", [id, "start"]) => Command::StartService { id: import_id(id)?, command: None },
        ("ecosystem", [id, "start", "--command", name]) => {
            Command::StartService { id: import_id(id)?, command: Some(command_name(name)?) }
        }
        ("ecosystem", [id, "stop"]) => Command::StopService { id: import_id(id)? },
        ("ecosystem", [id, "status"]) => Command::ServiceStatus { id: import_id(id)? },
        ("ecosystem", [id, "deploy"]) => Command::Deploy { id: import_id(id)?, reference: None },
        ("ecosystem", [id, "deploy", "--ref", reference]) => {
            Command::Deploy { id: import_id(id)?, reference: Some(ref_arg(reference)?) }
        }
        ("ecosystem", [id, "deploy", "history"]) => Command::DeployHistory { id: import_id(id)? },
        // The note and the query are the rest of the line, spacing kept.
        ("memory", ["store", key, _, ..]) => {
            Command::Remember { key: memory_key(key)?, text: rest(text, 3).to_owned() }
        }
        ("memory", ["get", key]) => Command::Recall { key: memory_key(key)? },
        ("memory", ["delete", key]) => Command::Forget { key: memory_key(key)? },
        ("memory", ["search", _, ..]) => Command::SearchMemory { query: rest(text, 2).to_owned() },
        ("tools", ["list"]) => Command::ListTools { agent: None },
        ("tools", ["list", agent]) => Command::ListTools { agent: Some(agent_arg(agent)?) },
        ("tools", ["assign", agent, tool]) => Command::AssignTool { agent: agent_arg(agent)?, tool: tool_arg(tool)? },
        ("tools", ["remove", agent, tool]) => Command::RemoveTool { agent: agent_arg(agent)?, tool: tool_arg(tool)? },
        ("spawn", ["agent", _, ..]) => spawn_agent(rest(text, 2))?,
        ("agents", ["list"]) => Command::ListAgents,
        ("agents", ["show", name]) => Command::ShowAgent { name: agent_arg(name)? },
        ("agents", ["check", name]) => Command::CheckAgent { name: agent_arg(name)? },
        ("agents", ["remove", name]) => Command::RemoveAgent { name: agent_arg(name)? },
        ("agents", ["run", name, settings @ ..]) => Command::RunAgent {
            name: agent_arg(name)?,
            env: settings.iter().map(|word| agent_setting(word)).collect::<Result<_, _>>()?,
        },
        ("agents", ["stop", name]) => Command::StopAgent { name: agent_arg(name)? },
        ("changes", ["list"]) => Command::ListChanges,
        ("changes", ["show", id]) => Command::ShowChange { id: change_id(id)? },
        ("change", ["plan", _, ..]) => Command::PlanChange { spec: change_spec(rest(text, 2))? },
        ("change", ["apply", _, ..]) => Command::ApplyChange { spec: change_spec(rest(text, 2))? },
        ("change", ["resume", id]) => Command::StepChange { id: change_id(id)?, step: ChangeStep::Resume },
        ("change", ["abort", id]) => Command::StepChange { id: change_id(id)?, step: ChangeStep::Abort },
        ("change", ["rollback", id]) => Command::StepChange { id: change_id(id)?, step: ChangeStep::Rollback },
        ("sync", ["status"]) => Command::SyncStatus { name: None },
        ("sync", ["status", name]) => Command::SyncStatus { name: Some(sync_name(name)?) },
        ("sync", ["push"]) => Command::SyncPush { name: None },
        ("sync", ["push", name]) => Command::SyncPush { name: Some(sync_name(name)?) },
        (known, _) if VERBS.contains(&known) => {
            return Err(CommandError::new(format!("malformed '{known}' command: use {}", forms(known).join(" or "))));
        }
        (unknown, _) => {
            let hint = closest(unknown).map(|v| format!("; did you mean '{v}'?")).unwrap_or_default();
            return Err(CommandError::new(format!("unknown command '{}'{hint}", shown(unknown))));
        }
    };
    Ok(command)
}

/// The commands' first words.
const VERBS: [&str; 17] = [
    "status",
    "explain",
    "propose",
    "emergency",
    "autonomy",
    "pause",
    "resume",
    "approve",
    "approvals",
    "ecosystem",
    "memory",
    "tools",
    "spawn",
    "agents",
    "changes",
    "change",
    "sync",
];

/// The usage forms of `verb` (`pause|resume <owner/name>` is both `pause`'s and `resume`'s).
fn forms(verb: &str) -> Vec<&'static str> {
    USAGE
        .lines()
        .filter_map(|line| {
            let form = line.split("  ").next()?.trim_end();
            form.split_whitespace().next()?.split('|').any(|word| word == verb).then_some(form)
        })
        .collect()
}

/// The verb nearest to `word`, if one is near enough to be a typo.
fn closest(word: &str) -> Option<&'static str> {
    nearest(word, VERBS)
}

/// The candidate nearest to `word` (case-insensitively), if one is near enough to be a typo: the one "did you mean"
/// of every front end (commands, configuration keys).
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|candidate| (strsim::damerau_levenshtein(&word, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 4))
        .min()
        .map(|(_, candidate)| candidate)
}

/// An outside word as a message may quote it: cleaned, redacted and cut short.
fn shown(word: &str) -> String {
    let cut: String = word.chars().take(60).collect();
    hive_cerebrum::quote::terminal_line(&cut)
}

fn repo_arg(word: &str) -> Result<RepoId, CommandError> {
    RepoId::new(word).map_err(|err| CommandError::new(format!("{err}")))
}

fn count(word: &str) -> Result<usize, CommandError> {
    match word.parse::<usize>() {
        Ok(n) if (1..=MAX_PROPOSE).contains(&n) => Ok(n),
        _ => Err(CommandError::new(format!("'{}' is not a number of ORCHs: give 1 to {MAX_PROPOSE}", shown(word)))),
    }
}

fn hours_arg(word: &str) -> Result<u32, CommandError> {
    match word.parse::<u32>() {
        Ok(n) if (1..=MAX_HOURS).contains(&n) => Ok(n),
        _ => Err(CommandError::new(format!("'{}' is not a number of hours: give 1 to {MAX_HOURS}", shown(word)))),
    }
}

fn import_id(word: &str) -> Result<ImportId, CommandError> {
    ImportId::parse(word).map_err(|_| {
        CommandError::new(format!(
            "'{}' is not an import id: use the 12 hex digits `ecosystem list` shows",
            shown(word)
        ))
    })
}

/// A ref to deploy, refused before git could read it as an option or a path.
fn ref_arg(word: &str) -> Result<String, CommandError> {
    // The message quotes the ref escaped; the command's own length bound keeps it short enough to show whole.
    hive_ecosystem::check_ref(word)
        .map_err(|err| CommandError::new(hive_cerebrum::quote::terminal_line(&err.to_string())))?;
    Ok(word.to_owned())
}

/// Discovered command names are a tool and a task: `make:run`, `npm:start`, `just:serve-dev`.
fn command_name(word: &str) -> Result<String, CommandError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '.' | '-');
    if word.is_empty() || word.len() > 100 || !word.chars().all(allowed) {
        return Err(CommandError::new(format!(
            "'{}' is not a command name: use a name `ecosystem list` shows, such as make:run",
            shown(word)
        )));
    }
    Ok(word.to_owned())
}

/// A `[[sync]]` name: 1 to 64 lowercase letters, digits and `-`, as the configuration file allows.
fn sync_name(word: &str) -> Result<String, CommandError> {
    match hive_changes::SyncDecl::is_valid_name(word) {
        true => Ok(word.to_owned()),
        false => Err(CommandError::new(format!(
            "'{}' is not a sync's name: names are lowercase letters, digits and '-', such as license-and-ci",
            shown(word)
        ))),
    }
}

fn change_id(word: &str) -> Result<ChangeId, CommandError> {
    ChangeId::parse(word).map_err(|err| CommandError::new(err.to_string()))
}

/// A change set's spec as JSON (`{"title": ..., "targets": {...}, "operation": {"op": "run", ...}}`), checked.
fn change_spec(json: &str) -> Result<Box<ChangeSpec>, CommandError> {
    let spec: ChangeSpec = serde_json::from_str(json).map_err(|err| {
        CommandError::new(format!(
            "the change is not a JSON spec ({err}); give {{\"title\": ..., \"targets\": {{\"repos\": [...]}}, \
             \"operation\": {{\"op\": \"run\", \"argv\": [...], \"timeout_secs\": 600}}}}"
        ))
    })?;
    spec.validate().map_err(|err| CommandError::new(err.to_string()))?;
    // A command run on the server in every repository is the command line's, where its user runs it as themself.
    if matches!(spec.operation, hive_changes::Operation::Run { .. }) {
        return Err(CommandError::new(
            "a change that runs a command is made with 'hive change apply ... run -- ARGV' on the command line; the \
             router takes sync and bump changes",
        ));
    }
    Ok(Box::new(spec))
}

/// `text` after its first `words` words, trimmed.
fn rest(text: &str, words: usize) -> &str {
    let mut rest = text;
    for _ in 0..words {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
        rest = &rest[rest.find(|c: char| c.is_ascii_whitespace()).unwrap_or(rest.len())..];
    }
    rest.trim_matches(|c: char| c.is_ascii_whitespace())
}

fn memory_key(word: &str) -> Result<String, CommandError> {
    hive_spawner::tools::check_key(word).map_err(|_| {
        CommandError::new(format!(
            "'{}' is not a note's key: use one word of 1 to {} printable characters",
            shown(word),
            hive_spawner::tools::MAX_KEY
        ))
    })?;
    Ok(word.to_owned())
}

/// `spawn agent`'s arguments: leading `--archetype A` and `--tier T`, then the request (the rest of the line).
fn spawn_agent(mut args: &str) -> Result<Command, CommandError> {
    let (mut archetype, mut tier) = (None, Tier::Free);
    loop {
        let mut words = args.split_ascii_whitespace();
        let (flag, value) = (words.next(), words.next());
        match (flag, value) {
            (Some("--archetype"), Some(value)) => {
                archetype = Some(value.parse().map_err(|e: SpawnerError| CommandError::new(e.to_string()))?);
            }
            (Some("--tier"), Some(value)) => {
                tier = value.parse().map_err(|e: SpawnerError| CommandError::new(e.to_string()))?;
            }
            (Some(flag), _) if flag.starts_with("--") => {
                return Err(CommandError::new(format!(
                    "unknown option '{}' of spawn agent: use --archetype or --tier",
                    shown(flag)
                )));
            }
            _ => break,
        }
        args = rest(args, 2);
    }
    if args.is_empty() {
        return Err(CommandError::new("spawn agent needs '<name>:<description>' after its options"));
    }
    let spec = AgentSpec::from_request(args).map_err(|e| CommandError::new(e.to_string()))?;
    Ok(Command::SpawnAgent { spec, archetype, tier })
}

/// An agent's setting, `AGENT_KEY=value`: only the agent's own variables (its templates read `AGENT_*`), so a
/// command cannot change what the process runs with otherwise (`PATH`, `LD_PRELOAD`, tokens).
fn agent_setting(word: &str) -> Result<(String, String), CommandError> {
    let bad = || {
        CommandError::new(format!(
            "'{}' is not an agent setting: write AGENT_KEY=value (capital letters, digits and '_' after AGENT_)",
            shown(word)
        ))
    };
    let (key, value) = word.split_once('=').ok_or_else(bad)?;
    let name = key.strip_prefix("AGENT_").ok_or_else(bad)?;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') {
        return Err(bad());
    }
    Ok((key.to_owned(), value.to_owned()))
}

fn agent_arg(word: &str) -> Result<AgentId, CommandError> {
    AgentId::new(word).map_err(|err| CommandError::new(err.to_string()))
}

fn tool_arg(word: &str) -> Result<&'static str, CommandError> {
    hive_spawner::tools::builtin_tool(word).map_err(|_| {
        let hint = nearest(word, BUILTIN_TOOLS).map(|t| format!("did you mean '{t}'? ")).unwrap_or_default();
        CommandError::new(format!("unknown tool '{}'; {hint}the tools are: {}", shown(word), BUILTIN_TOOLS.join(", ")))
    })
}

/// Ids end up in the database, the audit trail and terminals: only `[0-9a-zA-Z:_./-]{1,200}`.
pub fn approval_id(id: &str) -> Result<String, CommandError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '.' | '/' | '-');
    if id.is_empty() || id.len() > MAX_ID || !id.chars().all(allowed) {
        return Err(CommandError::new(format!(
            "'{}' is not an approvable id: use 1 to {MAX_ID} letters, digits and ':_./-' (a backlog item id from \
             `hive backlog`, or a write key)",
            shown(id)
        )));
    }
    Ok(id.to_owned())
}

impl fmt::Display for Command {
    /// The command as text, in the form [`parse`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Status => f.write_str("status"),
            Command::Explain { repo } => write!(f, "explain {repo}"),
            Command::Propose { n, repo } => write!(f, "propose {n} {repo}"),
            Command::DeclareEmergency => f.write_str("emergency declare"),
            Command::ClearEmergency => f.write_str("emergency clear"),
            Command::Autonomy { on } => write!(f, "autonomy {}", if *on { "on" } else { "off" }),
            Command::Pause { repo } => write!(f, "pause {repo}"),
            Command::Resume { repo } => write!(f, "resume {repo}"),
            Command::Approve { id, hours } => write!(f, "approve {id} --hours {hours}"),
            Command::ListApprovals => f.write_str("approvals list"),
            Command::RevokeApproval { id } => write!(f, "approvals revoke {id}"),
            Command::ListImports => f.write_str("ecosystem list"),
            Command::StartService { id, command: None } => write!(f, "ecosystem {id} start"),
            Command::StartService { id, command: Some(name) } => write!(f, "ecosystem {id} start --command {name}"),
            Command::StopService { id } => write!(f, "ecosystem {id} stop"),
            Command::ServiceStatus { id } => write!(f, "ecosystem {id} status"),
            Command::Deploy { id, reference: None } => write!(f, "ecosystem {id} deploy"),
            Command::Deploy { id, reference: Some(reference) } => write!(f, "ecosystem {id} deploy --ref {reference}"),
            Command::DeployHistory { id } => write!(f, "ecosystem {id} deploy history"),
            Command::Remember { key, text } => write!(f, "memory store {key} {text}"),
            Command::Recall { key } => write!(f, "memory get {key}"),
            Command::SearchMemory { query } => write!(f, "memory search {query}"),
            Command::Forget { key } => write!(f, "memory delete {key}"),
            Command::ListTools { agent: None } => f.write_str("tools list"),
            Command::ListTools { agent: Some(agent) } => write!(f, "tools list {agent}"),
            Command::AssignTool { agent, tool } => write!(f, "tools assign {agent} {tool}"),
            Command::RemoveTool { agent, tool } => write!(f, "tools remove {agent} {tool}"),
            Command::SpawnAgent { spec, archetype, tier } => {
                f.write_str("spawn agent")?;
                if let Some(archetype) = archetype {
                    write!(f, " --archetype {archetype}")?;
                }
                if *tier != Tier::Free {
                    write!(f, " --tier {tier}")?;
                }
                write!(f, " {}:{}", spec.name(), spec.description())
            }
            Command::ListAgents => f.write_str("agents list"),
            Command::ShowAgent { name } => write!(f, "agents show {name}"),
            Command::CheckAgent { name } => write!(f, "agents check {name}"),
            Command::RemoveAgent { name } => write!(f, "agents remove {name}"),
            Command::RunAgent { name, env } => {
                write!(f, "agents run {name}")?;
                for (key, value) in env {
                    write!(f, " {key}={value}")?;
                }
                Ok(())
            }
            Command::StopAgent { name } => write!(f, "agents stop {name}"),
            Command::ListChanges => f.write_str("changes list"),
            Command::ShowChange { id } => write!(f, "changes show {id}"),
            Command::PlanChange { spec } => {
                write!(f, "change plan {}", serde_json::to_string(spec).unwrap_or_default())
            }
            Command::ApplyChange { spec } => {
                write!(f, "change apply {}", serde_json::to_string(spec).unwrap_or_default())
            }
            Command::StepChange { id, step } => write!(f, "change {} {id}", step.as_str()),
            Command::SyncStatus { name: None } => f.write_str("sync status"),
            Command::SyncStatus { name: Some(name) } => write!(f, "sync status {name}"),
            Command::SyncPush { name: None } => f.write_str("sync push"),
            Command::SyncPush { name: Some(name) } => write!(f, "sync push {name}"),
        }
    }
}

#[cfg(test)]
mod tests;
