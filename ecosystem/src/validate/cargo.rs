//! clippy and rustfmt for a cargo package or workspace: `cargo clippy --message-format=json` read as cargo's JSON
//! messages, `cargo fmt --check` read as the files whose formatting differs.

use std::path::Path;

use serde::Deserialize;

use super::{Context, Finding, LinterRun, LinterStatus, Severity, ended, failed, missing, relative_to, stderr_reason};

/// `cargo clippy --message-format=json --workspace --all-targets --offline` in the root (every member of a
/// workspace, not only its root package), built in the caller's target directory or a temporary one.
pub(crate) async fn clippy(cx: &Context<'_>) -> LinterRun {
    let Some(cargo) = cx.find("cargo") else { return missing("clippy", "cargo") };
    let scratch;
    let target = match &cx.options.target_dir {
        Some(dir) => dir.clone(),
        None => match tempfile::Builder::new().prefix("hive-validate-").tempdir() {
            Ok(dir) => {
                scratch = dir;
                scratch.path().to_path_buf()
            }
            Err(e) => return failed("clippy", format!("no temporary target directory: {e}")),
        },
    };
    let mut args: Vec<std::ffi::OsString> =
        ["clippy", "--message-format=json", "--workspace", "--all-targets", "--offline", "--target-dir"]
            .map(Into::into)
            .into();
    args.push(target.into_os_string());
    // cargo writes a `Cargo.lock` where there is none; validating must leave the tree as it was.
    let lock = cx.dir.join("Cargo.lock");
    let had_lock = std::fs::symlink_metadata(&lock).is_ok();
    let out = cx.run(&cx.command(&cargo, args)).await;
    if !had_lock
        && let Err(e) = std::fs::remove_file(&lock)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %lock.display(), error = %e, "could not remove the Cargo.lock clippy wrote");
    }
    let out = match out {
        Ok(out) => out,
        Err(status) => return ended("clippy", status),
    };
    if let Some(tool) = missing_subcommand(&out.stderr_text(), "clippy") {
        return missing("clippy", tool);
    }
    let findings = parse_clippy(&out.stdout_text(), cx.dir);
    // A build that stopped at compile errors did its job: the errors are the findings. One that failed without a
    // single error (no network for a dependency, a broken manifest) checked nothing.
    if !out.success() && !findings.iter().any(|finding| finding.severity == Severity::Error) {
        return failed("clippy", stderr_reason(&out));
    }
    LinterRun { linter: "clippy".to_owned(), status: LinterStatus::Ran, findings }
}

/// `cargo fmt --check` in the root: one finding per file whose formatting differs, at the first line that does.
pub(crate) async fn rustfmt(cx: &Context<'_>) -> LinterRun {
    let Some(cargo) = cx.find("cargo") else { return missing("rustfmt", "cargo") };
    let out = match cx.run(&cx.command(&cargo, ["fmt", "--all", "--check", "--", "--color", "never"])).await {
        Ok(out) => out,
        Err(status) => return ended("rustfmt", status),
    };
    if let Some(tool) = missing_subcommand(&out.stderr_text(), "fmt") {
        return missing("rustfmt", tool);
    }
    let findings = parse_rustfmt(&out.stdout_text(), cx.dir);
    // Exit 1 with diffs is what `--check` is for; without any, rustfmt could not read a file (a syntax error).
    if !out.success() && findings.is_empty() {
        return failed("rustfmt", stderr_reason(&out));
    }
    LinterRun { linter: "rustfmt".to_owned(), status: LinterStatus::Ran, findings }
}

/// The tool cargo says it lacks for `cargo <subcommand>` (`cargo-clippy` or `cargo-fmt`), from its stderr: rustup's
/// "is not installed for the toolchain" or cargo's own "no such command".
fn missing_subcommand(stderr: &str, subcommand: &str) -> Option<String> {
    let not_installed = stderr.contains("is not installed for the toolchain")
        || stderr.contains(&format!("no such command: `{subcommand}`"));
    not_installed.then(|| format!("cargo-{subcommand}"))
}

/// One line of cargo's JSON output; only compiler messages matter.
#[derive(Deserialize)]
struct CargoLine {
    reason: String,
    manifest_path: Option<String>,
    message: Option<Diagnostic>,
}

/// A rustc (or clippy) diagnostic, as much as a finding needs.
#[derive(Deserialize)]
struct Diagnostic {
    message: String,
    level: String,
    code: Option<Code>,
    #[serde(default)]
    spans: Vec<Span>,
}

#[derive(Deserialize)]
struct Code {
    code: String,
}

#[derive(Deserialize)]
struct Span {
    file_name: String,
    line_start: u32,
    column_start: u32,
    is_primary: bool,
}

/// Findings from `cargo clippy --message-format=json` output (one JSON object per line; other lines, such as a
/// wrapper's text, are skipped). A diagnostic reported for several targets (the library and its tests) is one
/// finding. Levels: `error` (and rustc's internal errors) is an error, `warning` a warning, `note` and `help`
/// advice; summaries without a place (`failure-note`, "aborting due to ...") are not findings.
pub(crate) fn parse_clippy(stdout: &str, root: &Path) -> Vec<Finding> {
    let mut findings: Vec<Finding> = Vec::new();
    for line in stdout.lines().filter(|line| line.starts_with('{')) {
        let Ok(CargoLine { reason, manifest_path, message: Some(diagnostic) }) = serde_json::from_str(line) else {
            continue;
        };
        if reason != "compiler-message" {
            continue;
        }
        let severity = match diagnostic.level.as_str() {
            "error" | "error: internal compiler error" => Severity::Error,
            "warning" => Severity::Warning,
            "note" | "help" => Severity::Info,
            _ => continue,
        };
        let primary = diagnostic.spans.iter().find(|span| span.is_primary).or(diagnostic.spans.first());
        let (file, line, column) = match primary {
            Some(span) => (relative_to(root, &span.file_name), Some(span.line_start), Some(span.column_start)),
            // An error with no place in the source (a missing crate root) still stops the build: it is said
            // against the manifest. A spanless summary is not a finding.
            None if severity == Severity::Error && !diagnostic.message.starts_with("aborting due to") => {
                (manifest_path.map_or_else(|| "Cargo.toml".to_owned(), |path| relative_to(root, &path)), None, None)
            }
            None => continue,
        };
        let rule = diagnostic.code.map_or_else(|| diagnostic.level.clone(), |code| code.code);
        let finding =
            Finding { linter: "clippy".to_owned(), file, line, column, rule, severity, message: diagnostic.message };
        if !findings.contains(&finding) {
            findings.push(finding);
        }
    }
    findings
}

/// Findings from `cargo fmt --check` output: each `Diff in <path>:<line>:` (or the older `Diff in <path> at line
/// <line>:`) header names a file and the first line that differs; a file is one finding however many places
/// differ.
pub(crate) fn parse_rustfmt(stdout: &str, root: &Path) -> Vec<Finding> {
    let mut findings: Vec<Finding> = Vec::new();
    for header in stdout.lines().filter_map(|line| line.strip_prefix("Diff in ")?.strip_suffix(':')) {
        let (path, line) = match header.rsplit_once(" at line ") {
            Some((path, line)) => (path, line.parse().ok()),
            None => match header.rsplit_once(':') {
                Some((path, line)) if line.parse::<u32>().is_ok() => (path, line.parse().ok()),
                _ => (header, None),
            },
        };
        let file = relative_to(root, path);
        if findings.iter().any(|finding| finding.file == file) {
            continue;
        }
        findings.push(Finding {
            linter: "rustfmt".to_owned(),
            file,
            line,
            column: None,
            rule: "fmt".to_owned(),
            severity: Severity::Warning,
            message: "not formatted as `cargo fmt` would format it".to_owned(),
        });
    }
    findings
}
