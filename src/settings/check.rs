//! `hive config check`: the configuration as resolved, one setting a line with where it came from; secrets are
//! resolved but shown as `[REDACTED]`, and everything printed goes through the terminal's redactor as well.

use std::io::Write;

use serde_json::json;

use super::Resolved;

/// Prints `resolved`: a table for people, or one JSON document with `--json`.
pub fn print(resolved: &Resolved, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let file = resolved.file.as_ref().map(|(path, origin)| json!({ "path": path, "origin": origin }));
        let doc = json!({ "file": file, "settings": resolved.settings });
        writeln!(out, "{}", crate::terminal::json_line(doc)?)?;
        return Ok(out.flush()?);
    }
    match &resolved.file {
        Some((path, origin)) => {
            let path = crate::terminal::line(&path.display().to_string());
            writeln!(out, "configuration file: {path} ({origin})")?
        }
        None => writeln!(out, "configuration file: none (defaults, environment and flags only)")?,
    }
    let width = resolved.settings.iter().map(|s| s.key.len()).max().unwrap_or(0);
    let shown: Vec<String> = resolved.settings.iter().map(|s| crate::terminal::line(&s.value.to_string())).collect();
    let value_width = shown.iter().map(|v| v.chars().count()).max().unwrap_or(0).min(48);
    for (setting, value) in resolved.settings.iter().zip(&shown) {
        let origin = crate::terminal::line(&setting.origin.to_string());
        writeln!(out, "{:<width$}  {value:<value_width$}  {origin}", setting.key)?;
    }
    Ok(out.flush()?)
}
