//! What agents can do besides thinking: [`Tool`]s with typed input and output, each describing its input as a JSON
//! schema for the OpenAI `tools` array; the [`ToolRegistry`] of the built-ins ([`Terminal`], [`CodeInterpreter`],
//! [`KnowledgeTool`], [`WebSearch`]); and the [`Toolbox`] an agent holds at run time, which calls a tool only while
//! the hive database says the agent has it (assignments change while the hive runs, so every call asks).
//!
//! A tool's output goes back to a language model, so it is bounded and redacted: every string in it passes the
//! configured secrets' [`Redactor`]. With [`ToolsConfig::mock`] every tool answers a deterministic mock instead of
//! acting, for simulations and demos.
//!
//! ```
//! use hive_spawner::tools::{BUILTIN_TOOLS, ToolRegistry, ToolsConfig};
//!
//! let registry = ToolRegistry::builtin(ToolsConfig::new("/srv/work"), None);
//! assert_eq!(registry.names(), ["code_interpreter", "terminal", "web_search"]);
//! assert!(BUILTIN_TOOLS.contains(&"knowledge"));
//! ```

mod interpreter;
pub mod knowledge;
mod terminal;
mod web_search;

use std::{collections::BTreeMap, ffi::OsString, future::Future, path::PathBuf, sync::Arc};

use async_trait::async_trait;
use hive_cerebrum::{AuditEntry, Redactor, ScribeHandle, ToolAssignment};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};

pub use self::{
    interpreter::{CodeInterpreter, InterpreterConfig, Language, MAX_CODE, RunCode},
    knowledge::{KnowledgeOp, KnowledgeOutput, KnowledgeTool, MAX_KEY, MAX_NOTE, apply as apply_knowledge, check_key},
    terminal::{CommandRun, RunCommand, Terminal, TerminalConfig},
    web_search::{SearchProvider, SearchQuery, SearchResult, WebSearch, WebSearchConfig},
};
pub use crate::error::ToolError;
use crate::{AgentSpec, SpawnerError};

/// The built-in tools' names, the only names an agent can be assigned.
pub const BUILTIN_TOOLS: [&str; 4] = ["code_interpreter", "knowledge", "terminal", "web_search"];

/// Who is calling a tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallContext {
    /// The agent.
    pub agent: AgentId,
}

/// One tool: a name, a description and an input schema for the model, and the call itself.
pub trait Tool: Send + Sync + 'static {
    /// What the model sends, as JSON.
    type Input: DeserializeOwned + Send;
    /// What goes back to the model, as JSON.
    type Output: Serialize + Send;

    /// The name the model calls it by (one of [`BUILTIN_TOOLS`] for the built-ins).
    fn name(&self) -> &'static str;

    /// What it does, for the model.
    fn description(&self) -> &'static str;

    /// [`Tool::Input`] as a JSON schema (an object schema, as the OpenAI `parameters` field wants).
    fn input_schema(&self) -> Value;

    /// Does it.
    fn call(
        &self,
        input: Self::Input,
        context: &CallContext,
    ) -> impl Future<Output = Result<Self::Output, ToolError>> + Send;

    /// What it would answer, deterministically, without doing anything.
    fn mock(&self, input: &Self::Input) -> Self::Output;
}

/// A [`Tool`] with its types erased, so one registry holds them all.
#[async_trait]
trait DynTool: Send + Sync {
    fn definition(&self) -> Value;
    async fn call_json(&self, arguments: Value, context: &CallContext, mock: bool) -> Result<Value, ToolError>;
}

#[async_trait]
impl<T: Tool> DynTool for T {
    fn definition(&self) -> Value {
        json!({
            "type": "function",
            "function": { "name": Tool::name(self), "description": self.description(), "parameters": self.input_schema() }
        })
    }

    async fn call_json(&self, arguments: Value, context: &CallContext, mock: bool) -> Result<Value, ToolError> {
        let input: T::Input = serde_json::from_value(arguments)
            .map_err(|e| ToolError::InvalidInput { tool: Tool::name(self).to_owned(), reason: e.to_string() })?;
        let output = if mock { self.mock(&input) } else { self.call(input, context).await? };
        serde_json::to_value(output)
            .map_err(|e| ToolError::InvalidInput { tool: Tool::name(self).to_owned(), reason: e.to_string() })
    }
}

/// How the built-in tools are set up. Library code reads no environment: the binary fills this in.
#[derive(Debug, Clone)]
pub struct ToolsConfig {
    /// The terminal's programs and confinement.
    pub terminal: TerminalConfig,
    /// The code interpreter's programs and limits.
    pub interpreter: InterpreterConfig,
    /// The search provider, off by default.
    pub web_search: WebSearchConfig,
    /// Where programs are looked up, in order (the child processes' `PATH`).
    pub search_path: Vec<PathBuf>,
    /// Secret values redacted from every tool's output (credential shapes are redacted anyway).
    pub secrets: Vec<String>,
    /// Answer deterministic mocks instead of acting.
    pub mock: bool,
}

impl ToolsConfig {
    /// Defaults, with the terminal confined to `root`: see [`TerminalConfig::new`], [`InterpreterConfig::default`]
    /// and [`WebSearchConfig::default`]; programs are looked up in `/usr/local/bin`, `/usr/bin` and `/bin`.
    pub fn new(root: impl Into<PathBuf>) -> ToolsConfig {
        ToolsConfig {
            terminal: TerminalConfig::new(root),
            interpreter: InterpreterConfig::default(),
            web_search: WebSearchConfig::default(),
            search_path: ["/usr/local/bin", "/usr/bin", "/bin"].into_iter().map(PathBuf::from).collect(),
            secrets: Vec::new(),
            mock: false,
        }
    }

    /// Programs are looked up in these directories (such as the entries of the binary's `PATH`).
    pub fn search_path(mut self, dirs: impl IntoIterator<Item = PathBuf>) -> ToolsConfig {
        self.search_path = dirs.into_iter().collect();
        self
    }

    /// Every tool answers a deterministic mock instead of acting.
    pub fn mock(mut self, mock: bool) -> ToolsConfig {
        self.mock = mock;
        self
    }
}

/// Finds `program` (a bare name) in `dirs`: the first regular, executable file of that name.
pub(crate) fn find_program(program: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    dirs.iter()
        .map(|dir| dir.join(program))
        .find(|path| std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// `dirs` as a `PATH` value.
pub(crate) fn path_value(dirs: &[PathBuf]) -> OsString {
    std::env::join_paths(dirs).unwrap_or_default()
}

/// The tools an agent could be given, by name.
#[derive(Clone)]
pub struct ToolRegistry {
    tools: BTreeMap<&'static str, Arc<dyn DynTool>>,
    redactor: Redactor,
    mock: bool,
}

impl std::fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolRegistry").field("tools", &self.names()).field("mock", &self.mock).finish()
    }
}

impl ToolRegistry {
    /// A registry without tools.
    pub fn empty() -> ToolRegistry {
        ToolRegistry { tools: BTreeMap::new(), redactor: Redactor::default(), mock: false }
    }

    /// The built-ins as `config` sets them up; [`KnowledgeTool`] only with the hive database's writer, which it
    /// reads and writes through.
    pub fn builtin(config: ToolsConfig, scribe: Option<ScribeHandle>) -> ToolRegistry {
        let mut registry = ToolRegistry::empty()
            .with(Terminal::new(config.terminal, config.search_path.clone()))
            .with(CodeInterpreter::new(config.interpreter, config.search_path))
            .with(WebSearch::new(config.web_search));
        if let Some(scribe) = scribe {
            registry = registry.with(KnowledgeTool::new(scribe));
        }
        registry.redactor = Redactor::new(config.secrets);
        registry.mock = config.mock;
        registry
    }

    /// The registry with `tool` added (replacing one of the same name).
    pub fn with(mut self, tool: impl Tool) -> ToolRegistry {
        self.tools.insert(Tool::name(&tool), Arc::new(tool));
        self
    }

    /// The tools' names, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.tools.keys().copied().collect()
    }

    /// The OpenAI `tools` array entries of the named tools that exist, in the order given.
    pub fn definitions<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Vec<Value> {
        names.into_iter().filter_map(|name| self.tools.get(name)).map(|tool| tool.definition()).collect()
    }

    /// Calls the tool `name` with the model's `arguments`, its output redacted. Whether the agent may call it is
    /// the [`Toolbox`]'s question, not this one's.
    pub async fn call(&self, name: &str, arguments: Value, context: &CallContext) -> Result<Value, ToolError> {
        let tool = self
            .tools
            .get(name)
            .ok_or_else(|| ToolError::Unknown { tool: quote(name), known: self.names().join(", ") })?;
        let mut output = tool.call_json(arguments, context, self.mock).await?;
        redact_json(&self.redactor, &mut output);
        Ok(output)
    }
}

/// Every string in `value` redacted.
fn redact_json(redactor: &Redactor, value: &mut Value) {
    match value {
        Value::String(text) => {
            if let std::borrow::Cow::Owned(clean) = redactor.redact(text) {
                *text = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact_json(redactor, v)),
        Value::Object(map) => map.values_mut().for_each(|v| redact_json(redactor, v)),
        _ => {}
    }
}

/// An agent's id: a member or agent name, held to [`AgentSpec`]'s name rules (1-64 lowercase ascii letters, digits
/// or `-`, starting with a letter), so it is safe in the database, the audit trail and a terminal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct AgentId(String);

impl AgentId {
    /// Checks `name`.
    pub fn new(name: &str) -> Result<AgentId, SpawnerError> {
        crate::validate_name(name.trim()).map(AgentId)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AgentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&AgentSpec> for AgentId {
    fn from(spec: &AgentSpec) -> AgentId {
        AgentId(spec.name().to_owned())
    }
}

/// Checks that `tool` is a built-in tool's name, suggesting the nearest when it is not.
pub fn builtin_tool(tool: &str) -> Result<&'static str, ToolError> {
    BUILTIN_TOOLS
        .iter()
        .copied()
        .find(|known| *known == tool)
        .ok_or_else(|| ToolError::Unknown { tool: quote(tool), known: BUILTIN_TOOLS.join(", ") })
}

/// Lets `agent` call `tool` (a built-in), as `by`; audited with the change. `None` when it already could.
pub async fn assign(
    scribe: &ScribeHandle,
    agent: &AgentId,
    tool: &str,
    by: &str,
) -> Result<Option<ToolAssignment>, ToolError> {
    let tool = builtin_tool(tool)?;
    let (agent, by, now) = (agent.to_string(), by.to_owned(), now_unix());
    Ok(scribe.call(move |m| m.tools().assign(&agent, tool, &by, now)).await??)
}

/// Withdraws `tool` from `agent`, as `by`; audited with the change. `None` when it did not have it.
pub async fn remove(
    scribe: &ScribeHandle,
    agent: &AgentId,
    tool: &str,
    by: &str,
) -> Result<Option<ToolAssignment>, ToolError> {
    let tool = builtin_tool(tool)?;
    let (agent, by) = (agent.to_string(), by.to_owned());
    Ok(scribe.call(move |m| m.tools().remove(&agent, tool, &by)).await??)
}

/// The tools assigned to `agent`, or to every agent when `None`.
pub async fn assigned(scribe: &ScribeHandle, agent: Option<&AgentId>) -> Result<Vec<ToolAssignment>, ToolError> {
    let agent = agent.map(AgentId::to_string);
    Ok(scribe
        .call(move |m| match agent {
            Some(agent) => m.tools().of(&agent),
            None => m.tools().list(),
        })
        .await??)
}

/// What one agent holds at run time: the registry, the database that says which tools it has, and its id.
#[derive(Debug, Clone)]
pub struct Toolbox {
    registry: ToolRegistry,
    scribe: ScribeHandle,
    context: CallContext,
}

impl Toolbox {
    /// `agent`'s toolbox over `registry`, with assignments read through `scribe`.
    pub fn new(registry: ToolRegistry, scribe: ScribeHandle, agent: AgentId) -> Toolbox {
        Toolbox { registry, scribe, context: CallContext { agent } }
    }

    /// The agent.
    pub fn agent(&self) -> &AgentId {
        &self.context.agent
    }

    /// The names of the tools the agent has now and the registry holds, sorted.
    pub async fn assigned(&self) -> Result<Vec<String>, ToolError> {
        let mut names: Vec<String> = assigned(&self.scribe, Some(&self.context.agent))
            .await?
            .into_iter()
            .map(|a| a.tool)
            .filter(|tool| self.registry.tools.contains_key(tool.as_str()))
            .collect();
        names.sort();
        Ok(names)
    }

    /// The OpenAI `tools` array of the agent's tools now.
    pub async fn definitions(&self) -> Result<Vec<Value>, ToolError> {
        let names = self.assigned().await?;
        Ok(self.registry.definitions(names.iter().map(String::as_str)))
    }

    /// Calls `tool` if the agent has it now. A call to a tool it does not have (a model talked into asking for a
    /// terminal, say) is refused, and the refusal is recorded in the audit trail.
    pub async fn call(&self, tool: &str, arguments: Value) -> Result<Value, ToolError> {
        if !self.assigned().await?.iter().any(|name| name == tool) {
            let refused = ToolError::NotAssigned { tool: quote(tool), agent: self.context.agent.to_string() };
            self.record("tool_refused", tool, &refused.to_string()).await?;
            return Err(refused);
        }
        self.registry.call(tool, arguments, &self.context).await
    }

    /// Records something the agent tried with a tool in the audit trail (`action` on the tool, `why` as result).
    pub async fn record(&self, action: &str, tool: &str, why: &str) -> Result<(), ToolError> {
        let entry = AuditEntry {
            actor: format!("agent:{}", self.context.agent),
            repositories: Vec::new(),
            action: action.to_owned(),
            result: why.to_owned(),
            decision: format!("tool '{}'", quote(tool)),
        };
        Ok(self.scribe.call(move |m| m.audit().append(&entry).map(drop)).await??)
    }
}

use hive_support::unix_now as now_unix;

/// An outside name as an error quotes it: escaped and cut short.
pub(crate) fn quote(value: &str) -> String {
    crate::quote(value)
}

#[cfg(test)]
mod tests;
