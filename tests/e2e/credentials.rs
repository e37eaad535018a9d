//! Organisations with their own GitHub credential, through the real binary against the emulator: `acme` read and
//! written with the default token, `widgets` with its own from `[orgs.widgets] token_env`, each request carrying its
//! owner's token; and a credential that cannot be had stops the command with exit 2 before anything is sent.

use std::{
    path::Path,
    process::{Command, Output},
};

use hive_testkit::{Emulator, JobSpec, Method, RepoSpec, RunSpec, TOKEN};

/// An installation token's shape; the emulator accepts it for widgets' repositories only.
const WIDGETS_TOKEN: &str = "ghs_WidgetsInstallationToken0123456789ab";

/// The binary with a clean environment pointed at the emulator, `state` and the configuration file `config`.
fn hive(emu: &Emulator, state: &Path, config: &Path, args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hive"));
    cmd.arg("--config").arg(config).args(args).arg("--state-dir").arg(state);
    for (key, _) in std::env::vars() {
        if key.starts_with("HIVE_") || key.starts_with("GITHUB_") || key == "GH_TOKEN" || key == "EMERGENCY_MODE" {
            cmd.env_remove(key);
        }
    }
    cmd.env("GITHUB_API_URL", emu.url()).env("GITHUB_TOKEN", emu.token()).env("XDG_CONFIG_HOME", state);
    cmd.envs(envs.iter().copied());
    cmd
}

async fn output(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("run hive")).await.expect("join")
}

/// Two organisations of four repositories, one failing in each, and a token that sees only widgets.
async fn two_orgs() -> Emulator {
    let emu = Emulator::start().await;
    let s = emu.state();
    for (owner, failing, healthy) in
        [("acme", "api", ["docs", "site", "tools"]), ("widgets", "gear", ["bolt", "nut", "cog"])]
    {
        s.add_org(owner);
        s.add_repo(RepoSpec::new(owner, failing));
        s.add_workflow_run(
            owner,
            failing,
            RunSpec::new("ci", "main").outcome("completed", Some("failure")).job(JobSpec::new(
                "unit tests",
                "completed",
                Some("failure"),
            )),
        );
        for name in healthy {
            s.add_repo(RepoSpec::new(owner, name));
            s.add_workflow_run(owner, name, RunSpec::new("ci", "main"));
        }
    }
    s.add_token(WIDGETS_TOKEN, &["widgets"]);
    emu
}

/// The owner a REST request is about (`/repos/{owner}/..`, `/orgs/{owner}/..`, `/users/{owner}/..`).
fn owner_of(path: &str) -> Option<&str> {
    let mut segments = path.trim_start_matches('/').split('/');
    match segments.next()? {
        "repos" | "orgs" | "users" => segments.next(),
        _ => None,
    }
}

const CONFIG: &str = "[targets]\norgs = [\"acme\", \"widgets\"]\n[orgs.widgets]\ntoken_env = \"WIDGETS_TOKEN\"\n";

#[tokio::test(flavor = "multi_thread")]
async fn each_organisation_is_read_and_written_with_its_own_token() {
    let emu = two_orgs().await;
    let state = tempfile::tempdir().expect("tempdir");
    let config = state.path().join("hive.toml");
    std::fs::write(&config, CONFIG).expect("write");
    let envs = [("WIDGETS_TOKEN", WIDGETS_TOKEN)];
    let args = ["run", "--once", "--autonomy", "--json"];
    let out = output(hive(&emu, state.path(), &config, &args, &envs)).await;
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(!stdout.contains(WIDGETS_TOKEN) && !stderr.contains(WIDGETS_TOKEN), "the token is a secret");
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON record");
    assert_eq!(record["total_repositories"], 8, "every repository of both: {record}");
    let read: Vec<&str> = record["repositories"]
        .as_array()
        .expect("repositories")
        .iter()
        .filter_map(|line| line["repo"].as_str())
        .collect();
    assert_eq!(read.iter().filter(|repo| repo.starts_with("widgets/")).count(), 4, "{record}");

    // The steward filed an issue in each failing repository, widgets' with widgets' token.
    for (owner, repo) in [("acme", "api"), ("widgets", "gear")] {
        let issues: Vec<_> = emu.state().issues(owner, repo).into_iter().filter(|i| !i.is_pull).collect();
        assert_eq!(issues.len(), 1, "{owner}/{repo}: {stdout}");
    }
    let requests = emu.state().requests();
    let filed = requests.iter().find(|r| r.method == Method::POST && r.path == "/repos/widgets/gear/issues");
    assert_eq!(filed.and_then(|r| r.token.as_deref()), Some(WIDGETS_TOKEN), "the write used widgets' token");

    // Every request about an owner carried that owner's token; GraphQL queries went out with both.
    for request in &requests {
        let token = request.token.as_deref();
        match owner_of(&request.path) {
            Some("widgets") => assert_eq!(token, Some(WIDGETS_TOKEN), "{request:?}"),
            Some(_) => assert_eq!(token, Some(TOKEN), "{request:?}"),
            None => assert!(token == Some(TOKEN) || token == Some(WIDGETS_TOKEN), "{request:?}"),
        }
    }
    for token in [TOKEN, WIDGETS_TOKEN] {
        assert!(requests.iter().any(|r| r.path == "/graphql" && r.token.as_deref() == Some(token)), "{token}");
    }
    // widgets' own budget was drawn on, not only the default token's.
    let (limit, remaining, _) = emu.state().token_rate_limit(WIDGETS_TOKEN, "graphql");
    assert!(remaining < limit);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_credential_that_cannot_be_had_stops_the_run_with_exit_2_before_anything_is_sent() {
    let emu = two_orgs().await;
    let state = tempfile::tempdir().expect("tempdir");
    let config = state.path().join("hive.toml");
    std::fs::write(&config, CONFIG).expect("write");
    let run = ["run", "--once", "--autonomy"];
    for (envs, needle) in [
        (&[][..], "at key 'orgs.widgets.token_env': the variable 'WIDGETS_TOKEN' is not set or is empty"),
        (&[("WIDGETS_TOKEN", "ghs_with a space")][..], "holds a character a token cannot have"),
    ] {
        let out = output(hive(&emu, state.path(), &config, &run, envs)).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("hive.toml:4:13'") && stderr.contains(needle), "{stderr}");
        assert!(!stderr.contains("ghs_with"), "{stderr}");
    }
    let installation = "[targets]\norgs = [\"widgets\"]\n[orgs.widgets]\ninstallation_id = 42\n";
    std::fs::write(&config, installation).expect("write");
    let out = output(hive(&emu, state.path(), &config, &run, &[])).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("at key 'orgs.widgets.installation_id': HIVE_GITHUB_APP_ID is not set"), "{stderr}");
    assert!(emu.state().requests().is_empty(), "nothing was sent");

    // `config check` shows where the credential comes from, never the token.
    std::fs::write(&config, CONFIG).expect("write");
    let out =
        output(hive(&emu, state.path(), &config, &["config", "check"], &[("WIDGETS_TOKEN", WIDGETS_TOKEN)])).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line = stdout.lines().find(|line| line.starts_with("orgs.widgets.credential")).unwrap_or_default();
    assert!(line.contains("token from the variable WIDGETS_TOKEN"), "{stdout}");
    assert!(!stdout.contains(WIDGETS_TOKEN), "{stdout}");
}
