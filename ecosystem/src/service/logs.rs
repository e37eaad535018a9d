//! A service's output: every line of stdout and stderr goes into a bounded ring buffer (the recent past, for
//! status) and, when the spec names one, is appended to a log file (the whole story).
//!
//! The ring buffer outlives the processes that write to it, so the lines a crashing process printed before each
//! crash are still there after the restart.

use std::{
    collections::VecDeque,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard},
};

use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader},
    sync::mpsc,
};

/// How many lines a ring buffer keeps by default.
pub const DEFAULT_LOG_LINES: usize = 1_000;

/// Longer lines are split: a process printing without newlines must not grow memory without bound.
const MAX_LINE_BYTES: u64 = 16 * 1024;

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One line of output, without its line terminator (invalid UTF-8 replaced).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Where it came from.
    pub stream: LogStream,
    /// The text.
    pub text: String,
}

/// A bounded ring buffer of output lines, shared by the tasks that read a process's pipes. Cheap to clone; clones
/// share the buffer.
#[derive(Debug, Clone)]
pub struct ServiceLogs {
    inner: Arc<Mutex<Ring>>,
}

#[derive(Debug)]
struct Ring {
    lines: VecDeque<LogLine>,
    capacity: usize,
    dropped: u64,
}

impl ServiceLogs {
    /// A buffer keeping the last `capacity` lines (at least one).
    pub fn new(capacity: usize) -> ServiceLogs {
        let capacity = capacity.max(1);
        let ring = Ring { lines: VecDeque::with_capacity(capacity.min(DEFAULT_LOG_LINES)), capacity, dropped: 0 };
        ServiceLogs { inner: Arc::new(Mutex::new(ring)) }
    }

    /// Adds a line, dropping the oldest when full.
    pub fn push(&self, line: LogLine) {
        let mut ring = self.lock();
        if ring.lines.len() == ring.capacity {
            ring.lines.pop_front();
            ring.dropped += 1;
        }
        ring.lines.push_back(line);
    }

    /// The last `n` lines, oldest first.
    pub fn tail(&self, n: usize) -> Vec<LogLine> {
        let ring = self.lock();
        ring.lines.iter().skip(ring.lines.len().saturating_sub(n)).cloned().collect()
    }

    /// Lines kept now.
    pub fn len(&self) -> usize {
        self.lock().lines.len()
    }

    /// Whether no line is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lines pushed out of the buffer so far (they are still in the log file, if there is one).
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        // A panic while holding this lock cannot leave the ring inconsistent (every update is one push or pop),
        // so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Default for ServiceLogs {
    fn default() -> ServiceLogs {
        ServiceLogs::new(DEFAULT_LOG_LINES)
    }
}

/// Reads one pipe line by line into the ring buffer and, if `file` is set, on to the log file writer. Ends at EOF.
pub(crate) async fn pump(
    pipe: impl AsyncRead + Unpin,
    stream: LogStream,
    logs: ServiceLogs,
    file: Option<mpsc::Sender<Vec<u8>>>,
) {
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader).take(MAX_LINE_BYTES).read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let body = line.strip_suffix(b"\n").unwrap_or(&line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        let text = String::from_utf8_lossy(body).into_owned();
        if let Some(file) = &file {
            let mut raw = body.to_vec();
            raw.push(b'\n');
            // A writer that gave up has dropped its receiver; the ring buffer still gets the line.
            let _ = file.send(raw).await;
        }
        logs.push(LogLine { stream, text });
    }
}

/// Appends lines to `path` (creating its directory), flushing whenever no more lines are waiting so readers of the
/// file see output promptly. A file that cannot be opened is reported in the ring buffer, and lines keep being
/// drained so the pipe readers never stall.
pub(crate) async fn write_log_file(path: PathBuf, mut lines: mpsc::Receiver<Vec<u8>>, logs: ServiceLogs) {
    let mut file = match open_append(&path).await {
        Ok(file) => file,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot open service log file");
            logs.push(LogLine {
                stream: LogStream::Stderr,
                text: format!("hive: cannot write log file '{}': {e}", path.display()),
            });
            while lines.recv().await.is_some() {}
            return;
        }
    };
    while let Some(line) = lines.recv().await {
        let mut result = file.write_all(&line).await;
        while let Ok(more) = lines.try_recv() {
            if result.is_ok() {
                result = file.write_all(&more).await;
            }
        }
        if result.is_ok() {
            result = file.flush().await;
        }
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "service log file write failed");
        }
    }
    let _ = file.flush().await;
}

async fn open_append(path: &Path) -> std::io::Result<tokio::fs::File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir).await?;
    }
    tokio::fs::OpenOptions::new().create(true).append(true).open(path).await
}
