//! Integration tests of hive-ecosystem: formatter fixes and validation end to end with real git and real tools.

mod fixer;
mod validate;
