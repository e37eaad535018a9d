//! Resolution of `hive run`: each bad flag or variable is a usage error found before anything is sent, and a
//! property test over the environment parser and the whole command line that must never panic.

use std::{
    path::Path,
    sync::atomic::{AtomicU64, Ordering},
};

use clap::{CommandFactory, FromArgMatches, Parser};
use proptest::{
    prelude::*,
    test_runner::{Config, TestRunner},
};

use super::*;
use crate::{
    cli::{Cli, Command, RunArgs},
    config::UsageError,
};

fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |key| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

/// Resolves `hive run ARGS` with a token and a loopback API URL, as against the emulator, inside a runtime as in
/// the binary (the GitHub client's middleware needs one to be built).
fn resolve(args: &[&str]) -> anyhow::Result<RunPlan> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let _context = runtime.enter();
    let cli = Cli::try_parse_from(["hive", "run"].iter().chain(args)).expect("clap accepts these");
    let Command::Run(run) = &cli.command else { unreachable!("a run command") };
    let env = lookup(&[("GITHUB_TOKEN", "ghp_token"), ("GITHUB_API_URL", "http://127.0.0.1:9")]);
    RunPlan::resolve(run, &EnvConfig::default(), Path::new("state"), env)
}

#[test]
fn every_bad_flag_is_a_usage_error_that_names_it() {
    for (args, needle) in [
        (&["--org", "acme", "--level", "bogus"][..], "invalid --level"),
        (&["--org", "acme", "--owner", "not a login"], "invalid --owner 'not a login'"),
        (&["--org", "acme", "--alert-repo", "nope"], "invalid --alert-repo 'nope'"),
        (&["--org", "../admin"], "invalid --org '../admin'"),
        (&["--user", "a\nb"], "invalid --user 'a\\nb'"),
        (&["--repo", "acme"], "invalid --repo 'acme'"),
        (&["--org", "acme", "--include", "a[*"], "invalid glob 'a[*'"),
        (&["--org", "acme", "--workspace", "ws"], "not both"),
        (&[], "nothing to watch"),
    ] {
        let err = resolve(args).err().unwrap_or_else(|| panic!("{args:?} resolved"));
        assert!(UsageError::is_usage(&err), "{args:?}: {err:#}");
        assert!(format!("{err:#}").contains(needle), "{args:?}: {err:#}");
    }
}

#[test]
fn emergency_thresholds_resolve_from_flags_and_bad_ones_name_flag_variable_and_range() {
    let plan = resolve(&[
        "--workspace",
        "ws",
        "--emergency-fleet-health-below",
        "0.25",
        "--emergency-min-fleet",
        "0",
        "--emergency-critical-members",
        "7",
        "--emergency-critical-share",
        "1",
        "--emergency-systemic-members",
        "0",
        "--emergency-systemic-share",
        "0.3",
        "--emergency-clear-after",
        "9",
    ])
    .expect("valid");
    let e = &plan.queen.emergency;
    assert_eq!((e.fleet_health_below, e.min_fleet, e.critical_members, e.critical_share), (0.25, 0, 7, 1.0));
    assert_eq!((e.systemic_members, e.systemic_share, e.clear_after), (0, 0.3, 9));
    // Unset, the defaults hold.
    let plan = resolve(&["--workspace", "ws"]).expect("valid");
    assert_eq!(plan.queen.emergency, EmergencyConfig::default());

    for (flag, value, needle) in [
        (
            "--emergency-fleet-health-below",
            "1.5",
            "HIVE_EMERGENCY_FLEET_HEALTH_BELOW) '1.5': expected a share between 0 and 1",
        ),
        (
            "--emergency-min-fleet",
            "-1",
            "invalid --emergency-min-fleet (HIVE_EMERGENCY_MIN_FLEET) '-1': expected a whole number",
        ),
        ("--emergency-critical-members", "three", "(HIVE_EMERGENCY_CRITICAL_MEMBERS) 'three'"),
        (
            "--emergency-critical-share",
            "NaN",
            "(HIVE_EMERGENCY_CRITICAL_SHARE) 'NaN': expected a share between 0 and 1",
        ),
        ("--emergency-systemic-members", "2.5", "(HIVE_EMERGENCY_SYSTEMIC_MEMBERS) '2.5': expected a whole number"),
        (
            "--emergency-systemic-share",
            "-0.1",
            "(HIVE_EMERGENCY_SYSTEMIC_SHARE) '-0.1': expected a share between 0 and 1",
        ),
        ("--emergency-clear-after", "0", "(HIVE_EMERGENCY_CLEAR_AFTER) '0': expected a number of cycles, 1 or more"),
    ] {
        let Err(err) = resolve(&["--workspace", "ws", &format!("{flag}={value}")]) else { panic!("{flag} resolved") };
        assert!(UsageError::is_usage(&err), "{flag}: {err:#}");
        assert!(format!("{err:#}").contains(needle), "{flag}: {err:#}");
    }
}

#[test]
fn a_good_command_line_resolves_into_a_plan() {
    let plan = resolve(&["--org", "acme", "--owner", "@alice", "--alert-repo", "acme/ops", "--level", "issue"])
        .expect("valid");
    assert!(!plan.once);
    assert_eq!(plan.interval, DEFAULT_INTERVAL);
    assert_eq!(plan.queen.cycle_interval, Some(DEFAULT_INTERVAL));
    let RunTarget::GitHub(github) = plan.target else { panic!("a GitHub plan") };
    assert_eq!(github.autonomy.owners, ["alice"]);
    assert_eq!(github.autonomy.secrets, ["ghp_token"]);
    assert_eq!(github.autonomy.alert_repo.map(|r| r.to_string()).as_deref(), Some("acme/ops"));

    let plan = resolve(&["--workspace", "ws", "--once", "--test-timeout", "30"]).expect("valid");
    assert_eq!(plan.queen.cycle_interval, None, "--once runs no timer");
    let RunTarget::Workspace { test_timeout, cache_dir, .. } = plan.target else { panic!("a workspace plan") };
    assert_eq!(test_timeout, Duration::from_secs(30));
    assert_eq!(cache_dir, Path::new("state/cache/local-ci"));
}

#[test]
fn an_organisation_with_its_own_credential_has_its_own_budget_and_may_do_without_the_default() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let _context = runtime.enter();
    let cli = Cli::try_parse_from(["hive", "run", "--org", "acme", "--org", "widgets"]).expect("clap accepts these");
    let Command::Run(mut run) = cli.command else { unreachable!("a run command") };
    let widgets = GitHubAuth::Token(hive::forge::Secret::new("ghs_widgets"));
    run.file.org_credentials = vec![("widgets".to_owned(), widgets)];
    let plan = |run: &RunArgs, env: &[(&str, &str)]| {
        RunPlan::resolve(run, &EnvConfig::default(), Path::new("state"), lookup(env))
    };
    let default = [("GITHUB_TOKEN", "ghp_token"), ("GITHUB_API_URL", "http://127.0.0.1:9")];
    let Ok(RunPlan { target: RunTarget::GitHub(github), .. }) = plan(&run, &default) else { panic!("a GitHub plan") };
    let ids: Vec<String> = github.budgets.iter().map(|(_, token)| token.id("hive")).collect();
    assert_eq!(ids.len(), 2, "the default token's budget and widgets' own");
    assert_ne!(ids[0], ids[1]);
    assert_eq!(github.forge.first_owner(), Some("acme"));

    // Without a default credential acme has none: the usual usage error. Once every target has its own, none is
    // needed.
    let err = plan(&run, &[]).err().expect("acme has no credential");
    assert!(UsageError::is_usage(&err) && format!("{err:#}").contains("no GitHub token"), "{err:#}");
    run.targets.orgs = vec!["Widgets".to_owned()];
    let Ok(RunPlan { target: RunTarget::GitHub(github), .. }) = plan(&run, &[]) else { panic!("a GitHub plan") };
    assert_eq!(github.budgets.len(), 1, "widgets' own; the unused default is anonymous");
    // An alert repository of an owner without a credential needs the default one: its writes come in an
    // emergency, too late to find out.
    run.autonomy.alert_repo = Some("acme/ops".to_owned());
    let err = plan(&run, &[]).err().expect("acme/ops has no credential");
    assert!(UsageError::is_usage(&err) && format!("{err:#}").contains("no GitHub token"), "{err:#}");
    run.autonomy.alert_repo = Some("widgets/ops".to_owned());
    assert!(plan(&run, &[]).is_ok(), "widgets' own credential writes its alert");
}

#[test]
fn duration_flags_are_bounded_by_clap() {
    for args in [
        &["hive", "run", "--workspace", "ws", "--test-timeout", "0"][..],
        &["hive", "run", "--workspace", "ws", "--test-timeout", "86401"],
        &["hive", "demo", "--interval-ms", "0"],
        &["hive", "demo", "--interval-ms", "86400001"],
        &["hive", "ecosystem", "waves", "--timeout", "18446744073709551615"],
    ] {
        let err = Cli::try_parse_from(args).expect_err(&args.join(" "));
        assert_eq!(err.exit_code(), 2, "{args:?}");
    }
}

// ---- the property test: arbitrary environments and command lines never panic ----

/// Values that exercise the parsers' edges, mixed with arbitrary strings.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => any::<String>(),
        4 => prop::sample::select(vec![
            "", " ", "0", "1", "-1", "0.0001", "1e20", "1.8e19", "18446744073709551616", "86400", "86401", "NaN",
            "inf", "-inf", "1e-300", "acme", "acme/api", "a*", "fix", "log", "issue", "@alice", "acme/core", "true",
            "yes", "600", "a\nb", "a\u{0}b", "\u{202e}x", "ws", "http://127.0.0.1:9", "acme/../x", "🐝",
        ])
        .prop_map(str::to_owned),
        1 => any::<f64>().prop_map(|f| f.to_string()),
        1 => (-400i32..400).prop_map(|e| format!("1e{e}")),
    ]
}

/// The real flags of `hive run` (and the global ones), and whether each takes a value.
const RUN_FLAGS: [(&str, bool); 23] = [
    ("--workspace", true),
    ("--once", false),
    ("--test-timeout", true),
    ("--org", true),
    ("--user", true),
    ("--repo", true),
    ("--include", true),
    ("--exclude", true),
    ("--all-kinds", false),
    ("--autonomy", false),
    ("--automerge", true),
    ("--dry-run", false),
    ("--level", true),
    ("--owner", true),
    ("--alert-repo", true),
    ("--max-prs-per-day", true),
    ("--max-issues-per-hour", true),
    ("--max-comments-per-issue-per-day", true),
    ("--max-content-per-minute", true),
    ("--escalate-after", true),
    ("--json", false),
    ("-v", false),
    ("--state-dir", true),
];

/// The real flags of `hive demo`.
const DEMO_FLAGS: [(&str, bool); 9] = [
    ("--json", false),
    ("--state-dir", true),
    ("--repos", true),
    ("--failing", true),
    ("--cycles", true),
    ("--interval-ms", true),
    ("--chaos", true),
    ("--incident", true),
    ("--seed", true),
];

fn command_line() -> impl Strategy<Value = Vec<String>> {
    // Mostly well-formed (a subcommand's own flags, a value where one is due), so many lines get past clap into
    // the resolution step; the rest try clap itself.
    let words = |flags: &[(&'static str, bool)]| {
        prop::collection::vec((prop::sample::select(flags.to_vec()), value(), 0u8..10), 0..8)
    };
    let line = prop_oneof![
        4 => (Just("run"), words(&RUN_FLAGS)),
        1 => (Just("demo"), words(&DEMO_FLAGS)),
        1 => (Just("run"), words(&[RUN_FLAGS.as_slice(), DEMO_FLAGS.as_slice()].concat())),
        1 => (Just("serve"), words(&RUN_FLAGS)),
    ];
    line.prop_map(|(subcommand, words)| {
        let mut argv = vec!["hive".to_owned(), subcommand.to_owned()];
        for ((flag, takes_value), value, shape) in words {
            match (takes_value, shape) {
                (_, 0) => argv.push(flag.to_owned()),
                (_, 1) | (true, 2..=4) => argv.push(format!("{flag}={value}")),
                (true, _) | (false, 2) => argv.extend([flag.to_owned(), value]),
                (false, _) => argv.push(flag.to_owned()),
            }
        }
        argv
    })
}

fn environment() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    let key = prop::sample::select(vec![
        "ORCHESTRATION_INTERVAL",
        "EMERGENCY_MODE",
        "PILOT_LOG_LEVEL",
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "GITHUB_API_URL",
        "GITHUB_GRAPHQL_URL",
        "HIVE_MAX_PRS_PER_DAY",
        "HIVE_ACTION_LEVEL",
        "HIVE_AUTONOMY_ENABLED",
        "HIVE_OWNERS",
        "HIVE_EMERGENCY_CLEAR_AFTER",
        "HIVE_STATE_DIR",
        "HIVE_CONFIG",
        "HIVE_BIND",
        "XDG_STATE_HOME",
    ]);
    // Usually a usable token and URL first (later entries win), so arguments are what decides.
    let base = prop::option::weighted(
        0.7,
        Just(vec![("GITHUB_TOKEN", "ghp_fuzz".to_owned()), ("GITHUB_API_URL", "http://127.0.0.1:9".to_owned())]),
    );
    (base, prop::collection::vec((key, value()), 0..3))
        .prop_map(|(base, extra)| base.into_iter().flatten().chain(extra).collect())
}

/// How many cases each property runs; `HIVE_FUZZ_CASES` raises it for a longer search.
fn cases() -> u32 {
    std::env::var("HIVE_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(2_000)
}

#[test]
fn the_environment_parser_never_panics_and_keeps_the_interval_in_bounds() {
    let ran = AtomicU64::new(0);
    let mut runner = TestRunner::new(Config { cases: cases(), failure_persistence: None, ..Config::default() });
    let outcome = runner.run(&environment(), |pairs| {
        ran.fetch_add(1, Ordering::Relaxed);
        let found = |key: &str| pairs.iter().rev().find(|(k, _)| *k == key).map(|(_, v)| v.clone());
        if let Ok(env) = EnvConfig::from_lookup(found) {
            let secs = env.orchestration_interval.map_or(1.0, |d| d.as_secs_f64());
            prop_assert!((1.0..=86_400.0).contains(&secs), "interval {secs} out of bounds");
        }
        Ok(())
    });
    eprintln!("environment property: {} cases", ran.load(Ordering::Relaxed));
    if let Err(err) = outcome {
        panic!("{err}");
    }
}

#[test]
fn any_command_line_resolves_or_fails_cleanly() {
    // Building the GitHub client needs a runtime's context, as it has in the binary.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let _context = runtime.enter();
    let ran = AtomicU64::new(0);
    let (reached, resolved) = (AtomicU64::new(0), AtomicU64::new(0));
    let mut runner = TestRunner::new(Config { cases: cases(), failure_persistence: None, ..Config::default() });
    let outcome = runner.run(&(command_line(), environment()), |(argv, pairs)| {
        ran.fetch_add(1, Ordering::Relaxed);
        let found = |key: &str| pairs.iter().rev().find(|(k, _)| *k == key).map(|(_, v)| v.clone());
        let Ok(matches) = Cli::command().try_get_matches_from(&argv) else { return Ok(()) };
        let Ok(mut cli) = Cli::from_arg_matches(&matches) else { return Ok(()) };
        let _ = cli.command.writes_state();
        let Ok(mut env) = EnvConfig::from_lookup(found) else { return Ok(()) };
        // The configuration's layers (no file exists where the variables point): a failure is a usage error.
        let home = |key: &str| found(key).or_else(|| (key == "HOME").then(|| "/nonexistent".to_owned()));
        if let Err(err) = crate::settings::resolve(&mut cli, &mut env, &matches, &home) {
            prop_assert!(UsageError::is_usage(&err), "not a usage error: {err:#}");
            return Ok(());
        }
        if let Command::Run(args) = &cli.command {
            reached.fetch_add(1, Ordering::Relaxed);
            if let Err(err) = RunPlan::resolve(args, &env, &cli.state_dir, found) {
                prop_assert!(UsageError::is_usage(&err), "not a usage error: {err:#}");
                let token = found("GITHUB_TOKEN").or_else(|| found("GH_TOKEN")).unwrap_or_default();
                // A token that is also given as an argument or another variable may rightly be quoted as that.
                let elsewhere = argv.iter().any(|a| a.contains(token.trim()))
                    || pairs.iter().any(|(k, v)| !k.ends_with("TOKEN") && v.contains(token.trim()));
                if token.trim().len() >= 8 && !elsewhere {
                    // The examples in an error's own advice are not the token, even when a generated token equals
                    // one of them.
                    let said = format!("{err:#}").replace("login (alice) or team (acme/core)", "");
                    prop_assert!(!said.contains(token.trim()), "the token leaked: {err:#}");
                }
            } else {
                resolved.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    });
    eprintln!(
        "command-line property: {} cases, {} reached the resolution of `hive run`, {} resolved into a plan",
        ran.load(Ordering::Relaxed),
        reached.load(Ordering::Relaxed),
        resolved.load(Ordering::Relaxed)
    );
    if let Err(err) = outcome {
        panic!("{err}");
    }
}
