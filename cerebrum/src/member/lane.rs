//! How a member's reports reach the queen: numbered within its incarnation, and those that change its verdict by a
//! lane of their own, which the queen empties before it takes the next message from its mailbox.
//!
//! A cycle's reports arrive in a burst, nearly all of them repeats. The one report that takes the fleet across an
//! emergency threshold is a change, and through the mailbox it would wait behind every repeat posted before it.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;

use crate::{HealthReport, Signal};

/// A report as a [`Reporter`](crate::Reporter) posted it, numbered within its member's incarnation. A repeat posted
/// before a change can reach the queen after it (the change took the lane); its number says it is older, and the
/// queen does not fold it over the newer verdict.
#[derive(Debug)]
pub struct Posted<T> {
    pub(crate) generation: u64,
    pub(crate) number: u64,
    pub(crate) report: T,
}

/// The queen's end of the lane for changes.
pub(crate) type Changes = mpsc::UnboundedReceiver<Posted<HealthReport>>;

/// The sending end, one for the whole queen; each incarnation's reporter numbers its reports on its own.
pub(crate) type ChangeSender = mpsc::UnboundedSender<Posted<HealthReport>>;

/// One incarnation's numbering and the verdict it last posted, shared by the clones of its reporter.
#[derive(Debug, Clone)]
pub(crate) struct Lane {
    changes: ChangeSender,
    generation: u64,
    posted: Arc<Mutex<Last>>,
}

#[derive(Debug, Default)]
struct Last {
    number: u64,
    /// What the queen compares to tell a repeat from a change (`FleetBook::fold`); `None` before the first report.
    verdict: Option<(u8, bool, Vec<Signal>)>,
}

impl Lane {
    pub(crate) fn new(changes: ChangeSender, generation: u64) -> Lane {
        Lane { changes, generation, posted: Arc::default() }
    }

    /// Numbers a health report; `true` when its verdict differs from the last one posted (or it is the first).
    pub(crate) fn number_report(&self, report: HealthReport) -> (Posted<HealthReport>, bool) {
        let mut last = self.posted.lock().unwrap_or_else(PoisonError::into_inner);
        last.number += 1;
        let changed = last.verdict.as_ref().is_none_or(|(score, healthy, signals)| {
            (*score, *healthy) != (report.score, report.healthy) || *signals != report.signals
        });
        if changed {
            last.verdict = Some((report.score, report.healthy, report.signals.clone()));
        }
        (Posted { generation: self.generation, number: last.number, report }, changed)
    }

    /// Numbers anything else a member posts, in the same sequence as its health reports.
    pub(crate) fn number<T>(&self, report: T) -> Posted<T> {
        let mut last = self.posted.lock().unwrap_or_else(PoisonError::into_inner);
        last.number += 1;
        Posted { generation: self.generation, number: last.number, report }
    }

    /// Puts a change on the lane; `false` when the queen is gone.
    pub(crate) fn send_change(&self, posted: Posted<HealthReport>) -> bool {
        self.changes.send(posted).is_ok()
    }
}
