//! `hive ecosystem <id> deploy` end to end: the real binary deploying a real HTTP service (a Python `http.server`
//! script in a git repository made at test time) in worktrees beside its clone; switched when healthy, rolled back
//! when not, refused for a hostile ref or while another deploy of the same import runs.

use std::{
    io::{BufRead, BufReader, Lines, Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, ChildStdout, Command, Stdio},
    time::{Duration, Instant},
};

use hive_testkit::git::git;
use serde_json::Value;

use crate::{daemon::is_gone, stderr, stdout};

const DEADLINE: Duration = Duration::from_secs(60);

/// The service: answers every path with its version, and `/health` with the status it is given.
fn server(version: &str, health: u16) -> String {
    format!(
        r#"import http.server, os
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"{version}"
        self.send_response({health} if self.path == "/health" else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"#
    )
}

const MAKEFILE: &str = "build:\n\tpython3 -m py_compile server.py\nserve:\n\tpython3 server.py\n";

fn commit(repo: &Path, files: &[(&str, &str)], message: &str) {
    for (path, contents) in files {
        std::fs::write(repo.join(path), contents).expect("write fixture");
    }
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", message]);
}

/// v1 healthy, v2 answering its health check with 500, v3 healthy again with another body; tagged, v3 on `main`.
fn service_repo(root: &Path) -> PathBuf {
    let repo = root.join("svc");
    std::fs::create_dir_all(&repo).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    for (version, health) in [("v1", 200), ("v2", 500), ("v3", 200)] {
        commit(&repo, &[("Makefile", MAKEFILE), ("server.py", &server(version, health))], version);
        git(&repo, &["tag", version]);
    }
    repo
}

/// `hive --state-dir <state> args...`: nothing may follow `ecosystem <id> deploy`'s own flags.
fn hive_in(state: &Path, args: &[&str]) -> std::process::Output {
    hive_command(state, args).output().expect("run hive")
}

fn hive_command(state: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hive"));
    cmd.arg("--state-dir").arg(state).args(args).env_remove("HIVE_STATE_DIR");
    // Only the configuration a test names: never the one of the user running the tests.
    cmd.env_remove("HIVE_CONFIG").env("XDG_CONFIG_HOME", state.join("no-config"));
    cmd
}

fn import(state: &Path, source: &Path) -> String {
    let out = hive_in(state, &["ecosystem", "import", source.to_str().expect("utf-8"), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let meta: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    meta["id"].as_str().expect("id").to_owned()
}

/// A `hive` process in the background, asked to shut down gracefully (so its service stops too) if the test ends
/// while it still runs.
struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(self.0.id()).expect("pid fits"));
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let _ = self.0.wait();
        }
    }
}

/// `hive ecosystem <id> deploy <args> --json` in the background (a switched deploy keeps its instance in the
/// foreground), with its first line, the deploy's record.
fn deploy_in_background(state: &Path, id: &str, args: &[&str]) -> (Background, Value, Lines<BufReader<ChildStdout>>) {
    let mut child = hive_command(state, &[&["ecosystem", id, "deploy"][..], args, &["--json"]].concat())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start hive");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("hive exited before the deploy ended").expect("read line");
    let record = serde_json::from_str(&first).unwrap_or_else(|e| panic!("not JSON ({e}): {first}"));
    (Background(child), record, lines)
}

/// `GET path` on a loopback port: the status and the body.
fn get(port: u64, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", u16::try_from(port).expect("port"))).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let status = answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status line");
    let body = answer.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    (status, body)
}

fn wait_until_gone(pid: u32) {
    let deadline = Instant::now() + DEADLINE;
    while !is_gone(pid) {
        assert!(Instant::now() < deadline, "process {pid} is still there");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn pid_of(instance: &Value) -> u32 {
    u32::try_from(instance["pid"].as_u64().expect("pid")).expect("pid fits")
}

#[test]
fn a_healthy_version_is_switched_to_and_an_unhealthy_one_rolled_back() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path().join("state");
    let id = import(&state, &service_repo(tmp.path()));
    let deploys = state.join("ecosystem").join(format!("{id}-deploys"));

    // v1: nothing ran before; it is built in a worktree of its own and serves.
    let (mut first, one, _lines) = deploy_in_background(&state, &id, &["--ref", "v1"]);
    assert_eq!(one["outcome"], "switched", "{one}");
    assert_eq!(one["old"], Value::Null, "{one}");
    assert_eq!(one["new"]["worktree"], deploys.join("1").to_str().expect("utf-8"), "{one}");
    let v1_port = one["new"]["port"].as_u64().expect("port");
    let v1_pid = pid_of(&one["new"]);
    assert_eq!(get(v1_port, "/"), (200, "v1".to_owned()));
    let clone = state.join("ecosystem").join(&id);
    assert_eq!(git(&clone, &["rev-parse", "HEAD"]), git(&clone, &["rev-parse", "v3"]), "the clone's tree is not used");

    // v2 fails its health check: rolled back, v1 untouched.
    let out = hive_in(&state, &["ecosystem", &id, "deploy", "--ref", "v2", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let two: Value = serde_json::from_str(stdout(&out).lines().next().expect("a record")).expect("JSON");
    assert_eq!(two["outcome"], "rolled_back", "{two}");
    let reason = two["reason"].as_str().expect("reason");
    assert!(reason.contains("GET /health") && reason.contains("HTTP status 500"), "{reason}");
    assert!(stderr(&out).contains("deploy 2 of 'svc' was rolled back: "), "{}", stderr(&out));
    assert_eq!(two["old"]["pid"].as_u64(), Some(u64::from(v1_pid)), "{two}");
    let v2_pid = pid_of(&two["new"]);
    wait_until_gone(v2_pid);
    assert!(!is_gone(v1_pid), "v1 keeps running");
    assert_eq!(get(v1_port, "/"), (200, "v1".to_owned()));

    // v3, the default branch's head: switched, and v1 (with the hive keeping it) stopped.
    let (mut third, three, _lines) = deploy_in_background(&state, &id, &[]);
    assert_eq!(three["outcome"], "switched", "{three}");
    assert_eq!(three["reference"], "main", "{three}");
    assert_eq!(three["sha"], git(&clone, &["rev-parse", "v3"]).as_str(), "{three}");
    assert_eq!(three["old"]["pid"].as_u64(), Some(u64::from(v1_pid)), "{three}");
    let v3_port = three["new"]["port"].as_u64().expect("port");
    assert_eq!(get(v3_port, "/"), (200, "v3".to_owned()));
    assert!(first.0.wait().expect("wait").success(), "v1's hive shuts down cleanly");
    wait_until_gone(v1_pid);

    let out = hive_in(&state, &["ecosystem", &id, "deploy", "history", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let history: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let outcomes: Vec<(u64, &str)> = history["deploys"]
        .as_array()
        .expect("deploys")
        .iter()
        .map(|d| (d["id"].as_u64().expect("id"), d["outcome"].as_str().expect("outcome")))
        .collect();
    assert_eq!(outcomes, [(3, "switched"), (2, "rolled_back"), (1, "switched")]);
    assert_eq!(history["deploys"][1]["reason"], two["reason"]);
    assert_eq!(history["deploys"][0]["old"]["worktree"], deploys.join("1").to_str().expect("utf-8"));
    // The current and the previous deploy's worktrees stay; the rolled-back one's went with the switch.
    assert!(deploys.join("3").is_dir() && deploys.join("1").is_dir());
    assert!(!deploys.join("2").exists());

    let status = hive_in(&state, &["--json", "ecosystem", &id, "status"]);
    let status: Value = serde_json::from_slice(&status.stdout).expect("JSON");
    assert_eq!(status["supervisor"]["pid"].as_u64(), Some(u64::from(third.0.id())), "{status}");
    assert_eq!(status["supervisor"]["deploy"], 3, "{status}");

    let out = hive_in(&state, &["ecosystem", &id, "stop"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(third.0.wait().expect("wait").success());
    wait_until_gone(pid_of(&three["new"]));
}

#[test]
fn a_hostile_ref_is_a_usage_error_and_nothing_starts() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path().join("state");
    let id = import(&state, &service_repo(tmp.path()));
    let marker = tmp.path().join("pwned");
    let upload_pack = format!("--upload-pack=touch {}", marker.display());
    for hostile in [upload_pack.as_str(), "-x", "../../etc", "v1..v3", "main:x"] {
        let out = hive_in(&state, &["ecosystem", &id, "deploy", "--ref", hostile]);
        assert_eq!(out.status.code(), Some(2), "{hostile}: {}", stderr(&out));
        assert!(stderr(&out).starts_with("hive: invalid ref '"), "{hostile}: {}", stderr(&out));
    }
    assert!(!marker.exists());
    assert!(!state.join("ecosystem/deploys").exists(), "no deploy began");
    assert!(!state.join("ecosystem").join(format!("{id}-deploys")).exists(), "no worktree was made");
    let out = hive_in(&state, &["ecosystem", &id, "deploy", "history"]);
    assert!(stdout(&out).contains("was never deployed"), "{}", stdout(&out));
}

#[test]
fn a_second_deploy_while_one_runs_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path().join("state");
    let repo = service_repo(tmp.path());
    // The build waits until the test writes to this FIFO, then fails.
    let gate = tmp.path().join("gate");
    nix::unistd::mkfifo(&gate, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    let gated = format!("build:\n\tcat {}\n\texit 1\nserve:\n\tpython3 server.py\n", gate.display());
    commit(&repo, &[("Makefile", &gated)], "a build that waits");
    let id = import(&state, &repo);

    let mut first = Background(
        hive_command(&state, &["ecosystem", &id, "deploy"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start hive"),
    );
    // The deploy is recorded as running once it holds the lock and before its worktree is made.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let out = hive_in(&state, &["ecosystem", &id, "deploy", "history", "--json"]);
        let history: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if history["deploys"][0]["outcome"] == "running" && history["deploys"][0]["new"].is_object() {
            break;
        }
        assert!(Instant::now() < deadline, "the first deploy never showed as running");
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = hive_in(&state, &["ecosystem", &id, "deploy", "--ref", "v1"]);
    assert_eq!(second.status.code(), Some(1));
    let expected = format!("hive: a deploy of 'svc' is under way (hive process {})", first.0.id());
    assert!(stderr(&second).starts_with(&expected), "{}", stderr(&second));

    std::fs::OpenOptions::new().write(true).open(&gate).expect("open the gate").write_all(b"go\n").expect("write");
    assert_eq!(first.0.wait().expect("wait").code(), Some(1), "the gated build fails");
    let out = hive_in(&state, &["ecosystem", &id, "deploy", "history", "--json"]);
    let history: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(history["deploys"].as_array().map(Vec::len), Some(1), "the refused deploy left no entry");
    assert_eq!(history["deploys"][0]["outcome"], "rolled_back");
    assert!(history["deploys"][0]["reason"].as_str().expect("reason").starts_with("the build failed (exit 2)"));
}

#[tokio::test(flavor = "multi_thread")]
async fn under_hive_serve_a_deploy_replaces_the_queen_s_service_member() {
    use hive_testkit::projects::{git_repo, write};

    use crate::{
        daemon::Daemon,
        serve::{TOKEN, send},
    };

    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path().join("state");
    let id = import(&state, &service_repo(tmp.path()));
    let ws = tmp.path().join("ws");
    write(&ws.join("ok"), "Makefile", "test:\n\ttrue\n");
    git_repo(&ws.join("ok"));
    let mut cmd = crate::daemon::hive_command(
        &state,
        &["serve", "--workspace", ws.to_str().expect("utf-8"), "--bind", "127.0.0.1:0"],
    );
    cmd.env("HIVE_API_TOKEN", TOKEN);
    let mut daemon = Daemon::spawn(cmd, &tmp.path().join("stderr.log"));
    let line = daemon.line("the listening line", |l| l.starts_with("hive serve: listening on http://")).await;
    let base = line.trim_start_matches("hive serve: listening on ").trim().to_owned();
    let client = reqwest::Client::new();
    let members = |status: &Value| status["members"].to_string();

    let (code, one) = send(&client, &base, &format!("ecosystem {id} deploy --ref v1")).await;
    assert_eq!(code, reqwest::StatusCode::OK, "{one}");
    let one = &one["deploy"];
    assert_eq!(one["outcome"], "switched", "{one}");
    assert_eq!(one["new"]["supervisor"].as_u64(), Some(u64::from(daemon.pid())), "{one}");
    let v1_pid = pid_of(&one["new"]);
    let v1_port = one["new"]["port"].as_u64().expect("port");
    assert_eq!(get(v1_port, "/"), (200, "v1".to_owned()));

    // A deploy from another process is refused: the server keeps the service.
    let out = hive_in(&state, &["ecosystem", &id, "deploy", "--ref", "v3"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("runs under `hive serve`"), "{}", stderr(&out));

    let (code, two) = send(&client, &base, &format!("ecosystem {id} deploy --ref v2")).await;
    assert_eq!(code, reqwest::StatusCode::CONFLICT, "{two}");
    assert!(two["error"].as_str().expect("error").contains("HTTP status 500"), "{two}");
    assert_eq!(get(v1_port, "/"), (200, "v1".to_owned()));

    let (code, three) = send(&client, &base, &format!("ecosystem {id} deploy --ref v3")).await;
    assert_eq!(code, reqwest::StatusCode::OK, "{three}");
    let v3_port = three["deploy"]["new"]["port"].as_u64().expect("port");
    assert_eq!(get(v3_port, "/"), (200, "v3".to_owned()));
    wait_until_gone(v1_pid);
    let status: Value =
        client.get(format!("{base}/api/status")).send().await.expect("status").json().await.expect("json");
    assert!(members(&status).contains(&format!("svc-{id}-3")), "the new instance is the member: {status}");
    assert!(!members(&status).contains(&format!("svc-{id}-1")), "the old member is gone: {status}");
    let (code, service) = send(&client, &base, &format!("ecosystem {id} status")).await;
    assert_eq!(code, reqwest::StatusCode::OK, "{service}");
    assert_eq!(service["status"]["pid"], three["deploy"]["new"]["pid"], "{service}");

    let (code, history) = send(&client, &base, &format!("ecosystem {id} deploy history")).await;
    assert_eq!(code, reqwest::StatusCode::OK, "{history}");
    let outcomes: Vec<&str> =
        history["deploys"].as_array().expect("deploys").iter().filter_map(|d| d["outcome"].as_str()).collect();
    assert_eq!(outcomes, ["switched", "rolled_back", "switched"], "the refused deploy never began: {history}");

    let (code, stopped) = send(&client, &base, &format!("ecosystem {id} stop")).await;
    assert_eq!(code, reqwest::StatusCode::OK, "{stopped}");
    wait_until_gone(pid_of(&three["deploy"]["new"]));
}
