//! Outages: members that could not look at their subject because the source they read from (a forge) was
//! unreachable, grouped by source.
//!
//! A forge that cannot be reached says nothing about the repositories behind it. So a member whose read failed for
//! such a reason sends [`Unreachable`] instead of a health report: it is neither failed nor escalated, its last
//! verdict stands (marked stale), and the queen keeps one condition per source ("github unreachable since T")
//! that is shown on the bus and in the status but is never an emergency trigger.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, SystemTime},
};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::MemberId;

/// A member's word that it could not read its subject this time, for a reason outside the subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unreachable {
    /// The member (filled in by the [`Reporter`](crate::Reporter)).
    pub member: MemberId,
    /// The orchestration cycle this answers, if it answers one.
    pub cycle: Option<u64>,
    /// What could not be reached, such as `github`.
    pub source: String,
    /// Why, as text free of secrets.
    pub reason: String,
}

/// One source that some members cannot reach, as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outage {
    /// The source, such as `github`.
    pub source: String,
    /// RFC 3339 UTC time the first member found it unreachable.
    pub since: String,
    /// Members whose last read of it failed.
    pub members: usize,
    /// The latest reason given.
    pub reason: String,
}

impl std::fmt::Display for Outage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} unreachable since {} ({} members): {}", self.source, self.since, self.members, self.reason)
    }
}

/// What changed when a member's reachability changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OutageChange {
    /// The first member found `source` unreachable.
    Started(Outage),
    /// The last member that could not reach `source` reached it again (or left).
    Ended {
        /// The source.
        source: String,
        /// How long the outage lasted.
        after: Duration,
    },
}

#[derive(Debug)]
struct SourceOutage {
    since: SystemTime,
    started: Instant,
    members: BTreeSet<MemberId>,
    reason: String,
}

/// The outages in force: per source, the members that cannot reach it.
#[derive(Debug, Default)]
pub(crate) struct OutageBook {
    sources: BTreeMap<String, SourceOutage>,
    /// Asked after every report, so keyed with the queen's fast hasher.
    by_member: FxHashMap<MemberId, String>,
}

impl OutageBook {
    /// Notes that `report.member` could not reach `report.source`. A member that moved from one source to another
    /// leaves the first.
    pub(crate) fn unreachable(&mut self, report: &Unreachable, now: Instant, wall: SystemTime) -> Vec<OutageChange> {
        let mut changes = Vec::new();
        if self.by_member.get(&report.member).is_some_and(|source| *source != report.source) {
            changes.extend(self.reachable(&report.member, now));
        }
        let entry = self.sources.entry(report.source.clone()).or_insert_with(|| SourceOutage {
            since: wall,
            started: now,
            members: BTreeSet::new(),
            reason: String::new(),
        });
        let started = entry.members.is_empty();
        entry.members.insert(report.member.clone());
        entry.reason.clone_from(&report.reason);
        self.by_member.insert(report.member.clone(), report.source.clone());
        if started {
            changes.push(OutageChange::Started(outage(&report.source, entry)));
        }
        changes
    }

    /// Notes that a member read its subject again, or is gone; ends its source's outage when it was the last.
    pub(crate) fn reachable(&mut self, member: &MemberId, now: Instant) -> Option<OutageChange> {
        let source = self.by_member.remove(member)?;
        let entry = self.sources.get_mut(&source)?;
        entry.members.remove(member);
        if !entry.members.is_empty() {
            return None;
        }
        let entry = self.sources.remove(&source)?;
        Some(OutageChange::Ended { source, after: now.saturating_duration_since(entry.started) })
    }

    /// Whether no member is in an outage: the common case, asked after every report before anything else.
    pub(crate) fn is_empty(&self) -> bool {
        self.by_member.is_empty()
    }

    /// Whether a member's last read failed for want of its source.
    pub(crate) fn is_unreachable(&self, member: &MemberId) -> bool {
        self.by_member.contains_key(member)
    }

    /// The outages in force, by source name.
    pub(crate) fn outages(&self) -> Vec<Outage> {
        self.sources.iter().map(|(source, entry)| outage(source, entry)).collect()
    }
}

fn outage(source: &str, entry: &SourceOutage) -> Outage {
    Outage {
        source: source.to_owned(),
        since: crate::analytics::rfc3339(entry.since),
        members: entry.members.len(),
        reason: entry.reason.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down(member: &str, source: &str) -> Unreachable {
        Unreachable {
            member: MemberId::new(member),
            cycle: None,
            source: source.to_owned(),
            reason: format!("{source} answered 503"),
        }
    }

    #[test]
    fn one_outage_per_source_from_the_first_member_to_the_last() {
        let mut book = OutageBook::default();
        let t0 = Instant::now();
        let wall = SystemTime::UNIX_EPOCH;
        let started = book.unreachable(&down("a", "github"), t0, wall);
        assert!(matches!(&started[..], [OutageChange::Started(o)] if o.source == "github" && o.members == 1));
        assert!(book.unreachable(&down("b", "github"), t0, wall).is_empty(), "the same outage, one more member");
        assert!(book.unreachable(&down("a", "github"), t0, wall).is_empty(), "a repeat changes nothing");
        assert_eq!(book.outages()[0].members, 2);
        assert!(book.is_unreachable(&MemberId::new("a")));

        assert_eq!(book.reachable(&MemberId::new("a"), t0 + Duration::from_secs(5)), None);
        assert!(!book.is_unreachable(&MemberId::new("a")));
        assert_eq!(
            book.reachable(&MemberId::new("b"), t0 + Duration::from_secs(10)),
            Some(OutageChange::Ended { source: "github".to_owned(), after: Duration::from_secs(10) })
        );
        assert!(book.outages().is_empty());
        assert_eq!(book.reachable(&MemberId::new("b"), t0), None, "a member that was never down changes nothing");
    }

    #[test]
    fn a_member_moving_to_another_source_leaves_the_first() {
        let mut book = OutageBook::default();
        let t0 = Instant::now();
        book.unreachable(&down("a", "github"), t0, SystemTime::UNIX_EPOCH);
        let changes = book.unreachable(&down("a", "gitlab"), t0, SystemTime::UNIX_EPOCH);
        assert!(matches!(&changes[0], OutageChange::Ended { source, .. } if source == "github"), "{changes:?}");
        assert!(matches!(&changes[1], OutageChange::Started(o) if o.source == "gitlab"), "{changes:?}");
        assert_eq!(book.outages().len(), 1);
    }
}
