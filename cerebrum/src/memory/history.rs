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

    /// The last cycle number handed out (0 before the first): a queen that continues the count numbers its first
    /// cycle one more.
    pub fn last_cycle(&self) -> Result<u64, MemoryError> {
        let last: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [LAST_CYCLE], |r| r.get(0))
            .optional()
            .map_err(|e| self.sql(e))?;
        parse_last(self.path, last)
    }

    /// Hands out the next cycle number: 1, 2, 3, ... across restarts (the last one is kept in `meta`).
    pub fn next_cycle(&mut self) -> Result<u64, MemoryError> {
        self.claim_cycle(0)
    }

    /// Takes `cycle` (the queen's number for the cycle) as the last cycle and returns it, unless it is not above the
    /// last one handed out: then the next number is handed out instead, since a number already used (in write keys,
    /// summaries, the history) must never be used again. The counter never goes backwards.
    pub fn claim_cycle(&mut self, cycle: u64) -> Result<u64, MemoryError> {
        self.advance(cycle, true)
    }

    /// Records that a queen numbered a cycle `cycle` though nothing was done under it (the hive stopped before its
    /// loop acted): the counter moves up to it, never back, so a restart does not number a cycle that way again.
    pub fn pass_cycle(&mut self, cycle: u64) -> Result<(), MemoryError> {
        self.advance(cycle, false).map(drop)
    }

    /// Moves the counter to `cycle` if that is ahead of it; else, when `fresh` (a number to use), one past it.
    fn advance(&mut self, cycle: u64, fresh: bool) -> Result<u64, MemoryError> {
        let path = self.path;
        let sql = |source| MemoryError::sqlite(path, source);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        let last: Option<String> = tx
            .query_row("SELECT value FROM meta WHERE key = ?1", [LAST_CYCLE], |r| r.get(0))
            .optional()
            .map_err(sql)?;
        let last = parse_last(path, last)?;
        let claimed = match (cycle > last, fresh) {
            (true, _) => cycle,
            (false, true) => last + 1,
            (false, false) => return Ok(last),
        };
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![LAST_CYCLE, claimed.to_string()],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(claimed)
    }

    fn sql(&self, source: rusqlite::Error) -> MemoryError {
        MemoryError::sqlite(self.path, source)
    }
}

/// The stored last cycle (`None`: no cycle yet) as a number.
fn parse_last(path: &Path, last: Option<String>) -> Result<u64, MemoryError> {
    match last {
        None => Ok(0),
        Some(text) => text.parse::<u64>().map_err(|e| MemoryError::BadRecord {
            path: path.to_path_buf(),
            table: "meta",
            key: LAST_CYCLE.to_owned(),
            reason: format!("'{text}' is not a cycle number: {e}"),
        }),
    }
}

/// SQLite integers are signed; cycle numbers never get near 2^63.
fn sql_cycle(cycle: u64) -> i64 {
    i64::try_from(cycle).unwrap_or(i64::MAX)
}
