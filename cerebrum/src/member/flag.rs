//! The emergency as shared state: the queen sets one flag, and members that follow it read it when they next act
//! instead of each being sent a command.
//!
//! Commanding a fleet of thousands wakes thousands of actors at the moment of the declaration, on the same cores
//! as whoever reads `EmergencyDeclared`; a flag costs the queen one store, and a member reads it at its next
//! observation, which is when its mode matters (how soon it reads, how often its own timer fires).

use tokio::sync::watch;

/// Whether the hive is in emergency mode, as its queen last set it. Cheap to clone and to read; every member of one
/// queen holds a clone of the same flag ([`MemberContext::emergency_flag`](crate::MemberContext::emergency_flag)).
///
/// The queen sets it right after publishing `EmergencyDeclared` (or `EmergencyCleared`), where it used to command
/// its members, so a member that reads the flag never changes mode before the event is out.
#[derive(Debug, Clone)]
pub struct EmergencyFlag(watch::Receiver<bool>);

impl EmergencyFlag {
    /// Whether an emergency is in force now.
    pub fn is_active(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits until the flag differs from `seen` and returns what it is then; at once if it already does. Never
    /// returns once the queen is gone (nothing will change it any more), so it fits a `select!` beside a timer.
    pub async fn differs_from(&self, seen: bool) -> bool {
        let mut receiver = self.0.clone();
        // The value is copied out at once: the guard `wait_for` returns must not be held across an await.
        let changed = receiver.wait_for(|active| *active != seen).await.map(|active| *active);
        match changed {
            Ok(active) => active,
            Err(_) => std::future::pending().await,
        }
    }
}

/// The queen's side of the [`EmergencyFlag`]: the only writer.
#[derive(Debug)]
pub(crate) struct EmergencySwitch(watch::Sender<bool>);

impl EmergencySwitch {
    /// A switch whose flag says no emergency.
    pub(crate) fn new() -> EmergencySwitch {
        EmergencySwitch(watch::Sender::new(false))
    }

    /// A flag for one member to hold.
    pub(crate) fn flag(&self) -> EmergencyFlag {
        EmergencyFlag(self.0.subscribe())
    }

    /// Sets the flag; wakes only members waiting for a change (a pilot's own timer), none when it is unchanged.
    pub(crate) fn set(&self, active: bool) {
        self.0.send_if_modified(|current| std::mem::replace(current, active) != active);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn members_read_what_the_queen_set_and_a_waiter_wakes_on_a_change_only() {
        let switch = EmergencySwitch::new();
        let flag = switch.flag();
        assert!(!flag.is_active());
        // Already different: no wait.
        assert!(!flag.differs_from(true).await);

        let waiter = tokio::spawn({
            let flag = flag.clone();
            async move { flag.differs_from(false).await }
        });
        switch.set(false);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "setting the same value is no change");
        switch.set(true);
        assert!(waiter.await.expect("waiter"), "woken by the declaration");
        assert!(flag.is_active() && switch.flag().is_active(), "every member's flag reads the same");
        switch.set(false);
        assert!(!flag.is_active());

        // With the queen gone nothing can change: the wait never ends, and a timer beside it wins.
        drop(switch);
        let timed_out = tokio::time::timeout(Duration::from_secs(60), flag.differs_from(false)).await;
        assert!(timed_out.is_err(), "{timed_out:?}");
    }
}
