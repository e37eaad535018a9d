//! `hive spawn agent` and `hive agents` as a user runs them: a local workspace, real cargo and git, the registry in
//! the state directory's database.

use std::path::PathBuf;

use serde_json::Value;

use crate::{hive_in, stderr, stdout};

/// The target directory every agent built by the tests shares.
fn shared_target() -> String {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("agents-target").display().to_string()
}

#[test]
fn an_agent_is_spawned_listed_and_removed_from_the_command_line() {
    let state = tempfile::tempdir().unwrap();
    let workspace = tempfile::tempdir().unwrap();
    let ws = workspace.path().display().to_string();
    let target = shared_target();
    let out = hive_in(
        state.path(),
        &["spawn", "agent", "answers webhook deliveries", "--workspace", &ws, "--offline", "--target-dir", &target],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("agent answers-webhook-deliveries (webhook-responder, free tier): ready"),
        "{}",
        stdout(&out)
    );
    assert!(workspace.path().join("answers-webhook-deliveries/.git").exists(), "the repository is in the workspace");

    let out = hive_in(state.path(), &["--json", "agents", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let agents: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(agents[0]["name"], "answers-webhook-deliveries");
    assert_eq!(agents[0]["state"], "ready");
    assert_eq!(agents[0]["tests_passed"], true);

    let out = hive_in(state.path(), &["agents", "remove", "answers-webhook-deliveries"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = hive_in(state.path(), &["agents", "show", "answers-webhook-deliveries"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no agent named 'answers-webhook-deliveries'"), "{}", stderr(&out));
}

#[test]
fn hostile_requests_are_refused_before_anything_is_made() {
    let state = tempfile::tempdir().unwrap();
    let workspace = tempfile::tempdir().unwrap();
    let ws = workspace.path().display().to_string();
    for (request, expected) in [
        ("../x:escape", "invalid agent name '../x'"),
        ("x$(id);rm:d", "invalid agent name 'x$(id);rm'"),
        ("triаge:cyrillic a", "invalid agent name 'triаge'"),
    ] {
        let out = hive_in(state.path(), &["spawn", "agent", request, "--workspace", &ws]);
        assert_eq!(out.status.code(), Some(2), "{request}: {}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{request}: {}", stderr(&out));
    }
    let out = hive_in(state.path(), &["spawn", "agent", "ok:fine", "--archetype", "nope", "--workspace", &ws]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("unknown archetype 'nope'"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(workspace.path()).unwrap().count(), 0, "nothing was made");
}

mod serve {
    //! `spawn agent` through a running `hive serve`: accepted at once, made in the background, registered, its
    //! repository in the watched workspace.

    use std::time::{Duration, Instant};

    use nix::sys::signal::Signal;
    use reqwest::StatusCode;
    use serde_json::{Value, json};

    use crate::daemon::{Daemon, hive_command};

    const TOKEN: &str = "s3cret-spawn-token";
    /// hive's own GitHub token, which no agent may see.
    const HIVE_OWN_TOKEN: &str = "ghp_hive0own0token0for0the0spawn0test";

    /// The environment of the one process running `binary`.
    fn environment_of(binary: &std::path::Path) -> String {
        let pids: Vec<i32> = std::fs::read_dir("/proc")
            .expect("/proc")
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|line| line.split(|b| *b == 0).next() == Some(binary.as_os_str().as_encoded_bytes()))
            })
            .collect();
        assert_eq!(pids.len(), 1, "one process runs {}", binary.display());
        let environ = std::fs::read(format!("/proc/{}/environ", pids[0])).expect("its environment");
        String::from_utf8_lossy(&environ).replace('\0', "\n")
    }

    async fn send(base: &str, text: &str) -> (StatusCode, Value) {
        let response = reqwest::Client::new()
            .post(format!("{base}/api/command"))
            .bearer_auth(TOKEN)
            .json(&json!({ "command": text, "by": "ops" }))
            .send()
            .await
            .expect("send");
        let status = response.status();
        (status, response.json().await.expect("json"))
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_running_hive_spawns_an_agent_by_command() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (ws, state) = (dir.path().join("ws"), dir.path().join("state"));
        hive_testkit::projects::write(&ws.join("ok"), "Makefile", "test:\n\ttrue\n");
        hive_testkit::projects::git_repo(&ws.join("ok"));
        let args = ["serve", "--workspace", ws.to_str().expect("utf-8"), "--bind", "127.0.0.1:0"];
        let mut cmd = hive_command(&state, &args);
        cmd.env("HIVE_API_TOKEN", TOKEN)
            .env("GITHUB_TOKEN", HIVE_OWN_TOKEN)
            .env("HIVE_AGENTS_TARGET_DIR", super::shared_target())
            .env("HIVE_AGENTS_OFFLINE", "1");
        let mut daemon = Daemon::spawn(cmd, &dir.path().join("stderr.log"));
        let line = daemon.line("the listening line", |l| l.starts_with("hive serve: listening on http://")).await;
        let base = line.trim_start_matches("hive serve: listening on ").trim().to_owned();

        let (status, answer) = send(&base, "spawn agent --archetype webhook-responder hooks: answers deliveries").await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!((&answer["accepted"], &answer["agent"]["archetype"]), (&json!(true), &json!("webhook-responder")));

        // Made in the background: polled until registered (a cold build takes minutes on a small machine).
        let deadline = Instant::now() + Duration::from_secs(900);
        let agent = loop {
            let (status, answer) = send(&base, "agents show hooks").await;
            if status == StatusCode::OK {
                break answer;
            }
            assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
            assert!(Instant::now() < deadline, "the agent was never registered: {}", daemon.stderr());
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        assert_eq!((&agent["state"], &agent["repo"]), (&json!("ready"), &json!("local/hooks")), "{agent}");
        assert!(ws.join("hooks/.git").exists(), "its repository is in the watched workspace");

        // A second spawn of the name is refused at once; a hostile one never starts.
        let (status, answer) = send(&base, "spawn agent hooks: again").await;
        assert_eq!(status, StatusCode::CONFLICT, "{answer}");
        let (status, _) = send(&base, "spawn agent ../x: escape").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // Run as a service of the hive: it answers on the address it was given, shows in the status, and stops.
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
        let (status, answer) =
            send(&base, &format!("agents run hooks AGENT_BIND=127.0.0.1:{port} AGENT_WEBHOOK_SECRET=whsec")).await;
        assert_eq!((status, &answer["service"]), (StatusCode::OK, &json!("agent-hooks")), "{answer}");
        let health = format!("http://127.0.0.1:{port}/health");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(answer) = reqwest::get(&health).await
                && answer.status().is_success()
            {
                assert_eq!(answer.text().await.expect("text"), "ok");
                break;
            }
            assert!(Instant::now() < deadline, "the agent never answered: {}", daemon.stderr());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // It runs with its own settings and nothing of hive's: no token, no API token.
        let environment = environment_of(&std::path::Path::new(&super::shared_target()).join("debug/hooks"));
        assert!(environment.contains(&format!("AGENT_BIND=127.0.0.1:{port}")), "{environment}");
        assert!(!environment.contains(HIVE_OWN_TOKEN) && !environment.contains(TOKEN), "{environment}");
        assert!(!environment.contains("HIVE_API_TOKEN") && !environment.contains("GITHUB_TOKEN"), "{environment}");
        let status: Value =
            reqwest::get(format!("{base}/api/status")).await.expect("status").json().await.expect("json");
        assert!(status.to_string().contains("agent-hooks"), "the service is a member: {status}");
        let (status, answer) = send(&base, "agents stop hooks").await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert!(reqwest::get(&health).await.is_err(), "stopped with its service");
        let (status, _) = send(&base, "agents run hooks PATH=/tmp").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "only the agent's own settings");

        let audit: Value =
            reqwest::get(format!("{base}/api/audit?limit=100")).await.expect("audit").json().await.expect("json");
        let actions: Vec<&str> =
            audit["records"].as_array().expect("records").iter().filter_map(|r| r["action"].as_str()).collect();
        for step in [
            "agent_spawn_requested",
            "agent_tested",
            "agent_repository_created",
            "agent_registered",
            "agent_built",
            "agent_run",
            "agent_stopped",
        ] {
            assert!(actions.contains(&step), "{step} missing from {actions:?}");
        }

        daemon.signal(Signal::SIGTERM);
        let exit = daemon.exit_within(Duration::from_secs(15)).await;
        assert_eq!(exit.code(), Some(0), "{}", daemon.stderr());
    }
}
