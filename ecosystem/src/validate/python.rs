//! Python: ruff when it is installed (its JSON output), else flake8 (its default `path:line:col: CODE message`
//! lines). Neither tool has severities of its own, so both map codes the same way: syntax errors and the codes
//! flake8's own documentation and CI templates select as "errors that stop the program" (`E9`, `F63`, `F7`, `F82`)
//! are errors, everything else a warning.

use serde::Deserialize;

use super::{Context, Finding, LinterRun, LinterStatus, Severity, ended, failed, missing, relative_to, stderr_reason};

/// Runs the first of `tools` (in order, `ruff` before `flake8`) that is installed; `Missing` naming them all when
/// none is.
pub(crate) async fn run(cx: &Context<'_>, tools: &[&str]) -> LinterRun {
    let Some((tool, program)) = tools.iter().find_map(|tool| Some((*tool, cx.find(tool)?))) else {
        let first = tools.first().copied().unwrap_or("ruff");
        return missing(first, tools.join(" or "));
    };
    // ruff's cache would be written into the repository; flake8 keeps none.
    let args: &[&str] = match tool {
        "ruff" => &["check", "--no-cache", "--output-format=json", "."],
        _ => &["--format=default", "."],
    };
    let out = match cx.run(&cx.command(&program, args)).await {
        Ok(out) => out,
        Err(status) => return ended(tool, status),
    };
    // Both exit 1 for findings; anything else is the tool failing (a bad configuration).
    if !matches!(out.code, Some(0 | 1)) {
        return failed(tool, stderr_reason(&out));
    }
    let parsed = match tool {
        "ruff" => parse_ruff(&out.stdout_text(), cx.dir),
        _ => Ok(parse_flake8(&out.stdout_text(), cx.dir)),
    };
    match parsed {
        Ok(findings) => LinterRun { linter: tool.to_owned(), status: LinterStatus::Ran, findings },
        Err(reason) => failed(tool, reason),
    }
}

/// The severity of a flake8 or ruff code; `None` is a syntax error (ruff before 0.5 gave it no code).
pub(crate) fn severity(code: Option<&str>) -> Severity {
    match code {
        None | Some("invalid-syntax" | "E999") => Severity::Error,
        Some(code) if ["E9", "F63", "F7", "F82"].iter().any(|prefix| code.starts_with(prefix)) => Severity::Error,
        Some(_) => Severity::Warning,
    }
}

#[derive(Deserialize)]
struct RuffFinding {
    code: Option<String>,
    filename: String,
    location: Option<Location>,
    message: String,
}

#[derive(Deserialize)]
struct Location {
    row: u32,
    column: u32,
}

/// Findings from `ruff check --output-format=json` (a JSON array); an error when it is not that.
pub(crate) fn parse_ruff(stdout: &str, root: &std::path::Path) -> Result<Vec<Finding>, String> {
    let found: Vec<RuffFinding> =
        serde_json::from_str(stdout).map_err(|e| format!("its JSON output could not be read: {e}"))?;
    Ok(found
        .into_iter()
        .map(|f| Finding {
            linter: "ruff".to_owned(),
            file: relative_to(root, &f.filename),
            line: f.location.as_ref().map(|l| l.row),
            column: f.location.as_ref().map(|l| l.column),
            severity: severity(f.code.as_deref()),
            rule: f.code.unwrap_or_else(|| "invalid-syntax".to_owned()),
            message: f.message,
        })
        .collect())
}

/// Findings from flake8's default format, `path:line:col: CODE message`; lines that are not that are skipped. The
/// place is the first `:<line>:<col>: ` followed by a code, so a path may hold colons and spaces.
pub(crate) fn parse_flake8(stdout: &str, root: &std::path::Path) -> Vec<Finding> {
    stdout.lines().filter_map(|line| flake8_line(line, root)).collect()
}

fn flake8_line(line: &str, root: &std::path::Path) -> Option<Finding> {
    let mut search = 0;
    while let Some(at) = line[search..].find(':').map(|i| i + search) {
        search = at + 1;
        let mut parts = line[at + 1..].splitn(3, ':');
        let (Some(row), Some(col), Some(rest)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let (Ok(row), Ok(col)) = (row.parse::<u32>(), col.parse::<u32>()) else { continue };
        let Some((code, message)) = rest.strip_prefix(' ').and_then(|rest| rest.split_once(' ')) else { continue };
        if !is_code(code) {
            continue;
        }
        return Some(Finding {
            linter: "flake8".to_owned(),
            file: relative_to(root, &line[..at]),
            line: Some(row),
            column: Some(col),
            rule: code.to_owned(),
            severity: severity(Some(code)),
            message: message.to_owned(),
        });
    }
    None
}

/// A flake8 code: letters then digits (`E501`, `F401`, `SIM102`).
fn is_code(code: &str) -> bool {
    let digits = code.trim_start_matches(|c: char| c.is_ascii_uppercase());
    digits.len() < code.len() && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}
