//! The configuration file's errors (with line, column and key), its lookup, and the order flag > environment >
//! file > default, with the environment given by a closure.

use std::path::{Path, PathBuf};

use clap::{CommandFactory, FromArgMatches};
use hive::cerebrum::governance::ActionLevel;

use super::*;
use crate::{
    cli::Cli,
    resolve::{RunPlan, RunTarget},
};

mod orgs;

fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |key| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

/// `text` parsed as `/etc/hive/hive.toml`; the error as displayed.
fn error(text: &str) -> String {
    let err = file::parse(Path::new("/etc/hive/hive.toml"), text).expect_err("a bad file");
    err.to_string()
}

#[test]
fn an_unknown_key_names_file_line_column_and_the_key_meant() {
    let err = error("[cycle]\ninterval = 30\n  intervall = 5\n");
    assert!(err.starts_with("invalid configuration '/etc/hive/hive.toml:3:3' at key 'cycle.intervall'"), "{err}");
    assert!(err.contains("unknown key 'intervall'; known keys: interval, test_timeout, reconcile_every"), "{err}");
    assert!(err.ends_with("did you mean 'interval'?"), "{err}");
    // At the top, and in a table of tables.
    let err = error("stat_dir = 'x'\n");
    assert!(err.contains("hive.toml:1:1' at key 'stat_dir'") && err.ends_with("did you mean 'state_dir'?"), "{err}");
    let err = error("[orgs.acme]\nlevel = 'log'\ntest_commands = ['make']\n");
    assert!(err.contains(":3:1' at key 'orgs.acme.test_commands'"), "{err}");
    assert!(err.contains("known keys: level, owners, include, exclude, test_command"), "{err}");
    assert!(err.ends_with("did you mean 'test_command'?"), "{err}");
}

#[test]
fn a_wrong_type_names_line_column_and_key() {
    let err = error("[governance]\nautonomy = true\nmax_prs_per_day = \"ten\"\n");
    assert!(
        err.starts_with("invalid configuration '/etc/hive/hive.toml:3:19' at key 'governance.max_prs_per_day'"),
        "{err}"
    );
    assert!(err.contains("invalid type: string \"ten\""), "{err}");
    let err = error("[targets]\norgs = \"acme\"\n");
    assert!(err.contains(":2:8' at key 'targets.orgs'"), "{err}");
}

#[test]
fn bad_values_name_line_column_key_and_the_value() {
    for (text, at, needle) in [
        ("[governance]\nlevel = \"fixx\"\n", ":2:9' at key 'governance.level'", "invalid level 'fixx'"),
        ("[emergency]\ncritical_share = 1.5\n", ":2:18' at key 'emergency.critical_share'", "invalid share '1.5'"),
        (
            "[cycle]\ninterval = 0\n",
            ":2:12' at key 'cycle.interval'",
            "invalid interval (seconds) '0': expected 1 to 86400",
        ),
        ("[cycle]\ntest_timeout = 86401\n", ":2:16' at key 'cycle.test_timeout'", "expected 1 to 86400"),
        ("[cycle]\nreconcile_every = 0\n", ":2:19' at key 'cycle.reconcile_every'", "expected 1 to 1000"),
        ("[targets]\norgs = [\"ok\", \"../x\"]\n", ":2:15' at key 'targets.orgs'", "invalid organisation '../x'"),
        ("[targets]\ninclude = [\"a[*\"]\n", ":2:12' at key 'targets.include'", "invalid glob 'a[*'"),
        (
            "[governance]\nowners = [\"not a login\"]\n",
            ":2:11' at key 'governance.owners'",
            "invalid owner 'not a login'",
        ),
        ("[repos.\"acme\"]\nlevel = \"log\"\n", ":1:8' at key 'repos.acme'", "invalid repository 'acme'"),
        ("[api]\nbind = \"localhost\"\n", ":2:8' at key 'api.bind'", "invalid bind address 'localhost'"),
        ("[api]\ntoken_env = \"A\"\ntoken_file = \"t\"\n", ":3:14' at key 'api.token_file'", "not both"),
        ("[api]\ntoken_env = \"MY TOKEN\"\n", ":2:13' at key 'api.token_env'", "invalid variable name 'MY TOKEN'"),
        (
            "[llm]\nendpoint = \"ftp://x\"\nmodel = \"m\"\n",
            ":2:12' at key 'llm.endpoint'",
            "invalid endpoint 'ftp://x'",
        ),
        ("[llm]\nendpoint = \"https://u:p@x\"\nmodel = \"m\"\n", ":2:12' at key 'llm.endpoint'", "without credentials"),
        ("[retention]\ncycles = 0\n", ":2:10' at key 'retention.cycles'", "expected 1 to"),
        (
            "[repos.\"acme/api\"]\ntest_command = [\"make\"]\n",
            ":2:16' at key 'repos.\"acme/api\".test_command'",
            "applies to a local workspace's repositories (local/NAME) only, not 'acme/api'",
        ),
        (
            "[repos.\"local/app\"]\ntest_command = []\n",
            ":2:16' at key 'repos.\"local/app\".test_command'",
            "expected a program",
        ),
        (
            "[orgs.acme]\ntest_command = [\"make\"]\n",
            ":2:16' at key 'orgs.acme.test_command'",
            "so to the organisation 'local' ([orgs.local]), not 'acme'",
        ),
        ("[orgs.local]\ntest_command = [\" \"]\n", ":2:16' at key 'orgs.local.test_command'", "expected a program"),
        (
            "[services.\"../x\"]\ncommand = [\"true\"]\n",
            ":1:11' at key 'services.\"../x\"'",
            "invalid service name '../x'",
        ),
        ("[services.web]\ncommand = []\n", ":2:11' at key 'services.web.command'", "invalid service 'web'"),
        (
            "[services.web]\ncommand = [\"run\"]\nport = 80\n",
            ":3:1' at key 'services.web.port'",
            "unknown key 'port'; known keys: command, cwd, env, log_file",
        ),
    ] {
        let err = error(text);
        assert!(err.contains(at) && err.contains(needle), "{text:?}: {err}");
    }
    // A syntax error has a position too.
    let err = error("[cycle\n");
    assert!(err.starts_with("invalid configuration '/etc/hive/hive.toml:1:7'"), "{err}");
}

#[test]
fn a_valid_file_is_read_with_paths_relative_to_it() {
    let text = r#"
state_dir = "state"
[targets]
workspace = "/srv/ws"
orgs = ["acme"]
[cycle]
interval = 300
[governance]
level = "issue"
owners = ["@alice", "acme/core"]
[orgs.acme]
level = "log"
exclude = ["legacy-*"]
[repos."acme/api"]
owners = ["bob"]
level = "fix"
[repos."local/app"]
test_command = ["make", "check"]
[retention]
snapshots = 7
[services.web]
command = ["python3", "-m", "http.server", "8080"]
cwd = "site"
env = { PORT = "8080" }
"#;
    let settings = file::parse(Path::new("/etc/hive/hive.toml"), text).expect("valid");
    assert_eq!(settings.state_dir, Some(PathBuf::from("/etc/hive/state")));
    assert_eq!(settings.targets.workspace, Some(PathBuf::from("/srv/ws")));
    assert_eq!(settings.services.len(), 1);
    let web = &settings.services[0];
    assert_eq!(
        (web.name.as_str(), web.argv[0].as_str(), web.cwd.as_path()),
        ("web", "python3", Path::new("/etc/hive/site"))
    );
    assert_eq!(web.env, [("PORT".to_owned(), "8080".to_owned())]);
    assert_eq!(settings.interval, Some(300));
    assert_eq!(settings.governance.level, Some(ActionLevel::Issue));
    assert_eq!(settings.governance.owners, Some(vec!["alice".to_owned(), "acme/core".to_owned()]));
    assert_eq!(settings.org_excludes, ["acme/legacy-*"]);
    assert_eq!(settings.overrides.level("acme/web", ActionLevel::Fix), ActionLevel::Log);
    assert_eq!(settings.overrides.level("other/web", ActionLevel::Fix), ActionLevel::Fix);
    assert_eq!(settings.overrides.owners("acme/api", &[]), ["bob"]);
    // A repository's own setting beats its organisation's, which beats the configuration's.
    assert_eq!(settings.overrides.level("acme/api", ActionLevel::Issue), ActionLevel::Fix);
    assert_eq!(settings.overrides.owners("acme/web", &["carol".to_owned()]), ["carol"]);
    assert_eq!((settings.keep_snapshots, settings.keep_cycles), (Some(7), None));
    assert_eq!(settings.test_commands.repos.get("app"), Some(&vec!["make".to_owned(), "check".to_owned()]));
}

#[test]
fn the_file_is_looked_up_from_the_flag_the_variable_then_the_xdg_directory() {
    let env = lookup(&[("HIVE_CONFIG", "/env/hive.toml"), ("XDG_CONFIG_HOME", "/xdg"), ("HOME", "/home/u")]);
    let flag = locate(Some(Path::new("/flag.toml")), &env).expect("ok").expect("found");
    assert_eq!(flag, (PathBuf::from("/flag.toml"), Origin::Flag { flag: "--config".to_owned() }));
    let from_env = locate(None, &env).expect("ok").expect("found");
    assert_eq!(from_env, (PathBuf::from("/env/hive.toml"), Origin::Env { var: "HIVE_CONFIG".to_owned() }));
    let xdg = locate(None, &lookup(&[("XDG_CONFIG_HOME", "/xdg"), ("HOME", "/home/u")])).expect("ok");
    assert_eq!(xdg, Some((PathBuf::from("/xdg/hive/hive.toml"), Origin::Default)));
    // A relative XDG directory is ignored, as the specification says.
    let home = locate(None, &lookup(&[("XDG_CONFIG_HOME", "rel"), ("HOME", "/home/u")])).expect("ok");
    assert_eq!(home, Some((PathBuf::from("/home/u/.config/hive/hive.toml"), Origin::Default)));
    assert_eq!(locate(None, &lookup(&[])).expect("ok"), None);
}

#[test]
fn a_missing_file_is_an_error_only_when_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("hive.toml");
    assert_eq!(load(&missing, false), Ok(None));
    // Behind a file where a directory should be, the default place cannot even be looked at: no file either.
    std::fs::write(dir.path().join("file"), "").expect("write");
    assert_eq!(load(&dir.path().join("file/hive.toml"), false), Ok(None));
    let err = load(&missing, true).expect_err("named").to_string();
    assert!(err.contains("hive.toml'") && err.contains("no such file"), "{err}");
}

/// `hive ARGS` resolved with the environment `env` and `text` as the configuration file (given by `--config`).
fn run_hive(text: Option<&str>, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<(Cli, EnvConfig, Resolved)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("hive.toml");
    let mut argv: Vec<String> = vec!["hive".to_owned()];
    if let Some(text) = text {
        std::fs::write(&path, text).expect("write");
        argv.extend(["--config".to_owned(), path.display().to_string()]);
    }
    argv.extend(args.iter().map(|a| a.to_string()));
    let matches = Cli::command().try_get_matches_from(argv).expect("clap accepts these");
    let mut cli = Cli::from_arg_matches(&matches).expect("arguments");
    let lookup = lookup(env);
    let mut env = EnvConfig::from_lookup(&lookup)?;
    let resolved = resolve(&mut cli, &mut env, &matches, &lookup)?;
    Ok((cli, env, resolved))
}

fn origin(resolved: &Resolved, key: &str) -> String {
    resolved.get(key).unwrap_or_else(|| panic!("no {key}")).origin.to_string()
}

#[test]
fn a_flag_beats_the_environment_which_beats_the_file_which_beats_the_default() {
    let text = "[cycle]\ntest_timeout = 30\ninterval = 120\n[governance]\nlevel = \"issue\"\nmax_prs_per_day = 7\n\
                escalate_after = 4\nautonomy = true\n[emergency]\nmin_fleet = 9\nclear_after = 6\n";
    let env = [("HIVE_MAX_PRS_PER_DAY", "3"), ("HIVE_ACTION_LEVEL", "log"), ("HIVE_EMERGENCY_CLEAR_AFTER", "2")];
    let args = ["run", "--workspace", "ws", "--level", "fix", "--state-dir", "s"];
    let (cli, env_config, resolved) = run_hive(Some(text), &args, &env).expect("valid");
    let Command::Run(run) = &cli.command else { unreachable!("a run") };
    let a = &run.autonomy;
    assert_eq!((a.level.as_str(), a.max_prs_per_day, a.escalate_after, run.targets.test_timeout), ("fix", 3, 4, 30));
    assert_eq!((a.autonomy, a.max_issues_per_hour), (true, 20));
    assert_eq!(env_config.orchestration_interval, Some(Duration::from_secs(120)));
    assert_eq!(origin(&resolved, "governance.level"), "flag --level");
    assert_eq!(origin(&resolved, "governance.max_prs_per_day"), "env HIVE_MAX_PRS_PER_DAY");
    assert!(origin(&resolved, "governance.escalate_after").starts_with("file "));
    assert!(origin(&resolved, "cycle.interval").starts_with("file "));
    assert_eq!(origin(&resolved, "governance.max_issues_per_hour"), "default");
    assert_eq!(origin(&resolved, "state_dir"), "flag --state-dir");
    assert_eq!(origin(&resolved, "emergency.clear_after"), "env HIVE_EMERGENCY_CLEAR_AFTER");
    // The plan `hive run` builds from it: the file's thresholds are the base the variable is laid over.
    let plan = RunPlan::resolve(run, &env_config, &cli.state_dir, lookup(&[])).expect("a plan");
    assert_eq!((plan.queen.emergency.min_fleet, plan.queen.emergency.clear_after), (9, 2));
    assert_eq!(plan.interval, Duration::from_secs(120));
    let RunTarget::Workspace { test_timeout, autonomy, .. } = plan.target else { unreachable!("a workspace") };
    assert_eq!(
        (test_timeout, autonomy.policy.level, autonomy.escalate_after),
        (Duration::from_secs(30), ActionLevel::Fix, 4)
    );

    // The seed's ORCHESTRATION_INTERVAL beats the file.
    let (_, env_config, resolved) =
        run_hive(Some(text), &["run", "--workspace", "ws", "--state-dir", "s"], &[("ORCHESTRATION_INTERVAL", "5")])
            .expect("valid");
    assert_eq!(env_config.orchestration_interval, Some(Duration::from_secs(5)));
    assert_eq!(origin(&resolved, "cycle.interval"), "env ORCHESTRATION_INTERVAL");
}

#[test]
fn full_reads_are_periodic_under_a_server_taking_webhooks_unless_told_otherwise() {
    let serve = ["serve", "--workspace", "ws", "--state-dir", "s"];
    let reconcile = |cli: &Cli| match &cli.command {
        Command::Run(run) => run.reconcile_every,
        Command::Serve(serve) => serve.run.reconcile_every,
        _ => unreachable!("run or serve"),
    };
    let (cli, _, resolved) = run_hive(None, &serve, &[]).expect("valid");
    assert_eq!((reconcile(&cli), origin(&resolved, "cycle.reconcile_every")), (Some(1), "default".to_owned()));
    let secret = [("HIVE_GITHUB_WEBHOOK_SECRET", "s3cret")];
    let (cli, _, resolved) = run_hive(None, &serve, &secret).expect("valid");
    assert_eq!(reconcile(&cli), Some(WEBHOOK_RECONCILE_EVERY));
    assert_eq!(resolved.get("cycle.reconcile_every").map(|s| s.value.clone()), Some(serde_json::json!(12)));
    // `hive run` takes no deliveries, whatever the environment says.
    let (cli, _, _) = run_hive(None, &["run", "--workspace", "ws", "--state-dir", "s"], &secret).expect("valid");
    assert_eq!(reconcile(&cli), Some(1));
    // Set anywhere, it is kept: the file, then the variable, then the flag.
    let text = "[cycle]\nreconcile_every = 4\n";
    let (cli, _, resolved) = run_hive(Some(text), &serve, &secret).expect("valid");
    assert_eq!(reconcile(&cli), Some(4));
    assert!(origin(&resolved, "cycle.reconcile_every").starts_with("file "));
    let env = [secret[0], ("HIVE_RECONCILE_EVERY", "6")];
    let (cli, _, _) = run_hive(Some(text), &serve, &env).expect("valid");
    assert_eq!(reconcile(&cli), Some(6));
    let flag = ["serve", "--workspace", "ws", "--state-dir", "s", "--reconcile-every", "2"];
    let (cli, env_config, _) = run_hive(Some(text), &flag, &env).expect("valid");
    assert_eq!(reconcile(&cli), Some(2));
    let Command::Serve(args) = &cli.command else { unreachable!("a server") };
    let plan = RunPlan::resolve(&args.run, &env_config, &cli.state_dir, lookup(&[])).expect("a plan");
    assert_eq!(plan.queen.reconcile_every, 2);
    // Out of range is refused, naming the variable.
    let bad = [("HIVE_RECONCILE_EVERY", "0")];
    let err = run_hive(None, &serve, &bad).expect_err("refused").to_string();
    assert!(err.contains("HIVE_RECONCILE_EVERY"), "{err}");
}

#[test]
fn flags_for_any_target_replace_the_files_targets() {
    let text = "[targets]\norgs = [\"acme\"]\nexclude = [\"old-*\"]\n[orgs.acme]\nexclude = [\"tmp-*\"]\ninclude = [\"api-*\"]\n";
    let (cli, _, resolved) = run_hive(Some(text), &["run", "--state-dir", "s"], &[]).expect("valid");
    let Command::Run(run) = &cli.command else { unreachable!("a run") };
    assert_eq!((run.targets.orgs.as_slice(), run.targets.workspace.as_deref()), (&["acme".to_owned()][..], None));
    assert_eq!(run.targets.exclude, ["old-*", "acme/tmp-*"]);
    assert_eq!(run.file.org_includes.get("acme"), Some(&vec!["api-*".to_owned()]));
    assert!(origin(&resolved, "targets.orgs").starts_with("file "));

    let (cli, _, resolved) =
        run_hive(Some(text), &["run", "--workspace", "ws", "--state-dir", "s"], &[]).expect("valid");
    let Command::Run(run) = &cli.command else { unreachable!("a run") };
    assert!(run.targets.orgs.is_empty() && run.targets.workspace.is_some());
    assert_eq!(origin(&resolved, "targets.orgs"), "default");
    assert_eq!(origin(&resolved, "targets.workspace"), "flag --workspace");
}

#[test]
fn the_state_directory_comes_from_flag_variable_file_then_xdg() {
    let text = "state_dir = \"from-file\"\n";
    let home = [("HOME", "/home/u")];
    let (cli, _, _) =
        run_hive(Some(text), &["audit", "verify", "--state-dir", "flag"], &[("HIVE_STATE_DIR", "env")]).expect("ok");
    assert_eq!(cli.state_dir, PathBuf::from("flag"));
    let (cli, _, _) = run_hive(Some(text), &["audit", "verify"], &[("HIVE_STATE_DIR", "env")]).expect("ok");
    assert_eq!(cli.state_dir, PathBuf::from("env"));
    let (cli, _, resolved) = run_hive(Some(text), &["audit", "verify"], &home).expect("ok");
    assert!(cli.state_dir.ends_with("from-file") && cli.state_dir.is_absolute(), "{}", cli.state_dir.display());
    assert!(origin(&resolved, "state_dir").starts_with("file "));
    let (cli, _, _) =
        run_hive(None, &["audit", "verify"], &[("XDG_STATE_HOME", "/state"), ("HOME", "/home/u")]).expect("ok");
    assert_eq!(cli.state_dir, PathBuf::from("/state/hive"));
    let (cli, _, _) = run_hive(None, &["audit", "verify"], &home).expect("ok");
    assert_eq!(cli.state_dir, PathBuf::from("/home/u/.local/state/hive"));
    let err = run_hive(None, &["audit", "verify"], &[]).expect_err("no home");
    assert!(crate::config::UsageError::is_usage(&err) && err.to_string().contains("give --state-dir"), "{err}");
}

#[test]
fn the_api_token_comes_from_the_variable_the_file_names_and_is_never_shown() {
    let text = "[api]\ntoken_env = \"MY_TOKEN\"\nbind = \"127.0.0.1:9000\"\n";
    let args = ["serve", "--workspace", "ws", "--state-dir", "s"];
    let (cli, _, resolved) = run_hive(Some(text), &args, &[("MY_TOKEN", "tok-123")]).expect("ok");
    let Command::Serve(serve) = &cli.command else { unreachable!("a serve") };
    assert_eq!(serve.token.as_ref().map(Secret::expose), Some("tok-123"));
    assert_eq!(serve.bind.to_string(), "127.0.0.1:9000");
    assert_eq!(resolved.get("api.token").expect("token").value, "[REDACTED]");
    assert!(!format!("{resolved:?}{cli:?}").contains("tok-123"));
    // HIVE_API_TOKEN beats the file; a variable the file names but nobody set is an error at its line.
    let (cli, _, _) = run_hive(Some(text), &args, &[("MY_TOKEN", "a"), ("HIVE_API_TOKEN", "b")]).expect("ok");
    let Command::Serve(serve) = &cli.command else { unreachable!("a serve") };
    assert_eq!(serve.token.as_ref().map(Secret::expose), Some("b"));
    let err = run_hive(Some(text), &args, &[]).expect_err("unset");
    assert!(err.to_string().contains("hive.toml:2:13' at key 'api.token_env'"), "{err}");
}

#[test]
fn a_repository_s_test_command_beats_its_organisation_s_and_both_show_where_they_came_from() {
    let text = "[orgs.local]\ntest_command = [\"make\", \"ci\"]\n[repos.\"local/app\"]\ntest_command = [\"just\"]\n";
    let (cli, env_config, resolved) =
        run_hive(Some(text), &["run", "--workspace", "ws", "--state-dir", "s"], &[]).expect("valid");
    let Command::Run(run) = &cli.command else { unreachable!("a run") };
    let plan = RunPlan::resolve(run, &env_config, &cli.state_dir, lookup(&[])).expect("a plan");
    let RunTarget::Workspace { test_commands, .. } = plan.target else { unreachable!("a workspace") };
    assert_eq!(test_commands.org, Some(vec!["make".to_owned(), "ci".to_owned()]));
    assert_eq!(test_commands.repos.get("app"), Some(&vec!["just".to_owned()]));
    assert!(origin(&resolved, "orgs.local.test_command").starts_with("file /"));
    assert!(origin(&resolved, "repos.\"local/app\".test_command").starts_with("file /"));
    // Without the file, no command is given: each repository's build files name it.
    let (cli, _, resolved) = run_hive(None, &["run", "--workspace", "ws", "--state-dir", "s"], &[]).expect("valid");
    let Command::Run(run) = &cli.command else { unreachable!("a run") };
    assert_eq!(run.file.test_commands, TestCommands::default());
    assert!(resolved.get("orgs.local.test_command").is_none());
}

#[test]
fn sync_declarations_are_read_and_each_bad_part_is_named() {
    let good = "[[sync]]\nname = 'license-and-ci'\nsource = 'acme/templates'\n\
                paths = ['LICENSE', '.github/workflows/*.yml']\ntargets = ['acme/*', 'other/api']\ncontinuous = true\n";
    let parsed = file::parse(Path::new("/etc/hive/hive.toml"), good).expect("a good file");
    assert_eq!(parsed.syncs.len(), 1);
    let decl = &parsed.syncs[0];
    assert_eq!((decl.name.as_str(), decl.source.as_str(), decl.continuous), ("license-and-ci", "acme/templates", true));
    assert_eq!(decl.paths, ["LICENSE", ".github/workflows/*.yml"]);
    assert!(decl.names("acme/api") && decl.names("other/api") && !decl.names("acme/templates"));

    let bad = |line: &str| error(&good.replace("paths = ['LICENSE', '.github/workflows/*.yml']", line));
    let table = [
        ("paths = ['../etc/passwd']", "at key 'sync.paths'", "'..' would leave the repository"),
        ("paths = ['/etc/passwd']", "at key 'sync.paths'", "it is absolute"),
        ("paths = ['.git/config']", "at key 'sync.paths'", "git's own files are never synced"),
        ("paths = ['src/[a-']", "at key 'sync.paths'", "invalid sync path 'src/[a-'"),
        ("paths = []", "at key 'sync.paths'", "at least one path"),
        ("paths = ['LICENSE']\npath = ['x']", "at key 'sync.path'", "unknown key 'path'"),
    ];
    for (line, key, why) in table {
        let err = bad(line);
        assert!(err.contains(key) && err.contains(why), "{line}: {err}");
    }
    let err = error(&good.replace("targets = ['acme/*', 'other/api']", "targets = ['acme/[x']"));
    assert!(err.contains("at key 'sync.targets'") && err.contains("invalid target glob 'acme/[x'"), "{err}");
    let err = error(&good.replace("name = 'license-and-ci'", "name = 'License CI'"));
    assert!(err.contains("at key 'sync.name'") && err.contains("invalid sync name 'License CI'"), "{err}");
    let err = error(&format!("{good}{good}"));
    assert!(err.contains("duplicate sync name 'license-and-ci'") && err.contains(":8:"), "{err}");
    let err = error(&good.replace("source = 'acme/templates'", "source = '../x'"));
    assert!(err.contains("at key 'sync.source'"), "{err}");
}
