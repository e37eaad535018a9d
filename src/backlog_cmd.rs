//! `hive backlog` and `hive backlog validate`: the backlog as a table (from the export a cycle wrote, else from the
//! database's ledger), and the export checked against its JSON Schema, `schemas/backlog.schema.json`. Both only
//! read: the database is opened read-only, and files are read only if regular and at most [`MAX_EXPORT_BYTES`].

use std::path::Path;

use anyhow::{Context, bail};
use hive_cerebrum::{BACKLOG_FILE, BacklogExport, Memory};

use crate::cli::{BacklogArgs, BacklogCommand};

/// The schema the export follows; compiled into the binary so `validate` needs nothing beside it.
const SCHEMA: &str = include_str!("../schemas/backlog.schema.json");

/// The largest backlog export read: far above what a fleet's backlog writes (about 500 bytes an item), far below
/// what would strain memory once parsed.
const MAX_EXPORT_BYTES: u64 = 64 << 20;

/// Runs `hive backlog` or one of its subcommands.
pub fn run(args: &BacklogArgs, state_dir: &Path, json: bool) -> anyhow::Result<()> {
    match &args.command {
        None => list(state_dir, json),
        Some(BacklogCommand::Validate { file }) => {
            let path = file.clone().unwrap_or_else(|| state_dir.join(BACKLOG_FILE));
            validate(&path, json)
        }
    }
}

fn list(state_dir: &Path, json: bool) -> anyhow::Result<()> {
    let export = state_dir.join(BACKLOG_FILE);
    let database = state_dir.join(Memory::FILE_NAME);
    let document = if export.exists() {
        let value = read_json(&export)?;
        serde_json::from_value::<BacklogExport>(value).map_err(|e| {
            anyhow::anyhow!(
                "'{}' is not a backlog export ({e}); run `hive backlog validate` to see every problem, or run a \
                 cycle again (it is rewritten from the database)",
                export.display()
            )
        })?
    } else if database.exists() {
        Memory::open_read_only(state_dir)?.ledger().export_document(None)?
    } else {
        bail!(
            "no backlog at '{}' and no hive database at '{}'; check --state-dir (or HIVE_STATE_DIR), or run a cycle \
             first",
            export.display(),
            database.display()
        );
    };
    if json {
        // One line, secrets redacted and every unsafe character escaped, like every other `--json` output.
        println!("{}", crate::terminal::json_line(serde_json::to_value(&document)?)?);
    } else {
        print!("{}", table(&document));
    }
    Ok(())
}

/// The items as an aligned table, one line each; every field has its control characters replaced, so a hostile
/// title cannot move the cursor or clear the terminal.
fn table(document: &BacklogExport) -> String {
    let header = ["ID", "REPO", "TYPE", "PRIORITY", "RISK", "STATUS", "TITLE"].map(str::to_owned);
    let rows: Vec<[String; 7]> = document
        .items
        .iter()
        .map(|item| {
            [
                printable(&item.id),
                printable(&item.repo),
                item.kind.to_string(),
                item.priority.to_string(),
                item.risk.to_string(),
                item.status.to_string(),
                printable(&item.title),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                // The title is last and never padded, so lines carry no trailing spaces.
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let cycle = document.cycle.map_or_else(|| "none".to_owned(), |c| c.to_string());
    out.push_str(&format!("{} items (generated {}, cycle {cycle})\n", rows.len(), document.generated_at));
    out
}

/// Titles and repositories come from forges: one line each, no escape sequences, no secrets.
fn printable(text: &str) -> String {
    crate::terminal::line(text)
}

fn validate(path: &Path, json: bool) -> anyhow::Result<()> {
    let document = read_json(path)?;
    let schema: serde_json::Value = serde_json::from_str(SCHEMA).context("the built-in backlog schema is not JSON")?;
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .map_err(|e| anyhow::anyhow!("the built-in backlog schema does not compile: {e}"))?;
    let problems: Vec<(String, String)> = validator
        .iter_errors(&document)
        .map(|e| {
            let pointer = e.instance_path().to_string();
            (if pointer.is_empty() { "/".to_owned() } else { pointer }, e.to_string())
        })
        .collect();
    let items = document.get("items").and_then(serde_json::Value::as_array).map_or(0, Vec::len);
    if json {
        let problems: Vec<_> = problems
            .iter()
            .map(|(pointer, message)| serde_json::json!({ "pointer": pointer, "message": message }))
            .collect();
        let report = serde_json::json!({ "file": path.display().to_string(), "valid": problems.is_empty(), "problems": problems });
        println!("{}", crate::terminal::json_line(report)?);
    }
    if problems.is_empty() {
        if !json {
            println!("'{}' is a valid backlog export: {items} items", path.display());
        }
        return Ok(());
    }
    let list: Vec<String> = problems.iter().map(|(pointer, message)| format!("  {pointer}: {message}")).collect();
    bail!(
        "'{}' does not match the backlog schema ({} problems); run a cycle again to rewrite it from the database:\n{}",
        path.display(),
        problems.len(),
        list.join("\n")
    )
}

/// Reads and parses a JSON file, naming the file, and the line and column of a syntax error (a torn or hand-edited
/// export).
fn read_json(path: &Path) -> anyhow::Result<serde_json::Value> {
    let bytes = hive_support::read_bounded(path, MAX_EXPORT_BYTES).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound {
            "; run a cycle to write it, or check --state-dir (or HIVE_STATE_DIR)"
        } else {
            ""
        };
        anyhow::anyhow!("cannot read '{}': {e}{hint}", path.display())
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        let (line, column) = (e.line(), e.column());
        // serde_json ends its message with the position, which is already said here.
        let message = e.to_string();
        let message = message.strip_suffix(&format!(" at line {line} column {column}")).unwrap_or(&message).to_owned();
        anyhow::anyhow!(
            "'{}' is not valid JSON at line {line} column {column}: {message}; restore it by running a cycle again \
             (it is rewritten from the database)",
            path.display()
        )
    })
}
