//! The leader: one node of the fleet at a time holds a lease on one key of a bucket of its own, with the discipline
//! of the repositories' leases (claim with `create`, renew with `update` pinned to the revision last written,
//! held locally only until the last successful write's send time + ttl - margin). Every node runs an election task
//! that claims the key when it is free and renews it while it holds it; a leader that cannot renew steps down at
//! its local deadline, before the server lets another node claim, so no two nodes are ever leader at once.
//!
//! What the leader does (the fleet's emergency) it confirms right before each write ([`LeaderHandle::confirm`]),
//! as the steward's writes are fenced by the repositories' leases.

use std::{future::Future, pin::Pin};

use tokio::{
    sync::{mpsc, oneshot, watch},
    task::JoinHandle,
    time::{Instant, MissedTickBehavior},
};

use crate::{
    config::ClusterConfig,
    error::ClusterError,
    fence::Fence,
    key::NodeName,
    lease::{Lease, Leases},
};

/// The leader's key, as a lease's name in the leader's bucket.
const LEADER: &str = "leader";

/// A term of leadership as this node holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// The revision of the leader's key this node last wrote.
    pub revision: u64,
    /// The claim this term belongs to, kept by its renewals: what the fence compares.
    pub claim: String,
    /// Until when this node may act as the leader without another successful renewal.
    pub until: Instant,
}

/// A change of one node's leadership, in the order its election decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderChange {
    /// The node.
    pub node: NodeName,
    /// Its term now (gained or renewed), or `None`: it stepped down.
    pub term: Option<Term>,
    /// When the election decided it (for a gain or renewal: when the answer arrived).
    pub at: Instant,
}

/// Starts elections. See the module documentation.
#[derive(Debug)]
pub struct Election;

impl Election {
    /// Opens the leader's bucket and starts this node's election, which reports every change of its leadership
    /// on `changes` when given (for an observer that must see each one; [`LeaderHandle::term`] has the latest).
    pub async fn start(
        client: &async_nats::Client,
        config: &ClusterConfig,
        changes: Option<mpsc::UnboundedSender<LeaderChange>>,
    ) -> Result<LeaderHandle, ClusterError> {
        let description = "hive: which node leads the fleet";
        let leases = Leases::open_in(client, config, &config.leader_bucket(), description).await?;
        let (term_tx, term) = watch::channel(None);
        let (stop, stopped) = oneshot::channel();
        let run = Run { config: config.clone(), leases: leases.clone(), held: None, term: term_tx, changes };
        let task = tokio::spawn(run.run(stopped));
        Ok(LeaderHandle { node: config.node().clone(), fence: Fence::new(leases), term, stop, task })
    }
}

/// A running election. Dropping it stops the task without releasing: the key lapses after the ttl.
#[derive(Debug)]
pub struct LeaderHandle {
    node: NodeName,
    fence: Fence,
    term: watch::Receiver<Option<Term>>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl LeaderHandle {
    /// This node.
    pub fn node(&self) -> &NodeName {
        &self.node
    }

    /// This node's term, if it leads now (its local deadline not passed).
    pub fn term(&self) -> Option<Term> {
        self.term.borrow().clone().filter(|term| term.until > Instant::now())
    }

    /// The term as it changes, for a task that waits for leadership.
    pub fn watch(&self) -> watch::Receiver<Option<Term>> {
        self.term.clone()
    }

    /// The node the bucket names as leader now, if any.
    pub async fn leader(&self) -> Result<Option<NodeName>, ClusterError> {
        Ok(self.fence.leases().read(LEADER).await?.map(|entry| entry.record.node))
    }

    /// Right before a leader's write: `Ok` with the term only if this node leads by its own deadline and the
    /// bucket, read now, still names it at the term's revision. Like the repositories' fence, it makes the window
    /// in which a deposed leader could write as short as a request; the write itself is pinned to a revision too.
    pub async fn confirm(&self) -> Result<Term, ClusterError> {
        self.fence().confirm().await
    }

    /// The same confirmation for another task, such as the fence of the writes only the leader makes; it follows
    /// this election's terms.
    pub fn fence(&self) -> LeaderFence {
        LeaderFence { node: self.node.clone(), fence: self.fence.clone(), term: self.term.clone() }
    }

    /// A leader's write: run only after [`LeaderHandle::confirm`], and only until the confirmed term's deadline.
    /// The fence read may take most of what is left of the term, so the deadline is looked at again after it; a
    /// write not answered by the deadline is abandoned with `TermEnded` (the server may still store it: it should
    /// be pinned to a revision, so that it cannot overwrite a successor's).
    pub async fn write<T>(&self, write: impl Future<Output = Result<T, ClusterError>>) -> Result<T, ClusterError> {
        let term = self.confirm().await?;
        let left = term.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ClusterError::NotLeader { node: self.node.to_string() });
        }
        tokio::time::timeout(left, write).await.map_err(|_| ClusterError::TermEnded { node: self.node.to_string() })?
    }

    /// Steps down and releases the key, so another node leads within a period.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(error) = self.task.await {
            tracing::warn!(node = %self.node, %error, "the election did not stop cleanly");
        }
    }

    /// Ends the task where it is, releasing nothing: what a crash does.
    pub fn abort(self) {
        self.task.abort();
    }
}

/// A leader's fence apart from its election: see [`LeaderHandle::fence`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LeaderFence {
    node: NodeName,
    fence: Fence,
    term: watch::Receiver<Option<Term>>,
}

impl LeaderFence {
    /// See [`LeaderHandle::confirm`].
    pub async fn confirm(&self) -> Result<Term, ClusterError> {
        let term = self
            .term
            .borrow()
            .clone()
            .filter(|term| term.until > Instant::now())
            .ok_or_else(|| ClusterError::NotLeader { node: self.node.to_string() })?;
        let lease = Lease {
            repo: LEADER.to_owned(),
            revision: term.revision,
            claim: term.claim.clone(),
            held_until: term.until,
        };
        self.fence.check(&lease).await?;
        Ok(term)
    }
}

type Request = Pin<Box<dyn Future<Output = Result<Lease, ClusterError>> + Send>>;

struct Run {
    config: ClusterConfig,
    leases: Leases,
    held: Option<Lease>,
    term: watch::Sender<Option<Term>>,
    changes: Option<mpsc::UnboundedSender<LeaderChange>>,
}

impl Run {
    async fn run(mut self, mut stopped: oneshot::Receiver<()>) {
        let mut tick = tokio::time::interval(self.config.period());
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut pending: Option<Request> = None;
        loop {
            let deadline = self.held.as_ref().map(|lease| lease.held_until);
            let expiry = async move {
                match deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            let waiting = pending.is_some();
            tokio::select! {
                biased;
                _ = &mut stopped => break,
                () = expiry => self.step_down("its term lapsed without a renewal"),
                answered = async { pending.as_mut().expect("only polled while a request is under way").await }, if waiting => {
                    pending = None;
                    self.answered(answered);
                }
                _ = tick.tick(), if !waiting => pending = Some(self.request()),
            }
        }
        // A renewal (or claim) already sent lands before the release: pinned to the revision held before it, the
        // release would lose to it and the key would lapse only a ttl later, keeping every other node from leading
        // that long. So its answer is awaited first (bounded by the operation time-out, as every request), and the
        // release pinned to the revision it stored.
        if let Some(request) = pending.take() {
            match request.await {
                Ok(lease) => self.held = Some(lease),
                Err(error) => tracing::debug!(node = %self.config.node(), %error, "the last renewal failed at stop"),
            }
        }
        if let Some(lease) = self.held.take() {
            self.announce(None);
            if let Err(error) = self.leases.release(&lease).await {
                tracing::debug!(node = %self.config.node(), %error, "releasing the leader's key failed; it lapses");
            }
        }
    }

    /// A renewal while this node leads, a claim otherwise.
    fn request(&self) -> Request {
        let leases = self.leases.clone();
        match self.held.clone() {
            Some(lease) => Box::pin(async move { leases.renew(&lease).await }),
            None => Box::pin(async move { leases.claim(LEADER).await }),
        }
    }

    fn answered(&mut self, answer: Result<Lease, ClusterError>) {
        match answer {
            // An answer that arrives after its own deadline leads nowhere: the next claim finds the key is this
            // process's and renews it, if the server still holds it.
            Ok(lease) if lease.held_until <= Instant::now() => self.step_down("its renewal came back too late"),
            Ok(lease) => {
                if self.held.is_none() {
                    tracing::info!(node = %self.config.node(), "this node leads the fleet");
                }
                let term = Term { revision: lease.revision, claim: lease.claim.clone(), until: lease.held_until };
                self.held = Some(lease);
                self.announce(Some(term));
            }
            Err(ClusterError::Taken { .. }) => {}
            Err(error @ ClusterError::Stale { .. }) => self.step_down(&error.to_string()),
            // Kept until its deadline: the next renewal may get through.
            Err(error) => tracing::debug!(node = %self.config.node(), %error, "the leader's key was not written"),
        }
    }

    fn step_down(&mut self, why: &str) {
        if self.held.take().is_some() {
            tracing::warn!(node = %self.config.node(), "this node no longer leads the fleet: {why}");
            self.announce(None);
        }
    }

    fn announce(&self, term: Option<Term>) {
        self.term.send_replace(term.clone());
        if let Some(changes) = &self.changes {
            let _ = changes.send(LeaderChange { node: self.config.node().clone(), term, at: Instant::now() });
        }
    }
}
