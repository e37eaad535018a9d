//! The backlog ledger: the work hive found, one row per (repository, kind, title), with a deterministic id so the
//! same finding in a later cycle updates its row instead of adding a second one.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use super::MemoryError;

text_enum! {
    /// What kind of work an item is.
    ItemKind {
        /// Something is broken.
        Bug => "bug",
        /// A vulnerability or an exposed secret.
        Security => "security",
        /// Maintenance: formatting, dependencies, CI.
        Chore => "chore",
        /// New behaviour.
        Feature => "feature",
    }
}

text_enum! {
    /// How risky acting on an item is; high and critical need a human.
    Risk {
        /// Safe to do unattended.
        Low => "low",
        /// Safe with green checks.
        Medium => "medium",
        /// Needs a human's approval.
        High => "high",
        /// Needs a human's approval, always.
        Critical => "critical",
    }
}

text_enum! {
    /// Where an item stands.
    ItemStatus {
        /// Found, not started.
        Open => "open",
        /// Being worked on.
        InProgress => "in_progress",
        /// Finished.
        Done => "done",
        /// Waiting on something or someone.
        Blocked => "blocked",
        /// Dropped.
        Cancelled => "cancelled",
    }
}

/// One backlog item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BacklogItem {
    /// [`BacklogItem::id_for`] of `repo`, `kind` and `title`.
    pub id: String,
    /// The repository, `owner/name`.
    pub repo: String,
    /// What kind of work it is.
    #[serde(rename = "type")]
    pub kind: ItemKind,
    /// A one-line summary; part of the id, so a new title is a new item.
    pub title: String,
    /// 1 (most urgent) to 5.
    pub priority: u8,
    /// How risky acting on it is.
    pub risk: Risk,
    /// Where it stands.
    pub status: ItemStatus,
    /// Links to what shows the problem (CI runs, logs, advisories).
    pub evidence: Vec<String>,
    /// When it was first recorded, RFC 3339; kept by every later upsert.
    pub created_at: String,
    /// When it was last upserted, RFC 3339.
    pub updated_at: String,
    /// The policy decision that governs it, if one was made.
    pub decision: Option<String>,
    /// The cycle that last touched it.
    pub cycle_id: Option<u64>,
    /// The commit a fix landed as.
    pub commit_sha: Option<String>,
}

impl BacklogItem {
    /// A new open item, with its id computed and both timestamps set to now.
    pub fn new(repo: &str, kind: ItemKind, title: &str, priority: u8, risk: Risk) -> Self {
        let now = hive_support::rfc3339(std::time::SystemTime::now());
        Self {
            id: Self::id_for(repo, kind, title),
            repo: repo.to_owned(),
            kind,
            title: title.to_owned(),
            priority,
            risk,
            status: ItemStatus::Open,
            evidence: Vec::new(),
            created_at: now.clone(),
            updated_at: now,
            decision: None,
            cycle_id: None,
            commit_sha: None,
        }
    }

    /// The first 16 hex digits of the SHA-1 of `repo:type:title`: the same finding always gets the same id.
    ///
    /// ```
    /// use hive_cerebrum::{BacklogItem, ItemKind};
    /// let id = BacklogItem::id_for("acme/api", ItemKind::Bug, "ci fails");
    /// assert_eq!(id.len(), 16);
    /// assert_eq!(id, BacklogItem::id_for("acme/api", ItemKind::Bug, "ci fails"));
    /// ```
    pub fn id_for(repo: &str, kind: ItemKind, title: &str) -> String {
        let digest = Sha1::digest(format!("{repo}:{}:{title}", kind.as_str()).as_bytes());
        format!("{digest:x}")[..16].to_owned()
    }
}

/// The export file's name inside the state directory, written by [`Ledger::export`].
pub const BACKLOG_FILE: &str = "backlog.json";

/// The backlog export document, `backlog.json`; `schemas/backlog.schema.json` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BacklogExport {
    /// The document's format version, [`BacklogExport::SCHEMA_VERSION`].
    pub schema_version: u32,
    /// When it was written, RFC 3339 UTC.
    pub generated_at: String,
    /// The cycle that wrote it, if a cycle did.
    pub cycle: Option<u64>,
    /// Every item, by priority then id.
    pub items: Vec<BacklogItem>,
}

impl BacklogExport {
    /// The format version this hive writes.
    pub const SCHEMA_VERSION: u32 = 1;
}

/// The backlog ledger of a [`Memory`](super::Memory), from [`Memory::ledger`](super::Memory::ledger).
#[derive(Debug)]
pub struct Ledger<'m> {
    conn: &'m mut Connection,
    path: &'m Path,
}

const COLUMNS: &str =
    "id, repo, kind, title, priority, risk, status, evidence, created_at, updated_at, decision, cycle_id, commit_sha";

impl<'m> Ledger<'m> {
    pub(crate) fn new(conn: &'m mut Connection, path: &'m Path) -> Self {
        Self { conn, path }
    }

    /// Inserts the item, or updates the row with its id; an existing row keeps its `created_at`. Returns the item
    /// as stored.
    pub fn upsert(&mut self, item: &BacklogItem) -> Result<BacklogItem, MemoryError> {
        let evidence = serde_json::to_string(&item.evidence).expect("a list of strings always serialises");
        let cycle = item.cycle_id.map(|c| i64::try_from(c).unwrap_or(i64::MAX));
        // One statement, so the read of `created_at` and the write cannot be split by a crash or another writer.
        self.conn
            .execute(
                &format!(
                    "INSERT INTO backlog ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                     ON CONFLICT (id) DO UPDATE SET repo = excluded.repo, kind = excluded.kind,
                       title = excluded.title, priority = excluded.priority, risk = excluded.risk,
                       status = excluded.status, evidence = excluded.evidence, updated_at = excluded.updated_at,
                       decision = excluded.decision, cycle_id = excluded.cycle_id, commit_sha = excluded.commit_sha"
                ),
                params![
                    item.id,
                    item.repo,
                    item.kind.as_str(),
                    item.title,
                    item.priority,
                    item.risk.as_str(),
                    item.status.as_str(),
                    evidence,
                    item.created_at,
                    item.updated_at,
                    item.decision,
                    cycle,
                    item.commit_sha
                ],
            )
            .map_err(|e| self.sql(e))?;
        self.get(&item.id)?.ok_or_else(|| self.sql(rusqlite::Error::QueryReturnedNoRows))
    }

    /// The item with this id, if there is one.
    pub fn get(&self, id: &str) -> Result<Option<BacklogItem>, MemoryError> {
        let item = self
            .conn
            .query_row(&format!("SELECT {COLUMNS} FROM backlog WHERE id = ?1"), [id], decode)
            .optional()
            .map_err(|e| self.sql(e))?;
        item.transpose().map_err(|reason| self.bad(id, reason))
    }

    /// Every item, most urgent first, then oldest first.
    pub fn list(&self) -> Result<Vec<BacklogItem>, MemoryError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM backlog ORDER BY priority, created_at, id"))
            .map_err(|e| self.sql(e))?;
        let rows = stmt.query_map([], decode).map_err(|e| self.sql(e))?;
        let mut items = Vec::new();
        for row in rows {
            items.push(row.map_err(|e| self.sql(e))?.map_err(|reason| self.bad("?", reason))?);
        }
        Ok(items)
    }

    /// The export document of the whole ledger, generated now: items by priority then id, so two exports of the
    /// same ledger list them in the same order.
    pub fn export_document(&self, cycle: Option<u64>) -> Result<BacklogExport, MemoryError> {
        let mut items = self.list()?;
        items.sort_by(|a, b| (a.priority, &a.id).cmp(&(b.priority, &b.id)));
        Ok(BacklogExport {
            schema_version: BacklogExport::SCHEMA_VERSION,
            generated_at: hive_support::rfc3339(std::time::SystemTime::now()),
            cycle,
            items,
        })
    }

    /// Writes [`Ledger::export_document`] to `path` as pretty JSON, atomically (a reader sees the old file or the
    /// new one, never a torn one), and returns how many items it holds.
    pub fn export(&self, path: &Path, cycle: Option<u64>) -> Result<usize, MemoryError> {
        let document = self.export_document(cycle)?;
        let mut json = serde_json::to_vec_pretty(&document).expect("a document of strings and numbers serialises");
        json.push(b'\n');
        crate::snapshot::write_atomic(path, &json).map_err(|source| MemoryError::io(path, source))?;
        Ok(document.items.len())
    }

    fn sql(&self, source: rusqlite::Error) -> MemoryError {
        MemoryError::sqlite(self.path, source)
    }

    fn bad(&self, id: &str, reason: String) -> MemoryError {
        MemoryError::BadItem { path: self.path.to_path_buf(), id: id.to_owned(), reason }
    }
}

/// Reads a row; SQLite errors stay SQLite errors, a row with unknown names or bad JSON becomes the inner `Err`.
fn decode(row: &Row<'_>) -> rusqlite::Result<Result<BacklogItem, String>> {
    let id: String = row.get(0)?;
    let kind: String = row.get(2)?;
    let risk: String = row.get(5)?;
    let status: String = row.get(6)?;
    let evidence: String = row.get(7)?;
    let cycle: Option<i64> = row.get(11)?;
    let (repo, title, priority, created_at, updated_at, decision, commit_sha) =
        (row.get(1)?, row.get(3)?, row.get(4)?, row.get(8)?, row.get(9)?, row.get(10)?, row.get(12)?);
    Ok((|| {
        Ok(BacklogItem {
            id: id.clone(),
            repo,
            kind: kind.parse()?,
            title,
            priority,
            risk: risk.parse()?,
            status: status.parse()?,
            evidence: serde_json::from_str(&evidence).map_err(|e| format!("evidence is not a JSON list: {e}"))?,
            created_at,
            updated_at,
            decision,
            cycle_id: cycle.and_then(|c| u64::try_from(c).ok()),
            commit_sha,
        })
    })()
    .map_err(|reason: String| format!("item '{id}': {reason}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::Memory;

    #[test]
    fn ids_are_deterministic_16_hex_digits_of_sha1() {
        // SHA-1("acme/api:bug:ci fails"), computed independently with `printf %s ... | sha1sum`.
        let id = BacklogItem::id_for("acme/api", ItemKind::Bug, "ci fails");
        assert_eq!(id, "98673d657cef46f6");
        assert_ne!(id, BacklogItem::id_for("acme/api", ItemKind::Chore, "ci fails"));
    }

    #[test]
    fn upsert_keeps_created_at_and_updates_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let mut memory = Memory::open(dir.path()).unwrap();
        let mut item = BacklogItem::new("acme/api", ItemKind::Bug, "ci fails", 2, Risk::Low);
        item.created_at = "2026-01-01T00:00:00Z".to_owned();
        item.evidence = vec!["https://ci.example/run/1".to_owned()];
        let stored = memory.ledger().upsert(&item).unwrap();
        assert_eq!(stored, item);

        let mut again = BacklogItem::new("acme/api", ItemKind::Bug, "ci fails", 1, Risk::Medium);
        again.status = ItemStatus::InProgress;
        again.cycle_id = Some(7);
        again.updated_at = "2026-01-02T00:00:00Z".to_owned();
        let stored = memory.ledger().upsert(&again).unwrap();
        assert_eq!(stored.created_at, "2026-01-01T00:00:00Z");
        assert_eq!(stored.updated_at, "2026-01-02T00:00:00Z");
        assert_eq!((stored.priority, stored.risk, stored.status), (1, Risk::Medium, ItemStatus::InProgress));
        assert_eq!(stored.cycle_id, Some(7));

        memory.ledger().upsert(&BacklogItem::new("acme/web", ItemKind::Chore, "fmt", 3, Risk::Low)).unwrap();
        let all = memory.ledger().list().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].id, item.id, "most urgent first");
    }

    #[test]
    fn a_priority_outside_1_to_5_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut memory = Memory::open(dir.path()).unwrap();
        let item = BacklogItem::new("acme/api", ItemKind::Bug, "x", 9, Risk::Low);
        assert!(memory.ledger().upsert(&item).is_err());
    }

    #[test]
    fn items_export_with_type_and_snake_case_names() {
        let item = BacklogItem::new("acme/api", ItemKind::Security, "leak", 1, Risk::Critical);
        let json = serde_json::to_value(&item).unwrap();
        assert_eq!(json["type"], "security");
        assert_eq!(json["risk"], "critical");
        assert_eq!(json["status"], "open");
    }
}
