//! A real nats-server for one test: started with JetStream on a free loopback port and a store in a temporary
//! directory, killed on drop, and restartable on the same port and store (a partition that heals). What a
//! coordinator test watches: every node's ownership changes in the one order they were sent.

use std::{
    collections::BTreeMap,
    future::Future,
    io::{BufRead, BufReader},
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use hive_cluster::{ClusterConfig, NodeName, Ownership, OwnershipChange};
use tokio::{sync::mpsc, time::Instant};

/// The ttl of leases and heartbeats in these tests: short, so lapses happen within seconds.
pub const TTL: Duration = Duration::from_secs(2);

/// A nats-server child process.
pub struct NatsServer {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
}

impl NatsServer {
    /// Starts one and waits until it answers with JetStream enabled.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
        let mut server = Self { child: None, dir, port };
        server.spawn().await;
        server
    }

    /// The client URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (as a crash or a partition would: no goodbye to the clients) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill nats-server");
            child.wait().expect("reap nats-server");
        }
    }

    /// Starts the server again on the same port and store.
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn().await;
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("nats-server.log")
    }

    async fn spawn(&mut self) {
        let store = self.dir.path().join("store");
        let child = Command::new("nats-server")
            .arg("-js")
            .arg("-sd")
            .arg(&store)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .arg("-l")
            .arg(self.log())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
                "nats-server is not installed (not found on PATH); these tests need a real one: \
                 install it with 'apt-get install nats-server'"
            ),
            Err(error) => panic!("cannot start nats-server: {error}"),
        };
        self.child = Some(child);
        let port = self.port;
        let ready = poll_until(Duration::from_secs(10), || async move {
            let info = tokio::task::spawn_blocking(move || server_info(port)).await.ok().flatten();
            info.is_some_and(|info| info.contains("\"jetstream\":true"))
        });
        if !ready.await {
            let log = std::fs::read_to_string(self.log()).unwrap_or_default();
            panic!("nats-server did not answer on port {port} with JetStream within 10s; its log:\n{log}");
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The INFO line a NATS server sends first on a connection, if it answers.
fn server_info(port: u16) -> Option<String> {
    let stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).ok()?;
    stream.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).ok()?;
    line.starts_with("INFO ").then_some(line)
}

/// Polls `check` every 20 ms until it holds or `within` has passed; whether it held.
pub async fn poll_until<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A node's settings in these tests.
pub fn config(node: &str) -> ClusterConfig {
    ClusterConfig::new(NodeName::new(node).expect("a valid node name"), TTL).expect("valid settings")
}

/// `org/repo-0` .. `org/repo-{n-1}`.
pub fn fleet(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("org/repo-{i}")).collect()
}

/// Who holds what, as the coordinators said it, read from the one channel they all send on, in the order they
/// sent. Every change is checked as it is read: a node gains only what no node holds, and loses only what it
/// holds. So at no moment did two nodes consider themselves a repository's holder.
pub struct Ledger {
    events: mpsc::UnboundedReceiver<OwnershipChange>,
    holders: BTreeMap<String, NodeName>,
    /// Every change read, in order, per node.
    pub log: Vec<OwnershipChange>,
}

impl Ledger {
    /// A ledger and the sender every coordinator gets a clone of.
    pub fn new() -> (Self, mpsc::UnboundedSender<OwnershipChange>) {
        let (tx, events) = mpsc::unbounded_channel();
        (Self { events, holders: BTreeMap::new(), log: Vec::new() }, tx)
    }

    /// Reads every change sent so far, checking each.
    pub fn read(&mut self) {
        while let Ok(event) = self.events.try_recv() {
            match &event.change {
                Ownership::Gained { repo, .. } => {
                    if let Some(holder) = self.holders.get(repo) {
                        panic!("{} gained {repo} while {holder} held it; changes so far: {:#?}", event.node, self.log);
                    }
                    self.holders.insert(repo.clone(), event.node.clone());
                }
                Ownership::Lost { repo } => {
                    let holder = self.holders.remove(repo);
                    assert_eq!(holder.as_ref(), Some(&event.node), "{} lost {repo}, which it did not hold", event.node);
                }
            }
            self.log.push(event);
        }
    }

    /// Who holds what now, by the changes read.
    pub fn holders(&self) -> &BTreeMap<String, NodeName> {
        &self.holders
    }

    /// What `node` holds now, by the changes read.
    pub fn held_by(&self, node: &str) -> Vec<String> {
        self.holders.iter().filter(|(_, holder)| holder.as_str() == node).map(|(repo, _)| repo.clone()).collect()
    }

    /// A node that was killed holds nothing, though it could not say so.
    pub fn forget(&mut self, node: &str) {
        self.holders.retain(|_, holder| holder.as_str() != node);
    }
}
