//! `hive serve --cluster`: several nodes share one fleet through hive-cluster's leases. The settings are checked
//! before anything starts (a bad URL, name or ttl is a usage error that names it); the node's coordinator gets
//! every discovery's fleet, and what it gains and loses starts and stops this node's pilots; the steward's writes
//! are fenced by the lease and sent once by the fleet ([`sending`]). Every node shows the whole fleet ([`view`]);
//! one node, the leader, decides the fleet's emergency for all ([`emergency`]) and files its alert. Nodes that use
//! one GitHub token share its rate budget ([`budget`]).

mod budget;
mod emergency;
mod sending;
mod view;

use std::{sync::Arc, time::Duration};

use hive::cerebrum::EmergencyConfig;
use hive::{
    Hive, RepoId,
    actors::{Permit, WriteFence},
};
use hive_cluster::{
    Bulletin, ClusterConfig, Coordinator, CoordinatorHandle, Election, Events, Fence, Holdings, LeaderHandle, Leases,
    Members, NodeName, Ownership, OwnershipChange, Writes,
};
use tokio::{sync::mpsc, task::JoinHandle};

pub(crate) use self::emergency::{Cadence, share_only};
use self::sending::Sending;
use crate::{api::fleet::FleetView, cli::ClusterArgs, config::UsageError};

/// A node's cluster settings, resolved and checked.
#[derive(Debug, Clone)]
pub(crate) struct ClusterPlan {
    /// The NATS server, as given.
    pub(crate) url: String,
    /// What every node must agree on and what is this node's own.
    pub(crate) config: ClusterConfig,
}

impl ClusterPlan {
    /// `None` without `--cluster`: a single node needs no NATS.
    pub(crate) fn resolve(args: &ClusterArgs) -> anyhow::Result<Option<ClusterPlan>> {
        let Some(url) = &args.cluster else { return Ok(None) };
        check_url(url)?;
        let node = match &args.node {
            Some(name) => NodeName::new(name).map_err(|err| UsageError::error(format!("--node: {err}")))?,
            None => default_node()?,
        };
        let ttl = Duration::from_secs(args.cluster_lease_secs);
        let config = ClusterConfig::new(node, ttl)
            .map_err(|err| UsageError::error(format!("--cluster-lease-secs '{}': {err}", args.cluster_lease_secs)))?;
        Ok(Some(ClusterPlan { url: url.clone(), config }))
    }
}

impl ClusterPlan {
    /// Connects to NATS and starts this node's coordinator over `fleet` and its election; with them, the fence for
    /// the steward. The alert to `alert_repo` is fenced by the leadership: see [`LeaseFence`].
    pub(crate) async fn join(
        self,
        fleet: &[RepoId],
        alert_repo: Option<&RepoId>,
    ) -> anyhow::Result<(Node, Arc<dyn WriteFence>)> {
        let client = hive_cluster::connect(&self.url, self.config.node()).await?;
        let leases = Leases::open(&client, &self.config).await?;
        let (sender, changes) = mpsc::unbounded_channel();
        let fleet = fleet.iter().map(RepoId::to_string).collect();
        let config = self.config.clone();
        let writes = Writes::open(&client, &config).await?;
        // Started with the node rather than with the fleet's emergency, so that the fence knows the leader from
        // the first write on.
        let leader = Election::start(&client, &config, None).await?;
        let handle = Coordinator::start(&client, self.config, fleet, sender).await?;
        let fence = LeaseFence {
            fence: Fence::new(leases),
            holdings: handle.holdings(),
            alert_repo: alert_repo.map(RepoId::to_string),
            sending: Sending::new(writes, leader.fence()),
        };
        let node = Node { handle, changes, client, config, tasks: Vec::new(), leader: Some(leader), steering: None };
        Ok((node, Arc::new(fence)))
    }
}

/// This node in its cluster: its coordinator and the changes of what it holds.
#[derive(Debug)]
pub(crate) struct Node {
    handle: CoordinatorHandle,
    changes: mpsc::UnboundedReceiver<OwnershipChange>,
    client: hive_cluster::Client,
    config: ClusterConfig,
    /// The view's tasks, ended when the node stops.
    tasks: Vec<JoinHandle<()>>,
    /// This node's election, until the fleet's emergency is shared and its steering takes it over.
    leader: Option<LeaderHandle>,
    /// The fleet's emergency: followed, and decided while this node leads.
    steering: Option<emergency::Steering>,
}

impl Node {
    /// This node's name.
    pub(crate) fn name(&self) -> &NodeName {
        self.handle.node()
    }

    /// Starts sharing the fleet with the other nodes: what `hive` holds and publishes goes to them, and what they
    /// publish fills the returned view, for the API; this node stands for leader, decides the fleet's emergency
    /// with `config` while it leads, and obeys the leader's decisions always.
    pub(crate) async fn share(
        &mut self,
        hive: &Hive,
        config: &EmergencyConfig,
        cadence: Cadence,
    ) -> anyhow::Result<FleetView> {
        let view = FleetView::new(self.name().as_str());
        let events = Events::new(&self.client, &self.config);
        let members = Members::open(&self.client, &self.config).await?;
        let tasks = view::start(hive, events, members, view.clone(), self.config.ttl()).await?;
        self.tasks.extend(tasks);
        let leader =
            self.leader.take().ok_or_else(|| anyhow::anyhow!("node '{}' shares its fleet once", self.name()))?;
        let bulletin = Bulletin::emergency(&self.client, &self.config).await?;
        let cadence = Cadence { settle: self.config.ttl(), ..cadence };
        self.steering = Some(emergency::Steering::start(hive, leader, bulletin, view.clone(), config.clone(), cadence));
        Ok(view)
    }

    /// Shares the GitHub token's rate budget with the other nodes that use it ([`budget`]), the token known by its
    /// id in this fleet.
    pub(crate) async fn share_budget(
        &self,
        budget: &hive::forge::Budget,
        token: &hive::forge::BudgetToken,
    ) -> anyhow::Result<()> {
        budget::share(&self.client, &self.config, budget, &token.id(self.config.fleet())).await
    }

    /// A fleet discovered again: shared out anew; what this node gains and loses arrives through [`next`].
    pub(crate) fn set_fleet(&self, found: &[RepoId]) {
        if let Err(err) = self.handle.set_fleet(found.iter().map(RepoId::to_string).collect()) {
            // A RepoId is always a valid lease name; were one not, the fleet stays as it was rather than lose all.
            tracing::warn!("the discovered fleet cannot be shared: {err}");
        }
    }

    /// Stops leading the fleet (the leader's key given back, so another node leads within a period) and following
    /// its emergency; the first step of a shutdown, since a hive that is stopping cannot evaluate.
    pub(crate) async fn stop_leading(&mut self) {
        if let Some(steering) = self.steering.take() {
            steering.stop().await;
        }
        if let Some(leader) = self.leader.take() {
            leader.stop().await;
        }
    }

    /// Stops gracefully: everything held is released, so the other nodes take it over within a period.
    pub(crate) async fn stop(mut self) {
        self.stop_leading().await;
        for task in &self.tasks {
            task.abort();
        }
        self.handle.stop().await;
    }
}

/// The next change of what `node` holds; never, without a node (or once its coordinator is gone).
pub(crate) async fn next(node: Option<&mut Node>) -> OwnershipChange {
    match node {
        Some(node) => match node.changes.recv().await {
            Some(change) => change,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// Starts the pilot of a repository gained, stops that of one lost; `repos` (what this node watches, sorted)
/// follows.
pub(crate) async fn apply(hive: &Hive, repos: &mut Vec<RepoId>, change: OwnershipChange) {
    match change.change {
        Ownership::Gained { repo, .. } => {
            let Ok(id) = RepoId::new(&repo) else { return };
            match hive.watch(&repo).await {
                Ok(()) => tracing::info!(%repo, "lease gained: pilot started"),
                Err(err) => tracing::warn!(%repo, "lease gained but the pilot cannot start: {err}"),
            }
            if let Err(at) = repos.binary_search(&id) {
                repos.insert(at, id);
            }
        }
        Ownership::Lost { repo } => {
            match hive.unwatch(&repo).await {
                Ok(()) => tracing::info!(%repo, "lease lost: pilot stopped"),
                Err(err) => tracing::warn!(%repo, "lease lost; stopping the pilot failed: {err}"),
            }
            repos.retain(|id| id.as_str() != repo);
        }
    }
}

/// The steward's fence: this node's lease of the repository, within its local deadline and still this process's
/// claim (renewals included) when read from NATS right before the write; then the write recorded on the fleet's
/// stream of writes, which refuses it when another node (or this one) sent it within the window.
///
/// The emergency alert (its writes to `--alert-repo`) is fenced by the leadership instead of a lease: its
/// repository is often not in the fleet (then no node holds it), and every node obeys the fleet's emergency, so
/// the leader alone files it; see [`sending`].
#[derive(Debug)]
struct LeaseFence {
    fence: Fence,
    holdings: Holdings,
    alert_repo: Option<String>,
    sending: Sending,
}

#[async_trait::async_trait]
impl WriteFence for LeaseFence {
    /// The permit ends with the lease's local deadline as the fence saw it (a renewal since is not waited for:
    /// a write held that long by GitHub's rate limit is better sent by whoever holds the lease then), and never
    /// later than the stream's memory of the write.
    async fn may_write(&self, repo: &str, key: &str) -> Result<Permit, String> {
        if Sending::is_alert(self.alert_repo.as_deref(), repo, key) {
            return self.sending.alert(repo, key).await;
        }
        let Some(lease) = self.holdings.lease(repo) else {
            return Err(format!("node '{}' does not hold the lease of '{repo}'", self.fence.node()));
        };
        self.fence.check(&lease).await.map_err(|err| err.to_string())?;
        let permit = self.sending.record(repo, key).await?;
        Ok(permit.at_most(lease.held_until, format!("the lease of '{repo}'")))
    }

    async fn released(&self, repo: &str, key: &str, permit: &Permit) {
        self.sending.release(repo, key, permit).await;
    }
}

/// A NATS URL as the client takes it: `nats://` (or `tls://`), a host, an optional port, nothing else that could be
/// a typo. The connection itself is tried later; this only catches what could never connect.
fn check_url(url: &str) -> anyhow::Result<()> {
    let shown = hive_support::redact_url_credentials(url);
    let bad = |why: &str| UsageError::error(format!("--cluster '{shown}': {why}; give it as nats://HOST:PORT"));
    let Some((scheme, rest)) = url.split_once("://") else { return Err(bad("no scheme")) };
    if !matches!(scheme, "nats" | "tls") {
        return Err(bad(&format!("the scheme '{scheme}' is not nats or tls")));
    }
    // Credentials before an '@' are the server's business; only the address is checked.
    let address = rest.rsplit_once('@').map_or(rest, |(_, address)| address).trim_end_matches('/');
    if address.is_empty() || address.contains(['/', '?', '#']) || address.chars().any(char::is_whitespace) {
        return Err(bad("the address is not HOST or HOST:PORT"));
    }
    if let Some((host, port)) = address.rsplit_once(':')
        && !host.ends_with(']')
        && (host.is_empty() || port.parse::<u16>().map_or(true, |port| port == 0))
    {
        return Err(bad(&format!("the port '{port}' is not a number from 1 to 65535")));
    }
    Ok(())
}

/// The host name and the process id, as a valid node name: another node on the same host, or this one restarted,
/// is another name.
fn default_node() -> anyhow::Result<NodeName> {
    let host = nix::unistd::gethostname().ok().and_then(|name| name.into_string().ok()).unwrap_or_default();
    let host: String = host
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .take(48)
        .collect();
    let host = if host.is_empty() { "hive".to_owned() } else { host };
    let name = format!("{host}-{}", std::process::id());
    NodeName::new(&name).map_err(|err| UsageError::error(format!("{err}; name this node with --node")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(cluster: Option<&str>, node: Option<&str>, secs: u64) -> ClusterArgs {
        ClusterArgs { cluster: cluster.map(str::to_owned), node: node.map(str::to_owned), cluster_lease_secs: secs }
    }

    #[test]
    fn without_cluster_there_is_no_plan() {
        assert!(ClusterPlan::resolve(&args(None, None, 30)).expect("valid").is_none());
    }

    #[test]
    fn urls_names_and_ttls_are_checked() {
        for good in ["nats://127.0.0.1:4222", "nats://localhost", "tls://user:pw@nats.example:4443/"] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for (bad, why) in [
            ("127.0.0.1:4222", "no scheme"),
            ("http://h:1", "the scheme 'http' is not nats or tls"),
            ("nats://", "not HOST or HOST:PORT"),
            ("nats://h:port", "the port 'port' is not"),
            ("nats://h:0", "the port '0' is not"),
            ("nats://h/x", "not HOST or HOST:PORT"),
        ] {
            let error = check_url(bad).expect_err(bad);
            assert!(UsageError::is_usage(&error), "{bad}");
            let message = error.to_string();
            assert!(message.contains(&format!("--cluster '{bad}'")) && message.contains(why), "{message}");
        }
        let error = ClusterPlan::resolve(&args(Some("nats://h:1"), Some("a.b"), 30)).expect_err("a dot");
        assert!(UsageError::is_usage(&error) && error.to_string().contains("invalid node name 'a.b'"), "{error}");
        let error = ClusterPlan::resolve(&args(Some("nats://h:1"), None, 0)).expect_err("no ttl");
        assert!(error.to_string().contains("--cluster-lease-secs '0'"), "{error}");
        let plan = ClusterPlan::resolve(&args(Some("nats://h:1"), Some("node-1"), 3)).expect("valid").expect("a plan");
        assert_eq!((plan.config.node().as_str(), plan.config.ttl()), ("node-1", Duration::from_secs(3)));
    }

    #[test]
    fn the_default_node_is_host_and_pid() {
        let node = default_node().expect("a valid default");
        assert!(node.as_str().ends_with(&format!("-{}", std::process::id())), "{node}");
    }
}
