//! What a node checks beside the lease before it sends a write under `--cluster`: that no node of the fleet sent
//! the same write within the stream's window (hive-cluster's [`Writes`], the write's idempotency key as the
//! message id).

use hive_cluster::Writes;

/// The checks of one node, shared by its steward's fence. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Sending {
    writes: Writes,
}

impl Sending {
    pub(crate) fn new(writes: Writes) -> Self {
        Self { writes }
    }

    /// For a write the lease let through: `Ok` when this node is the first of the fleet to send it within the
    /// window. A duplicate, or a stream that does not answer, is a refusal.
    pub(crate) async fn record(&self, repo: &str, key: &str) -> Result<(), String> {
        self.writes.record(repo, key).await.map_err(|err| hive_support::error_chain(&err))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hive_cluster::{ClusterConfig, NodeName};
    use hive_testkit::NatsServer;

    use super::*;

    /// A node's checks on a connection of its own.
    async fn node(server: &NatsServer, name: &str) -> Sending {
        let config = ClusterConfig::new(NodeName::new(name).expect("valid"), Duration::from_secs(3)).expect("valid");
        let client = hive_cluster::connect(&server.url(), config.node()).await.expect("connect");
        Sending::new(Writes::open(&client, &config).await.expect("the stream of writes"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_nodes_asked_to_send_the_same_write_send_it_once() {
        let server = NatsServer::start().await;
        let (a, b) = (node(&server, "node-a").await, node(&server, "node-b").await);

        // The same write, asked of both nodes at once, any number of times: one of them sends it.
        for round in 0..10 {
            let key = format!("issue:acme/api:ci/test/{round}");
            let (on_a, on_b) = tokio::join!(a.record("acme/api", &key), b.record("acme/api", &key));
            assert!(on_a.is_ok() != on_b.is_ok(), "round {round}: a {on_a:?}, b {on_b:?}");
            let refusal = on_a.err().or(on_b.err()).expect("one refusal");
            assert!(refusal.contains("was already sent by a node of the fleet"), "{refusal}");
        }

        // Without a server nothing is sent.
        drop(server);
        let refused = a.record("acme/api", "issue:acme/api:ci/lint").await.expect_err("no server");
        assert!(refused.contains("nats did not record the write"), "{refused}");
    }
}
