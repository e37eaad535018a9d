//! `POST /graphql`: GitHub's GraphQL API over the emulator's world, done as GitHub does it. Each query is parsed and
//! validated against GitHub's published schema (`graphql/schema.graphql`); an invalid one is answered `200` with
//! GraphQL `errors`, as GitHub answers. A valid one is costed by GitHub's formula ([`cost`]), charged to the graphql
//! budget (refused with `RATE_LIMITED` when it does not fit), and executed by apollo-compiler's executor over the
//! objects in [`objects`], so aliases, fragments and variables work and only what was selected is answered.
//!
//! Errors carry GitHub's `type`: `NOT_FOUND` for a repository that does not exist or that the token cannot see (a
//! token limited to some owners, [`crate::EmulatorState::add_token`]; its alias `null`), `FORBIDDEN`
//! for a field the token may not read (the field `null`, and what holds it when it may not be null). A test can switch
//! GraphQL off entirely ([`crate::EmulatorState::serve_graphql`]: a 404, as from a server with REST only) and forbid
//! one field of one repository ([`crate::EmulatorState::forbid_graphql_field`]).

use apollo_compiler::ExecutableDocument;
use apollo_compiler::resolvers::Execution;
use apollo_compiler::response::JsonMap;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{DOCS, Reply};
use crate::render;
use crate::state::{Caller, World};

mod cost;
mod objects;
mod schema;

use objects::{Obj, RateInfo};

/// Answers one GraphQL request; `reply.cost` says what it is charged.
pub(super) fn answer(w: &mut World, body: &[u8], caller: &Caller) -> Reply {
    if w.graphql_off {
        return Reply::not_found();
    }
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return Reply::error(StatusCode::BAD_REQUEST, render::error("Problems parsing JSON", DOCS, 400));
    };
    let Some(query) = request.get("query").and_then(Value::as_str) else {
        return errors(vec![json!({ "message": "A query attribute must be specified and must be a string." })]);
    };
    let variables = request.get("variables").cloned().filter(|v| !v.is_null()).unwrap_or_else(|| json!({}));
    let operation_name = request.get("operationName").and_then(Value::as_str);
    let schema = schema::github();
    let doc = match ExecutableDocument::parse_and_validate(schema, query, "query.graphql") {
        Ok(doc) => doc,
        Err(invalid) => {
            let list = invalid.errors.iter().map(|d| diagnostic(serde_json::to_value(d.to_json()))).collect();
            return errors(list);
        }
    };
    let operation = match doc.operations.get(operation_name) {
        Ok(operation) => operation,
        Err(err) => return errors(vec![json!({ "message": err.message().to_string() })]),
    };
    let cost = match cost::cost(&doc, &operation.selection_set, &variables) {
        Ok(cost) => cost,
        Err(message) => return errors(vec![json!({ "type": "EXCESSIVE_PAGINATION", "message": message })]),
    };
    let mut budget = *w.budget_of(caller.clone(), "graphql");
    if budget.remaining < cost {
        let mut reply = errors(vec![json!({
            "type": "RATE_LIMITED",
            "message": "API rate limit exceeded for user ID 1.",
        })]);
        reply.exhausted = true;
        return reply;
    }
    budget.remaining -= cost;
    let Ok(variables) = serde_json::from_value::<JsonMap>(variables) else {
        return errors(vec![json!({ "message": "Variables are invalid JSON." })]);
    };
    // Branches pushed to a repository's git data exist for GraphQL as they do for REST.
    let git_backed: Vec<(String, String)> =
        w.repos.iter().filter(|(_, r)| r.spec.git_dir.is_some()).map(|(key, _)| key.clone()).collect();
    for (owner, name) in git_backed {
        w.sync_git(&owner, &name);
    }
    let world: &World = w;
    let root = Obj::Query { w: world, rate: RateInfo { cost, budget }, scope: world.scope(caller) };
    let executed =
        Execution::new(schema, &doc).operation(operation).raw_variable_values(&variables).execute_sync(&root);
    let mut reply = match executed {
        Ok(response) => Reply::json(StatusCode::OK, shape(serde_json::to_value(response).unwrap_or_default())),
        Err(err) => errors(vec![json!({ "message": err.message().to_string() })]),
    };
    reply.cost = Some(cost);
    reply.operation = operation.name.as_ref().map(|name| name.to_string());
    reply
}

/// A request answered with errors only (GitHub's 200 with `errors` and no `data`), costing nothing.
fn errors(errors: Vec<Value>) -> Reply {
    let mut reply = Reply::json(StatusCode::OK, json!({ "errors": errors }));
    reply.cost = Some(0);
    reply
}

/// A validation diagnostic as GitHub words its errors: `message` and `locations`.
fn diagnostic(error: Result<Value, serde_json::Error>) -> Value {
    let error = error.unwrap_or_else(|_| json!({ "message": "invalid query" }));
    json!({ "message": error.get("message").cloned().unwrap_or(Value::Null), "locations": error.get("locations").cloned().unwrap_or(json!([])) })
}

/// The executor's response with GitHub's error `type`s, and `data` always present.
fn shape(mut response: Value) -> Value {
    if let Some(errors) = response.get_mut("errors").and_then(Value::as_array_mut) {
        for error in errors.iter_mut() {
            // apollo-compiler words a resolver's error "resolver error: ..."; GitHub gives the message alone.
            let message = error.get("message").and_then(Value::as_str).unwrap_or_default();
            let message = message.strip_prefix("resolver error: ").unwrap_or(message).to_owned();
            let kind = if message.starts_with(objects::NOT_FOUND) || message.starts_with(objects::NO_NODE) {
                Some("NOT_FOUND")
            } else if message == objects::FORBIDDEN {
                Some("FORBIDDEN")
            } else {
                None
            };
            if let Some(map) = error.as_object_mut() {
                if let Some(kind) = kind {
                    map.insert("type".to_owned(), json!(kind));
                }
                map.insert("message".to_owned(), json!(message));
                map.remove("extensions");
            }
        }
    }
    if response.get("data").is_none()
        && let Some(map) = response.as_object_mut()
    {
        map.insert("data".to_owned(), Value::Null);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::EmulatorState;

    fn ask(state: &EmulatorState, query: &str) -> Value {
        let body = json!({ "query": query }).to_string();
        let reply = answer(&mut state.world(), body.as_bytes(), &Caller::Default);
        reply.body.expect("a json answer")
    }

    #[test]
    fn answers_only_what_was_selected_with_aliases_fragments_and_variables() {
        let state = EmulatorState::new("http://127.0.0.1:1".into());
        state.add_repo(crate::RepoSpec::new("acme", "api").stars(7).license("MIT"));
        state.add_issue("acme", "api", crate::IssueSpec::new("Crash").label("bug"));
        let body = json!({
            "query": "query($n: String!) { a: repository(owner: \"acme\", name: $n) { ...F } gone: repository(owner: \"acme\", name: \"nope\") { id } }
                      fragment F on Repository { stargazerCount licenseInfo { spdxId } issues(first: 5, states: [OPEN]) { totalCount nodes { title labels(first: 5) { nodes { name } } } } }",
            "variables": { "n": "api" },
        })
        .to_string();
        let reply = answer(&mut state.world(), body.as_bytes(), &Caller::Default);
        assert_eq!(reply.cost, Some(1));
        let body = reply.body.unwrap();
        assert_eq!(
            body["data"]["a"],
            json!({ "stargazerCount": 7, "licenseInfo": { "spdxId": "MIT" }, "issues": { "totalCount": 1,
                "nodes": [{ "title": "Crash", "labels": { "nodes": [{ "name": "bug" }] } }] } })
        );
        assert_eq!(body["data"]["gone"], Value::Null);
        assert_eq!(body["errors"][0]["type"], "NOT_FOUND");
        assert_eq!(body["errors"][0]["path"], json!(["gone"]));
    }

    #[test]
    fn an_invalid_query_is_an_error_naming_the_field() {
        let state = EmulatorState::new("http://127.0.0.1:1".into());
        let body = ask(&state, "{ repository(owner: \"a\", name: \"b\") { stars } }");
        assert!(body.get("data").is_none(), "{body}");
        let messages: Vec<&str> =
            body["errors"].as_array().unwrap().iter().filter_map(|e| e["message"].as_str()).collect();
        assert!(messages.iter().any(|m| m.contains("stars")), "{messages:?}");
    }

    #[test]
    fn a_forbidden_field_is_null_with_githubs_error() {
        let state = EmulatorState::new("http://127.0.0.1:1".into());
        state.add_repo(crate::RepoSpec::new("acme", "api"));
        state.forbid_graphql_field("acme", "api", "nameWithOwner");
        let body = ask(&state, "{ r0: repository(owner: \"acme\", name: \"api\") { isArchived nameWithOwner } }");
        // `nameWithOwner` may not be null, so the repository holding it is.
        assert_eq!(body["data"]["r0"], Value::Null, "{body}");
        assert_eq!(body["errors"][0]["type"], "FORBIDDEN", "{body}");
        assert_eq!(body["errors"][0]["path"], json!(["r0", "nameWithOwner"]));
    }

    #[test]
    fn graphql_switched_off_is_a_404() {
        let state = EmulatorState::new("http://127.0.0.1:1".into());
        state.serve_graphql(false);
        let reply = answer(&mut state.world(), b"{\"query\":\"{ rateLimit { cost } }\"}", &Caller::Default);
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
    }
}
