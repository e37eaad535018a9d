//! `code_interpreter`: runs a snippet of Python (`python3 -I`) or JavaScript (`node`) in a fresh temporary
//! directory, which is its working directory, `HOME` and `TMPDIR` and is removed afterwards; the code travels in a
//! file there (never on a command line), the environment is empty but `PATH`, and the run is killed with every
//! process it started after a timeout, its output capped. This bounds a run; it is not a sandbox: the code can
//! read what this user can read and reach the network.

use std::{path::PathBuf, time::Duration};

use hive_ecosystem::process::{CommandSpec, run};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{CallContext, CommandRun, Tool, ToolError, find_program, path_value};

/// Longest snippet accepted, in bytes.
pub const MAX_CODE: usize = 64 << 10;

/// The languages it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// Python 3, run by `python3 -I -B` (isolated: no user site, no `PYTHON*` variables, no bytecode files).
    Python,
    /// JavaScript, run by `node`.
    Javascript,
}

impl Language {
    fn file(self) -> &'static str {
        match self {
            Language::Python => "main.py",
            Language::Javascript => "main.js",
        }
    }
}

/// The interpreter's set-up.
#[derive(Debug, Clone)]
pub struct InterpreterConfig {
    /// The Python program, by bare name.
    pub python: String,
    /// The JavaScript program, by bare name.
    pub node: String,
    /// A run is killed, with everything it started, after this long.
    pub timeout: Duration,
    /// At most this many bytes of stdout and of stderr are kept.
    pub output_cap: usize,
}

impl Default for InterpreterConfig {
    /// `python3` and `node`, 30 s per run, 64 KiB of each stream.
    fn default() -> InterpreterConfig {
        InterpreterConfig {
            python: "python3".to_owned(),
            node: "node".to_owned(),
            timeout: Duration::from_secs(30),
            output_cap: 64 << 10,
        }
    }
}

/// What the model asks to run.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunCode {
    /// The language.
    pub language: Language,
    /// The program text.
    pub code: String,
}

/// The code interpreter tool.
#[derive(Debug, Clone)]
pub struct CodeInterpreter {
    config: InterpreterConfig,
    search_path: Vec<PathBuf>,
}

impl CodeInterpreter {
    /// An interpreter as `config` sets it up, finding the programs in `search_path`.
    pub fn new(config: InterpreterConfig, search_path: Vec<PathBuf>) -> CodeInterpreter {
        CodeInterpreter { config, search_path }
    }

    /// The interpreter program for `language`, if it is installed.
    pub fn program(&self, language: Language) -> Option<PathBuf> {
        let name = match language {
            Language::Python => &self.config.python,
            Language::Javascript => &self.config.node,
        };
        find_program(name, &self.search_path)
    }
}

impl Tool for CodeInterpreter {
    type Input = RunCode;
    type Output = CommandRun;

    fn name(&self) -> &'static str {
        "code_interpreter"
    }

    fn description(&self) -> &'static str {
        "Runs a Python 3 or JavaScript (node) program in a fresh temporary directory and returns its exit code and \
         output. Print what you want to see."
    }

    fn input_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "language": { "type": "string", "enum": ["python", "javascript"] },
                "code": { "type": "string", "description": "the whole program" }
            },
            "required": ["language", "code"],
            "additionalProperties": false
        })
    }

    async fn call(&self, input: RunCode, _context: &CallContext) -> Result<CommandRun, ToolError> {
        let invalid = |reason: String| ToolError::InvalidInput { tool: "code_interpreter".to_owned(), reason };
        if input.code.len() > MAX_CODE {
            return Err(invalid(format!("the code is {} bytes long, more than {MAX_CODE}", input.code.len())));
        }
        let program = self.program(input.language).ok_or_else(|| ToolError::ProgramMissing {
            program: match input.language {
                Language::Python => self.config.python.clone(),
                Language::Javascript => self.config.node.clone(),
            },
            path: path_value(&self.search_path).to_string_lossy().into_owned(),
        })?;
        let scratch = |source| ToolError::Scratch { tool: "code_interpreter".to_owned(), source };
        // Removed when dropped: after the run, or when the call is dropped mid-way.
        let dir = tempfile::Builder::new().prefix("hive-code-").tempdir().map_err(scratch)?;
        let file = input.language.file();
        std::fs::write(dir.path().join(file), &input.code).map_err(scratch)?;
        let args: &[&str] = match input.language {
            Language::Python => &["-I", "-B", file],
            Language::Javascript => &[file],
        };
        let spec = CommandSpec::new(&program, args, dir.path())
            .timeout(self.config.timeout)
            .output_cap(self.config.output_cap)
            .env_clear()
            .env("PATH", path_value(&self.search_path))
            .env("HOME", dir.path())
            .env("TMPDIR", dir.path())
            .env("LC_ALL", "C.UTF-8")
            .kill_tree();
        let output =
            run(&spec).await.map_err(|source| ToolError::Spawn { program: program.display().to_string(), source })?;
        Ok(CommandRun::from_output(output))
    }

    fn mock(&self, input: &RunCode) -> CommandRun {
        CommandRun {
            exit_code: Some(0),
            stdout: format!("mock: ran {} bytes of {:?}\n", input.code.len(), input.language),
            stderr: String::new(),
            truncated: false,
            timed_out: false,
        }
    }
}
