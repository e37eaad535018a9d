//! Reports that change a member's verdict take the queen's lane for changes: they are taken before the messages
//! already waiting in its mailbox, and a repeat posted before such a change never folds the older verdict back over
//! it. The queen is held inside a handler (a member whose start waits for the test) while the messages queue up, so
//! the order in which it meets them is the test's, not the scheduler's.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use hive_cerebrum::{
    EventBus, HealthReport, HiveEvent, MemberBuilder, MemberCommand, MemberContext, MemberHandle, MemberId, MemberSpec,
    Queen, QueenArgs, QueenHandle, Reporter, StartError, StartFailure,
};
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef};
use tokio::sync::Notify;

use crate::harness::{Events, config, within};

/// A member that does nothing: the test reports for it through its reporter.
struct Quiet;

impl Actor for Quiet {
    type Msg = MemberCommand;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _myself: ActorRef<MemberCommand>, _args: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}

struct QuietHandle(ActorCell);

impl MemberHandle for QuietHandle {
    fn cell(&self) -> &ActorCell {
        &self.0
    }

    fn command(&self, _command: MemberCommand) {}
}

/// Starts quiet members, keeps their reporters, and holds the start of the member named `held` until released.
#[derive(Default)]
struct Holding {
    reporters: Mutex<HashMap<String, Reporter>>,
    cells: Mutex<HashMap<String, ActorCell>>,
    held: String,
    entered: Notify,
    release: Notify,
}

#[async_trait::async_trait]
impl MemberBuilder for Holding {
    async fn start(&self, ctx: MemberContext) -> Result<Box<dyn MemberHandle>, StartError> {
        if ctx.id.as_str() == self.held {
            self.entered.notify_one();
            self.release.notified().await;
        }
        let (actor, _join) = Actor::spawn_linked(None, Quiet, (), ctx.supervisor.clone())
            .await
            .map_err(|e| StartError::new(ctx.id.clone(), StartFailure::spawn(e)))?;
        self.reporters.lock().expect("reporters lock").insert(ctx.id.as_str().to_owned(), ctx.reporter);
        self.cells.lock().expect("cells lock").insert(ctx.id.as_str().to_owned(), actor.get_cell());
        Ok(Box::new(QuietHandle(actor.get_cell())))
    }
}

impl Holding {
    fn reporter(&self, id: &str) -> Reporter {
        self.reporters.lock().expect("reporters lock")[id].clone()
    }

    fn cell(&self, id: &str) -> ActorCell {
        self.cells.lock().expect("cells lock")[id].clone()
    }
}

/// A queen over members `a` and `b`, both reported healthy at 90, with `held` as the member whose start waits.
async fn hive() -> (QueenHandle, Events, Arc<Holding>) {
    let bus = EventBus::new(1024);
    let mut events = Events::new(bus.subscribe());
    let builder = Arc::new(Holding { held: "held".to_owned(), ..Holding::default() });
    let members = vec![MemberSpec::pilot("a"), MemberSpec::pilot("b")];
    let args = QueenArgs::new(bus, config()).with_builder(builder.clone()).with_members(members);
    let queen = Queen::start(args).await.expect("queen starts");
    events.until("the fleet started", |e| matches!(e, HiveEvent::FleetStarted { .. })).await;
    for id in ["a", "b"] {
        builder.reporter(id).report(HealthReport::new(90, true));
        events.until("the first report", |e| reported(e, id).is_some()).await;
    }
    (queen, events, builder)
}

/// Holds the queen inside the handler that adds the member `held` until the returned task is told to go on.
async fn hold(queen: &QueenHandle, builder: &Holding) -> tokio::task::JoinHandle<()> {
    let adding = queen.clone();
    let added = tokio::spawn(async move {
        adding.add_member(MemberSpec::pilot("held")).await.expect("the held member is added");
    });
    within("the queen to start the held member", builder.entered.notified()).await;
    added
}

fn reported(e: &HiveEvent, id: &str) -> Option<u8> {
    match e {
        HiveEvent::HealthReported { member, score, .. } if member.as_str() == id => Some(*score),
        _ => None,
    }
}

#[tokio::test]
async fn a_change_is_taken_before_the_messages_that_were_waiting_ahead_of_it() {
    let (queen, mut events, builder) = hive().await;
    let added = hold(&queen, &builder).await;

    // Queued while the queen is busy: a cycle, a repeat from `a`, then the change from `b` that comes last.
    queen.start_cycle().expect("queen is running");
    builder.reporter("a").report(HealthReport::new(90, true));
    builder.reporter("b").report(HealthReport::new(40, false));
    builder.release.notify_one();
    within("the held member to be added", added).await.expect("the adding task ends");

    let seen = events.until("the cycle to start", |e| matches!(e, HiveEvent::CycleStarted { .. })).await;
    let change = seen.iter().position(|e| reported(e, "b") == Some(40));
    assert!(change.is_some(), "the change was taken before the cycle that was queued ahead of it: {seen:#?}");
    queen.shutdown().await.expect("queen shuts down");
}

#[tokio::test]
async fn a_repeat_posted_before_a_change_is_not_folded_over_it_when_it_arrives_after() {
    let (queen, mut events, builder) = hive().await;
    let added = hold(&queen, &builder).await;

    // `b` repeats its healthy verdict, then turns unhealthy; the repeat waits in the mailbox, the change does not.
    let b = builder.reporter("b");
    b.report(HealthReport::new(90, true));
    b.report(HealthReport::new(40, false));
    builder.release.notify_one();
    within("the held member to be added", added).await.expect("the adding task ends");

    events.until("the change", |e| reported(e, "b") == Some(40)).await;
    // A status call is answered after every message sent before it, the repeat included.
    let status = queen.status().await.expect("status");
    let report = queen.report(&MemberId::new("b")).await.expect("queen is running").expect("b has reported");
    assert_eq!((report.score, report.healthy), (40, false), "the newer verdict stands");
    assert_eq!(status.fleet.healthy, 1, "{:?}", status.fleet);
    assert!(events.ready().iter().all(|e| reported(e, "b").is_none()), "the older verdict was not taken in again");
    queen.shutdown().await.expect("queen shuts down");
}

#[tokio::test]
async fn a_report_overtaken_by_a_change_still_answers_its_cycle() {
    let (queen, mut events, builder) = hive().await;
    queen.start_cycle().expect("queen is running");
    let seen = events.until("the cycle to start", |e| matches!(e, HiveEvent::CycleStarted { .. })).await;
    let Some(HiveEvent::CycleStarted { cycle, asked, .. }) = seen.last() else {
        unreachable!("until returns the match")
    };
    assert_eq!(*asked, 2, "{seen:#?}");
    let answer = |score, healthy| HealthReport { cycle: Some(*cycle), ..HealthReport::new(score, healthy) };
    let added = hold(&queen, &builder).await;

    // `b` answers the cycle with a repeat, then reports a change outside any cycle, which overtakes its answer.
    let b = builder.reporter("b");
    b.report(answer(90, true));
    b.report(HealthReport::new(40, false));
    builder.reporter("a").report(answer(90, true));
    builder.release.notify_one();
    within("the held member to be added", added).await.expect("the adding task ends");

    events.until("the cycle to complete", |e| matches!(e, HiveEvent::CycleCompleted { .. })).await;
    let report = queen.report(&MemberId::new("b")).await.expect("queen is running").expect("b has reported");
    assert_eq!((report.score, report.cycle), (40, None), "the change stands");
    queen.shutdown().await.expect("queen shuts down");
}

#[tokio::test]
async fn a_change_posted_just_before_its_member_fails_is_taken_in_as_that_incarnations() {
    let (queen, mut events, builder) = hive().await;
    let added = hold(&queen, &builder).await;

    // While the queen is busy, `b` turns unhealthy and dies at once: its exit and its change wait together.
    builder.reporter("b").report(HealthReport::new(40, false));
    builder.cell("b").kill();
    builder.release.notify_one();
    within("the held member to be added", added).await.expect("the adding task ends");

    let seen = events
        .until("b's failure", |e| matches!(e, HiveEvent::MemberFailed { member, .. } if member.as_str() == "b"))
        .await;
    assert!(
        seen.iter().any(|e| reported(e, "b") == Some(40)),
        "the change was taken in before the exit that followed it: {seen:#?}"
    );
    queen.shutdown().await.expect("queen shuts down");
}
