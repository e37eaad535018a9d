//! Whole repositories on GitHub: creating one (an organisation's or the token user's), pushing a branch to it over
//! git, reading a pull request's reviews, deleting it.
//!
//! Whether `owner` is an organisation is asked of `GET /users/{owner}` (`type`), which answers for any token, an
//! app installation's too. A user must then be the token's own (`GET /user`): `POST /user/repos` always creates
//! under the token's user, so any other user is refused before anything is made.
//!
//! A name that is taken is not an error when the repository there is hive's for this name: empty (nothing pushed
//! yet) or carrying exactly the description hive gives it. That is what makes a retried spawn idempotent; any other
//! repository of that name is [`WriteError::AlreadyExists`], never written to.

use std::path::Path;

use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    GitHubError, GitHubForge,
    models::RepoJson,
    read::{encode, from_value, repo_path},
};
use crate::{
    RepoId, WriteError,
    writer::{BRANCH_TIMEOUT, CreatedRepository, Origin, Review, ReviewState, new_repo_id},
};

/// Pages of reviews followed at most (100 per page).
const MAX_REVIEW_PAGES: usize = 10;

#[derive(Deserialize)]
struct AccountJson {
    login: String,
    #[serde(rename = "type", default)]
    kind: String,
}

#[derive(Deserialize)]
struct ReviewJson {
    id: u64,
    #[serde(default)]
    user: Option<LoginJson>,
    #[serde(default)]
    state: String,
    #[serde(default)]
    commit_id: Option<String>,
}

#[derive(Deserialize)]
struct LoginJson {
    login: String,
}

impl GitHubForge {
    /// Where `repo` is cloned from and its default branch (`GET /repos/{o}/{r}`).
    pub async fn origin(&self, repo: &RepoId) -> Result<Origin, GitHubError> {
        let path = repo_path(repo, "");
        let json: RepoJson = from_value(&path, self.client.get(&path).await?.body)?;
        let malformed = |what: &str| GitHubError::Malformed {
            request: format!("GET {path}"),
            message: format!("the repository has no {what}"),
        };
        Ok(Origin {
            repo: repo.clone(),
            clone_url: json.clone_url.ok_or_else(|| malformed("clone_url"))?,
            default_branch: json.default_branch.ok_or_else(|| malformed("default_branch"))?,
            archived: json.archived,
        })
    }

    /// Creates `owner/name`, empty, with `description`; see [`crate::ForgeWriter::create_repository`].
    pub async fn create_repository(
        &self,
        owner: &str,
        name: &str,
        description: &str,
        private: bool,
    ) -> Result<CreatedRepository, WriteError> {
        let repo = new_repo_id(owner, name)?;
        let path = self.creation_path(&repo).await?;
        let payload =
            json!({ "name": repo.name(), "description": description, "private": private, "auto_init": false });
        match self.write_to(&repo, Method::POST, &path, Some(&payload)).await {
            Ok(answer) => created(&repo, &path, answer, true),
            // 422 is GitHub's answer to a taken name (and to other invalid requests: those stay errors below).
            Err(err @ GitHubError::Rejected { status: 422, .. }) => self.existing(&repo, description, err).await,
            Err(err) => Err(err.into()),
        }
    }

    /// Where a repository of `repo`'s owner is created: `/orgs/{org}/repos`, or `/user/repos` for the token's user.
    async fn creation_path(&self, repo: &RepoId) -> Result<String, WriteError> {
        let owner = repo.owner();
        let account: AccountJson =
            from_value("/users", self.client.get(&format!("/users/{}", encode(owner))).await?.body)?;
        if account.kind == "Organization" {
            return Ok(format!("/orgs/{}/repos", encode(owner)));
        }
        let me: AccountJson = from_value("/user", self.client.get("/user").await?.body)?;
        if me.login.eq_ignore_ascii_case(owner) {
            return Ok("/user/repos".to_owned());
        }
        Err(WriteError::Owner {
            owner: owner.to_owned(),
            reason: format!(
                "it is a user other than the token's ('{}'); use an organisation the token may create repositories \
                 in, or that user's own token",
                me.login
            ),
        })
    }

    /// The repository that made the name taken, if it is hive's for this name; `taken` (the 422) when there is none.
    async fn existing(
        &self,
        repo: &RepoId,
        description: &str,
        taken: GitHubError,
    ) -> Result<CreatedRepository, WriteError> {
        let path = repo_path(repo, "");
        let answer = match self.client.get(&path).await {
            Ok(page) => page.body,
            // Not there (or not visible to this token): the 422 was about something else.
            Err(err) if err.is_not_found() => return Err(taken.into()),
            Err(err) => return Err(err.into()),
        };
        let meta: RepoJson = from_value(&path, answer.clone())?;
        // GitHub stores an empty description as null.
        if meta.description.as_deref().unwrap_or("") == description {
            return created(repo, &path, answer, false);
        }
        let branches = repo_path(repo, "/branches?per_page=1");
        let empty = matches!(self.client.get(&branches).await?.body, Value::Array(items) if items.is_empty());
        if empty {
            return created(repo, &path, answer, false);
        }
        Err(WriteError::AlreadyExists {
            repo: repo.clone(),
            reason: "it has commits and another description".to_owned(),
        })
    }

    /// Pushes `branch` of the local repository at `source` to `repo`'s clone URL with git, without force; see
    /// [`crate::ForgeWriter::push_branch`]. Credentials are git's own, as for fix branches.
    pub async fn push_branch(&self, repo: &RepoId, source: &Path, branch: &str) -> Result<String, WriteError> {
        let path = repo_path(repo, "");
        let meta: RepoJson = from_value(&path, self.client.get(&path).await?.body)?;
        let url = meta.clone_url.ok_or_else(|| GitHubError::Malformed {
            request: format!("GET {path}"),
            message: "no clone_url for the repository".into(),
        })?;
        Ok(hive_ecosystem::push_branch(source, &url, branch, BRANCH_TIMEOUT).await?)
    }

    /// The reviews of a pull request, oldest first, every page of them.
    pub async fn pull_reviews(&self, repo: &RepoId, number: u64) -> Result<Vec<Review>, GitHubError> {
        let path = repo_path(repo, &format!("/pulls/{number}/reviews?per_page=100"));
        let items = self.client.get_all(&path, MAX_REVIEW_PAGES).await?;
        items
            .into_iter()
            .map(|item| {
                let review: ReviewJson = from_value(&path, item)?;
                Ok(Review {
                    id: review.id,
                    user: review.user.map(|u| u.login).unwrap_or_default(),
                    state: ReviewState::parse(&review.state),
                    commit_id: review.commit_id,
                })
            })
            .collect()
    }

    /// Deletes a repository (`DELETE /repos/{o}/{r}`; the token needs the `delete_repo` scope).
    pub async fn delete_repository(&self, repo: &RepoId) -> Result<(), GitHubError> {
        self.write_to(repo, Method::DELETE, &repo_path(repo, ""), None).await.map(drop)
    }
}

/// What GitHub answered about a repository, as a [`CreatedRepository`].
fn created(asked: &RepoId, path: &str, answer: Value, made: bool) -> Result<CreatedRepository, WriteError> {
    let meta: RepoJson = from_value(path, answer)?;
    // GitHub's own spelling of the name, when it is a valid one (names compare without case).
    let repo = RepoId::new(meta.full_name.as_str()).unwrap_or_else(|_| asked.clone());
    let clone_url = meta.clone_url.ok_or_else(|| GitHubError::Malformed {
        request: format!("POST {path}"),
        message: "no clone_url for the repository".into(),
    })?;
    Ok(CreatedRepository {
        repo,
        clone_url,
        default_branch: meta.default_branch.unwrap_or_else(|| "main".to_owned()),
        private: meta.private,
        created: made,
    })
}
