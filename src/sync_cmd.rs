//! `hive sync status|push|pull|history`: files kept in step across repositories, as the configuration's `[[sync]]`
//! tables declare them, through change sets (`hive change`'s engine, fleet and limits).
//!
//! What was synced lives in the state directory's `hive.db`; a push whose set still waits for checks records its
//! files once the set finishes, at the next `status` or `push` (or `--wait`).

use std::path::Path;

use hive::changes::{ChangeBook, ChangeEngine, ChangeError, SyncDecl, SyncPush, SyncStatus, state_text};
use hive_cerebrum::{Memory, ScribeHandle};

use crate::{
    change_cmd,
    cli::{ChangeLimits, FleetArgs, SyncArgs, SyncCommand},
    config::{EnvConfig, UsageError},
    terminal,
};

/// Runs `hive sync`.
pub async fn run(args: &SyncArgs, env: &EnvConfig, state_dir: &Path, json: bool) -> anyhow::Result<()> {
    match &args.command {
        SyncCommand::Status { name, fleet } => {
            let decls = chosen(&args.decls, name.as_deref())?;
            let limits = ChangeLimits { max_prs_per_day: 0, max_content_per_minute: 0, by: "operator".to_owned() };
            let (engine, scribe) = engine(fleet, &limits, &decls, env, state_dir).await?;
            let result = statuses(&engine, &decls).await;
            scribe.stop().await;
            print_statuses(&result.map_err(change_cmd::usage)?, json)
        }
        SyncCommand::Push { name, wait, fleet, limits } => {
            let decls = chosen(&args.decls, name.as_deref())?;
            let (engine, scribe) = engine(fleet, limits, &decls, env, state_dir).await?;
            let result = push_all(&engine, &decls, *wait).await;
            scribe.stop().await;
            print_pushes(&result.map_err(change_cmd::usage)?, json)
        }
        SyncCommand::Pull { name, repo, path, wait, fleet, limits } => {
            let decls = chosen(&args.decls, Some(name))?;
            let (engine, scribe) = engine(fleet, limits, &decls, env, state_dir).await?;
            let result = async {
                let spec = engine.sync_pull_spec(&decls[0], repo, path).await?;
                let record = engine.apply(&spec).await?;
                change_cmd::wait(&engine, record, *wait).await
            }
            .await;
            scribe.stop().await;
            change_cmd::print_record(&result.map_err(change_cmd::usage)?, json)
        }
        SyncCommand::History { name, limit } => {
            if let Some(name) = name {
                chosen(&args.decls, Some(name))?;
            }
            let scribe = ScribeHandle::spawn(Memory::open(state_dir)?).await?;
            let log = ChangeBook::new(scribe.clone()).sync_log(name.as_deref(), *limit).await;
            scribe.stop().await;
            let log = log?;
            if json {
                println!("{}", terminal::json_line(serde_json::to_value(&log)?)?);
                return Ok(());
            }
            if log.is_empty() {
                println!("nothing synced yet; see 'hive sync status'");
            }
            for entry in &log {
                let by = if entry.change_id.is_empty() { "found in step" } else { entry.change_id.as_str() };
                println!(
                    "{}  {:<20} {:<30} {:<30} {}  {by}",
                    hive_support::rfc3339(
                        std::time::UNIX_EPOCH + std::time::Duration::from_secs(entry.synced_at.max(0).unsigned_abs())
                    ),
                    terminal::line(&entry.name),
                    terminal::line(&entry.repo),
                    terminal::line(&entry.path),
                    &entry.hash[..entry.hash.len().min(12)],
                );
            }
            Ok(())
        }
    }
}

/// The declarations asked for: `name`'s, or all of them; none declared or an unknown name is a usage error.
fn chosen(decls: &[SyncDecl], name: Option<&str>) -> anyhow::Result<Vec<SyncDecl>> {
    if decls.is_empty() {
        return Err(UsageError::error(
            "no [[sync]] declared in the configuration file; add one with name, source, paths and targets (see the \
             README's 'hive sync')",
        ));
    }
    let Some(name) = name else { return Ok(decls.to_vec()) };
    match decls.iter().find(|d| d.name == name) {
        Some(decl) => Ok(vec![decl.clone()]),
        None => {
            let known: Vec<&str> = decls.iter().map(|d| d.name.as_str()).collect();
            let hint = hive::command::nearest(name, known.iter().copied())
                .map_or_else(String::new, |near| format!("; did you mean '{near}'?"));
            Err(UsageError::error(format!(
                "no [[sync]] named '{}'; declared: {}{hint}",
                name.escape_debug(),
                known.join(", ")
            )))
        }
    }
}

/// The engine over the fleet, reading on GitHub at least every source and every repository named outright.
async fn engine(
    fleet: &FleetArgs,
    limits: &ChangeLimits,
    decls: &[SyncDecl],
    env: &EnvConfig,
    state_dir: &Path,
) -> anyhow::Result<(ChangeEngine, ScribeHandle)> {
    let mut named: Vec<String> = Vec::new();
    for decl in decls {
        named.push(decl.source.clone());
        named.extend(decl.targets.iter().filter(|t| !t.contains(['*', '?', '[', '{'])).cloned());
    }
    named.sort();
    named.dedup();
    change_cmd::engine(fleet, limits, &named, env, state_dir).await
}

async fn statuses(engine: &ChangeEngine, decls: &[SyncDecl]) -> Result<Vec<SyncStatus>, ChangeError> {
    let mut out = Vec::with_capacity(decls.len());
    for decl in decls {
        out.push(engine.sync_status(decl).await?);
    }
    Ok(out)
}

async fn push_all(engine: &ChangeEngine, decls: &[SyncDecl], wait: u64) -> Result<Vec<SyncPush>, ChangeError> {
    let mut out = Vec::with_capacity(decls.len());
    for decl in decls {
        let mut push = engine.sync_push(decl).await?;
        if let Some(record) = push.change.take() {
            let record = change_cmd::wait(engine, record, wait).await?;
            push.recorded += engine.settle_syncs().await?;
            push.change = Some(record);
        }
        out.push(push);
    }
    Ok(out)
}

fn print_statuses(statuses: &[SyncStatus], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", terminal::json_line(serde_json::to_value(statuses)?)?);
        return Ok(());
    }
    for status in statuses {
        println!("sync {} from {}", status.name, status.source);
        if status.repos.is_empty() {
            println!("  no repository matches its targets");
        }
        for repo in &status.repos {
            println!("  {:<40} {}", terminal::line(&repo.repo), repo.summary());
            for file in &repo.files {
                let waiting = file.awaiting.as_ref().map_or_else(String::new, |b| format!(" (waiting for {b})"));
                println!("    {:<12} {}{waiting}", state_text(file.state), terminal::line(&file.path));
            }
        }
    }
    Ok(())
}

fn print_pushes(pushes: &[SyncPush], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", terminal::json_line(serde_json::to_value(pushes)?)?);
        return Ok(());
    }
    for push in pushes {
        match &push.change {
            Some(record) => {
                let repos = record.changed().count();
                println!("sync {}: change {} {} in {repos} repositories", push.name, record.id, record.state.as_str());
                if record.state.is_open() {
                    println!("  waiting; 'hive sync push {}' (or --wait SECS) goes on", push.name);
                }
            }
            None => println!("sync {}: nothing behind or missing", push.name),
        }
        if push.recorded > 0 {
            println!("  {} files recorded as synced", push.recorded);
        }
        for (repo, path) in &push.conflicts {
            println!(
                "  conflict: {} {} changed on both sides; left alone for a person to decide",
                terminal::line(repo),
                terminal::line(path)
            );
        }
        for (repo, path) in &push.ahead {
            println!(
                "  ahead: {} {}; 'hive sync pull {} {} {}' proposes it to the source",
                terminal::line(repo),
                terminal::line(path),
                push.name,
                terminal::line(repo),
                terminal::line(path)
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_declaration_is_a_usage_error_with_the_name_meant() {
        let decl = SyncDecl {
            name: "license".to_owned(),
            source: "acme/templates".to_owned(),
            paths: vec!["LICENSE".to_owned()],
            targets: vec!["acme/*".to_owned()],
            continuous: false,
        };
        let err = chosen(std::slice::from_ref(&decl), Some("licence")).unwrap_err();
        assert!(UsageError::is_usage(&err));
        assert!(err.to_string().contains("did you mean 'license'?"), "{err}");
        assert!(UsageError::is_usage(&chosen(&[], None).unwrap_err()));
        assert_eq!(chosen(std::slice::from_ref(&decl), None).unwrap(), [decl]);
    }
}
