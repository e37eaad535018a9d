//! A scriptable test member: a ractor actor the queen supervises through [`MemberBuilder`], whose behaviour (health
//! per cycle, panics, error returns, normal exits, failed starts) each test sets per member in a shared table.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use hive_cerebrum::{
    EmergencyFlag, HealthReport, MemberBuilder, MemberCommand, MemberContext, MemberHandle, MemberId, Reporter, Signal,
    StartError, StartFailure,
};
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, rpc::CallResult};

/// What a member reports for one cycle.
#[derive(Debug, Clone)]
pub struct Health {
    pub score: u8,
    pub healthy: bool,
    pub signals: Vec<Signal>,
}

impl Health {
    /// A healthy verdict with this score.
    pub fn healthy(score: u8) -> Health {
        Health { score, healthy: true, signals: Vec::new() }
    }

    /// An unhealthy verdict with this score.
    pub fn unhealthy(score: u8) -> Health {
        Health { score, healthy: false, signals: Vec::new() }
    }

    /// The same verdict with one more signal.
    pub fn with(mut self, signal: Signal) -> Health {
        self.signals.push(signal);
        self
    }
}

/// One member's scripted behaviour; read by every incarnation, so it survives restarts.
#[derive(Debug, Clone)]
pub struct Script {
    /// What to report in cycles without an entry in `cycles`.
    pub default: Health,
    /// What to report in a given cycle.
    pub cycles: HashMap<u64, Health>,
    /// Panic on this many of the next `Observe` commands (instead of reporting).
    pub panic_on_observe: u32,
    /// Make this many of the next starts fail with a panic in `pre_start`.
    pub fail_starts: u32,
    /// Never report.
    pub silent: bool,
    /// Follow the queen's emergency flag (as pilots do) instead of being sent `EnterEmergency` / `LeaveEmergency`.
    pub follows_flag: bool,
}

impl Default for Script {
    fn default() -> Script {
        Script {
            default: Health::healthy(90),
            cycles: HashMap::new(),
            panic_on_observe: 0,
            fail_starts: 0,
            silent: false,
            follows_flag: false,
        }
    }
}

/// What a test can observe of one member, across all its incarnations.
#[derive(Debug, Default)]
pub struct Probe {
    /// Calls to the builder for this member.
    pub start_attempts: AtomicUsize,
    /// Incarnations that started.
    pub starts: AtomicUsize,
    /// `Work` messages processed.
    pub processed: AtomicUsize,
    /// `Observe` commands received.
    pub observed: AtomicUsize,
    /// `EnterEmergency` commands received.
    pub entered: AtomicUsize,
    /// `LeaveEmergency` commands received.
    pub left: AtomicUsize,
    /// `Observe` commands received while the emergency flag read active.
    pub observed_in_emergency: AtomicUsize,
}

impl Probe {
    pub fn get(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::SeqCst)
    }
}

/// Messages of the test member.
pub enum TestMsg {
    /// Count one unit of work (yielding once, so a queue of them takes a while).
    Work,
    /// Panic in the handler.
    Panic,
    /// Return an error from the handler.
    Fail,
    /// Stop normally (`myself.stop`).
    Exit,
    /// A command from the queen.
    Command(MemberCommand),
    /// Which incarnation this is (1 for the first start).
    Incarnation(RpcReplyPort<usize>),
}

/// The scripts, probes and live actors of every test member, shared by the builder, the actors and the test.
#[derive(Clone, Default)]
pub struct Fleet {
    inner: Arc<FleetInner>,
}

#[derive(Default)]
struct FleetInner {
    scripts: Mutex<HashMap<MemberId, Script>>,
    probes: Mutex<HashMap<MemberId, Arc<Probe>>>,
    current: Mutex<HashMap<MemberId, ActorRef<TestMsg>>>,
    stop_order: Mutex<Vec<MemberId>>,
}

impl Fleet {
    /// Edits a member's script (creating the default one first).
    pub fn script(&self, id: &str, edit: impl FnOnce(&mut Script)) {
        let mut scripts = self.inner.scripts.lock().expect("scripts lock");
        edit(scripts.entry(MemberId::new(id)).or_default());
    }

    fn script_of(&self, id: &MemberId) -> Script {
        self.inner.scripts.lock().expect("scripts lock").get(id).cloned().unwrap_or_default()
    }

    /// Takes one unit from a counter of the member's script, if any is left.
    fn take(&self, id: &MemberId, counter: impl FnOnce(&mut Script) -> &mut u32) -> bool {
        let mut scripts = self.inner.scripts.lock().expect("scripts lock");
        let count = counter(scripts.entry(id.clone()).or_default());
        if *count > 0 {
            *count -= 1;
            true
        } else {
            false
        }
    }

    /// The member's probe.
    pub fn probe(&self, id: &str) -> Arc<Probe> {
        let mut probes = self.inner.probes.lock().expect("probes lock");
        Arc::clone(probes.entry(MemberId::new(id)).or_default())
    }

    /// The member's current incarnation.
    pub fn actor(&self, id: &str) -> ActorRef<TestMsg> {
        self.inner.current.lock().expect("current lock").get(&MemberId::new(id)).cloned().expect("member was started")
    }

    /// Sends a message to the member's current incarnation.
    pub fn send(&self, id: &str, msg: TestMsg) {
        if self.actor(id).cast(msg).is_err() {
            panic!("member '{id}' is not running");
        }
    }

    /// Asks the member's current incarnation which incarnation it is: proves it is alive and answering.
    pub async fn incarnation(&self, id: &str) -> usize {
        match self.actor(id).call(TestMsg::Incarnation, None).await {
            Ok(CallResult::Success(n)) => n,
            other => panic!("member '{id}' did not answer: {:?}", other.map(|r| r.is_success())),
        }
    }

    /// Members in the order their actors ran `post_stop`.
    pub fn stop_order(&self) -> Vec<String> {
        self.inner.stop_order.lock().expect("stop order lock").iter().map(|m| m.as_str().to_owned()).collect()
    }

    /// The builder to hand to the queen.
    pub fn builder(&self) -> Arc<dyn MemberBuilder> {
        Arc::new(self.clone())
    }
}

#[async_trait::async_trait]
impl MemberBuilder for Fleet {
    async fn start(&self, ctx: MemberContext) -> Result<Box<dyn MemberHandle>, StartError> {
        let probe = self.probe(ctx.id.as_str());
        probe.start_attempts.fetch_add(1, Ordering::SeqCst);
        let args = TestArgs {
            id: ctx.id.clone(),
            incarnation: Probe::get(&probe.starts) + 1,
            panic_in_pre_start: self.take(&ctx.id, |s| &mut s.fail_starts),
            reporter: ctx.reporter.clone(),
            flag: ctx.emergency_flag.clone(),
            fleet: self.clone(),
            probe: Arc::clone(&probe),
        };
        let follows_flag = self.script_of(&ctx.id).follows_flag;
        let (actor, _join) = Actor::spawn_linked(None, TestMember, args, ctx.supervisor.clone())
            .await
            .map_err(|e| StartError::new(ctx.id.clone(), StartFailure::spawn(e)))?;
        probe.starts.fetch_add(1, Ordering::SeqCst);
        self.inner.current.lock().expect("current lock").insert(ctx.id.clone(), actor.clone());
        Ok(Box::new(TestHandle { cell: actor.get_cell(), actor, follows_flag }))
    }
}

struct TestHandle {
    actor: ActorRef<TestMsg>,
    cell: ActorCell,
    follows_flag: bool,
}

impl MemberHandle for TestHandle {
    fn cell(&self) -> &ActorCell {
        &self.cell
    }

    fn command(&self, command: MemberCommand) {
        // A command to a dead incarnation is dropped, as the trait allows.
        let _ = self.actor.cast(TestMsg::Command(command));
    }

    fn follows_emergency_flag(&self) -> bool {
        self.follows_flag
    }
}

/// The test member actor.
struct TestMember;

struct TestArgs {
    id: MemberId,
    incarnation: usize,
    panic_in_pre_start: bool,
    reporter: Reporter,
    flag: EmergencyFlag,
    fleet: Fleet,
    probe: Arc<Probe>,
}

impl Actor for TestMember {
    type Msg = TestMsg;
    type State = TestArgs;
    type Arguments = TestArgs;

    async fn pre_start(&self, _myself: ActorRef<TestMsg>, args: TestArgs) -> Result<TestArgs, ActorProcessingErr> {
        if args.panic_in_pre_start {
            panic!("scripted pre_start panic in '{}'", args.id);
        }
        Ok(args)
    }

    async fn handle(
        &self,
        myself: ActorRef<TestMsg>,
        message: TestMsg,
        state: &mut TestArgs,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            TestMsg::Work => {
                tokio::task::yield_now().await;
                state.probe.processed.fetch_add(1, Ordering::SeqCst);
            }
            TestMsg::Panic => panic!("scripted panic in '{}'", state.id),
            TestMsg::Fail => return Err(format!("scripted error in '{}'", state.id).into()),
            TestMsg::Exit => myself.stop(None),
            TestMsg::Incarnation(reply) => {
                let _ = reply.send(state.incarnation);
            }
            TestMsg::Command(MemberCommand::EnterEmergency) => {
                state.probe.entered.fetch_add(1, Ordering::SeqCst);
            }
            TestMsg::Command(MemberCommand::LeaveEmergency) => {
                state.probe.left.fetch_add(1, Ordering::SeqCst);
            }
            TestMsg::Command(MemberCommand::Observe { cycle }) => {
                state.probe.observed.fetch_add(1, Ordering::SeqCst);
                if state.flag.is_active() {
                    state.probe.observed_in_emergency.fetch_add(1, Ordering::SeqCst);
                }
                if state.fleet.take(&state.id, |s| &mut s.panic_on_observe) {
                    panic!("scripted panic in '{}' while observing cycle {cycle}", state.id);
                }
                let script = state.fleet.script_of(&state.id);
                if !script.silent {
                    let health = script.cycles.get(&cycle).unwrap_or(&script.default).clone();
                    state.reporter.report(
                        HealthReport::new(health.score, health.healthy).for_cycle(cycle).with_signals(health.signals),
                    );
                }
            }
        }
        Ok(())
    }

    async fn post_stop(&self, _myself: ActorRef<TestMsg>, state: &mut TestArgs) -> Result<(), ActorProcessingErr> {
        state.fleet.inner.stop_order.lock().expect("stop order lock").push(state.id.clone());
        Ok(())
    }
}
