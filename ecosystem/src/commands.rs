//! Command discovery: what can be built, tested, run or linted in a repository, as argument vectors.
//!
//! Everything here reads files, except for one tool run: `cargo metadata --no-deps --offline`, which only reads
//! manifests, when cargo is on `PATH` (it knows target auto-discovery rules better than any re-implementation).
//! Make targets and just recipes are parsed from their files; npm-family scripts come from `package.json`; the
//! other systems get their conventional commands.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{BuildSystem, Detection, detect, detect::first_file};

mod cargo;
mod parse;
#[cfg(test)]
mod tests;

pub(crate) use parse::{just_recipes, make_targets};

/// What a discovered command is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandKind {
    /// Compiles or packages.
    Build,
    /// Runs tests.
    Test,
    /// Runs the program or a server.
    Run,
    /// Lints or checks formatting.
    Lint,
    /// Anything else (release scripts, helpers).
    Other,
}

/// A command a repository offers, ready to run as an argument vector (never through a shell).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveredCommand {
    /// `<system>:<what>`, such as `cargo:test`, `npm:build`, `make:lint` or `just:serve`; unique in one repository.
    pub name: String,
    /// The build system it belongs to.
    pub system: BuildSystem,
    /// What it is for.
    pub kind: CommandKind,
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Working directory.
    pub cwd: PathBuf,
}

impl DiscoveredCommand {
    fn new(system: BuildSystem, what: &str, kind: CommandKind, argv: &[&str], cwd: &Path) -> DiscoveredCommand {
        DiscoveredCommand {
            name: format!("{system}:{what}"),
            system,
            kind,
            argv: argv.iter().map(|a| (*a).to_owned()).collect(),
            cwd: cwd.to_path_buf(),
        }
    }
}

/// Lists the commands `dir` offers for every system `detection` found (broken ones offer none), in
/// [`BuildSystem::ALL`] order.
///
/// ```
/// use hive_ecosystem::{CommandKind, detect, discover_commands};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("Makefile"), "test:\n\ttrue\n").unwrap();
/// let commands = discover_commands(dir.path(), &detect(dir.path()).unwrap()).await;
/// assert_eq!(commands[0].name, "make:test");
/// assert_eq!(commands[0].argv, ["make", "test"]);
/// assert_eq!(commands[0].kind, CommandKind::Test);
/// # });
/// ```
pub async fn discover_commands(dir: &Path, detection: &Detection) -> Vec<DiscoveredCommand> {
    let cargo = if detection.is_found(BuildSystem::Cargo) { cargo::packages(dir).await } else { Vec::new() };
    let (dir, detection) = (dir.to_path_buf(), detection.clone());
    // The rest reads files: a blocking task keeps the async runtime free.
    let found = tokio::task::spawn_blocking(move || discover_from_files(&dir, &detection, cargo)).await;
    found.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "command discovery panicked");
        Vec::new()
    })
}

/// The command hive runs as a repository's tests (the local forge's CI), or `None` when it has none.
///
/// A task runner's `test` (just, then make, `test` before `check`) wins over a build tool's own, since a project
/// that has one usually wraps its real test setup in it; then cargo, npm-family scripts (not npm's "no test
/// specified" placeholder), Go, Maven, Gradle and Python.
pub async fn test_command(dir: &Path) -> Option<DiscoveredCommand> {
    let owned = dir.to_path_buf();
    let detection = match tokio::task::spawn_blocking(move || detect(&owned)).await {
        Ok(Ok(detection)) => detection,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "no test command: detection failed");
            return None;
        }
        Err(_) => return None,
    };
    pick_test_command(discover_commands(dir, &detection).await)
}

/// The preferred test command among `commands`; see [`test_command`].
fn pick_test_command(commands: Vec<DiscoveredCommand>) -> Option<DiscoveredCommand> {
    const PREFERENCE: [&str; 12] = [
        "just:test",
        "make:test",
        "make:check",
        "cargo:test",
        "npm:test",
        "pnpm:test",
        "yarn:test",
        "go:test",
        "maven:test",
        "gradle:test",
        "python:test",
        "just:check",
    ];
    PREFERENCE.iter().find_map(|name| commands.iter().find(|c| c.name == *name).cloned())
}

fn discover_from_files(dir: &Path, detection: &Detection, cargo: Vec<cargo::Package>) -> Vec<DiscoveredCommand> {
    let mut commands = Vec::new();
    for (system, manifest) in detection.found() {
        match system {
            BuildSystem::Cargo => {
                let cargo = if cargo.is_empty() { cargo::packages_from_manifests(dir) } else { cargo.clone() };
                commands.extend(cargo::commands(dir, &cargo));
            }
            BuildSystem::Npm | BuildSystem::Pnpm | BuildSystem::Yarn => commands.extend(scripts(system, manifest, dir)),
            BuildSystem::Make => {
                let text = crate::detect::read_manifest(manifest).unwrap_or_default();
                commands.extend(
                    make_targets(&text).into_iter().map(|target| {
                        DiscoveredCommand::new(system, &target, kind_of(&target), &["make", &target], dir)
                    }),
                );
            }
            BuildSystem::Just => {
                let text = crate::detect::read_manifest(manifest).unwrap_or_default();
                commands.extend(
                    just_recipes(&text).into_iter().map(|recipe| {
                        DiscoveredCommand::new(system, &recipe, kind_of(&recipe), &["just", &recipe], dir)
                    }),
                );
            }
            BuildSystem::Python => {
                let runner = if uses_pytest(dir) { "pytest" } else { "unittest" };
                commands.push(DiscoveredCommand::new(
                    system,
                    "test",
                    CommandKind::Test,
                    &["python3", "-m", runner],
                    dir,
                ));
            }
            BuildSystem::Go => {
                for (what, kind) in
                    [("build", CommandKind::Build), ("test", CommandKind::Test), ("vet", CommandKind::Lint)]
                {
                    commands.push(DiscoveredCommand::new(system, what, kind, &["go", what, "./..."], dir));
                }
            }
            BuildSystem::Maven => {
                let mvn = wrapper(dir, "mvnw").unwrap_or_else(|| "mvn".to_owned());
                for (what, kind, goal) in
                    [("build", CommandKind::Build, "package"), ("test", CommandKind::Test, "test")]
                {
                    commands.push(DiscoveredCommand::new(system, what, kind, &[&mvn, "-B", goal], dir));
                }
            }
            BuildSystem::Gradle => {
                let gradle = wrapper(dir, "gradlew").unwrap_or_else(|| "gradle".to_owned());
                for (what, kind) in [("build", CommandKind::Build), ("test", CommandKind::Test)] {
                    commands.push(DiscoveredCommand::new(system, what, kind, &[&gradle, what], dir));
                }
            }
            BuildSystem::Docker => {
                if first_file(dir, &["Dockerfile", "Containerfile"]).is_some() {
                    commands.push(DiscoveredCommand::new(
                        system,
                        "build",
                        CommandKind::Build,
                        &["docker", "build", "."],
                        dir,
                    ));
                }
                let compose = ["compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"];
                if first_file(dir, &compose).is_some() {
                    let argv = ["docker", "compose", "up"];
                    commands.push(DiscoveredCommand::new(system, "compose-up", CommandKind::Run, &argv, dir));
                }
            }
        }
    }
    // Names are unique per repository: the first command of a name wins (a Makefile listing `test` twice).
    let mut seen = std::collections::HashSet::new();
    commands.retain(|c| seen.insert(c.name.clone()));
    commands
}

/// npm-family scripts from `package.json`, run as `<manager> run <script>`. npm's generated placeholder test
/// script ("Error: no test specified") is left out: it always fails and tests nothing.
fn scripts(system: BuildSystem, manifest: &Path, dir: &Path) -> Vec<DiscoveredCommand> {
    let json = crate::detect::read_manifest(manifest).ok().and_then(|text| crate::detect::parse_json(&text).ok());
    let Some(serde_json::Value::Object(scripts)) =
        json.and_then(|mut json| json.get_mut("scripts").map(serde_json::Value::take))
    else {
        return Vec::new();
    };
    scripts
        .iter()
        .filter(|(name, body)| safe_name(name) && !body.as_str().is_some_and(|b| b.contains("no test specified")))
        .map(|(name, _)| DiscoveredCommand::new(system, name, kind_of(name), &[system.as_str(), "run", name], dir))
        .collect()
}

/// A wrapper script (`gradlew`, `mvnw`) in `dir`, as an absolute path so it does not depend on how the child's
/// working directory is resolved.
fn wrapper(dir: &Path, name: &str) -> Option<String> {
    let path = first_file(dir, &[name])?;
    std::path::absolute(path).ok().and_then(|p| p.to_str().map(str::to_owned))
}

/// Whether the Python project is set up for pytest rather than plain unittest.
fn uses_pytest(dir: &Path) -> bool {
    if first_file(dir, &["pytest.ini", "conftest.py"]).is_some() {
        return true;
    }
    ["pyproject.toml", "setup.cfg", "tox.ini", "requirements.txt", "requirements-dev.txt", "requirements_dev.txt"]
        .iter()
        .filter_map(|name| first_file(dir, &[name]))
        .any(|path| crate::detect::read_manifest(&path).is_ok_and(|text| text.contains("pytest")))
}

/// Guesses what a target, recipe or script is for from its name.
pub(crate) fn kind_of(name: &str) -> CommandKind {
    let base = name.split([':', '-', '_', '/', '.']).next().unwrap_or(name).to_ascii_lowercase();
    match base.as_str() {
        "test" | "tests" | "check" | "spec" | "e2e" | "coverage" => CommandKind::Test,
        "build" | "all" | "compile" | "dist" | "package" | "bundle" => CommandKind::Build,
        "run" | "start" | "serve" | "server" | "dev" | "watch" => CommandKind::Run,
        "lint" | "fmt" | "format" | "vet" | "clippy" | "typecheck" | "style" => CommandKind::Lint,
        _ => CommandKind::Other,
    }
}

/// Whether a name from a repository's files is safe to show and pass as one argument: printable ASCII from a
/// small set, not starting with `-` (it would read as an option), at most 100 characters.
pub(crate) fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/' | b'+' | b'@'))
}
