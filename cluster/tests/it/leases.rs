//! Leases and the fence against a real nats-server: claim, refusal, release, a stale holder's renewal, the fence
//! through a renewal and against every kind of stale view, hostile repository names, and the listing of many leases
//! while they are renewed, released and lapse.

use std::collections::BTreeSet;

use futures::StreamExt;
use hive_cluster::{ClusterError, Fence, Lease, Leases, Refusal, connect};
use tokio::time::Instant;

use crate::server::{NatsServer, TTL, config, poll_until};

async fn leases(server: &NatsServer, node: &str) -> Leases {
    let config = config(node);
    let client = connect(&server.url(), config.node()).await.expect("connect");
    Leases::open(&client, &config).await.expect("open the leases' bucket")
}

#[tokio::test]
async fn a_lease_is_one_nodes_until_released_then_anothers() {
    let server = NatsServer::start().await;
    let (a, b) = (leases(&server, "a").await, leases(&server, "b").await);

    let lease = a.claim("org/one").await.expect("a claims a free lease");
    let entry = b.read("org/one").await.expect("read").expect("the lease is in the bucket");
    assert_eq!((entry.record.node.as_str(), entry.record.repo.as_str()), ("a", "org/one"));
    assert_eq!(entry.revision, lease.revision);

    match b.claim("org/one").await {
        Err(ClusterError::Taken { holder, revision, .. }) => {
            assert_eq!((holder.as_str(), revision), ("a", lease.revision))
        }
        other => panic!("b claimed a held lease: {other:?}"),
    }
    // The same process claiming again (its first answer lost) gets its own lease back, renewed.
    let again = a.claim("org/one").await.expect("a's own lease");
    assert!(again.revision > lease.revision);

    a.release(&again).await.expect("release");
    assert_eq!(b.read("org/one").await.expect("read"), None, "released");
    let taken = b.claim("org/one").await.expect("b claims it after the release");
    assert_eq!(b.read("org/one").await.expect("read").expect("held").record.node.as_str(), "b");
    assert!(taken.revision > again.revision);
}

#[tokio::test]
async fn a_stale_holders_renewal_and_release_fail_and_the_fence_refuses_its_writes() {
    let server = NatsServer::start().await;
    let (a, b) = (leases(&server, "a").await, leases(&server, "b").await);
    let (fence_a, fence_b) = (Fence::new(a.clone()), Fence::new(b.clone()));

    let first = a.claim("org/r").await.expect("claim");
    fence_a.check(&first).await.expect("a holds it");
    let renewed = a.renew(&first).await.expect("renew");
    assert!(renewed.held_until >= first.held_until);
    assert_eq!(renewed.claim, first.claim, "a renewal keeps the claim");

    // The revision moved on: the old view of the lease renews and releases nothing.
    match a.renew(&first).await {
        Err(ClusterError::Stale { revision, .. }) => assert_eq!(revision, first.revision),
        other => panic!("a renewal pinned to an old revision: {other:?}"),
    }
    assert!(matches!(a.release(&first).await, Err(ClusterError::Stale { .. })), "a late release deletes nothing");
    assert!(b.read("org/r").await.expect("read").is_some(), "still a's");
    // But it is the same holding: a writer that looks while a renewal is stored and not yet answered may write.
    fence_a.check(&first).await.expect("the holder, one renewal behind");

    // Released and claimed again by the same process: a new claim, and a view of the old one writes nothing.
    a.release(&renewed).await.expect("release");
    assert!(matches!(fence_a.check(&renewed).await, Err(ClusterError::Fenced { refusal: Refusal::Vacant, .. })));
    let again = a.claim("org/r").await.expect("claim again");
    assert_ne!(again.claim, renewed.claim, "a new claim has a new id");
    match fence_a.check(&renewed).await {
        Err(ClusterError::Fenced { refusal: Refusal::Moved { revision }, .. }) => assert_eq!(revision, again.revision),
        other => panic!("the fence let a view of an earlier claim write: {other:?}"),
    }
    fence_a.check(&again).await.expect("the new claim may write");

    // A hold past its local deadline writes nothing, whatever the bucket still says.
    let lapsed = Lease { held_until: Instant::now(), ..again.clone() };
    let error = fence_a.check(&lapsed).await.expect_err("lapsed");
    assert!(matches!(&error, ClusterError::Fenced { refusal: Refusal::Lapsed, .. }), "{error}");
    assert!(error.to_string().contains("lapsed without a renewal; is nats reachable?"), "{error}");

    // Handed over: a's renewal of the lease it had fails, and its fence refuses, naming the new holder.
    a.release(&again).await.expect("release");
    let theirs = b.claim("org/r").await.expect("b claims");
    assert!(matches!(a.renew(&again).await, Err(ClusterError::Stale { .. })));
    let error = fence_a.check(&again).await.expect_err("b holds it");
    assert!(matches!(&error, ClusterError::Fenced { refusal: Refusal::HeldBy { node, .. }, .. } if node == "b"));
    assert_eq!(
        error.to_string(),
        format!(
            "refusing to write to 'org/r' at lease revision {}: node 'b' holds its lease now (revision {})",
            again.revision, theirs.revision
        )
    );
    fence_b.check(&theirs).await.expect("b may write");
}

#[tokio::test]
async fn hostile_repository_names_are_leased_under_their_own_keys() {
    let server = NatsServer::start().await;
    let a = leases(&server, "a").await;
    let names = ["..", ".", "a.b/c", "../etc", "dé/jà", "日本/リポ", "star/*", "gt/>", "sp ace/x", "_2F", "/"];
    for name in names {
        a.claim(name).await.unwrap_or_else(|error| panic!("claim {name:?}: {error}"));
    }
    let all = a.all().await.expect("list");
    let listed: Vec<&str> = all.keys().map(String::as_str).collect();
    let mut expected = names.to_vec();
    expected.sort_unstable();
    assert_eq!(listed, expected);
    for (repo, entry) in &all {
        assert_eq!(&entry.record.repo, repo, "the value names the repository its key encodes");
    }
    assert!(matches!(a.claim("").await, Err(ClusterError::InvalidRepo { .. })));
}

/// Every live lease is listed, and only those, among hundreds: while its holder renews them all the time (each
/// renewal rewrites its key, the case nats-server 2.9's last-per-subject listing missed), beside leases released
/// (a delete marker stays under the key) and leases left to lapse (their keys gone with the ttl).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_live_lease_is_listed_among_many_renewed_released_and_lapsed_ones() {
    let server = NatsServer::start().await;
    let (a, b) = (leases(&server, "a").await, leases(&server, "b").await);
    let names = |prefix: &str, n: usize| (0..n).map(|i| format!("{prefix}/r{i:03}")).collect::<Vec<_>>();
    let claim_all = |leases: &Leases, repos: Vec<String>| {
        let leases = leases.clone();
        async move {
            futures::stream::iter(repos.into_iter().map(|repo| {
                let leases = leases.clone();
                async move { leases.claim(&repo).await.unwrap_or_else(|e| panic!("claim {repo}: {e}")) }
            }))
            .buffer_unordered(32)
            .collect::<Vec<Lease>>()
            .await
        }
    };
    // b's leases are left to lapse; a releases a third of its own and renews the rest without a pause.
    claim_all(&b, names("lapsing", 100)).await;
    let mut held = claim_all(&a, names("org", 300)).await;
    held.sort_by(|x, y| x.repo.cmp(&y.repo));
    let released = held.split_off(200);
    for lease in &released {
        a.release(lease).await.expect("release");
    }
    let live: BTreeSet<String> = held.iter().map(|lease| lease.repo.clone()).collect();
    let renewing = {
        let a = a.clone();
        tokio::spawn(async move {
            loop {
                for lease in &mut held {
                    *lease = a.renew(lease).await.expect("renew");
                }
            }
        })
    };

    let listed = |a: &Leases| {
        let a = a.clone();
        async move { a.all().await.expect("list").into_keys().collect::<BTreeSet<String>>() }
    };
    let lapsed = poll_until(TTL * 4, || {
        let listed = listed(&a);
        let live = live.clone();
        async move { listed.await == live }
    });
    assert!(
        lapsed.await,
        "the listing never came to the live leases: {:?}",
        listed(&a).await.symmetric_difference(&live).collect::<Vec<_>>()
    );
    // Listed again and again while every key is rewritten: never one missing, never one too many.
    for round in 0..10 {
        let now = listed(&a).await;
        assert_eq!(now.symmetric_difference(&live).collect::<Vec<_>>(), Vec::<&String>::new(), "listing {round}");
    }
    renewing.abort();
}
