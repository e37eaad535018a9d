//! Command discovery on fixture projects, the Makefile and justfile parsers, and the choice of test command.

use super::*;
use hive_testkit::projects::{self as fixtures, write};

async fn discovered(build: impl FnOnce(&Path)) -> (tempfile::TempDir, Vec<DiscoveredCommand>) {
    let dir = tempfile::tempdir().expect("tempdir");
    build(dir.path());
    let detection = detect(dir.path()).expect("detect");
    let commands = discover_commands(dir.path(), &detection).await;
    (dir, commands)
}

fn names(commands: &[DiscoveredCommand]) -> Vec<&str> {
    commands.iter().map(|c| c.name.as_str()).collect()
}

fn find<'a>(commands: &'a [DiscoveredCommand], name: &str) -> &'a DiscoveredCommand {
    commands.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no {name} in {:?}", names(commands)))
}

#[track_caller]
fn check_make(makefile: &str, expected: &[&str]) {
    assert_eq!(make_targets(makefile), expected, "{makefile:?}");
}

#[test]
fn makefile_targets() {
    check_make("all: build\nbuild:\n\tcc x.c\n", &["all", "build"]);
    check_make("CC := gcc\nX = a:b\nY ?= 1\nZ += 2\nW != date\nV ::= 3\n", &[]);
    check_make(".PHONY: test\n.DEFAULT_GOAL := test\n%.o: %.c\n\tcc $<\ntest:\n", &["test"]);
    check_make("a b c: d\n", &["a", "b", "c"]);
    check_make("debug: CFLAGS += -g\ndebug: build\n", &["debug"]);
    check_make("one \\\n two: x\n", &["one", "two"]);
    check_make("define RULE\nfake:\nendef\nreal: # comment: here\n", &["real"]);
    check_make("ifeq ($(A),b:c)\nx:\nendif\n", &["x"]);
    check_make("$(OUT)/app: x\nout/app: y\ninline: ; echo a=b\n", &["inline"]);
    check_make("-rf:\nok:\n", &["ok"]);
    check_make("\tnot-a-target:\nt::\nt:\n", &["t"]);
}

#[track_caller]
fn check_just(justfile: &str, expected: &[&str]) {
    assert_eq!(just_recipes(justfile), expected, "{justfile:?}");
}

#[test]
fn justfile_recipes() {
    check_just("build:\n    cargo build\n", &["build"]);
    check_just("x := \"a:b\"\nexport Y := \"1\"\nset dotenv-load := true\nalias b := build\nbuild:\n", &["build"]);
    check_just("@quiet arg='x' +rest: dep\n  echo\n", &["quiet"]);
    check_just("_hidden:\n[private]\nsecret:\n[linux]\nshown:\n", &["shown"]);
    check_just("# comment:\nimport 'other.just'\nmod sub\n", &[]);
}

#[tokio::test]
async fn make_and_just_fixtures() {
    let (_dir, commands) = discovered(|d| fixtures::make_project(d, true)).await;
    assert_eq!(names(&commands), ["make:build", "make:test", "make:lint", "make:fmt"]);
    assert_eq!(find(&commands, "make:test").argv, ["make", "test"]);
    assert_eq!(find(&commands, "make:lint").kind, CommandKind::Lint);

    let (dir, commands) = discovered(fixtures::just_project).await;
    assert_eq!(names(&commands), ["just:build", "just:test", "just:serve", "just:lint"]);
    let serve = find(&commands, "just:serve");
    assert_eq!((serve.kind, serve.cwd.as_path()), (CommandKind::Run, dir.path()));
    assert_eq!(serve.argv, ["just", "serve"]);
}

#[tokio::test]
async fn npm_family_scripts_run_through_their_manager() {
    for (lock, manager) in [(None, "npm"), (Some("pnpm-lock.yaml"), "pnpm"), (Some("yarn.lock"), "yarn")] {
        let (_dir, commands) = discovered(|d| fixtures::node_project(d, lock)).await;
        let mut got = names(&commands);
        got.sort_unstable();
        let mut expected: Vec<String> = ["build", "lint", "release", "start", "test", "test:unit"]
            .iter()
            .map(|s| format!("{manager}:{s}"))
            .collect();
        expected.sort_unstable();
        assert_eq!(got, expected, "the hostile script name is left out");
        let test = find(&commands, &format!("{manager}:test:unit"));
        assert_eq!(
            (test.kind, test.argv.clone()),
            (CommandKind::Test, vec![manager.to_owned(), "run".into(), "test:unit".into()])
        );
        assert_eq!(find(&commands, &format!("{manager}:start")).kind, CommandKind::Run);
        assert_eq!(find(&commands, &format!("{manager}:release")).kind, CommandKind::Other);
    }
}

#[tokio::test]
async fn cargo_targets_from_manifests_and_from_cargo_metadata_agree() {
    let dir = tempfile::tempdir().expect("tempdir");
    fixtures::cargo_project(dir.path());
    let expected = vec![cargo::Package {
        name: "calc".into(),
        bins: vec!["calc".into(), "tool".into()],
        examples: vec!["demo".into()],
    }];
    assert_eq!(cargo::packages_from_manifests(dir.path()), expected);
    // cargo is on PATH wherever these tests are built.
    let mut from_metadata = cargo::packages(dir.path()).await;
    from_metadata.iter_mut().for_each(|p| p.bins.sort());
    assert_eq!(from_metadata, expected);

    let commands = discover_commands(dir.path(), &detect(dir.path()).expect("detect")).await;
    assert_eq!(find(&commands, "cargo:test").argv, ["cargo", "test"]);
    assert_eq!(find(&commands, "cargo:run:tool").argv, ["cargo", "run", "-p", "calc", "--bin", "tool"]);
    assert_eq!(find(&commands, "cargo:example:demo").kind, CommandKind::Run);
    assert_eq!(find(&commands, "cargo:clippy").kind, CommandKind::Lint);
}

#[tokio::test]
async fn cargo_workspace_members_get_their_own_test_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    fixtures::cargo_workspace(dir.path());
    let packages = cargo::packages_from_manifests(dir.path());
    let names_bins: Vec<(&str, &[String])> = packages.iter().map(|p| (p.name.as_str(), p.bins.as_slice())).collect();
    assert_eq!(names_bins, [("cli", &["cli".to_owned()][..]), ("core-lib", &[][..])]);
    let commands = cargo::commands(dir.path(), &packages);
    assert_eq!(find(&commands, "cargo:test:core-lib").argv, ["cargo", "test", "-p", "core-lib"]);
    assert_eq!(find(&commands, "cargo:run:cli").argv, ["cargo", "run", "-p", "cli", "--bin", "cli"]);
}

#[tokio::test]
async fn conventional_commands_for_the_rest() {
    let (_dir, commands) = discovered(fixtures::go_project).await;
    assert_eq!(names(&commands), ["go:build", "go:test", "go:vet"]);
    assert_eq!(find(&commands, "go:test").argv, ["go", "test", "./..."]);

    let (_dir, commands) = discovered(fixtures::maven_project).await;
    assert_eq!(find(&commands, "maven:test").argv, ["mvn", "-B", "test"]);

    let (dir, commands) = discovered(fixtures::gradle_project).await;
    let wrapper = std::path::absolute(dir.path().join("gradlew")).expect("absolute");
    assert_eq!(find(&commands, "gradle:test").argv, [wrapper.to_str().expect("utf-8"), "test"]);

    let (_dir, commands) = discovered(fixtures::docker_project).await;
    assert_eq!(names(&commands), ["docker:build", "docker:compose-up"]);

    let (_dir, commands) = discovered(|d| fixtures::python_project(d, true)).await;
    assert_eq!(find(&commands, "python:test").argv, ["python3", "-m", "unittest"]);
    let (_dir, commands) = discovered(|d| {
        fixtures::python_project(d, true);
        write(d, "requirements-dev.txt", "pytest>=8\n");
    })
    .await;
    assert_eq!(find(&commands, "python:test").argv, ["python3", "-m", "pytest"]);
}

#[tokio::test]
async fn broken_manifests_and_empty_directories_offer_nothing() {
    let (_dir, commands) = discovered(|d| drop(write(d, "package.json", "{"))).await;
    assert!(commands.is_empty(), "{commands:?}");
    let (_dir, commands) = discovered(|_| {}).await;
    assert!(commands.is_empty());
}

#[tokio::test]
async fn test_command_prefers_task_runners_and_skips_placeholders() {
    let pick = |build: fn(&Path)| async move {
        let dir = tempfile::tempdir().expect("tempdir");
        build(dir.path());
        test_command(dir.path()).await.map(|c| c.name)
    };
    let both = |d: &Path| {
        fixtures::cargo_project(d);
        fixtures::make_project(d, true);
    };
    assert_eq!(pick(both).await.as_deref(), Some("make:test"));
    let just_and_make = |d: &Path| {
        fixtures::just_project(d);
        fixtures::make_project(d, true);
    };
    assert_eq!(pick(just_and_make).await.as_deref(), Some("just:test"));
    assert_eq!(pick(fixtures::cargo_project).await.as_deref(), Some("cargo:test"));
    assert_eq!(pick(|d| fixtures::python_project(d, true)).await.as_deref(), Some("python:test"));
    assert_eq!(pick(fixtures::docker_project).await, None);
    let placeholder = |d: &Path| {
        write(d, "package.json", r#"{"scripts": {"test": "echo \"Error: no test specified\" && exit 1"}}"#);
    };
    assert_eq!(pick(placeholder).await, None);
    assert_eq!(pick(|d| drop(write(d, "Makefile", "check:\n\ttrue\n"))).await.as_deref(), Some("make:check"));
}

#[test]
fn kinds_from_names() {
    for (name, kind) in [
        ("test", CommandKind::Test),
        ("test:unit", CommandKind::Test),
        ("check", CommandKind::Test),
        ("build-release", CommandKind::Build),
        ("all", CommandKind::Build),
        ("serve", CommandKind::Run),
        ("dev", CommandKind::Run),
        ("fmt", CommandKind::Lint),
        ("lint_fix", CommandKind::Lint),
        ("release", CommandKind::Other),
        ("testify", CommandKind::Other),
    ] {
        assert_eq!(kind_of(name), kind, "{name}");
    }
}
