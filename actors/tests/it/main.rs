//! Integration tests of repository pilots (reading the simulated forge) and service keepers (running real child
//! processes) under a real queen, and of the autonomy loop's steward against the GitHub emulator.

mod autonomy;
mod pilot;
mod service;
