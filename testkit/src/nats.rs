//! A real nats-server for one test: started with JetStream on a free loopback port and a store in a temporary
//! directory, killed on drop, and restartable on the same port and store (a partition that heals).

use std::{
    io::{BufRead, BufReader},
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

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

    /// Freezes the server (SIGSTOP): its connections stay open and what clients send waits in its socket, unread
    /// and unanswered, until [`NatsServer::thaw`]; so a test can hold a request in flight.
    pub fn freeze(&self) {
        self.signal(nix::sys::signal::Signal::SIGSTOP);
    }

    /// Lets a frozen server go on (SIGCONT): it reads what waited, in the order it was sent.
    pub fn thaw(&self) {
        self.signal(nix::sys::signal::Signal::SIGCONT);
    }

    fn signal(&self, signal: nix::sys::signal::Signal) {
        let child = self.child.as_ref().expect("the server runs");
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("a pid fits an i32"));
        nix::sys::signal::kill(pid, signal).expect("signal nats-server");
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
        let until = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let info = tokio::task::spawn_blocking(move || server_info(port)).await.ok().flatten();
            if info.is_some_and(|info| info.contains("\"jetstream\":true")) {
                break;
            }
            if tokio::time::Instant::now() >= until {
                let log = std::fs::read_to_string(self.log()).unwrap_or_default();
                panic!("nats-server did not answer on port {port} with JetStream within 10s; its log:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
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
