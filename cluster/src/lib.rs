//! Several hive nodes over one fleet: each repository leased to one node at a time through a NATS JetStream
//! key-value bucket, the live nodes known from heartbeats in a second bucket, and each repository's rightful
//! node chosen by rendezvous hashing, so a join or a leave moves only that node's share.
//!
//! A [`Coordinator`] per node keeps its share leased and reports every change ([`Ownership::Gained`],
//! [`Ownership::Lost`]) on a channel; a [`Fence`] checks the lease right before a write, and [`Writes`] lets one
//! node alone send each write within a window. `hive serve --cluster` turns the changes into pilots started and
//! stopped, and fences the steward's writes; a single process needs no NATS.
//!
//! Who should hold what is a pure function, the same on every node:
//!
//! ```
//! use std::collections::BTreeSet;
//! use hive_cluster::{NodeName, plan};
//!
//! let me = NodeName::new("node-a").unwrap();
//! let live: BTreeSet<NodeName> = ["node-a", "node-b"].into_iter().map(|n| NodeName::new(n).unwrap()).collect();
//! let fleet: Vec<String> = (0..100).map(|i| format!("org/repo-{i}")).collect();
//! let first = plan(&me, &live, &fleet, &BTreeSet::new(), &BTreeSet::new());
//! assert!(first.release.is_empty());
//! assert!((30..=70).contains(&first.claim.len()), "about half of the fleet");
//! ```

mod bucket;
mod budget;
mod bulletin;
mod config;
mod coordinator;
mod error;
mod events;
mod fence;
mod key;
mod leader;
mod lease;
mod members;
mod share;
mod writes;

/// The NATS client [`connect`] returns, which every part of a node shares.
pub use async_nats::Client;

pub use crate::{
    budget::{RateSeen, TokenBudget},
    bulletin::{Board, Bulletin, Posted},
    config::{ClusterConfig, DEFAULT_FLEET, connect},
    coordinator::{Coordinator, CoordinatorHandle, Holdings, Ownership, OwnershipChange},
    error::{Cause, ClusterError, Refusal},
    events::{EVENTS_VERSION, Events, Remote, RemoteEvents},
    fence::Fence,
    key::{NodeName, lease_key, repo_of_key},
    leader::{Election, LeaderChange, LeaderFence, LeaderHandle, Term},
    lease::{Lease, LeaseEntry, LeaseRecord, Leases},
    members::{Heartbeat, Members},
    share::{Plan, plan, rightful_owner, weight},
    writes::{Recorded, Writes},
};
