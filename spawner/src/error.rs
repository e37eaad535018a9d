//! Why a `spawn agent name:description` request was refused.

/// An invalid agent request.
///
/// Every value quoted in a message is escaped (as by [`str::escape_debug`]) and cut short, so a hostile request
/// cannot inject control characters or flood the terminal or the logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnerError {
    /// There is no `:` between the name and the description.
    #[error(
        "missing ':' in agent request '{request}'; write it as 'name:description', e.g. 'triage-bot:labels new issues'"
    )]
    MissingSeparator {
        /// The whole request, escaped.
        request: String,
    },
    /// The name cannot become a crate and repository name.
    #[error(
        "invalid agent name '{name}': {reason}; use 1-64 lowercase ascii letters, digits or '-', starting with a \
         letter, e.g. 'triage-bot'"
    )]
    InvalidName {
        /// The name, escaped.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The description is empty or only whitespace.
    #[error("empty description for agent '{name}'; say after the ':' what the agent should do")]
    EmptyDescription {
        /// The agent's (valid) name.
        name: String,
    },
    /// The description is longer than [`MAX_DESCRIPTION_CHARS`](crate::MAX_DESCRIPTION_CHARS).
    #[error("description for agent '{name}' is {chars} characters long; shorten it to at most {max}")]
    DescriptionTooLong {
        /// The agent's (valid) name.
        name: String,
        /// The description's length in characters.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// The description contains a character that could hide or rewrite text where it is shown.
    #[error(
        "description for agent '{name}' contains the {kind} character '{character}' at position {position}; write \
         it on one line without control or bidirectional characters"
    )]
    ForbiddenCharacter {
        /// The agent's (valid) name.
        name: String,
        /// The character, escaped.
        character: String,
        /// What kind of character it is: `control` or `bidirectional`.
        kind: &'static str,
        /// Its position in the description, counted in characters from 0.
        position: usize,
    },
    /// `--archetype` names no built-in archetype.
    #[error("unknown archetype '{archetype}'; use one of: {known}")]
    UnknownArchetype {
        /// The name given, escaped.
        archetype: String,
        /// Every archetype's name.
        known: String,
    },
    /// `--tier` names no tier.
    #[error("unknown tier '{tier}'; use free, paid or enterprise")]
    UnknownTier {
        /// The name given, escaped.
        tier: String,
    },
    /// A file or process step failed.
    #[error("could not {what}: {reason}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
}

/// Why a tool call failed, or was refused. The message goes back to the model as the call's result, so it says
/// what to do differently; every outside value in it is escaped and cut short.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// No tool of this name.
    #[error("unknown tool '{tool}'; the tools are: {known}")]
    Unknown {
        /// The name asked for, escaped.
        tool: String,
        /// The tools there are.
        known: String,
    },
    /// The agent does not have this tool.
    #[error(
        "the tool '{tool}' is not assigned to agent '{agent}'; only a person can assign it (`tools assign {agent} <tool>`)"
    )]
    NotAssigned {
        /// The tool asked for, escaped.
        tool: String,
        /// The agent.
        agent: String,
    },
    /// The input does not fit the tool's schema or limits.
    #[error("invalid input for the tool '{tool}': {reason}")]
    InvalidInput {
        /// The tool.
        tool: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The terminal runs only allowlisted programs.
    #[error(
        "the program '{program}' is not allowed; the terminal runs only: {allowed} (give a bare name; a person can allow more in the terminal's configuration)"
    )]
    NotAllowed {
        /// The program asked for, escaped.
        program: String,
        /// The allowlist.
        allowed: String,
    },
    /// An allowed program or an interpreter is not installed where programs are looked up.
    #[error(
        "the program '{program}' is not installed in {path}; install it or add its directory to the tools' search path"
    )]
    ProgramMissing {
        /// The program.
        program: String,
        /// Where it was looked for.
        path: String,
    },
    /// A working directory outside the one the terminal is confined to.
    #[error("the working directory '{cwd}' is outside '{root}'; give a directory inside it, relative, without '..'")]
    OutsideRoot {
        /// The directory asked for, escaped.
        cwd: String,
        /// The directory the terminal is confined to.
        root: String,
    },
    /// The program could not be started.
    #[error("cannot run '{program}'")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: hive_ecosystem::process::ProcessError,
    },
    /// A scratch directory or file could not be made.
    #[error("cannot prepare a scratch directory for '{tool}'")]
    Scratch {
        /// The tool.
        tool: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Web search has no provider.
    #[error("web search is off: no provider is configured; a person can configure one (a SearXNG instance's url)")]
    SearchOff,
    /// The search provider failed or could not be reached.
    #[error("the search provider at '{url}' failed: {reason}")]
    SearchFailed {
        /// The provider's url, credentials redacted.
        url: String,
        /// Why.
        reason: String,
    },
    /// The hive database failed.
    #[error(transparent)]
    Memory(#[from] hive_cerebrum::MemoryError),
    /// The hive database's writer is gone or failed.
    #[error("the hive database's writer failed")]
    Scribe(#[from] hive_cerebrum::ScribeError),
}
