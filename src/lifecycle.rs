//! The life of a `hive` process: one signal listener for the whole run ([`Shutdown`]: SIGINT, SIGTERM and SIGHUP
//! start one graceful shutdown, a second signal exits at once), the lock that keeps two hives off one state
//! directory ([`StateLock`]), and the clean-up of child processes on the way out ([`finish`]).
//!
//! A signal future made anew in each pass of a loop misses the signals that arrive while the loop is busy
//! elsewhere; here the streams are registered once, before any work starts, and every long wait selects on the
//! one token they cancel.

use std::{
    collections::{BTreeSet, HashMap},
    fs::{File, OpenOptions},
    future::Future,
    io::{Read, Seek, SeekFrom, Write},
    path::Path,
    time::Duration,
};

use anyhow::Context;
use hive_support::ProcStat;
use nix::{
    errno::Errno,
    fcntl::{Flock, FlockArg},
    sys::signal::{Signal, kill, killpg},
    unistd::{Pid, getpgrp},
};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::config::UsageError;

/// The exit code after a second signal: 128 + SIGINT, as shells report an interrupted command.
pub const EXIT_INTERRUPTED: i32 = 130;

/// How long the runtime may take to wind down its blocking work (database jobs, file scans) on the way out.
const RUNTIME_GRACE: Duration = Duration::from_secs(3);

/// The process's shutdown request: cheap to clone, cancelled once by the first SIGINT, SIGTERM or SIGHUP.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    /// Registers the signal streams and starts the one task that listens to them for the life of the process.
    /// Must run inside the tokio runtime, before any work starts, so no signal falls between two waits.
    pub fn listen() -> anyhow::Result<Shutdown> {
        let mut streams = Vec::new();
        for (kind, name) in [
            (SignalKind::interrupt(), "SIGINT"),
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::hangup(), "SIGHUP"),
        ] {
            streams.push((name, signal(kind).with_context(|| format!("cannot listen for {name}"))?));
        }
        let shutdown = Shutdown::default();
        let token = shutdown.token.clone();
        tokio::spawn(async move {
            let Some(name) = next_signal(&mut streams).await else { return };
            eprintln!("hive: {name} received, shutting down (send it again to stop at once)");
            token.cancel();
            let Some(name) = next_signal(&mut streams).await else { return };
            eprintln!("hive: {name} received again, stopping at once");
            signal_descendants(Signal::SIGKILL);
            std::process::exit(EXIT_INTERRUPTED);
        });
        Ok(shutdown)
    }

    /// Resolves once shutdown was requested.
    pub async fn requested(&self) {
        self.token.cancelled().await;
    }

    /// Runs `work` until it ends or shutdown is requested, whichever comes first; `None` means the latter, and
    /// `work` was dropped at its current await point. Callers pass only work that is safe to drop anywhere (the
    /// steward reserves each write in the database before sending it, and the next start reconciles).
    pub async fn run_until<F: Future>(&self, work: F) -> Option<F::Output> {
        tokio::select! {
            // Shutdown first: once requested, no further step of `work` may run, even if it is ready too.
            biased;
            () = self.token.cancelled() => None,
            output = work => Some(output),
        }
    }

    /// Sleeps for `delay`; `false` if shutdown was requested meanwhile.
    pub async fn sleep(&self, delay: Duration) -> bool {
        self.run_until(tokio::time::sleep(delay)).await.is_some()
    }

    /// Requests shutdown from inside the process (as a signal would).
    #[cfg(test)]
    pub fn request(&self) {
        self.token.cancel();
    }
}

/// The name of the next signal to arrive; `None` when the runtime is going away.
async fn next_signal(streams: &mut [(&'static str, tokio::signal::unix::Signal)]) -> Option<&'static str> {
    let waits = streams.iter_mut().map(|(name, stream)| {
        let name = *name;
        Box::pin(async move { stream.recv().await.map(|()| name) })
    });
    futures::future::select_all(waits).await.0
}

/// The exclusive lock on a state directory (`<state_dir>/hive.lock`, holding the holder's pid), kept for the life of
/// the process. The kernel releases it when the process ends, however it ends, so a crash never leaves it stale.
#[derive(Debug)]
pub struct StateLock {
    _file: Flock<File>,
}

impl StateLock {
    /// Creates the state directory if needed and locks it; another hive holding it, or a directory that cannot be
    /// created or written, is a [`UsageError`].
    pub fn acquire(state_dir: &Path) -> anyhow::Result<StateLock> {
        let dir = state_dir.display();
        std::fs::create_dir_all(state_dir).map_err(|err| {
            UsageError::error(format!(
                "cannot create the state directory '{dir}': {err}; give a writable one with --state-dir or HIVE_STATE_DIR"
            ))
        })?;
        let path = state_dir.join("hive.lock");
        // Never truncated on open: the holder's pid must stay readable for the one that loses.
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(
            |err| {
                UsageError::error(format!(
                    "cannot write in the state directory '{dir}' ('{}': {err}); give a writable one with --state-dir or HIVE_STATE_DIR",
                    path.display()
                ))
            },
        )?;
        let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => locked,
            Err((file, Errno::EWOULDBLOCK)) => return Err(held_by_another(file, state_dir)),
            Err((_, errno)) => {
                return Err(UsageError::error(format!("cannot lock '{}': {errno}", path.display())));
            }
        };
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{}", std::process::id()))
            .with_context(|| format!("cannot write the lock file '{}'", path.display()))?;
        Ok(StateLock { _file: file })
    }
}

/// The error for a state directory another process holds, naming its pid. The holder writes its pid right after
/// taking the lock, so a reader that comes in between waits a moment for it.
fn held_by_another(mut file: File, state_dir: &Path) -> anyhow::Error {
    let dir = state_dir.display();
    for _ in 0..50 {
        let mut text = String::new();
        let read = file.seek(SeekFrom::Start(0)).and_then(|_| file.read_to_string(&mut text));
        if let Some(pid) = read.ok().and_then(|_| text.trim().parse::<u32>().ok()) {
            return UsageError::error(format!(
                "another hive (pid {pid}) is running on '{dir}'; stop it first, or give this one another --state-dir"
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    UsageError::error(format!(
        "another hive is running on '{dir}' (its pid is not in '{}'); stop it first, or give this one another --state-dir",
        state_dir.join("hive.lock").display()
    ))
}

/// Winds the process down after its command returned: child process groups are frozen (so no test run can finish
/// and have a result recorded for a run that was cut short), the runtime drops every task left (temporary
/// scratch clones go with their tasks), and then the groups are killed.
pub fn finish(runtime: tokio::runtime::Runtime) {
    let frozen = signal_descendants(Signal::SIGSTOP);
    runtime.shutdown_timeout(RUNTIME_GRACE);
    let late = signal_descendants(Signal::SIGKILL);
    for target in frozen.difference(&late) {
        target.send(Signal::SIGKILL);
    }
}

/// A process group, or a lone process in hive's own group (whose group is never signalled: it may be the shell's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Group(i32),
    Process(i32),
}

impl Target {
    fn send(self, signal: Signal) {
        // A target that is already gone is what shutting down wants anyway.
        let _ = match self {
            Target::Group(pgid) => killpg(Pid::from_raw(pgid), signal),
            Target::Process(pid) => kill(Pid::from_raw(pid), signal),
        };
    }
}

/// Sends `signal` to every process descending from this one (their process groups, except hive's own); returns
/// what it signalled.
fn signal_descendants(signal: Signal) -> BTreeSet<Target> {
    let targets = descendant_targets(std::process::id(), getpgrp().as_raw(), &ProcStat::all());
    for target in &targets {
        target.send(signal);
    }
    targets
}

/// What to signal so every descendant of `root` in `table` is reached: the process group of a descendant that leads
/// its own group (the test command's group), otherwise the process alone. A group is signalled only when its leader
/// descends from `root`, so a test that moved itself into someone else's group (the user's shell, another job) can
/// never make hive signal that group; hive's own group is never signalled.
fn descendant_targets(root: u32, own_group: i32, table: &[ProcStat]) -> BTreeSet<Target> {
    let mut children: HashMap<i32, Vec<&ProcStat>> = HashMap::new();
    for entry in table {
        children.entry(entry.ppid).or_default().push(entry);
    }
    let mut descendants: HashMap<i32, &ProcStat> = HashMap::new();
    let mut queue: Vec<i32> = i32::try_from(root).into_iter().collect();
    while let Some(parent) = queue.pop() {
        for child in children.get(&parent).into_iter().flatten() {
            if descendants.insert(child.pid, child).is_none() {
                queue.push(child.pid);
            }
        }
    }
    descendants
        .values()
        .map(|child| {
            let own_leader = descendants.contains_key(&child.pgid);
            if child.pgid == own_group || child.pgid <= 1 || !own_leader {
                Target::Process(child.pid)
            } else {
                Target::Group(child.pgid)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pid: i32, ppid: i32, pgid: i32) -> ProcStat {
        ProcStat { pid, comm: "test".to_owned(), state: 'S', ppid, pgid }
    }

    #[test]
    fn descendants_are_found_through_every_generation_and_hive_s_own_group_is_spared() {
        let table = [
            entry(100, 1, 50),    // hive, in the shell's group 50
            entry(101, 100, 101), // a test command in its own group
            entry(102, 101, 101), // its child, same group
            entry(103, 102, 103), // a grandchild that made its own group
            entry(104, 100, 50),  // a child left in hive's group
            entry(105, 1, 105),   // not hive's
            entry(106, 105, 106), // not hive's either
            entry(107, 101, 30),  // a test that moved itself into the user's shell's group 30
            entry(30, 1, 30),     // that shell
        ];
        let targets = descendant_targets(100, 50, &table);
        let expected: BTreeSet<Target> =
            [Target::Group(101), Target::Group(103), Target::Process(104), Target::Process(107)].into_iter().collect();
        assert_eq!(targets, expected, "the shell's group is never a target, only the process that joined it");
    }

    #[test]
    fn a_second_lock_on_one_state_directory_names_the_holder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        let held = StateLock::acquire(&state).expect("the first lock");
        let text = std::fs::read_to_string(state.join("hive.lock")).expect("lock file");
        assert_eq!(text.trim(), std::process::id().to_string());
        // flock locks belong to open files, so a second open in the same process contends like another process.
        let err = StateLock::acquire(&state).expect_err("held");
        assert!(UsageError::is_usage(&err));
        let message = err.to_string();
        assert!(
            message.starts_with(&format!(
                "another hive (pid {}) is running on '{}'",
                std::process::id(),
                state.display()
            )),
            "{message}"
        );
        drop(held);
        StateLock::acquire(&state).expect("free again once the holder is gone");
    }

    #[test]
    fn a_state_directory_that_cannot_be_created_is_a_usage_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("file");
        std::fs::write(&file, "not a directory").expect("write");
        let err = StateLock::acquire(&file.join("state")).expect_err("under a file");
        assert!(UsageError::is_usage(&err));
        assert!(err.to_string().starts_with("cannot create the state directory"), "{err}");
    }

    #[tokio::test]
    async fn run_until_drops_the_work_once_shutdown_is_requested() {
        let shutdown = Shutdown::default();
        assert_eq!(shutdown.run_until(async { 7 }).await, Some(7));
        let waiter = shutdown.clone();
        let pending = tokio::spawn(async move { waiter.sleep(Duration::from_secs(3600)).await });
        tokio::task::yield_now().await;
        shutdown.request();
        assert!(!pending.await.expect("join"), "the sleep was cut short");
        shutdown.requested().await;
        // Once requested, even ready work does not run.
        assert_eq!(shutdown.run_until(async { 7 }).await, None);
    }
}
