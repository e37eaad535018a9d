//! GitHub's GraphQL schema (`graphql/schema.graphql`, from `@octokit/graphql-schema`), parsed once per process.

use std::sync::OnceLock;

use apollo_compiler::Schema;
use apollo_compiler::validation::Valid;

/// The vendored SDL, compiled into the emulator so a test needs no path to it.
pub(crate) const SDL: &str = include_str!("../../../graphql/schema.graphql");

/// The parsed schema.
pub(crate) fn github() -> &'static Valid<Schema> {
    static SCHEMA: OnceLock<Valid<Schema>> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        // GitHub's published SDL repeats a few field definitions (`EnterpriseOwnerInfo.repositoryDeployKeySetting`),
        // which a strict validator rejects; the parsed schema is complete all the same, so it is taken as it is.
        let schema = Schema::parse(SDL, "schema.graphql").unwrap_or_else(|with_errors| with_errors.partial);
        Valid::assume_valid(schema)
    })
}
