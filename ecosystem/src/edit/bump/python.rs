//! A dependency's version in a `pyproject.toml`: PEP 508 strings (`[project]`, optional dependencies, dependency
//! groups) and Poetry's tables, names compared as PEP 503 normalises them.

use toml_edit::{Array, DocumentMut, Item, Value};

use super::{Bumped, cargo, normalise, requirement};

/// `dependency` at `version` in the pyproject `text`.
pub(crate) fn bump(text: &str, dependency: &str, version: &str) -> Result<Bumped, String> {
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| e.to_string())?;
    let wanted = pep503(dependency);
    let mut found = false;
    let root = doc.as_table_mut();
    if let Some(project) = root.get_mut("project").and_then(Item::as_table_like_mut) {
        if let Some(list) = project.get_mut("dependencies").and_then(Item::as_array_mut) {
            found |= bump_array(list, &wanted, version);
        }
        if let Some(groups) = project.get_mut("optional-dependencies").and_then(Item::as_table_like_mut) {
            for (_, list) in groups.iter_mut() {
                found |= list.as_array_mut().is_some_and(|list| bump_array(list, &wanted, version));
            }
        }
    }
    if let Some(groups) = root.get_mut("dependency-groups").and_then(Item::as_table_like_mut) {
        for (_, list) in groups.iter_mut() {
            found |= list.as_array_mut().is_some_and(|list| bump_array(list, &wanted, version));
        }
    }
    let named = |key: &str, _: &Item| pep503(key) == wanted;
    if let Some(poetry) = root.get_mut("tool").and_then(|t| t.get_mut("poetry")).and_then(Item::as_table_like_mut) {
        for table in ["dependencies", "dev-dependencies"] {
            if let Some(deps) = poetry.get_mut(table).and_then(Item::as_table_like_mut) {
                found |= cargo::bump_entries(deps, &named, version);
            }
        }
        if let Some(groups) = poetry.get_mut("group").and_then(Item::as_table_like_mut) {
            for (_, group) in groups.iter_mut() {
                let deps = group.get_mut("dependencies").and_then(Item::as_table_like_mut);
                found |= deps.is_some_and(|deps| cargo::bump_entries(deps, &named, version));
            }
        }
    }
    Ok(Bumped { found, text: found.then(|| doc.to_string()) })
}

/// Every PEP 508 string of `list` naming `wanted` asks for `version`. Whether one named it.
fn bump_array(list: &mut Array, wanted: &str, version: &str) -> bool {
    let mut found = false;
    for index in 0..list.len() {
        let Some(Some(outcome)) = list.get(index).and_then(Value::as_str).map(|req| pep508(req, wanted, version))
        else {
            continue;
        };
        found = true;
        if let Some((new, value)) = outcome.zip(list.get_mut(index)) {
            cargo::set_string(value, &new);
        }
    }
    found
}

/// A PEP 508 requirement `req` asking for `version`: `None` when it names another package, `Some(None)` when it
/// names this one and stays (no version given, a URL), else the new string: name, extras and environment marker
/// as written, the version specifier replaced.
pub(crate) fn pep508(req: &str, wanted: &str, version: &str) -> Option<Option<String>> {
    let start = req.len() - req.trim_start().len();
    let name_len = req[start..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(req.len() - start);
    if name_len == 0 || pep503(&req[start..start + name_len]) != wanted {
        return None;
    }
    let mut at = start + name_len;
    let skip_spaces = |at: usize| at + (req[at..].len() - req[at..].trim_start().len());
    at = skip_spaces(at);
    if req[at..].starts_with('[') {
        at += req[at..].find(']').map_or(req.len() - at, |i| i + 1);
        at = skip_spaces(at);
    }
    let end = req[at..].find(';').map_or(req.len(), |i| at + i);
    let spec = req[at..end].trim_end();
    let (open, inner, close) = match spec.strip_prefix('(').and_then(|s| s.strip_suffix(')')) {
        Some(inner) => ("(", inner, ")"),
        None => ("", spec, ""),
    };
    let Some(new) = requirement(inner, version) else { return Some(None) };
    Some(Some(format!("{}{open}{new}{close}{}", &req[..at], &req[at + spec.len()..])))
}

/// A Python package name as PEP 503 compares it: lowercase, every run of `-`, `_` and `.` one `-`.
fn pep503(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in normalise(name).chars() {
        if c != '-' || !out.ends_with('-') {
            out.push(c);
        }
    }
    out
}
