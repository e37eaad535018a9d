//! Service keepers under a real queen, with real child processes: a tiny Python HTTP server on a free loopback port
//! (ready by HTTP probe, stopped by SIGTERM), one that ignores SIGTERM (SIGKILLed after the stop timeout), a program
//! that crashes at once (backoff, then given up), and no process left behind after shutdown or a killed keeper.
//!
//! Every server stops by itself after two minutes. Tests poll status until a deadline; none sleeps to synchronise.

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use hive_actors::{KeeperError, Members, ServiceBuilder, ServiceCommand, ServiceState, ServiceStatus};
use hive_cerebrum::{
    Backoff, EventBus, HiveEvent, MemberId, Queen, QueenArgs, QueenConfig, QueenHandle, RestartPolicy, Subscription,
};
use hive_ecosystem::{Readiness, ServiceBackoff, ServiceSpec};
use nix::{errno::Errno, sys::signal::kill, unistd::Pid};

const DEADLINE: Duration = Duration::from_secs(60);

const SERVER: &str = r#"
import http.server, signal, sys, time
port = int(sys.argv[1])
if len(sys.argv) > 2 and sys.argv[2] == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\n"
        self.send_response(200)
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

struct Fixture {
    queen: QueenHandle,
    services: ServiceBuilder,
    events: Subscription,
    dir: tempfile::TempDir,
}

async fn start() -> Fixture {
    let services = ServiceBuilder::new();
    let bus = EventBus::new(4096);
    let events = bus.subscribe();
    let args = QueenArgs::new(bus, QueenConfig::default())
        .with_builder(Arc::new(Members::new().with_services(services.clone())));
    let queen = Queen::start(args).await.expect("queen");
    Fixture { queen, services, events, dir: tempfile::tempdir().expect("tempdir") }
}

impl Fixture {
    fn server(&self, name: &str, ignore_term: bool) -> ServiceSpec {
        let script = self.dir.path().join("server.py");
        std::fs::write(&script, SERVER).expect("write server script");
        let port = free_port();
        let mut argv = vec!["python3".to_owned(), "-u".to_owned(), script.display().to_string(), port.to_string()];
        if ignore_term {
            argv.push("ignore-term".to_owned());
        }
        ServiceSpec { start_grace: Duration::from_millis(200), ..ServiceSpec::new(name, argv, self.dir.path()) }
            .readiness(Readiness::Http { port, path: "/".to_owned() })
            .log_file(self.dir.path().join(format!("logs/{name}.log")))
    }

    async fn add(&self, spec: ServiceSpec) {
        let policy = RestartPolicy { backoff: Backoff::NONE, ..RestartPolicy::default() };
        let member = self.services.register(spec, policy).expect("register");
        self.queen.add_member(member).await.expect("add member");
    }

    /// Polls the keeper's status until `done` holds.
    async fn until(&self, name: &str, what: &str, mut done: impl FnMut(&ServiceStatus) -> bool) -> ServiceStatus {
        let deadline = Instant::now() + DEADLINE;
        loop {
            // The keeper may be between incarnations; that is one more reason to ask again.
            if let Ok(status) = self.services.status(name).await
                && done(&status)
            {
                return status;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {name}: {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn running(&self, name: &str) -> ServiceStatus {
        self.until(name, "running and ready", |s| s.state == ServiceState::Running && s.ready).await
    }

    /// Runs a cycle and returns the member's (score, healthy) as the queen recorded it.
    async fn observe(&mut self, name: &str) -> (Option<u8>, Option<bool>) {
        self.queen.start_cycle().expect("cycle");
        tokio::time::timeout(DEADLINE, async {
            loop {
                let envelope = self.events.recv().await.expect("bus open");
                if matches!(&*envelope.event, HiveEvent::CycleCompleted { .. }) {
                    break;
                }
            }
        })
        .await
        .expect("cycle completes");
        let status = self.queen.status().await.expect("status");
        let member = status.member(name).expect("member");
        (member.score, member.healthy)
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

/// Gone means no such process, or a zombie waiting for a reaper that is not us.
fn is_gone(pid: u32) -> bool {
    match kill(Pid::from_raw(pid as i32), None) {
        Err(Errno::ESRCH) => true,
        _ => std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')))
            .unwrap_or(true),
    }
}

async fn gone(pid: u32) {
    let deadline = Instant::now() + DEADLINE;
    while !is_gone(pid) {
        assert!(Instant::now() < deadline, "process {pid} is still alive");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn log_has(status: &ServiceStatus, text: &str) -> bool {
    status.logs.iter().any(|l| l.text.contains(text))
}

#[tokio::test]
async fn an_http_service_starts_ready_stops_and_starts_again() {
    let mut f = start().await;
    f.add(f.server("web", false)).await;
    let status = f.running("web").await;
    let pid = status.pid.expect("pid");
    assert!(!is_gone(pid));
    assert_eq!(f.observe("web").await, (Some(100), Some(true)));
    let status = f.until("web", "the first lines in the ring buffer", |s| log_has(s, "listening on")).await;
    assert!(status.logs.iter().any(|l| l.text.contains("\"GET / HTTP/1.0\" 200")), "{:?}", status.logs);
    let log_file = f.dir.path().join("logs/web.log");
    f.until("web", "the log file", |_| std::fs::read_to_string(&log_file).is_ok_and(|t| t.contains("listening on")))
        .await;

    f.services.command("web", ServiceCommand::Stop).expect("stop");
    let status = f.until("web", "stopped", |s| s.state == ServiceState::Stopped).await;
    assert_eq!(status.last_exit.and_then(|e| e.signal), Some(nix::libc::SIGTERM));
    assert_eq!(status.pid, None);
    assert!(is_gone(pid), "the process is reaped before the keeper says stopped");
    // Stopped on request is not a failure.
    assert_eq!(f.observe("web").await, (Some(100), Some(true)));

    f.services.command("web", ServiceCommand::Start).expect("start");
    let status = f.running("web").await;
    assert_ne!(status.pid, Some(pid));
    assert_eq!(status.restarts, 0, "operator starts are not counted as restarts");
    let pid = status.pid.expect("pid");
    f.queen.shutdown().await.expect("shutdown");
    gone(pid).await;
}

#[tokio::test]
async fn restart_replaces_the_process() {
    let f = start().await;
    f.add(f.server("web", false)).await;
    let first = f.running("web").await.pid.expect("pid");
    f.services.command("web", ServiceCommand::Restart).expect("restart");
    let status = f.until("web", "a new process", |s| s.state == ServiceState::Running && s.pid != Some(first)).await;
    gone(first).await;
    let second = status.pid.expect("pid");
    f.queen.shutdown().await.expect("shutdown");
    gone(second).await;
}

#[tokio::test]
async fn a_service_ignoring_sigterm_is_killed_after_the_stop_timeout() {
    let f = start().await;
    let spec = ServiceSpec { stop_timeout: Duration::from_millis(300), ..f.server("stubborn", true) };
    f.add(spec).await;
    let pid = f.running("stubborn").await.pid.expect("pid");
    let asked = Instant::now();
    f.services.command("stubborn", ServiceCommand::Stop).expect("stop");
    let status = f.until("stubborn", "stopped", |s| s.state == ServiceState::Stopped).await;
    assert!(asked.elapsed() >= Duration::from_millis(300), "SIGKILL came before the stop timeout");
    assert_eq!(status.last_exit.and_then(|e| e.signal), Some(nix::libc::SIGKILL));
    assert!(is_gone(pid));
    f.queen.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_crashing_service_backs_off_longer_each_time_then_gives_up() {
    let mut f = start().await;
    let spec = ServiceSpec {
        start_grace: Duration::from_secs(5),
        max_quick_failures: 4,
        backoff: ServiceBackoff { min: Duration::from_millis(150), max: Duration::from_secs(5) },
        ..ServiceSpec::new("crasher", ["python3", "-c", "print('boom', flush=True); raise SystemExit(1)"], ".")
    };
    let added = Instant::now();
    f.add(spec).await;
    let mut saw_backoff = false;
    let status = f
        .until("crasher", "given up", |s| {
            saw_backoff |= s.state == ServiceState::Backoff && s.backoff.is_some();
            matches!(s.state, ServiceState::Error(_))
        })
        .await;
    assert!(saw_backoff, "the keeper waits in backoff between attempts");
    // Growing delays: 150 + 300 + 600 ms between the four attempts (equal delays would take 450 ms).
    assert!(added.elapsed() >= Duration::from_millis(1_050), "gave up after {:?}", added.elapsed());
    assert_eq!((status.restarts, status.quick_failures), (3, 4));
    assert_eq!(status.last_exit.and_then(|e| e.code), Some(1));
    let ServiceState::Error(message) = &status.state else { unreachable!() };
    assert!(message.starts_with("gave up after 4 quick failures in a row; last: exit code 1"), "{message}");
    assert_eq!(status.logs.iter().filter(|l| l.text == "boom").count(), 4, "{:?}", status.logs);
    // Given up is critical for the fleet.
    assert_eq!(f.observe("crasher").await, (Some(0), Some(false)));

    // An operator's start is a fresh start with a clean count.
    f.services.command("crasher", ServiceCommand::Start).expect("start");
    let status = f.until("crasher", "a new attempt", |s| s.state == ServiceState::Backoff).await;
    assert_eq!(status.quick_failures, 1);
    f.services.command("crasher", ServiceCommand::Stop).expect("stop");
    f.until("crasher", "stopped", |s| s.state == ServiceState::Stopped).await;
    f.queen.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn never_ready_counts_as_a_quick_failure() {
    let f = start().await;
    let spec = ServiceSpec {
        readiness_timeout: Duration::from_millis(200),
        max_quick_failures: 2,
        backoff: ServiceBackoff { min: Duration::from_millis(10), max: Duration::from_millis(10) },
        // Nothing listens on this port: `sleep` never gets ready.
        ..ServiceSpec::new("sleepy", ["sleep", "60"], ".").readiness(Readiness::Tcp { port: free_port() })
    };
    f.add(spec).await;
    let mut pids = Vec::new();
    let status = f
        .until("sleepy", "given up", |s| {
            pids.extend(s.pid.filter(|p| !pids.contains(p)));
            matches!(s.state, ServiceState::Error(_))
        })
        .await;
    assert!(status.last_error.as_deref().is_some_and(|e| e.contains("was not ready within 200ms")), "{status:?}");
    assert!(log_has(&status, "hive: service 'sleepy' was not ready"));
    for pid in pids {
        gone(pid).await;
    }
    f.queen.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn shutdown_leaves_no_process_behind() {
    let f = start().await;
    f.add(f.server("polite", false)).await;
    f.add(ServiceSpec { stop_timeout: Duration::from_millis(200), ..f.server("stubborn", true) }).await;
    let polite = f.running("polite").await.pid.expect("pid");
    let stubborn = f.running("stubborn").await.pid.expect("pid");
    f.queen.shutdown().await.expect("shutdown");
    // The keepers terminate their processes in post_stop, which the queen's shutdown waits for.
    assert!(is_gone(polite) && is_gone(stubborn));
}

#[tokio::test]
async fn a_killed_keeper_takes_its_process_along_and_comes_back() {
    let f = start().await;
    f.add(f.server("web", false)).await;
    let first = f.running("web").await.pid.expect("pid");
    let keeper = f.services.keeper("web").expect("keeper");
    // A kill skips post_stop; dropping the keeper's state must still kill the process group.
    keeper.get_cell().kill();
    gone(first).await;
    let status = f.until("web", "a new keeper and process", |s| s.state == ServiceState::Running && s.ready).await;
    assert_ne!(status.pid, Some(first));
    let restarts = f.queen.status().await.expect("status").member("web").expect("member").restarts;
    assert_eq!(restarts, 1, "the queen restarted the keeper");
    let second = status.pid.expect("pid");
    f.queen.remove_member(&MemberId::new("web")).await.expect("remove");
    gone(second).await;
    f.queen.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn unknown_and_invalid_services_are_refused() {
    let f = start().await;
    let err = f.services.command("nope", ServiceCommand::Start).unwrap_err();
    assert_eq!(err.to_string(), "no service named 'nope'; add it first");
    let err = f.services.register(ServiceSpec::new("bad", Vec::<String>::new(), "."), RestartPolicy::default());
    assert!(matches!(err, Err(KeeperError::Invalid(_))));
    let spec = ServiceSpec { autostart: false, ..ServiceSpec::new("idle", ["sleep", "60"], Path::new(".")) };
    f.add(spec.clone()).await;
    assert!(matches!(f.services.register(spec, RestartPolicy::default()), Err(KeeperError::Duplicate(_))));
    // Not started automatically: the keeper waits for a command.
    let status = f.until("idle", "a keeper", |_| true).await;
    assert_eq!((status.state, status.pid), (ServiceState::Stopped, None));
    f.queen.shutdown().await.expect("shutdown");
}
