//! Files kept in step across repositories ("the taxonomy"): a [`SyncDecl`] names a source repository, its paths or
//! globs, and the repositories they are kept in step in. Where each file stands comes from three content hashes
//! (as last synced, recorded in hive.db; the source's file rendered for that repository; the repository's own, read
//! at its default branch) through ecosystem's [`sync_state`](hive_ecosystem::sync_state). A push is one change set
//! over the repositories behind or missing files, every file in conflict or ahead left alone; what it synced is
//! recorded once the set finishes (merged, or published as branches on a local workspace). A pull proposes a
//! repository's newer edit back to the source, as a change set on the source.

mod state;
mod watch;

use std::collections::BTreeMap;

use hive_cerebrum::{AuditEntry, PendingSync, Settled, SyncLogEntry, SyncedFile};
use hive_ecosystem::SyncState;
use hive_forge::RepoId;
use serde::Serialize;

pub use self::watch::SyncWatch;
use crate::{
    ChangeBook, ChangeEngine, ChangeError, ChangeRecord, ChangeSpec, ChangeState, MergeRules, Operation, RepoState,
    Targets,
};

/// One `[[sync]]` declaration: which files of which source are kept in step in which repositories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SyncDecl {
    /// Its name: unique, lowercase letters, digits and `-`.
    pub name: String,
    /// The source repository, `owner/name`.
    pub source: String,
    /// Paths or globs in the source (`P.hive-template` files are filled with each repository's values).
    pub paths: Vec<String>,
    /// The repositories: globs over the fleet's `owner/name`, or exact names.
    pub targets: Vec<String>,
    /// Whether a running hive with autonomy pushes it after every cycle.
    #[serde(default)]
    pub continuous: bool,
}

impl SyncDecl {
    /// Whether `name` may name a declaration: 1 to 64 lowercase letters, digits and `-`, not starting with `-`.
    pub fn is_valid_name(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= 64
            && !name.starts_with('-')
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    }

    /// Refuses a declaration that cannot be carried out, saying which part and why.
    pub fn validate(&self) -> Result<(), ChangeError> {
        let invalid = |reason: String| Err(ChangeError::InvalidSpec { reason });
        if !SyncDecl::is_valid_name(&self.name) {
            return invalid(format!(
                "sync name '{}' must be 1 to 64 lowercase letters, digits and '-', such as license-and-ci",
                self.name.escape_debug()
            ));
        }
        if self.targets.is_empty() {
            return invalid(format!("sync '{}' names no targets; add globs such as 'acme/*'", self.name));
        }
        for target in &self.targets {
            if is_glob(target) {
                if let Err(e) = globset::Glob::new(target) {
                    return invalid(format!("target glob '{}' is not one: {}", target.escape_debug(), e.kind()));
                }
            } else {
                RepoId::new(target.as_str()).map_err(|e| ChangeError::InvalidSpec {
                    reason: format!("target '{}': {e}; give owner/name or a glob", target.escape_debug()),
                })?;
            }
        }
        self.spec(Vec::new(), BTreeMap::new()).validate()
    }

    /// Whether the declaration keeps files in step in `repo` (its targets name it, and it is not the source).
    pub fn names(&self, repo: &str) -> bool {
        repo != self.source
            && self.targets.iter().any(|t| match is_glob(t) {
                true => globset::Glob::new(t).is_ok_and(|g| g.compile_matcher().is_match(repo)),
                false => t == repo,
            })
    }

    /// The change set that syncs `repos`, leaving `skip` alone.
    fn spec(&self, repos: Vec<String>, skip: BTreeMap<String, Vec<String>>) -> ChangeSpec {
        let (globs, exact): (Vec<String>, Vec<String>) = self.targets.iter().cloned().partition(|t| is_glob(t));
        let targets = if repos.is_empty() {
            Targets { repos: exact, globs, dependents_of: None }
        } else {
            Targets { repos, ..Targets::default() }
        };
        ChangeSpec {
            title: format!("Sync {} from {}", self.name, self.source),
            message: format!(
                "Keeps {} in step with {} ([[sync]] '{}').",
                self.paths.join(", "),
                self.source,
                self.name
            ),
            targets,
            operation: Operation::Sync {
                source: self.source.clone(),
                paths: self.paths.clone(),
                delete_missing: false,
                skip,
            },
            rules: MergeRules::default(),
        }
    }
}

fn is_glob(text: &str) -> bool {
    text.contains(['*', '?', '[', '{'])
}

/// Where one synced file of one repository stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileStatus {
    /// The path, as written in the repository.
    pub path: String,
    /// In step, behind, target ahead, conflict or missing.
    pub state: SyncState,
    /// Whether the source's file is a template filled for the repository (it cannot be pulled back).
    pub template: bool,
    /// The hash as last synced, if ever.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_synced: Option<String>,
    /// The hash of the source's file, rendered for the repository.
    pub source_hash: String,
    /// The hash of the repository's file at its default branch; `None`: no such file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_hash: Option<String>,
    /// The branch the last sync waits on for a person to merge (a local workspace), when the file there is it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub awaiting: Option<String>,
}

/// Where one repository's synced files stand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoStatus {
    /// `owner/name`.
    pub repo: String,
    /// Its default branch, where the files were read.
    pub base: String,
    /// Each file the source has for it.
    pub files: Vec<FileStatus>,
}

impl RepoStatus {
    /// How many of its files are in `state`.
    pub fn count(&self, state: SyncState) -> u32 {
        u32::try_from(self.files.iter().filter(|f| f.state == state).count()).unwrap_or(u32::MAX)
    }

    /// The files a push writes: behind or missing.
    fn to_sync(&self) -> impl Iterator<Item = &FileStatus> {
        self.files.iter().filter(|f| matches!(f.state, SyncState::Behind | SyncState::Missing))
    }

    /// One line for people: "3 files behind the source, 1 in conflict", or "in step".
    pub fn summary(&self) -> String {
        let plural = |n: u32, what: &str| format!("{n} file{} {what}", if n == 1 { "" } else { "s" });
        let mut parts = Vec::new();
        for (state, what) in [
            (SyncState::Behind, "behind the source"),
            (SyncState::Missing, "missing"),
            (SyncState::Conflict, "in conflict (changed on both sides)"),
            (SyncState::TargetAhead, "ahead of the source ('hive sync pull' proposes them back)"),
        ] {
            let n = self.count(state);
            if n > 0 {
                parts.push(plural(n, what));
            }
        }
        let awaiting = self.files.iter().filter(|f| f.awaiting.is_some()).count();
        if awaiting > 0 {
            parts.push(format!("{awaiting} waiting for a branch to be merged"));
        }
        if parts.is_empty() { "in step".to_owned() } else { parts.join(", ") }
    }
}

/// Where every file of one declaration stands, repository by repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncStatus {
    /// The declaration's name.
    pub name: String,
    /// Its source.
    pub source: String,
    /// Every repository it names, sorted.
    pub repos: Vec<RepoStatus>,
}

/// What a push did.
#[derive(Debug, Clone, Serialize)]
pub struct SyncPush {
    /// The declaration's name.
    pub name: String,
    /// The change set that syncs the files behind or missing; `None` when there were none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<ChangeRecord>,
    /// Files left alone because both sides changed: `(repository, path)`.
    pub conflicts: Vec<(String, String)>,
    /// Files left alone because the repository's edit is newer: `(repository, path)`.
    pub ahead: Vec<(String, String)>,
    /// Files recorded as synced by this push (found in step, or written by a set that finished).
    pub recorded: usize,
}

impl ChangeEngine {
    /// Where every file of `decl` stands in every repository it names, read at each default branch.
    pub async fn sync_status(&self, decl: &SyncDecl) -> Result<SyncStatus, ChangeError> {
        decl.validate()?;
        self.settle_syncs().await?;
        let scratch = format!(".sync-{}-{}", decl.name, std::process::id());
        let trees = crate::worktree::Worktrees::new(self.settings.work_dir.join(scratch));
        let result = self.read_status(decl, &trees).await;
        trees.remove().await;
        result
    }

    /// Makes the change set that brings every file behind or missing in step (files in conflict or ahead left
    /// alone, and said so), or resumes it; records what is found in step, and what a finished set synced.
    pub async fn sync_push(&self, decl: &SyncDecl) -> Result<SyncPush, ChangeError> {
        let status = self.sync_status(decl).await?;
        let mut push = self.sync_found(decl, &status).await?;
        if let Some(spec) = SyncDecl::push_spec(decl, &status) {
            match self.apply(&spec).await {
                Ok(record) => {
                    push.recorded += self.sync_expect(decl, &status, &record).await?;
                    push.change = Some(record);
                }
                Err(ChangeError::NoChange { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(push)
    }

    /// Records the files of `status` found in step whose hash is not recorded yet (with no change set), and says
    /// which files a push leaves alone; the start of every push.
    pub async fn sync_found(&self, decl: &SyncDecl, status: &SyncStatus) -> Result<SyncPush, ChangeError> {
        let now = hive_support::unix_now();
        let mut found = Vec::new();
        let (mut conflicts, mut ahead) = (Vec::new(), Vec::new());
        for repo in &status.repos {
            for file in &repo.files {
                match file.state {
                    SyncState::InStep
                        if file.awaiting.is_none() && file.last_synced.as_deref() != Some(&file.source_hash) =>
                    {
                        found.push(SyncedFile {
                            name: decl.name.clone(),
                            repo: repo.repo.clone(),
                            path: file.path.clone(),
                            hash: file.source_hash.clone(),
                            change_id: String::new(),
                            branch: String::new(),
                            synced_at: now,
                        });
                    }
                    SyncState::Conflict => conflicts.push((repo.repo.clone(), file.path.clone())),
                    SyncState::TargetAhead => ahead.push((repo.repo.clone(), file.path.clone())),
                    _ => {}
                }
            }
        }
        if !conflicts.is_empty() {
            let listed: Vec<String> = conflicts.iter().map(|(r, p)| format!("{r}:{p}")).collect();
            let audit = self.sync_audit(
                decl,
                conflicts.iter().map(|(r, _)| r.clone()).collect(),
                "sync_conflict",
                format!("left alone, changed on both sides: {}", listed.join(", ")),
            );
            self.memory(move |m| m.audit().append(&audit).map(|_| ())).await?;
        }
        let recorded = found.len();
        if !found.is_empty() {
            let repos = found.iter().map(|f| f.repo.clone()).collect();
            let audit =
                self.sync_audit(decl, repos, "sync_recorded", format!("{recorded} files found in step recorded"));
            self.memory(move |m| m.syncs().record(&found, &audit)).await?;
        }
        Ok(SyncPush { name: decl.name.clone(), change: None, conflicts, ahead, recorded })
    }

    /// Records what the set `record` made from `status` will have synced, and settles it at once if it finished;
    /// the files recorded as synced.
    pub async fn sync_expect(
        &self,
        decl: &SyncDecl,
        status: &SyncStatus,
        record: &ChangeRecord,
    ) -> Result<usize, ChangeError> {
        let mut pending = Vec::new();
        for repo in &status.repos {
            let Some(entry) = record.repo(&repo.repo) else { continue };
            if entry.state == RepoState::Unchanged {
                continue;
            }
            for file in repo.to_sync() {
                pending.push(PendingSync {
                    change_id: record.id.to_string(),
                    name: decl.name.clone(),
                    repo: repo.repo.clone(),
                    path: file.path.clone(),
                    hash: file.source_hash.clone(),
                });
            }
        }
        if pending.is_empty() {
            return Ok(0);
        }
        let repos = record.changed().map(|r| r.repo.clone()).collect();
        let audit = self.sync_audit(decl, repos, "sync_expected", format!("{} files by {}", pending.len(), record.id));
        self.memory(move |m| m.syncs().expect(&pending, &audit)).await?;
        self.settle_syncs().await
    }

    /// Settles every change set with pending sync hashes that finished: a merged set's repositories (a published
    /// set's, waiting on their branches) get the hashes as last synced; a set rolled back or aborted synced
    /// nothing. The files recorded.
    pub async fn settle_syncs(&self) -> Result<usize, ChangeError> {
        let ids = self.memory(|m| m.syncs().pending_sets()).await?;
        let mut recorded = 0;
        for id in ids {
            let Ok(change) = crate::ChangeId::parse(&id) else { continue };
            let Some(record) = self.load(&change).await? else { continue };
            let settled: Vec<Settled> = match record.state {
                ChangeState::Merged => record
                    .repos
                    .iter()
                    .filter(|r| r.state == RepoState::Merged)
                    .map(|r| Settled { repo: r.repo.clone(), branch: String::new() })
                    .collect(),
                ChangeState::Published => record
                    .repos
                    .iter()
                    .filter(|r| r.state == RepoState::Pushed)
                    .map(|r| Settled { repo: r.repo.clone(), branch: record.id.branch() })
                    .collect(),
                ChangeState::RolledBack | ChangeState::Aborted => Vec::new(),
                // Still under way, or green and left for a person to merge: what it synced is not known yet.
                _ => continue,
            };
            let audit = AuditEntry {
                actor: self.settings.by.clone(),
                repositories: settled.iter().map(|s| s.repo.clone()).collect(),
                action: "sync_settled".to_owned(),
                result: format!("{id}: {} ({} repositories synced)", record.state.as_str(), settled.len()),
                decision: String::new(),
            };
            let now = hive_support::unix_now();
            let files = self.memory(move |m| m.syncs().settle(&id, &settled, now, &audit)).await?;
            recorded += files.len();
        }
        Ok(recorded)
    }

    /// The change set that proposes `repo`'s newer `path` back to `decl`'s source; refused for a file that is not
    /// ahead of the source, and for one rendered from a template.
    pub async fn sync_pull_spec(&self, decl: &SyncDecl, repo: &str, path: &str) -> Result<ChangeSpec, ChangeError> {
        let status = self.sync_status(decl).await?;
        let invalid = |reason: String| ChangeError::InvalidSpec { reason };
        let entry = status.repos.iter().find(|r| r.repo == repo).ok_or_else(|| {
            invalid(format!("sync '{}' does not name '{}'; see 'hive sync status {}'", decl.name, repo, decl.name))
        })?;
        let file = entry.files.iter().find(|f| f.path == path).ok_or_else(|| {
            invalid(format!(
                "sync '{}' keeps no file '{}' in {repo}; see 'hive sync status {}'",
                decl.name, path, decl.name
            ))
        })?;
        if file.template {
            return Err(invalid(format!(
                "'{path}' in {repo} is filled from the template '{path}{}' in {}: a filled template cannot be pulled \
                 back; edit the template in the source instead",
                hive_ecosystem::TEMPLATE_SUFFIX,
                decl.source
            )));
        }
        if file.state != SyncState::TargetAhead {
            return Err(invalid(format!(
                "'{path}' in {repo} is {}, not ahead of the source: only a file changed in the repository alone is \
                 pulled back",
                state_text(file.state)
            )));
        }
        Ok(ChangeSpec {
            title: format!("Take {path} from {repo} into {}", decl.source),
            message: format!(
                "{repo} changed {path}, kept in step by [[sync]] '{}'; its edit comes back here.",
                decl.name
            ),
            targets: Targets { repos: vec![decl.source.clone()], ..Targets::default() },
            operation: Operation::Sync {
                source: repo.to_owned(),
                paths: vec![path.to_owned()],
                delete_missing: false,
                skip: BTreeMap::new(),
            },
            rules: MergeRules::default(),
        })
    }

    fn sync_audit(&self, decl: &SyncDecl, repositories: Vec<String>, action: &str, result: String) -> AuditEntry {
        AuditEntry {
            actor: self.settings.by.clone(),
            repositories,
            action: action.to_owned(),
            result: format!("sync {}: {}", decl.name, self.redactor.redact(&result)),
            decision: String::new(),
        }
    }
}

impl SyncDecl {
    /// The change set a push makes from `status`: the repositories with files behind or missing, every other file
    /// of theirs left alone; `None` when nothing is behind or missing.
    pub fn push_spec(decl: &SyncDecl, status: &SyncStatus) -> Option<ChangeSpec> {
        let mut repos = Vec::new();
        let mut skip = BTreeMap::new();
        for repo in status.repos.iter().filter(|r| r.to_sync().next().is_some()) {
            repos.push(repo.repo.clone());
            let left: Vec<String> = repo
                .files
                .iter()
                .filter(|f| matches!(f.state, SyncState::Conflict | SyncState::TargetAhead) || f.awaiting.is_some())
                .map(|f| f.path.clone())
                .collect();
            if !left.is_empty() {
                skip.insert(repo.repo.clone(), left);
            }
        }
        (!repos.is_empty()).then(|| decl.spec(repos, skip))
    }
}

/// A state as people read it.
pub fn state_text(state: SyncState) -> &'static str {
    match state {
        SyncState::InStep => "in step",
        SyncState::Behind => "behind",
        SyncState::TargetAhead => "target ahead",
        SyncState::Conflict => "conflict",
        SyncState::Missing => "missing",
    }
}

impl ChangeBook {
    /// The newest `limit` syncs, of the declaration `name` or of all, newest first.
    pub async fn sync_log(&self, name: Option<&str>, limit: usize) -> Result<Vec<SyncLogEntry>, ChangeError> {
        let name = name.map(str::to_owned);
        crate::engine::memory(&self.scribe, move |m| m.syncs().log(name.as_deref(), limit)).await
    }
}
