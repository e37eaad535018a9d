//! The governed writes: every write hive makes on a forge is reserved under an idempotency key before it is sent and
//! completed after, each step in one transaction with its audit record.
//!
//! The key makes a write happen at most once: a second reservation of the same key finds the first. A row still
//! `reserved` after a restart is a write that may or may not have reached the forge; the caller reconciles it (looks
//! on the forge) instead of sending it again blindly.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params, params_from_iter, types::Value};

use super::{AuditEntry, AuditTrail, MemoryError};
use crate::governance::{ActionKind, Counters, WriteProposal};

text_enum! {
    /// Where a governed write stands.
    WriteState {
        /// Reserved, not known to be finished: sent or about to be sent.
        Reserved => "reserved",
        /// Sent and confirmed.
        Done => "done",
        /// Sent and refused, or not sent because of an error.
        Failed => "failed",
        /// Not sent: hive runs in dry-run mode and records what it would have done.
        WouldDo => "would_do",
    }
}

/// A write to reserve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWrite {
    /// The idempotency key, e.g. `comment:acme/api#3:2026-11-21`: the same key is never written twice.
    pub key: String,
    /// What kind of write, e.g. `open_issue`, `comment`, `open_pull_request`.
    pub kind: String,
    /// The repository, `owner/name`.
    pub repo: String,
    /// What it is written on, e.g. `acme/api#3`.
    pub target: Option<String>,
}

/// A stored write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteRow {
    /// The row id, in reservation order.
    pub id: i64,
    /// The idempotency key.
    pub key: String,
    /// What kind of write.
    pub kind: String,
    /// The repository.
    pub repo: String,
    /// What it is written on.
    pub target: Option<String>,
    /// When it was reserved, unix seconds.
    pub reserved_at: i64,
    /// Where it stands.
    pub state: WriteState,
    /// What came of it (a URL, an error), once completed.
    pub outcome: Option<String>,
}

/// What [`Writes::reserve`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The key was new: this row was written.
    New(WriteRow),
    /// The key was reserved before: nothing was written, this is the earlier row.
    Existing(WriteRow),
}

/// The governed writes of a [`Memory`](super::Memory), from [`Memory::writes`](super::Memory::writes).
#[derive(Debug)]
pub struct Writes<'m> {
    conn: &'m mut Connection,
    path: &'m Path,
}

const COLUMNS: &str = "id, key, kind, repo, target, reserved_at, state, outcome";

impl<'m> Writes<'m> {
    pub(crate) fn new(conn: &'m mut Connection, path: &'m Path) -> Self {
        Self { conn, path }
    }

    /// Inserts the row (state [`WriteState::Reserved`], or [`WriteState::WouldDo`] when `would_do`) and appends
    /// `audit` to the audit trail, in one transaction. When the key exists nothing is written and
    /// [`Reservation::Existing`] is returned.
    pub fn reserve(
        &mut self,
        w: &NewWrite,
        now_unix: i64,
        would_do: bool,
        audit: &AuditEntry,
    ) -> Result<Reservation, MemoryError> {
        let path = self.path;
        let sql = |source| MemoryError::sqlite(path, source);
        // IMMEDIATE: the existence check and the insert must see the same database, and the audit head too.
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        if let Some(existing) = select_one(&tx, path, &w.key)? {
            // Dropping the transaction rolls back; nothing was written.
            return Ok(Reservation::Existing(existing));
        }
        let state = if would_do { WriteState::WouldDo } else { WriteState::Reserved };
        tx.execute(
            "INSERT INTO writes (key, kind, repo, target, reserved_at, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![w.key, w.kind, w.repo, w.target, now_unix, state.as_str()],
        )
        .map_err(sql)?;
        let id = tx.last_insert_rowid();
        AuditTrail::append_in(&tx, audit).map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(Reservation::New(WriteRow {
            id,
            key: w.key.clone(),
            kind: w.kind.clone(),
            repo: w.repo.clone(),
            target: w.target.clone(),
            reserved_at: now_unix,
            state,
            outcome: None,
        }))
    }

    /// Sets the write's state and outcome and appends `audit`, in one transaction. A key that was never reserved
    /// is [`MemoryError::UnknownWrite`], and nothing is written.
    pub fn complete(
        &mut self,
        key: &str,
        state: WriteState,
        outcome: &str,
        audit: &AuditEntry,
    ) -> Result<(), MemoryError> {
        let path = self.path;
        let sql = |source| MemoryError::sqlite(path, source);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        let changed = tx
            .execute("UPDATE writes SET state = ?1, outcome = ?2 WHERE key = ?3", params![state.as_str(), outcome, key])
            .map_err(sql)?;
        if changed == 0 {
            return Err(MemoryError::UnknownWrite { path: path.to_path_buf(), key: key.to_owned() });
        }
        AuditTrail::append_in(&tx, audit).map_err(sql)?;
        tx.commit().map_err(sql)
    }

    /// Rows still [`WriteState::Reserved`], oldest first: writes interrupted between reserve and complete (by a
    /// crash), which the caller reconciles with the forge.
    pub fn unfinished(&self) -> Result<Vec<WriteRow>, MemoryError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM writes WHERE state = 'reserved' ORDER BY id"))
            .map_err(|e| self.sql(e))?;
        let rows = stmt.query_map([], decode).map_err(|e| self.sql(e))?;
        let mut found = Vec::new();
        for row in rows {
            let (key, decoded) = row.map_err(|e| self.sql(e))?;
            found.push(decoded.map_err(|reason| bad(self.path, key, reason))?);
        }
        Ok(found)
    }

    /// The write reserved under `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<WriteRow>, MemoryError> {
        select_one(self.conn, self.path, key)
    }

    /// Whether `id` names a write hive reserved: its key, or the key without the `:c<cycle>` suffix the autonomy
    /// loop adds (the id a proposal asks approval under). Approving an id nothing knows would approve nothing.
    pub fn known(&self, id: &str) -> Result<bool, MemoryError> {
        let found: Option<i64> = self
            .conn
            .query_row(
                "SELECT 1 FROM writes WHERE key = ?1
                 OR (substr(key, 1, length(?1) + 2) = ?1 || ':c' AND length(key) > length(?1) + 2
                     AND substr(key, length(?1) + 3) NOT GLOB '*[^0-9]*')
                 LIMIT 1",
                [id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        Ok(found.is_some())
    }

    /// How many writes were spent since `since_unix` (reserved at or after it, state reserved or done), of a kind
    /// in `kinds` (every kind when empty), on `target` when given. Failed and dry-run writes cost nothing.
    pub fn count(&self, kinds: &[&str], target: Option<&str>, since_unix: i64) -> Result<u32, MemoryError> {
        let mut sql =
            String::from("SELECT COUNT(*) FROM writes WHERE reserved_at >= ?1 AND state IN ('reserved', 'done')");
        let mut values = vec![Value::Integer(since_unix)];
        if let Some(target) = target {
            values.push(Value::Text(target.to_owned()));
            sql.push_str(&format!(" AND target = ?{}", values.len()));
        }
        if !kinds.is_empty() {
            let first = values.len() + 1;
            values.extend(kinds.iter().map(|k| Value::Text((*k).to_owned())));
            let slots: Vec<String> = (first..=values.len()).map(|i| format!("?{i}")).collect();
            sql.push_str(&format!(" AND kind IN ({})", slots.join(", ")));
        }
        let count: i64 = self.conn.query_row(&sql, params_from_iter(values), |r| r.get(0)).map_err(|e| self.sql(e))?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    fn sql(&self, source: rusqlite::Error) -> MemoryError {
        MemoryError::sqlite(self.path, source)
    }
}

fn select_one(conn: &Connection, path: &Path, key: &str) -> Result<Option<WriteRow>, MemoryError> {
    let row = conn
        .query_row(&format!("SELECT {COLUMNS} FROM writes WHERE key = ?1"), [key], decode)
        .optional()
        .map_err(|source| MemoryError::sqlite(path, source))?;
    row.map(|(key, decoded)| decoded.map_err(|reason| bad(path, key, reason))).transpose()
}

fn bad(path: &Path, key: String, reason: String) -> MemoryError {
    MemoryError::BadRecord { path: path.to_path_buf(), table: "writes", key, reason }
}

/// Reads a row; SQLite errors stay SQLite errors, an unknown state becomes the inner `Err` (with the row's key).
fn decode(row: &Row<'_>) -> rusqlite::Result<(String, Result<WriteRow, String>)> {
    let key: String = row.get(1)?;
    let state: String = row.get(6)?;
    let (id, kind, repo, target, reserved_at, outcome) =
        (row.get(0)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?, row.get(7)?);
    let decoded =
        state.parse().map(|state| WriteRow { id, key: key.clone(), kind, repo, target, reserved_at, state, outcome });
    Ok((key, decoded))
}

/// A day, in seconds.
const DAY: i64 = 86_400;

impl super::Memory {
    /// The counters that concern `proposal` and whether it is approved, read from the database at `now`: what
    /// [`govern`](crate::governance::govern) weighs a write against.
    pub fn spent(&mut self, proposal: &WriteProposal, now: i64) -> Result<(Counters, bool), MemoryError> {
        let content: Vec<&str> = ActionKind::ALL.iter().filter(|k| k.creates_content()).map(|k| k.as_str()).collect();
        let writes = self.writes();
        let counters = Counters {
            prs_last_day: writes.count(
                &[ActionKind::OpenPullRequest.as_str(), ActionKind::PushBranch.as_str()],
                None,
                now - DAY,
            )?,
            issues_last_hour: writes.count(
                &[ActionKind::OpenIssue.as_str(), ActionKind::EmergencyAlert.as_str()],
                None,
                now - 3_600,
            )?,
            comments_on_target_last_day: match &proposal.target {
                Some(target) => writes.count(&[ActionKind::Comment.as_str()], Some(target), now - DAY)?,
                None => 0,
            },
            content_last_minute: writes.count(&content, None, now - 60)?,
        };
        let approved = self.approvals().is_approved(&proposal.approval_id, now)?;
        Ok((counters, approved))
    }
}
