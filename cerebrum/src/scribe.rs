//! The scribe: the single writer of the hive database while a hive runs. It owns the [`Memory`] and runs jobs on it
//! one at a time, in the order they arrive, on tokio's blocking pool.
//!
//! One writer means no two parts of hive contend for SQLite's write lock, and the order of audit records is the
//! order of the jobs. Jobs run on the blocking pool because every commit fsyncs (synchronous FULL); an fsync on an
//! actor runtime worker thread would stall every actor scheduled on it.

use std::panic::AssertUnwindSafe;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::oneshot;

use crate::Memory;

/// Why a [`ScribeHandle::call`] returned no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScribeError {
    /// The scribe is stopped (or stopping): the job did not run.
    #[error("the scribe is stopped, so the database job did not run; start the hive again")]
    Stopped,
    /// The job panicked; the scribe keeps serving, the database is as the job's last committed transaction left it.
    #[error("the database job panicked: '{0}'")]
    Panicked(String),
}

/// The scribe actor. Callers hold a [`ScribeHandle`], never this.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scribe;

/// A job on the database, boxed by [`ScribeHandle::call`]; it reports its own result (or panic) to its caller.
pub struct ScribeJob(Box<dyn FnOnce(&mut Memory) + Send + 'static>);

impl std::fmt::Debug for ScribeJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScribeJob")
    }
}

/// What the scribe is asked to do.
#[derive(Debug)]
pub enum ScribeMessage {
    /// Run a job on the database.
    Run(ScribeJob),
    /// Answer once every job queued before this message has run (used by [`ScribeHandle::stop`] to drain).
    Flush(RpcReplyPort<()>),
}

/// The scribe's state: the database, lent to one job at a time.
#[derive(Debug)]
pub struct ScribeState {
    /// `None` only while a job runs on the blocking pool.
    memory: Option<Memory>,
}

impl Actor for Scribe {
    type Msg = ScribeMessage;
    type State = ScribeState;
    type Arguments = Memory;

    async fn pre_start(
        &self,
        _myself: ActorRef<ScribeMessage>,
        memory: Memory,
    ) -> Result<ScribeState, ActorProcessingErr> {
        Ok(ScribeState { memory: Some(memory) })
    }

    async fn handle(
        &self,
        _myself: ActorRef<ScribeMessage>,
        message: ScribeMessage,
        state: &mut ScribeState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ScribeMessage::Run(ScribeJob(job)) => {
                let Some(mut memory) = state.memory.take() else {
                    // Only a lost blocking task leaves no database; the job's caller sees `Stopped` as it is dropped.
                    return Err("the scribe lost its database".into());
                };
                // The job catches its own panics (see `call`), so the database always comes back.
                let back = tokio::task::spawn_blocking(move || {
                    job(&mut memory);
                    memory
                })
                .await;
                match back {
                    Ok(memory) => state.memory = Some(memory),
                    Err(e) => return Err(format!("a database job was lost: {e}").into()),
                }
            }
            ScribeMessage::Flush(reply) => {
                let _ = reply.send(());
            }
        }
        Ok(())
    }
}

/// How callers reach the scribe: cheap to clone, one per part of hive that writes.
#[derive(Debug, Clone)]
pub struct ScribeHandle {
    actor: ActorRef<ScribeMessage>,
}

impl ScribeHandle {
    /// Spawns the scribe, which takes ownership of `memory`.
    pub async fn spawn(memory: Memory) -> Result<ScribeHandle, ScribeError> {
        let (actor, _join) = Actor::spawn(None, Scribe, memory).await.map_err(|e| {
            tracing::error!(error = %e, "the scribe did not start");
            ScribeError::Stopped
        })?;
        Ok(ScribeHandle { actor })
    }

    /// Runs `job` on the database, after every job sent before it, on tokio's blocking pool (SQLite fsyncs must not
    /// stall the actor runtime's worker threads), and returns its result. A panicking job is
    /// [`ScribeError::Panicked`] for its caller only; the scribe keeps serving.
    pub async fn call<R, F>(&self, job: F) -> Result<R, ScribeError>
    where
        F: FnOnce(&mut Memory) -> R + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let wrapped = move |memory: &mut Memory| {
            // AssertUnwindSafe: a panicking job leaves `Memory` usable, since SQLite rolls back any transaction the
            // job left open when its `Transaction` is dropped during the unwind.
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| job(memory))).map_err(panic_message);
            let _ = tx.send(outcome);
        };
        self.actor.cast(ScribeMessage::Run(ScribeJob(Box::new(wrapped)))).map_err(|_| ScribeError::Stopped)?;
        match rx.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(message)) => Err(ScribeError::Panicked(message)),
            // The job was dropped unrun: the scribe stopped before reaching it.
            Err(_) => Err(ScribeError::Stopped),
        }
    }

    /// Waits for every job queued before this call to finish, then stops the scribe (closing the database) and
    /// waits for it to be gone. Jobs sent after this call get [`ScribeError::Stopped`].
    pub async fn stop(self) {
        // Messages are handled in order, so the flush answers after every earlier job has run.
        let _ = self.actor.call(ScribeMessage::Flush, None).await;
        let _ = self.actor.stop_and_wait(None, None).await;
    }
}

/// The text of a panic payload (`panic!` with a literal or with a format string), or a placeholder.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    hive_support::panic_text(payload.as_ref()).unwrap_or("a panic without a message").to_owned()
}
