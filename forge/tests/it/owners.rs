//! `GitHubForges` against the emulator: each owner's repositories read and written with its own credential and
//! budget, one forge for a single credential, and the emulator's tokens limited to some owners.

use hive_forge::{Forge, ForgeError, ForgeWriter, GitHubAuth, GitHubForge, GitHubForges, RepoId, Secret, Target};
use hive_testkit::{Emulator, Method, RepoSpec, TOKEN};

use crate::github::{config, id, org};

const WIDGETS_TOKEN: &str = "ghs_WidgetsInstallationToken0123456789ab";

/// acme's repositories (the default token's) and widgets' (a token of its own that sees only widgets).
async fn two_orgs() -> Emulator {
    let emu = Emulator::start().await;
    let s = emu.state();
    for (owner, names) in [("acme", ["api", "web"]), ("widgets", ["gear", "bolt"])] {
        s.add_org(owner);
        for name in names {
            s.add_repo(RepoSpec::new(owner, name));
        }
    }
    s.add_token(WIDGETS_TOKEN, &["widgets"]);
    emu
}

fn widgets_auth() -> GitHubAuth {
    GitHubAuth::Token(Secret::new(WIDGETS_TOKEN))
}

/// The owner a request was about, from its REST path (`/repos/{owner}/..`, `/orgs/{owner}/..`).
fn owner_of(path: &str) -> Option<&str> {
    let mut segments = path.trim_start_matches('/').split('/');
    match segments.next()? {
        "repos" | "orgs" | "users" => segments.next(),
        _ => None,
    }
}

#[tokio::test]
async fn each_owner_is_read_and_written_with_its_own_credential_and_budget() {
    for graphql in [false, true] {
        let emu = two_orgs().await;
        let mut config = config(&emu, vec![org("acme"), org("widgets")]);
        config.graphql_snapshots = graphql;
        // The owner as the configuration spells it: logins compare without regard to case.
        let forges = GitHubForges::new(config, vec![("Widgets".to_owned(), widgets_auth())]).expect("forges");
        let repos = forges.discover().await.expect("discover");
        let names: Vec<&str> = repos.iter().map(RepoId::as_str).collect();
        assert_eq!(names, ["acme/api", "acme/web", "widgets/bolt", "widgets/gear"], "graphql {graphql}");
        for repo in &repos {
            forges.snapshot(repo).await.unwrap_or_else(|err| panic!("{repo} (graphql {graphql}): {err}"));
        }
        let issue = ForgeWriter::create_issue(&forges, &id("widgets/gear"), "Widgets' own", "body", &[])
            .await
            .expect("an issue in widgets");
        assert_eq!(emu.state().issues("widgets", "gear")[0].number, issue.number);

        let requests = emu.state().requests();
        let mut by_token = std::collections::BTreeMap::<&str, usize>::new();
        for request in &requests {
            let token = request.token.as_deref().unwrap_or("none");
            *by_token.entry(if token == TOKEN { "default" } else { token }).or_default() += 1;
            match owner_of(&request.path) {
                Some("widgets") => assert_eq!(token, WIDGETS_TOKEN, "{request:?}"),
                Some(_) => assert_eq!(token, TOKEN, "{request:?}"),
                None => {}
            }
        }
        assert!(by_token.get("default").is_some_and(|n| *n > 0) && by_token.get(WIDGETS_TOKEN).is_some_and(|n| *n > 0));
        let write = requests.iter().find(|r| r.method == Method::POST && r.path == "/repos/widgets/gear/issues");
        assert_eq!(write.and_then(|r| r.token.as_deref()), Some(WIDGETS_TOKEN));
        if graphql {
            assert!(requests.iter().any(|r| r.path == "/graphql" && r.token.as_deref() == Some(WIDGETS_TOKEN)));
        }

        // Two credentials, two budgets: each spent, each with the emulator's own count, and the total is their sum.
        let spent: Vec<u64> = forges.budgets().map(|(_, budget)| budget.points_spent()).collect();
        assert_eq!(spent.len(), 2);
        assert!(spent.iter().all(|points| *points > 0), "{spent:?}");
        assert_eq!(forges.points_spent(), spent.iter().sum::<u64>());
        let resource = if graphql { "graphql" } else { "core" };
        let (limit, remaining, _) = emu.state().token_rate_limit(WIDGETS_TOKEN, resource);
        assert!(remaining < limit, "the widgets token's own budget was drawn on");
        assert_eq!(forges.api_usage().map(|usage| usage.points_spent), Some(forges.points_spent()));
    }
}

#[tokio::test]
async fn a_single_credential_is_one_forge_and_an_owner_with_the_default_one_shares_it() {
    let emu = two_orgs().await;
    let forges = GitHubForges::new(config(&emu, vec![org("acme")]), Vec::new()).expect("forges");
    assert_eq!(forges.budgets().count(), 1);
    assert_eq!(forges.first_owner(), Some("acme"));
    let same = GitHubAuth::Token(Secret::new(emu.token()));
    let forges = GitHubForges::new(config(&emu, vec![org("acme"), org("widgets")]), vec![("widgets".to_owned(), same)])
        .expect("forges");
    assert_eq!(forges.budgets().count(), 1, "one credential, one budget");
    assert_eq!(forges.discover().await.expect("discover").len(), 4);
    let twice = vec![("widgets".to_owned(), widgets_auth()), ("WIDGETS".to_owned(), widgets_auth())];
    let err = GitHubForges::new(config(&emu, vec![org("acme")]), twice).expect_err("an owner named twice");
    assert!(err.to_string().contains("the owner 'WIDGETS' has two credentials"), "{err}");
}

#[tokio::test]
async fn a_token_limited_to_some_owners_cannot_see_another_owners_repositories() {
    let emu = two_orgs().await;
    for graphql in [false, true] {
        let mut config = config(&emu, vec![Target::Repo(id("acme/api"))]);
        config.auth = widgets_auth();
        config.graphql_snapshots = graphql;
        let forge = GitHubForge::new(config).expect("forge");
        let err = forge.snapshot(&id("acme/api")).await.expect_err("acme is not the token's");
        assert!(matches!(err, ForgeError::NotFound { .. }), "graphql {graphql}: {err:?}");
        forge.snapshot(&id("widgets/gear")).await.expect("widgets is the token's");
    }
    let listing = emu.state().requests().into_iter().find(|r| r.path == "/repos/acme/api");
    assert_eq!(listing.map(|r| (r.status, r.token)), Some((404, Some(WIDGETS_TOKEN.to_owned()))));
}
