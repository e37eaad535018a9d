//! Case 3 and the loop's VERIFY and SHIP: a lint or format failure gets a fix pull request on a deterministic
//! branch (clone, the repository's own formatter, commit, push, open), never a second one, never one a human
//! closed; open fix pull requests are checked each cycle, merged when every check is green and governance allows,
//! and counted as failed attempts when their checks fail (escalated after too many).

use hive_cerebrum::{
    Identity, ItemStatus, Risk,
    governance::{self, ActionKind, ChecksState, Remedy, Verdict, WriteProposal},
    quote,
};
use hive_ecosystem::{FixOutcome, FixRequest, Preparation, prepare_fix};
use hive_forge::{CiFailure, FailureClass, GitHubError, RepoSnapshot};
use serde_json::{Value, json};

use super::{Step, Steward, ci::issue_key, gate::WriteFailure, text};
use crate::bridge::ci_signature;

/// What the steward keeps about one fix, in the identity's data.
#[derive(Debug, Clone, Default)]
struct FixState {
    attempts: u32,
    /// Commits a fix was tried for (the failing default-branch head, or a pull request's head whose checks failed).
    tried: Vec<String>,
    /// `needs-human` was added to the tracking issue.
    escalated: bool,
    /// The owners were mentioned (retried until the comment limit lets it through).
    mentioned: bool,
    lines: Option<usize>,
}

impl FixState {
    fn from(data: &Value) -> FixState {
        FixState {
            attempts: data.get("attempts").and_then(Value::as_u64).unwrap_or(0) as u32,
            tried: data
                .get("tried")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
            escalated: data.get("escalated").and_then(Value::as_bool).unwrap_or(false),
            mentioned: data.get("mentioned").and_then(Value::as_bool).unwrap_or(false),
            lines: data.get("lines").and_then(Value::as_u64).map(|n| n as usize),
        }
    }

    fn to_value(&self, base: &Value) -> Value {
        let mut data = if base.is_object() { base.clone() } else { json!({}) };
        data["attempts"] = json!(self.attempts);
        data["tried"] = json!(self.tried);
        data["escalated"] = json!(self.escalated);
        data["mentioned"] = json!(self.mentioned);
        if let Some(lines) = self.lines {
            data["lines"] = json!(lines);
        }
        data
    }
}

/// The deterministic branch of a fix: the same failure always gets the same branch.
pub(crate) fn fix_branch(repo: &str, failure: &CiFailure) -> String {
    format!("hive/fix/{}-{}", failure.class.as_str(), &text::key_hash(&format!("{repo}:{}", failure.signature()))[..8])
}

fn fix_key(repo: &str, failure: &CiFailure) -> String {
    format!("fix:{repo}:{}", text::key_hash(&failure.signature()))
}

impl Steward {
    /// Case 3 for one lint/format failure.
    pub(crate) async fn fix(&mut self, snapshot: &RepoSnapshot, failure: &CiFailure) -> Result<(), Step> {
        let repo = snapshot.repo.to_string();
        let key = fix_key(&repo, failure);
        let branch = fix_branch(&repo, failure);
        let title = self.title(failure, &snapshot.default_branch);
        let item = self.upsert_item(&repo, failure, &title, ItemStatus::InProgress, Vec::new(), None).await?;
        let identity = self
            .memory({
                let key = key.clone();
                move |m| m.identities().get(&key)
            })
            .await?;
        let mut state = identity.as_ref().map(|i| FixState::from(&i.data)).unwrap_or_default();
        let data = identity.as_ref().map(|i| i.data.clone()).unwrap_or_else(|| json!({}));
        // The forge is the truth about pull requests: one found for the branch is the fix, whatever the database says.
        let pulls = self.forge.pulls_for_branch(&snapshot.repo, &branch).await?;
        if let Some(pull) = pulls.first() {
            let pull_state = if pull.merged {
                "merged"
            } else if pull.state == "open" {
                "open"
            } else {
                // Closed without merging: a human said no. Never recreated.
                "closed_by_human"
            };
            if pull_state == "closed_by_human" {
                self.upsert_item(&repo, failure, &title, ItemStatus::Cancelled, vec![pull.html_url.clone()], None)
                    .await?;
            }
            let mut data = state.to_value(&data);
            data["branch"] = json!(branch);
            data["head_sha"] = json!(pull.head_sha);
            data["item"] = json!(item);
            data["signature"] = json!(text::key_hash(&failure.signature()));
            data["title"] = json!(title);
            self.put_fix(&key, &repo, Some(pull.number), pull_state, data).await?;
            return Ok(());
        }
        if state.escalated {
            if !state.mentioned {
                return self.after_failed_attempt(snapshot, failure, &key, state, data, &item).await;
            }
            return Ok(());
        }
        let head = failure.run.as_ref().map(|r| r.head_sha.clone()).unwrap_or_default();
        if state.tried.contains(&head) {
            return Ok(());
        }
        let Some(clone_url) = snapshot.github.as_ref().and_then(|g| g.clone_url.clone()) else {
            return Ok(());
        };
        let proposal = |risk: Risk| WriteProposal {
            kind: ActionKind::OpenPullRequest,
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
        let least = state.lines.map_or(Risk::Low, governance::fix_risk);
        if !self.preview(&proposal(least)).await?.is_write() {
            self.governed(proposal(least), |_| async { Ok::<(), GitHubError>(()) }, |_| String::new()).await?;
            return Ok(());
        }
        // The fix's size decides its risk, so it is made (in a temporary clone, not pushed) before the decision.
        let commit_message = self.redactor.redact(&fix_commit_message(failure)).into_owned();
        let mut request = FixRequest::new(
            clone_url,
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
                let ours = data.get("prepared_sha").and_then(Value::as_str) == Some(head_sha.as_str());
                (state.lines.filter(|_| ours), None)
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
                state.attempts += 1;
                state.tried.push(head);
                return self.after_failed_attempt(snapshot, failure, &key, state, data, &item).await;
            }
        };
        state.lines = lines;
        let risk = lines.map_or(Risk::High, governance::fix_risk);
        let mut data = state.to_value(&data);
        data["branch"] = json!(branch);
        data["item"] = json!(item);
        data["risk"] = json!(risk.as_str());
        data["signature"] = json!(text::key_hash(&failure.signature()));
        data["title"] = json!(title);
        if let Some(fix) = &fix {
            data["prepared_sha"] = json!(fix.head_sha);
        }
        // Recorded before anything is pushed: a crash after the push leaves the size to the next run.
        self.put_fix(&key, &repo, None, "prepared", data.clone()).await?;
        let forge = self.forge.clone();
        let id = snapshot.repo.clone();
        let (b, base) = (branch.clone(), snapshot.default_branch.clone());
        let issue_number = self
            .memory({
                let k = issue_key(&repo, failure);
                move |m| m.identities().get(&k)
            })
            .await?
            .and_then(|i| i.number);
        let body = self.redactor.redact(&fix_body(failure, issue_number, lines)).into_owned();
        let pr_title = self.redactor.redact(&format!("Fix {} ({})", failure.job, failure.class.as_str())).into_owned();
        let pr_title = quote::issue_title(&pr_title);
        let marker = text::issue_marker(&key);
        let gate = self
            .governed(
                proposal(risk),
                move |d| async move {
                    // A refused write never runs this: the clone is dropped unpushed.
                    if let Some(fix) = fix {
                        let measured = fix.head_sha.clone();
                        match fix.push().await {
                            Ok(FixOutcome::Pushed { .. }) => {}
                            Ok(_) => {
                                let why = format!("the branch was pushed by someone else, not as {measured}");
                                return Err(FixWriteError::Fix(why));
                            }
                            Err(err) => return Err(FixWriteError::Fix(err.to_string())),
                        }
                    }
                    let body = text::finish(&body, &marker, &d.html);
                    let draft = d.verdict == Verdict::Draft;
                    forge.create_pull(&id, &b, &base, &pr_title, &body, draft).await.map_err(FixWriteError::GitHub)
                },
                |pull| format!("#{} {}", pull.number, pull.html_url),
            )
            .await?;
        match gate.done() {
            Some(pull) => {
                data["head_sha"] = json!(pull.head_sha);
                self.upsert_item(&repo, failure, &title, ItemStatus::InProgress, vec![pull.html_url.clone()], None)
                    .await?;
                self.put_fix(&key, &repo, Some(pull.number), "open", data).await
            }
            None => Ok(()),
        }
    }

    /// VERIFY each open fix pull request of the repository, SHIP the green ones.
    pub(crate) async fn verify_and_ship(&mut self, snapshot: &RepoSnapshot) -> Result<(), Step> {
        let repo = snapshot.repo.to_string();
        let fixes: Vec<Identity> =
            self.known_of(&repo, "fix").filter(|i| i.state.as_deref() == Some("open")).cloned().collect();
        for identity in fixes {
            let Some(number) = identity.number else { continue };
            let branch = identity.data.get("branch").and_then(Value::as_str).unwrap_or_default().to_owned();
            let Some(pull) = self.forge.pulls_for_branch(&snapshot.repo, &branch).await?.into_iter().next() else {
                continue;
            };
            if pull.state != "open" {
                let state = if pull.merged { "merged" } else { "closed_by_human" };
                self.put_fix(&identity.key, &repo, Some(number), state, identity.data.clone()).await?;
                continue;
            }
            let checks = self.checks(snapshot, &pull.head_sha).await?;
            let item = identity.data.get("item").and_then(Value::as_str).unwrap_or_default().to_owned();
            match checks {
                ChecksState::Failing => {
                    // Each day the fix's checks stay red counts as a failed attempt: hive pushes nothing more to
                    // its branch, so waiting longer is the only retry there is.
                    let mut state = FixState::from(&identity.data);
                    let seen = format!("{}@{}", pull.head_sha, self.day());
                    if state.tried.contains(&seen) {
                        continue;
                    }
                    state.attempts += 1;
                    state.tried.push(seen);
                    let Some(failure) = failure_of(snapshot, &identity) else {
                        let data = state.to_value(&identity.data);
                        self.put_fix(&identity.key, &repo, Some(number), "open", data).await?;
                        continue;
                    };
                    self.after_failed_attempt(snapshot, &failure, &identity.key, state, identity.data.clone(), &item)
                        .await?;
                }
                ChecksState::Green if !pull.draft => {
                    let risk = identity
                        .data
                        .get("risk")
                        .and_then(Value::as_str)
                        .and_then(|r| r.parse().ok())
                        .unwrap_or(Risk::Medium);
                    let forge = self.forge.clone();
                    let id = snapshot.repo.clone();
                    let sha = pull.head_sha.clone();
                    let gate = self
                        .governed(
                            WriteProposal {
                                kind: ActionKind::Merge,
                                repo: repo.clone(),
                                key: format!("merge:{}", identity.key),
                                target: Some(format!("{repo}#{number}")),
                                risk,
                                checks: Some(ChecksState::Green),
                                approval_id: item.clone(),
                                remedy: None,
                            },
                            move |_| async move { forge.merge_head(&id, number, "squash", Some(&sha)).await },
                            |merged| format!("#{number} merged as {}", merged.sha.clone().unwrap_or_default()),
                        )
                        .await?;
                    if let Some(merged) = gate.done().filter(|m| m.merged) {
                        self.put_fix(&identity.key, &repo, Some(number), "merged", identity.data.clone()).await?;
                        let title = identity.data.get("title").and_then(Value::as_str).unwrap_or_default().to_owned();
                        if let Some(failure) = failure_of(snapshot, &identity) {
                            self.upsert_item(&repo, &failure, &title, ItemStatus::Done, Vec::new(), merged.sha).await?;
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The state of a commit's checks: check runs and the combined status together; nothing at all is Missing.
    async fn checks(&self, snapshot: &RepoSnapshot, sha: &str) -> Result<ChecksState, Step> {
        let runs = self.forge.check_runs(&snapshot.repo, sha).await?;
        let status = self.forge.combined_status(&snapshot.repo, sha).await?;
        let failed = |c: Option<&str>| !matches!(c, Some("success" | "neutral" | "skipped"));
        let mut pending = false;
        for run in &runs {
            if run.status != "completed" {
                pending = true;
            } else if failed(run.conclusion.as_deref()) {
                return Ok(ChecksState::Failing);
            }
        }
        match status.state.as_str() {
            "failure" | "error" => return Ok(ChecksState::Failing),
            "pending" if status.total_count > 0 => pending = true,
            _ => {}
        }
        Ok(if pending {
            ChecksState::Pending
        } else if runs.is_empty() && status.total_count == 0 {
            ChecksState::Missing
        } else {
            ChecksState::Green
        })
    }

    /// Records a failed attempt and escalates once there were too many.
    async fn after_failed_attempt(
        &mut self,
        snapshot: &RepoSnapshot,
        failure: &CiFailure,
        key: &str,
        mut state: FixState,
        data: Value,
        item: &str,
    ) -> Result<(), Step> {
        let repo = snapshot.repo.to_string();
        let identity_state = self
            .memory({
                let key = key.to_owned();
                move |m| m.identities().get(&key)
            })
            .await?
            .and_then(|i| i.state)
            .unwrap_or_else(|| "failed".to_owned());
        let number = self
            .memory({
                let key = key.to_owned();
                move |m| m.identities().get(&key)
            })
            .await?
            .and_then(|i| i.number);
        if state.attempts >= self.config.escalate_after && !(state.escalated && state.mentioned) {
            let was = state.escalated;
            (state.escalated, state.mentioned) =
                self.escalate(snapshot, failure, item, state.attempts, state.escalated).await?;
            if state.escalated && !was {
                let title = self.title(failure, &snapshot.default_branch);
                self.upsert_item(&repo, failure, &title, ItemStatus::Blocked, Vec::new(), None).await?;
            }
        }
        let mut data = state.to_value(&data);
        data["item"] = json!(item);
        data["signature"] = json!(text::key_hash(&failure.signature()));
        self.put_fix(key, &repo, number, &identity_state, data).await
    }

    async fn put_fix(&self, key: &str, repo: &str, number: Option<u64>, state: &str, data: Value) -> Result<(), Step> {
        let identity = Identity {
            key: key.to_owned(),
            repo: repo.to_owned(),
            kind: "fix".to_owned(),
            number,
            state: Some(state.to_owned()),
            fingerprint: data.get("signature").and_then(Value::as_str).map(str::to_owned),
            data,
            updated_at: self.now_unix,
        };
        self.memory(move |m| m.identities().put(&identity)).await?;
        Ok(())
    }
}

/// Why opening a fix failed: the push (git) or the pull request (GitHub).
#[derive(Debug)]
enum FixWriteError {
    Fix(String),
    GitHub(GitHubError),
}

impl std::fmt::Display for FixWriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FixWriteError::Fix(message) => write!(f, "cannot push the fix: {message}"),
            FixWriteError::GitHub(err) => err.fmt(f),
        }
    }
}

impl WriteFailure for FixWriteError {
    fn maybe_sent(&self) -> bool {
        match self {
            // A push that failed is looked up by its branch next time; nothing is counted twice.
            FixWriteError::Fix(_) => false,
            FixWriteError::GitHub(err) => err.maybe_sent(),
        }
    }
}

/// The failure a fix identity is about, when it is still failing in this snapshot.
fn failure_of(snapshot: &RepoSnapshot, identity: &Identity) -> Option<CiFailure> {
    let signature = identity.fingerprint.as_deref()?;
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
