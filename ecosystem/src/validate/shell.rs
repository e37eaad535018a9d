//! shellcheck on the repository's shell scripts, read from its `json1` output. Scripts are passed as `./<path>`,
//! so a file named like an option (`-x.sh`) is still a file.

use std::{ffi::OsString, path::PathBuf};

use serde::Deserialize;

use super::{Context, Finding, LinterRun, LinterStatus, Severity, ended, failed, missing, relative_to, stderr_reason};

/// Scripts per shellcheck run: keeps the argument list far below the system's limit.
const BATCH: usize = 200;

/// `shellcheck -f json1 ./<script>...` in the root, in batches.
pub(crate) async fn run(cx: &Context<'_>, scripts: &[PathBuf]) -> LinterRun {
    let Some(shellcheck) = cx.find("shellcheck") else { return missing("shellcheck", "shellcheck") };
    let mut findings = Vec::new();
    for batch in scripts.chunks(BATCH) {
        let mut args: Vec<OsString> = vec!["-f".into(), "json1".into()];
        args.extend(batch.iter().map(|script| PathBuf::from(".").join(script).into_os_string()));
        let out = match cx.run(&cx.command(&shellcheck, args)).await {
            Ok(out) => out,
            Err(status) => return ended("shellcheck", status),
        };
        // 1 is "problems found"; 2 and up are files it could not read or options it did not take.
        if !matches!(out.code, Some(0 | 1)) {
            return failed("shellcheck", stderr_reason(&out));
        }
        match parse_shellcheck(&out.stdout_text(), cx.dir) {
            Ok(found) => findings.extend(found),
            Err(reason) => return failed("shellcheck", reason),
        }
    }
    LinterRun { linter: "shellcheck".to_owned(), status: LinterStatus::Ran, findings }
}

#[derive(Deserialize)]
struct Report {
    comments: Vec<Comment>,
}

#[derive(Deserialize)]
struct Comment {
    file: String,
    line: u32,
    column: u32,
    level: String,
    code: u32,
    message: String,
}

/// Findings from `shellcheck -f json1`: levels `error` and `warning` as they are, `info` and `style` as advice;
/// rules as shellcheck's wiki names them (`SC2086`).
pub(crate) fn parse_shellcheck(stdout: &str, root: &std::path::Path) -> Result<Vec<Finding>, String> {
    let report: Report = serde_json::from_str(stdout).map_err(|e| format!("its JSON output could not be read: {e}"))?;
    Ok(report
        .comments
        .into_iter()
        .map(|c| Finding {
            linter: "shellcheck".to_owned(),
            file: relative_to(root, &c.file),
            line: Some(c.line),
            column: Some(c.column),
            rule: format!("SC{}", c.code),
            severity: match c.level.as_str() {
                "error" => Severity::Error,
                "warning" => Severity::Warning,
                _ => Severity::Info,
            },
            message: c.message,
        })
        .collect())
}
