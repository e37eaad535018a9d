//! Atomic file writes for emergency snapshots, shared with the rest of hive through `hive-support`.

pub use hive_support::write_atomic;
