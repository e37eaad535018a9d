//! The local workspace forge: a directory of git repositories watched offline.
//!
//! Each subdirectory that is a git repository is one repository, `local/<dirname>`. A snapshot is git facts
//! (branch, dirty tree, upstream, last commit, stale branches) plus local CI: the repository's test command run in
//! a throwaway clone of HEAD with a clean environment (under bubblewrap where it works), with throwaway clones of the
//! sibling repositories it depends on by relative path beside it. A verdict is cached by HEAD and the siblings'
//! HEADs, so an unchanged repository is not tested again, across restarts too when a cache directory is given.
//!
//! Directory names come from the filesystem, so they are treated as hostile: they must make valid [`RepoId`]s,
//! symbolic links are never followed out of the workspace, and paths only ever reach git as a working directory
//! or after `--`, never through a shell.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime},
};

use dashmap::DashMap;
use tokio::sync::Semaphore;

use hive_ecosystem::{Git, GitError};

use crate::{CiState, CiStatus, Forge, ForgeError, RepoId, RepoSnapshot};

mod ci;
mod contents;
mod facts;
mod files;
mod repos;
mod sandbox;
mod siblings;
#[cfg(test)]
mod tests;

use ci::{CiCache, RunLimits};
pub use sandbox::Sandbox;

/// The owner part of every repository this forge sees.
pub const LOCAL_OWNER: &str = "local";

/// The forge's name, as [`Forge::name`] reports it.
const NAME: &str = "local";

/// Why a [`LocalForge`] could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalForgeError {
    /// The workspace is not a directory.
    #[error("workspace '{path}' is not a directory; give a directory whose subdirectories are git repositories")]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// The workspace could not be read.
    #[error("cannot open workspace '{path}'; check that it exists and is readable")]
    Io {
        /// The path given.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A [`Forge`] over a directory of git repositories.
///
/// ```no_run
/// use std::time::Duration;
/// use hive_forge::{Forge, LocalForge};
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let forge = LocalForge::new("/home/me/src")?
///     .with_cache_dir(".hive/cache/local-ci")
///     .with_test_timeout(Duration::from_secs(300));
/// for repo in forge.discover().await? {
///     let snapshot = forge.snapshot(&repo).await?;
///     println!("{repo}: ci {:?}, dirty {}", snapshot.ci.state, snapshot.local.is_some_and(|l| l.dirty));
/// }
/// # Ok(()) }
/// ```
pub struct LocalForge {
    root: PathBuf,
    test_timeout: Duration,
    git_timeout: Duration,
    output_cap: usize,
    sandbox: Sandbox,
    network: bool,
    cache: CiCache,
    /// Whether cached verdicts are used and recorded at all.
    use_cache: bool,
    /// One lock per repository, so two reads of one repository never test it twice at once: the second waits and
    /// finds the first one's result in the cache.
    repo_locks: DashMap<String, Arc<tokio::sync::Mutex<()>>>,
    /// Bounds how many test runs happen at once across the workspace.
    parallel: Arc<Semaphore>,
    /// Test commands given for some repositories (by directory name), run instead of the detected ones.
    test_commands: BTreeMap<String, Vec<String>>,
    /// The test command of every repository not in `test_commands`, run instead of the detected one.
    default_test_command: Option<Vec<String>>,
}

impl std::fmt::Debug for LocalForge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalForge").field("root", &self.root).field("test_timeout", &self.test_timeout).finish()
    }
}

impl LocalForge {
    /// A forge over the repositories in `root`, with a 10-minute test timeout, a 1 MiB output cap, test runs
    /// bounded by the number of CPUs, and a cache in memory only.
    pub fn new(root: impl AsRef<Path>) -> Result<LocalForge, LocalForgeError> {
        let path = root.as_ref();
        let io = |source| LocalForgeError::Io { path: path.to_path_buf(), source };
        // Canonical, so that "inside the workspace" means one thing whatever path the caller used.
        let root = std::fs::canonicalize(path).map_err(io)?;
        if !std::fs::metadata(&root).map_err(io)?.is_dir() {
            return Err(LocalForgeError::NotADirectory { path: path.to_path_buf() });
        }
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        Ok(LocalForge {
            root,
            test_timeout: Duration::from_secs(600),
            git_timeout: Duration::from_secs(60),
            output_cap: 1 << 20,
            sandbox: Sandbox::Auto,
            network: false,
            cache: CiCache::in_memory(),
            use_cache: true,
            repo_locks: DashMap::new(),
            parallel: Arc::new(Semaphore::new(cpus)),
            test_commands: BTreeMap::new(),
            default_test_command: None,
        })
    }

    /// Runs `argv` (a program and its arguments, run in the clone's root like a detected command, under the same
    /// confinement) as the test command of the repository in directory `name`, instead of the one its build files
    /// name. A cached verdict holds only for the same command: changing it tests the repository again.
    pub fn with_test_command(mut self, name: impl Into<String>, argv: Vec<String>) -> LocalForge {
        if !argv.is_empty() {
            self.test_commands.insert(name.into(), argv);
        }
        self
    }

    /// Runs `argv` as the test command of every repository that was given none of its own
    /// ([`LocalForge::with_test_command`], which takes precedence), instead of the one its build files name.
    pub fn with_default_test_command(mut self, argv: Vec<String>) -> LocalForge {
        self.default_test_command = Some(argv).filter(|argv| !argv.is_empty());
        self
    }

    /// Keeps local CI results in `dir` (a JSON file written atomically) as well as in memory, so a restarted hive
    /// does not test unchanged repositories again. Reads the file now; an unreadable one is ignored with a
    /// warning.
    pub fn with_cache_dir(mut self, dir: impl AsRef<Path>) -> LocalForge {
        self.cache = CiCache::load(dir.as_ref());
        self
    }

    /// Whether local CI verdicts are cached by HEAD at all (on by default). Off, every read runs the tests and no
    /// verdict is read from or written to the cache, in memory or in the cache directory.
    pub fn with_cache(mut self, enabled: bool) -> LocalForge {
        self.use_cache = enabled;
        self
    }

    /// Kills a test run (and everything it started) after `timeout`; it then counts as an infrastructure failure,
    /// and is not cached: the next read runs the tests again.
    pub fn with_test_timeout(mut self, timeout: Duration) -> LocalForge {
        self.test_timeout = timeout;
        self
    }

    /// Keeps at most `bytes` of a test run's stdout and of its stderr.
    pub fn with_output_cap(mut self, bytes: usize) -> LocalForge {
        self.output_cap = bytes;
        self
    }

    /// How tests are confined: under bubblewrap when it works here ([`Sandbox::Auto`], the default), or never.
    /// Either way they run in a throwaway clone with a clean environment, and everything they start is killed
    /// when they end.
    pub fn with_sandbox(mut self, sandbox: Sandbox) -> LocalForge {
        self.sandbox = sandbox;
        self
    }

    /// Lets confined tests use the network (off by default: under bubblewrap they get no network at all).
    pub fn with_test_network(mut self, allowed: bool) -> LocalForge {
        self.network = allowed;
        self
    }

    /// Runs at most `n` (at least 1) test runs at once.
    pub fn with_parallel_tests(mut self, n: usize) -> LocalForge {
        self.parallel = Arc::new(Semaphore::new(n.max(1)));
        self
    }

    /// The workspace directory (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `repo` lives in this workspace, if it is named as one of its repositories (not checked on disk).
    pub(crate) fn repo_path(&self, repo: &RepoId) -> Option<PathBuf> {
        // A valid RepoId name has no '/' and is not '..', so the join stays directly under the root.
        (repo.owner() == LOCAL_OWNER).then(|| self.root.join(repo.name()))
    }

    /// The directory of `repo`, if it is one of this workspace's repositories.
    async fn repo_dir(&self, repo: &RepoId) -> Option<PathBuf> {
        let dir = self.repo_path(repo)?;
        let real_dir = tokio::fs::symlink_metadata(&dir).await.is_ok_and(|m| m.is_dir());
        let git = tokio::fs::symlink_metadata(dir.join(".git")).await.is_ok_and(|m| m.is_dir() || m.is_file());
        (real_dir && git).then_some(dir)
    }

    async fn ci(&self, repo: &RepoId, head: &str) -> (CiStatus, Option<String>) {
        let lock = self.repo_locks.entry(repo.name().to_owned()).or_default().clone();
        let _guard = lock.lock().await;
        let given = self.test_commands.get(repo.name()).or(self.default_test_command.as_ref()).cloned();
        if self.use_cache
            && let Some(run) = self.cache.get(repo.name(), head).await
            && run.argv == given
            && siblings::unchanged(&self.root, &run.siblings, self.git_timeout).await
        {
            tracing::debug!(%repo, head, "local ci result cached for this HEAD and its siblings' HEADs");
            return (run.status(), run.command);
        }
        let run = {
            let _permit = self.parallel.acquire().await;
            let limits = RunLimits {
                timeout: self.test_timeout,
                output_cap: self.output_cap,
                git_timeout: self.git_timeout,
                sandbox: self.sandbox,
                network: self.network,
            };
            ci::run_tests(&self.root, repo.name(), head, given, limits).await
        };
        match run {
            Ok(run) => {
                let status = run.status();
                let command = run.command.clone();
                if !run.outcome.is_verdict() {
                    let name = command.as_deref().unwrap_or_default();
                    tracing::warn!(%repo, command = name, outcome = ?run.outcome, "local ci gave no verdict; not cached");
                } else if self.use_cache {
                    self.cache.put(repo.name(), run).await;
                }
                (status, command)
            }
            // Not cached: the cause (a failed clone, a full disk) is in the machine, not the commit.
            Err(e) => {
                tracing::warn!(%repo, error = %hive_support::error_chain(&e), "local ci could not run");
                (CiStatus { state: CiState::Unknown, failures: Vec::new() }, None)
            }
        }
    }
}

#[async_trait::async_trait]
impl Forge for LocalForge {
    fn name(&self) -> &str {
        NAME
    }

    async fn discover(&self) -> Result<Vec<RepoId>, ForgeError> {
        let root = self.root.clone();
        let scanned = tokio::task::spawn_blocking(move || scan(&root)).await;
        let fail = |message: String| ForgeError::Discovery { forge: NAME.to_owned(), message };
        match scanned {
            Ok(Ok(repos)) => Ok(repos),
            Ok(Err(e)) => Err(fail(format!("cannot read '{}': {e}", self.root.display()))),
            Err(e) => Err(fail(format!("the workspace scan failed: {e}"))),
        }
    }

    async fn snapshot(&self, repo: &RepoId) -> Result<RepoSnapshot, ForgeError> {
        let Some(dir) = self.repo_dir(repo).await else {
            return Err(ForgeError::NotFound { repo: repo.clone(), forge: NAME.to_owned() });
        };
        let now = SystemTime::now();
        let git = Git::new(&dir).timeout(self.git_timeout);
        let mut facts = facts::read(&git, now).await.map_err(|e| forge_error(repo, e))?;
        let ci = match facts.head.clone() {
            Some(head) => {
                let (ci, command) = self.ci(repo, &head).await;
                facts.test_command = command;
                ci
            }
            None => CiStatus { state: CiState::Unknown, failures: Vec::new() },
        };
        let present = files::present(&dir).await;
        let snapshot = RepoSnapshot {
            repo: repo.clone(),
            taken_at: now,
            default_branch: facts.branch.clone().unwrap_or_else(|| "HEAD".to_owned()),
            archived: false,
            pushed_at: facts.last_commit_at,
            ci,
            open_issues: Vec::new(),
            security_alerts: None,
            has_security_policy: Some(present.security_policy),
            has_license: Some(present.license),
            has_ci_workflow: Some(present.ci_workflow),
            local: Some(facts),
            github: None,
            sync_drift: None,
        };
        Ok(snapshot)
    }
}

/// Whether `dir` is a real directory (not a symbolic link) holding a `.git` directory or git file (worktrees and
/// submodules have a file). [`LocalForge::repo_dir`] asks the same, without blocking.
fn is_repository(dir: &Path) -> bool {
    let real_dir = std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir());
    real_dir && std::fs::symlink_metadata(dir.join(".git")).is_ok_and(|m| m.is_dir() || m.is_file())
}

/// The repositories directly under `root`, sorted. Entries that are not repositories are skipped quietly;
/// repositories whose name cannot be a [`RepoId`] and symbolic links are skipped with a warning.
fn scan(root: &Path) -> std::io::Result<Vec<RepoId>> {
    let mut repos = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let path = entry.path();
        // file_type does not follow symbolic links: a link may point out of the workspace.
        if entry.file_type()?.is_symlink() {
            tracing::warn!(path = %path.display(), "skipping a symbolic link in the workspace");
            continue;
        }
        if !is_repository(&path) {
            continue;
        }
        let name = entry.file_name();
        match name.to_str().map(|name| RepoId::new(format!("{LOCAL_OWNER}/{name}"))) {
            Some(Ok(repo)) => repos.push(repo),
            Some(Err(e)) => tracing::warn!(error = %e, "skipping a repository whose directory name is not usable"),
            None => tracing::warn!(name = ?name, "skipping a repository whose directory name is not UTF-8"),
        }
    }
    repos.sort();
    Ok(repos)
}

/// Git failures that may pass on their own (a lock held by another git, a timeout) are transient; the rest are
/// permanent, so the pilot's restart policy applies.
fn forge_error(repo: &RepoId, error: GitError) -> ForgeError {
    let message = error.to_string();
    let transient = match &error {
        GitError::Failed { code, stderr, .. } => code.is_none() || stderr.contains(".lock"),
        _ => false,
    };
    if transient {
        ForgeError::Transient { repo: repo.clone(), message }
    } else {
        ForgeError::Permanent { repo: repo.clone(), message }
    }
}
