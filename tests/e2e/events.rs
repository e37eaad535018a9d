//! `hive serve`'s live feeds through the real binary and real HTTP on loopback: `GET /api/audit?after=N` pages
//! through the trail with bad queries refused as JSON, and `GET /api/events` streams the bus as server-sent events
//! that a client resumes with `Last-Event-ID`, with a lag notice for an id it cannot resume from, and that the
//! server ends when it gets SIGTERM, before the hive stops.

use std::time::Duration;

use nix::sys::signal::Signal;
use reqwest::StatusCode;
use serde_json::Value;

use crate::daemon::{DEADLINE, Daemon, hive_command};

const TOKEN: &str = "events-api-token";

/// A `hive serve` over a workspace of one passing and one failing repository, a cycle a second; its base URL.
pub async fn serve_workspace(dir: &std::path::Path) -> (Daemon, String) {
    use hive_testkit::projects::{git_repo, write};
    let ws = dir.join("ws");
    write(&ws.join("ok"), "Makefile", "test:\n\ttrue\n");
    git_repo(&ws.join("ok"));
    write(&ws.join("bad"), "Makefile", "test:\n\tfalse\n");
    git_repo(&ws.join("bad"));
    let state = dir.join("state");
    let mut cmd = hive_command(&state, &["serve", "--workspace", ws.to_str().expect("utf-8"), "--bind", "127.0.0.1:0"]);
    cmd.env("HIVE_API_TOKEN", TOKEN).env("ORCHESTRATION_INTERVAL", "1");
    let mut daemon = Daemon::spawn(cmd, &dir.join("stderr.log"));
    let line = daemon.line("the listening line", |l| l.starts_with("hive serve: listening on http://")).await;
    let base = line.trim_start_matches("hive serve: listening on ").trim().to_owned();
    (daemon, base)
}

/// One server-sent event as a client reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sse {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

impl Sse {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("event data is not JSON ({e}): {}", self.data))
    }

    pub fn seq(&self) -> u64 {
        // `<epoch>-<n>`: n counts within one server's life.
        self.id
            .as_deref()
            .and_then(|id| id.rsplit_once('-'))
            .and_then(|(_, n)| n.parse().ok())
            .unwrap_or_else(|| panic!("no `<epoch>-<n>` id: {self:?}"))
    }
}

/// An open `GET /api/events`, parsed as the SSE format says (fields up to a blank line; comments skipped).
pub struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    pub async fn open(client: &reqwest::Client, base: &str, last_event_id: Option<&str>) -> EventStream {
        let mut request = client.get(format!("{base}/api/events"));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.expect("events");
        assert_eq!(response.status(), StatusCode::OK);
        let kind = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        EventStream { response, buffer: String::new() }
    }

    /// The next event, or `None` when the stream ended; fails the test after [`DEADLINE`].
    pub async fn next(&mut self) -> Option<Sse> {
        let until = tokio::time::Instant::now() + DEADLINE;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse(&block) {
                    return Some(event);
                }
            }
            let chunk = tokio::time::timeout_at(until, self.response.chunk()).await.expect("an event in time");
            match chunk {
                Ok(Some(bytes)) => self.buffer.push_str(std::str::from_utf8(&bytes).expect("utf-8")),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// Every event left until the stream ends, or why it broke off instead of ending (a connection cut mid-stream,
    /// as when the process exits); fails the test after [`DEADLINE`].
    pub async fn rest(&mut self) -> Result<Vec<Sse>, String> {
        let until = tokio::time::Instant::now() + DEADLINE;
        loop {
            let chunk = tokio::time::timeout_at(until, self.response.chunk()).await.expect("the end in time");
            match chunk {
                Ok(Some(bytes)) => self.buffer.push_str(std::str::from_utf8(&bytes).expect("utf-8")),
                Ok(None) => break,
                Err(err) => return Err(format!("{err:?}")),
            }
        }
        let mut events = Vec::new();
        while let Some(end) = self.buffer.find("\n\n") {
            let block: String = self.buffer.drain(..end + 2).collect();
            events.extend(parse(&block));
        }
        Ok(events)
    }

    /// Events until `pick` holds of one (which is returned last), failing the test if the stream ends first.
    pub async fn until(&mut self, what: &str, pick: impl Fn(&Sse) -> bool) -> Vec<Sse> {
        let mut seen = Vec::new();
        loop {
            let event = self.next().await.unwrap_or_else(|| panic!("{what}: the stream ended; saw {seen:?}"));
            let done = pick(&event);
            seen.push(event);
            if done {
                return seen;
            }
        }
    }
}

fn parse(block: &str) -> Option<Sse> {
    let mut event = Sse { id: None, event: "message".to_owned(), data: String::new() };
    let mut any = false;
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "" => continue,
            "id" => event.id = Some(value.to_owned()),
            "event" => event.event = value.to_owned(),
            "data" => {
                if !event.data.is_empty() {
                    event.data.push('\n');
                }
                event.data.push_str(value);
            }
            _ => {}
        }
        any = true;
    }
    any.then_some(event)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_pages_after_a_seq_and_refuses_bad_queries_as_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut daemon, base) = serve_workspace(dir.path()).await;
    let client = reqwest::Client::new();
    let audit = |query: &str| client.get(format!("{base}/api/audit{query}")).send();

    for text in ["emergency declare", "emergency clear"] {
        let sent = client
            .post(format!("{base}/api/command"))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({ "command": text }))
            .send()
            .await
            .expect("command");
        assert_eq!(sent.status(), StatusCode::OK);
    }
    let page: Value = audit("").await.expect("audit").json().await.expect("json");
    let records = page["records"].as_array().expect("records").clone();
    let seqs: Vec<u64> = records.iter().map(|r| r["seq"].as_u64().expect("seq")).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1) && seqs.first() == Some(&1), "{seqs:?}");
    assert_eq!(page["next"], *seqs.last().expect("a record"), "{page}");
    let commands: Vec<&Value> = records.iter().filter(|r| r["action"] == "command").collect();
    assert_eq!(commands.len(), 2, "{page}");
    assert_eq!(commands[0]["result"], "emergency declare");
    assert_eq!(commands[0]["actor"], "api:anonymous");
    let at = commands[0]["timestamp"].as_str().expect("timestamp");
    assert!(at.len() == 20 && at.as_bytes()[10] == b'T' && at.ends_with('Z'), "not RFC 3339: {at}");

    // After the declaration: the clearing, and whatever the loop recorded since, never the declaration again.
    let declared = commands[0]["seq"].as_u64().expect("seq");
    let after: Value = audit(&format!("?after={declared}&limit=1")).await.expect("audit").json().await.expect("json");
    let after = after["records"].as_array().expect("records").clone();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0]["seq"], declared + 1);
    let last = seqs.last().copied().expect("a record");
    let beyond: Value = audit(&format!("?after={}", last + 1000)).await.expect("audit").json().await.expect("json");
    assert_eq!(beyond["records"], serde_json::json!([]), "{beyond}");
    assert_eq!(beyond["next"], last + 1000, "{beyond}");

    for (query, says) in [
        ("?after=-1", "after '-1'"),
        ("?after=one", "after 'one'"),
        ("?limit=0", "limit '0'"),
        ("?limit=1001", "limit '1001'"),
        ("?since=3", "since"),
    ] {
        let refused = audit(query).await.expect("audit");
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{query}");
        let body: Value = refused.json().await.expect("a JSON error");
        assert!(body["error"].as_str().is_some_and(|e| e.contains(says)), "{query}: {body}");
    }

    daemon.signal(Signal::SIGTERM);
    assert_eq!(daemon.exit_within(Duration::from_secs(15)).await.code(), Some(0), "{}", daemon.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn events_resume_after_the_last_id_with_a_lag_notice_for_an_unknown_one_and_end_when_the_server_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut daemon, base) = serve_workspace(dir.path()).await;
    let client = reqwest::Client::new();

    // Two cycles' worth of events, then the client goes away after the first cycle's start.
    let mut stream = EventStream::open(&client, &base, None).await;
    let first = stream.until("a cycle started", |e| e.event == "cycle_started").await;
    let left = first.last().expect("an event");
    let (left_at, left_id) = (left.seq(), left.id.clone().expect("an id"));
    let seen = stream.until("the next cycle started", |e| e.event == "cycle_started").await;
    drop(stream);
    let ids: Vec<u64> = seen.iter().map(Sse::seq).collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1) && ids[0] == left_at + 1, "{left_at} then {ids:?}");
    let next_cycle = seen.last().expect("an event").json()["cycle"].as_u64().expect("cycle");

    // Back with the id it had: exactly what it missed, in order, then the feed goes on.
    let mut resumed = EventStream::open(&client, &base, Some(&left_id)).await;
    let again = resumed.until("the next cycle started again", |e| e.event == "cycle_started").await;
    assert_eq!(again, seen, "what was missed, replayed as it was first sent");
    let later = resumed.until("a later cycle", |e| e.event == "cycle_started").await;
    assert!(later.last().expect("an event").json()["cycle"].as_u64() > Some(next_cycle));
    drop(resumed);

    // An id this server never gave (a server restarted since): a lag notice first, so the client refetches.
    // Its own number under another epoch is one too.
    let (_, number) = left_id.split_once('-').expect("<epoch>-<n>");
    let mut stranger = EventStream::open(&client, &base, Some(&format!("1-{number}"))).await;
    let notice = stranger.next().await.expect("a notice");
    assert_eq!(notice.event, "lag", "{notice:?}");
    assert_eq!(notice.json()["missed"], Value::Null, "{notice:?}");
    assert_eq!(notice.json()["refetch"], "/api/status", "{notice:?}");
    let after_notice = stranger.until("an event after the notice", |_| true).await;
    assert!(after_notice[0].seq() > notice.seq(), "{notice:?} then {after_notice:?}");

    // SIGTERM with a stream open: the server ends the stream as it stops (the body's end arrives, the connection is
    // not cut by the process exiting), before the hive stops: the hive's last event, which ends a stream left open,
    // never comes. Then the hive exits 0.
    daemon.signal(Signal::SIGTERM);
    let rest = stranger.rest().await.unwrap_or_else(|cut| panic!("the stream was cut, not ended: {cut}"));
    assert!(rest.iter().all(|e| e.id.is_some()), "{rest:?}");
    assert!(rest.iter().all(|e| e.event != "hive_stopped"), "the stream ended with the hive, not the server: {rest:?}");
    assert_eq!(daemon.exit_within(Duration::from_secs(15)).await.code(), Some(0), "{}", daemon.stderr());
}
