//! Test harness: starts a queen over a [`Fleet`] of test members, reads the bus with deadlines, polls status, and
//! holds the small builders (policies, configs, predicates) the tests share.

use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use hive_cerebrum::{
    Backoff, CycleRecord, EventBus, HiveEvent, HiveStatus, MemberSpec, MemberState, Notice, NotificationSink,
    ProposalEngine, Queen, QueenArgs, QueenConfig, QueenHandle, RestartPolicy, RestartType, Subscription,
};

use crate::member::Fleet;

/// How long any wait may take before the test fails. Under paused time this is virtual time: the clock only jumps
/// to it when nothing else can run, i.e. when the awaited thing will never happen.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Backoff 100 ms doubling up to 10 s, no jitter, reset after 5 s quiet; `max_restarts` within 60 s.
pub fn policy(restart: RestartType, max_restarts: u32) -> RestartPolicy {
    RestartPolicy {
        restart,
        max_restarts,
        period: Duration::from_secs(60),
        backoff: Backoff {
            min: ms(100),
            max: Duration::from_secs(10),
            factor: 0.0,
            reset_after: Duration::from_secs(5),
        },
    }
}

/// A permanent pilot with [`policy`].
pub fn pilot(id: &str, max_restarts: u32) -> MemberSpec {
    MemberSpec::pilot(id).with_policy(policy(RestartType::Permanent, max_restarts))
}

/// Cycles on request only, reproducible jitter.
pub fn config() -> QueenConfig {
    QueenConfig { cycle_interval: None, jitter_seed: Some(7), ..QueenConfig::default() }
}

/// A notification sink that keeps every notice.
#[derive(Debug, Default)]
pub struct RecordingSink {
    notices: Mutex<Vec<Notice>>,
}

impl RecordingSink {
    pub fn notices(&self) -> Vec<Notice> {
        self.notices.lock().expect("sink lock").clone()
    }
}

impl NotificationSink for RecordingSink {
    fn notify(&self, notice: &Notice) {
        self.notices.lock().expect("sink lock").push(notice.clone());
    }
}

/// Everything read from the bus so far, with a cursor for "what happened next".
pub struct Events {
    sub: Subscription,
    log: Vec<HiveEvent>,
    cursor: usize,
}

impl Events {
    pub fn new(sub: Subscription) -> Events {
        Events { sub, log: Vec::new(), cursor: 0 }
    }

    async fn find(&mut self, from: usize, pred: &impl Fn(&HiveEvent) -> bool) -> Option<usize> {
        let mut i = from;
        loop {
            while i < self.log.len() {
                if pred(&self.log[i]) {
                    return Some(i);
                }
                i += 1;
            }
            let envelope = self.sub.recv().await?;
            self.log.push((*envelope.event).clone());
        }
    }

    async fn find_by_deadline(
        &mut self,
        what: &str,
        from: usize,
        deadline: Duration,
        pred: impl Fn(&HiveEvent) -> bool,
    ) -> usize {
        match tokio::time::timeout(deadline, self.find(from, &pred)).await {
            Ok(Some(i)) => i,
            Ok(None) => panic!("the bus closed while waiting for {what}; events since: {:#?}", &self.log[from..]),
            Err(_) => panic!("timed out waiting for {what}; events since: {:#?}", &self.log[from..]),
        }
    }

    /// Waits for the next event after the cursor that matches; returns every event from the cursor up to and
    /// including it, and moves the cursor past it.
    pub async fn until(&mut self, what: &str, pred: impl Fn(&HiveEvent) -> bool) -> Vec<HiveEvent> {
        self.until_within(DEADLINE, what, pred).await
    }

    /// [`Events::until`] with another deadline, for waits on timers longer than [`DEADLINE`].
    pub async fn until_within(
        &mut self,
        deadline: Duration,
        what: &str,
        pred: impl Fn(&HiveEvent) -> bool,
    ) -> Vec<HiveEvent> {
        let from = self.cursor;
        let i = self.find_by_deadline(what, from, deadline, pred).await;
        self.cursor = i + 1;
        self.log[from..=i].to_vec()
    }

    /// Waits for an event that matches, looking at everything since the start too; the cursor does not move.
    pub async fn seen(&mut self, what: &str, pred: impl Fn(&HiveEvent) -> bool) -> HiveEvent {
        let i = self.find_by_deadline(what, 0, DEADLINE, pred).await;
        self.log[i].clone()
    }

    /// Reads what is on the bus right now; returns the events after the cursor and moves the cursor to the end.
    pub fn ready(&mut self) -> Vec<HiveEvent> {
        while let Some(envelope) = self.sub.try_recv() {
            self.log.push((*envelope.event).clone());
        }
        let from = self.cursor;
        self.cursor = self.log.len();
        self.log[from..].to_vec()
    }

    /// Every event read so far.
    pub fn log(&self) -> &[HiveEvent] {
        &self.log
    }
}

/// A running queen over a fleet of test members.
pub struct Hive {
    pub queen: QueenHandle,
    pub fleet: Fleet,
    pub events: Events,
    pub sink: Arc<RecordingSink>,
    /// Cycles started so far; one started without [`Hive::cycle`] is counted by its starter.
    pub cycles: u64,
}

impl Hive {
    /// Starts a queen with these members (scripts should be set on `fleet` first) and waits until each has
    /// started.
    pub async fn start(config: QueenConfig, members: Vec<MemberSpec>, fleet: Fleet) -> Hive {
        let ids: Vec<String> = members.iter().map(|m| m.id.as_str().to_owned()).collect();
        let mut hive = Hive::launch(config, members, fleet, None).await;
        if !ids.is_empty() {
            // Initial members start one after the other, in list order, and are announced together.
            let events = hive.events.until("the fleet started", |e| matches!(e, HiveEvent::FleetStarted { .. })).await;
            assert_eq!(started(events.last().expect("until returns the match")), ids, "{events:#?}");
        }
        hive
    }

    /// Starts a queen with these members without waiting for them.
    pub async fn launch_only(config: QueenConfig, members: Vec<MemberSpec>, fleet: Fleet) -> Hive {
        Hive::launch(config, members, fleet, None).await
    }

    /// Starts a queen without members that uses this proposal engine.
    pub async fn with_engine(config: QueenConfig, engine: Arc<dyn ProposalEngine>) -> Hive {
        Hive::launch(config, Vec::new(), Fleet::default(), Some(engine)).await
    }

    async fn launch(
        config: QueenConfig,
        members: Vec<MemberSpec>,
        fleet: Fleet,
        engine: Option<Arc<dyn ProposalEngine>>,
    ) -> Hive {
        let bus = EventBus::new(8192);
        // Subscribe before the queen starts, so no event is missed.
        let events = Events::new(bus.subscribe());
        let sink = Arc::new(RecordingSink::default());
        let mut args = QueenArgs::new(bus, config)
            .with_builder(fleet.builder())
            .with_members(members)
            .with_sink(Arc::clone(&sink) as Arc<dyn NotificationSink>);
        if let Some(engine) = engine {
            args = args.with_engine(engine);
        }
        let queen = Queen::start(args).await.expect("queen starts");
        Hive { queen, fleet, events, sink, cycles: 0 }
    }

    /// Runs one orchestration cycle to completion; returns its record and every event since the previous wait.
    pub async fn cycle(&mut self) -> (CycleRecord, Vec<HiveEvent>) {
        self.cycles += 1;
        let n = self.cycles;
        self.queen.start_cycle().expect("queen is running");
        let events =
            self.events.until(&format!("cycle {n} completed"), |e| matches!(e, HiveEvent::CycleCompleted { .. })).await;
        let Some(HiveEvent::CycleCompleted { record }) = events.last() else { unreachable!("until returns the match") };
        assert_eq!(record.orchestration_cycle, n, "cycles complete in order");
        (record.clone(), events)
    }

    /// Polls the queen's status until `pred` holds.
    pub async fn status_until(&self, what: &str, pred: impl Fn(&HiveStatus) -> bool) -> HiveStatus {
        let poll = async {
            loop {
                let status = self.queen.status().await.expect("queen answers status");
                if pred(&status) {
                    return status;
                }
                tokio::time::sleep(ms(5)).await;
            }
        };
        match tokio::time::timeout(DEADLINE, poll).await {
            Ok(status) => status,
            Err(_) => panic!("timed out waiting for status: {what}; last: {:#?}", self.queen.status().await),
        }
    }

    /// The state of one member now.
    pub async fn state(&self, id: &str) -> MemberState {
        self.queen.status().await.expect("queen answers status").member(id).expect("member is known").state
    }
}

/// Polls a condition until it holds or the deadline passes.
pub async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let poll = async {
        while !cond() {
            tokio::time::sleep(ms(5)).await;
        }
    };
    if tokio::time::timeout(DEADLINE, poll).await.is_err() {
        panic!("timed out waiting for: {what}");
    }
}

/// Awaits a future with the deadline.
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, fut).await.unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// The members a `FleetStarted` names, in its order; nothing for any other event.
pub fn started(e: &HiveEvent) -> Vec<String> {
    match e {
        HiveEvent::FleetStarted { members } => members.iter().map(|m| m.member.as_str().to_owned()).collect(),
        _ => Vec::new(),
    }
}

pub fn is_failed(e: &HiveEvent, id: &str) -> bool {
    matches!(e, HiveEvent::MemberFailed { member, .. } if member.as_str() == id)
}

pub fn is_restarted(e: &HiveEvent, id: &str) -> bool {
    matches!(e, HiveEvent::MemberRestarted { member, .. } if member.as_str() == id)
}

pub fn is_escalated(e: &HiveEvent, id: &str) -> bool {
    matches!(e, HiveEvent::MemberEscalated { member, .. } if member.as_str() == id)
}

pub fn is_resumed(e: &HiveEvent, id: &str) -> bool {
    matches!(e, HiveEvent::MemberResumed { member } if member.as_str() == id)
}

pub fn is_stopped(e: &HiveEvent, id: &str) -> bool {
    matches!(e, HiveEvent::MemberStopped { member, .. } if member.as_str() == id)
}

/// How many events match.
pub fn count(events: &[HiveEvent], pred: impl Fn(&HiveEvent) -> bool) -> usize {
    events.iter().filter(|e| pred(e)).count()
}

/// The error texts of `MemberFailed` events for a member.
pub fn failures(events: &[HiveEvent], id: &str) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            HiveEvent::MemberFailed { member, error } if member.as_str() == id => Some(error.clone()),
            _ => None,
        })
        .collect()
}

/// `(attempt, delay)` of the last event if it is a `MemberRestarted`.
pub fn restart_of(event: Option<&HiveEvent>) -> (u32, Duration) {
    match event {
        Some(HiveEvent::MemberRestarted { attempt, delay, .. }) => (*attempt, *delay),
        other => panic!("expected MemberRestarted, got {other:?}"),
    }
}
