//! A dependency's version in a `Cargo.toml`, through `toml_edit` so every comment, blank line and quote stays; the
//! TOML helpers Poetry's tables share.

use toml_edit::{DocumentMut, Item, TableLike, Value};

use super::{Bumped, requirement};

/// The tables of dependencies a manifest (or one `[target.'cfg'.…]` table) can hold; the underscore spellings are
/// ones cargo still reads.
const TABLES: [&str; 5] =
    ["dependencies", "dev-dependencies", "dev_dependencies", "build-dependencies", "build_dependencies"];

/// `dependency` at `version` in the manifest `text`: in every table of dependencies, target-specific ones and
/// `[workspace.dependencies]` too, under its own name or renamed (`package = "…"`).
pub(crate) fn bump(text: &str, dependency: &str, version: &str) -> Result<Bumped, String> {
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| e.to_string())?;
    let mut found = false;
    let named = |key: &str, entry: &Item| {
        let package = entry.as_table_like().and_then(|t| t.get("package")).and_then(Item::as_str);
        package.unwrap_or(key) == dependency
    };
    let root = doc.as_table_mut();
    for table in TABLES {
        if let Some(deps) = root.get_mut(table).and_then(Item::as_table_like_mut) {
            found |= bump_entries(deps, &named, version);
        }
    }
    if let Some(targets) = root.get_mut("target").and_then(Item::as_table_like_mut) {
        for (_, target) in targets.iter_mut() {
            let Some(target) = target.as_table_like_mut() else { continue };
            for table in TABLES {
                if let Some(deps) = target.get_mut(table).and_then(Item::as_table_like_mut) {
                    found |= bump_entries(deps, &named, version);
                }
            }
        }
    }
    let workspace_deps = root.get_mut("workspace").and_then(|w| w.get_mut("dependencies"));
    if let Some(deps) = workspace_deps.and_then(Item::as_table_like_mut) {
        found |= bump_entries(deps, &named, version);
    }
    Ok(Bumped { found, text: found.then(|| doc.to_string()) })
}

/// Sets the requirement of every entry of `deps` that `named` picks (by key and entry) to `version`: a string
/// entry, or a table's `version` key. Entries without a version (a path, git, `workspace = true`) are left alone.
/// Whether any entry was picked.
pub(crate) fn bump_entries(deps: &mut dyn TableLike, named: &dyn Fn(&str, &Item) -> bool, version: &str) -> bool {
    let mut found = false;
    for (key, entry) in deps.iter_mut() {
        if !named(key.get(), entry) {
            continue;
        }
        found = true;
        let value = match entry {
            Item::Value(Value::String(_)) => entry.as_value_mut(),
            _ => entry.as_table_like_mut().and_then(|t| t.get_mut("version")).and_then(Item::as_value_mut),
        };
        if let Some(value) = value {
            set_requirement(value, version);
        }
    }
    found
}

/// The string `value` asking for `version`, its operator, quotes and surrounding whitespace and comments kept.
pub(crate) fn set_requirement(value: &mut Value, version: &str) {
    if let Some(new) = value.as_str().and_then(|old| requirement(old, version)) {
        set_string(value, &new);
    }
}

/// The string `value` replaced by `new` (which holds no quote), in the same quotes, with the same whitespace and
/// comments around it.
pub(crate) fn set_string(value: &mut Value, new: &str) {
    if value.as_str() == Some(new) {
        return;
    }
    let literal = match &*value {
        Value::String(s) => s.as_repr().and_then(|r| r.as_raw().as_str()).is_some_and(|raw| raw.starts_with('\'')),
        _ => false,
    };
    let mut replaced: Value = match literal {
        true => format!("'{new}'").parse().unwrap_or_else(|_| Value::from(new)),
        false => Value::from(new),
    };
    *replaced.decor_mut() = value.decor().clone();
    *value = replaced;
}
