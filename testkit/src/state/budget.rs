//! Who a request comes from and what it may spend: the default token, tokens added for some owners only (as an app
//! installation or a fine-grained token is), anonymous callers, and each one's rate-limit budgets per resource,
//! refilled when their window passes, as GitHub keeps them.

use super::{EmulatorState, World, epoch_secs};

/// Who a request comes from, as GitHub tells budgets and visibility apart.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Caller {
    /// No credentials.
    Anonymous,
    /// The default accepted token, which sees every owner.
    Default,
    /// A token added with [`EmulatorState::add_token`], which sees only its owners (as an app installation or a
    /// fine-grained token does).
    Scoped(String),
}

impl Caller {
    /// Whether the request carried an accepted token.
    pub(crate) fn authorized(&self) -> bool {
        *self != Caller::Anonymous
    }

    /// The token's text, for the request log.
    pub(crate) fn token(&self) -> Option<String> {
        match self {
            Caller::Anonymous => None,
            Caller::Default => Some(crate::TOKEN.to_owned()),
            Caller::Scoped(token) => Some(token.clone()),
        }
    }
}

/// One rate-limit bucket (per identity and resource), as GitHub keeps them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    pub(crate) limit: u32,
    pub(crate) remaining: u32,
    pub(crate) reset: u64,
}

impl World {
    /// Who a request carrying `token` (the `Authorization` header's token, if any) comes from; `None` for a token
    /// the emulator does not accept.
    pub(crate) fn caller(&self, token: Option<&str>) -> Option<Caller> {
        match token {
            None => Some(Caller::Anonymous),
            Some(token) if token == crate::TOKEN => Some(Caller::Default),
            Some(token) => self.tokens.contains_key(token).then(|| Caller::Scoped(token.to_owned())),
        }
    }

    /// Whether `caller` can see `owner`'s repositories: every caller but a scoped token sees every owner (private
    /// repositories are hidden from anonymous callers elsewhere).
    pub(crate) fn sees(&self, caller: &Caller, owner: &str) -> bool {
        match caller {
            Caller::Scoped(token) => {
                self.tokens.get(token).is_some_and(|owners| owners.contains(&owner.to_lowercase()))
            }
            Caller::Anonymous | Caller::Default => true,
        }
    }

    /// The owners a caller is limited to, `None` for every owner.
    pub(crate) fn scope(&self, caller: &Caller) -> Option<&[String]> {
        match caller {
            Caller::Scoped(token) => self.tokens.get(token).map(Vec::as_slice),
            Caller::Anonymous | Caller::Default => None,
        }
    }

    /// The budget of the default token (`authorized`) or of anonymous callers for a resource.
    pub(crate) fn budget(&mut self, authorized: bool, resource: &'static str) -> &mut Budget {
        let caller = if authorized { Caller::Default } else { Caller::Anonymous };
        self.budget_of(caller, resource)
    }

    /// The budget for an identity and resource, refilled when its hour (or minute, for search) has passed. Every
    /// accepted token has budgets of its own.
    pub(crate) fn budget_of(&mut self, caller: Caller, resource: &'static str) -> &mut Budget {
        let authorized = caller.authorized();
        let now = epoch_secs();
        let (limit, window) = match (resource, authorized) {
            ("search", true) => (30, 60),
            ("search", false) => (10, 60),
            (_, true) => (5000, 3600),
            (_, false) => (60, 3600),
        };
        let b =
            self.budgets.entry((caller, resource)).or_insert(Budget { limit, remaining: limit, reset: now + window });
        if now >= b.reset {
            b.remaining = b.limit;
            b.reset = now + window;
        }
        b
    }
}

impl EmulatorState {
    /// Sets the core budget of the accepted token.
    pub fn set_rate_limit(&self, limit: u32, remaining: u32, reset_epoch_secs: u64) {
        self.world().budgets.insert((Caller::Default, "core"), Budget { limit, remaining, reset: reset_epoch_secs });
    }

    /// `(limit, remaining, reset)` of the accepted token's core budget.
    pub fn rate_limit(&self) -> (u32, u32, u64) {
        let mut w = self.world();
        let b = w.budget(true, "core");
        (b.limit, b.remaining, b.reset)
    }

    /// Accepts `token` besides the default one, for `owners`' repositories only: about any other owner's repository
    /// it is answered as GitHub answers a token that cannot see it (a REST 404, GraphQL's `NOT_FOUND`). The token
    /// has rate budgets of its own, and the request log names it
    /// ([`RequestRecord::token`](crate::RequestRecord::token)).
    pub fn add_token(&self, token: &str, owners: &[&str]) {
        let owners = owners.iter().map(|owner| owner.to_lowercase()).collect();
        self.world().tokens.insert(token.to_owned(), owners);
    }

    /// `(limit, remaining, reset)` of an added token's budget for `resource` (`core`, `graphql` or `search`).
    pub fn token_rate_limit(&self, token: &str, resource: &str) -> (u32, u32, u64) {
        let resource = match resource {
            "graphql" => "graphql",
            "search" => "search",
            _ => "core",
        };
        let mut w = self.world();
        let b = w.budget_of(Caller::Scoped(token.to_owned()), resource);
        (b.limit, b.remaining, b.reset)
    }

    /// `(limit, remaining, reset)` of the accepted token's graphql budget.
    pub fn graphql_rate_limit(&self) -> (u32, u32, u64) {
        let mut w = self.world();
        let b = w.budget(true, "graphql");
        (b.limit, b.remaining, b.reset)
    }

    /// Sets the graphql budget of the accepted token.
    pub fn set_graphql_rate_limit(&self, limit: u32, remaining: u32, reset_epoch_secs: u64) {
        self.world().budgets.insert((Caller::Default, "graphql"), Budget { limit, remaining, reset: reset_epoch_secs });
    }
}
