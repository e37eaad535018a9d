//! `hive serve --cluster` shows the whole fleet on every node: two real processes over the GitHub emulator and a
//! real nats-server, each node's `/api/fleet` listing every repository with the node that holds it (the other
//! node's too), its `/api/status` naming it, its event stream carrying the other node's events marked with their
//! node; a malformed message on the fleet's subjects is dropped and logged once.

use std::collections::{BTreeMap, BTreeSet};

use hive_testkit::{Emulator, NatsServer, RepoSpec, RunSpec};
use serde_json::Value;

use crate::{
    cluster::{node, poll_until},
    daemon::DEADLINE,
};

/// `acme` with `r0` .. `r9`, all passing.
async fn fleet() -> Emulator {
    let emu = Emulator::start().await;
    let s = emu.state();
    s.add_org("acme");
    for i in 0..10 {
        let name = format!("r{i:02}");
        s.add_repo(RepoSpec::new("acme", &name));
        s.add_workflow_run("acme", &name, RunSpec::new("ci", "main"));
    }
    emu
}

async fn get(client: &reqwest::Client, url: String) -> Option<Value> {
    client.get(url).send().await.ok()?.json().await.ok()
}

/// Each repository of a node's `/api/fleet` with the node it names as holder.
async fn owners(client: &reqwest::Client, base: &str) -> BTreeMap<String, String> {
    let Some(fleet) = get(client, format!("{base}/api/fleet")).await else { return BTreeMap::new() };
    let lines = fleet["repositories"].as_array().cloned().unwrap_or_default();
    lines
        .iter()
        .filter_map(|line| Some((line["repo"].as_str()?.to_owned(), line["node"].as_str()?.to_owned())))
        .collect()
}

/// The repositories a node runs pilots for, by `/api/repos`.
async fn watched(client: &reqwest::Client, base: &str) -> BTreeSet<String> {
    let Some(repos) = get(client, format!("{base}/api/repos")).await else { return BTreeSet::new() };
    let lines = repos["repositories"].as_array().cloned().unwrap_or_default();
    lines.iter().filter_map(|line| line["repo"].as_str().map(str::to_owned)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_node_shows_every_repository_with_the_node_that_holds_it() {
    let nats = NatsServer::start().await;
    let emu = fleet().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let client = reqwest::Client::new();
    let all: BTreeSet<String> = (0..10).map(|i| format!("acme/r{i:02}")).collect();
    let (a, a_base) = node(&emu, &nats, dir.path(), "node-a").await;
    let (b, b_base) = node(&emu, &nats, dir.path(), "node-b").await;

    // Both nodes name the same holder for every repository, the one that runs its pilot, and both hold some.
    let agreed = poll_until(DEADLINE, || {
        let (client, a_base, b_base, all) = (&client, &a_base, &b_base, &all);
        async move {
            let (seen_a, seen_b) = (owners(client, a_base).await, owners(client, b_base).await);
            let (on_a, on_b) = (watched(client, a_base).await, watched(client, b_base).await);
            let keys: BTreeSet<String> = seen_a.keys().cloned().collect();
            keys == *all
                && seen_a == seen_b
                && !on_a.is_empty()
                && !on_b.is_empty()
                && seen_a.iter().all(|(repo, holder)| match holder.as_str() {
                    "node-a" => on_a.contains(repo) && !on_b.contains(repo),
                    "node-b" => on_b.contains(repo) && !on_a.contains(repo),
                    _ => false,
                })
        }
    })
    .await;
    assert!(
        agreed,
        "the nodes do not show one fleet with its holders:\na {:?} (runs {:?})\nb {:?} (runs {:?})\nb's stderr: {}",
        owners(&client, &a_base).await,
        watched(&client, &a_base).await,
        owners(&client, &b_base).await,
        watched(&client, &b_base).await,
        b.stderr()
    );
    let status = get(&client, format!("{a_base}/api/status")).await.expect("a's status");
    assert_eq!(status["cluster"]["node"], "node-a", "{status}");

    // Garbage on the fleet's subjects, as a stray publisher or a newer node would send: dropped, logged once.
    let stray = hive_cluster::connect(&nats.url(), &hive_cluster::NodeName::new("stray").expect("valid"))
        .await
        .expect("connect");
    for _ in 0..3 {
        stray.publish("hive.hive.events.stray.share", "not an envelope".into()).await.expect("publish");
        let unknown = r#"{"v":1,"node":"stray","at":"t","body":{"type":"gossip"}}"#;
        stray.publish("hive.hive.events.stray.share", unknown.into()).await.expect("publish");
    }
    stray.flush().await.expect("flush");

    // a's event stream carries b's events, each marked with b; a still answers after the garbage.
    let mut response = client.get(format!("{a_base}/api/events")).send().await.expect("a's events");
    let mut text = String::new();
    let heard = tokio::time::timeout(DEADLINE, async {
        while let Ok(Some(chunk)) = response.chunk().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if text.contains(r#""node":"node-b""#) && text.contains(r#""node":"node-a""#) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(heard, Ok(true), "a's event stream has no events of both nodes: {text}");
    let logged = poll_until(DEADLINE, || {
        let log = a.stderr();
        async move {
            log.matches("dropped a message that is not an event envelope").count() == 1
                && log.matches("dropped a message whose body this node cannot read").count() == 1
        }
    })
    .await;
    assert!(logged, "each kind of garbage is logged once:\n{}", a.stderr());
    assert_eq!(owners(&client, &a_base).await.len(), 10, "a shows the fleet still");
    drop((a, b));
}
