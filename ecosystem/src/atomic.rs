//! Atomic file writes, shared with the rest of hive through `hive-support`.

pub(crate) use hive_support::write_atomic;
