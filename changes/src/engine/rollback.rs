//! Rolling a halted set back: every pull request not merged is closed, every merge is reverted by a pull request of
//! its own (merged when the rules and governance allow it and its checks are green), and the whole incident, every
//! step the set took, goes into the revert's body and the audit trail. Also: making a repository's change again
//! when its worktree is gone.

use std::path::PathBuf;

use hive_cerebrum::governance::{ActionKind, ChecksState};
use hive_forge::PullChange;

use super::{
    ChangeEngine,
    advance::{Found, repo_id, short},
};
use crate::{
    ChangeError, ChangeRecord, ChangeState, RepoState, Revert,
    gate::{Sent, Write},
};

/// Where the revert of one merge stands after a pass.
enum Reverting {
    /// Merged (or nothing to revert).
    Done,
    /// Waiting for something that comes by itself: its checks, a limit.
    Waiting,
    /// Left for a person: it cannot be made, merged, or the rules leave its merge to a person.
    ForPerson,
}

impl ChangeEngine {
    /// One pass of the rollback. The set is rolled back once nothing of it is open and every merge is reverted; a
    /// merge whose revert cannot be made or merged is left for a person (the set then needs attention, and keeps
    /// its repositories).
    pub(crate) async fn roll_back(&self, record: &mut ChangeRecord) -> Result<(), ChangeError> {
        if !self.close_unmerged(record).await? {
            return Ok(());
        }
        let (mut waiting, mut for_person) = (Vec::new(), Vec::new());
        let merged: Vec<String> =
            record.changed().rev().filter(|r| r.merge_sha.is_some()).map(|r| r.repo.clone()).collect();
        for name in &merged {
            let progress = match self.revert(record, name).await {
                Ok(progress) => progress,
                // A transient fault is waited out; anything else (a revert that conflicts, a refused push) is a
                // person's to finish, and the other merges are still reverted.
                Err(err @ ChangeError::Forge { transient: true, .. }) => return Err(err),
                Err(err) => {
                    let why = self.redact(&err);
                    self.entry(record, name).note = format!("the revert could not be made; revert it by hand: {why}");
                    record.step(name, format!("revert failed: {why}"));
                    Reverting::ForPerson
                }
            };
            match progress {
                Reverting::Done => {}
                Reverting::Waiting => waiting.push(name.clone()),
                Reverting::ForPerson => for_person.push(name.clone()),
            }
        }
        if !waiting.is_empty() {
            return Ok(());
        }
        let incident = incident(record);
        if for_person.is_empty() {
            record.state = ChangeState::RolledBack;
            record.step("", "rolled back");
            self.save(record, "change_rolled_back", incident).await
        } else {
            record.state = ChangeState::NeedsAttention;
            record.step("", format!("rolled back but for {}, left for a person", for_person.join(", ")));
            self.save(record, "change_needs_attention", incident).await
        }
    }

    /// Closes every pull request of the set that is not merged (an abort does only this); whether all are closed
    /// (governance may hold a close back: the kill switch, an emergency).
    pub(crate) async fn close_unmerged(&self, record: &mut ChangeRecord) -> Result<bool, ChangeError> {
        let names: Vec<String> = record
            .changed()
            .filter(|r| {
                matches!(r.state, RepoState::Planned | RepoState::Pushed | RepoState::Opened | RepoState::Green)
            })
            .map(|r| r.repo.clone())
            .collect();
        let pull_requests = self.writer.capabilities().pull_requests;
        for name in &names {
            if !pull_requests || self.state(record, name) == RepoState::Planned {
                let entry = self.entry(record, name);
                entry.state = RepoState::Closed;
                entry.note = "not merged; its branch, if pushed, is left for a person to delete".to_owned();
                record.step(name, "left unmerged");
                self.save(record, "change_closed", format!("{name}: left unmerged")).await?;
                continue;
            }
            let number = match self.find_pull(record, name).await? {
                Found::Merged(pull) => {
                    // Merged after all (a crash lost the record, or a person merged it): the rollback reverts it.
                    let entry = self.entry(record, name);
                    entry.state = RepoState::Merged;
                    entry.merge_sha = pull.merge_commit_sha.clone();
                    record.step(name, format!("#{} found merged", pull.number));
                    self.save(record, "change_merged", format!("{name}#{} found merged", pull.number)).await?;
                    continue;
                }
                Found::Missing => None,
                // Closed already, or moved by someone: closed either way.
                Found::Open(pull) => Some(pull.number),
                Found::Stopped(_) => None,
            };
            if let Some(number) = number {
                let repo = repo_id(name)?;
                let write = Write {
                    kind: ActionKind::CloseIssue,
                    repo: name,
                    step: "close",
                    target: Some(format!("{name}#{number}")),
                    checks: None,
                };
                let change = PullChange { state: Some("closed".to_owned()), ..PullChange::default() };
                let sent = self.governed(record, write, |_| self.writer.update_pull(&repo, number, &change)).await?;
                if let Sent::Refused(why) = sent {
                    self.entry(record, name).note = format!("waiting to close #{number}: {why}");
                    return Ok(false);
                }
            }
            let entry = self.entry(record, name);
            entry.state = RepoState::Closed;
            entry.note.clear();
            record.step(name, "pull request closed unmerged");
            self.save(record, "change_closed", format!("{name}: closed unmerged")).await?;
        }
        Ok(true)
    }

    /// Moves the revert of `name`'s merge on.
    async fn revert(&self, record: &mut ChangeRecord, name: &str) -> Result<Reverting, ChangeError> {
        let entry = self.entry(record, name).clone();
        let Some(merge_sha) = entry.merge_sha.clone() else { return Ok(Reverting::Done) };
        if entry.state == RepoState::Reverted {
            return Ok(Reverting::Done);
        }
        let repo = repo_id(name)?;
        let branch = record.id.revert_branch();
        let trees = self.worktrees(&record.id);
        let message = format!("Revert change set {} in {name}\n\nThis reverts {merge_sha}.\n", record.id);
        let head = match &entry.revert {
            Some(revert) => revert.head.clone(),
            None => {
                trees.clone(name, &entry.clone_url, &entry.base, true).await?;
                let head = trees.revert(name, &merge_sha, &branch, &message, record.created_at).await?;
                self.entry(record, name).revert = Some(Revert { head: head.clone(), pull: None, merged: false });
                record.step(name, format!("revert of {} made as {}", short(&merge_sha), short(&head)));
                self.save(record, "change_revert_made", format!("{name}: {head}")).await?;
                head
            }
        };
        if self.entry(record, name).revert.as_ref().is_some_and(|r| r.pull.is_none()) {
            match self.find_pull_of(record, name, &branch, None).await? {
                Found::Open(pull) | Found::Merged(pull) => {
                    if let Some(revert) = self.entry(record, name).revert.as_mut() {
                        revert.pull = Some(pull.number);
                    }
                }
                Found::Stopped(_) | Found::Missing => {
                    let dir = self.revert_tree(record, name, &merge_sha, &head).await?;
                    if let Sent::Refused(_) = self.push(record, name, &dir, &branch, "revert-push").await? {
                        return Ok(Reverting::Waiting);
                    }
                    let write = Write {
                        kind: ActionKind::OpenPullRequest,
                        repo: name,
                        step: "revert-pull",
                        target: Some(branch.clone()),
                        checks: None,
                    };
                    let title = format!("Revert: {}", record.spec.title);
                    let base = entry.base.clone();
                    let snapshot = record.clone();
                    let (repo, branch, base, title) = (&repo, &branch, &base, &title);
                    let sent = self
                        .governed(record, write, |decided| {
                            let body = self.redactor.redact(&super::body::revert_body(&snapshot, name, &merge_sha, &decided.html))
                                .into_owned();
                            async move {
                                self.writer.create_pull(repo, branch, base, title, &body, decided.draft).await
                            }
                        })
                        .await?;
                    let Sent::Done(pull) = sent else {
                        self.entry(record, name).note = "waiting to open the revert's pull request".to_owned();
                        return Ok(Reverting::Waiting);
                    };
                    if let Some(revert) = self.entry(record, name).revert.as_mut() {
                        revert.pull = Some(pull.number);
                    }
                }
            }
            let number = self.entry(record, name).revert.as_ref().and_then(|r| r.pull).unwrap_or_default();
            let entry = self.entry(record, name);
            entry.state = RepoState::RevertOpened;
            record.step(name, format!("revert pull request #{number} open"));
            self.save(record, "change_revert_opened", format!("{name}#{number}")).await?;
        }
        if !record.spec.rules.merge_reverts {
            self.entry(record, name).note = "the revert waits for a person to merge it".to_owned();
            return Ok(Reverting::ForPerson);
        }
        let number = self.entry(record, name).revert.as_ref().and_then(|r| r.pull).unwrap_or_default();
        let pull = match self.find_pull_of(record, name, &branch, Some(head.clone())).await? {
            Found::Merged(_) => return self.reverted(record, name, number).await,
            Found::Open(pull) => pull,
            Found::Stopped(why) => {
                self.entry(record, name).note = format!("the revert is left for a person: {why}");
                return Ok(Reverting::ForPerson);
            }
            Found::Missing => return Ok(Reverting::Waiting),
        };
        let (checks, failing) = self.checks(name, &head).await?;
        match checks {
            ChecksState::Green => {}
            ChecksState::Failing => {
                self.entry(record, name).note =
                    format!("the revert's checks fail ({}); a person has to look at #{number}", failing.join(", "));
                return Ok(Reverting::ForPerson);
            }
            ChecksState::Pending | ChecksState::Missing => {
                self.entry(record, name).note = format!("waiting for the revert's checks ({checks})");
                return Ok(Reverting::Waiting);
            }
        }
        let write = Write {
            kind: ActionKind::Merge,
            repo: name,
            step: "revert-merge",
            target: Some(format!("{name}#{number}")),
            checks: Some(ChecksState::Green),
        };
        let method = record.spec.rules.method.as_str();
        let sent =
            self.governed(record, write, |_| self.writer.merge_head(&repo, pull.number, method, Some(&head))).await;
        match sent {
            Ok(Sent::Done(merged)) if merged.merged => self.reverted(record, name, number).await,
            Ok(Sent::Done(merged)) => {
                self.entry(record, name).note = format!("the forge did not merge the revert: {}", merged.message);
                Ok(Reverting::ForPerson)
            }
            Ok(Sent::Refused(why)) => {
                self.entry(record, name).note = format!("the revert #{number} is left for a person: {why}");
                Ok(Reverting::ForPerson)
            }
            Err(ChangeError::Forge { reason, transient: false, .. }) => {
                self.entry(record, name).note = format!("the forge refused the revert's merge: {reason}");
                Ok(Reverting::ForPerson)
            }
            Err(err) => Err(err),
        }
    }

    async fn reverted(&self, record: &mut ChangeRecord, name: &str, number: u64) -> Result<Reverting, ChangeError> {
        let entry = self.entry(record, name);
        entry.state = RepoState::Reverted;
        entry.note.clear();
        if let Some(revert) = entry.revert.as_mut() {
            revert.merged = true;
        }
        record.step(name, format!("revert #{number} merged"));
        self.save(record, "change_reverted", format!("{name}#{number}")).await?;
        Ok(Reverting::Done)
    }

    /// The worktree holding the revert commit `head`, made again when it is gone.
    async fn revert_tree(
        &self,
        record: &ChangeRecord,
        name: &str,
        merge_sha: &str,
        head: &str,
    ) -> Result<PathBuf, ChangeError> {
        let trees = self.worktrees(&record.id);
        if has_commit(&trees.dir(name), head).await {
            return Ok(trees.dir(name));
        }
        let entry = record
            .repo(name)
            .ok_or_else(|| ChangeError::BadRecord { id: record.id.to_string(), reason: format!("no {name}") })?;
        let message = format!("Revert change set {} in {name}\n\nThis reverts {merge_sha}.\n", record.id);
        trees.clone(name, &entry.clone_url, &entry.base, true).await?;
        let again = trees.revert(name, merge_sha, &record.id.revert_branch(), &message, record.created_at).await?;
        if again != head {
            return Err(ChangeError::Prepare {
                repo: name.to_owned(),
                reason: format!(
                    "the revert made again is {again}, not {head} (its base moved); revert {merge_sha} by hand"
                ),
            });
        }
        Ok(trees.dir(name))
    }

    /// The worktree holding `name`'s change commit, made again (the same commit) when it is gone.
    pub(crate) async fn ensure_made(&self, record: &ChangeRecord, name: &str) -> Result<PathBuf, ChangeError> {
        let trees = self.worktrees(&record.id);
        let entry = record
            .repo(name)
            .ok_or_else(|| ChangeError::BadRecord { id: record.id.to_string(), reason: format!("no {name}") })?;
        let head = entry.head.clone().unwrap_or_default();
        if has_commit(&trees.dir(name), &head).await {
            return Ok(trees.dir(name));
        }
        let edit = self.editor(&record.spec, &trees).await?;
        trees.clone(name, &entry.clone_url, &entry.base, true).await?;
        trees.reset_to(name, &entry.base_sha).await?;
        let message = super::commit_message(&record.spec, &record.id);
        let made = trees
            .make(
                name,
                &record.spec.operation,
                &|dir| edit(name, dir),
                &record.id.branch(),
                &message,
                record.created_at,
            )
            .await?;
        if made.head.as_deref() != Some(head.as_str()) {
            return Err(ChangeError::Prepare {
                repo: name.to_owned(),
                reason: format!(
                    "the change made again is {}, not {head} (its base or the operation's result changed); abort the \
                     set with 'hive change abort {}' and start again",
                    made.head.as_deref().unwrap_or("no change"),
                    record.id
                ),
            });
        }
        Ok(trees.dir(name))
    }
}

/// Whether `dir` is a git repository whose HEAD is `head`.
async fn has_commit(dir: &std::path::Path, head: &str) -> bool {
    if head.is_empty() || !dir.join(".git").exists() {
        return false;
    }
    hive_ecosystem::Git::new(dir).run(&["rev-parse", "HEAD"]).await.is_ok_and(|at| at == head)
}

/// The incident, as one audit record's text: why the set stopped and what became of each repository.
fn incident(record: &ChangeRecord) -> String {
    let why = record.halt.as_ref().map_or_else(String::new, |h| {
        if h.repo.is_empty() { h.reason.clone() } else { format!("{} failed: {}", h.repo, h.reason) }
    });
    let repos: Vec<String> = record
        .changed()
        .map(|r| {
            let revert = r.revert.as_ref().and_then(|v| v.pull).map_or_else(String::new, |n| format!(" (revert #{n})"));
            format!("{} {}{revert}", r.repo, r.state.as_str())
        })
        .collect();
    format!("rolled back; {why}; {}", repos.join(", "))
}
