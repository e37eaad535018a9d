//! The hash-chained audit trail: every decision and every write hive makes, each record's hash covering its own
//! fields and the previous record's hash, so an edited, deleted, inserted or reordered record breaks the chain.
//!
//! A record is appended in one transaction together with the chain's head (last seq and hash); a process killed
//! mid-append leaves both as they were, because SQLite rolls the unfinished transaction back on the next open.

use std::{io::Write, path::Path};

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::MemoryError;

/// The previous hash of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What is recorded: everything in an [`AuditRecord`] except what the trail assigns (seq, timestamp, hashes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditEntry {
    /// Who acted: an actor or member id, or `human:<name>`.
    pub actor: String,
    /// The repositories concerned, `owner/name`.
    pub repositories: Vec<String>,
    /// What was done or decided, e.g. `open_issue`.
    pub action: String,
    /// How it ended, e.g. `ok`, `would_do`, `failed: ...`.
    pub result: String,
    /// The policy decision that allowed or refused it.
    pub decision: String,
}

/// One record of the audit trail, as stored and exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the trail, from 1, without gaps.
    pub seq: u64,
    /// When it was recorded, RFC 3339 UTC.
    pub timestamp: String,
    /// Who acted.
    pub actor: String,
    /// The repositories concerned.
    pub repositories: Vec<String>,
    /// What was done or decided.
    pub action: String,
    /// How it ended.
    pub result: String,
    /// The policy decision.
    pub decision: String,
    /// The previous record's hash ([`GENESIS_HASH`] for the first).
    pub prev_hash: String,
    /// SHA-256 (lowercase hex) of the canonical record followed by `prev_hash`.
    pub hash: String,
}

/// The fields a hash covers, in a fixed order; serde_json writes struct fields in declaration order, so the same
/// record always serialises to the same bytes.
#[derive(Serialize)]
struct Canonical<'a> {
    seq: u64,
    timestamp: &'a str,
    actor: &'a str,
    repositories: &'a [String],
    action: &'a str,
    result: &'a str,
    decision: &'a str,
    prev_hash: &'a str,
}

impl AuditRecord {
    /// The hash this record should carry, computed from its other fields.
    pub fn compute_hash(&self) -> String {
        let canonical = Canonical {
            seq: self.seq,
            timestamp: &self.timestamp,
            actor: &self.actor,
            repositories: &self.repositories,
            action: &self.action,
            result: &self.result,
            decision: &self.decision,
            prev_hash: &self.prev_hash,
        };
        let json = serde_json::to_string(&canonical).expect("a struct of strings always serialises");
        let mut hasher = Sha256::new();
        hasher.update(json.as_bytes());
        hasher.update(self.prev_hash.as_bytes());
        format!("{:x}", hasher.finalize())
    }
}

/// Why [`AuditTrail::verify`] failed: the first bad record, or a database that could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditBreak {
    /// This record, and the chain from it on, cannot be trusted.
    #[error("audit record {seq} is bad: {problem}")]
    Record {
        /// The first bad record's seq.
        seq: u64,
        /// What is wrong with it.
        problem: String,
    },
    /// The trail could not be read.
    #[error(transparent)]
    Memory(#[from] MemoryError),
}

/// The audit trail of a [`Memory`](super::Memory), from [`Memory::audit`](super::Memory::audit).
#[derive(Debug)]
pub struct AuditTrail<'m> {
    conn: &'m mut Connection,
    path: &'m Path,
}

const COLUMNS: &str = "seq, timestamp, actor, repositories, action, result, decision, prev_hash, hash";

/// The newest records concerning repository `?1`, at most `?2`, newest first: by the index of records by
/// repository, then each record by its seq.
const RECENT_FOR: &str = "FROM audit
    WHERE seq IN (SELECT seq FROM audit_repos WHERE repo = ?1 ORDER BY seq DESC LIMIT ?2)
    ORDER BY seq DESC";

impl<'m> AuditTrail<'m> {
    pub(crate) fn new(conn: &'m mut Connection, path: &'m Path) -> Self {
        Self { conn, path }
    }

    /// Appends a record, timestamped now, chained to the last one, and returns it.
    pub fn append(&mut self, entry: &AuditEntry) -> Result<AuditRecord, MemoryError> {
        let path = self.path;
        let sql = |source| MemoryError::sqlite(path, source);
        // IMMEDIATE takes the write lock up front, so two writers cannot both chain to the same head.
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        let record = Self::append_in(&tx, entry).map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(record)
    }

    /// Appends a record inside the caller's transaction, so a write and its audit record commit together or not at
    /// all. The transaction must hold the write lock (IMMEDIATE) so the head it reads is the head it replaces.
    pub(crate) fn append_in(tx: &Transaction<'_>, entry: &AuditEntry) -> rusqlite::Result<AuditRecord> {
        let head = read_head(tx)?;
        let (last, prev_hash) = head.unwrap_or((0, GENESIS_HASH.to_owned()));
        let mut record = AuditRecord {
            seq: last + 1,
            timestamp: hive_support::rfc3339(std::time::SystemTime::now()),
            actor: entry.actor.clone(),
            repositories: entry.repositories.clone(),
            action: entry.action.clone(),
            result: entry.result.clone(),
            decision: entry.decision.clone(),
            prev_hash,
            hash: String::new(),
        };
        record.hash = record.compute_hash();
        let repositories = serde_json::to_string(&record.repositories).expect("a list of strings always serialises");
        tx.execute(
            &format!("INSERT INTO audit ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
            params![
                sql_seq(record.seq),
                record.timestamp,
                record.actor,
                repositories,
                record.action,
                record.result,
                record.decision,
                record.prev_hash,
                record.hash
            ],
        )?;
        tx.execute(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            params![sql_seq(record.seq), record.hash],
        )?;
        Ok(record)
    }

    /// Checks the whole chain and returns how many records it holds, or names the first bad record.
    pub fn verify(&self) -> Result<usize, AuditBreak> {
        let mut count = 0usize;
        let mut prev_hash = GENESIS_HASH.to_owned();
        let mut first_break = None;
        self.for_each_row(|row| {
            let expected = count as u64 + 1;
            let problem = match row {
                Err(RowProblem { seq, reason }) if seq == expected => Some((seq, reason)),
                Err(RowProblem { seq, .. }) | Ok(AuditRecord { seq, .. }) if seq != expected => {
                    Some((expected, format!("it is missing (the next record found is {seq}): records were deleted")))
                }
                Ok(record) if record.prev_hash != prev_hash => Some((record.seq, UNCHAINED.to_owned())),
                Ok(record) if record.compute_hash() != record.hash => Some((record.seq, EDITED.to_owned())),
                Ok(record) => {
                    prev_hash = record.hash;
                    None
                }
                Err(RowProblem { seq, reason }) => Some((seq, reason)),
            };
            count += 1;
            match problem {
                Some(found) => {
                    first_break = Some(found);
                    false
                }
                None => true,
            }
        })?;
        if let Some((seq, problem)) = first_break {
            return Err(AuditBreak::Record { seq, problem });
        }
        let head = read_head(self.conn).map_err(|source| MemoryError::sqlite(self.path, source))?;
        if let Some((seq, problem)) = end_problem(head, count as u64, &prev_hash) {
            return Err(AuditBreak::Record { seq, problem });
        }
        Ok(count)
    }

    /// Writes every record as one JSON object per line, in order, and returns how many.
    pub fn export_jsonl(&self, mut writer: impl Write) -> Result<usize, MemoryError> {
        let mut count = 0usize;
        let mut failure = None;
        self.for_each_row(|row| match row {
            Ok(record) => {
                let line = serde_json::to_string(&record).expect("a record of strings always serialises");
                if let Err(source) = writeln!(writer, "{line}") {
                    failure = Some(MemoryError::Export { source });
                    return false;
                }
                count += 1;
                true
            }
            Err(RowProblem { seq, reason }) => {
                failure = Some(MemoryError::BadRow { path: self.path.to_path_buf(), seq, reason });
                false
            }
        })?;
        if let Some(err) = failure {
            return Err(err);
        }
        writer.flush().map_err(|source| MemoryError::Export { source })?;
        Ok(count)
    }

    /// The newest `limit` records concerning `repo` (`owner/name`), newest first: what `explain` shows. Found
    /// through the index of records by repository (`audit_repos`, kept with each record), so the cost is the
    /// records read, not the trail's length.
    pub fn recent_for(&self, repo: &str, limit: usize) -> Result<Vec<AuditRecord>, MemoryError> {
        let sql = |source| MemoryError::sqlite(self.path, source);
        let mut stmt = self.conn.prepare_cached(&format!("SELECT {COLUMNS} {RECENT_FOR}")).map_err(sql)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = stmt.query(params![repo, limit]).map_err(sql)?;
        let mut records = Vec::new();
        while let Some(row) = rows.next().map_err(sql)? {
            match decode(row).map_err(sql)? {
                Ok(record) => records.push(record),
                Err(RowProblem { seq, reason }) => {
                    return Err(MemoryError::BadRow { path: self.path.to_path_buf(), seq, reason });
                }
            }
        }
        Ok(records)
    }

    /// The records after `after` (a seq; 0 for the first), oldest first, at most `limit` of them: how a reader
    /// follows the trail page by page. A record that does not decode is an error naming it, never skipped.
    pub fn after(&self, after: u64, limit: usize) -> Result<Vec<AuditRecord>, MemoryError> {
        let mut records = Vec::with_capacity(limit.min(1024));
        let mut failure = None;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.rows_after(after, limit, |row| match row {
            Ok(record) => {
                records.push(record);
                true
            }
            Err(RowProblem { seq, reason }) => {
                failure = Some(MemoryError::BadRow { path: self.path.to_path_buf(), seq, reason });
                false
            }
        })?;
        match failure {
            Some(err) => Err(err),
            None => Ok(records),
        }
    }

    /// Every record in seq order, without loading the trail into memory; `visit` returns false to stop.
    fn for_each_row(&self, visit: impl FnMut(Result<AuditRecord, RowProblem>) -> bool) -> Result<(), MemoryError> {
        // SQLite reads a negative limit as none.
        self.rows_after(0, -1, visit)
    }

    /// The records with a seq above `after`, in seq order, at most `limit` (negative: all).
    fn rows_after(
        &self,
        after: u64,
        limit: i64,
        mut visit: impl FnMut(Result<AuditRecord, RowProblem>) -> bool,
    ) -> Result<(), MemoryError> {
        let sql = |source| MemoryError::sqlite(self.path, source);
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2"))
            .map_err(sql)?;
        // A seq past i64 cannot exist; the largest one stands for it.
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let mut rows = stmt.query(params![after, limit]).map_err(sql)?;
        while let Some(row) = rows.next().map_err(sql)? {
            if !visit(decode(row).map_err(sql)?) {
                break;
            }
        }
        Ok(())
    }
}

/// Checks the newest end of the chain, as every open for writing does before anything is appended: the head
/// names the last record, whose hash matches its contents and the head, and which is chained to the record before
/// it (itself intact). Costs a few indexed reads whatever the trail's length; `verify` checks the whole chain.
/// Returns the bad record's seq and what is wrong with it.
pub(crate) fn check_head(conn: &Connection) -> rusqlite::Result<Option<(u64, String)>> {
    let head = read_head(conn)?;
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM audit ORDER BY seq DESC LIMIT 2"))?;
    let mut rows = stmt.query([])?;
    let mut newest = Vec::with_capacity(2);
    while let Some(row) = rows.next()? {
        newest.push(decode(row)?);
    }
    let last = match newest.first() {
        None => return Ok(end_problem(head, 0, GENESIS_HASH)),
        Some(Err(RowProblem { seq, reason })) => return Ok(Some((*seq, reason.clone()))),
        Some(Ok(last)) => last,
    };
    if last.compute_hash() != last.hash {
        return Ok(Some((last.seq, EDITED.to_owned())));
    }
    let expected_prev = match newest.get(1) {
        None if last.seq == 1 => Some(GENESIS_HASH),
        Some(Ok(before)) if before.seq + 1 == last.seq && before.compute_hash() == before.hash => {
            Some(before.hash.as_str())
        }
        Some(Ok(before)) if before.seq + 1 == last.seq => return Ok(Some((before.seq, EDITED.to_owned()))),
        Some(Err(RowProblem { seq, reason })) if *seq + 1 == last.seq => return Ok(Some((*seq, reason.clone()))),
        // A gap just before the last record: records were deleted.
        _ => None,
    };
    if expected_prev != Some(last.prev_hash.as_str()) {
        return Ok(Some((last.seq, UNCHAINED.to_owned())));
    }
    Ok(end_problem(head, last.seq, &last.hash))
}

/// What is wrong with the end of a trail whose last record is `last` with hash `last_hash`, given the head
/// recorded with it.
fn end_problem(head: Option<(u64, String)>, last: u64, last_hash: &str) -> Option<(u64, String)> {
    let (head_seq, head_hash) = head.unwrap_or((0, GENESIS_HASH.to_owned()));
    if head_seq > last {
        return Some((
            last + 1,
            format!("it is missing: the trail should end at record {head_seq}, the newest were deleted"),
        ));
    }
    if head_seq < last {
        return Some((head_seq + 1, format!("it was added outside hive: the trail should end at record {head_seq}")));
    }
    if head_hash != last_hash {
        return Some((last, "its hash differs from the one recorded when it was written: it was replaced".to_owned()));
    }
    None
}

const EDITED: &str = "its hash does not match its contents: it was edited";
const UNCHAINED: &str =
    "its previous hash does not match the record before it: records were deleted, inserted or reordered";

/// One stored row as a record, or what makes it unreadable.
fn decode(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<AuditRecord, RowProblem>> {
    // A negative seq can only come from tampering; as 0 it is reported as a gap.
    let seq = u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0);
    let decoded = (|| -> Result<AuditRecord, String> {
        let text = |i: usize| row.get::<_, String>(i).map_err(|e| format!("column {i} is not text: {e}"));
        let repositories = serde_json::from_str(&text(3)?)
            .map_err(|e| format!("its repositories are not a JSON list of names: {e}"))?;
        Ok(AuditRecord {
            seq,
            timestamp: text(1)?,
            actor: text(2)?,
            repositories,
            action: text(4)?,
            result: text(5)?,
            decision: text(6)?,
            prev_hash: text(7)?,
            hash: text(8)?,
        })
    })();
    Ok(decoded.map_err(|reason| RowProblem { seq, reason }))
}

/// The chain's head: the last record's seq and hash, if any record was written.
fn read_head(conn: &Connection) -> rusqlite::Result<Option<(u64, String)>> {
    conn.query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
        Ok((u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0), r.get(1)?))
    })
    .optional()
}

/// SQLite integers are signed; a trail never gets near 2^63 records.
fn sql_seq(seq: u64) -> i64 {
    i64::try_from(seq).expect("fewer than 2^63 audit records")
}

/// A stored row that does not decode into an [`AuditRecord`].
struct RowProblem {
    seq: u64,
    reason: String,
}

#[cfg(test)]
mod tests;
