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

use std::future::Future;

use tokio::time::Instant;

tokio::task_local! {
    /// The instant after which no request of the current write may go out.
    static SEND_BEFORE: Instant;
}

/// Runs `write` with every GitHub request it makes refused, unsent, if it would go out at or after `deadline`
/// (see the module documentation). Scopes nest: the earlier deadline holds. Without a scope, requests have no
/// deadline.
pub async fn send_before<F: Future>(deadline: Instant, write: F) -> F::Output {
    let deadline = current().map_or(deadline, |outer| outer.min(deadline));
    SEND_BEFORE.scope(deadline, write).await
}

/// The deadline of the write this task is running, if any.
pub(crate) fn current() -> Option<Instant> {
    SEND_BEFORE.try_with(|deadline| *deadline).ok()
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
}
