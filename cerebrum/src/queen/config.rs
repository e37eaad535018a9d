//! What a queen is started with: its configuration and defaults, and the builder, engine, sink and members it
//! starts with.

use std::{path::PathBuf, sync::Arc, time::Duration};

use crate::{
    Backoff, EmergencyConfig, EventBus, LogSink, MemberBuilder, MemberSpec, NotificationSink, OrchConfig,
    ProposalEngine, RuleEngine, member::NoMembers,
};

/// How the queen runs.
#[derive(Debug, Clone)]
pub struct QueenConfig {
    /// Time between orchestration cycles; `None` means cycles only start on request
    /// ([`QueenHandle::start_cycle`]).
    pub cycle_interval: Option<Duration>,
    /// Time between cycles while an emergency is active (faster polling).
    pub emergency_cycle_interval: Duration,
    /// Emergency triggers.
    pub emergency: EmergencyConfig,
    /// ORCH fan-out limits.
    pub orch: OrchConfig,
    /// How long graceful shutdown waits for one member to drain before killing it.
    pub shutdown_timeout: Duration,
    /// Where emergency snapshots go (`<state_dir>/snapshots/`); `None` keeps them in the log only.
    pub state_dir: Option<PathBuf>,
    /// How many emergency snapshots `<state_dir>/snapshots/` keeps (the newest), pruned after each one written;
    /// `None` keeps them all.
    pub keep_snapshots: Option<usize>,
    /// Seed for backoff jitter, for reproducible runs; `None` seeds from the OS.
    pub jitter_seed: Option<u64>,
    /// When an escalated member is resumed by itself: `min` after its escalation, doubling for each escalation that
    /// follows a resume within `reset_after`, up to `max`. `None` leaves escalated members to an operator (and an
    /// emergency's recovery attempt).
    pub resume: Option<Backoff>,
    /// The last cycle number used before this queen started (by an earlier run on the same state, kept in the
    /// database's counter, [`History::last_cycle`](crate::History::last_cycle)): the first cycle is one more, so
    /// cycle numbers keep growing across restarts. 0 numbers from 1.
    pub last_cycle: u64,
    /// Every how many cycles all members are read: 1 (the default) reads every member every cycle. With `n`, a
    /// full cycle is followed by `n - 1` quiet ones that ask only members never read; what changed meanwhile is
    /// read in refresh cycles ([`QueenHandle::observe_now`], for example on a GitHub webhook delivery). Every cycle
    /// is full during an emergency. 0 is taken as 1.
    pub reconcile_every: u32,
    /// How long [`QueenHandle::observe_now`] waits before its refresh cycle starts, so a burst of events about
    /// many members costs one cycle.
    pub refresh_window: Duration,
}

/// The default for [`QueenConfig::resume`]: a minute after the escalation, up to an hour for a member that keeps
/// failing, starting again from a minute after an hour without escalation.
pub const DEFAULT_RESUME: Backoff = Backoff {
    min: Duration::from_secs(60),
    max: Duration::from_secs(3_600),
    factor: 0.2,
    reset_after: Duration::from_secs(3_600),
};

/// The default for [`QueenConfig::refresh_window`]: short against the one second an event may take to reach a
/// decision, long enough to gather the deliveries GitHub sends for one push.
pub const DEFAULT_REFRESH_WINDOW: Duration = Duration::from_millis(100);

impl Default for QueenConfig {
    fn default() -> QueenConfig {
        QueenConfig {
            cycle_interval: None,
            emergency_cycle_interval: Duration::from_secs(10),
            emergency: EmergencyConfig::default(),
            orch: OrchConfig::default(),
            shutdown_timeout: Duration::from_secs(10),
            state_dir: None,
            keep_snapshots: None,
            jitter_seed: None,
            resume: Some(DEFAULT_RESUME),
            last_cycle: 0,
            reconcile_every: 1,
            refresh_window: DEFAULT_REFRESH_WINDOW,
        }
    }
}

/// What the queen starts with.
pub struct QueenArgs {
    /// The bus events are published on.
    pub bus: EventBus,
    /// Configuration.
    pub config: QueenConfig,
    /// Builds members.
    pub builder: Arc<dyn MemberBuilder>,
    /// Proposal engine for ORCHs.
    pub engine: Arc<dyn ProposalEngine>,
    /// Where emergency notices go.
    pub sink: Arc<dyn NotificationSink>,
    /// Members to start, in this order.
    pub members: Vec<MemberSpec>,
}

impl QueenArgs {
    /// A queen with no members, the rule engine and the log sink.
    pub fn new(bus: EventBus, config: QueenConfig) -> QueenArgs {
        QueenArgs {
            bus,
            config,
            builder: Arc::new(NoMembers),
            engine: Arc::new(RuleEngine),
            sink: Arc::new(LogSink),
            members: Vec::new(),
        }
    }

    /// Uses this member builder.
    pub fn with_builder(mut self, builder: Arc<dyn MemberBuilder>) -> QueenArgs {
        self.builder = builder;
        self
    }

    /// Uses this proposal engine.
    pub fn with_engine(mut self, engine: Arc<dyn ProposalEngine>) -> QueenArgs {
        self.engine = engine;
        self
    }

    /// Uses this notification sink.
    pub fn with_sink(mut self, sink: Arc<dyn NotificationSink>) -> QueenArgs {
        self.sink = sink;
        self
    }

    /// Starts these members.
    pub fn with_members(mut self, members: Vec<MemberSpec>) -> QueenArgs {
        self.members = members;
        self
    }
}
