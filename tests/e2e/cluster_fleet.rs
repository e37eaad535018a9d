//! `hive serve --cluster` shows the whole fleet on every node: two real processes over the GitHub emulator and a
//! real nats-server, each node's `/api/fleet` listing every repository with the node that holds it (the other
//! node's too), its `/api/status` naming it, its event stream carrying the other node's events marked with their
//! node; a malformed message on the fleet's subjects is dropped and logged once.

use std::collections::{BTreeMap, BTreeSet};

use hive_testkit::{Emulator, NatsServer, RepoSpec, RunSpec};
use serde_json::Value;

use crate::{
    cluster::{node, node_with, poll_until, watched},
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

pub(crate) async fn get(client: &reqwest::Client, url: String) -> Option<Value> {
    client.get(url).send().await.ok()?.json().await.ok()
}

/// Whether every node at `bases` ran `n` more cycles, by its `/api/status`, before the deadline.
pub(crate) async fn cycles_pass(client: &reqwest::Client, bases: &[&str], n: u64) -> bool {
    let cycle = |base: &str| {
        let status = get(client, format!("{base}/api/status"));
        async move { status.await.and_then(|s| s["cycle"].as_u64()).unwrap_or(0) }
    };
    let mut from = Vec::new();
    for base in bases {
        from.push(cycle(base).await);
    }
    poll_until(DEADLINE, || {
        let (cycle, from) = (&cycle, &from);
        async move {
            for (base, from) in bases.iter().zip(from) {
                if cycle(base).await < from + n {
                    return false;
                }
            }
            true
        }
    })
    .await
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

    // a's event stream carries b's events, each marked with b.
    let mut stream = EventStream::open(&client, &a_base).await;
    let both = stream.until(0, |text| text.contains(r#""node":"node-b""#) && text.contains(r#""node":"node-a""#)).await;
    assert!(both, "a's event stream has no events of both nodes: {}", stream.text);

    // Garbage on the fleet's subjects, as a stray publisher or a newer node would send: dropped, logged once. A
    // valid event sent after it on the same connection reaches a after it: once it is in a's stream, a has read
    // every copy of the garbage.
    let stray = hive_cluster::connect(&nats.url(), &hive_cluster::NodeName::new("stray").expect("valid"))
        .await
        .expect("connect");
    for _ in 0..3 {
        stray.publish("hive.hive.events.stray.share", "not an envelope".into()).await.expect("publish");
        let unknown = r#"{"v":1,"node":"stray","at":"t","body":{"type":"gossip"}}"#;
        stray.publish("hive.hive.events.stray.share", unknown.into()).await.expect("publish");
    }
    stray
        .publish("hive.hive.events.stray.snapshot_written", SENTINEL.replace("NODE", "stray").into())
        .await
        .expect("publish");
    stray.flush().await.expect("flush");
    let from = stream.text.len();
    let sentinel = stream.until(from, |text| text.contains(r#""node":"stray""#)).await;
    assert!(sentinel, "the valid event after the garbage did not reach a: {}", stream.text);
    let log = a.stderr();
    assert_eq!(
        (
            log.matches("dropped a message that is not an event envelope").count(),
            log.matches("dropped a message whose body this node cannot read").count()
        ),
        (1, 1),
        "each kind of garbage is logged once:\n{log}"
    );
    assert_eq!(owners(&client, &a_base).await.len(), 10, "a shows the fleet still");
    drop((a, b));
}

/// A valid event from the node `NODE` (to be replaced), for a sentinel: a snapshot written.
const SENTINEL: &str = r#"{"v":1,"node":"NODE","at":"t","body":{"type":"event","at":"t","event":{"type":"snapshot_written","path":"/sentinel"}}}"#;

/// A node's `/api/events` as it is read, all of it kept as text.
struct EventStream {
    response: reqwest::Response,
    text: String,
}

impl EventStream {
    async fn open(client: &reqwest::Client, base: &str) -> EventStream {
        let response = client.get(format!("{base}/api/events")).send().await.expect("the event stream");
        assert!(response.status().is_success(), "{}", response.status());
        EventStream { response, text: String::new() }
    }

    /// Reads until `done` holds for the text read from `from` on; whether it did before the stream ended or the
    /// deadline passed.
    async fn until(&mut self, from: usize, done: impl Fn(&str) -> bool) -> bool {
        let read = tokio::time::timeout(DEADLINE, async {
            while !done(&self.text[from..]) {
                match self.response.chunk().await {
                    Ok(Some(chunk)) => self.text.push_str(&String::from_utf8_lossy(&chunk)),
                    Ok(None) | Err(_) => return false,
                }
            }
            true
        })
        .await;
        read == Ok(true)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_that_stops_does_not_end_another_nodes_event_stream() {
    let nats = NatsServer::start().await;
    let emu = fleet().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let client = reqwest::Client::new();
    let (a, a_base) = node(&emu, &nats, dir.path(), "node-a").await;
    let (mut b, _) = node(&emu, &nats, dir.path(), "node-b").await;

    // a follows b: b's events reach a's stream.
    let mut stream = EventStream::open(&client, &a_base).await;
    let heard_b = stream.until(0, |text| text.contains(r#""node":"node-b""#)).await;
    assert!(
        heard_b,
        "a's event stream has no event of b: {}
b's stderr: {}",
        stream.text,
        b.stderr()
    );

    // b stops as on a rolling restart.
    b.signal(nix::sys::signal::Signal::SIGTERM);
    let status = b.exit_within(DEADLINE).await;
    assert!(
        status.success(),
        "b did not stop cleanly: {status:?}
{}",
        b.stderr()
    );

    // A sentinel sent once b is gone reaches a after everything b sent: the server relays in the order it heard.
    let sentinel = hive_cluster::connect(&nats.url(), &hive_cluster::NodeName::new("sentinel").expect("valid"))
        .await
        .expect("connect");
    let body = SENTINEL.replace("NODE", "sentinel");
    sentinel.publish("hive.hive.events.sentinel.snapshot_written", body.into()).await.expect("publish");
    sentinel.flush().await.expect("flush");
    let heard_sentinel = stream.until(0, |text| text.contains(r#""node":"sentinel""#)).await;
    assert!(heard_sentinel, "the sentinel did not reach a's stream: {}", stream.text);
    assert!(
        !stream.text.contains("event: hive_stopped"),
        "another node's stop came into a's stream, whose clients take it for a's last event: {}",
        stream.text
    );

    // a's stream goes on with a's own events.
    let after = stream.text.len();
    let goes_on = stream.until(after, |text| text.contains(r#""node":"node-a""#)).await;
    assert!(
        goes_on,
        "a's stream ended or went quiet after b stopped: {}
a's stderr: {}",
        stream.text,
        a.stderr()
    );
    drop(a);
}

/// Whether a node's status says the fleet's emergency is in force for `members`' systemic failure, as declared by
/// the leader; with the leader and the declaration's revision.
fn declared(status: &Value, members: &[String]) -> Option<(String, u64)> {
    let systemic = status["emergency_reasons"].as_array()?.iter().any(|reason| {
        let named: Vec<&str> = reason["members"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        reason["trigger"] == "systemic_failure" && named == members.iter().map(String::as_str).collect::<Vec<_>>()
    });
    let fleet = &status["cluster"]["emergency"];
    (status["emergency"] == true && systemic && fleet["declared"] == true)
        .then(|| Some((fleet["leader"].as_str()?.to_owned(), fleet["revision"].as_u64()?)))
        .flatten()
}

/// The hive issues of `repo` (not pull requests).
fn issues(emu: &Emulator, repo: &str) -> usize {
    let name = repo.trim_start_matches("acme/");
    emu.state().issues("acme", name).iter().filter(|i| !i.is_pull && i.labels.iter().any(|l| l == "hive")).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_sick_across_both_shares_gets_one_emergency_from_the_leader_that_both_nodes_obey() {
    use hive_cluster::{NodeName, rightful_owner};
    use hive_testkit::JobSpec;

    // Which node will hold what is rendezvous hashing's, known in advance: the systemic failure is put on two of
    // a's repositories and one of b's, so neither share alone has the three it takes.
    let live: BTreeSet<NodeName> = ["node-a", "node-b"].iter().map(|n| NodeName::new(n).expect("valid")).collect();
    let names: Vec<String> = (0..12).map(|i| format!("acme/r{i:02}")).collect();
    let held_by = |node: &str| -> Vec<String> {
        names.iter().filter(|r| rightful_owner(r, &live).is_some_and(|n| n.as_str() == node)).cloned().collect()
    };
    let (on_a, on_b) = (held_by("node-a"), held_by("node-b"));
    assert!(on_a.len() >= 3 && on_b.len() >= 2, "a fleet of twelve is shared {} / {}", on_a.len(), on_b.len());
    let mut systemic = vec![on_a[0].clone(), on_a[1].clone(), on_b[0].clone()];
    systemic.sort();
    // One repository of each node fails later, under the emergency: no issue may be filed for it.
    let later = [on_a[2].clone(), on_b[1].clone()];

    let emu = Emulator::start().await;
    let s = emu.state();
    s.add_org("acme");
    let mut pending = Vec::new();
    for repo in &names {
        let name = repo.trim_start_matches("acme/");
        s.add_repo(RepoSpec::new("acme", name));
        let run = if systemic.contains(repo) {
            let job = JobSpec::new("tests", "completed", Some("failure"));
            RunSpec::new("ci", "main").outcome("completed", Some("failure")).job(job)
        } else if later.contains(repo) {
            RunSpec::new("ci", "main").outcome("in_progress", None).job(JobSpec::new("lint", "in_progress", None))
        } else {
            RunSpec::new("ci", "main")
        };
        let id = s.add_workflow_run("acme", name, run);
        if later.contains(repo) {
            pending.push((name.to_owned(), id));
        }
    }

    let nats = NatsServer::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let client = reqwest::Client::new();
    // The emergency's own settings: the defaults, which a sick fleet crosses.
    let (a, a_base) = node_with(&emu, &nats, dir.path(), "node-a", &[]).await;
    let (b, b_base) = node_with(&emu, &nats, dir.path(), "node-b", &[]).await;
    let status = |base: &str| get(&client, format!("{base}/api/status"));

    // One declaration, by the leader, in force on both nodes with the fleet-wide cause.
    let until = std::time::Instant::now() + DEADLINE;
    let (both, seen) = loop {
        let (status_a, status_b) =
            (status(&a_base).await.unwrap_or_default(), status(&b_base).await.unwrap_or_default());
        let seen = (declared(&status_a, &systemic), declared(&status_b, &systemic));
        let both = seen.0.is_some() && seen.0 == seen.1;
        if both || std::time::Instant::now() >= until {
            break (both, seen);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(
        both,
        "not one fleet-wide emergency on both nodes: {seen:?}\na: {}\nb: {}\nb's stderr: {}",
        status(&a_base).await.unwrap_or_default(),
        status(&b_base).await.unwrap_or_default(),
        b.stderr()
    );

    // Under it, each node's steward holds back: a repository that fails now gets no issue on either node.
    for (name, id) in &pending {
        assert!(s.complete_run("acme", name, *id, "failure"), "the run of {name} exists");
    }
    let read_failing = poll_until(DEADLINE, || {
        let (client, a_base, later) = (&client, &a_base, &later);
        async move {
            let Some(fleet) = get(client, format!("{a_base}/api/fleet")).await else { return false };
            let lines = fleet["repositories"].as_array().cloned().unwrap_or_default();
            later.iter().all(|repo| lines.iter().any(|l| l["repo"] == repo.as_str() && l["ci"] == "failing"))
        }
    })
    .await;
    assert!(read_failing, "the later failures were not read");
    assert!(cycles_pass(&client, &[&a_base, &b_base], 3).await, "the nodes ran no three more cycles");
    for repo in &later {
        assert_eq!(issues(&emu, repo), 0, "{repo} got an issue during the fleet's emergency");
    }
    let still = (
        declared(&status(&a_base).await.unwrap_or_default(), &systemic),
        declared(&status(&b_base).await.unwrap_or_default(), &systemic),
    );
    // Still the fleet's emergency, by the same leader (another cause joining it would be a new revision).
    let leader = |seen: &Option<(String, u64)>| seen.as_ref().map(|(leader, _)| leader.clone());
    assert!(
        still.0.is_some() && leader(&still.0) == leader(&seen.0) && leader(&still.1) == leader(&seen.1),
        "the emergency changed: {still:?}"
    );

    // Healed: the leader clears it after its healthy evaluations, and both nodes leave it.
    for repo in systemic.iter().chain(&later) {
        s.add_workflow_run("acme", repo.trim_start_matches("acme/"), RunSpec::new("ci", "main"));
    }
    let cleared = poll_until(DEADLINE, || {
        let (status_a, status_b) = (status(&a_base), status(&b_base));
        async move {
            [status_a.await.unwrap_or_default(), status_b.await.unwrap_or_default()]
                .iter()
                .all(|s| s["emergency"] == false && s["cluster"]["emergency"]["declared"] == false)
        }
    })
    .await;
    assert!(cleared, "the emergency was not cleared on both nodes:\na: {}", status(&a_base).await.unwrap_or_default());
    drop((a, b));
}
