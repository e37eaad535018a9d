//! Readiness and health probes: a TCP connect or an HTTP `GET`, always to `127.0.0.1`, each attempt under a timeout.
//!
//! The HTTP probe speaks just enough HTTP/1.0 to read a status line; pulling in an HTTP client for one request line
//! would be more code to trust than this.

use std::{net::Ipv4Addr, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::{ProcessHandle, Readiness, ServiceError};

/// Pause between two probe attempts.
const PROBE_INTERVAL: Duration = Duration::from_millis(100);

/// Longest single attempt; the overall timeout bounds the whole wait.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// A loopback port free at this moment, for a service told where to listen (`PORT`): the kernel picks it for a
/// listener that is closed at once. Another process could take it before the service binds it; the service's
/// readiness probe then fails and says so.
pub fn free_loopback_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

/// One probe attempt. `Err` says why it is not ready (yet).
pub async fn probe_readiness(readiness: &Readiness, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, attempt(readiness)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

async fn attempt(readiness: &Readiness) -> Result<(), String> {
    let Readiness::Http { port, path } = readiness else {
        return TcpStream::connect((Ipv4Addr::LOCALHOST, readiness.port())).await.map(drop).map_err(|e| e.to_string());
    };
    let status = http_status(*port, path).await?;
    if (200..400).contains(&status) { Ok(()) } else { Err(format!("HTTP status {status}")) }
}

/// The status of one `GET path` on the loopback port, or why there was none.
async fn http_status(port: u16, path: &str) -> Result<u16, String> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await.map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    // The status line fits in the first few bytes; read until it is complete or the server closes.
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.contains(&b'\n') && head.len() < 4096 {
        let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    line.lines()
        .next()
        .and_then(|l| l.strip_prefix("HTTP/"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("not an HTTP answer: {:?}", line.lines().next().unwrap_or("")))
}

/// How a health check is tried: a bounded number of `GET`s, a pause between them, and a deadline over all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthPolicy {
    /// Answers that are not 2xx (or no answer) before the check fails.
    pub attempts: u32,
    /// Pause between two attempts.
    pub interval: Duration,
    /// The whole check ends after this long, whatever the attempts left.
    pub deadline: Duration,
}

impl Default for HealthPolicy {
    /// Five attempts 200 ms apart within 15 s: a service that just became ready gets a moment to settle, and one
    /// that answers with an error keeps answering so.
    fn default() -> HealthPolicy {
        HealthPolicy { attempts: 5, interval: Duration::from_millis(200), deadline: Duration::from_secs(15) }
    }
}

/// Health check: `GET path` on the loopback port until it answers 2xx (its status returned), or until the policy's
/// attempts or deadline are spent; the error names the last answer (`HTTP status 500`) or why there was none.
pub async fn check_health(port: u16, path: &str, policy: HealthPolicy) -> Result<u16, String> {
    let deadline = tokio::time::Instant::now() + policy.deadline;
    let mut last = "not probed".to_owned();
    let mut made = 0;
    for attempt in 1..=policy.attempts.max(1) {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        if remaining.is_zero() {
            break;
        }
        made = attempt;
        match tokio::time::timeout(ATTEMPT_TIMEOUT.min(remaining), http_status(port, path)).await {
            Ok(Ok(status)) if (200..300).contains(&status) => return Ok(status),
            Ok(Ok(status)) => last = format!("HTTP status {status}"),
            Ok(Err(why)) => last = why,
            Err(_) => last = format!("no answer within {:?}", ATTEMPT_TIMEOUT.min(remaining)),
        }
        if attempt < policy.attempts {
            tokio::time::sleep(policy.interval.min(deadline.saturating_duration_since(tokio::time::Instant::now())))
                .await;
        }
    }
    Err(format!("health check GET {path} on 127.0.0.1:{port} failed: {last} ({made} attempt(s))"))
}

/// Probes until the first success, until `timeout` has passed, or until `process` exits, whichever comes first.
pub async fn wait_ready(
    service: &str,
    readiness: &Readiness,
    process: &ProcessHandle,
    timeout: Duration,
) -> Result<(), ServiceError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = "not probed yet".to_owned();
    loop {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        if remaining.is_zero() {
            return Err(ServiceError::NotReady {
                service: service.to_owned(),
                probe: readiness.to_string(),
                waited: timeout,
                last,
            });
        }
        tokio::select! {
            exit = process.wait() => {
                return Err(ServiceError::ExitedBeforeReady { service: service.to_owned(), exit });
            }
            result = probe_readiness(readiness, ATTEMPT_TIMEOUT.min(remaining)) => match result {
                Ok(()) => return Ok(()),
                Err(why) => last = why,
            },
        }
        tokio::select! {
            exit = process.wait() => {
                return Err(ServiceError::ExitedBeforeReady { service: service.to_owned(), exit });
            }
            () = tokio::time::sleep(PROBE_INTERVAL.min(remaining)) => {}
        }
    }
}
