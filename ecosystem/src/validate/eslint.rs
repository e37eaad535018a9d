//! eslint, the repository's own: it applies when `package.json` names eslint among its dependencies or an eslint
//! configuration file is there, and runs only as the repository installed it (`node_modules/.bin/eslint`, through
//! `npx --no-install`, which never downloads one).

use std::path::Path;

use serde::Deserialize;

use super::{Context, Finding, LinterRun, LinterStatus, Severity, ended, failed, missing, relative_to, stderr_reason};
use crate::detect::{first_file, parse_json, read_manifest};

/// eslint's configuration files, flat (`eslint.config.*`) and legacy (`.eslintrc*`).
const CONFIGS: [&str; 12] = [
    "eslint.config.js",
    "eslint.config.mjs",
    "eslint.config.cjs",
    "eslint.config.ts",
    "eslint.config.mts",
    "eslint.config.cts",
    ".eslintrc",
    ".eslintrc.js",
    ".eslintrc.cjs",
    ".eslintrc.json",
    ".eslintrc.yml",
    ".eslintrc.yaml",
];

/// Whether eslint applies to the repository at `root`.
pub(crate) fn applies(root: &Path) -> bool {
    if first_file(root, &CONFIGS).is_some() {
        return true;
    }
    let Some(json) = first_file(root, &["package.json"])
        .and_then(|manifest| read_manifest(&manifest).ok())
        .and_then(|text| parse_json(&text).ok())
    else {
        return false;
    };
    ["dependencies", "devDependencies"]
        .iter()
        .any(|section| json.get(section).and_then(|deps| deps.get("eslint")).is_some())
}

/// `npx --no-install eslint -f json .` in the root, when the repository installed eslint.
pub(crate) async fn run(cx: &Context<'_>) -> LinterRun {
    if first_file(cx.dir, &["node_modules/.bin/eslint"]).is_none() {
        return missing("eslint", "node_modules/.bin/eslint");
    }
    let Some(npx) = cx.find("npx") else { return missing("eslint", "npx") };
    let out = match cx.run(&cx.command(&npx, ["--no-install", "eslint", "-f", "json", "."])).await {
        Ok(out) => out,
        Err(status) => return ended("eslint", status),
    };
    // 1 is "problems found"; 2 is a configuration error or a crash.
    if !matches!(out.code, Some(0 | 1)) {
        return failed("eslint", stderr_reason(&out));
    }
    match parse_eslint(&out.stdout_text(), cx.dir) {
        Ok(findings) => LinterRun { linter: "eslint".to_owned(), status: LinterStatus::Ran, findings },
        Err(reason) => failed("eslint", reason),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileResult {
    file_path: String,
    messages: Vec<Message>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    rule_id: Option<String>,
    severity: u8,
    message: String,
    line: Option<u32>,
    column: Option<u32>,
    #[serde(default)]
    fatal: bool,
}

/// Findings from eslint's `json` formatter (an array of files with their messages): severity 2 is an error, 1 a
/// warning; a message without a rule is a file eslint could not parse, an error under the rule `parse-error`.
pub(crate) fn parse_eslint(stdout: &str, root: &Path) -> Result<Vec<Finding>, String> {
    let files: Vec<FileResult> =
        serde_json::from_str(stdout).map_err(|e| format!("its JSON output could not be read: {e}"))?;
    Ok(files
        .into_iter()
        .flat_map(|file| {
            let path = relative_to(root, &file.file_path);
            file.messages.into_iter().map(move |m| Finding {
                linter: "eslint".to_owned(),
                file: path.clone(),
                line: m.line,
                column: m.column,
                severity: if m.severity >= 2 || m.fatal { Severity::Error } else { Severity::Warning },
                rule: m.rule_id.unwrap_or_else(|| "parse-error".to_owned()),
                message: m.message,
            })
        })
        .collect())
}
