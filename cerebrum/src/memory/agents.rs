//! The agents made by `spawn agent`, as the spawner records them: one row per agent, its record kept as JSON the
//! spawner owns, every change in one transaction with its audit record.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{AuditEntry, AuditRecord, AuditTrail, MemoryError};

/// One agent's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRow {
    /// Its name, unique.
    pub name: String,
    /// Where it is in its life (the spawner's words: `tested`, `published`, `review`, `ready`, ...).
    pub state: String,
    /// The spawner's record of it, JSON.
    pub record: String,
    /// When it last changed, unix seconds.
    pub updated_at: i64,
}

/// The agents of a [`Memory`](super::Memory), from [`Memory::agents`](super::Memory::agents).
#[derive(Debug)]
pub struct Agents<'m> {
    conn: &'m mut Connection,
    path: &'m Path,
}

impl<'m> Agents<'m> {
    pub(crate) fn new(conn: &'m mut Connection, path: &'m Path) -> Self {
        Self { conn, path }
    }

    /// Records `row` (inserting or replacing the agent of that name) together with `audit`, in one transaction.
    pub fn put(&mut self, row: &AgentRow, audit: &AuditEntry) -> Result<AuditRecord, MemoryError> {
        let path = self.path;
        let sql = |source| MemoryError::sqlite(path, source);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        tx.execute(
            "INSERT INTO agents (name, state, record, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO UPDATE SET state = excluded.state, record = excluded.record,
               updated_at = excluded.updated_at",
            params![row.name, row.state, row.record, row.updated_at],
        )
        .map_err(sql)?;
        let record = AuditTrail::append_in(&tx, audit).map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(record)
    }

    /// Removes the agent `name` together with `audit`, in one transaction; whether there was one.
    pub fn remove(&mut self, name: &str, audit: &AuditEntry) -> Result<bool, MemoryError> {
        let path = self.path;
        let sql = |source| MemoryError::sqlite(path, source);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        let removed = tx.execute("DELETE FROM agents WHERE name = ?1", [name]).map_err(sql)? > 0;
        if removed {
            AuditTrail::append_in(&tx, audit).map_err(sql)?;
        }
        tx.commit().map_err(sql)?;
        Ok(removed)
    }

    /// The agent `name`, if there is one.
    pub fn get(&self, name: &str) -> Result<Option<AgentRow>, MemoryError> {
        self.conn
            .query_row("SELECT name, state, record, updated_at FROM agents WHERE name = ?1", [name], row)
            .optional()
            .map_err(|e| MemoryError::sqlite(self.path, e))
    }

    /// Every agent, by name.
    pub fn list(&self) -> Result<Vec<AgentRow>, MemoryError> {
        let sql = |e| MemoryError::sqlite(self.path, e);
        let mut stmt =
            self.conn.prepare("SELECT name, state, record, updated_at FROM agents ORDER BY name").map_err(sql)?;
        let rows = stmt.query_map([], row).map_err(sql)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql)
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AgentRow> {
    Ok(AgentRow { name: r.get(0)?, state: r.get(1)?, record: r.get(2)?, updated_at: r.get(3)? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::Memory;

    fn entry(action: &str) -> AuditEntry {
        AuditEntry {
            actor: "spawner:test".to_owned(),
            repositories: vec!["local/triage".to_owned()],
            action: action.to_owned(),
            result: "ok".to_owned(),
            decision: "requested".to_owned(),
        }
    }

    #[test]
    fn agents_persist_with_their_audit_records() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut memory = Memory::open(dir.path()).unwrap();
            let row = AgentRow { name: "triage".into(), state: "tested".into(), record: "{}".into(), updated_at: 5 };
            memory.agents().put(&row, &entry("agent_tested")).unwrap();
            let row = AgentRow { state: "ready".into(), updated_at: 9, ..row };
            memory.agents().put(&row, &entry("agent_ready")).unwrap();
        }
        let mut memory = Memory::open(dir.path()).unwrap();
        let rows = memory.agents().list().unwrap();
        assert_eq!(rows.len(), 1, "one row per name");
        assert_eq!((rows[0].state.as_str(), rows[0].updated_at), ("ready", 9));
        let actions: Vec<String> =
            memory.audit().recent_for("local/triage", 10).unwrap().into_iter().map(|r| r.action).collect();
        assert!(actions.contains(&"agent_tested".to_owned()) && actions.contains(&"agent_ready".to_owned()));

        assert!(memory.agents().remove("triage", &entry("agent_removed")).unwrap());
        assert!(!memory.agents().remove("triage", &entry("agent_removed")).unwrap(), "gone already");
        assert_eq!(memory.agents().get("triage").unwrap(), None);
    }
}
