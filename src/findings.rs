//! Findings: what a one-shot command found that its caller asked to fail on (`--fail-on unhealthy|emergency`, an
//! emergency for `hive emergency-scan`, `hive validate --fail-on error|warning`). `main` exits 3 for a [`Findings`]
//! error, so cron and CI can tell "the fleet needs attention" (3) from "hive could not look" (1) and "the command is
//! wrong" (2).

use std::fmt;

use hive::cerebrum::EmergencyReason;

use crate::cli::FailOn;

/// The exit code of findings.
pub const EXIT_FINDINGS: u8 = 3;

/// What was found, said in one line.
#[derive(Debug)]
pub struct Findings(String);

impl fmt::Display for Findings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Findings {}

impl Findings {
    /// Findings said in `message` (made one clean line), as the error `main` turns into exit 3.
    pub fn error(message: &str) -> anyhow::Error {
        anyhow::Error::new(Findings(crate::terminal::line(message)))
    }

    /// Whether `err` (or anything in its chain) is findings.
    pub fn is_findings(err: &anyhow::Error) -> bool {
        err.chain().any(|cause| cause.is::<Findings>())
    }
}

/// What a one-shot look at the fleet saw, as far as `--fail-on` is concerned.
pub struct Verdicts<'a> {
    /// Repositories whose verdict is unhealthy.
    pub unhealthy: Vec<&'a str>,
    /// Repositories without a verdict (never read, or their read failed).
    pub unknown: Vec<&'a str>,
    /// The emergency triggers that hold; `None` when they were not evaluated.
    pub emergency: Option<&'a [EmergencyReason]>,
}

impl Verdicts<'_> {
    /// `Err(Findings)` when what `fail_on` names was found. Every item is named, so the one line on stderr says what
    /// to look at.
    pub fn check(&self, fail_on: &[FailOn]) -> anyhow::Result<()> {
        let mut found = Vec::new();
        if fail_on.contains(&FailOn::Emergency)
            && let Some(reasons) = self.emergency.filter(|reasons| !reasons.is_empty())
        {
            let causes: Vec<String> = reasons.iter().map(ToString::to_string).collect();
            found.push(format!("emergency: {}", causes.join("; ")));
        }
        if fail_on.contains(&FailOn::Unhealthy) {
            if !self.unhealthy.is_empty() {
                found.push(format!("{} unhealthy: {}", count(self.unhealthy.len()), self.unhealthy.join(", ")));
            }
            if !self.unknown.is_empty() {
                found.push(format!("{} without a verdict: {}", count(self.unknown.len()), self.unknown.join(", ")));
            }
        }
        if found.is_empty() {
            return Ok(());
        }
        Err(Findings::error(&found.join("; ")))
    }
}

fn count(n: usize) -> String {
    if n == 1 { "1 repository".to_owned() } else { format!("{n} repositories") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_was_asked_for_fails() {
        let reasons = [EmergencyReason::Forced];
        let all = Verdicts { unhealthy: vec!["a/b"], unknown: vec!["a/c", "a/d"], emergency: Some(&reasons) };
        let calm = Verdicts { unhealthy: vec![], unknown: vec![], emergency: Some(&[]) };
        let unscanned = Verdicts { unhealthy: vec![], unknown: vec![], emergency: None };
        for (verdicts, fail_on, expected) in [
            (&all, &[][..], None),
            (
                &all,
                &[FailOn::Unhealthy][..],
                Some("1 repository unhealthy: a/b; 2 repositories without a verdict: a/c, a/d"),
            ),
            (&all, &[FailOn::Emergency][..], Some("emergency: emergency mode forced by configuration")),
            (&calm, &[FailOn::Unhealthy, FailOn::Emergency][..], None),
            (&unscanned, &[FailOn::Emergency][..], None),
        ] {
            let result = verdicts.check(fail_on);
            match expected {
                None => assert!(result.is_ok(), "{fail_on:?}: {result:?}"),
                Some(text) => {
                    let err = result.expect_err(text);
                    assert!(Findings::is_findings(&err), "{err:#}");
                    assert_eq!(err.to_string(), text);
                }
            }
        }
    }
}
