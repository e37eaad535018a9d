//! Reading where synced files stand: the source cloned once and rendered for each repository (templates filled with
//! its own values, as a push would write them), each repository's files read at its default branch, and the three
//! hashes turned into a state.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use hive_cerebrum::SyncedFile;
use hive_ecosystem::{RepoValues, SyncSpec, SyncState, TEMPLATE_SUFFIX, content_hash, plan_sync, sync_state};
use hive_forge::{ForgeWriter, RepoId, WriteError};

use super::{FileStatus, RepoStatus, SyncDecl, SyncStatus};
use crate::{ChangeEngine, ChangeError, worktree::Worktrees};

/// One file of the source as a repository should hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rendered {
    pub(super) path: String,
    pub(super) hash: String,
    pub(super) template: bool,
}

impl ChangeEngine {
    /// Where every file of `decl` stands, its source cloned under `trees`.
    pub(super) async fn read_status(&self, decl: &SyncDecl, trees: &Worktrees) -> Result<SyncStatus, ChangeError> {
        let source_dir = self.clone_source(decl, trees).await?;
        let targets = self.targets(&decl.spec(Vec::new(), BTreeMap::new()), trees).await?;
        let name = decl.name.clone();
        let synced = self.memory(move |m| m.syncs().files(&name)).await?;
        let empty = empty_dir(trees)?;
        let mut repos = Vec::new();
        for target in targets.into_iter().filter(|t| t.repo.as_str() != decl.source) {
            let rendered = render(decl, &source_dir, &empty, &target.repo, &target.base)?;
            let paths: Vec<&str> = rendered.iter().map(|r| r.path.as_str()).collect();
            let found = read_files(self.writer.as_ref(), &target.repo, &target.base, &paths)
                .await
                .map_err(|e| self.forge_error(target.repo.as_str(), &e))?;
            let files = file_states(self.writer.as_ref(), &target.repo, &target.base, &rendered, &found, &synced).await;
            repos.push(RepoStatus { repo: target.repo.to_string(), base: target.base, files });
        }
        Ok(SyncStatus { name: decl.name.clone(), source: decl.source.clone(), repos })
    }

    /// A shallow clone of `decl`'s source at its default branch, under `trees`.
    pub(super) async fn clone_source(&self, decl: &SyncDecl, trees: &Worktrees) -> Result<PathBuf, ChangeError> {
        let repo = RepoId::new(decl.source.as_str()).map_err(|e| ChangeError::InvalidSpec { reason: e.to_string() })?;
        let origin = self.writer.origin(&repo).await.map_err(|e| self.forge_error(&decl.source, &e))?;
        trees.clone(".source", &origin.clone_url, &origin.default_branch, false).await
    }
}

/// An empty directory under `trees`: the target `plan_sync` compares with, so every file the source has for a
/// repository comes back rendered.
pub(super) fn empty_dir(trees: &Worktrees) -> Result<PathBuf, ChangeError> {
    let dir = trees.dir(".empty");
    std::fs::create_dir_all(&dir).map_err(|e| ChangeError::Prepare {
        repo: String::new(),
        reason: format!("cannot create '{}': {e}", dir.display()),
    })?;
    Ok(dir)
}

/// Every file `decl` keeps in step in `repo`, rendered from the source at `source_dir` as a push would write it.
pub(super) fn render(
    decl: &SyncDecl,
    source_dir: &Path,
    empty: &Path,
    repo: &RepoId,
    base: &str,
) -> Result<Vec<Rendered>, ChangeError> {
    let values = RepoValues {
        owner: repo.owner().to_owned(),
        name: repo.name().to_owned(),
        default_branch: base.to_owned(),
        extra: BTreeMap::new(),
    };
    let spec = SyncSpec { paths: decl.paths.clone(), delete_missing: false };
    let edits = plan_sync(source_dir, empty, &spec, &values).map_err(|e| ChangeError::Prepare {
        repo: decl.source.clone(),
        reason: format!("sync '{}': {e}", decl.name),
    })?;
    Ok(edits
        .into_iter()
        .filter_map(|edit| {
            let after = edit.after?;
            let template = source_dir.join(format!("{}{TEMPLATE_SUFFIX}", edit.path)).is_file();
            Some(Rendered { hash: content_hash(&after), path: edit.path, template })
        })
        .collect())
}

/// The hash of each of `paths` in `repo` at `base`; `None` where there is no file.
pub(super) async fn read_files(
    writer: &dyn ForgeWriter,
    repo: &RepoId,
    base: &str,
    paths: &[&str],
) -> Result<BTreeMap<String, Option<String>>, WriteError> {
    let mut found = BTreeMap::new();
    for path in paths {
        let text = writer.file_text(repo, path, base).await?;
        found.insert((*path).to_owned(), text.as_deref().map(content_hash));
    }
    Ok(found)
}

/// Each rendered file's state in `repo` from its three hashes. A file whose last sync waits on a branch for a
/// person to merge (a local workspace), which that branch holds and the default branch does not have yet, is in
/// step, waiting (or behind again, if the source moved on since).
pub(super) async fn file_states(
    writer: &dyn ForgeWriter,
    repo: &RepoId,
    base: &str,
    rendered: &[Rendered],
    found: &BTreeMap<String, Option<String>>,
    synced: &[SyncedFile],
) -> Vec<FileStatus> {
    let mut files = Vec::with_capacity(rendered.len());
    for file in rendered {
        let last = synced.iter().find(|s| s.repo == repo.as_str() && s.path == file.path);
        let target = found.get(&file.path).cloned().flatten();
        let mut state = sync_state(last.map(|l| l.hash.as_str()), Some(&file.hash), target.as_deref());
        let mut awaiting = None;
        if let Some(last) = last.filter(|l| !l.branch.is_empty())
            && state != SyncState::InStep
            && target.as_deref() != Some(last.hash.as_str())
            // Merged as it was: the default branch says where the file stands now.
            && !writer.fix_merged(repo, &last.branch, base).await.unwrap_or(false)
        {
            match writer.file_text(repo, &file.path, &last.branch).await {
                Ok(Some(text)) if content_hash(&text) == last.hash => {
                    awaiting = Some(last.branch.clone());
                    state = if last.hash == file.hash { SyncState::InStep } else { SyncState::Behind };
                }
                // The branch is gone or moved on: the default branch says where the file stands.
                Ok(_) | Err(WriteError::NoSuchRef { .. }) => {}
                Err(err) => {
                    tracing::warn!(%repo, path = file.path, error = %err, "the sync's branch could not be read")
                }
            }
        }
        files.push(FileStatus {
            path: file.path.clone(),
            state,
            template: file.template,
            last_synced: last.map(|l| l.hash.clone()),
            source_hash: file.hash.clone(),
            target_hash: target,
            awaiting,
        });
    }
    files
}
