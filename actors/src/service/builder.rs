//! `ServiceBuilder`: the `MemberBuilder` for service keepers, and the registry behind it.
//!
//! Services are registered at runtime (a spec per member id) before the queen is asked to add the member; the
//! queen then starts and restarts keepers through this builder. The registry also remembers, per service, what
//! outlives one keeper incarnation: the ring buffer of output, whether the operator wants the service running, and
//! the current keeper's reference, so callers reach a keeper by name whatever incarnation it is.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex, MutexGuard},
};

use hive_cerebrum::{
    MemberBuilder, MemberCommand, MemberContext, MemberHandle, MemberKind, MemberSpec, RestartPolicy, StartError,
    StartFailure,
};
use hive_ecosystem::{ServiceError, ServiceLogs, ServiceSpec};
use ractor::{Actor, ActorCell, rpc::CallResult};

use super::{ServiceArgs, ServiceCommand, ServiceKeeper, ServiceMessage, ServiceRef, ServiceStatus};

/// Why a service could not be registered, commanded or asked for its status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeeperError {
    /// The spec is not valid.
    #[error(transparent)]
    Invalid(#[from] ServiceError),
    /// A service with this name is already registered.
    #[error("a service named '{0}' is already registered; remove it first or pick another name")]
    Duplicate(String),
    /// No service has this name.
    #[error("no service named '{0}'; add it first")]
    Unknown(String),
    /// The service is registered but its keeper is not running (restarting, escalated or being removed).
    #[error("the keeper of service '{0}' is not running right now; `hive status` shows why")]
    NotRunning(String),
}

struct Entry {
    spec: ServiceSpec,
    logs: ServiceLogs,
    wanted: bool,
    keeper: Option<ServiceRef>,
}

/// The shared table of services, by name.
#[derive(Clone, Default)]
pub(crate) struct Registry(Arc<Mutex<HashMap<String, Entry>>>);

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // Every update is a single insert or field write, so a panic elsewhere cannot leave it half-done.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records whether the operator wants the service running, for the next keeper incarnation.
    pub(crate) fn set_wanted(&self, name: &str, wanted: bool) {
        if let Some(entry) = self.lock().get_mut(name) {
            entry.wanted = wanted;
        }
    }
}

/// Starts service keepers for the queen, and reaches them by name. Cheap to clone; clones share the registry.
#[derive(Clone, Default)]
pub struct ServiceBuilder {
    registry: Registry,
}

impl fmt::Debug for ServiceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceBuilder").field("services", &self.names()).finish()
    }
}

impl ServiceBuilder {
    /// A builder with no services.
    pub fn new() -> ServiceBuilder {
        ServiceBuilder::default()
    }

    /// Validates and registers a service, and returns the member spec to hand to the queen (kind
    /// [`MemberKind::Service`], id = the service's name, the given policy for the keeper actor).
    pub fn register(&self, spec: ServiceSpec, policy: RestartPolicy) -> Result<MemberSpec, KeeperError> {
        spec.validate()?;
        let mut entries = self.registry.lock();
        if entries.contains_key(&spec.name) {
            return Err(KeeperError::Duplicate(spec.name));
        }
        let member = MemberSpec::new(&spec.name, MemberKind::Service).with_policy(policy);
        let entry = Entry { wanted: spec.autostart, logs: ServiceLogs::default(), keeper: None, spec };
        entries.insert(entry.spec.name.clone(), entry);
        Ok(member)
    }

    /// Forgets a service; returns its spec. Its keeper is not stopped here (remove the member from the queen).
    pub fn unregister(&self, name: &str) -> Option<ServiceSpec> {
        self.registry.lock().remove(name).map(|entry| entry.spec)
    }

    /// The names of the registered services, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.registry.lock().keys().cloned().collect();
        names.sort();
        names
    }

    /// A registered service's spec.
    pub fn spec(&self, name: &str) -> Option<ServiceSpec> {
        self.registry.lock().get(name).map(|entry| entry.spec.clone())
    }

    /// The current keeper of a service, if one has been started.
    pub fn keeper(&self, name: &str) -> Option<ServiceRef> {
        self.registry.lock().get(name).and_then(|entry| entry.keeper.clone())
    }

    /// Sends an operator command to a service's keeper.
    pub fn command(&self, name: &str, command: ServiceCommand) -> Result<(), KeeperError> {
        let keeper = self.live_keeper(name)?;
        keeper.cast(ServiceMessage::Control(command)).map_err(|_| KeeperError::NotRunning(name.to_owned()))
    }

    /// Asks a service's keeper for its status.
    pub async fn status(&self, name: &str) -> Result<ServiceStatus, KeeperError> {
        let keeper = self.live_keeper(name)?;
        match keeper.call(ServiceMessage::Status, None).await {
            Ok(CallResult::Success(status)) => Ok(status),
            _ => Err(KeeperError::NotRunning(name.to_owned())),
        }
    }

    fn live_keeper(&self, name: &str) -> Result<ServiceRef, KeeperError> {
        let entries = self.registry.lock();
        let entry = entries.get(name).ok_or_else(|| KeeperError::Unknown(name.to_owned()))?;
        entry.keeper.clone().ok_or_else(|| KeeperError::NotRunning(name.to_owned()))
    }
}

#[async_trait::async_trait]
impl MemberBuilder for ServiceBuilder {
    async fn start(&self, ctx: MemberContext) -> Result<Box<dyn MemberHandle>, StartError> {
        let fail = |cause: StartFailure| StartError::new(ctx.id.clone(), cause);
        if ctx.kind != MemberKind::Service {
            return Err(fail(StartFailure::WrongKind { builder: MemberKind::Service, kind: ctx.kind.clone() }));
        }
        let name = ctx.id.as_str();
        let args = {
            let entries = self.registry.lock();
            let entry = entries
                .get(name)
                .ok_or_else(|| fail(StartFailure::NotRegistered { kind: MemberKind::Service, id: ctx.id.clone() }))?;
            ServiceArgs {
                spec: entry.spec.clone(),
                logs: entry.logs.clone(),
                wanted: entry.wanted,
                emergency: ctx.emergency,
                reporter: ctx.reporter.clone(),
                registry: self.registry.clone(),
            }
        };
        let (actor, _join) = Actor::spawn_linked(None, ServiceKeeper, args, ctx.supervisor.clone())
            .await
            .map_err(|e| fail(StartFailure::spawn(e)))?;
        if let Some(entry) = self.registry.lock().get_mut(name) {
            entry.keeper = Some(actor.clone());
        }
        Ok(Box::new(KeeperHandle { cell: actor.get_cell(), actor }))
    }
}

/// The queen's handle on a keeper.
struct KeeperHandle {
    actor: ServiceRef,
    cell: ActorCell,
}

impl MemberHandle for KeeperHandle {
    fn cell(&self) -> &ActorCell {
        &self.cell
    }

    fn command(&self, command: MemberCommand) {
        let _ = self.actor.cast(ServiceMessage::Command(command));
    }
}
