//! `GET /api/events`: the hive's [`EventFeed`] as server-sent events, for the dashboard and anyone who follows the
//! hive live; a client resumes with `Last-Event-ID` and is sent `event: lag` when what it missed is gone (see
//! [`hive::feed`]). Event data has the secrets hive knows redacted, as everything it prints.

use super::fleet::FleetView;
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

/// The hive's feed: its task starts now, reading the hive's bus (and, in a cluster, the other nodes' events, each
/// event then with the node it came from). The server closes it when it stops.
pub(super) fn feed(hive: &Hive, fleet: Option<&FleetView>) -> EventFeed {
    let Some(fleet) = fleet else { return EventFeed::start(hive.subscribe(), RING, encode) };
    let node = fleet.node();
    EventFeed::merged(hive.subscribe(), Some(fleet.subscribe()), RING, move |envelope| {
        let (kind, mut value) = event_json(envelope);
        if let Some(fields) = value.as_object_mut() {
            fields.insert("node".to_owned(), node.clone().into());
        }
        (kind, crate::terminal::json_line(value).unwrap_or_else(|_| "{}".to_owned()))
    })
}

/// The route, serving `feed`.
pub(super) fn route<S: Clone + Send + Sync + 'static>(feed: EventFeed) -> MethodRouter<S> {
    get(stream).with_state(feed)
}

/// An event's kind and its JSON, secrets redacted. (Another node's event is redacted by [`FleetView::event`]'s
/// caller.)
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
