//! What every node of a cluster must agree on (bucket names, the lease ttl) and what is its own (its name, its
//! incarnation), checked once; and the NATS connection with the reconnect behaviour leases need.

use std::time::Duration;

use async_nats::jetstream;

use crate::{
    error::{Cause, ClusterError},
    key::NodeName,
};

/// The shortest ttl: below it a round's requests take a noticeable share of the lease.
const MIN_TTL: Duration = Duration::from_secs(1);
/// The longest ttl: a dead node's repositories wait this long for another node.
const MAX_TTL: Duration = Duration::from_secs(3_600);

/// A node's cluster settings.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    node: NodeName,
    incarnation: String,
    ttl: Duration,
    margin: Duration,
    leases_bucket: String,
    members_bucket: String,
    fleet: String,
}

/// The fleet name every node uses unless told otherwise: the prefix of the default buckets' names.
pub const DEFAULT_FLEET: &str = "hive";

impl ClusterConfig {
    /// Settings for `node` with leases and heartbeats that lapse `ttl` after they were last written (1 s to 1 h),
    /// a margin of a quarter of the ttl, and the buckets `hive-leases` and `hive-members`. Every node of a cluster
    /// must use the same ttl: it is the buckets' `max_age`.
    pub fn new(node: NodeName, ttl: Duration) -> Result<Self, ClusterError> {
        if !(MIN_TTL..=MAX_TTL).contains(&ttl) {
            return Err(ClusterError::InvalidConfig {
                reason: format!("ttl {ttl:?} is outside 1s..=1h; choose a ttl in that range"),
            });
        }
        // A fresh incarnation per process: a node restarted under the same name does not take its predecessor's
        // leases for its own, and the fence tells the two apart.
        let incarnation = format!("{:016x}", rand::random::<u64>());
        Ok(Self {
            node,
            incarnation,
            ttl,
            margin: ttl / 4,
            leases_bucket: format!("{DEFAULT_FLEET}-leases"),
            members_bucket: format!("{DEFAULT_FLEET}-members"),
            fleet: DEFAULT_FLEET.to_owned(),
        })
    }

    /// How long before the server lets a lease lapse this node stops considering it held, to absorb clock rate
    /// differences and a late timer. Must be more than zero and leave more than one period (ttl/3) of holding
    /// after a renewal, or leases would lapse locally between renewals.
    pub fn with_margin(mut self, margin: Duration) -> Result<Self, ClusterError> {
        if margin.is_zero() || margin >= self.ttl - self.period() {
            return Err(ClusterError::InvalidConfig {
                reason: format!(
                    "margin {margin:?} must be more than zero and less than {:?} (ttl minus one period) for ttl {:?}",
                    self.ttl - self.period(),
                    self.ttl
                ),
            });
        }
        self.margin = margin;
        Ok(self)
    }

    /// Another fleet: the name every node of one cluster shares, so that several clusters can share one NATS
    /// account. It names the subjects events travel on (`hive.<fleet>.events.>`) and the buckets
    /// (`<fleet>-leases`, `<fleet>-members`, `<fleet>-leader`, `<fleet>-emergency`); the default, `hive`, gives the
    /// buckets the names they always had.
    pub fn with_fleet(mut self, fleet: &str) -> Result<Self, ClusterError> {
        check_name("fleet", fleet)?;
        self.leases_bucket = format!("{fleet}-leases");
        self.members_bucket = format!("{fleet}-members");
        self.fleet = fleet.to_owned();
        Ok(self)
    }

    /// Other bucket names, so that several clusters can share one NATS account (and tests one server).
    pub fn with_buckets(mut self, leases: &str, members: &str) -> Result<Self, ClusterError> {
        for name in [leases, members] {
            check_name("bucket", name)?;
        }
        if leases == members {
            return Err(ClusterError::InvalidConfig {
                reason: format!("leases and members need two buckets, both are '{leases}'"),
            });
        }
        self.leases_bucket = leases.to_owned();
        self.members_bucket = members.to_owned();
        Ok(self)
    }

    /// This node.
    pub fn node(&self) -> &NodeName {
        &self.node
    }

    /// This process's incarnation of the node, written into every lease and heartbeat.
    pub fn incarnation(&self) -> &str {
        &self.incarnation
    }

    /// How long a lease or heartbeat lives after it was last written.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// See [`ClusterConfig::with_margin`].
    pub fn margin(&self) -> Duration {
        self.margin
    }

    /// How often a node heartbeats, renews and rebalances: a third of the ttl, so two renewals can fail before a
    /// lease lapses.
    pub fn period(&self) -> Duration {
        self.ttl / 3
    }

    /// How long one request to the server may take: a period, since a later answer is overtaken by the next round.
    pub fn op_timeout(&self) -> Duration {
        self.period()
    }

    /// The leases' bucket.
    pub fn leases_bucket(&self) -> &str {
        &self.leases_bucket
    }

    /// The heartbeats' bucket.
    pub fn members_bucket(&self) -> &str {
        &self.members_bucket
    }

    /// The fleet every node of this cluster shares (see [`ClusterConfig::with_fleet`]).
    pub fn fleet(&self) -> &str {
        &self.fleet
    }

    /// The bucket of the leader's lease.
    pub fn leader_bucket(&self) -> String {
        format!("{}-leader", self.fleet)
    }

    /// The bucket of the fleet's emergency, as the leader declared or cleared it.
    pub fn emergency_bucket(&self) -> String {
        format!("{}-emergency", self.fleet)
    }

    /// The bucket of what each node last saw of its GitHub token's rate budget.
    pub fn budget_bucket(&self) -> String {
        format!("{}-budget", self.fleet)
    }

    /// The stream of the writes the fleet's nodes sent, which de-duplicates them by idempotency key.
    pub fn writes_stream(&self) -> String {
        format!("hive-{}-writes", self.fleet)
    }

    /// How long the stream of writes remembers a write: twice the ttl, longer than a lease can outlive its
    /// holder's last look at it (see [`Writes`](crate::Writes)).
    pub fn dedup_window(&self) -> Duration {
        self.ttl * 2
    }

    /// A JetStream context whose requests give up after [`ClusterConfig::op_timeout`].
    pub(crate) fn jetstream(&self, client: &async_nats::Client) -> jetstream::Context {
        jetstream::ContextBuilder::new().timeout(self.op_timeout()).build(client.clone())
    }
}

/// A bucket's or the fleet's name: one NATS subject token and a valid stream name.
fn check_name(what: &str, name: &str) -> Result<(), ClusterError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        return Ok(());
    }
    Err(ClusterError::InvalidConfig {
        reason: format!(
            "{what} name '{}' is not valid; use 1 to 64 letters, digits, '-' and '_'",
            name.escape_default()
        ),
    })
}

/// Connects to the NATS server at `url` as `node`. The client reconnects on its own, at most a second apart, so
/// a node whose server comes back holds leases again within a period or two.
pub async fn connect(url: &str, node: &NodeName) -> Result<async_nats::Client, ClusterError> {
    async_nats::ConnectOptions::new()
        .name(format!("hive-{node}"))
        .connection_timeout(Duration::from_secs(5))
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis(100).saturating_mul(attempts as u32).min(Duration::from_secs(1))
        })
        .connect(url)
        .await
        .map_err(|source| ClusterError::Connect {
            url: hive_support::redact_url_credentials(url).into_owned(),
            source: Box::new(source) as Cause,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> NodeName {
        NodeName::new("a").expect("valid")
    }

    #[test]
    fn ttl_margin_and_buckets_are_checked() {
        let error = ClusterConfig::new(node(), Duration::from_millis(500)).expect_err("too short").to_string();
        assert!(error.contains("ttl 500ms is outside 1s..=1h"), "{error}");
        let config = ClusterConfig::new(node(), Duration::from_secs(3)).expect("valid");
        assert_eq!((config.period(), config.margin()), (Duration::from_secs(1), Duration::from_millis(750)));
        let error = config.clone().with_margin(Duration::from_secs(2)).expect_err("no holding left").to_string();
        assert!(error.contains("less than 2s"), "{error}");
        assert!(config.clone().with_margin(Duration::ZERO).is_err());
        assert!(config.clone().with_margin(Duration::from_millis(1_999)).is_ok());
        let error = config.clone().with_buckets("a.b", "m").expect_err("dot").to_string();
        assert!(error.contains("bucket name 'a.b' is not valid"), "{error}");
        assert!(config.clone().with_buckets("same", "same").is_err());
        assert_eq!(config.clone().with_buckets("l", "m").expect("valid").members_bucket(), "m");
        let error = config.clone().with_fleet("a b").expect_err("space").to_string();
        assert!(error.contains("fleet name 'a b' is not valid"), "{error}");
        let other = config.with_fleet("blue").expect("valid");
        assert_eq!(
            (other.fleet(), other.leases_bucket(), other.members_bucket(), other.leader_bucket().as_str()),
            ("blue", "blue-leases", "blue-members", "blue-leader")
        );
        assert_eq!(
            (other.writes_stream().as_str(), other.dedup_window()),
            ("hive-blue-writes", Duration::from_secs(6))
        );
    }

    #[test]
    fn every_process_is_its_own_incarnation() {
        let (a, b) = (ClusterConfig::new(node(), MIN_TTL), ClusterConfig::new(node(), MIN_TTL));
        assert_ne!(a.expect("valid").incarnation(), b.expect("valid").incarnation());
    }
}
