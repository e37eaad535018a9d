//! `hive spawn agent <name>:<description>` and `hive agents list|show|check|remove`: agents made by command, kept
//! in the state directory (their sources under `agents/`, their records and every step in `hive.db`).

use std::{path::Path, sync::Arc};

use anyhow::Context;
use hive_cerebrum::{Memory, ScribeHandle};
use hive_forge::{ForgeWriter, GitHubConfig, GitHubForge, LOCAL_OWNER, LocalForge};
use hive_spawner::{AgentRecord, AgentSpec, SpawnRequest, SpawnSettings, Spawner};

use crate::{
    cli::{AgentsArgs, AgentsCommand, PublishArgs, SpawnArgs, SpawnCommand},
    config::{OrUsage, UsageError},
};

/// Runs `hive spawn`.
pub async fn spawn(args: &SpawnArgs, state_dir: &Path, json: bool) -> anyhow::Result<()> {
    let SpawnCommand::Agent(agent) = &args.command;
    let request = SpawnRequest {
        spec: AgentSpec::from_request(&agent.request).or_usage()?,
        archetype: agent.archetype.as_deref().map(str::parse).transpose().or_usage()?,
        tier: agent.tier.parse().or_usage()?,
        by: format!("cli:{}", agent.publish.by),
    };
    if agent.dry_run {
        let rendered = hive_spawner::render(&request.spec, request.archetype());
        let files: Vec<String> = rendered.files.iter().map(|f| f.path.display().to_string()).collect();
        if json {
            let plan = serde_json::json!({
                "name": request.spec.name(),
                "archetype": request.archetype().name(),
                "tier": request.tier.name(),
                "private": request.tier.private(),
                "files": files,
            });
            println!("{}", crate::terminal::json_line(plan)?);
        } else {
            println!(
                "would make agent {} from the {} archetype ({} tier), with:",
                request.spec.name(),
                request.archetype(),
                request.tier
            );
            for file in files {
                println!("  {file}");
            }
        }
        return Ok(());
    }
    let (spawner, scribe) = spawner(&agent.publish, state_dir).await?;
    let result = spawner.spawn(&request).await;
    scribe.stop().await;
    print_record(&result?, json)
}

/// Runs `hive agents`.
pub async fn agents(args: &AgentsArgs, state_dir: &Path, json: bool) -> anyhow::Result<()> {
    // Only `check` reaches the forge; the registry is in the state directory.
    let needs_forge = matches!(args.command, AgentsCommand::Check { .. });
    let (spawner, scribe) = if needs_forge || args.publish.workspace.is_some() || args.publish.owner.is_some() {
        spawner(&args.publish, state_dir).await?
    } else {
        let scribe = ScribeHandle::spawn(Memory::open(state_dir)?).await?;
        let settings = SpawnSettings::new(state_dir.join("agents"), String::new());
        (Spawner::registry(scribe.clone(), settings, crate::terminal::redactor().clone()), scribe)
    };
    let by = format!("cli:{}", args.publish.by);
    let result = async {
        match &args.command {
            AgentsCommand::List => {
                let agents = spawner.list().await?;
                if json {
                    println!("{}", crate::terminal::json_line(serde_json::to_value(&agents)?)?);
                } else if agents.is_empty() {
                    println!("no agents yet; make one with 'hive spawn agent <name>:<description>'");
                } else {
                    for agent in agents {
                        println!(
                            "{:<24} {:<8} {:<18} {}",
                            agent.name,
                            agent.state.as_str(),
                            agent.archetype.name(),
                            crate::terminal::line(&agent.repo)
                        );
                    }
                }
            }
            AgentsCommand::Show { name } => print_record(&spawner.show(name).await?, json)?,
            AgentsCommand::Check { name } => print_record(&spawner.enforce(name, &by).await?, json)?,
            AgentsCommand::Remove { name } => {
                let record = spawner.remove(name, &by).await?;
                if json {
                    println!("{}", crate::terminal::json_line(serde_json::to_value(&record)?)?);
                } else {
                    println!("removed agent {}; its repository {} stays on the forge", record.name, record.repo);
                }
            }
        }
        anyhow::Ok(())
    }
    .await;
    scribe.stop().await;
    result
}

/// A spawner over the forge `publish` names, recording in `state_dir`'s database.
async fn spawner(publish: &PublishArgs, state_dir: &Path) -> anyhow::Result<(Spawner, ScribeHandle)> {
    let (forge, owner): (Arc<dyn ForgeWriter>, String) = match (&publish.workspace, &publish.owner) {
        (Some(dir), None) => {
            let dir = std::path::absolute(dir)?;
            let forge =
                LocalForge::new(&dir).with_context(|| format!("cannot use the workspace '{}'", dir.display()))?;
            (Arc::new(forge), LOCAL_OWNER.to_owned())
        }
        (None, Some(owner)) => {
            let config = GitHubConfig::from_lookup(|key| std::env::var(key).ok())?;
            (Arc::new(GitHubForge::new(config)?), owner.clone())
        }
        (None, None) => {
            return Err(UsageError::error(
                "say where the agent's repository goes: --workspace DIR (a local directory of git repositories) \
                 or --owner LOGIN (a GitHub organisation or the token's user)",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(UsageError::error("--workspace and --owner exclude each other: choose one forge"));
        }
    };
    let mut settings = SpawnSettings::new(state_dir.join("agents"), owner);
    settings.testing_mandatory = publish.testing_mandatory;
    settings.mandate_ci = publish.mandate_ci;
    settings.base_branch = publish.base_branch.clone();
    settings.require_approval = publish.require_approval;
    settings.check.offline = publish.offline;
    if let Some(dir) = &publish.target_dir {
        settings.check.target_dir = std::path::absolute(dir)?;
    }
    // A merge is the operator's own command here: autonomy and automerge for it only with --merge.
    settings.policy.switches.autonomy = publish.merge;
    settings.policy.switches.automerge = publish.merge;
    let memory = Memory::open(state_dir)?;
    let scribe = ScribeHandle::spawn(memory).await?;
    Ok((Spawner::new(scribe.clone(), forge, settings, crate::terminal::redactor().clone()), scribe))
}

fn print_record(record: &AgentRecord, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", crate::terminal::json_line(serde_json::to_value(record)?)?);
        return Ok(());
    }
    println!("agent {} ({}, {} tier): {}", record.name, record.archetype, record.tier, record.state.as_str());
    println!("  repository: {}", crate::terminal::line(&record.repo));
    println!("  source:     {}", record.source.display());
    if let Some(pull) = record.pull {
        println!("  pull:       #{pull}");
    }
    println!("  tests:      {}", if record.tests_passed { "passed" } else { "failed" });
    println!("  {}", crate::terminal::line(&record.note));
    Ok(())
}
