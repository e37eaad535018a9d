//! Fault injection: rules matched against each request before it is served, so a test can make GitHub slow,
//! broken, rate limited or unreachable for chosen endpoints and a chosen number of requests.

use std::time::Duration;

use axum::http::Method;

/// A fault to inject.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Delay the answer, then serve normally.
    Latency(Duration),
    /// Answer this status with GitHub's error JSON (e.g. 500, 502, 503).
    Status(u16),
    /// 403 with `x-ratelimit-remaining: 0` and a reset one hour ahead: the primary limit.
    PrimaryRateLimit,
    /// 429 with `Retry-After`: a secondary (abuse) limit.
    SecondaryRateLimit {
        /// Seconds the client must wait.
        retry_after_secs: u64,
    },
    /// 403 with `Retry-After`: the other form GitHub uses for secondary limits.
    SecondaryRateLimitForbidden {
        /// Seconds the client must wait.
        retry_after_secs: u64,
    },
    /// 403 with GitHub's secondary-limit message, the usual `x-ratelimit-*` headers (points left) and no
    /// `Retry-After`: the form only the message tells apart from a permission error.
    SecondaryRateLimitMessageOnly,
    /// 403 without any rate-limit header (a permission problem, not a limit).
    ForbiddenNoHeaders,
    /// 200 with a truncated JSON body.
    MalformedBody,
    /// Close the connection without answering.
    ConnectionReset,
}

/// Which requests a fault applies to, and how often.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// Only this method (`None`: any).
    pub method: Option<Method>,
    /// Only paths starting with this (`None`: any).
    pub path_prefix: Option<String>,
    /// The fault.
    pub fault: Fault,
    /// Apply to this many matching requests, then retire (`None`: forever).
    pub times: Option<u32>,
}

impl FaultRule {
    /// A rule applying `fault` to every request until removed.
    pub fn new(fault: Fault) -> FaultRule {
        FaultRule { method: None, path_prefix: None, fault, times: None }
    }
    /// Restricts the rule to one method.
    pub fn method(mut self, m: Method) -> Self {
        self.method = Some(m);
        self
    }
    /// Restricts the rule to paths with this prefix.
    pub fn path_prefix(mut self, p: &str) -> Self {
        self.path_prefix = Some(p.to_owned());
        self
    }
    /// Applies the rule to `n` matching requests only.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    pub(crate) fn matches(&self, method: &Method, path: &str) -> bool {
        self.method.as_ref().is_none_or(|m| m == method)
            && self.path_prefix.as_deref().is_none_or(|p| path.starts_with(p))
    }
}
