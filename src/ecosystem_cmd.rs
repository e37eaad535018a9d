//! `hive ecosystem`: import, list, show and remove repositories; build or test them in dependency waves; mirror
//! them to other remotes.
//!
//! With `--json` every subcommand prints exactly one JSON document on stdout; warnings go to stderr. A failure
//! (a repository that failed in a wave, a destination that could not be mirrored) is printed first and then
//! returned as an error, so the exit code says it too.

pub mod services;

use std::{path::Path, time::Duration};

use anyhow::{Context, bail};
use hive_ecosystem::{
    DependencyGraph, EcosystemManager, Git, GraphRepo, ImportOptions, MirrorOptions, RepoMeta, RepoOutcome, WaveTask,
    WavesReport, detect, discover_commands, mirror, run_task, run_waves,
};
use serde::Serialize;
use serde_json::json;

use crate::{
    cli::{EcosystemArgs, EcosystemCommand, ImportArgs, MirrorArgs, WavesArgs, WavesTask},
    config::EnvConfig,
    terminal,
};

pub async fn run(args: &EcosystemArgs, env: &EnvConfig, state_dir: &Path, json: bool) -> anyhow::Result<()> {
    let manager = EcosystemManager::new(state_dir);
    match &args.command {
        EcosystemCommand::Import(args) => import(&manager, args, json).await,
        EcosystemCommand::List => list(&manager, json),
        EcosystemCommand::Show { id } => show(&manager, id, json).await,
        EcosystemCommand::Remove { id } => remove(&manager, id, json).await,
        EcosystemCommand::Waves(args) => waves(&manager, args, json).await,
        EcosystemCommand::Mirror(args) => mirror_cmd(&manager, args, json).await,
        EcosystemCommand::Service(words) => services::run(&manager, words, env, state_dir, json).await,
    }
}

/// A repository as printed: its metadata and where its clone is.
#[derive(Serialize)]
struct RepoView<'a> {
    #[serde(flatten)]
    meta: &'a RepoMeta,
    path: String,
}

fn view<'a>(manager: &EcosystemManager, meta: &'a RepoMeta) -> RepoView<'a> {
    RepoView { meta, path: manager.repo_dir(&meta.id).display().to_string() }
}

fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    // Sources and destinations may be URLs with credentials in them.
    let mut value = serde_json::to_value(value)?;
    terminal::redact_json(&mut value);
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

fn short(sha: Option<&str>) -> &str {
    sha.map_or("-", |s| s.get(..10).unwrap_or(s))
}

fn systems(meta: &RepoMeta) -> String {
    if meta.build_systems.is_empty() { "none detected".to_owned() } else { meta.build_systems.join(", ") }
}

async fn import(manager: &EcosystemManager, args: &ImportArgs, json: bool) -> anyhow::Result<()> {
    let options = ImportOptions { shallow: args.shallow, ..ImportOptions::default() };
    let meta = manager.import(&args.source, &options).await?;
    if json {
        return print_json(&view(manager, &meta));
    }
    println!("imported '{}' as {}", meta.name, meta.id);
    println!("  path:          {}", manager.repo_dir(&meta.id).display());
    println!("  branch:        {}", meta.default_branch.as_deref().unwrap_or("-"));
    println!("  head:          {}", short(meta.head.as_deref()));
    println!("  build systems: {}", systems(&meta));
    Ok(())
}

fn list(manager: &EcosystemManager, json: bool) -> anyhow::Result<()> {
    let metas = manager.list()?;
    if json {
        return print_json(&metas.iter().map(|m| view(manager, m)).collect::<Vec<_>>());
    }
    if metas.is_empty() {
        println!("no imported repositories; add one with `hive ecosystem import <url-or-path>`");
        return Ok(());
    }
    let width = metas.iter().map(|m| m.name.len()).max().unwrap_or(4).max(4);
    println!("{:<12}  {:<width$}  {:<10}  {:<10}  {:<20}  SOURCE", "ID", "NAME", "BRANCH", "HEAD", "BUILD SYSTEMS");
    for meta in &metas {
        let branch = meta.default_branch.as_deref().unwrap_or("-");
        let head = short(meta.head.as_deref());
        println!(
            "{}  {:<width$}  {branch:<10}  {head:<10}  {:<20}  {}",
            meta.id,
            meta.name,
            systems(meta),
            terminal::line(&meta.source)
        );
    }
    Ok(())
}

async fn show(manager: &EcosystemManager, id: &str, json: bool) -> anyhow::Result<()> {
    let meta = manager.show(id)?;
    let dir = manager.repo_dir(&meta.id);
    let detection = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || detect(&dir)).await?
    };
    let (commands, broken) = match &detection {
        Ok(detection) => {
            let broken: Vec<_> = detection
                .broken()
                .map(|(system, manifest, cause)| json!({"system": system, "manifest": manifest, "cause": cause}))
                .collect();
            (discover_commands(&dir, detection).await, broken)
        }
        Err(e) => (Vec::new(), vec![json!({"error": e.to_string()})]),
    };
    if json {
        let mut value = serde_json::to_value(view(manager, &meta))?;
        value["commands"] = serde_json::to_value(&commands)?;
        value["broken"] = broken.into();
        return print_json(&value);
    }
    println!("{} ({})", meta.name, meta.id);
    println!("  source:        {}", terminal::line(&meta.source));
    println!("  path:          {}", dir.display());
    println!("  imported at:   {}{}", meta.imported_at, if meta.shallow { " (shallow)" } else { "" });
    println!("  branch:        {}", meta.default_branch.as_deref().unwrap_or("-"));
    println!("  head:          {}", meta.head.as_deref().unwrap_or("-"));
    println!("  build systems: {}", systems(&meta));
    for entry in &broken {
        println!("  broken:        {entry}");
    }
    if commands.is_empty() {
        println!("  commands:      none");
    } else {
        let names: Vec<&str> = commands.iter().map(|c| c.name.as_str()).collect();
        println!("  commands:      {}", names.join(", "));
    }
    Ok(())
}

async fn remove(manager: &EcosystemManager, id: &str, json: bool) -> anyhow::Result<()> {
    // A service started with `hive ecosystem <id> start` runs from the clone; it is stopped before the clone goes.
    let meta = manager.remove_with(id, |meta| services::stop_services_of(manager.clone(), meta)).await?;
    if json {
        return print_json(&json!({ "removed": meta }));
    }
    println!("removed '{}' ({})", meta.name, meta.id);
    Ok(())
}

async fn waves(manager: &EcosystemManager, args: &WavesArgs, json: bool) -> anyhow::Result<()> {
    let task = match args.task {
        WavesTask::Build => WaveTask::Build,
        WavesTask::Test => WaveTask::Test,
    };
    let metas = manager.list()?;
    let repos = metas
        .iter()
        .map(|m| GraphRepo::new(m.id.as_str(), m.name.as_str(), manager.repo_dir(&m.id)).url(m.source.as_str()))
        .collect();
    let mut graph = DependencyGraph::from_manifests(repos)?;
    for edge in &args.edges {
        let (dependent, dependency) = edge.split_once(':').with_context(|| {
            format!("invalid --edge '{}': expected DEPENDENT:DEPENDENCY, such as 'web:core'", edge.escape_debug())
        })?;
        graph.add_edge(dependent, dependency, "--edge")?;
    }
    let plan = graph.waves()?;
    let named = |ids: &[String]| -> Vec<serde_json::Value> {
        ids.iter()
            .map(|id| json!({"id": id, "name": graph.repo(id).map_or(id.as_str(), |r| r.name.as_str())}))
            .collect()
    };
    let plan_json: Vec<_> = plan.iter().map(|wave| named(wave)).collect();
    let edges: Vec<_> = graph.edges().collect();
    if !json {
        print_plan(&graph, &plan, task);
    }
    if args.plan_only {
        if json {
            print_json(&json!({"task": task, "waves": plan_json, "edges": edges}))?;
        }
        return Ok(());
    }
    let timeout = Duration::from_secs(args.timeout);
    let report = run_waves(&graph, usize::from(args.concurrency), move |repo| async move {
        run_task(&repo.dir, task, timeout).await
    })
    .await?;
    if json {
        print_json(&json!({
            "task": task,
            "waves": plan_json,
            "edges": edges,
            "results": report.results,
            "all_passed": report.all_passed(),
        }))?;
    } else {
        print_results(&report);
    }
    let failed: Vec<&str> = report
        .results
        .iter()
        .filter(|r| matches!(r.outcome, RepoOutcome::Failed { .. }))
        .map(|r| r.name.as_str())
        .collect();
    if !failed.is_empty() {
        bail!("{} of {} repositories failed: {}", failed.len(), report.results.len(), failed.join(", "));
    }
    Ok(())
}

fn print_plan(graph: &DependencyGraph, plan: &[Vec<String>], task: WaveTask) {
    let name = |id: &String| graph.repo(id).map_or(id.clone(), |r| r.name.clone());
    if plan.is_empty() {
        println!("no imported repositories; add some with `hive ecosystem import <url-or-path>`");
        return;
    }
    let task = if task == WaveTask::Build { "build" } else { "test" };
    println!("plan ({task}): {} repositories in {} waves", plan.iter().map(Vec::len).sum::<usize>(), plan.len());
    for (index, wave) in plan.iter().enumerate() {
        println!("  wave {}: {}", index + 1, wave.iter().map(name).collect::<Vec<_>>().join(", "));
    }
    for edge in graph.edges() {
        println!("    {} -> {}  ({})", name(&edge.dependent), name(&edge.dependency), edge.via);
    }
}

fn print_results(report: &WavesReport) {
    println!("results:");
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for run in &report.results {
        match &run.outcome {
            RepoOutcome::Passed => {
                passed += 1;
                let note = run.note.as_deref().map(|n| format!(", {n}")).unwrap_or_default();
                println!("  passed   {} ({} ms{note})", run.name, run.duration_ms);
            }
            RepoOutcome::Failed { exit, tail } => {
                failed += 1;
                let exit = exit.map_or_else(|| "killed".to_owned(), |c| format!("exit {c}"));
                println!("  FAILED   {} ({exit})", run.name);
                for line in tail.lines() {
                    println!("           | {line}");
                }
            }
            RepoOutcome::Skipped { because } => {
                skipped += 1;
                println!("  skipped  {} (depends on '{because}', which failed)", run.name);
            }
        }
    }
    println!("summary: passed {passed}, failed {failed}, skipped {skipped}");
}

async fn mirror_cmd(manager: &EcosystemManager, args: &MirrorArgs, json: bool) -> anyhow::Result<()> {
    let meta = manager.show(&args.id)?;
    let dir = manager.repo_dir(&meta.id);
    let fetched = if args.no_fetch {
        false
    } else {
        // Mirroring is of the upstream: bring the clone up to date first. An upstream that is gone is not fatal;
        // the clone still has what it had.
        match Git::new(&dir).run(&["fetch", "--quiet", "--prune", "--tags", "origin"]).await {
            Ok(_) => true,
            Err(e) => {
                eprintln!(
                    "hive: warning: could not fetch '{}' from its origin, mirroring what the clone has: {e}",
                    meta.name
                );
                false
            }
        }
    };
    let options = MirrorOptions {
        branches: args.branches.clone(),
        tags: args.tags.clone(),
        max_attempts: args.attempts,
        ..MirrorOptions::default()
    };
    let mut outcomes = Vec::new();
    let mut failures = 0;
    for destination in &args.to {
        match mirror(&dir, destination, &options).await {
            Ok(report) => {
                if !json {
                    let destination = terminal::line(destination);
                    println!(
                        "mirrored '{}' to {destination}: {} branches, {} tags; {} updated, {} deleted ({} attempt(s))",
                        meta.name,
                        report.branches,
                        report.tags,
                        report.updated.len(),
                        report.deleted.len(),
                        report.attempts
                    );
                }
                outcomes.push(json!({"destination": destination, "ok": true, "report": report}));
            }
            Err(e) => {
                failures += 1;
                let message = format!("{:#}", anyhow::Error::from(e));
                if !json {
                    println!(
                        "could not mirror '{}' to {}: {}",
                        meta.name,
                        terminal::line(destination),
                        terminal::line(&message)
                    );
                }
                outcomes.push(json!({"destination": destination, "ok": false, "error": message}));
            }
        }
    }
    if json {
        print_json(&json!({"id": meta.id, "name": meta.name, "fetched": fetched, "destinations": outcomes}))?;
    }
    if failures > 0 {
        bail!("mirroring '{}' failed for {failures} of {} destination(s)", meta.name, args.to.len());
    }
    Ok(())
}
