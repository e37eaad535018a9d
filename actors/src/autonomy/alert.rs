//! Case 5: during an ecosystem emergency hive writes nothing but one alert issue in the configured repository
//! (closed when the emergency clears; a human's close of it is respected until the next emergency) and the recovery
//! from the emergency's own causes, which governance lets through.

use hive_cerebrum::{
    Identity,
    governance::{ActionKind, WriteProposal},
    quote,
};

use serde_json::json;

use super::{
    HIVE_LABEL, Observation, Step, Steward,
    gate::Gate,
    text::{self, issue_marker},
};

/// The label of the emergency alert, besides [`HIVE_LABEL`].
const EMERGENCY_LABEL: &str = "emergency";
const ALERT_KEY: &str = "alert:emergency";
const ALERT_TITLE: &str = "hive: ecosystem emergency";

impl Steward {
    /// Case 5: during an emergency, one issue in the alert repository; closed when the emergency is over.
    pub(crate) async fn alert(&mut self, observed: &[Observation]) -> Result<(), super::AutonomyError> {
        let Some(alert_repo) = self.config.alert_repo.clone() else {
            if self.emergency().active {
                self.report.errors.push("emergency: no alert repository configured (--alert-repo)".to_owned());
            }
            return Ok(());
        };
        let identity = self.memory(|m| m.identities().get(ALERT_KEY)).await?;
        let state = identity.as_ref().and_then(|i| i.state.clone()).unwrap_or_default();
        if !self.emergency().active && !matches!(state.as_str(), "open" | "opening" | "reopening" | "closing") {
            if state == "closed_by_human" {
                // The emergency a human closed the alert for is over; the next one gets an alert again.
                self.remember_alert(&alert_repo.to_string(), None, "closed").await?;
            }
            return Ok(());
        }
        let result = self.alert_step(&alert_repo, observed, &state).await;
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
        state: &str,
    ) -> Result<(), Step> {
        let repo = alert_repo.to_string();
        let marker = issue_marker(ALERT_KEY);
        let known = self.forge.issues_labelled(alert_repo, HIVE_LABEL).await?;
        let found = known.iter().find(|i| i.title == ALERT_TITLE && text::has_marker(&i.body, &marker)).cloned();
        let proposal = |kind: ActionKind, target: Option<String>| WriteProposal {
            kind,
            repo: repo.clone(),
            key: format!("{}:{ALERT_KEY}", kind.as_str()),
            target,
            risk: kind.base_risk(),
            checks: None,
            approval_id: ALERT_KEY.to_owned(),
            remedy: None,
        };
        if !self.emergency().active {
            let Some(issue) = found.filter(|i| i.state == "open") else {
                return Ok(self.remember_alert(&repo, None, "closed").await?);
            };
            let number = issue.number;
            self.remember_alert(&repo, Some(number), "closing").await?;
            let forge = self.forge.clone();
            let id = alert_repo.clone();
            let gate = self
                .governed(
                    proposal(ActionKind::CloseIssue, Some(format!("{repo}#{number}"))),
                    move |_| async move { forge.close_issue(&id, number).await },
                    |_| format!("#{number} closed"),
                )
                .await?;
            match gate {
                Gate::Done(_) => self.remember_alert(&repo, Some(number), "closed").await?,
                Gate::Skipped => self.remember_alert(&repo, Some(number), "open").await?,
                Gate::Failed => {}
            }
            return Ok(());
        }
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
        let text = self.redactor.redact(&text).into_owned();
        match found {
            Some(issue) if issue.state == "open" => {
                if state != "open" {
                    self.remember_alert(&repo, Some(issue.number), "open").await?;
                }
                Ok(())
            }
            Some(issue) if state == "open" || state == "closed_by_human" => {
                // A human closed the alert during the emergency: not reopened until the next emergency.
                Ok(self.remember_alert(&repo, Some(issue.number), "closed_by_human").await?)
            }
            Some(issue) => {
                let number = issue.number;
                self.remember_alert(&repo, Some(number), "reopening").await?;
                let forge = self.forge.clone();
                let id = alert_repo.clone();
                let gate = self
                    .governed(
                        proposal(ActionKind::EmergencyAlert, Some(format!("{repo}#{number}"))),
                        move |_| async move { forge.reopen_issue(&id, number).await },
                        |_| format!("#{number} reopened"),
                    )
                    .await?;
                match gate {
                    Gate::Done(_) => self.remember_alert(&repo, Some(number), "open").await?,
                    Gate::Skipped => self.remember_alert(&repo, Some(number), "closed").await?,
                    Gate::Failed => {}
                }
                Ok(())
            }
            None => {
                self.remember_alert(&repo, None, "opening").await?;
                let forge = self.forge.clone();
                let id = alert_repo.clone();
                let labels = vec![HIVE_LABEL.to_owned(), EMERGENCY_LABEL.to_owned()];
                let gate = self
                    .governed(
                        proposal(ActionKind::EmergencyAlert, None),
                        move |d| async move {
                            forge.create_issue(&id, ALERT_TITLE, &text::finish(&text, &marker, &d.html), &labels).await
                        },
                        |issue| format!("#{} {}", issue.number, issue.html_url),
                    )
                    .await?;
                match gate {
                    Gate::Done(issue) => self.remember_alert(&repo, Some(issue.number), "open").await?,
                    Gate::Skipped => self.remember_alert(&repo, None, "closed").await?,
                    Gate::Failed => {}
                }
                Ok(())
            }
        }
    }

    async fn remember_alert(&self, repo: &str, number: Option<u64>, state: &str) -> Result<(), super::AutonomyError> {
        let (repo, state, now) = (repo.to_owned(), state.to_owned(), self.now_unix);
        self.memory(move |m| {
            let previous = m.identities().get(ALERT_KEY)?.and_then(|i| i.number);
            m.identities().put(&Identity {
                key: ALERT_KEY.to_owned(),
                repo,
                kind: "alert".to_owned(),
                number: number.or(previous),
                state: Some(state),
                fingerprint: None,
                data: json!({}),
                updated_at: now,
            })
        })
        .await?;
        Ok(())
    }
}
