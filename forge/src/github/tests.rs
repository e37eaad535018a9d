//! Unit tests of the GitHub forge's pure parts: secrets, configuration, links, parsing, and the budget's timers on
//! tokio's paused clock.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue, StatusCode};
use tokio::time::Instant;

use super::{
    Budget, GitHubAuth, GitHubConfig, GitHubError, RequestKind, Resource, Secret, budget, budget::is_rate_limited,
    client, models::parse_time, writes::base64,
};

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

fn lookup(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |key| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| (*v).to_owned())
}

#[test]
fn secrets_never_print() {
    let secret = Secret::new("ghp_supersecret");
    assert_eq!(format!("{secret}"), "***");
    assert!(!format!("{secret:?}").contains("supersecret"));
    let config = GitHubConfig::from_lookup(lookup(&[("GH_TOKEN", "ghp_supersecret")])).unwrap();
    assert!(!format!("{config:?}").contains("supersecret"));
    assert_eq!(config.auth, GitHubAuth::Token(Secret::new("ghp_supersecret")));
}

#[test]
fn configuration_from_the_environment() {
    let err = GitHubConfig::from_lookup(lookup(&[])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no GitHub token: set GITHUB_TOKEN or GH_TOKEN (or GITHUB_API_URL for an emulator or enterprise server)"
    );
    let config = GitHubConfig::from_lookup(lookup(&[("GITHUB_API_URL", "http://127.0.0.1:9/")])).unwrap();
    assert_eq!(config.auth, GitHubAuth::None);
    assert_eq!(config.graphql_url(), "http://127.0.0.1:9/graphql");
    let config = GitHubConfig::from_lookup(lookup(&[
        ("GITHUB_TOKEN", "a"),
        ("GH_TOKEN", "b"),
        ("GITHUB_API_URL", "https://ghe.example/api/v3"),
    ]))
    .unwrap();
    assert_eq!(config.auth, GitHubAuth::Token(Secret::new("a")), "GITHUB_TOKEN wins");
    assert_eq!(config.graphql_url(), "https://ghe.example/api/graphql");
    assert_eq!(GitHubConfig::new(GitHubAuth::None).graphql_url(), "https://api.github.com/graphql");
    let err = GitHubConfig::from_lookup(lookup(&[("HIVE_GITHUB_APP_ID", "x")])).unwrap_err();
    assert!(matches!(err, GitHubError::Config { .. }), "{err}");
}

#[test]
fn a_token_that_cannot_be_a_header_is_refused_without_showing_it() {
    for (key, token) in [
        ("GITHUB_TOKEN", "ghp_secret\nX-Injected: 1"),
        ("GH_TOKEN", "ghp_sec ret"),
        ("GITHUB_TOKEN", "ghp_secr\u{7f}et"),
        ("GITHUB_TOKEN", "ghp_sécret"),
    ] {
        let pairs: Vec<(String, String)> = vec![(key.to_owned(), token.to_owned())];
        let err =
            GitHubConfig::from_lookup(|k| pairs.iter().find(|(p, _)| p == k).map(|(_, v)| v.clone())).expect_err(token);
        let message = err.to_string();
        assert!(message.contains(key) && message.contains("copy the token again"), "{message}");
        assert!(!message.contains("ghp_"), "the token leaked: {message}");
    }
}

#[test]
fn next_links_and_parsing() {
    let link = r#"<https://ghe.example/api/v3/orgs/a/repos?page=2>; rel="next", <https://ghe.example/api/v3/orgs/a/repos?page=5>; rel="last""#;
    assert_eq!(
        client::link(&headers(&[("link", link)]), "next").as_deref(),
        Some("https://ghe.example/api/v3/orgs/a/repos?page=2")
    );
    assert_eq!(
        client::link(&headers(&[("link", link)]), "last").as_deref(),
        Some("https://ghe.example/api/v3/orgs/a/repos?page=5")
    );
    assert_eq!(client::link(&headers(&[("link", r#"<https://x/y?page=1>; rel="prev""#)]), "next"), None);

    // Pages numbered alike are asked for at once; anything else is followed link by link.
    let pages = |next: &str, last: &str| client::numbered(next, last).map(Iterator::collect::<Vec<_>>);
    assert_eq!(
        pages("/orgs/a/repos?type=all&per_page=100&page=2", "/orgs/a/repos?type=all&per_page=100&page=4"),
        Some(vec![
            "/orgs/a/repos?type=all&per_page=100&page=2".to_owned(),
            "/orgs/a/repos?type=all&per_page=100&page=3".to_owned(),
            "/orgs/a/repos?type=all&per_page=100&page=4".to_owned(),
        ])
    );
    assert_eq!(pages("/r?page=2", "/r?page=2"), Some(vec!["/r?page=2".to_owned()]));
    assert_eq!(pages("/orgs/a/repos?page=2", "/orgs/b/repos?page=9"), None, "another list");
    assert_eq!(pages("/r?after=abc", "/r?after=xyz"), None, "cursors are not numbers");
    assert_eq!(pages("/r?page=5", "/r?page=2"), None, "last before next");
    assert_eq!(pages("/r?page=2&per_page=100", "/r?page=3&per_page=50"), None, "another page size");

    let t = parse_time("2024-02-29T12:30:15Z").unwrap();
    assert_eq!(t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(), 1_709_209_815);
    assert_eq!(parse_time("2024-02-29T14:30:15+02:00"), Some(t));
    assert!(parse_time("yesterday").is_none());

    assert_eq!(base64(b"hive"), "aGl2ZQ==");
    assert_eq!(base64(b"hi"), "aGk=");
    assert_eq!(base64(b"abc"), "YWJj");
}

#[test]
fn a_403_is_a_rate_limit_only_with_its_headers() {
    assert!(!is_rate_limited(StatusCode::FORBIDDEN, &headers(&[]), b""));
    assert!(!is_rate_limited(StatusCode::FORBIDDEN, &headers(&[("x-ratelimit-remaining", "12")]), b""));
    assert!(is_rate_limited(StatusCode::FORBIDDEN, &headers(&[("x-ratelimit-remaining", "0")]), b""));
    assert!(is_rate_limited(StatusCode::FORBIDDEN, &headers(&[("retry-after", "30")]), b""));
    assert!(is_rate_limited(StatusCode::TOO_MANY_REQUESTS, &headers(&[]), b""));
    // GitHub's secondary limit may come as a bare 403 whose only sign is the message.
    let secondary =
        br#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}"#;
    assert!(is_rate_limited(StatusCode::FORBIDDEN, &headers(&[("x-ratelimit-remaining", "4990")]), secondary));
    assert!(is_rate_limited(
        StatusCode::FORBIDDEN,
        &headers(&[]),
        b"{\"message\":\"You have triggered an abuse detection mechanism.\"}"
    ));
    assert!(!is_rate_limited(StatusCode::OK, &headers(&[]), secondary), "only an error status is a limit");
}

#[tokio::test(start_paused = true)]
async fn a_secondary_limit_without_headers_pauses_a_minute_growing_on_repeats() {
    let budget = Budget::default();
    let secondary = br#"{"message":"You have exceeded a secondary rate limit."}"#;
    let limited = headers(&[("x-ratelimit-remaining", "4990")]);
    let mut pauses = Vec::new();
    for _ in 0..6 {
        let start = Instant::now();
        budget.observe(StatusCode::FORBIDDEN, &limited, secondary);
        drop(budget.acquire(RequestKind::Read, &Resource::CORE).await);
        pauses.push(start.elapsed().as_secs());
    }
    assert_eq!(pauses, [60, 120, 240, 480, 960, 960], "at least a minute, doubling while it repeats, capped");
    // Answers to requests in flight arrive inside the window: the same limit, the window unchanged.
    tokio::time::sleep(Duration::from_secs(15 * 60)).await;
    let start = Instant::now();
    for _ in 0..5 {
        budget.observe(StatusCode::FORBIDDEN, &limited, secondary);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(budget.acquire(RequestKind::Read, &Resource::CORE).await);
    assert_eq!(start.elapsed().as_secs(), 60, "five answers of one burst are one limit, not five repeats");
}

#[tokio::test(start_paused = true)]
async fn retry_after_holds_every_request_for_the_window() {
    let budget = Budget::default();
    let start = Instant::now();
    budget.observe(StatusCode::TOO_MANY_REQUESTS, &headers(&[("retry-after", "30")]), b"");
    assert_eq!(budget.points_spent(), 1);
    drop(budget.acquire(RequestKind::Read, &Resource::CORE).await);
    assert_eq!(start.elapsed(), Duration::from_secs(30));
    // Past the window, nothing waits.
    drop(budget.acquire(RequestKind::Read, &Resource::CORE).await);
    assert_eq!(start.elapsed(), Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn the_primary_limit_waits_for_the_reset_and_a_bare_403_does_not() {
    let budget = Budget::default();
    budget.observe(StatusCode::FORBIDDEN, &headers(&[]), b"{\"message\":\"Resource not accessible by integration\"}");
    assert!(budget.resume_at(&Resource::CORE).is_none(), "a permission error is not a limit");
    let reset = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() + 120;
    budget.observe(
        StatusCode::OK,
        &headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset.to_string())]),
        b"",
    );
    let wait = budget.resume_at(&Resource::CORE).expect("paused") - Instant::now();
    assert!(wait > Duration::from_secs(115) && wait <= Duration::from_secs(122), "{wait:?}");
    assert_eq!(budget.remaining(), Some(0));
    budget.observe(StatusCode::NOT_MODIFIED, &headers(&[]), b"");
    assert_eq!((budget.points_spent(), budget.not_modified()), (2, 1));
}

#[tokio::test(start_paused = true)]
async fn a_spent_resource_holds_only_the_requests_that_spend_it() {
    let budget = Budget::default();
    let reset = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() + 120;
    let spent = |resource: &str| {
        headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset.to_string()),
            ("x-ratelimit-resource", resource),
        ])
    };
    // GraphQL at 0: GraphQL waits for its reset, REST reads and writes go at once.
    budget.observe(StatusCode::OK, &spent("graphql"), b"");
    assert_eq!((budget.remaining_of(&Resource::GRAPHQL), budget.remaining()), (Some(0), None));
    let start = Instant::now();
    drop(budget.acquire(RequestKind::Write, &Resource::CORE).await);
    drop(budget.acquire(RequestKind::Read, &Resource::CORE).await);
    assert_eq!(start.elapsed(), Duration::ZERO, "a spent graphql budget held a rest request");
    drop(budget.acquire(RequestKind::Read, &Resource::GRAPHQL).await);
    assert!(start.elapsed() >= Duration::from_secs(115), "graphql went before its reset: {:?}", start.elapsed());

    // A response without the header counts against core, which then holds a REST write and not GraphQL.
    let fresh = Budget::default();
    let core = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset.to_string())]);
    fresh.observe(StatusCode::FORBIDDEN, &core, b"");
    assert_eq!(fresh.remaining(), Some(0));
    assert!(fresh.resume_at(&Resource::GRAPHQL).is_none());
    let start = Instant::now();
    drop(fresh.acquire(RequestKind::Write, &Resource::CORE).await);
    assert!(start.elapsed() >= Duration::from_secs(115), "a rest write went before the reset: {:?}", start.elapsed());

    // A secondary limit holds every resource, as GitHub applies it to the whole token.
    let token_wide = Budget::default();
    token_wide.observe(
        StatusCode::TOO_MANY_REQUESTS,
        &headers(&[("retry-after", "30"), ("x-ratelimit-resource", "graphql")]),
        b"",
    );
    let start = Instant::now();
    drop(token_wide.acquire(RequestKind::Read, &Resource::CORE).await);
    assert_eq!(start.elapsed(), Duration::from_secs(30));
}

/// A spent core budget's headers, with GitHub's `Date`: its reset `ahead` seconds after GitHub's now, GitHub's clock
/// `skew` seconds ahead of this machine's (behind when negative).
fn spent_with_date(skew: i64, ahead: i64) -> HeaderMap {
    let local = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64;
    let github_now = local + skew;
    let date = httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(github_now as u64));
    headers(&[
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-reset", &(github_now + ahead).to_string()),
        ("date", &date),
    ])
}

#[tokio::test(start_paused = true)]
async fn a_reset_is_read_on_githubs_clock_not_this_machines() {
    // This machine five minutes ahead: the reset, two minutes ahead on GitHub's clock, looks three minutes past here.
    let ahead = Budget::default();
    ahead.observe(StatusCode::FORBIDDEN, &spent_with_date(-300, 120), b"");
    let wait = ahead.resume_at(&Resource::CORE).expect("held until the reset") - Instant::now();
    assert!(wait >= Duration::from_secs(119) && wait <= Duration::from_secs(123), "{wait:?}");
    // Five minutes behind: the wait is the window's two minutes, not seven.
    let behind = Budget::default();
    behind.observe(StatusCode::FORBIDDEN, &spent_with_date(300, 120), b"");
    let wait = behind.resume_at(&Resource::CORE).expect("held until the reset") - Instant::now();
    assert!(wait >= Duration::from_secs(119) && wait <= Duration::from_secs(123), "{wait:?}");
}

#[tokio::test(start_paused = true)]
async fn a_cached_or_absurd_date_is_not_taken_for_githubs_clock() {
    // A cache's answer (`Age`) carries the time it was made; a day's offset is a broken header, not a clock: both
    // would put the reset far ahead and hold the resource for good. The wait is then on this machine's clock.
    for (skew, age) in [(-300, true), (-86_400, false)] {
        let budget = Budget::default();
        let mut spent = spent_with_date(skew, 120);
        if age {
            spent.insert(http::header::AGE, http::HeaderValue::from_static("300"));
        }
        budget.observe(StatusCode::FORBIDDEN, &spent, b"");
        let ahead_here = u64::try_from(120 + skew).unwrap_or(0);
        let wait = budget.resume_at(&Resource::CORE).map(|at| at - Instant::now());
        assert!(
            wait.is_none_or(|wait| wait <= Duration::from_secs(ahead_here + 2)),
            "skew {skew}, age {age}: {wait:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_spent_budget_whose_reset_looks_past_pauses_a_second_doubling_to_a_minute() {
    let budget = Budget::default();
    let mut pauses = Vec::new();
    for _ in 0..8 {
        let start = Instant::now();
        budget.observe(StatusCode::FORBIDDEN, &spent_with_date(0, -5), b"");
        drop(budget.acquire(RequestKind::Read, &Resource::CORE).await);
        pauses.push(start.elapsed().as_secs());
    }
    assert_eq!(pauses, [1, 2, 4, 8, 16, 32, 60, 60], "a second, doubling while it repeats, capped at a minute");
    // Points again: the next spent budget with a past reset starts over at a second.
    budget.observe(StatusCode::OK, &headers(&[("x-ratelimit-remaining", "4999")]), b"");
    let start = Instant::now();
    budget.observe(StatusCode::FORBIDDEN, &spent_with_date(0, -5), b"");
    drop(budget.acquire(RequestKind::Read, &Resource::CORE).await);
    assert_eq!(start.elapsed().as_secs(), 1);
}

#[test]
fn the_clock_offset_comes_from_the_date_and_shifts_the_reset() {
    let wall = SystemTime::UNIX_EPOCH + Duration::from_millis(1_000_000_500);
    let date = |secs: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    assert_eq!(budget::clock_offset(date(1_000_000), wall), 0);
    assert_eq!(budget::clock_offset(date(999_700), wall), -300);
    assert_eq!(budget::clock_offset(date(1_000_300), wall), 300);
    // A reset 120 s ahead on GitHub's clock, whatever this machine's says; a second more for GitHub's rounding.
    assert_eq!(budget::until_reset(1_000_120, 0, wall), Some(Duration::from_millis(120_500)));
    assert_eq!(budget::until_reset(999_820, -300, wall), Some(Duration::from_millis(120_500)));
    assert_eq!(budget::until_reset(1_000_420, 300, wall), Some(Duration::from_millis(120_500)));
    assert_eq!(budget::until_reset(1_000_000, 0, wall), None, "a reset already past");
    assert_eq!(budget::until_reset(1_000_200, 300, wall), None, "ahead here, past on GitHub's clock");
    assert_eq!(budget::github_now(-300, wall), 999_700);
}

#[tokio::test(start_paused = true)]
async fn writes_are_a_second_apart_and_at_most_80_a_minute() {
    let budget = Budget::default();
    let start = Instant::now();
    let mut at = Vec::new();
    for _ in 0..82 {
        drop(budget.acquire(RequestKind::Write, &Resource::CORE).await);
        at.push(start.elapsed());
    }
    for pair in at.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_secs(1), "{pair:?}");
    }
    // The 81st write comes a minute after the 1st at the earliest.
    assert!(at[80] - at[0] >= Duration::from_secs(60), "{:?}", at[80]);
    // Reads are not paced.
    let before = start.elapsed();
    drop(budget.acquire(RequestKind::Read, &Resource::CORE).await);
    assert_eq!(start.elapsed(), before);
}

/// Every query the forge sends must be valid against GitHub's published schema (`@octokit/graphql-schema`, vendored
/// in `testkit/graphql/`): discovery's batch, the snapshot probe and the full read. The emulator validates too, but
/// only the queries a test happens to send.
#[test]
fn every_graphql_query_is_valid_against_githubs_schema() {
    use apollo_compiler::{ExecutableDocument, Schema, validation::Valid};

    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testkit/graphql/schema.graphql");
    let sdl = std::fs::read_to_string(path).expect("vendored schema");
    // GitHub's published SDL repeats a few field definitions (`EnterpriseOwnerInfo.repositoryDeployKeySetting`), which
    // a strict validator rejects; the parsed schema is complete all the same, so it is taken as it is.
    let schema = Schema::parse(sdl, "schema.graphql").unwrap_or_else(|with_errors| with_errors.partial);
    assert!(schema.types.contains_key("Repository"), "schema parsed");
    let schema = Valid::assume_valid(schema);
    let repos: Vec<crate::RepoId> =
        (0..super::graphql::BATCH).map(|i| crate::RepoId::new(format!("acme/repo-{i}.rs")).unwrap()).collect();
    for batch in [&repos[..1], &repos[..]] {
        let query = super::graphql::repository_batch_query(batch);
        if let Err(errors) = ExecutableDocument::parse_and_validate(&schema, &query, "query.graphql") {
            panic!("invalid query:\n{errors}\n{query}");
        }
    }
    // The snapshot reads: the probe (of green heads, red ones and both) and the full read, for one repository and a
    // whole batch.
    let probes: Vec<(crate::RepoId, bool)> = repos.iter().enumerate().map(|(i, r)| (r.clone(), i % 5 == 0)).collect();
    let green: Vec<(crate::RepoId, bool)> = repos.iter().map(|r| (r.clone(), false)).collect();
    let queries = [
        super::snapshots::probe_query(&probes[..1]),
        super::snapshots::probe_query(&green[..1]),
        super::snapshots::probe_query(&green[..super::snapshots::PROBE_BATCH]),
        super::snapshots::probe_query(&probes[..super::snapshots::PROBE_BATCH]),
        super::snapshots::full_query(&repos[..1]),
        super::snapshots::full_query(&repos[..super::snapshots::FULL_BATCH]),
        super::snapshots::failed_suites_query(&["CS_kwDO00000001".to_owned()]),
        super::snapshots::failed_suites_query(
            &(0..super::snapshots::FAILED_SUITE_BATCH).map(|i| format!("CS_kwDO{i:08}")).collect::<Vec<_>>(),
        ),
    ];
    for query in &queries {
        if let Err(errors) = ExecutableDocument::parse_and_validate(&schema, query, "query.graphql") {
            panic!("invalid query:\n{errors}\n{query}");
        }
    }
    // And the check has teeth: a field GitHub does not have is rejected.
    let wrong = super::graphql::repository_batch_query(&repos[..1]).replace("stargazerCount", "stars");
    assert!(ExecutableDocument::parse_and_validate(&schema, &wrong, "query.graphql").is_err());
}

#[test]
fn a_pull_request_stored_before_merge_commits_were_kept_still_reads() {
    let stored = r#"{"number":7,"state":"closed","merged":true,"draft":false,"head_branch":"fix","head_sha":"abc",
        "base_branch":"main","body":"","html_url":"https://github.com/acme/api/pull/7"}"#;
    let pull: crate::PullDetail = serde_json::from_str(stored).expect("an older record reads");
    assert_eq!((pull.number, pull.merged, pull.merge_commit_sha), (7, true, None));
}
