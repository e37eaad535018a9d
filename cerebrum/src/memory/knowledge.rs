//! The hive's knowledge: short notes stored by key, read back by key, and found by their words through SQLite's
//! FTS5 full-text index (`knowledge_fts`, kept in step with the `knowledge` table by triggers, so the two cannot
//! disagree). A search's words are matched as words, never read as FTS5 query syntax, so any text is a valid search.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::MemoryError;

/// One note.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Note {
    /// Its key.
    pub key: String,
    /// Its text.
    pub text: String,
    /// Who stored it.
    pub stored_by: String,
    /// When, unix seconds.
    pub stored_at: i64,
}

/// A note a search found: its key and the matching part of its text, the words found in `[` `]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SearchHit {
    /// The note's key.
    pub key: String,
    /// The best matching part of its text.
    pub snippet: String,
}

/// The knowledge of a [`Memory`](super::Memory), from [`Memory::knowledge`](super::Memory::knowledge).
#[derive(Debug)]
pub struct Knowledge<'m> {
    conn: &'m mut Connection,
    path: &'m Path,
}

impl<'m> Knowledge<'m> {
    pub(crate) fn new(conn: &'m mut Connection, path: &'m Path) -> Self {
        Self { conn, path }
    }

    /// Stores `text` under `key`, replacing what was there; returns whether a note was replaced.
    pub fn store(&mut self, key: &str, text: &str, by: &str, now_unix: i64) -> Result<bool, MemoryError> {
        let path = self.path;
        let sql = |source| MemoryError::sqlite(path, source);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        let existed = tx
            .query_row("SELECT 1 FROM knowledge WHERE key = ?1", [key], |_| Ok(()))
            .optional()
            .map_err(sql)?
            .is_some();
        tx.execute(
            "INSERT INTO knowledge (key, text, stored_by, stored_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (key) DO UPDATE SET text = excluded.text, stored_by = excluded.stored_by,
               stored_at = excluded.stored_at",
            params![key, text, by, now_unix],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(existed)
    }

    /// The note stored under `key`.
    pub fn get(&self, key: &str) -> Result<Option<Note>, MemoryError> {
        self.conn
            .query_row("SELECT key, text, stored_by, stored_at FROM knowledge WHERE key = ?1", [key], |r| {
                Ok(Note { key: r.get(0)?, text: r.get(1)?, stored_by: r.get(2)?, stored_at: r.get(3)? })
            })
            .optional()
            .map_err(|e| MemoryError::sqlite(self.path, e))
    }

    /// The notes holding every word of `query` (in their key or text, any case), best match first, at most
    /// `limit`. A query without words finds nothing.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, MemoryError> {
        let Some(expression) = match_expression(query) else { return Ok(Vec::new()) };
        let fail = |source| MemoryError::sqlite(self.path, source);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT key, snippet(knowledge_fts, 1, '[', ']', '...', 16) FROM knowledge_fts
                 WHERE knowledge_fts MATCH ?1 ORDER BY rank LIMIT ?2",
            )
            .map_err(fail)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![expression, limit], |r| Ok(SearchHit { key: r.get(0)?, snippet: r.get(1)? }))
            .map_err(fail)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(fail)
    }

    /// Deletes the note under `key`; returns whether there was one.
    pub fn delete(&mut self, key: &str) -> Result<bool, MemoryError> {
        let deleted = self
            .conn
            .execute("DELETE FROM knowledge WHERE key = ?1", [key])
            .map_err(|e| MemoryError::sqlite(self.path, e))?;
        Ok(deleted > 0)
    }
}

/// `query`'s words as an FTS5 expression that matches them all: each word a quoted string (quotes doubled), so
/// operators, column filters and stray quotes in the text are only words. `None` without words.
fn match_expression(query: &str) -> Option<String> {
    let words: Vec<String> =
        query.split_whitespace().map(|word| format!("\"{}\"", word.replace('"', "\"\""))).collect();
    (!words.is_empty()).then(|| words.join(" "))
}

#[cfg(test)]
mod tests {
    use crate::Memory;

    #[test]
    fn notes_round_trip_on_disk_and_are_found_by_their_words() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut memory = Memory::open(dir.path()).unwrap();
            let mut knowledge = memory.knowledge();
            assert!(
                !knowledge.store("ci/flaky", "The integration tests of acme/api flake on Mondays", "orch", 1).unwrap()
            );
            knowledge.store("owners", "acme/web is owned by the platform team", "api:alice", 2).unwrap();
            knowledge.store("release", "Releases are cut on Fridays", "api:alice", 3).unwrap();
        }
        let mut memory = Memory::open(dir.path()).unwrap();
        let mut knowledge = memory.knowledge();
        let note = knowledge.get("owners").unwrap().expect("stored before the reopen");
        assert_eq!(
            (note.text.as_str(), note.stored_by.as_str(), note.stored_at),
            ("acme/web is owned by the platform team", "api:alice", 2)
        );

        let hits = knowledge.search("integration FLAKE", 10).unwrap();
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0].key, "ci/flaky");
        assert!(hits[0].snippet.contains("[integration]"), "{hits:?}");
        assert!(knowledge.search("integration fridays", 10).unwrap().is_empty(), "every word must match");

        // Replacing a note re-indexes it; deleting it takes it out of the index too.
        assert!(knowledge.store("release", "Releases are cut on Tuesdays", "api:bob", 4).unwrap());
        assert!(knowledge.search("fridays", 10).unwrap().is_empty());
        assert_eq!(knowledge.search("tuesdays", 10).unwrap().len(), 1);
        assert!(knowledge.delete("release").unwrap());
        assert!(!knowledge.delete("release").unwrap());
        assert!(knowledge.get("release").unwrap().is_none());
        assert!(knowledge.search("tuesdays", 10).unwrap().is_empty());
    }

    #[test]
    fn any_text_is_a_valid_search() {
        let dir = tempfile::tempdir().unwrap();
        let mut memory = Memory::open(dir.path()).unwrap();
        memory.knowledge().store("k", "say \"hello\" NEAR the key: value", "orch", 1).unwrap();
        for query in ["\"hello\"", "NEAR(", "key:", "AND OR NOT", "*", "\"", "'; DROP TABLE knowledge; --", "", "   "] {
            memory.knowledge().search(query, 5).unwrap_or_else(|e| panic!("{query:?}: {e}"));
        }
        assert_eq!(memory.knowledge().search("\"hello\"", 5).unwrap().len(), 1);
        assert!(memory.knowledge().get("k").unwrap().is_some(), "nothing dropped");
    }
}
