//! Who should hold which repository, decided without I/O: rendezvous (highest random weight) hashing over the
//! live nodes, and what a node does about it in one round (claim, release), as plain data in, decision out.
//!
//! Rendezvous hashing gives each repository to the live node with the highest `weight(node, repo)`. When a node
//! joins it takes only the repositories it now outweighs everyone on; when one leaves only its own move, each to
//! the runner-up. The weight is SipHash-1-3 with fixed keys, so every node, platform and release computes the
//! same owner (std's `RandomState` is seeded per process).

use std::{collections::BTreeSet, hash::Hasher};

use siphasher::sip::SipHasher13;

use crate::key::NodeName;

/// Fixed SipHash keys: changing them moves every repository, so they never change.
const KEYS: (u64, u64) = (0x6869_7665_2d63_6c75, 0x7374_6572_2d76_3031);

/// The weight of `repo` on `node`. Both are written with their lengths first, so no two pairs hash the same bytes.
pub fn weight(node: &NodeName, repo: &str) -> u64 {
    let mut hasher = SipHasher13::new_with_keys(KEYS.0, KEYS.1);
    for part in [node.as_str(), repo] {
        hasher.write_u64(part.len() as u64);
        hasher.write(part.as_bytes());
    }
    hasher.finish()
}

/// The node `repo` belongs to among `live`: the highest weight, ties (which SipHash makes all but impossible)
/// to the greater name, so every node breaks them alike.
///
/// ```
/// use hive_cluster::{NodeName, rightful_owner};
/// let nodes: Vec<NodeName> = ["a", "b", "c"].into_iter().map(|n| NodeName::new(n).unwrap()).collect();
/// let owner = rightful_owner("hive-rs/hive", &nodes).unwrap().clone();
/// // Another node leaving moves nothing that was not its own.
/// let others: Vec<NodeName> = nodes.iter().filter(|n| **n == owner || n.as_str() != "a").cloned().collect();
/// assert_eq!(rightful_owner("hive-rs/hive", &others), Some(&owner));
/// ```
pub fn rightful_owner<'a>(repo: &str, live: impl IntoIterator<Item = &'a NodeName>) -> Option<&'a NodeName> {
    live.into_iter().max_by_key(|node| (weight(node, repo), *node))
}

/// What a node does in one round, beyond renewing what it holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Repositories it should hold and does not: claim them (the claim fails while another node's lease lasts).
    pub claim: Vec<String>,
    /// Repositories it holds that another live node should hold (or that left the fleet): stop, then release.
    pub release: Vec<String>,
}

/// The plan of node `me` given the live nodes (`me` counts as live whatever the bucket said: a node that plans is
/// alive), the fleet, what it holds and which repositories have a request in flight (left alone this round).
pub fn plan(
    me: &NodeName,
    live: &BTreeSet<NodeName>,
    fleet: &[String],
    held: &BTreeSet<String>,
    busy: &BTreeSet<String>,
) -> Plan {
    let mut nodes = live.clone();
    nodes.insert(me.clone());
    let wanted: BTreeSet<&str> =
        fleet.iter().map(String::as_str).filter(|repo| rightful_owner(repo, &nodes) == Some(me)).collect();
    let idle = |repo: &&str| !busy.contains(*repo);
    Plan {
        claim: wanted.iter().copied().filter(|repo| !held.contains(*repo)).filter(idle).map(str::to_owned).collect(),
        release: held
            .iter()
            .map(String::as_str)
            .filter(|repo| !wanted.contains(repo))
            .filter(idle)
            .map(str::to_owned)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(names: &[&str]) -> BTreeSet<NodeName> {
        names.iter().map(|n| NodeName::new(n).expect("valid")).collect()
    }

    fn fleet(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("org/repo-{i}")).collect()
    }

    fn owners(live: &BTreeSet<NodeName>, fleet: &[String]) -> Vec<NodeName> {
        fleet.iter().map(|repo| rightful_owner(repo, live).expect("a live node").clone()).collect()
    }

    #[test]
    fn the_weight_is_the_same_everywhere() {
        // Pinned: a change to the hash would move every repository of a running cluster mid-upgrade.
        let a = NodeName::new("a").expect("valid");
        assert_eq!(weight(&a, "o/r"), weight(&a, "o/r"));
        assert_ne!(weight(&a, "o/r"), weight(&a, "o/s"));
        // Length prefixes: ("ab", "c") and ("a", "bc") are different pairs.
        assert_ne!(
            weight(&NodeName::new("ab").expect("valid"), "c"),
            weight(&NodeName::new("a").expect("valid"), "bc")
        );
    }

    #[test]
    fn a_join_moves_only_the_newcomers_share_and_a_leave_only_the_leavers() {
        let fleet = fleet(3_000);
        let before = owners(&nodes(&["a", "b", "c"]), &fleet);
        let after = owners(&nodes(&["a", "b", "c", "d"]), &fleet);
        let mut moved = 0;
        for (old, new) in before.iter().zip(&after) {
            if old != new {
                assert_eq!(new.as_str(), "d", "a repository moved between old nodes");
                moved += 1;
            }
        }
        // A fair share is 750 of 3,000; rendezvous hashing is within a few percent of it at this size.
        assert!((600..=900).contains(&moved), "d took {moved} of 3000");
        let left = owners(&nodes(&["a", "c", "d"]), &fleet);
        for ((old, new), repo) in after.iter().zip(&left).zip(&fleet) {
            if old.as_str() != "b" {
                assert_eq!(old, new, "{repo} moved though its node stayed");
            }
        }
    }

    #[test]
    fn plans_claim_what_is_wanted_and_release_what_is_not() {
        let me = NodeName::new("a").expect("valid");
        let fleet = fleet(40);
        let live = nodes(&["a", "b"]);
        let mine: BTreeSet<String> =
            fleet.iter().filter(|repo| rightful_owner(repo, &live) == Some(&me)).cloned().collect();
        let theirs: BTreeSet<String> = fleet.iter().filter(|repo| !mine.contains(*repo)).cloned().collect();
        assert!(!mine.is_empty() && !theirs.is_empty());
        let first_mine = mine.iter().next().expect("one").clone();
        let first_theirs = theirs.iter().next().expect("one").clone();
        let none = BTreeSet::new();

        // Alone (the bucket not even naming itself yet), a node wants everything.
        let alone = plan(&me, &BTreeSet::new(), &fleet, &none, &none);
        assert_eq!(alone.claim.len(), 40);
        assert!(alone.release.is_empty());

        // Holding nothing, it claims its share.
        let start = plan(&me, &live, &fleet, &none, &none);
        assert_eq!(start.claim.iter().cloned().collect::<BTreeSet<_>>(), mine);

        // Holding one of the other node's and one gone from the fleet: releases both; busy ones wait.
        let held: BTreeSet<String> = [first_mine.clone(), first_theirs.clone(), "gone/repo".to_owned()].into();
        let busy: BTreeSet<String> = [mine.iter().nth(1).expect("two").clone()].into();
        let next = plan(&me, &live, &fleet, &held, &busy);
        assert_eq!(next.release, vec!["gone/repo".to_owned(), first_theirs.clone()]);
        assert!(!next.claim.contains(&first_mine), "held already");
        assert_eq!(next.claim.len(), mine.len() - 2, "neither the held one nor the busy one");
        let busy_release = plan(&me, &live, &fleet, &held, &[first_theirs.clone()].into());
        assert_eq!(busy_release.release, vec!["gone/repo".to_owned()]);
    }
}
