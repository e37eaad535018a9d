//! Agents by command for hive: parses and validates `spawn agent name:description` requests; [`llm`], the
//! proposal engine that thinks with any OpenAI-compatible language model, falling back to the rules; and
//! [`tools`], what agents may call (a terminal, a code interpreter, the hive's knowledge, web search), each only
//! while it is assigned to them.
//!
//! A request names a new agent and says what it should do. The name becomes a crate and a repository name, so it
//! is held to the strictest rules of both; the description becomes documentation, so it must be one short line of
//! printable text. Nothing here touches the disk or the network: a valid [`AgentSpec`] is only a promise that the
//! values are safe to use.
//!
//! ```
//! use hive_spawner::AgentSpec;
//!
//! let spec = AgentSpec::parse("triage-bot: labels new issues").unwrap();
//! assert_eq!(spec.name(), "triage-bot");
//! assert_eq!(spec.description(), "labels new issues");
//!
//! let err = AgentSpec::parse("../x:escape").unwrap_err();
//! assert!(err.to_string().starts_with("invalid agent name '../x'"));
//! ```

mod archetype;
mod author;
mod check;
mod error;
pub mod llm;
mod render;
mod spawn;
pub mod tools;

pub use crate::{
    archetype::{Archetype, Tier},
    author::{Author, Authored, DEFAULT_ROUNDS},
    check::{CheckOptions, TestReport, test_crate},
    error::{SpawnerError, ToolError},
    render::{RenderedCrate, RenderedFile, render, render_for},
    spawn::{
        AgentRecord, AgentState, LivePolicy, SpawnError, SpawnRequest, SpawnSettings, Spawner, agent_service,
        review_branch,
    },
};

use serde::{Deserialize, Serialize};

/// The longest agent name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// The longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;

/// How much of a hostile value an error message quotes, in characters.
const QUOTED_CHARS: usize = 80;

/// Rust keywords that fit the character rules: cargo refuses them as package names.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate", "do", "dyn", "else",
    "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "macro", "match", "mod",
    "move", "mut", "override", "priv", "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true",
    "try", "type", "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Built-in crates, which cargo refuses as package names.
const BUILT_IN_CRATES: &[&str] = &["alloc", "core", "std", "test"];

/// Device names that Windows file systems refuse as file or directory names.
const WINDOWS_DEVICES: &[&str] = &[
    "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8", "com9", "lpt1", "lpt2",
    "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// A validated request for a new agent: a name and what the agent should do.
///
/// Only [`AgentSpec::parse`], [`AgentSpec::new`] and deserialization (which validates too) make one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawAgentSpec")]
pub struct AgentSpec {
    name: String,
    description: String,
}

/// The unvalidated shape that deserialization goes through.
#[derive(Deserialize)]
struct RawAgentSpec {
    name: String,
    description: String,
}

impl TryFrom<RawAgentSpec> for AgentSpec {
    type Error = SpawnerError;
    fn try_from(raw: RawAgentSpec) -> Result<AgentSpec, SpawnerError> {
        AgentSpec::new(&raw.name, &raw.description)
    }
}

impl AgentSpec {
    /// Parses `name:description`, the argument of `spawn agent`.
    ///
    /// The text is split at the first `:`; whitespace around the name and the description is ignored, so
    /// `triage-bot: labels new issues` works. The description may itself contain `:`.
    pub fn parse(request: &str) -> Result<AgentSpec, SpawnerError> {
        let Some((name, description)) = request.split_once(':') else {
            return Err(SpawnerError::MissingSeparator { request: quote(request) });
        };
        AgentSpec::new(name, description)
    }

    /// Reads what follows `spawn agent`: `name:description`, or a description alone (no `:` after a first word
    /// without spaces), whose name is made from its first words (`labels new issues` -> `labels-new-issues`).
    pub fn from_request(request: &str) -> Result<AgentSpec, SpawnerError> {
        match request.split_once(':') {
            Some((name, _)) if !name.trim().contains(char::is_whitespace) => AgentSpec::parse(request),
            _ => AgentSpec::new(&derive_name(request), request),
        }
    }

    /// Validates a name and a description given separately; whitespace around either is ignored.
    pub fn new(name: &str, description: &str) -> Result<AgentSpec, SpawnerError> {
        let name = validate_name(name.trim())?;
        let description = validate_description(&name, description.trim())?;
        Ok(AgentSpec { name, description })
    }

    /// The agent's name: 1-64 lowercase ascii letters, digits or `-`, starting with a letter.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the agent should do: one line of at most 500 printable characters.
    pub fn description(&self) -> &str {
        &self.description
    }
}

/// A name from a description's first ascii words: lowercase, joined by `-`, at most four words and 40 characters,
/// starting with a letter (`agent` when nothing is left).
fn derive_name(description: &str) -> String {
    let lowered = description.to_ascii_lowercase();
    let words = lowered
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .skip_while(|w| !w.starts_with(|c: char| c.is_ascii_lowercase()));
    let mut name = String::new();
    for word in words.take(4) {
        if name.len() + word.len() + 1 > 40 {
            break;
        }
        if !name.is_empty() {
            name.push('-');
        }
        name.push_str(word);
    }
    if name.is_empty() || validate_name(&name).is_err() {
        // A keyword or reserved name on its own: made distinct rather than refused.
        name = if name.is_empty() { "agent".to_owned() } else { format!("{name}-agent") };
    }
    name
}

pub(crate) fn validate_name(name: &str) -> Result<String, SpawnerError> {
    let fail = |reason| Err(SpawnerError::InvalidName { name: quote(name), reason });
    let Some(first) = name.chars().next() else {
        return fail("the name is empty");
    };
    if name.chars().count() > MAX_NAME_CHARS {
        return fail("longer than 64 characters");
    }
    if !first.is_ascii_lowercase() {
        return fail("it must start with a lowercase ascii letter");
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return fail("forbidden character");
    }
    if [KEYWORDS, BUILT_IN_CRATES, WINDOWS_DEVICES].iter().any(|reserved| reserved.contains(&name)) {
        return fail("reserved by rust or the file system");
    }
    Ok(name.to_owned())
}

fn validate_description(name: &str, description: &str) -> Result<String, SpawnerError> {
    if description.is_empty() {
        return Err(SpawnerError::EmptyDescription { name: name.to_owned() });
    }
    let chars = description.chars().count();
    if chars > MAX_DESCRIPTION_CHARS {
        return Err(SpawnerError::DescriptionTooLong { name: name.to_owned(), chars, max: MAX_DESCRIPTION_CHARS });
    }
    for (position, c) in description.chars().enumerate() {
        let kind = if c.is_control() {
            "control"
        } else if is_bidi_control(c) {
            "bidirectional"
        } else {
            continue;
        };
        return Err(SpawnerError::ForbiddenCharacter {
            name: name.to_owned(),
            character: c.escape_debug().to_string(),
            kind,
            position,
        });
    }
    Ok(description.to_owned())
}

/// Characters that reorder text when displayed ("Trojan Source", CVE-2021-42574); `char::is_control` misses them.
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Escapes a value for an error message and cuts it short.
pub(crate) fn quote(value: &str) -> String {
    let escaped: String = value.escape_debug().collect();
    match escaped.char_indices().nth(QUOTED_CHARS) {
        Some((cut, _)) => format!("{}...", &escaped[..cut]),
        None => escaped,
    }
}

#[cfg(test)]
mod tests;
