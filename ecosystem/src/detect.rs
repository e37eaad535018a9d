//! Build-system detection: which build systems a repository uses, found by reading its files only. No build tool
//! runs here, so detecting an untrusted repository is safe.

use std::{
    collections::BTreeMap,
    fmt, fs, io,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

#[cfg(test)]
mod tests;

/// Manifests are read up to this size; a larger one is reported as broken rather than read whole, so a hostile
/// repository cannot make detection allocate without bound.
pub(crate) const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// A build system hive knows how to recognise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildSystem {
    /// Rust's cargo (`Cargo.toml`).
    Cargo,
    /// npm (`package.json`, with `package-lock.json` or no lock file).
    Npm,
    /// pnpm (`package.json` with `pnpm-lock.yaml`).
    Pnpm,
    /// Yarn (`package.json` with `yarn.lock`).
    Yarn,
    /// Python (`pyproject.toml`, `setup.py` or `requirements.txt`).
    Python,
    /// Make (`GNUmakefile`, `makefile` or `Makefile`).
    Make,
    /// Go modules (`go.mod`).
    Go,
    /// Maven (`pom.xml`).
    Maven,
    /// Gradle (`build.gradle[.kts]`, `settings.gradle[.kts]`).
    Gradle,
    /// Docker (`Dockerfile`, `Containerfile`, `compose.yaml`, `docker-compose.yml`).
    Docker,
    /// just (`justfile`, `Justfile`, `.justfile`).
    Just,
}

impl BuildSystem {
    /// Every build system, in a fixed order.
    pub const ALL: [BuildSystem; 11] = [
        BuildSystem::Cargo,
        BuildSystem::Npm,
        BuildSystem::Pnpm,
        BuildSystem::Yarn,
        BuildSystem::Python,
        BuildSystem::Make,
        BuildSystem::Go,
        BuildSystem::Maven,
        BuildSystem::Gradle,
        BuildSystem::Docker,
        BuildSystem::Just,
    ];

    /// The lowercase name, used as the prefix of command names (`cargo:test`).
    pub fn as_str(self) -> &'static str {
        match self {
            BuildSystem::Cargo => "cargo",
            BuildSystem::Npm => "npm",
            BuildSystem::Pnpm => "pnpm",
            BuildSystem::Yarn => "yarn",
            BuildSystem::Python => "python",
            BuildSystem::Make => "make",
            BuildSystem::Go => "go",
            BuildSystem::Maven => "maven",
            BuildSystem::Gradle => "gradle",
            BuildSystem::Docker => "docker",
            BuildSystem::Just => "just",
        }
    }
}

impl fmt::Display for BuildSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What detection found for one build system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SystemStatus {
    /// The system is used; `manifest` is the file that says so.
    Found {
        /// The manifest, as a path under the detected directory.
        manifest: PathBuf,
    },
    /// The manifest is there but cannot be used, for example an unparsable `package.json`.
    Broken {
        /// The manifest, as a path under the detected directory.
        manifest: PathBuf,
        /// Why, with the parser's line and column where it has them.
        cause: String,
    },
    /// No sign of the system.
    Missing,
}

/// Every build system's [`SystemStatus`] in one directory. A repository may use several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detection {
    dir: PathBuf,
    systems: BTreeMap<BuildSystem, SystemStatus>,
}

static MISSING: SystemStatus = SystemStatus::Missing;

impl Detection {
    /// The directory that was detected.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The status of one system.
    pub fn status(&self, system: BuildSystem) -> &SystemStatus {
        self.systems.get(&system).unwrap_or(&MISSING)
    }

    /// Every system with its status, in [`BuildSystem::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (BuildSystem, &SystemStatus)> {
        BuildSystem::ALL.into_iter().map(|system| (system, self.status(system)))
    }

    /// The systems found, with their manifests.
    pub fn found(&self) -> impl Iterator<Item = (BuildSystem, &Path)> {
        self.iter().filter_map(|(system, status)| match status {
            SystemStatus::Found { manifest } => Some((system, manifest.as_path())),
            _ => None,
        })
    }

    /// The systems whose manifest is broken, with the manifest and the cause.
    pub fn broken(&self) -> impl Iterator<Item = (BuildSystem, &Path, &str)> {
        self.iter().filter_map(|(system, status)| match status {
            SystemStatus::Broken { manifest, cause } => Some((system, manifest.as_path(), cause.as_str())),
            _ => None,
        })
    }

    /// Whether `system` was found (and is not broken).
    pub fn is_found(&self, system: BuildSystem) -> bool {
        matches!(self.status(system), SystemStatus::Found { .. })
    }

    /// Whether no system was found or broken: nothing here looks like a project.
    pub fn is_empty(&self) -> bool {
        self.iter().all(|(_, status)| *status == SystemStatus::Missing)
    }
}

/// Why a directory could not be detected at all. A single unreadable or broken manifest is not an error: it shows
/// as [`SystemStatus::Broken`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DetectError {
    /// The path is not a directory.
    #[error("cannot detect build systems in '{dir}': not a directory; give a repository's root directory")]
    NotADirectory {
        /// The path given.
        dir: PathBuf,
    },
    /// The directory could not be read.
    #[error("cannot detect build systems in '{dir}': the directory cannot be read")]
    Io {
        /// The path given.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// Detects every build system used in `dir` from its files.
///
/// ```
/// use hive_ecosystem::{BuildSystem, SystemStatus, detect};
///
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("package.json"), "{ \"name\": ").unwrap();
/// std::fs::write(dir.path().join("go.mod"), "module example.com/x\n").unwrap();
/// let detection = detect(dir.path()).unwrap();
/// assert!(detection.is_found(BuildSystem::Go));
/// let SystemStatus::Broken { cause, .. } = detection.status(BuildSystem::Npm) else { panic!() };
/// assert_eq!(cause, "invalid JSON at line 1, column 10: EOF while parsing a value");
/// assert_eq!(*detection.status(BuildSystem::Cargo), SystemStatus::Missing);
/// ```
pub fn detect(dir: &Path) -> Result<Detection, DetectError> {
    let meta = fs::metadata(dir).map_err(|source| DetectError::Io { dir: dir.to_path_buf(), source })?;
    if !meta.is_dir() {
        return Err(DetectError::NotADirectory { dir: dir.to_path_buf() });
    }
    let mut systems: BTreeMap<BuildSystem, SystemStatus> =
        BuildSystem::ALL.into_iter().map(|system| (system, SystemStatus::Missing)).collect();
    let mut set = |system, status| {
        systems.insert(system, status);
    };
    if let Some(status) = probe(dir, &["Cargo.toml"], check_cargo) {
        set(BuildSystem::Cargo, status);
    }
    if let Some(status) = probe(dir, &["package.json"], check_package_json) {
        for system in npm_family(dir, &status) {
            set(system, status.clone());
        }
    }
    let python = probe(dir, &["pyproject.toml"], check_toml)
        .or_else(|| probe(dir, &["setup.py", "setup.cfg", "requirements.txt"], accept));
    if let Some(status) = python {
        set(BuildSystem::Python, status);
    }
    // Make reads these in this order and uses the first it finds.
    if let Some(status) = probe(dir, &["GNUmakefile", "makefile", "Makefile"], accept) {
        set(BuildSystem::Make, status);
    }
    if let Some(status) = probe(dir, &["go.mod"], check_go_mod) {
        set(BuildSystem::Go, status);
    }
    if let Some(status) = probe(dir, &["pom.xml"], check_pom) {
        set(BuildSystem::Maven, status);
    }
    let gradle = ["build.gradle.kts", "build.gradle", "settings.gradle.kts", "settings.gradle"];
    if let Some(status) = probe(dir, &gradle, accept) {
        set(BuildSystem::Gradle, status);
    }
    let docker =
        ["Dockerfile", "Containerfile", "compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"];
    if let Some(status) = probe(dir, &docker, accept) {
        set(BuildSystem::Docker, status);
    }
    if let Some(status) = probe(dir, &["justfile", "Justfile", ".justfile"], accept) {
        set(BuildSystem::Just, status);
    }
    Ok(Detection { dir: dir.to_path_buf(), systems })
}

/// The first of `names` that is a regular file in `dir` (symbolic links followed), if any.
pub(crate) fn first_file(dir: &Path, names: &[&str]) -> Option<PathBuf> {
    names.iter().map(|name| dir.join(name)).find(|path| fs::metadata(path).is_ok_and(|meta| meta.is_file()))
}

/// Looks for the first of `names` and checks its contents; `None` when none is there.
fn probe(dir: &Path, names: &[&str], check: fn(&str) -> Result<(), String>) -> Option<SystemStatus> {
    let manifest = first_file(dir, names)?;
    let checked = read_manifest(&manifest).and_then(|text| check(&text));
    Some(match checked {
        Ok(()) => SystemStatus::Found { manifest },
        Err(cause) => SystemStatus::Broken { manifest, cause },
    })
}

/// Reads a manifest as UTF-8, at most [`MAX_MANIFEST_BYTES`]; the error is the cause to report.
pub(crate) fn read_manifest(path: &Path) -> Result<String, String> {
    // Bounded and only a regular file: a FIFO in a working tree would block detection, a device never end.
    let bytes = hive_support::read_bounded(path, MAX_MANIFEST_BYTES).map_err(|e| format!("cannot read: {e}"))?;
    String::from_utf8(bytes).map_err(|e| format!("not UTF-8 (invalid byte at offset {})", e.utf8_error().valid_up_to()))
}

fn accept(_: &str) -> Result<(), String> {
    Ok(())
}

/// Parses TOML into a table; the error carries the parser's line and column.
pub(crate) fn parse_toml(text: &str) -> Result<toml::Table, String> {
    text.parse::<toml::Table>().map_err(|e| match e.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            format!("invalid TOML at line {line}, column {column}: {}", e.message().trim())
        }
        None => format!("invalid TOML: {}", e.message().trim()),
    })
}

/// Parses JSON; the error carries the parser's line and column.
pub(crate) fn parse_json(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| {
        let message = e.to_string();
        // serde_json appends " at line L column C"; the position is given in front instead.
        let message = message.rsplit_once(" at line ").map_or(message.as_str(), |(head, _)| head);
        format!("invalid JSON at line {}, column {}: {message}", e.line(), e.column())
    })
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |tail| tail.chars().count()) + 1;
    (line, column)
}

fn check_toml(text: &str) -> Result<(), String> {
    parse_toml(text).map(drop)
}

fn check_cargo(text: &str) -> Result<(), String> {
    let table = parse_toml(text)?;
    if table.get("package").is_some_and(toml::Value::is_table)
        || table.get("workspace").is_some_and(toml::Value::is_table)
    {
        Ok(())
    } else {
        Err("neither a [package] nor a [workspace] table".to_owned())
    }
}

fn check_package_json(text: &str) -> Result<(), String> {
    match parse_json(text)? {
        serde_json::Value::Object(_) => Ok(()),
        _ => Err("not a JSON object".to_owned()),
    }
}

fn check_go_mod(text: &str) -> Result<(), String> {
    if text.lines().any(|line| line.trim_start().starts_with("module ")) {
        Ok(())
    } else {
        Err("no 'module' directive".to_owned())
    }
}

fn check_pom(text: &str) -> Result<(), String> {
    if text.contains("<project") { Ok(()) } else { Err("no <project> element".to_owned()) }
}

/// Which of npm, pnpm and yarn a `package.json` belongs to: each lock file present names one; without a lock file
/// the `packageManager` field decides, and npm is the default.
fn npm_family(dir: &Path, status: &SystemStatus) -> Vec<BuildSystem> {
    let mut systems = Vec::new();
    if first_file(dir, &["pnpm-lock.yaml"]).is_some() {
        systems.push(BuildSystem::Pnpm);
    }
    if first_file(dir, &["yarn.lock"]).is_some() {
        systems.push(BuildSystem::Yarn);
    }
    if first_file(dir, &["package-lock.json", "npm-shrinkwrap.json"]).is_some() {
        systems.push(BuildSystem::Npm);
    }
    if systems.is_empty() {
        let manager = match status {
            SystemStatus::Found { manifest } => read_manifest(manifest)
                .ok()
                .and_then(|text| parse_json(&text).ok())
                .and_then(|json| json.get("packageManager")?.as_str().map(str::to_owned)),
            _ => None,
        };
        systems.push(match manager.as_deref() {
            Some(m) if m.starts_with("pnpm@") => BuildSystem::Pnpm,
            Some(m) if m.starts_with("yarn@") => BuildSystem::Yarn,
            _ => BuildSystem::Npm,
        });
    }
    systems
}
