//! The leader's election, the emergency bulletin and the fleet's events against a real nats-server: one leader at a
//! time, another within a ttl and a period of the leader's connection dying, a deposed leader's write refused; the
//! bulletin followed from the value in force; events from other nodes read, malformed ones dropped.

use std::time::Duration;

use futures::StreamExt;
use hive_cluster::{Board, Bulletin, ClusterError, Election, Events, LeaderChange, LeaderHandle, NodeName, connect};
use tokio::{sync::mpsc, time::Instant};

use crate::server::{NatsServer, TTL, config, config_with_ttl, poll_until};

struct Candidate {
    handle: LeaderHandle,
    client: async_nats::Client,
}

async fn candidate(server: &NatsServer, name: &str, changes: &mpsc::UnboundedSender<LeaderChange>) -> Candidate {
    let config = config(name);
    let client = connect(&server.url(), config.node()).await.expect("connect");
    let handle = Election::start(&client, &config, Some(changes.clone())).await.expect("start an election");
    Candidate { handle, client }
}

/// Every leadership change, checked as it is read: a node gains a term only after every other node's last term
/// ended (its deadline passed, or it stepped down), so no two nodes ever led with valid terms at once.
struct Terms {
    changes: mpsc::UnboundedReceiver<LeaderChange>,
    /// Per node: when its current term ends, if it leads.
    leading: Vec<(NodeName, Instant)>,
    /// Who gained a term, in order.
    gained: Vec<NodeName>,
    /// When each of them did, by its election.
    gained_at: Vec<Instant>,
    /// Renewals read.
    renewals: usize,
}

impl Terms {
    fn read(&mut self) {
        while let Ok(change) = self.changes.try_recv() {
            match change.term {
                Some(term) => {
                    let renewal = self.leading.iter().any(|(node, _)| *node == change.node);
                    for (node, until) in &self.leading {
                        assert!(
                            *node == change.node || *until <= change.at,
                            "{} led from {:?} while {node}'s term ran until {until:?}",
                            change.node,
                            change.at
                        );
                    }
                    self.leading.retain(|(node, _)| *node != change.node);
                    self.leading.push((change.node.clone(), term.until));
                    if renewal {
                        self.renewals += 1;
                    } else {
                        self.gained.push(change.node);
                        self.gained_at.push(change.at);
                    }
                }
                None => {
                    // A term that ends early ends now; one that lapsed ended at its deadline.
                    for (node, until) in &mut self.leading {
                        if *node == change.node {
                            *until = (*until).min(change.at);
                        }
                    }
                    self.leading.retain(|(node, _)| *node != change.node);
                }
            }
        }
    }

    /// The node leading by the changes read, if any.
    fn leader(&self) -> Option<&NodeName> {
        self.leading.iter().find(|(_, until)| *until > Instant::now()).map(|(node, _)| node)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_leads_and_another_within_a_ttl_and_a_period_of_its_connection_dying() {
    let server = NatsServer::start().await;
    let (tx, changes) = mpsc::unbounded_channel();
    let mut terms = Terms { changes, leading: Vec::new(), gained: Vec::new(), gained_at: Vec::new(), renewals: 0 };
    let mut nodes = Vec::new();
    for name in ["a", "b", "c"] {
        nodes.push(candidate(&server, name, &tx).await);
    }

    let led = poll_until(Duration::from_secs(10), || {
        terms.read();
        let led = terms.leader().is_some();
        async move { led }
    })
    .await;
    assert!(led, "no node leads after 10s");
    let first = terms.leader().cloned().expect("a leader");
    // It stays the one leader over several renewals, and every node's bucket names it.
    let renewed = poll_until(Duration::from_secs(10), || {
        terms.read();
        let renewed = terms.renewals >= 3;
        async move { renewed }
    })
    .await;
    assert!(renewed, "the leader did not renew three times in 10s");
    assert_eq!(terms.gained, std::slice::from_ref(&first), "leadership changed hands with nobody failing");
    for node in &nodes {
        assert_eq!(node.handle.leader().await.expect("read"), Some(first.clone()));
        let confirmed = node.handle.confirm().await;
        if *node.handle.node() == first {
            confirmed.expect("the leader confirms its own term");
        } else {
            assert!(matches!(confirmed, Err(ClusterError::NotLeader { .. })), "{confirmed:?}");
        }
    }

    // kill -9: the leader's task ends where it is and its connection goes; it releases nothing.
    let at = nodes.iter().position(|n| *n.handle.node() == first).expect("the leader is one of them");
    let killed = nodes.remove(at);
    killed.handle.abort();
    drop(killed.client);
    terms.read();
    let last_until = terms.leading.iter().find(|(node, _)| *node == first).map(|(_, until)| *until).expect("first led");

    // The key lapses on the server a ttl after its last renewal was stored: the dead leader's last deadline plus
    // the margin is when that renewal was sent, and it was stored within the operation time-out (a period). A
    // survivor claims once a period, each claim answered within a period. The bound comes from the protocol, in
    // periods, and is read on the elections' own clocks, not on this test's wake-ups.
    let period = TTL / 3;
    let margin = TTL / 4;
    let moved = poll_until(TTL * 10, || {
        terms.read();
        let moved = terms.leader().is_some_and(|leader| *leader != first);
        async move { moved }
    })
    .await;
    assert!(moved, "nobody leads after {first} was killed");
    terms.read();
    assert_eq!(terms.gained.len(), 2, "one new leader, once: {:?}", terms.gained);
    let bound = last_until + margin + period * 3;
    let gained = terms.gained_at[1];
    assert!(
        gained <= bound,
        "the next leader gained its term a ttl and {:?} after the dead leader's last renewal, more than three periods",
        gained.saturating_duration_since(last_until + margin)
    );

    // Stopped gracefully, the leader gives the key back: the last node leads within a period or two.
    let second = terms.leader().cloned().expect("a leader");
    let at = nodes.iter().position(|n| *n.handle.node() == second).expect("the leader is one of them");
    nodes.remove(at).handle.stop().await;
    let third = poll_until(TTL, || {
        terms.read();
        let third = terms.leader().is_some_and(|leader| *leader != first && *leader != second);
        async move { third }
    })
    .await;
    assert!(third, "the last node does not lead after the second stopped");
}

/// A leader stopped while a renewal of its key is in flight gives the key back all the same: its release waits
/// for the renewal's answer and is pinned to the revision it stored, so the next node leads within a period or
/// two, not a ttl later. The server is frozen to hold the renewal in flight, and the moments to stop and thaw it
/// are read off the election's own schedule (a renewal every period, each given a period to be answered).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_stopped_while_a_renewal_is_in_flight_gives_the_key_back() {
    let server = NatsServer::start().await;
    let ttl = Duration::from_secs(6);
    let period = ttl / 3;
    let (tx, _changes) = mpsc::unbounded_channel();
    let start = |name: &'static str| {
        let (server, tx) = (&server, tx.clone());
        async move {
            let config = config_with_ttl(name, ttl);
            let client = connect(&server.url(), config.node()).await.expect("connect");
            let handle = Election::start(&client, &config, Some(tx)).await.expect("start an election");
            (handle, client)
        }
    };
    let (a, _a_client) = start("a").await;
    let leads = poll_until(ttl * 2, || {
        let leads = a.term().is_some();
        async move { leads }
    });
    assert!(leads.await, "a does not lead");
    let (b, _b_client) = start("b").await;
    // Right after a renewal is answered the next is a period away: freeze the server, and stop a once that one
    // has been sent (a third of a period after it) and long before it would time out (a period after it).
    let mut terms = a.watch();
    let held = a.term().expect("a leads").revision;
    while terms.borrow_and_update().as_ref().is_none_or(|term| term.revision == held) {
        terms.changed().await.expect("a's election runs");
    }
    let renewed = Instant::now();
    server.freeze();
    tokio::time::sleep_until(renewed + period + period / 3).await;
    let stopping = tokio::spawn(a.stop());
    // The stop reaches a's task in far less than this; the renewal is still a good half period from its time-out.
    tokio::time::sleep(period / 5).await;
    server.thaw();
    stopping.await.expect("a stopped");
    // Released, the key is b's at its next claim (a period), well before the ttl a lapse would take.
    let took_over = poll_until(ttl / 2, || {
        let leads = b.term().is_some();
        async move { leads }
    });
    assert!(took_over.await, "b did not lead within half a ttl of a's stop");
    b.stop().await;
}

/// The value a board holds, or what else it says.
fn value<T: Clone>(board: &Board<T>) -> Result<(T, u64), String> {
    match board {
        Board::Posted(posted) => Ok((posted.value.clone(), posted.revision)),
        other => Err(format!("not a value at revision {}", other.revision())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bulletin_is_followed_from_the_value_in_force_and_refuses_a_stale_write() {
    let server = NatsServer::start().await;
    let config = config("a");
    let client = connect(&server.url(), config.node()).await.expect("connect");
    let bulletin = Bulletin::emergency(&client, &config).await.expect("open");
    assert_eq!(bulletin.read::<String>().await.expect("read"), None);

    let first = bulletin.post(&"declared".to_owned(), None).await.expect("the first post");
    assert!(matches!(bulletin.post(&"again".to_owned(), None).await, Err(ClusterError::Stale { .. })));
    // Followed by a node that comes later: the value in force first, then each new one.
    let mut follow = Box::pin(bulletin.follow::<String>().await.expect("follow"));
    let seen = follow.next().await.expect("an item").expect("readable");
    assert_eq!(value(&seen), Ok(("declared".to_owned(), first)));
    let second = bulletin.post(&"cleared".to_owned(), Some(first)).await.expect("pinned to the first");
    let seen = follow.next().await.expect("an item").expect("readable");
    assert_eq!(value(&seen), Ok(("cleared".to_owned(), second)));
    // A writer that read before the second write is refused.
    assert!(matches!(bulletin.post(&"late".to_owned(), Some(first)).await, Err(ClusterError::Stale { .. })));
    let now = bulletin.read::<String>().await.expect("read").expect("written");
    assert_eq!(value(&now), Ok(("cleared".to_owned(), second)));
    // A value this build cannot read comes with its revision, and a write pinned to it replaces it.
    let third = bulletin.post(&7_u32, Some(second)).await.expect("another type");
    let seen = follow.next().await.expect("an item").expect("the watch goes on");
    assert!(matches!(seen, Board::Unreadable { revision, .. } if revision == third), "{seen:?}");
    let read = bulletin.read::<String>().await.expect("read").expect("written");
    assert!(matches!(read, Board::Unreadable { revision, .. } if revision == third), "{read:?}");
    let fourth = bulletin.post(&"declared".to_owned(), Some(third)).await.expect("over the unreadable value");
    assert_eq!(value(&follow.next().await.expect("an item").expect("readable")), Ok(("declared".to_owned(), fourth)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulletin_deleted_or_purged_by_hand_is_withdrawn_and_written_over() {
    let server = NatsServer::start().await;
    let config = config("a");
    let client = connect(&server.url(), config.node()).await.expect("connect");
    let bulletin = Bulletin::emergency(&client, &config).await.expect("open");
    let first = bulletin.post(&"declared".to_owned(), None).await.expect("the first post");
    let mut follow = Box::pin(bulletin.follow::<String>().await.expect("follow"));
    assert_eq!(value(&follow.next().await.expect("an item").expect("readable")), Ok(("declared".to_owned(), first)));

    // What an operator's `nats kv del` and `nats kv purge` do.
    let store = async_nats::jetstream::new(client.clone()).get_key_value("hive-emergency").await.expect("the bucket");
    store.delete("current").await.expect("delete");
    let deleted = follow.next().await.expect("an item").expect("a withdrawal");
    assert!(matches!(deleted, Board::Withdrawn { revision } if revision > first), "{deleted:?}");
    assert_eq!(bulletin.read::<String>().await.expect("read"), Some(deleted.clone()));
    let second = bulletin.post(&"declared".to_owned(), Some(deleted.revision())).await.expect("pinned to the deletion");
    assert_eq!(value(&follow.next().await.expect("an item").expect("readable")), Ok(("declared".to_owned(), second)));

    store.purge("current").await.expect("purge");
    let purged = follow.next().await.expect("an item").expect("a withdrawal");
    assert!(matches!(purged, Board::Withdrawn { revision } if revision > second), "{purged:?}");
    let third = bulletin.post(&"cleared".to_owned(), Some(purged.revision())).await.expect("pinned to the purge");
    assert_eq!(value(&follow.next().await.expect("an item").expect("readable")), Ok(("cleared".to_owned(), third)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaders_write_runs_only_within_its_term() {
    let server = NatsServer::start().await;
    let (tx, _changes) = mpsc::unbounded_channel();
    let a = candidate(&server, "a", &tx).await;
    let led = poll_until(Duration::from_secs(10), || {
        let leads = a.handle.term().is_some();
        async move { leads }
    })
    .await;
    assert!(led, "a alone does not lead after 10s");
    let b = candidate(&server, "b", &tx).await;

    // A write that is never answered is given up at the end of the confirmed term, not awaited for ever.
    let abandoned = tokio::time::timeout(
        Duration::from_secs(10),
        a.handle.write(std::future::pending::<Result<(), ClusterError>>()),
    )
    .await
    .expect("given up by the term's deadline");
    assert!(matches!(abandoned, Err(ClusterError::TermEnded { .. })), "{abandoned:?}");
    assert_eq!(a.handle.write(async { Ok::<_, ClusterError>(7) }).await.expect("a leads"), 7);

    // A node that does not lead never starts the write.
    let started = std::sync::atomic::AtomicBool::new(false);
    let refused = b
        .handle
        .write(async {
            started.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, ClusterError>(())
        })
        .await;
    assert!(matches!(refused, Err(ClusterError::NotLeader { .. })), "{refused:?}");
    assert!(!started.load(std::sync::atomic::Ordering::SeqCst), "b's write ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_from_other_nodes_are_read_and_malformed_ones_dropped() {
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Body {
        n: u32,
    }
    let server = NatsServer::start().await;
    let (a, b) = (config("a"), config("b"));
    let client_a = connect(&server.url(), a.node()).await.expect("connect");
    let client_b = connect(&server.url(), b.node()).await.expect("connect");
    let (events_a, events_b) = (Events::new(&client_a, &a), Events::new(&client_b, &b));
    let mut heard = events_a.subscribe::<Body>().await.expect("subscribe");
    // The subscription reaches the server before anything is sent.
    client_a.flush().await.expect("flush");

    events_a.publish("share", &Body { n: 0 }).await.expect("a's own, not returned to it");
    client_b.publish("hive.hive.events.b.share", "not json".into()).await.expect("raw");
    client_b
        .publish("hive.hive.events.b.share", r#"{"v":9,"node":"b","at":"t","body":{"n":1}}"#.into())
        .await
        .expect("raw");
    client_b
        .publish("hive.hive.events.c.share", r#"{"v":1,"node":"b","at":"t","body":{"n":2}}"#.into())
        .await
        .expect("raw");
    events_b.publish("share", &"a string".to_owned()).await.expect("a body a cannot read");
    events_b.publish("share", &Body { n: 3 }).await.expect("publish");
    assert!(events_b.publish("no.dots", &Body { n: 4 }).await.is_err(), "a kind is one token");

    let remote = tokio::time::timeout(Duration::from_secs(5), heard.next()).await.expect("in time").expect("open");
    assert_eq!((remote.node.as_str(), remote.kind.as_str(), remote.body), ("b", "share", Body { n: 3 }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_not_queued_while_the_connection_is_down() {
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Body {
        n: u32,
    }
    let mut server = NatsServer::start().await;
    let (a, b) = (config("a"), config("b"));
    let client_a = connect(&server.url(), a.node()).await.expect("connect");
    let events_a = Events::new(&client_a, &a);

    // Down: a publication is refused at once, not queued to be sent ahead of the next renewals.
    server.stop();
    let down = poll_until(Duration::from_secs(10), || {
        let state = client_a.connection_state();
        async move { state != async_nats::connection::State::Connected }
    })
    .await;
    assert!(down, "the client did not notice the server stopped");
    for n in 0..3 {
        let refused = events_a.publish("share", &Body { n }).await;
        assert!(matches!(refused, Err(ClusterError::Publish { .. })), "{refused:?}");
    }

    // Back: b hears what a publishes from then on, and nothing from while it was down.
    server.restart().await;
    let client_b = connect(&server.url(), b.node()).await.expect("connect");
    let mut heard = Events::new(&client_b, &b).subscribe::<Body>().await.expect("subscribe");
    client_b.flush().await.expect("flush");
    let up = poll_until(Duration::from_secs(10), || {
        let state = client_a.connection_state();
        async move { state == async_nats::connection::State::Connected }
    })
    .await;
    assert!(up, "the client did not reconnect");
    events_a.publish("share", &Body { n: 9 }).await.expect("connected again");
    let remote = tokio::time::timeout(Duration::from_secs(5), heard.next()).await.expect("in time").expect("open");
    assert_eq!(remote.body, Body { n: 9 }, "what was published while down was sent after all");
}
