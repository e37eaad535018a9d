//! Killing everything a command started, including processes that left its process group.
//!
//! A process group is not a container: `setsid` (or a daemonising double fork) moves a process out of it, and it
//! then outlives the group kill. Without a PID namespace (see `local/sandbox.rs`) the tree is found two ways, both in
//! `/proc`: every descendant of the command while the command is alive (a `setsid` child keeps its parent), and every
//! process whose environment carries this run's marker (what an orphan still has after its parent exited, unless it
//! replaced its whole environment). Nothing here changes the calling process (no child subreaper), so an embedding
//! program's own children are never adopted or touched.

use std::{
    collections::{HashMap, HashSet},
    sync::atomic::{AtomicU64, Ordering},
};

use nix::{sys::signal::Signal, unistd::Pid};

/// The environment variable that marks the processes of one run.
pub(crate) const MARKER_VAR: &str = "CI_RUN_TREE";

/// Rounds of "find and kill": a process forking while it is killed leaves children that the next round finds.
const MAX_ROUNDS: usize = 20;

/// Distinguishes the runs of one process.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// The marker value of one run: unique per process and run, and not guessable from outside the run.
#[derive(Debug)]
pub(crate) struct Marker(String);

impl Marker {
    pub(crate) fn new() -> Marker {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        Marker(format!("{}-{}-{nanos}", std::process::id(), SEQUENCE.fetch_add(1, Ordering::Relaxed)))
    }

    pub(crate) fn value(&self) -> &str {
        &self.0
    }
}

/// Kills the tree when asked, and when dropped (a run cancelled by a shutdown).
#[derive(Debug)]
pub(crate) struct TreeGuard {
    /// The command's pid, while it has not been reaped: afterwards the number may belong to another process.
    root: Option<u32>,
    marker: Marker,
}

impl TreeGuard {
    pub(crate) fn new(root: Option<u32>, marker: Marker) -> TreeGuard {
        TreeGuard { root, marker }
    }

    /// The command was waited for: its pid is no longer its own, and its children were orphaned anyway.
    pub(crate) fn reaped(&mut self) {
        self.root = None;
    }

    /// Kills the command (if not reaped), its descendants and every process carrying the marker, until none is left.
    pub(crate) fn kill(&self) {
        let me = std::process::id();
        for _ in 0..MAX_ROUNDS {
            let table = processes();
            let mut victims = self.root.map(|root| descendants(root, &table)).unwrap_or_default();
            victims.extend(table.keys().copied().filter(|&pid| carries(pid, &self.marker)));
            victims.remove(&me);
            if victims.is_empty() {
                return;
            }
            for pid in victims {
                if let Ok(pid) = i32::try_from(pid) {
                    let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
        }
        tracing::warn!(marker = self.marker.value(), "processes of a killed command kept appearing; some may be left");
    }
}

impl Drop for TreeGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Every live (not zombie) process: pid -> parent pid.
fn processes() -> HashMap<u32, u32> {
    hive_support::ProcStat::all()
        .into_iter()
        .filter(|stat| !stat.is_dead())
        .filter_map(|stat| Some((u32::try_from(stat.pid).ok()?, u32::try_from(stat.ppid).ok()?)))
        .collect()
}

/// `root` and all its live descendants.
fn descendants(root: u32, table: &HashMap<u32, u32>) -> HashSet<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (&pid, &ppid) in table {
        children.entry(ppid).or_default().push(pid);
    }
    let mut found = HashSet::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        if table.contains_key(&pid) && found.insert(pid) {
            stack.extend(children.get(&pid).into_iter().flatten());
        }
    }
    found
}

/// Whether `pid` started with this run's marker in its environment. Other users' processes cannot be read, and
/// cannot carry it either.
fn carries(pid: u32, marker: &Marker) -> bool {
    let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else { return false };
    let wanted = format!("{MARKER_VAR}={}", marker.value());
    environ.split(|&b| b == 0).any(|entry| entry == wanted.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descendants_follow_parents_and_skip_the_rest() {
        let table: HashMap<u32, u32> = [(10, 1), (11, 10), (12, 11), (13, 10), (20, 1), (21, 20)].into_iter().collect();
        let found = descendants(10, &table);
        assert_eq!(found, [10, 11, 12, 13].into_iter().collect());
        assert!(descendants(99, &table).is_empty());
    }

    #[test]
    fn this_process_is_in_the_table_with_its_parent() {
        let table = processes();
        let me = std::process::id();
        assert_eq!(table.get(&me).copied(), Some(std::os::unix::process::parent_id()));
    }
}
