//! Integration tests of hive-ecosystem: formatter fixes end to end with real git and real formatters.

mod fixer;
