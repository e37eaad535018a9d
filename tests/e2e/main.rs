//! End-to-end tests of the whole hive: the `hive` binary as a user runs it, and the library as an embedder uses it.

mod audit;
mod autonomy;
mod backlog;
mod change;
mod chaos;
mod cli;
mod cluster;
mod cluster_alert;
mod cluster_fleet;
mod config;
mod credentials;
mod daemon;
mod dashboard;
mod deploy;
mod ecosystem;
mod events;
mod github;
mod github_rediscovery;
mod library;
mod lifecycle;
mod llm;
mod modes;
mod outage;
mod rules;
mod serve;
mod serve_metrics;
mod services;
mod spawn;
mod steward;
mod storage;
mod sync;
mod tools;
mod validate;
mod webhook;
mod workspace;

use std::{
    path::Path,
    process::{Command, Output},
    time::Duration,
};

use hive::{Envelope, HiveEvent, Subscription};

/// Reads events until `pick` returns something, or fails the test after `deadline`.
pub async fn wait_for<T>(
    events: &mut Subscription,
    deadline: Duration,
    mut pick: impl FnMut(&HiveEvent) -> Option<T>,
) -> T {
    let found = tokio::time::timeout(deadline, async {
        loop {
            let envelope: Envelope = events.recv().await.expect("the bus closed");
            if let Some(found) = pick(&envelope.event) {
                return found;
            }
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("no matching event within {deadline:?}"))
}

/// Runs the `hive` binary with `args` on the state directory `state` (whatever `HIVE_STATE_DIR` says).
pub fn hive_in(state: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hive"));
    cmd.args(args).arg("--state-dir").arg(state).env_remove("HIVE_STATE_DIR");
    // Only the configuration a test names: never the one of the user running the tests.
    cmd.env_remove("HIVE_CONFIG").env("XDG_CONFIG_HOME", state.join("no-config"));
    cmd.output().expect("run hive")
}

/// A run's stdout, lossily decoded.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A run's stderr, lossily decoded.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
