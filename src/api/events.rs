//! `GET /api/events`: the hive's [`EventFeed`] as server-sent events, for the dashboard and anyone who follows the
//! hive live; a client resumes with `Last-Event-ID` and is sent `event: lag` when what it missed is gone (see
//! [`hive::feed`]). Event data has the secrets hive knows redacted, as everything it prints.

use axum::{
    extract::State,
    http::HeaderMap,
    response::IntoResponse,
    routing::{MethodRouter, get},
};
use hive::{
    Envelope, Hive,
    feed::{EventFeed, event_json},
};

/// Events kept for clients that reconnect.
const RING: usize = 1024;

/// The hive's feed: its task starts now, reading the hive's bus. The server closes it when it stops.
pub(super) fn feed(hive: &Hive) -> EventFeed {
    EventFeed::start(hive.subscribe(), RING, encode)
}

/// The route, serving `feed`.
pub(super) fn route<S: Clone + Send + Sync + 'static>(feed: EventFeed) -> MethodRouter<S> {
    get(stream).with_state(feed)
}

/// An event's kind and its JSON, secrets redacted.
fn encode(envelope: &Envelope) -> (String, String) {
    let (kind, value) = event_json(envelope);
    let data = crate::terminal::json_line(value).unwrap_or_else(|_| "{}".to_owned());
    (kind, data)
}

/// The stream, from the event after `Last-Event-ID` when the client sends one.
async fn stream(State(feed): State<EventFeed>, headers: HeaderMap) -> impl IntoResponse {
    // A header that is not text cannot be one of the feed's ids.
    let last = headers.get("last-event-id").map(|v| v.to_str().unwrap_or("?"));
    feed.sse(last)
}
