//! Coordinators against a real nats-server.
