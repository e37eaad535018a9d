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
