//! A token's rate budget shared through a real nats-server: what one node records the others read; the lowest
//! remaining of the window in force wins, a record of a window that has ended does not count, each rate-limit
//! resource is counted apart, and another token's records are another budget.

use std::time::Duration;

use hive_cluster::{RateSeen, TokenBudget, connect};

use crate::server::{NatsServer, config, poll_until};

async fn budget(server: &NatsServer, node: &str, token_id: &str) -> TokenBudget {
    let config = config(node);
    let client = connect(&server.url(), config.node()).await.expect("connect");
    TokenBudget::open(&client, &config, token_id).await.expect("open the budget")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_reads_the_lowest_remaining_of_the_window_in_force() {
    let server = NatsServer::start().await;
    let (a, b) = (budget(&server, "a", "0123abcd").await, budget(&server, "b", "0123abcd").await);
    let other = budget(&server, "c", "ffff0000").await;
    let now = 1_000_000;
    let seen = |remaining, reset| RateSeen { remaining, reset };

    a.record("core", seen(40, now + 600));
    let heard = poll_until(Duration::from_secs(10), || async { b.lowest("core", now) == Some(seen(40, now + 600)) });
    assert!(heard.await, "b did not hear a: {:?}", b.lowest("core", now));
    b.record("core", seen(25, now + 600));
    let lower = poll_until(Duration::from_secs(10), || async { a.lowest("core", now) == Some(seen(25, now + 600)) });
    assert!(lower.await, "a did not hear b's lower count: {:?}", a.lowest("core", now));
    // a spends more: its newer word is the lowest now, on every node.
    a.record("core", seen(10, now + 600));
    let newer = poll_until(Duration::from_secs(10), || async { b.lowest("core", now) == Some(seen(10, now + 600)) });
    assert!(newer.await, "b did not hear a's newer count: {:?}", b.lowest("core", now));
    // Once the window has ended nothing of it counts.
    assert_eq!(a.lowest("core", now + 600), None);
    // Another token is another budget.
    assert_eq!(other.lowest("core", now), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_resource_is_its_own_budget() {
    let server = NatsServer::start().await;
    let (a, b) = (budget(&server, "a", "0123abcd").await, budget(&server, "b", "0123abcd").await);
    let now = 1_000_000;
    let seen = |remaining, reset| RateSeen { remaining, reset };

    // Recorded one after the other, coalesced or not: each resource's record is written.
    a.record("graphql", seen(0, now + 900));
    a.record("core", seen(4_000, now + 600));
    let heard = poll_until(Duration::from_secs(10), || async {
        b.lowest("graphql", now).is_some() && b.lowest("core", now).is_some()
    });
    assert!(heard.await, "b did not hear both: {:?} {:?}", b.lowest("graphql", now), b.lowest("core", now));
    assert_eq!(b.lowest("graphql", now), Some(seen(0, now + 900)));
    assert_eq!(b.lowest("core", now), Some(seen(4_000, now + 600)), "a spent graphql budget counts against core");
    assert_eq!(b.lowest("search", now), None);
    // A name that cannot be part of a key is not shared, and does not stop the others.
    a.record("no.such", seen(0, now + 900));
    a.record("search", seen(3, now + 60));
    let search = poll_until(Duration::from_secs(10), || async { b.lowest("search", now).is_some() });
    assert!(search.await, "b did not hear a's search record");
    assert_eq!(b.lowest("no.such", now), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_id_that_cannot_be_a_key_is_refused() {
    let server = NatsServer::start().await;
    let config = config("a");
    let client = connect(&server.url(), config.node()).await.expect("connect");
    for bad in ["", "a.b", "a*", &"f".repeat(65)] {
        let error = TokenBudget::open(&client, &config, bad).await.expect_err(bad).to_string();
        assert!(error.contains("a token's id must be 1 to 64 letters and digits"), "{error}");
    }
}
