//! Durable memory of hive: one SQLite database, `<state_dir>/hive.db`, holding what must survive restarts (the
//! hash-chained audit trail and the backlog ledger).
//!
//! The database runs in WAL mode and every write is one transaction, so a process killed with SIGKILL mid-write
//! leaves either the old state or the new one: SQLite rolls an unfinished transaction back on the next open. The
//! schema is versioned with `PRAGMA user_version`; migrations run in order, each in its own transaction, after a
//! backup copy of an existing database has been taken. A damaged database or one from a newer hive is reported with
//! a way out, never silently reset.

mod audit;
mod error;
mod ledger;
mod store;

pub use self::{
    audit::{AuditBreak, AuditEntry, AuditRecord, AuditTrail, GENESIS_HASH},
    error::MemoryError,
    ledger::{BacklogItem, ItemKind, ItemStatus, Ledger, Risk},
    store::Memory,
};
