//! The arguments of `hive validate`: what to validate, which linters, where the HTML report goes, and what fails.

use std::path::PathBuf;

use clap::Args;

/// Arguments of `hive validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// What to validate: a directory, `local/<name>` with `--workspace DIR`, or an imported repository's id (as
    /// `hive ecosystem list` prints it).
    #[arg(value_name = "TARGET")]
    pub target: String,

    /// The directory whose subdirectories are the `local/<name>` repositories (as for `hive run --workspace`).
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,

    /// Also write the report to FILE as one self-contained HTML page (replaced atomically; only a regular file).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,

    /// Run only this linter (repeatable); without it, every linter that applies runs.
    #[arg(long = "linter", value_name = "NAME", value_parser = clap::builder::PossibleValuesParser::new(hive_ecosystem::LINTERS))]
    pub linters: Vec<String>,

    /// Exit 3 when this is found: `error` (an error finding, a linter that failed, timed out or is not installed)
    /// or `warning` (that, or any warning).
    #[arg(long, value_enum, value_name = "WHAT")]
    pub fail_on: Option<ValidateFailOn>,

    /// Seconds each linter may run before it is stopped (and counted as an error); 1 to 86400 (one day).
    #[arg(long, value_name = "SECS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,

    /// Where cargo builds for clippy, kept between runs [default: a temporary directory, removed afterwards].
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<PathBuf>,
}

/// What makes `hive validate` exit 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ValidateFailOn {
    /// The report did not pass: an error finding, or a linter that failed, timed out or is not installed.
    Error,
    /// The report did not pass, or it has a warning.
    Warning,
}
