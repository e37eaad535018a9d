//! Runtime benchmarks: the queen, pilots, bus and ORCH fan-out against raw ractor, measured in the same run.
//!
//! Every group times a hive path and a raw-ractor baseline with its own `Instant`s inside `iter_custom`, keeps what
//! it measured in a static, and prints `ratio <hive>/<raw> = N.NNx (goal ...)` when the group ends, so a ratio never
//! compares numbers from different runs or machines. The `scale` group has no baseline: it measures how one
//! orchestration cycle grows from 1,000 to 100,000 pilots. BENCHMARKS.md says exactly which interval each one covers.
//!
//! `cargo bench --bench runtime` runs them for real (about a minute on two cores, after the build); `-- --test` runs
//! every benchmark once, the scale group up to 10,000 pilots, which CI can afford.

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
        Backoff, CiClass, CiSignature, EmergencyConfig, Envelope, EventBus, HealthReport, HiveEvent, MemberBuilder,
        MemberCommand, MemberContext, MemberHandle, MemberId, MemberSpec, MemberState, Queen, QueenArgs, QueenConfig,
        QueenHandle, Reporter, RestartPolicy, RestartType, Seed, Signal, StartError, StartFailure, Subscription,
    },
    forge::{Forge, ForgeError, RepoId, RepoSnapshot, SimForge, SimRepo},
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
    /// Where the rest of a latency went, by the wall clock: from the cast to the queen's handler, and from the
    /// queen's publish to the reader.
    to_queen: Vec<Duration>,
    to_reader: Vec<Duration>,
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

/// The p50 and p99 of a series; `None` when it is empty.
fn p50_p99(series: &[Duration]) -> Option<(Duration, Duration)> {
    Some((percentile(series, 0.5)?, percentile(series, 0.99)?))
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
/// so it can report on their behalf. They stand in for pilots, which follow the queen's emergency flag and are sent
/// no command for it, unless built `commanded` (as every member was before the flag), for the emergency group's
/// comparison in the same run.
#[derive(Default)]
struct IdleBuilder {
    reporters: Mutex<Vec<Reporter>>,
    commands: Arc<Commands>,
    commanded: bool,
}

impl IdleBuilder {
    /// Members sent `EnterEmergency` and `LeaveEmergency` instead of following the flag.
    fn commanded() -> IdleBuilder {
        IdleBuilder { commanded: true, ..IdleBuilder::default() }
    }
}

struct IdleHandle {
    actor: ActorRef<MemberCommand>,
    cell: ActorCell,
    commands: Arc<Commands>,
    commanded: bool,
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

    fn follows_emergency_flag(&self) -> bool {
        !self.commanded
    }
}

#[async_trait::async_trait]
impl MemberBuilder for IdleBuilder {
    async fn start(&self, ctx: MemberContext) -> Result<Box<dyn MemberHandle>, StartError> {
        let (actor, _join) = Actor::spawn_linked(None, IdleMember, self.commands.clone(), ctx.supervisor.clone())
            .await
            .map_err(|e| StartError::new(ctx.id.clone(), StartFailure::spawn(e)))?;
        self.reporters.lock().unwrap_or_else(PoisonError::into_inner).push(ctx.reporter);
        let commands = self.commands.clone();
        Ok(Box::new(IdleHandle { cell: actor.get_cell(), actor, commands, commanded: self.commanded }))
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

fn heavy(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_secs(2));
}

mod bus;
mod emergency;
mod orch;
mod restart;
mod scale;
mod spawn;

fn main() {
    // Injected failures panic on purpose, a thousand times; anything else still reports as usual.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = hive_support::panic_text(payload).unwrap_or("");
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
    spawn::spawn_group(&mut c, &rt);
    bus::bus_group(&mut c, &rt);
    restart::restart_group(&mut c, &rt);
    emergency::emergency_group(&mut c, &rt);
    orch::orch_group(&mut c, &rt);
    scale::scale_group(&mut c, &rt);
    c.final_summary();
    println!("all groups: {:.1} s wall", started.elapsed().as_secs_f64());
}
