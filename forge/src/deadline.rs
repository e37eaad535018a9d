//! A deadline for the requests of one write: [`send_before`] runs a future in which every request the GitHub
//! client would send after the deadline is refused instead, unsent, with [`GitHubError::Late`](crate::GitHubError).
//!
//! A node of `hive serve --cluster` may write to a repository only while it holds the repository's lease, and the
//! fleet's stream of writes remembers a write only for its duplicate window. The budget may hold a request much
//! longer than either (a rate limit's reset, up to an hour; a secondary limit's pause; the pacing of writes), and a
//! request sent after the lease moved on could duplicate what the new holder sent meanwhile. So the permission's
//! end travels with the write, down to the one place that sends: the client looks at it after the budget lets the
//! request go and right before sending, and refuses at once when the budget's window already ends past it.
//!
//! A tokio task-local carries it rather than a parameter: a write reaches the client through the `ForgeWriter`
//! trait's many methods (issues, comments, labels, re-runs, pull requests, merges), none of which should have to
//! know about leases. The price is that a task-local is seen only by the task that entered the scope: a write
//! future run under [`send_before`] must make its requests in that task, never on tasks it spawns (the GitHub
//! writes do; a fix's `git push` is a child process the forge checks the deadline before starting).

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::time::Instant;

/// One write's scope: its deadline, and whether anything of it went out.
#[derive(Debug, Clone)]
struct Scope {
    deadline: Instant,
    acted: Arc<AtomicBool>,
}

tokio::task_local! {
    /// The current write's scope.
    static SEND_BEFORE: Scope;
}

/// Runs `write` with every GitHub request it makes refused, unsent, if it would go out at or after `deadline`
/// (see the module documentation). Scopes nest: the earlier deadline holds. Without a scope, requests have no
/// deadline.
pub async fn send_before<F: Future>(deadline: Instant, write: F) -> F::Output {
    send_before_tracked(deadline, write).await.0
}

/// [`send_before`], also saying whether anything of the write may have been carried out: a request that changes
/// something sent and not plainly refused (answered 2xx, 5xx, or not answered at all; GitHub carries out nothing
/// it answers 4xx), or a push started. A write that failed with nothing carried out was certainly not sent,
/// whatever its error; one that failed after that may have been, in part: a pull request's branch pushed, an issue
/// created whose answer was cut short.
pub async fn send_before_tracked<F: Future>(deadline: Instant, write: F) -> (F::Output, bool) {
    let scope = match SEND_BEFORE.try_with(Scope::clone) {
        // Nested: the earlier deadline, and what goes out counts for the outer write too.
        Ok(outer) => Scope { deadline: outer.deadline.min(deadline), acted: outer.acted },
        Err(_) => Scope { deadline, acted: Arc::default() },
    };
    let acted = Arc::clone(&scope.acted);
    let output = SEND_BEFORE.scope(scope, write).await;
    (output, acted.load(Ordering::Acquire))
}

/// The deadline of the write this task is running, if any.
pub(crate) fn current() -> Option<Instant> {
    SEND_BEFORE.try_with(|scope| scope.deadline).ok()
}

/// Notes that a request (or a push) of the current write may have been carried out; nothing outside a write's
/// scope.
pub(crate) fn may_have_acted() {
    let _ = SEND_BEFORE.try_with(|scope| scope.acted.store(true, Ordering::Release));
}

/// Whether the deadline, if there is one, has come.
pub(crate) fn passed() -> bool {
    current().is_some_and(|deadline| Instant::now() >= deadline)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_deadline_is_seen_inside_its_scope_only_and_the_earlier_one_holds() {
        assert_eq!(current(), None);
        assert!(!passed());
        let (soon, later) = (Instant::now() + Duration::from_secs(5), Instant::now() + Duration::from_secs(50));
        let seen = send_before(later, async { (current(), send_before(soon, async { current() }).await) }).await;
        assert_eq!(seen, (Some(later), Some(soon)));
        let seen = send_before(soon, async { send_before(later, async { current() }).await }).await;
        assert_eq!(seen, Some(soon));
        let passed_then = send_before(soon, async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            passed()
        })
        .await;
        assert!(passed_then);
        assert_eq!(current(), None);
    }

    #[tokio::test]
    async fn what_may_have_acted_is_told_and_counts_for_the_outer_write_too() {
        let later = Instant::now() + Duration::from_secs(50);
        may_have_acted();
        let ((), went) = send_before_tracked(later, async {}).await;
        assert!(!went, "a request before the scope is not the write's");
        let (inner, outer) = send_before_tracked(later, async {
            let ((), inner) = send_before_tracked(later, async { may_have_acted() }).await;
            inner
        })
        .await;
        assert!(inner && outer);
    }
}
