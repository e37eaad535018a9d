//! Case 3 and the loop's VERIFY and SHIP: a lint or format failure gets a fix pull request on a deterministic
//! branch (clone, the repository's own formatter, commit, push, open), never a second one, never one a human
//! closed; open fix pull requests are checked each cycle, merged when every check is green and governance allows,
//! and counted as failed attempts when their checks fail (escalated after too many).

use hive_cerebrum::{
    ItemStatus, Risk,
    governance::{self, ActionKind, ChecksState, Remedy, Verdict, WriteProposal},
    quote,
};
use hive_ecosystem::{FixOutcome, FixRequest, Preparation, prepare_fix, published_head};
use hive_forge::{CiFailure, FailureClass, PullDetail, RepoSnapshot, WriteError};

use super::{
    Step, Steward,
    case::{self, FixCase, FixData, FixState, IssueData, IssueState},
    ci::issue_key,
    gate::WriteFailure,
    step::{self, Fix, Pull, Verify},
    text, upsert_in,
};
use crate::bridge::ci_signature;

/// The deterministic branch of a fix: the same failure always gets the same branch.
pub(crate) fn fix_branch(repo: &str, failure: &CiFailure) -> String {
    format!("hive/fix/{}-{}", failure.class.as_str(), &text::key_hash(&format!("{repo}:{}", failure.signature()))[..8])
}

fn fix_key(repo: &str, failure: &CiFailure) -> String {
    format!("fix:{repo}:{}", text::key_hash(&failure.signature()))
}

/// A pull request as the fix's state machine sees it.
fn pull_of(pull: &PullDetail) -> Pull {
    Pull { open: pull.state == "open", merged: pull.merged }
}

impl Steward {
    /// Case 3 for one lint/format failure.
    pub(crate) async fn fix(&mut self, snapshot: &RepoSnapshot, failure: &CiFailure) -> Result<(), Step> {
        let repo = snapshot.repo.to_string();
        let key = fix_key(&repo, failure);
        let branch = fix_branch(&repo, failure);
        let title = self.title(failure, &snapshot.default_branch);
        let signature = text::key_hash(&failure.signature());
        // One scribe job: the backlog item in progress, and the fix as stored.
        let item = self.ci_item(&repo, failure, &title, ItemStatus::InProgress, Vec::new(), None);
        let (item, stored) = {
            let key = key.clone();
            self.memory(move |m| Ok((upsert_in(m, item)?, case::load::<FixState, FixData>(m, &key)?))).await?
        };
        let was = stored.as_ref().map_or((FixState::Failed, None), |c| (c.state, c.number));
        let mut data = stored.map(|c| c.data).unwrap_or_default();
        let Some(source) = self.forge.fix_source(snapshot) else {
            return Ok(());
        };
        if !self.caps.pull_requests {
            // Without pull requests the branch is the fix: published, it waits for a human; deleted, it was refused.
            match was.0 {
                FixState::Published => return self.published(snapshot, failure, &key, &source, &branch, data).await,
                FixState::ClosedByHuman => return Ok(()),
                _ => {}
            }
        }
        // The forge is the truth about pull requests: one found for the branch is the fix, whatever the database says.
        let pulls = match self.caps.pull_requests {
            true => self.forge.pulls_for_branch(&snapshot.repo, &branch).await?,
            false => Vec::new(),
        };
        let head = failure.run.as_ref().map(|r| r.head_sha.clone()).unwrap_or_default();
        match step::fix(pulls.first().map(pull_of), &data, &head) {
            Fix::Record(state) => {
                let pull = pulls.first().expect("a fix is recorded only from a pull request found");
                // Closed without merging: a human said no. Never recreated.
                let cancelled = (state == FixState::ClosedByHuman).then(|| {
                    self.ci_item(&repo, failure, &title, ItemStatus::Cancelled, vec![pull.html_url.clone()], None)
                });
                data.branch = Some(branch);
                data.head_sha = Some(pull.head_sha.clone());
                data.item = Some(item);
                data.signature = Some(signature);
                data.title = Some(title);
                let case = self.fix_case(&key, &repo, Some(pull.number), state, data);
                self.store_fix(cancelled, case).await?;
                return Ok(());
            }
            Fix::Mention => return self.after_failed_attempt(snapshot, failure, &key, was, data, &item).await,
            Fix::Wait => return Ok(()),
            Fix::Prepare => {}
        }
        // A fix goes out as a pull request, or as a branch where the forge has none.
        let kind = if self.caps.pull_requests { ActionKind::OpenPullRequest } else { ActionKind::PushBranch };
        let proposal = |risk: Risk| WriteProposal {
            kind,
            repo: repo.clone(),
            key: format!("open_pull_request:{key}"),
            target: None,
            risk,
            checks: None,
            approval_id: item.clone(),
            remedy: (failure.class == FailureClass::Lint)
                .then(|| Remedy::FormatterFix { signature: ci_signature(failure) }),
        };
        // Refused whatever its size (autonomy off, level, emergency, a limit)? Then nothing is cloned either.
        let least = data.lines.map_or(Risk::Low, governance::fix_risk);
        if self.halted() {
            return Ok(());
        }
        if !self.preview(&proposal(least)).await?.is_write() {
            // Recorded as decided. Should the decision turn into a write meanwhile (an emergency cleared between the
            // preview and now), nothing was made to send: it ends as failed, not as a write that never happened.
            let nothing =
                |_| async { Err::<(), _>(FixWriteError::Fix("refused when previewed; nothing was made".into())) };
            self.governed(proposal(least), nothing, |_| String::new()).await?;
            return Ok(());
        }
        // The fix's size decides its risk, so it is made (in a temporary clone, not pushed) before the decision.
        let commit_message = self.redactor.redact(&fix_commit_message(failure)).into_owned();
        let mut request = FixRequest::new(
            source,
            snapshot.default_branch.clone(),
            branch.clone(),
            commit_message,
            std::env::temp_dir().join("hive-fixes"),
        );
        request.timeout = self.config.fix_timeout;
        let prepared = prepare_fix(&request).await;
        let (lines, fix) = match prepared {
            // Committed in the clone: pushed as is if the pull request is allowed at this size.
            Ok(Preparation::Ready(fix)) => (Some(fix.lines_changed), Some(fix)),
            // Pushed before a crash: its size was recorded with its commit. Anything else on the branch (pushed by
            // someone else) is of unknown size: high risk.
            Ok(Preparation::Done(
                FixOutcome::AlreadyPushed { ref head_sha } | FixOutcome::Pushed { ref head_sha, .. },
            )) => {
                if !self.caps.pull_requests {
                    // The branch is the whole fix here and it is there already: nothing to send, only to record.
                    let head = head_sha.clone();
                    return self.found_branch(snapshot, failure, &key, head, data, &item).await;
                }
                let ours = data.prepared_sha.as_deref() == Some(head_sha.as_str());
                (data.lines.filter(|_| ours), None)
            }
            Ok(Preparation::Done(FixOutcome::NothingToFix { .. } | FixOutcome::NoFormatter)) | Err(_) => {
                let why = match &prepared {
                    Ok(Preparation::Done(FixOutcome::NothingToFix { formatter })) => {
                        format!("{formatter} changed nothing")
                    }
                    Ok(_) => "no formatter known for this repository".to_owned(),
                    Err(err) => err.to_string(),
                };
                let line = format!("{repo}: fix for {}: {why}", quote::code(&failure.signature()));
                self.report.errors.push(self.redactor.redact(&line).into_owned());
                data.attempts += 1;
                data.tried.push(head);
                return self.after_failed_attempt(snapshot, failure, &key, was, data, &item).await;
            }
        };
        // A size measured now replaces the recorded one; an unknown size leaves the record as it was.
        if lines.is_some() {
            data.lines = lines;
        }
        let risk = lines.map_or(Risk::High, governance::fix_risk);
        data.branch = Some(branch.clone());
        data.item = Some(item.clone());
        data.risk = Some(risk);
        data.signature = Some(signature);
        data.title = Some(title.clone());
        if let Some(fix) = &fix {
            data.prepared_sha = Some(fix.head_sha.clone());
        }
        // Recorded before anything is pushed: a crash after the push leaves the size to the next run. In the same
        // scribe job: the number of the issue the pull request fixes.
        let prepared = self.fix_case(&key, &repo, None, FixState::Prepared, data.clone());
        let issue_number = self
            .memory({
                let issue = issue_key(&repo, failure);
                move |m| {
                    case::store(m, &prepared)?;
                    Ok(case::load::<IssueState, IssueData>(m, &issue)?.and_then(|i| i.number))
                }
            })
            .await?;
        let forge = self.forge.clone();
        let id = snapshot.repo.clone();
        let (b, base) = (branch.clone(), snapshot.default_branch.clone());
        let body = self.redactor.redact(&fix_body(failure, issue_number, lines)).into_owned();
        let pr_title = self.redactor.redact(&format!("Fix {} ({})", failure.job, failure.class.as_str())).into_owned();
        let pr_title = quote::issue_title(&pr_title);
        let marker = text::issue_marker(&key);
        let pull_requests = self.caps.pull_requests;
        let gate = self
            .governed(
                proposal(risk),
                move |d| async move {
                    // A refused write never runs this: the clone is dropped unpublished.
                    let mut head = None;
                    if let Some(fix) = fix {
                        let measured = fix.head_sha.clone();
                        match forge.publish_fix(&id, fix).await {
                            Ok(FixOutcome::Pushed { .. }) => head = Some(measured),
                            Ok(_) => {
                                let why = format!("the branch was pushed by someone else, not as {measured}");
                                return Err(FixWriteError::Fix(why));
                            }
                            // Refused at the permit's end: not sent, and said so as the gate records it.
                            Err(err) if err.late().is_some() => return Err(FixWriteError::Forge(err)),
                            Err(err) => return Err(FixWriteError::Fix(err.to_string())),
                        }
                    }
                    if !pull_requests {
                        return Ok(Published::Branch { branch: b, head });
                    }
                    let body = text::finish(&body, &marker, &d.html);
                    let draft = d.verdict == Verdict::Draft;
                    let pull = forge.create_pull(&id, &b, &base, &pr_title, &body, draft).await;
                    pull.map(Published::Pull).map_err(FixWriteError::Forge)
                },
                Published::describe,
            )
            .await?;
        let Some(published) = gate.done() else { return Ok(()) };
        let (number, state, evidence) = match published {
            Published::Pull(pull) => {
                data.head_sha = Some(pull.head_sha.clone());
                (Some(pull.number), FixState::Open, vec![pull.html_url])
            }
            Published::Branch { head, .. } => {
                data.head_sha = head.or(data.head_sha);
                (None, FixState::Published, Vec::new())
            }
        };
        let item = self.ci_item(&repo, failure, &title, ItemStatus::InProgress, evidence, None);
        let case = self.fix_case(&key, &repo, number, state, data);
        self.store_fix(Some(item), case).await?;
        Ok(())
    }

    /// A fix branch found on a forge without pull requests before anything was sent (published before a crash, or
    /// kept after a merge): recorded as published, or as merged when its commit is part of the default branch. No
    /// write is recorded: nothing was sent.
    async fn found_branch(
        &mut self,
        snapshot: &RepoSnapshot,
        failure: &CiFailure,
        key: &str,
        head: String,
        mut data: FixData,
        item: &str,
    ) -> Result<(), Step> {
        let repo = snapshot.repo.to_string();
        let merged = self.forge.fix_merged(&snapshot.repo, &head, &snapshot.default_branch).await?;
        let (state, status) =
            if merged { (FixState::Merged, ItemStatus::Done) } else { (FixState::Published, ItemStatus::InProgress) };
        data.head_sha = Some(head);
        data.item = Some(item.to_owned());
        let title = self.title(failure, &snapshot.default_branch);
        let item = self.ci_item(&repo, failure, &title, status, Vec::new(), None);
        let case = self.fix_case(key, &repo, None, state, data);
        self.store_fix(Some(item), case).await?;
        Ok(())
    }

    /// A fix published as a branch (no pull requests on this forge): merged when its commit is part of the default
    /// branch (the failure coming back later gets a new fix); otherwise it waits for a human while the branch is
    /// there, and a branch deleted unmerged is a human's no, never published again, its backlog item cancelled.
    async fn published(
        &mut self,
        snapshot: &RepoSnapshot,
        failure: &CiFailure,
        key: &str,
        source: &str,
        branch: &str,
        data: FixData,
    ) -> Result<(), Step> {
        let repo = snapshot.repo.to_string();
        let merged = match data.head_sha.as_deref() {
            Some(head) => self.forge.fix_merged(&snapshot.repo, head, &snapshot.default_branch).await?,
            None => false,
        };
        let (state, status) = if merged {
            (FixState::Merged, ItemStatus::Done)
        } else if published_head(source, branch, self.config.fix_timeout).await.map_err(WriteError::from)?.is_some() {
            return Ok(());
        } else {
            (FixState::ClosedByHuman, ItemStatus::Cancelled)
        };
        let title = self.title(failure, &snapshot.default_branch);
        let item = self.ci_item(&repo, failure, &title, status, Vec::new(), None);
        let case = self.fix_case(key, &repo, None, state, data);
        self.store_fix(Some(item), case).await?;
        Ok(())
    }

    /// VERIFY each open fix pull request of the repository, SHIP the green ones.
    pub(crate) async fn verify_and_ship(&mut self, snapshot: &RepoSnapshot) -> Result<(), Step> {
        let repo = snapshot.repo.to_string();
        let fixes: Vec<FixCase> = self.known_fixes(&repo).filter(|c| c.state == FixState::Open).cloned().collect();
        for case in fixes {
            let Some(number) = case.number else { continue };
            let branch = case.data.branch.clone().unwrap_or_default();
            let Some(pull) = self.forge.pulls_for_branch(&snapshot.repo, &branch).await?.into_iter().next() else {
                continue;
            };
            if pull.state != "open" {
                let state = pull_of(&pull).state();
                self.put_fix(&case.key, &repo, Some(number), state, case.data.clone()).await?;
                continue;
            }
            let checks = self.checks(snapshot, &pull.head_sha).await?;
            let item = case.data.item.clone().unwrap_or_default();
            let seen = format!("{}@{}", pull.head_sha, self.day());
            match step::verify(checks, pull.draft, case.data.tried.contains(&seen)) {
                Verify::FailedAttempt => {
                    // Each day the fix's checks stay red counts as a failed attempt: hive pushes nothing more to
                    // its branch, so waiting longer is the only retry there is.
                    let mut data = case.data.clone();
                    data.attempts += 1;
                    data.tried.push(seen);
                    let Some(failure) = failure_of(snapshot, &case) else {
                        self.put_fix(&case.key, &repo, Some(number), FixState::Open, data).await?;
                        continue;
                    };
                    let was = (case.state, case.number);
                    self.after_failed_attempt(snapshot, &failure, &case.key, was, data, &item).await?;
                }
                Verify::Merge => self.merge(snapshot, &case, number, &pull.head_sha, &item).await?,
                Verify::Wait => {}
            }
        }
        Ok(())
    }

    /// SHIP: merges a fix whose checks are all green at `sha` (pinned to it), when governance allows.
    async fn merge(
        &mut self,
        snapshot: &RepoSnapshot,
        case: &FixCase,
        number: u64,
        sha: &str,
        item: &str,
    ) -> Result<(), Step> {
        let repo = snapshot.repo.to_string();
        let risk = case.data.risk.unwrap_or(Risk::Medium);
        let forge = self.forge.clone();
        let id = snapshot.repo.clone();
        let sha = sha.to_owned();
        let gate = self
            .governed(
                WriteProposal {
                    kind: ActionKind::Merge,
                    repo: repo.clone(),
                    key: format!("merge:{}", case.key),
                    target: Some(format!("{repo}#{number}")),
                    risk,
                    checks: Some(ChecksState::Green),
                    approval_id: item.to_owned(),
                    remedy: None,
                },
                move |_| async move { forge.merge_head(&id, number, "squash", Some(&sha)).await },
                |merged| format!("#{number} merged as {}", merged.sha.clone().unwrap_or_default()),
            )
            .await?;
        let Some(merged) = gate.done().filter(|m| m.merged) else { return Ok(()) };
        // One scribe job: the fix merged, and its backlog item done when the failure is still in the snapshot.
        let title = case.data.title.clone().unwrap_or_default();
        let done = failure_of(snapshot, case)
            .map(|failure| self.ci_item(&repo, &failure, &title, ItemStatus::Done, Vec::new(), merged.sha));
        let merged = self.fix_case(&case.key, &repo, Some(number), FixState::Merged, case.data.clone());
        self.store_fix(done, merged).await?;
        Ok(())
    }

    /// The state of a commit's checks: check runs and the combined status together; nothing at all is Missing.
    async fn checks(&self, snapshot: &RepoSnapshot, sha: &str) -> Result<ChecksState, Step> {
        let runs = self.forge.check_runs(&snapshot.repo, sha).await?;
        let status = self.forge.combined_status(&snapshot.repo, sha).await?;
        let runs = runs.iter().map(|run| (run.status.as_str(), run.conclusion.as_deref()));
        Ok(ChecksState::of(runs, &status.state, status.total_count))
    }

    /// Records a failed attempt (already counted in `data`) and escalates once there were too many; `was` is the
    /// fix's stored state and number (`failed` and none for a fix never stored), which it keeps.
    async fn after_failed_attempt(
        &mut self,
        snapshot: &RepoSnapshot,
        failure: &CiFailure,
        key: &str,
        was: (FixState, Option<u64>),
        mut data: FixData,
        item: &str,
    ) -> Result<(), Step> {
        let repo = snapshot.repo.to_string();
        let mut blocked = None;
        if step::escalation_due(&data, self.config.escalate_after) {
            let labelled = data.escalated;
            (data.escalated, data.mentioned) =
                self.escalate(snapshot, failure, item, data.attempts, data.escalated).await?;
            if data.escalated && !labelled {
                let title = self.title(failure, &snapshot.default_branch);
                blocked = Some(self.ci_item(&repo, failure, &title, ItemStatus::Blocked, Vec::new(), None));
            }
        }
        data.item = Some(item.to_owned());
        data.signature = Some(text::key_hash(&failure.signature()));
        let (state, number) = was;
        let case = self.fix_case(key, &repo, number, state, data);
        self.store_fix(blocked, case).await?;
        Ok(())
    }

    /// Stores a fix case and, when there is one, its backlog item as it is now: one scribe job.
    async fn store_fix(
        &self,
        item: Option<hive_cerebrum::BacklogItem>,
        case: FixCase,
    ) -> Result<(), super::AutonomyError> {
        self.memory(move |m| {
            if let Some(item) = item {
                upsert_in(m, item)?;
            }
            case::store(m, &case)
        })
        .await
    }

    /// The fix case under `key` as it is now, its fingerprint the failure's signature.
    fn fix_case(&self, key: &str, repo: &str, number: Option<u64>, state: FixState, data: FixData) -> FixCase {
        FixCase {
            key: key.to_owned(),
            repo: repo.to_owned(),
            number,
            state,
            fingerprint: data.signature.clone(),
            data,
            updated_at: self.now_unix,
        }
    }

    async fn put_fix(
        &self,
        key: &str,
        repo: &str,
        number: Option<u64>,
        state: FixState,
        data: FixData,
    ) -> Result<(), Step> {
        let case = self.fix_case(key, repo, number, state, data);
        self.memory(move |m| case::store(m, &case)).await?;
        Ok(())
    }
}

/// How a fix went out: as a pull request, or as a branch alone where the forge has no pull requests.
#[derive(Debug)]
enum Published {
    Pull(PullDetail),
    /// `head`: the commit published now (`None`: the branch was there already).
    Branch {
        branch: String,
        head: Option<String>,
    },
}

impl Published {
    fn describe(&self) -> String {
        match self {
            Published::Pull(pull) => format!("#{} {}", pull.number, pull.html_url),
            Published::Branch { branch, .. } => format!("branch {branch}"),
        }
    }
}

/// Why publishing a fix failed: the push or fetch (git) or the pull request (the forge).
#[derive(Debug)]
enum FixWriteError {
    Fix(String),
    Forge(WriteError),
}

impl std::fmt::Display for FixWriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FixWriteError::Fix(message) => write!(f, "cannot publish the fix: {message}"),
            FixWriteError::Forge(err) => err.fmt(f),
        }
    }
}

impl WriteFailure for FixWriteError {
    fn maybe_sent(&self) -> bool {
        match self {
            // A publication that failed is looked up by its branch next time; nothing is counted twice.
            FixWriteError::Fix(_) => false,
            FixWriteError::Forge(err) => err.maybe_sent(),
        }
    }

    fn late(&self) -> Option<&'static str> {
        match self {
            FixWriteError::Fix(_) => None,
            FixWriteError::Forge(err) => err.late(),
        }
    }
}

/// The failure a fix is about, when it is still failing in this snapshot.
fn failure_of(snapshot: &RepoSnapshot, case: &FixCase) -> Option<CiFailure> {
    let signature = case.fingerprint.as_deref()?;
    snapshot.ci.failures.iter().find(|f| text::key_hash(&f.signature()) == signature).cloned()
}

fn fix_commit_message(failure: &CiFailure) -> String {
    let job: String = hive_cerebrum::quote::terminal_line(&failure.job).chars().take(100).collect();
    format!(
        "Run the formatter ({job})\n\nMade by hive to fix a {} failure on the default branch.",
        failure.class.as_str()
    )
}

fn fix_body(failure: &CiFailure, issue: Option<u64>, lines: Option<usize>) -> String {
    let mut body = format!(
        "This pull request runs the repository's formatter to fix the {} failure of {} / {}.\n",
        failure.class.as_str(),
        hive_cerebrum::quote::code(&failure.workflow),
        hive_cerebrum::quote::code(&failure.job),
    );
    if let Some(lines) = lines {
        body.push_str(&format!("\n{lines} lines changed.\n"));
    }
    if let Some(issue) = issue {
        body.push_str(&format!("\nFixes #{issue}.\n"));
    }
    body.push_str("\nhive merges it only when every check is green.\n");
    body
}
