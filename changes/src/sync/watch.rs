//! `SyncWatch`: how far one repository's synced files drifted, cheaply enough to ask every cycle for every pilot.
//!
//! The source changes rarely: it is cloned once and kept while its default branch's head (asked of git with
//! `ls-remote`, no API request, at most once per `recheck`) stays the same. A repository's files are read once per
//! head of the repository (a local workspace's commit, else GitHub's `pushed_at`), so an unchanged repository costs
//! no request; the hashes as last synced come from hive.db.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::Mutex,
    time::{Duration, Instant},
};

use hive_ecosystem::{Git, SyncState};
use hive_forge::{RepoId, RepoSnapshot, SyncDrift};

use super::{
    SyncDecl,
    state::{Rendered, empty_dir, file_states, read_files, render},
};
use crate::{ChangeEngine, ChangeError, worktree::Worktrees};

/// How often the source's head is asked for, at most.
const RECHECK: Duration = Duration::from_secs(30);

/// A repository's file as last read: `(repository, path)` -> (the repository's head then, the file's hash).
type ReadFiles = BTreeMap<(String, String), (String, Option<String>)>;

/// The source of one declaration as last cloned.
struct Source {
    head: String,
    checked: Instant,
    trees: Worktrees,
    dir: PathBuf,
}

/// The drift of the declarations' repositories, cached by the source's head and each repository's.
pub struct SyncWatch {
    engine: ChangeEngine,
    decls: Vec<SyncDecl>,
    recheck: Duration,
    sources: tokio::sync::Mutex<BTreeMap<String, Source>>,
    files: Mutex<ReadFiles>,
}

impl std::fmt::Debug for SyncWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncWatch").field("decls", &self.decls).finish_non_exhaustive()
    }
}

impl SyncWatch {
    /// Watches `decls` through `engine`'s forge and database.
    pub fn new(engine: &ChangeEngine, decls: Vec<SyncDecl>) -> SyncWatch {
        SyncWatch {
            engine: engine.acting_as(&engine.settings.by),
            decls,
            recheck: RECHECK,
            sources: tokio::sync::Mutex::new(BTreeMap::new()),
            files: Mutex::new(BTreeMap::new()),
        }
    }

    /// The same, asking for the source's head at most once per `recheck`.
    pub fn with_recheck(mut self, recheck: Duration) -> SyncWatch {
        self.recheck = recheck;
        self
    }

    /// The declarations watched.
    pub fn declarations(&self) -> &[SyncDecl] {
        &self.decls
    }

    /// The drift of the repository `snapshot` shows, one entry per declaration naming it; `None` when none names it
    /// or the drift could not be read (said in the log: a sync's trouble is not the repository's).
    pub async fn drift(&self, snapshot: &RepoSnapshot) -> Option<Vec<SyncDrift>> {
        let repo = snapshot.repo.as_str();
        let decls: Vec<&SyncDecl> = self.decls.iter().filter(|d| d.names(repo)).collect();
        if decls.is_empty() || snapshot.archived {
            return None;
        }
        let mut out = Vec::with_capacity(decls.len());
        for decl in decls {
            match self.drift_of(decl, snapshot).await {
                Ok(drift) => out.push(drift),
                Err(err) => {
                    tracing::warn!(repo, sync = decl.name, error = %err, "the sync's drift could not be read");
                    return None;
                }
            }
        }
        Some(out)
    }

    async fn drift_of(&self, decl: &SyncDecl, snapshot: &RepoSnapshot) -> Result<SyncDrift, ChangeError> {
        let repo = &snapshot.repo;
        let base = &snapshot.default_branch;
        let rendered = self.rendered(decl, repo, base).await?;
        let head = head_key(snapshot);
        let mut found = BTreeMap::new();
        let mut unread = Vec::new();
        {
            let files = self.files.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for file in &rendered {
                match (files.get(&(repo.to_string(), file.path.clone())), &head) {
                    (Some((read_at, hash)), Some(head)) if read_at == head => {
                        found.insert(file.path.clone(), hash.clone());
                    }
                    _ => unread.push(file.path.as_str()),
                }
            }
        }
        if !unread.is_empty() {
            let read = read_files(self.engine.writer.as_ref(), repo, base, &unread)
                .await
                .map_err(|e| self.engine.forge_error(repo.as_str(), &e))?;
            let mut files = self.files.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for (path, hash) in read {
                if let Some(head) = &head {
                    files.insert((repo.to_string(), path.clone()), (head.clone(), hash.clone()));
                }
                found.insert(path, hash);
            }
        }
        let name = decl.name.clone();
        let synced = self.engine.memory(move |m| m.syncs().files(&name)).await?;
        let states = file_states(self.engine.writer.as_ref(), repo, base, &rendered, &found, &synced).await;
        let count = |state| u32::try_from(states.iter().filter(|f| f.state == state).count()).unwrap_or(u32::MAX);
        Ok(SyncDrift {
            name: decl.name.clone(),
            source: decl.source.clone(),
            behind: count(SyncState::Behind),
            missing: count(SyncState::Missing),
            conflicts: count(SyncState::Conflict),
            ahead: count(SyncState::TargetAhead),
        })
    }

    /// The source's files rendered for `repo`, from a clone kept while the source's head stays the same.
    async fn rendered(&self, decl: &SyncDecl, repo: &RepoId, base: &str) -> Result<Vec<Rendered>, ChangeError> {
        let mut sources = self.sources.lock().await;
        let fresh = sources.get(&decl.name).is_some_and(|s| s.checked.elapsed() < self.recheck);
        if !fresh {
            let source =
                RepoId::new(decl.source.as_str()).map_err(|e| ChangeError::InvalidSpec { reason: e.to_string() })?;
            let origin =
                self.engine.writer.origin(&source).await.map_err(|e| self.engine.forge_error(&decl.source, &e))?;
            let head = self.ls_remote(&decl.source, &origin.clone_url, &origin.default_branch).await?;
            match sources.get_mut(&decl.name) {
                Some(known) if known.head == head => known.checked = Instant::now(),
                _ => {
                    let root = self.engine.settings.work_dir.join(format!(".sync-watch-{}", decl.name));
                    let trees = Worktrees::new(root);
                    let dir = trees.clone(".source", &origin.clone_url, &origin.default_branch, false).await?;
                    sources.insert(decl.name.clone(), Source { head, checked: Instant::now(), trees, dir });
                }
            }
        }
        let source = sources.get(&decl.name).ok_or_else(|| ChangeError::Prepare {
            repo: decl.source.clone(),
            reason: "the source's clone went away".to_owned(),
        })?;
        let empty = empty_dir(&source.trees)?;
        render(decl, &source.dir, &empty, repo, base)
    }

    /// The commit at the head of `branch` of the repository at `url`, asked of git without cloning.
    async fn ls_remote(&self, source: &str, url: &str, branch: &str) -> Result<String, ChangeError> {
        let failed = |reason: String| ChangeError::Prepare { repo: source.to_owned(), reason };
        if url.starts_with('-') {
            return Err(failed(format!("refusing a clone source that looks like an option: '{url}'")));
        }
        let dir = &self.engine.settings.work_dir;
        std::fs::create_dir_all(dir).map_err(|e| failed(format!("cannot create '{}': {e}", dir.display())))?;
        let reference = format!("refs/heads/{branch}");
        let out = Git::new(dir)
            .isolated()
            .timeout(Duration::from_secs(60))
            .run(&["ls-remote", "--", url, &reference])
            .await
            .map_err(|e| failed(e.to_string()))?;
        out.split_whitespace().next().map(str::to_owned).ok_or_else(|| failed(format!("no branch '{branch}'")))
    }
}

/// What changes when a repository's files may have: a local workspace's commit, else the last push GitHub saw.
fn head_key(snapshot: &RepoSnapshot) -> Option<String> {
    if let Some(head) = snapshot.local.as_ref().and_then(|l| l.head.clone()) {
        return Some(head);
    }
    let pushed = snapshot.pushed_at?.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(format!("pushed:{}.{}", pushed.as_secs(), pushed.subsec_nanos()))
}
