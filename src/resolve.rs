//! `hive run`'s raw arguments and environment resolved into one validated [`RunPlan`] before anything is read or
//! sent (ripgrep's low-level arguments turned into high-level ones): a bad flag or variable is a [`UsageError`]
//! (exit 2) while nothing has happened yet, never a failure after GitHub was already asked.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::{Context, bail};
use hive::{
    EmergencyConfig, RepoId,
    actors::{AutonomyConfig, is_valid_owner},
    cerebrum::{QueenConfig, governance::ActionLevel},
    forge::{Budget, GitHubAuth, GitHubConfig, GitHubError, GitHubForges, RepoFilter, Target},
};

use crate::{
    cli::RunArgs,
    config::{EnvConfig, OrUsage},
};

/// Time between cycles when `ORCHESTRATION_INTERVAL` is not set.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// Everything `hive run` needs, validated.
pub struct RunPlan {
    /// What to watch.
    pub target: RunTarget,
    /// One cycle, then exit.
    pub once: bool,
    /// Time between cycles.
    pub interval: Duration,
    /// The queen's configuration (cycles, emergency, state directory).
    pub queen: QueenConfig,
}

/// What `hive run` watches.
pub enum RunTarget {
    /// A directory of git repositories, watched offline.
    Workspace {
        /// The workspace.
        dir: PathBuf,
        /// Where local CI results are cached.
        cache_dir: PathBuf,
        /// How long one test command may run.
        test_timeout: Duration,
        /// Whether local CI verdicts are cached (`--no-cache` turns it off).
        cache: bool,
        /// Test commands given for the repositories, run instead of the detected ones.
        test_commands: crate::settings::TestCommands,
        /// The autonomy loop's policy: findings into the backlog, formatter fixes as branches (boxed: it is large
        /// next to paths).
        autonomy: Box<AutonomyConfig>,
    },
    /// GitHub repositories (boxed: the forge is large next to a path).
    GitHub(Box<GitHubPlan>),
}

/// The GitHub side of a plan: the forge, built but not yet asked anything, and the autonomy loop's configuration.
pub struct GitHubPlan {
    /// The forge over the configured targets and filters: one per credential (the default one and each
    /// organisation's own), each repository routed by its owner.
    pub forge: GitHubForges,
    /// The autonomy loop's policy, owners, alert repository and secrets.
    pub autonomy: AutonomyConfig,
    /// Each credential's rate budget with the token as a budget shared with other processes knows it (named for
    /// a fleet by a keyed hash, never shown); anonymous access has none.
    pub budgets: Vec<SharedBudget>,
}

/// A credential's rate budget and its token as shared budgets know it.
pub type SharedBudget = (Arc<Budget>, hive::forge::BudgetToken);

impl RunPlan {
    /// Resolves `hive run`'s arguments, the environment settings and the GitHub variables (read through `lookup`, so
    /// tests need not touch the process environment). Every error is a [`UsageError`](crate::config::UsageError).
    pub fn resolve(
        args: &RunArgs,
        env: &EnvConfig,
        state_dir: &Path,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<RunPlan> {
        RunPlan::build(args, env, state_dir, lookup).or_usage()
    }

    fn build(
        args: &RunArgs,
        env: &EnvConfig,
        state_dir: &Path,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<RunPlan> {
        let github = !(args.targets.orgs.is_empty() && args.targets.users.is_empty() && args.targets.repos.is_empty());
        let target = match (github, &args.targets.workspace) {
            (true, Some(_)) => bail!(
                "give either GitHub targets (--org/--user/--repo) or --workspace DIR, not both; run two hives for both"
            ),
            (true, None) => {
                let autonomy = autonomy_config(args, env, state_dir, &lookup)?;
                let (forge, budgets) = github_forge(args, &lookup)?;
                RunTarget::GitHub(Box::new(GitHubPlan { forge, autonomy, budgets }))
            }
            (false, Some(dir)) => RunTarget::Workspace {
                dir: dir.clone(),
                cache_dir: state_dir.join("cache").join("local-ci"),
                test_timeout: Duration::from_secs(args.targets.test_timeout),
                cache: !args.targets.no_cache,
                test_commands: args.file.test_commands.clone(),
                autonomy: Box::new(autonomy_config(args, env, state_dir, &lookup)?),
            },
            (false, None) => bail!(
                "nothing to watch: give a local workspace with `hive run --workspace DIR` (a directory of git repositories) or a GitHub target with `--org/--user/--repo` and GITHUB_TOKEN"
            ),
        };
        let interval = env.orchestration_interval.unwrap_or(DEFAULT_INTERVAL);
        let queen = QueenConfig {
            cycle_interval: (!args.once).then_some(interval),
            emergency_cycle_interval: (interval / 2).max(Duration::from_secs(1)),
            emergency: crate::config::emergency(
                &args.emergency,
                args.file.emergency.apply(EmergencyConfig { forced: env.emergency_mode, ..EmergencyConfig::default() }),
            )?,
            state_dir: Some(state_dir.to_path_buf()),
            keep_snapshots: Some(args.file.keep_snapshots),
            reconcile_every: args.reconcile_every.unwrap_or(1),
            ..QueenConfig::default()
        };
        Ok(RunPlan { target, once: args.once, interval, queen })
    }
}

/// The autonomy loop's configuration from `hive run`'s arguments (and their `HIVE_*` variables, and what only the
/// configuration file sets: overrides, retention).
fn autonomy_config(
    run: &RunArgs,
    env: &EnvConfig,
    state_dir: &Path,
    lookup: &impl Fn(&str) -> Option<String>,
) -> anyhow::Result<AutonomyConfig> {
    let args = &run.autonomy;
    let mut config = AutonomyConfig::new(state_dir);
    config.overrides = run.file.overrides.clone();
    config.keep_cycles = Some(run.file.keep_cycles);
    let policy = &mut config.policy;
    policy.level = args.level.parse::<ActionLevel>().map_err(|err| anyhow::anyhow!("invalid --level: {err}"))?;
    policy.switches.autonomy = args.autonomy;
    policy.switches.automerge = args.automerge;
    policy.switches.dry_run = args.dry_run;
    policy.emergency.active = env.emergency_mode;
    policy.limits.prs_per_day = args.max_prs_per_day;
    policy.limits.issues_per_hour = args.max_issues_per_hour;
    policy.limits.comments_per_issue_per_day = args.max_comments_per_issue_per_day;
    policy.limits.content_per_minute = args.max_content_per_minute;
    for owner in args.owners.iter().map(|o| o.trim().trim_start_matches('@')).filter(|o| !o.is_empty()) {
        if !is_valid_owner(owner) {
            bail!("invalid --owner '{}': expected a GitHub login (alice) or team (acme/core)", owner.escape_debug());
        }
        config.owners.push(owner.to_owned());
    }
    if let Some(repo) = &args.alert_repo {
        let repo = RepoId::new(repo.as_str())
            .with_context(|| format!("invalid --alert-repo '{}': expected owner/name", repo.escape_debug()))?;
        config.alert_repo = Some(repo);
    }
    config.escalate_after = args.escalate_after;
    // The configuration's own secrets too: what the loop writes (issue bodies, audit records, snapshots) redacts a
    // token read from a file as it does one from a variable.
    config.secrets = secrets(lookup);
    config.secrets.extend(crate::terminal::configured_secrets());
    Ok(config)
}

/// The values of the secret variables that are set, for redaction.
pub fn secrets(lookup: impl Fn(&str) -> Option<String>) -> Vec<String> {
    crate::terminal::SECRET_VARS.iter().filter_map(|key| lookup(key)).filter(|value| !value.is_empty()).collect()
}

/// The GitHub forges from the environment (token, URLs), the organisations' own credentials and the arguments
/// (targets, filters); building them checks the URLs, the globs and the credentials' form without sending anything.
/// With them, each credential's budget and its id.
fn github_forge(
    args: &RunArgs,
    lookup: &impl Fn(&str) -> Option<String>,
) -> anyhow::Result<(GitHubForges, Vec<SharedBudget>)> {
    let owners = &args.file.org_credentials;
    let mut config = match GitHubConfig::from_lookup(lookup) {
        // Every target's owner has a credential of its own: the default one is not needed.
        Err(GitHubError::MissingToken) if !owners.is_empty() && every_owner_has_one(args, owners) => {
            let mut config = GitHubConfig::new(GitHubAuth::None);
            if let Some(url) = lookup("GITHUB_API_URL").filter(|url| !url.trim().is_empty()) {
                config.api_url = url.trim().trim_end_matches('/').to_owned();
            }
            config.graphql_url = lookup("GITHUB_GRAPHQL_URL").filter(|url| !url.trim().is_empty());
            config
        }
        other => other?,
    };
    for (flag, names, target) in [
        ("--org", &args.targets.orgs, Target::Org as fn(String) -> Target),
        ("--user", &args.targets.users, Target::User),
    ] {
        for name in names {
            // A login, never a team: it becomes a URL path segment.
            if name.contains('/') || !is_valid_owner(name) {
                bail!("invalid {flag} '{}': expected a GitHub login such as acme", name.escape_debug());
            }
            config.targets.push(target(name.clone()));
        }
    }
    for repo in &args.targets.repos {
        let repo = RepoId::new(repo.as_str())
            .with_context(|| format!("invalid --repo '{}': expected owner/name", repo.escape_debug()))?;
        config.targets.push(Target::Repo(repo));
    }
    config.filter = RepoFilter {
        include: args.targets.include.clone(),
        exclude: args.targets.exclude.clone(),
        archived: args.targets.all_kinds,
        forks: args.targets.all_kinds,
        templates: args.targets.all_kinds,
        owner_include: args.file.org_includes.clone(),
    };
    let forges = GitHubForges::new(config, owners.clone())?;
    let budgets = forges
        .budgets()
        .filter_map(|(auth, budget)| Some((Arc::clone(budget), hive::forge::budget_token(auth)?)))
        .collect();
    Ok((forges, budgets))
}

/// Whether every `--org`, `--user` and `--repo`, and the `--alert-repo` (which is written to only in an
/// emergency, when a missing credential would be found too late), names an owner with a credential of its own.
fn every_owner_has_one(args: &RunArgs, owners: &[(String, GitHubAuth)]) -> bool {
    let has = |owner: &str| owners.iter().any(|(known, _)| known.eq_ignore_ascii_case(owner));
    let owner_of = |repo: &str| repo.split('/').next().unwrap_or_default().to_owned();
    let targets = &args.targets;
    targets.orgs.iter().chain(&targets.users).all(|owner| has(owner))
        && targets.repos.iter().chain(&args.autonomy.alert_repo).all(|repo| has(&owner_of(repo)))
}

#[cfg(test)]
mod tests;
