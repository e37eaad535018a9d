//! Integration tests of repository pilots under a real queen, reading the simulated forge.

mod pilot;
