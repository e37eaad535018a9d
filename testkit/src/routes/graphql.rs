//! `POST /graphql`: the batched repository read (`alias: repository(owner: .., name: ..) { .. }`, up to 100 per
//! query) that a frugal client sends instead of one REST call per repository. There is no GraphQL parser here:
//! each `repository(...)` field is found by its arguments and answered with every repository field a health check
//! reads, whatever the selection (GraphQL clients ignore fields they did not ask for only if they tolerate extras,
//! which serde does by default). Anything else gets GraphQL's error shape.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::Reply;
use crate::state::World;

/// One `repository(...)` field of the query: the key it answers under and its arguments.
struct RepoField {
    key: String,
    owner: Option<String>,
    name: Option<String>,
}

/// The value of argument `arg` in `args`: a string literal, or a `$variable` looked up in `variables`.
fn argument(args: &str, arg: &str, variables: &Value) -> Option<String> {
    let at = args.find(&format!("{arg}:"))? + arg.len() + 1;
    let rest = args[at..].trim_start();
    if let Some(lit) = rest.strip_prefix('"') {
        return lit.find('"').map(|end| lit[..end].to_owned());
    }
    let var = rest.strip_prefix('$')?;
    let end = var.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(var.len());
    variables.get(&var[..end]).and_then(Value::as_str).map(str::to_owned)
}

fn fields(query: &str, variables: &Value) -> Vec<RepoField> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = query[from..].find("repository(").map(|p| p + from) {
        let args_end = query[pos..].find(')').map_or(query.len(), |e| pos + e);
        let args = &query[pos + "repository(".len()..args_end];
        // An alias is the identifier before a `:` right in front of the field name.
        let before = query[..pos].trim_end();
        let key = before
            .strip_suffix(':')
            .map(|b| b.trim_end().rsplit(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or("").to_owned())
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| "repository".to_owned());
        out.push(RepoField { key, owner: argument(args, "owner", variables), name: argument(args, "name", variables) });
        from = args_end;
    }
    out
}

pub(super) fn answer(w: &mut World, body: &[u8]) -> Reply {
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let query = request.get("query").and_then(Value::as_str).unwrap_or("");
    let variables = request.get("variables").cloned().unwrap_or(Value::Null);
    let wanted = fields(query, &variables);
    if wanted.is_empty() {
        return Reply::json(
            StatusCode::OK,
            json!({ "errors": [{ "message": "the hive emulator answers only repository(owner:, name:) queries", "locations": [] }] }),
        );
    }
    let mut data = Map::new();
    let mut errors = Vec::new();
    for f in wanted {
        let (owner, name) = (f.owner.unwrap_or_default(), f.name.unwrap_or_default());
        match w.repo(&owner, &name) {
            Some(r) => {
                let s = &r.spec;
                let open_issues = r.issues.iter().filter(|i| i.state == "open" && i.pull.is_none()).count();
                let open_pulls = r.issues.iter().filter(|i| i.state == "open" && i.pull.is_some()).count();
                let head = r.branches.get(&s.default_branch).cloned().unwrap_or_default();
                data.insert(
                    f.key,
                    json!({
                        "id": format!("R_kwDO{:08}", r.id), "databaseId": r.id, "name": s.name,
                        "nameWithOwner": format!("{owner}/{name}"), "owner": { "login": owner },
                        "isArchived": s.archived, "isFork": s.fork, "isTemplate": s.is_template, "isPrivate": s.private,
                        "visibility": if s.private { "PRIVATE" } else { "PUBLIC" },
                        "stargazerCount": s.stars, "forkCount": s.forks, "watchers": { "totalCount": s.watchers },
                        "pushedAt": s.pushed_at, "createdAt": r.created_at, "updatedAt": s.pushed_at,
                        "defaultBranchRef": { "name": s.default_branch, "target": { "oid": head } },
                        "licenseInfo": s.license.as_ref().map(|l| json!({ "spdxId": l, "key": l.to_lowercase(), "name": l })),
                        "issues": { "totalCount": open_issues }, "pullRequests": { "totalCount": open_pulls },
                    }),
                );
            }
            None => {
                data.insert(f.key.clone(), Value::Null);
                errors.push(json!({
                    "type": "NOT_FOUND", "path": [f.key], "locations": [],
                    "message": format!("Could not resolve to a Repository with the name '{owner}/{name}'."),
                }));
            }
        }
    }
    if query.contains("rateLimit") {
        let b = *w.budget(true, "graphql");
        data.insert("rateLimit".into(), json!({ "cost": 1, "limit": b.limit, "remaining": b.remaining, "resetAt": hive_support::rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(b.reset)) }));
    }
    let mut body = json!({ "data": data });
    if !errors.is_empty() {
        body["errors"] = json!(errors);
    }
    Reply::json(StatusCode::OK, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_aliased_repository_fields_with_literals_and_variables() {
        let q = r#"query($o: String!) { r0: repository(owner: "acme", name: "api") { name } r1 : repository(owner: $o, name: "web") { name } }"#;
        let f = fields(q, &json!({ "o": "acme" }));
        let got: Vec<_> = f.iter().map(|f| (f.key.as_str(), f.owner.as_deref(), f.name.as_deref())).collect();
        assert_eq!(got, [("r0", Some("acme"), Some("api")), ("r1", Some("acme"), Some("web"))]);
        let plain = fields(r#"{ repository(owner: "a", name: "b") { id } }"#, &Value::Null);
        assert_eq!(plain[0].key, "repository");
    }
}
