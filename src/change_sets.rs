//! Change sets inside a running hive: [`Hive::apply_change`] and the rest, through the hive's own database writer
//! and the autonomy loop's forge and policy (the kill switch, the emergency and each repository's level as the
//! steward holds them at each write).

use hive_changes::{ChangeBook, ChangeId, ChangeRecord, ChangeSpec, Plan};

use crate::{Hive, HiveError};

impl Hive {
    /// What `spec` would change in each repository; nothing is written to a forge.
    pub async fn plan_change(&self, spec: &ChangeSpec) -> Result<Plan, HiveError> {
        Ok(self.changes_engine()?.plan(spec).await?)
    }

    /// Makes the change set `spec` asks for (or resumes it, when it is open already) and moves it on as far as it
    /// can go now; `by` is who asked, for the audit trail.
    pub async fn apply_change(&self, spec: &ChangeSpec, by: &str) -> Result<ChangeRecord, HiveError> {
        Ok(self.changes_engine()?.acting_as(by).apply(spec).await?)
    }

    /// The id [`Hive::apply_change`] would give `spec` now.
    pub async fn next_change_id(&self, spec: &ChangeSpec) -> Result<ChangeId, HiveError> {
        Ok(self.changes_engine()?.next(spec).await?.0)
    }

    /// Applies `spec` and keeps moving the set on while it waits (for checks, a review), looking every minute, until
    /// it settles or `patience` passes.
    pub async fn drive_change(
        &self,
        spec: &ChangeSpec,
        by: &str,
        patience: std::time::Duration,
    ) -> Result<ChangeRecord, HiveError> {
        let engine = self.changes_engine()?.acting_as(by);
        let record = engine.apply(spec).await?;
        if !record.state.moves() {
            return Ok(record);
        }
        let deadline = tokio::time::Instant::now() + patience;
        Ok(engine.run_until(&record.id, deadline, std::time::Duration::from_secs(60)).await?)
    }

    /// Moves the set `id` on: its checks looked at again, what may be merged merged, a rollback carried on.
    pub async fn resume_change(&self, id: &ChangeId, by: &str) -> Result<ChangeRecord, HiveError> {
        Ok(self.changes_engine()?.acting_as(by).resume(id).await?)
    }

    /// Stops the set `id` before any merge: its pull requests closed, its repositories let go.
    pub async fn abort_change(&self, id: &ChangeId, by: &str) -> Result<ChangeRecord, HiveError> {
        Ok(self.changes_engine()?.acting_as(by).abort(id).await?)
    }

    /// Rolls the set `id` back: what is not merged closed, what is merged reverted.
    pub async fn rollback_change(&self, id: &ChangeId, by: &str) -> Result<ChangeRecord, HiveError> {
        Ok(self.changes_engine()?.acting_as(by).rollback(id).await?)
    }

    /// The set `id`.
    pub async fn change(&self, id: &ChangeId) -> Result<ChangeRecord, HiveError> {
        Ok(self.change_book()?.get(id).await?)
    }

    /// Every change set, newest first.
    pub async fn changes(&self) -> Result<Vec<ChangeRecord>, HiveError> {
        Ok(self.change_book()?.list().await?)
    }

    pub(crate) fn changes_engine(&self) -> Result<&hive_changes::ChangeEngine, HiveError> {
        self.changes.as_deref().ok_or(HiveError::NoChanges)
    }

    fn change_book(&self) -> Result<ChangeBook, HiveError> {
        self.scribe.clone().map(ChangeBook::new).ok_or(HiveError::NoChanges)
    }
}
