//! Files kept in step inside a running hive: the pilots' drift check over the `[[sync]]` declarations, and
//! [`Hive::sync_push`] / [`Hive::push_continuous`], which make their change sets through [`Hive::apply_change`]
//! (the steward's live policy: kill switch, emergency, each repository's level).
//!
//! A continuous sync is pushed by whoever runs the hive after a cycle closes, never from the bus: the set's id is a
//! hash of what it does, so pushing again resumes it, and a sync with nothing behind makes none.

use std::sync::Arc;

use hive_actors::DriftCheck;
use hive_changes::{ChangeEngine, ChangeError, SyncDecl, SyncPush, SyncStatus, SyncWatch};
use hive_forge::{RepoSnapshot, SyncDrift};

use crate::{Hive, HiveError};

/// The pilots' drift check: a [`SyncWatch`] over the declarations.
struct Drift(SyncWatch);

#[async_trait::async_trait]
impl DriftCheck for Drift {
    async fn drift(&self, snapshot: &RepoSnapshot) -> Option<Vec<SyncDrift>> {
        self.0.drift(snapshot).await
    }
}

/// The drift check pilots get when syncs are declared.
pub(crate) fn drift_check(engine: &ChangeEngine, decls: Vec<SyncDecl>) -> Arc<dyn DriftCheck> {
    Arc::new(Drift(SyncWatch::new(engine, decls)))
}

impl Hive {
    /// The `[[sync]]` declarations this hive keeps.
    pub fn sync_declarations(&self) -> &[SyncDecl] {
        &self.syncs
    }

    /// Where every file of the declaration `name` stands in every repository it names.
    pub async fn sync_status(&self, name: &str) -> Result<SyncStatus, HiveError> {
        let decl = self.sync_decl(name)?;
        Ok(self.changes_engine()?.sync_status(decl).await?)
    }

    /// Pushes the declaration `name`: one change set over the repositories with files behind or missing (files in
    /// conflict or ahead left alone), made through [`Hive::apply_change`]; `by` is who asked.
    pub async fn sync_push(&self, name: &str, by: &str) -> Result<SyncPush, HiveError> {
        let decl = self.sync_decl(name)?;
        let engine = self.changes_engine()?.acting_as(by);
        let status = engine.sync_status(decl).await?;
        let mut push = engine.sync_found(decl, &status).await?;
        if let Some(spec) = SyncDecl::push_spec(decl, &status) {
            match self.apply_change(&spec, by).await {
                Ok(record) => {
                    push.recorded += engine.sync_expect(decl, &status, &record).await?;
                    push.change = Some(record);
                }
                Err(HiveError::Change(err)) if matches!(*err, ChangeError::NoChange { .. }) => {}
                Err(err) => return Err(err),
            }
        } else {
            push.recorded += engine.settle_syncs().await?;
        }
        Ok(push)
    }

    /// Pushes every continuous declaration, when the autonomy loop may write (as configured, or as the kill switch
    /// says now): a set that cannot write would only hold its repositories. Each declaration's outcome, by name.
    pub async fn push_continuous(&self, by: &str) -> Vec<(String, Result<SyncPush, HiveError>)> {
        let on = self.steward.as_ref().and_then(|s| s.autonomy_override()).unwrap_or(self.autonomy_on);
        if !on {
            return Vec::new();
        }
        let mut out = Vec::new();
        for decl in self.syncs.iter().filter(|d| d.continuous) {
            out.push((decl.name.clone(), self.sync_push(&decl.name, by).await));
        }
        out
    }

    fn sync_decl(&self, name: &str) -> Result<&SyncDecl, HiveError> {
        self.syncs.iter().find(|d| d.name == name).ok_or_else(|| HiveError::NoSync(name.to_owned()))
    }
}
