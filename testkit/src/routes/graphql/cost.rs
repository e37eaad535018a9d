//! What a query costs, by GitHub's documented formula ("Calculating a rate limit score before running the call"):
//! every connection is one request for each node it may be asked on, that is the product of the `first`/`last`
//! of the connections around it; the requests are summed, divided by 100 and rounded, and a query costs at least 1.
//!
//! A connection is a field whose type is named `...Connection`. One without `first` or `last` (a `totalCount`
//! alone) is still one request. GitHub refuses a `first`/`last` above 100, and so does this.

use apollo_compiler::ast::Value as AstValue;
use apollo_compiler::executable::{Field, Fragment, Selection, SelectionSet};
use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Node};
use serde_json::Value;

/// The most records one connection may ask for.
pub(crate) const MAX_PAGE: u64 = 100;

/// The cost of the selected operation in points, or GitHub's message for a page size out of range.
pub(crate) fn cost(
    doc: &Valid<ExecutableDocument>,
    selection: &SelectionSet,
    variables: &Value,
) -> Result<u32, String> {
    let requests = requests(doc, selection, 1, variables, 0)?;
    // "Divide by 100 and round": 5,101 requests are 51 points, 50 or fewer still 1.
    let points = (requests + 50) / 100;
    Ok(u32::try_from(points.max(1)).unwrap_or(u32::MAX))
}

/// The requests a selection needs when it is asked on `parents` nodes.
fn requests(
    doc: &Valid<ExecutableDocument>,
    selection: &SelectionSet,
    parents: u64,
    variables: &Value,
    depth: usize,
) -> Result<u64, String> {
    // Validation has refused fragment cycles; the bound is for a document that slipped past it.
    if depth > 64 {
        return Err("the query nests too deeply".to_owned());
    }
    let mut total = 0u64;
    for item in &selection.selections {
        total = total.saturating_add(match item {
            Selection::Field(field) => field_requests(doc, field, parents, variables, depth)?,
            Selection::FragmentSpread(spread) => match doc.fragments.get(&spread.fragment_name) {
                Some(fragment) => fragment_requests(doc, fragment, parents, variables, depth)?,
                None => 0,
            },
            Selection::InlineFragment(inline) => requests(doc, &inline.selection_set, parents, variables, depth + 1)?,
        });
    }
    Ok(total)
}

fn fragment_requests(
    doc: &Valid<ExecutableDocument>,
    fragment: &Node<Fragment>,
    parents: u64,
    variables: &Value,
    depth: usize,
) -> Result<u64, String> {
    requests(doc, &fragment.selection_set, parents, variables, depth + 1)
}

fn field_requests(
    doc: &Valid<ExecutableDocument>,
    field: &Node<Field>,
    parents: u64,
    variables: &Value,
    depth: usize,
) -> Result<u64, String> {
    let is_connection = field.definition.ty.inner_named_type().as_str().ends_with("Connection");
    if !is_connection {
        return requests(doc, &field.selection_set, parents, variables, depth + 1);
    }
    let page = ["first", "last"].iter().find_map(|name| int_argument(field, name, variables));
    if let Some(page) = page
        && !(0..=MAX_PAGE as i64).contains(&page)
    {
        return Err(format!(
            "Requesting {page} records on the `{}` connection exceeds the `first` limit of {MAX_PAGE} records.",
            field.name
        ));
    }
    let page = page.map_or(1, |p| p.max(0) as u64);
    let inner = requests(doc, &field.selection_set, parents.saturating_mul(page), variables, depth + 1)?;
    Ok(parents.saturating_add(inner))
}

/// An integer argument given literally or by a variable.
fn int_argument(field: &Field, name: &str, variables: &Value) -> Option<i64> {
    let argument = field.arguments.iter().find(|a| a.name == name)?;
    match argument.value.as_ref() {
        AstValue::Int(value) => value.try_to_i32().ok().map(i64::from),
        AstValue::Variable(var) => variables.get(var.as_str()).and_then(Value::as_i64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::routes::graphql::schema;

    fn points(query: &str, variables: Value) -> Result<u32, String> {
        let schema = schema::github();
        let doc = ExecutableDocument::parse_and_validate(schema, query, "query.graphql").expect("valid query");
        let operation = doc.operations.get(None).expect("one operation");
        cost(&doc, &operation.selection_set, &variables)
    }

    /// GitHub's worked example: 1 request for the repositories, 100 for their issues, 5,000 for the issues' labels;
    /// 5,101 / 100 rounds to 51.
    #[test]
    fn githubs_worked_example_costs_51() {
        let query = "query { viewer { login repositories(first: 100) { edges { node { id issues(first: 50) {
            edges { node { id labels(first: 60) { edges { node { id name } } } } } } } } } } }";
        assert_eq!(points(query, Value::Null), Ok(51));
    }

    /// The same with the page sizes given as variables, as a client usually sends them.
    #[test]
    fn page_sizes_in_variables_count_the_same() {
        let query = "query($r: Int!, $i: Int!) { viewer { repositories(first: $r) { nodes { issues(last: $i) {
            nodes { labels(first: 60) { nodes { name } } } } } } } }";
        assert_eq!(points(query, json!({ "r": 100, "i": 50 })), Ok(51));
        assert_eq!(points(query, json!({ "r": 10, "i": 5 })), Ok(1), "1 + 10 + 50 = 61 requests round to 1");
        assert_eq!(points(query, json!({ "r": 20, "i": 10 })), Ok(2), "1 + 20 + 200 = 221 requests round to 2");
    }

    /// No connection at all is the minimum of one point; `rateLimit` is free like any scalar object.
    #[test]
    fn a_query_without_connections_costs_one() {
        assert_eq!(points("{ viewer { login } rateLimit { cost remaining } }", Value::Null), Ok(1));
    }

    /// Aliased repositories are no connection; their connections count once each, wherever a fragment puts them.
    #[test]
    fn connections_under_aliases_and_fragments_add_up() {
        let mut query = String::from("query {");
        for i in 0..100 {
            query.push_str(&format!(" r{i}: repository(owner: \"a\", name: \"r{i}\") {{ ...F }}"));
        }
        query.push_str(" } fragment F on Repository { issues(first: 10) { totalCount nodes { labels(first: 5) { nodes { name } } } } pullRequests(states: OPEN) { totalCount } }");
        // Per repository: issues 1, labels 10, pull requests 1 = 12; 1,200 requests are 12 points.
        assert_eq!(points(&query, Value::Null), Ok(12));
    }

    #[test]
    fn a_page_over_100_is_refused() {
        let err = points("{ viewer { repositories(first: 101) { totalCount } } }", Value::Null).unwrap_err();
        assert!(err.contains("exceeds the `first` limit of 100"), "{err}");
    }
}
