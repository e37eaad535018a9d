//! Local CI of repositories that depend on their workspace siblings by relative path: the siblings' HEADs are
//! placed beside the clone (recursively, cycles ending), a change in a sibling re-tests its dependents, and paths
//! that leave the workspace or go through a symbolic link are never placed.

use std::collections::BTreeMap;

use super::*;

/// A cargo library `corelib` whose `answer()` returns `answer`, with a test that it is positive.
fn core_crate(dir: &Path, answer: i32) {
    write(dir, "Cargo.toml", "[package]\nname = \"corelib\"\nversion = \"0.1.0\"\nedition = \"2021\"\n");
    write(
        dir,
        "src/lib.rs",
        &format!("pub fn answer() -> i32 {{ {answer} }}\n\n#[test]\nfn positive() {{ assert!(answer() > 0); }}\n"),
    );
}

/// A cargo library `app` that depends on `corelib` at `path` and tests that the answer is 42.
fn app_crate(dir: &Path, path: &str) {
    let manifest = format!(
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\ncorelib = {{ path = \"{path}\" }}\n"
    );
    write(dir, "Cargo.toml", &manifest);
    write(dir, "src/lib.rs", "#[test]\nfn answer_is_42() { assert_eq!(corelib::answer(), 42); }\n");
}

#[tokio::test]
async fn a_cargo_path_dependency_on_a_sibling_is_tested_with_the_siblings_head() {
    for mode in modes().await {
        let ws = tempfile::tempdir().expect("tempdir");
        let core = repo(ws.path(), "core", |d| core_crate(d, 42));
        let app = repo(ws.path(), "app", |d| app_crate(d, "../core"));
        let forge = LocalForge::new(ws.path()).expect("forge").with_sandbox(mode);

        let snapshot = forge.snapshot(&id("app")).await.expect("snapshot");
        assert_eq!(snapshot.ci, CiStatus::green(), "{mode:?}: {snapshot:#?}");
        assert_eq!(snapshot.local.expect("facts").test_command.as_deref(), Some("cargo:test"));
        let run = forge.cache.get("app", &head(&app)).await.expect("a cached verdict");
        assert_eq!(run.siblings, BTreeMap::from([("core".to_owned(), head(&core))]));
        // The sibling was cloned from, never built in or written to.
        assert!(!core.join("target").exists() && !core.join("Cargo.lock").exists(), "{mode:?}");
        assert_eq!(git(&core, &["status", "--porcelain"]), "");

        // A commit in core that breaks app's test is seen on the next read, with no new commit in app.
        core_crate(&core, 41);
        commit_all(&core, "answer 41");
        let snapshot = forge.snapshot(&id("app")).await.expect("snapshot");
        assert_eq!(snapshot.ci.state, CiState::Failing, "{mode:?}: {snapshot:#?}");
        let step = snapshot.ci.failures[0].step.clone().unwrap_or_default();
        assert!(step.contains("panicked"), "{mode:?}: {step}");
        // An uncommitted change in core is not tested: CI tests HEADs, so the failing verdict stands.
        core_crate(&core, 42);
        assert_eq!(forge.snapshot(&id("app")).await.expect("snapshot").ci, snapshot.ci, "{mode:?}");
    }
}

#[tokio::test]
async fn paths_out_of_the_workspace_and_through_symbolic_links_are_not_placed() {
    let base = tempfile::tempdir().expect("tempdir");
    let ws = base.path().join("ws");
    // A valid crate outside the workspace: if it were placed, the dependents' tests would pass.
    let outside = repo(base.path(), "outside", |d| core_crate(d, 42));
    repo(&ws, "escapes", |d| app_crate(d, "../../outside"));
    std::os::unix::fs::symlink(&outside, ws.join("linked")).expect("symlink");
    repo(&ws, "via-link", |d| app_crate(d, "../linked"));
    let forge = LocalForge::new(&ws).expect("forge").with_sandbox(Sandbox::Off);
    for name in ["escapes", "via-link"] {
        let snapshot = forge.snapshot(&id(name)).await.expect("snapshot");
        assert_eq!(snapshot.ci.state, CiState::Failing, "{name}: {snapshot:#?}");
        let step = snapshot.ci.failures[0].step.clone().unwrap_or_default();
        assert!(step.contains("corelib"), "{name}: cargo cannot find the dependency: {step}");
    }
    assert!(!outside.join("target").exists());
    // The link is recorded as "not there": if a real repository takes its place, the dependent is tested again.
    let run = forge.cache.get("via-link", &head(&ws.join("via-link"))).await.expect("cached");
    assert_eq!(run.siblings, BTreeMap::from([("linked".to_owned(), String::new())]));
    std::fs::remove_file(ws.join("linked")).expect("unlink");
    repo(&ws, "linked", |d| core_crate(d, 42));
    assert_eq!(forge.snapshot(&id("via-link")).await.expect("snapshot").ci, CiStatus::green());
}

/// A repository whose manifest names `deps` by npm `file:` path and whose Makefile test checks that each file in
/// `needs` exists.
fn npm_dependent(dir: &Path, deps: &[&str], needs: &[&str]) {
    let deps: Vec<String> = deps.iter().map(|d| format!("\"{d}\": \"file:../{d}\"")).collect();
    write(
        dir,
        "package.json",
        &format!("{{\"name\": \"{}\", \"dependencies\": {{{}}}}}\n", name_of(dir), deps.join(", ")),
    );
    let checks: String = needs.iter().map(|n| format!("\ttest -f {n}\n")).collect();
    write(dir, "Makefile", &format!("test:\n{checks}\ttrue\n"));
}

fn name_of(dir: &Path) -> String {
    dir.file_name().expect("a name").to_string_lossy().into_owned()
}

#[tokio::test]
async fn npm_file_dependencies_are_placed_recursively_and_cycles_end() {
    let ws = tempfile::tempdir().expect("tempdir");
    // app -> x -> y -> app: y is only reachable through x, and the cycle back to app must end.
    repo(ws.path(), "app", |d| npm_dependent(d, &["x"], &["../x/package.json", "../y/package.json"]));
    let x = repo(ws.path(), "x", |d| npm_dependent(d, &["y"], &[]));
    let y = repo(ws.path(), "y", |d| npm_dependent(d, &["app"], &[]));
    let forge = LocalForge::new(ws.path()).expect("forge");
    let snapshot = forge.snapshot(&id("app")).await.expect("snapshot");
    assert_eq!(snapshot.ci, CiStatus::green(), "{snapshot:#?}");
    let run = forge.cache.get("app", &head(&ws.path().join("app"))).await.expect("cached");
    assert_eq!(run.siblings, BTreeMap::from([("x".to_owned(), head(&x)), ("y".to_owned(), head(&y))]));
}
