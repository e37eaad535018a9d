//! Running a discovered command by name, with caller-supplied arguments, an argument vector (never a shell), a
//! timeout and an output cap. Arguments are checked first, so hostile input is refused with a clear error rather
//! than reaching a program.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use crate::{
    BuildSystem, DetectError, detect, discover_commands,
    process::{CommandOutput, CommandSpec, ProcessError, run},
};

#[cfg(test)]
mod tests;

/// At most this many extra arguments are accepted.
pub const MAX_ARGS: usize = 256;
/// No extra argument may be longer than this many characters.
pub const MAX_ARG_CHARS: usize = 4096;

/// Why a command could not be executed. A command that ran and failed is not an error: see
/// [`CommandOutput::success`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecuteError {
    /// The directory could not be detected.
    #[error(transparent)]
    Detect(#[from] DetectError),
    /// Nothing in the directory offers commands.
    #[error(
        "no build system detected in '{dir}'; hive looks for Cargo.toml, package.json, pyproject.toml, a Makefile, go.mod, pom.xml, build.gradle, a Dockerfile or a justfile"
    )]
    NoCommands {
        /// The directory.
        dir: PathBuf,
    },
    /// No discovered command has this name.
    #[error("unknown command '{name}' in '{dir}'; available: {}", available.join(", "))]
    UnknownCommand {
        /// The name asked for, escaped.
        name: String,
        /// The directory.
        dir: PathBuf,
        /// Every command the directory offers.
        available: Vec<String>,
    },
    /// More than [`MAX_ARGS`] arguments.
    #[error("too many arguments: {count}, at most {MAX_ARGS} are accepted")]
    TooManyArguments {
        /// How many were given.
        count: usize,
    },
    /// An argument that no program should be given.
    #[error("argument {index} '{shown}' refused: {reason}")]
    HostileArgument {
        /// Its position among the extra arguments, from 0.
        index: usize,
        /// The argument, escaped and shortened for display.
        shown: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The program could not be started.
    #[error(transparent)]
    Spawn(#[from] ProcessError),
}

/// Runs the command named `name` (as [`discover_commands`] names it, such as `make:test`) in `dir`, with `args`
/// appended, killed with its whole process group after `timeout`, keeping at most `output_cap` bytes of each
/// stream.
///
/// Shell metacharacters in `args` are not an error: no shell ever sees them, so they reach the program verbatim.
/// NUL bytes, control characters, arguments over [`MAX_ARG_CHARS`] characters and more than [`MAX_ARGS`]
/// arguments are refused.
///
/// ```
/// use std::time::Duration;
/// use hive_ecosystem::execute_command;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("Makefile"), "hello:\n\t@echo hello $(WHO)\n").unwrap();
/// let args = ["WHO=$(whoami)".to_owned()];
/// let out = execute_command(dir.path(), "make:hello", &args, Duration::from_secs(30), 4096).await.unwrap();
/// assert!(out.success());
/// let err = execute_command(dir.path(), "make:nope", &[], Duration::from_secs(30), 4096).await.unwrap_err();
/// assert!(err.to_string().contains("available: make:hello"), "{err}");
/// # });
/// ```
pub async fn execute_command(
    dir: &Path,
    name: &str,
    args: &[String],
    timeout: Duration,
    output_cap: usize,
) -> Result<CommandOutput, ExecuteError> {
    check_args(args)?;
    let owned = dir.to_path_buf();
    let detection = tokio::task::spawn_blocking(move || detect(&owned))
        .await
        .map_err(|_| ExecuteError::NoCommands { dir: dir.to_path_buf() })??;
    let commands = discover_commands(dir, &detection).await;
    if commands.is_empty() {
        return Err(ExecuteError::NoCommands { dir: dir.to_path_buf() });
    }
    let Some(command) = commands.iter().find(|c| c.name == name) else {
        return Err(ExecuteError::UnknownCommand {
            name: shorten(name),
            dir: dir.to_path_buf(),
            available: commands.iter().map(|c| c.name.clone()).collect(),
        });
    };
    let (program, fixed) =
        command.argv.split_first().ok_or_else(|| ExecuteError::NoCommands { dir: dir.to_path_buf() })?;
    let mut argv: Vec<&str> = fixed.iter().map(String::as_str).collect();
    // `npm run` takes options of its own; `--` hands what follows to the script. pnpm and yarn pass them on as
    // they are.
    if command.system == BuildSystem::Npm && !args.is_empty() {
        argv.push("--");
    }
    argv.extend(args.iter().map(String::as_str));
    let spec = CommandSpec::new(program, argv, &command.cwd).timeout(timeout).output_cap(output_cap);
    Ok(run(&spec).await?)
}

/// Refuses argument lists no program should be given: more than [`MAX_ARGS`], or one with a NUL byte, a control
/// character or over [`MAX_ARG_CHARS`] characters. Shell metacharacters are fine: no shell sees them.
pub fn check_args(args: &[String]) -> Result<(), ExecuteError> {
    if args.len() > MAX_ARGS {
        return Err(ExecuteError::TooManyArguments { count: args.len() });
    }
    for (index, arg) in args.iter().enumerate() {
        let reason = if arg.contains('\0') {
            Some("contains a NUL byte")
        } else if arg.chars().any(char::is_control) {
            Some("contains a control character")
        } else if arg.chars().count() > MAX_ARG_CHARS {
            Some("longer than 4096 characters")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(ExecuteError::HostileArgument { index, shown: shorten(arg), reason });
        }
    }
    Ok(())
}

/// Escapes a value for an error message and keeps the first 60 characters of it.
fn shorten(value: &str) -> String {
    const SHOWN: usize = 60;
    let escaped = value.escape_debug().to_string();
    match escaped.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}...", &escaped[..cut]),
        None => escaped,
    }
}
