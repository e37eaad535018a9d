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

impl ChangeEngine {
    /// One pass of the rollback; the set is rolled back once nothing is left open and every revert is merged (or
    /// left for a person, as the rules or its checks say).
    pub(crate) async fn roll_back(&self, record: &mut ChangeRecord) -> Result<(), ChangeError> {
        self.close_unmerged(record).await?;
        let mut waiting = Vec::new();
        let merged: Vec<String> =
            record.changed().rev().filter(|r| r.merge_sha.is_some()).map(|r| r.repo.clone()).collect();
        for name in &merged {
            if !self.revert(record, name).await? {
                waiting.push(name.clone());
            }
        }
        if !waiting.is_empty() {
            return self.save(record, "change_rollback_waiting", format!("waiting for {}", waiting.join(", "))).await;
        }
        record.state = ChangeState::RolledBack;
        record.step("", "rolled back");
        let incident = incident(record);
        self.save(record, "change_rolled_back", incident).await
    }

    /// Closes every pull request of the set that is not merged (an abort does only this).
    pub(crate) async fn close_unmerged(&self, record: &mut ChangeRecord) -> Result<(), ChangeError> {
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
                    return self.save(record, "change_waiting", format!("{name}: {why}")).await;
                }
            }
            let entry = self.entry(record, name);
            entry.state = RepoState::Closed;
            entry.note.clear();
            record.step(name, "pull request closed unmerged");
            self.save(record, "change_closed", format!("{name}: closed unmerged")).await?;
        }
        Ok(())
    }

    /// Moves the revert of `name`'s merge on; whether it is done (merged, or left for a person).
    async fn revert(&self, record: &mut ChangeRecord, name: &str) -> Result<bool, ChangeError> {
        let entry = self.entry(record, name).clone();
        let Some(merge_sha) = entry.merge_sha.clone() else { return Ok(true) };
        if entry.state == RepoState::Reverted {
            return Ok(true);
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
                        return Ok(false);
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
                            let body = super::body::revert_body(&snapshot, name, &merge_sha, &decided.html);
                            async move {
                                self.writer.create_pull(repo, branch, base, title, &body, decided.draft).await
                            }
                        })
                        .await?;
                    let Sent::Done(pull) = sent else {
                        self.entry(record, name).note = "waiting to open the revert's pull request".to_owned();
                        return Ok(false);
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
            return Ok(true);
        }
        let number = self.entry(record, name).revert.as_ref().and_then(|r| r.pull).unwrap_or_default();
        let pull = match self.find_pull_of(record, name, &branch, Some(head.clone())).await? {
            Found::Merged(_) => return self.reverted(record, name, number).await,
            Found::Open(pull) => pull,
            Found::Stopped(why) => {
                self.entry(record, name).note = format!("the revert is left for a person: {why}");
                return Ok(true);
            }
            Found::Missing => return Ok(false),
        };
        let (checks, failing) = self.checks(name, &head).await?;
        match checks {
            ChecksState::Green => {}
            ChecksState::Failing => {
                self.entry(record, name).note =
                    format!("the revert's checks fail ({}); a person has to look at #{number}", failing.join(", "));
                return Ok(true);
            }
            ChecksState::Pending | ChecksState::Missing => {
                self.entry(record, name).note = format!("waiting for the revert's checks ({checks})");
                return Ok(false);
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
                Ok(true)
            }
            Ok(Sent::Refused(why)) => {
                self.entry(record, name).note = format!("the revert #{number} is left for a person: {why}");
                Ok(true)
            }
            Err(ChangeError::Forge { reason, transient: false, .. }) => {
                self.entry(record, name).note = format!("the forge refused the revert's merge: {reason}");
                Ok(true)
            }
            Err(err) => Err(err),
        }
    }

    async fn reverted(&self, record: &mut ChangeRecord, name: &str, number: u64) -> Result<bool, ChangeError> {
        let entry = self.entry(record, name);
        entry.state = RepoState::Reverted;
        entry.note.clear();
        if let Some(revert) = entry.revert.as_mut() {
            revert.merged = true;
        }
        record.step(name, format!("revert #{number} merged"));
        self.save(record, "change_reverted", format!("{name}#{number}")).await?;
        Ok(true)
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
        trees.clone(name, &entry.clone_url, &entry.base, false).await?;
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
