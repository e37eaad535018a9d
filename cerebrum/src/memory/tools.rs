//! Which agent may call which tool: assignments made and withdrawn at run time, each change in one transaction with
//! its audit record, so the trail says who gave an agent a terminal and when.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{AuditEntry, AuditTrail, MemoryError};

/// One tool assigned to one agent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ToolAssignment {
    /// The agent (a member or agent name).
    pub agent: String,
    /// The tool's name.
    pub tool: String,
    /// Who assigned it.
    pub assigned_by: String,
    /// When, unix seconds.
    pub assigned_at: i64,
}

/// The tool assignments of a [`Memory`](super::Memory), from [`Memory::tools`](super::Memory::tools).
#[derive(Debug)]
pub struct ToolAssignments<'m> {
    conn: &'m mut Connection,
    path: &'m Path,
}

const COLUMNS: &str = "agent, tool, assigned_by, assigned_at";

impl<'m> ToolAssignments<'m> {
    pub(crate) fn new(conn: &'m mut Connection, path: &'m Path) -> Self {
        Self { conn, path }
    }

    /// Lets `agent` call `tool`, as `by`, with an audit record (action `tools_assign`) in the same transaction.
    /// `None`, with nothing recorded, when the agent already had the tool.
    pub fn assign(
        &mut self,
        agent: &str,
        tool: &str,
        by: &str,
        now_unix: i64,
    ) -> Result<Option<ToolAssignment>, MemoryError> {
        let path = self.path;
        let sql = |source| MemoryError::sqlite(path, source);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        let added = tx
            .execute(
                "INSERT INTO agent_tools (agent, tool, assigned_by, assigned_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (agent, tool) DO NOTHING",
                params![agent, tool, by, now_unix],
            )
            .map_err(sql)?;
        if added == 0 {
            return Ok(None);
        }
        let entry = AuditEntry {
            actor: by.to_owned(),
            repositories: Vec::new(),
            action: "tools_assign".to_owned(),
            result: format!("assigned the tool '{tool}' to '{agent}'"),
            decision: "tool assignment".to_owned(),
        };
        AuditTrail::append_in(&tx, &entry).map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(Some(ToolAssignment {
            agent: agent.to_owned(),
            tool: tool.to_owned(),
            assigned_by: by.to_owned(),
            assigned_at: now_unix,
        }))
    }

    /// Withdraws `tool` from `agent`, as `by`, with an audit record (action `tools_remove`) in the same transaction,
    /// and returns the assignment; `None`, with nothing recorded, when the agent did not have it.
    pub fn remove(&mut self, agent: &str, tool: &str, by: &str) -> Result<Option<ToolAssignment>, MemoryError> {
        let path = self.path;
        let sql = |source| MemoryError::sqlite(path, source);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
        let found = tx
            .query_row(
                &format!("SELECT {COLUMNS} FROM agent_tools WHERE agent = ?1 AND tool = ?2"),
                params![agent, tool],
                row,
            )
            .optional()
            .map_err(sql)?;
        let Some(assignment) = found else { return Ok(None) };
        tx.execute("DELETE FROM agent_tools WHERE agent = ?1 AND tool = ?2", params![agent, tool]).map_err(sql)?;
        let entry = AuditEntry {
            actor: by.to_owned(),
            repositories: Vec::new(),
            action: "tools_remove".to_owned(),
            result: format!("removed the tool '{tool}' from '{agent}' (assigned by {})", assignment.assigned_by),
            decision: "tool assignment withdrawn".to_owned(),
        };
        AuditTrail::append_in(&tx, &entry).map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(Some(assignment))
    }

    /// The tools `agent` may call, by name.
    pub fn of(&self, agent: &str) -> Result<Vec<ToolAssignment>, MemoryError> {
        self.query(&format!("SELECT {COLUMNS} FROM agent_tools WHERE agent = ?1 ORDER BY tool"), [agent])
    }

    /// Every assignment, by agent and tool.
    pub fn list(&self) -> Result<Vec<ToolAssignment>, MemoryError> {
        self.query(&format!("SELECT {COLUMNS} FROM agent_tools ORDER BY agent, tool"), [])
    }

    fn query(&self, sql: &str, params: impl rusqlite::Params) -> Result<Vec<ToolAssignment>, MemoryError> {
        let fail = |source| MemoryError::sqlite(self.path, source);
        let mut stmt = self.conn.prepare(sql).map_err(fail)?;
        let rows = stmt.query_map(params, row).map_err(fail)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(fail)
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ToolAssignment> {
    Ok(ToolAssignment { agent: r.get(0)?, tool: r.get(1)?, assigned_by: r.get(2)?, assigned_at: r.get(3)? })
}

#[cfg(test)]
mod tests {
    use crate::Memory;

    #[test]
    fn assignments_survive_a_reopen_and_every_change_is_audited() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut memory = Memory::open(dir.path()).unwrap();
            let made = memory.tools().assign("triage-bot", "knowledge", "api:alice", 100).unwrap();
            assert_eq!(made.map(|a| a.assigned_by), Some("api:alice".to_owned()));
            assert!(memory.tools().assign("triage-bot", "terminal", "api:alice", 101).unwrap().is_some());
            assert!(memory.tools().assign("triage-bot", "terminal", "api:bob", 102).unwrap().is_none(), "no change");
            assert!(memory.tools().assign("orch", "knowledge", "api:alice", 103).unwrap().is_some());
        }
        let mut memory = Memory::open(dir.path()).unwrap();
        let tools: Vec<String> = memory.tools().of("triage-bot").unwrap().into_iter().map(|a| a.tool).collect();
        assert_eq!(tools, ["knowledge", "terminal"]);
        let removed = memory.tools().remove("triage-bot", "terminal", "api:bob").unwrap().expect("it was assigned");
        assert_eq!(removed.assigned_by, "api:alice");
        assert!(memory.tools().remove("triage-bot", "terminal", "api:bob").unwrap().is_none(), "already gone");
        let all: Vec<(String, String)> =
            memory.tools().list().unwrap().into_iter().map(|a| (a.agent, a.tool)).collect();
        assert_eq!(all, [("orch".into(), "knowledge".into()), ("triage-bot".into(), "knowledge".into())]);

        // Three assignments and one removal: four records, the no-ops none.
        assert_eq!(memory.audit().verify().unwrap(), 4);
        let records = memory.audit().after(0, 10).unwrap();
        let actions: Vec<(&str, &str)> = records.iter().map(|r| (r.actor.as_str(), r.action.as_str())).collect();
        assert_eq!(
            actions,
            [
                ("api:alice", "tools_assign"),
                ("api:alice", "tools_assign"),
                ("api:alice", "tools_assign"),
                ("api:bob", "tools_remove")
            ]
        );
        assert_eq!(records[3].result, "removed the tool 'terminal' from 'triage-bot' (assigned by api:alice)");
    }
}
