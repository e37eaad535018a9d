//! `hive serve --cluster` with two real processes sharing one fleet through a real nats-server on loopback, against
//! the GitHub emulator: every repository is watched by exactly one node, a node killed with SIGKILL leaves its share
//! to the other within the lease ttl and a cycle, and no repository ever gets two hive issues. Bad cluster settings
//! are usage errors, and `hive run` refuses `--cluster`.

use std::{
    collections::BTreeSet,
    path::Path,
    time::{Duration, Instant},
};

use hive_testkit::{Emulator, JobSpec, NatsServer, RepoSpec, RunSpec};
use nix::sys::signal::Signal;
use serde_json::Value;

use crate::daemon::{DEADLINE, Daemon, hive_command};

/// The leases' ttl in this test: short, so a killed node's share moves within seconds.
const LEASE_SECS: u64 = 3;

/// `acme` with `r0` .. `r11`; the first five fail their tests.
async fn fleet() -> Emulator {
    let emu = Emulator::start().await;
    let s = emu.state();
    s.add_org("acme");
    for i in 0..12 {
        let name = format!("r{i:02}");
        s.add_repo(RepoSpec::new("acme", &name));
        let run = if i < 5 {
            RunSpec::new("ci", "main").outcome("completed", Some("failure")).job(JobSpec::new(
                &format!("suite {i}"),
                "completed",
                Some("failure"),
            ))
        } else {
            RunSpec::new("ci", "main")
        };
        s.add_workflow_run("acme", &name, run);
    }
    emu
}

/// One node: `hive serve --cluster` with the autonomy loop filing issues, a cycle a second.
pub(crate) async fn node(emu: &Emulator, nats: &NatsServer, dir: &Path, name: &str) -> (Daemon, String) {
    node_with(emu, nats, dir, name, &[]).await
}

/// [`node`] with more environment variables.
pub(crate) async fn node_with(
    emu: &Emulator,
    nats: &NatsServer,
    dir: &Path,
    name: &str,
    env: &[(&str, &str)],
) -> (Daemon, String) {
    let args = ["serve", "--org", "acme", "--autonomy", "--level", "issue", "--bind", "127.0.0.1:0"];
    let mut cmd = hive_command(&dir.join(name), &args);
    cmd.env("GITHUB_API_URL", emu.url())
        .env("GITHUB_TOKEN", emu.token())
        .env("ORCHESTRATION_INTERVAL", "1")
        .env("HIVE_MAX_ISSUES_PER_HOUR", "1000")
        .env("HIVE_MAX_CONTENT_PER_MINUTE", "1000")
        .env("HIVE_CLUSTER", nats.url())
        .env("HIVE_NODE", name)
        .env("HIVE_CLUSTER_LEASE_SECS", LEASE_SECS.to_string())
        .envs(env.iter().copied());
    let mut daemon = Daemon::spawn(cmd, &dir.join(format!("{name}.stderr.log")));
    let line = daemon.line("the listening line", |l| l.starts_with("hive serve: listening on http://")).await;
    let base = line.trim_start_matches("hive serve: listening on ").trim().to_owned();
    (daemon, base)
}

/// The repositories a node watches now, by its API; empty when it does not answer.
pub(crate) async fn watched(client: &reqwest::Client, base: &str) -> BTreeSet<String> {
    let Ok(response) = client.get(format!("{base}/api/repos")).send().await else { return BTreeSet::new() };
    let Ok(repos) = response.json::<Value>().await else { return BTreeSet::new() };
    repos["repositories"]
        .as_array()
        .map(|all| all.iter().filter_map(|r| r["repo"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// The hive issues (not pull requests) of each repository that has any.
fn hive_issues(emu: &Emulator) -> Vec<(String, usize)> {
    (0..12)
        .map(|i| format!("r{i:02}"))
        .map(|name| {
            let count = emu
                .state()
                .issues("acme", &name)
                .iter()
                .filter(|issue| !issue.is_pull && issue.labels.iter().any(|l| l == "hive"))
                .count();
            (name, count)
        })
        .filter(|(_, count)| *count > 0)
        .collect()
}

/// Polls `check` every 50 ms until it holds or `within` has passed; whether it held.
pub(crate) async fn poll_until<F: std::future::Future<Output = bool>>(
    within: Duration,
    mut check: impl FnMut() -> F,
) -> bool {
    let until = Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_share_the_fleet_and_one_takes_all_when_the_other_is_killed() {
    let nats = NatsServer::start().await;
    let emu = fleet().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let client = reqwest::Client::new();
    let all: BTreeSet<String> = (0..12).map(|i| format!("acme/r{i:02}")).collect();
    let (a, a_base) = node(&emu, &nats, dir.path(), "node-a").await;
    let (mut b, b_base) = node(&emu, &nats, dir.path(), "node-b").await;

    // Every repository watched by exactly one node, both nodes watching some.
    let until = Instant::now() + DEADLINE;
    let (on_a, on_b, shared) = loop {
        let (on_a, on_b) = (watched(&client, &a_base).await, watched(&client, &b_base).await);
        let union: BTreeSet<String> = on_a.union(&on_b).cloned().collect();
        let shared = !on_a.is_empty() && !on_b.is_empty() && on_a.is_disjoint(&on_b) && union == all;
        if shared || Instant::now() >= until {
            break (on_a, on_b, shared);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(shared, "the fleet was not shared out once: a {on_a:?}, b {on_b:?}\nb's stderr: {}", b.stderr());

    // Every failing repository gets its issue, from whichever node holds it.
    let failing: Vec<(String, usize)> = (0..5).map(|i| (format!("r{i:02}"), 1)).collect();
    let filed = poll_until(DEADLINE, || {
        let done = hive_issues(&emu) == failing;
        async move { done }
    })
    .await;
    assert!(filed, "hive issues {:?}, wanted one per failing repository", hive_issues(&emu));

    // kill -9: b releases nothing; its leases lapse after the ttl and a's next round claims them. A cycle later a's
    // pilots are running. The bound is ttl + a cycle, plus slack for a loaded machine.
    let killed = b.signal(Signal::SIGKILL);
    b.exit_within(DEADLINE).await;
    let bound = Duration::from_secs(LEASE_SECS + 1) + Duration::from_secs(20);
    let taken = poll_until(bound, || {
        let (client, a_base, all) = (&client, &a_base, &all);
        async move { watched(client, a_base).await == *all }
    })
    .await;
    assert!(
        taken,
        "a does not watch all 12 {:?} after b was killed: {:?}",
        killed.elapsed(),
        watched(&client, &a_base).await
    );

    // A few more cycles of a over b's former share: still one issue per failing repository, none on the others.
    let cycle = |client: reqwest::Client, base: String| async move {
        let status: Value = client.get(format!("{base}/api/status")).send().await.ok()?.json().await.ok()?;
        status["cycle"].as_u64()
    };
    let from = cycle(client.clone(), a_base.clone()).await.expect("a's status");
    let moved_on = poll_until(DEADLINE, || {
        let (client, base) = (client.clone(), a_base.clone());
        async move { cycle(client, base).await.is_some_and(|now| now >= from + 3) }
    })
    .await;
    assert!(moved_on, "a ran no three cycles after taking over");
    assert_eq!(hive_issues(&emu), failing, "a repository got a second hive issue, or a passing one got one");
    drop(a);
}

#[test]
fn bad_cluster_settings_are_usage_errors_and_run_refuses_cluster() {
    let state = tempfile::tempdir().expect("tempdir");
    let serve = |extra: &[&str]| crate::hive_in(state.path(), &[&["serve", "--org", "acme"], extra].concat());

    let out = serve(&["--cluster", "http://127.0.0.1:4222"]);
    assert_eq!(out.status.code(), Some(2), "{}", crate::stderr(&out));
    assert!(crate::stderr(&out).contains("--cluster 'http://127.0.0.1:4222'"), "{}", crate::stderr(&out));

    let out = serve(&["--cluster", "nats://127.0.0.1:4222", "--node", "node.one"]);
    assert_eq!(out.status.code(), Some(2), "{}", crate::stderr(&out));
    assert!(crate::stderr(&out).contains("invalid node name 'node.one'"), "{}", crate::stderr(&out));

    let out = serve(&["--cluster", "nats://127.0.0.1:4222", "--cluster-lease-secs", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", crate::stderr(&out));
    assert!(crate::stderr(&out).contains("--cluster-lease-secs '0'"), "{}", crate::stderr(&out));

    let workspace = state.path().join("ws");
    std::fs::create_dir_all(&workspace).expect("mkdir");
    let out = crate::hive_in(
        state.path(),
        &["serve", "--workspace", workspace.to_str().expect("utf-8"), "--cluster", "nats://127.0.0.1:4222"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", crate::stderr(&out));
    assert!(crate::stderr(&out).contains("--cluster shares a GitHub fleet"), "{}", crate::stderr(&out));

    // A continuous sync would be pushed by every node: refused until it is shared out like the pilots.
    let config = state.path().join("hive.toml");
    let sync = "[[sync]]\nname = \"license\"\nsource = \"acme/templates\"\npaths = [\"LICENSE\"]\n\
                targets = [\"acme/*\"]\ncontinuous = true\n";
    std::fs::write(&config, sync).expect("write the configuration");
    let out = crate::hive_in(
        state.path(),
        &["--config", config.to_str().expect("utf-8"), "serve", "--org", "acme", "--cluster", "nats://127.0.0.1:4222"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", crate::stderr(&out));
    assert!(crate::stderr(&out).contains("'[[sync]] license' has continuous = true"), "{}", crate::stderr(&out));

    // One process: `hive run` has no such flag.
    let out = crate::hive_in(state.path(), &["run", "--org", "acme", "--cluster", "nats://127.0.0.1:4222"]);
    assert_eq!(out.status.code(), Some(2), "{}", crate::stderr(&out));
    assert!(crate::stderr(&out).contains("--cluster"), "{}", crate::stderr(&out));
}
