//! Repository pilots: the bridge between forges and the queen.
