//! `hive status` and `hive command "<text>"`: clients of a running `hive serve` over its HTTP API (`--api URL`,
//! `HIVE_API`). The command is parsed here first, by the same parser the server uses, so a malformed one is a usage
//! error (exit 2) before anything is sent; commands that change anything carry `HIVE_API_TOKEN` as a bearer token.

use std::{io::Write, time::Duration};

use anyhow::{Context, bail};
use hive::{HiveStatus, cerebrum::MemberKind, command};
use reqwest::{StatusCode, Url};
use serde_json::Value;

use crate::{
    cli::{ClientArgs, TellArgs},
    config::{OrUsage, UsageError},
    terminal,
};

/// How long one request may take: the API answers from memory, so a silent server is a stuck one.
const TIMEOUT: Duration = Duration::from_secs(30);

/// `hive status`: the fleet as the running hive sees it.
pub async fn status(args: &ClientArgs, json: bool) -> anyhow::Result<()> {
    let api = api_url(&args.api)?;
    let response = send(&api, client()?.get(endpoint(&api, "api/status")?)).await?;
    let body = answer(response).await?;
    print_answer(&body, json)
}

/// `hive command "<text>"`: one text command, and the hive's answer.
pub async fn command(args: &TellArgs, json: bool) -> anyhow::Result<()> {
    let api = api_url(&args.client.api)?;
    let text = args.text.join(" ");
    let parsed = match command::parse(&text) {
        Ok(parsed) => parsed,
        Err(err) => return Err(UsageError::error(format!("{err}\nusage:\n{}", indent(err.usage())))),
    };
    let mut request = client()?.post(endpoint(&api, "api/command")?).json(&serde_json::json!({ "command": text }));
    if parsed.changes_state() {
        let token = std::env::var("HIVE_API_TOKEN").ok().filter(|t| !t.is_empty()).ok_or_else(|| {
            UsageError::error(format!(
                "'{parsed}' changes the hive: set HIVE_API_TOKEN to the token `hive serve` was started with"
            ))
        })?;
        request = request.bearer_auth(token);
    }
    let body = answer(send(&api, request).await?).await?;
    print_answer(&body, json)
}

/// The API's base URL, checked before any request: http, with a host, no credentials, and nothing after the path.
fn api_url(raw: &str) -> anyhow::Result<Url> {
    let url = Url::parse(raw.trim())
        .with_context(|| {
            format!("invalid --api (HIVE_API) '{}': expected a URL such as http://127.0.0.1:7878", raw.escape_debug())
        })
        .or_usage()?;
    // Credentials in the URL would be echoed in errors; the token travels in its header, from HIVE_API_TOKEN.
    if url.scheme() != "http" || url.host().is_none() || url.query().is_some() || url.password().is_some() {
        return Err(UsageError::error(format!(
            "invalid --api (HIVE_API) '{}': expected an http:// URL with a host and no credentials, such as \
             http://127.0.0.1:7878 (hive serve speaks plain http; put a TLS proxy in front of it for the network)",
            crate::terminal::line(&hive_support::redact_url_credentials(raw))
        )));
    }
    Ok(url)
}

/// `path` under the base URL, whether or not the base ends with a slash (`http://host/hive` serves `/hive/api/...`).
fn endpoint(api: &Url, path: &str) -> anyhow::Result<Url> {
    let mut base = api.clone();
    if !base.path().ends_with('/') {
        let with_slash = format!("{}/", base.path());
        base.set_path(&with_slash);
    }
    Ok(base.join(path)?)
}

fn client() -> anyhow::Result<reqwest::Client> {
    // No proxy: the API is usually on loopback, and a proxy from the environment would see the token.
    Ok(reqwest::Client::builder().timeout(TIMEOUT).no_proxy().build()?)
}

/// Sends `request`; nothing listening at the address is said as such, with what to do.
async fn send(api: &Url, request: reqwest::RequestBuilder) -> anyhow::Result<reqwest::Response> {
    request.send().await.map_err(|err| {
        if err.is_connect() {
            anyhow::anyhow!(
                "nothing is listening at '{api}': is `hive serve` running? start it, or point --api (HIVE_API) at it"
            )
        } else if err.is_timeout() {
            anyhow::anyhow!("'{api}' did not answer within {}s", TIMEOUT.as_secs())
        } else {
            anyhow::Error::new(err).context(format!("cannot reach '{api}'"))
        }
    })
}

/// The answer's JSON body; an API error is reported with its message (and the usage for a malformed command). A
/// command the hive refuses as malformed or unauthorised is a usage error (exit 2); anything else that failed is a
/// runtime failure (exit 1).
async fn answer(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let bytes = response.bytes().await.context("the API's answer was cut off")?;
    let body: Option<Value> = serde_json::from_slice(&bytes).ok();
    if status.is_success() {
        return body.with_context(|| format!("the API answered {status} with a body that is not JSON"));
    }
    let message = body
        .as_ref()
        .and_then(|b| b["error"].as_str())
        .map_or_else(|| format!("the API answered {status}"), |e| format!("the API answered {status}: {e}"));
    let message = match body.as_ref().and_then(|b| b["usage"].as_str()) {
        Some(usage) => format!("{message}\nusage:\n{}", indent(usage)),
        None => message,
    };
    match status {
        StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(UsageError::error(message)),
        _ => bail!(message),
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("  {line}")).collect::<Vec<_>>().join("\n")
}

/// Prints an answer: JSON as it came (`--json`), a status as a table, anything else as what was done.
fn print_answer(body: &Value, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", terminal::json_line(body.clone())?)?;
        return Ok(out.flush()?);
    }
    if let Ok(status) = serde_json::from_value::<HiveStatus>(body.clone()) {
        for line in status_lines(&status) {
            writeln!(out, "{}", terminal::line(&line))?;
        }
    } else if let Some(done) = body["command"].as_str() {
        writeln!(out, "ok: {}", terminal::line(done))?;
    } else {
        writeln!(out, "{}", terminal::line(&body.to_string()))?;
    }
    Ok(out.flush()?)
}

/// A running hive's status, for people: the fleet, the emergency, one line per member.
fn status_lines(status: &HiveStatus) -> Vec<String> {
    let fleet = &status.fleet;
    let level = fleet.level.as_str();
    let mut lines = vec![format!(
        "cycle {}  {}/{} healthy  {level}  {} members",
        status.cycle,
        fleet.healthy,
        fleet.known,
        status.members.len()
    )];
    if status.emergency {
        let causes: Vec<String> = status.emergency_reasons.iter().map(ToString::to_string).collect();
        lines.push(format!("  !! EMERGENCY: {}", causes.join("; ")));
    }
    for outage in &status.outages {
        lines.push(format!("  ~ {outage}"));
    }
    let width = status.members.iter().map(|m| m.id.as_str().len()).max().unwrap_or(0);
    for m in &status.members {
        let kind = match m.kind {
            MemberKind::Pilot => "",
            _ => " (member)",
        };
        let (mark, score) = match (m.healthy, m.score) {
            (Some(true), Some(s)) => ('+', s.to_string()),
            (Some(false), Some(s)) => ('x', s.to_string()),
            _ => ('?', "--".to_owned()),
        };
        let mut line = format!("  {mark} {:<width$}  {score:>3}  {:?}{kind}", m.id.as_str(), m.state);
        if m.stale {
            line.push_str("  stale");
        }
        if !m.findings.is_empty() {
            line.push_str(&format!("  {}", m.findings.join("; ")));
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_url_is_checked_before_any_request() {
        for good in ["http://127.0.0.1:7878", "http://hive.example/", " http://[::1]:9/ "] {
            assert!(api_url(good).is_ok(), "{good}");
        }
        for bad in [
            "127.0.0.1:7878",
            "ftp://host/",
            "http://host/?q=1",
            "not a url",
            "file:///tmp/x",
            "https://hive.example/",
            "http://u:pa55word@host/",
        ] {
            let err = api_url(bad).expect_err(bad);
            assert!(UsageError::is_usage(&err), "{err:#}");
            assert!(err.to_string().contains("invalid --api (HIVE_API)"), "{err:#}");
            assert!(!err.to_string().contains("pa55word"), "{err:#}");
        }
        let nested = api_url("http://host:1/hive").expect("url");
        assert_eq!(endpoint(&nested, "api/status").expect("join").as_str(), "http://host:1/hive/api/status");
        let root = api_url("http://host:1").expect("url");
        assert_eq!(endpoint(&root, "api/command").expect("join").as_str(), "http://host:1/api/command");
    }
}
