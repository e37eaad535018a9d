//! The GitHub forge: discovery of an organisation's, a user's or listed repositories, and snapshots of what a
//! maintainer would look at, read through octocrab under one shared rate-limit [`Budget`].
//!
//! Cost is the physical limit of this forge (5,000 points an hour per token), so every read is a conditional
//! request: a `304 Not Modified` reuses the cached answer and costs nothing. Answers that cannot be conditional
//! (a Dependabot 403) are remembered for a while instead of being asked again every cycle.
//!
//! Writes the autonomy loop uses (issues, labels, re-runs, branches, pull requests, merges) are inherent methods
//! in [`writes`](self::writes), not part of the [`Forge`] trait; those about whole repositories (create, push a
//! branch, reviews, delete) are in [`repos`](self::repos).

use std::{
    collections::BTreeMap,
    fmt,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime},
};

use dashmap::DashMap;
use globset::{Glob, GlobSet, GlobSetBuilder};
use tokio::time::Instant;

use crate::{ApiUsage, Forge, ForgeError, RepoId, RepoSnapshot};

mod batch;
mod budget;
mod client;
mod contents;
mod error;
mod graphql;
mod lookup;
mod models;
mod owners;
mod read;
mod repos;
mod snapshots;
#[cfg(test)]
mod tests;
mod writes;

pub use budget::{
    Budget, BudgetToken, DEFAULT_MAX_IN_FLIGHT, RequestKind, Resource, Seen, SharedBudget, WRITE_GAP,
    WRITES_PER_MINUTE, budget_token,
};
pub use error::{GitHubError, MISSING_TOKEN};
pub use lookup::{IssueComment, IssueDetail, PullDetail, RunDetail};
/// The one RFC 3339 parser of the forge, also for snapshots read back from JSON.
pub(crate) use models::parse_time;
pub use owners::GitHubForges;
pub use writes::{CheckRun, CombinedStatus, CreatedIssue, IssueChange, MergeResult, PullChange, PullRequest};

use client::Client;

/// The forge's name, as [`Forge::name`] reports it.
pub(crate) const NAME: &str = "github";
/// The public API.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// How long a "not permitted" answer about Dependabot alerts is believed before asking again.
const UNKNOWN_ALERTS_TTL: Duration = Duration::from_secs(3600);

/// A secret string (a token, a private key) whose `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How the forge authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GitHubAuth {
    /// Anonymous: only for an emulator or a server that allows it.
    None,
    /// A personal access token or `GITHUB_TOKEN`.
    Token(Secret),
    /// A GitHub App installation; octocrab mints and refreshes installation tokens.
    App {
        /// The app's id.
        app_id: u64,
        /// The app's RSA private key, PEM.
        private_key_pem: Secret,
        /// The installation to act as.
        installation_id: u64,
    },
}

impl GitHubAuth {
    /// A token read from `source` (a variable's name, a key of the configuration file), checked for what an HTTP
    /// header cannot carry: a line break or a control character would be refused (or make the header code panic).
    /// The message names the source, never the value.
    pub fn token(source: &str, token: String) -> Result<GitHubAuth, GitHubError> {
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(GitHubError::Config {
                message: format!(
                    "{source} holds a character a token cannot have (a space, a line break, a control or non-ASCII \
                     character); copy the token again without extra characters"
                ),
            });
        }
        Ok(GitHubAuth::Token(Secret::new(token)))
    }

    /// The process's GitHub App (`HIVE_GITHUB_APP_ID`, `HIVE_GITHUB_APP_KEY_FILE`, read through `lookup`) acting as
    /// `installation_id`: how an organisation with its own installation of the app is read and written. The key file
    /// is read here, so a missing or unreadable one is an error before anything is sent.
    pub fn app_installation(
        lookup: impl Fn(&str) -> Option<String>,
        installation_id: u64,
    ) -> Result<GitHubAuth, GitHubError> {
        let get = |key: &str| lookup(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let app_id = app_number(
            "HIVE_GITHUB_APP_ID",
            get("HIVE_GITHUB_APP_ID"),
            "HIVE_GITHUB_APP_ID and HIVE_GITHUB_APP_KEY_FILE",
        )?;
        let key_file = PathBuf::from(get("HIVE_GITHUB_APP_KEY_FILE").ok_or_else(|| GitHubError::Config {
            message: "HIVE_GITHUB_APP_KEY_FILE is not set; give the path of the app's private key (.pem)".into(),
        })?);
        // A PEM key is a few KiB; the bound keeps a wrong path (a device, a FIFO, a huge file) harmless.
        let pem = hive_support::read_bounded(&key_file, 64 << 10)
            .and_then(|bytes| String::from_utf8(bytes).map_err(std::io::Error::other))
            .map_err(|err| GitHubError::Config {
                message: format!("cannot read the GitHub App key file '{}': {err}", key_file.display()),
            })?;
        Ok(GitHubAuth::App { app_id, private_key_pem: Secret::new(pem), installation_id })
    }
}

/// A GitHub App's number (its id, an installation's id) from the variable `key`; `needs` names what an app needs.
fn app_number(key: &str, value: Option<String>, needs: &str) -> Result<u64, GitHubError> {
    let value = value
        .ok_or_else(|| GitHubError::Config { message: format!("{key} is not set; a GitHub App needs {needs}") })?;
    value.parse().map_err(|_| GitHubError::Config {
        message: format!("{key} '{value}' is not a number; copy it from the app's settings"),
    })
}

/// What to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every repository of an organisation.
    Org(String),
    /// Every repository a user owns.
    User(String),
    /// One repository.
    Repo(RepoId),
}

/// Which discovered repositories to keep.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RepoFilter {
    /// Keep only repositories matching one of these globs (all when empty). A glob with a `/` is matched against
    /// `owner/name`, one without against the name.
    pub include: Vec<String>,
    /// Drop repositories matching one of these globs.
    pub exclude: Vec<String>,
    /// Keep archived repositories (skipped by default).
    pub archived: bool,
    /// Keep forks (skipped by default).
    pub forks: bool,
    /// Keep template repositories (skipped by default).
    pub templates: bool,
    /// By owner (as GitHub spells it): keep only that owner's repositories matching one of these globs, on top of
    /// `include`; other owners' repositories are not affected.
    pub owner_include: BTreeMap<String, Vec<String>>,
}

/// The resolved configuration of a [`GitHubForge`].
#[derive(Debug, Clone)]
pub struct GitHubConfig {
    /// The REST API's base URL (`GITHUB_API_URL`).
    pub api_url: String,
    /// The GraphQL URL (`GITHUB_GRAPHQL_URL`); `None` derives it from `api_url`.
    pub graphql_url: Option<String>,
    /// Credentials.
    pub auth: GitHubAuth,
    /// What to watch.
    pub targets: Vec<Target>,
    /// Which repositories to keep.
    pub filter: RepoFilter,
    /// Requests in flight at most (below 100).
    pub max_in_flight: usize,
    /// Timeout of one request (connect, read, write).
    pub timeout: Duration,
    /// Read snapshots through batched GraphQL (the default; a server without GraphQL is read over REST all the
    /// same, once it has said so). `false` reads every snapshot over REST.
    pub graphql_snapshots: bool,
}

impl GitHubConfig {
    /// A configuration for the public API with the given credentials and nothing to watch yet.
    pub fn new(auth: GitHubAuth) -> GitHubConfig {
        GitHubConfig {
            api_url: DEFAULT_API_URL.to_owned(),
            graphql_url: None,
            auth,
            targets: Vec::new(),
            filter: RepoFilter::default(),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            timeout: client::DEFAULT_TIMEOUT,
            graphql_snapshots: true,
        }
    }

    /// Reads the environment through `lookup`: `GITHUB_TOKEN` or `GH_TOKEN`, `GITHUB_API_URL`,
    /// `GITHUB_GRAPHQL_URL`, and for a GitHub App `HIVE_GITHUB_APP_ID`, `HIVE_GITHUB_APP_KEY_FILE` and
    /// `HIVE_GITHUB_APP_INSTALLATION_ID`.
    ///
    /// Without any credentials this is [`GitHubError::MissingToken`], unless `GITHUB_API_URL` names a server
    /// (an emulator, an enterprise server) that may be read anonymously.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<GitHubConfig, GitHubError> {
        let get = |key: &str| lookup(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let api_url = get("GITHUB_API_URL");
        let token = match get("GITHUB_TOKEN") {
            Some(token) => Some(("GITHUB_TOKEN", token)),
            None => get("GH_TOKEN").map(|token| ("GH_TOKEN", token)),
        };
        let auth = if let Some((key, token)) = token {
            GitHubAuth::token(key, token)?
        } else if get("HIVE_GITHUB_APP_ID").is_some() {
            let installation_id = app_number(
                "HIVE_GITHUB_APP_INSTALLATION_ID",
                get("HIVE_GITHUB_APP_INSTALLATION_ID"),
                "HIVE_GITHUB_APP_ID, HIVE_GITHUB_APP_KEY_FILE and HIVE_GITHUB_APP_INSTALLATION_ID",
            )?;
            GitHubAuth::app_installation(&lookup, installation_id)?
        } else if api_url.is_some() {
            GitHubAuth::None
        } else {
            return Err(GitHubError::MissingToken);
        };
        let mut config = GitHubConfig::new(auth);
        if let Some(url) = api_url {
            config.api_url = url.trim_end_matches('/').to_owned();
        }
        config.graphql_url = get("GITHUB_GRAPHQL_URL");
        Ok(config)
    }

    /// The GraphQL URL: the configured one, else `https://api.github.com/graphql` for the public API,
    /// `https://HOST/api/graphql` for an enterprise server's `https://HOST/api/v3`, and `{api_url}/graphql`
    /// otherwise.
    pub fn graphql_url(&self) -> String {
        if let Some(url) = &self.graphql_url {
            return url.clone();
        }
        let api = self.api_url.trim_end_matches('/');
        match api.strip_suffix("/api/v3") {
            Some(host) => format!("{host}/api/graphql"),
            None => format!("{api}/graphql"),
        }
    }
}

/// A [`Forge`] over GitHub (or a GitHub Enterprise Server, or the hive emulator).
///
/// ```no_run
/// use hive_forge::{Forge, GitHubConfig, GitHubForge, Target};
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let mut config = GitHubConfig::from_lookup(|key| std::env::var(key).ok())?;
/// config.targets.push(Target::Org("rust-lang".into()));
/// let forge = GitHubForge::new(config)?;
/// for repo in forge.discover().await? {
///     let snapshot = forge.snapshot(&repo).await?;
///     println!("{repo}: ci {:?}", snapshot.ci.state);
/// }
/// println!("{} points spent", forge.points_spent());
/// # Ok(()) }
/// ```
pub struct GitHubForge {
    client: Arc<Client>,
    targets: Vec<Target>,
    filter: CompiledFilter,
    /// Repositories whose Dependabot alerts were not visible, and until when to believe that.
    alerts_unknown_until: DashMap<RepoId, Instant>,
    /// Repositories without SECURITY.md, and until when to believe that.
    policy_absent_until: DashMap<RepoId, Instant>,
    /// The check-run annotations read for each repository's failing run attempts.
    annotations: DashMap<RepoId, read::AnnotationCache>,
    /// Whether snapshots are read through GraphQL: configured, with credentials (GitHub's GraphQL API has no
    /// anonymous access), and until the server says it has no GraphQL endpoint.
    graphql: AtomicBool,
    /// Probes of repositories read before, batched.
    probes: batch::Batcher<snapshots::ProbeKey>,
    /// Full reads, batched.
    fulls: batch::Batcher,
    /// The failed jobs of failed runs, by check suite node id, batched.
    failed_suites: batch::Batcher<String>,
    /// Each repository's last GraphQL snapshot with its fingerprint.
    known: DashMap<RepoId, snapshots::Known>,
    /// How often each repository's last snapshot was forgotten (a write, [`Forge::forget`]): a read that began
    /// before keeps what it read to itself.
    forgotten: DashMap<RepoId, u64>,
    /// Each repository's last verdict per workflow, for the cycles its head commit does not decide.
    verdicts: DashMap<RepoId, snapshots::Verdicts>,
    /// Clone URLs from repository listings, preferred to one derived from GraphQL's `url`.
    clone_urls: DashMap<RepoId, String>,
}

impl GitHubForge {
    /// Who owns what this forge watches, as its first target names it (an organisation, a user, a repository's
    /// owner): where agents made by command get their repositories unless told otherwise.
    pub fn first_owner(&self) -> Option<&str> {
        self.targets.first().map(|target| match target {
            Target::Org(owner) | Target::User(owner) => owner.as_str(),
            Target::Repo(repo) => repo.owner(),
        })
    }
}

impl fmt::Debug for GitHubForge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHubForge").field("targets", &self.targets).field("client", &self.client).finish()
    }
}

impl GitHubForge {
    /// A forge for `config`, with its own budget.
    pub fn new(config: GitHubConfig) -> Result<GitHubForge, GitHubError> {
        let budget = Arc::new(Budget::new(config.max_in_flight));
        GitHubForge::with_budget(config, budget)
    }

    /// A forge sharing `budget` with others using the same token.
    pub fn with_budget(config: GitHubConfig, budget: Arc<Budget>) -> Result<GitHubForge, GitHubError> {
        let filter = CompiledFilter::new(&config.filter)?;
        let client = Arc::new(Client::new(&config, budget)?);
        let graphql = config.graphql_snapshots && config.auth != GitHubAuth::None;
        Ok(GitHubForge {
            probes: batch::Batcher::new(Arc::clone(&client), snapshots::probe_query, snapshots::PROBE_BATCH),
            fulls: batch::Batcher::new(Arc::clone(&client), snapshots::full_query, snapshots::FULL_BATCH),
            failed_suites: batch::Batcher::new(
                Arc::clone(&client),
                snapshots::failed_suites_query,
                snapshots::FAILED_SUITE_BATCH,
            ),
            client,
            targets: config.targets,
            filter,
            alerts_unknown_until: DashMap::new(),
            policy_absent_until: DashMap::new(),
            annotations: DashMap::new(),
            graphql: AtomicBool::new(graphql),
            known: DashMap::new(),
            forgotten: DashMap::new(),
            verdicts: DashMap::new(),
            clone_urls: DashMap::new(),
        })
    }

    /// The shared rate-limit budget.
    pub fn budget(&self) -> &Arc<Budget> {
        self.client.budget()
    }

    /// Forgets `repo`'s last snapshot, so its next read is a full one: a write changed it in a way its fingerprint
    /// may not show (a re-run that fails again leaves the head and the rollup as they were), or someone said it
    /// changed (a webhook).
    pub(crate) fn forget_snapshot(&self, repo: &RepoId) {
        // The count moves first, so a read under way cannot put back what it read before the change.
        *self.forgotten.entry(repo.clone()).or_insert(0) += 1;
        self.known.remove(repo);
    }

    /// How often `repo`'s snapshot was forgotten so far.
    pub(crate) fn forgotten(&self, repo: &RepoId) -> u64 {
        self.forgotten.get(repo).map_or(0, |count| *count)
    }

    /// Requests that cost points so far (every response but `304 Not Modified`).
    pub fn points_spent(&self) -> u64 {
        self.budget().points_spent()
    }

    /// Whether a discovered repository passes the filter.
    fn keep(&self, repo: &models::RepoJson) -> bool {
        if repo.disabled
            || (repo.archived && !self.filter.archived)
            || (repo.fork && !self.filter.forks)
            || (repo.is_template && !self.filter.templates)
        {
            return false;
        }
        self.filter.matches(&repo.full_name)
    }
}

#[async_trait::async_trait]
impl Forge for GitHubForge {
    fn name(&self) -> &str {
        NAME
    }

    fn api_usage(&self) -> Option<ApiUsage> {
        let budget = self.budget();
        Some(ApiUsage {
            points_spent: budget.points_spent(),
            not_modified: budget.not_modified(),
            remaining: budget.remaining(),
        })
    }

    async fn discover(&self) -> Result<Vec<RepoId>, ForgeError> {
        let listed: Vec<RepoId> = self
            .targets
            .iter()
            .filter_map(|t| if let Target::Repo(repo) = t { Some(repo.clone()) } else { None })
            .collect();
        let mut found = Vec::new();
        if listed.len() > 1 {
            // Several listed repositories: one GraphQL query per hundred instead of one REST request each.
            found.extend(graphql::repositories(self, &listed).await.map_err(GitHubError::into_discovery)?);
        }
        for target in &self.targets {
            if listed.len() > 1 && matches!(target, Target::Repo(_)) {
                continue;
            }
            found.extend(read::discover_target(self, target).await.map_err(GitHubError::into_discovery)?);
        }
        let mut repos: Vec<RepoId> = found
            .into_iter()
            .filter(|repo| self.keep(repo))
            .filter_map(|repo| {
                let id = RepoId::new(repo.full_name.as_str())
                    .inspect_err(|err| tracing::warn!(%err, "github listed an unusable repository name"))
                    .ok()?;
                if let Some(url) = repo.clone_url {
                    self.clone_urls.insert(id.clone(), url);
                }
                Some(id)
            })
            .collect();
        repos.sort();
        repos.dedup();
        Ok(repos)
    }

    fn forget(&self, repo: &RepoId) {
        self.forget_snapshot(repo);
    }

    async fn snapshot(&self, repo: &RepoId) -> Result<RepoSnapshot, ForgeError> {
        let now = SystemTime::now();
        if self.graphql.load(Ordering::Relaxed) {
            match snapshots::snapshot(self, repo, now).await {
                Ok(Some(snapshot)) => return Ok(snapshot),
                Ok(None) => {
                    // Said once per forge: every later snapshot is read over REST without asking again.
                    if self.graphql.swap(false, Ordering::Relaxed) {
                        tracing::warn!(
                            "the GitHub server has no GraphQL endpoint (GITHUB_GRAPHQL_URL); reading every repository \
                             over REST, which costs several requests per repository"
                        );
                    }
                }
                Err(err) => return Err(err.into_forge(repo)),
            }
        }
        read::snapshot(self, repo, now).await.map_err(|err| err.into_forge(repo))
    }
}

/// [`RepoFilter`] with its globs compiled.
#[derive(Debug)]
struct CompiledFilter {
    include: Option<(GlobSet, GlobSet)>,
    owner_include: BTreeMap<String, (GlobSet, GlobSet)>,
    exclude: (GlobSet, GlobSet),
    archived: bool,
    forks: bool,
    templates: bool,
}

impl CompiledFilter {
    fn new(filter: &RepoFilter) -> Result<CompiledFilter, GitHubError> {
        let include = if filter.include.is_empty() { None } else { Some(compile(&filter.include)?) };
        let owner_include = filter
            .owner_include
            .iter()
            .map(|(owner, globs)| Ok((owner.clone(), compile(globs)?)))
            .collect::<Result<_, _>>()?;
        Ok(CompiledFilter {
            include,
            owner_include,
            exclude: compile(&filter.exclude)?,
            archived: filter.archived,
            forks: filter.forks,
            templates: filter.templates,
        })
    }

    fn matches(&self, full_name: &str) -> bool {
        let name = full_name.rsplit('/').next().unwrap_or(full_name);
        let hit = |(full, short): &(GlobSet, GlobSet)| full.is_match(full_name) || short.is_match(name);
        let owner = full_name.split('/').next().unwrap_or_default();
        self.include.as_ref().is_none_or(hit) && self.owner_include.get(owner).is_none_or(hit) && !hit(&self.exclude)
    }
}

/// Globs with a `/` (matched against `owner/name`) and without (matched against the name).
fn compile(globs: &[String]) -> Result<(GlobSet, GlobSet), GitHubError> {
    let (mut full, mut short) = (GlobSetBuilder::new(), GlobSetBuilder::new());
    for pattern in globs {
        let glob = Glob::new(pattern).map_err(|err| GitHubError::Config {
            message: format!("invalid glob '{pattern}': {err}; use patterns such as 'api-*' or 'acme/*'"),
        })?;
        if pattern.contains('/') {
            full.add(glob)
        } else {
            short.add(glob)
        };
    }
    let build = |builder: GlobSetBuilder| {
        builder.build().map_err(|err| GitHubError::Config { message: format!("invalid glob set: {err}") })
    };
    Ok((build(full)?, build(short)?))
}
