//! What a node checks beside the lease before it sends a write under `--cluster`: that no node of the fleet sent
//! the same write within the stream's window (hive-cluster's [`Writes`], the write's idempotency key as the
//! message id), and, for the fleet's emergency alert, that this node leads the fleet now.
//!
//! The alert is the one write no lease fences: its repository is often outside the fleet, and every node obeys the
//! fleet's emergency. Without a check every node would try to file it, and only the forge-side marker, looked up
//! before each node's write, would keep it to one issue; two nodes that look before either files would file two.
//! So only the leader sends it ([`LeaderFence::confirm`], right before the write), and the stream of writes is a
//! second guard against a leader deposed between its confirmation and its write.
//!
//! A write let through and then definitely not sent is released on the stream ([`Sending::release`], the record's
//! stream sequence carried by the permit's ticket), so it is not taken for sent for the rest of the window.
//!
//! Each check that lets a write through gives a [`Permit`] that ends when the permission does: the term as
//! confirmed, for the alert, and for every write the stream's window after the record (the lease's deadline is
//! added by the fence). The steward sends the write's requests only until then (`hive_forge::send_before`): one
//! that GitHub's rate limit holds longer is not sent, since the stream may have forgotten the write by then and
//! another node sent it.

use hive::actors::{Permit, is_alert_write};
use hive_cluster::{LeaderFence, Writes};
use tokio::time::Instant;

/// The checks of one node, shared by its steward's fence. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Sending {
    writes: Writes,
    leader: LeaderFence,
}

impl Sending {
    pub(crate) fn new(writes: Writes, leader: LeaderFence) -> Self {
        Self { writes, leader }
    }

    /// Whether the write `key` to `repo` is the emergency alert's, given the alert's repository.
    pub(crate) fn is_alert(alert_repo: Option<&str>, repo: &str, key: &str) -> bool {
        alert_repo == Some(repo) && is_alert_write(key)
    }

    /// For a write the lease let through: a permit when this node is the first of the fleet to send it within the
    /// window, which ends with the stream's memory of it (the window after the record was asked for: a request
    /// sent later could follow another node's, sent once the stream had forgotten this one). A duplicate, or a
    /// stream that does not answer, is a refusal.
    pub(crate) async fn record(&self, repo: &str, key: &str) -> Result<Permit, String> {
        let asked = Instant::now();
        let recorded = self.writes.record(repo, key).await.map_err(|err| hive_support::error_chain(&err))?;
        Ok(Permit {
            ticket: recorded.sequence,
            ..Permit::new(asked + self.writes.window(), "the stream's memory of the write")
        })
    }

    /// A write `permit` let through was definitely not sent: its record is released, so that the next cycle's
    /// proposal of it, on whichever node may write then, is not refused as sent. A release that fails leaves the
    /// record to its window, as before releases: logged, not an error of the write.
    pub(crate) async fn release(&self, repo: &str, key: &str, permit: &Permit) {
        if let Err(err) = self.writes.release(repo, key, permit.ticket).await {
            tracing::warn!(%repo, "{}", hive_support::error_chain(&err));
        }
    }

    /// For the emergency alert: a permit only when this node leads the fleet, by its term and the bucket read now,
    /// and is the first to send it within the window; it ends with the term (as confirmed) or the stream's memory,
    /// whichever ends first.
    pub(crate) async fn alert(&self, repo: &str, key: &str) -> Result<Permit, String> {
        let term = self.leader.confirm().await.map_err(|err| hive_support::error_chain(&err))?;
        let permit = self.record(repo, key).await?;
        Ok(permit.at_most(term.until, "this node's term as the fleet's leader"))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hive_cluster::{ClusterConfig, Election, LeaderHandle, NodeName};
    use hive_testkit::NatsServer;

    use super::*;

    /// A node's checks on a connection of its own, with its election.
    async fn node(server: &NatsServer, name: &str) -> (Sending, LeaderHandle) {
        let config = ClusterConfig::new(NodeName::new(name).expect("valid"), Duration::from_secs(3)).expect("valid");
        let client = hive_cluster::connect(&server.url(), config.node()).await.expect("connect");
        let writes = Writes::open(&client, &config).await.expect("the stream of writes");
        let election = Election::start(&client, &config, None).await.expect("an election");
        (Sending::new(writes, election.fence()), election)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_nodes_asked_to_send_the_same_write_send_it_once_and_only_the_leader_sends_the_alert() {
        let server = NatsServer::start().await;
        let (a, a_election) = node(&server, "node-a").await;
        let (b, b_election) = node(&server, "node-b").await;

        // The same write, asked of both nodes at once, any number of times: one of them sends it.
        for round in 0..10 {
            let key = format!("issue:acme/api:ci/test/{round}");
            let (on_a, on_b) = tokio::join!(a.record("acme/api", &key), b.record("acme/api", &key));
            assert!(on_a.is_ok() != on_b.is_ok(), "round {round}: a {on_a:?}, b {on_b:?}");
            let refusal = on_a.err().or(on_b.err()).expect("one refusal");
            assert!(refusal.contains("was already sent by a node of the fleet"), "{refusal}");
        }

        // The alert: refused by both until one leads, then sent by the leader alone.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while a_election.term().is_none() && b_election.term().is_none() {
            assert!(tokio::time::Instant::now() < deadline, "no node leads after 20s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (leader, follower) = if a_election.term().is_some() { (&a, &b) } else { (&b, &a) };
        let key = "emergency_alert:alert:emergency";
        let refused = follower.alert("acme/ops", key).await.expect_err("a follower files no alert");
        assert!(refused.contains("does not lead the fleet now"), "{refused}");
        let asked = tokio::time::Instant::now();
        let permit = leader.alert("acme/ops", key).await.expect("the leader files the alert");
        // Its requests may go out only within the leader's term and the stream's memory of the write.
        assert!(permit.until <= asked + leader.writes.window(), "{permit:?}");
        assert_eq!(permit.holder, "this node's term as the fleet's leader");
        // A leader asked again within the window, as after a late answer: not twice.
        let again = leader.alert("acme/ops", key).await.expect_err("the alert again");
        assert!(again.contains("was already sent"), "{again}");

        // A write recorded and then definitely not sent is released: the next cycle's proposal of it is recorded
        // at once, on either node, and by one of them only.
        let key = "issue:acme/api:ci/released";
        let permit = a.record("acme/api", key).await.expect("the first record");
        assert!(b.record("acme/api", key).await.is_err(), "recorded twice");
        a.release("acme/api", key, &permit).await;
        let (on_a, on_b) = tokio::join!(a.record("acme/api", key), b.record("acme/api", key));
        assert!(on_a.is_ok() != on_b.is_ok(), "after the release: a {on_a:?}, b {on_b:?}");

        // Without a server nothing is sent.
        drop(server);
        let refused = a.record("acme/api", "issue:acme/api:ci/lint").await.expect_err("no server");
        assert!(refused.contains("nats did not record the write"), "{refused}");
        a_election.abort();
        b_election.abort();
    }

    #[test]
    fn only_the_alerts_writes_to_its_repository_are_the_alert() {
        let ops = Some("acme/ops");
        assert!(Sending::is_alert(ops, "acme/ops", "emergency_alert:alert:emergency"));
        assert!(Sending::is_alert(ops, "acme/ops", "close_issue:alert:emergency"));
        assert!(!Sending::is_alert(ops, "acme/api", "emergency_alert:alert:emergency"));
        assert!(!Sending::is_alert(ops, "acme/ops", "issue:acme/ops:ci/test"));
        assert!(!Sending::is_alert(None, "acme/ops", "emergency_alert:alert:emergency"));
    }
}
