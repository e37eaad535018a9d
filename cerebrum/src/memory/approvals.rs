//! A human's approvals of risky work (high and critical backlog items, protected writes), each with an expiry so an
//! old go-ahead does not cover a changed situation. Every approval is also an audit record.

use std::{
    path::Path,
    time::{Duration, UNIX_EPOCH},
};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{AuditEntry, AuditTrail, MemoryError};

/// One approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// What is approved: a backlog item id or another key the autonomy loop asks about.
    pub id: String,
    /// Who approved it.
    pub approved_by: String,
    /// When, unix seconds.
    pub approved_at: i64,
    /// Until when, unix seconds (exclusive).
    pub expires_at: i64,
}

impl Approval {
    /// When it expires, RFC 3339 UTC.
    pub fn expires_rfc3339(&self) -> String {
        hive_support::rfc3339(UNIX_EPOCH + Duration::from_secs(u64::try_from(self.expires_at).unwrap_or(0)))
    }
}

/// The approvals of a [`Memory`](super::Memory), from [`Memory::approvals`](super::Memory::approvals).
#[derive(Debug)]
pub struct Approvals<'m> {
    conn: &'m mut Connection,
    path: &'m Path,
}

impl<'m> Approvals<'m> {
    pub(crate) fn new(conn: &'m mut Connection, path: &'m Path) -> Self {
        Self { conn, path }
    }

    /// Records that `by` approved `id` for `ttl_secs` from `now_unix` (replacing an earlier approval of the same
    /// id), together with an audit record (actor `human:<by>`, action `approve`), in one transaction.
    pub fn approve(&mut self, id: &str, by: &str, now_unix: i64, ttl_secs: u64) -> Result<Approval, MemoryError> {
        let approval = Approval {
            id: id.to_owned(),
            approved_by: by.to_owned(),
            approved_at: now_unix,
            expires_at: now_unix.saturating_add(i64::try_from(ttl_secs).unwrap_or(i64::MAX)),
        };
        let path = self.path;
        let sql = |source| MemoryError::sqlite(path, source);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        tx.execute(
            "INSERT INTO approvals (id, approved_by, approved_at, expires_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO UPDATE SET approved_by = excluded.approved_by, approved_at = excluded.approved_at,
               expires_at = excluded.expires_at",
            params![approval.id, approval.approved_by, approval.approved_at, approval.expires_at],
        )
        .map_err(sql)?;
        let entry = AuditEntry {
            actor: format!("human:{by}"),
            repositories: Vec::new(),
            action: "approve".to_owned(),
            result: format!("approved '{id}' until {}", approval.expires_rfc3339()),
            decision: "human approval".to_owned(),
        };
        AuditTrail::append_in(&tx, &entry).map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(approval)
    }

    /// Withdraws the approval of `id` (recorded as an audit record, actor `human:<by>`, action `revoke`, in the same
    /// transaction) and returns it; `None`, with nothing recorded, when `id` was never approved.
    pub fn revoke(&mut self, id: &str, by: &str) -> Result<Option<Approval>, MemoryError> {
        let path = self.path;
        let sql = |source| MemoryError::sqlite(path, source);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        let found = tx
            .query_row("SELECT id, approved_by, approved_at, expires_at FROM approvals WHERE id = ?1", [id], |r| {
                Ok(Approval { id: r.get(0)?, approved_by: r.get(1)?, approved_at: r.get(2)?, expires_at: r.get(3)? })
            })
            .optional()
            .map_err(sql)?;
        let Some(approval) = found else { return Ok(None) };
        tx.execute("DELETE FROM approvals WHERE id = ?1", [id]).map_err(sql)?;
        let entry = AuditEntry {
            actor: format!("human:{by}"),
            repositories: Vec::new(),
            action: "revoke".to_owned(),
            result: format!("revoked the approval of '{id}' by {}", approval.approved_by),
            decision: "human approval withdrawn".to_owned(),
        };
        AuditTrail::append_in(&tx, &entry).map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(Some(approval))
    }

    /// Whether `id` is approved at `now_unix`: an approval exists and has not expired.
    pub fn is_approved(&self, id: &str, now_unix: i64) -> Result<bool, MemoryError> {
        let expires: Option<i64> = self
            .conn
            .query_row("SELECT expires_at FROM approvals WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(|e| self.sql(e))?;
        Ok(expires.is_some_and(|at| now_unix < at))
    }

    /// Every approval, expired ones included, newest first.
    pub fn list(&self) -> Result<Vec<Approval>, MemoryError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, approved_by, approved_at, expires_at FROM approvals ORDER BY approved_at DESC, id")
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Approval { id: r.get(0)?, approved_by: r.get(1)?, approved_at: r.get(2)?, expires_at: r.get(3)? })
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.sql(e))
    }

    fn sql(&self, source: rusqlite::Error) -> MemoryError {
        MemoryError::sqlite(self.path, source)
    }
}
