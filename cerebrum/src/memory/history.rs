//! Health history, one score per repository and cycle, and the cycle counter, which survives restarts so cycle
//! numbers in the audit trail, the backlog and the history never repeat.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::MemoryError;

/// The `meta` key holding the last cycle number handed out.
const LAST_CYCLE: &str = "last_cycle";

/// The health history of a [`Memory`](super::Memory), from [`Memory::history`](super::Memory::history).
#[derive(Debug)]
pub struct History<'m> {
    conn: &'m mut Connection,
    path: &'m Path,
}

impl<'m> History<'m> {
    pub(crate) fn new(conn: &'m mut Connection, path: &'m Path) -> Self {
        Self { conn, path }
    }

    /// Records `repo`'s score and level in `cycle` (replacing an earlier record of the same cycle and repository).
    pub fn record(&mut self, cycle: u64, repo: &str, score: u8, level: &str, at_unix: i64) -> Result<(), MemoryError> {
        self.record_all(cycle, [(repo, score, level)], at_unix)
    }

    /// Records a whole cycle's scores, `(repo, score, level)` each (replacing earlier records of the same cycle and
    /// repository), in one transaction: one sync for the fleet instead of one per repository.
    pub fn record_all<'a>(
        &mut self,
        cycle: u64,
        scores: impl IntoIterator<Item = (&'a str, u8, &'a str)>,
        at_unix: i64,
    ) -> Result<(), MemoryError> {
        let path = self.path;
        let sql = |e| MemoryError::sqlite(path, e);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO health_history (cycle, repo, score, level, at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (cycle, repo) DO UPDATE SET score = excluded.score, level = excluded.level,
                       at = excluded.at",
                )
                .map_err(sql)?;
            for (repo, score, level) in scores {
                insert.execute(params![sql_cycle(cycle), repo, score, level, at_unix]).map_err(sql)?;
            }
        }
        tx.commit().map_err(sql)
    }

    /// `repo`'s last `limit` records as `(cycle, score, level, at_unix)`, newest cycle first.
    pub fn of(&self, repo: &str, limit: usize) -> Result<Vec<(u64, u8, String, i64)>, MemoryError> {
        let mut stmt = self
            .conn
            .prepare("SELECT cycle, score, level, at FROM health_history WHERE repo = ?1 ORDER BY cycle DESC LIMIT ?2")
            .map_err(|e| self.sql(e))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![repo, limit], |r| {
                let cycle: i64 = r.get(0)?;
                Ok((u64::try_from(cycle).unwrap_or(0), r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.sql(e))
    }

    /// Hands out the next cycle number: 1, 2, 3, ... across restarts (the last one is kept in `meta`).
    pub fn next_cycle(&mut self) -> Result<u64, MemoryError> {
        let path = self.path;
        let sql = |source| MemoryError::sqlite(path, source);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        let last: Option<String> = tx
            .query_row("SELECT value FROM meta WHERE key = ?1", [LAST_CYCLE], |r| r.get(0))
            .optional()
            .map_err(sql)?;
        let last = match last {
            None => 0,
            Some(text) => text.parse::<u64>().map_err(|e| MemoryError::BadRecord {
                path: path.to_path_buf(),
                table: "meta",
                key: LAST_CYCLE.to_owned(),
                reason: format!("'{text}' is not a cycle number: {e}"),
            })?,
        };
        let next = last + 1;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![LAST_CYCLE, next.to_string()],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(next)
    }

    fn sql(&self, source: rusqlite::Error) -> MemoryError {
        MemoryError::sqlite(self.path, source)
    }
}

/// SQLite integers are signed; cycle numbers never get near 2^63.
fn sql_cycle(cycle: u64) -> i64 {
    i64::try_from(cycle).unwrap_or(i64::MAX)
}
