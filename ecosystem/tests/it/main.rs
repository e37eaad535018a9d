//! Integration tests of hive-ecosystem: the GitHub forge end to end against the hive-testkit emulator on loopback.

mod fixer;
mod github;
