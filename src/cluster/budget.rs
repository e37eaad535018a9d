//! One rate budget per GitHub token, shared by the nodes that use it: the forge's [`Budget`] given hive-cluster's
//! [`TokenBudget`] as its [`SharedBudget`], so each node tells the others what its responses said and heeds the
//! lowest remaining any of them saw before it sends. The forge knows no NATS; this is the bridge.

use std::sync::Arc;

use hive::forge::{Budget, Resource, Seen, SharedBudget};
use hive_cluster::{ClusterConfig, RateSeen, TokenBudget};

/// A token's budget as the fleet's nodes see it.
#[derive(Debug)]
struct FleetBudget(TokenBudget);

impl SharedBudget for FleetBudget {
    fn record(&self, resource: &Resource, seen: Seen) {
        self.0.record(resource.as_str(), RateSeen { remaining: seen.remaining, reset: seen.reset });
    }

    fn lowest(&self, resource: &Resource, now_epoch: u64) -> Option<Seen> {
        self.0.lowest(resource.as_str(), now_epoch).map(|seen| Seen { remaining: seen.remaining, reset: seen.reset })
    }
}

/// Shares `budget`, the budget of the token known as `token_id` (see [`hive::forge::BudgetToken::id`]), with the
/// fleet's other nodes.
pub(crate) async fn share(
    client: &hive_cluster::Client,
    config: &ClusterConfig,
    budget: &Budget,
    token_id: &str,
) -> anyhow::Result<()> {
    let shared = TokenBudget::open(client, config, token_id).await?;
    budget.share(Arc::new(FleetBudget(shared)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hive::forge::{Forge, GitHubAuth, GitHubConfig, GitHubForge, Secret, Target, budget_token};
    use hive_cluster::NodeName;
    use hive_testkit::{Emulator, NatsServer, RepoSpec};

    use super::*;

    /// A node's forge over the emulator, its budget shared through its own connection.
    async fn node(emu: &Emulator, nats: &NatsServer, name: &str) -> GitHubForge {
        let mut github = GitHubConfig::new(GitHubAuth::Token(Secret::new(emu.token())));
        github.api_url = emu.url();
        github.targets = vec![Target::Org("acme".to_owned())];
        let config = ClusterConfig::new(NodeName::new(name).expect("valid"), Duration::from_secs(3)).expect("valid");
        let id = budget_token(&github.auth).expect("a token").id(config.fleet());
        let forge = GitHubForge::new(github).expect("a forge");
        let client = hive_cluster::connect(&nats.url(), config.node()).await.expect("connect");
        share(&client, &config, forge.budget(), &id).await.expect("share the budget");
        forge
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_node_does_not_spend_what_another_node_spent_of_the_same_token() {
        let emu = Emulator::start().await;
        emu.state().add_org("acme");
        emu.state().add_repo(RepoSpec::new("acme", "api"));
        let nats = NatsServer::start().await;
        let (a, b) = (node(&emu, &nats, "node-a").await, node(&emu, &nats, "node-b").await);

        // The token's window ends in a few seconds, with one point left: a spends it.
        let reset = u64::try_from(hive_support::unix_now()).expect("after 1970") + 3;
        emu.state().set_rate_limit(5000, 1, reset);
        a.discover().await.expect("a reads its last point");
        let spent_by_a = emu.state().requests().len();
        assert_eq!((spent_by_a, emu.state().rate_limit().1), (1, 0), "{:?}", emu.state().requests());
        assert_eq!(a.budget().remaining(), Some(0));

        // b, which sent nothing, learns from a that nothing remains, and waits for the reset.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while b.budget().resume_at(&Resource::CORE).is_none() {
            assert!(tokio::time::Instant::now() < deadline, "b did not learn that a spent the budget");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(b.budget().remaining(), None, "b heard it from a, not from GitHub");
        assert_eq!(emu.state().requests().len(), spent_by_a, "b sent a request to learn it");

        // b's request goes once the window has reset, and is answered: no request of b was refused for the limit.
        let repos = b.discover().await.expect("b reads after the reset");
        assert!(u64::try_from(hive_support::unix_now()).expect("after 1970") >= reset, "b sent before the reset");
        assert_eq!(repos.len(), 1);
        let limited = emu.state().requests().iter().filter(|r| r.status == 403 || r.status == 429).count();
        assert_eq!(limited, 0, "a request was refused for the rate limit");
    }
}
