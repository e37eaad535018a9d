//! Change sets across repositories, as their engine records them: one row per set (its record kept as JSON the
//! engine owns) and one lock per repository in an open set, every change in one transaction with its audit record.
//!
//! A lock is how "a repository in an open change set cannot join another" holds across processes and crashes: it
//! is a row keyed by the repository, so a second set's claim on it fails inside the same transaction that would
//! have created the set. A lock has an expiry, renewed while its set moves on; one whose set's process died and
//! whose expiry passed may be taken by another set.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{AuditEntry, AuditTrail, MemoryError};

/// One change set's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRow {
    /// Its id, unique.
    pub id: String,
    /// Where it is in its life (the engine's words: `applying`, `committing`, `merged`, `rolled_back`, ...).
    pub state: String,
    /// Whether it still holds its repositories (not merged, rolled back or aborted yet).
    pub open: bool,
    /// The engine's record of it, JSON.
    pub record: String,
    /// When it was created, unix seconds.
    pub created_at: i64,
    /// When it last changed, unix seconds.
    pub updated_at: i64,
}

/// A repository held by a change set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeLock {
    /// The repository, `owner/name`.
    pub repo: String,
    /// The change set holding it.
    pub change_id: String,
    /// Who runs that change set (host and process), for people reading `status`.
    pub owner: String,
    /// Until when the lock holds without being renewed, unix seconds.
    pub expires_at: i64,
}

/// What [`Changes::open`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// The set was recorded and holds every repository it names.
    Locked,
    /// Nothing was written: these repositories are held by other open change sets.
    Held(Vec<ChangeLock>),
}

/// The change sets of a [`Memory`](super::Memory), from [`Memory::changes`](super::Memory::changes).
#[derive(Debug)]
pub struct Changes<'m> {
    conn: &'m mut Connection,
    path: &'m Path,
}

const COLUMNS: &str = "id, state, open, record, created_at, updated_at";

impl<'m> Changes<'m> {
    pub(crate) fn new(conn: &'m mut Connection, path: &'m Path) -> Self {
        Self { conn, path }
    }

    /// Records `row` and locks `repos` for it until `expires_at`, with `audit`, in one transaction. A repository
    /// locked by another set whose lock has not expired by `now` stops it all: nothing is written and the holders
    /// are returned. Locks this set holds already (a resumed set) are renewed; expired locks of others are taken.
    pub fn open(
        &mut self,
        row: &ChangeRow,
        repos: &[String],
        owner: &str,
        now: i64,
        expires_at: i64,
        audit: &AuditEntry,
    ) -> Result<Opened, MemoryError> {
        let path = self.path;
        let sql = |source| MemoryError::sqlite(path, source);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        let mut held = Vec::new();
        for repo in repos {
            if let Some(lock) = lock_of(&tx, repo).map_err(sql)?
                && lock.change_id != row.id
                && lock.expires_at > now
            {
                held.push(lock);
            }
        }
        if !held.is_empty() {
            return Ok(Opened::Held(held));
        }
        put_row(&tx, row).map_err(sql)?;
        for repo in repos {
            tx.execute(
                "INSERT INTO change_locks (repo, change_id, owner, expires_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (repo) DO UPDATE SET change_id = excluded.change_id, owner = excluded.owner,
                   expires_at = excluded.expires_at",
                params![repo, row.id, owner, expires_at],
            )
            .map_err(sql)?;
        }
        AuditTrail::append_in(&tx, audit).map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(Opened::Locked)
    }

    /// Records `row` with `audit`, in one transaction, and renews its locks until `expires_at`; when the set is no
    /// longer [`ChangeRow::open`] its locks are released in the same transaction. A lock another set took meanwhile
    /// (after it expired) is not taken back: [`Changes::hold`] names those.
    pub fn put(&mut self, row: &ChangeRow, expires_at: i64, audit: &AuditEntry) -> Result<(), MemoryError> {
        let path = self.path;
        let sql = |source| MemoryError::sqlite(path, source);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        put_row(&tx, row).map_err(sql)?;
        if row.open {
            tx.execute("UPDATE change_locks SET expires_at = ?1 WHERE change_id = ?2", params![expires_at, row.id])
                .map_err(sql)?;
        } else {
            tx.execute("DELETE FROM change_locks WHERE change_id = ?1", [&row.id]).map_err(sql)?;
        }
        AuditTrail::append_in(&tx, audit).map_err(sql)?;
        tx.commit().map_err(sql)
    }

    /// Renews the locks `id` holds until `expires_at`, and names the repositories of `repos` it does not hold now
    /// (another set took them after its lock expired), in one transaction.
    pub fn hold(&mut self, id: &str, repos: &[String], expires_at: i64) -> Result<Vec<String>, MemoryError> {
        let path = self.path;
        let sql = |source| MemoryError::sqlite(path, source);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        tx.execute("UPDATE change_locks SET expires_at = ?1 WHERE change_id = ?2", params![expires_at, id])
            .map_err(sql)?;
        let mut lost = Vec::new();
        for repo in repos {
            if lock_of(&tx, repo).map_err(sql)?.is_none_or(|lock| lock.change_id != id) {
                lost.push(repo.clone());
            }
        }
        tx.commit().map_err(sql)?;
        Ok(lost)
    }

    /// The change set `id`, if there is one.
    pub fn get(&self, id: &str) -> Result<Option<ChangeRow>, MemoryError> {
        self.conn
            .query_row(&format!("SELECT {COLUMNS} FROM change_sets WHERE id = ?1"), [id], row)
            .optional()
            .map_err(|e| MemoryError::sqlite(self.path, e))
    }

    /// Every change set, newest first.
    pub fn list(&self) -> Result<Vec<ChangeRow>, MemoryError> {
        let sql = |e| MemoryError::sqlite(self.path, e);
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM change_sets ORDER BY created_at DESC, id"))
            .map_err(sql)?;
        let rows = stmt.query_map([], row).map_err(sql)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql)
    }

    /// Every lock, by repository.
    pub fn locks(&self) -> Result<Vec<ChangeLock>, MemoryError> {
        let sql = |e| MemoryError::sqlite(self.path, e);
        let mut stmt = self
            .conn
            .prepare("SELECT repo, change_id, owner, expires_at FROM change_locks ORDER BY repo")
            .map_err(sql)?;
        let rows = stmt.query_map([], lock).map_err(sql)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql)
    }
}

fn put_row(tx: &Connection, row: &ChangeRow) -> rusqlite::Result<usize> {
    tx.execute(
        "INSERT INTO change_sets (id, state, open, record, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, open = excluded.open, record = excluded.record,
           updated_at = excluded.updated_at",
        params![row.id, row.state, row.open, row.record, row.created_at, row.updated_at],
    )
}

fn lock_of(conn: &Connection, repo: &str) -> rusqlite::Result<Option<ChangeLock>> {
    conn.query_row("SELECT repo, change_id, owner, expires_at FROM change_locks WHERE repo = ?1", [repo], lock)
        .optional()
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChangeRow> {
    Ok(ChangeRow {
        id: r.get(0)?,
        state: r.get(1)?,
        open: r.get(2)?,
        record: r.get(3)?,
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

fn lock(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChangeLock> {
    Ok(ChangeLock { repo: r.get(0)?, change_id: r.get(1)?, owner: r.get(2)?, expires_at: r.get(3)? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::Memory;

    fn entry(action: &str) -> AuditEntry {
        AuditEntry {
            actor: "changes:test".to_owned(),
            repositories: vec!["acme/a".to_owned()],
            action: action.to_owned(),
            result: "ok".to_owned(),
            decision: String::new(),
        }
    }

    fn set(id: &str, open: bool) -> ChangeRow {
        ChangeRow {
            id: id.to_owned(),
            state: "applying".to_owned(),
            open,
            record: "{}".to_owned(),
            created_at: 10,
            updated_at: 10,
        }
    }

    fn repos(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn a_repository_in_an_open_set_cannot_join_another_until_released_or_expired() {
        let dir = tempfile::tempdir().unwrap();
        let mut memory = Memory::open(dir.path()).unwrap();
        let first = set("c1", true);
        let opened = memory.changes().open(&first, &repos(&["acme/a", "acme/b"]), "me", 100, 200, &entry("open"));
        assert_eq!(opened.unwrap(), Opened::Locked);

        let second = set("c2", true);
        let opened = memory.changes().open(&second, &repos(&["acme/c", "acme/b"]), "you", 150, 250, &entry("open"));
        let Opened::Held(held) = opened.unwrap() else { panic!("acme/b is held by c1") };
        assert_eq!(
            held.iter().map(|l| (l.repo.as_str(), l.change_id.as_str())).collect::<Vec<_>>(),
            [("acme/b", "c1")]
        );
        assert_eq!(memory.changes().get("c2").unwrap(), None, "nothing of the refused set was written");
        assert_eq!(memory.changes().locks().unwrap().len(), 2, "and none of its locks");

        // The same set again (a resumed one) renews its own locks.
        let opened = memory.changes().open(&first, &repos(&["acme/a", "acme/b"]), "me", 150, 300, &entry("open"));
        assert_eq!(opened.unwrap(), Opened::Locked);
        assert!(memory.changes().locks().unwrap().iter().all(|l| l.expires_at == 300));

        // Past the expiry another set may take them; the first then knows what it lost.
        let opened = memory.changes().open(&second, &repos(&["acme/c", "acme/b"]), "you", 301, 400, &entry("open"));
        assert_eq!(opened.unwrap(), Opened::Locked);
        assert_eq!(memory.changes().hold("c1", &repos(&["acme/a", "acme/b"]), 500).unwrap(), ["acme/b"]);
        let locks = memory.changes().locks().unwrap();
        assert_eq!(locks.iter().find(|l| l.repo == "acme/a").unwrap().expires_at, 500, "what it holds is renewed");

        // Closing a set releases what it holds, in the same transaction as its record.
        let closed = ChangeRow { state: "merged".into(), open: false, updated_at: 20, ..second };
        memory.changes().put(&closed, 0, &entry("merged")).unwrap();
        let held: Vec<String> = memory.changes().locks().unwrap().into_iter().map(|l| l.repo).collect();
        assert_eq!(held, ["acme/a"], "c1 still holds acme/a; c2's are gone");
        assert_eq!(memory.changes().get("c2").unwrap().unwrap().state, "merged");
        let ids: Vec<String> = memory.changes().list().unwrap().into_iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), 2);
    }

    #[test]
    fn sets_and_their_audit_records_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut memory = Memory::open(dir.path()).unwrap();
            memory.changes().open(&set("c1", true), &repos(&["acme/a"]), "me", 1, 99, &entry("change_opened")).unwrap();
        }
        let mut memory = Memory::open(dir.path()).unwrap();
        assert_eq!(memory.changes().get("c1").unwrap().unwrap().record, "{}");
        let actions: Vec<String> =
            memory.audit().recent_for("acme/a", 10).unwrap().into_iter().map(|r| r.action).collect();
        assert_eq!(actions, ["change_opened"]);
    }
}
