//! `ChangeEngine`: plans a change set, opens it (its record and its repositories' locks in one transaction), and
//! moves it on as far as it can go now: publish, validate, commit in dependency order, or roll back.
//!
//! The engine keeps nothing in memory between calls: every call reads the set's record from hive.db, looks on the
//! forge before each write, and records each step before the next, so a process killed at any point is resumed by
//! the same command.

use std::{path::PathBuf, sync::Arc, time::Duration};

use hive_cerebrum::{
    AuditEntry, ChangeLock, ChangeRow, Memory, MemoryError, Opened, Redactor, ScribeHandle, governance::Policy,
};
use hive_ecosystem::{DependencyGraph, GraphRepo};
use hive_forge::{Forge, ForgeWriter, RepoId, WriteError};
use serde::Serialize;

use crate::{
    ChangeError, ChangeId, ChangeRecord, ChangeSpec, ChangeState, RepoChange, RepoState,
    worktree::{Made, Worktrees},
};

mod advance;
mod body;
mod rollback;
mod targets;

pub use hive_cerebrum::governance::LivePolicy;

/// How the engine works.
#[derive(Debug, Clone)]
pub struct ChangeSettings {
    /// Where the sets' worktrees are made (`<work>/<id>/<owner>/<name>`).
    pub work_dir: PathBuf,
    /// What governs every write.
    pub policy: Policy,
    /// Who runs the sets, for the audit trail and the locks.
    pub by: String,
    /// How long a set holds its repositories without moving on; a set whose process died lets them go after this.
    pub lock_ttl: Duration,
}

impl ChangeSettings {
    /// Settings with worktrees under `work_dir`, the default policy, and locks held for six hours.
    pub fn new(work_dir: PathBuf, by: impl Into<String>) -> Self {
        ChangeSettings { work_dir, policy: Policy::default(), by: by.into(), lock_ttl: Duration::from_secs(6 * 3600) }
    }
}

/// One repository of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedRepo {
    /// `owner/name`.
    pub repo: String,
    /// The branch the change would go into.
    pub base: String,
    /// Whether the change touches it.
    pub changed: bool,
    /// The files it would change.
    pub files: Vec<String>,
    /// Lines added and removed.
    pub lines: usize,
    /// The change as a unified diff.
    pub diff: String,
}

/// What a change set would do, computed without writing anything anywhere.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The id the set would get.
    pub id: ChangeId,
    /// Every repository named, in merge order.
    pub repos: Vec<PlannedRepo>,
    /// The merge order: each wave depends only on earlier ones.
    pub waves: Vec<Vec<String>>,
}

/// Makes change sets and moves them on.
pub struct ChangeEngine {
    /// The sets this process is working on now (shared by every `acting_as` copy).
    running: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    pub(crate) scribe: ScribeHandle,
    pub(crate) reader: Arc<dyn Forge>,
    pub(crate) writer: Arc<dyn ForgeWriter>,
    pub(crate) settings: ChangeSettings,
    pub(crate) redactor: Redactor,
    pub(crate) live_policy: Option<LivePolicy>,
}

impl std::fmt::Debug for ChangeEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeEngine")
            .field("forge", &self.writer.name())
            .field("work_dir", &self.settings.work_dir)
            .finish_non_exhaustive()
    }
}

/// A set claimed by this process, let go when dropped.
pub(crate) struct Running {
    id: String,
    running: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.id);
    }
}

/// A repository the set will touch, as resolved from its targets.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) repo: RepoId,
    pub(crate) base: String,
    pub(crate) url: String,
}

impl ChangeEngine {
    /// An engine reading the fleet through `reader`, writing through `writer`, recording through `scribe`;
    /// `redactor` hides the secrets it knows from everything recorded.
    pub fn new(
        scribe: ScribeHandle,
        reader: Arc<dyn Forge>,
        writer: Arc<dyn ForgeWriter>,
        settings: ChangeSettings,
        redactor: Redactor,
    ) -> Self {
        ChangeEngine { running: Arc::default(), scribe, reader, writer, settings, redactor, live_policy: None }
    }

    /// The same engine recording `by` as who runs what it does next (the router's caller, say).
    pub fn acting_as(&self, by: &str) -> ChangeEngine {
        let mut settings = self.settings.clone();
        settings.by = by.to_owned();
        ChangeEngine {
            running: Arc::clone(&self.running),
            scribe: self.scribe.clone(),
            reader: Arc::clone(&self.reader),
            writer: Arc::clone(&self.writer),
            settings,
            redactor: self.redactor.clone(),
            live_policy: self.live_policy.clone(),
        }
    }

    /// Writes decided under the policy as `live` brings it up to date for each repository at that moment.
    pub fn with_live_policy(mut self, live: LivePolicy) -> Self {
        self.live_policy = Some(live);
        self
    }

    /// What `spec` would change, repository by repository, without writing anything (its worktrees are made in a
    /// scratch directory and removed).
    pub async fn plan(&self, spec: &ChangeSpec) -> Result<Plan, ChangeError> {
        spec.validate()?;
        let id = spec.id();
        // One scratch directory per plan, also when two plans of one spec run at once in this process.
        static PLANS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = PLANS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let scratch = Worktrees::new(self.settings.work_dir.join(format!(".plan-{id}-{}-{n}", std::process::id())));
        let result = self.make_all(spec, &id, &scratch, hive_support::unix_now()).await;
        scratch.remove().await;
        let (made, waves) = result?;
        let placed = waves.clone();
        let order = order_of(&placed);
        let mut repos: Vec<PlannedRepo> = made
            .into_iter()
            .map(|(target, made)| PlannedRepo {
                repo: target.repo.to_string(),
                base: target.base,
                changed: made.head.is_some(),
                files: made.files,
                lines: made.lines,
                diff: self.redactor.redact(&made.diff).into_owned(),
            })
            .collect();
        repos.sort_by_key(|r| order(&r.repo));
        Ok(Plan { id, repos, waves })
    }

    /// Makes the change set `spec` asks for, or resumes it if it is there already (the same spec has the same id),
    /// and moves it on as far as it can go now. A set left ready or published for a person is given back as it is;
    /// one that finished merged, rolled back or aborted is not made again unless something changed: the same spec
    /// then makes a new set (`<id>-2`, ...).
    pub async fn apply(&self, spec: &ChangeSpec) -> Result<ChangeRecord, ChangeError> {
        spec.validate()?;
        let (id, existing) = self.next(spec).await?;
        if let Some(record) = existing {
            return self.advance(record).await;
        }
        let _running = self.claim(&id)?;
        let record = self.open(spec, id).await?;
        drop(_running);
        self.advance(record).await
    }

    /// The id `apply` would give `spec` now, and the set of that id when there is one to resume.
    pub async fn next(&self, spec: &ChangeSpec) -> Result<(ChangeId, Option<ChangeRecord>), ChangeError> {
        let first = spec.id();
        let mut n = 1;
        loop {
            let id = first.nth(n);
            match self.load(&id).await? {
                Some(record) if record.state.answers_again() => return Ok((id, Some(record))),
                Some(_) => n += 1,
                None => return Ok((id, None)),
            }
        }
    }

    /// Moves the set `id` on as far as it can go now.
    pub async fn resume(&self, id: &ChangeId) -> Result<ChangeRecord, ChangeError> {
        let record = self.get(id).await?;
        self.advance(record).await
    }

    /// Marks `id` as being worked on by this process until the guard is dropped: a second caller (the router's
    /// background apply and a `change resume`, say) is refused rather than racing it.
    pub(crate) fn claim(&self, id: &ChangeId) -> Result<Running, ChangeError> {
        let mut running = self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !running.insert(id.to_string()) {
            return Err(ChangeError::Busy { id: id.to_string() });
        }
        Ok(Running { id: id.to_string(), running: Arc::clone(&self.running) })
    }

    /// Moves the set `id` on until it finishes or `deadline` passes, looking again every `every` while it waits
    /// (for checks, approvals, reverts).
    pub async fn run_until(
        &self,
        id: &ChangeId,
        deadline: tokio::time::Instant,
        every: Duration,
    ) -> Result<ChangeRecord, ChangeError> {
        loop {
            let record = self.resume(id).await?;
            if !record.state.moves() || tokio::time::Instant::now() + every > deadline {
                return Ok(record);
            }
            tokio::time::sleep(every).await;
        }
    }

    /// The set `id`.
    pub async fn get(&self, id: &ChangeId) -> Result<ChangeRecord, ChangeError> {
        self.book().get(id).await
    }

    /// Every set, newest first.
    pub async fn list(&self) -> Result<Vec<ChangeRecord>, ChangeError> {
        self.book().list().await
    }

    /// Every lock held now.
    pub async fn locks(&self) -> Result<Vec<ChangeLock>, ChangeError> {
        self.book().locks().await
    }

    fn book(&self) -> ChangeBook {
        ChangeBook::new(self.scribe.clone())
    }

    /// Stops the set `id` before any merge: its open pull requests are closed, its repositories released. A set
    /// with a merged pull request can only be rolled back; one found merged while closing is rolled back.
    pub async fn abort(&self, id: &ChangeId) -> Result<ChangeRecord, ChangeError> {
        let _running = self.claim(id)?;
        let mut record = self.get(id).await?;
        if !record.state.moves() && record.state != ChangeState::Ready {
            return Err(ChangeError::WrongState {
                id: id.to_string(),
                state: record.state.as_str(),
                reason: "it is not under way; nothing to abort".to_owned(),
            });
        }
        if record.any_merged() {
            return Err(ChangeError::WrongState {
                id: id.to_string(),
                state: record.state.as_str(),
                reason: format!("a pull request of it is merged already; revert it with 'hive change rollback {id}'"),
            });
        }
        let by = self.settings.by.clone();
        record.step("", format!("abort asked for by {by}"));
        if !self.close_unmerged(&mut record).await? {
            // Governance held a close back (the kill switch, an emergency): the set stays as it was, noted.
            self.save(&record, "change_waiting", "abort waits to close its pull requests".to_owned()).await?;
            return Ok(record);
        }
        if record.any_merged() {
            record.halt = Some(crate::Halt {
                repo: String::new(),
                reason: format!("abort asked for by {by}, and a pull request was found merged"),
            });
            record.state = ChangeState::RollingBack;
            self.save(&record, "change_rolling_back", "a merge found while aborting".to_owned()).await?;
            drop(_running);
            return self.advance(record).await;
        }
        record.state = ChangeState::Aborted;
        self.save(&record, "change_aborted", format!("aborted by {by}")).await?;
        Ok(record)
    }

    /// Rolls the set `id` back whatever it reached: unmerged pull requests closed, merged ones reverted.
    pub async fn rollback(&self, id: &ChangeId) -> Result<ChangeRecord, ChangeError> {
        let running = self.claim(id)?;
        let mut record = self.get(id).await?;
        if matches!(record.state, ChangeState::RolledBack | ChangeState::Aborted) {
            return Ok(record);
        }
        if record.state != ChangeState::RollingBack {
            let by = self.settings.by.clone();
            if record.state != ChangeState::NeedsAttention {
                record.halt = Some(crate::Halt { repo: String::new(), reason: format!("rollback asked for by {by}") });
            }
            record.state = ChangeState::RollingBack;
            // Undoing its own work needs no lock; another set holding a repository now is named, not a stop.
            if let Err(ChangeError::Locked { held }) = self.reopen(&record).await {
                record.step("", format!("rolling back while other sets hold {}", held.join(", ")));
            }
            self.save(&record, "change_rolling_back", format!("rollback asked for by {by}")).await?;
        }
        drop(running);
        self.advance(record).await
    }

    /// Resolves the targets, makes the change in each worktree, orders the repositories, and records the set with
    /// its locks; refused (nothing recorded) when another open set holds one of them.
    async fn open(&self, spec: &ChangeSpec, id: ChangeId) -> Result<ChangeRecord, ChangeError> {
        let created_at = hive_support::unix_now();
        let trees = self.worktrees(&id);
        let (made, waves) = match self.make_all(spec, &id, &trees, created_at).await {
            Ok(made) => made,
            Err(err) => {
                trees.remove().await;
                return Err(err);
            }
        };
        let placed = waves.clone();
        let order = order_of(&placed);
        if made.iter().all(|(_, m)| m.head.is_none()) {
            trees.remove().await;
            return Err(ChangeError::NoChange { repos: made.len() });
        }
        let mut repos: Vec<RepoChange> = made
            .into_iter()
            .map(|(target, made)| RepoChange {
                repo: target.repo.to_string(),
                clone_url: target.url,
                base: target.base,
                base_sha: made.base_sha,
                state: if made.head.is_some() { RepoState::Planned } else { RepoState::Unchanged },
                head: made.head,
                files: made.files,
                lines: made.lines,
                pull: None,
                pull_url: None,
                merge_sha: None,
                revert: None,
                linked: false,
                note: String::new(),
            })
            .collect();
        repos.sort_by_key(|r| order(&r.repo));
        let mut record = ChangeRecord {
            id: id.clone(),
            spec: spec.clone(),
            state: ChangeState::Applying,
            repos,
            waves,
            halt: None,
            steps: Vec::new(),
            validating_since: None,
            created_at,
            by: self.settings.by.clone(),
        };
        let changed = record.changed().count();
        record.step(
            "",
            format!("opened: {} in {changed} of {} repositories", spec.operation.describe(), record.repos.len()),
        );
        let names = locked(&record);
        let row = self.row(&record)?;
        let (owner, ttl) = (self.owner(), self.ttl());
        let audit = self.audit_entry(&record, "change_opened", format!("{changed} repositories to change"));
        let opened = self
            .memory(move |m| {
                let now = hive_support::unix_now();
                m.changes().open(&row, &names, &owner, now, now + ttl, &audit)
            })
            .await?;
        if let Opened::Held(held) = opened {
            trees.remove().await;
            return Err(ChangeError::Locked {
                held: held.into_iter().map(|l| format!("{} (by {})", l.repo, l.change_id)).collect(),
            });
        }
        Ok(record)
    }

    /// Makes the change in every target's worktree under `trees`; the targets and what was made, and the waves.
    async fn make_all(
        &self,
        spec: &ChangeSpec,
        id: &ChangeId,
        trees: &Worktrees,
        created_at: i64,
    ) -> Result<(Vec<(Target, Made)>, Vec<Vec<String>>), ChangeError> {
        let targets = self.targets(spec, trees).await?;
        let edit = self.editor(spec, trees).await?;
        let message = commit_message(spec, id);
        let mut made = Vec::with_capacity(targets.len());
        for target in targets {
            let name = target.repo.to_string();
            trees.clone(&name, &target.url, &target.base, false).await?;
            let result =
                trees.make(&name, &spec.operation, &|dir| edit(&name, dir), &id.branch(), &message, created_at).await?;
            if spec.rules.validate && result.head.is_some() {
                self.validate_made(&name, &trees.dir(&name), &result.files).await?;
            }
            made.push((target, result));
        }
        let waves = waves(trees, &made);
        Ok((made, waves))
    }

    /// Runs the repository's own linters on its changed worktree: an error in a file the change touches, or a linter
    /// that could not run, refuses the change here, before anything is published.
    async fn validate_made(&self, name: &str, dir: &std::path::Path, files: &[String]) -> Result<(), ChangeError> {
        let options = hive_ecosystem::ValidateOptions {
            target_dir: Some(self.settings.work_dir.join(".validate-target")),
            ..hive_ecosystem::ValidateOptions::default()
        };
        let report = hive_ecosystem::validate(dir, &options)
            .await
            .map_err(|e| ChangeError::Prepare { repo: name.to_owned(), reason: format!("cannot validate: {e}") })?;
        let mut problems: Vec<String> = report
            .findings()
            .filter(|f| f.severity == hive_ecosystem::Severity::Error && files.contains(&f.file))
            .map(|f| format!("{}:{} {} ({})", f.file, f.line.unwrap_or(0), f.message, f.rule))
            .collect();
        for run in &report.runs {
            match &run.status {
                hive_ecosystem::LinterStatus::Failed { reason } => {
                    problems.push(format!("{} failed: {reason}", run.linter))
                }
                hive_ecosystem::LinterStatus::TimedOut => problems.push(format!("{} timed out", run.linter)),
                _ => {}
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        problems.truncate(10);
        Err(ChangeError::Prepare {
            repo: name.to_owned(),
            reason: format!("validation found what the change broke: {}", problems.join("; ")),
        })
    }

    pub(crate) fn worktrees(&self, id: &ChangeId) -> Worktrees {
        Worktrees::new(self.settings.work_dir.join(id.as_str()))
    }

    pub(crate) async fn load(&self, id: &ChangeId) -> Result<Option<ChangeRecord>, ChangeError> {
        self.book().load(id).await
    }

    /// Records `record` with an audit record of `action`, renewing its locks (or releasing them once it is
    /// finished).
    pub(crate) async fn save(&self, record: &ChangeRecord, action: &str, result: String) -> Result<(), ChangeError> {
        let row = self.row(record)?;
        let audit = self.audit_entry(record, action, result);
        let ttl = self.ttl();
        self.memory(move |m| m.changes().put(&row, hive_support::unix_now() + ttl, &audit)).await
    }

    /// Takes the set's locks again (a rollback asked for after the set finished and let them go).
    async fn reopen(&self, record: &ChangeRecord) -> Result<(), ChangeError> {
        let row = self.row(record)?;
        let names = locked(record);
        let (owner, ttl) = (self.owner(), self.ttl());
        let audit = self.audit_entry(record, "change_locked", "locks taken for the rollback".to_owned());
        let opened = self
            .memory(move |m| {
                let now = hive_support::unix_now();
                m.changes().open(&row, &names, &owner, now, now + ttl, &audit)
            })
            .await?;
        match opened {
            Opened::Locked => Ok(()),
            Opened::Held(held) => Err(ChangeError::Locked {
                held: held.into_iter().map(|l| format!("{} (by {})", l.repo, l.change_id)).collect(),
            }),
        }
    }

    /// Refuses to write for a set that lost one of its repositories to another set (its lock expired meanwhile).
    /// Renews the locks, so a set that waits (for checks, a review) keeps its repositories while it is looked at.
    pub(crate) async fn check_locks(&self, record: &ChangeRecord) -> Result<(), ChangeError> {
        let (id, names) = (record.id.to_string(), locked(record));
        let expires = hive_support::unix_now() + self.ttl();
        let lost = self.memory(move |m| m.changes().hold(&id, &names, expires)).await?;
        if lost.is_empty() {
            return Ok(());
        }
        let ids = self.locks().await?;
        Err(ChangeError::Locked {
            held: lost
                .into_iter()
                .map(|repo| {
                    let by = ids.iter().find(|l| l.repo == repo).map_or("nobody now", |l| l.change_id.as_str());
                    format!("{repo} (by {by}, after this set's lock expired)")
                })
                .collect(),
        })
    }

    fn row(&self, record: &ChangeRecord) -> Result<ChangeRow, ChangeError> {
        let json = serde_json::to_string(record)
            .map_err(|e| ChangeError::BadRecord { id: record.id.to_string(), reason: e.to_string() })?;
        Ok(ChangeRow {
            id: record.id.to_string(),
            state: record.state.as_str().to_owned(),
            open: record.state.is_open(),
            record: self.redactor.redact(&json).into_owned(),
            created_at: record.created_at,
            updated_at: hive_support::unix_now(),
        })
    }

    fn audit_entry(&self, record: &ChangeRecord, action: &str, result: String) -> AuditEntry {
        AuditEntry {
            actor: record.by.clone(),
            repositories: record.repos.iter().map(|r| r.repo.clone()).collect(),
            action: action.to_owned(),
            result: format!("{}: {}", record.id, self.redactor.redact(&result)),
            decision: String::new(),
        }
    }

    fn owner(&self) -> String {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}@{}:{}", self.settings.by, host.trim(), std::process::id())
    }

    fn ttl(&self) -> i64 {
        i64::try_from(self.settings.lock_ttl.as_secs()).unwrap_or(i64::MAX / 2)
    }

    /// The policy for `repo`, as it is now.
    pub(crate) fn policy(&self, repo: &str) -> Policy {
        let mut policy = self.settings.policy.clone();
        if let Some(live) = &self.live_policy {
            live(repo, &mut policy);
        }
        policy
    }

    pub(crate) fn redact(&self, err: &dyn std::fmt::Display) -> String {
        self.redactor.redact(&err.to_string()).into_owned()
    }

    pub(crate) fn forge_error(&self, repo: &str, err: &WriteError) -> ChangeError {
        ChangeError::Forge { repo: repo.to_owned(), reason: self.redact(err), transient: err.is_transient() }
    }

    /// Runs `job` on the database through the scribe.
    pub(crate) async fn memory<R, F>(&self, job: F) -> Result<R, ChangeError>
    where
        F: FnOnce(&mut Memory) -> Result<R, MemoryError> + Send + 'static,
        R: Send + 'static,
    {
        memory(&self.scribe, job).await
    }
}

/// The change sets recorded in hive.db, read without a forge: for `status` and the API.
#[derive(Debug, Clone)]
pub struct ChangeBook {
    pub(crate) scribe: ScribeHandle,
}

impl ChangeBook {
    /// The sets recorded through `scribe`.
    pub fn new(scribe: ScribeHandle) -> Self {
        ChangeBook { scribe }
    }

    /// The set `id`.
    pub async fn get(&self, id: &ChangeId) -> Result<ChangeRecord, ChangeError> {
        self.load(id).await?.ok_or_else(|| ChangeError::NotFound { id: id.to_string() })
    }

    /// Every set, newest first.
    pub async fn list(&self) -> Result<Vec<ChangeRecord>, ChangeError> {
        let rows = memory(&self.scribe, |m| m.changes().list()).await?;
        rows.iter().map(decode).collect()
    }

    /// Every lock held now: the repository, the set holding it, who runs that set, and until when.
    pub async fn locks(&self) -> Result<Vec<ChangeLock>, ChangeError> {
        memory(&self.scribe, |m| m.changes().locks()).await
    }

    async fn load(&self, id: &ChangeId) -> Result<Option<ChangeRecord>, ChangeError> {
        let key = id.to_string();
        let row = memory(&self.scribe, move |m| m.changes().get(&key)).await?;
        row.as_ref().map(decode).transpose()
    }
}

pub(crate) async fn memory<R, F>(scribe: &ScribeHandle, job: F) -> Result<R, ChangeError>
where
    F: FnOnce(&mut Memory) -> Result<R, MemoryError> + Send + 'static,
    R: Send + 'static,
{
    Ok(scribe.call(job).await.map_err(|e| ChangeError::Scribe(e.to_string()))??)
}

/// The repositories a set holds: those its change touches.
fn locked(record: &ChangeRecord) -> Vec<String> {
    record.changed().map(|r| r.repo.clone()).collect()
}

fn decode(row: &ChangeRow) -> Result<ChangeRecord, ChangeError> {
    serde_json::from_str(&row.record).map_err(|e| ChangeError::BadRecord { id: row.id.clone(), reason: e.to_string() })
}

/// The commit message: the title, the message, and the set's id as a trailer.
pub(crate) fn commit_message(spec: &ChangeSpec, id: &ChangeId) -> String {
    let mut message = spec.title.trim().to_owned();
    if !spec.message.trim().is_empty() {
        message.push_str("\n\n");
        message.push_str(spec.message.trim());
    }
    message.push_str(&format!("\n\nHive-Change: {id}\n"));
    message
}

/// The merge order of the changed repositories: dependencies first, by the manifests of every repository the set
/// names (an order through an unchanged one still holds), the unchanged ones left out; then the unchanged ones, in a
/// wave of their own. A cycle (which the manifests should not have) is one wave.
fn waves(trees: &Worktrees, made: &[(Target, Made)]) -> Vec<Vec<String>> {
    let all: Vec<GraphRepo> = made
        .iter()
        .map(|(t, _)| {
            let name = t.repo.to_string();
            GraphRepo::new(name.clone(), t.repo.name(), trees.dir(&name)).url(t.url.clone())
        })
        .collect();
    let changed = |name: &String| made.iter().any(|(t, m)| m.head.is_some() && t.repo.to_string() == *name);
    let mut waves = match DependencyGraph::from_manifests(all.clone()).and_then(|g| g.waves()) {
        Ok(waves) => waves,
        Err(err) => {
            tracing::warn!(error = %err, "the change's repositories have no dependency order; merging them as one wave");
            vec![all.into_iter().map(|r| r.id).collect()]
        }
    };
    for wave in &mut waves {
        wave.retain(changed);
    }
    waves.retain(|w| !w.is_empty());
    let unchanged: Vec<String> =
        made.iter().filter(|(_, m)| m.head.is_none()).map(|(t, _)| t.repo.to_string()).collect();
    if !unchanged.is_empty() {
        waves.push(unchanged);
    }
    waves
}

/// A repository's place in `waves`.
fn order_of(waves: &[Vec<String>]) -> impl Fn(&str) -> (usize, usize) + '_ {
    move |repo| {
        waves
            .iter()
            .enumerate()
            .find_map(|(w, wave)| wave.iter().position(|r| r == repo).map(|i| (w, i)))
            .unwrap_or((usize::MAX, 0))
    }
}
