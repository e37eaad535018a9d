//! `Members`: one `MemberBuilder` for the queen that hands each member to the builder of its kind (pilots to the
//! `PilotBuilder`, services to the `ServiceBuilder`, custom kinds to whatever was registered for them).
//!
//! The queen takes a single builder; a hive that runs pilots and services at once needs this dispatcher.

use std::{collections::HashMap, fmt, sync::Arc};

use hive_cerebrum::{MemberBuilder, MemberContext, MemberHandle, MemberKind, StartError, StartFailure};

use crate::ServiceBuilder;

/// Dispatches member starts by [`MemberKind`].
///
/// ```
/// use std::sync::Arc;
/// use hive_actors::{Members, PilotBuilder, PilotConfig, ServiceBuilder};
/// use hive_forge::SimForge;
///
/// let services = ServiceBuilder::new();
/// let members = Members::new()
///     .with_pilots(PilotBuilder::new(Arc::new(SimForge::fleet(3, 0, 1)), PilotConfig::default()))
///     .with_services(services.clone());
/// // `members` goes to `QueenArgs::with_builder(Arc::new(members))`; `services` registers services later.
/// # let _ = members;
/// ```
#[derive(Default)]
pub struct Members {
    pilots: Option<Arc<dyn MemberBuilder>>,
    services: Option<ServiceBuilder>,
    custom: HashMap<String, Arc<dyn MemberBuilder>>,
}

impl fmt::Debug for Members {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut custom: Vec<&String> = self.custom.keys().collect();
        custom.sort();
        f.debug_struct("Members")
            .field("pilots", &self.pilots.is_some())
            .field("services", &self.services)
            .field("custom", &custom)
            .finish()
    }
}

impl Members {
    /// A dispatcher that knows no kinds yet.
    pub fn new() -> Members {
        Members::default()
    }

    /// Builds [`MemberKind::Pilot`] members with this builder (normally a [`PilotBuilder`](crate::PilotBuilder)).
    pub fn with_pilots(mut self, builder: impl MemberBuilder) -> Members {
        self.pilots = Some(Arc::new(builder));
        self
    }

    /// Builds [`MemberKind::Service`] members with this builder; keep a clone to register services.
    pub fn with_services(mut self, services: ServiceBuilder) -> Members {
        self.services = Some(services);
        self
    }

    /// Builds [`MemberKind::Custom`] members of this kind with this builder.
    pub fn with_custom(mut self, kind: impl Into<String>, builder: Arc<dyn MemberBuilder>) -> Members {
        self.custom.insert(kind.into(), builder);
        self
    }
}

#[async_trait::async_trait]
impl MemberBuilder for Members {
    async fn start(&self, ctx: MemberContext) -> Result<Box<dyn MemberHandle>, StartError> {
        let builder: Option<&dyn MemberBuilder> = match &ctx.kind {
            MemberKind::Pilot => self.pilots.as_deref(),
            MemberKind::Service => self.services.as_ref().map(|s| s as &dyn MemberBuilder),
            MemberKind::Custom(kind) => self.custom.get(kind).map(|b| &**b),
        };
        match builder {
            Some(builder) => builder.start(ctx).await,
            None => Err(StartError::new(ctx.id, StartFailure::NoBuilder { kind: ctx.kind })),
        }
    }
}
