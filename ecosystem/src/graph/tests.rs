//! Tests of the dependency graph: manifests to edges, waves, cycles, and running waves with skips and a bound.

use std::{
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use super::*;

fn repos(names: &[&str]) -> Vec<GraphRepo> {
    names.iter().map(|n| GraphRepo::new(*n, *n, format!("/nonexistent/{n}"))).collect()
}

/// a <- b, a <- c, b <- d, c <- d: b and c depend on a, d on both.
fn diamond() -> DependencyGraph {
    let mut graph = DependencyGraph::new(repos(&["d", "c", "b", "a"]));
    for (dependent, dependency) in [("b", "a"), ("c", "a"), ("d", "b"), ("d", "c")] {
        graph.add_edge(dependent, dependency, "test").unwrap();
    }
    graph
}

#[test]
fn diamond_gives_three_waves() {
    assert_eq!(diamond().waves().unwrap(), vec![vec!["a"], vec!["b", "c"], vec!["d"]]);
}

#[test]
fn cycle_is_an_error_naming_it() {
    let mut graph = DependencyGraph::new(repos(&["a", "b", "c", "x"]));
    for (dependent, dependency) in [("b", "c"), ("a", "b"), ("c", "a"), ("x", "a")] {
        graph.add_edge(dependent, dependency, "test").unwrap();
    }
    let err = graph.waves().unwrap_err();
    assert!(matches!(&err, EcosystemError::DependencyCycle { cycle } if cycle == &["a", "b", "c", "a"]), "{err}");
    assert!(err.to_string().starts_with("dependency cycle: a -> b -> c -> a"), "{err}");
}

#[test]
fn explicit_edges_resolve_names_and_refuse_strangers() {
    let mut graph = DependencyGraph::new(vec![GraphRepo::new("0123456789ab", "core", "/x/core")]);
    graph.add_edge("core", "core", "self").unwrap();
    assert_eq!(graph.edges().count(), 0, "a self edge is no dependency");
    let err = graph.add_edge("core", "../etc", "config").unwrap_err();
    assert!(err.to_string().contains("unknown repository '../etc'"), "{err}");
}

/// Runs the diamond with `failing` failing; returns the report and the order in which repositories ran.
async fn run_diamond(failing: &'static str) -> (WavesReport, Vec<String>) {
    let ran = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&ran);
    let report = run_waves(&diamond(), 4, move |repo| {
        let log = Arc::clone(&log);
        async move {
            log.lock().unwrap().push(repo.name.clone());
            if repo.name == failing {
                let output = format!("compiling {failing}\nerror: boom\n");
                StepOutput { success: false, exit: Some(2), output, note: None }
            } else {
                StepOutput::passed()
            }
        }
    })
    .await
    .unwrap();
    let ran = ran.lock().unwrap().clone();
    (report, ran)
}

#[tokio::test]
async fn a_failure_skips_its_dependents_but_not_its_siblings() {
    let (report, ran) = run_diamond("b").await;
    assert!(ran.contains(&"c".to_owned()), "c still runs: {ran:?}");
    assert!(!ran.contains(&"d".to_owned()), "d must not run: {ran:?}");
    let outcome = |name: &str| report.results.iter().find(|r| r.name == name).unwrap().outcome.clone();
    assert_eq!(outcome("a"), RepoOutcome::Passed);
    assert_eq!(outcome("c"), RepoOutcome::Passed);
    assert_eq!(outcome("b"), RepoOutcome::Failed { exit: Some(2), tail: "compiling b\nerror: boom".to_owned() });
    assert_eq!(outcome("d"), RepoOutcome::Skipped { because: "b".to_owned() });
    assert!(!report.all_passed());
    assert_eq!(report.results.iter().map(|r| r.wave).collect::<Vec<_>>(), [0, 1, 1, 2]);
}

#[tokio::test]
async fn a_failure_at_the_root_skips_everything_transitively() {
    let (report, ran) = run_diamond("a").await;
    assert_eq!(ran, ["a"]);
    for name in ["b", "c", "d"] {
        let run = report.results.iter().find(|r| r.name == name).unwrap();
        assert_eq!(run.outcome, RepoOutcome::Skipped { because: "a".to_owned() }, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_concurrency_bound_is_respected() {
    let names: Vec<String> = (0..7).map(|i| format!("r{i}")).collect();
    let graph = DependencyGraph::new(names.iter().map(|n| GraphRepo::new(n, n, "/x")).collect());
    let running = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    let (started_tx, started_rx) = tokio::sync::watch::channel(0usize);
    let started_tx = Arc::new(started_tx);
    let (r, m) = (Arc::clone(&running), Arc::clone(&max_seen));
    let report = run_waves(&graph, 2, move |_repo| {
        let (running, max_seen, started_tx) = (Arc::clone(&r), Arc::clone(&m), Arc::clone(&started_tx));
        let mut started_rx = started_rx.clone();
        async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            max_seen.fetch_max(now, Ordering::SeqCst);
            started_tx.send_modify(|n| *n += 1);
            // Hold the slot until a second runner is in too (or this is the last one), so the bound is reached
            // for certain instead of by luck of scheduling.
            let _ = started_rx.wait_for(|n| *n >= 7 || running.load(Ordering::SeqCst) >= 2).await;
            running.fetch_sub(1, Ordering::SeqCst);
            StepOutput::passed()
        }
    })
    .await
    .unwrap();
    assert!(report.all_passed());
    assert_eq!(max_seen.load(Ordering::SeqCst), 2);
}

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (path, contents) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
}

#[tokio::test]
async fn real_make_builds_follow_the_waves() {
    let tmp = tempfile::tempdir().unwrap();
    let ok = "build:\n\t@echo built $(notdir $(CURDIR))\n";
    write(&tmp.path().join("a"), &[("Makefile", ok)]);
    write(&tmp.path().join("b"), &[("Makefile", "build:\n\t@echo b is broken >&2\n\t@exit 3\n")]);
    write(&tmp.path().join("c"), &[("Makefile", ok)]);
    write(&tmp.path().join("d"), &[("Makefile", ok)]);
    let repos = ["a", "b", "c", "d"].map(|n| GraphRepo::new(n, n, tmp.path().join(n))).to_vec();
    let mut graph = DependencyGraph::new(repos);
    for (dependent, dependency) in [("b", "a"), ("c", "a"), ("d", "b"), ("d", "c")] {
        graph.add_edge(dependent, dependency, "test").unwrap();
    }
    let report = run_waves(&graph, 2, |repo| async move {
        run_task(&repo.dir, WaveTask::Build, std::time::Duration::from_secs(60)).await
    })
    .await
    .unwrap();
    let outcome = |name: &str| report.results.iter().find(|r| r.name == name).unwrap().outcome.clone();
    assert_eq!(outcome("a"), RepoOutcome::Passed);
    assert_eq!(outcome("c"), RepoOutcome::Passed);
    match outcome("b") {
        RepoOutcome::Failed { exit: Some(code), tail } => {
            assert_ne!(code, 0);
            assert!(tail.contains("b is broken"), "{tail}");
        }
        other => panic!("b: {other:?}"),
    }
    assert_eq!(outcome("d"), RepoOutcome::Skipped { because: "b".to_owned() });
    assert_eq!(report.results[0].note.as_deref(), Some("make:build"), "the discovered command ran");
}

#[tokio::test]
async fn run_task_falls_back_to_the_conventional_command_then_to_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let timeout = std::time::Duration::from_secs(60);
    // `make` alone: the Makefile has no target discovery would call a test, so the conventional default goal runs.
    write(tmp.path(), &[("Makefile", "hello:\n\t@echo hello from make\n")]);
    let step = run_task(tmp.path(), WaveTask::Build, timeout).await;
    assert!(step.success, "{step:?}");
    assert_eq!(step.note.as_deref(), Some("make"), "{step:?}");
    assert!(step.output.contains("hello from make"), "{step:?}");
    let empty = tempfile::tempdir().unwrap();
    let step = run_task(empty.path(), WaveTask::Test, timeout).await;
    assert!(step.success);
    assert_eq!(step.note.as_deref(), Some("no test command found; nothing to run"));
}

#[test]
fn manifests_give_edges() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(&root.join("core"), &[("Cargo.toml", "[package]\nname = \"core\"\nversion = \"0.1.0\"\n")]);
    write(
        &root.join("api"),
        &[
            ("Cargo.toml", "[workspace]\nmembers = [\"crates/*\"]\n"),
            (
                "crates/server/Cargo.toml",
                "[package]\nname = \"server\"\n[dependencies]\ncore = { path = \"../../../core\" }\nlocal = { path = \"../local\" }\n",
            ),
            ("crates/local/Cargo.toml", "[package]\nname = \"local\"\n"),
        ],
    );
    write(
        &root.join("cli"),
        &[(
            "Cargo.toml",
            "[package]\nname = \"cli\"\n[target.'cfg(unix)'.dependencies]\nthe-api = { git = \"https://example.com/acme/api.git\", package = \"server\" }\n",
        )],
    );
    write(&root.join("ui-kit"), &[("package.json", r#"{"name": "@acme/ui-kit"}"#)]);
    write(
        &root.join("web"),
        &[(
            "package.json",
            r#"{"name": "web", "dependencies": {"@acme/ui-kit": "workspace:*", "left-pad": "^1"}, "devDependencies": {"tools": "file:../tools"}}"#,
        )],
    );
    write(
        &root.join("tools"),
        &[(
            "go.mod",
            "module example.com/acme/tools\n\nreplace (\n\texample.com/acme/core => ../core // local\n)\nreplace example.com/x/gone => ../gone\n",
        )],
    );
    let repos = vec![
        GraphRepo::new("core", "core", root.join("core")),
        GraphRepo::new("api", "api", root.join("api")).url("https://example.com/acme/api"),
        GraphRepo::new("cli", "cli", root.join("cli")),
        GraphRepo::new("ui", "ui-kit", root.join("ui-kit")),
        GraphRepo::new("web", "web", root.join("web")),
        GraphRepo::new("tools", "tools", root.join("tools")),
    ];
    let graph = DependencyGraph::from_manifests(repos).unwrap();
    let edges: Vec<(&str, &str)> = graph.edges().map(|e| (e.dependent.as_str(), e.dependency.as_str())).collect();
    assert_eq!(edges, [("api", "core"), ("cli", "api"), ("tools", "core"), ("web", "tools"), ("web", "ui")]);
    assert_eq!(graph.waves().unwrap(), vec![vec!["core", "ui"], vec!["api", "tools"], vec!["cli", "web"]]);
    let via = graph.edges().find(|e| e.dependent == "api").unwrap().via.clone();
    assert!(via.contains("crates/server/Cargo.toml") && via.contains("../../../core"), "{via}");
}

#[test]
fn a_broken_manifest_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    write(&tmp.path().join("web"), &[("package.json", "{ \"name\": ")]);
    let err = DependencyGraph::from_manifests(vec![GraphRepo::new("web", "web", tmp.path().join("web"))]).unwrap_err();
    assert!(matches!(err, EcosystemError::Manifest { .. }), "{err}");
    assert!(err.to_string().contains("package.json"), "{err}");
}

#[test]
fn a_manifest_that_is_a_device_is_an_error_not_an_endless_read() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("api");
    std::fs::create_dir(&repo).unwrap();
    std::os::unix::fs::symlink("/dev/zero", repo.join("Cargo.toml")).unwrap();
    let err = DependencyGraph::from_manifests(vec![GraphRepo::new("api", "api", repo)]).unwrap_err();
    let cause = std::error::Error::source(&err).map(ToString::to_string).unwrap_or_default();
    assert!(err.to_string().contains("Cargo.toml") && cause.contains("a character device"), "{err}: {cause}");
}

#[test]
fn conventional_commands_follow_the_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let check = |files: &[(&str, &str)], task, expected: Option<&[&str]>| {
        let dir = tmp.path().join(format!("case{}", rand::random::<u32>()));
        write(&dir, files);
        let expected = expected.map(|e| e.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(conventional_command(&dir, task), expected, "{files:?}");
    };
    check(&[("Makefile", "all:\n\ttrue\ntest:\n\ttrue\n")], WaveTask::Test, Some(&["make", "test"]));
    check(&[("Makefile", "all:\n\ttrue\n")], WaveTask::Build, Some(&["make"]));
    check(&[("Makefile", "all:\n"), ("Cargo.toml", "")], WaveTask::Test, Some(&["cargo", "test"]));
    check(&[("go.mod", "module x\n")], WaveTask::Build, Some(&["go", "build", "./..."]));
    check(&[("package.json", r#"{"scripts": {"test": "node t.js"}}"#)], WaveTask::Test, Some(&["npm", "test"]));
    check(&[("package.json", "{}")], WaveTask::Build, None);
    check(&[("README.md", "")], WaveTask::Build, None);
}
