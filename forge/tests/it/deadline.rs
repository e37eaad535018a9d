//! Writes with a deadline (`hive_forge::send_before`) against the emulator: a request the budget would let go only
//! after its write's deadline is refused unsent, and one it lets go before the deadline is sent. The budget's waits
//! run on tokio's paused clock.

use std::time::{Duration, SystemTime};

use hive_forge::{GitHubError, RequestKind, Resource, WriteError, send_before};
use hive_testkit::{Emulator, Method, RepoSpec};
use tokio::time::Instant;

use crate::github::{forge, id, org};

async fn emulator() -> Emulator {
    let emu = Emulator::start().await;
    emu.state().add_org("acme");
    emu.state().add_repo(RepoSpec::new("acme", "api"));
    emu
}

fn posts(emu: &Emulator) -> usize {
    emu.state().requests().iter().filter(|r| r.method == Method::POST).count()
}

fn epoch_in(secs: u64) -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).expect("after 1970").as_secs() + secs
}

/// A refusal for the deadline: `Late`, held by `what`, and not a write that may have been sent.
fn assert_late(err: GitHubError, what: &str) {
    assert_eq!(err.late().map(|held| held.contains(what)), Some(true), "{err}");
    assert!(err.to_string().contains("not sent: its deadline came before"), "{err}");
    assert!(!WriteError::from(err).maybe_sent());
}

#[tokio::test(start_paused = true)]
async fn a_write_whose_deadline_comes_before_the_rate_limits_reset_is_refused_unsent_at_once() {
    let emu = emulator().await;
    let forge = forge(&emu, vec![org("acme")]);
    let repo = id("acme/api");
    // The token's last point, spent by a read: GitHub's answer says nothing more until the reset, 30 minutes away.
    emu.state().set_rate_limit(5000, 1, epoch_in(1_800));
    forge.issues_labelled(&repo, "hive").await.expect("the last point");
    let resume = forge.budget().resume_at(&Resource::CORE).expect("the budget waits for the reset");
    assert!(resume > Instant::now() + Duration::from_secs(1_700), "{resume:?}");

    // The permission ends in a minute: nothing waits half an hour for a write that may not go out by then.
    let refused = send_before(Instant::now() + Duration::from_secs(60), forge.create_issue(&repo, "t", "b", &[])).await;
    assert_late(refused.expect_err("refused"), "github's rate limit");
    assert_eq!(posts(&emu), 0, "the emulator saw the write");
    assert!(emu.state().issues("acme", "api").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_write_whose_deadline_passes_while_it_waits_is_refused_unsent_and_one_whose_deadline_is_after_is_sent() {
    let emu = emulator().await;
    let forge = forge(&emu, vec![org("acme")]);
    let repo = id("acme/api");

    // Two writes' slots taken: the next write may go out a second after the last, on the paused clock.
    for _ in 0..2 {
        drop(forge.budget().acquire(RequestKind::Write, &Resource::CORE).await);
    }
    let soon = Instant::now() + Duration::from_millis(500);
    let refused = send_before(soon, forge.create_issue(&repo, "paced", "b", &[])).await;
    assert_late(refused.expect_err("refused"), "the pacing of writes");
    assert!(Instant::now() < soon, "the slot after the deadline was waited for");
    assert_eq!(posts(&emu), 0, "the emulator saw the write");
    // The refused write took no slot: the next one goes a second after the last one sent, not two.
    let before = Instant::now();
    drop(forge.budget().acquire(RequestKind::Write, &Resource::CORE).await);
    assert!(Instant::now() - before <= Duration::from_secs(1), "{:?}", Instant::now() - before);

    // A rate limit learnt from GitHub's answer, whose window ends before the deadline: the write waits it out and
    // goes.
    emu.state().set_rate_limit(5000, 1, epoch_in(600));
    forge.issues_labelled(&repo, "hive").await.expect("the last point");
    let resume = forge.budget().resume_at(&Resource::CORE).expect("the budget waits for the reset");
    emu.state().set_rate_limit(5000, 5000, epoch_in(3_600));
    let issue = send_before(resume + Duration::from_secs(60), forge.create_issue(&repo, "waited", "b", &[]))
        .await
        .expect("sent after the window");
    assert!(Instant::now() >= resume, "sent before the window ended");
    assert_eq!(emu.state().issues("acme", "api").iter().map(|i| i.number).collect::<Vec<_>>(), [issue.number]);
    assert_eq!(posts(&emu), 1);
}
