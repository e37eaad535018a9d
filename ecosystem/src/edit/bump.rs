//! `bump`: one dependency moved to one version in every manifest of a worktree (Cargo, npm, Go, Python), each file
//! edited in place so its formatting, order and comments stay.

mod cargo;
mod gomod;
mod npm;
mod python;

use std::path::Path;

#[cfg(test)]
pub(crate) use self::{gomod::bump as gomod_bump, npm::bump as npm_bump, python::pep508 as python_pep508};
use super::{EditError, FileEdit, paths};

/// What a manifest says of the dependency.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Bumped {
    /// It names the dependency (whether or not anything changed).
    pub(crate) found: bool,
    /// Its new text, when something changed.
    pub(crate) text: Option<String>,
}

/// The manifests a bump reads, by file name, each with its editor (`Err` is the parser's message).
type Editor = fn(&str, &str, &str) -> Result<Bumped, String>;
const MANIFESTS: [(&str, Editor); 4] = [
    ("Cargo.toml", cargo::bump),
    ("package.json", npm::bump),
    ("go.mod", gomod::bump),
    ("pyproject.toml", python::bump),
];

/// The edits that move `dependency` to `version` in every manifest under `dir`: `Cargo.toml` (every table of
/// dependencies, target-specific and `[workspace.dependencies]` too, a string or a table's `version`; path-only and
/// `workspace = true` entries left alone), `package.json` (`dependencies`, `devDependencies`, `peerDependencies`,
/// `optionalDependencies`), `go.mod` (`require`, single lines and blocks, `v` added when missing) and
/// `pyproject.toml` (PEP 508 strings of `[project]`, `[project.optional-dependencies]` and `[dependency-groups]`,
/// and `[tool.poetry]`'s tables, names compared as PEP 503 normalises them).
///
/// The operator the author wrote (`^`, `~`, `=`, `>=`, `==`, `~=`) is kept in front of the new version; `<`, `>` and
/// `!=`, which would exclude it, become `>=`. A version given with its own operator is written as it is. An
/// unconstrained requirement (`*`, a PEP 508 name alone) and one that is no version (a path, a URL, `workspace:`)
/// already allow any version and are left alone. Build output, dependencies' sources (`target/`, `node_modules/`,
/// `vendor/`) and hidden directories are not searched. Reads only; an empty plan means every manifest already asks
/// for the version.
pub fn plan_bump(dir: &Path, dependency: &str, version: &str) -> Result<Vec<FileEdit>, EditError> {
    check_dependency(dependency)?;
    check_version(version)?;
    let skip =
        |name: &str| name.starts_with('.') || matches!(name, "target" | "node_modules" | "vendor" | "__pycache__");
    let mut found = false;
    let mut edits = Vec::new();
    for rel in paths::files_under(dir, "", &skip)? {
        let name = rel.rsplit('/').next().unwrap_or(&rel);
        let Some((_, editor)) = MANIFESTS.iter().find(|(manifest, _)| *manifest == name) else { continue };
        let path = paths::checked(dir, &rel)?;
        let Some(text) = paths::read_text(&path)? else { continue };
        // A manifest that cannot name the dependency is not parsed, so a broken one elsewhere (a test fixture)
        // does not stop the bump.
        if !normalise(&text).contains(&normalise(dependency)) {
            continue;
        }
        let bumped = editor(&text, dependency, version).map_err(|reason| EditError::Manifest { path, reason })?;
        found |= bumped.found;
        if let Some(after) = bumped.text.filter(|after| *after != text) {
            edits.push(FileEdit { path: rel, before: Some(text), after: Some(after) });
        }
    }
    if !found {
        return Err(EditError::NotFound { dependency: dependency.to_owned(), dir: dir.to_owned() });
    }
    Ok(edits)
}

/// `old` requirement asking for `version` instead, its operator kept; `None` when `old` is no version requirement
/// (`*`, `workspace:*`, a path or URL), which is left alone.
pub(crate) fn requirement(old: &str, version: &str) -> Option<String> {
    const OPERATORS: &[char] = &['^', '~', '=', '<', '>', '!'];
    let old = old.trim();
    let op_len = old.find(|c| !OPERATORS.contains(&c)).unwrap_or(old.len());
    let (op, rest) = old.split_at(op_len);
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('v').filter(|r| r.starts_with(|c: char| c.is_ascii_digit())).unwrap_or(rest);
    if !rest.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    if version.starts_with(OPERATORS) {
        return Some(version.to_owned());
    }
    // An operator that would exclude the version asked for becomes the one that allows it and what follows.
    let op = match op {
        "<" | ">" | "!=" => ">=",
        op => op,
    };
    Some(format!("{op}{version}"))
}

/// `text` lowercased with `_` and `.` as `-`, the way PEP 503 compares Python names; a cheap test for whether a
/// manifest could name a dependency at all.
pub(crate) fn normalise(text: &str) -> String {
    text.chars().map(|c| if c == '_' || c == '.' { '-' } else { c.to_ascii_lowercase() }).collect()
}

fn check_dependency(dependency: &str) -> Result<(), EditError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | '@');
    if dependency.is_empty()
        || dependency.len() > 214
        || dependency.starts_with('-')
        || !dependency.chars().all(allowed)
    {
        return Err(EditError::InvalidDependency { dependency: dependency.to_owned() });
    }
    Ok(())
}

fn check_version(version: &str) -> Result<(), EditError> {
    let allowed = |c: char| {
        c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-' | '_' | '^' | '~' | '=' | '<' | '>' | '!' | '*' | ',')
    };
    if version.is_empty() || version.len() > 100 || !version.chars().all(allowed) {
        return Err(EditError::InvalidVersion { version: version.to_owned() });
    }
    Ok(())
}
