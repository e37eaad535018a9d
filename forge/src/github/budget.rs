//! The one rate-limit budget every request to GitHub goes through, shared by all pilots.
//!
//! GitHub gives a token 5,000 points an hour and punishes bursts with secondary limits, so the budget is a property
//! of the token, not of a pilot: one [`Budget`] per forge. It learns from every response (`x-ratelimit-remaining`,
//! `x-ratelimit-reset`, `x-ratelimit-resource`, `Retry-After`), and while a limit is in force every request it
//! applies to waits in [`Budget::acquire`], so nothing it covers is sent until the window ends. The primary limit is
//! per resource, as GitHub counts it (`core` for REST, `graphql`, `search`, ...: each has its own points and reset),
//! so a spent GraphQL budget does not hold REST reads and writes; secondary limits (`Retry-After`, 429, a 403 that
//! says so) hold everything, as GitHub applies them to the whole token. It also keeps GitHub's documented etiquette: fewer than 100
//! requests in flight, at least a second between writes, and at most 80 content-creating requests a minute.
//!
//! Several processes that use one token (the nodes of `hive serve --cluster`) share its points too: given a
//! [`SharedBudget`], the budget tells it what each response said and, before sending, heeds the lowest remaining
//! any of them saw in the window in force, so a process does not spend what another already spent.

use std::{
    borrow::Cow,
    collections::{BTreeMap, VecDeque},
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use http::{HeaderMap, StatusCode};

use super::GitHubAuth;
use tokio::{
    sync::{Semaphore, SemaphorePermit},
    time::Instant,
};

/// Requests in flight at most; GitHub asks for fewer than 100.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;
/// The least time between two writes.
pub const WRITE_GAP: Duration = Duration::from_secs(1);
/// Content-creating requests allowed in any minute.
pub const WRITES_PER_MINUTE: usize = 80;
/// How long to stay quiet after a secondary limit that did not say how long (GitHub: "at least one minute").
const DEFAULT_PAUSE: Duration = Duration::from_secs(60);
/// The longest pause for repeated secondary limits without `Retry-After` (60 s doubled four times).
const MAX_SECONDARY_PAUSE: Duration = Duration::from_secs(16 * 60);
/// A secondary limit this soon after the previous one's window ended counts as a repeat, and the pause grows.
const SECONDARY_MEMORY: Duration = Duration::from_secs(15 * 60);
/// The longest pause a response can impose; a reset further ahead is clock skew or nonsense.
const MAX_PAUSE: Duration = Duration::from_secs(3_700);

/// Whether a request reads or creates content; writes are paced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// A read (GET, or a GraphQL query).
    Read,
    /// A write (POST, PATCH, PUT, DELETE).
    Write,
}

/// One of GitHub's rate-limit resources (`x-ratelimit-resource`): each has its own points and its own reset.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Resource(Cow<'static, str>);

impl Resource {
    /// REST requests, and what a response without `x-ratelimit-resource` counts against.
    pub const CORE: Resource = Resource(Cow::Borrowed("core"));
    /// GraphQL queries and mutations.
    pub const GRAPHQL: Resource = Resource(Cow::Borrowed("graphql"));

    /// A resource by GitHub's name for it.
    pub fn named(name: &str) -> Resource {
        match name {
            "core" => Resource::CORE,
            "graphql" => Resource::GRAPHQL,
            other => Resource(Cow::Owned(other.to_owned())),
        }
    }

    /// GitHub's name for it (`core`, `graphql`, `search`, ...).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The resource a response counted against: its `x-ratelimit-resource`, `core` without one.
    fn of_response(headers: &HeaderMap) -> Resource {
        headers
            .get("x-ratelimit-resource")
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map_or(Resource::CORE, Resource::named)
    }
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What one response said of a token's primary budget for one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// `x-ratelimit-remaining`.
    pub remaining: u64,
    /// `x-ratelimit-reset`: when the window ends, in seconds since the Unix epoch.
    pub reset: u64,
}

/// A token's budget as every process that uses the token sees it, resource by resource. The forge knows no
/// transport: the binary gives one under `hive serve --cluster`.
pub trait SharedBudget: Send + Sync + std::fmt::Debug {
    /// Records what a response said of `resource`. Called on every response, so it must not wait: what it sends,
    /// it sends later.
    fn record(&self, resource: &Resource, seen: Seen);
    /// The lowest remaining any process recorded for `resource` in a window that has not ended (its reset still
    /// ahead), with that window's reset; `None` when nothing current is known.
    fn lowest(&self, resource: &Resource) -> Option<Seen>;
}

/// A token's identity for a [`SharedBudget`]: the first 32 hex digits of the SHA-256 of the token (of the app and
/// installation for an installation token, whose budget is the installation's), never the token itself; `None`
/// without credentials.
pub fn budget_id(auth: &GitHubAuth) -> Option<String> {
    use sha2::{Digest, Sha256};
    let named = match auth {
        GitHubAuth::None => return None,
        GitHubAuth::Token(token) => format!("token:{}", token.expose()),
        GitHubAuth::App { app_id, installation_id, .. } => format!("app:{app_id}:{installation_id}"),
    };
    let digest = hex::encode(Sha256::digest(named.as_bytes()));
    Some(digest[..32].to_owned())
}

/// The shared rate-limit budget of one GitHub token.
#[derive(Debug)]
pub struct Budget {
    permits: Semaphore,
    state: Mutex<State>,
    spent: AtomicU64,
    not_modified: AtomicU64,
    /// The token's budget as the other processes using it see it, once given.
    shared: OnceLock<Arc<dyn SharedBudget>>,
}

#[derive(Debug, Default)]
struct State {
    /// Nothing at all is sent before this instant: a secondary limit, which GitHub applies to the whole token.
    resume_at: Option<Instant>,
    /// Each resource's primary window, as this process's responses told it.
    resources: BTreeMap<Resource, Window>,
    /// The slots reserved by the last writes, oldest first, at most [`WRITES_PER_MINUTE`] of them.
    writes: VecDeque<Instant>,
    /// Secondary limits without `Retry-After` in a row, and when the last one's window ended.
    secondary_streak: u32,
    secondary_until: Option<Instant>,
}

/// One resource's primary limit as this process's responses told it.
#[derive(Debug, Default)]
struct Window {
    /// Nothing that spends this resource is sent before this instant.
    resume_at: Option<Instant>,
    /// The last `x-ratelimit-remaining` seen.
    remaining: Option<u64>,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget::new(DEFAULT_MAX_IN_FLIGHT)
    }
}

impl Budget {
    /// A budget allowing `max_in_flight` concurrent requests (clamped to 1..=99).
    pub fn new(max_in_flight: usize) -> Budget {
        Budget {
            permits: Semaphore::new(max_in_flight.clamp(1, 99)),
            state: Mutex::new(State::default()),
            spent: AtomicU64::new(0),
            not_modified: AtomicU64::new(0),
            shared: OnceLock::new(),
        }
    }

    /// Shares this budget with the other processes that use the token, from now on. Only the first call counts:
    /// `false` when one was given before.
    pub fn share(&self, shared: Arc<dyn SharedBudget>) -> bool {
        self.shared.set(shared).is_ok()
    }

    /// Waits until a request of `kind` that spends `resource` may be sent: after any secondary window and any
    /// window of `resource`, after the write pacing, and with a concurrency permit, which the caller holds until the
    /// response has been read.
    pub async fn acquire(&self, kind: RequestKind, resource: &Resource) -> SemaphorePermit<'_> {
        if kind == RequestKind::Write {
            let slot = self.reserve_write_slot();
            tokio::time::sleep_until(slot).await;
        }
        loop {
            self.wait_for_window(resource).await;
            let permit = self.permits.acquire().await.expect("the budget never closes its semaphore");
            // A response that arrived while this request queued for a permit may have opened a new window.
            if self.resume_at(resource).is_none_or(|at| at <= Instant::now()) {
                return permit;
            }
        }
    }

    /// Learns from a response: the remaining points and the primary limit's reset of the resource it counted
    /// against, `Retry-After`, and secondary limits that say so only in the body (GitHub's 403 "You have exceeded a
    /// secondary rate limit" may come without any header): those pause at least a minute, doubling while they
    /// repeat. A primary limit holds only its resource; the others hold every request.
    pub fn observe(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) {
        if status == StatusCode::NOT_MODIFIED {
            self.not_modified.fetch_add(1, Ordering::Relaxed);
        } else {
            self.spent.fetch_add(1, Ordering::Relaxed);
        }
        let resource = Resource::of_response(headers);
        let remaining = header_u64(headers, "x-ratelimit-remaining");
        let retry_after = header_u64(headers, "retry-after").map(Duration::from_secs);
        let now = Instant::now();
        let mut state = self.lock();
        // The token-wide pause (a secondary limit) or the resource's (its primary limit).
        let mut pause = None;
        let mut primary = None;
        if let Some(wait) = retry_after {
            pause = Some(wait);
        } else if remaining == Some(0) {
            // The primary limit: nothing more of this resource until the reset GitHub announced.
            primary = Some(header_u64(headers, "x-ratelimit-reset").map_or(DEFAULT_PAUSE, until_epoch));
        } else if status == StatusCode::TOO_MANY_REQUESTS
            || (status == StatusCode::FORBIDDEN && is_secondary_message(body))
        {
            pause = Some(state.secondary_pause(now));
        }
        if let (Some(shared), Some(remaining), Some(reset)) =
            (self.shared.get(), remaining, header_u64(headers, "x-ratelimit-reset"))
        {
            shared.record(&resource, Seen { remaining, reset });
        }
        if let Some(pause) = pause {
            let until = now + pause.min(MAX_PAUSE);
            if state.resume_at.is_none_or(|at| at < until) {
                tracing::warn!(wait_secs = pause.as_secs(), "github rate limit: sending nothing until the window ends");
                state.resume_at = Some(until);
            }
        }
        if remaining.is_none() && primary.is_none() {
            return;
        }
        let window = state.resources.entry(resource.clone()).or_default();
        if remaining.is_some() {
            window.remaining = remaining;
        }
        if let Some(pause) = primary {
            let until = now + pause.min(MAX_PAUSE);
            if window.resume_at.is_none_or(|at| at < until) {
                tracing::warn!(
                    %resource,
                    wait_secs = pause.as_secs(),
                    "github rate limit: sending nothing of this resource until its window ends"
                );
                window.resume_at = Some(until);
            }
        }
    }

    /// Counts `points` more than the responses did: a GraphQL query costs what its `rateLimit.cost` says, of which its
    /// response counted one.
    pub fn add_points(&self, points: u64) {
        self.spent.fetch_add(points, Ordering::Relaxed);
    }

    /// Points spent so far: one per response but `304 Not Modified`, and a GraphQL query's cost for each query.
    pub fn points_spent(&self) -> u64 {
        self.spent.load(Ordering::Relaxed)
    }

    /// Conditional requests answered `304 Not Modified` so far, which cost nothing.
    pub fn not_modified(&self) -> u64 {
        self.not_modified.load(Ordering::Relaxed)
    }

    /// The last `x-ratelimit-remaining` GitHub reported for `core`, the REST budget.
    pub fn remaining(&self) -> Option<u64> {
        self.remaining_of(&Resource::CORE)
    }

    /// The last `x-ratelimit-remaining` GitHub reported for `resource`.
    pub fn remaining_of(&self, resource: &Resource) -> Option<u64> {
        self.lock().resources.get(resource).and_then(|window| window.remaining)
    }

    /// When requests that spend `resource` may be sent again, if a rate-limit window holds them: a secondary
    /// limit, the resource's primary limit as this process learnt of it, or, when the budget is shared, the
    /// resource spent to the last point by another process.
    pub fn resume_at(&self, resource: &Resource) -> Option<Instant> {
        let now = Instant::now();
        let local = {
            let state = self.lock();
            let primary = state.resources.get(resource).and_then(|window| window.resume_at);
            state.resume_at.max(primary).filter(|at| *at > now)
        };
        let spent_elsewhere = self
            .shared
            .get()
            .and_then(|shared| shared.lowest(resource))
            .filter(|seen| seen.remaining == 0)
            .map(|seen| now + until_epoch(seen.reset).min(MAX_PAUSE))
            .filter(|at| *at > now);
        local.max(spent_elsewhere)
    }

    async fn wait_for_window(&self, resource: &Resource) {
        // Loop, because a response to an earlier request may extend the window while this one waits.
        while let Some(at) = self.resume_at(resource) {
            tokio::time::sleep_until(at).await;
        }
    }

    /// Takes the next free write slot: a second after the previous write, and a minute after the write
    /// [`WRITES_PER_MINUTE`] places back.
    fn reserve_write_slot(&self) -> Instant {
        let mut state = self.lock();
        let mut slot = Instant::now();
        if let Some(last) = state.writes.back() {
            slot = slot.max(*last + WRITE_GAP);
        }
        if state.writes.len() >= WRITES_PER_MINUTE {
            let window_start = state.writes[state.writes.len() - WRITES_PER_MINUTE];
            slot = slot.max(window_start + Duration::from_secs(60));
        }
        state.writes.push_back(slot);
        while state.writes.len() > WRITES_PER_MINUTE {
            state.writes.pop_front();
        }
        slot
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a few numbers updated in one step each, so a panic elsewhere cannot leave it half-written.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl State {
    /// The pause for a secondary limit that did not say how long: a minute, doubled for each repeat that follows
    /// the previous window within [`SECONDARY_MEMORY`], up to [`MAX_SECONDARY_PAUSE`].
    fn secondary_pause(&mut self, now: Instant) -> Duration {
        // The answers to requests that were already in flight arrive during the window the first one opened: one
        // limit, not repeats. Only a limit after a window ended (within the memory) is a repeat.
        if let Some(until) = self.secondary_until.filter(|until| now < *until) {
            return until - now;
        }
        let repeat = self.secondary_until.is_some_and(|until| now < until + SECONDARY_MEMORY);
        self.secondary_streak = if repeat { self.secondary_streak.saturating_add(1) } else { 0 };
        let pause = DEFAULT_PAUSE.saturating_mul(1 << self.secondary_streak.min(4)).min(MAX_SECONDARY_PAUSE);
        self.secondary_until = Some(now + pause);
        pause
    }
}

/// Whether an answer's body says it is a secondary rate limit (GitHub's wording, old and new).
fn is_secondary_message(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]).to_ascii_lowercase();
    text.contains("secondary rate limit") || text.contains("abuse detection")
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The time from now until a Unix timestamp (zero if it has passed).
fn until_epoch(epoch_secs: u64) -> Duration {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(epoch_secs);
    // A second more, because GitHub's reset is rounded down to the second.
    at.duration_since(SystemTime::now()).map_or(Duration::ZERO, |d| d + Duration::from_secs(1))
}

/// Whether a response is a rate limit (primary or secondary), as opposed to a permission error: GitHub answers both
/// with 403, and only the headers, or for a secondary limit without them the message, tell them apart.
pub(crate) fn is_rate_limited(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> bool {
    match status {
        StatusCode::TOO_MANY_REQUESTS => true,
        StatusCode::FORBIDDEN => {
            headers.contains_key("retry-after")
                || header_u64(headers, "x-ratelimit-remaining") == Some(0)
                || is_secondary_message(body)
        }
        _ => false,
    }
}

#[cfg(test)]
mod shared_tests {
    use super::*;
    use crate::github::Secret;

    #[test]
    fn a_token_is_known_by_a_hash_of_it_never_by_itself() {
        let token = "ghp_0123456789abcdefghijklmnopqrstuvwxyz";
        let id = budget_id(&GitHubAuth::Token(Secret::new(token))).expect("a token has an id");
        assert_eq!(id.len(), 32);
        assert!(!id.contains(token) && !token.contains(&id));
        assert_eq!(budget_id(&GitHubAuth::Token(Secret::new(token))), Some(id.clone()));
        assert_ne!(budget_id(&GitHubAuth::Token(Secret::new("ghp_other"))), Some(id));
        assert_eq!(budget_id(&GitHubAuth::None), None);
    }
}
