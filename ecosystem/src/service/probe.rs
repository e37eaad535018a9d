//! Readiness probes: a TCP connect or an HTTP `GET`, always to `127.0.0.1`, each attempt under a timeout.
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

/// One probe attempt. `Err` says why it is not ready (yet).
pub async fn probe_readiness(readiness: &Readiness, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, attempt(readiness)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

async fn attempt(readiness: &Readiness) -> Result<(), String> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, readiness.port())).await.map_err(|e| e.to_string())?;
    let Readiness::Http { port, path } = readiness else { return Ok(()) };
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
    let status = line
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("HTTP/"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("not an HTTP answer: {:?}", line.lines().next().unwrap_or("")))?;
    if (200..400).contains(&status) { Ok(()) } else { Err(format!("HTTP status {status}")) }
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
