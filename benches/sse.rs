//! Server-sent events fan-out benchmark: how fast `GET /api/events` delivers the bus to 100 clients, next to the
//! bus's own fan-out to 100 subscribers measured in the same run.
//!
//! Both sides get the same events (`health_reported`, as a cycle publishes one per repository) in batches of 256,
//! each published only once every reader has the previous batch, so nothing is ever dropped (a batch fits both the
//! bus window and the feed's ring) and the rate is what the slowest reader sustains. The baseline is 100
//! [`Subscription`]s in tasks of this process; the measured side is [`EventFeed`] (one task reading the bus into
//! the ring, one JSON encoding per event) served by axum as `hive serve` does, read by 100 HTTP clients (reqwest) on
//! loopback that parse the stream. Rates are events per second per reader; the ratio says what serving the bus over
//! HTTP costs next to reading it in process. Redaction, which `hive serve` adds to the encoding, is left out.
//!
//! `cargo bench --bench sse` runs 100 readers and 10,000 events, three rounds each side; `-- --test` 10 readers and
//! 1,000 events, one round, which CI can afford.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, extract::State, http::HeaderMap, response::IntoResponse, routing::get};
use hive::{
    Envelope, EventBus, HiveEvent, MemberId,
    feed::{EventFeed, event_json},
};
use tokio::sync::Notify;

/// Events published between two waits for every reader; below the feed's ring, so no reader can lag.
const BATCH: u64 = 256;
/// The feed's ring, as `hive serve` keeps it.
const RING: usize = 1024;
/// How long one round may take before the bench gives up.
const ROUND_DEADLINE: Duration = Duration::from_secs(300);

fn main() {
    let test_mode = std::env::args().any(|arg| arg == "--test");
    let (readers, events, rounds) = if test_mode { (10, 1_000, 1) } else { (100, 10_000, 3) };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let mut bus_rates = Vec::new();
        let mut sse_rates = Vec::new();
        for round in 1..=rounds {
            let bus = bus_round(readers, events).await;
            let sse = sse_round(readers, events).await;
            println!(
                "round {round}: bus {bus:.0} events/s per subscriber, sse {sse:.0} events/s per client ({:.0} delivered/s \
                 in all), ratio {:.3}",
                sse * readers as f64,
                sse / bus
            );
            bus_rates.push(bus);
            sse_rates.push(sse);
        }
        let (bus, sse) = (median(&mut bus_rates), median(&mut sse_rates));
        println!(
            "sse fan-out, {readers} readers x {events} events, median of {rounds}: bus {bus:.0} events/s per subscriber; \
             sse {sse:.0} events/s per client, {:.0} events/s delivered in all; ratio sse/bus {:.3}",
            sse * readers as f64,
            sse / bus
        );
    });
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// What every reader has counted so far, and a wake-up for the publisher.
struct Progress {
    counts: Vec<AtomicU64>,
    changed: Notify,
}

impl Progress {
    fn new(readers: usize) -> Arc<Progress> {
        Arc::new(Progress { counts: (0..readers).map(|_| AtomicU64::new(0)).collect(), changed: Notify::new() })
    }

    fn count(&self, reader: usize, n: u64) {
        self.counts[reader].fetch_add(n, Ordering::Relaxed);
        self.changed.notify_one();
    }

    /// Waits until every reader counted `target` events.
    async fn all_reach(&self, target: u64) {
        while self.counts.iter().any(|c| c.load(Ordering::Relaxed) < target) {
            self.changed.notified().await;
        }
    }
}

fn event(n: u64) -> HiveEvent {
    HiveEvent::HealthReported {
        member: MemberId::new(format!("bench/repo-{:04}", n % 1000)),
        score: (n % 101) as u8,
        healthy: !n.is_multiple_of(3),
        cycle: Some(n / 1000 + 1),
    }
}

/// Publishes `events` in batches, each after every reader has the one before; returns events per second per reader.
async fn publish(bus: &EventBus, progress: &Progress, events: u64) -> f64 {
    let started = Instant::now();
    let mut published = 0;
    tokio::time::timeout(ROUND_DEADLINE, async {
        while published < events {
            let batch = BATCH.min(events - published);
            for _ in 0..batch {
                published += 1;
                bus.publish(event(published));
            }
            progress.all_reach(published).await;
        }
    })
    .await
    .expect("the round finished in time");
    events as f64 / started.elapsed().as_secs_f64()
}

/// The baseline: `readers` subscriptions of the bus, each in its own task.
async fn bus_round(readers: usize, events: u64) -> f64 {
    let bus = EventBus::new(1 << 16);
    let progress = Progress::new(readers);
    let tasks: Vec<_> = (0..readers)
        .map(|reader| {
            let mut sub = bus.subscribe();
            let progress = progress.clone();
            tokio::spawn(async move {
                while let Some(envelope) = sub.recv().await {
                    std::hint::black_box(&envelope);
                    progress.count(reader, 1);
                }
            })
        })
        .collect();
    let rate = publish(&bus, &progress, events).await;
    drop(bus);
    for task in tasks {
        task.await.expect("subscriber");
    }
    rate
}

/// The measured side: the feed over HTTP to `readers` clients.
async fn sse_round(readers: usize, events: u64) -> f64 {
    let bus = EventBus::new(1 << 16);
    let feed = EventFeed::start(bus.subscribe(), RING, encode);
    let app = Router::new().route("/api/events", get(stream)).with_state(feed);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let progress = Progress::new(readers);
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for reader in 0..readers {
        // Connected before the first event: a client without Last-Event-ID reads from when it connects.
        let response = client.get(format!("http://{addr}/api/events")).send().await.expect("connect");
        assert!(response.status().is_success());
        let progress = progress.clone();
        tasks.push(tokio::spawn(read_stream(response, reader, progress)));
    }
    let rate = publish(&bus, &progress, events).await;
    // The hive's last event ends every stream.
    bus.publish(HiveEvent::HiveStopped);
    for task in tasks {
        let lagged = task.await.expect("client");
        assert_eq!(lagged, 0, "a client lagged: the batches must fit the ring");
    }
    server.abort();
    rate
}

fn encode(envelope: &Envelope) -> (String, String) {
    let (kind, value) = event_json(envelope);
    (kind, value.to_string())
}

async fn stream(State(feed): State<EventFeed>, headers: HeaderMap) -> impl IntoResponse {
    feed.sse(headers.get("last-event-id").map(|v| v.to_str().unwrap_or("?")))
}

/// Counts the events of a stream (blocks ending in a blank line), until it ends; returns the lag notices seen.
async fn read_stream(mut response: reqwest::Response, reader: usize, progress: Arc<Progress>) -> u64 {
    let mut buffer: Vec<u8> = Vec::new();
    let mut lagged = 0;
    while let Ok(Some(chunk)) = response.chunk().await {
        buffer.extend_from_slice(&chunk);
        let mut events = 0;
        let mut start = 0;
        while let Some(end) = buffer[start..].windows(2).position(|w| w == b"\n\n") {
            let block = &buffer[start..start + end];
            if block.windows(10).any(|w| w == b"event: lag") {
                lagged += 1;
            } else if block.starts_with(b"event: health_reported")
                || block.windows(23).any(|w| w == b"\nevent: health_reported")
            {
                events += 1;
            }
            start += end + 2;
        }
        buffer.drain(..start);
        if events > 0 {
            progress.count(reader, events);
        }
    }
    lagged
}
