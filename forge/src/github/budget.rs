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
//! Resets are epochs on GitHub's clock, not this machine's: the budget estimates the difference from each response's
//! `Date` and waits `reset - GitHub's now`, so a machine whose clock runs ahead does not take a window still in force
//! for ended (and hammer a spent budget), nor one behind wait its skew on top. A spent budget whose reset still looks
//! past is paused a second, doubling to a minute while it repeats, rather than not at all.
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

use super::{GitHubAuth, Secret};
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
/// The largest clock offset a `Date` is believed for: a machine off by more has broken TLS and app tokens anyway,
/// and an offset that large is more likely a middlebox's stale or broken header, which would put every reset a
/// window ahead and hold a resource for good.
const MAX_OFFSET: Duration = Duration::from_secs(3_600);
/// The longest pause a response can impose; a reset further ahead is clock skew or nonsense.
const MAX_PAUSE: Duration = Duration::from_secs(3_700);
/// The pause when nothing remains and the reset already looks past (the clocks disagree more than the `Date` told,
/// or GitHub has not rolled the window yet): short, because the window has probably ended.
const STALE_PAUSE: Duration = Duration::from_secs(1);
/// The longest such pause while it repeats.
const MAX_STALE_PAUSE: Duration = Duration::from_secs(60);

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
    /// The lowest remaining any process recorded for `resource` in a window that ends after `now_epoch` (GitHub's
    /// time now as this process reckons it, seconds since the Unix epoch), with that window's reset; `None` when
    /// nothing current is known.
    fn lowest(&self, resource: &Resource, now_epoch: u64) -> Option<Seen>;
}

/// A token as the processes that share its budget know it, before it is named for a fleet: what [`budget_token`]
/// gives. It holds the token's material (the token, or the app and installation for an installation token, whose
/// budget is the installation's), so it never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct BudgetToken(Secret);

impl std::fmt::Debug for BudgetToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BudgetToken(***)")
    }
}

impl BudgetToken {
    /// The token's id in `fleet`: the first 32 hex digits of an HMAC-SHA256 of the token keyed by the fleet's name,
    /// never the token itself. Every node of a fleet computes the same id for the same token, so no random salt;
    /// keyed, one fleet's ids tell nothing of another's, and no table of hashed tokens computed in advance matches
    /// them. (The fleet's name is no secret from whoever can read its bucket: that a guessed token can still be
    /// tested there is why the id is short, and why a token's own 40 random characters are what protect it.)
    pub fn id(&self, fleet: &str) -> String {
        use hmac::{Hmac, Mac};
        let mut mac =
            <Hmac<sha2::Sha256> as Mac>::new_from_slice(fleet.as_bytes()).expect("hmac takes a key of any length");
        mac.update(self.0.expose().as_bytes());
        let digest = hex::encode(mac.finalize().into_bytes());
        digest[..32].to_owned()
    }
}

/// A token's identity for a [`SharedBudget`], named for a fleet by [`BudgetToken::id`]; `None` without credentials.
pub fn budget_token(auth: &GitHubAuth) -> Option<BudgetToken> {
    let named = match auth {
        GitHubAuth::None => return None,
        GitHubAuth::Token(token) => format!("token:{}", token.expose()),
        GitHubAuth::App { app_id, installation_id, .. } => format!("app:{app_id}:{installation_id}"),
    };
    Some(BudgetToken(Secret::new(named)))
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
    /// GitHub's clock minus this machine's, in seconds, from the last response's `Date`.
    offset: i64,
    /// The slots reserved by the last writes, oldest first, at most [`WRITES_PER_MINUTE`] of them.
    writes: VecDeque<Instant>,
    /// Secondary limits without `Retry-After` in a row.
    secondary: Streak,
}

/// What a response that spent a resource's last point said of its window.
enum Spent {
    /// It ends after this wait.
    Until(Duration),
    /// It told no reset.
    NoReset,
    /// Its reset is not ahead, even on GitHub's clock.
    ResetPast,
}

/// Pauses that grow while they repeat: how many in a row, and when the last one ended.
#[derive(Debug, Default)]
struct Streak {
    count: u32,
    until: Option<Instant>,
}

/// One resource's primary limit as this process's responses told it.
#[derive(Debug, Default)]
struct Window {
    /// Nothing that spends this resource is sent before this instant.
    resume_at: Option<Instant>,
    /// The last `x-ratelimit-remaining` seen.
    remaining: Option<u64>,
    /// Spent budgets whose reset already looked past, in a row.
    stale: Streak,
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
        self.acquire_before(kind, resource, None).await.expect("without a deadline no write slot is refused")
    }

    /// [`acquire`](Budget::acquire) for a request that must go out before `deadline`: `None`, at once and without
    /// taking it, when the next write slot is not before the deadline, so a write refused for its deadline leaves
    /// the pacing to the writes after it. The caller still bounds the wait (a window may open meanwhile).
    pub async fn acquire_before(
        &self,
        kind: RequestKind,
        resource: &Resource,
        deadline: Option<Instant>,
    ) -> Option<SemaphorePermit<'_>> {
        if kind == RequestKind::Write {
            let slot = self.reserve_write_slot(deadline)?;
            tokio::time::sleep_until(slot).await;
        }
        loop {
            self.wait_for_window(resource).await;
            let permit = self.permits.acquire().await.expect("the budget never closes its semaphore");
            // A response that arrived while this request queued for a permit may have opened a new window.
            if self.resume_at(resource).is_none_or(|at| at <= Instant::now()) {
                return Some(permit);
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
        if let Some(offset) = header_date(headers).map(|date| clock_offset(date, SystemTime::now()))
            && offset.unsigned_abs() <= MAX_OFFSET.as_secs()
        {
            state.offset = offset;
        }
        let offset = state.offset;
        // The token-wide pause (a secondary limit) or the resource's (its primary limit).
        let mut pause = None;
        let mut primary = None;
        if let Some(wait) = retry_after {
            pause = Some(wait);
        } else if remaining == Some(0) {
            // The primary limit: nothing more of this resource until the reset GitHub announced.
            primary = Some(match header_u64(headers, "x-ratelimit-reset") {
                None => Spent::NoReset,
                Some(reset) => until_reset(reset, offset, SystemTime::now()).map_or(Spent::ResetPast, Spent::Until),
            });
        } else if status == StatusCode::TOO_MANY_REQUESTS
            || (status == StatusCode::FORBIDDEN && is_secondary_message(body))
        {
            pause = Some(state.secondary.pause(now, DEFAULT_PAUSE, MAX_SECONDARY_PAUSE, SECONDARY_MEMORY));
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
        if !matches!(primary, Some(Spent::ResetPast)) {
            window.stale = Streak::default();
        }
        let primary = primary.map(|spent| match spent {
            Spent::Until(wait) => wait,
            // No reset told: GitHub's "at least a minute".
            Spent::NoReset => DEFAULT_PAUSE,
            // Nothing left, but the reset looks past: a short pause, growing while it repeats, not none.
            Spent::ResetPast => window.stale.pause(now, STALE_PAUSE, MAX_STALE_PAUSE, MAX_STALE_PAUSE),
        });
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
        let Some(shared) = self.shared.get() else { return local };
        // Another process's reset is on GitHub's clock too: read it with this process's offset.
        let (offset, wall) = (self.lock().offset, SystemTime::now());
        let spent_elsewhere = shared
            .lowest(resource, github_now(offset, wall))
            .filter(|seen| seen.remaining == 0)
            .and_then(|seen| until_reset(seen.reset, offset, wall))
            .map(|wait| now + wait.min(MAX_PAUSE));
        local.max(spent_elsewhere)
    }

    async fn wait_for_window(&self, resource: &Resource) {
        // Loop, because a response to an earlier request may extend the window while this one waits.
        while let Some(at) = self.resume_at(resource) {
            tokio::time::sleep_until(at).await;
        }
    }

    /// Takes the next free write slot: a second after the previous write, and a minute after the write
    /// [`WRITES_PER_MINUTE`] places back; `None`, taking nothing, when that slot is not before `deadline`.
    fn reserve_write_slot(&self, deadline: Option<Instant>) -> Option<Instant> {
        let mut state = self.lock();
        let mut slot = Instant::now();
        if let Some(last) = state.writes.back() {
            slot = slot.max(*last + WRITE_GAP);
        }
        if state.writes.len() >= WRITES_PER_MINUTE {
            let window_start = state.writes[state.writes.len() - WRITES_PER_MINUTE];
            slot = slot.max(window_start + Duration::from_secs(60));
        }
        if deadline.is_some_and(|deadline| slot >= deadline) {
            return None;
        }
        state.writes.push_back(slot);
        while state.writes.len() > WRITES_PER_MINUTE {
            state.writes.pop_front();
        }
        Some(slot)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a few numbers updated in one step each, so a panic elsewhere cannot leave it half-written.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Streak {
    /// The next pause: `first`, doubled for each repeat that follows the previous pause's end within `memory`, up
    /// to `max`.
    fn pause(&mut self, now: Instant, first: Duration, max: Duration, memory: Duration) -> Duration {
        // The answers to requests that were already in flight arrive during the window the first one opened: one
        // limit, not repeats. Only a limit after a window ended (within the memory) is a repeat.
        if let Some(until) = self.until.filter(|until| now < *until) {
            return until - now;
        }
        let repeat = self.until.is_some_and(|until| now < until + memory);
        self.count = if repeat { self.count.saturating_add(1) } else { 0 };
        let pause = first.saturating_mul(1 << self.count.min(16)).min(max);
        self.until = Some(now + pause);
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

/// A response's `Date` (IMF-fixdate, as GitHub sends it); `None` for an answer from a cache (`Age`), whose `Date`
/// is when it was made, not GitHub's time now.
fn header_date(headers: &HeaderMap) -> Option<SystemTime> {
    if headers.contains_key(http::header::AGE) {
        return None;
    }
    httpdate::parse_http_date(headers.get(http::header::DATE)?.to_str().ok()?).ok()
}

/// GitHub's clock minus this machine's, in whole seconds, from a response's `Date` and this machine's time when it
/// arrived (after its body, so the estimate also lags by the answer's time in transit). `Date` is rounded down to
/// the second. Both errors put GitHub's clock behind, which only makes a wait for a reset longer.
pub(crate) fn clock_offset(date: SystemTime, wall: SystemTime) -> i64 {
    let secs = |at: SystemTime| match at.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    };
    secs(date).saturating_sub(secs(wall))
}

/// GitHub's time now as this machine reckons it: its own time plus `offset`.
fn shifted(offset: i64, wall: SystemTime) -> SystemTime {
    let by = Duration::from_secs(offset.unsigned_abs());
    if offset >= 0 { wall + by } else { wall.checked_sub(by).unwrap_or(SystemTime::UNIX_EPOCH) }
}

/// [`shifted`] in seconds since the Unix epoch.
pub(crate) fn github_now(offset: i64, wall: SystemTime) -> u64 {
    shifted(offset, wall).duration_since(SystemTime::UNIX_EPOCH).map_or(0, |since| since.as_secs())
}

/// The wait until `reset` (seconds since the Unix epoch on GitHub's clock) from `wall` (this machine's time), with
/// GitHub's clock `offset` seconds ahead of this machine's; `None` when the reset is not ahead.
pub(crate) fn until_reset(reset: u64, offset: i64, wall: SystemTime) -> Option<Duration> {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(reset);
    // A second more, because GitHub's reset is rounded down to the second.
    at.duration_since(shifted(offset, wall))
        .ok()
        .filter(|wait| !wait.is_zero())
        .map(|wait| wait + Duration::from_secs(1))
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
    fn a_token_is_known_by_a_keyed_hash_of_it_never_by_itself() {
        let token = "ghp_0123456789abcdefghijklmnopqrstuvwxyz";
        let key = budget_token(&GitHubAuth::Token(Secret::new(token))).expect("a token has an id");
        let id = key.id("hive");
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        assert!(!id.contains(token) && !token.contains(&id));
        assert!(!format!("{key:?}").contains(token), "{key:?}");
        // Every node of a fleet agrees on it; another fleet, or another token, is another id.
        assert_eq!(budget_token(&GitHubAuth::Token(Secret::new(token))).expect("a token").id("hive"), id);
        assert_ne!(key.id("acme-fleet"), id);
        assert_ne!(budget_token(&GitHubAuth::Token(Secret::new("ghp_other"))).expect("a token").id("hive"), id);
        // Not the unkeyed hash of the token, which anyone could compute without knowing the fleet.
        use sha2::{Digest, Sha256};
        assert!(!hex::encode(Sha256::digest(format!("token:{token}"))).starts_with(&id));
        assert_eq!(budget_token(&GitHubAuth::None), None);
    }
}
