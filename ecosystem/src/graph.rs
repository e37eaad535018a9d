//! The dependency graph across repositories and its topological waves.
//!
//! Edges come from manifests (Cargo path and git dependencies, npm `file:` / `link:` / `workspace:` dependencies,
//! Go `replace` directives with local paths; see [`manifest`]) and from explicit configuration. Waves are Kahn
//! layers: wave 0 depends on nothing in the set, wave n only on earlier waves, so every repository of a wave can be
//! built at the same time ([`run_waves`]).
//!
//! ```
//! use hive_ecosystem::{DependencyGraph, GraphRepo};
//!
//! let repos = ["core", "api", "web", "app"].map(|n| GraphRepo::new(n, n, format!("/fleet/{n}")));
//! let mut graph = DependencyGraph::new(repos.to_vec());
//! graph.add_edge("api", "core", "config").unwrap();
//! graph.add_edge("web", "core", "config").unwrap();
//! graph.add_edge("app", "api", "config").unwrap();
//! graph.add_edge("app", "web", "config").unwrap();
//! assert_eq!(graph.waves().unwrap(), vec![vec!["core"], vec!["api", "web"], vec!["app"]]);
//! ```

mod manifest;
mod run;
mod task;
#[cfg(test)]
mod tests;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
};

use serde::Serialize;

pub use self::manifest::local_paths;
pub use self::{
    run::{RepoOutcome, RepoRun, StepOutput, WavesReport, run_waves},
    task::{WaveTask, conventional_command, discovered_command, run_task},
};
use crate::EcosystemError;

/// One repository taking part in the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GraphRepo {
    /// Unique key (an import id, or any unique string).
    pub id: String,
    /// Human name, used in messages and to match dependencies by name.
    pub name: String,
    /// Its working tree.
    pub dir: PathBuf,
    /// URLs it is known by (its import source), to match git dependencies.
    pub urls: Vec<String>,
}

impl GraphRepo {
    /// A repository with no known URL.
    pub fn new(id: impl Into<String>, name: impl Into<String>, dir: impl Into<PathBuf>) -> GraphRepo {
        GraphRepo { id: id.into(), name: name.into(), dir: dir.into(), urls: Vec::new() }
    }

    /// The same with a URL it is known by.
    pub fn url(mut self, url: impl Into<String>) -> GraphRepo {
        self.urls.push(url.into());
        self
    }
}

/// One dependency: `dependent` needs `dependency` built first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Edge {
    /// The id of the repository that depends.
    pub dependent: String,
    /// The id of the repository depended on.
    pub dependency: String,
    /// Where the edge comes from (`Cargo.toml path '../core'`, `config`, ...).
    pub via: String,
}

/// Repositories and who depends on whom.
#[derive(Debug, Clone)]
pub struct DependencyGraph {
    repos: BTreeMap<String, GraphRepo>,
    edges: BTreeSet<Edge>,
}

impl DependencyGraph {
    /// The repositories, without edges yet.
    pub fn new(repos: Vec<GraphRepo>) -> DependencyGraph {
        DependencyGraph { repos: repos.into_iter().map(|r| (r.id.clone(), r)).collect(), edges: BTreeSet::new() }
    }

    /// The repositories with the edges their manifests declare. A manifest that does not parse is an error naming
    /// it: leaving its edges out would build in a wrong order.
    pub fn from_manifests(repos: Vec<GraphRepo>) -> Result<DependencyGraph, EcosystemError> {
        let mut graph = DependencyGraph::new(repos);
        for edge in manifest::edges(&graph.repos.values().cloned().collect::<Vec<_>>())? {
            graph.edges.insert(edge);
        }
        Ok(graph)
    }

    /// Adds "`dependent` depends on `dependency`", each given by id or by unique name.
    pub fn add_edge(&mut self, dependent: &str, dependency: &str, via: &str) -> Result<(), EcosystemError> {
        let dependent = self.resolve(dependent)?;
        let dependency = self.resolve(dependency)?;
        if dependent != dependency {
            self.edges.insert(Edge { dependent, dependency, via: via.to_owned() });
        }
        Ok(())
    }

    fn resolve(&self, key: &str) -> Result<String, EcosystemError> {
        if self.repos.contains_key(key) {
            return Ok(key.to_owned());
        }
        let mut named = self.repos.values().filter(|r| r.name == key);
        match (named.next(), named.next()) {
            (Some(repo), None) => Ok(repo.id.clone()),
            _ => Err(EcosystemError::UnknownRepo { name: key.escape_debug().to_string() }),
        }
    }

    /// The repositories, by id.
    pub fn repos(&self) -> impl Iterator<Item = &GraphRepo> {
        self.repos.values()
    }

    /// One repository.
    pub fn repo(&self, id: &str) -> Option<&GraphRepo> {
        self.repos.get(id)
    }

    /// Every edge, sorted.
    pub fn edges(&self) -> impl Iterator<Item = &Edge> {
        self.edges.iter()
    }

    /// The ids `id` depends on directly.
    pub fn dependencies(&self, id: &str) -> BTreeSet<&str> {
        self.edges.iter().filter(|e| e.dependent == id).map(|e| e.dependency.as_str()).collect()
    }

    fn name(&self, id: &str) -> String {
        self.repos.get(id).map_or_else(|| id.to_owned(), |r| r.name.clone())
    }

    /// The build order as waves of ids (each wave sorted by name), or the cycle that prevents one.
    pub fn waves(&self) -> Result<Vec<Vec<String>>, EcosystemError> {
        let mut pending: BTreeMap<&str, BTreeSet<&str>> =
            self.repos.keys().map(|id| (id.as_str(), self.dependencies(id))).collect();
        let mut waves = Vec::new();
        while !pending.is_empty() {
            let mut wave: Vec<&str> = pending.iter().filter(|(_, deps)| deps.is_empty()).map(|(id, _)| *id).collect();
            if wave.is_empty() {
                return Err(EcosystemError::DependencyCycle { cycle: self.find_cycle(&pending) });
            }
            for id in &wave {
                pending.remove(id);
            }
            for deps in pending.values_mut() {
                for id in &wave {
                    deps.remove(id);
                }
            }
            wave.sort_by_key(|id| (self.name(id), id.to_string()));
            waves.push(wave.into_iter().map(str::to_owned).collect());
        }
        Ok(waves)
    }

    /// A cycle among `pending`, where every node still has a pending dependency: walking dependencies from any
    /// node must come back to one already seen. The cycle is named, started at its smallest name.
    fn find_cycle(&self, pending: &BTreeMap<&str, BTreeSet<&str>>) -> Vec<String> {
        let Some(start) = pending.keys().min_by_key(|id| self.name(id)) else { return Vec::new() };
        let mut path: Vec<&str> = vec![start];
        loop {
            let current = path[path.len() - 1];
            let Some(next) = pending.get(current).and_then(|deps| deps.iter().min_by_key(|id| self.name(id))) else {
                return path.iter().map(|id| self.name(id)).collect();
            };
            if let Some(at) = path.iter().position(|id| id == next) {
                let mut cycle: Vec<String> = path[at..].iter().map(|id| self.name(id)).collect();
                let smallest = cycle.iter().enumerate().min_by_key(|(_, n)| n.as_str()).map_or(0, |(i, _)| i);
                cycle.rotate_left(smallest);
                cycle.push(cycle[0].clone());
                return cycle;
            }
            path.push(next);
        }
    }
}
