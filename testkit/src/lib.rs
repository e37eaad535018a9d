//! Test support for hive: a stateful GitHub REST API emulator on loopback, speaking GitHub's documented JSON
//! (built from the examples in GitHub's OpenAPI description), with ETags and free 304s, a per-token rate-limit
//! budget, fault injection and a request log.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use hive_testkit::{Emulator, RepoSpec};
//!
//! let emu = Emulator::start().await;
//! emu.state().add_org("acme");
//! emu.state().add_repo(RepoSpec::new("acme", "widgets").stars(3).license("MIT"));
//! // Point a client at `emu.url()` with `emu.token()`; inspect `emu.state().requests()` afterwards.
//! assert!(emu.url().starts_with("http://127.0.0.1:"));
//! # }
//! ```
//!
//! The emulator stops when the [`Emulator`] is dropped. It only ever binds 127.0.0.1.

mod bare;
mod fault;
pub mod git;
pub mod llm;
mod nats;
pub mod projects;
mod random;
mod render;
mod routes;
mod server;
mod spec;
mod state;

pub use axum::http::Method;
pub use fault::{Fault, FaultRule};
pub use nats::NatsServer;
pub use random::Xorshift;
pub use server::{Emulator, TOKEN};
pub use spec::{
    AnnotationSpec, DependabotSpec, IssueRecord, IssueSpec, JobSpec, PullRecord, PullSpec, RepoSpec, RequestRecord,
    RunSpec, StepSpec,
};
pub use state::EmulatorState;

/// GitHub's OpenAPI description of the endpoints the emulator serves (`openapi/subset.json`), for validating tests.
pub const OPENAPI_SUBSET: &str = render::SUBSET;
