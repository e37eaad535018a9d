//! The workers of hive: repository pilots and service keepers, and the builders that let the queen start and restart
//! them.
//!
//! This crate is the only bridge between the brain (`hive-cerebrum`) and the world (`hive-forge`, `hive-ecosystem`): a pilot
//! reads a [`Forge`](hive_forge::Forge), scores what it sees and reports to the queen.
//!
//! ```
//! use std::sync::Arc;
//! use hive_actors::{PilotBuilder, PilotConfig};
//! use hive_cerebrum::{EventBus, HiveEvent, MemberSpec, Queen, QueenArgs, QueenConfig};
//! use hive_forge::{SimForge, SimRepo};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let forge = Arc::new(SimForge::new(vec![SimRepo::healthy("acme/api")]));
//! let builder = Arc::new(PilotBuilder::new(forge, PilotConfig::default()));
//! let bus = EventBus::new(256);
//! let mut events = bus.subscribe();
//! let args = QueenArgs::new(bus, QueenConfig::default())
//!     .with_builder(builder)
//!     .with_members(vec![MemberSpec::pilot("acme/api")]);
//! let queen = Queen::start(args).await.unwrap();
//! queen.start_cycle().unwrap();
//! loop {
//!     if let HiveEvent::CycleCompleted { record } = &*events.recv().await.unwrap().event {
//!         assert_eq!(record.healthy_repositories, 1);
//!         break;
//!     }
//! }
//! queen.shutdown().await.unwrap();
//! # });
//! ```

mod autonomy;
mod bridge;
mod members;
mod pilot;
mod service;

pub use crate::{
    autonomy::{
        Autonomy, AutonomyConfig, AutonomyError, AutonomyReport, EnginePlanner, Filed, FiledKind, HIVE_LABEL,
        NEEDS_HUMAN_LABEL, Observation, OrchPlanner, Override, Overrides, Permit, PlanError, Planner, STEWARD_ID,
        Steward, StewardBuilder, StewardLink, StewardMessage, WriteFence, is_alert_write, is_valid_owner, open_filed,
    },
    bridge::{findings, signals_of},
    members::Members,
    pilot::{DriftCheck, PilotBuilder, PilotConfig, PilotMessage, PilotMode, PilotRef, PilotStatus, RepoPilot},
    service::{
        KeeperError, STATUS_LOG_LINES, ServiceArgs, ServiceBuilder, ServiceCommand, ServiceKeeper, ServiceKeeperState,
        ServiceMessage, ServiceRef, ServiceState, ServiceStatus,
    },
};
