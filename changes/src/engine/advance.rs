//! Moving an open set on: publish (a branch and a pull request per repository, then every body linked to its
//! siblings), validate (every check of every pull request green), commit (merges in dependency order, each pinned
//! to the commit that was checked). Each step looks on the forge before it writes and is recorded before the next.

use hive_cerebrum::governance::{ActionKind, ChecksState};
use hive_forge::{PullChange, PullDetail, RepoId, approves};

use super::ChangeEngine;
use crate::{
    ChangeError, ChangeRecord, ChangeState, Halt, RepoState,
    gate::{Sent, Write},
};

/// What a step found about one pull request.
pub(crate) enum Found {
    /// It is as the set left it.
    Open(PullDetail),
    /// It was merged (by the set before a crash lost the record, or by a person).
    Merged(PullDetail),
    /// Something outside the set stopped it: closed unmerged, or its branch moved.
    Stopped(String),
    /// There is none (yet).
    Missing,
}

impl ChangeEngine {
    /// Moves `record` on as far as it can go now, recording every step; returns it as it was left.
    pub(crate) async fn advance(&self, record: ChangeRecord) -> Result<ChangeRecord, ChangeError> {
        if !record.state.moves() {
            return Ok(record);
        }
        let _running = self.claim(&record.id)?;
        // Read again under the claim: another caller may have moved it on meanwhile.
        let mut record = self.get(&record.id).await?;
        loop {
            if !record.state.moves() {
                return Ok(record);
            }
            // Undoing its own work needs no lock; going forward does.
            if record.state != ChangeState::RollingBack {
                self.check_locks(&record).await?;
            }
            let before = (record.state, serde_json::to_string(&record.repos).unwrap_or_default());
            match record.state {
                ChangeState::Applying => self.publish(&mut record).await?,
                ChangeState::Validating => self.validate(&mut record).await?,
                ChangeState::Committing => self.commit(&mut record).await?,
                ChangeState::RollingBack => self.roll_back(&mut record).await?,
                _ => return Ok(record),
            }
            if record.state == before.0 {
                // Waiting for something outside the set (checks, a review, a limit): recorded once when what it
                // waits for changed, not at every look.
                if serde_json::to_string(&record.repos).unwrap_or_default() != before.1 {
                    let waiting: Vec<String> = record
                        .repos
                        .iter()
                        .filter(|r| !r.note.is_empty())
                        .map(|r| format!("{}: {}", r.repo, r.note))
                        .collect();
                    self.save(&record, "change_waiting", waiting.join("; ")).await?;
                }
                return Ok(record);
            }
        }
    }

    /// Pushes every changed repository's branch and opens its pull request (a forge without pull requests: the
    /// branches are the result, for a person to merge), then links every pull request to its siblings.
    async fn publish(&self, record: &mut ChangeRecord) -> Result<(), ChangeError> {
        let pull_requests = self.writer.capabilities().pull_requests;
        let branch = record.id.branch();
        let names: Vec<String> = record.changed().map(|r| r.repo.clone()).collect();
        for name in &names {
            let repo = repo_id(name)?;
            if self.state(record, name) == RepoState::Planned {
                let dir = self.ensure_made(record, name).await?;
                let Sent::Done(pushed) = self.push(record, name, &dir, &branch, "push").await? else {
                    return Ok(());
                };
                let entry = self.entry(record, name);
                if entry.head.as_deref() != Some(pushed.as_str()) {
                    return Err(ChangeError::Prepare {
                        repo: name.clone(),
                        reason: format!("the pushed branch is at {pushed}, not at the change's commit"),
                    });
                }
                entry.state = RepoState::Pushed;
                entry.note.clear();
                record.step(name, format!("pushed {branch} at {pushed}"));
                self.save(record, "change_pushed", format!("{name}: {branch} at {pushed}")).await?;
            }
            if pull_requests && self.state(record, name) == RepoState::Pushed {
                match self.find_pull(record, name).await? {
                    Found::Open(pull) | Found::Merged(pull) => self.opened(record, name, &pull),
                    Found::Stopped(why) => return self.halt(record, name, why).await,
                    Found::Missing => {
                        let entry = record.repo(name).cloned().expect("a changed repository of the record");
                        let title = record.spec.title.clone();
                        let write = Write {
                            kind: ActionKind::OpenPullRequest,
                            repo: name,
                            step: "pull",
                            target: Some(branch.clone()),
                            checks: None,
                        };
                        let (repo, branch, base, title) = (&repo, &branch, &entry.base, &title);
                        let sent = self
                            .governed(record, write, |decided| {
                                let body = self.redactor.redact(&super::body::pull_body(record, &decided.html)).into_owned();
                                async move {
                                    self.writer.create_pull(repo, branch, base, title, &body, decided.draft).await
                                }
                            })
                            .await?;
                        let Sent::Done(pull) = sent else {
                            self.wait(record, name, sent);
                            return Ok(());
                        };
                        self.opened(record, name, &pull);
                    }
                }
                let number = record.repo(name).and_then(|r| r.pull).unwrap_or_default();
                self.save(record, "change_pull_opened", format!("{name}#{number}")).await?;
            }
        }
        if !pull_requests {
            record.state = ChangeState::Published;
            record.step("", format!("{} branches published for a person to merge", names.len()));
            return self.save(record, "change_published", format!("{} branches", names.len())).await;
        }
        for name in &names {
            let entry = record.repo(name).cloned().expect("a changed repository of the record");
            let (Some(number), false) = (entry.pull, entry.linked) else { continue };
            let repo = repo_id(name)?;
            let write = Write {
                kind: ActionKind::UpdateIssue,
                repo: name,
                step: "links",
                target: Some(format!("{name}#{number}")),
                checks: None,
            };
            let sent = self
                .governed(record, write, |decided| {
                    let change = PullChange {
                        body: Some(self.redactor.redact(&super::body::pull_body(record, &decided.html)).into_owned()),
                        ..PullChange::default()
                    };
                    async move { self.writer.update_pull(&repo, number, &change).await }
                })
                .await?;
            let Sent::Done(_) = sent else {
                self.wait(record, name, sent);
                return Ok(());
            };
            self.entry(record, name).linked = true;
            self.save(record, "change_linked", format!("{name}#{number} links its siblings")).await?;
        }
        record.state = ChangeState::Validating;
        record.validating_since = Some(hive_support::unix_now());
        record.step("", "every pull request opened and linked; waiting for their checks");
        self.save(record, "change_validating", "every pull request opened".to_owned()).await
    }

    /// Looks at every pull request's checks: all green moves the set to committing (or leaves it ready for a
    /// person, when the rules say not to merge), a failure anywhere halts it.
    async fn validate(&self, record: &mut ChangeRecord) -> Result<(), ChangeError> {
        let names: Vec<String> = record.changed().map(|r| r.repo.clone()).collect();
        let mut waiting = Vec::new();
        for name in &names {
            if matches!(self.state(record, name), RepoState::Green | RepoState::Merged) {
                continue;
            }
            match self.find_pull(record, name).await? {
                Found::Open(_) => {}
                Found::Merged(pull) => {
                    self.merged(record, name, &pull, "merged by a person before the set's checks were all green");
                    continue;
                }
                Found::Stopped(why) => return self.halt(record, name, why).await,
                Found::Missing => return self.halt(record, name, "its pull request is gone".to_owned()).await,
            }
            let head = self.entry(record, name).head.clone().unwrap_or_default();
            let (checks, failing) = self.checks(name, &head).await?;
            match checks {
                ChecksState::Green => {
                    let entry = self.entry(record, name);
                    entry.state = RepoState::Green;
                    entry.note.clear();
                    record.step(name, format!("checks green on {}", short(&head)));
                }
                ChecksState::Failing => {
                    let why = format!("checks failed on {}: {}", short(&head), failing.join(", "));
                    return self.halt(record, name, why).await;
                }
                ChecksState::Pending | ChecksState::Missing => {
                    self.entry(record, name).note = format!("waiting for checks ({checks})");
                    waiting.push(name.clone());
                }
            }
        }
        if !waiting.is_empty() {
            let since = *record.validating_since.get_or_insert(hive_support::unix_now());
            let limit = i64::try_from(record.spec.rules.checks_timeout_secs).unwrap_or(i64::MAX);
            if hive_support::unix_now().saturating_sub(since) > limit {
                let name = waiting[0].clone();
                let why = format!(
                    "no checks finished within {}s of the pull requests opening ({})",
                    limit,
                    self.entry(record, &name).note
                );
                return self.halt(record, &name, why).await;
            }
            return Ok(());
        }
        {
            if record.spec.rules.merge {
                record.state = ChangeState::Committing;
                record.step("", "every check of every pull request green; merging in dependency order");
            } else {
                record.state = ChangeState::Ready;
                record.step("", "every check green; the rules leave the merges to a person");
            }
        }
        self.save(record, "change_validated", format!("{} green", names.len())).await
    }

    /// Merges wave by wave, each pull request only if its head is still the checked commit, its checks are green
    /// now, it is approved when the rules ask for it, and governance allows it. A refusal halts the set.
    async fn commit(&self, record: &mut ChangeRecord) -> Result<(), ChangeError> {
        let method = record.spec.rules.method;
        for wave in record.waves.clone() {
            for name in &wave {
                if self.state(record, name) != RepoState::Green {
                    continue;
                }
                let repo = repo_id(name)?;
                let pull = match self.find_pull(record, name).await? {
                    Found::Open(pull) => pull,
                    Found::Merged(pull) => {
                        self.merged(record, name, &pull, "merged");
                        self.save(record, "change_merged", format!("{name}#{}", pull.number)).await?;
                        continue;
                    }
                    Found::Stopped(why) => return self.halt(record, name, why).await,
                    Found::Missing => return self.halt(record, name, "its pull request is gone".to_owned()).await,
                };
                let head = pull.head_sha.clone();
                let (checks, failing) = self.checks(name, &head).await?;
                match checks {
                    ChecksState::Green => {}
                    ChecksState::Failing => {
                        let why = format!("checks failed on {} before its merge: {}", short(&head), failing.join(", "));
                        return self.halt(record, name, why).await;
                    }
                    ChecksState::Pending | ChecksState::Missing => {
                        self.entry(record, name).note = format!("waiting for checks ({checks}) before its merge");
                        return Ok(());
                    }
                }
                if record.spec.rules.require_approval {
                    let reviews =
                        self.writer.pull_reviews(&repo, pull.number).await.map_err(|e| self.forge_error(name, &e))?;
                    if !approves(&reviews, &head) {
                        self.entry(record, name).note =
                            format!("waiting for an approving review of {} on #{}", short(&head), pull.number);
                        return Ok(());
                    }
                }
                let write = Write {
                    kind: ActionKind::Merge,
                    repo: name,
                    step: "merge",
                    target: Some(format!("{name}#{}", pull.number)),
                    checks: Some(ChecksState::Green),
                };
                let sent = self
                    .governed(record, write, |_| {
                        self.writer.merge_head(&repo, pull.number, method.as_str(), Some(&head))
                    })
                    .await;
                let merged = match sent {
                    Ok(Sent::Done(merged)) => merged,
                    // Governance's no (automerge off, the kill switch, an emergency, a limit) is a wait, not a
                    // failure of the change: the set merges when the policy allows, or a person aborts it.
                    Ok(Sent::Refused(why)) => {
                        self.entry(record, name).note = format!("waiting to merge: {why}");
                        return Ok(());
                    }
                    Err(ChangeError::Forge { reason, transient: false, .. }) => {
                        return self.halt(record, name, format!("the forge refused the merge: {reason}")).await;
                    }
                    Err(err) => return Err(err),
                };
                if !merged.merged {
                    return self.halt(record, name, format!("the forge did not merge: {}", merged.message)).await;
                }
                let entry = self.entry(record, name);
                entry.state = RepoState::Merged;
                entry.merge_sha = merged.sha.clone();
                entry.note.clear();
                let sha = merged.sha.unwrap_or_default();
                record.step(name, format!("merged #{} as {}", pull.number, short(&sha)));
                self.save(record, "change_merged", format!("{name}#{} as {sha}", pull.number)).await?;
            }
        }
        record.state = ChangeState::Merged;
        record.step("", "every pull request merged");
        self.save(record, "change_merged_all", format!("{} repositories", record.changed().count())).await
    }

    /// Pushes `branch` of `dir` to `name`. Where the forge has pull requests the push is part of the pull request
    /// that follows it, so it goes only when opening that pull request would be allowed now, and is counted once,
    /// as the pull request; elsewhere the branch is the write, decided and reserved as one. A refusal is noted on
    /// the repository.
    pub(crate) async fn push(
        &self,
        record: &mut ChangeRecord,
        name: &str,
        dir: &std::path::Path,
        branch: &str,
        step: &str,
    ) -> Result<Sent<String>, ChangeError> {
        let repo = repo_id(name)?;
        if self.writer.capabilities().pull_requests {
            if let Some(why) = self.preview(record, ActionKind::OpenPullRequest, name).await? {
                self.entry(record, name).note = format!("waiting: {why}");
                return Ok(Sent::Refused(why));
            }
            let pushed = self.writer.push_branch(&repo, dir, branch).await;
            return pushed.map(Sent::Done).map_err(|e| self.forge_error(name, &e));
        }
        let write =
            Write { kind: ActionKind::PushBranch, repo: name, step, target: Some(branch.to_owned()), checks: None };
        let sent = self.governed(record, write, |_| self.writer.push_branch(&repo, dir, branch)).await?;
        if let Sent::Refused(why) = &sent {
            self.entry(record, name).note = format!("waiting: {why}");
        }
        Ok(sent)
    }

    /// Stops the set going forward because of `name`: no further merge; the rollback starts.
    pub(crate) async fn halt(&self, record: &mut ChangeRecord, name: &str, why: String) -> Result<(), ChangeError> {
        tracing::warn!(change = %record.id, repo = name, reason = %why, "change set halted");
        self.entry(record, name).note = why.clone();
        record.step(name, format!("halted: {why}"));
        record.halt = Some(Halt { repo: name.to_owned(), reason: why.clone() });
        record.state = ChangeState::RollingBack;
        self.save(record, "change_halted", format!("{name}: {why}")).await
    }

    /// Leaves the set where it is because governance did not allow a write now (a limit, autonomy off, an
    /// emergency): the repository's note says why, and the same command later goes on.
    fn wait<T>(&self, record: &mut ChangeRecord, name: &str, sent: Sent<T>) {
        if let Sent::Refused(why) = sent {
            self.entry(record, name).note = format!("waiting: {why}");
        }
    }

    /// The pull request of the set's branch in `name`, as the forge has it now.
    pub(crate) async fn find_pull(&self, record: &ChangeRecord, name: &str) -> Result<Found, ChangeError> {
        self.find_pull_of(record, name, &record.id.branch(), record.repo(name).and_then(|r| r.head.clone())).await
    }

    /// The pull request of `branch` in `name` (the one the record knows, else the newest), checked against `head`.
    pub(crate) async fn find_pull_of(
        &self,
        record: &ChangeRecord,
        name: &str,
        branch: &str,
        head: Option<String>,
    ) -> Result<Found, ChangeError> {
        let repo = repo_id(name)?;
        let pulls = self.writer.pulls_for_branch(&repo, branch).await.map_err(|e| self.forge_error(name, &e))?;
        let known = record
            .repo(name)
            .and_then(|r| if branch == record.id.branch() { r.pull } else { r.revert.as_ref().and_then(|v| v.pull) });
        let pull = match known {
            Some(number) => pulls.into_iter().find(|p| p.number == number),
            None => pulls.into_iter().max_by_key(|p| p.number),
        };
        let Some(pull) = pull else { return Ok(Found::Missing) };
        if pull.merged {
            return Ok(Found::Merged(pull));
        }
        if pull.state != "open" {
            return Ok(Found::Stopped(format!("pull request #{} was closed without being merged", pull.number)));
        }
        if head.as_deref().is_some_and(|head| head != pull.head_sha) {
            return Ok(Found::Stopped(format!(
                "the branch of #{} moved to {}; the set merges only the commit it made",
                pull.number,
                short(&pull.head_sha)
            )));
        }
        Ok(Found::Open(pull))
    }

    /// The checks of `head` in `name`, and the names of those that failed.
    pub(crate) async fn checks(&self, name: &str, head: &str) -> Result<(ChecksState, Vec<String>), ChangeError> {
        let repo = repo_id(name)?;
        let runs = self.writer.check_runs(&repo, head).await.map_err(|e| self.forge_error(name, &e))?;
        let status = self.writer.combined_status(&repo, head).await.map_err(|e| self.forge_error(name, &e))?;
        let state = ChecksState::of(
            runs.iter().map(|r| (r.status.as_str(), r.conclusion.as_deref())),
            &status.state,
            status.total_count,
        );
        let failing = runs
            .iter()
            .filter(|r| {
                r.status == "completed" && !matches!(r.conclusion.as_deref(), Some("success" | "neutral" | "skipped"))
            })
            .map(|r| r.name.clone())
            .collect();
        Ok((state, failing))
    }

    fn opened(&self, record: &mut ChangeRecord, name: &str, pull: &PullDetail) {
        let entry = self.entry(record, name);
        entry.state = RepoState::Opened;
        entry.pull = Some(pull.number);
        entry.pull_url = Some(pull.html_url.clone());
        entry.note.clear();
        record.step(name, format!("pull request #{} open", pull.number));
    }

    fn merged(&self, record: &mut ChangeRecord, name: &str, pull: &PullDetail, how: &str) {
        let entry = self.entry(record, name);
        entry.state = RepoState::Merged;
        entry.pull = Some(pull.number);
        if entry.merge_sha.is_none() {
            entry.merge_sha = pull.merge_commit_sha.clone();
        }
        record.step(name, format!("#{} {how}", pull.number));
    }

    pub(crate) fn state(&self, record: &ChangeRecord, name: &str) -> RepoState {
        record.repo(name).map_or(RepoState::Unchanged, |r| r.state)
    }

    pub(crate) fn entry<'r>(&self, record: &'r mut ChangeRecord, name: &str) -> &'r mut crate::RepoChange {
        record.repo_mut(name).expect("a repository of the record")
    }
}

pub(crate) fn repo_id(name: &str) -> Result<RepoId, ChangeError> {
    RepoId::new(name).map_err(|e| ChangeError::Prepare { repo: name.to_owned(), reason: e.to_string() })
}

/// The first ten characters of a commit.
pub(crate) fn short(sha: &str) -> &str {
    sha.get(..10).unwrap_or(sha)
}
