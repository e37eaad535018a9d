//! Prometheus metrics of a running hive, in the OpenMetrics text format (`prometheus-client`), as `hive serve`
//! answers `GET /metrics`.
//!
//! Everything a decision could rest on is read at scrape time from where it is kept: the queen's status (fleet
//! score and level, each repository's score, members by state, restarts, the emergency), the database through the
//! scribe (writes by kind and state, decisions and the limits that stopped writes: durable, so they survive restarts
//! and agree with the audit trail) and the forge's own counters (GitHub points and rate limit). Only the cycle
//! duration histogram and the escalations seen are observed on the event bus, which drops events for a slow
//! reader: their help says so, and `hive_metrics_events_lost_total` counts what this observer missed.

use std::{
    collections::HashMap,
    fmt::Write as _,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::SystemTime,
};

use hive_cerebrum::{HealthLevel, HiveEvent, HiveStatus, MemberKind, MemberState, Subscription, Tally};
use hive_forge::ApiUsage;
use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::{Hive, HiveError};

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the cycle duration histogram, in seconds: a cycle of a small fleet takes milliseconds, one of a
/// large GitHub fleet minutes.
const CYCLE_BUCKETS: [f64; 12] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

/// Cycles whose start is remembered while waiting for their end; older ones are forgotten (their end was lost).
const OPEN_CYCLES: usize = 64;

/// Every level, so a scrape shows the levels not held as 0 (an OpenMetrics state set).
const LEVELS: [HealthLevel; 5] =
    [HealthLevel::Excellent, HealthLevel::Good, HealthLevel::Warning, HealthLevel::Critical, HealthLevel::Emergency];

type Labels = Vec<(&'static str, String)>;

/// What one scrape reads, gathered by [`Metrics::render`] (or given to [`Metrics::encode`] directly).
#[derive(Debug, Clone, Copy)]
pub struct Scrape<'a> {
    /// The queen's status.
    pub status: &'a HiveStatus,
    /// The database's counts, when the hive runs the autonomy loop.
    pub tally: Option<&'a Tally>,
    /// What the forge spent of its metered API, for a forge that has one.
    pub usage: Option<ApiUsage>,
}

/// The metrics of one hive: what is observed on the bus, kept between scrapes, and the encoder of the rest.
#[derive(Debug)]
pub struct Metrics {
    observed: Arc<Observed>,
    /// The bus observer, stopped with the metrics.
    watcher: Option<tokio::task::JoinHandle<()>>,
}

/// What only the bus tells, kept between scrapes.
#[derive(Debug)]
struct Observed {
    cycle_seconds: Histogram,
    escalations: Counter,
    /// Webhook deliveries taken (signed), by event and outcome, counted by the API as it answers them.
    deliveries: Family<Labels, Counter>,
    lost: AtomicU64,
    /// When each open cycle started, by number.
    started: Mutex<HashMap<u64, SystemTime>>,
}

impl Default for Observed {
    fn default() -> Observed {
        Observed {
            cycle_seconds: Histogram::new(CYCLE_BUCKETS),
            escalations: Counter::default(),
            deliveries: Family::default(),
            lost: AtomicU64::new(0),
            started: Mutex::new(HashMap::new()),
        }
    }
}

impl Drop for Metrics {
    fn drop(&mut self) {
        if let Some(watcher) = self.watcher.take() {
            watcher.abort();
        }
    }
}

impl Metrics {
    /// Metrics that observe nothing on the bus (the histogram stays empty); [`Metrics::watch`] for a running hive.
    pub fn new() -> Metrics {
        Metrics { observed: Arc::new(Observed::default()), watcher: None }
    }

    /// Metrics of `hive`, observing its bus from now on (on a task of the current tokio runtime, stopped when the
    /// metrics are dropped).
    pub fn watch(hive: &Hive) -> Metrics {
        let observed = Arc::new(Observed::default());
        let events = hive.subscribe();
        let watcher = tokio::spawn(observe(events, Arc::clone(&observed)));
        Metrics { observed, watcher: Some(watcher) }
    }

    /// Counts one signed webhook delivery of `event` (a GitHub event name, or `other`) answered with `outcome`.
    pub fn count_delivery(&self, event: &str, outcome: &str) {
        self.observed
            .deliveries
            .get_or_create(&vec![("event", event.to_owned()), ("outcome", outcome.to_owned())])
            .inc();
    }

    /// Reads `hive`'s status, its database's counts (with the autonomy loop) and its forge's usage, and encodes them.
    pub async fn render(&self, hive: &Hive) -> Result<String, HiveError> {
        let status = hive.status().await?;
        let tally = match hive.tally().await {
            Ok(tally) => Some(tally),
            Err(HiveError::NoAutonomy) => None,
            Err(err) => return Err(err),
        };
        let scrape = Scrape { status: &status, tally: tally.as_ref(), usage: hive.api_usage() };
        Ok(self.encode(&scrape))
    }

    /// Encodes one scrape in the OpenMetrics text format, ending with `# EOF`.
    pub fn encode(&self, scrape: &Scrape<'_>) -> String {
        let mut registry = Registry::with_prefix("hive");
        register_status(&mut registry, scrape.status);
        if let Some(tally) = scrape.tally {
            register_tally(&mut registry, tally);
        }
        if let Some(usage) = scrape.usage {
            register_usage(&mut registry, usage);
        }
        self.register_observed(&mut registry);
        let mut text = String::with_capacity(256 + 64 * scrape.status.members.len());
        // Writing to a String cannot fail, and every value is a number or a label prometheus-client escapes.
        if encode(&mut text, &registry).is_err() {
            text.clear();
            let _ = writeln!(text, "# EOF");
        }
        text
    }

    fn register_observed(&self, registry: &mut Registry) {
        let observed = &self.observed;
        registry.register(
            "cycle_duration_seconds",
            "Orchestration cycles from start to close, as seen on the event bus (observer only: a cycle whose events \
             this observer lost is missing; see hive_metrics_events_lost_total)",
            observed.cycle_seconds.clone(),
        );
        registry.register(
            "escalations_observed",
            "Members escalated since this endpoint started, as seen on the event bus (observer only; the members \
             escalated now are hive_members{state=\"escalated\"})",
            observed.escalations.clone(),
        );
        registry.register(
            "webhook_deliveries",
            "Signed GitHub webhook deliveries since this endpoint started, by event and outcome (read, not_watched, \
             next_discovery, pong, ignored, duplicate)",
            observed.deliveries.clone(),
        );
        registry.register(
            "metrics_events_lost",
            "Bus events the metrics observer lost by falling behind",
            counter(observed.lost.load(Ordering::Relaxed)),
        );
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

/// Feeds the histogram and the escalation counter from the bus until the hive stops.
async fn observe(mut events: Subscription, observed: Arc<Observed>) {
    while let Some(envelope) = events.recv().await {
        observed.lost.store(events.lost(), Ordering::Relaxed);
        let mut started = observed.started.lock().unwrap_or_else(PoisonError::into_inner);
        match &*envelope.event {
            HiveEvent::CycleStarted { cycle, .. } => {
                if started.len() >= OPEN_CYCLES {
                    // Ends that were lost; the oldest starts go first.
                    let oldest = started.keys().min().copied();
                    if let Some(oldest) = oldest {
                        started.remove(&oldest);
                    }
                }
                started.insert(*cycle, envelope.at);
            }
            HiveEvent::CycleCompleted { record } => {
                if let Some(at) = started.remove(&record.orchestration_cycle)
                    && let Ok(took) = envelope.at.duration_since(at)
                {
                    observed.cycle_seconds.observe(took.as_secs_f64());
                }
            }
            HiveEvent::MemberEscalated { .. } => {
                observed.escalations.inc();
            }
            _ => {}
        }
    }
}

fn register_status(registry: &mut Registry, status: &HiveStatus) {
    let fleet = &status.fleet;
    registry.register(
        "fleet_score",
        "Mean health score of the repositories that reported, 0-100",
        float(fleet.mean_score),
    );
    registry.register(
        "fleet_healthy_share",
        "Share of the members with a known verdict whose verdict is healthy, 0-1",
        float(fleet.share),
    );
    let levels = Family::<Labels, Gauge>::default();
    for level in LEVELS.iter().chain(std::iter::once(&fleet.level)) {
        levels.get_or_create(&vec![("level", level.as_str().to_owned())]).set(i64::from(*level == fleet.level));
    }
    registry.register("fleet_level", "The fleet's health level: 1 for the level it is at, 0 for the others", levels);
    registry.register("cycle", "The current (or last) orchestration cycle", gauge(status.cycle));
    registry.register(
        "emergency",
        "Whether the emergency protocol is active (1) or not (0)",
        gauge(u64::from(status.emergency)),
    );
    registry.register(
        "emergency_reasons",
        "Emergency triggers that hold now (0 without an emergency)",
        gauge(status.emergency_reasons.len() as u64),
    );
    let scores = Family::<Labels, Gauge>::default();
    let members = Family::<Labels, Gauge>::default();
    let mut restarts = 0_u64;
    for member in &status.members {
        if member.kind == MemberKind::Pilot
            && let Some(score) = member.score
        {
            scores.get_or_create(&vec![("repo", member.id.as_str().to_owned())]).set(i64::from(score));
        }
        members
            .get_or_create(&vec![("kind", kind_label(&member.kind)), ("state", state_label(member.state).to_owned())])
            .inc();
        restarts = restarts.saturating_add(member.restarts);
    }
    registry.register(
        "repo_score",
        "Each watched repository's latest health score, 0-100 (stale while unreachable)",
        scores,
    );
    registry.register("members", "Members by kind and lifecycle state", members);
    registry.register("member_restarts", "Restarts of the members supervised now, over their lives", gauge(restarts));
    registry.register("outages", "Sources some members cannot reach now", gauge(status.outages.len() as u64));
    registry.register("bus_events_published", "Events published on the bus", counter(status.events_published));
    registry.register("bus_events_lost", "Events bus subscribers lost by falling behind", counter(status.events_lost));
}

fn register_tally(registry: &mut Registry, tally: &Tally) {
    let writes = Family::<Labels, Gauge>::default();
    for count in &tally.writes {
        writes
            .get_or_create(&vec![("kind", count.kind.clone()), ("state", count.state.as_str().to_owned())])
            .set(i64::try_from(count.count).unwrap_or(i64::MAX));
    }
    registry.register(
        "writes",
        "Governed writes in the database by kind and state (reserved, done, failed, would_do)",
        writes,
    );
    let decisions = Family::<Labels, Counter>::default();
    let limits = Family::<Labels, Counter>::default();
    for count in &tally.decisions {
        decisions
            .get_or_create(&vec![
                ("kind", count.kind.clone()),
                ("verdict", count.verdict.clone()),
                ("reason", count.reason.clone()),
            ])
            .inc_by(count.count);
        if let Some(limit) = &count.limit {
            limits.get_or_create(&vec![("limit", limit.clone())]).inc_by(count.count);
        }
    }
    registry.register(
        "decisions",
        "Governance decisions on writes, by kind, verdict and rule, from the audit trail",
        decisions,
    );
    registry.register(
        "limits_hit",
        "Writes refused because a rate limit was spent, by limit, from the audit trail",
        limits,
    );
}

fn register_usage(registry: &mut Registry, usage: ApiUsage) {
    registry.register(
        "github_points_spent",
        "GitHub API requests that cost rate-limit points",
        counter(usage.points_spent),
    );
    registry.register(
        "github_not_modified",
        "Conditional GitHub API requests answered 304 Not Modified, which cost nothing",
        counter(usage.not_modified),
    );
    if let Some(remaining) = usage.remaining {
        registry.register(
            "github_rate_limit_remaining",
            "The rate-limit points GitHub last said remain in its window",
            gauge(remaining),
        );
    }
}

fn gauge(value: u64) -> Gauge {
    let gauge = Gauge::default();
    gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
    gauge
}

fn float(value: f64) -> Gauge<f64, AtomicU64> {
    let gauge = Gauge::<f64, AtomicU64>::default();
    gauge.set(value);
    gauge
}

fn counter(value: u64) -> Counter {
    let counter = Counter::default();
    counter.inc_by(value);
    counter
}

/// A member kind as a label value: unquoted, unlike its `Display`.
fn kind_label(kind: &MemberKind) -> String {
    match kind {
        MemberKind::Pilot => "pilot".to_owned(),
        MemberKind::Service => "service".to_owned(),
        MemberKind::Custom(name) => name.clone(),
    }
}

fn state_label(state: MemberState) -> &'static str {
    match state {
        MemberState::Starting => "starting",
        MemberState::Running => "running",
        MemberState::Backoff => "backoff",
        MemberState::Escalated => "escalated",
        MemberState::Stopped => "stopped",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use hive_cerebrum::{DecisionCount, EmergencyReason, FleetHealth, MemberId, MemberStatus, WriteCount, WriteState};

    use super::*;

    fn member(id: &str, kind: MemberKind, state: MemberState, score: Option<u8>, restarts: u64) -> MemberStatus {
        MemberStatus {
            id: MemberId::new(id),
            kind,
            state,
            restarts,
            score,
            healthy: score.map(|s| s >= 70),
            stale: false,
            last_error: None,
            findings: Vec::new(),
            facts: BTreeMap::new(),
            signals: Vec::new(),
        }
    }

    /// The samples of the text, by series.
    fn samples(text: &str) -> BTreeMap<&str, &str> {
        text.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.rsplit_once(' ')).collect()
    }

    #[test]
    fn a_scrape_shows_the_status_the_database_and_the_forge_as_given() {
        let status = HiveStatus {
            fleet: FleetHealth {
                total: 3,
                known: 2,
                healthy: 1,
                share: 0.5,
                mean_score: 61.5,
                level: HealthLevel::Emergency,
            },
            emergency: true,
            emergency_reasons: vec![EmergencyReason::Declared { by: "the api".to_owned() }],
            cycle: 7,
            members: vec![
                member("acme/api", MemberKind::Pilot, MemberState::Running, Some(40), 0),
                member("acme/web", MemberKind::Pilot, MemberState::Escalated, Some(83), 4),
                member("acme/new", MemberKind::Pilot, MemberState::Starting, None, 0),
                member("steward", MemberKind::Custom("steward".to_owned()), MemberState::Running, None, 1),
            ],
            outages: Vec::new(),
            events_published: 120,
            events_lost: 3,
        };
        let tally = Tally {
            writes: vec![WriteCount { kind: "open_issue".to_owned(), state: WriteState::Done, count: 2 }],
            decisions: vec![DecisionCount {
                kind: "open_pull_request".to_owned(),
                verdict: "deny".to_owned(),
                reason: "limit_reached".to_owned(),
                limit: Some("prs_per_day".to_owned()),
                count: 5,
            }],
        };
        let usage = ApiUsage { points_spent: 42, not_modified: 9, remaining: Some(4958) };
        let text = Metrics::new().encode(&Scrape { status: &status, tally: Some(&tally), usage: Some(usage) });
        assert!(text.ends_with("# EOF\n"), "{text}");
        let found = samples(&text);
        for (series, value) in [
            ("hive_fleet_score", "61.5"),
            ("hive_fleet_healthy_share", "0.5"),
            (r#"hive_fleet_level{level="EMERGENCY"}"#, "1"),
            (r#"hive_fleet_level{level="GOOD"}"#, "0"),
            ("hive_cycle", "7"),
            ("hive_emergency", "1"),
            ("hive_emergency_reasons", "1"),
            (r#"hive_repo_score{repo="acme/api"}"#, "40"),
            (r#"hive_repo_score{repo="acme/web"}"#, "83"),
            (r#"hive_members{kind="pilot",state="escalated"}"#, "1"),
            (r#"hive_members{kind="pilot",state="starting"}"#, "1"),
            (r#"hive_members{kind="steward",state="running"}"#, "1"),
            ("hive_member_restarts", "5"),
            ("hive_bus_events_lost_total", "3"),
            (r#"hive_writes{kind="open_issue",state="done"}"#, "2"),
            (r#"hive_decisions_total{kind="open_pull_request",verdict="deny",reason="limit_reached"}"#, "5"),
            (r#"hive_limits_hit_total{limit="prs_per_day"}"#, "5"),
            ("hive_github_points_spent_total", "42"),
            ("hive_github_rate_limit_remaining", "4958"),
            ("hive_cycle_duration_seconds_count", "0"),
        ] {
            assert_eq!(found.get(series), Some(&value), "{series} in {text}");
        }
        // A member without a score has no score series.
        assert!(!text.contains("acme/new"), "{text}");

        // Without a database or a metered forge, their series are absent rather than zero.
        let text = Metrics::new().encode(&Scrape { status: &status, tally: None, usage: None });
        assert!(!text.contains("hive_writes") && !text.contains("hive_github_"), "{text}");
    }
}
