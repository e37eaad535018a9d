//! Tests of the event feed: the ring's resume and lag rules as a table, and the feed over a real bus (a reader that
//! resumes, one that fell out of the ring, a ring whose own reader fell behind the bus, the end when the hive stops),
//! and the same resume and lag over HTTP as server-sent events.

use futures::StreamExt;
use hive_cerebrum::{EventBus, HiveEvent};

use super::*;

fn ring(capacity: usize, events: usize) -> Ring {
    let mut ring = Ring::new(capacity);
    for n in 0..events {
        ring.push("cycle_started", format!("{{\"n\":{n}}}"));
    }
    ring
}

fn ids(next: Next) -> Vec<u64> {
    match next {
        Next::Items(items) => items.iter().map(|i| i.id).collect(),
        other => panic!("expected events, got {other:?}"),
    }
}

#[test]
fn a_reader_gets_what_follows_its_id_in_order_up_to_the_batch() {
    let ring = ring(8, 5);
    assert_eq!(ids(ring.after(0, 10)), [1, 2, 3, 4, 5]);
    assert_eq!(ids(ring.after(3, 10)), [4, 5]);
    assert_eq!(ids(ring.after(1, 2)), [2, 3]);
    assert_eq!(ring.after(5, 10), Next::Wait);
    assert_eq!(Ring::new(4).after(0, 10), Next::Wait);
}

#[test]
fn a_reader_whose_events_left_the_ring_is_told_how_many_it_missed() {
    // Ids 1..=10 were given; 7..=10 are kept.
    let ring = ring(4, 10);
    assert_eq!(ring.after(2, 10), Next::Lag { missed: Some(4), resume: 6 });
    assert_eq!(ring.after(0, 10), Next::Lag { missed: Some(6), resume: 6 });
    assert_eq!(ids(ring.after(6, 10)), [7, 8, 9, 10]);
    assert_eq!(ids(ring.after(8, 10)), [9, 10]);
}

#[test]
fn an_id_this_server_never_gave_is_a_lag_of_unknown_size_resuming_at_the_newest() {
    let ring = ring(4, 3);
    assert_eq!(ring.after(4, 10), Next::Lag { missed: None, resume: 3 });
    assert_eq!(ring.after(u64::MAX, 10), Next::Lag { missed: None, resume: 3 });
}

/// The encoder without redaction.
fn plain(envelope: &Envelope) -> (String, String) {
    let (kind, value) = event_json(envelope);
    (kind, value.to_string())
}

fn cycle(n: u64) -> HiveEvent {
    HiveEvent::CycleStarted { cycle: n, asked: 0, kind: crate::cerebrum::CycleKind::Full }
}

/// Reads `n` items from a stream, failing after a deadline.
async fn take(stream: &mut (impl Stream<Item = FeedItem> + Unpin), n: usize) -> Vec<FeedItem> {
    let mut items = Vec::new();
    while items.len() < n {
        let item = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.expect("an event in time");
        items.push(item.expect("the stream ended early"));
    }
    items
}

fn data(item: &FeedItem) -> Value {
    serde_json::from_str(&item.data).expect("json data")
}

#[tokio::test]
async fn a_client_resumes_after_its_last_id_and_every_stream_ends_when_the_hive_stops() {
    let bus = EventBus::new(64);
    let feed = EventFeed::start(bus.subscribe(), 16, plain);
    let mut live = Box::pin(feed.events(Some(0)));
    for n in 1..=3 {
        bus.publish(cycle(n));
    }
    let first = take(&mut live, 3).await;
    assert_eq!(first.iter().map(|i| i.id).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(&*first[0].kind, "cycle_started");
    assert_eq!(data(&first[2])["cycle"], 3);
    assert!(data(&first[2])["at"].as_str().is_some_and(|at| at.ends_with('Z')), "{}", first[2].data);

    // A second client was away after id 1: it gets 2 and 3, then what comes next.
    let mut back = Box::pin(feed.events(Some(1)));
    bus.publish(cycle(4));
    let resumed = take(&mut back, 3).await;
    assert_eq!(resumed.iter().map(|i| i.id).collect::<Vec<_>>(), [2, 3, 4]);
    assert_eq!(data(&resumed[2])["cycle"], 4);

    bus.publish(HiveEvent::HiveStopped);
    for stream in [&mut live, &mut back] {
        let rest: Vec<FeedItem> =
            tokio::time::timeout(Duration::from_secs(10), stream.collect()).await.expect("the stream ends");
        assert_eq!(rest.last().map(|i| &*i.kind), Some("hive_stopped"));
    }
    // A client that comes after the end gets what is left and the end.
    let late: Vec<FeedItem> = feed.events(Some(4)).collect().await;
    assert_eq!(late.iter().map(|i| &*i.kind).collect::<Vec<_>>(), ["hive_stopped"]);
}

#[tokio::test]
async fn closing_the_feed_ends_every_stream_while_the_hive_goes_on() {
    let bus = EventBus::new(64);
    let feed = EventFeed::start(bus.subscribe(), 16, plain);
    let mut waiting = Box::pin(feed.events(None));
    let mut reading = Box::pin(feed.events(Some(0)));
    bus.publish(cycle(1));
    assert_eq!(take(&mut reading, 1).await[0].id, 1);
    feed.close();
    for stream in [&mut waiting, &mut reading] {
        let rest: Vec<FeedItem> =
            tokio::time::timeout(Duration::from_secs(10), stream.collect()).await.expect("the stream ends");
        assert!(rest.is_empty(), "{rest:?}");
    }
    // The bus is untouched, and a client that comes now gets nothing.
    bus.publish(cycle(2));
    let late: Vec<FeedItem> = feed.events(Some(0)).collect().await;
    assert!(late.is_empty(), "{late:?}");
}

#[tokio::test]
async fn a_client_that_fell_out_of_the_ring_gets_a_lag_notice_then_the_kept_events() {
    let bus = EventBus::new(64);
    let feed = EventFeed::start(bus.subscribe(), 4, plain);
    let mut watcher = Box::pin(feed.events(Some(0)));
    for n in 1..=10 {
        bus.publish(cycle(n));
    }
    // The ring is filled once the watcher, which follows it, has everything it still holds.
    let mut last = 0;
    while last < 10 {
        last = take(&mut watcher, 1).await[0].id;
    }
    let mut away = Box::pin(feed.events(Some(2)));
    let items = take(&mut away, 5).await;
    assert_eq!(&*items[0].kind, "lag");
    assert_eq!(data(&items[0])["missed"], 4);
    assert_eq!(items[0].id, 6);
    assert_eq!(items[1..].iter().map(|i| i.id).collect::<Vec<_>>(), [7, 8, 9, 10]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_ring_whose_reader_fell_behind_the_bus_tells_every_client_how_many_were_lost() {
    // On one thread the feed's task cannot run while the test publishes: its bus window of 4 overflows.
    let bus = EventBus::new(4);
    let feed = EventFeed::start(bus.subscribe(), 64, plain);
    let mut client = Box::pin(feed.events(Some(0)));
    for n in 1..=10 {
        bus.publish(cycle(n));
    }
    let items = take(&mut client, 5).await;
    assert_eq!(&*items[0].kind, "lag");
    assert_eq!(data(&items[0])["missed"], 6);
    let cycles: Vec<u64> = items[1..].iter().map(|i| data(i)["cycle"].as_u64().expect("a cycle")).collect();
    assert_eq!(cycles, [7, 8, 9, 10]);
    assert_eq!(items.iter().map(|i| i.id).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
}

/// Reads the text of `GET /api/events` until it holds `blocks` events, failing after a deadline.
async fn read_sse(mut response: reqwest::Response, blocks: usize) -> Vec<(String, String, Value)> {
    let mut text = String::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        while text.matches("\n\n").count() < blocks {
            let chunk = response.chunk().await.expect("read").expect("the stream ended early");
            text.push_str(std::str::from_utf8(&chunk).expect("utf-8"));
        }
    })
    .await;
    read.unwrap_or_else(|_| panic!("{blocks} events in time; got {text:?}"));
    text.split("\n\n")
        .filter(|block| !block.is_empty())
        .map(|block| {
            let field = |name: &str| {
                block.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim_start().to_owned()).unwrap_or_default()
            };
            (field("id:"), field("event:"), serde_json::from_str(&field("data:")).expect("json data"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn over_http_a_client_resumes_with_last_event_id_and_is_told_when_its_events_left_the_ring() {
    let bus = EventBus::new(64);
    let feed = EventFeed::start(bus.subscribe(), 4, plain);
    let app = axum::Router::new().route(
        "/api/events",
        axum::routing::get(
            |axum::extract::State(feed): axum::extract::State<EventFeed>, headers: axum::http::HeaderMap| async move {
                feed.sse(headers.get("last-event-id").and_then(|v| v.to_str().ok()))
            },
        ),
    );
    let app = app.with_state(feed.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}/api/events", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();

    for n in 1..=3 {
        bus.publish(cycle(n));
    }
    // Once the feed holds 3 events, a client that saw 1 gets 2 and 3 as they were sent.
    let mut watcher = Box::pin(feed.events(Some(0)));
    take(&mut watcher, 3).await;
    let epoch = feed.epoch();
    let id = |n: u64| format!("{epoch}-{n}");
    let resumed = client.get(&base).header("Last-Event-ID", id(1)).send().await.expect("connect");
    assert!(resumed.headers()["content-type"].to_str().is_ok_and(|t| t.starts_with("text/event-stream")));
    let events = read_sse(resumed, 2).await;
    let got: Vec<(String, &str, u64)> = events
        .iter()
        .map(|(id, kind, data)| (id.clone(), kind.as_str(), data["cycle"].as_u64().unwrap_or(0)))
        .collect();
    assert_eq!(got, [(id(2), "cycle_started", 2), (id(3), "cycle_started", 3)]);

    // Seven more: the ring of 4 keeps 7 to 10, so a client back from 2 missed 3 to 6.
    for n in 4..=10 {
        bus.publish(cycle(n));
    }
    // The feed holds them all once the watcher, which follows it, reads the last.
    while take(&mut watcher, 1).await[0].id < 10 {}
    let behind = client.get(&base).header("Last-Event-ID", id(2)).send().await.expect("connect");
    let events = read_sse(behind, 5).await;
    assert_eq!((events[0].0.clone(), events[0].1.as_str()), (id(6), "lag"), "{events:?}");
    assert_eq!(events[0].2["missed"], 4, "{events:?}");
    let ids: Vec<String> = events[1..].iter().map(|(id, _, _)| id.clone()).collect();
    assert_eq!(ids, [id(7), id(8), id(9), id(10)]);
    // An id of an earlier server (another epoch), even one this feed also numbers, is a lag of unknown size.
    let earlier = client.get(&base).header("Last-Event-ID", format!("{}-9", epoch - 1)).send().await.expect("connect");
    let events = read_sse(earlier, 1).await;
    assert_eq!(events[0].1, "lag", "{events:?}");
    assert!(events[0].2["missed"].is_null(), "{events:?}");
    server.abort();
}
