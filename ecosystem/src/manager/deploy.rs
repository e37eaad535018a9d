//! Deploys of an imported repository: the commit to deploy (fetched from its origin, a ref checked before git sees
//! it), a worktree of its own at `<state_dir>/ecosystem/<id>-deploys/<n>` (never the clone's own tree), and the
//! history of every deploy, newest first, in `<state_dir>/ecosystem/deploys/<id>.json`.
//!
//! One deploy of an import at a time: [`DeployLock`] is an exclusive `flock` on `deploys/<id>.lock` (the holder's
//! pid inside), which the kernel releases however the holder ends. The history is written only through the lock,
//! atomically, so a reader sees one whole version or the next. A deploy is recorded as `running` before its
//! worktree exists; one whose process died on the way is marked `interrupted` by the next deploy.
//!
//! Starting, verifying and switching the service is the caller's (it needs a hive); what is decided here is pure:
//! [`worktrees_to_remove`] keeps the current deploy's worktree and the previous one's.

use std::{
    fs::{File, OpenOptions},
    io::{Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    time::SystemTime,
};

use nix::{
    errno::Errno,
    fcntl::{Flock, FlockArg},
};
use serde::{Deserialize, Serialize};

use super::{EcosystemError, EcosystemManager, ImportId, RepoMeta, store};
use crate::{FixError, Git, check_branch};

/// Deploys kept in the history; older ones are dropped from it.
pub const HISTORY_LIMIT: usize = 500;

/// A history file is a few hundred bytes per deploy; anything far larger is not ours.
const HISTORY_MAX_BYTES: u64 = 16 << 20;

/// Where a deploy ended, or that it has not yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum DeployOutcome {
    /// Under way: building or verifying.
    Running,
    /// The new instance passed its checks and replaced the old one.
    Switched,
    /// The build or a check failed: the old instance was left running and the new one stopped.
    RolledBack {
        /// Why, with the build's or the probe's own words.
        reason: String,
    },
    /// The deploying process ended before it could say (found so by the next deploy).
    Interrupted,
}

/// One instance of the service, as a deploy saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployInstance {
    /// The deploy that made it; `None` for a service started from the clone (`start`).
    pub deploy: Option<u64>,
    /// Its name under the hive that keeps it.
    pub service: String,
    /// The `hive` process keeping it.
    pub supervisor: u32,
    /// The service's own process, when known.
    pub pid: Option<u32>,
    /// The worktree it runs from; `None` for the clone.
    pub worktree: Option<PathBuf>,
    /// The loopback port it was told to listen on (`PORT`), when it was.
    pub port: Option<u16>,
}

/// One deploy as the history keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployRecord {
    /// Its number within the import, from 1.
    pub id: u64,
    /// The ref asked for (the origin's default branch when none was).
    pub reference: String,
    /// The commit it resolved to.
    pub sha: String,
    /// RFC 3339 UTC time it started.
    pub started: String,
    /// RFC 3339 UTC time it ended.
    #[serde(default)]
    pub finished: Option<String>,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: DeployOutcome,
    /// The instance running when it started, if one was.
    #[serde(default)]
    pub old: Option<DeployInstance>,
    /// The instance it started (its worktree from the start, its process once started).
    #[serde(default)]
    pub new: Option<DeployInstance>,
}

impl DeployRecord {
    /// Ends the deploy with `outcome`, now.
    pub fn finish(&mut self, outcome: DeployOutcome) {
        self.outcome = outcome;
        self.finished = Some(store::rfc3339(SystemTime::now()));
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct HistoryFile {
    deploys: Vec<DeployRecord>,
}

/// The commit a deploy is of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedRef {
    /// The ref as asked for, or the default branch's name.
    pub reference: String,
    /// The full commit id.
    pub sha: String,
}

/// Refuses a ref git could read as an option, a path out of the repository, or anything outside the characters of
/// ordinary branch and tag names and commit ids; checked before any git command sees it.
pub fn check_ref(value: &str) -> Result<(), EcosystemError> {
    check_branch("ref", value).map_err(|err| EcosystemError::InvalidRef {
        value: value.escape_debug().to_string(),
        reason: match err {
            FixError::InvalidBranch { reason, .. } => reason,
            _ => "it is not a usable ref name",
        },
    })
}

/// The worktrees (by deploy number) to remove after deploy `current` switched away from `previous`: every one but
/// those two. A rolled-back deploy's worktree goes too, once a later deploy has switched.
pub fn worktrees_to_remove(present: &[u64], current: u64, previous: Option<u64>) -> Vec<u64> {
    let mut stale: Vec<u64> = present.iter().copied().filter(|n| *n != current && Some(*n) != previous).collect();
    stale.sort_unstable();
    stale.dedup();
    stale
}

impl EcosystemManager {
    /// `<state_dir>/ecosystem/<id>-deploys`, where each deploy's worktree is made.
    pub fn deploys_dir(&self, id: &ImportId) -> PathBuf {
        self.root.join(format!("{id}-deploys"))
    }

    fn deploy_state_dir(&self) -> PathBuf {
        self.root.join("deploys")
    }

    fn history_path(&self, id: &ImportId) -> PathBuf {
        self.deploy_state_dir().join(format!("{id}.json"))
    }

    /// Every deploy of the import, newest first; none before the first.
    pub fn deploy_history(&self, id: &ImportId) -> Result<Vec<DeployRecord>, EcosystemError> {
        Ok(load_history(&self.history_path(id))?.deploys)
    }

    /// Takes the import's deploy lock, or says which process holds it.
    pub fn lock_deploys(&self, meta: &RepoMeta) -> Result<DeployLock, EcosystemError> {
        let dir = self.deploy_state_dir();
        std::fs::create_dir_all(&dir).map_err(EcosystemError::io("create", &dir))?;
        let path = dir.join(format!("{}.lock", meta.id));
        // Never truncated on open: the holder's pid must stay readable for the one that loses.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(EcosystemError::io("open", &path))?;
        let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => locked,
            Err((mut file, Errno::EWOULDBLOCK)) => {
                return Err(EcosystemError::DeployUnderWay {
                    name: meta.name.clone(),
                    id: meta.id.to_string(),
                    pid: holder(&mut file),
                });
            }
            Err((_, errno)) => return Err(EcosystemError::io("lock", &path)(std::io::Error::from(errno))),
        };
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{}", std::process::id()))
            .map_err(EcosystemError::io("write", &path))?;
        Ok(DeployLock { _file: file, manager: self.clone(), meta: meta.clone() })
    }

    /// Fetches the import's origin and resolves `reference` (a branch or tag of the origin, or a commit), else the
    /// origin's default branch, to a commit. The ref is checked before git runs.
    pub async fn resolve_ref(&self, meta: &RepoMeta, reference: Option<&str>) -> Result<ResolvedRef, EcosystemError> {
        if let Some(reference) = reference {
            check_ref(reference)?;
        }
        let git = Git::new(self.repo_dir(&meta.id));
        let failed = |source| EcosystemError::Git { repo: meta.name.clone(), source };
        git.run(&["-c", "protocol.ext.allow=never", "fetch", "--quiet", "--prune", "--tags", "--force", "origin"])
            .await
            .map_err(failed)?;
        let reference = match reference {
            Some(reference) => reference.to_owned(),
            None => default_branch(&git, meta).await,
        };
        for candidate in
            [format!("refs/remotes/origin/{reference}"), format!("refs/tags/{reference}"), reference.clone()]
        {
            let spec = format!("{candidate}^{{commit}}");
            if let Ok(sha) = git.run(&["rev-parse", "--verify", "--quiet", "--end-of-options", &spec]).await
                && !sha.is_empty()
            {
                return Ok(ResolvedRef { reference, sha });
            }
        }
        Err(EcosystemError::UnknownRef { reference, name: meta.name.clone() })
    }
}

/// The origin's default branch as the clone knows it after a fetch, else the one it was cloned on.
async fn default_branch(git: &Git, meta: &RepoMeta) -> String {
    let head = git.run(&["symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD"]).await.ok();
    head.as_deref()
        .and_then(|h| h.strip_prefix("origin/"))
        .filter(|b| check_ref(b).is_ok())
        .map(str::to_owned)
        .or_else(|| meta.default_branch.clone())
        .unwrap_or_else(|| "HEAD".to_owned())
}

fn holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).and_then(|_| file.read_to_string(&mut text)).ok()?;
    text.trim().parse().ok()
}

fn load_history(path: &Path) -> Result<HistoryFile, EcosystemError> {
    let bytes = match hive_support::read_bounded(path, HISTORY_MAX_BYTES) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HistoryFile::default()),
        Err(e) => return Err(EcosystemError::io("read", path)(e)),
    };
    serde_json::from_slice(&bytes)
        .map_err(|e| EcosystemError::CorruptHistory { path: path.to_path_buf(), message: e.to_string() })
}

/// The import's deploy lock, held for one deploy: the only way to write its history and its worktrees.
#[derive(Debug)]
pub struct DeployLock {
    _file: Flock<File>,
    manager: EcosystemManager,
    meta: RepoMeta,
}

impl DeployLock {
    /// Records a new deploy of `resolved` as running, numbered after every earlier one, with the instance running
    /// now; deploys left `running` by a process that died are marked interrupted first.
    pub fn begin(&self, resolved: &ResolvedRef, old: Option<DeployInstance>) -> Result<DeployRecord, EcosystemError> {
        let path = self.manager.history_path(&self.meta.id);
        let mut history = load_history(&path)?;
        let now = store::rfc3339(SystemTime::now());
        for stale in history.deploys.iter_mut().filter(|d| d.outcome == DeployOutcome::Running) {
            // Only this lock's holder runs a deploy, so a running one found here has lost its process.
            stale.outcome = DeployOutcome::Interrupted;
            stale.finished.get_or_insert_with(|| now.clone());
        }
        let id = history.deploys.iter().map(|d| d.id).max().unwrap_or(0) + 1;
        let record = DeployRecord {
            id,
            reference: resolved.reference.clone(),
            sha: resolved.sha.clone(),
            started: now,
            finished: None,
            outcome: DeployOutcome::Running,
            old,
            new: None,
        };
        history.deploys.insert(0, record.clone());
        self.save(&path, history)?;
        Ok(record)
    }

    /// Replaces the history's entry for `record` with it.
    pub fn record(&self, record: &DeployRecord) -> Result<(), EcosystemError> {
        let path = self.manager.history_path(&self.meta.id);
        let mut history = load_history(&path)?;
        match history.deploys.iter_mut().find(|d| d.id == record.id) {
            Some(entry) => *entry = record.clone(),
            None => history.deploys.insert(0, record.clone()),
        }
        self.save(&path, history)
    }

    fn save(&self, path: &Path, mut history: HistoryFile) -> Result<(), EcosystemError> {
        history.deploys.sort_by_key(|d| std::cmp::Reverse(d.id));
        history.deploys.truncate(HISTORY_LIMIT);
        let mut bytes = serde_json::to_vec_pretty(&history).map_err(|e| EcosystemError::Io {
            action: "encode",
            path: path.to_path_buf(),
            source: e.into(),
        })?;
        bytes.push(b'\n');
        crate::atomic::write_atomic(path, &bytes).map_err(EcosystemError::io("write", path))
    }

    /// Makes deploy `n`'s worktree of `sha`, detached, beside the clone; whatever a crash left at that path goes
    /// first.
    pub async fn add_worktree(&self, n: u64, sha: &str) -> Result<PathBuf, EcosystemError> {
        let dir = self.manager.deploys_dir(&self.meta.id);
        std::fs::create_dir_all(&dir).map_err(EcosystemError::io("create", &dir))?;
        let worktree = dir.join(n.to_string());
        if worktree.exists() {
            self.remove_worktree(&worktree).await?;
        }
        let git = Git::new(self.manager.repo_dir(&self.meta.id));
        let target = worktree.to_string_lossy().into_owned();
        git.run(&["worktree", "add", "--quiet", "--detach", "--end-of-options", &target, sha])
            .await
            .map_err(|source| EcosystemError::Git { repo: self.meta.name.clone(), source })?;
        Ok(worktree)
    }

    /// Removes every deploy worktree but `current`'s and `previous`'s; returns the numbers removed.
    pub async fn prune_worktrees(&self, current: u64, previous: Option<u64>) -> Result<Vec<u64>, EcosystemError> {
        let dir = self.manager.deploys_dir(&self.meta.id);
        let present: Vec<u64> = match std::fs::read_dir(&dir) {
            Ok(entries) => {
                entries.flatten().filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok())).collect()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(EcosystemError::io("list", &dir)(e)),
        };
        let stale = worktrees_to_remove(&present, current, previous);
        for n in &stale {
            self.remove_worktree(&dir.join(n.to_string())).await?;
        }
        Ok(stale)
    }

    async fn remove_worktree(&self, worktree: &Path) -> Result<(), EcosystemError> {
        let git = Git::new(self.manager.repo_dir(&self.meta.id));
        let target = worktree.to_string_lossy().into_owned();
        // git forgets the worktree and deletes it; a tree git does not know (its clone was replaced) is deleted by
        // hand, and `prune` drops what git still remembered of it.
        if git.run(&["worktree", "remove", "--force", "--end-of-options", &target]).await.is_err() {
            super::remove_tree(worktree.to_path_buf()).await?;
            let _ = git.run(&["worktree", "prune"]).await;
        }
        Ok(())
    }
}

/// Removes an import's deploy worktrees and history, after its clone went (the worktrees' git data was in it).
pub(super) async fn remove_deploys(manager: &EcosystemManager, id: &ImportId) -> Result<(), EcosystemError> {
    super::remove_tree(manager.deploys_dir(id)).await?;
    for path in [manager.history_path(id), manager.deploy_state_dir().join(format!("{id}.lock"))] {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(EcosystemError::io("remove", path)(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ImportOptions,
        test_support::{commit, git, init_repo},
    };

    #[tokio::test]
    async fn deploys_resolve_refs_make_worktrees_and_keep_a_history() {
        let tmp = tempfile::tempdir().unwrap();
        let source = tmp.path().join("svc");
        init_repo(&source, &[("VERSION", "1")]).await;
        git(&source, &["tag", "v1"]).await;
        let manager = EcosystemManager::new(tmp.path().join("state"));
        let meta = manager.import(source.to_str().unwrap(), &ImportOptions::default()).await.unwrap();
        // The origin moves on after the import: a deploy fetches first.
        commit(&source, &[("VERSION", "2")], "two").await;
        let head = git(&source, &["rev-parse", "HEAD"]).await;

        let latest = manager.resolve_ref(&meta, None).await.unwrap();
        assert_eq!(latest, ResolvedRef { reference: "main".to_owned(), sha: head.clone() });
        let v1 = manager.resolve_ref(&meta, Some("v1")).await.unwrap();
        assert_eq!(v1.sha, git(&source, &["rev-parse", "v1"]).await);
        let err = manager.resolve_ref(&meta, Some("nope")).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "'nope' is no branch, tag or commit of 'svc' (after a fetch from its origin); check the name"
        );
        let err = manager.resolve_ref(&meta, Some("--upload-pack=x")).await.unwrap_err();
        assert!(matches!(err, EcosystemError::InvalidRef { .. }), "{err}");

        let lock = manager.lock_deploys(&meta).unwrap();
        let again = manager.lock_deploys(&meta).unwrap_err();
        assert!(
            again
                .to_string()
                .starts_with(&format!("a deploy of 'svc' is under way (hive process {})", std::process::id())),
            "{again}"
        );
        let mut first = lock.begin(&v1, None).unwrap();
        let worktree = lock.add_worktree(first.id, &first.sha).await.unwrap();
        assert_eq!(worktree, manager.deploys_dir(&meta.id).join("1"));
        assert_eq!(std::fs::read_to_string(worktree.join("VERSION")).unwrap(), "1");
        assert_eq!(git(&manager.repo_dir(&meta.id), &["rev-parse", "HEAD"]).await, v1.sha, "the clone is untouched");
        first.finish(DeployOutcome::Switched);
        lock.record(&first).unwrap();
        // A deploy whose process died is found running by the next one.
        let lost = lock.begin(&latest, None).unwrap();
        lock.add_worktree(lost.id, &lost.sha).await.unwrap();
        let third = lock.begin(&latest, None).unwrap();
        lock.add_worktree(third.id, &third.sha).await.unwrap();
        assert_eq!(lock.prune_worktrees(third.id, Some(first.id)).await.unwrap(), [2]);
        assert!(!manager.deploys_dir(&meta.id).join("2").exists());
        assert!(!git(&manager.repo_dir(&meta.id), &["worktree", "list"]).await.contains("-deploys/2"));

        let history = manager.deploy_history(&meta.id).unwrap();
        let summary: Vec<(u64, DeployOutcome)> = history.iter().map(|d| (d.id, d.outcome.clone())).collect();
        assert_eq!(
            summary,
            [(3, DeployOutcome::Running), (2, DeployOutcome::Interrupted), (1, DeployOutcome::Switched)]
        );
        drop(lock);

        manager.remove(meta.id.as_str()).await.unwrap();
        assert!(!manager.deploys_dir(&meta.id).exists());
        assert_eq!(manager.deploy_history(&meta.id).unwrap(), []);
    }

    #[test]
    fn the_current_and_previous_worktrees_are_kept() {
        // (worktrees present, current deploy, previous deploy, worktrees removed)
        type Case = (&'static [u64], u64, Option<u64>, &'static [u64]);
        let cases: [Case; 5] = [
            (&[], 1, None, &[]),
            (&[1], 1, None, &[]),
            (&[1, 2], 2, Some(1), &[]),
            (&[3, 1, 2, 4], 4, Some(3), &[1, 2]),
            // The previous instance ran from the clone: only the current worktree stays.
            (&[1, 2, 5], 5, None, &[1, 2]),
        ];
        for (present, current, previous, removed) in cases {
            assert_eq!(worktrees_to_remove(present, current, previous), removed, "{present:?} {current} {previous:?}");
        }
    }

    #[test]
    fn hostile_refs_are_refused() {
        for bad in ["--upload-pack=touch /tmp/x", "-x", "../etc", "a..b", "main~1", "x:y", "", "a b", "@{-1}"] {
            let err = check_ref(bad).unwrap_err();
            assert!(err.to_string().starts_with("invalid ref '"), "{bad}: {err}");
        }
        for good in ["main", "v1.2.0", "release/1", "0123456789abcdef0123456789abcdef01234567"] {
            assert!(check_ref(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn a_record_reads_back_with_its_outcome_flattened() {
        let mut record = DeployRecord {
            id: 2,
            reference: "main".to_owned(),
            sha: "abc".to_owned(),
            started: "2025-01-01T00:00:00Z".to_owned(),
            finished: None,
            outcome: DeployOutcome::Running,
            old: None,
            new: None,
        };
        record.finish(DeployOutcome::RolledBack { reason: "HTTP status 500".to_owned() });
        let value = serde_json::to_value(&record).unwrap();
        assert_eq!(value["outcome"], "rolled_back");
        assert_eq!(value["reason"], "HTTP status 500");
        assert_eq!(serde_json::from_value::<DeployRecord>(value).unwrap(), record);
    }
}
