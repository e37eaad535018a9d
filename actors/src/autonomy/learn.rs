//! LEARN: the cycle's health history, its summary (markdown for people, JSON for tools) under
//! `<state>/cycles/`, and the backlog export `<state>/backlog.json`, each file written atomically.

use hive_cerebrum::{BACKLOG_FILE, write_atomic};
use hive_ecosystem::RepoSnapshot;

use super::{AutonomyError, CycleReport, Steward};

impl Steward {
    pub(crate) async fn learn(&mut self, snapshots: &[RepoSnapshot]) -> Result<(), AutonomyError> {
        let (cycle, at) = (self.report.cycle, self.now_unix);
        let scores: Vec<(String, u8, &'static str)> = snapshots
            .iter()
            .map(|s| {
                let breakdown = hive_ecosystem::score(s);
                (s.repo.to_string(), breakdown.score, if breakdown.healthy { "healthy" } else { "unhealthy" })
            })
            .collect();
        let backlog = self.config.state_dir.join(BACKLOG_FILE);
        self.memory(move |m| {
            let mut history = m.history();
            for (repo, score, level) in &scores {
                history.record(cycle, repo, *score, level, at)?;
            }
            m.ledger().export(&backlog, Some(cycle)).map(drop)
        })
        .await?;
        let dir = self.config.state_dir.join("cycles");
        std::fs::create_dir_all(&dir).map_err(|source| AutonomyError::Io { path: dir.clone(), source })?;
        let markdown = self.redactor.redact(&summary(&self.report)).into_owned();
        let json = serde_json::to_string_pretty(&self.report).unwrap_or_default();
        let json = self.redactor.redact(&json).into_owned();
        for (name, content) in [(format!("{cycle:06}.md"), markdown), (format!("{cycle:06}.json"), json)] {
            let path = dir.join(name);
            write_atomic(&path, content.as_bytes()).map_err(|source| AutonomyError::Io { path, source })?;
        }
        Ok(())
    }
}

/// The run summary: what was done, what was not and why (limits, approvals), what failed.
pub fn summary(report: &CycleReport) -> String {
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
