//! Integration tests of hive-cerebrum: the queen driven through its public API over scriptable test members and
//! proposal engines. One test binary for the crate; waits are on bus events or status with deadlines, and timers run
//! on tokio's paused clock where they matter.

mod cycles;
mod emergency;
mod governance;
mod harness;
mod lane;
mod member;
mod memory;
mod orch;
mod quote;
mod redact;
mod scribe;
mod shutdown;
mod supervision;
