//! `hive change plan|apply|status|resume|abort|rollback`: one change made in many repositories, merged all or none.
//!
//! The sets, their steps and their locks live in the state directory's `hive.db`; the same `apply` asked again (or
//! `resume`) carries a set on from wherever it stopped, also after the process was killed. A set that ends rolled
//! back is printed and then returned as an error, so the exit code says it.

use std::{path::Path, sync::Arc, time::Duration};

use anyhow::Context;
use hive::changes::{
    ChangeBook, ChangeEngine, ChangeError, ChangeId, ChangeRecord, ChangeSettings, ChangeSpec, ChangeState,
    MergeMethod, MergeRules, Operation, Plan, Targets,
};
use hive_cerebrum::{Memory, ScribeHandle};
use hive_forge::{Forge, ForgeWriter, GitHubConfig, GitHubForge, LocalForge, RepoId, Target};

use crate::{
    cli::{ChangeArgs, ChangeCommand, ChangeLimits, ChangeRequestArgs, FleetArgs, OperationArgs},
    config::{EnvConfig, OrUsage, UsageError},
    terminal,
};

/// How often a set waiting for checks is looked at again under `--wait`: each look reads every pull request's checks,
/// so not more often than a person would.
const POLL: Duration = Duration::from_secs(30);

/// Runs `hive change`.
pub async fn run(args: &ChangeArgs, env: &EnvConfig, state_dir: &Path, json: bool) -> anyhow::Result<()> {
    match &args.command {
        ChangeCommand::Plan(request) => {
            let spec = spec(request)?;
            let (engine, scribe) = engine(&request.fleet, &request.limits, &spec_repos(&spec), env, state_dir).await?;
            let plan = engine.plan(&spec).await;
            scribe.stop().await;
            print_plan(&plan.map_err(usage)?, json)
        }
        ChangeCommand::Apply(request) => {
            let spec = spec(request)?;
            let (engine, scribe) = engine(&request.fleet, &request.limits, &spec_repos(&spec), env, state_dir).await?;
            let result = async {
                let record = engine.apply(&spec).await?;
                wait(&engine, record, request.wait).await
            }
            .await;
            scribe.stop().await;
            if let Err(err @ ChangeError::NoChange { .. }) = &result {
                if json {
                    println!(
                        "{}",
                        terminal::json_line(serde_json::json!({ "changed": 0, "message": err.to_string() }))?
                    );
                } else {
                    println!("{err}");
                }
                return Ok(());
            }
            finish(result.map_err(usage)?, json)
        }
        ChangeCommand::Status { id, fleet: _ } => {
            let scribe = ScribeHandle::spawn(Memory::open(state_dir)?).await?;
            let result = status(&scribe, id.as_deref(), json).await;
            scribe.stop().await;
            result
        }
        ChangeCommand::Resume(by_id) | ChangeCommand::Abort(by_id) | ChangeCommand::Rollback(by_id) => {
            let id = ChangeId::parse(&by_id.id).or_usage()?;
            let (engine, scribe) = engine(&by_id.fleet, &by_id.limits, &[], env, state_dir).await?;
            let result = async {
                let record = match &args.command {
                    ChangeCommand::Abort(_) => engine.abort(&id).await?,
                    ChangeCommand::Rollback(_) => engine.rollback(&id).await?,
                    _ => engine.resume(&id).await?,
                };
                wait(&engine, record, by_id.wait).await
            }
            .await;
            scribe.stop().await;
            finish(result.map_err(usage)?, json)
        }
    }
}

/// The spec the arguments ask for, checked.
fn spec(args: &ChangeRequestArgs) -> anyhow::Result<ChangeSpec> {
    let method = match args.merge_method.as_str() {
        "merge" => MergeMethod::Merge,
        "squash" => MergeMethod::Squash,
        other => {
            return Err(UsageError::error(format!(
                "--merge-method '{}' is not one; use merge or squash",
                other.escape_debug()
            )));
        }
    };
    let operation = match &args.operation {
        OperationArgs::Run { timeout, argv } => Operation::Run { argv: argv.clone(), timeout_secs: *timeout },
        OperationArgs::Sync { source, paths, delete_missing } => Operation::Sync {
            source: source.clone(),
            paths: paths.clone(),
            delete_missing: *delete_missing,
            skip: Default::default(),
        },
        OperationArgs::Bump { dependency, to } => {
            Operation::Bump { dependency: dependency.clone(), version: to.clone() }
        }
    };
    let spec = ChangeSpec {
        title: args.title.clone(),
        message: args.message.clone(),
        targets: Targets {
            repos: args.repos.clone(),
            globs: args.globs.clone(),
            dependents_of: args.dependents_of.clone(),
        },
        operation,
        rules: MergeRules {
            method,
            require_approval: args.require_approval,
            merge: !args.no_merge,
            merge_reverts: !args.no_merge_reverts,
            validate: args.validate,
            checks_timeout_secs: args.checks_timeout,
        },
    };
    spec.validate().or_usage()?;
    Ok(spec)
}

/// The repositories a spec names outright (a GitHub fleet reads them even without an organisation).
fn spec_repos(spec: &ChangeSpec) -> Vec<String> {
    spec.targets.repos.iter().chain(&spec.targets.dependents_of).cloned().collect()
}

/// An engine over the fleet `fleet` names, recording in `state_dir`'s database.
pub(crate) async fn engine(
    fleet: &FleetArgs,
    limits: &ChangeLimits,
    repos: &[String],
    env: &EnvConfig,
    state_dir: &Path,
) -> anyhow::Result<(ChangeEngine, ScribeHandle)> {
    let (reader, writer): (Arc<dyn Forge>, Arc<dyn ForgeWriter>) = match &fleet.workspace {
        Some(dir) => {
            if !fleet.orgs.is_empty() || !fleet.users.is_empty() {
                return Err(UsageError::error("--workspace and --org/--user exclude each other: choose one fleet"));
            }
            let dir = std::path::absolute(dir)?;
            let forge = Arc::new(
                LocalForge::new(&dir).with_context(|| format!("cannot use the workspace '{}'", dir.display()))?,
            );
            (forge.clone(), forge)
        }
        None => {
            let mut config = GitHubConfig::from_lookup(|key| std::env::var(key).ok())?;
            config.targets = fleet.orgs.iter().map(|o| Target::Org(o.clone())).collect();
            config.targets.extend(fleet.users.iter().map(|u| Target::User(u.clone())));
            for repo in repos {
                config.targets.push(Target::Repo(RepoId::new(repo.as_str()).or_usage()?));
            }
            let forge = Arc::new(GitHubForge::new(config)?);
            (forge.clone(), forge)
        }
    };
    let mut settings = ChangeSettings::new(state_dir.join("changes"), format!("cli:{}", limits.by));
    // The change is the operator's own command: it writes and merges, within the limits and the emergency freeze.
    settings.policy.switches.autonomy = true;
    settings.policy.switches.automerge = true;
    settings.policy.emergency.active = env.emergency_mode;
    settings.policy.limits.prs_per_day = limits.max_prs_per_day;
    settings.policy.limits.content_per_minute = limits.max_content_per_minute;
    let scribe = ScribeHandle::spawn(Memory::open(state_dir)?).await?;
    let engine = ChangeEngine::new(scribe.clone(), reader, writer, settings, terminal::redactor().clone());
    Ok((engine, scribe))
}

/// Keeps the set going for up to `secs` while it waits.
pub(crate) async fn wait(engine: &ChangeEngine, record: ChangeRecord, secs: u64) -> Result<ChangeRecord, ChangeError> {
    if secs == 0 || !record.state.moves() {
        return Ok(record);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    engine.run_until(&record.id, deadline, POLL).await
}

/// A spec or id the engine refused is the user's to fix (exit 2); anything else is a runtime failure.
pub(crate) fn usage(err: ChangeError) -> anyhow::Error {
    match err {
        ChangeError::InvalidSpec { .. } | ChangeError::InvalidId { .. } => UsageError::error(err.to_string()),
        err => err.into(),
    }
}

fn print_plan(plan: &Plan, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", terminal::json_line(serde_json::to_value(plan)?)?);
        return Ok(());
    }
    let changed = plan.repos.iter().filter(|r| r.changed).count();
    println!("change {} would change {changed} of {} repositories; nothing was written", plan.id, plan.repos.len());
    for (n, wave) in plan.waves.iter().enumerate() {
        println!("  merge wave {}: {}", n + 1, wave.join(", "));
    }
    for repo in &plan.repos {
        if !repo.changed {
            println!("\n{} ({}): no change", repo.repo, repo.base);
            continue;
        }
        println!("\n{} ({}): {} files, {} lines", repo.repo, repo.base, repo.files.len(), repo.lines);
        print!("{}", terminal::text(&repo.diff));
        if !repo.diff.ends_with('\n') {
            println!();
        }
    }
    Ok(())
}

/// Prints a set; one that ended rolled back is an error after it is printed.
fn finish(record: ChangeRecord, json: bool) -> anyhow::Result<()> {
    print_record(&record, json)?;
    if record.state == ChangeState::NeedsAttention {
        anyhow::bail!("change {}'s rollback needs a person: see the notes above", record.id);
    }
    if record.state == ChangeState::RolledBack
        && let Some(halt) = &record.halt
        && !halt.repo.is_empty()
    {
        anyhow::bail!("change {} was rolled back: {} failed: {}", record.id, halt.repo, terminal::line(&halt.reason));
    }
    Ok(())
}

pub(crate) fn print_record(record: &ChangeRecord, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", terminal::json_line(serde_json::to_value(record)?)?);
        return Ok(());
    }
    println!("change {} ({}): {}", record.id, terminal::line(&record.spec.title), record.state.as_str());
    if let Some(halt) = &record.halt {
        let repo = if halt.repo.is_empty() { String::new() } else { format!("{}: ", halt.repo) };
        println!("  halted: {repo}{}", terminal::line(&halt.reason));
    }
    for repo in &record.repos {
        let pull = repo.pull.map_or_else(String::new, |n| format!(" #{n}"));
        let revert = repo.revert.as_ref().and_then(|r| r.pull).map_or_else(String::new, |n| format!(" (revert #{n})"));
        println!("  {:<40} {:<14}{pull}{revert}", repo.repo, repo.state.as_str());
        if !repo.note.is_empty() {
            println!("    {}", terminal::line(&repo.note));
        }
    }
    if record.state.moves() {
        println!("waiting; run 'hive change resume {}' to go on (or pass --wait SECS)", record.id);
    }
    if record.state == ChangeState::NeedsAttention {
        println!("a person has to finish what the notes say; then 'hive change rollback {}' looks again", record.id);
    }
    Ok(())
}

async fn status(scribe: &ScribeHandle, id: Option<&str>, json: bool) -> anyhow::Result<()> {
    let engine = ChangeBook::new(scribe.clone());
    if let Some(id) = id {
        let id = ChangeId::parse(id).or_usage()?;
        return print_record(&engine.get(&id).await?, json);
    }
    let sets = engine.list().await?;
    let locks = engine.locks().await?;
    if json {
        let value = serde_json::json!({
            "changes": sets,
            "locks": locks.iter().map(|l| serde_json::json!({
                "repo": l.repo, "change": l.change_id, "owner": l.owner, "expires_at": l.expires_at,
            })).collect::<Vec<_>>(),
        });
        println!("{}", terminal::json_line(value)?);
        return Ok(());
    }
    if sets.is_empty() {
        println!("no change sets yet; plan one with 'hive change plan --title ... --repo OWNER/NAME run -- ...'");
    }
    for set in &sets {
        let changed = set.changed().count();
        println!(
            "{} {:<13} {changed:>3} repositories  {}",
            set.id,
            set.state.as_str(),
            terminal::line(&set.spec.title)
        );
    }
    for lock in &locks {
        println!("locked: {} by {} ({})", lock.repo, lock.change_id, terminal::line(&lock.owner));
    }
    Ok(())
}
