//! `hive serve` against the GitHub emulator, read over real HTTP on loopback: `GET /api/repos/{owner}/{name}` (the
//! score's breakdown, signals, the pilot's state and the issue hive filed, checked against what the emulator serves
//! and holds), its 404 and 400 answers (hostile names sent as raw request lines, as no URL library would send them),
//! and `GET /metrics` parsed line by line: per-repository scores equal to the API's, GitHub points, and the writes,
//! decisions and limits counted in the database equal to what reached the emulator.

use std::{collections::BTreeMap, time::Duration};

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::daemon::{DEADLINE, Daemon, hive_command};

/// The samples of an OpenMetrics text, by series (`name{labels}` as written), after checking its shape: every line
/// a comment or `series value`, `# EOF` last.
fn samples(text: &str) -> BTreeMap<String, f64> {
    assert_eq!(text.lines().last(), Some("# EOF"), "{text}");
    let mut found = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line:?}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number in {line:?}"));
        assert!(series.starts_with("hive_"), "{line:?}");
        found.insert(series.to_owned(), value);
    }
    found
}

/// One GET sent as written, so `..` and percent-escapes reach the server unnormalised: (status, body).
async fn raw_get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{answer}"));
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn repo_detail_and_metrics_agree_with_the_emulator_and_the_database() {
    // acme/r0 and acme/r1 fail their tests (jobs `suite 0` and `suite 1`); three more are green.
    let emu = crate::lifecycle::failing_fleet(2).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let args = ["serve", "--org", "acme", "--autonomy", "--bind", "127.0.0.1:0"];
    let mut cmd = hive_command(&state, &args);
    // One issue an hour: one failing repository gets its issue, the other is refused by the limit.
    cmd.env("GITHUB_API_URL", emu.url())
        .env("GITHUB_TOKEN", emu.token())
        .env("ORCHESTRATION_INTERVAL", "1")
        .env("HIVE_MAX_ISSUES_PER_HOUR", "1");
    let mut daemon = Daemon::spawn(cmd, &dir.path().join("stderr.log"));
    let line = daemon.line("the listening line", |l| l.starts_with("hive serve: listening on http://")).await;
    let base = line.trim_start_matches("hive serve: listening on ").trim().to_owned();
    let addr = base.trim_start_matches("http://").to_owned();
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{base}{path}")).send();

    // Wait until the loop has acted: one issue filed, the other refused by the limit, as the database counts them.
    let until = tokio::time::Instant::now() + DEADLINE;
    let (metrics, text) = loop {
        let response = get("/metrics").await.expect("metrics");
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers()["content-type"].to_str().expect("ascii").to_owned();
        assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
        let text = response.text().await.expect("text");
        let metrics = samples(&text);
        let filed = metrics.get(r#"hive_writes{kind="open_issue",state="done"}"#).copied().unwrap_or(0.0);
        let limited = metrics.get(r#"hive_limits_hit_total{limit="issues_per_hour"}"#).copied().unwrap_or(0.0);
        let timed = metrics.get("hive_cycle_duration_seconds_count").copied().unwrap_or(0.0);
        if filed >= 1.0 && limited >= 1.0 && timed >= 1.0 {
            break (metrics, text);
        }
        assert!(tokio::time::Instant::now() < until, "the loop did not act within {DEADLINE:?}: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // The database's counts are what reached the emulator: exactly one issue, and one decision allowed it.
    let issues = |repo| emu.state().issues("acme", repo).into_iter().filter(|i| !i.is_pull).collect::<Vec<_>>();
    let (r0_issues, r1_issues) = (issues("r0"), issues("r1"));
    assert_eq!(r0_issues.len() + r1_issues.len(), 1, "{r0_issues:?} {r1_issues:?}");
    assert_eq!(metrics[r#"hive_writes{kind="open_issue",state="done"}"#], 1.0, "{text}");
    assert_eq!(metrics[r#"hive_decisions_total{kind="open_issue",verdict="allow",reason="allowed"}"#], 1.0, "{text}");
    assert!(metrics[r#"hive_decisions_total{kind="open_issue",verdict="deny",reason="limit_reached"}"#] >= 1.0);
    assert!(metrics["hive_github_points_spent_total"] > 0.0, "{text}");
    assert!(metrics.contains_key("hive_github_rate_limit_remaining"), "{text}");
    assert_eq!(metrics["hive_emergency"], 0.0, "{text}");
    assert_eq!(metrics[r#"hive_members{kind="pilot",state="running"}"#], 5.0, "{text}");
    assert_eq!(metrics.get(r#"hive_members{kind="steward",state="running"}"#), Some(&1.0), "{text}");
    let levels: Vec<_> = metrics.iter().filter(|(k, v)| k.starts_with("hive_fleet_level{") && **v == 1.0).collect();
    assert_eq!(levels.len(), 1, "one level is held: {text}");

    // One repository in detail: the failing one scores lower, and says why.
    let detail = |repo: &'static str| async move {
        let response = get(&format!("/api/repos/{repo}")).await.expect("repo");
        assert_eq!(response.status(), StatusCode::OK, "{repo}");
        response.json::<Value>().await.expect("json")
    };
    let r0 = detail("acme/r0").await;
    let docs = detail("acme/docs").await;
    assert_eq!((r0["ci"].as_str(), docs["ci"].as_str()), (Some("failing"), Some("passing")), "{r0} {docs}");
    assert!(r0["score"].as_u64() < docs["score"].as_u64(), "{r0} {docs}");
    assert_eq!((r0["healthy"].as_bool(), docs["healthy"].as_bool()), (Some(false), Some(true)));
    assert_eq!((r0["state"].as_str(), r0["restarts"].as_u64()), (Some("running"), Some(0)), "{r0}");
    let ci = r0["components"].as_array().and_then(|c| c.iter().find(|c| c["name"] == "ci")).expect("ci component");
    assert_eq!(ci["score"], 0, "{r0}");
    assert!(ci["reason"].as_str().is_some_and(|r| r.contains("suite 0")), "{ci}");
    let signal = r0["signals"].as_array().and_then(|s| s.first()).expect("a signal");
    assert!(signal.to_string().contains("suite 0"), "{signal}");
    // Passing CI raises nothing; what the emulator's repository lacks (SECURITY.md, a license) is typed.
    let kinds: Vec<&Value> = docs["signals"].as_array().expect("signals").iter().map(|s| &s["kind"]).collect();
    let missing = |what: &str| serde_json::json!({ "kind": "missing_file", "what": what });
    assert_eq!(kinds, [&missing("security_policy"), &missing("license")], "{docs}");
    // The issue hive filed shows on its repository, with the emulator's number; the other has none.
    for (repo, on_emulator) in [("acme/r0", &r0_issues), ("acme/r1", &r1_issues)] {
        let shown = detail(repo).await;
        let filed: Vec<u64> = shown["filed"]
            .as_array()
            .expect("filed")
            .iter()
            .filter(|f| f["kind"] == "issue")
            .filter_map(|f| f["number"].as_u64())
            .collect();
        let expected: Vec<u64> = on_emulator.iter().map(|i| i.number).collect();
        assert_eq!(filed, expected, "{shown}");
    }

    // Each repository's score in the metrics is the API's.
    for repo in ["acme/r0", "acme/r1", "acme/docs", "acme/site", "acme/tools"] {
        let shown = detail(repo).await;
        let series = format!("hive_repo_score{{repo=\"{repo}\"}}");
        let metrics = samples(&get("/metrics").await.expect("metrics").text().await.expect("text"));
        assert_eq!(metrics.get(&series).copied(), shown["score"].as_f64(), "{series}: {shown}");
    }

    // Unknown and hostile names.
    let unknown = get("/api/repos/acme/nope").await.expect("send");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let body: Value = unknown.json().await.expect("json");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("'acme/nope'")), "{body}");
    for hostile in [
        "/api/repos/acme/..",
        "/api/repos/acme/%2e%2e",
        "/api/repos/%2E%2E/r0",
        "/api/repos/acme/r0;id",
        "/api/repos/acme/$(id)",
        "/api/repos/acme/r0%60id%60",
        // A Cyrillic 'о' in place of the Latin one.
        "/api/repos/acme/d%D0%BEcs",
        "/api/repos/acme/%ff",
    ] {
        let (status, body) = raw_get(&addr, hostile).await;
        assert_eq!(status, 400, "{hostile}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{hostile}: not json: {body}"));
        assert!(body["error"].is_string(), "{hostile}: {body}");
    }

    daemon.signal(nix::sys::signal::Signal::SIGTERM);
    let exit = daemon.exit_within(Duration::from_secs(15)).await;
    assert_eq!(exit.code(), Some(0), "{}", daemon.stderr());
}
