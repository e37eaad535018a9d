//! Cargo packages and their targets: from `cargo metadata` when cargo is available, else from the manifests.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use super::{CommandKind, DiscoveredCommand, safe_name};
use crate::{
    BuildSystem,
    detect::{parse_toml, read_manifest},
    process::{CommandSpec, TOOL_ENV, run},
};

/// One package of a cargo project, as much as command discovery needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Package {
    pub(crate) name: String,
    pub(crate) bins: Vec<String>,
    pub(crate) examples: Vec<String>,
}

/// The workspace's packages from `cargo metadata --no-deps --offline`; empty when cargo is missing or fails, so
/// the caller falls back to reading the manifests.
pub(crate) async fn packages(dir: &Path) -> Vec<Package> {
    let args = ["metadata", "--no-deps", "--format-version", "1", "--offline"];
    let mut spec =
        CommandSpec::new("cargo", args, dir).timeout(Duration::from_secs(60)).output_cap(32 << 20).env_clear();
    // The repository's `.cargo/config.toml` can name programs cargo runs (a rustc wrapper), so cargo gets only what
    // it needs to find itself and its registry, never hive's tokens.
    for key in TOOL_ENV {
        if let Some(value) = std::env::var_os(key) {
            spec = spec.env(key, value);
        }
    }
    let out = match run(&spec).await {
        Ok(out) if out.success() && !out.truncated => out,
        Ok(out) => {
            tracing::debug!(dir = %dir.display(), stderr = %out.stderr_text().trim(), "cargo metadata failed");
            return Vec::new();
        }
        Err(e) => {
            tracing::debug!(error = %e, "cargo not available; reading Cargo.toml instead");
            return Vec::new();
        }
    };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else { return Vec::new() };
    let empty = Vec::new();
    let packages = json.get("packages").and_then(|p| p.as_array()).unwrap_or(&empty);
    packages
        .iter()
        .filter_map(|package| {
            let name = package.get("name")?.as_str()?.to_owned();
            let targets = package.get("targets")?.as_array()?;
            let of_kind = |wanted: &str| -> Vec<String> {
                targets
                    .iter()
                    .filter(|t| t["kind"].as_array().is_some_and(|kinds| kinds.iter().any(|k| k == wanted)))
                    .filter_map(|t| t["name"].as_str().map(str::to_owned))
                    .filter(|n| safe_name(n))
                    .collect()
            };
            Some(Package { bins: of_kind("bin"), examples: of_kind("example"), name })
        })
        .filter(|package| safe_name(&package.name))
        .collect()
}

/// The packages read from `dir/Cargo.toml` and its workspace members' manifests, with cargo's target
/// auto-discovery (`src/main.rs`, `src/bin/*.rs`, `examples/*.rs`) applied by hand.
pub(crate) fn packages_from_manifests(dir: &Path) -> Vec<Package> {
    let Some(root) = manifest(dir) else { return Vec::new() };
    let mut packages: Vec<Package> = package(dir, &root).into_iter().collect();
    let members = root.get("workspace").and_then(|w| w.get("members")).and_then(|m| m.as_array());
    for pattern in members.into_iter().flatten().filter_map(|m| m.as_str()) {
        for member in member_dirs(dir, pattern) {
            if let Some(found) = manifest(&member).and_then(|table| package(&member, &table)) {
                packages.push(found);
            }
        }
    }
    packages
}

/// The commands of a cargo project with `packages`.
pub(crate) fn commands(dir: &Path, packages: &[Package]) -> Vec<DiscoveredCommand> {
    let cargo = BuildSystem::Cargo;
    let mut commands = vec![
        DiscoveredCommand::new(cargo, "build", CommandKind::Build, &["cargo", "build"], dir),
        DiscoveredCommand::new(cargo, "check", CommandKind::Build, &["cargo", "check"], dir),
        DiscoveredCommand::new(cargo, "test", CommandKind::Test, &["cargo", "test"], dir),
        DiscoveredCommand::new(cargo, "clippy", CommandKind::Lint, &["cargo", "clippy", "--all-targets"], dir),
        DiscoveredCommand::new(cargo, "fmt-check", CommandKind::Lint, &["cargo", "fmt", "--all", "--check"], dir),
    ];
    for package in packages {
        let name = package.name.as_str();
        if packages.len() > 1 {
            let argv = ["cargo", "test", "-p", name];
            commands.push(DiscoveredCommand::new(cargo, &format!("test:{name}"), CommandKind::Test, &argv, dir));
        }
        for bin in &package.bins {
            let argv = ["cargo", "run", "-p", name, "--bin", bin];
            commands.push(DiscoveredCommand::new(cargo, &format!("run:{bin}"), CommandKind::Run, &argv, dir));
        }
        for example in &package.examples {
            let argv = ["cargo", "run", "-p", name, "--example", example];
            commands.push(DiscoveredCommand::new(cargo, &format!("example:{example}"), CommandKind::Run, &argv, dir));
        }
    }
    commands
}

fn manifest(dir: &Path) -> Option<toml::Table> {
    read_manifest(&dir.join("Cargo.toml")).ok().and_then(|text| parse_toml(&text).ok())
}

/// The directories a `workspace.members` entry names: a plain path, or `prefix/*`. Other globs and paths leaving
/// the repository are skipped: discovery is best effort, and `cargo metadata` handles them when cargo is present.
fn member_dirs(dir: &Path, pattern: &str) -> Vec<PathBuf> {
    if pattern.split('/').any(|part| part == "..") || pattern.starts_with('/') {
        return Vec::new();
    }
    match pattern.strip_suffix("/*") {
        Some(prefix) if !prefix.contains(['*', '?', '[']) => {
            let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir.join(prefix))
                .into_iter()
                .flatten()
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| path.join("Cargo.toml").is_file())
                .collect();
            dirs.sort();
            dirs
        }
        None if !pattern.contains(['*', '?', '[']) => vec![dir.join(pattern)],
        _ => Vec::new(),
    }
}

fn package(dir: &Path, manifest: &toml::Table) -> Option<Package> {
    let table = manifest.get("package")?.as_table()?;
    let name = table.get("name")?.as_str()?.to_owned();
    let named = |key: &str| -> Vec<String> {
        let targets = manifest.get(key).and_then(|v| v.as_array());
        targets.into_iter().flatten().filter_map(|t| t.get("name")?.as_str().map(str::to_owned)).collect()
    };
    let auto = |key: &str| table.get(key).and_then(|v| v.as_bool()).unwrap_or(true);
    let mut bins = named("bin");
    if auto("autobins") {
        if dir.join("src/main.rs").is_file() {
            bins.push(name.clone());
        }
        bins.extend(sources(&dir.join("src/bin")));
    }
    let mut examples = named("example");
    if auto("autoexamples") {
        examples.extend(sources(&dir.join("examples")));
    }
    for list in [&mut bins, &mut examples] {
        list.retain(|n| safe_name(n));
        let mut seen = std::collections::HashSet::new();
        list.retain(|n| seen.insert(n.clone()));
    }
    safe_name(&name).then_some(Package { name, bins, examples })
}

/// Target names cargo would infer from a directory: `x.rs` and `x/main.rs` both make a target `x`.
fn sources(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            let name = if path.is_dir() && path.join("main.rs").is_file() {
                path.file_name()?.to_str()?.to_owned()
            } else if path.extension().is_some_and(|e| e == "rs") && path.is_file() {
                path.file_stem()?.to_str()?.to_owned()
            } else {
                return None;
            };
            Some(name)
        })
        .collect();
    names.sort();
    names
}
