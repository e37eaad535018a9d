//! The typed event bus: one publisher side, any number of subscribers (actors or async streams).
//!
//! Overflow rule: each subscriber reads from a window of the last `capacity` events. A subscriber that falls
//! further behind loses the oldest events it had not read yet; the loss is counted on its [`Subscription::lost`]
//! and on the bus-wide [`EventBus::lost`], and is visible as a gap in [`Envelope::seq`]. Publishing never blocks
//! and never waits for a subscriber. Supervision never depends on the bus: members report to the queen directly.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::SystemTime,
};

use futures::Stream;
use ractor::{ActorRef, Message};
use tokio::sync::broadcast;

use crate::HiveEvent;

/// One event with its delivery metadata.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// Position in the bus's total order, from 1. A gap means events were lost (or published concurrently).
    pub seq: u64,
    /// When it was published.
    pub at: SystemTime,
    /// The event, shared between subscribers.
    pub event: Arc<HiveEvent>,
}

/// The hive's event bus. Cheap to clone; all clones publish to the same subscribers.
#[derive(Debug, Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tx: broadcast::Sender<Envelope>,
    seq: AtomicU64,
    /// Shared with subscriptions, which must not keep the sender (and so the channel) alive.
    lost: Arc<AtomicU64>,
    capacity: usize,
}

impl EventBus {
    /// A bus whose subscribers each buffer up to `capacity` unread events (at least 1).
    pub fn new(capacity: usize) -> EventBus {
        let capacity = capacity.max(1);
        let (tx, _) = broadcast::channel(capacity);
        EventBus { inner: Arc::new(Inner { tx, seq: AtomicU64::new(0), lost: Arc::new(AtomicU64::new(0)), capacity }) }
    }

    /// Publishes an event to every current subscriber. Never blocks.
    pub fn publish(&self, event: HiveEvent) {
        let seq = self.inner.seq.fetch_add(1, Ordering::Relaxed) + 1;
        // An error only means nobody is listening right now, which is fine.
        let _ = self.inner.tx.send(Envelope { seq, at: SystemTime::now(), event: Arc::new(event) });
    }

    /// Subscribes from now on.
    pub fn subscribe(&self) -> Subscription {
        Subscription { rx: self.inner.tx.subscribe(), lost: 0, bus_lost: Arc::clone(&self.inner.lost) }
    }

    /// Forwards events to an actor, as `map` translates them (`None` skips one). The forwarding task ends when the
    /// actor is gone. Losses are counted as for any subscriber.
    pub fn subscribe_actor<M, F>(&self, actor: ActorRef<M>, map: F) -> tokio::task::JoinHandle<()>
    where
        M: Message,
        F: Fn(&Envelope) -> Option<M> + Send + 'static,
    {
        let mut sub = self.subscribe();
        tokio::spawn(async move {
            while let Some(envelope) = sub.recv().await {
                if let Some(msg) = map(&envelope)
                    && actor.cast(msg).is_err()
                {
                    break;
                }
            }
        })
    }

    /// Events published so far.
    pub fn published(&self) -> u64 {
        self.inner.seq.load(Ordering::Relaxed)
    }

    /// Events lost by all subscribers together (as far as they have noticed by reading).
    pub fn lost(&self) -> u64 {
        self.inner.lost.load(Ordering::Relaxed)
    }

    /// Per-subscriber buffer size.
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// Current subscriber count.
    pub fn subscribers(&self) -> usize {
        self.inner.tx.receiver_count()
    }
}

/// One subscriber's view of the bus.
#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<Envelope>,
    lost: u64,
    bus_lost: Arc<AtomicU64>,
}

impl Subscription {
    /// The next event, or `None` when every publisher is gone. Skips over (and counts) lost events.
    pub async fn recv(&mut self) -> Option<Envelope> {
        loop {
            match self.rx.recv().await {
                Ok(envelope) => return Some(envelope),
                Err(broadcast::error::RecvError::Lagged(n)) => self.count_lost(n),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The next event if one is ready now.
    pub fn try_recv(&mut self) -> Option<Envelope> {
        loop {
            match self.rx.try_recv() {
                Ok(envelope) => return Some(envelope),
                Err(broadcast::error::TryRecvError::Lagged(n)) => self.count_lost(n),
                Err(_) => return None,
            }
        }
    }

    /// Events this subscriber lost because it fell behind.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Turns the subscription into a stream of envelopes.
    pub fn into_stream(self) -> impl Stream<Item = Envelope> + Send + Unpin + 'static {
        Box::pin(futures::stream::unfold(self, |mut sub| async move { sub.recv().await.map(|e| (e, sub)) }))
    }

    fn count_lost(&mut self, n: u64) {
        self.lost += n;
        self.bus_lost.fetch_add(n, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_subscriber_gets_every_event_in_order() {
        let bus = EventBus::new(16);
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        for cycle in 1..=5 {
            bus.publish(HiveEvent::CycleStarted { cycle, asked: 0, kind: crate::CycleKind::Full });
        }
        for sub in [&mut a, &mut b] {
            let seqs: Vec<u64> = (0..5).map(|_| sub.try_recv().expect("event").seq).collect();
            assert_eq!(seqs, [1, 2, 3, 4, 5]);
            assert!(sub.try_recv().is_none());
        }
    }

    #[tokio::test]
    async fn slow_subscriber_loses_oldest_and_counts_it() {
        let bus = EventBus::new(4);
        let mut slow = bus.subscribe();
        for cycle in 1..=10 {
            bus.publish(HiveEvent::CycleStarted { cycle, asked: 0, kind: crate::CycleKind::Full });
        }
        let first = slow.recv().await.expect("event");
        // The six oldest are gone; the newest four remain.
        assert_eq!(first.seq, 7);
        assert_eq!(slow.lost(), 6);
        assert_eq!(bus.lost(), 6);
        let rest: Vec<u64> = std::iter::from_fn(|| slow.try_recv()).map(|e| e.seq).collect();
        assert_eq!(rest, [8, 9, 10]);
    }

    #[tokio::test]
    async fn publishing_without_subscribers_is_fine() {
        let bus = EventBus::new(1);
        bus.publish(HiveEvent::HiveStopped);
        assert_eq!(bus.published(), 1);
        assert_eq!(bus.subscribers(), 0);
    }

    #[tokio::test]
    async fn stream_ends_when_bus_is_dropped() {
        use futures::StreamExt;
        let bus = EventBus::new(8);
        let stream = bus.subscribe().into_stream();
        bus.publish(HiveEvent::HiveStopped);
        drop(bus);
        let events: Vec<Envelope> = stream.collect().await;
        assert_eq!(events.len(), 1);
    }
}
