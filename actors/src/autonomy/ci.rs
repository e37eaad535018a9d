//! Cases of a failing default branch: one issue per (repository, failure signature), found again by label, exact
//! title and hidden marker (closed ones too), its body rewritten only when the failure changes, at most one comment
//! a day, closed when CI is green, reopened (never duplicated) when it fails again; an infrastructure failure re-run
//! once first; escalation to a human.

use hive_cerebrum::{
    Identity, ItemStatus, ProposedAction,
    governance::{ActionKind, Remedy, WriteProposal},
    quote,
};
use hive_forge::{CiFailure, FailureClass, IssueChange, IssueDetail, RepoSnapshot};
use serde_json::json;

use super::{
    super::bridge::ci_signature,
    HIVE_LABEL, NEEDS_HUMAN_LABEL, Step, Steward,
    gate::Gate,
    plan::{self, Planner},
    text::{self, comment_marker, issue_marker},
};

/// The label of CI-failure issues, besides [`HIVE_LABEL`].
const CI_LABEL: &str = "ci-failure";
const DAY: i64 = 86_400;

/// The identity key of a failure's issue. The signature is hashed: keys go into the audit trail, the database and
/// decision records, and a signature is made of names hive does not control.
pub(crate) fn issue_key(repo: &str, failure: &CiFailure) -> String {
    format!("issue:{repo}:{}", text::key_hash(&failure.signature()))
}

/// The issue hive filed under `marker` with exactly `title`, labelled [`HIVE_LABEL`], open or closed.
fn find_issue<'a>(known: &'a [IssueDetail], title: &str, marker: &str) -> Option<&'a IssueDetail> {
    known
        .iter()
        .find(|i| i.title == title && text::has_marker(&i.body, marker) && i.labels.iter().any(|l| l == HIVE_LABEL))
}

/// Whether an issue identity may stand for an open issue on the forge (or one being filed, reopened or closed).
pub(crate) fn is_live(identity: &Identity) -> bool {
    matches!(identity.state.as_deref(), Some("open" | "opening" | "reopening" | "closing"))
}

impl Steward {
    /// THINK and ACT for a repository's CI.
    pub(crate) async fn tend_ci(&mut self, snapshot: &RepoSnapshot, failures: &[&CiFailure]) -> Result<(), Step> {
        let repo = snapshot.repo.to_string();
        let open_known = self.known_of(&repo, "issue").filter(|i| is_live(i)).count();
        if snapshot.ci.is_green() {
            // Green again: a human's close ends with the failure it was about; a new failure is a new episode.
            let muted: Vec<String> = self
                .known_of(&repo, "issue")
                .filter(|i| i.state.as_deref() == Some("closed_by_human"))
                .map(|i| i.key.clone())
                .collect();
            for key in muted {
                self.set_issue(&key, None, "closed", None).await?;
            }
        }
        if failures.is_empty() && !(snapshot.ci.is_green() && open_known > 0) {
            return Ok(());
        }
        let known = match self.prefetched.remove(&repo) {
            Some(known) => known,
            None => self.forge.issues_labelled(&snapshot.repo, HIVE_LABEL).await?,
        };
        if snapshot.ci.is_green() {
            return self.close_green(snapshot, &known).await;
        }
        for failure in failures {
            let actions = self.plan(snapshot, failure).await;
            // The proposed writes, in governance's own kinds: what the steward then makes of them is governed.
            let writes: Vec<ActionKind> = actions.iter().filter_map(|action| action.write()).collect();
            let first_attempt = failure.run.as_ref().is_some_and(|run| run.attempt <= 1);
            let rerun = writes.contains(&ActionKind::RerunJobs) && first_attempt;
            if rerun {
                self.rerun(snapshot, failure).await?;
            }
            // A failure whose re-run failed again is tracked like any other, whatever was proposed.
            let again = failure.class == FailureClass::Infrastructure && !first_attempt;
            let fix = writes.contains(&ActionKind::OpenPullRequest);
            if writes.contains(&ActionKind::OpenIssue) || fix || again || (!rerun && actions.is_empty()) {
                self.ci_issue(snapshot, failure, &known).await?;
            }
            if fix {
                self.fix(snapshot, failure).await?;
            }
        }
        Ok(())
    }

    /// THINK: the actions proposed for a failure; the rules when the planner fails.
    async fn plan(&mut self, snapshot: &RepoSnapshot, failure: &CiFailure) -> Vec<ProposedAction> {
        let seed = plan::seed_of(snapshot, failure);
        match self.planner.plan(seed.clone()).await {
            Ok(actions) => actions,
            Err(err) => {
                let line = format!(
                    "{}: planner failed ({}); the rules decide",
                    snapshot.repo,
                    hive_support::error_chain(&err)
                );
                self.report.errors.push(self.redactor.redact(&line).into_owned());
                plan::EnginePlanner::default().plan(seed).await.unwrap_or_default()
            }
        }
    }

    /// Case 1: the one issue of a failure.
    ///
    /// The identity's state says what hive last did: `opening` and `reopening` are written before the request is
    /// sent, `closing` before a close, so after a crash a closed issue is known to be hive's doing; only an issue
    /// hive believed `open` and finds closed was closed by a human.
    async fn ci_issue(
        &mut self,
        snapshot: &RepoSnapshot,
        failure: &CiFailure,
        known: &[IssueDetail],
    ) -> Result<(), Step> {
        let repo = snapshot.repo.to_string();
        let key = issue_key(&repo, failure);
        let title = self.title(failure, &snapshot.default_branch);
        let marker = issue_marker(&key);
        let body_text =
            self.redactor.redact(&text::ci_issue_body(&repo, failure, &snapshot.default_branch)).into_owned();
        let found = find_issue(known, &title, &marker);
        let identity = self
            .memory({
                let key = key.clone();
                move |m| m.identities().get(&key)
            })
            .await?;
        let state = identity.as_ref().and_then(|i| i.state.clone()).unwrap_or_default();
        let episode = identity.as_ref().and_then(|i| i.data.get("episode")).and_then(|v| v.as_u64()).unwrap_or(0);
        let proposal = |kind: ActionKind, target: Option<String>, approval: &str| WriteProposal {
            kind,
            repo: repo.clone(),
            key: format!("{}:{key}", kind.as_str()),
            target,
            risk: kind.base_risk(),
            checks: None,
            approval_id: approval.to_owned(),
            remedy: None,
        };
        let Some(issue) = found else {
            let item = self.upsert_item(&repo, failure, &title, ItemStatus::Open, Vec::new(), None).await?;
            self.remember_issue(&key, &repo, None, "opening", failure, &title).await?;
            let forge = self.forge.clone();
            let (id, t, b) = (snapshot.repo.clone(), title.clone(), body_text.clone());
            let m = marker.clone();
            let labels = vec![HIVE_LABEL.to_owned(), CI_LABEL.to_owned()];
            let gate = self
                .governed(
                    proposal(ActionKind::OpenIssue, None, &item),
                    move |d| async move { forge.create_issue(&id, &t, &text::finish(&b, &m, &d.html), &labels).await },
                    |issue| format!("#{} {}", issue.number, issue.html_url),
                )
                .await?;
            match gate {
                Gate::Done(issue) => {
                    self.remember_issue(&key, &repo, Some(issue.number), "open", failure, &title).await?;
                    self.upsert_item(&repo, failure, &title, ItemStatus::InProgress, vec![issue.html_url], None)
                        .await?;
                }
                // Not sent: nothing to look for later.
                Gate::Skipped => self.remember_issue(&key, &repo, None, "unfiled", failure, &title).await?,
                // Maybe sent: stays `opening`, looked up by its marker next cycle.
                Gate::Failed => {}
            }
            return Ok(());
        };
        let number = issue.number;
        let target = format!("{repo}#{number}");
        if issue.state == "closed" {
            if state == "open" || state == "closed_by_human" {
                // A human closed it while the failure lasted; that is their call until CI is green again.
                self.remember_issue(&key, &repo, Some(number), "closed_by_human", failure, &title).await?;
                self.upsert_item(&repo, failure, &title, ItemStatus::Cancelled, Vec::new(), None).await?;
                return Ok(());
            }
            let item = self.upsert_item(&repo, failure, &title, ItemStatus::InProgress, Vec::new(), None).await?;
            let episode = episode + 1;
            self.remember_issue(&key, &repo, Some(number), "reopening", failure, &title).await?;
            self.set_issue(&key, Some(number), "reopening", Some(episode)).await?;
            let forge = self.forge.clone();
            let id = snapshot.repo.clone();
            let gate = self
                .governed(
                    proposal(ActionKind::ReopenIssue, Some(target.clone()), &item),
                    move |_| async move { forge.reopen_issue(&id, number).await },
                    |_| format!("#{number} reopened"),
                )
                .await?;
            match gate {
                Gate::Done(_) => {}
                Gate::Skipped => {
                    self.set_issue(&key, Some(number), "closed", Some(episode - 1)).await?;
                    return Ok(());
                }
                Gate::Failed => return Ok(()),
            }
            self.remember_issue(&key, &repo, Some(number), "open", failure, &title).await?;
            let text = format!("CI is failing again on {}.", quote::code(&snapshot.default_branch));
            self.comment_once(snapshot, &key, number, "again", &format!("e{episode}"), &text, &item).await?;
            return self.rewrite_body(snapshot, &key, issue, &body_text, &marker, &item).await;
        }
        let item = self.upsert_item(&repo, failure, &title, ItemStatus::InProgress, Vec::new(), None).await?;
        if state != "open" {
            // Filed (or reopened) before a crash took the database's record of it: found by its marker, adopted.
            self.remember_issue(&key, &repo, Some(number), "open", failure, &title).await?;
        }
        if text::visible(&issue.body) != body_text.trim_end() {
            return self.rewrite_body(snapshot, &key, issue, &body_text, &marker, &item).await;
        }
        let last = identity.as_ref().and_then(|i| i.data.get("last_touch")).and_then(|v| v.as_i64()).unwrap_or(0);
        // An escalation still waiting for its comment gets the day's comment instead.
        let mention_pending = self.known_of(&repo, "fix").any(|f| {
            f.fingerprint.as_deref() == Some(text::key_hash(&failure.signature()).as_str())
                && f.data.get("escalated").and_then(|v| v.as_bool()) == Some(true)
                && f.data.get("mentioned").and_then(|v| v.as_bool()) != Some(true)
        });
        if self.now_unix - last >= DAY && !mention_pending {
            let text = format!("Still failing on {}.", quote::code(&snapshot.default_branch));
            let day = self.day();
            self.comment_once(snapshot, &key, number, "still", &day, &text, &item).await?;
        }
        Ok(())
    }

    /// Rewrites an issue's body when the failure it describes changed.
    async fn rewrite_body(
        &mut self,
        snapshot: &RepoSnapshot,
        key: &str,
        issue: &IssueDetail,
        body_text: &str,
        marker: &str,
        item: &str,
    ) -> Result<(), Step> {
        if text::visible(&issue.body) == body_text.trim_end() {
            return Ok(());
        }
        let repo = snapshot.repo.to_string();
        let number = issue.number;
        let forge = self.forge.clone();
        let id = snapshot.repo.clone();
        let (b, m) = (body_text.to_owned(), marker.to_owned());
        self.governed(
            WriteProposal {
                kind: ActionKind::UpdateIssue,
                repo: repo.clone(),
                key: format!("update_issue:{key}:{}", text::key_hash(body_text)),
                target: Some(format!("{repo}#{number}")),
                risk: ActionKind::UpdateIssue.base_risk(),
                checks: None,
                approval_id: item.to_owned(),
                remedy: None,
            },
            move |d| async move {
                let change = IssueChange { body: Some(text::finish(&b, &m, &d.html)), ..IssueChange::default() };
                forge.update_issue(&id, number, &change).await
            },
            |_| format!("#{number} body updated"),
        )
        .await?;
        Ok(())
    }

    /// Posts a comment unless the one of this `kind` and `tag` (a day for daily comments, an episode for one-off
    /// ones) is already on the issue (looked up on the issue itself, so a comment whose record a crash lost is not
    /// posted twice), and stamps the issue's last touch.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn comment_once(
        &mut self,
        snapshot: &RepoSnapshot,
        key: &str,
        number: u64,
        kind: &str,
        tag: &str,
        text: &str,
        item: &str,
    ) -> Result<bool, Step> {
        let repo = snapshot.repo.to_string();
        let marker = comment_marker(key, kind, tag);
        let comments = self.forge.issue_comments(&snapshot.repo, number).await?;
        let posted = if comments.iter().any(|c| text::has_marker(&c.body, &marker)) {
            true
        } else {
            let forge = self.forge.clone();
            let id = snapshot.repo.clone();
            let body = self.redactor.redact(text).into_owned();
            let gate = self
                .governed(
                    WriteProposal {
                        kind: ActionKind::Comment,
                        repo: repo.clone(),
                        key: format!("comment:{key}:{kind}:{tag}"),
                        target: Some(format!("{repo}#{number}")),
                        risk: ActionKind::Comment.base_risk(),
                        checks: None,
                        approval_id: item.to_owned(),
                        remedy: None,
                    },
                    move |d| async move { forge.comment(&id, number, &text::finish(&body, &marker, &d.html)).await },
                    |id| format!("comment {id} on #{number}"),
                )
                .await?;
            gate.done().is_some()
        };
        if posted {
            let (key, now) = (key.to_owned(), self.now_unix);
            self.memory(move |m| {
                let mut ids = m.identities();
                if let Some(mut identity) = ids.get(&key)? {
                    identity.data["last_touch"] = json!(now);
                    identity.updated_at = now;
                    ids.put(&identity)?;
                }
                Ok(())
            })
            .await?;
        }
        Ok(posted)
    }

    /// CI is green: every CI issue hive filed (or may have filed) in the repository gets a comment and is closed.
    async fn close_green(&mut self, snapshot: &RepoSnapshot, known: &[IssueDetail]) -> Result<(), Step> {
        let repo = snapshot.repo.to_string();
        let ids: Vec<Identity> = self.known_of(&repo, "issue").filter(|i| is_live(i)).cloned().collect();
        for identity in ids {
            let title = identity.data.get("title").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            let marker = issue_marker(&identity.key);
            let found = match identity.number {
                Some(number) => known.iter().find(|i| i.number == number),
                None => find_issue(known, &title, &marker),
            };
            let previous = identity.state.clone().unwrap_or_default();
            let Some(issue) = found else {
                // Never filed (a request that did not reach GitHub before a crash).
                self.set_issue(&identity.key, None, "unfiled", None).await?;
                continue;
            };
            let number = issue.number;
            let item = identity.data.get("item").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            if issue.state == "open" {
                // Marked before the close is sent: after a crash, a closed issue in state `closing` was closed by
                // hive, not by a human.
                self.set_issue(&identity.key, Some(number), "closing", None).await?;
                let episode = identity.data.get("episode").and_then(|v| v.as_u64()).unwrap_or(0);
                let text = format!("CI is green again on {}; closing.", quote::code(&snapshot.default_branch));
                // The comment is a courtesy: a comment limit reached today must not keep the issue open.
                self.comment_once(snapshot, &identity.key, number, "green", &format!("e{episode}"), &text, &item)
                    .await?;
                let forge = self.forge.clone();
                let id = snapshot.repo.clone();
                let gate = self
                    .governed(
                        WriteProposal {
                            kind: ActionKind::CloseIssue,
                            repo: repo.clone(),
                            key: format!("close_issue:{}", identity.key),
                            target: Some(format!("{repo}#{number}")),
                            risk: ActionKind::CloseIssue.base_risk(),
                            checks: None,
                            approval_id: item.clone(),
                            remedy: None,
                        },
                        move |_| async move { forge.close_issue(&id, number).await },
                        |_| format!("#{number} closed"),
                    )
                    .await?;
                match gate {
                    Gate::Done(_) => {}
                    Gate::Skipped => {
                        let back = if previous == "closing" { "open" } else { previous.as_str() };
                        self.set_issue(&identity.key, Some(number), back, None).await?;
                        continue;
                    }
                    // Maybe closed: stays `closing`, so a closed issue is known to be hive's doing.
                    Gate::Failed => continue,
                }
            }
            self.set_issue(&identity.key, Some(number), "closed", None).await?;
            let kind = identity.data.get("kind").and_then(|v| v.as_str()).unwrap_or("bug").to_owned();
            let repo = identity.repo.clone();
            self.memory(move |m| {
                // The ledger item is done: the failure is gone.
                if let Ok(kind) = kind.parse::<hive_cerebrum::ItemKind>()
                    && let Some(mut item) = m.ledger().get(&hive_cerebrum::BacklogItem::id_for(&repo, kind, &title))?
                {
                    item.status = ItemStatus::Done;
                    m.ledger().upsert(&item)?;
                }
                Ok(())
            })
            .await?;
        }
        Ok(())
    }

    /// Sets an issue identity's state (and number, and episode when given), keeping everything else.
    async fn set_issue(&self, key: &str, number: Option<u64>, state: &str, episode: Option<u64>) -> Result<(), Step> {
        let (key, state, now) = (key.to_owned(), state.to_owned(), self.now_unix);
        self.memory(move |m| {
            let mut ids = m.identities();
            if let Some(mut identity) = ids.get(&key)? {
                identity.state = Some(state);
                identity.number = number.or(identity.number);
                if let Some(episode) = episode {
                    identity.data["episode"] = json!(episode);
                }
                identity.updated_at = now;
                ids.put(&identity)?;
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn remember_issue(
        &self,
        key: &str,
        repo: &str,
        number: Option<u64>,
        state: &str,
        failure: &CiFailure,
        title: &str,
    ) -> Result<(), Step> {
        let title = title.to_owned();
        let kind = match failure.class {
            FailureClass::Lint | FailureClass::Infrastructure => "chore",
            _ => "bug",
        };
        let (key, repo, state, now) = (key.to_owned(), repo.to_owned(), state.to_owned(), self.now_unix);
        let signature = text::key_hash(&failure.signature());
        let full_title = title;
        self.memory(move |m| {
            let mut ids = m.identities();
            let previous = ids.get(&key)?;
            let mut data = previous.as_ref().map(|p| p.data.clone()).unwrap_or_else(|| json!({}));
            if previous.is_none() {
                data["last_touch"] = json!(now);
            }
            data["kind"] = json!(kind);
            data["title"] = json!(full_title);
            ids.put(&Identity {
                key,
                repo,
                kind: "issue".to_owned(),
                number: number.or(previous.as_ref().and_then(|p| p.number)),
                state: Some(state),
                fingerprint: Some(signature),
                data,
                updated_at: now,
            })
        })
        .await?;
        Ok(())
    }

    /// Case 2: an infrastructure failure's run is re-run once; if it fails again it is case 1.
    async fn rerun(&mut self, snapshot: &RepoSnapshot, failure: &CiFailure) -> Result<(), Step> {
        let Some(run) = failure.run.clone() else { return Ok(()) };
        let repo = snapshot.repo.to_string();
        let key = format!("rerun:{repo}:{}", run.id);
        if self
            .memory({
                let key = key.clone();
                move |m| m.identities().get(&key)
            })
            .await?
            .is_some()
        {
            return Ok(());
        }
        let title = self.title(failure, &snapshot.default_branch);
        let item = self.upsert_item(&repo, failure, &title, ItemStatus::InProgress, Vec::new(), None).await?;
        // A re-run sent before a crash shows as a later attempt of the same run.
        let current = self.forge.workflow_run(&snapshot.repo, run.id).await?;
        let already = current.attempt > run.attempt || current.status != "completed";
        if !already {
            let forge = self.forge.clone();
            let id = snapshot.repo.clone();
            let run_id = run.id;
            let gate = self
                .governed(
                    WriteProposal {
                        kind: ActionKind::RerunJobs,
                        repo: repo.clone(),
                        key: key.clone(),
                        target: None,
                        risk: ActionKind::RerunJobs.base_risk(),
                        checks: None,
                        approval_id: item,
                        // Only an infrastructure failure's re-run remedies it (and may answer an emergency's cause).
                        remedy: (failure.class == FailureClass::Infrastructure)
                            .then(|| Remedy::InfrastructureRerun { signature: ci_signature(failure) }),
                    },
                    move |_| async move { forge.rerun_failed_jobs(&id, run_id).await },
                    |_| format!("run {run_id} re-run"),
                )
                .await?;
            if !matches!(gate, Gate::Done(_)) {
                return Ok(());
            }
        }
        let now = self.now_unix;
        self.memory(move |m| {
            m.identities().put(&Identity {
                key,
                repo,
                kind: "rerun".to_owned(),
                number: Some(run.id),
                state: Some("requested".to_owned()),
                fingerprint: None,
                data: json!({ "attempt": run.attempt }),
                updated_at: now,
            })
        })
        .await?;
        Ok(())
    }

    /// Case 4: a fix that failed too often. The tracking issue gets `needs-human` (once; returns whether it has it)
    /// and, in a separate step that is retried until it is posted, one comment mentioning the owners (returns
    /// whether it is there).
    pub(crate) async fn escalate(
        &mut self,
        snapshot: &RepoSnapshot,
        failure: &CiFailure,
        item: &str,
        attempts: u32,
        labelled: bool,
    ) -> Result<(bool, bool), Step> {
        let repo = snapshot.repo.to_string();
        let key = issue_key(&repo, failure);
        let Some(number) = self
            .memory({
                let key = key.clone();
                move |m| m.identities().get(&key)
            })
            .await?
            .and_then(|issue| issue.number)
        else {
            return Ok((false, false));
        };
        if !labelled {
            let forge = self.forge.clone();
            let id = snapshot.repo.clone();
            let gate = self
                .governed(
                    WriteProposal {
                        kind: ActionKind::Label,
                        repo: repo.clone(),
                        key: format!("label:{key}:{NEEDS_HUMAN_LABEL}"),
                        target: Some(format!("{repo}#{number}")),
                        risk: ActionKind::Label.base_risk(),
                        checks: None,
                        approval_id: item.to_owned(),
                        remedy: None,
                    },
                    move |_| async move { forge.add_labels(&id, number, &[NEEDS_HUMAN_LABEL.to_owned()]).await },
                    |labels| format!("#{number} labels {}", labels.join(",")),
                )
                .await?;
            if gate.done().is_none() {
                return Ok((false, false));
            }
        }
        let mention = text::mentions(&self.config.owners);
        let text = format!(
            "{}hive tried {attempts} automatic fixes for this failure and none made CI green; a human is needed.",
            if mention.is_empty() { String::new() } else { format!("{mention}: ") }
        );
        let mentioned = self.comment_once(snapshot, &key, number, "escalate", "once", &text, item).await?;
        Ok((true, mentioned))
    }
}
