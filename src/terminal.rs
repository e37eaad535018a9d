//! Text bound for the terminal: everything the binary prints that it did not write itself (names from forges and
//! repositories, error chains that quote them, log records) goes through one [`Redactor`] here.
//!
//! Repository-controlled text can carry escape sequences that retitle the terminal, clear it or fake earlier output,
//! and CI names can carry tokens (the token hive runs with among them). Human output is cleaned and redacted;
//! `--json` output keeps text as data (JSON escapes every control character) with secrets redacted.

use std::{
    io,
    sync::{LazyLock, OnceLock},
};

use hive::cerebrum::{Redactor, quote::is_unsafe_char};
use serde_json::Value;

/// The environment variables that hold secrets hive was configured with.
pub const SECRET_VARS: [&str; 5] =
    ["GITHUB_TOKEN", "GH_TOKEN", "HIVE_API_TOKEN", "HIVE_AGENTS_GITHUB_TOKEN", "HIVE_GITHUB_WEBHOOK_SECRET"];

/// One redactor per process: the known secrets do not change while hive runs.
static REDACTOR: LazyLock<Redactor> = LazyLock::new(|| Redactor::new(secrets()));

/// The process's redactor, for library code that records text (the audit trail) on the binary's behalf.
pub fn redactor() -> &'static Redactor {
    &REDACTOR
}

/// Secrets from elsewhere than [`SECRET_VARS`] (the API token the configuration file points at), known before
/// anything is printed.
static CONFIGURED: OnceLock<Vec<String>> = OnceLock::new();

/// Makes `values` secrets for everything printed; called once, when the configuration is resolved, before the
/// first line is printed or logged.
pub fn add_secrets(values: Vec<String>) {
    if CONFIGURED.set(values).is_err() {
        tracing::warn!("configured secrets were registered twice; the first ones are redacted");
    }
}

/// The secrets the configuration named (an API token or an organisation's GitHub token from `token_env` or
/// `token_file`, a language model's key).
pub fn configured_secrets() -> Vec<String> {
    CONFIGURED.get().into_iter().flatten().filter(|value| !value.is_empty()).cloned().collect()
}

/// The values of [`SECRET_VARS`] that are set in the process environment, and the configured secrets.
pub fn secrets() -> Vec<String> {
    let mut secrets = crate::resolve::secrets(|key| std::env::var(key).ok());
    secrets.extend(configured_secrets());
    secrets
}

/// Outside text as part of one line of output: no escape sequences, control or bidirectional formatting
/// characters (newlines included), no secrets.
pub fn line(text: &str) -> String {
    REDACTOR.terminal_line(text)
}

/// Outside text of several lines (an error chain): like [`line`], but newlines and tabs stay.
pub fn text(text: &str) -> String {
    REDACTOR.terminal_text(text)
}

/// A JSON document as one line for stdout: secrets redacted in every string, and every control or bidirectional
/// formatting character escaped as `\uXXXX`. serde_json escapes only C0 controls, so an 8-bit CSI (U+009B) or a
/// right-to-left override would otherwise reach the terminal raw. The data itself is kept: a consumer of `--json`
/// decodes the names as the forge gave them, minus the secrets.
pub fn json_line(mut value: Value) -> serde_json::Result<String> {
    redact_json(&mut value);
    let text = serde_json::to_string(&value)?;
    // Outside strings serde_json writes only ASCII punctuation, so every such character is inside a string.
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_unsafe_char(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Every string in a JSON document (keys too) with its secrets redacted.
pub fn redact_json(value: &mut Value) {
    match value {
        Value::String(text) => {
            if let std::borrow::Cow::Owned(redacted) = REDACTOR.redact(text) {
                *text = redacted;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut item) in entries {
                redact_json(&mut item);
                map.insert(REDACTOR.redact(&key).into_owned(), item);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Whether output to `stream` may be coloured: only on a terminal, and never when `NO_COLOR` is set to anything
/// but the empty string (<https://no-color.org>).
pub fn colour(stream: &impl io::IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A progress bar on stderr for `len` steps (`what` says of what), drawn only when stderr is a terminal: a log file,
/// a pipe or CI's output gets nothing. Plain text, so `NO_COLOR` has nothing to turn off.
pub fn progress(len: usize, what: &'static str) -> indicatif::ProgressBar {
    if !io::IsTerminal::is_terminal(&io::stderr()) {
        return indicatif::ProgressBar::hidden();
    }
    let style = indicatif::ProgressStyle::with_template("{spinner} {msg} {pos}/{len} [{elapsed}]")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
    let bar = indicatif::ProgressBar::new(len as u64).with_style(style).with_message(what);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// `hive run`'s progress through each cycle: the repositories read in the cycle under way, as a [`progress`] bar on
/// stderr (so only on a terminal), started when a cycle starts and cleared when it completes. Off for `--json`, whose
/// reader wants JSON alone.
pub struct CycleProgress {
    on: bool,
    /// The cycle under way and its bar; `None` between cycles.
    bar: Option<(u64, indicatif::ProgressBar)>,
}

impl CycleProgress {
    /// Progress for a fleet whose cycles are followed; drawn only when `on` (and stderr is a terminal).
    pub fn new(on: bool) -> CycleProgress {
        CycleProgress { on, bar: None }
    }

    /// Follows `event`: a cycle started (a bar for `fleet` repositories), the cycle under way progressed (as many
    /// as it says answered, of as many as it asked), or the cycle completed (the bar cleared).
    pub fn follow(&mut self, event: &hive::HiveEvent, fleet: usize) {
        use hive::HiveEvent::{CycleCompleted, CycleProgressed, CycleStarted};
        match event {
            CycleStarted { cycle, asked, kind } if self.on => {
                self.clear();
                // A full cycle reads the fleet; one between reconciliations or a refresh reads the few it asked.
                let reading = if *kind == hive::cerebrum::CycleKind::Full { fleet } else { *asked };
                if reading > 0 {
                    self.bar = Some((*cycle, progress(reading, "repositories read")));
                }
            }
            CycleProgressed { cycle, answered, asked } => {
                if let Some((_, bar)) = self.bar.as_ref().filter(|(under_way, _)| under_way == cycle) {
                    bar.set_length(*asked as u64);
                    bar.set_position(*answered as u64);
                }
            }
            CycleCompleted { .. } => self.clear(),
            _ => {}
        }
    }

    /// Runs `print` with the bar off the screen, so a line printed mid-cycle is not drawn over.
    pub fn suspend<R>(&self, print: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some((_, bar)) => bar.suspend(print),
            None => print(),
        }
    }

    fn clear(&mut self) {
        if let Some((_, bar)) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for CycleProgress {
    fn drop(&mut self) {
        // A stop mid-cycle leaves no half-drawn bar behind on the terminal.
        self.clear();
    }
}

/// Whether `err` is a write to a pipe whose reader went away (`hive ... | head -1`): not a failure of hive's.
pub fn is_closed_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| cause.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe))
}

/// Whether a panic's message is `println!`'s on a pipe whose reader went away: the one panic the standard library
/// raises for it, with the operating system's text for `EPIPE`.
pub fn is_closed_pipe_panic(message: &str) -> bool {
    let epipe = io::Error::from_raw_os_error(nix::errno::Errno::EPIPE as i32).to_string();
    message.strip_prefix("failed printing to stdout: ").is_some_and(|rest| rest == epipe)
}

/// Where log records go: stderr, each record redacted. The formatter already escapes `ESC`, `BEL` and C1 controls in
/// field values; secrets are what it cannot know.
pub struct LogWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = RedactingStderr;

    fn make_writer(&'a self) -> RedactingStderr {
        RedactingStderr
    }
}

/// Writes one formatted log record to stderr with its secrets redacted. The formatter hands over each record in one
/// `write_all` call, so a secret is never split between two writes.
pub struct RedactingStderr;

impl io::Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let record = String::from_utf8_lossy(buf);
        io::stderr().lock().write_all(REDACTOR.redact(&record).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycle_progress_follows_the_progress_of_the_cycle_under_way_only() {
        use hive::HiveEvent::{CycleProgressed, CycleStarted};
        let mut progress = CycleProgress::new(true);
        let shown = |p: &CycleProgress| p.bar.as_ref().map(|(cycle, bar)| (*cycle, bar.position(), bar.length()));
        progress.follow(&CycleStarted { cycle: 1, asked: 8, kind: hive::cerebrum::CycleKind::Full }, 10);
        // Off a terminal (as here) the bar is hidden and has no length until progress gives it one.
        assert_eq!(shown(&progress).map(|(cycle, position, _)| (cycle, position)), Some((1, 0)));
        progress.follow(&CycleProgressed { cycle: 1, answered: 3, asked: 8 }, 10);
        assert_eq!(shown(&progress), Some((1, 3, Some(8))), "as many as the queen asked");
        progress.follow(&CycleProgressed { cycle: 2, answered: 7, asked: 8 }, 10);
        assert_eq!(shown(&progress), Some((1, 3, Some(8))), "another cycle's progress is not this one's");
        progress.follow(&CycleStarted { cycle: 2, asked: 8, kind: hive::cerebrum::CycleKind::Full }, 10);
        assert_eq!(shown(&progress).map(|(cycle, position, _)| (cycle, position)), Some((2, 0)), "a new bar");

        // A quiet cycle that asked nobody draws no bar; a refresh draws one as long as what it asked.
        let quiet = hive::cerebrum::CycleKind::Quiet;
        progress.follow(&CycleStarted { cycle: 3, asked: 0, kind: quiet }, 10);
        assert!(progress.bar.is_none());
        progress.follow(&CycleStarted { cycle: 4, asked: 2, kind: hive::cerebrum::CycleKind::Refresh }, 10);
        assert_eq!(shown(&progress).map(|(cycle, position, _)| (cycle, position)), Some((4, 0)));

        let mut off = CycleProgress::new(false);
        off.follow(&CycleStarted { cycle: 1, asked: 8, kind: hive::cerebrum::CycleKind::Full }, 10);
        off.follow(&CycleProgressed { cycle: 1, answered: 3, asked: 8 }, 10);
        assert!(off.bar.is_none(), "--json draws nothing");
    }

    #[test]
    fn a_closed_pipe_is_recognised_as_an_error_and_as_println_s_panic() {
        let closed = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe)).context("writing the table");
        assert!(is_closed_pipe(&closed));
        assert!(!is_closed_pipe(&anyhow::Error::new(io::Error::from(io::ErrorKind::PermissionDenied))));
        let epipe = io::Error::from_raw_os_error(nix::errno::Errno::EPIPE as i32);
        assert!(is_closed_pipe_panic(&format!("failed printing to stdout: {epipe}")));
        assert!(!is_closed_pipe_panic(&format!("failed printing to stderr: {epipe}")));
        assert!(!is_closed_pipe_panic("failed printing to stdout: Permission denied (os error 13)"));
    }

    #[test]
    fn json_strings_and_keys_are_redacted_and_structure_kept() {
        let ghp = format!("ghp_{}", "Ab1".repeat(12));
        let value = serde_json::json!({
            "job": format!("test \u{1b}[2J\u{9b}2J\u{202e}{ghp}"),
            "list": [format!("https://u:pw@h/{ghp}"), 3, null],
            ghp.clone(): true,
        });
        let text = json_line(value).expect("serialises");
        assert!(!text.contains(&ghp) && !text.contains("u:pw"), "{text}");
        assert!(!text.chars().any(is_unsafe_char), "{text:?}");
        let value: Value = serde_json::from_str(&text).expect("still json");
        assert_eq!(value["job"], "test \u{1b}[2J\u{9b}2J\u{202e}[REDACTED]");
        assert_eq!(value["list"][1], 3);
        assert_eq!(value["[REDACTED]"], true);
    }
}
