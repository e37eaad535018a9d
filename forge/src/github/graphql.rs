//! Batched repository reads over GraphQL: one query reads the metadata of up to 100 repositories for about one
//! point, where REST pays one request per repository.
//!
//! The query text is built here and nowhere else, so a unit test can validate exactly what the forge sends against
//! GitHub's published schema (`testkit/graphql/schema.graphql`).

use serde_json::Value;

use super::{GitHubError, GitHubForge, models::RepoJson};
use crate::RepoId;

/// Repositories read by one query at most: GitHub's node limit for a single level of a query.
pub(crate) const BATCH: usize = 100;

/// The fields read for each repository, as a fragment so that a query of 100 aliases stays small.
const FRAGMENT: &str = "fragment RepoMeta on Repository {
  nameWithOwner
  isArchived
  isDisabled
  isFork
  isTemplate
  stargazerCount
  forkCount
  watchers { totalCount }
  defaultBranchRef { name }
  pushedAt
  licenseInfo { spdxId key }
  issues(states: OPEN) { totalCount }
  pullRequests(states: OPEN) { totalCount }
}";

/// The query reading `repos` (at most [`BATCH`]), each under the alias `r{index}`.
pub(crate) fn repository_batch_query(repos: &[RepoId]) -> String {
    let mut query = String::from("query RepositoryBatch {\n");
    for (index, repo) in repos.iter().enumerate() {
        // JSON string literals are valid GraphQL string literals, and quoting keeps any name from breaking out.
        let owner = Value::from(repo.owner()).to_string();
        let name = Value::from(repo.name()).to_string();
        query.push_str(&format!("  r{index}: repository(owner: {owner}, name: {name}) {{ ...RepoMeta }}\n"));
    }
    query.push_str("}\n");
    query.push_str(FRAGMENT);
    query
}

/// Reads the metadata of `repos`, [`BATCH`] per query; a repository that is gone is left out.
pub(crate) async fn repositories(forge: &GitHubForge, repos: &[RepoId]) -> Result<Vec<RepoJson>, GitHubError> {
    let mut found = Vec::with_capacity(repos.len());
    for chunk in repos.chunks(BATCH) {
        let data = forge.client.graphql(&repository_batch_query(chunk), Value::Null).await?;
        for index in 0..chunk.len() {
            if let Some(repo) = data.get(format!("r{index}")).and_then(parse) {
                found.push(repo);
            }
        }
    }
    Ok(found)
}

/// One aliased answer as the REST shape the rest of the forge reads; `None` for a null (missing) repository.
fn parse(value: &Value) -> Option<RepoJson> {
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    let flag = |key: &str| value.get(key).and_then(Value::as_bool).unwrap_or(false);
    let count = |key: &str| value.get(key).and_then(|v| v.get("totalCount")).and_then(Value::as_u64);
    let license = value.get("licenseInfo").filter(|l| !l.is_null()).map(|l| super::models::LicenseJson {
        spdx_id: l.get("spdxId").and_then(Value::as_str).map(str::to_owned),
        key: l.get("key").and_then(Value::as_str).map(str::to_owned),
    });
    Some(RepoJson {
        clone_url: text("url").map(|url| format!("{url}.git")),
        full_name: text("nameWithOwner")?,
        archived: flag("isArchived"),
        disabled: flag("isDisabled"),
        fork: flag("isFork"),
        is_template: flag("isTemplate"),
        default_branch: value
            .get("defaultBranchRef")
            .and_then(|b| b.get("name"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        pushed_at: text("pushedAt"),
        stargazers_count: value.get("stargazerCount").and_then(Value::as_u64).unwrap_or(0),
        forks_count: value.get("forkCount").and_then(Value::as_u64).unwrap_or(0),
        subscribers_count: count("watchers"),
        license,
        // Not asked for: discovery and snapshots do not use them.
        private: false,
        description: None,
    })
}
