//! Files kept in step across repositories (`[[sync]]` declarations): for each (sync, repository, path) the content
//! hash of the file as last synced, when and by which change set; the hashes a change set under way will have synced
//! once it finishes; and a log of every sync, for history. Every change is one transaction with its audit record.
//!
//! The hash as last synced is the third version [`sync_state`](https://docs.rs/hive-ecosystem) compares with the
//! source's and the target's: without it, a file that differs cannot tell "the source moved on" from "the target was
//! edited".

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior, params};

use super::{AuditEntry, AuditTrail, MemoryError};

/// One file as last synced into one repository.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SyncedFile {
    /// The sync's name (`[[sync]] name`).
    pub name: String,
    /// The repository written to, `owner/name`.
    pub repo: String,
    /// The file's path in it.
    pub path: String,
    /// The content hash written (SHA-256, hex).
    pub hash: String,
    /// The change set that wrote it; empty when the file was found in step and only recorded.
    pub change_id: String,
    /// The branch the write waits on for a person to merge (a local workspace's published set); empty once on the
    /// default branch.
    pub branch: String,
    /// When, unix seconds.
    pub synced_at: i64,
}

/// A hash a change set under way will have synced once it finishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSync {
    /// The change set.
    pub change_id: String,
    /// The sync's name.
    pub name: String,
    /// The repository.
    pub repo: String,
    /// The file's path.
    pub path: String,
    /// The content hash the set writes.
    pub hash: String,
}

/// One entry of the sync log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SyncLogEntry {
    /// Its place in the log.
    pub seq: i64,
    /// The sync's name.
    pub name: String,
    /// The repository.
    pub repo: String,
    /// The file's path.
    pub path: String,
    /// The content hash synced.
    pub hash: String,
    /// The change set that wrote it (empty: found in step).
    pub change_id: String,
    /// When, unix seconds.
    pub synced_at: i64,
}

/// How a finished change set's pending hashes are settled, per repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    /// The repository.
    pub repo: String,
    /// The branch it waits on for a person (empty: merged into the default branch).
    pub branch: String,
}

/// The sync records of a [`Memory`](super::Memory), from [`Memory::syncs`](super::Memory::syncs).
#[derive(Debug)]
pub struct Syncs<'m> {
    conn: &'m mut Connection,
    path: &'m Path,
}

impl<'m> Syncs<'m> {
    pub(crate) fn new(conn: &'m mut Connection, path: &'m Path) -> Self {
        Self { conn, path }
    }

    fn sql(&self) -> impl Fn(rusqlite::Error) -> MemoryError + '_ {
        |e| MemoryError::sqlite(self.path, e)
    }

    /// Every file last synced by the sync `name`, by repository and path.
    pub fn files(&self, name: &str) -> Result<Vec<SyncedFile>, MemoryError> {
        let sql = self.sql();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT name, repo, path, hash, change_id, branch, synced_at FROM sync_files WHERE name = ?1
                 ORDER BY repo, path",
            )
            .map_err(&sql)?;
        let rows = stmt
            .query_map([name], |r| {
                Ok(SyncedFile {
                    name: r.get(0)?,
                    repo: r.get(1)?,
                    path: r.get(2)?,
                    hash: r.get(3)?,
                    change_id: r.get(4)?,
                    branch: r.get(5)?,
                    synced_at: r.get(6)?,
                })
            })
            .map_err(&sql)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&sql)
    }

    /// Records files found in step (or written) as synced, each with a log entry, and `audit`, in one transaction.
    pub fn record(&mut self, files: &[SyncedFile], audit: &AuditEntry) -> Result<(), MemoryError> {
        let path = self.path;
        let sql = |source| MemoryError::sqlite(path, source);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        for file in files {
            put_file(&tx, file).map_err(sql)?;
        }
        AuditTrail::append_in(&tx, audit).map_err(sql)?;
        tx.commit().map_err(sql)
    }

    /// Records what the change set `pending[..].change_id` will have synced once it finishes, with `audit`, in one
    /// transaction. Asking again for the same set and file replaces its hash.
    pub fn expect(&mut self, pending: &[PendingSync], audit: &AuditEntry) -> Result<(), MemoryError> {
        let path = self.path;
        let sql = |source| MemoryError::sqlite(path, source);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        for p in pending {
            tx.execute(
                "INSERT INTO sync_pending (change_id, name, repo, path, hash) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (change_id, repo, path) DO UPDATE SET name = excluded.name, hash = excluded.hash",
                params![p.change_id, p.name, p.repo, p.path, p.hash],
            )
            .map_err(sql)?;
        }
        AuditTrail::append_in(&tx, audit).map_err(sql)?;
        tx.commit().map_err(sql)
    }

    /// The change sets with hashes pending, oldest first.
    pub fn pending_sets(&self) -> Result<Vec<String>, MemoryError> {
        let sql = self.sql();
        let mut stmt = self
            .conn
            .prepare("SELECT change_id FROM sync_pending GROUP BY change_id ORDER BY min(rowid)")
            .map_err(&sql)?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(&sql)?;
        rows.collect::<rusqlite::Result<Vec<String>>>().map_err(&sql)
    }

    /// Settles the finished change set `change_id`: the pending hashes of the repositories in `synced` become the
    /// files' last synced ones (with a log entry each), the rest are dropped (the set did not write them), all with
    /// `audit`, in one transaction. Returns the files recorded.
    pub fn settle(
        &mut self,
        change_id: &str,
        synced: &[Settled],
        now: i64,
        audit: &AuditEntry,
    ) -> Result<Vec<SyncedFile>, MemoryError> {
        let path = self.path;
        let sql = |source| MemoryError::sqlite(path, source);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        let pending: Vec<PendingSync> = {
            let mut stmt = tx
                .prepare(
                    "SELECT change_id, name, repo, path, hash FROM sync_pending WHERE change_id = ?1 ORDER BY rowid",
                )
                .map_err(sql)?;
            let rows = stmt
                .query_map([change_id], |r| {
                    Ok(PendingSync {
                        change_id: r.get(0)?,
                        name: r.get(1)?,
                        repo: r.get(2)?,
                        path: r.get(3)?,
                        hash: r.get(4)?,
                    })
                })
                .map_err(sql)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql)?
        };
        let mut recorded = Vec::new();
        for p in pending {
            let Some(done) = synced.iter().find(|s| s.repo == p.repo) else { continue };
            let file = SyncedFile {
                name: p.name,
                repo: p.repo,
                path: p.path,
                hash: p.hash,
                change_id: p.change_id,
                branch: done.branch.clone(),
                synced_at: now,
            };
            put_file(&tx, &file).map_err(sql)?;
            recorded.push(file);
        }
        tx.execute("DELETE FROM sync_pending WHERE change_id = ?1", [change_id]).map_err(sql)?;
        AuditTrail::append_in(&tx, audit).map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(recorded)
    }

    /// The newest `limit` log entries, of the sync `name` or of all, newest first.
    pub fn log(&self, name: Option<&str>, limit: usize) -> Result<Vec<SyncLogEntry>, MemoryError> {
        let sql = self.sql();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq, name, repo, path, hash, change_id, synced_at FROM sync_log
                 WHERE ?1 IS NULL OR name = ?1 ORDER BY seq DESC LIMIT ?2",
            )
            .map_err(&sql)?;
        let rows = stmt
            .query_map(params![name, limit], |r| {
                Ok(SyncLogEntry {
                    seq: r.get(0)?,
                    name: r.get(1)?,
                    repo: r.get(2)?,
                    path: r.get(3)?,
                    hash: r.get(4)?,
                    change_id: r.get(5)?,
                    synced_at: r.get(6)?,
                })
            })
            .map_err(&sql)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&sql)
    }
}

fn put_file(tx: &Connection, file: &SyncedFile) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO sync_files (name, repo, path, hash, change_id, branch, synced_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (name, repo, path) DO UPDATE SET hash = excluded.hash, change_id = excluded.change_id,
           branch = excluded.branch, synced_at = excluded.synced_at",
        params![file.name, file.repo, file.path, file.hash, file.change_id, file.branch, file.synced_at],
    )?;
    tx.execute(
        "INSERT INTO sync_log (name, repo, path, hash, change_id, synced_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![file.name, file.repo, file.path, file.hash, file.change_id, file.synced_at],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::Memory;

    fn entry(action: &str) -> AuditEntry {
        AuditEntry {
            actor: "sync:test".to_owned(),
            repositories: vec!["acme/a".to_owned()],
            action: action.to_owned(),
            result: "ok".to_owned(),
            decision: String::new(),
        }
    }

    fn pending(change: &str, repo: &str, path: &str, hash: &str) -> PendingSync {
        PendingSync {
            change_id: change.to_owned(),
            name: "license".to_owned(),
            repo: repo.to_owned(),
            path: path.to_owned(),
            hash: hash.to_owned(),
        }
    }

    #[test]
    fn a_finished_set_settles_what_it_wrote_and_drops_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let mut memory = Memory::open(dir.path()).unwrap();
        let expected = [pending("c1", "acme/a", "LICENSE", "h1"), pending("c1", "acme/b", "LICENSE", "h1")];
        memory.syncs().expect(&expected, &entry("sync_expected")).unwrap();
        assert_eq!(memory.syncs().pending_sets().unwrap(), ["c1"]);
        assert!(memory.syncs().files("license").unwrap().is_empty(), "nothing synced before the set finishes");

        let synced = [Settled { repo: "acme/a".to_owned(), branch: String::new() }];
        let recorded = memory.syncs().settle("c1", &synced, 100, &entry("sync_settled")).unwrap();
        assert_eq!(recorded.len(), 1);
        let files = memory.syncs().files("license").unwrap();
        assert_eq!(files.iter().map(|f| (f.repo.as_str(), f.hash.as_str())).collect::<Vec<_>>(), [("acme/a", "h1")]);
        assert_eq!(files[0].change_id, "c1");
        assert!(memory.syncs().pending_sets().unwrap().is_empty(), "acme/b's pending hash is dropped");

        // A later sync replaces the file's hash and both stay in the log.
        let found = SyncedFile { hash: "h2".to_owned(), change_id: String::new(), synced_at: 200, ..files[0].clone() };
        memory.syncs().record(&[found], &entry("sync_recorded")).unwrap();
        assert_eq!(memory.syncs().files("license").unwrap()[0].hash, "h2");
        let log = memory.syncs().log(Some("license"), 10).unwrap();
        assert_eq!(log.iter().map(|e| e.hash.as_str()).collect::<Vec<_>>(), ["h2", "h1"], "newest first");
        assert!(memory.syncs().log(Some("other"), 10).unwrap().is_empty());
        let actions: Vec<String> =
            memory.audit().recent_for("acme/a", 10).unwrap().into_iter().map(|r| r.action).collect();
        assert_eq!(actions, ["sync_recorded", "sync_settled", "sync_expected"]);
    }
}
