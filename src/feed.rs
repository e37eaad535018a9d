//! The event feed: the bus as any number of clients can follow it, over a network, at their own pace. `hive serve`
//! serves it as server-sent events at `GET /api/events` ([`EventFeed::sse`]).
//!
//! One task reads the bus and keeps the newest events in a bounded ring, each with an id the feed assigns (1, 2, ...
//! for this process); every client reads the ring at its own pace. So a slow client costs the bus nothing and
//! holds no buffer of its own, and a client that reconnects with `Last-Event-ID` gets what it missed while it is
//! still in the ring. When it is not (the client was away or read too slowly), or the ring's own reader fell
//! behind the bus, the client gets an `event: lag` notice saying how many events it missed, and should fetch
//! `/api/status` again: the bus drops events for slow readers, so only the status is the truth.
//!
//! The streams end when the hive stops (its last event, `hive_stopped`, is delivered first), or at once when the
//! server closes the feed ([`EventFeed::close`]), so a server that waits for its connections is not held by them.

use std::{
    collections::VecDeque,
    convert::Infallible,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use hive_cerebrum::{Envelope, HiveEvent, Subscription};
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

/// How often an idle stream sends a comment, so proxies and the client know the connection is alive.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Events a stream takes from the ring at a time (the lock is held while they are copied).
const BATCH: usize = 64;

/// One event as clients get it: its id, its kind (`event:`) and its JSON (`data:`).
#[derive(Debug, Clone, PartialEq)]
pub struct FeedItem {
    /// The feed's id, from 1 without gaps.
    pub id: u64,
    /// The event's kind, such as `health_reported`, or `lag`.
    pub kind: Arc<str>,
    /// The event as one line of JSON.
    pub data: Arc<str>,
}

/// The newest events, with ids from 1 without gaps.
#[derive(Debug)]
pub(crate) struct Ring {
    items: VecDeque<FeedItem>,
    capacity: usize,
    /// The id of the newest event (0 before the first).
    newest: u64,
}

/// What a client that has seen everything up to an id reads next.
#[derive(Debug, PartialEq)]
pub(crate) enum Next {
    /// Nothing new yet.
    Wait,
    /// The next events, in order.
    Items(Vec<FeedItem>),
    /// Events it did not see are gone: `missed` of them (`None`: the id is not one this server gave), and it
    /// goes on after `resume`.
    Lag { missed: Option<u64>, resume: u64 },
}

impl Ring {
    pub(crate) fn new(capacity: usize) -> Ring {
        let capacity = capacity.max(1);
        Ring { items: VecDeque::with_capacity(capacity), capacity, newest: 0 }
    }

    /// Adds an event, forgetting the oldest when full, and returns its id.
    pub(crate) fn push(&mut self, kind: &str, data: String) -> u64 {
        if self.items.len() == self.capacity {
            self.items.pop_front();
        }
        self.newest += 1;
        self.items.push_back(FeedItem { id: self.newest, kind: kind.into(), data: data.into() });
        self.newest
    }

    /// What follows `seen` (the last id a client got), at most `max` events.
    pub(crate) fn after(&self, seen: u64, max: usize) -> Next {
        if seen > self.newest {
            // An id from an earlier run of the server, whose ids started again at 1: what it missed is unknown.
            return Next::Lag { missed: None, resume: self.newest };
        }
        let oldest = self.items.front().map_or(self.newest + 1, |item| item.id);
        if seen + 1 < oldest {
            return Next::Lag { missed: Some(oldest - 1 - seen), resume: oldest - 1 };
        }
        // Ids have no gaps, so the first unseen event's place is known.
        let start = usize::try_from(seen + 1 - oldest).unwrap_or(usize::MAX);
        let items: Vec<FeedItem> = self.items.iter().skip(start).take(max).cloned().collect();
        if items.is_empty() { Next::Wait } else { Next::Items(items) }
    }
}

/// The ring and the id of its newest event, which clients watch to wake up. Cheap to clone.
#[derive(Clone)]
pub struct EventFeed {
    ring: Arc<Mutex<Ring>>,
    newest: watch::Receiver<u64>,
    /// Cancelled by [`EventFeed::close`].
    closed: CancellationToken,
    /// When this feed started (unix milliseconds): the first part of every id it sends, so an id a client kept
    /// from an earlier server, whose numbers started at 1 too, is never taken for one of this feed's.
    epoch: u64,
}

impl EventFeed {
    /// Starts the task that fills a ring of `capacity` from `bus`, each event turned into its kind and one line of
    /// JSON by `encode` (see [`event_json`]); it ends when the hive stops. Needs a tokio runtime.
    pub fn start<E>(bus: Subscription, capacity: usize, encode: E) -> EventFeed
    where
        E: Fn(&Envelope) -> (String, String) + Send + 'static,
    {
        EventFeed::merged(bus, None, capacity, encode)
    }

    /// [`EventFeed::start`], with events from elsewhere (another node of a cluster, each already its kind and
    /// its JSON) put into the same ring as they come. They never end the feed; what the ring's reader missed of
    /// them is a `lag` like what it missed of the bus.
    pub fn merged<E>(
        bus: Subscription,
        remote: Option<broadcast::Receiver<(Arc<str>, Arc<str>)>>,
        capacity: usize,
        encode: E,
    ) -> EventFeed
    where
        E: Fn(&Envelope) -> (String, String) + Send + 'static,
    {
        let ring = Arc::new(Mutex::new(Ring::new(capacity)));
        let (tx, newest) = watch::channel(0);
        let closed = CancellationToken::new();
        let sources = Sources { bus, remote };
        tokio::spawn(fill(sources, Arc::clone(&ring), tx, encode, closed.clone()));
        let epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        EventFeed { ring, newest, closed, epoch }
    }

    /// The ring. Nothing panics while holding it, and a ring is whole after every step, so a poisoned lock is
    /// still a good ring.
    fn lock(&self) -> MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The first part of the ids [`EventFeed::sse`] sends: `<epoch>-<n>`.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The events after `seen` (`None`: from now on), as a stream that ends when the feed does.
    pub fn events(&self, seen: Option<u64>) -> impl Stream<Item = FeedItem> + Send + use<> {
        // A new client starts from now: it reads the status first, then follows.
        let seen = seen.unwrap_or_else(|| self.lock().newest);
        let reader = Reader { feed: self.clone(), seen, pending: VecDeque::new(), ended: false };
        futures::stream::unfold(reader, Reader::next)
    }
}

/// What fills a ring: the bus, and events from elsewhere.
struct Sources {
    bus: Subscription,
    remote: Option<broadcast::Receiver<(Arc<str>, Arc<str>)>>,
}

/// The next event from elsewhere, or a count of those missed; never, without a source or once it is gone.
async fn remote(source: &mut Option<broadcast::Receiver<(Arc<str>, Arc<str>)>>) -> Result<(Arc<str>, Arc<str>), u64> {
    let Some(receiver) = source else { return std::future::pending().await };
    match receiver.recv().await {
        Ok(item) => Ok(item),
        Err(broadcast::error::RecvError::Lagged(missed)) => Err(missed),
        Err(broadcast::error::RecvError::Closed) => {
            *source = None;
            std::future::pending().await
        }
    }
}

/// Reads the bus (and events from elsewhere) into the ring until the hive stops, noting every loss as a `lag`
/// event of its own.
async fn fill<E>(
    sources: Sources,
    ring: Arc<Mutex<Ring>>,
    newest: watch::Sender<u64>,
    encode: E,
    closed: CancellationToken,
) where
    E: Fn(&Envelope) -> (String, String),
{
    let Sources { mut bus, remote: mut elsewhere } = sources;
    let mut lost = 0;
    loop {
        let next = tokio::select! {
            envelope = bus.recv() => Ok(envelope),
            item = remote(&mut elsewhere) => Err(item),
            () = closed.cancelled() => break,
        };
        let envelope = match next {
            Ok(Some(envelope)) => envelope,
            Ok(None) => break,
            Err(item) => {
                let mut ring = ring.lock().unwrap_or_else(PoisonError::into_inner);
                let id = match item {
                    Ok((kind, data)) => ring.push(&kind, data.to_string()),
                    Err(missed) => ring.push("lag", json!({ "missed": missed }).to_string()),
                };
                drop(ring);
                newest.send_replace(id);
                continue;
            }
        };
        let stopped = matches!(*envelope.event, HiveEvent::HiveStopped);
        // Encoded once for every client, and before the lock, which clients take to read.
        let (kind, data) = encode(&envelope);
        let mut ring = ring.lock().unwrap_or_else(PoisonError::into_inner);
        if bus.lost() > lost {
            ring.push("lag", json!({ "missed": bus.lost() - lost }).to_string());
            lost = bus.lost();
        }
        let id = ring.push(&kind, data);
        drop(ring);
        newest.send_replace(id);
        if stopped {
            break;
        }
    }
    // Dropping the sender ends every stream once it has read the ring to the end.
}

/// An event's kind (its `type`, such as `health_reported`) and its JSON with `at`, the time it was published (RFC
/// 3339), for an encoder to finish (`hive serve` redacts the secrets it knows in it).
pub fn event_json(envelope: &Envelope) -> (String, Value) {
    let mut value =
        serde_json::to_value(&*envelope.event).unwrap_or_else(|e| json!({ "type": "unknown", "error": e.to_string() }));
    let kind = value.get("type").and_then(Value::as_str).unwrap_or("unknown").to_owned();
    if let Some(fields) = value.as_object_mut() {
        fields.insert("at".to_owned(), Value::from(hive_support::rfc3339(envelope.at)));
    }
    (kind, value)
}

/// One client's place in the feed.
struct Reader {
    feed: EventFeed,
    seen: u64,
    pending: VecDeque<FeedItem>,
    ended: bool,
}

impl Reader {
    async fn next(mut self) -> Option<(FeedItem, Reader)> {
        loop {
            if self.feed.closed.is_cancelled() {
                return None;
            }
            if let Some(event) = self.pending.pop_front() {
                return Some((event, self));
            }
            // Marked seen before the ring is read: an event pushed after the read changes the value again.
            self.feed.newest.borrow_and_update();
            let next = self.feed.lock().after(self.seen, BATCH);
            match next {
                Next::Items(items) => {
                    self.seen = items.last().map_or(self.seen, |item| item.id);
                    self.pending.extend(items);
                }
                Next::Lag { missed, resume } => {
                    self.seen = resume;
                    let data = json!({ "missed": missed, "refetch": "/api/status" }).to_string();
                    self.pending.push_back(FeedItem { id: resume, kind: "lag".into(), data: data.into() });
                }
                Next::Wait if self.ended => return None,
                Next::Wait => {
                    tokio::select! {
                        changed = self.feed.newest.changed() => {
                            // The hive stopped: read what is left, then end.
                            self.ended = changed.is_err();
                        }
                        () = self.feed.closed.cancelled() => return None,
                    }
                }
            }
        }
    }
}

impl EventFeed {
    /// Ends every stream at once, and the task reading the bus, while the hive goes on: for a server that stops
    /// gracefully, which waits for its connections and would otherwise wait for the hive to stop first.
    pub fn close(&self) {
        self.closed.cancel();
    }

    /// The feed as server-sent events (`id:`, `event:`, `data:`, a comment every 15 s while idle), from the event
    /// after `last_event_id` when the client sent that header (a reconnecting `EventSource` does), else from now.
    pub fn sse(&self, last_event_id: Option<&str>) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
        // An id this feed did not give (another epoch: an earlier server; or not an id at all): the client lagged by
        // an unknown amount.
        let epoch = self.epoch;
        let seen = last_event_id.map(|id| {
            id.trim()
                .split_once('-')
                .filter(|(e, _)| e.parse::<u64>().ok() == Some(epoch))
                .and_then(|(_, n)| n.parse::<u64>().ok())
                .unwrap_or(u64::MAX)
        });
        let events = futures::StreamExt::map(self.events(seen), move |item| {
            Ok(Event::default().id(format!("{epoch}-{}", item.id)).event(&*item.kind).data(&*item.data))
        });
        Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
    }
}

#[cfg(test)]
mod tests;
