//! Cases of a failing default branch: one issue per (repository, failure signature), found again by label, exact
//! title and hidden marker (closed ones too), its body rewritten only when the failure changes, at most one comment
//! a day, closed when CI is green, reopened (never duplicated) when it fails again; an infrastructure failure re-run
//! once first; escalation to a human.

use hive_cerebrum::{
    BacklogItem, ItemKind, ItemStatus, Memory, MemoryError, Proposal, ProposedAction,
    governance::{ActionKind, Remedy, WriteProposal},
    quote,
};
use hive_forge::{CiFailure, FailureClass, IssueChange, IssueDetail, RepoSnapshot};

use super::{
    super::bridge::ci_signature,
    HIVE_LABEL, NEEDS_HUMAN_LABEL, Step, Steward,
    case::{self, Case, IssueCase, IssueData, IssueState, RerunCase, RerunData, RerunState},
    gate::Gate,
    item_kind,
    plan::{self, Planner},
    step::{self, Failing, Found, Green, IssueWrite, Sent, Tend},
    text::{self, comment_marker, issue_marker},
    upsert_in,
};

/// The label of CI-failure issues, besides [`HIVE_LABEL`].
const CI_LABEL: &str = "ci-failure";

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

/// What names a failure's issue case, for remembering it.
#[derive(Debug, Clone)]
struct Tracked {
    key: String,
    repo: String,
    kind: ItemKind,
    title: String,
    /// The failure signature's hash, the case's fingerprint.
    signature: String,
}

impl Tracked {
    /// The case remembered now as `state`: its number (the known one unless given), kind and title, everything
    /// else kept from `previous`; a new case counts as touched now (no status comment on the day it is filed).
    fn remember(&self, previous: Option<&IssueCase>, number: Option<u64>, state: IssueState, now: i64) -> IssueCase {
        let mut data = previous.map_or(IssueData { last_touch: now, ..IssueData::default() }, |p| p.data.clone());
        data.kind = self.kind;
        data.title = self.title.clone();
        Case {
            key: self.key.clone(),
            repo: self.repo.clone(),
            number: number.or(previous.and_then(|p| p.number)),
            state,
            fingerprint: Some(self.signature.clone()),
            data,
            updated_at: now,
        }
    }

    /// [`Tracked::remember`] inside a scribe job, over the stored case.
    fn remember_in(
        &self,
        m: &mut Memory,
        number: Option<u64>,
        state: IssueState,
        now: i64,
    ) -> Result<IssueCase, MemoryError> {
        let previous: Option<IssueCase> = case::load(m, &self.key)?;
        let case = self.remember(previous.as_ref(), number, state, now);
        case::store(m, &case)?;
        Ok(case)
    }
}

impl Steward {
    /// THINK and ACT for a repository's CI.
    pub(crate) async fn tend_ci(&mut self, snapshot: &RepoSnapshot, failures: &[&CiFailure]) -> Result<(), Step> {
        let repo = snapshot.repo.to_string();
        let open_known = self.known_issues(&repo).filter(|i| i.state.is_live()).count();
        if snapshot.ci.is_green() {
            // Green again: a human's close ends with the failure it was about; a new failure is a new episode.
            let muted: Vec<String> = self
                .known_issues(&repo)
                .filter(|i| step::green(i.state, None) == Green::Unmute)
                .map(|i| i.key.clone())
                .collect();
            for key in muted {
                self.set_issue(&key, None, IssueState::Closed, None).await?;
            }
        }
        if failures.is_empty() && !(snapshot.ci.is_green() && open_known > 0) {
            return Ok(());
        }
        let known = match self.prefetched.remove(&repo) {
            Some(known) => known,
            None if !self.caps.issues => Vec::new(),
            None => self.forge.issues_labelled(&snapshot.repo, HIVE_LABEL).await?,
        };
        if snapshot.ci.is_green() {
            return self.close_green(snapshot, &known).await;
        }
        for failure in failures {
            // Nothing new starts once the hive stops: the cycle ends, learns what it did, and lets the queen drain it.
            if self.halted() {
                return Ok(());
            }
            let Some(actions) = self.plan(snapshot, failure).await else { return Ok(()) };
            // The proposed writes, in governance's own kinds: what the steward then makes of them is governed, each at
            // no less than the risk the engine gave it, for this failure only (whatever ends its handling).
            self.risk_floor = actions.iter().filter_map(|p| p.action.write().map(|kind| (kind, p.risk))).collect();
            let acted = self.act_on(snapshot, failure, &actions, &known).await;
            self.risk_floor.clear();
            acted?;
        }
        Ok(())
    }

    /// ACT on one failure's proposals.
    async fn act_on(
        &mut self,
        snapshot: &RepoSnapshot,
        failure: &CiFailure,
        actions: &[Proposal],
        known: &[IssueDetail],
    ) -> Result<(), Step> {
        let first_attempt = failure.run.as_ref().is_some_and(|run| run.attempt <= 1);
        let proposed: Vec<ProposedAction> = actions.iter().map(|p| p.action).collect();
        let acts = step::ci_acts(&proposed, ci_signature(failure).class, first_attempt);
        if acts.rerun {
            self.rerun(snapshot, failure).await?;
        }
        if acts.issue {
            self.ci_issue(snapshot, failure, known).await?;
        }
        if acts.fix {
            self.fix(snapshot, failure).await?;
        }
        Ok(())
    }

    /// THINK: the actions proposed for a failure; the rules when the planner fails. `None` when the hive stopped
    /// meanwhile: a planner waiting on the queen's ORCHs would wait on a queen that is draining this steward.
    async fn plan(&mut self, snapshot: &RepoSnapshot, failure: &CiFailure) -> Option<Vec<Proposal>> {
        let seed = plan::seed_of(snapshot, failure);
        let planned = tokio::select! {
            planned = self.planner.plan(seed.clone()) => planned,
            () = self.stopping() => return None,
        };
        Some(match planned {
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
        })
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
        let issue = find_issue(known, &title, &marker);
        let found = Found::of(issue.map(|i| i.state.as_str()));
        let tracked = Tracked {
            key: key.clone(),
            repo: repo.clone(),
            kind: item_kind(failure),
            title: title.clone(),
            signature: text::key_hash(&failure.signature()),
        };
        if !self.caps.issues {
            return self.note_finding(failure, tracked).await;
        }
        // One scribe job: the case as stored, its step, the backlog item, and the mark written before any request.
        let item = self.ci_item(&repo, failure, &title, ItemStatus::InProgress, Vec::new(), None);
        let (number, now) = (issue.map(|i| i.number), self.now_unix);
        let (stored, step, item) = {
            let tracked = tracked.clone();
            self.memory(move |m| {
                let stored: Option<IssueCase> = case::load(m, &tracked.key)?;
                let step = step::failing(stored.as_ref().map(|c| c.state), found);
                let (status, mark) = match step {
                    Failing::File => (ItemStatus::Open, Some(IssueState::Opening)),
                    Failing::LeaveClosed => (ItemStatus::Cancelled, Some(IssueState::ClosedByHuman)),
                    Failing::Reopen => (ItemStatus::InProgress, Some(IssueState::Reopening)),
                    Failing::Tend { adopt } => (ItemStatus::InProgress, adopt.then_some(IssueState::Open)),
                };
                let item = upsert_in(m, BacklogItem { status, ..item })?;
                if let Some(mark) = mark {
                    let mut case = tracked.remember(stored.as_ref(), number, mark, now);
                    if step == Failing::Reopen {
                        // A new episode: its one-off comments are new ones.
                        case.data.episode += 1;
                    }
                    case::store(m, &case)?;
                }
                Ok((stored, step, item))
            })
            .await?
        };
        let proposal = |kind: ActionKind, target: Option<String>| WriteProposal {
            kind,
            repo: repo.clone(),
            key: format!("{}:{key}", kind.as_str()),
            target,
            risk: kind.base_risk(),
            checks: None,
            approval_id: item.clone(),
            remedy: None,
        };
        let Some(issue) = issue else {
            let forge = self.forge.clone();
            let (id, t, b) = (snapshot.repo.clone(), title.clone(), body_text.clone());
            let m = marker.clone();
            let labels = vec![HIVE_LABEL.to_owned(), CI_LABEL.to_owned()];
            let gate = self
                .governed(
                    proposal(ActionKind::OpenIssue, None),
                    move |d| async move { forge.create_issue(&id, &t, &text::finish(&b, &m, &d.html), &labels).await },
                    |issue| format!("#{} {}", issue.number, issue.html_url),
                )
                .await?;
            // Maybe sent: stays `opening`, looked up by its marker next cycle. Not sent: nothing to look for later.
            let sent = Sent::from(&gate);
            let filed = gate.done();
            if let Some(state) = step::issue_after(IssueWrite::File, None, sent) {
                let done = filed.map(|issue| {
                    let item = self.ci_item(&repo, failure, &title, ItemStatus::InProgress, vec![issue.html_url], None);
                    (issue.number, item)
                });
                self.memory(move |m| {
                    tracked.remember_in(m, done.as_ref().map(|(number, _)| *number), state, now)?;
                    if let Some((_, item)) = done {
                        upsert_in(m, item)?;
                    }
                    Ok(())
                })
                .await?;
            }
            return Ok(());
        };
        let number = issue.number;
        let target = format!("{repo}#{number}");
        let episode = stored.as_ref().map_or(0, |c| c.data.episode);
        match step {
            // A human closed it while the failure lasted; that is their call until CI is green again.
            Failing::LeaveClosed => Ok(()),
            // Filing is for an issue not found, handled above.
            Failing::File => Ok(()),
            Failing::Reopen => {
                let forge = self.forge.clone();
                let id = snapshot.repo.clone();
                let gate = self
                    .governed(
                        proposal(ActionKind::ReopenIssue, Some(target.clone())),
                        move |_| async move { forge.reopen_issue(&id, number).await },
                        |_| format!("#{number} reopened"),
                    )
                    .await?;
                match step::issue_after(IssueWrite::Reopen, stored.as_ref().map(|c| c.state), Sent::from(&gate)) {
                    Some(IssueState::Open) => {}
                    // Not reopened: the episode did not begin.
                    Some(state) => return self.set_issue(&key, Some(number), state, Some(episode)).await,
                    None => return Ok(()),
                }
                self.memory(move |m| tracked.remember_in(m, Some(number), IssueState::Open, now).map(drop)).await?;
                let text = format!("CI is failing again on {}.", quote::code(&snapshot.default_branch));
                let episode = episode + 1;
                self.comment_once(snapshot, &key, number, "again", &format!("e{episode}"), &text, &item).await?;
                self.rewrite_body(snapshot, &key, issue, &body_text, &marker, &item).await
            }
            Failing::Tend { .. } => {
                // A new case (adopted) has no last touch: due for the day's comment, as it always was.
                let since = now - stored.as_ref().map_or(0, |c| c.data.last_touch);
                // An escalation still waiting for its comment gets the day's comment instead.
                let mention_pending = self.known_fixes(&repo).any(|f| {
                    f.fingerprint.as_deref() == Some(tracked.signature.as_str())
                        && f.data.escalated
                        && !f.data.mentioned
                });
                let changed = text::visible(&issue.body) != body_text.trim_end();
                match step::tend(changed, since, mention_pending) {
                    Tend::RewriteBody => self.rewrite_body(snapshot, &key, issue, &body_text, &marker, &item).await,
                    Tend::StatusComment => {
                        let text = format!("Still failing on {}.", quote::code(&snapshot.default_branch));
                        let day = self.day();
                        self.comment_once(snapshot, &key, number, "still", &day, &text, &item).await.map(drop)
                    }
                    Tend::Nothing => Ok(()),
                }
            }
        }
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
                if let Some(mut case) = case::load::<IssueState, IssueData>(m, &key)? {
                    case.data.last_touch = now;
                    case.updated_at = now;
                    case::store(m, &case)?;
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
        let cases: Vec<IssueCase> = self.known_issues(&repo).filter(|i| i.state.is_live()).cloned().collect();
        if !self.caps.issues {
            // Findings kept in the backlog only: the failure is gone, so is the finding.
            for case in cases {
                self.finding_gone(case).await?;
            }
            return Ok(());
        }
        for case in cases {
            let issue = match case.number {
                Some(number) => known.iter().find(|i| i.number == number),
                None => find_issue(known, &case.data.title, &issue_marker(&case.key)),
            };
            let found = Found::of(issue.map(|i| i.state.as_str()));
            let (step, Some(issue)) = (step::green(case.state, Some(found)), issue) else {
                // Never filed (a request that did not reach GitHub before a crash).
                self.set_issue(&case.key, None, IssueState::Unfiled, None).await?;
                continue;
            };
            let number = issue.number;
            match step {
                Green::Close => match self.close_issue(snapshot, &case, number).await? {
                    Some(IssueState::Closed) => {}
                    Some(state) => {
                        self.set_issue(&case.key, Some(number), state, None).await?;
                        continue;
                    }
                    // Maybe closed: stays `closing`, so a closed issue is known to be hive's doing.
                    None => continue,
                },
                Green::Closed => {}
                Green::Unmute | Green::Unfiled | Green::Nothing => continue,
            }
            // Closed, and the ledger item is done: the failure is gone. One scribe job.
            let (key, now) = (case.key.clone(), self.now_unix);
            let item = BacklogItem::id_for(&case.repo, case.data.kind, &case.data.title);
            self.memory(move |m| {
                set_issue_in(m, &key, Some(number), IssueState::Closed, None, now)?;
                if let Some(mut item) = m.ledger().get(&item)? {
                    item.status = ItemStatus::Done;
                    m.ledger().upsert(&item)?;
                }
                Ok(())
            })
            .await?;
        }
        Ok(())
    }

    /// A failure on a forge without issues (a local workspace) is a finding in the backlog: its item open (a human's
    /// status kept), its case open without a number, so that green CI closes it. Nothing is written to the forge.
    async fn note_finding(&mut self, failure: &CiFailure, tracked: Tracked) -> Result<(), Step> {
        let title = tracked.title.clone();
        let item = self.ci_item(&tracked.repo, failure, &title, ItemStatus::Open, Vec::new(), None);
        let now = self.now_unix;
        self.memory(move |m| {
            let mut item = item;
            if let Some(old) = m.ledger().get(&item.id)? {
                item.status = old.status;
            }
            upsert_in(m, item)?;
            tracked.remember_in(m, None, IssueState::Open, now).map(drop)
        })
        .await?;
        Ok(())
    }

    /// The end of a finding kept in the backlog only: its case closed, its item done.
    async fn finding_gone(&mut self, case: IssueCase) -> Result<(), Step> {
        let now = self.now_unix;
        let item = BacklogItem::id_for(&case.repo, case.data.kind, &case.data.title);
        self.memory(move |m| {
            set_issue_in(m, &case.key, None, IssueState::Closed, None, now)?;
            if let Some(mut item) = m.ledger().get(&item)? {
                item.status = ItemStatus::Done;
                m.ledger().upsert(&item)?;
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// Comments and closes an open issue of a green CI, marked `closing` before the requests are sent; returns its
    /// state after, or `None` when the close may have reached GitHub (it stays `closing`).
    async fn close_issue(
        &mut self,
        snapshot: &RepoSnapshot,
        case: &IssueCase,
        number: u64,
    ) -> Result<Option<IssueState>, Step> {
        let repo = snapshot.repo.to_string();
        // Issue cases keep no backlog item reference: the close and its comment are decided without one.
        let item = String::new();
        // Marked before the close is sent: after a crash, a closed issue in state `closing` was closed by hive, not
        // by a human.
        self.set_issue(&case.key, Some(number), IssueState::Closing, None).await?;
        let episode = case.data.episode;
        let text = format!("CI is green again on {}; closing.", quote::code(&snapshot.default_branch));
        // The comment is a courtesy: a comment limit reached today must not keep the issue open.
        self.comment_once(snapshot, &case.key, number, "green", &format!("e{episode}"), &text, &item).await?;
        let forge = self.forge.clone();
        let id = snapshot.repo.clone();
        let gate = self
            .governed(
                WriteProposal {
                    kind: ActionKind::CloseIssue,
                    repo: repo.clone(),
                    key: format!("close_issue:{}", case.key),
                    target: Some(format!("{repo}#{number}")),
                    risk: ActionKind::CloseIssue.base_risk(),
                    checks: None,
                    approval_id: item,
                    remedy: None,
                },
                move |_| async move { forge.close_issue(&id, number).await },
                |_| format!("#{number} closed"),
            )
            .await?;
        Ok(step::issue_after(IssueWrite::Close, Some(case.state), Sent::from(&gate)))
    }

    /// Sets an issue case's state (and number, and episode when given), keeping everything else.
    async fn set_issue(
        &self,
        key: &str,
        number: Option<u64>,
        state: IssueState,
        episode: Option<u64>,
    ) -> Result<(), Step> {
        let (key, now) = (key.to_owned(), self.now_unix);
        self.memory(move |m| set_issue_in(m, &key, number, state, episode, now)).await?;
        Ok(())
    }

    /// Case 2: an infrastructure failure's run is re-run once; if it fails again it is case 1.
    async fn rerun(&mut self, snapshot: &RepoSnapshot, failure: &CiFailure) -> Result<(), Step> {
        let Some(run) = failure.run.clone().filter(|_| self.caps.reruns) else { return Ok(()) };
        let repo = snapshot.repo.to_string();
        let key = format!("rerun:{repo}:{}", run.id);
        let title = self.title(failure, &snapshot.default_branch);
        let item = self.ci_item(&repo, failure, &title, ItemStatus::InProgress, Vec::new(), None);
        // One scribe job: a re-run already requested ends here; otherwise its backlog item is in progress.
        let item = self
            .memory({
                let key = key.clone();
                move |m| match m.identities().get(&key)? {
                    Some(_) => Ok(None),
                    None => upsert_in(m, item).map(Some),
                }
            })
            .await?;
        let Some(item) = item else { return Ok(()) };
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
        let case = RerunCase {
            key,
            repo,
            number: Some(run.id),
            state: RerunState::Requested,
            fingerprint: None,
            data: RerunData { attempt: run.attempt },
            updated_at: self.now_unix,
        };
        self.memory(move |m| case::store(m, &case)).await?;
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
        if !self.caps.issues {
            // No issue to label or comment on: the backlog item, blocked, is the escalation.
            return Ok((true, true));
        }
        let repo = snapshot.repo.to_string();
        let key = issue_key(&repo, failure);
        let Some(number) = self
            .memory({
                let key = key.clone();
                move |m| case::load::<IssueState, IssueData>(m, &key)
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
        let mention = text::mentions(self.config.overrides.owners(&repo, &self.config.owners));
        let text = format!(
            "{}hive tried {attempts} automatic fixes for this failure and none made CI green; a human is needed.",
            if mention.is_empty() { String::new() } else { format!("{mention}: ") }
        );
        let mentioned = self.comment_once(snapshot, &key, number, "escalate", "once", &text, item).await?;
        Ok((true, mentioned))
    }
}

/// Sets an issue case's state (and number, and episode when given) inside a scribe job, keeping everything else; a
/// case never stored stays so.
fn set_issue_in(
    m: &mut Memory,
    key: &str,
    number: Option<u64>,
    state: IssueState,
    episode: Option<u64>,
    now: i64,
) -> Result<(), MemoryError> {
    if let Some(mut case) = case::load::<IssueState, IssueData>(m, key)? {
        case.state = state;
        case.number = number.or(case.number);
        if let Some(episode) = episode {
            case.data.episode = episode;
        }
        case.updated_at = now;
        case::store(m, &case)?;
    }
    Ok(())
}
