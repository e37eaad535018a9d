//! A validation report as text and as one self-contained HTML page. Everything that came from the repository or a
//! tool (file names, rules, messages, reasons) is outside text: escaped for the terminal in the text, HTML-escaped
//! in the page.

use std::fmt::Write as _;

use super::{Finding, LinterRun, LinterStatus, Severity, ValidationReport};

/// The one-line verdict: passed, or why not.
fn verdict(report: &ValidationReport) -> String {
    let errors = report.errors();
    let missing: Vec<&str> = report.missing().map(|run| run.linter.as_str()).collect();
    match (errors, missing.is_empty()) {
        (0, true) => "passed".to_owned(),
        (0, false) => format!("not passed: not installed: {}", missing.join(", ")),
        (n, true) => format!("failed: {}", plural(n, "error")),
        (n, false) => format!("failed: {}; not installed: {}", plural(n, "error"), missing.join(", ")),
    }
}

/// Counts by severity, as `2 errors, 1 warning, 0 notes`.
fn counts(report: &ValidationReport) -> String {
    format!(
        "{}, {}, {}",
        plural(report.count(Severity::Error), "error"),
        plural(report.count(Severity::Warning), "warning"),
        plural(report.count(Severity::Info), "note")
    )
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

/// A linter's status in words.
fn status(run: &LinterRun) -> String {
    match &run.status {
        LinterStatus::Ran => match run.findings.len() {
            0 => "ran, nothing found".to_owned(),
            n => format!("ran, {}", plural(n, "finding")),
        },
        LinterStatus::Missing { tool } => format!("not run: '{tool}' is not installed"),
        LinterStatus::Failed { reason } => format!("failed: {reason}"),
        LinterStatus::TimedOut => "timed out and was stopped".to_owned(),
    }
}

/// `file:line:column`, as far as they are known.
fn place(finding: &Finding) -> String {
    match (finding.line, finding.column) {
        (Some(line), Some(column)) => format!("{}:{line}:{column}", finding.file),
        (Some(line), None) => format!("{}:{line}", finding.file),
        _ => finding.file.clone(),
    }
}

pub(super) fn text(report: &ValidationReport) -> String {
    let mut out = String::new();
    let dir = report.dir.to_string_lossy();
    let _ = writeln!(out, "validated {}: {}", clean(&dir), counts(report));
    if report.runs.is_empty() {
        out.push_str("no linter applies here\n");
    }
    for run in &report.runs {
        let _ = writeln!(out, "{}: {}", run.linter, clean(&status(run)));
        for finding in &run.findings {
            let what = format!("{}[{}]", finding.severity.as_str(), finding.rule);
            let _ = writeln!(out, "  {}: {}: {}", clean(&place(finding)), clean(&what), clean(&finding.message));
        }
    }
    let _ = writeln!(out, "result: {}", clean(&verdict(report)));
    out
}

/// Control characters escaped (`\n`, `\u{1b}`), so a file name or message cannot break a line or drive a terminal.
fn clean(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// `text` safe as HTML element content and as a quoted attribute value.
pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#1b1b1b}\
table{border-collapse:collapse;width:100%;margin-bottom:1.5em}\
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}code{font-family:ui-monospace,monospace}\
.error{color:#b00020}.warning{color:#8a5a00}.info{color:#355f8a}\
.passed{color:#1b6e1b}.failed{color:#b00020}";

pub(super) fn html(report: &ValidationReport) -> String {
    let dir = escape_html(&report.dir.to_string_lossy());
    let class = if report.passed() { "passed" } else { "failed" };
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>Validation of {dir}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>Validation of <code>{dir}</code></h1>\n<p class=\"{class}\">{}</p>\n<p>{}</p>\n",
        escape_html(&verdict(report)),
        counts(report)
    );
    if report.runs.is_empty() {
        out.push_str("<p>No linter applies here.</p>\n");
    }
    for run in &report.runs {
        let _ = writeln!(out, "<h2>{}</h2>\n<p>{}</p>", escape_html(&run.linter), escape_html(&status(run)));
        if run.findings.is_empty() {
            continue;
        }
        out.push_str("<table>\n<tr><th>Place</th><th>Severity</th><th>Rule</th><th>Message</th></tr>\n");
        for finding in &run.findings {
            let severity = finding.severity.as_str();
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td class=\"{severity}\">{severity}</td><td><code>{}</code></td><td>{}</td></tr>",
                escape_html(&place(finding)),
                escape_html(&finding.rule),
                escape_html(&finding.message)
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}
