//! Dependency edges read from manifests: Cargo path and git dependencies, npm `file:` / `link:` / `git+` and
//! `workspace:` dependencies, Go `replace` directives with local paths. Only files are read; no build tool runs.
//!
//! A reference is matched to a repository of the set in this order: a path inside that repository's directory; a
//! URL it is known by; its name (the last path or URL segment, or the package name) when exactly one repository
//! has it. Imported clones live under hash-named directories, so `../core` in a manifest cannot match a directory
//! there and falls back to the name `core`.

use std::{
    fs,
    path::{Component, Path, PathBuf},
};

use super::{Edge, GraphRepo};
use crate::EcosystemError;

/// A reference from one repository to something that may be another repository of the set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Reference {
    /// A local path (absolute, lexically normalised).
    path: Option<PathBuf>,
    /// A git URL.
    url: Option<String>,
    /// Names to try, in order, when neither the path nor the URL matches.
    names: Vec<String>,
}

impl Reference {
    fn path(path: PathBuf, package: &str) -> Reference {
        let last = path.file_name().map(|n| n.to_string_lossy().into_owned());
        Reference { path: Some(path), url: None, names: std::iter::once(package.to_owned()).chain(last).collect() }
    }

    fn url(url: &str, package: &str) -> Reference {
        let last = normalise_url(url).rsplit(['/', ':']).next().map(str::to_owned);
        Reference {
            path: None,
            url: Some(url.to_owned()),
            names: std::iter::once(package.to_owned()).chain(last).collect(),
        }
    }
}

/// What one repository's manifests say.
#[derive(Debug, Default)]
struct Scan {
    /// Package and module names it publishes.
    names: Vec<String>,
    /// References with where they come from.
    references: Vec<(Reference, String)>,
}

/// Every manifest edge among `repos`.
pub(super) fn edges(repos: &[GraphRepo]) -> Result<Vec<Edge>, EcosystemError> {
    let scans: Vec<Scan> = repos.iter().map(|r| scan(&r.dir)).collect::<Result<_, _>>()?;
    let dirs: Vec<PathBuf> = repos.iter().map(|r| r.dir.canonicalize().unwrap_or_else(|_| normalise(&r.dir))).collect();
    let mut edges = Vec::new();
    for (from, scan) in scans.iter().enumerate() {
        for (reference, via) in &scan.references {
            // A path inside a repository decides, even when that repository is the one referring (a workspace
            // member): names are only a fallback for paths and URLs that lead nowhere known.
            let by_path = reference.path.as_ref().and_then(|path| dirs.iter().position(|dir| path.starts_with(dir)));
            let by_url = || {
                let url = normalise_url(reference.url.as_deref()?);
                repos.iter().position(|r| r.urls.iter().any(|u| normalise_url(u) == url))
            };
            let to = by_path
                .or_else(by_url)
                .or_else(|| reference.names.iter().find_map(|name| by_name(repos, &scans, name)));
            if let Some(to) = to.filter(|to| *to != from) {
                edges.push(Edge {
                    dependent: repos[from].id.clone(),
                    dependency: repos[to].id.clone(),
                    via: via.clone(),
                });
            }
        }
    }
    Ok(edges)
}

/// The local paths `dir`'s manifests refer to (Cargo `path`, npm `file:` / `link:`, Go `replace` to a directory),
/// each absolute and normalised like the graph's own matching, with where it was read (`Cargo.toml core path
/// '../core'`). Local CI uses them to place the sibling repositories a clone needs.
pub fn local_paths(dir: &Path) -> Result<Vec<(PathBuf, String)>, EcosystemError> {
    let references = scan(dir)?.references;
    Ok(references.into_iter().filter_map(|(reference, via)| Some((reference.path?, via))).collect())
}

/// The one repository called `name` (by repository name or published package name), if exactly one is.
fn by_name(repos: &[GraphRepo], scans: &[Scan], name: &str) -> Option<usize> {
    let name = name.strip_suffix(".git").unwrap_or(name);
    let mut found = (0..repos.len()).filter(|&i| repos[i].name == name || scans[i].names.iter().any(|n| n == name));
    match (found.next(), found.next()) {
        (Some(i), None) => Some(i),
        _ => None,
    }
}

fn scan(dir: &Path) -> Result<Scan, EcosystemError> {
    let mut scan = Scan::default();
    cargo(dir, &dir.join("Cargo.toml"), &mut scan, true)?;
    npm(dir, &dir.join("package.json"), &mut scan, true)?;
    go(&dir.join("go.mod"), &mut scan)?;
    Ok(scan)
}

fn read(path: &Path) -> Result<Option<String>, EcosystemError> {
    match hive_support::read_bounded(path, crate::detect::MAX_MANIFEST_BYTES) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|e| bad(path, format!("not UTF-8 (invalid byte at offset {})", e.utf8_error().valid_up_to()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(EcosystemError::io("read", path)(e)),
    }
}

fn bad(path: &Path, message: impl ToString) -> EcosystemError {
    EcosystemError::Manifest { path: path.to_path_buf(), message: message.to_string() }
}

/// Cargo: `[package] name`; path and git dependencies in every dependency table (also per target, in
/// `[workspace.dependencies]` and `[patch.*]`); workspace members one level deep.
fn cargo(repo: &Path, manifest: &Path, scan: &mut Scan, root: bool) -> Result<(), EcosystemError> {
    let Some(text) = read(manifest)? else { return Ok(()) };
    let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| bad(manifest, e.message()))?;
    let base = manifest.parent().unwrap_or(repo);
    if let Some(name) = doc.get("package").and_then(|p| p.get("name")).and_then(|n| n.as_str()) {
        scan.names.push(name.to_owned());
    }
    let mut tables: Vec<&toml::Table> = Vec::new();
    let kinds = ["dependencies", "dev-dependencies", "build-dependencies"];
    tables.extend(kinds.iter().filter_map(|k| doc.get(*k).and_then(|t| t.as_table())));
    for target in doc.get("target").and_then(|t| t.as_table()).into_iter().flat_map(|t| t.values()) {
        tables.extend(kinds.iter().filter_map(|k| target.get(*k).and_then(|t| t.as_table())));
    }
    let workspace = doc.get("workspace").and_then(|w| w.as_table());
    tables.extend(workspace.and_then(|w| w.get("dependencies")).and_then(|t| t.as_table()));
    tables.extend(
        doc.get("patch").and_then(|p| p.as_table()).into_iter().flat_map(|p| p.values()).filter_map(|t| t.as_table()),
    );
    let shown = manifest.strip_prefix(repo).unwrap_or(manifest).display().to_string();
    for table in tables {
        for (key, spec) in table {
            let package = spec.get("package").and_then(|p| p.as_str()).unwrap_or(key);
            if let Some(path) = spec.get("path").and_then(|p| p.as_str()) {
                let reference = Reference::path(normalise(&base.join(path)), package);
                scan.references.push((reference, format!("{shown} {key} path '{path}'")));
            } else if let Some(url) = spec.get("git").and_then(|g| g.as_str()) {
                scan.references.push((Reference::url(url, package), format!("{shown} {key} git '{url}'")));
            }
        }
    }
    if root {
        let members = workspace.and_then(|w| w.get("members")).and_then(|m| m.as_array());
        for member in members.into_iter().flatten().filter_map(|m| m.as_str()) {
            for dir in expand(base, member) {
                cargo(repo, &dir.join("Cargo.toml"), scan, false)?;
            }
        }
    }
    Ok(())
}

/// npm: `name`; `file:` / `link:` paths, `git+` URLs and `workspace:` names in the dependency maps; workspaces one
/// level deep.
fn npm(repo: &Path, manifest: &Path, scan: &mut Scan, root: bool) -> Result<(), EcosystemError> {
    let Some(text) = read(manifest)? else { return Ok(()) };
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(manifest, e))?;
    let base = manifest.parent().unwrap_or(repo);
    if let Some(name) = doc.get("name").and_then(|n| n.as_str()) {
        scan.names.push(name.to_owned());
    }
    let shown = manifest.strip_prefix(repo).unwrap_or(manifest).display().to_string();
    for kind in ["dependencies", "devDependencies", "peerDependencies", "optionalDependencies"] {
        for (name, spec) in doc.get(kind).and_then(|d| d.as_object()).into_iter().flatten() {
            let Some(spec) = spec.as_str() else { continue };
            let via = format!("{shown} {kind} '{name}': '{spec}'");
            let reference = if let Some(path) = spec.strip_prefix("file:").or_else(|| spec.strip_prefix("link:")) {
                Reference::path(normalise(&base.join(path)), name)
            } else if spec.starts_with("workspace:") {
                Reference { names: vec![name.clone()], ..Reference::default() }
            } else if let Some(url) = spec.strip_prefix("git+").or_else(|| spec.starts_with("git://").then_some(spec)) {
                Reference::url(url.split('#').next().unwrap_or(url), name)
            } else {
                continue;
            };
            scan.references.push((reference, via));
        }
    }
    if root {
        let workspaces = doc.get("workspaces");
        let list = workspaces.and_then(|w| w.as_array()).or_else(|| workspaces?.get("packages")?.as_array());
        for pattern in list.into_iter().flatten().filter_map(|p| p.as_str()) {
            for dir in expand(base, pattern) {
                npm(repo, &dir.join("package.json"), scan, false)?;
            }
        }
    }
    Ok(())
}

/// Go: `module` path; `replace` directives (one-line and block form) whose target is a local path.
fn go(manifest: &Path, scan: &mut Scan) -> Result<(), EcosystemError> {
    let Some(text) = read(manifest)? else { return Ok(()) };
    let base = manifest.parent().unwrap_or(Path::new("."));
    let mut in_replace_block = false;
    for (number, line) in text.lines().enumerate() {
        let line = line.split("//").next().unwrap_or("").trim();
        let directive = if in_replace_block {
            if line == ")" {
                in_replace_block = false;
                continue;
            }
            line
        } else if let Some(rest) = line.strip_prefix("module ") {
            scan.names.push(rest.trim().trim_matches('"').to_owned());
            continue;
        } else if line.starts_with("replace") && line.ends_with('(') {
            in_replace_block = true;
            continue;
        } else if let Some(rest) = line.strip_prefix("replace ") {
            rest
        } else {
            continue;
        };
        if directive.is_empty() {
            continue;
        }
        let Some((module, target)) = directive.split_once("=>") else {
            return Err(bad(manifest, format!("line {}: replace without '=>'", number + 1)));
        };
        let target = target.split_whitespace().next().unwrap_or("").trim_matches('"');
        if target.starts_with("./") || target.starts_with("../") || target.starts_with('/') {
            let module = module.split_whitespace().next().unwrap_or("");
            let mut reference = Reference::path(normalise(&base.join(target)), module);
            // A module path's last segment is the usual repository name (`example.com/acme/core` -> `core`).
            reference.names.extend(module.rsplit('/').next().map(str::to_owned));
            scan.references.push((reference, format!("go.mod replace '{module}' => '{target}'")));
        }
    }
    Ok(())
}

/// A workspace member pattern: a literal directory, or `dir/*` for its subdirectories (sorted).
fn expand(base: &Path, pattern: &str) -> Vec<PathBuf> {
    let Some(parent) = pattern.strip_suffix("/*") else { return vec![base.join(pattern)] };
    let Ok(entries) = fs::read_dir(base.join(parent)) else { return Vec::new() };
    let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs
}

/// Resolves `.` and `..` without touching the file system (the target may not exist), then canonicalises what
/// does exist so symlinked directories compare equal.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out.canonicalize().unwrap_or(out)
}

/// URLs compare without scheme case, trailing slashes or a `.git` suffix.
fn normalise_url(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    let url = url.strip_suffix(".git").unwrap_or(url);
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{}://{rest}", scheme.to_ascii_lowercase()),
        None => url.to_owned(),
    }
}
