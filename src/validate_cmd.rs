//! `hive validate <target>`: a repository's own linters through `hive_ecosystem::validate`, the report on stdout
//! (text, or with `--json` the report as one JSON document and nothing else), `--html FILE` as a page, and exit 3
//! when what `--fail-on` names was found.
//!
//! The target is a directory, `local/<name>` in a `--workspace`, or an imported repository's id. Every string in the
//! report came from the repository or a tool, so the report is redacted once, before any form of it is written.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context;
use hive_ecosystem::{
    EcosystemManager, ImportId, Severity, ValidateError, ValidateOptions, ValidationReport, validate,
};

use crate::{
    cli::{ValidateArgs, ValidateFailOn},
    config::UsageError,
    findings::Findings,
    terminal,
};

pub async fn run(args: &ValidateArgs, state_dir: &Path, json: bool) -> anyhow::Result<()> {
    let dir = target_dir(args, state_dir)?;
    let options = ValidateOptions {
        timeout: Duration::from_secs(args.timeout),
        linters: (!args.linters.is_empty()).then(|| args.linters.clone()),
        target_dir: args.target_dir.clone(),
        search_path: None,
    };
    let report = validate(&dir, &options).await.map_err(|err| match err {
        // The directory went away or changed between the check above and the walk: still the target's fault.
        ValidateError::NotFound { .. } | ValidateError::NotADirectory { .. } | ValidateError::UnknownLinter { .. } => {
            UsageError::error(err.to_string())
        }
        err => anyhow::Error::new(err),
    })?;
    let report = redacted(&report)?;
    if let Some(path) = &args.html {
        hive_support::write_atomic_regular(path, report.to_html().as_bytes())
            .with_context(|| format!("cannot write the HTML report to '{}'", path.display()))?;
    }
    if json {
        println!("{}", terminal::json_line(serde_json::to_value(&report)?)?);
    } else {
        print!("{}", terminal::text(&report.to_text()));
        if let Some(path) = &args.html {
            println!("HTML report: {}", terminal::line(&path.display().to_string()));
        }
    }
    match args.fail_on {
        Some(fail_on) => check(&report, fail_on),
        None => Ok(()),
    }
}

/// `Err(Findings)` when the report meets `fail_on`, naming what it found.
fn check(report: &ValidationReport, fail_on: ValidateFailOn) -> anyhow::Result<()> {
    let mut found = Vec::new();
    if report.errors() > 0 {
        found.push(count(report.errors(), "error"));
    }
    let missing: Vec<&str> = report.missing().map(|run| run.linter.as_str()).collect();
    if !missing.is_empty() {
        found.push(format!("not installed: {}", missing.join(", ")));
    }
    let warnings = report.count(Severity::Warning);
    if fail_on == ValidateFailOn::Warning && warnings > 0 {
        found.push(count(warnings, "warning"));
    }
    if found.is_empty() {
        return Ok(());
    }
    Err(Findings::error(&format!("validation of '{}' found {}", report.dir.display(), found.join("; "))))
}

fn count(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

/// The report with every secret hive knows redacted from every string, whichever form it is written in.
fn redacted(report: &ValidationReport) -> anyhow::Result<ValidationReport> {
    let mut value = serde_json::to_value(report)?;
    terminal::redact_json(&mut value);
    Ok(serde_json::from_value(value)?)
}

/// The directory `args.target` names; a target that names none is a usage error saying what would.
fn target_dir(args: &ValidateArgs, state_dir: &Path) -> anyhow::Result<PathBuf> {
    let target = args.target.as_str();
    if let Some(workspace) = &args.workspace {
        return workspace_repo(workspace, target);
    }
    let path = Path::new(target);
    if path.is_dir() {
        return Ok(path.to_path_buf());
    }
    if path.exists() {
        return Err(UsageError::error(format!(
            "cannot validate '{target}': not a directory; give a repository's root directory"
        )));
    }
    if target.starts_with("local/") {
        return Err(UsageError::error(format!(
            "cannot validate '{target}': a local repository needs --workspace DIR, the directory that holds it"
        )));
    }
    if let Ok(id) = ImportId::parse(target) {
        let manager = EcosystemManager::new(state_dir);
        manager.show(id.as_str()).map_err(|err| {
            UsageError::error(format!(
                "cannot validate '{target}': {err}; `hive ecosystem list` shows the imported ones"
            ))
        })?;
        return Ok(manager.repo_dir(&id));
    }
    Err(UsageError::error(format!(
        "cannot validate '{target}': no such directory; give a repository's directory, local/<name> with --workspace \
         DIR, or an imported repository's id (`hive ecosystem list`)"
    )))
}

/// `local/<name>` in `workspace`: one plain directory name, so a target cannot climb out of the workspace.
fn workspace_repo(workspace: &Path, target: &str) -> anyhow::Result<PathBuf> {
    let Some(name) = target.strip_prefix("local/") else {
        return Err(UsageError::error(format!(
            "cannot validate '{target}' with --workspace: name a repository of the workspace as local/<name>"
        )));
    };
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.chars().any(char::is_control) {
        return Err(UsageError::error(format!(
            "cannot validate '{target}': '{name}' is not a repository name; give local/<name> with the name of a \
             directory in '{}'",
            workspace.display()
        )));
    }
    let dir = workspace.join(name);
    if !dir.is_dir() {
        return Err(UsageError::error(format!(
            "cannot validate '{target}': no directory '{}'; the workspace's repositories are its subdirectories",
            dir.display()
        )));
    }
    Ok(dir)
}
