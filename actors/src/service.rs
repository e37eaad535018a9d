//! `ServiceKeeper`: one actor per service, a queen member of kind `Service`. It starts the service's process, probes
//! it for readiness, restarts it with backoff when it ends on its own (giving up after too many quick failures),
//! stops it on request, and reports its health to the queen.
//!
//! The keeper restarts its *process* by itself; the queen's policy applies only when the keeper *actor* fails.
//! Handlers never wait on the process: exit, readiness and termination run in tasks and come back as messages
//! tagged with a generation, bumped on every spawn, every backoff and every cancelled backoff, so a late message
//! about an earlier process or timer is ignored. Whatever happens to the keeper, its process does not outlive it: `post_stop` terminates it,
//! and if the keeper fails or is killed instead, dropping its state kills the process group.

mod builder;
mod status;

use std::time::Duration;

use hive_cerebrum::{MemberCommand, Reporter};
use hive_ecosystem::{
    ExitInfo, LogLine, LogStream, ServiceError, ServiceLogs, ServiceProcess, ServiceSpec, wait_ready,
};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use self::{
    builder::Registry,
    status::{AfterEnd, after_end, health_report},
};
pub use self::{
    builder::{KeeperError, ServiceBuilder},
    status::{STATUS_LOG_LINES, ServiceCommand, ServiceState, ServiceStatus},
};

/// A typed reference to a service keeper.
pub type ServiceRef = ActorRef<ServiceMessage>;

/// Messages a service keeper understands.
#[non_exhaustive]
pub enum ServiceMessage {
    /// A command from the queen.
    Command(MemberCommand),
    /// A command from the operator.
    Control(ServiceCommand),
    /// The service's status.
    Status(RpcReplyPort<ServiceStatus>),
    /// Internal: the process of this generation ended.
    #[doc(hidden)]
    Exited {
        /// Which process.
        generation: u64,
        /// How.
        exit: ExitInfo,
    },
    /// Internal: the readiness probe of this generation finished (`Err` says why it gave up).
    #[doc(hidden)]
    Probed {
        /// Which process.
        generation: u64,
        /// The outcome.
        result: Result<(), String>,
    },
    /// Internal: the process of this generation has run for the start grace.
    #[doc(hidden)]
    GraceOver(u64),
    /// Internal: the backoff of this generation is over.
    #[doc(hidden)]
    BackoffOver(u64),
}

/// What a keeper is started with.
pub struct ServiceArgs {
    spec: ServiceSpec,
    logs: ServiceLogs,
    wanted: bool,
    emergency: bool,
    reporter: Reporter,
    registry: Registry,
}

/// The process a keeper is looking after.
struct Child {
    process: ServiceProcess,
    generation: u64,
    grace_over: bool,
    ready: bool,
    /// Set when the start failed (readiness gave up) and the process is being stopped for it.
    failed_start: Option<String>,
}

impl Child {
    /// Started, in supervisord's sense: past the grace period and, with a probe, ready.
    fn started(&self, spec: &ServiceSpec) -> bool {
        self.failed_start.is_none() && self.grace_over && (spec.readiness.is_none() || self.ready)
    }

    /// Ready to serve as far as the keeper can tell: the probe succeeded or, without one, the grace period passed.
    fn is_ready(&self, spec: &ServiceSpec) -> bool {
        let ready = if spec.readiness.is_some() { self.ready } else { self.grace_over };
        ready && self.failed_start.is_none()
    }
}

/// A keeper's state.
pub struct ServiceKeeperState {
    spec: ServiceSpec,
    logs: ServiceLogs,
    reporter: Reporter,
    registry: Registry,
    state: ServiceState,
    child: Option<Child>,
    generation: u64,
    /// Start again once the process being stopped has exited (a restart, or a start during a stop).
    start_after_stop: bool,
    quick_failures: u32,
    restarts: u64,
    last_exit: Option<ExitInfo>,
    last_error: Option<String>,
    backoff: Option<Duration>,
    emergency: bool,
}

/// The service keeper actor.
pub struct ServiceKeeper;

impl Actor for ServiceKeeper {
    type Msg = ServiceMessage;
    type State = ServiceKeeperState;
    type Arguments = ServiceArgs;

    async fn pre_start(
        &self,
        _myself: ServiceRef,
        args: ServiceArgs,
    ) -> Result<ServiceKeeperState, ActorProcessingErr> {
        Ok(ServiceKeeperState {
            spec: args.spec,
            logs: args.logs,
            reporter: args.reporter,
            registry: args.registry,
            state: ServiceState::Stopped,
            child: None,
            generation: 0,
            start_after_stop: args.wanted,
            quick_failures: 0,
            restarts: 0,
            last_exit: None,
            last_error: None,
            backoff: None,
            emergency: args.emergency,
        })
    }

    async fn post_start(&self, myself: ServiceRef, state: &mut ServiceKeeperState) -> Result<(), ActorProcessingErr> {
        // Spawning here rather than in `pre_start` keeps a failing program out of the actor's own start: a spawn
        // error is a quick failure with backoff, not a keeper that cannot start.
        if std::mem::take(&mut state.start_after_stop) {
            state.spawn(&myself);
        }
        Ok(())
    }

    async fn post_stop(&self, _myself: ServiceRef, state: &mut ServiceKeeperState) -> Result<(), ActorProcessingErr> {
        // The queen's shutdown drains the keeper and waits for it, so the process is gone before the hive is.
        if let Some(child) = state.child.take() {
            let exit = child.process.terminate(state.spec.stop_timeout).await;
            tracing::debug!(service = %state.spec.name, %exit, "service stopped with its keeper");
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ServiceRef,
        message: ServiceMessage,
        state: &mut ServiceKeeperState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ServiceMessage::Command(MemberCommand::Observe { cycle }) => {
                state.reporter.report(health_report(&state.spec.name, &state.state).for_cycle(cycle));
            }
            // Emergency mode changes nothing but the status: see "Services" in docs/runtime-semantics.md.
            ServiceMessage::Command(MemberCommand::EnterEmergency) => state.emergency = true,
            ServiceMessage::Command(MemberCommand::LeaveEmergency) => state.emergency = false,
            ServiceMessage::Control(command) => state.control(&myself, command),
            ServiceMessage::Status(reply) => {
                let _ = reply.send(state.status());
            }
            ServiceMessage::Exited { generation, exit } => state.exited(&myself, generation, exit),
            ServiceMessage::Probed { generation, result } => state.probed(generation, result),
            ServiceMessage::GraceOver(generation) => {
                if let Some(child) = state.child.as_mut().filter(|c| c.generation == generation) {
                    child.grace_over = true;
                    state.check_started();
                }
            }
            ServiceMessage::BackoffOver(generation) => {
                if generation == state.generation && state.state == ServiceState::Backoff {
                    state.restarts += 1;
                    state.spawn(&myself);
                }
            }
        }
        Ok(())
    }
}

impl ServiceKeeperState {
    fn control(&mut self, myself: &ServiceRef, command: ServiceCommand) {
        self.registry.set_wanted(&self.spec.name, command != ServiceCommand::Stop);
        match (command, &self.state) {
            (ServiceCommand::Stop, ServiceState::Starting | ServiceState::Running) => self.terminate(false),
            (ServiceCommand::Stop, ServiceState::Stopping) => self.start_after_stop = false,
            (ServiceCommand::Stop, _) => {
                // Cancels a pending backoff (its timer carries the old generation) and clears a final state.
                self.generation += 1;
                self.backoff = None;
                self.state = ServiceState::Stopped;
            }
            (ServiceCommand::Restart, ServiceState::Starting | ServiceState::Running) => self.terminate(true),
            (ServiceCommand::Start | ServiceCommand::Restart, ServiceState::Stopping) => self.start_after_stop = true,
            (ServiceCommand::Start, ServiceState::Starting | ServiceState::Running) => {}
            // Stopped, in backoff, exited or given up: an operator's start is a fresh start.
            (ServiceCommand::Start | ServiceCommand::Restart, _) => {
                self.quick_failures = 0;
                self.spawn(myself);
            }
        }
    }

    /// Spawns a new process (or records the failure to), with its exit watcher, grace timer and readiness probe.
    fn spawn(&mut self, myself: &ServiceRef) {
        self.generation += 1;
        self.backoff = None;
        let generation = self.generation;
        let process = match ServiceProcess::spawn(&self.spec, &self.logs) {
            Ok(process) => process,
            Err(e) => {
                self.note(format!("{e}"));
                self.last_error = Some(e.to_string());
                return self.ended(myself, None, true);
            }
        };
        self.state = ServiceState::Starting;
        let handle = process.handle();
        let watcher = myself.clone();
        let exit_handle = handle.clone();
        tokio::spawn(async move {
            let exit = exit_handle.wait().await;
            // A keeper that is gone no longer needs to know.
            let _ = watcher.cast(ServiceMessage::Exited { generation, exit });
        });
        myself.send_after(self.spec.start_grace, move || ServiceMessage::GraceOver(generation));
        if let Some(readiness) = self.spec.readiness.clone() {
            let (prober, name, timeout) = (myself.clone(), self.spec.name.clone(), self.spec.readiness_timeout);
            tokio::spawn(async move {
                let result = match wait_ready(&name, &readiness, &handle, timeout).await {
                    Ok(()) => Ok(()),
                    // The exit watcher reports that one.
                    Err(ServiceError::ExitedBeforeReady { .. }) => return,
                    Err(e) => Err(e.to_string()),
                };
                let _ = prober.cast(ServiceMessage::Probed { generation, result });
            });
        }
        self.child = Some(Child { process, generation, grace_over: false, ready: false, failed_start: None });
    }

    fn probed(&mut self, generation: u64, result: Result<(), String>) {
        let Some(child) = self.child.as_mut().filter(|c| c.generation == generation) else { return };
        match result {
            Ok(()) => {
                child.ready = true;
                if self.state == ServiceState::Starting {
                    self.state = ServiceState::Running;
                }
                self.check_started();
            }
            Err(why) => {
                // Never ready is a failed start: stop the process, and count its exit as a quick failure.
                child.failed_start = Some(why.clone());
                let handle = child.process.handle();
                let timeout = self.spec.stop_timeout;
                tokio::spawn(async move { handle.terminate(timeout).await });
                self.note(why);
            }
        }
    }

    /// Marks the process as started once it is past its grace and ready; only then the quick-failure count resets.
    fn check_started(&mut self) {
        let Some(child) = &self.child else { return };
        if child.started(&self.spec) {
            self.quick_failures = 0;
            if self.state == ServiceState::Starting {
                self.state = ServiceState::Running;
            }
        }
    }

    /// Sends SIGTERM (SIGKILL after the stop timeout) in a task; the exit comes back as `Exited`.
    fn terminate(&mut self, start_again: bool) {
        self.state = ServiceState::Stopping;
        self.start_after_stop = start_again;
        if let Some(child) = &self.child {
            let handle = child.process.handle();
            let timeout = self.spec.stop_timeout;
            tokio::spawn(async move { handle.terminate(timeout).await });
        }
    }

    fn exited(&mut self, myself: &ServiceRef, generation: u64, exit: ExitInfo) {
        if self.child.as_ref().is_none_or(|c| c.generation != generation) {
            return;
        }
        let Some(child) = self.child.take() else { return };
        self.last_exit = Some(exit);
        if self.state == ServiceState::Stopping {
            if std::mem::take(&mut self.start_after_stop) {
                self.quick_failures = 0;
                self.spawn(myself);
            } else {
                self.state = ServiceState::Stopped;
            }
            return;
        }
        let quick = !child.started(&self.spec);
        self.last_error = Some(match child.failed_start {
            Some(why) => why,
            None => format!("{exit} after {:?}", child.process.handle().uptime()),
        });
        self.ended(myself, Some(exit), quick);
    }

    /// The process ended without being asked to, or could not be spawned (`exit` is `None`).
    fn ended(&mut self, myself: &ServiceRef, exit: Option<ExitInfo>, quick: bool) {
        match after_end(&self.spec, &mut self.quick_failures, exit, quick) {
            AfterEnd::Restart { delay } => {
                self.generation += 1;
                let generation = self.generation;
                self.state = ServiceState::Backoff;
                self.backoff = Some(delay);
                myself.send_after(delay, move || ServiceMessage::BackoffOver(generation));
            }
            AfterEnd::GiveUp => {
                let last = self.last_error.clone().unwrap_or_default();
                let message = format!("gave up after {} quick failures in a row; last: {last}", self.quick_failures);
                tracing::warn!(service = %self.spec.name, %message, "service given up");
                self.state = ServiceState::Error(message);
            }
            AfterEnd::Leave => {
                self.state = match exit {
                    Some(exit) => ServiceState::Exited(exit),
                    None => ServiceState::Error(self.last_error.clone().unwrap_or_default()),
                };
            }
        }
    }

    /// Puts the keeper's own finding into the service's log, next to the output it explains.
    fn note(&self, text: String) {
        self.logs.push(LogLine { stream: LogStream::Stderr, text: format!("hive: {text}") });
    }

    fn status(&self) -> ServiceStatus {
        ServiceStatus {
            name: self.spec.name.clone(),
            state: self.state.clone(),
            pid: self.child.as_ref().map(|c| c.process.pid()),
            ready: self.child.as_ref().is_some_and(|c| c.is_ready(&self.spec)),
            restarts: self.restarts,
            quick_failures: self.quick_failures,
            last_exit: self.last_exit,
            last_error: self.last_error.clone(),
            backoff: self.backoff,
            emergency: self.emergency,
            logs: self.logs.tail(STATUS_LOG_LINES),
            dropped_lines: self.logs.dropped(),
        }
    }
}
