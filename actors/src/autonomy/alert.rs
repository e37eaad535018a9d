//! Case 5: during an ecosystem emergency hive writes nothing but one alert issue in the configured repository
//! (closed when the emergency clears; a human's close of it is respected until the next emergency) and the recovery
//! from the emergency's own causes, which governance lets through.

use hive_cerebrum::{
    governance::{ActionKind, WriteProposal},
    quote,
};

use super::{
    HIVE_LABEL, Observation, Step, Steward,
    case::{self, AlertCase, AlertState, NoData},
    step::{self, Alert, AlertLook, Found, IssueWrite, Sent},
    text::{self, issue_marker},
};

/// The label of the emergency alert, besides [`HIVE_LABEL`].
const EMERGENCY_LABEL: &str = "emergency";
const ALERT_KEY: &str = "alert:emergency";
const ALERT_TITLE: &str = "hive: ecosystem emergency";

/// Whether `key` is the idempotency key of a write to the emergency alert (filing, reopening or closing it), for a
/// fence that lets one process alone write it: the fleet's leader, when several nodes share a fleet.
pub fn is_alert_write(key: &str) -> bool {
    [ActionKind::EmergencyAlert, ActionKind::CloseIssue].iter().any(|kind| {
        let base = alert_write_key(*kind, None);
        key.strip_prefix(base.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
    })
}

/// The idempotency key of the alert's write of `kind`, in the episode of the issue it changes, if any. Filing,
/// reopening and closing the one alert again and again are writes of their own: a key shared by them would make
/// the fleet's stream of writes take an emergency declared again soon after for the one before, and refuse its
/// reopening. Every node reads the same episode from the forge, so the same write keeps one key on every node.
fn alert_write_key(kind: ActionKind, episode: Option<&str>) -> String {
    match episode {
        Some(episode) => format!("{}:{ALERT_KEY}:{episode}", kind.as_str()),
        None => format!("{}:{ALERT_KEY}", kind.as_str()),
    }
}

/// The episode of the alert issue a reopening or a close changes: its number, and when it was closed (each
/// reopening follows a close of its own) or, for a close, when it last changed (a reopening changes it).
fn episode(issue: &hive_forge::IssueDetail, kind: ActionKind) -> String {
    let at = match kind {
        ActionKind::CloseIssue => issue.updated_at.as_str(),
        _ => issue.closed_at.as_deref().unwrap_or_default(),
    };
    format!("#{}@{at}", issue.number)
}

impl Steward {
    /// Case 5: during an emergency, one issue in the alert repository; closed when the emergency is over.
    pub(crate) async fn alert(&mut self, observed: &[Observation]) -> Result<(), super::AutonomyError> {
        if !self.caps.issues {
            if self.emergency().active {
                let why = format!("emergency: the {} forge has no issues to file the alert in", self.forge.name());
                self.report.errors.push(why);
            }
            return Ok(());
        }
        let Some(alert_repo) = self.config.alert_repo.clone() else {
            if self.emergency().active {
                self.report.errors.push("emergency: no alert repository configured (--alert-repo)".to_owned());
            }
            return Ok(());
        };
        let stored = self.memory(|m| case::load::<AlertState, NoData>(m, ALERT_KEY)).await?.map(|c| c.state);
        match step::alert_look(self.emergency().active, stored) {
            AlertLook::Idle => return Ok(()),
            // The emergency a human closed the alert for is over; the next one gets an alert again.
            AlertLook::Unmute => return self.remember_alert(&alert_repo.to_string(), None, AlertState::Closed).await,
            AlertLook::LookUp => {}
        }
        let result = self.alert_step(&alert_repo, observed, stored).await;
        match result {
            Ok(()) => Ok(()),
            Err(Step::Forge(message)) => {
                let message = self.redactor.redact(&message).into_owned();
                self.report.errors.push(format!("{alert_repo}: {message}"));
                Ok(())
            }
            Err(Step::Fatal(err)) => Err(err),
        }
    }

    async fn alert_step(
        &mut self,
        alert_repo: &hive_forge::RepoId,
        observed: &[Observation],
        stored: Option<AlertState>,
    ) -> Result<(), Step> {
        let repo = alert_repo.to_string();
        let marker = issue_marker(ALERT_KEY);
        let known = self.forge.issues_labelled(alert_repo, HIVE_LABEL).await?;
        let found = known.iter().find(|i| i.title == ALERT_TITLE && text::has_marker(&i.body, &marker)).cloned();
        let episode = |kind| found.as_ref().map(|issue| episode(issue, kind));
        let proposal = |kind: ActionKind, target: Option<String>, episode: Option<String>| WriteProposal {
            kind,
            repo: repo.clone(),
            key: alert_write_key(kind, episode.as_deref()),
            target,
            risk: kind.base_risk(),
            checks: None,
            approval_id: ALERT_KEY.to_owned(),
            remedy: None,
        };
        let active = self.emergency().active;
        let number = found.as_ref().map(|i| i.number);
        let step = step::alert(active, stored, Found::of(found.as_ref().map(|i| i.state.as_str())));
        let (write, gate) = match step {
            Alert::Nothing => return Ok(()),
            Alert::Adopt => return Ok(self.remember_alert(&repo, number, AlertState::Open).await?),
            // A human closed the alert during the emergency: not reopened until the next emergency.
            Alert::LeaveClosed => return Ok(self.remember_alert(&repo, number, AlertState::ClosedByHuman).await?),
            Alert::Closed => return Ok(self.remember_alert(&repo, None, AlertState::Closed).await?),
            Alert::Close => {
                let number = number.expect("an alert is closed only when found open");
                self.remember_alert(&repo, Some(number), AlertState::Closing).await?;
                let forge = self.forge.clone();
                let id = alert_repo.clone();
                let gate = self
                    .governed(
                        proposal(
                            ActionKind::CloseIssue,
                            Some(format!("{repo}#{number}")),
                            episode(ActionKind::CloseIssue),
                        ),
                        move |_| async move { forge.close_issue(&id, number).await },
                        |_| format!("#{number} closed"),
                    )
                    .await?;
                (IssueWrite::Close, Sent::from(&gate))
            }
            Alert::Reopen => {
                let number = number.expect("an alert is reopened only when found closed");
                self.remember_alert(&repo, Some(number), AlertState::Reopening).await?;
                let forge = self.forge.clone();
                let id = alert_repo.clone();
                let gate = self
                    .governed(
                        proposal(
                            ActionKind::EmergencyAlert,
                            Some(format!("{repo}#{number}")),
                            episode(ActionKind::EmergencyAlert),
                        ),
                        move |_| async move { forge.reopen_issue(&id, number).await },
                        |_| format!("#{number} reopened"),
                    )
                    .await?;
                (IssueWrite::Reopen, Sent::from(&gate))
            }
            Alert::File => {
                self.remember_alert(&repo, None, AlertState::Opening).await?;
                let text = self.alert_text(observed);
                let forge = self.forge.clone();
                let id = alert_repo.clone();
                let labels = vec![HIVE_LABEL.to_owned(), EMERGENCY_LABEL.to_owned()];
                let gate = self
                    .governed(
                        proposal(ActionKind::EmergencyAlert, None, None),
                        move |d| async move {
                            forge.create_issue(&id, ALERT_TITLE, &text::finish(&text, &marker, &d.html), &labels).await
                        },
                        |issue| format!("#{} {}", issue.number, issue.html_url),
                    )
                    .await?;
                let sent = Sent::from(&gate);
                // The number of the issue filed; a write not sent keeps the one known.
                if let Some(state) = step::alert_after(IssueWrite::File, sent) {
                    self.remember_alert(&repo, gate.done().map(|i| i.number), state).await?;
                }
                return Ok(());
            }
        };
        // Maybe sent: the mark stays for the next cycle to settle with what the forge shows.
        if let Some(state) = step::alert_after(write, gate) {
            self.remember_alert(&repo, number, state).await?;
        }
        Ok(())
    }

    /// The alert issue's body: how many repositories fail, and which (at most 50), secrets redacted.
    fn alert_text(&self, observed: &[Observation]) -> String {
        let snapshots = || observed.iter().map(|o| &*o.snapshot);
        let failing = snapshots().filter(|s| !s.ci.failures.is_empty()).count();
        let mut text = format!(
            "hive declared an ecosystem-wide emergency: {failing} of {} repositories have failing CI. Mutating \
             actions are frozen until it clears, except the recovery from its systemic failures (re-runs of an \
             infrastructure failure, formatter fixes of a format failure).\n",
            observed.len()
        );
        for s in snapshots().filter(|s| !s.ci.failures.is_empty()).take(50) {
            text.push_str(&format!("\n- {}", quote::code(&s.repo.to_string())));
        }
        self.redactor.redact(&text).into_owned()
    }

    /// Remembers the alert as `state`, with `number` (the known one when not given).
    async fn remember_alert(
        &self,
        repo: &str,
        number: Option<u64>,
        state: AlertState,
    ) -> Result<(), super::AutonomyError> {
        let (repo, now) = (repo.to_owned(), self.now_unix);
        self.memory(move |m| {
            let previous = case::load::<AlertState, NoData>(m, ALERT_KEY)?.and_then(|c| c.number);
            case::store(
                m,
                &AlertCase {
                    key: ALERT_KEY.to_owned(),
                    repo,
                    number: number.or(previous),
                    state,
                    fingerprint: None,
                    data: NoData {},
                    updated_at: now,
                },
            )
        })
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alert_writes_are_told_apart_by_their_keys() {
        assert!(is_alert_write("emergency_alert:alert:emergency"));
        assert!(is_alert_write("close_issue:alert:emergency"));
        assert!(is_alert_write("emergency_alert:alert:emergency:#7@2026-01-02T03:04:05Z"));
        assert!(is_alert_write("close_issue:alert:emergency:#7@2026-01-02T03:04:05Z"));
        for other in [
            "alert:emergency",
            "issue:acme/ops:alert:emergency",
            "close_issue:issue:acme/ops:x",
            "close_issue:alert:emergencyx",
            "",
        ] {
            assert!(!is_alert_write(other), "{other}");
        }
    }
}
