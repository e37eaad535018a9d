//! `GET /api/audit?after=N&limit=M`: the audit trail page by page, the records with a seq above `after`, oldest
//! first, so a reader that keeps the last seq it saw follows the trail without reading it twice.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Query, State, rejection::QueryRejection},
    http::StatusCode,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiState};

/// Records in a page unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 100;
/// The most records one page holds.
const MAX_LIMIT: usize = 1000;

/// The query as written; parsed by hand so a bad value is answered with the value and the fix.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditQuery {
    after: Option<String>,
    limit: Option<String>,
}

/// A page of the trail: `records`, and `next`, the `after` that asks for the page following it.
pub(super) async fn records(
    State(state): State<Arc<ApiState>>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "{}; the audit takes `after` (a record's seq) and `limit` (1 to {MAX_LIMIT})",
                rejection.body_text()
            ),
        )
    })?;
    let (after, limit) = parse(&query).map_err(|message| ApiError::new(StatusCode::BAD_REQUEST, message))?;
    let records = state.hive.audit_records(after, limit).await?;
    let next = records.last().map_or(after, |r| r.seq);
    Ok(Json(json!({ "records": records, "next": next })))
}

/// `after` (default 0) and `limit` (default [`DEFAULT_LIMIT`], 1 to [`MAX_LIMIT`]), or why not.
fn parse(query: &AuditQuery) -> Result<(u64, usize), String> {
    let after = match query.after.as_deref() {
        None => 0,
        Some(text) => text.parse::<u64>().map_err(|_| {
            format!("after '{}' is not a record's seq; give a whole number from 0, e.g. after=0", quoted(text))
        })?,
    };
    let limit = match query.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(format!(
                    "limit '{}' is out of range; give a whole number from 1 to {MAX_LIMIT}",
                    quoted(text)
                ));
            }
        },
    };
    Ok((after, limit))
}

/// A query value as an error quotes it: its first 40 characters, control characters escaped.
fn quoted(text: &str) -> String {
    text.chars().take(40).flat_map(char::escape_debug).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(after: Option<&str>, limit: Option<&str>) -> Result<(u64, usize), String> {
        parse(&AuditQuery { after: after.map(str::to_owned), limit: limit.map(str::to_owned) })
    }

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(check(None, None), Ok((0, DEFAULT_LIMIT)));
        assert_eq!(check(Some("7"), Some("1")), Ok((7, 1)));
        assert_eq!(check(Some("0"), Some("1000")), Ok((0, MAX_LIMIT)));
        assert_eq!(check(Some(&u64::MAX.to_string()), None), Ok((u64::MAX, DEFAULT_LIMIT)));
    }

    #[test]
    fn bad_values_are_named_with_the_fix() {
        for (after, limit, quoted) in [
            (Some("-1"), None, "'-1'"),
            (Some("seven"), None, "'seven'"),
            (Some(""), None, "''"),
            (None, Some("0"), "'0'"),
            (None, Some("1001"), "'1001'"),
            (None, Some("x\u{1b}[31m"), "'x\\u{1b}[31m'"),
        ] {
            let err = check(after, limit).unwrap_err();
            assert!(err.contains(quoted), "{err}");
            assert!(err.contains("give a whole number"), "{err}");
        }
    }
}
