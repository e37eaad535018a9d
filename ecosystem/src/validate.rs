//! Validation: a repository's own linters, run where its files say they apply, and their findings normalised into
//! one report (file relative to the repository, line, column, rule, severity, message).
//!
//! Linters are detected from files only: `Cargo.toml` for clippy and rustfmt, Python files or manifests for ruff
//! (else flake8), an eslint dependency or configuration for the repository's own eslint, shell scripts for
//! shellcheck, and Markdown for the relative-link check written here (no offline tool does it). A linter that
//! applies but is not installed is reported as missing: neither a pass nor an error. Every tool runs through
//! [`crate::process::run`] with an argument vector, a timeout that kills its whole process tree, and a cleared
//! environment that holds only what a tool needs to find itself (never hive's tokens).
//!
//! Running a repository's linters runs its code: clippy builds its build scripts and procedural macros, eslint loads
//! its JavaScript configuration. Validate trees you would build.

use std::{
    ffi::OsString,
    io,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize};

use crate::process::{CommandOutput, CommandSpec, TOOL_ENV};

mod cargo;
mod eslint;
mod markdown;
mod python;
mod report;
mod shell;
#[cfg(test)]
mod tests;
mod tree;

/// Every linter's name, as [`ValidateOptions::linters`] and `LinterRun::linter` spell it, in the order they run.
pub const LINTERS: [&str; 7] = ["clippy", "rustfmt", "ruff", "flake8", "eslint", "shellcheck", "links"];

/// How to validate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidateOptions {
    /// How long each linter may run before it is killed and reported as [`LinterStatus::TimedOut`].
    pub timeout: Duration,
    /// Only these linters (names from [`LINTERS`]); `None` runs every linter that applies.
    pub linters: Option<Vec<String>>,
    /// Where cargo builds for clippy; `None` is a temporary directory removed afterwards, so the repository gets no
    /// `target/`. Give one to keep the build between runs.
    pub target_dir: Option<PathBuf>,
    /// The search path the linters are found in and run with; `None` is this process's `PATH`.
    pub search_path: Option<OsString>,
}

impl Default for ValidateOptions {
    /// Ten minutes per linter, every linter, a temporary target directory, this process's `PATH`.
    fn default() -> ValidateOptions {
        ValidateOptions { timeout: Duration::from_secs(600), linters: None, target_dir: None, search_path: None }
    }
}

/// What validation found in one directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationReport {
    /// The directory validated (absolute, links resolved).
    pub dir: PathBuf,
    /// One run per linter that applied, in [`LINTERS`] order.
    pub runs: Vec<LinterRun>,
}

/// One linter's part of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinterRun {
    /// The linter's name, one of [`LINTERS`].
    pub linter: String,
    /// Whether it ran.
    pub status: LinterStatus,
    /// What it found, in its own order.
    pub findings: Vec<Finding>,
}

/// Whether a linter ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LinterStatus {
    /// It ran and its output was read.
    Ran,
    /// It applies, but the tool is not installed: nothing was checked.
    Missing {
        /// The program that was not found, such as `shellcheck` or `node_modules/.bin/eslint`.
        tool: String,
    },
    /// It started but did not produce a report (a configuration error, a crash, output it could not read).
    Failed {
        /// Why, with the tool's own words where it gave some.
        reason: String,
    },
    /// It ran longer than [`ValidateOptions::timeout`] and was killed.
    TimedOut,
}

/// One problem a linter reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The linter that reported it.
    pub linter: String,
    /// The file, relative to the validated directory (as the tool named it when it lies outside).
    pub file: String,
    /// 1-based line, when the tool gave one.
    pub line: Option<u32>,
    /// 1-based column, when the tool gave one.
    pub column: Option<u32>,
    /// The tool's rule or code, such as `clippy::needless_return`, `F401`, `SC2086`, `fmt` or `broken-link`.
    pub rule: String,
    /// How bad it is.
    pub severity: Severity,
    /// The tool's message.
    pub message: String,
}

/// How bad a finding is, mapped from each tool's own levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Must be fixed: a compile error, a syntax error, a broken link, a lint the tool calls an error.
    Error,
    /// Should be fixed.
    Warning,
    /// Advice.
    Info,
}

impl Severity {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

impl ValidationReport {
    /// Every finding of every linter.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.runs.iter().flat_map(|run| &run.findings)
    }

    /// How many findings have `severity`.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings().filter(|finding| finding.severity == severity).count()
    }

    /// Findings with [`Severity::Error`], plus linters that failed to run or timed out. A missing linter is not
    /// counted: see [`ValidationReport::missing`].
    pub fn errors(&self) -> usize {
        let broken =
            self.runs.iter().filter(|run| matches!(run.status, LinterStatus::Failed { .. } | LinterStatus::TimedOut));
        self.count(Severity::Error) + broken.count()
    }

    /// The linters that applied but are not installed.
    pub fn missing(&self) -> impl Iterator<Item = &LinterRun> {
        self.runs.iter().filter(|run| matches!(run.status, LinterStatus::Missing { .. }))
    }

    /// No errors and no missing linter: everything that applies ran and found nothing worse than warnings.
    pub fn passed(&self) -> bool {
        self.errors() == 0 && self.missing().next().is_none()
    }

    /// The report as text: a summary line, then each linter's status and findings, one per line. Text from the
    /// repository (file names, messages) has its control characters escaped, so it cannot rewrite a terminal.
    pub fn to_text(&self) -> String {
        report::text(self)
    }

    /// The report as one self-contained HTML page (inline CSS, no script, nothing loaded from elsewhere); every
    /// string that came from the repository or a tool is HTML-escaped.
    pub fn to_html(&self) -> String {
        report::html(self)
    }
}

/// Why a directory could not be validated at all. A linter that fails is not an error here: it is reported in its
/// [`LinterRun`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValidateError {
    /// Nothing is at the path.
    #[error("cannot validate '{dir}': no such directory; give a repository's root directory")]
    NotFound {
        /// The path given.
        dir: PathBuf,
    },
    /// The path is not a directory.
    #[error("cannot validate '{dir}': not a directory; give a repository's root directory")]
    NotADirectory {
        /// The path given.
        dir: PathBuf,
    },
    /// The directory could not be read.
    #[error("cannot validate '{dir}': the directory cannot be read")]
    Unreadable {
        /// The path given.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A linter name that hive does not know.
    #[error("unknown linter '{name}'; the linters are {}", LINTERS.join(", "))]
    UnknownLinter {
        /// The name given (control characters escaped).
        name: String,
    },
}

/// Runs every linter that applies to `dir` (or those `options` names) and gathers their findings.
///
/// ```
/// use hive_ecosystem::{Severity, ValidateOptions, validate};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("README.md"), "[guide](docs/guide.md)\n").unwrap();
/// let report = validate(dir.path(), &ValidateOptions::default()).await.unwrap();
/// let finding = report.findings().next().unwrap();
/// assert_eq!((finding.file.as_str(), finding.line, finding.rule.as_str()), ("README.md", Some(1), "broken-link"));
/// assert_eq!(finding.severity, Severity::Error);
/// assert!(!report.passed());
/// # });
/// ```
pub async fn validate(dir: &Path, options: &ValidateOptions) -> Result<ValidationReport, ValidateError> {
    let selected = selection(options)?;
    let unreadable = |source| ValidateError::Unreadable { dir: dir.to_path_buf(), source };
    let meta = std::fs::metadata(dir).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => ValidateError::NotFound { dir: dir.to_path_buf() },
        _ => unreadable(source),
    })?;
    if !meta.is_dir() {
        return Err(ValidateError::NotADirectory { dir: dir.to_path_buf() });
    }
    // Tools name files by absolute paths with links resolved (eslint, ruff): one canonical root makes them relative.
    let root = std::fs::canonicalize(dir).map_err(unreadable)?;
    std::fs::read_dir(&root).map_err(unreadable)?;
    let walk_root = root.clone();
    let tree = tokio::task::spawn_blocking(move || tree::Tree::walk(&walk_root))
        .await
        .map_err(|e| unreadable(io::Error::other(e.to_string())))?;
    let cx = Context {
        dir: &root,
        options,
        search_path: options.search_path.clone().or_else(|| std::env::var_os("PATH")).unwrap_or_default(),
    };
    let wants = |name: &str| selected.iter().any(|s| s == name);
    let mut runs = Vec::new();
    if tree.has_cargo() {
        if wants("clippy") {
            runs.push(cargo::clippy(&cx).await);
        }
        if wants("rustfmt") {
            runs.push(cargo::rustfmt(&cx).await);
        }
    }
    if tree.has_python() {
        let tools: Vec<&str> = ["ruff", "flake8"].into_iter().filter(|tool| wants(tool)).collect();
        if !tools.is_empty() {
            runs.push(python::run(&cx, &tools).await);
        }
    }
    if wants("eslint") && eslint::applies(&root) {
        runs.push(eslint::run(&cx).await);
    }
    let scripts = tree.shell_scripts(&root);
    if wants("shellcheck") && !scripts.is_empty() {
        runs.push(shell::run(&cx, &scripts).await);
    }
    let documents = tree.markdown();
    if wants("links") && !documents.is_empty() {
        let (check_root, files) = (root.clone(), documents.to_vec());
        let checked = tokio::task::spawn_blocking(move || markdown::check(&check_root, &files)).await;
        runs.push(checked.unwrap_or_else(|e| failed("links", format!("the link check stopped: {e}"))));
    }
    Ok(ValidationReport { dir: root, runs })
}

/// The linters `options` selects, every name checked.
fn selection(options: &ValidateOptions) -> Result<Vec<String>, ValidateError> {
    let Some(names) = &options.linters else {
        return Ok(LINTERS.iter().map(|name| (*name).to_owned()).collect());
    };
    for name in names {
        if !LINTERS.contains(&name.as_str()) {
            return Err(ValidateError::UnknownLinter { name: name.escape_debug().to_string() });
        }
    }
    Ok(names.clone())
}

/// What every linter needs: the root, the options and the search path.
pub(crate) struct Context<'a> {
    dir: &'a Path,
    options: &'a ValidateOptions,
    search_path: OsString,
}

impl Context<'_> {
    /// `program` as found on the search path, if it is there. Relative entries (`.`, `bin`) are skipped: resolved
    /// against the repository, they would run the repository's own files as the linter.
    fn find(&self, program: &str) -> Option<PathBuf> {
        std::env::split_paths(&self.search_path)
            .filter(|dir| dir.is_absolute())
            .map(|dir| dir.join(program))
            .find(|path| is_executable(path))
    }

    /// `program args...` in the root, with the timeout, its tree killed at the end, and a cleared environment that
    /// holds only the search path and what tools need to find their toolchains and caches. A repository's files
    /// can make a tool run programs (a rustc wrapper, an eslint plugin): they never see hive's tokens.
    fn command<I, S>(&self, program: &Path, args: I) -> CommandSpec
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let mut spec = CommandSpec::new(program, args, self.dir)
            .timeout(self.options.timeout)
            .output_cap(OUTPUT_CAP)
            .env_clear()
            .kill_tree()
            .env("PATH", &self.search_path);
        for key in TOOL_ENV.iter().filter(|key| **key != "PATH") {
            if let Some(value) = std::env::var_os(key) {
                spec = spec.env(key, value);
            }
        }
        spec
    }

    /// Runs `spec`; a run that produced nothing to read is the status to report instead.
    async fn run(&self, spec: &CommandSpec) -> Result<CommandOutput, LinterStatus> {
        match crate::process::run(spec).await {
            Ok(out) if out.timed_out => Err(LinterStatus::TimedOut),
            Ok(out) if out.truncated => Err(LinterStatus::Failed {
                reason: format!("its output passed the limit of {} MiB; run it by hand", OUTPUT_CAP >> 20),
            }),
            Ok(out) => Ok(out),
            Err(e) => Err(LinterStatus::Failed { reason: hive_support::error_chain(&e) }),
        }
    }
}

/// The most output read from one linter run: clippy's JSON for a large workspace is tens of MiB at worst.
const OUTPUT_CAP: usize = 64 << 20;

/// `path` relative to `root` when it lies under it, without a leading `./`; otherwise as given.
pub(crate) fn relative_to(root: &Path, path: &str) -> String {
    let stripped = Path::new(path).strip_prefix(root).ok().and_then(|rel| rel.to_str());
    let rel = stripped.unwrap_or(path);
    rel.strip_prefix("./").unwrap_or(rel).to_owned()
}

/// Whether `path` is a regular file (links followed) that someone may execute.
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// A run whose tool is not installed.
fn missing(linter: &str, tool: impl Into<String>) -> LinterRun {
    LinterRun { linter: linter.to_owned(), status: LinterStatus::Missing { tool: tool.into() }, findings: Vec::new() }
}

/// A run that failed.
fn failed(linter: &str, reason: impl Into<String>) -> LinterRun {
    LinterRun {
        linter: linter.to_owned(),
        status: LinterStatus::Failed { reason: reason.into() },
        findings: Vec::new(),
    }
}

/// A run that ended in `status` with no findings.
fn ended(linter: &str, status: LinterStatus) -> LinterRun {
    LinterRun { linter: linter.to_owned(), status, findings: Vec::new() }
}

/// What a tool said on stderr, trimmed to its last lines (the error is at the end), for a [`LinterStatus::Failed`].
fn stderr_reason(out: &CommandOutput) -> String {
    let text = out.stderr_text();
    let lines: Vec<&str> = text.lines().map(str::trim_end).filter(|line| !line.is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(5)..].join("; ");
    let code = out.code.map_or_else(|| "a signal".to_owned(), |code| format!("exit code {code}"));
    if tail.is_empty() {
        format!("it ended with {code} and no message")
    } else {
        format!("it ended with {code}: {tail}")
    }
}
