//! Durable memory of hive: one SQLite database, `<state_dir>/hive.db`, holding what must survive restarts (the
//! hash-chained audit trail, the backlog ledger, the governed writes with their idempotency keys, what hive made on
//! forges, a human's approvals, health history and the cycle counter, which agent may call which tool, and the
//! hive's knowledge, searchable with SQLite's FTS5).
//!
//! The database runs in WAL mode and every write is one transaction, so a process killed with SIGKILL mid-write
//! leaves either the old state or the new one: SQLite rolls an unfinished transaction back on the next open. The
//! schema is versioned with `PRAGMA user_version`; migrations run in order, each in its own transaction, after a
//! backup copy of an existing database has been taken. A damaged database or one from a newer hive is reported with
//! a way out, never silently reset; so is an empty file beside a write-ahead log or backups (a truncated database),
//! and a trail whose newest records do not verify is never appended to. A read-only, full or forbidden directory is
//! reported as what it is, not as damage. Commands that only read open the database read-only.

/// Defines a closed string enum stored as its snake_case name. Defined before the `mod` lines, so every submodule
/// sees it.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// The stored and exported name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s { $($text => Ok(Self::$variant),)+ other => Err(format!("unknown {} '{other}'", stringify!($name))) }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

mod agents;
mod approvals;
mod audit;
mod changes;
mod error;
mod fault;
mod history;
mod identity;
mod knowledge;
mod ledger;
mod schema;
mod store;
mod sync;
mod tally;
mod tools;
mod writes;

pub use self::{
    agents::{AgentRow, Agents},
    approvals::{Approval, Approvals},
    audit::{AuditBreak, AuditEntry, AuditRecord, AuditTrail, GENESIS_HASH},
    changes::{ChangeLock, ChangeRow, Changes, Opened},
    error::MemoryError,
    fault::StorageFault,
    history::History,
    identity::{Identities, Identity},
    knowledge::{Knowledge, Note, SearchHit},
    ledger::{BACKLOG_FILE, BacklogExport, BacklogItem, ItemKind, ItemStatus, Ledger, Risk},
    store::Memory,
    sync::{PendingSync, Settled, SyncLogEntry, SyncedFile, Syncs},
    tally::{DecisionCount, Tally, WriteCount},
    tools::{ToolAssignment, ToolAssignments},
    writes::{NewWrite, Reservation, WriteRow, WriteState, Writes},
};
