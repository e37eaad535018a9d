//! Service process tests with real child processes: a tiny Python HTTP server on a loopback port, one that ignores
//! SIGTERM, one that starts a grandchild. Every server stops by itself after two minutes, so a failed test cannot
//! leave one running for long.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use nix::{errno::Errno, sys::signal::kill, unistd::Pid};

use super::*;

const DEADLINE: Duration = Duration::from_secs(60);

const SERVER: &str = r#"
import http.server, signal, subprocess, sys, time
port = int(sys.argv[1])
mode = sys.argv[2] if len(sys.argv) > 2 else ""
if mode == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if mode == "grandchild":
    child = subprocess.Popen(["sleep", "120"])
    print("grandchild", child.pid, flush=True)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\n"
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, fmt, *args):
        print("request", fmt % args, file=sys.stderr, flush=True)
server = http.server.HTTPServer(("127.0.0.1", port), Handler)
server.timeout = 0.2
print("listening on", port, flush=True)
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    server.handle_request()
"#;

fn free_port() -> u16 {
    free_loopback_port().expect("bind a loopback port")
}

fn server_spec(dir: &Path, port: u16, mode: &str) -> ServiceSpec {
    let script = dir.join("server.py");
    std::fs::write(&script, SERVER).expect("write server script");
    let argv = vec!["python3".to_owned(), "-u".to_owned(), script.display().to_string(), port.to_string()];
    let mut spec = ServiceSpec::new("web", argv, dir);
    if !mode.is_empty() {
        spec.argv.push(mode.to_owned());
    }
    spec.readiness(Readiness::Http { port, path: "/health".to_owned() }).log_file(dir.join("logs/web.log"))
}

/// Gone means no such process, or a zombie waiting for a reaper that is not us (grandchildren are reparented).
fn is_gone(pid: u32) -> bool {
    match kill(Pid::from_raw(pid as i32), None) {
        Err(Errno::ESRCH) => true,
        _ => std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')))
            .unwrap_or(true),
    }
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn texts(logs: &ServiceLogs) -> Vec<String> {
    logs.tail(usize::MAX).into_iter().map(|l| l.text).collect()
}

#[test]
fn invalid_specs_get_clear_errors() {
    let ok = || ServiceSpec::new("web", ["python3", "app.py"], ".");
    let cases: Vec<(ServiceSpec, &str)> = vec![
        (ServiceSpec::new("", ["x"], "."), "needs a name"),
        (ServiceSpec::new("web", Vec::<String>::new(), "."), "service 'web' has an empty argv"),
        (ServiceSpec::new("web", [""], "."), "empty program name"),
        (ServiceSpec::new("web", ["echo", "a\0b"], "."), r#"argv "a\0b" contains a NUL byte"#),
        (ok().env("A=B", "1"), "environment variable name 'A=B'"),
        (ok().env("KEY", "v\0"), "env \"v\\0\" contains a NUL byte"),
        (ok().readiness(Readiness::Tcp { port: 0 }), "readiness port '0' is not a port"),
        (ok().readiness(Readiness::Http { port: 80, path: "health".to_owned() }), "readiness path \"health\""),
        (
            ok().readiness(Readiness::Http { port: 80, path: "/ HTTP/1.0\r\nX: y".to_owned() }),
            "must start with '/' and contain no spaces",
        ),
        (ServiceSpec { max_quick_failures: 0, ..ok() }, "max_quick_failures is 0"),
        (
            ServiceSpec {
                backoff: ServiceBackoff { min: Duration::from_secs(2), max: Duration::from_secs(1) },
                ..ok()
            },
            "backoff min 2s is above max 1s",
        ),
    ];
    for (spec, expected) in cases {
        let err = spec.validate().expect_err(expected).to_string();
        assert!(err.contains(expected), "{err:?} should contain {expected:?}");
        assert!(err.starts_with(|c: char| !c.is_uppercase()) && !err.ends_with('.'), "{err}");
    }
    assert!(ok().readiness(Readiness::Http { port: 80, path: "/health?x=1".to_owned() }).validate().is_ok());
}

#[test]
fn ring_buffer_keeps_the_last_lines_and_counts_the_rest() {
    let logs = ServiceLogs::new(3);
    for i in 0..5 {
        logs.push(LogLine { stream: LogStream::Stdout, text: i.to_string() });
    }
    assert_eq!(texts(&logs), ["2", "3", "4"]);
    assert_eq!(logs.dropped(), 2);
    assert_eq!(logs.tail(1)[0].text, "4");
}

#[tokio::test]
async fn output_reaches_the_ring_buffer_and_the_log_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("nested/out.log");
    let code = "import sys\nprint('to stdout')\nprint('to stderr', file=sys.stderr)\nprint('x' * 20000)\nsys.exit(3)";
    let spec = ServiceSpec::new("printer", ["python3", "-c", code], dir.path()).log_file(&log);
    let logs = ServiceLogs::default();
    let process = ServiceProcess::spawn(&spec, &logs).expect("spawn");
    let exit = process.wait().await;
    assert_eq!(exit, ExitInfo { code: Some(3), signal: None });
    assert_eq!(exit.to_string(), "exit code 3");
    // The pipes may still hold the last lines when the exit is reaped.
    eventually("four lines in the buffer", || logs.len() == 4).await;
    let lines = logs.tail(10);
    assert!(lines.contains(&LogLine { stream: LogStream::Stdout, text: "to stdout".to_owned() }));
    assert!(lines.contains(&LogLine { stream: LogStream::Stderr, text: "to stderr".to_owned() }));
    // The 20,000-character line was split at 16 KiB rather than buffered whole.
    assert!(lines.iter().any(|l| l.text.len() == 16 * 1024));
    eventually("the log file", || {
        std::fs::read_to_string(&log).is_ok_and(|text| text.contains("to stdout") && text.contains("to stderr"))
    })
    .await;
}

#[tokio::test]
async fn http_server_becomes_ready_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let spec = server_spec(dir.path(), port, "");
    let logs = ServiceLogs::default();
    let process = ServiceProcess::spawn(&spec, &logs).expect("spawn");
    let readiness = spec.readiness.clone().expect("readiness");
    wait_ready("web", &readiness, &process.handle(), DEADLINE).await.expect("ready");
    // A path the server answers with 404 is not ready.
    let missing = Readiness::Http { port, path: "/missing".to_owned() };
    assert_eq!(probe_readiness(&missing, Duration::from_secs(5)).await, Err("HTTP status 404".to_owned()));
    eventually("the request in the log", || texts(&logs).iter().any(|t| t.contains("GET /health"))).await;

    let pid = process.pid();
    let exit = process.terminate(Duration::from_secs(30)).await;
    assert_eq!(exit.signal, Some(nix::libc::SIGTERM), "{exit}");
    assert!(is_gone(pid));
    eventually("the log file", || {
        std::fs::read_to_string(dir.path().join("logs/web.log")).is_ok_and(|t| t.contains("listening on"))
    })
    .await;
}

#[tokio::test]
async fn a_health_check_wants_a_2xx_answer_within_its_attempts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let spec = server_spec(dir.path(), port, "");
    let process = ServiceProcess::spawn(&spec, &ServiceLogs::default()).expect("spawn");
    let readiness = spec.readiness.clone().expect("readiness");
    wait_ready("web", &readiness, &process.handle(), DEADLINE).await.expect("ready");
    let policy = HealthPolicy { attempts: 2, interval: Duration::from_millis(10), deadline: DEADLINE };
    assert_eq!(check_health(port, "/health", policy).await, Ok(200));
    let err = check_health(port, "/missing", policy).await.unwrap_err();
    assert_eq!(err, format!("health check GET /missing on 127.0.0.1:{port} failed: HTTP status 404 (2 attempt(s))"));
    process.terminate(Duration::from_secs(30)).await;
    // Nothing listens any more: the failure says why there was no answer.
    let err = check_health(port, "/health", policy).await.unwrap_err();
    assert!(err.contains("failed: Connection refused"), "{err}");
}

#[tokio::test]
async fn a_server_ignoring_sigterm_is_killed_after_the_stop_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = server_spec(dir.path(), free_port(), "ignore-term");
    let process = ServiceProcess::spawn(&spec, &ServiceLogs::default()).expect("spawn");
    let readiness = spec.readiness.clone().expect("readiness");
    // Ready means the SIGTERM handler is installed: the script sets it before it listens.
    wait_ready("web", &readiness, &process.handle(), DEADLINE).await.expect("ready");
    let stop_timeout = Duration::from_millis(300);
    let started = std::time::Instant::now();
    let exit = process.terminate(stop_timeout).await;
    assert_eq!(exit.signal, Some(nix::libc::SIGKILL), "{exit}");
    assert!(started.elapsed() >= stop_timeout);
    assert!(is_gone(process.pid()));
}

#[tokio::test]
async fn grandchildren_die_with_the_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = server_spec(dir.path(), free_port(), "grandchild");
    let logs = ServiceLogs::default();
    let process = ServiceProcess::spawn(&spec, &logs).expect("spawn");
    let readiness = spec.readiness.clone().expect("readiness");
    wait_ready("web", &readiness, &process.handle(), DEADLINE).await.expect("ready");
    let grandchild: u32 = texts(&logs)
        .iter()
        .find_map(|t| t.strip_prefix("grandchild ").and_then(|pid| pid.parse().ok()))
        .expect("the grandchild's pid is printed before the server listens");
    assert!(!is_gone(grandchild));
    // Dropping the owner (as when a keeper actor panics) kills the whole group.
    let handle = process.handle();
    drop(process);
    assert_eq!(handle.wait().await.signal, Some(nix::libc::SIGKILL));
    eventually("the grandchild to die", || is_gone(grandchild)).await;
}

#[tokio::test]
async fn probes_fail_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Nothing listens on this port.
    let readiness = Readiness::Tcp { port: free_port() };
    let sleeper = ServiceSpec::new("sleeper", ["sleep", "30"], dir.path());
    let process = ServiceProcess::spawn(&sleeper, &ServiceLogs::default()).expect("spawn");
    let err = wait_ready("sleeper", &readiness, &process.handle(), Duration::from_millis(300)).await.unwrap_err();
    assert!(matches!(err, ServiceError::NotReady { .. }), "{err}");
    assert!(err.to_string().starts_with("service 'sleeper' was not ready within 300ms (tcp 127.0.0.1:"), "{err}");
    process.terminate(Duration::from_secs(5)).await;

    let quitter = ServiceSpec::new("quitter", ["python3", "-c", "raise SystemExit(2)"], dir.path());
    let process = ServiceProcess::spawn(&quitter, &ServiceLogs::default()).expect("spawn");
    let err = wait_ready("quitter", &readiness, &process.handle(), DEADLINE).await.unwrap_err();
    assert_eq!(err.to_string(), "service 'quitter' exited before it was ready (exit code 2)");
}

#[tokio::test]
async fn a_missing_program_is_named() {
    let spec = ServiceSpec::new("ghost", ["definitely-not-a-program-here"], PathBuf::from("."));
    let err = ServiceProcess::spawn(&spec, &ServiceLogs::default()).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("could not start service 'ghost' (\"definitely-not-a-program-here\")"), "{text}");
}
