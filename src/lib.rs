//! hive: an actor runtime that maintains fleets of repositories on its own.
//!
//! A queen supervises one pilot per repository (OTP-style restarts, escalation, an emergency protocol when the
//! fleet is sick), fans out ORCH actors that turn signals into proposals, and publishes everything on one typed
//! event bus. This crate is the facade: [`Hive::builder`] wires the parts together, and the member crates are
//! re-exported for everything else.
//!
//! ```
//! use hive::{Hive, HiveEvent, SimForge};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let hive = Hive::builder().forge(SimForge::fleet(10, 30, 7)).start().await?;
//! let mut events = hive.subscribe();
//! hive.start_cycle()?;
//! while let Some(envelope) = events.recv().await {
//!     if let HiveEvent::CycleCompleted { record } = &*envelope.event {
//!         assert_eq!(record.total_repositories, 10);
//!         assert_eq!(record.healthy_repositories, 7);
//!         break;
//!     }
//! }
//! hive.shutdown().await?;
//! # Ok::<(), hive::HiveError>(())
//! # });
//! ```

mod agent_tools;
mod agents;
mod change_sets;
pub mod command;
mod error;
pub mod feed;
mod hive;
pub mod metrics;
mod steering;
mod sync_sets;

pub use hive_actors as actors;
pub use hive_cerebrum as cerebrum;
pub use hive_changes as changes;
pub use hive_ecosystem as ecosystem;
pub use hive_forge as forge;
pub use hive_spawner as spawner;

pub use crate::{
    agent_tools::SEARCH_HITS,
    error::HiveError,
    hive::{Hive, HiveBuilder, ORCH_AGENT},
    steering::{EXPLAIN_RECORDS, Explanation},
};
pub use hive_actors::PilotConfig;
pub use hive_actors::{ServiceCommand, ServiceState, ServiceStatus};
pub use hive_cerebrum::{
    BatchReport, CycleRecord, EmergencyConfig, Envelope, EventBus, HealthLevel, HiveEvent, HiveStatus, MemberId,
    OrchConfig, ProposalEngine, RestartPolicy, RuleEngine, Seed, Signal, Subscription,
};
pub use hive_ecosystem::{Readiness, ServiceSpec};
pub use hive_forge::{Forge, LocalForge, RepoId, SimForge, SimRepo};
