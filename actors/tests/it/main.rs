//! Integration tests of repository pilots (reading the simulated forge) and service keepers (running real child
//! processes) under a real queen.

mod pilot;
mod service;
