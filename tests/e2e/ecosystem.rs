//! `hive ecosystem` end to end: the real binary with `--state-dir` in a temporary directory, against git
//! repositories and bare remotes made at test time. No network: every source and remote is a local path.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use hive_testkit::git::git;
use serde_json::Value;

/// Runs `hive --state-dir <state> args...`.
fn hive(state: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hive"));
    cmd.arg("--state-dir").arg(state).args(args);
    for var in ["ORCHESTRATION_INTERVAL", "EMERGENCY_MODE", "PILOT_LOG_LEVEL", "HIVE_STATE_DIR"] {
        cmd.env_remove(var);
    }
    cmd.output().expect("run hive")
}

/// Runs hive with `--json`, expects success, and parses stdout as one JSON document.
fn hive_json(state: &Path, args: &[&str]) -> Value {
    let out = hive(state, &[args, &["--json"]].concat());
    assert!(out.status.success(), "hive {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A repository `name` under `root` with `files` committed on `main`.
fn repo(root: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    git(&dir, &["init", "-q", "-b", "main"]);
    for (path, contents) in files {
        std::fs::write(dir.join(path), contents).expect("write fixture");
    }
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "--allow-empty", "-m", "initial"]);
    dir
}

fn import(state: &Path, source: &Path) -> String {
    let meta = hive_json(state, &["ecosystem", "import", source.to_str().expect("utf-8 path")]);
    meta["id"].as_str().expect("id").to_owned()
}

#[test]
fn import_list_show_remove() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path().join("state");
    let source = repo(tmp.path(), "api", &[("Makefile", "build:\n\t@echo built\ntest:\n\t@echo tested\n")]);

    let meta = hive_json(&state, &["ecosystem", "import", source.to_str().expect("utf-8")]);
    let id = meta["id"].as_str().expect("id").to_owned();
    assert_eq!(id.len(), 12);
    assert_eq!(meta["name"], "api");
    assert_eq!(meta["default_branch"], "main");
    assert_eq!(meta["head"], git(&source, &["rev-parse", "HEAD"]).as_str());
    assert_eq!(meta["build_systems"], serde_json::json!(["make"]));
    let clone = PathBuf::from(meta["path"].as_str().expect("path"));
    assert!(clone.join("Makefile").is_file(), "{meta}");

    let list = hive_json(&state, &["ecosystem", "list"]);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["id"], id.as_str());

    let shown = hive_json(&state, &["ecosystem", "show", &id]);
    assert_eq!(shown["id"], id.as_str());
    assert_eq!(shown["broken"], serde_json::json!([]));
    let commands: Vec<&str> =
        shown["commands"].as_array().expect("commands").iter().filter_map(|c| c["name"].as_str()).collect();
    assert!(commands.contains(&"make:build") && commands.contains(&"make:test"), "{shown}");

    // Importing the same source again is refused with the existing id and a way out.
    let again = hive(&state, &["ecosystem", "import", source.to_str().expect("utf-8")]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains(&format!("already imported as '{id}'")), "{}", stderr(&again));

    // Human output names the repository.
    let out = hive(&state, &["ecosystem", "list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&id));

    let removed = hive_json(&state, &["ecosystem", "remove", &id]);
    assert_eq!(removed["removed"]["id"], id.as_str());
    assert!(!clone.exists());
    assert_eq!(hive_json(&state, &["ecosystem", "list"]), serde_json::json!([]));
    let gone = hive(&state, &["ecosystem", "show", &id]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(stderr(&gone).contains("no imported repository with id"), "{}", stderr(&gone));
}

#[test]
fn shallow_import_of_a_file_url() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path().join("state");
    let source = repo(tmp.path(), "deep", &[("a.txt", "a")]);
    std::fs::write(source.join("b.txt"), "b").expect("write");
    git(&source, &["add", "-A"]);
    git(&source, &["commit", "-q", "-m", "second"]);
    let url = format!("file://{}", source.display());
    let meta = hive_json(&state, &["ecosystem", "import", &url, "--shallow"]);
    assert_eq!(meta["shallow"], true);
    let clone = PathBuf::from(meta["path"].as_str().expect("path"));
    assert_eq!(git(&clone, &["rev-list", "--count", "HEAD"]), "1");
}

#[test]
fn hostile_input_and_corrupted_state_get_clear_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path().join("state");
    for source in ["--upload-pack=touch /tmp/hive-pwned", "-x", "ext::sh -c id"] {
        let out = hive(&state, &["ecosystem", "import", "--", source]);
        assert_eq!(out.status.code(), Some(1), "{source}");
        assert!(stderr(&out).starts_with("hive: invalid source '"), "{}", stderr(&out));
    }
    for id in ["../etc", "../../x", "ABCDEF012345"] {
        let out = hive(&state, &["ecosystem", "show", id]);
        assert_eq!(out.status.code(), Some(1), "{id}");
        assert!(stderr(&out).contains("invalid repository id"), "{}", stderr(&out));
        let out = hive(&state, &["ecosystem", "remove", id]);
        assert_eq!(out.status.code(), Some(1), "{id}");
    }
    assert!(!state.join("ecosystem").exists(), "refused input created state");

    let id = import(&state, &repo(tmp.path(), "lib", &[]));
    let file = state.join("ecosystem/meta").join(format!("{id}.json"));
    std::fs::write(&file, "{ truncated").expect("corrupt");
    for args in [&["ecosystem", "list"][..], &["ecosystem", "show", &id][..]] {
        let out = hive(&state, args);
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(err.contains("corrupted metadata file") && err.contains(&file.display().to_string()), "{err}");
    }
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "{ truncated", "never reset silently");
}

/// core <- api, core <- web (npm `file:`), api, web <- app (Go `replace`); api's build fails.
fn diamond(tmp: &Path, state: &Path) {
    let ok = |what: &str| format!("build:\n\t@echo building {what}\ntest:\n\t@echo testing {what}\n");
    let core = repo(tmp, "core", &[("Makefile", &ok("core"))]);
    let api = repo(
        tmp,
        "api",
        &[
            ("Makefile", "build:\n\t@echo api does not compile >&2\n\t@exit 1\n"),
            ("package.json", r#"{"name": "api", "dependencies": {"core": "file:../core"}}"#),
        ],
    );
    let web = repo(
        tmp,
        "web",
        &[
            ("Makefile", &ok("web")),
            ("package.json", r#"{"name": "web", "devDependencies": {"core": "file:../core"}}"#),
        ],
    );
    let app = repo(
        tmp,
        "app",
        &[
            ("Makefile", &ok("app")),
            (
                "go.mod",
                "module example.com/app\n\nreplace (\n\texample.com/api => ../api\n\texample.com/web => ../web\n)\n",
            ),
        ],
    );
    for dir in [core, api, web, app] {
        import(state, &dir);
    }
}

fn names(wave: &Value) -> Vec<&str> {
    wave.as_array().expect("wave").iter().filter_map(|r| r["name"].as_str()).collect()
}

#[test]
fn waves_follow_manifest_dependencies_and_skip_dependents_of_failures() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path().join("state");
    diamond(tmp.path(), &state);

    let out = hive(&state, &["ecosystem", "waves", "build", "--concurrency", "2", "--json"]);
    assert_eq!(out.status.code(), Some(1), "a failed repository fails the command");
    assert!(stderr(&out).contains("1 of 4 repositories failed: api"), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    let waves: Vec<Vec<&str>> = report["waves"].as_array().expect("waves").iter().map(names).collect();
    assert_eq!(waves, [vec!["core"], vec!["api", "web"], vec!["app"]]);
    let result = |name: &str| {
        report["results"].as_array().expect("results").iter().find(|r| r["name"] == name).expect(name).clone()
    };
    assert_eq!(result("core")["outcome"], "passed");
    assert_eq!(result("web")["outcome"], "passed");
    assert_eq!(result("api")["outcome"], "failed");
    assert!(result("api")["tail"].as_str().expect("tail").contains("api does not compile"), "{report}");
    assert_eq!(result("app")["outcome"], "skipped");
    assert_eq!(result("app")["because"], "api");

    // The tests of the same fleet all pass; the human output shows plan, results and a summary.
    let out = hive(&state, &["ecosystem", "waves", "test"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", stderr(&out));
    assert!(stdout.contains("wave 2: api, web"), "{stdout}");
    assert!(stdout.contains("summary: passed 4, failed 0, skipped 0"), "{stdout}");
}

#[test]
fn a_dependency_cycle_is_named_before_anything_runs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path().join("state");
    diamond(tmp.path(), &state);
    let out = hive(&state, &["ecosystem", "waves", "--edge", "core:app"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("dependency cycle: api -> core -> app -> api"), "{err}");
    assert!(out.stdout.is_empty(), "nothing ran: {}", String::from_utf8_lossy(&out.stdout));
}

fn remote_refs(bare: &Path) -> Vec<String> {
    let refs = git(bare, &["for-each-ref", "--format=%(refname)"]);
    refs.lines().map(str::to_owned).collect()
}

#[test]
fn mirror_copies_filtered_branches_and_tags_and_reports_unreachable_remotes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path().join("state");
    let source = repo(tmp.path(), "lib", &[("README.md", "lib")]);
    git(&source, &["branch", "release/1"]);
    git(&source, &["branch", "wip/spike"]);
    git(&source, &["tag", "v1.0"]);
    let id = import(&state, &source);
    let (one, two) = (tmp.path().join("one.git"), tmp.path().join("two.git"));
    for bare in [&one, &two] {
        git(tmp.path(), &["init", "-q", "--bare", bare.to_str().expect("utf-8")]);
    }
    let (one_arg, two_arg) = (one.to_str().expect("utf-8"), two.to_str().expect("utf-8"));

    let report =
        hive_json(&state, &["ecosystem", "mirror", &id, "--to", one_arg, "--to", two_arg, "--branches", "!wip/*"]);
    assert_eq!(report["fetched"], true);
    for bare in [&one, &two] {
        assert_eq!(remote_refs(bare), ["refs/heads/main", "refs/heads/release/1", "refs/tags/v1.0"]);
    }

    // Upstream moves on: the next mirror fetches it and pushes only the change, and deletes what upstream deleted.
    std::fs::write(source.join("more.txt"), "more").expect("write");
    git(&source, &["add", "-A"]);
    git(&source, &["commit", "-q", "-m", "more"]);
    git(&source, &["branch", "-D", "release/1"]);
    let report = hive_json(&state, &["ecosystem", "mirror", &id, "--to", one_arg, "--branches", "!wip/*"]);
    let result = &report["destinations"][0]["report"];
    assert_eq!(result["updated"], serde_json::json!(["refs/heads/main"]), "{report}");
    assert_eq!(result["deleted"], serde_json::json!(["refs/heads/release/1"]), "{report}");
    assert_eq!(git(&one, &["rev-parse", "refs/heads/main"]), git(&source, &["rev-parse", "main"]));

    let missing = tmp.path().join("missing.git");
    let out = hive(
        &state,
        &["ecosystem", "mirror", &id, "--to", missing.to_str().expect("utf-8"), "--attempts", "2", "--json"],
    );
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON even on failure");
    assert_eq!(report["destinations"][0]["ok"], false);
    assert!(
        report["destinations"][0]["error"].as_str().expect("error").contains("failed after 2 attempt(s)"),
        "{report}"
    );
}

#[test]
fn a_service_runs_in_the_foreground_and_remove_stops_it_first() {
    use std::io::{BufRead, BufReader};

    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path().join("state");
    let id = import(&state, &repo(tmp.path(), "svc", &[("Makefile", "serve:\n\t@echo serving\n\tsleep 60\n")]));
    let not_running = hive_json(&state, &["ecosystem", &id, "status"]);
    assert_eq!(not_running["running"], false, "{not_running}");

    let mut child = Command::new(env!("CARGO_BIN_EXE_hive"))
        .arg("--state-dir")
        .arg(&state)
        .args(["ecosystem", &id, "start", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start hive");
    // Each state change is one JSON line; read until the keeper reports the service running.
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let running = loop {
        let line = lines.next().expect("hive exited before the service ran").expect("read line");
        let status: Value = serde_json::from_str(&line).expect("status line is JSON");
        if status["state"] == "running" {
            break status;
        }
    };
    let service_pid = running["pid"].as_i64().expect("pid") as i32;

    let status = hive_json(&state, &["ecosystem", &id, "status"]);
    assert_eq!(status["running"], true, "{status}");
    assert_eq!(status["supervisor"]["command"], "make:serve", "{status}");
    let again = hive(&state, &["ecosystem", &id, "start"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("already runs under hive process"), "{}", stderr(&again));

    // Removing the repository stops its service first; the supervising hive exits cleanly.
    let removed = hive_json(&state, &["ecosystem", "remove", &id]);
    assert_eq!(removed["removed"]["id"], id.as_str());
    assert!(child.wait().expect("wait for hive").success());
    let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(service_pid), None);
    assert_eq!(gone, Err(nix::errno::Errno::ESRCH), "the service's process must be gone");
}

#[test]
fn a_failed_import_never_shows_the_password_in_its_url() {
    let state = tempfile::tempdir().expect("tempdir");
    // A loopback port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let password = "s3cret-Passw0rd-in-url";
    let url = format!("http://hive-user:{password}@127.0.0.1:{port}/acme/api.git");
    for extra in [&["-vv"][..], &["-vv", "--json"][..]] {
        let out = hive(state.path(), &[&["ecosystem", "import", url.as_str()][..], extra].concat());
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
        assert!(!stdout.contains(password) && !stderr.contains(password), "{stdout}\n{stderr}");
        assert!(!stdout.contains("hive-user") && !stderr.contains("hive-user"), "{stdout}\n{stderr}");
        assert!(stderr.contains(&format!("could not clone 'http://[REDACTED]@127.0.0.1:{port}/acme/api'")), "{stderr}");
    }
    // The same source given with a bad scheme is refused without echoing it either.
    let bad = format!("gopher://hive-user:{password}@127.0.0.1/x");
    let out = hive(state.path(), &["ecosystem", "import", bad.as_str()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!stderr(&out).contains(password), "{}", stderr(&out));
}
