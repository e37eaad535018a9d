//! Runtime benchmarks: the queen, pilots, bus and ORCH fan-out against raw ractor, measured in the same run.
//!
//! Every group times a hive path and a raw-ractor baseline with its own `Instant`s inside `iter_custom`, keeps what
//! it measured in a static, and prints `ratio <hive>/<raw> = N.NNx (goal ...)` when the group ends, so a ratio never
//! compares numbers from different runs or machines. BENCHMARKS.md says exactly which interval each one covers.
//!
//! `cargo bench --bench runtime` runs them for real (about 35 s on two cores, after the build); `-- --test` runs every
//! benchmark once, which CI can afford.

// Idle memory per pilot is measured with a counting global allocator, and `GlobalAlloc` is an unsafe trait. The
// workspace denies `unsafe_code`; this bench file alone allows it, and its only unsafe code forwards each call
// unchanged to `System`.
#![allow(unsafe_code)]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    collections::BTreeMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, measurement::WallTime};
use hive::{
    Hive,
    actors::{PilotBuilder, PilotConfig},
    cerebrum::{
        Backoff, EmergencyConfig, Envelope, EventBus, HealthReport, HiveEvent, MemberBuilder, MemberCommand,
        MemberContext, MemberHandle, MemberId, MemberSpec, MemberState, Queen, QueenArgs, QueenConfig, QueenHandle,
        Reporter, RestartPolicy, RestartType, Seed, Signal, StartError, Subscription,
    },
    ecosystem::{Forge, ForgeError, RepoId, RepoSnapshot, SimForge, SimRepo},
};
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::{
    runtime::Runtime,
    sync::{Notify, broadcast, oneshot},
};

// ---------------------------------------------------------------------------------------------------------------
// Counting allocator
// ---------------------------------------------------------------------------------------------------------------

/// Bytes currently allocated by the whole process (all threads). Counted on every allocation of both the hive and
/// the baselines, so the small cost of the atomic is paid by both sides of every ratio.
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

struct CountingAlloc;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s guarantees hold;
// the only addition is bookkeeping on an atomic, which neither allocates nor unwinds.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE_BYTES.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn live_bytes() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

// ---------------------------------------------------------------------------------------------------------------
// What was measured, kept until the end of each group
// ---------------------------------------------------------------------------------------------------------------

/// Everything one benchmark function measured in this run (warm-up included).
#[derive(Default)]
struct Tally {
    /// One duration per iteration: a whole operation, or one latency.
    samples: Vec<Duration>,
    /// A second series of latencies (an interval inside the queen), for percentiles.
    inner: Vec<Duration>,
    /// Bytes per actor, one value per iteration.
    bytes: Vec<f64>,
}

static RESULTS: Mutex<BTreeMap<&'static str, Tally>> = Mutex::new(BTreeMap::new());

fn tally<R>(name: &'static str, f: impl FnOnce(&mut Tally) -> R) -> R {
    let mut results = RESULTS.lock().unwrap_or_else(PoisonError::into_inner);
    f(results.entry(name).or_default())
}

/// The durations of one `iter_custom` call, one per iteration.
#[derive(Default)]
struct Timings(Vec<Duration>);

impl Timings {
    fn add(&mut self, elapsed: Duration) {
        self.0.push(elapsed);
    }

    /// Keeps the durations under `name` and returns their sum, which is what `iter_custom` reports to criterion.
    fn finish(self, name: &'static str) -> Duration {
        let sum = self.0.iter().sum();
        tally(name, |t| t.samples.extend(self.0));
        sum
    }
}

/// The median iteration, or `None` when the function did not run (filtered out, or `--list`). Ratios use medians
/// so that a burst of load from elsewhere on the machine during one side's run moves them less.
fn typical(name: &'static str) -> Option<Duration> {
    tally(name, |t| percentile(&t.samples, 0.5))
}

fn percentile(series: &[Duration], p: f64) -> Option<Duration> {
    let mut sorted = series.to_vec();
    sorted.sort();
    let last = sorted.len().checked_sub(1)?;
    let rank = ((last as f64) * p).round() as usize;
    sorted.get(rank.min(last)).copied()
}

fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied()
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

/// Prints `ratio a/b = N.NNx (goal ...)` when both sides ran.
fn print_ratio(label: &str, a: &'static str, b: &'static str, goal: &str, met: impl Fn(f64) -> bool) {
    let (Some(a), Some(b)) = (typical(a), typical(b)) else { return };
    let ratio = a.as_secs_f64() / b.as_secs_f64();
    println!("ratio {label} = {ratio:.2}x (goal {goal}) [{}]", verdict(met(ratio)));
}

/// A benchmark's name without its group.
fn short(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

fn us(d: Duration) -> String {
    format!("{:.1} us", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Whether criterion was asked to run every benchmark once (`--test`): then nothing is topped up.
fn smoke() -> bool {
    std::env::args().any(|arg| arg == "--test")
}

/// Percentiles need a known minimum of samples, but criterion picks iteration counts from the *timed* part, which
/// for restarts and declarations is a small share of each iteration. Runs `more` for the missing samples of a
/// benchmark that criterion ran (so a filtered-out one stays out).
async fn top_up<F: Future<Output = Duration>>(name: &'static str, want: usize, more: impl FnOnce(u64) -> F) {
    let have = tally(name, |t| t.samples.len());
    if have > 0 && have < want && !smoke() {
        more((want - have) as u64).await;
    }
}

/// Prints how long a group took on the wall clock, untimed work included, to keep the whole run in budget; silent
/// when criterion ran none of `names` (filtered out).
fn wall(group: &str, started: Instant, names: &[&'static str]) {
    if names.iter().any(|name| tally(name, |t| !t.samples.is_empty())) {
        println!("group {group}: {:.1} s wall", started.elapsed().as_secs_f64());
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Raw ractor actors for the baselines
// ---------------------------------------------------------------------------------------------------------------

/// A trivial actor: no state, ignores its messages.
struct Nop;

impl Actor for Nop {
    type Msg = MemberCommand;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _myself: ActorRef<MemberCommand>, _args: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}

/// A trivial supervisor: ignores its children's exits instead of stopping (ractor's default).
struct NopSupervisor;

impl Actor for NopSupervisor {
    type Msg = ();
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _myself: ActorRef<()>, _args: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<()>,
        _event: SupervisionEvent,
        _state: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}

/// Where a raw crasher writes the instant it fails.
type FailedAt = Arc<Mutex<Option<Instant>>>;

/// Fails (returns an error from its handler, as a pilot does) on any message, noting when.
struct Crasher;

impl Actor for Crasher {
    type Msg = ();
    type State = FailedAt;
    type Arguments = FailedAt;

    async fn pre_start(&self, _myself: ActorRef<()>, failed_at: FailedAt) -> Result<FailedAt, ActorProcessingErr> {
        Ok(failed_at)
    }

    async fn handle(
        &self,
        _myself: ActorRef<()>,
        _msg: (),
        failed_at: &mut FailedAt,
    ) -> Result<(), ActorProcessingErr> {
        *failed_at.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        Err(INJECTED.into())
    }
}

/// Restarts its crasher at once on failure and announces the new one on a broadcast channel (as the queen
/// publishes `MemberRestarted` on the bus).
struct RestartSupervisor;

struct RestartArgs {
    failed_at: FailedAt,
    restarted: broadcast::Sender<ActorRef<()>>,
}

impl Actor for RestartSupervisor {
    type Msg = ();
    type State = RestartArgs;
    type Arguments = RestartArgs;

    async fn pre_start(&self, _myself: ActorRef<()>, args: RestartArgs) -> Result<RestartArgs, ActorProcessingErr> {
        Ok(args)
    }

    async fn post_start(&self, myself: ActorRef<()>, state: &mut RestartArgs) -> Result<(), ActorProcessingErr> {
        let (child, _join) = Actor::spawn_linked(None, Crasher, state.failed_at.clone(), myself.get_cell()).await?;
        let _ = state.restarted.send(child);
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<()>,
        event: SupervisionEvent,
        state: &mut RestartArgs,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(..) = event {
            let (child, _join) = Actor::spawn_linked(None, Crasher, state.failed_at.clone(), myself.get_cell()).await?;
            let _ = state.restarted.send(child);
        }
        Ok(())
    }
}

/// Counts the events cast to it and says when it has seen `target`.
struct Counter;

struct CounterState {
    seen: u64,
    target: u64,
    done: Option<oneshot::Sender<u64>>,
}

impl Actor for Counter {
    type Msg = HiveEvent;
    type State = CounterState;
    type Arguments = (u64, oneshot::Sender<u64>);

    async fn pre_start(
        &self,
        _myself: ActorRef<HiveEvent>,
        (target, done): (u64, oneshot::Sender<u64>),
    ) -> Result<CounterState, ActorProcessingErr> {
        Ok(CounterState { seen: 0, target, done: Some(done) })
    }

    async fn handle(
        &self,
        _myself: ActorRef<HiveEvent>,
        _event: HiveEvent,
        state: &mut CounterState,
    ) -> Result<(), ActorProcessingErr> {
        state.seen += 1;
        if state.seen == state.target
            && let Some(done) = state.done.take()
        {
            let _ = done.send(state.seen);
        }
        Ok(())
    }
}

/// The raw version of the fleet-health trigger: folds verdicts in and announces when the healthy share of a
/// sufficiently known fleet falls below one half.
struct Threshold;

struct ThresholdState {
    verdicts: Vec<Option<bool>>,
    known: usize,
    healthy: usize,
    active: bool,
    declared: broadcast::Sender<()>,
}

impl Actor for Threshold {
    type Msg = (usize, bool);
    type State = ThresholdState;
    type Arguments = (usize, broadcast::Sender<()>);

    async fn pre_start(
        &self,
        _myself: ActorRef<(usize, bool)>,
        (n, declared): (usize, broadcast::Sender<()>),
    ) -> Result<ThresholdState, ActorProcessingErr> {
        Ok(ThresholdState { verdicts: vec![None; n], known: 0, healthy: 0, active: false, declared })
    }

    async fn handle(
        &self,
        _myself: ActorRef<(usize, bool)>,
        (member, healthy): (usize, bool),
        s: &mut ThresholdState,
    ) -> Result<(), ActorProcessingErr> {
        match s.verdicts[member].replace(healthy) {
            None => s.known += 1,
            Some(true) => s.healthy -= 1,
            Some(false) => {}
        }
        if healthy {
            s.healthy += 1;
        }
        let low = s.known * 10 >= s.verdicts.len() * 9 && s.healthy * 2 < s.known;
        if low && !s.active {
            s.active = true;
            let _ = s.declared.send(());
        } else if !low {
            s.active = false;
        }
        Ok(())
    }
}

/// Answers one call.
struct Echo;

impl Actor for Echo {
    type Msg = RpcReplyPort<()>;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _myself: ActorRef<RpcReplyPort<()>>, _args: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<RpcReplyPort<()>>,
        reply: RpcReplyPort<()>,
        _state: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let _ = reply.send(());
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Hive-side helpers
// ---------------------------------------------------------------------------------------------------------------

/// Panic message of injected failures; the panic hook keeps them quiet.
const INJECTED: &str = "bench-injected failure";

/// Counts the commands the queen sends to idle members and those they have handled, so the bench can wait until
/// every member has gone quiet before it times something (no sleeping and hoping).
#[derive(Default)]
struct Commands {
    sent: AtomicUsize,
    handled: AtomicUsize,
    quiet: Notify,
}

impl Commands {
    async fn until_quiet(&self) {
        while self.handled.load(Ordering::SeqCst) != self.sent.load(Ordering::SeqCst) {
            self.quiet.notified().await;
        }
    }
}

/// A member that does nothing but count the commands it gets.
struct IdleMember;

impl Actor for IdleMember {
    type Msg = MemberCommand;
    type State = Arc<Commands>;
    type Arguments = Arc<Commands>;

    async fn pre_start(
        &self,
        _myself: ActorRef<MemberCommand>,
        commands: Arc<Commands>,
    ) -> Result<Arc<Commands>, ActorProcessingErr> {
        Ok(commands)
    }

    async fn handle(
        &self,
        _myself: ActorRef<MemberCommand>,
        _command: MemberCommand,
        commands: &mut Arc<Commands>,
    ) -> Result<(), ActorProcessingErr> {
        let handled = commands.handled.fetch_add(1, Ordering::SeqCst) + 1;
        if handled == commands.sent.load(Ordering::SeqCst) {
            commands.quiet.notify_one();
        }
        Ok(())
    }
}

/// Builds idle members: the queen's own per-member cost without a pilot's. It hands their reporters to the bench
/// so it can report on their behalf.
#[derive(Default)]
struct IdleBuilder {
    reporters: Mutex<Vec<Reporter>>,
    commands: Arc<Commands>,
}

struct IdleHandle {
    actor: ActorRef<MemberCommand>,
    cell: ActorCell,
    commands: Arc<Commands>,
}

impl MemberHandle for IdleHandle {
    fn cell(&self) -> &ActorCell {
        &self.cell
    }

    fn command(&self, command: MemberCommand) {
        self.commands.sent.fetch_add(1, Ordering::SeqCst);
        if self.actor.cast(command).is_err() {
            self.commands.sent.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[async_trait::async_trait]
impl MemberBuilder for IdleBuilder {
    async fn start(&self, ctx: MemberContext) -> Result<Box<dyn MemberHandle>, StartError> {
        let (actor, _join) = Actor::spawn_linked(None, IdleMember, self.commands.clone(), ctx.supervisor.clone())
            .await
            .map_err(|e| StartError { member: ctx.id.clone(), message: e.to_string() })?;
        self.reporters.lock().unwrap_or_else(PoisonError::into_inner).push(ctx.reporter);
        Ok(Box::new(IdleHandle { cell: actor.get_cell(), actor, commands: self.commands.clone() }))
    }
}

/// A sim forge whose next read panics when armed, noting the instant just before the panic.
struct TimedForge {
    inner: SimForge,
    armed: AtomicBool,
    panicked_at: Mutex<Option<Instant>>,
}

#[async_trait::async_trait]
impl Forge for TimedForge {
    fn name(&self) -> &str {
        "bench"
    }

    async fn discover(&self) -> Result<Vec<RepoId>, ForgeError> {
        self.inner.discover().await
    }

    async fn snapshot(&self, repo: &RepoId) -> Result<RepoSnapshot, ForgeError> {
        if self.armed.swap(false, Ordering::SeqCst) {
            *self.panicked_at.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
            panic!("{INJECTED}: reading '{repo}'");
        }
        self.inner.snapshot(repo).await
    }
}

fn repo_name(i: usize) -> String {
    format!("sim/repo-{i:04}")
}

/// The next event, which must come.
async fn next(sub: &mut Subscription) -> Envelope {
    sub.recv().await.expect("the bus outlives the benchmark")
}

/// Reads events until `stop` matches one; returns it.
async fn until(sub: &mut Subscription, stop: impl Fn(&HiveEvent) -> bool) -> Envelope {
    loop {
        let envelope = next(sub).await;
        if stop(&envelope.event) {
            return envelope;
        }
    }
}

fn since(earlier: SystemTime, later: SystemTime) -> Duration {
    later.duration_since(earlier).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------------------------
// 1 + 2. Spawning 10,000 pilots, and their idle memory
// ---------------------------------------------------------------------------------------------------------------

const FLEET: usize = 10_000;
/// Holds every event of a fleet start unread (10,000 `MemberStarted`), so the reader can never lose one.
const SPAWN_BUS: usize = 16_384;

const RAW_SPAWN: &str = "spawn_10k/raw_ractor";
const QUEEN_PILOTS: &str = "spawn_10k/queen_pilots";
const QUEEN_PILOTS_TASK: &str = "spawn_10k/queen_pilots_task_reader";
const QUEEN_PILOTS_QUIET: &str = "spawn_10k/queen_pilots_no_reader";
const QUEEN_IDLE: &str = "spawn_10k/queen_idle_members_no_reader";
const FACADE_PILOTS: &str = "spawn_10k/hive_facade_pilots";

/// Fills the bus's ring with filler events and reads them, so the ring holds the same kind of event before and
/// after a fleet starts, and the bytes it retains cancel out of the memory difference.
fn refill(bus: &EventBus, sub: &mut Subscription) {
    for _ in 0..SPAWN_BUS {
        bus.publish(HiveEvent::CycleStarted { cycle: 0 });
    }
    while sub.try_recv().is_some() {}
}

fn per_actor(before: isize, after: isize) -> f64 {
    (after - before) as f64 / FLEET as f64
}

/// 10,000 trivial actors spawned one after the other, each linked to a trivial supervisor, until the last
/// `spawn_linked` returns (its `pre_start` has run).
async fn raw_spawn(iters: u64) -> Duration {
    let mut total = Timings::default();
    for _ in 0..iters {
        let before = live_bytes();
        let start = Instant::now();
        let (sup, sup_join) = Actor::spawn(None, NopSupervisor, ()).await.expect("supervisor starts");
        for _ in 0..FLEET {
            Actor::spawn_linked(None, Nop, (), sup.get_cell()).await.expect("actor starts");
        }
        total.add(start.elapsed());
        let bytes = per_actor(before, live_bytes());
        tally(RAW_SPAWN, |t| t.bytes.push(bytes));
        sup.stop_children_and_wait(None, None).await;
        sup.stop(None);
        sup_join.await.expect("supervisor exits");
    }
    total.finish(RAW_SPAWN)
}

/// How the bench learns that every initial member runs.
#[derive(Clone, Copy)]
enum Wait {
    /// Read the bus as it goes, until 10,000 `MemberStarted`, on the thread that drives the runtime's `block_on`,
    /// which is where `hive run` reads its events.
    Events,
    /// The same reader, spawned as a task on the runtime's workers.
    TaskEvents,
    /// Ask `status()` once; the queen answers after its `post_start` has started every member. Nobody waits on
    /// the bus meanwhile.
    Status,
}

/// Reads until `n` `MemberStarted` events have been seen.
async fn count_started(sub: &mut Subscription, n: usize) {
    let mut started = 0;
    while started < n {
        if let HiveEvent::MemberStarted { .. } = &*next(sub).await.event {
            started += 1;
        }
    }
}

/// Starts a queen with 10,000 initial members and times it until they all run; measures the bytes they hold.
async fn queen_spawn(
    iters: u64,
    name: &'static str,
    wait: Wait,
    builder: impl Fn() -> Arc<dyn MemberBuilder>,
) -> Duration {
    let mut total = Timings::default();
    for _ in 0..iters {
        let bus = EventBus::new(SPAWN_BUS);
        let mut sub = bus.subscribe();
        refill(&bus, &mut sub);
        let builder = builder();
        let before = live_bytes();
        // Member specs are built outside the timed interval but inside the memory window: their ids stay alive as
        // the queen's member ids.
        let members: Vec<MemberSpec> = (0..FLEET).map(|i| MemberSpec::pilot(repo_name(i))).collect();
        let start = Instant::now();
        let args = QueenArgs::new(bus.clone(), QueenConfig::default()).with_builder(builder).with_members(members);
        let reader = match wait {
            // Subscribed before the queen starts, so that it sees every event.
            Wait::TaskEvents => {
                let mut sub = bus.subscribe();
                Some(tokio::spawn(async move { count_started(&mut sub, FLEET).await }))
            }
            Wait::Events | Wait::Status => None,
        };
        let queen = Queen::start(args).await.expect("queen starts");
        match (wait, reader) {
            (Wait::Events, _) => count_started(&mut sub, FLEET).await,
            (Wait::TaskEvents, Some(reader)) => reader.await.expect("reader finishes"),
            _ => {
                let status = queen.status().await.expect("status");
                assert_eq!(status.members.iter().filter(|m| m.state == MemberState::Running).count(), FLEET);
            }
        }
        total.add(start.elapsed());
        // Everything is still in the ring (16,384 > 10,001 events), so nothing was or will be lost.
        while sub.try_recv().is_some() {}
        assert_eq!(sub.lost(), 0, "the reader lost events");
        refill(&bus, &mut sub);
        let bytes = per_actor(before, live_bytes());
        tally(name, |t| t.bytes.push(bytes));
        queen.shutdown().await.expect("queen shuts down");
    }
    total.finish(name)
}

/// The facade's path: `Hive::builder().forge(..).start()` (discovery included), then `status()`.
async fn facade_spawn(iters: u64, forge: &SimForge) -> Duration {
    let mut total = Timings::default();
    for _ in 0..iters {
        let start = Instant::now();
        let hive = Hive::builder().forge(forge.clone()).start().await.expect("hive starts");
        let status = hive.status().await.expect("status");
        total.add(start.elapsed());
        assert_eq!(status.members.iter().filter(|m| m.state == MemberState::Running).count(), FLEET);
        hive.shutdown().await.expect("hive shuts down");
    }
    total.finish(FACADE_PILOTS)
}

fn heavy(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_secs(2));
}

fn spawn_group(c: &mut Criterion, rt: &Runtime) {
    let started = Instant::now();
    // Built once: making up 10,000 repositories is not what is measured.
    let forge = SimForge::fleet(FLEET, 0, 1);
    let pilots: Arc<dyn MemberBuilder> = Arc::new(PilotBuilder::new(Arc::new(forge.clone()), PilotConfig::default()));
    let mut group = c.benchmark_group("spawn_10k");
    heavy(&mut group);
    group.bench_function("raw_ractor", |b| b.to_async(rt).iter_custom(raw_spawn));
    group.bench_function("queen_pilots", |b| {
        b.to_async(rt).iter_custom(|iters| queen_spawn(iters, QUEEN_PILOTS, Wait::Events, || pilots.clone()))
    });
    group.bench_function("queen_pilots_task_reader", |b| {
        b.to_async(rt).iter_custom(|iters| queen_spawn(iters, QUEEN_PILOTS_TASK, Wait::TaskEvents, || pilots.clone()))
    });
    group.bench_function("queen_pilots_no_reader", |b| {
        b.to_async(rt).iter_custom(|iters| queen_spawn(iters, QUEEN_PILOTS_QUIET, Wait::Status, || pilots.clone()))
    });
    group.bench_function("queen_idle_members_no_reader", |b| {
        b.to_async(rt)
            .iter_custom(|iters| queen_spawn(iters, QUEEN_IDLE, Wait::Status, || Arc::new(IdleBuilder::default())))
    });
    group.bench_function("hive_facade_pilots", |b| b.to_async(rt).iter_custom(|iters| facade_spawn(iters, &forge)));
    group.finish();

    print_ratio("queen_pilots/raw_ractor", QUEEN_PILOTS, RAW_SPAWN, "<= 1.5x", |r| r <= 1.5);
    print_ratio("queen_pilots_task_reader/raw_ractor", QUEEN_PILOTS_TASK, RAW_SPAWN, "<= 1.5x", |r| r <= 1.5);
    print_ratio("queen_pilots_no_reader/raw_ractor", QUEEN_PILOTS_QUIET, RAW_SPAWN, "<= 1.5x", |r| r <= 1.5);
    print_ratio("queen_idle_members_no_reader/raw_ractor", QUEEN_IDLE, RAW_SPAWN, "none, diagnostic", |_| true);
    print_ratio("hive_facade_pilots/raw_ractor", FACADE_PILOTS, RAW_SPAWN, "none, diagnostic", |_| true);

    let times: Vec<String> =
        [RAW_SPAWN, QUEEN_PILOTS, QUEEN_PILOTS_TASK, QUEEN_PILOTS_QUIET, QUEEN_IDLE, FACADE_PILOTS]
            .into_iter()
            .filter_map(|name| typical(name).map(|d| format!("{} {}", short(name), ms(d))))
            .collect();
    println!("spawn 10,000, median per fleet: {}", times.join(", "));
    let bytes = |name| tally(name, |t| median(&t.bytes));
    let show = |name| bytes(name).map_or_else(|| "not run".to_owned(), |b| format!("{b:.0} B"));
    println!(
        "idle memory per member (median of iterations): queen + pilot = {} (no reader: {}), queen + idle member = \
         {}, raw ractor actor = {}",
        show(QUEEN_PILOTS),
        show(QUEEN_PILOTS_QUIET),
        show(QUEEN_IDLE),
        show(RAW_SPAWN)
    );
    if let (Some(pilot), Some(raw)) = (bytes(QUEEN_PILOTS), bytes(RAW_SPAWN)) {
        println!(
            "ratio idle_bytes queen_pilot/raw_ractor = {:.2}x (goal: pilot <= 16384 B) [{}]",
            pilot / raw,
            verdict(pilot <= 16_384.0)
        );
    }
    wall(
        "spawn_10k",
        started,
        &[RAW_SPAWN, QUEEN_PILOTS, QUEEN_PILOTS_TASK, QUEEN_PILOTS_QUIET, QUEEN_IDLE, FACADE_PILOTS],
    );
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Bus delivery rate
// ---------------------------------------------------------------------------------------------------------------

const EVENTS: u64 = 100_000;
const BUS_HIVE: &str = "bus_100k/event_bus";
const BUS_RAW: &str = "bus_100k/raw_ractor_cast";

fn sample_event(member: &MemberId, i: u64) -> HiveEvent {
    HiveEvent::HealthReported { member: member.clone(), score: 90, healthy: true, cycle: Some(i) }
}

async fn bus_hive(iters: u64) -> Duration {
    let member = MemberId::new(repo_name(0));
    let mut total = Timings::default();
    for _ in 0..iters {
        // Room for every event, so a slow reader loses nothing and the assertion below holds.
        let bus = EventBus::new(EVENTS as usize + 1);
        let mut sub = bus.subscribe();
        let reader = tokio::spawn(async move {
            let mut seen = 0;
            while seen < EVENTS && sub.recv().await.is_some() {
                seen += 1;
            }
            (seen, sub.lost())
        });
        let start = Instant::now();
        for i in 0..EVENTS {
            bus.publish(sample_event(&member, i));
        }
        let (seen, lost) = reader.await.expect("reader finishes");
        total.add(start.elapsed());
        assert_eq!((seen, lost, bus.lost()), (EVENTS, 0, 0), "the bus lost events");
    }
    total.finish(BUS_HIVE)
}

async fn bus_raw(iters: u64) -> Duration {
    let member = MemberId::new(repo_name(0));
    let mut total = Timings::default();
    for _ in 0..iters {
        let (done, finished) = oneshot::channel();
        let (counter, join) = Actor::spawn(None, Counter, (EVENTS, done)).await.expect("counter starts");
        let start = Instant::now();
        for i in 0..EVENTS {
            counter.cast(sample_event(&member, i)).expect("counter is alive");
        }
        let seen = finished.await.expect("counter counts");
        total.add(start.elapsed());
        assert_eq!(seen, EVENTS);
        counter.stop(None);
        join.await.expect("counter exits");
    }
    total.finish(BUS_RAW)
}

fn bus_group(c: &mut Criterion, rt: &Runtime) {
    let started = Instant::now();
    let mut group = c.benchmark_group("bus_100k");
    heavy(&mut group);
    group.throughput(Throughput::Elements(EVENTS));
    group.bench_function("raw_ractor_cast", |b| b.to_async(rt).iter_custom(bus_raw));
    group.bench_function("event_bus", |b| b.to_async(rt).iter_custom(bus_hive));
    group.finish();
    // A rate ratio is the inverse of a time ratio.
    if let (Some(hive), Some(raw)) = (typical(BUS_HIVE), typical(BUS_RAW)) {
        let rate = |d: Duration| EVENTS as f64 / d.as_secs_f64();
        let ratio = rate(hive) / rate(raw);
        println!(
            "bus delivery: event_bus {:.2} M events/s, raw ractor cast {:.2} M msgs/s",
            rate(hive) / 1e6,
            rate(raw) / 1e6
        );
        println!("ratio event_bus_rate/raw_ractor_cast_rate = {ratio:.2}x (goal >= 0.5x) [{}]", verdict(ratio >= 0.5));
    }
    wall("bus_100k", started, &[BUS_HIVE, BUS_RAW]);
}

// ---------------------------------------------------------------------------------------------------------------
// 4. Restart latency
// ---------------------------------------------------------------------------------------------------------------

const RESTART_HIVE: &str = "restart/hive_pilot";
const RESTART_RAW: &str = "restart/raw_ractor";
/// At least this many restarts per side go into the percentiles.
const RESTARTS: usize = 1_000;

struct RestartHive {
    hive: Hive,
    forge: Arc<TimedForge>,
}

async fn restart_hive_fixture() -> RestartHive {
    let forge = Arc::new(TimedForge {
        inner: SimForge::new(vec![SimRepo::healthy("bench/restart")]),
        armed: AtomicBool::new(false),
        panicked_at: Mutex::new(None),
    });
    let policy = RestartPolicy {
        restart: RestartType::Permanent,
        max_restarts: u32::MAX,
        period: Duration::from_secs(3600),
        backoff: Backoff::NONE,
    };
    let pilot = PilotConfig { jitter: Duration::ZERO, emergency_jitter: Duration::ZERO, ..PilotConfig::default() };
    let hive = Hive::builder()
        .shared_forge(forge.clone())
        .pilot_config(pilot)
        .restart_policy(policy)
        .start()
        .await
        .expect("hive starts");
    RestartHive { hive, forge }
}

/// One restart per iteration: arm the forge, start a cycle (the pilot reads, the forge panics, the pilot fails),
/// and time from the panic to reading `MemberRestarted`. The restarted pilot then answers the cycle, untimed.
async fn restart_hive(fx: &RestartHive, iters: u64) -> Duration {
    let mut sub = fx.hive.subscribe();
    let mut total = Timings::default();
    let mut inner = Vec::new();
    for _ in 0..iters {
        fx.forge.armed.store(true, Ordering::SeqCst);
        fx.hive.start_cycle().expect("queen is running");
        let failed = until(&mut sub, |e| matches!(e, HiveEvent::MemberFailed { .. })).await;
        let restarted = until(&mut sub, |e| matches!(e, HiveEvent::MemberRestarted { .. })).await;
        let received = Instant::now();
        let panicked = fx.forge.panicked_at.lock().unwrap_or_else(PoisonError::into_inner).take();
        let latency = received - panicked.expect("the forge panicked");
        total.add(latency);
        inner.push(since(failed.at, restarted.at));
        until(&mut sub, |e| matches!(e, HiveEvent::CycleCompleted { .. })).await;
    }
    assert_eq!(sub.lost(), 0, "the reader lost events");
    tally(RESTART_HIVE, |t| t.inner.extend(inner));
    total.finish(RESTART_HIVE)
}

struct RestartRaw {
    failed_at: FailedAt,
    restarted: broadcast::Sender<ActorRef<()>>,
    child: Mutex<Option<ActorRef<()>>>,
}

async fn restart_raw_fixture() -> (RestartRaw, ActorRef<()>) {
    let failed_at = FailedAt::default();
    let (restarted, mut rx) = broadcast::channel(16);
    let args = RestartArgs { failed_at: failed_at.clone(), restarted: restarted.clone() };
    let (sup, _join) = Actor::spawn(None, RestartSupervisor, args).await.expect("supervisor starts");
    let child = rx.recv().await.expect("first child");
    (RestartRaw { failed_at, restarted, child: Mutex::new(Some(child)) }, sup)
}

/// One restart per iteration: make the child fail, time from its failure to reading the replacement's reference.
async fn restart_raw(fx: &RestartRaw, iters: u64) -> Duration {
    let mut rx = fx.restarted.subscribe();
    let mut child = fx.child.lock().unwrap_or_else(PoisonError::into_inner).take().expect("a child is running");
    let mut total = Timings::default();
    for _ in 0..iters {
        child.cast(()).expect("child is alive");
        child = rx.recv().await.expect("replacement announced");
        let received = Instant::now();
        let failed = fx.failed_at.lock().unwrap_or_else(PoisonError::into_inner).take();
        let latency = received - failed.expect("the child failed");
        total.add(latency);
    }
    *fx.child.lock().unwrap_or_else(PoisonError::into_inner) = Some(child);
    total.finish(RESTART_RAW)
}

fn restart_group(c: &mut Criterion, rt: &Runtime) {
    let started = Instant::now();
    let hive = rt.block_on(restart_hive_fixture());
    let (raw, raw_sup) = rt.block_on(restart_raw_fixture());
    let mut group = c.benchmark_group("restart");
    group.sample_size(10).warm_up_time(Duration::from_millis(100)).measurement_time(Duration::from_secs(1));
    group.bench_function("raw_ractor", |b| b.to_async(rt).iter_custom(|iters| restart_raw(&raw, iters)));
    group.bench_function("hive_pilot", |b| b.to_async(rt).iter_custom(|iters| restart_hive(&hive, iters)));
    group.finish();
    rt.block_on(async {
        top_up(RESTART_RAW, RESTARTS, |n| restart_raw(&raw, n)).await;
        top_up(RESTART_HIVE, RESTARTS, |n| restart_hive(&hive, n)).await;
        hive.hive.shutdown().await.expect("hive shuts down");
        raw_sup.stop_children_and_wait(None, None).await;
        raw_sup.stop_and_wait(None, None).await.expect("supervisor stops");
    });

    let (hive_all, hive_inner) = tally(RESTART_HIVE, |t| (t.samples.clone(), t.inner.clone()));
    let raw_all = tally(RESTART_RAW, |t| t.samples.clone());
    let (Some(h50), Some(h99), Some(r50), Some(r99)) = (
        percentile(&hive_all, 0.5),
        percentile(&hive_all, 0.99),
        percentile(&raw_all, 0.5),
        percentile(&raw_all, 0.99),
    ) else {
        return;
    };
    println!(
        "restart, forge panic -> MemberRestarted read: p50 {} p99 {} (n = {}); raw ractor failure -> replacement \
         read: p50 {} p99 {} (n = {})",
        us(h50),
        us(h99),
        hive_all.len(),
        us(r50),
        us(r99),
        raw_all.len()
    );
    if let (Some(i50), Some(i99)) = (percentile(&hive_inner, 0.5), percentile(&hive_inner, 0.99)) {
        println!("restart, inside the queen (MemberFailed.at -> MemberRestarted.at): p50 {} p99 {}", us(i50), us(i99));
    }
    println!(
        "ratio restart_p50 hive_pilot/raw_ractor = {:.2}x (goal: hive p50 <= 100 us) [{}]",
        h50.as_secs_f64() / r50.as_secs_f64(),
        verdict(h50 <= Duration::from_micros(100))
    );
    wall("restart", started, &[RESTART_HIVE, RESTART_RAW]);
}

// ---------------------------------------------------------------------------------------------------------------
// 5. Threshold-crossing report -> EmergencyDeclared
// ---------------------------------------------------------------------------------------------------------------

const EMERGENCY_FLEET: usize = 1_000;
const EMERGENCY_HIVE: &str = "emergency/queen_1000";
const EMERGENCY_HIVE_BURST: &str = "emergency/queen_1000_burst";
const EMERGENCY_RAW: &str = "emergency/raw_ractor";
const EMERGENCY_RAW_BURST: &str = "emergency/raw_ractor_burst";
/// At least this many declarations per side go into the percentiles, on an idle queen and behind a burst.
const DECLARATIONS: usize = 1_000;
const BURST_DECLARATIONS: usize = 200;

/// What member `i` reports while the fleet sits exactly at the 50 % boundary: the first half healthy.
fn boundary_verdict(i: usize) -> (u8, bool) {
    if i < EMERGENCY_FLEET / 2 { (90, true) } else { (40, false) }
}

/// Lets the runtime's workers run out of work and park before a timed report, on both sides, so each
/// declaration is measured from an idle runtime as an isolated report would be, not from one still spinning after
/// the previous iteration. (A pause on purpose, not a wait for something to happen.)
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

struct EmergencyHive {
    queen: QueenHandle,
    /// Sorted by member id; `reporters[0]` is the healthy member whose verdict flips.
    reporters: Vec<Reporter>,
    commands: Arc<Commands>,
}

/// A queen with 1,000 idle members that have all reported, half of them healthy: exactly at the 50 % boundary,
/// not below it. Only the fleet-health trigger can fire (40 is above the critical score, no signals).
async fn emergency_fixture() -> EmergencyHive {
    let bus = EventBus::new(1 << 14);
    let mut sub = bus.subscribe();
    let builder = Arc::new(IdleBuilder::default());
    // `clear_after: 1` only shortens the untimed reset between iterations; it plays no part in declaring.
    let emergency = EmergencyConfig { clear_after: 1, ..EmergencyConfig::default() };
    let config = QueenConfig { emergency, ..QueenConfig::default() };
    let members = (0..EMERGENCY_FLEET).map(|i| MemberSpec::pilot(repo_name(i))).collect();
    let args = QueenArgs::new(bus, config).with_builder(builder.clone()).with_members(members);
    let queen = Queen::start(args).await.expect("queen starts");
    let mut started = 0;
    while started < EMERGENCY_FLEET {
        if let HiveEvent::MemberStarted { .. } = &*next(&mut sub).await.event {
            started += 1;
        }
    }
    let mut reporters = std::mem::take(&mut *builder.reporters.lock().unwrap_or_else(PoisonError::into_inner));
    reporters.sort_by(|a, b| a.member().cmp(b.member()));
    for (i, reporter) in reporters.iter().enumerate() {
        let (score, healthy) = boundary_verdict(i);
        reporter.report(HealthReport::new(score, healthy));
    }
    let status = queen.status().await.expect("status");
    assert!(!status.emergency && (status.fleet.share - 0.5).abs() < f64::EPSILON, "{:?}", status.fleet);
    EmergencyHive { queen, reporters, commands: builder.commands.clone() }
}

/// One declaration per iteration: time from casting the report that takes the healthy share below 50 % to
/// reading `EmergencyDeclared`. With `burst`, the other 999 members report (unchanged verdicts) just before, as in
/// a cycle, so the crossing report queues behind theirs. Untimed: the member reports healthy again, cycles clear
/// the emergency, and the bench waits until the queen and every member are idle.
async fn emergency_hive(fx: &EmergencyHive, iters: u64, burst: bool) -> Duration {
    let name = if burst { EMERGENCY_HIVE_BURST } else { EMERGENCY_HIVE };
    let flipper = &fx.reporters[0];
    let mut sub = fx.queen.subscribe();
    let mut total = Timings::default();
    let mut inner = Vec::new();
    for _ in 0..iters {
        settle().await;
        if burst {
            for (i, reporter) in fx.reporters.iter().enumerate().skip(1) {
                let (score, healthy) = boundary_verdict(i);
                reporter.report(HealthReport::new(score, healthy));
            }
        }
        let start = Instant::now();
        flipper.report(HealthReport::new(40, false));
        let reported =
            until(&mut sub, |e| matches!(e, HiveEvent::HealthReported { member, .. } if member == flipper.member()))
                .await;
        let declared = until(&mut sub, |e| matches!(e, HiveEvent::EmergencyDeclared { .. })).await;
        let latency = start.elapsed();
        total.add(latency);
        inner.push(since(reported.at, declared.at));

        flipper.report(HealthReport::new(90, true));
        fx.queen.start_cycle().expect("queen is running");
        fx.queen.start_cycle().expect("queen is running");
        until(&mut sub, |e| matches!(e, HiveEvent::EmergencyCleared { .. })).await;
        fx.queen.status().await.expect("status");
        fx.commands.until_quiet().await;
    }
    assert_eq!(sub.lost(), 0, "the reader lost events");
    tally(name, |t| t.inner.extend(inner));
    total.finish(name)
}

struct EmergencyRaw {
    actor: ActorRef<(usize, bool)>,
    declared: broadcast::Sender<()>,
}

async fn emergency_raw_fixture() -> EmergencyRaw {
    let (declared, _) = broadcast::channel(16);
    let (actor, _join) =
        Actor::spawn(None, Threshold, (EMERGENCY_FLEET, declared.clone())).await.expect("threshold starts");
    for i in 0..EMERGENCY_FLEET {
        actor.cast((i, boundary_verdict(i).1)).expect("threshold is alive");
    }
    EmergencyRaw { actor, declared }
}

async fn emergency_raw(fx: &EmergencyRaw, iters: u64, burst: bool) -> Duration {
    let name = if burst { EMERGENCY_RAW_BURST } else { EMERGENCY_RAW };
    let mut rx = fx.declared.subscribe();
    let mut total = Timings::default();
    for _ in 0..iters {
        settle().await;
        if burst {
            for i in 1..EMERGENCY_FLEET {
                fx.actor.cast((i, boundary_verdict(i).1)).expect("threshold is alive");
            }
        }
        let start = Instant::now();
        fx.actor.cast((0, false)).expect("threshold is alive");
        rx.recv().await.expect("declared");
        let latency = start.elapsed();
        total.add(latency);
        fx.actor.cast((0, true)).expect("threshold is alive");
    }
    total.finish(name)
}

fn emergency_group(c: &mut Criterion, rt: &Runtime) {
    let started = Instant::now();
    let hive = rt.block_on(emergency_fixture());
    let raw = rt.block_on(emergency_raw_fixture());
    let mut group = c.benchmark_group("emergency");
    // Criterion sizes runs by the time it is told was measured, but the untimed reset after each declaration (two
    // cycles over 1,000 members) costs far more than the timed part. Small targets per function bound the run to a
    // few hundred declarations (idle) and about a hundred (burst); flat sampling keeps every sample the same size.
    group.sample_size(10).sampling_mode(SamplingMode::Flat).warm_up_time(Duration::from_millis(2));
    for (burst, raw_target, hive_target) in [(false, 10, 6), (true, 30, 150)] {
        let suffix = if burst { "_burst" } else { "" };
        group.measurement_time(Duration::from_millis(raw_target));
        group.bench_function(format!("raw_ractor{suffix}"), |b| {
            b.to_async(rt).iter_custom(|iters| emergency_raw(&raw, iters, burst))
        });
        group.measurement_time(Duration::from_millis(hive_target));
        group.bench_function(format!("queen_1000{suffix}"), |b| {
            b.to_async(rt).iter_custom(|iters| emergency_hive(&hive, iters, burst))
        });
    }
    group.finish();
    rt.block_on(async {
        top_up(EMERGENCY_RAW, DECLARATIONS, |n| emergency_raw(&raw, n, false)).await;
        top_up(EMERGENCY_HIVE, DECLARATIONS, |n| emergency_hive(&hive, n, false)).await;
        top_up(EMERGENCY_RAW_BURST, BURST_DECLARATIONS, |n| emergency_raw(&raw, n, true)).await;
        top_up(EMERGENCY_HIVE_BURST, BURST_DECLARATIONS, |n| emergency_hive(&hive, n, true)).await;
        hive.queen.shutdown().await.expect("queen shuts down");
        raw.actor.stop_and_wait(None, None).await.expect("threshold stops");
    });

    for (hive_name, raw_name, what) in [
        (EMERGENCY_HIVE, EMERGENCY_RAW, "idle queen"),
        (EMERGENCY_HIVE_BURST, EMERGENCY_RAW_BURST, "behind 999 reports"),
    ] {
        let (hive_all, hive_inner) = tally(hive_name, |t| (t.samples.clone(), t.inner.clone()));
        let raw_all = tally(raw_name, |t| t.samples.clone());
        let (Some(h50), Some(h99), Some(r50)) =
            (percentile(&hive_all, 0.5), percentile(&hive_all, 0.99), percentile(&raw_all, 0.5))
        else {
            continue;
        };
        println!(
            "emergency ({what}), crossing report cast -> EmergencyDeclared read: p50 {} p99 {} (n = {}); raw \
             ractor: p50 {}",
            us(h50),
            us(h99),
            hive_all.len(),
            us(r50)
        );
        if let (Some(i50), Some(i99)) = (percentile(&hive_inner, 0.5), percentile(&hive_inner, 0.99)) {
            println!(
                "emergency ({what}), inside the queen (HealthReported.at -> EmergencyDeclared.at): p50 {} p99 {}",
                us(i50),
                us(i99)
            );
        }
        println!(
            "ratio emergency_p50 {}/{} = {:.2}x (goal: hive p99 <= 1 ms) [{}]",
            short(hive_name),
            short(raw_name),
            h50.as_secs_f64() / r50.as_secs_f64(),
            verdict(h99 <= Duration::from_millis(1))
        );
    }
    wall("emergency", started, &[EMERGENCY_HIVE, EMERGENCY_RAW, EMERGENCY_HIVE_BURST, EMERGENCY_RAW_BURST]);
}

// ---------------------------------------------------------------------------------------------------------------
// 6. 100-ORCH fan-out
// ---------------------------------------------------------------------------------------------------------------

const ORCHS: usize = 100;
const ORCH_HIVE: &str = "orch_100/hive_propose";
const ORCH_RAW: &str = "orch_100/raw_ractor";

fn seed() -> Seed {
    Seed::new(repo_name(0), Signal::ci_failure("ci/test/cargo test/test"))
}

async fn orch_hive(hive: &Hive, iters: u64) -> Duration {
    let mut total = Timings::default();
    for _ in 0..iters {
        let start = Instant::now();
        let report = hive.propose(seed(), ORCHS).await.expect("fan-out reports");
        total.add(start.elapsed());
        assert_eq!(report.succeeded(), ORCHS);
    }
    total.finish(ORCH_HIVE)
}

/// 100 raw actors spawned linked to a supervisor, each answering one call, then stopped (as the queen stops each
/// ORCH once it has answered).
async fn orch_raw(sup: &ActorRef<()>, iters: u64) -> Duration {
    let mut total = Timings::default();
    for _ in 0..iters {
        let start = Instant::now();
        let mut actors = Vec::with_capacity(ORCHS);
        for _ in 0..ORCHS {
            let (actor, _join) = Actor::spawn_linked(None, Echo, (), sup.get_cell()).await.expect("echo starts");
            actors.push(actor);
        }
        let replies = futures::future::join_all(actors.iter().map(|a| a.call(|reply| reply, None))).await;
        for actor in &actors {
            actor.stop(None);
        }
        total.add(start.elapsed());
        assert!(replies.iter().all(|r| matches!(r, Ok(ractor::rpc::CallResult::Success(())))));
    }
    total.finish(ORCH_RAW)
}

fn orch_group(c: &mut Criterion, rt: &Runtime) {
    let started = Instant::now();
    let hive = rt.block_on(Hive::builder().forge(SimForge::new(Vec::new())).start()).expect("hive starts");
    let (sup, _join) = rt.block_on(Actor::spawn(None, NopSupervisor, ())).expect("supervisor starts");
    let mut group = c.benchmark_group("orch_100");
    group.sample_size(10).warm_up_time(Duration::from_millis(200)).measurement_time(Duration::from_secs(1));
    group.bench_function("raw_ractor", |b| b.to_async(rt).iter_custom(|iters| orch_raw(&sup, iters)));
    group.bench_function("hive_propose", |b| b.to_async(rt).iter_custom(|iters| orch_hive(&hive, iters)));
    group.finish();
    rt.block_on(async {
        hive.shutdown().await.expect("hive shuts down");
        sup.stop_children_and_wait(None, None).await;
        sup.stop_and_wait(None, None).await.expect("supervisor stops");
    });
    if let (Some(hive), Some(raw)) = (typical(ORCH_HIVE), typical(ORCH_RAW)) {
        println!("orch fan-out, propose(seed, 100) end to end: median {}; raw ractor: median {}", ms(hive), ms(raw));
    }
    print_ratio("orch_100 hive_propose/raw_ractor", ORCH_HIVE, ORCH_RAW, "none; absolute goal <= 50 ms", |_| {
        typical(ORCH_HIVE).is_some_and(|d| d <= Duration::from_millis(50))
    });
    wall("orch_100", started, &[ORCH_HIVE, ORCH_RAW]);
}

// ---------------------------------------------------------------------------------------------------------------

fn main() {
    // Injected failures panic on purpose, a thousand times; anything else still reports as usual.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if !message.starts_with(INJECTED) {
            default_hook(info);
        }
    }));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    if smoke() {
        println!(
            "note: --test runs every benchmark once, cold; the ratios it prints are smoke output, not measurements"
        );
    }
    let started = Instant::now();
    // Plots and 100,000 bootstrap resamples per benchmark would take longer than the measurements.
    let mut c = Criterion::default().without_plots().nresamples(20_000).configure_from_args();
    spawn_group(&mut c, &rt);
    bus_group(&mut c, &rt);
    restart_group(&mut c, &rt);
    emergency_group(&mut c, &rt);
    orch_group(&mut c, &rt);
    c.final_summary();
    println!("all groups: {:.1} s wall", started.elapsed().as_secs_f64());
}
