//! `terminal`: runs one allowlisted program with an argument vector (no shell ever sees it, so `;`, `|` and `$(..)`
//! are only characters), in a directory confined to a root, with an empty environment but `PATH`, killed with its
//! whole process tree after a timeout, its output capped.

use std::{
    path::{Component, Path, PathBuf},
    time::Duration,
};

use hive_ecosystem::process::{CommandSpec, run};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{CallContext, Tool, ToolError, find_program, path_value, quote};

/// The terminal's set-up.
#[derive(Debug, Clone)]
pub struct TerminalConfig {
    /// The programs it may run, by bare name.
    pub allow: Vec<String>,
    /// The directory every run happens in or below.
    pub root: PathBuf,
    /// A run is killed, with everything it started, after this long.
    pub timeout: Duration,
    /// At most this many bytes of stdout and of stderr are kept.
    pub output_cap: usize,
}

impl TerminalConfig {
    /// `git`, `cargo` and `ls` only, confined to `root`, 60 s per run, 64 KiB of each stream.
    pub fn new(root: impl Into<PathBuf>) -> TerminalConfig {
        TerminalConfig {
            allow: ["git", "cargo", "ls"].into_iter().map(str::to_owned).collect(),
            root: root.into(),
            timeout: Duration::from_secs(60),
            output_cap: 64 << 10,
        }
    }

    /// Only these programs may run.
    pub fn allow<I: IntoIterator<Item = S>, S: Into<String>>(mut self, programs: I) -> TerminalConfig {
        self.allow = programs.into_iter().map(Into::into).collect();
        self
    }

    /// Runs are killed after `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> TerminalConfig {
        self.timeout = timeout;
        self
    }

    /// At most `bytes` of each stream are kept.
    pub fn output_cap(mut self, bytes: usize) -> TerminalConfig {
        self.output_cap = bytes;
        self
    }
}

/// The terminal tool.
#[derive(Debug, Clone)]
pub struct Terminal {
    config: TerminalConfig,
    search_path: Vec<PathBuf>,
}

/// What the model asks the terminal to run.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunCommand {
    /// The program, a bare name from the allowlist.
    pub program: String,
    /// Its arguments, each passed as it is.
    #[serde(default)]
    pub args: Vec<String>,
    /// The working directory, relative to the terminal's root (the root when absent).
    #[serde(default)]
    pub cwd: Option<String>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandRun {
    /// The exit code; `None` when a signal ended it (the timeout's included).
    pub exit_code: Option<i32>,
    /// What it wrote to stdout, up to the cap (lossy UTF-8).
    pub stdout: String,
    /// What it wrote to stderr, up to the cap (lossy UTF-8).
    pub stderr: String,
    /// Whether either stream was longer than the cap.
    pub truncated: bool,
    /// Whether the timeout killed it.
    pub timed_out: bool,
}

impl CommandRun {
    pub(crate) fn from_output(output: hive_ecosystem::process::CommandOutput) -> CommandRun {
        CommandRun {
            exit_code: output.code,
            stdout: output.stdout_text(),
            stderr: output.stderr_text(),
            truncated: output.truncated,
            timed_out: output.timed_out,
        }
    }
}

impl Terminal {
    /// A terminal as `config` sets it up, finding programs in `search_path`.
    pub fn new(config: TerminalConfig, search_path: Vec<PathBuf>) -> Terminal {
        Terminal { config, search_path }
    }

    /// The directory a run may use: `cwd` below the root, after links are followed.
    fn working_dir(&self, cwd: Option<&str>) -> Result<PathBuf, ToolError> {
        let root = self.config.root.canonicalize().map_err(|_| ToolError::OutsideRoot {
            cwd: quote(cwd.unwrap_or(".")),
            root: self.config.root.display().to_string(),
        })?;
        let outside = || ToolError::OutsideRoot { cwd: quote(cwd.unwrap_or(".")), root: root.display().to_string() };
        let Some(cwd) = cwd else { return Ok(root) };
        let relative = Path::new(cwd);
        if !relative.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir)) {
            return Err(outside());
        }
        // A link inside the root may point out of it: the resolved directory is what counts.
        let dir = root.join(relative).canonicalize().map_err(|_| outside())?;
        if !dir.starts_with(&root) || !dir.is_dir() {
            return Err(outside());
        }
        Ok(dir)
    }
}

impl Tool for Terminal {
    type Input = RunCommand;
    type Output = CommandRun;

    fn name(&self) -> &'static str {
        "terminal"
    }

    fn description(&self) -> &'static str {
        "Runs one allowlisted program with arguments (no shell: pipes, redirections and variables are not \
         interpreted) in the working tree, and returns its exit code and output."
    }

    fn input_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "program": { "type": "string", "enum": self.config.allow, "description": "the program to run" },
                "args": { "type": "array", "items": { "type": "string" }, "description": "its arguments, one per item" },
                "cwd": { "type": "string", "description": "a directory relative to the working tree" }
            },
            "required": ["program"],
            "additionalProperties": false
        })
    }

    async fn call(&self, input: RunCommand, _context: &CallContext) -> Result<CommandRun, ToolError> {
        let program = input.program.as_str();
        if program.contains('/') || !self.config.allow.iter().any(|allowed| allowed == program) {
            return Err(ToolError::NotAllowed { program: quote(program), allowed: self.config.allow.join(", ") });
        }
        hive_ecosystem::check_args(&input.args)
            .map_err(|e| ToolError::InvalidInput { tool: "terminal".to_owned(), reason: e.to_string() })?;
        let cwd = self.working_dir(input.cwd.as_deref())?;
        let found = find_program(program, &self.search_path).ok_or_else(|| ToolError::ProgramMissing {
            program: program.to_owned(),
            path: path_value(&self.search_path).to_string_lossy().into_owned(),
        })?;
        let spec = CommandSpec::new(found, &input.args, &cwd)
            .timeout(self.config.timeout)
            .output_cap(self.config.output_cap)
            .env_clear()
            .env("PATH", path_value(&self.search_path))
            .env("LC_ALL", "C.UTF-8")
            .kill_tree();
        let output = run(&spec).await.map_err(|source| ToolError::Spawn { program: program.to_owned(), source })?;
        Ok(CommandRun::from_output(output))
    }

    fn mock(&self, input: &RunCommand) -> CommandRun {
        let line = std::iter::once(input.program.as_str()).chain(input.args.iter().map(String::as_str));
        CommandRun {
            exit_code: Some(0),
            stdout: format!("mock: {}\n", line.collect::<Vec<_>>().join(" ")),
            stderr: String::new(),
            truncated: false,
            timed_out: false,
        }
    }
}
