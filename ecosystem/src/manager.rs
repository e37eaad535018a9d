//! The ecosystem manager: imports repositories (a real `git clone`) into `<state_dir>/ecosystem/<id>`, keeps one
//! metadata file per repository, and lists, shows and removes them.
//!
//! A repository counts as imported exactly when its metadata file exists. Clones are made in a temporary
//! directory and renamed into place before the metadata is written, so an import interrupted at any point leaves
//! no half-written repository behind: at worst a stray directory that the next import sweeps away.

mod deploy;
mod error;
mod source;
mod store;
#[cfg(test)]
mod tests;

use std::{
    fmt,
    future::Future,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use serde::{Deserialize, Serialize};

use self::source::Source;
pub(crate) use self::source::check_remote;
pub use self::{
    deploy::{
        DeployInstance, DeployLock, DeployOutcome, DeployRecord, HISTORY_LIMIT, ResolvedRef, check_ref,
        worktrees_to_remove,
    },
    error::EcosystemError,
};
use crate::Git;

/// The stable id of an imported repository: the first 12 hex digits of the SHA-256 of its normalised source.
///
/// Only lowercase hex is accepted, so an id is always safe as a path component.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ImportId(String);

impl ImportId {
    /// Parses an id as printed by `hive ecosystem list`.
    pub fn parse(value: &str) -> Result<ImportId, EcosystemError> {
        if value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(ImportId(value.to_owned()))
        } else {
            Err(EcosystemError::InvalidId { value: value.escape_debug().to_string() })
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ImportId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ImportId {
    type Error = EcosystemError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        ImportId::parse(&value)
    }
}

impl From<ImportId> for String {
    fn from(id: ImportId) -> String {
        id.0
    }
}

/// What hive remembers about an imported repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoMeta {
    /// The stable id.
    pub id: ImportId,
    /// The normalised source (URL or absolute path) it was cloned from.
    pub source: String,
    /// A short human name (the source's last path segment).
    pub name: String,
    /// RFC 3339 UTC time of the import.
    pub imported_at: String,
    /// Whether it was cloned with `--depth 1`.
    #[serde(default)]
    pub shallow: bool,
    /// The branch checked out by the clone (the source's default branch); `None` for an empty repository.
    pub default_branch: Option<String>,
    /// The commit checked out at import time; `None` for an empty repository.
    pub head: Option<String>,
    /// Build systems detection found in the clone at import time (`cargo`, `npm`, `make`, ...).
    #[serde(default)]
    pub build_systems: Vec<String>,
}

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Clone only the latest commit (`--depth 1`).
    pub shallow: bool,
    /// Give up on the clone after this long.
    pub timeout: Duration,
}

impl Default for ImportOptions {
    fn default() -> ImportOptions {
        ImportOptions { shallow: false, timeout: Duration::from_secs(600) }
    }
}

/// Imported repositories under `<state_dir>/ecosystem/`.
#[derive(Debug, Clone)]
pub struct EcosystemManager {
    root: PathBuf,
}

impl EcosystemManager {
    /// The manager for the hive state in `state_dir`. Nothing is created until the first import.
    pub fn new(state_dir: impl AsRef<Path>) -> EcosystemManager {
        // Absolute, so the paths it hands out stay right for commands run with another working directory.
        let state_dir = state_dir.as_ref();
        let state_dir = std::path::absolute(state_dir).unwrap_or_else(|_| state_dir.to_path_buf());
        EcosystemManager { root: state_dir.join("ecosystem") }
    }

    /// `<state_dir>/ecosystem`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the clone of `id` lives.
    pub fn repo_dir(&self, id: &ImportId) -> PathBuf {
        self.root.join(id.as_str())
    }

    fn meta_dir(&self) -> PathBuf {
        self.root.join("meta")
    }

    /// Clones `source` (a URL or a local directory) and records it. Refuses sources git could read as options or
    /// as commands, and a source that is already imported.
    pub async fn import(&self, source: &str, options: &ImportOptions) -> Result<RepoMeta, EcosystemError> {
        let source = Source::parse(source)?;
        let id = source.key();
        if let Some(existing) = store::load(&self.meta_dir(), &id)? {
            return Err(EcosystemError::already_imported(existing));
        }
        std::fs::create_dir_all(&self.root).map_err(EcosystemError::io("create", &self.root))?;
        sweep_stale(&self.root);
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".import-{}-", std::process::id()))
            .tempdir_in(&self.root)
            .map_err(EcosystemError::io("create a temporary directory in", &self.root))?;
        let staged = tmp.path().join("repo");
        let staged_text = staged.to_string_lossy().into_owned();
        let clone_arg = source.clone_arg(options.shallow);
        let mut args = vec!["-c", "protocol.ext.allow=never", "clone", "--quiet", "--no-recurse-submodules"];
        if options.shallow {
            args.extend(["--depth", "1"]);
        }
        args.extend(["--", clone_arg.as_str(), staged_text.as_str()]);
        Git::new(tmp.path())
            .timeout(options.timeout)
            .run(&args)
            .await
            .map_err(|source_err| EcosystemError::Clone { origin: shown(&source.normalised), source: source_err })?;

        let git = Git::new(&staged);
        let default_branch = git_fact(&git, &["symbolic-ref", "--quiet", "--short", "HEAD"]).await;
        let head = git_fact(&git, &["rev-parse", "--verify", "--quiet", "HEAD"]).await;
        let build_systems = detected_systems(&staged).await;

        let target = self.repo_dir(&id);
        // Another import of the same source may have finished while this one cloned.
        if let Some(existing) = store::load(&self.meta_dir(), &id)? {
            return Err(EcosystemError::already_imported(existing));
        }
        // A clone without metadata is what an import interrupted between rename and metadata write leaves.
        if target.exists() {
            remove_tree(target.clone()).await?;
        }
        std::fs::rename(&staged, &target).map_err(EcosystemError::io("move the clone to", &target))?;
        let meta = RepoMeta {
            id,
            source: source.normalised,
            name: source.name,
            imported_at: store::rfc3339(SystemTime::now()),
            shallow: options.shallow,
            default_branch,
            head,
            build_systems,
        };
        if let Err(err) = store::save(&self.meta_dir(), &meta) {
            let _ = remove_tree(target).await;
            return Err(err);
        }
        Ok(meta)
    }

    /// Every imported repository, sorted by name. A corrupted metadata file is an error naming it.
    pub fn list(&self) -> Result<Vec<RepoMeta>, EcosystemError> {
        store::load_all(&self.meta_dir())
    }

    /// One imported repository.
    pub fn show(&self, id: &str) -> Result<RepoMeta, EcosystemError> {
        let id = ImportId::parse(id)?;
        store::load(&self.meta_dir(), &id)?.ok_or(EcosystemError::NotFound { id: id.0 })
    }

    /// Replaces a repository's metadata, for example after build-system detection filled
    /// [`RepoMeta::build_systems`]. The repository must be imported.
    pub fn save(&self, meta: &RepoMeta) -> Result<(), EcosystemError> {
        self.show(meta.id.as_str())?;
        store::save(&self.meta_dir(), meta)
    }

    /// Removes a repository: its metadata and its clone.
    pub async fn remove(&self, id: &str) -> Result<RepoMeta, EcosystemError> {
        self.remove_with(id, |_| async { Ok::<(), std::convert::Infallible>(()) }).await
    }

    /// Removes a repository after `before` agreed: the caller stops the repository's services there. If `before`
    /// fails, or a deploy of it is under way, nothing is removed and the error says why. Its deploys' worktrees and
    /// history go with it.
    pub async fn remove_with<F, Fut, E>(&self, id: &str, before: F) -> Result<RepoMeta, EcosystemError>
    where
        F: FnOnce(RepoMeta) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: fmt::Display,
    {
        let meta = self.show(id)?;
        // Held to the end, so no deploy starts while the clone goes.
        let _deploys = self.lock_deploys(&meta)?;
        before(meta.clone())
            .await
            .map_err(|e| EcosystemError::RemoveRefused { id: meta.id.0.clone(), message: e.to_string() })?;
        let dir = self.repo_dir(&meta.id);
        // Move the clone aside first, so it vanishes from its place at once; deleting a big tree takes a while and
        // an interruption then only leaves a `.removing-*` directory that the next import sweeps.
        let trash = self.root.join(format!(".removing-{}-{}", std::process::id(), meta.id));
        let moved = match std::fs::rename(&dir, &trash) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(EcosystemError::io("move aside", &dir)(e)),
        };
        store::delete(&self.meta_dir(), &meta.id)?;
        if moved {
            remove_tree(trash).await?;
        }
        deploy::remove_deploys(self, &meta.id).await?;
        Ok(meta)
    }
}

/// A source or destination as errors and logs show it: credentials in a URL redacted.
pub(crate) fn shown(url: &str) -> String {
    hive_support::redact_url_credentials(url).into_owned()
}

/// One line of git output, or `None` when git says there is none (an empty repository has no HEAD commit).
async fn git_fact(git: &Git, args: &[&str]) -> Option<String> {
    git.run(args).await.ok().filter(|s| !s.is_empty())
}

/// The build systems detection finds in a fresh clone. A detection failure only leaves the list empty: an unusual
/// repository is still worth importing, and `show` reports what detection says about it.
async fn detected_systems(dir: &Path) -> Vec<String> {
    let owned = dir.to_path_buf();
    match tokio::task::spawn_blocking(move || crate::detect(&owned)).await {
        Ok(Ok(detection)) => detection.found().map(|(system, _)| system.as_str().to_owned()).collect(),
        Ok(Err(e)) => {
            tracing::warn!(dir = %dir.display(), error = %e, "build-system detection failed");
            Vec::new()
        }
        Err(_) => Vec::new(),
    }
}

/// Deletes a directory tree off the async runtime's threads.
async fn remove_tree(path: PathBuf) -> Result<(), EcosystemError> {
    let shown = path.clone();
    match tokio::task::spawn_blocking(move || std::fs::remove_dir_all(&path)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Ok(Err(e)) => Err(EcosystemError::io("remove", shown)(e)),
        Err(join) => Err(EcosystemError::io("remove", shown)(std::io::Error::other(join.to_string()))),
    }
}

/// Removes `.import-<pid>-*` and `.removing-<pid>-*` directories whose process is gone: what a killed import or
/// removal left. A directory of a live process (a concurrent import) is left alone.
fn sweep_stale(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(".import-").or_else(|| name.strip_prefix(".removing-")) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|pid| !process_alive(pid)) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn process_alive(pid: i32) -> bool {
    // Signal 0 checks existence without delivering anything; EPERM still means the process exists.
    !matches!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None), Err(nix::errno::Errno::ESRCH))
}
