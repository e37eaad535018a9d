//! hive
