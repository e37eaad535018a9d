//! `GitHubForges`: one [`GitHubForge`] per credential, each repository read and written with its owner's.
//!
//! An organisation may have its own credential (a token of its own, or its own installation of the GitHub App), and
//! each credential has its own rate budget on GitHub: an installation's 5,000 to 15,000 points an hour are spent on
//! its organisation only. So every credential gets a forge of its own, built from the same configuration with its own
//! authentication, its own [`Budget`] and the targets of its owners only; every other owner's repositories go
//! through the default credential's forge. Owners sharing one credential share one forge (and one budget), and with
//! no credential of its own the router holds one forge and adds nothing to it.

use std::{collections::HashMap, path::Path, sync::Arc};

use hive_ecosystem::{FixOutcome, PreparedFix};

use super::{Budget, GitHubAuth, GitHubConfig, GitHubError, GitHubForge, NAME, Target};
use crate::{
    ApiUsage, Capabilities, CheckRun, CombinedStatus, CreatedIssue, CreatedRepository, Forge, ForgeError, ForgeWriter,
    IssueChange, IssueComment, IssueDetail, MergeResult, Origin, PullChange, PullDetail, RepoId, RepoSnapshot, Review,
    RunDetail, WriteError,
};

/// One forge per credential, routed by each repository's owner (compared without regard to case, as GitHub
/// compares logins).
///
/// ```no_run
/// use hive_forge::{Forge, GitHubAuth, GitHubConfig, GitHubForges, Secret, Target};
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let mut config = GitHubConfig::from_lookup(|key| std::env::var(key).ok())?;
/// config.targets.push(Target::Org("acme".into()));
/// config.targets.push(Target::Org("widgets".into()));
/// let widgets = GitHubAuth::Token(Secret::new(std::env::var("WIDGETS_TOKEN")?));
/// let forges = GitHubForges::new(config, vec![("widgets".to_owned(), widgets)])?;
/// for repo in forges.discover().await? {
///     println!("{repo}");
/// }
/// # Ok(()) }
/// ```
pub struct GitHubForges {
    /// The default credential's forge first, then one per other credential, in the order first named.
    members: Vec<Member>,
    /// The member of each owner with a credential of its own, by lowercase login.
    by_owner: HashMap<String, usize>,
    /// The owner of the configuration's first target, whatever its credential.
    first_owner: Option<String>,
}

/// One credential's forge.
struct Member {
    auth: GitHubAuth,
    forge: GitHubForge,
}

impl GitHubForges {
    /// A forge per credential: `config`'s own for every owner not in `owners`, and each owner's own credential for
    /// its repositories. Each is given the targets of its owners only; an owner named twice (in any case) is a
    /// configuration error.
    pub fn new(config: GitHubConfig, owners: Vec<(String, GitHubAuth)>) -> Result<GitHubForges, GitHubError> {
        let mut auths = vec![config.auth.clone()];
        let mut by_owner = HashMap::new();
        for (owner, auth) in owners {
            let key = owner.to_lowercase();
            if by_owner.contains_key(&key) {
                return Err(GitHubError::Config {
                    message: format!("the owner '{owner}' has two credentials; give each owner one"),
                });
            }
            // Owners with the same credential share its forge: on GitHub they share its budget too.
            let index = match auths.iter().position(|known| *known == auth) {
                Some(index) => index,
                None => {
                    auths.push(auth);
                    auths.len() - 1
                }
            };
            by_owner.insert(key, index);
        }
        let first_owner = config.targets.first().map(|target| target_owner(target).to_owned());
        let mut targets = vec![Vec::new(); auths.len()];
        for target in &config.targets {
            let index = by_owner.get(&target_owner(target).to_lowercase()).copied().unwrap_or(0);
            targets[index].push(target.clone());
        }
        let members = auths
            .into_iter()
            .zip(targets)
            .map(|(auth, targets)| {
                let forge = GitHubForge::new(GitHubConfig { auth: auth.clone(), targets, ..config.clone() })?;
                Ok(Member { auth, forge })
            })
            .collect::<Result<_, GitHubError>>()?;
        Ok(GitHubForges { members, by_owner, first_owner })
    }

    /// The forge of `owner`'s repositories.
    pub fn forge_for(&self, owner: &str) -> &GitHubForge {
        let index = self.by_owner.get(&owner.to_lowercase()).copied().unwrap_or(0);
        &self.members[index].forge
    }

    fn route(&self, repo: &RepoId) -> &GitHubForge {
        self.forge_for(repo.owner())
    }

    /// Each credential with its forge's rate budget, the default one first: what a cluster shares per credential.
    pub fn budgets(&self) -> impl Iterator<Item = (&GitHubAuth, &Arc<Budget>)> {
        self.members.iter().map(|member| (&member.auth, member.forge.budget()))
    }

    /// Requests that cost points so far, over every credential.
    pub fn points_spent(&self) -> u64 {
        self.members.iter().map(|member| member.forge.points_spent()).sum()
    }

    /// Who owns what these forges watch, as the configuration's first target names it.
    pub fn first_owner(&self) -> Option<&str> {
        self.first_owner.as_deref()
    }
}

impl std::fmt::Debug for GitHubForges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.members.iter().map(|member| &member.forge)).finish()
    }
}

fn target_owner(target: &Target) -> &str {
    match target {
        Target::Org(owner) | Target::User(owner) => owner,
        Target::Repo(repo) => repo.owner(),
    }
}

#[async_trait::async_trait]
impl Forge for GitHubForges {
    fn name(&self) -> &str {
        NAME
    }

    /// The points and 304s of every credential added up; the remainder is the lowest any reported, the one that
    /// runs out first.
    fn api_usage(&self) -> Option<ApiUsage> {
        let mut total = ApiUsage::default();
        for usage in self.members.iter().filter_map(|member| member.forge.api_usage()) {
            total.points_spent += usage.points_spent;
            total.not_modified += usage.not_modified;
            total.remaining = match (total.remaining, usage.remaining) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Some(total)
    }

    /// Every credential's repositories, in one sorted list as a single forge gives them.
    async fn discover(&self) -> Result<Vec<RepoId>, ForgeError> {
        let mut repos = Vec::new();
        for member in &self.members {
            repos.extend(member.forge.discover().await?);
        }
        repos.sort();
        repos.dedup();
        Ok(repos)
    }

    fn forget(&self, repo: &RepoId) {
        Forge::forget(self.route(repo), repo);
    }

    async fn snapshot(&self, repo: &RepoId) -> Result<RepoSnapshot, ForgeError> {
        self.route(repo).snapshot(repo).await
    }
}

#[async_trait::async_trait]
impl ForgeWriter for GitHubForges {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        ForgeWriter::capabilities(self.forge_for(""))
    }

    fn fix_source(&self, snapshot: &RepoSnapshot) -> Option<String> {
        self.route(&snapshot.repo).fix_source(snapshot)
    }

    async fn publish_fix(&self, repo: &RepoId, fix: PreparedFix) -> Result<FixOutcome, WriteError> {
        ForgeWriter::publish_fix(self.route(repo), repo, fix).await
    }

    async fn fix_merged(&self, repo: &RepoId, head: &str, base: &str) -> Result<bool, WriteError> {
        ForgeWriter::fix_merged(self.route(repo), repo, head, base).await
    }

    async fn issues_labelled(&self, repo: &RepoId, label: &str) -> Result<Vec<IssueDetail>, WriteError> {
        ForgeWriter::issues_labelled(self.route(repo), repo, label).await
    }

    async fn issue_comments(&self, repo: &RepoId, number: u64) -> Result<Vec<IssueComment>, WriteError> {
        ForgeWriter::issue_comments(self.route(repo), repo, number).await
    }

    async fn create_issue(
        &self,
        repo: &RepoId,
        title: &str,
        body: &str,
        labels: &[String],
    ) -> Result<CreatedIssue, WriteError> {
        ForgeWriter::create_issue(self.route(repo), repo, title, body, labels).await
    }

    async fn update_issue(&self, repo: &RepoId, number: u64, change: &IssueChange) -> Result<CreatedIssue, WriteError> {
        ForgeWriter::update_issue(self.route(repo), repo, number, change).await
    }

    async fn close_issue(&self, repo: &RepoId, number: u64) -> Result<CreatedIssue, WriteError> {
        ForgeWriter::close_issue(self.route(repo), repo, number).await
    }

    async fn reopen_issue(&self, repo: &RepoId, number: u64) -> Result<CreatedIssue, WriteError> {
        ForgeWriter::reopen_issue(self.route(repo), repo, number).await
    }

    async fn comment(&self, repo: &RepoId, number: u64, body: &str) -> Result<u64, WriteError> {
        ForgeWriter::comment(self.route(repo), repo, number, body).await
    }

    async fn add_labels(&self, repo: &RepoId, number: u64, labels: &[String]) -> Result<Vec<String>, WriteError> {
        ForgeWriter::add_labels(self.route(repo), repo, number, labels).await
    }

    async fn workflow_run(&self, repo: &RepoId, run_id: u64) -> Result<RunDetail, WriteError> {
        ForgeWriter::workflow_run(self.route(repo), repo, run_id).await
    }

    async fn rerun_failed_jobs(&self, repo: &RepoId, run_id: u64) -> Result<(), WriteError> {
        ForgeWriter::rerun_failed_jobs(self.route(repo), repo, run_id).await
    }

    async fn pulls_for_branch(&self, repo: &RepoId, branch: &str) -> Result<Vec<PullDetail>, WriteError> {
        ForgeWriter::pulls_for_branch(self.route(repo), repo, branch).await
    }

    async fn create_pull(
        &self,
        repo: &RepoId,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
        draft: bool,
    ) -> Result<PullDetail, WriteError> {
        ForgeWriter::create_pull(self.route(repo), repo, head, base, title, body, draft).await
    }

    async fn update_pull(&self, repo: &RepoId, number: u64, change: &PullChange) -> Result<PullDetail, WriteError> {
        ForgeWriter::update_pull(self.route(repo), repo, number, change).await
    }

    async fn pull(&self, repo: &RepoId, number: u64) -> Result<PullDetail, WriteError> {
        ForgeWriter::pull(self.route(repo), repo, number).await
    }

    async fn file_text(&self, repo: &RepoId, path: &str, git_ref: &str) -> Result<Option<String>, WriteError> {
        ForgeWriter::file_text(self.route(repo), repo, path, git_ref).await
    }

    async fn check_runs(&self, repo: &RepoId, git_ref: &str) -> Result<Vec<CheckRun>, WriteError> {
        ForgeWriter::check_runs(self.route(repo), repo, git_ref).await
    }

    async fn combined_status(&self, repo: &RepoId, git_ref: &str) -> Result<CombinedStatus, WriteError> {
        ForgeWriter::combined_status(self.route(repo), repo, git_ref).await
    }

    async fn merge_head(
        &self,
        repo: &RepoId,
        number: u64,
        method: &str,
        sha: Option<&str>,
    ) -> Result<MergeResult, WriteError> {
        ForgeWriter::merge_head(self.route(repo), repo, number, method, sha).await
    }

    async fn create_repository(
        &self,
        owner: &str,
        name: &str,
        description: &str,
        private: bool,
    ) -> Result<CreatedRepository, WriteError> {
        ForgeWriter::create_repository(self.forge_for(owner), owner, name, description, private).await
    }

    async fn push_branch(&self, repo: &RepoId, source: &Path, branch: &str) -> Result<String, WriteError> {
        ForgeWriter::push_branch(self.route(repo), repo, source, branch).await
    }

    async fn pull_reviews(&self, repo: &RepoId, number: u64) -> Result<Vec<Review>, WriteError> {
        ForgeWriter::pull_reviews(self.route(repo), repo, number).await
    }

    async fn delete_repository(&self, repo: &RepoId) -> Result<(), WriteError> {
        ForgeWriter::delete_repository(self.route(repo), repo).await
    }

    async fn origin(&self, repo: &RepoId) -> Result<Origin, WriteError> {
        ForgeWriter::origin(self.route(repo), repo).await
    }
}
