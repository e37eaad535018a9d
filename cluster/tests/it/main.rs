//! Integration tests of hive-cluster against a real nats-server (Debian's `nats-server`, started per test as a
//! child process on a loopback port with its own JetStream store).

mod budget;
mod coordinator;
mod leader;
mod leases;
mod server;
mod writes;
