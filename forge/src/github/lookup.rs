//! The reads the autonomy loop makes before it writes: issues it may have filed (open and closed), an issue's
//! comments, the pull requests of a branch, one pull request, one workflow run. They are how hive finds its own
//! earlier work again on GitHub itself, so a write lost between GitHub and hive's database (a crash) is never
//! repeated. The pull request writes that answer a [`PullDetail`] are here too, to read their answers one way: one
//! opened from a pushed branch, and one changed, closed or reopened.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    GitHubError, GitHubForge,
    models::{self, LabelJson},
    read::{encode, from_value, repo_path},
};
use crate::{PullChange, RepoId};

/// Pages followed at most when listing an issue's comments or a label's issues (100 per page).
const MAX_PAGES: usize = 20;

/// An issue with its body, as the loop reads it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueDetail {
    /// Number.
    pub number: u64,
    /// Title.
    pub title: String,
    /// `open` or `closed`.
    pub state: String,
    /// Body (empty when GitHub sends null).
    pub body: String,
    /// Label names.
    pub labels: Vec<String>,
    /// Whether it is a pull request.
    pub is_pull_request: bool,
    /// When it was last closed, RFC 3339, if it is closed (GitHub keeps it while the issue is closed).
    #[serde(default)]
    pub closed_at: Option<String>,
    /// When it last changed, RFC 3339 (empty when GitHub did not say).
    #[serde(default)]
    pub updated_at: String,
}

/// A comment on an issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueComment {
    /// Comment id.
    pub id: u64,
    /// Body.
    pub body: String,
    /// When it was written, RFC 3339.
    pub created_at: String,
}

/// A pull request as the loop reads it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullDetail {
    /// Number.
    pub number: u64,
    /// `open` or `closed`.
    pub state: String,
    /// Whether it was merged (a closed, unmerged pull request was closed by someone).
    pub merged: bool,
    /// Whether it is a draft.
    pub draft: bool,
    /// The head branch.
    pub head_branch: String,
    /// The head commit.
    pub head_sha: String,
    /// The base branch.
    pub base_branch: String,
    /// Body.
    pub body: String,
    /// Web address.
    pub html_url: String,
    /// The commit the merge made on the base (a merge commit, or the one squashed commit), once merged. GitHub also
    /// fills `merge_commit_sha` for open pull requests, with a test merge that is never on any branch; that one is
    /// not kept. Absent from records written before it existed.
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
}

/// One workflow run, as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunDetail {
    /// Run id.
    pub id: u64,
    /// 1, then one more per re-run.
    pub attempt: u32,
    /// `queued`, `in_progress`, `completed`, ...
    pub status: String,
    /// `success`, `failure`, ... once completed.
    pub conclusion: Option<String>,
}

#[derive(Deserialize)]
struct IssueJson {
    number: u64,
    #[serde(default)]
    title: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    labels: Vec<LabelJson>,
    #[serde(default)]
    pull_request: Option<Value>,
    #[serde(default)]
    closed_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
}

#[derive(Deserialize)]
struct CommentJson {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    created_at: String,
}

#[derive(Deserialize)]
struct RefJson {
    #[serde(rename = "ref", default)]
    name: String,
    #[serde(default)]
    sha: String,
}

#[derive(Deserialize)]
struct PullJson {
    number: u64,
    #[serde(default)]
    state: String,
    #[serde(default)]
    merged_at: Option<String>,
    /// Only in a single pull request's JSON, not in lists.
    #[serde(default)]
    merged: Option<bool>,
    #[serde(default)]
    merge_commit_sha: Option<String>,
    #[serde(default)]
    draft: Option<bool>,
    head: RefJson,
    base: RefJson,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    html_url: String,
}

impl PullJson {
    fn detail(self) -> PullDetail {
        let merged = self.merged.unwrap_or(self.merged_at.is_some());
        PullDetail {
            number: self.number,
            state: self.state,
            merged,
            draft: self.draft.unwrap_or(false),
            head_branch: self.head.name,
            head_sha: self.head.sha,
            base_branch: self.base.name,
            body: self.body.unwrap_or_default(),
            html_url: self.html_url,
            merge_commit_sha: self.merge_commit_sha.filter(|_| merged),
        }
    }
}

impl GitHubForge {
    /// Every issue (open and closed, pull requests excluded) carrying `label`, newest first.
    pub async fn issues_labelled(&self, repo: &RepoId, label: &str) -> Result<Vec<IssueDetail>, GitHubError> {
        let path = repo_path(repo, &format!("/issues?state=all&labels={}&per_page=100", encode(label)));
        let items = self.client.get_all(&path, MAX_PAGES).await?;
        let mut issues = Vec::with_capacity(items.len());
        for item in items {
            let issue: IssueJson = from_value(&path, item)?;
            issues.push(IssueDetail {
                number: issue.number,
                title: issue.title,
                state: issue.state,
                body: issue.body.unwrap_or_default(),
                labels: issue.labels.iter().map(|l| l.name().to_owned()).collect(),
                is_pull_request: issue.pull_request.is_some(),
                closed_at: issue.closed_at,
                updated_at: issue.updated_at.unwrap_or_default(),
            });
        }
        issues.retain(|issue| !issue.is_pull_request);
        Ok(issues)
    }

    /// The comments of an issue or pull request, oldest first.
    pub async fn issue_comments(&self, repo: &RepoId, number: u64) -> Result<Vec<IssueComment>, GitHubError> {
        let path = repo_path(repo, &format!("/issues/{number}/comments?per_page=100"));
        let items = self.client.get_all(&path, MAX_PAGES).await?;
        items
            .into_iter()
            .map(|item| {
                let c: CommentJson = from_value(&path, item)?;
                Ok(IssueComment { id: c.id, body: c.body.unwrap_or_default(), created_at: c.created_at })
            })
            .collect()
    }

    /// Every pull request (open and closed) whose head is `branch` in the repository itself.
    pub async fn pulls_for_branch(&self, repo: &RepoId, branch: &str) -> Result<Vec<PullDetail>, GitHubError> {
        let head = format!("{}:{branch}", repo.owner());
        let path = repo_path(repo, &format!("/pulls?state=all&head={}&per_page=100", encode(&head)));
        let items = self.client.get_all(&path, MAX_PAGES).await?;
        let mut pulls = Vec::new();
        for item in items {
            let pull: PullJson = from_value(&path, item)?;
            // `head` filters on GitHub; checking again keeps a server that ignores the filter from confusing us.
            if pull.head.name != branch {
                continue;
            }
            pulls.push(pull.detail());
        }
        Ok(pulls)
    }

    /// One workflow run.
    pub async fn workflow_run(&self, repo: &RepoId, run_id: u64) -> Result<RunDetail, GitHubError> {
        let path = repo_path(repo, &format!("/actions/runs/{run_id}"));
        let run: models::RunJson = from_value(&path, self.client.get(&path).await?.body)?;
        Ok(RunDetail {
            id: run.id,
            attempt: run.run_attempt.unwrap_or(1),
            status: run.status.unwrap_or_default(),
            conclusion: run.conclusion,
        })
    }

    /// Opens a pull request from a branch that already exists (pushed over git).
    pub async fn create_pull(
        &self,
        repo: &RepoId,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
        draft: bool,
    ) -> Result<PullDetail, GitHubError> {
        let path = repo_path(repo, "/pulls");
        let payload = json!({ "title": title, "head": head, "base": base, "body": body, "draft": draft });
        let mut pull: PullJson =
            from_value(&path, self.write_to(repo, http::Method::POST, &path, Some(&payload)).await?)?;
        pull.draft = pull.draft.or(Some(draft));
        Ok(pull.detail())
    }

    /// One pull request, by number (conditional: an unchanged one costs nothing).
    pub async fn pull(&self, repo: &RepoId, number: u64) -> Result<PullDetail, GitHubError> {
        let path = repo_path(repo, &format!("/pulls/{number}"));
        let pull: PullJson = from_value(&path, self.client.get(&path).await?.body)?;
        Ok(pull.detail())
    }

    /// Changes a pull request's title or body, or closes it (without merging) or reopens it
    /// (`PATCH /repos/{o}/{r}/pulls/{n}`). GitHub refuses to reopen a merged one (422, its reason in the error).
    pub async fn update_pull(
        &self,
        repo: &RepoId,
        number: u64,
        change: &PullChange,
    ) -> Result<PullDetail, GitHubError> {
        let path = repo_path(repo, &format!("/pulls/{number}"));
        let payload = serde_json::to_value(change).map_err(|err| GitHubError::Config { message: err.to_string() })?;
        let pull: PullJson = from_value(&path, self.write_to(repo, http::Method::PATCH, &path, Some(&payload)).await?)?;
        Ok(pull.detail())
    }
}
