//! Integration tests of hive-forge: the GitHub forge end to end against the hive-testkit emulator on loopback.

mod deadline;
mod github;
mod graphql;
mod owners;
mod pulls;
mod repos;
