//! Which repositories a set touches (its list, its globs over the fleet, the dependents of one repository by the
//! manifests), where each is cloned from, and how `sync` and `bump` edit a worktree.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use globset::{Glob, GlobSetBuilder};
use hive_ecosystem::{DependencyGraph, GraphRepo};
use hive_forge::RepoId;

use super::{ChangeEngine, Target};
use crate::{ChangeError, ChangeSpec, Operation, worktree::Worktrees};

/// Edits one repository's worktree (`sync`, `bump`): given the repository and its directory.
pub(crate) type Editor = Box<dyn Fn(&str, &Path) -> Result<(), String> + Send + Sync>;

impl ChangeEngine {
    /// The repositories `spec` names, sorted, each with where it is cloned from; archived ones are left out (they
    /// take no pushes), and a repository named outright that the forge does not know is an error.
    pub(crate) async fn targets(&self, spec: &ChangeSpec, trees: &Worktrees) -> Result<Vec<Target>, ChangeError> {
        let mut names: BTreeSet<RepoId> = BTreeSet::new();
        for repo in &spec.targets.repos {
            names.insert(RepoId::new(repo.as_str()).map_err(|e| ChangeError::InvalidSpec { reason: e.to_string() })?);
        }
        let needs_fleet = !spec.targets.globs.is_empty() || spec.targets.dependents_of.is_some();
        let fleet = if needs_fleet {
            self.reader.discover().await.map_err(|e| ChangeError::NoRepositories {
                reason: format!("the fleet could not be listed: {}", self.redact(&e)),
            })?
        } else {
            Vec::new()
        };
        if !spec.targets.globs.is_empty() {
            let mut set = GlobSetBuilder::new();
            for glob in &spec.targets.globs {
                set.add(Glob::new(glob).map_err(|e| ChangeError::InvalidSpec { reason: e.to_string() })?);
            }
            let set = set.build().map_err(|e| ChangeError::InvalidSpec { reason: e.to_string() })?;
            names.extend(fleet.iter().filter(|r| set.is_match(r.to_string())).cloned());
        }
        if let Some(of) = &spec.targets.dependents_of {
            names.extend(self.dependents(of, &fleet, trees).await?);
        }
        if names.is_empty() {
            return Err(ChangeError::NoRepositories {
                reason: format!("nothing matched {} among {} repositories", describe_targets(spec), fleet.len()),
            });
        }
        let mut targets = Vec::with_capacity(names.len());
        for repo in names {
            let origin = self.writer.origin(&repo).await.map_err(|e| self.forge_error(&repo.to_string(), &e))?;
            if origin.archived {
                tracing::info!(repo = %repo, "archived: left out of the change");
                continue;
            }
            targets.push(Target { repo, base: origin.default_branch, url: origin.clone_url });
        }
        if targets.is_empty() {
            return Err(ChangeError::NoRepositories { reason: "every repository named is archived".to_owned() });
        }
        Ok(targets)
    }

    /// The fleet's repositories that depend on `of`, directly or not, by their manifests (each cloned once).
    async fn dependents(&self, of: &str, fleet: &[RepoId], trees: &Worktrees) -> Result<Vec<RepoId>, ChangeError> {
        let mut graph_repos = Vec::with_capacity(fleet.len());
        for repo in fleet {
            let name = repo.to_string();
            let origin = self.writer.origin(repo).await.map_err(|e| self.forge_error(&name, &e))?;
            let dir = trees.clone(&name, &origin.clone_url, &origin.default_branch, false).await?;
            graph_repos.push(GraphRepo::new(name, repo.name(), dir).url(origin.clone_url));
        }
        if !fleet.iter().any(|r| r.to_string() == of) {
            return Err(ChangeError::NoRepositories { reason: format!("'{of}' is not a repository of the fleet") });
        }
        let graph = DependencyGraph::from_manifests(graph_repos)
            .map_err(|e| ChangeError::NoRepositories { reason: format!("the manifests could not be read: {e}") })?;
        // Everything that reaches `of` through its dependencies.
        let mut found: BTreeSet<String> = BTreeSet::new();
        let mut frontier = vec![of.to_owned()];
        while let Some(current) = frontier.pop() {
            for repo in graph.repos() {
                if !found.contains(&repo.id) && graph.dependencies(&repo.id).contains(current.as_str()) {
                    found.insert(repo.id.clone());
                    frontier.push(repo.id.clone());
                }
            }
        }
        found.remove(of);
        Ok(found.into_iter().filter_map(|id| RepoId::new(id).ok()).collect())
    }

    /// How `spec`'s operation edits a worktree; for `sync`, the source is cloned once first.
    pub(crate) async fn editor(&self, spec: &ChangeSpec, trees: &Worktrees) -> Result<Editor, ChangeError> {
        match &spec.operation {
            Operation::Run { .. } => Ok(Box::new(|_, _| Ok(()))),
            Operation::Sync { source, paths, delete_missing, skip } => {
                let repo =
                    RepoId::new(source.as_str()).map_err(|e| ChangeError::InvalidSpec { reason: e.to_string() })?;
                let origin = self.writer.origin(&repo).await.map_err(|e| self.forge_error(source, &e))?;
                let dir =
                    trees.clone(&format!(".source/{source}"), &origin.clone_url, &origin.default_branch, false).await?;
                let sync = hive_ecosystem::SyncSpec { paths: paths.clone(), delete_missing: *delete_missing };
                let (source, skip) = (source.clone(), skip.clone());
                Ok(Box::new(move |repo: &str, target: &Path| {
                    if repo == source {
                        return Ok(());
                    }
                    let id = RepoId::new(repo).map_err(|e| e.to_string())?;
                    let values = hive_ecosystem::RepoValues {
                        owner: id.owner().to_owned(),
                        name: id.name().to_owned(),
                        default_branch: current_branch(target),
                        extra: BTreeMap::new(),
                    };
                    let mut edits =
                        hive_ecosystem::plan_sync(&dir, target, &sync, &values).map_err(|e| e.to_string())?;
                    // The files a person must decide about stay as they are.
                    if let Some(left) = skip.get(repo) {
                        edits.retain(|edit| !left.contains(&edit.path));
                    }
                    hive_ecosystem::apply_edits(target, &edits).map_err(|e| e.to_string())
                }))
            }
            Operation::Bump { dependency, version } => {
                let (dependency, version) = (dependency.clone(), version.clone());
                Ok(Box::new(move |_: &str, target: &Path| {
                    let edits = hive_ecosystem::plan_bump(target, &dependency, &version).map_err(|e| e.to_string())?;
                    hive_ecosystem::apply_edits(target, &edits).map_err(|e| e.to_string())
                }))
            }
        }
    }
}

/// The branch checked out in `dir` (the clone's base), read from `.git/HEAD`.
fn current_branch(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(".git/HEAD"))
        .ok()
        .and_then(|head| head.trim().strip_prefix("ref: refs/heads/").map(str::to_owned))
        .unwrap_or_default()
}

fn describe_targets(spec: &ChangeSpec) -> String {
    let mut parts = Vec::new();
    if !spec.targets.globs.is_empty() {
        parts.push(format!("the globs {}", spec.targets.globs.join(", ")));
    }
    if let Some(of) = &spec.targets.dependents_of {
        parts.push(format!("the dependents of {of}"));
    }
    if parts.is_empty() { "the targets".to_owned() } else { parts.join(" and ") }
}
