//! Behaviour of the emulator that GitHub clients depend on: authentication, the rate-limit budget, ETags and free
//! 304s, pagination links, every fault kind, the request log, writes, and stopping on drop.

mod support;

use std::time::{Duration, Instant};

use hive_testkit::{Emulator, Fault, FaultRule, IssueSpec, JobSpec, Method as EmuMethod, PullSpec, RepoSpec, RunSpec};
use reqwest::Method;
use serde_json::{Value, json};
use support::{fleet, get, send, send_with};

#[tokio::test]
async fn token_has_the_shape_of_a_personal_access_token() {
    let emu = Emulator::start().await;
    assert!(emu.token().starts_with("ghp_"));
    assert_eq!(emu.token().len(), 40);
    assert!(emu.url().starts_with("http://127.0.0.1:"));
    assert_eq!(emu.graphql_url(), format!("{}/graphql", emu.url()));
}

#[tokio::test]
async fn wrong_token_is_401_and_anonymous_reads_get_the_public_limit() {
    let emu = Emulator::start().await;
    fleet(&emu);
    let bad = send(&emu, Method::GET, "/repos/acme/widgets", Some("ghp_wrong"), None).await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.body["message"], "Bad credentials");

    let anon = send(&emu, Method::GET, "/repos/acme/widgets", None, None).await;
    assert_eq!(anon.status, 200);
    assert_eq!(anon.header("x-ratelimit-limit").as_deref(), Some("60"));
    assert_eq!(anon.header("x-ratelimit-remaining").as_deref(), Some("59"));
    // Private repositories do not exist for anonymous callers; writes need a token.
    assert_eq!(send(&emu, Method::GET, "/repos/acme/secret", None, None).await.status, 404);
    assert_eq!(get(&emu, "/repos/acme/secret").await.status, 200);
    let write = send(&emu, Method::POST, "/repos/acme/widgets/issues", None, Some(json!({"title": "x"}))).await;
    assert_eq!(write.status, 401);

    let authed = get(&emu, "/repos/acme/widgets").await;
    assert_eq!(authed.header("x-ratelimit-limit").as_deref(), Some("5000"));
    assert_eq!(authed.header("x-ratelimit-resource").as_deref(), Some("core"));
    assert_eq!(authed.header("content-type").as_deref(), Some("application/json; charset=utf-8"));
    assert!(authed.header("x-github-request-id").is_some());
}

#[tokio::test]
async fn a_matching_etag_answers_304_without_charging_the_budget() {
    let emu = Emulator::start().await;
    fleet(&emu);
    let first = get(&emu, "/repos/acme/widgets").await;
    let etag = first.header("etag").expect("GETs carry an ETag");
    let remaining: u32 = first.header("x-ratelimit-remaining").and_then(|r| r.parse().ok()).expect("remaining");

    let again = send_with(&emu, Method::GET, "/repos/acme/widgets", Some(emu.token()), None, Some(&etag)).await;
    assert_eq!(again.status, 304);
    assert_eq!(again.body, serde_json::Value::Null);
    assert_eq!(again.header("x-ratelimit-remaining"), Some(remaining.to_string()));

    // A change makes the old ETag stale: 200 again, charged.
    emu.state().archive_repo("acme", "widgets");
    let changed = send_with(&emu, Method::GET, "/repos/acme/widgets", Some(emu.token()), None, Some(&etag)).await;
    assert_eq!(changed.status, 200);
    assert_eq!(changed.body["archived"], true);
    assert_eq!(changed.header("x-ratelimit-remaining"), Some((remaining - 1).to_string()));

    let log = emu.state().requests();
    assert_eq!(log.len(), 3);
    assert_eq!(log[1].if_none_match.as_deref(), Some(etag.as_str()));
    assert!(!log[1].counted && log[0].counted && log[2].counted);
}

#[tokio::test]
async fn an_exhausted_budget_answers_403_until_the_reset() {
    let emu = Emulator::start().await;
    fleet(&emu);
    let reset = 4_000_000_000;
    emu.state().set_rate_limit(5000, 2, reset);
    assert_eq!(get(&emu, "/repos/acme/widgets").await.status, 200);
    let last = get(&emu, "/repos/acme/widgets").await;
    assert_eq!(last.header("x-ratelimit-remaining").as_deref(), Some("0"));
    let over = get(&emu, "/repos/acme/widgets").await;
    assert_eq!(over.status, 403);
    assert!(over.body["message"].as_str().unwrap_or("").starts_with("API rate limit exceeded"));
    assert_eq!(over.header("x-ratelimit-remaining").as_deref(), Some("0"));
    assert_eq!(over.header("x-ratelimit-reset"), Some(reset.to_string()));
    // Writes are refused too, and change nothing.
    let write =
        send(&emu, Method::POST, "/repos/acme/widgets/issues", Some(emu.token()), Some(json!({"title": "x"}))).await;
    assert_eq!(write.status, 403);
    assert_eq!(emu.state().issues("acme", "widgets").len(), 3);
    // /rate_limit stays free and tells the truth.
    let rl = get(&emu, "/rate_limit").await;
    assert_eq!(rl.status, 200);
    assert_eq!(rl.body["resources"]["core"]["remaining"], 0);
    assert_eq!(emu.state().rate_limit(), (5000, 0, reset));
    // A reset in the past refills the budget.
    emu.state().set_rate_limit(5000, 0, 1);
    assert_eq!(get(&emu, "/repos/acme/widgets").await.status, 200);
}

#[tokio::test]
async fn pagination_links_are_absolute_on_the_emulators_host() {
    let emu = Emulator::start().await;
    emu.state().add_org("big");
    for i in 0..7 {
        emu.state().add_repo(RepoSpec::new("big", &format!("r{i}")));
    }
    let p1 = get(&emu, "/orgs/big/repos?per_page=3").await;
    assert_eq!(p1.body.as_array().map(Vec::len), Some(3));
    let link = p1.header("link").expect("more than one page has a link header");
    let next = format!("<{}/orgs/big/repos?per_page=3&page=2>; rel=\"next\"", emu.url());
    let last = format!("<{}/orgs/big/repos?per_page=3&page=3>; rel=\"last\"", emu.url());
    assert_eq!(link, format!("{next}, {last}"));
    let p3 = get(&emu, &format!("{}/orgs/big/repos?per_page=3&page=3", emu.url())).await;
    assert_eq!(p3.body.as_array().map(Vec::len), Some(1));
    let link3 = p3.header("link").expect("link");
    assert!(link3.contains("rel=\"prev\"") && link3.contains("rel=\"first\"") && !link3.contains("rel=\"next\""));
    let one = get(&emu, "/orgs/big/repos").await;
    assert!(one.header("link").is_none());
}

#[tokio::test]
async fn status_fault_applies_to_matching_requests_the_given_number_of_times() {
    let emu = Emulator::start().await;
    fleet(&emu);
    emu.state().inject(
        FaultRule::new(Fault::Status(502)).method(EmuMethod::GET).path_prefix("/repos/acme/widgets/issues").times(2),
    );
    assert_eq!(get(&emu, "/repos/acme/widgets").await.status, 200);
    assert_eq!(get(&emu, "/repos/acme/widgets/issues").await.status, 502);
    assert_eq!(get(&emu, "/repos/acme/widgets/issues").await.status, 502);
    assert_eq!(get(&emu, "/repos/acme/widgets/issues").await.status, 200);
}

#[tokio::test]
async fn primary_rate_limit_fault_reports_an_empty_budget() {
    let emu = Emulator::start().await;
    fleet(&emu);
    emu.state().inject(FaultRule::new(Fault::PrimaryRateLimit).times(1));
    let got = get(&emu, "/repos/acme/widgets").await;
    assert_eq!(got.status, 403);
    assert_eq!(got.header("x-ratelimit-remaining").as_deref(), Some("0"));
    assert!(got.header("x-ratelimit-reset").is_some());
    assert!(got.body["message"].as_str().unwrap_or("").contains("rate limit"));
    assert_eq!(get(&emu, "/repos/acme/widgets").await.status, 200);
}

#[tokio::test]
async fn secondary_rate_limit_faults_carry_retry_after() {
    let emu = Emulator::start().await;
    fleet(&emu);
    emu.state().inject(FaultRule::new(Fault::SecondaryRateLimit { retry_after_secs: 7 }).times(1));
    emu.state().inject(FaultRule::new(Fault::SecondaryRateLimitForbidden { retry_after_secs: 3 }).times(1));
    let a = get(&emu, "/repos/acme/widgets").await;
    assert_eq!((a.status, a.header("retry-after").as_deref()), (429, Some("7")));
    assert!(a.body["message"].as_str().unwrap_or("").contains("secondary rate limit"));
    let b = get(&emu, "/repos/acme/widgets").await;
    assert_eq!((b.status, b.header("retry-after").as_deref()), (403, Some("3")));
}

#[tokio::test]
async fn forbidden_without_headers_has_no_rate_limit_headers() {
    let emu = Emulator::start().await;
    fleet(&emu);
    emu.state().inject(FaultRule::new(Fault::ForbiddenNoHeaders).times(1));
    let got = get(&emu, "/repos/acme/widgets").await;
    assert_eq!(got.status, 403);
    assert!(got.header("x-ratelimit-remaining").is_none() && got.header("retry-after").is_none());
}

#[tokio::test]
async fn malformed_body_is_not_json() {
    let emu = Emulator::start().await;
    fleet(&emu);
    emu.state().inject(FaultRule::new(Fault::MalformedBody).times(1));
    let got = get(&emu, "/repos/acme/widgets").await;
    assert_eq!(got.status, 200);
    assert!(got.body.is_string(), "the body must not parse as JSON: {}", got.body);
}

#[tokio::test]
async fn connection_reset_fails_the_request_and_is_logged() {
    let emu = Emulator::start().await;
    fleet(&emu);
    emu.state().inject(FaultRule::new(Fault::ConnectionReset).times(1));
    let err = support::client().get(format!("{}/repos/acme/widgets", emu.url())).send().await;
    assert!(err.is_err(), "a reset connection yields no response");
    assert_eq!(get(&emu, "/repos/acme/widgets").await.status, 200);
    let log = emu.state().requests();
    assert_eq!(log[0].status, 0);
    assert_eq!(log[1].status, 200);
}

#[tokio::test]
async fn latency_delays_answers() {
    let emu = Emulator::start().await;
    fleet(&emu);
    emu.state().set_latency(Duration::from_millis(50));
    emu.state().inject(FaultRule::new(Fault::Latency(Duration::from_millis(100))).times(1));
    let t = Instant::now();
    get(&emu, "/repos/acme/widgets").await;
    assert!(t.elapsed() >= Duration::from_millis(150));
    let t = Instant::now();
    get(&emu, "/repos/acme/widgets").await;
    let e = t.elapsed();
    assert!(e >= Duration::from_millis(50) && e < Duration::from_millis(150), "{e:?}");
}

#[tokio::test]
async fn request_log_records_every_request() {
    let emu = Emulator::start().await;
    fleet(&emu);
    get(&emu, "/repos/acme/widgets/actions/runs?branch=main&per_page=5").await;
    send(&emu, Method::GET, "/repos/acme/nope", None, None).await;
    let log = emu.state().requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].method, EmuMethod::GET);
    assert_eq!(log[0].path, "/repos/acme/widgets/actions/runs");
    assert_eq!(log[0].query, "branch=main&per_page=5");
    assert!(log[0].authorized && !log[1].authorized);
    assert_eq!(log[1].status, 404);
    assert!(log[0].at <= log[1].at);
    emu.state().clear_requests();
    assert!(emu.state().requests().is_empty());
}

#[tokio::test]
async fn reads_filter_like_github() {
    let emu = Emulator::start().await;
    let run = fleet(&emu);
    let runs = get(&emu, "/repos/acme/widgets/actions/runs?branch=main&status=completed").await;
    assert_eq!(runs.body["total_count"], 1);
    assert_eq!(runs.body["workflow_runs"][0]["id"], run);
    let all = get(&emu, "/repos/acme/widgets/actions/runs").await;
    assert_eq!(all.body["total_count"], 3);
    assert!(all.body["workflow_runs"].as_array().is_some_and(|r| r.iter().any(|r| r["head_branch"].is_null())));
    let jobs = get(&emu, &format!("/repos/acme/widgets/actions/runs/{run}/jobs")).await;
    assert_eq!(jobs.body["jobs"][0]["run_attempt"], 1);
    assert_eq!(jobs.body["jobs"][0]["steps"][1]["name"], "cargo test");
    assert_eq!(jobs.body["jobs"][0]["steps"][1]["conclusion"], "failure");

    let open = get(&emu, "/repos/acme/widgets/issues").await;
    let items = open.body.as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2, "open issue and open PR");
    assert!(items.iter().any(|i| i.get("pull_request").is_some()));
    let bugs = get(&emu, "/repos/acme/widgets/issues?labels=bug").await;
    assert_eq!(bugs.body.as_array().map(Vec::len), Some(1));

    let repo = get(&emu, "/repos/acme/widgets").await;
    assert_eq!((repo.body["stargazers_count"].clone(), repo.body["subscribers_count"].clone()), (json!(42), json!(7)));
    assert_eq!(repo.body["license"]["spdx_id"], "MIT");
    assert_eq!(repo.body["open_issues_count"], 2);
    assert_eq!(repo.body["owner"]["type"], "Organization");
    assert_eq!(get(&emu, "/repos/acme/widgets/contents/SECURITY.md").await.status, 200);
    assert_eq!(get(&emu, "/repos/alice/dotfiles/contents/SECURITY.md").await.status, 404);

    let alerts = get(&emu, "/repos/acme/widgets/dependabot/alerts?state=open").await;
    assert_eq!(alerts.body[0]["security_advisory"]["severity"], "high");
    emu.state().set_dependabot("acme", "widgets", hive_testkit::DependabotSpec::Forbidden);
    assert_eq!(get(&emu, "/repos/acme/widgets/dependabot/alerts").await.status, 403);
    emu.state().set_dependabot("acme", "widgets", hive_testkit::DependabotSpec::NotFound);
    assert_eq!(get(&emu, "/repos/acme/widgets/dependabot/alerts").await.status, 404);

    let checks = get(&emu, "/repos/acme/widgets/commits/main/check-runs").await;
    assert_eq!(checks.body["total_count"], 2);
    assert_eq!(get(&emu, "/repos/acme/widgets/commits/main/status").await.body["state"], "failure");

    let found = get(&emu, "/search/issues?q=repo:acme/widgets+is:issue+in:title+%22crash+on+start%22").await;
    assert_eq!(found.body["total_count"], 1);
    assert_eq!(found.body["items"][0]["title"], "Crash on start");
    assert_eq!(get(&emu, "/orgs/alice/repos").await.status, 404);
    assert_eq!(get(&emu, "/users/acme/repos").await.body.as_array().map(Vec::len), Some(2));

    emu.state().delete_repo("acme", "widgets");
    assert_eq!(get(&emu, "/repos/acme/widgets").await.status, 404);
}

#[tokio::test]
async fn a_jobs_annotations_hang_off_its_check_run_page_like_github_and_go_with_a_rerun() {
    let emu = Emulator::start().await;
    emu.state().add_org("acme");
    emu.state().add_repo(RepoSpec::new("acme", "api"));
    let run = emu.state().add_workflow_run(
        "acme",
        "api",
        RunSpec::new("CI", "main").outcome("completed", Some("failure")).job(
            JobSpec::new("test", "completed", Some("failure"))
                .annotation("warning", "Node.js 16 actions are deprecated.")
                .annotation("failure", "The runner has received a shutdown signal.")
                .annotation("failure", "Process completed with exit code 1."),
        ),
    );
    let jobs_path = format!("/repos/acme/api/actions/runs/{run}/jobs");
    let job = get(&emu, &jobs_path).await.body["jobs"][0].clone();
    let url = job["check_run_url"].as_str().expect("check_run_url").to_owned();
    assert_eq!(url, format!("{}/repos/acme/api/check-runs/{}", emu.url(), job["id"]));

    let first = get(&emu, &format!("{url}/annotations?per_page=2")).await;
    assert_eq!(first.status, 200);
    let messages = |body: &Value| -> Vec<String> {
        body.as_array().into_iter().flatten().filter_map(|a| a["message"].as_str().map(str::to_owned)).collect()
    };
    assert_eq!(
        messages(&first.body),
        ["Node.js 16 actions are deprecated.", "The runner has received a shutdown signal."]
    );
    assert_eq!(first.body[1]["annotation_level"], "failure");
    let next = format!("<{url}/annotations?per_page=2&page=2>; rel=\"next\"");
    assert!(first.header("link").is_some_and(|link| link.starts_with(&next)), "{:?}", first.header("link"));
    let second = get(&emu, &format!("{url}/annotations?per_page=2&page=2")).await;
    assert_eq!(messages(&second.body), ["Process completed with exit code 1."]);

    // A re-run job is a new check run, without the old attempt's annotations.
    let rerun = send(
        &emu,
        Method::POST,
        &format!("/repos/acme/api/actions/runs/{run}/rerun-failed-jobs"),
        Some(emu.token()),
        None,
    )
    .await;
    assert_eq!(rerun.status, 201);
    let again = get(&emu, &jobs_path).await.body["jobs"][0]["check_run_url"].as_str().map(str::to_owned);
    let again = again.expect("check_run_url");
    assert_ne!(again, url);
    assert_eq!(get(&emu, &format!("{again}/annotations")).await.body, json!([]));
    assert_eq!(get(&emu, "/repos/acme/api/check-runs/999999/annotations").await.status, 404);
}

#[tokio::test]
async fn writes_are_visible_through_the_state() {
    let emu = Emulator::start().await;
    let run = fleet(&emu);
    let t = Some(emu.token());
    let created = send(
        &emu,
        Method::POST,
        "/repos/acme/widgets/issues",
        t,
        Some(json!({"title": "CI broken", "labels": ["ci"]})),
    )
    .await;
    assert_eq!(created.status, 201);
    let n = created.body["number"].as_u64().expect("number");
    send(&emu, Method::POST, &format!("/repos/acme/widgets/issues/{n}/comments"), t, Some(json!({"body": "looking"})))
        .await;
    send(&emu, Method::POST, &format!("/repos/acme/widgets/issues/{n}/labels"), t, Some(json!({"labels": ["p1"]})))
        .await;
    send(&emu, Method::PATCH, &format!("/repos/acme/widgets/issues/{n}"), t, Some(json!({"state": "closed"}))).await;
    let issue = emu.state().issues("acme", "widgets").into_iter().find(|i| i.number == n).expect("created issue");
    assert_eq!((issue.state.as_str(), issue.labels.clone()), ("closed", vec!["ci".to_owned(), "p1".to_owned()]));
    assert_eq!(emu.state().comments("acme", "widgets", n), vec!["looking".to_owned()]);

    assert_eq!(
        send(&emu, Method::POST, &format!("/repos/acme/widgets/actions/runs/{run}/rerun-failed-jobs"), t, None)
            .await
            .status,
        201
    );
    assert_eq!(emu.state().reruns("acme", "widgets"), vec![run]);

    let main = get(&emu, "/repos/acme/widgets/git/ref/heads/main").await;
    let sha = main.body["object"]["sha"].as_str().expect("sha").to_owned();
    let r = send(
        &emu,
        Method::POST,
        "/repos/acme/widgets/git/refs",
        t,
        Some(json!({"ref": "refs/heads/hive/fix", "sha": sha})),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(get(&emu, "/repos/acme/widgets/git/refs/heads/hive/fix").await.status, 200);
    let dup = send(
        &emu,
        Method::POST,
        "/repos/acme/widgets/git/refs",
        t,
        Some(json!({"ref": "refs/heads/hive/fix", "sha": sha})),
    )
    .await;
    assert_eq!(dup.status, 422);
    let put = json!({"message": "add policy", "content": "aGk=", "branch": "hive/fix"});
    assert_eq!(send(&emu, Method::PUT, "/repos/acme/widgets/contents/SECURITY.md", t, Some(put)).await.status, 201);
    assert_eq!(emu.state().file("acme", "widgets", "hive/fix", "SECURITY.md").as_deref(), Some("aGk="));
    assert!(emu.state().branches("acme", "widgets").contains(&"hive/fix".to_owned()));
    let pr = send(
        &emu,
        Method::POST,
        "/repos/acme/widgets/pulls",
        t,
        Some(json!({"title": "Add SECURITY.md", "head": "hive/fix", "base": "main"})),
    )
    .await;
    assert_eq!(pr.status, 201);
    let pn = pr.body["number"].as_u64().expect("number");
    assert_eq!(send(&emu, Method::PUT, &format!("/repos/acme/widgets/pulls/{pn}/merge"), t, None).await.status, 200);
    assert_eq!(send(&emu, Method::PUT, &format!("/repos/acme/widgets/pulls/{pn}/merge"), t, None).await.status, 405);
    let pull = emu.state().pulls("acme", "widgets").into_iter().find(|p| p.number == pn).expect("pull");
    assert!(pull.merged && pull.state == "closed");

    emu.state().add_issue("acme", "widgets", IssueSpec::new("later"));
    emu.state().archive_repo("acme", "widgets");
    let refused = send(&emu, Method::POST, "/repos/acme/widgets/issues", t, Some(json!({"title": "x"}))).await;
    assert_eq!(refused.status, 403);
}

#[tokio::test]
async fn a_pull_request_edit_is_checked_whole_before_anything_changes() {
    let emu = Emulator::start().await;
    fleet(&emu);
    let t = Some(emu.token());
    let first = emu.state().add_pull("acme", "widgets", PullSpec::new("First", "feature"));
    let second = emu.state().add_pull("acme", "widgets", PullSpec::new("Second", "other"));
    let path = format!("/repos/acme/widgets/pulls/{first}");
    for body in [
        json!({"state": "merged", "title": "changed"}),
        json!({"title": 3}),
        json!({"base": "no-such-branch", "title": "changed"}),
    ] {
        let got = send(&emu, Method::PATCH, &path, t, Some(body.clone())).await;
        assert_eq!(got.status, 422, "{body}: {}", got.body);
    }
    let stored = |n: u64| emu.state().pulls("acme", "widgets").into_iter().find(|p| p.number == n).expect("pull");
    assert_eq!((stored(first).title.as_str(), stored(first).state.as_str()), ("First", "open"));

    // Closed, another pull request opened for the same branches, and reopening would make two: refused.
    let closed = send(&emu, Method::PATCH, &path, t, Some(json!({"state": "closed"}))).await;
    assert_eq!(
        (closed.status, closed.body["state"].as_str(), closed.body["merged"].as_bool()),
        (200, Some("closed"), Some(false))
    );
    let again = emu.state().add_pull("acme", "widgets", PullSpec::new("Again", "feature"));
    let got = send(&emu, Method::PATCH, &path, t, Some(json!({"state": "open"}))).await;
    assert_eq!(got.status, 422);
    assert_eq!(got.body["message"], "A pull request already exists for acme:feature.");
    emu.state().set_issue_state("acme", "widgets", again, "closed");
    let got = send(&emu, Method::PATCH, &path, t, Some(json!({"state": "open", "body": "back"}))).await;
    assert_eq!((got.status, got.body["state"].as_str(), got.body["body"].as_str()), (200, Some("open"), Some("back")));

    // Merged: closing changes nothing, reopening is GitHub's field error.
    let merge = format!("/repos/acme/widgets/pulls/{second}/merge");
    assert_eq!(send(&emu, Method::PUT, &merge, t, Some(json!({"merge_method": "merge"}))).await.status, 200);
    let path = format!("/repos/acme/widgets/pulls/{second}");
    let got = send(&emu, Method::PATCH, &path, t, Some(json!({"state": "open"}))).await;
    assert_eq!(got.status, 422);
    assert_eq!(got.body["errors"][0]["field"], "state");
    let read = get(&emu, &path).await;
    assert_eq!((read.body["merged"].as_bool(), read.body["state"].as_str()), (Some(true), Some("closed")));
    assert_eq!(read.body["merge_commit_sha"].as_str(), stored(second).merge_commit_sha.as_deref());
}

#[tokio::test]
async fn repositories_made_through_the_api_take_pushes_and_reviews_and_go_when_deleted() {
    let emu = Emulator::start().await;
    fleet(&emu);
    emu.state().set_authenticated_user("hive-bot");
    let t = Some(emu.token());
    let me = get(&emu, "/user").await;
    assert_eq!((me.status, me.body["login"].as_str()), (200, Some("hive-bot")));
    assert_eq!(send(&emu, Method::GET, "/user", None, None).await.status, 401);
    assert_eq!(get(&emu, "/users/acme").await.body["type"], "Organization");
    assert_eq!(get(&emu, "/users/hive-bot").await.body["type"], "User");
    assert_eq!(get(&emu, "/users/nobody").await.status, 404);

    let body = json!({"name": "agent", "description": "does things", "private": true});
    let made = send(&emu, Method::POST, "/orgs/acme/repos", t, Some(body.clone())).await;
    assert_eq!(made.status, 201, "{}", made.body);
    assert_eq!((made.body["full_name"].as_str(), made.body["private"].as_bool()), (Some("acme/agent"), Some(true)));
    assert_eq!(made.body["description"], "does things");
    assert_eq!(made.header("location"), Some(format!("{}/repos/acme/agent", emu.url())));
    // Private: invisible without the token, listed with it.
    assert_eq!(send(&emu, Method::GET, "/repos/acme/agent", None, None).await.status, 404);
    let listed = get(&emu, "/orgs/acme/repos?per_page=100").await;
    assert!(listed.body.as_array().expect("a list").iter().any(|r| r["name"] == "agent"), "{}", listed.body);
    // Empty until something is pushed.
    assert_eq!(get(&emu, "/repos/acme/agent/branches").await.body, json!([]));

    let taken = send(&emu, Method::POST, "/orgs/acme/repos", t, Some(json!({"name": "Agent"}))).await;
    assert_eq!(taken.status, 422);
    assert_eq!(taken.body["errors"][0]["message"], "name already exists on this account");
    assert_eq!(send(&emu, Method::POST, "/orgs/nowhere/repos", t, Some(json!({"name": "x"}))).await.status, 404);
    assert_eq!(send(&emu, Method::POST, "/orgs/alice/repos", t, Some(json!({"name": "x"}))).await.status, 404);
    let bad = send(&emu, Method::POST, "/orgs/acme/repos", t, Some(json!({"name": "a b"}))).await;
    assert_eq!(bad.status, 422);
    let mine = send(&emu, Method::POST, "/user/repos", t, Some(json!({"name": "tool"}))).await;
    assert_eq!((mine.status, mine.body["full_name"].as_str()), (201, Some("hive-bot/tool")));

    // The clone URL takes a push with the real git, and the API shows what was pushed.
    let clone_url = made.body["clone_url"].as_str().expect("a clone url").to_owned();
    let work = tempfile::tempdir().expect("tempdir");
    hive_testkit::git::git(work.path(), &["init", "-q"]);
    std::fs::write(work.path().join("README.md"), "agent\n").expect("write");
    hive_testkit::git::git(work.path(), &["add", "-A"]);
    hive_testkit::git::git(work.path(), &["commit", "-qm", "first"]);
    hive_testkit::git::git(work.path(), &["checkout", "-qb", "feature"]);
    std::fs::write(work.path().join("lib.rs"), "\n").expect("write");
    hive_testkit::git::git(work.path(), &["add", "-A"]);
    hive_testkit::git::git(work.path(), &["commit", "-qm", "second"]);
    let head = hive_testkit::git::git(work.path(), &["rev-parse", "HEAD"]);
    hive_testkit::git::git(work.path(), &["push", "-q", &clone_url, "main", "feature"]);
    let branches = get(&emu, "/repos/acme/agent/branches").await;
    let names: Vec<&str> =
        branches.body.as_array().expect("a list").iter().filter_map(|b| b["name"].as_str()).collect();
    assert_eq!(names, ["feature", "main"]);
    assert_eq!(get(&emu, "/repos/acme/agent/git/ref/heads/feature").await.body["object"]["sha"], head.as_str());

    let pr = send(
        &emu,
        Method::POST,
        "/repos/acme/agent/pulls",
        t,
        Some(json!({"title": "Feature", "head": "feature", "base": "main"})),
    )
    .await;
    assert_eq!(pr.status, 201, "{}", pr.body);
    let n = pr.body["number"].as_u64().expect("number");
    let reviews = format!("/repos/acme/agent/pulls/{n}/reviews");
    let needs_body = send(&emu, Method::POST, &reviews, t, Some(json!({"event": "REQUEST_CHANGES"}))).await;
    assert_eq!(needs_body.status, 422);
    let approved = send(&emu, Method::POST, &reviews, t, Some(json!({"event": "APPROVE"}))).await;
    assert_eq!((approved.status, approved.body["state"].as_str()), (200, Some("APPROVED")));
    assert_eq!(approved.body["commit_id"], head.as_str());
    assert_eq!(approved.body["user"]["login"], "hive-bot");
    let listed = get(&emu, &reviews).await;
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1));
    assert_eq!(get(&emu, "/repos/acme/agent/pulls/99/reviews").await.status, 404);

    let dir = emu.state().git_dir("acme", "agent").expect("a git directory");
    assert!(dir.join("HEAD").is_file());
    assert_eq!(send(&emu, Method::DELETE, "/repos/acme/agent", t, None).await.status, 204);
    assert!(!dir.exists(), "the git data went with the repository");
    assert_eq!(get(&emu, "/repos/acme/agent").await.status, 404);
    assert_eq!(send(&emu, Method::DELETE, "/repos/acme/agent", t, None).await.status, 404);
    // The name is free again.
    assert_eq!(send(&emu, Method::POST, "/orgs/acme/repos", t, Some(body)).await.status, 201);
}

#[tokio::test]
async fn graphql_answers_batched_repository_reads_and_errors_otherwise() {
    let emu = Emulator::start().await;
    fleet(&emu);
    let q = r#"query { rateLimit { cost remaining } r0: repository(owner: "acme", name: "widgets") { stargazerCount } r1: repository(owner: "acme", name: "gone") { name } }"#;
    let got = send(&emu, Method::POST, "/graphql", Some(emu.token()), Some(json!({"query": q}))).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["data"]["r0"]["stargazerCount"], 42);
    // Only what was selected is answered.
    assert_eq!(got.body["data"]["r0"], json!({ "stargazerCount": 42 }));
    assert_eq!(got.body["data"]["rateLimit"]["cost"], 1);
    assert!(got.body["data"]["r1"].is_null());
    assert_eq!(got.body["errors"][0]["type"], "NOT_FOUND");
    assert_eq!(got.header("x-ratelimit-resource").as_deref(), Some("graphql"));
    let got =
        send(&emu, Method::POST, "/graphql", Some(emu.token()), Some(json!({"query": "{ viewer { login } }"}))).await;
    assert_eq!(got.status, 200);
    assert!(got.body["errors"][0]["message"].is_string());
    assert_eq!(send(&emu, Method::POST, "/graphql", None, Some(json!({"query": "{}"}))).await.status, 401);
}

#[tokio::test]
async fn dropping_the_emulator_stops_the_server() {
    let emu = Emulator::start().await;
    let url = emu.url();
    assert_eq!(get(&emu, "/rate_limit").await.status, 200);
    drop(emu);
    // The abort is asynchronous: poll until the port refuses, within a deadline.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let fresh = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(0).build().expect("client");
        if fresh.get(format!("{url}/rate_limit")).send().await.is_err() {
            break;
        }
        assert!(Instant::now() < deadline, "the emulator still answers after drop");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn contents_of_a_repository_backed_by_git_come_from_git_and_a_branch_the_api_moved_from_the_api() {
    let emu = Emulator::start().await;
    fleet(&emu);
    let t = Some(emu.token());
    assert_eq!(send(&emu, Method::POST, "/orgs/acme/repos", t, Some(json!({"name": "app"}))).await.status, 201);
    let bare = emu.state().git_dir("acme", "app").expect("git").display().to_string();
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(work.path().join("src")).expect("mkdir");
    std::fs::write(work.path().join("src/lib.rs"), "pub fn git() {}\n").expect("write");
    hive_testkit::git::git(work.path(), &["init", "-q"]);
    hive_testkit::git::git(work.path(), &["add", "-A"]);
    hive_testkit::git::git(work.path(), &["commit", "-qm", "first"]);
    hive_testkit::git::git(work.path(), &["push", "-q", &bare, "main"]);
    let head = hive_testkit::git::git(work.path(), &["rev-parse", "HEAD"]);
    let blob = hive_testkit::git::git(work.path(), &["rev-parse", "HEAD:src/lib.rs"]);

    for git_ref in ["main", head.as_str()] {
        let file = get(&emu, &format!("/repos/acme/app/contents/src/lib.rs?ref={git_ref}")).await;
        assert_eq!((file.status, file.body["sha"].as_str(), file.body["size"].as_u64()), (200, Some(&*blob), Some(16)));
        assert_eq!(file.body["content"], "cHViIGZuIGdpdCgpIHt9Cg==\n");
    }
    let dir = get(&emu, "/repos/acme/app/contents/src").await;
    assert_eq!(dir.body[0]["path"], "src/lib.rs");
    assert_eq!(get(&emu, "/repos/acme/app/contents/src/main.rs").await.body["message"], "Not Found");
    let unknown = get(&emu, "/repos/acme/app/contents/src/lib.rs?ref=nope").await;
    assert_eq!((unknown.status, unknown.body["message"].as_str()), (404, Some("No commit found for the ref nope")));

    // A branch the API moved by writing a file is read from what the API wrote, not from git's older commit.
    let put = json!({"message": "api", "content": "YXBpCg==", "branch": "main"});
    assert_eq!(send(&emu, Method::PUT, "/repos/acme/app/contents/src/lib.rs", t, Some(put)).await.status, 201);
    let written = get(&emu, "/repos/acme/app/contents/src/lib.rs?ref=main").await;
    assert_eq!((written.status, written.body["content"].as_str()), (200, Some("YXBpCg==")));
    let old = get(&emu, &format!("/repos/acme/app/contents/src/lib.rs?ref={head}")).await;
    assert_eq!(old.body["sha"].as_str(), Some(blob.as_str()), "git's commit still reads from git");
}
