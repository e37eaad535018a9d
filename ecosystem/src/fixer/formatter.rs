//! Which formatter a repository uses, decided from its files only: nothing in the repository runs here, so asking
//! about an untrusted clone is safe.

use std::{fmt, path::Path};

use crate::{
    BuildSystem,
    commands::{just_recipes, make_targets, safe_name},
    detect,
    detect::{first_file, parse_json, read_manifest},
};

/// Names of the repository's own commands that mean "format the code", most specific first. `lint:fix` comes last
/// because it usually runs a linter's fixes as well, which is more than a formatting fix promises.
const COMMAND_NAMES: [&str; 4] = ["fmt", "format", "format:fix", "lint:fix"];

/// A formatter: a short name for messages and pull requests, and the argument vector that runs it in the
/// repository's root.
///
/// ```
/// use hive_ecosystem::Formatter;
///
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("go.mod"), "module example.com/x\n").unwrap();
/// let formatter = Formatter::detect(dir.path()).unwrap();
/// assert_eq!(formatter.name, "gofmt");
/// assert_eq!(formatter.to_string(), "gofmt -w .");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formatter {
    /// A short name, such as `cargo fmt`, `make fmt` or `npm run format`.
    pub name: String,
    /// Program and arguments; never run through a shell.
    pub argv: Vec<String>,
}

impl Formatter {
    fn new(name: impl Into<String>, argv: &[&str]) -> Formatter {
        Formatter { name: name.into(), argv: argv.iter().map(|a| (*a).to_owned()).collect() }
    }

    /// The formatter the repository in `dir` uses, or `None` when hive knows none; see [`formatter_for`].
    pub fn detect(dir: &Path) -> Option<Formatter> {
        repository_command(dir)
            .or_else(|| {
                first_file(dir, &["Cargo.toml"]).map(|_| Formatter::new("cargo fmt", &["cargo", "fmt", "--all"]))
            })
            .or_else(|| first_file(dir, &["go.mod"]).map(|_| Formatter::new("gofmt", &["gofmt", "-w", "."])))
            .or_else(|| python(dir))
            .or_else(|| prettier(dir))
    }
}

impl fmt::Display for Formatter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.argv.join(" "))
    }
}

/// The formatter the repository in `dir` uses, as its name and argument vector, or `None` when hive knows none.
///
/// The first that applies wins: the repository's own command named `fmt`, `format`, `format:fix` or `lint:fix`
/// (a just recipe, a Makefile target, then a `package.json` script, run by the detected package manager); then
/// `cargo fmt --all` for `Cargo.toml`, `gofmt -w .` for `go.mod`, `ruff format .` or `black .` for a
/// `pyproject.toml` that mentions them, and prettier for a `package.json` that depends on it. Files are read, never
/// run.
pub fn formatter_for(dir: &Path) -> Option<(String, Vec<String>)> {
    Formatter::detect(dir).map(|f| (f.name, f.argv))
}

/// A formatting command the repository defines itself. A task runner's comes before a package script, as in
/// `test_command`, since a project that has one usually wraps its real setup in it.
fn repository_command(dir: &Path) -> Option<Formatter> {
    let detection = detect(dir).ok()?;
    let mut offered: Vec<(BuildSystem, String)> = Vec::new();
    for system in [BuildSystem::Just, BuildSystem::Make, BuildSystem::Pnpm, BuildSystem::Yarn, BuildSystem::Npm] {
        let Some((_, manifest)) = detection.found().find(|(found, _)| *found == system) else {
            continue;
        };
        let Ok(text) = read_manifest(manifest) else {
            continue;
        };
        let names = match system {
            BuildSystem::Just => just_recipes(&text),
            BuildSystem::Make => make_targets(&text),
            _ => script_names(&text),
        };
        offered.extend(names.into_iter().filter(|name| safe_name(name)).map(|name| (system, name)));
    }
    COMMAND_NAMES.iter().find_map(|wanted| {
        let (system, name) = offered.iter().find(|(_, name)| name == wanted)?;
        let argv: Vec<&str> = match system {
            BuildSystem::Just => vec!["just", name],
            BuildSystem::Make => vec!["make", name],
            manager => vec![manager.as_str(), "run", name],
        };
        Some(Formatter::new(argv.join(" "), &argv))
    })
}

/// The script names of a `package.json`.
fn script_names(text: &str) -> Vec<String> {
    match parse_json(text).ok().as_ref().and_then(|json| json.get("scripts")) {
        Some(serde_json::Value::Object(scripts)) => scripts.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// ruff or black, when `pyproject.toml` mentions them (ruff first: a project that has both formats with ruff).
fn python(dir: &Path) -> Option<Formatter> {
    let text = read_manifest(&first_file(dir, &["pyproject.toml"])?).ok()?;
    if mentions(&text, "ruff") {
        Some(Formatter::new("ruff format", &["ruff", "format", "."]))
    } else if mentions(&text, "black") {
        Some(Formatter::new("black", &["black", "."]))
    } else {
        None
    }
}

/// prettier, when `package.json` depends on it. `--no-install` keeps npx from downloading a formatter the
/// repository did not install.
fn prettier(dir: &Path) -> Option<Formatter> {
    let json = parse_json(&read_manifest(&first_file(dir, &["package.json"])?).ok()?).ok()?;
    let depends = ["dependencies", "devDependencies"]
        .iter()
        .any(|section| json.get(section).and_then(|deps| deps.get("prettier")).is_some());
    depends.then(|| Formatter::new("prettier", &["npx", "--no-install", "prettier", "--write", "."]))
}

/// Whether `word` occurs in `text` as a whole word (so `blacklist` does not mean black).
fn mentions(text: &str, word: &str) -> bool {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_only() {
        assert!(mentions("[tool.black]\nline-length = 100\n", "black"));
        assert!(mentions("dev = [\"ruff>=0.4\"]", "ruff"));
        assert!(!mentions("blacklist = true", "black"));
        assert!(!mentions("gruff = 1", "ruff"));
    }
}
