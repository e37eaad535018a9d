//! What hive made on a forge (issues, pull requests, reruns, alerts, fixes), by key, so a later cycle updates its
//! own issue instead of opening a second one.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::MemoryError;

/// One thing hive made on a forge.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The key it was made under, e.g. `issue:acme/api:ci-failure:tests`.
    pub key: String,
    /// The repository, `owner/name`.
    pub repo: String,
    /// What it is: `issue`, `pull`, `rerun`, `alert` or `fix`.
    pub kind: String,
    /// Its number on the forge, once known.
    pub number: Option<u64>,
    /// Its state on the forge as last seen (`open`, `closed`, `merged`, ...).
    pub state: Option<String>,
    /// A fingerprint of what it is about (e.g. a failure signature), to recognise the same problem again.
    pub fingerprint: Option<String>,
    /// Anything else the caller keeps about it.
    pub data: serde_json::Value,
    /// When it was last written, unix seconds.
    pub updated_at: i64,
}

/// The identities of a [`Memory`](super::Memory), from [`Memory::identities`](super::Memory::identities).
#[derive(Debug)]
pub struct Identities<'m> {
    conn: &'m mut Connection,
    path: &'m Path,
}

const COLUMNS: &str = "key, repo, kind, number, state, fingerprint, data, updated_at";

impl<'m> Identities<'m> {
    pub(crate) fn new(conn: &'m mut Connection, path: &'m Path) -> Self {
        Self { conn, path }
    }

    /// The identity stored under `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<Identity>, MemoryError> {
        let row = self
            .conn
            .query_row(&format!("SELECT {COLUMNS} FROM identity WHERE key = ?1"), [key], decode)
            .optional()
            .map_err(|e| self.sql(e))?;
        row.map(|(key, decoded)| decoded.map_err(|reason| self.bad(key, reason))).transpose()
    }

    /// Inserts the identity, or replaces the one with its key.
    pub fn put(&mut self, identity: &Identity) -> Result<(), MemoryError> {
        let number = identity.number.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        let data = serde_json::to_string(&identity.data).expect("a JSON value always serialises");
        self.conn
            .execute(
                &format!(
                    "INSERT INTO identity ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (key) DO UPDATE SET repo = excluded.repo, kind = excluded.kind,
                       number = excluded.number, state = excluded.state, fingerprint = excluded.fingerprint,
                       data = excluded.data, updated_at = excluded.updated_at"
                ),
                params![
                    identity.key,
                    identity.repo,
                    identity.kind,
                    number,
                    identity.state,
                    identity.fingerprint,
                    data,
                    identity.updated_at
                ],
            )
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// Every identity, of `kind` when given, ordered by key.
    pub fn list(&self, kind: Option<&str>) -> Result<Vec<Identity>, MemoryError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM identity WHERE ?1 IS NULL OR kind = ?1 ORDER BY key"))
            .map_err(|e| self.sql(e))?;
        let rows = stmt.query_map([kind], decode).map_err(|e| self.sql(e))?;
        let mut found = Vec::new();
        for row in rows {
            let (key, decoded) = row.map_err(|e| self.sql(e))?;
            found.push(decoded.map_err(|reason| self.bad(key, reason))?);
        }
        Ok(found)
    }

    fn sql(&self, source: rusqlite::Error) -> MemoryError {
        MemoryError::sqlite(self.path, source)
    }

    fn bad(&self, key: String, reason: String) -> MemoryError {
        MemoryError::BadRecord { path: self.path.to_path_buf(), table: "identity", key, reason }
    }
}

/// Reads a row; SQLite errors stay SQLite errors, bad JSON or a negative number becomes the inner `Err`.
fn decode(row: &Row<'_>) -> rusqlite::Result<(String, Result<Identity, String>)> {
    let key: String = row.get(0)?;
    let number: Option<i64> = row.get(3)?;
    let data: String = row.get(6)?;
    let (repo, kind, state, fingerprint, updated_at) =
        (row.get(1)?, row.get(2)?, row.get(4)?, row.get(5)?, row.get(7)?);
    let decoded = (|| {
        let number = number.map(u64::try_from).transpose().map_err(|_| format!("number {number:?} is negative"))?;
        let data = serde_json::from_str(&data).map_err(|e| format!("data is not JSON: {e}"))?;
        Ok(Identity { key: key.clone(), repo, kind, number, state, fingerprint, data, updated_at })
    })();
    Ok((key, decoded))
}
