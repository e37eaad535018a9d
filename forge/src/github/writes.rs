//! The writes the autonomy loop uses, as inherent methods of [`GitHubForge`]: issues (create, update, comment,
//! close, reopen, labels), re-running failed jobs, a branch with one commit and its pull request, the checks of a
//! ref, and merging.
//!
//! Every write goes through the shared budget, which spaces writes a second apart and keeps them under 80 a minute
//! (GitHub's secondary limits for content creation). Reads here (check runs, statuses) are conditional like the
//! forge's other reads.

use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    GitHubError, GitHubForge,
    read::{encode, from_value, repo_path},
};
use crate::RepoId;

/// An issue as a write returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedIssue {
    /// Issue number.
    pub number: u64,
    /// `open` or `closed`.
    pub state: String,
    /// Title.
    pub title: String,
    /// Label names.
    #[serde(default, deserialize_with = "label_names")]
    pub labels: Vec<String>,
    /// Web address.
    #[serde(default)]
    pub html_url: String,
}

/// What to change in an issue; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IssueChange {
    /// New title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// New body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// `open` or `closed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Replaces all labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
}

/// What to change on a pull request (`PATCH /repos/{o}/{r}/pulls/{n}`); `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullChange {
    /// New title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// New body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// `open` or `closed` (closing does not merge).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// A pull request as a write returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    /// Number (shared with issues).
    pub number: u64,
    /// `open` or `closed`.
    pub state: String,
    /// Web address.
    #[serde(default)]
    pub html_url: String,
    /// The head branch.
    pub head_branch: String,
    /// The commit made on the head branch.
    pub head_sha: String,
}

/// One check run of a ref.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRun {
    /// Check name.
    pub name: String,
    /// `queued`, `in_progress`, `completed` (and others GitHub adds).
    pub status: String,
    /// `success`, `failure`, ... once completed.
    #[serde(default)]
    pub conclusion: Option<String>,
}

/// The combined commit status of a ref.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CombinedStatus {
    /// `success`, `pending` or `failure`.
    pub state: String,
    /// The commit.
    #[serde(default)]
    pub sha: String,
    /// Statuses counted.
    #[serde(default)]
    pub total_count: u64,
}

/// What a merge answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeResult {
    /// Whether the pull request was merged.
    pub merged: bool,
    /// The merge commit.
    #[serde(default)]
    pub sha: Option<String>,
    /// GitHub's message.
    #[serde(default)]
    pub message: String,
}

impl GitHubForge {
    /// Opens an issue.
    pub async fn create_issue(
        &self,
        repo: &RepoId,
        title: &str,
        body: &str,
        labels: &[String],
    ) -> Result<CreatedIssue, GitHubError> {
        let payload = json!({ "title": title, "body": body, "labels": labels });
        self.write_as(repo, Method::POST, &repo_path(repo, "/issues"), &payload).await
    }

    /// Changes an issue's title, body, state or labels.
    pub async fn update_issue(
        &self,
        repo: &RepoId,
        number: u64,
        change: &IssueChange,
    ) -> Result<CreatedIssue, GitHubError> {
        let payload = serde_json::to_value(change).map_err(|err| GitHubError::Config { message: err.to_string() })?;
        self.write_as(repo, Method::PATCH, &repo_path(repo, &format!("/issues/{number}")), &payload).await
    }

    /// Closes an issue (or a pull request).
    pub async fn close_issue(&self, repo: &RepoId, number: u64) -> Result<CreatedIssue, GitHubError> {
        self.update_issue(repo, number, &IssueChange { state: Some("closed".into()), ..IssueChange::default() }).await
    }

    /// Reopens an issue.
    pub async fn reopen_issue(&self, repo: &RepoId, number: u64) -> Result<CreatedIssue, GitHubError> {
        self.update_issue(repo, number, &IssueChange { state: Some("open".into()), ..IssueChange::default() }).await
    }

    /// Comments on an issue or pull request; returns the comment's id.
    pub async fn comment(&self, repo: &RepoId, number: u64, body: &str) -> Result<u64, GitHubError> {
        let path = repo_path(repo, &format!("/issues/{number}/comments"));
        let answer = self.write_to(repo, Method::POST, &path, Some(&json!({ "body": body }))).await?;
        Ok(answer.get("id").and_then(Value::as_u64).unwrap_or_default())
    }

    /// Adds labels to an issue; returns all its labels afterwards.
    pub async fn add_labels(&self, repo: &RepoId, number: u64, labels: &[String]) -> Result<Vec<String>, GitHubError> {
        let path = repo_path(repo, &format!("/issues/{number}/labels"));
        let answer = self.write_to(repo, Method::POST, &path, Some(&json!({ "labels": labels }))).await?;
        let names: Vec<LabelName> = from_value(&path, answer)?;
        Ok(names.into_iter().map(|label| label.name).collect())
    }

    /// Re-runs the failed jobs of a workflow run (`POST .../actions/runs/{id}/rerun-failed-jobs`, which octocrab
    /// does not type).
    pub async fn rerun_failed_jobs(&self, repo: &RepoId, run_id: u64) -> Result<(), GitHubError> {
        let path = repo_path(repo, &format!("/actions/runs/{run_id}/rerun-failed-jobs"));
        self.write_to(repo, Method::POST, &path, None).await.map(drop)
    }

    /// Creates `branch` from `base` (the default branch when `None`), commits `content` to `file` on it, and opens a
    /// pull request; the branch must not exist yet.
    #[allow(clippy::too_many_arguments)]
    pub async fn open_pull_request(
        &self,
        repo: &RepoId,
        base: Option<&str>,
        branch: &str,
        file: &str,
        content: &str,
        commit_message: &str,
        title: &str,
        body: &str,
    ) -> Result<PullRequest, GitHubError> {
        let base = match base {
            Some(base) => base.to_owned(),
            None => {
                let meta: super::models::RepoJson =
                    from_value("/repos", self.client.get(&repo_path(repo, "")).await?.body)?;
                meta.default_branch.unwrap_or_else(|| "main".to_owned())
            }
        };
        let ref_path = repo_path(repo, &format!("/git/ref/heads/{}", encode_path(&base)));
        let base_ref = self.client.get(&ref_path).await?.body;
        let base_sha = base_ref.pointer("/object/sha").and_then(Value::as_str).ok_or_else(|| {
            GitHubError::Malformed { request: format!("GET {ref_path}"), message: "no object.sha in the ref".into() }
        })?;
        let refs = repo_path(repo, "/git/refs");
        self.write_to(
            repo,
            Method::POST,
            &refs,
            Some(&json!({ "ref": format!("refs/heads/{branch}"), "sha": base_sha })),
        )
        .await?;
        let contents = repo_path(repo, &format!("/contents/{}", encode_path(file)));
        // An existing file must be named by its blob sha to be replaced.
        let existing = match self.client.get(&format!("{contents}?ref={}", encode(branch))).await {
            Ok(page) => page.body.get("sha").and_then(Value::as_str).map(str::to_owned),
            Err(err) if err.is_not_found() => None,
            Err(err) => return Err(err),
        };
        let mut commit = json!({ "message": commit_message, "content": base64(content.as_bytes()), "branch": branch });
        if let Some(sha) = existing {
            commit["sha"] = Value::String(sha);
        }
        let committed = self.write_to(repo, Method::PUT, &contents, Some(&commit)).await?;
        let head_sha = committed.pointer("/commit/sha").and_then(Value::as_str).unwrap_or_default().to_owned();
        let pulls = repo_path(repo, "/pulls");
        let pull = self
            .write_to(
                repo,
                Method::POST,
                &pulls,
                Some(&json!({ "title": title, "head": branch, "base": base, "body": body })),
            )
            .await?;
        let pull: PullJson = from_value(&pulls, pull)?;
        Ok(PullRequest {
            number: pull.number,
            state: pull.state,
            html_url: pull.html_url,
            head_branch: branch.to_owned(),
            head_sha,
        })
    }

    /// The check runs of a ref (branch, tag or sha), every page of them: a failure on page two must not look
    /// green.
    pub async fn check_runs(&self, repo: &RepoId, git_ref: &str) -> Result<Vec<CheckRun>, GitHubError> {
        const MAX_PAGES: u32 = 10;
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let path =
                repo_path(repo, &format!("/commits/{}/check-runs?per_page=100&page={page}", encode_path(git_ref)));
            let runs: CheckRunsJson = from_value(&path, self.client.get(&path).await?.body)?;
            let empty = runs.check_runs.is_empty();
            all.extend(runs.check_runs);
            if empty || all.len() as u64 >= runs.total_count {
                return Ok(all);
            }
        }
        // More than a thousand checks: the unread ones count as not finished.
        all.push(CheckRun { name: "(unread checks)".to_owned(), status: "queued".to_owned(), conclusion: None });
        Ok(all)
    }

    /// The combined commit status of a ref.
    pub async fn combined_status(&self, repo: &RepoId, git_ref: &str) -> Result<CombinedStatus, GitHubError> {
        let path = repo_path(repo, &format!("/commits/{}/status", encode_path(git_ref)));
        from_value(&path, self.client.get(&path).await?.body)
    }

    /// Merges a pull request with `method` (`merge`, `squash` or `rebase`).
    pub async fn merge(&self, repo: &RepoId, number: u64, method: &str) -> Result<MergeResult, GitHubError> {
        self.merge_head(repo, number, method, None).await
    }

    /// Merges a pull request only if its head is still `sha` (GitHub answers 409 otherwise): what was checked is
    /// what is merged, even if someone pushes in between.
    pub async fn merge_head(
        &self,
        repo: &RepoId,
        number: u64,
        method: &str,
        sha: Option<&str>,
    ) -> Result<MergeResult, GitHubError> {
        let path = repo_path(repo, &format!("/pulls/{number}/merge"));
        let mut payload = json!({ "merge_method": method });
        if let Some(sha) = sha {
            payload["sha"] = Value::String(sha.to_owned());
        }
        let answer = self.write_to(repo, Method::PUT, &path, Some(&payload)).await?;
        from_value(&path, answer)
    }

    async fn write_as<T: serde::de::DeserializeOwned>(
        &self,
        repo: &RepoId,
        method: Method,
        path: &str,
        payload: &Value,
    ) -> Result<T, GitHubError> {
        let answer = self.write_to(repo, method, path, Some(payload)).await?;
        from_value(path, answer)
    }

    /// Sends a write about `repo`, then forgets the repository's last snapshot, whatever the answer (a write that
    /// failed may have been carried out): what it changed (a re-run's new attempt, an issue, a label, a merge) may
    /// leave the probe's fingerprint as it was, so the next read must be a full one.
    pub(crate) async fn write_to(
        &self,
        repo: &RepoId,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, GitHubError> {
        let answer = self.client.write(method, path, body).await;
        self.forget_snapshot(repo);
        answer
    }
}

#[derive(Deserialize)]
struct LabelName {
    name: String,
}

#[derive(Deserialize)]
struct PullJson {
    number: u64,
    #[serde(default)]
    state: String,
    #[serde(default)]
    html_url: String,
}

#[derive(Deserialize)]
struct CheckRunsJson {
    #[serde(default)]
    total_count: u64,
    #[serde(default)]
    check_runs: Vec<CheckRun>,
}

fn label_names<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let labels: Vec<super::models::LabelJson> = Vec::deserialize(deserializer)?;
    Ok(labels.iter().map(|l| l.name().to_owned()).collect())
}

/// Encodes each segment of a slash-separated path (a file path, a branch with `/`).
pub(crate) fn encode_path(path: &str) -> String {
    path.split('/').map(encode).collect::<Vec<_>>().join("/")
}

/// Standard base64 with padding, as the contents API wants file content.
pub(crate) fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
