//! Writes de-duplicated by JetStream against a real nats-server: a key recorded twice within the window is a
//! duplicate the second time, from any node; other keys and other repositories are not; of several nodes that record
//! the same write at once exactly one is first; past the window a key is a new write again; a server restart inside the window forgets nothing; without a server
//! nothing is recorded, and the write must not be sent. A write released (definitely not sent) may be recorded
//! again at once, by exactly one of the nodes racing for it; a release of what was not recorded changes nothing.

use std::time::Duration;

use hive_cluster::{ClusterError, Writes, connect};

use crate::server::{NatsServer, TTL, config, poll_until};

async fn writes(server: &NatsServer, node: &str) -> Writes {
    let config = config(node);
    let client = connect(&server.url(), config.node()).await.expect("connect");
    Writes::open(&client, &config).await.expect("open the stream of writes")
}

fn is_duplicate<T>(result: &Result<T, ClusterError>) -> bool {
    matches!(result, Err(ClusterError::Duplicate { .. }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_twice_within_the_window_is_a_duplicate_and_other_keys_are_not() {
    let server = NatsServer::start().await;
    let (a, b) = (writes(&server, "a").await, writes(&server, "b").await);
    assert_eq!(a.window(), TTL * 2);

    a.record("org/api", "issue:org/api:ci/test").await.expect("the first record of a key");
    let again = a.record("org/api", "issue:org/api:ci/test").await;
    assert!(is_duplicate(&again), "{again:?}");
    let message = again.expect_err("a duplicate").to_string();
    assert!(message.contains("the write 'issue:org/api:ci/test' to 'org/api' was already sent"), "{message}");
    // Another node, on its own connection, finds the same write recorded.
    let other = b.record("org/api", "issue:org/api:ci/test").await;
    assert!(is_duplicate(&other), "{other:?}");
    // Another key, or the same key for another repository, is another write.
    a.record("org/api", "issue:org/api:ci/lint").await.expect("another key");
    b.record("org/web", "issue:org/api:ci/test").await.expect("another repository");
    // A key with what no header could hold as it is.
    a.record("org/api", "comment:org/api:job\r\nX: y:tag").await.expect("a key with a line break");
    let hostile = b.record("org/api", "comment:org/api:job\r\nX: y:tag").await;
    assert!(is_duplicate(&hostile), "{hostile:?}");

    // Past the window the write may be sent again: a write refused or failed is proposed again later.
    let again =
        poll_until(Duration::from_secs(20), || async { a.record("org/api", "issue:org/api:ci/test").await.is_ok() });
    assert!(again.await, "the key was still a duplicate 20s after a window of {:?}", a.window());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_nodes_recording_the_same_write_at_once_exactly_one_is_first() {
    let server = NatsServer::start().await;
    let mut nodes = Vec::new();
    for name in ["a", "b", "c", "d"] {
        nodes.push(writes(&server, name).await);
    }
    for round in 0..20 {
        let key = format!("open_pull_request:org/api:fix-{round}");
        let attempts = nodes.iter().map(|node| {
            let (node, key) = (node.clone(), key.clone());
            tokio::spawn(async move { node.record("org/api", &key).await })
        });
        let mut first = 0;
        for attempt in attempts.collect::<Vec<_>>() {
            let result = attempt.await.expect("the task ran");
            match result {
                Ok(_) => first += 1,
                Err(ClusterError::Duplicate { .. }) => {}
                Err(other) => panic!("round {round}: {other}"),
            }
        }
        assert_eq!(first, 1, "round {round}: {first} nodes were first to send '{key}'");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_inside_the_window_forgets_no_write() {
    let mut server = NatsServer::start().await;
    // A window far longer than a restart takes, so that only a server that forgot could let the write through.
    let config =
        hive_cluster::ClusterConfig::new(hive_cluster::NodeName::new("a").expect("valid"), Duration::from_secs(60))
            .expect("valid");
    let client = connect(&server.url(), config.node()).await.expect("connect");
    let writes = Writes::open(&client, &config).await.expect("open");
    writes.record("org/api", "merge:org/api#3").await.expect("the first record");

    server.restart().await;
    // The client reconnects on its own; until it has, a record is refused as unanswered, never as first.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let again = loop {
        match writes.record("org/api", "merge:org/api#3").await {
            Err(ClusterError::Unrecorded { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => break other,
        }
    };
    assert!(is_duplicate(&again), "the restarted server let the write through again: {again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_server_nothing_is_recorded_and_the_write_is_refused() {
    let mut server = NatsServer::start().await;
    let writes = writes(&server, "a").await;
    server.stop();
    let result = writes.record("org/api", "issue:org/api:ci/test").await;
    let Err(error @ ClusterError::Unrecorded { .. }) = result else { panic!("recorded without a server: {result:?}") };
    let message = error.to_string();
    assert!(message.contains("nats did not record the write 'issue:org/api:ci/test' to 'org/api'"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_with_another_window_is_an_error_that_says_so() {
    let server = NatsServer::start().await;
    let _a = writes(&server, "a").await;
    let other =
        hive_cluster::ClusterConfig::new(hive_cluster::NodeName::new("b").expect("valid"), TTL * 3).expect("valid");
    let client = connect(&server.url(), other.node()).await.expect("connect");
    let error = Writes::open(&client, &other).await.expect_err("another window").to_string();
    assert!(error.contains("cannot open the stream 'hive-hive-writes'") && error.contains("same ttl"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_write_is_recorded_again_at_once_by_exactly_one_of_the_nodes_racing_for_it() {
    let server = NatsServer::start().await;
    let mut nodes = Vec::new();
    for name in ["a", "b", "c", "d"] {
        nodes.push(writes(&server, name).await);
    }
    let (repo, key) = ("org/api", "issue:org/api:ci/test");
    let mut last = nodes[0].record(repo, key).await.expect("the first record");
    assert_eq!(last.generation, 0);
    assert!(is_duplicate(&nodes[1].record(repo, key).await));

    // Each round: the write recorded last is released (it was not sent), and all nodes race to record it again.
    for round in 1..=10 {
        nodes[0].release(repo, key, last.sequence).await.expect("released");
        // A release repeated is harmless: the generation moves on once.
        nodes[0].release(repo, key, last.sequence).await.expect("released again");
        let attempts = nodes.iter().map(|node| {
            let node = node.clone();
            tokio::spawn(async move { node.record(repo, key).await })
        });
        let mut won = Vec::new();
        for attempt in attempts.collect::<Vec<_>>() {
            match attempt.await.expect("the task ran") {
                Ok(recorded) => won.push(recorded),
                Err(ClusterError::Duplicate { .. }) => {}
                Err(other) => panic!("round {round}: {other}"),
            }
        }
        assert_eq!(
            won.iter().map(|r| r.generation).collect::<Vec<_>>(),
            [round],
            "round {round}: the winners' generations"
        );
        last = won[0];
        // Recorded and not released: a duplicate for every node, this one too.
        for node in &nodes {
            assert!(is_duplicate(&node.record(repo, key).await), "round {round}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_of_what_was_not_recorded_changes_nothing() {
    let server = NatsServer::start().await;
    let (a, b) = (writes(&server, "a").await, writes(&server, "b").await);
    let (repo, key) = ("org/api", "merge:org/api#3");
    // Never recorded: nothing to release, and the first record is generation 0.
    a.release(repo, key, 1).await.expect("a release of nothing");
    let first = b.record(repo, key).await.expect("the first record");
    assert_eq!(first.generation, 0);
    // A record of the same generation that is not this one (as after the window dropped a key's messages and
    // another node recorded generation 0 anew) releases nothing: the write sent stays sent.
    a.release(repo, key, first.sequence + 1_000).await.expect("another record");
    assert!(is_duplicate(&a.record(repo, key).await));
    // Released, then released late again after another node recorded the next generation: that record stays.
    b.release(repo, key, first.sequence).await.expect("released");
    assert_eq!(a.record(repo, key).await.expect("the next generation").generation, 1);
    b.release(repo, key, first.sequence).await.expect("a stale release");
    assert!(is_duplicate(&b.record(repo, key).await));
    // Another key of the same repository is not touched by any of it.
    a.record(repo, "merge:org/api#4").await.expect("another key");
}
