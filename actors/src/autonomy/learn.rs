//! LEARN: the cycle's health history, its summary (markdown for people, JSON for tools) under
//! `<state>/cycles/`, and the backlog export `<state>/backlog.json`, each file written atomically.

use super::{AutonomyError, AutonomyReport, Steward};
use hive_cerebrum::{BACKLOG_FILE, MemoryError, write_atomic};

impl Steward {
    pub(crate) async fn learn(&mut self) -> Result<(), AutonomyError> {
        let (cycle, at) = (self.report.cycle, self.now_unix);
        let scores: Vec<(String, u8, &'static str)> = self
            .report
            .health
            .iter()
            .zip(&self.levels)
            .map(|((repo, score), level)| (repo.clone(), *score, *level))
            .collect();
        let backlog = self.config.state_dir.join(BACKLOG_FILE);
        let (dir, keep) = (self.config.state_dir.join("cycles"), self.config.keep_cycles);
        let markdown = self.redactor.redact(&summary(&self.report)).into_owned();
        let json = serde_json::to_string_pretty(&self.report).unwrap_or_default();
        let json = self.redactor.redact(&json).into_owned();
        // One job on the scribe, which runs on the blocking pool: the database and the fsynced files alike.
        self.memory(move |m| {
            m.history().record_all(
                cycle,
                scores.iter().map(|(repo, score, level)| (repo.as_str(), *score, *level)),
                at,
            )?;
            m.ledger().export(&backlog, Some(cycle))?;
            for (name, content) in [(format!("{cycle:06}.md"), markdown), (format!("{cycle:06}.json"), json)] {
                let path = dir.join(name);
                write_atomic(&path, content.as_bytes()).map_err(|source| MemoryError::Io { path, source })?;
            }
            // The retention: a summary too many is no reason to stop the loop, so a failure is only logged.
            if let Some(keep) = keep
                && let Err(err) = hive_support::prune_numbered(&dir, keep, cycle_number)
            {
                tracing::warn!(dir = %dir.display(), "could not prune old cycle summaries: {err}");
            }
            Ok(())
        })
        .await?;
        Ok(())
    }
}

/// The cycle a summary's file name (`000042.md`, `000042.json`) is of.
fn cycle_number(name: &str) -> Option<u64> {
    let (stem, ext) = name.split_once('.')?;
    (matches!(ext, "md" | "json") && stem.bytes().all(|b| b.is_ascii_digit())).then(|| stem.parse().ok())?
}

/// The run summary: what was done, what was not and why (limits, approvals), what failed.
pub fn summary(report: &AutonomyReport) -> String {
    let mut out = format!("# hive cycle {}\n\n", report.cycle);
    if report.emergency {
        out.push_str("**Emergency**: mutating actions are frozen except the emergency alert.\n\n");
    }
    let section = |out: &mut String, title: &str, lines: &[String]| {
        if !lines.is_empty() {
            out.push_str(&format!("## {title}\n\n"));
            for line in lines {
                out.push_str(&format!("- {line}\n"));
            }
            out.push('\n');
        }
    };
    section(&mut out, "Written", &report.writes);
    section(&mut out, "Limits reached", &report.limits_hit);
    section(&mut out, "Awaiting approval", &report.awaiting_approval);
    section(&mut out, "Would do (not written)", &report.would_do);
    section(&mut out, "Errors", &report.errors);
    if report.reconciled > 0 {
        out.push_str(&format!("{} interrupted writes from a previous run were reconciled.\n\n", report.reconciled));
    }
    out.push_str(&format!("{} decisions.\n", report.decisions.len()));
    out
}
